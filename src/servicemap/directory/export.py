"""Write a services directory to CSV, XLSX, GeoJSON, GeoPackage or Open Referral UK JSON.

Every writer first passes the frame through :func:`servicemap.directory.privacy.public_frame`
(the confidentiality rule and its two guards, see :mod:`servicemap.directory.privacy`): a
refuge's location never reaches a file, whatever the format. The service itself is
still written (name, organisation, areas served, types, contact details).

Formats
-------
``csv``
    UTF-8, one row per service, columns :data:`EXPORT_COLUMNS`. Text cells that a spreadsheet
    would run as a formula (starting ``=``, ``+``, ``-``, ``@``, tab or carriage return, unless
    the whole cell is a plain number such as ``-2``) get a leading ``'``: see
    :func:`servicemap._csv.spreadsheet_safe`.
``xlsx``
    The same table as one worksheet ``services``, also neutralised, header row frozen; numbers
    are numbers and no cell is a formula (:func:`servicemap._csv.write_xlsx`).
``geojson``
    RFC 7946 FeatureCollection in EPSG:4326; properties are :data:`EXPORT_COLUMNS`; a service
    without a public location has ``"geometry": null``.
``gpkg``
    GeoPackage layer ``services`` in the frame's CRS (``Settings.crs``, EPSG:27700 by default,
    so GIS measurements are in metres); same columns; null geometry without a public location.
``oruk``
    Open Referral UK JSON, see :mod:`servicemap.directory.openreferral`.

The derived tuple columns ``served_forces`` and ``served_districts`` are written as
``";"``-joined codes; ``easting``, ``northing``, ``location_source`` and ``confidential`` are
not written (the geometry and ``location_confidential`` carry them). Open Referral UK output
carries only the schema fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from servicemap._atomic import atomic_path, atomic_write_text
from servicemap._csv import write_csv, write_xlsx
from servicemap.directory.openreferral_write import write_oruk
from servicemap.directory.privacy import has_location, public_frame
from servicemap.directory.schema import FIELDS
from servicemap.errors import OutputError

FORMATS: tuple[str, ...] = ("csv", "geojson", "gpkg", "oruk", "xlsx")

# Derived columns written (";"-joined when they hold tuples) after the schema fields.
EXPORT_DERIVED: tuple[str, ...] = ("force_code", "served_forces", "served_districts")
EXPORT_COLUMNS: tuple[str, ...] = (*FIELDS, *EXPORT_DERIVED)


@dataclass(frozen=True)
class ExportSummary:
    """What one export wrote.

    Attributes
    ----------
    path
        The file written.
    format
        One of :data:`FORMATS`.
    services
        Services written (every service, confidential ones included).
    with_public_location
        Services written with an address, postcode, coordinates or point.
    withheld
        Confidential services whose location was known but withheld.
    """

    path: Path
    format: str
    services: int
    with_public_location: int
    withheld: int


def export_table(services: pd.DataFrame) -> pd.DataFrame:
    """Return the published table: :data:`EXPORT_COLUMNS`, tuples joined with ``";"``.

    Parameters
    ----------
    services
        A services frame already made public (:func:`public_frame`).

    Returns
    -------
    pandas.DataFrame
        Text columns (``""`` for empty) plus float ``latitude`` and ``longitude``.
    """
    table = pd.DataFrame(index=services.index)
    for column in EXPORT_COLUMNS:
        values = services[column] if column in services.columns else pd.Series("", services.index)
        if column in ("latitude", "longitude"):
            table[column] = pd.to_numeric(values, errors="coerce").astype(float)
        else:
            table[column] = values.map(_joined).astype(object)
    return table.reset_index(drop=True)


def _joined(value: Any) -> str:
    if isinstance(value, (tuple, list, np.ndarray)):
        return ";".join(str(item) for item in value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def write_services(services: pd.DataFrame, path: Path | str, *, fmt: str) -> ExportSummary:
    """Write the services directory, confidential locations withheld, atomically.

    Parameters
    ----------
    services
        The canonical services frame (:func:`servicemap.directory.load.load_services`).
    path
        The file to write; its folder is created if missing (the command line refuses a
        missing folder instead: see :func:`servicemap._atomic.check_outputs`).
    fmt
        One of :data:`FORMATS`: ``csv``, ``geojson``, ``gpkg``, ``oruk`` or ``xlsx``.

    Returns
    -------
    ExportSummary
        How many services were written, with a public location, and withheld.

    Raises
    ------
    ValueError
        An unknown format, or a frame that is not the canonical services frame.
    OutputError
        The file cannot be written: a folder, below a file, no permission, read-only, disk full
        (nothing is left behind, an older file is untouched). It is an ``OSError``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    target = Path(path)
    _check_target(target)
    public = public_frame(services)
    if fmt == "oruk":
        write_oruk(public, target)
    elif fmt == "csv":
        write_csv(export_table(public), target)
    elif fmt == "xlsx":
        write_xlsx(export_table(public), target, sheet_name="services")
    else:
        _write_geo(public, target, fmt)
    confidential = public["confidential"].fillna(False).astype(bool).to_numpy()
    withheld = confidential & has_location(services).to_numpy()
    return ExportSummary(
        path=target,
        format=fmt,
        services=len(public),
        with_public_location=int(has_location(public).sum()),
        withheld=int(withheld.sum()),
    )


def _check_target(target: Path) -> None:
    """Raise a clear OutputError early for a target that is a folder or lies below a file."""
    if target.is_dir():
        raise OutputError(
            f"Cannot write {str(target)!r}: it is a folder; give the name of a file in it."
        )
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(
                    f"Cannot write {str(target)!r}: {str(parent)!r} is a file, not a folder; "
                    "choose another place."
                )
            return


def _write_geo(public: pd.DataFrame, target: Path, fmt: str) -> None:
    if not isinstance(public, gpd.GeoDataFrame) or public.crs is None:
        raise ValueError(
            f"Cannot write {fmt}: the services frame has no geometry with a CRS; pass the "
            "frame from servicemap.directory.load.load_services."
        )
    crs = "EPSG:4326" if fmt == "geojson" else public.crs
    geometry = public.geometry.to_crs(crs).reset_index(drop=True)
    features = gpd.GeoDataFrame(export_table(public), geometry=geometry, crs=crs)
    if fmt == "geojson":
        atomic_write_text(target, features.to_json(na="null", drop_id=True) + "\n")
    else:
        with atomic_path(target) as tmp:
            features.to_file(
                tmp, driver="GPKG", layer="services", engine="pyogrio", geometry_type="Point"
            )
