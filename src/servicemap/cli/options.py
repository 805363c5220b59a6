"""The shared pieces of the commands: options, number types, output checks, errors."""

from __future__ import annotations

import functools
import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from servicemap.errors import CacheNotice, DataQualityWarning, ServicemapError
from servicemap.settings import DEFAULT_SETTINGS, Settings, default_cache_dir

F = TypeVar("F", bound=Callable[..., Any])
QUIET_KEY = "servicemap.quiet"


def _quiet() -> bool:
    """Whether ``-q/--quiet`` (or ``SERVICEMAP_QUIET=1``) was given for this command."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(QUIET_KEY, False))


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
    ("areas_served", "is read as", "names read as the police force"),
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


def radius_km_type(example: str) -> FiniteFloat:
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


def option_given(name: str) -> bool:
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


SELECTION_KEY = "servicemap.selection"


def _store_focus(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    from servicemap.directory.schema import FOCUSES

    chosen: list[str] = []
    for item in ",".join(value).split(","):
        term = item.strip().lower().replace("-", "_").replace(" ", "_")
        if not term:
            continue
        if term not in FOCUSES:
            raise click.BadParameter(
                f"{item.strip()!r} is not a focus; choose from {', '.join(FOCUSES)}.",
                ctx=ctx,
                param=param,
            )
        if term not in chosen:
            chosen.append(term)
    ctx.meta[SELECTION_KEY + ".focus"] = tuple(chosen)


def _store_seen_since(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    ctx.meta[SELECTION_KEY + ".seen_since"] = value


def selection_options(func: F) -> F:
    """Add ``--focus`` (repeatable, or a comma list) and ``--seen-since YEAR``.

    The command reads them with :func:`select_current`; the default counts every service.
    """
    focus = click.option(
        "--focus",
        multiple=True,
        metavar="FOCUS[,FOCUS]",
        expose_value=False,
        callback=_store_focus,
        help="Count only services of this focus (repeat, or separate by commas): "
        "domestic_abuse, sexual_violence, trafficking, fgm, legal_immigration, nrpf_general, "
        "community. Default: every service.",
    )
    seen = click.option(
        "--seen-since",
        type=click.IntRange(1900, 2100),
        metavar="YEAR",
        default=None,
        expose_value=False,
        callback=_store_seen_since,
        help="Count only services last seen in YEAR or later (services with no date are left "
        "out too). Default: every service, however old.",
    )
    return focus(seen(func))


def current_selection() -> Any:
    """Return the :class:`servicemap.directory.select.Selection` of this command's options."""
    from servicemap.directory.select import Selection

    ctx = click.get_current_context()
    return Selection(
        focus=ctx.meta.get(SELECTION_KEY + ".focus", ()),
        seen_since=ctx.meta.get(SELECTION_KEY + ".seen_since"),
    )


def select_current(services: Any, *, note: bool = True) -> tuple[Any, Any]:
    """Return the services this command's ``--focus``/``--seen-since`` keep, and the summary.

    With ``note`` and a selection other than everything, one line on stderr says what is
    counted (``Counting 83 of 131 services: focus domestic_abuse.``).
    """
    from servicemap.directory.select import select_services

    kept, summary = select_services(services, current_selection())
    if note:
        note_selection(summary)
    return kept, summary


def note_selection(summary: Any) -> None:
    """Say on stderr what ``--focus``/``--seen-since`` kept (nothing if every service, or -q)."""
    from servicemap.render.selection import selection_note

    if summary is not None and not summary.selection.is_everything and not _quiet():
        click.echo(selection_note(summary), err=True)
