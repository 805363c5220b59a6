"""Interactive coverage maps: force areas coloured by a coverage measure, with service markers.

:func:`coverage_map` builds a :class:`folium.Map` and does no file I/O; :func:`save_map` writes it.
The page is self-contained: Leaflet, Leaflet.markercluster and the page's own styles are inlined
from installed packages (``xstatic-leaflet``, ``xstatic-leaflet-markercluster``) so that it works
from ``file://`` on a laptop with no network. Only ``tiles=`` adds anything from the internet.

Every piece of text that comes from a services directory is HTML-escaped before it reaches the
page, links are kept only when they are ``http(s)``, and confidential services are never placed.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template
from folium.utilities import JsCode

from servicemap._atomic import atomic_write_text
from servicemap.analysis.coverage import GAP_CLASSES
from servicemap.directory.schema import cell_text, split_list
from servicemap.errors import MapError
from servicemap.geography.forces import load_forces
from servicemap.geography.simplified import simplify_force_areas
from servicemap.render.classes import NO_DATA_COLOUR, Classes, classify_metric
from servicemap.render.district_layer import district_layer, district_legend_html
from servicemap.render.labels import (
    ATTRIBUTION,
    DEFAULT_TITLE,
    KIND_LABELS,
    format_measure,
    label_service_types,
    metric_label,
    safe_email,
    safe_url,
)
from servicemap.render.leaflet import NOSCRIPT, CompactGeoJson, HtmlControl, offline_map
from servicemap.render.markers import (
    KIND_COLOURS,
    MARKER_KIND_ORDER,
    _e,
    _layer_name,
    _ServiceMarkers,
    map_services,
    service_popup_html,
)
from servicemap.render.selection import phone_html, seen_text
from servicemap.render.tiles import tile_provider
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "FORCE_LAYER",
    "KIND_COLOURS",
    "MARKER_KIND_ORDER",
    "MapError",
    "coverage_map",
    "external_references",
    "force_map_frame",
    "map_services",
    "national_services",
    "render_map",
    "save_map",
    "service_popup_html",
    "simplified_force_frame",
]

# --- force areas --------------------------------------------------------------------------------


def _coverage_by_code(coverage: pd.DataFrame) -> pd.DataFrame:
    """Return coverage indexed by force code (its ``force_code`` column or index)."""
    if "force_code" in coverage.columns:
        codes = coverage["force_code"]
    elif coverage.index.name == "force_code":
        codes = pd.Series(coverage.index, index=coverage.index)
    else:
        raise MapError(
            "The coverage table has no 'force_code' column (found: "
            f"{', '.join(map(str, coverage.columns))}); pass the frame from coverage_by_force."
        )
    out = coverage.drop(columns=[c for c in ("force_code",) if c in coverage.columns])
    out.index = pd.Index(codes.astype(str).to_numpy(), name="force_code")
    return out


def force_map_frame(
    force_areas: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    *,
    metric: str = "gap_score",
) -> gpd.GeoDataFrame:
    """Join force areas with their coverage and add each force's class and colour.

    Parameters
    ----------
    force_areas
        Force areas (``force_code``, ``force_name``, geometry).
    coverage
        One row per force with a ``force_code`` column and the ``metric`` column.
    metric
        The coverage column that colours the map.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in the areas' CRS: ``force_code``, ``force_name``, ``slug``, ``value``,
        ``class_index``, ``class_label``, ``colour`` and geometry, plus every coverage column
        (prefixed with nothing; force columns win on a clash).
    """
    missing = [c for c in ("force_code", "force_name") if c not in force_areas.columns]
    if missing:
        raise MapError(
            f"Force boundaries lack column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, force_areas.columns))}); load them with "
            "load_force_areas."
        )
    by_code = _coverage_by_code(coverage)
    if metric not in by_code.columns:
        choices = [
            c
            for c in by_code.columns
            if c not in ("force_code", "force_name")
            and (pd.api.types.is_numeric_dtype(by_code[c]) or c == "gap_class")
        ]
        raise MapError(
            f"Unknown coverage measure {metric!r}; choose --metric from: {', '.join(choices)}."
        )
    extra = by_code.drop(columns=[c for c in by_code.columns if c in force_areas.columns])
    joined = force_areas[["force_code", "force_name", "geometry"]].merge(
        extra, left_on="force_code", right_index=True, how="left"
    )
    joined = gpd.GeoDataFrame(joined, geometry="geometry", crs=force_areas.crs)
    values = by_code[metric].reindex(joined["force_code"])
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
        for code, name in zip(joined["force_code"], joined["force_name"], strict=True)
    ]
    joined["value"] = values.to_numpy()
    joined["class_index"] = classes.index
    joined["class_label"] = [classes.labels[i] if i >= 0 else "no data" for i in classes.index]
    joined["colour"] = [classes.colours[i] if i >= 0 else NO_DATA_COLOUR for i in classes.index]
    joined.attrs["classes"] = classes
    joined.attrs["metric"] = metric
    return joined


def _gap_class_order() -> list[str]:
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
    return f"<strong>{_e(row['force_name'])}</strong><table>{cells}</table>"


def _force_label(row: Mapping[str, Any], metric: str) -> str:
    """Return a force area's accessible name: its name and the mapped measure, as plain text."""
    ((label, value),) = _force_summary_rows(row, metric)[:1]
    return f"{cell_text(row['force_name'])}: {label} {value}"


def _force_popup(row: Mapping[str, Any], metric: str, profile_base: str | None) -> str:
    body = _force_tooltip(row, metric)
    if profile_base is not None:
        href = f"{profile_base}{row['slug']}.html"
        name = _e(row["force_name"])
        body += f"<p><a href='{_e(href)}' target='_top'>Open the profile of {name}</a></p>"
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
                "id": row["force_code"],
                "properties": {
                    "force_code": row["force_code"],
                    "force_name": cell_text(row["force_name"]),
                    "slug": row["slug"],
                    "value": _json_number(value),
                    "class_label": row["class_label"],
                    "colour": row["colour"],
                    "tooltip": _force_tooltip(row, metric),
                    "popup": _force_popup(row, metric, profile_base),
                    "label": _force_label(row, metric),
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


def national_services(services: pd.DataFrame) -> pd.DataFrame:
    """Return the national services, which are listed beside the map rather than placed on it.

    Parameters
    ----------
    services
        The canonical services frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``offers``, ``phone``, ``email`` (``""`` unless one plain address),
        ``website`` (``""`` unless http(s)), ``languages``, ``communities``, ``by_and_for`` and
        ``nrpf_support`` (bools), ``last_seen``; one row per national service, by name. Raw
        text: escape.
    """
    columns = [
        *("name", "offers", "phone", "email", "website", "languages", "communities"),
        *("by_and_for", "nrpf_support", "last_seen"),
    ]
    if services.empty or "scope" not in services.columns:
        return pd.DataFrame(columns=columns)
    national = services.loc[services["scope"].map(cell_text) == "national"]
    rows = [
        {
            "name": cell_text(s.get("name")),
            "offers": label_service_types(s.get("service_types")),
            "phone": cell_text(s.get("phone")),
            "email": safe_email(s.get("email")) or "",
            "website": safe_url(s.get("website")) or "",
            "languages": ", ".join(split_list(cell_text(s.get("languages")))),
            "communities": ", ".join(split_list(cell_text(s.get("communities")))),
            "by_and_for": cell_text(s.get("by_and_for")) == "yes",
            "nrpf_support": cell_text(s.get("nrpf_support")) == "yes",
            "last_seen": cell_text(s.get("last_seen")),
        }
        for _, s in national.iterrows()
    ]
    return pd.DataFrame(rows, columns=columns).sort_values("name", kind="stable", ignore_index=True)


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
            districts: {{ this.districts.get_name() if this.districts else "null" }},
            cluster: {{ this.cluster.get_name() }},
            services: {{ this.count|tojson }},
            filters: servicemapUI.lastFilters || null
        };
        {% if this.districts %}
        servicemapUI.areaLayers({{ this.map.get_name() }}, {
            forces: {{ this.forces.get_name() }},
            districts: {{ this.districts.get_name() }}
        });
        {% endif %}
        servicemapUI.panels({{ this.map.get_name() }}, [
            {label: "Legend", selector: ".sm-legend", wide: true, group: ""},
            {label: "Layers", selector: ".leaflet-control-layers", wide: true, group: "right"},
            {label: "Filter", selector: ".sm-filters", wide: false, group: "right"}
        ]);
        {% endmacro %}
        """
    )

    def __init__(
        self, *, map_: folium.Map, areas: tuple[Any, Any | None], cluster: Any, count: int,
        label: str, credits: Sequence[str] = (),
    ) -> None:  # fmt: skip
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Hooks"
        self.map = map_
        self.forces, self.districts = areas  # the district layer, or None
        self.cluster = cluster
        self.count = count
        self.label = label
        # Folded on a phone (mapui.js closes "sm-open-wide" boxes there), open on a wide screen.
        text = " ".join([ATTRIBUTION, *credits])
        self.attribution = (
            "<details class='sm-sources sm-open-wide' open><summary>Sources</summary>"
            f"{html.escape(text)}</details>"
        )


def _legend_html(
    frame: gpd.GeoDataFrame,
    markers: pd.DataFrame,
    metric: str,
    districts: gpd.GeoDataFrame | None = None,
) -> str:
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
    rings = "".join(
        f"<li><span class='sm-dot sm-{scope}' style='background:#ffffff'></span>{_e(text)}</li>"
        for scope, text in (
            ("local", "Local service: white ring (serves a district or a few)"),
            ("regional", "Regional service: larger, dark dashed ring (a county, force or region)"),
        )
        if (markers["scope"] == scope).any()
    )
    services = (
        f"<h2>Services</h2><ul>{dots}</ul><ul>{rings}</ul>"
        "<p class='sm-note'>A service offering several kinds of help is shown once, in its "
        "scarcest kind. Numbers in circles count services close together; zoom in to see them."
        " Confidential addresses (refuges) are never shown.</p>"
        if dots
        else ""
    )
    areas = f"<h2>{_e(metric_label(metric))}</h2><ul>{''.join(items)}</ul>"
    lead = f"{direction} "
    if districts is not None:  # the key of the area layer shown (mapui.js areaLayers switches)
        heading = f"<h2>{_e(f'{FORCE_LAYER}: {metric_label(metric)}')}</h2>"
        areas = (
            f"<div data-sm-areas='forces'>{heading}<ul>{''.join(items)}</ul>"
            f"<p class='sm-note'>{direction}</p></div><div data-sm-areas='districts' hidden>"
            f"{district_legend_html(districts)}<p class='sm-note'>Darker = bigger gap.</p></div>"
        )
        lead = ""  # each layer's key says it
    return (
        f"{areas}"
        f"<p class='sm-note'>{lead}Nothing found is not the same as nothing there: "
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
            bits.append(phone_html(row.phone, row.last_seen))
        if row.email:
            bits.append(f"<a href='mailto:{_e(row.email)}'>{_e(row.email)}</a>")
        if row.website:
            bits.append(
                f"<a href='{_e(row.website)}' target='_blank' rel='noopener noreferrer'>"
                f"{_e(row.website)}</a>"
            )
        if row.languages:
            bits.append(_e(f"languages: {row.languages}"))
        if row.by_and_for:
            bits.append("by and for")
        if row.nrpf_support:
            bits.append("supports NRPF")
        bits.append(_e(f"last seen {seen_text(row.last_seen)}"))
        items.append(f"<li>{' · '.join(bits)}</li>")
    return (
        f"<details><summary>National services ({len(national)})</summary>"
        "<p class='sm-note'>These help anyone in England and Wales, so they are listed, not "
        f"placed.</p><ul>{''.join(items)}</ul></details>"
    )


def _layer_label(kind: str, scope: str) -> str:
    return (
        f"<span class='sm-dot sm-{scope}' style='background:{KIND_COLOURS[kind]}'></span> "
        f"{html.escape(_layer_name(kind, scope))}"
    )


def coverage_map(
    force_areas: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    services: gpd.GeoDataFrame,
    *,
    metric: str = "gap_score",
    tiles: str | None = None,
    profile_base: str | None = "forces/",
    title: str = DEFAULT_TITLE,
    max_vertices: int = 40_000,
    simplified: gpd.GeoDataFrame | None = None,
    fallback: tuple[str, str] | None = None,
    credits: Sequence[str] = (),
    districts: gpd.GeoDataFrame | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> folium.Map:
    """Build the coverage map: force areas coloured by a measure, services as clustered markers.

    Parameters
    ----------
    force_areas
        Force areas (``force_code``, ``force_name``, polygons) from
        ``boundaries.load_force_areas``.
    coverage
        One row per force from ``coverage.coverage_by_force`` (``force_code`` plus measures).
    services
        The services frame, already passed through ``privacy.public_services``. Confidential
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
    simplified
        The simplified :func:`force_map_frame` when the caller has it (the report simplifies
        once for map, picture and pages); ``None`` simplifies here.
    fallback
        ``(picture, table)``: addresses of a picture of the map and of the table of its figures,
        shown when JavaScript is off (the report's ``coverage.png``, ``index.html#forces``).
    credits
        More sources to credit with the map's own (the report's search credits GeoNames).
    districts
        The districts from ``district_layer.district_map_frame``: a second area layer, off until
        chosen (the layer list then offers force areas or districts, one at a time).
    settings
        Settings (``crs`` for simplification).

    Returns
    -------
    folium.Map
        A map whose saved page needs no network (unless ``tiles`` is given).
    """
    provider = tile_provider(tiles) if tiles else None  # before any work: a typo fails at once
    if simplified is None:
        simplified = simplified_force_frame(
            force_areas, coverage, metric=metric, max_vertices=max_vertices, settings=settings
        )
    markers = map_services(services)
    m = _start_map(simplified, title=title, noscript=_noscript_html(fallback, metric))
    if provider is not None:
        folium.TileLayer(provider, name="Base map", control=False).add_to(m)
    # Both area layers before the LayerControl (_add_panels), whose script names them.
    areas = _add_area_layers(m, simplified, districts, metric=metric, profile_base=profile_base)
    cluster, count = _add_services(m, markers)
    _add_panels(m, title=title, simplified=simplified, markers=markers, services=services,
                metric=metric, districts=districts)  # fmt: skip
    label = f"Map: {title}. The same figures are in the coverage table."
    m.add_child(_Hooks(map_=m, areas=areas, cluster=cluster, count=count, label=label,
                       credits=credits))  # fmt: skip
    return m


def simplified_force_frame(
    force_areas: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    *,
    metric: str = "gap_score",
    max_vertices: int = 40_000,
    settings: Settings = DEFAULT_SETTINGS,
) -> gpd.GeoDataFrame:
    """Return :func:`force_map_frame`, simplified for the web (EPSG:4326), its classes kept.

    Parameters
    ----------
    force_areas, coverage, metric
        As for :func:`force_map_frame`.
    max_vertices
        Vertex budget for all the polygons together
        (``geography.simplified.simplify_force_areas``).
    settings
        Settings (``crs`` for simplification).

    Returns
    -------
    geopandas.GeoDataFrame
        The joined frame with simplified polygons; ``attrs`` hold its classes and metric.
    """
    joined = force_map_frame(force_areas, coverage, metric=metric)
    simplified = simplify_force_areas(joined, max_vertices=max_vertices, settings=settings)
    simplified.attrs.update(joined.attrs)
    return simplified


def _start_map(simplified: gpd.GeoDataFrame, *, title: str, noscript: str) -> folium.Map:
    """Return an empty offline map centred on (and fitted to) the simplified force areas."""
    minx, miny, maxx, maxy = simplified.total_bounds if len(simplified) else (-6, 49.9, 2, 55.9)
    centre = ((miny + maxy) / 2, (minx + maxx) / 2)
    m = offline_map(title=title, location=centre, zoom_start=6, noscript=noscript)
    if len(simplified):
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _noscript_html(fallback: tuple[str, str] | None, metric: str) -> str:
    """Return what the page shows with JavaScript off: the picture and a link to the table."""
    if fallback is None:
        return NOSCRIPT
    picture, table = fallback
    return (
        f"<img src='{_e(picture)}' alt='Map of England and Wales: police force areas coloured "
        f"by {_e(metric_label(metric))}. The same figures are in the table.'>"
        "<p>The interactive map needs JavaScript. This picture shows the same areas; "
        f"<a href='{_e(table)}' target='_top'>the table of every police force area</a> holds "
        "the figures.</p>"
    )


FORCE_LAYER = "Police force areas"
"""The force layer's name in the map's layer list when the map has a district layer too."""


def _add_area_layers(
    m: folium.Map,
    simplified: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame | None,
    *,
    metric: str,
    profile_base: str | None,
) -> tuple[folium.GeoJson, folium.GeoJson | None]:
    """Add the force layer and the district layer (if any); return them.

    With districts, the two are the layer list's base layers (radio buttons, one shown at a
    time): two filled layers drawn over each other would mix their colours, the top one would
    take every pointer and key, and the legend could not say which one is shown.
    """
    forces = _force_layer(
        simplified, metric=metric, profile_base=profile_base, base=districts is not None
    )
    m.add_child(forces)
    if districts is None:
        return forces, None
    layer = district_layer(districts, profile_base=profile_base)
    m.add_child(layer)
    return forces, layer


def _force_layer(
    simplified: gpd.GeoDataFrame, *, metric: str, profile_base: str | None, base: bool = False
) -> folium.GeoJson:
    """Return the force areas as a GeoJSON layer with a tooltip and popup on each.

    ``base``: a base layer named :data:`FORCE_LAYER` (beside the districts), not an overlay.
    """
    return CompactGeoJson(
        _force_geojson(simplified, metric=metric, profile_base=profile_base),
        name=FORCE_LAYER if base else f"Force areas: {metric_label(metric)}",
        overlay=not base,
        style_function=_force_style,
        highlight_function=lambda feature: {"weight": 3, "color": "#000000"},
        on_each_feature=JsCode(
            "function (feature, layer) {"
            " layer.bindTooltip(feature.properties.tooltip, {sticky: true});"
            " layer.bindPopup(feature.properties.popup, {maxWidth: servicemapUI.popupWidth()});"
            " servicemapUI.keyboard(layer, feature.properties.label); }"
        ),
        className="sm-force",
        control=True,
    )


def _add_services(m: folium.Map, markers: pd.DataFrame) -> tuple[Any, int]:
    """Add the clustered service markers, one layer per kind and scope; return the cluster."""
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
    m.add_child(_ServiceMarkers(markers, groups))
    return cluster, len(markers)


def _add_panels(
    m: folium.Map,
    *,
    title: str,
    simplified: gpd.GeoDataFrame,
    markers: pd.DataFrame,
    services: gpd.GeoDataFrame,
    metric: str,
    districts: gpd.GeoDataFrame | None,
) -> None:
    """Add the title, the legend, the national services box (if any) and the layer list."""
    areas = (
        "Police force areas of England and Wales"
        if districts is None
        else "Police force areas or, chosen in Layers, local authority districts of England and "
        "Wales"
    )
    m.add_child(
        HtmlControl(
            f"<h1>{_e(title)}</h1><p>{areas}. Select an area or a service for details.</p>",
            position="topleft",
            css_class="sm-box sm-title",
            name="Title",
        )
    )
    m.add_child(
        HtmlControl(
            _legend_html(simplified, markers, metric, districts),
            position="bottomright",
            css_class="sm-box sm-legend",
            name="Legend",
        )
    )
    national_html = _national_html(national_services(services))
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


# folium's page forbids zooming (maximum-scale=1, user-scalable=no): people must be able to
# pinch-zoom a map page on a phone (WCAG 1.4.4).
_VIEWPORT = re.compile(r"<meta name=\"viewport\"[^>]*>")
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def render_map(m: folium.Map) -> str:
    """Return the map page as HTML text (its viewport lets people zoom)."""
    return _VIEWPORT.sub(VIEWPORT, str(m.get_root().render()))


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
    target = Path(path)
    atomic_write_text(target, render_map(m))
    return target
