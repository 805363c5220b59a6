"""Text renderers: coverage tables, force profiles, "near" searches, what-ifs and proposals."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap._atomic import atomic_path, atomic_write_text
from servicemap._csv import safe_cell
from servicemap._tables import format_table
from servicemap.analysis.cover import GREEDY_GUARANTEE, CoverSolution
from servicemap.analysis.coverage import coverage_areas
from servicemap.analysis.near import describe_near_place
from servicemap.analysis.plan import PROPOSED_KIND, Proposal, site_measures
from servicemap.analysis.profile import ForceProfile
from servicemap.analysis.sites import ENGLAND_AND_WALES
from servicemap.directory.problems import Problem, plural
from servicemap.errors import PlanError
from servicemap.geography.boundaries import load_force_areas
from servicemap.render.labels import (
    WEIGHT_LABELS,
    access_basis,
    format_measure,
    is_share,
    rank_text,
)
from servicemap.render.selection import phone_text, seen_text
from servicemap.render.workbook import for_programs, write_coverage_workbook
from servicemap.settings import DEFAULT_SETTINGS, Settings

# --- coverage, profiles and "near" ------------------------------------------------------------


TABLE_COLUMNS: tuple[str, ...] = (
    "gap_rank",
    "district_name",
    "authority_name",
    "force_name",
    "gap_score",
    "gap_class",
    "local_services",
    "local_coverage_share",
    "advocacy_level",
    "nrpf_accommodation_level",
    "legal_immigration_level",
    "born_outside_uk_2021",
)
"""Columns shown by the ``table`` and ``markdown`` formats (CSV and JSON have all of them)."""


def _clip(text: object, width: int = 60) -> str:
    """Shorten long text for a terminal table (CSV and JSON keep it whole)."""
    value = str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


def format_force_profile(profile: ForceProfile) -> str:
    """Render a force profile as plain text for a terminal or an email.

    Parameters
    ----------
    profile
        From :func:`servicemap.analysis.profile.force_profile`.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    s = profile.summary
    lines = [
        f"{profile.name} ({profile.code})",
        f"Gap score {s['gap_score']:.1f}/100 ({s['gap_class']}), rank {s['gap_rank']} of "
        f"{profile.forces} (1 = largest gap).",
        f"Residents born outside the UK: {s['born_outside_uk_2021']:,} "
        f"({s['share_born_outside_uk']:.0%}); women aged 16+: {s['females_16plus_mid2023']:,}.",
        f"Services serving the force: {s['services_serving']} "
        f"({s['local_services']} local, {s['regional_services']} regional, "
        f"{s['national_services']} national); based in it: {s['services_based']}.",
        *([access_basis(profile.places, profile.active)] if profile.active else []),
        "",
        "Gaps:",
        *([f"  - {g}" for g in profile.gaps] or ["  (none found)"]),
        "",
        "Services serving the force:",
    ]
    shown = ["level", "name", "serves", "service_types", "phone"]
    if profile.services.empty:
        lines.append("  (none)")
    else:
        services = profile.services
        table = services[shown].copy()
        table["name"] = table["name"].map(_clip)
        table["serves"] = table["serves"].map(_clip)
        table["phone"] = _phones(services)
        table["last_seen"] = _seen(services)
        lines.append(table.to_string(index=False))
    if not profile.districts.empty:
        lines += ["", "Districts (residents weighted by district):", _district_lines(profile)]
    lines += ["", "Nearest in-person services outside the force:"]
    if profile.nearest_outside.empty:
        lines.append("  (none)")
    else:
        nearest = profile.nearest_outside.copy()
        nearest["name"] = nearest["name"].map(_clip)
        lines.append(nearest.to_string(index=False))
    return "\n".join(lines) + "\n"


def _district_lines(profile: ForceProfile) -> str:
    """Return the profile's district table as aligned text, shares as whole percentages."""
    table = profile.districts.copy()
    shares = [c for c in table.columns if c == "local_coverage_share" or "_within_" in c]
    for column in shares:
        table[column] = table[column].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    for column in ("population_mid2023", "born_outside_uk_2021"):
        table[column] = table[column].map(lambda v: f"{int(v):,}")
    table["district_name"] = table["district_name"].map(lambda v: _clip(v, 28))
    table["local_services_serving"] = table["local_services_serving"].map(_clip)
    renamed = table.drop(columns="district_code").rename(
        columns={
            "district_name": "district",
            "population_mid2023": "residents",
            "born_outside_uk_2021": "born abroad",
            "local_services": "local",
            "local_coverage_share": "reached",
            "local_services_serving": "local services serving it",
            **{c: c.replace("in_person_within_", "in person ≤") for c in shares if "_within_" in c},
        }
    )
    return str(renamed.to_string(index=False))


NEAR_COLUMNS: tuple[str, ...] = (
    "relation",
    "name",
    "scope",
    "distance_km",
    "phone",
    "website",
    "last_seen",
)
"""Columns shown by the ``table`` format of :func:`format_near`."""


def _seen(services: pd.DataFrame) -> list[str]:
    """When each service was last seen, flagged "may have ended" when old (``seen_text``)."""
    if "last_seen" not in services.columns:
        return ["not known"] * len(services)
    return [seen_text(value) for value in services["last_seen"]]


def _phones(services: pd.DataFrame) -> list[str]:
    """Each phone number with the date its service was last seen (``phone_text``)."""
    seen = services["last_seen"] if "last_seen" in services.columns else [""] * len(services)
    return [phone_text(p, s) for p, s in zip(services["phone"], seen, strict=True)]


def format_near(near: pd.DataFrame, fmt: str) -> str:
    """Render a ``near`` search as ``table`` (with a heading), ``csv`` or ``json`` text.

    Parameters
    ----------
    near
        From :func:`servicemap.analysis.near.services_near`.
    fmt
        One of ``table``, ``csv``, ``json``.

    Returns
    -------
    str
        The rendered text, ending with a newline.
    """
    if fmt != "table":
        return format_table(near, fmt)
    attrs = near.attrs
    several = len(attrs.get("districts", [])) > 1 or len(attrs.get("forces", [])) > 1
    between = "; " if several else ", "  # the names are lists: keep them apart
    heading = (
        f"{attrs.get('place', '')} ({attrs.get('district', '')}{between}{attrs.get('force', '')}): "
        f"services serving this area, and in-person services within "
        f"{attrs.get('radius_km', 0):g} km."
    )
    note = describe_near_place(near)
    heading += f"\n{note}" if note else ""
    if near.empty:
        return heading + "\nNo services found.\n"
    shown = near[list(NEAR_COLUMNS)].copy()
    shown["name"] = shown["name"].map(_clip)
    shown["phone"] = _phones(near)
    shown["last_seen"] = _seen(near)
    shown["distance_km"] = [
        "" if not np.isfinite(v) else f"{v:.1f}" for v in shown["distance_km"].astype(float)
    ]
    return heading + "\n" + str(shown.to_string(index=False)) + "\n"


def format_coverage(coverage: pd.DataFrame, fmt: str) -> str:
    """Return the coverage table as text, for people or for programs.

    ``table`` and ``markdown`` show the main columns with shares as percentages; ``csv`` and
    ``json`` keep every column with machine names, rounded (see
    :func:`servicemap.render.workbook.for_programs`).
    """
    if fmt in ("csv", "json"):
        return format_table(for_programs(coverage), fmt)
    shown = coverage.copy()
    for column in shown.columns:
        if is_share(str(column)) and pd.api.types.is_float_dtype(shown[column]):
            shown[column] = [format_measure(str(column), v) for v in shown[column]]
    if "gap_rank" in shown.columns:  # a shared rank reads "=1"
        ranks = list(shown["gap_rank"])
        shown["gap_rank"] = [rank_text(r, ranks) for r in ranks]
    return format_table(shown, fmt, columns=TABLE_COLUMNS)


def write_coverage(
    coverage: pd.DataFrame,
    path: Any,
    *,
    fmt: str,
    force_areas: pd.DataFrame | None = None,
    boundaries: str | Path = "derived",
    settings: Settings = DEFAULT_SETTINGS,
) -> None:
    """Write the coverage table to a file atomically (the old file survives a failure).

    Parameters
    ----------
    coverage
        From :func:`servicemap.analysis.coverage.coverage_by_force`.
    path
        The file to write.
    fmt
        ``"table"``, ``"csv"``, ``"json"``, ``"markdown"``, ``"xlsx"`` (a workbook for people:
        :func:`servicemap.render.workbook.write_coverage_workbook`) or
        ``"gpkg"`` (layer ``coverage``, with each force's polygon).
    force_areas
        Force polygons for ``gpkg``, in their own CRS; when ``None`` they are loaded from
        ``boundaries`` (see ``geography.boundaries.load_force_areas``) with ``settings``.
    boundaries, settings
        Where the polygons for ``gpkg`` come from when ``force_areas`` is ``None``.

    Returns
    -------
    None
        The file is written.
    """
    if fmt == "xlsx":
        write_coverage_workbook(coverage, path)
        return
    if fmt != "gpkg":
        atomic_write_text(path, format_coverage(coverage, fmt))
        return
    if force_areas is None:
        force_areas = load_force_areas(boundaries, settings=settings)
    areas = coverage_areas(coverage, force_areas)
    with atomic_path(path) as tmp:
        areas.to_file(tmp, driver="GPKG", layer="coverage")


# --- plans ---------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "inf" if value > 0 else "-inf" if value < 0 else ""
        return f"{float(value):,.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


def _change_lines(row: pd.Series, measures: Sequence[str]) -> list[str]:
    lines = []
    for m in measures:
        before, after = row[f"{m}_before"], row[f"{m}_after"]
        change = row.get(f"{m}_change")
        delta = ""
        if change is not None and not (isinstance(change, float) and math.isnan(change)):
            delta = f" ({'+' if change > 0 else ''}{_fmt(change)})" if change != 0 else ""
        lines.append(f"  {m}: {_fmt(before)} → {_fmt(after)}{delta}")
    return lines


_INDIRECT = {"gap_score", "gap_rank", "gap_class"}


def format_what_if(comparison: pd.DataFrame, fmt: str) -> str:
    """Render a what-if as ``table`` (a block per force), ``csv`` or ``json`` text.

    The ``table`` format shows, for each requested force and each force where a measure other
    than the gap score, class and rank changed, the measures that changed; forces whose score
    or rank moved only through the England and Wales comparison are summarised in one line.
    ``csv`` (spreadsheet-safe) and ``json`` have every column for every row.

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
        return format_table(comparison, fmt)
    if fmt != "table":
        raise PlanError(f"Unknown format {fmt!r}; use table, csv or json.")
    requested = set(comparison.attrs.get("requested", ()))
    proposed = comparison.attrs.get("proposed")
    lines: list[str] = []
    if proposed is not None:
        lines.append(f"With {proposed} proposed service(s) added to the directory:")
    indirect: list[str] = []
    for _, row in comparison.iterrows():
        changed = [m for m in str(row["changed"]).split("; ") if m]
        direct = [m for m in changed if m not in _INDIRECT]
        title = f"{row['force_name']} ({row['force_code']})"
        if row["force_code"] not in requested and not direct:
            indirect.append(row["force_name"])
            continue
        lines.append("")
        if not changed:
            lines.append(f"{title}: no measure changes.")
            lines += _change_lines(row, ["gap_score", "gap_rank", "gap_class"])
            continue
        lines.append(f"{title}: {len(changed)} measure(s) change.")
        shown = list(dict.fromkeys([*changed, "gap_score", "gap_rank"]))
        lines += _change_lines(row, shown)
    if indirect:
        lines += [
            "",
            f"{len(indirect)} other force(s) change only in gap score or rank, through the "
            "England and Wales comparison (capacity benchmark, ranking): "
            + ", ".join(indirect)
            + ".",
        ]
    return "\n".join(lines).lstrip("\n") + "\n"


def _count_text(value: float) -> str:
    return f"{value:,.0f}"


def format_proposal(proposal: Proposal, fmt: str) -> str:
    """Render a site proposal as ``table`` text, ``csv`` or ``json``.

    ``csv`` (spreadsheet-safe) is the sites table, one row per proposed site; ``json`` has
    everything (parameters, sites, reach before and after, bound, coverage change);
    ``table`` is a short report for a person.

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
        return format_table(proposal.sites, "csv")
    if fmt == "json":
        return json.dumps(proposal.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt != "table":
        raise PlanError(f"Unknown format {fmt!r}; use table, csv or json.")
    lines = [
        *_proposal_heading(proposal),
        "",
        _proposed_sites_text(proposal.sites),
        "",
        _reach_line(proposal),
        _solution_line(proposal.solution),
        *[f"Note: {note}" for note in proposal.notes],
        "",
        *_proposal_changes(proposal),
    ]
    return "\n".join(lines) + "\n"


def _proposal_heading(proposal: Proposal) -> list[str]:
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    of_kind = f"{p.kind} " if p.kind else ""
    yours = (p.candidates["source"] != "postcode district").any()
    return [
        f"Where {proposal.requested} new in-person {of_kind}service(s) would bring the most "
        f"{who} in {p.area_name} within {p.radius_km:g} km",
        f"(existing in-person {of_kind}services held fixed; {len(p.candidates)} candidate "
        "sites: postcode districts" + (" and your candidates" if yours else "") + ")",
    ]


_PROPOSAL_COLUMNS = [
    "rank",
    "postcode_district",
    "name",
    "site_postcode",
    "local_authority",
    "force_name",
    "newly_within_reach",
    "share_within_reach_after",
]


def _proposed_sites_text(sites: pd.DataFrame) -> str:
    if sites.empty:
        return "No site brings anyone new within reach."
    shown = sites[_PROPOSAL_COLUMNS].copy()
    if not (shown["name"] != "").any():
        shown = shown.drop(columns="name")
    shown["newly_within_reach"] = shown["newly_within_reach"].map(_count_text)
    shown["share_within_reach_after"] = shown["share_within_reach_after"].map(
        lambda v: f"{v:.1%}" if np.isfinite(v) else ""
    )
    return str(shown.to_string(index=False))


def _reach_line(proposal: Proposal) -> str:
    p = proposal.problem
    who = WEIGHT_LABELS[p.weight]
    of_kind = f"{p.kind} " if p.kind else ""
    before, after, total = proposal.reach_before, proposal.reach_after, p.residents

    def share(value: float) -> str:
        return f" ({value / total:.1%})" if total > 0 else ""

    return (
        f"{who[0].upper()}{who[1:]} in {p.area_name} within {p.radius_km:g} km of in-person "
        f"{of_kind}help: {_count_text(before)}{share(before)} before, "
        f"{_count_text(after)}{share(after)} after (+{_count_text(after - before)})."
    )


def _solution_line(s: CoverSolution) -> str:
    if s.method != "greedy":
        return "Chosen exactly (integer programme)" + (
            "." if s.optimal else f": time limit reached, at least {s.ratio_floor:.1%}."
        )
    proof = (
        f"on this data it is the best possible (proved by the {s.bound} bound)."
        if s.optimal
        else f"on this data at least {s.ratio_floor:.1%} of it ({s.bound} bound); "
        "--exact finds the best."
    )
    return (
        f"Chosen greedily: guaranteed at least {GREEDY_GUARANTEE:.0%} of the best possible "
        f"choice; {proof}"
    )


def _proposal_changes(proposal: Proposal) -> list[str]:
    p = proposal.problem
    forces = list(dict.fromkeys(proposal.sites["force_code"]))
    if p.area_code != ENGLAND_AND_WALES and p.area_code not in forces:
        forces.insert(0, p.area_code)
    change = proposal.coverage_change.set_index("force_code")
    measures = site_measures(proposal.radii_km, p.kind)
    lines = [
        f"Coverage measures, modelling each proposal as a local in-person "
        f"{p.kind or PROPOSED_KIND} service serving its local authority district:",
    ]
    for code in forces:
        if code not in change.index:
            continue
        row = change.loc[code]
        lines.append(f"{row['force_name']} ({code}):")
        lines += _change_lines(row, [m for m in measures if f"{m}_before" in change.columns])
    return lines


# --- validation problems -------------------------------------------------------------------


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
    summary = f"{plural(errors, 'error')}, {plural(len(problems) - errors, 'warning')} in {file}"
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
        writer.writerows({k: safe_cell(v) for k, v in p.to_dict().items()} for p in problems)
        return buffer.getvalue()
    if fmt != "text":
        raise ValueError(f"Unknown format {fmt!r}; use 'text', 'csv' or 'json'.")
    lines = [f"{p.severity}: {p}" for p in problems]
    return "\n".join([*lines, summary]) + "\n"
