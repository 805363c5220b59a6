"""Commands that score the force areas: coverage, force and near."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from servicemap.cli.options import (
    F,
    boundaries_option,
    build_settings,
    cache_dir_option,
    check_output_files,
    data_inputs,
    format_option,
    need_option,
    output_format,
    output_option,
    radius_km_type,
    reports_errors,
    select_current,
    selection_options,
    services_option,
)
from servicemap.settings import Settings

if TYPE_CHECKING:  # imported by the commands when they run, so that -h stays fast
    import pandas as pd


def _radius_option(func: F) -> F:
    """Add ``--radius-km`` (repeatable): distances for the in-person access shares."""
    return click.option(
        "--radius-km",
        "radii",
        type=radius_km_type("10"),
        metavar="KM",
        multiple=True,
        default=(10.0, 25.0),
        show_default=True,
        help="Distance for the in-person access shares; repeat for several.",
    )(func)


def _services_and_coverage(
    services_path: Path | None,
    need_path: Path | None,
    radii: tuple[float, ...],
    settings: Settings,
    level: str = "force",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load the services directory (public, kept between runs) and return it and its coverage."""
    from servicemap.analysis.kept import kept_coverage, load_public_services

    services, _ = select_current(load_public_services(services_path, settings=settings))
    table = kept_coverage(
        services, level=level, need_path=need_path, radii_km=radii, settings=settings
    )
    return services, table


_AREAS = {
    "force": "police force areas",
    "district": "local authority districts",
    "authority": "tier-one local authorities",
}


# File kinds (FILE_KINDS) coverage writes, and the format each holds.
COVERAGE_FILES: dict[str, tuple[str, ...]] = {
    "text": ("table",),
    "csv": ("csv",),
    "json": ("json",),
    "markdown": ("markdown",),
    "gpkg": ("gpkg",),
    "xlsx": ("xlsx",),
}


def _echo_access_basis(coverage: pd.DataFrame) -> None:
    """Say on stderr how many services the in-person access figures rest on."""
    from servicemap.render.labels import access_basis

    if "active_services" in coverage.attrs:
        places, active = coverage.attrs["visitable_services"], coverage.attrs["active_services"]
        click.echo(access_basis(int(places), int(active)), err=True)


@click.command(name="coverage")
@format_option(
    "table",
    "csv",
    "json",
    "markdown",
    "gpkg",
    "xlsx",
    default="table",
    help="table and markdown show the main columns; csv, json, xlsx and gpkg have all of them.",
    from_output=True,
)
@output_option(
    help="File to write (replaced atomically); default: standard output. Its name gives the "
    "format: .txt, .csv, .json, .md, .xlsx or .gpkg. Needed for xlsx and gpkg."
)
@click.option(
    "--sort",
    "sort_by",
    default=None,
    metavar="COLUMN",
    help="Sort by a column; '-' first: descending.",
)
@click.option(
    "--by",
    "level",
    type=click.Choice(list(_AREAS)),
    default="force",
    show_default=True,
    help="Areas to score: police force areas, local authority districts (318), or tier-one "
    "local authorities (county councils, unitaries, metropolitan districts, London boroughs, "
    "Welsh principal areas).",
)
@_radius_option
@services_option
@selection_options
@need_option
@boundaries_option
@cache_dir_option
@reports_errors
def coverage_command(
    fmt: str | None,
    output: Path | None,
    sort_by: str | None,
    level: str,
    radii: tuple[float, ...],
    services_path: Path | None,
    need_path: Path | None,
    boundaries_source: str,
    cache_dir: Path | None,
) -> None:
    """Score every police force area (or district, or authority): need, access, gap score, rank.

    \b
    Example:
        servicemap coverage -o coverage.csv --radius-km 10 --radius-km 25
        servicemap coverage --by authority -o authorities.csv
    """
    from servicemap.analysis.coverage import sort_coverage
    from servicemap.render.text import format_coverage, write_coverage

    inputs = data_inputs(
        services_path, need_path=need_path, uses_need=True, boundaries_source=boundaries_source
    )
    check_output_files({"-o": output}, inputs=inputs)
    fmt = output_format(fmt, output, COVERAGE_FILES, default="table")
    if fmt in ("gpkg", "xlsx") and output is None:
        raise click.UsageError(f"--format {fmt} writes a file: add -o FILE.{fmt}.")
    if fmt == "gpkg" and level != "force":
        raise click.UsageError(
            f"--format gpkg holds force polygons only; with --by {level} use csv, json or xlsx."
        )
    settings = build_settings(cache_dir)
    _, table = _services_and_coverage(services_path, need_path, radii, settings, level)
    try:
        table = sort_coverage(table, sort_by) if sort_by else table
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sort") from exc
    if output is None:
        click.echo(format_coverage(table, fmt), nl=False)
        if fmt == "table":
            _echo_access_basis(table)
        return
    write_coverage(table, output, fmt=fmt, boundaries=boundaries_source, settings=settings)
    click.echo(f"Wrote coverage for {len(table)} {_AREAS[level]} to {output}", err=True)
    _echo_access_basis(table)


@click.command(name="force")
@click.argument("name")
@format_option("text", "json", default="text")
@_radius_option
@services_option
@selection_options
@need_option
@cache_dir_option
@reports_errors
def force_command(
    name: str,
    fmt: str,
    radii: tuple[float, ...],
    services_path: Path | None,
    need_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Profile one police force area: who serves it and how, its gaps, its rank, help nearby.

    NAME is the force's name or ONS code (e.g. "Thames Valley", "E23000035").

    \b
    Example:
        servicemap force "West Midlands"
    """
    from servicemap.analysis.kept import kept_coverage
    from servicemap.analysis.profile import force_profile
    from servicemap.geography.areas import find_force
    from servicemap.render.answers import format_force_profile

    code = find_force(name)
    settings = build_settings(cache_dir)
    services, table = _services_and_coverage(services_path, need_path, radii, settings)
    districts = kept_coverage(
        services, level="district", need_path=need_path, radii_km=radii, settings=settings
    )
    profile = force_profile(code, services, table, districts=districts, settings=settings)
    if fmt == "json":
        click.echo(json.dumps(profile.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(format_force_profile(profile), nl=False)


@click.command(name="near")
@click.argument("place", metavar="POSTCODE", nargs=-1, required=True)
@click.option(
    "--radius-km",
    type=radius_km_type("25"),
    metavar="KM",
    default=25.0,
    show_default=True,
    help="How far to look for in-person services.",
)
@format_option("table", "csv", "json", default="table")
@services_option
@selection_options
@cache_dir_option
@reports_errors
def near_command(
    place: tuple[str, ...],
    radius_km: float,
    fmt: str,
    services_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """List who can help someone at a postcode: services serving it, then in-person ones nearby.

    POSTCODE is a full postcode (UB1 3BL, ub13bl; quotes are optional), a postcode district
    (ST4) or a sector (ST4 1); a district or sector is searched from its centre. Refuges and
    other confidential services show as "serves this area", never with a place or a distance.

    \b
    Example:
        servicemap near UB1 3BL --radius-km 10
        servicemap near ST4
    """
    from servicemap.analysis.kept import load_public_services
    from servicemap.analysis.near import describe_near_place, services_near
    from servicemap.render.answers import format_near

    settings = build_settings(cache_dir)
    services, _ = select_current(load_public_services(services_path, settings=settings))
    near = services_near(" ".join(place), services, radius_km=radius_km, settings=settings)
    click.echo(format_near(near, fmt), nl=False)
    note = describe_near_place(near)
    if note and fmt != "table":  # the table says it in its heading; keep CSV and JSON clean
        click.echo(note, err=True)
