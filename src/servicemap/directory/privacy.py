"""The confidentiality rule, and the guards that keep confidential places out of every output.

**The invariant.** For any input, no output of servicemap (files, pages, tables, maps,
messages) holds a confidential service's address, postcode or coordinates. A service is
confidential when :func:`confidential_mask` says so: that function is the one statement of the
rule (``docs/schema.md``, "Confidentiality"), and everything else here applies it.
:func:`public_services` re-applies it to any frame before output, :func:`public_frame` blanks
the location columns a second time for the writers (no writer depends on a single guard), and
:func:`withhold_places` takes the places out of validation messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap.directory.problems import ROW, Problem, shorten, show
from servicemap.directory.schema import (
    FIELDS,
    LOCATION_FIELDS,
    normalise_vocab,
    per_value,
    split_list,
)

if TYPE_CHECKING:
    import geopandas as gpd

# What a confidential service's address, postcode or coordinates become in a message.
_WITHHELD = "(withheld)"


# location_confidential values that clearly say no / yes (after normalise_vocab). Anything
# else that is not empty is "unclear", and unclear is private.
_CLEARLY_NO = frozenset({"no", "n", "false", "0"})
_CLEARLY_YES = frozenset({"yes", "y", "true", "1", "confidential", "private"})

# A name or service type that says refuge, safe house or shelter ("refugee" does not).
_REFUGE_WORDS = re.compile(r"\b(?:refuges?|safe[\s_-]*houses?|shelters?)\b", re.IGNORECASE)


def confidentiality_term(value: Any) -> str:
    """Return ``"yes"``, ``"no"``, ``""`` (not said) or ``"unclear"`` for a confidentiality cell."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    term = normalise_vocab(str(value)).strip("._!")
    if term == "":
        return ""
    if term in _CLEARLY_NO:
        return "no"
    return "yes" if term in _CLEARLY_YES else "unclear"


def _text_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Return a column as text (``""`` for a missing column, None, NaN or NA)."""
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)

    column = frame[name]
    text = column.astype(str).astype(object)  # one pass in pandas, not a call per row
    text[column.isna().to_numpy()] = ""
    return text


def _types(value: str) -> list[str]:
    return [normalise_vocab(t) for t in split_list(value)]


def offers_accommodation(frame: pd.DataFrame) -> pd.Series:
    """Mark services whose types include refuge or housing, or say safe house or shelter."""

    def offers(value: str) -> bool:
        types = _types(value)
        return bool({"refuge", "housing"} & set(types)) or any(
            _REFUGE_WORDS.search(t.replace("_", " ")) for t in types
        )

    column = _text_column(frame, "service_types")
    return pd.Series(per_value(column, offers), index=frame.index, dtype=bool)


def only_refuge(frame: pd.DataFrame) -> pd.Series:
    """Mark services whose every type is a refuge (or a safe house or shelter)."""

    def only(value: str) -> bool:
        types = _types(value)
        return bool(types) and all(_REFUGE_WORDS.search(t.replace("_", " ")) for t in types)

    column = _text_column(frame, "service_types")
    return pd.Series(per_value(column, only), index=frame.index, dtype=bool)


def named_as_refuge(frame: pd.DataFrame) -> pd.Series:
    """Mark services whose name says refuge, safe house or shelter."""
    column = _text_column(frame, "name")
    return pd.Series(_say_refuge(column.tolist()), index=frame.index, dtype=bool)


def _say_refuge(texts: list[str]) -> npt.NDArray[np.bool_]:
    """Return which texts say refuge, safe house or shelter (``_`` read as a space).

    Names are mostly distinct, so one search runs over them all, joined by NUL: no part of
    the pattern matches a NUL and ``\\b`` sees it as a text's start or end does, so each
    match is one text's own, found as in that text alone.
    """
    found = np.zeros(len(texts), dtype=bool)
    joined = "\0".join(texts).replace("_", " ")
    starts = np.zeros(len(texts), dtype=np.intp)
    if len(texts) > 1:
        lengths = np.fromiter(map(len, texts[:-1]), dtype=np.intp, count=len(texts) - 1)
        np.cumsum(lengths + 1, out=starts[1:])
    at = np.fromiter((m.start() for m in _REFUGE_WORDS.finditer(joined)), dtype=np.intp)
    found[np.searchsorted(starts, at, side="right") - 1] = True
    return found


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

    It serves the invariant stated in this module's docstring.

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
    columns = {name: _text_column(services, name) for name in _RULE_COLUMNS}
    # copies kept: what they were found from must not change with the frame's next edit
    texts = [columns[name].to_numpy(copy=True) for name in _RULE_COLUMNS]
    for seen, mask in _LAST_MASKS:
        if all(len(a) == len(b) and bool((a == b).all()) for a, b in zip(seen, texts, strict=True)):
            return pd.Series(mask.copy(), index=services.index, dtype=bool)  # callers may edit
    terms = pd.Series(
        per_value(columns["location_confidential"], confidentiality_term), index=services.index
    )
    said = ~terms.isin(["", "no"])
    in_doubt = (offers_accommodation(services) | named_as_refuge(services)) & (terms != "no")
    found = (said | only_refuge(services) | in_doubt).astype(bool)
    _LAST_MASKS[:] = [(texts, found.to_numpy(copy=True)), *_LAST_MASKS[:3]]
    return found


#: The columns :func:`confidential_mask` reads.
_RULE_COLUMNS = ("location_confidential", "service_types", "name")

# The last few masks, with the text they were found from: a report asks about the same
# services many times, and the same text (compared in full) gives the same mask.
_LAST_MASKS: list[tuple[list[npt.NDArray[Any]], npt.NDArray[np.bool_]]] = []


def _spellings(field: str, text: str) -> list[str]:
    """Return the ways a location value can appear in a message, longest first."""
    found = {text, shorten(text), shorten(text, 200), show(text), repr(text)}
    if field in {"latitude", "longitude"}:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            found |= {f"{number:g}", repr(number), *(f"{number:.{d}f}" for d in range(3, 7))}
    return sorted((s for s in found if s), key=len, reverse=True)


def withhold_places(problems: list[Problem], frame: pd.DataFrame) -> list[Problem]:
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


def usable_home_districts(
    services: pd.DataFrame, home_districts: Sequence[str] | npt.NDArray[np.str_]
) -> npt.NDArray[np.bool_]:
    """Return which services' home district (the district their place is in) may shape an output.

    The measures place a confidential service at the centre of its home district, and fill in
    the home district as the area of a service that states none. For a confidential service
    that is allowed only where the district is one it says it serves (``served_districts``):
    anywhere else the figures, the search or ``near`` would tell which district it is in. Fail
    closed: a service is confidential by its ``confidential`` column (missing: confidential)
    or by :func:`confidential_mask`.

    Parameters
    ----------
    services
        A services frame (canonical or public).
    home_districts
        Each service's home district code, ``""`` when none.

    Returns
    -------
    numpy.ndarray
        One flag per service: True where its home district may be used.
    """
    hidden = confidential_mask(services).to_numpy(dtype=bool, copy=True)
    if "confidential" in services.columns:
        hidden |= services["confidential"].fillna(True).astype(bool).to_numpy()
    usable: npt.NDArray[np.bool_] = ~hidden
    served: list[Any] = (
        services["served_districts"].tolist()
        if "served_districts" in services.columns
        else [()] * len(services)
    )
    said: dict[int, set[str]] = {}  # the codes of each stated object: rows often share one
    for i in np.flatnonzero(hidden).tolist():
        home = str(home_districts[i])
        stated = served[i] if isinstance(served[i], tuple | list | np.ndarray) else ()
        codes = said.get(id(stated))
        if codes is None:  # (served keeps every object alive, so an id is not reused)
            codes = said[id(stated)] = {str(d) for d in stated}
        usable[i] = bool(home) and home in codes
    return usable


# The location columns public_frame blanks as numbers (address and postcode are text).
def withhold_locations(services: pd.DataFrame, confidential: npt.NDArray[np.bool_]) -> pd.DataFrame:
    """Return a copy with the location fields blanked for confidential services.

    Parameters
    ----------
    services
        Service rows.
    confidential
        One flag per row (from :func:`confidential_mask`, or a prepared copy of it).

    Returns
    -------
    pandas.DataFrame
        A copy: for flagged rows ``latitude`` and ``longitude`` are NaN and the other
        location fields (address, postcode, ...) are ``""``.
    """
    out = services.copy()
    for column in LOCATION_FIELDS:
        if column in out.columns:
            blank: Any = np.nan if column in ("latitude", "longitude") else ""
            out.loc[confidential, column] = blank
    return out


_NUMERIC_LOCATION = ("latitude", "longitude", "easting", "northing")


def public_frame(services: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of the services frame that is safe to publish.

    Applies :func:`public_services` (which re-applies the confidentiality rule), then
    blanks again every location column of confidential services (``address``, ``postcode``,
    ``latitude``, ``longitude``, ``easting``, ``northing`` and the geometry), so that no writer
    depends on a single guard.

    Parameters
    ----------
    services
        The canonical services frame (:func:`servicemap.directory.load.load_services`).

    Returns
    -------
    pandas.DataFrame
        Same rows and columns (a GeoDataFrame if the input is one).

    Raises
    ------
    ValueError
        The frame lacks schema columns.
    """
    import geopandas as gpd

    missing = [column for column in FIELDS if column not in services.columns]
    if missing:
        raise ValueError(
            f"Cannot export services: the frame lacks column(s) {', '.join(missing)}; pass the "
            "frame from servicemap.directory.load.load_services."
        )
    if "confidential" not in services.columns:
        # public_services re-applies the rule and records it in this column.
        services = services.assign(confidential=False)
    public = public_services(services).copy()
    confidential = public["confidential"].fillna(False).astype(bool).to_numpy()
    if not confidential.any():
        return public
    for column in ("address", "postcode"):
        public[column] = public[column].astype(object)
        public.loc[confidential, column] = ""
    for column in _NUMERIC_LOCATION:
        if column in public.columns:
            public[column] = pd.to_numeric(public[column], errors="coerce").astype(float)
            public.loc[confidential, column] = np.nan
    if isinstance(public, gpd.GeoDataFrame) and public.geometry.name in public.columns:
        geometry = public.geometry.copy()
        geometry[confidential] = None
        public = public.set_geometry(geometry)
    return public


def has_location(services: pd.DataFrame) -> pd.Series:
    """Return True for services with an address, postcode, coordinates or a point.

    Parameters
    ----------
    services
        A services frame.

    Returns
    -------
    pandas.Series
        Booleans aligned with ``services``.
    """
    import geopandas as gpd

    found = pd.Series(False, index=services.index)
    for column in ("address", "postcode"):
        found |= services[column].fillna("").astype(str).str.strip() != ""
    for column in ("latitude", "longitude"):
        found |= pd.to_numeric(services[column], errors="coerce").notna()
    if isinstance(services, gpd.GeoDataFrame) and services.geometry.name in services.columns:
        geometry = services.geometry
        found |= geometry.notna() & ~geometry.is_empty.fillna(True).astype(bool)
    return found
