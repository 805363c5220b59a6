"""Coverage per police force area: who serves where, how that compares with need, and the gaps.

Residents are spread over the located postcodes of their force (see :func:`coverage_by_force`);
the served areas, in-person locations and distances come from
:func:`servicemap.analysis.reach.prepare_services`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._progress import status
from servicemap.analysis.reach import (
    PreparedServices,
    _access,
    _count_by_force,
    _districts_reached,
    _radius_label,
    _share_by_force,
    prepare_services,
)
from servicemap.directory.schema import PROVISION_KINDS
from servicemap.errors import NeedFileError
from servicemap.geography.forces import force_names
from servicemap.geography.need import NEED_COLUMNS, load_need
from servicemap.geography.postcodes import (
    Geography,
    PostcodeTable,
    geography_from_postcodes,
    load_postcode_table,
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
    columns: dict[str, Any] = {
        "force_code": force_codes,
        "force_name": _force_names(force_codes, need),
        **_provision_columns(prepared, geography),
    }
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


def _provision_columns(prepared: PreparedServices, geography: Geography) -> dict[str, Any]:
    """Return the per-force service counts, levels and local shares of the coverage table."""
    active = prepared.active
    local = active & (prepared.level == 0)
    regional = active & (prepared.level == 1)
    national = active & (prepared.level == 2)
    columns: dict[str, Any] = {
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
