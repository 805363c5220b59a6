"""The plan map: sites with their catchments, who is newly within reach, and places to find them.

One offline page for both plans: a proposal's chosen sites (:func:`proposal_map`) or a
what-if's proposed services (:func:`what_if_map`). Beside the sites it draws what a reader
needs to place them without another map: force outlines, district boundaries and names,
postcode district labels and town names (:class:`servicemap.analysis.places.PlanPlaces`).
Confidential services are never placed.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from servicemap.analysis.places import (
    LABEL_DECIMALS,
    PlanPlaces,
    newly_reached_area,
    proposal_reach,
    proposal_sites,
    what_if_sites,
)
from servicemap.analysis.plan import Proposal
from servicemap.directory.privacy import public_services
from servicemap.geography.simplified import simplify_force_areas
from servicemap.geography.towns import TOWNS_ATTRIBUTION
from servicemap.render.labels import KIND_NOUNS, WEIGHT_LABELS
from servicemap.render.leaflet import HtmlControl, offline_map
from servicemap.render.maps import map_services
from servicemap.render.plan_text import people
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

PLAN_ATTRIBUTION = (
    "Boundaries derived from the ONS Postcode Directory (OGL v3); contains OS data © Crown "
    "copyright and database right 2025. " + TOWNS_ATTRIBUTION
)
"""The credits on every plan map."""

_STYLE = (
    "<style>.sm-plan-site{width:28px;height:28px;border-radius:14px;"
    "background:#d95f02;color:#fff;font:bold 15px/28px sans-serif;text-align:center;"
    "border:2px solid #fff;box-shadow:0 0 3px #000}"
    ".sm-plan-label{white-space:nowrap;pointer-events:none;text-shadow:0 0 3px #fff,0 0 3px #fff}"
    ".sm-plan-town{font:600 12px sans-serif;color:#222}"
    ".sm-plan-town:before{content:'';display:inline-block;width:5px;height:5px;"
    "border-radius:3px;background:#222;margin-right:3px;vertical-align:middle}"
    ".sm-plan-district{font:italic 12px sans-serif;color:#555;text-transform:uppercase;"
    "letter-spacing:.5px}"
    ".sm-plan-outward{font:10px monospace;color:#3b5b92}"
    ".sm-plan-site-label{font:bold 12px sans-serif;color:#a33f00}"
    ".sm-zoomed-out .sm-plan-outward{display:none}</style>"
)


_PLAN_SCRIPT = """
            {% macro script(this, kwargs) %}
            (function () {
                var map = {{ this.map.get_name() }};
                function label(r, css, layer) {
                    var div = document.createElement("div");
                    div.className = "sm-plan-label " + css;
                    div.textContent = r.text;
                    L.marker([r.lat, r.lon], {
                        icon: L.divIcon({html: div, className: "", iconSize: null}),
                        interactive: false, keyboard: false
                    }).addTo(layer);
                }
                {{ this.towns|tojson }}.forEach(function (r) {
                    label(r, "sm-plan-town", {{ this.towns_layer.get_name() }});
                });
                {{ this.districts|tojson }}.forEach(function (r) {
                    label(r, "sm-plan-district", {{ this.districts_layer.get_name() }});
                });
                {{ this.outward|tojson }}.forEach(function (r) {
                    label(r, "sm-plan-outward", {{ this.outward_layer.get_name() }});
                });
                var services = {{ this.services|tojson }};
                services.forEach(function (r) {
                    L.circleMarker([r.lat, r.lon], {
                        radius: 6, color: "#ffffff", weight: 2, fillColor: r.colour,
                        fillOpacity: 0.9, className: "sm-service"
                    }).bindPopup(r.popup, {maxWidth: 320}).bindTooltip(r.tooltip)
                      .addTo({{ this.services_layer.get_name() }});
                });
                var sites = {{ this.sites|tojson }};
                sites.forEach(function (r) {
                    L.circle([r.lat, r.lon], {
                        radius: r.radius, color: "#d95f02", weight: 2, fillOpacity: 0.06,
                        className: "sm-plan-catchment"
                    }).bindTooltip(r.label).addTo({{ this.catchments.get_name() }});
                    L.marker([r.lat, r.lon], {
                        icon: L.divIcon({
                            html: "<div class='sm-plan-site'>" + r.rank + "</div>",
                            className: "", iconSize: [28, 28], iconAnchor: [14, 14]
                        }),
                        keyboard: true, title: r.rank + ""
                    }).bindPopup(r.label, {maxWidth: 320}).bindTooltip(r.label)
                      .addTo({{ this.proposals.get_name() }});
                    label({lat: r.lat, lon: r.lon, text: r.short}, "sm-plan-site-label",
                          {{ this.proposals.get_name() }});
                });
                function zoomed() {
                    var c = map.getContainer();
                    if (map.getZoom() < 10) { c.classList.add("sm-zoomed-out"); }
                    else { c.classList.remove("sm-zoomed-out"); }
                }
                map.on("zoomend", zoomed);
                zoomed();
                window.servicemapPlan = {
                    map: map, sites: sites.length, services: services.length
                };
            })();
            {% endmacro %}
            """


def _plan_layers_class() -> Any:
    """Return the MacroElement class that draws the plan's layers (folium imported lazily)."""
    from branca.element import MacroElement
    from folium.template import Template

    class _PlanLayers(MacroElement):
        """Services, catchments, numbered sites and place labels, drawn from JSON rows.

        Popups are bound with Leaflet's own ``bindPopup`` (folium's ``Popup`` needs jQuery,
        which the offline page does not carry). Labels are set as text (``textContent``), and
        every popup text is escaped before it gets here; ``tojson`` escapes ``<``, ``>`` and
        ``&`` again inside the script.
        """

        _template = Template(_PLAN_SCRIPT)

        def __init__(self, **layers: Any) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self._name = "PlanLayers"
            for name, value in layers.items():
                setattr(self, name, value)

    return _PlanLayers


def proposal_map(
    proposal: Proposal,
    services: pd.DataFrame,
    *,
    force_areas: gpd.GeoDataFrame | None = None,
    places: PlanPlaces | None = None,
    towns: pd.DataFrame | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> folium.Map:
    """Draw a proposal's sites, their catchments, who is newly within reach, and places.

    Confidential services are never placed: ``services`` goes through
    :func:`servicemap.directory.privacy.public_services` and
    :func:`servicemap.render.maps.map_services`. The page inlines Leaflet like the coverage
    map, so it works offline.

    Parameters
    ----------
    proposal
        From :func:`servicemap.analysis.plan.propose_sites`.
    services
        The canonical services frame (the directory).
    force_areas
        Force polygons drawn as outlines when ``places`` is not given; ``None`` for none.
    places
        Districts, postcode districts, towns and force outlines
        (:func:`servicemap.analysis.places.plan_places`); ``None`` for none.
    towns
        Towns to name each site's nearest (default: ``places.towns``, else the gazetteer's).
    settings
        ``settings.crs``, for simplifying the outlines.

    Returns
    -------
    folium.Map
        The map; save it with :func:`servicemap.render.maps.save_map`.
    """
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    kind = f" ({KIND_NOUNS[p.kind]})" if p.kind else ""
    town_list = towns if towns is not None else places.towns if places is not None else None
    sites = proposal_sites(proposal, towns=town_list)
    rows = _site_rows(sites, p.radius_km, who=who)
    count = len(proposal.sites)
    summary = (
        f"{count} new in-person service{'s' if count != 1 else ''}{kind} chosen to bring the most "
        f"{who} within {p.radius_km:g} km: {people(proposal.reach_after - proposal.reach_before)} "
        "more."
    )
    return plan_map(
        services,
        sites=rows,
        reached=newly_reached_area(proposal_reach(proposal), settings=settings),
        places=places if places is not None else _outlines_only(force_areas, p.area_code),
        title=f"Proposed sites in {p.area_name}",
        summary=summary,
        radius_km=p.radius_km,
        settings=settings,
    )


def what_if_map(
    comparison: pd.DataFrame,
    services: pd.DataFrame,
    proposed: pd.DataFrame,
    *,
    reached: gpd.GeoDataFrame | None = None,
    places: PlanPlaces | None = None,
    towns: pd.DataFrame | None = None,
    radius_km: float = 10,
    settings: Settings = DEFAULT_SETTINGS,
) -> folium.Map:
    """Draw a what-if's proposed services, who they bring within reach, and places.

    Proposed services that are confidential (a refuge, or ``location_confidential`` not
    clearly "no") are never placed.

    Parameters
    ----------
    comparison
        From :func:`servicemap.analysis.plan.what_if` (its first rows name the title's forces).
    services
        The directory.
    proposed
        The proposed services (canonical frame).
    reached
        :func:`servicemap.analysis.places.newly_reached_area` of
        :func:`servicemap.analysis.places.what_if_reach`; ``None`` for no shading.
    places
        As for :func:`proposal_map`.
    towns
        As for :func:`proposal_map`.
    radius_km
        The catchment drawn round each proposed service.
    settings
        ``settings.crs``.

    Returns
    -------
    folium.Map
        The map.
    """
    town_list = towns if towns is not None else places.towns if places is not None else None
    sites = what_if_sites(proposed, towns=town_list)
    requested = [str(c) for c in comparison.attrs.get("requested", ())]
    named = comparison.set_index("force_code")["force_name"].to_dict() if len(comparison) else {}
    where = ", ".join(str(named.get(c, c)) for c in requested) or "England and Wales"
    hidden = len(proposed) - len(sites)
    summary = (
        f"{len(proposed)} proposed service{'s' if len(proposed) != 1 else ''}, each with a "
        f"{radius_km:g} km circle; shading shows residents newly within {radius_km:g} km of "
        "in-person help."
        + (f" {hidden} confidential or unplaced proposal(s) are not shown." if hidden else "")
    )
    return plan_map(
        services,
        sites=_site_rows(sites, radius_km, who=None),
        reached=reached,
        places=places,
        title=f"What funding the proposed services would change in {where}",
        summary=summary,
        radius_km=radius_km,
        settings=settings,
    )


def _outlines_only(force_areas: gpd.GeoDataFrame | None, code: str) -> PlanPlaces | None:
    if force_areas is None or not len(force_areas):
        return None
    empty = pd.DataFrame({"postcode_district": [], "latitude": [], "longitude": []})
    towns = pd.DataFrame({"name": [], "latitude": [], "longitude": []})
    return PlanPlaces(force_areas, (code,), None, empty, towns)


def plan_map(
    services: pd.DataFrame,
    *,
    sites: list[dict[str, Any]],
    reached: gpd.GeoDataFrame | None,
    places: PlanPlaces | None,
    title: str,
    summary: str,
    radius_km: float,
    settings: Settings = DEFAULT_SETTINGS,
) -> folium.Map:
    """Draw a plan's page: places, shading, existing public services and the sites.

    Parameters
    ----------
    services
        The directory; only services with a public location are drawn.
    sites
        Rows from ``_site_rows``: place, catchment radius and escaped labels.
    reached
        The newly-within-reach shape (any CRS) or ``None``.
    places
        Places for orientation, or ``None``.
    title, summary
        The title box's heading and text (plain text; escaped here).
    radius_km
        The catchment radius (for the layer name).
    settings
        ``settings.crs``.

    Returns
    -------
    folium.Map
        The map.
    """
    import folium

    m = offline_map(
        title=title, location=(52.5, -1.5), zoom_start=7, control_scale=True, head=_STYLE
    )
    outlines = None
    if places is not None:
        outlines = _force_outlines(places.forces, places.focus, settings)
        _add_outlines(m, outlines)
        if places.districts is not None and len(places.districts):
            _add_districts(m, places.districts, settings)
    if reached is not None and len(reached):
        _add_reached(m, reached)
    layers = {
        "towns_layer": folium.FeatureGroup(name="Towns"),
        "districts_layer": folium.FeatureGroup(name="District names"),
        "outward_layer": folium.FeatureGroup(name="Postcode districts"),
        "services_layer": folium.FeatureGroup(name="Existing services (public locations)"),
        "catchments": folium.FeatureGroup(name=f"Catchments ({radius_km:g} km)"),
        "proposals": folium.FeatureGroup(name="Proposed sites"),
    }
    for layer in layers.values():
        layer.add_to(m)
    m.add_child(
        _plan_layers_class()(
            map=m, services=_service_rows(services), sites=sites, **_place_rows(places, settings),
            **layers,
        )
    )  # fmt: skip
    box = f"<h2>{html.escape(title)}</h2><p>{html.escape(summary)} Dots show existing services "
    box += "with a public location (refuges and other confidential services are never placed)."
    box += f"</p><p class='sm-note'>{html.escape(PLAN_ATTRIBUTION)}</p>"
    m.add_child(HtmlControl(box, position="bottomleft", css_class="sm-box sm-title", name="Title"))
    folium.LayerControl(collapsed=False).add_to(m)
    bounds = _plan_bounds(sites, radius_km, outlines)
    if bounds is not None:
        m.fit_bounds(bounds)
    return m


def _site_rows(sites: pd.DataFrame, radius_km: float, *, who: str | None) -> list[dict[str, Any]]:
    """Return one JSON row per site: place, catchment radius (m) and escaped labels."""
    rows = []
    for site in sites.itertuples(index=False):
        where = ", ".join(
            part for part in (str(site.postcode), str(site.district), str(site.near)) if part
        )
        title = str(site.name) or str(site.postcode_district) or f"Site {site.rank}"
        text = f"{site.rank}. {title} ({where}; {site.force})"
        if who is not None:
            text += f": +{people(float(site.newly_within_reach))} {who} within {radius_km:g} km"
        short = ", ".join(part for part in (str(site.postcode), str(site.near)) if part)
        rows.append(
            {
                "rank": int(site.rank),
                "lat": float(site.latitude),
                "lon": float(site.longitude),
                "radius": radius_km * 1000.0,
                "label": html.escape(text),
                "short": short,
            }
        )
    return rows


def _place_rows(places: PlanPlaces | None, settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Return the label rows (text set with textContent, so not escaped) for towns and districts."""
    if places is None:
        return {"towns": [], "districts": [], "outward": []}
    towns = [
        {
            "lat": round(float(t.latitude), LABEL_DECIMALS),
            "lon": round(float(t.longitude), LABEL_DECIMALS),
            "text": str(t.name),
        }
        for t in places.towns.itertuples(index=False)
    ]
    districts = []
    if places.districts is not None and len(places.districts):
        points = places.districts.to_crs(settings.crs).representative_point().to_crs("EPSG:4326")
        districts = [
            {
                "lat": round(pt.y, LABEL_DECIMALS),
                "lon": round(pt.x, LABEL_DECIMALS),
                "text": str(name),
            }
            for pt, name in zip(points, places.districts["district_name"], strict=True)
        ]
    outward = [
        {"lat": float(o.latitude), "lon": float(o.longitude), "text": str(o.postcode_district)}
        for o in places.postcode_districts.itertuples(index=False)
    ]
    return {"towns": towns, "districts": districts, "outward": outward}


def _force_outlines(
    force_areas: gpd.GeoDataFrame, focus: tuple[str, ...], settings: Settings
) -> gpd.GeoDataFrame:
    """Return simplified force outlines with ``planned`` (a focus force) and ``label``."""
    outlines = simplify_force_areas(force_areas, max_vertices=20_000, settings=settings)
    return outlines.assign(
        planned=outlines["force_code"].astype(str).isin(focus),
        label=outlines["force_name"].astype(str).map(html.escape),
    )[["planned", "label", "geometry"]]


def _add_outlines(m: folium.Map, outlines: gpd.GeoDataFrame) -> None:
    """Draw the force outlines, the planned forces in bold."""
    import folium

    folium.GeoJson(
        outlines.to_json(),
        name="Police force areas",
        style_function=lambda feature: {
            "fill": False,
            "color": "#333333",
            "weight": 3 if feature["properties"]["planned"] else 1,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        className="sm-plan-force",
    ).add_to(m)


def _add_districts(m: folium.Map, districts: gpd.GeoDataFrame, settings: Settings) -> None:
    """Draw the local authority district boundaries (thin, dashed) of the focus forces."""
    import folium

    shapes = simplify_force_areas(
        districts[["district_code", "district_name", "geometry"]],
        max_vertices=15_000,
        settings=settings,
    )
    # On a 0.01 degree grid (about 1 km), like the labels: no vertex sits on one postcode.
    grid = 10.0**-LABEL_DECIMALS
    shapes = shapes.assign(
        geometry=shapely.set_precision(shapes.geometry.to_numpy(), grid),
        label=shapes["district_name"].astype(str).map(html.escape),
    )[["label", "geometry"]]
    folium.GeoJson(
        shapes.to_json(),
        name="Local authority districts",
        style_function=lambda feature: {
            "fill": False,
            "color": "#777777",
            "weight": 1,
            "dashArray": "4 3",
        },
        interactive=False,
        className="sm-plan-districts",
    ).add_to(m)


def _add_reached(m: folium.Map, reached: gpd.GeoDataFrame) -> None:
    """Shade where residents are newly within reach (not interactive: it is a backdrop)."""
    import folium

    shape = reached.to_crs("EPSG:4326")[["geometry"]]
    folium.GeoJson(
        shape.to_json(),
        name="Newly within reach",
        style_function=lambda feature: {
            "fillColor": "#1b9e77",
            "fillOpacity": 0.35,
            "color": "#1b9e77",
            "weight": 0,
        },
        interactive=False,
        className="sm-plan-reached",
    ).add_to(m)


def _service_rows(services: pd.DataFrame) -> list[dict[str, Any]]:
    """Return one JSON row per service with a public location (never a confidential one)."""
    existing = map_services(public_services(services))
    return [
        {
            "lat": float(r.lat),
            "lon": float(r.lon),
            "colour": r.colour,
            "popup": r.popup,
            "tooltip": html.escape(r.name),
        }
        for r in existing.itertuples(index=False)
    ]


def _plan_bounds(
    sites: list[dict[str, Any]], radius_km: float, outlines: gpd.GeoDataFrame | None
) -> list[list[float]] | None:
    """Return the [[south, west], [north, east]] that shows every catchment and the forces."""
    south, west, north, east = math.inf, math.inf, -math.inf, -math.inf
    if sites:
        pad = radius_km / 111.0
        lat = np.array([s["lat"] for s in sites])
        lon = np.array([s["lon"] for s in sites])
        south, west = lat.min() - pad, lon.min() - pad * 1.6
        north, east = lat.max() + pad, lon.max() + pad * 1.6
    if outlines is not None and outlines["planned"].any():
        minx, miny, maxx, maxy = outlines.loc[outlines["planned"]].total_bounds
        south, west = min(south, miny), min(west, minx)
        north, east = max(north, maxy), max(east, maxx)
    if not math.isfinite(south):
        return None
    return [[south, west], [north, east]]
