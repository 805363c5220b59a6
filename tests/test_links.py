"""check-links against a local HTTP server on 127.0.0.1: answers, redirects, failures."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from localserver import LocalServer, Reply, Request
from servicemap.cli import cli
from servicemap.directory.links import check_links
from servicemap.directory.load import load_services
from servicemap.settings import DEFAULT_SETTINGS

FAST = DEFAULT_SETTINGS.with_changes(timeout=0.5, retries=2, backoff=0.01, user_agent="")
PATHS = ("ok", "moved", "missing", "broken", "dropped", "slow", "flaky")


class Answers:
    """The server's behaviour per path; records how many requests were in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.flaky = 0

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(0.05)  # long enough for requests to overlap
            return self._reply(request.path.strip("/"))
        finally:
            with self.lock:
                self.in_flight -= 1

    def _reply(self, path: str) -> Reply:
        if path == "moved":
            return Reply(status=301, headers={"Location": "/ok"})
        if path == "missing":
            return Reply(status=404)
        if path == "broken":
            return Reply(status=500)
        if path == "dropped":
            return Reply(drop=True)
        if path == "slow":
            return Reply(delay=2.0)
        if path == "flaky":
            self.flaky += 1
            return Reply(status=503) if self.flaky == 1 else Reply(json={})
        return Reply(json={"ok": True})


def _directory(tmp_path: Path, base: str, paths=PATHS) -> Path:
    lines = ["id,name,scope,website,source_url"]
    for n, path in enumerate(paths):
        lines.append(f"s{n},Service {path},national,{base}/{path},{base}/{path}")
    file = tmp_path / "dir.csv"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return file


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    answers = Answers()
    with LocalServer(answers) as server:
        path = _directory(tmp_path_factory.mktemp("links"), server.url)
        services = load_services(path, warn=False)
        report = check_links(services, concurrency=3, settings=FAST)
    return report, answers, server


def test_every_link_is_reported_once_per_service_field(checked):
    report, _, _ = checked
    assert len(report) == 2 * len(PATHS)
    assert list(report["field"][:2]) == ["website", "source_url"]


@pytest.mark.parametrize(
    ("path", "outcome", "status", "detail", "attempts"),
    [
        ("ok", "answered", 200, "HTTP 200", 1),
        ("moved", "redirected", 200, "HTTP 200 after 1 redirect(s)", 1),
        ("missing", "failed", 404, "HTTP 404", 1),  # a 404 is not retried
        ("broken", "failed", 500, "HTTP 500", 3),  # 1 + 2 retries
        ("dropped", "failed", 0, "connection failed or dropped", 3),
        ("slow", "failed", 0, "no answer within 0.5 s", 3),
        ("flaky", "answered", 200, "HTTP 200", 2),  # a 503 then an answer
    ],
)
def test_outcomes(checked, path, outcome, status, detail, attempts):
    report, _, _ = checked
    row = report[report["url"].str.endswith("/" + path)].iloc[0]
    assert (row["outcome"], row["status"], row["detail"], row["attempts"]) == (
        outcome,
        status,
        detail,
        attempts,
    )


def test_a_redirect_says_where_it_ends(checked):
    report, _, server = checked
    row = report[report["url"].str.endswith("/moved")].iloc[0]
    assert row["final_url"] == server.url + "/ok"


def test_each_url_is_fetched_once_with_servicemaps_user_agent(checked):
    _, _, server = checked
    first_tries = [r for r in server.requests if r.path == "/ok"]
    assert len(first_tries) == 2  # once for itself, once as the end of the redirect
    agents = {r.headers.get("User-Agent", "") for r in server.requests}
    assert agents == {FAST.request_user_agent()}
    assert next(iter(agents)).startswith("servicemap/")


def test_no_more_requests_than_the_concurrency_limit_at_once(checked):
    _, answers, _ = checked
    assert 1 < answers.most <= 3


def test_the_cli_writes_a_report_and_never_changes_the_directory(tmp_path):
    with LocalServer(Answers()) as server:
        path = _directory(tmp_path, server.url, paths=("ok", "missing"))
        before = path.read_bytes()
        out = tmp_path / "links.csv"
        result = CliRunner().invoke(
            cli, ["check-links", "--services", str(path), "-o", str(out), "--timeout", "1", "-q"]
        )
    assert result.exit_code == 0, result.output
    assert (
        result.stderr == f"Checked 4 links: 2 answered, 0 redirected, 2 failed; report in {out}\n"
    )
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], r["field"], r["outcome"]) for r in rows] == [
        ("s0", "website", "answered"),
        ("s0", "source_url", "answered"),
        ("s1", "website", "failed"),
        ("s1", "source_url", "failed"),
    ]
    assert path.read_bytes() == before


def test_the_report_may_not_replace_the_directory(tmp_path):
    path = _directory(tmp_path, "http://127.0.0.1:9", paths=("ok",))
    result = CliRunner().invoke(cli, ["check-links", "--services", str(path), "-o", str(path)])
    assert result.exit_code == 1 and "Error:" in result.output
