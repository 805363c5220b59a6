"""Who: the services directory (schema, reading, checking, privacy, export)."""

# The wing's public modules (`from servicemap.directory import *` imports them); a module
# whose name starts with '_' is private to the wing.
__all__ = [
    "age",
    "export",
    "links",
    "load",
    "locations",
    "merge",
    "openreferral",
    "openreferral_write",
    "privacy",
    "problems",
    "proposals",
    "read",
    "read_excel",
    "read_json",
    "review",
    "schema",
    "select",
    "table",
    "validate",
]
