"""Reading, loading and safeguarding the services directory."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from servicemap.directory.load import load_services
from servicemap.directory.privacy import PRIVATE_COLUMNS, public_services
from servicemap.directory.problems import ROW
from servicemap.directory.read import read_services_table
from servicemap.directory.schema import FIELDS, split_list
from servicemap.directory.validate import validate_services
from servicemap.errors import DataQualityWarning, ServicesFileError
from servicemap.geography.areas import find_force
from servicemap.geography.forces import load_forces

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "services" / "services.csv"
SHARED_SOURCE = ROOT.parent / "shared" / "data" / "services" / "migrant_victim_services.csv"
REVISION_UPDATES = ROOT.parent / "shared" / "data" / "services" / "2026-12" / "updates.csv"
CORPUS_DIR = Path(__file__).parent / "data" / "malformed"
HEADER = "id,name,scope,areas_served,service_types,postcode,location_confidential,status,source_url"

# Postcode → (easting, northing, district) for a fake lookup; anything else is unknown.
KNOWN_POSTCODES = {
    "N1 9GU": (530_500.0, 183_700.0, "E09000019"),  # Islington, Metropolitan Police
    "M20 4BJ": (385_406.0, 393_641.0, "E08000003"),  # Manchester, Greater Manchester
}


def fake_lookup(postcodes):
    found = {p: KNOWN_POSTCODES[p] for p in postcodes if p in KNOWN_POSTCODES}
    return pd.DataFrame.from_dict(
        found, orient="index", columns=["easting", "northing", "district_code"]
    )


def write(tmp_path: Path, name: str, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def service(ident="a", *, scope="local", areas="Camden", types="advocacy", postcode="",
            confidential="no", status="active", url=None):  # fmt: skip
    url = url or f"https://example.org/{ident}"
    return (
        f"{ident},Service {ident},{scope},{areas},{types},{postcode},{confidential},{status},{url}"
    )


def read_bundled_rows() -> list[dict[str, str]]:
    with BUNDLED.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --- reading -----------------------------------------------------------------------------------


def test_columns_match_ignoring_case_spaces_and_punctuation(tmp_path):
    path = write(
        tmp_path,
        "loose.csv",
        "a,Alpha,local,Camden,51.53,-0.1,https://example.org/a",
        header=" ID ,Name,SCOPE,Areas Served,Lat,Lng,Source-URL",
    )
    table = read_services_table(path)
    assert list(table.columns) == [ROW, *FIELDS]
    record = table.iloc[0]
    assert (record["id"], record["areas_served"], record["source_url"]) == (
        "a",
        "Camden",
        "https://example.org/a",
    )
    assert (record["latitude"], record["longitude"]) == ("51.53", "-0.1")
    assert record["postcode"] == "" and record["notes"] == ""


def test_row_numbers_are_spreadsheet_rows(tmp_path):
    path = write(
        tmp_path,
        "rows.csv",
        service("a"),
        "",
        service("b").replace("Service b", '"Service\nb"'),
        ",,,,,,,,",
        service("c"),
    )
    table = read_services_table(path)
    assert list(table["id"]) == ["a", "b", "c"]
    assert list(table[ROW]) == [2, 4, 6]
    assert table.loc[1, "name"] == "Service\nb"


def test_windows_1252_is_read_with_a_warning(tmp_path):
    path = tmp_path / "cp1252.csv"
    path.write_bytes(
        (HEADER + "\n" + service("a").replace("Service a", "Café £5")).encode("cp1252")
    )
    with pytest.warns(DataQualityWarning, match="read as Windows-1252"):
        table = read_services_table(path)
    assert table.loc[0, "name"] == "Café £5"


def test_excel_uses_the_services_sheet_and_its_row_numbers(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.title = "About"
    workbook.active["A1"] = "Read me first"
    sheet = workbook.create_sheet("services")
    sheet.append([])
    sheet.append(["Id", "Name", "Scope", "Last seen", "Location confidential", "Latitude"])
    sheet.append(["a", "Alpha", "local", dt.datetime(2024, 9, 1), True, 51.5])
    sheet.append(["b", "Beta", "national", 2023, False, None])
    path = tmp_path / "directory.xlsx"
    workbook.save(path)
    table = read_services_table(path)
    assert list(table[ROW]) == [3, 4]
    assert list(table["last_seen"]) == ["2024-09-01", "2023"]
    assert list(table["location_confidential"]) == ["yes", "no"]
    assert list(table["latitude"]) == ["51.5", ""]


def test_geojson_point_gives_latitude_and_longitude(tmp_path):
    feature = {
        "type": "Feature",
        "properties": {"id": "a", "name": "Alpha", "service_types": ["advocacy", "idva"]},
        "geometry": {"type": "Point", "coordinates": [-0.1276, 51.5072]},
    }
    path = tmp_path / "services.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    table = read_services_table(path)
    record = table.iloc[0]
    assert (record[ROW], record["latitude"], record["longitude"]) == (1, "51.5072", "-0.1276")
    assert record["service_types"] == "advocacy;idva"


def test_open_referral_json_is_read_through_openreferral():
    table = read_services_table(CORPUS_DIR / "open_referral_without_scope.json")
    assert list(table[ROW]) == [1]
    assert (table.loc[0, "id"], table.loc[0, "areas_served"]) == ("alpha", "Camden")
    assert table.loc[0, "source_url"] == "https://example.org/alpha"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("empty.csv", "is empty"),
        ("binary.csv", "binary data"),
        ("web_page.csv", "web page (HTML)"),
        ("numbers.json", "JSON list of numbers"),
        ("not_open_referral.json", "not an Open Referral UK document"),
        ("damaged.xlsx", "is a damaged Excel workbook"),
        ("old_excel.xls", "Excel 97-2003"),
        ("deep_nesting.json", "levels deep; servicemap reads at most 64"),
        ("truncated_sheet.xlsx", "is cut off or is not valid XML"),
        ("corrupt_member.xlsx", "is corrupt (it cannot be unzipped)"),
        ("word_document.xlsx", "is a Word document (.docx)"),
    ],
)
def test_files_that_are_not_tables_raise_services_file_error(name, words):
    with pytest.raises(ServicesFileError, match=re.escape(words)) as caught:
        read_services_table(CORPUS_DIR / name)
    assert " Fix: " in str(caught.value)


def test_a_ten_megabyte_cell_is_reported_and_the_csv_limit_restored(tmp_path):
    limit = csv.field_size_limit()
    path = write(
        tmp_path, "huge.csv", service("a") + ",x" + "y" * 10_000_000, header=HEADER + ",notes"
    )
    problems = validate_services(path)
    assert [(p.code, p.row, p.column) for p in problems] == [("huge-cell", 2, "notes")]
    assert "10,000,001 characters" in problems[0].message
    assert len(str(problems[0])) < 400
    assert csv.field_size_limit() == limit


def test_a_hundred_thousand_rows_validate_with_exact_counts(tmp_path):
    count = 100_000
    lines = []
    for i in range(count):
        scope = "county" if i % 7 == 0 else "local"
        postcode = "ZZ1 1ZZ" if i % 10 == 0 else ("N1 9GU" if i % 2 else "")
        lines.append(service(f"s{i}", scope=scope, postcode=postcode))
    path = write(tmp_path, "big.csv", *lines)
    problems = validate_services(path, lookup=fake_lookup)
    codes = pd.Series([p.code for p in problems]).value_counts().to_dict()
    assert codes == {
        "bad-value": len(range(0, count, 7)),
        "unknown-postcode": len(range(0, count, 10)),
    }
    assert {p.row for p in problems if p.code == "bad-value"} == set(range(2, count + 2, 7))


# --- checks --------------------------------------------------------------------------------


def test_vocabulary_spelling_is_forgiven_and_canonical_on_load(tmp_path):
    path = write(
        tmp_path,
        "spelling.csv",
        "a,Alpha,Local,Camden,Refuge; ADVOCACY,,Y,Active,https://example.org/a,In person",
        header=HEADER + ",delivery",
    )
    assert validate_services(path) == []
    services = load_services(path)
    record = services.iloc[0]
    assert (record["scope"], record["service_types"], record["location_confidential"]) == (
        "local",
        "refuge;advocacy",
        "yes",
    )
    assert (record["status"], record["delivery"]) == ("active", "in_person")


@pytest.mark.parametrize(
    ("last_seen", "today", "stale"),
    [
        ("2024-05", dt.date(2025, 12, 1), True),
        ("2024-06", dt.date(2025, 12, 1), False),
        ("2024", dt.date(2026, 6, 30), False),  # the year counts up to 31 December
        ("2024", dt.date(2026, 7, 1), True),
        ("2024-05-31", dt.date(2025, 11, 30), False),
        ("2024-05-31", dt.date(2025, 12, 1), True),
    ],
)
def test_stale_last_seen_is_relative_to_today(tmp_path, last_seen, today, stale):
    path = write(tmp_path, "dated.csv", service() + f",{last_seen}", header=HEADER + ",last_seen")
    problems = validate_services(path, today=today)
    assert [p.code for p in problems] == (["stale"] if stale else [])


@pytest.mark.parametrize("value", ["2024-02-30", "2024-00", "24", "2024-9", "Sept 2024"])
def test_bad_last_seen_is_an_error(tmp_path, value):
    path = write(tmp_path, "dated.csv", service() + f",{value}", header=HEADER + ",last_seen")
    problems = validate_services(path)
    assert [(p.code, p.value) for p in problems] == [("bad-date", value)]


def test_postcode_gives_location_and_force(tmp_path):
    path = write(tmp_path, "pc.csv", service("a", postcode="m20 4bj"))
    services = load_services(path, lookup=fake_lookup)
    record = services.iloc[0]
    assert (record["easting"], record["northing"]) == KNOWN_POSTCODES["M20 4BJ"][:2]
    assert record["location_source"] == "postcode"
    assert record["force_code"] == find_force("Greater Manchester")
    assert record.geometry.x == 385_406.0
    assert services.crs.to_epsg() == 27700


def test_coordinates_take_precedence_over_the_postcode(tmp_path):
    path = write(
        tmp_path,
        "both.csv",
        service("a", postcode="M20 4BJ") + ",51.5072,-0.1276",
        header=HEADER + ",latitude,longitude",
    )
    problems = validate_services(path, lookup=fake_lookup)
    assert [(p.code, p.severity) for p in problems] == [
        ("postcode-far-from-coordinates", "warning")
    ]
    with pytest.warns(DataQualityWarning, match="the coordinates are used"):
        services = load_services(path, lookup=fake_lookup)
    record = services.iloc[0]
    assert record["location_source"] == "coordinates"
    assert record["force_code"] == find_force("Metropolitan Police")
    assert 525_000 < record["easting"] < 535_000 and 175_000 < record["northing"] < 185_000


def test_coordinates_in_scotland_are_outside_england_and_wales(tmp_path):
    path = write(
        tmp_path,
        "edinburgh.csv",
        service("a") + ",55.9533,-3.1883",
        header=HEADER + ",latitude,longitude",
    )
    problems = validate_services(path)
    assert [(p.code, p.row, p.column) for p in problems] == [
        ("outside-england-wales", 2, "latitude")
    ]


def test_areas_served_give_districts_and_forces(tmp_path):
    path = write(tmp_path, "areas.csv", service("a", areas="Islington;Wales"))
    services = load_services(path)
    record = services.iloc[0]
    welsh = set(load_forces().query("country == 'Wales'")["code"])
    assert set(record["served_forces"]) == welsh | {find_force("Metropolitan Police")}
    assert "E09000019" in record["served_districts"]
    assert list(record["served_forces"]) == sorted(record["served_forces"])


# --- loading --------------------------------------------------------------------------------


def test_load_services_refuses_a_file_with_errors(tmp_path):
    path = write(tmp_path, "bad.csv", service("a", scope="county"), service("a"), service("c"))
    with pytest.raises(ServicesFileError, match=r"has 2 errors") as caught:
        load_services(path)
    message = str(caught.value)
    assert "'county' is not an allowed value" in message
    assert f"Run 'servicemap validate {path}' to see them all." in message


def test_load_services_warns_once_per_kind(tmp_path):
    path = write(tmp_path, "unknown.csv", *(service(i, status="unknown") for i in "abc"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_services(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    assert len(messages) == 1
    assert "3 warnings like this one (rows 2, 3, 4)" in messages[0]


def test_load_services_returns_the_canonical_columns(tmp_path):
    path = write(tmp_path, "one.csv", service("a"))
    services = load_services(path)
    from servicemap.directory.schema import DERIVED

    assert list(services.columns) == [*FIELDS, *DERIVED, "geometry"]
    assert services["latitude"].dtype == float and np.isnan(services.loc[0, "latitude"])
    assert services.loc[0, "geometry"] is None


# --- safeguarding ---------------------------------------------------------------------------


def test_public_services_blanks_every_location_field_of_a_confidential_row(tmp_path):
    path = write(
        tmp_path,
        "refuge.csv",
        "r,Refuge R,local,Islington,refuge;advocacy,N1 9GU,yes,active,https://example.org/r,"
        "1 Secret Street,51.54,-0.10",
        "o,Office O,local,Islington,advocacy,N1 9GU,no,active,https://example.org/o,"
        "2 Public Road,51.54,-0.10",
        header=HEADER + ",address,latitude,longitude",
    )
    services = load_services(path, lookup=fake_lookup)
    before = services.copy()
    public = public_services(services)
    refuge = public.set_index("id").loc["r"]
    for column in ("address", "postcode"):
        assert refuge[column] == ""
    for column in ("latitude", "longitude", "easting", "northing"):
        assert np.isnan(refuge[column])
    assert refuge["location_source"] == ""
    assert refuge.geometry is None
    assert refuge["served_forces"] == (find_force("Metropolitan Police"),)
    office = public.set_index("id").loc["o"]
    assert office["address"] == "2 Public Road" and office["postcode"] == "N1 9GU"
    assert office.geometry is not None and not np.isnan(office["latitude"])
    pd.testing.assert_frame_equal(services, before)  # input untouched
    assert set(PRIVATE_COLUMNS) <= set(public.columns)


def test_public_services_reapplies_the_rule_to_an_edited_frame(tmp_path):
    path = write(
        tmp_path,
        "edited.csv",
        service("a", postcode="N1 9GU") + ",10 Street",
        header=HEADER + ",address",
    )
    services = load_services(path, lookup=fake_lookup)
    edited = services.assign(location_confidential="yes")  # confidential column still False
    public = public_services(edited)
    assert public.loc[0, "address"] == "" and public.loc[0, "geometry"] is None
    assert bool(public.loc[0, "confidential"])


@pytest.mark.parametrize(
    ("types", "decision", "confidential"),
    [
        ("refuge", "no", True),  # only a refuge: always confidential
        ("refuge;advocacy", "", True),  # in doubt: private
        ("housing", "unknown", True),
        ("refuge;advocacy", "no", False),  # someone checked: a public office
        ("advocacy", "", False),
        ("advocacy", "yes", True),
    ],
)
def test_confidentiality_rule(tmp_path, types, decision, confidential):
    path = write(
        tmp_path, "rule.csv", service("a", types=types, postcode="N1 9GU", confidential=decision)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        services = load_services(path, lookup=fake_lookup)
    assert bool(services.loc[0, "confidential"]) is confidential
    assert (public_services(services).loc[0, "postcode"] == "") is confidential


# --- the bundled directory ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load_services()


def _independently_confidential(row: dict[str, str]) -> bool:
    types = split_list(row["service_types"])
    accommodation = bool({"refuge", "housing"} & set(types))
    decision = row["location_confidential"]
    return decision == "yes" or types == ["refuge"] or (accommodation and decision != "no")


def test_bundled_directory_counts(bundled):
    rows = read_bundled_rows()
    assert len(bundled) == len(rows)
    assert list(bundled["id"]) == [r["id"] for r in rows]
    with_postcode = sum(r["postcode"] != "" for r in rows)
    assert bundled.geometry.notna().sum() == with_postcode
    assert (bundled["location_source"] == "postcode").sum() == with_postcode
    for scope in ("local", "regional", "national"):
        assert (bundled["scope"] == scope).sum() == sum(r["scope"] == scope for r in rows)
    with_areas = sum(r["areas_served"] != "" for r in rows)
    assert (bundled["served_districts"].map(len) > 0).sum() == with_areas
    assert (bundled["served_forces"].map(len) > 0).sum() == with_areas
    assert bundled["confidential"].sum() == sum(map(_independently_confidential, rows))


def test_bundled_locations_are_in_england_and_wales(bundled):
    located = bundled[bundled.geometry.notna()]
    forces = set(load_forces()["code"])
    assert set(located["force_code"]) <= forces
    sbs = bundled.set_index("id").loc["sbs"]
    assert sbs["force_code"] == find_force("Metropolitan Police")
    cardiff = bundled.set_index("id").loc["bawso-cardiff"]
    assert cardiff["force_code"] == find_force("South Wales")
    welsh = tuple(sorted(load_forces().query("country == 'Wales'")["code"]))
    assert cardiff["served_forces"] == welsh


def test_bundled_confidential_rows_hold_no_address(bundled):
    confidential = bundled[bundled["confidential"]]
    assert len(confidential) > 0
    assert (confidential["address"] == "").all() and (confidential["postcode"] == "").all()
    public = public_services(bundled)
    assert public.loc[public["confidential"], "geometry"].isna().all()
    assert (
        public.geometry.notna().sum() == (bundled.geometry.notna() & ~bundled["confidential"]).sum()
    )


def test_bundled_refuge_only_rows_are_marked_confidential():
    for row in read_bundled_rows():
        if split_list(row["service_types"]) == ["refuge"]:
            assert row["location_confidential"] == "yes", row["id"]


def test_bundled_directory_keeps_every_source_row_url_and_note():
    """The first 87 rows are the shared source's; rows the 2026-12 revision updates are
    checked in test_directory_revision.py."""
    with SHARED_SOURCE.open(encoding="utf-8", newline="") as handle:
        source = list(csv.DictReader(handle))
    with REVISION_UPDATES.open(encoding="utf-8", newline="") as handle:
        updated = {row["id"] for row in csv.DictReader(handle)}
    converted = read_bundled_rows()[: len(source)]
    assert [r["id"] for r in converted] == [r["id"] for r in source]
    copied = ("name", "website", "postcode", "scope", "areas_served", "service_types",
              "communities", "languages", "by_and_for", "nrpf_support", "source_url",
              "last_seen", "status")  # fmt: skip
    for before, after in zip(source, converted, strict=True):
        assert after["notes"].startswith(before["notes"].strip()), before["id"]
        assert after["latitude"] == after["longitude"] == ""
        if before["id"] in updated:
            continue
        for field in copied:
            assert after[field] == before[field], (before["id"], field)
        assert before["address"] in after["address"] or after["location_confidential"] == "yes"
        assert after["phone"] == ""


# --- hostile inputs (issue 9) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("nul_after_64kb.csv", r"holds an invisible NUL \(U\+0000\)"),
        ("oruk_name_object.json", r"column 'name': is an object \(\{\"en\": \"Alpha\"\}\)"),
        ("geojson_nan_point.geojson", r"has Point coordinates '\[NaN, NaN\]'"),
        ("id_with_semicolon.csv", r"'alpha;beta' contains ';'"),
        ("formula_without_value.xlsx", r"holds the formula"),
    ],
)
def test_load_services_refuses_hostile_files(name, words):
    with pytest.raises(ServicesFileError, match=words):
        load_services(CORPUS_DIR / name)


def test_json_nested_64_deep_is_read_and_65_is_refused(tmp_path):
    from servicemap._json import MAX_JSON_DEPTH, JSONInputError, loads_strict

    assert loads_strict("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(JSONInputError, match="nests lists and objects 65 levels deep"):
        loads_strict("[" * 65 + "]" * 65)
    # Brackets inside strings are not nesting.
    assert loads_strict(json.dumps(["[" * 1000])) == ["[" * 1000]


def test_json_too_deep_for_python_is_refused_not_a_recursion_error():
    from servicemap._json import JSONInputError, loads_strict

    with pytest.raises(JSONInputError, match="nests lists and objects 100,000 levels deep"):
        loads_strict('{"a": ' * 100_000 + "1" + "}" * 100_000)


def test_geojson_with_odd_crs_and_type_values_is_refused_cleanly(tmp_path):
    path = tmp_path / "odd.geojson"
    path.write_text(json.dumps({"type": ["FeatureCollection"], "crs": {"properties": [1]}}))
    problems = validate_services(path)
    assert [p.code for p in problems] == ["unreadable"]
    assert "is not an Open Referral UK document" in problems[0].message


def test_geojson_crs_properties_that_are_not_an_object_are_ignored(tmp_path):
    feature = {
        "type": "Feature",
        "properties": {"id": "a", "name": "A", "scope": "national", "source_url": "https://e.org"},
        "geometry": None,
    }
    path = tmp_path / "odd_crs.geojson"
    document = {"type": "FeatureCollection", "crs": {"properties": [1]}, "features": [feature]}
    path.write_text(json.dumps(document))
    assert [p.code for p in validate_services(path) if p.severity == "error"] == []


def test_a_device_is_refused():
    problems = validate_services("/dev/null")
    assert [(p.code, p.message) for p in problems] == [
        ("unreadable", "is not a file (it is a device or socket).")
    ]


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path, monkeypatch):
    import servicemap.directory.read

    monkeypatch.setattr(servicemap.directory.read, "MAX_FILE_BYTES", 100)
    path = write(tmp_path, "big.csv", *[service(f"s{n}") for n in range(5)])
    (problem,) = validate_services(path)
    assert problem.code == "unreadable"
    assert problem.message.startswith("is larger than 0 MB")


def test_a_few_nul_bytes_are_reported_by_cell_many_mean_binary(tmp_path):
    few = tmp_path / "few.csv"
    few.write_bytes((HEADER + "\n" + service("a").replace("Service a", "Serv\x00ice")).encode())
    assert [(p.code, p.row, p.column) for p in validate_services(few)] == [
        ("control-character", 2, "name")
    ]
    many = tmp_path / "many.csv"
    many.write_bytes((HEADER + "\n").encode("utf-16-le"))  # UTF-16 without a byte order mark
    assert "holds binary data" in validate_services(many)[0].message


@pytest.mark.parametrize("character", ["\t", "\n"])
def test_tabs_and_line_breaks_in_cells_are_allowed(tmp_path, character):
    path = tmp_path / "notes.csv"
    path.write_text(
        HEADER + ",notes\n" + service("a") + f',"first{character}second"\n', encoding="utf-8"
    )
    assert validate_services(path) == []


def test_excel_escapes_are_decoded(tmp_path):
    path = tmp_path / "escaped.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER.split(","))
    workbook.active.append(
        service("a").replace("Service a", "Caf_x00E9_ a_x005F_x0041_").split(",")
    )
    workbook.save(path)
    assert read_services_table(path).loc[0, "name"] == "Café a_x0041_"


def test_a_formula_with_a_saved_value_is_read(tmp_path):
    path = tmp_path / "formula.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER.split(","))
    workbook.active.append(service("a").split(","))
    workbook.active["B2"] = '=UPPER("a")'
    workbook.save(path)
    # openpyxl saves no value; put the value Excel would have saved into the sheet's XML.
    import zipfile

    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    formula = b'<c r="B2"><f>UPPER("a")</f><v /></c>'
    assert formula in parts[member]
    parts[member] = parts[member].replace(
        formula, b'<c r="B2" t="str"><f>UPPER("a")</f><v>A</v></c>'
    )
    with zipfile.ZipFile(path, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    assert validate_services(path) == []
    assert read_services_table(path).loc[0, "name"] == "A"


def test_a_zip_bomb_workbook_is_refused_unread(tmp_path, monkeypatch):
    import zipfile

    import servicemap.directory.read_excel

    monkeypatch.setattr(servicemap.directory.read_excel, "MAX_WORKBOOK_BYTES", 2_000_000)
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/sharedStrings.xml", b" " * 3_000_000)
    assert path.stat().st_size < 10_000
    (problem,) = validate_services(path)
    assert problem.message.startswith("would unzip to 3 MB of spreadsheet data")
