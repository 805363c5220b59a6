"""Frames as text: table, CSV (spreadsheet-safe), JSON and Markdown, shared by every command."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from servicemap._csv import csv_text


def _plain(value: Any) -> Any:
    """Return a value as plain JSON data: builtin numbers, None for NaN and inf."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 4)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a frame's rows as JSON-ready dicts (plain numbers, None for NaN and inf).

    Parameters
    ----------
    frame
        The rows.

    Returns
    -------
    list of dict
        One dict per row; floats rounded to 4 decimal places.
    """
    return [_plain(dict(row)) for row in frame.to_dict(orient="records")]


def _markdown(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if not np.isfinite(value) else f"{value:.3g}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def format_table(frame: pd.DataFrame, fmt: str, *, columns: tuple[str, ...] = ()) -> str:
    """Render a frame as ``table``, ``csv`` (spreadsheet-safe), ``json`` or ``markdown`` text.

    Parameters
    ----------
    frame
        The rows to render.
    fmt
        One of ``table``, ``csv``, ``json``, ``markdown``.
    columns
        For ``table`` and ``markdown``: the columns to show (all when empty or absent).

    Returns
    -------
    str
        The rendered text, ending with a newline.
    """
    shown = [c for c in columns if c in frame.columns] or list(frame.columns)
    if fmt == "csv":
        return csv_text(frame)
    if fmt == "json":
        return json.dumps(json_records(frame), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return _markdown(frame[shown])
    if fmt == "table":
        rounded = frame[shown].copy()
        for column in rounded.columns:
            if rounded[column].dtype.kind == "f":
                rounded[column] = rounded[column].round(3)
        return str(rounded.to_string(index=False)) + "\n"
    raise ValueError(f"Unknown format {fmt!r}; use table, csv, json or markdown.")
