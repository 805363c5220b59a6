"""How a force page lists a service: its listing (what it offers, how to reach it) and table row.

A service that serves several forces is listed on each of their pages; its listing and its row
are made once (:func:`profile_services`, :func:`service_row`) and reused on every page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
from markupsafe import Markup

from servicemap.directory.schema import cell_text, split_list
from servicemap.render.labels import (
    DELIVERY_LABELS,
    address_line,
    label_service_types,
    safe_email,
    safe_url,
)
from servicemap.render.selection import phone_seen, seen_text

__all__ = ["LISTED", "link_text", "profile_services", "service_listing", "service_row"]

# the cells service_listing reads: a listing is a function of these alone
LISTED = (
    "name", "organisation", "level", "serves", "service_types", "delivery", "by_and_for",
    "nrpf_support", "languages", "communities", "phone", "last_seen", "email", "website",
    "address", "postcode",
)  # fmt: skip


def profile_services(
    table: pd.DataFrame, listings: dict[tuple[Any, ...], dict[str, str]]
) -> list[dict[str, str]]:
    """Return the listings of a profile's services table; ``listings`` keeps them across pages.

    A service serving several forces is listed on each of their pages: its listing is made
    once per distinct set of the cells it is made from (keyed on those cells' values).
    """
    present = [c for c in LISTED if c in table.columns]
    found: list[dict[str, str]] = []
    for row in zip(*(table[c].tolist() for c in present), strict=True):
        key = (*row, *map(type, row))  # typed: True and 1 are equal keys but not equal cells
        try:
            listing = listings.get(key)
        except TypeError:  # an unhashable cell: no reuse
            found.append(service_listing(dict(zip(present, row, strict=True))))
            continue
        if listing is None:
            listing = listings[key] = service_listing(dict(zip(present, row, strict=True)))
        found.append(listing)
    return found


def service_listing(service: Mapping[str, Any]) -> dict[str, str]:
    """Return how a page lists one service: what it offers, who for, and how to reach it.

    Raw text (the templates escape it); ``website`` and ``email`` only when they are safe links.
    Pass confidential services with their location blanked (the profile's table is).
    """
    extras = []
    delivery = cell_text(service.get("delivery"))
    if delivery:
        extras.append(DELIVERY_LABELS.get(delivery, delivery.replace("_", " ")))
    if cell_text(service.get("by_and_for")) == "yes":
        extras.append("by and for")
    if cell_text(service.get("nrpf_support")) == "yes":
        extras.append("supports NRPF")
    phone = cell_text(service.get("phone"))
    organisation = cell_text(service.get("organisation"))
    website = safe_url(service.get("website")) or ""
    return {
        "name": cell_text(service.get("name")),
        "organisation": organisation if organisation != cell_text(service.get("name")) else "",
        "level": cell_text(service.get("level")),
        "serves": cell_text(service.get("serves")),
        "offers": label_service_types(service.get("service_types")),
        "extras": "; ".join(extras),
        "languages": ", ".join(split_list(cell_text(service.get("languages")))),
        "communities": ", ".join(split_list(cell_text(service.get("communities")))),
        "phone": phone,
        "phone_seen": phone_seen(service.get("last_seen")) if phone else "",
        "seen": seen_text(service.get("last_seen")),
        "tel": "".join(ch for ch in phone if ch.isdigit() or ch == "+"),
        "email": safe_email(service.get("email")) or "",
        "website": website,
        "website_text": link_text(website),
        "address": address_line(service),
    }


def service_row(
    template: Any, listing: dict[str, str], rows: dict[int, tuple[dict[str, str], Markup]]
) -> Markup:
    """Return a listing's row of a force page's services table (``_service_row.html``).

    ``rows`` keeps each row by its listing (the same object on every page that lists the
    service, :func:`profile_services`); the listing is kept beside it so its id stays its own.
    """
    kept = rows.get(id(listing))
    if kept is None or kept[0] is not listing:
        kept = rows[id(listing)] = (listing, Markup(template.render(service=listing)))
    return kept[1]


def link_text(url: str) -> str:
    """Return a website as people read it: ``bawso.org.uk`` for ``https://bawso.org.uk/``."""
    return re.sub(r"^https?://(?:www\.)?", "", url).rstrip("/")
