"""The coverage table for people (a workbook) and for programs (CSV and JSON, rounded).

``coverage.xlsx`` has human column headings, shares formatted as percentages, distances to one
decimal, a frozen header row with filters, and a second sheet saying what every column means.
``coverage.csv`` keeps the machine column names but rounds: shares to 4 decimals (hundredths
of a percent), every other fraction to 2.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from servicemap._atomic import atomic_write_bytes
from servicemap._cache import cache_key, kept_result
from servicemap._csv import write_xlsx
from servicemap.analysis.kept import frame_digest
from servicemap.render.labels import KIND_LABELS, WITHIN_COLUMN, is_share, metric_label
from servicemap.settings import Settings

SHARE_DECIMALS = 4
"""Decimals kept for a share (0–1) in CSV and JSON: 0.6795 is 67.95%."""

OTHER_DECIMALS = 2
"""Decimals kept for every other fractional number in CSV and JSON."""

_MEANINGS: dict[str, str] = {
    "force_code": "ONS code of the police force area (E23…, W15…).",
    "force_name": "Name of the police force area.",
    "postcodes": "Located postcodes in the force: the places the shares are counted over.",
    "services_based": "Active services whose location lies in the force.",
    "services_serving": "Active services whose served area includes any part of the force.",
    "local_services": "Local services serving any part of the force.",
    "regional_services": "Regional services serving any part of the force.",
    "national_services": "National services (they serve every force).",
    "local_coverage_share": "Share of residents in a district that at least one local service "
    "serves.",
    "by_and_for_local": "Local services serving the force that are led by the communities "
    "they serve ('by and for').",
    "nrpf_local": "Local services serving the force that support women with no recourse to "
    "public funds.",
    "usual_residents_2021": "Usual residents, Census 2021.",
    "born_outside_uk_2021": "Residents born outside the UK, Census 2021.",
    "population_mid2023": "Population, ONS mid-2023 estimate.",
    "females_16plus_mid2023": "Women and girls aged 16 and over, ONS mid-2023 estimate.",
    "share_born_outside_uk": "Residents born outside the UK as a share of usual residents.",
    "local_services_per_100k_born_abroad": "Local services per 100,000 residents born outside "
    "the UK.",
    "median_km_to_in_person": "Median straight-line distance from the force's postcodes to the "
    "nearest in-person service, in km (blank when there is none).",
    "gap_score": "Gap score: 0 = nothing missing, 100 = nothing found (the report's "
    "methodology gives the formula).",
    "gap_class": "Gap class: no local specialist provision, partial or covered.",
    "gap_rank": "Gap rank: 1 = the largest gap; equal scores share a rank.",
}


def column_meaning(column: str) -> str:
    """Return what a coverage column means, in a sentence."""
    if column in _MEANINGS:
        return _MEANINGS[column]
    within = WITHIN_COLUMN.fullmatch(column)
    if within:
        what = (
            "an in-person service"
            if within[1] == "in_person"
            else "an in-person 'by and for' service"
        )
        return (
            f"Share of residents whose nearest {what} is within {within[2]} km in a straight line."
        )
    for kind, label in KIND_LABELS.items():
        if column == f"{kind}_level":
            return f"{label}: the best level (local, regional, national, none) serving the force."
        if column == f"{kind}_local_share":
            return f"{label}: share of residents in a district a local service of this kind serves."
    return metric_label(column) + "."


def _is_distance(column: str) -> bool:
    return column.endswith("_km") or column.startswith("median_km")


def for_programs(coverage: pd.DataFrame) -> pd.DataFrame:
    """Return the coverage table for CSV and JSON: machine names, numbers rounded sensibly.

    Shares keep :data:`SHARE_DECIMALS` decimals, other fractional numbers
    :data:`OTHER_DECIMALS`; whole-number columns are untouched. Helper columns (``_…``) go.
    """
    table = coverage[[c for c in coverage.columns if not str(c).startswith("_")]].copy()
    for column in table.columns:
        if pd.api.types.is_float_dtype(table[column]):
            decimals = SHARE_DECIMALS if is_share(str(column)) else OTHER_DECIMALS
            table[column] = table[column].round(decimals)
    return table


def _number_format(column: str) -> str | None:
    if is_share(column):
        return "0%"
    if _is_distance(column) or column == "gap_score":
        return "0.0"
    if column == "local_services_per_100k_born_abroad":
        return "0.00"
    return None


def write_coverage_workbook(
    coverage: pd.DataFrame, path: str | Path, *, settings: Settings | None = None
) -> None:
    """Write the coverage table as a workbook for people, atomically.

    Sheet ``coverage``: one row per area, human headings, shares as percentages, distances to
    one decimal, frozen header, filters. Sheet ``columns``: each column's heading, machine
    name and meaning.

    Parameters
    ----------
    coverage
        From ``analysis.coverage.coverage_by_force``.
    path
        The ``.xlsx`` file to write.
    settings
        When given, the workbook is kept in ``settings.cache_dir`` and written again from there
        while the table is the same (openpyxl alone takes about half a second to load); its
        document properties then give the time it was first made.
    """
    if settings is None:
        _write_workbook(coverage, path)
        return
    key = cache_key("workbook", frame_digest(coverage), version("openpyxl"))
    data = kept_result(
        settings.cache_dir,
        "workbooks",
        key,
        lambda: _workbook_bytes(coverage),
        what="coverage workbook",
        rebuild="with openpyxl (a second)",
    )
    atomic_write_bytes(path, data)


def _workbook_bytes(coverage: pd.DataFrame) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "coverage.xlsx"
        _write_workbook(coverage, path)
        return path.read_bytes()


def _write_workbook(coverage: pd.DataFrame, path: str | Path) -> None:
    table = for_programs(coverage)
    columns = [str(c) for c in table.columns]
    headings = {c: metric_label(c) for c in columns}
    formats = {headings[c]: f for c in columns if (f := _number_format(c)) is not None}
    about = pd.DataFrame(
        {
            "Heading": [headings[c] for c in columns],
            "Column in coverage.csv": columns,
            "Meaning": [column_meaning(c) for c in columns],
        }
    )
    write_xlsx(
        table.rename(columns=headings),
        path,
        sheet_name="coverage",
        number_formats=formats,
        autofilter=True,
        extra_sheets={"columns": about},
    )
