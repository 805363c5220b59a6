"""Commands that keep the directory current: review, apply-review and check-links."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from servicemap.cli.options import (
    build_settings,
    cache_dir_option,
    check_output_files,
    data_inputs,
    output_option,
    reports_errors,
    services_option,
)


@click.command(name="review")
@click.option("--force", "force", default=None, metavar="NAME", help="Only this police force area.")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    metavar="DIR",
    help="Folder to write the workbooks into (created if missing; same-named files replaced).",
)
@services_option
@cache_dir_option
@reports_errors
def review_command(
    force: str | None, out_dir: Path, services_path: Path | None, cache_dir: Path | None
) -> None:
    """Write one review workbook (XLSX) per police force area for local partners to fill in.

    Each lists the services serving the force with their public fields only (never a
    confidential service's address), what needs checking, and empty answer columns with
    drop-down lists. National services go in review-national.xlsx. Read the answers back with
    'servicemap apply-review'.

    \b
    Example:
        servicemap review --force "Thames Valley" -o reviews/
    """
    from servicemap._progress import progress
    from servicemap.directory.load import load_services
    from servicemap.directory.review import review_file_name, review_sheets, write_review_workbook
    from servicemap.geography.areas import find_force
    from servicemap.geography.forces import force_names

    codes = [find_force(force)] if force else None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"Cannot create the folder {str(out_dir)!r}: {exc}") from exc
    services = load_services(services_path, settings=build_settings(cache_dir))
    sheets = review_sheets(services, force_codes=codes)
    names = force_names() | {"national": "national services"}
    for code in progress(list(sheets), label="Review workbooks"):
        path = out_dir / review_file_name(code)
        write_review_workbook(sheets[code], path, title=names.get(code, code))
    rows = sum(len(table) for table in sheets.values())
    click.echo(f"Wrote {len(sheets)} review workbook(s), {rows} service rows, to {out_dir}")


def _month(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month; give YYYY-MM, e.g. 2026-12.") from None


@click.command(name="apply-review")
@click.argument(
    "sheets", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@output_option(help="The new directory (CSV) to write; never the --services file.", required=True)
@click.option(
    "--reviewed",
    default=None,
    metavar="YYYY-MM",
    callback=_month,
    help="When the review was done: 'still running: yes' sets last_seen to it. Default: this "
    "month.",
)
@services_option
@reports_errors
def apply_review_command(
    sheets: tuple[Path, ...],
    output: Path,
    reviewed: dt.date | None,
    services_path: Path | None,
) -> None:
    """Apply filled review workbooks: write a new directory and print exactly what changed.

    Every answer is checked first (sheet, row, column); if any is wrong nothing is written.

    \b
    Example:
        servicemap apply-review reviews/*.xlsx -o services-reviewed.csv
    """
    from servicemap._atomic import atomic_write_text
    from servicemap._csv import csv_text
    from servicemap.directory.load import bundled_services_path
    from servicemap.directory.read import read_services_table
    from servicemap.directory.review import apply_review

    inputs = data_inputs(services_path) | {f"sheet {p.name}": p for p in sheets}
    check_output_files({"-o": output}, inputs=inputs)
    if output.suffix.lower() != ".csv":
        raise click.UsageError(f"-o {str(output)!r}: apply-review writes CSV; end it with .csv.")
    source = services_path or bundled_services_path()
    table, log = apply_review(read_services_table(source), list(sheets), reviewed=reviewed)
    atomic_write_text(output, csv_text(table))
    for line in log:
        click.echo(line)
    changed = len({line.split(":", 1)[0] for line in log})
    click.echo(
        f"{len(log)} change(s) to {changed} service(s); wrote {len(table)} services to {output}",
        err=True,
    )


@click.command(name="check-links")
@output_option(help="Write the report as CSV (replaced atomically); default: a table on screen.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=8,
    show_default=True,
    help="The most links checked at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=15.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for each answer before retrying.",
)
@services_option
@cache_dir_option
@reports_errors
def check_links_command(
    output: Path | None,
    concurrency: int,
    timeout: float,
    services_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Check every website and source link (needs the internet); never changes the directory.

    Each link is fetched once with timeouts, retries and servicemap's User-Agent, and reported
    as answered, redirected (with where it ended) or failed (with why).

    \b
    Example:
        servicemap check-links -o links.csv
    """
    from servicemap._csv import write_csv
    from servicemap._progress import progress
    from servicemap._tables import format_table
    from servicemap.directory.links import OUTCOMES, check_links
    from servicemap.directory.load import load_services

    check_output_files({"-o": output}, inputs=data_inputs(services_path))
    settings = build_settings(cache_dir, timeout=timeout)
    services = load_services(services_path, settings=settings)
    report = check_links(
        services,
        concurrency=concurrency,
        settings=settings,
        progress=lambda results, n: progress(results, label="Links", length=n),
    )
    if output is None:
        shown = ("id", "field", "outcome", "status", "detail", "final_url")
        click.echo(format_table(report, "table", columns=shown), nl=False)
    else:
        write_csv(report, output)
    counts = report["outcome"].value_counts()
    summary = ", ".join(f"{int(counts.get(o, 0))} {o}" for o in OUTCOMES)
    where = f"; report in {output}" if output else ""
    click.echo(f"Checked {len(report)} links: {summary}{where}", err=True)
