"""Show it: text, tables, maps and the report."""
