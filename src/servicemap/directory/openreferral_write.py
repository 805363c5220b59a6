"""Open Referral UK JSON written from a services frame, as flat tables linked by id.

The field mapping, and the reader, are in :mod:`servicemap.directory.openreferral`.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from servicemap._atomic import atomic_write_text
from servicemap._json import dumps_lines
from servicemap.directory.openreferral import (
    EXTENSION_FIELDS,
    EXTENSION_PREFIX,
    STATUS_TO_ORUK,
    TABLES,
    TAXONOMY_FIELDS,
    TAXONOMY_PREFIX,
    JSONObject,
)
from servicemap.directory.privacy import public_frame
from servicemap.directory.schema import cell_number, cell_text, split_list

# Fixed namespace so that derived UUIDs are the same on every export (stable diffs).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/servicemap/open-referral-uk")


def oruk_from_services(services: pd.DataFrame) -> dict[str, list[JSONObject]]:
    """Return an Open Referral UK document (flat tables) for a services frame.

    The frame first goes through :func:`servicemap.directory.privacy.public_frame`: a
    confidential service is written without any location.

    Parameters
    ----------
    services
        The canonical services frame (:func:`servicemap.directory.load.load_services`).

    Returns
    -------
    dict
        A JSON-ready document with the arrays listed in :data:`TABLES`.

    Raises
    ------
    ValueError
        The frame lacks schema columns or has duplicate ids.
    """
    public = public_frame(services)
    ids = public["id"].astype(str)
    duplicates = sorted(set(ids[ids.duplicated()]))
    if duplicates:
        raise ValueError(
            f"Services have duplicate id(s) {', '.join(map(repr, duplicates))}; give every "
            "service a unique id before exporting."
        )
    document: dict[str, list[JSONObject]] = {name: [] for name in TABLES}
    document["taxonomies"] = [
        {
            "id": _uuid("taxonomy", field),
            "name": TAXONOMY_PREFIX + field,
            "description": f"servicemap '{field}' values (see servicemap.directory.schema).",
        }
        for field in TAXONOMY_FIELDS
    ]
    organizations: dict[str, JSONObject] = {}
    terms: dict[str, JSONObject] = {}
    for record in public.to_dict(orient="records"):
        _add_service(document, record, organizations, terms)
    document["organizations"] = list(organizations.values())
    document["taxonomy_terms"] = list(terms.values())
    return document


def write_oruk(services: pd.DataFrame, path: Path | str) -> None:
    """Write a services frame as Open Referral UK JSON (atomically).

    Parameters
    ----------
    services
        The canonical services frame; confidential locations are withheld.
    path
        The ``.json`` file to write.
    """
    atomic_write_text(path, oruk_text(services))


def oruk_text(services: pd.DataFrame) -> str:
    """Return :func:`oruk_from_services` as the text of a file: one record per line."""
    return dumps_lines(oruk_from_services(services))


_NAMESPACE_BYTES = _NAMESPACE.bytes


def _uuid(*parts: str) -> str:
    """Return ``str(uuid.uuid5(_NAMESPACE, "/".join(parts)))``, without building a UUID object.

    The same SHA-1 name-based id (RFC 4122 version 5) as :func:`uuid.uuid5`, formatted
    directly: a directory of 10,000 services makes about 200,000 of these ids.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "/".join(parts).encode("utf-8")).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest[:16].hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


#: :func:`_uuid` of the ids many services share (organisations, taxonomies and their terms).
_shared_uuid = functools.lru_cache(maxsize=4096)(_uuid)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _add_service(
    document: dict[str, list[JSONObject]],
    record: Mapping[str, Any],
    organizations: dict[str, JSONObject],
    terms: dict[str, JSONObject],
) -> None:
    servicemap_id = cell_text(record["id"])
    sid = servicemap_id if _is_uuid(servicemap_id) else _uuid("service", servicemap_id)
    status = cell_text(record["status"])
    service: JSONObject = {
        "id": sid,
        "name": cell_text(record["name"]),
        "url": cell_text(record["website"]),
        "status": STATUS_TO_ORUK.get(status, "inactive"),
    }
    email = cell_text(record.get("email"))
    if email:
        service["email"] = email
    organisation = cell_text(record["organisation"])
    if organisation:
        org_id = _shared_uuid("organization", organisation)
        organizations.setdefault(org_id, {"id": org_id, "name": organisation, "description": ""})
        service["organization_id"] = org_id
    if cell_text(record["last_seen"]):
        service["assured_date"] = cell_text(record["last_seen"])
    if sid != servicemap_id:
        service[EXTENSION_PREFIX + "id"] = servicemap_id
    if status not in STATUS_TO_ORUK:
        service[EXTENSION_PREFIX + "status"] = status
    for field in EXTENSION_FIELDS:
        if cell_text(record[field]):
            service[EXTENSION_PREFIX + field] = cell_text(record[field])
    document["services"].append(service)

    _add_location(document, record, sid)
    for n, area in enumerate(split_list(cell_text(record["areas_served"]))):
        document["service_areas"].append(
            {
                "id": _uuid(sid, "area", str(n)),
                "service_id": sid,
                "name": area,
                "service_area": area,
            }
        )
    for n, language in enumerate(split_list(cell_text(record["languages"]))):
        document["languages"].append(
            {"id": _uuid(sid, "language", str(n)), "service_id": sid, "name": language}
        )
    phone = cell_text(record["phone"])
    if phone:
        contact_id = _uuid(sid, "contact")
        document["contacts"].append({"id": contact_id, "service_id": sid})
        document["phones"].append(
            {"id": _uuid(sid, "phone"), "contact_id": contact_id, "number": phone}
        )
    for field in TAXONOMY_FIELDS:
        for value in split_list(cell_text(record[field])):
            term_id = _shared_uuid("term", field, value)
            terms.setdefault(
                term_id,
                {
                    "id": term_id,
                    "taxonomy": TAXONOMY_PREFIX + field,
                    "taxonomy_id": _shared_uuid("taxonomy", field),
                    "term": value,
                },
            )
            document["attributes"].append(
                {
                    "id": _uuid(sid, "attribute", field, value),
                    "link_id": sid,
                    "link_type": field,
                    "taxonomy_term_id": term_id,
                }
            )


def _add_location(
    document: dict[str, list[JSONObject]], record: Mapping[str, Any], sid: str
) -> None:
    address = cell_text(record["address"])
    postcode = cell_text(record["postcode"])
    latitude = cell_number(record["latitude"])
    longitude = cell_number(record["longitude"])
    if not (address or postcode or latitude is not None or longitude is not None):
        return
    location_id = _uuid(sid, "location")
    location: JSONObject = {"id": location_id, "name": cell_text(record["name"])}
    if latitude is not None:
        location["latitude"] = latitude
    if longitude is not None:
        location["longitude"] = longitude
    document["locations"].append(location)
    if address or postcode:
        document["addresses"].append(
            {
                "id": _uuid(sid, "address"),
                "location_id": location_id,
                "address_1": address,
                "city": "",
                "state_province": "",
                "postal_code": postcode,
                "country": "GB",
                "address_type": "physical",
            }
        )
    document["service_at_locations"].append(
        {"id": _uuid(sid, "service_at_location"), "service_id": sid, "location_id": location_id}
    )
