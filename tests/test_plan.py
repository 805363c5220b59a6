"""Planning: what-if, where-next (maximal covering), the solvers, and the plan command.

Most tests use a hand-made world on a line along the x axis (metres; northing 100 km), small
enough to work out on paper:

* force F1 = district D1 with postcode districts AA1 (three postcodes around x = 5 km) and AA2
  (four postcodes around x = 30 km); force F2 = district D2 with BB1 (two postcodes around
  x = 60 km); one postcode in Scotland;
* an in-person advocacy service at x = 5 km (so AA1 is within 10 km of help and AA2 is not), a
  remote national helpline and a confidential refuge in F2.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from browsing import offline_context, open_watched
from servicemap.analysis import plan
from servicemap.analysis.cover import (
    GREEDY_GUARANTEE,
    cover_value,
    exact_max_cover,
    greedy_max_cover,
    lp_upper_bound,
)
from servicemap.analysis.coverage import coverage_by_force
from servicemap.analysis.sites import (
    _outward_codes,
    district_sites,
    read_candidate_sites,
    site_problem,
)
from servicemap.cli import cli
from servicemap.directory.schema import FIELDS
from servicemap.errors import PlanError, UnknownForceError
from servicemap.geography.postcodes import PostcodeTable, load_postcode_table
from servicemap.render.plan_map import proposal_map
from servicemap.render.plan_text import format_proposal, format_what_if, proposal_document
from worlds import Factory, need_table, postcode_table, service

# (postcode, easting, northing, district)
POSTCODES = [
    ("AA11AA", 4000, 100000, "D1"),
    ("AA11AB", 5000, 100000, "D1"),
    ("AA11AD", 6000, 100000, "D1"),
    ("AA21AA", 29000, 100000, "D1"),
    ("AA21AB", 30000, 100000, "D1"),
    ("AA21AD", 31000, 100000, "D1"),
    ("AA21AE", 32000, 100000, "D1"),
    ("BB11AA", 59000, 100000, "D2"),
    ("BB11AB", 61000, 100000, "D2"),
    ("ZZ11AA", 0, 500000, "S1"),
]
DISTRICTS = ["D1", "D2", "S1"]
DISTRICT_FORCE = [0, 1, -1]
FORCES = ["F1", "F2"]


@pytest.fixture
def postcodes() -> PostcodeTable:
    return postcode_table(
        POSTCODES, districts=DISTRICTS, district_force=DISTRICT_FORCE, forces=FORCES
    )


@pytest.fixture
def need() -> pd.DataFrame:
    # F2's two postcodes carry 300 born abroad each; F1's seven carry 10 each.
    return need_table(
        FORCES,
        ["Force One", "Force Two"],
        usual_residents_2021=[700, 200],
        born_outside_uk_2021=[70, 600],
        population_mid2023=[770, 220],
        females_16plus_mid2023=[350, 100],
    )


ADVOCACY = service(
    id="s1",
    name="Local Advocacy",
    scope="local",
    service_types="advocacy",
    delivery="in_person",
    address="1 High St",
    postcode="AA1 1AB",
    easting=5000.0,
    northing=100000.0,
    force_code="F1",
    served_districts=("D1",),
    served_forces=("F1",),
)
HELPLINE = service(
    id="s2",
    name="National Helpline",
    scope="national",
    service_types="helpline",
    delivery="remote",
    served_districts=("D1", "D2"),
    served_forces=("F1", "F2"),
)
REFUGE = service(
    id="s3",
    name="Hidden Refuge",
    scope="local",
    service_types="refuge",
    delivery="remote",
    nrpf_support="yes",
    address="7 Secret Road",
    latitude=49.912345,
    longitude=-6.301234,
    force_code="F2",
    served_districts=("D2",),
    served_forces=("F2",),
)


@pytest.fixture
def world(canonical_services: Factory) -> pd.DataFrame:
    return canonical_services([ADVOCACY, HELPLINE, REFUGE])


def new_service(canonical_services: Factory, **fields: Any) -> pd.DataFrame:
    return canonical_services([service(**fields)])


# --- the solvers ----------------------------------------------------------------------------


def random_instance(
    seed: int, candidates: int, cells: int, density: float
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cover = (rng.random((candidates, cells)) < density).astype(np.int8)
    weights = rng.integers(1, 100, size=cells).astype(float)
    return cover, weights


def brute_force(cover: np.ndarray, weights: np.ndarray, n: int) -> float:
    best = 0.0
    for chosen in itertools.combinations(range(cover.shape[0]), min(n, cover.shape[0])):
        best = max(best, float(weights[cover[list(chosen)].any(axis=0)].sum()))
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n", [1, 2, 3])
def test_exact_equals_brute_force_on_tiny_instances(seed: int, n: int) -> None:
    cover, weights = random_instance(seed, candidates=7, cells=25, density=0.2)
    exact = exact_max_cover(cover, weights, n)
    assert exact.optimal
    assert len(exact.chosen) <= n
    assert exact.value == pytest.approx(brute_force(cover, weights, n), rel=1e-12)
    assert exact.value == pytest.approx(cover_value(cover, weights, exact.chosen))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_greedy_is_within_its_guarantee_of_the_exact_optimum(seed: int, n: int) -> None:
    cover, weights = random_instance(seed, candidates=40, cells=300, density=0.04)
    greedy = greedy_max_cover(cover, weights, n)
    exact = exact_max_cover(cover, weights, n)
    assert greedy.value <= exact.value * (1 + 1e-12)
    assert greedy.value >= GREEDY_GUARANTEE * exact.value
    # Both data-dependent bounds really are upper bounds on the optimum.
    assert greedy.upper_bound >= exact.value * (1 - 1e-12)
    assert lp_upper_bound(cover, weights, n) >= exact.value * (1 - 1e-9)
    assert greedy.value == pytest.approx(cover_value(cover, weights, greedy.chosen))
    assert sum(greedy.gains) == pytest.approx(greedy.value)


def test_greedy_can_miss_the_optimum_and_the_exact_solver_finds_it() -> None:
    # Cells 0-3 weigh 1, cell 4 weighs 0.5. Candidate 0 covers {1, 2, 4} (2.5), candidate 1
    # covers {0, 1} and candidate 2 covers {2, 3} (2 each). For two sites greedy takes 0 and
    # then 1 (3.5); the best pair is 1 and 2 (4).
    cover = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0]])
    weights = np.array([1.0, 1.0, 1.0, 1.0, 0.5])
    greedy = greedy_max_cover(cover, weights, 2)
    exact = exact_max_cover(cover, weights, 2)
    assert greedy.chosen == (0, 1)
    assert greedy.gains == (2.5, 1.0)
    assert greedy.value == 3.5
    assert not greedy.optimal
    assert sorted(exact.chosen) == [1, 2]
    assert exact.value == 4.0
    assert greedy.upper_bound >= 4.0
    assert lp_upper_bound(cover, weights, 2) == pytest.approx(4.0)


def test_greedy_breaks_ties_by_candidate_order() -> None:
    cover = np.array([[0, 1, 1], [1, 1, 0], [0, 1, 1]])
    weights = np.array([1.0, 1.0, 1.0])
    assert greedy_max_cover(cover, weights, 1).chosen == (0,)
    assert greedy_max_cover(cover[::-1], weights, 1).chosen == (0,)


def test_greedy_stops_when_nothing_more_can_be_reached() -> None:
    cover = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0]])
    solution = greedy_max_cover(cover, np.ones(3), 3)
    assert solution.chosen == (0,)
    assert solution.value == 3.0
    assert solution.optimal
    assert solution.ratio_floor == 1.0


def test_solvers_do_not_modify_their_inputs() -> None:
    from scipy.sparse import csr_array

    cover, weights = random_instance(1, candidates=10, cells=40, density=0.2)
    sparse = csr_array(cover.astype(float) * 3.0)
    kept_data, kept_weights = sparse.data.copy(), weights.copy()
    greedy_max_cover(sparse, weights, 2)
    exact_max_cover(sparse, weights, 2)
    assert np.array_equal(sparse.data, kept_data)
    assert np.array_equal(weights, kept_weights)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_solvers_reject_bad_counts(n: Any) -> None:
    with pytest.raises(PlanError, match="whole number, 1 or more"):
        greedy_max_cover(np.ones((2, 2)), np.ones(2), n)


# --- candidate sites ------------------------------------------------------------------------


def test_district_sites_are_the_postcode_nearest_the_centre(postcodes: PostcodeTable) -> None:
    sites = district_sites(postcodes).set_index("postcode_district")
    assert list(sites.index) == ["AA1", "AA2", "BB1"]  # not ZZ1: outside England and Wales
    # AA2's centre is x = 30.5 km; AA2 1AB (30 km) and AA2 1AD (31 km) are equally near and the
    # first in postcode order wins.
    assert sites.loc["AA2", "site_postcode"] == "AA2 1AB"
    assert sites.loc["AA1", "site_postcode"] == "AA1 1AB"
    assert sites.loc["BB1", "easting"] == 59000
    assert list(sites["force_code"]) == ["F1", "F1", "F2"]
    assert list(sites["postcodes"]) == [3, 4, 2]


def test_outward_codes() -> None:
    codes = np.array([b"ME141AA", b"B11AA", b"SW1A1AA", b"W1A0AX"], dtype="S7")
    assert _outward_codes(codes).tolist() == [b"ME14", b"B1", b"SW1A", b"W1A"]


# --- where next -----------------------------------------------------------------------------


def test_demand_weights_add_up_to_the_need_figure(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    problem = site_problem(world, force_code="F1", need=need, postcodes=postcodes)
    assert problem.residents == pytest.approx(70.0)
    assert problem.resident_weight == pytest.approx(np.full(7, 10.0))
    national = site_problem(world, need=need, postcodes=postcodes, weight="women_16plus")
    assert national.residents == pytest.approx(450.0)


def test_reach_before_matches_the_coverage_table(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    coverage = coverage_by_force(world, need=need, postcodes=postcodes).set_index("force_code")
    for radius in (10, 25):
        problem = site_problem(
            world,
            force_code="F1",
            radius_km=radius,
            weight="residents",
            need=need,
            postcodes=postcodes,
        )
        share = problem.reach_before / problem.residents
        assert share == pytest.approx(coverage.loc["F1", f"in_person_within_{radius}km"])


def test_one_site_in_a_force_goes_where_nobody_is_reached(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    proposal = plan.propose_sites(world, n=1, force_code="F1", need=need, postcodes=postcodes)
    site = proposal.sites.iloc[0]
    assert site["postcode_district"] == "AA2"
    assert site["site_postcode"] == "AA2 1AB"
    assert site["force_code"] == "F1"
    assert site["newly_within_reach"] == pytest.approx(40.0)  # AA2's four postcodes x 10
    assert proposal.reach_before == pytest.approx(30.0)
    assert proposal.reach_after == pytest.approx(70.0)
    assert site["share_within_reach_after"] == pytest.approx(1.0)
    assert proposal.solution.optimal


def test_sites_that_add_nothing_are_not_proposed(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    proposal = plan.propose_sites(world, n=3, force_code="F1", need=need, postcodes=postcodes)
    assert list(proposal.sites["postcode_district"]) == ["AA2"]
    assert any("Only 1 of the 3 sites" in note for note in proposal.notes)


def test_weighting_decides_between_forces(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    # Born abroad: BB1's two postcodes carry 600, AA2's four 40 -> BB1 first.
    by_born = plan.propose_sites(world, n=1, need=need, postcodes=postcodes)
    assert list(by_born.sites["postcode_district"]) == ["BB1"]
    assert by_born.sites["force_code"].iloc[0] == "F2"
    assert by_born.problem.area_name == "England and Wales"
    # Women 16+: F1's postcodes carry 50 each (AA2: 200), F2's 50 each (BB1: 100) -> AA2.
    by_women = plan.propose_sites(world, n=1, weight="women_16plus", need=need, postcodes=postcodes)
    assert list(by_women.sites["postcode_district"]) == ["AA2"]
    assert by_women.sites["newly_within_reach"].iloc[0] == pytest.approx(200.0)


def test_kind_counts_only_existing_services_of_that_kind(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    proposal = plan.propose_sites(
        world, n=2, force_code="F1", kind="counselling", need=need, postcodes=postcodes
    )
    assert proposal.reach_before == 0.0  # the advocacy service does not count
    assert list(proposal.sites["postcode_district"]) == ["AA2", "AA1"]
    assert list(proposal.sites["newly_within_reach"]) == [40.0, 30.0]


def test_coverage_after_counts_the_proposals_as_local_services(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    proposal = plan.propose_sites(
        world, n=1, kind="legal_immigration", need=need, postcodes=postcodes
    )
    row = proposal.coverage_change.set_index("force_code").loc["F2"]
    assert row["local_services_before"] == 1  # the refuge
    assert row["local_services_after"] == 2
    assert row["legal_immigration_level_before"] == "none"
    assert row["legal_immigration_level_after"] == "local"
    assert row["in_person_within_10km_after"] == 1.0
    site = proposal.sites.iloc[0]
    assert site["legal_immigration_level_after"] == "local"
    assert site["gap_score_after"] < site["gap_score_before"]


def test_proposals_are_deterministic(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    first = plan.propose_sites(world, n=2, kind="counselling", need=need, postcodes=postcodes)
    second = plan.propose_sites(world, n=2, kind="counselling", need=need, postcodes=postcodes)
    pd.testing.assert_frame_equal(first.sites, second.sites)
    pd.testing.assert_frame_equal(first.coverage_change, second.coverage_change)
    assert proposal_document(first) == proposal_document(second)


def test_exact_method_gives_the_same_answer_here(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    greedy = plan.propose_sites(world, n=2, kind="helpline", need=need, postcodes=postcodes)
    exact = plan.propose_sites(
        world, n=2, kind="helpline", method="exact", need=need, postcodes=postcodes
    )
    assert exact.solution.method == "exact"
    assert exact.reach_after == pytest.approx(greedy.reach_after)


def test_inputs_are_not_modified(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    kept_world, kept_need = world.copy(), need.copy()
    plan.propose_sites(world, n=1, need=need, postcodes=postcodes)
    pd.testing.assert_frame_equal(world, kept_world)
    pd.testing.assert_frame_equal(need, kept_need)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_user_candidate_sites(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable, tmp_path: Path
) -> None:
    from servicemap.geography.geocode import wgs84_from_bng

    lon, lat = wgs84_from_bng([40000.0], [100000.0])
    path = write(
        tmp_path / "sites.csv",
        f"Name,Postcode,Latitude,Longitude\nChurch hall,aa2 1ae,,\nBorder hub,,{lat[0]},{lon[0]}\n",
    )
    sites = read_candidate_sites(path)
    problem = site_problem(world, need=need, postcodes=postcodes, candidates=sites)
    mine = problem.candidates.loc[problem.candidates["source"] == "your candidates"]
    assert set(mine["name"]) == {"Church hall", "Border hub"}
    hall = mine.set_index("name").loc["Church hall"]
    assert (hall["easting"], hall["force_code"], hall["postcode_district"]) == (32000, "F1", "AA2")
    hub = mine.set_index("name").loc["Border hub"]
    assert hub["easting"] == pytest.approx(40000, abs=1)
    # Within 22 km the hub at 40 km reaches all of AA2 (8-11 km) and BB1 (19-21 km): more than
    # any postcode district's site.
    wide = plan.propose_sites(
        world, n=1, radius_km=22, candidates=sites, need=need, postcodes=postcodes
    )
    assert wide.sites["name"].iloc[0] == "Border hub"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name,postcode\nA,AA9 9ZZ\n",
            r"sites\.csv:2: column 'postcode': 'AA9 9ZZ' is not a known",
        ),
        (
            "name,postcode\nA,not one\n",
            r"sites\.csv:2: column 'postcode': 'not one' is not a known",
        ),
        ("name,latitude,longitude\nA,40.0,-3.0\n", r"sites\.csv:2: column 'latitude': 40, -3 is"),
        ("name,postcode\nA,\n", r"sites\.csv:2: the site has neither a postcode nor"),
        ("name,town\nA,Leeds\n", r"needs a 'postcode' column or 'latitude' and 'longitude'"),
        ("name,postcode\n", r"has a header but no sites"),
    ],
)
def test_bad_candidate_sites_files(
    world: pd.DataFrame,
    need: pd.DataFrame,
    postcodes: PostcodeTable,
    tmp_path: Path,
    text: str,
    message: str,
) -> None:
    path = write(tmp_path / "sites.csv", text)
    with pytest.raises(PlanError, match=message):
        sites = read_candidate_sites(path)
        plan.propose_sites(world, n=1, candidates=sites, need=need, postcodes=postcodes)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"n": 0}, PlanError, r"must be a whole number, 1 or more; got 0"),
        ({"n": 1, "radius_km": -5}, PlanError, r"positive distance in km, such as 10; got -5"),
        ({"n": 1, "radius_km": math.nan}, PlanError, r"positive distance"),
        ({"n": 1, "kind": "advocay"}, PlanError, r"Unknown kind of service 'advocay' \(--kind\)"),
        ({"n": 1, "weight": "women"}, PlanError, r"Unknown weight 'women' \(--weight\)"),
        ({"n": 1, "force_code": "Narnia"}, UnknownForceError, r"No police force area"),
        ({"n": 1, "method": "random"}, PlanError, r"Unknown method 'random'"),
    ],
)
def test_bad_arguments(
    world: pd.DataFrame,
    need: pd.DataFrame,
    postcodes: PostcodeTable,
    arguments: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        plan.propose_sites(world, need=need, postcodes=postcodes, **arguments)


def test_unknown_kind_lists_the_kinds(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    with pytest.raises(PlanError) as caught:
        plan.propose_sites(world, n=1, kind="advocay", need=need, postcodes=postcodes)
    assert str(caught.value) == (
        "Unknown kind of service 'advocay' (--kind). Did you mean 'advocacy'? Choose one of: "
        "advocacy, nrpf_accommodation, legal_immigration, counselling, helpline."
    )


def test_a_need_table_without_the_weight_is_an_error(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    partial = need.assign(females_16plus_mid2023=[np.nan, 100.0])
    with pytest.raises(PlanError, match="no 'females_16plus_mid2023' figure for F1"):
        plan.propose_sites(
            world, n=1, force_code="F1", weight="women_16plus", need=partial, postcodes=postcodes
        )


# --- output ---------------------------------------------------------------------------------


def test_proposal_formats(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    proposal = plan.propose_sites(world, n=1, force_code="F1", need=need, postcodes=postcodes)
    text = format_proposal(proposal, "table")
    assert "Residents born outside the UK in F1 within 10 km" in text
    assert "30 (42.9%) before, 70 (100%) after (+40)" in text
    assert "AA2 1AB" in text
    assert "on this data it is the best possible" in text
    document = json.loads(format_proposal(proposal, "json"))
    assert document["people_within_reach_after"] == 70
    assert document["sites"][0]["postcode_district"] == "AA2"
    assert document["guarantee_pct"] == pytest.approx(100 * (1 - 1 / math.e), abs=0.01)
    rows = pd.read_csv(io.StringIO(format_proposal(proposal, "csv")))
    assert list(rows["postcode_district"]) == ["AA2"]
    assert {"latitude", "longitude", "easting", "northing", "newly_within_reach_people"} <= set(
        rows
    )


def test_proposal_map_is_offline_and_never_places_a_confidential_service(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    from servicemap.render.maps import external_references, render_map

    proposal = plan.propose_sites(world, n=1, need=need, postcodes=postcodes)
    page = render_map(proposal_map(proposal, world))
    assert external_references(page) == []
    assert "sm-plan-site" in page
    assert "Local Advocacy" in page  # the public in-person service is shown
    assert "Hidden Refuge" not in page
    assert "49.912" not in page and "-6.301" not in page  # the refuge's coordinates
    assert "Proposed sites in England and Wales" in page


def test_no_output_reveals_the_confidential_refuge(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable, canonical_services: Factory
) -> None:
    # The refuge in person this time, so it counts for reach (at its district's centre).
    in_person = canonical_services([ADVOCACY, HELPLINE, REFUGE | {"delivery": "in_person"}])
    proposal = plan.propose_sites(in_person, n=2, need=need, postcodes=postcodes)
    outputs = [format_proposal(proposal, fmt) for fmt in ("table", "csv", "json")]
    outputs += [format_what_if(proposal.coverage_change, fmt) for fmt in ("table", "csv", "json")]
    for text in outputs:
        assert "Secret Road" not in text
        assert "49.91" not in text and "-6.30" not in text
        assert "Hidden Refuge" not in text


# --- what if --------------------------------------------------------------------------------


def test_what_if_with_nothing_added_reproduces_coverage_exactly(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    coverage = coverage_by_force(world, need=need, postcodes=postcodes).set_index("force_code")
    result = plan.what_if(
        world, plan.empty_services(), force_codes=["F2"], need=need, postcodes=postcodes
    )
    assert list(result["force_code"]) == ["F2"]
    row = result.iloc[0]
    assert row["changed"] == ""
    for measure in coverage.columns.drop("force_name"):
        expected = coverage.loc["F2", measure]
        assert row[f"{measure}_before"] == expected, measure
        assert row[f"{measure}_after"] == expected, measure
        if f"{measure}_change" in result.columns:
            assert row[f"{measure}_change"] == 0


def test_what_if_shows_what_a_new_service_changes(
    world: pd.DataFrame,
    need: pd.DataFrame,
    postcodes: PostcodeTable,
    canonical_services: Factory,
) -> None:
    proposed = new_service(
        canonical_services,
        id="new",
        name="New advocacy",
        scope="local",
        service_types="advocacy",
        delivery="in_person",
        address="2 Quay",
        easting=30000.0,
        northing=100000.0,
        force_code="F1",
        served_districts=("D1",),
        served_forces=("F1",),
    )
    result = plan.what_if(world, proposed, need=need, postcodes=postcodes).set_index("force_code")
    assert list(result.index) == ["F1", "F2"]  # largest change in gap score first
    # F2's residents (at 59 and 61 km) are now 30 km from in-person help, not 55 km.
    assert result.loc["F2", "changed"].startswith("median_km_to_in_person")
    assert result.loc["F2", "median_km_to_in_person_before"] == pytest.approx(55.0)
    assert result.loc["F2", "median_km_to_in_person_after"] == pytest.approx(30.0)
    row = result.loc["F1"]
    assert row["local_services_before"] == 1
    assert row["local_services_after"] == 2
    assert row["local_services_change"] == 1
    assert row["in_person_within_10km_before"] == pytest.approx(3 / 7)
    assert row["in_person_within_10km_after"] == 1.0
    assert row["in_person_within_10km_change"] == pytest.approx(4 / 7)
    assert "in_person_within_10km" in row["changed"].split("; ")
    text = format_what_if(result.reset_index(), "table")
    assert "  Local services: 1 → 2 (+1)" in text


def test_what_if_rejects_an_unknown_force(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    with pytest.raises(UnknownForceError, match="No police force area called 'Atlantis'"):
        plan.what_if(
            world, plan.empty_services(), force_codes=["Atlantis"], need=need, postcodes=postcodes
        )


HEADER = ",".join(FIELDS)


def test_a_proposed_services_file_with_errors_is_reported_by_row_and_column(
    tmp_path: Path,
) -> None:
    row = {field: "" for field in FIELDS} | {
        "id": "p1",
        "name": "Proposed",
        "scope": "locall",
        "source_url": "https://example.org",
        "postcode": "ME14 1XX",
        "service_types": "advocacy",
    }
    path = write(tmp_path / "proposed.csv", HEADER + "\n" + ",".join(row.values()) + "\n")
    with pytest.raises(PlanError) as caught:
        plan.load_candidate_services(path)
    message = str(caught.value)
    assert message.startswith(f"Proposed services file '{path}' (--with) has 1 error:\n")
    assert f"{path}:2: column 'scope':" in message
    assert f"run 'servicemap validate {path}'" in message


def test_a_header_only_proposed_services_file_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "proposed.csv", HEADER + "\n")
    proposed = plan.load_candidate_services(path)
    assert len(proposed) == 0
    assert set(FIELDS) <= set(proposed.columns)


# --- real data --------------------------------------------------------------------------------


def test_what_if_with_an_empty_file_reproduces_the_bundled_coverage_exactly(
    bundled_services: pd.DataFrame, tmp_path: Path
) -> None:
    from servicemap.geography.need import load_need

    path = write(tmp_path / "proposed.csv", HEADER + "\n")
    need = load_need(level="district")
    coverage = coverage_by_force(bundled_services, need=need).set_index("force_code")
    result = plan.what_if(
        bundled_services, plan.load_candidate_services(path), force_codes=["Kent"]
    )
    assert list(result["force_code"]) == ["E23000032"]
    row = result.iloc[0]
    for measure in coverage.columns.drop("force_name"):
        expected = coverage.loc["E23000032", measure]
        for when in ("before", "after"):
            value = row[f"{measure}_{when}"]
            assert value == expected or (pd.isna(value) and pd.isna(expected)), measure


def test_two_sites_for_kent_lie_in_kent_and_raise_its_reach(bundled_services: pd.DataFrame) -> None:
    proposal = plan.propose_sites(bundled_services, n=2, force_code="Kent")
    assert len(proposal.sites) == 2
    assert set(proposal.sites["force_code"]) == {"E23000032"}
    assert proposal.reach_after > proposal.reach_before
    assert (proposal.sites["newly_within_reach"] > 0).all()
    kent = proposal.coverage_change.set_index("force_code").loc["E23000032"]
    assert kent["in_person_within_10km_after"] > kent["in_person_within_10km_before"]
    assert kent["local_services_after"] == kent["local_services_before"] + 2
    # Every district site in Kent has a Kent postcode district, e.g. ME14 (Maidstone).
    sites = district_sites(load_postcode_table()).set_index("postcode_district")
    assert sites.loc["ME14", "force_code"] == "E23000032"
    assert sites.loc["ME14", "site_postcode"].startswith("ME14 ")


# --- the command ----------------------------------------------------------------------------


def run(*arguments: str) -> Any:
    return CliRunner().invoke(cli, ["plan", *arguments])


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (
            ["--force", "Kent"],
            "Error: Give --with FILE (what would funding these services change?), --add N or "
            "--budget AMOUNT (where would new services reach most?).",
        ),
        (["--add", "0"], "Error: The number of new services (--add) must be a whole number, "
         "1 or more; got 0."),
        (["--add", "2", "--kind", "shelter"], "Error: Unknown kind of service 'shelter' "
         "(--kind). Choose one of: advocacy, nrpf_accommodation, legal_immigration, "
         "counselling, helpline."),
        (["--add", "2", "--weight", "adults"], "Error: Unknown weight 'adults' (--weight). "
         "Choose one of: born_outside_uk, women_16plus, residents, non_uk_passport, "
         "arrived_last_5y, limited_english."),
        (["--add", "2", "--force", "Kentt"], "Error: No police force area called 'Kentt'. "
         "Did you mean 'Kent', 'Gwent'? Run 'servicemap forces' to list the 43 names and codes."),
    ],
)  # fmt: skip
def test_command_errors(arguments: list[str], line: str) -> None:
    result = run(*arguments)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == line


def test_command_with_and_add_are_alternatives(tmp_path: Path) -> None:
    path = write(tmp_path / "proposed.csv", HEADER + "\n")
    result = run("--with", str(path), "--add", "1")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: Give one of --with FILE (what would funding these services change?), --add N or "
        "--budget AMOUNT (where would new services reach most?), not --with FILE and --add N."
    )
    result = run("--with", str(path), "--kind", "advocacy", "--exact")
    assert result.output.strip() == (
        "Error: --kind and --exact only work with --add N or --budget AMOUNT, not with --with FILE."
    )


def test_command_with_a_bad_proposed_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "proposed.csv", "id,name,scope,source_url\np1,Proposed,locall,https://x.org\n"
    )
    result = run("--force", "Kent", "--with", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: Proposed services file '{path}' (--with) has ")


def test_command_kent_add_two(tmp_path: Path) -> None:
    out, page = tmp_path / "plan.json", tmp_path / "plan.html"
    result = run("--force", "Kent", "--add", "2", "--format", "json", "-o", str(out), "--map",
                 str(page))  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["area"] == {"code": "E23000032", "name": "Kent"}
    assert [s["force_code"] for s in document["sites"]] == ["E23000032", "E23000032"]
    assert document["people_within_reach_after"] > document["people_within_reach_before"]
    assert 63.2 <= document["at_least_pct_of_best"] <= 100.0
    html = page.read_text(encoding="utf-8")
    assert re.findall(r'"rank": (\d+)', html) == ["1", "2"]  # two numbered sites
    assert "sm-plan-force" in html  # force outlines for orientation
    from servicemap.render.maps import external_references

    assert external_references(html) == []


def test_command_what_if_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "proposed.csv", HEADER + "\n")
    out = tmp_path / "what-if.csv"
    result = run("--force", "Dyfed-Powys", "--with", str(path), "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert list(rows["force_name"]) == ["Dyfed-Powys"]
    assert rows.loc[0, "gap_score_change"] == 0


# --- the map in a real browser ------------------------------------------------------------------

HOSTILE = '<img src=x onerror="window.pwned=1">Hall'


def test_plan_map_opens_offline_in_a_browser(
    world: pd.DataFrame,
    need: pd.DataFrame,
    postcodes: PostcodeTable,
    tmp_path: Path,
    browser: Any,
) -> None:
    from servicemap.geography.geocode import wgs84_from_bng
    from servicemap.render.maps import save_map

    # At x = 15.9 km with a 14.5 km radius the site reaches AA1 and two of AA2: the best site.
    lon, lat = wgs84_from_bng([15900.0], [100000.0])
    csv_path = tmp_path / "sites.csv"
    pd.DataFrame({"name": [HOSTILE], "latitude": lat, "longitude": lon}).to_csv(csv_path)
    sites = read_candidate_sites(csv_path)
    proposal = plan.propose_sites(
        world,
        n=1,
        force_code="F1",
        kind="counselling",
        radius_km=14.5,
        candidates=sites,
        need=need,
        postcodes=postcodes,
    )
    assert HOSTILE in set(proposal.sites["name"])
    path = save_map(proposal_map(proposal, world), tmp_path / "plan.html")
    context, watch = offline_context(browser)
    page = open_watched(context, path.as_uri(), watch)
    assert page.locator(".sm-plan-site").all_inner_texts() == ["1"]
    # One catchment circle and one existing public service dot (the refuge is not placed).
    assert page.locator("path.leaflet-interactive").count() == 2
    page.locator(".sm-plan-site").first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert HOSTILE in popup.inner_text()  # shown as text, never as markup
    assert popup.locator("img").count() == 0
    watch.assert_clean(page)  # no request left the machine, no error, no injected script
    context.close()
