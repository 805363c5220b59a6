"""Check a services directory and list every problem in it at once."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap.directory.age import last_seen_period, month_end
from servicemap.directory.locations import check_areas, check_locations
from servicemap.directory.privacy import (
    confidentiality_term,
    named_as_refuge,
    offers_accommodation,
    only_refuge,
    withhold_places,
)
from servicemap.directory.problems import (
    ROW,
    Problem,
    ProblemReport,
    UnreadableError,
    control_problem,
    plural,
    shorten,
    show,
)
from servicemap.directory.read import read_fields
from servicemap.directory.schema import (
    FIELDS,
    LIST_FIELDS,
    REQUIRED,
    VOCABULARIES,
    YES_NO_UNKNOWN,
    normalise_vocab,
    per_value,
    split_list,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

#: A cell longer than this is an error: almost always an unclosed quote mark that swallowed
#: the rows after it. The longest note in the bundled directory is about 1,100 characters.
MAX_CELL_CHARS = 10_000


#: ``last_seen`` older than this many months (before today) is a warning.
STALE_MONTHS = 18


_SPREADSHEET_ERRORS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"}
)


_YES_NO_SYNONYMS = {"y": "yes", "n": "no", "true": "yes", "false": "no"}


def _canonical_term(field: str, value: str) -> str | None:
    """Return the vocabulary term ``value`` means, or None if it is not one."""
    term = normalise_vocab(value)
    if VOCABULARIES[field] is YES_NO_UNKNOWN:
        term = _YES_NO_SYNONYMS.get(term, term)
    return term if term in VOCABULARIES[field] else None


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(normalise_vocab(value), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_cells(frame: pd.DataFrame, report: ProblemReport) -> None:
    """Control characters, huge cells, spreadsheet errors, rows swallowed by an open quote."""
    rows = frame[ROW].to_numpy()
    for field in FIELDS:
        values = frame[field].to_numpy(dtype=object)
        for index, value in enumerate(values):
            control = control_problem(value)
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
                    value=shorten(value),
                )
            elif "\n" in value and any(line.count(",") >= 4 for line in value.splitlines()[1:]):
                report.error(
                    "swallowed-rows",
                    f"value {show(value)} spans several lines that look like rows; a quote "
                    'mark (") that is not closed may have swallowed them.',
                    "close the quote mark where the value should end.",
                    row=int(rows[index]),
                    column=field,
                    value=shorten(value),
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


def _check_required(frame: pd.DataFrame, missing: set[str], report: ProblemReport) -> None:
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


def _check_ids(frame: pd.DataFrame, report: ProblemReport) -> None:
    ids = frame["id"]
    rows = frame[ROW].to_numpy()
    for index in np.flatnonzero(ids.str.contains(";", regex=False).to_numpy()):
        value = ids.iat[index]
        parts = [part for part in value.split(";") if part.strip()]
        report.error(
            "bad-id",
            f"{show(value)} contains ';', which separates the items of servicemap's lists, "
            f"so it would read as {plural(len(parts), 'id')}.",
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


def _check_vocabularies(frame: pd.DataFrame, report: ProblemReport) -> pd.DataFrame:
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
                    f"{show(value)} is not an allowed value.{_did_you_mean(value, allowed)}",
                    f"use one of: {', '.join(allowed)}.",
                    row=int(row),
                    column=field,
                    value=value,
                )
        out[field] = column.map(mapping)
    return out


def _check_list_vocab(frame: pd.DataFrame, field: str, report: ProblemReport) -> pd.Series:
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
                    f"{show(item)} is not a service type.{_did_you_mean(item, allowed)}",
                    f"use one or more of: {', '.join(allowed)}, separated by ';'.",
                    row=int(row),
                    column=field,
                    value=item,
                )
    return column.map(canonical)


def _months_before(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    return min(
        dt.date(year, month + 1, 1) + dt.timedelta(days=day.day - 1), month_end(year, month + 1)
    )


def _check_dates(frame: pd.DataFrame, report: ProblemReport, today: dt.date) -> None:
    column = frame["last_seen"]
    cutoff = _months_before(today, STALE_MONTHS)
    for value in column.unique():
        if value == "":
            continue
        period = last_seen_period(value)
        rows = frame.loc[column == value, ROW]
        if period is None:
            for row in rows:
                report.error(
                    "bad-date",
                    f"{show(value)} is not a year, month or date.",
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


def _check_status(frame: pd.DataFrame, report: ProblemReport) -> None:
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


def _check_urls(frame: pd.DataFrame, report: ProblemReport) -> None:
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
        (
            "email",
            r"^[^@\s<>\"'/:;,]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
            "does not look like an email address.",
            "give one public email address of the service, e.g. 'help@example.org.uk'.",
        ),
    )
    for field, pattern, message, fix in checks:
        column = frame[field]
        values = column.to_numpy(dtype=object)
        bad = (column != "") & ~column.str.match(pattern)
        for index in np.flatnonzero(bad.to_numpy()):
            report.warning(
                "bad-email" if field == "email" else "bad-url",
                f"{show(values[index])} {message}",
                fix,
                row=int(rows[index]),
                column=field,
                value=values[index],
            )


def _check_placement(frame: pd.DataFrame, report: ProblemReport) -> None:
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
        per_value(frame["location_confidential"], confidentiality_term), index=frame.index
    )
    accommodation = offers_accommodation(frame)
    named = named_as_refuge(frame)
    values = frame["location_confidential"].to_numpy(dtype=object)
    names = frame["name"].to_numpy(dtype=object)
    for index in np.flatnonzero((located & (terms == "") & (accommodation | named)).to_numpy()):
        reason = (
            "offering refuge or housing"
            if accommodation.iat[index]
            else f"whose name {show(names[index])} says refuge, safe house or shelter"
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
    for index in np.flatnonzero((located & (terms == "no") & only_refuge(frame)).to_numpy()):
        report.warning(
            "refuge-kept-private",
            f"is {show(values[index])}, but the service's only type is refuge, so its "
            "address and location are still treated as confidential and never published.",
            "if the address is a public office, add the other service types it offers there; "
            "if it is the refuge, set 'yes'.",
            row=int(rows[index]),
            column="location_confidential",
            value=values[index],
        )


def _check_confidentiality_values(frame: pd.DataFrame, report: ProblemReport) -> pd.Series:
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
        term = confidentiality_term(value)
        mapping[value] = canonical[term]
        if term != "unclear":
            continue
        for index in np.flatnonzero((column == value).to_numpy()):
            report.warning(
                "confidential-unclear",
                f"{show(value)} is not clearly 'yes' or 'no', so the service is treated as "
                "confidential: its address and location are never published.",
                "write 'no' if the address is a public office (not a refuge or safe house), "
                "or 'yes' to confirm it must stay private.",
                row=int(rows[index]),
                column="location_confidential",
                value=value,
            )
    return column.map(mapping)


def check_services(
    path: Path | str,
    *,
    settings: Settings,
    lookup: Callable[..., Any] | None,
    today: dt.date | None,
    fill: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> tuple[list[Problem], pd.DataFrame | None]:
    """Run every check; return the problems and (if the file is a table) the checked frame.

    ``fill``, if given, gets the table as read (every field as text) and returns it with
    defaults filled in, before any row is checked: how proposed services get theirs.
    """
    report = ProblemReport(str(path))
    try:
        frame, missing, shifted = read_fields(path, report)
    except UnreadableError as exc:
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
    if fill is not None:
        frame = fill(frame)
    _check_cells(frame, report)
    _check_required(frame, missing, report)
    _check_ids(frame, report)
    canonical = _check_vocabularies(frame, report)
    _check_dates(frame, report, today or dt.date.today())
    _check_status(canonical, report)
    _check_urls(frame, report)
    locations = check_locations(frame, report, settings=settings, lookup=lookup)
    districts, forces = check_areas(frame, report)
    _check_placement(canonical, report)
    checked = canonical.copy()
    for name in locations.columns:
        checked[name] = locations[name]
    checked["served_districts"] = districts
    checked["served_forces"] = forces
    return _sorted(withhold_places(report.problems, frame)), checked


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
    problems, _ = check_services(path, settings=settings, lookup=lookup, today=today)
    return problems
