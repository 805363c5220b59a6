"""Tables people open in spreadsheets: read any user's CSV as text; write safe CSV and XLSX.

Every CSV or XLSX that servicemap writes passes through :func:`safe_cell` (directly, or through
:func:`spreadsheet_safe`, :func:`csv_text`, :func:`write_csv` and :func:`write_xlsx`, which use
it): a text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a
leading ``'`` so that Excel, LibreOffice and Google Sheets show it as text instead of running it
as a formula (OWASP "CSV injection": ``=HYPERLINK(…)``, ``+cmd|' /C calc'!A0``, ``@SUM(…)``).

Numbers are not formulas. A numeric column (a longitude of ``-1.5``, a change of ``-3``) is
written as numbers and never touched; a *text* cell that is a whole plain number (``-2``,
``+1``, ``-0.1416``) is left alone too, because every spreadsheet reads it as that number and
nothing runs. Only text that would be evaluated (``-2+3``, ``+44 20 7946 0000``) is prefixed.
Column headers are text cells as well and get the same guard.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap._atomic import atomic_path, atomic_write
from servicemap.errors import ServicemapError

# Leading characters that make Excel, LibreOffice or Google Sheets evaluate a cell as a formula
# (OWASP "CSV injection"), plus tab and carriage return.
_FORMULA_START = re.compile(r"[=+\-@\t\r]")
# ... unless the whole cell is a plain number ("-0.1416", "+3"), which a spreadsheet reads as a
# number, not a formula; prefixing it would corrupt longitudes and other signed figures.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Characters an XLSX file (XML 1.0) cannot hold: C0 controls other than tab, newline and CR.
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Everything a column key drops: what is left is ASCII lower-case letters and digits.
_NOT_KEY = re.compile(r"[^a-z0-9]+")


def column_key(name: object) -> str:
    """Return the key a column name is matched on: lower case, only ``a-z`` and ``0-9`` kept.

    The one rule for finding a column whatever a spreadsheet user called it: ``"Post Code"``,
    ``"post_code"`` and ``"POSTCODE"`` all give ``"postcode"``; ``"Usual residents 2021"`` and
    ``"usual_residents_2021"`` both give ``"usualresidents2021"``. Spaces, punctuation and
    letters outside ``a-z`` (accented ones too) are dropped.

    Parameters
    ----------
    name
        A column name as written; not text (a number, say) is matched on its ``str``.

    Returns
    -------
    str
        The key; ``""`` for a name with no ASCII letter or digit.
    """
    return _NOT_KEY.sub("", str(name).lower())


def safe_cell(value: Any) -> Any:
    """Return ``value`` made safe for a spreadsheet: the one rule every CSV and XLSX writer uses.

    Parameters
    ----------
    value
        A cell. Only ``str`` values can be changed.

    Returns
    -------
    Any
        ``"'" + value`` for text that a spreadsheet would run as a formula (starting ``=``,
        ``+``, ``-``, ``@``, tab or carriage return, and not a plain number such as ``-2``).
        In text, carriage returns become line feeds: Python's ``csv`` module leaves a cell
        holding a lone carriage return unquoted, and a spreadsheet would start a new row (which
        could be a formula) there; a line feed is always quoted. Anything else is unchanged.
    """
    if not isinstance(value, str):
        return value
    if _FORMULA_START.match(value) and not _PLAIN_NUMBER.fullmatch(value):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy whose text cells and headers cannot run as spreadsheet formulas.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    ``'`` (:func:`safe_cell`), which spreadsheets show as text (``=HYPERLINK(...)``,
    ``+44 20 7946 0000``). Cells that are plain numbers (``-0.1416``) and numeric columns are
    left alone.

    Parameters
    ----------
    frame
        Any table.

    Returns
    -------
    pandas.DataFrame
        The neutralised copy: same index, dtypes and order; risky header names prefixed too.
    """
    safe = frame.copy()
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        elif not (column.dtype == object or pd.api.types.is_string_dtype(column)):
            continue
        values = [safe_cell(value) for value in column]
        if any(new is not old for new, old in zip(values, column, strict=True)):
            safe.isetitem(position, pd.Series(values, index=column.index, dtype=column.dtype))
    if any(safe_cell(name) is not name for name in safe.columns):
        safe.columns = pd.Index([safe_cell(name) for name in safe.columns])
    return safe


def csv_text(frame: pd.DataFrame, *, lineterminator: str = "\n") -> str:
    """Return ``frame`` as spreadsheet-safe CSV text, without the index.

    Parameters
    ----------
    frame
        The table; text cells are neutralised with :func:`spreadsheet_safe`.
    lineterminator
        The line ending (CRLF for files that Excel users exchange).

    Returns
    -------
    str
        The CSV, header first.
    """
    return str(spreadsheet_safe(frame).to_csv(index=False, lineterminator=lineterminator))


def write_csv(frame: pd.DataFrame, path: Path | str) -> None:
    """Write ``frame`` as a spreadsheet-safe UTF-8 CSV, atomically, without the index.

    Parameters
    ----------
    frame
        The table to write; text cells are neutralised with :func:`spreadsheet_safe`.
    path
        The file to (re)write; a reader sees the old file or the new one, never half of one.

    Raises
    ------
    OutputError
        The file cannot be written (see :func:`servicemap._atomic.atomic_write`).
    """
    with atomic_write(path, "w", newline="") as handle:
        spreadsheet_safe(frame).to_csv(handle, index=False, lineterminator="\n")


def _xlsx_value(value: Any) -> Any:
    """Return a cell value openpyxl writes as a number, a date, text or an empty cell."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (tuple, list, np.ndarray)):
        value = ";".join(str(item) for item in value)
    text = value if isinstance(value, str) else str(value)
    return safe_cell(_NOT_IN_XML.sub("\ufffd", text))


def write_xlsx(
    frame: pd.DataFrame,
    path: Path | str,
    *,
    sheet_name: str,
    number_formats: Mapping[str, str] | None = None,
    autofilter: bool = False,
    extra_sheets: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """Write ``frame`` as a spreadsheet-safe worksheet, atomically, header row frozen.

    Numbers are written as numbers, empty and non-finite values as empty cells, and every text
    cell (headers included) through :func:`safe_cell`; no cell is ever a formula.

    Parameters
    ----------
    frame
        The table to write (the index is not written).
    path
        The ``.xlsx`` file to (re)write.
    sheet_name
        The worksheet's name.
    number_formats
        Excel number formats by column name (e.g. ``{"Share": "0%"}``).
    autofilter
        Put filter buttons on the header row.
    extra_sheets
        More worksheets after the first, by name (written the same way, without filters).

    Raises
    ------
    OutputError
        The file cannot be written (see :func:`servicemap._atomic.atomic_path`).
    """
    from openpyxl import Workbook

    workbook = Workbook()
    _fill_sheet(workbook.active, frame, sheet_name, number_formats or {})
    if autofilter and len(frame.columns):
        workbook.active.auto_filter.ref = workbook.active.dimensions
    for name, extra in (extra_sheets or {}).items():
        _fill_sheet(workbook.create_sheet(), extra, name, {})
    with atomic_path(path) as tmp:
        workbook.save(tmp)


def _fill_sheet(sheet: Any, frame: pd.DataFrame, title: str, formats: Mapping[str, str]) -> None:
    from openpyxl.styles import Font

    sheet.title = title
    sheet.append([_xlsx_value(str(name)) for name in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        sheet.append([_xlsx_value(value) for value in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for position, name in enumerate(frame.columns, start=1):
        longest = max([len(str(name)), *(len(str(v)) for v in frame.iloc[:200, position - 1])])
        letter = sheet.cell(row=1, column=position).column_letter
        sheet.column_dimensions[letter].width = min(max(longest + 2, 8), 60)
        number_format = formats.get(str(name))
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=position, max_col=position):
                cell.number_format = number_format


def _decode(data: bytes, *, name: str, error: type[ServicemapError]) -> str:
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise error(
            f"File {name!r} is an Excel workbook, not a CSV file; in Excel use "
            "File > Save As > 'CSV UTF-8 (Comma delimited)' and pass the .csv file."
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Excel's plain "CSV" on Windows is in the Windows code page
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise error(
                f"File {name!r} is not a text CSV file (byte {exc.start} cannot be read as "
                "UTF-8 or Windows-1252); save it as 'CSV UTF-8' and try again."
            ) from exc
    if "\x00" in text:
        raise error(
            f"File {name!r} is not a text CSV file (it contains NUL bytes); "
            "save it as 'CSV UTF-8' and try again."
        )
    return text


def read_csv_text(path: Path | str, *, error: type[ServicemapError]) -> pd.DataFrame:
    """Read a user's CSV file with every cell as text, exactly as written.

    Accepts UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark and
    Windows-1252. Empty cells are ``""``; nothing is converted to numbers or NaN.

    Parameters
    ----------
    path
        The CSV file.
    error
        The :class:`~servicemap.errors.ServicemapError` subclass to raise, so the message
        belongs to the caller's domain (e.g. ``GeocodeError``).

    Returns
    -------
    pandas.DataFrame
        One row per record, one ``str`` column per header cell, a fresh ``RangeIndex``.

    Raises
    ------
    ServicemapError
        ``error`` when the file is missing, empty, binary, undecodable or not a valid CSV;
        the message names the file and says how to fix it.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise error(f"File {name!r} does not exist; check the path.") from exc
    except IsADirectoryError as exc:
        raise error(f"{name!r} is a folder, not a CSV file; pass the file's path.") from exc
    except OSError as exc:
        raise error(f"File {name!r} could not be read ({exc.strerror}); check it.") from exc
    text = _decode(data, name=name, error=error)
    if not text.strip():
        raise error(f"File {name!r} is empty; it needs a header row and one row per record.")
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise error(
            f"File {name!r} is not a valid CSV file ({exc}); check that quotes are closed, "
            "or save it again from the spreadsheet as 'CSV UTF-8'."
        ) from exc
    header = _unique_names(rows[0])
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            if any(cell.strip() for cell in row[len(header) :]):
                raise error(
                    f"File {name!r} is not a valid CSV file (row {number} has {len(row)} cells "
                    f"but the header has {len(header)}); check that every row has as many "
                    "comma-separated cells as the header and quotes are closed."
                )
            row = row[: len(header)]  # trailing empty cells, as spreadsheets often add
        records.append(row + [""] * (len(header) - len(row)))
    return pd.DataFrame(records, columns=header, dtype=object)


def _unique_names(names: list[str]) -> list[str]:
    """Keep header names, suffixing repeats ``.1``, ``.2`` … as pandas does."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        unique.append(name if count == 0 else f"{name}.{count}")
        seen[name] = count + 1
    return unique
