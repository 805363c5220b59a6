from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from servicemap.errors import UnknownForceError
from servicemap.geography.areas import find_force
from servicemap.geography.forces import FORCE_COUNT, load_districts, load_forces

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"
# Barnsley and Sheffield were recoded in 2025 (boundary change); the 2024 lookup has old codes.
RECODED_2025 = {"E08000016": "E08000038", "E08000019": "E08000039"}


def test_register_has_43_forces_with_unique_codes_and_slugs():
    forces = load_forces()
    assert len(forces) == FORCE_COUNT
    assert forces["code"].is_unique and forces["slug"].is_unique
    assert forces["code"].str.match(r"^(E23|W15)\d{6}$").all()
    assert (forces["country"] == "Wales").sum() == 4


def test_every_district_maps_to_a_registered_force():
    districts = load_districts()
    assert districts["code"].is_unique
    assert set(districts["force_code"]) == set(load_forces()["code"])


def test_district_table_matches_the_official_lookup():
    reference = pd.read_csv(REFERENCE / "lookups" / "lad24_pfa24_ew.csv", dtype=str)
    reference["LAD24CD"] = reference["LAD24CD"].replace(RECODED_2025)
    ours = load_districts().set_index("code")
    theirs = reference.set_index("LAD24CD")
    assert sorted(ours.index) == sorted(theirs.index)
    assert (ours.loc[theirs.index, "force_code"] == theirs["PFA24CD"]).all()
    assert (ours.loc[theirs.index, "name"] == theirs["LAD24NM"]).all()


def test_register_names_match_the_official_lookup():
    reference = pd.read_csv(REFERENCE / "lookups" / "lad24_pfa24_ew.csv", dtype=str)
    official = dict(zip(reference["PFA24CD"], reference["PFA24NM"], strict=False))
    forces = load_forces()
    assert dict(zip(forces["code"], forces["name"], strict=True)) == official


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Kent", "E23000032"),
        ("kent police", "E23000032"),
        ("Metropolitan Police Service", "E23000001"),
        ("devon-and-cornwall", "E23000035"),
        ("Devon and Cornwall", "E23000035"),
        ("W15000004", "W15000004"),
        ("city of london", "E23000034"),
        ("Met", "E23000001"),
        ("TVP", "E23000029"),
    ],
)
def test_find_force_accepts_names_slugs_and_codes(text, code):
    assert find_force(text) == code


def test_find_force_suggests_close_names():
    with pytest.raises(UnknownForceError, match=r"No police force area called 'Kentt'.*'Kent'"):
        find_force("Kentt")
