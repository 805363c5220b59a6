"""Choose which services the figures count: by ``focus`` and by when they were last seen."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from servicemap.directory.age import RECENT_YEARS, age_bands, last_seen_period
from servicemap.directory.schema import FOCUSES, cell_text, per_value
from servicemap.errors import ServicemapError

#: How a service with an empty ``focus`` is counted in :attr:`SelectionSummary.by_focus`.
NO_FOCUS = "not stated"


class SelectionError(ServicemapError, ValueError):
    """A ``--focus`` value outside the vocabulary, or a ``--seen-since`` year out of range."""


@dataclass(frozen=True)
class Selection:
    """Which services count.

    Attributes
    ----------
    focus
        The ``focus`` values to keep (:data:`~servicemap.directory.schema.FOCUSES`); empty keeps
        every service, including those whose focus is not stated.
    seen_since
        Keep only services last seen in this year or later (the end of their ``last_seen``
        period falls in it or after). A service with no ``last_seen`` is left out too: it
        cannot be shown to have been seen since then. ``None`` keeps every service.
    """

    focus: tuple[str, ...] = ()
    seen_since: int | None = None

    def __post_init__(self) -> None:
        """Refuse a focus outside the vocabulary."""
        unknown = [value for value in self.focus if value not in FOCUSES]
        if unknown:
            raise SelectionError(
                f"Unknown focus {unknown[0]!r}; choose from {', '.join(FOCUSES)} (several may "
                "be given, separated by commas)."
            )

    @property
    def is_everything(self) -> bool:
        """Whether this selection keeps every service."""
        return not self.focus and self.seen_since is None


@dataclass(frozen=True)
class SelectionSummary:
    """What a selection kept, for the report's and the commands' sentences.

    Attributes
    ----------
    selection
        The selection applied.
    total
        Services in the directory.
    counted
        Services the figures rest on.
    by_focus
        Services counted, by focus (:data:`NO_FOCUS` for an empty one), largest first.
    left_out_by_focus
        Services left out because of their focus.
    left_out_by_age
        Services (of the chosen focus) left out as not seen since ``seen_since`` (or never
        dated).
    recent
        Services counted that were seen in the last :data:`~servicemap.directory.age.RECENT_YEARS`
        years.
    """

    selection: Selection
    total: int
    counted: int
    by_focus: dict[str, int] = field(default_factory=dict)
    left_out_by_focus: int = 0
    left_out_by_age: int = 0
    recent: int = 0


def _seen_since(values: pd.Series, year: int) -> pd.Series:
    def keep(value: str) -> bool:
        period = last_seen_period(cell_text(value))
        return period is not None and period[1].year >= year

    return pd.Series(per_value(values, keep), index=values.index, dtype=bool)


def select_services(
    services: pd.DataFrame, selection: Selection, *, today: dt.date | None = None
) -> tuple[pd.DataFrame, SelectionSummary]:
    """Return the services ``selection`` keeps, and a summary of what it kept.

    Parameters
    ----------
    services
        The canonical services frame (any frame with ``focus`` and ``last_seen``). Not
        modified.
    selection
        Which services to keep.
    today
        The date ages are measured to (for :attr:`SelectionSummary.recent`); default today.

    Returns
    -------
    tuple
        A new frame with the kept rows (same columns, a fresh index), and the summary.
    """
    day = today or dt.date.today()
    if selection.seen_since is not None and not 1900 <= selection.seen_since <= day.year:
        raise SelectionError(
            f"--seen-since {selection.seen_since} is not a year between 1900 and {day.year}; "
            f"give a year such as {day.year - RECENT_YEARS}."
        )
    focus = (
        services["focus"].map(cell_text) if "focus" in services else pd.Series("", services.index)
    )
    by_focus = (
        focus.isin(selection.focus) if selection.focus else pd.Series(True, index=services.index)
    )
    by_age = (
        _seen_since(services["last_seen"], selection.seen_since)
        if selection.seen_since is not None
        else pd.Series(True, index=services.index)
    )
    keep = (by_focus & by_age).to_numpy(dtype=bool)
    kept = services.loc[keep].reset_index(drop=True)
    counts = focus[keep].replace("", NO_FOCUS).value_counts()
    summary = SelectionSummary(
        selection=selection,
        total=len(services),
        counted=int(keep.sum()),
        by_focus={
            str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        },
        left_out_by_focus=int((~by_focus).sum()),
        left_out_by_age=int((by_focus & ~by_age).sum()),
        recent=int((age_bands(kept, today=day) == "recent").sum()) if len(kept) else 0,
    )
    return kept, summary
