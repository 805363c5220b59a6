"""Read an Excel ``.xlsx`` workbook into a raw table, reporting damage and unsaved formulas."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servicemap.directory.problems import ProblemReport, UnreadableError, show
from servicemap.directory.schema import FIELD_BY_HEADER_KEY, header_key
from servicemap.directory.table import RawTable, table_from_records, typed_text


def read_excel(path: Path, data: bytes, report: ProblemReport) -> RawTable:
    """Read the ``services`` sheet (else the first) of a workbook's bytes as a raw table.

    Raises :class:`~servicemap.directory.problems.UnreadableError` for a file that is not a
    readable workbook (OpenDocument, a damaged zip, a Word file, a "zip bomb", an empty sheet).
    """
    import zipfile

    file = report.file
    if b"opendocument" in data[:200]:
        raise UnreadableError(
            file,
            "is an OpenDocument spreadsheet (.ods), not an Excel .xlsx workbook.",
            "save it as 'Excel 2007-365 (.xlsx)' or as CSV (UTF-8).",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except Exception as exc:  # BadZipFile, or a header so broken zipfile fails otherwise
        raise UnreadableError(
            file,
            "is a damaged Excel workbook: the file is cut off or corrupt (it is not a "
            "complete zip archive).",
            _FIX_DAMAGED,
        ) from exc
    _check_workbook_parts(archive, file)
    records = _excel_records(data, archive, file)
    if not any(any(c.strip() for c in rec) for rec in records.values):
        raise UnreadableError(
            file,
            f"has an empty sheet {records.sheet!r}.",
            "put the directory on the first sheet, or on a sheet named 'services'.",
        )
    raw = table_from_records(records.values, report, kind="Excel")
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
        raise UnreadableError(
            file,
            f"is {kind}, not an Excel workbook.",
            "give the directory as a CSV or .xlsx file (unzip an archive first).",
        )
    size = sum(info.file_size for info in archive.infolist() if info.filename.endswith("xml"))
    if size > MAX_WORKBOOK_BYTES:
        raise UnreadableError(
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
        raise UnreadableError(
            file, f"is a damaged Excel workbook: {_workbook_damage(archive, exc)}.", _FIX_DAMAGED
        ) from exc
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise UnreadableError(file, "has no worksheets.", "add a sheet named 'services'.")
        named = [ws for ws in sheets if str(ws.title).strip().lower() == "services"]
        sheet = named[0] if named else sheets[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = [
                [typed_text(_unescape_ooxml(v)) for v in values]
                for values in sheet.iter_rows(min_row=1, values_only=True)
            ]
    except UnreadableError:
        raise
    except Exception as exc:
        raise UnreadableError(
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
    data: bytes, sheet: str, raw: RawTable, report: ProblemReport
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
                f"holds the formula {show(formula)} but no saved value (the program that "
                "wrote the file did not calculate it), so servicemap cannot see what it shows.",
                "open the file in Excel or LibreOffice and save it again (that saves the "
                "values), or type the value in instead of the formula.",
                row=number,
                column=FIELD_BY_HEADER_KEY.get(header_key(name), name),
                value=formula,
            )
