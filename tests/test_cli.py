"""The CLI feels like one tool: help everywhere, every command documented in the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from servicemap import __version__
from servicemap.cli import COMMANDS as COMMANDS_TABLE
from servicemap.cli import cli
from servicemap.errors import CacheNotice

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
        else:
            found.append(path)
    return found


COMMANDS = _commands(cli)


def test_the_cli_has_the_commands_the_issues_ask_for():
    names = {" ".join(path) for path in COMMANDS}
    expected = {
        "forces",
        "geocode",
        "boundaries info",
        "boundaries download",
        "boundaries export",
        "boundaries check",
        "validate",
        "export",
        "coverage",
        "force",
        "near",
        "need download",
        "map",
        "report",
        "plan",
    }
    assert expected <= names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(cli, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"servicemap {' '.join(path)}" in result.output


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_is_in_the_readme(path):
    assert f"`servicemap {' '.join(path)}" in README


def test_version_and_short_help():
    assert CliRunner().invoke(cli, ["--version"]).output == f"servicemap, version {__version__}\n"
    result = CliRunner().invoke(cli, ["-h"])
    assert result.exit_code == 0
    assert "Usage: servicemap" in result.output or "Usage: cli" in result.output


def test_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["mapp"])
    assert result.exit_code == 2
    assert "No such command 'mapp'" in result.output


# --- -q/--quiet and the bundled directory's warnings ---------------------------------------

OWN_DIRECTORY = (
    "id,name,scope,areas_served,service_types,delivery,postcode,address,location_confidential,"
    "status,source_url,phone\n"
    "a1,Southall Advocacy,local,Ealing,advocacy,both,UB1 3BL,21 Avenue Road,no,unknown,"
    "https://example.org,020 8571 9595\n"
    "a2,Ealing Advocacy,local,Ealing,advocacy,both,UB1 3BL,21 Avenue Road,no,unknown,"
    "https://example.org,020 8571 9596\n"
)
SUMMARY = re.compile(
    r"^Warning: the bundled directory has (\d+) data-quality warnings \((.+)\); run "
    r"'servicemap validate' to see them, -q to hide this\.$"
)


@pytest.fixture
def own_directory(tmp_path: Path) -> Path:
    path = tmp_path / "own.csv"
    path.write_text(OWN_DIRECTORY, encoding="utf-8")
    return path


def test_bundled_directory_warnings_are_one_short_line() -> None:
    from servicemap.directory.load import bundled_services_path
    from servicemap.directory.validate import validate_services

    result = CliRunner().invoke(cli, ["near", "UB1", "3BL"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 200
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    warnings = [p for p in validate_services(bundled_services_path()) if p.severity == "warning"]
    assert int(match.group(1)) == len(warnings)
    parts = [part.split(" ", 1) for part in match.group(2).split(", ")]
    assert sum(int(count) for count, _ in parts) == len(warnings)


def test_data_quality_lines_summarise_the_bundled_directory_only() -> None:
    from servicemap.cli.options import data_quality_lines
    from servicemap.directory.load import bundled_services_path

    bundled = str(bundled_services_path())
    messages = [
        f"{bundled}: 68 warnings like this one (rows 3, 6, …): {bundled}:3: column 'status': "
        "'unknown': it is not known whether the service still runs. Fix: set 'active'.",
        f"{bundled}: 54 warnings like this one (rows 5, 6, …): {bundled}:5: column 'last_seen': "
        "'2023' is more than 18 months ago; the service may have ended. Fix: check it.",
        f"{bundled}:9: column 'phone': '123' does not look like a UK phone number.",
        "own.csv:2: column 'status': 'unknown': it is not known whether the service still runs.",
    ]
    assert data_quality_lines(messages) == [
        "Warning: own.csv:2: column 'status': 'unknown': it is not known whether the service "
        "still runs.",
        "Warning: the bundled directory has 123 data-quality warnings (68 status unknown, 54 not "
        "seen for 18 months, 1 about phone); run 'servicemap validate' to see them, -q to hide "
        "this.",
    ]


def test_warnings_about_your_own_file_keep_their_detail(own_directory: Path) -> None:
    result = CliRunner().invoke(cli, ["near", "UB1 3BL", "--services", str(own_directory)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"Warning: {own_directory}: 2 warnings like this one (rows 2, 3): {own_directory}:2: "
        "column 'status': 'unknown'"
    )


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["-q", "near", "UB1 3BL"], {}),
        (["--quiet", "near", "UB1 3BL"], {}),
        (["near", "UB1 3BL", "-q"], {}),
        (["near", "-q", "UB1 3BL"], {}),
        (["near", "UB1 3BL"], {"SERVICEMAP_QUIET": "1"}),
        (["near", "UB1 3BL"], {"SERVICEMAP_QUIET": "true"}),
    ],
    ids=["-q first", "--quiet first", "-q last", "-q between", "env 1", "env true"],
)
def test_quiet_hides_data_quality_warnings(args: list[str], env: dict[str, str]) -> None:
    result = CliRunner(env=env).invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("UB1 3BL (Ealing, Metropolitan Police): ")


def test_quiet_hides_your_own_files_warnings_too(own_directory: Path) -> None:
    out = own_directory.with_name("o.csv")
    args = ["-q", "export", "--services", str(own_directory), "--format", "csv", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr


def test_quiet_0_in_the_environment_shows_warnings() -> None:
    result = CliRunner(env={"SERVICEMAP_QUIET": "0"}).invoke(cli, ["near", "UB1 3BL"])
    assert result.exit_code == 0, result.output
    assert SUMMARY.match(result.stderr.splitlines()[-1])


def test_quiet_never_hides_errors() -> None:
    result = CliRunner().invoke(cli, ["-q", "near", "XX"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: 'XX' is not a UK postcode")


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_takes_quiet(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "-q", "-h"])
    assert result.exit_code == 0, result.output
    assert "-q, --quiet" in result.output


def test_validate_without_a_file_checks_the_bundled_directory() -> None:
    from servicemap.directory.load import bundled_services_path

    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(
        rf"0 errors, \d+ warnings in {re.escape(str(bundled_services_path()))}", last
    )


# --- what the command line shows of warnings and notices ------------------------------------


def _warn_then_list(monkeypatch: pytest.MonkeyPatch, *warnings_: tuple[type[Warning], str]) -> None:
    """Make ``servicemap forces`` raise the given warnings before it lists the forces."""
    import warnings

    from servicemap.geography import postcodes

    real = postcodes.forces_with_postcode_counts

    def noisy(**kwargs: Any) -> Any:
        for category, text in warnings_:
            warnings.warn(text, category, stacklevel=2)
        return real(**kwargs)

    monkeypatch.setattr(postcodes, "forces_with_postcode_counts", noisy)


def test_a_cache_notice_is_one_notice_line(monkeypatch: pytest.MonkeyPatch) -> None:
    _warn_then_list(monkeypatch, (CacheNotice, "The cached postcode table 'x' cannot be read."))
    result = CliRunner().invoke(cli, ["forces"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "Notice: The cached postcode table 'x' cannot be read.\n"


def test_quiet_hides_cache_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    _warn_then_list(monkeypatch, (CacheNotice, "The cached postcode table 'x' cannot be read."))
    result = CliRunner().invoke(cli, ["forces", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_other_warnings_are_passed_on_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # They used to be re-raised into the list being read: the command never ended. They go
    # to the warnings machinery as before (stderr from a shell; pytest.warns here).
    _warn_then_list(monkeypatch, (UserWarning, "a library's own warning"))
    with pytest.warns(UserWarning, match="a library's own warning") as caught:
        result = CliRunner().invoke(cli, ["forces"])
    assert result.exit_code == 0, result.output
    assert len(caught) == 1


# --- Ctrl-C ----------------------------------------------------------------------------------


def _interrupt(*args: Any, **kwargs: Any) -> Any:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("target", "args"),
    [
        ("servicemap.analysis.near.services_near", ["near", "UB1 3BL"]),
        ("servicemap.analysis.kept.load_public_services", ["near", "UB1 3BL"]),
        ("servicemap.geography.postcodes.forces_with_postcode_counts", ["forces"]),
        ("servicemap.directory.validate.validate_services", ["validate"]),
    ],
)
def test_ctrl_c_exits_130_with_one_line(
    monkeypatch: pytest.MonkeyPatch, target: str, args: list[str]
) -> None:
    monkeypatch.setattr(target, _interrupt)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 130
    assert result.stderr == "Interrupted.\n"
    assert result.stdout == ""


def test_ctrl_c_while_writing_leaves_no_partial_file(
    monkeypatch: pytest.MonkeyPatch, own_directory: Path
) -> None:
    import os

    out = own_directory.with_name("out.csv")
    out.write_text("the earlier export\n", encoding="utf-8")
    monkeypatch.setattr(os, "replace", _interrupt)  # every atomic writer renames into place
    args = ["export", "--services", str(own_directory), "--format", "csv", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 130
    assert result.stderr == "Interrupted.\n"
    assert out.read_text(encoding="utf-8") == "the earlier export\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.csv", "own.csv"]


# --- numbers in options ----------------------------------------------------------------------

RADIUS_COMMANDS = {
    "near": (["near", "UB1 3BL"], "25"),
    "coverage": (["coverage"], "10"),
    "force": (["force", "Kent"], "10"),
    "plan": (["plan", "--add", "2"], "10"),
}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nan", "is not a finite number"),
        ("inf", "is not a finite number"),
        ("-inf", "is not a finite number"),
        ("1e999", "is not a finite number"),
        ("-5", "is out of range"),
        ("0", "is out of range"),
        ("ten", "is not a number"),
    ],
)
@pytest.mark.parametrize("command", list(RADIUS_COMMANDS))
def test_radius_must_be_a_finite_positive_distance(command: str, value: str, problem: str) -> None:
    args, example = RADIUS_COMMANDS[command]
    result = CliRunner().invoke(cli, [*args, "--radius-km", value])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--radius-km': {value!r} {problem}; give a distance in km "
        f"greater than 0, such as {example}."
    )


def test_a_good_radius_still_works() -> None:
    result = CliRunner().invoke(cli, ["-q", "near", "UB1 3BL", "--radius-km", "2.5"])
    assert result.exit_code == 0, result.output
    assert "in-person services within 2.5 km." in result.stdout.splitlines()[0]


def test_finite_float_type() -> None:
    from servicemap.cli.options import FiniteFloat

    kind = FiniteFloat(minimum=1, what="a count", example="3")
    assert kind.convert("1", None, None) == 1.0
    assert kind.convert(2.5, None, None) == 2.5
    with pytest.raises(click.BadParameter, match=r"^'0.5' is out of range; give a count at "
                       r"least 1, such as 3\.$"):  # fmt: skip
        kind.convert("0.5", None, None)
    with pytest.raises(click.BadParameter, match="nan is not a finite number"):
        kind.convert(float("nan"), None, None)


# --- tiles -----------------------------------------------------------------------------------

TILE_ADVICE = (
    "use an xyzservices tile provider that needs no API key, such as OpenStreetMap, "
    "OpenTopoMap, Esri.WorldGrayCanvas, Esri.WorldStreetMap or Esri.WorldImagery; or leave out "
    "--tiles for a map that works offline."
)


@pytest.mark.parametrize("command", ["map", "report"])
@pytest.mark.parametrize(
    ("tiles", "message"),
    [
        ("NoSuchTiles", "Unknown base map 'NoSuchTiles'. U" + TILE_ADVICE[1:]),
        (
            "Esri.WorldImagry",
            "Unknown base map 'Esri.WorldImagry'. Did you mean 'Esri.WorldImagery' or "
            f"'Esri.ArcticImagery' or 'Esri.WorldTopoMap'? Otherwise {TILE_ADVICE}",
        ),
        (
            "Thunderforest.OpenCycleMap",
            "Base map 'Thunderforest.OpenCycleMap' needs an API key, which servicemap cannot "
            f"pass; {TILE_ADVICE}",
        ),
        (
            "CartoDB positron",
            f"Base map 'CartoDB positron' needs an API key, which servicemap cannot pass; "
            f"{TILE_ADVICE}",
        ),
    ],
)
def test_unusable_tiles_are_a_usage_error(
    tmp_path: Path, command: str, tiles: str, message: str
) -> None:
    out = tmp_path / ("map.html" if command == "map" else "site")
    result = CliRunner().invoke(cli, [command, "--tiles", tiles, "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for '--tiles': {message}"
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("OpenStreetMap", "OpenStreetMap.Mapnik"),
        ("openstreetmap", "OpenStreetMap.Mapnik"),
        ("Esri.WorldGrayCanvas", "Esri.WorldGrayCanvas"),
        ("esri worldimagery", "Esri.WorldImagery"),
        ("OpenTopoMap", "OpenTopoMap"),
    ],
)
def test_tile_names_match_loosely(name: str, provider: str) -> None:
    from servicemap.render.tiles import tile_provider

    assert tile_provider(name).name == provider


def test_the_library_rejects_unknown_tiles_too() -> None:
    import geopandas as gpd

    from servicemap.errors import MapError
    from servicemap.render.maps import coverage_map

    empty = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs="EPSG:27700")
    with pytest.raises(MapError, match=r"^Unknown base map 'NoSuchTiles'\. Use an xyzservices"):
        coverage_map(empty, empty, empty, tiles="NoSuchTiles")


# --- the listing is read without loading the commands ------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS_TABLE), ids=sorted(COMMANDS_TABLE))
def test_the_listed_help_is_the_commands_own_first_line(name: str) -> None:
    command = cli.commands[name]
    assert COMMANDS_TABLE[name][2] == command.get_short_help_str(10**6)


def test_the_listing_loads_no_command_nor_the_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from servicemap.cli import cli\n"
        "try:\n"
        "    cli(['-h'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in sys.modules if m.startswith('servicemap.cli.') or m in "
        "('pandas', 'numpy', 'platformdirs', 'servicemap.settings')]\n"
        "print('loaded:', sorted(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "Commands:" in result.stdout
    assert result.stdout.rstrip().endswith("loaded: []")


def test_a_command_loaded_later_still_takes_quiet_after_its_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "-h"])
    assert "-q, --quiet" in result.output
    assert sum(p.name == "quiet" for p in cli.commands["validate"].params) == 1
