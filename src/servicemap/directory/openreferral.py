"""Open Referral UK (HSDS 3.0 UK profile) JSON: how it maps to servicemap, and reading it.

Writing is in :mod:`servicemap.directory.openreferral_write`; the mapping below is both ways.

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
:func:`~servicemap.directory.openreferral_write.write_oruk` writes the *flat tables* shape:
one JSON object whose keys ``services``, ``organizations``, ``locations``, ``addresses``,
``service_at_locations``, ``service_areas``, ``languages``, ``contacts``, ``phones``,
``taxonomies``, ``taxonomy_terms`` and ``attributes`` are arrays linked by id (the HSDS tabular
form, as JSON). :func:`read_oruk` also reads services with nested arrays (an ORUK API
``/services/{id}`` answer, a list of them, or an API page whose ``contents`` holds them), and
older ``physical_addresses``.

Field mapping (servicemap field ↔ ORUK)
---------------------------------------
==========================  ==========================================================
``id``                      ``service.id`` when it is a UUID; otherwise ``service.id`` is a
                            UUID derived from it (uuid5) and the id is kept in the extension
                            field ``service.servicemap_id``
``name``                    ``service.name``
``organisation``            ``organization.name`` (via ``service.organization_id``)
``website``                 ``service.url``
``email``                   ``service.email``
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
``focus``, ``communities``, ``servicemap:<field>`` (e.g. ``servicemap:service_types``, term
``scope``, ``delivery``,    ``refuge``; ``servicemap:focus``, term ``domestic_abuse``);
``by_and_for``,             ``link_type`` is the field name
``nrpf_support``
``location_confidential``   extension ``service.servicemap_location_confidential``
``source_url``              extension ``service.servicemap_source_url``
``notes``                   extension ``service.servicemap_notes``
==========================  ==========================================================

HSDS has no formal extension mechanism; following its "extend" pattern, the extension fields
are flat snake_case strings prefixed ``servicemap_`` on the service object. Derived columns
(``easting``, ``served_districts``, ``force_code`` …) are not written: they are recomputed on
load. ORUK fields servicemap does not hold (``description``, ``schedules``,
``funding``, ``cost_options``, eligibility, ages, accessibility) are ignored on read.

Reading checks the JSON type of every field it uses (text, id, number, object or array of
objects): a value of the wrong type, such as a ``name`` given as ``{"en": …}`` or
``service_areas`` given as a string, is an error naming the service and the field
(:class:`OrukProblem`), never published and never silently dropped; so are ``NaN`` and
``Infinity`` coordinates.

A confidential service (see :mod:`servicemap.directory.privacy`) is written without any location,
address, postcode or coordinates; its areas served, types and contact details are kept.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from servicemap._json import JSONInputError, loads_strict
from servicemap.directory.schema import FIELDS
from servicemap.errors import DataQualityWarning, ServicesFileError

JSONObject = dict[str, Any]

EXTENSION_PREFIX = "servicemap_"
TAXONOMY_PREFIX = "servicemap:"
# servicemap fields carried as attributes → taxonomy terms, one taxonomy per field.
TAXONOMY_FIELDS: tuple[str, ...] = (
    "service_types",
    "focus",
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

# A value of the wrong JSON type: what each kind of field must hold, and an example.
_KINDS: dict[str, tuple[str, str]] = {
    "text": ("text (a JSON string)", '"…"'),
    "id": ("an id (a JSON string or whole number)", '"…"'),
    "number": ("a number", "51.5072"),
    "flag": ("text or true/false", '"yes"'),
    "objects": ("an array of objects", "[{…}]"),
    "object": ("an object", "{…}"),
    "item": ("an object", "[{…}]"),
}
_EXAMPLES: dict[str, str] = {
    "name": '"Alpha Women\'s Centre"',
    "latitude": "51.5072",
    "longitude": "-0.1276",
    "service_areas": '[{"name": "Camden"}]',
    "service_at_locations": '[{"location_id": "…"}] or [{"location": {…}}]',
    "languages": '[{"name": "Polish"}]',
    "contacts": '[{"phones": [{"number": "020 7946 0000"}]}]',
    "phones": '[{"number": "020 7946 0000"}]',
    "number": '"020 7946 0000"',
    "attributes": '[{"taxonomy_term": {"taxonomy": "servicemap:service_types", "term": "refuge"}}]',
    "addresses": '[{"address_1": "…", "postal_code": "…"}]',
    "physical_addresses": '[{"address_1": "…", "postal_code": "…"}]',
    "postal_code": '"SW1A 1AA"',
}

_Item = tuple[str, JSONObject]  # (JSON path of the object, the object)


@dataclass(frozen=True)
class OrukProblem:
    """A value in an Open Referral UK document that servicemap cannot read as it stands.

    Attributes
    ----------
    severity
        ``"error"`` (the document cannot be used until it is fixed) or ``"warning"``.
    code
        A short stable name of the kind of problem (``"bad-type"``, ``"not-a-number"``,
        ``"missing-location"``, ``"several-locations"``).
    service
        The service's record number (first = 1), or None for an item of a top-level table
        that is wrong before any service reads it (e.g. a ``service_id`` given as an object).
    field
        Where the value is, as a JSON path: from the service (``name``,
        ``service_areas[0].name``), or from the document root for the flat tables
        (``$.locations[3].latitude``).
    value
        The value as JSON, shortened.
    message
        What is wrong, as a sentence.
    fix
        How to fix it, as a sentence.
    """

    severity: Literal["error", "warning"]
    code: str
    service: int | None
    field: str
    value: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"service {self.service}, " if self.service is not None else ""
        return f"{where}{self.field!r}: {self.message} Fix: {self.fix}"


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
        One row per service with every column of :data:`servicemap.directory.schema.FIELDS` as text
        (``""`` when empty; latitude and longitude as decimal text). Warnings (a link to a
        missing location, several locations) are emitted as ``DataQualityWarning``.

    Raises
    ------
    ServicesFileError
        The file is not JSON, not an Open Referral UK document, or holds a value of the wrong
        JSON type (e.g. a ``name`` that is an object, ``service_areas`` that is a string); the
        message names the service, the field and the type expected.
    """
    source = Path(path)
    table, problems = services_from_oruk(_load_json(source), source=str(source))
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        if problem.severity == "warning":
            warnings.warn(f"Services file '{source}': {problem}", DataQualityWarning, stacklevel=2)
    if errors:
        shown = "\n".join(f"  {p}" for p in errors[:3])
        more = f"\n  … and {len(errors) - 3} more." if len(errors) > 3 else ""
        count = f"{len(errors)} value" + ("" if len(errors) == 1 else "s")
        raise ServicesFileError(
            f"Services file '{source}' has {count} of the wrong JSON type:\n{shown}{more}"
        )
    return table


def services_from_oruk(document: Any, *, source: str) -> tuple[pd.DataFrame, list[OrukProblem]]:
    """Read a parsed Open Referral UK document into a services table and its problems.

    Every field servicemap reads is checked for its JSON type; a value of the wrong type is
    never read (nor dropped quietly): it is left empty and reported.

    Parameters
    ----------
    document
        The parsed JSON (see :func:`read_oruk` for the shapes accepted).
    source
        The file, as the user named it, for messages.

    Returns
    -------
    tuple of pandas.DataFrame and list of OrukProblem
        The table (as :func:`read_oruk`) and the problems found, in document order.

    Raises
    ------
    ServicesFileError
        If the document is not an Open Referral UK document at all (no ``services`` array,
        items that are not objects, a service without an id).
    """
    tables = _tables_from_document(document, source)
    reader = _Reader(tables)
    rows = [
        reader.service_row(service, number)
        for number, service in enumerate(tables["services"], start=1)
    ]
    return pd.DataFrame(rows, columns=list(FIELDS), dtype=object), reader.problems


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
        return loads_strict(text)
    except json.JSONDecodeError as exc:
        raise ServicesFileError(
            f"Services file '{path}' is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}); expected an Open Referral UK document."
        ) from None
    except JSONInputError as exc:
        raise ServicesFileError(f"Services file '{path}' {exc}") from None


def _not_oruk(path: str, found: str) -> ServicesFileError:
    return ServicesFileError(
        f"Services file '{path}' is not an Open Referral UK document: expected a JSON object "
        "with a 'services' array (flat tables such as 'organizations', 'locations', "
        "'service_at_locations', or services with nested arrays), an API page with "
        f"'contents', or a list of services; found {found}."
    )


def _looks_like_service(value: Any) -> bool:
    return isinstance(value, dict) and "id" in value and "name" in value


def _tables_from_document(document: Any, path: str) -> dict[str, list[JSONObject]]:
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
                    f"{_json_text(item, 40)!r}, not a JSON object."
                )
        tables[name] = value
    for number, service in enumerate(tables["services"], start=1):
        ident = service.get("id")
        if ident is None or (isinstance(ident, str) and not ident.strip()):
            raise ServicesFileError(
                f"Services file '{path}': service {number} has no 'id'; every Open Referral "
                "service needs a unique id."
            )
    return tables


def _json_text(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(value: Any) -> str:
    shown = _json_text(value)
    if isinstance(value, dict):
        return f"an object ({shown})"
    if isinstance(value, list):
        return f"an array ({shown})"
    if isinstance(value, str):
        return f"text ({shown})"
    if isinstance(value, bool):
        return f"{shown} (true/false)"
    return f"a number ({shown})"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Reader:
    """Reads the services of one document, checking the JSON type of every field it uses."""

    def __init__(self, tables: Mapping[str, list[JSONObject]]) -> None:
        self.problems: list[OrukProblem] = []
        self._reported: set[tuple[int | None, str]] = set()
        self.number: int | None = None  # the service being read
        items = {
            name: [(f"$.{name}[{i}]", item) for i, item in enumerate(tables[name])]
            for name in TABLES
        }
        self.organizations = self._by_id(items["organizations"])
        self.locations = self._by_id(items["locations"])
        self.taxonomies = self._by_id(items["taxonomies"])
        self.terms = self._by_id(items["taxonomy_terms"])
        self.sal = self._group(items["service_at_locations"], "service_id")
        self.areas = self._group(items["service_areas"], "service_id")
        self.languages = self._group(items["languages"], "service_id")
        self.contacts = self._group(items["contacts"], "service_id")
        self.phones_by_service = self._group(items["phones"], "service_id")
        self.phones_by_contact = self._group(items["phones"], "contact_id")
        self.addresses = self._group(items["addresses"], "location_id")
        service_attributes = [
            item
            for item in items["attributes"]
            if self.text(item, "link_entity").lower() in ("", "service")
        ]
        self.attributes = self._group(service_attributes, "link_id")

    # --- the type of each value -----------------------------------------------------------

    def _add(self, severity: Literal["error", "warning"], code: str, path: str, value: Any,
             message: str, fix: str) -> None:  # fmt: skip
        if (self.number, path) in self._reported:
            return
        self._reported.add((self.number, path))
        self.problems.append(
            OrukProblem(severity, code, self.number, path, _json_text(value), message, fix)
        )

    def _wrong(self, path: str, key: str, value: Any, kind: str) -> None:
        expected, example = _KINDS[kind]
        # A service's own 'name' has an example of its own; a language's 'name' does not.
        example = _EXAMPLES.get(key if key != "name" or path == "name" else "", example)
        if isinstance(value, float) and not math.isfinite(value):
            self._add(
                "error",
                "not-a-number",
                path,
                value,
                f"is {_json_text(value)}, which is not a number a service can have.",
                f'give {key!r} as {expected}, e.g. "{key}": {example}, or leave it out.',
            )
            return
        self._add(
            "error",
            "bad-type",
            path,
            value,
            f"is {_describe(value)}; Open Referral UK expects {expected} here, so it is not read.",
            f'make each item of {key!r} an object, e.g. "{key}": {example}.'
            if kind == "item"
            else f'give {key!r} as {expected}, e.g. "{key}": {example}.',
        )

    def text(self, item: _Item, key: str) -> str:
        value = item[1].get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip()
        self._wrong(_join(item[0], key), key, value, "text")
        return ""

    def ident(self, item: _Item, key: str) -> str:
        value = item[1].get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self._wrong(_join(item[0], key), key, value, "id")
        return ""

    def number_text(self, item: _Item, key: str) -> str:
        value = item[1].get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip()  # checked as a coordinate by servicemap.directory.locations
        if _is_number(value) and math.isfinite(value):
            return repr(float(value)) if isinstance(value, float) else str(value)
        self._wrong(_join(item[0], key), key, value, "number")
        return ""

    def flag(self, item: _Item, key: str) -> str:
        value = item[1].get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, bool):
            return "yes" if value else "no"
        self._wrong(_join(item[0], key), key, value, "flag")
        return ""

    def objects(self, item: _Item, key: str) -> list[_Item]:
        value = item[1].get(key)
        path = _join(item[0], key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._wrong(path, key, value, "objects")
            return []
        found: list[_Item] = []
        for i, entry in enumerate(value):
            if isinstance(entry, dict):
                found.append((f"{path}[{i}]", entry))
            else:
                self._wrong(f"{path}[{i}]", key, entry, "item")
        return found

    def object(self, item: _Item, key: str) -> _Item | None:
        value = item[1].get(key)
        if value is None:
            return None
        if isinstance(value, dict):
            return (_join(item[0], key), value)
        self._wrong(_join(item[0], key), key, value, "object")
        return None

    # --- lookups over the flat tables ------------------------------------------------------

    def _by_id(self, items: Iterable[_Item]) -> dict[str, _Item]:
        found: dict[str, _Item] = {}
        for item in items:
            ident = self.ident(item, "id")
            if ident:
                found.setdefault(ident, item)
        return found

    def _group(self, items: Iterable[_Item], key: str) -> dict[str, list[_Item]]:
        groups: dict[str, list[_Item]] = {}
        for item in items:
            value = self.ident(item, key)
            if value:
                groups.setdefault(value, []).append(item)
        return groups

    def _merged(self, nested: list[_Item], flat: list[_Item]) -> list[_Item]:
        """Nested records then flat ones, skipping a flat record whose id was already nested."""
        seen = {self.ident(item, "id") for item in nested} - {""}
        return nested + [item for item in flat if self.ident(item, "id") not in seen]

    # --- one service -------------------------------------------------------------------------

    def service_row(self, record: JSONObject, number: int) -> dict[str, str]:
        self.number = number
        service: _Item = ("", record)
        oruk_id = self.ident(service, "id")
        address, postcode, latitude, longitude = self._location_fields(service, oruk_id)
        by_taxonomy = self._taxonomy_values(service, oruk_id)
        raw_status = self.text(service, "status")
        if EXTENSION_PREFIX + "status" in record:
            status = self.text(service, EXTENSION_PREFIX + "status")
        else:
            status = STATUS_FROM_ORUK.get(raw_status.lower(), raw_status)
        areas = self._merged(self.objects(service, "service_areas"), self.areas.get(oruk_id, []))
        languages = self._merged(
            self.objects(service, "languages"), self.languages.get(oruk_id, [])
        )
        row = {
            "id": self.ident(service, EXTENSION_PREFIX + "id") or oruk_id,
            "name": self.text(service, "name"),
            "organisation": self._organisation_name(service),
            "website": self.text(service, "url"),
            "email": self.text(service, "email"),
            "phone": "; ".join(self._phone_numbers(service, oruk_id)),
            "address": address,
            "postcode": postcode,
            "latitude": latitude,
            "longitude": longitude,
            "areas_served": "; ".join(
                _unique(self._first(area, "name", "service_area") for area in areas)
            ),
            "languages": "; ".join(
                _unique(self._first(language, "name", "language", "code") for language in languages)
            ),
            "status": status,
            "last_seen": self.text(service, "assured_date"),
        }
        for field in TAXONOMY_FIELDS:
            row[field] = "; ".join(by_taxonomy.get(field, []))
        for field in EXTENSION_FIELDS:
            key = EXTENSION_PREFIX + field
            row[field] = (
                self.flag(service, key)
                if field == "location_confidential"
                else self.text(service, key)
            )
        return {field: row.get(field, "") for field in FIELDS}

    def _first(self, item: _Item, *keys: str) -> str:
        """Return the first of several fields that is given (each is checked for its type)."""
        values = [self.text(item, key) for key in keys]
        return next((value for value in values if value), "")

    def _organisation_name(self, service: _Item) -> str:
        nested = self.object(service, "organization")
        nested_name = self.text(nested, "name") if nested is not None else ""
        organization = self.organizations.get(self.ident(service, "organization_id"))
        return nested_name or (self.text(organization, "name") if organization else "")

    def _phone_numbers(self, service: _Item, oruk_id: str) -> list[str]:
        phones = self.objects(service, "phones") + self.phones_by_service.get(oruk_id, [])
        contacts = self._merged(self.objects(service, "contacts"), self.contacts.get(oruk_id, []))
        for contact in contacts:
            phones += self.objects(contact, "phones")
            phones += self.phones_by_contact.get(self.ident(contact, "id"), [])
        return _unique(self.text(phone, "number") for phone in phones)

    def _location_fields(self, service: _Item, oruk_id: str) -> tuple[str, str, str, str]:
        locations: list[_Item] = []
        links = self._merged(
            self.objects(service, "service_at_locations"), self.sal.get(oruk_id, [])
        )
        for link in links:
            nested = self.object(link, "location")
            if nested is not None:
                locations.append(nested)
                continue
            location_id = self.ident(link, "location_id")
            if location_id in self.locations:
                locations.append(self.locations[location_id])
            elif location_id:
                self._add(
                    "warning",
                    "missing-location",
                    _join(link[0], "location_id"),
                    location_id,
                    f"links to location {location_id!r}, which is not in 'locations'; the "
                    "service is read without that location.",
                    "add the location to 'locations', or remove the link.",
                )
        if not locations:
            return "", "", "", ""
        if len(locations) > 1:
            self._add(
                "warning",
                "several-locations",
                "service_at_locations",
                [path for path, _ in locations],
                f"the service has {len(locations)} locations; servicemap keeps one place per "
                "service and uses the first.",
                "split the service into one service per location to keep them all.",
            )
        location = locations[0]
        listed = self.objects(location, "addresses")
        older = self.objects(location, "physical_addresses")
        flat = self.addresses.get(self.ident(location, "id"), [])
        addresses = listed or older or flat or [location]
        physical = [a for a in addresses if self.text(a, "address_type").lower() == "physical"]
        address = (physical or addresses)[0]
        street = ", ".join(
            part
            for part in (
                self.text(address, "address_1"),
                self.text(address, "address_2"),
                self.text(address, "city"),
            )
            if part
        )
        postcode = self._first(address, "postal_code", "postcode")
        return (
            street,
            postcode,
            self.number_text(location, "latitude"),
            self.number_text(location, "longitude"),
        )

    def _taxonomy_values(self, service: _Item, oruk_id: str) -> dict[str, list[str]]:
        values: dict[str, list[str]] = {}
        attributes = self._merged(
            self.objects(service, "attributes"), self.attributes.get(oruk_id, [])
        )
        for attribute in attributes:
            nested = self.object(attribute, "taxonomy_term")
            term = nested or self.terms.get(self.ident(attribute, "taxonomy_term_id"))
            if term is None:
                continue
            field = self._taxonomy_field(term)
            value = self._first(term, "term", "name", "code")
            if field and value and value not in values.setdefault(field, []):
                values[field].append(value)
        return values

    def _taxonomy_field(self, term: _Item) -> str:
        names = [self.text(term, "taxonomy")]
        detail = self.object(term, "taxonomy_detail")
        if detail is not None:
            names.append(self.text(detail, "name"))
        taxonomy = self.taxonomies.get(self.ident(term, "taxonomy_id"))
        if taxonomy is not None:
            names.append(self.text(taxonomy, "name"))
        for name in names:
            field = name.removeprefix(TAXONOMY_PREFIX)
            if name.startswith(TAXONOMY_PREFIX) and field in TAXONOMY_FIELDS:
                return field
        return ""


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))
