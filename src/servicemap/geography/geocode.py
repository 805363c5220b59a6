"""Postcodes to places: grid reference, latitude/longitude, district and police force."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._csv import column_key, read_csv_text, write_csv
from servicemap.errors import DataQualityWarning, GeocodeError
from servicemap.geography._postcodes_io import lookup_postcodes
from servicemap.geography.forces import force_names, load_districts
from servicemap.geography.postcodes import (
    ParsedPostcodes,
    PostcodeTable,
    load_postcode_table,
    normalise_postcodes,
    parse_postcodes,
    postcode_values,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

PostcodeLookup = Callable[[Sequence[str]], pd.DataFrame]
"""Maps normalised postcodes to places; see :func:`geocode_postcodes` for the frame it returns."""

STATUSES = ("ok", "malformed", "unknown", "no_location", "outside_england_wales")
"""Every value of the ``status`` column, best first."""

GEOCODE_COLUMNS = (
    "postcode",
    "status",
    "easting",
    "northing",
    "latitude",
    "longitude",
    "district_code",
    "force_code",
)
"""The columns :func:`geocode_postcodes` returns, in order."""

_SHOWN = 5  # how many offending rows a warning or summary names


@lru_cache(maxsize=2)
def _transformer(source: str, target: str) -> Any:
    """Return a transformer between two CRSs, made once (about 0.07 s each)."""
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def wgs84_from_bng(
    easting: npt.ArrayLike, northing: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Convert British National Grid coordinates to WGS84 longitude and latitude.

    Parameters
    ----------
    easting, northing
        BNG (EPSG:27700) metres; NaN stays NaN.

    Returns
    -------
    tuple of numpy.ndarray
        ``(longitude, latitude)`` in degrees (EPSG:4326), as float arrays.
    """
    return _transform(_transformer("EPSG:27700", "EPSG:4326"), easting, northing)


def bng_from_wgs84(
    longitude: npt.ArrayLike, latitude: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Convert WGS84 longitude and latitude to British National Grid coordinates.

    Parameters
    ----------
    longitude, latitude
        Degrees (EPSG:4326); NaN stays NaN.

    Returns
    -------
    tuple of numpy.ndarray
        ``(easting, northing)`` in BNG (EPSG:27700) metres, as float arrays.
    """
    return _transform(_transformer("EPSG:4326", "EPSG:27700"), longitude, latitude)


def _transform(
    transformer: Any, x: npt.ArrayLike, y: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Apply a pyproj transformer to coordinate arrays; a NaN in either gives NaN in both."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    out_x, out_y = transformer.transform(xs, ys)
    out_x, out_y = np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)
    missing = np.isnan(xs) | np.isnan(ys)
    return np.where(missing, np.nan, out_x), np.where(missing, np.nan, out_y)


@dataclass(frozen=True)
class _Places:
    """What is known about each valid unique postcode."""

    found: npt.NDArray[np.bool_]
    easting: npt.NDArray[np.float64]
    northing: npt.NDArray[np.float64]
    district: npt.NDArray[np.object_]  # "" when unknown


def _places_from_table(keys: npt.NDArray[np.uint64], table: PostcodeTable) -> _Places:
    # ``keys`` are sorted, which keeps the table in the CPU cache: about three times faster.
    at = np.minimum(np.searchsorted(table.keys, keys), len(table) - 1)
    found = table.keys[at] == keys
    east = np.where(found & (table.easting[at] >= 0), table.easting[at], -1).astype(np.float64)
    north = np.where(east >= 0, table.northing[at], -1).astype(np.float64)
    east[east < 0], north[north < 0] = np.nan, np.nan
    district = np.where(found, table.district_codes.astype(object)[table.district[at]], "")
    return _Places(found=found, easting=east, northing=north, district=district)


def _column(frame: pd.DataFrame, name: str) -> npt.NDArray[np.float64]:
    if name not in frame:
        return np.full(len(frame), np.nan)
    values: npt.NDArray[np.float64] = pd.to_numeric(frame[name], errors="coerce").to_numpy(
        dtype=np.float64
    )
    return values


def _places_from_lookup(
    canonical: npt.NDArray[np.str_], lookup: PostcodeLookup, *, settings: Settings
) -> _Places:
    wanted = [str(p) for p in canonical]
    answer = lookup(wanted) if wanted else pd.DataFrame()
    if not isinstance(answer, pd.DataFrame):
        raise GeocodeError(
            f"The postcode lookup returned {type(answer).__name__}, not a DataFrame indexed by "
            "postcode; fix the lookup function passed to geocode_postcodes."
        )
    has_grid = {"easting", "northing"} <= set(answer.columns)
    has_wgs84 = {"latitude", "longitude"} <= set(answer.columns)
    if len(answer) and not (has_grid or has_wgs84):
        raise GeocodeError(
            "The postcode lookup's frame needs columns 'easting' and 'northing' or 'latitude' "
            f"and 'longitude' (found: {', '.join(map(str, answer.columns))}); fix the lookup."
        )
    # The lookup may spell postcodes its own way; match them in standard form, first one wins.
    index = pd.Index(normalise_postcodes(pd.Series(answer.index, dtype=object)), dtype=object)
    answer = answer.set_axis(index)
    answer = answer[index.notna() & ~index.duplicated()]
    found = np.asarray(pd.Index(wanted).isin(answer.index), dtype=bool)
    answer = answer.reindex(pd.Index(wanted, dtype=object))
    lon, lat = _column(answer, "longitude"), _column(answer, "latitude")
    east, north = _column(answer, "easting"), _column(answer, "northing")
    # Prefer latitude/longitude when given: postcodes.io, like ONS, sends Irish Grid eastings
    # for Northern Ireland, which the WGS84 position converts to BNG correctly.
    from_wgs84 = ~np.isnan(lon) & ~np.isnan(lat)
    converted_east, converted_north = bng_from_wgs84(lon, lat)
    east = np.where(from_wgs84, np.round(converted_east), east)
    north = np.where(from_wgs84, np.round(converted_north), north)
    if "district_code" in answer:
        district = answer["district_code"].fillna("").astype(str).to_numpy(dtype=object)
    else:
        district = np.full(len(wanted), "", dtype=object)
    # Districts outside the register that look English or Welsh (pseudo or retired codes),
    # or none at all: take the district of the nearest postcode in the ONS directory.
    register = set(load_districts()["code"])
    unresolved = np.array(
        [d not in register and (d == "" or d[:1] in "EW") for d in district], dtype=bool
    )
    unresolved &= ~np.isnan(east) & ~np.isnan(north)
    if unresolved.any():
        district[unresolved] = _nearest_districts(
            east[unresolved], north[unresolved], settings=settings
        )
    return _Places(found=found, easting=east, northing=north, district=district)


@lru_cache(maxsize=1)
def _located_postcodes(settings: Settings) -> tuple[Any, npt.NDArray[np.object_]]:
    """Return a k-d tree of every located postcode and their districts (built once, ~2 s)."""
    from scipy.spatial import cKDTree

    table = load_postcode_table(settings=settings)
    located = np.flatnonzero(table.has_location)
    tree = cKDTree(np.column_stack([table.easting[located], table.northing[located]]))
    return tree, table.district_codes.astype(object)[table.district[located]]


def _nearest_districts(
    easting: npt.NDArray[np.float64], northing: npt.NDArray[np.float64], *, settings: Settings
) -> npt.NDArray[np.object_]:
    tree, districts = _located_postcodes(settings)
    _, nearest = tree.query(np.column_stack([easting, northing]))
    return np.asarray(districts[nearest])


def _describe(rows: pd.DataFrame, *, first_row: int, phrase: tuple[str, str]) -> str:
    def shown(value: Any) -> str:
        blank = not isinstance(value, str) and pd.isna(value) or str(value).strip() == ""
        return "blank" if blank else repr(value)

    examples = ", ".join(
        f"row {position + first_row}: {shown(value)}"
        for position, value in zip(rows["position"][:_SHOWN], rows["value"][:_SHOWN], strict=True)
    )
    more = f", and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return f"{len(rows)} {phrase[len(rows) != 1]} ({examples}{more})"


def data_quality_problems(
    geocoded: pd.DataFrame, original: Iterable[Any] | None = None, *, first_row: int = 1
) -> list[str]:
    """Describe malformed, unknown and unlocated postcodes, naming the first few rows.

    Parameters
    ----------
    geocoded
        A frame returned by :func:`geocode_postcodes`.
    original
        The values that were geocoded, to quote as the user typed them (default: the
        ``postcode`` column).
    first_row
        The row number of the first value as the user counts it (2 for a CSV file or
        spreadsheet whose first line is a header).

    Returns
    -------
    list of str
        One phrase per kind of problem, e.g. ``"2 are malformed (row 3: 'SW1', row 9: blank)"``;
        empty when every postcode was found with a location.
    """
    values = geocoded["postcode"] if original is None else postcode_values(original)
    rows = pd.DataFrame(
        {
            "position": np.arange(len(geocoded)),
            "value": np.asarray(values, dtype=object),
            "status": geocoded["status"].to_numpy(),
        }
    )
    problems = []
    for status, phrase in (
        ("malformed", ("is malformed", "are malformed")),
        ("unknown", ("is not a known postcode", "are not known postcodes")),
        ("no_location", ("has no known location", "have no known location")),
    ):
        chosen = rows[rows["status"] == status]
        if len(chosen):
            problems.append(_describe(chosen, first_row=first_row, phrase=phrase))
    return problems


def _status_and_force(places: _Places) -> tuple[npt.NDArray[np.object_], npt.NDArray[Any]]:
    """Return the ``status`` and the ``force_code`` (``""`` when none) of each distinct postcode."""
    districts = load_districts()
    at = pd.Index(districts["code"]).get_indexer(places.district)
    force = np.where(at >= 0, districts["force_code"].to_numpy(dtype=object)[at], "")
    located = ~np.isnan(places.easting) & ~np.isnan(places.northing)
    in_register = force != ""
    outside = ~in_register & (places.district != "")
    status: npt.NDArray[np.object_] = np.select(
        [~places.found, in_register & located, outside],
        ["unknown", "ok", "outside_england_wales"],
        default="no_location",
    ).astype(object)
    return status, force


def _geocoded_rows(parsed: ParsedPostcodes, places: _Places, *, index: pd.Index) -> pd.DataFrame:
    """Spread what is known of each distinct postcode back to the rows: the geocoded frame."""
    status, force = _status_and_force(places)
    lon, lat = wgs84_from_bng(places.easting, places.northing)

    # Per distinct postcode, plus a last entry for malformed rows (row_postcode == -1).
    rows = parsed.row_postcode
    malformed = rows < 0

    def spread(per_postcode: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
        return np.append(per_postcode, np.array([fill], dtype=per_postcode.dtype))[rows]

    return pd.DataFrame(
        {
            "postcode": np.where(malformed, parsed.row_text, spread(parsed.canonical, "")),
            "status": spread(status, "malformed"),
            "easting": spread(places.easting, np.nan),
            "northing": spread(places.northing, np.nan),
            "latitude": spread(lat, np.nan),
            "longitude": spread(lon, np.nan),
            "district_code": spread(places.district, ""),
            "force_code": spread(force, ""),
        },
        index=index,
    )


def geocode_postcodes(
    postcodes: Iterable[Any],
    *,
    settings: Settings = DEFAULT_SETTINGS,
    lookup: PostcodeLookup | None = None,
    warn: bool = True,
) -> pd.DataFrame:
    """Find where each postcode is: grid reference, latitude/longitude, district and force.

    Nothing is dropped: every input row gets a ``status``. Offline, postcodes are looked up in
    the ONS postcode directory bundled with servicemap (cached compactly on first use).

    Parameters
    ----------
    postcodes
        Postcodes in any common spelling (``"sw1a1aa"``, ``" SW1A  1AA"``); a column, list or
        array. Missing and non-text values are malformed.
    settings
        Where the postcode table is cached.
    lookup
        Instead of the bundled directory, a callable given the distinct well-formed postcodes
        (``"SW1A 1AA"`` form) that returns a frame indexed by postcode with columns
        ``easting``/``northing`` (BNG metres) and/or ``latitude``/``longitude`` (WGS84), and
        optionally ``district_code``. Postcodes it leaves out are unknown; rows with no
        coordinates have no location. Districts it does not give are taken from the nearest
        postcode in the bundled directory. ``servicemap.geography._postcodes_io.lookup_postcodes``
        asks
        postcodes.io.
    warn
        Emit a :class:`~servicemap.errors.DataQualityWarning` naming how many postcodes are
        malformed, unknown or without location, and the first few rows (counted from 1).
        Pass ``False`` to report them yourself (see :func:`data_quality_problems`).

    Returns
    -------
    pandas.DataFrame
        Same index as ``postcodes`` (a ``RangeIndex`` unless it is a Series), with columns
        ``postcode`` (standard form, or the text as given when malformed), ``status``
        (``"ok"``, ``"malformed"``, ``"unknown"``, ``"no_location"`` or
        ``"outside_england_wales"``), ``easting`` and ``northing`` (BNG metres) and
        ``latitude`` and ``longitude`` (WGS84) — NaN unless the status is ``"ok"`` or
        ``"outside_england_wales"`` with a known location — and ``district_code`` and
        ``force_code`` (``""`` when none; a postcode with no location may still have both).
    """
    series = postcode_values(postcodes)
    parsed = parse_postcodes(series)
    if lookup is None:
        places = _places_from_table(parsed.keys, load_postcode_table(settings=settings))
    else:
        places = _places_from_lookup(parsed.canonical, lookup, settings=settings)

    geocoded = _geocoded_rows(parsed, places, index=series.index)
    if warn:
        problems = data_quality_problems(geocoded, series)
        if problems:
            warnings.warn(
                f"Of {len(geocoded)} postcodes, " + "; ".join(problems) + ". They are kept, "
                "with a 'status' saying why.",
                DataQualityWarning,
                stacklevel=2,
            )
    return geocoded


def postcode_column(table: pd.DataFrame, column: str, *, source: str = "the table") -> pd.Series:
    """Return the postcode column of a user's table, forgiving case, spaces and underscores.

    Parameters
    ----------
    table
        The table as read from the user's file.
    column
        The column name the user gave (``"postcode"`` also finds ``"Post Code"``).
    source
        How to name the table in the error message, e.g. the file name.

    Returns
    -------
    pandas.Series
        The column: an exact match, else the only column with the same letters and digits.

    Raises
    ------
    GeocodeError
        When no column (or more than one) matches; the message lists the columns found.
    """
    if column in table.columns:
        return table[column]
    close = [c for c in table.columns if column_key(c) == column_key(column)]
    if len(close) == 1:
        return table[close[0]]
    found = ", ".join(repr(str(c)) for c in table.columns) or "none"
    raise GeocodeError(
        f"{source} has no column {column!r} (found: {found}); "
        "pass the postcode column's name with --column."
    )


def add_geocode_columns(table: pd.DataFrame, geocoded: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with the columns of ``geocoded`` and ``force_name`` added on the right.

    Every original column and row is kept. An added column whose name the table already uses
    (ignoring case) is called ``geocoded_<name>`` instead. Eastings and northings become whole
    metres (nullable integers) and latitude/longitude are rounded to 6 decimals (about 0.1 m).

    Parameters
    ----------
    table
        Any table.
    geocoded
        :func:`geocode_postcodes` of one of its columns (same index).

    Returns
    -------
    pandas.DataFrame
        A new frame.
    """
    names = force_names()
    added = geocoded.assign(
        easting=geocoded["easting"].round().astype("Int64"),
        northing=geocoded["northing"].round().astype("Int64"),
        latitude=geocoded["latitude"].round(6),
        longitude=geocoded["longitude"].round(6),
        force_name=geocoded["force_code"].map(names).fillna("").astype(object),
    )
    # Case-blind, as a spreadsheet user reads headers: "Postcode" and "postcode" clash.
    taken = {str(c).casefold() for c in table.columns}
    added.columns = [f"geocoded_{c}" if c.casefold() in taken else c for c in added.columns]
    return pd.concat([table, added.set_axis(table.index)], axis=1)


def summarise_geocoding(
    geocoded: pd.DataFrame, postcodes: Iterable[Any], *, first_row: int = 2
) -> str:
    """Describe in a few lines how geocoding went, naming the first few problem rows.

    Parameters
    ----------
    geocoded
        :func:`geocode_postcodes` of ``postcodes``.
    postcodes
        The values as the user wrote them, quoted in the problems.
    first_row
        The row number of the first value as the user counts it (default 2: a file whose
        first line is the header, as a spreadsheet numbers it).

    Returns
    -------
    str
        Lines such as ``"118 geocoded in England and Wales"`` and
        ``"2 are malformed (row 3: 'SW1', row 9: blank)"``.
    """
    counts = geocoded["status"].value_counts()
    lines = [f"{counts.get('ok', 0)} of {len(geocoded)} geocoded in England and Wales"]
    if counts.get("outside_england_wales", 0):
        lines.append(
            f"{counts['outside_england_wales']} outside England and Wales (no police force area)"
        )
    lines += data_quality_problems(geocoded, postcodes, first_row=first_row)
    return "\n".join(lines)


def geocode_csv(
    csv_path: str | Path,
    column: str,
    output: str | Path,
    *,
    online: bool = False,
    settings: Settings = DEFAULT_SETTINGS,
) -> tuple[int, str]:
    """Geocode the postcode column of a CSV file; write it with the geocode columns to a new one.

    Parameters
    ----------
    csv_path
        The CSV file to read (never written).
    column
        The name of its postcode column (matched as :func:`postcode_column` does).
    output
        The CSV file to write, atomically.
    online
        Ask postcodes.io (``settings.postcodes_url``) about postcodes not in the bundled
        directory (terminated or newer ones).
    settings
        Settings (postcode table cache, network settings).

    Returns
    -------
    tuple of int and str
        The number of rows written and a summary in words (:func:`summarise_geocoding`).

    Raises
    ------
    GeocodeError
        The file cannot be read or has no such column.
    """
    table = read_csv_text(Path(csv_path), error=GeocodeError)
    postcodes = postcode_column(table, column, source=f"File {str(csv_path)!r}")
    lookup = partial(lookup_postcodes, settings=settings) if online else None
    geocoded = geocode_postcodes(postcodes, settings=settings, lookup=lookup, warn=False)
    write_csv(add_geocode_columns(table, geocoded), Path(output))
    return len(table), summarise_geocoding(geocoded, postcodes)
