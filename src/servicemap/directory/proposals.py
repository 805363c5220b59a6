"""Proposed services as a commissioner writes them: a name, a place and what they offer.

A proposal file uses the directory's format (:mod:`servicemap.directory.schema`) but needs only
``name``, a place (``postcode``, or ``latitude`` and ``longitude``) and ``service_types``. What
it leaves out gets a default (:data:`PROPOSAL_DEFAULTS`), and what only a running service can
have is not asked for: no ``source_url`` (a service still being proposed has no public page)
and no warnings about whether it still runs. Everything else is checked exactly as the
directory is (:func:`servicemap.directory.validate.check_services`), so a bad proposal gets
the file, row, column and fix.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap.directory.problems import Problem
from servicemap.directory.validate import check_services
from servicemap.geography.areas import resolve_areas_served
from servicemap.geography.forces import district_names
from servicemap.geography.geocode import bng_from_wgs84
from servicemap.geography.postcodes import (
    PostcodeTable,
    compact_postcodes,
    load_postcode_table,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

PROPOSAL_DEFAULTS: dict[str, str] = {
    "id": "made from the name (e.g. 'proposed-maidstone-hub')",
    "scope": "local",
    "status": "active",
    "delivery": "in person",
    "areas_served": "the local authority district of its site",
}
"""What a proposal gets for each field it leaves empty, in words."""

_DEFAULT_VALUES = {"scope": "local", "status": "active", "delivery": "in_person"}

# Problems that do not apply to a service that does not exist yet: it has no public page,
# and whether it "still runs" is not a question; the defaults fill id and scope.
_WAIVED: dict[str, set[str | None]] = {
    "missing-column": {"id", "scope", "source_url"},
    "empty-required": {"source_url"},
    "status-unknown": {None},
    "stale": {None},
}

NEAR_POSTCODE_METRES = 10_000.0
"""A site given by latitude and longitude takes the district of its nearest postcode within this."""


def _waived(problem: Problem) -> bool:
    columns = _WAIVED.get(problem.code)
    return columns is not None and (None in columns or problem.column in columns)


def _slug(name: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"proposed-{words or 'service'}"


def _ids(frame: pd.DataFrame) -> pd.Series:
    """Fill empty ids from the names, numbering repeats (``-2``, ``-3``) so ids stay unique."""
    ids = frame["id"].copy()
    taken = {value.lower() for value in ids if value}
    for index in ids.index[ids == ""]:
        base = _slug(str(frame.at[index, "name"]))
        candidate, number = base, 2
        while candidate.lower() in taken:
            candidate, number = f"{base}-{number}", number + 1
        taken.add(candidate.lower())
        ids.at[index] = candidate
    return ids


def _site_districts(frame: pd.DataFrame, table: PostcodeTable) -> list[str]:
    """Return the district code of each row's site ("" where the place is not known yet)."""
    from scipy.spatial import cKDTree

    codes = np.full(len(frame), "", dtype=object)
    lat = pd.to_numeric(frame["latitude"], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(frame["longitude"], errors="coerce").to_numpy(dtype=float)
    by_coordinates = np.isfinite(lat) & np.isfinite(lon)
    rows = table.rows(compact_postcodes(frame["postcode"]))
    located = rows >= 0
    if located.any():
        where = rows[located & ~by_coordinates]
        found = table.district_codes[table.district[where]].astype(str)
        codes[np.flatnonzero(located & ~by_coordinates)] = found
    if by_coordinates.any():
        east, north = bng_from_wgs84(lon[by_coordinates], lat[by_coordinates])
        xy = np.column_stack([east, north]).astype(float)
        known = np.flatnonzero(table.has_location)
        px, py = table.easting[known].astype(float), table.northing[known].astype(float)
        pad = NEAR_POSTCODE_METRES
        near = (px >= xy[:, 0].min() - pad) & (px <= xy[:, 0].max() + pad)
        near &= (py >= xy[:, 1].min() - pad) & (py <= xy[:, 1].max() + pad)
        if near.any():
            distance, which = cKDTree(np.column_stack([px[near], py[near]])).query(xy, k=1)
            nearest = known[np.flatnonzero(near)[np.asarray(which, dtype=np.intp)]]
            found = table.district_codes[table.district[nearest]].astype(str)
            close = np.asarray(distance) <= NEAR_POSTCODE_METRES
            codes[np.flatnonzero(by_coordinates)[close]] = found[close]
    return [str(c) for c in codes]


def _district_area(code: str, names: dict[str, str]) -> str:
    """Return how ``areas_served`` names a district: its name when that reads back to it."""
    if not code or code not in names:
        return code
    areas, _ = resolve_areas_served(names[code])
    return names[code] if [a.code for a in areas] == [code] else code


def fill_proposal_defaults(
    frame: pd.DataFrame, *, settings: Settings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """Return a proposals table (as read: every field as text) with the defaults filled in.

    Parameters
    ----------
    frame
        The table as read by :func:`servicemap.directory.read.read_fields`.
    settings
        Where the postcode table is cached (to find the district of each site).

    Returns
    -------
    pandas.DataFrame
        A new table; ``attrs["defaults"]`` maps each field of :data:`PROPOSAL_DEFAULTS` to the
        number of rows that took its default.
    """
    filled = frame.copy()
    used: dict[str, int] = {}
    blank = {field: filled[field] == "" for field in PROPOSAL_DEFAULTS}
    filled["id"] = _ids(filled)
    for field, value in _DEFAULT_VALUES.items():
        filled.loc[blank[field], field] = value
    if blank["areas_served"].any():
        table = load_postcode_table(settings=settings)
        names = district_names()
        districts = _site_districts(filled.loc[blank["areas_served"]], table)
        filled.loc[blank["areas_served"], "areas_served"] = [
            _district_area(code, names) for code in districts
        ]
    used = {field: int(mask.sum()) for field, mask in blank.items() if mask.any()}
    filled.attrs["defaults"] = used
    return filled


def check_proposals(
    path: Path | str,
    *,
    settings: Settings = DEFAULT_SETTINGS,
    lookup: Callable[..., Any] | None = None,
    today: dt.date | None = None,
) -> tuple[list[Problem], pd.DataFrame | None, dict[str, int]]:
    """Check a proposals file as the directory is checked, with the proposals' defaults.

    Parameters
    ----------
    path
        CSV, XLSX, GeoJSON or Open Referral UK JSON, as for the directory.
    settings
        Where the postcode table is cached.
    lookup
        Postcode lookup (tests pass a fake), as for
        :func:`servicemap.directory.validate.validate_services`.
    today
        The date ``last_seen`` is compared with.

    Returns
    -------
    tuple
        The problems (errors first; those that do not apply to a proposal left out), the
        checked frame (None when the file is not a table), and how many rows took each
        default.
    """
    used: dict[str, int] = {}

    def fill(frame: pd.DataFrame) -> pd.DataFrame:
        filled = fill_proposal_defaults(frame, settings=settings)
        used.update(filled.attrs.get("defaults", {}))
        return filled

    problems, checked = check_services(
        path, settings=settings, lookup=lookup, today=today, fill=fill
    )
    return [p for p in problems if not _waived(p)], checked, used
