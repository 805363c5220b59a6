"""How long ago each service was last seen, and whether it may have ended.

``last_seen`` names a period (``2024``, ``2024-09`` or ``2024-09-15``); its *end* counts, so
``2024`` means "some time in 2024" and is at most as old as 31 December 2024. A service's age
is the time from that end to today, in years of 365.25 days.

Ages fall in the bands of :data:`AGE_BANDS`:

* ``recent``: seen in the last :data:`RECENT_YEARS` years;
* ``older``: seen 2 to 3 years ago;
* ``may_have_ended``: last seen more than :data:`MAY_HAVE_ENDED_YEARS` years ago. Directories
  decay: a service not seen for three years has often closed or changed, so every listing
  flags it "may have ended";
* ``unknown``: no ``last_seen`` at all.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from servicemap.directory.schema import cell_text, per_value

#: Seen within this many years: ``recent``. The report counts how many services it rests on
#: were seen this recently.
RECENT_YEARS = 2

#: Last seen longer ago than this many years: flagged "may have ended" wherever it is listed.
MAY_HAVE_ENDED_YEARS = 3

AGE_BANDS: tuple[str, ...] = ("recent", "older", "may_have_ended", "unknown")

#: How each band reads in a sentence ("seen in the last 2 years").
AGE_BAND_LABELS: dict[str, str] = {
    "recent": f"seen in the last {RECENT_YEARS} years",
    "older": f"last seen {RECENT_YEARS} to {MAY_HAVE_ENDED_YEARS} years ago",
    "may_have_ended": f"last seen more than {MAY_HAVE_ENDED_YEARS} years ago (may have ended)",
    "unknown": "no date it was last seen",
}

_LAST_SEEN = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_YEAR_DAYS = 365.25


def month_end(year: int, month: int) -> dt.date:
    """Return the last day of a month."""
    if month == 12:
        return dt.date(year, 12, 31)
    return dt.date(year, month + 1, 1) - dt.timedelta(days=1)


def last_seen_period(value: str) -> tuple[dt.date, dt.date] | None:
    """Return the first and last day of the period ``value`` names (YYYY, YYYY-MM, YYYY-MM-DD).

    Parameters
    ----------
    value
        A ``last_seen`` value.

    Returns
    -------
    tuple of datetime.date, or None
        The period's first and last day; ``None`` if ``value`` is not such a period.
    """
    match = _LAST_SEEN.match(value)
    if not match:
        return None
    year, month, day = match.groups()
    try:
        if day is not None:
            date = dt.date(int(year), int(month), int(day))
            return date, date
        if month is not None:
            return dt.date(int(year), int(month), 1), month_end(int(year), int(month))
        if int(year) < 1:
            return None
        return dt.date(int(year), 1, 1), dt.date(int(year), 12, 31)
    except ValueError:
        return None


def years_since_seen(value: object, *, today: dt.date) -> float | None:
    """Return the years from the end of ``last_seen`` to ``today`` (0 if later), or None."""
    period = last_seen_period(cell_text(value))
    if period is None:
        return None
    return max(0.0, (today - period[1]).days / _YEAR_DAYS)


def age_band(value: object, *, today: dt.date) -> str:
    """Return the band of :data:`AGE_BANDS` a ``last_seen`` value falls in on ``today``."""
    years = years_since_seen(value, today=today)
    if years is None:
        return "unknown"
    if years <= RECENT_YEARS:
        return "recent"
    if years <= MAY_HAVE_ENDED_YEARS:
        return "older"
    return "may_have_ended"


def age_bands(services: pd.DataFrame, *, today: dt.date | None = None) -> pd.Series:
    """Return each service's age band (see :data:`AGE_BANDS`).

    Parameters
    ----------
    services
        Any frame with a ``last_seen`` column.
    today
        The date ages are measured to; default today.

    Returns
    -------
    pandas.Series
        Band names on the frame's index.
    """
    day = today or dt.date.today()
    return pd.Series(
        per_value(services["last_seen"], lambda v: age_band(v, today=day)),
        index=services.index,
        dtype=object,
    )


def may_have_ended(value: object, *, today: dt.date) -> bool:
    """Whether a ``last_seen`` value is more than :data:`MAY_HAVE_ENDED_YEARS` years old."""
    return age_band(value, today=today) == "may_have_ended"
