"""Police force area boundaries: derived offline from postcodes, downloaded, or read from a file.

Three sources sit behind one option (``--boundaries derived|official|PATH``):

``derived`` (the default)
    Rebuilt offline from the ONS postcode directory. Every postcode in England and Wales knows
    its local authority district and so its force; each cell of a 100 m grid takes the force of
    its nearest postcode, the sea and estuaries are cut away where no postcode is near, and the
    cells are turned into polygons that share their edges exactly (no gaps or overlaps between
    neighbouring forces). Against the ONS December 2023 boundaries (BSC) the median
    intersection-over-union is 0.962 and every force's is at least 0.90; force edges through
    empty country (moorland, farmland) can be a few hundred metres out, estuaries with a narrow
    mouth between fields count as land and some empty coastal marsh counts as sea.
``official``
    The ONS boundaries saved by ``servicemap boundaries download``.
a file
    GeoJSON, GeoPackage, shapefile or zipped shapefile with one polygon per force.

Whatever the source, :func:`load_force_areas` returns the same shape of frame: ``code``,
``name`` (ONS spelling from the force register), ``geometry``, sorted by code, in
``settings.crs``.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from servicemap._atomic import atomic_path
from servicemap._cache import (
    describe_damage,
    heal_cache_entry,
    usable_cache_folder,
    writing_cache,
)
from servicemap._data import data_path
from servicemap.errors import BoundaryFileError, DataQualityWarning
from servicemap.geography._arcgis import official_boundaries_path
from servicemap.geography._derive import DERIVED_VERSION, build_derived_areas, with_force_names
from servicemap.geography._ragged import (
    get_geometries,
    pack_arrays,
    put_geometries,
    unpack_arrays,
)
from servicemap.geography.forces import FORCE_COUNT, load_districts, load_forces
from servicemap.geography.postcodes import load_postcode_table, package_version
from servicemap.geography.simplified import DISTRICT_VERTICES, FORCE_VERTICES, ship_simplified
from servicemap.settings import DEFAULT_SETTINGS, Settings

_NO_OFFICIAL = (
    "No official boundaries downloaded yet: run 'servicemap boundaries download' "
    "(needs internet), or use --boundaries derived"
)
_SOURCES_HINT = (
    "pass --boundaries derived, --boundaries official, or the path of a GeoJSON, GeoPackage, "
    "shapefile or zipped shapefile"
)
_CODE_COLUMN = re.compile(r"^pfa\d\dcd$", re.IGNORECASE)
# Plain code column names, in order of preference (``force_code`` is what servicemap writes).
_PLAIN_CODE_COLUMNS = ("force_code", "code")

_FORCE_LAYER = "force_areas"
_DISTRICT_LAYER = "district_areas"


def load_force_areas(
    source: str | Path = "derived", *, settings: Settings = DEFAULT_SETTINGS
) -> gpd.GeoDataFrame:
    """Return the police force areas from one source.

    Parameters
    ----------
    source
        ``"derived"`` (default): built offline from the ONS postcode directory; shipped with
        servicemap for the postcode package it depends on (:func:`shipped_boundaries_path`),
        else built and cached in ``settings.cache_dir`` on first use (about 20 seconds).
        ``"official"``: the ONS boundaries saved by ``servicemap boundaries download``.
        Anything else is the path
        of a GeoJSON, GeoPackage, shapefile or zipped shapefile (see :func:`read_force_areas`).
    settings
        ``crs`` is the CRS of the result; ``cache_dir`` holds derived and downloaded boundaries.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``force_code``, ``force_name`` (ONS spelling) and ``geometry``; one row per force
        sorted by code (43 rows, unless a boundary file lacks some forces), in ``settings.crs``.

    Raises
    ------
    BoundaryFileError
        If the official boundaries were not downloaded, or the file is missing or unusable.
    """
    kind = _source_kind(source)
    if kind == "derived":
        return _load_derived(settings)[0]
    if kind == "official":
        return read_force_areas(_official_path(settings), settings=settings)
    return read_force_areas(Path(source), settings=settings)


def load_district_areas(*, settings: Settings = DEFAULT_SETTINGS) -> gpd.GeoDataFrame:
    """Return the local authority districts of England and Wales, derived from postcodes.

    Built together with (and cached beside) the derived force areas, from the same grid, so
    each force is exactly the union of its districts.

    Parameters
    ----------
    settings
        ``crs`` is the CRS of the result; ``cache_dir`` holds the cached build.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``district_code``, ``district_name``, ``force_code`` and ``geometry``; one row per
        district
        (2025 codes) sorted by code, in ``settings.crs``.
    """
    return _load_derived(settings)[1]


def derived_cache_path(settings: Settings = DEFAULT_SETTINGS) -> Path:
    """Return where the derived boundaries are (or will be) cached.

    The name holds the postcode package version, a digest of the force and district tables
    and :data:`DERIVED_VERSION`, so a change to any of them triggers a rebuild.

    Parameters
    ----------
    settings
        ``settings.cache_dir`` is the folder.

    Returns
    -------
    Path
        A GeoPackage path (not checked for existence).
    """
    return settings.cache_dir / f"{_derived_key()}.gpkg"


def shipped_boundaries_path() -> Path:
    """Return where the derived boundaries shipped with servicemap are for this postcode package.

    servicemap ships the derived boundaries built from one version of the postcode package
    (``data/boundaries/derived/``), named like :func:`derived_cache_path`. When the installed
    package, the force and district tables or :data:`DERIVED_VERSION` differ, no shipped file
    has this name and the boundaries are built into the cache instead.

    Returns
    -------
    Path
        An ``.npz.xz`` file (see :func:`encode_derived_areas`; not checked for existence).
    """
    return data_path("boundaries", "derived", f"{_derived_key()}.npz.xz")


def ship_derived_areas(*, settings: Settings = DEFAULT_SETTINGS) -> Path:
    """Build the derived boundaries from the installed postcode package and ship them.

    Writes :func:`shipped_boundaries_path` (atomically), and beside it the force and district
    polygons simplified for the report
    (:func:`servicemap.geography.simplified.ship_simplified`), and removes shipped files of
    other versions from its folder. Run it (``servicemap boundaries ship``) after upgrading the
    postcode package, shapely (GEOS) or changing the derivation or the simplification, and
    commit the new files.

    Parameters
    ----------
    settings
        ``settings.cache_dir`` holds the postcode table the build reads.

    Returns
    -------
    Path
        The file written.
    """
    forces, districts = build_derived_areas(load_postcode_table(settings=settings))
    target = shipped_boundaries_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        Path(tmp).write_bytes(encode_derived_areas(forces, districts))
    for stale in target.parent.glob("force-areas-*.npz.xz"):
        if stale != target and stale.is_file():
            stale.unlink()
    # and the polygons simplified as the report simplifies them, read back as it reads them
    ship_simplified(
        [
            (load_force_areas(settings=settings), FORCE_VERTICES),
            (load_district_areas(settings=settings), DISTRICT_VERTICES),
        ],
        target.parent,
    )
    return target


def encode_derived_areas(forces: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> bytes:
    """Return force and district areas as servicemap's compact boundary file.

    An xz-compressed NumPy ``.npz``: per layer, the attribute columns (as JSON), the CRS and the
    geometries as shapely ragged arrays (coordinates, then part and ring offsets). Whole-metre
    coordinates, which the 100 m and 10 m grids give, are stored as differences of integers
    (a few bytes each once compressed); any other coordinates as they are. Decoding gives back
    exactly the same geometries.

    Parameters
    ----------
    forces, districts
        The frames from :func:`servicemap.geography._derive.build_derived_areas`.

    Returns
    -------
    bytes
        The compressed file contents.
    """
    arrays: dict[str, Any] = {}
    for layer, frame in ((_FORCE_LAYER, forces), (_DISTRICT_LAYER, districts)):
        columns = [str(c) for c in frame.columns if c != frame.geometry.name]
        meta = {
            "columns": columns,
            "rows": [list(map(_plain_value, row)) for row in frame[columns].to_numpy()],
            "crs": frame.crs.to_string(),
            **put_geometries(arrays, layer, frame.geometry.to_numpy()),
        }
        arrays[f"{layer}.meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    return pack_arrays(arrays)


def decode_derived_areas(data: bytes) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return the force and district areas written by :func:`encode_derived_areas`.

    Parameters
    ----------
    data
        The compressed file contents.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        Force areas and district areas, columns and order as written, in the CRS written.

    Raises
    ------
    ValueError
        If the data is not such a file.
    """
    try:
        arrays = unpack_arrays(data)
        return _decode_layer(arrays, _FORCE_LAYER), _decode_layer(arrays, _DISTRICT_LAYER)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a derived boundaries file ({exc})") from exc


def _decode_layer(arrays: Any, layer: str) -> gpd.GeoDataFrame:
    meta = json.loads(str(arrays[f"{layer}.meta"]))
    table = pd.DataFrame(meta["rows"], columns=meta["columns"])
    return gpd.GeoDataFrame(table, geometry=get_geometries(arrays, layer, meta), crs=meta["crs"])


def _plain_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _derived_key() -> str:
    tables = load_forces().to_csv(index=False) + load_districts().to_csv(index=False)
    digest = hashlib.sha256(tables.encode()).hexdigest()[:10]
    return f"force-areas-{package_version()}-{digest}-d{DERIVED_VERSION}"


def read_force_areas(
    path: str | Path, *, settings: Settings = DEFAULT_SETTINGS
) -> gpd.GeoDataFrame:
    """Read police force areas from a GeoJSON, GeoPackage, shapefile or zipped shapefile.

    The code column is ``force_code``, ``code`` or an ONS ``PFA<yy>CD`` column (any case); codes
    must be E23…/W15… codes of the force register. Names come from the register, not the file.
    Several rows with one code are dissolved into one; invalid polygons are repaired.
    A file that lacks some forces is accepted with a ``DataQualityWarning`` naming them (a
    regional file is fine for regional work); those forces then have no area.

    Parameters
    ----------
    path
        The file. In a GeoPackage with several layers, the first layer with a code column.
    settings
        ``settings.crs`` is the CRS of the result (the file's CRS is converted).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``force_code``, ``force_name`` and ``geometry``, one row per force, sorted by code.

    Raises
    ------
    BoundaryFileError
        If the file is missing, not geodata, has no CRS, no code column, unknown codes,
        non-polygon geometries or no features; the message says how to fix it.
    """
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise BoundaryFileError(f"Boundary file {label!r} does not exist; {_SOURCES_HINT}.")
    if path.is_dir():
        raise BoundaryFileError(
            f"Boundary file {label!r} is a folder; pass the .shp file inside it, or a zip."
        )
    frame = _read_geodata(path)
    if frame.empty:
        raise BoundaryFileError(f"Boundary file {label!r} has no features.")
    column = _code_column(frame, label)
    _check_geometries(frame, label)
    if frame.crs is None:
        raise BoundaryFileError(
            f"Boundary file {label!r} has no CRS (coordinate reference system); re-export it "
            "with one, e.g. EPSG:27700 (British National Grid) or EPSG:4326 (lon/lat)."
        )
    codes = frame[column].astype(str).str.strip().str.upper()
    forces = load_forces()
    unknown = sorted(set(codes) - set(forces["code"]))
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise BoundaryFileError(
            f"Boundary file {label!r} column {column!r} has {len(unknown)} code(s) that are "
            f"not police force areas of England and Wales: {shown}. Codes look like "
            "'E23000001' or 'W15000001'; run 'servicemap forces' to list them."
        )
    geometries = _polygonal(frame.geometry.to_crs(settings.crs).to_numpy())
    areas = (
        gpd.GeoDataFrame({"force_code": codes.to_numpy()}, geometry=geometries, crs=settings.crs)
        .dissolve(by="force_code", as_index=False)
        .sort_values("force_code", ignore_index=True)
    )
    _warn_missing(areas["force_code"], forces, label)
    return with_force_names(areas, forces, settings.crs)


def compare_force_areas(candidate: gpd.GeoDataFrame, reference: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the intersection over union (IoU) of each force's area in two sets of boundaries.

    IoU is the area both agree on divided by the area either covers: 1 for identical
    polygons, 0 for disjoint ones. Areas are measured in British National Grid (EPSG:27700).

    Parameters
    ----------
    candidate
        Force areas (``force_code``, ``geometry``), e.g. from :func:`load_force_areas`.
    reference
        The force areas to compare against; only codes in both frames are compared.

    Returns
    -------
    pandas.DataFrame
        Columns ``force_code``, ``force_name`` and ``iou``, sorted by code;
        :func:`median_iou` summarises it.

    Raises
    ------
    BoundaryFileError
        If either frame has no CRS or the two share no force code.
    """
    for which, frame in (("candidate", candidate), ("reference", reference)):
        if frame.crs is None:
            raise BoundaryFileError(
                f"The {which} force areas have no CRS; load them with load_force_areas."
            )
    ours = candidate.to_crs("EPSG:27700").set_index("force_code").geometry
    theirs = reference.to_crs("EPSG:27700").set_index("force_code").geometry
    codes = sorted(set(ours.index) & set(theirs.index))
    if not codes:
        raise BoundaryFileError(
            "The two sets of force areas share no force code; both need E23…/W15… codes."
        )
    mine = _polygonal(ours.loc[codes].to_numpy())
    other = _polygonal(theirs.loc[codes].to_numpy())
    union = shapely.area(shapely.union(mine, other))
    overlap = shapely.area(shapely.intersection(mine, other))
    names = load_forces().set_index("code")["name"]
    return pd.DataFrame(
        {
            "force_code": codes,
            "force_name": names.reindex(codes).to_numpy(),
            "iou": np.divide(overlap, union, out=np.zeros_like(union), where=union > 0),
        }
    )


def median_iou(comparison: pd.DataFrame) -> float:
    """Return the median IoU of a :func:`compare_force_areas` table."""
    return float(comparison["iou"].median())


def format_comparison(comparison: pd.DataFrame) -> str:
    """Return a :func:`compare_force_areas` table as text, with the median and the weakest force.

    Parameters
    ----------
    comparison
        The table from :func:`compare_force_areas`.

    Returns
    -------
    str
        One line per force (code, name, IoU to three decimals), then summary lines.
    """
    table = comparison.assign(iou=comparison["iou"].map("{:.3f}".format))
    worst = comparison.loc[comparison["iou"].idxmin()]
    lines = [
        table.to_string(index=False),
        "",
        f"median IoU: {median_iou(comparison):.3f} ({len(comparison)} forces)",
        f"lowest IoU: {float(worst['iou']):.3f} ({worst['force_name']}, {worst['force_code']})",
    ]
    return "\n".join(lines) + "\n"


def describe_force_areas(
    source: str | Path = "derived", *, settings: Settings = DEFAULT_SETTINGS
) -> dict[str, str]:
    """Return what a boundary source is and where it lives, loading (or building) it first.

    Parameters
    ----------
    source
        ``"derived"``, ``"official"`` or a file path, as for :func:`load_force_areas`.
    settings
        Where caches live and the CRS used.

    Returns
    -------
    dict
        ``source``, ``path``, ``built`` (file time, local), ``crs`` and ``features``, as text.
    """
    kind = _source_kind(source)
    forces = load_force_areas(source, settings=settings)
    if kind == "derived":
        shipped = shipped_boundaries_path()
        path = shipped if shipped.is_file() else derived_cache_path(settings)
        what = "derived (offline, from the ONS postcode directory)"
    elif kind == "official":
        path = _official_path(settings)
        what = "official (ONS, downloaded)"
    else:
        path = Path(source)
        what = "file"
    built = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    return {
        "source": what,
        "path": str(path),
        "built": built.isoformat(timespec="seconds"),
        "crs": str(forces.crs.to_string()),
        "features": str(len(forces)),
    }


def write_force_areas(forces: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write force areas for the web: EPSG:4326, properties ``force_code`` and ``force_name`` only.

    Parameters
    ----------
    forces
        Force areas from :func:`load_force_areas`.
    path
        A ``.geojson`` (RFC 7946) or ``.gpkg`` file; written atomically.

    Returns
    -------
    Path
        The file written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in {".geojson", ".json", ".gpkg"}:
        raise BoundaryFileError(
            f"Cannot write boundaries to {str(target)!r}: use a .geojson or .gpkg file name."
        )
    web = gpd.GeoDataFrame(
        {
            "force_code": forces["force_code"].to_numpy(),
            "force_name": forces["force_name"].to_numpy(),
        },
        geometry=forces.geometry.to_numpy(),
        crs=forces.crs,
    ).to_crs("EPSG:4326")
    with atomic_path(target) as tmp:
        if suffix == ".gpkg":
            web.to_file(tmp, driver="GPKG", layer=_FORCE_LAYER)
        else:
            web.to_file(tmp, driver="GeoJSON", RFC7946="YES")
    return target


# --- sources ---


def _source_kind(source: str | Path) -> str:
    if isinstance(source, str) and source.strip().lower() in {"derived", "official"}:
        return source.strip().lower()
    return "file"


def _official_path(settings: Settings) -> Path:
    path = official_boundaries_path(vintage="2023", settings=settings)
    if not path.is_file():
        raise BoundaryFileError(f"{_NO_OFFICIAL} (looked for {str(path)!r}).")
    return path


def _load_derived(settings: Settings) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    shipped = shipped_boundaries_path()
    if shipped.is_file():  # built from this very postcode package, derivation and tables
        forces, districts = decode_derived_areas(shipped.read_bytes())
        return forces.to_crs(settings.crs), districts.to_crs(settings.crs)
    path = derived_cache_path(settings)
    if path.is_file():
        try:
            forces = gpd.read_file(path, layer=_FORCE_LAYER)
            districts = gpd.read_file(path, layer=_DISTRICT_LAYER)
        except Exception:  # a damaged cache is rebuilt below
            pass
        else:
            if len(forces) == FORCE_COUNT and forces.crs is not None:
                return forces.to_crs(settings.crs), districts.to_crs(settings.crs)
    # check the folder before the build (about 20 seconds), so a bad folder fails at once
    usable_cache_folder(path.parent)
    if path.exists():
        heal_cache_entry(
            path,
            what="derived boundaries",
            reason=describe_damage(path),
            rebuild="from the ONS postcode directory (about 20 seconds)",
        )
    forces, districts = build_derived_areas(load_postcode_table(settings=settings))
    with writing_cache(path.parent):
        with atomic_path(path) as tmp:
            forces.to_file(tmp, driver="GPKG", layer=_FORCE_LAYER)
            districts.to_file(tmp, driver="GPKG", layer=_DISTRICT_LAYER)
        for stale in path.parent.glob("force-areas-*.gpkg"):
            if stale != path and stale.is_file():  # from an older package or derivation
                stale.unlink(missing_ok=True)
    return forces.to_crs(settings.crs), districts.to_crs(settings.crs)


# --- reading files ---


def _read_geodata(path: Path) -> gpd.GeoDataFrame:
    import pyogrio

    label = str(path)
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
        layer = layers[0] if layers else None
        if len(layers) > 1:
            for name in layers:
                fields = pyogrio.read_info(path, layer=name)["fields"]
                if any(_is_code_column(str(f)) for f in fields):
                    layer = name
                    break
        frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # GDAL raises many kinds; all mean "unreadable"
        reason = str(exc).split(";")[0]
        raise BoundaryFileError(
            f"Boundary file {label!r} is not a geodata file servicemap can read ({reason}); "
            "use GeoJSON, GeoPackage, a shapefile or a zipped shapefile."
        ) from exc
    if not isinstance(frame, gpd.GeoDataFrame) or "geometry" not in frame:
        raise BoundaryFileError(
            f"Boundary file {label!r} has no geometries (is it a plain table?); use GeoJSON, "
            "GeoPackage, a shapefile or a zipped shapefile with one polygon per force."
        )
    return frame


def _is_code_column(name: str) -> bool:
    return name.lower() in _PLAIN_CODE_COLUMNS or bool(_CODE_COLUMN.match(name))


def _code_column(frame: gpd.GeoDataFrame, label: str) -> str:
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    for plain in _PLAIN_CODE_COLUMNS:
        for column in columns:
            if column.lower() == plain:
                return column
    coded = sorted((c for c in columns if _CODE_COLUMN.match(c)), key=lambda c: c[3:5])
    if coded:
        return coded[-1]  # the newest year when a file carries several
    found = ", ".join(columns) if columns else "none"
    raise BoundaryFileError(
        f"Boundary file {label!r} has no police force area code column (looked for 'force_code', "
        f"'code' or 'PFA<yy>CD' such as 'PFA23CD'; found: {found}). Rename the column holding "
        "the E23…/W15… codes to 'force_code'."
    )


def _check_geometries(frame: gpd.GeoDataFrame, label: str) -> None:
    missing = frame.geometry.isna() | frame.geometry.is_empty
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise BoundaryFileError(
            f"Boundary file {label!r} has {int(missing.sum())} feature(s) without a geometry "
            f"(first: row {row + 1}); give every force a polygon or delete those rows."
        )
    kinds = set(frame.geom_type)
    wrong = sorted(kinds - {"Polygon", "MultiPolygon"})
    if wrong:
        raise BoundaryFileError(
            f"Boundary file {label!r} has {', '.join(wrong)} geometries; police force areas "
            "must be polygons or multipolygons."
        )


def _polygonal(geometries: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Return valid (multi)polygons: repair each and keep only its polygon parts."""
    fixed = shapely.make_valid(geometries)
    out = np.empty(len(fixed), dtype=object)
    for i, geometry in enumerate(fixed):
        if isinstance(geometry, shapely.Polygon | shapely.MultiPolygon):
            out[i] = geometry
        else:
            parts = [p for p in shapely.get_parts(geometry) if isinstance(p, shapely.Polygon)]
            out[i] = shapely.multipolygons(parts) if parts else shapely.Polygon()
    return out


def _warn_missing(codes: pd.Series, forces: pd.DataFrame, label: str) -> None:
    missing = forces.loc[~forces["code"].isin(codes)]
    if missing.empty:
        return
    listed = ", ".join(f"{r.code} ({r.name})" for r in missing.itertuples(index=False))
    warnings.warn(
        f"Boundary file {label!r} has no polygon for {len(missing)} of the {FORCE_COUNT} police "
        f"force areas: {listed}. They will have no area.",
        DataQualityWarning,
        stacklevel=4,
    )


# --- for maps and pages ------------------------------------------------------------------------


def force_neighbours(
    force_areas: gpd.GeoDataFrame,
    *,
    distance: float = 200.0,
    settings: Settings = DEFAULT_SETTINGS,
) -> dict[str, list[str]]:
    """Return, for each force code, the codes of the forces that border it.

    Two forces border each other when their polygons come within ``distance`` metres (a
    spatial-index query), so that a sliver between simplified borders does not hide a neighbour.

    Parameters
    ----------
    force_areas
        Force areas with ``force_code`` and polygon geometry in any CRS.
    distance
        How close two polygons must come, in metres of ``settings.crs``.
    settings
        ``settings.crs`` is the metric CRS the distance is measured in.

    Returns
    -------
    dict of str to list of str
        Every force code, with the sorted codes of its neighbours (itself left out).
    """
    projected = force_areas.to_crs(settings.crs).reset_index(drop=True)
    left, right = projected.sindex.query(projected.geometry, predicate="dwithin", distance=distance)
    codes = projected["force_code"].astype(str).to_numpy()
    out: dict[str, list[str]] = {str(c): [] for c in codes}
    for i, j in zip(left, right, strict=True):
        if i != j:
            out[str(codes[i])].append(str(codes[j]))
    return {code: sorted(set(found)) for code, found in out.items()}
