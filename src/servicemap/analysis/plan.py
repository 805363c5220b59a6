"""Planning a funding round: what funding a service changes, and where new services reach most.

Two questions a Police and Crime Commissioner asks before a funding round:

* *What if we fund this service?* :func:`what_if` adds proposed services (a small file in the
  services directory schema) to the directory and compares every coverage measure before and
  after, force by force.
* *Where would one, two or three new services close the most gap?* :func:`propose_sites`
  solves a maximal covering location problem: choose N sites for new in-person services so
  that as many residents as possible (weighted by need) who are not yet within R km of an
  in-person service come within R km of one. :mod:`servicemap.analysis.sites` builds the
  problem (candidate sites are postcode districts and any sites the user lists) and
  :mod:`servicemap.analysis.cover` solves it: greedily, which is guaranteed to reach at least
  1 - 1/e (63%) of the best possible, with a bound computed from the data, or exactly.

Distances are straight lines in British National Grid metres, residents are spread over the
located postcodes of their force, and in-person services are the ones the coverage table
counts (confidential ones at the centre of their district) -- all exactly as in
:mod:`servicemap.analysis.coverage`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._progress import status
from servicemap.analysis.cover import (
    CoverSolution,
    _as_csr,
    _check_count,
    _merged_cells,
    exact_max_cover,
    greedy_budget_cover,
    greedy_max_cover,
    kept_bound,
    lp_budget_bound,
    lp_upper_bound,
)
from servicemap.analysis.coverage import coverage_by_area, coverage_by_force
from servicemap.analysis.sites import (
    ENGLAND_AND_WALES,
    SiteProblem,
    _resolve_force,
    site_problem,
)
from servicemap.directory.load import services_from_checked, with_geometry
from servicemap.directory.proposals import check_proposals
from servicemap.directory.schema import DERIVED, FIELDS
from servicemap.errors import PlanError
from servicemap.geography.forces import district_names, force_names
from servicemap.geography.geocode import wgs84_from_bng
from servicemap.geography.need import load_need
from servicemap.geography.postcodes import (
    PostcodeTable,
    geography_from_postcodes,
    load_postcode_table,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    import geopandas as gpd


PROPOSED_KIND = "advocacy"
"""The kind a proposal counts as in the coverage measures when no ``kind`` is given."""

# The service type a proposal of each kind is given (so coverage counts it as that kind).
_PROPOSED_TYPES: dict[str, str] = {
    "advocacy": "advocacy",
    "nrpf_accommodation": "housing",
    "legal_immigration": "immigration_advice",
    "counselling": "counselling",
    "helpline": "helpline",
}


_KEY_MEASURES: tuple[str, ...] = (
    "gap_score",
    "gap_rank",
    "gap_class",
    "local_services",
    "local_coverage_share",
)


def empty_services(*, settings: Settings = DEFAULT_SETTINGS) -> gpd.GeoDataFrame:
    """Return a canonical services frame with no rows (every schema column, right types).

    Parameters
    ----------
    settings
        ``settings.crs`` is the frame's CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        Zero rows, the columns of :mod:`servicemap.directory.schema` and a geometry column.
    """
    import geopandas as gpd

    floats = {"latitude", "longitude", "easting", "northing"}
    columns: dict[str, pd.Series] = {}
    for name in (*FIELDS, *DERIVED):
        dtype: Any = float if name in floats else bool if name == "confidential" else object
        columns[name] = pd.Series([], dtype=dtype)
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=settings.crs), crs=settings.crs)


def load_candidate_services(
    path: Path | str,
    *,
    settings: Settings = DEFAULT_SETTINGS,
    lookup: Any = None,
) -> gpd.GeoDataFrame:
    """Load proposed services: a minimal file in the directory's format, checked the same way.

    Only ``name``, a place (``postcode``, or ``latitude`` and ``longitude``) and
    ``service_types`` are needed; the rest get the defaults of
    :data:`servicemap.directory.proposals.PROPOSAL_DEFAULTS` (id from the name, scope local,
    status active, delivery in person, serving the district of its site), no ``source_url`` is
    needed and there are no warnings about whether a proposal still runs. A file with a header
    row and no services is allowed and gives an empty frame (the what-if then reproduces
    today's coverage exactly).

    Parameters
    ----------
    path
        CSV, XLSX, GeoJSON or Open Referral UK JSON, as for the directory itself.
    settings
        Where the postcode table is cached; the frame's CRS.
    lookup
        Postcode lookup, as for :func:`servicemap.directory.load.load_services` (tests pass a
        fake).

    Returns
    -------
    geopandas.GeoDataFrame
        The canonical services frame of the proposed services; ``attrs["defaults"]`` says how
        many took each default.

    Raises
    ------
    PlanError
        If the file has any error; the message gives the file, row, column and fix of the
        first few and says to run ``servicemap validate FILE``.
    """
    file = str(path)
    problems, checked, used = check_proposals(path, settings=settings, lookup=lookup)
    errors = [p for p in problems if p.severity == "error"]
    if errors and all(p.code == "no-services" for p in errors):
        return empty_services(settings=settings)
    if errors or checked is None:
        shown = "\n".join(f"  {p}" for p in errors[:5])
        more = f"\n  … and {len(errors) - 5} more." if len(errors) > 5 else ""
        count = f"{len(errors)} error" + ("s" if len(errors) > 1 else "")
        raise PlanError(
            f"Proposed services file {file!r} (--with) has {count}:\n{shown}{more}\n"
            "It uses the services directory format (only name, a postcode or latitude and "
            f"longitude, and service_types are needed); run 'servicemap validate {file}' to "
            "see every problem (validate also asks for what only a running service has, such "
            "as source_url)."
        )
    proposed = services_from_checked(checked, settings=settings)
    proposed.attrs["defaults"] = dict(used)
    return proposed


def _is_number(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def compare_coverage(
    before: pd.DataFrame, after: pd.DataFrame, *, force_codes: Sequence[str] = ()
) -> pd.DataFrame:
    """Return every coverage measure before and after, for the forces where anything changed.

    Parameters
    ----------
    before, after
        Two :func:`servicemap.analysis.coverage.coverage_by_force` tables over the same forces.
    force_codes
        Forces always included (first, in this order), changed or not.

    Returns
    -------
    pandas.DataFrame
        One row per force: ``force_code``, ``force_name``, ``changed`` (the measures that
        changed, ``;``-separated), then for every measure ``<m>_before`` and ``<m>_after`` and,
        for numeric measures, ``<m>_change`` (after - before; 0 when equal, also for inf).
        The requested forces come first, then the others by the size of their gap-score
        change (largest first) and code.
    """
    old = before.set_index("force_code")
    new = after.set_index("force_code").reindex(old.index)
    measures = [c for c in before.columns if c not in ("force_code", "force_name")]
    same: dict[str, pd.Series] = {}
    for m in measures:
        if _is_number(old[m]) and _is_number(new[m]):
            same[m] = (old[m] == new[m]) | (old[m].isna() & new[m].isna())
        else:
            same[m] = old[m].astype(str) == new[m].astype(str)
    unchanged = pd.DataFrame(same, index=old.index).to_numpy(dtype=bool)
    names = np.array(measures, dtype=object)
    changed = {code: list(names[~unchanged[i]]) for i, code in enumerate(old.index.astype(str))}
    requested = [c for c in dict.fromkeys(force_codes) if c in old.index]
    others = [c for c in old.index if changed[c] and c not in requested]
    if "gap_score" in measures:
        delta = (new["gap_score"] - old["gap_score"]).abs().fillna(0.0)
        others.sort(key=lambda c: (-float(delta.loc[c]), str(c)))
    else:
        others.sort()
    rows = requested + others
    out: dict[str, Any] = {
        "force_code": rows,
        "force_name": old.loc[rows, "force_name"].to_numpy(),
        "changed": ["; ".join(changed[c]) for c in rows],
    }
    position = old.index.get_indexer(rows)
    for j, m in enumerate(measures):
        b, a = old[m].iloc[position], new[m].iloc[position]
        out[f"{m}_before"] = b.to_numpy()
        out[f"{m}_after"] = a.to_numpy()
        if _is_number(old[m]) and _is_number(new[m]):
            with np.errstate(invalid="ignore"):
                difference = a.to_numpy() - b.to_numpy()
            out[f"{m}_change"] = np.where(unchanged[position, j], 0, difference)
            if pd.api.types.is_integer_dtype(old[m]) and pd.api.types.is_integer_dtype(new[m]):
                out[f"{m}_change"] = out[f"{m}_change"].astype(np.int64)
    return pd.DataFrame(out)


def _combined(services: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    if len(candidates) == 0:
        return services
    return pd.concat([services, candidates], ignore_index=True)


def what_if(
    services: pd.DataFrame,
    candidates: pd.DataFrame,
    *,
    force_codes: Sequence[str] | None = None,
    need: pd.DataFrame | None = None,
    postcodes: PostcodeTable | None = None,
    radii_km: tuple[float, ...] = (10, 25),
    settings: Settings = DEFAULT_SETTINGS,
    before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return what funding some proposed services would change, force by force.

    The coverage table is computed for the directory as it is and for the directory plus the
    proposed services, with :func:`servicemap.analysis.coverage.coverage_by_force` both times.

    Parameters
    ----------
    services
        The canonical services frame (the directory). Not modified.
    candidates
        The proposed services, a canonical frame too (:func:`load_candidate_services`); may be
        empty.
    force_codes
        Forces (codes or names) to show even if nothing changes for them.
    need
        Need per force (``servicemap.geography.need.load_need``); ``None`` for the bundled figures.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    radii_km
        Distances for the in-person access shares, in km.
    settings
        Where the postcode table is cached.
    before
        :func:`servicemap.analysis.coverage.coverage_by_force` of ``services`` with the same
        need, postcode table and radii (e.g. kept between runs); ``None`` computes it. The
        table after is then measured again only around the proposed services.

    Returns
    -------
    pandas.DataFrame
        :func:`compare_coverage` of the two tables: the requested forces and every force where
        any measure changes. Adding a local service also moves the England and Wales benchmark
        of the capacity component, so many forces' gap scores and ranks can move a little.
    """
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    geography = geography_from_postcodes(table)
    codes = [_resolve_force(f, geography) for f in (force_codes or ())]
    need = load_need(level="district") if need is None else need
    status("Computing coverage before and after…")
    if before is None:
        before = coverage_by_force(
            services, need=need, postcodes=table, radii_km=radii_km, settings=settings
        )
    after = coverage_by_area(
        _combined(services, candidates),
        need=need,
        postcodes=table,
        radii_km=radii_km,
        settings=settings,
        before=before,
    )
    comparison = compare_coverage(before, after, force_codes=codes)
    comparison.attrs.update(
        requested=codes,
        proposed=len(candidates),
        defaults=dict(candidates.attrs.get("defaults", {})),
    )
    return comparison


@dataclass(frozen=True)
class Proposal:
    """Where new in-person services would bring the most residents within reach.

    Attributes
    ----------
    sites
        One row per proposed site, in the order chosen: ``rank``, ``postcode_district``,
        ``name``, ``site_postcode``, ``local_authority``, ``force_code``, ``force_name``,
        ``easting``, ``northing``, ``latitude``, ``longitude``, ``cost`` (when known),
        ``newly_within_reach`` (weighted residents this site brings within reach, given the
        ones before it),
        ``within_reach_after`` and ``share_within_reach_after`` (cumulative), then the site's
        force's main coverage measures before and after all proposals (``<m>_before``,
        ``<m>_after``).
    coverage_change
        :func:`compare_coverage` of the coverage table without and with the proposals.
    problem
        The covering problem solved.
    solution
        The solver's answer on the demand cells, with its upper bound.
    requested
        How many sites were asked for.
    radii_km
        The coverage table's radii.
    notes
        Plain-language caveats.
    budget
        The most that may be spent, when the sites were chosen within a budget (``sites`` then
        has each site's ``cost``); ``None`` when a number of sites was asked for.
    """

    sites: pd.DataFrame
    coverage_change: pd.DataFrame
    problem: SiteProblem
    solution: CoverSolution
    requested: int
    radii_km: tuple[float, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    budget: float | None = None

    @property
    def spent(self) -> float:
        """What the chosen sites cost together (0 when there is no budget)."""
        if self.budget is None or "cost" not in self.sites.columns:
            return 0.0
        return float(self.sites["cost"].sum())

    @property
    def reach_before(self) -> float:
        """Weighted residents of the area within reach before any proposal."""
        return self.problem.reach_before

    @property
    def reach_after(self) -> float:
        """Weighted residents of the area within reach with every proposal."""
        return self.problem.reach_before + float(self.sites["newly_within_reach"].sum())


def proposal_services(
    sites: pd.DataFrame,
    *,
    kind: str | None,
    settings: Settings = DEFAULT_SETTINGS,
    geometry: bool = True,
) -> gpd.GeoDataFrame:
    """Return proposed sites as canonical services: local, in person, serving their district.

    Each proposal is an active local service of ``kind`` (``advocacy`` when none), delivered in
    person at the site, whose area served is the local authority district the site lies in.
    For ``nrpf_accommodation`` it offers ``housing`` with ``nrpf_support`` yes and a public
    location (a postcode district's centre, not an address).

    Parameters
    ----------
    sites
        Rows with ``postcode_district``, ``site_postcode``, ``easting``, ``northing``,
        ``district_code``, ``force_code`` and optionally ``name``.
    kind
        The kind of service proposed.
    settings
        ``settings.crs``.
    geometry
        Give the frame its Point geometry; without, a plain frame (the measures need none).

    Returns
    -------
    geopandas.GeoDataFrame
        A canonical services frame, one row per site (a plain frame when not ``geometry``).
    """
    if len(sites) == 0:
        return empty_services(settings=settings)
    chosen = kind or PROPOSED_KIND
    names = district_names()
    lon, lat = wgs84_from_bng(sites["easting"].to_numpy(float), sites["northing"].to_numpy(float))
    rows = []
    for i, site in enumerate(sites.itertuples(index=False), start=1):
        label = str(getattr(site, "name", "") or site.postcode_district)
        record: dict[str, Any] = dict.fromkeys(FIELDS, "")
        record.update(
            id=f"proposed-{i}",
            name=f"Proposed site {i} ({label})",
            postcode=site.site_postcode,
            latitude=float(lat[i - 1]),
            longitude=float(lon[i - 1]),
            location_confidential="no",
            scope="local",
            areas_served=names.get(site.district_code, site.district_code),
            service_types=_PROPOSED_TYPES[chosen],
            delivery="in_person",
            by_and_for="unknown",
            nrpf_support="yes" if chosen == "nrpf_accommodation" else "unknown",
            status="active",
        )
        record.update(
            easting=float(site.easting),
            northing=float(site.northing),
            location_source="postcode",
            force_code=site.force_code,
            served_districts=(site.district_code,),
            served_forces=(site.force_code,),
            confidential=False,
        )
        rows.append(record)
    frame = pd.DataFrame(rows)
    return with_geometry(frame, settings=settings) if geometry else frame


def site_measures(radii: tuple[float, ...], kind: str | None) -> list[str]:
    """Return the coverage measures a proposal reports for each site's force.

    Parameters
    ----------
    radii
        The coverage table's radii, in km.
    kind
        The kind of service proposed; ``None`` counts as :data:`PROPOSED_KIND`.

    Returns
    -------
    list of str
        The gap score, rank, class and local services, the kind's level and local share, and
        the in-person access share within each radius.
    """
    chosen = kind or PROPOSED_KIND
    return [
        *_KEY_MEASURES,
        f"{chosen}_level",
        f"{chosen}_local_share",
        *[f"in_person_within_{r:g}km" for r in radii],
    ]


def propose_sites(
    services: pd.DataFrame,
    *,
    n: int | None = None,
    budget: float | None = None,
    cost: float | None = None,
    force_code: str | None = None,
    kind: str | None = None,
    radius_km: float = 10,
    weight: str = "born_outside_uk",
    candidates: pd.DataFrame | None = None,
    need: pd.DataFrame | None = None,
    postcodes: PostcodeTable | None = None,
    radii_km: tuple[float, ...] = (10, 25),
    method: str = "greedy",
    time_limit: float | None = None,
    settings: Settings = DEFAULT_SETTINGS,
    before: pd.DataFrame | None = None,
) -> Proposal:
    """Propose ``n`` sites (or sites within a budget) that bring the most residents within reach.

    Maximises the additional weighted residents within ``radius_km`` of an in-person service,
    existing ones (of ``kind``) held fixed (:func:`servicemap.analysis.sites.site_problem`).
    Greedy is at least 1 - 1/e (63%) of the best possible, with the data's own bound. Each site
    is then added as a local in-person service of ``kind`` serving its district
    (:func:`proposal_services`) and the coverage table is recomputed.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    n
        How many new services (1 or more); or give ``budget`` instead.
    budget
        The most that may be spent (a budgeted maximal covering problem): greedy by people per
        unit of cost, or the best single affordable site, is at least (1 - 1/e)/2 (31.6%) of
        the best (Khuller, Moss and Naor 1999); ``method="exact"`` solves it exactly.
    cost
        The cost of each candidate with no ``cost`` of its own (all postcode-district sites).
    force_code
        The force (code or name) whose residents count and where the postcode-district
        candidates lie; ``None`` for England and Wales.
    kind
        Kind of service (a key of :data:`servicemap.directory.schema.PROVISION_KINDS`) or ``None``.
    radius_km
        Catchment radius in km.
    weight
        ``born_outside_uk``, ``women_16plus`` or ``residents``.
    candidates
        Extra candidate sites anywhere (:func:`servicemap.analysis.sites.read_candidate_sites`).
    need, postcodes
        Need per force; ``None`` for the bundled figures. The postcode table; ``None`` loads
        the cached ONS table.
    radii_km
        Radii of the coverage table's access measures (before and after).
    method
        ``"greedy"`` (default) or ``"exact"`` (integer programme; slower on large areas).
    time_limit
        Seconds for the exact solver.
    settings, before
        Where the postcode table is cached; the CRS. The coverage of ``services`` (see
        :func:`what_if`); ``None`` computes it.

    Returns
    -------
    Proposal
        The sites, residents newly within reach, coverage before and after, and the bound.
    """
    count, money = _check_request(n, budget, cost, method)
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    need = load_need(level="district") if need is None else need
    problem = site_problem(
        services, force_code=force_code, kind=kind, radius_km=radius_km, weight=weight,
        candidates=candidates, need=need, postcodes=table, cost=cost, settings=settings,
    )  # fmt: skip
    solution = _choose(problem, count, money, method=method, time_limit=time_limit, kept=settings)
    return _proposal(
        services, problem, solution, count, need=need, postcodes=table, radii_km=radii_km,
        budget=money, settings=settings, before=before,
    )  # fmt: skip


def _choose(
    problem: SiteProblem,
    count: int,
    money: float | None,
    *,
    method: str,
    time_limit: float | None,
    kept: Settings | None = None,
) -> CoverSolution:
    """Choose ``count`` sites, or sites within the budget ``money`` (LP bounds kept in ``kept``)."""
    if len(problem.candidates) == 0:
        raise PlanError(f"No candidate sites in {problem.area_name}; pass some as candidates.")
    if money is None:
        status(f"Choosing {count} site(s) among {len(problem.candidates)} candidates…")
        return _solve(problem, count, method=method, time_limit=time_limit, kept=kept)
    status(f"Choosing sites within {money:,.0f} among {len(problem.candidates)} candidates…")
    return _solve_budget(problem, money, method=method, time_limit=time_limit, kept=kept)


def _check_request(
    n: int | None, budget: float | None, cost: float | None, method: str
) -> tuple[int, float | None]:
    """Return the number of sites (1 with a budget) and the budget, checking the request."""
    if (n is None) == (budget is None):
        raise PlanError("Give either a number of sites (n) or a budget, not both or neither.")
    count = _check_count(n) if budget is None else 1
    money = None if budget is None else check_amount(budget, name="budget")
    if cost is not None:
        check_amount(cost, name="cost")
    if method not in ("greedy", "exact"):
        raise PlanError(f"Unknown method {method!r}; use 'greedy' or 'exact'.")
    return count, money


def check_amount(value: object, *, name: str) -> float:
    """Return a positive amount of money; ``name`` is how the message names the argument.

    Parameters
    ----------
    value
        The amount as given.
    name
        The option or argument, e.g. ``--budget``.

    Returns
    -------
    float
        The amount.

    Raises
    ------
    PlanError
        If it is not a positive, finite number.
    """
    try:
        amount = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        amount = math.nan
    if isinstance(value, bool) or not math.isfinite(amount) or amount <= 0:
        raise PlanError(f"The {name} must be a positive amount, such as 250000; got {value!r}.")
    return amount


def _costs(problem: SiteProblem) -> npt.NDArray[np.float64]:
    """Return every candidate's cost, or say which have none and how to give them."""
    costs: npt.NDArray[np.float64] = problem.candidates["cost"].to_numpy(dtype=np.float64)
    missing = ~np.isfinite(costs)
    if missing.any():
        generated = problem.candidates["source"].to_numpy() == "postcode district"
        which = "the postcode-district sites" if (missing & generated).any() else "some sites"
        raise PlanError(
            f"A budget needs a cost for every candidate site, and {which} have none; give "
            "--cost AMOUNT (what a new service at a postcode district costs) or a 'cost' "
            "column in --candidates."
        )
    return costs


def _solve_budget(
    problem: SiteProblem,
    budget: float,
    *,
    method: str,
    time_limit: float | None,
    kept: Settings | None = None,
) -> CoverSolution:
    """Solve the budgeted covering problem exactly, or greedily with the tightest quick bound."""
    costs = _costs(problem)
    if method == "exact":
        return exact_max_cover(
            problem.cover, problem.weights, 1, time_limit=time_limit, costs=costs, budget=budget
        )
    greedy = greedy_budget_cover(problem.cover, problem.weights, costs, budget)
    if greedy.optimal:
        return greedy
    matrix, _ = _merged_cells(_as_csr(problem.cover), problem.weights)
    if matrix.shape[1] > LP_BOUND_CELLS:
        return greedy
    bound = kept_bound(
        kept,
        lambda: lp_budget_bound(problem.cover, problem.weights, costs, budget),
        _as_csr(problem.cover), problem.weights, costs, budget,
    )  # fmt: skip
    if bound >= greedy.upper_bound:
        return greedy
    return dataclasses.replace(
        greedy,
        upper_bound=max(bound, greedy.value),
        optimal=bound <= greedy.value * (1.0 + 1e-9),
        bound="LP relaxation",
    )


def _proposal(
    services: pd.DataFrame,
    problem: SiteProblem,
    solution: CoverSolution,
    count: int,
    *,
    need: pd.DataFrame,
    postcodes: PostcodeTable,
    radii_km: tuple[float, ...],
    budget: float | None = None,
    settings: Settings,
    before: pd.DataFrame | None = None,
) -> Proposal:
    """Add the chosen sites to the directory, recompute coverage and report the proposal."""
    chosen = problem.candidates.iloc[list(solution.chosen)].reset_index(drop=True)
    proposed = proposal_services(chosen, kind=problem.kind, settings=settings, geometry=False)
    forces = [problem.area_code] if problem.area_code != ENGLAND_AND_WALES else []
    comparison = what_if(
        services, proposed, force_codes=[*forces, *chosen["force_code"]], need=need,
        postcodes=postcodes, radii_km=radii_km, settings=settings, before=before,
    )  # fmt: skip
    sites = _site_table(problem, solution, chosen, comparison, radii_km)
    return Proposal(
        sites=sites,
        coverage_change=comparison,
        problem=problem,
        solution=solution,
        requested=count,
        radii_km=tuple(radii_km),
        notes=tuple(_notes(problem, solution, count, budget)),
        budget=budget,
    )


def _solve(
    problem: SiteProblem,
    count: int,
    *,
    method: str,
    time_limit: float | None,
    kept: Settings | None = None,
) -> CoverSolution:
    """Solve the covering problem exactly, or greedily with the tightest quick bound."""
    if method == "exact":
        return exact_max_cover(problem.cover, problem.weights, count, time_limit=time_limit)
    greedy = greedy_max_cover(problem.cover, problem.weights, count)
    return _with_lp_bound(greedy, problem, count, kept=kept)


LP_BOUND_CELLS = 10_000
"""The LP-relaxation bound is computed when the merged problem has at most this many cells."""


def _with_lp_bound(
    solution: CoverSolution, problem: SiteProblem, count: int, *, kept: Settings | None = None
) -> CoverSolution:
    """Tighten a greedy solution's upper bound with the LP relaxation, when that is quick."""
    if solution.optimal:
        return solution
    matrix, w = _merged_cells(_as_csr(problem.cover), problem.weights)
    if matrix.shape[1] > LP_BOUND_CELLS:
        return solution
    bound = kept_bound(kept, lambda: lp_upper_bound(matrix, w, count), matrix, w, count)
    if bound >= solution.upper_bound:
        return solution
    return dataclasses.replace(
        solution,
        upper_bound=max(bound, solution.value),
        optimal=bound <= solution.value * (1.0 + 1e-9),
        bound="LP relaxation",
    )


def _notes(
    problem: SiteProblem, solution: CoverSolution, count: int, budget: float | None
) -> list[str]:
    notes = []
    if budget is None and len(solution.chosen) < count:
        notes.append(
            f"Only {len(solution.chosen)} of the {count} sites asked for bring anyone new "
            f"within {problem.radius_km:g} km: everyone else in {problem.area_name} near a "
            "candidate site is already within reach."
        )
    notes.append(
        f"Demand is summed into {problem.grid_m:g} m squares to choose the sites; the figures "
        "reported are recounted postcode by postcode."
    )
    return notes


def _site_table(
    problem: SiteProblem,
    solution: CoverSolution,
    chosen: pd.DataFrame,
    comparison: pd.DataFrame,
    radii: tuple[float, ...],
) -> pd.DataFrame:
    gains = problem.newly_reached(solution.chosen)
    lon, lat = wgs84_from_bng(chosen["easting"].to_numpy(float), chosen["northing"].to_numpy(float))
    names = district_names()
    cumulative = problem.reach_before + np.cumsum(gains)
    residents = problem.residents
    sites = pd.DataFrame(
        {
            "rank": np.arange(1, len(chosen) + 1),
            "postcode_district": chosen["postcode_district"].to_numpy(),
            "name": chosen["name"].to_numpy(),
            "site_postcode": chosen["site_postcode"].to_numpy(),
            "local_authority": [names.get(c, c) for c in chosen["district_code"]],
            "force_code": chosen["force_code"].to_numpy(),
            "force_name": [force_names().get(c, c) for c in chosen["force_code"]],
            "easting": chosen["easting"].round(0).to_numpy(),
            "northing": chosen["northing"].round(0).to_numpy(),
            "latitude": np.round(lat, 5),
            "longitude": np.round(lon, 5),
            "newly_within_reach": np.round(gains, 1),
            "within_reach_after": np.round(cumulative, 1),
            "share_within_reach_after": np.round(cumulative / residents, 4)
            if residents > 0
            else np.nan,
        }
    )
    if np.isfinite(chosen["cost"].to_numpy(dtype=np.float64)).any():
        sites.insert(sites.columns.get_loc("newly_within_reach"), "cost", chosen["cost"].to_numpy())
    by_force = comparison.set_index("force_code")
    for m in site_measures(radii, problem.kind):
        for when in ("before", "after"):
            column = f"{m}_{when}"
            if column in by_force.columns:
                sites[column] = by_force[column].reindex(sites["force_code"]).to_numpy()
    return sites
