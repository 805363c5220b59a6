"""The ``servicemap`` command line: thin commands over the library.

The group, its ``-h``/``--version``/``-q`` and the commands' registration live here; the shared
options in :mod:`servicemap.cli.options`, the commands by family in the ``commands_*`` modules.
The commands import the library when they run, so that ``servicemap -h`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from servicemap.cli.commands_changes import compare_command
from servicemap.cli.commands_coverage import coverage_command, force_command, near_command
from servicemap.cli.commands_data import (
    boundaries_group,
    export_command,
    forces_command,
    geocode_command,
    need_group,
    validate_command,
)
from servicemap.cli.commands_maps import map_command, report_command
from servicemap.cli.commands_plan import plan_command
from servicemap.cli.commands_review import (
    apply_review_command,
    check_links_command,
    review_command,
)
from servicemap.cli.options import QUIET_KEY

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _ServicemapGroup(click.Group):
    """The ``servicemap`` group: Ctrl-C ends any command with one line and exit status 130."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; on Ctrl-C say ``Interrupted.`` and exit 130 (128 + SIGINT)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # A terminal has echoed "^C" without a newline; CliRunner and pipes have not.
            click.echo(("\n" if sys.stderr.isatty() else "") + "Interrupted.", err=True)
            ctx.exit(130)


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
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


@click.group(cls=_ServicemapGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(None, "--version", package_name="servicemap", prog_name="servicemap")
def cli() -> None:
    """Map specialist services for migrant victims of domestic abuse by police force area."""


cli.params.append(_quiet_option(envvar="SERVICEMAP_QUIET"))

for _command in (
    apply_review_command,
    boundaries_group,
    check_links_command,
    compare_command,
    coverage_command,
    export_command,
    force_command,
    forces_command,
    geocode_command,
    map_command,
    near_command,
    need_group,
    plan_command,
    report_command,
    review_command,
    validate_command,
):
    cli.add_command(_command)


def _add_quiet(group: click.Group) -> None:
    """Give every command and sub-group ``-q/--quiet`` too, so it works after the command."""
    for command in group.commands.values():
        command.params.append(_quiet_option())
        if isinstance(command, click.Group):
            _add_quiet(command)


_add_quiet(cli)
