"""Candidate sites and the covering problem on real data: who is not yet within reach, and where.

The adapter layer (spopt's ``from_geodataframe``): the directory, the postcode table and the
need table in, a :class:`SiteProblem` out, whose incidence matrix the solvers of
:mod:`servicemap.analysis.cover` work on. Candidate sites are postcode districts (the outward
code, "ME14") and any sites the user lists. Distances are straight lines in British National
Grid metres, and in-person services are the ones the coverage table counts
(:func:`servicemap.analysis.reach.prepare_services`).
"""

from __future__ import annotations

import difflib
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._csv import column_key, read_csv_text
from servicemap._progress import status
from servicemap.analysis.access import DIRECT_PAIRS, distance_km
from servicemap.analysis.reach import PreparedServices, prepare_services
from servicemap.directory.schema import PROVISION_KINDS
from servicemap.errors import NeedFileError, PlanError, UnknownForceError
from servicemap.geography.areas import find_force
from servicemap.geography.forces import force_names
from servicemap.geography.geocode import bng_from_wgs84
from servicemap.geography.need import load_need
from servicemap.geography.postcodes import (
    Geography,
    PostcodeTable,
    compact_postcodes,
    geography_from_postcodes,
    load_postcode_table,
)
from servicemap.geography.residents import DEMAND_WEIGHTS, district_weights
from servicemap.settings import DEFAULT_SETTINGS, Settings

WEIGHTS: dict[str, str] = DEMAND_WEIGHTS
"""Demand weights for :func:`site_problem`, and the need-table column each one uses
(:data:`servicemap.geography.residents.DEMAND_WEIGHTS`)."""


ENGLAND_AND_WALES = "K04000001"
"""The area code of a problem over all of England and Wales."""


def _resolve_force(force: str, geography: Geography) -> str:
    """Return the force code for a code or a name; PlanError-compatible UnknownForceError."""
    if force in geography.force_index:
        return force
    code = find_force(force)
    if code not in geography.force_index:
        raise UnknownForceError(
            f"Force {force!r} ({code}) is not in the postcode table; use one of "
            f"{', '.join(geography.force_index)}."
        )
    return code


def _check_radius(radius_km: object, *, name: str = "radius_km") -> float:
    """Return a catchment radius in km; ``name`` is how the message names the argument."""
    try:
        radius = float(radius_km)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        radius = math.nan
    if not math.isfinite(radius) or radius <= 0:
        raise PlanError(
            f"The catchment radius ({name}) must be a positive distance in km, such as 10; "
            f"got {radius_km!r}."
        )
    return radius


def _check_choice(value: str, choices: Sequence[str], *, what: str, flag: str) -> str:
    if value in choices:
        return value
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise PlanError(
        f"Unknown {what} {value!r} ({flag}).{hint} Choose one of: {', '.join(choices)}."
    )


def _check_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    return _check_choice(kind, list(PROVISION_KINDS), what="kind of service", flag="--kind")


def _check_weight(weight: str) -> str:
    return _check_choice(weight, list(WEIGHTS), what="weight", flag="--weight")


# The last few district-site tables built (all of England and Wales, or one force's).
_LAST_SITES: list[tuple[weakref.ref[PostcodeTable], str | None, pd.DataFrame]] = []


def _outward_codes(codes: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bytes_]:
    """Return the outward code ("ME14") of each space-free S7 postcode ("ME141AA")."""
    raw = np.ascontiguousarray(codes.astype("S7")).view(np.uint8).reshape(-1, 7)
    length = (raw != 0).sum(axis=1)
    keep = np.arange(7)[None, :] < (length - 3)[:, None]
    outward = np.ascontiguousarray(np.where(keep, raw, 0).astype(np.uint8))
    result: npt.NDArray[np.bytes_] = outward.view("S7").ravel()
    return result


def district_sites(postcodes: PostcodeTable, *, force_code: str | None = None) -> pd.DataFrame:
    """Return one candidate site per postcode district (outward code) in England and Wales.

    A district's site is its postcode nearest the mean position of its located postcodes, so
    the site is where people live (on land) and has a real postcode. Its force and local
    authority district are that postcode's.

    Parameters
    ----------
    postcodes
        The postcode table.
    force_code
        Only the sites that lie in this force (a code in the table). The sites are the same
        as those of the whole table, but only the postcode districts with a postcode in the
        force are worked out, which is many times faster.

    Returns
    -------
    pandas.DataFrame
        Columns ``postcode_district``, ``site_postcode`` (with a space), ``easting``,
        ``northing`` (BNG metres), ``district_code`` (local authority), ``force_code`` and
        ``postcodes`` (located postcodes in the postcode district); sorted by
        ``postcode_district``.
    """
    for ref, force, sites in _LAST_SITES:
        if ref() is postcodes and force is None:
            return (sites if force_code is None else _in_force(sites, force_code)).copy()
        if ref() is postcodes and force == force_code:
            return sites.copy()
    geography = geography_from_postcodes(postcodes)
    if force_code is None:
        rows = np.flatnonzero(geography.located)
    else:
        rows = _outward_rows(postcodes, geography.located, force_code)
    sites = _sites_of(postcodes, rows)
    if force_code is not None:
        sites = _in_force(sites, force_code)
    kept = [entry for entry in _LAST_SITES if entry[0]() is postcodes][-3:]
    _LAST_SITES[:] = [*kept, (weakref.ref(postcodes), force_code, sites)]
    return sites.copy()


def _in_force(sites: pd.DataFrame, force_code: str) -> pd.DataFrame:
    return sites.loc[sites["force_code"] == force_code].reset_index(drop=True)


def _outward_rows(
    postcodes: PostcodeTable, located: npt.NDArray[np.bool_], force_code: str
) -> npt.NDArray[np.intp]:
    """Return the located rows of every postcode district that has a postcode in the force."""
    k = int(np.flatnonzero(postcodes.force_codes == force_code)[0])
    mine = np.flatnonzero(located & (postcodes.force == k))
    outward = np.unique(_outward_codes(postcodes.postcodes[mine]))
    # The table is sorted, so each outward code's postcodes lie in the range of its prefix
    # (with those of longer codes that share it, such as ME1 and ME14, dropped below).
    low = np.searchsorted(postcodes.postcodes, outward, side="left")
    high = np.searchsorted(postcodes.postcodes, np.char.add(outward, b"\xff"), side="left")
    inside = np.zeros(len(postcodes.postcodes), dtype=bool)
    for a, b in zip(low, high, strict=True):
        inside[a:b] = True
    rows = np.flatnonzero(inside & located)
    keep = np.isin(_outward_codes(postcodes.postcodes[rows]), outward)
    result: npt.NDArray[np.intp] = rows[keep].astype(np.intp)
    return result


def _sites_of(postcodes: PostcodeTable, rows: npt.NDArray[np.intp]) -> pd.DataFrame:
    """Return the district site of every postcode district among the given located rows."""
    codes = postcodes.postcodes[rows]
    x = postcodes.easting[rows].astype(np.float64)
    y = postcodes.northing[rows].astype(np.float64)
    outward, group = np.unique(_outward_codes(codes), return_inverse=True)
    count = np.bincount(group).astype(np.float64)
    mx = np.bincount(group, weights=x) / count
    my = np.bincount(group, weights=y) / count
    d2 = (x - mx[group]) ** 2 + (y - my[group]) ** 2
    order = np.lexsort((d2, group))
    first = order[np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]] if len(order) else order
    site_codes = codes[first].astype(str)
    district = postcodes.district[rows][first].astype(np.intp)
    force = postcodes.district_force[district].astype(np.intp)
    return pd.DataFrame(
        {
            "postcode_district": outward.astype(str),
            "site_postcode": [f"{c[:-3]} {c[-3:]}" for c in site_codes],
            "easting": x[first],
            "northing": y[first],
            "district_code": postcodes.district_codes[district].astype(str),
            "force_code": postcodes.force_codes[force].astype(str),
            "postcodes": count.astype(np.int64),
        }
    )


_SITE_COLUMNS = {
    "name": ("name", "site", "site_name", "label"),
    "postcode": ("postcode", "post_code", "postal_code"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
    "cost": ("cost", "site_cost", "cost_gbp"),
}


def read_candidate_sites(path: Path | str) -> pd.DataFrame:
    """Read a user's candidate sites: a CSV with a postcode or latitude/longitude, and a name.

    Parameters
    ----------
    path
        The CSV file. Columns (any case): ``postcode``, or ``latitude`` and ``longitude``
        (WGS84 degrees), or both; ``name`` and ``cost`` (what a new service there would cost,
        for ``--budget``) are optional. Other columns are ignored.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``postcode``, ``latitude``, ``longitude``, ``cost`` (text, ``""``
        when empty) and ``row`` (the spreadsheet row, header = 1); ``attrs["source"]`` is the
        file name.

    Raises
    ------
    PlanError
        If the file cannot be read, has no rows or has neither a postcode nor a latitude and
        longitude column.
    """
    file = str(path)
    table = read_csv_text(path, error=PlanError)
    keys = {column_key(c): c for c in table.columns}
    found = {
        field: next((keys[column_key(a)] for a in aliases if column_key(a) in keys), None)
        for field, aliases in _SITE_COLUMNS.items()
    }
    has_coordinates = found["latitude"] is not None and found["longitude"] is not None
    if found["postcode"] is None and not has_coordinates:
        raise PlanError(
            f"Candidate sites file {file!r} needs a 'postcode' column or "
            f"'latitude' and 'longitude' columns (found: {', '.join(map(str, table.columns))})."
        )
    if table.empty:
        raise PlanError(
            f"Candidate sites file {file!r} has a header but no sites; add one row per site."
        )
    sites = pd.DataFrame(
        {
            field: (table[column].astype(str).str.strip() if column is not None else "")
            for field, column in found.items()
        },
        index=table.index,
    )
    sites["row"] = np.arange(2, len(sites) + 2)
    sites.attrs["source"] = file
    return sites.reset_index(drop=True)


def _locate_sites(sites: pd.DataFrame, postcodes: PostcodeTable) -> pd.DataFrame:
    """Give user candidate sites a place, postcode district, local authority and force."""
    source = str(sites.attrs.get("source", "candidate sites"))
    geography = geography_from_postcodes(postcodes)

    def text(column: str) -> pd.Series:
        if column not in sites.columns:
            return pd.Series("", index=sites.index, dtype=object)
        return sites[column].fillna("").astype(str).str.strip()

    names, codes = text("name"), text("postcode")
    costs = _site_costs(text("cost"), rows=sites, source=source)
    lats = pd.to_numeric(text("latitude").replace("", None), errors="coerce")
    lons = pd.to_numeric(text("longitude").replace("", None), errors="coerce")
    rows = sites["row"] if "row" in sites.columns else pd.Series(sites.index + 2, sites.index)
    located = geography.located
    postcode_rows = postcodes.rows(compact_postcodes(codes))
    places: list[tuple[float, float, int, str]] = []
    for i in range(len(sites)):
        own, index = False, -1
        where = f"{source}:{int(rows.iat[i])}"
        lat, lon = lats.iat[i], lons.iat[i]
        if np.isfinite(lat) and np.isfinite(lon):
            if not (49.8 <= lat <= 60.9 and -8.7 <= lon <= 1.8):
                raise PlanError(
                    f"{where}: column 'latitude': {lat:g}, {lon:g} is not in the UK; give "
                    "decimal degrees (WGS84), e.g. 51.27, 0.52."
                )
            e, n = bng_from_wgs84([lon], [lat])
            x, y = float(e[0]), float(n[0])
        elif codes.iat[i]:
            index = int(postcode_rows[i])
            if index < 0:
                raise PlanError(
                    f"{where}: column 'postcode': {codes.iat[i]!r} is not a known postcode; "
                    "check it, or give latitude and longitude instead."
                )
            if not located[index]:
                raise PlanError(
                    f"{where}: column 'postcode': {codes.iat[i]!r} has no location in England "
                    "and Wales; give a street postcode in England or Wales, or latitude and "
                    "longitude."
                )
            x, y = float(postcodes.easting[index]), float(postcodes.northing[index])
            own = True
        else:
            raise PlanError(
                f"{where}: the site has neither a postcode nor latitude and longitude; give "
                "one of them (or delete the row)."
            )
        places.append((x, y, int(index) if own else -1, where))
    records = _site_records(places, names, postcodes, located)
    records["cost"] = costs
    return records


def _site_costs(values: pd.Series, *, rows: pd.DataFrame, source: str) -> npt.NDArray[np.float64]:
    """Return each candidate's cost (NaN when blank); raise for one that is not an amount."""
    numbers = pd.to_numeric(
        values.str.replace(",", "", regex=False).str.replace("£", "", regex=False).str.strip(),
        errors="coerce",
    ).to_numpy(dtype=np.float64)
    given = (values != "").to_numpy()
    bad = given & ~(np.isfinite(numbers) & (numbers > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = int(rows["row"].iat[i]) if "row" in rows.columns else i + 2
        raise PlanError(
            f"{source}:{row}: column 'cost': {values.iat[i]!r} is not a positive amount; "
            "give a number such as 120000 (or leave it empty to use --cost)."
        )
    return np.where(given, numbers, np.nan)


def _site_records(
    places: list[tuple[float, float, int, str]],
    names: pd.Series,
    postcodes: PostcodeTable,
    located: npt.NDArray[np.bool_],
) -> pd.DataFrame:
    """Give located sites their postcode (own, or the nearest), district and force."""
    from scipy.spatial import cKDTree

    xy = np.array([(x, y) for x, y, _, _ in places], dtype=np.float64).reshape(-1, 2)
    located_rows = np.flatnonzero(located)
    px = postcodes.easting[located].astype(np.float64)
    py = postcodes.northing[located].astype(np.float64)
    # Only postcodes near the sites: a tree over all 2.4 million would cost more than the query.
    near = (
        (px >= xy[:, 0].min() - 20_000)
        & (px <= xy[:, 0].max() + 20_000)
        & (py >= xy[:, 1].min() - 20_000)
        & (py <= xy[:, 1].max() + 20_000)
    )
    distance = np.full(len(xy), np.inf)
    nearest = np.zeros(len(xy), dtype=np.intp)
    if near.any():
        found, which = cKDTree(np.column_stack([px[near], py[near]])).query(xy, k=1)
        distance = np.asarray(found, dtype=np.float64)
        nearest = located_rows[np.flatnonzero(near)[np.asarray(which, dtype=np.intp)]]
    records = []
    for i, (x, y, own, where) in enumerate(places):
        if not distance[i] <= 10_000.0:
            shown = "more than 20" if not np.isfinite(distance[i]) else f"{distance[i] / 1000:.0f}"
            raise PlanError(
                f"{where}: the site is {shown} km from the nearest postcode in England and "
                "Wales; check its latitude and longitude."
            )
        row = own if own >= 0 else int(nearest[i])
        district = int(postcodes.district[row])
        code = str(postcodes.postcodes[row].decode())
        records.append(
            {
                "postcode_district": code[:-3],
                "name": names.iat[i],
                "site_postcode": f"{code[:-3]} {code[-3:]}",
                "easting": x,
                "northing": y,
                "district_code": str(postcodes.district_codes[district]),
                "force_code": str(postcodes.force_codes[postcodes.district_force[district]]),
                "source": "your candidates",
            }
        )
    return pd.DataFrame(records)


@dataclass(frozen=True)
class SiteProblem:
    """A maximal covering problem built from the directory, the postcodes and the need table.

    Attributes
    ----------
    candidates
        Candidate sites in tie-break order (postcode district, then name): ``postcode_district``,
        ``name``, ``site_postcode``, ``easting``, ``northing``, ``district_code``,
        ``force_code``, ``source`` (``"postcode district"`` or ``"your candidates"``), ``cost``
        (NaN when not known).
    cover
        Candidates x demand cells (scipy sparse): 1 where the cell is within the radius.
    weights
        Weighted residents per demand cell (only residents not yet within reach).
    grid_m
        The demand cells' size in metres.
    area_code, area_name
        The force (or ``K04000001``, England and Wales) whose residents count.
    kind, radius_km, weight
        As asked.
    resident_xy, resident_weight, reached_before
        The area's located postcodes (BNG metres), the residents each carries and whether it is
        already within ``radius_km`` of an existing in-person service: to score a choice
        exactly, postcode by postcode.
    """

    candidates: pd.DataFrame
    cover: Any
    weights: npt.NDArray[np.float64]
    grid_m: float
    area_code: str
    area_name: str
    kind: str | None
    radius_km: float
    weight: str
    resident_xy: npt.NDArray[np.float64]
    resident_weight: npt.NDArray[np.float64]
    reached_before: npt.NDArray[np.bool_]

    def __getstate__(self) -> dict[str, Any]:
        """Keep the matrix as its arrays, so that reading a kept plan back needs no scipy."""
        state = dict(self.__dict__)
        cover = state.pop("cover", None)
        if cover is not None:
            state["_cover_parts"] = (cover.data, cover.indices, cover.indptr, cover.shape)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a kept problem; its matrix is made again when first used."""
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        """Make the matrix of a kept problem from its arrays (scipy loads in about 0.15 s)."""
        parts = self.__dict__.get("_cover_parts")
        if name != "cover" or parts is None:
            raise AttributeError(name)
        from scipy.sparse import csr_array

        data, indices, indptr, shape = parts
        cover = csr_array((data, indices, indptr), shape=shape)
        object.__setattr__(self, "cover", cover)
        return cover

    @property
    def residents(self) -> float:
        """Weighted residents of the area."""
        return float(self.resident_weight.sum())

    @property
    def reach_before(self) -> float:
        """Weighted residents already within ``radius_km`` of an in-person service."""
        return float(self.resident_weight[self.reached_before].sum())

    def newly_reached(self, chosen: Sequence[int]) -> npt.NDArray[np.float64]:
        """Return the residents each chosen site brings within reach, in order, by postcode."""
        reached = self.reached_before.copy()
        gains = np.zeros(len(chosen))
        for step, j in enumerate(chosen):
            x, y = self.candidates[["easting", "northing"]].to_numpy(dtype=float)[j]
            near = (
                np.hypot(self.resident_xy[:, 0] - x, self.resident_xy[:, 1] - y) / 1000.0
                <= self.radius_km
            )
            new = near & ~reached
            gains[step] = float(self.resident_weight[new].sum())
            reached |= near
        return gains


def grid_size_m(radius_km: float) -> float:
    """Return the demand cell size for a radius: R/40, between 250 m and 1 km.

    Parameters
    ----------
    radius_km
        The catchment radius in km.

    Returns
    -------
    float
        Cell size in metres.
    """
    return float(min(1000.0, max(250.0, radius_km * 1000.0 / 40.0)))


def site_problem(
    services: pd.DataFrame,
    *,
    force_code: str | None = None,
    kind: str | None = None,
    radius_km: float = 10,
    weight: str = "born_outside_uk",
    candidates: pd.DataFrame | None = None,
    need: pd.DataFrame | None = None,
    postcodes: PostcodeTable | None = None,
    cost: float | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> SiteProblem:
    """Build the covering problem: who is not yet within reach, and which sites would reach them.

    Demand is every located postcode of the force (or of England and Wales), carrying
    ``need[weight column] / located postcodes in its force`` residents, as in the coverage
    table. Postcodes already within ``radius_km`` of an existing in-person service (of
    ``kind``) are left out; the rest are summed into :func:`grid_size_m` squares.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    force_code
        A force code or name; ``None`` for all of England and Wales.
    kind
        A key of :data:`servicemap.directory.schema.PROVISION_KINDS`: only existing services of
        that kind count as reach. ``None``: every in-person service.
    radius_km
        Catchment radius in km.
    weight
        A key of :data:`WEIGHTS`, spread over each district's located postcodes.
    candidates
        Extra candidate sites (:func:`read_candidate_sites`), beside the postcode districts.
    need
        Need per district (or per force); ``None`` for the bundled figures per district.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    cost
        The cost of a site with none of its own (every postcode-district site), for a budget.
    settings
        Where the postcode table is cached.

    Returns
    -------
    SiteProblem
        The candidates, the cells and their incidence matrix.
    """
    kind = _check_kind(kind)
    radius = _check_radius(radius_km)
    weight = _check_weight(weight)
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    geography = geography_from_postcodes(table)
    code = _resolve_force(force_code, geography) if force_code is not None else None
    area_name = force_names().get(code, code) if code else "England and Wales"
    need = load_need(level="district") if need is None else need
    status("Finding who is not yet within reach…")
    xy, resident_weight = _residents(geography, need, weight, code=code, area_name=area_name)
    prepared = prepare_services(services, geography)
    reached = _within_reach(prepared, kind, xy, radius)
    sites = _candidate_table(table, code, candidates, cost=cost)
    grid = grid_size_m(radius)
    cell_xy, cell_w = _demand_cells(xy[~reached], resident_weight[~reached], grid)
    cover = _incidence(sites[["easting", "northing"]].to_numpy(dtype=np.float64), cell_xy, radius)
    return SiteProblem(
        candidates=sites,
        cover=cover,
        weights=cell_w.astype(np.float64),
        grid_m=grid,
        area_code=code or ENGLAND_AND_WALES,
        area_name=area_name,
        kind=kind,
        radius_km=radius,
        weight=weight,
        resident_xy=xy,
        resident_weight=resident_weight,
        reached_before=reached,
    )


def _residents(
    geography: Geography, need: pd.DataFrame, weight: str, *, code: str | None, area_name: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the area's located postcodes (BNG metres) and the people each carries.

    For one force only its postcodes are gathered (in the order of ``geography.resident_xy``),
    so a force's plan does not arrange every postcode of England and Wales first.
    """
    column = WEIGHTS[weight]
    if column not in need.columns:
        raise PlanError(
            f"The need table has no {column!r} figure, needed for weight {weight!r}; pass a "
            "need table per district like the bundled data/need/district_need.csv, or choose "
            "another weight."
        )
    try:
        per_district = district_weights(geography, need, column)
    except NeedFileError as exc:
        raise PlanError(f"{str(exc).rstrip('.')}; needed for weight {weight!r}.") from exc
    if code is None:
        per_postcode = per_district[geography.resident_district].astype(np.float64)
        if not np.isfinite(per_postcode).all():
            raise PlanError(
                f"The need table lacks {column!r} for some forces; choose another weight or "
                "fill them in."
            )
        return geography.resident_xy, per_postcode
    table = geography.table
    rows = np.flatnonzero(geography.located & (table.force == geography.force_index[code]))
    xy = np.column_stack([table.easting[rows], table.northing[rows]]).astype(np.float64)
    per_postcode = per_district[table.district[rows]].astype(np.float64)
    if not np.isfinite(per_postcode).all():
        raise PlanError(
            f"The need table has no {column!r} figure for {area_name}; choose "
            "another weight or fill it in."
        )
    return xy, per_postcode


_CANDIDATE_COLUMNS = [
    "postcode_district",
    "name",
    "site_postcode",
    "easting",
    "northing",
    "district_code",
    "force_code",
    "source",
    "cost",
]


def _candidate_table(
    table: PostcodeTable,
    code: str | None,
    candidates: pd.DataFrame | None,
    *,
    cost: float | None = None,
) -> pd.DataFrame:
    """Return the force's postcode-district sites and the user's, in tie-break order.

    Postcode-district sites cost ``cost`` (NaN when None), and so do the user's sites that
    give no cost of their own.
    """
    default = np.nan if cost is None else float(cost)
    sites = district_sites(table, force_code=code)
    sites["name"] = ""
    sites["source"] = "postcode district"
    sites["cost"] = default
    if candidates is not None and len(candidates):
        yours = _locate_sites(candidates, table)
        yours["cost"] = yours["cost"].fillna(default)
        sites = pd.concat([sites, yours], ignore_index=True)
    sites = sites[_CANDIDATE_COLUMNS].sort_values(
        ["postcode_district", "name", "site_postcode"], kind="stable"
    )
    return sites.reset_index(drop=True)


def _demand_cells(
    open_xy: npt.NDArray[np.float64], open_w: npt.NDArray[np.float64], grid: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Sum residents into ``grid``-metre squares, each placed at the mean of its postcodes."""
    if not len(open_xy):
        return np.zeros((0, 2)), np.zeros(0)
    cell_x = np.floor(open_xy[:, 0] / grid).astype(np.int64)
    cell_y = np.floor(open_xy[:, 1] / grid).astype(np.int64)
    _, cell = np.unique(cell_x * 10_000_000 + cell_y, return_inverse=True)
    count = np.bincount(cell).astype(np.float64)
    cell_xy = np.column_stack(
        [
            np.bincount(cell, weights=open_xy[:, 0]) / count,
            np.bincount(cell, weights=open_xy[:, 1]) / count,
        ]
    )
    cell_w: npt.NDArray[np.float64] = np.bincount(cell, weights=open_w).astype(np.float64)
    return cell_xy, cell_w


def _incidence(
    site_xy: npt.NDArray[np.float64], cell_xy: npt.NDArray[np.float64], radius: float
) -> Any:
    """Return the sites x cells matrix (scipy sparse): 1 where a cell is within the radius."""
    from scipy.sparse import csr_array

    if len(cell_xy) and len(site_xy):
        near = _cells_within(site_xy, cell_xy, radius * 1000.0)
        lengths = np.array([len(v) for v in near], dtype=np.int64)
        indices = (
            np.concatenate([np.sort(np.asarray(v, dtype=np.int64)) for v in near])
            if lengths.sum()
            else np.zeros(0, dtype=np.int64)
        )
    else:
        lengths = np.zeros(len(site_xy), dtype=np.int64)
        indices = np.zeros(0, dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    return csr_array((np.ones(len(indices)), indices, indptr), shape=(len(site_xy), len(cell_xy)))


def _cells_within(
    site_xy: npt.NDArray[np.float64], cell_xy: npt.NDArray[np.float64], metres: float
) -> list[Any]:
    """Return, per site, the cells within ``metres`` (as the k-d tree's ball query finds them).

    A force's sites and cells are few enough to compare directly (the same squared distances
    against the same squared radius); England and Wales's use the tree.
    """
    if len(site_xy) * len(cell_xy) > DIRECT_PAIRS:
        from scipy.spatial import cKDTree

        found: list[Any] = cKDTree(cell_xy).query_ball_point(site_xy, r=metres, workers=-1)
        return found
    limit = metres * metres
    x, y = cell_xy[:, 0], cell_xy[:, 1]
    found = []
    for sx, sy in site_xy:
        dx, dy = x - sx, y - sy
        found.append(np.flatnonzero(dx * dx + dy * dy <= limit))
    return found


def _within_reach(
    prepared: PreparedServices, kind: str | None, xy: npt.NDArray[np.float64], radius: float
) -> npt.NDArray[np.bool_]:
    """Return which of ``xy`` are within ``radius`` km of an in-person service (of ``kind``)."""
    existing = prepared.in_person & (prepared.kinds[kind] if kind else True)
    points = prepared.access_xy[existing]
    points = points[np.isfinite(points).all(axis=1)]
    reached: npt.NDArray[np.bool_] = distance_km(points, xy) <= radius
    return reached
