"""Drawn figures kept in the cache folder, so a report whose figures did not change skips drawing.

A figure is stored under a SHA-256 of everything it is drawn from (the areas, their colours,
values, names and slugs, the title, the projection) and of the drawing code itself, so any
change draws it anew. Only the latest entry of each kind is kept. The cache is a convenience:
an entry that cannot be read is drawn again, and one that cannot be written is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import geopandas as gpd
import shapely

from servicemap import __version__
from servicemap._atomic import atomic_write_bytes
from servicemap.render import figures as figures_module

_FOLDER = "figures"


def figure_key(kind: str, frame: gpd.GeoDataFrame, columns: Iterable[str], *extra: object) -> str:
    """Return the key of a figure drawn from ``frame``'s geometry, ``columns`` and ``extra``."""
    digest = hashlib.sha256()
    digest.update(Path(figures_module.__file__).read_bytes())  # the drawing code itself
    for part in (__version__, kind, str(frame.crs), *extra):
        digest.update(repr(part).encode("utf-8") + b"\0")
    for column in columns:
        if column in frame.columns:
            digest.update(repr(frame[column].tolist()).encode("utf-8"))
    for wkb in shapely.to_wkb(frame.geometry.to_numpy()):
        digest.update(wkb or b"")
    return digest.hexdigest()[:32]


def _read(path: Path) -> dict[str, bytes] | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, KeyError, EOFError):
        return None


def _write(path: Path, files: dict[str, bytes], stale: Iterable[Path]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
        for old in stale:
            if old != path:
                os.unlink(old)


def cached_figures(
    cache_dir: Path, kind: str, key: str, draw: Callable[[], dict[str, bytes]]
) -> dict[str, bytes]:
    """Return the files of a figure from the cache, or draw them and keep them there.

    Parameters
    ----------
    cache_dir
        ``settings.cache_dir``.
    kind
        What the figure is (``coverage``, ``locators``): the latest entry of each kind is kept.
    key
        From :func:`figure_key`.
    draw
        Draws the figure: file names to their bytes.

    Returns
    -------
    dict of str to bytes
        The figure's files.
    """
    folder = Path(cache_dir) / _FOLDER
    path = folder / f"{kind}-{key}.zip"
    found = _read(path) if path.is_file() else None
    if found is not None:
        return found
    files = draw()
    stale = list(folder.glob(f"{kind}-*.zip")) if folder.is_dir() else []
    _write(path, files, stale)
    return files
