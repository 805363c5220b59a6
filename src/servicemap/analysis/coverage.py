"""Coverage per police force area: who serves where, how that compares with need, and the gaps.

Everything here is vectorised over services and postcodes: a service's served area is a set of
districts, a force is a set of districts, and residents are spread over the located postcodes of
their force (see :func:`coverage_by_force`). Distances are straight lines in British National
Grid metres, found with a k-d tree over service points queried by every postcode.
"""

from __future__ import annotations

import re
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._progress import status
from servicemap.directory.schema import DELIVERY, LOCATION_FIELDS, PROVISION_KINDS
from servicemap.errors import (
    DataQualityWarning,
    GeocodeError,
    NeedFileError,
    ServicesFileError,
    UnknownForceError,
)
from servicemap.geography.areas import find_force
from servicemap.geography.forces import district_names, force_names
from servicemap.geography.need import load_need
from servicemap.geography.postcodes import PostcodeTable, load_postcode_table
from servicemap.settings import DEFAULT_SETTINGS, Settings

LEVELS: tuple[str, ...] = ("local", "regional", "national", "none")
"""Levels of provision, best first."""

LEVEL_VALUES: dict[str, float] = {"local": 1.0, "regional": 0.5, "national": 0.25, "none": 0.0}
"""What residents not reached locally get from the best non-local level (gap score)."""

REMOTE_KINDS: tuple[str, ...] = ("helpline",)
"""Kinds where a regional or national service is as good as a local one (a phone line)."""

GAP_WEIGHTS: dict[str, float] = {
    "advocacy": 0.20,
    "nrpf_accommodation": 0.15,
    "legal_immigration": 0.10,
    "counselling": 0.05,
    "helpline": 0.05,
    "capacity": 0.15,
    "in_person_access": 0.15,
    "by_and_for_access": 0.15,
}
"""Weights of the gap score's components; they sum to 1."""

COVERED_SHARE = 0.8
"""Share of residents local advocacy must reach for a force to be classed as covered."""

GAP_CLASSES: tuple[str, ...] = ("no local specialist provision", "partial", "covered")

KIND_LABELS: dict[str, str] = {
    "advocacy": "Advocacy / IDVA",
    "nrpf_accommodation": "Safe accommodation open to women with no recourse to public funds",
    "legal_immigration": "Immigration or legal advice",
    "counselling": "Counselling or group support",
    "helpline": "Helpline",
}

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
_POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
_SCOPE_CODE = {"local": 0, "regional": 1, "national": 2}
_LEVEL_NAMES = np.array(list(_SCOPE_CODE))  # by level code
# Details and public contact fields of a service, as listed by profiles and "near" searches.
_DETAIL_COLUMNS = ("service_types", "delivery")
_SUPPORT_COLUMNS = ("by_and_for", "nrpf_support", "phone", "website", "address", "postcode")


# --- preparing services -------------------------------------------------------------------


@dataclass(frozen=True)
class Geography:
    """Districts and forces of a postcode table, with located-postcode counts and centroids.

    Build it with :func:`geography_from_postcodes`. Residents are spread over the located
    postcodes of their force, so the resident arrays are the located postcodes of England and
    Wales.

    Attributes
    ----------
    table
        The postcode table.
    located
        Per postcode: located and in England and Wales.
    district_count
        Located England and Wales postcodes per district.
    district_xy
        Mean position (BNG metres) of each district's located postcodes; NaN when none.
    force_count
        Located postcodes per force.
    district_index, force_index
        Row of each district code and force code in the table's code arrays.
    resident_xy
        The located England and Wales postcodes (BNG metres), grouped by force.
    resident_force
        Their force index, ascending.
    force_bounds
        Force ``k``'s postcodes are ``resident_xy[force_bounds[k] : force_bounds[k + 1]]``.
    """

    table: PostcodeTable
    located: npt.NDArray[np.bool_]
    district_count: npt.NDArray[np.float64]
    district_xy: npt.NDArray[np.float64]
    force_count: npt.NDArray[np.float64]
    district_index: dict[str, int]
    force_index: dict[str, int]
    resident_xy: npt.NDArray[np.float64]
    resident_force: npt.NDArray[np.intp]
    force_bounds: npt.NDArray[np.intp]

    @property
    def n_districts(self) -> int:
        """Number of districts in the postcode table."""
        return len(self.table.district_codes)

    @property
    def n_forces(self) -> int:
        """Number of forces in the postcode table."""
        return len(self.table.force_codes)


# The last geography built, keyed by the postcode table's identity: the ONS table is itself
# cached, so a process that computes coverage and then a profile builds this once.
_LAST_GEOGRAPHY: list[tuple[weakref.ref[PostcodeTable], Geography]] = []


def geography_from_postcodes(table: PostcodeTable) -> Geography:
    """Return the districts and forces of a postcode table, with counts and centroids.

    The last one built is kept (keyed by the table's identity), so computing coverage, a
    profile and a plan on the same table builds it once.

    Parameters
    ----------
    table
        The postcode table (``servicemap.geography.postcodes.load_postcode_table``).

    Returns
    -------
    Geography
        Located-postcode counts, centroids and resident positions per district and force.
    """
    for ref, geography in _LAST_GEOGRAPHY:
        if ref() is table:
            return geography
    geography = _build_geography(table)
    _LAST_GEOGRAPHY[:] = [(weakref.ref(table), geography)]
    return geography


def _build_geography(table: PostcodeTable) -> Geography:
    located = table.has_location & (table.force >= 0)
    district = table.district[located]
    n_districts = len(table.district_codes)
    count = np.bincount(district, minlength=n_districts).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        xs = np.bincount(district, weights=table.easting[located], minlength=n_districts) / count
        ys = np.bincount(district, weights=table.northing[located], minlength=n_districts) / count
    force_count = np.bincount(
        table.district_force[table.district_force >= 0],
        weights=count[table.district_force >= 0],
        minlength=len(table.force_codes),
    )
    # Residents' postcodes grouped by force, so a force's postcodes are one slice.
    force = table.force[located]
    order = np.argsort(force, kind="stable")  # int16: a radix sort
    resident_force = force[order].astype(np.intp)
    resident_xy = np.column_stack(
        [table.easting[located][order], table.northing[located][order]]
    ).astype(np.float64)
    bounds = np.searchsorted(resident_force, np.arange(len(table.force_codes) + 1))
    return Geography(
        table=table,
        located=located,
        district_count=count,
        district_xy=np.column_stack([xs, ys]),
        force_count=force_count.astype(np.float64),
        district_index={str(c): i for i, c in enumerate(table.district_codes)},
        force_index={str(c): i for i, c in enumerate(table.force_codes)},
        resident_xy=resident_xy,
        resident_force=resident_force,
        force_bounds=bounds,
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
        Active, located and reachable in person.
    xy
        True location in BNG metres (NaN where none); never output for confidential services.
    access_xy
        ``xy``, but confidential services moved to the centre of their district; NaN unless
        ``in_person``.
    location_force
        Force index of the location; -1 when none.
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
    xy: npt.NDArray[np.float64]
    access_xy: npt.NDArray[np.float64]
    location_force: npt.NDArray[np.intp]


def _text(services: pd.DataFrame, column: str) -> pd.Series:
    if column not in services.columns:
        return pd.Series("", index=services.index, dtype=object)
    return services[column].fillna("").astype(str).str.strip().str.lower()


def _has_type(types: pd.Series, wanted: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    pattern = r"(?:^|;)\s*(?:" + "|".join(re.escape(w) for w in wanted) + r")\s*(?=;|$)"
    found: npt.NDArray[np.bool_] = types.str.contains(pattern, regex=True).to_numpy(dtype=bool)
    return found


def _normalise_postcodes(values: pd.Series) -> npt.NDArray[np.bytes_]:
    cleaned = values.fillna("").astype(str).str.upper().str.replace(r"\s+", "", regex=True)
    cleaned = cleaned.where(cleaned.str.len() <= 7, "")
    codes: npt.NDArray[np.bytes_] = cleaned.to_numpy().astype("S7")
    return codes


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
        From :func:`geography_from_postcodes`.

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
    table = geography.table
    n = len(services)
    scope = _text(services, "scope")
    types = _text(services, "service_types")
    delivery = _text(services, "delivery")
    status = _text(services, "status")
    active = (status != "ended").to_numpy(dtype=bool)
    confidential = services["confidential"].fillna(False).astype(bool).to_numpy()
    by_and_for = (_text(services, "by_and_for") == "yes").to_numpy(dtype=bool)
    nrpf = (_text(services, "nrpf_support") == "yes").to_numpy(dtype=bool)
    kinds = {kind: _has_type(types, wanted) for kind, wanted in PROVISION_KINDS.items()}
    kinds["nrpf_accommodation"] = kinds["nrpf_accommodation"] & nrpf

    xy = np.column_stack(
        [
            pd.to_numeric(services["easting"], errors="coerce").to_numpy(dtype=np.float64),
            pd.to_numeric(services["northing"], errors="coerce").to_numpy(dtype=np.float64),
        ]
    )
    has_xy = np.isfinite(xy).all(axis=1)
    # The district a service is based in: from its postcode, else the nearest district centroid.
    rows = table.rows(_normalise_postcodes(_text(services, "postcode")))
    home_district = np.where(rows >= 0, table.district[np.maximum(rows, 0)], -1).astype(np.intp)
    guess = (home_district < 0) & has_xy
    if guess.any():
        home_district[guess] = _nearest_district(geography, xy[guess])
    force_codes = services["force_code"] if "force_code" in services.columns else None
    location_force = np.full(n, -1, dtype=np.intp)
    if force_codes is not None:
        location_force = np.array(
            [geography.force_index.get(str(c), -1) for c in force_codes], dtype=np.intp
        )
    location_force = np.where(has_xy, location_force, -1)

    area, area_districts, area_forces, level = _served_areas(
        services, geography, scope, home_district, location_force
    )

    public_address = (_text(services, "address") != "").to_numpy(dtype=bool) & ~confidential
    said_in_person = delivery.isin(["in_person", "both"]).to_numpy(dtype=bool)
    unknown_delivery = (~delivery.isin(DELIVERY)).to_numpy(dtype=bool)
    in_person = active & has_xy & (said_in_person | (unknown_delivery & public_address))
    # A confidential service counts for access only at the centroid of its district, so no
    # published share can be traced back to a point finer than the district it serves.
    access_xy = xy.copy()
    snap = confidential & in_person
    snap_ok = snap & (home_district >= 0)
    snap_ok &= geography.district_count[np.maximum(home_district, 0)] > 0
    access_xy[snap_ok] = geography.district_xy[home_district[snap_ok]]
    in_person = in_person & ~(snap & ~snap_ok)
    access_xy[~in_person] = np.nan
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
        xy=xy,
        access_xy=access_xy,
        location_force=location_force,
    )


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
    table = geography.table
    district_force = table.district_force.astype(np.intp)
    ew_districts = tuple(
        str(c) for c, f in zip(table.district_codes, district_force, strict=True) if f >= 0
    )
    districts = services["served_districts"].map(lambda v: tuple(v) if _is_seq(v) else ())
    forces = (
        services["served_forces"].map(lambda v: tuple(v) if _is_seq(v) else ())
        if "served_forces" in services.columns
        else pd.Series([()] * len(services), index=services.index, dtype=object)
    )
    scope_values = scope.to_numpy()
    keys: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    no_area = 0
    for i, (ds, fs) in enumerate(zip(districts, forces, strict=True)):
        if not ds and not fs:
            # No stated area: a national service serves England and Wales; any other serves the
            # district it is based in (or its whole force when the district is not known).
            if scope_values[i] == "national":
                ds = ew_districts
            elif home_district[i] >= 0 and district_force[home_district[i]] >= 0:
                ds = (str(table.district_codes[home_district[i]]),)
            elif location_force[i] >= 0:
                fs = (str(table.force_codes[location_force[i]]),)
            else:
                no_area += 1
        keys.append((ds, fs))
    if no_area:
        warnings.warn(
            f"{no_area} service(s) give no area served and no location; they are left out of "
            "the served-area measures. Fill in 'areas_served' to count them.",
            DataQualityWarning,
            stacklevel=4,
        )
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    n_areas = len(uniques)
    area_districts = np.zeros((n_areas, geography.n_districts), dtype=bool)
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
            stacklevel=4,
        )
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


def _count_by_force(
    prepared: PreparedServices, flags: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Count the flagged services serving each force (a service counts once per force)."""
    per_area = _per_area(prepared, flags)
    used = np.flatnonzero(per_area)
    counts = per_area[used] @ prepared.area_forces[used].astype(np.float64)
    return np.rint(counts).astype(np.int64)


def _districts_reached(
    prepared: PreparedServices, flags: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Districts served by at least one flagged service."""
    used = np.flatnonzero(_per_area(prepared, flags))
    reached: npt.NDArray[np.bool_] = np.any(prepared.area_districts[used], axis=0)
    return reached


def _share_by_force(
    geography: Geography, reached: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Share of each force's located postcodes (its residents) that lie in reached districts."""
    district_force = geography.table.district_force.astype(np.intp)
    ew = district_force >= 0
    hits = np.bincount(
        district_force[ew],
        weights=(reached[ew] * geography.district_count[ew]),
        minlength=geography.n_forces,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        share: npt.NDArray[np.float64] = hits / geography.force_count
    return share


# --- coverage per force -------------------------------------------------------------------


NEED_COLUMNS: tuple[str, ...] = (
    "usual_residents_2021",
    "born_outside_uk_2021",
    "population_mid2023",
    "females_16plus_mid2023",
)


def _counts(values: pd.Series) -> npt.NDArray[Any]:
    """Return whole numbers as int64, or float64 with NaN where a user's table has gaps."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        ints: npt.NDArray[Any] = numeric.to_numpy(dtype=np.int64)
        return ints
    floats: npt.NDArray[Any] = numeric.to_numpy(dtype=np.float64)
    return floats


def _check_need(need: pd.DataFrame, force_codes: list[str]) -> pd.DataFrame:
    missing = [c for c in NEED_COLUMNS if c not in need.columns]
    if missing:
        raise NeedFileError(
            f"The need table is missing column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, need.columns))}); pass a table like the bundled "
            "data/need/force_need.csv."
        )
    absent = [c for c in force_codes if c not in need.index]
    if absent:
        raise NeedFileError(
            f"The need table has no row for {len(absent)} force(s) (e.g. {absent[0]!r}); "
            "give one row per force code, as in the bundled data/need/force_need.csv."
        )
    return need.loc[force_codes]


def _force_names(force_codes: list[str], need: pd.DataFrame) -> list[str]:
    register = force_names()
    from_need = need["force_name"].to_dict() if "force_name" in need.columns else {}
    return [str(register.get(c) or from_need.get(c) or c) for c in force_codes]


def nearest_km(
    points: npt.NDArray[np.float64],
    xy: npt.NDArray[np.float64],
    *,
    within_km: float = np.inf,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """Return the distance in km from each of ``xy`` to the nearest of ``points``, and which.

    Parameters
    ----------
    points
        Points (n x 2, BNG metres), e.g. in-person services; all finite.
    xy
        Where to measure from (m x 2, BNG metres), e.g. residents' postcodes.
    within_km
        Look no further than this; beyond it the distance is inf.

    Returns
    -------
    tuple of numpy.ndarray
        For each of ``xy``: the distance in km to the nearest point, and that point's index.
        Distances beyond ``within_km`` (and all of them when there are no points) are inf, with
        index ``len(points)``.
    """
    from scipy.spatial import cKDTree

    if len(points) == 0 or len(xy) == 0:
        return np.full(len(xy), np.inf), np.zeros(len(xy), dtype=np.intp)
    bound = within_km * 1000.0 * (1 + 1e-9) if np.isfinite(within_km) else np.inf
    distance, index = cKDTree(points).query(xy, k=1, workers=-1, distance_upper_bound=bound)
    km: npt.NDArray[np.float64] = np.asarray(distance, dtype=np.float64) / 1000.0
    return km, np.asarray(index, dtype=np.intp)


def _access(
    geography: Geography,
    prepared: PreparedServices,
    radii_km: tuple[float, ...],
) -> dict[str, npt.NDArray[np.float64]]:
    """Shares of each force's residents within each radius of an in-person service."""
    xy = geography.resident_xy
    force = geography.resident_force
    bounds = geography.force_bounds
    chosen = np.flatnonzero(prepared.in_person)
    km, nearest = nearest_km(prepared.access_xy[chosen], xy)
    # By and for: where the nearest in-person service is one, that is the distance; elsewhere
    # it is at least the in-person distance, so only postcodes with an in-person service within
    # the widest radius need a second (bounded) search.
    is_bf = np.append(prepared.by_and_for[chosen], False)
    bf_km = np.where(is_bf[np.minimum(nearest, len(chosen))], km, np.inf)
    todo = ~is_bf[np.minimum(nearest, len(chosen))] & (km <= max(radii_km))
    bf_points = prepared.access_xy[chosen[prepared.by_and_for[chosen]]]
    bf_km[todo] = nearest_km(bf_points, xy[todo], within_km=max(radii_km))[0]
    out: dict[str, npt.NDArray[np.float64]] = {}
    for name, distance in (("in_person", km), ("by_and_for", bf_km)):
        for radius in radii_km:
            within = np.bincount(
                force, weights=(distance <= radius).astype(np.float64), minlength=geography.n_forces
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{name}_within_{_radius_label(radius)}km"] = within / geography.force_count
        if name == "in_person":
            out["median_km_to_in_person"] = np.array(
                [
                    float(np.median(km[bounds[k] : bounds[k + 1]]))
                    if bounds[k + 1] > bounds[k]
                    else np.nan
                    for k in range(geography.n_forces)
                ]
            )
    return out


def _radius_label(radius: float) -> str:
    return f"{radius:g}"


def _check_radii(radii_km: tuple[float, ...] | list[float]) -> tuple[float, ...]:
    radii = tuple(sorted({float(r) for r in radii_km}))
    if not radii or any(not np.isfinite(r) or r <= 0 for r in radii):
        raise ValueError(
            f"radii_km must be one or more positive distances in km, got {tuple(radii_km)!r}."
        )
    return radii


def coverage_by_force(
    services: pd.DataFrame,
    *,
    need: pd.DataFrame | None = None,
    postcodes: PostcodeTable | None = None,
    radii_km: tuple[float, ...] = (10, 25),
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Return what specialist help reaches each police force area, against need, with a gap score.

    Residents are weighted by postcode: each located postcode in a force carries
    ``population_mid2023 / located postcodes in the force`` residents. This is an approximation
    (postcodes differ in population); within one force it makes every share a share of its
    postcodes. Ended services (``status`` = ``ended``) are left out. See the README section
    "Coverage measures and the gap score" for every column and the formula.

    Parameters
    ----------
    services
        The canonical services frame (``servicemap.directory.load.load_services``). Not
        modified.
    need
        Need per force, indexed by force code (``servicemap.geography.need.load_need``); ``None``
        for the
        bundled ONS figures.
    postcodes
        The postcode table giving districts, forces and resident weights; ``None`` loads the
        cached ONS table.
    radii_km
        Distances for the access shares, in km.
    settings
        Where the postcode table is cached.

    Returns
    -------
    pandas.DataFrame
        One row per force (every force in the postcode table, all 43 for the ONS one), sorted by
        ``gap_rank`` (1 = largest gap; ties share a rank and are listed by residents born
        outside the UK, most first).
    """
    radii = _check_radii(radii_km)
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    need = load_need() if need is None else need
    geography = geography_from_postcodes(table)
    force_codes = [str(c) for c in table.force_codes]
    need_rows = _check_need(need, force_codes)
    prepared = prepare_services(services, geography)
    active = prepared.active
    local = active & (prepared.level == 0)
    regional = active & (prepared.level == 1)
    national = active & (prepared.level == 2)

    columns: dict[str, Any] = {
        "force_code": force_codes,
        "force_name": _force_names(force_codes, need),
        "postcodes": geography.force_count.astype(np.int64),
        "services_based": np.bincount(
            prepared.location_force[active & (prepared.location_force >= 0)],
            minlength=geography.n_forces,
        ),
        "services_serving": _count_by_force(prepared, active),
        "local_services": _count_by_force(prepared, local),
        "regional_services": _count_by_force(prepared, regional),
        "national_services": _count_by_force(prepared, national),
        "local_coverage_share": _share_by_force(geography, _districts_reached(prepared, local)),
    }
    for kind, has_kind in prepared.kinds.items():
        best = np.full(geography.n_forces, "none", dtype=object)
        for level_name, flags in (("national", national), ("regional", regional)):
            best = np.where(_count_by_force(prepared, flags & has_kind) > 0, level_name, best)
        best = np.where(_count_by_force(prepared, local & has_kind) > 0, "local", best)
        columns[f"{kind}_level"] = best
        reached = _districts_reached(prepared, local & has_kind)
        columns[f"{kind}_local_share"] = _share_by_force(geography, reached)
        for level_name, flags in (("regional", regional), ("national", national)):
            columns[f"_{kind}_{level_name}"] = _count_by_force(prepared, flags & has_kind) > 0
    columns["by_and_for_local"] = _count_by_force(prepared, local & prepared.by_and_for)
    columns["nrpf_local"] = _count_by_force(prepared, local & prepared.nrpf)
    for column in NEED_COLUMNS:
        columns[column] = _counts(need_rows[column])
    born = columns["born_outside_uk_2021"].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["share_born_outside_uk"] = born / columns["usual_residents_2021"]
        columns["local_services_per_100k_born_abroad"] = columns["local_services"] / born * 1e5
    status(
        f"Measuring distances from {len(geography.resident_xy):,} postcodes to "
        f"{int(prepared.in_person.sum()):,} in-person services…"
    )
    columns.update(_access(geography, prepared, radii))
    coverage = pd.DataFrame(columns)
    return _score(coverage, radii)


def _provision_score(coverage: pd.DataFrame, kind: str) -> pd.Series:
    share = coverage[f"{kind}_local_share"].fillna(0.0)
    regional = coverage[f"_{kind}_regional"]
    national = coverage[f"_{kind}_national"]
    if kind in REMOTE_KINDS:
        values = (LEVEL_VALUES["local"], LEVEL_VALUES["local"])
    else:
        values = (LEVEL_VALUES["regional"], LEVEL_VALUES["national"])
    fallback = np.where(regional, values[0], np.where(national, values[1], LEVEL_VALUES["none"]))
    return share + (1.0 - share) * fallback


def _score(coverage: pd.DataFrame, radii: tuple[float, ...]) -> pd.DataFrame:
    """Add ``gap_score``, ``gap_class`` and ``gap_rank`` (the README gives the formula)."""
    components: dict[str, pd.Series] = {
        kind: _provision_score(coverage, kind) for kind in PROVISION_KINDS
    }
    total_born = coverage["born_outside_uk_2021"].sum()
    national_rate = coverage["local_services"].sum() / total_born if total_born else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = coverage["local_services"] / coverage["born_outside_uk_2021"]
    components["capacity"] = (
        (rate / national_rate).clip(upper=1.0).fillna(0.0)
        if national_rate > 0
        else pd.Series(0.0, index=coverage.index)
    )
    widest = _radius_label(max(radii))
    components["in_person_access"] = coverage[f"in_person_within_{widest}km"].fillna(0.0)
    components["by_and_for_access"] = coverage[f"by_and_for_within_{widest}km"].fillna(0.0)
    met = sum(GAP_WEIGHTS[name] * value for name, value in components.items())
    score = (100.0 * (1.0 - met)).clip(0.0, 100.0).round(1)
    covered = (
        (coverage["advocacy_local_share"] >= COVERED_SHARE)
        & coverage["nrpf_accommodation_level"].isin(["local", "regional"])
        & coverage["legal_immigration_level"].isin(["local", "regional"])
    )
    gap_class = np.where(
        coverage["local_services"] == 0,
        GAP_CLASSES[0],
        np.where(covered, GAP_CLASSES[2], GAP_CLASSES[1]),
    )
    hidden = [c for c in coverage.columns if c.startswith("_")]
    scored = coverage.drop(columns=hidden).assign(
        gap_score=score,
        gap_class=gap_class,
        gap_rank=score.rank(ascending=False, method="min").astype(np.int64),
    )
    # Ties share a rank; within a tie, the force with more residents born abroad comes first.
    return scored.sort_values(
        ["gap_rank", "born_outside_uk_2021", "force_code"],
        ascending=[True, False, True],
        kind="stable",
    ).reset_index(drop=True)


# --- one force ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ForceProfile:
    """Everything about one force: its coverage row, who serves it, its gaps, help nearby.

    Attributes
    ----------
    code, name
        The force's ONS code and name.
    summary
        The force's row of :func:`coverage_by_force`, as a dict.
    services
        Every active service serving the force and how (level, whole force or which districts).
        Location fields are blank for confidential services.
    gaps
        Plain-language statements of what is missing.
    nearest_outside
        The nearest public in-person services based outside the force, with ``km_from_force``:
        the distance to the force's nearest postcode.
    forces
        How many forces the rank is out of.
    """

    code: str
    name: str
    summary: dict[str, Any]
    services: pd.DataFrame
    gaps: list[str]
    nearest_outside: pd.DataFrame
    forces: int = 43

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as JSON-ready plain data."""
        return {
            "code": self.code,
            "name": self.name,
            "forces": self.forces,
            "summary": _plain(self.summary),
            "gaps": list(self.gaps),
            "services": json_records(self.services),
            "nearest_outside": json_records(self.nearest_outside),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 4)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a frame's rows as JSON-ready dicts (plain numbers, None for NaN and inf).

    Parameters
    ----------
    frame
        The rows.

    Returns
    -------
    list of dict
        One dict per row; floats rounded to 4 decimal places.
    """
    return [_plain(dict(row)) for row in frame.to_dict(orient="records")]


def _public_fields(services: pd.DataFrame, confidential: npt.NDArray[np.bool_]) -> pd.DataFrame:
    """Return a copy with location fields blanked for confidential services."""
    out = services.copy()
    for column in LOCATION_FIELDS:
        if column in out.columns:
            blank: Any = np.nan if column in ("latitude", "longitude") else ""
            out.loc[confidential, column] = blank
    return out


def force_profile(
    force: str,
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    *,
    postcodes: PostcodeTable | None = None,
    nearest: int = 5,
    settings: Settings = DEFAULT_SETTINGS,
) -> ForceProfile:
    """Return one force's profile: who serves it and how, its gaps, its rank, help nearby.

    Parameters
    ----------
    force
        The force's ONS code or name (anything ``servicemap.geography.forces.find_force`` accepts).
    services
        The canonical services frame. Not modified.
    coverage
        The result of :func:`coverage_by_force` for the same services.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    nearest
        How many services outside the force to list.
    settings
        Where the postcode table is cached.

    Returns
    -------
    ForceProfile
        The force's summary row, services, gaps and nearest in-person services outside it.
    """
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    geography = geography_from_postcodes(table)
    code = force if force in geography.force_index else find_force(force)
    rows = coverage.loc[coverage["force_code"] == code]
    if rows.empty:
        raise UnknownForceError(
            f"Force {code!r} is not in the coverage table; compute it with coverage_by_force "
            "on the same postcode table."
        )
    summary = rows.iloc[0].to_dict()
    k = geography.force_index[code]
    prepared = prepare_services(services, geography)
    district_force = table.district_force.astype(np.intp)
    in_force = (district_force == k) & (geography.district_count > 0)
    names = district_names()

    serving = prepared.active & (prepared.area >= 0)
    serving &= prepared.area_forces[np.maximum(prepared.area, 0), k]
    idx = np.flatnonzero(serving)
    served = prepared.area_districts[prepared.area[idx]][:, in_force]
    force_districts = table.district_codes[in_force]
    how = [
        "whole force"
        if row.all()
        else "part: " + ", ".join(names.get(str(d), str(d)) for d in force_districts[row])
        for row in served
    ]
    chosen = _public_fields(services.iloc[idx], prepared.confidential[idx])
    service_table = pd.DataFrame(
        {
            "name": chosen["name"].to_numpy(),
            "organisation": _column(chosen, "organisation"),
            "level": _LEVEL_NAMES[prepared.level[idx]],
            "serves": how,
            "based_in_force": prepared.location_force[idx] == k,
            **_columns(chosen, (*_DETAIL_COLUMNS, *_SUPPORT_COLUMNS)),
        }
    )
    service_table = service_table.sort_values(
        ["level", "name"], key=lambda s: s.map(_SCOPE_CODE) if s.name == "level" else s.str.lower()
    ).reset_index(drop=True)

    gaps = _gap_statements(summary, coverage, prepared, geography, k, names)
    nearest_outside = _nearest_outside(
        services, prepared, geography, k, nearest=nearest, force_names=_force_name_map(coverage)
    )
    return ForceProfile(
        code=code,
        name=str(summary["force_name"]),
        summary=summary,
        services=service_table,
        gaps=gaps,
        nearest_outside=nearest_outside,
        forces=len(coverage),
    )


def _column(frame: pd.DataFrame, column: str) -> npt.NDArray[Any]:
    if column not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    values: npt.NDArray[Any] = frame[column].fillna("").astype(str).to_numpy()
    return values


def _columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    return {column: _column(frame, column) for column in columns}


def _force_name_map(coverage: pd.DataFrame) -> dict[str, str]:
    return dict(zip(coverage["force_code"], coverage["force_name"], strict=True))


def _gap_statements(
    summary: dict[str, Any],
    coverage: pd.DataFrame,
    prepared: PreparedServices,
    geography: Geography,
    k: int,
    names: dict[str, str],
) -> list[str]:
    table = geography.table
    in_force = (table.district_force == k) & (geography.district_count > 0)
    local = prepared.active & (prepared.level == 0)
    gaps: list[str] = []
    if summary["local_services"] == 0:
        gaps.append("No local specialist service serves any part of the force.")
    for kind, label in KIND_LABELS.items():
        level = summary[f"{kind}_level"]
        share = summary[f"{kind}_local_share"]
        if level == "none":
            gaps.append(f"{label}: none at any level.")
        elif kind in REMOTE_KINDS:
            continue  # a regional or national phone line is as good as a local one
        elif level != "local":
            gaps.append(f"{label}: {level} services only, none local.")
        elif share < 0.995:
            reached = _districts_reached(prepared, local & prepared.kinds[kind])
            gaps.append(
                f"{label}: local services reach {share:.0%} of residents; "
                f"{_where(table.district_codes, in_force, reached, names)}."
            )
    radius_columns = [c for c in summary if c.startswith("in_person_within_")]
    for column in radius_columns[-1:]:
        suffix = column.removeprefix("in_person_within_")
        radius = suffix.removesuffix("km") + " km"
        outside = 1.0 - float(summary[column])
        if outside > 0.005:
            gaps.append(
                f"{outside:.0%} of residents live more than {radius} from an in-person service."
            )
        outside_bf = 1.0 - float(summary[f"by_and_for_within_{suffix}"])
        if outside_bf > 0.005:
            gaps.append(
                f"{outside_bf:.0%} of residents live more than {radius} from an in-person "
                "'by and for' service."
            )
    total_born = coverage["born_outside_uk_2021"].sum()
    national_rate = coverage["local_services"].sum() / total_born * 1e5 if total_born else 0.0
    rate = float(summary["local_services_per_100k_born_abroad"])
    if np.isfinite(rate) and rate < national_rate:
        gaps.append(
            f"{rate:.1f} local services per 100,000 residents born outside the UK, against "
            f"{national_rate:.1f} across England and Wales."
        )
    return gaps


def _where(
    codes: npt.NDArray[np.str_],
    in_force: npt.NDArray[np.bool_],
    reached: npt.NDArray[np.bool_],
    names: dict[str, str],
    most: int = 6,
) -> str:
    """Say which of a force's districts are (not) reached, keeping the list short."""
    missing = [names.get(str(d), str(d)) for d in codes[in_force & ~reached]]
    covered = [names.get(str(d), str(d)) for d in codes[in_force & reached]]
    total = len(missing) + len(covered)
    if len(missing) <= most:
        return "not in " + ", ".join(missing)
    if len(covered) <= most:
        return f"only in {', '.join(covered)} ({len(covered)} of {total} districts)"
    return f"not in {len(missing)} of {total} districts, e.g. {', '.join(missing[:most])}"


def _nearest_outside(
    services: pd.DataFrame,
    prepared: PreparedServices,
    geography: Geography,
    k: int,
    *,
    nearest: int,
    force_names: dict[str, str],
) -> pd.DataFrame:
    from scipy.spatial import cKDTree

    table = geography.table
    residents = geography.resident_xy[geography.force_bounds[k] : geography.force_bounds[k + 1]]
    columns = ["name", "organisation", "based_in", "km_from_force", "by_and_for", "serves_force"]
    candidates = np.flatnonzero(
        prepared.in_person & ~prepared.confidential & (prepared.location_force != k)
    )
    if len(residents) == 0 or len(candidates) == 0 or nearest <= 0:
        return pd.DataFrame(columns=columns)
    tree = cKDTree(residents)
    distance, _ = tree.query(prepared.xy[candidates], k=1, workers=-1)
    order = np.argsort(distance, kind="stable")[:nearest]
    chosen = candidates[order]
    area = prepared.area[chosen]
    serves = (area >= 0) & prepared.area_forces[np.maximum(area, 0), k]
    force_codes = table.force_codes
    based = [
        force_names.get(str(force_codes[f]), str(force_codes[f])) if f >= 0 else ""
        for f in prepared.location_force[chosen]
    ]
    rows = services.iloc[chosen]
    return pd.DataFrame(
        {
            "name": rows["name"].to_numpy(),
            "organisation": _column(rows, "organisation"),
            "based_in": based,
            "km_from_force": np.round(np.asarray(distance)[order] / 1000.0, 1),
            "by_and_for": _column(rows, "by_and_for"),
            "serves_force": serves,
        }
    )


# --- one place ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """Where a ``near`` search is centred, and the districts whose services serve it."""

    x: float
    y: float
    districts: npt.NDArray[np.intp]  # England and Wales districts the place lies in
    label: str
    kind: str  # "postcode", "postcode district", "postcode sector" or "point"
    centre_district: int  # the district at (x, y): the one named for a single postcode
    partly_outside: bool = False  # some of its postcodes are outside England and Wales


_OUTWARD_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_FORMS = "give a postcode like 'UB1 3BL', a postcode district like 'UB1' or a sector like 'UB1 3'"


def _parse_place(place: str) -> tuple[str, str]:
    """Return the kind of a postcode-like text and its normal form (``"ST4"``, ``"ST4 1"``)."""
    words = place.upper().split()
    code = "".join(words)
    if _POSTCODE_RE.match(code):
        return "postcode", f"{code[:-3]} {code[-3:]}"
    if len(words) == 2 and _OUTWARD_RE.match(words[0]) and re.fullmatch(r"[0-9]", words[1]):
        return "postcode sector", " ".join(words)
    if len(words) == 1 and _OUTWARD_RE.match(code):
        return "postcode district", code
    raise GeocodeError(
        f"{place!r} is not a UK postcode, postcode district or postcode sector; {_FORMS}."
    )


def _area_rows(table: PostcodeTable, label: str) -> npt.NDArray[np.intp]:
    """Return the rows of every postcode in a district or sector (``"ST4"``, ``"ST4 1"``)."""
    outward = label.split()[0]
    prefix = label.replace(" ", "").encode()
    lo, hi = np.searchsorted(table.postcodes, [prefix, prefix + b"\xff"])
    rows = np.arange(lo, hi, dtype=np.intp)
    # the inward code is always three characters, so a postcode's length fixes its outward code
    lengths = np.char.str_len(table.postcodes[rows])
    return np.asarray(rows[lengths == len(outward) + 3], dtype=np.intp)


def _resolve_area(place: str, kind: str, label: str, geography: Geography) -> _Place:
    table = geography.table
    rows = _area_rows(table, label)
    if len(rows) == 0 and kind == "postcode district" and label[-1].isdigit():
        sector = f"{label[:-1]} {label[-1]}"  # "ST41" typed without its space
        if _OUTWARD_RE.match(label[:-1]) and len(_area_rows(table, sector)):
            kind, label = "postcode sector", sector
            rows = _area_rows(table, label)
    what = f"{kind.capitalize()} {label!r}"
    if len(rows) == 0:
        raise GeocodeError(
            f"{what} is not in the ONS postcode directory; check it for typos, or {_FORMS}."
        )
    located = rows[table.easting[rows] >= 0]
    if len(located) == 0:
        raise GeocodeError(
            f"{what} has no postcode with a grid reference in the ONS postcode directory; "
            "give a full postcode."
        )
    inside = located[table.force[located] >= 0]
    if len(inside) == 0:
        raise GeocodeError(
            f"{what} is outside England and Wales; servicemap covers the 43 police force areas "
            "of England and Wales."
        )
    x = float(np.mean(table.easting[located]))
    y = float(np.mean(table.northing[located]))
    d2 = (table.easting[inside] - x) ** 2.0 + (table.northing[inside] - y) ** 2.0
    centre = int(table.district[inside[int(np.argmin(d2))]])
    districts = np.unique(table.district[inside]).astype(np.intp)
    return _Place(x, y, districts, label, kind, centre, len(inside) < len(located))


def _resolve_place(place: str | tuple[float, float], geography: Geography) -> _Place:
    """Return where a postcode, postcode district or sector, or a BNG point is."""
    table = geography.table
    if isinstance(place, str):
        kind, label = _parse_place(place)
        if kind != "postcode":
            return _resolve_area(place, kind, label, geography)
        code = label.replace(" ", "")
        row = table.rows(np.array([code], dtype="S7"))[0]
        if row < 0:
            raise GeocodeError(
                f"Postcode {place!r} is not in the ONS postcode directory; check it for typos "
                "(new postcodes appear a few months after they are issued)."
            )
        if table.easting[row] < 0:
            raise GeocodeError(
                f"Postcode {place!r} has no grid reference in the ONS postcode directory; "
                "try a neighbouring postcode."
            )
        if table.force[row] < 0:
            raise GeocodeError(
                f"Postcode {place!r} is outside England and Wales; servicemap covers the 43 "
                "police force areas of England and Wales."
            )
        district = int(table.district[row])
        return _Place(
            float(table.easting[row]),
            float(table.northing[row]),
            np.array([district], dtype=np.intp),
            label,
            kind,
            district,
        )
    x, y = (float(v) for v in place)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise GeocodeError(f"Point {place!r} is not a pair of finite easting, northing metres.")
    located = geography.located
    d2 = (table.easting[located] - x) ** 2 + (table.northing[located] - y) ** 2
    nearest = int(np.argmin(d2))
    if d2[nearest] > 10_000.0**2:
        raise GeocodeError(
            f"Point {place!r} is more than 10 km from any postcode in England and Wales; give "
            "British National Grid easting and northing in metres (EPSG:27700)."
        )
    district = int(table.district[np.flatnonzero(located)[nearest]])
    return _Place(x, y, np.array([district], dtype=np.intp), f"{x:.0f}, {y:.0f}", "point", district)


def services_near(
    place: str | tuple[float, float],
    services: pd.DataFrame,
    *,
    radius_km: float = 25,
    limit: int = 10,
    postcodes: PostcodeTable | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Return who can help someone at a postcode: services serving it, and in-person ones nearby.

    A confidential service is listed only as "serves this area", with no location and no
    distance. Ended services are left out.

    Parameters
    ----------
    place
        A postcode (any spacing or case: ``"UB1 3BL"``, ``"ub13bl"``), a postcode district
        (outward code, ``"ST4"``) or sector (``"ST4 1"``), or an (easting, northing) point in
        EPSG:27700 metres. A district or sector is placed at the mean of its located postcodes,
        and a service serving any England and Wales district it spans serves it.
    services
        The canonical services frame. Not modified.
    radius_km
        How far to look for in-person services, in km.
    limit
        At most this many "nearby" rows (services that do not serve the area but are near).
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    settings
        Where the postcode table is cached.

    Returns
    -------
    pandas.DataFrame
        Columns ``relation`` ("serves this area", "nearby" or "nearest, beyond N km"), ``name``,
        ``organisation``, ``scope``, ``distance_km`` (NaN for confidential or remote services),
        ``serves``, service details and public contact fields. ``attrs`` holds ``place``
        (the normal form), ``place_kind`` (``"postcode"``, ``"postcode district"``, ``"postcode
        sector"`` or ``"point"``), ``district`` and ``force`` (the names, joined with ", "
        when the place spans several), ``districts`` and ``forces`` (lists of names),
        ``centre_district`` (the district at the centre), ``partly_outside`` (some of its
        postcodes are outside England and Wales) and ``radius_km``.
    """
    if not np.isfinite(radius_km) or radius_km <= 0:
        raise ValueError(f"radius_km must be a positive distance in km, got {radius_km!r}.")
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    geography = geography_from_postcodes(table)
    where = _resolve_place(place, geography)
    prepared = prepare_services(services, geography)
    area = prepared.area
    serves = prepared.active & (area >= 0)
    serves &= prepared.area_districts[np.maximum(area, 0)][:, where.districts].any(axis=1)
    public_point = prepared.in_person & ~prepared.confidential
    km = np.hypot(prepared.xy[:, 0] - where.x, prepared.xy[:, 1] - where.y) / 1000.0
    km = np.where(public_point, km, np.nan)
    nearby = public_point & ~serves & (km <= radius_km)
    nearby_idx = np.flatnonzero(nearby)
    nearby_idx = nearby_idx[np.argsort(km[nearby_idx], kind="stable")][: max(limit, 0)]
    relation = np.full(len(services), "", dtype=object)
    relation[serves] = "serves this area"
    relation[nearby_idx] = "nearby"
    if not serves.any() and len(nearby_idx) == 0:
        others = np.flatnonzero(public_point)
        if len(others):
            closest = others[np.argmin(km[others])]
            relation[closest] = f"nearest, beyond {radius_km:g} km"
    chosen = np.flatnonzero(relation != "")
    rows = _public_fields(services.iloc[chosen], prepared.confidential[chosen])
    result = pd.DataFrame(
        {
            "relation": relation[chosen],
            "name": rows["name"].to_numpy(),
            "organisation": _column(rows, "organisation"),
            "scope": _LEVEL_NAMES[prepared.level[chosen]],
            "distance_km": np.round(km[chosen], 1),
            **_columns(rows, (*_DETAIL_COLUMNS, "languages", *_SUPPORT_COLUMNS)),
        }
    )
    result = result.assign(
        _group=(result["relation"] != "serves this area").astype(int),
        _scope=result["scope"].map(_SCOPE_CODE),
        _name=result["name"].str.lower(),
    )
    result = result.sort_values(
        ["_group", "_scope", "distance_km", "_name"], na_position="last", kind="stable"
    ).drop(columns=["_group", "_scope", "_name"])
    result = result.reset_index(drop=True)
    result.attrs.update(_place_attrs(where, table), radius_km=float(radius_km))
    return result


def _place_attrs(where: _Place, table: PostcodeTable) -> dict[str, Any]:
    """Return the ``attrs`` of a :func:`services_near` result that say where the place is."""
    district_name, force_name = district_names(), force_names()
    codes = [str(table.district_codes[d]) for d in where.districts]
    districts = [district_name.get(code, code) for code in codes]
    force_rows = list(dict.fromkeys(int(table.district_force[d]) for d in where.districts))
    forces = [str(table.force_codes[k]) for k in force_rows]
    forces = [force_name.get(code, code) for code in forces]
    centre = str(table.district_codes[where.centre_district])
    return {
        "place": where.label,
        "place_kind": where.kind,
        "district": ", ".join(districts),
        "force": ", ".join(forces),
        "districts": districts,
        "forces": forces,
        "centre_district": district_name.get(centre, centre),
        "partly_outside": where.partly_outside,
    }


# --- output -------------------------------------------------------------------------------

TABLE_COLUMNS: tuple[str, ...] = (
    "gap_rank",
    "force_name",
    "gap_score",
    "gap_class",
    "local_services",
    "local_coverage_share",
    "advocacy_level",
    "nrpf_accommodation_level",
    "legal_immigration_level",
    "born_outside_uk_2021",
)
"""Columns shown by the ``table`` and ``markdown`` formats (CSV and JSON have all of them)."""


def sort_coverage(coverage: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return the coverage table sorted by a column; a leading ``-`` sorts descending.

    Parameters
    ----------
    coverage
        A :func:`coverage_by_force` table.
    column
        The column name, optionally prefixed with ``-``.

    Returns
    -------
    pandas.DataFrame
        A sorted copy.
    """
    descending = column.startswith("-")
    name = column.removeprefix("-")
    if name not in coverage.columns:
        raise ValueError(
            f"Unknown column {name!r} for --sort; choose one of: {', '.join(coverage.columns)}."
        )
    return coverage.sort_values(
        [name, "force_code"], ascending=[not descending, True], kind="stable"
    ).reset_index(drop=True)


def _markdown(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if not np.isfinite(value) else f"{value:.3g}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def format_table(frame: pd.DataFrame, fmt: str, *, columns: tuple[str, ...] = ()) -> str:
    """Render a frame as ``table``, ``csv`` (spreadsheet-safe), ``json`` or ``markdown`` text.

    Parameters
    ----------
    frame
        The rows to render.
    fmt
        One of ``table``, ``csv``, ``json``, ``markdown``.
    columns
        For ``table`` and ``markdown``: the columns to show (all when empty or absent).

    Returns
    -------
    str
        The rendered text, ending with a newline.
    """
    shown = [c for c in columns if c in frame.columns] or list(frame.columns)
    if fmt == "csv":
        from servicemap.directory.export import spreadsheet_safe

        text: str = spreadsheet_safe(frame).to_csv(index=False, lineterminator="\n")
        return text
    if fmt == "json":
        import json

        return json.dumps(json_records(frame), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return _markdown(frame[shown])
    if fmt == "table":
        rounded = frame[shown].copy()
        for column in rounded.columns:
            if rounded[column].dtype.kind == "f":
                rounded[column] = rounded[column].round(3)
        return str(rounded.to_string(index=False)) + "\n"
    raise ValueError(f"Unknown format {fmt!r}; use table, csv, json or markdown.")


def _clip(text: object, width: int = 60) -> str:
    """Shorten long text for a terminal table (CSV and JSON keep it whole)."""
    value = str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


def format_force_profile(profile: ForceProfile) -> str:
    """Render a force profile as plain text for a terminal or an email.

    Parameters
    ----------
    profile
        From :func:`force_profile`.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    s = profile.summary
    lines = [
        f"{profile.name} ({profile.code})",
        f"Gap score {s['gap_score']:.1f}/100 ({s['gap_class']}), rank {s['gap_rank']} of "
        f"{profile.forces} (1 = largest gap).",
        f"Residents born outside the UK: {s['born_outside_uk_2021']:,} "
        f"({s['share_born_outside_uk']:.0%}); women aged 16+: {s['females_16plus_mid2023']:,}.",
        f"Services serving the force: {s['services_serving']} "
        f"({s['local_services']} local, {s['regional_services']} regional, "
        f"{s['national_services']} national); based in it: {s['services_based']}.",
        "",
        "Gaps:",
        *([f"  - {g}" for g in profile.gaps] or ["  (none found)"]),
        "",
        "Services serving the force:",
    ]
    shown = ["level", "name", "serves", "service_types", "phone"]
    if profile.services.empty:
        lines.append("  (none)")
    else:
        table = profile.services[shown].copy()
        table["name"] = table["name"].map(_clip)
        table["serves"] = table["serves"].map(_clip)
        lines.append(table.to_string(index=False))
    lines += ["", "Nearest in-person services outside the force:"]
    if profile.nearest_outside.empty:
        lines.append("  (none)")
    else:
        nearest = profile.nearest_outside.copy()
        nearest["name"] = nearest["name"].map(_clip)
        lines.append(nearest.to_string(index=False))
    return "\n".join(lines) + "\n"


NEAR_COLUMNS: tuple[str, ...] = ("relation", "name", "scope", "distance_km", "phone", "website")
"""Columns shown by the ``table`` format of :func:`format_near`."""


def format_near(near: pd.DataFrame, fmt: str) -> str:
    """Render :func:`services_near` as ``table`` (with a heading), ``csv`` or ``json`` text.

    Parameters
    ----------
    near
        From :func:`services_near`.
    fmt
        One of ``table``, ``csv``, ``json``.

    Returns
    -------
    str
        The rendered text, ending with a newline.
    """
    if fmt != "table":
        return format_table(near, fmt)
    attrs = near.attrs
    several = len(attrs.get("districts", [])) > 1 or len(attrs.get("forces", [])) > 1
    between = "; " if several else ", "  # the names are lists: keep them apart
    heading = (
        f"{attrs.get('place', '')} ({attrs.get('district', '')}{between}{attrs.get('force', '')}): "
        f"services serving this area, and in-person services within "
        f"{attrs.get('radius_km', 0):g} km."
    )
    note = describe_near_place(near)
    heading += f"\n{note}" if note else ""
    if near.empty:
        return heading + "\nNo services found.\n"
    shown = near[list(NEAR_COLUMNS)].copy()
    shown["name"] = shown["name"].map(_clip)
    shown["distance_km"] = [
        "" if not np.isfinite(v) else f"{v:.1f}" for v in shown["distance_km"].astype(float)
    ]
    return heading + "\n" + str(shown.to_string(index=False)) + "\n"


def describe_near_place(near: pd.DataFrame) -> str:
    """Say how a :func:`services_near` search over a postcode district or sector was done.

    Parameters
    ----------
    near
        From :func:`services_near`.

    Returns
    -------
    str
        E.g. "ST4 is a postcode district; distances are from its centre, in Stoke-on-Trent.
        It spans 3 local authority districts: services serving any of them are listed.";
        ``""`` for a full postcode or a point.
    """
    attrs = near.attrs
    kind = attrs.get("place_kind", "postcode")
    if kind not in ("postcode district", "postcode sector"):
        return ""
    note = (
        f"{attrs.get('place', '')} is a {kind}; distances are from its centre, in "
        f"{attrs.get('centre_district', '')}."
    )
    districts, forces = attrs.get("districts", []), attrs.get("forces", [])
    if len(forces) > 1:
        note += (
            f" It spans {len(districts)} local authority districts in {len(forces)} police "
            "force areas: services serving any of them are listed."
        )
    elif len(districts) > 1:
        note += (
            f" It spans {len(districts)} local authority districts: services serving any of "
            "them are listed."
        )
    if attrs.get("partly_outside"):
        note += " Part of it is outside England and Wales, which servicemap does not cover."
    return note


COVERAGE_FORMATS: tuple[str, ...] = ("table", "csv", "json", "markdown", "gpkg")
"""Formats :func:`write_coverage` writes."""


def coverage_areas(coverage: pd.DataFrame, force_areas: pd.DataFrame) -> Any:
    """Return the coverage table joined to force polygons, as a GeoDataFrame.

    Parameters
    ----------
    coverage
        From :func:`coverage_by_force`.
    force_areas
        Force polygons with a ``code`` (or ``force_code``) column
        (``servicemap.geography.boundaries.load_force_areas``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per force in ``coverage`` order, with every coverage column and the polygon.
    """
    import geopandas as gpd

    key = "force_code" if "force_code" in force_areas.columns else "code"
    if key not in force_areas.columns:
        raise ValueError(
            f"Force areas need a 'code' or 'force_code' column (found: "
            f"{', '.join(map(str, force_areas.columns))})."
        )
    shapes = force_areas.set_index(key).geometry
    geometry = shapes.reindex(coverage["force_code"]).to_numpy()
    return gpd.GeoDataFrame(coverage.copy(), geometry=geometry, crs=force_areas.crs)


def write_coverage(
    coverage: pd.DataFrame,
    path: Any,
    *,
    fmt: str,
    force_areas: pd.DataFrame | None = None,
) -> None:
    """Write the coverage table to a file atomically (the old file survives a failure).

    Parameters
    ----------
    coverage
        From :func:`coverage_by_force`.
    path
        The file to write.
    fmt
        One of :data:`COVERAGE_FORMATS`; ``gpkg`` needs ``force_areas``.
    force_areas
        Force polygons for ``gpkg`` (layer ``coverage``, in their own CRS).

    Returns
    -------
    None
        The file is written.
    """
    from servicemap._atomic import atomic_path, atomic_write_text

    if fmt != "gpkg":
        atomic_write_text(path, format_table(coverage, fmt, columns=TABLE_COLUMNS))
        return
    if force_areas is None:
        raise ValueError("The gpkg format needs force_areas (the force polygons).")
    areas = coverage_areas(coverage, force_areas)
    with atomic_path(path) as tmp:
        areas.to_file(tmp, driver="GPKG", layer="coverage")
