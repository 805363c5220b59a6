from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from localserver import LocalServer, Reply, Request
from servicemap._data import data_path
from servicemap.cli import cli
from servicemap.errors import DataQualityWarning, DownloadError, NeedFileError
from servicemap.geography.forces import load_districts, load_forces
from servicemap.geography.need import (
    CENSUS_COLUMNS,
    NEED_COLUMNS,
    download_need,
    downloaded_need_path,
    load_district_successors,
    load_need,
    need_from_table,
    need_totals,
    need_with_totals,
)
from servicemap.settings import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "need"
MID2023_COLUMNS = ["population_mid2023", "females_16plus_mid2023"]


@pytest.fixture(scope="module")
def census_districts() -> pd.DataFrame:
    """Census 2021 TS004 per district (2021 codes, incl. the 19 abolished since)."""
    table = pd.read_csv(REFERENCE / "census2021_ts004_country_of_birth_3a_lad21_ew.csv")
    table = table[table["Geography area type"] == "Local Authority"]
    return pd.DataFrame(
        {
            "LAD21CD": table["Geography code"],
            "LAD21NM": table["Geography label"],
            "usual_residents_2021": table["Total"],
            "born_outside_uk_2021": table["Born outside the UK"],
        }
    ).reset_index(drop=True)


@pytest.fixture(scope="module")
def bundled() -> pd.DataFrame:
    return load_need()


def write_csv(tmp_path: Path, table: pd.DataFrame, name: str = "need.csv") -> Path:
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def force_table(bundled: pd.DataFrame) -> pd.DataFrame:
    return bundled.reset_index()[["force_code", *NEED_COLUMNS]].astype(str)


# --- the bundled table --------------------------------------------------------------------


def test_bundled_need_has_all_43_forces_as_int_columns(bundled):
    forces = load_forces()
    assert list(bundled.index) == list(forces["code"])
    assert list(bundled["force_name"]) == list(forces["name"])
    assert list(bundled.columns) == ["force_name", *NEED_COLUMNS]
    assert all(str(bundled[c].dtype) == "int64" for c in NEED_COLUMNS)


def test_bundled_census_columns_equal_ons_per_force(bundled):
    ons = pd.read_csv(REFERENCE / "pfa_census2021_country_of_birth.csv").set_index("PFA24CD")
    ons = ons.reindex(bundled.index)
    assert (bundled["usual_residents_2021"] == ons["usual_residents"]).all()
    assert (bundled["born_outside_uk_2021"] == ons["born_outside_uk"]).all()


def test_bundled_mid2023_columns_equal_ons_per_force(bundled):
    ons = pd.read_csv(REFERENCE / "pfa_mye2023_population.csv").set_index("PFA24CD")
    ons = ons.reindex(bundled.index)
    assert (bundled[MID2023_COLUMNS] == ons[MID2023_COLUMNS]).all().all()


def test_need_totals_match_the_england_and_wales_figures(bundled):
    totals = need_totals(bundled)
    assert totals.name == "England and Wales"
    mye = pd.read_csv(REFERENCE / "mye2023_population_lad23_ew.csv").set_index("Code")
    assert totals["population_mid2023"] == mye.at["K04000001", "All ages"]
    assert totals["females_16plus_mid2023"] == mye.at["K04000001", "Females: Aged 16 and over"]
    census = pd.read_csv(REFERENCE / "census2021_ts004_country_of_birth_3a_lad21_ew.csv")
    country = census.set_index("Geography code").loc["K04000001"]
    # Census cells are perturbed per geography: force sums differ from the E&W cell by < 0.001 %.
    assert abs(totals["usual_residents_2021"] - country["Total"]) < 1e-5 * country["Total"]
    assert (
        abs(totals["born_outside_uk_2021"] - country["Born outside the UK"])
        < 1e-5 * country["Born outside the UK"]
    )


def test_need_with_totals_appends_one_england_and_wales_row(bundled):
    table = need_with_totals(bundled)
    assert list(table.index[:-1]) == list(bundled.index)
    assert table.index[-1] == "K04000001"
    assert table.loc["K04000001", "force_name"] == "England and Wales"
    assert table.loc["K04000001", "population_mid2023"] == bundled["population_mid2023"].sum()
    assert len(bundled) == 43  # the input is not changed


# --- a user's table keyed by force --------------------------------------------------------


def test_a_force_table_round_trips(bundled, tmp_path):
    path = write_csv(tmp_path, force_table(bundled))
    pd.testing.assert_frame_equal(load_need(path), bundled)


def test_a_force_table_may_use_ons_column_names_commas_and_any_order(bundled, tmp_path):
    table = force_table(bundled).iloc[::-1]
    table = table.rename(
        columns={"force_code": "PFA23CD", "population_mid2023": "Population mid2023"}
    )
    table["Population mid2023"] = [f"{int(v):,}" for v in table["Population mid2023"]]
    table.insert(1, "notes", "")
    table.loc[len(table) + 5] = [""] * len(table.columns)  # a blank row, as spreadsheets have
    pd.testing.assert_frame_equal(load_need(write_csv(tmp_path, table)), bundled)


def test_an_xlsx_force_table_is_read(bundled, tmp_path):
    path = tmp_path / "need.xlsx"
    bundled.reset_index()[["force_code", *NEED_COLUMNS]].to_excel(path, index=False)
    pd.testing.assert_frame_equal(load_need(path), bundled)


def test_missing_need_columns_are_nan_with_a_warning(bundled, tmp_path):
    path = write_csv(tmp_path, force_table(bundled)[["force_code", "population_mid2023"]])
    with pytest.warns(
        DataQualityWarning,
        match=r"has no column 'usual_residents_2021', 'born_outside_uk_2021', "
        r"'females_16plus_mid2023'; left empty \(NaN\)",
    ):
        need = load_need(path)
    assert (need["population_mid2023"] == bundled["population_mid2023"]).all()
    assert need[["usual_residents_2021", "born_outside_uk_2021"]].isna().all().all()
    assert need_totals(need).isna().sum() == 3


# --- a user's table keyed by district -----------------------------------------------------


def test_census_districts_with_2021_codes_sum_to_the_bundled_forces(
    bundled, census_districts, tmp_path
):
    path = write_csv(tmp_path, census_districts)
    with pytest.warns(DataQualityWarning, match="'population_mid2023', 'females_16plus_mid2023'"):
        need = load_need(path)
    assert (need[CENSUS_COLUMNS] == bundled[CENSUS_COLUMNS]).all().all()
    assert need[MID2023_COLUMNS].isna().all().all()


def test_census_districts_as_published_skip_regions_and_countries(bundled, tmp_path):
    published = pd.read_csv(REFERENCE / "census2021_ts004_country_of_birth_3a_lad21_ew.csv")
    table = published.rename(
        columns={"Total": "usual_residents_2021", "Born outside the UK": "born_outside_uk_2021"}
    )
    path = write_csv(tmp_path, table)
    with pytest.warns(DataQualityWarning) as caught:
        need = load_need(path)
    messages = [str(w.message) for w in caught]
    assert any("skipped 12 rows for countries, regions or counties" in m for m in messages)
    assert (need[CENSUS_COLUMNS] == bundled[CENSUS_COLUMNS]).all().all()


def test_mid2023_districts_with_counties_sum_to_the_bundled_forces(bundled, tmp_path):
    mye = pd.read_csv(REFERENCE / "mye2023_population_lad23_ew.csv")
    table = mye.rename(
        columns={
            "All ages": "population_mid2023",
            "Females: Aged 16 and over": "females 16plus mid2023",
        }
    )[["Code", "Name", "population_mid2023", "females 16plus mid2023"]]
    path = tmp_path / "mye.xlsx"
    table.to_excel(path, index=False)
    with pytest.warns(DataQualityWarning):
        need = load_need(path)
    assert (need[MID2023_COLUMNS] == bundled[MID2023_COLUMNS]).all().all()


def test_current_district_codes_work_too(bundled, census_districts):
    successors = load_district_successors().set_index("old_code")["new_code"]
    current = census_districts.assign(code=census_districts["LAD21CD"].replace(successors))
    current = current.groupby("code", as_index=False)[CENSUS_COLUMNS].sum()
    assert set(current["code"]) == set(load_districts()["code"])
    with pytest.warns(DataQualityWarning, match="population_mid2023"):
        need = need_from_table(current)
    assert (need[CENSUS_COLUMNS] == bundled[CENSUS_COLUMNS]).all().all()


def test_successor_table_maps_the_19_abolished_codes_into_the_register():
    successors = load_district_successors()
    assert len(successors) == 19
    districts = set(load_districts()["code"])
    assert set(successors["new_code"]) <= districts
    assert not set(successors["old_code"]) & districts
    assert successors["legislation"].str.contains(r"\(SI 20\d\d/\d+\)").all()


# --- bad tables -----------------------------------------------------------------------------


def census_with(census: pd.DataFrame, **edits: Any) -> pd.DataFrame:
    table = census.astype(str)
    for where, value in edits.items():
        row, column = where.rsplit("__", 1)
        table.loc[int(row.removeprefix("r")), column] = value
    return table


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"r3__LAD21CD": "E07999999"},
            "row 5, column 'LAD21CD': 'E07999999' is not a local authority district code",
        ),
        (
            {"r3__LAD21CD": "E23000001"},
            "row 5, column 'LAD21CD': 'E23000001' is not a local authority district code (2025 "
            "codes, or the 2021–2023 codes of districts merged since); it is a police force code: "
            "put force figures in a table of their own keyed by a 'force_code' column, or correct "
            "or delete the row.",
        ),
        ({"r3__LAD21CD": " "}, "row 5, column 'LAD21CD' is empty; fill in the code"),
        (
            {"r0__born_outside_uk_2021": "n/a"},
            "row 2, column 'born_outside_uk_2021': 'n/a' is not a number; enter a whole number "
            "of people (0 or more).",
        ),
        (
            {"r9__usual_residents_2021": "-4"},
            "row 11, column 'usual_residents_2021': '-4' is negative",
        ),
        (
            {"r9__usual_residents_2021": "1200.5"},
            "row 11, column 'usual_residents_2021': '1200.5' is not a whole number",
        ),
        ({"r9__usual_residents_2021": ""}, "row 11, column 'usual_residents_2021': '' is empty"),
        (
            {"r4__LAD21CD": "E06000001"},
            "row 6, column 'LAD21CD': 'E06000001' appears again (first on row 2); keep one row "
            "per code",
        ),
        (
            {"r0__usual_residents_2021": "x", "r1__usual_residents_2021": "y", "r2__LAD21CD": "?"},
            "row 2, column 'usual_residents_2021': 'x' is not a number; enter a whole number of "
            "people (0 or more) (and 2 more problems).",
        ),
    ],
    ids=[
        "unknown",
        "force-code",
        "empty-code",
        "text",
        "negative",
        "fraction",
        "empty-value",
        "duplicate",
        "several",
    ],
)
def test_a_bad_district_value_names_file_row_column_value_and_fix(
    census_districts, tmp_path, edit, message
):
    path = write_csv(tmp_path, census_with(census_districts, **edit))
    with pytest.raises(NeedFileError, match=re.escape(f"Need file {str(path)!r}, {message}")):
        load_need(path)


def test_missing_districts_are_listed(census_districts, tmp_path):
    table = census_districts[~census_districts["LAD21CD"].isin(["E06000001", "W06000001"])]
    path = write_csv(tmp_path, table)
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r} has no rows for 2 districts: E06000001 Hartlepool, "
            "W06000001 Isle of Anglesey (in 2 police force areas: E23000013, W15000001); add "
            "them, or give one row per force with a 'force_code' column."
        ),
    ):
        load_need(path)


def test_only_some_districts_of_a_merged_district_is_an_error(census_districts, tmp_path):
    path = write_csv(tmp_path, census_districts[census_districts["LAD21CD"] != "E07000026"])
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            "has rows for some of the districts that became 'E06000063' Cumberland but not for "
            "E07000026 Allerdale; add them, or one row for 'E06000063'."
        ),
    ):
        load_need(path)


def test_a_merged_district_and_its_successor_together_is_an_error(census_districts, tmp_path):
    extra = pd.DataFrame(
        [{"LAD21CD": "E06000063", "usual_residents_2021": 1, "born_outside_uk_2021": 0}]
    )
    path = write_csv(tmp_path, pd.concat([census_districts, extra], ignore_index=True))
    row = 2 + int(census_districts.index[census_districts["LAD21CD"] == "E07000026"][0])
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"row {row}: 'E07000026' Allerdale is part of 'E06000063' Cumberland, which has its "
            f"own row {len(census_districts) + 2}; keep one or the other"
        ),
    ):
        load_need(path)


def test_missing_forces_are_listed(bundled, tmp_path):
    table = force_table(bundled)
    table = table[~table["force_code"].isin(["E23000001", "W15000004"])]
    path = write_csv(tmp_path, table)
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r} has no rows for 2 police force areas: "
            "E23000001 Metropolitan Police, W15000004 Dyfed-Powys; add a row for each."
        ),
    ):
        load_need(path)


def test_an_unknown_force_code_is_named(bundled, tmp_path):
    table = force_table(bundled)
    table.loc[5, "force_code"] = "E23000099"
    path = write_csv(tmp_path, table)
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r}, row 7, column 'force_code': 'E23000099' is not a police "
            "force area code (E23…/W15…; see 'servicemap forces'); correct or delete the row."
        ),
    ):
        load_need(path)


def test_a_table_without_a_code_column_is_refused(bundled, tmp_path):
    path = write_csv(tmp_path, force_table(bundled).rename(columns={"force_code": "force"}))
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r} has no code column (found: force, usual_residents_2021, "
            "born_outside_uk_2021, population_mid2023, females_16plus_mid2023); name the column "
            "of police force codes 'force_code' (E23…/W15…) or of district codes 'district_code'."
        ),
    ):
        load_need(path)


def test_a_table_without_need_columns_is_refused(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"code": ["E23000001"], "people": ["5"]}))
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r} has none of the need columns usual_residents_2021, "
            "born_outside_uk_2021, population_mid2023, females_16plus_mid2023 (found: code, "
            "people); rename the columns to these names."
        ),
    ):
        load_need(path)


def test_a_file_that_is_not_a_table_is_refused(tmp_path):
    json_file = tmp_path / "need.json"
    json_file.write_text("{}")
    with pytest.raises(NeedFileError, match=r"is not a CSV or XLSX file \(suffix '\.json'\)"):
        load_need(json_file)
    broken = tmp_path / "need.xlsx"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(NeedFileError, match=r"could not be read as an Excel workbook .* or XLSX"):
        load_need(broken)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(NeedFileError, match="does not exist; check the --need path"):
        load_need(tmp_path / "nowhere.csv")


def test_cli_need_show_prints_forces_and_total():
    result = CliRunner().invoke(cli, ["need", "show", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "force_code,force_name," + ",".join(NEED_COLUMNS)
    assert len(lines) == 1 + 43 + 1
    assert lines[-1].startswith("K04000001,England and Wales,59597490,10017910,60854727,")


def test_cli_need_show_reports_a_bad_file_in_one_line(bundled, tmp_path):
    table = force_table(bundled)
    table.loc[0, "population_mid2023"] = "lots"
    path = write_csv(tmp_path, table)
    result = CliRunner().invoke(cli, ["need", "show", "--need", str(path)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Need file {str(path)!r}, row 2, column 'population_mid2023': 'lots' is not a "
        "number; enter a whole number of people (0 or more).\n"
    )


# --- Nomis refresh --------------------------------------------------------------------------


def nomis_observations(census: pd.DataFrame) -> list[dict[str, Any]]:
    """TS004 as Nomis's .data.json 'obs' list: total (0) and born in the UK (1) per district."""
    observations = []
    for row in census.itertuples(index=False):
        born_in_uk = int(row.usual_residents_2021) - int(row.born_outside_uk_2021)
        for category, value, label in (
            (0, int(row.usual_residents_2021), "Total: All usual residents"),
            (1, born_in_uk, "Europe: United Kingdom"),
        ):
            observations.append(
                {
                    "dataset": {"value": "NM_2024_1", "description": "TS004 - Country of birth"},
                    "geography": {"value": 1, "description": row.LAD21NM, "geogcode": row.LAD21CD},
                    "c2021_cob_12": {"value": category, "description": label},
                    "measures": {"value": 20100, "description": "Value"},
                    "obs_value": {"value": value},
                    "obs_status": {"value": "A", "description": "Normal Value"},
                }
            )
    for offset, item in enumerate(observations):
        item["record_offset"] = offset
        item["record_count"] = len(observations)
    return observations


def nomis(observations: list[dict[str, Any]], *, page_cap: int = 200, faults: list[Reply] = ()):
    pending = list(faults)

    def answer(request: Request) -> Reply:
        if pending:
            return pending.pop(0)
        offset = int(request.query.get("recordoffset", "0"))
        limit = min(int(request.query.get("recordlimit", "25000")), page_cap)
        return Reply(json={"obs": observations[offset : offset + limit]})

    return answer


def nomis_settings(server: LocalServer, tmp_path: Path) -> Settings:
    return Settings(
        cache_dir=tmp_path / "cache",
        nomis_url=server.url + "/api/v01",
        timeout=0.5,
        retries=2,
        backoff=0.01,
    )


EARLIER = b"force_code,force_name\nan earlier download\n"


def with_earlier_download(settings: Settings) -> Path:
    path = downloaded_need_path(settings=settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(EARLIER)
    return path


def test_need_download_pages_through_nomis_and_saves_a_usable_table(
    bundled, census_districts, tmp_path
):
    bundled_bytes = data_path("need", "force_need.csv").read_bytes()
    with LocalServer(nomis(nomis_observations(census_districts))) as server:
        settings = nomis_settings(server, tmp_path)
        path = download_need(settings=settings)
    assert path == tmp_path / "cache" / "need" / "force_need.csv"
    assert [int(r.query["recordoffset"]) for r in server.requests] == [0, 200, 400, 600]
    first = server.requests[0]
    assert first.path == "/api/v01/dataset/NM_2024_1.data.json"
    assert first.query["c2021_cob_12"] == "0,1"
    assert first.query["measures"] == "20100"
    assert first.query["geography"] == "TYPE154"
    pd.testing.assert_frame_equal(load_need(path), bundled)
    assert data_path("need", "force_need.csv").read_bytes() == bundled_bytes


def test_need_download_replaces_only_the_census_columns(bundled, census_districts, tmp_path):
    changed = census_districts.copy()
    changed.loc[changed["LAD21CD"] == "E09000001", "born_outside_uk_2021"] += 100  # City of London
    with LocalServer(nomis(nomis_observations(changed))) as server:
        path = download_need(settings=nomis_settings(server, tmp_path))
    need = load_need(path)
    assert (
        need.at["E23000034", "born_outside_uk_2021"]
        == bundled.at["E23000034", "born_outside_uk_2021"] + 100
    )
    assert (need[MID2023_COLUMNS] == bundled[MID2023_COLUMNS]).all().all()
    assert (need.drop(index="E23000034") == bundled.drop(index="E23000034")).all().all()


def test_need_download_retries_a_500(bundled, census_districts, tmp_path):
    with LocalServer(
        nomis(nomis_observations(census_districts), faults=[Reply(status=500)])
    ) as server:
        path = download_need(settings=nomis_settings(server, tmp_path))
    assert len(server.requests) == 5
    pd.testing.assert_frame_equal(load_need(path), bundled)


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        ([Reply(status=500)] * 3, "after 3 attempts: HTTP 500"),
        ([Reply(json={"obs": []}, truncate=4)] * 3, "the answer was not valid JSON"),
        (
            [Reply(json={"error": "Cannot create query"})],
            "answered with an error: Cannot create query",
        ),
        ([Reply(json={"rows": []})], "sent an answer without an 'obs' list"),
    ],
    ids=["500", "truncated", "nomis-error", "no-obs"],
)
def test_need_download_failure_keeps_the_earlier_file(census_districts, tmp_path, faults, reason):
    with LocalServer(nomis(nomis_observations(census_districts), faults=faults)) as server:
        settings = nomis_settings(server, tmp_path)
        path = with_earlier_download(settings)
        with pytest.raises(DownloadError) as caught:
            download_need(settings=settings)
    message = str(caught.value)
    assert reason in message
    assert "--url" in message
    assert message.endswith(f"The earlier download {str(path)!r} is unchanged.")
    assert path.read_bytes() == EARLIER
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_need_download_with_missing_districts_fails(census_districts, tmp_path):
    partial = census_districts[census_districts["LAD21CD"] != "E06000001"]
    with LocalServer(nomis(nomis_observations(partial))) as server:
        settings = nomis_settings(server, tmp_path)
        with pytest.raises(
            DownloadError,
            match=re.escape(
                "The Nomis download has no rows for 1 district: E06000001 Hartlepool (in 1 "
                "police force area: E23000013); add them"
            ),
        ):
            download_need(settings=settings)
    assert not downloaded_need_path(settings=settings).exists()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"obs_value": {"value": None}}, "sent None for E06000001, not a count of people"),
        ({"obs_value": {"value": -3}}, "sent a negative count (-3) for E06000001"),
        ({"geography": {"description": "Hartlepool"}}, "an observation in an unexpected shape"),
    ],
    ids=["null", "negative", "no-code"],
)
def test_need_download_rejects_bad_observations(census_districts, tmp_path, change, reason):
    observations = nomis_observations(census_districts)
    observations[0] = {**observations[0], **change}
    with (
        LocalServer(nomis(observations)) as server,
        pytest.raises(DownloadError, match=re.escape(reason)),
    ):
        download_need(settings=nomis_settings(server, tmp_path))


def test_need_download_rejects_a_category_that_is_missing(census_districts, tmp_path):
    observations = [
        o
        for o in nomis_observations(census_districts)
        if o["geography"]["geogcode"] != "E06000002" or o["c2021_cob_12"]["value"] == 0
    ]
    with (
        LocalServer(nomis(observations)) as server,
        pytest.raises(DownloadError, match="sent only one of the two counts for E06000002"),
    ):
        download_need(settings=nomis_settings(server, tmp_path))


def test_cli_need_download_says_how_to_use_the_table(census_districts, tmp_path):
    cache = tmp_path / "cache"
    with LocalServer(nomis(nomis_observations(census_districts))) as server:
        result = CliRunner().invoke(
            cli, ["need", "download", "--url", server.url + "/api/v01", "--cache-dir", str(cache)]
        )
    assert result.exit_code == 0, result.output
    saved = cache / "need" / "force_need.csv"
    assert result.output == (
        f"Saved Census 2021 need figures for 43 police force areas to {saved}\n"
        f"Use them with: --need {saved}\n"
    )


def test_cli_need_download_failure_is_one_error_line(census_districts, tmp_path):
    cache = tmp_path / "cache"
    partial = census_districts[census_districts["LAD21CD"] != "W06000001"]
    with LocalServer(nomis(nomis_observations(partial))) as server:
        result = CliRunner().invoke(
            cli, ["need", "download", "--url", server.url + "/api/v01", "--cache-dir", str(cache)]
        )
    assert result.exit_code == 1
    assert result.output == (
        "Error: The Nomis download has no rows for 1 district: W06000001 Isle of Anglesey "
        "(in 1 police force area: W15000001); add them, or give one row per force with a "
        "'force_code' column. Check your internet connection or proxy, or pass the Nomis API "
        "address with --url; the bundled figures (used without --need) are unaffected. "
        "Nothing was saved.\n"
    )


# --- impossible figures and broken files (issue 9) ---------------------------------------------

ENTER = "enter a whole number of people (0 or more)."


def edited_force_table(bundled: pd.DataFrame, tmp_path: Path, **values: str) -> Path:
    """Write the bundled force table with row 2 (the first force) changed."""
    table = force_table(bundled)
    for column, value in values.items():
        table.loc[0, column] = value
    return write_csv(tmp_path, table)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "usual_residents_2021",
            "1e300",
            "'1e300' is more than 100,000,000 people (England and Wales have about 61 "
            f"million); {ENTER}",
        ),
        (
            "born_outside_uk_2021",
            "9" * 5000,
            "'9999999999999999999999999999999999999'… (5,000 characters) is more than "
            "100,000,000 people",
        ),
        ("population_mid2023", "inf", f"'inf' is not a number; {ENTER}"),
        ("population_mid2023", "-Infinity", f"'-Infinity' is not a number; {ENTER}"),
        ("females_16plus_mid2023", "NaN", f"'NaN' is not a number; {ENTER}"),
        ("females_16plus_mid2023", "-1", f"'-1' is negative; {ENTER}"),
        ("usual_residents_2021", "1234.5", f"'1234.5' is not a whole number; {ENTER}"),
    ],
    ids=["1e300", "5000-digits", "inf", "minus-infinity", "nan", "negative", "fraction"],
)
def test_a_count_that_cannot_be_people_names_row_column_value_and_fix(
    bundled, tmp_path, column, value, message
):
    path = edited_force_table(bundled, tmp_path, **{column: value})
    where = f"Need file {str(path)!r}, row 2, column {column!r}: "
    with pytest.raises(NeedFileError, match=re.escape(where + message)):
        load_need(path)


def test_a_whole_number_in_exponent_form_is_a_count(bundled, tmp_path):
    path = edited_force_table(bundled, tmp_path, females_16plus_mid2023="2.5e3")
    assert load_need(path).loc["E23000001", "females_16plus_mid2023"] == 2500


def test_more_born_abroad_than_residents_is_an_error(bundled, tmp_path):
    residents = int(bundled.loc["E23000001", "usual_residents_2021"])
    path = edited_force_table(bundled, tmp_path, born_outside_uk_2021=str(5 * residents))
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r}, row 2: column 'born_outside_uk_2021' ({5 * residents:,}) "
            f"is more than column 'usual_residents_2021' ({residents:,}), a 500% share; people "
            "born outside the UK are counted among residents, so there cannot be more of them: "
            "check that the columns are not swapped or shifted."
        ),
    ):
        load_need(path)


def test_more_women_aged_16_plus_than_people_is_an_error(bundled, tmp_path):
    path = edited_force_table(bundled, tmp_path, females_16plus_mid2023="99999999")
    with pytest.raises(
        NeedFileError,
        match=r"row 2: column 'females_16plus_mid2023' \(99,999,999\) is more than column "
        r"'population_mid2023' \([\d,]+\), a \d+% share; women and girls aged 16\+ are counted "
        r"among the population",
    ):
        load_need(path)


def test_a_district_with_more_born_abroad_than_residents_is_named(census_districts, tmp_path):
    path = write_csv(
        tmp_path,
        census_with(
            census_districts, r4__usual_residents_2021="100", r4__born_outside_uk_2021="500"
        ),
    )
    with pytest.raises(
        NeedFileError, match=re.escape("row 6: column 'born_outside_uk_2021' (500) is more than")
    ):
        load_need(path)


def test_no_residents_is_an_error(bundled, tmp_path):
    path = edited_force_table(bundled, tmp_path, usual_residents_2021="0", born_outside_uk_2021="0")
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r}, row 2, column 'usual_residents_2021': '0' is no residents, "
            "but every police force area and district has some; enter the number of people who "
            "live there."
        ),
    ):
        load_need(path)


def test_a_force_area_with_nobody_in_a_group_is_an_error(bundled, tmp_path):
    path = edited_force_table(bundled, tmp_path, born_outside_uk_2021="0")
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r} gives 0 in column 'born_outside_uk_2021' for 1 police force "
            "area: E23000001 Metropolitan Police; every force area has people in each group, and "
            "rates per person need them: correct the figures."
        ),
    ):
        load_need(path)


def test_two_columns_for_the_same_figure_are_refused(bundled, tmp_path):
    table = force_table(bundled)
    table.insert(2, "Usual residents 2021", table["usual_residents_2021"])
    path = write_csv(tmp_path, table)
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(path)!r} has two columns for 'usual_residents_2021': "
            "'usual_residents_2021' and 'Usual residents 2021'; keep one of them (delete or "
            "rename the other)."
        ),
    ):
        load_need(path)


def test_the_same_column_name_twice_is_refused(bundled, tmp_path):
    path = tmp_path / "need.csv"
    text = write_csv(tmp_path, force_table(bundled)).read_text()
    header, rest = text.split("\n", 1)
    path.write_text(header.replace("population_mid2023", "born_outside_uk_2021") + "\n" + rest)
    with pytest.raises(
        NeedFileError,
        match="has two columns for 'born_outside_uk_2021': 'born_outside_uk_2021' and",
    ):
        load_need(path)


def test_a_workbook_with_cut_off_xml_is_refused(bundled, tmp_path):
    import zipfile

    whole = tmp_path / "whole.xlsx"
    force_table(bundled).to_excel(whole, index=False)
    broken = tmp_path / "need.xlsx"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(broken, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data[: len(data) // 2] if name.endswith("sheet1.xml") else data)
    with pytest.raises(
        NeedFileError,
        match=re.escape(
            f"Need file {str(broken)!r} could not be read as an Excel workbook: it is damaged "
            "(ParseError: "
        )
        + r".*\); open it in Excel and save it again as XLSX",
    ):
        load_need(broken)


def test_a_csv_with_a_ragged_row_is_one_line(bundled, tmp_path):
    path = write_csv(tmp_path, force_table(bundled))
    path.write_text(path.read_text() + "E23000001,1,2,3,4,5,6\n")
    with pytest.raises(
        NeedFileError, match=r"could not be read as CSV \(Error tokenizing data\."
    ) as caught:
        load_need(path)
    assert "\n" not in str(caught.value)


SMALL_SERVICES = Path(__file__).parent / "data" / "malformed" / "utf8_bom.csv"


@pytest.mark.parametrize(
    "command", [["need", "show"], ["coverage", "--services", str(SMALL_SERVICES)]]
)
def test_cli_refuses_an_impossible_need_table_in_one_line(bundled, tmp_path, command):
    path = edited_force_table(bundled, tmp_path, usual_residents_2021="1e300")
    result = CliRunner().invoke(cli, [*command, "--need", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.splitlines()[-1] == (
        f"Error: Need file {str(path)!r}, row 2, column 'usual_residents_2021': '1e300' is more "
        f"than 100,000,000 people (England and Wales have about 61 million); {ENTER}"
    )
