"""What changed between two reports: services added, ended or changed, and the forces that moved.

:func:`compare_snapshots` takes two :class:`~servicemap.analysis.snapshot.Snapshot` (read from
report folders, or made from services files) and returns the :class:`Changes`:

* each service added, ended (gone from the directory, or now marked ``ended``) or changed, with
  the public fields that changed;
* each police force area whose gap class changed, whose gap score moved by
  :data:`SCORE_STEP` points or more, or whose gap rank changed, with the services serving it
  that came, went or changed (the reasons that lie in that force).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from servicemap.analysis.snapshot import Snapshot
from servicemap.directory.schema import FIELDS, cell_number, cell_text

__all__ = ["SCORE_STEP", "Changes", "ForceChange", "ServiceChange", "compare_snapshots"]

SCORE_STEP = 2.0
"""A force's gap score must move by this many points (or more) to count as changed."""

_COMPARED = tuple(f for f in FIELDS if f != "id")  # the public fields compared


@dataclass(frozen=True)
class ServiceChange:
    """One service added, ended or changed.

    Attributes
    ----------
    key
        The service's ``id`` (or its name, when it has none).
    name
        Its name (the newer one, if it changed).
    change
        ``added``, ``ended`` or ``changed``.
    fields
        The public fields that changed (for ``changed``; for ``ended``, ``status`` when it is
        now marked ended, empty when it left the directory).
    before, after
        Each changed field's old and new value, by field.
    forces
        The force codes it serves or is based in (before or after).
    """

    key: str
    name: str
    change: str
    fields: tuple[str, ...] = ()
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    forces: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForceChange:
    """One police force area whose class, gap score or rank changed.

    Attributes
    ----------
    force_code, force_name
        The force.
    class_before, class_after
        Its gap class (``None`` when it was not in that snapshot).
    score_before, score_after
        Its gap score.
    rank_before, rank_after
        Its gap rank (1 = the largest gap).
    ranks_before, ranks_after
        Every force's gap rank in each snapshot (to phrase ties).
    added, ended, changed
        Names of the services serving it (or based in it) that came, went or changed.
    """

    force_code: str
    force_name: str
    class_before: str | None
    class_after: str | None
    score_before: float | None
    score_after: float | None
    rank_before: int | None
    rank_after: int | None
    ranks_before: tuple[int, ...] = ()
    ranks_after: tuple[int, ...] = ()
    added: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def class_changed(self) -> bool:
        """Whether its gap class changed."""
        return self.class_before != self.class_after

    @property
    def score_moved(self) -> bool:
        """Whether its gap score moved by :data:`SCORE_STEP` points or more."""
        if self.score_before is None or self.score_after is None:
            return self.score_before != self.score_after
        return abs(self.score_after - self.score_before) >= SCORE_STEP - 1e-9

    @property
    def rank_changed(self) -> bool:
        """Whether its gap rank changed."""
        return self.rank_before != self.rank_after


@dataclass(frozen=True)
class Changes:
    """What changed from one snapshot to another.

    Attributes
    ----------
    old, new
        The two snapshots.
    services
        Services added, ended or changed: added first, then ended, then changed, each by name.
    forces
        Forces whose class, gap score or rank changed, largest gap now first.
    """

    old: Snapshot
    new: Snapshot
    services: tuple[ServiceChange, ...]
    forces: tuple[ForceChange, ...]

    def count(self, change: str) -> int:
        """Return how many services were ``added``, ``ended`` or ``changed``."""
        return sum(1 for s in self.services if s.change == change)

    def for_force(self, code: str) -> ForceChange | None:
        """Return the change of one force, or ``None`` if it did not change."""
        return next((f for f in self.forces if f.force_code == code), None)


def _text(value: Any) -> str:
    """Return a field's value as compared and shown: text, with no trailing '.0'."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:g}"
    return cell_text(value)


def _keyed(services: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Return each service's row by its id (its name when it has none)."""
    rows: dict[str, dict[str, Any]] = {}
    for row in services.to_dict(orient="records"):
        key = _text(row.get("id")) or _text(row.get("name")).casefold()
        rows[key] = row
    return rows


def _forces(row: dict[str, Any] | None) -> set[str]:
    """Return the forces a service serves or is based in."""
    row = row or {}
    based = _text(row.get("force_code"))
    return {str(code) for code in row.get("served_forces") or ()} | ({based} if based else set())


def _service_changes(old: pd.DataFrame, new: pd.DataFrame) -> list[ServiceChange]:
    before, after = _keyed(old), _keyed(new)
    changes: list[ServiceChange] = []
    for key in after.keys() - before.keys():
        row = after[key]
        changes.append(
            ServiceChange(key, _text(row.get("name")), "added", forces=tuple(sorted(_forces(row))))
        )
    for key in before.keys() - after.keys():
        row = before[key]
        changes.append(
            ServiceChange(key, _text(row.get("name")), "ended", forces=tuple(sorted(_forces(row))))
        )
    for key in before.keys() & after.keys():
        was, now = before[key], after[key]
        fields = tuple(f for f in _COMPARED if _text(was.get(f)) != _text(now.get(f)))
        if not fields:
            continue
        ended = _text(now.get("status")) == "ended" and _text(was.get("status")) != "ended"
        changes.append(
            ServiceChange(
                key, _text(now.get("name")), "ended" if ended else "changed", fields,
                before={f: _text(was.get(f)) for f in fields},
                after={f: _text(now.get(f)) for f in fields},
                forces=tuple(sorted(_forces(was) | _forces(now))),
            )
        )  # fmt: skip
    order = {"added": 0, "ended": 1, "changed": 2}
    return sorted(changes, key=lambda c: (order[c.change], c.name.casefold(), c.key))


def _force_rows(coverage: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(row["force_code"]): row for row in coverage.to_dict(orient="records")}


def _ranks(coverage: pd.DataFrame) -> tuple[int, ...]:
    if "gap_rank" not in coverage:
        return ()
    return tuple(int(r) for r in pd.to_numeric(coverage["gap_rank"], errors="coerce").dropna())


def _force_changes(
    old: pd.DataFrame, new: pd.DataFrame, services: list[ServiceChange]
) -> list[ForceChange]:
    before, after = _force_rows(old), _force_rows(new)
    ranks_before, ranks_after = _ranks(old), _ranks(new)
    found = []
    for code in sorted(before.keys() | after.keys()):
        was, now = before.get(code, {}), after.get(code, {})
        rank_was, rank_now = cell_number(was.get("gap_rank")), cell_number(now.get("gap_rank"))

        def names(change: str, code: str = code) -> tuple[str, ...]:
            return tuple(s.name for s in services if s.change == change and code in s.forces)

        candidate = ForceChange(
            force_code=code,
            force_name=_text(now.get("force_name") or was.get("force_name")) or code,
            class_before=_text(was.get("gap_class")) or None if was else None,
            class_after=_text(now.get("gap_class")) or None if now else None,
            score_before=cell_number(was.get("gap_score")),
            score_after=cell_number(now.get("gap_score")),
            rank_before=None if rank_was is None else int(rank_was),
            rank_after=None if rank_now is None else int(rank_now),
            ranks_before=ranks_before, ranks_after=ranks_after,
            added=names("added"), ended=names("ended"), changed=names("changed"),
        )  # fmt: skip
        if candidate.class_changed or candidate.score_moved or candidate.rank_changed:
            found.append(candidate)
    return sorted(found, key=lambda f: (f.rank_after or 10**6, f.force_name))


def compare_snapshots(old: Snapshot, new: Snapshot) -> Changes:
    """Return what changed from ``old`` to ``new``.

    Services are matched by ``id`` (by name when a service has none). A service is ``ended``
    when it left the directory or is now marked ``ended``; ``changed`` when any other public
    field changed. A force is listed when its gap class changed, its gap score moved by
    :data:`SCORE_STEP` points or more, or its gap rank changed; its reasons are the services
    serving it (before or after) that came, went or changed. A rank can also move because other
    forces moved: then no service of its own is named.

    Parameters
    ----------
    old, new
        The earlier and the later snapshot.

    Returns
    -------
    Changes
        The changes; empty lists when nothing changed.
    """
    services = _service_changes(old.services, new.services)
    forces = _force_changes(old.coverage, new.coverage, services)
    return Changes(old=old, new=new, services=tuple(services), forces=tuple(forces))
