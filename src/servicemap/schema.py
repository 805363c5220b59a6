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
  - ``confidential``: True when ``location_confidential`` is ``yes``, or the only service type
    is ``refuge``, or the service offers ``refuge`` or ``housing`` and ``location_confidential``
    is not ``no`` (in doubt, private). A confidential service's address, postcode and
    coordinates never leave the library: see ``services.public_services``;
  - ``geometry``: a Point at (easting, northing), or None.
"""

from __future__ import annotations

import math

FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "organisation",
    "website",
    "phone",
    "address",
    "postcode",
    "latitude",
    "longitude",
    "location_confidential",
    "scope",
    "areas_served",
    "service_types",
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

# Controlled vocabularies by field name.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "scope": SCOPES,
    "delivery": DELIVERY,
    "location_confidential": YES_NO_UNKNOWN,
    "by_and_for": YES_NO_UNKNOWN,
    "nrpf_support": YES_NO_UNKNOWN,
    "status": STATUSES,
    "service_types": SERVICE_TYPES,
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


def split_list(value: str) -> list[str]:
    """Split a ``;``-separated field into stripped, non-empty items."""
    return [item.strip() for item in str(value).split(";") if item.strip()]
