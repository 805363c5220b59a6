"""The ``servicemap`` command line: thin commands over the library.

The group, its ``-h``/``--version``/``-q`` and the commands' registration live here; the shared
options in :mod:`servicemap.cli.options`, the commands by family in the ``commands_*`` modules.
A command's module is imported only when that command is used, and the commands import the
library when they run, so that ``servicemap -h`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: Every command: name -> (module, attribute, its one-line help). ``servicemap -h`` lists them
#: from here and a command's module is imported only when the command is run or asked for its
#: own help, so the listing loads neither the library nor the option helpers (click's "lazily
#: loading subcommands" pattern). tests/test_cli.py checks each line against the docstring.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "apply-review": (
        "servicemap.cli.commands_review",
        "apply_review_command",
        "Apply filled review workbooks: write a new directory and print exactly what changed.",
    ),
    "boundaries": (
        "servicemap.cli.commands_data",
        "boundaries_group",
        "Police force area boundaries: where they come from, export and checks.",
    ),
    "check-links": (
        "servicemap.cli.commands_review",
        "check_links_command",
        "Check every website and source link (needs the internet); never changes the directory.",
    ),
    "compare": (
        "servicemap.cli.commands_changes",
        "compare_command",
        "Say what changed between two services files or two report folders.",
    ),
    "coverage": (
        "servicemap.cli.commands_coverage",
        "coverage_command",
        "Score every police force area (or district, or authority): need, access, gap score, rank.",
    ),
    "export": (
        "servicemap.cli.commands_data",
        "export_command",
        "Write the services directory with confidential locations withheld.",
    ),
    "force": (
        "servicemap.cli.commands_coverage",
        "force_command",
        "Profile one police force area: who serves it and how, its gaps, its rank, help nearby.",
    ),
    "forces": (
        "servicemap.cli.commands_data",
        "forces_command",
        "List the 43 police force areas with code, name, country and postcode count.",
    ),
    "geocode": (
        "servicemap.cli.commands_data",
        "geocode_command",
        "Add postcode status, grid reference, latitude/longitude, district and force to a CSV.",
    ),
    "map": (
        "servicemap.cli.commands_maps",
        "map_command",
        "Draw the coverage map: one self-contained HTML page that works offline.",
    ),
    "near": (
        "servicemap.cli.commands_coverage",
        "near_command",
        "List who can help someone at a postcode: services serving it, then in-person ones nearby.",
    ),
    "need": (
        "servicemap.cli.commands_data",
        "need_group",
        "Need per police force area: residents, people born outside the UK, women aged 16+.",
    ),
    "plan": (
        "servicemap.cli.commands_plan",
        "plan_command",
        "Plan a funding round: what funding services would change, or where N new ones reach most.",
    ),
    "report": (
        "servicemap.cli.commands_maps",
        "report_command",
        "Write the coverage report: index page, map, one page per force, CSV and picture.",
    ),
    "review": (
        "servicemap.cli.commands_review",
        "review_command",
        "Write one review workbook (XLSX) per police force area for local partners to fill in.",
    ),
    "validate": (
        "servicemap.cli.commands_data",
        "validate_command",
        "Check a services directory and list every problem in it, errors first.",
    ),
}


class _Commands(MutableMapping[str, click.Command]):
    """The group's commands, each imported from its module the first time it is looked up."""

    def __init__(self) -> None:
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            module, attribute, _ = COMMANDS[name]
            command = getattr(importlib.import_module(module), attribute)
            _add_quiet(command)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*COMMANDS, *self._loaded}))

    def __len__(self) -> int:
        return len({*COMMANDS, *self._loaded})

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._loaded


class _ServicemapGroup(click.Group):
    """The ``servicemap`` group: commands loaded when used; Ctrl-C ends any with status 130."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; on Ctrl-C say ``Interrupted.`` and exit 130 (128 + SIGINT)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # A terminal has echoed "^C" without a newline; CliRunner and pipes have not.
            click.echo(("\n" if sys.stderr.isatty() else "") + "Interrupted.", err=True)
            ctx.exit(130)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from :data:`COMMANDS`, shortened as click shortens help."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, _listed(self, name).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _listed(group: click.Group, name: str) -> click.Command:
    """Return the command, or a stand-in with its one-line help if it is not loaded yet."""
    commands = group.commands
    if isinstance(commands, _Commands) and name in COMMANDS and name not in commands._loaded:
        return click.Command(name, help=COMMANDS[name][2])
    return commands[name]


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from servicemap.cli.options import QUIET_KEY

        ctx.meta[QUIET_KEY] = True


_QUIET_HELP = "Hide data-quality warnings and cache notices (errors still show)."


def _quiet_option(*, envvar: str | None = None) -> click.Option:
    """Return a ``-q/--quiet`` option that marks the whole command line as quiet."""
    return click.Option(
        ["-q", "--quiet"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        envvar=envvar,
        callback=_set_quiet,
        help=_QUIET_HELP + (f" Also: {envvar}=1." if envvar else ""),
    )


def _add_quiet(command: click.Command) -> None:
    """Give a command (and a group's sub-commands) ``-q/--quiet``, so it works after the name."""
    if any(isinstance(p, click.Option) and "--quiet" in p.opts for p in command.params):
        return
    command.params.append(_quiet_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_quiet(sub)


@click.group(cls=_ServicemapGroup, commands=_Commands(), context_settings=CONTEXT_SETTINGS)
@click.version_option(None, "--version", package_name="servicemap", prog_name="servicemap")
def cli() -> None:
    """Map specialist services for migrant victims of domestic abuse by police force area."""


cli.params.append(_quiet_option(envvar="SERVICEMAP_QUIET"))
