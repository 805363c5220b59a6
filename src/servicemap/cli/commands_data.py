"""Commands over the data: forces, boundaries, need, export, validate and geocode."""

from __future__ import annotations

from pathlib import Path

import click

from servicemap.cli.options import (
    boundaries_option,
    build_settings,
    cache_dir_option,
    check_output_files,
    data_inputs,
    format_option,
    need_option,
    output_format,
    output_option,
    reports_errors,
    services_option,
)

# --- forces & boundaries ---


@click.command(name="forces")
@format_option("table", "csv", "json", default="table")
@cache_dir_option
@reports_errors
def forces_command(fmt: str, cache_dir: Path | None) -> None:
    """List the 43 police force areas with code, name, country and postcode count.

    \b
    Example:
        servicemap forces --format csv
    """
    from servicemap._tables import format_table
    from servicemap.geography.postcodes import forces_with_postcode_counts

    table = forces_with_postcode_counts(settings=build_settings(cache_dir))
    click.echo(format_table(table, fmt), nl=False)


@click.group(name="boundaries")
def boundaries_group() -> None:
    """Police force area boundaries: where they come from, export and checks."""


@boundaries_group.command(name="download")
@click.option(
    "--vintage",
    default="2023",
    show_default=True,
    metavar="YEAR",
    help="December edition to download (PFA_DEC_<YEAR>_EW_BUC), e.g. 2023, 2022, 2021, 2020.",
)
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="ArcGIS FeatureServer layer URL to use instead of the ONS Open Geography Portal's.",
)
@cache_dir_option
@reports_errors
def boundaries_download_command(vintage: str, url: str | None, cache_dir: Path | None) -> None:
    """Download the official police force area boundaries (ONS, BUC) into the cache.

    Afterwards '--boundaries official' uses them. A failed download keeps any earlier one.

    \b
    Example:
        servicemap boundaries download --vintage 2023
    """
    from servicemap.geography._arcgis import download_force_areas
    from servicemap.geography.forces import FORCE_COUNT

    path = download_force_areas(vintage=vintage, url=url, settings=build_settings(cache_dir))
    click.echo(f"Saved {FORCE_COUNT} police force areas (December {vintage}) to {path}")


@boundaries_group.command(name="info")
@boundaries_option
@cache_dir_option
@reports_errors
def boundaries_info_command(boundaries_source: str, cache_dir: Path | None) -> None:
    """Say which force boundaries are in use: source, file, build date, CRS and feature count.

    Derived boundaries ship with servicemap; with another version of the postcode package
    they are built first if they are not cached yet (about 20 seconds).

    \b
    Example:
        servicemap boundaries info --boundaries official
    """
    from servicemap.geography.boundaries import describe_force_areas

    info = describe_force_areas(boundaries_source, settings=build_settings(cache_dir))
    for key, value in info.items():
        click.echo(f"{key}: {value}")


@boundaries_group.command(name="ship")
@cache_dir_option
@reports_errors
def boundaries_ship_command(cache_dir: Path | None) -> None:
    """Rebuild the derived boundaries shipped in the package (for maintainers; ~30 seconds).

    Builds them from the installed postcode package into data/boundaries/derived/ (named by
    the package version, the force and district tables and the derivation version), with the
    force and district polygons simplified for the report beside them, and removes older
    shipped files. Commit the new files afterwards.

    \b
    Example:
        servicemap boundaries ship
    """
    from servicemap.geography.boundaries import ship_derived_areas

    path = ship_derived_areas(settings=build_settings(cache_dir))
    size = path.stat().st_size / 1e6
    click.echo(f"Wrote the derived boundaries to {path} ({size:.2f} MB)", err=True)
    simplified = sorted(path.parent.glob("simplified-*.npz.xz"))
    size = sum(p.stat().st_size for p in simplified) / 1e6
    click.echo(f"and {len(simplified)} files of simplified polygons ({size:.2f} MB)", err=True)


@boundaries_group.command(name="export")
@click.option(
    "--source",
    default="derived",
    show_default=True,
    metavar="derived|official|PATH",
    help="Boundaries to export: 'derived', 'official' or a boundary file.",
)
@output_option(
    required=True,
    help="File to write: .geojson (EPSG:4326, properties code and name) or .gpkg.",
)
@cache_dir_option
@reports_errors
def boundaries_export_command(source: str, output: Path, cache_dir: Path | None) -> None:
    """Write the force boundaries for the web: EPSG:4326 with properties code and name only.

    \b
    Example:
        servicemap boundaries export --source derived -o forces.geojson
    """
    from servicemap.geography.boundaries import load_force_areas, write_force_areas

    source_file = None if source in ("derived", "official") else Path(source)
    check_output_files({"-o": output}, inputs={"--source": source_file})
    forces = load_force_areas(source, settings=build_settings(cache_dir))
    write_force_areas(forces, output)
    click.echo(f"Wrote {len(forces)} police force areas to {output}", err=True)


@boundaries_group.command(name="check")
@click.option(
    "--against",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference boundary file (GeoJSON, GeoPackage or (zipped) shapefile).",
)
@boundaries_option
@cache_dir_option
@reports_errors
def boundaries_check_command(against: Path, boundaries_source: str, cache_dir: Path | None) -> None:
    """Compare force boundaries with a reference file: IoU per force, the median and the lowest.

    IoU (intersection over union) is 1 where the two polygons of a force are identical.

    \b
    Example:
        servicemap boundaries check --against PFA_DEC_2023_EW_BSC.shp --boundaries derived
    """
    from servicemap.geography.boundaries import (
        compare_force_areas,
        format_comparison,
        load_force_areas,
    )

    settings = build_settings(cache_dir)
    candidate = load_force_areas(boundaries_source, settings=settings)
    reference = load_force_areas(against, settings=settings)
    click.echo(format_comparison(compare_force_areas(candidate, reference)), nl=False)


# --- need ---


@click.group(name="need")
def need_group() -> None:
    """Need per police force area: residents, people born outside the UK, women aged 16+."""


@need_group.command(name="download")
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Base URL of the Nomis API, instead of https://www.nomisweb.co.uk/api/v01.",
)
@cache_dir_option
@reports_errors
def need_download_command(url: str | None, cache_dir: Path | None) -> None:
    """Refresh Census 2021 country-of-birth figures from Nomis into a need table in the cache.

    The bundled figures are never changed; pass the saved table with --need to use it.

    \b
    Example:
        servicemap need download
    """
    from servicemap.geography.forces import FORCE_COUNT
    from servicemap.geography.need import download_need

    path = download_need(url=url, settings=build_settings(cache_dir))
    click.echo(f"Saved Census 2021 need figures for {FORCE_COUNT} police force areas to {path}")
    click.echo(f"Use them with: --need {path}")


@need_group.command(name="show")
@need_option
@format_option("table", "csv", default="table")
@reports_errors
def need_show_command(need_path: Path | None, fmt: str) -> None:
    """Show the need table per force (bundled, or --need FILE summed to forces) with totals.

    \b
    Example:
        servicemap need show --need my_districts.xlsx --format csv
    """
    from servicemap.geography.need import format_need, load_need

    click.echo(format_need(load_need(need_path), fmt), nl=False)


# --- open referral & export ---

EXPORT_FORMATS = ("csv", "geojson", "gpkg", "oruk", "xlsx")  # = servicemap.directory.export.FORMATS
# File kinds (FILE_KINDS) export writes, and the formats each may hold (the first is inferred).
EXPORT_FILES: dict[str, tuple[str, ...]] = {
    "csv": ("csv",),
    "xlsx": ("xlsx",),
    "geojson": ("geojson",),
    "json": ("oruk", "geojson"),
    "gpkg": ("gpkg",),
}


@click.command(name="export")
@services_option
@format_option(
    *EXPORT_FORMATS,
    help="csv and xlsx (spreadsheet-safe), geojson (EPSG:4326), gpkg (EPSG:27700) or "
    "oruk (Open Referral UK JSON).",
    from_output=True,
)
@output_option(
    required=True,
    help="File to write (replaced atomically; never one of the inputs). Its name gives the "
    "format: .csv, .xlsx, .geojson, .json (oruk) or .gpkg.",
)
@cache_dir_option
@reports_errors
def export_command(
    services_path: Path | None, fmt: str | None, output: Path, cache_dir: Path | None
) -> None:
    """Write the services directory with confidential locations withheld.

    Refuges and services marked location_confidential are written without address, postcode
    or coordinates; they still appear with their areas served.

    \b
    Example:
        servicemap export -o services.json
    """
    from servicemap.directory.export import write_services
    from servicemap.directory.load import load_services

    check_output_files({"-o": output}, inputs=data_inputs(services_path))
    fmt = output_format(fmt, output, EXPORT_FILES, default=None)
    services = load_services(services_path, settings=build_settings(cache_dir))
    summary = write_services(services, output, fmt=fmt)
    click.echo(
        f"Wrote {summary.services} services to {output}: {summary.with_public_location} with "
        f"a public location, {summary.withheld} confidential with location withheld.",
        err=True,
    )


# --- services directory ---


@click.command(name="validate")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@format_option(
    "text", "csv", "json", default="text", help="Output format: one problem per line, CSV or JSON."
)
@cache_dir_option
@reports_errors
def validate_command(file: Path | None, fmt: str, cache_dir: Path | None) -> None:
    """Check a services directory and list every problem in it, errors first.

    FILE is a CSV, .xlsx, GeoJSON or Open Referral UK JSON file (see docs/schema.md);
    without it, the bundled directory is checked. Exit status is 1 if there are errors, 0 if
    there are only warnings or none.

    \b
    Example:
        servicemap validate my_directory.xlsx
    """
    from servicemap.directory.load import bundled_services_path
    from servicemap.directory.validate import validate_services
    from servicemap.render.text import format_problems

    file = bundled_services_path() if file is None else file
    problems = validate_services(file, settings=build_settings(cache_dir))
    click.echo(format_problems(problems, file=str(file), fmt=fmt), nl=False)
    if any(problem.severity == "error" for problem in problems):
        raise SystemExit(1)


# --- geocoding ---


@click.command(name="geocode")
@click.argument("csv_path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--column", default="postcode", show_default=True, help="The column holding postcodes."
)
@output_option(
    required=True,
    help="CSV file to write: every input row and column, plus the geocode columns "
    "(spreadsheet-safe; never the input file).",
)
@click.option(
    "--online",
    is_flag=True,
    help="Ask postcodes.io (newer postcodes) instead of the bundled ONS postcode directory.",
)
@cache_dir_option
@reports_errors
def geocode_command(
    csv_path: Path, column: str, output: Path, online: bool, cache_dir: Path | None
) -> None:
    """Add postcode status, grid reference, latitude/longitude, district and force to a CSV.

    Adds postcode, status (ok, malformed, unknown, no_location, outside_england_wales),
    easting, northing, latitude, longitude, district_code, force_code and force_name; a name
    the file already uses gets a 'geocoded_' prefix. A summary goes to stderr.

    \b
    Example:
        servicemap geocode services.csv --column Postcode -o services-geocoded.csv
    """
    from servicemap.geography.geocode import geocode_csv

    check_output_files({"-o": output}, inputs={"FILE.csv": csv_path})
    output_format(None, output, {"csv": ("csv",), "text": ("csv",)}, default="csv")
    settings = build_settings(cache_dir)
    rows, summary = geocode_csv(csv_path, column, output, online=online, settings=settings)
    click.echo(f"Wrote {output} ({rows} rows).", err=True)
    click.echo(summary, err=True)
