"""Publishing a report: numbers as people read them, tables for spreadsheets, the folder."""

from __future__ import annotations

import datetime as dt
import errno
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from servicemap import _swap
from servicemap._folder import MANIFEST, publish_folder, stale_entries
from servicemap.render.labels import format_date, ordinal, rank_parts, rank_phrase, rank_text
from servicemap.render.text import format_coverage, write_coverage
from servicemap.render.workbook import column_meaning, for_programs, write_coverage_workbook


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (22, "22nd"), (43, "43rd"), (111, "111th")],
)  # fmt: skip
def test_ordinal(n: int, text: str) -> None:
    assert ordinal(n) == text


def test_a_shared_rank_reads_as_a_tie() -> None:
    ranks = [1, 1, 1, 4, 5]
    assert [rank_text(r, ranks) for r in ranks] == ["=1", "=1", "=1", "4", "5"]
    assert rank_parts(1, ranks) == ("=1st of 5 (with 2 others)", "the largest gap")


def test_rank_says_its_direction() -> None:
    ranks = list(range(1, 44))
    assert rank_phrase(43, ranks) == "43rd of 43: the smallest gap"
    assert rank_phrase(1, ranks) == "1st of 43: the largest gap"
    assert rank_phrase(12, ranks) == "12th of 43: 1st = the largest gap"


def test_dates_read_as_people_write_them() -> None:
    assert format_date(dt.date(2026, 12, 1)) == "1 December 2026"
    assert format_date(dt.date(2027, 3, 14)) == "14 March 2027"


@pytest.fixture
def coverage() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "force_code": ["E23000001", "E23000002", "E23000003"],
            "force_name": ["Metropolitan Police", "Cumbria", "Lancashire"],
            "local_services": [4, 0, 0],
            "local_coverage_share": [0.6795117459524354, 0.0, 0.125],
            "in_person_within_25km": [1.0, 0.0, 0.33333333],
            "median_km_to_in_person": [3.14159, 67.95117459524354, np.inf],
            "gap_score": [32.7, 82.5, 82.5],
            "gap_class": ["partial", "no local specialist provision", "partial"],
            "gap_rank": [3, 1, 1],
            "_helper": [1, 2, 3],
        }
    )


def test_csv_keeps_machine_names_and_rounds(coverage: pd.DataFrame) -> None:
    table = for_programs(coverage)
    assert "_helper" not in table.columns
    assert list(table.columns) == [c for c in coverage.columns if c != "_helper"]
    assert table["local_coverage_share"].tolist() == [0.6795, 0.0, 0.125]
    assert table["median_km_to_in_person"].tolist()[:2] == [3.14, 67.95]
    text = format_coverage(coverage, "csv")
    assert "67.95117459524354" not in text and "0.6795," in text


def test_the_terminal_table_shows_percentages_and_ties(coverage: pd.DataFrame) -> None:
    text = format_coverage(coverage, "table")
    assert "68%" in text and "0.6795" not in text
    assert "=1" in text


def test_the_workbook_is_for_people(coverage: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "coverage.xlsx"
    write_coverage_workbook(coverage, path)
    book = load_workbook(path)
    assert book.sheetnames == ["coverage", "columns"]
    sheet = book["coverage"]
    headings = [c.value for c in sheet[1]]
    assert "Residents reached by a local service" in headings
    assert "local_coverage_share" not in headings and "_helper" not in headings
    share = sheet.cell(row=2, column=headings.index("Residents reached by a local service") + 1)
    assert share.value == pytest.approx(0.6795) and share.number_format == "0%"
    km = sheet.cell(row=2, column=headings.index("Median distance to in-person help (km)") + 1)
    assert km.number_format == "0.0"
    none = sheet.cell(row=4, column=headings.index("Median distance to in-person help (km)") + 1)
    assert none.value is None  # no in-person service anywhere: blank, not 'inf'
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == sheet.dimensions
    about = book["columns"]
    rows = list(about.iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in rows] == [c for c in coverage.columns if c != "_helper"]
    assert all(r[2] for r in rows)
    assert dict((r[1], r[2]) for r in rows)["gap_rank"] == column_meaning("gap_rank")


def test_coverage_format_xlsx_writes_the_workbook(coverage: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    write_coverage(coverage, path, fmt="xlsx")
    assert load_workbook(path).sheetnames == ["coverage", "columns"]


def test_every_bundled_column_has_a_meaning(bundled_services: pd.DataFrame) -> None:
    from servicemap.analysis.coverage import coverage_by_force

    for column in coverage_by_force(bundled_services).columns:
        meaning = column_meaning(str(column))
        assert meaning.endswith(".") and len(meaning) > 12, column


# --- what an earlier publication wrote and this one does not (servicemap._folder) ---------------


def _publish(out: Path, entries: dict[str, str | dict[str, str]]) -> None:
    """Publish ``entries`` (a name and its text, or a folder's files) into ``out``."""
    with publish_folder(out, list(entries)) as build:
        for name, content in entries.items():
            if isinstance(content, dict):
                (build / name).mkdir()
                for file, text in content.items():
                    (build / name / file).write_text(text, encoding="utf-8")
            else:
                (build / name).write_text(content, encoding="utf-8")


@pytest.fixture(params=["exchange", "one by one"])
def publishing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Publish by the folder exchange, or entry by entry (a drive that cannot exchange)."""
    if request.param == "one by one":

        def unsupported(first: Path, second: Path) -> None:
            raise OSError(errno.EINVAL, "Invalid argument")

        monkeypatch.setattr(_swap, "exchange", unsupported)
    return str(request.param)


def test_an_entry_the_earlier_publication_wrote_is_removed(tmp_path: Path, publishing: str) -> None:
    out = tmp_path / "site"
    _publish(out, {"pages": {"a.html": "a"}, "report.pdf": "old pdf", "index.html": "1"})
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    _publish(out, {"index.html": "2"})
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "index.html", "notes.txt"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name != "site"]  # no hidden leftovers


def test_an_entry_changed_or_added_to_since_is_kept(tmp_path: Path, publishing: str) -> None:
    out = tmp_path / "site"
    _publish(out, {"pages": {"a.html": "a"}, "report.pdf": "old pdf", "index.html": "1"})
    (out / "report.pdf").write_text("edited", encoding="utf-8")
    (out / "pages" / "b.html").write_text("added", encoding="utf-8")
    _publish(out, {"index.html": "2"})
    assert (out / "report.pdf").read_text(encoding="utf-8") == "edited"
    assert sorted(p.name for p in (out / "pages").iterdir()) == ["a.html", "b.html"]
    # the manifest no longer names them: they are the user's now, and a later run keeps them
    _publish(out, {"index.html": "3"})
    assert (out / "report.pdf").read_text(encoding="utf-8") == "edited"
    assert (out / "pages" / "a.html").exists()


def test_stale_entries_names_only_unchanged_ones(tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert stale_entries(out, ["index.html"]) == []  # no folder yet
    _publish(out, {"old.csv": "x", "kept.csv": "y", "index.html": "1"})
    (out / "kept.csv").write_text("changed", encoding="utf-8")
    (out / "mine.csv").write_text("never published", encoding="utf-8")
    assert stale_entries(out, ["index.html"]) == ["old.csv"]
    assert stale_entries(out, ["old.csv", "index.html"]) == []
