"""``near`` takes what people type: unquoted postcodes, postcode districts and sectors.

A small world checks the rules exactly; the real ONS postcode directory checks the output.

* F1 = districts D1a, D1b; F2 = D2a; F3 = D3a; S1 is in Scotland.
* Postcode district AA1 spans D1a (sector AA1 1) and D1b (sector AA1 2), both in F1; BB1 spans
  D2a and D3a (two forces); CC1 is partly in Scotland; DD1 has no grid reference; ZZ1 is all in
  Scotland; A1 and A11 are different districts with a shared prefix.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap.analysis.near import describe_near_place, services_near
from servicemap.cli import cli
from servicemap.errors import GeocodeError
from servicemap.geography.postcodes import PostcodeTable
from servicemap.render.text import format_near
from worlds import Factory, postcode_table, service

POSTCODES = [
    ("AA11AA", 1000, 0, "D1a"),
    ("AA11AB", 3000, 0, "D1a"),
    ("AA12AA", 16000, 0, "D1b"),
    ("AA12AB", 18000, 0, "D1b"),
    ("BB11AA", 25000, 0, "D2a"),
    ("BB12AA", 45000, 0, "D3a"),
    ("CC11AA", 60000, 0, "D3a"),
    ("CC12AA", 60000, 400000, "S1"),
    ("DD11AA", -1, -1, "D3a"),
    ("ZZ11AA", 0, 500000, "S1"),
    ("A11AA", 5000, 0, "D1a"),
    ("A111AA", 17000, 0, "D1b"),
]
SERVICES = [
    service(
        id="s1",
        name="Advocacy D1a",
        scope="local",
        service_types="advocacy",
        delivery="in_person",
        address="1 High St",
        postcode="AA1 1AA",
        easting=2000.0,
        northing=0.0,
        force_code="F1",
        served_districts=("D1a",),
        served_forces=("F1",),
    ),
    service(
        id="s2",
        name="Advocacy D1b",
        scope="local",
        service_types="advocacy",
        delivery="in_person",
        address="2 High St",
        postcode="AA1 2AA",
        easting=17000.0,
        northing=0.0,
        force_code="F1",
        served_districts=("D1b",),
        served_forces=("F1",),
    ),
    service(
        id="s3",
        name="Hidden Refuge",
        scope="local",
        service_types="refuge",
        delivery="in_person",
        address="7 Secret Road",
        postcode="AA1 1AB",
        easting=3000.0,
        northing=0.0,
        force_code="F1",
        served_districts=("D1a",),
        served_forces=("F1",),
    ),
    service(
        id="s4",
        name="Legal F3",
        scope="local",
        service_types="immigration_advice",
        delivery="in_person",
        address="4 Court Lane",
        easting=46000.0,
        northing=0.0,
        force_code="F3",
        served_districts=("D3a",),
        served_forces=("F3",),
    ),
]


@pytest.fixture
def postcodes() -> PostcodeTable:
    return postcode_table(
        POSTCODES,
        districts=["D1a", "D1b", "D2a", "D3a", "S1"],
        district_force=[0, 0, 1, 2, -1],
        forces=["F1", "F2", "F3"],
    )


@pytest.fixture
def world(canonical_services: Factory) -> pd.DataFrame:
    return canonical_services(SERVICES)


def _served(near: pd.DataFrame) -> list[str]:
    return sorted(near.loc[near["relation"] == "serves this area", "name"])


# --- postcode districts and sectors --------------------------------------------------------


def test_a_district_lists_the_services_of_every_district_it_spans(
    world: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    near = services_near("AA1", world, radius_km=5, postcodes=postcodes)
    assert _served(near) == ["Advocacy D1a", "Advocacy D1b", "Hidden Refuge"]
    assert near.attrs["place"] == "AA1"
    assert near.attrs["place_kind"] == "postcode district"
    assert near.attrs["districts"] == ["D1a", "D1b"]
    assert near.attrs["forces"] == ["F1"]


def test_distances_are_from_the_mean_of_the_located_postcodes(
    world: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    # AA1's postcodes are at x = 1, 3, 16 and 18 km: the centre is x = 9.5 km
    near = services_near("AA1", world, radius_km=50, postcodes=postcodes)
    km = dict(zip(near["name"], near["distance_km"], strict=True))
    assert km["Advocacy D1a"] == 7.5 and km["Advocacy D1b"] == 7.5
    assert km["Legal F3"] == 36.5


def test_a_sector_is_narrower_than_its_district(
    world: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    near = services_near("AA1 1", world, radius_km=50, postcodes=postcodes)
    assert _served(near) == ["Advocacy D1a", "Hidden Refuge"]
    assert near.attrs["place_kind"] == "postcode sector"
    assert near.attrs["place"] == "AA1 1"
    km = dict(zip(near["name"], near["distance_km"], strict=True))
    assert km["Advocacy D1a"] == 0.0  # the sector's centre is x = 2 km
    assert near.loc[near["name"] == "Advocacy D1b", "relation"].item() == "nearby"


def test_a_confidential_service_has_no_place_or_distance_for_a_district(
    world: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    near = services_near("AA1", world, radius_km=50, postcodes=postcodes)
    refuge = near.loc[near["name"] == "Hidden Refuge"].iloc[0]
    assert refuge["relation"] == "serves this area"
    assert np.isnan(refuge["distance_km"])
    assert refuge["address"] == "" and refuge["postcode"] == ""
    for fmt in ("table", "csv", "json"):
        text = format_near(near, fmt)
        assert "Secret Road" not in text and "AA1 1AB" not in text and "AA11AB" not in text


@pytest.mark.parametrize(
    ("typed", "kind", "label"),
    [
        ("aa1", "postcode district", "AA1"),
        ("  Aa1 ", "postcode district", "AA1"),
        ("aa1 1", "postcode sector", "AA1 1"),
        ("AA1   1", "postcode sector", "AA1 1"),
        ("AA11", "postcode sector", "AA1 1"),  # no district AA11: the sector without its space
        ("aa1\u00a02", "postcode sector", "AA1 2"),  # a non-breaking space, pasted from a page
        ("aa11aa", "postcode", "AA1 1AA"),
        ("AA1 1AA", "postcode", "AA1 1AA"),
    ],
)
def test_any_case_and_spacing(
    world: pd.DataFrame, postcodes: PostcodeTable, typed: str, kind: str, label: str
) -> None:
    near = services_near(typed, world, postcodes=postcodes)
    assert (near.attrs["place_kind"], near.attrs["place"]) == (kind, label)


@pytest.mark.parametrize(
    ("typed", "districts"), [("A1", ["D1a"]), ("A11", ["D1b"]), ("A1 1", ["D1a"])]
)
def test_a_district_is_not_confused_with_a_longer_one(
    world: pd.DataFrame, postcodes: PostcodeTable, typed: str, districts: list[str]
) -> None:
    assert services_near(typed, world, postcodes=postcodes).attrs["districts"] == districts


def test_a_district_in_two_forces_says_so(world: pd.DataFrame, postcodes: PostcodeTable) -> None:
    near = services_near("BB1", world, radius_km=5, postcodes=postcodes)
    assert near.attrs["forces"] == ["F2", "F3"]
    assert _served(near) == ["Legal F3"]
    assert describe_near_place(near) == (
        "BB1 is a postcode district; distances are from its centre, in D2a. It spans 2 local "
        "authority districts in 2 police force areas: services serving any of them are listed."
    )
    assert format_near(near, "table").splitlines()[0] == (
        "BB1 (D2a, D3a; F2, F3): services serving this area, and in-person services within 5 km."
    )


def test_a_district_partly_outside_england_and_wales_says_so(
    world: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    near = services_near("CC1", world, radius_km=5, postcodes=postcodes)
    assert near.attrs["districts"] == ["D3a"]
    assert describe_near_place(near) == (
        "CC1 is a postcode district; distances are from its centre, in D3a. Part of it is "
        "outside England and Wales, which servicemap does not cover."
    )


def test_a_full_postcode_needs_no_note(world: pd.DataFrame, postcodes: PostcodeTable) -> None:
    near = services_near("AA1 1AA", world, postcodes=postcodes)
    assert describe_near_place(near) == ""
    assert format_near(near, "table").splitlines()[0] == (
        "AA1 1AA (D1a, F1): services serving this area, and in-person services within 25 km."
    )


FORMS = "give a postcode like 'UB1 3BL', a postcode district like 'UB1' or a sector like 'UB1 3'"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("XX", f"'XX' is not a UK postcode, postcode district or postcode sector; {FORMS}."),
        (
            "AA1 1A",
            f"'AA1 1A' is not a UK postcode, postcode district or postcode sector; {FORMS}.",
        ),
        (
            "AA1 12",
            f"'AA1 12' is not a UK postcode, postcode district or postcode sector; {FORMS}.",
        ),
        ("", f"'' is not a UK postcode, postcode district or postcode sector; {FORMS}."),
        (
            "XX9",
            "Postcode district 'XX9' is not in the ONS postcode directory; check it for typos, "
            f"or {FORMS}.",
        ),
        (
            "AA1 9",
            "Postcode sector 'AA1 9' is not in the ONS postcode directory; check it for typos, "
            f"or {FORMS}.",
        ),
        (
            "DD1",
            "Postcode district 'DD1' has no postcode with a grid reference in the ONS postcode "
            "directory; give a full postcode.",
        ),
        (
            "zz1",
            "Postcode district 'ZZ1' is outside England and Wales; servicemap covers the 43 "
            "police force areas of England and Wales.",
        ),
    ],
)
def test_unknown_or_malformed_places_say_what_is_accepted(
    world: pd.DataFrame, postcodes: PostcodeTable, typed: str, message: str
) -> None:
    with pytest.raises(GeocodeError) as caught:
        services_near(typed, world, postcodes=postcodes)
    assert str(caught.value) == message


# --- the command line, on the real ONS postcode directory ----------------------------------


def _near(*args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(cli, ["-q", "near", *args])
    return result.exit_code, result.stdout.splitlines(), result.stderr


@pytest.mark.parametrize("typed", [["UB1", "3BL"], ["ub13bl"], ["  ub1   3bl "], ["Ub1", "3bL"]])
def test_cli_near_a_postcode_without_quotes_is_the_same_as_with(typed: list[str]) -> None:
    code, lines, _ = _near("UB1 3BL")
    assert code == 0
    assert _near(*typed) == (0, lines, "")
    assert lines[0] == (
        "UB1 3BL (Ealing, Metropolitan Police): services serving this area, and in-person "
        "services within 25 km."
    )


@pytest.mark.parametrize("typed", [["ST4"], ["st4"], [" st4 "]])
def test_cli_near_a_postcode_district(typed: list[str]) -> None:
    code, lines, stderr = _near(*typed)
    assert code == 0 and stderr == ""
    assert lines[:2] == [
        "ST4 (Stoke-on-Trent, Newcastle-under-Lyme, Stafford; Staffordshire): services serving "
        "this area, and in-person services within 25 km.",
        "ST4 is a postcode district; distances are from its centre, in Stoke-on-Trent. It spans "
        "3 local authority districts: services serving any of them are listed.",
    ]
    assert lines[2].split() == [
        "relation", "name", "scope", "distance_km", "phone", "website", "last_seen"
    ]  # fmt: skip


@pytest.mark.parametrize("typed", [["ST4", "1"], ["st4 1"], ["ST41"]])
def test_cli_near_a_postcode_sector(typed: list[str]) -> None:
    code, lines, _ = _near(*typed)
    assert code == 0
    assert lines[:2] == [
        "ST4 1 (Stoke-on-Trent, Staffordshire): services serving this area, and in-person "
        "services within 25 km.",
        "ST4 1 is a postcode sector; distances are from its centre, in Stoke-on-Trent.",
    ]


def test_cli_near_a_district_in_two_forces() -> None:
    code, lines, _ = _near("CH1")
    assert code == 0
    assert lines[1] == (
        "CH1 is a postcode district; distances are from its centre, in Cheshire West and "
        "Chester. It spans 2 local authority districts in 2 police force areas: services "
        "serving any of them are listed."
    )


def test_cli_near_a_district_as_json_says_where_on_stderr() -> None:
    code, lines, stderr = _near("ST4", "--format", "json")
    assert code == 0
    records = json.loads("\n".join(lines))
    assert records and all("relation" in r for r in records)
    assert stderr.startswith("ST4 is a postcode district; distances are from its centre")


def test_cli_near_a_district_never_places_a_confidential_service() -> None:
    from servicemap.directory.load import load_services

    services = load_services(warn=False)
    hidden = services.loc[services["confidential"]]
    code, lines, _ = _near("UB1", "--format", "json")
    assert code == 0
    records = [r for r in json.loads("\n".join(lines)) if r["name"] in set(hidden["name"])]
    assert records  # UB1 is served by confidential services in the bundled directory
    for record in records:
        assert record["distance_km"] is None
        assert record["address"] == "" and record["postcode"] == ""
    text = "\n".join(lines).upper().replace(" ", "")
    for postcode in hidden["postcode"]:
        assert not postcode or postcode.upper().replace(" ", "") not in text


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        (
            ["XX1"],
            "Error: Postcode district 'XX1' is not in the ONS postcode directory; check it for "
            f"typos, or {FORMS}.",
        ),
        (
            ["UB1", "3B"],
            f"Error: 'UB1 3B' is not a UK postcode, postcode district or postcode sector; {FORMS}.",
        ),
        (
            ["EH1"],
            "Error: Postcode district 'EH1' is outside England and Wales; servicemap covers the "
            "43 police force areas of England and Wales.",
        ),
    ],
)
def test_cli_near_bad_places(typed: list[str], error: str) -> None:
    code, lines, stderr = _near(*typed)
    assert code == 1
    assert lines == []
    assert stderr == error + "\n"


def test_cli_near_needs_a_place() -> None:
    result = CliRunner().invoke(cli, ["near"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Missing argument 'POSTCODE'."
