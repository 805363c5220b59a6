"""The services directory schema: field names, vocabularies and the in-memory frame's columns.

Field names follow Open Referral UK (HSDS 3.0 UK profile) where they fit. The in-memory
``services`` frame that the library passes around is a GeoDataFrame in ``Settings.crs``
(EPSG:27700) with:

* every field in :data:`FIELDS`, as text (empty string for empty), except ``latitude`` and
  ``longitude`` which are floats (NaN when not given);
* derived columns :data:`DERIVED`:

  - ``easting``, ``northing``: the service's public or private location in metres (NaN if none);
  - ``location_source``: ``"coordinates"``, ``"postcode"`` or ``""``;
  - ``force_code``: the force the location lies in (``""`` if no location);
  - ``served_districts``: tuple of district codes the service serves, from ``areas_served``
    (a force name expands to all its districts, a region to all of its districts, "England and
    Wales" to all of them); empty tuple when ``areas_served`` is empty;
  - ``served_forces``: tuple of force codes of ``served_districts``, sorted;
  - ``confidential``: the confidentiality rule, stated once in
    ``privacy.confidential_mask`` (in doubt, private). A confidential service's address,
    postcode and coordinates never leave the library: see ``privacy.public_services``;
  - ``geometry``: a Point at (easting, northing), or None.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from servicemap._csv import column_key

FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "organisation",
    "website",
    "phone",
    "email",
    "address",
    "postcode",
    "latitude",
    "longitude",
    "location_confidential",
    "scope",
    "areas_served",
    "service_types",
    "focus",
    "delivery",
    "communities",
    "languages",
    "by_and_for",
    "nrpf_support",
    "status",
    "last_seen",
    "source_url",
    "notes",
)

REQUIRED: tuple[str, ...] = ("id", "name", "scope", "source_url")

DERIVED: tuple[str, ...] = (
    "easting",
    "northing",
    "location_source",
    "force_code",
    "served_districts",
    "served_forces",
    "confidential",
)

# Fields holding several values separated by ";".
LIST_FIELDS: tuple[str, ...] = ("areas_served", "service_types", "communities", "languages")

# Location fields that must never appear in any output for a confidential service.
LOCATION_FIELDS: tuple[str, ...] = ("address", "postcode", "latitude", "longitude")

SERVICE_TYPES: tuple[str, ...] = (
    "advocacy",
    "idva",
    "refuge",
    "outreach",
    "helpline",
    "counselling",
    "legal_advice",
    "immigration_advice",
    "nrpf_support",
    "housing",
    "group_support",
    "children",
    "training",
    "casework",
)

SCOPES: tuple[str, ...] = ("local", "regional", "national")
DELIVERY: tuple[str, ...] = ("in_person", "remote", "both")
YES_NO_UNKNOWN: tuple[str, ...] = ("yes", "no", "unknown")
STATUSES: tuple[str, ...] = ("active", "ended", "unknown")

#: What a service is mainly for, one value per service (``docs/schema.md`` defines each).
#: ``domestic_abuse`` includes forced marriage and so-called honour-based abuse; the others
#: are services a migrant survivor may need that are not domestic-abuse services as such.
FOCUSES: tuple[str, ...] = (
    "domestic_abuse",
    "sexual_violence",
    "trafficking",
    "fgm",
    "legal_immigration",
    "nrpf_general",
    "community",
)

# Controlled vocabularies by field name.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "scope": SCOPES,
    "delivery": DELIVERY,
    "location_confidential": YES_NO_UNKNOWN,
    "by_and_for": YES_NO_UNKNOWN,
    "nrpf_support": YES_NO_UNKNOWN,
    "status": STATUSES,
    "service_types": SERVICE_TYPES,
    "focus": FOCUSES,
}

# Kinds of provision the coverage analysis scores, and the service types that provide each.
PROVISION_KINDS: dict[str, tuple[str, ...]] = {
    "advocacy": ("advocacy", "idva", "casework", "outreach"),
    "nrpf_accommodation": ("refuge", "housing"),
    "legal_immigration": ("legal_advice", "immigration_advice"),
    "counselling": ("counselling", "group_support"),
    "helpline": ("helpline",),
}


def cell_text(value: object) -> str:
    """Return a cell's value as stripped text: ``""`` for None and NaN.

    Parameters
    ----------
    value
        A value from a services frame or a file.

    Returns
    -------
    str
        The text.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def cell_number(value: Any) -> float | None:
    """Return a cell's value as a number: ``None`` for empty, NaN or text that is not one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def split_list(value: str) -> list[str]:
    """Split a ``;``-separated field into stripped, non-empty items."""
    return [item.strip() for item in str(value).split(";") if item.strip()]


def normalise_vocab(value: str) -> str:
    """Return a vocabulary value as it is compared: lower case, spaces and dashes as ``_``."""
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def per_value(values: pd.Series, func: Callable[[str], Any]) -> list[Any]:
    """Apply ``func`` once per distinct value (columns repeat a few values many times)."""
    codes, uniques = pd.factorize(values.astype(str))
    results = [func(u) for u in uniques]
    return [results[c] for c in codes]


# --------------------------------------------------------------------------------------------
# Column headers as people write them
# --------------------------------------------------------------------------------------------

#: The headers accepted for each field besides the field's own name, as charities' and
#: commissioners' spreadsheets write them. A header matches after :func:`header_key`, which
#: ignores case, spaces, punctuation, a trailing ``?`` and a ``(Y/N)`` mark, so ``Post code``,
#: ``POSTCODE`` and ``post_code`` are one header. ``docs/schema.md`` lists them all.
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("ID", "Service ID", "Service ref", "Reference", "Ref", "Record ID", "Unique ID"),
    "name": (
        "Service name",
        "Name of service",
        "Service title",
        "Project name",
        "Name of project",
    ),
    "organisation": (
        "Organisation name",
        "Name of organisation",
        "Organization",
        "Organization name",
        "Org",
        "Org name",
        "Provider",
        "Provider name",
        "Charity",
        "Charity name",
        "Run by",
        "Delivered by",
        "Lead organisation",
    ),
    "website": (
        "Website URL",
        "Web address",
        "Web site",
        "Website address",
        "Web",
        "Homepage",
        "Web link",
        "Service website",
    ),
    "phone": (
        "Telephone",
        "Tel",
        "Tel no",
        "Phone number",
        "Phone no",
        "Telephone number",
        "Contact number",
        "Contact phone",
        "Contact telephone",
        "Helpline number",
    ),
    "email": (
        "Email",
        "Email address",
        "E-mail",
        "E-mail address",
        "Contact email",
        "Contact email address",
        "Public email",
        "Service email",
    ),
    "address": (
        "Street address",
        "Office address",
        "Public address",
        "Postal address",
        "Address line 1",
        "Venue",
        "Venue address",
    ),
    "postcode": ("Post code", "Postal code", "Office postcode"),
    "latitude": ("Lat", "Latitude WGS84"),
    "longitude": ("Long", "Lon", "Lng", "Longitude WGS84"),
    "location_confidential": (
        "Confidential",
        "Confidential location?",
        "Location confidential (Y/N)",
        "Confidential address",
        "Address confidential",
        "Confidentiality",
        "Is confidential",
        "Is the location confidential?",
        "Do not publish",
        "Do not publish address",
        "Do not publish location",
        "Don't publish address",
        "Private address",
        "Private location",
        "Location private",
        "Secret location",
        "Hidden location",
        "Hide address",
        "Withhold address",
        "Address withheld",
        "Location withheld",
    ),
    "scope": ("Geographic scope", "Service scope", "Scope of service", "Reach"),
    "areas_served": (
        "Areas covered",
        "Area served",
        "Area covered",
        "Areas",
        "Area",
        "Coverage area",
        "Coverage",
        "Geographic area",
        "Geographical area",
        "Service area",
        "Service areas",
        "Catchment",
        "Catchment area",
        "Local authority",
        "Local authorities",
        "Where it serves",
    ),
    "service_types": (
        "Service types",
        "Service type",
        "Service type(s)",
        "Type of service",
        "Types of service",
        "Type",
        "Types",
        "Type of support",
        "Support type",
        "Support offered",
        "Services offered",
        "Category",
        "Categories",
    ),
    "focus": ("Main focus", "Service focus", "Primary focus", "Focus of service"),
    "delivery": (
        "How delivered",
        "How is it delivered?",
        "Delivery method",
        "Delivery mode",
        "Mode of delivery",
        "In person or remote",
    ),
    "communities": (
        "Community",
        "Communities served",
        "Who it is for",
        "Who for",
        "Client group",
        "Target group",
        "Specialist communities",
    ),
    "languages": (
        "Languages spoken",
        "Language",
        "Languages offered",
        "Languages available",
        "Community languages",
    ),
    "by_and_for": ("By and for?", "By & for", "By and for organisation", "Led by and for"),
    "nrpf_support": (
        "NRPF",
        "NRPF?",
        "NRPF support",
        "Supports NRPF",
        "Accepts NRPF",
        "NRPF accepted",
        "No recourse to public funds",
        "Supports women with NRPF",
    ),
    "status": ("Service status", "Current status", "Operating status", "Open or closed"),
    "last_seen": (
        "Last checked",
        "Last verified",
        "Date checked",
        "Date last checked",
        "Date verified",
        "Last reviewed",
        "Last updated",
        "Date updated",
    ),
    "source_url": (
        "Source",
        "Source URL",
        "Source link",
        "Evidence",
        "Evidence URL",
        "Evidence link",
        "Link to source",
        "Reference URL",
        "Where found",
    ),
    "notes": (
        "Note",
        "Comments",
        "Comment",
        "Remarks",
        "Additional information",
        "Further information",
        "Other information",
    ),
}

#: Headers of columns that are not fields but whose values belong in one: header -> (the
#: field, how to move them). The unknown-column warning gives the fix.
HEADER_HINTS: dict[str, tuple[str, str]] = {
    "Town": ("address", "a town is part of the address: add it to 'address' (e.g. "
             "'21 Avenue Road, Southall')."),
    "City": ("address", "a city is part of the address: add it to 'address'."),
    "Street": ("address", "a street is part of the address: put the whole address in "
               "'address'."),
    "Address line 2": ("address", "put every line of the address in one 'address' cell, "
                       "separated by commas."),
    "Easting": ("latitude", "servicemap takes WGS 84 'latitude' and 'longitude' in degrees (or "
                "the postcode), not grid metres: convert them, or leave them out."),
    "Northing": ("longitude", "servicemap takes WGS 84 'latitude' and 'longitude' in degrees "
                 "(or the postcode), not grid metres: convert them, or leave them out."),
    "URL": ("website", "if it is the service's website, rename it 'website'; if it is the "
            "page that shows the service exists, rename it 'source_url'."),
    "Description": ("notes", "if it should be published, rename it 'notes' (or, if there is a "
                    "'notes' column already, add what matters there)."),
    "Police force": ("areas_served", "put the police force areas the service serves in "
                     "'areas_served' (e.g. 'Thames Valley')."),
    "Region": ("areas_served", "put the regions the service serves in 'areas_served' (e.g. "
               "'North West')."),
}  # fmt: skip

#: Words in a header that suggest a private place. A column headed so that is not
#: ``location_confidential`` is an error: its values may be the only sign that a place is secret.
PRIVATE_HEADER = re.compile(
    r"\b(?:confidential\w*|secret|secrets|private|privacy|hidden|hide|"
    r"do not publish|dont publish|not for publication|unpublished|withh[eo]ld\w*|undisclosed|"
    r"safe ?houses?|refuges?|shelters?)\b"
)

_YES_NO_MARK = re.compile(
    r"\(?\s*\b(?:y\s*/\s*n|yes\s*/\s*no|y\s+or\s+n|yes\s+or\s+no|true\s*/\s*false)\b\s*\)?"
)


def header_words(header: str) -> str:
    """Return a header as lower-case words: the form :data:`PRIVATE_HEADER` is matched on.

    Apostrophes are dropped (``Don't`` → ``dont``), ``&`` reads ``and``, a yes/no mark such as
    ``(Y/N)`` is removed and every other run of punctuation or space becomes one space.

    Parameters
    ----------
    header
        A column header as written.

    Returns
    -------
    str
        The words, separated by single spaces.
    """
    text = unicodedata.normalize("NFKC", str(header)).lower().replace("&", " and ")
    text = re.sub(r"['’‘`]", "", text)
    text = _YES_NO_MARK.sub(" ", text)
    return " ".join(re.findall(r"[a-z0-9]+", text))


def header_key(header: str) -> str:
    """Return the key a header is matched on: its :func:`header_words` run together.

    This is :func:`servicemap._csv.column_key` (the one column-name normaliser) applied after
    the header rules of :func:`header_words`.

    ``Confidential location?``, ``CONFIDENTIAL LOCATION (Y/N)`` and ``confidential_location``
    all give ``confidentiallocation``.
    """
    return column_key(header_words(header))


def _field_by_header_key() -> dict[str, str]:
    keys: dict[str, str] = {}
    for field in FIELDS:
        for header in (field, *HEADER_SYNONYMS.get(field, ())):
            keys.setdefault(header_key(header), field)
    return keys


#: Every accepted header's key (see :func:`header_key`) -> its field.
FIELD_BY_HEADER_KEY: dict[str, str] = _field_by_header_key()


# A PO Box, Freepost or other postal-only address ("PO Box 44", "P.O. Box", "Freepost RTKX-…",
# "Private Bag"): mail goes there, but nobody can visit it.
_POSTAL_ONLY = re.compile(
    r"\b(?:p\s*\.?\s*o\s*\.?\s*box|pobox|post\s+office\s+box|freepost|private\s+bag)\b",
    re.IGNORECASE,
)


def postal_only(services: pd.DataFrame) -> pd.Series:
    """Return, per service, whether its published address is postal only (PO Box, Freepost).

    Such a service keeps its district for the served-area measures, but is not a place people
    can visit: it never counts in distance measures and gets no map marker.

    Parameters
    ----------
    services
        A frame with an ``address`` column (absent: no service is postal only).

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``services``.
    """
    if "address" not in services.columns:
        return pd.Series(False, index=services.index, dtype=bool)
    text = services["address"].fillna("").astype(str).tolist()
    found = np.zeros(len(text), dtype=bool)
    for row in _rows_mentioning(text, _POSTAL_WORDS):  # the pattern, where it can match
        found[row] = _POSTAL_ONLY.search(text[row]) is not None
    return pd.Series(found, index=services.index, dtype=bool)


# Every postal-only address holds one of these, in lower case (each letter of them matches
# only itself and its capital under the pattern's IGNORECASE).
_POSTAL_WORDS = ("box", "bag", "freepo")


def _rows_mentioning(texts: list[str], words: tuple[str, ...]) -> list[int]:
    """Return which of ``texts`` hold one of ``words`` (lower case, no newline), any case.

    One search of all the texts joined: a directory of a million addresses is not read one
    address at a time. The rows are in order, each once.
    """
    joined = "\n".join(texts)  # no word holds a newline, so none spans two texts
    lower = joined.lower()
    if len(lower) != len(joined):  # a character lowers to two ("İ"): every text, then
        return list(range(len(texts)))
    hits = []
    for word in words:
        at = lower.find(word)
        while at >= 0:
            hits.append(at)
            at = lower.find(word, at + 1)
    lengths = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
    starts = np.r_[0, np.cumsum(lengths[:-1] + 1)]
    rows = np.unique(np.searchsorted(starts, np.asarray(hits, dtype=np.intp), side="right") - 1)
    return [int(row) for row in rows]
