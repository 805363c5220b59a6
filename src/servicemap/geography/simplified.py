"""Force and district polygons simplified for maps and pages, kept and shipped.

Neighbours are simplified together, so shared borders stay shared. The result depends only on
the polygons, the metric CRS, the vertex budget, GEOS and :data:`SIMPLIFIED_VERSION`: it is kept
in the cache folder, and for the bundled (derived) boundaries at the report's budgets
(:data:`FORCE_VERTICES`, :data:`DISTRICT_VERTICES`) it ships with servicemap beside them
(``servicemap boundaries ship`` writes it), since simplifying them takes seconds of a first
run. A shipped file is used only when all of those match; else the polygons are simplified.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from servicemap._atomic import atomic_path
from servicemap._cache import cache_key, kept_result
from servicemap._data import data_path
from servicemap.errors import DataQualityWarning, MapError
from servicemap.geography._ragged import (
    get_geometries,
    pack_arrays,
    put_geometries,
    unpack_arrays,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "DISTRICT_VERTICES",
    "FORCE_VERTICES",
    "SIMPLIFIED_VERSION",
    "ship_simplified",
    "shipped_simplified_path",
    "simplify_force_areas",
]

FORCE_VERTICES = 40_000
"""Vertex budget for the 43 simplified force polygons of the map and pages."""

DISTRICT_VERTICES = 20_000
"""Vertex budget for the 318 simplified district polygons (16,014 kept for the ONS ones, at
800 m: borders typically within 1 km, at most 3 km); the layer is about 0.33 MB of the page."""

SIMPLIFIED_VERSION = 1
"""Changes whenever the simplification does (a shipped file of another version is not used)."""

_LAYER = "simplified"


def simplify_force_areas(
    forces: gpd.GeoDataFrame,
    *,
    max_vertices: int = FORCE_VERTICES,
    settings: Settings = DEFAULT_SETTINGS,
) -> gpd.GeoDataFrame:
    """Return force polygons simplified for the web, in EPSG:4326, with no new gaps or overlaps.

    Neighbouring forces are simplified together (``GeoSeries.simplify_coverage``) so shared
    borders stay shared. The tolerance starts at 50 m and doubles until the polygons have at most
    ``max_vertices`` vertices. Coordinates are rounded to 3 decimal places (about 100 m, the
    order of the simplification itself): shared vertices round alike, so borders stay shared,
    and the page stays small.

    Parameters
    ----------
    forces
        Force areas with ``force_code``, ``force_name`` and polygon geometry in any projected or
        geographic CRS.
    max_vertices
        Vertex budget for all polygons together; keeps the map page small.
    settings
        ``settings.crs`` is the metric CRS the simplification tolerance is measured in.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame: same rows and columns, simplified geometry, EPSG:4326.

    Notes
    -----
    The result is kept in the cache folder; for the bundled boundaries at the report's budgets
    it ships with servicemap (:func:`ship_simplified`), so a first run does not simplify.
    """
    if forces.crs is None:
        raise MapError(
            "Force boundaries have no CRS; load them with "
            "servicemap.geography.boundaries.load_force_areas or set one "
            "(e.g. forces.set_crs('EPSG:27700'))."
        )
    projected = forces.to_crs(settings.crs)
    # The same polygons always simplify alike, so the result is kept between runs.
    shipped = shipped_simplified_path(projected, max_vertices)
    key = cache_key("simplified", shipped.name)
    rounded = kept_result(
        settings.cache_dir,
        "simplified",
        key,
        lambda: _shipped_or_simplified(shipped, projected.geometry, max_vertices),
        what="simplified force areas",
        rebuild="from the force areas (a second)",
    )
    out = projected.set_geometry(gpd.GeoSeries(rounded, index=projected.index, crs="EPSG:4326"))
    return out


def _simplified(geoms: gpd.GeoSeries, max_vertices: int) -> Any:
    """Return the simplified polygons in EPSG:4326, rounded to 3 decimal places."""
    valid = bool(shapely.coverage_is_valid(geoms.values))
    if not valid:
        warnings.warn(
            "Force boundaries overlap or their shared borders do not match; simplifying each "
            "force on its own, so thin slivers may show between neighbours.",
            DataQualityWarning,
            stacklevel=2,
        )
    tolerance = 50.0
    while True:
        simplified = (
            geoms.simplify_coverage(tolerance)
            if valid
            else geoms.simplify(tolerance, preserve_topology=True)
        )
        count = int(shapely.get_num_coordinates(simplified.values).sum())
        if count <= max_vertices or tolerance >= 10_000:
            break
        tolerance *= 2
    out = simplified.to_crs("EPSG:4326")
    # + 0.0: no "-0.0" (a rounded longitude just west of Greenwich) in the pages
    return shapely.transform(out.values, lambda xy: np.round(xy, 3) + 0.0)


def shipped_simplified_path(
    areas: gpd.GeoDataFrame, max_vertices: int, *, folder: Path | None = None
) -> Path:
    """Return where the simplified polygons of ``areas`` ship, if they do.

    Parameters
    ----------
    areas
        Polygons in the metric CRS they are simplified in.
    max_vertices
        The vertex budget.
    folder
        The folder of shipped boundaries; default the package's ``data/boundaries/derived``.

    Returns
    -------
    Path
        ``data/boundaries/derived/simplified-<digest>.npz.xz``, the digest of the polygons, CRS,
        budget, GEOS version and :data:`SIMPLIFIED_VERSION` (not checked for existence).
    """
    digest = hashlib.sha256(b"".join(shapely.to_wkb(areas.geometry.values)))
    digest.update(repr((str(areas.crs), int(max_vertices), shapely.geos_version_string)).encode())
    digest.update(f"v{SIMPLIFIED_VERSION}".encode())
    folder = data_path("boundaries", "derived") if folder is None else folder
    return folder / f"simplified-{digest.hexdigest()[:16]}.npz.xz"


def ship_simplified(layers: list[tuple[gpd.GeoDataFrame, int]], folder: Path) -> list[Path]:
    """Simplify each of ``layers`` at its budget and ship the result; remove other such files.

    Parameters
    ----------
    layers
        ``(areas, max_vertices)`` pairs, as the report simplifies them (any CRS; they are
        projected to the default metric CRS first).
    folder
        The folder of shipped boundaries (``data/boundaries/derived``).

    Returns
    -------
    list of Path
        The files written.
    """
    written = []
    for areas, max_vertices in layers:
        projected = areas.to_crs(DEFAULT_SETTINGS.crs)
        target = shipped_simplified_path(projected, max_vertices, folder=folder)
        arrays: dict[str, Any] = {}
        simplified = _simplified(projected.geometry, max_vertices)
        meta = put_geometries(arrays, _LAYER, simplified, scale=1000.0)
        arrays[f"{_LAYER}.meta"] = np.array(json.dumps(meta))
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            Path(tmp).write_bytes(pack_arrays(arrays))
        written.append(target)
    for stale in folder.glob("simplified-*.npz.xz"):
        if stale not in written:
            stale.unlink()
    return written


def _shipped_or_simplified(path: Path, geoms: gpd.GeoSeries, max_vertices: int) -> Any:
    shipped = _read_shipped(path)
    return shipped if shipped is not None else _simplified(geoms, max_vertices)


def _read_shipped(path: Path) -> npt.NDArray[Any] | None:
    """Return the polygons shipped at ``path``; ``None`` when there are none (or unreadable)."""
    try:
        arrays = unpack_arrays(path.read_bytes())
        return get_geometries(arrays, _LAYER, json.loads(str(arrays[f"{_LAYER}.meta"])))
    except (OSError, KeyError, ValueError):
        return None
