"""The postcodes.io client against a local server (never the internet)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from localserver import LocalServer, Reply, Request
from servicemap.cli import cli
from servicemap.errors import DataQualityWarning, DownloadError
from servicemap.geography._postcodes_io import BATCH_SIZE, lookup_postcodes
from servicemap.geography.geocode import geocode_postcodes
from servicemap.settings import Settings

# A few real places, as postcodes.io describes them (trimmed to the fields we read).
PLACES: dict[str, dict[str, Any]] = {
    "UB1 3BL": {
        "postcode": "UB1 3BL",
        "eastings": 512838,
        "northings": 180174,
        "longitude": -0.375453,
        "latitude": 51.509238,
        "codes": {"admin_district": "E09000009"},
    },
    "EH1 1YZ": {
        "postcode": "EH1 1YZ",
        "eastings": 325597,
        "northings": 673676,
        "longitude": -3.193017,
        "latitude": 55.950332,
        "codes": {"admin_district": "S12000036"},
    },
    "BT1 1AA": {  # postcodes.io, like ONS, gives Irish Grid eastings in Northern Ireland
        "postcode": "BT1 1AA",
        "eastings": 333800,
        "northings": 374300,
        "longitude": -5.922285,
        "latitude": 54.602448,
        "codes": {"admin_district": "N09000003"},
    },
    "XX1 1XX": {
        "postcode": "XX1 1XX",
        "eastings": None,
        "northings": None,
        "longitude": None,
        "latitude": None,
        "codes": {"admin_district": None},
    },
}


def bulk(request: Request, places: dict[str, dict[str, Any]] | None = None) -> Reply:
    """Answer a bulk lookup the way postcodes.io does."""
    known = PLACES if places is None else places
    asked = request.json()["postcodes"]
    result = [{"query": p, "result": known.get(p)} for p in asked]
    return Reply(json={"status": 200, "result": result})


def settings_for(server: LocalServer, tmp_path: Path, **changes: Any) -> Settings:
    options: dict[str, Any] = {
        "postcodes_api_url": server.url,
        "cache_dir": tmp_path / "cache",
        "timeout": 2.0,
        "retries": 2,
        "backoff": 0.0,
    }
    options.update(changes)
    return Settings(**options)


def in_order(*replies: Reply) -> Callable[[Request], Reply]:
    """Give the replies one after another, then keep answering like postcodes.io."""
    queue = list(replies)

    def answer(request: Request) -> Reply:
        return queue.pop(0) if queue else bulk(request)

    return answer


def test_known_postcodes_come_back_with_places(tmp_path: Path) -> None:
    with LocalServer(bulk) as server:
        places = lookup_postcodes(["UB1 3BL", "EH1 1YZ"], settings=settings_for(server, tmp_path))
        request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/postcodes")
    assert request.json() == {"postcodes": ["UB1 3BL", "EH1 1YZ"]}
    assert request.headers["User-Agent"].startswith("servicemap/")
    assert places.loc["UB1 3BL"].to_dict() == {
        "easting": 512838.0,
        "northing": 180174.0,
        "latitude": 51.509238,
        "longitude": -0.375453,
        "district_code": "E09000009",
    }
    assert places.loc["EH1 1YZ", "district_code"] == "S12000036"


def test_more_than_100_postcodes_are_sent_in_batches_of_100(tmp_path: Path) -> None:
    many = {f"AB{i} 1AA": {**PLACES["UB1 3BL"], "postcode": f"AB{i} 1AA"} for i in range(250)}
    with LocalServer(lambda r: bulk(r, many)) as server:
        places = lookup_postcodes(list(many), settings=settings_for(server, tmp_path))
        sizes = [len(r.json()["postcodes"]) for r in server.requests]
    assert sizes == [BATCH_SIZE, BATCH_SIZE, 50]
    assert sorted(places.index) == sorted(many)


def test_duplicates_are_asked_for_once(tmp_path: Path) -> None:
    with LocalServer(bulk) as server:
        lookup_postcodes(["UB1 3BL", "UB1 3BL"], settings=settings_for(server, tmp_path))
        assert [r.json() for r in server.requests] == [{"postcodes": ["UB1 3BL"]}]


def test_unknown_postcodes_are_left_out(tmp_path: Path) -> None:
    with LocalServer(bulk) as server:
        places = lookup_postcodes(["UB1 3BL", "ZZ9 9ZZ"], settings=settings_for(server, tmp_path))
    assert list(places.index) == ["UB1 3BL"]


def test_geocode_online_gives_statuses_and_forces(tmp_path: Path) -> None:
    from functools import partial

    with LocalServer(bulk) as server:
        settings = settings_for(server, tmp_path)
        lookup = partial(lookup_postcodes, settings=settings)
        with pytest.warns(DataQualityWarning, match=r"1 is not a known postcode \(row 4"):
            geocoded = geocode_postcodes(
                ["ub13bl", "EH1 1YZ", "BT1 1AA", "ZZ9 9ZZ", "XX1 1XX"],
                settings=settings,
                lookup=lookup,
            )
    assert geocoded["status"].tolist() == [
        "ok",
        "outside_england_wales",
        "outside_england_wales",
        "unknown",
        "no_location",
    ]
    assert geocoded["force_code"].tolist() == ["E23000001", "", "", "", ""]
    # Belfast in BNG lies west of the GB grid's land (eastings near 147 km), not in Shropshire
    assert geocoded.loc[2, "easting"] == pytest.approx(146778, abs=100)


def test_a_server_error_then_success_is_retried(tmp_path: Path) -> None:
    with LocalServer(in_order(Reply(status=500))) as server:
        places = lookup_postcodes(["UB1 3BL"], settings=settings_for(server, tmp_path))
        assert len(server.requests) == 2
    assert list(places.index) == ["UB1 3BL"]


def test_an_answer_slower_than_the_timeout_is_an_error(tmp_path: Path) -> None:
    with LocalServer(lambda r: Reply(json={}, delay=1.0)) as server:
        settings = settings_for(server, tmp_path, timeout=0.2, retries=1)
        with pytest.raises(DownloadError, match=r"after 2 attempts: no answer within 0\.2 s"):
            lookup_postcodes(["UB1 3BL"], settings=settings)


def test_a_slow_answer_then_a_quick_one_succeeds(tmp_path: Path) -> None:
    slow = Reply(json={"status": 200, "result": []}, delay=1.0)
    with LocalServer(in_order(slow)) as server:
        settings = settings_for(server, tmp_path, timeout=0.2)
        places = lookup_postcodes(["UB1 3BL"], settings=settings)
    assert list(places.index) == ["UB1 3BL"]


def test_a_dropped_connection_is_retried(tmp_path: Path) -> None:
    with LocalServer(in_order(Reply(drop=True))) as server:
        places = lookup_postcodes(["UB1 3BL"], settings=settings_for(server, tmp_path))
    assert list(places.index) == ["UB1 3BL"]


def test_connections_that_always_drop_are_an_error(tmp_path: Path) -> None:
    with LocalServer(lambda r: Reply(drop=True)) as server:
        with pytest.raises(DownloadError, match=r"postcodes\.io .*after 3 attempts: connection"):
            lookup_postcodes(["UB1 3BL"], settings=settings_for(server, tmp_path))
        assert len(server.requests) == 3


def test_truncated_json_is_retried_then_an_error(tmp_path: Path) -> None:
    truncated = Reply(json={"status": 200, "result": [{"query": "UB1 3BL"}]}, truncate=20)
    with LocalServer(lambda r: truncated) as server:
        with pytest.raises(DownloadError, match="not valid JSON"):
            lookup_postcodes(["UB1 3BL"], settings=settings_for(server, tmp_path))
        assert len(server.requests) == 3
    assert not (tmp_path / "cache" / "postcodes.io").exists()


def test_an_answer_of_the_wrong_shape_is_an_error_and_not_cached(tmp_path: Path) -> None:
    wrong = Reply(json={"status": 200, "result": "nope"})
    with (
        LocalServer(lambda r: wrong) as server,
        pytest.raises(DownloadError, match="without the expected 'result' list"),
    ):
        lookup_postcodes(["UB1 3BL"], settings=settings_for(server, tmp_path))
    assert not (tmp_path / "cache" / "postcodes.io").exists()


def test_a_refused_request_is_an_error_at_once(tmp_path: Path) -> None:
    with LocalServer(lambda r: Reply(json={"error": "bad"}, status=400)) as server:
        with pytest.raises(DownloadError, match="refused the request"):
            lookup_postcodes(["UB1 3BL"], settings=settings_for(server, tmp_path))
        assert len(server.requests) == 1


def test_a_second_lookup_is_answered_from_the_cache(tmp_path: Path) -> None:
    with LocalServer(bulk) as server:
        settings = settings_for(server, tmp_path)
        first = lookup_postcodes(["UB1 3BL", "EH1 1YZ"], settings=settings)
        second = lookup_postcodes(["UB1 3BL", "EH1 1YZ"], settings=settings)
        assert len(server.requests) == 1
    pd.testing.assert_frame_equal(first, second)
    assert len(list((tmp_path / "cache" / "postcodes.io").glob("*.json"))) == 1


def test_the_cache_is_keyed_on_the_request(tmp_path: Path) -> None:
    with LocalServer(bulk) as server:
        settings = settings_for(server, tmp_path)
        lookup_postcodes(["UB1 3BL"], settings=settings)
        lookup_postcodes(["EH1 1YZ"], settings=settings)
        assert len(server.requests) == 2


def test_cache_false_always_asks(tmp_path: Path) -> None:
    with LocalServer(bulk) as server:
        settings = settings_for(server, tmp_path)
        lookup_postcodes(["UB1 3BL"], settings=settings, cache=False)
        lookup_postcodes(["UB1 3BL"], settings=settings, cache=False)
        assert len(server.requests) == 2
    assert not (tmp_path / "cache" / "postcodes.io").exists()


def test_a_damaged_cache_file_is_asked_again(tmp_path: Path) -> None:
    with LocalServer(bulk) as server:
        settings = settings_for(server, tmp_path)
        lookup_postcodes(["UB1 3BL"], settings=settings)
        (cached,) = (tmp_path / "cache" / "postcodes.io").glob("*.json")
        cached.write_text('{"status": 2')
        places = lookup_postcodes(["UB1 3BL"], settings=settings)
        assert len(server.requests) == 2
    assert list(places.index) == ["UB1 3BL"]


def test_cli_geocode_online_uses_the_api_url_and_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("postcode\nUB1 3BL\nZZ9 9ZZ\n")
    with LocalServer(bulk) as server:
        # The CLI has no URL flag; point the default settings at the local server.
        import servicemap.cli.options

        local = servicemap.cli.options.DEFAULT_SETTINGS.with_changes(
            postcodes_api_url=server.url, retries=0
        )
        monkeypatch.setattr(servicemap.cli.options, "DEFAULT_SETTINGS", local)
        args = ["geocode", str(source), "-o", str(tmp_path / "out.csv"), "--online"]
        result = CliRunner().invoke(cli, [*args, "--cache-dir", str(tmp_path / "cache")])
        assert len(server.requests) == 1
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[1:] == [
        "1 of 2 geocoded in England and Wales",
        "1 is not a known postcode (row 3: 'ZZ9 9ZZ')",
    ]
    assert list((tmp_path / "cache" / "postcodes.io").glob("*.json"))


def test_cli_geocode_online_failure_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("postcode\nUB1 3BL\n")
    with LocalServer(lambda r: Reply(status=503)) as server:
        import servicemap.cli.options

        local = servicemap.cli.options.DEFAULT_SETTINGS.with_changes(
            postcodes_api_url=server.url, retries=0, backoff=0.0
        )
        monkeypatch.setattr(servicemap.cli.options, "DEFAULT_SETTINGS", local)
        args = ["geocode", str(source), "-o", str(tmp_path / "out.csv"), "--online"]
        result = CliRunner().invoke(cli, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Could not get data from postcodes.io at ")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "out.csv").exists()
