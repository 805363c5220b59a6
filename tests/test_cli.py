"""The CLI feels like one tool: help everywhere, every command documented in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from servicemap import __version__
from servicemap.cli import cli

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
