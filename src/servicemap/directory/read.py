"""Read a services file as people really keep it, and fit its columns to the schema fields."""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap.directory.problems import ROW, ProblemReport, UnreadableError
from servicemap.directory.read_excel import read_excel
from servicemap.directory.read_json import read_json
from servicemap.directory.schema import (
    FIELD_BY_HEADER_KEY,
    FIELDS,
    HEADER_HINTS,
    HEADER_SYNONYMS,
    PRIVATE_HEADER,
    REQUIRED,
    header_key,
    header_words,
)
from servicemap.directory.table import RawTable, table_from_records
from servicemap.errors import DataQualityWarning

#: A services file larger than this (bytes) is refused before it is read.
MAX_FILE_BYTES = 250_000_000


# Columns that are not fields but whose values belong in one: header key -> (field, fix).
_COLUMN_HINTS = {header_key(header): hint for header, hint in HEADER_HINTS.items()}


_FIX_ENCODING = (
    "in Excel use File > Save As > 'CSV UTF-8 (Comma delimited)'; "
    "check accented letters and symbols such as £ and ’ meanwhile."
)


def _read_raw(path: Path, report: ProblemReport) -> RawTable:
    before = len(report.problems)
    raw = _read_any(path, report)
    # A record with a value the reader could not take (wrong JSON type, NaN, a formula with
    # no value) is reported once; the checks of its fields would only repeat it.
    unread = {p.row for p in report.problems[before:] if p.severity == "error" and p.row}
    if raw.header_row is not None:
        unread.discard(raw.header_row)
    raw.shifted = raw.shifted | frozenset(unread)
    return raw


def _read_any(path: Path, report: ProblemReport) -> RawTable:
    file = report.file
    if not path.exists():
        raise UnreadableError(file, "does not exist.", "check the path and the file name.")
    if path.is_dir():
        raise UnreadableError(
            file, "is a folder, not a file.", "give the path of the file inside it."
        )
    if not (path.is_file() or path.is_fifo()):
        raise UnreadableError(
            file, "is not a file (it is a device or socket).", "give the path of a saved file."
        )
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UnreadableError(
            file, f"cannot be read ({exc.strerror}).", "check the file's permissions."
        ) from exc
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableError(
            file,
            f"is larger than {MAX_FILE_BYTES // 1_000_000:,} MB, far more than any services "
            "directory (100,000 services take about 30 MB as CSV).",
            "check that it is the right file.",
        )
    suffix = path.suffix.lower()
    if not data.strip():
        raise UnreadableError(
            file,
            "is empty.",
            "save the directory again with a header row and one row per service.",
        )
    if data.startswith(b"PK\x03\x04"):
        return read_excel(path, data, report)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableError(
            file,
            "is an old Excel 97-2003 (.xls) workbook or a password-protected one.",
            "open it in Excel and use File > Save As > 'Excel Workbook (.xlsx)' or "
            "'CSV UTF-8', without a password.",
        )
    if data.startswith(b"%PDF"):
        raise UnreadableError(
            file, "is a PDF document, not a table.", "export the table as CSV or .xlsx."
        )
    if suffix in {".xlsx", ".xlsm"}:
        raise UnreadableError(
            file,
            "has an Excel name but is not an Excel workbook.",
            "open it in Excel and save it again as .xlsx, or rename it to .csv if it is text.",
        )
    text = _decode(data, report)
    head = text.lstrip()[:200].lower()
    if head.startswith(("{", "[")):
        return read_json(path, text, report)
    if head.startswith(("<!doctype html", "<html", "<head", "<body", "<table", "<?xml", "<")):
        kind = "XML" if head.startswith("<?xml") else "a web page (HTML)"
        raise UnreadableError(
            file,
            f"is {kind}, not a table.",
            "download or export the directory as CSV or .xlsx (in a web browser, 'Save "
            "page as' saves the page, not the table).",
        )
    if suffix in {".json", ".geojson"}:
        return read_json(path, text, report)
    return _read_csv(text, report)


def _decode(data: bytes, report: ProblemReport) -> str:
    file = report.file
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableError(
                file, "starts like UTF-16 text but is not.", "save it again as CSV UTF-8."
            ) from exc
    binary = UnreadableError(
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


def _read_csv(text: str, report: ProblemReport) -> RawTable:
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        with _csv_field_limit():
            records = list(reader)
    except csv.Error as exc:
        raise UnreadableError(
            report.file,
            f"could not be read as CSV at line {reader.line_num} ({exc}).",
            "open it in a spreadsheet and save it again as CSV UTF-8.",
        ) from exc
    return table_from_records(records, report, kind="CSV")


# Columns: names as written → schema fields


def _likely_field(key: str) -> tuple[str, str] | None:
    """Return the field an unknown column may be, and how to make it so; None if no guess.

    In order: a known non-field header (``Town`` → ``address``); an accepted header the name
    ends with (the English head noun comes last: ``Organisation website`` → ``website``); the
    closest accepted header (a typo); an accepted header the name contains.
    """
    if key in _COLUMN_HINTS:
        return _COLUMN_HINTS[key]
    known = [*_COLUMN_HINTS, *FIELD_BY_HEADER_KEY]
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
    field = FIELD_BY_HEADER_KEY[close[0]]
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


def _fit_columns(raw: RawTable, report: ProblemReport) -> tuple[pd.DataFrame, set[str]]:
    """Return the table with exactly FIELDS (+ ROW) as text, and the set of missing fields.

    Headers match :data:`servicemap.directory.schema.HEADER_SYNONYMS` after
    :func:`servicemap.directory.schema.header_key`. A column that is no field but whose header
    suggests a private place is an error, never ignored: it may be the only sign that a place
    is secret.
    """
    taken, unknown = _match_columns(raw, report)
    found = [c for c in raw.columns if c]
    if not taken and found:
        report.error(
            "no-fields",
            f"has no column servicemap knows (found: {', '.join(found[:12])}"
            f"{', …' if len(found) > 12 else ''}); the first row must be the header.",
            "put a header row first, naming the columns as in docs/schema.md (id, name, "
            "scope, source_url, …).",
            row=raw.header_row,
        )
        missing = set(FIELDS)
    else:
        missing = {f for f in FIELDS if f not in taken}
        _report_missing_columns(missing, found, report, header_row=raw.header_row)
        for name in unknown:
            _report_unknown_column(name, report, header_row=raw.header_row)
    count = len(raw.cells)
    columns: dict[str, Any] = {ROW: raw.rows}
    for field in FIELDS:
        if field in taken:
            columns[field] = raw.cells[taken[field]].to_numpy(dtype=object)
        else:
            columns[field] = np.full(count, "", dtype=object)
    return pd.DataFrame(columns, index=range(count)), missing


def _match_columns(raw: RawTable, report: ProblemReport) -> tuple[dict[str, int], list[str]]:
    """Return each field's column position, and the columns that are no field.

    A second column for a field already taken is an error; an unnamed column counts as
    unknown only if it holds values.
    """
    taken: dict[str, int] = {}
    unknown: list[str] = []
    for position, name in enumerate(raw.columns):
        field = FIELD_BY_HEADER_KEY.get(header_key(name))
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
                row=raw.header_row,
                column=field,
                value=name,
            )
            continue
        taken[field] = position
    return taken, unknown


def _report_missing_columns(
    missing: set[str], found: list[str], report: ProblemReport, *, header_row: int | None
) -> None:
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


def _report_unknown_column(name: str, report: ProblemReport, *, header_row: int | None) -> None:
    """Report a column that is no field: an error if it suggests private places, else a warning."""
    key = header_key(name)
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
        return
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


def read_fields(
    path: Path | str, report: ProblemReport
) -> tuple[pd.DataFrame, set[str], frozenset[int]]:
    """Read a services file into the schema fields, adding every reading problem to ``report``.

    Parameters
    ----------
    path
        The file (see :func:`read_services_table`).
    report
        Collects the problems found while reading and fitting the columns.

    Returns
    -------
    tuple
        The fitted table (:data:`~servicemap.directory.problems.ROW` and every field as text),
        the fields no column gave, and the rows already reported as not read as they stand.

    Raises
    ------
    UnreadableError
        If the file is not a table at all.
    """
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
    report = ProblemReport(str(path))
    frame, _, _ = read_fields(path, report)
    for problem in report.problems:
        if problem.severity == "warning":
            warnings.warn(str(problem), DataQualityWarning, stacklevel=2)
    return frame
