"""Plans a commissioner can read and act on: plain words, minimal proposals, budgets, maps.

The budget tests use instances small enough to solve by brute force; the proposal and map
tests use the bundled directory and the ONS postcode table (a real Kent postcode, looked up
from the table rather than typed in).
"""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap.analysis import plan
from servicemap.analysis.access import _LAST_DISTANCES
from servicemap.analysis.cover import (
    BUDGET_GUARANTEE,
    cover_value,
    exact_max_cover,
    greedy_budget_cover,
    lp_budget_bound,
)
from servicemap.analysis.coverage import coverage_by_force
from servicemap.analysis.sites import district_sites, read_candidate_sites
from servicemap.cli import cli
from servicemap.errors import PlanError
from servicemap.geography.postcodes import PostcodeTable, load_postcode_table
from servicemap.render.maps import external_references
from servicemap.render.plan_text import (
    change_line,
    format_proposal,
    format_what_if,
    machine_columns,
    meaningful,
)
from worlds import Factory, need_table, postcode_table, service

KENT = "E23000032"

# A line world (metres, northing 100 km): F1 has AA1 around x = 5 km and AA2 around 30 km,
# F2 has BB1 around 60 km; an in-person advocacy service at x = 5 km.
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
]


@pytest.fixture
def postcodes() -> PostcodeTable:
    return postcode_table(
        POSTCODES, districts=["D1", "D2"], district_force=[0, 1], forces=["F1", "F2"]
    )


@pytest.fixture
def need() -> pd.DataFrame:
    return need_table(
        ["F1", "F2"],
        ["Force One", "Force Two"],
        usual_residents_2021=[700, 200],
        born_outside_uk_2021=[70, 600],
        population_mid2023=[770, 220],
        females_16plus_mid2023=[350, 100],
    )


@pytest.fixture
def world(canonical_services: Factory) -> pd.DataFrame:
    return canonical_services(
        [
            service(
                id="s1", name="Local Advocacy", scope="local", service_types="advocacy",
                delivery="in_person", postcode="AA1 1AB", easting=5000.0, northing=100000.0,
                force_code="F1", served_districts=("D1",), served_forces=("F1",),
            )
        ]
    )  # fmt: skip


# --- plain words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "before", "after", "line"),
    [
        ("in_person_within_10km", 0.0, 0.14, "In-person help within 10 km: 0% → 14% (+14 points)"),
        ("in_person_within_25km", 0.049, 0.604, "In-person help within 25 km: 4.9% → 60.4% "
         "(+55.5 points)"),
        ("gap_rank", 6, 37, "Gap rank: 6 → 37: 31 places less of a gap (1 = biggest gap)"),
        ("gap_rank", 30, 29, "Gap rank: 30 → 29: 1 place more of a gap (1 = biggest gap)"),
        ("gap_score", 81.1, 54.8, "Gap score: 81.1 → 54.8: 26.3 points less of a gap "
         "(0 = best served, 100 = nothing found)"),
        ("median_km_to_in_person", 53.94, 23.66, "Median distance to in-person help: 53.9 km → "
         "23.7 km (30.3 km nearer)"),
        ("local_services", 0, 2, "Local services: 0 → 2 (+2)"),
        ("advocacy_level", "national", "local", "Advocacy, IDVA, outreach and casework: best "
         "level: national → local"),
    ],
)  # fmt: skip
def test_change_lines_read_in_plain_words(measure: str, before: Any, after: Any, line: str) -> None:
    assert change_line(measure, before, after) == line


@pytest.mark.parametrize(
    ("measure", "before", "after", "expected"),
    [
        ("in_person_within_10km", 0.5, 0.5009, False),  # 0.09 point
        ("in_person_within_10km", 0.5, 0.501, True),  # 0.1 point
        ("median_km_to_in_person", 20.0, 19.997, False),  # 3 m
        ("median_km_to_in_person", 20.0, 19.9, True),
        ("local_services", 3, 4, True),
        ("gap_class", "partial", "partial", False),
    ],
)
def test_only_meaningful_changes_count(
    measure: str, before: Any, after: Any, expected: bool
) -> None:
    assert meaningful(measure, before, after) is expected


def test_what_if_table_lists_meaningful_forces_and_sums_up_the_rest(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable, canonical_services: Factory
) -> None:
    # A service at x = 30 km: F1 gains a local service; F2's residents come 25 km nearer.
    proposed = canonical_services(
        [
            service(
                id="p", name="New", scope="local", service_types="advocacy",
                delivery="in_person", easting=30000.0, northing=100000.0, force_code="F1",
                served_districts=("D1",), served_forces=("F1",),
            )
        ]
    )  # fmt: skip
    comparison = plan.what_if(world, proposed, need=need, postcodes=postcodes)
    text = format_what_if(comparison, "table")
    assert text.startswith("With 1 proposed service added to the directory.\n")
    assert "Force One (F1): 8 measures change.\n" in text
    assert "  In-person help within 10 km: 42.9% → 100% (+57.1 points)\n" in text
    assert "Force Two (F2): 1 measure changes.\n" in text
    assert "  Median distance to in-person help: 55.0 km → 30.0 km (25.0 km nearer)\n" in text
    assert "service(s)" not in text and "measure(s)" not in text
    rows = pd.read_csv(io.StringIO(format_what_if(comparison, "csv")))
    f1 = rows.set_index("force_code").loc["F1"]
    assert f1["in_person_within_10km_pct_before"] == 42.86
    assert f1["in_person_within_10km_pct_change"] == 57.14
    assert "in_person_within_10km_before" not in rows.columns


def test_a_slight_change_is_summed_up_in_one_line() -> None:
    columns = {"force_code": ["F1", "F2", "F3"], "force_name": ["One", "Two", "Three"]}
    frame = pd.DataFrame(
        columns
        | {
            "changed": ["local_services", "median_km_to_in_person; gap_rank", ""],
            "local_services_before": [1, 0, 0],
            "local_services_after": [2, 0, 0],
            "median_km_to_in_person_before": [10.0, 40.0, 5.0],
            "median_km_to_in_person_after": [10.0, 39.997, 5.0],
            "gap_score_before": [50.0, 60.0, 70.0],
            "gap_score_after": [40.0, 60.0, 70.0],
            "gap_rank_before": [2, 1, 3],
            "gap_rank_after": [3, 2, 1],
        }
    )
    frame.attrs.update(requested=["F1"], proposed=1)
    text = format_what_if(frame, "table")
    assert "Two (F2)" not in text
    assert text.rstrip().endswith(
        "1 other force change only slightly (the gap score or rank, through the England and "
        "Wales comparison, or by less than 0.1 point or 0.1 km): Two."
    )


def test_proposal_text_and_csv_use_people_and_units(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    proposal = plan.propose_sites(
        world, n=1, force_code="F1", kind="nrpf_accommodation", need=need, postcodes=postcodes
    )
    text = format_proposal(proposal, "table")
    assert "Where 1 new in-person service (refuge or housing, incl. NRPF) would bring" in text
    assert "nrpf_accommodation" not in text and "service(s)" not in text
    rows = pd.read_csv(io.StringIO(format_proposal(proposal, "csv")))
    assert rows["newly_within_reach_people"].dtype.kind == "i"
    assert "within_reach_after_pct" in rows.columns
    for column in rows.select_dtypes("float").columns:
        values = rows[column].dropna()
        assert (values.round(5) == values).all(), column
    table = machine_columns(proposal.coverage_change)
    assert {"in_person_within_10km_pct_before", "born_outside_uk_2021_before"} <= set(table)


# --- proposals as written -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def kent_postcode() -> str:
    """A real postcode in Maidstone: the ME14 postcode district's site."""
    sites = district_sites(load_postcode_table(), force_code=KENT).set_index("postcode_district")
    return str(sites.loc["ME14", "site_postcode"])


@pytest.fixture(scope="module")
def canterbury_postcode() -> str:
    """A real postcode in Canterbury (CT1), not the postcode district's own site."""
    table = load_postcode_table()
    codes = [c.decode() for c in table.postcodes[table.has_location] if c.startswith(b"CT1")]
    site = str(
        district_sites(table, force_code=KENT)
        .set_index("postcode_district")
        .loc["CT1", "site_postcode"]
    )
    code = next(c for c in codes if len(c) == 6 and f"{c[:3]} {c[3:]}" != site)
    return f"{code[:3]} {code[3:]}"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_proposal_file_loads_with_its_defaults(
    tmp_path: Path, kent_postcode: str
) -> None:
    # No id, scope, status, delivery, areas_served or source_url; warnings are errors here.
    path = write(
        tmp_path / "proposed.csv",
        f"name,postcode,service_types\nMaidstone Hub,{kent_postcode},advocacy\n",
    )
    proposed = plan.load_candidate_services(path)
    row = proposed.iloc[0]
    assert row["id"] == "proposed-maidstone-hub"
    assert (row["scope"], row["status"], row["delivery"]) == ("local", "active", "in_person")
    assert row["areas_served"] == "Maidstone"
    assert row["served_districts"] == ("E07000110",)
    assert row["force_code"] == KENT
    assert proposed.attrs["defaults"] == {
        "id": 1, "scope": 1, "status": 1, "delivery": 1, "areas_served": 1
    }  # fmt: skip


def test_a_proposal_by_latitude_and_longitude_serves_the_district_of_its_site(
    tmp_path: Path,
) -> None:
    # Maidstone town centre, from the postcode table: the ME14 site's own position.
    from servicemap.geography.geocode import wgs84_from_bng

    sites = district_sites(load_postcode_table(), force_code=KENT).set_index("postcode_district")
    lon, lat = wgs84_from_bng([sites.loc["ME14", "easting"]], [sites.loc["ME14", "northing"]])
    path = write(
        tmp_path / "proposed.csv",
        f"name,latitude,longitude,service_types,id\nHub,{lat[0]:.5f},{lon[0]:.5f},counselling,"
        "my-own-id\n",
    )
    row = plan.load_candidate_services(path).iloc[0]
    assert row["id"] == "my-own-id"
    assert row["served_districts"] == ("E07000110",)


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("Hub,{pc},advocacyy", "column 'service_types'"),
        ("Hub,ZZ99 9ZZ,advocacy", "column 'postcode'"),
        (",{pc},advocacy", "column 'name'"),
    ],
)
def test_a_bad_proposal_still_gets_file_row_and_column(
    tmp_path: Path, kent_postcode: str, row: str, where: str
) -> None:
    path = write(
        tmp_path / "proposed.csv",
        f"name,postcode,service_types\nGood,{kent_postcode},advocacy\n"
        + row.format(pc=kent_postcode)
        + "\n",
    )
    with pytest.raises(PlanError) as caught:
        plan.load_candidate_services(path)
    assert f"{path}:3: {where}" in str(caught.value)
    assert "source_url" not in str(caught.value).split("\n")[1]


# --- a budget -------------------------------------------------------------------------------------


def brute_force_budget(
    cover: np.ndarray, weights: np.ndarray, costs: np.ndarray, budget: float
) -> float:
    best = 0.0
    for size in range(1, cover.shape[0] + 1):
        for chosen in itertools.combinations(range(cover.shape[0]), size):
            if costs[list(chosen)].sum() <= budget + 1e-9:
                best = max(best, cover_value(cover, weights, chosen))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_budget_solvers_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cover = (rng.random((7, 14)) < 0.3).astype(float)
    weights = rng.integers(1, 20, 14).astype(float)
    costs = rng.integers(1, 6, 7).astype(float)
    budget = float(rng.integers(3, 12))
    best = brute_force_budget(cover, weights, costs, budget)
    greedy = greedy_budget_cover(cover, weights, costs, budget)
    assert costs[list(greedy.chosen)].sum() <= budget
    assert greedy.value >= BUDGET_GUARANTEE * best - 1e-9
    assert greedy.value <= best + 1e-9
    assert greedy.upper_bound >= best - 1e-9
    assert lp_budget_bound(cover, weights, costs, budget) >= best - 1e-9
    exact = exact_max_cover(cover, weights, 1, costs=costs, budget=budget)
    assert exact.optimal
    assert exact.value == pytest.approx(best)
    assert costs[list(exact.chosen)].sum() <= budget


def test_the_best_single_site_rescues_greedy_by_ratio() -> None:
    # Site 0 is cheap with the best ratio; once chosen, the big site 1 no longer fits.
    cover = np.array([[1, 0], [0, 1]], dtype=float)
    weights = np.array([2.0, 10.0])
    costs = np.array([1.0, 10.0])
    greedy = greedy_budget_cover(cover, weights, costs, 10.0)
    assert greedy.chosen == (1,)
    assert greedy.value == 10.0


def test_budget_guarantee_is_half_of_one_minus_one_over_e() -> None:
    assert pytest.approx((1 - 1 / np.e) / 2) == BUDGET_GUARANTEE
    assert round(BUDGET_GUARANTEE, 3) == 0.316


def test_a_budget_proposal_says_what_is_spent_and_left(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable, tmp_path: Path
) -> None:
    from servicemap.geography.geocode import wgs84_from_bng

    lon, lat = wgs84_from_bng([30000.0, 60000.0], [100000.0, 100000.0])
    sites = read_candidate_sites(
        write(
            tmp_path / "sites.csv",
            "name,latitude,longitude,cost\n"
            f"Quay,{lat[0]:.6f},{lon[0]:.6f},50000\nMarket,{lat[1]:.6f},{lon[1]:.6f},80000\n",
        )
    )
    proposal = plan.propose_sites(
        world, budget=100_000, cost=200_000, candidates=sites, need=need, postcodes=postcodes
    )
    # Postcode-district sites (200,000) are out of reach; F2's 600 born abroad are worth more
    # than F1's 40, and both sites together cost too much: Market (80,000) alone.
    assert list(proposal.sites["name"]) == ["Market"]
    assert proposal.spent == 80_000
    text = format_proposal(proposal, "table")
    assert "Spent 80,000 of the budget of 100,000; 20,000 left." in text
    assert "31.6%" in text and "Khuller, Moss and Naor 1999" in text
    document = json.loads(format_proposal(proposal, "json"))
    assert (document["spent"], document["left"]) == (80_000, 20_000)
    exact = plan.propose_sites(
        world, budget=100_000, cost=200_000, candidates=sites, need=need, postcodes=postcodes,
        method="exact",
    )  # fmt: skip
    assert exact.solution.optimal and list(exact.sites["name"]) == ["Market"]


def test_a_budget_needs_costs(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable
) -> None:
    with pytest.raises(PlanError, match="give --cost AMOUNT"):
        plan.propose_sites(world, budget=100_000, need=need, postcodes=postcodes)


def test_a_bad_cost_names_the_file_row_and_column(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable, tmp_path: Path
) -> None:
    path = write(tmp_path / "sites.csv", "name,postcode,cost\nA,AA2 1AB,lots\n")
    with pytest.raises(PlanError, match=re.escape(f"{path}:2: column 'cost': 'lots'")):
        plan.propose_sites(
            world, budget=10, candidates=read_candidate_sites(path), need=need, postcodes=postcodes
        )


# --- per-force work -------------------------------------------------------------------------


def test_one_forces_district_sites_are_those_of_the_whole_table() -> None:
    table = load_postcode_table()
    whole = district_sites(table)
    for code in (KENT, "E23000001"):
        mine = district_sites(table, force_code=code)
        expected = whole.loc[whole["force_code"] == code].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, expected)


def test_coverage_with_added_services_is_the_same_measured_either_way(
    world: pd.DataFrame, need: pd.DataFrame, postcodes: PostcodeTable, canonical_services: Factory
) -> None:
    proposed = canonical_services(
        [
            service(
                id="p", name="New", scope="local", service_types="advocacy", by_and_for="yes",
                delivery="in_person", easting=45000.0, northing=100000.0, force_code="F1",
                served_districts=("D1",), served_forces=("F1",),
            )
        ]
    )  # fmt: skip
    both = pd.concat([world, proposed], ignore_index=True)
    coverage_by_force(world, need=need, postcodes=postcodes)  # measured from scratch
    incremental = coverage_by_force(both, need=need, postcodes=postcodes)
    _LAST_DISTANCES.clear()
    pd.testing.assert_frame_equal(
        incremental, coverage_by_force(both, need=need, postcodes=postcodes)
    )


# --- maps ---------------------------------------------------------------------------------------


def run(*arguments: str) -> Any:
    return CliRunner().invoke(cli, ["plan", "-q", *arguments])


def test_the_with_map_places_the_proposal_among_towns_and_districts(
    tmp_path: Path, kent_postcode: str, canterbury_postcode: str
) -> None:
    path = write(
        tmp_path / "proposed.csv",
        "name,postcode,service_types\n"
        f"Maidstone Hub,{kent_postcode},advocacy\n"
        f"Hidden Refuge,{canterbury_postcode},refuge\n",
    )
    page = tmp_path / "what-if.html"
    result = run("--force", "Kent", "--with", str(path), "--map", str(page))
    assert result.exit_code == 0, result.output
    assert "In-person help within 10 km: 0% →" in result.output
    html = page.read_text(encoding="utf-8")
    assert external_references(html) == []
    # The public proposal is labelled with its postcode, district and nearest town.
    label = re.search(r"1\. Maidstone Hub \(([^)]*)\)", html)
    assert label is not None
    assert label.group(1).startswith(f"{kent_postcode}, Maidstone, ")
    assert "Maidstone" in label.group(1).split(", ")[2]
    # The confidential one is never placed (its row is counted, not drawn), here or in the text.
    assert "Hidden Refuge" not in html
    assert canterbury_postcode not in html and canterbury_postcode not in result.output
    from servicemap.geography.postcodes import compact_postcodes

    table = load_postcode_table()
    row = int(table.rows(compact_postcodes([canterbury_postcode]))[0])
    from servicemap.geography.geocode import wgs84_from_bng

    lon, lat = wgs84_from_bng([float(table.easting[row])], [float(table.northing[row])])
    assert f"{lat[0]:.4f}" not in html and f"{lon[0]:.4f}" not in html
    assert "1 confidential or unplaced proposal(s) are not shown." in html
    # Places to find it by: districts, postcode districts, towns, force outlines, shading.
    for text in ('"text": "Tonbridge and Malling"', '"text": "ME14"', '"text": "Canterbury"'):
        assert text in html
    assert "sm-plan-force" in html and "sm-plan-districts" in html and "sm-plan-reached" in html
    assert "GeoNames" in html and "CC BY 4.0" in html


def test_the_add_map_labels_each_site_with_its_postcode_district_and_town(tmp_path: Path) -> None:
    page = tmp_path / "plan.html"
    out = tmp_path / "plan.json"
    result = run("--force", "Kent", "--add", "2", "--map", str(page), "--format", "json",
                 "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    sites = json.loads(out.read_text(encoding="utf-8"))["sites"]
    html = page.read_text(encoding="utf-8")
    for site in sites:
        assert f"({site['site_postcode']}, {site['local_authority']}, " in html
    assert re.findall(r'"rank": (\d+)', html) == ["1", "2"]
    assert "sm-plan-reached" in html


def test_cost_needs_a_budget_on_the_command_line() -> None:
    result = run("--add", "2", "--cost", "5")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: --cost only works with --budget AMOUNT, not with --add N."
    )
