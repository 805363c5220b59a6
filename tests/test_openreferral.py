from __future__ import annotations

import json
import math
import re
import uuid

import pandas as pd
import pytest

from servicemap.directory.openreferral import (
    STATUS_FROM_ORUK,
    TABLES,
    read_oruk,
)
from servicemap.directory.openreferral_write import (
    _NAMESPACE,
    _uuid,
    oruk_from_services,
    write_oruk,
)
from servicemap.directory.schema import FIELDS, LIST_FIELDS, split_list
from servicemap.errors import DataQualityWarning, ServicesFileError

# Real postcodes with their ONS grid references converted to WGS84.
LEEDS = {"postcode": "LS1 1UR", "latitude": 53.80216112648228, "longitude": -1.548517027329611}
CARDIFF = {"postcode": "CF10 1EP", "latitude": 51.475763863482584, "longitude": -3.179208567026467}

ROWS = [
    {
        "id": "sm-0001",
        "name": "Southall Black Sisters — Advocacy",
        "organisation": "Southall Black Sisters",
        "website": "https://southallblacksisters.org.uk/",
        "phone": "+44 20 8571 9595",
        "address": "21 Avenue Road, Southall",
        "postcode": "UB1 3BL",
        "location_confidential": "no",
        "scope": "regional",
        "areas_served": "Metropolitan Police; Thames Valley",
        "service_types": "advocacy; immigration_advice; nrpf_support",
        "delivery": "both",
        "communities": "South Asian; Black and minoritised women",
        "languages": "Punjabi; Urdu; Hindi; Gujarati",
        "by_and_for": "yes",
        "nrpf_support": "yes",
        "status": "active",
        "last_seen": "2025-03-14",
        "source_url": "https://southallblacksisters.org.uk/services",
        "notes": "Drop-in Tuesdays; call first.",
        "easting": 512570.0,
        "northing": 180010.0,
        "force_code": "E23000001",
        "served_districts": ("E09000009",),
        "served_forces": ("E23000001",),
    },
    {
        "id": "sm-0002",
        "name": "Leeds Women's Aid IDVA service",
        "organisation": "Leeds Women's Aid",
        "website": "https://leedswomensaid.org.uk",
        "phone": "0113 246 0401",
        "address": "Leeds Town Hall, The Headrow, Leeds",
        **LEEDS,
        "location_confidential": "no",
        "scope": "local",
        "areas_served": "Leeds",
        "service_types": "idva",
        "delivery": "in_person",
        "communities": "",
        "languages": "English; Polish; العربية",
        "by_and_for": "no",
        "nrpf_support": "unknown",
        "status": "ended",
        "last_seen": "2024-11",
        "source_url": "https://leedswomensaid.org.uk/idva",
        "force_code": "E23000010",
        "served_districts": ("E08000035",),
        "served_forces": ("E23000010",),
    },
    {
        "id": "3f1c9a52-8e1b-4f33-9a51-3d2b6f7c0e11",
        "name": "Cymorth i Ferched Cymru helpline",
        "organisation": "Welsh Women's Aid",
        "website": "https://welshwomensaid.org.uk",
        "phone": "0808 80 10 800",
        "scope": "national",
        "areas_served": "Wales",
        "service_types": "helpline; counselling",
        "delivery": "remote",
        "languages": "Cymraeg; English",
        "by_and_for": "unknown",
        "nrpf_support": "no",
        "status": "unknown",
        "source_url": "https://welshwomensaid.org.uk/live-fear-free",
    },
    {
        "id": "sm-0004",
        "name": "Safe house for migrant women",
        "organisation": "Hidden Refuge Trust",
        "phone": "0300 000 0000",
        "address": "4 Secret Lane, Cardiff",
        **CARDIFF,
        "location_confidential": "yes",
        "scope": "local",
        "areas_served": "Cardiff; Vale of Glamorgan",
        "service_types": "refuge; outreach",
        "delivery": "in_person",
        "communities": "Latin American",
        "languages": "Spanish; Portuguese",
        "by_and_for": "yes",
        "nrpf_support": "yes",
        "status": "active",
        "last_seen": "2025-01-02",
        "source_url": "https://example.org/hidden",
        "notes": "Referral via outreach only",
        "force_code": "W15000003",
        "served_districts": ("W06000015", "W06000014"),
        "served_forces": ("W15000003",),
    },
    {
        "id": "sm-0005",
        "name": "Sahara refuge",
        "organisation": "",
        "postcode": "M60 1LA",
        "easting": 384279.0,
        "northing": 397963.0,
        "scope": "local",
        "areas_served": "Greater Manchester",
        "service_types": "refuge",
        "status": "",
        "source_url": "https://example.org/sahara",
        "force_code": "E23000005",
    },
]


@pytest.fixture
def services(canonical_services):
    return canonical_services(ROWS)


@pytest.fixture
def round_tripped(services, tmp_path):
    path = tmp_path / "services.json"
    write_oruk(services, path)
    return read_oruk(path)


def _expected(services):
    """What a round trip must give back: the public frame (confidential locations blank)."""
    from servicemap.directory.privacy import public_services

    return public_services(services).reset_index(drop=True)


def _same(field, expected, actual):
    if field in ("latitude", "longitude"):
        if isinstance(expected, float) and math.isnan(expected):
            return actual == ""
        return float(actual) == expected
    if field in LIST_FIELDS or field in ("communities", "service_types"):
        return split_list(expected) == split_list(actual)
    return actual == expected


@pytest.mark.parametrize("field", FIELDS)
def test_round_trip_keeps_every_field(field, services, round_tripped):
    expected = _expected(services)
    assert list(round_tripped.columns) == list(FIELDS)
    assert len(round_tripped) == len(expected)
    for n in range(len(expected)):
        assert _same(field, expected.loc[n, field], round_tripped.loc[n, field]), (
            field,
            n,
            expected.loc[n, field],
            round_tripped.loc[n, field],
        )


def test_round_trip_withholds_confidential_locations_but_keeps_the_services(round_tripped):
    by_id = round_tripped.set_index("id")
    for sid in ("sm-0004", "sm-0005"):
        assert by_id.loc[sid, ["address", "postcode", "latitude", "longitude"]].tolist() == [""] * 4
    assert by_id.loc["sm-0004", "areas_served"] == "Cardiff; Vale of Glamorgan"
    assert by_id.loc["sm-0004", "location_confidential"] == "yes"
    assert by_id.loc["sm-0002", "postcode"] == "LS1 1UR"


def test_round_trip_values_are_text(round_tripped):
    assert all(isinstance(v, str) for v in round_tripped.to_numpy().ravel())
    assert round_tripped.loc[1, "latitude"] == repr(LEEDS["latitude"])


def test_document_follows_the_uk_profile_shape(services):
    document = oruk_from_services(services)
    assert list(document) == list(TABLES)
    statuses = {"active", "inactive", "defunct", "temporarily closed"}
    services_by_id = {s["id"]: s for s in document["services"]}
    assert len(services_by_id) == len(ROWS)
    for service in document["services"]:
        assert {"id", "name", "status", "url"} <= set(service)
        assert service["status"] in statuses
        uuid.UUID(service["id"])
    # Every link points at a record that exists.
    locations = {loc["id"] for loc in document["locations"]}
    contacts = {c["id"] for c in document["contacts"]}
    terms = {t["id"] for t in document["taxonomy_terms"]}
    organizations = {o["id"] for o in document["organizations"]}
    for link in document["service_at_locations"]:
        assert link["service_id"] in services_by_id and link["location_id"] in locations
    for address in document["addresses"]:
        assert address["location_id"] in locations
        keys = {"address_1", "city", "state_province", "postal_code", "country", "address_type"}
        assert keys <= set(address)
    for table in ("service_areas", "languages", "contacts"):
        assert all(item["service_id"] in services_by_id for item in document[table])
    assert all(phone["contact_id"] in contacts for phone in document["phones"])
    for attribute in document["attributes"]:
        assert attribute["link_id"] in services_by_id
        assert attribute["taxonomy_term_id"] in terms
    for service in document["services"]:
        assert service.get("organization_id", next(iter(organizations))) in organizations
    every_id = [item["id"] for table in TABLES for item in document[table]]
    assert len(every_id) == len(set(every_id))


def test_document_maps_the_main_fields(services):
    document = oruk_from_services(services)
    first = document["services"][0]
    assert first["servicemap_id"] == "sm-0001"
    assert first["url"] == "https://southallblacksisters.org.uk/"
    assert first["assured_date"] == "2025-03-14"
    assert first["status"] == "active"
    assert [s["status"] for s in document["services"]] == [
        "active",
        "defunct",
        "inactive",
        "active",
        "inactive",
    ]
    # A UUID id is used as it is, with no extension field.
    assert document["services"][2]["id"] == ROWS[2]["id"]
    assert "servicemap_id" not in document["services"][2]
    areas = [a["name"] for a in document["service_areas"] if a["service_id"] == first["id"]]
    assert areas == ["Metropolitan Police", "Thames Valley"]
    leeds = document["services"][1]["id"]
    (link,) = [x for x in document["service_at_locations"] if x["service_id"] == leeds]
    (location,) = [x for x in document["locations"] if x["id"] == link["location_id"]]
    assert (location["latitude"], location["longitude"]) == (LEEDS["latitude"], LEEDS["longitude"])
    (address,) = [x for x in document["addresses"] if x["location_id"] == location["id"]]
    assert address["postal_code"] == "LS1 1UR"
    assert address["address_1"] == "Leeds Town Hall, The Headrow, Leeds"


def test_confidential_services_get_no_location_at_all(services):
    document = oruk_from_services(services)
    hidden = {
        s["id"] for s in document["services"] if s["name"] in (ROWS[3]["name"], ROWS[4]["name"])
    }
    assert len(hidden) == 2
    assert not [x for x in document["service_at_locations"] if x["service_id"] in hidden]
    text = json.dumps(document)
    assert "Secret Lane" not in text and "CF10" not in text and "M60" not in text


def test_writing_is_deterministic(services, tmp_path):
    write_oruk(services, tmp_path / "a.json")
    write_oruk(services, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_duplicate_ids_are_refused(canonical_services):
    frame = canonical_services([{**ROWS[2], "id": "x"}, {**ROWS[2], "id": "x"}])
    with pytest.raises(ValueError, match=r"duplicate id\(s\) 'x'"):
        oruk_from_services(frame)


# --- reading documents written by others -----------------------------------------------------

NESTED_SERVICE = {
    "id": "ac148810-d857-441c-9679-408f346de14b",
    "name": "Community Counselling",
    "description": "Counselling Services provided by trained professionals.",
    "url": "http://example.com/counselling",
    "email": "email@example.com",
    "status": "temporarily closed",
    "assured_date": "2005-01-01",
    "service_areas": [
        {"id": "381c64f1-a724-4884-9c21-ac96c21cca3e", "name": "Bradford"},
        {"id": "381c64f1-a724-4884-9c21-ac96c21cca3f", "service_area": "Kirklees"},
    ],
    "service_at_locations": [
        {
            "id": "e94c9f38-1e8f-4564-91d4-d53501ab1765",
            "location": {
                "id": "3a19ff88-4620-4d17-9830-ac1d859eb5d5",
                "name": "MyCity Civic Center",
                "latitude": 53.79,
                "longitude": -1.75,
                "addresses": [
                    {
                        "id": "a1",
                        "address_1": "PO Box 12",
                        "city": "Bradford",
                        "postal_code": "BD1 1AA",
                        "address_type": "postal",
                    },
                    {
                        "id": "a2",
                        "address_1": "1-30 Main Street",
                        "city": "Bradford",
                        "postal_code": "BD1 1HY",
                        "country": "GB",
                        "address_type": "physical",
                    },
                ],
            },
        }
    ],
    "languages": [{"id": "l1", "name": "Urdu", "code": "ur"}, {"id": "l2", "code": "pl"}],
    "organization": {"id": "d9d5", "name": "Example Organization Inc.", "description": "x"},
    "contacts": [
        {
            "id": "1e7efce3",
            "name": "Ann Persona",
            "phones": [{"id": "p1", "number": "+44 1234 234567"}],
        }
    ],
    "attributes": [
        {
            "id": "at1",
            "link_type": "service_type",
            "taxonomy_term": {"id": "t1", "taxonomy": "esdServiceTypes", "term": "Counselling"},
        },
        {
            "id": "at2",
            "taxonomy_term": {
                "id": "t2",
                "taxonomy": "servicemap:service_types",
                "term": "counselling",
            },
        },
    ],
}


def _write(tmp_path, document, name="oruk.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _expected_nested_row():
    return {
        "id": "ac148810-d857-441c-9679-408f346de14b",
        "name": "Community Counselling",
        "organisation": "Example Organization Inc.",
        "website": "http://example.com/counselling",
        "email": "email@example.com",
        "phone": "+44 1234 234567",
        "address": "1-30 Main Street, Bradford",
        "postcode": "BD1 1HY",
        "latitude": "53.79",
        "longitude": "-1.75",
        "areas_served": "Bradford; Kirklees",
        "service_types": "counselling",
        "languages": "Urdu; pl",
        "status": "unknown",
        "last_seen": "2005-01-01",
    }


@pytest.mark.parametrize(
    "document",
    [
        {"services": [NESTED_SERVICE]},
        {"total_items": 1, "page": 1, "contents": [NESTED_SERVICE]},
        [NESTED_SERVICE],
        NESTED_SERVICE,
    ],
    ids=["services", "api-page", "list", "single"],
)
def test_read_nested_service(tmp_path, document):
    table = read_oruk(_write(tmp_path, document))
    assert len(table) == 1
    expected = {field: "" for field in FIELDS} | _expected_nested_row()
    assert table.iloc[0].to_dict() == expected


FLAT_DOCUMENT = {
    "organizations": [{"id": "o1", "name": "Bradford Women's Aid", "description": ""}],
    "services": [
        {
            "id": "s1",
            "organization_id": "o1",
            "name": "NRPF casework",
            "url": "",
            "status": "active",
        },
        {"id": "s2", "organization_id": "o1", "name": "Helpline", "status": "defunct"},
    ],
    "locations": [
        {"id": "loc1", "name": "Office", "latitude": "53.7960", "longitude": "-1.7594"},
    ],
    "addresses": [
        {"id": "ad1", "location_id": "loc1", "address_1": "2 Hall Ings", "postal_code": "BD1 5SE"}
    ],
    "service_at_locations": [{"id": "sal1", "service_id": "s1", "location_id": "loc1"}],
    "service_areas": [
        {"id": "sa1", "service_id": "s1", "name": "West Yorkshire Police"},
        {"id": "sa2", "service_id": "s2", "name": "England and Wales"},
    ],
    "languages": [{"id": "la1", "service_id": "s1", "name": "Bengali"}],
    "contacts": [{"id": "c1", "service_id": "s2"}],
    "phones": [
        {"id": "ph1", "contact_id": "c1", "number": "01274 000000"},
        {"id": "ph2", "contact_id": "c1", "number": "01274 000001"},
    ],
    "taxonomies": [{"id": "tx1", "name": "servicemap:scope", "description": ""}],
    "taxonomy_terms": [
        {"id": "tm1", "taxonomy_id": "tx1", "term": "local"},
        {"id": "tm2", "taxonomy": "servicemap:nrpf_support", "term": "yes"},
        {"id": "tm3", "taxonomy": "servicemap:service_types", "term": "casework"},
        {"id": "tm4", "taxonomy": "servicemap:service_types", "term": "nrpf_support"},
        {"id": "tm5", "taxonomy": "servicemap:service_types", "term": "helpline"},
    ],
    "attributes": [
        {"id": "at1", "link_id": "s1", "taxonomy_term_id": "tm1"},
        {"id": "at2", "link_id": "s1", "taxonomy_term_id": "tm2"},
        {"id": "at3", "link_id": "s1", "taxonomy_term_id": "tm3"},
        {"id": "at4", "link_id": "s1", "taxonomy_term_id": "tm4"},
        {"id": "at5", "link_id": "s2", "taxonomy_term_id": "tm5"},
        {"id": "at6", "link_id": "loc1", "link_entity": "location", "taxonomy_term_id": "tm5"},
    ],
}


def test_read_flat_tables(tmp_path):
    table = read_oruk(_write(tmp_path, FLAT_DOCUMENT)).set_index("id")
    assert table.loc["s1"].to_dict() | {} == {field: "" for field in FIELDS if field != "id"} | {
        "name": "NRPF casework",
        "organisation": "Bradford Women's Aid",
        "address": "2 Hall Ings",
        "postcode": "BD1 5SE",
        "latitude": "53.7960",
        "longitude": "-1.7594",
        "scope": "local",
        "areas_served": "West Yorkshire Police",
        "service_types": "casework; nrpf_support",
        "languages": "Bengali",
        "nrpf_support": "yes",
        "status": "active",
    }
    assert table.loc["s2", "phone"] == "01274 000000; 01274 000001"
    assert table.loc["s2", "service_types"] == "helpline"
    assert table.loc["s2", "status"] == "ended"
    assert table.loc["s2", "address"] == ""


@pytest.mark.parametrize(("oruk", "ours"), sorted(STATUS_FROM_ORUK.items()))
def test_status_mapping_on_read(tmp_path, oruk, ours):
    service = {"id": "s", "name": "n", "status": oruk}
    assert read_oruk(_write(tmp_path, {"services": [service]})).loc[0, "status"] == ours


def test_older_physical_addresses_are_read(tmp_path):
    location = {
        "id": "l",
        "physical_addresses": [{"address_1": "5 Low St", "city": "Hull", "postal_code": "HU1 1AA"}],
    }
    service = {
        "id": "s",
        "name": "n",
        "status": "active",
        "service_at_locations": [{"location": location}],
    }
    table = read_oruk(_write(tmp_path, {"services": [service]}))
    assert table.loc[0, ["address", "postcode"]].tolist() == ["5 Low St, Hull", "HU1 1AA"]


def test_several_locations_warn_and_keep_the_first(tmp_path):
    links = [
        {"id": "a", "location": {"id": "l1", "latitude": 51.5, "longitude": -0.1}},
        {"id": "b", "location": {"id": "l2", "latitude": 52.5, "longitude": -1.9}},
    ]
    service = {"id": "s9", "name": "n", "status": "active", "service_at_locations": links}
    path = _write(tmp_path, {"services": [service]})
    with pytest.warns(
        DataQualityWarning, match=r"service 1, 'service_at_locations': the service has 2 locations"
    ):
        table = read_oruk(path)
    assert table.loc[0, ["latitude", "longitude"]].tolist() == ["51.5", "-0.1"]


def test_missing_location_warns(tmp_path):
    document = {
        "services": [{"id": "s1", "name": "n", "status": "active"}],
        "service_at_locations": [{"id": "x", "service_id": "s1", "location_id": "nowhere"}],
    }
    with pytest.warns(DataQualityWarning, match=r"links to location 'nowhere', which is not in"):
        table = read_oruk(_write(tmp_path, document))
    assert table.loc[0, "postcode"] == ""


def test_empty_services_give_an_empty_table(tmp_path):
    table = read_oruk(_write(tmp_path, {"services": []}))
    assert table.empty and list(table.columns) == list(FIELDS)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "{not json",
            r"'{path}' is not valid JSON \(Expecting property name enclosed in double "
            r"quotes at line 1, column 2\); expected an Open Referral UK document\.",
        ),
        (
            json.dumps({"type": "FeatureCollection", "features": []}),
            r"'{path}' is not an Open Referral UK document: expected a JSON object with a "
            r"'services' array .*; found keys: features, type\.",
        ),
        (
            json.dumps("hello"),
            r"'{path}' is not an Open Referral UK document: .*found a JSON str\.",
        ),
        (json.dumps([1, 2]), r"found a JSON list whose items are not services"),
        (
            json.dumps({"services": {"id": 1}}),
            r"'services' must be a JSON array of objects, not a dict\.",
        ),
        (
            json.dumps({"services": [], "locations": [3]}),
            r"item 1 of 'locations' is '3', not a JSON object\.",
        ),
        (
            json.dumps({"services": [{"name": "no id"}]}),
            r"service 1 has no 'id'; every Open Referral service needs a unique id\.",
        ),
    ],
    ids=["not-json", "geojson", "string", "list-of-numbers", "services-object", "bad-row", "no-id"],
)
def test_bad_documents_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "directory.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ServicesFileError, match=message.replace("{path}", re.escape(str(path)))):
        read_oruk(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(ServicesFileError, match=r"'.*nope\.json' does not exist"):
        read_oruk(tmp_path / "nope.json")


def test_read_returns_a_plain_frame(tmp_path):
    assert type(read_oruk(_write(tmp_path, FLAT_DOCUMENT))) is pd.DataFrame


def test_the_bundled_directory_round_trips_through_load_services(tmp_path):
    from servicemap.directory.load import load_services
    from servicemap.directory.privacy import public_services

    original = public_services(load_services(warn=False)).reset_index(drop=True)
    write_oruk(original, tmp_path / "bundled.json")
    again = load_services(tmp_path / "bundled.json", warn=False).reset_index(drop=True)
    assert len(again) == len(original) > 50
    for field in FIELDS:
        for n in range(len(original)):
            expected, actual = original.loc[n, field], again.loc[n, field]
            if field in ("latitude", "longitude"):
                assert (math.isnan(expected) and math.isnan(actual)) or expected == actual
            elif field in LIST_FIELDS:
                assert split_list(expected) == split_list(actual), (field, n)
            else:
                assert expected == actual, (field, n)
    for column in ("force_code", "served_districts", "served_forces", "confidential"):
        assert list(again[column]) == list(original[column]), column


# --- every field read is checked for its JSON type (issue 9: reject, never drop) ------------

FULL_SERVICE = {
    "id": "s1",
    "name": "Alpha",
    "url": "https://example.org/alpha",
    "status": "active",
    "assured_date": "2024-05",
    "organization_id": "o1",
    "servicemap_id": "alpha",
    "servicemap_status": "active",
    "servicemap_source_url": "https://example.org/alpha",
    "servicemap_notes": "Call first.",
    "servicemap_location_confidential": "no",
    "organization": {"id": "o1", "name": "Alpha Trust"},
    "phones": [{"id": "p0", "number": "020 7946 0001"}],
    "contacts": [{"id": "c1", "phones": [{"id": "p1", "number": "020 7946 0000"}]}],
    "service_areas": [{"id": "a1", "name": "Camden", "service_area": "Camden"}],
    "languages": [{"id": "g1", "name": "Polish"}],
    "service_at_locations": [
        {
            "id": "sl1",
            "location": {
                "id": "l1",
                "latitude": 51.5,
                "longitude": -0.1,
                "addresses": [
                    {
                        "id": "ad1",
                        "address_1": "1 High St",
                        "address_2": "",
                        "city": "London",
                        "postal_code": "N1 9GU",
                        "address_type": "physical",
                    }
                ],
            },
        }
    ],
    "attributes": [
        {
            "id": "t1",
            "taxonomy_term": {
                "id": "tt1",
                "taxonomy": "servicemap:scope",
                "term": "local",
                "taxonomy_detail": {"name": "servicemap:scope"},
            },
        }
    ],
}


def _set(document, path, value):
    """Return a copy of ``document`` with the value at ``path`` (a.b[0].c) replaced."""
    import copy

    document = copy.deepcopy(document)
    parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
    target = document
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    target[int(last) if last.isdigit() else last] = value
    return document


def test_the_full_service_reads_without_problems(tmp_path):
    table = read_oruk(_write(tmp_path, {"services": [FULL_SERVICE]}))
    row = table.iloc[0]
    assert (row["name"], row["organisation"], row["postcode"]) == ("Alpha", "Alpha Trust", "N1 9GU")
    assert row["phone"] == "020 7946 0001; 020 7946 0000"
    assert (row["latitude"], row["scope"], row["notes"]) == ("51.5", "local", "Call first.")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("id", {"a": 1}, "an id"),
        ("name", {"en": "Alpha"}, "text (a JSON string)"),
        ("name", 42, "text (a JSON string)"),
        ("url", ["https://example.org"], "text"),
        ("status", True, "text"),
        ("assured_date", 2024, "text"),
        ("organization_id", 1.5, "an id"),
        ("servicemap_id", ["alpha"], "an id"),
        ("servicemap_status", {"x": 1}, "text"),
        ("servicemap_source_url", 7, "text"),
        ("servicemap_notes", ["a", "b"], "text"),
        ("servicemap_location_confidential", 1, "text or true/false"),
        ("organization", "Alpha Trust", "an object"),
        ("organization.name", {"en": "Alpha Trust"}, "text"),
        ("phones", "020 7946 0001", "an array of objects"),
        ("phones[0].number", 2079460001, "text"),
        ("contacts", {"phones": []}, "an array of objects"),
        ("contacts[0].phones", "020 7946 0000", "an array of objects"),
        ("contacts[0].phones[0]", "020 7946 0000", "an object"),
        ("service_areas", "Camden", "an array of objects"),
        ("service_areas[0]", "Camden", "an object"),
        ("service_areas[0].name", ["Camden"], "text"),
        ("languages", "Polish", "an array of objects"),
        ("languages[0].name", {"code": "pl"}, "text"),
        ("service_at_locations", "N1 9GU", "an array of objects"),
        ("service_at_locations[0].location", "N1 9GU", "an object"),
        ("service_at_locations[0].location.latitude", True, "a number"),
        ("service_at_locations[0].location.longitude", [-0.1], "a number"),
        ("service_at_locations[0].location.latitude", float("nan"), "a number"),
        ("service_at_locations[0].location.addresses", "1 High St", "an array of objects"),
        ("service_at_locations[0].location.addresses[0].address_1", ["1", "High St"], "text"),
        ("service_at_locations[0].location.addresses[0].city", {"en": "London"}, "text"),
        ("service_at_locations[0].location.addresses[0].postal_code", 19, "text"),
        ("service_at_locations[0].location.addresses[0].address_type", ["physical"], "text"),
        ("attributes", "refuge", "an array of objects"),
        ("attributes[0].taxonomy_term", "local", "an object"),
        ("attributes[0].taxonomy_term.term", {"en": "local"}, "text"),
        ("attributes[0].taxonomy_term.taxonomy", 3, "text"),
        ("attributes[0].taxonomy_term.taxonomy_detail", "servicemap:scope", "an object"),
    ],
)
def test_a_field_of_the_wrong_json_type_is_an_error_naming_service_field_and_type(
    tmp_path, path, value, expected
):
    from servicemap.directory.openreferral import services_from_oruk

    document = {"services": [_set(FULL_SERVICE, path, value)]}
    _, problems = services_from_oruk(document, source="dir.json")
    assert [(p.severity, p.service, p.field) for p in problems] == [("error", 1, path)]
    assert f"Open Referral UK expects {expected}" in problems[0].message or (
        problems[0].code == "not-a-number"
    )
    with pytest.raises(ServicesFileError, match=re.escape(f"service 1, {path!r}: is ")):
        read_oruk(_write(tmp_path, document))


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("service_areas", "service_id"),
        ("locations", "id"),
        ("phones", "contact_id"),
        ("attributes", "link_id"),
        ("taxonomy_terms", "id"),
    ],
)
def test_a_link_of_the_wrong_json_type_in_a_flat_table_is_an_error(table, key):
    from servicemap.directory.openreferral import services_from_oruk

    document = {"services": [{"id": "s1", "name": "A"}], table: [{key: {"id": "s1"}}]}
    _, problems = services_from_oruk(document, source="dir.json")
    assert [(p.service, p.field, p.code) for p in problems] == [
        (None, f"$.{table}[0].{key}", "bad-type")
    ]


def test_a_true_location_confidential_means_yes(tmp_path):
    service = {**FULL_SERVICE, "servicemap_location_confidential": True}
    assert read_oruk(_write(tmp_path, {"services": [service]})).loc[0, "location_confidential"] == (
        "yes"
    )


def test_a_whole_number_id_is_read_as_text(tmp_path):
    service = {**FULL_SERVICE, "id": 17}
    del service["servicemap_id"]
    assert read_oruk(_write(tmp_path, {"services": [service]})).loc[0, "id"] == "17"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 3000 + "]" * 3000, "nests lists and objects 3,000 levels deep"),
        ('{"services": [], "services": []}', "has the key 'services' twice in one object"),
    ],
)
def test_json_that_would_break_the_reader_is_refused(tmp_path, content, message):
    path = tmp_path / "directory.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ServicesFileError, match=re.escape(message)):
        read_oruk(path)


@pytest.mark.parametrize(
    "parts",
    [("service", "sm-0001"), ("term", "languages", "Punjabi"), ("organization", "Café Ünïcode")],
)
def test_ids_are_the_uuid5_of_their_parts(parts):
    """The direct SHA-1 formatting gives exactly uuid.uuid5's ids."""
    assert _uuid(*parts) == str(uuid.uuid5(_NAMESPACE, "/".join(parts)))
