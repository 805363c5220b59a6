"""How listings say which services are counted (``--focus``, ``--seen-since``) and their age.

Every listing of a service (force profiles, popups, ``near``, ``force``, the report) shows
when it was last seen with :func:`seen_text`, flagged "may have ended" past
:data:`servicemap.directory.age.MAY_HAVE_ENDED_YEARS` years, and a phone number with
:func:`phone_text`, which says when the number was seen: a wrong helpline number is a
safeguarding risk.
"""

from __future__ import annotations

import datetime as dt
import html
import re

from servicemap.directory.age import RECENT_YEARS, last_seen_period, may_have_ended
from servicemap.directory.schema import cell_text
from servicemap.directory.select import SelectionSummary
from servicemap.render.labels import format_period

MAY_HAVE_ENDED = "may have ended"


def seen_text(last_seen: object, *, today: dt.date | None = None) -> str:
    """Return when a service was last seen, as a listing shows it.

    ``"2025-09"``, ``"2019 (may have ended)"`` or ``"not known"``.
    """
    text = cell_text(last_seen)
    if last_seen_period(text) is None:
        return "not known"
    if may_have_ended(text, today=today or dt.date.today()):
        return f"{text} ({MAY_HAVE_ENDED})"
    return text


def phone_text(phone: object, last_seen: object) -> str:
    """Return a phone number with the date its service was last seen: ``0800 123 (seen 2020)``.

    ``""`` when there is no number; ``(date not known)`` when the service has no date.
    """
    number = cell_text(phone)
    if not number:
        return ""
    seen = cell_text(last_seen)
    when = seen if last_seen_period(seen) is not None else "date not known"
    return f"{number} (seen {when})"


def _services(count: int) -> str:
    return f"{count:,} service" + ("" if count == 1 else "s")


def phone_html(phone: object, last_seen: object) -> str:
    """Return a phone number as escaped HTML: a ``tel:`` link (3+ digits), then when it was seen.

    ``<a href='tel:08007318147'>0800 731 8147</a> (seen 2020)``; a month reads as people write
    it: ``(seen September 2025)`` (:func:`servicemap.render.labels.format_period`).
    """
    number = cell_text(phone)
    digits = re.sub(r"[^0-9+]", "", number)
    shown = html.escape(number, quote=True)
    if len(digits.lstrip("+")) >= 3:
        shown = f"<a href='tel:{html.escape(digits, quote=True)}'>{shown}</a>"
    return f"{shown} {html.escape(phone_seen(last_seen), quote=True)}"


def phone_seen(last_seen: object) -> str:
    """Return when a phone number was seen, for a page: ``(seen September 2025)``."""
    return f"(seen {format_period(last_seen) or 'date not known'})"


def selection_note(summary: SelectionSummary) -> str:
    """Return one line saying how many services are counted and why others are not.

    ``Counting 83 of 131 services: focus domestic_abuse (48 other services left out).``
    """
    selection = summary.selection
    parts: list[str] = []
    if selection.focus:
        parts.append(
            f"focus {', '.join(selection.focus)} ({_services(summary.left_out_by_focus)} of "
            "other focus left out)"
        )
    if selection.seen_since is not None:
        parts.append(
            f"seen in {selection.seen_since} or later ({_services(summary.left_out_by_age)} "
            "last seen earlier or never dated left out)"
        )
    why = "; ".join(parts) if parts else "every service"
    return f"Counting {summary.counted:,} of {_services(summary.total)}: {why}."


def selection_sentences(summary: SelectionSummary) -> list[str]:
    """Return the report's sentences about the services its figures rest on.

    Parameters
    ----------
    summary
        What the selection kept.

    Returns
    -------
    list of str
        How many services the figures rest on, how many of them were seen recently, and how
        many of each focus were counted.
    """
    share = round(100 * summary.recent / summary.counted) if summary.counted else 0
    sentences = [] if summary.selection.is_everything else [selection_note(summary)]
    sentences += [
        f"The figures rest on {_services(summary.counted)}; {summary.recent:,} of them "
        f"({share}%) were seen in the last {RECENT_YEARS} years.",
    ]
    if summary.by_focus:
        focus = ", ".join(f"{count:,} {name}" for name, count in summary.by_focus.items())
        sentences.append(f"Counted by focus: {focus}.")
    return sentences
