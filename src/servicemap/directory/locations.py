"""Check where each service is: postcodes, coordinates and the areas it serves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap._progress import status
from servicemap.directory.problems import ROW, ProblemReport, Severity, show
from servicemap.geography.areas import (
    other_readings,
    resolve_area,
    resolve_areas_served,
    served_districts,
    served_forces,
)
from servicemap.geography.geocode import bng_from_wgs84, geocode_postcodes
from servicemap.geography.postcodes import load_postcode_table, normalise_postcodes
from servicemap.settings import DEFAULT_SETTINGS, Settings

#: Coordinates further than this from every postcode centroid are "at sea" (metres).
NEAR_POSTCODE_METRES = 10_000

#: A postcode and coordinates further apart than this (metres) are reported.
POSTCODE_COORDINATE_METRES = 5_000

# Rough bounds of the United Kingdom in degrees (Scilly to Shetland, Northern Ireland to Kent).
_UK_LATITUDE = (49.8, 60.9)
_UK_LONGITUDE = (-8.7, 1.8)


_FIX_AREAS = (
    "use police force, local authority district, county or region names as ONS spells "
    "them, or 'Wales', 'England', 'England and Wales', separated by ';'."
)


def _geocode(
    postcodes: Sequence[str], *, settings: Settings, lookup: Callable[..., Any] | None
) -> pd.DataFrame:
    return geocode_postcodes(list(postcodes), settings=settings, lookup=lookup, warn=False)


# What each geocoding status other than "ok" means for a well-formed postcode:
# (severity, code, message, fix).
_POSTCODE_STATES: dict[str, tuple[Severity, str, str, str]] = {
    "unknown": (
        "error",
        "unknown-postcode",
        "is not a known postcode.",
        "check it against the letter or Royal Mail's finder, or leave it empty and give "
        "latitude/longitude.",
    ),
    "malformed": (
        "error",
        "bad-postcode",
        "is not a valid UK postcode (a postcode looks like 'SW1A 1AA').",
        "correct it, or leave it empty and give latitude/longitude.",
    ),
    "no_location": (
        "warning",
        "postcode-no-location",
        "is a real postcode but has no grid reference (often a PO Box or large-user "
        "postcode), so the service has no location.",
        "give the office's street postcode, or latitude/longitude.",
    ),
    "outside_england_wales": (
        "warning",
        "outside-england-wales",
        "is outside England and Wales, so the service is in no police force area.",
        "check the postcode; services outside England and Wales count only through 'areas_served'.",
    ),
}


def _check_postcodes(
    frame: pd.DataFrame,
    report: ProblemReport,
    *,
    has_coordinates: pd.Series,
    settings: Settings,
    lookup: Callable[..., Any] | None,
) -> pd.DataFrame:
    """Check postcodes; return per-row easting, northing, force_code (NaN/"" if not located)."""
    column = frame["postcode"]
    rows = frame[ROW].to_numpy()
    values = column.to_numpy(dtype=object)
    normal = normalise_postcodes(column.astype(str)).fillna("")
    located = pd.DataFrame(
        {"easting": np.nan, "northing": np.nan, "force_code": ""}, index=frame.index
    )
    wellformed = {p for p in normal.unique() if p}
    for index in np.flatnonzero(((column != "") & ~normal.isin(wellformed)).to_numpy()):
        value = values[index]
        report.error(
            "bad-postcode",
            f"{show(value)} is not a valid UK postcode (a postcode looks like 'SW1A 1AA').",
            "correct it, or leave it empty and give latitude/longitude.",
            row=int(rows[index]),
            column="postcode",
            value=value,
        )
    if not wellformed:
        return located
    status("Checking postcodes…")
    unique = sorted(wellformed)
    found = _geocode(unique, settings=settings, lookup=lookup).reset_index(drop=True)
    found.index = pd.Index(unique)
    by_row = found.reindex(normal.to_numpy())
    by_row.index = frame.index
    state = by_row["status"].fillna("")
    ok = state == "ok"
    located.loc[ok, "easting"] = by_row.loc[ok, "easting"].astype(float)
    located.loc[ok, "northing"] = by_row.loc[ok, "northing"].astype(float)
    located.loc[ok, "force_code"] = by_row.loc[ok, "force_code"].fillna("").astype(str)
    outside = state == "outside_england_wales"
    located.loc[outside, "easting"] = by_row.loc[outside, "easting"].astype(float)
    located.loc[outside, "northing"] = by_row.loc[outside, "northing"].astype(float)
    not_found = (column != "") & ~ok & normal.isin(wellformed)
    _report_postcode_states(frame, report, not_found, state, has_coordinates)
    return located


def _report_postcode_states(
    frame: pd.DataFrame,
    report: ProblemReport,
    not_found: pd.Series,
    state: pd.Series,
    has_coordinates: pd.Series,
) -> None:
    """Report well-formed postcodes that did not geocode, by :data:`_POSTCODE_STATES`.

    A warning is left out when the row's coordinates give the location anyway.
    """
    rows = frame[ROW].to_numpy()
    values = frame["postcode"].to_numpy(dtype=object)
    states = state.to_numpy(dtype=object)
    coordinates = has_coordinates.to_numpy(dtype=bool)
    for index in np.flatnonzero(not_found.to_numpy()):
        severity, code, message, fix = _POSTCODE_STATES.get(
            states[index], _POSTCODE_STATES["unknown"]
        )
        if coordinates[index] and severity == "warning":
            continue  # the coordinates give the location
        value = values[index]
        report.add(
            severity,
            code,
            f"{show(value)} {message}",
            fix,
            row=int(rows[index]),
            column="postcode",
            value=value,
        )


def _in_uk(lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return (
        (lat >= _UK_LATITUDE[0])
        & (lat <= _UK_LATITUDE[1])
        & (lon >= _UK_LONGITUDE[0])
        & (lon <= _UK_LONGITUDE[1])
    )


def _check_coordinates(frame: pd.DataFrame, report: ProblemReport) -> tuple[pd.Series, pd.Series]:
    """Check latitude/longitude; return them as floats, NaN where not usable."""
    numbers = {}
    for field in ("latitude", "longitude"):
        text = frame[field]
        value = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
        bad = (text != "") & ~np.isfinite(value)
        for index in np.flatnonzero(bad.to_numpy()):
            shown = text.iat[index]
            if "," in shown:
                hint = " (use a point, not a comma, for decimals)"
            elif any(dash in shown for dash in "\u2212\u2013\u2014"):
                hint = " (use the plain minus sign '-', not a dash)"
            elif any(mark in shown for mark in "°′'\""):
                hint = " (give decimal degrees, not degrees and minutes)"
            else:
                hint = ""
            report.error(
                "bad-coordinate",
                f"{show(shown)} is not a number{hint}.",
                "give decimal degrees, e.g. latitude 51.5072, longitude -0.1276.",
                row=int(frame[ROW].iat[index]),
                column=field,
                value=shown,
            )
        numbers[field] = value.where(~bad)
    lat, lon = numbers["latitude"], numbers["longitude"]
    text_lat, text_lon = frame["latitude"], frame["longitude"]
    for one, other, field, given in (
        (text_lat, text_lon, "longitude", "latitude"),
        (text_lon, text_lat, "latitude", "longitude"),
    ):
        for index in np.flatnonzero(((one != "") & (other == "")).to_numpy()):
            report.error(
                "one-coordinate",
                f"is empty but {given!r} is given; a location needs both.",
                "give both latitude and longitude, or neither (and a postcode).",
                row=int(frame[ROW].iat[index]),
                column=field,
                value="",
            )
    both = lat.notna() & lon.notna()
    lat_a, lon_a = lat.to_numpy(), lon.to_numpy()
    inside = _in_uk(lat_a, lon_a)
    for index in np.flatnonzero((both & ~inside).to_numpy()):
        y, x = float(lat_a[index]), float(lon_a[index])
        if _in_uk(np.array([x]), np.array([y]))[0]:
            hint = (
                "they look swapped (in the UK latitude is about 50 to 61, longitude about -8 to 2)."
            )
            fix = "swap the latitude and longitude values."
        elif _in_uk(np.array([y]), np.array([-x]))[0]:
            hint = (
                "the longitude looks like it has lost its minus sign (west of Greenwich is "
                "negative)."
            )
            fix = "write the longitude with a minus sign."
        elif min(x, y) >= 0 and max(x, y) <= 1_300_000 and max(x, y) > 1_000:
            hint = "they look like British National Grid eastings/northings in metres, not degrees."
            fix = "convert them to latitude/longitude (WGS 84), or give the postcode instead."
        else:
            hint = "that is outside the UK."
            fix = "check the values: give decimal degrees (WGS 84), or give the postcode instead."
        report.error(
            "outside-uk",
            f"latitude {y:g}, longitude {x:g}: {hint}",
            fix,
            row=int(frame[ROW].iat[index]),
            column="latitude",
            value=frame["latitude"].iat[index],
        )
    usable = both & inside
    return lat.where(usable), lon.where(usable)


def _coordinates_to_grid(
    lat: pd.Series, lon: pd.Series
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    easting = np.full(len(lat), np.nan)
    northing = np.full(len(lat), np.nan)
    mask = (lat.notna() & lon.notna()).to_numpy()
    if mask.any():
        e, n = bng_from_wgs84(lon.to_numpy()[mask], lat.to_numpy()[mask])
        easting[mask] = np.asarray(e, dtype=float)
        northing[mask] = np.asarray(n, dtype=float)
    return easting, northing


@lru_cache(maxsize=2)
def _postcode_tree(cache_dir: str) -> tuple[Any, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from scipy.spatial import cKDTree

    table = load_postcode_table(settings=DEFAULT_SETTINGS.with_changes(cache_dir=Path(cache_dir)))
    located = table.has_location
    points = np.column_stack([table.easting[located], table.northing[located]]).astype(float)
    force_codes = np.append(table.force_codes.astype(str), "")
    return cKDTree(points), table.force[located], force_codes


def _forces_at(
    easting: np.ndarray[Any, Any], northing: np.ndarray[Any, Any], *, settings: Settings
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Return the force code of the nearest postcode to each point, and the distance to it.

    A point further than :data:`NEAR_POSTCODE_METRES` from any postcode gets ``""``; a point
    nearest a postcode outside England and Wales gets ``""`` too.
    """
    codes = np.full(len(easting), "", dtype=object)
    distance = np.full(len(easting), np.nan)
    mask = np.isfinite(easting) & np.isfinite(northing)
    if not mask.any():
        return codes, distance
    status("Finding the police force of each coordinate…")
    tree, force_index, force_codes = _postcode_tree(str(settings.cache_dir))
    dist, nearest = tree.query(np.column_stack([easting[mask], northing[mask]]))
    force = np.asarray(force_index[nearest], dtype=np.int64)
    found = np.where((force >= 0) & (dist <= NEAR_POSTCODE_METRES), force, len(force_codes) - 1)
    codes[mask] = force_codes[found]
    distance[mask] = dist
    return codes, distance


def check_locations(
    frame: pd.DataFrame,
    report: ProblemReport,
    *,
    settings: Settings,
    lookup: Callable[..., Any] | None,
) -> pd.DataFrame:
    """Check postcodes and coordinates; return the location columns of the canonical frame."""
    lat, lon = _check_coordinates(frame, report)
    has_coordinates = lat.notna() & lon.notna()
    by_postcode = _check_postcodes(
        frame, report, has_coordinates=has_coordinates, settings=settings, lookup=lookup
    )
    c_east, c_north = _coordinates_to_grid(lat, lon)
    force_at, distance = _forces_at(c_east, c_north, settings=settings)
    for index in np.flatnonzero(has_coordinates.to_numpy()):
        row = int(frame[ROW].iat[index])
        value = f"{lat.iat[index]:g}, {lon.iat[index]:g}"
        if not distance[index] <= NEAR_POSTCODE_METRES:
            report.warning(
                "far-from-postcodes",
                f"latitude/longitude {value} is {distance[index] / 1000:.0f} km from the "
                "nearest postcode (at sea?), so the service is in no police force area.",
                "check the coordinates.",
                row=row,
                column="latitude",
                value=frame["latitude"].iat[index],
            )
        elif force_at[index] == "":
            report.warning(
                "outside-england-wales",
                f"latitude/longitude {value} is outside England and Wales, so the service is "
                "in no police force area.",
                "check the coordinates; services outside England and Wales count only "
                "through 'areas_served'.",
                row=row,
                column="latitude",
                value=frame["latitude"].iat[index],
            )
        apart = float(
            np.hypot(
                c_east[index] - by_postcode["easting"].iat[index],
                c_north[index] - by_postcode["northing"].iat[index],
            )
        )
        if apart > POSTCODE_COORDINATE_METRES:
            report.warning(
                "postcode-far-from-coordinates",
                f"latitude/longitude {value} is {apart / 1000:.0f} km from postcode "
                f"{frame['postcode'].iat[index]!r}; the coordinates are used.",
                "correct whichever of the two is wrong.",
                row=row,
                column="postcode",
                value=frame["postcode"].iat[index],
            )
    use_coordinates = has_coordinates.to_numpy()
    out = pd.DataFrame(index=frame.index)
    out["latitude"] = lat.to_numpy()
    out["longitude"] = lon.to_numpy()
    out["easting"] = np.where(use_coordinates, c_east, by_postcode["easting"].to_numpy())
    out["northing"] = np.where(use_coordinates, c_north, by_postcode["northing"].to_numpy())
    out["force_code"] = np.where(use_coordinates, force_at, by_postcode["force_code"].to_numpy())
    by_pc = by_postcode["easting"].notna().to_numpy()
    out["location_source"] = np.where(
        use_coordinates, "coordinates", np.where(by_pc, "postcode", "")
    )
    return out


_KIND_WORDS = {
    "force": "the police force area",
    "district": "the local authority district",
    "county": "the ceremonial county",
    "region": "the region",
}


def _note_readings(frame: pd.DataFrame, value: str, report: ProblemReport, noted: set[str]) -> None:
    """Say, once per name, which reading a name with several took and how to ask for another."""
    for item in value.split(";"):
        name = item.strip()
        key = name.lower()
        others = other_readings(name) if key not in noted else []
        if not others:
            continue
        noted.add(key)
        taken = resolve_area(name)
        rows = frame.loc[frame["areas_served"] == value, ROW]
        asks = "; ".join(
            f"for {_KIND_WORDS[area.kind]} {area.name} ({_districts(area)}) write {spelling!r}"
            for area, spelling in others
        )
        report.warning(
            "area-reading",
            f"{show(name)} is read as {_KIND_WORDS[taken.kind]} {taken.name} "
            f"({_districts(taken)}); {asks}.",
            "keep the name if the police force area is meant; otherwise use the spelling given.",
            row=int(rows.iloc[0]),
            column="areas_served",
            value=name,
        )


def _districts(area: Any) -> str:
    count = len(area.district_codes)
    return f"{count} district" if count == 1 else f"{count} districts"


def check_areas(frame: pd.DataFrame, report: ProblemReport) -> tuple[pd.Series, pd.Series]:
    """Resolve ``areas_served``; report unknown names; return served districts and forces."""
    column = frame["areas_served"]
    districts: dict[str, tuple[str, ...]] = {"": ()}
    forces: dict[str, tuple[str, ...]] = {"": ()}
    noted: set[str] = set()
    for value in column.unique():
        if value == "":
            continue
        areas, unresolved = resolve_areas_served(value)
        districts[value] = tuple(served_districts(areas))
        forces[value] = tuple(served_forces(areas))
        _note_readings(frame, value, report, noted)
        for item, suggestions in unresolved:
            close = list(suggestions)[:3]
            hint = " Did you mean " + " or ".join(repr(s) for s in close) + "?" if close else ""
            for row in frame.loc[column == value, ROW]:
                report.error(
                    "unknown-area",
                    f"{show(item)} is not an area servicemap knows.{hint}",
                    _FIX_AREAS,
                    row=int(row),
                    column="areas_served",
                    value=item,
                )
    return column.map(districts), column.map(forces)
