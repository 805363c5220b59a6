"""The ``servicemap`` command line: thin commands over the library."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from servicemap import __version__
from servicemap.errors import CacheNotice, DataQualityWarning, PlanError, ServicemapError
from servicemap.settings import DEFAULT_SETTINGS, Settings, default_cache_dir

if TYPE_CHECKING:  # imported by the commands when they run, so that -h stays fast
    import geopandas as gpd
    import pandas as pd

    from servicemap.analysis.plan import Proposal
    from servicemap.inputs import ReportInputs

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

F = TypeVar("F", bound=Callable[..., Any])
_QUIET_KEY = "servicemap.quiet"


def _quiet() -> bool:
    """Whether ``-q/--quiet`` (or ``SERVICEMAP_QUIET=1``) was given for this command."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_QUIET_KEY, False))


def reports_errors(func: F) -> F:
    """Turn a library ``ServicemapError`` into a one-line ``Error: …`` and exit status 1.

    Data-quality warnings are shown as ``Warning: …`` lines on stderr after the command has
    run (or failed); the bundled directory's are summarised in one line. Cache notices are
    shown at once, as ``Notice: …``. ``-q`` hides both. After Ctrl-C nothing more is shown.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet = _quiet()
        found: list[str] = []
        interrupted = False
        with warnings.catch_warnings():
            warnings.simplefilter("always", DataQualityWarning)
            warnings.simplefilter("always", CacheNotice)
            shown = warnings.showwarning

            def show(message: Any, category: type[Warning], *where: Any, **more: Any) -> None:
                if issubclass(category, CacheNotice):
                    if not quiet:
                        click.echo(f"Notice: {message}", err=True)
                elif issubclass(category, DataQualityWarning):
                    found.append(str(message))
                else:
                    shown(message, category, *where, **more)

            warnings.showwarning = show
            try:
                return func(*args, **kwargs)
            except ServicemapError as exc:
                raise click.ClickException(str(exc)) from exc
            except KeyboardInterrupt:
                interrupted = True
                raise
            finally:
                if found and not quiet and not interrupted:
                    for line in data_quality_lines(found):
                        click.echo(line, err=True)

    return wrapper  # type: ignore[return-value]


# Short names for the kinds of data-quality warning the bundled directory can have, by the
# column they are about and a phrase of their message.
_WARNING_KINDS: tuple[tuple[str, str, str], ...] = (
    ("status", "'unknown'", "status unknown"),
    ("last_seen", "18 months", "not seen for 18 months"),
)
_GROUPED = re.compile(r": (\d+) warnings like this one")
_COLUMN = re.compile(r":\d+: column '([^']+)': (.*)")


def _warning_kind(message: str) -> tuple[int, str]:
    """Return how many problems a data-quality warning stands for, and their kind."""
    grouped = _GROUPED.search(message)
    count = int(grouped.group(1)) if grouped else 1
    column = _COLUMN.search(message)
    if column is None:
        return count, "other"
    for name, phrase, kind in _WARNING_KINDS:
        if column.group(1) == name and phrase in column.group(2):
            return count, kind
    return count, f"about {column.group(1)}"


def data_quality_lines(messages: list[str]) -> list[str]:
    """Return the ``Warning: …`` lines to show for the data-quality warnings of a command.

    Warnings about the bundled services directory are summarised in one line that says how
    to see them all; warnings about the user's own files keep their (grouped) detail.

    Parameters
    ----------
    messages
        The text of each ``DataQualityWarning``, in the order raised.

    Returns
    -------
    list of str
        One line per warning about a user's file, then at most one summary line.
    """
    from servicemap.directory.load import bundled_services_path

    bundled = str(bundled_services_path())
    lines: list[str] = []
    kinds: dict[str, int] = {}
    for message in messages:
        if message.startswith(bundled + ":"):
            count, kind = _warning_kind(message)
            kinds[kind] = kinds.get(kind, 0) + count
        else:
            lines.append(f"Warning: {message}")
    if kinds:
        total = sum(kinds.values())
        detail = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        noun = "warning" if total == 1 else "warnings"
        lines.append(
            f"Warning: the bundled directory has {total} data-quality {noun} ({detail}); run "
            "'servicemap validate' to see them, -q to hide this."
        )
    return lines


class FiniteFloat(click.types.FloatParamType):
    """A finite number (never NaN or infinite) within an optional range, as a click type.

    Parameters
    ----------
    minimum
        The smallest value allowed, or None.
    open_minimum
        Whether ``minimum`` itself is excluded (``> minimum`` rather than ``>=``).
    what
        What the number is, for messages, e.g. ``"a distance in km"``.
    example
        A good value, for messages.
    """

    def __init__(
        self,
        *,
        minimum: float | None = None,
        open_minimum: bool = False,
        what: str = "a number",
        example: str = "1",
    ) -> None:
        self.minimum, self.open_minimum = minimum, open_minimum
        self.what, self.example = what, example

    def _wanted(self) -> str:
        if self.minimum is None:
            bound = ""
        else:
            relation = "greater than" if self.open_minimum else "at least"
            bound = f" {relation} {self.minimum:g}"
        return f"give {self.what}{bound}, such as {self.example}"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Return ``value`` as a float, or fail with a usage error saying what is wanted."""
        if isinstance(value, float) and math.isfinite(value):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number; {self._wanted()}.", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{value!r} is not a finite number; {self._wanted()}.", param, ctx)
        low = self.minimum
        if low is not None and (number < low or (self.open_minimum and number == low)):
            self.fail(f"{value!r} is out of range; {self._wanted()}.", param, ctx)
        return number


def _radius_km(example: str) -> FiniteFloat:
    """Return the type of a ``--radius-km`` option: a finite distance above 0 km."""
    return FiniteFloat(minimum=0, open_minimum=True, what="a distance in km", example=example)


def cache_dir_option(func: F) -> F:
    """Add ``--cache-dir`` (default: the user cache directory, or $SERVICEMAP_CACHE_DIR)."""
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Cache folder for built boundaries and the postcode table. Default: "
        "$SERVICEMAP_CACHE_DIR, else the user cache folder.",
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


def format_option(
    *choices: str,
    default: str | None = None,
    help: str = "Output format.",
    from_output: bool = False,
) -> Callable[[F], F]:
    """Return a decorator adding ``--format`` (parameter ``fmt``): one of ``choices``.

    Parameters
    ----------
    *choices
        The formats the command can write.
    default
        The format when the option is not given, shown in the help; ``None`` makes the option
        required (unless ``from_output``).
    help
        The option's help text.
    from_output
        The command has ``-o FILE``: when ``--format`` is not given the command infers it from
        the file name with :func:`output_format` (``fmt`` is then ``None`` until it does).

    Returns
    -------
    Callable
        The decorator.
    """
    attrs: dict[str, Any]
    if from_output:
        shown = f"{default}, or from -o's file name" if default else "from -o's file name"
        attrs = {"default": None, "show_default": shown}
    elif default is None:
        attrs = {"required": True}
    else:
        attrs = {"default": default, "show_default": True}

    def decorator(func: F) -> F:
        return click.option("--format", "fmt", type=click.Choice(choices), help=help, **attrs)(func)

    return decorator


# What a file name's ending says it holds. A command maps these onto the formats it writes
# (``output_format``); an ending it cannot write is refused rather than silently mislabelled.
FILE_KINDS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
    ".json": "json",
    ".geojson": "geojson",
    ".gpkg": "gpkg",
    ".xlsx": "xlsx",
    ".xls": "xls",
    ".ods": "ods",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".png": "png",
    ".pdf": "pdf",
    ".shp": "shp",
    ".kml": "kml",
    ".zip": "zip",
}


def output_format(
    fmt: str | None,
    output: Path | None,
    holds: dict[str, tuple[str, ...]],
    *,
    default: str | None,
    option: str = "-o",
) -> str:
    """Return the format to write: ``--format`` if given, else what ``-o``'s name says.

    Parameters
    ----------
    fmt
        ``--format`` as given, or ``None``.
    output
        ``-o`` as given, or ``None`` (standard output).
    holds
        For each kind of :data:`FILE_KINDS` the command can write, the formats such a file may
        hold, the one inferred first (``{"json": ("oruk", "geojson")}``).
    default
        The format when neither says; ``None``: one of them must.
    option
        The option that names the file, for the messages.

    Returns
    -------
    str
        The format.

    Raises
    ------
    click.UsageError
        ``--format`` contradicts the file name (``-o cov.xlsx --format table``), the name ends
        in something the command cannot write, or nothing says which format to write.
    """
    # "servicemap coverage", whatever name the program was started by.
    command = " ".join(["servicemap", *click.get_current_context().command_path.split()[1:]])
    suffix = output.suffix.lower() if output is not None else ""
    kind = FILE_KINDS.get(suffix)
    allowed = holds.get(kind, ()) if kind else ()

    def ending(wanted: str) -> str:
        found = [s for s, k in FILE_KINDS.items() if wanted in holds.get(k, ())]
        return found[0] if found else "another ending"

    name = str(output)
    if fmt is not None:
        if kind is None or fmt in allowed:
            return fmt
        if allowed:
            raise click.UsageError(
                f"{option} {name!r} names a {suffix} file but --format is {fmt!r}; drop --format "
                f"to write {allowed[0]}, or end the file name with {ending(fmt)}."
            )
        raise click.UsageError(
            f"{option} {name!r} names a {suffix} file, which {command} does not write; end the "
            f"file name with {ending(fmt)} for --format {fmt}."
        )
    if kind is not None:
        if allowed:
            return allowed[0]
        endings = sorted({s for s, k in FILE_KINDS.items() if k in holds})
        raise click.UsageError(
            f"{option} {name!r} names a {suffix} file, which {command} does not write; end the "
            f"file name with {', '.join(endings)}."
        )
    if default is None:
        endings = sorted({s for s, k in FILE_KINDS.items() if k in holds})
        raise click.UsageError(
            f"Cannot tell which format to write to {name!r}; add --format, or end the file "
            f"name with {', '.join(endings)}."
        )
    return default


def check_output_files(
    outputs: dict[str, Path | None],
    *,
    inputs: dict[str, Path | None] | None = None,
    create_folders: bool | dict[str, bool] = False,
) -> None:
    """Refuse, before any work, outputs that are folders, unwritable, or one of the inputs.

    Parameters
    ----------
    outputs
        Each output option and its file (``{"-o": output}``); ``None`` when not given.
    inputs
        Each input option and its file (see :func:`data_inputs`).
    create_folders
        Whether a missing folder is created (a command's own default path) or refused.

    Raises
    ------
    OutputError
        See :func:`servicemap._atomic.check_outputs`.
    """
    from servicemap._atomic import check_outputs

    check_outputs(outputs, inputs=inputs, create_folders=create_folders)


def data_inputs(
    services_path: Path | None,
    *,
    need_path: Path | None = None,
    uses_need: bool = False,
    boundaries_source: str = "derived",
) -> dict[str, Path | None]:
    """Return the data files a command reads, by option: the bundled ones when not given.

    Parameters
    ----------
    services_path
        ``--services``; ``None`` for the bundled directory.
    need_path
        ``--need``; ``None`` for the bundled need table (when ``uses_need``).
    uses_need
        Whether the command reads a need table.
    boundaries_source
        ``--boundaries``: a file unless ``derived`` or ``official``.

    Returns
    -------
    dict
        Option to file.
    """
    from servicemap._data import data_path

    files: dict[str, Path | None] = {
        "--services": services_path or data_path("services", "services.csv")
    }
    if uses_need:
        files["--need"] = need_path or data_path("need", "force_need.csv")
    if boundaries_source not in ("derived", "official"):
        files["--boundaries"] = Path(boundaries_source)
    return files


def output_option(
    *,
    help: str,
    default: Path | None = None,
    required: bool = False,
) -> Callable[[F], F]:
    """Return a decorator adding ``-o/--output FILE`` (parameter ``output``).

    The command checks the file with :func:`check_output_files` before it starts work (a
    folder, a missing folder, a read-only place or one of its inputs is an ``Error:``, exit 1).

    Parameters
    ----------
    help
        The option's help text.
    default
        The file when the option is not given, shown in the help; ``None`` for none.
    required
        Whether the option must be given.

    Returns
    -------
    Callable
        The decorator.
    """
    attrs: dict[str, Any] = {"default": default, "required": required}
    if default is not None:
        attrs["show_default"] = True
    path = click.Path(path_type=Path)

    def decorator(func: F) -> F:
        return click.option("-o", "--output", type=path, metavar="FILE", help=help, **attrs)(func)

    return decorator


def _given(name: str) -> bool:
    """Return True if the option ``name`` was given on the command line (not its default)."""
    from click.core import ParameterSource

    source = click.get_current_context().get_parameter_source(name)
    return source not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def build_settings(cache_dir: Path | None = None, **changes: Any) -> Settings:
    """Return the settings for one command from its options."""
    if cache_dir is None and os.environ.get("SERVICEMAP_CACHE_DIR", "").strip():
        cache_dir = default_cache_dir()  # read when the command runs, not at import
    if cache_dir is not None:
        changes["cache_dir"] = cache_dir
    return DEFAULT_SETTINGS.with_changes(**changes) if changes else DEFAULT_SETTINGS


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
        ctx.meta[_QUIET_KEY] = True


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
@click.version_option(__version__, "--version", prog_name="servicemap")
def cli() -> None:
    """Map specialist services for migrant victims of domestic abuse by police force area."""


cli.params.append(_quiet_option(envvar="SERVICEMAP_QUIET"))


@cli.command(name="forces")
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
    from servicemap.geography._arcgis import download_force_areas
    from servicemap.geography.forces import FORCE_COUNT

    path = download_force_areas(vintage=vintage, url=url, settings=build_settings(cache_dir))
    click.echo(f"Saved {FORCE_COUNT} police force areas (December {vintage}) to {path}")


@cli.group(name="need")
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


@cli.command(name="export")
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
    summary = write_services(services, output, format=fmt)
    click.echo(
        f"Wrote {summary.services} services to {output}: {summary.with_public_location} with "
        f"a public location, {summary.withheld} confidential with location withheld.",
        err=True,
    )


# --- services directory ---


@cli.command(name="validate")
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


# --- coverage ---


def _radius_option(func: F) -> F:
    """Add ``--radius-km`` (repeatable): distances for the in-person access shares."""
    return click.option(
        "--radius-km",
        "radii",
        type=_radius_km("10"),
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
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Load the services directory and the need table; return the services and their coverage."""
    from servicemap.analysis.coverage import coverage_by_force
    from servicemap.directory.load import load_services
    from servicemap.geography.need import load_need

    services = load_services(services_path, settings=settings)
    table = coverage_by_force(
        services, need=load_need(need_path), radii_km=radii, settings=settings
    )
    return services, table


# File kinds (FILE_KINDS) coverage writes, and the format each holds.
COVERAGE_FILES: dict[str, tuple[str, ...]] = {
    "text": ("table",),
    "csv": ("csv",),
    "json": ("json",),
    "markdown": ("markdown",),
    "gpkg": ("gpkg",),
    "xlsx": ("xlsx",),
}


@cli.command(name="coverage")
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
@_radius_option
@services_option
@need_option
@boundaries_option
@cache_dir_option
@reports_errors
def coverage_command(
    fmt: str | None,
    output: Path | None,
    sort_by: str | None,
    radii: tuple[float, ...],
    services_path: Path | None,
    need_path: Path | None,
    boundaries_source: str,
    cache_dir: Path | None,
) -> None:
    """Score every police force area: services serving it, need, access, gap score and rank.

    \b
    Example:
        servicemap coverage -o coverage.csv --radius-km 10 --radius-km 25
    """
    from servicemap._tables import format_table
    from servicemap.analysis.coverage import sort_coverage
    from servicemap.render.text import TABLE_COLUMNS, write_coverage

    inputs = data_inputs(
        services_path, need_path=need_path, uses_need=True, boundaries_source=boundaries_source
    )
    check_output_files({"-o": output}, inputs=inputs)
    fmt = output_format(fmt, output, COVERAGE_FILES, default="table")
    if fmt in ("gpkg", "xlsx") and output is None:
        raise click.UsageError(f"--format {fmt} writes a file: add -o FILE.{fmt}.")
    settings = build_settings(cache_dir)
    _, table = _services_and_coverage(services_path, need_path, radii, settings)
    try:
        table = sort_coverage(table, sort_by) if sort_by else table
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sort") from exc
    if output is None:
        click.echo(format_table(table, fmt, columns=TABLE_COLUMNS), nl=False)
        return
    if fmt == "xlsx":
        from servicemap._csv import write_xlsx

        write_xlsx(table, output, sheet_name="coverage")
    else:
        areas = None
        if fmt == "gpkg":
            from servicemap.geography.boundaries import load_force_areas

            areas = load_force_areas(boundaries_source, settings=settings)
        write_coverage(table, output, fmt=fmt, force_areas=areas)
    click.echo(f"Wrote coverage for {len(table)} police force areas to {output}", err=True)


@cli.command(name="force")
@click.argument("name")
@format_option("text", "json", default="text")
@_radius_option
@services_option
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
    from servicemap.analysis.profile import force_profile
    from servicemap.geography.areas import find_force
    from servicemap.render.text import format_force_profile

    code = find_force(name)
    settings = build_settings(cache_dir)
    services, table = _services_and_coverage(services_path, need_path, radii, settings)
    profile = force_profile(code, services, table, settings=settings)
    if fmt == "json":
        click.echo(json.dumps(profile.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(format_force_profile(profile), nl=False)


@cli.command(name="near")
@click.argument("place", metavar="POSTCODE", nargs=-1, required=True)
@click.option(
    "--radius-km",
    type=_radius_km("25"),
    metavar="KM",
    default=25.0,
    show_default=True,
    help="How far to look for in-person services.",
)
@format_option("table", "csv", "json", default="table")
@services_option
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
    from servicemap.analysis.near import describe_near_place, services_near
    from servicemap.directory.load import load_services
    from servicemap.render.text import format_near

    settings = build_settings(cache_dir)
    services = load_services(services_path, settings=settings)
    near = services_near(" ".join(place), services, radius_km=radius_km, settings=settings)
    click.echo(format_near(near, fmt), nl=False)
    note = describe_near_place(near)
    if note and fmt != "table":  # the table says it in its heading; keep CSV and JSON clean
        click.echo(note, err=True)


# --- geocoding ---


@cli.command(name="geocode")
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
    from functools import partial

    from servicemap._csv import read_csv_text, write_csv
    from servicemap.errors import GeocodeError
    from servicemap.geography import geocode
    from servicemap.geography._postcodes_io import lookup_postcodes

    check_output_files({"-o": output}, inputs={"FILE.csv": csv_path})
    output_format(None, output, {"csv": ("csv",), "text": ("csv",)}, default="csv")
    settings = build_settings(cache_dir)
    table = read_csv_text(csv_path, error=GeocodeError)
    postcodes = geocode.postcode_column(table, column, source=f"File {str(csv_path)!r}")
    lookup = partial(lookup_postcodes, settings=settings) if online else None
    geocoded = geocode.geocode_postcodes(postcodes, settings=settings, lookup=lookup, warn=False)
    write_csv(geocode.add_geocode_columns(table, geocoded), output)
    click.echo(f"Wrote {output} ({len(table)} rows).", err=True)
    click.echo(geocode.summarise_geocoding(geocoded, postcodes), err=True)


# --- maps & report ---


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
) -> tuple[ReportInputs, Settings]:
    """Return the map and report inputs (``servicemap.inputs.load_inputs``) and the settings."""
    from servicemap.inputs import load_inputs

    settings = build_settings(cache_dir)
    inputs = load_inputs(
        services_path=services_path,
        boundaries_source=boundaries_source,
        need_path=need_path,
        settings=settings,
    )
    return inputs, settings


@cli.command(name="map")
@_metric_option
@output_option(
    default=Path("maps/coverage.html"),
    help="HTML file to write (replaced atomically); its folder must exist, except the default's.",
)
@_tiles_option
@services_option
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
    from servicemap.render.maps import coverage_map, save_map

    files = data_inputs(
        services_path, need_path=need_path, uses_need=True, boundaries_source=boundaries_source
    )
    # The default maps/ folder is created; a folder named with -o must exist (a typo is likelier).
    check_output_files({"-o": output}, inputs=files, create_folders=not _given("output"))
    output_format(None, output, {"html": ("html",)}, default="html")
    started = time.perf_counter()
    inputs, settings = _report_inputs(services_path, boundaries_source, need_path, cache_dir)
    public = public_services(inputs.services)
    m = coverage_map(
        inputs.forces, inputs.coverage, public, metric=metric, tiles=tiles, settings=settings
    )
    save_map(m, output)
    size = output.stat().st_size / 1e6
    seconds = time.perf_counter() - started
    click.echo(f"Wrote the map to {output} ({size:.1f} MB) in {seconds:.1f} s")


@cli.command(name="report")
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
@_metric_option
@_tiles_option
@services_option
@boundaries_option
@need_option
@cache_dir_option
@reports_errors
def report_command(
    out_dir: Path,
    overwrite: bool,
    metric: str,
    tiles: str | None,
    services_path: Path | None,
    boundaries_source: str,
    need_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Write the coverage report: index page, map, one page per force, CSV and picture.

    Open index.html in any browser; it works offline and prints cleanly.

    \b
    Example:
        servicemap report -o maps/
    """
    import time

    from servicemap._progress import progress
    from servicemap.render.report import build_report, check_report_folder

    files = data_inputs(
        services_path, need_path=need_path, uses_need=True, boundaries_source=boundaries_source
    )
    check_report_folder(out_dir, force=overwrite, inputs=files)
    started = time.perf_counter()
    inputs, settings = _report_inputs(services_path, boundaries_source, need_path, cache_dir)
    summary = build_report(
        inputs.forces,
        inputs.coverage,
        inputs.services,
        out_dir=out_dir,
        metric=metric,
        tiles=tiles,
        boundary_source=inputs.boundary_source,
        services_source=inputs.services_source,
        progress=lambda codes: progress(codes, label="Force profiles"),
        overwrite=overwrite,
        settings=settings,
    )
    seconds = time.perf_counter() - started
    click.echo(
        f"Wrote the report ({len(summary.files)} files, {summary.forces} force profiles) to "
        f"{out_dir / 'index.html'} in {seconds:.1f} s"
    )


# --- planning ---


# File kinds (FILE_KINDS) plan writes with -o, and the format each holds.
PLAN_FILES: dict[str, tuple[str, ...]] = {"text": ("table",), "csv": ("csv",), "json": ("json",)}


@cli.command(name="plan")
@click.option("--force", "force", default=None, metavar="NAME", help="Police force area.")
@click.option(
    "--with",
    "with_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Proposed services, in the directory's format: what would funding them change?",
)
@click.option("--add", type=int, default=None, metavar="N", help="Propose N new sites.")
@click.option(
    "--kind",
    default=None,
    help="With --add: advocacy, nrpf_accommodation, legal_immigration, counselling or helpline.",
)
@click.option(
    "--radius-km",
    type=_radius_km("10"),
    metavar="KM",
    default=None,
    help="With --add: catchment [10].",
)
@click.option(
    "--weight", default=None, help="With --add: born_outside_uk, women_16plus or residents."
)
@click.option(
    "--candidates",
    "candidates_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --add: CSV of extra candidate sites (postcode or latitude/longitude, name).",
)
@click.option("--exact", is_flag=True, help="With --add: solve exactly, not greedily.")
@format_option(
    "table",
    "csv",
    "json",
    default="table",
    help="Output format; csv is spreadsheet-safe.",
    from_output=True,
)
@output_option(
    help="File to write (replaced atomically); default: standard output. Its name gives the "
    "format: .txt, .csv or .json."
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    default=None,
    help="With --add: also draw the sites on an offline HTML map.",
)
@services_option
@need_option
@cache_dir_option
@reports_errors
def plan_command(
    force: str | None,
    with_path: Path | None,
    add: int | None,
    kind: str | None,
    radius_km: float | None,
    weight: str | None,
    candidates_path: Path | None,
    exact: bool,
    fmt: str | None,
    output: Path | None,
    map_path: Path | None,
    services_path: Path | None,
    need_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Plan a funding round: what funding services would change, or where N new ones reach most.

    --with FILE adds proposed services (same format as the directory) and shows every coverage
    measure before and after. --add N proposes N sites for new in-person services that bring
    the most residents (--weight) not yet within --radius-km of one within reach.

    \b
    Example:
        servicemap plan --force Kent --add 2 --kind advocacy --map plan.html
        servicemap plan --force Kent --with proposed.csv --format csv -o what-if.csv
    """
    from servicemap.analysis import plan
    from servicemap.analysis.sites import read_candidate_sites
    from servicemap.directory.load import load_services
    from servicemap.geography.areas import find_force
    from servicemap.geography.need import load_need
    from servicemap.render.text import format_proposal, format_what_if

    check_plan_request(
        with_path=with_path, add=add, kind=kind, radius_km=radius_km, weight=weight,
        exact=exact, candidates_path=candidates_path, map_path=map_path,
    )  # fmt: skip
    inputs = data_inputs(services_path, need_path=need_path, uses_need=True)
    inputs |= {"--with": with_path, "--candidates": candidates_path}
    check_output_files({"-o": output, "--map": map_path}, inputs=inputs)
    fmt = output_format(fmt, output, PLAN_FILES, default="table")
    if map_path is not None:
        output_format(None, map_path, {"html": ("html",)}, default="html", option="--map")
    code = find_force(force) if force else None
    settings = build_settings(cache_dir)
    proposed = plan.load_candidate_services(with_path, settings=settings) if with_path else None
    services, need = load_services(services_path, settings=settings), load_need(need_path)
    if proposed is not None:
        table = plan.what_if(
            services, proposed, force_codes=[code] if code else None, need=need, settings=settings
        )
        text = format_what_if(table, fmt)
    else:
        sites = read_candidate_sites(candidates_path) if candidates_path else None
        proposal = plan.propose_sites(
            services, n=add or 0, force_code=code, kind=kind, radius_km=radius_km or 10,
            weight=weight or "born_outside_uk", candidates=sites, need=need,
            method="exact" if exact else "greedy", settings=settings,
        )  # fmt: skip
        text = format_proposal(proposal, fmt)
        if map_path is not None:
            _save_proposal_map(proposal, services, map_path, settings)
    if output is None:
        click.echo(text, nl=False)
    else:
        from servicemap._atomic import atomic_write_text

        atomic_write_text(output, text)
        click.echo(f"Wrote the plan to {output}", err=True)


def check_plan_request(
    *,
    with_path: object,
    add: object,
    kind: str | None = None,
    radius_km: object = None,
    weight: str | None = None,
    exact: bool = False,
    candidates_path: object = None,
    map_path: object = None,
) -> None:
    """Check a ``servicemap plan`` request before any data is loaded.

    Parameters
    ----------
    with_path
        The ``--with`` file, or None.
    add
        The ``--add`` count, or None.
    kind, radius_km, weight, exact, candidates_path, map_path
        The options that only make sense with ``--add`` (``--kind``, ``--radius-km``,
        ``--weight``, ``--exact``, ``--candidates``, ``--map``) as given: None (False for
        ``exact``) when not given.

    Raises
    ------
    PlanError
        If both or neither of ``--with`` and ``--add`` are given, an ``--add`` option is given
        with ``--with``, or an ``--add`` option is out of range.
    """
    if with_path is not None and add is not None:
        raise PlanError(
            "Give either --with FILE (what would funding these services change?) or --add N "
            "(where would N new services reach most?), not both."
        )
    if with_path is None and add is None:
        raise PlanError(
            "Give --with FILE (what would funding these services change?) or --add N "
            "(where would N new services reach most?)."
        )
    if with_path is not None:
        add_only: dict[str, object] = {"--kind": kind, "--radius-km": radius_km}
        add_only |= {"--weight": weight, "--exact": exact}
        add_only |= {"--candidates": candidates_path, "--map": map_path}
        given = [flag for flag, value in add_only.items() if value not in (None, False)]
        if given:
            listed = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
            verb = "works" if len(given) == 1 else "work"
            raise PlanError(f"{listed} only {verb} with --add N, not with --with FILE.")
        return
    from servicemap.analysis.cover import _check_count
    from servicemap.analysis.sites import _check_kind, _check_radius, _check_weight

    _check_count(add, name="--add")
    _check_kind(kind)
    if radius_km is not None:
        _check_radius(radius_km, name="--radius-km")
    if weight is not None:
        _check_weight(weight)


def _save_proposal_map(
    proposal: Proposal, services: pd.DataFrame, map_path: Path, settings: Settings
) -> None:
    """Draw ``servicemap plan --add``'s sites over the derived force outlines and save the map."""
    from servicemap.geography.boundaries import load_force_areas
    from servicemap.render.maps import save_map
    from servicemap.render.plan_map import proposal_map

    areas = load_force_areas("derived", settings=settings)
    save_map(proposal_map(proposal, services, force_areas=areas), map_path)
    click.echo(f"Wrote the map to {map_path}", err=True)


# --- boundaries ---


@boundaries_group.command(name="info")
@boundaries_option
@cache_dir_option
@reports_errors
def boundaries_info_command(boundaries_source: str, cache_dir: Path | None) -> None:
    """Say which force boundaries are in use: source, file, build date, CRS and feature count.

    Derived boundaries are built first if they are not cached yet (about 20 seconds).

    \b
    Example:
        servicemap boundaries info --boundaries official
    """
    from servicemap.geography.boundaries import describe_force_areas

    info = describe_force_areas(boundaries_source, settings=build_settings(cache_dir))
    for key, value in info.items():
        click.echo(f"{key}: {value}")


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


def _add_quiet(group: click.Group) -> None:
    """Give every command and sub-group ``-q/--quiet`` too, so it works after the command."""
    for command in group.commands.values():
        command.params.append(_quiet_option())
        if isinstance(command, click.Group):
            _add_quiet(command)


_add_quiet(cli)
