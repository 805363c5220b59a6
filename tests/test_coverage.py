"""Coverage per force, one-force profiles and services near a place.

Most tests use a hand-made world small enough to compute every measure on paper:

* three forces on a line along the x axis (metres): F1 = [0, 20 km) with districts D1a (x < 10 km)
  and D1b, F2 = [20, 40 km) with D2a and D2b, F3 = [40, 100 km) with one district D3a;
* a handful of postcodes in each district (one with no grid reference, one in Scotland);
* six services, described in ``WORLD_SERVICES``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap._tables import format_table
from servicemap.analysis.coverage import (
    GAP_CLASSES,
    GAP_WEIGHTS,
    coverage_by_district,
    coverage_by_force,
    sort_coverage,
)
from servicemap.analysis.near import services_near
from servicemap.analysis.profile import force_profile
from servicemap.analysis.reach import with_location_hints
from servicemap.cli import cli
from servicemap.errors import DataQualityWarning, GeocodeError, NeedFileError, ServicesFileError
from servicemap.geography.postcodes import (
    PostcodeTable,
    geography_from_postcodes,
    load_postcode_table,
)
from servicemap.render.text import format_force_profile
from worlds import Factory, need_table, postcode_table, service

# (postcode, easting, northing, district)
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
    ("CC11AA", 60000, 0, "D3a"),
    ("CC11AB", 95000, 0, "D3a"),
    ("ZZ11AA", 0, 500000, "S1"),  # outside England and Wales
]
DISTRICTS = ["D1a", "D1b", "D2a", "D2b", "D3a", "S1"]
DISTRICT_FORCE = [0, 0, 1, 1, 2, -1]
FORCES = ["F1", "F2", "F3"]
ALL_DISTRICTS = ("D1a", "D1b", "D2a", "D2b", "D3a")


@pytest.fixture
def postcodes() -> PostcodeTable:
    return postcode_table(
        POSTCODES, districts=DISTRICTS, district_force=DISTRICT_FORCE, forces=FORCES
    )


@pytest.fixture
def need() -> pd.DataFrame:
    return need_table(
        FORCES,
        ["Force One", "Force Two", "Force Three"],
        usual_residents_2021=[1000, 2000, 500],
        born_outside_uk_2021=[200, 100, 50],
        population_mid2023=[1100, 2100, 510],
        females_16plus_mid2023=[450, 900, 200],
    )


WORLD_SERVICES = [
    # local advocacy in D1a only, in person, by and for
    service(
        id="s1",
        name="Local Advocacy",
        scope="local",
        service_types="advocacy",
        delivery="in_person",
        by_and_for="yes",
        address="1 High St",
        postcode="AA1 1AA",
        easting=2000.0,
        northing=0.0,
        force_code="F1",
        served_districts=("D1a",),
        served_forces=("F1",),
    ),
    # confidential refuge for the whole of F1, open to NRPF women; really at x = 8 km
    service(
        id="s2",
        name="Hidden Refuge",
        scope="local",
        service_types="refuge",
        delivery="in_person",
        nrpf_support="yes",
        address="7 Secret Road",
        postcode="AA1 1AD",
        easting=8000.0,
        northing=0.0,
        force_code="F1",
        served_districts=("D1a", "D1b"),
        served_forces=("F1",),
    ),
    # regional immigration advice for F1 and F2, based in F2
    service(
        id="s3",
        name="Regional Legal",
        scope="regional",
        service_types="immigration_advice",
        delivery="both",
        address="3 Court Lane",
        postcode="BB1 1AB",
        easting=30000.0,
        northing=0.0,
        force_code="F2",
        served_districts=("D1a", "D1b", "D2a", "D2b"),
        served_forces=("F1", "F2"),
    ),
    # national remote helpline, no location
    service(
        id="s4",
        name="National Helpline",
        scope="national",
        service_types="helpline",
        delivery="remote",
        served_districts=ALL_DISTRICTS,
        served_forces=("F1", "F2", "F3"),
    ),
    # an ended service: must count nowhere
    service(
        id="s5",
        name="Closed Project",
        scope="local",
        status="ended",
        service_types="advocacy",
        delivery="in_person",
        address="5 Gone St",
        easting=60000.0,
        northing=0.0,
        force_code="F3",
        served_districts=("D3a",),
        served_forces=("F3",),
    ),
    # local counselling in D2b, delivery unknown but a public address: counts as in person
    service(
        id="s6",
        name="Women's Centre",
        scope="local",
        service_types="counselling",
        delivery="",
        by_and_for="yes",
        address="6 Market Sq",
        postcode="BB1 2AB",
        easting=37000.0,
        northing=0.0,
        force_code="F2",
        served_districts=("D2b",),
        served_forces=("F2",),
    ),
]


@pytest.fixture
def world(canonical_services: Factory) -> pd.DataFrame:
    return canonical_services(WORLD_SERVICES)


@pytest.fixture
def coverage(world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable) -> pd.DataFrame:
    return coverage_by_force(world, need=need, postcodes=postcodes).set_index("force_code")


# --- counts and levels --------------------------------------------------------------------


def test_one_row_per_force_with_names(coverage: pd.DataFrame) -> None:
    assert sorted(coverage.index) == FORCES
    assert coverage.loc["F2", "force_name"] == "Force Two"


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("services_based", [2, 2, 0]),
        ("services_serving", [4, 3, 1]),
        ("local_services", [2, 1, 0]),
        ("regional_services", [1, 1, 0]),
        ("national_services", [1, 1, 1]),
        ("by_and_for_local", [1, 1, 0]),
        ("nrpf_local", [1, 0, 0]),
        ("postcodes", [4, 4, 2]),
    ],
)
def test_counts(coverage: pd.DataFrame, column: str, expected: list[int]) -> None:
    assert coverage.loc[FORCES, column].tolist() == expected


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("advocacy", ["local", "none", "none"]),  # the F3 advocacy project has ended
        ("nrpf_accommodation", ["local", "none", "none"]),
        ("legal_immigration", ["regional", "regional", "none"]),
        ("counselling", ["none", "local", "none"]),
        ("helpline", ["national", "national", "national"]),
    ],
)
def test_best_level_per_kind(coverage: pd.DataFrame, kind: str, expected: list[str]) -> None:
    assert coverage.loc[FORCES, f"{kind}_level"].tolist() == expected


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (("local", "regional", "national"), "local"),
        (("regional", "national"), "regional"),
        (("national",), "national"),
        ((), "none"),
    ],
)
def test_best_level_is_the_most_local_available(
    canonical_services: Factory,
    need: pd.DataFrame,
    postcodes: PostcodeTable,
    scopes: tuple[str, ...],
    expected: str,
) -> None:
    rows = [
        service(
            id=f"x{i}",
            name=scope,
            scope=scope,
            service_types="idva",
            served_districts=("D2a",),
            served_forces=("F2",),
        )
        for i, scope in enumerate(scopes)
    ]
    rows.append(service(id="other", name="other", scope="local", service_types="helpline"))
    rows[-1]["served_districts"] = ("D1a",)
    table = coverage_by_force(canonical_services(rows), need=need, postcodes=postcodes)
    levels = table.set_index("force_code")["advocacy_level"]
    assert levels["F2"] == expected
    assert levels["F1"] == "none"


def test_nrpf_accommodation_needs_nrpf_support(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    refuge = service(
        id="r", name="Refuge", scope="local", service_types="refuge;housing", nrpf_support="no"
    )
    refuge |= {"served_districts": ("D2a",), "served_forces": ("F2",)}
    table = coverage_by_force(canonical_services([refuge]), need=need, postcodes=postcodes)
    assert table.set_index("force_code").loc["F2", "nrpf_accommodation_level"] == "none"


def test_a_national_service_counts_once_in_every_force(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    rows = [
        # listed by district (D1a twice) and by force: still one service per force
        service(
            id="n1",
            name="National One",
            scope="national",
            service_types="helpline",
            served_districts=("D1a", "D1a", *ALL_DISTRICTS),
            served_forces=("F1", "F2", "F3"),
        ),
        # no area given at all: a national service serves England and Wales
        service(id="n2", name="National Two", scope="national", service_types="helpline"),
    ]
    table = coverage_by_force(canonical_services(rows), need=need, postcodes=postcodes)
    assert table["national_services"].tolist() == [2, 2, 2]
    assert table["services_serving"].tolist() == [2, 2, 2]


def test_ended_services_count_nowhere(coverage: pd.DataFrame) -> None:
    assert coverage.loc["F3", "local_services"] == 0
    assert coverage.loc["F3", "services_based"] == 0


# --- partial coverage -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        # F1: local services serve D1a (3 located postcodes) and D1b (1): all of it
        ("local_coverage_share", [1.0, 0.5, 0.0]),
        # F1 advocacy only in D1a: 3 of 4 located postcodes; the unlocated one carries nobody
        ("advocacy_local_share", [0.75, 0.0, 0.0]),
        ("nrpf_accommodation_local_share", [1.0, 0.0, 0.0]),
        ("counselling_local_share", [0.0, 0.5, 0.0]),
    ],
)
def test_local_coverage_share(coverage: pd.DataFrame, column: str, expected: list[float]) -> None:
    assert coverage.loc[FORCES, column].tolist() == pytest.approx(expected)


def test_share_is_a_union_over_local_services(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    def local(i: int, districts: tuple[str, ...]) -> dict[str, Any]:
        return service(
            id=f"l{i}",
            name=f"L{i}",
            scope="local",
            service_types="advocacy",
            served_districts=districts,
            served_forces=("F2",),
        )

    rows = [local(1, ("D2a",)), local(2, ("D2a",)), local(3, ("D2a", "D2b"))]
    one = coverage_by_force(canonical_services(rows[:2]), need=need, postcodes=postcodes)
    both = coverage_by_force(canonical_services(rows), need=need, postcodes=postcodes)
    assert one.set_index("force_code").loc["F2", "advocacy_local_share"] == pytest.approx(0.5)
    assert both.set_index("force_code").loc["F2", "advocacy_local_share"] == pytest.approx(1.0)


def test_service_without_area_serves_the_district_it_is_in(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    row = service(
        id="a",
        name="No area",
        scope="local",
        service_types="advocacy",
        postcode="BB1 1AA",
        easting=25000.0,
        northing=0.0,
        force_code="F2",
    )
    table = coverage_by_force(canonical_services([row]), need=need, postcodes=postcodes)
    assert table.set_index("force_code").loc["F2", "advocacy_local_share"] == pytest.approx(0.5)


def test_service_with_no_area_and_no_place_is_reported(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    row = service(id="a", name="Nowhere", scope="local", service_types="advocacy")
    with pytest.warns(DataQualityWarning, match=r"1 service\(s\) give no area served"):
        table = coverage_by_force(canonical_services([row]), need=need, postcodes=postcodes)
    assert table["services_serving"].sum() == 0


def test_unknown_district_codes_are_reported(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    row = service(id="a", name="Typo", scope="local", service_types="advocacy")
    row |= {"served_districts": ("D2a", "E99999999"), "served_forces": ("F2",)}
    with pytest.warns(DataQualityWarning, match=r"'?E99999999"):
        table = coverage_by_force(canonical_services([row]), need=need, postcodes=postcodes)
    assert table.set_index("force_code").loc["F2", "advocacy_local_share"] == pytest.approx(0.5)


# --- need ---------------------------------------------------------------------------------


def test_need_columns_and_rate(coverage: pd.DataFrame, need: pd.DataFrame) -> None:
    for column in ("born_outside_uk_2021", "females_16plus_mid2023", "population_mid2023"):
        assert coverage[column].sum() == need[column].sum()
    assert coverage.loc["F1", "local_services_per_100k_born_abroad"] == pytest.approx(1000.0)
    assert coverage.loc["F3", "local_services_per_100k_born_abroad"] == 0.0
    assert coverage.loc["F1", "share_born_outside_uk"] == pytest.approx(0.2)


def test_need_missing_a_force_is_an_error(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    with pytest.raises(NeedFileError, match=r"no row for 1 force\(s\) \(e\.g\. 'F3'\)"):
        coverage_by_force(world, need=need.drop(index="F3"), postcodes=postcodes)


def test_services_frame_missing_columns_is_an_error(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    with pytest.raises(ServicesFileError, match=r"missing column\(s\) 'served_districts'"):
        coverage_by_force(world.drop(columns="served_districts"), need=need, postcodes=postcodes)


def test_inputs_are_not_modified(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    before, need_before = world.copy(), need.copy()
    coverage_by_force(world, need=need, postcodes=postcodes)
    pd.testing.assert_frame_equal(world, before)
    pd.testing.assert_frame_equal(need, need_before)


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        # in-person points: s1 (2 km), refuge moved to its district's centroid (5 km), s3 (30),
        # s6 (37). F1 postcode at 16 km is 11 km from 5 km; with the refuge's true place
        # (8 km) it would be 8 km away, so this also checks the refuge was moved.
        ("in_person_within_10km", [0.75, 1.0, 0.0]),
        ("in_person_within_25km", [1.0, 1.0, 0.5]),
        # by and for: s1 (2 km) and s6 (37 km)
        ("by_and_for_within_10km", [0.75, 0.75, 0.0]),
        ("by_and_for_within_25km", [1.0, 1.0, 0.5]),
        ("median_km_to_in_person", [2.5, 2.0, 40.5]),
    ],
)
def test_access_shares(coverage: pd.DataFrame, column: str, expected: list[float]) -> None:
    assert coverage.loc[FORCES, column].tolist() == pytest.approx(expected)


def test_access_radius_is_configurable(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    table = coverage_by_force(world, need=need, postcodes=postcodes, radii_km=(3, 60))
    table = table.set_index("force_code")
    # F1 postcodes are 1, 0, 4 and 11 km from an in-person service; F3's 23 and 58 km
    assert table.loc["F1", "in_person_within_3km"] == pytest.approx(0.5)
    assert table.loc["F3", "in_person_within_60km"] == pytest.approx(1.0)
    assert "in_person_within_10km" not in table.columns


@pytest.mark.parametrize("radii", [(), (0,), (-5, 10), (float("nan"),)])
def test_bad_radii_are_rejected(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable, radii: tuple[float, ...]
) -> None:
    with pytest.raises(ValueError, match="radii_km must be one or more positive distances"):
        coverage_by_force(world, need=need, postcodes=postcodes, radii_km=radii)


def test_remote_services_give_no_in_person_access(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    row = service(
        id="r",
        name="Remote",
        scope="local",
        service_types="advocacy",
        delivery="remote",
        address="1 Phone St",
        easting=30000.0,
        northing=0.0,
        force_code="F2",
        served_districts=("D2a",),
    )
    table = coverage_by_force(canonical_services([row]), need=need, postcodes=postcodes)
    assert table["in_person_within_25km"].tolist() == [0.0, 0.0, 0.0]


# --- gap score ------------------------------------------------------------------------------


def test_gap_weights_sum_to_one() -> None:
    assert sum(GAP_WEIGHTS.values()) == pytest.approx(1.0)


def test_gap_score_by_hand(coverage: pd.DataFrame) -> None:
    # F1: advocacy 0.75, NRPF accommodation 1, legal 0.5 (regional), counselling 0,
    # helpline 1 (national counts fully), capacity 1, access 1, by-and-for access 1.
    f1 = 0.2 * 0.75 + 0.15 * 1 + 0.1 * 0.5 + 0.05 * 0 + 0.05 * 1 + 0.15 + 0.15 + 0.15
    # F2: advocacy 0, NRPF 0, legal 0.5, counselling 0.5, helpline 1, capacity 1, access 1, 1.
    f2 = 0.1 * 0.5 + 0.05 * 0.5 + 0.05 + 0.15 + 0.15 + 0.15
    # F3: helpline 1, capacity 0, access 0.5, by-and-for access 0.5.
    f3 = 0.05 + 0.15 * 0.5 + 0.15 * 0.5
    expected = [round(100 * (1 - f), 1) for f in (f1, f2, f3)]
    assert coverage.loc[FORCES, "gap_score"].tolist() == pytest.approx(expected)
    assert coverage.loc[FORCES, "gap_rank"].tolist() == [3, 2, 1]


def test_sorted_by_rank(world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable) -> None:
    table = coverage_by_force(world, need=need, postcodes=postcodes)
    assert table["force_code"].tolist() == ["F3", "F2", "F1"]


def test_gap_classes(coverage: pd.DataFrame) -> None:
    assert coverage.loc[FORCES, "gap_class"].tolist() == [
        "partial",  # advocacy reaches 75% < 80%
        "partial",
        "no local specialist provision",
    ]


def test_covered_class(
    canonical_services: Factory, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    rows = [dict(r) for r in WORLD_SERVICES]
    rows[0]["served_districts"] = ("D1a", "D1b")  # advocacy now reaches all of F1
    table = coverage_by_force(canonical_services(rows), need=need, postcodes=postcodes)
    assert table.set_index("force_code").loc["F1", "gap_class"] == GAP_CLASSES[2]


# --- one force ------------------------------------------------------------------------------


def test_force_profile_lists_services_and_how(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    coverage = coverage_by_force(world, need=need, postcodes=postcodes)
    profile = force_profile("F1", world, coverage, postcodes=postcodes)
    serves = dict(zip(profile.services["name"], profile.services["serves"], strict=True))
    assert serves == {
        "Local Advocacy": "part: D1a",
        "Hidden Refuge": "whole force",
        "Regional Legal": "whole force",
        "National Helpline": "whole force",
    }
    levels = dict(zip(profile.services["name"], profile.services["level"], strict=True))
    assert levels["Regional Legal"] == "regional"
    assert profile.summary["gap_rank"] == 3


def test_force_profile_hides_confidential_location(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    coverage = coverage_by_force(world, need=need, postcodes=postcodes)
    profile = force_profile("F1", world, coverage, postcodes=postcodes)
    text = format_force_profile(profile) + json.dumps(profile.to_dict())
    assert "Secret Road" not in text
    assert "AA1 1AD" not in text
    assert "Hidden Refuge" in text


def test_force_profile_gaps(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    coverage = coverage_by_force(world, need=need, postcodes=postcodes)
    gaps = force_profile("F1", world, coverage, postcodes=postcodes).gaps
    assert "Advocacy / IDVA: local services reach 75% of residents; not in D1b." in gaps
    assert "Immigration or legal advice: regional services only, none local." in gaps
    assert "Counselling or group support: none at any level." in gaps


def test_force_profile_nearest_outside(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    coverage = coverage_by_force(world, need=need, postcodes=postcodes)
    profile = force_profile("F3", world, coverage, postcodes=postcodes)
    # F3's nearest postcode (60 km) is 23 km from s6 (37 km), 30 from s3, 58 from s1.
    nearest = profile.nearest_outside
    assert nearest["name"].tolist() == ["Women's Centre", "Regional Legal", "Local Advocacy"]
    assert nearest["km_from_force"].tolist() == [23.0, 30.0, 58.0]
    assert nearest["based_in"].tolist() == ["Force Two", "Force Two", "Force One"]
    assert nearest["serves_force"].tolist() == [False, False, False]
    two = force_profile("F3", world, coverage, postcodes=postcodes, nearest=2)
    assert len(two.nearest_outside) == 2
    # the confidential refuge in F1 is never offered as a place to go
    profile_f2 = force_profile("F2", world, coverage, postcodes=postcodes)
    assert "Hidden Refuge" not in profile_f2.nearest_outside["name"].tolist()


# --- services near a place ------------------------------------------------------------------


def test_services_near_postcode(world: pd.DataFrame, postcodes: PostcodeTable) -> None:
    near = services_near("aa1 1aa", world, radius_km=40, postcodes=postcodes)
    relation = dict(zip(near["name"], near["relation"], strict=True))
    assert relation == {
        "Local Advocacy": "serves this area",
        "Hidden Refuge": "serves this area",
        "Regional Legal": "serves this area",
        "National Helpline": "serves this area",
        "Women's Centre": "nearby",
    }
    distance = dict(zip(near["name"], near["distance_km"], strict=True))
    assert distance["Local Advocacy"] == 1.0
    assert distance["Women's Centre"] == 36.0
    assert near.attrs["place"] == "AA1 1AA"


def test_services_near_radius(world: pd.DataFrame, postcodes: PostcodeTable) -> None:
    near = services_near("AA11AA", world, radius_km=25, postcodes=postcodes)
    assert "Women's Centre" not in near["name"].tolist()


def test_services_near_never_locates_a_confidential_service(
    world: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    near = services_near("AA1 1AA", world, radius_km=40, postcodes=postcodes)
    refuge = near.loc[near["name"] == "Hidden Refuge"].iloc[0]
    assert refuge["relation"] == "serves this area"
    assert np.isnan(refuge["distance_km"])
    assert refuge["address"] == "" and refuge["postcode"] == ""
    assert not {"easting", "northing", "latitude", "longitude", "geometry"} & set(near.columns)
    text = near.to_csv()
    assert "Secret Road" not in text and "AA1 1AD" not in text


def test_confidential_service_not_serving_the_area_is_not_listed(
    world: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    # F2 postcode 17 km from the refuge's true place: it must not show up as "nearby"
    near = services_near("BB1 1AA", world, radius_km=50, postcodes=postcodes)
    assert "Hidden Refuge" not in near["name"].tolist()


def test_services_near_point(world: pd.DataFrame, postcodes: PostcodeTable) -> None:
    near = services_near((36000.0, 10.0), world, radius_km=5, postcodes=postcodes)
    assert near.loc[near["name"] == "Women's Centre", "relation"].item() == "serves this area"


def test_services_near_says_where_the_nearest_is_when_nothing_is_close(
    canonical_services: Factory, postcodes: PostcodeTable
) -> None:
    rows = [r for r in WORLD_SERVICES if r["id"] in ("s3",)]
    near = services_near("CC1 1AB", canonical_services(rows), radius_km=10, postcodes=postcodes)
    assert near["relation"].tolist() == ["nearest, beyond 10 km"]
    assert near["distance_km"].tolist() == [65.0]


@pytest.mark.parametrize(
    ("place", "message"),
    [
        ("not a postcode", r"'not a postcode' is not a UK postcode"),
        ("AA9 9ZZ", r"Postcode 'AA9 9ZZ' is not in the ONS postcode directory"),
        ("AA1 1AE", r"Postcode 'AA1 1AE' has no grid reference"),
        ("ZZ1 1AA", r"Postcode 'ZZ1 1AA' is outside England and Wales"),
    ],
)
def test_services_near_bad_postcode(
    world: pd.DataFrame, postcodes: PostcodeTable, place: str, message: str
) -> None:
    with pytest.raises(GeocodeError, match=message):
        services_near(place, world, postcodes=postcodes)


# --- output helpers -------------------------------------------------------------------------


def test_csv_is_spreadsheet_safe() -> None:
    frame = pd.DataFrame({"name": ["=HYPERLINK(1)", "+44 20", "ok"], "n": [-1, 2, 3]})
    text = format_table(frame, "csv")
    assert text.splitlines() == ["name,n", "'=HYPERLINK(1),-1", "'+44 20,2", "ok,3"]


def test_sort_coverage(coverage: pd.DataFrame) -> None:
    table = coverage.reset_index()
    assert sort_coverage(table, "-born_outside_uk_2021")["force_code"].tolist() == FORCES
    assert sort_coverage(table, "gap_score")["force_code"].tolist() == FORCES
    with pytest.raises(ValueError, match=r"Unknown column 'nope' for --sort"):
        sort_coverage(table, "nope")


def test_markdown_and_json(coverage: pd.DataFrame) -> None:
    table = coverage.reset_index()
    markdown = format_table(table, "markdown", columns=("force_code", "gap_score"))
    assert markdown.splitlines()[:3] == [
        "| force_code | gap_score |",
        "| --- | --- |",
        "| F3 | 80 |",
    ]
    records = json.loads(format_table(table, "json"))
    assert records[2]["force_code"] == "F1" and records[2]["advocacy_level"] == "local"


def test_write_coverage_gpkg(coverage: pd.DataFrame, tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely import box

    from servicemap.render.text import write_coverage

    areas = gpd.GeoDataFrame(
        {"force_code": ["F3", "F1", "F2"]},
        geometry=[
            box(40000, -5000, 100000, 5000),
            box(0, -5000, 20000, 5000),
            box(20000, -5000, 40000, 5000),
        ],
        crs="EPSG:27700",
    )
    out = tmp_path / "coverage.gpkg"
    write_coverage(coverage.reset_index(), out, fmt="gpkg", force_areas=areas)
    written = gpd.read_file(out, layer="coverage")
    assert written.crs.to_epsg() == 27700
    assert written["force_code"].tolist() == ["F3", "F2", "F1"]
    assert written.geometry.bounds["minx"].tolist() == [40000, 20000, 0]
    assert written.loc[2, "gap_score"] == pytest.approx(15.0)


def test_write_coverage_replaces_the_file(coverage: pd.DataFrame, tmp_path: Path) -> None:
    from servicemap.render.text import write_coverage

    out = tmp_path / "coverage.csv"
    out.write_text("old", encoding="utf-8")
    write_coverage(coverage.reset_index(), out, fmt="csv")
    assert pd.read_csv(out)["force_code"].tolist() == ["F3", "F2", "F1"]
    assert [p.name for p in tmp_path.iterdir()] == ["coverage.csv"]


# --- real data ------------------------------------------------------------------------------

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"


def reference_totals(file: str, code: str, column: str) -> tuple[int, int]:
    """Return (sum over local authorities, published England and Wales figure)."""
    table = pd.read_csv(REFERENCE / "need" / file)
    districts = table[code].str.match(r"^(E0[6-9]|W06)")
    published = int(table.loc[table[code] == "K04000001", column].iloc[0])
    return int(table.loc[districts, column].sum()), published


# A three-service directory with real postcodes: Southall Black Sisters (by and for, in Ealing,
# Hounslow and Hillingdon), a confidential refuge in Ealing, and a national helpline.
DIRECTORY_ROWS = [
    "id,name,organisation,scope,areas_served,service_types,delivery,by_and_for,nrpf_support,"
    "postcode,address,location_confidential,status,source_url,phone",
    "sbs,Southall Black Sisters,SBS,local,Ealing;Hounslow;Hillingdon,"
    "advocacy;casework;immigration_advice,both,yes,yes,UB1 3BL,21 Avenue Road,no,active,"
    "https://southallblacksisters.org.uk,020 8571 9595",
    "ref,Ealing Refuge,Refuge org,local,Ealing,refuge,in_person,no,yes,UB1 1AA,1 Hidden Way,yes,"
    "active,https://example.org,",
    "nat,National Helpline,Nat,national,England and Wales,helpline,remote,no,unknown,,,no,active,"
    "https://example.org,0808 2000 247",
]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "directory.csv"
    path.write_text("\n".join(DIRECTORY_ROWS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def real_services(directory: Path) -> pd.DataFrame:
    from servicemap.directory.load import load_services

    return load_services(directory)


def test_real_coverage_has_every_force_and_measure(real_services: pd.DataFrame) -> None:
    table = coverage_by_force(real_services)
    assert len(table) == 43
    assert table["force_code"].is_unique
    measures = table.drop(columns=["median_km_to_in_person"])
    assert not measures.isna().any().any()
    assert table["national_services"].tolist() == [1] * 43
    ealing = table.set_index("force_code").loc["E23000001"]
    assert ealing["local_services"] == 2
    assert 0 < ealing["local_coverage_share"] < 0.2


def test_real_need_sums_to_england_and_wales(real_services: pd.DataFrame) -> None:
    table = coverage_by_force(real_services)
    census = "census2021_ts004_country_of_birth_3a_lad21_ew.csv"
    mid2023 = "mye2023_population_lad23_ew.csv"
    sources = {
        "usual_residents_2021": (census, "Geography code", "Total"),
        "born_outside_uk_2021": (census, "Geography code", "Born outside the UK"),
        "population_mid2023": (mid2023, "Code", "All ages"),
        "females_16plus_mid2023": (mid2023, "Code", "Females: Aged 16 and over"),
    }
    for column, source in sources.items():
        over_districts, published = reference_totals(*source)
        # every district counted once; Census figures are perturbed per area, so the sum of
        # districts differs from the published England and Wales figure by under 0.001%
        assert int(table[column].sum()) == over_districts, column
        assert abs(over_districts - published) <= published * 1e-5, column


def test_real_access_matches_brute_force(real_services: pd.DataFrame) -> None:
    # City of London: every postcode's distance to the nearer of Southall Black Sisters and the
    # confidential refuge, which counts at the mean position of Ealing's postcodes.
    table = load_postcode_table()
    city = table.force_codes.tolist().index("E23000034")
    mask = (table.force == city) & table.has_location
    ealing = (table.district == table.district_codes.tolist().index("E09000009")) & (
        table.has_location
    )
    refuge = (table.easting[ealing].mean(), table.northing[ealing].mean())
    sbs = real_services.loc[real_services["id"] == "sbs"].iloc[0]
    km = np.minimum(
        np.hypot(table.easting[mask] - sbs["easting"], table.northing[mask] - sbs["northing"]),
        np.hypot(table.easting[mask] - refuge[0], table.northing[mask] - refuge[1]),
    )
    coverage = coverage_by_force(real_services, radii_km=(16, 25)).set_index("force_code")
    row = coverage.loc["E23000034"]
    share = np.mean(km / 1000 <= 16)
    assert 0.1 < share < 0.9  # the radius cuts through the City
    assert row["in_person_within_16km"] == pytest.approx(share)
    assert row["in_person_within_25km"] == pytest.approx(np.mean(km / 1000 <= 25))
    assert row["median_km_to_in_person"] == pytest.approx(np.median(km) / 1000)


def _refuge_at(tmp_path: Path, postcode: str, areas: str) -> pd.DataFrame:
    """The directory with its confidential refuge at ``postcode``, saying it serves ``areas``."""
    from servicemap.directory.load import load_services

    refuge = (
        f"ref,Ealing Refuge,Refuge org,local,{areas},refuge,in_person,no,yes,{postcode},"
        "1 Hidden Way,yes,active,https://example.org,"
    )
    path = tmp_path / f"{postcode}-{areas}.csv"
    rows = [*DIRECTORY_ROWS[:2], refuge, DIRECTORY_ROWS[3]]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_services(path, warn=False)


# Ealing (UB1 1AA) and Brent (HA0 1AA): both in the Metropolitan Police area, neither served.
@pytest.mark.parametrize("areas", ["Hounslow", ""], ids=["another-district", "no-area"])
def test_a_confidential_place_outside_the_area_it_serves_shapes_no_figure(
    tmp_path: Path, areas: str
) -> None:
    ealing, brent = _refuge_at(tmp_path, "UB1 1AA", areas), _refuge_at(tmp_path, "HA0 1AA", areas)
    pd.testing.assert_frame_equal(coverage_by_district(ealing), coverage_by_district(brent))
    pd.testing.assert_frame_equal(coverage_by_force(ealing), coverage_by_force(brent))
    for postcode in ("UB1 3BL", "HA0 1AB"):
        pd.testing.assert_frame_equal(
            services_near(postcode, ealing), services_near(postcode, brent)
        )
    hints = with_location_hints(ealing, geography_from_postcodes(load_postcode_table()))
    assert hints.set_index("id").loc["ref", "_home_district"] == ""  # not kept in the cache
    served = coverage_by_district(ealing).set_index("district_code")
    assert served.loc["E09000009", "services_based"] == 1  # Southall Black Sisters alone


def test_a_confidential_place_inside_the_area_it_serves_counts_there(tmp_path: Path) -> None:
    table = coverage_by_district(_refuge_at(tmp_path, "UB1 1AA", "Ealing"))
    assert table.set_index("district_code").loc["E09000009", "services_based"] == 2


# --- command line ---------------------------------------------------------------------------


def test_cli_near_lists_who_serves_the_postcode(directory: Path) -> None:
    result = CliRunner().invoke(cli, ["near", "ub1 3bl", "--services", str(directory)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "UB1 3BL (Ealing, Metropolitan Police): services serving this area, and in-person "
        "services within 25 km."
    )
    assert any(
        line.split()[:5] == ["serves", "this", "area", "Southall", "Black"] for line in lines
    )
    assert "Ealing Refuge" in result.output
    assert "Hidden Way" not in result.output and "UB1 1AA" not in result.output


def test_cli_near_json_hides_confidential_location(directory: Path) -> None:
    result = CliRunner().invoke(
        cli, ["near", "UB1 3BL", "--format", "json", "--services", str(directory)]
    )
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.output)}
    assert records["Ealing Refuge"]["distance_km"] is None
    assert records["Ealing Refuge"]["postcode"] == ""
    assert records["Southall Black Sisters"]["distance_km"] == 0.0


@pytest.mark.parametrize(
    ("postcode", "error"),
    [
        (
            "XX",
            "Error: 'XX' is not a UK postcode, postcode district or postcode sector; give a "
            "postcode like 'UB1 3BL', a postcode district like 'UB1' or a sector like 'UB1 3'.",
        ),
        (
            "EH1 1YZ",
            "Error: Postcode 'EH1 1YZ' is outside England and Wales; servicemap covers "
            "the 43 police force areas of England and Wales.",
        ),
    ],
)
def test_cli_near_bad_postcode(directory: Path, postcode: str, error: str) -> None:
    result = CliRunner().invoke(cli, ["near", postcode, "--services", str(directory)])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == error


def test_cli_coverage_csv_file(directory: Path, tmp_path: Path) -> None:
    out = tmp_path / "coverage.csv"
    args = ["coverage", "--services", str(directory), "--format", "csv", "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "--sort", "-born_outside_uk_2021"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 43
    assert table["force_name"].iloc[0] == "Metropolitan Police"
    assert {"in_person_within_10km", "in_person_within_25km", "gap_score"} <= set(table.columns)


def test_cli_coverage_radius(directory: Path) -> None:
    args = ["coverage", "--services", str(directory), "--format", "json", "--radius-km", "5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)[0]
    assert "in_person_within_5km" in record and "in_person_within_25km" not in record


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--sort", "nope"], "Error: Invalid value for --sort: Unknown column 'nope' for --sort;"),
        (["--format", "gpkg"], "Error: --format gpkg writes a file: add -o FILE.gpkg."),
        (
            ["--radius-km", "0"],
            "Error: Invalid value for '--radius-km': '0' is out of range; give a distance in "
            "km greater than 0, such as 10.",
        ),
    ],
)
def test_cli_coverage_bad_options(directory: Path, args: list[str], error: str) -> None:
    result = CliRunner().invoke(cli, ["coverage", "--services", str(directory), *args])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(error)


def test_cli_coverage_gpkg_with_boundary_file(directory: Path, tmp_path: Path) -> None:
    import geopandas as gpd

    boundaries = REFERENCE / "boundaries" / "pfa_dec2023_ew_bsc.geojson"
    out = tmp_path / "coverage.gpkg"
    args = ["coverage", "--services", str(directory), "--format", "gpkg", "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "--boundaries", str(boundaries)])
    assert result.exit_code == 0, result.output
    written = gpd.read_file(out, layer="coverage")
    assert len(written) == 43 and written.geometry.notna().all()
    assert written.crs.to_epsg() == 27700
    assert {"gap_score", "in_person_within_25km", "advocacy_level"} <= set(written.columns)


def test_cli_force_profile(directory: Path) -> None:
    result = CliRunner().invoke(cli, ["force", "thames valley", "--services", str(directory)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Thames Valley (E23000029)"
    assert "  - No local specialist service serves any part of the force." in lines
    assert "Southall Black Sisters" in result.output  # nearest in-person service outside


def test_cli_force_unknown(directory: Path) -> None:
    result = CliRunner().invoke(cli, ["force", "Atlantis", "--services", str(directory)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: No police force area called 'Atlantis'.")


# --- the bundled directory ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_coverage(bundled_services: pd.DataFrame) -> pd.DataFrame:
    return coverage_by_force(bundled_services)


def test_bundled_coverage_has_all_43_forces_and_every_measure(
    bundled_coverage: pd.DataFrame,
) -> None:
    from servicemap.geography.forces import load_forces

    assert sorted(bundled_coverage["force_code"]) == sorted(load_forces()["code"])
    assert not bundled_coverage.isna().any().any()
    assert bundled_coverage["gap_score"].between(0, 100).all()
    assert set(bundled_coverage["gap_class"]) <= set(GAP_CLASSES)
    assert bundled_coverage["gap_rank"].min() == 1


def test_bundled_need_matches_the_need_table(bundled_coverage: pd.DataFrame) -> None:
    from servicemap.geography.need import load_need

    need = load_need()
    for column in ("born_outside_uk_2021", "females_16plus_mid2023", "usual_residents_2021"):
        assert bundled_coverage[column].sum() == need[column].sum()


def test_bundled_national_services_count_once_per_force(
    bundled_services: pd.DataFrame, bundled_coverage: pd.DataFrame
) -> None:
    active = bundled_services["status"] != "ended"
    national = bundled_services[active & (bundled_services["scope"] == "national")]
    expected = {code: 0 for code in bundled_coverage["force_code"]}
    for forces in national["served_forces"]:
        # a national service that names no area serves England and Wales (README rule)
        for code in set(forces) or set(expected):
            expected[code] += 1
    got = bundled_coverage.set_index("force_code")["national_services"].to_dict()
    assert got == expected


def test_bundled_near_southall_lists_southall_black_sisters() -> None:
    result = CliRunner().invoke(cli, ["near", "UB1 3BL"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "Southall Black Sisters" in line]
    assert rows and rows[0].startswith("serves this area")
