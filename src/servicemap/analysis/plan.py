"""Planning a funding round: what funding a service changes, and where new services reach most.

Two questions a Police and Crime Commissioner asks before a funding round:

* *What if we fund this service?* :func:`what_if` adds proposed services (a small file in the
  services directory schema) to the directory and compares every coverage measure before and
  after, force by force.
* *Where would one, two or three new services close the most gap?* :func:`propose_sites`
  solves a maximal covering location problem: choose N sites for new in-person services so
  that as many residents as possible (weighted by need) who are not yet within R km of an
  in-person service come within R km of one. Candidate sites are postcode districts (the
  outward code, "ME14") and any sites the user lists. The choice is greedy, which is
  guaranteed to reach at least 1 - 1/e (63%) of the best possible; every answer also carries a
  bound computed from the data, and :func:`exact_max_cover` solves the same problem exactly as
  an integer programme (HiGHS through ``scipy.optimize.milp``) to check it.

Distances are straight lines in British National Grid metres, residents are spread over the
located postcodes of their force, and in-person services are the ones the coverage table
counts (confidential ones at the centre of their district) -- all exactly as in
:mod:`servicemap.analysis.coverage`.
"""

from __future__ import annotations

import difflib
import html
import json
import math
import re
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._progress import status

# Planning uses coverage.py's geography and prepared services, so that it applies exactly the
# same in-person rule, placement of confidential services and resident weighting as the
# coverage table.
from servicemap.analysis.coverage import (
    Geography,
    coverage_by_force,
    format_table,
    geography_from_postcodes,
    json_records,
    nearest_km,
    prepare_services,
)
from servicemap.directory.schema import DERIVED, FIELDS, PROVISION_KINDS
from servicemap.errors import PlanError, UnknownForceError
from servicemap.geography.areas import find_force
from servicemap.geography.forces import district_names, force_names
from servicemap.geography.need import load_need
from servicemap.geography.postcodes import PostcodeTable, load_postcode_table
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    import folium
    import geopandas as gpd
    from scipy.sparse import csr_array

WEIGHTS: dict[str, str] = {
    "born_outside_uk": "born_outside_uk_2021",
    "women_16plus": "females_16plus_mid2023",
    "residents": "population_mid2023",
}
"""Demand weights for :func:`propose_sites`, and the need-table column each one uses."""

WEIGHT_LABELS: dict[str, str] = {
    "born_outside_uk": "residents born outside the UK",
    "women_16plus": "women aged 16 and over",
    "residents": "residents",
}

GREEDY_GUARANTEE = 1.0 - 1.0 / math.e
"""The greedy choice reaches at least this share of the best possible (Nemhauser et al. 1978)."""

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

ENGLAND_AND_WALES = "K04000001"

_KEY_MEASURES: tuple[str, ...] = (
    "gap_score",
    "gap_rank",
    "gap_class",
    "local_services",
    "local_coverage_share",
)


# --- checking arguments -------------------------------------------------------------------


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


def _check_count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PlanError(
            f"The number of new services (--add) must be a whole number, 1 or more; got {n!r}."
        )
    return int(n)


def _check_radius(radius_km: object) -> float:
    try:
        radius = float(radius_km)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        radius = math.nan
    if not math.isfinite(radius) or radius <= 0:
        raise PlanError(
            f"The catchment radius (--radius-km) must be a positive distance in km, such as 10; "
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


def check_plan_request(
    *,
    with_path: object,
    add: object,
    kind: str | None = None,
    radius_km: object = None,
    weight: str | None = None,
    exact: bool = False,
    candidates_path: object = None,
    map_path: object = None,
) -> None:
    """Check a ``servicemap plan`` request before any data is loaded.

    Parameters
    ----------
    with_path
        The ``--with`` file, or None.
    add
        The ``--add`` count, or None.
    kind, radius_km, weight, exact, candidates_path, map_path
        The options that only make sense with ``--add`` (``--kind``, ``--radius-km``,
        ``--weight``, ``--exact``, ``--candidates``, ``--map``) as given: None (False for
        ``exact``) when not given.

    Raises
    ------
    PlanError
        If both or neither of ``--with`` and ``--add`` are given, an ``--add`` option is given
        with ``--with``, or an ``--add`` option is out of range.
    """
    if with_path is not None and add is not None:
        raise PlanError(
            "Give either --with FILE (what would funding these services change?) or --add N "
            "(where would N new services reach most?), not both."
        )
    if with_path is None and add is None:
        raise PlanError(
            "Give --with FILE (what would funding these services change?) or --add N "
            "(where would N new services reach most?)."
        )
    if with_path is not None:
        add_only: dict[str, object] = {"--kind": kind, "--radius-km": radius_km}
        add_only |= {"--weight": weight, "--exact": exact}
        add_only |= {"--candidates": candidates_path, "--map": map_path}
        given = [flag for flag, value in add_only.items() if value not in (None, False)]
        if given:
            listed = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
            verb = "works" if len(given) == 1 else "work"
            raise PlanError(f"{listed} only {verb} with --add N, not with --with FILE.")
        return
    _check_count(add)
    _check_kind(kind)
    if radius_km is not None:
        _check_radius(radius_km)
    if weight is not None:
        _check_weight(weight)


# --- what if ------------------------------------------------------------------------------


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
    """Load proposed services: a file in the services directory schema, checked the same way.

    A file with a header row and no services is allowed and gives an empty frame (the what-if
    then reproduces today's coverage exactly).

    Parameters
    ----------
    path
        CSV, XLSX, GeoJSON or Open Referral UK JSON, as for the directory itself.
    settings
        Where the postcode table is cached; the frame's CRS.
    lookup
        Postcode lookup for :func:`servicemap.directory.load.load_services` (tests pass a fake).

    Returns
    -------
    geopandas.GeoDataFrame
        The canonical services frame of the proposed services.

    Raises
    ------
    PlanError
        If the file has any error; the message gives the file, row, column and fix of the
        first few and says to run ``servicemap validate FILE``.
    """
    from servicemap.directory.load import load_services
    from servicemap.directory.validate import validate_services

    file = str(path)
    problems = validate_services(path, settings=settings, lookup=lookup)
    errors = [p for p in problems if p.severity == "error"]
    if errors and all(p.code == "no-services" for p in errors):
        return empty_services(settings=settings)
    if errors:
        shown = "\n".join(f"  {p}" for p in errors[:5])
        more = f"\n  … and {len(errors) - 5} more." if len(errors) > 5 else ""
        count = f"{len(errors)} error" + ("s" if len(errors) > 1 else "")
        raise PlanError(
            f"Proposed services file {file!r} (--with) has {count}:\n{shown}{more}\n"
            f"It uses the services directory format; run 'servicemap validate {file}' to see "
            "every problem."
        )
    return load_services(path, settings=settings, lookup=lookup)


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
    changed = {code: [m for m in measures if not bool(same[m].loc[code])] for code in old.index}
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
    for m in measures:
        b, a = old.loc[rows, m], new.loc[rows, m]
        out[f"{m}_before"] = b.to_numpy()
        out[f"{m}_after"] = a.to_numpy()
        if _is_number(old[m]) and _is_number(new[m]):
            with np.errstate(invalid="ignore"):
                difference = (a - b).to_numpy()
            out[f"{m}_change"] = np.where(same[m].loc[rows].to_numpy(), 0, difference)
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
    need = load_need() if need is None else need
    status("Computing coverage before and after…")
    before = coverage_by_force(
        services, need=need, postcodes=table, radii_km=radii_km, settings=settings
    )
    after = coverage_by_force(
        _combined(services, candidates),
        need=need,
        postcodes=table,
        radii_km=radii_km,
        settings=settings,
    )
    comparison = compare_coverage(before, after, force_codes=codes)
    comparison.attrs.update(requested=codes, proposed=len(candidates))
    return comparison


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "inf" if value > 0 else "-inf" if value < 0 else ""
        return f"{float(value):,.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


def _change_lines(row: pd.Series, measures: Sequence[str]) -> list[str]:
    lines = []
    for m in measures:
        before, after = row[f"{m}_before"], row[f"{m}_after"]
        change = row.get(f"{m}_change")
        delta = ""
        if change is not None and not (isinstance(change, float) and math.isnan(change)):
            delta = f" ({'+' if change > 0 else ''}{_fmt(change)})" if change != 0 else ""
        lines.append(f"  {m}: {_fmt(before)} → {_fmt(after)}{delta}")
    return lines


_INDIRECT = {"gap_score", "gap_rank", "gap_class"}


def format_what_if(comparison: pd.DataFrame, fmt: str) -> str:
    """Render :func:`what_if` as ``table`` (a block per force), ``csv`` or ``json`` text.

    The ``table`` format shows, for each requested force and each force where a measure other
    than the gap score, class and rank changed, the measures that changed; forces whose score
    or rank moved only through the England and Wales comparison are summarised in one line.
    ``csv`` (spreadsheet-safe) and ``json`` have every column for every row.

    Parameters
    ----------
    comparison
        From :func:`what_if`.
    fmt
        ``table``, ``csv`` or ``json``.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    if fmt in ("csv", "json"):
        return format_table(comparison, fmt)
    if fmt != "table":
        raise PlanError(f"Unknown format {fmt!r}; use table, csv or json.")
    requested = set(comparison.attrs.get("requested", ()))
    proposed = comparison.attrs.get("proposed")
    lines: list[str] = []
    if proposed is not None:
        lines.append(f"With {proposed} proposed service(s) added to the directory:")
    indirect: list[str] = []
    for _, row in comparison.iterrows():
        changed = [m for m in str(row["changed"]).split("; ") if m]
        direct = [m for m in changed if m not in _INDIRECT]
        title = f"{row['force_name']} ({row['force_code']})"
        if row["force_code"] not in requested and not direct:
            indirect.append(row["force_name"])
            continue
        lines.append("")
        if not changed:
            lines.append(f"{title}: no measure changes.")
            lines += _change_lines(row, ["gap_score", "gap_rank", "gap_class"])
            continue
        lines.append(f"{title}: {len(changed)} measure(s) change.")
        shown = list(dict.fromkeys([*changed, "gap_score", "gap_rank"]))
        lines += _change_lines(row, shown)
    if indirect:
        lines += [
            "",
            f"{len(indirect)} other force(s) change only in gap score or rank, through the "
            "England and Wales comparison (capacity benchmark, ranking): "
            + ", ".join(indirect)
            + ".",
        ]
    return "\n".join(lines).lstrip("\n") + "\n"


# --- solving the maximal covering problem ---------------------------------------------------


@dataclass(frozen=True)
class CoverSolution:
    """A choice of candidate sites for a maximal covering problem, with how good it is.

    Attributes
    ----------
    chosen
        Indices of the chosen candidates, in the order they were chosen.
    gains
        The weight each one added, in that order.
    value
        The total weight covered by the chosen sites.
    upper_bound
        An upper bound on the best possible value: for greedy, the smallest over its steps of
        ``value so far + the N largest marginal gains at that step`` (a valid bound because
        coverage is monotone and submodular); for the exact solver, the solver's bound.
    method
        ``"greedy"`` or ``"exact"``.
    seconds
        Time taken.
    optimal
        True when ``value`` is proven optimal.
    bound
        Where ``upper_bound`` comes from: ``"greedy steps"``, ``"LP relaxation"`` or
        ``"solver"``.
    """

    chosen: tuple[int, ...]
    gains: tuple[float, ...]
    value: float
    upper_bound: float
    method: str
    seconds: float
    optimal: bool
    bound: str = "greedy steps"

    @property
    def ratio_floor(self) -> float:
        """Value / upper bound: the solution is at least this share of the optimum."""
        return 1.0 if self.upper_bound <= 0 else min(1.0, self.value / self.upper_bound)


def _as_csr(cover: Any) -> csr_array:
    from scipy.sparse import csr_array

    matrix = csr_array(cover, dtype=np.float64, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.data[:] = 1.0
    return matrix


def cover_value(cover: Any, weights: npt.ArrayLike, chosen: Sequence[int]) -> float:
    """Return the total weight of the cells covered by the chosen candidates.

    Parameters
    ----------
    cover
        Candidates x cells incidence matrix (dense or scipy sparse; non-zero = covers).
    weights
        Weight of each cell.
    chosen
        Candidate indices.

    Returns
    -------
    float
        The sum of the weights of the cells at least one chosen candidate covers.
    """
    matrix = _as_csr(cover)
    w = np.asarray(weights, dtype=np.float64)
    if not len(chosen):
        return 0.0
    rows = matrix[np.asarray(list(chosen), dtype=np.intp)]
    covered = np.unique(rows.indices)
    return float(w[covered].sum())


def greedy_max_cover(cover: Any, weights: npt.ArrayLike, n: int) -> CoverSolution:
    """Choose up to ``n`` candidates greedily: each time the one adding the most weight.

    Ties (gains equal to 1 part in 10^12) go to the lowest candidate index; :func:`site_problem`
    orders candidates by postcode district, so ties go to the first district in that order.
    Stops early when no candidate adds anything.

    Parameters
    ----------
    cover
        Candidates x cells incidence matrix (dense or scipy sparse; non-zero = covers).
    weights
        Weight of each cell (not negative).
    n
        How many candidates to choose.

    Returns
    -------
    CoverSolution
        The choice, its value (at least 1 - 1/e of the optimum) and a data-dependent upper
        bound on the optimum.
    """
    started = time.perf_counter()
    n = _check_count(n)
    matrix = _as_csr(cover)
    remaining = np.asarray(weights, dtype=np.float64).copy()
    if (remaining < 0).any():
        raise PlanError("Cell weights must not be negative.")
    chosen: list[int] = []
    gains: list[float] = []
    value = 0.0
    bound = math.inf
    for step in range(n + 1):
        gain = matrix @ remaining
        top = float(np.sort(gain)[-n:].sum()) if len(gain) else 0.0
        bound = min(bound, value + top)
        if step == n or not len(gain):
            break
        best = float(gain.max())
        if best <= 0:
            break
        j = int(np.flatnonzero(gain >= best * (1.0 - 1e-12))[0])
        chosen.append(j)
        gains.append(float(gain[j]))
        value += float(gain[j])
        remaining[matrix.indices[matrix.indptr[j] : matrix.indptr[j + 1]]] = 0.0
    value = cover_value(matrix, weights, chosen)
    return CoverSolution(
        chosen=tuple(chosen),
        gains=tuple(gains),
        value=value,
        upper_bound=max(bound, value),
        method="greedy",
        seconds=time.perf_counter() - started,
        optimal=bound <= value * (1.0 + 1e-12),
    )


def _merged_cells(matrix: csr_array, weights: npt.NDArray[np.float64]) -> tuple[csr_array, Any]:
    """Merge cells covered by exactly the same candidates (an exact reduction of the problem).

    Cells no candidate covers, and cells of zero weight, are dropped. Returns the candidates x
    merged-cells matrix and the merged weights.
    """
    from scipy.sparse import csr_array

    by_cell = matrix.T.tocsr()
    by_cell.sort_indices()
    keep = np.flatnonzero((np.diff(by_cell.indptr) > 0) & (weights > 0))
    if len(keep) == 0:
        return csr_array((matrix.shape[0], 0)), np.zeros(0)
    signatures = [
        by_cell.indices[by_cell.indptr[i] : by_cell.indptr[i + 1]].tobytes() for i in keep
    ]
    codes, uniques = pd.factorize(pd.Series(signatures, dtype=object), sort=False)
    merged_w = np.bincount(codes, weights=weights[keep], minlength=len(uniques))
    first = np.unique(codes, return_index=True)[1]
    merged = matrix[:, keep[first]]
    return csr_array(merged), merged_w


def _cover_programme(
    matrix: csr_array, weights: npt.NDArray[np.float64], n: int
) -> tuple[npt.NDArray[np.float64], list[Any], int]:
    from scipy.optimize import LinearConstraint
    from scipy.sparse import csr_array, hstack, identity

    m, k = matrix.shape
    c = np.concatenate([np.zeros(m), -weights])
    links = hstack([-matrix.T, identity(k, format="csr")], format="csr")
    budget = csr_array(np.concatenate([np.ones(m), np.zeros(k)])[None, :])
    constraints = [
        LinearConstraint(links, -np.inf, 0.0),
        LinearConstraint(budget, -np.inf, float(n)),
    ]
    return c, constraints, m


def lp_upper_bound(cover: Any, weights: npt.ArrayLike, n: int) -> float:
    """Return the linear-programming relaxation's optimum: an upper bound on the best cover.

    Parameters
    ----------
    cover
        Candidates x cells incidence matrix (dense or scipy sparse; non-zero = covers).
    weights
        Weight of each cell (not negative).
    n
        How many candidates at most.

    Returns
    -------
    float
        The bound (the best fractional choice of ``n`` candidates).
    """
    from scipy.optimize import Bounds, milp

    n = _check_count(n)
    matrix, w = _merged_cells(_as_csr(cover), np.asarray(weights, dtype=np.float64))
    if matrix.shape[1] == 0:
        return 0.0
    c, constraints, _ = _cover_programme(matrix, w, n)
    result = milp(c, bounds=Bounds(0.0, 1.0), constraints=constraints)
    if result.x is None:
        raise PlanError(f"The LP relaxation could not be solved: {result.message}")
    return float(-result.fun)


def exact_max_cover(
    cover: Any, weights: npt.ArrayLike, n: int, *, time_limit: float | None = None
) -> CoverSolution:
    """Choose up to ``n`` candidates covering the most weight, exactly, as an integer programme.

    Maximise ``sum_i w_i y_i`` subject to ``y_i <= sum_j a_ij x_j``, ``sum_j x_j <= n``,
    ``x_j`` in {0, 1} and ``0 <= y_i <= 1``, solved by HiGHS (``scipy.optimize.milp``) with a
    relative gap of 0. Cells no candidate covers are left out first, and cells covered by
    exactly the same candidates are merged (this changes nothing but the size).

    Parameters
    ----------
    cover
        Candidates x cells incidence matrix (dense or scipy sparse; non-zero = covers).
    weights
        Weight of each cell (not negative).
    n
        How many candidates at most.
    time_limit
        Seconds to give the solver; ``None`` for no limit. When it runs out the best choice
        found is returned with ``optimal`` False and the solver's bound.

    Returns
    -------
    CoverSolution
        The chosen candidates (by index), their value and the solver's upper bound.
    """
    from scipy.optimize import Bounds, milp

    started = time.perf_counter()
    n = _check_count(n)
    full = _as_csr(cover)
    w = np.asarray(weights, dtype=np.float64)
    if (w < 0).any():
        raise PlanError("Cell weights must not be negative.")
    matrix, merged_w = _merged_cells(full, w)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        return CoverSolution(
            (), (), 0.0, 0.0, "exact", time.perf_counter() - started, True, bound="solver"
        )
    c, constraints, m = _cover_programme(matrix, merged_w, n)
    options: dict[str, Any] = {"mip_rel_gap": 0.0}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    result = milp(
        c,
        integrality=np.concatenate([np.ones(m), np.zeros(matrix.shape[1])]),
        bounds=Bounds(0.0, 1.0),
        constraints=constraints,
        options=options,
    )
    if result.x is None:
        raise PlanError(f"The exact solver found no solution: {result.message}")
    picked = [int(j) for j in np.flatnonzero(np.asarray(result.x[:m]) > 0.5)]
    value = cover_value(full, w, picked)
    # Order the picks as greedy would (largest gain first), so gains read the same way.
    order: list[int] = []
    gains: list[float] = []
    left = list(picked)
    while left:
        base = cover_value(full, w, order)
        best = max(left, key=lambda j: (cover_value(full, w, [*order, j]), -j))
        gains.append(cover_value(full, w, [*order, best]) - base)
        order.append(best)
        left.remove(best)
    dual = getattr(result, "mip_dual_bound", None)
    optimal = result.status == 0
    bound = value if optimal or dual is None or not np.isfinite(dual) else max(value, -dual)
    return CoverSolution(
        chosen=tuple(order),
        gains=tuple(gains),
        value=value,
        upper_bound=bound,
        method="exact",
        seconds=time.perf_counter() - started,
        optimal=optimal,
        bound="solver",
    )


# --- candidate sites ------------------------------------------------------------------------

_LAST_SITES: list[tuple[weakref.ref[PostcodeTable], pd.DataFrame]] = []


def _outward_codes(codes: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bytes_]:
    """Return the outward code ("ME14") of each space-free S7 postcode ("ME141AA")."""
    raw = np.ascontiguousarray(codes.astype("S7")).view(np.uint8).reshape(-1, 7)
    length = (raw != 0).sum(axis=1)
    keep = np.arange(7)[None, :] < (length - 3)[:, None]
    outward = np.ascontiguousarray(np.where(keep, raw, 0).astype(np.uint8))
    result: npt.NDArray[np.bytes_] = outward.view("S7").ravel()
    return result


def district_sites(postcodes: PostcodeTable) -> pd.DataFrame:
    """Return one candidate site per postcode district (outward code) in England and Wales.

    A district's site is its postcode nearest the mean position of its located postcodes, so
    the site is where people live (on land) and has a real postcode. Its force and local
    authority district are that postcode's.

    Parameters
    ----------
    postcodes
        The postcode table.

    Returns
    -------
    pandas.DataFrame
        Columns ``postcode_district``, ``site_postcode`` (with a space), ``easting``,
        ``northing`` (BNG metres), ``district_code`` (local authority), ``force_code`` and
        ``postcodes`` (located postcodes in the postcode district); sorted by
        ``postcode_district``.
    """
    for ref, sites in _LAST_SITES:
        if ref() is postcodes:
            return sites.copy()
    geography = geography_from_postcodes(postcodes)
    located = geography.located
    codes = postcodes.postcodes[located]
    x = postcodes.easting[located].astype(np.float64)
    y = postcodes.northing[located].astype(np.float64)
    outward, group = np.unique(_outward_codes(codes), return_inverse=True)
    count = np.bincount(group).astype(np.float64)
    mx = np.bincount(group, weights=x) / count
    my = np.bincount(group, weights=y) / count
    d2 = (x - mx[group]) ** 2 + (y - my[group]) ** 2
    order = np.lexsort((d2, group))
    first = order[np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]]
    site_codes = codes[first].astype(str)
    district = postcodes.district[located][first].astype(np.intp)
    force = postcodes.district_force[district].astype(np.intp)
    sites = pd.DataFrame(
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
    _LAST_SITES[:] = [(weakref.ref(postcodes), sites)]
    return sites.copy()


_SITE_COLUMNS = {
    "name": ("name", "site", "site_name", "label"),
    "postcode": ("postcode", "post_code", "postal_code"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
}


_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")


def _column_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def read_candidate_sites(path: Path | str) -> pd.DataFrame:
    """Read a user's candidate sites: a CSV with a postcode or latitude/longitude, and a name.

    Parameters
    ----------
    path
        The CSV file. Columns (any case): ``postcode``, or ``latitude`` and ``longitude``
        (WGS84 degrees), or both; ``name`` is optional. Other columns are ignored.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``postcode``, ``latitude``, ``longitude`` (text, ``""`` when empty)
        and ``row`` (the spreadsheet row, header = 1); ``attrs["source"]`` is the file name.

    Raises
    ------
    PlanError
        If the file cannot be read, has no rows or has neither a postcode nor a latitude and
        longitude column.
    """
    from servicemap._csv import read_csv_text

    file = str(path)
    table = read_csv_text(path, error=PlanError)
    keys = {_column_key(c): c for c in table.columns}
    found = {
        field: next((keys[a] for a in aliases if a in keys), None)
        for field, aliases in _SITE_COLUMNS.items()
    }
    has_coordinates = found["latitude"] is not None and found["longitude"] is not None
    if found["postcode"] is None and not has_coordinates:
        raise PlanError(
            f"Candidate sites file {file!r} (--candidates) needs a 'postcode' column or "
            f"'latitude' and 'longitude' columns (found: {', '.join(map(str, table.columns))})."
        )
    if table.empty:
        raise PlanError(
            f"Candidate sites file {file!r} (--candidates) has a header but no sites; add one "
            "row per site."
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
    from servicemap.geography.geocode import bng_from_wgs84

    source = str(sites.attrs.get("source", "candidate sites"))
    geography = geography_from_postcodes(postcodes)

    def text(column: str) -> pd.Series:
        if column not in sites.columns:
            return pd.Series("", index=sites.index, dtype=object)
        return sites[column].fillna("").astype(str).str.strip()

    names, codes = text("name"), text("postcode")
    lats = pd.to_numeric(text("latitude").replace("", None), errors="coerce")
    lons = pd.to_numeric(text("longitude").replace("", None), errors="coerce")
    rows = sites["row"] if "row" in sites.columns else pd.Series(sites.index + 2, sites.index)
    located = geography.located
    normal = codes.str.upper().str.replace(r"\s+", "", regex=True)
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
            code = str(normal.iat[i])
            if _POSTCODE.match(code):
                index = int(postcodes.rows(np.array([code], dtype="S7"))[0])
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
    return _site_records(places, names, postcodes, located)


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


# --- the covering problem on real data ------------------------------------------------------


@dataclass(frozen=True)
class SiteProblem:
    """A maximal covering problem built from the directory, the postcodes and the need table.

    Attributes
    ----------
    candidates
        Candidate sites in tie-break order (postcode district, then name): ``postcode_district``,
        ``name``, ``site_postcode``, ``easting``, ``northing``, ``district_code``,
        ``force_code``, ``source`` (``"postcode district"`` or ``"your candidates"``).
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
    settings: Settings = DEFAULT_SETTINGS,
) -> SiteProblem:
    """Build the covering problem: who is not yet within reach, and which sites would reach them.

    Demand is every located postcode of the force (or of England and Wales), carrying
    ``need[weight column] / located postcodes in its force`` residents, as in the coverage
    table. Postcodes already within ``radius_km`` of an existing in-person service (of
    ``kind``, if given) are left out; the rest are summed into square cells of
    :func:`grid_size_m` (placed at the mean of their postcodes) so the problem stays small.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    force_code
        A force code or name; ``None`` for all of England and Wales.
    kind
        A key of :data:`servicemap.directory.schema.PROVISION_KINDS`: only existing services of
        that kind
        count as reach. ``None``: every in-person service.
    radius_km
        Catchment radius in km.
    weight
        ``born_outside_uk``, ``women_16plus`` or ``residents`` (see :data:`WEIGHTS`).
    candidates
        Extra candidate sites (:func:`read_candidate_sites`), beside the postcode districts.
    need
        Need per force; ``None`` for the bundled figures.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    settings
        Where the postcode table is cached.

    Returns
    -------
    SiteProblem
        The candidates, the cells and their incidence matrix.
    """
    from scipy.sparse import csr_array
    from scipy.spatial import cKDTree

    kind = _check_kind(kind)
    radius = _check_radius(radius_km)
    weight = _check_weight(weight)
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    geography = geography_from_postcodes(table)
    code = _resolve_force(force_code, geography) if force_code is not None else None
    area_name = force_names().get(code, code) if code else "England and Wales"
    need = load_need() if need is None else need
    column = WEIGHTS[weight]
    force_codes = [str(c) for c in table.force_codes]
    if column not in need.columns or any(c not in need.index for c in force_codes):
        raise PlanError(
            f"The need table has no {column!r} figure for every force, needed for --weight "
            f"{weight}; pass a need table like the bundled data/need/force_need.csv."
        )
    per_force = pd.to_numeric(need.loc[force_codes, column], errors="coerce").to_numpy(float)
    k = geography.force_index[code] if code is not None else None
    if k is not None and not np.isfinite(per_force[k]):
        raise PlanError(
            f"The need table has no {column!r} figure for {area_name}; choose "
            "another --weight or fill it in."
        )
    if k is None and not np.isfinite(per_force).all():
        raise PlanError(
            f"The need table lacks {column!r} for some forces; choose another --weight or "
            "fill them in."
        )
    status("Finding who is not yet within reach…")
    bounds = geography.force_bounds
    if k is None:
        xy = geography.resident_xy
        force = geography.resident_force
    else:
        xy = geography.resident_xy[bounds[k] : bounds[k + 1]]
        force = geography.resident_force[bounds[k] : bounds[k + 1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_postcode = np.nan_to_num(per_force / geography.force_count)
    resident_weight = per_postcode[force].astype(np.float64)

    prepared = prepare_services(services, geography)
    existing = prepared.in_person & (prepared.kinds[kind] if kind else True)
    points = prepared.access_xy[existing]
    points = points[np.isfinite(points).all(axis=1)]
    reached = nearest_km(points, xy)[0] <= radius

    sites = district_sites(table)
    sites["name"] = ""
    sites["source"] = "postcode district"
    if code is not None:
        sites = sites.loc[sites["force_code"] == code]
    if candidates is not None and len(candidates):
        sites = pd.concat([sites, _locate_sites(candidates, table)], ignore_index=True)
    columns = [
        "postcode_district",
        "name",
        "site_postcode",
        "easting",
        "northing",
        "district_code",
        "force_code",
        "source",
    ]
    sites = sites[columns].sort_values(
        ["postcode_district", "name", "site_postcode"], kind="stable"
    )
    sites = sites.reset_index(drop=True)

    grid = grid_size_m(radius)
    open_xy, open_w = xy[~reached], resident_weight[~reached]
    if len(open_xy):
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
    else:
        cell_xy = np.zeros((0, 2))
        cell_w = np.zeros(0)
    site_xy = sites[["easting", "northing"]].to_numpy(dtype=np.float64)
    if len(cell_xy) and len(site_xy):
        near = cKDTree(cell_xy).query_ball_point(site_xy, r=radius * 1000.0, workers=-1)
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
    cover = csr_array((np.ones(len(indices)), indices, indptr), shape=(len(site_xy), len(cell_xy)))
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


# --- proposals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """Where new in-person services would bring the most residents within reach.

    Attributes
    ----------
    sites
        One row per proposed site, in the order chosen: ``rank``, ``postcode_district``,
        ``name``, ``site_postcode``, ``local_authority``, ``force_code``, ``force_name``,
        ``easting``, ``northing``, ``latitude``, ``longitude``, ``newly_within_reach``
        (weighted residents this site brings within reach, given the ones before it),
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
    """

    sites: pd.DataFrame
    coverage_change: pd.DataFrame
    problem: SiteProblem
    solution: CoverSolution
    requested: int
    radii_km: tuple[float, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reach_before(self) -> float:
        """Weighted residents of the area within reach before any proposal."""
        return self.problem.reach_before

    @property
    def reach_after(self) -> float:
        """Weighted residents of the area within reach with every proposal."""
        return self.problem.reach_before + float(self.sites["newly_within_reach"].sum())

    def to_dict(self) -> dict[str, Any]:
        """Return the proposal as JSON-ready plain data."""
        p = self.problem
        return {
            "area": {"code": p.area_code, "name": p.area_name},
            "kind": p.kind,
            "radius_km": p.radius_km,
            "weight": p.weight,
            "weight_column": WEIGHTS[p.weight],
            "requested": self.requested,
            "candidates_considered": len(p.candidates),
            "demand_cell_m": p.grid_m,
            "residents": round(p.residents, 1),
            "within_reach_before": round(self.reach_before, 1),
            "within_reach_after": round(self.reach_after, 1),
            "share_within_reach_before": _share(self.reach_before, p.residents),
            "share_within_reach_after": _share(self.reach_after, p.residents),
            "method": self.solution.method,
            "model_value": round(self.solution.value, 1),
            "model_upper_bound": round(self.solution.upper_bound, 1),
            "upper_bound_from": self.solution.bound,
            "proven_best": self.solution.optimal,
            "at_least_share_of_best": round(self.solution.ratio_floor, 4),
            "greedy_guarantee": round(GREEDY_GUARANTEE, 4),
            "sites": json_records(self.sites),
            "coverage_change": json_records(self.coverage_change),
            "notes": list(self.notes),
        }


def _share(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(part / whole, 4)


def proposal_services(
    sites: pd.DataFrame, *, kind: str | None, settings: Settings = DEFAULT_SETTINGS
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

    Returns
    -------
    geopandas.GeoDataFrame
        A canonical services frame, one row per site.
    """
    import geopandas as gpd
    import shapely

    from servicemap.geography.geocode import wgs84_from_bng

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
    geometry = shapely.points(frame["easting"].to_numpy(), frame["northing"].to_numpy())
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=settings.crs)


def _site_measures(radii: tuple[float, ...], kind: str | None) -> list[str]:
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
    n: int,
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
) -> Proposal:
    """Propose ``n`` sites for new in-person services that bring the most residents within reach.

    Maximises the additional weighted residents within ``radius_km`` of an in-person service,
    existing in-person services (of ``kind``, if given) held fixed; see :func:`site_problem`
    for the demand and the candidates. The greedy choice is at least 1 - 1/e (63%) of the best
    possible; the proposal also carries the data's own bound. Each proposal is then added to
    the directory as a local in-person service of ``kind`` serving its local authority district
    (:func:`proposal_services`) and the coverage table is recomputed.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    n
        How many new services (1 or more).
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
        Extra candidate sites (:func:`read_candidate_sites`); these may lie anywhere in England
        and Wales.
    need
        Need per force; ``None`` for the bundled figures.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    radii_km
        Radii of the coverage table's access measures (before and after).
    method
        ``"greedy"`` (default) or ``"exact"`` (integer programme; slower on large areas).
    time_limit
        Seconds for the exact solver.
    settings
        Where the postcode table is cached; the CRS.

    Returns
    -------
    Proposal
        The sites, residents newly within reach, coverage before and after, and the bound.
    """
    count = _check_count(n)
    if method not in ("greedy", "exact"):
        raise PlanError(f"Unknown method {method!r}; use 'greedy' or 'exact'.")
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    need = load_need() if need is None else need
    problem = site_problem(
        services,
        force_code=force_code,
        kind=kind,
        radius_km=radius_km,
        weight=weight,
        candidates=candidates,
        need=need,
        postcodes=table,
        settings=settings,
    )
    if len(problem.candidates) == 0:
        raise PlanError(
            f"No candidate sites in {problem.area_name}; list some with --candidates FILE."
        )
    status(f"Choosing {count} site(s) among {len(problem.candidates)} candidates…")
    if method == "exact":
        solution = exact_max_cover(problem.cover, problem.weights, count, time_limit=time_limit)
    else:
        solution = _with_lp_bound(
            greedy_max_cover(problem.cover, problem.weights, count), problem, count
        )
    notes = _notes(problem, solution, count)
    chosen = problem.candidates.iloc[list(solution.chosen)].reset_index(drop=True)
    proposed = proposal_services(chosen, kind=problem.kind, settings=settings)
    forces = [problem.area_code] if problem.area_code != ENGLAND_AND_WALES else []
    comparison = what_if(
        services,
        proposed,
        force_codes=[*forces, *chosen["force_code"]],
        need=need,
        postcodes=table,
        radii_km=radii_km,
        settings=settings,
    )
    sites = _site_table(problem, solution, chosen, comparison, radii_km)
    return Proposal(
        sites=sites,
        coverage_change=comparison,
        problem=problem,
        solution=solution,
        requested=count,
        radii_km=tuple(radii_km),
        notes=tuple(notes),
    )


LP_BOUND_CELLS = 10_000
"""The LP-relaxation bound is computed when the merged problem has at most this many cells."""


def _with_lp_bound(solution: CoverSolution, problem: SiteProblem, count: int) -> CoverSolution:
    """Tighten a greedy solution's upper bound with the LP relaxation, when that is quick."""
    import dataclasses

    if solution.optimal:
        return solution
    matrix, w = _merged_cells(_as_csr(problem.cover), problem.weights)
    if matrix.shape[1] > LP_BOUND_CELLS:
        return solution
    bound = lp_upper_bound(matrix, w, count)
    if bound >= solution.upper_bound:
        return solution
    return dataclasses.replace(
        solution,
        upper_bound=max(bound, solution.value),
        optimal=bound <= solution.value * (1.0 + 1e-9),
        bound="LP relaxation",
    )


def _notes(problem: SiteProblem, solution: CoverSolution, count: int) -> list[str]:
    notes = []
    if len(solution.chosen) < count:
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
    from servicemap.geography.geocode import wgs84_from_bng

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
    by_force = comparison.set_index("force_code")
    for m in _site_measures(radii, problem.kind):
        for when in ("before", "after"):
            column = f"{m}_{when}"
            if column in by_force.columns:
                sites[column] = by_force[column].reindex(sites["force_code"]).to_numpy()
    return sites


# --- output -------------------------------------------------------------------------------


def _count_text(value: float) -> str:
    return f"{value:,.0f}"


def format_proposal(proposal: Proposal, fmt: str) -> str:
    """Render a :func:`propose_sites` answer as ``table`` text, ``csv`` or ``json``.

    ``csv`` (spreadsheet-safe) is the sites table, one row per proposed site; ``json`` has
    everything (parameters, sites, reach before and after, bound, coverage change);
    ``table`` is a short report for a person.

    Parameters
    ----------
    proposal
        From :func:`propose_sites`.
    fmt
        ``table``, ``csv`` or ``json``.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    if fmt == "csv":
        return format_table(proposal.sites, "csv")
    if fmt == "json":
        return json.dumps(proposal.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt != "table":
        raise PlanError(f"Unknown format {fmt!r}; use table, csv or json.")
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    of_kind = f"{p.kind} " if p.kind else ""
    lines = [
        f"Where {proposal.requested} new in-person {of_kind}service(s) would bring the most "
        f"{who} in {p.area_name} within {p.radius_km:g} km",
        f"(existing in-person {of_kind}services held fixed; {len(p.candidates)} candidate "
        "sites: postcode districts"
        + (" and your candidates" if (p.candidates["source"] != "postcode district").any() else "")
        + ")",
        "",
    ]
    if proposal.sites.empty:
        lines.append("No site brings anyone new within reach.")
    else:
        shown = proposal.sites[
            [
                "rank",
                "postcode_district",
                "name",
                "site_postcode",
                "local_authority",
                "force_name",
                "newly_within_reach",
                "share_within_reach_after",
            ]
        ].copy()
        if not (shown["name"] != "").any():
            shown = shown.drop(columns="name")
        shown["newly_within_reach"] = shown["newly_within_reach"].map(_count_text)
        shown["share_within_reach_after"] = shown["share_within_reach_after"].map(
            lambda v: f"{v:.1%}" if np.isfinite(v) else ""
        )
        lines.append(str(shown.to_string(index=False)))
    before, after, total = proposal.reach_before, proposal.reach_after, p.residents

    def share(value: float) -> str:
        return f" ({value / total:.1%})" if total > 0 else ""

    lines += [
        "",
        f"{who[0].upper()}{who[1:]} in {p.area_name} within {p.radius_km:g} km of in-person "
        f"{of_kind}help: {_count_text(before)}{share(before)} before, "
        f"{_count_text(after)}{share(after)} after (+{_count_text(after - before)}).",
    ]
    s = proposal.solution
    if s.method == "greedy":
        proof = (
            f"on this data it is the best possible (proved by the {s.bound} bound)."
            if s.optimal
            else f"on this data at least {s.ratio_floor:.1%} of it ({s.bound} bound); "
            "--exact finds the best."
        )
        lines.append(
            f"Chosen greedily: guaranteed at least {GREEDY_GUARANTEE:.0%} of the best possible "
            f"choice; {proof}"
        )
    else:
        lines.append(
            "Chosen exactly (integer programme)"
            + ("." if s.optimal else f": time limit reached, at least {s.ratio_floor:.1%}.")
        )
    lines += [f"Note: {note}" for note in proposal.notes]
    forces = list(dict.fromkeys(proposal.sites["force_code"]))
    if p.area_code != ENGLAND_AND_WALES and p.area_code not in forces:
        forces.insert(0, p.area_code)
    change = proposal.coverage_change.set_index("force_code")
    measures = _site_measures(proposal.radii_km, p.kind)
    lines += [
        "",
        f"Coverage measures, modelling each proposal as a local in-person "
        f"{p.kind or PROPOSED_KIND} service serving its local authority district:",
    ]
    for code in forces:
        if code not in change.index:
            continue
        row = change.loc[code]
        lines.append(f"{row['force_name']} ({code}):")
        lines += _change_lines(row, [m for m in measures if f"{m}_before" in change.columns])
    return "\n".join(lines) + "\n"


def _plan_layers_class() -> Any:
    """Return the MacroElement class that draws the plan's layers (folium imported lazily)."""
    from branca.element import MacroElement
    from folium.template import Template

    class _PlanLayers(MacroElement):
        """Existing services, catchment circles and numbered sites, drawn from JSON rows.

        Popups are bound with Leaflet's own ``bindPopup`` (folium's ``Popup`` needs jQuery,
        which the offline page does not carry). Every text is escaped before it gets here and
        ``tojson`` escapes ``<``, ``>`` and ``&`` again inside the script.
        """

        _template = Template(
            """
            {% macro script(this, kwargs) %}
            (function () {
                var services = {{ this.services|tojson }};
                services.forEach(function (r) {
                    L.circleMarker([r.lat, r.lon], {
                        radius: 6, color: "#ffffff", weight: 2, fillColor: r.colour,
                        fillOpacity: 0.9, className: "sm-service"
                    }).bindPopup(r.popup, {maxWidth: 320}).bindTooltip(r.tooltip)
                      .addTo({{ this.services_layer.get_name() }});
                });
                var sites = {{ this.sites|tojson }};
                sites.forEach(function (r) {
                    L.circle([r.lat, r.lon], {
                        radius: r.radius, color: "#d95f02", weight: 2, fillOpacity: 0.12,
                        className: "sm-plan-catchment"
                    }).bindTooltip(r.label).addTo({{ this.catchments.get_name() }});
                    L.marker([r.lat, r.lon], {
                        icon: L.divIcon({
                            html: "<div class='sm-plan-site'>" + r.rank + "</div>",
                            className: "", iconSize: [28, 28], iconAnchor: [14, 14]
                        }),
                        keyboard: true, title: r.rank + ""
                    }).bindPopup(r.label, {maxWidth: 320}).bindTooltip(r.label)
                      .addTo({{ this.proposals.get_name() }});
                });
                window.servicemapPlan = {
                    map: {{ this.map.get_name() }}, sites: sites.length,
                    services: services.length
                };
            })();
            {% endmacro %}
            """
        )

        def __init__(self, **layers: Any) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self._name = "PlanLayers"
            for name, value in layers.items():
                setattr(self, name, value)

    return _PlanLayers


def proposal_map(
    proposal: Proposal,
    services: pd.DataFrame,
    *,
    force_areas: gpd.GeoDataFrame | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> folium.Map:
    """Draw the proposed sites, their catchment circles and the existing public services.

    Confidential services are never placed: ``services`` goes through
    :func:`servicemap.directory.privacy.public_services` and
    :func:`servicemap.render.maps.map_services`. The
    page inlines Leaflet like the coverage map, so it works offline.

    Parameters
    ----------
    proposal
        From :func:`propose_sites`.
    services
        The canonical services frame (the directory).
    force_areas
        Force polygons (``code``, ``name``; ``servicemap.geography.boundaries.load_force_areas``)
        drawn
        as outlines for orientation, the planned force in bold; ``None`` for none.
    settings
        ``settings.crs``, for simplifying the outlines.

    Returns
    -------
    folium.Map
        The map; save it with :func:`servicemap.render.maps.save_map`.
    """
    import folium

    from servicemap.directory.privacy import public_services

    # The coverage map's page and controls, so the plan map is self-contained and looks alike.
    from servicemap.render.maps import HtmlControl, map_services, offline_map

    p = proposal.problem
    sites = proposal.sites
    existing = map_services(public_services(services))
    title = f"Proposed sites in {p.area_name}"
    style = (
        "<style>.sm-plan-site{width:28px;height:28px;border-radius:14px;"
        "background:#d95f02;color:#fff;font:bold 15px/28px sans-serif;text-align:center;"
        "border:2px solid #fff;box-shadow:0 0 3px #000}</style>"
    )
    m = offline_map(
        title=title, location=(52.5, -1.5), zoom_start=7, control_scale=True, head=style
    )
    outlines: gpd.GeoDataFrame | None = None
    if force_areas is not None and len(force_areas):
        from servicemap.render.maps import simplify_force_areas

        outlines = simplify_force_areas(force_areas, max_vertices=20_000, settings=settings)
        code_column = "code" if "code" in outlines.columns else "force_code"
        outlines = outlines.assign(
            planned=outlines[code_column] == p.area_code,
            label=outlines["name"].astype(str).map(html.escape),
        )[["planned", "label", "geometry"]]
        folium.GeoJson(
            outlines.to_json(),
            name="Police force areas",
            style_function=lambda feature: {
                "fill": False,
                "color": "#333333",
                "weight": 3 if feature["properties"]["planned"] else 1,
            },
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
            className="sm-plan-force",
        ).add_to(m)
    layers = {
        "services_layer": folium.FeatureGroup(name="Existing services (public locations)"),
        "catchments": folium.FeatureGroup(name=f"Catchments ({p.radius_km:g} km)"),
        "proposals": folium.FeatureGroup(name="Proposed sites"),
    }
    for layer in layers.values():
        layer.add_to(m)
    who = WEIGHT_LABELS[p.weight]
    site_rows = [
        {
            "rank": int(row.rank),
            "lat": float(row.latitude),
            "lon": float(row.longitude),
            "radius": p.radius_km * 1000.0,
            "label": html.escape(
                f"{row.rank}. {row.name or row.postcode_district} ({row.local_authority}, "
                f"{row.force_name}): +{row.newly_within_reach:,.0f} {who} within "
                f"{p.radius_km:g} km"
            ),
        }
        for row in sites.itertuples(index=False)
    ]
    service_rows = [
        {
            "lat": float(r.lat),
            "lon": float(r.lon),
            "colour": r.colour,
            "popup": r.popup,
            "tooltip": html.escape(r.name),
        }
        for r in existing.itertuples(index=False)
    ]
    m.add_child(_plan_layers_class()(map=m, services=service_rows, sites=site_rows, **layers))
    summary = (
        f"<h2>{html.escape(title)}</h2><p>{len(sites)} new in-person "
        f"{html.escape(p.kind or '')} service(s) chosen to bring the most "
        f"{html.escape(who)} within {p.radius_km:g} km. Circles show each site's catchment; "
        "dots show existing services with a public location (refuges and other confidential "
        "services are never placed).</p>"
    )
    m.add_child(
        HtmlControl(summary, position="bottomleft", css_class="sm-box sm-title", name="Title")
    )
    folium.LayerControl(collapsed=False).add_to(m)
    south, west, north, east = math.inf, math.inf, -math.inf, -math.inf
    if len(sites):
        pad = p.radius_km / 111.0
        lat, lon = sites["latitude"].to_numpy(float), sites["longitude"].to_numpy(float)
        south, west = lat.min() - pad, lon.min() - pad * 1.6
        north, east = lat.max() + pad, lon.max() + pad * 1.6
    if outlines is not None and outlines["planned"].any():
        minx, miny, maxx, maxy = outlines.loc[outlines["planned"]].total_bounds
        south, west, north, east = (
            min(south, miny),
            min(west, minx),
            max(north, maxy),
            max(east, maxx),
        )
    if math.isfinite(south):
        m.fit_bounds([[south, west], [north, east]])
    return m
