from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from servicemap.errors import UnknownAreaError, UnknownForceError
from servicemap.geography.areas import (
    PRECEDENCE,
    Area,
    area_key,
    find_force,
    gazetteer,
    resolve_area,
    resolve_areas_served,
    served_districts,
    served_forces,
    wholly_served_forces,
)
from servicemap.geography.forces import FORCE_COUNT, load_districts, load_forces

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DIRECTORY = SHARED / "services" / "migrant_victim_services.csv"
LOOKUP = SHARED / "reference" / "lookups" / "lad24_pfa24_ew.csv"
ALIASES = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "area_aliases.csv"
COUNTIES = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "counties.csv"
# Barnsley and Sheffield were recoded in 2025 (boundary change); the 2024 lookup has old codes.
RECODED_2025 = {"E08000016": "E08000038", "E08000019": "E08000039"}
# District names that are also force names: the bare name means the force (see precedence).
DISTRICTS_NAMED_LIKE_FORCES = {"Dorset", "Wiltshire", "North Yorkshire", "City of London"}


def force(name: str) -> str:
    return find_force(name)


def district_code(name: str) -> str:
    districts = load_districts()
    return str(districts.loc[districts["name"] == name, "code"].item())


# --- the real directory -----------------------------------------------------------------------


def test_every_areas_served_item_in_the_bundled_directory_resolves():
    services = pd.read_csv(DIRECTORY, dtype=str, keep_default_na=False)
    resolved = 0
    for row in services.itertuples(index=False):
        areas, unresolved = resolve_areas_served(row.areas_served)
        assert unresolved == [], (row.id, row.areas_served)
        resolved += len(areas)
    assert resolved == sum(
        1 for value in services["areas_served"] for item in value.split(";") if item.strip()
    )


# --- every canonical name ---------------------------------------------------------------------


def test_every_district_name_and_code_resolves_to_itself():
    for row in load_districts().itertuples(index=False):
        by_code = resolve_area(row.code)
        assert (by_code.kind, by_code.code, by_code.district_codes) == (
            "district",
            row.code,
            (row.code,),
        )
        if row.name in DISTRICTS_NAMED_LIKE_FORCES:
            continue
        assert resolve_area(row.name) == by_code, row.name


@pytest.mark.parametrize("name", sorted(DISTRICTS_NAMED_LIKE_FORCES))
def test_district_named_like_a_force_means_the_force_unless_qualified(name):
    assert resolve_area(name).kind == "force"
    assert resolve_area(name).code == find_force(name)
    district = resolve_area(f"{name} (district)")
    assert (district.kind, district.code) == ("district", district_code(name))


def test_exactly_the_expected_district_names_clash_with_force_names():
    force_keys = set(gazetteer().query("kind == 'force'")["key"])
    clashing = {name for name in load_districts()["name"] if area_key(name) in force_keys}
    assert clashing == DISTRICTS_NAMED_LIKE_FORCES


@pytest.mark.parametrize("column", ["code", "name", "common_name", "slug"])
def test_every_force_resolves_to_itself_by(column):
    districts = load_districts()
    for row in load_forces().itertuples(index=False):
        area = resolve_area(getattr(row, column))
        assert (area.kind, area.code, area.name) == ("force", row.code, row.name)
        expected = tuple(sorted(districts.loc[districts["force_code"] == row.code, "code"]))
        assert area.district_codes == expected
        assert area.force_codes == area.whole_force_codes == (row.code,)


def test_district_to_force_agrees_with_the_official_lookup():
    lookup = pd.read_csv(LOOKUP, dtype=str)
    for row in lookup.itertuples(index=False):
        area = resolve_area(f"{row.LAD24NM} district")
        assert area.code == RECODED_2025.get(row.LAD24CD, row.LAD24CD)
        assert area.force_codes == (row.PFA24CD,)
        assert resolve_area(row.PFA24NM).code == row.PFA24CD


# --- variants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        # case, punctuation, whitespace
        ("  camden ", "Camden", "district"),
        ("TOWER HAMLETS", "Tower Hamlets", "district"),
        ("Stockton on Tees", "Stockton-on-Tees", "district"),
        ("newcastle-under-lyme", "Newcastle-under-Lyme", "district"),
        ("King's Lynn and West Norfolk", "King's Lynn and West Norfolk", "district"),
        ("Kings Lynn & West Norfolk", "King's Lynn and West Norfolk", "district"),
        # & / and
        ("Avon & Somerset", "Avon and Somerset", "force"),
        ("Devon and Cornwall", "Devon & Cornwall", "force"),
        ("Hammersmith & Fulham", "Hammersmith and Fulham", "district"),
        ("Yorkshire & Humber", "Yorkshire and The Humber", "region"),
        ("Yorkshire and the Humber", "Yorkshire and The Humber", "region"),
        # St / St. / Saint
        ("St Helens", "St. Helens", "district"),
        ("Saint Helens", "St. Helens", "district"),
        ("St. Albans", "St Albans", "district"),
        # City of
        ("Bristol", "Bristol, City of", "district"),
        ("City of Bristol", "Bristol, City of", "district"),
        ("bristol city", "Bristol, City of", "district"),
        ("Hull", "Kingston upon Hull, City of", "district"),
        ("Kingston upon Hull", "Kingston upon Hull, City of", "district"),
        ("City of Westminster", "Westminster", "district"),
        ("Leicester City", "Leicester", "district"),
        ("Herefordshire", "Herefordshire, County of", "district"),
        ("City of London", "London, City of", "force"),
        # Welsh names
        ("Anglesey", "Isle of Anglesey", "district"),
        ("Ynys Môn", "Isle of Anglesey", "district"),
        ("ynys mon", "Isle of Anglesey", "district"),
        ("Caerdydd", "Cardiff", "district"),
        ("Abertawe", "Swansea", "district"),
        ("Casnewydd", "Newport", "district"),
        ("Sir Benfro", "Pembrokeshire", "district"),
        ("Cymru", "Wales", "nation"),
        # council and borough names
        ("London Borough of Camden", "Camden", "district"),
        ("Royal Borough of Kensington and Chelsea", "Kensington and Chelsea", "district"),
        ("Leeds City Council", "Leeds", "district"),
        ("City and County of Swansea", "Swansea", "district"),
        ("Dorset Council", "Dorset", "district"),
        # former districts
        ("Harrogate", "North Yorkshire", "district"),
        ("Poole", "Bournemouth, Christchurch and Poole", "district"),
        ("Shepway", "Folkestone and Hythe", "district"),
        # forces
        ("Met", "Metropolitan Police", "force"),
        ("the Met", "Metropolitan Police", "force"),
        ("Met Police", "Metropolitan Police", "force"),
        ("Metropolitan Police Service", "Metropolitan Police", "force"),
        ("Kent Police", "Kent", "force"),
        ("Hampshire and Isle of Wight Constabulary", "Hampshire", "force"),
        ("Hampshire & Isle of Wight", "Hampshire", "force"),
        ("thames-valley", "Thames Valley", "force"),
        ("Thames Valley police area", "Thames Valley", "force"),
        ("City of London Police", "London, City of", "force"),
        # regions and nations
        ("North West England", "North West", "region"),
        ("the South West", "South West", "region"),
        ("East", "East of England", "region"),
        ("Eastern", "East of England", "region"),
        ("London-wide", "London", "region"),
        ("All of London", "London", "region"),
        ("England & Wales", "England and Wales", "nation"),
        ("UK", "England and Wales", "nation"),
        ("United Kingdom", "England and Wales", "nation"),
        ("National", "England and Wales", "nation"),
        ("Wales-wide", "Wales", "nation"),
        # counties
        ("Berks", "Berkshire", "county"),
        ("Oxon", "Oxfordshire", "county"),
        ("Greater London", "Greater London", "county"),
        ("Tyne & Wear", "Tyne and Wear", "county"),
    ],
)
def test_variant_resolves(text, name, kind):
    area = resolve_area(text)
    assert (area.name, area.kind) == (name, kind)


# --- precedence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "district_count"),
    [
        ("West Midlands", "force", 7),
        ("West Midlands region", "region", 30),
        ("West Midlands (region)", "region", 30),
        ("West Midlands county", "county", 7),
        ("Hampshire", "force", 14),
        ("Hampshire county", "county", 13),
        ("Hampshire (ceremonial county)", "county", 13),
        ("Durham", "force", 2),
        ("County Durham", "district", 1),
        ("Durham County Council", "district", 1),
        ("Durham county", "county", 4),
        ("County Durham (ceremonial county)", "county", 4),
        ("Lincolnshire", "force", 7),
        ("Lincolnshire county", "county", 9),
        ("Somerset", "district", 1),
        ("Somerset county", "county", 3),
        ("Gwynedd", "district", 1),
        ("Gwynedd preserved county", "county", 2),
        ("Gwent", "force", 5),
        ("Wiltshire", "force", 2),
        ("Wiltshire Council", "district", 1),
        ("Cumbria", "force", 2),
    ],
)
def test_bare_name_prefers_the_force_and_a_qualifier_picks_another_meaning(
    text, kind, district_count
):
    area = resolve_area(text)
    assert (area.kind, len(area.district_codes)) == (kind, district_count)


def test_hampshire_county_leaves_out_the_isle_of_wight_that_the_force_covers():
    isle = district_code("Isle of Wight")
    assert isle in resolve_area("Hampshire").district_codes
    assert isle not in resolve_area("Hampshire county").district_codes


def test_qualifier_for_a_meaning_the_name_lacks_is_an_error_suggesting_the_name():
    with pytest.raises(UnknownAreaError, match=r"Did you mean 'Kent'"):
        resolve_area("Kent council")


# --- regions, nations, counties ---------------------------------------------------------------


def test_north_east_is_cleveland_durham_and_northumbria():
    area = resolve_area("North East")
    expected = tuple(sorted(force(n) for n in ("Cleveland", "Durham", "Northumbria")))
    assert area.force_codes == area.whole_force_codes == expected


@pytest.mark.parametrize(
    ("region", "forces"),
    [
        (
            "North West",
            ["Cumbria", "Lancashire", "Merseyside", "Greater Manchester", "Cheshire"],
        ),
        ("London", ["Metropolitan Police", "City of London"]),
        (
            "South West",
            ["Devon & Cornwall", "Avon and Somerset", "Gloucestershire", "Wiltshire", "Dorset"],
        ),
        (
            "East Midlands",
            ["Derbyshire", "Nottinghamshire", "Lincolnshire", "Leicestershire", "Northamptonshire"],
        ),
    ],
)
def test_region_covers_its_forces_whole(region, forces):
    area = resolve_area(region)
    assert area.force_codes == area.whole_force_codes == tuple(sorted(map(force, forces)))


def test_the_nine_regions_partition_england_and_no_force_straddles_two():
    names = gazetteer().query("kind == 'region'")["area"]
    distinct = {name: resolve_area(f"{name} region") for name in names}
    assert len(distinct) == 9
    codes = [code for area in distinct.values() for code in area.district_codes]
    assert sorted(codes) == list(resolve_area("England").district_codes)
    assert all(area.partial_force_codes == () for area in distinct.values())


def test_wales_is_the_four_welsh_forces():
    area = resolve_area("Wales")
    welsh = load_forces().query("country == 'Wales'")["code"]
    assert area.force_codes == area.whole_force_codes == tuple(sorted(welsh))
    assert len(area.district_codes) == 22


def test_england_and_wales_is_every_force_and_district():
    area = resolve_area("England and Wales")
    assert len(area.force_codes) == len(area.whole_force_codes) == FORCE_COUNT
    assert area.district_codes == tuple(sorted(load_districts()["code"]))
    assert len(resolve_area("England").force_codes) == FORCE_COUNT - 4


def test_berkshire_is_six_unitaries_of_thames_valley():
    area = resolve_area("Berkshire")
    names = set(load_districts().set_index("code").loc[list(area.district_codes), "name"])
    assert names == {
        "Bracknell Forest",
        "Reading",
        "Slough",
        "West Berkshire",
        "Windsor and Maidenhead",
        "Wokingham",
    }
    assert area.force_codes == (force("Thames Valley"),)
    assert not area.covers_whole_force(force("Thames Valley"))
    assert area.partial_force_codes == (force("Thames Valley"),)


def test_west_sussex_is_part_of_sussex():
    area = resolve_area("West Sussex")
    assert area.force_codes == (force("Sussex"),)
    assert area.whole_force_codes == ()


def test_greater_london_is_the_met_and_the_city():
    area = resolve_area("Greater London")
    assert (
        area.force_codes
        == area.whole_force_codes
        == tuple(sorted([force("Metropolitan Police"), force("City of London")]))
    )
    assert area.district_codes == resolve_area("London").district_codes


def test_stockton_is_partly_in_durham_and_partly_in_north_yorkshire():
    stockton = district_code("Stockton-on-Tees")
    cleveland = force("Cleveland")
    for county, whole_force in [
        ("Durham county", "Durham"),
        ("North Yorkshire county", "North Yorkshire"),
    ]:
        area = resolve_area(county)
        assert area.partial_district_codes == (stockton,)
        assert area.force_codes == tuple(sorted([cleveland, force(whole_force)]))
        assert area.whole_force_codes == (force(whole_force),)


def test_ceremonial_counties_cover_england_once_except_split_and_london_overlaps():
    counties = pd.read_csv(COUNTIES, dtype=str, keep_default_na=False)
    ceremonial = counties[counties["type"].isin(["ceremonial", "metropolitan"])]
    assert ceremonial["county"].nunique() == 48
    assert (ceremonial["type"] == "metropolitan").groupby(ceremonial["county"]).any().sum() == 6
    england = set(resolve_area("England").district_codes)
    assert set(ceremonial["district_code"]) == england
    repeated = ceremonial["district_code"].value_counts()
    assert set(repeated[repeated > 1].index) == {
        district_code("Stockton-on-Tees"),
        district_code("City of London"),
    }


def test_preserved_welsh_counties_partition_wales():
    counties = pd.read_csv(COUNTIES, dtype=str, keep_default_na=False)
    preserved = counties[counties["type"] == "preserved"]
    assert preserved["county"].nunique() == 8
    assert sorted(preserved["district_code"]) == list(resolve_area("Wales").district_codes)


def test_county_file_names_match_district_codes():
    counties = pd.read_csv(COUNTIES, dtype=str, keep_default_na=False)
    names = load_districts().set_index("code")["name"]
    assert (counties["district_name"] == names.loc[counties["district_code"]].to_numpy()).all()


def test_district_within_one_force_resolves_to_that_force():
    slough = resolve_area("Slough")
    assert slough.force_codes == (force("Thames Valley"),)
    assert not slough.covers_whole_force(force("Thames Valley"))
    assert resolve_area("City of London (district)").covers_whole_force(force("City of London"))


def test_covers_whole_force_rejects_a_non_force_code():
    with pytest.raises(UnknownForceError, match="'E06000039' is not a police force area code"):
        resolve_area("Thames Valley").covers_whole_force("E06000039")


# --- unknown names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("Camdem", "Camden"),
        ("Nort West", "North West"),
        ("Thames Vally", "Thames Valley"),
        ("Hampshre county", "Hampshire county"),
        ("West Midland region", "West Midlands region"),
        ("Camden, Islington", "Camden; Islington"),
    ],
)
def test_unknown_name_suggests_the_closest(text, first):
    with pytest.raises(UnknownAreaError, match=rf"Unknown area '{text}'\. Did you mean '{first}'"):
        resolve_area(text)


def test_unknown_name_explains_what_an_area_can_be():
    with pytest.raises(UnknownAreaError) as caught:
        resolve_area("Atlantis")
    message = str(caught.value)
    for word in ("police force area", "district", "county", "region", "'England and Wales'"):
        assert word in message


def test_several_names_in_one_item_are_told_to_use_semicolons():
    with pytest.raises(UnknownAreaError, match="separate them with ';'"):
        resolve_area("Leeds / Bradford")


def test_place_outside_england_and_wales_says_so():
    with pytest.raises(UnknownAreaError, match="'Scotland' is outside England and Wales"):
        resolve_area("Scotland")


@pytest.mark.parametrize("text", ["", "  ", " ; "])
def test_empty_name_is_an_error(text):
    with pytest.raises(UnknownAreaError, match="Empty area name"):
        resolve_area(text)


# --- areas_served and helpers -----------------------------------------------------------------


def test_areas_served_splits_on_semicolons_and_skips_empty_items():
    areas, unresolved = resolve_areas_served("Camden;; Islington ;  ;Camdem")
    assert [a.name for a in areas] == ["Camden", "Islington"]
    assert len(unresolved) == 1
    text, suggestions = unresolved[0]
    assert (text, suggestions[0]) == ("Camdem", "Camden")


def test_areas_served_empty_is_nothing():
    assert resolve_areas_served("") == ([], [])


def test_served_districts_and_forces_are_sorted_unions():
    areas, _ = resolve_areas_served("Slough; Berkshire; Camden")
    assert served_districts(areas) == tuple(
        sorted(set(resolve_area("Berkshire").district_codes) | {district_code("Camden")})
    )
    assert served_forces(areas) == tuple(
        sorted([force("Thames Valley"), force("Metropolitan Police")])
    )


def test_wholly_served_forces_from_districts_listed_one_by_one():
    london = load_districts().query("region == 'London'")["name"]
    areas, unresolved = resolve_areas_served("; ".join(london))
    assert unresolved == []
    assert all(area.whole_force_codes == () or area.name == "London, City of" for area in areas)
    assert wholly_served_forces(areas) == resolve_area("London").force_codes
    assert wholly_served_forces(areas[1:]) == (force("Metropolitan Police"),)


def test_wholly_served_forces_ignores_partly_covered_districts():
    areas = [resolve_area("North Yorkshire county"), resolve_area("Hartlepool")]
    assert force("Cleveland") not in wholly_served_forces(areas)
    areas.append(resolve_area("Stockton-on-Tees"))
    assert force("Cleveland") in wholly_served_forces(areas)


# --- the gazetteer ----------------------------------------------------------------------------


def test_gazetteer_columns_and_one_preferred_meaning_per_name():
    names = gazetteer()
    assert list(names.columns) == [
        "key",
        "name",
        "area",
        "kind",
        "code",
        "district_count",
        "force_count",
        "preferred",
    ]
    assert not names.duplicated(["key", "kind"]).any()
    assert (names.groupby("key")["preferred"].sum() == 1).all()
    assert set(names["kind"]) == set(PRECEDENCE)


def test_gazetteer_counts_distinct_areas_by_kind():
    areas = gazetteer().drop_duplicates(["area", "kind"]).groupby("kind").size()
    assert areas.to_dict() == {
        "force": 43,
        "district": 318,
        "county": 48 + 8 + 1,
        "region": 9,
        "nation": 3,
    }


def test_every_preferred_gazetteer_name_resolves_to_its_row():
    names = gazetteer()
    for row in names[names["preferred"]].itertuples(index=False):
        area = resolve_area(row.name)
        assert (area.name, area.kind, len(area.district_codes)) == (
            row.area,
            row.kind,
            row.district_count,
        )


def test_bundled_aliases_each_add_a_new_name():
    aliases = pd.read_csv(ALIASES, dtype=str, keep_default_na=False)
    names = gazetteer()
    spellings = set(zip(names["key"], names["name"], strict=True))
    for row in aliases.itertuples(index=False):
        # A redundant alias (same key as an earlier spelling) would never be the listed spelling.
        assert (area_key(row.alias), row.alias) in spellings, row.alias


def test_area_is_hashable_and_frozen():
    area = resolve_area("Camden")
    assert isinstance(area, Area)
    assert {area: 1}[resolve_area("camden")] == 1
    with pytest.raises(AttributeError):
        area.name = "x"  # type: ignore[misc]
