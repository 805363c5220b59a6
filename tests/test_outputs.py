"""Outputs that cannot hurt: clear errors, never over an input, formats, safe swaps, safe cells.

Tests run as root, so a read-only folder cannot be made with chmod: an unwritable place is a
path below a file, or ``tempfile.mkstemp``/``os.replace`` patched to fail with EACCES, EROFS or
ENOSPC as the operating system would.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap import _swap
from servicemap._atomic import atomic_write, atomic_write_text, check_outputs
from servicemap._csv import safe_cell, spreadsheet_safe, write_xlsx
from servicemap._folder import MANIFEST, publish_folder
from servicemap.cli import cli
from servicemap.errors import OutputError
from servicemap.inputs import ReportInputs
from servicemap.render.report import REPORT_FILES, build_report
from worlds import make_coverage, make_forces, make_profiles, make_services

SRC = Path(__file__).resolve().parents[1] / "src"


def _error_line(result) -> str:
    return result.output.splitlines()[-1]


# --- the library: atomic writes and their errors ----------------------------------------------


def test_an_interrupted_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as handle:
        handle.write("half a fi")
        raise KeyboardInterrupt
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (errno.EACCES,
         "you do not have permission to write there; choose a folder you can write to"),
        (errno.EROFS, "the drive is read-only; choose a folder on a drive you can write to"),
        (errno.ENOSPC, "the disk is full; free some space or choose another drive"),
    ],
)  # fmt: skip
def test_write_errors_say_which_file_why_and_what_to_do(code, why, tmp_path, monkeypatch):
    path = tmp_path / "out.csv"

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError) as caught:
        atomic_write_text(path, "x")
    assert str(caught.value) == f"Cannot write '{path}': {why}."
    assert caught.value.__cause__.errno == code
    assert not path.exists()


def test_a_folder_target_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match=r"^Cannot write '.*': it is a folder, not a file; give"):
        atomic_write_text(tmp_path, "x")


# --- the checks every command runs first -------------------------------------------------------


def test_check_refuses_a_folder(tmp_path):
    with pytest.raises(OutputError) as caught:
        check_outputs({"-o": tmp_path})
    assert str(caught.value) == (
        f"Cannot write '{tmp_path}': it is a folder; give -o the name of a file in it."
    )


def test_check_refuses_a_missing_folder_unless_the_writer_creates_it(tmp_path):
    target = tmp_path / "nosuchdir" / "x.csv"
    with pytest.raises(OutputError) as caught:
        check_outputs({"-o": target})
    assert str(caught.value) == (
        f"Cannot write '{target}': the folder '{target.parent}' does not exist; create it "
        "first, or choose another place with -o."
    )
    check_outputs({"-o": target}, create_folders=True)
    assert not target.parent.exists()  # checking creates nothing


def test_check_refuses_a_path_below_a_file(tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    target = tmp_path / "afile" / "deeper" / "x.csv"
    with pytest.raises(OutputError) as caught:
        check_outputs({"-o": target}, create_folders=True)
    assert str(caught.value) == (
        f"Cannot write '{target}': '{tmp_path / 'afile'}' is a file, not a folder; choose "
        "another place with -o."
    )


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_check_refuses_a_place_that_cannot_be_written(code, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"^Cannot write '.*x\.csv': .* with -o\.$"):
        check_outputs({"-o": tmp_path / "x.csv"})


def _linked_inputs(tmp_path: Path) -> dict[str, Path]:
    master = tmp_path / "master.csv"
    master.write_text("id,name\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    os.symlink(master, tmp_path / "symlink.csv")
    os.link(master, tmp_path / "hardlink.csv")
    return {
        "same path": master,
        "another spelling": tmp_path / "sub" / ".." / "master.csv",
        "symbolic link": tmp_path / "symlink.csv",
        "hard link": tmp_path / "hardlink.csv",
    }


@pytest.mark.parametrize("how", ["same path", "another spelling", "symbolic link", "hard link"])
def test_check_refuses_an_output_that_is_an_input(how, tmp_path):
    target = _linked_inputs(tmp_path)[how]
    with pytest.raises(OutputError) as caught:
        check_outputs({"-o": target}, inputs={"--services": tmp_path / "master.csv"})
    assert str(caught.value) == (
        f"Cannot write '{target}': it is also an input (--services), which would be "
        "overwritten; choose another file with -o."
    )
    assert (tmp_path / "master.csv").read_text(encoding="utf-8") == "id,name\n"


def test_check_refuses_two_outputs_in_one_file(tmp_path):
    with pytest.raises(OutputError) as caught:
        check_outputs({"-o": tmp_path / "p.html", "--map": tmp_path / "p.html"})
    assert str(caught.value) == (
        f"Cannot write '{tmp_path / 'p.html'}' twice: -o and --map name the same file; give "
        "them different files."
    )


# --- every command refuses to write over one of its inputs -------------------------------------


@pytest.fixture
def master(tmp_path) -> Path:
    """A private master copy of a directory; it must survive every command below byte for byte."""
    path = tmp_path / "master.csv"
    path.write_text("id,name,postcode\nr1,Refuge,LS7 3HB\n", encoding="utf-8")
    return path


def _refusal(output: Path, flag: str) -> str:
    return (
        f"Error: Cannot write '{output}': it is also an input ({flag}), which would be "
        "overwritten; choose another file with -o."
    )


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["export", "--format", "csv", "--services", "{m}", "-o", "{m}"], "--services"),
        (["export", "--format", "xlsx", "--services", "{m}", "-o", "{m}"], "--services"),
        (["export", "--services", "{m}", "-o", "{m}"], "--services"),
        (["coverage", "--format", "csv", "--services", "{m}", "-o", "{m}"], "--services"),
        (["coverage", "--format", "csv", "--need", "{m}", "-o", "{m}"], "--need"),
        (["coverage", "--format", "gpkg", "--boundaries", "{m}", "-o", "{m}"], "--boundaries"),
        (["map", "--services", "{m}", "-o", "{m}"], "--services"),
        (["map", "--need", "{m}", "-o", "{m}"], "--need"),
        (["plan", "--force", "Kent", "--with", "{m}", "-o", "{m}"], "--with"),
        (["plan", "--force", "Kent", "--add", "1", "--candidates", "{m}", "-o", "{m}"],
         "--candidates"),
        (["plan", "--force", "Kent", "--with", "{p}", "--services", "{m}", "-o", "{m}"],
         "--services"),
        (["geocode", "{m}", "-o", "{m}"], "FILE.csv"),
        (["boundaries", "export", "--source", "{m}", "-o", "{m}"], "--source"),
    ],
)  # fmt: skip
def test_commands_refuse_to_overwrite_an_input(args, flag, master, tmp_path):
    proposals = tmp_path / "proposals.csv"
    proposals.write_text("id,name\n", encoding="utf-8")
    before = master.read_bytes()
    argv = [a.format(m=master, p=proposals) for a in args]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1, result.output
    assert _error_line(result) == _refusal(master, flag)
    assert master.read_bytes() == before


def test_plan_refuses_its_map_over_an_input(master):
    result = CliRunner().invoke(
        cli, ["plan", "--force", "Kent", "--add", "1", "--candidates", str(master), "--map",
              str(master)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert _error_line(result) == (
        f"Error: Cannot write '{master}': it is also an input (--candidates), which would be "
        "overwritten; choose another file with --map."
    )


def test_plan_refuses_one_file_for_two_outputs(tmp_path):
    page = tmp_path / "plan.html"
    result = CliRunner().invoke(
        cli, ["plan", "--force", "Kent", "--add", "1", "-o", str(page), "--map", str(page)]
    )
    assert result.exit_code == 1
    assert _error_line(result) == (
        f"Error: Cannot write '{page}' twice: -o and --map name the same file; give them "
        "different files."
    )


def test_export_refuses_to_overwrite_the_bundled_directory():
    from servicemap._data import data_path

    bundled = data_path("services", "services.csv")
    before = bundled.read_bytes()
    result = CliRunner().invoke(cli, ["export", "-o", str(bundled)])
    assert result.exit_code == 1
    assert _error_line(result) == _refusal(bundled, "--services")
    assert bundled.read_bytes() == before


def test_report_refuses_a_folder_holding_one_of_its_inputs(fake_report, tmp_path):
    out = tmp_path / "site"
    assert CliRunner().invoke(cli, ["report", "-o", str(out)]).exit_code == 0
    inside = out / "coverage.csv"
    result = CliRunner().invoke(cli, ["report", "-o", str(out), "--need", str(inside)])
    assert result.exit_code == 1
    assert _error_line(result) == (
        f"Error: Cannot write the report to '{out}': its file 'coverage.csv' is also an input "
        "(--need), which would be overwritten; choose another folder with -o."
    )


# --- every command that writes: folders, missing folders, read-only places ---------------------


def _writers(tmp_path: Path, target: Path) -> dict[str, list[str]]:
    return {
        "export": ["export", "--format", "csv", "-o", str(target)],
        "coverage": ["coverage", "--format", "csv", "-o", str(target)],
        "map": ["map", "-o", str(target)],
        "plan": ["plan", "--force", "Kent", "--add", "1", "-o", str(target)],
        "plan --map": ["plan", "--force", "Kent", "--add", "1", "--map", str(target)],
        "geocode": ["geocode", str(tmp_path / "in.csv"), "-o", str(target)],
        "boundaries export": ["boundaries", "export", "-o", str(target)],
    }


COMMANDS = ["export", "coverage", "map", "plan", "plan --map", "geocode", "boundaries export"]


def _option(command: str) -> str:
    return "--map" if command == "plan --map" else "-o"


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_refuse_a_folder(command, tmp_path):
    args = _writers(tmp_path, tmp_path)[command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert _error_line(result) == (
        f"Error: Cannot write '{tmp_path}': it is a folder; give {_option(command)} the name of "
        "a file in it."
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_refuse_a_missing_folder(command, tmp_path):
    target = tmp_path / "nosuchdir" / "out.html"
    if command not in ("map", "plan --map"):
        target = target.with_suffix(".geojson" if command == "boundaries export" else ".csv")
    result = CliRunner().invoke(cli, _writers(tmp_path, target)[command])
    assert result.exit_code == 1, result.output
    assert _error_line(result) == (
        f"Error: Cannot write '{target}': the folder '{target.parent}' does not exist; create "
        f"it first, or choose another place with {_option(command)}."
    )
    assert not target.parent.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_refuse_a_path_below_a_file(command, tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    target = tmp_path / "afile" / "out"
    result = CliRunner().invoke(cli, _writers(tmp_path, target)[command])
    assert result.exit_code == 1, result.output
    assert _error_line(result) == (
        f"Error: Cannot write '{target}': '{tmp_path / 'afile'}' is a file, not a folder; "
        f"choose another place with {_option(command)}."
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_refuse_a_read_only_place(command, tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    target = tmp_path / "out"
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    result = CliRunner().invoke(cli, _writers(tmp_path, target)[command])
    assert result.exit_code == 1, result.output
    assert _error_line(result) == (
        f"Error: Cannot write '{target}': the drive is read-only; choose a folder on a drive "
        f"you can write to with {_option(command)}."
    )


def test_map_creates_its_default_folder(fake_report, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["map"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "maps" / "coverage.html").is_file()


def test_a_full_disk_after_the_work_is_one_error_line(fake_coverage, tmp_path, monkeypatch):
    out = tmp_path / "coverage.csv"
    out.write_text("old", encoding="utf-8")
    real_replace = os.replace

    def full(source, target, *args, **kwargs):
        if Path(target) == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    result = CliRunner().invoke(cli, ["coverage", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot write '{out}': the disk is full; free some space or choose another drive.\n"
    )
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["coverage.csv"]


# --- -o names the format -----------------------------------------------------------------------

COVERAGE = pd.DataFrame(
    {
        "force_code": ["E23000001", "E23000002", "E23000003"],
        "force_name": ['=HYPERLINK("http://evil.example","Click")', "+cmd|' /C calc'!A0", "Kent"],
        "gap_score": [12.5, -1.5, 40.0],
        "local_services": [3, 0, 2],
        "note": ["@SUM(A1:A9)", "-1.5", "\tx"],
    }
)


@pytest.fixture
def fake_coverage(monkeypatch):
    """Stand in for loading and scoring: the command's writing is tested, not coverage."""
    monkeypatch.setattr(
        "servicemap.cli.commands_coverage._services_and_coverage",
        lambda *args: (None, COVERAGE.copy()),
    )
    return COVERAGE


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("name", ["cov.csv", "COV.CSV"])
def test_coverage_csv_from_the_file_name(name, fake_coverage, tmp_path):
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["coverage", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = _cells(out.read_text(encoding="utf-8"))
    assert rows[0] == list(COVERAGE.columns)
    assert rows[1][1] == '\'=HYPERLINK("http://evil.example","Click")'


def test_coverage_json_and_markdown_and_text_from_the_file_name(fake_coverage, tmp_path):
    for name in ("cov.json", "cov.md", "cov.txt", "cov.dat"):
        result = CliRunner().invoke(cli, ["coverage", "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "cov.json").read_text(encoding="utf-8"))[2]["force_name"] == (
        "Kent"
    )
    assert (tmp_path / "cov.md").read_text(encoding="utf-8").startswith("| force_name |")
    table = (tmp_path / "cov.txt").read_text(encoding="utf-8")
    assert table.split()[:3] == ["force_name", "gap_score", "local_services"]
    assert (tmp_path / "cov.dat").read_text(encoding="utf-8") == table  # unknown: the default


def test_coverage_writes_a_real_xlsx(fake_coverage, tmp_path):
    out = tmp_path / "cov.xlsx"
    result = CliRunner().invoke(cli, ["coverage", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(out)
    sheet = openpyxl.load_workbook(out)["coverage"]
    assert sheet.freeze_panes == "A2"
    # human headings (see test_publish); the machine names are on the "columns" sheet
    about = openpyxl.load_workbook(out)["columns"]
    assert [r[1] for r in about.iter_rows(min_row=2, values_only=True)] == list(COVERAGE.columns)
    assert [c.value for c in sheet[2]][:4] == [
        "E23000001",
        '\'=HYPERLINK("http://evil.example","Click")',
        12.5,
        3,
    ]
    assert sheet.cell(row=3, column=3).value == -1.5  # a negative number stays a number
    assert sheet.cell(row=3, column=3).data_type == "n"
    assert sheet.cell(row=3, column=5).value == "-1.5"  # text that is a plain number: as is
    assert sheet.cell(row=4, column=5).value == "'\tx"
    assert "f" not in {cell.data_type for row in sheet.iter_rows() for cell in row}


def test_coverage_refuses_a_format_the_file_name_contradicts(fake_coverage, tmp_path):
    out = tmp_path / "cov.xlsx"
    result = CliRunner().invoke(cli, ["coverage", "-o", str(out), "--format", "table"])
    assert result.exit_code == 2
    assert _error_line(result) == (
        f"Error: -o '{out}' names a .xlsx file but --format is 'table'; drop --format to write "
        "xlsx, or end the file name with .txt."
    )
    assert not out.exists()


def test_coverage_refuses_an_ending_it_cannot_write(fake_coverage, tmp_path):
    out = tmp_path / "cov.html"
    result = CliRunner().invoke(cli, ["coverage", "-o", str(out)])
    assert result.exit_code == 2
    assert _error_line(result) == (
        f"Error: -o '{out}' names a .html file, which servicemap coverage does not write; end "
        "the file name with .csv, .gpkg, .json, .markdown, .md, .txt, .xlsx."
    )


def test_coverage_xlsx_needs_a_file(fake_coverage):
    result = CliRunner().invoke(cli, ["coverage", "--format", "xlsx"])
    assert result.exit_code == 2
    assert _error_line(result) == "Error: --format xlsx writes a file: add -o FILE.xlsx."


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["plan", "--force", "Kent", "--add", "1", "--format", "json", "-o", "{t}/p.csv"],
         "Error: -o '{t}/p.csv' names a .csv file but --format is 'json'; drop --format to "
         "write csv, or end the file name with .json."),
        (["plan", "--force", "Kent", "--add", "1", "--map", "{t}/p.png"],
         "Error: --map '{t}/p.png' names a .png file, which servicemap plan does not write; end "
         "the file name with .htm, .html."),
        (["geocode", "{t}/in.csv", "-o", "{t}/out.xlsx"],
         "Error: -o '{t}/out.xlsx' names a .xlsx file, which servicemap geocode does not "
         "write; end the file name with .csv, .txt."),
        (["map", "-o", "{t}/map.csv"],
         "Error: -o '{t}/map.csv' names a .csv file, which servicemap map does not write; end "
         "the file name with .htm, .html."),
    ],
)  # fmt: skip
def test_other_commands_check_the_file_name(args, error, tmp_path):
    result = CliRunner().invoke(cli, [a.format(t=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert _error_line(result) == error.format(t=tmp_path)


# --- report -o DIR: never over what it did not write -------------------------------------------


@pytest.fixture
def report_inputs(canonical_services):
    forces = make_forces()
    coverage = make_coverage(forces)
    return forces, coverage, make_services(canonical_services), make_profiles(coverage)


@pytest.fixture
def fake_report(report_inputs, monkeypatch):
    forces, coverage, services, profiles = report_inputs
    loaded = ReportInputs(forces, coverage, services, "test boxes", "test services")
    monkeypatch.setattr("servicemap.inputs.load_inputs", lambda **kwargs: loaded)
    monkeypatch.setattr(
        "servicemap.analysis.profile.force_profile", lambda code, *a, **k: profiles[code]
    )
    monkeypatch.setattr("servicemap.geography.postcodes.load_postcode_table", lambda **kwargs: None)
    monkeypatch.setattr("servicemap.inputs.geography_from_postcodes", lambda table: None)
    monkeypatch.setattr("servicemap.inputs.prepare_services", lambda services, geography: None)
    return loaded


def _refused(out: Path, found: str) -> str:
    return (
        f"Error: Cannot write the report to '{out}': it would replace files that servicemap did "
        f"not write: {found}. Move them away, choose another folder with -o, or pass --force to "
        "replace them."
    )


def test_report_refuses_an_index_it_did_not_write(fake_report, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("my own page", encoding="utf-8")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == _refused(out, "index.html") + "\n"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "notes.txt"]
    assert (out / "index.html").read_text(encoding="utf-8") == "my own page"


def test_report_refuses_an_index_that_is_a_folder_before_moving_anything(fake_report, tmp_path):
    out = tmp_path / "site"
    (out / "index.html").mkdir(parents=True)
    (out / "index.html" / "keep.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == _refused(out, "index.html (a folder)") + "\n"
    assert [p.name for p in out.iterdir()] == ["index.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_report_force_replaces_them_and_keeps_other_files(fake_report, tmp_path):
    out = tmp_path / "site"
    (out / "index.html").mkdir(parents=True)
    (out / "map.html").write_text("my map", encoding="utf-8")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert "test boxes" in (out / "index.html").read_text(encoding="utf-8")
    assert "my map" not in (out / "map.html").read_text(encoding="utf-8")
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert _hidden(out) == [MANIFEST]


def test_report_reruns_over_its_own_files_without_force(fake_report, tmp_path):
    out = tmp_path / "site"
    for _ in range(2):
        result = CliRunner().invoke(cli, ["report", "-o", str(out)])
        assert result.exit_code == 0, result.output
    assert _hidden(out) == [MANIFEST]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # nothing left beside it


def test_report_refuses_a_file_added_to_forces_or_a_page_edited_since(fake_report, tmp_path):
    out = tmp_path / "site"
    assert CliRunner().invoke(cli, ["report", "-o", str(out)]).exit_code == 0
    (out / "forces" / "notes.html").write_text("my notes", encoding="utf-8")
    (out / "coverage.csv").write_text("edited", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 1
    assert (
        result.output
        == _refused(
            out,
            "forces/notes.html (added since the report was written), "
            "coverage.csv (changed since the report was written)",
        )
        + "\n"
    )
    assert (out / "forces" / "notes.html").read_text(encoding="utf-8") == "my notes"
    assert (out / "coverage.csv").read_text(encoding="utf-8") == "edited"


def test_report_upgrades_a_servicemap_0_1_folder(fake_report, tmp_path):
    out = tmp_path / "site"
    (out / "forces").mkdir(parents=True)
    (out / "forces" / "old.html").write_text("old", encoding="utf-8")
    for name in ("map.html", "coverage.csv", "coverage.png", "index.html"):
        (out / name).write_text("old", encoding="utf-8")
    (out / LEGACY).write_text("servicemap 0.1.0\n", encoding="utf-8")
    (out / "coverage.html").write_text("from servicemap map", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert _links(out) == []
    assert _hidden(out) == [MANIFEST]  # the marker is gone
    assert "test boxes" in (out / "index.html").read_text(encoding="utf-8")
    assert not (out / "forces" / "old.html").exists()
    assert (out / "coverage.html").read_text(encoding="utf-8") == "from servicemap map"


def test_report_upgrades_a_folder_of_symbolic_links(fake_report, tmp_path):
    out = tmp_path / "site"
    _linked(out)
    (out / "coverage.html").write_text("from servicemap map", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert _links(out) == []
    assert _hidden(out) == [".htaccess", MANIFEST]  # the hidden folder of versions is gone
    assert "test boxes" in (out / "index.html").read_text(encoding="utf-8")
    assert not (out / "forces" / "a.html").exists()
    assert (out / "coverage.html").read_text(encoding="utf-8") == "from servicemap map"


def test_report_refuses_a_page_edited_in_a_folder_of_symbolic_links(fake_report, tmp_path):
    out = tmp_path / "site"
    _linked(out)
    (out / LEGACY / "v-1a2b3c" / "map.html").write_text("edited", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == _refused(out, "map.html (changed since the report was written)") + "\n"


def test_report_disk_full_leaves_the_old_report(fake_report, tmp_path, monkeypatch):
    out = tmp_path / "site"
    assert CliRunner().invoke(cli, ["report", "-o", str(out)]).exit_code == 0
    before = (out / "index.html").read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("servicemap.render.report.write_static_map", full)
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot write the report to '{out}': the disk is full; free some space or "
        "choose another drive.\n"
    )
    assert (out / "index.html").read_bytes() == before
    assert _hidden(out) == [MANIFEST]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_report_refuses_a_read_only_folder(fake_report, tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot write the report to '{out}': you do not have permission to write "
        "there; choose a folder you can write to with -o.\n"
    )
    assert not out.exists()


def test_an_interrupted_report_leaves_the_old_one_and_no_leftovers(report_inputs, tmp_path):
    forces, coverage, services, profiles = report_inputs
    out = tmp_path / "site"
    build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    before = _snapshot(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("servicemap.render.report.write_static_map", interrupted)
        with pytest.raises(KeyboardInterrupt):
            build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    assert _snapshot(out) == before
    assert _hidden(out) == [MANIFEST]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


# --- the swap: whole at every step -------------------------------------------------------------

LEGACY = ".servicemap-report"  # the hidden folder of the layout with links; 0.1's marker file
OLD_PAGES, NEW_PAGES = ("a", "b", "c"), ("a", "b")
# The calls that change the file system (and fsync), counted to fail or die at the k-th one.
STEPS = (
    *(f"os.{name}" for name in ("replace", "rename", "link", "symlink", "unlink", "mkdir")),
    *(f"os.{name}" for name in ("rmdir", "chmod", "fsync")),
    "shutil.copy2",
    "shutil.copystat",
    "_swap.exchange",
)
_LEFTOVER = re.compile(r"\.site\.servicemap-(new|old)-[0-9a-f]{16}")


def _publish(out: Path, tag: str, pages: tuple[str, ...], *, force: bool = False) -> None:
    with publish_folder(out, REPORT_FILES, force=force) as build:
        (build / "forces").mkdir()
        for page in pages:
            (build / "forces" / f"{page}.html").write_text(f"{tag} {page}", encoding="utf-8")
        for name in REPORT_FILES[1:]:
            (build / name).write_text(f"{tag} {name}", encoding="utf-8")


def _expected(tag: str, pages: tuple[str, ...]) -> dict[str, str]:
    files = {f"forces/{p}.html": f"{tag} {p}" for p in pages}
    return files | {name: f"{tag} {name}" for name in REPORT_FILES[1:]}


def _snapshot(out: Path) -> dict[str, str]:
    """Every file reached through the report's entries (what a reader sees), by name."""
    seen: dict[str, str] = {}
    for name in REPORT_FILES:
        path = out / name
        if path.is_dir():
            for file in sorted(path.iterdir()):
                seen[f"{name}/{file.name}"] = file.read_bytes().decode("latin-1")
        elif path.exists():
            seen[name] = path.read_bytes().decode("latin-1")
        elif os.path.lexists(path):
            seen[name] = "<dangling link>"
    return seen


def _others(out: Path) -> dict[str, str]:
    """The user's files, folders and links in the folder (not the report's), by name."""
    if not out.is_dir():
        return {}
    seen: dict[str, str] = {}
    for top in sorted(out.iterdir()):
        if top.name in {*REPORT_FILES, MANIFEST, LEGACY} or "servicemap-" in top.name:
            continue
        inside = sorted(top.rglob("*")) if top.is_dir() and not top.is_symlink() else []
        for path in (top, *inside):
            name = path.relative_to(out).as_posix()
            if path.is_symlink():
                seen[name] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                seen[name] = f"<folder {oct(path.stat().st_mode & 0o777)}>"
            else:
                seen[name] = path.read_text(encoding="utf-8")
    return seen


def _hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def _links(out: Path) -> list[str]:
    """Every symbolic link in the folder that is not one of the user's own."""
    return sorted(
        str(path.relative_to(out))
        for path in out.rglob("*")
        if path.is_symlink() and path.name != "latest"
    )


def _users(out: Path) -> None:
    """The user's own files in the folder: a file, a hidden file, a folder in a folder, a link."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / ".htaccess").write_text("Options -Indexes", encoding="utf-8")
    (out / "data" / "2024").mkdir(parents=True)
    (out / "data" / "2024" / "figures.csv").write_text("a,b", encoding="utf-8")
    os.chmod(out / "data", 0o750)
    os.symlink("notes.txt", out / "latest")


def _legacy(out: Path) -> None:
    """A folder written by servicemap 0.1: real files and a marker file."""
    (out / "forces").mkdir(parents=True)
    for name, text in _expected("old", OLD_PAGES).items():
        (out / name).write_text(text, encoding="utf-8")
    (out / LEGACY).write_text("servicemap 0.1.0\n", encoding="utf-8")
    _users(out)


def _linked(out: Path) -> None:
    """A folder written with symbolic links into a hidden folder of versions."""
    version = out / LEGACY / "v-1a2b3c"
    (version / "forces").mkdir(parents=True)
    files = {}
    for name, text in _expected("old", OLD_PAGES).items():
        (version / name).write_text(text, encoding="utf-8")
        files[name] = hashlib.sha256(text.encode()).hexdigest()
    document = {"servicemap": "0.1.0", "files": files}
    (version / "manifest.json").write_text(json.dumps(document), encoding="utf-8")
    os.symlink("v-1a2b3c", out / LEGACY / "current")
    for name in REPORT_FILES:
        os.symlink(os.path.join(LEGACY, "current", name), out / name)
    _users(out)


def _hidden_manifest(out: Path) -> None:
    """A folder written by the version with links where links could not be made."""
    _linked(out)
    for name in REPORT_FILES:
        os.unlink(out / name)
        os.replace(out / LEGACY / "v-1a2b3c" / name, out / name)
    os.replace(out / LEGACY / "v-1a2b3c" / "manifest.json", out / LEGACY / "manifest.json")
    shutil.rmtree(out / LEGACY / "v-1a2b3c")
    os.unlink(out / LEGACY / "current")


def _rerun(out: Path) -> None:
    _publish(out, "old", OLD_PAGES)
    _users(out)


def _foreign(out: Path) -> None:
    (out / "index.html").mkdir(parents=True)
    (out / "index.html" / "x").write_text("mine", encoding="utf-8")
    (out / "map.html").write_text("my map", encoding="utf-8")
    _users(out)


def _old() -> dict[str, str]:
    return _expected("old", OLD_PAGES)


# Each scenario: how the folder is before, what a reader sees then, whether the exchange is
# there (False: the one-by-one fallback), and whether --force is given.
SCENARIOS: dict[str, tuple[Callable[[Path], None], Callable[[], dict[str, str]], bool, bool]] = {
    "new folder": (lambda o: None, dict, True, False),
    "rerun": (lambda o: _publish(o, "old", OLD_PAGES), _old, True, False),
    "rerun with the user's files": (_rerun, _old, True, False),
    "first report into the user's folder": (_users, dict, True, False),
    "forced over the user's": (_foreign, lambda: {"index.html/x": "mine", "map.html": "my map"},
                               True, True),
    "upgrade from symbolic links": (_linked, _old, True, False),
    "upgrade from a hidden manifest": (_hidden_manifest, _old, True, False),
    "upgrade from servicemap 0.1": (_legacy, _old, True, False),
    "rerun, no exchange": (_rerun, _old, False, False),
    "first report into the user's folder, no exchange": (_users, dict, False, False),
    "upgrade from symbolic links, no exchange": (_linked, _old, False, False),
    "upgrade from servicemap 0.1, no exchange": (_legacy, _old, False, False),
}  # fmt: skip


def _install(patch: pytest.MonkeyPatch, wrap: Callable[..., Callable[..., object]]) -> None:
    modules = {"os": os, "shutil": shutil, "_swap": _swap}
    for step in STEPS:
        module, name = step.split(".")
        patch.setattr(modules[module], name, wrap(getattr(modules[module], name)))


class _Fail:
    """Make the k-th file-system step raise, as a full disk or a pulled drive would."""

    def __init__(self, k: int) -> None:
        self.k, self.calls = k, 0

    def wrap(self, real: Callable[..., object]) -> Callable[..., object]:
        def step(*args: object, **kwargs: object) -> object:
            self.calls += 1
            if self.calls == self.k:
                raise OSError(errno.EIO, "Input/output error")
            return real(*args, **kwargs)

        return step


def _no_exchange(patch: pytest.MonkeyPatch) -> None:
    patch.setattr(_swap, "renameat2", lambda: None)


def _assert_clean(out: Path, users: dict[str, str]) -> None:
    """After a successful run: the report, the user's files, plain files, nothing left over."""
    assert _others(out) == users
    assert _links(out) == []
    assert _hidden(out) == sorted({MANIFEST} | {n for n in users if n.startswith(".")})
    assert [p.name for p in out.parent.iterdir()] == ["site"]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_failure_at_any_step_leaves_the_old_report_or_the_new_one(scenario, tmp_path):
    setup, old, exchange, force = SCENARIOS[scenario]
    new = _expected("new", NEW_PAGES)
    k = 0
    while True:
        k += 1
        out = tmp_path / f"run{k}" / "site"
        out.parent.mkdir()
        setup(out)
        users = _others(out)
        fail = _Fail(k)
        with pytest.MonkeyPatch.context() as patch:
            if not exchange:
                _no_exchange(patch)
            _install(patch, fail.wrap)
            try:
                _publish(out, "new", NEW_PAGES, force=force)
            except OutputError:
                failed = True
            else:
                failed = False
        seen = _snapshot(out)
        assert seen in (old(), new), f"step {k} of {scenario}: {seen}"
        assert _others(out) == users, f"step {k} of {scenario}"
        left = [p.name for p in out.parent.iterdir() if p.name != "site"]
        assert all(_LEFTOVER.fullmatch(name) for name in left), left
        if not failed:
            assert seen == new
        if fail.calls < k:  # the whole publication ran without reaching step k
            break
        # Whatever the failure left, the next run succeeds and cleans up.
        with pytest.MonkeyPatch.context() as patch:
            if not exchange:
                _no_exchange(patch)
            _publish(out, "next", OLD_PAGES, force=force)
        assert _snapshot(out) == _expected("next", OLD_PAGES), f"after step {k} of {scenario}"
        _assert_clean(out, users)
    assert k > 20  # every step was tried


KILL_SCRIPT = """
import os, shutil, sys
from pathlib import Path

out, k, steps, exchange = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4]
calls = 0


def wrap(real):
    def step(*args, **kwargs):
        global calls
        calls += 1
        if calls == k:
            os._exit(9)  # killed: no clean-up, no finally, no atexit
        return real(*args, **kwargs)

    return step


from servicemap import _folder, _swap  # noqa: E402

modules = {"os": os, "shutil": shutil, "_swap": _swap}
for step in steps:
    module, name = step.split(".")
    setattr(modules[module], name, wrap(getattr(modules[module], name)))
if exchange == "no":
    _swap.renameat2 = lambda: None
from servicemap.render.report import REPORT_FILES as entries  # noqa: E402
with _folder.publish_folder(out, entries) as build:
    (build / "forces").mkdir()
    for page in ("a", "b"):
        (build / "forces" / f"{page}.html").write_text(f"new {page}", encoding="utf-8")
    for name in entries[1:]:
        (build / name).write_text(f"new {name}", encoding="utf-8")
"""


def _run_killed(out: Path, k: int, exchange: bool, script: str = KILL_SCRIPT) -> int:
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(out),
            str(k),
            ",".join(STEPS),
            "yes" if exchange else "no",
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode in (0, 9), run.stderr
    return run.returncode


def _entry_by_entry(seen: dict[str, str], old: dict[str, str], new: dict[str, str]) -> bool:
    """Return True if each entry is the old one or the new one (``forces/`` may be missing)."""
    for name in REPORT_FILES:
        mine = {f: t for f, t in seen.items() if f.split("/")[0] == name}
        choices = [
            {f: t for f, t in whole.items() if f.split("/")[0] == name} for whole in (old, new)
        ]
        if mine not in choices and not (name == "forces" and not mine):
            return False
    return True


@pytest.mark.parametrize(
    "scenario",
    ["new folder", "rerun with the user's files", "first report into the user's folder",
     "upgrade from symbolic links", "rerun, no exchange"],
)  # fmt: skip
def test_a_kill_at_any_step_leaves_the_old_report_or_the_new_one(scenario, tmp_path):
    setup, old, exchange, _ = SCENARIOS[scenario]
    new = _expected("new", NEW_PAGES)
    k = 0
    while True:
        k += 1
        out = tmp_path / f"run{k}" / "site"
        out.parent.mkdir()
        setup(out)
        users = _others(out)
        code = _run_killed(out, k, exchange)
        seen = _snapshot(out)
        if exchange:
            assert seen in (old(), new), f"killed at step {k} of {scenario}: {seen}"
        else:  # the documented exception: entry by entry, old or new
            assert _entry_by_entry(seen, old(), new), f"killed at step {k} of {scenario}: {seen}"
        assert _others(out) == users, f"killed at step {k} of {scenario}"
        if code == 0:
            assert seen == new
            break
        with pytest.MonkeyPatch.context() as patch:
            if not exchange:
                _no_exchange(patch)
            _publish(out, "next", OLD_PAGES)  # the next run recovers without --force
        assert _snapshot(out) == _expected("next", OLD_PAGES), f"after step {k} of {scenario}"
        _assert_clean(out, users)
    assert k > 15


LATE_SCRIPT = KILL_SCRIPT.replace(
    'if exchange == "no":',
    """real_exchange = _swap.exchange


def exchange_then_die(first, second):
    if second == out:  # the real exchange, not the probe: the user adds a file just before
        (out / "late.txt").write_text("added during the build", encoding="utf-8")
        real_exchange(first, second)
        os._exit(9)
    real_exchange(first, second)


_swap.exchange = exchange_then_die
if exchange == "no":""",
)


def test_a_kill_just_after_the_exchange_loses_nothing_the_user_added(tmp_path):
    out = tmp_path / "site"
    _rerun(out)
    assert _run_killed(out, 10**6, True, LATE_SCRIPT) == 9
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    assert not (out / "late.txt").exists()  # it is in the old folder, swapped out
    _publish(out, "next", OLD_PAGES)
    assert (out / "late.txt").read_text(encoding="utf-8") == "added during the build"
    assert [p.name for p in out.parent.iterdir()] == ["site"]


def test_what_the_user_changes_during_the_swap_is_kept(tmp_path, monkeypatch):
    out = tmp_path / "site"
    _rerun(out)
    real = _swap.exchange

    def user_at_work(first: Path, second: Path) -> None:
        if second == out:  # between the copy of the user's files and the exchange
            (out / "late.txt").write_text("new file", encoding="utf-8")
            (out / "data" / "2024" / "late.csv").write_text("new too", encoding="utf-8")
            saved = out / "data" / "2024" / ".figures.csv.swp"
            saved.write_text("c,d", encoding="utf-8")
            os.replace(saved, out / "data" / "2024" / "figures.csv")  # as editors save
        real(first, second)

    monkeypatch.setattr(_swap, "exchange", user_at_work)
    _publish(out, "new", NEW_PAGES)
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    assert (out / "late.txt").read_text(encoding="utf-8") == "new file"
    assert (out / "data" / "2024" / "late.csv").read_text(encoding="utf-8") == "new too"
    assert (out / "data" / "2024" / "figures.csv").read_text(encoding="utf-8") == "c,d"
    assert [p.name for p in out.parent.iterdir()] == ["site"]


def test_the_users_files_are_the_very_same_files_after_a_report(tmp_path, monkeypatch):
    out = tmp_path / "site"
    _rerun(out)
    before = {p: os.lstat(out / p) for p in ("notes.txt", "data/2024/figures.csv", "latest")}
    calls, real = [], _swap.exchange
    monkeypatch.setattr(_swap, "exchange", lambda a, b: calls.append(b) or real(a, b))
    _publish(out, "new", NEW_PAGES)
    assert out in calls  # the folder was exchanged whole (so the tests above test that)
    for name, info in before.items():
        after = os.lstat(out / name)
        assert (after.st_ino, after.st_nlink) == (info.st_ino, info.st_nlink)  # hard links
        assert after.st_mode == info.st_mode
    assert os.stat(out / "data").st_mode & 0o777 == 0o750
    assert os.readlink(out / "latest") == "notes.txt"


def test_a_report_folder_is_plain_files_that_work_wherever_they_are_copied(report_inputs, tmp_path):
    forces, coverage, services, profiles = report_inputs
    out = tmp_path / "site"
    _legacy(out)  # even an upgraded folder
    build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    assert [str(p) for p in out.rglob("*") if p.is_symlink()] == [str(out / "latest")]
    copy = tmp_path / "elsewhere" / "report"
    shutil.copytree(out, copy, symlinks=True)  # as a zip, a stick or a static host would
    pages = re.findall(r'href="(forces/[^"#]+\.html)"', (copy / "index.html").read_text("utf-8"))
    assert len(set(pages)) == len(forces)
    assert all((copy / page).is_file() and not (copy / page).is_symlink() for page in pages)
    for page in sorted((copy / "forces").glob("*.html")):
        text = page.read_text(encoding="utf-8")
        links = re.findall(r'href="(\.\./[^"#]+)"', text)
        assert links and all((page.parent / link).resolve().is_file() for link in links), page
        (download,) = re.findall(r'href="([^"/]+-services\.csv)"', text)  # beside the page
        assert (page.parent / download).is_file() and not (page.parent / download).is_symlink()


def test_a_drive_that_cannot_exchange_gets_the_entries_one_by_one(tmp_path, monkeypatch):
    out = tmp_path / "site"
    _rerun(out)
    users = _others(out)
    real, seen = _swap.exchange, []

    def unsupported(first: Path, second: Path) -> None:
        seen.append(second)
        if second == out:
            raise OSError(errno.EINVAL, "Invalid argument")
        real(first, second)

    monkeypatch.setattr(_swap, "exchange", unsupported)
    _publish(out, "new", NEW_PAGES)
    assert out in seen
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    _assert_clean(out, users)


def test_the_current_folder_is_never_swapped_away(tmp_path, monkeypatch):
    out = tmp_path / "site"
    _rerun(out)
    monkeypatch.chdir(out / "data")
    calls, real = [], _swap.exchange
    monkeypatch.setattr(_swap, "exchange", lambda a, b: calls.append(b) or real(a, b))
    _publish(out, "new", NEW_PAGES)
    assert out not in calls
    assert os.path.samefile(os.getcwd(), out / "data")
    assert _snapshot(out) == _expected("new", NEW_PAGES)


def test_a_mount_point_is_published_from_inside(tmp_path, monkeypatch):
    out = tmp_path / "site"
    _rerun(out)
    users = _others(out)
    made = []
    real_mkdir, real_ismount = os.mkdir, os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == out or real_ismount(p))
    monkeypatch.setattr(
        os, "mkdir", lambda p, *a, **k: made.append(Path(p)) or real_mkdir(p, *a, **k)
    )
    _publish(out, "new", NEW_PAGES)
    assert [p.parent for p in made if "servicemap-" in p.name] == [out, out]
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    _assert_clean(out, users)


def test_a_parent_that_cannot_be_written_is_not_needed(tmp_path, monkeypatch):
    out = tmp_path / "site"
    _rerun(out)
    real_mkdir = os.mkdir

    def denied(path, *args, **kwargs):
        if Path(path).parent == tmp_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", denied)
    _publish(out, "new", NEW_PAGES)
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    assert _hidden(out) == [".htaccess", MANIFEST]


def test_only_servicemaps_own_leftovers_are_cleaned_up(tmp_path):
    out = tmp_path / "site"
    _publish(out, "old", OLD_PAGES)
    ours = tmp_path / ".site.servicemap-new-0123456789abcdef"
    (ours / "forces").mkdir(parents=True)
    (ours / MANIFEST).write_text("", encoding="utf-8")
    empty = tmp_path / ".site.servicemap-old-0123456789abcdef"
    empty.mkdir()
    theirs = tmp_path / ".site.servicemap-new-fedcba9876543210"
    theirs.mkdir()
    (theirs / "mine.txt").write_text("mine", encoding="utf-8")
    other_name = tmp_path / ".site.servicemap-new-backup"
    other_name.mkdir()
    (other_name / MANIFEST).write_text("", encoding="utf-8")
    _publish(out, "new", NEW_PAGES)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [theirs.name, other_name.name, "site"]
    )
    assert (theirs / "mine.txt").read_text(encoding="utf-8") == "mine"


def test_a_running_publication_is_not_cleaned_up_by_another(tmp_path):
    out = tmp_path / "site"
    _publish(out, "old", OLD_PAGES)
    with publish_folder(out, REPORT_FILES) as build:
        (build / "forces").mkdir()
        _publish(out, "other", NEW_PAGES)  # a second run while the first is writing
        assert build.is_dir()
        for name in REPORT_FILES[1:]:
            (build / name).write_text(f"first {name}", encoding="utf-8")
    assert _snapshot(out) == {name: f"first {name}" for name in REPORT_FILES[1:]}
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


@pytest.mark.parametrize("libc_first", [True, False])
def test_renameat2_exchanges_two_folders(libc_first, tmp_path):
    exchange = _swap.load_renameat2(libc_first=libc_first)
    assert exchange is not None  # CI runs on Debian (glibc >= 2.28, x86-64 or ARM64)
    (tmp_path / "a" / "one").mkdir(parents=True)
    (tmp_path / "b" / "two").mkdir(parents=True)
    a, b = (os.fsencode(tmp_path / name) for name in "ab")
    assert exchange(a, b, _swap.RENAME_EXCHANGE) == 0
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["two"]
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["one"]


def test_publishing_creates_a_missing_folder_and_its_parents(tmp_path):
    out = tmp_path / "reports" / "2025" / "site"
    _publish(out, "new", NEW_PAGES)
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    assert [p.name for p in out.parent.iterdir()] == ["site"]


def test_links_left_without_their_hidden_folder_are_not_the_users(tmp_path):
    out = tmp_path / "site"
    _linked(out)
    shutil.rmtree(out / LEGACY)  # someone tidied the hidden folder away: the links point nowhere
    _publish(out, "new", NEW_PAGES)
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    assert _links(out) == []


def test_publishing_refuses_what_it_did_not_write(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "coverage.png").write_text("my picture", encoding="utf-8")
    with pytest.raises(OutputError, match=r"did not write: coverage\.png\. Move them away"):
        _publish(out, "new", NEW_PAGES)
    assert [p.name for p in out.iterdir()] == ["coverage.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


@pytest.mark.parametrize("exchange", [True, False])
def test_a_hidden_folder_of_that_name_that_is_not_servicemaps_is_kept(exchange, tmp_path):
    out = tmp_path / "site"
    (out / LEGACY).mkdir(parents=True)
    (out / LEGACY / "notes.md").write_text("mine", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        if not exchange:
            _no_exchange(patch)
        _publish(out, "new", NEW_PAGES)
    assert (out / LEGACY / "notes.md").read_text(encoding="utf-8") == "mine"
    assert _snapshot(out) == _expected("new", NEW_PAGES)


def test_publishing_refuses_a_manifest_it_did_not_write(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / MANIFEST).write_text("my notes", encoding="utf-8")
    with pytest.raises(OutputError, match=r"did not write: \.servicemap-report\.json\. Move"):
        _publish(out, "new", NEW_PAGES)


# --- formula injection: every CSV and XLSX writer ----------------------------------------------

HOSTILE = [
    '=HYPERLINK("http://evil.example","Click")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]
_RISKY = re.compile(r"[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _unsafe(cells: list[list[str]]) -> list[str]:
    return [c for row in cells for c in row if _RISKY.match(c) and not _NUMBER.fullmatch(c)]


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_cell_neutralises_formulas(text):
    assert safe_cell(text) == ("'" + text).replace("\r", "\n")  # CR: see the next test


def test_safe_cell_turns_carriage_returns_into_line_feeds_which_csv_quotes():
    assert safe_cell("a\r=1+1") == "a\n=1+1"
    assert safe_cell("a\r\nb") == "a\nb"
    text = spreadsheet_safe(pd.DataFrame({"x": ["a\r=1+1"]})).to_csv(index=False)
    assert _cells(text) == [["x"], ["a\n=1+1"]]


@pytest.mark.parametrize("value", ["-1.5", "+3", "-0.1416", "1e-5", "Leeds = good", "", -1.5, 7])
def test_safe_cell_leaves_numbers_and_plain_text(value):
    assert safe_cell(value) == value


def test_spreadsheet_safe_guards_headers_and_keeps_numeric_columns():
    frame = pd.DataFrame({"=cmd()": ["=1"], "lon": [-1.5], "n": pd.array([-3], dtype="Int64")})
    safe = spreadsheet_safe(frame)
    assert list(safe.columns) == ["'=cmd()", "lon", "n"]
    assert safe.iloc[0].tolist() == ["'=1", -1.5, -3]
    assert list(safe.dtypes)[1:] == list(frame.dtypes)[1:]
    assert list(frame.columns)[0] == "=cmd()"  # the input is not changed


def test_write_xlsx_never_writes_a_formula_or_an_illegal_character(tmp_path):
    path = tmp_path / "t.xlsx"
    write_xlsx(pd.DataFrame({"a": [*HOSTILE, "bell\x07"], "b": range(7)}), path, sheet_name="t")
    sheet = openpyxl.load_workbook(path)["t"]
    values = [row[0].value for row in sheet.iter_rows(min_row=2)]
    assert values == [("'" + text).replace("\r", "\n") for text in HOSTILE] + ["bell\ufffd"]
    assert {c.data_type for row in sheet.iter_rows() for c in row} == {"s", "n"}


def test_coverage_csv_on_standard_output_is_safe(fake_coverage):
    result = CliRunner().invoke(cli, ["coverage", "--format", "csv"])
    cells = _cells(result.stdout)
    assert _unsafe(cells) == []
    assert cells[2][2] == "-1.5"  # a negative gap score stays a number


def test_validate_csv_is_safe(tmp_path):
    path = tmp_path / "hostile.csv"
    header = "id,name,postcode,scope,areas_served,service_types,status,source_url,@SUM(A1:A2)"
    rows = [
        f'"s{i}","{t.replace(chr(34), chr(34) * 2)}","{t.replace(chr(34), chr(34) * 2)}",'
        "local,Leeds,advocacy,active,https://example.org,x"
        for i, t in enumerate(HOSTILE)
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")  # fmt: skip
    result = CliRunner().invoke(cli, ["validate", str(path), "--format", "csv"])
    cells = _cells(result.stdout)
    assert len(cells) > 2
    assert _unsafe(cells) == []
    assert "'+cmd|' /C calc'!A0" in [c for row in cells for c in row]


def test_need_show_csv_is_safe(tmp_path, monkeypatch):
    from servicemap.geography import need

    table = need.load_need()
    hostile = table.assign(force_name=[HOSTILE[0], *table["force_name"][1:]])
    monkeypatch.setattr(need, "load_need", lambda path=None: hostile)
    result = CliRunner().invoke(cli, ["need", "show", "--format", "csv"])
    assert result.exit_code == 0, result.output
    cells = _cells(result.stdout)
    assert _unsafe(cells) == []
    assert cells[1][1] == "'" + HOSTILE[0]


def test_near_and_plan_csv_are_safe():
    from servicemap.render.text import format_near, format_what_if

    frame = pd.DataFrame({"name": HOSTILE, "distance_km": [-1.5, 0, 1, 2, 3, 4]})
    for text in (format_near(frame, "csv"), format_what_if(frame, "csv")):
        cells = _cells(text)
        assert _unsafe(cells) == []
        assert cells[1] == ["'" + HOSTILE[0], "-1.5"]


def test_geocode_output_is_safe(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(
        "=name,postcode,note\n"
        + "".join(f'x,SW1A 1AA,"{t.replace(chr(34), chr(34) * 2)}"\n' for t in HOSTILE),
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["geocode", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    cells = _cells(out.read_text(encoding="utf-8"))
    assert cells[0][0] == "'=name"
    assert _unsafe(cells) == []
    longitude = cells[0].index("longitude")
    assert float(cells[1][longitude]) < 0  # a negative longitude stays a plain number


def test_report_coverage_csv_is_safe(report_inputs, tmp_path):
    forces, coverage, services, profiles = report_inputs
    hostile = coverage.assign(force_name=[HOSTILE[1], *coverage["force_name"][1:]])
    build_report(forces, hostile, services, out_dir=tmp_path / "site", profiles=profiles)
    text = (tmp_path / "site" / "coverage.csv").read_text(encoding="utf-8-sig")
    assert _unsafe(_cells(text)) == []


# Where servicemap turns a table into CSV or XLSX text. Every one must go through the one guard
# in servicemap._csv (safe_cell / spreadsheet_safe / csv_text / write_csv / write_xlsx); the few
# listed here write files that are not meant for spreadsheets, or use the guard themselves.
ALLOWED_WRITERS = {
    ("_csv.py", "to_csv("): "the guard itself",
    ("coverage.py", "to_csv("): "format_table: spreadsheet_safe(frame).to_csv",
    ("downloads.py", "to_csv("): "each force's rows of spreadsheet_safe(table), made safe once",
    ("need.py", "to_csv("): "download_need: the numeric cache table read back by --need",
    ("postcodes.py", "to_csv("): "a checksum of the register, never written",
    ("boundaries.py", "to_csv("): "a checksum of the register, never written",
    ("text.py", "DictWriter("): "format_problems: every cell through safe_cell",
    ("review.py", "Workbook("): "review workbooks: every cell through safe_cell",
}


def test_every_csv_and_xlsx_writer_goes_through_the_one_guard():
    found = set()
    for path in sorted((SRC / "servicemap").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ("to_csv(", "to_excel(", "csv.writer(", "DictWriter(", "Workbook("):
            if needle in text:
                found.add((path.name, needle))
    found.discard(("_csv.py", "Workbook("))
    unexpected = sorted(found - set(ALLOWED_WRITERS))
    assert unexpected == [], (
        f"{unexpected}: write CSV/XLSX with servicemap._csv (csv_text, write_csv, write_xlsx or "
        "safe_cell) so that no cell can run as a formula, or add it here with the reason."
    )
    services = (SRC / "servicemap" / "render" / "text.py").read_text(encoding="utf-8")
    assert "safe_cell(v) for k, v in p.to_dict().items()" in services


def test_a_drive_mounted_inside_the_folder_is_never_swapped(tmp_path, monkeypatch):
    out = tmp_path / "site"
    _rerun(out)
    users = _others(out)
    real_lstat, calls, real = os.lstat, [], _swap.exchange

    def mounted(path, *args, **kwargs):
        info = real_lstat(path, *args, **kwargs)
        if Path(path) == out / "data":  # as if another drive were mounted there
            return os.stat_result((*info[:2], info.st_dev + 1, *info[3:]))
        return info

    monkeypatch.setattr(os, "lstat", mounted)
    monkeypatch.setattr(_swap, "exchange", lambda a, b: calls.append(b) or real(a, b))
    _publish(out, "new", NEW_PAGES)
    assert out not in calls  # the entries were replaced one by one instead
    assert _snapshot(out) == _expected("new", NEW_PAGES)
    _assert_clean(out, users)
