"""The services directory: read it, check it, load it, and keep confidential places private.

The directory is kept by people in spreadsheets. :func:`read_services_table` accepts what they
really have (CSV in UTF-8 or Windows-1252, Excel ``.xlsx``, GeoJSON, Open Referral UK JSON);
:func:`validate_services` lists every problem at once, each with the row and column a person
sees in their spreadsheet and a fix; :func:`load_services` builds the canonical frame described
in :mod:`servicemap.directory.schema`; :func:`public_services` blanks every location of a
confidential
service (refuges, safe houses) and must sit between that frame and any output.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import io
import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from servicemap._data import data_path
from servicemap._progress import status
from servicemap.directory.schema import (
    FIELD_BY_HEADER_KEY,
    FIELDS,
    HEADER_HINTS,
    HEADER_SYNONYMS,
    LIST_FIELDS,
    LOCATION_FIELDS,
    PRIVATE_HEADER,
    REQUIRED,
    VOCABULARIES,
    YES_NO_UNKNOWN,
    header_key,
    header_words,
    split_list,
)
from servicemap.errors import DataQualityWarning, ServicesFileError
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    import geopandas as gpd

Severity = Literal["error", "warning"]

#: Column added by :func:`read_services_table`: the spreadsheet row (header = row 1) of each
#: record, or the record number (1, 2, …) for JSON and GeoJSON.
ROW = "row"

#: A cell longer than this is an error: almost always an unclosed quote mark that swallowed
#: the rows after it. The longest note in the bundled directory is about 1,100 characters.
MAX_CELL_CHARS = 10_000

#: A services file larger than this (bytes) is refused before it is read.
MAX_FILE_BYTES = 250_000_000

# How many rows from the top may hold a title or notes above the header row.
_HEADER_SEARCH_ROWS = 20

#: ``last_seen`` older than this many months (before today) is a warning.
STALE_MONTHS = 18

#: Coordinates further than this from every postcode centroid are "at sea" (metres).
NEAR_POSTCODE_METRES = 10_000

#: A postcode and coordinates further apart than this (metres) are reported.
POSTCODE_COORDINATE_METRES = 5_000

# Rough bounds of the United Kingdom in degrees (Scilly to Shetland, Northern Ireland to Kent).
_UK_LATITUDE = (49.8, 60.9)
_UK_LONGITUDE = (-8.7, 1.8)

_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
_LAST_SEEN = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_SPREADSHEET_ERRORS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"}
)
# Characters no cell may hold: control characters other than tab and line breaks (NUL, ESC,
# DEL, the C1 controls), the bidirectional overrides that make text display other than it
# reads, a stray byte order mark, and half a surrogate pair (from a JSON "\\ud800" escape, which
# no UTF-8 output can hold). They are invisible, and would be copied into every output.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202d\u202e\ufeff\ud800-\udfff]")
_CONTROL_NAMES = {
    0x00: "NUL",
    0x07: "BEL",
    0x08: "backspace",
    0x0B: "vertical tab",
    0x0C: "form feed",
    0x1B: "ESC",
    0x7F: "DEL",
    0x202D: "left-to-right override",
    0x202E: "right-to-left override",
    0xFEFF: "byte order mark",
}
# Columns that are not fields but whose values belong in one: header key -> (field, fix).
_COLUMN_HINTS = {header_key(header): hint for header, hint in HEADER_HINTS.items()}
# What a confidential service's address, postcode or coordinates become in a message.
_WITHHELD = "(withheld)"
_YES_NO_SYNONYMS = {"y": "yes", "n": "no", "true": "yes", "false": "no"}

_FIX_ENCODING = (
    "in Excel use File > Save As > 'CSV UTF-8 (Comma delimited)'; "
    "check accented letters and symbols such as £ and ’ meanwhile."
)
_FIX_AREAS = (
    "use police force, local authority district, county or region names as ONS spells "
    "them, or 'Wales', 'England', 'England and Wales', separated by ';'."
)


@dataclass(frozen=True)
class Problem:
    """One problem in a services file, located as a person sees it in their spreadsheet.

    Attributes
    ----------
    severity
        ``"error"`` (the file cannot be used until it is fixed) or ``"warning"`` (usable, but
        doubtful).
    file
        The file, as the user named it.
    row
        The spreadsheet row (header = row 1, first record = row 2); for JSON and GeoJSON the
        record number (first = 1); None for a problem with the whole file.
    column
        The schema field (or the column as written) concerned, or None.
    value
        The offending value (shortened if very long), or None.
    message
        What is wrong, as a sentence.
    fix
        How to fix it, as a sentence.
    code
        A short stable name of the kind of problem (e.g. ``"unknown-postcode"``).
    """

    severity: Severity
    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    fix: str = ""
    code: str = ""

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:{self.row}"
        column = f" column {self.column!r}:" if self.column else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}:{column} {self.message}{fix}"

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as a plain dict (for JSON and CSV output)."""
        return asdict(self)


class _Report:
    """Collects problems for one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        fix: str = "",
        *,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        shown = None if value is None else _shorten(value, 200)
        self.problems.append(Problem(severity, self.file, row, column, shown, message, fix, code))

    def error(self, code: str, message: str, fix: str = "", **where: Any) -> None:
        self.add("error", code, message, fix, **where)

    def warning(self, code: str, message: str, fix: str = "", **where: Any) -> None:
        self.add("warning", code, message, fix, **where)


class _UnreadableError(ServicesFileError):
    """The file is not a table at all; carries the message and the fix separately."""

    def __init__(self, file: str, message: str, fix: str) -> None:
        super().__init__(f"Services file {file!r} {message} Fix: {fix}")
        self.file = file
        self.message = message
        self.fix = fix


def _shorten(text: str, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(text: str) -> str:
    """Return ``repr`` of a value for a message, shortened so a 10 MB cell stays readable."""
    text = str(text)
    if len(text) > 60:
        return repr(text[:57]) + f"… ({len(text):,} characters)"
    return repr(text)


def _visible(text: str) -> str:
    """Return text with its control characters written as escapes (``\\x00``, ``\\u202e``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _control_problem(text: str) -> tuple[str, str, str] | None:
    """Describe the first control character in ``text``: message, fix and the value to show.

    None if there is none. The value shown is the text around the character, escaped.
    """
    found = _CONTROL.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code < 0xE000:
        label = "unpaired surrogate"
    else:
        label = _CONTROL_NAMES.get(code, "control character")
    count = len(_CONTROL.findall(text))
    more = f" (and {count - 1} more)" if count > 1 else ""
    start, end = max(0, found.start() - 25), found.start() + 25
    before, after = ("…" if start else ""), ("…" if end < len(text) else "")
    return (
        f"holds an invisible {label} (U+{code:04X}) at character {found.start() + 1:,}{more}: "
        f"{before}{text[start:end]!r}{after}; it would be copied into every output.",
        "delete it: retype the value, or use Find and Replace, then save the file again.",
        before + _visible(text[start:end]) + after,
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --------------------------------------------------------------------------------------------
# Reading: bytes → (column names, text cells, spreadsheet rows)
# --------------------------------------------------------------------------------------------


@dataclass
class _RawTable:
    """A table as read: its column names as written, cells as text, and row numbers."""

    columns: list[str]
    cells: pd.DataFrame  # positional columns 0..len(columns)-1, text
    rows: np.ndarray[Any, np.dtype[np.int64]]
    kind: str  # "CSV", "Excel", "GeoJSON", "JSON", "Open Referral UK"
    header_row: int | None  # spreadsheet row of the header; None for JSON
    # Rows already reported as not read as they stand (values in the wrong columns, or of the
    # wrong type): they are left out of the other checks.
    shifted: frozenset[int] = frozenset()


def _read_raw(path: Path, report: _Report) -> _RawTable:
    before = len(report.problems)
    raw = _read_any(path, report)
    # A record with a value the reader could not take (wrong JSON type, NaN, a formula with
    # no value) is reported once; the checks of its fields would only repeat it.
    unread = {p.row for p in report.problems[before:] if p.severity == "error" and p.row}
    if raw.header_row is not None:
        unread.discard(raw.header_row)
    raw.shifted = raw.shifted | frozenset(unread)
    return raw


def _read_any(path: Path, report: _Report) -> _RawTable:
    file = report.file
    if not path.exists():
        raise _UnreadableError(file, "does not exist.", "check the path and the file name.")
    if path.is_dir():
        raise _UnreadableError(
            file, "is a folder, not a file.", "give the path of the file inside it."
        )
    if not (path.is_file() or path.is_fifo()):
        raise _UnreadableError(
            file, "is not a file (it is a device or socket).", "give the path of a saved file."
        )
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _UnreadableError(
            file, f"cannot be read ({exc.strerror}).", "check the file's permissions."
        ) from exc
    if len(data) > MAX_FILE_BYTES:
        raise _UnreadableError(
            file,
            f"is larger than {MAX_FILE_BYTES // 1_000_000:,} MB, far more than any services "
            "directory (100,000 services take about 30 MB as CSV).",
            "check that it is the right file.",
        )
    suffix = path.suffix.lower()
    if not data.strip():
        raise _UnreadableError(
            file,
            "is empty.",
            "save the directory again with a header row and one row per service.",
        )
    if data.startswith(b"PK\x03\x04"):
        return _read_excel(path, data, report)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _UnreadableError(
            file,
            "is an old Excel 97-2003 (.xls) workbook or a password-protected one.",
            "open it in Excel and use File > Save As > 'Excel Workbook (.xlsx)' or "
            "'CSV UTF-8', without a password.",
        )
    if data.startswith(b"%PDF"):
        raise _UnreadableError(
            file, "is a PDF document, not a table.", "export the table as CSV or .xlsx."
        )
    if suffix in {".xlsx", ".xlsm"}:
        raise _UnreadableError(
            file,
            "has an Excel name but is not an Excel workbook.",
            "open it in Excel and save it again as .xlsx, or rename it to .csv if it is text.",
        )
    text = _decode(data, report)
    head = text.lstrip()[:200].lower()
    if head.startswith(("{", "[")):
        return _read_json(path, text, report)
    if head.startswith(("<!doctype html", "<html", "<head", "<body", "<table", "<?xml", "<")):
        kind = "XML" if head.startswith("<?xml") else "a web page (HTML)"
        raise _UnreadableError(
            file,
            f"is {kind}, not a table.",
            "download or export the directory as CSV or .xlsx (in a web browser, 'Save "
            "page as' saves the page, not the table).",
        )
    if suffix in {".json", ".geojson"}:
        return _read_json(path, text, report)
    return _read_csv(text, report)


def _decode(data: bytes, report: _Report) -> str:
    file = report.file
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _UnreadableError(
                file, "starts like UTF-16 text but is not.", "save it again as CSV UTF-8."
            ) from exc
    binary = _UnreadableError(
        file,
        "is not a text table (it holds binary data).",
        "give a CSV, .xlsx, GeoJSON or Open Referral UK JSON file.",
    )
    # Many NUL bytes near the start mean binary data (or UTF-16 without its byte order mark);
    # a stray few are reported cell by cell, wherever they are in the file (_check_cells).
    if data[:65536].count(b"\x00") > 8:
        raise binary
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    else:
        if _mostly_controls(text):
            raise binary
        return text
    try:
        text = body.decode("cp1252")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    if _mostly_controls(text):
        raise binary
    line = body.count(b"\n", 0, bad) + 1
    report.warning(
        "encoding",
        f"is not UTF-8 (first at line {line}, byte {body[bad]:#04x}); it was read as Windows-1252.",
        _FIX_ENCODING,
    )
    return text


def _mostly_controls(text: str) -> bool:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\f")
    return controls > max(8, len(sample) // 100)


@contextmanager
def _csv_field_limit() -> Iterator[None]:
    # Python's csv module refuses fields over 128 KiB by default; a 10 MB cell must still be
    # read so that it can be reported with its row and column.
    old = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _sniff_delimiter(text: str) -> str:
    first = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 and counts[best] > counts[","] else ","


def _read_csv(text: str, report: _Report) -> _RawTable:
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        with _csv_field_limit():
            records = list(reader)
    except csv.Error as exc:
        raise _UnreadableError(
            report.file,
            f"could not be read as CSV at line {reader.line_num} ({exc}).",
            "open it in a spreadsheet and save it again as CSV UTF-8.",
        ) from exc
    return _table_from_records(records, report, kind="CSV")


def _table_from_records(records: list[list[str]], report: _Report, *, kind: str) -> _RawTable:
    """Find the header row and turn the rows below it into stripped text cells.

    The header is the first non-empty row, unless a title or note sits above it: then it is
    the first of the top rows that names at least two servicemap fields.
    """
    stripped = [[c.strip() for c in rec] for rec in records]
    filled = [i for i, rec in enumerate(stripped[:_HEADER_SEARCH_ROWS]) if any(rec)]
    if not filled:
        raise _UnreadableError(
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
        control = _control_problem(name)
        if control is not None:
            message, fix, shown = control
            report.error(
                "control-character",
                f"the column name {message}",
                fix,
                row=start + 1,
                column=_FIELD_BY_KEY.get(_column_key(name), _visible(name)),
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
    return _RawTable(
        header, cells, np.asarray(rows, dtype=np.int64), kind, start + 1, frozenset(shifted)
    )


def _known_fields(cells: Sequence[str]) -> int:
    return len({_FIELD_BY_KEY[k] for k in map(_column_key, cells) if k in _FIELD_BY_KEY})


def _cell_text(value: Any) -> str:
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
        return ";".join(_cell_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _read_excel(path: Path, data: bytes, report: _Report) -> _RawTable:
    import zipfile

    file = report.file
    if b"opendocument" in data[:200]:
        raise _UnreadableError(
            file,
            "is an OpenDocument spreadsheet (.ods), not an Excel .xlsx workbook.",
            "save it as 'Excel 2007-365 (.xlsx)' or as CSV (UTF-8).",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except Exception as exc:  # BadZipFile, or a header so broken zipfile fails otherwise
        raise _UnreadableError(
            file,
            "is a damaged Excel workbook: the file is cut off or corrupt (it is not a "
            "complete zip archive).",
            _FIX_DAMAGED,
        ) from exc
    _check_workbook_parts(archive, file)
    records = _excel_records(data, archive, file)
    if not any(any(c.strip() for c in rec) for rec in records.values):
        raise _UnreadableError(
            file,
            f"has an empty sheet {records.sheet!r}.",
            "put the directory on the first sheet, or on a sheet named 'services'.",
        )
    raw = _table_from_records(records.values, report, kind="Excel")
    if raw.header_row is not None and any(_has_formulas(archive, name) for name in names):
        _report_formulas_without_values(data, records.sheet, raw, report)
    return raw


_FIX_DAMAGED = (
    "open it in Excel (which can often repair a damaged file) and save it again as .xlsx, or "
    "export it as CSV UTF-8; if it was downloaded or emailed, get a fresh copy."
)

#: A workbook whose parts unzip to more than this many bytes is refused: it is not a services
#: directory (100,000 services take about 40 MB) but a damaged file or a "zip bomb".
MAX_WORKBOOK_BYTES = 500_000_000


def _check_workbook_parts(archive: Any, file: str) -> None:
    """Refuse zip files that are not workbooks, or that would unzip to a huge size."""
    names = set(archive.namelist())
    if not any(name.startswith("xl/") for name in names):
        kinds = {"word/": "a Word document (.docx)", "ppt/": "a PowerPoint file (.pptx)"}
        kind = next(
            (k for prefix, k in kinds.items() if any(n.startswith(prefix) for n in names)),
            "a zip archive",
        )
        raise _UnreadableError(
            file,
            f"is {kind}, not an Excel workbook.",
            "give the directory as a CSV or .xlsx file (unzip an archive first).",
        )
    size = sum(info.file_size for info in archive.infolist() if info.filename.endswith("xml"))
    if size > MAX_WORKBOOK_BYTES:
        raise _UnreadableError(
            file,
            f"would unzip to {size / 1e6:,.0f} MB of spreadsheet data, far more than any services "
            f"directory (the limit is {MAX_WORKBOOK_BYTES / 1e6:,.0f} MB).",
            "export the directory as CSV UTF-8, or check that the file is the right one.",
        )


def _workbook_damage(archive: Any, exc: Exception) -> str:
    """Say which part of a workbook openpyxl could not read, and why."""
    import xml.parsers.expat

    names = archive.namelist()
    if "[Content_Types].xml" not in names:
        return "it has no '[Content_Types].xml' part, which every workbook has"
    for info in archive.infolist():
        try:
            content = archive.read(info)
        except Exception:  # a bad CRC, a broken deflate stream, a cut-off member
            return f"its part {info.filename!r} is corrupt (it cannot be unzipped)"
        if info.filename.endswith((".xml", ".rels")):
            parser = xml.parsers.expat.ParserCreate()
            try:
                parser.Parse(content, True)
            except xml.parsers.expat.ExpatError as error:
                return (
                    f"its part {info.filename!r} is cut off or is not valid XML "
                    f"({xml.parsers.expat.ErrorString(error.code)}, line {error.lineno})"
                )
    if "no valid workbook part" in str(exc):
        return "its '[Content_Types].xml' names no workbook part"
    return f"openpyxl could not read it ({type(exc).__name__}: {exc})"


@dataclass
class _SheetValues:
    sheet: str
    values: list[list[str]]


def _excel_records(data: bytes, archive: Any, file: str) -> _SheetValues:
    import openpyxl

    try:
        with warnings.catch_warnings():
            # openpyxl warns about unsupported extensions (data validation, conditional
            # formatting); they do not affect the cell values.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a damaged workbook fails in many ways inside openpyxl
        raise _UnreadableError(
            file, f"is a damaged Excel workbook: {_workbook_damage(archive, exc)}.", _FIX_DAMAGED
        ) from exc
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise _UnreadableError(file, "has no worksheets.", "add a sheet named 'services'.")
        named = [ws for ws in sheets if str(ws.title).strip().lower() == "services"]
        sheet = named[0] if named else sheets[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = [
                [_cell_text(_unescape_ooxml(v)) for v in values]
                for values in sheet.iter_rows(min_row=1, values_only=True)
            ]
    except _UnreadableError:
        raise
    except Exception as exc:
        raise _UnreadableError(
            file, f"is a damaged Excel workbook: {_workbook_damage(archive, exc)}.", _FIX_DAMAGED
        ) from exc
    finally:
        workbook.close()
    return _SheetValues(str(sheet.title), records)


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape_ooxml(value: Any) -> Any:
    """Decode Excel's ``_xHHHH_`` escapes (how a workbook stores control characters).

    openpyxl leaves them as written, so a cell Excel shows with a control character would
    otherwise be read as the text ``_x0007_``; ``_x005F_`` is an escaped underscore.
    """
    if not isinstance(value, str) or "_x" not in value:
        return value
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _has_formulas(archive: Any, name: str) -> bool:
    if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
        return False
    return bool(_FORMULA.search(archive.read(name)))


def _report_formulas_without_values(
    data: bytes, sheet: str, raw: _RawTable, report: _Report
) -> None:
    """Report formula cells with no saved value: openpyxl reads them as empty.

    A workbook written by a program that does not calculate (a script, some exporters) keeps
    the formula but no result; Excel would show the result, servicemap would see nothing.
    """
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            formulas = list(workbook[sheet].iter_rows(min_row=1, values_only=True))
        finally:
            workbook.close()
    rows = {int(row): index for index, row in enumerate(raw.rows)}
    for number, values in enumerate(formulas, start=1):
        if number not in rows:
            continue
        for position, value in enumerate(values[: len(raw.columns)]):
            formula = getattr(value, "text", value)  # an ArrayFormula keeps its text apart
            if not (isinstance(formula, str) and formula.startswith("=")):
                continue
            if raw.cells.iat[rows[number], position] != "":
                continue  # it has a saved value, which is what Excel shows
            name = raw.columns[position]
            report.error(
                "formula-without-value",
                f"holds the formula {_show(formula)} but no saved value (the program that "
                "wrote the file did not calculate it), so servicemap cannot see what it shows.",
                "open the file in Excel or LibreOffice and save it again (that saves the "
                "values), or type the value in instead of the formula.",
                row=number,
                column=_FIELD_BY_KEY.get(_column_key(name), name),
                value=formula,
            )


def _read_json(path: Path, text: str, report: _Report) -> _RawTable:
    from servicemap._json import JSONInputError, loads_strict

    file = report.file
    try:
        document = loads_strict(text)
    except json.JSONDecodeError as exc:
        raise _UnreadableError(
            file,
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            "export it again, or check it with a JSON validator.",
        ) from exc
    except JSONInputError as exc:
        raise _UnreadableError(file, exc.message, exc.fix) from exc
    if isinstance(document, dict) and document.get("type") in ("FeatureCollection", "Feature"):
        return _read_geojson(document, report)
    if _is_records_table(document):
        return _records_table(document, report, kind="JSON")
    if isinstance(document, list) and not all(isinstance(d, dict) for d in document):
        kinds = sorted({type(d).__name__ for d in document if not isinstance(d, dict)})
        raise _UnreadableError(
            file,
            f"is a JSON list of {', '.join(_json_kind(k) for k in kinds)}, not a table of "
            "services.",
            "give GeoJSON (a FeatureCollection of services), Open Referral UK JSON, or "
            "a CSV/.xlsx file.",
        )
    if isinstance(document, list) and not document:
        raise _UnreadableError(
            file,
            "is an empty JSON list: it holds no services.",
            "export the directory again with its services.",
        )
    if not isinstance(document, dict | list):
        raise _UnreadableError(
            file,
            f"is a single JSON value ({_shorten(json.dumps(document), 40)}), not a table of "
            "services.",
            "give GeoJSON (a FeatureCollection of services), Open Referral UK JSON, or "
            "a CSV/.xlsx file.",
        )
    return _read_oruk(document, report)


def _json_kind(name: str) -> str:
    return {
        "int": "numbers",
        "float": "numbers",
        "str": "strings",
        "bool": "true/false values",
        "list": "lists",
        "NoneType": "nulls",
    }.get(name, name)


def _is_records_table(document: Any) -> bool:
    """Return whether JSON is a plain list of flat records using servicemap's own fields.

    Open Referral UK services are also objects with ``id`` and ``name``; a list is read as a
    table of servicemap fields only if it uses a field ORUK does not have (e.g. ``scope``).
    """
    if not isinstance(document, list) or not document:
        return False
    if not all(isinstance(d, dict) for d in document):
        return False
    own = {_column_key(f) for f in ("scope", "areas_served", "service_types", "source_url")}
    keys = {_column_key(str(k)) for d in document for k in d}
    flat = all(
        not isinstance(v, dict)
        and not (isinstance(v, list) and any(isinstance(i, dict | list) for i in v))
        for d in document
        for v in d.values()
    )
    return flat and bool(keys & own)


def _records_table(
    documents: Sequence[Mapping[str, Any]], report: _Report, *, kind: str
) -> _RawTable:
    columns: dict[str, None] = {}
    for record in documents:
        columns.update(dict.fromkeys(str(k) for k in record))
    names = list(columns)
    for name in names:
        control = _control_problem(name)
        if control is not None:
            message, fix, shown = control
            report.error(
                "control-character",
                f"the field name {message}",
                fix,
                column=_FIELD_BY_KEY.get(_column_key(name), _visible(name)),
                value=shown,
            )
    body = []
    for number, record in enumerate(documents, start=1):
        cells_of_record = []
        for name in names:
            value = record.get(name)
            if _json_value_problem(value, name, report, row=number):
                value = None
            cells_of_record.append(_cell_text(value).strip())
        body.append(cells_of_record)
    cells = pd.DataFrame(body, columns=range(len(names)), dtype=object)
    rows = np.arange(1, len(documents) + 1, dtype=np.int64)
    return _RawTable(names, cells, rows, kind, None)


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _json_value_problem(value: Any, name: str, report: _Report, *, row: int) -> bool:
    """Report a JSON field value that is not text, a number, true/false, null or a list of them.

    Returns whether there was a problem (the value is then read as empty).
    """
    items = value if isinstance(value, list) else [value]
    if any(_non_finite(item) for item in items):
        shown = json.dumps(value)
        report.error(
            "not-a-number",
            f"is {_show(shown)}, not a finite number (NaN, Infinity, or a number too large "
            "to hold, such as 1e400).",
            f"give {name!r} a real number, or null if there is none.",
            row=row,
            column=name,
            value=shown,
        )
        return True
    if any(isinstance(item, dict | list) for item in items):
        shown = json.dumps(value, ensure_ascii=False)
        kind = "an object" if isinstance(value, dict) else "a list holding lists or objects"
        report.error(
            "bad-type",
            f"is {kind} ({_show(shown)}); a service's field holds text, a number, true/false, "
            "null or a list of those.",
            f'give {name!r} as text, e.g. "{name}": "…", or a list of texts.',
            row=row,
            column=name,
            value=shown,
        )
        return True
    return False


def _read_geojson(document: Mapping[str, Any], report: _Report) -> _RawTable:
    file = report.file
    crs = document.get("crs")
    if isinstance(crs, dict):
        properties = crs.get("properties")
        name = str(properties.get("name", "")) if isinstance(properties, dict) else ""
        if name and not re.search(r"(CRS84|EPSG:+4326)$", name):
            raise _UnreadableError(
                file,
                f"declares the coordinate system {name!r}; GeoJSON must be longitude/latitude "
                "(EPSG:4326).",
                "export it again as GeoJSON in WGS 84 (EPSG:4326).",
            )
    if document.get("type") == "Feature":
        features: Any = [document]
    else:
        features = document.get("features")
    if not isinstance(features, list):
        raise _UnreadableError(
            file,
            "is a GeoJSON FeatureCollection without a 'features' list.",
            "export it again; each service must be a Feature with a Point geometry.",
        )
    if not features:
        raise _UnreadableError(
            file, "is a GeoJSON FeatureCollection with no features.", "add the services."
        )
    records: list[dict[str, Any]] = []
    for number, feature in enumerate(features, start=1):
        record: dict[str, Any] = {}
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            report.error(
                "bad-feature",
                "is not a GeoJSON Feature.",
                "each item of 'features' must be an object with type 'Feature'.",
                row=number,
            )
            records.append(record)
            continue
        properties = feature.get("properties") or {}
        if isinstance(properties, dict):
            record.update({str(k): v for k, v in properties.items()})
        else:
            report.error(
                "bad-feature",
                "has 'properties' that are not an object.",
                "give the service's fields as an object of name: value.",
                row=number,
            )
        geometry = feature.get("geometry")
        if geometry is None:
            pass
        elif not isinstance(geometry, dict) or geometry.get("type") != "Point":
            shown = geometry.get("type") if isinstance(geometry, dict) else geometry
            report.error(
                "bad-geometry",
                f"has geometry {_show(str(shown))}; a service needs a Point at its location, "
                "or null if it has none.",
                "give a Point [longitude, latitude], or null.",
                row=number,
                column="geometry",
                value=str(shown),
            )
        else:
            coords = geometry.get("coordinates")
            if isinstance(coords, list) and len(coords) in (2, 3) and all(map(_finite, coords)):
                record["longitude"], record["latitude"] = coords[0], coords[1]
            else:
                report.error(
                    "bad-geometry",
                    f"has Point coordinates {_show(json.dumps(coords))}, which are not "
                    "[longitude, latitude] numbers.",
                    "give the Point as [longitude, latitude], e.g. [-0.1276, 51.5072].",
                    row=number,
                    column="geometry",
                    value=json.dumps(coords),
                )
        records.append(record)
    return _records_table(records, report, kind="GeoJSON")


def _finite(value: Any) -> bool:
    """Return whether a JSON value is a finite number (not true/false, NaN or 1e400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _read_oruk(document: Any, report: _Report) -> _RawTable:
    from servicemap.directory.openreferral import services_from_oruk

    file = report.file
    try:
        frame, problems = services_from_oruk(document, source=file)
    except ServicesFileError as exc:
        message = str(exc)
        for prefix in (f"Services file '{file}': ", f"Services file '{file}' "):
            message = message.removeprefix(prefix)
        raise _UnreadableError(
            file,
            message if message.endswith(".") else message + ".",
            "give GeoJSON, Open Referral UK JSON or a CSV/.xlsx file (see docs/schema.md).",
        ) from exc
    for problem in problems:
        report.add(
            problem.severity,
            problem.code,
            problem.message,
            problem.fix,
            row=problem.service,
            column=problem.field,
            value=problem.value,
        )
    names = [str(c) for c in frame.columns]
    cells = pd.DataFrame(
        [[_cell_text(v).strip() for v in record] for record in frame[names].to_numpy()],
        columns=range(len(names)),
        dtype=object,
    )
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return _RawTable(names, cells.reset_index(drop=True), rows, "Open Referral UK", None)


# --------------------------------------------------------------------------------------------
# Columns: names as written → schema fields
# --------------------------------------------------------------------------------------------


def _column_key(name: str) -> str:
    return header_key(name)


_FIELD_BY_KEY = FIELD_BY_HEADER_KEY


def _likely_field(key: str) -> tuple[str, str] | None:
    """Return the field an unknown column may be, and how to make it so; None if no guess.

    In order: a known non-field header (``Town`` → ``address``); an accepted header the name
    ends with (the English head noun comes last: ``Organisation website`` → ``website``); the
    closest accepted header (a typo); an accepted header the name contains.
    """
    if key in _COLUMN_HINTS:
        return _COLUMN_HINTS[key]
    known = [*_COLUMN_HINTS, *_FIELD_BY_KEY]
    ends = [k for k in known if len(k) >= 5 and key.endswith(k)]
    close = (
        [max(ends, key=len)] if ends else difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    )
    if not close:
        inside = [k for k in known if len(k) >= 5 and k in key]
        close = [max(inside, key=len)] if inside else []
    if not close:
        return None
    if close[0] in _COLUMN_HINTS:
        return _COLUMN_HINTS[close[0]]
    field = _FIELD_BY_KEY[close[0]]
    return field, (
        f"if it holds the {field!r} field, rename it {field!r} (docs/schema.md lists every "
        "header servicemap accepts)."
    )


# Words a private header is spelt with, for catching their typos ("Confidental").
_PRIVATE_WORDS = (
    "confidential",
    "confidentiality",
    "private",
    "secret",
    "hidden",
    "withheld",
    "withhold",
    "undisclosed",
)


def _private_hint(name: str, key: str) -> str | None:
    """Return why a header suggests a private place, or None if it does not."""
    words = header_words(name)
    match = PRIVATE_HEADER.search(words)
    if match:
        return f"says {match.group(0)!r}"
    for word in words.split():
        close = difflib.get_close_matches(word, _PRIVATE_WORDS, n=1, cutoff=0.85)
        if close:
            return f"says {word!r}, like {close[0]!r}"
    guess = _likely_field(key)
    if guess is not None and guess[0] == "location_confidential":
        return "looks like 'location_confidential'"
    return None


def _fit_columns(raw: _RawTable, report: _Report) -> tuple[pd.DataFrame, set[str]]:
    """Return the table with exactly FIELDS (+ ROW) as text, and the set of missing fields.

    Headers match :data:`servicemap.directory.schema.HEADER_SYNONYMS` after
    :func:`servicemap.directory.schema.header_key`. A column that is no field but whose header
    suggests
    a private place is an error, never ignored: it may be the only sign that a place is secret.
    """
    header_row = raw.header_row
    taken: dict[str, int] = {}
    unknown: list[str] = []
    for position, name in enumerate(raw.columns):
        field = _FIELD_BY_KEY.get(_column_key(name))
        if field is None:
            if name or (raw.cells[position] != "").any():
                unknown.append(name)
            continue
        if field in taken:
            first = raw.columns[taken[field]]
            report.error(
                "duplicate-column",
                f"columns {first!r} and {name!r} are both the field {field!r}; "
                "servicemap would not know which to use.",
                "delete or rename one of them.",
                row=header_row,
                column=field,
                value=name,
            )
            continue
        taken[field] = position
    found = [c for c in raw.columns if c]
    if not taken and found:
        report.error(
            "no-fields",
            f"has no column servicemap knows (found: {', '.join(found[:12])}"
            f"{', …' if len(found) > 12 else ''}); the first row must be the header.",
            "put a header row first, naming the columns as in docs/schema.md (id, name, "
            "scope, source_url, …).",
            row=header_row,
        )
        missing = set(FIELDS)
    else:
        missing = {f for f in FIELDS if f not in taken}
        for field in REQUIRED:
            if field in missing:
                accepted = ", ".join(repr(h) for h in HEADER_SYNONYMS.get(field, ())[:4])
                report.error(
                    "missing-column",
                    f"missing required column {field!r} (found: {', '.join(found)}).",
                    f"add a column named {field!r}"
                    + (f" (or {accepted})" if accepted else "")
                    + "; see docs/schema.md.",
                    row=header_row,
                    column=field,
                )
        for name in unknown:
            key = _column_key(name)
            private = _private_hint(name, key) if name else None
            if private is not None:
                report.error(
                    "private-column",
                    f"suggests private places (its header {private}) but is not the field "
                    "'location_confidential', so servicemap cannot tell which services must "
                    "stay private.",
                    "rename it 'location_confidential' and write yes (keep the location "
                    "private) or no (a public office) for each service; if it holds the "
                    "private addresses themselves, take it out of the file and set "
                    "'location_confidential' to yes for those services.",
                    row=header_row,
                    column=name,
                )
                continue
            guess = _likely_field(key) if name else None
            report.warning(
                "unknown-column",
                (
                    "is not a servicemap field; it is ignored."
                    if name
                    else "a column with no name holds values; it is ignored."
                )
                + (f" It may be {guess[0]!r}." if guess else ""),
                guess[1]
                if guess
                else "if it holds one of the fields in docs/schema.md, rename it to that "
                "field; otherwise leave it (servicemap ignores it) or move what matters into "
                "'notes'.",
                row=header_row,
                column=name or None,
            )
    count = len(raw.cells)
    columns: dict[str, Any] = {ROW: raw.rows}
    for field in FIELDS:
        if field in taken:
            columns[field] = raw.cells[taken[field]].to_numpy(dtype=object)
        else:
            columns[field] = np.full(count, "", dtype=object)
    return pd.DataFrame(columns, index=range(count)), missing


def _read(path: Path | str, report: _Report) -> tuple[pd.DataFrame, set[str], frozenset[int]]:
    raw = _read_raw(Path(path), report)
    frame, missing = _fit_columns(raw, report)
    return frame, missing, raw.shifted


def read_services_table(path: Path | str) -> pd.DataFrame:
    """Read a services directory file into a table of text, one row per service.

    Parameters
    ----------
    path
        A CSV file (UTF-8 with or without BOM; Windows-1252 is read with a warning; comma,
        semicolon or tab separated), an Excel ``.xlsx`` workbook (the sheet named
        ``services``, else the first sheet), GeoJSON (properties are the fields, a Point
        geometry gives ``latitude``/``longitude``) or Open Referral UK JSON. Column names match
        the schema ignoring case, spaces and punctuation; unknown columns are dropped with a
        warning; missing columns are empty.

    Returns
    -------
    pandas.DataFrame
        Column ``row`` (the spreadsheet row: header = 1, first record = 2; the record number
        for JSON) and every field of :data:`servicemap.directory.schema.FIELDS` as stripped text
        (``""`` when empty). Empty rows are skipped.

    Raises
    ------
    ServicesFileError
        If the file does not exist or is not a table (empty, binary, HTML, JSON that is not a
        services list or is nested more than 64 levels deep or repeats a key, a damaged
        workbook, a device, a file over :data:`MAX_FILE_BYTES`).
    """
    report = _Report(str(path))
    frame, _, _ = _read(path, report)
    for problem in report.problems:
        if problem.severity == "warning":
            warnings.warn(str(problem), DataQualityWarning, stacklevel=2)
    return frame


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _normalise_vocab(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def _canonical_term(field: str, value: str) -> str | None:
    """Return the vocabulary term ``value`` means, or None if it is not one."""
    term = _normalise_vocab(value)
    if VOCABULARIES[field] is YES_NO_UNKNOWN:
        term = _YES_NO_SYNONYMS.get(term, term)
    return term if term in VOCABULARIES[field] else None


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(_normalise_vocab(value), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_cells(frame: pd.DataFrame, report: _Report) -> None:
    """Control characters, huge cells, spreadsheet errors, rows swallowed by an open quote."""
    rows = frame[ROW].to_numpy()
    for field in FIELDS:
        values = frame[field].to_numpy(dtype=object)
        for index, value in enumerate(values):
            control = _control_problem(value)
            if control is not None:
                message, fix, shown = control
                report.error(
                    "control-character",
                    message,
                    fix,
                    row=int(rows[index]),
                    column=field,
                    value=shown,
                )
            if len(value) > MAX_CELL_CHARS:
                report.error(
                    "huge-cell",
                    f"value is {len(value):,} characters long (limit {MAX_CELL_CHARS:,}); a "
                    'quote mark (") that is not closed may have swallowed the rows after it.',
                    "close the quote, or shorten the value.",
                    row=int(rows[index]),
                    column=field,
                    value=_shorten(value),
                )
            elif "\n" in value and any(line.count(",") >= 4 for line in value.splitlines()[1:]):
                report.error(
                    "swallowed-rows",
                    f"value {_show(value)} spans several lines that look like rows; a quote "
                    'mark (") that is not closed may have swallowed them.',
                    "close the quote mark where the value should end.",
                    row=int(rows[index]),
                    column=field,
                    value=_shorten(value),
                )
            elif value in _SPREADSHEET_ERRORS:
                report.error(
                    "spreadsheet-error",
                    f"{value!r} is a spreadsheet error value, not data.",
                    "fix the formula, or type the value in.",
                    row=int(rows[index]),
                    column=field,
                    value=value,
                )


def _check_required(frame: pd.DataFrame, missing: set[str], report: _Report) -> None:
    fixes = {
        "id": "give each service a short unique id, e.g. 'sbs-southall'.",
        "name": "give the service's name as it is known to the public.",
        "scope": "give 'local', 'regional' or 'national'.",
        "source_url": "give the web page that shows the service exists.",
    }
    for field in REQUIRED:
        if field in missing:
            continue
        for row in frame.loc[frame[field] == "", ROW]:
            report.error(
                "empty-required",
                "is empty; every service needs one.",
                fixes.get(field, f"fill in {field!r}."),
                row=int(row),
                column=field,
                value="",
            )


def _check_ids(frame: pd.DataFrame, report: _Report) -> None:
    ids = frame["id"]
    rows = frame[ROW].to_numpy()
    for index in np.flatnonzero(ids.str.contains(";", regex=False).to_numpy()):
        value = ids.iat[index]
        parts = [part for part in value.split(";") if part.strip()]
        report.error(
            "bad-id",
            f"{_show(value)} contains ';', which separates the items of servicemap's lists, "
            f"so it would read as {_plural(len(parts), 'id')}.",
            "use letters, digits, '-' and '_' only, e.g. 'sbs-southall'.",
            row=int(rows[index]),
            column="id",
            value=value,
        )
    keys = ids.str.lower()
    repeated = keys.duplicated(keep="first") & (ids != "")
    if not repeated.any():
        return
    firsts = (ids != "") & ~keys.duplicated(keep="first")
    first_row = dict(zip(keys[firsts], frame.loc[firsts, ROW], strict=True))
    for index in np.flatnonzero(repeated.to_numpy()):
        value = ids.iat[index]
        first = int(first_row[keys.iat[index]])
        report.error(
            "duplicate-id",
            f"id {value!r} is already used on row {first}; ids must be unique.",
            f"give one of rows {first} and {int(frame[ROW].iat[index])} another id (keep "
            "the older one, which others may link to).",
            row=int(frame[ROW].iat[index]),
            column="id",
            value=value,
        )


def _check_vocabularies(frame: pd.DataFrame, report: _Report) -> pd.DataFrame:
    """Report values outside a vocabulary; return the frame with canonical terms."""
    out = frame.copy()
    for field, allowed in VOCABULARIES.items():
        column = frame[field]
        if field in LIST_FIELDS:
            out[field] = _check_list_vocab(frame, field, report)
            continue
        if field == "location_confidential":
            # Never an error: a value that is not clearly "no" is private (with a warning).
            out[field] = _check_confidentiality_values(frame, report)
            continue
        mapping: dict[str, str] = {}
        for value in column.unique():
            term = _canonical_term(field, value) if value != "" else ""
            mapping[value] = value if term is None else term
            if term is not None:
                continue
            for row in frame.loc[column == value, ROW]:
                report.error(
                    "bad-value",
                    f"{_show(value)} is not an allowed value.{_did_you_mean(value, allowed)}",
                    f"use one of: {', '.join(allowed)}.",
                    row=int(row),
                    column=field,
                    value=value,
                )
        out[field] = column.map(mapping)
    return out


def _check_list_vocab(frame: pd.DataFrame, field: str, report: _Report) -> pd.Series:
    allowed = VOCABULARIES[field]
    column = frame[field]
    canonical: dict[str, str] = {}
    bad: dict[str, list[str]] = {}
    for value in column.unique():
        terms: list[str] = []
        for item in split_list(value):
            term = _canonical_term(field, item)
            if term is None:
                bad.setdefault(value, []).append(item)
                terms.append(item)
            elif term not in terms:
                terms.append(term)
        canonical[value] = ";".join(terms)
    for value, items in bad.items():
        for row in frame.loc[column == value, ROW]:
            for item in items:
                report.error(
                    "bad-value",
                    f"{_show(item)} is not a service type.{_did_you_mean(item, allowed)}",
                    f"use one or more of: {', '.join(allowed)}, separated by ';'.",
                    row=int(row),
                    column=field,
                    value=item,
                )
    return column.map(canonical)


def _month_end(year: int, month: int) -> dt.date:
    if month == 12:
        return dt.date(year, 12, 31)
    return dt.date(year, month + 1, 1) - dt.timedelta(days=1)


def _months_before(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    return min(
        dt.date(year, month + 1, 1) + dt.timedelta(days=day.day - 1), _month_end(year, month + 1)
    )


def _last_seen_period(value: str) -> tuple[dt.date, dt.date] | None:
    """Return the first and last day of the period ``value`` names (YYYY, YYYY-MM, YYYY-MM-DD)."""
    match = _LAST_SEEN.match(value)
    if not match:
        return None
    year, month, day = match.groups()
    try:
        if day is not None:
            date = dt.date(int(year), int(month), int(day))
            return date, date
        if month is not None:
            return dt.date(int(year), int(month), 1), _month_end(int(year), int(month))
        if int(year) < 1:
            return None
        return dt.date(int(year), 1, 1), dt.date(int(year), 12, 31)
    except ValueError:
        return None


def _check_dates(frame: pd.DataFrame, report: _Report, today: dt.date) -> None:
    column = frame["last_seen"]
    cutoff = _months_before(today, STALE_MONTHS)
    for value in column.unique():
        if value == "":
            continue
        period = _last_seen_period(value)
        rows = frame.loc[column == value, ROW]
        if period is None:
            for row in rows:
                report.error(
                    "bad-date",
                    f"{_show(value)} is not a year, month or date.",
                    "write it as YYYY, YYYY-MM or YYYY-MM-DD, e.g. '2024' or '2024-09'.",
                    row=int(row),
                    column="last_seen",
                    value=value,
                )
        elif period[0] > today:
            for row in rows:
                report.error(
                    "future-date",
                    f"{value!r} is in the future (today is {today.isoformat()}).",
                    "give the date of the newest source that shows the service operating.",
                    row=int(row),
                    column="last_seen",
                    value=value,
                )
        elif period[1] < cutoff:
            for row in rows:
                report.warning(
                    "stale",
                    f"{value!r} is more than {STALE_MONTHS} months ago; the service may have "
                    "ended.",
                    "check that it still runs and update 'last_seen' (and 'status').",
                    row=int(row),
                    column="last_seen",
                    value=value,
                )


def _check_status(frame: pd.DataFrame, report: _Report) -> None:
    values = frame["status"].to_numpy(dtype=object)
    rows = frame[ROW].to_numpy()
    for index in np.flatnonzero(frame["status"].isin(["", "unknown"]).to_numpy()):
        value = values[index]
        report.warning(
            "status-unknown",
            "is empty, so it is not known whether the service still runs."
            if value == ""
            else "'unknown': it is not known whether the service still runs.",
            "set 'active' when a recent source shows it operating, or 'ended' if it closed.",
            row=int(rows[index]),
            column="status",
            value=value,
        )


def _check_urls(frame: pd.DataFrame, report: _Report) -> None:
    rows = frame[ROW].to_numpy()
    checks = (
        (
            "source_url",
            r"^https?://\S+$",
            "is not a web address (http:// or https://).",
            "give the full address of the page that shows the service, starting https://.",
        ),
        (
            "website",
            r"^(https?://)?[^\s/]+\.\S+$",
            "does not look like a web address.",
            "give the service's website, e.g. 'example.org.uk' or 'https://example.org.uk'.",
        ),
    )
    for field, pattern, message, fix in checks:
        column = frame[field]
        values = column.to_numpy(dtype=object)
        bad = (column != "") & ~column.str.match(pattern)
        for index in np.flatnonzero(bad.to_numpy()):
            report.warning(
                "bad-url",
                f"{_show(values[index])} {message}",
                fix,
                row=int(rows[index]),
                column=field,
                value=values[index],
            )


def _normalise_postcode(value: str) -> str:
    compact = re.sub(r"\s+", "", value.upper())
    return compact if len(compact) < 5 else f"{compact[:-3]} {compact[-3:]}"


def _geocode(
    postcodes: Sequence[str], *, settings: Settings, lookup: Callable[..., Any] | None
) -> pd.DataFrame:
    from servicemap.geography.geocode import geocode_postcodes

    return geocode_postcodes(list(postcodes), settings=settings, lookup=lookup, warn=False)


def _check_postcodes(
    frame: pd.DataFrame,
    report: _Report,
    *,
    has_coordinates: pd.Series,
    settings: Settings,
    lookup: Callable[..., Any] | None,
) -> pd.DataFrame:
    """Check postcodes; return per-row easting, northing, force_code (NaN/"" if not located)."""
    column = frame["postcode"]
    rows = frame[ROW].to_numpy()
    values = column.to_numpy(dtype=object)
    normal = pd.Series(_per_value(column, _normalise_postcode), index=frame.index)
    located = pd.DataFrame(
        {"easting": np.nan, "northing": np.nan, "force_code": ""}, index=frame.index
    )
    wellformed = {p for p in normal.unique() if p and _UK_POSTCODE.match(p)}
    for index in np.flatnonzero(((column != "") & ~normal.isin(wellformed)).to_numpy()):
        value = values[index]
        report.error(
            "bad-postcode",
            f"{_show(value)} is not a valid UK postcode (a postcode looks like 'SW1A 1AA').",
            "correct it, or leave it empty and give latitude/longitude.",
            row=int(rows[index]),
            column="postcode",
            value=value,
        )
    if not wellformed:
        return located
    status("Checking postcodes…")
    unique = sorted(wellformed)
    found = _geocode(unique, settings=settings, lookup=lookup).reset_index(drop=True)
    found.index = pd.Index(unique)
    by_row = found.reindex(normal.to_numpy())
    by_row.index = frame.index
    state = by_row["status"].fillna("")
    ok = state == "ok"
    located.loc[ok, "easting"] = by_row.loc[ok, "easting"].astype(float)
    located.loc[ok, "northing"] = by_row.loc[ok, "northing"].astype(float)
    located.loc[ok, "force_code"] = by_row.loc[ok, "force_code"].fillna("").astype(str)
    outside = state == "outside_england_wales"
    located.loc[outside, "easting"] = by_row.loc[outside, "easting"].astype(float)
    located.loc[outside, "northing"] = by_row.loc[outside, "northing"].astype(float)
    messages = {
        "unknown": (
            "error",
            "unknown-postcode",
            "is not a known postcode.",
            "check it against the letter or Royal Mail's finder, or leave it empty and give "
            "latitude/longitude.",
        ),
        "malformed": (
            "error",
            "bad-postcode",
            "is not a valid UK postcode (a postcode looks like 'SW1A 1AA').",
            "correct it, or leave it empty and give latitude/longitude.",
        ),
        "no_location": (
            "warning",
            "postcode-no-location",
            "is a real postcode but has no grid reference (often a PO Box or large-user "
            "postcode), so the service has no location.",
            "give the office's street postcode, or latitude/longitude.",
        ),
        "outside_england_wales": (
            "warning",
            "outside-england-wales",
            "is outside England and Wales, so the service is in no police force area.",
            "check the postcode; services outside England and Wales count only through "
            "'areas_served'.",
        ),
    }
    states = state.to_numpy(dtype=object)
    coordinates = has_coordinates.to_numpy(dtype=bool)
    for index in np.flatnonzero(((column != "") & ~ok & normal.isin(wellformed)).to_numpy()):
        kind = messages.get(states[index], messages["unknown"])
        severity, code, message, fix = kind
        if coordinates[index] and severity == "warning":
            continue  # the coordinates give the location
        value = values[index]
        report.add(
            "error" if severity == "error" else "warning",
            code,
            f"{_show(value)} {message}",
            fix,
            row=int(rows[index]),
            column="postcode",
            value=value,
        )
    return located


def _in_uk(lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return (
        (lat >= _UK_LATITUDE[0])
        & (lat <= _UK_LATITUDE[1])
        & (lon >= _UK_LONGITUDE[0])
        & (lon <= _UK_LONGITUDE[1])
    )


def _check_coordinates(frame: pd.DataFrame, report: _Report) -> tuple[pd.Series, pd.Series]:
    """Check latitude/longitude; return them as floats, NaN where not usable."""
    numbers = {}
    for field in ("latitude", "longitude"):
        text = frame[field]
        value = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
        bad = (text != "") & ~np.isfinite(value)
        for index in np.flatnonzero(bad.to_numpy()):
            shown = text.iat[index]
            if "," in shown:
                hint = " (use a point, not a comma, for decimals)"
            elif any(dash in shown for dash in "\u2212\u2013\u2014"):
                hint = " (use the plain minus sign '-', not a dash)"
            elif any(mark in shown for mark in "°′'\""):
                hint = " (give decimal degrees, not degrees and minutes)"
            else:
                hint = ""
            report.error(
                "bad-coordinate",
                f"{_show(shown)} is not a number{hint}.",
                "give decimal degrees, e.g. latitude 51.5072, longitude -0.1276.",
                row=int(frame[ROW].iat[index]),
                column=field,
                value=shown,
            )
        numbers[field] = value.where(~bad)
    lat, lon = numbers["latitude"], numbers["longitude"]
    text_lat, text_lon = frame["latitude"], frame["longitude"]
    for one, other, field, given in (
        (text_lat, text_lon, "longitude", "latitude"),
        (text_lon, text_lat, "latitude", "longitude"),
    ):
        for index in np.flatnonzero(((one != "") & (other == "")).to_numpy()):
            report.error(
                "one-coordinate",
                f"is empty but {given!r} is given; a location needs both.",
                "give both latitude and longitude, or neither (and a postcode).",
                row=int(frame[ROW].iat[index]),
                column=field,
                value="",
            )
    both = lat.notna() & lon.notna()
    lat_a, lon_a = lat.to_numpy(), lon.to_numpy()
    inside = _in_uk(lat_a, lon_a)
    for index in np.flatnonzero((both & ~inside).to_numpy()):
        y, x = float(lat_a[index]), float(lon_a[index])
        if _in_uk(np.array([x]), np.array([y]))[0]:
            hint = (
                "they look swapped (in the UK latitude is about 50 to 61, longitude about -8 to 2)."
            )
            fix = "swap the latitude and longitude values."
        elif _in_uk(np.array([y]), np.array([-x]))[0]:
            hint = (
                "the longitude looks like it has lost its minus sign (west of Greenwich is "
                "negative)."
            )
            fix = "write the longitude with a minus sign."
        elif min(x, y) >= 0 and max(x, y) <= 1_300_000 and max(x, y) > 1_000:
            hint = "they look like British National Grid eastings/northings in metres, not degrees."
            fix = "convert them to latitude/longitude (WGS 84), or give the postcode instead."
        else:
            hint = "that is outside the UK."
            fix = "check the values: give decimal degrees (WGS 84), or give the postcode instead."
        report.error(
            "outside-uk",
            f"latitude {y:g}, longitude {x:g}: {hint}",
            fix,
            row=int(frame[ROW].iat[index]),
            column="latitude",
            value=frame["latitude"].iat[index],
        )
    usable = both & inside
    return lat.where(usable), lon.where(usable)


def _coordinates_to_grid(
    lat: pd.Series, lon: pd.Series
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    easting = np.full(len(lat), np.nan)
    northing = np.full(len(lat), np.nan)
    mask = (lat.notna() & lon.notna()).to_numpy()
    if mask.any():
        from servicemap.geography.geocode import bng_from_wgs84

        e, n = bng_from_wgs84(lon.to_numpy()[mask], lat.to_numpy()[mask])
        easting[mask] = np.asarray(e, dtype=float)
        northing[mask] = np.asarray(n, dtype=float)
    return easting, northing


@lru_cache(maxsize=2)
def _postcode_tree(cache_dir: str) -> tuple[Any, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from scipy.spatial import cKDTree

    from servicemap.geography.postcodes import load_postcode_table

    table = load_postcode_table(settings=DEFAULT_SETTINGS.with_changes(cache_dir=Path(cache_dir)))
    located = table.has_location
    points = np.column_stack([table.easting[located], table.northing[located]]).astype(float)
    force_codes = np.append(table.force_codes.astype(str), "")
    return cKDTree(points), table.force[located], force_codes


def _forces_at(
    easting: np.ndarray[Any, Any], northing: np.ndarray[Any, Any], *, settings: Settings
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Return the force code of the nearest postcode to each point, and the distance to it.

    A point further than :data:`NEAR_POSTCODE_METRES` from any postcode gets ``""``; a point
    nearest a postcode outside England and Wales gets ``""`` too.
    """
    codes = np.full(len(easting), "", dtype=object)
    distance = np.full(len(easting), np.nan)
    mask = np.isfinite(easting) & np.isfinite(northing)
    if not mask.any():
        return codes, distance
    status("Finding the police force of each coordinate…")
    tree, force_index, force_codes = _postcode_tree(str(settings.cache_dir))
    dist, nearest = tree.query(np.column_stack([easting[mask], northing[mask]]))
    force = np.asarray(force_index[nearest], dtype=np.int64)
    found = np.where((force >= 0) & (dist <= NEAR_POSTCODE_METRES), force, len(force_codes) - 1)
    codes[mask] = force_codes[found]
    distance[mask] = dist
    return codes, distance


def _check_locations(
    frame: pd.DataFrame,
    report: _Report,
    *,
    settings: Settings,
    lookup: Callable[..., Any] | None,
) -> pd.DataFrame:
    """Check postcodes and coordinates; return the location columns of the canonical frame."""
    lat, lon = _check_coordinates(frame, report)
    has_coordinates = lat.notna() & lon.notna()
    by_postcode = _check_postcodes(
        frame, report, has_coordinates=has_coordinates, settings=settings, lookup=lookup
    )
    c_east, c_north = _coordinates_to_grid(lat, lon)
    force_at, distance = _forces_at(c_east, c_north, settings=settings)
    for index in np.flatnonzero(has_coordinates.to_numpy()):
        row = int(frame[ROW].iat[index])
        value = f"{lat.iat[index]:g}, {lon.iat[index]:g}"
        if not distance[index] <= NEAR_POSTCODE_METRES:
            report.warning(
                "far-from-postcodes",
                f"latitude/longitude {value} is {distance[index] / 1000:.0f} km from the "
                "nearest postcode (at sea?), so the service is in no police force area.",
                "check the coordinates.",
                row=row,
                column="latitude",
                value=frame["latitude"].iat[index],
            )
        elif force_at[index] == "":
            report.warning(
                "outside-england-wales",
                f"latitude/longitude {value} is outside England and Wales, so the service is "
                "in no police force area.",
                "check the coordinates; services outside England and Wales count only "
                "through 'areas_served'.",
                row=row,
                column="latitude",
                value=frame["latitude"].iat[index],
            )
        apart = float(
            np.hypot(
                c_east[index] - by_postcode["easting"].iat[index],
                c_north[index] - by_postcode["northing"].iat[index],
            )
        )
        if apart > POSTCODE_COORDINATE_METRES:
            report.warning(
                "postcode-far-from-coordinates",
                f"latitude/longitude {value} is {apart / 1000:.0f} km from postcode "
                f"{frame['postcode'].iat[index]!r}; the coordinates are used.",
                "correct whichever of the two is wrong.",
                row=row,
                column="postcode",
                value=frame["postcode"].iat[index],
            )
    use_coordinates = has_coordinates.to_numpy()
    out = pd.DataFrame(index=frame.index)
    out["latitude"] = lat.to_numpy()
    out["longitude"] = lon.to_numpy()
    out["easting"] = np.where(use_coordinates, c_east, by_postcode["easting"].to_numpy())
    out["northing"] = np.where(use_coordinates, c_north, by_postcode["northing"].to_numpy())
    out["force_code"] = np.where(use_coordinates, force_at, by_postcode["force_code"].to_numpy())
    by_pc = by_postcode["easting"].notna().to_numpy()
    out["location_source"] = np.where(
        use_coordinates, "coordinates", np.where(by_pc, "postcode", "")
    )
    return out


def _check_areas(frame: pd.DataFrame, report: _Report) -> tuple[pd.Series, pd.Series]:
    """Resolve ``areas_served``; report unknown names; return served districts and forces."""
    from servicemap.geography.areas import resolve_areas_served, served_districts, served_forces

    column = frame["areas_served"]
    districts: dict[str, tuple[str, ...]] = {"": ()}
    forces: dict[str, tuple[str, ...]] = {"": ()}
    for value in column.unique():
        if value == "":
            continue
        areas, unresolved = resolve_areas_served(value)
        districts[value] = tuple(served_districts(areas))
        forces[value] = tuple(served_forces(areas))
        for item, suggestions in unresolved:
            close = list(suggestions)[:3]
            hint = " Did you mean " + " or ".join(repr(s) for s in close) + "?" if close else ""
            for row in frame.loc[column == value, ROW]:
                report.error(
                    "unknown-area",
                    f"{_show(item)} is not an area servicemap knows.{hint}",
                    _FIX_AREAS,
                    row=int(row),
                    column="areas_served",
                    value=item,
                )
    return column.map(districts), column.map(forces)


def _check_placement(frame: pd.DataFrame, report: _Report) -> None:
    """Warn about services that cannot be placed, and accommodation withheld by default."""
    rows = frame[ROW].to_numpy()
    nowhere = (
        (frame["postcode"] == "")
        & (frame["latitude"] == "")
        & (frame["longitude"] == "")
        & (frame["areas_served"] == "")
        # A national service that names no area serves all of England and Wales (the rule
        # coverage.py applies), so it is placed after all.
        & (frame["scope"].str.strip().str.lower() != "national")
    )
    for index in np.flatnonzero(nowhere.to_numpy()):
        report.warning(
            "no-place",
            "the service has neither a location (postcode or latitude/longitude) nor "
            "'areas_served', so it is on no map and counts in no police force area.",
            "give the areas it serves (or a public office postcode).",
            row=int(rows[index]),
            column="areas_served",
            value="",
        )
    located = (frame["address"] != "") | (frame["postcode"] != "") | (frame["latitude"] != "")
    terms = pd.Series(
        _per_value(frame["location_confidential"], _confidentiality_term), index=frame.index
    )
    accommodation = _offers_accommodation(frame)
    named = _named_as_refuge(frame)
    values = frame["location_confidential"].to_numpy(dtype=object)
    names = frame["name"].to_numpy(dtype=object)
    for index in np.flatnonzero((located & (terms == "") & (accommodation | named)).to_numpy()):
        reason = (
            "offering refuge or housing"
            if accommodation.iat[index]
            else f"whose name {_show(names[index])} says refuge, safe house or shelter"
        )
        report.warning(
            "accommodation-withheld",
            f"is empty for a service {reason}, so its address and location are treated as "
            "confidential and never published.",
            "set 'no' if the address is a public office (not a refuge or safe house), or "
            "'yes' to confirm it must stay private.",
            row=int(rows[index]),
            column="location_confidential",
            value=values[index],
        )
    for index in np.flatnonzero((located & (terms == "no") & _only_refuge(frame)).to_numpy()):
        report.warning(
            "refuge-kept-private",
            f"is {_show(values[index])}, but the service's only type is refuge, so its "
            "address and location are still treated as confidential and never published.",
            "if the address is a public office, add the other service types it offers there; "
            "if it is the refuge, set 'yes'.",
            row=int(rows[index]),
            column="location_confidential",
            value=values[index],
        )


# --------------------------------------------------------------------------------------------
# The confidentiality rule
# --------------------------------------------------------------------------------------------

# location_confidential values that clearly say no / yes (after _normalise_vocab). Anything
# else that is not empty is "unclear", and unclear is private.
_CLEARLY_NO = frozenset({"no", "n", "false", "0"})
_CLEARLY_YES = frozenset({"yes", "y", "true", "1", "confidential", "private"})

# A name or service type that says refuge, safe house or shelter ("refugee" does not).
_REFUGE_WORDS = re.compile(r"\b(?:refuges?|safe[\s_-]*houses?|shelters?)\b", re.IGNORECASE)


def _confidentiality_term(value: Any) -> str:
    """Return ``"yes"``, ``"no"``, ``""`` (not said) or ``"unclear"`` for a confidentiality cell."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    term = _normalise_vocab(str(value)).strip("._!")
    if term == "":
        return ""
    if term in _CLEARLY_NO:
        return "no"
    return "yes" if term in _CLEARLY_YES else "unclear"


def _check_confidentiality_values(frame: pd.DataFrame, report: _Report) -> pd.Series:
    """Warn about confidentiality values that are not clearly yes or no; return canonical ones.

    ``yes``-like values become ``yes`` and ``no``-like ones ``no``; anything else that is not
    empty (``maybe``, ``tbc``, ``unknown``, ``Y - do not share``) becomes ``unknown``, which
    :func:`confidential_mask` treats as confidential, with a warning that says so.
    """
    column = frame["location_confidential"]
    canonical = {"yes": "yes", "no": "no", "": "", "unclear": "unknown"}
    mapping: dict[str, str] = {}
    rows = frame[ROW].to_numpy()
    for value in column.unique():
        term = _confidentiality_term(value)
        mapping[value] = canonical[term]
        if term != "unclear":
            continue
        for index in np.flatnonzero((column == value).to_numpy()):
            report.warning(
                "confidential-unclear",
                f"{_show(value)} is not clearly 'yes' or 'no', so the service is treated as "
                "confidential: its address and location are never published.",
                "write 'no' if the address is a public office (not a refuge or safe house), "
                "or 'yes' to confirm it must stay private.",
                row=int(rows[index]),
                column="location_confidential",
                value=value,
            )
    return column.map(mapping)


def _per_value(values: pd.Series, func: Callable[[str], Any]) -> list[Any]:
    """Apply ``func`` once per distinct value (columns repeat a few values many times)."""
    codes, uniques = pd.factorize(values.astype(str))
    results = [func(u) for u in uniques]
    return [results[c] for c in codes]


def _text_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Return a column as text (``""`` for a missing column, None, NaN or NA)."""
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        return "" if value is None or bool(pd.isna(value)) else str(value)

    return frame[name].map(text).astype(object)


def _types(value: str) -> list[str]:
    return [_normalise_vocab(t) for t in split_list(value)]


def _offers_accommodation(frame: pd.DataFrame) -> pd.Series:
    """Mark services whose types include refuge or housing, or say safe house or shelter."""

    def offers(value: str) -> bool:
        types = _types(value)
        return bool({"refuge", "housing"} & set(types)) or any(
            _REFUGE_WORDS.search(t.replace("_", " ")) for t in types
        )

    column = _text_column(frame, "service_types")
    return pd.Series(_per_value(column, offers), index=frame.index, dtype=bool)


def _only_refuge(frame: pd.DataFrame) -> pd.Series:
    """Mark services whose every type is a refuge (or a safe house or shelter)."""

    def only(value: str) -> bool:
        types = _types(value)
        return bool(types) and all(_REFUGE_WORDS.search(t.replace("_", " ")) for t in types)

    column = _text_column(frame, "service_types")
    return pd.Series(_per_value(column, only), index=frame.index, dtype=bool)


def _named_as_refuge(frame: pd.DataFrame) -> pd.Series:
    """Mark services whose name says refuge, safe house or shelter."""
    column = _text_column(frame, "name")
    found = _per_value(column, lambda v: bool(_REFUGE_WORDS.search(v.replace("_", " "))))
    return pd.Series(found, index=frame.index, dtype=bool)


def confidential_mask(services: pd.DataFrame) -> pd.Series:
    """Return True for each service whose location must never be published.

    This is the one statement of the confidentiality rule (``docs/schema.md``,
    "Confidentiality"). A service is confidential when

    1. ``location_confidential`` is anything but empty or clearly "no" (``no``, ``n``,
       ``false``, ``0``, any case): ``yes`` of course, and also ``maybe``, ``tbc``, ``unknown``
       or ``Y - do not share`` (validation warns about those);
    2. or every service type is ``refuge`` (a refuge-only service), whatever
       ``location_confidential`` says;
    3. or it offers ``refuge`` or ``housing``, or its name or service types say refuge, safe
       house or shelter (``Women's Refuge``, ``safehouse``, not ``refugee``), and
       ``location_confidential`` is not clearly "no".

    The invariant it serves: for any input, no output of servicemap (files, pages, tables,
    messages) holds a confidential service's address, postcode or coordinates.
    :func:`public_services` applies this rule again before every writer, and validation
    keeps those values out of its messages.

    Parameters
    ----------
    services
        A services frame: as read (text as written) or canonical. Missing columns count as
        empty.

    Returns
    -------
    pandas.Series
        Booleans on the frame's index.
    """
    terms = pd.Series(
        _per_value(_text_column(services, "location_confidential"), _confidentiality_term),
        index=services.index,
    )
    said = ~terms.isin(["", "no"])
    in_doubt = (_offers_accommodation(services) | _named_as_refuge(services)) & (terms != "no")
    return (said | _only_refuge(services) | in_doubt).astype(bool)


def _spellings(field: str, text: str) -> list[str]:
    """Return the ways a location value can appear in a message, longest first."""
    found = {text, _shorten(text), _shorten(text, 200), _show(text), repr(text)}
    if field in {"latitude", "longitude"}:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            found |= {f"{number:g}", repr(number), *(f"{number:.{d}f}" for d in range(3, 7))}
    return sorted((s for s in found if s), key=len, reverse=True)


def _withhold_places(problems: list[Problem], frame: pd.DataFrame) -> list[Problem]:
    """Keep every confidential service's address, postcode and coordinates out of problems.

    ``validate`` prints problems and every other command passes warnings on to stderr, so a
    problem on a confidential service's row (by :func:`confidential_mask`) names the row and
    the service's id instead of its place: each spelling of its address, postcode (any case
    and spacing) and coordinates is replaced by ``(withheld)``, and so is the value of a
    problem with a location column.
    """
    private = confidential_mask(frame).to_numpy(dtype=bool)
    if not private.any():
        return problems
    rows = frame[ROW].to_numpy()
    by_row = {int(rows[i]): int(i) for i in np.flatnonzero(private)}
    location_columns = {*LOCATION_FIELDS, "geometry"}
    out: list[Problem] = []
    for problem in problems:
        index = by_row.get(problem.row) if problem.row is not None else None
        if index is None:
            out.append(problem)
            continue
        patterns: list[str] = []
        for field in LOCATION_FIELDS:
            text = str(frame[field].iat[index])
            if text:
                patterns += [re.escape(s) for s in _spellings(field, text)]
            if field == "postcode" and re.sub(r"\s+", "", text):
                patterns.append(r"\s*".join(map(re.escape, re.sub(r"\s+", "", text))))
        where = problem.column in location_columns
        if where and problem.value:
            patterns += [re.escape(s) for s in _spellings(str(problem.column), problem.value)]
        pattern = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None
        message = pattern.sub(_WITHHELD, problem.message) if pattern else problem.message
        fix = pattern.sub(_WITHHELD, problem.fix) if pattern else problem.fix
        if message == problem.message and fix == problem.fix and not where:
            out.append(problem)
            continue
        ident = str(frame["id"].iat[index]) or f"on row {problem.row}"
        message += f" (Service {ident!r} is confidential, so its location is not shown.)"
        value = _WITHHELD if where and problem.value else problem.value
        out.append(replace(problem, message=message, fix=fix, value=value))
    return out


def _validate(
    path: Path | str,
    *,
    settings: Settings,
    lookup: Callable[..., Any] | None,
    today: dt.date | None,
) -> tuple[list[Problem], pd.DataFrame | None]:
    """Run every check; return the problems and (if the file is a table) the checked frame."""
    report = _Report(str(path))
    try:
        frame, missing, shifted = _read(path, report)
    except _UnreadableError as exc:
        report.error("unreadable", exc.message, exc.fix)
        return report.problems, None
    if frame.empty:
        report.error(
            "no-services",
            "has a header row but no services.",
            "add one row per service below the header.",
        )
        return _sorted(report.problems), None
    if missing == set(FIELDS):
        return _sorted(report.problems), None  # no header: checking the rows would be noise
    # A row with values in the wrong columns would give one error per column: report it once.
    frame = frame.loc[~frame[ROW].isin(shifted)].reset_index(drop=True)
    _check_cells(frame, report)
    _check_required(frame, missing, report)
    _check_ids(frame, report)
    canonical = _check_vocabularies(frame, report)
    _check_dates(frame, report, today or dt.date.today())
    _check_status(canonical, report)
    _check_urls(frame, report)
    locations = _check_locations(frame, report, settings=settings, lookup=lookup)
    districts, forces = _check_areas(frame, report)
    _check_placement(canonical, report)
    checked = canonical.copy()
    for name in locations.columns:
        checked[name] = locations[name]
    checked["served_districts"] = districts
    checked["served_forces"] = forces
    return _sorted(_withhold_places(report.problems, frame)), checked


def _sorted(problems: list[Problem]) -> list[Problem]:
    order = {"error": 0, "warning": 1}
    return sorted(
        problems,
        key=lambda p: (order[p.severity], p.row if p.row is not None else -1),
    )


def validate_services(
    path: Path | str,
    *,
    settings: Settings = DEFAULT_SETTINGS,
    lookup: Callable[..., Any] | None = None,
    today: dt.date | None = None,
) -> list[Problem]:
    """Check a services directory file and list every problem in it at once.

    Parameters
    ----------
    path
        The file (CSV, ``.xlsx``, GeoJSON or Open Referral UK JSON; see
        :func:`read_services_table`).
    settings
        Where the postcode table is cached (``settings.cache_dir``).
    lookup
        Passed to :func:`servicemap.geography.geocode.geocode_postcodes` (e.g. a fake for tests, or
        an
        online lookup); None uses the bundled ONS postcode directory.
    today
        The date that ``last_seen`` is compared with; default today.

    Returns
    -------
    list of Problem
        Errors first, then warnings, each in row order. Empty when the file is clean. A file
        that cannot be read at all gives one error (never an exception).
    """
    problems, _ = _validate(path, settings=settings, lookup=lookup, today=today)
    return problems


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
    summary = f"{_plural(errors, 'error')}, {_plural(len(problems) - errors, 'warning')} in {file}"
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
        from servicemap._csv import safe_cell  # every CSV writer uses the one formula guard

        writer.writerows({k: safe_cell(v) for k, v in p.to_dict().items()} for p in problems)
        return buffer.getvalue()
    if fmt != "text":
        raise ValueError(f"Unknown format {fmt!r}; use 'text', 'csv' or 'json'.")
    lines = [f"{p.severity}: {p}" for p in problems]
    return "\n".join([*lines, summary]) + "\n"


# --------------------------------------------------------------------------------------------
# Loading and safeguarding
# --------------------------------------------------------------------------------------------


def bundled_services_path() -> Path:
    """Return the path of the bundled services directory (``data/services/services.csv``)."""
    return data_path("services", "services.csv")


def _raise_for_errors(problems: Sequence[Problem], file: str) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    shown = "\n".join(f"  {p}" for p in errors[:3])
    more = f"\n  … and {len(errors) - 3} more." if len(errors) > 3 else ""
    raise ServicesFileError(
        f"Services file {file!r} has {_plural(len(errors), 'error')}:\n{shown}{more}\n"
        f"Run 'servicemap validate {file}' to see them all."
    )


def _warn_grouped(problems: Sequence[Problem], file: str) -> None:
    """Warn once per kind of problem, so a directory with 60 unknown statuses warns once."""
    groups: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.severity == "warning":
            groups.setdefault(problem.code or problem.message, []).append(problem)
    for group in groups.values():
        if len(group) == 1:
            message = str(group[0])
        else:
            rows = [str(p.row) for p in group if p.row is not None]
            where = f" (rows {', '.join(rows[:8])}{', …' if len(rows) > 8 else ''})"
            message = (
                f"{file}: {len(group)} warnings like this one{where}: {group[0]} "
                f"Run 'servicemap validate {file}' to see them all."
            )
        warnings.warn(message, DataQualityWarning, stacklevel=3)


def load_services(
    path: Path | str | None = None,
    *,
    settings: Settings = DEFAULT_SETTINGS,
    lookup: Callable[..., Any] | None = None,
    today: dt.date | None = None,
    warn: bool = True,
) -> gpd.GeoDataFrame:
    """Load a services directory as the canonical services frame.

    Parameters
    ----------
    path
        The directory file (see :func:`read_services_table`); default the bundled directory.
    settings
        ``settings.crs`` is the frame's CRS; ``settings.cache_dir`` holds the postcode table.
    lookup
        Postcode lookup passed to :func:`servicemap.geography.geocode.geocode_postcodes`; None uses
        the
        bundled ONS postcode directory.
    today
        The date that ``last_seen`` is compared with; default today.
    warn
        Emit the file's warnings (one ``DataQualityWarning`` per kind of problem).

    Returns
    -------
    geopandas.GeoDataFrame
        The frame described in :mod:`servicemap.directory.schema`: every field (text; ``latitude``
        and
        ``longitude`` floats), the derived columns and a Point geometry in ``settings.crs``
        (None where a service has no location). Vocabulary values are in their canonical
        spelling. Confidential services still carry their location here: pass the frame
        through :func:`public_services` before any output.

    Raises
    ------
    ServicesFileError
        If the file cannot be read or has any error; the message gives the count, the first
        few and says to run ``servicemap validate FILE``.
    """
    import geopandas as gpd
    import shapely

    target = bundled_services_path() if path is None else Path(path)
    file = str(target)
    problems, checked = _validate(target, settings=settings, lookup=lookup, today=today)
    _raise_for_errors(problems, file)
    assert checked is not None  # no errors means the file was read  # noqa: S101
    if warn:
        _warn_grouped(problems, file)
    services = pd.DataFrame(index=range(len(checked)))
    for field in FIELDS:
        services[field] = checked[field].to_numpy()
    services["latitude"] = checked["latitude"].to_numpy(dtype=float)
    services["longitude"] = checked["longitude"].to_numpy(dtype=float)
    services["easting"] = checked["easting"].to_numpy(dtype=float)
    services["northing"] = checked["northing"].to_numpy(dtype=float)
    services["location_source"] = checked["location_source"].to_numpy()
    services["force_code"] = checked["force_code"].astype(str).to_numpy()
    services["served_districts"] = list(checked["served_districts"])
    services["served_forces"] = list(checked["served_forces"])
    services["confidential"] = confidential_mask(services).to_numpy(dtype=bool)
    east = services["easting"].to_numpy()
    north = services["northing"].to_numpy()
    geometry = np.full(len(services), None, dtype=object)
    has_point = np.isfinite(east) & np.isfinite(north)
    geometry[has_point] = shapely.points(east[has_point], north[has_point])
    return gpd.GeoDataFrame(services, geometry=geometry, crs=settings.crs)


#: Columns blanked for a confidential service by :func:`public_services`.
PRIVATE_COLUMNS: tuple[str, ...] = (
    "address",
    "postcode",
    "latitude",
    "longitude",
    "easting",
    "northing",
)


def public_services(services: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return a copy safe to publish: confidential services lose every trace of their location.

    A service is confidential when its ``confidential`` column is True or when
    :func:`confidential_mask` (the one statement of the rule) says so. The rule is re-applied
    here, so a frame edited after loading is still safe. Its ``address`` and
    ``postcode`` become ``""``, ``latitude``, ``longitude``, ``easting`` and ``northing``
    become NaN, ``location_source`` becomes ``""`` and its geometry None. It keeps
    ``areas_served``, ``served_districts``, ``served_forces`` and ``force_code``, so it still
    counts in coverage at area level.

    Parameters
    ----------
    services
        The canonical services frame from :func:`load_services` (or any frame with some of its
        columns).

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame; the input is not changed.
    """
    import geopandas as gpd

    public = services.copy()
    mask = confidential_mask(public)
    if "confidential" in public.columns:
        mask |= public["confidential"].fillna(False).astype(bool)
    if "confidential" in public.columns:
        public["confidential"] = mask.to_numpy()
    for column in PRIVATE_COLUMNS:
        if column not in public.columns:
            continue
        if column in {"address", "postcode"}:
            public[column] = public[column].astype(object)
            public.loc[mask, column] = ""
        else:
            public[column] = public[column].astype(float)
            public.loc[mask, column] = np.nan
    if "location_source" in public.columns:
        public.loc[mask, "location_source"] = ""
    if isinstance(public, gpd.GeoDataFrame) and public.geometry.name in public.columns:
        geometry = public.geometry.copy()
        geometry[mask.to_numpy()] = None
        public = public.set_geometry(geometry)
        return public
    return gpd.GeoDataFrame(public)
