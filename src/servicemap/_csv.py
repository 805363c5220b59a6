"""CSV files that people open in spreadsheets: read any user's CSV as text, write safe CSVs."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pandas as pd

from servicemap._atomic import atomic_write
from servicemap.errors import ServicemapError

# Leading characters that make Excel, LibreOffice or Google Sheets evaluate a cell as a formula
# (OWASP "CSV injection"), plus tab and carriage return.
_FORMULA_START = r"[=+\-@\t\r]"
# ... unless the whole cell is a plain number ("-0.1416", "+3"), which a spreadsheet reads as a
# number, not a formula; prefixing it would corrupt longitudes and other signed figures.
_PLAIN_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy whose text cells cannot run as spreadsheet formulas.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    ``'``, which spreadsheets show as text (``=HYPERLINK(...)``, ``+44 20 7946 0000``). Cells
    that are plain numbers (``-0.1416``) and numeric columns are left alone.

    Parameters
    ----------
    frame
        Any table.

    Returns
    -------
    pandas.DataFrame
        The neutralised copy (same index, columns and dtypes).
    """
    safe = frame.copy()
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if not (column.dtype == object or pd.api.types.is_string_dtype(column)):
            continue
        text = column.where(column.map(lambda v: isinstance(v, str)), "").astype(object)
        risky = text.str.match(_FORMULA_START) & ~text.str.fullmatch(_PLAIN_NUMBER)
        if risky.any():
            safe.iloc[:, position] = column.mask(risky, "'" + text)
    return safe


def write_csv(frame: pd.DataFrame, path: Path | str) -> None:
    """Write ``frame`` as a spreadsheet-safe UTF-8 CSV, atomically, without the index.

    Parameters
    ----------
    frame
        The table to write; text cells are neutralised with :func:`spreadsheet_safe`.
    path
        The file to (re)write; a reader sees the old file or the new one, never half of one.
    """
    with atomic_write(path, "w", newline="") as handle:
        spreadsheet_safe(frame).to_csv(handle, index=False, lineterminator="\n")


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
