from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap._csv import read_csv_text, spreadsheet_safe, write_csv
from servicemap.cli import cli
from servicemap.errors import DataQualityWarning, GeocodeError
from servicemap.geography.geocode import (
    GEOCODE_COLUMNS,
    add_geocode_columns,
    bng_from_wgs84,
    geocode_postcodes,
    postcode_column,
    summarise_geocoding,
    wgs84_from_bng,
)
from servicemap.geography.postcodes import load_postcode_table, normalise_postcodes

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"
# Barnsley and Sheffield were recoded in 2025 (boundary change); the 2024 lookup has old codes.
RECODED_2025 = {"E08000016": "E08000038", "E08000019": "E08000039"}


# --- normalise_postcodes ---


@pytest.mark.parametrize(
    ("typed", "standard"),
    [
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("  Sw1A   1aA  ", "SW1A 1AA"),
        ("SW1A\t1AA", "SW1A 1AA"),
        ("SW1A\u00a01AA", "SW1A 1AA"),  # non-breaking space, as pasted from a web page
        ("SW1A\n1AA", "SW1A 1AA"),
        ("ub13bl", "UB1 3BL"),
        ("M1 1AE", "M1 1AE"),  # A9 9AA
        ("b338th", "B33 8TH"),  # A99 9AA
        ("W1A0AX", "W1A 0AX"),  # A9A 9AA
        ("cr2 6xh", "CR2 6XH"),  # AA9 9AA
        ("DN551PT", "DN55 1PT"),  # AA99 9AA
        ("ec1a 1bb", "EC1A 1BB"),  # AA9A 9AA
        ("npt0ad", "NPT 0AD"),  # Newport's pre-1984 outward code, still in the ONS directory
        ("gir 0aa", "GIR 0AA"),
    ],
)
def test_normalise_postcodes_gives_the_standard_form(typed: str, standard: str) -> None:
    assert normalise_postcodes([typed]).tolist() == [standard]


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "SW1A",
        "SW1A 1A",
        "SW1A 1AAA",
        "SW1 A1AA",  # a space inside the outward code is not folded away
        "S W1A 1AA",
        "1SW 1AA",
        "SW1A-1AA",
        "12345",
        "\u212a1 1AA",  # Kelvin sign, which upper-cases like K under re.IGNORECASE
        "SW1A 1ÅA",
        "NPT1 0AD",
        None,
        float("nan"),
        12345,
    ],
)
def test_normalise_postcodes_gives_na_for_anything_else(typed: object) -> None:
    assert normalise_postcodes([typed]).isna().tolist() == [True]


def test_normalise_postcodes_keeps_index_and_name_and_duplicates() -> None:
    typed = pd.Series(["sw1a1aa", "bad", "SW1A 1AA", None], index=[10, 3, 3, 7], name="pc")
    normal = normalise_postcodes(typed)
    assert normal.index.tolist() == [10, 3, 3, 7]
    assert normal.name == "pc"
    assert normal.tolist() == ["SW1A 1AA", pd.NA, "SW1A 1AA", pd.NA]


def test_normalise_postcodes_refuses_a_single_string() -> None:
    with pytest.raises(TypeError, match="not one string"):
        normalise_postcodes("SW1A 1AA")


# --- geocode_postcodes on the bundled ONS directory ---


def _one(postcode: str) -> pd.Series:
    return geocode_postcodes([postcode]).iloc[0]


@pytest.mark.parametrize(
    ("postcode", "district", "force"),
    [
        ("UB1 3BL", "E09000009", "E23000001"),  # Ealing, Metropolitan Police
        ("SW1A 1AA", "E09000033", "E23000001"),  # Westminster, Metropolitan Police
        ("CF10 1AA", "W06000015", "W15000003"),  # Cardiff, South Wales
        ("M1 1AE", "E08000003", "E23000005"),  # Manchester, Greater Manchester
        ("S1 2HH", "E08000039", "E23000011"),  # Sheffield (2025 code), South Yorkshire
    ],
)
def test_known_postcodes_give_their_district_and_force(
    postcode: str, district: str, force: str
) -> None:
    place = _one(postcode)
    assert (place["status"], place["district_code"], place["force_code"]) == (
        "ok",
        district,
        force,
    )


def test_coordinates_agree_with_the_directory_and_wgs84() -> None:
    table = load_postcode_table()
    at = int(np.searchsorted(table.postcodes, b"SW1A1AA"))
    place = _one("sw1a1aa")
    assert (place["easting"], place["northing"]) == (table.easting[at], table.northing[at])
    # Buckingham Palace
    assert place["latitude"] == pytest.approx(51.501, abs=0.001)
    assert place["longitude"] == pytest.approx(-0.1416, abs=0.001)


@pytest.mark.parametrize(
    ("postcode", "district_prefix", "lat", "lon"),
    [
        ("EH1 1YZ", "S12", 55.95, -3.19),  # Edinburgh
        ("BT1 1AA", "N09", 54.60, -5.93),  # Belfast: ONS gives Irish Grid; must not land in GB
    ],
)
def test_scottish_and_northern_irish_postcodes_are_outside_england_and_wales(
    postcode: str, district_prefix: str, lat: float, lon: float
) -> None:
    place = _one(postcode)
    assert place["status"] == "outside_england_wales"
    assert place["force_code"] == ""
    assert place["district_code"].startswith(district_prefix)
    assert place["latitude"] == pytest.approx(lat, abs=0.02)
    assert place["longitude"] == pytest.approx(lon, abs=0.02)


def test_channel_islands_are_outside_england_and_wales_without_a_location() -> None:
    place = _one("JE2 3AB")
    assert place["status"] == "outside_england_wales"
    assert math.isnan(place["latitude"]) and math.isnan(place["easting"])


def test_rows_are_never_dropped_and_keep_their_index() -> None:
    typed = pd.Series(
        ["UB1 3BL", "not a postcode", "ZZ1 1ZZ", None, "ub13bl", "EH1 1YZ"],
        index=["a", "b", "c", "d", "a", "f"],
    )
    with pytest.warns(DataQualityWarning):
        geocoded = geocode_postcodes(typed)
    assert list(geocoded.columns) == list(GEOCODE_COLUMNS)
    assert geocoded.index.equals(typed.index)
    assert geocoded["status"].tolist() == [
        "ok",
        "malformed",
        "unknown",
        "malformed",
        "ok",
        "outside_england_wales",
    ]
    assert geocoded["postcode"].tolist() == [
        "UB1 3BL",
        "not a postcode",
        "ZZ1 1ZZ",
        "",
        "UB1 3BL",
        "EH1 1YZ",
    ]
    bad = geocoded["status"].isin(["malformed", "unknown"])
    assert geocoded.loc[bad, ["easting", "latitude"]].isna().all().all()
    assert (geocoded.loc[bad, ["district_code", "force_code"]] == "").all().all()


def test_geocode_does_not_change_its_input() -> None:
    typed = pd.Series([" sw1a1aa", "bad"])
    before = typed.copy()
    geocode_postcodes(typed, warn=False)
    pd.testing.assert_series_equal(typed, before)


def test_malformed_and_unknown_postcodes_are_reported_with_rows() -> None:
    with pytest.warns(
        DataQualityWarning,
        match=r"Of 5 postcodes, 2 are malformed \(row 2: 'SW1', row 4: blank\); "
        r"1 is not a known postcode \(row 5: 'ZZ9 9ZZ'\)\.",
    ):
        geocode_postcodes(["UB1 3BL", "SW1", "SW1A 1AA", "", "ZZ9 9ZZ"])


def test_warning_names_only_the_first_five_problems() -> None:
    with pytest.warns(DataQualityWarning, match=r"7 are malformed \(.*row 5: 'x4', and 2 more\)"):
        geocode_postcodes([f"x{i}" for i in range(7)])


def test_postcodes_without_a_location_are_reported() -> None:
    table = load_postcode_table()
    unlocated = table.postcodes[~table.has_location][0].decode()
    with pytest.warns(DataQualityWarning, match=r"1 has no known location \(row 1: "):
        place = geocode_postcodes([unlocated]).iloc[0]
    assert place["status"] == "no_location"
    assert math.isnan(place["latitude"])


def test_warn_false_reports_nothing() -> None:
    # pytest turns any warning into an error, so this fails if one is emitted
    geocoded = geocode_postcodes(["bad", "ZZ9 9ZZ"], warn=False)
    assert geocoded["status"].tolist() == ["malformed", "unknown"]


def test_the_warning_points_at_the_caller() -> None:
    with pytest.warns(DataQualityWarning) as caught:
        geocode_postcodes(["bad"])
    assert caught[0].filename == __file__


def test_empty_input_gives_an_empty_frame() -> None:
    geocoded = geocode_postcodes([])
    assert geocoded.empty and list(geocoded.columns) == list(GEOCODE_COLUMNS)


def test_every_england_and_wales_postcode_maps_to_the_official_force() -> None:
    """The issue's acceptance test: the ONS directory x the official LAD -> PFA lookup."""
    from servicemap.geography.postcodes import _read_package

    columns = _read_package()  # the package's own rows, not the cached table
    raw = pd.DataFrame({k: v.astype(str) if v.dtype.kind == "S" else v for k, v in columns.items()})
    lookup = pd.read_csv(REFERENCE / "lookups" / "lad24_pfa24_ew.csv", dtype=str)
    lookup["LAD24CD"] = lookup["LAD24CD"].replace(RECODED_2025)
    force_of = lookup.set_index("LAD24CD")["PFA24CD"]
    england_wales = raw[raw["laua"].isin(force_of.index)]
    assert len(england_wales) > 2_300_000

    geocoded = geocode_postcodes(england_wales["pcd"], warn=False)

    expected = england_wales["laua"].map(force_of)
    assert (geocoded["force_code"] == expected).all()
    assert (geocoded["district_code"] == england_wales["laua"]).all()
    located = england_wales["oseast1m"].notna()
    assert (geocoded["status"] == np.where(located, "ok", "no_location")).all()
    assert (geocoded["easting"][located] == england_wales["oseast1m"][located]).all()


# --- the lookup seam (a dict-backed fake, as --online passes postcodes.io) ---


class FakeLookup:
    """Answers from a dict: postcode -> (latitude, longitude, district code or None)."""

    def __init__(self, places: dict[str, tuple[float, float, str | None]]) -> None:
        self.places = places
        self.asked: list[list[str]] = []

    def __call__(self, postcodes: Sequence[str]) -> pd.DataFrame:
        self.asked.append(list(postcodes))
        rows = {p: self.places[p] for p in postcodes if p in self.places}
        frame = pd.DataFrame.from_dict(
            rows, orient="index", columns=["latitude", "longitude", "district_code"]
        )
        if all(d is None for _, _, d in rows.values()):
            frame = frame.drop(columns="district_code")
        return frame


def test_a_fake_lookup_replaces_the_directory() -> None:
    fake = FakeLookup(
        {
            "AB1 2CD": (51.5092, -0.3755, "E09000009"),  # made-up postcode, placed in Ealing
            "EF3 4GH": (55.95, -3.19, "S12000036"),
            "NO1 0LC": (float("nan"), float("nan"), "E09000009"),
        }
    )
    with pytest.warns(DataQualityWarning, match="1 is not a known postcode"):
        geocoded = geocode_postcodes(["ab12cd", "EF3 4GH", "NO1 0LC", "UB1 3BL"], lookup=fake)
    assert geocoded["status"].tolist() == ["ok", "outside_england_wales", "no_location", "unknown"]
    assert geocoded["force_code"].tolist() == ["E23000001", "", "E23000001", ""]
    easting, northing = bng_from_wgs84([-0.3755], [51.5092])
    assert geocoded["easting"].iloc[0] == pytest.approx(easting[0], abs=1)
    assert geocoded["northing"].iloc[0] == pytest.approx(northing[0], abs=1)


def test_the_lookup_is_asked_once_for_each_distinct_wellformed_postcode() -> None:
    fake = FakeLookup({"UB1 3BL": (51.5092, -0.3755, "E09000009")})
    geocode_postcodes(["ub1 3bl", "UB1 3BL", "bad", None, "UB13BL"], lookup=fake, warn=False)
    assert fake.asked == [["UB1 3BL"]]


def test_a_lookup_without_districts_takes_the_nearest_directory_postcodes_district() -> None:
    table = load_postcode_table()
    at = int(np.searchsorted(table.postcodes, b"CF101AA"))
    lon, lat = wgs84_from_bng([table.easting[at]], [table.northing[at]])
    fake = FakeLookup({"CF10 1AA": (float(lat[0]), float(lon[0]), None)})
    place = geocode_postcodes(["CF10 1AA"], lookup=fake).iloc[0]
    assert (place["district_code"], place["force_code"]) == ("W06000015", "W15000003")


def test_a_lookup_may_spell_postcodes_its_own_way() -> None:
    def lookup(postcodes: Sequence[str]) -> pd.DataFrame:
        rows = {"ub13bl": (512838, 180174), "UB1 3BL": (0, 0), "junk": (1, 1), None: (2, 2)}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["easting", "northing"])

    place = geocode_postcodes(["UB1 3BL"], lookup=lookup).iloc[0]
    assert (place["easting"], place["district_code"]) == (512838, "E09000009")


def test_a_lookup_that_returns_the_wrong_thing_is_an_error() -> None:
    with pytest.raises(GeocodeError, match="returned dict, not a DataFrame"):
        geocode_postcodes(["UB1 3BL"], lookup=lambda p: {})  # type: ignore[arg-type,return-value]
    with pytest.raises(GeocodeError, match=r"needs columns 'easting' and 'northing'.*found: x"):
        geocode_postcodes(["UB1 3BL"], lookup=lambda p: pd.DataFrame({"x": [1]}, index=p))


# --- coordinate helpers ---


def test_bng_and_wgs84_round_trip_and_keep_nan() -> None:
    easting = np.array([529090.0, 318284.0, np.nan])
    northing = np.array([179645.0, 176230.0, 5.0])
    lon, lat = wgs84_from_bng(easting, northing)
    assert np.isnan(lon[2]) and np.isnan(lat[2])
    back_e, back_n = bng_from_wgs84(lon, lat)
    np.testing.assert_allclose(back_e[:2], easting[:2], atol=0.01)
    np.testing.assert_allclose(back_n[:2], northing[:2], atol=0.01)
    assert 50 < lat[0] < 52 and -1 < lon[0] < 0


# --- tables and CSV files ---


def test_postcode_column_forgives_case_and_spaces() -> None:
    table = pd.DataFrame({"Name": ["a"], "Post Code": ["UB1 3BL"]})
    assert postcode_column(table, "postcode").tolist() == ["UB1 3BL"]


def test_postcode_column_lists_the_columns_found() -> None:
    table = pd.DataFrame({"name": ["a"], "phone": ["1"]})
    with pytest.raises(
        GeocodeError,
        match=r"^File 'x.csv' has no column 'postcode' \(found: 'name', 'phone'\); "
        r"pass the postcode column's name with --column\.$",
    ):
        postcode_column(table, "postcode", source="File 'x.csv'")


def test_add_geocode_columns_keeps_everything_and_renames_clashes() -> None:
    table = pd.DataFrame({"Postcode": ["UB1 3BL", "bad"], "status": ["open", "closed"]})
    geocoded = geocode_postcodes(table["Postcode"], warn=False)
    result = add_geocode_columns(table, geocoded)
    assert list(result.columns[:2]) == ["Postcode", "status"]
    assert list(result.columns[2:]) == [
        "geocoded_postcode",
        "geocoded_status",
        "easting",
        "northing",
        "latitude",
        "longitude",
        "district_code",
        "force_code",
        "force_name",
    ]
    assert result["status"].tolist() == ["open", "closed"]
    assert result["geocoded_status"].tolist() == ["ok", "malformed"]
    assert result["force_name"].tolist() == ["Metropolitan Police", ""]
    assert str(result["easting"].dtype) == "Int64"


def test_summary_counts_and_names_rows_as_a_spreadsheet_does() -> None:
    typed = pd.Series(["UB1 3BL", "EH1 1YZ", "SW1", "ZZ9 9ZZ"])
    summary = summarise_geocoding(geocode_postcodes(typed, warn=False), typed)
    assert summary.splitlines() == [
        "1 of 4 geocoded in England and Wales",
        "1 outside England and Wales (no police force area)",
        "1 is malformed (row 4: 'SW1')",
        "1 is not a known postcode (row 5: 'ZZ9 9ZZ')",
    ]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("-0.1416", "-0.1416"),  # a plain number is read as a number, not a formula
        ("+3", "+3"),
        ("Refuge", "Refuge"),
        ("", ""),
    ],
)
def test_spreadsheet_safe_neutralises_formulas_only(cell: str, written: str) -> None:
    assert spreadsheet_safe(pd.DataFrame({"a": [cell]}))["a"].tolist() == [written]


def test_spreadsheet_safe_leaves_numbers_and_input_alone() -> None:
    frame = pd.DataFrame({"n": [-1.5, 2.0], "t": pd.Series(["=1", None], dtype=object)})
    safe = spreadsheet_safe(frame)
    assert safe["n"].tolist() == [-1.5, 2.0]
    assert safe["t"].tolist() == ["'=1", None]
    assert frame["t"].tolist() == ["=1", None]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("name,postcode\nCafé – Cymru,CF10 1AA\n".encode(), "utf-8"),
        ("\ufeffname,postcode\nCafé – Cymru,CF10 1AA\n".encode(), "utf-8 with BOM"),
        ("name,postcode\nCafé – Cymru,CF10 1AA\n".encode("cp1252"), "Windows-1252"),
        ("name,postcode\nCafé – Cymru,CF10 1AA\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_read_csv_text_reads_what_spreadsheets_write(
    tmp_path: Path, data: bytes, encoding: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    table = read_csv_text(path, error=GeocodeError)
    assert table.to_dict("list") == {"name": ["Café – Cymru"], "postcode": ["CF10 1AA"]}, encoding


def test_read_csv_text_pads_short_rows_and_drops_trailing_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("a,b,a\n1\n\n2,3,4,,\n")
    table = read_csv_text(path, error=GeocodeError)
    assert table.to_dict("list") == {"a": ["1", "2"], "b": ["", "3"], "a.1": ["", "4"]}


def test_write_csv_round_trips_text_exactly(tmp_path: Path) -> None:
    table = pd.DataFrame({"id": ["007", ""], "note": ['a, "quoted"\nline', "x"]})
    write_csv(table, tmp_path / "out.csv")
    assert read_csv_text(tmp_path / "out.csv", error=GeocodeError).equals(table.astype(object))


# --- the geocode command ---


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_geocode_adds_columns_and_summarises(tmp_path: Path) -> None:
    source = tmp_path / "services.csv"
    source.write_text(
        "name,Postcode,lon,note\nA,sw1a1aa,-0.14,=1+1\nB,bad,,\nC,ZZ9 9ZZ,,\nD,CF10 1AA,,@x\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    code, stdout, stderr = _run("geocode", str(source), "--column", "Postcode", "-o", str(out))
    assert code == 0, stderr
    assert stdout == ""
    assert stderr.splitlines() == [
        f"Wrote {out} (4 rows).",
        "2 of 4 geocoded in England and Wales",
        "1 is malformed (row 3: 'bad')",
        "1 is not a known postcode (row 4: 'ZZ9 9ZZ')",
    ]
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert written["name"].tolist() == ["A", "B", "C", "D"]
    assert written["lon"].tolist() == ["-0.14", "", "", ""]
    assert written["note"].tolist() == ["'=1+1", "", "", "'@x"]
    assert written["geocoded_postcode"].tolist() == ["SW1A 1AA", "bad", "ZZ9 9ZZ", "CF10 1AA"]
    assert written["status"].tolist() == ["ok", "malformed", "unknown", "ok"]
    assert written["force_code"].tolist() == ["E23000001", "", "", "W15000003"]
    assert written["easting"].iloc[0].isdigit()


def test_cli_geocode_missing_column(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("name,phone\nA,1\n")
    code, _, stderr = _run("geocode", str(source), "-o", str(tmp_path / "out.csv"))
    assert code == 1
    assert stderr == (
        f"Error: File {str(source)!r} has no column 'postcode' (found: 'name', 'phone'); "
        "pass the postcode column's name with --column.\n"
    )
    assert not (tmp_path / "out.csv").exists()


def test_cli_geocode_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    code, _, stderr = _run("geocode", str(missing), "-o", str(tmp_path / "out.csv"))
    assert code == 1
    assert stderr == f"Error: File {str(missing)!r} does not exist; check the path.\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04rest-of-a-zip", r"is an Excel workbook, not a CSV file; in Excel use"),
        (b"postcode\n\x81\x8d\x90\n", r"is not a text CSV file \(byte 9 cannot be read"),
        (b"postcode\nUB1 3BL\x00\x00\n", r"is not a text CSV file \(it contains NUL bytes\)"),
        (
            b"a,postcode\n1,2,3,4\n",
            r"is not a valid CSV file \(row 2 has 4 cells but the header has 2\); check",
        ),
        (b'postcode\n"UB1 3BL\n', r"is not a valid CSV file \(.*\); check that quotes are closed"),
        (b"", r"is empty; it needs a header row"),
    ],
)
def test_cli_geocode_unreadable_files(tmp_path: Path, data: bytes, message: str) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    code, _, stderr = _run("geocode", str(source), "-o", str(tmp_path / "out.csv"))
    assert code == 1
    assert stderr.startswith(f"Error: File {str(source)!r} ")
    assert re.search(message, stderr), stderr
    assert "Traceback" not in stderr


def test_cli_geocode_help_has_an_example() -> None:
    code, stdout, _ = _run("geocode", "-h")
    assert code == 0
    example = stdout.split("Example:\n", 1)[1].splitlines()[0]
    assert example.strip() == (
        "servicemap geocode services.csv --column Postcode -o services-geocoded.csv"
    )


def test_readme_documents_the_geocode_command() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "| `servicemap geocode FILE.csv" in readme
