"""The self-contained Leaflet page: Leaflet and its plug-ins inlined, an offline map, HTML boxes."""

from __future__ import annotations

import base64
import re
from importlib import resources
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.template import Template

from servicemap.errors import MapError

__all__ = ["NOSCRIPT", "CompactGeoJson", "HtmlControl", "offline_map"]


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
            _asset_text("servicemap", "assets", "mapui.js"),
        ]
    )
    return _inline_tag("style", css) + "\n" + _inline_tag("script", js)


class _Page(Figure):
    """A branca Figure with ``lang``, charset first, a title, one ``main`` landmark, noscript."""

    noscript: str = ""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        "<title>{{ this.title|e }}</title>\n"
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n"
        "<body>\n"
        '<main class="sm-page">\n'
        "{{ this.noscript }}\n"
        "{{ this.html.render(**kwargs) }}\n"
        "</main>\n"
        "</body>\n"
        "<script>\n"
        "{{ this.script.render(**kwargs) }}\n"
        "</script>\n"
        "</html>\n"
    )


NOSCRIPT = (
    "<p>This map needs JavaScript. The same figures are in the coverage table "
    "(index.html and coverage.csv in the report folder).</p>"
)
"""What the page shows with JavaScript off, unless :func:`offline_map` is given another text."""


def _noscript(fallback: str) -> str:
    # With scripting off, the map's empty box is hidden and the fallback takes its place.
    return (
        "<noscript><style>.folium-map { display: none; }</style>"
        f'<div class="sm-noscript">{fallback}</div></noscript>'
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


class CompactGeoJson(folium.GeoJson):
    """A folium GeoJSON layer whose data is written without spaces (``[-1.5,52.1]``).

    folium writes a layer's data with Jinja's ``tojson``, which follows the ``json.dumps_kwargs``
    policy of its environment; every folium template shares that environment, so the policy is
    changed only while this layer renders. For polygons that is about a sixth fewer bytes.
    """

    def render(self, **kwargs: Any) -> Any:
        """Render the layer as :class:`folium.GeoJson` does, its data as compact JSON."""
        policies = self._template.environment.policies
        kept = policies["json.dumps_kwargs"]
        policies["json.dumps_kwargs"] = {**kept, "separators": (",", ":")}
        try:
            return super().render(**kwargs)  # type: ignore[no-untyped-call]
        finally:
            policies["json.dumps_kwargs"] = kept


def offline_map(
    *,
    title: str,
    location: tuple[float, float],
    zoom_start: int,
    control_scale: bool = False,
    head: str = "",
    noscript: str = NOSCRIPT,
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
    noscript
        Trusted HTML shown in place of the map when JavaScript is off (default
        :data:`NOSCRIPT`, a sentence pointing to the table).

    Returns
    -------
    folium.Map
        The map, already on its page (``m.get_root()``, whose header holds the inlined Leaflet
        and marker-cluster code); save it with :func:`save_map`.
    """
    page = _Page(title=title)
    page.noscript = _noscript(noscript)
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
