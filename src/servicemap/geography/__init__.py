"""Where: police force areas, districts, postcodes, boundaries and need."""

# The wing's public modules (`from servicemap.geography import *` imports them); a module
# whose name starts with '_' is private to the wing.
__all__ = [
    "areas",
    "boundaries",
    "forces",
    "geocode",
    "need",
    "postcode_index",
    "postcodes",
    "residents",
    "simplified",
    "towns",
]
