"""Hand-made worlds for the coverage and planning tests: postcodes, need and services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import folium
import numpy as np
import pandas as pd

from servicemap.errors import MapError
from servicemap.geography.postcodes import PostcodeTable
from servicemap.render.leaflet import HtmlControl
from servicemap.render.maps import _ServiceMarkers

Factory = Callable[[list[dict[str, Any]]], pd.DataFrame]
"""The ``canonical_services`` fixture's type: schema rows in, a canonical services frame out."""


def postcode_table(
    postcodes: Sequence[tuple[str, int, int, str]],
    *,
    districts: Sequence[str],
    district_force: Sequence[int],
    forces: Sequence[str],
) -> PostcodeTable:
    """Return a postcode table from (postcode, easting, northing, district) rows.

    Postcodes have no space; -1 for easting and northing means no grid reference.
    ``district_force`` gives each district's index in ``forces`` (-1 outside England and Wales).
    """
    rows = sorted(postcodes)
    return PostcodeTable(
        postcodes=np.array([r[0] for r in rows], dtype="S7"),
        easting=np.array([r[1] for r in rows], dtype=np.int32),
        northing=np.array([r[2] for r in rows], dtype=np.int32),
        district=np.array([list(districts).index(r[3]) for r in rows], dtype=np.int16),
        district_codes=np.array(districts),
        district_force=np.array(district_force, dtype=np.int16),
        force_codes=np.array(forces),
    )


def need_table(forces: Sequence[str], names: Sequence[str], **columns: list[int]) -> pd.DataFrame:
    """Return a need table indexed by ``force_code``: names, then the given columns in order."""
    frame = pd.DataFrame({"force_code": list(forces), "force_name": list(names), **columns})
    return frame.set_index("force_code")


def service(**fields: Any) -> dict[str, Any]:
    """Return a service row: ``fields`` over the defaults (active, a source, no NRPF)."""
    base: dict[str, Any] = {
        "source_url": "https://example.org",
        "status": "active",
        "by_and_for": "no",
        "nrpf_support": "no",
    }
    return base | fields


# --- what a coverage map holds -----------------------------------------------------------------


def geojson_of(m: folium.Map) -> dict[str, Any]:
    """Return the force-area GeoJSON embedded in a map from :func:`coverage_map`."""
    for child in m._children.values():
        if isinstance(child, folium.GeoJson):
            return dict(child.data)
    raise MapError("This map has no force-area layer.")


def map_panels(m: folium.Map) -> dict[str, str]:
    """Return the HTML of the map's panels (``Title``, ``Legend``, ``National``) by name."""
    return {c._name: c.html for c in m._children.values() if isinstance(c, HtmlControl)}


def marker_rows(m: folium.Map) -> list[dict[str, Any]]:
    """Return the service marker rows embedded in a map from :func:`coverage_map`."""
    for child in m._children.values():
        if isinstance(child, _ServiceMarkers):
            return list(child.rows)
    return []
