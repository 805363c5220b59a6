"""How well: coverage, force profiles, who is near, and planning."""

# The wing's public modules (`from servicemap.analysis import *` imports them); a module
# whose name starts with '_' is private to the wing.
__all__ = [
    "access",
    "changes",
    "cover",
    "coverage",
    "kept",
    "near",
    "places",
    "plan",
    "profile",
    "reach",
    "sites",
    "snapshot",
]
