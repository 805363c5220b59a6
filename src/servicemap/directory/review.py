"""The review loop: a workbook per force for local partners to check, and their answers back.

:func:`review_sheets` lists, for each police force area, the services serving it with their
**public** fields only (:func:`servicemap.directory.privacy.public_frame`: a confidential
service's address, postcode and coordinates are never in a sheet), what needs checking, and
empty answer columns (:data:`ANSWERS`). :func:`write_review_workbook` writes one as XLSX with
drop-down lists where an answer has a vocabulary. :func:`read_review_answers` reads filled
workbooks back, checking every answer (sheet, row, column), and :func:`apply_review` turns
them into a new directory and a change log with
:func:`servicemap.directory.merge.apply_updates`, so reviews follow the same rules as a
research revision: notes are appended, a replaced source is kept in the notes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from servicemap._atomic import atomic_path
from servicemap._csv import safe_cell
from servicemap.directory.age import age_band
from servicemap.directory.merge import apply_updates, text_table
from servicemap.directory.privacy import public_frame
from servicemap.directory.schema import FIELDS, FOCUSES, SCOPES, cell_text
from servicemap.errors import ServicesFileError
from servicemap.geography.areas import ambiguous_area_names, resolve_areas_served
from servicemap.geography.forces import force_names

#: The public fields a review sheet shows, in order. Never ``latitude``/``longitude``; a
#: confidential service's ``address`` and ``postcode`` are blank.
SHOWN: tuple[str, ...] = (
    "id",
    "name",
    "organisation",
    "scope",
    "areas_served",
    "focus",
    "service_types",
    "phone",
    "website",
    "address",
    "postcode",
    "status",
    "last_seen",
    "source_url",
)

CHECK_COLUMN = "what_to_check"

#: The reviewer's answer columns: name -> the allowed answers (a drop-down list), or None for
#: free text.
ANSWERS: dict[str, tuple[str, ...] | None] = {
    "still_running": ("yes", "no", "not sure"),
    "new_phone": None,
    "new_website": None,
    "correct_areas": None,
    "correct_scope": SCOPES,
    "correct_focus": FOCUSES,
    "source": None,
    "reviewer_notes": None,
}

#: What each answer changes in the directory (``still_running`` sets ``status`` and, when
#: ``yes``, ``last_seen``; ``reviewer_notes`` are appended to ``notes``).
ANSWER_FIELDS: dict[str, str] = {
    "new_phone": "phone",
    "new_website": "website",
    "correct_areas": "areas_served",
    "correct_scope": "scope",
    "correct_focus": "focus",
    "source": "source_url",
}

SHEET_NAME = "services"
_WEBSITE = re.compile(r"^(?:https?://)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[/?#]\S*)?$")
_URL = re.compile(r"^https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?(?:[/?#]\S*)?$")


def _checks(service: Mapping[str, object], *, today: dt.date) -> str:
    checks: list[str] = []
    if cell_text(service.get("status")) in ("", "unknown"):
        checks.append("status unknown: is it still running?")
    band = age_band(service.get("last_seen"), today=today)
    seen = cell_text(service.get("last_seen"))
    if band == "unknown":
        checks.append("never dated: when was it last seen running?")
    elif band == "may_have_ended":
        checks.append(f"last seen {seen}, over 3 years ago: may have ended")
    elif band == "older":
        checks.append(f"last seen {seen}, 2-3 years ago")
    if not cell_text(service.get("phone")) and not cell_text(service.get("website")):
        checks.append("no phone or website")
    public_place = cell_text(service.get("address")) or cell_text(service.get("postcode"))
    if not public_place and not bool(service.get("confidential")):
        checks.append("no public address")
    if not cell_text(service.get("areas_served")) and cell_text(service.get("scope")) != "national":
        checks.append("no areas served")
    for name in ambiguous_area_names(cell_text(service.get("areas_served"))):
        checks.append(f"area name {name} is ambiguous: which is meant?")
    return "; ".join(checks)


def review_sheets(
    services: pd.DataFrame,
    *,
    force_codes: Sequence[str] | None = None,
    today: dt.date | None = None,
) -> dict[str, pd.DataFrame]:
    """Return one review table per force: its services' public fields, checks, answer columns.

    Parameters
    ----------
    services
        The canonical services frame (:func:`servicemap.directory.load.load_services`). Passed
        through :func:`~servicemap.directory.privacy.public_frame` first. Not modified.
    force_codes
        The forces to review; default every force with a service that is not national. National
        services are in the ``"national"`` table (only when ``force_codes`` is None).
    today
        The date ages are measured to; default today.

    Returns
    -------
    dict of str to pandas.DataFrame
        By force code (and ``"national"``): the columns :data:`SHOWN`, :data:`CHECK_COLUMN`
        and every :data:`ANSWERS` column (empty), one row per service, in directory order.
    """
    day = today or dt.date.today()
    public = public_frame(services)
    national = public["scope"].map(cell_text) == "national"
    serving: dict[str, list[int]] = {}
    # A confidential service is listed only where it says it serves: the force its place lies
    # in would say where it is.
    based_in = public["force_code"].map(cell_text).where(~public["confidential"].astype(bool), "")
    for position, (forces, based, is_national) in enumerate(
        zip(public["served_forces"], based_in, national, strict=True)
    ):
        if is_national:
            continue
        for code in {*forces, *([based] if based else [])}:
            serving.setdefault(code, []).append(position)
    codes = list(force_codes) if force_codes is not None else sorted(serving)
    groups = {code: sorted(serving.get(code, [])) for code in codes}
    if force_codes is None and national.any():
        groups["national"] = list(national.to_numpy().nonzero()[0])
    sheets: dict[str, pd.DataFrame] = {}
    for code, positions in groups.items():
        rows = public.iloc[positions]
        table = pd.DataFrame({field: rows[field].map(cell_text).to_numpy() for field in SHOWN})
        table[CHECK_COLUMN] = [_checks(r, today=day) for r in rows.to_dict(orient="records")]
        for answer in ANSWERS:
            table[answer] = ""
        sheets[code] = table
    return sheets


def review_file_name(code: str) -> str:
    """Return the workbook name for a force code (``review-thames-valley.xlsx``)."""
    name = force_names().get(code, code)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or code.lower()
    return f"review-{slug}.xlsx"


def write_review_workbook(table: pd.DataFrame, path: Path | str, *, title: str) -> None:
    """Write one review table as an XLSX workbook, atomically, with drop-down answer lists.

    Parameters
    ----------
    table
        From :func:`review_sheets`.
    path
        The ``.xlsx`` file.
    title
        What is reviewed (a force's name), written on the instructions sheet.

    Raises
    ------
    OutputError
        The file cannot be written.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_NAME
    sheet.append([str(c) for c in table.columns])
    for row in table.itertuples(index=False, name=None):
        sheet.append([safe_cell(v) if v != "" else None for v in row])
    answer_fill = PatternFill("solid", fgColor="FFF2CC")
    for position, name in enumerate(table.columns, start=1):
        header = sheet.cell(row=1, column=position)
        header.font = Font(bold=True)
        letter = header.column_letter
        sheet.column_dimensions[letter].width = 14 if name in ANSWERS else 22
        if name not in ANSWERS:
            continue
        header.fill = answer_fill
        allowed = ANSWERS[name]
        if allowed is not None and len(table):
            check = DataValidation(
                type="list", formula1='"' + ",".join(allowed) + '"', allow_blank=True
            )
            check.error = f"Choose one of: {', '.join(allowed)}."
            check.showErrorMessage = True
            check.add(f"{letter}2:{letter}{len(table) + 1}")
            sheet.add_data_validation(check)
    sheet.freeze_panes = "C2"
    about = workbook.create_sheet("how to answer")
    for line in _instructions(title):
        about.append([line])
    about.column_dimensions["A"].width = 110
    with atomic_path(path) as tmp:
        workbook.save(tmp)


def _instructions(title: str) -> list[str]:
    return [
        f"Services directory review: {title}",
        "Each row of the 'services' sheet is one service listed as serving this area. The "
        f"'{CHECK_COLUMN}' column says what most needs checking.",
        "Answer only in the yellow columns; leave a cell empty when you have nothing to add. "
        "Do not change the other columns or the ids.",
        "still_running: yes (you know it runs now), no (it has closed), not sure.",
        "new_phone, new_website: a current public number or website, if different.",
        "correct_areas: the areas it serves, separated by ';' (police force areas, local "
        "authorities, counties or regions), if the listed ones are wrong.",
        "correct_scope: local, regional or national; correct_focus: what the service is mainly "
        f"for ({', '.join(FOCUSES)}).",
        "source: a public web page that shows your answer (it becomes the service's source).",
        "reviewer_notes: anything else. Notes are published: never write a refuge's address.",
    ]


@dataclass(frozen=True)
class ReviewAnswer:
    """One service's answers from one sheet row."""

    sheet: str
    row: int
    service_id: str
    answers: dict[str, str]


def _answer_problem(column: str, value: str, *, services: pd.DataFrame | None = None) -> str | None:
    allowed = ANSWERS[column]
    if allowed is not None:
        if value.strip().lower() not in allowed:
            return f"{value!r} is not an answer here; choose one of: {', '.join(allowed)}."
        return None
    if column == "source" and not _URL.match(value):
        return f"{value!r} is not a web address; give the page's http:// or https:// address."
    if column == "new_website" and not _WEBSITE.match(value):
        return f"{value!r} does not look like a website; give e.g. example.org or https://…"
    if column == "correct_areas":
        _, unknown = resolve_areas_served(value)
        if unknown:
            name, suggestions = unknown[0]
            hint = f" Did you mean {suggestions[0]!r}?" if suggestions else ""
            return f"area {name!r} is not known.{hint} Separate several areas with ';'."
    return None


def read_review_answers(
    paths: Sequence[Path | str], services: pd.DataFrame
) -> tuple[list[ReviewAnswer], list[str]]:
    """Read the answers of filled review workbooks, checking each one.

    Parameters
    ----------
    paths
        The workbooks (from :func:`write_review_workbook`, filled in).
    services
        The directory as a text table: answers must name its ids.

    Returns
    -------
    tuple
        The rows that hold at least one answer, and every problem found, each as
        ``sheet.xlsx: row 5: column 'correct_scope': … Fix: …``.

    Raises
    ------
    ServicesFileError
        A file is not a review workbook (unreadable, no 'services' sheet, columns missing).
    """
    from openpyxl import load_workbook

    known = {service_id.lower(): service_id for service_id in services["id"]}
    answers: list[ReviewAnswer] = []
    problems: list[str] = []
    for path in paths:
        name = Path(path).name
        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
            raise ServicesFileError(
                f"Review sheet {name!r} cannot be read as an .xlsx workbook ({exc}); give the "
                "workbook 'servicemap review' wrote."
            ) from exc
        if SHEET_NAME not in workbook.sheetnames:
            raise ServicesFileError(
                f"Review sheet {name!r} has no {SHEET_NAME!r} sheet; give the workbook "
                "'servicemap review' wrote."
            )
        rows = list(workbook[SHEET_NAME].iter_rows(values_only=True))
        workbook.close()
        header = [cell_text(c) for c in rows[0]] if rows else []
        missing = [c for c in ("id", *ANSWERS) if c not in header]
        if missing:
            raise ServicesFileError(
                f"Review sheet {name!r} lacks column(s) {', '.join(map(repr, missing))}; do not "
                "rename or delete the review's columns."
            )
        where = {column: header.index(column) for column in ("id", *ANSWERS)}
        for number, values in enumerate(rows[1:], start=2):
            cells = {c: cell_text(values[i]) if i < len(values) else "" for c, i in where.items()}
            given = {c: v for c, v in cells.items() if c != "id" and v}
            if not given:
                continue
            service_id = known.get(cells["id"].lower())
            if service_id is None:
                problems.append(
                    f"{name}: row {number}: column 'id': {cells['id']!r} is not in the "
                    "directory. Fix: restore the id the sheet was written with."
                )
                continue
            for column, value in given.items():
                problem = _answer_problem(column, value)
                if problem:
                    problems.append(f"{name}: row {number}: column {column!r}: {problem}")
            answers.append(ReviewAnswer(name, number, service_id, given))
    return answers, problems


def _updates(answers: Sequence[ReviewAnswer], reviewed: str) -> pd.DataFrame:
    rows: list[dict[str, str]] = []
    for answer in answers:
        update = dict.fromkeys(FIELDS, "") | {"id": answer.service_id}
        for column, field in ANSWER_FIELDS.items():
            value = answer.answers.get(column, "")
            update[field] = value.lower() if ANSWERS[column] is not None else value
        running = answer.answers.get("still_running", "").lower()
        if running == "yes":
            update["status"], update["last_seen"] = "active", reviewed
        elif running == "no":
            update["status"] = "ended"
        note = answer.answers.get("reviewer_notes", "")
        update["notes"] = (
            f"Review {reviewed} ({answer.sheet}, row {answer.row}): {note}" if note else ""
        )
        rows.append(update)
    return pd.DataFrame(rows, columns=list(FIELDS))


def apply_review(
    services: pd.DataFrame,
    paths: Sequence[Path | str],
    *,
    reviewed: dt.date | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Return the directory with the reviewers' answers applied, and the change log.

    Parameters
    ----------
    services
        The directory as read (:func:`servicemap.directory.read.read_services_table`). Not
        modified.
    paths
        Filled review workbooks.
    reviewed
        When the review was done: ``still_running = yes`` sets ``last_seen`` to its month.
        Default today.

    Returns
    -------
    tuple
        The new directory as a text table (every field), and one line per change
        (``id: field: 'old' -> 'new'``).

    Raises
    ------
    ServicesFileError
        A workbook cannot be read, or any answer is invalid (all are listed at once), or two
        rows answer for one service.
    """
    table = text_table(services)
    answers, problems = read_review_answers(paths, table)
    seen: dict[str, ReviewAnswer] = {}
    for answer in answers:
        first = seen.setdefault(answer.service_id, answer)
        if first is not answer:
            problems.append(
                f"{answer.sheet}: row {answer.row}: column 'id': {answer.service_id!r} is also "
                f"answered in {first.sheet} row {first.row}. Fix: keep one row of answers."
            )
    if problems:
        shown = "\n".join(f"  {p}" for p in problems)
        raise ServicesFileError(
            f"The review answers have {len(problems)} problem(s); nothing was written:\n{shown}"
        )
    month = (reviewed or dt.date.today()).strftime("%Y-%m")
    return apply_updates(table, _updates(answers, month), label="review answers")
