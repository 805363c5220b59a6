"""District-level need: postcodes weighted by their district, coverage by district and authority.

The hand-made world has one force, F1, with two districts that differ in need:

* D1a: three located postcodes at x = 1, 5 and 9 km, 300 residents (100 per postcode);
* D1b: one located postcode at x = 16 km, 700 residents.

A second force F2 (D2a: x = 25 and 30 km, 1,000 residents; D2b: x = 35 and 39 km, 1,100
residents) sits beside it. Spreading F1's 1,000 residents evenly over its four postcodes would
give each 250; weighting by district gives D1a's 100 and D1b's 700.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap.analysis.coverage import (
    coverage_by_area,
    coverage_by_authority,
    coverage_by_district,
    coverage_by_force,
    visitable_services,
)
from servicemap.analysis.reach import prepare_services
from servicemap.analysis.sites import site_problem
from servicemap.cli import cli
from servicemap.directory.schema import postal_only
from servicemap.errors import DataQualityWarning, NeedFileError
from servicemap.geography.forces import load_authorities, load_districts
from servicemap.geography.need import NEED_COLUMNS, PROXY_COLUMNS, load_need, need_by_force
from servicemap.geography.postcodes import PostcodeTable, geography_from_postcodes
from servicemap.geography.residents import district_weights, resident_weights
from worlds import REFERENCE, Factory, need_table, postcode_table, service

POSTCODES = [
    ("AA11AA", 1000, 0, "D1a"),
    ("AA11AB", 5000, 0, "D1a"),
    ("AA11AD", 9000, 0, "D1a"),
    ("AA11AE", -1, -1, "D1a"),  # no grid reference: carries no residents
    ("AA12AA", 16000, 0, "D1b"),
    ("BB11AA", 25000, 0, "D2a"),
    ("BB11AB", 30000, 0, "D2a"),
    ("BB12AA", 35000, 0, "D2b"),
    ("BB12AB", 39000, 0, "D2b"),
]
DISTRICTS = ["D1a", "D1b", "D2a", "D2b"]


@pytest.fixture
def postcodes() -> PostcodeTable:
    return postcode_table(
        POSTCODES, districts=DISTRICTS, district_force=[0, 0, 1, 1], forces=["F1", "F2"]
    )


def district_need(**columns: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "district_code": DISTRICTS,
            "district_name": ["One A", "One B", "Two A", "Two B"],
            "force_code": ["F1", "F1", "F2", "F2"],
            "force_name": ["Force One", "Force One", "Force Two", "Force Two"],
            **columns,
        }
    )
    return frame.set_index("district_code")


@pytest.fixture
def need() -> pd.DataFrame:
    return district_need(
        usual_residents_2021=[300, 700, 1000, 1100],
        born_outside_uk_2021=[150, 50, 100, 100],
        population_mid2023=[300, 700, 1000, 1100],
        females_16plus_mid2023=[120, 300, 400, 500],
    )


def advocacy(**fields: Any) -> dict[str, Any]:
    """Local in-person advocacy for D1a, at x = 2 km."""
    base = {
        "id": "a",
        "name": "Advocacy",
        "scope": "local",
        "service_types": "advocacy",
        "delivery": "in_person",
        "address": "1 High St",
        "postcode": "AA1 1AA",
        "easting": 2000.0,
        "northing": 0.0,
        "force_code": "F1",
        "served_districts": ("D1a",),
        "served_forces": ("F1",),
    }
    return service(**(base | fields))


@pytest.fixture
def coverage(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> pd.DataFrame:
    services = canonical_services([advocacy()])
    return coverage_by_force(services, need=need, postcodes=postcodes).set_index("force_code")


# --- weights ----------------------------------------------------------------------------------


def test_each_postcode_carries_its_districts_figure_over_its_postcodes(
    need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    geography = geography_from_postcodes(postcodes)
    # D1a: 300 / 3 located postcodes; D1b: 700 / 1; D2a: 1000 / 2; D2b: 1100 / 2
    assert district_weights(geography, need).tolist() == [100.0, 700.0, 500.0, 550.0]
    weights = resident_weights(geography, need, "born_outside_uk_2021")
    assert sorted(weights[geography.resident_force == 0]) == [50.0, 50.0, 50.0, 50.0]
    assert weights.sum() == need["born_outside_uk_2021"].sum()


def test_a_force_table_is_spread_evenly_over_the_force(postcodes: PostcodeTable) -> None:
    geography = geography_from_postcodes(postcodes)
    forces = need_table(["F1", "F2"], ["Force One", "Force Two"], population_mid2023=[1000, 2100])
    assert district_weights(geography, forces).tolist() == [250.0, 250.0, 525.0, 525.0]


def test_local_share_is_a_share_of_residents_by_district(coverage: pd.DataFrame) -> None:
    # D1a's 300 of F1's 1,000 residents (evenly spread it would be 3 of 4 postcodes, 0.75)
    assert coverage.loc["F1", "local_coverage_share"] == pytest.approx(0.3)
    assert coverage.loc["F1", "advocacy_local_share"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        # F1 postcodes are 1, 3, 7 km (D1a, 100 each) and 14 km (D1b, 700) from x = 2 km
        ("in_person_within_10km", [0.3, 0.0]),
        # F2 postcodes are 23 km (500 of 2,100 residents), 28, 33 and 37 km away
        ("in_person_within_25km", [1.0, 500 / 2100]),
        # half of F1's weight (500) is reached only at the D1b postcode, 14 km away; F2's
        # 23 and 28 km postcodes carry 1,000 of 2,100, so half (1,050) is reached at 33 km
        ("median_km_to_in_person", [14.0, 33.0]),
    ],
)
def test_access_shares_are_weighted_by_district(
    coverage: pd.DataFrame, column: str, expected: list[float]
) -> None:
    assert coverage.loc[["F1", "F2"], column].tolist() == pytest.approx(expected)


def test_force_totals_sum_exactly(coverage: pd.DataFrame, need: pd.DataFrame) -> None:
    assert coverage.loc["F1", "population_mid2023"] == 1000
    assert coverage.loc["F2", "born_outside_uk_2021"] == 200
    for column in NEED_COLUMNS:
        assert coverage[column].sum() == need[column].sum()


def test_a_district_missing_from_the_need_table_is_an_error(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    with pytest.raises(NeedFileError, match=r"no row for 1 district\(s\).*'D2b'"):
        coverage_by_force(
            canonical_services([advocacy()]), need=need.drop(index="D2b"), postcodes=postcodes
        )


# --- levels ----------------------------------------------------------------------------------


def test_coverage_by_district_has_one_row_per_district(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    table = coverage_by_district(
        canonical_services([advocacy()]), need=need, postcodes=postcodes
    ).set_index("district_code")
    assert sorted(table.index) == DISTRICTS
    assert table.loc["D1a", "force_code"] == "F1"
    assert table.loc[DISTRICTS, "local_services"].tolist() == [1, 0, 0, 0]
    assert table.loc[DISTRICTS, "local_coverage_share"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert table.loc[DISTRICTS, "in_person_within_10km"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert table.loc[DISTRICTS, "population_mid2023"].tolist() == [300, 700, 1000, 1100]


def test_capacity_benchmark_is_taken_over_the_same_level(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    services = canonical_services([advocacy()])
    by_district = coverage_by_district(services, need=need, postcodes=postcodes)
    # 1 local service over 400 born abroad (all districts): D1a (1 per 150) beats the rate
    row = by_district.set_index("district_code").loc["D1a"]
    rate = by_district["local_services"].sum() / by_district["born_outside_uk_2021"].sum()
    assert rate == pytest.approx(1 / 400)
    assert row["local_services_per_100k_born_abroad"] == pytest.approx(1e5 / 150)


def test_districts_outside_the_register_are_their_own_authority(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    table = coverage_by_authority(canonical_services([advocacy()]), need=need, postcodes=postcodes)
    assert sorted(table["authority_code"]) == DISTRICTS


def test_unknown_level_is_an_error(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    with pytest.raises(ValueError, match=r"Unknown level 'county'"):
        coverage_by_area(
            canonical_services([advocacy()]), level="county", need=need, postcodes=postcodes
        )


# --- honest in-person access ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["PO Box 44, Manchester", "P.O. Box 65840", "Freepost RTKX-ABCD", "pobox 12", "Private Bag 3"],
)
def test_postal_only_addresses_are_recognised(address: str) -> None:
    frame = pd.DataFrame({"address": [address, "12 Box Lane, Poole"]})
    assert postal_only(frame).tolist() == [True, False]


@pytest.mark.parametrize("extra", ["", "İstanbul Road"])  # İ lowers to two characters
def test_postal_only_is_each_addresss_own_match_in_a_long_list(extra: str) -> None:
    import re

    from servicemap.directory import schema

    rng = np.random.default_rng(4)
    pieces = ["PO", "P.O.", " ", ".", "Box", "BOX", "Free", "post", "Private", "Bag", "\n", "a"]
    addresses = ["".join(rng.choice(pieces, size=rng.integers(0, 7))) for _ in range(3_000)]
    frame = pd.DataFrame({"address": [*addresses, None, "", extra]})
    expected = [bool(re.search(schema._POSTAL_ONLY, a)) for a in frame["address"].fillna("")]
    assert 50 < sum(expected) < 2_900  # both kinds, and the same answer for each
    assert postal_only(frame).tolist() == expected


def test_a_po_box_is_not_a_place_to_visit_but_keeps_its_district(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    services = canonical_services([advocacy(address="PO Box 44", delivery="")])
    table = coverage_by_force(services, need=need, postcodes=postcodes).set_index("force_code")
    assert table.loc["F1", "local_coverage_share"] == pytest.approx(0.3)
    assert table.loc["F1", "in_person_within_25km"] == 0.0
    assert visitable_services(services, postcodes=postcodes) == (0, 1)


@pytest.mark.parametrize(
    ("fields", "in_person"),
    [
        ({"delivery": "in_person"}, True),
        ({"delivery": "both"}, True),
        ({"delivery": "remote"}, False),
        ({"delivery": "", "address": ""}, True),  # a postcode is published
        ({"delivery": "", "address": "", "postcode": ""}, False),
        ({"delivery": "in_person", "address": "Freepost ABC"}, False),
    ],
)
def test_who_counts_as_in_person(
    canonical_services: Factory,
    postcodes: PostcodeTable,
    fields: dict[str, Any],
    in_person: bool,
) -> None:
    prepared = prepare_services(
        canonical_services([advocacy(**fields)]), geography_from_postcodes(postcodes)
    )
    assert prepared.in_person.tolist() == [in_person]


# --- planning demand ---------------------------------------------------------------------------


def test_planning_demand_is_weighted_by_district(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    remote = canonical_services([advocacy(delivery="remote")])
    problem = site_problem(
        remote,
        force_code="F1",
        weight="born_outside_uk",
        radius_km=1,
        need=need,
        postcodes=postcodes,
    )
    # D1a's 150 born abroad over its 3 postcodes, D1b's 50 on its one
    assert sorted(problem.resident_weight.tolist()) == [50.0, 50.0, 50.0, 50.0]
    problem = site_problem(
        remote, force_code="F1", weight="residents", radius_km=1, need=need, postcodes=postcodes
    )
    assert sorted(problem.resident_weight.tolist()) == [100.0, 100.0, 100.0, 700.0]


# --- the bundled table --------------------------------------------------------------------------


def test_bundled_district_need_sums_to_the_force_table() -> None:
    districts = load_need(level="district")
    assert len(districts) == 318
    assert list(districts.index) == list(load_districts()["code"])
    forces = load_need()
    summed = need_by_force(districts)
    for column in NEED_COLUMNS:
        assert (summed[column] == forces.loc[summed.index, column]).all()
    assert not districts[PROXY_COLUMNS].isna().any().any()


def test_a_force_keyed_file_falls_back_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "need.csv"
    load_need().reset_index().to_csv(path, index=False)
    with pytest.warns(DataQualityWarning, match=r"spread evenly over its postcodes"):
        need = load_need(path, level="district")
    assert need.index.name == "force_code"


def test_a_district_keyed_file_is_read_per_district(tmp_path: Path) -> None:
    path = tmp_path / "need.csv"
    table = load_need(level="district").reset_index()
    table.drop(columns=PROXY_COLUMNS).to_csv(path, index=False)
    need = load_need(path, level="district")
    assert need.index.name == "district_code"
    assert need["population_mid2023"].sum() == table["population_mid2023"].sum()
    assert need[PROXY_COLUMNS].isna().all().all()


def test_authority_register_covers_every_district_once() -> None:
    authorities = load_authorities()
    districts = load_districts()
    assert list(authorities["district_code"]) == list(districts["code"])
    assert authorities["authority_code"].nunique() == 175
    two_tier = authorities["district_code"].str.startswith("E07")
    assert authorities.loc[two_tier, "authority_code"].str.match(r"^E10\d{6}$").all()
    assert (
        authorities.loc[~two_tier, "authority_code"] == authorities.loc[~two_tier, "district_code"]
    ).all()
    assert authorities.loc[two_tier, "authority_type"].eq("county council").all()


def test_each_authority_lies_in_one_force_by_the_ons_lookup() -> None:
    lookup = pd.read_csv(REFERENCE / "lookups" / "lad24_pfa24_ew.csv", dtype=str)
    force_of = dict(zip(lookup["LAD24CD"], lookup["PFA24CD"], strict=True))
    authorities = load_authorities()
    known = authorities[authorities["district_code"].isin(force_of)]
    assert len(known) > 300  # all but the Barnsley/Sheffield codes changed in 2025
    forces = known.groupby("authority_code")["district_code"].agg(
        lambda codes: {force_of[c] for c in codes}
    )
    assert forces.map(len).eq(1).all()


# --- the bundled directory through the CLI ------------------------------------------------------


@pytest.fixture(scope="module")
def by_district(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("by") / "districts.csv"
    result = CliRunner().invoke(cli, ["-q", "coverage", "--by", "district", "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert "318 local authority districts" in result.output
    return pd.read_csv(path, dtype={"district_code": str})


def test_coverage_by_district_sums_to_england_and_wales(by_district: pd.DataFrame) -> None:
    totals = load_need().sum(numeric_only=True)
    assert len(by_district) == 318
    for column in NEED_COLUMNS:
        assert by_district[column].sum() == totals[column]


def test_coverage_by_authority_in_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "authorities.csv"
    result = CliRunner().invoke(cli, ["-q", "coverage", "--by", "authority", "-o", str(path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(path)
    assert len(table) == 175
    assert "services publish a place people can visit" in result.output
    kent = table.set_index("authority_code").loc["E10000016"]
    assert kent["authority_name"] == "Kent"
    assert kent["population_mid2023"] == sum(
        load_need(level="district").loc[c, "population_mid2023"]
        for c in load_authorities().query("authority_code == 'E10000016'")["district_code"]
    )
    assert np.isfinite(table["gap_score"]).all()


def test_gpkg_is_only_for_forces(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["coverage", "--by", "district", "-o", str(tmp_path / "c.gpkg")]
    )
    assert result.exit_code == 2
    assert "--format gpkg holds force polygons only" in result.output


def test_a_po_box_gets_no_map_marker(canonical_services: Factory) -> None:
    from servicemap.render.maps import map_services

    services = canonical_services(
        [advocacy(id="street"), advocacy(id="box", name="Box", address="PO Box 44, Leeds")]
    )
    assert list(map_services(services)["id"]) == ["street"]


def test_force_profile_lists_its_districts(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    from servicemap.analysis.profile import force_profile
    from servicemap.render.pages import _profile_districts
    from servicemap.render.text import format_force_profile

    services = canonical_services([advocacy(), advocacy(id="b", name="Box", address="PO Box 1")])
    coverage = coverage_by_force(services, need=need, postcodes=postcodes)
    districts = coverage_by_district(services, need=need, postcodes=postcodes)
    profile = force_profile("F1", services, coverage, districts=districts, postcodes=postcodes)
    table = profile.districts.set_index("district_code")
    assert list(table.index) == ["D1a", "D1b"]  # most born abroad first
    assert table.loc["D1a", "local_services_serving"] == "Advocacy; Box"
    assert table.loc["D1b", "local_services_serving"] == ""
    assert table.loc["D1a", "in_person_within_10km"] == 1.0
    assert (profile.places, profile.active) == (1, 2)
    text = format_force_profile(profile)
    assert "1 of 2 services publishes a place people can visit" in text
    assert "Districts (residents weighted by district):" in text
    page = _profile_districts(profile)
    assert page["rows"][0]["cells"][:4] == ["300", "150", "2", "100%"]
    assert page["rows"][1]["serving"] == "none"


def test_a_force_with_no_place_within_reach_says_so(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    from servicemap.analysis.profile import force_profile

    services = canonical_services([advocacy(delivery="remote")])
    coverage = coverage_by_force(services, need=need, postcodes=postcodes)
    profile = force_profile("F2", services, coverage, postcodes=postcodes)
    assert any(
        "No service that publishes a place people can visit is within 25 km" in gap
        for gap in profile.gaps
    )


# --- name readings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "spelling", "districts"),
    [
        ("West Midlands", "region", "West Midlands region", 30),
        ("Lincolnshire", "county", "Lincolnshire county", 9),
    ],
)
def test_names_with_another_reading_say_how_to_ask_for_it(
    name: str, kind: str, spelling: str, districts: int
) -> None:
    from servicemap.geography.areas import other_readings, resolve_area

    assert resolve_area(name).kind == "force"
    (area, asked), *_ = other_readings(name)
    assert (area.kind, asked) == (kind, spelling)
    assert resolve_area(spelling).kind == kind
    assert len(resolve_area(spelling).district_codes) == districts


def test_a_reading_that_covers_the_same_districts_is_not_mentioned() -> None:
    from servicemap.geography.areas import other_readings

    assert other_readings("Kent") == []  # the force and the ceremonial county are the same
    assert other_readings("Lincolnshire county") == []


def test_validate_says_once_per_name_which_reading_it_took(tmp_path: Path) -> None:
    path = tmp_path / "dir.csv"
    rows = [
        "id,name,scope,areas_served,service_types,status,source_url",
        "a,A,regional,West Midlands,advocacy,active,https://example.org",
        "b,B,regional,West Midlands; Lincolnshire,advocacy,active,https://example.org",
        "c,C,regional,West Midlands region,advocacy,active,https://example.org",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    lines = [line for line in result.output.splitlines() if "is read as" in line]
    assert len(lines) == 2
    assert lines[0].startswith(f"warning: {path}:2: column 'areas_served': 'West Midlands' is read")
    assert "write 'West Midlands region'" in lines[0]
    assert ":3:" in lines[1] and "write 'Lincolnshire county'" in lines[1]
