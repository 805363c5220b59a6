"""Maximal covering on a matrix: choose N candidates covering the most cell weight.

The solver layer, on arrays only (spopt's ``from_cost_matrix``): a candidates x cells incidence
matrix and a weight per cell in, a :class:`CoverSolution` out. Greedy is guaranteed at least
1 - 1/e (63%) of the best possible and carries a bound from the data; :func:`exact_max_cover`
solves the integer programme with HiGHS (its own Python interface, ``highspy``).
:mod:`servicemap.analysis.sites` builds the matrix from the directory and the postcodes.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._cache import cache_key, kept_result
from servicemap.errors import PlanError
from servicemap.settings import Settings

if TYPE_CHECKING:
    from scipy.sparse import csr_array


GREEDY_GUARANTEE = 1.0 - 1.0 / math.e
"""The greedy choice reaches at least this share of the best possible (Nemhauser et al. 1978)."""

BUDGET_GUARANTEE = (1.0 - 1.0 / math.e) / 2.0
"""With a budget, the better of greedy-by-gain-per-cost and the best single affordable site
reaches at least this share (about 31.6%) of the best possible (Khuller, Moss and Naor 1999,
"The budgeted maximum coverage problem", Information Processing Letters 70(1), pp. 39-45)."""


def _check_count(n: object, *, name: str = "n") -> int:
    """Return a number of sites to choose; ``name`` is how the message names the argument."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PlanError(
            f"The number of new services ({name}) must be a whole number, 1 or more; got {n!r}."
        )
    return int(n)


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

    Ties (gains equal to 1 part in 10^12) go to the lowest candidate index;
    :func:`servicemap.analysis.sites.site_problem` orders candidates by postcode district, so
    ties go to the first district in that order.
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


@dataclass(frozen=True)
class _Solved:
    """What HiGHS returns: the columns' values (``None`` when it has no solution) and more."""

    x: npt.NDArray[np.float64] | None
    objective: float
    optimal: bool
    dual_bound: float
    message: str


def _solve_cover_programme(
    matrix: csr_array,
    weights: npt.NDArray[np.float64],
    limit: float,
    costs: npt.NDArray[np.float64] | None = None,
    *,
    integer: bool = False,
    options: dict[str, float] | None = None,
) -> _Solved:
    """Solve the covering programme with HiGHS: at most ``limit`` sites, or spend ``limit``.

    Columns are the sites' ``x_j`` then the cells' ``y_i``, all within [0, 1] (``x`` integer
    when ``integer``); rows are ``y_i - sum_j a_ij x_j <= 0`` and the count or budget row.
    HiGHS's own Python interface (highspy) rather than ``scipy.optimize.milp`` over the same
    solver: importing scipy.optimize takes about half a second, more than a plan's whole solve.
    The model is passed as milp passes it (column-wise, the same rows and columns).
    """
    import highspy
    from scipy.sparse import csr_array, hstack, identity, vstack

    m, k = matrix.shape
    links = hstack([-matrix.T, identity(k, format="csr")], format="csr")
    per_site = np.ones(m) if costs is None else costs
    budget = csr_array(np.concatenate([per_site, np.zeros(k)])[None, :])
    rows = vstack([links, budget], format="csc")
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m + k, k + 1
    lp.col_cost_ = np.concatenate([np.zeros(m), -weights])
    lp.col_lower_, lp.col_upper_ = np.zeros(m + k), np.ones(m + k)
    lp.row_lower_ = np.full(k + 1, -np.inf)
    lp.row_upper_ = np.concatenate([np.zeros(k), [float(limit)]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = m + k, k + 1
    lp.a_matrix_.start_ = rows.indptr
    lp.a_matrix_.index_ = rows.indices
    lp.a_matrix_.value_ = rows.data.astype(np.float64)
    if integer:
        kinds = (highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous)
        lp.integrality_ = [kinds[0]] * m + [kinds[1]] * k
    # The compiled class, as scipy uses it: highspy.Highs adds callbacks and prints a banner.
    highs = highspy._Highs()  # type: ignore[attr-defined]  # compiled, not in the stubs
    highs.setOptionValue("output_flag", False)
    for name, value in (options or {}).items():
        highs.setOptionValue(name, value)
    highs.passModel(lp)
    highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    statuses = highspy.HighsModelStatus
    stopped = (statuses.kTimeLimit, statuses.kIterationLimit, statuses.kSolutionLimit)
    solved = status == statuses.kOptimal or (
        integer and status in stopped and info.objective_function_value != highspy.kHighsInf
    )
    return _Solved(
        x=np.asarray(highs.getSolution().col_value, dtype=np.float64) if solved else None,
        objective=float(info.objective_function_value),
        optimal=status == statuses.kOptimal,
        dual_bound=float(info.mip_dual_bound) if integer else math.nan,
        message=highs.modelStatusToString(status),
    )


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
    n = _check_count(n)
    matrix, w = _merged_cells(_as_csr(cover), np.asarray(weights, dtype=np.float64))
    if matrix.shape[1] == 0:
        return 0.0
    result = _solve_cover_programme(matrix, w, n)
    if result.x is None:
        raise PlanError(f"The LP relaxation could not be solved: {result.message}")
    return -result.objective


def exact_max_cover(
    cover: Any,
    weights: npt.ArrayLike,
    n: int,
    *,
    time_limit: float | None = None,
    costs: npt.ArrayLike | None = None,
    budget: float | None = None,
) -> CoverSolution:
    """Choose up to ``n`` candidates covering the most weight, exactly, as an integer programme.

    Maximise ``sum_i w_i y_i`` subject to ``y_i <= sum_j a_ij x_j``, ``sum_j x_j <= n``,
    ``x_j`` in {0, 1} and ``0 <= y_i <= 1``, solved by HiGHS (``highspy``) with a
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
    costs, budget
        With a budget: each candidate's cost, and the most that may be spent (``n`` is then
        ignored; pass 1).

    Returns
    -------
    CoverSolution
        The chosen candidates (by index), their value and the solver's upper bound.
    """
    started = time.perf_counter()
    n = _check_count(n)
    full = _as_csr(cover)
    w = np.asarray(weights, dtype=np.float64)
    if (w < 0).any():
        raise PlanError("Cell weights must not be negative.")
    cost = None if budget is None else _check_costs(costs, full.shape[0], budget)
    matrix, merged_w = _merged_cells(full, w)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        return CoverSolution(
            (), (), 0.0, 0.0, "exact", time.perf_counter() - started, True, bound="solver"
        )
    limit = float(n) if budget is None else float(budget)
    options = {"mip_rel_gap": 0.0}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    result = _solve_cover_programme(matrix, merged_w, limit, cost, integer=True, options=options)
    if result.x is None:
        raise PlanError(f"The exact solver found no solution: {result.message}")
    picked = [int(j) for j in np.flatnonzero(result.x[: matrix.shape[0]] > 0.5)]
    value = cover_value(full, w, picked)
    order, gains = _greedy_order(full, w, picked)
    dual, optimal = result.dual_bound, result.optimal
    bound = value if optimal or not np.isfinite(dual) else max(value, -dual)
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


def _greedy_order(
    matrix: csr_array, w: npt.NDArray[np.float64], picked: list[int]
) -> tuple[list[int], list[float]]:
    """Order chosen sites as greedy would (largest gain first), so gains read the same way."""
    order: list[int] = []
    gains: list[float] = []
    left = list(picked)
    while left:
        base = cover_value(matrix, w, order)
        best = max(left, key=lambda j: (cover_value(matrix, w, [*order, j]), -j))
        gains.append(cover_value(matrix, w, [*order, best]) - base)
        order.append(best)
        left.remove(best)
    return order, gains


def _check_costs(costs: npt.ArrayLike | None, count: int, budget: float) -> npt.NDArray[np.float64]:
    """Return the candidates' costs as floats, checking them and the budget."""
    if not (isinstance(budget, (int, float, np.integer, np.floating)) and budget > 0):
        raise PlanError(f"The budget must be a positive amount, such as 250000; got {budget!r}.")
    if costs is None:
        raise PlanError("A budget needs a cost for every candidate site.")
    cost = np.asarray(costs, dtype=np.float64)
    if cost.shape != (count,) or not np.isfinite(cost).all() or (cost <= 0).any():
        raise PlanError("Every candidate site needs a positive cost to plan within a budget.")
    return cost


def greedy_budget_cover(
    cover: Any, weights: npt.ArrayLike, costs: npt.ArrayLike, budget: float
) -> CoverSolution:
    """Choose candidates within a budget: greedily by gain per cost, or the best single one.

    The budgeted maximal covering problem (Khuller, Moss and Naor 1999). Greedy adds, each time,
    the affordable candidate with the most new weight per unit of cost (ties to the lowest
    index), skipping those that no longer fit, until nothing affordable adds anything. The
    answer is the better of that and the best single affordable candidate, which reaches at
    least :data:`BUDGET_GUARANTEE` ((1 - 1/e)/2, about 31.6%) of the optimum.

    Parameters
    ----------
    cover
        Candidates x cells incidence matrix (dense or scipy sparse; non-zero = covers).
    weights
        Weight of each cell (not negative).
    costs
        Cost of each candidate (positive).
    budget
        The most that may be spent.

    Returns
    -------
    CoverSolution
        The choice in the order chosen, its value, and an upper bound: the best value of the
        fractional (knapsack) relaxation of the next step, from every greedy step, which is at
        least the optimum because coverage is submodular.
    """
    started = time.perf_counter()
    matrix = _as_csr(cover)
    cost = _check_costs(costs, matrix.shape[0], budget)
    w = np.asarray(weights, dtype=np.float64)
    if (w < 0).any():
        raise PlanError("Cell weights must not be negative.")
    remaining = w.copy()
    chosen: list[int] = []
    gains: list[float] = []
    value, left, bound = 0.0, float(budget), math.inf
    while True:
        gain = matrix @ remaining
        bound = min(bound, value + _knapsack_bound(gain, cost, float(budget)))
        fits = (cost <= left * (1.0 + 1e-12)) & (gain > 0)
        if not fits.any():
            break
        ratio = np.where(fits, gain / cost, -np.inf)
        best = float(ratio.max())
        j = int(np.flatnonzero(ratio >= best * (1.0 - 1e-12))[0])
        chosen.append(j)
        gains.append(float(gain[j]))
        value += float(gain[j])
        left -= float(cost[j])
        remaining[matrix.indices[matrix.indptr[j] : matrix.indptr[j + 1]]] = 0.0
    single = matrix @ w
    affordable = np.flatnonzero(cost <= float(budget) * (1.0 + 1e-12))
    value = cover_value(matrix, w, chosen)
    if len(affordable):
        k = int(affordable[np.argmax(single[affordable])])
        if float(single[k]) > value * (1.0 + 1e-12):
            chosen, gains, value = [k], [float(single[k])], float(single[k])
    return CoverSolution(
        chosen=tuple(chosen),
        gains=tuple(gains),
        value=value,
        upper_bound=max(bound, value),
        method="greedy",
        seconds=time.perf_counter() - started,
        optimal=bound <= value * (1.0 + 1e-12),
    )


def _knapsack_bound(
    gain: npt.NDArray[np.float64], cost: npt.NDArray[np.float64], budget: float
) -> float:
    """Return the fractional knapsack optimum of the marginal gains: a bound on what is left."""
    useful = np.flatnonzero(gain > 0)
    if not len(useful):
        return 0.0
    order = useful[np.argsort(-gain[useful] / cost[useful], kind="stable")]
    spend = np.cumsum(cost[order])
    full = int(np.searchsorted(spend, budget, side="right"))
    total = float(gain[order[:full]].sum())
    if full < len(order):
        before = float(spend[full - 1]) if full else 0.0
        total += float(gain[order[full]]) * (budget - before) / float(cost[order[full]])
    return total


def lp_budget_bound(
    cover: Any, weights: npt.ArrayLike, costs: npt.ArrayLike, budget: float
) -> float:
    """Return the LP relaxation's optimum of the budgeted problem: an upper bound on the best.

    Parameters
    ----------
    cover
        Candidates x cells incidence matrix (dense or scipy sparse; non-zero = covers).
    weights
        Weight of each cell (not negative).
    costs
        Cost of each candidate (positive).
    budget
        The most that may be spent.

    Returns
    -------
    float
        The bound (the best fractional choice within the budget).
    """
    full = _as_csr(cover)
    cost = _check_costs(costs, full.shape[0], budget)
    matrix, w = _merged_cells(full, np.asarray(weights, dtype=np.float64))
    if matrix.shape[1] == 0:
        return 0.0
    result = _solve_cover_programme(matrix, w, float(budget), cost)
    if result.x is None:
        raise PlanError(f"The LP relaxation could not be solved: {result.message}")
    return -result.objective


def kept_bound(settings: Settings | None, solve: Callable[[], float], *problem: Any) -> float:
    """Return an LP bound from ``solve``, kept between runs for the same ``problem``.

    The LP solve is most of a warm plan's solving time; the same matrices, weights and counts
    always give the same bound.

    Parameters
    ----------
    settings
        ``settings.cache_dir`` keeps the bound; ``None`` solves every time.
    solve
        Computes the bound.
    *problem
        What the bound depends on: sparse matrices, arrays and numbers.

    Returns
    -------
    float
        The bound.
    """
    if settings is None:
        return solve()
    digest = hashlib.sha256()
    for part in problem:
        arrays = (part.indptr, part.indices, part.data) if hasattr(part, "indptr") else (part,)
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes() + b"\0")
        digest.update(repr(getattr(part, "shape", "")).encode())
    key = cache_key("bound", digest.hexdigest())
    bound = kept_result(
        settings.cache_dir,
        "bounds",
        key,
        solve,
        what="LP bound",
        rebuild="with HiGHS (under a second)",
    )
    return float(bound)
