"""Plan text: what-ifs and site proposals in plain words, and as CSV and JSON with units.

Every number a person reads goes through here: shares as percentages with changes in points,
distances in km to one decimal, people as whole numbers, the gap rank as "places less of a
gap". CSV and JSON keep the machine names, rounded, with the unit in the column name
(``in_person_within_10km_pct``, ``newly_within_reach_people``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from servicemap._tables import format_table, json_records
from servicemap.analysis.cover import BUDGET_GUARANTEE, GREEDY_GUARANTEE, CoverSolution
from servicemap.analysis.plan import PROPOSED_KIND, Proposal, site_measures
from servicemap.analysis.sites import ENGLAND_AND_WALES, WEIGHTS
from servicemap.directory.problems import plural
from servicemap.directory.proposals import PROPOSAL_DEFAULTS
from servicemap.errors import PlanError
from servicemap.render.labels import (
    KIND_NOUNS,
    WEIGHT_LABELS,
    change_label,
    is_share,
)

SHARE_POINTS = 0.001
"""A share must move by at least this (0.1 percentage point) for a plan to mention it."""

KM_STEP = 0.1
"""A distance must move by at least this many km for a plan to mention it."""

_PEOPLE = {
    "born_outside_uk_2021",
    "usual_residents_2021",
    "population_mid2023",
    "females_16plus_mid2023",
}
_INDIRECT = {"gap_score", "gap_rank", "gap_class"}


# --- numbers -----------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _pct(share: float) -> str:
    """Return a share (0-1) as a percentage to one decimal: "14%" rather than "14.0%"."""
    text = f"{100.0 * share:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def _points(change: float) -> str:
    text = f"{abs(100.0 * change):.1f}"
    text = text[:-2] if text.endswith(".0") else text
    return f"{'+' if change > 0 else '-'}{text} points"


def people(value: float) -> str:
    """Return a number of people as a whole number with thousands separators."""
    return f"{value:,.0f}"


def money(value: float) -> str:
    """Return an amount of money with thousands separators (pence only when there are any)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _unit(measure: str, values: pd.Series | None = None) -> str:
    """Return how a coverage measure is read: share, km, score, rank, people, count or text."""
    if is_share(measure):
        return "share"
    if "km" in measure:
        return "km"
    if measure == "gap_score":
        return "score"
    if measure == "gap_rank":
        return "rank"
    if measure in _PEOPLE:
        return "people"
    if values is not None and not pd.api.types.is_numeric_dtype(values):
        return "text"
    if values is not None and pd.api.types.is_bool_dtype(values):
        return "text"
    return "count" if values is None or pd.api.types.is_integer_dtype(values) else "number"


def _guess_unit(measure: str, before: Any, after: Any) -> str:
    if isinstance(before, (str, bool, np.bool_)) or isinstance(after, (str, bool, np.bool_)):
        return "text"
    return _unit(measure)


def meaningful(measure: str, before: Any, after: Any, unit: str | None = None) -> bool:
    """Return True when a measure moved enough to tell a reader (0.1 point, 0.1 km, any count).

    Parameters
    ----------
    measure
        The coverage column.
    before, after
        Its values.
    unit
        How it is read (see :func:`_unit`); guessed from the name when not given.

    Returns
    -------
    bool
        Whether the change is worth a line.
    """
    unit = unit or _guess_unit(measure, before, after)
    if _missing(before) and _missing(after):
        return False
    if _missing(before) or _missing(after):
        return True
    if unit == "text":
        return str(before) != str(after)
    b, a = float(before), float(after)
    if not (math.isfinite(b) and math.isfinite(a)):
        return b != a
    step = {"share": SHARE_POINTS, "km": KM_STEP, "score": 0.1, "number": 0.01}.get(unit, 1.0)
    return abs(a - b) >= step * (1.0 - 1e-9)


def change_line(measure: str, before: Any, after: Any, unit: str | None = None) -> str:
    """Return one measure's before and after in plain words.

    Parameters
    ----------
    measure
        The coverage column.
    before, after
        Its values.
    unit
        How it is read (see :func:`_unit`); guessed from the name when not given.

    Returns
    -------
    str
        E.g. "In-person help within 10 km: 0% → 14% (+14 points)" or "Gap rank: 6 → 37: 31
        places less of a gap (1 = biggest gap)".
    """
    unit = unit or _guess_unit(measure, before, after)
    label = change_label(measure)
    if _missing(before) or _missing(after) or unit == "text":
        shown = ["no data" if _missing(v) else str(v) for v in (before, after)]
        same = shown[0] == shown[1]
        return f"{label}: {shown[0]}" + (" (unchanged)" if same else f" → {shown[1]}")
    b, a = float(before), float(after)
    if unit == "share":
        change = "" if not meaningful(measure, b, a, unit) else f" ({_points(a - b)})"
        return f"{label}: {_pct(b)} → {_pct(a)}{change}"
    if unit == "km":
        text = [("no service" if not math.isfinite(v) else f"{v:,.1f} km") for v in (b, a)]
        if not meaningful(measure, b, a, unit) or not math.isfinite(a - b):
            return f"{label}: {text[0]} → {text[1]}"
        nearer = "nearer" if a < b else "farther"
        return f"{label}: {text[0]} → {text[1]} ({abs(a - b):,.1f} km {nearer})"
    if unit == "rank":
        if a == b:
            return f"{label}: {b:.0f} (unchanged; 1 = biggest gap)"
        places = plural(int(abs(a - b)), "place")
        which = "less" if a > b else "more"
        return f"{label}: {b:.0f} → {a:.0f}: {places} {which} of a gap (1 = biggest gap)"
    if unit == "score":
        if round(a, 1) == round(b, 1):
            return f"{label}: {b:.1f} (unchanged; 0 = best served, 100 = nothing found)"
        which = "less" if a < b else "more"
        return (
            f"{label}: {b:.1f} → {a:.1f}: {abs(a - b):.1f} points {which} of a gap "
            "(0 = best served, 100 = nothing found)"
        )
    digits = 2 if unit == "number" else 0
    delta = a - b
    sign = "+" if delta > 0 else "-"
    change = f" ({sign}{abs(delta):,.{digits}f})" if meaningful(measure, b, a, unit) else ""
    return f"{label}: {b:,.{digits}f} → {a:,.{digits}f}{change}"


# --- machine tables ------------------------------------------------------------------------------


def _machine_name(measure: str) -> str:
    return f"{measure}_pct" if is_share(measure) else measure


def machine_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a plan table for CSV and JSON: units in the names, numbers rounded sensibly.

    Shares become percentages (``<m>_pct``, two decimals; a ``_change`` is in points),
    distances keep their km to two decimals, people are whole numbers, the gap score has one
    decimal. Other columns are unchanged.

    Parameters
    ----------
    frame
        A :func:`servicemap.analysis.plan.compare_coverage` table or a proposal's sites.

    Returns
    -------
    pandas.DataFrame
        A new frame.
    """
    out: dict[str, Any] = {}
    for column in frame.columns:
        values = frame[column]
        if column in _SITE_COLUMNS:
            name, unit = _SITE_COLUMNS[column]
            number = values.astype(np.float64)
            out[name] = _whole(number) if unit == "people" else (100 * number).round(2).to_numpy()
            continue
        measure, when = column, ""
        for suffix in ("_before", "_after", "_change"):
            if column.endswith(suffix):
                measure, when = column.removesuffix(suffix), suffix
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            out[_machine_name(measure) + when] = values.to_numpy()
            continue
        number = values.astype(np.float64)
        if is_share(measure):
            out[f"{measure}_pct{when}"] = (100.0 * number).round(2).to_numpy()
        elif measure in _PEOPLE:
            out[column] = _whole(number)
        elif "km" in measure or measure in ("latitude", "longitude"):
            out[column] = number.round(5 if measure in ("latitude", "longitude") else 2).to_numpy()
        elif measure in ("easting", "northing", "gap_rank", "rank"):
            out[column] = _whole(number)
        elif pd.api.types.is_integer_dtype(values):
            out[column] = values.to_numpy()
        else:
            out[column] = number.round(2).to_numpy()
    return pd.DataFrame(out, index=frame.index)


# A proposal's own columns: new name and unit.
_SITE_COLUMNS = {
    "newly_within_reach": ("newly_within_reach_people", "people"),
    "within_reach_after": ("within_reach_after_people", "people"),
    "share_within_reach_after": ("within_reach_after_pct", "pct"),
}


def _whole(values: pd.Series) -> Any:
    rounded = values.round(0)
    if rounded.notna().all():
        return rounded.astype(np.int64).to_numpy()
    return rounded.astype("Int64").to_numpy()


# --- what if -------------------------------------------------------------------------------------


def _units(comparison: pd.DataFrame) -> dict[str, str]:
    return {
        c.removesuffix("_before"): _unit(c.removesuffix("_before"), comparison[c])
        for c in comparison.columns
        if c.endswith("_before")
    }


def _meaningful_changes(row: pd.Series, units: dict[str, str]) -> list[str]:
    changed = [m for m in str(row["changed"]).split("; ") if m and m in units]
    return [m for m in changed if meaningful(m, row[f"{m}_before"], row[f"{m}_after"], units[m])]


def _force_block(row: pd.Series, units: dict[str, str], shown: Sequence[str]) -> list[str]:
    return [
        f"  {change_line(m, row[f'{m}_before'], row[f'{m}_after'], units[m])}"
        for m in shown
        if f"{m}_before" in row.index
    ]


def format_what_if(comparison: pd.DataFrame, fmt: str) -> str:
    """Render a what-if as ``table`` (plain words, a block per force), ``csv`` or ``json``.

    The ``table`` format shows each requested force, and each force where a measure other
    than the gap score, class and rank moved meaningfully (0.1 point, 0.1 km, any count),
    with the measures that moved meaningfully plus the gap score and rank; every other force
    that changed at all is summed up in one line. ``csv`` (spreadsheet-safe) and ``json`` have
    every column for every row, with units in the column names (:func:`machine_columns`).

    Parameters
    ----------
    comparison
        From :func:`servicemap.analysis.plan.what_if`.
    fmt
        ``table``, ``csv`` or ``json``.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    if fmt in ("csv", "json"):
        return format_table(machine_columns(comparison), fmt)
    if fmt != "table":
        raise PlanError(f"Unknown format {fmt!r}; use table, csv or json.")
    requested = set(comparison.attrs.get("requested", ()))
    proposed = comparison.attrs.get("proposed")
    units = _units(comparison)
    lines: list[str] = []
    if proposed is not None:
        lines.append(f"With {plural(int(proposed), 'proposed service')} added to the directory.")
        lines += _defaults_lines(comparison.attrs.get("defaults", {}))
    slight: list[str] = []
    for _, row in comparison.iterrows():
        moved = _meaningful_changes(row, units)
        direct = [m for m in moved if m not in _INDIRECT]
        if row["force_code"] not in requested and not direct:
            if row["changed"]:
                slight.append(str(row["force_name"]))
            continue
        lines.append("")
        title = f"{row['force_name']} ({row['force_code']})"
        if not moved:
            lines.append(f"{title}: no measure changes.")
            lines += _force_block(row, units, ["gap_score", "gap_rank"])
            continue
        verb = "changes" if len(moved) == 1 else "change"
        lines.append(f"{title}: {plural(len(moved), 'measure')} {verb}.")
        first = ["gap_score", "gap_rank", *(["gap_class"] if "gap_class" in moved else [])]
        lines += _force_block(row, units, list(dict.fromkeys([*first, *moved])))
    if slight:
        lines += [
            "",
            f"{plural(len(slight), 'other force')} change only slightly (the gap score or rank, "
            "through the England and Wales comparison, or by less than 0.1 point or 0.1 km): "
            + ", ".join(slight)
            + ".",
        ]
    return "\n".join(lines).lstrip("\n") + "\n"


def _defaults_lines(used: dict[str, int]) -> list[str]:
    """Say which defaults the proposals took (see ``PROPOSAL_DEFAULTS``)."""
    if not used:
        return []
    said = [
        f"{field.replace('_', ' ')} {PROPOSAL_DEFAULTS[field]}"
        if field != "areas_served"
        else f"areas served: {PROPOSAL_DEFAULTS[field]}"
        for field in PROPOSAL_DEFAULTS
        if used.get(field)
    ]
    return ["Where the file leaves them empty, proposals get: " + "; ".join(said) + "."]


# --- proposals -----------------------------------------------------------------------------------


def proposal_document(proposal: Proposal) -> dict[str, Any]:
    """Return a proposal as JSON-ready plain data: machine names with units, rounded.

    Parameters
    ----------
    proposal
        From :func:`servicemap.analysis.plan.propose_sites`.

    Returns
    -------
    dict
        Parameters, people within reach before and after, the solver's bound and guarantee,
        the spend (with a budget), the sites and the coverage change.
    """
    p, s = proposal.problem, proposal.solution
    total = p.residents

    def pct(value: float) -> float | None:
        return None if total <= 0 else round(100.0 * value / total, 2)

    document: dict[str, Any] = {
        "area": {"code": p.area_code, "name": p.area_name},
        "kind": p.kind,
        "radius_km": p.radius_km,
        "weight": p.weight,
        "weight_column": WEIGHTS[p.weight],
        "requested": proposal.requested,
        "candidates_considered": len(p.candidates),
        "demand_cell_m": p.grid_m,
        "people_in_area": round(total),
        "people_within_reach_before": round(proposal.reach_before),
        "people_within_reach_after": round(proposal.reach_after),
        "within_reach_before_pct": pct(proposal.reach_before),
        "within_reach_after_pct": pct(proposal.reach_after),
        "method": s.method,
        "model_value_people": round(s.value, 1),
        "model_upper_bound_people": round(s.upper_bound, 1),
        "upper_bound_from": s.bound,
        "proven_best": s.optimal,
        "at_least_pct_of_best": round(100.0 * s.ratio_floor, 2),
        "guarantee_pct": round(100.0 * _guarantee(proposal), 2),
    }
    if proposal.budget is not None:
        document |= {
            "budget": proposal.budget,
            "spent": proposal.spent,
            "left": proposal.budget - proposal.spent,
        }
    document |= {
        "sites": json_records(machine_columns(proposal.sites)),
        "coverage_change": json_records(machine_columns(proposal.coverage_change)),
        "notes": list(proposal.notes),
    }
    return document


def _guarantee(proposal: Proposal) -> float:
    return BUDGET_GUARANTEE if proposal.budget is not None else GREEDY_GUARANTEE


def format_proposal(proposal: Proposal, fmt: str) -> str:
    """Render a site proposal as ``table`` text, ``csv`` or ``json``.

    ``csv`` (spreadsheet-safe) is the sites table, one row per proposed site; ``json`` has
    everything (:func:`proposal_document`); both use :func:`machine_columns`. ``table`` is a
    short report in plain words.

    Parameters
    ----------
    proposal
        From :func:`servicemap.analysis.plan.propose_sites`.
    fmt
        ``table``, ``csv`` or ``json``.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    if fmt == "csv":
        return format_table(machine_columns(proposal.sites), "csv")
    if fmt == "json":
        return json.dumps(proposal_document(proposal), indent=2, ensure_ascii=False) + "\n"
    if fmt != "table":
        raise PlanError(f"Unknown format {fmt!r}; use table, csv or json.")
    lines = [
        *_proposal_heading(proposal),
        "",
        _proposed_sites_text(proposal),
        "",
        _reach_line(proposal),
        *_budget_lines(proposal),
        _solution_line(proposal),
        *[f"Note: {note}" for note in proposal.notes],
        "",
        *_proposal_changes(proposal),
    ]
    return "\n".join(lines) + "\n"


def _kind_words(kind: str | None) -> str:
    return f" ({KIND_NOUNS[kind]})" if kind else ""


def _proposal_heading(proposal: Proposal) -> list[str]:
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    yours = (p.candidates["source"] != "postcode district").any()
    if proposal.budget is not None:
        what = f"For a budget of {money(proposal.budget)}: where new in-person services"
    else:
        what = f"Where {proposal.requested} new in-person " + (
            "service" if proposal.requested == 1 else "services"
        )
    sources = "postcode districts" + (" and your candidates" if yours else "")
    if not yours and p.area_code != ENGLAND_AND_WALES:
        sources = f"the postcode districts of {p.area_name}"
    return [
        f"{what}{_kind_words(p.kind)} would bring the most {who} in {p.area_name} "
        f"within {p.radius_km:g} km",
        f"(existing in-person services{' of that kind' if p.kind else ''} held fixed; "
        f"{plural(len(p.candidates), 'candidate site')}: {sources})",
    ]


def _proposed_sites_text(proposal: Proposal) -> str:
    sites = proposal.sites
    if sites.empty:
        return "No site brings anyone new within reach."
    radius = f"{proposal.problem.radius_km:g} km"
    shown = pd.DataFrame(
        {
            "Site": sites["rank"].to_numpy(),
            "Postcode district": sites["postcode_district"].to_numpy(),
            "Name": sites["name"].to_numpy(),
            "Site postcode": sites["site_postcode"].to_numpy(),
            "Local authority": sites["local_authority"].to_numpy(),
            "Force": sites["force_name"].to_numpy(),
        }
    )
    if not (shown["Name"] != "").any():
        shown = shown.drop(columns="Name")
    if "cost" in sites.columns and proposal.budget is not None:
        shown["Cost"] = sites["cost"].map(money).to_numpy()
    shown[f"Newly within {radius}"] = sites["newly_within_reach"].map(people).to_numpy()
    shown["Share within reach after"] = [
        _pct(v) if np.isfinite(v) else "" for v in sites["share_within_reach_after"]
    ]
    return str(shown.to_string(index=False))


def _reach_line(proposal: Proposal) -> str:
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    before, after, total = proposal.reach_before, proposal.reach_after, p.residents

    def share(value: float) -> str:
        return f" ({_pct(value / total)})" if total > 0 else ""

    return (
        f"{who[0].upper()}{who[1:]} in {p.area_name} within {p.radius_km:g} km of in-person "
        f"help{_kind_words(p.kind)}: {people(before)}{share(before)} before, "
        f"{people(after)}{share(after)} after (+{people(after - before)})."
    )


def _budget_lines(proposal: Proposal) -> list[str]:
    if proposal.budget is None:
        return []
    left = proposal.budget - proposal.spent
    return [
        f"Spent {money(proposal.spent)} of the budget of {money(proposal.budget)}; "
        f"{money(left)} left."
    ]


def _solution_line(proposal: Proposal) -> str:
    s: CoverSolution = proposal.solution
    if s.method != "greedy":
        return "Chosen exactly (integer programme, HiGHS)" + (
            ": the best possible."
            if s.optimal
            else f": time limit reached, at least {_pct(s.ratio_floor)} of the best possible."
        )
    proof = (
        f"on this data it is the best possible (proved by the {s.bound} bound)."
        if s.optimal
        else f"on this data at least {_pct(s.ratio_floor)} of it ({s.bound} bound); "
        "--exact finds the best."
    )
    if proposal.budget is not None:
        return (
            "Chosen greedily by people brought within reach per unit of cost, or the best single "
            f"affordable site if that reaches more: guaranteed at least {_pct(BUDGET_GUARANTEE)} "
            f"of the best possible spend of the budget (Khuller, Moss and Naor 1999); {proof}"
        )
    return (
        f"Chosen greedily: guaranteed at least {_pct(GREEDY_GUARANTEE)} of the best possible "
        f"choice; {proof}"
    )


def _proposal_changes(proposal: Proposal) -> list[str]:
    p = proposal.problem
    forces = list(dict.fromkeys(proposal.sites["force_code"]))
    if p.area_code != ENGLAND_AND_WALES and p.area_code not in forces:
        forces.insert(0, p.area_code)
    comparison = proposal.coverage_change
    units = _units(comparison)
    change = comparison.set_index("force_code")
    measures = [m for m in site_measures(proposal.radii_km, p.kind) if m in units]
    kind = p.kind or PROPOSED_KIND
    lines = [
        "Coverage measures, modelling each new site as a local in-person service "
        f"({KIND_NOUNS[kind]}) serving its local authority district:",
    ]
    for code in forces:
        if code not in change.index:
            continue
        row = change.loc[code]
        lines.append(f"{row['force_name']} ({code}):")
        lines += _force_block(row, units, measures)
    return lines
