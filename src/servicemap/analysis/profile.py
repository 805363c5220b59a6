"""One force's profile: who serves it and how, its gaps in plain words, and help nearby."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._tables import _plain, json_records
from servicemap.analysis.access import DIRECT_PAIRS
from servicemap.analysis.coverage import PROVISION_LABELS, REMOTE_KINDS
from servicemap.analysis.reach import (
    _DETAIL_COLUMNS,
    _LEVEL_NAMES,
    _SCOPE_CODE,
    _SUPPORT_COLUMNS,
    PreparedServices,
    _column,
    _columns,
    _districts_reached,
    prepare_services,
)
from servicemap.directory.privacy import withhold_locations
from servicemap.errors import UnknownForceError
from servicemap.geography.areas import find_force
from servicemap.geography.forces import district_names
from servicemap.geography.postcodes import (
    Geography,
    PostcodeTable,
    geography_from_postcodes,
    load_postcode_table,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings


@dataclass(frozen=True)
class ForceProfile:
    """Everything about one force: its coverage row, who serves it, its gaps, help nearby.

    Attributes
    ----------
    code, name
        The force's ONS code and name.
    summary
        The force's row of :func:`servicemap.analysis.coverage.coverage_by_force`, as a dict.
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
    districts
        One row per district of the force (from
        :func:`servicemap.analysis.coverage.coverage_by_district`): need, local coverage,
        in-person access and the local services serving it; empty when not computed.
    places, active
        How many active services publish a place people can visit (the in-person access
        figures rest on them), and how many active services there are.
    """

    code: str
    name: str
    summary: dict[str, Any]
    services: pd.DataFrame
    gaps: list[str]
    nearest_outside: pd.DataFrame
    forces: int = 43
    districts: pd.DataFrame = field(default_factory=pd.DataFrame)
    places: int = 0
    active: int = 0

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
            "districts": json_records(self.districts),
            "in_person_basis": {"places": self.places, "active_services": self.active},
        }


def force_profile(
    force: str,
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    *,
    postcodes: PostcodeTable | None = None,
    prepared: PreparedServices | None = None,
    nearest: int = 5,
    districts: pd.DataFrame | None = None,
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
        The result of :func:`servicemap.analysis.coverage.coverage_by_force` for the same services.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    prepared
        ``reach.prepare_services(services, geography_from_postcodes(postcodes))``, when the
        caller profiles several forces (prepare once, profile many); ``None`` prepares here.
    nearest
        How many services outside the force to list.
    districts
        :func:`servicemap.analysis.coverage.coverage_by_district` for the same services, for
        the profile's table of districts; ``None`` for none.
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
    if prepared is None:
        prepared = prepare_services(services, geography)
    names = district_names()
    service_table = _serving_table(services, prepared, geography, k, names)
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
        districts=_district_table(districts, services, prepared, geography, code),
        places=int(prepared.in_person.sum()),
        active=int(prepared.active.sum()),
    )


_DISTRICT_COLUMNS = (
    "district_code",
    "district_name",
    "population_mid2023",
    "born_outside_uk_2021",
    "local_services",
    "local_coverage_share",
)


def _district_table(
    districts: pd.DataFrame | None,
    services: pd.DataFrame,
    prepared: PreparedServices,
    geography: Geography,
    code: str,
) -> pd.DataFrame:
    """Return the force's districts: need, local coverage, in-person access, who serves each."""
    if districts is None or "district_code" not in districts.columns:
        return pd.DataFrame()
    rows = districts.loc[districts["force_code"] == code]
    access = [c for c in rows.columns if c.startswith("in_person_within_")]
    table = rows[[*_DISTRICT_COLUMNS, *access]].sort_values(
        "born_outside_uk_2021", ascending=False, kind="stable"
    )
    local = prepared.active & (prepared.level == 0) & (prepared.area >= 0)
    names = services["name"].fillna("").astype(str).to_numpy()
    served_by = []
    for district in table["district_code"]:
        j = geography.district_index.get(str(district))
        serving = (
            local & prepared.area_districts[np.maximum(prepared.area, 0), j]
            if j is not None
            else np.zeros(len(names), dtype=bool)
        )
        served_by.append("; ".join(sorted(names[serving], key=str.lower)))
    return table.assign(local_services_serving=served_by).reset_index(drop=True)


# How to reach a service and who it is for, as the report's profiles show it (``id`` finds the
# service's row again, for the profile's download).
_REACH_COLUMNS = ("id", "email", "languages", "communities")


def _serving_table(
    services: pd.DataFrame,
    prepared: PreparedServices,
    geography: Geography,
    k: int,
    names: dict[str, str],
) -> pd.DataFrame:
    """Return the active services serving force ``k``, how they serve it, best level first."""
    table = geography.table
    district_force = table.district_force.astype(np.intp)
    in_force = (district_force == k) & (geography.district_count > 0)
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
    chosen = withhold_locations(services.iloc[idx], prepared.confidential[idx])
    service_table = pd.DataFrame(
        {
            "name": chosen["name"].to_numpy(),
            "organisation": _column(chosen, "organisation"),
            "level": _LEVEL_NAMES[prepared.level[idx]],
            "serves": how,
            "based_in_force": prepared.location_force[idx] == k,
            **_columns(chosen, (*_DETAIL_COLUMNS, *_SUPPORT_COLUMNS, *_REACH_COLUMNS)),
        }
    )
    service_table = service_table.sort_values(
        ["level", "name"], key=lambda s: s.map(_SCOPE_CODE) if s.name == "level" else s.str.lower()
    ).reset_index(drop=True)
    return service_table


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
    for kind, label in PROVISION_LABELS.items():
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
        if float(summary[column]) == 0.0:
            gaps.append(
                f"No service that publishes a place people can visit is within {radius} of any "
                "resident; help here is by phone, online, or from services that do not publish "
                "an address."
            )
        elif outside > 0.005:
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
    table = geography.table
    residents = geography.force_residents(k)
    columns = ["name", "organisation", "based_in", "km_from_force", "by_and_for", "serves_force"]
    candidates = np.flatnonzero(
        prepared.in_person & ~prepared.confidential & (prepared.location_force != k)
    )
    if len(residents) == 0 or len(candidates) == 0 or nearest <= 0:
        return pd.DataFrame(columns=columns)
    order, metres = _nearest_few(prepared.xy[candidates], residents, nearest)
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
            "km_from_force": np.round(metres / 1000.0, 1),
            "by_and_for": _column(rows, "by_and_for"),
            "serves_force": serves,
        }
    )


def _nearest_few(
    points: npt.NDArray[np.float64], residents: npt.NDArray[np.float64], few: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Return which ``few`` of ``points`` are nearest to ``residents`` (ties in order), how far.

    The same as measuring every point and sorting, measuring only the points that can be among
    them: a point is no nearer to the residents than to their bounding box, so once ``few``
    points are measured (those nearest the box), the others are taken nearest the box first,
    and a point is measured only while its box distance is within the ``few``-th smallest
    distance so far, and only against the residents whose easting is within that distance of
    its own (residents sorted by easting; :func:`_nearest_distance`'s arithmetic, so the
    distances are the same).

    Returns
    -------
    tuple of numpy.ndarray
        Indices into ``points``, nearest first, and their distances (m) to the nearest resident.
    """
    low, high = residents.min(axis=0), residents.max(axis=0)
    outside = np.maximum(np.maximum(low - points, points - high), 0.0)
    # the same arithmetic as the distances, so a bound is never above the distance it bounds
    bound = np.sqrt(outside[:, 0] * outside[:, 0] + outside[:, 1] * outside[:, 1])
    by_bound = np.argsort(bound, kind="stable")
    first = by_bound[:few]
    metres = np.full(len(points), np.inf)
    metres[first] = _nearest_distance(points[first], residents)
    kept = np.sort(metres[first])  # the few smallest so far
    if len(by_bound) > few:
        by_x = residents[np.argsort(residents[:, 0], kind="stable")]
        xs = by_x[:, 0]
        for i in by_bound[few:].tolist():
            within = float(kept[-1])
            if bound[i] > within:
                break  # and so is every point after it
            px, py = points[i]
            strip = within * (1 + 1e-9) + 1e-6  # a wider strip only measures more residents
            start = int(np.searchsorted(xs, px - strip, side="left"))
            end = int(np.searchsorted(xs, px + strip, side="right"))
            if end > start:
                dx, dy = by_x[start:end, 0] - px, by_x[start:end, 1] - py
                metres[i] = np.sqrt(np.min(dx * dx + dy * dy))
                if metres[i] < within:
                    kept[-1] = metres[i]
                    kept.sort()
    order: npt.NDArray[np.intp] = np.argsort(metres, kind="stable")[:few]
    return order, metres[order]


def _nearest_distance(
    points: npt.NDArray[np.float64], residents: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return each point's straight-line distance (m) to the nearest of ``residents``.

    A few dozen services against one force's postcodes: a direct search is quicker than
    building a k-d tree (and importing scipy) for them, and gives the same distances (the
    square root of the summed squares, as the tree computes them). Thousands of services (a
    large directory): the tree is many times quicker.
    """
    if len(points) > 1_000 or len(points) * len(residents) > DIRECT_PAIRS:
        from scipy.spatial import cKDTree

        found, _ = cKDTree(residents).query(points, k=1)
        tree_metres: npt.NDArray[np.float64] = np.asarray(found, dtype=np.float64)
        return tree_metres
    out = np.empty(len(points), dtype=np.float64)
    x, y = residents[:, 0], residents[:, 1]
    for i, (px, py) in enumerate(points):
        dx, dy = x - px, y - py
        out[i] = np.sqrt(np.min(dx * dx + dy * dy))
    return out
