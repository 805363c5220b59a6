"""Commands that draw: map and report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from servicemap.cli.options import (
    F,
    boundaries_option,
    build_settings,
    cache_dir_option,
    check_output_files,
    current_selection,
    data_inputs,
    need_option,
    note_selection,
    option_given,
    output_format,
    output_option,
    reports_errors,
    selection_options,
    services_option,
)
from servicemap.settings import Settings

if TYPE_CHECKING:  # imported by the commands when they run, so that -h stays fast
    from servicemap.inputs import ReportInputs


def _metric_option(func: F) -> F:
    """Add ``--metric COLUMN``: the coverage column that colours the force areas."""
    return click.option(
        "--metric",
        default="gap_score",
        show_default=True,
        metavar="COLUMN",
        help="Coverage column that colours the force areas, e.g. gap_score, gap_class, "
        "local_services, in_person_within_25km.",
    )(func)


def _check_tiles(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Fail at once (usage error) for a ``--tiles`` name that is unknown or needs a key."""
    if value is None:
        return None
    from servicemap.errors import MapError
    from servicemap.render.tiles import tile_provider

    try:
        tile_provider(value)
    except MapError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    return value


def _check_contact(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Fail at once (usage error) for a ``--contact`` that is neither a web nor an email address."""
    if value is None:
        return None
    from servicemap.errors import ReportError
    from servicemap.render.pages import contact_link

    try:
        contact_link(value)
    except ReportError as exc:
        raise click.BadParameter(
            str(exc).removeprefix(f"--contact {value!r} "), ctx=ctx, param=param
        ) from exc
    return value


def _tiles_option(func: F) -> F:
    """Add ``--tiles NAME``: an online base map (default none: the map works offline)."""
    return click.option(
        "--tiles",
        default=None,
        metavar="NAME",
        callback=_check_tiles,
        help="Add an online base map: an xyzservices name that needs no API key, e.g. "
        "OpenStreetMap or Esri.WorldGrayCanvas (needs the internet when the map is opened). "
        "Default: none; the map works offline.",
    )(func)


def _report_inputs(
    services_path: Path | None,
    boundaries_source: str,
    need_path: Path | None,
    cache_dir: Path | None,
    *,
    districts: bool = False,
    search: bool = False,
) -> tuple[ReportInputs, Settings]:
    """Return the map and report inputs (``servicemap.inputs.load_inputs``) and the settings."""
    from servicemap.inputs import load_inputs

    settings = build_settings(cache_dir)
    inputs = load_inputs(
        services_path=services_path,
        boundaries_source=boundaries_source,
        need_path=need_path,
        selection=current_selection(),
        districts=districts,
        settings=settings,
        keep=True,
        search=search,
    )
    note_selection(inputs.selection)
    return inputs, settings


@click.command(name="map")
@_metric_option
@output_option(
    default=Path("maps/coverage.html"),
    help="HTML file to write (replaced atomically); its folder must exist, except the default's.",
)
@_tiles_option
@services_option
@selection_options
@boundaries_option
@need_option
@cache_dir_option
@reports_errors
def map_command(
    metric: str,
    output: Path,
    tiles: str | None,
    services_path: Path | None,
    boundaries_source: str,
    need_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Draw the coverage map: one self-contained HTML page that works offline.

    \b
    Example:
        servicemap map --metric local_services -o maps/local.html
    """
    import time

    from servicemap.directory.privacy import public_services
    from servicemap.render.district_layer import district_map_frame
    from servicemap.render.maps import coverage_map, save_map

    files = data_inputs(
        services_path, need_path=need_path, uses_need=True, boundaries_source=boundaries_source
    )
    # The default maps/ folder is created; a folder named with -o must exist (a typo is likelier).
    check_output_files({"-o": output}, inputs=files, create_folders=not option_given("output"))
    output_format(None, output, {"html": ("html",)}, default="html")
    started = time.perf_counter()
    inputs, settings = _report_inputs(
        services_path, boundaries_source, need_path, cache_dir, districts=True
    )
    public = public_services(inputs.services)
    # the report's map.html and this page are the same map: both with the district layer
    layer = inputs.district_layer
    districts = None if layer is None else district_map_frame(*layer, settings=settings)
    m = coverage_map(
        inputs.force_areas, inputs.coverage, public, metric=metric, tiles=tiles,
        districts=districts, settings=settings,
    )  # fmt: skip
    save_map(m, output)
    size = output.stat().st_size / 1e6
    seconds = time.perf_counter() - started
    click.echo(f"Wrote the map to {output} ({size:.1f} MB) in {seconds:.1f} s")


@click.command(name="report")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    default=Path("maps"),
    show_default=True,
    help="Folder to write the report into (created if missing). Its report files are replaced "
    "all at once; files the report did not write are never replaced (unless --force), and "
    "other files are kept.",
)
@click.option(
    "--force",
    "overwrite",
    is_flag=True,
    help="Replace files at the report's names (index.html, map.html, coverage.csv, "
    "coverage.png, forces/) that no earlier report wrote, or that were changed since.",
)
@click.option(
    "--pdf",
    is_flag=True,
    help="Also write report.pdf (A4: contents, the national summary and methodology, each "
    "force's summary). Needs the extra: pip install 'servicemap[pdf]'.",
)
@click.option(
    "--contact",
    metavar="URL_OR_EMAIL",
    default=None,
    callback=_check_contact,
    help="Show 'Is a service missing or wrong? Tell us' with this web or email address on "
    "the index and every force page.",
)
@click.option(
    "--since",
    "since_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="PREVIOUS_REPORT_DIR",
    default=None,
    help="Add 'What changed since <its date>' to the index and each profile, from the "
    "snapshot.json an earlier report kept in its folder (it may be -o's folder itself).",
)
@_metric_option
@_tiles_option
@services_option
@selection_options
@boundaries_option
@need_option
@cache_dir_option
@reports_errors
def report_command(
    out_dir: Path,
    overwrite: bool,
    pdf: bool,
    contact: str | None,
    since_dir: Path | None,
    metric: str,
    tiles: str | None,
    services_path: Path | None,
    boundaries_source: str,
    need_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Write the coverage report: index page, map, one page per force, CSV and picture.

    Open index.html in any browser; it works offline and prints cleanly, and its search box
    finds help near a postcode or place from the folder alone.

    \b
    Example:
        servicemap report -o maps/
    """
    import time

    from servicemap._progress import progress
    from servicemap.inputs import profile_maker
    from servicemap.render.report import build_report, check_report_folder

    files = data_inputs(
        services_path, need_path=need_path, uses_need=True, boundaries_source=boundaries_source
    )
    check_report_folder(out_dir, force=overwrite, inputs=files)
    if pdf:
        from servicemap.render.pdf import check_pdf_available

        check_pdf_available()  # before any work
    from servicemap.analysis.snapshot import read_snapshot

    since = read_snapshot(since_dir) if since_dir is not None else None  # before -o is replaced
    started = time.perf_counter()
    inputs, settings = _report_inputs(
        services_path, boundaries_source, need_path, cache_dir, districts=True, search=True
    )
    summary = build_report(
        inputs.force_areas,
        inputs.coverage,
        inputs.services,
        out_dir=out_dir,
        metric=metric,
        tiles=tiles,
        boundary_source=inputs.boundary_source,
        services_source=inputs.services_source,
        progress=lambda codes: progress(codes, label="Force profiles"),
        overwrite=overwrite,
        pdf=pdf,
        selection=inputs.selection,
        contact=contact,
        since=since,
        districts=inputs.district_layer,
        profile=profile_maker(
            inputs.services, inputs.coverage, districts=inputs.districts, settings=settings
        ),
        settings=settings,
    )
    seconds = time.perf_counter() - started
    click.echo(
        f"Wrote the report ({len(summary.files)} files, {summary.forces} force profiles) to "
        f"{out_dir / 'index.html'} in {seconds:.1f} s"
    )
    if not pdf and (out_dir / "report.pdf").exists():  # one that servicemap did not write
        click.echo(f"Note: {out_dir / 'report.pdf'} was not written by this run.", err=True)
