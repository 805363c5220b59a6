"""The vectorised prepare_services gives exactly the arrays of the row-by-row one it replaced."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import reach_before
from servicemap.analysis import access, profile, reach
from servicemap.directory.load import load_services
from servicemap.geography.postcodes import (
    Geography,
    compact_postcodes,
    geography_from_postcodes,
    load_postcode_table,
    parse_postcodes,
)


@pytest.fixture(scope="module")
def geography() -> Geography:
    """The ONS postcode table's geography."""
    return geography_from_postcodes(load_postcode_table())


def _assert_same(before: reach.PreparedServices, after: reach.PreparedServices) -> None:
    for name in reach.PreparedServices.__dataclass_fields__:
        old, new = getattr(before, name), getattr(after, name)
        if isinstance(old, dict):
            assert old.keys() == new.keys(), name
            for kind in old:
                np.testing.assert_array_equal(old[kind], new[kind], err_msg=f"{name}[{kind}]")
        else:
            assert old.dtype == new.dtype and old.shape == new.shape, name
            np.testing.assert_array_equal(old, new, err_msg=name)


def _both(services: pd.DataFrame, geography: Geography) -> None:
    with warnings.catch_warnings(record=True) as said_before:
        warnings.simplefilter("always")
        before = reach_before.prepare_services(services, geography)
    with warnings.catch_warnings(record=True) as said_after:
        warnings.simplefilter("always")
        after = reach.prepare_services(services, geography)
    _assert_same(before, after)
    assert [str(w.message) for w in said_before] == [str(w.message) for w in said_after]


def test_the_bundled_directory_is_prepared_the_same(geography: Geography) -> None:
    _both(load_services(warn=False), geography)


def _messy(services: pd.DataFrame, geography: Geography) -> pd.DataFrame:
    """The bundled directory three times over, with every kind of value the rules meet."""
    frame = pd.concat([services] * 3, ignore_index=True)
    n = len(frame)
    rng = np.random.default_rng(7)
    pick = rng.random(n)
    shared = tuple(str(c) for c in geography.table.district_codes[:40])
    districts = frame["served_districts"].tolist()
    forces = frame["served_forces"].tolist()
    for i in range(n):
        if pick[i] < 0.1:
            districts[i], forces[i] = (), ()  # no stated area
        elif pick[i] < 0.2:
            districts[i] = list(districts[i])  # lists and arrays as well as tuples
            forces[i] = np.array(forces[i], dtype=object)
        elif pick[i] < 0.3:
            districts[i] = shared  # one object on many rows
        elif pick[i] < 0.35:
            districts[i], forces[i] = None, ("E23000031", "nowhere")  # a whole force, a bad code
        elif pick[i] < 0.4:
            districts[i] = ("E06000001", "E99999999")
    frame["served_districts"] = districts
    frame["served_forces"] = forces
    scope = frame["scope"].to_numpy(dtype=object, copy=True)
    scope[pick > 0.9] = " National "
    scope[(pick > 0.85) & (pick <= 0.9)] = None
    scope[(pick > 0.8) & (pick <= 0.85)] = "citywide"
    frame["scope"] = scope
    postcode = frame["postcode"].to_numpy(dtype=object, copy=True)
    lowered = pd.Series(postcode).fillna("").astype(str).str.lower().str.replace(" ", "")
    postcode[pick < 0.15] = lowered[pick < 0.15].to_numpy()
    kelvin = lowered.str.startswith("k").to_numpy() & (pick > 0.5)
    postcode[kelvin] = ["\u212a" + p[1:] for p in lowered[kelvin]]  # Kelvin sign: cleans to "k"
    postcode[(pick > 0.95)] = "  not a postcode "
    postcode[(pick > 0.6) & (pick <= 0.62)] = np.nan
    frame["postcode"] = postcode
    status = frame["status"].to_numpy(dtype=object, copy=True)
    status[(pick > 0.3) & (pick <= 0.4)] = " ENDED"
    frame["status"] = status
    delivery = frame["delivery"].to_numpy(dtype=object, copy=True)
    delivery[(pick > 0.4) & (pick <= 0.5)] = None
    delivery[(pick > 0.5) & (pick <= 0.55)] = "In_Person "
    delivery[(pick > 0.55) & (pick <= 0.65)] = "both"
    delivery[(pick > 0.65) & (pick <= 0.7)] = "remote"
    frame["delivery"] = delivery
    address = frame["address"].to_numpy(dtype=object, copy=True)
    address[(pick > 0.7) & (pick <= 0.75)] = "   "
    address[(pick > 0.75) & (pick <= 0.78)] = "PO Box 12"
    frame["address"] = address
    force_code = frame["force_code"].to_numpy(dtype=object, copy=True)
    force_code[(pick > 0.45) & (pick <= 0.47)] = None
    frame["force_code"] = force_code
    frame.loc[pick > 0.97, ["easting", "northing"]] = np.nan
    return frame


def test_a_messy_directory_is_prepared_the_same(geography: Geography) -> None:
    _both(_messy(load_services(warn=False), geography), geography)


def test_a_directory_without_served_forces_or_rows_is_prepared_the_same(
    geography: Geography,
) -> None:
    services = load_services(warn=False)
    _both(services.drop(columns=["served_forces"]), geography)
    _both(services.iloc[:0], geography)


def test_postcodes_are_parsed_the_same() -> None:
    typed = [
        "SW1A 1AA", "sw1a1aa", " SW1A\t1AA ", "SW1A\u00a01AA", "GIR 0AA", "npt 1aa", "B1 1AA",
        "\u212aT1 1AA", "not one", "", None, np.nan, 12345, "EC1A 1BB", "ec1a 1bb", "W1A0AX",
        "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "AB1", "SW1A 1AAA", "s w1a 1aa",
    ]  # fmt: skip
    series = pd.Series(typed * 3, dtype=object)
    before = reach_before.parse_postcodes_before(series)
    after = parse_postcodes(series)
    for name in ("row_postcode", "row_text", "keys", "compact", "canonical"):
        np.testing.assert_array_equal(getattr(before, name), getattr(after, name), err_msg=name)
    compact = np.append(before.compact, np.array([b""], dtype="S7"))[before.row_postcode]
    np.testing.assert_array_equal(compact_postcodes(series), compact)


@pytest.mark.parametrize("grouped", [True, False])
def test_weighted_medians_are_the_same(grouped: bool) -> None:
    rng = np.random.default_rng(3)
    group = rng.integers(0, 9, 5_000)  # group 9 of 10 is empty
    group = np.sort(group) if grouped else group
    values = np.round(rng.exponential(5, len(group)), 1)  # many ties
    values[rng.random(len(group)) < 0.05] = np.inf
    values[rng.random(len(group)) < 0.02] = np.nan  # NaN last, as lexsort puts it
    weights = rng.choice([0.0, 1.0, 2.5, 1 / 3], size=len(group))
    weights[group == 4] = 0.0  # no weight at all: the plain median
    before = reach_before.weighted_median_before(values, weights, group, 10)
    after = access._weighted_median(values, weights, group, 10)
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("grouped", [True, False])
def test_weighted_medians_leave_out_rows_of_no_group(grouped: bool) -> None:
    rng = np.random.default_rng(4)
    group = rng.integers(-2, 8, 3_000)  # -2, -1 and 6, 7 are no group of the 6
    group = np.sort(group) if grouped else group
    values = np.round(rng.exponential(5, len(group)), 1)
    weights = rng.choice([1.0, 2.5], size=len(group))
    before = reach_before.weighted_median_before(values, weights, group, 6)
    np.testing.assert_array_equal(access._weighted_median(values, weights, group, 6), before)


def test_weighted_medians_of_no_residents_are_nan() -> None:
    empty = np.array([], dtype=np.float64)
    after = access._weighted_median(empty, empty, np.array([], dtype=np.intp), 3)
    assert np.isnan(after).all() and len(after) == 3


def test_nearest_postcodes_are_as_far_with_the_tree_as_directly(
    geography: Geography, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    residents = geography.force_residents(0)
    points = residents[rng.integers(0, len(residents), 300)] + rng.normal(0, 5_000, (300, 2))
    direct = profile._nearest_distance(points, residents)
    monkeypatch.setattr(profile, "DIRECT_PAIRS", 0)  # always the tree (300 points: else direct)
    np.testing.assert_array_equal(profile._nearest_distance(points, residents), direct)


@pytest.mark.parametrize("count", [3, 300, 3_000])
def test_the_nearest_few_services_are_those_of_measuring_every_one(
    geography: Geography, count: int
) -> None:
    rng = np.random.default_rng(count)
    residents = geography.force_residents(1)
    points = rng.uniform(0, 700_000, (count, 2))  # all over: inside the box and far outside
    points[: count // 3] = residents[rng.integers(0, len(residents), count // 3)]  # at 0 m
    points[-2:] = points[-4:-2]  # ties
    every = profile._nearest_distance(points, residents)
    for few in (1, 5, 12):
        order, metres = profile._nearest_few(points, residents, few)
        expected = np.argsort(every, kind="stable")[:few]
        np.testing.assert_array_equal(order, expected)
        np.testing.assert_array_equal(metres, every[expected])


def test_the_quick_stable_sort_orders_as_numpys_stable_sort() -> None:
    rng = np.random.default_rng(11)
    for n in (0, 1, 2, 7, 1_000, 50_000):
        values = np.round(rng.exponential(4, n), 1)  # many ties
        values[rng.random(n) < 0.1] = np.inf
        values[rng.random(n) < 0.05] = np.nan
        np.testing.assert_array_equal(
            access._stable_argsort(values), np.argsort(values, kind="stable"), err_msg=str(n)
        )


def test_each_forces_box_and_farthest_resident_are_those_of_its_own_slice(
    geography: Geography,
) -> None:
    km = np.random.default_rng(8).uniform(0, 90, len(geography.resident_xy))
    boxes, farthest = access._force_boxes(geography, km)
    bounds = geography.force_bounds
    for k in range(geography.n_forces):
        part = slice(bounds[k], bounds[k + 1])
        xy = geography.resident_xy[part]
        np.testing.assert_array_equal(boxes[k], [*xy.min(axis=0), *xy.max(axis=0)])
        assert farthest[k] == km[part].max()


def test_a_force_without_residents_has_no_box_and_the_others_keep_theirs() -> None:
    from types import SimpleNamespace

    xy = np.array([[1.0, 5.0], [3.0, 2.0], [7.0, 7.0], [9.0, 8.0], [8.0, 9.0]])
    # force 0: rows 0-1; force 1: none; force 2: rows 2-4; force 3: none
    fake = SimpleNamespace(force_bounds=np.array([0, 2, 2, 5, 5]), resident_xy=xy, n_forces=4)
    boxes, farthest = access._force_boxes(fake, np.array([4.0, 1.0, 2.0, 6.0, 3.0]))  # type: ignore[arg-type]
    np.testing.assert_array_equal(boxes[0], [1, 2, 3, 5])
    np.testing.assert_array_equal(boxes[2], [7, 7, 9, 9])
    assert np.isnan(boxes[[1, 3]]).all()
    assert farthest.tolist() == [4.0, -np.inf, 6.0, -np.inf]
