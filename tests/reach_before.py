"""The served-area and location rules as they were before vectorising (the reference).

A verbatim copy of ``servicemap.analysis.reach.prepare_services`` and its helpers as of
d5667d1, which worked row by row in places; tests/test_reach_equal.py checks that the fast
version gives exactly the same arrays. Do not change it to follow the package.

Original summary: who each service reaches: served areas, in-person locations and distances.

Everything here is vectorised over services and postcodes: a service's served area is a set of
districts, a force is a set of districts, and residents are spread over the located postcodes of
their force. Coverage, profiles, "near" searches and plans are all built on
:func:`prepare_services`, so they apply the same rules; distances from residents to in-person
services are measured in :mod:`servicemap.analysis.access`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap.directory.schema import DELIVERY, PROVISION_KINDS, postal_only
from servicemap.errors import DataQualityWarning, ServicesFileError
from servicemap.geography.postcodes import (
    POSTCODE_AS_TYPED,
    Geography,
    ParsedPostcodes,
    _upper_ascii,
    _with_space,
    compact_postcodes,
    postcode_keys,
)

_REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "scope",
    "service_types",
    "served_districts",
    "easting",
    "northing",
    "confidential",
)


_SCOPE_CODE = {"local": 0, "regional": 1, "national": 2}
_LEVEL_NAMES = np.array(list(_SCOPE_CODE))  # by level code
# Details and public contact fields of a service, as listed by profiles and "near" searches.
_DETAIL_COLUMNS = ("service_types", "delivery")
_SUPPORT_COLUMNS = (
    "by_and_for",
    "nrpf_support",
    "phone",
    "website",
    "address",
    "postcode",
    "focus",
    "status",
    "last_seen",
)


@dataclass(frozen=True)
class PreparedServices:
    """Per-service flags and served areas, as arrays aligned with the services frame's rows.

    Build it with :func:`prepare_services`; every measure of the coverage table, the profiles
    and the plans is computed from these arrays, so they all apply the same rules.

    Attributes
    ----------
    area
        Index into the unique served areas; -1 when none.
    area_districts, area_forces
        Unique areas x districts and unique areas x forces: which each area covers.
    level
        0 local, 1 regional, 2 national.
    active
        Not ended.
    kinds
        Per kind of provision (:data:`servicemap.directory.schema.PROVISION_KINDS`): offers it.
    by_and_for, nrpf, confidential
        By and for the communities it serves; supports women with no recourse to public funds;
        location confidential.
    in_person
        Active, located and reachable in person: ``delivery`` says ``in_person`` or ``both``,
        or is empty and the service publishes a street address or postcode; never a postal-only
        address (PO Box, Freepost).
    postal
        Its published address is postal only (:func:`servicemap.directory.schema.postal_only`).
    xy
        True location in BNG metres (NaN where none); never output for confidential services.
    access_xy
        ``xy``, but confidential services moved to the centre of their district; NaN unless
        ``in_person``.
    location_force
        Force index of the location; -1 when none.
    location_district
        District index of the location (from its postcode, else the nearest district centroid);
        -1 when none.
    """

    area: npt.NDArray[np.intp]
    area_districts: npt.NDArray[np.bool_]
    area_forces: npt.NDArray[np.bool_]
    level: npt.NDArray[np.int8]
    active: npt.NDArray[np.bool_]
    kinds: dict[str, npt.NDArray[np.bool_]]
    by_and_for: npt.NDArray[np.bool_]
    nrpf: npt.NDArray[np.bool_]
    confidential: npt.NDArray[np.bool_]
    in_person: npt.NDArray[np.bool_]
    postal: npt.NDArray[np.bool_]
    xy: npt.NDArray[np.float64]
    access_xy: npt.NDArray[np.float64]
    location_force: npt.NDArray[np.intp]
    location_district: npt.NDArray[np.intp]


def _text(services: pd.DataFrame, column: str) -> pd.Series:
    if column not in services.columns:
        return pd.Series("", index=services.index, dtype=object)
    # Cleaned once per distinct value: a large directory repeats few values.
    codes, uniques = pd.factorize(services[column], use_na_sentinel=True)
    distinct = pd.Series([*uniques, None]).fillna("").astype(str).str.strip().str.lower()
    return pd.Series(distinct.to_numpy()[codes], index=services.index, dtype=distinct.dtype)


def _has_type(types: pd.Series, wanted: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    pattern = r"(?:^|;)\s*(?:" + "|".join(re.escape(w) for w in wanted) + r")\s*(?=;|$)"
    codes, uniques = pd.factorize(types)
    distinct = pd.Series(uniques, dtype=types.dtype).str.contains(pattern, regex=True)
    found: npt.NDArray[np.bool_] = distinct.to_numpy(dtype=bool)[codes]
    return found


def _nearest_district(geography: Geography, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Return the district whose postcode centroid is nearest each point (-1 for NaN points)."""
    from scipy.spatial import cKDTree

    out = np.full(len(xy), -1, dtype=np.intp)
    ok = np.isfinite(xy).all(axis=1)
    candidates = np.flatnonzero(geography.district_count > 0)
    if ok.any() and len(candidates):
        _, nearest = cKDTree(geography.district_xy[candidates]).query(xy[ok], k=1)
        out[ok] = candidates[nearest]
    return out


def _check_columns(services: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED_COLUMNS if c not in services.columns]
    if missing:
        raise ServicesFileError(
            f"The services frame is missing column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, services.columns))}); build it with "
            "servicemap.directory.load.load_services."
        )


def prepare_services(services: pd.DataFrame, geography: Geography) -> PreparedServices:
    """Turn the canonical services frame into arrays the coverage measures are built from.

    Parameters
    ----------
    services
        The canonical services frame (``servicemap.directory.load.load_services``). Not
        modified.
    geography
        From :func:`servicemap.geography.postcodes.geography_from_postcodes`.

    Returns
    -------
    PreparedServices
        Flags, served areas and locations, one entry per row of ``services``.

    Raises
    ------
    ServicesFileError
        If the frame lacks a column the measures need.
    """
    _check_columns(services)
    types = _text(services, "service_types")
    active = (_text(services, "status") != "ended").to_numpy(dtype=bool)
    confidential = services["confidential"].fillna(False).astype(bool).to_numpy()
    by_and_for = (_text(services, "by_and_for") == "yes").to_numpy(dtype=bool)
    nrpf = (_text(services, "nrpf_support") == "yes").to_numpy(dtype=bool)
    kinds = {kind: _has_type(types, wanted) for kind, wanted in PROVISION_KINDS.items()}
    kinds["nrpf_accommodation"] = kinds["nrpf_accommodation"] & nrpf
    xy, home_district, location_force = _locations(services, geography)
    has_xy = _has_xy(services, xy)
    area, area_districts, area_forces, level = _served_areas(
        services, geography, _text(services, "scope"), home_district, location_force
    )
    hinted = _hinted(services)
    postal = postal_only(services).to_numpy(dtype=bool, copy=True)
    if hinted.any():
        postal[hinted] = services[_POSTAL_HINT].to_numpy()[hinted].astype(bool)
    in_person, access_xy = _access_points(
        services,
        geography,
        xy,
        home_district,
        has_xy=has_xy,
        active=active,
        confidential=confidential,
        postal=postal,
    )
    return PreparedServices(
        area=area,
        area_districts=area_districts,
        area_forces=area_forces,
        level=level,
        active=active,
        kinds=kinds,
        by_and_for=by_and_for,
        nrpf=nrpf,
        confidential=confidential,
        in_person=in_person,
        postal=postal,
        xy=xy,
        access_xy=access_xy,
        location_force=location_force,
        location_district=np.where(has_xy, home_district, -1).astype(np.intp),
    )


# --- a public frame that still counts like the full one -------------------------------------

#: Columns :func:`with_location_hints` adds: what the measures need from a service's place, at
#: district level, so that a frame whose confidential places are withheld counts the same.
_DISTRICT_HINT, _LOCATED_HINT, _POSTAL_HINT = "_home_district", "_located", "_postal"
HINT_COLUMNS: tuple[str, ...] = (_DISTRICT_HINT, _LOCATED_HINT, _POSTAL_HINT)


def _hinted(services: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Rows that carry hints (a row added to a hinted frame later, e.g. a proposal, does not)."""
    found = np.ones(len(services), dtype=bool)
    for column in HINT_COLUMNS:
        if column not in services.columns:
            return np.zeros(len(services), dtype=bool)
        found &= services[column].notna().to_numpy(dtype=bool)
    return found


def _has_xy(services: pd.DataFrame, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    located = np.asarray(np.isfinite(xy).all(axis=1), dtype=bool)  # a new array
    hinted = _hinted(services)
    if hinted.any():
        located[hinted] = services[_LOCATED_HINT].to_numpy()[hinted].astype(bool)
    return located


def with_location_hints(services: pd.DataFrame, geography: Geography) -> pd.DataFrame:
    """Return a copy of the services frame with the district-level facts of their places.

    The copy gains :data:`HINT_COLUMNS`: the code of the district each service is based in
    (from its postcode, else the district whose centre is nearest its point; ``""`` when
    none), whether it has a point, and whether its address is postal only. With them,
    :func:`prepare_services` counts a frame whose confidential services have lost their
    address, postcode and coordinates (:func:`servicemap.directory.privacy.public_services`)
    exactly as it counts the full frame: a confidential service counts for access only at the
    centre of its district, and that is all it needs. No hint is finer than a district.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    geography
        From :func:`servicemap.geography.postcodes.geography_from_postcodes`.

    Returns
    -------
    pandas.DataFrame
        The frame with the three columns added (replaced if already there).
    """
    plain = services.drop(columns=[c for c in HINT_COLUMNS if c in services.columns])
    xy, home_district, _ = _locations(plain, geography)
    codes = geography.table.district_codes.astype(str)
    return plain.assign(
        **{
            _DISTRICT_HINT: np.where(home_district >= 0, codes[np.maximum(home_district, 0)], ""),
            _LOCATED_HINT: np.isfinite(xy).all(axis=1),
            _POSTAL_HINT: postal_only(plain).to_numpy(dtype=bool),
        }
    )


def _locations(
    services: pd.DataFrame, geography: Geography
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Return each service's location (BNG metres), home district and location force."""
    table = geography.table
    xy = np.column_stack(
        [
            pd.to_numeric(services["easting"], errors="coerce").to_numpy(dtype=np.float64),
            pd.to_numeric(services["northing"], errors="coerce").to_numpy(dtype=np.float64),
        ]
    )
    has_xy = _has_xy(services, xy)
    # The district a service is based in: from its postcode, else the nearest district centroid;
    # in a public frame, as found before a confidential service's place was withheld.
    hinted = _hinted(services)
    rows = _rows_before(table.postcodes, compact_postcodes(_text(services, "postcode")))
    home_district = np.where(rows >= 0, table.district[np.maximum(rows, 0)], -1).astype(np.intp)
    if hinted.any():
        index = geography.district_index
        hints = services[_DISTRICT_HINT].to_numpy()[hinted]
        home_district[hinted] = [index.get(str(code), -1) if code else -1 for code in hints]
    guess = (home_district < 0) & has_xy & ~hinted
    if guess.any():
        home_district[guess] = _nearest_district(geography, xy[guess])
    return xy, home_district, _location_force(services, geography, has_xy)


def _rows_before(postcodes: npt.NDArray[np.bytes_], codes: npt.NDArray[np.bytes_]) -> Any:
    """``PostcodeTable.rows`` as it was: a search on the byte strings."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.intp)
    rows = np.minimum(np.searchsorted(postcodes, codes), len(postcodes) - 1)
    found = (postcodes[rows] == codes) & (codes != b"")
    return np.where(found, rows, -1).astype(np.intp)


def _location_force(
    services: pd.DataFrame, geography: Geography, has_xy: npt.NDArray[np.bool_]
) -> npt.NDArray[np.intp]:
    """Return the force index of each service's location (-1 when it has none)."""
    location_force = np.full(len(services), -1, dtype=np.intp)
    if "force_code" in services.columns:
        location_force = np.array(
            [geography.force_index.get(str(c), -1) for c in services["force_code"]],
            dtype=np.intp,
        )
    return np.where(has_xy, location_force, -1).astype(np.intp)


def _access_points(
    services: pd.DataFrame,
    geography: Geography,
    xy: npt.NDArray[np.float64],
    home_district: npt.NDArray[np.intp],
    *,
    has_xy: npt.NDArray[np.bool_],
    active: npt.NDArray[np.bool_],
    confidential: npt.NDArray[np.bool_],
    postal: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Return which services count as in person, and where they count for access."""
    delivery = _text(services, "delivery")
    published = (_text(services, "address") != "") | (_text(services, "postcode") != "")
    public_place = published.to_numpy(dtype=bool) & ~confidential
    said_in_person = delivery.isin(["in_person", "both"]).to_numpy(dtype=bool)
    unknown_delivery = (~delivery.isin(DELIVERY)).to_numpy(dtype=bool)
    # A PO Box or Freepost address is where letters go, not a place to visit.
    in_person = active & has_xy & ~postal
    in_person &= said_in_person | (unknown_delivery & public_place)
    # A confidential service counts for access only at the centroid of its district, so no
    # published share can be traced back to a point finer than the district it serves.
    access_xy = xy.copy()
    snap = confidential & in_person
    snap_ok = snap & (home_district >= 0)
    snap_ok &= geography.district_count[np.maximum(home_district, 0)] > 0
    if snap_ok.any():  # district centres are worked out on first use
        access_xy[snap_ok] = geography.district_xy[home_district[snap_ok]]
    in_person = in_person & ~(snap & ~snap_ok)
    access_xy[~in_person] = np.nan
    return in_person, access_xy


def _served_areas(
    services: pd.DataFrame,
    geography: Geography,
    scope: pd.Series,
    home_district: npt.NDArray[np.intp],
    location_force: npt.NDArray[np.intp],
) -> tuple[
    npt.NDArray[np.intp], npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.int8]
]:
    """Return each service's unique-area index, the area x district and area x force matrices."""
    district_force = geography.table.district_force.astype(np.intp)
    scope_values = scope.to_numpy()
    keys = _area_keys(services, geography, scope_values, home_district, location_force)
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    area_districts = _area_districts(uniques, geography)
    onehot = np.zeros((geography.n_districts, geography.n_forces), dtype=np.int32)
    in_ew = district_force >= 0
    onehot[np.flatnonzero(in_ew), district_force[in_ew]] = 1
    area_forces = (area_districts.astype(np.int32) @ onehot) > 0
    area = np.asarray(codes, dtype=np.intp)
    empty: npt.NDArray[np.bool_] = ~np.any(area_districts, axis=1)
    area = np.where((area >= 0) & ~empty[np.maximum(area, 0)], area, -1)
    # Scope from the directory; when it is missing or not in the vocabulary, from the reach.
    n_forces_served = area_forces.sum(axis=1)[np.maximum(area, 0)] * (area >= 0)
    derived = np.where(
        n_forces_served >= max(geography.n_forces, 1), 2, np.where(n_forces_served > 1, 1, 0)
    )
    level = np.array([_SCOPE_CODE.get(s, -1) for s in scope_values], dtype=np.int8)
    level = np.where(level >= 0, level, derived).astype(np.int8)
    return area, area_districts, area_forces, level


def _area_keys(
    services: pd.DataFrame,
    geography: Geography,
    scope_values: npt.NDArray[Any],
    home_district: npt.NDArray[np.intp],
    location_force: npt.NDArray[np.intp],
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Return each service's served (districts, forces), filling in the ones it does not give."""
    table = geography.table
    district_force = table.district_force.astype(np.intp)
    ew_districts = tuple(
        str(c) for c, f in zip(table.district_codes, district_force, strict=True) if f >= 0
    )
    # Plain lists and comprehensions: a large directory has a million rows to go through.
    districts = [tuple(v) if _is_seq(v) else () for v in services["served_districts"].tolist()]
    forces = (
        [tuple(v) if _is_seq(v) else () for v in services["served_forces"].tolist()]
        if "served_forces" in services.columns
        else [()] * len(services)
    )
    keys: list[tuple[tuple[str, ...], tuple[str, ...]]] = list(zip(districts, forces, strict=True))
    no_area = 0
    for i in [i for i, (ds, fs) in enumerate(keys) if not ds and not fs]:
        # No stated area: a national service serves England and Wales; any other serves the
        # district it is based in (or its whole force when the district is not known).
        if scope_values[i] == "national":
            keys[i] = (ew_districts, ())
        elif home_district[i] >= 0 and district_force[home_district[i]] >= 0:
            keys[i] = ((str(table.district_codes[home_district[i]]),), ())
        elif location_force[i] >= 0:
            keys[i] = ((), (str(table.force_codes[location_force[i]]),))
        else:
            no_area += 1
    if no_area:
        warnings.warn(
            f"{no_area} service(s) give no area served and no location; they are left out of "
            "the served-area measures. Fill in 'areas_served' to count them.",
            DataQualityWarning,
            stacklevel=5,
        )
    return keys


def _area_districts(uniques: Any, geography: Geography) -> npt.NDArray[np.bool_]:
    """Return the unique areas x districts matrix: which districts each area covers."""
    district_force = geography.table.district_force.astype(np.intp)
    area_districts = np.zeros((len(uniques), geography.n_districts), dtype=bool)
    unknown: set[str] = set()
    for u, (ds, fs) in enumerate(uniques):
        for d in ds:
            j = geography.district_index.get(str(d))
            if j is None:
                unknown.add(str(d))
            else:
                area_districts[u, j] = True
        for f in fs:
            k = geography.force_index.get(str(f))
            if k is None:
                unknown.add(str(f))
            elif not (area_districts[u] & (district_force == k)).any():
                area_districts[u] |= district_force == k  # named a force: all of it
    if unknown:
        shown = ", ".join(sorted(unknown)[:5])
        warnings.warn(
            f"{len(unknown)} served area code(s) are not in the postcode table's districts or "
            f"forces (e.g. {shown}); they are ignored. Use 2025 district codes.",
            DataQualityWarning,
            stacklevel=5,
        )
    return area_districts


def _is_seq(value: object) -> bool:
    return isinstance(value, (tuple, list, np.ndarray))


def _per_area(prepared: PreparedServices, flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Sum a per-service flag over each unique served area."""
    ok = prepared.area >= 0
    sums: npt.NDArray[np.float64] = np.bincount(
        prepared.area[ok],
        weights=flags[ok].astype(np.float64),
        minlength=len(prepared.area_districts),
    ).astype(np.float64)
    return sums


@dataclass(frozen=True)
class Units:
    """The areas the measures are summed to (forces, districts or authorities), by district.

    Attributes
    ----------
    of_district
        For each district of the postcode table, the index of its unit; -1 outside England
        and Wales (or outside every unit).
    n
        How many units.
    """

    of_district: npt.NDArray[np.intp]
    n: int

    def onehot(self) -> npt.NDArray[np.int32]:
        """Return the districts x units membership matrix."""
        inside = self.of_district >= 0
        matrix = np.zeros((len(self.of_district), self.n), dtype=np.int32)
        matrix[np.flatnonzero(inside), self.of_district[inside]] = 1
        return matrix


def force_units(geography: Geography) -> Units:
    """Return the police force areas as :class:`Units` (in the postcode table's force order)."""
    return Units(of_district=geography.table.district_force.astype(np.intp), n=geography.n_forces)


def area_units(prepared: PreparedServices, units: Units) -> npt.NDArray[np.bool_]:
    """Return the unique served areas x units matrix: which units each area reaches.

    Parameters
    ----------
    prepared
        The prepared services.
    units
        The areas the measures are summed to.

    Returns
    -------
    numpy.ndarray
        Booleans, one row per unique served area.
    """
    reached: npt.NDArray[np.bool_] = (prepared.area_districts.astype(np.int32) @ units.onehot()) > 0
    return reached


def _count_by_unit(
    prepared: PreparedServices,
    flags: npt.NDArray[np.bool_],
    units: Units,
    reach: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    """Count the flagged services serving each unit (a service counts once per unit).

    ``reach`` is :func:`area_units` when the caller counts many flags over the same units.
    """
    per_area = _per_area(prepared, flags)
    used = np.flatnonzero(per_area)
    if not len(used):
        return np.zeros(units.n, dtype=np.int64)
    if reach is not None:
        reached = reach[used]
    else:
        reached = (prepared.area_districts[used].astype(np.int32) @ units.onehot()) > 0
    counts = per_area[used] @ reached.astype(np.float64)
    return np.rint(counts).astype(np.int64)


def _districts_reached(
    prepared: PreparedServices, flags: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Districts served by at least one flagged service."""
    used = np.flatnonzero(_per_area(prepared, flags))
    reached: npt.NDArray[np.bool_] = np.any(prepared.area_districts[used], axis=0)
    return reached


def _share_by_unit(
    reached: npt.NDArray[np.bool_], units: Units, people: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Share of each unit's people (``people`` per district) who live in reached districts."""
    inside = units.of_district >= 0
    unit = units.of_district[inside]
    weights = np.nan_to_num(people[inside])
    hits = np.bincount(unit, weights=reached[inside] * weights, minlength=units.n)
    total = np.bincount(unit, weights=weights, minlength=units.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share: npt.NDArray[np.float64] = hits / total
    return share


# Should live in directory/privacy.py with the rest of the confidentiality rule.
def _column(frame: pd.DataFrame, column: str) -> npt.NDArray[Any]:
    if column not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    values: npt.NDArray[Any] = frame[column].fillna("").astype(str).to_numpy()
    return values


def _columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    return {column: _column(frame, column) for column in columns}


def parse_postcodes_before(series: pd.Series) -> ParsedPostcodes:
    """``servicemap.geography.postcodes.parse_postcodes`` as it was (pandas string methods).

    Parameters
    ----------
    series
        Postcodes as typed (see :data:`POSTCODE_AS_TYPED`); non-text values are malformed.

    Returns
    -------
    ParsedPostcodes
        The distinct postcodes (sorted by :func:`postcode_keys`) and, per row, which one it is.
    """
    # Work once per distinct value, then once per distinct postcode ("ub13bl" and "UB1 3BL"
    # are two values but one postcode), and spread back to rows with integer indexes.
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(uniques, skipna=False) == "string":
        is_text = np.ones(len(uniques), dtype=bool)
    else:
        is_text = np.fromiter((isinstance(v, str) for v in uniques), bool, len(uniques))
    # Object dtype: pandas' string methods are much faster on it than on its "str" dtype.
    text = pd.Series(uniques[is_text], dtype=object)
    matched = text.str.fullmatch(POSTCODE_AS_TYPED).to_numpy(dtype=bool)
    spaceless = text[matched].to_numpy(dtype=str)
    if spaceless.size:  # numpy's replace fails on an empty array
        spaceless = np.strings.replace(spaceless, " ", "")
    odd = ~np.strings.isalnum(spaceless)  # tabs, non-breaking spaces, ...
    if odd.any():
        spaceless[odd] = pd.Series(spaceless[odd]).str.replace(r"\s+", "", regex=True)
    # Only ASCII letters and digits are left, so encoding cannot fail.
    every = _upper_ascii(spaceless.astype("S7"))
    keys, first, distinct = np.unique(postcode_keys(every), return_index=True, return_inverse=True)
    compact = every[first]
    postcode_of_unique = np.full(len(uniques) + 1, -1, dtype=np.intp)  # last: missing input
    postcode_of_unique[np.flatnonzero(is_text)[matched]] = distinct.ravel()
    row_unique = np.where(codes >= 0, codes, len(uniques))
    text_of_unique = np.append(pd.Series(uniques, dtype=object).astype(str), "").astype(object)
    return ParsedPostcodes(
        row_postcode=postcode_of_unique[row_unique],
        row_text=text_of_unique[row_unique],
        keys=keys,
        compact=compact,
        canonical=_with_space(compact),
    )


def weighted_median_before(
    values: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    group: npt.NDArray[np.intp],
    n: int,
) -> npt.NDArray[np.float64]:
    """``servicemap.analysis.access._weighted_median`` as it was (one lexsort).

    With equal weights this is numpy's median (the mean of the two middle values). Each
    group's weights are summed on their own, so a group's median does not depend on the
    other groups (and a few groups can be measured again alone, with the same answer).
    """
    out = np.full(n, np.nan)
    order = np.lexsort((values, group))
    g, v, w = group[order], values[order], weights[order]
    bounds = np.searchsorted(g, np.arange(n + 1))
    for k in range(n):
        start, end = bounds[k], bounds[k + 1]
        if end <= start:
            continue
        running = np.cumsum(w[start:end])
        total = float(running[-1])
        if total <= 0:
            out[k] = float(np.median(v[start:end]))
            continue
        # Half the weight, allowing for rounding in the sums: the first value with at least
        # half at or below it; exactly half there: halfway to the next (as numpy's median).
        half, slack = total / 2.0, 1e-9 * total
        at = min(int(np.searchsorted(running, half - slack, side="left")), end - start - 1)
        value = float(v[start + at])
        if at + 1 < end - start and abs(running[at] - half) <= slack:
            value = (value + float(v[start + at + 1])) / 2.0
        out[k] = value
    return out
