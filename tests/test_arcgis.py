from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from click.testing import CliRunner

from localserver import LocalServer, Reply, Request
from servicemap.cli import cli
from servicemap.errors import BoundaryFileError, DownloadError
from servicemap.geography._arcgis import (
    download_force_areas,
    layer_url,
    official_boundaries_path,
)
from servicemap.geography.forces import load_forces
from servicemap.settings import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "boundaries"
LAYER_PATH = "/arcgis/rest/services/PFA_DEC_{year}_EW_BUC/FeatureServer/0"
EARLIER = b'{"type": "FeatureCollection", "features": [], "note": "an earlier download"}'


@pytest.fixture(scope="module")
def features_2023() -> list[dict[str, Any]]:
    return json.loads((REFERENCE / "pfa_dec2023_ew_bsc.geojson").read_text())["features"]


@pytest.fixture(scope="module")
def features_2020() -> list[dict[str, Any]]:
    return json.loads((REFERENCE / "pfa_dec2020_ew_buc.geojson").read_text())["features"]


def arcgis(
    features: list[dict[str, Any]],
    *,
    page_cap: int = 10,
    nested: bool = False,
    faults: list[Reply] | None = None,
) -> Callable[[Request], Reply]:
    """Answer like an ArcGIS FeatureServer query: at most page_cap features per page."""
    pending = list(faults or [])

    def answer(request: Request) -> Reply:
        if pending:
            return pending.pop(0)
        offset = int(request.query.get("resultOffset", "0"))
        count = min(int(request.query.get("resultRecordCount", "2000")), page_cap)
        more = offset + count < len(features)
        page: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": features[offset : offset + count],
        }
        if nested:
            page["properties"] = {"exceededTransferLimit": more}
        elif more:
            page["exceededTransferLimit"] = True
        return Reply(json=page)

    return answer


def settings_for(server: LocalServer, tmp_path: Path, **changes: Any) -> Settings:
    options: dict[str, Any] = {
        "cache_dir": tmp_path / "cache",
        "timeout": 0.5,
        "retries": 2,
        "backoff": 0.01,
        "boundaries_url": server.url + LAYER_PATH.format(year="2023"),
    }
    options.update(changes)
    return Settings(**options)


def with_earlier_download(settings: Settings, vintage: str = "2023") -> Path:
    path = official_boundaries_path(vintage=vintage, settings=settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(EARLIER)
    return path


def assert_only_earlier_file(path: Path) -> None:
    assert path.read_bytes() == EARLIER
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("nested", [False, True], ids=["top-level-flag", "properties-flag"])
def test_download_pages_through_all_features_and_saves_43_forces(features_2023, tmp_path, nested):
    with LocalServer(arcgis(features_2023, nested=nested)) as server:
        settings = settings_for(server, tmp_path)
        path = download_force_areas(settings=settings)
    assert path == official_boundaries_path(settings=settings)
    assert [int(r.query["resultOffset"]) for r in server.requests] == [0, 10, 20, 30, 40]
    first = server.requests[0]
    assert first.path == LAYER_PATH.format(year="2023") + "/query"
    assert first.query["outSR"] == "4326"
    assert first.query["f"] == "geojson"
    assert first.query["where"] == "1=1"
    areas = gpd.read_file(path)
    assert len(areas) == 43
    assert areas.crs.to_epsg() == 4326
    assert list(areas["force_code"]) == sorted(load_forces()["code"])
    assert list(areas["PFA23CD"]) == list(areas["force_code"])
    assert areas.geometry.is_valid.all()
    names = dict(zip(areas["force_code"], areas["force_name"], strict=True))
    assert names["E23000001"] == "Metropolitan Police"


def test_download_replaces_an_earlier_file_on_success(features_2023, tmp_path):
    with LocalServer(arcgis(features_2023, page_cap=43)) as server:
        settings = settings_for(server, tmp_path)
        path = with_earlier_download(settings)
        download_force_areas(settings=settings)
    assert len(server.requests) == 1
    assert path.read_bytes() != EARLIER
    assert len(gpd.read_file(path)) == 43


def test_vintage_selects_the_matching_service_and_cache_file(features_2020, tmp_path):
    with LocalServer(arcgis(features_2020)) as server:
        settings = settings_for(server, tmp_path)
        path = download_force_areas(vintage="2020", settings=settings)
    assert server.requests[0].path == LAYER_PATH.format(year="2020") + "/query"
    assert path.name == "pfa_dec2020_ew_buc.geojson"
    areas = gpd.read_file(path)
    assert list(areas["PFA20CD"]) == sorted(load_forces()["code"])


def test_url_overrides_the_layer(features_2023, tmp_path):
    with LocalServer(arcgis(features_2023)) as server:
        settings = settings_for(server, tmp_path, boundaries_url="http://127.0.0.1:9/nowhere")
        mirror = server.url + "/mirror/FeatureServer/0/query"
        path = download_force_areas(url=mirror, settings=settings)
    assert {r.path for r in server.requests} == {"/mirror/FeatureServer/0/query"}
    assert len(gpd.read_file(path)) == 43


@pytest.mark.parametrize(
    "fault",
    [
        Reply(status=500),
        Reply(status=503),
        Reply(json={}, delay=1.0),
        Reply(drop=True),
        Reply(json={"type": "FeatureCollection", "features": []}, truncate=20),
        Reply(json={"error": {"code": 500, "message": "Unable to complete operation."}}),
    ],
    ids=["500", "503", "slow", "dropped", "truncated", "arcgis-error-500"],
)
def test_a_passing_fault_is_retried(features_2023, tmp_path, fault):
    with LocalServer(arcgis(features_2023, faults=[fault])) as server:
        settings = settings_for(server, tmp_path)
        path = download_force_areas(settings=settings)
    assert len(gpd.read_file(path)) == 43
    assert server.requests[0].query == server.requests[1].query  # the failed page asked again


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Reply(status=500), "HTTP 500"),
        (Reply(json={}, delay=1.0), "no answer within 0.5 s"),
        (Reply(drop=True), "connection failed"),
        (Reply(json={"features": []}, truncate=5), "the answer was not valid JSON"),
    ],
    ids=["500", "slow", "dropped", "truncated"],
)
def test_a_lasting_fault_fails_clearly_and_keeps_the_earlier_file(
    features_2023, tmp_path, fault, reason
):
    with LocalServer(arcgis(features_2023, faults=[fault] * 3)) as server:
        settings = settings_for(server, tmp_path)
        path = with_earlier_download(settings)
        with pytest.raises(DownloadError) as caught:
            download_force_areas(settings=settings)
    message = str(caught.value)
    assert "ONS Open Geography Portal" in message
    assert reason in message
    assert "after 3 attempts" in message
    assert "--url" in message
    assert "--boundaries derived" in message
    assert f"The earlier download {str(path)!r} is unchanged." in message
    assert len(server.requests) == 3
    assert_only_earlier_file(path)


def test_a_fault_on_a_later_page_keeps_the_earlier_file(features_2023, tmp_path):
    pages = arcgis(features_2023)

    def answer(request: Request) -> Reply:
        if request.query["resultOffset"] == "30":
            return Reply(status=500)
        return pages(request)

    with LocalServer(answer) as server:
        settings = settings_for(server, tmp_path)
        path = with_earlier_download(settings)
        with pytest.raises(DownloadError, match="HTTP 500"):
            download_force_areas(settings=settings)
    assert_only_earlier_file(path)


def without_code(feature: dict[str, Any]) -> dict[str, Any]:
    feature = copy.deepcopy(feature)
    feature["properties"]["CODE"] = feature["properties"].pop("PFA23CD")
    return feature


def with_code(code: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(feature: dict[str, Any]) -> dict[str, Any]:
        feature = copy.deepcopy(feature)
        if feature["properties"]["PFA23CD"] == "E23000002":
            feature["properties"]["PFA23CD"] = code
        return feature

    return change


def without_geometry(feature: dict[str, Any]) -> dict[str, Any]:
    feature = copy.deepcopy(feature)
    if feature["properties"]["PFA23CD"] == "E23000034":
        feature["geometry"] = None
    return feature


def in_metres(feature: dict[str, Any]) -> dict[str, Any]:
    feature = copy.deepcopy(feature)
    if feature["properties"]["PFA23CD"] == "E23000034":
        feature["geometry"] = {
            "type": "Polygon",
            "coordinates": [
                [[530000, 180000], [533000, 180000], [533000, 182000], [530000, 180000]]
            ],
        }
    return feature


@pytest.mark.parametrize(
    ("change", "keep", "message"),
    [
        (None, 42, "The downloaded boundaries have 42 features; expected 43"),
        (without_code, 43, "no code column like 'PFA23CD' (found: PFA23NM, CODE)"),
        (with_code("E23000099"), 43, "codes that are not police force areas: 'E23000099'"),
        (with_code("E23000001"), 43, "repeat the codes E23000001"),
        (without_geometry, 43, "no usable polygon for E23000034"),
        (in_metres, 43, "not in lon/lat"),
    ],
    ids=["42-features", "no-code-column", "unknown-code", "duplicate-code", "no-geometry", "bng"],
)
def test_bad_content_fails_clearly_and_keeps_the_earlier_file(
    features_2023, tmp_path, change, keep, message
):
    features = [change(f) if change else f for f in features_2023][:keep]
    with LocalServer(arcgis(features)) as server:
        settings = settings_for(server, tmp_path)
        path = with_earlier_download(settings)
        with pytest.raises(DownloadError, match=re.escape(message)):
            download_force_areas(settings=settings)
    assert_only_earlier_file(path)


def test_an_invalid_polygon_is_made_valid(features_2023, tmp_path):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[-0.11, 51.51], [-0.07, 51.52], [-0.07, 51.51], [-0.11, 51.52], [-0.11, 51.51]]
        ],
    }
    features = copy.deepcopy(features_2023)
    city = next(f for f in features if f["properties"]["PFA23CD"] == "E23000034")
    city["geometry"] = bowtie
    with LocalServer(arcgis(features)) as server:
        path = download_force_areas(settings=settings_for(server, tmp_path))
    areas = gpd.read_file(path).set_index("force_code")
    assert areas.geometry.is_valid.all()
    assert areas.geometry["E23000034"].geom_type in {"Polygon", "MultiPolygon"}
    assert areas.geometry["E23000034"].area > 0


def test_an_arcgis_error_answer_is_reported(features_2023, tmp_path):
    refusal = Reply(
        json={"error": {"code": 400, "message": "Invalid or missing input parameters."}}
    )
    with LocalServer(arcgis(features_2023, faults=[refusal])) as server:
        settings = settings_for(server, tmp_path)
        path = with_earlier_download(settings)
        with pytest.raises(
            DownloadError, match=r"Invalid or missing input parameters\. \(code 400\)"
        ):
            download_force_areas(settings=settings)
    assert len(server.requests) == 1
    assert_only_earlier_file(path)


def test_a_page_that_promises_more_but_is_empty_fails(tmp_path):
    promise = Reply(
        json={"type": "FeatureCollection", "features": [], "exceededTransferLimit": True}
    )
    with (
        LocalServer(lambda request: promise) as server,
        pytest.raises(DownloadError, match="said more features follow offset 0 but sent none"),
    ):
        download_force_areas(settings=settings_for(server, tmp_path))


def test_a_missing_service_is_refused_without_retry(tmp_path):
    with LocalServer(lambda request: Reply(status=404)) as server:
        settings = settings_for(server, tmp_path)
        with pytest.raises(
            DownloadError, match="refused the request .* HTTP 404.*Nothing was saved"
        ):
            download_force_areas(vintage="2019", settings=settings)
    assert len(server.requests) == 1
    assert server.requests[0].path == LAYER_PATH.format(year="2019") + "/query"


@pytest.mark.parametrize("vintage", ["23", "latest", "1999"])
def test_a_bad_vintage_is_refused(tmp_path, vintage):
    with pytest.raises(BoundaryFileError, match=f"Boundary vintage '{vintage}' is not a year"):
        official_boundaries_path(vintage=vintage, settings=Settings(cache_dir=tmp_path))


def test_layer_url_needs_a_url_for_other_vintages_of_a_custom_layer(tmp_path):
    settings = Settings(cache_dir=tmp_path, boundaries_url="https://example.org/FeatureServer/0")
    assert layer_url(settings=settings) == "https://example.org/FeatureServer/0"
    with pytest.raises(BoundaryFileError, match="pass that edition's FeatureServer layer URL"):
        layer_url(vintage="2021", settings=settings)


def test_cli_download_reports_where_it_saved(features_2023, tmp_path):
    cache = tmp_path / "cache"
    with LocalServer(arcgis(features_2023)) as server:
        url = server.url + LAYER_PATH.format(year="2023")
        result = CliRunner().invoke(
            cli, ["boundaries", "download", "--url", url, "--cache-dir", str(cache)]
        )
    assert result.exit_code == 0, result.output
    saved = cache / "boundaries" / "pfa_dec2023_ew_buc.geojson"
    assert result.output == f"Saved 43 police force areas (December 2023) to {saved}\n"
    assert len(gpd.read_file(saved)) == 43


def test_cli_download_failure_is_one_error_line(features_2023, tmp_path):
    cache = tmp_path / "cache"
    settings = Settings(cache_dir=cache)
    path = with_earlier_download(settings)
    with LocalServer(arcgis(features_2023[:42])) as server:
        url = server.url + LAYER_PATH.format(year="2023")
        result = CliRunner().invoke(
            cli, ["boundaries", "download", "--url", url, "--cache-dir", str(cache)]
        )
    assert result.exit_code == 1
    assert result.output == (
        "Error: The downloaded boundaries have 42 features; expected 43 (one per police force "
        "area). The service may have changed or sent a partial answer. Check your internet "
        "connection or proxy, or pass another layer URL with --url; meanwhile '--boundaries "
        f"derived' works offline. The earlier download {str(path)!r} is unchanged.\n"
    )
    assert_only_earlier_file(path)


def test_cli_rejects_a_bad_vintage(tmp_path):
    result = CliRunner().invoke(
        cli, ["boundaries", "download", "--vintage", "next", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: Boundary vintage 'next' is not a year;")
