"""The coverage map's district layer: the 318 local authority districts coloured by gap score.

:func:`district_map_frame` joins the district polygons with ``coverage.coverage_by_district``,
classes each district by its gap score (the force layer's five classes of 20 points) and
simplifies the polygons to a vertex budget; :func:`district_layer` makes the map layer.

The layer is a few hundred areas, so the page carries each one compactly: its name, its figures
as formatted text (HTML-escaped here), its force's profile slug and its colour. The row headings
are written once, and the page's script (``servicemapUI.district`` in ``assets/mapui.js``)
assembles each tooltip, popup and accessible name from them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely
from folium.utilities import JsCode

from servicemap.errors import DataQualityWarning, MapError
from servicemap.geography.forces import load_forces
from servicemap.geography.simplified import DISTRICT_VERTICES, simplify_force_areas
from servicemap.render.classes import NO_DATA_COLOUR, Classes, classify_metric
from servicemap.render.labels import WITHIN_COLUMN, format_measure, metric_label
from servicemap.render.leaflet import CompactGeoJson
from servicemap.render.markers import _e
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "DISTRICT_LAYER",
    "district_layer",
    "district_legend_html",
    "district_map_frame",
    "district_rows",
]

DISTRICT_LAYER = "Local authority districts"
"""The district layer's name in the map's layer list."""

_COVERAGE_COLUMNS = ("district_code", "district_name", "force_code", "force_name", "gap_score")


def district_map_frame(
    district_areas: gpd.GeoDataFrame,
    district_coverage: pd.DataFrame,
    *,
    max_vertices: int = DISTRICT_VERTICES,
    settings: Settings = DEFAULT_SETTINGS,
) -> gpd.GeoDataFrame:
    """Join district polygons with their coverage, class them by gap score, simplify for the web.

    Parameters
    ----------
    district_areas
        District polygons (``district_code``, ``district_name``, ``force_code``, geometry) from
        ``geography.boundaries.load_district_areas``.
    district_coverage
        ``analysis.coverage.coverage_by_district``: one row per district with
        ``district_code``, ``district_name``, ``force_code``, ``force_name`` and ``gap_score``.
    max_vertices
        Vertex budget for all the simplified polygons together (neighbours simplified together,
        so shared borders stay shared; see ``simplified.simplify_force_areas``).
    settings
        Settings (``crs`` for simplification).

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in EPSG:4326, one row per district polygon: the coverage columns, ``slug``
        (its force's profile page, ``""`` for none), ``class_index``, ``class_label`` and
        ``colour``; ``attrs["classes"]`` holds the classes. A district with no coverage row is
        drawn as no data.

    Warns
    -----
    DataQualityWarning
        When districts of the coverage table have no polygon (they cannot be drawn).
    """
    missing = [c for c in _COVERAGE_COLUMNS if c not in district_coverage.columns]
    if missing:
        raise MapError(
            f"The district coverage table lacks column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, district_coverage.columns))}); pass the frame from "
            "coverage_by_district."
        )
    areas = district_areas[["district_code", "district_name", "force_code", "geometry"]]
    _warn_unplaced(district_coverage, areas)
    joined = areas.merge(district_coverage, on="district_code", how="left", suffixes=("_area", ""))
    register = load_forces()
    names = dict(zip(register["code"], register["name"], strict=True))
    slugs = dict(zip(register["code"], register["slug"], strict=True))
    for column in ("district_name", "force_code"):
        joined[column] = joined[column].fillna(joined.pop(f"{column}_area"))
    joined["force_name"] = joined["force_name"].fillna(joined["force_code"].map(names))
    joined["slug"] = [slugs.get(code, "") for code in joined["force_code"]]
    classes = classify_metric(joined["gap_score"].reset_index(drop=True), metric="gap_score")
    joined["class_index"] = classes.index
    joined["class_label"] = [classes.labels[i] if i >= 0 else "no data" for i in classes.index]
    joined["colour"] = [classes.colours[i] if i >= 0 else NO_DATA_COLOUR for i in classes.index]
    frame = gpd.GeoDataFrame(joined, geometry="geometry", crs=district_areas.crs)
    simplified = simplify_force_areas(frame, max_vertices=max_vertices, settings=settings)
    simplified.attrs["classes"] = classes
    return simplified


def _warn_unplaced(district_coverage: pd.DataFrame, areas: pd.DataFrame) -> None:
    unplaced = sorted(set(district_coverage["district_code"]) - set(areas["district_code"]))
    if unplaced:
        shown = ", ".join(map(str, unplaced[:5])) + (", …" if len(unplaced) > 5 else "")
        warnings.warn(
            f"{len(unplaced)} district(s) of the coverage table have no polygon and are left off "
            f"the map's district layer: {shown}. Use the district polygons of the same postcode "
            "directory (load_district_areas).",
            DataQualityWarning,
            stacklevel=3,
        )


def district_rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Return the ``(column, heading)`` of each figure a district's tooltip shows, in order.

    The police force area comes first (the popup's profile link names it), then the gap score
    and class, the share of residents local services reach, and in-person access within each
    radius the coverage holds (shortest first); only the columns ``frame`` has.

    Parameters
    ----------
    frame
        A :func:`district_map_frame` (or the coverage table it came from).

    Returns
    -------
    list of (str, str)
        Column names and their headings for people (plain text).
    """
    within = sorted(
        (c for c in frame.columns if (m := WITHIN_COLUMN.fullmatch(c)) and m[1] == "in_person"),
        key=lambda c: float(WITHIN_COLUMN.fullmatch(c)[2]),  # type: ignore[index]
    )
    columns = ["gap_score", "gap_class", "local_coverage_share", *within]
    return [("force_name", "Police force area")] + [
        (c, metric_label(c)) for c in columns if c in frame.columns
    ]


def _district_geojson(frame: gpd.GeoDataFrame, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Return the districts as GeoJSON with compact properties (escaped text: see the module)."""
    features = []
    for row in frame.to_dict(orient="records"):
        geometry = row["geometry"]
        if geometry is None or geometry.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "id": row["district_code"],
                "properties": {
                    "n": _e(row["district_name"]),
                    "v": [_e(format_measure(c, row.get(c))) for c, _ in rows],
                    "s": row["slug"],
                    "c": row["colour"],
                },
                "geometry": shapely.geometry.mapping(geometry),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def district_layer(frame: gpd.GeoDataFrame, *, profile_base: str | None) -> folium.GeoJson:
    """Return the districts as a base layer of the map, off until chosen in the layer list.

    Parameters
    ----------
    frame
        A :func:`district_map_frame`.
    profile_base
        Link prefix for each force's profile page (``forces/``); ``None`` for no links.

    Returns
    -------
    folium.GeoJson
        The layer named :data:`DISTRICT_LAYER`; each district has a tooltip, a popup and a
        keyboard focus with an accessible name.
    """
    rows = district_rows(frame)
    headings = json.dumps([_e(heading) for _, heading in rows])
    base = json.dumps(None if profile_base is None else _e(profile_base))
    return CompactGeoJson(
        _district_geojson(frame, rows),
        name=DISTRICT_LAYER,
        style_function=_district_style,
        highlight_function=lambda feature: {"weight": 3, "color": "#000000"},
        on_each_feature=JsCode(
            f"function (feature, layer) {{ servicemapUI.district(feature, layer, {headings}, "
            f"{base}); }}"
        ),
        className="sm-district",
        overlay=False,
        show=False,
        control=True,
    )


def _district_style(feature: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fillColor": feature["properties"]["c"],
        "fillOpacity": 0.75,
        "color": "#4d4d4d",
        "weight": 0.6,
    }


def district_legend_html(frame: gpd.GeoDataFrame) -> str:
    """Return the legend of the district layer: its gap score classes and how many in each.

    Parameters
    ----------
    frame
        A :func:`district_map_frame`.

    Returns
    -------
    str
        HTML: a heading naming the layer and the measure, and one swatch per class.
    """
    classes: Classes = frame.attrs["classes"]
    counts = pd.Series(classes.index).value_counts()
    items = [
        f"<li><span class='sm-swatch' style='background:{colour}'></span>"
        f"{_e(label)} ({_districts(int(counts.get(i, 0)))})</li>"
        for i, (label, colour) in enumerate(zip(classes.labels, classes.colours, strict=True))
    ]
    if counts.get(-1, 0) > 0:
        items.append(
            f"<li><span class='sm-swatch' style='background:{NO_DATA_COLOUR}'></span>"
            f"no data ({_districts(int(counts[-1]))})</li>"
        )
    heading = f"{DISTRICT_LAYER}: {metric_label('gap_score')}"
    return f"<h2>{_e(heading)}</h2><ul>{''.join(items)}</ul>"


def _districts(n: int) -> str:
    return f"{n} district" if n == 1 else f"{n} districts"
