"""Load a services directory as the canonical services frame."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from servicemap._data import data_path
from servicemap.directory.privacy import confidential_mask
from servicemap.directory.problems import Problem, plural
from servicemap.directory.schema import FIELDS
from servicemap.directory.validate import check_services
from servicemap.errors import DataQualityWarning, ServicesFileError
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    import geopandas as gpd


def bundled_services_path() -> Path:
    """Return the path of the bundled services directory (``data/services/services.csv``)."""
    return data_path("services", "services.csv")


def _raise_for_errors(problems: Sequence[Problem], file: str) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    shown = "\n".join(f"  {p}" for p in errors[:3])
    more = f"\n  … and {len(errors) - 3} more." if len(errors) > 3 else ""
    raise ServicesFileError(
        f"Services file {file!r} has {plural(len(errors), 'error')}:\n{shown}{more}\n"
        f"Run 'servicemap validate {file}' to see them all."
    )


def _warn_grouped(problems: Sequence[Problem], file: str) -> None:
    """Warn once per kind of problem, so a directory with 60 unknown statuses warns once."""
    groups: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.severity == "warning":
            groups.setdefault(problem.code or problem.message, []).append(problem)
    for group in groups.values():
        if len(group) == 1:
            message = str(group[0])
        else:
            rows = [str(p.row) for p in group if p.row is not None]
            where = f" (rows {', '.join(rows[:8])}{', …' if len(rows) > 8 else ''})"
            message = (
                f"{file}: {len(group)} warnings like this one{where}: {group[0]} "
                f"Run 'servicemap validate {file}' to see them all."
            )
        warnings.warn(message, DataQualityWarning, stacklevel=3)


def load_services(
    path: Path | str | None = None,
    *,
    settings: Settings = DEFAULT_SETTINGS,
    lookup: Callable[..., Any] | None = None,
    today: dt.date | None = None,
    warn: bool = True,
) -> gpd.GeoDataFrame:
    """Load a services directory as the canonical services frame.

    Parameters
    ----------
    path
        The directory file (see :func:`read_services_table`); default the bundled directory.
    settings
        ``settings.crs`` is the frame's CRS; ``settings.cache_dir`` holds the postcode table.
    lookup
        Postcode lookup passed to :func:`servicemap.geography.geocode.geocode_postcodes`; None uses
        the
        bundled ONS postcode directory.
    today
        The date that ``last_seen`` is compared with; default today.
    warn
        Emit the file's warnings (one ``DataQualityWarning`` per kind of problem).

    Returns
    -------
    geopandas.GeoDataFrame
        The frame described in :mod:`servicemap.directory.schema`: every field (text; ``latitude``
        and
        ``longitude`` floats), the derived columns and a Point geometry in ``settings.crs``
        (None where a service has no location). Vocabulary values are in their canonical
        spelling. Confidential services still carry their location here: pass the frame
        through :func:`public_services` before any output.

    Raises
    ------
    ServicesFileError
        If the file cannot be read or has any error; the message gives the count, the first
        few and says to run ``servicemap validate FILE``.
    """
    target = bundled_services_path() if path is None else Path(path)
    file = str(target)
    problems, checked = check_services(target, settings=settings, lookup=lookup, today=today)
    _raise_for_errors(problems, file)
    assert checked is not None  # no errors means the file was read  # noqa: S101
    if warn:
        _warn_grouped(problems, file)
    return services_from_checked(checked, settings=settings)


def services_from_checked(
    checked: pd.DataFrame, *, settings: Settings = DEFAULT_SETTINGS
) -> gpd.GeoDataFrame:
    """Return the canonical services frame of a checked table (``check_services`` without errors).

    Parameters
    ----------
    checked
        The checked frame of :func:`servicemap.directory.validate.check_services`.
    settings
        ``settings.crs`` is the frame's CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        The canonical services frame (see :func:`load_services`).
    """
    services = pd.DataFrame(index=range(len(checked)))
    for field in FIELDS:
        services[field] = checked[field].to_numpy()
    services["latitude"] = checked["latitude"].to_numpy(dtype=float)
    services["longitude"] = checked["longitude"].to_numpy(dtype=float)
    services["easting"] = checked["easting"].to_numpy(dtype=float)
    services["northing"] = checked["northing"].to_numpy(dtype=float)
    services["location_source"] = checked["location_source"].to_numpy()
    services["force_code"] = checked["force_code"].astype(str).to_numpy()
    services["served_districts"] = list(checked["served_districts"])
    services["served_forces"] = list(checked["served_forces"])
    services["confidential"] = confidential_mask(services).to_numpy(dtype=bool)
    return with_geometry(services, settings=settings)


def with_geometry(
    services: pd.DataFrame, *, settings: Settings = DEFAULT_SETTINGS
) -> gpd.GeoDataFrame:
    """Return the services with a Point geometry at (``easting``, ``northing``), or None.

    Parameters
    ----------
    services
        A services frame with ``easting`` and ``northing`` (BNG metres, NaN where none). Not
        modified.
    settings
        ``settings.crs`` is the frame's CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with a ``geometry`` column (replaced if there was one).
    """
    import geopandas as gpd
    import shapely

    plain = pd.DataFrame(services.drop(columns="geometry", errors="ignore"))
    east = pd.to_numeric(plain["easting"], errors="coerce").to_numpy(dtype=float)
    north = pd.to_numeric(plain["northing"], errors="coerce").to_numpy(dtype=float)
    geometry = np.full(len(plain), None, dtype=object)
    has_point = np.isfinite(east) & np.isfinite(north)
    geometry[has_point] = shapely.points(east[has_point], north[has_point])
    return gpd.GeoDataFrame(plain, geometry=geometry, crs=settings.crs)
