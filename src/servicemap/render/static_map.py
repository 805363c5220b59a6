"""The report's figures as files: the coverage map (PNG at 300 dpi and SVG) and the locator maps.

:mod:`servicemap.render.figures` draws them; this module writes them, atomically. Drawn
figures are kept in the cache folder (:func:`servicemap._cache.kept_result`, the latest of each
kind), keyed on everything they are drawn from (the areas, their colours, values, names and
slugs, the title, the projection) and on servicemap's own code: a report whose figures did not
change copies them instead of drawing them again. A report that has to draw them does so
beside its pages (:func:`draw_figures`, in a forked copy: :mod:`servicemap._beside`) when
:func:`figures_kept` says they are not kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from servicemap._atomic import atomic_write_bytes
from servicemap._cache import cache_key, kept_path, kept_result, recorded_warnings, warn_again
from servicemap.analysis.kept import frame_digest
from servicemap.render.figures import coverage_figures, locator_pngs, locator_svgs
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "DrawnFigures", "draw_figures", "figures_kept", "write_locator_maps", "write_static_map",
]  # fmt: skip


@dataclass(frozen=True)
class DrawnFigures:
    """A report's figures as drawn, not yet kept or written: file names to bytes.

    Attributes
    ----------
    coverage
        The coverage map: ``png`` and ``svg``.
    locators
        Each force's locator map: ``<slug>.svg`` and ``<slug>.png``.
    keys
        What each was drawn from (the keys they are kept under): figures drawn from another
        frame, title or projection are not used for this one.
    notes
        The data-quality warnings each drawing gave (:func:`servicemap._cache.recorded_warnings`):
        given when the figure is kept and written, so they are kept with it, as when it is drawn
        there.
    """

    coverage: dict[str, bytes]
    locators: dict[str, bytes]
    keys: tuple[str, str]
    notes: tuple[list[tuple[str, str]], list[tuple[str, str]]]


def draw_figures(
    frame: gpd.GeoDataFrame, *, title: str, settings: Settings = DEFAULT_SETTINGS
) -> DrawnFigures:
    """Draw the coverage map and the locator maps of ``frame``, writing nothing.

    Parameters
    ----------
    frame, title, settings
        As for :func:`write_static_map` (and ``slug`` for :func:`write_locator_maps`).

    Returns
    -------
    DrawnFigures
        To pass to :func:`write_static_map` and :func:`write_locator_maps` as ``drawn``.
    """
    coverage, coverage_notes = recorded_warnings(lambda: _draw_coverage(frame, title, settings))
    locators, locator_notes = recorded_warnings(lambda: _draw_locators(frame, settings))
    return DrawnFigures(
        coverage=coverage,
        locators=locators,
        keys=(_coverage_key(frame, title, settings), _locator_key(frame, settings)),
        notes=(coverage_notes, locator_notes),
    )


def figures_kept(
    frame: gpd.GeoDataFrame, *, title: str, settings: Settings = DEFAULT_SETTINGS
) -> bool:
    """Return whether both figures of ``frame`` are kept in the cache folder (nothing to draw)."""
    keys = {
        "coverage": _coverage_key(frame, title, settings),
        "locators": _locator_key(frame, settings),
    }
    return all(
        kept_path(settings.cache_dir, f"figures/{k}", key).is_file() for k, key in keys.items()
    )


def write_static_map(
    frame: gpd.GeoDataFrame,
    path: Path | str,
    *,
    title: str,
    svg_path: Path | str | None = None,
    settings: Settings = DEFAULT_SETTINGS,
    drawn: DrawnFigures | None = None,
) -> Path:
    """Draw the coverage map for print (numbered forces, a London inset, the legend) and write it.

    Parameters
    ----------
    frame
        Simplified force areas from :func:`servicemap.render.maps.force_map_frame` (with
        ``colour`` and the ``classes`` attribute).
    path
        The PNG to write (300 dpi).
    title
        The picture's title.
    svg_path
        Also write the map as SVG here; ``None`` for no SVG.
    settings
        ``settings.crs`` is the projection the picture is drawn in.
    drawn
        The figures :func:`draw_figures` drew from the same ``frame``, ``title`` and
        ``settings``: kept and written instead of drawing them here (``None``: the kept ones,
        or drawn here).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    key = _coverage_key(frame, title, settings)

    def draw() -> dict[str, bytes]:
        if drawn is not None and drawn.keys[0] == key:
            warn_again(drawn.notes[0])
            return drawn.coverage
        return _draw_coverage(frame, title, settings)

    files = _kept_figures(settings, "coverage", key, draw)
    target = Path(path)
    atomic_write_bytes(target, files["png"])
    if svg_path is not None:
        atomic_write_bytes(Path(svg_path), files["svg"])
    return target


def write_locator_maps(
    frame: gpd.GeoDataFrame,
    folder: Path | str,
    *,
    settings: Settings = DEFAULT_SETTINGS,
    drawn: DrawnFigures | None = None,
) -> list[Path]:
    """Write each force's locator map as ``<slug>.svg`` and ``<slug>.png`` (300 dpi) in ``folder``.

    The files are written plainly, not one by one atomically: ``folder`` is meant to be inside
    a folder that is published whole (:func:`servicemap._folder.publish_folder`).

    Parameters
    ----------
    frame
        Force areas with ``force_code``, ``force_name`` and ``slug``.
    folder
        The folder to write into (created if missing).
    settings
        ``settings.crs`` is the projection the maps are drawn in.
    drawn
        As for :func:`write_static_map`.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    key = _locator_key(frame, settings)

    def draw() -> dict[str, bytes]:
        if drawn is not None and drawn.keys[1] == key:
            warn_again(drawn.notes[1])
            return drawn.locators
        return _draw_locators(frame, settings)

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in _kept_figures(settings, "locators", key, draw).items():
        written.append(target / name)
        written[-1].write_bytes(data)
    return written


def _draw_coverage(frame: gpd.GeoDataFrame, title: str, settings: Settings) -> dict[str, bytes]:
    figures = coverage_figures(frame, title=title, settings=settings)
    return {"png": figures.png, "svg": figures.svg}


def _draw_locators(frame: gpd.GeoDataFrame, settings: Settings) -> dict[str, bytes]:
    svgs = locator_svgs(frame, settings=settings)
    pngs = locator_pngs(frame, settings=settings)
    return {
        **{f"{slug}.svg": svg.encode("utf-8") for slug, svg in svgs.items()},
        **{f"{slug}.png": png for slug, png in pngs.items()},
    }


def _coverage_key(frame: gpd.GeoDataFrame, title: str, settings: Settings) -> str:
    columns = ("force_code", "force_name", "colour", "value")
    classes, metric = frame.attrs.get("classes"), frame.attrs.get("metric")  # the legend's too
    return _figure_key(frame, columns, title, classes, metric, str(settings.crs))


def _locator_key(frame: gpd.GeoDataFrame, settings: Settings) -> str:
    return _figure_key(frame, ("force_code", "force_name", "slug"), str(settings.crs))


def _figure_key(frame: gpd.GeoDataFrame, columns: Iterable[str], *extra: object) -> str:
    """Return the kept figure's key: ``frame``'s CRS, geometry and ``columns``, and ``extra``."""
    present = [column for column in columns if column in frame.columns]
    wkb = hashlib.sha256(b"".join(w or b"" for w in shapely.to_wkb(frame.geometry.to_numpy())))
    values = frame_digest(pd.DataFrame(frame[present]))
    return cache_key("figure", str(frame.crs), wkb.hexdigest(), values, *extra)


def _kept_figures(
    settings: Settings, kind: str, key: str, draw: Callable[[], dict[str, bytes]]
) -> dict[str, bytes]:
    """Return a figure's files (names to bytes) kept in the cache folder, or draw them."""
    return kept_result(
        settings.cache_dir,
        f"figures/{kind}",
        key,
        draw,
        what=f"{kind} figure",
        rebuild="by drawing it (a few seconds)",
        keep=1,  # figures are large and only the latest report's are worth keeping
    )
