"""Interactive coverage maps: force areas coloured by a coverage measure, with service markers.

:func:`coverage_map` builds a :class:`folium.Map` and does no file I/O; :func:`save_map` writes it.
The page is self-contained: Leaflet, Leaflet.markercluster and the page's own styles are inlined
from installed packages (``xstatic-leaflet``, ``xstatic-leaflet-markercluster``) so that it works
from ``file://`` on a laptop with no network. Only ``tiles=`` adds anything from the internet.

Every piece of text that comes from a services directory is HTML-escaped before it reaches the
page, links are kept only when they are ``http(s)``, and confidential services are never placed.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from folium.utilities import JsCode

from servicemap.directory.schema import PROVISION_KINDS, cell_text, split_list
from servicemap.errors import DataQualityWarning, MapError
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "ATTRIBUTION",
    "KIND_COLOURS",
    "KIND_LABELS",
    "MARKER_KIND_ORDER",
    "PALETTE",
    "MapError",
    "Classes",
    "classify_metric",
    "coverage_map",
    "external_references",
    "force_map_frame",
    "HtmlControl",
    "address_line",
    "label_service_types",
    "map_services",
    "national_services",
    "offline_map",
    "save_map",
    "service_popup_html",
    "simplify_force_areas",
]


# ColorBrewer YlOrRd, 5 classes: sequential and marked colour-blind safe by ColorBrewer. Light =
# low, dark = high; for the gap score dark means a bigger gap.
PALETTE: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
NO_DATA_COLOUR = "#bdbdbd"

# Okabe–Ito colours (safe for the common colour-vision deficiencies), chosen to stand out on the
# yellow-to-red fills; markers also get a white ring.
KIND_COLOURS: dict[str, str] = {
    "nrpf_accommodation": "#009E73",
    "legal_immigration": "#CC79A7",
    "advocacy": "#0072B2",
    "counselling": "#56B4E9",
    "helpline": "#000000",
    "other": "#7F7F7F",
}
KIND_LABELS: dict[str, str] = {
    "nrpf_accommodation": "Refuge and housing (incl. NRPF)",
    "legal_immigration": "Legal and immigration advice",
    "advocacy": "Advocacy, IDVA, outreach and casework",
    "counselling": "Counselling and group support",
    "helpline": "Helplines",
    "other": "Other support",
}
# A service offering several kinds is drawn once, in the layer of the scarcest kind it offers.
MARKER_KIND_ORDER: tuple[str, ...] = (
    "nrpf_accommodation",
    "legal_immigration",
    "advocacy",
    "counselling",
    "helpline",
    "other",
)
SCOPE_LABELS: dict[str, str] = {"local": "local", "regional": "regional"}

SERVICE_TYPE_LABELS: dict[str, str] = {
    "idva": "IDVA",
    "nrpf_support": "NRPF support",
    "legal_advice": "legal advice",
    "immigration_advice": "immigration advice",
    "group_support": "group support",
}

ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0. "
    "Contains OS data © Crown copyright and database right 2025. "
    "Service locations: ONS Postcode Directory (OGL v3)."
)

METRIC_LABELS: dict[str, str] = {
    "gap_score": "Gap score (0 = best served, 100 = nothing found)",
    "gap_class": "Gap class",
    "gap_rank": "Gap rank (1 = biggest gap)",
    "local_services": "Local services",
    "regional_services": "Regional services",
    "national_services": "National services",
    "services_serving": "Services serving the area",
    "services_based": "Services based in the area",
    "local_coverage_share": "Residents reached by a local service",
    "share_born_outside_uk": "Residents born outside the UK",
    "born_outside_uk_2021": "Residents born outside the UK (2021)",
    "local_services_per_100k_born_abroad": "Local services per 100,000 born outside the UK",
    "median_km_to_in_person": "Median distance to in-person help (km)",
    "by_and_for_local": "Local 'by and for' services",
    "nrpf_local": "Local services supporting NRPF",
    "postcodes": "Located postcodes",
    "usual_residents_2021": "Usual residents (2021)",
    "population_mid2023": "Population (mid-2023)",
    "females_16plus_mid2023": "Women and girls aged 16+ (mid-2023)",
}

DEFAULT_TITLE = "Specialist help for migrant victims of domestic abuse"

_ASSETS = resources.files("servicemap") / "assets"


# --- text helpers -------------------------------------------------------------------------------


def _e(value: object) -> str:
    """HTML-escape any value for use in element content or a quoted attribute."""
    return html.escape(cell_text(value), quote=True)


def safe_url(value: object) -> str | None:
    """Return the URL if it is a plain http(s) address with a host, else ``None``."""
    url = cell_text(value)
    if not url or any(ch.isspace() for ch in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _tel(phone: str) -> str | None:
    digits = re.sub(r"[^0-9+]", "", phone)
    return digits if len(digits.lstrip("+")) >= 3 else None


def label_service_types(value: object) -> str:
    """Return a ``service_types`` value as readable labels, comma-separated.

    Parameters
    ----------
    value
        The ``;``-separated service types, e.g. ``"idva; immigration_advice"``.

    Returns
    -------
    str
        E.g. ``"IDVA, Immigration advice"``; unknown types with ``_`` turned into spaces.
    """
    return ", ".join(
        SERVICE_TYPE_LABELS.get(t, t.replace("_", " ")) for t in split_list(cell_text(value))
    )


def address_line(service: Mapping[str, Any]) -> str:
    """Return a service's address and postcode on one line (``""`` when it has neither).

    Parameters
    ----------
    service
        A service row. Blank the location of a confidential service before calling this.

    Returns
    -------
    str
        E.g. ``"1 High St, AA1 1AA"``.
    """
    parts = (cell_text(service.get("address")), cell_text(service.get("postcode")))
    return ", ".join(part for part in parts if part)


def format_value(value: object) -> str:
    """Format a measure for people: thousands separators, one decimal, 'no data' for blanks."""
    if value is None or value is pd.NA:
        return "no data"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "no data"
        if number.is_integer():
            return f"{number:,.0f}"
        return f"{number:,.2f}" if abs(number) < 1 else f"{number:,.1f}"
    return cell_text(value)


def metric_label(metric: str) -> str:
    """Return a readable label for a coverage column."""
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    within = re.fullmatch(r"(in_person|by_and_for)_within_([0-9.]+)km", metric)
    if within:
        what = "an in-person service" if within[1] == "in_person" else "a 'by and for' service"
        return f"Residents within {within[2]} km of {what}"
    for kind, label in KIND_LABELS.items():
        if metric == f"{kind}_level":
            return f"{label}: best level"
        if metric == f"{kind}_local_share":
            return f"{label}: residents reached locally"
    return metric.replace("_", " ").capitalize()


def is_share(column: str) -> bool:
    """Return True for coverage columns holding a share (0–1) shown as a percentage."""
    return column.endswith("_share") or column.startswith("share_") or "_within_" in column


def format_measure(column: str, value: object) -> str:
    """Format one coverage value for people, as a percentage when the column is a share."""
    if is_share(column) and isinstance(value, (int, float, np.integer, np.floating)):
        return "no data" if math.isnan(float(value)) else f"{100 * float(value):.0f}%"
    return format_value(value)


# --- force areas --------------------------------------------------------------------------------


def simplify_force_areas(
    forces: gpd.GeoDataFrame,
    *,
    max_vertices: int = 40_000,
    settings: Settings = DEFAULT_SETTINGS,
) -> gpd.GeoDataFrame:
    """Return force polygons simplified for the web, in EPSG:4326, with no new gaps or overlaps.

    Neighbouring forces are simplified together (``GeoSeries.simplify_coverage``) so shared
    borders stay shared. The tolerance starts at 50 m and doubles until the polygons have at most
    ``max_vertices`` vertices. Coordinates are rounded to 3 decimal places (about 100 m, the
    order of the simplification itself): shared vertices round alike, so borders stay shared,
    and the page stays small.

    Parameters
    ----------
    forces
        Force areas with ``code``, ``name`` and polygon geometry in any projected or geographic
        CRS.
    max_vertices
        Vertex budget for all polygons together; keeps the map page small.
    settings
        ``settings.crs`` is the metric CRS the simplification tolerance is measured in.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame: same rows and columns, simplified geometry, EPSG:4326.
    """
    if forces.crs is None:
        raise MapError(
            "Force boundaries have no CRS; load them with "
            "servicemap.geography.boundaries.load_force_areas or set one "
            "(e.g. forces.set_crs('EPSG:27700'))."
        )
    projected = forces.to_crs(settings.crs)
    geoms = projected.geometry
    valid = bool(shapely.coverage_is_valid(geoms.values))
    if not valid:
        import warnings

        warnings.warn(
            "Force boundaries overlap or their shared borders do not match; simplifying each "
            "force on its own, so thin slivers may show between neighbours.",
            DataQualityWarning,
            stacklevel=2,
        )
    tolerance = 50.0
    while True:
        simplified = (
            geoms.simplify_coverage(tolerance)
            if valid
            else geoms.simplify(tolerance, preserve_topology=True)
        )
        count = int(shapely.get_num_coordinates(simplified.values).sum())
        if count <= max_vertices or tolerance >= 10_000:
            break
        tolerance *= 2
    out = projected.set_geometry(simplified).to_crs("EPSG:4326")
    rounded = shapely.transform(out.geometry.values, lambda xy: np.round(xy, 3))
    return out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs="EPSG:4326"))


@dataclass(frozen=True)
class Classes:
    """How a measure is split into coloured classes.

    Attributes
    ----------
    labels
        One label per class, in palette order.
    colours
        One colour per class.
    index
        For each input value, the class number (``-1`` for no data).
    """

    labels: tuple[str, ...]
    colours: tuple[str, ...]
    index: tuple[int, ...]


def classify_metric(values: pd.Series, *, metric: str) -> Classes:
    """Split a coverage measure into at most five coloured classes.

    The gap score (0–100) uses fixed classes of 20 points so maps are comparable year to year;
    other numeric measures use quintiles; text measures (such as ``gap_class``) get one class per
    category, in category order when the column is an ordered categorical.

    Parameters
    ----------
    values
        The measure, one value per force.
    metric
        The column name (decides the fixed classes of ``gap_score``).

    Returns
    -------
    Classes
        Labels, colours and each value's class.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        present = numbers.dropna()
        if metric == "gap_score":
            edges = [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        elif present.empty:
            edges = [0.0, 0.0]
        else:
            edges = sorted(set(np.quantile(present, np.linspace(0, 1, 6)).tolist()))
            if len(edges) == 1:
                edges = [edges[0], edges[0]]
        nclass = len(edges) - 1
        colours = _spread(nclass)
        labels = tuple(
            f"{format_measure(metric, lo)}–{format_measure(metric, hi)}"
            if hi != lo
            else format_measure(metric, lo)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        )
        index = []
        for value in numbers:
            if math.isnan(value):
                index.append(-1)
                continue
            k = int(np.searchsorted(edges, value, side="right")) - 1
            index.append(min(max(k, 0), nclass - 1))
        return Classes(labels, colours, tuple(index))
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = [str(c) for c in values.cat.categories]
    else:
        categories = sorted({cell_text(v) for v in values if cell_text(v)})
    if len(categories) > len(PALETTE):
        raise MapError(
            f"Measure {metric!r} has {len(categories)} categories; a map can show at most "
            f"{len(PALETTE)}. Choose a numeric measure with --metric."
        )
    lookup = {c: i for i, c in enumerate(categories)}
    return Classes(
        tuple(categories),
        _spread(len(categories)),
        tuple(lookup.get(cell_text(v), -1) for v in values),
    )


def _spread(n: int) -> tuple[str, ...]:
    """Pick ``n`` colours spread across the palette (keeps the darkest for the top class)."""
    if n <= 0:
        return ()
    if n == 1:
        return (PALETTE[-1],)
    picks = np.linspace(0, len(PALETTE) - 1, n).round().astype(int)
    return tuple(PALETTE[i] for i in picks)


def _coverage_by_code(coverage: pd.DataFrame) -> pd.DataFrame:
    """Return coverage indexed by force code, accepting ``code`` or ``force_code``."""
    if "code" in coverage.columns:
        codes = coverage["code"]
    elif "force_code" in coverage.columns:
        codes = coverage["force_code"]
    elif coverage.index.name in ("code", "force_code"):
        codes = pd.Series(coverage.index, index=coverage.index)
    else:
        raise MapError(
            "The coverage table has no 'force_code' column (found: "
            f"{', '.join(map(str, coverage.columns))}); pass the frame from coverage_by_force."
        )
    out = coverage.drop(columns=[c for c in ("code",) if c in coverage.columns])
    out.index = pd.Index(codes.astype(str).to_numpy(), name="code")
    return out


def force_map_frame(
    forces: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    *,
    metric: str = "gap_score",
) -> gpd.GeoDataFrame:
    """Join force areas with their coverage and add each force's class and colour.

    Parameters
    ----------
    forces
        Force areas (``code``, ``name``, geometry).
    coverage
        One row per force with a ``code`` column and the ``metric`` column.
    metric
        The coverage column that colours the map.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in the forces' CRS: ``code``, ``name``, ``slug``, ``value``, ``class_index``,
        ``class_label``, ``colour`` and geometry, plus every coverage column (prefixed with
        nothing; force columns win on a clash).
    """
    from servicemap.geography.forces import load_forces

    missing = [c for c in ("code", "name") if c not in forces.columns]
    if missing:
        raise MapError(
            f"Force boundaries lack column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, forces.columns))})."
        )
    by_code = _coverage_by_code(coverage)
    if metric not in by_code.columns:
        choices = [
            c
            for c in by_code.columns
            if c not in ("name", "force_code", "force_name")
            and (pd.api.types.is_numeric_dtype(by_code[c]) or c == "gap_class")
        ]
        raise MapError(
            f"Unknown coverage measure {metric!r}; choose --metric from: {', '.join(choices)}."
        )
    extra = by_code.drop(columns=[c for c in by_code.columns if c in forces.columns])
    joined = forces[["code", "name", "geometry"]].merge(
        extra, left_on="code", right_index=True, how="left"
    )
    joined = gpd.GeoDataFrame(joined, geometry="geometry", crs=forces.crs)
    values = by_code[metric].reindex(joined["code"])
    if metric == "gap_class":
        # Colour the classes from best (light) to worst (dark), not alphabetically.
        values = pd.Series(
            pd.Categorical(values, categories=_gap_class_order(), ordered=True),
            index=values.index,
        )
    classes = classify_metric(values.reset_index(drop=True), metric=metric)
    register = load_forces()
    slugs = dict(zip(register["code"], register["slug"], strict=True))
    joined["slug"] = [
        slugs.get(code, _slugify(name))
        for code, name in zip(joined["code"], joined["name"], strict=True)
    ]
    joined["value"] = values.to_numpy()
    joined["class_index"] = classes.index
    joined["class_label"] = [classes.labels[i] if i >= 0 else "no data" for i in classes.index]
    joined["colour"] = [classes.colours[i] if i >= 0 else NO_DATA_COLOUR for i in classes.index]
    joined.attrs["classes"] = classes
    joined.attrs["metric"] = metric
    return joined


def _gap_class_order() -> list[str]:
    from servicemap.analysis.coverage import GAP_CLASSES

    return list(reversed(GAP_CLASSES))


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "force"


SUMMARY_COLUMNS: tuple[str, ...] = (
    "gap_score",
    "gap_class",
    "gap_rank",
    "local_services",
    "regional_services",
    "national_services",
)
"""Coverage columns shown in each force's tooltip (those present), after the mapped measure."""


def _force_summary_rows(row: Mapping[str, Any], metric: str) -> list[tuple[str, str]]:
    rows = [(metric_label(metric), format_measure(metric, row.get("value")))]
    for column in SUMMARY_COLUMNS:
        if column != metric and column in row:
            rows.append((metric_label(column), format_measure(column, row[column])))
    return rows


def _force_tooltip(row: Mapping[str, Any], metric: str) -> str:
    cells = "".join(
        f"<tr><th scope='row'>{_e(k)}</th><td>{_e(v)}</td></tr>"
        for k, v in _force_summary_rows(row, metric)
    )
    return f"<strong>{_e(row['name'])}</strong><table>{cells}</table>"


def _force_popup(row: Mapping[str, Any], metric: str, profile_base: str | None) -> str:
    body = _force_tooltip(row, metric)
    if profile_base is not None:
        href = f"{profile_base}{row['slug']}.html"
        body += (
            f"<p><a href='{_e(href)}' target='_top'>Open the profile of {_e(row['name'])}</a></p>"
        )
    return f"<div class='sm-popup'>{body}</div>"


def _force_geojson(
    frame: gpd.GeoDataFrame, *, metric: str, profile_base: str | None
) -> dict[str, Any]:
    features = []
    for row in frame.to_dict(orient="records"):
        geometry = row["geometry"]
        if geometry is None or geometry.is_empty:
            continue
        value = row.get("value")
        features.append(
            {
                "type": "Feature",
                "id": row["code"],
                "properties": {
                    "code": row["code"],
                    "name": cell_text(row["name"]),
                    "slug": row["slug"],
                    "value": _json_number(value),
                    "class_label": row["class_label"],
                    "colour": row["colour"],
                    "tooltip": _force_tooltip(row, metric),
                    "popup": _force_popup(row, metric, profile_base),
                },
                "geometry": shapely.geometry.mapping(geometry),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _json_number(value: object) -> float | int | str | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    return cell_text(value)


# --- services -----------------------------------------------------------------------------------


def _kinds(service_types: object) -> list[str]:
    types = set(split_list(cell_text(service_types)))
    kinds = [k for k in MARKER_KIND_ORDER if types & set(PROVISION_KINDS.get(k, ()))]
    return kinds or ["other"]


def service_popup_html(service: Mapping[str, Any]) -> str:
    """Return the popup for one service: every value escaped, links only if http(s).

    Parameters
    ----------
    service
        One row of the services frame (a mapping of column to value).

    Returns
    -------
    str
        An HTML fragment safe to set as ``innerHTML``.
    """
    parts = [f"<div class='sm-popup'><h3>{_e(service.get('name'))}</h3>"]
    organisation = cell_text(service.get("organisation"))
    if organisation and organisation != cell_text(service.get("name")):
        parts.append(f"<p>{_e(organisation)}</p>")
    items: list[tuple[str, str]] = []
    offers = label_service_types(service.get("service_types"))
    if offers:
        items.append(("Offers", _e(offers)))
    for field, label in (("communities", "Communities"), ("languages", "Languages")):
        value = ", ".join(split_list(cell_text(service.get(field))))
        if value:
            items.append((label, _e(value)))
    if cell_text(service.get("by_and_for")) == "yes":
        items.append(("By and for", "yes: led by the communities it serves"))
    if cell_text(service.get("nrpf_support")) == "yes":
        items.append(("NRPF", "supports people with no recourse to public funds"))
    phone = cell_text(service.get("phone"))
    if phone:
        tel = _tel(phone)
        items.append(("Phone", f"<a href='tel:{_e(tel)}'>{_e(phone)}</a>" if tel else _e(phone)))
    url = safe_url(service.get("website"))
    if url:
        items.append(
            (
                "Website",
                f"<a href='{_e(url)}' target='_blank' rel='noopener noreferrer'>{_e(url)}</a>",
            )
        )
    if not _is_confidential(service.get("confidential")):
        address = address_line(service)
        if address:
            items.append(("Address", _e(address)))
    notes = cell_text(service.get("notes"))
    if notes:
        items.append(("Notes", _e(notes)))
    if items:
        parts.append("<dl>")
        parts.extend(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in items)
        parts.append("</dl>")
    parts.append("</div>")
    return "".join(parts)


def _is_confidential(value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return cell_text(value).lower() in ("true", "yes", "1")


def map_services(services: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the services that can be placed on a map, as plain rows in EPSG:4326.

    Confidential services (``confidential`` true) and services without a location are left out,
    and so are national services (they are listed, not placed). Pass services through
    ``services.public_services`` first; this is a second guard, not the only one.

    Parameters
    ----------
    services
        The canonical services frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``name``, ``scope``, ``kind``, ``kinds``, ``layer``, ``colour``,
        ``lat``, ``lon`` and ``popup`` (escaped HTML); sorted by name.
    """
    columns = ["id", "name", "scope", "kind", "kinds", "layer", "colour", "lat", "lon", "popup"]
    if services.empty or "geometry" not in services.columns:
        return pd.DataFrame(columns=columns)
    confidential = (
        services["confidential"].map(_is_confidential)
        if "confidential" in services.columns
        else pd.Series(False, index=services.index)
    )
    scope = services.get("scope", pd.Series("local", index=services.index)).map(cell_text)
    geometry = gpd.GeoSeries(services.geometry, crs=services.crs or DEFAULT_SETTINGS.crs)
    placed = ~confidential & (scope != "national") & ~(geometry.isna() | geometry.is_empty)
    chosen = services.loc[placed]
    if chosen.empty:
        return pd.DataFrame(columns=columns)
    points = geometry.loc[placed].to_crs("EPSG:4326")
    rows = []
    for (_, service), point in zip(chosen.iterrows(), points, strict=True):
        kinds = _kinds(service.get("service_types"))
        service_scope = cell_text(service.get("scope")) or "local"
        rows.append(
            {
                "id": cell_text(service.get("id")),
                "name": cell_text(service.get("name")),
                "scope": service_scope,
                "kind": kinds[0],
                "kinds": tuple(kinds),
                "layer": _layer_name(kinds[0], service_scope),
                "colour": KIND_COLOURS[kinds[0]],
                "lat": round(float(point.y), 5),
                "lon": round(float(point.x), 5),
                "popup": service_popup_html(service),
            }
        )
    return pd.DataFrame(rows, columns=columns).sort_values("name", kind="stable", ignore_index=True)


def _layer_name(kind: str, scope: str) -> str:
    return f"{KIND_LABELS[kind]} ({SCOPE_LABELS.get(scope, scope)})"


def national_services(services: pd.DataFrame) -> pd.DataFrame:
    """Return the national services, which are listed beside the map rather than placed on it.

    Parameters
    ----------
    services
        The canonical services frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``offers``, ``phone``, ``website`` (``""`` unless http(s)) and
        ``languages``; one row per national service, sorted by name. Raw text: escape it.
    """
    columns = ["name", "offers", "phone", "website", "languages"]
    if services.empty or "scope" not in services.columns:
        return pd.DataFrame(columns=columns)
    national = services.loc[services["scope"].map(cell_text) == "national"]
    rows = [
        {
            "name": cell_text(s.get("name")),
            "offers": label_service_types(s.get("service_types")),
            "phone": cell_text(s.get("phone")),
            "website": safe_url(s.get("website")) or "",
            "languages": ", ".join(split_list(cell_text(s.get("languages")))),
        }
        for _, s in national.iterrows()
    ]
    return pd.DataFrame(rows, columns=columns).sort_values("name", kind="stable", ignore_index=True)


# --- page elements ------------------------------------------------------------------------------


def _asset_text(package: str, *parts: str) -> str:
    try:
        return resources.files(package).joinpath(*parts).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise MapError(
            f"Cannot find the map library file {'/'.join(parts)!r} in the Python package "
            f"{package!r}; reinstall servicemap (pip install -e .) to bring in xstatic-leaflet "
            "and xstatic-leaflet-markercluster."
        ) from exc


def _asset_bytes(package: str, *parts: str) -> bytes:
    return resources.files(package).joinpath(*parts).read_bytes()


def _without_source_map(js: str) -> str:
    return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)


def _leaflet_css() -> str:
    css = _asset_text("xstatic.pkg.leaflet", "data", "leaflet.css")

    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        data = base64.b64encode(_asset_bytes("xstatic.pkg.leaflet", "data", "images", name))
        return f"url(data:image/png;base64,{data.decode('ascii')})"

    return re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", inline, css)


def _inline_tag(tag: str, text: str) -> str:
    # "</" inside inline code would end the element early; "<\/" means the same in JS and CSS
    # strings and comments.
    safe = text.replace("</", "<\\/")
    return f"<{tag}>\n{safe}\n</{tag}>"


def _inline_assets() -> str:
    css = "\n".join(
        [
            _leaflet_css(),
            _asset_text("xstatic.pkg.leaflet_markercluster", "data", "MarkerCluster.css"),
            _asset_text("xstatic.pkg.leaflet_markercluster", "data", "MarkerCluster.Default.css"),
            _asset_text("servicemap", "assets", "map.css"),
        ]
    )
    js = "\n;\n".join(
        [
            _without_source_map(_asset_text("xstatic.pkg.leaflet", "data", "leaflet.js")),
            _without_source_map(
                _asset_text("xstatic.pkg.leaflet_markercluster", "data", "leaflet.markercluster.js")
            ),
            _asset_text("servicemap", "assets", "subgroup.js"),
        ]
    )
    return _inline_tag("style", css) + "\n" + _inline_tag("script", js)


class _Page(Figure):
    """A branca Figure with ``lang``, charset first and a title."""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        "<title>{{ this.title|e }}</title>\n"
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n"
        "<body>\n"
        "{{ this.html.render(**kwargs) }}\n"
        "<noscript><p>This map needs JavaScript. The same figures are in the coverage table "
        "(index.html and coverage.csv in the report folder).</p></noscript>\n"
        "</body>\n"
        "<script>\n"
        "{{ this.script.render(**kwargs) }}\n"
        "</script>\n"
        "</html>\n"
    )


class HtmlControl(MacroElement):
    """A Leaflet control (a box in a corner of the map) holding ready-escaped HTML.

    Parameters
    ----------
    html_fragment
        The box's content, already escaped.
    position
        Leaflet corner: ``topleft``, ``topright``, ``bottomleft`` or ``bottomright``.
    css_class
        CSS classes of the box (``sm-box`` and one more, styled by the inlined map.css).
    name
        The element's name in the page.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var control = L.control({position: {{ this.position|tojson }}});
            control.onAdd = function () {
                var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            control.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, html_fragment: str, *, position: str, css_class: str, name: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = name
        self.html = html_fragment
        self.position = position
        self.css_class = css_class


class _ServiceMarkers(MacroElement):
    """Circle markers for services, added to the sub-group layer of their kind and scope."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var groups = {
            {%- for key, group in this.groups.items() %}
                {{ key|tojson }}: {{ group.get_name() }},
            {%- endfor %}
            };
            var rows = {{ this.rows|tojson }};
            rows.forEach(function (r) {
                L.circleMarker([r.lat, r.lon], {
                    radius: 7, color: "#ffffff", weight: 2, fillColor: r.colour,
                    fillOpacity: 0.95, className: "sm-service"
                })
                    .bindPopup(r.popup, {maxWidth: 320})
                    .bindTooltip(r.tooltip)
                    .addTo(groups[r.layer]);
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(self, rows: list[dict[str, Any]], groups: Mapping[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "ServiceMarkers"
        self.rows = rows
        self.groups = dict(groups)


class _Hooks(MacroElement):
    """Expose the map's layers as ``window.servicemap`` (for tests and for people's own scripts)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this.map.get_name() }}.getContainer()
            .setAttribute("aria-label", {{ this.label|tojson }});
        {{ this.map.get_name() }}.attributionControl.addAttribution({{ this.attribution|tojson }});
        window.servicemap = {
            map: {{ this.map.get_name() }},
            forces: {{ this.forces.get_name() }},
            cluster: {{ this.cluster.get_name() }},
            services: {{ this.count|tojson }}
        };
        {% endmacro %}
        """
    )

    def __init__(
        self, *, map_: folium.Map, forces: Any, cluster: Any, count: int, label: str
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Hooks"
        self.map = map_
        self.forces = forces
        self.cluster = cluster
        self.count = count
        self.label = label
        self.attribution = html.escape(ATTRIBUTION)


def _legend_html(frame: gpd.GeoDataFrame, markers: pd.DataFrame, metric: str) -> str:
    classes: Classes = frame.attrs["classes"]
    counts = pd.Series(classes.index).value_counts()
    direction = (
        "Darker = bigger gap." if metric in ("gap_score", "gap_class") else "Darker = higher value."
    )
    items = [
        f"<li><span class='sm-swatch' style='background:{colour}'></span>"
        f"{_e(label)} ({_forces(int(counts.get(i, 0)))})</li>"
        for i, (label, colour) in enumerate(zip(classes.labels, classes.colours, strict=True))
    ]
    if (counts.get(-1, 0)) > 0:
        items.append(
            f"<li><span class='sm-swatch' style='background:{NO_DATA_COLOUR}'></span>"
            f"no data ({_forces(int(counts[-1]))})</li>"
        )
    kinds = [k for k in MARKER_KIND_ORDER if k in set(markers["kind"])]
    dots = "".join(
        f"<li><span class='sm-dot' style='background:{KIND_COLOURS[k]}'></span>"
        f"{_e(KIND_LABELS[k])}</li>"
        for k in kinds
    )
    services = (
        f"<h2>Services</h2><ul>{dots}</ul>"
        "<p class='sm-note'>A service offering several kinds of help is shown once, in its "
        "scarcest kind. Numbers in circles count services close together; zoom in to see them."
        " Confidential addresses (refuges) are never shown.</p>"
        if dots
        else ""
    )
    return (
        f"<h2>{_e(metric_label(metric))}</h2><ul>{''.join(items)}</ul>"
        f"<p class='sm-note'>{direction} Nothing found is not the same as nothing there: "
        "the directory is partial.</p>"
        f"{services}"
    )


def _forces(n: int) -> str:
    return f"{n} force" if n == 1 else f"{n} forces"


def _national_html(national: pd.DataFrame) -> str:
    if national.empty:
        return ""
    items = []
    for row in national.itertuples(index=False):
        bits = [f"<strong>{_e(row.name)}</strong>"]
        if row.offers:
            bits.append(_e(row.offers))
        if row.phone:
            tel = _tel(row.phone)
            bits.append(f"<a href='tel:{_e(tel)}'>{_e(row.phone)}</a>" if tel else _e(row.phone))
        if row.website:
            bits.append(
                f"<a href='{_e(row.website)}' target='_blank' rel='noopener noreferrer'>website</a>"
            )
        items.append(f"<li>{' · '.join(bits)}</li>")
    return (
        f"<details><summary>National services ({len(national)})</summary>"
        "<p class='sm-note'>These help anyone in England and Wales, so they are listed, not "
        f"placed.</p><ul>{''.join(items)}</ul></details>"
    )


def _layer_label(kind: str, scope: str) -> str:
    return (
        f"<span class='sm-dot' style='background:{KIND_COLOURS[kind]}'></span> "
        f"{html.escape(_layer_name(kind, scope))}"
    )


def offline_map(
    *,
    title: str,
    location: tuple[float, float],
    zoom_start: int,
    control_scale: bool = False,
    head: str = "",
) -> folium.Map:
    """Return an empty map on its own self-contained page: Leaflet inlined, no base map.

    Parameters
    ----------
    title
        The page title.
    location
        Latitude and longitude of the first view's centre.
    zoom_start
        The first view's zoom level.
    control_scale
        Whether to show a scale bar.
    head
        More HTML for the page's head, after the inlined code (e.g. a ``<style>`` element).

    Returns
    -------
    folium.Map
        The map, already on its page (``m.get_root()``, whose header holds the inlined Leaflet
        and marker-cluster code); save it with :func:`save_map`.
    """
    page = _Page(title=title)
    page.header.add_child(Element(_inline_assets()), name="servicemap_assets")
    if head:
        page.header.add_child(Element(head), name="servicemap_head")
    m = folium.Map(
        location=list(location), zoom_start=zoom_start, tiles=None, control_scale=control_scale
    )
    m.default_js, m.default_css = [], []
    # Without a tile layer the map has no zoom range, which marker clustering needs.
    m.options.update(max_zoom=18, min_zoom=5)
    page.add_child(m)
    return m


SUGGESTED_TILES: tuple[str, ...] = (
    "OpenStreetMap",
    "OpenTopoMap",
    "Esri.WorldGrayCanvas",
    "Esri.WorldStreetMap",
    "Esri.WorldImagery",
)
"""Base maps that need no API key, offered when a ``--tiles`` name is not usable."""


def _providers() -> Any:
    import xyzservices.providers  # type: ignore[import-untyped]

    return xyzservices.providers


def _needs_key(provider: Any) -> bool:
    if provider.requires_token():
        return True
    import warnings

    # xyzservices warns (rather than fails) for providers that began to need a key lately,
    # e.g. "CartoDB tiles now require an API key".
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider.build_url(fill_subdomain=False, scale_factor="{r}")
    return any("api key" in str(w.message).lower() for w in caught)


def tile_provider(name: str) -> Any:
    """Return the xyzservices tile provider for a ``--tiles`` name.

    Names match ignoring case, spaces, dots and underscores (``"CartoDB positron"`` is
    ``CartoDB.Positron``); ``"OpenStreetMap"`` is ``OpenStreetMap.Mapnik``.

    Parameters
    ----------
    name
        The provider's name, as listed by ``xyzservices.providers.flatten()``.

    Returns
    -------
    xyzservices.TileProvider
        The provider, ready for ``folium.TileLayer``.

    Raises
    ------
    MapError
        If no provider has that name or the provider needs an API key; the message suggests
        usable names.
    """
    import difflib

    providers = _providers()
    text = str(name).strip()
    if text.replace(" ", "").lower() == "openstreetmap":
        text = "OpenStreetMap.Mapnik"  # as folium does
    suggested = f"{', '.join(SUGGESTED_TILES[:-1])} or {SUGGESTED_TILES[-1]}"
    usable = (
        f"use an xyzservices tile provider that needs no API key, such as {suggested}; or "
        "leave out --tiles for a map that works offline"
    )
    try:
        provider = providers.query_name(text) if text else None
    except ValueError:
        provider = None
    if provider is None:
        names = [key for key, p in providers.flatten().items() if not p.requires_token()]
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
        advice = (
            f"Did you mean {' or '.join(map(repr, close))}? Otherwise {usable}"
            if close
            else "U" + usable[1:]
        )
        raise MapError(f"Unknown base map {name!r}. {advice}.")
    if _needs_key(provider):
        raise MapError(
            f"Base map {name!r} needs an API key, which servicemap cannot pass; {usable}."
        )
    return provider


def coverage_map(
    forces: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    services: gpd.GeoDataFrame,
    *,
    metric: str = "gap_score",
    tiles: str | None = None,
    profile_base: str | None = "forces/",
    title: str = DEFAULT_TITLE,
    max_vertices: int = 40_000,
    settings: Settings = DEFAULT_SETTINGS,
) -> folium.Map:
    """Build the coverage map: force areas coloured by a measure, services as clustered markers.

    Parameters
    ----------
    forces
        Force areas (``code``, ``name``, polygons) from ``boundaries.load_force_areas``.
    coverage
        One row per force from ``coverage.coverage_by_force`` (``code`` plus measures).
    services
        The services frame, already passed through ``services.public_services``. Confidential
        and national services are never placed; national ones are listed in a panel.
    metric
        The coverage column that colours the force areas.
    tiles
        An xyzservices tile provider name that needs no API key (e.g. ``"OpenStreetMap"``,
        ``"Esri.WorldGrayCanvas"``; see :func:`tile_provider`) for a base map fetched from the
        internet; ``None`` (default) for a plain offline background.
    profile_base
        Link prefix for each force's profile page (``forces/<slug>.html`` in the report);
        ``None`` for no links.
    title
        Page title and the heading shown on the map.
    max_vertices
        Vertex budget for the simplified force polygons.
    settings
        Settings (``crs`` for simplification).

    Returns
    -------
    folium.Map
        A map whose saved page needs no network (unless ``tiles`` is given).
    """
    provider = tile_provider(tiles) if tiles else None  # before any work: a typo fails at once
    joined = force_map_frame(forces, coverage, metric=metric)
    simplified = simplify_force_areas(joined, max_vertices=max_vertices, settings=settings)
    simplified.attrs.update(joined.attrs)
    markers = map_services(services)
    national = national_services(services)

    minx, miny, maxx, maxy = simplified.total_bounds if len(simplified) else (-6, 49.9, 2, 55.9)
    m = offline_map(title=title, location=((miny + maxy) / 2, (minx + maxx) / 2), zoom_start=6)
    if provider is not None:
        folium.TileLayer(provider, name="Base map", control=False).add_to(m)

    forces_layer = folium.GeoJson(
        _force_geojson(simplified, metric=metric, profile_base=profile_base),
        name=f"Force areas: {metric_label(metric)}",
        style_function=_force_style,
        highlight_function=lambda feature: {"weight": 3, "color": "#000000"},
        on_each_feature=JsCode(
            "function (feature, layer) {"
            " layer.bindTooltip(feature.properties.tooltip, {sticky: true});"
            " layer.bindPopup(feature.properties.popup, {maxWidth: 320}); }"
        ),
        className="sm-force",
        control=True,
    )
    forces_layer.add_to(m)

    cluster = folium.plugins.MarkerCluster(  # type: ignore[no-untyped-call]
        name="Services", control=False, options={"maxClusterRadius": 40}
    )
    cluster.default_js, cluster.default_css = [], []
    cluster.add_to(m)
    groups: dict[str, Any] = {}
    for kind in MARKER_KIND_ORDER:
        for scope in ("local", "regional"):
            layer = _layer_name(kind, scope)
            if not (markers["layer"] == layer).any():
                continue
            group = folium.plugins.FeatureGroupSubGroup(  # type: ignore[no-untyped-call]
                cluster, name=_layer_label(kind, scope), show=True
            )
            group.default_js = []
            group.add_to(m)
            groups[layer] = group
    rows = [
        {
            "lat": r.lat,
            "lon": r.lon,
            "colour": r.colour,
            "layer": r.layer,
            "popup": r.popup,
            "tooltip": html.escape(r.name),
        }
        for r in markers.itertuples(index=False)
    ]
    m.add_child(_ServiceMarkers(rows, groups))

    m.add_child(
        HtmlControl(
            f"<h2>{_e(title)}</h2><p>Police force areas of England and Wales. Click an area or a "
            "service for details.</p>",
            position="topleft",
            css_class="sm-box sm-title",
            name="Title",
        )
    )
    m.add_child(
        HtmlControl(
            _legend_html(simplified, markers, metric),
            position="bottomright",
            css_class="sm-box sm-legend",
            name="Legend",
        )
    )
    national_html = _national_html(national)
    if national_html:
        m.add_child(
            HtmlControl(
                national_html,
                position="bottomleft",
                css_class="sm-box sm-national",
                name="National",
            )
        )
    folium.LayerControl(collapsed=False).add_to(m)
    m.add_child(
        _Hooks(
            map_=m,
            forces=forces_layer,
            cluster=cluster,
            count=len(rows),
            label=f"Map: {title}. The same figures are in the coverage table.",
        )
    )
    if len(simplified):
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _force_style(feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "fillColor": feature["properties"]["colour"],
        "fillOpacity": 0.75,
        "color": "#4d4d4d",
        "weight": 1,
    }


# --- saving -------------------------------------------------------------------------------------

_EXTERNAL = re.compile(
    r"""<script[^>]+src\s*=\s*["']?(?:https?:)?//|<link[^>]+href\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def external_references(page: str) -> list[str]:
    """Return every script, stylesheet, CSS import or CSS ``url()`` in ``page`` that points online.

    Parameters
    ----------
    page
        An HTML page.

    Returns
    -------
    list of str
        The offending snippets (empty for a self-contained page).
    """
    return [page[m.start() : m.start() + 120] for m in _EXTERNAL.finditer(page)]


def render_map(m: folium.Map) -> str:
    """Return the map page as HTML text."""
    return str(m.get_root().render())


def save_map(m: folium.Map, path: Path | str) -> Path:
    """Write the map page to ``path`` atomically and return the path.

    Parameters
    ----------
    m
        A map from :func:`coverage_map`.
    path
        Where to write (folders are created).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from servicemap._atomic import atomic_write_text

    target = Path(path)
    atomic_write_text(target, render_map(m))
    return target


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
