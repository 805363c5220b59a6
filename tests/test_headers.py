"""The headers people write: every synonym reads as its field, and private columns fail closed."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from servicemap.directory.load import load_services
from servicemap.directory.read import read_services_table
from servicemap.directory.schema import (
    FIELD_BY_HEADER_KEY,
    FIELDS,
    HEADER_HINTS,
    HEADER_SYNONYMS,
    PRIVATE_HEADER,
    header_key,
    header_words,
)
from servicemap.directory.validate import validate_services
from servicemap.errors import DataQualityWarning, ServicesFileError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
# A valid service in canonical columns; tests swap one header for a synonym.
BASE = {
    "id": "alpha",
    "name": "Alpha Women's Centre",
    "scope": "local",
    "source_url": "https://example.org/alpha",
    "status": "active",
    "areas_served": "Camden",
}
# A value each field accepts, to see it arrive in the right column.
VALUES = {
    "organisation": "Alpha Trust",
    "website": "example.org",
    "phone": "020 7946 0000",
    "address": "1 Camden Road",
    "postcode": "N1 9GU",
    "latitude": "51.5349",
    "longitude": "-0.1217",
    "location_confidential": "no",
    "areas_served": "Camden",
    "service_types": "advocacy",
    "delivery": "both",
    "communities": "Latin American women",
    "languages": "Spanish",
    "by_and_for": "yes",
    "nrpf_support": "yes",
    "last_seen": "2025-01",
    "notes": "Drop-in on Tuesdays.",
}
SYNONYMS = [(field, header) for field, headers in HEADER_SYNONYMS.items() for header in headers]


def _write(tmp_path: Path, columns: dict[str, str]) -> Path:
    path = tmp_path / "directory.csv"
    cells = [f'"{v}"' if "," in v else v for v in columns.values()]
    path.write_text(",".join(columns) + "\n" + ",".join(cells) + "\n", encoding="utf-8")
    return path


def _read(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return read_services_table(path)


# --- the table itself ------------------------------------------------------------------------


def test_every_synonym_is_for_a_field_and_no_header_means_two_fields():
    assert set(HEADER_SYNONYMS) <= set(FIELDS)
    for field, header in SYNONYMS:
        assert FIELD_BY_HEADER_KEY[header_key(header)] == field, header
    for field in FIELDS:
        assert FIELD_BY_HEADER_KEY[header_key(field)] == field


def test_no_hint_shadows_a_synonym():
    assert not {header_key(h) for h in HEADER_HINTS} & set(FIELD_BY_HEADER_KEY)


def test_only_location_confidential_has_private_sounding_headers():
    for field, header in SYNONYMS:
        private = PRIVATE_HEADER.search(header_words(header)) is not None
        assert private == (field == "location_confidential"), header


def test_the_headers_of_the_issue_are_all_accepted():
    issue = {
        "Service name": "name",
        "Name of service": "name",
        "Organisation name": "organisation",
        "Post code": "postcode",
        "Postcode": "postcode",
        "Telephone": "phone",
        "Tel": "phone",
        "Phone number": "phone",
        "Website URL": "website",
        "Web address": "website",
        "Confidential": "location_confidential",
        "Confidential location?": "location_confidential",
        "Location confidential (Y/N)": "location_confidential",
        "Address confidential": "location_confidential",
        "Do not publish address": "location_confidential",
        "Type of service": "service_types",
        "Service type(s)": "service_types",
        "Areas covered": "areas_served",
        "Area served": "areas_served",
        "Coverage area": "areas_served",
        "Languages spoken": "languages",
        "Last checked": "last_seen",
        "Last verified": "last_seen",
        "Date checked": "last_seen",
        "Source": "source_url",
        "Source URL": "source_url",
        "Evidence": "source_url",
        "By and for?": "by_and_for",
        "NRPF?": "nrpf_support",
        "How delivered": "delivery",
        "Lat": "latitude",
        "Long": "longitude",
    }
    assert {h: FIELD_BY_HEADER_KEY.get(header_key(h)) for h in issue} == issue


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Confidential location?", "confidentiallocation"),
        ("LOCATION CONFIDENTIAL (Y/N)", "locationconfidential"),
        ("Location confidential y/n", "locationconfidential"),
        ("Confidential (yes/no)", "confidential"),
        ("  location_confidential ", "locationconfidential"),
        ("By & for", "byandfor"),
        ("Don’t publish address", "dontpublishaddress"),
        ("Service type(s)", "servicetypes"),
    ],
)
def test_header_key_ignores_case_spaces_punctuation_and_yes_no_marks(header, key):
    assert header_key(header) == key


def test_the_docs_list_every_synonym():
    text = DOCS.read_text(encoding="utf-8")
    for field in FIELDS:
        headers = ", ".join(f"`{h}`" for h in (field, *HEADER_SYNONYMS.get(field, ())))
        assert f"| `{field}` | {headers} |" in text, field


# --- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "header"), SYNONYMS, ids=[h for _, h in SYNONYMS])
def test_a_synonym_reads_as_its_field(tmp_path, field, header):
    columns = {k: v for k, v in BASE.items() if k != field}
    columns[header] = VALUES.get(field, BASE.get(field, ""))
    frame = _read(_write(tmp_path, columns))
    assert frame.loc[0, field] == columns[header]


def test_an_office_spreadsheet_validates_clean(tmp_path):
    path = _write(
        tmp_path,
        {
            "Service ID": "alpha",
            "Service name": "Alpha Women's Centre",
            "Organisation name": "Alpha Trust",
            "Scope": "local",
            "Area served": "Camden",
            "Type of service": "advocacy; immigration_advice",
            "Post code": "n1 9gu",
            "Tel": "020 7946 0000",
            "Web address": "example.org",
            "Location confidential (Y/N)": "N",
            "How delivered": "In person",
            "Languages spoken": "Spanish; Portuguese",
            "By and for?": "Yes",
            "NRPF?": "yes",
            "Service status": "Active",
            "Source URL": "https://example.org/alpha",
        },
    )
    assert [str(p) for p in validate_services(path)] == []
    services = load_services(path)
    assert services.loc[0, ["name", "organisation", "postcode", "delivery"]].tolist() == [
        "Alpha Women's Centre",
        "Alpha Trust",
        "n1 9gu",
        "in_person",
    ]
    assert not services.loc[0, "confidential"]


def test_a_required_field_missing_names_its_accepted_headers(tmp_path):
    path = _write(tmp_path, {k: v for k, v in BASE.items() if k != "name"})
    (problem,) = validate_services(path)
    assert problem.code == "missing-column"
    assert problem.fix == (
        "add a column named 'name' (or 'Service name', 'Name of service', 'Service title', "
        "'Project name'); see docs/schema.md."
    )


# --- unknown columns: say which field they may be, never "delete it" --------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Mobile phone", "phone"),
        ("Organisation website", "website"),
        ("Postcde", "postcode"),
        ("Servce name", "name"),
        ("Town", "address"),
        ("City", "address"),
        ("Emial", "email"),
        ("Easting", "latitude"),
        ("Police force", "areas_served"),
        ("URL", "website"),
        ("Description", "notes"),
    ],
)
def test_an_unknown_column_says_which_field_it_may_be(tmp_path, header, field):
    path = _write(tmp_path, {**BASE, header: "x"})
    (problem,) = validate_services(path)
    assert (problem.severity, problem.code, problem.column) == ("warning", "unknown-column", header)
    assert problem.message == f"is not a servicemap field; it is ignored. It may be {field!r}."
    assert "delete" not in problem.fix
    assert f"{field!r}" in problem.fix


@pytest.mark.parametrize("header", ["Email", "E-mail address", "Contact email"])
def test_an_email_column_is_the_email_field(tmp_path, header):
    path = _write(tmp_path, {**BASE, header: "info@example.org"})
    assert validate_services(path) == []
    assert _read(path).loc[0, "email"] == "info@example.org"


def test_an_email_that_is_not_one_address_is_a_warning(tmp_path):
    path = _write(tmp_path, {**BASE, "email": "info at example.org"})
    (problem,) = validate_services(path)
    assert (problem.severity, problem.code, problem.column) == ("warning", "bad-email", "email")


def test_a_column_like_no_field_is_not_advised_away(tmp_path):
    path = _write(tmp_path, {**BASE, "Colour": "blue"})
    (problem,) = validate_services(path)
    assert problem.message == "is not a servicemap field; it is ignored."
    assert problem.fix == (
        "if it holds one of the fields in docs/schema.md, rename it to that field; otherwise "
        "leave it (servicemap ignores it) or move what matters into 'notes'."
    )


# --- private columns fail closed ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Refuge address", "says 'refuge'"),
        ("Safe house?", "says 'safe house'"),
        ("Private notes", "says 'private'"),
        ("Secret", "says 'secret'"),
        ("Hidden?", "says 'hidden'"),
        ("Don't publish phone", "says 'dont publish'"),
        ("Not for publication", "says 'not for publication'"),
        ("Withheld (Y/N)", "says 'withheld'"),
        ("Shelter", "says 'shelter'"),
        ("Confidental", "says 'confidental', like 'confidential'"),
        ("Confidential notes", "says 'confidential'"),
    ],
)
def test_a_private_column_that_is_not_location_confidential_is_an_error(tmp_path, header, why):
    path = _write(tmp_path, {**BASE, header: "yes"})
    (problem,) = validate_services(path)
    assert (problem.severity, problem.code, problem.row, problem.column) == (
        "error",
        "private-column",
        1,
        header,
    )
    assert problem.message == (
        f"suggests private places (its header {why}) but is not the field "
        "'location_confidential', so servicemap cannot tell which services must stay private."
    )
    assert problem.fix.startswith("rename it 'location_confidential' and write yes")


def test_a_private_column_stops_every_command(tmp_path):
    path = _write(tmp_path, {**BASE, "Refuge address": "1 Secret St"})
    with pytest.raises(ServicesFileError, match=r"column 'Refuge address': suggests private"):
        load_services(path)


def test_refugee_in_a_header_is_not_private(tmp_path):
    path = _write(tmp_path, {**BASE, "Refugee status": "x"})
    (problem,) = validate_services(path)
    assert problem.code == "unknown-column"


def test_two_confidentiality_columns_are_a_duplicate(tmp_path):
    path = _write(
        tmp_path,
        {**BASE, "Confidential": "yes", "Do not publish address": "no"},
    )
    (problem,) = validate_services(path)
    assert (problem.code, problem.column, problem.value) == (
        "duplicate-column",
        "location_confidential",
        "Do not publish address",
    )
    assert problem.message == (
        "columns 'Confidential' and 'Do not publish address' are both the field "
        "'location_confidential'; servicemap would not know which to use."
    )


@pytest.mark.parametrize(
    "header",
    [
        "Confidential location?",
        "Location confidential (Y/N)",
        "Address confidential",
        "Do not publish address",
        "CONFIDENTIAL",
    ],
)
def test_a_yes_under_any_confidentiality_header_keeps_the_place_private(tmp_path, header):
    path = _write(
        tmp_path,
        {
            **BASE,
            "postcode": "N1 9GU",
            "address": "1 Secret St",
            header: "yes",
        },
    )
    services = load_services(path)
    assert services["confidential"].tolist() == [True]


def test_headers_are_matched_in_json_records_too(tmp_path):
    path = tmp_path / "records.json"
    path.write_text(
        '[{"ID": "alpha", "Service name": "Alpha", "Scope": "local", "Areas covered": "Camden",'
        ' "Source URL": "https://example.org/a", "Status": "active", "Confidential?": "yes"}]',
        encoding="utf-8",
    )
    frame = _read(path)
    assert frame.loc[0, ["id", "name", "location_confidential"]].tolist() == [
        "alpha",
        "Alpha",
        "yes",
    ]


def test_the_synonym_count_is_reported_in_the_docs():
    text = DOCS.read_text(encoding="utf-8")
    count = len(FIELD_BY_HEADER_KEY) - len(FIELDS)
    assert re.search(rf"\b{count} headers\b", text), count
