"""The ``servicemap`` command line: thin commands over the library."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from servicemap import __version__
from servicemap.errors import ServicemapError
from servicemap.settings import DEFAULT_SETTINGS, Settings

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn a library ``ServicemapError`` into a one-line ``Error: …`` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ServicemapError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def cache_dir_option(func: F) -> F:
    """Add ``--cache-dir`` (default: the user cache directory, or $SERVICEMAP_CACHE_DIR)."""
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Cache folder for built boundaries and the postcode table.",
    )(func)


def services_option(func: F) -> F:
    """Add ``--services FILE`` (CSV, XLSX, GeoJSON or Open Referral UK JSON; default: bundled)."""
    return click.option(
        "--services",
        "services_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Services directory (CSV, XLSX, GeoJSON or Open Referral UK JSON). "
        "Default: the bundled directory.",
    )(func)


def boundaries_option(func: F) -> F:
    """Add ``--boundaries derived|official|PATH`` (default: derived, built offline)."""
    return click.option(
        "--boundaries",
        "boundaries_source",
        default="derived",
        show_default=True,
        metavar="derived|official|PATH",
        help="Force boundaries: 'derived' (offline, from the ONS postcode directory), "
        "'official' (downloaded with 'servicemap boundaries download') or a file.",
    )(func)


def need_option(func: F) -> F:
    """Add ``--need FILE`` (a need table keyed by force or district code; default: bundled)."""
    return click.option(
        "--need",
        "need_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Need table keyed by force or district code. Default: bundled ONS figures.",
    )(func)


def build_settings(cache_dir: Path | None = None, **changes: Any) -> Settings:
    """Return the settings for one command from its options."""
    if cache_dir is not None:
        changes["cache_dir"] = cache_dir
    return DEFAULT_SETTINGS.with_changes(**changes) if changes else DEFAULT_SETTINGS


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="servicemap")
def cli() -> None:
    """Map specialist services for migrant victims of domestic abuse by police force area."""


@cli.command(name="forces")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@cache_dir_option
@reports_errors
def forces_command(fmt: str, cache_dir: Path | None) -> None:
    """List the 43 police force areas with code, name, country and postcode count.

    \b
    Example:
        servicemap forces --format csv
    """
    from servicemap.geocode import forces_with_postcode_counts

    table = forces_with_postcode_counts(settings=build_settings(cache_dir))
    if fmt == "csv":
        click.echo(table.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(table.to_dict(orient="records"), indent=2))
    else:
        click.echo(table.to_string(index=False))


@cli.group(name="boundaries")
def boundaries_group() -> None:
    """Police force area boundaries: where they come from, export and checks."""


# --- downloads & need ---


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
    from servicemap._arcgis import download_force_areas
    from servicemap.forces import FORCE_COUNT

    path = download_force_areas(vintage=vintage, url=url, settings=build_settings(cache_dir))
    click.echo(f"Saved {FORCE_COUNT} police force areas (December {vintage}) to {path}")
