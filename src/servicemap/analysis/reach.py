"""Who each service reaches: served areas, in-person locations and distances, as arrays.

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
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap.directory.privacy import usable_home_districts
from servicemap.directory.schema import DELIVERY, PROVISION_KINDS, postal_only
from servicemap.errors import DataQualityWarning, ServicesFileError
from servicemap.geography.postcodes import Geography, PostcodeTable, compact_postcodes

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


@dataclass(frozen=True)
class _Coded:
    """A text column as its distinct values and, per row, which one.

    A large directory repeats few values, so every test is made once per distinct value and
    spread to the rows with ``codes``.

    Attributes
    ----------
    codes
        Per row: the index of its value in ``given``.
    given
        The distinct values as text, as given; the last is ``""`` (for missing values).
    """

    codes: npt.NDArray[np.intp]
    given: npt.NDArray[np.object_]

    @cached_property
    def values(self) -> npt.NDArray[np.object_]:
        """The distinct values cleaned: stripped and lower case."""
        cleaned: npt.NDArray[np.object_] = (
            pd.Series(self.given, dtype=object).str.strip().str.lower().to_numpy(dtype=object)
        )
        return cleaned

    def rows(self, per_value: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Spread a result per distinct value to the rows."""
        spread: npt.NDArray[Any] = np.asarray(per_value)[self.codes]
        return spread

    def equals(self, value: str) -> npt.NDArray[np.bool_]:
        """Rows whose cleaned value is ``value``."""
        return self.rows(self.values == value).astype(bool)

    def isin(self, values: Any) -> npt.NDArray[np.bool_]:
        """Rows whose cleaned value is one of ``values``."""
        return self.rows(pd.Series(self.values, dtype=object).isin(list(values)).to_numpy())

    def blank(self) -> npt.NDArray[np.bool_]:
        """Rows whose value is missing or only whitespace."""
        return self.rows(np.array([not v.strip() for v in self.given], dtype=bool))


def _coded(services: pd.DataFrame, column: str) -> _Coded:
    if column not in services.columns:
        return _Coded(np.zeros(len(services), dtype=np.intp), np.array([""], dtype=object))
    codes, uniques = pd.factorize(services[column], use_na_sentinel=True)
    given = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(given, skipna=False) not in ("string", "empty"):
        given = pd.Series(given, dtype=object).astype(str).to_numpy(dtype=object)
    given = np.append(given, np.array([""], dtype=object))
    return _Coded(np.where(codes >= 0, codes, len(uniques)).astype(np.intp), given)


class _Texts:
    """The services frame's text columns, each coded on first use (:class:`_Coded`)."""

    def __init__(self, services: pd.DataFrame) -> None:
        self.services = services
        self._coded: dict[str, _Coded] = {}

    def __getitem__(self, column: str) -> _Coded:
        if column not in self._coded:
            self._coded[column] = _coded(self.services, column)
        return self._coded[column]


def _has_type(types: _Coded, wanted: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    pattern = r"(?:^|;)\s*(?:" + "|".join(re.escape(w) for w in wanted) + r")\s*(?=;|$)"
    distinct = pd.Series(types.values, dtype=object).str.contains(pattern, regex=True)
    return types.rows(distinct.to_numpy(dtype=bool))


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
    texts = _Texts(services)
    active = ~texts["status"].equals("ended")
    confidential = services["confidential"].fillna(False).astype(bool).to_numpy()
    by_and_for = texts["by_and_for"].equals("yes")
    nrpf = texts["nrpf_support"].equals("yes")
    kinds = {
        kind: _has_type(texts["service_types"], wanted) for kind, wanted in PROVISION_KINDS.items()
    }
    kinds["nrpf_accommodation"] = kinds["nrpf_accommodation"] & nrpf
    xy, home_district, location_force = _locations(services, geography, texts)
    has_xy = _has_xy(services, xy)
    area, area_districts, area_forces, level = _served_areas(
        services, geography, texts["scope"], home_district, location_force
    )
    hinted = _hinted(services)
    postal = postal_only(services).to_numpy(dtype=bool, copy=True)
    if hinted.any():
        postal[hinted] = services[_POSTAL_HINT].to_numpy()[hinted].astype(bool)
    in_person, access_xy = _access_points(
        texts,
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
    services: pd.DataFrame, geography: Geography, texts: _Texts | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Return each service's location (BNG metres), home district and location force."""
    table = geography.table
    texts = _Texts(services) if texts is None else texts
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
    rows = texts["postcode"].rows(_postcode_rows(table, texts["postcode"]))
    home_district = np.where(rows >= 0, table.district[np.maximum(rows, 0)], -1).astype(np.intp)
    if hinted.any():
        index = geography.district_index
        hints = services[_DISTRICT_HINT].to_numpy()[hinted]
        home_district[hinted] = [index.get(str(code), -1) if code else -1 for code in hints]
    guess = (home_district < 0) & has_xy & ~hinted
    if guess.any():
        home_district[guess] = _nearest_district(geography, xy[guess])
    location_force = _location_force(services, geography, has_xy)
    # A confidential service's home district is used only where it says it serves it; the
    # force it is in is published (``force_code``), so it still counts there.
    codes = table.district_codes.astype(str)
    found = np.where(home_district >= 0, codes[np.maximum(home_district, 0)], "")
    withheld = ~usable_home_districts(services, found)
    in_force = withheld & (home_district >= 0) & (location_force < 0)
    location_force[in_force] = table.district_force[home_district[in_force]]
    home_district[withheld] = -1
    return xy, home_district, location_force


def _postcode_rows(table: PostcodeTable, postcodes: _Coded) -> npt.NDArray[np.intp]:
    """Return the table row of each distinct postcode value, -1 where it is not there."""
    rows = table.rows(compact_postcodes(postcodes.given))
    # Cleaning can make a value a postcode (the Kelvin sign lowers to "k"), so the values not
    # found as given are looked up again cleaned, as they always were.
    again = np.flatnonzero(rows < 0)
    if len(again):
        cleaned = pd.Series(postcodes.given[again], dtype=object).str.strip().str.lower()
        rows[again] = table.rows(compact_postcodes(cleaned.to_numpy(dtype=object)))
    return rows


def _location_force(
    services: pd.DataFrame, geography: Geography, has_xy: npt.NDArray[np.bool_]
) -> npt.NDArray[np.intp]:
    """Return the force index of each service's location (-1 when it has none)."""
    location_force = np.full(len(services), -1, dtype=np.intp)
    if "force_code" in services.columns:
        codes, uniques = pd.factorize(services["force_code"], use_na_sentinel=False)
        of_unique = np.array(
            [geography.force_index.get(str(c), -1) for c in uniques], dtype=np.intp
        )
        location_force = of_unique[codes]
    return np.where(has_xy, location_force, -1).astype(np.intp)


def _access_points(
    texts: _Texts,
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
    delivery = texts["delivery"]
    published = ~texts["address"].blank() | ~texts["postcode"].blank()
    public_place = published & ~confidential
    said_in_person = delivery.isin(["in_person", "both"])
    unknown_delivery = ~delivery.isin(DELIVERY)
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
    scope: _Coded,
    home_district: npt.NDArray[np.intp],
    location_force: npt.NDArray[np.intp],
) -> tuple[
    npt.NDArray[np.intp], npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.int8]
]:
    """Return each service's unique-area index, the area x district and area x force matrices."""
    district_force = geography.table.district_force.astype(np.intp)
    national = scope.equals("national")
    codes, uniques = _area_keys(services, geography, national, home_district, location_force)
    area_districts = _area_districts(uniques, geography)
    onehot = np.zeros((geography.n_districts, geography.n_forces), dtype=np.int32)
    in_ew = district_force >= 0
    onehot[np.flatnonzero(in_ew), district_force[in_ew]] = 1
    area_forces = _reaches(area_districts, onehot)
    area = np.asarray(codes, dtype=np.intp)
    empty: npt.NDArray[np.bool_] = ~np.any(area_districts, axis=1)
    area = np.where((area >= 0) & ~empty[np.maximum(area, 0)], area, -1)
    # Scope from the directory; when it is missing or not in the vocabulary, from the reach.
    n_forces_served = area_forces.sum(axis=1)[np.maximum(area, 0)] * (area >= 0)
    derived = np.where(
        n_forces_served >= max(geography.n_forces, 1), 2, np.where(n_forces_served > 1, 1, 0)
    )
    level = scope.rows(np.array([_SCOPE_CODE.get(s, -1) for s in scope.values], dtype=np.int8))
    level = np.where(level >= 0, level, derived).astype(np.int8)
    return area, area_districts, area_forces, level


def _factorize_areas(values: list[Any]) -> tuple[npt.NDArray[np.intp], list[tuple[str, ...]]]:
    """Return, per row, which distinct tuple of codes it holds (in order of first appearance).

    Rows often share one tuple object (a national service's every district), and hashing a
    long tuple again for every row is slow, so when they do the objects are told apart by
    identity first and only the distinct objects are compared by value.
    """
    by_object, objects = pd.factorize(np.fromiter(map(id, values), np.int64, len(values)))
    if len(objects) > len(values) // 2:  # few shared objects: compare every row by value
        by_object, first = np.arange(len(values)), np.arange(len(values))
    else:
        first = np.unique(by_object, return_index=True)[1]  # codes run 0.. in order of appearance
    chosen = [values[i] for i in first.tolist()]
    if not all(type(v) is tuple for v in chosen):
        chosen = [tuple(v) if _is_seq(v) else () for v in chosen]
    # fromiter keeps each tuple whole (assigning a list of equal-length tuples would not).
    by_value, distinct = pd.factorize(np.fromiter(chosen, dtype=object, count=len(chosen)))
    return np.asarray(by_value[by_object], dtype=np.intp), list(distinct)


def _area_keys(
    services: pd.DataFrame,
    geography: Geography,
    national: npt.NDArray[np.bool_],
    home_district: npt.NDArray[np.intp],
    location_force: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.intp], list[tuple[tuple[str, ...], tuple[str, ...]]]]:
    """Return each service's served (districts, forces), filling in the ones it does not give.

    The answer is the index of each row's (districts, forces) among the distinct ones, in order
    of first appearance, and the distinct ones.
    """
    table = geography.table
    district_force = table.district_force.astype(np.intp)
    ew_districts = tuple(
        str(c) for c, f in zip(table.district_codes, district_force, strict=True) if f >= 0
    )
    n = len(services)
    d_of_row, districts = _factorize_areas(services["served_districts"].tolist())
    if "served_forces" in services.columns:
        f_of_row, forces = _factorize_areas(services["served_forces"].tolist())
    else:
        f_of_row, forces = np.zeros(n, dtype=np.intp), [()]
    d_index = {ds: i for i, ds in enumerate(districts)}
    f_index = {fs: i for i, fs in enumerate(forces)}

    def index_of(found: dict[tuple[str, ...], int], kept: list[tuple[str, ...]], key: Any) -> int:
        if key not in found:
            found[key] = len(kept)
            kept.append(key)
        return found[key]

    empty_d = np.array([not ds for ds in districts], dtype=bool)[d_of_row]
    empty_f = np.array([not fs for fs in forces], dtype=bool)[f_of_row]
    none = empty_d & empty_f
    # No stated area: a national service serves England and Wales; any other serves the
    # district it is based in (or its whole force when the district is not known).
    home = np.maximum(home_district, 0)
    in_district = none & ~national & (home_district >= 0) & (district_force[home] >= 0)
    in_force = none & ~national & ~in_district & (location_force >= 0)
    no_f = index_of(f_index, forces, ())
    d_of_row, f_of_row = d_of_row.copy(), f_of_row.copy()
    if (none & national).any():
        d_of_row[none & national] = index_of(d_index, districts, ew_districts)
        f_of_row[none & national] = no_f
    places, which = np.unique(home_district[in_district], return_inverse=True)
    d_of_place = [index_of(d_index, districts, (str(table.district_codes[d]),)) for d in places]
    d_of_row[in_district] = np.asarray(d_of_place, dtype=np.intp)[which.ravel()]
    f_of_row[in_district] = no_f
    no_d = index_of(d_index, districts, ())
    places, which = np.unique(location_force[in_force], return_inverse=True)
    f_of_place = [index_of(f_index, forces, (str(table.force_codes[f]),)) for f in places]
    d_of_row[in_force] = no_d
    f_of_row[in_force] = np.asarray(f_of_place, dtype=np.intp)[which.ravel()]
    no_area = int((none & ~national & ~in_district & ~in_force).sum())
    if no_area:
        warnings.warn(
            f"{no_area} service(s) give no area served and no location; they are left out of "
            "the served-area measures. Fill in 'areas_served' to count them.",
            DataQualityWarning,
            stacklevel=5,
        )
    pairs, distinct = pd.factorize(d_of_row * len(forces) + f_of_row, sort=False)
    uniques = [(districts[p // len(forces)], forces[p % len(forces)]) for p in distinct.tolist()]
    return np.asarray(pairs, dtype=np.intp), uniques


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
    return _reaches(prepared.area_districts, units.onehot())


def _reaches(
    area_districts: npt.NDArray[np.bool_], onehot: npt.NDArray[np.int32]
) -> npt.NDArray[np.bool_]:
    """Return which units (columns of ``onehot``) each area (row of ``area_districts``) reaches.

    A product of 0/1 matrices in float32: sums of at most a few hundred ones are exact, and
    BLAS makes it about twenty times faster than the same product in integers.
    """
    product = area_districts.astype(np.float32) @ onehot.astype(np.float32)
    reached: npt.NDArray[np.bool_] = product > 0
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
        reached = _reaches(prepared.area_districts[used], units.onehot())
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
