"""Text renderers: coverage tables, force profiles, "near" searches and validation problems.

Force profiles and "near" searches are rendered by :mod:`servicemap.render.answers`, what-ifs
and site proposals by :mod:`servicemap.render.plan_text`; their formatters are importable from
here too.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from servicemap._atomic import atomic_path, atomic_write_text
from servicemap._csv import safe_cell
from servicemap._tables import format_table
from servicemap.analysis.coverage import coverage_areas
from servicemap.directory.problems import Problem, plural
from servicemap.geography.boundaries import load_force_areas
from servicemap.render.answers import NEAR_COLUMNS as NEAR_COLUMNS
from servicemap.render.answers import format_force_profile as format_force_profile
from servicemap.render.answers import format_near as format_near
from servicemap.render.labels import format_measure, is_share, rank_text
from servicemap.render.plan_text import format_proposal as format_proposal
from servicemap.render.plan_text import format_what_if as format_what_if
from servicemap.render.workbook import for_programs, write_coverage_workbook
from servicemap.settings import DEFAULT_SETTINGS, Settings

# --- coverage, profiles and "near" ------------------------------------------------------------


TABLE_COLUMNS: tuple[str, ...] = (
    "gap_rank",
    "district_name",
    "authority_name",
    "force_name",
    "gap_score",
    "gap_class",
    "local_services",
    "local_coverage_share",
    "advocacy_level",
    "nrpf_accommodation_level",
    "legal_immigration_level",
    "born_outside_uk_2021",
)
"""Columns shown by the ``table`` and ``markdown`` formats (CSV and JSON have all of them)."""


def format_coverage(coverage: pd.DataFrame, fmt: str) -> str:
    """Return the coverage table as text, for people or for programs.

    ``table`` and ``markdown`` show the main columns with shares as percentages; ``csv`` and
    ``json`` keep every column with machine names, rounded (see
    :func:`servicemap.render.workbook.for_programs`).
    """
    if fmt in ("csv", "json"):
        return format_table(for_programs(coverage), fmt)
    shown = coverage.copy()
    for column in shown.columns:
        if is_share(str(column)) and pd.api.types.is_float_dtype(shown[column]):
            shown[column] = [format_measure(str(column), v) for v in shown[column]]
    if "gap_rank" in shown.columns:  # a shared rank reads "=1"
        ranks = list(shown["gap_rank"])
        shown["gap_rank"] = [rank_text(r, ranks) for r in ranks]
    return format_table(shown, fmt, columns=TABLE_COLUMNS)


def write_coverage(
    coverage: pd.DataFrame,
    path: Any,
    *,
    fmt: str,
    force_areas: pd.DataFrame | None = None,
    boundaries: str | Path = "derived",
    settings: Settings = DEFAULT_SETTINGS,
) -> None:
    """Write the coverage table to a file atomically (the old file survives a failure).

    Parameters
    ----------
    coverage
        From :func:`servicemap.analysis.coverage.coverage_by_force`.
    path
        The file to write.
    fmt
        ``"table"``, ``"csv"``, ``"json"``, ``"markdown"``, ``"xlsx"`` (a workbook for people:
        :func:`servicemap.render.workbook.write_coverage_workbook`) or
        ``"gpkg"`` (layer ``coverage``, with each force's polygon).
    force_areas
        Force polygons for ``gpkg``, in their own CRS; when ``None`` they are loaded from
        ``boundaries`` (see ``geography.boundaries.load_force_areas``) with ``settings``.
    boundaries, settings
        Where the polygons for ``gpkg`` come from when ``force_areas`` is ``None``.

    Returns
    -------
    None
        The file is written.
    """
    if fmt == "xlsx":
        write_coverage_workbook(coverage, path)
        return
    if fmt != "gpkg":
        atomic_write_text(path, format_coverage(coverage, fmt))
        return
    if force_areas is None:
        force_areas = load_force_areas(boundaries, settings=settings)
    areas = coverage_areas(coverage, force_areas)
    with atomic_path(path) as tmp:
        areas.to_file(tmp, driver="GPKG", layer="coverage")


# --- validation problems -------------------------------------------------------------------


def format_problems(problems: Sequence[Problem], *, file: str, fmt: str = "text") -> str:
    """Return problems as text (one per line and a summary), CSV or JSON.

    Parameters
    ----------
    problems
        From :func:`validate_services`.
    file
        The file name used in the summary line.
    fmt
        ``"text"``, ``"csv"`` or ``"json"``.

    Returns
    -------
    str
        The formatted problems, ending with a newline.
    """
    errors = sum(p.severity == "error" for p in problems)
    summary = f"{plural(errors, 'error')}, {plural(len(problems) - errors, 'warning')} in {file}"
    if fmt == "json":
        document = {
            "file": file,
            "errors": errors,
            "warnings": len(problems) - errors,
            "problems": [p.to_dict() for p in problems],
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        names = list(Problem.__dataclass_fields__)
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: safe_cell(v) for k, v in p.to_dict().items()} for p in problems)
        return buffer.getvalue()
    if fmt != "text":
        raise ValueError(f"Unknown format {fmt!r}; use 'text', 'csv' or 'json'.")
    lines = [f"{p.severity}: {p}" for p in problems]
    return "\n".join([*lines, summary]) + "\n"
