"""Numbers as people read them (ranks, ties, dates) and the coverage tables for spreadsheets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

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
