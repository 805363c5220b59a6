"""In-person access: how far every resident postcode is from help, as shares and medians.

Distances are straight lines in British National Grid metres, found with a k-d tree over
service points queried by every postcode. A coverage table carries a :class:`ReachState` (in
``attrs["reach"]``) that says, per district, how far its farthest resident is from help; with
it, the table for the same directory plus a few new services (a plan's proposals) is measured
only in the units where a new service comes nearer to someone, and every other unit's figures
are taken over. The answer is the same as measuring everything again.
"""

from __future__ import annotations

import hashlib
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from servicemap._beside import cores
from servicemap.analysis.reach import PreparedServices, Units
from servicemap.geography.postcodes import Geography

__all__ = [
    "DIRECT_PAIRS",
    "INCREMENTAL_POINTS",
    "ReachState",
    "access_measures",
    "distance_km",
    "measure_names",
    "nearest_km",
    "resident_distances",
]


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
    km: npt.NDArray[np.float64] = np.asarray(distance, dtype=np.float64)
    km /= 1000.0  # in place: a few million distances
    return km, np.asarray(index, dtype=np.intp)


@dataclass(frozen=True)
class ReachState:
    """What a coverage table's access figures were measured from, to extend them later.

    Attributes
    ----------
    points
        Digest of the in-person service points and their 'by and for' flags, in order.
    count
        How many points.
    radii_km
        The radii measured.
    widest_km
        The widest radius (the 'by and for' distances are exact up to it).
    weights
        Digest of the people per district the shares are weighted by.
    units
        Digest of the units the figures are summed to (which unit each district is in).
    boxes
        Per district: the bounding box of its resident postcodes (BNG metres; empty when none).
    farthest_km
        Per district: the distance from its farthest resident to the nearest point (-inf
        when it has no resident postcode).
    """

    points: str
    count: int
    radii_km: tuple[float, ...]
    widest_km: float
    weights: str
    units: str
    boxes: tuple[tuple[float, ...], ...]
    farthest_km: tuple[float, ...]

    def __copy__(self) -> ReachState:
        """Return itself: it cannot change (pandas copies ``attrs`` on every operation)."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ReachState:
        """Return itself: it cannot change (pandas copies ``attrs`` on every operation)."""
        return self


def _digest(*arrays: npt.NDArray[Any]) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _points(prepared: PreparedServices) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    chosen = np.flatnonzero(prepared.in_person)
    points = np.ascontiguousarray(prepared.access_xy[chosen], dtype=np.float64)
    return points, np.ascontiguousarray(prepared.by_and_for[chosen], dtype=bool)


def access_measures(
    geography: Geography,
    prepared: PreparedServices,
    radii_km: tuple[float, ...],
    units: Units,
    weights: npt.NDArray[np.float64],
    *,
    base: tuple[ReachState, dict[str, npt.NDArray[np.float64]]] | None = None,
) -> tuple[dict[str, npt.NDArray[np.float64]], ReachState]:
    """Return the shares of each unit's people within each radius of an in-person service.

    Parameters
    ----------
    geography
        The postcode table's districts and resident postcodes.
    prepared
        The services (:func:`servicemap.analysis.reach.prepare_services`).
    radii_km
        The radii, in km.
    units
        The areas the shares are summed to.
    weights
        The people each located postcode carries, per district
        (:func:`servicemap.geography.residents.district_weights`).
    base
        The state and figures of the same measures for the first services of ``prepared``
        (the directory without the services added after it), in the same units: every unit
        that no added service can come nearer to keeps its figures. Ignored when it does not
        match (other points, radii, weights or units).

    Returns
    -------
    tuple
        The measures by column name (one value per unit), and the state to extend them with.
    """
    points, by_and_for = _points(prepared)
    widest = float(max(radii_km))
    weights_key, units_key = _digest(weights), _digest(units.of_district, np.array([units.n]))
    if base is not None:
        state, figures = base
        same = (state.radii_km, state.weights, state.units) == (
            tuple(radii_km),
            weights_key,
            units_key,
        )
        n = state.count
        same = same and set(measure_names(radii_km)) <= set(figures)
        if same and n <= len(points) and _digest(points[:n], by_and_for[:n]) == state.points:
            return _with_added(geography, points, by_and_for, radii_km, units, weights, base)
    km, bf_km = resident_distances(geography, points, by_and_for, widest)
    resident_district = geography.resident_district
    out = _measures(km, bf_km, resident_district, radii_km, units, weights)
    state = ReachState(
        points=_digest(points, by_and_for), count=len(points), radii_km=tuple(radii_km),
        widest_km=widest, weights=weights_key, units=units_key,
        boxes=tuple(tuple(map(float, box)) for box in geography.district_boxes),
        farthest_km=tuple(map(float, _farthest(geography.n_districts, resident_district, km))),
    )  # fmt: skip
    return out, state


def _farthest(
    n: int, district: npt.NDArray[np.intp], km: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return each of ``n`` districts' largest distance (-inf when it has none)."""
    farthest = np.full(n, -np.inf)
    np.maximum.at(farthest, district, km)
    return farthest


def measure_names(radii_km: tuple[float, ...]) -> list[str]:
    """Return the names of the access measures for these radii, in the table's order.

    Parameters
    ----------
    radii_km
        The radii, in km.

    Returns
    -------
    list of str
        ``in_person_within_<R>km`` for each radius, ``median_km_to_in_person``, then
        ``by_and_for_within_<R>km`` for each radius.
    """
    return [
        *(f"in_person_within_{_radius_label(r)}km" for r in radii_km),
        "median_km_to_in_person",
        *(f"by_and_for_within_{_radius_label(r)}km" for r in radii_km),
    ]


def _measures(
    km: npt.NDArray[np.float64],
    bf_km: npt.NDArray[np.float64],
    district: npt.NDArray[np.intp],
    radii_km: tuple[float, ...],
    units: Units,
    weights: npt.NDArray[np.float64],
) -> dict[str, npt.NDArray[np.float64]]:
    """Sum the residents' distances (postcodes in ``district``) into each unit's measures."""
    unit = units.of_district[district]
    inside = unit >= 0
    everyone = bool(inside.all())  # as for forces: no copies of a few million distances
    unit = unit if everyone else unit[inside]
    people = np.nan_to_num(weights[district] if everyone else weights[district][inside])
    total = np.bincount(unit, weights=people, minlength=units.n)
    out: dict[str, npt.NDArray[np.float64]] = {}
    for name, measured in (("in_person", km), ("by_and_for", bf_km)):
        distance = measured if everyone else measured[inside]
        for radius in radii_km:
            within = np.bincount(unit, weights=people * (distance <= radius), minlength=units.n)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{name}_within_{_radius_label(radius)}km"] = within / total
        if name == "in_person":
            out["median_km_to_in_person"] = _weighted_median(distance, people, unit, units.n)
    return out


def _with_added(
    geography: Geography,
    points: npt.NDArray[np.float64],
    by_and_for: npt.NDArray[np.bool_],
    radii_km: tuple[float, ...],
    units: Units,
    weights: npt.NDArray[np.float64],
    base: tuple[ReachState, dict[str, npt.NDArray[np.float64]]],
) -> tuple[dict[str, npt.NDArray[np.float64]], ReachState]:
    """Measure again only the units where the points after ``base``'s change a figure.

    A new point can bring a resident nearer to help only if it is nearer to the resident's
    district's bounding box than that district's farthest resident is from help ('by and
    for' help counts up to the widest radius), and nearer to the resident than the earlier
    points are. Those residents are found first; each unit holding one (and each district)
    is then summed again from all its residents in their usual order, so its figures are
    exactly what measuring everything gives, and every other unit keeps its figures.
    """
    state, figures = base
    out = {c: np.array(figures[c], dtype=np.float64) for c in measure_names(radii_km)}
    farthest = np.array(state.farthest_km, dtype=np.float64)
    count, widest = state.count, state.widest_km
    near = _districts_near(state, farthest, points[count:], by_and_for[count:])
    if not near.any():
        return out, replace(state, points=_digest(points, by_and_for), count=len(points))
    xy, of = geography.district_residents(near)
    km_new, bf_new = _direct_nearest(points[count:], by_and_for[count:], xy)
    maybe = np.flatnonzero((km_new < farthest[of]) | (bf_new <= widest))
    km_old, bf_old = _direct_nearest(points[:count], by_and_for[:count], xy[maybe])
    changed = (km_new[maybe] < km_old) | ((bf_new[maybe] < bf_old) & (bf_new[maybe] <= widest))
    touched = np.zeros(geography.n_districts, dtype=bool)
    touched[of[maybe[changed]]] = True
    redo = np.zeros(units.n, dtype=bool)
    redo[units.of_district[touched & (units.of_district >= 0)]] = True
    # Every district of a unit summed again, and every district with a change, in full.
    again = touched | ((units.of_district >= 0) & redo[np.maximum(units.of_district, 0)])
    xy, of = geography.district_residents(again)
    km, bf_km = _direct_nearest(points, by_and_for, xy)
    fresh = _measures(km, bf_km, of, radii_km, units, weights)
    for column, values in fresh.items():
        out[column][redo] = values[redo]
    farthest[again] = _farthest(geography.n_districts, of, km)[again]
    return out, replace(
        state,
        points=_digest(points, by_and_for),
        count=len(points),
        farthest_km=tuple(map(float, farthest)),
    )


def _districts_near(
    state: ReachState,
    farthest: npt.NDArray[np.float64],
    added: npt.NDArray[np.float64],
    added_bf: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """Return the districts whose residents the added points may bring help nearer to."""
    boxes = np.array(state.boxes, dtype=np.float64).reshape(-1, 4)
    near = np.zeros(len(boxes), dtype=bool)
    for (x, y), is_bf in zip(added, added_bf, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            reach = np.maximum(farthest, state.widest_km if is_bf else -np.inf)
            near |= _box_km(boxes, x, y) <= reach
    return near


def _box_km(boxes: npt.NDArray[np.float64], x: float, y: float) -> npt.NDArray[np.float64]:
    """Return the km from ``(x, y)`` to each box (min x, min y, max x, max y); 0 inside."""
    dx = np.maximum(np.maximum(boxes[:, 0] - x, x - boxes[:, 2]), 0.0)
    dy = np.maximum(np.maximum(boxes[:, 1] - y, y - boxes[:, 3]), 0.0)
    km: npt.NDArray[np.float64] = np.hypot(dx, dy) / 1000.0
    return km


#: Up to this many point-to-postcode distances, measuring them all directly beats building a
#: k-d tree (and importing scipy.spatial, about 0.3 s); the distances are the same.
DIRECT_PAIRS = 20_000_000


def distance_km(
    points: npt.NDArray[np.float64], xy: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return the km from each of ``xy`` to the nearest of ``points`` (inf when there are none).

    Parameters
    ----------
    points
        Points (n x 2, BNG metres), all finite.
    xy
        Where to measure from (m x 2, BNG metres).

    Returns
    -------
    numpy.ndarray
        The distances, the same as :func:`nearest_km`'s.
    """
    if len(points) * len(xy) <= DIRECT_PAIRS:
        return _direct_km(points, xy)
    return nearest_km(points, xy)[0]


def _direct_km(
    points: npt.NDArray[np.float64], xy: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return the km from each of ``xy`` to the nearest of a few ``points`` (inf when none)."""
    return _direct_nearest(points, np.zeros(len(points), dtype=bool), xy)[0]


#: Residents measured together by :func:`_direct_nearest`: a block's arrays stay in the cache.
_BLOCK = 32_768


def _direct_nearest(
    points: npt.NDArray[np.float64],
    by_and_for: npt.NDArray[np.bool_],
    xy: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the km from each of ``xy`` to the nearest point, and to the nearest 'by and for' one.

    The same arithmetic as the k-d tree's (the square root of the summed squares), so the
    distances are identical; inf where there is no such point.
    """
    best, best_bf = np.full(len(xy), np.inf), np.full(len(xy), np.inf)
    for start in range(0, len(xy), _BLOCK):
        part = slice(start, start + _BLOCK)
        x, y, near, near_bf = xy[part, 0], xy[part, 1], best[part], best_bf[part]
        dx, dy = np.empty(len(x)), np.empty(len(x))
        for (px, py), is_bf in zip(points, by_and_for, strict=True):
            np.subtract(x, px, out=dx)
            np.multiply(dx, dx, out=dx)
            np.subtract(y, py, out=dy)
            np.multiply(dy, dy, out=dy)
            np.add(dx, dy, out=dx)
            np.minimum(near, dx, out=near)
            if is_bf:
                np.minimum(near_bf, dx, out=near_bf)
    km: npt.NDArray[np.float64] = np.sqrt(best) / 1000.0
    bf_km: npt.NDArray[np.float64] = np.sqrt(best_bf) / 1000.0
    return km, bf_km


def _weighted_median(
    values: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    group: npt.NDArray[np.intp],
    n: int,
) -> npt.NDArray[np.float64]:
    """Return, per group, the value half of the group's weight is at or below (NaN if none).

    With equal weights this is numpy's median (the mean of the two middle values). Each
    group's weights are summed on their own, so a group's median does not depend on the
    other groups (and a few groups can be measured again alone, with the same answer).
    """
    out = np.full(n, np.nan)
    if len(group) and bool(np.all(group[1:] >= group[:-1])):
        # Already grouped (forces: residents come grouped by force): sorting each group's
        # values alone gives lexsort's order, about twice as fast.
        bounds = np.searchsorted(group, np.arange(n + 1))
        order = np.arange(len(values))  # rows outside groups 0..n-1 (unused) keep their place

        def sort_group(k: int) -> None:
            start, end = bounds[k], bounds[k + 1]
            order[start:end] = start + _stable_argsort(values[start:end])

        # numpy sorts without holding the GIL: two threads sort two groups at once
        with ThreadPoolExecutor(max_workers=min(cores(), 2)) as pool:
            list(pool.map(sort_group, range(n)))
        v, w = values[order], weights[order]
    elif len(group):
        # Not grouped (districts): group the residents first, keeping their order within each
        # group (a stable sort), then sort each group as above -- lexsort's order, in a third
        # of the time.
        grouped = np.argsort(group, kind="stable")
        return _weighted_median(values[grouped], weights[grouped], group[grouped], n)
    else:
        return out
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


def _stable_argsort(values: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Return ``np.argsort(values, kind="stable")``, in about half the time.

    numpy's quicksort is several times faster than its stable sort on floats; equal values
    (NaN with NaN) are then put back in their original order by sorting (run, index) keys,
    which are all distinct, so any sort gives the one order.
    """
    n = len(values)
    order = np.argsort(values)
    ordered = values[order]
    new_run = ordered[1:] != ordered[:-1]
    new_run &= ~(np.isnan(ordered[1:]) & np.isnan(ordered[:-1]))
    run = np.zeros(n, dtype=np.int64)
    np.cumsum(new_run, out=run[1:])
    keys = np.sort(run * n + order)
    stable: npt.NDArray[np.intp] = (keys % max(n, 1)).astype(np.intp)
    return stable


# The residents' distances for the last set of in-person services measured from scratch, so a
# plan that adds a few services to the same directory measures only the distance to those.
_LAST_DISTANCES: list[tuple[weakref.ref[Geography], bytes, float, tuple[Any, ...]]] = []

INCREMENTAL_POINTS = 64
"""Up to this many services added to the last set measured are measured on their own."""


def resident_distances(
    geography: Geography,
    points: npt.NDArray[np.float64],
    by_and_for: npt.NDArray[np.bool_],
    widest_km: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return each resident postcode's km to the nearest point, and to a 'by and for' one.

    The 'by and for' distance is exact up to ``widest_km`` (beyond it, it may be inf). When
    ``points`` are the last set measured from scratch (on the same geography and radius) with a
    few more after them -- a plan adding proposed services to the directory -- only the
    distances to the new points are measured, and the answer is the same.

    Parameters
    ----------
    geography
        Gives the resident postcodes (``resident_xy``, BNG metres).
    points
        In-person service points (n x 2, BNG metres).
    by_and_for
        Which of ``points`` are 'by and for' services.
    widest_km
        The widest radius the 'by and for' distance is needed for.

    Returns
    -------
    tuple of numpy.ndarray
        The distance to the nearest point and to the nearest 'by and for' point, per resident.
    """
    key = np.ascontiguousarray(points, dtype=np.float64).tobytes()
    flags = np.ascontiguousarray(by_and_for, dtype=bool).tobytes()
    for ref, seen, widest, measured in _LAST_DISTANCES:
        base = len(seen) // 17  # 16 bytes of coordinates and 1 flag per point
        extra = len(points) - base
        if (
            ref() is geography
            and widest == widest_km
            and 0 <= extra <= INCREMENTAL_POINTS
            and key[: base * 16] + flags[:base] == seen
        ):
            return _with_points(geography, measured, points[base:], by_and_for[base:], widest)
    km, bf_km = _distances(geography.resident_xy, points, by_and_for, widest_km)
    measured = (km, bf_km, *_force_boxes(geography, km))
    _LAST_DISTANCES[:] = [(weakref.ref(geography), key + flags, widest_km, measured)]
    return km.copy(), bf_km.copy()


def _with_points(
    geography: Geography,
    measured: tuple[Any, ...],
    points: npt.NDArray[np.float64],
    by_and_for: npt.NDArray[np.bool_],
    widest_km: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the distances with a few more points: the nearer of the old and the new ones.

    A new point can only come nearer to a force's residents if it is nearer to the force's
    bounding box than the force's farthest resident is from help, so only those forces' slices
    are measured ('by and for' distances matter up to ``widest_km``).
    """
    km, bf_km, boxes, farthest = measured
    km, bf_km = km.copy(), bf_km.copy()
    xy = geography.resident_xy
    bounds = geography.force_bounds
    for (x, y), is_bf in zip(points, by_and_for, strict=True):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        near = _box_km(boxes, x, y) < np.maximum(farthest, widest_km if is_bf else 0.0)
        for k in np.flatnonzero(near):
            part = slice(bounds[k], bounds[k + 1])
            d = np.hypot(xy[part, 0] - x, xy[part, 1] - y) / 1000.0
            np.minimum(km[part], d, out=km[part])
            if is_bf:
                np.minimum(bf_km[part], d, out=bf_km[part])
    return km, bf_km


def _force_boxes(
    geography: Geography, km: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return each force's residents' bounding box (BNG metres) and farthest distance (km)."""
    bounds = geography.force_bounds
    xy = geography.resident_xy
    boxes = np.full((geography.n_forces, 4), np.nan)
    farthest = np.full(geography.n_forces, -np.inf)
    some = np.flatnonzero(bounds[1:] > bounds[:-1])  # forces with residents (slices in order)
    if len(some):
        starts = bounds[some]  # reduceat over these starts: each slice runs to the next start
        boxes[some, :2] = np.minimum.reduceat(xy, starts, axis=0)
        boxes[some, 2:] = np.maximum.reduceat(xy, starts, axis=0)
        farthest[some] = np.maximum.reduceat(km, starts)
    return boxes, farthest


def _distances(
    xy: npt.NDArray[np.float64],
    points: npt.NDArray[np.float64],
    by_and_for: npt.NDArray[np.bool_],
    widest_km: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    km, nearest = nearest_km(points, xy)
    # By and for: where the nearest in-person service is one, that is the distance; elsewhere
    # it is at least the in-person distance, so only postcodes with an in-person service within
    # the widest radius need a second (bounded) search.
    is_bf = np.append(by_and_for, False)
    bf_km = np.where(is_bf[np.minimum(nearest, len(points))], km, np.inf)
    todo = ~is_bf[np.minimum(nearest, len(points))] & (km <= widest_km)
    bf_km[todo] = nearest_km(points[by_and_for], xy[todo], within_km=widest_km)[0]
    return km, bf_km


def _radius_label(radius: float) -> str:
    return f"{radius:g}"
