"""Hand-made worlds for the tests: postcodes, need, services, force areas, coverage, profiles."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from servicemap.analysis.coverage import GAP_CLASSES
from servicemap.analysis.profile import ForceProfile
from servicemap.errors import MapError
from servicemap.geography.forces import load_forces
from servicemap.geography.postcodes import PostcodeTable
from servicemap.render.district_layer import DISTRICT_LAYER
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


def district_layer_of(m: folium.Map) -> folium.GeoJson:
    """Return the district layer of a map from :func:`coverage_map` (given ``districts``)."""
    for child in m._children.values():
        if isinstance(child, folium.GeoJson) and child.layer_name == DISTRICT_LAYER:
            return child
    raise MapError("This map has no district layer.")


def district_headings(layer: folium.GeoJson) -> list[str]:
    """Return the (escaped) row headings the district layer's script is given."""
    found = re.search(
        r"servicemapUI\.district\(feature, layer, (\[.*?\]), ", layer.on_each_feature.js_code
    )
    assert found, "the district layer does not call servicemapUI.district"
    headings: list[str] = json.loads(found.group(1))
    return headings


def district_tooltips(layer: folium.GeoJson) -> dict[str, str]:
    """Rebuild each district's tooltip from its properties the way the page's script does.

    ``servicemapUI.district`` in ``assets/mapui.js``, written again in Python (the browser test
    reads the real tooltip), by district code.
    """
    headings = district_headings(layer)
    out = {}
    for feature in layer.data["features"]:
        p = feature["properties"]
        rows = "".join(
            f"<tr><th scope='row'>{h}</th><td>{v}</td></tr>"
            for h, v in zip(headings, p["v"], strict=True)
        )
        out[feature["id"]] = f"<strong>{p['n']}</strong><table>{rows}</table>"
    return out


def map_panels(m: folium.Map) -> dict[str, str]:
    """Return the HTML of the map's panels (``Title``, ``Legend``, ``National``) by name."""
    return {c._name: c.html for c in m._children.values() if isinstance(c, HtmlControl)}


def marker_data(page: str) -> dict[str, Any]:
    """Return the compact service-marker array embedded in a map page (see ``_ServiceMarkers``)."""
    found = re.search(r"var data = (\{.*?\}), s = data\.s;", page, flags=re.DOTALL)
    assert found, "the map page holds no service-marker array"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def popups_from_marker_data(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Rebuild each marker's popup from the array the way the page's script does.

    The script's markup, written again in Python: a test compares it with the popups the
    library builds, so the two cannot drift apart unnoticed.
    """
    s = data["s"]

    def value(v: Any) -> str:
        if isinstance(v, int):
            return str(s[v])
        if v[0] == 0:
            return f"<a href='tel:{s[v[1]]}'>{s[v[2]]}</a>"
        if v[0] == 2:
            return f"<a href='mailto:{s[v[1]]}'>{s[v[1]]}</a>"
        return f"<a href='{s[v[1]]}' target='_blank' rel='noopener noreferrer'>{s[v[1]]}</a>"

    rows = []
    for r in data["r"]:
        html_text = f"<div class='sm-popup'><h3>{s[r[3]]}</h3>"
        if r[4] >= 0:
            html_text += f"<p>{s[r[4]]}</p>"
        if len(r) > 5:
            items = zip(r[5::2], r[6::2], strict=True)
            html_text += "<dl>" + "".join(f"<dt>{s[a]}</dt><dd>{value(b)}</dd>" for a, b in items)
            html_text += "</dl>"
        rows.append(
            {
                "lat": r[0],
                "lon": r[1],
                "layer": data["l"][r[2]],
                "colour": data["c"][r[2]],
                "tooltip": s[r[3]],
                "popup": html_text + "</div>",
            }
        )
    return rows


def marker_rows(m: folium.Map) -> list[dict[str, Any]]:
    """Return the service marker rows embedded in a map from :func:`coverage_map`."""
    for child in m._children.values():
        if isinstance(child, _ServiceMarkers):
            return list(child.rows)
    return []


# --- force areas, coverage, services and profiles for the map and report tests ---------------

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"
REGISTER = load_forces()
CODES = list(REGISTER["code"][:4])
NAMES = list(REGISTER["name"][:4])
SLUGS = list(REGISTER["slug"][:4])


def make_forces(n: int = 4) -> gpd.GeoDataFrame:
    """``n`` touching 50 km x 60 km boxes in a row (a valid coverage), real force codes."""
    register = load_forces().head(n)
    boxes = [
        shapely.box(300_000 + i * 50_000, 200_000, 350_000 + i * 50_000, 260_000) for i in range(n)
    ]
    return gpd.GeoDataFrame(
        {"force_code": register["code"].to_numpy(), "force_name": register["name"].to_numpy()},
        geometry=boxes,
        crs="EPSG:27700",
    )


def make_coverage(forces: gpd.GeoDataFrame, scores: list[float] | None = None) -> pd.DataFrame:
    n = len(forces)
    scores = scores if scores is not None else [10.0, 35.0, 65.0, 95.0][:n]
    classes = [GAP_CLASSES[2], GAP_CLASSES[1], GAP_CLASSES[1], GAP_CLASSES[0]][:n]
    return pd.DataFrame(
        {
            "force_code": forces["force_code"].to_numpy(),
            "force_name": forces["force_name"].to_numpy(),
            "local_services": [3, 2, 1, 0][:n],
            "regional_services": [1, 1, 0, 0][:n],
            "national_services": [1] * n,
            "in_person_within_25km": [0.9, 0.5, 0.25, 0.0][:n],
            "gap_score": scores,
            "gap_class": classes,
            "gap_rank": pd.Series(scores)
            .rank(ascending=False, method="min")
            .astype(int)
            .to_numpy(),
        }
    )


def make_districts(forces: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Two districts per force box (its west and east halves), codes ``D<force>W``/``D<force>E``."""
    rows = []
    for force in forces.itertuples(index=False):
        minx, miny, maxx, maxy = force.geometry.bounds
        middle = (minx + maxx) / 2
        for side, box in (("W", (minx, miny, middle, maxy)), ("E", (middle, miny, maxx, maxy))):
            rows.append(
                {
                    "district_code": f"D{force.force_code}{side}",
                    "district_name": f"{force.force_name} {'West' if side == 'W' else 'East'}",
                    "force_code": force.force_code,
                    "geometry": shapely.box(*box),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=forces.crs)


def make_district_coverage(
    districts: gpd.GeoDataFrame, forces: gpd.GeoDataFrame, scores: Sequence[float] | None = None
) -> pd.DataFrame:
    """Coverage of :func:`make_districts`: scores 5, 15, 25 … (one class in two), shares by ten."""
    n = len(districts)
    scores = list(scores) if scores is not None else [5.0 + 10 * (i % 10) for i in range(n)]
    names = dict(zip(forces["force_code"], forces["force_name"], strict=True))
    return pd.DataFrame(
        {
            "district_code": districts["district_code"].to_numpy(),
            "district_name": districts["district_name"].to_numpy(),
            "force_code": districts["force_code"].to_numpy(),
            "force_name": districts["force_code"].map(names).to_numpy(),
            "local_services": [i % 3 for i in range(n)],
            "local_coverage_share": [(i % 10) / 10 for i in range(n)],
            "in_person_within_25km": [0.5] * n,
            "in_person_within_10km": [0.25] * n,
            "gap_score": scores,
            "gap_class": [GAP_CLASSES[0]] * n,
            "gap_rank": pd.Series(scores).rank(ascending=False, method="min").astype(int),
        }
    )


HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_NOTE = '" onmouseover="alert(2)'


def make_services(factory):
    """Six services: placed local/regional ones, a confidential one, a refuge, a national one."""
    rows = [
        {
            "id": "s1",
            "name": "Safe Steps & Co",
            "scope": "local",
            "service_types": "advocacy;legal_advice",
            "phone": "0161 000 0000",
            "website": "https://example.org/a?x=1&y=2",
            "languages": "Polish; Urdu",
            "communities": "Eastern European",
            "address": "1 Public Street",
            "postcode": "AB1 2CD",
            "easting": 310_000.0,
            "northing": 210_000.0,
        },
        {
            "id": "s2",
            "name": HOSTILE_NAME,
            "notes": HOSTILE_NOTE,
            "scope": "local",
            "service_types": "counselling",
            "website": "javascript:alert(3)",
            "easting": 360_000.0,
            "northing": 230_000.0,
        },
        {
            "id": "s3",
            "name": "Hidden advocacy project",
            "scope": "local",
            "service_types": "advocacy",
            "location_confidential": "yes",
            "address": "17 Quietwater Close",
            "postcode": "ZZ9 9ZZ",
            "easting": 321_234.0,
            "northing": 222_222.0,
        },
        {
            "id": "s4",
            "name": "Refuge only",
            "scope": "local",
            "service_types": "refuge",
            "address": "9 Larkspur Mews",
            "easting": 365_432.0,
            "northing": 233_333.0,
        },
        {
            "id": "s5",
            "name": "Regional legal ${alert(4)} `x` \\u",
            "scope": "regional",
            "service_types": "immigration_advice",
            "easting": 410_000.0,
            "northing": 240_000.0,
        },
        {
            "id": "s6",
            "name": "National helpline <b>",
            "scope": "national",
            "service_types": "helpline",
            "phone": "0808 2000 247",
            "website": "https://www.example.org",
            "easting": 420_000.0,
            "northing": 250_000.0,
        },
    ]
    return factory(rows)


def _reference_forces() -> gpd.GeoDataFrame:
    path = REFERENCE / "boundaries" / "pfa_dec2023_ew_bsc" / "PFA_DEC_2023_EW_BSC.shp"
    frame = gpd.read_file(path).rename(columns={"PFA23CD": "force_code", "PFA23NM": "force_name"})
    return frame[["force_code", "force_name", "geometry"]]


PROFILE_COLUMNS = [
    "name",
    "organisation",
    "level",
    "serves",
    "based_in_force",
    "service_types",
    "delivery",
    "by_and_for",
    "nrpf_support",
    "phone",
    "website",
    "address",
    "postcode",
]


def make_profiles(coverage: pd.DataFrame) -> dict[str, ForceProfile]:
    """One hand-made profile per force; the first lists a hostile service name."""
    profiles = {}
    for i, row in enumerate(coverage.to_dict(orient="records")):
        services = pd.DataFrame(
            [
                {
                    "name": HOSTILE_NAME if i == 0 else "Safe Steps",
                    "organisation": "Safe Steps Trust",
                    "level": "local",
                    "serves": "whole force",
                    "based_in_force": True,
                    "service_types": "advocacy;idva",
                    "delivery": "in_person",
                    "by_and_for": "yes",
                    "nrpf_support": "yes",
                    "phone": "0161 000 0000",
                    "website": "javascript:alert(1)" if i == 0 else "https://example.org",
                    "address": "1 Public Street",
                    "postcode": "AB1 2CD",
                }
            ],
            columns=PROFILE_COLUMNS,
        )
        nearest = pd.DataFrame(
            [
                {
                    "name": "Next door help",
                    "based_in": "Elsewhere",
                    "km_from_force": 12.3,
                    "by_and_for": "no",
                    "serves_force": False,
                }
            ]
        )
        profiles[row["force_code"]] = ForceProfile(
            code=row["force_code"],
            name=row["force_name"],
            summary=row,
            services=services,
            gaps=[f"Gap statement for {row['force_name']} <b>"],
            nearest_outside=nearest,
        )
    return profiles
