"""Figures for print: the coverage map (SVG and 300 dpi PNG) and each force's locator map.

The coverage map numbers every force (a key beside it gives the numbers, names and values),
shows London in an inset (the Metropolitan Police and the City of London are too small at
national scale) and carries the legend and the ONS/OS attribution. A locator map is a small
picture of England and Wales with one force filled in, for its profile on screen and on paper.

The 43 locator maps are cheap: the national picture is drawn once and only the force changes
(each SVG is the shared outline plus one path; each PNG restores the drawn background and
draws one patch on it).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from markupsafe import escape

from servicemap.render.classes import NO_DATA_COLOUR, Classes
from servicemap.render.labels import (
    ATTRIBUTION,
    SHORT_ATTRIBUTION,
    format_measure,
    metric_label,
    short_label,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "DPI",
    "LOCATOR_FOLDER",
    "CoverageFigures",
    "coverage_figures",
    "force_numbers",
    "locator_pngs",
    "locator_svgs",
]

DPI = 300
"""Resolution of the PNG figures (dots per inch at their printed size)."""

LOCATOR_FOLDER = "locators"
"""The report's folder of locator maps: ``locators/<slug>.svg`` and ``locators/<slug>.png``."""

# Simplification, as a share of the map's height: England and Wales is 650 km high, so 700 m
# for the coverage figure (where 1 pt is 1.4 km) and 2.6 km for the locators (4 cm wide).
_FIGURE_TOLERANCE = 1 / 900
_LOCATOR_TOLERANCE = 1 / 250
_LONDON_CODES = ("E23000001", "E23000034")  # Metropolitan Police, City of London
_LONDON_MARGIN_M = 4000.0
_LABEL_CLEARANCE_M = 9000.0  # a number's half-width at national scale
_EDGE = "#4d4d4d"
_HALO = "white"
_HIGHLIGHT = "#08306b"  # the located force: dark blue, unlike every class colour
_OTHERS = "#d9d9d9"
_SMALL_KM2 = 150.0  # a force smaller than this is ringed on a locator, to be seen at all


@dataclass(frozen=True)
class CoverageFigures:
    """The coverage map as files.

    Attributes
    ----------
    svg
        The SVG (text kept as text, so it stays small and searchable).
    png
        The PNG at :data:`DPI`.
    """

    svg: bytes
    png: bytes


def force_numbers(frame: gpd.GeoDataFrame) -> dict[str, int]:
    """Return each force's number on the coverage figure: 1, 2, ... in alphabetical order.

    Parameters
    ----------
    frame
        Force areas with ``force_code`` and ``force_name``.

    Returns
    -------
    dict of str to int
        Numbers by force code.
    """
    names = sorted(
        zip(frame["force_name"].astype(str), frame["force_code"].astype(str), strict=True)
    )
    return {code: number for number, (_, code) in enumerate(names, start=1)}


def _projected(frame: gpd.GeoDataFrame, share: float, settings: Settings) -> gpd.GeoDataFrame:
    """Return the areas in ``settings.crs``, simplified by ``share`` of their extent.

    They are simplified together, so shared borders stay shared; areas that do not form a
    clean coverage are simplified one by one instead.
    """
    projected = frame.to_crs(settings.crs)
    minx, miny, maxx, maxy = projected.total_bounds
    tolerance = share * max(maxx - minx, maxy - miny)
    try:
        simplified = projected.geometry.simplify_coverage(tolerance)
    except shapely.errors.GEOSException:
        simplified = projected.geometry.simplify(tolerance, preserve_topology=True)
    return projected.set_geometry([_polygonal(g) for g in simplified.make_valid()])


def _polygonal(geometry: Any) -> Any:
    """Return the polygons of a geometry (repairing one can leave stray lines or points)."""
    if geometry is None or geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _outline(geometries: Any) -> Any:
    """Return the union of the areas: fast when they form a clean coverage."""
    try:
        return shapely.coverage_union_all(geometries)
    except shapely.errors.GEOSException:
        return shapely.union_all(geometries)


def _label_point(geometry: Any) -> tuple[float, float]:
    """Return a point well inside the largest part of an area (its pole of inaccessibility)."""
    parts = list(getattr(geometry, "geoms", [geometry]))
    polygons = [p for p in parts if p.geom_type == "Polygon"]
    if not polygons:
        point = geometry.representative_point()
        return float(point.x), float(point.y)
    largest = max(polygons, key=lambda p: p.area)
    point = shapely.ops.polylabel(largest, tolerance=max(math.sqrt(largest.area) / 50, 1.0))
    return float(point.x), float(point.y)


def _matplotlib() -> Any:
    import matplotlib  # heavy: only when a figure is drawn

    matplotlib.use("Agg")
    return matplotlib


def _legend_handles(frame: gpd.GeoDataFrame) -> list[Any]:
    from matplotlib.patches import Patch

    classes: Classes = frame.attrs["classes"]
    handles = [
        Patch(facecolor=colour, edgecolor="#555", label=label)
        for label, colour in zip(classes.labels, classes.colours, strict=True)
    ]
    if (np.asarray(classes.index) < 0).any():
        handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="#555", label="no data"))
    return handles


def _number_labels(
    axes: Any,
    areas: gpd.GeoDataFrame,
    numbers: Mapping[str, int],
    codes: Sequence[str],
    *,
    avoid: Any = None,
) -> None:
    """Write each force's number inside it (away from ``avoid``, the inset's frame)."""
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=2.0, foreground=_HALO)]
    chosen = areas.loc[areas["force_code"].isin(codes)]
    for code, geometry in zip(chosen["force_code"], chosen.geometry, strict=True):
        if avoid is not None and geometry.intersects(avoid):
            rest = geometry.difference(avoid.buffer(_LABEL_CLEARANCE_M))
            geometry = rest if not rest.is_empty else geometry
        x, y = _label_point(geometry)
        axes.text(
            x, y, str(numbers[str(code)]), ha="center", va="center", fontsize=6.5,
            fontweight="bold", color="#111", path_effects=halo, zorder=5,
        )  # fmt: skip


def _key_text(frame: gpd.GeoDataFrame, numbers: Mapping[str, int], metric: str) -> list[str]:
    values = dict(zip(frame["force_code"].astype(str), frame["value"], strict=True))
    names = dict(zip(frame["force_code"].astype(str), frame["force_name"].astype(str), strict=True))
    ordered = sorted(numbers, key=numbers.__getitem__)
    return [f"{names[c]}: {format_measure(metric, values[c])}" for c in ordered]


def _london_box(areas: gpd.GeoDataFrame) -> Any:
    """Return the inset's frame: the London forces' bounds and a margin, or None."""
    london = areas.loc[areas["force_code"].isin(_LONDON_CODES)]
    if london.empty:
        return None
    return shapely.box(*london.total_bounds).buffer(_LONDON_MARGIN_M, join_style="mitre")


def _draw_inset(figure: Any, areas: gpd.GeoDataFrame, frame_box: Any, numbers: Any) -> list[str]:
    """Draw the London inset at the top right; return the codes numbered there."""
    minx, miny, maxx, maxy = frame_box.bounds
    inset = figure.add_axes((0.63, 0.70, 0.35, 0.23))
    shown = areas.loc[areas.intersects(frame_box)]
    # clipped to the frame (clip_by_rect also takes a simplified outline that crosses itself)
    clipped = shapely.clip_by_rect(shown.geometry.values, minx, miny, maxx, maxy)
    _add_areas(inset, list(clipped), shown["colour"], 0.5)
    inset.set_xlim(minx, maxx)
    inset.set_ylim(miny, maxy)
    inset.set_aspect("equal")
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_title("London", fontsize=7.5, pad=2)
    london = areas.loc[areas["force_code"].isin(_LONDON_CODES)]
    _london_labels(inset, london, numbers)
    return [str(c) for c in london["force_code"]]


def _add_areas(axes: Any, geometries: Sequence[Any], colours: Any, linewidth: float) -> None:
    """Draw areas as one collection (patches one by one would each recompute the limits)."""
    from matplotlib.collections import PathCollection

    collection = PathCollection(
        [_mpl_path(g) for g in geometries], facecolors=list(colours), edgecolors=_EDGE,
        linewidths=linewidth,
    )  # fmt: skip
    axes.add_collection(collection, autolim=False)


def _draw_coverage(frame: gpd.GeoDataFrame, *, title: str, settings: Settings) -> Any:
    """Return the coverage figure (a matplotlib Figure), 7.5 × 10 inches."""
    _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    areas = _projected(frame, _FIGURE_TOLERANCE, settings)
    numbers = force_numbers(frame)
    metric = str(frame.attrs.get("metric", ""))
    figure = Figure(figsize=(7.5, 10.0), dpi=DPI)
    axes = figure.add_axes((0.01, 0.28, 0.70, 0.66), anchor="W")
    _add_areas(axes, list(areas.geometry), areas["colour"], 0.3)
    minx, miny, maxx, maxy = areas.total_bounds
    axes.set_xlim(minx, maxx)
    axes.set_ylim(miny, maxy)
    axes.set_axis_off()
    axes.set_aspect("equal")

    frame_box = _london_box(areas)
    in_inset: list[str] = []
    if frame_box is not None:
        bx, by, bx2, by2 = frame_box.bounds
        axes.add_patch(
            Rectangle((bx, by), bx2 - bx, by2 - by, fill=False, edgecolor="#111", linewidth=0.8,
                      zorder=4)
        )  # fmt: skip
        # the inset is drawn at 15 times the scale: from the areas as given, not simplified
        in_inset = _draw_inset(figure, frame.to_crs(settings.crs), frame_box, numbers)
    others = [str(c) for c in areas["force_code"] if str(c) not in in_inset]
    _number_labels(axes, areas, numbers, others, avoid=frame_box)

    figure.legend(
        handles=_legend_handles(frame), title=metric_label(metric).replace(" (", "\n("),
        loc="upper left", bbox_to_anchor=(0.02, 0.935), fontsize=7, title_fontsize=7,
        frameon=True, alignment="left",
        borderaxespad=0.0,
    )  # fmt: skip
    key = _key_text(frame, numbers, metric)
    rows = math.ceil(len(key) / 3)
    figure.text(0.03, 0.265, f"Key: police force areas by number, with their "
                f"{short_label(metric).lower()}", fontsize=7.5, fontweight="bold")  # fmt: skip
    for number, line in enumerate(key, start=1):
        column, row = divmod(number - 1, rows)
        # one text a row (text is the slow part of a figure); a figure space, as wide as a
        # digit, pads 1-9 so that the names line up
        figure.text(0.03 + column * 0.325, 0.25 - row * 0.0122, f"{number:\u2007>2}  {line}",
                    fontsize=6.5, va="baseline")  # fmt: skip
    figure.suptitle(title, fontsize=10.5, wrap=True, y=0.985)
    figure.text(0.03, 0.012, ATTRIBUTION, fontsize=5.5, wrap=True, color="#333")
    return figure


def _london_labels(inset: Any, london: gpd.GeoDataFrame, numbers: Mapping[str, int]) -> None:
    """Write the London forces' numbers in the inset (a tiny force's beside it, with a line)."""
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=2.0, foreground=_HALO)]
    for code, geometry in zip(london["force_code"], london.geometry, strict=True):
        x, y = _label_point(geometry)
        text = str(numbers[str(code)])
        if geometry.area / 1e6 < _SMALL_KM2:
            inset.annotate(
                text, (x, y), xytext=(14, 10), textcoords="offset points", fontsize=6.5,
                fontweight="bold", color="#111", path_effects=halo, zorder=6,
                arrowprops={"arrowstyle": "-", "color": "#111", "linewidth": 0.6},
            )  # fmt: skip
        else:
            # the middle of the Metropolitan Police area is the City: number it to the west
            inset.text(
                x - 8000, y, text, ha="center", va="center", fontsize=6.5, fontweight="bold",
                color="#111", path_effects=halo, zorder=5,
            )  # fmt: skip


def coverage_figures(
    frame: gpd.GeoDataFrame, *, title: str, settings: Settings = DEFAULT_SETTINGS
) -> CoverageFigures:
    """Draw the coverage map for print, as SVG and as a 300 dpi PNG.

    Parameters
    ----------
    frame
        Simplified, coloured force areas from :func:`servicemap.render.maps.force_map_frame`
        (with ``colour``, ``value`` and the ``classes`` and ``metric`` attributes).
    title
        The figure's title.
    settings
        ``settings.crs`` is the projection the figure is drawn in.

    Returns
    -------
    CoverageFigures
        The SVG and PNG bytes (nothing is written).
    """
    matplotlib = _matplotlib()
    figure = _draw_coverage(frame, title=title, settings=settings)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas: Any = FigureCanvasAgg(figure)  # its drawing and blitting methods are untyped
    canvas.draw()
    png, svg = io.BytesIO(), io.BytesIO()
    # 64 colours hold the five classes, grey, the text and their anti-aliased edges: a third
    # of the size of a full-colour PNG, with no visible difference
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    image.quantize(64, method=Image.Quantize.FASTOCTREE).save(png, format="PNG", dpi=(DPI, DPI))
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "servicemap"}):
        figure.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return CoverageFigures(svg=_compact_svg(svg.getvalue()), png=png.getvalue())


_PATH_DATA = re.compile(rb'\bd="([^"]*)"')
_FINE = re.compile(rb"(\.\d)\d+")


def _compact_svg(svg: bytes) -> bytes:
    """Keep a tenth of a point in path data (matplotlib writes millionths): a third the size.

    Cutting the same digits off every coordinate keeps shared borders shared.
    """

    def compact(match: re.Match[bytes]) -> bytes:
        data = _FINE.sub(rb"\1", match.group(1)).replace(b"\nL ", b"L").replace(b"\n", b"")
        return b'd="' + data + b'"'

    return _PATH_DATA.sub(compact, svg)


# --- locator maps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Locator:
    """The national picture every locator shares, in SVG user units (y down, whole numbers)."""

    areas: gpd.GeoDataFrame  # projected, simplified force areas
    minx: float
    maxy: float
    scale: float
    width: float
    height: float

    def path(self, geometry: Any) -> str:
        """Return SVG path data for polygons or lines, in relative whole-unit steps (small)."""
        parts = []
        for part in getattr(geometry, "geoms", [geometry]):
            if part.is_empty:
                continue
            if part.geom_type == "Polygon":
                rings, close = [part.exterior, *part.interiors], "z"
            elif part.geom_type == "LineString":
                rings, close = [part], ""
            else:
                continue
            for ring in rings:
                xy = np.asarray(ring.coords)
                xs = np.round((xy[:, 0] - self.minx) * self.scale).astype(int)
                ys = np.round((self.maxy - xy[:, 1]) * self.scale).astype(int)
                steps = np.column_stack([np.diff(xs), np.diff(ys)])
                steps = steps[(steps != 0).any(axis=1)]
                if len(steps) < 2:
                    continue
                moves = " ".join(f"{dx} {dy}" for dx, dy in steps.tolist())
                parts.append(f"M{xs[0]} {ys[0]}l{moves}{close}")
        return "".join(parts).replace(" -", "-")

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.minx) * self.scale, (self.maxy - y) * self.scale


_LOCATOR_WIDTH_MM = 40.0
_LOCATOR_UNITS = 200.0  # the SVG's width in user units: 0.2 mm each


def _locator(frame: gpd.GeoDataFrame, settings: Settings) -> _Locator:
    areas = _projected(frame, _LOCATOR_TOLERANCE, settings)
    minx, miny, maxx, maxy = areas.total_bounds
    scale = _LOCATOR_UNITS / (maxx - minx)
    return _Locator(areas, minx, maxy, scale, _LOCATOR_UNITS, (maxy - miny) * scale)


def locator_svgs(
    frame: gpd.GeoDataFrame, *, settings: Settings = DEFAULT_SETTINGS
) -> dict[str, str]:
    """Return each force's locator map as SVG text, by its slug.

    England and Wales is drawn in light grey with the borders between forces in white, the
    force itself in dark blue (ringed when it is too small to see at this scale), with a short
    attribution beneath. The shared part is computed once.

    Parameters
    ----------
    frame
        Force areas with ``force_code``, ``force_name`` and ``slug``.
    settings
        ``settings.crs`` is the projection the maps are drawn in.

    Returns
    -------
    dict of str to str
        SVG documents by slug.
    """
    shared = _locator(frame, settings)
    geometries = shared.areas.geometry.to_numpy()
    outline = shared.path(_outline(geometries))
    borders = shared.path(shapely.line_merge(shapely.union_all(shapely.boundary(geometries))))
    first, _, second = SHORT_ATTRIBUTION.partition(" Contains")
    credit = (
        '<text font-family="sans-serif" font-size="7" fill="#333">'
        f'<tspan x="0" y="{shared.height + 10:.0f}">{escape(first)}</tspan>'
        f'<tspan x="0" y="{shared.height + 18:.0f}">Contains{escape(second)}</tspan></text>'
    )
    height = shared.height + 21
    mm = _LOCATOR_WIDTH_MM
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {shared.width:.0f} {height:.0f}" '
        f'width="{mm:.0f}mm" height="{mm * height / shared.width:.1f}mm" role="img" '
        'aria-labelledby="t">'
    )
    base = (
        f'<path d="{outline}" fill="{_OTHERS}"/>'
        f'<path d="{borders}" fill="none" stroke="#fff" stroke-width="0.8"/>'
    )
    svgs: dict[str, str] = {}
    for row in shared.areas.itertuples(index=False):
        name = escape(str(row.force_name))
        svgs[str(row.slug)] = (
            f'{head}<title id="t">Where {name} is in England and Wales</title>{base}'
            f'<path d="{shared.path(row.geometry)}" fill="{_HIGHLIGHT}" stroke="{_HIGHLIGHT}" '
            f'stroke-width="0.6" stroke-linejoin="round"/>{_ring(shared, row.geometry)}'
            f"{credit}</svg>\n"
        )
    return svgs


def _ring(shared: _Locator, geometry: Any) -> str:
    """Return a circle around a force too small to see on a locator, else ''."""
    if geometry.area / 1e6 >= _SMALL_KM2:
        return ""
    x, y = shared.point(*_label_point(geometry))
    return (
        f'<circle cx="{x:.0f}" cy="{y:.0f}" r="9" fill="none" stroke="{_HIGHLIGHT}" '
        'stroke-width="2"/>'
    )


def _mpl_path(geometry: Any) -> Any:
    """Return a matplotlib Path of a polygon or multipolygon (holes included)."""
    from matplotlib.path import Path as MplPath

    rings = [
        MplPath(np.asarray(ring.coords)[:, :2], closed=True)
        for polygon in getattr(geometry, "geoms", [geometry])
        if polygon.geom_type == "Polygon" and not polygon.is_empty
        for ring in (polygon.exterior, *polygon.interiors)
    ]
    return MplPath.make_compound_path(*rings)


def locator_pngs(
    frame: gpd.GeoDataFrame, *, settings: Settings = DEFAULT_SETTINGS
) -> dict[str, bytes]:
    """Return each force's locator map as a 300 dpi PNG (4 cm wide), by its slug.

    The background (every force, the attribution) is drawn once; for each force it is
    restored and only the force is drawn on it.

    Parameters
    ----------
    frame
        Force areas with ``force_code``, ``force_name`` and ``slug``.
    settings
        ``settings.crs`` is the projection the maps are drawn in.

    Returns
    -------
    dict of str to bytes
        PNG files by slug.
    """
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, PathPatch
    from PIL import Image

    areas = _projected(frame, _LOCATOR_TOLERANCE, settings)
    minx, miny, maxx, maxy = areas.total_bounds
    width_in = _LOCATOR_WIDTH_MM / 25.4
    map_height = width_in * (maxy - miny) / (maxx - minx)
    credit = 0.16  # inches below the map for the attribution
    figure = Figure(figsize=(width_in, map_height + credit), dpi=DPI)
    canvas: Any = FigureCanvasAgg(figure)  # its drawing and blitting methods are untyped
    total = map_height + credit
    axes = figure.add_axes((0, credit / total, 1, map_height / total))
    paths = [_mpl_path(g) for g in areas.geometry]
    axes.add_collection(
        PathCollection(paths, facecolors=_OTHERS, edgecolors="white", linewidths=0.3),
        autolim=False,
    )
    axes.set_xlim(minx, maxx)
    axes.set_ylim(miny, maxy)
    axes.set_aspect("equal")
    axes.set_axis_off()
    first, _, second = SHORT_ATTRIBUTION.partition(" Contains")
    figure.text(0.0, 0.005, f"{first}\nContains{second}", fontsize=3.2, color="#333",
                linespacing=1.2)  # fmt: skip
    canvas.draw()
    background = canvas.copy_from_bbox(figure.bbox)
    pngs: dict[str, bytes] = {}
    for row, path in zip(areas.itertuples(index=False), paths, strict=True):
        canvas.restore_region(background)
        artists: list[Any] = [
            PathPatch(path, facecolor=_HIGHLIGHT, edgecolor=_HIGHLIGHT, linewidth=0.2)
        ]
        if row.geometry.area / 1e6 < _SMALL_KM2:
            x, y = _label_point(row.geometry)
            artists.append(Circle((x, y), 12_000, fill=False, edgecolor=_HIGHLIGHT, linewidth=0.8))
        for artist in artists:
            # drawn straight onto the canvas: adding it to the axes would recompute their limits
            artist.set_figure(figure)
            artist.axes = axes
            artist.set_transform(axes.transData)
            axes.draw_artist(artist)
        size = canvas.get_width_height()
        image = Image.frombuffer("RGBA", size, canvas.buffer_rgba()).convert("RGB")
        buffer = io.BytesIO()
        # 16 colours hold the grey, the blue, white, the text and their anti-aliased edges; a
        # light compression: a tenth larger, four times faster
        image.quantize(16, method=Image.Quantize.FASTOCTREE).save(
            buffer, format="PNG", dpi=(DPI, DPI), compress_level=1
        )
        pngs[str(row.slug)] = buffer.getvalue()
    return pngs
