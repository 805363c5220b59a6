"""The malformed-files corpus: each file gives exactly the problem a person needs to see."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from servicemap.cli import cli
from servicemap.directory.problems import Problem
from servicemap.directory.read import read_services_table
from servicemap.directory.validate import validate_services

CORPUS_DIR = Path(__file__).parent / "data" / "malformed"
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "services" / "services.csv"

# file, severity, code, row, column, value, words the message must contain.
CORPUS = [
    ("missing_column.csv", "error", "missing-column", 1, "scope", None,
     "missing required column 'scope' (found: id, name, areas_served, status, source_url)"),
    ("duplicate_id.csv", "error", "duplicate-id", 4, "id", "alpha",
     "id 'alpha' is already used on row 2"),
    ("bad_scope.csv", "error", "bad-value", 2, "scope", "county",
     "'county' is not an allowed value"),
    ("bad_service_type.csv", "error", "bad-value", 3, "service_types", "refuges",
     "'refuges' is not a service type. Did you mean 'refuge'?"),
    ("bad_yes_no.csv", "warning", "confidential-unclear", 2, "location_confidential", "maybe",
     "'maybe' is not clearly 'yes' or 'no', so the service is treated as confidential"),
    ("bad_postcode.csv", "error", "bad-postcode", 2, "postcode", "SW1A1Z",
     "'SW1A1Z' is not a valid UK postcode"),
    ("unknown_postcode.csv", "error", "unknown-postcode", 4, "postcode", "SW1A 1ZZ",
     "'SW1A 1ZZ' is not a known postcode."),
    ("coordinates_outside_uk.csv", "error", "outside-uk", 2, "latitude", "40.4168",
     "latitude 40.4168, longitude -3.7038: that is outside the UK"),
    ("swapped_coordinates.csv", "error", "outside-uk", 2, "latitude", "-0.1276",
     "they look swapped"),
    ("geojson_swapped_point.geojson", "error", "outside-uk", 1, "latitude", "-0.1276",
     "they look swapped"),
    ("longitude_without_minus.csv", "error", "outside-uk", 2, "latitude", "52.6",
     "lost its minus sign"),
    ("grid_references_as_coordinates.csv", "error", "outside-uk", 2, "latitude", "182000",
     "British National Grid"),
    ("latitude_only.csv", "error", "one-coordinate", 2, "longitude", "",
     "is empty but 'latitude' is given"),
    ("coordinate_not_a_number.csv", "error", "bad-coordinate", 2, "latitude", "51,5072",
     "'51,5072' is not a number (use a point, not a comma, for decimals)"),
    ("unknown_area.csv", "error", "unknown-area", 2, "areas_served", "Londn",
     "'Londn' is not an area servicemap knows. Did you mean 'London'"),
    ("records_bad_area.json", "error", "unknown-area", 2, "areas_served", "Hackny",
     "Did you mean 'Hackney'"),
    ("bad_date.csv", "error", "bad-date", 2, "last_seen", "09/2023",
     "'09/2023' is not a year, month or date"),
    ("future_date.csv", "error", "future-date", 2, "last_seen", "2999-01",
     "'2999-01' is in the future"),
    ("empty_name.csv", "error", "empty-required", 3, "name", "", "is empty"),
    ("open_referral_without_scope.json", "error", "empty-required", 1, "scope", "",
     "is empty"),
    ("spreadsheet_error.csv", "error", "spreadsheet-error", 2, "name", "#N/A",
     "'#N/A' is a spreadsheet error value"),
    ("extra_values.csv", "error", "extra-values", 3, None, None,
     "has 13 values but the header has 12 columns"),
    ("unclosed_quote.csv", "error", "swallowed-rows", 2, "notes", None,
     "a quote mark (\") that is not closed"),
    ("huge_cell.csv", "error", "huge-cell", 2, "notes", None,
     "value is 20,000 characters long (limit 10,000)"),
    ("duplicate_column.csv", "error", "duplicate-column", 1, "postcode", "Post Code",
     "columns 'postcode' and 'Post Code' are both the field 'postcode'"),
    ("bad_value.xlsx", "error", "bad-value", 3, "scope", "Countywide",
     "'Countywide' is not an allowed value"),
    ("semicolon_separated.csv", "error", "bad-value", 2, "scope", "citywide",
     "'citywide' is not an allowed value"),
    ("excel_unicode_text.txt", "error", "bad-value", 2, "scope", "town",
     "'town' is not an allowed value"),
    ("polygon_geometry.geojson", "error", "bad-geometry", 2, "geometry", "Polygon",
     "has geometry 'Polygon'; a service needs a Point"),
    ("geojson_in_grid_metres.geojson", "error", "unreadable", None, None, None,
     "declares the coordinate system 'urn:ogc:def:crs:EPSG::27700'"),
    ("header_only.csv", "error", "no-services", None, None, None,
     "has a header row but no services"),
    ("no_header_row.csv", "error", "no-fields", 1, None, None,
     "has no column servicemap knows (found: alpha, Alpha Women's Centre, local, Camden"),
    ("title_above_header.csv", "warning", "rows-above-header", 1, None, None,
     "the header is row 3; the rows above it are ignored"),
    ("empty.csv", "error", "unreadable", None, None, None, "is empty"),
    ("blank_lines_only.csv", "error", "unreadable", None, None, None, "is empty"),
    ("binary.csv", "error", "unreadable", None, None, None, "holds binary data"),
    ("web_page.csv", "error", "unreadable", None, None, None, "is a web page (HTML)"),
    ("old_excel.xls", "error", "unreadable", None, None, None,
     "old Excel 97-2003 (.xls) workbook"),
    ("damaged.xlsx", "error", "unreadable", None, None, None,
     "is a damaged Excel workbook: the file is cut off or corrupt"),
    ("not_json.json", "error", "unreadable", None, None, None,
     "is not valid JSON (line 2, column 18"),
    ("numbers.json", "error", "unreadable", None, None, None, "is a JSON list of numbers"),
    ("not_open_referral.json", "error", "unreadable", None, None, None,
     "is not an Open Referral UK document"),
    ("stale_date.csv", "warning", "stale", 2, "last_seen", "2015",
     "'2015' is more than 18 months ago"),
    ("status_unknown.csv", "warning", "status-unknown", 2, "status", "unknown",
     "not known whether the service still runs"),
    ("no_place.csv", "warning", "no-place", 2, "areas_served", "",
     "neither a location (postcode or latitude/longitude) nor 'areas_served'"),
    ("refuge_undecided.csv", "warning", "accommodation-withheld", 2, "location_confidential",
     "", "treated as confidential and never published"),
    ("source_not_a_url.csv", "warning", "bad-url", 2, "source_url",
     "leaflet from the GP surgery", "is not a web address"),
    ("unknown_column.csv", "warning", "unknown-column", 1, "Town", None,
     "is not a servicemap field; it is ignored"),
    ("windows_1252.csv", "warning", "encoding", None, None, None,
     "is not UTF-8 (first at line 2, byte 0xe9); it was read as Windows-1252"),
    # Hostile inputs (issue 9): each gets one clear error, never a traceback or silence.
    ("deep_nesting.json", "error", "unreadable", None, None, None,
     "nests lists and objects 5,002 levels deep; servicemap reads at most 64"),
    ("deep_nesting.geojson", "error", "unreadable", None, None, None,
     "nests lists and objects 5,004 levels deep"),
    ("deep_open_referral.json", "error", "unreadable", None, None, None,
     "nests lists and objects 5,003 levels deep"),
    ("repeated_key.json", "error", "unreadable", None, None, None,
     "has the key 'name' twice in one object"),
    ("huge_integer.json", "error", "unreadable", None, None, None,
     "holds a number with thousands of digits"),
    ("huge_number.json", "error", "not-a-number", 1, "latitude", "Infinity",
     "is 'Infinity', not a finite number"),
    ("records_nan.json", "error", "not-a-number", 1, "latitude", "NaN",
     "is 'NaN', not a finite number"),
    ("unpaired_surrogate.json", "error", "control-character", 1, "name", "Alpha\\ud800 Centre",
     "holds an invisible unpaired surrogate (U+D800) at character 6"),
    ("oruk_name_object.json", "error", "bad-type", 1, "name", '{"en": "Alpha"}',
     'is an object ({"en": "Alpha"}); Open Referral UK expects text (a JSON string) here'),
    ("oruk_areas_string.json", "error", "bad-type", 1, "service_areas", '"Camden"',
     'is text ("Camden"); Open Referral UK expects an array of objects here'),
    ("oruk_locations_string.json", "error", "bad-type", 1, "service_at_locations",
     '"N1 9GU"', "Open Referral UK expects an array of objects here, so it is not read"),
    ("oruk_area_item_string.json", "error", "bad-type", 1, "service_areas[0]", '"Camden"',
     "Open Referral UK expects an object here"),
    ("oruk_latitude_nan.json", "error", "not-a-number", 1,
     "service_at_locations[0].location.latitude", "NaN",
     "is NaN, which is not a number a service can have"),
    ("oruk_link_object.json", "error", "bad-type", None, "$.languages[0].service_id",
     '{"id": "alpha"}', "Open Referral UK expects an id (a JSON string or whole number) here"),
    ("geojson_nan_point.geojson", "error", "bad-geometry", 1, "geometry", "[NaN, NaN]",
     "has Point coordinates '[NaN, NaN]', which are not [longitude, latitude] numbers"),
    ("geojson_short_point.geojson", "error", "bad-geometry", 1, "geometry", "[-0.1276]",
     "which are not [longitude, latitude] numbers"),
    ("geojson_text_point.geojson", "error", "bad-geometry", 1, "geometry",
     '["-0.1276", "51.5072"]', "which are not [longitude, latitude] numbers"),
    ("geojson_name_object.geojson", "error", "bad-type", 1, "name", '{"en": "Alpha"}',
     "is an object ('{\"en\": \"Alpha\"}'); a service's field holds text"),
    ("nul_after_64kb.csv", "error", "control-character", 10, "name", "Late\\x00Centre",
     "holds an invisible NUL (U+0000) at character 5"),
    ("nul_in_header.csv", "error", "control-character", 1, "name", "na\\x00me",
     "the column name holds an invisible NUL (U+0000) at character 3"),
    ("control_character.csv", "error", "control-character", 2, "name",
     "\\x1b[31mAlpha\\x1b[0m", "holds an invisible ESC (U+001B) at character 1 (and 1 more)"),
    ("bidi_override.csv", "error", "control-character", 2, "name", "Alpha \\u202ertneC",
     "holds an invisible right-to-left override (U+202E)"),
    ("control_character.xlsx", "error", "control-character", 3, "name", "Beta\\x1bProject",
     "holds an invisible ESC (U+001B) at character 5"),
    ("id_with_semicolon.csv", "error", "bad-id", 2, "id", "alpha;beta",
     "'alpha;beta' contains ';', which separates the items of servicemap's lists, so it "
     "would read as 2 ids"),
    ("coordinate_unicode_minus.csv", "error", "bad-coordinate", 2, "longitude",
     "\u22120.1276", "is not a number (use the plain minus sign '-', not a dash)"),
    ("coordinate_overflow.csv", "error", "bad-coordinate", 2, "latitude", "1e999",
     "'1e999' is not a number"),
    ("truncated_sheet.xlsx", "error", "unreadable", None, None, None,
     "is a damaged Excel workbook: its part 'xl/worksheets/sheet1.xml' is cut off or is not "
     "valid XML"),
    ("corrupt_member.xlsx", "error", "unreadable", None, None, None,
     "is a damaged Excel workbook: its part 'xl/worksheets/sheet1.xml' is corrupt"),
    ("no_content_types.xlsx", "error", "unreadable", None, None, None,
     "is a damaged Excel workbook: it has no '[Content_Types].xml' part"),
    ("content_types_without_workbook.xlsx", "error", "unreadable", None, None, None,
     "is a damaged Excel workbook: its '[Content_Types].xml' names no workbook part"),
    ("word_document.xlsx", "error", "unreadable", None, None, None,
     "is a Word document (.docx), not an Excel workbook"),
    ("formula_without_value.xlsx", "error", "formula-without-value", 2, "name",
     '=UPPER("alpha")', "holds the formula '=UPPER(\"alpha\")' but no saved value"),
    ("private_column.csv", "error", "private-column", 1, "Refuge address", None,
     "suggests private places (its header says 'refuge') but is not the field "
     "'location_confidential'"),
    ("refuge_named_undecided.csv", "warning", "accommodation-withheld", 2,
     "location_confidential", "", "whose name \"Camden Women's Refuge\" says refuge"),
    ("refuge_only_public.csv", "warning", "refuge-kept-private", 2, "location_confidential",
     "no", "the service's only type is refuge, so its address and location are still"),
]  # fmt: skip

# Files that look odd but are fine: they must give no problem at all.
CLEAN = ["utf8_bom.csv", "utf8_bom.json", "utf16_open_referral.json"]
# office_headers.csv: every column, "Email" included, is a header people write for a field.
CLEAN_HEADERS = ["office_headers.csv"]


def test_corpus_has_every_file_and_at_least_25():
    files = {p.name for p in CORPUS_DIR.iterdir() if p.suffix != ".py"}
    listed = {entry[0] for entry in CORPUS} | set(CLEAN) | set(CLEAN_HEADERS)
    assert files == listed
    assert len(files) >= 25


@pytest.mark.parametrize(
    ("name", "severity", "code", "row", "column", "value", "words"),
    CORPUS,
    ids=[entry[0] for entry in CORPUS],
)
def test_corpus_file_gives_exactly_its_problem(name, severity, code, row, column, value, words):
    path = CORPUS_DIR / name
    problems = validate_services(path)
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert (problem.severity, problem.code, problem.row, problem.column) == (
        severity,
        code,
        row,
        column,
    )
    if value is not None:
        assert problem.value == value
    assert words in problem.message
    assert problem.file == str(path)
    assert problem.fix.endswith(".")
    where = str(path) if row is None else f"{path}:{row}"
    prefix = f"{where}: column {column!r}: " if column else f"{where}: "
    assert str(problem).startswith(prefix)
    assert f" Fix: {problem.fix}" in str(problem)


@pytest.mark.parametrize(
    ("name", "severity", "row"),
    [(entry[0], entry[1], entry[3]) for entry in CORPUS],
    ids=[entry[0] for entry in CORPUS],
)
def test_cli_prints_the_problem_and_exits_by_severity(name, severity, row):
    path = CORPUS_DIR / name
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert "Traceback" not in result.output
    assert result.exit_code == (1 if severity == "error" else 0), result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    where = str(path) if row is None else f"{path}:{row}"
    assert lines[0].startswith(f"{severity}: {where}:")
    errors = "1 error" if severity == "error" else "0 errors"
    warnings = "1 warning" if severity == "warning" else "0 warnings"
    assert lines[1] == f"{errors}, {warnings} in {path}"


@pytest.mark.parametrize("name", CLEAN)
def test_bom_files_are_clean(name):
    path = CORPUS_DIR / name
    assert path.read_bytes().startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    assert validate_services(path) == []
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0
    assert result.output == f"0 errors, 0 warnings in {path}\n"


@pytest.mark.parametrize("name", CLEAN_HEADERS)
def test_office_headers_are_all_fields(name):
    path = CORPUS_DIR / name
    assert validate_services(path) == []
    table = read_services_table(path)
    assert table.loc[0, ["phone", "email"]].tolist() == ["020 7946 0000", "info@example.org"]


def test_problem_string_reads_like_a_compiler_message():
    problem = Problem(
        "error",
        "dir.csv",
        7,
        "postcode",
        "SW1A 1ZZ",
        "'SW1A 1ZZ' is not a known postcode.",
        "check it against the letter or Royal Mail's finder, or leave it empty and give "
        "latitude/longitude.",
    )
    assert str(problem) == (
        "dir.csv:7: column 'postcode': 'SW1A 1ZZ' is not a known postcode. Fix: check it "
        "against the letter or Royal Mail's finder, or leave it empty and give "
        "latitude/longitude."
    )
    whole_file = Problem("error", "dir.csv", None, None, None, "is empty.", "add rows.")
    assert str(whole_file) == "dir.csv: is empty. Fix: add rows."


def test_every_problem_is_listed_at_once_errors_first(tmp_path):
    path = tmp_path / "several.csv"
    path.write_text(
        "id,name,scope,areas_served,postcode,status,last_seen,source_url\n"
        "a,Alpha,local,Camden,,unknown,,https://example.org/a\n"
        "b,Beta,county,Camden,SW1A1Z,active,2024-13,https://example.org/b\n"
        "a,Gamma,local,Londn,,active,,https://example.org/c\n",
        encoding="utf-8",
    )
    problems = validate_services(path)
    found = {(p.row, p.code) for p in problems}
    assert found == {
        (2, "status-unknown"),
        (3, "bad-value"),
        (3, "bad-postcode"),
        (3, "bad-date"),
        (4, "duplicate-id"),
        (4, "unknown-area"),
    }
    severities = [p.severity for p in problems]
    assert severities == sorted(severities)  # "error" sorts before "warning"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == f"5 errors, 1 warning in {path}"


def test_cli_csv_and_json_formats(tmp_path):
    path = CORPUS_DIR / "duplicate_id.csv"
    as_csv = CliRunner().invoke(cli, ["validate", str(path), "--format", "csv"])
    assert as_csv.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [(r["severity"], r["row"], r["column"], r["value"]) for r in rows] == [
        ("error", "4", "id", "alpha")
    ]
    as_json = CliRunner().invoke(cli, ["validate", str(path), "--format", "json"])
    assert as_json.exit_code == 1
    document = json.loads(as_json.output)
    assert (document["errors"], document["warnings"]) == (1, 0)
    assert document["problems"][0]["code"] == "duplicate-id"


@pytest.mark.parametrize("target", ["missing.csv", "folder"])
def test_cli_unreadable_path_is_one_line_and_exit_1(tmp_path, target):
    (tmp_path / "folder").mkdir()
    path = tmp_path / target
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    first = result.output.splitlines()[0]
    assert first.startswith(f"error: {path}: ")
    assert ("does not exist" in first) or ("is a folder" in first)


def test_bundled_directory_has_no_errors():
    problems = validate_services(BUNDLED)
    assert [str(p) for p in problems if p.severity == "error"] == []
    result = CliRunner().invoke(cli, ["validate", str(BUNDLED)])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1].startswith(f"0 errors, {len(problems)} warnings in ")


def test_validate_help_has_an_example():
    result = CliRunner().invoke(cli, ["validate", "-h"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "servicemap validate" in result.output


# One file of each hostile class: `coverage --services FILE` refuses it with the first error.
HOSTILE_CLASSES = [
    "deep_nesting.json",
    "repeated_key.json",
    "huge_number.json",
    "oruk_name_object.json",
    "oruk_areas_string.json",
    "geojson_nan_point.geojson",
    "nul_after_64kb.csv",
    "nul_in_header.csv",
    "id_with_semicolon.csv",
    "truncated_sheet.xlsx",
    "formula_without_value.xlsx",
]


@pytest.mark.parametrize("name", HOSTILE_CLASSES)
def test_cli_coverage_refuses_a_hostile_file_with_one_error(name, tmp_path):
    path = CORPUS_DIR / name
    (problem,) = validate_services(path)
    result = CliRunner().invoke(
        cli, ["coverage", "--services", str(path), "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output == (
        f"Error: Services file {str(path)!r} has 1 error:\n  {problem}\n"
        f"Run 'servicemap validate {path}' to see them all.\n"
    )


def test_cli_validate_csv_shows_control_characters_escaped():
    path = CORPUS_DIR / "nul_after_64kb.csv"
    result = CliRunner().invoke(cli, ["validate", str(path), "--format", "csv"])
    assert result.exit_code == 1
    assert "\x00" not in result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["code"], r["value"]) for r in rows] == [("control-character", "Late\\x00Centre")]
