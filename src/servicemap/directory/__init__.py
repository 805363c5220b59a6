"""Who: the services directory (schema, reading, checking, privacy, export)."""
