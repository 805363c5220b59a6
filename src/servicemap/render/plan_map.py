"""The plan map: proposed sites, their catchment circles and the existing public services."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from servicemap.analysis.plan import Proposal
from servicemap.directory.privacy import public_services
from servicemap.geography.boundaries import simplify_force_areas
from servicemap.render.labels import WEIGHT_LABELS
from servicemap.render.leaflet import HtmlControl, offline_map
from servicemap.render.maps import map_services
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    import folium
    import geopandas as gpd


def _plan_layers_class() -> Any:
    """Return the MacroElement class that draws the plan's layers (folium imported lazily)."""
    from branca.element import MacroElement
    from folium.template import Template

    class _PlanLayers(MacroElement):
        """Existing services, catchment circles and numbered sites, drawn from JSON rows.

        Popups are bound with Leaflet's own ``bindPopup`` (folium's ``Popup`` needs jQuery,
        which the offline page does not carry). Every text is escaped before it gets here and
        ``tojson`` escapes ``<``, ``>`` and ``&`` again inside the script.
        """

        _template = Template(
            """
            {% macro script(this, kwargs) %}
            (function () {
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
                        radius: r.radius, color: "#d95f02", weight: 2, fillOpacity: 0.12,
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
                });
                window.servicemapPlan = {
                    map: {{ this.map.get_name() }}, sites: sites.length,
                    services: services.length
                };
            })();
            {% endmacro %}
            """
        )

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
    settings: Settings = DEFAULT_SETTINGS,
) -> folium.Map:
    """Draw the proposed sites, their catchment circles and the existing public services.

    Confidential services are never placed: ``services`` goes through
    :func:`servicemap.directory.privacy.public_services` and
    :func:`servicemap.render.maps.map_services`. The
    page inlines Leaflet like the coverage map, so it works offline.

    Parameters
    ----------
    proposal
        From :func:`servicemap.analysis.plan.propose_sites`.
    services
        The canonical services frame (the directory).
    force_areas
        Force polygons (``code``, ``name``; ``servicemap.geography.boundaries.load_force_areas``)
        drawn
        as outlines for orientation, the planned force in bold; ``None`` for none.
    settings
        ``settings.crs``, for simplifying the outlines.

    Returns
    -------
    folium.Map
        The map; save it with :func:`servicemap.render.maps.save_map`.
    """
    import folium

    p = proposal.problem
    sites = proposal.sites
    title = f"Proposed sites in {p.area_name}"
    style = (
        "<style>.sm-plan-site{width:28px;height:28px;border-radius:14px;"
        "background:#d95f02;color:#fff;font:bold 15px/28px sans-serif;text-align:center;"
        "border:2px solid #fff;box-shadow:0 0 3px #000}</style>"
    )
    # The coverage map's page and controls, so the plan map is self-contained and looks alike.
    m = offline_map(
        title=title, location=(52.5, -1.5), zoom_start=7, control_scale=True, head=style
    )
    outlines = None
    if force_areas is not None and len(force_areas):
        outlines = _force_outlines(force_areas, p.area_code, settings)
        _add_outlines(m, outlines)
    layers = {
        "services_layer": folium.FeatureGroup(name="Existing services (public locations)"),
        "catchments": folium.FeatureGroup(name=f"Catchments ({p.radius_km:g} km)"),
        "proposals": folium.FeatureGroup(name="Proposed sites"),
    }
    for layer in layers.values():
        layer.add_to(m)
    site_rows = _site_rows(proposal)
    service_rows = _service_rows(services)
    m.add_child(_plan_layers_class()(map=m, services=service_rows, sites=site_rows, **layers))
    m.add_child(
        HtmlControl(
            _summary(proposal, title), position="bottomleft", css_class="sm-box sm-title",
            name="Title",
        )
    )  # fmt: skip
    folium.LayerControl(collapsed=False).add_to(m)
    bounds = _plan_bounds(sites, p.radius_km, outlines)
    if bounds is not None:
        m.fit_bounds(bounds)
    return m


def _force_outlines(
    force_areas: gpd.GeoDataFrame, area_code: str, settings: Settings
) -> gpd.GeoDataFrame:
    """Return simplified force outlines with ``planned`` (the planned force) and ``label``."""
    outlines = simplify_force_areas(force_areas, max_vertices=20_000, settings=settings)
    return outlines.assign(
        planned=outlines["force_code"] == area_code,
        label=outlines["force_name"].astype(str).map(html.escape),
    )[["planned", "label", "geometry"]]


def _add_outlines(m: folium.Map, outlines: gpd.GeoDataFrame) -> None:
    """Draw the force outlines, the planned force in bold."""
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


def _site_rows(proposal: Proposal) -> list[dict[str, Any]]:
    """Return one JSON row per proposed site: place, catchment radius (m) and escaped label."""
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    return [
        {
            "rank": int(row.rank),
            "lat": float(row.latitude),
            "lon": float(row.longitude),
            "radius": p.radius_km * 1000.0,
            "label": html.escape(
                f"{row.rank}. {row.name or row.postcode_district} ({row.local_authority}, "
                f"{row.force_name}): +{row.newly_within_reach:,.0f} {who} within "
                f"{p.radius_km:g} km"
            ),
        }
        for row in proposal.sites.itertuples(index=False)
    ]


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


def _summary(proposal: Proposal, title: str) -> str:
    """Return the map's title box (HTML, every text escaped)."""
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    return (
        f"<h2>{html.escape(title)}</h2><p>{len(proposal.sites)} new in-person "
        f"{html.escape(p.kind or '')} service(s) chosen to bring the most "
        f"{html.escape(who)} within {p.radius_km:g} km. Circles show each site's catchment; "
        "dots show existing services with a public location (refuges and other confidential "
        "services are never placed).</p>"
    )


def _plan_bounds(
    sites: pd.DataFrame, radius_km: float, outlines: gpd.GeoDataFrame | None
) -> list[list[float]] | None:
    """Return the [[south, west], [north, east]] that shows every catchment and the force."""
    south, west, north, east = math.inf, math.inf, -math.inf, -math.inf
    if len(sites):
        pad = radius_km / 111.0
        lat, lon = sites["latitude"].to_numpy(float), sites["longitude"].to_numpy(float)
        south, west = lat.min() - pad, lon.min() - pad * 1.6
        north, east = lat.max() + pad, lon.max() + pad * 1.6
    if outlines is not None and outlines["planned"].any():
        minx, miny, maxx, maxy = outlines.loc[outlines["planned"]].total_bounds
        south, west, north, east = (
            min(south, miny),
            min(west, minx),
            max(north, maxy),
            max(east, maxx),
        )
    if not math.isfinite(south):
        return None
    return [[south, west], [north, east]]
