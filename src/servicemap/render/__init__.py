"""Show it: text, tables, maps and the report."""

# The wing's public modules (`from servicemap.render import *` imports them); a module
# whose name starts with '_' is private to the wing.
__all__ = [
    "answers",
    "changes_text",
    "classes",
    "district_layer",
    "downloads",
    "figures",
    "labels",
    "leaflet",
    "listings",
    "maps",
    "markers",
    "pages",
    "pdf",
    "plan_map",
    "plan_text",
    "report",
    "search",
    "selection",
    "static_map",
    "text",
    "tiles",
    "workbook",
]
