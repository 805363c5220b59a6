"""Commands about change over time: compare."""

from __future__ import annotations

from pathlib import Path

import click

from servicemap.cli.options import (
    build_settings,
    cache_dir_option,
    check_output_files,
    current_selection,
    format_option,
    output_option,
    reports_errors,
    selection_options,
)


@click.command(name="compare")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@format_option("text", "csv", "json", default="text")
@output_option(help="Write to this file (replaced atomically) instead of the terminal.")
@selection_options
@cache_dir_option
@reports_errors
def compare_command(
    old: Path, new: Path, fmt: str, output: Path | None, cache_dir: Path | None
) -> None:
    """Say what changed between two services files or two report folders.

    OLD and NEW are each a services directory file (scored now, as a report would) or a report
    folder (what that report rested on, from its snapshot.json). Lists the services added,
    ended or changed (and which fields), and the police force areas whose gap class, gap score
    (by 2 points or more) or gap rank changed, with the services in them that came or went.

    \b
    Example:
        servicemap compare reports/2025/ maps/
        servicemap compare old.csv data/services/services.csv --format csv
    """
    from servicemap._atomic import atomic_write_text
    from servicemap.analysis.changes import compare_snapshots
    from servicemap.analysis.snapshot import load_snapshot
    from servicemap.render.changes_text import format_changes

    if output is not None:
        check_output_files({"-o": output}, inputs={"OLD": old, "NEW": new})
    settings = build_settings(cache_dir)
    selection = current_selection()
    before = load_snapshot(old, selection=selection, settings=settings)
    after = load_snapshot(new, selection=selection, settings=settings)
    text = format_changes(compare_snapshots(before, after), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"Wrote the changes to {output}", err=True)
