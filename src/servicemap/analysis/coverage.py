"""Coverage per police force area, district or authority: who serves where, need, the gaps.

Residents are spread over the located postcodes of their district
(:mod:`servicemap.geography.residents`); the served areas, in-person locations and distances
come from :func:`servicemap.analysis.reach.prepare_services`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._progress import status
from servicemap.analysis.access import ReachState, _radius_label, access_measures, measure_names
from servicemap.analysis.reach import (
    PreparedServices,
    Units,
    _count_by_unit,
    _districts_reached,
    _share_by_unit,
    area_units,
    prepare_services,
)
from servicemap.directory.schema import PROVISION_KINDS
from servicemap.errors import NeedFileError
from servicemap.geography.forces import district_names, force_names, load_authorities
from servicemap.geography.need import NEED_COLUMNS, load_need
from servicemap.geography.postcodes import (
    Geography,
    PostcodeTable,
    geography_from_postcodes,
    load_postcode_table,
)
from servicemap.geography.residents import (
    RESIDENTS_COLUMN,
    district_need_for,
    district_weights,
    ew_districts,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

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

LEVELS: tuple[str, ...] = ("force", "district", "authority")
"""The areas coverage can be measured for: police force areas, local authority districts
(2025), and tier-one local authorities (:func:`servicemap.geography.forces.load_authorities`)."""

PROVISION_LABELS: dict[str, str] = {
    "advocacy": "Advocacy / IDVA",
    "nrpf_accommodation": "Safe accommodation open to women with no recourse to public funds",
    "legal_immigration": "Immigration or legal advice",
    "counselling": "Counselling or group support",
    "helpline": "Helpline",
}


def _counts(values: pd.Series) -> npt.NDArray[Any]:
    """Return whole numbers as int64, or float64 with NaN where a user's table has gaps."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        ints: npt.NDArray[Any] = numeric.to_numpy(dtype=np.int64)
        return ints
    floats: npt.NDArray[Any] = numeric.to_numpy(dtype=np.float64)
    return floats


def _force_names(force_codes: list[str], need: pd.DataFrame) -> list[str]:
    register = force_names()
    from_need: dict[str, str] = {}
    if "force_name" in need.columns:
        keys = need["force_code"] if "force_code" in need.columns else need.index.to_series()
        from_need = dict(zip(keys.astype(str), need["force_name"].astype(str), strict=True))
    return [str(register.get(c) or from_need.get(c) or c) for c in force_codes]


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

    Residents are weighted by district: each located postcode carries ``its district's
    population_mid2023 / located postcodes in its district``, so a force's shares are shares of
    its residents as the districts hold them (how people spread within a district is not
    known). A need table per force is spread evenly over the force's postcodes instead. Ended
    services (``status`` = ``ended``) are left out. See the README section "Coverage measures
    and the gap score" for every column and the formula.

    Parameters
    ----------
    services
        The canonical services frame (``servicemap.directory.load.load_services``). Not
        modified.
    need
        Need per district (``servicemap.geography.need.load_need(level="district")``) or per
        force; ``None`` for the bundled ONS figures per district.
    postcodes
        The postcode table giving districts, forces and located postcodes; ``None`` loads the
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
    return coverage_by_area(
        services, level="force", need=need, postcodes=postcodes, radii_km=radii_km,
        settings=settings,
    )  # fmt: skip


def coverage_by_district(
    services: pd.DataFrame,
    *,
    need: pd.DataFrame | None = None,
    postcodes: PostcodeTable | None = None,
    radii_km: tuple[float, ...] = (10, 25),
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Return :func:`coverage_by_force`'s measures for each local authority district.

    Parameters are those of :func:`coverage_by_force`. The gap score's capacity benchmark is
    the England and Wales rate over districts.

    Returns
    -------
    pandas.DataFrame
        One row per district of the postcode table in England and Wales (318 for the ONS one),
        with ``district_code``, ``district_name``, ``force_code`` and ``force_name`` first.
    """
    return coverage_by_area(
        services, level="district", need=need, postcodes=postcodes, radii_km=radii_km,
        settings=settings,
    )  # fmt: skip


def coverage_by_authority(
    services: pd.DataFrame,
    *,
    need: pd.DataFrame | None = None,
    postcodes: PostcodeTable | None = None,
    radii_km: tuple[float, ...] = (10, 25),
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Return :func:`coverage_by_force`'s measures for each tier-one local authority.

    Parameters are those of :func:`coverage_by_force`. Tier-one authorities (county councils,
    unitary authorities, metropolitan districts, London boroughs and the City, Welsh principal
    areas) hold the duty to commission safe accommodation (Domestic Abuse Act 2021, Part 4).

    Returns
    -------
    pandas.DataFrame
        One row per authority (175 for the ONS table), with ``authority_code``,
        ``authority_name``, ``authority_type``, ``force_code`` and ``force_name`` first.
    """
    return coverage_by_area(
        services, level="authority", need=need, postcodes=postcodes, radii_km=radii_km,
        settings=settings,
    )  # fmt: skip


def coverage_by_area(
    services: pd.DataFrame,
    *,
    level: str = "force",
    need: pd.DataFrame | None = None,
    postcodes: PostcodeTable | None = None,
    radii_km: tuple[float, ...] = (10, 25),
    settings: Settings = DEFAULT_SETTINGS,
    before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the coverage table at one level: ``force``, ``district`` or ``authority``.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    level
        One of :data:`LEVELS`.
    need, postcodes, radii_km, settings
        As for :func:`coverage_by_force`.
    before
        The same table (same level, need, radii and postcode table) for the first rows of
        ``services`` -- the directory, when ``services`` is the directory plus proposed
        services: the access figures of every area no added service can come nearer to are
        taken from it, so only the areas around the additions are measured again. The table is
        the same as without it; a table that does not match is not used.

    Returns
    -------
    pandas.DataFrame
        One row per unit of the level, sorted by ``gap_rank``; the same measures at every
        level, with the gap score's benchmark taken over the units of that level.
        ``attrs["visitable_services"]`` and ``attrs["active_services"]``: how many active
        services publish a place people can visit, of how many.

    Raises
    ------
    ValueError
        On an unknown level or radius.
    NeedFileError
        If the need table lacks a district or force of the postcode table, or a need column.
    """
    if level not in LEVELS:
        raise ValueError(f"Unknown level {level!r}; use one of: {', '.join(LEVELS)}.")
    radii = _check_radii(radii_km)
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    need = load_need(level="district") if need is None else need
    _check_need_columns(need)
    geography = geography_from_postcodes(table)
    districts = district_need_for(geography, need)
    units = _units(geography, level, need, districts)
    weights = district_weights(geography, need, RESIDENTS_COLUMN)
    people = weights * geography.district_count
    prepared = prepare_services(services, geography)
    columns: dict[str, Any] = {
        **units.columns,
        **_provision_columns(prepared, geography, units.units, people),
    }
    of_unit = units.units.of_district[ew_districts(geography)]
    for column in NEED_COLUMNS:
        sums = districts[column].groupby(of_unit).sum(min_count=1)
        columns[column] = _counts(sums.reindex(range(units.units.n)))
    born = columns["born_outside_uk_2021"].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["share_born_outside_uk"] = born / columns["usual_residents_2021"]
        columns["local_services_per_100k_born_abroad"] = columns["local_services"] / born * 1e5
    status(
        f"Measuring distances from {int(geography.district_count.sum()):,} postcodes to "
        f"{int(prepared.in_person.sum()):,} in-person services…"
    )
    measures, reach = access_measures(
        geography, prepared, radii, units.units, weights, base=_base(before, units)
    )
    columns.update(measures)
    scored = _score(pd.DataFrame(columns), radii, key=units.key)
    # What the access figures rest on (see visitable_services), for whoever shows them.
    scored.attrs["visitable_services"] = int(prepared.in_person.sum())
    scored.attrs["active_services"] = int(prepared.active.sum())
    scored.attrs["reach"] = reach  # lets a table with a few more services be measured quickly
    return scored


def _base(
    before: pd.DataFrame | None, units: _Level
) -> tuple[ReachState, dict[str, npt.NDArray[np.float64]]] | None:
    """Return the access state and figures of ``before`` in ``units``' order, if it has them."""
    if before is None or not isinstance(before.attrs.get("reach"), ReachState):
        return None
    keys = units.columns[units.key]
    if units.key not in before.columns or sorted(before[units.key]) != sorted(keys):
        return None
    state: ReachState = before.attrs["reach"]
    names = measure_names(state.radii_km)
    if not set(names) <= set(before.columns):
        return None
    by_key = before.set_index(units.key)
    figures = {c: by_key[c].reindex(keys).to_numpy(dtype=np.float64) for c in names}
    return state, figures


def _check_need_columns(need: pd.DataFrame) -> None:
    missing = [c for c in NEED_COLUMNS if c not in need.columns]
    if missing:
        raise NeedFileError(
            f"The need table is missing column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, need.columns))}); pass a table like the bundled "
            "data/need/district_need.csv."
        )


@dataclass(frozen=True)
class _Level:
    """The units of one level, their identifying columns, and which column is the key."""

    units: Units
    columns: dict[str, list[str]]
    key: str


def _units(geography: Geography, level: str, need: pd.DataFrame, districts: pd.DataFrame) -> _Level:
    """Return the forces, districts or authorities of the postcode table as units."""
    table = geography.table
    force_codes = [str(c) for c in table.force_codes]
    if level == "force":
        return _Level(
            Units(table.district_force.astype(np.intp), len(force_codes)),
            {"force_code": force_codes, "force_name": _force_names(force_codes, need)},
            "force_code",
        )
    rows = ew_districts(geography)
    codes = list(districts.index)
    of_district = np.full(geography.n_districts, -1, dtype=np.intp)
    if level == "district":
        of_district[rows] = np.arange(len(rows))
        unit_codes = codes
        unit_forces = list(districts["force_code"])
        names = district_names()
        extra = {
            "district_code": unit_codes,
            "district_name": [names.get(c, c) for c in unit_codes],
        }
    else:
        register = load_authorities().set_index("district_code")
        authority = [str(register["authority_code"].get(c, c)) for c in codes]
        unit_codes = sorted(set(authority))
        position = {c: i for i, c in enumerate(unit_codes)}
        of_district[rows] = [position[a] for a in authority]
        first = dict(zip(reversed(authority), reversed(codes), strict=True))
        by_code = register.drop_duplicates("authority_code").set_index("authority_code")
        names = district_names()
        unit_forces = [str(districts.at[first[a], "force_code"]) for a in unit_codes]
        extra = {
            "authority_code": unit_codes,
            "authority_name": [
                str(by_code["authority_name"].get(a, names.get(first[a], a))) for a in unit_codes
            ],
            "authority_type": [str(by_code["authority_type"].get(a, "")) for a in unit_codes],
        }
    force_name = dict(zip(force_codes, _force_names(force_codes, need), strict=True))
    columns = {
        **extra,
        "force_code": unit_forces,
        "force_name": [force_name[f] for f in unit_forces],
    }
    return _Level(Units(of_district, len(unit_codes)), columns, f"{level}_code")


def _provision_columns(
    prepared: PreparedServices,
    geography: Geography,
    units: Units,
    people: npt.NDArray[np.float64],
) -> dict[str, Any]:
    """Return the per-unit service counts, levels and local shares of the coverage table."""
    active = prepared.active
    local = active & (prepared.level == 0)
    regional = active & (prepared.level == 1)
    national = active & (prepared.level == 2)
    inside = units.of_district >= 0
    located = units.of_district[np.maximum(prepared.location_district, 0)]
    if units.n == geography.n_forces and np.array_equal(
        units.of_district, geography.table.district_force
    ):
        located = prepared.location_force  # the force a service's record gives
    else:
        located = np.where(prepared.location_district >= 0, located, -1)

    reach = area_units(prepared, units)  # once, for every count below

    def count(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        return _count_by_unit(prepared, flags, units, reach)

    def share(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        return _share_by_unit(_districts_reached(prepared, flags), units, people)

    columns: dict[str, Any] = {
        "postcodes": np.rint(
            np.bincount(
                units.of_district[inside],
                weights=geography.district_count[inside],
                minlength=units.n,
            )
        ).astype(np.int64),
        "services_based": np.bincount(located[active & (located >= 0)], minlength=units.n),
        "services_serving": count(active),
        "local_services": count(local),
        "regional_services": count(regional),
        "national_services": count(national),
        "local_coverage_share": share(local),
    }
    for kind, has_kind in prepared.kinds.items():
        best = np.full(units.n, "none", dtype=object)
        for level_name, flags in (("national", national), ("regional", regional)):
            best = np.where(count(flags & has_kind) > 0, level_name, best)
        best = np.where(count(local & has_kind) > 0, "local", best)
        columns[f"{kind}_level"] = best
        columns[f"{kind}_local_share"] = share(local & has_kind)
        for level_name, flags in (("regional", regional), ("national", national)):
            columns[f"_{kind}_{level_name}"] = count(flags & has_kind) > 0
    columns["by_and_for_local"] = count(local & prepared.by_and_for)
    columns["nrpf_local"] = count(local & prepared.nrpf)
    return columns


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


def _score(
    coverage: pd.DataFrame, radii: tuple[float, ...], *, key: str = "force_code"
) -> pd.DataFrame:
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
    # Ties share a rank; within a tie, the area with more residents born abroad comes first.
    return scored.sort_values(
        ["gap_rank", "born_outside_uk_2021", key],
        ascending=[True, False, True],
        kind="stable",
    ).reset_index(drop=True)


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
    key = str(coverage.columns[0])  # force_code, district_code or authority_code
    keys, ascending = (
        ([name], [not descending]) if name == key else ([name, key], [not descending, True])
    )
    return coverage.sort_values(keys, ascending=ascending, kind="stable").reset_index(drop=True)


def coverage_areas(coverage: pd.DataFrame, force_areas: pd.DataFrame) -> Any:
    """Return the coverage table joined to force polygons, as a GeoDataFrame.

    Parameters
    ----------
    coverage
        From :func:`coverage_by_force`.
    force_areas
        Force polygons with a ``force_code`` column
        (``servicemap.geography.boundaries.load_force_areas``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per force in ``coverage`` order, with every coverage column and the polygon.
    """
    import geopandas as gpd

    if "force_code" not in force_areas.columns:
        raise ValueError(
            f"Force areas need a 'force_code' column (found: "
            f"{', '.join(map(str, force_areas.columns))}); load them with load_force_areas."
        )
    shapes = force_areas.set_index("force_code").geometry
    geometry = shapes.reindex(coverage["force_code"]).to_numpy()
    return gpd.GeoDataFrame(coverage.copy(), geometry=geometry, crs=force_areas.crs)


def visitable_services(
    services: pd.DataFrame,
    *,
    postcodes: PostcodeTable | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> tuple[int, int]:
    """Return how many active services publish a place people can visit, and of how many.

    The access measures (``in_person_within_<R>km``, ``median_km_to_in_person``) rest on these
    services only: ``delivery`` in person (or empty, with a street address or postcode), a
    location, and not a PO Box or Freepost address.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    settings
        Where the postcode table is cached.

    Returns
    -------
    tuple of int
        (services counted as in person, active services).
    """
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    prepared = prepare_services(services, geography_from_postcodes(table))
    return int(prepared.in_person.sum()), int(prepared.active.sum())
