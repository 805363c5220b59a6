"""The review loop: review workbooks out, answers back in, exactly the answers changed."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from servicemap.cli import cli
from servicemap.directory.review import ANSWERS, CHECK_COLUMN, SHEET_NAME

HEADER = (
    "id,name,address,postcode,location_confidential,scope,areas_served,service_types,focus,"
    "phone,website,status,last_seen,source_url,notes"
)
ROWS = [
    "pub,Leeds advice hub,Leeds Town Hall,LS1 1UR,no,local,Leeds,advocacy,domestic_abuse,,,"
    "unknown,2019,https://example.org/pub,Old note.",
    "hidden,Quiet refuge,17 Quietwater Close,B12 0EJ,yes,local,Leeds,refuge,domestic_abuse,,"
    "quiet.example.org,active,2025-06,https://example.org/hidden,Refuge.",
    "helpline,National line,,,no,national,,helpline,fgm,0800 000 000,,active,2024,"
    "https://example.org/line,",
]
SHEET = "review-west-yorkshire.xlsx"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "dir.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def sheets(directory: Path, tmp_path: Path) -> Path:
    out = tmp_path / "sheets"
    result = CliRunner().invoke(cli, ["review", "--services", str(directory), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote 2 review workbook(s), 3 service rows, to {out}\n"
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _fill(path: Path, answers: dict[str, dict[str, str]]) -> None:
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[SHEET_NAME]
    header = [cell.value for cell in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for column, value in answers.get(str(row[0].value), {}).items():
            row[header.index(column)].value = value
    workbook.save(path)


def _apply(directory: Path, *args: str):
    return CliRunner().invoke(
        cli, ["apply-review", *args, "--services", str(directory), "--reviewed", "2026-11"]
    )


def test_the_sheets_show_public_fields_checks_and_answer_lists(sheets):
    assert sorted(p.name for p in sheets.iterdir()) == ["review-national.xlsx", SHEET]
    workbook = openpyxl.load_workbook(sheets / SHEET)
    sheet = workbook[SHEET_NAME]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[-len(ANSWERS) :] == list(ANSWERS) and CHECK_COLUMN in header
    assert "latitude" not in header and "notes" not in header
    records = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(records) == {"pub", "hidden"}
    assert records["pub"]["address"] == "Leeds Town Hall"
    assert records["hidden"]["address"] is None and records["hidden"]["postcode"] is None
    assert records["pub"][CHECK_COLUMN] == (
        "status unknown: is it still running?; last seen 2019, over 3 years ago: may have "
        "ended; no phone or website"
    )
    lists = {
        str(v.sqref).split(":")[0].rstrip("0123456789"): v.formula1
        for v in sheet.data_validations.dataValidation
    }
    letters = {name: openpyxl.utils.get_column_letter(header.index(name) + 1) for name in ANSWERS}
    assert lists[letters["still_running"]] == '"yes,no,not sure"'
    assert lists[letters["correct_scope"]] == '"local,regional,national"'
    assert lists[letters["correct_focus"]].startswith('"domestic_abuse,sexual_violence,')


def test_no_sheet_holds_a_confidential_place(sheets):
    for path in sheets.iterdir():
        with zipfile.ZipFile(path) as archive:
            text = "".join(archive.read(n).decode("utf-8") for n in archive.namelist())
        squeezed = text.upper().replace(" ", "")
        assert "QUIETWATER" not in squeezed and "B120EJ" not in squeezed
    assert "Quiet refuge" in "".join(
        zipfile.ZipFile(sheets / SHEET).read(n).decode()
        for n in zipfile.ZipFile(sheets / SHEET).namelist()
    )


def test_round_trip_changes_exactly_the_answers(directory, sheets, tmp_path):
    _fill(
        sheets / SHEET,
        {
            "pub": {
                "still_running": "yes",
                "new_phone": "0113 000 0000",
                "source": "https://example.org/new",
            },
            "hidden": {"correct_scope": "Regional", "reviewer_notes": "Now county-wide."},
        },
    )
    _fill(sheets / "review-national.xlsx", {"helpline": {"correct_focus": "domestic_abuse"}})
    new = tmp_path / "new.csv"
    result = _apply(directory, str(sheets / SHEET), str(sheets / "review-national.xlsx"), "-o",
                    str(new))  # fmt: skip
    assert result.exit_code == 0, result.output
    before = {r["id"]: r for r in _rows(directory)}
    after = {r["id"]: r for r in _rows(new)}
    assert list(after) == list(before)
    diff = {
        (i, field): (before[i].get(field, ""), value)
        for i, row in after.items()
        for field, value in row.items()
        if before[i].get(field, "") != value
    }
    assert diff == {
        ("pub", "status"): ("unknown", "active"),
        ("pub", "last_seen"): ("2019", "2026-11"),
        ("pub", "phone"): ("", "0113 000 0000"),
        ("pub", "source_url"): ("https://example.org/pub", "https://example.org/new"),
        ("pub", "notes"): ("Old note.", "Old note. Earlier source: https://example.org/pub"),
        ("hidden", "scope"): ("local", "regional"),
        ("hidden", "notes"): (
            "Refuge.",
            f"Refuge. Review 2026-11 ({SHEET}, row 3): Now county-wide.",
        ),
        ("helpline", "focus"): ("fgm", "domestic_abuse"),
    }
    assert result.stdout.splitlines() == [
        "pub: phone: '' -> '0113 000 0000'",
        "pub: status: 'unknown' -> 'active'",
        "pub: last_seen: '2019' -> '2026-11'",
        "pub: source_url: 'https://example.org/pub' -> 'https://example.org/new'",
        "hidden: scope: 'local' -> 'regional'",
        "helpline: focus: 'fgm' -> 'domestic_abuse'",
        "pub: notes: appended",
        "hidden: notes: appended",
    ]
    # The confidential service keeps its place in the directory itself (it is not an output).
    assert after["hidden"]["postcode"] == "B12 0EJ"


def test_bad_answers_are_all_reported_and_nothing_is_written(directory, sheets, tmp_path):
    _fill(
        sheets / SHEET,
        {
            "pub": {"still_running": "maybe", "correct_areas": "Leedz"},
            "hidden": {"source": "see the leaflet", "id": "nobody"},
        },
    )
    new = tmp_path / "new.csv"
    result = _apply(directory, str(sheets / SHEET), "-o", str(new))
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: The review answers have 3 problem(s); nothing was written:\n"
    )
    assert (
        f"  {SHEET}: row 2: column 'still_running': 'maybe' is not an answer here; choose one "
        "of: yes, no, not sure.\n"
    ) in result.output
    assert f"  {SHEET}: row 2: column 'correct_areas': area 'Leedz' is not known." in result.output
    assert f"  {SHEET}: row 3: column 'id': 'nobody' is not in the directory." in result.output
    assert not new.exists()


def test_apply_review_never_overwrites_its_input(directory, sheets):
    _fill(sheets / SHEET, {"pub": {"still_running": "no"}})
    before = directory.read_bytes()
    result = _apply(directory, str(sheets / SHEET), "-o", str(directory))
    assert result.exit_code == 1
    assert "Error:" in result.output and "--services" in result.output
    assert directory.read_bytes() == before


def test_a_workbook_that_is_not_a_review_is_refused(directory, tmp_path):
    other = tmp_path / "other.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "data"
    workbook.save(other)
    result = _apply(directory, str(other), "-o", str(tmp_path / "new.csv"))
    assert result.exit_code == 1
    assert result.output == (
        "Error: Review sheet 'other.xlsx' has no 'services' sheet; give the workbook "
        "'servicemap review' wrote.\n"
    )


def test_review_of_one_force_of_the_bundled_directory(tmp_path):
    result = CliRunner().invoke(cli, ["review", "--force", "Cumbria", "-o", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.iterdir()
    assert path.name == "review-cumbria.xlsx"
    rows = list(openpyxl.load_workbook(path)[SHEET_NAME].iter_rows(values_only=True))
    assert len(rows) > 1  # regional and nation-wide services serve Cumbria too
