"""Need per police force area: residents, residents born outside the UK, women aged 16+."""

from __future__ import annotations

import math
import re
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap._atomic import atomic_write_text
from servicemap._csv import column_key, csv_text
from servicemap._data import data_path
from servicemap.errors import DataQualityWarning, DownloadError, NeedFileError
from servicemap.geography._nomis import fetch_country_of_birth
from servicemap.geography.forces import force_names, load_districts, load_forces
from servicemap.settings import DEFAULT_SETTINGS, Settings

NEED_COLUMNS = [
    "usual_residents_2021",
    "born_outside_uk_2021",
    "population_mid2023",
    "females_16plus_mid2023",
]
PROXY_COLUMNS = [
    "non_uk_passport_2021_approx",
    "arrived_last_5y_2021_approx",
    "limited_english_2021_approx",
]
"""Optional census proxies (approximate counts, see ``data/need/SOURCES.md``); NaN when absent."""
CENSUS_COLUMNS = ["usual_residents_2021", "born_outside_uk_2021"]
_NEED_KEYS = {column_key(column): column for column in (*NEED_COLUMNS, *PROXY_COLUMNS)}

# Column names are compared by their column_key (lower case, only a-z and 0-9 kept).
_FORCE_KEY = re.compile(r"^(forcecode|pfacode|pfa\d\dcd)$")
_DISTRICT_KEY = re.compile(r"^(districtcode|ladcode|ltlacode|lad\d\dcd|ltla\d\dcd)$")
_ANY_KEY = re.compile(r"^(code|areacode|geographycode)$")
# How messages spell the columns found by key: the names the docs give them.
_COLUMN_NAMES = {
    column_key(name): name
    for name in (
        *NEED_COLUMNS,
        *PROXY_COLUMNS,
        "force_code",
        "pfa_code",
        "district_code",
        "lad_code",
        "ltla_code",
        "code",
        "area_code",
        "geography_code",
    )
}
_FORCE_CODE = re.compile(r"^(E23|W15)\d{6}$")
# Countries, regions and counties are sums of districts: adding them too would count people twice.
_AGGREGATE_CODE = re.compile(r"^(K02|K03|K04|E92|W92|E12|E10|E11|E13)\d{6}$")
_SHOWN = 8  # how many codes an error message lists before "and N more"

#: No row of a need table can count more people than this (England and Wales: about 61
#: million); a bigger figure is a typing or export error (e.g. 1e300), never a count.
MAX_PEOPLE = 100_000_000

# Columns that count some of the people another column counts (part, whole, who they are).
_PARTS = (
    ("born_outside_uk_2021", "usual_residents_2021", "people born outside the UK", "residents"),
    ("females_16plus_mid2023", "population_mid2023", "women and girls aged 16+", "the population"),
    *(
        (proxy, "usual_residents_2021", "the people it counts", "residents")
        for proxy in PROXY_COLUMNS
    ),
)
# Columns that count everyone who lives there: no force area or district has none.
_EVERYONE = ("usual_residents_2021", "population_mid2023")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


@lru_cache(maxsize=1)
def _read_successors() -> pd.DataFrame:
    return pd.read_csv(
        data_path("need", "district_successors.csv"), dtype=str, keep_default_na=False
    )


def load_district_successors() -> pd.DataFrame:
    """Return the table of abolished district codes and the district that replaced each.

    Returns
    -------
    pandas.DataFrame
        Columns ``old_code``, ``old_name``, ``new_code``, ``new_name``, ``since`` (ISO date) and
        ``legislation`` (the Structural Changes or Boundary Change Order). A fresh copy.
    """
    return _read_successors().copy()


def _current_codes() -> dict[str, str]:
    """Map every accepted district code (current or abolished) to its current code."""
    successors = dict(
        zip(_read_successors()["old_code"], _read_successors()["new_code"], strict=True)
    )
    current = {code: code for code in load_districts()["code"]}
    for old in successors:
        new = successors[old]
        while new in successors:  # a successor that was itself replaced later
            new = successors[new]
        current[old] = new
    return current


def _read_table(path: Path) -> pd.DataFrame:
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx", ".xlsm"):
        raise NeedFileError(
            f"Need file {name!r} is not a CSV or XLSX file (suffix {suffix!r}); "
            "save it as .csv or .xlsx."
        )
    # header=None: pandas would rename a repeated column ("x", "x.1") and hide the repeat.
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False, "header": None}
    try:
        if suffix in (".xlsx", ".xlsm"):
            table = pd.read_excel(path, **options)
        else:
            try:
                table = pd.read_csv(path, encoding="utf-8-sig", **options)
            except UnicodeDecodeError:  # a spreadsheet exported as "CSV" in the Windows code page
                table = pd.read_csv(path, encoding="cp1252", **options)
    except FileNotFoundError as exc:
        raise NeedFileError(f"Need file {name!r} does not exist; check the --need path.") from exc
    except (OSError, ValueError, zipfile.BadZipFile, pd.errors.ParserError) as exc:
        kind = "an Excel workbook" if suffix.startswith(".xls") else "CSV"
        raise NeedFileError(
            f"Need file {name!r} could not be read as {kind} ({' '.join(str(exc).split())}); "
            "save it again as CSV (UTF-8) or XLSX with one header row."
        ) from exc
    except Exception as exc:  # a damaged workbook fails in many ways (cut-off XML, bad zip data)
        raise NeedFileError(
            f"Need file {name!r} could not be read as an Excel workbook: it is damaged "
            f"({type(exc).__name__}: {' '.join(str(exc).split())}); open it in Excel and save "
            "it again as XLSX, or save it as CSV (UTF-8) with one header row."
        ) from exc
    table = table.fillna("").astype(str)
    if table.empty:
        raise NeedFileError(
            f"Need file {name!r} is empty; save it again as CSV (UTF-8) or XLSX with one header "
            "row and one row per force or district."
        )
    header = [str(c).strip() for c in table.iloc[0]]
    return pd.DataFrame(table.iloc[1:].to_numpy(), columns=header).reset_index(drop=True)


def _parse_count(text: str) -> tuple[int | None, str]:
    """Return (value, "") for a whole number of people, else (None, what is wrong)."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    if not cleaned:
        return None, "is empty"
    try:
        number = float(cleaned)
    except ValueError:
        return None, "is not a number"
    if math.isnan(number) or (math.isinf(number) and "inf" in cleaned.lower()):
        return None, "is not a number"
    if number < 0:
        return None, "is negative"
    if number > MAX_PEOPLE:
        return None, (
            f"is more than {MAX_PEOPLE:,} people (England and Wales have about 61 million)"
        )
    if not number.is_integer():
        return None, "is not a whole number"
    return (int(cleaned) if cleaned.isdigit() else int(number)), ""


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37]) + f"… ({len(value):,} characters)"


def _key_column(table: pd.DataFrame, source: str) -> tuple[str, str | None]:
    """Return the code column and its level ("force", "district", or None to infer)."""
    columns = [str(c) for c in table.columns]
    for pattern, level in ((_DISTRICT_KEY, "district"), (_FORCE_KEY, "force"), (_ANY_KEY, None)):
        found = [c for c in columns if pattern.match(column_key(c))]
        if found:
            return found[0], level
    raise NeedFileError(
        f"{source} has no code column (found: {', '.join(columns) or 'none'}); name the column "
        "of police force codes 'force_code' (E23…/W15…) or of district codes 'district_code'."
    )


def _need_rows(
    table: pd.DataFrame, *, source: str
) -> tuple[str, pd.DataFrame, dict[str, str], list[str], list[str]]:
    """Validate a table keyed by force or district code.

    Returns its level (``force`` or ``district``), its figures by force code or by current
    district code (abolished districts summed into their successors), the need columns it has,
    the ones it lacks, and the skipped aggregate codes.
    """
    table = table.reset_index(drop=True).fillna("").astype(str)
    _check_repeated_columns(table, source)
    key, level = _key_column(table, source)
    present = _present_need_columns(table, source)
    missing = [c for c in NEED_COLUMNS if c not in present]
    codes = table[key].str.strip().str.upper()
    blank = (table.apply(lambda column: column.str.strip()) == "").all(axis=1)
    aggregate = codes.str.match(_AGGREGATE_CODE.pattern)
    rows = table.index[~blank & ~aggregate]
    skipped = sorted(set(codes[aggregate & ~blank]))
    if level is None:
        given = codes[rows]
        level = "force" if len(given) and given.str.match(_FORCE_CODE.pattern).all() else "district"

    forces = load_forces()
    key_column = _KeyColumn(level, key, forces)
    counts, seen = _read_rows(table, rows, codes, present, key_column, source=source)
    if level == "force":
        absent = [c for c in forces["code"] if c not in seen]
        if absent:
            raise NeedFileError(
                f"{source} has no rows for {_count(len(absent), 'police force area')}: "
                f"{_listing(_named(absent, forces))}; add a row for each."
            )
    else:
        _check_districts(seen=seen, current=key_column.known, source=source)
        counts = counts.groupby([key_column.known[code] for code in counts.index]).sum()
    return level, counts, present, missing, skipped


def _need_by_force(
    table: pd.DataFrame, *, source: str
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Validate a table keyed by force or district code and sum it to the 43 forces.

    Returns the need frame, the need columns the table lacks, and the skipped aggregate codes.
    """
    level, counts, present, missing, skipped = _need_rows(table, source=source)
    return _force_need(level, counts, present, source), missing, skipped


def _force_need(
    level: str, counts: pd.DataFrame, present: dict[str, str], source: str
) -> pd.DataFrame:
    """Sum validated figures to the 43 forces and check no force has none of a group."""
    forces = load_forces()
    if level == "force":
        by_force = counts
    else:
        force_of = dict(zip(load_districts()["code"], load_districts()["force_code"], strict=True))
        by_force = counts.groupby([force_of[code] for code in counts.index]).sum()
    _check_no_empty_force(by_force, present, forces, source)
    need = pd.DataFrame(index=pd.Index(forces["code"], name="force_code"))
    need["force_name"] = forces["name"].to_numpy()
    for column in NEED_COLUMNS:
        if column in present:
            need[column] = by_force[column].reindex(need.index).astype("int64")
        else:
            need[column] = np.nan
    return need


def _need_by_district(
    table: pd.DataFrame, *, source: str
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Validate a table keyed by district code and return it per current district.

    A force-keyed table is returned per force (indexed by ``force_code``) as
    :func:`_need_by_force` does.
    """
    level, counts, present, missing, skipped = _need_rows(table, source=source)
    by_force = _force_need(level, counts, present, source)  # checks no force has none
    if level == "force":
        return by_force, missing, skipped
    districts = load_districts()
    forces = force_names()
    need = pd.DataFrame(index=pd.Index(districts["code"], name="district_code"))
    need["district_name"] = districts["name"].to_numpy()
    need["force_code"] = districts["force_code"].to_numpy()
    need["force_name"] = [forces[c] for c in districts["force_code"]]
    for column in (*NEED_COLUMNS, *PROXY_COLUMNS):
        if column in present:
            need[column] = counts[column].reindex(need.index).astype("int64")
        else:
            need[column] = np.nan
    return need, missing, skipped


def _present_need_columns(table: pd.DataFrame, source: str) -> dict[str, str]:
    """Map each need column the table has to its name in the table (refuse a table with none)."""
    by_key = {column_key(c): str(c) for c in table.columns}
    present = {column: by_key[key] for key, column in _NEED_KEYS.items() if key in by_key}
    if not present:
        raise NeedFileError(
            f"{source} has none of the need columns {', '.join(NEED_COLUMNS)} "
            f"(found: {', '.join(map(str, table.columns))}); rename the columns to these names."
        )
    return present


def _named(codes: list[str], forces: pd.DataFrame) -> list[str]:
    names = dict(zip(forces["code"], forces["name"], strict=True))
    return [f"{code} {names[code]}" for code in codes]


class _KeyColumn:
    """The codes a need table's key column may hold, and how to say what is wrong with one."""

    def __init__(self, level: str, column: str, forces: pd.DataFrame) -> None:
        self.level = level
        self.column = column
        if level == "force":
            self.known = {code: code for code in forces["code"]}
            self.kind = "a police force area code (E23…/W15…; see 'servicemap forces')"
        else:
            self.known = _current_codes()
            self.kind = (
                "a local authority district code (2025 codes, or the 2021–2023 codes of "
                "districts merged since)"
            )

    def problem(self, code: str, row: int, seen: dict[str, int]) -> str | None:
        """Return what is wrong with the code on one row (as the message says it), or None."""
        where = f"row {row}, column {self.column!r}"
        if not code:
            return f"{where} is empty; fill in the code or delete the row"
        if code not in self.known:
            fix = "correct or delete the row"
            if self.level == "district" and _FORCE_CODE.match(code):
                fix = "it is a police force code: put force figures in a table of their own " + (
                    "keyed by a 'force_code' column, or " + fix
                )
            return f"{where}: {code!r} is not {self.kind}; {fix}"
        if code in seen:
            return (
                f"{where}: {code!r} appears again (first on row {seen[code]}); "
                "keep one row per code"
            )
        return None


def _read_rows(
    table: pd.DataFrame,
    rows: pd.Index,
    codes: pd.Series,
    present: dict[str, str],
    key_column: _KeyColumn,
    *,
    source: str,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return the figures of every row by code, and the row each code is on; raise on problems."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    values: dict[str, list[int]] = {column: [] for column in present}
    kept: list[str] = []
    for index in rows:
        row = int(index) + 2  # as a spreadsheet counts: the header is row 1
        code = codes[index]
        wrong_code = key_column.problem(code, row, seen)
        if wrong_code:
            problems.append(wrong_code)
            continue
        seen[code] = row
        parsed: dict[str, int] = {}
        for column, original in present.items():
            number, wrong = _parse_count(table.at[index, original])
            if number is None:
                problems.append(
                    f"row {row}, column {original!r}: {_shown(table.at[index, original])} "
                    f"{wrong}; enter a whole number of people (0 or more)"
                )
            else:
                parsed[column] = number
        impossible = _impossible_figures(parsed, present, row)
        problems += impossible
        if len(parsed) == len(present) and not impossible:
            kept.append(code)
            for column, number in parsed.items():
                values[column].append(number)
    if problems:
        more = f" (and {_count(len(problems) - 1, 'more problem')})" if len(problems) > 1 else ""
        raise NeedFileError(f"{source}, {problems[0]}{more}.")
    return pd.DataFrame(values, index=pd.Index(kept, name="code"), dtype="int64"), seen


def _check_no_empty_force(
    by_force: pd.DataFrame, present: dict[str, str], forces: pd.DataFrame, source: str
) -> None:
    """Refuse a 0 for a whole force: every force area has people in each group."""
    for column, original in present.items():
        empty = [code for code in forces["code"] if by_force[column].get(code, 0) == 0]
        if empty:
            raise NeedFileError(
                f"{source} gives 0 in column {original!r} for "
                f"{_count(len(empty), 'police force area')}: "
                f"{_listing(_named(empty, forces))}; every force area has "
                "people in each group, and rates per person need them: correct the figures."
            )


def _check_repeated_columns(table: pd.DataFrame, source: str) -> None:
    """Refuse two columns that would both be read as the same column (which one is meant?)."""
    first: dict[str, str] = {}
    for column in map(str, table.columns):
        key = column_key(column)
        wanted = (
            key in _NEED_KEYS
            or _FORCE_KEY.match(key)
            or _DISTRICT_KEY.match(key)
            or _ANY_KEY.match(key)
        )
        if not wanted:
            continue
        if key in first:
            raise NeedFileError(
                f"{source} has two columns for {_COLUMN_NAMES.get(key, key)!r}: "
                f"{first[key]!r} and {column!r}; keep "
                "one of them (delete or rename the other)."
            )
        first[key] = column


def _impossible_figures(parsed: dict[str, int], present: dict[str, str], row: int) -> list[str]:
    """Describe figures of one row that cannot all be true (more born abroad than residents)."""
    problems = []
    for column in _EVERYONE:
        if parsed.get(column) == 0:
            problems.append(
                f"row {row}, column {present[column]!r}: '0' is no residents, but every "
                "police force area and district has some; enter the number of people who "
                "live there"
            )
    for part, whole, who, among in _PARTS:
        if part in parsed and whole in parsed and parsed[part] > parsed[whole] > 0:
            problems.append(
                f"row {row}: column {present[part]!r} ({parsed[part]:,}) is more than column "
                f"{present[whole]!r} ({parsed[whole]:,}), a {parsed[part] / parsed[whole]:.0%} "
                f"share; {who} are counted among {among}, so there cannot be more of them: "
                "check that the columns are not swapped or shifted"
            )
    return problems


def _check_districts(*, seen: dict[str, int], current: dict[str, str], source: str) -> None:
    """Refuse a district table that lacks districts or gives one both whole and in parts."""
    districts = load_districts()
    names = dict(zip(districts["code"], districts["name"], strict=True))
    old_names = dict(
        zip(_read_successors()["old_code"], _read_successors()["old_name"], strict=True)
    )
    parts: dict[str, list[str]] = {}
    for old, new in current.items():
        if old != new:
            parts.setdefault(new, []).append(old)
    absent: list[str] = []
    for code in districts["code"]:
        given = [p for p in parts.get(code, []) if p in seen]
        if code in seen and given:
            raise NeedFileError(
                f"{source}, row {seen[given[0]]}: {given[0]!r} {old_names[given[0]]} is part of "
                f"{code!r} {names[code]}, which has its own row {seen[code]}; "
                "keep one or the other, not both (people would be counted twice)"
            )
        if code in seen:
            continue
        if given and len(given) < len(parts[code]):
            lacking = [f"{p} {old_names[p]}" for p in parts[code] if p not in seen]
            raise NeedFileError(
                f"{source} has rows for some of the districts that became {code!r} "
                f"{names[code]} but not for {_listing(lacking)}; add them, or one row for {code!r}."
            )
        if not given:
            absent.append(code)
    if absent:
        forces = dict(zip(districts["code"], districts["force_code"], strict=True))
        affected = sorted({forces[c] for c in absent})
        raise NeedFileError(
            f"{source} has no rows for {_count(len(absent), 'district')}: "
            f"{_listing([f'{c} {names[c]}' for c in absent])} (in "
            f"{_count(len(affected), 'police force area')}: {_listing(affected)}); add them, "
            "or give one row per force with a 'force_code' column."
        )


def _warn_about(source: str, *, missing: list[str], skipped: list[str]) -> None:
    # stacklevel 3: point at the caller of load_need / need_from_table, not at this helper.
    if skipped:
        warnings.warn(
            f"{source}: skipped {_count(len(skipped), 'row')} for countries, regions or counties "
            f"({_listing(skipped)}), which are sums of districts.",
            DataQualityWarning,
            stacklevel=3,
        )
    if missing:
        warnings.warn(
            f"{source} has no column {', '.join(repr(c) for c in missing)}; left empty (NaN), so "
            "figures that need it are not computed. Add the column to use it.",
            DataQualityWarning,
            stacklevel=3,
        )


def need_from_table(table: pd.DataFrame, *, source: str = "Need table") -> pd.DataFrame:
    """Return the need per force from a table keyed by force code or district code.

    The code column is found by name: ``force_code`` or ``PFAyyCD`` (forces), ``district_code``
    or ``LADyyCD`` (districts), or ``code`` (either, told apart by the codes). District rows are
    summed to forces; district codes abolished since Census 2021 are mapped to their successors
    (:func:`load_district_successors`). Rows for countries, regions or counties are skipped.
    Need columns the table lacks are left empty (NaN) with a warning: rates that need them
    cannot be computed, while the other columns stay usable.

    Parameters
    ----------
    table
        One row per force or per district; need columns named as ``NEED_COLUMNS`` (case,
        spaces and punctuation ignored), holding whole numbers (commas allowed).
    source
        How to name the table in messages, e.g. ``"Need file 'need.csv'"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``force_code`` (all 43 forces, sorted); ``force_name`` from the register, and
        the ``NEED_COLUMNS``: int64 where given, float NaN where the table lacks them.

    Raises
    ------
    NeedFileError
        On an unknown, empty or repeated code, a value that is not a whole number of people or is
        negative, or missing forces or districts; the message names the row (header is row 1),
        column and value.
    """
    need, missing, skipped = _need_by_force(table, source=source)
    _warn_about(source, missing=missing, skipped=skipped)
    return need


def load_need(path: Path | None = None, *, level: str = "force") -> pd.DataFrame:
    """Return the need table, one row per force or (``level="district"``) per district.

    Parameters
    ----------
    path
        A user's own table (CSV or XLSX, first sheet) keyed by force or district code, e.g. the
        one ``servicemap need download`` writes; ``None`` for the bundled ONS figures
        (``data/need/district_need.csv``, whose force sums are ``data/need/force_need.csv``).
        See :func:`need_from_table` for what it may hold.
    level
        ``force``: always per force (43 rows). ``district``: per district (318 rows, 2025
        codes) when the table gives districts, as the bundled one does; a force-keyed table
        still comes back per force, with a ``DataQualityWarning`` that the coverage measures
        will spread each force's figures evenly over its postcodes.

    Returns
    -------
    pandas.DataFrame
        Per force: indexed by ``force_code``; columns ``force_name`` and the ``NEED_COLUMNS``.
        Per district: indexed by ``district_code``; columns ``district_name``, ``force_code``,
        ``force_name``, the ``NEED_COLUMNS`` and the ``PROXY_COLUMNS``. Counts are int64; float
        NaN for a column a user's table lacks (with a ``DataQualityWarning`` for the
        ``NEED_COLUMNS``).

    Raises
    ------
    NeedFileError
        If the file cannot be read or is not a valid need table; the message says where and how
        to fix it.
    ValueError
        If ``level`` is not ``force`` or ``district``.
    """
    if level not in ("force", "district"):
        raise ValueError(f"Unknown need level {level!r}; use 'force' or 'district'.")
    bundled = "district_need.csv" if level == "district" else "force_need.csv"
    source = Path(path) if path is not None else data_path("need", bundled)
    name = f"Need file {str(source)!r}"
    if level == "force":
        need, missing, skipped = _need_by_force(_read_table(source), source=name)
    else:
        need, missing, skipped = _need_by_district(_read_table(source), source=name)
    _warn_about(name, missing=missing, skipped=skipped)
    if need.index.name != "district_code" and level == "district":
        warnings.warn(
            f"{name} gives figures per police force area, not per district; each force's "
            "figures are spread evenly over its postcodes, so shares within a force do not "
            "follow where people live. Give one row per district ('district_code') to weight "
            "by district.",
            DataQualityWarning,
            stacklevel=2,
        )
    return need


def need_by_force(need: pd.DataFrame) -> pd.DataFrame:
    """Return a need table per force: a district table summed to its forces, else a copy.

    Parameters
    ----------
    need
        From :func:`load_need` (either level).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``force_code`` (the forces of the table, in register order when summed);
        ``force_name`` and every need column the table has (sums are NaN where any district
        lacks the figure).
    """
    if need.index.name != "district_code":
        return need.copy()
    columns = [c for c in (*NEED_COLUMNS, *PROXY_COLUMNS) if c in need.columns]
    codes = pd.unique(need["force_code"])
    names = need.groupby("force_code")["force_name"].first()
    sums = need.groupby("force_code")[columns].sum(min_count=1)
    gaps = need[columns].isna().groupby(need["force_code"]).any()
    sums = sums.mask(gaps)
    frame = pd.DataFrame(index=pd.Index(codes, name="force_code"))
    frame["force_name"] = names.reindex(codes).to_numpy()
    for column in columns:
        values = sums[column].reindex(codes)
        frame[column] = values.astype("int64") if values.notna().all() else values
    return frame


def need_totals(need: pd.DataFrame) -> pd.Series:
    """Return the England and Wales total of each need column.

    Parameters
    ----------
    need
        A need table from :func:`load_need`.

    Returns
    -------
    pandas.Series
        One total per ``NEED_COLUMNS`` entry, named ``"England and Wales"``; NaN for an empty
        column.
    """
    totals = need[NEED_COLUMNS].sum(min_count=1)
    totals.name = "England and Wales"
    return totals


def need_with_totals(need: pd.DataFrame) -> pd.DataFrame:
    """Return the need table with a final ``K04000001`` England and Wales row.

    Parameters
    ----------
    need
        A need table from :func:`load_need`.

    Returns
    -------
    pandas.DataFrame
        A new frame: the 43 forces, then the total row (``force_name`` "England and Wales").
    """
    totals = need_totals(need)
    row = pd.DataFrame(
        [{"force_name": totals.name, **totals.to_dict()}],
        index=pd.Index(["K04000001"], name="force_code"),
    )
    table = pd.concat([need, row])
    for column in NEED_COLUMNS:
        if need[column].notna().all():
            table[column] = table[column].astype("int64")
    return table


def format_need(need: pd.DataFrame, fmt: str) -> str:
    """Render a need table, with its England and Wales total row, as ``table`` or ``csv`` text.

    Parameters
    ----------
    need
        A need table from :func:`load_need`.
    fmt
        ``table`` (aligned columns) or ``csv``.

    Returns
    -------
    str
        One row per force and the total row (:func:`need_with_totals`), ending with a newline.
    """
    table = need_with_totals(need).reset_index()
    if fmt == "csv":
        return csv_text(table)
    if fmt == "table":
        return str(table.to_string(index=False)) + "\n"
    raise ValueError(f"Unknown format {fmt!r}; use table or csv.")


def downloaded_need_path(*, settings: Settings = DEFAULT_SETTINGS) -> Path:
    """Return where ``servicemap need download`` keeps its refreshed need table.

    Parameters
    ----------
    settings
        ``settings.cache_dir`` is the folder (under ``need/``).

    Returns
    -------
    Path
        ``<cache_dir>/need/force_need.csv`` (not checked for existence); never the bundled file.
    """
    return settings.cache_dir / "need" / "force_need.csv"


def download_need(*, url: str | None = None, settings: Settings = DEFAULT_SETTINGS) -> Path:
    """Refresh the Census 2021 country-of-birth figures from Nomis and save a need table.

    Fetches TS004 (dataset ``NM_2024_1``) per local authority district, sums districts to forces
    (mapping abolished districts to their successors), checks every force is there and the totals
    are sane, and writes the bundled table with its two census columns replaced, atomically, to
    :func:`downloaded_need_path`. Use it with ``--need PATH``. A failed download leaves any
    earlier file unchanged.

    Parameters
    ----------
    url
        Base URL of the Nomis API, instead of ``settings.nomis_url``.
    settings
        Nomis URL, cache folder, timeout, retries and backoff.

    Returns
    -------
    Path
        The saved CSV (same columns as the bundled ``force_need.csv``).

    Raises
    ------
    DownloadError
        If Nomis could not be reached or sent figures that do not cover all 43 forces.
    """
    target = downloaded_need_path(settings=settings)
    kept = (
        f"The earlier download {str(target)!r} is unchanged."
        if target.exists()
        else "Nothing was saved."
    )
    advice = (
        " Check your internet connection or proxy, or pass the Nomis API address with --url; "
        f"the bundled figures (used without --need) are unaffected. {kept}"
    )
    try:
        districts = fetch_country_of_birth(url=url, settings=settings)
        census, _, _ = _need_by_force(districts, source="The Nomis download")
    except (DownloadError, NeedFileError) as exc:
        raise DownloadError(f"{str(exc).rstrip('.')}.{advice}") from exc
    need = load_need()
    need[CENSUS_COLUMNS] = census[CENSUS_COLUMNS]
    residents = int(need["usual_residents_2021"].sum())
    wrong = need.index[need["born_outside_uk_2021"] > need["usual_residents_2021"]].tolist()
    if wrong or not 50_000_000 <= residents <= 70_000_000:
        raise DownloadError(
            f"The Nomis download does not add up: {residents:,} usual residents in England and "
            f"Wales (expected about 59.6 million)"
            + (f", more born outside the UK than residents in {', '.join(wrong)}" if wrong else "")
            + f".{advice}"
        )
    atomic_write_text(target, need.reset_index().to_csv(index=False, lineterminator="\n"))
    return target
