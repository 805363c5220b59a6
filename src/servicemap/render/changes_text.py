"""What changed between two reports, in words: text, CSV, JSON and the report's own sections.

The wording is shared: ``servicemap compare`` prints :func:`format_changes`, and
``servicemap report --since`` shows :func:`changes_context` on the index and each profile.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from servicemap._csv import csv_text
from servicemap.analysis.changes import Changes, ForceChange, ServiceChange, compare_snapshots
from servicemap.analysis.snapshot import Snapshot, snapshot_of
from servicemap.render.labels import format_date, ordinal

__all__ = [
    "CHANGE_FORMATS",
    "changes_context",
    "changes_csv",
    "changes_json",
    "changes_text",
    "force_lines",
    "format_changes",
    "report_changes",
    "since_label",
]

CHANGE_FORMATS = ("text", "csv", "json")
"""The formats ``servicemap compare --format`` writes."""

_FIELD_NAMES = {"url": "web address", "nrpf_support": "NRPF support", "by_and_for": "by and for"}


def since_label(snapshot: Snapshot) -> str:
    """Return how a snapshot is named in a heading: its date, or else its source."""
    return format_date(snapshot.generated) if snapshot.generated else snapshot.source


def _field(name: str) -> str:
    return _FIELD_NAMES.get(name, name.replace("_", " "))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _join(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def service_line(change: ServiceChange) -> str:
    """Return one service's change in words, e.g. ``Hope Project: phone and last seen changed``."""
    if change.change == "added":
        return f"{change.name}: added"
    if change.change == "ended":
        if change.fields:
            return f"{change.name}: now marked ended"
        return f"{change.name}: ended (no longer in the directory)"
    return f"{change.name}: {_join([_field(f) for f in change.fields])} changed"


def _rank(rank: int | None, ranks: Sequence[int]) -> str:
    if rank is None:
        return "none"
    return f"{'=' if sum(1 for r in ranks if r == rank) > 1 else ''}{ordinal(rank)}"


def _score(change: ForceChange) -> str:
    was, now = change.score_before, change.score_after
    if was is None or now is None:
        return (
            f"gap score {was if was is not None else 'none'} → {now if now is not None else 'none'}"
        )
    delta = now - was
    direction = "higher: more of a gap" if delta > 0 else "lower: less of a gap"
    return f"gap score {was:.1f} → {now:.1f} ({abs(delta):.1f} points {direction})"


def _rank_move(change: ForceChange) -> str:
    was, now = change.rank_before, change.rank_after
    text = (
        f"gap rank {_rank(was, change.ranks_before)} → {_rank(now, change.ranks_after)} "
        f"of {len(change.ranks_after) or len(change.ranks_before)}"
    )
    if was is None or now is None or was == now:
        return text
    places = _plural(abs(now - was), "place")
    if now > was:  # rank 1 is the largest gap
        return f"{text} (down {places}, away from the largest gap)"
    return f"{text} (up {places}, towards the largest gap)"


def force_reasons(change: ForceChange) -> str:
    """Return why a force changed: the services serving it that came, went or changed."""
    parts = []
    for names, verb in (
        (change.added, "came"),
        (change.ended, "went"),
        (change.changed, "changed"),
    ):
        if names:
            parts.append(f"{_join(names)} {verb}")
    if parts:
        return "Services serving it: " + "; ".join(parts) + "."
    if _score_changed(change):
        return (
            "No service serving it came, went or changed; services elsewhere did (in-person "
            "access crosses force borders; capacity is measured against the national rate)."
        )
    return "No service serving it came, went or changed: other forces moved."


def _score_changed(change: ForceChange) -> bool:
    was, now = change.score_before, change.score_after
    return was != now if was is None or now is None else abs(now - was) >= 0.05


def force_lines(change: ForceChange) -> list[str]:
    """Return what changed in one force, as sentences (class, score, rank, then why)."""
    facts = []
    if change.class_changed:
        facts.append(f"gap class {change.class_before or 'none'} → {change.class_after or 'none'}")
    if _score_changed(change):
        facts.append(_score(change))
    if change.rank_changed:
        facts.append(_rank_move(change))
    return [facts[0][0].upper() + "; ".join(facts)[1:] + ".", force_reasons(change)]


def _heading(changes: Changes) -> str:
    old, new = changes.old, changes.new
    if old.generated is None:
        return f"What changed from {old.source} to {new.source}"
    return f"What changed since {since_label(old)} ({old.source} → {new.source})"


def changes_text(changes: Changes) -> str:
    """Return the changes as text for a terminal."""
    lines = [_heading(changes), ""]
    counts = [
        _plural(changes.count("added"), "service") + " added",
        f"{changes.count('ended')} ended",
        f"{changes.count('changed')} changed",
    ]
    lines.append("Services: " + ", ".join(counts) + ".")
    lines += [f"  {service_line(s)}" for s in changes.services]
    lines.append("")
    if not changes.forces:
        lines.append(
            "No police force area changed gap class, gap score (by 2 points or more) or gap rank."
        )
    else:
        lines.append(
            "Police force areas whose gap class, gap score (by 2 points or more) or gap rank "
            f"changed: {len(changes.forces)}."
        )
        for force in changes.forces:
            lines.append(f"  {force.force_name}: " + " ".join(force_lines(force)))
    return "\n".join(lines) + "\n"


def _service_record(change: ServiceChange) -> dict[str, Any]:
    return {
        "record": "service", "change": change.change, "id": change.key, "name": change.name,
        "fields": ";".join(change.fields), "force_codes": ";".join(change.forces),
    }  # fmt: skip


def _force_record(change: ForceChange) -> dict[str, Any]:
    flags = (
        ("gap_class", change.class_changed), ("gap_score", change.score_moved),
        ("gap_rank", change.rank_changed),
    )  # fmt: skip
    return {
        "record": "force", "change": ";".join(name for name, flag in flags if flag),
        "id": change.force_code, "name": change.force_name,
        "gap_class_before": change.class_before, "gap_class_after": change.class_after,
        "gap_score_before": change.score_before, "gap_score_after": change.score_after,
        "gap_rank_before": change.rank_before, "gap_rank_after": change.rank_after,
        "services_added": ";".join(change.added), "services_ended": ";".join(change.ended),
        "services_changed": ";".join(change.changed),
    }  # fmt: skip


def changes_csv(changes: Changes) -> str:
    """Return the changes as CSV: one row per service and per force (machine column names)."""
    rows = [_service_record(s) for s in changes.services]
    rows += [_force_record(f) for f in changes.forces]
    columns = [
        "record", "change", "id", "name", "fields", "force_codes", "gap_class_before",
        "gap_class_after", "gap_score_before", "gap_score_after", "gap_rank_before",
        "gap_rank_after", "services_added", "services_ended", "services_changed",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns).astype(object)
    return csv_text(frame.where(frame.notna(), ""))


def changes_json(changes: Changes) -> str:
    """Return the changes as JSON: the two snapshots' dates and sources, services and forces."""
    services = []
    for change in changes.services:
        record = _service_record(change)
        record.update(
            fields=list(change.fields), force_codes=list(change.forces),
            before=change.before, after=change.after,
        )  # fmt: skip
        services.append(record)
    document: dict[str, Any] = {
        side: {
            "source": snap.source,
            "generated": snap.generated.isoformat() if snap.generated else None,
            "servicemap": snap.version,
        }
        for side, snap in (("old", changes.old), ("new", changes.new))
    }
    document.update(services=services, forces=[_force_record(f) for f in changes.forces])
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def format_changes(changes: Changes, fmt: str = "text") -> str:
    """Return the changes as ``text``, ``csv`` or ``json`` (see :data:`CHANGE_FORMATS`)."""
    writers = {"text": changes_text, "csv": changes_csv, "json": changes_json}
    if fmt not in writers:
        raise ValueError(f"Unknown format {fmt!r}; choose from {', '.join(CHANGE_FORMATS)}.")
    return writers[fmt](changes)


def changes_context(changes: Changes, slugs: dict[str, str]) -> dict[str, Any]:
    """Return what the report's templates show of the changes (index section, profile lines).

    Parameters
    ----------
    changes
        From :func:`servicemap.analysis.changes.compare_snapshots`.
    slugs
        Each force's page slug by force code.

    Returns
    -------
    dict
        ``since`` (the heading's date or source), ``counts``, ``services`` (lines),
        ``forces`` (name, slug, lines) and ``by_slug`` (each changed force's lines).
    """
    forces = [
        {"name": f.force_name, "slug": slugs.get(f.force_code, ""), "lines": force_lines(f)}
        for f in changes.forces
    ]
    return {
        "since": since_label(changes.old),
        "counts": {c: changes.count(c) for c in ("added", "ended", "changed")},
        "services": [service_line(s) for s in changes.services],
        "forces": forces,
        "by_slug": {f["slug"]: f["lines"] for f in forces if f["slug"]},
    }


def report_changes(
    since: Snapshot | None,
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    generated: dt.date,
    slugs: dict[str, str],
) -> dict[str, Any] | None:
    """Return what a report shows of its changes since an earlier one (``None``: no ``since``).

    Parameters
    ----------
    since
        The earlier report's snapshot, or ``None``.
    services, coverage, generated
        What this report rests on (see ``analysis.snapshot.snapshot_of``).
    slugs
        Each force's page slug by force code.

    Returns
    -------
    dict or None
        :func:`changes_context` of the comparison.
    """
    if since is None:
        return None
    now = snapshot_of(services, coverage, generated=generated, source="this report")
    return changes_context(compare_snapshots(since, now), slugs)
