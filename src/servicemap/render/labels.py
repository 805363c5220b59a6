"""Labels and number formats for people: one home for the words every map, page and table uses."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from servicemap.directory.schema import cell_text, split_list

__all__ = [
    "ATTRIBUTION",
    "SHORT_ATTRIBUTION",
    "DEFAULT_TITLE",
    "DELIVERY_LABELS",
    "FOCUS_LABELS",
    "KIND_LABELS",
    "KIND_NOUNS",
    "METRIC_LABELS",
    "SCOPE_LABELS",
    "SERVICE_TYPE_LABELS",
    "SHORT_LABELS",
    "WEIGHT_LABELS",
    "access_basis",
    "address_line",
    "change_label",
    "format_measure",
    "format_period",
    "format_value",
    "is_share",
    "label_service_types",
    "metric_label",
    "safe_email",
    "safe_url",
    "short_label",
]


KIND_LABELS: dict[str, str] = {
    "nrpf_accommodation": "Refuge and housing (incl. NRPF)",
    "legal_immigration": "Legal and immigration advice",
    "advocacy": "Advocacy, IDVA, outreach and casework",
    "counselling": "Counselling and group support",
    "helpline": "Helplines",
    "other": "Other support",
}
#: A kind of help as it reads inside a sentence: "new in-person services (legal or immigration
#: advice)"; ``None`` (any kind) reads as "any kind".
KIND_NOUNS: dict[str, str] = {
    "nrpf_accommodation": "refuge or housing, incl. NRPF",
    "legal_immigration": "legal or immigration advice",
    "advocacy": "advocacy, IDVA, outreach or casework",
    "counselling": "counselling or group support",
    "helpline": "helpline",
    "other": "other support",
}
SCOPE_LABELS: dict[str, str] = {"local": "local", "regional": "regional"}
DELIVERY_LABELS: dict[str, str] = {
    "in_person": "in person",
    "remote": "remote",
    "both": "in person and remote",
}
"""How a service is delivered (``delivery``), as a listing says it."""
FOCUS_LABELS: dict[str, str] = {
    "domestic_abuse": "domestic abuse",
    "sexual_violence": "sexual violence",
    "trafficking": "trafficking and modern slavery",
    "fgm": "female genital mutilation",
    "legal_immigration": "legal and immigration help",
    "nrpf_general": "people with no recourse to public funds",
    "community": "community support",
}
"""What a service is mainly for (``focus``, ``schema.FOCUSES``), as a listing says it."""

SERVICE_TYPE_LABELS: dict[str, str] = {
    "idva": "IDVA",
    "nrpf_support": "NRPF support",
    "legal_advice": "legal advice",
    "immigration_advice": "immigration advice",
    "group_support": "group support",
}

#: Who a plan's weight counts, in words: ``propose_sites(weight=...)`` -> "women aged 16 and over".
WEIGHT_LABELS: dict[str, str] = {
    "born_outside_uk": "residents born outside the UK",
    "women_16plus": "women aged 16 and over",
    "residents": "residents",
    "non_uk_passport": "residents with a non-UK passport (approximate)",
    "arrived_last_5y": "residents who arrived in the UK in the last 5 years (approximate)",
    "limited_english": "residents who speak little or no English (approximate)",
}

ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0. "
    "Contains OS data © Crown copyright and database right 2025. "
    "Service locations: ONS Postcode Directory (OGL v3). "
    "Need per district: Census 2021 and mid-2023 population estimates, ONS (OGL v3)."
)

SHORT_ATTRIBUTION = (
    "Source: ONS (OGL v3). Contains OS data © Crown copyright and database right 2025."
)
"""The attribution for a figure too small for :data:`ATTRIBUTION` (a locator map)."""

METRIC_LABELS: dict[str, str] = {
    "gap_score": "Gap score (0 = best served, 100 = nothing found)",
    "gap_class": "Gap class",
    "gap_rank": "Gap rank (1 = biggest gap)",
    "local_services": "Local services",
    "regional_services": "Regional services",
    "national_services": "National services",
    "services_serving": "Services serving the area",
    "services_based": "Services based in the area",
    "local_coverage_share": "Residents reached by a local service",
    "share_born_outside_uk": "Residents born outside the UK",
    "born_outside_uk_2021": "Residents born outside the UK (2021)",
    "local_services_per_100k_born_abroad": "Local services per 100,000 born outside the UK",
    "median_km_to_in_person": "Median distance to in-person help (km)",
    "by_and_for_local": "Local 'by and for' services",
    "nrpf_local": "Local services supporting NRPF",
    "postcodes": "Located postcodes",
    "usual_residents_2021": "Usual residents (2021)",
    "population_mid2023": "Population (mid-2023)",
    "females_16plus_mid2023": "Women and girls aged 16+ (mid-2023)",
}

DEFAULT_TITLE = (
    "Specialist help for migrant victims of domestic abuse: coverage by police force area"
)
"""The title of the coverage map and report unless one is given."""


def access_basis(places: int, total: int) -> str:
    """Say what the in-person access figures rest on: "N of M services publish a place ...".

    Parameters
    ----------
    places
        Services counted as in person (a place people can visit).
    total
        Active services.

    Returns
    -------
    str
        One sentence.
    """
    verb = "publishes" if places == 1 else "publish"
    return (
        f"{places} of {total} services {verb} a place people can visit; the in-person access "
        "figures rest on them (a PO Box, Freepost or remote-only service is not such a place)."
    )


_BARE_DOMAIN = re.compile(
    r"(?:www\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}(?:[/?#]\S*)?", re.IGNORECASE
)
"""A web address written without its scheme, as the directory holds them: ``bawso.org.uk``."""


def safe_url(value: object) -> str | None:
    """Return a link for a website: a plain http(s) address with a host, else ``None``.

    A bare domain (``bawso.org.uk``, ``www.example.org/help``), as the directory writes its
    websites, becomes ``https://bawso.org.uk``; anything with another scheme (``javascript:``,
    ``mailto:``) or with spaces is refused.
    """
    url = cell_text(value)
    if not url or any(ch.isspace() for ch in url):
        return None
    if "://" not in url and _BARE_DOMAIN.fullmatch(url):
        url = f"https://{url}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


_EMAIL = re.compile(r"[^@\s<>\"'/:;,()\[\]\\]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
"""One email address, as a ``mailto:`` link may carry it: no spaces, quotes or brackets."""


def safe_email(value: object) -> str | None:
    """Return a service's email address when it is one plain address, else ``None``.

    ``help@example.org.uk`` (or ``mailto:help@example.org.uk``) gives ``help@example.org.uk``,
    to be shown as a ``mailto:`` link; two addresses, spaces or markup give ``None``.
    """
    text = cell_text(value)
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text if _EMAIL.fullmatch(text) else None


def label_service_types(value: object) -> str:
    """Return a ``service_types`` value as readable labels, comma-separated.

    Parameters
    ----------
    value
        The ``;``-separated service types, e.g. ``"idva; immigration_advice"``.

    Returns
    -------
    str
        E.g. ``"IDVA, Immigration advice"``; unknown types with ``_`` turned into spaces.
    """
    return ", ".join(
        SERVICE_TYPE_LABELS.get(t, t.replace("_", " ")) for t in split_list(cell_text(value))
    )


def address_line(service: Mapping[str, Any]) -> str:
    """Return a service's address and postcode on one line (``""`` when it has neither).

    Parameters
    ----------
    service
        A service row. Blank the location of a confidential service before calling this.

    Returns
    -------
    str
        E.g. ``"1 High St, AA1 1AA"``.
    """
    parts = (cell_text(service.get("address")), cell_text(service.get("postcode")))
    return ", ".join(part for part in parts if part)


def format_value(value: object) -> str:
    """Format a measure for people: thousands separators, one decimal, 'no data' for blanks."""
    if value is None or value is pd.NA:
        return "no data"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "no data"
        if number.is_integer():
            return f"{number:,.0f}"
        return f"{number:,.2f}" if abs(number) < 1 else f"{number:,.1f}"
    return cell_text(value)


WITHIN_COLUMN = re.compile(r"(in_person|by_and_for)_within_([0-9.]+)km")
"""An access column: ``in_person_within_10km`` or ``by_and_for_within_25km`` (kind, km)."""


def metric_label(metric: str) -> str:
    """Return a readable label for a coverage column."""
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    within = WITHIN_COLUMN.fullmatch(metric)
    if within:
        what = "an in-person service" if within[1] == "in_person" else "a 'by and for' service"
        return f"Residents within {within[2]} km of {what}"
    for kind, label in KIND_LABELS.items():
        if metric == f"{kind}_level":
            return f"{label}: best level"
        if metric == f"{kind}_local_share":
            return f"{label}: residents reached locally"
    return metric.replace("_", " ").capitalize()


def change_label(metric: str) -> str:
    """Return the label of a coverage measure in a before-and-after line of a plan.

    Parameters
    ----------
    metric
        A coverage column, e.g. ``in_person_within_10km``.

    Returns
    -------
    str
        E.g. "In-person help within 10 km", "Gap rank", "Median distance to in-person help".
    """
    within = WITHIN_COLUMN.fullmatch(metric)
    if within:
        what = "In-person help" if within[1] == "in_person" else "'By and for' help"
        return f"{what} within {within[2]} km"
    plain = {
        "gap_score": "Gap score",
        "gap_rank": "Gap rank",
        "median_km_to_in_person": "Median distance to in-person help",
    }
    return plain.get(metric, metric_label(metric))


def is_share(column: str) -> bool:
    """Return True for coverage columns holding a share (0–1) shown as a percentage."""
    return column.endswith("_share") or column.startswith("share_") or "_within_" in column


def format_measure(column: str, value: object) -> str:
    """Format one coverage value for people, as a percentage when the column is a share."""
    if is_share(column) and isinstance(value, (int, float, np.integer, np.floating)):
        return "no data" if math.isnan(float(value)) else f"{100 * float(value):.0f}%"
    return format_value(value)


SHORT_LABELS: dict[str, str] = {
    "gap_rank": "Rank",
    "gap_score": "Gap score",
    "gap_class": "Gap class",
    "local_services": "Local services",
    "regional_services": "Regional services",
    "national_services": "National services",
    "born_outside_uk_2021": "Born outside the UK (2021)",
    "local_services_per_100k_born_abroad": "Local services per 100k born abroad",
}
"""Column headings for tables (the full label is in each profile's "Every measure")."""


def short_label(column: str) -> str:
    """Return a short table heading for a coverage column (the :func:`metric_label` otherwise)."""
    if column in SHORT_LABELS:
        return SHORT_LABELS[column]
    if column.startswith("in_person_within_"):
        return f"Within {column.removeprefix('in_person_within_')[:-2]} km of in-person help"
    return metric_label(column)


# --- ranks and dates, as people read them -------------------------------------------------------


def ordinal(n: int) -> str:
    """Return a number as an ordinal: ``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``22nd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def rank_text(rank: object, ranks: Sequence[object]) -> str:
    """Return a gap rank for a table cell: ``=1`` when other forces share it, else ``1``.

    Parameters
    ----------
    rank
        This force's rank.
    ranks
        Every force's rank (to see whether this one is shared).
    """
    text = format_value(rank)
    if text == "no data":
        return text
    shared = sum(1 for r in ranks if r == rank) > 1
    return f"={text}" if shared else text


def rank_parts(rank: int, ranks: Sequence[int]) -> tuple[str, str]:
    """Return a gap rank and its direction: ``("43rd of 43", "the smallest gap")``.

    Rank 1 is the largest gap. A shared rank reads ``=1st of 43 (with 4 others)``; a rank at
    neither end is explained as ``1st = the largest gap``.
    """
    total = len(ranks)
    shared = sum(1 for r in ranks if r == rank)
    text = f"{'=' if shared > 1 else ''}{ordinal(int(rank))} of {total}"
    if shared > 1:
        others = shared - 1
        text += f" (with {others} other{'s' if others != 1 else ''})"
    if rank == min(ranks):
        return text, "the largest gap"
    if rank == max(ranks):
        return text, "the smallest gap"
    return text, "1st = the largest gap"


def rank_phrase(rank: int, ranks: Sequence[int]) -> str:
    """Return a gap rank with its direction in one phrase: ``43rd of 43: the smallest gap``."""
    return ": ".join(rank_parts(rank, ranks))


def format_date(value: dt.date) -> str:
    """Return a date as people write it: ``1 December 2026``."""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def format_period(value: object) -> str:
    """Return a ``last_seen`` period as people write it; ``""`` when it is no date.

    ``2025-09`` gives ``September 2025``, ``2024-03-15`` gives ``15 March 2024`` (through
    :func:`format_date`) and ``2020`` stays ``2020``.
    """
    text = cell_text(value)
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text)
    if match is None:
        return ""
    year, month, day = match.groups()
    if month is None:
        return year
    if not 1 <= int(month) <= 12:
        return ""
    if day is None:
        return f"{_MONTHS[int(month) - 1]} {year}"
    try:
        return format_date(dt.date(int(year), int(month), int(day)))
    except ValueError:
        return ""


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
