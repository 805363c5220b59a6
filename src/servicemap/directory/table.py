"""A table as read, before its columns are fitted: names as written, cells as text, rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from servicemap.directory.problems import ProblemReport, UnreadableError, control_problem, visible
from servicemap.directory.schema import FIELD_BY_HEADER_KEY, header_key

# How many rows from the top may hold a title or notes above the header row.
_HEADER_SEARCH_ROWS = 20


@dataclass
class RawTable:
    """A table as read: its column names as written, cells as text, and row numbers."""

    columns: list[str]
    cells: pd.DataFrame  # positional columns 0..len(columns)-1, text
    rows: np.ndarray[Any, np.dtype[np.int64]]
    kind: str  # "CSV", "Excel", "GeoJSON", "JSON", "Open Referral UK"
    header_row: int | None  # spreadsheet row of the header; None for JSON
    # Rows already reported as not read as they stand (values in the wrong columns, or of the
    # wrong type): they are left out of the other checks.
    shifted: frozenset[int] = frozenset()


def table_from_records(records: list[list[str]], report: ProblemReport, *, kind: str) -> RawTable:
    """Find the header row and turn the rows below it into stripped text cells.

    The header is the first non-empty row, unless a title or note sits above it: then it is
    the first of the top rows that names at least two servicemap fields.
    """
    stripped = [[c.strip() for c in rec] for rec in records]
    filled = [i for i, rec in enumerate(stripped[:_HEADER_SEARCH_ROWS]) if any(rec)]
    if not filled:
        raise UnreadableError(
            report.file,
            "has no header row and no services (every row is empty).",
            "save the directory again with a header row and one row per service.",
        )
    start = next((i for i in filled if _known_fields(stripped[i]) >= 2), filled[0])
    if start != filled[0]:
        report.warning(
            "rows-above-header",
            f"the header is row {start + 1}; the rows above it are ignored.",
            "make the header the first row, or leave the rows above it as they are.",
            row=filled[0] + 1,
        )
    header = stripped[start]
    for name in header:
        control = control_problem(name)
        if control is not None:
            message, fix, shown = control
            report.error(
                "control-character",
                f"the column name {message}",
                fix,
                row=start + 1,
                column=FIELD_BY_HEADER_KEY.get(header_key(name), visible(name)),
                value=shown,
            )
    width = len(header)
    body: list[list[str]] = []
    rows: list[int] = []
    shifted: set[int] = set()
    for number, record in enumerate(stripped[start + 1 :], start=start + 2):
        if not any(record):
            continue  # blank lines and rows of empty cells
        if len(record) > width:
            extra = record[width:]
            if any(extra):
                count = width + max(i + 1 for i, v in enumerate(extra) if v)
                if kind == "CSV":
                    shifted.add(number)
                    report.error(
                        "extra-values",
                        f"has {count} values but the header has {width} columns, so the "
                        "values after a stray comma are in the wrong columns.",
                        "put double quotes around any value that contains a comma, or "
                        "remove the extra values.",
                        row=number,
                    )
                else:
                    report.warning(
                        "unnamed-column",
                        f"has a value in column {count}, beyond the last named column; it is "
                        "ignored.",
                        "give the column a header or delete the values.",
                        row=number,
                    )
            record = record[:width]
        elif len(record) < width:
            record = record + [""] * (width - len(record))
        body.append(record)
        rows.append(number)
    cells = pd.DataFrame(body, columns=range(width), dtype=object)
    return RawTable(
        header, cells, np.asarray(rows, dtype=np.int64), kind, start + 1, frozenset(shifted)
    )


def _known_fields(cells: Sequence[str]) -> int:
    return len({FIELD_BY_HEADER_KEY[k] for k in map(header_key, cells) if k in FIELD_BY_HEADER_KEY})


def typed_text(value: Any) -> str:
    """Turn a spreadsheet or JSON value into the text a person typed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(typed_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
