"""The report's search box: "Find help near a postcode or place", offline, from ``file://``.

``index.html`` and ``map.html`` carry a labelled search box (``templates/_search.html``) and its
script (``assets/search.js``). The answer is worked out in the browser from files in the report
folder, added as ``<script>`` tags when first needed (a page opened from ``file://`` may not
``fetch()`` them); each file calls one global register function:

* ``postcodes/``: geography only, built once into the cache
  (:mod:`servicemap.geography.postcode_index`) and linked or copied into every report;
* ``search-services.js`` (:data:`SERVICES_FILE`): the one file about services, their public
  fields only (``directory.privacy.public_frame``, or the report's own public frame), with the
  districts each serves and the place of each public in-person service, as
  ``analysis.near.services_for_search`` decides them for ``servicemap near``. A confidential
  service is there with its public contact and the districts it serves, and never with a place
  or a distance.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from servicemap.analysis.near import services_for_search
from servicemap.directory.privacy import confidential_mask, public_frame
from servicemap.directory.schema import cell_text, split_list
from servicemap.geography.forces import load_districts
from servicemap.geography.postcode_index import (
    FOLDER,
    encode_districts,
    index_file_names,
    postcode_index_folder,
)
from servicemap.geography.postcodes import PostcodeTable
from servicemap.geography.towns import TOWNS_ATTRIBUTION
from servicemap.render.labels import FOCUS_LABELS, KIND_LABELS, label_service_types, safe_url
from servicemap.render.selection import phone_text, seen_text
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "FOLDER",
    "LABEL",
    "SERVICES_FILE",
    "SearchFiles",
    "search_box_html",
    "search_control",
    "search_files",
    "search_page_context",
    "search_services_js",
    "write_search_files",
]

LABEL = "Find help near a postcode or place"
"""The search box's visible label."""
SERVICES_FILE = "search-services.js"
"""The report's one file of services for the search (public fields only)."""
SEARCH_ENTRIES: tuple[str, ...] = (FOLDER, SERVICES_FILE)
"""What the search adds to a report folder."""

_PUBLIC_FIELDS = (
    "name",
    "organisation",
    "website",
    "phone",
    "address",
    "postcode",
    "focus",
    "service_types",
    "communities",
    "languages",
    "by_and_for",
    "nrpf_support",
    "delivery",
    "last_seen",
)


@dataclass(frozen=True)
class SearchFiles:
    """What the search adds to a report: the services file and the cached postcode folder."""

    services_js: str
    postcodes: Path


def _flag(value: object) -> str:
    text = cell_text(value).lower()
    return text if text in ("yes", "no") else "unknown"


def _service_record(row: Mapping[str, Any], private: bool, district_count: int) -> dict[str, Any]:
    """Return one service as the page reads it: public fields, a place only when public.

    ``district_count`` is how many districts England and Wales has (``len(load_districts())``,
    taken once by the caller: that call copies the register).
    """
    phone = cell_text(row.get("phone"))
    record: dict[str, Any] = {
        "n": cell_text(row.get("name")),
        "o": cell_text(row.get("organisation")),
        "s": cell_text(row.get("scope")),
        "k": list(row.get("kinds") or ()),
        "t": label_service_types(row.get("service_types")),
        "f": FOCUS_LABELS.get(cell_text(row.get("focus")), cell_text(row.get("focus"))),
        "cm": split_list(cell_text(row.get("communities"))),
        "l": split_list(cell_text(row.get("languages"))),
        "b": _flag(row.get("by_and_for")),
        "r": _flag(row.get("nrpf_support")),
        "w": safe_url(row.get("website")) or "",
        "p": phone_text(phone, row.get("last_seen")) if phone else "",
        "seen": seen_text(row.get("last_seen")),
        "m": cell_text(row.get("delivery")).replace("_", " "),
        "d": encode_districts(row.get("districts") or (), district_count),
    }
    x, y = row.get("easting"), row.get("northing")
    located = x is not None and y is not None and np.isfinite([x, y]).all()
    if private:
        record["c"] = 1  # serves its area; never a place, never a distance
    elif located:
        record["x"], record["y"] = round(float(x), 1), round(float(y), 1)  # type: ignore[arg-type]
        parts = (cell_text(row.get("address")), cell_text(row.get("postcode")))
        record["a"] = ", ".join(part for part in parts if part)
    return record


def search_services_js(
    services: pd.DataFrame,
    public: pd.DataFrame | None = None,
    *,
    profiles: Mapping[str, str],
    postcodes: PostcodeTable | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> str:
    """Return ``search-services.js``: every service a search can list, public fields only.

    Parameters
    ----------
    services
        The canonical services frame (confidential services included: they serve their areas).
    public
        ``directory.privacy.public_frame`` or ``public_services`` of ``services``, when the
        caller has it already (a report does); ``None`` makes it here. The text of every
        record comes from it.
    profiles
        The slug of each force's profile page (``forces/<slug>.html``), by force code.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    settings
        Where the postcode table is cached.

    Returns
    -------
    str
        ``smSearchServices({...});``: ``profiles``, ``kinds`` (code and label of each kind of
        help) and ``services`` in the order :func:`servicemap.analysis.near.services_near` uses.
    """
    reach = services_for_search(services, postcodes=postcodes, settings=settings)
    public = (public_frame(services) if public is None else public).loc[reach.index]
    # Fail closed: private if the near code, the published frame or the rule itself says so.
    private = (
        reach["confidential"].to_numpy(dtype=bool)
        | public["confidential"].fillna(True).astype(bool).to_numpy()
        | confidential_mask(public).to_numpy(dtype=bool)
    )
    # The text from the published frame; from the near code only where it reaches and its place.
    fields = [c for c in _PUBLIC_FIELDS if c in public.columns]
    rows = reach[["scope", "districts", "easting", "northing", "kinds"]].join(public[fields])
    district_count = len(load_districts())
    records = [
        _service_record(row, bool(flag), district_count)
        for row, flag in zip(rows.to_dict(orient="records"), private, strict=True)
    ]
    document = {
        "format": "1",
        "profiles": dict(profiles),
        "kinds": [[code, label] for code, label in KIND_LABELS.items()],
        "services": records,
    }
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return f"smSearchServices({_script_safe(text)});\n"


def _script_safe(text: str) -> str:
    """Keep JSON inside a script: no ``</script>``, no HTML comment openers, no line separators."""
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _options(services: pd.DataFrame) -> dict[str, list[str]]:
    """Return the languages and communities the filters offer (public fields only)."""

    def distinct(column: str) -> list[str]:
        if column not in services.columns:
            return []
        values = {v for cell in services[column] for v in split_list(cell_text(cell))}
        # ties in lower case ("Black ..." and "black ...") by their text: the set's order
        # changes from run to run (string hashing), the page must not
        return sorted(values, key=lambda value: (value.lower(), value))

    return {"languages": distinct("languages"), "communities": distinct("communities")}


def _asset(name: str) -> str:
    from importlib import resources

    text = resources.files("servicemap").joinpath("assets", name).read_text(encoding="utf-8")
    # Trusted, static files of this package inlined into <style>/<script>: an end tag inside
    # them would close the element early.
    return text.replace("</", "<\\/")


def _box_context(
    services: pd.DataFrame, *, where: str, base: str, profiles: str, script: bool
) -> dict[str, Any]:
    from markupsafe import Markup

    return {
        "label": LABEL,
        "where": where,
        "base": base,
        "profiles": profiles,
        "kinds": list(KIND_LABELS.items()),
        **_options(services),
        "script": Markup(_asset("search.js")) if script else "",
    }


def search_box_html(
    env: Any, services: pd.DataFrame, *, base: str = "", profiles: str = "forces/"
) -> str:
    """Return the map's search box (``templates/_search.html``) with its filters, no script.

    Parameters
    ----------
    env
        The report's Jinja2 environment.
    services
        The public services frame, for the filters' languages and communities.
    base
        Path from the page to the report folder (``""`` for its top level).
    profiles
        Path from the page to the force profiles.

    Returns
    -------
    str
        The HTML fragment, escaped; :func:`search_control` adds the script.
    """
    context = _box_context(services, where="map", base=base, profiles=profiles, script=False)
    return str(env.get_template("_search.html").render(search=context))


def search_page_context(common: Mapping[str, Any], services: pd.DataFrame) -> dict[str, Any]:
    """Return the index page's template variables with the search box, its style and credit.

    Parameters
    ----------
    common
        What every page is given (:func:`servicemap.render.pages.page_context`).
    services
        The public services frame, for the filters.

    Returns
    -------
    dict
        ``common`` with ``search`` (for ``templates/_search.html``), the box's styles added to
        ``css`` and the towns' credit (GeoNames) added to ``attribution``.
    """
    from markupsafe import Markup

    return {
        **common,
        "search": _box_context(services, where="index", base="", profiles="forces/", script=True),
        "css": Markup(f"{common['css']}\n{_asset('search.css')}"),
        "attribution": f"{common['attribution']} {TOWNS_ATTRIBUTION}",
    }


class _SearchControl(MacroElement):
    """The search box as a Leaflet control on ``map.html``, with the towns' credit."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        <script>{{ this.js }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var control = L.control({position: "topleft"});
            control.onAdd = function () {
                var div = L.DomUtil.create("div", "sm-box sm-find-box");
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            control.addTo({{ this._parent.get_name() }});
            if (window.smFind) { window.smFind.start(control.getContainer()); }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, box: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Search"
        self.html = box
        self.css = _asset("search.css")
        self.js = _asset("search.js")


def search_control(box: str) -> MacroElement:
    """Return the search box as a map control (add it to ``map.html``'s folium map)."""
    return _SearchControl(box)


def search_files(
    services: pd.DataFrame,
    public: pd.DataFrame | None = None,
    *,
    profiles: Mapping[str, str],
    settings: Settings = DEFAULT_SETTINGS,
) -> SearchFiles:
    """Return what the search adds to a report (building the cached postcode index if needed).

    Parameters
    ----------
    services, public
        The canonical services frame, and its public copy if the caller has it (see
        :func:`search_services_js`).
    profiles
        The slug of each force's profile page, by force code.
    settings
        The cache folder.

    Returns
    -------
    SearchFiles
        The services file's text and the cached ``postcodes/`` folder.
    """
    return SearchFiles(
        services_js=search_services_js(services, public, profiles=profiles, settings=settings),
        postcodes=postcode_index_folder(settings=settings),
    )


def write_search_files(files: SearchFiles, folder: Path) -> Sequence[str]:
    """Write ``search-services.js`` and ``postcodes/`` into a report folder being built.

    The postcode files are hard links to the cached ones where the drive allows (a report is
    then as quick to write as before), else copies; the report's publishing
    (:mod:`servicemap._folder`) checksums them like every other file.

    Parameters
    ----------
    files
        From :func:`search_files`.
    folder
        The report folder being built.

    Returns
    -------
    Sequence
        The entries written, relative to ``folder``.
    """
    target = folder / FOLDER
    target.mkdir()
    for name in index_file_names(files.postcodes):
        source, copy = files.postcodes / name, target / name
        try:
            os.link(source, copy)
        except OSError:
            shutil.copyfile(source, copy)
    (folder / SERVICES_FILE).write_text(files.services_js, encoding="utf-8")
    return SEARCH_ENTRIES
