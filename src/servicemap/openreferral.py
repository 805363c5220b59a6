"""Open Referral UK (HSDS 3.0 UK profile) JSON: read a services directory from it, write one.

Structure used (Open Referral UK profile of HSDS 3.0, ``OpenReferralUK/uk-profile``:
``schema/compiled/service_with_definitions.json``, ``profile/*.json`` and
``examples/service_full.json``; HSDS 3.0 base schema ``openreferral/specification``:
``schema/service.json``, ``schema/language.json``, ``schema/attribute.json``; extension
guidance ``openreferral/specification`` ``docs/hsds/extending.md``):

* ``service``: ``id``, ``organization_id``, ``name``, ``url``, ``status`` (one of ``active``,
  ``inactive``, ``defunct``, ``temporarily closed``), ``assured_date`` and the nested arrays
  ``service_at_locations``, ``service_areas``, ``languages``, ``contacts``, ``attributes``.
  The UK profile drops ``service.phones``: numbers hang off a ``contact`` (``phone.contact_id``).
* ``organization``: ``id``, ``name``, ``description``.
* ``service_at_location``: ``id``, ``service_id``, ``location_id`` (or a nested ``location``).
* ``location``: ``id``, ``name``, ``latitude``, ``longitude`` (WGS84) and ``addresses``
  (``address_1``, ``city``, ``state_province``, ``postal_code``, ``country``, ``address_type``).
* ``service_area``: ``id``, ``service_id``, ``name``, ``service_area`` (free text).
* ``language``: ``id``, ``service_id``, ``name``.
* ``contact`` / ``phone``: ``contact.service_id``; ``phone.contact_id``, ``phone.number``.
* ``taxonomy`` / ``taxonomy_term`` / ``attribute``: ``attribute.link_id`` (the service),
  ``attribute.taxonomy_term_id``, ``taxonomy_term.taxonomy``, ``taxonomy_term.term``.

Documents
---------
:func:`write_oruk` writes the *flat tables* shape: one JSON object whose keys ``services``,
``organizations``, ``locations``, ``addresses``, ``service_at_locations``, ``service_areas``,
``languages``, ``contacts``, ``phones``, ``taxonomies``, ``taxonomy_terms`` and ``attributes`` are
arrays linked by id (the HSDS tabular form, as JSON). :func:`read_oruk` also reads services with
nested arrays (an ORUK API ``/services/{id}`` answer, a list of them, or an API page whose
``contents`` holds them), and older ``physical_addresses``.

Field mapping (servicemap field ↔ ORUK)
---------------------------------------
==========================  ==========================================================
``id``                      ``service.id`` when it is a UUID; otherwise ``service.id`` is a
                            UUID derived from it (uuid5) and the id is kept in the extension
                            field ``service.servicemap_id``
``name``                    ``service.name``
``organisation``            ``organization.name`` (via ``service.organization_id``)
``website``                 ``service.url``
``phone``                   ``phone.number`` of a ``contact`` of the service (read: every number
                            of the service, joined with ``"; "``)
``address``                 ``address.address_1`` (read: ``address_1``, ``address_2`` and
                            ``city`` joined with ``", "``)
``postcode``                ``address.postal_code``
``latitude``/``longitude``  ``location.latitude``/``location.longitude`` (only coordinates the
                            directory gives; a postcode's centroid is not added)
``areas_served``            one ``service_area`` per item, item in ``name`` and ``service_area``
``languages``               one ``language`` per item, item in ``name``
``status``                  active → ``active``; ended → ``defunct``; unknown → ``inactive``
                            (ORUK requires a status and has no "unknown"; ``inactive`` makes
                            no claim that the service runs). Read: ``active`` → active,
                            ``defunct`` → ended, ``inactive`` and ``temporarily closed`` →
                            unknown. Any other value is written as ``inactive`` and kept in
                            ``service.servicemap_status``.
``last_seen``               ``service.assured_date`` ("the date that the information about the
                            service was last checked")
``service_types``,          ``attribute`` → ``taxonomy_term`` in the taxonomy named
``communities``, ``scope``, ``servicemap:<field>`` (e.g. ``servicemap:service_types``, term
``delivery``,               ``refuge``); ``link_type`` is the field name
``by_and_for``,
``nrpf_support``
``location_confidential``   extension ``service.servicemap_location_confidential``
``source_url``              extension ``service.servicemap_source_url``
``notes``                   extension ``service.servicemap_notes``
==========================  ==========================================================

HSDS has no formal extension mechanism; following its "extend" pattern, the extension fields
are flat snake_case strings prefixed ``servicemap_`` on the service object. Derived columns
(``easting``, ``served_districts``, ``force_code`` …) are not written: they are recomputed on
load. ORUK fields servicemap does not hold (``description``, ``email``, ``schedules``,
``funding``, ``cost_options``, eligibility, ages, accessibility) are ignored on read.

A confidential service (see ``services.public_services``) is written without any location,
address, postcode or coordinates; its areas served, types and contact details are kept.
"""

from __future__ import annotations

import json
import math
import uuid
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from servicemap._atomic import atomic_write_text
from servicemap.errors import DataQualityWarning, ServicesFileError
from servicemap.schema import FIELDS, cell_text, split_list

JSONObject = dict[str, Any]

# Fixed namespace so that derived UUIDs are the same on every export (stable diffs).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/servicemap/open-referral-uk")

EXTENSION_PREFIX = "servicemap_"
TAXONOMY_PREFIX = "servicemap:"
# servicemap fields carried as attributes → taxonomy terms, one taxonomy per field.
TAXONOMY_FIELDS: tuple[str, ...] = (
    "service_types",
    "communities",
    "scope",
    "delivery",
    "by_and_for",
    "nrpf_support",
)
# servicemap fields carried in extension fields on the service object.
EXTENSION_FIELDS: tuple[str, ...] = ("location_confidential", "source_url", "notes")

STATUS_TO_ORUK: dict[str, str] = {"active": "active", "ended": "defunct", "unknown": "inactive"}
STATUS_FROM_ORUK: dict[str, str] = {
    "active": "active",
    "defunct": "ended",
    "inactive": "unknown",
    "temporarily closed": "unknown",
}

# Tables of the flat shape, in the order they are written.
TABLES: tuple[str, ...] = (
    "services",
    "organizations",
    "locations",
    "addresses",
    "service_at_locations",
    "service_areas",
    "languages",
    "contacts",
    "phones",
    "taxonomies",
    "taxonomy_terms",
    "attributes",
)


# --- reading ---------------------------------------------------------------------------------


def read_oruk(path: Path | str) -> pd.DataFrame:
    """Read an Open Referral UK JSON document into a services table.

    Parameters
    ----------
    path
        A JSON file: an object with a ``services`` array (flat tables linked by id, or services
        with nested arrays, or both), an ORUK API page with ``contents``, a single service
        object or a list of service objects.

    Returns
    -------
    pandas.DataFrame
        One row per service with every column of :data:`servicemap.schema.FIELDS` as text
        (``""`` when empty; latitude and longitude as decimal text).

    Raises
    ------
    ServicesFileError
        The file is not JSON, or not an Open Referral UK document.
    """
    source = Path(path)
    document = _load_json(source)
    tables = _tables_from_document(document, source)
    index = _Index(tables, source)
    rows = []
    for number, service in enumerate(tables["services"], start=1):
        rows.append(_row_from_service(service, index, number))
    return pd.DataFrame(rows, columns=list(FIELDS), dtype=object)


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ServicesFileError(f"Services file '{path}' does not exist.") from None
    except UnicodeDecodeError as exc:
        raise ServicesFileError(
            f"Services file '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8 JSON."
        ) from None
    except OSError as exc:
        raise ServicesFileError(f"Cannot read services file '{path}': {exc.strerror}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServicesFileError(
            f"Services file '{path}' is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}); expected an Open Referral UK document."
        ) from None


def _not_oruk(path: Path, found: str) -> ServicesFileError:
    return ServicesFileError(
        f"Services file '{path}' is not an Open Referral UK document: expected a JSON object "
        "with a 'services' array (flat tables such as 'organizations', 'locations', "
        "'service_at_locations', or services with nested arrays), an API page with "
        f"'contents', or a list of services; found {found}."
    )


def _looks_like_service(value: Any) -> bool:
    return isinstance(value, dict) and "id" in value and "name" in value


def _tables_from_document(document: Any, path: Path) -> dict[str, list[JSONObject]]:
    if isinstance(document, list):
        if document and not all(_looks_like_service(item) for item in document):
            raise _not_oruk(
                path, "a JSON list whose items are not services (objects with 'id' and 'name')"
            )
        document = {"services": document}
    elif isinstance(document, dict) and "services" not in document:
        if isinstance(document.get("contents"), list):
            document = {**document, "services": document["contents"]}
        elif _looks_like_service(document):
            document = {"services": [document]}
    if not isinstance(document, dict):
        raise _not_oruk(path, f"a JSON {type(document).__name__}")
    if "services" not in document:
        keys = ", ".join(sorted(map(str, document))) or "no keys"
        raise _not_oruk(path, f"keys: {keys}")
    tables: dict[str, list[JSONObject]] = {}
    for name in TABLES:
        value = document.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list):
            raise ServicesFileError(
                f"Services file '{path}': '{name}' must be a JSON array of objects, "
                f"not a {type(value).__name__}."
            )
        for number, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                raise ServicesFileError(
                    f"Services file '{path}': item {number} of '{name}' is "
                    f"{json.dumps(item)[:40]!r}, not a JSON object."
                )
        tables[name] = value
    for number, service in enumerate(tables["services"], start=1):
        if _text(service.get("id")) == "":
            raise ServicesFileError(
                f"Services file '{path}': service {number} has no 'id'; every Open Referral "
                "service needs a unique id."
            )
    return tables


class _Index:
    """Lookups over the flat tables of one document."""

    def __init__(self, tables: Mapping[str, list[JSONObject]], path: Path) -> None:
        self.path = path
        self.organizations = _by_id(tables["organizations"])
        self.locations = _by_id(tables["locations"])
        self.taxonomies = _by_id(tables["taxonomies"])
        self.terms = _by_id(tables["taxonomy_terms"])
        self.sal = _group(tables["service_at_locations"], "service_id")
        self.areas = _group(tables["service_areas"], "service_id")
        self.languages = _group(tables["languages"], "service_id")
        self.contacts = _group(tables["contacts"], "service_id")
        self.phones_by_service = _group(tables["phones"], "service_id")
        self.phones_by_contact = _group(tables["phones"], "contact_id")
        self.addresses = _group(tables["addresses"], "location_id")
        service_attributes = [
            item
            for item in tables["attributes"]
            if _text(item.get("link_entity")).lower() in ("", "service")
        ]
        self.attributes = _group(service_attributes, "link_id")


def _by_id(items: Iterable[JSONObject]) -> dict[str, JSONObject]:
    return {_text(item.get("id")): item for item in items if _text(item.get("id"))}


def _group(items: Iterable[JSONObject], key: str) -> dict[str, list[JSONObject]]:
    groups: dict[str, list[JSONObject]] = {}
    for item in items:
        value = _text(item.get(key))
        if value:
            groups.setdefault(value, []).append(item)
    return groups


def _text(value: Any) -> str:
    """Return a JSON scalar as stripped text (``""`` for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _objects(value: Any) -> list[JSONObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _merged(nested: Any, flat: list[JSONObject]) -> list[JSONObject]:
    """Nested records then flat ones, skipping a flat record whose id was already nested."""
    records = _objects(nested)
    seen = {_text(item.get("id")) for item in records} - {""}
    return records + [item for item in flat if _text(item.get("id")) not in seen]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))


def _row_from_service(service: JSONObject, index: _Index, number: int) -> dict[str, str]:
    oruk_id = _text(service.get("id"))
    name = _text(service.get("name"))
    label = f"service {number} ({oruk_id!r})"
    address, postcode, latitude, longitude = _location_fields(service, oruk_id, index, label)
    by_taxonomy = _taxonomy_values(service, oruk_id, index)
    raw_status = _text(service.get("status"))
    if EXTENSION_PREFIX + "status" in service:
        status = _text(service[EXTENSION_PREFIX + "status"])
    else:
        status = STATUS_FROM_ORUK.get(raw_status.lower(), raw_status)
    row = {
        "id": _text(service.get(EXTENSION_PREFIX + "id")) or oruk_id,
        "name": name,
        "organisation": _organisation_name(service, index),
        "website": _text(service.get("url")),
        "phone": "; ".join(_phone_numbers(service, oruk_id, index)),
        "address": address,
        "postcode": postcode,
        "latitude": latitude,
        "longitude": longitude,
        "areas_served": "; ".join(
            _unique(
                _text(area.get("name")) or _text(area.get("service_area"))
                for area in _merged(service.get("service_areas"), index.areas.get(oruk_id, []))
            )
        ),
        "languages": "; ".join(
            _unique(
                _text(language.get("name"))
                or _text(language.get("language"))
                or _text(language.get("code"))
                for language in _merged(service.get("languages"), index.languages.get(oruk_id, []))
            )
        ),
        "status": status,
        "last_seen": _text(service.get("assured_date")),
    }
    for field in TAXONOMY_FIELDS:
        row[field] = "; ".join(by_taxonomy.get(field, []))
    for field in EXTENSION_FIELDS:
        row[field] = _text(service.get(EXTENSION_PREFIX + field))
    return {field: row.get(field, "") for field in FIELDS}


def _organisation_name(service: JSONObject, index: _Index) -> str:
    nested = service.get("organization")
    if isinstance(nested, dict) and _text(nested.get("name")):
        return _text(nested.get("name"))
    organization = index.organizations.get(_text(service.get("organization_id")), {})
    return _text(organization.get("name"))


def _phone_numbers(service: JSONObject, oruk_id: str, index: _Index) -> list[str]:
    phones = _objects(service.get("phones")) + index.phones_by_service.get(oruk_id, [])
    for contact in _merged(service.get("contacts"), index.contacts.get(oruk_id, [])):
        phones += _objects(contact.get("phones"))
        phones += index.phones_by_contact.get(_text(contact.get("id")), [])
    return _unique(_text(phone.get("number")) for phone in phones)


def _location_fields(
    service: JSONObject, oruk_id: str, index: _Index, label: str
) -> tuple[str, str, str, str]:
    locations: list[JSONObject] = []
    for link in _merged(service.get("service_at_locations"), index.sal.get(oruk_id, [])):
        nested = link.get("location")
        if isinstance(nested, dict):
            locations.append(nested)
            continue
        location_id = _text(link.get("location_id"))
        if location_id in index.locations:
            locations.append(index.locations[location_id])
        elif location_id:
            warnings.warn(
                f"Services file '{index.path}': {label} links to location {location_id!r}, "
                "which is not in 'locations'; the service is read without that location.",
                DataQualityWarning,
                stacklevel=4,
            )
    if not locations:
        return "", "", "", ""
    if len(locations) > 1:
        warnings.warn(
            f"Services file '{index.path}': {label} has {len(locations)} locations; servicemap "
            "keeps one place per service and uses the first. Split the service into one "
            "service per location to keep them all.",
            DataQualityWarning,
            stacklevel=4,
        )
    location = locations[0]
    addresses = (
        _objects(location.get("addresses"))
        or _objects(location.get("physical_addresses"))
        or index.addresses.get(_text(location.get("id")), [])
        or [location]
    )
    physical = [a for a in addresses if _text(a.get("address_type")).lower() == "physical"]
    address = (physical or addresses)[0]
    street = ", ".join(
        part
        for part in (
            _text(address.get("address_1")),
            _text(address.get("address_2")),
            _text(address.get("city")),
        )
        if part
    )
    postcode = _text(address.get("postal_code")) or _text(address.get("postcode"))
    return (
        street,
        postcode,
        _text(location.get("latitude")),
        _text(location.get("longitude")),
    )


def _taxonomy_values(service: JSONObject, oruk_id: str, index: _Index) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for attribute in _merged(service.get("attributes"), index.attributes.get(oruk_id, [])):
        term = attribute.get("taxonomy_term")
        if not isinstance(term, dict):
            term = index.terms.get(_text(attribute.get("taxonomy_term_id")), {})
        field = _taxonomy_field(term, index)
        value = _text(term.get("term")) or _text(term.get("name")) or _text(term.get("code"))
        if field and value and value not in values.setdefault(field, []):
            values[field].append(value)
    return values


def _taxonomy_field(term: JSONObject, index: _Index) -> str:
    names = [_text(term.get("taxonomy"))]
    detail = term.get("taxonomy_detail")
    if isinstance(detail, dict):
        names.append(_text(detail.get("name")))
    names.append(_text(index.taxonomies.get(_text(term.get("taxonomy_id")), {}).get("name")))
    for name in names:
        field = name.removeprefix(TAXONOMY_PREFIX)
        if name.startswith(TAXONOMY_PREFIX) and field in TAXONOMY_FIELDS:
            return field
    return ""


# --- writing ---------------------------------------------------------------------------------


def oruk_from_services(services: pd.DataFrame) -> dict[str, list[JSONObject]]:
    """Return an Open Referral UK document (flat tables) for a services frame.

    The frame first goes through ``services.public_services``: a confidential service is
    written without any location.

    Parameters
    ----------
    services
        The canonical services frame (``services.load_services``).

    Returns
    -------
    dict
        A JSON-ready document with the arrays listed in :data:`TABLES`.

    Raises
    ------
    ValueError
        The frame lacks schema columns or has duplicate ids.
    """
    from servicemap.export import public_frame

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
            "description": f"servicemap '{field}' values (see servicemap.schema).",
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
    document = oruk_from_services(services)
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


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
    organisation = cell_text(record["organisation"])
    if organisation:
        org_id = _uuid("organization", organisation)
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
            term_id = _uuid("term", field, value)
            terms.setdefault(
                term_id,
                {
                    "id": term_id,
                    "taxonomy": TAXONOMY_PREFIX + field,
                    "taxonomy_id": _uuid("taxonomy", field),
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
    latitude = _number(record["latitude"])
    longitude = _number(record["longitude"])
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
