"""What changed since the last report: snapshots, compare, and report --since."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap.analysis.changes import compare_snapshots
from servicemap.analysis.snapshot import (
    SNAPSHOT_FILE,
    SNAPSHOT_FORMAT,
    load_snapshot,
    read_snapshot,
    snapshot_of,
)
from servicemap.cli import cli
from servicemap.errors import SnapshotError
from servicemap.render.report import build_report
from worlds import make_coverage, make_forces, make_profiles, make_services

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "services" / "services.csv"

# Two hand-made directories from rows of the bundled one: Yellow Door (Southampton) is removed,
# BAWSO's Wrexham office is added, and BAWSO's Newport office changes its delivery and notes.
OLD_IDS = ("bawso-newport", "bawso-swansea", "yellow-door-bme", "kmewo-southwark")
NEW_IDS = ("bawso-newport", "bawso-swansea", "kmewo-southwark", "bawso-wrexham")
REMOVED = "Yellow Door - Diversity, Inclusion and Advocacy (DIA) service and BME ISVA service"
ADDED = "BAWSO - Wrexham office"
CHANGED = "BAWSO - Newport office"


@pytest.fixture(scope="module")
def directories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    rows = pd.read_csv(BUNDLED, dtype=str, keep_default_na=False)
    folder = tmp_path_factory.mktemp("directories")
    old = rows[rows["id"].isin(OLD_IDS)]
    new = rows[rows["id"].isin(NEW_IDS)].copy()
    newport = new["id"] == "bawso-newport"
    new.loc[newport, "delivery"] = "in_person"
    new.loc[newport, "notes"] = "Checked again for the test."
    old.to_csv(folder / "old.csv", index=False)
    new.to_csv(folder / "new.csv", index=False)
    return folder / "old.csv", folder / "new.csv"


@pytest.fixture(scope="module")
def changes(directories: tuple[Path, Path]):
    old, new = directories
    with pytest.warns(Warning):  # the bundled rows' data-quality warnings
        before, after = load_snapshot(old), load_snapshot(new)
    return compare_snapshots(before, after)


def test_compare_names_the_service_added_ended_and_changed(changes) -> None:
    by_change = {(s.change, s.name) for s in changes.services}
    assert by_change == {("added", ADDED), ("ended", REMOVED), ("changed", CHANGED)}
    changed = next(s for s in changes.services if s.change == "changed")
    assert changed.fields == ("delivery", "notes")
    assert changed.before["delivery"] == "" and changed.after["delivery"] == "in_person"


def test_compare_says_why_a_force_moved(changes) -> None:
    by_code = {f.force_code: f for f in changes.forces}
    hampshire = by_code["E23000030"]  # Yellow Door was its only local service
    assert hampshire.ended == (REMOVED,) and not hampshire.added
    assert hampshire.class_changed and hampshire.score_after > hampshire.score_before
    north_wales = by_code["W15000001"]  # BAWSO Wrexham is based there
    assert north_wales.added == (ADDED,)
    assert north_wales.score_after < north_wales.score_before
    for force in changes.forces:  # listed only for a change of class, rank or 2 points
        moved = abs((force.score_after or 0) - (force.score_before or 0)) >= 2
        assert force.class_changed or force.rank_changed or moved


def test_compare_command_prints_text_csv_and_json(directories: tuple[Path, Path]) -> None:
    old, new = (str(p) for p in directories)
    runner = CliRunner()
    text = runner.invoke(cli, ["compare", old, new, "-q"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == f"What changed from {old} to {new}"
    assert "Services: 1 service added, 1 ended, 1 changed." in lines
    assert f"  {ADDED}: added" in lines
    assert f"  {REMOVED}: ended (no longer in the directory)" in lines
    assert f"  {CHANGED}: delivery and notes changed" in lines
    hampshire = next(line for line in lines if line.startswith("  Hampshire: "))
    assert hampshire.endswith(f"Services serving it: {REMOVED} went.")

    table = runner.invoke(cli, ["compare", old, new, "--format", "csv", "-q"])
    rows = list(csv.DictReader(io.StringIO(table.output)))
    services = {(r["change"], r["name"]) for r in rows if r["record"] == "service"}
    assert services == {("added", ADDED), ("ended", REMOVED), ("changed", CHANGED)}
    wales = next(r for r in rows if r["record"] == "force" and r["id"] == "W15000001")
    assert wales["services_added"] == ADDED

    document = json.loads(runner.invoke(cli, ["compare", old, new, "--format", "json"]).stdout)
    assert document["old"]["source"] == old and document["old"]["generated"] is None
    assert {s["name"] for s in document["services"]} == {ADDED, REMOVED, CHANGED}
    changed = next(s for s in document["services"] if s["change"] == "changed")
    assert changed["after"]["delivery"] == "in_person"


def _world(canonical_services, *, drop: str = "", add: bool = False, score: float = 35.0):
    """The hand-made world of four forces, with one service dropped, one added, a score."""
    forces = make_forces()
    services = make_services(canonical_services)
    rows = services.drop(columns="geometry").to_dict(orient="records")
    rows = [r for r in rows if r["id"] != drop]
    codes = list(forces["force_code"])
    for row in rows:
        row["served_forces"] = (codes[0],) if row["id"] in ("s1", "s2") else ()
        if row["id"] == "s1" and add:  # the changed one
            row["languages"] = "Polish; Urdu; Arabic"
    if add:
        rows.append(
            {"id": "s7", "name": "New advocacy service", "scope": "local",
             "service_types": "advocacy", "easting": 410_000.0, "northing": 230_000.0,
             "served_forces": (codes[2],)}
        )  # fmt: skip
    coverage = make_coverage(forces, [10.0, score, 65.0, 95.0])
    return forces, coverage, canonical_services(rows)


def test_report_since_shows_what_changed(canonical_services, tmp_path: Path) -> None:
    forces, coverage, services = _world(canonical_services)
    first = tmp_path / "2025"
    build_report(
        forces, coverage, services, out_dir=first, profiles=make_profiles(coverage),
        generated=dt.date(2025, 12, 1),
    )  # fmt: skip
    assert (first / SNAPSHOT_FILE).is_file()
    forces, coverage, services = _world(canonical_services, drop="s2", add=True, score=60.0)
    second = tmp_path / "2026"
    build_report(
        forces, coverage, services, out_dir=second, profiles=make_profiles(coverage),
        generated=dt.date(2026, 12, 1), since=read_snapshot(first),
    )  # fmt: skip
    index = (second / "index.html").read_text(encoding="utf-8")
    section = index.split('<h2 id="changes">', 1)[1].split("<h2", 1)[0]
    assert section.startswith("What changed since 1 December 2025</h2>")
    assert "Services: 1 added, 1 ended, 1 changed." in section
    assert "New advocacy service: added" in section
    assert "languages changed" in section
    name = str(coverage["force_name"][1])
    assert f">{name}</a>: Gap score 35.0 → 60.0 (25.0 points higher: more of a gap)" in section
    profiles = {p.name: p.read_text(encoding="utf-8") for p in (second / "forces").iterdir()}
    moved = [text for text in profiles.values() if "Gap score 35.0 → 60.0" in text]
    assert len(moved) == 1 and "What changed since 1 December 2025" in moved[0]
    # the first report's snapshot has no trace of the confidential service's place
    kept = (first / SNAPSHOT_FILE).read_text(encoding="utf-8")
    assert "Hidden advocacy project" in kept
    assert "Quietwater" not in kept and "ZZ9 9ZZ" not in kept and "321234" not in kept


def test_a_report_without_since_has_no_change_section(canonical_services, tmp_path: Path) -> None:
    forces, coverage, services = _world(canonical_services)
    out = tmp_path / "r"
    build_report(forces, coverage, services, out_dir=out, profiles=make_profiles(coverage))
    assert 'id="changes"' not in (out / "index.html").read_text(encoding="utf-8")


def test_a_snapshot_made_now_equals_the_one_read_back(canonical_services, tmp_path: Path) -> None:
    forces, coverage, services = _world(canonical_services)
    out = tmp_path / "r"
    build_report(
        forces, coverage, services, out_dir=out, profiles=make_profiles(coverage),
        generated=dt.date(2026, 1, 2),
    )  # fmt: skip
    read = read_snapshot(out)
    made = snapshot_of(services, coverage, generated=dt.date(2026, 1, 2), source=str(out))
    assert read.generated == dt.date(2026, 1, 2)
    pd.testing.assert_frame_equal(read.services, made.services)
    pd.testing.assert_frame_equal(read.coverage, made.coverage)
    again = compare_snapshots(read, made)
    assert again.services == () and again.forces == ()


def test_a_folder_without_a_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SnapshotError, match=r"'.*empty' holds no snapshot\.json: it is not a "):
        read_snapshot(tmp_path / "empty")
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "empty"), str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {str(tmp_path / 'empty')!r} holds no snapshot.json")
    assert "servicemap compare OLD.csv NEW.csv" in result.output


def test_report_since_a_folder_without_a_snapshot_stops_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    result = CliRunner().invoke(
        cli, ["report", "-o", str(tmp_path / "new"), "--since", str(tmp_path / "old")]
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {str(tmp_path / 'old')!r} holds no snapshot.json")
    assert not (tmp_path / "new").exists()


def test_a_snapshot_of_a_newer_format_names_the_upgrade(tmp_path: Path) -> None:
    document = {"kind": "servicemap report snapshot", "format": SNAPSHOT_FORMAT + 1,
                "servicemap": "9.0", "services": [], "coverage": []}  # fmt: skip
    (tmp_path / SNAPSHOT_FILE).write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"written by a newer servicemap \(9\.0, snapshot "):
        read_snapshot(tmp_path)
    with pytest.raises(SnapshotError, match=r"pip install --upgrade servicemap"):
        read_snapshot(tmp_path / SNAPSHOT_FILE)


@pytest.mark.parametrize("text", ["{not json", '{"kind": "something else"}', "[]"])
def test_a_file_that_is_not_a_snapshot_is_refused(text: str, tmp_path: Path) -> None:
    (tmp_path / SNAPSHOT_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(SnapshotError, match=rf"{SNAPSHOT_FILE}' (cannot be read|is not a)"):
        read_snapshot(tmp_path)


def test_a_report_since_its_own_folder_compares_with_the_run_before(  # the usual yearly re-run
    canonical_services, tmp_path: Path
) -> None:
    out = tmp_path / "maps"
    forces, coverage, services = _world(canonical_services)
    profiles = make_profiles(coverage)
    build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    forces, coverage, services = _world(canonical_services, drop="s2", add=True)
    build_report(
        forces, coverage, services, out_dir=out, profiles=profiles, since=read_snapshot(out)
    )
    section = (out / "index.html").read_text(encoding="utf-8").split('<h2 id="changes">')[1]
    assert "Services: 1 added, 1 ended, 1 changed." in section
    assert read_snapshot(out).services["id"].tolist().count("s7") == 1  # the new snapshot
