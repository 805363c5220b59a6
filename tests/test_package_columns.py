"""Reading the postcode package's msgpack files into numpy columns: the same as msgpack's."""

from __future__ import annotations

import math
import struct

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicemap.geography import _package_columns as columns


def _file(data: dict[str, list[object]]) -> bytes:
    return msgpack.packb({"columns": list(data), "data": data})


def _assert_same(data: bytes, *, fast: bool) -> None:
    got = columns.decode_columns(data)
    expected = columns._with_msgpack(data)
    assert list(got) == list(expected)
    for name in expected:
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    if fast:
        columns._read(data)  # read from the bytes, not handed to msgpack
    else:
        with pytest.raises(columns._UnexpectedLayoutError):
            columns._read(data)


_CODE = st.text(alphabet="EWS0123456789", min_size=9, max_size=9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_CODE, st.just(math.nan)), min_size=1, max_size=40))
def test_codes_with_missing_values_anywhere(codes: list[object]) -> None:
    # leading, trailing, consecutive and only NaNs among 9-character codes
    east = [float(i) for i in range(len(codes))]
    _assert_same(_file({"laua": codes, "oseast1m": east}), fast=True)


def test_the_package_layout_is_read_from_the_bytes() -> None:
    data = _file(
        {
            "pcd": ["B1  1AA", "B1  1AD", "SW1A1AA"],
            "laua": [math.nan, "E08000025", math.nan],
            "oseast1m": [406649.0, math.nan, 529090.0],
            "osnrth1m": [286530.0, math.nan, 179645.0],
        }
    )
    _assert_same(data, fast=True)
    got = columns.decode_columns(data)
    assert got["pcd"].tolist() == [b"B1  1AA", b"B1  1AD", b"SW1A1AA"]
    assert got["laua"].tolist() == [b"", b"E08000025", b""]
    assert np.isnan(got["oseast1m"][1])


@pytest.mark.parametrize(
    "data",
    [
        {"pcd": ["B1 1AA", "B1  1AD"]},  # strings of two lengths
        {"pcd": ["B1  1AA", None]},  # nil, not NaN
        {"pcd": ["Bé  1AA"]},  # not ASCII
        {"pcd": ["a long name of more than thirty-one characters"]},  # str 8 header
        {"oseast1m": [1.0, 2]},  # an integer among floats
        {"oseast1m": [1.0, None]},  # nil among floats
        {"laua": ["E08000025", -math.nan]},  # a NaN written another way
        {"pcd": []},  # an empty column
    ],
)
def test_other_layouts_are_left_to_msgpack(data: dict[str, list[object]]) -> None:
    _assert_same(_file(data), fast=False)


def test_a_map_that_is_not_the_packages_is_left_to_msgpack() -> None:
    data = msgpack.packb({"columns": ["pcd"], "data": {"pcd": ["B1  1AA"]}, "extra": 1})
    _assert_same(data, fast=False)
    with_fewer_names = msgpack.packb({"columns": ["pcd"], "data": {"pcd": ["B1  1AA"], "x": []}})
    with pytest.raises(columns._UnexpectedLayoutError):
        columns._read(with_fewer_names)


def test_a_nan_written_as_the_package_writes_it() -> None:
    # the bytes searched for are msgpack's float 64 NaN, as Python and pandas write it
    assert b"\xcb" + struct.pack(">d", math.nan) == columns._NAN
    assert msgpack.packb(math.nan) == columns._NAN


def test_a_file_with_only_missing_codes_joins_as_text() -> None:
    parts = [
        columns.decode_columns(_file({"laua": ["E08000025", math.nan], "e": [1.0, 2.0]})),
        columns.decode_columns(_file({"laua": [math.nan], "e": [3.0]})),  # read as floats
    ]
    joined = columns.join_columns(parts)
    assert joined["laua"].tolist() == [b"E08000025", b"", b""]
    assert joined["e"].tolist() == [1.0, 2.0, 3.0]
