"""The report's figures as files: the coverage map (PNG at 300 dpi and SVG) and the locator maps.

:mod:`servicemap.render.figures` draws them; this module writes them, atomically. Drawn
figures are kept in the cache folder (:func:`servicemap._cache.kept_result`, the latest of each
kind), keyed on everything they are drawn from (the areas, their colours, values, names and
slugs, the title, the projection) and on servicemap's own code: a report whose figures did not
change copies them instead of drawing them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from servicemap._atomic import atomic_write_bytes
from servicemap._cache import cache_key, kept_result
from servicemap.analysis.kept import frame_digest
from servicemap.render.figures import coverage_figures, locator_pngs, locator_svgs
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = ["write_locator_maps", "write_static_map"]


def write_static_map(
    frame: gpd.GeoDataFrame,
    path: Path | str,
    *,
    title: str,
    svg_path: Path | str | None = None,
    settings: Settings = DEFAULT_SETTINGS,
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

    Returns
    -------
    pathlib.Path
        ``path``.
    """

    def draw() -> dict[str, bytes]:
        figures = coverage_figures(frame, title=title, settings=settings)
        return {"png": figures.png, "svg": figures.svg}

    columns = ("force_code", "force_name", "colour", "value")
    key = _figure_key(frame, columns, title, frame.attrs.get("classes"), str(settings.crs))
    files = _kept_figures(settings, "coverage", key, draw)
    target = Path(path)
    atomic_write_bytes(target, files["png"])
    if svg_path is not None:
        atomic_write_bytes(Path(svg_path), files["svg"])
    return target


def write_locator_maps(
    frame: gpd.GeoDataFrame, folder: Path | str, *, settings: Settings = DEFAULT_SETTINGS
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

    Returns
    -------
    list of pathlib.Path
        The files written.
    """

    def draw() -> dict[str, bytes]:
        svgs = locator_svgs(frame, settings=settings)
        pngs = locator_pngs(frame, settings=settings)
        return {
            **{f"{slug}.svg": svg.encode("utf-8") for slug, svg in svgs.items()},
            **{f"{slug}.png": png for slug, png in pngs.items()},
        }

    key = _figure_key(frame, ("force_code", "force_name", "slug"), str(settings.crs))
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in _kept_figures(settings, "locators", key, draw).items():
        written.append(target / name)
        written[-1].write_bytes(data)
    return written


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
