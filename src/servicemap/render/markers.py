"""Service markers on the maps: which services are placed, their popups, the compact marker array.

Confidential and national services are never placed (:func:`map_services`); every popup text is
escaped here, in Python, and the page's script only assembles the escaped pieces.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from servicemap.directory.schema import PROVISION_KINDS, cell_text, postal_only, split_list
from servicemap.render.labels import (
    KIND_LABELS,
    SCOPE_LABELS,
    address_line,
    label_service_types,
    safe_email,
    safe_url,
)
from servicemap.render.selection import phone_html, seen_text
from servicemap.settings import DEFAULT_SETTINGS

__all__ = [
    "FLAG_BITS",
    "KIND_COLOURS",
    "MARKER_KIND_ORDER",
    "map_services",
    "service_popup_html",
]

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
# A service offering several kinds is drawn once, in the layer of the scarcest kind it offers.
MARKER_KIND_ORDER: tuple[str, ...] = (
    "nrpf_accommodation",
    "legal_immigration",
    "advocacy",
    "counselling",
    "helpline",
    "other",
)
# The filter flags of a marker, after one bit per kind of MARKER_KIND_ORDER (the page's filters
# read them): led by and for the communities it serves; supports people with NRPF.
FLAG_BITS: dict[str, int] = {"by_and_for": 1 << 6, "nrpf_support": 1 << 7}


def _e(value: object) -> str:
    """HTML-escape any value for use in element content or a quoted attribute."""
    return html.escape(cell_text(value), quote=True)


def _tel(phone: str) -> str | None:
    digits = re.sub(r"[^0-9+]", "", phone)
    return digits if len(digits.lstrip("+")) >= 3 else None


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
    return _popup_from_parts(*_popup_parts(service))


# A popup item's value: escaped HTML, or a link built from escaped parts ("tel", tel, phone),
# ("web", url) or ("mail", address); the map page's script builds the markup of
# _popup_from_parts.
_Value = str | tuple[str, ...]


def _popup_parts(service: Mapping[str, Any]) -> tuple[str, str, list[tuple[str, _Value]]]:
    """Return a popup's escaped title, escaped organisation ("" if none) and labelled items."""
    organisation = cell_text(service.get("organisation"))
    shown_organisation = (
        _e(organisation) if organisation and organisation != cell_text(service.get("name")) else ""
    )
    items: list[tuple[str, _Value]] = []
    offers = label_service_types(service.get("service_types"))
    if offers:
        items.append(("Offers", _e(offers)))
    phone = cell_text(service.get("phone"))
    if phone:  # escaped HTML with a tel: link and when the number was seen
        items.append(("Phone", phone_html(phone, service.get("last_seen"))))
    email = safe_email(service.get("email"))
    if email:
        items.append(("Email", ("mail", _e(email))))
    url = safe_url(service.get("website"))
    if url:
        items.append(("Website", ("web", _e(url))))
    if not _is_confidential(service.get("confidential")):
        address = address_line(service)
        if address:
            items.append(("Address", _e(address)))
    for field, label in (("languages", "Languages"), ("communities", "Communities")):
        value = ", ".join(split_list(cell_text(service.get(field))))
        if value:
            items.append((label, _e(value)))
    if cell_text(service.get("by_and_for")) == "yes":
        items.append(("By and for", "yes: led by the communities it serves"))
    if cell_text(service.get("nrpf_support")) == "yes":
        items.append(("NRPF", "supports people with no recourse to public funds"))
    items.append(("Last seen", _e(seen_text(service.get("last_seen")))))
    notes = cell_text(service.get("notes"))
    if notes:
        items.append(("Notes", _e(notes)))
    return _e(service.get("name")), shown_organisation, items


def _value_html(value: _Value) -> str:
    if isinstance(value, str):
        return value
    if value[0] == "tel":
        return f"<a href='tel:{value[1]}'>{value[2]}</a>"
    if value[0] == "mail":
        return f"<a href='mailto:{value[1]}'>{value[1]}</a>"
    return f"<a href='{value[1]}' target='_blank' rel='noopener noreferrer'>{value[1]}</a>"


def _popup_from_parts(name: str, organisation: str, items: list[tuple[str, _Value]]) -> str:
    parts = [f"<div class='sm-popup'><h3>{name}</h3>"]
    if organisation:
        parts.append(f"<p>{organisation}</p>")
    if items:
        parts.append("<dl>")
        parts.extend(f"<dt>{label}</dt><dd>{_value_html(value)}</dd>" for label, value in items)
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
    and so are national services (they are listed, not placed) and services whose address is a
    PO Box or Freepost (``directory.schema.postal_only``). Pass services through
    ``privacy.public_services`` first; this is a second guard, not the only one.

    Parameters
    ----------
    services
        The canonical services frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``name``, ``scope``, ``kind``, ``kinds``, ``layer``, ``colour``,
        ``lat``, ``lon``, ``popup`` (escaped HTML), ``popup_parts`` (the popup's escaped
        pieces, which the map page assembles on demand), and what the map's filters read:
        ``filter_bits`` (a bit per kind offered, :data:`MARKER_KIND_ORDER`, and the
        :data:`FLAG_BITS`), ``languages`` and ``communities`` (tuples of raw text); sorted by
        name.
    """
    columns = [
        *("id", "name", "scope", "kind", "kinds", "layer", "colour", "lat", "lon", "popup"),
        *("popup_parts", "filter_bits", "languages", "communities"),
    ]
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
    placed &= ~postal_only(services)  # a PO Box or Freepost address is not a place to visit
    chosen = services.loc[placed]
    if chosen.empty:
        return pd.DataFrame(columns=columns)
    points = geometry.loc[placed].to_crs("EPSG:4326")
    rows = []
    for service, point in zip(chosen.to_dict(orient="records"), points, strict=True):
        kinds = _kinds(service.get("service_types"))
        parts = _popup_parts(service)
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
                "popup": _popup_from_parts(*parts),
                "popup_parts": parts,
                "filter_bits": _filter_bits(kinds, service),
                "languages": tuple(split_list(cell_text(service.get("languages")))),
                "communities": tuple(split_list(cell_text(service.get("communities")))),
            }
        )
    return pd.DataFrame(rows, columns=columns).sort_values("name", kind="stable", ignore_index=True)


def _filter_bits(kinds: list[str], service: Mapping[str, Any]) -> int:
    bits = sum(1 << MARKER_KIND_ORDER.index(kind) for kind in kinds)
    for field, bit in FLAG_BITS.items():
        if cell_text(service.get(field)) == "yes":
            bits |= bit
    return bits


def _layer_name(kind: str, scope: str) -> str:
    return f"{KIND_LABELS[kind]} ({SCOPE_LABELS.get(scope, scope)})"


class _ServiceMarkers(MacroElement):
    """Circle markers for services, added to the sub-group layer of their kind and scope.

    The page holds one compact array rather than a marker and a popup per service: every text
    (already escaped in Python) once in a table ``s``, the layers in ``l``, their colours in
    ``c`` and scopes in ``sc`` (0 local, 1 regional: drawn with a white or a dark dashed ring),
    and one row per service, ``[lat, lon, layer, name, organisation or -1, label, value, …]``
    of indexes into ``s``, where a link value is ``[0, tel, phone]``, ``[1, url]`` or
    ``[2, email]``. For the filters: ``f``, one number per row (``filter_bits``); ``k``, the
    kinds offered as ``[bit, label]``; ``lg`` and ``cm``, the languages and communities as raw
    text (set as text, never as markup), and ``g``, for the rows that have any,
    ``{row: [[language, …], [community, …]]}`` of indexes into them. ``assets/markers.js``
    builds each popup when it is opened, with the markup of ``_popup_from_parts``; ``rows``
    keeps the rows as dicts (``lat``, ``lon``, ``colour``, ``layer``, ``popup``, ``tooltip``)
    for Python callers.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var data = {{ this.payload|tojson }}, s = data.s;
            servicemapUI.addMarkers(data, {
            {%- for key, group in this.groups.items() %}
                {{ key|tojson }}: {{ group.get_name() }},
            {%- endfor %}
            }, {{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, markers: pd.DataFrame, groups: Mapping[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "ServiceMarkers"
        self.groups = dict(groups)
        self.payload = _marker_payload(markers)
        self.rows = [
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


def _marker_payload(markers: pd.DataFrame) -> dict[str, Any]:
    """Return the compact marker array (see :class:`_ServiceMarkers`)."""
    strings: dict[str, int] = {}

    def ref(text: str) -> int:
        return strings.setdefault(text, len(strings))

    layers: dict[str, int] = {}
    colours: list[str] = []
    scopes: list[int] = []
    rows: list[list[Any]] = []
    for r in markers.itertuples(index=False):
        if r.layer not in layers:
            layers[r.layer] = len(layers)
            colours.append(r.colour)
            scopes.append(1 if r.scope == "regional" else 0)
        name, organisation, items = r.popup_parts
        row: list[Any] = [r.lat, r.lon, layers[r.layer], ref(name)]
        row.append(ref(organisation) if organisation else -1)
        for label, value in items:
            row.append(ref(label))
            if isinstance(value, str):
                row.append(ref(value))
            elif value[0] == "tel":
                row.append([0, ref(value[1]), ref(value[2])])
            elif value[0] == "mail":
                row.append([2, ref(value[1])])
            else:
                row.append([1, ref(value[1])])
        rows.append(row)
    payload = {"s": list(strings), "l": list(layers), "c": colours, "sc": scopes, "r": rows}
    return payload | _filter_payload(markers)


def _filter_payload(markers: pd.DataFrame) -> dict[str, Any]:
    """Return what the map's filters read (see :class:`_ServiceMarkers`)."""
    bits = [int(b) for b in markers["filter_bits"]] if len(markers) else []
    offered = 0
    for b in bits:
        offered |= b
    kinds = [
        [1 << i, KIND_LABELS[kind]]
        for i, kind in enumerate(MARKER_KIND_ORDER)
        if offered & (1 << i)
    ]
    languages = sorted({x for xs in markers.get("languages", []) for x in xs}, key=str.lower)
    communities = sorted({x for xs in markers.get("communities", []) for x in xs}, key=str.lower)
    language_index = {x: i for i, x in enumerate(languages)}
    community_index = {x: i for i, x in enumerate(communities)}
    extra: dict[str, list[list[int]]] = {}
    for n, r in enumerate(markers.itertuples(index=False)):
        if r.languages or r.communities:
            extra[str(n)] = [
                [language_index[x] for x in r.languages],
                [community_index[x] for x in r.communities],
            ]
    return {"f": bits, "k": kinds, "lg": languages, "cm": communities, "g": extra}
