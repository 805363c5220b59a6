"""The coverage report: a small static website that works offline, in print and without the map.

:func:`build_report` writes, into one folder:

* ``index.html``: headline figures, the five largest gaps, the embedded map, a sortable table of
  every force (a real ``<table>``, complete and sorted without JavaScript), national services,
  and the methodology, sources and caveats;
* ``forces/<slug>.html``: one profile per force, next to its neighbours;
* ``map.html``: the self-contained interactive map (:func:`servicemap.maps.coverage_map`);
* ``coverage.csv``: every measure for every force, safe to open in a spreadsheet;
* ``coverage.png``: the map as a picture (matplotlib, no base map), for print and slides.

Pages are rendered with Jinja2 with autoescaping on; services pass through
``services.public_services`` before anything reaches a page.

The folder is written through :func:`servicemap._folder.publish_folder`, as plain files and
folders (no symbolic links: it can be zipped, copied to a stick or a Windows PC, or put on any
static host as it is), with one small hidden manifest, ``.servicemap-report.json``, listing
what the report wrote and each file's SHA-256. On Linux the new report is built beside the
folder, with the user's other files hard-linked into it, and the two folders are exchanged in
one atomic step, so a run that fails or is killed at any moment leaves the old report or the
new one, whole. Elsewhere the entries are replaced one by one (``index.html`` last; a failure
puts the old ones back, but a kill in the middle can leave a mix). A report never replaces a
file it did not write (an ``index.html`` of the user's, a file added to ``forces/``, a report
page edited since): it refuses, naming them, unless ``overwrite``. Other files in the folder
are kept.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd

from servicemap import __version__
from servicemap._folder import check_folder, publish_folder
from servicemap.errors import ReportError
from servicemap.maps import (
    ATTRIBUTION,
    NO_DATA_COLOUR,
    Classes,
    address_line,
    coverage_map,
    force_map_frame,
    format_measure,
    is_share,
    label_service_types,
    metric_label,
    national_services,
    render_map,
    safe_url,
    simplify_force_areas,
)
from servicemap.schema import cell_text
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "REPORT_FILES",
    "ReportError",
    "ReportInputs",
    "ReportSummary",
    "build_report",
    "check_report_folder",
    "load_inputs",
    "write_static_map",
]

REPORT_FILES: tuple[str, ...] = ("forces", "map.html", "coverage.csv", "coverage.png", "index.html")
"""What a report folder holds, in the order they are put in place (index.html last)."""

DEFAULT_TITLE = (
    "Specialist help for migrant victims of domestic abuse: coverage by police force area"
)

# Columns of the all-forces table on the index page and of each profile's neighbour table
# (those present in the coverage frame are shown). "*_within_<widest>km" is added at run time.
INDEX_COLUMNS: tuple[str, ...] = (
    "gap_rank",
    "gap_score",
    "gap_class",
    "local_services",
    "regional_services",
    "national_services",
    "born_outside_uk_2021",
    "local_services_per_100k_born_abroad",
)
COMPARE_COLUMNS: tuple[str, ...] = (
    "gap_score",
    "gap_class",
    "local_services",
    "regional_services",
    "local_services_per_100k_born_abroad",
)


SHORT_LABELS: dict[str, str] = {
    "gap_rank": "Rank",
    "gap_score": "Gap score",
    "gap_class": "Gap class",
    "local_services": "Local services",
    "regional_services": "Regional services",
    "national_services": "National services",
    "born_outside_uk_2021": "Born outside the UK (2021)",
    "local_services_per_100k_born_abroad": "Local services per 100k born abroad",
}
"""Column headings for tables (the full label is in each profile's "Every measure")."""


def _short_label(column: str) -> str:
    if column in SHORT_LABELS:
        return SHORT_LABELS[column]
    if column.startswith("in_person_within_"):
        return f"Within {column.removeprefix('in_person_within_')[:-2]} km of in-person help"
    return metric_label(column)


class ProfileLike(Protocol):
    """What a report needs from one force's profile (``coverage.ForceProfile``)."""

    @property
    def gaps(self) -> list[str]:
        """Plain-language statements of what is missing."""

    @property
    def services(self) -> pd.DataFrame:
        """Services serving the force (location blank for confidential ones)."""

    @property
    def nearest_outside(self) -> pd.DataFrame:
        """Nearest public in-person services outside the force."""


@dataclass(frozen=True)
class ReportSummary:
    """What one report run wrote.

    Attributes
    ----------
    out_dir
        The report folder.
    files
        Every file written, relative to ``out_dir``.
    forces
        Force profiles written.
    map_bytes
        Size of ``map.html`` in bytes.
    """

    out_dir: Path
    files: tuple[str, ...]
    forces: int
    map_bytes: int


@dataclass(frozen=True)
class ReportInputs:
    """Everything a map or report is drawn from.

    Attributes
    ----------
    forces
        Force areas (``code``, ``name``, polygons).
    coverage
        ``coverage.coverage_by_force`` of the services.
    services
        The canonical services frame, confidential services included (never output as is).
    boundary_source, services_source
        Where the boundaries and the services came from, in words, for the sources section.
    """

    forces: gpd.GeoDataFrame
    coverage: pd.DataFrame
    services: gpd.GeoDataFrame
    boundary_source: str
    services_source: str


def load_inputs(
    *,
    services_path: Path | None = None,
    boundaries_source: str = "derived",
    need_path: Path | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> ReportInputs:
    """Load the services, force areas and need, and compute coverage (bundled data by default).

    Parameters
    ----------
    services_path
        A services directory file; ``None`` for the bundled directory.
    boundaries_source
        ``derived``, ``official`` or a boundary file (see ``boundaries.load_force_areas``).
    need_path
        A need table; ``None`` for the bundled ONS figures.
    settings
        Settings (CRS, cache folder).

    Returns
    -------
    ReportInputs
        Force areas, coverage and services, and where they came from.
    """
    from servicemap._progress import status
    from servicemap.boundaries import load_force_areas
    from servicemap.coverage import coverage_by_force
    from servicemap.need import load_need
    from servicemap.services import load_services

    status("Loading the services directory…")
    services = load_services(services_path, settings=settings)
    status("Loading police force area boundaries…")
    forces = load_force_areas(boundaries_source, settings=settings)
    status("Scoring coverage…")
    coverage = coverage_by_force(services, need=load_need(need_path), settings=settings)
    boundary_words = {
        "derived": "derived from the ONS Postcode Directory (built offline by servicemap)",
        "official": "ONS Police Force Areas (December) EW BUC, Open Government Licence v3.0",
    }
    return ReportInputs(
        forces=forces,
        coverage=coverage,
        services=services,
        boundary_source=boundary_words.get(boundaries_source, f"the file {boundaries_source}"),
        services_source=(
            "the directory bundled with servicemap"
            if services_path is None
            else f"the file {Path(services_path).name}"
        ),
    )


# --- helpers ------------------------------------------------------------------------------------


def _codes(coverage: pd.DataFrame) -> pd.Series:
    for column in ("force_code", "code"):
        if column in coverage.columns:
            return coverage[column].astype(str)
    raise ReportError(
        "The coverage table has no 'force_code' column (found: "
        f"{', '.join(map(str, coverage.columns))}); pass the frame from coverage_by_force."
    )


def _names(coverage: pd.DataFrame) -> pd.Series:
    for column in ("force_name", "name"):
        if column in coverage.columns:
            return coverage[column].astype(str)
    return _codes(coverage)


def _widest_access_column(coverage: pd.DataFrame) -> str | None:
    columns = [c for c in coverage.columns if str(c).startswith("in_person_within_")]
    if not columns:
        return None
    return str(max(columns, key=lambda c: float(str(c).removeprefix("in_person_within_")[:-2])))


def _sort_key(column: str, value: object) -> str:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    if column == "gap_class":
        from servicemap.coverage import GAP_CLASSES

        text = cell_text(value)
        return str(GAP_CLASSES.index(text)) if text in GAP_CLASSES else ""
    return cell_text(value)


def _is_numeric(coverage: pd.DataFrame, column: str) -> bool:
    return bool(pd.api.types.is_numeric_dtype(coverage[column]))


def _slug_map(forces_frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(forces_frame["code"], forces_frame["slug"], strict=True))


def _jinja_env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("servicemap", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _asset(name: str) -> Any:
    from importlib import resources

    from markupsafe import Markup

    text = resources.files("servicemap").joinpath("assets", name).read_text(encoding="utf-8")
    # Trusted, static files of this package inlined into <style>/<script>: not escaped, but an
    # end tag inside them would close the element early.
    return Markup(text.replace("</", "<\\/"))


def _public(services: pd.DataFrame) -> pd.DataFrame:
    from servicemap.services import public_services

    return public_services(services)


# --- the pieces of the report -------------------------------------------------------------------


def _headline(coverage: pd.DataFrame, services: pd.DataFrame) -> list[dict[str, str]]:
    from servicemap.coverage import GAP_CLASSES

    figures = [{"value": str(len(coverage)), "label": "police force areas"}]
    scope = (
        services["scope"].map(cell_text) if "scope" in services.columns else pd.Series(dtype=str)
    )
    active = (
        services["status"].map(cell_text) != "ended"
        if "status" in services.columns
        else pd.Series(True, index=services.index)
    )
    figures.append({"value": f"{int(active.sum()):,}", "label": "services in the directory"})
    for level in ("local", "regional", "national"):
        count = int(((scope == level) & active).sum())
        figures.append({"value": f"{count:,}", "label": f"{level} services"})
    if "gap_class" in coverage.columns:
        none = int((coverage["gap_class"] == GAP_CLASSES[0]).sum())
        covered = int((coverage["gap_class"] == GAP_CLASSES[2]).sum())
        figures.append({"value": str(none), "label": f"forces with {GAP_CLASSES[0]}"})
        figures.append({"value": str(covered), "label": f"forces classed {GAP_CLASSES[2]}"})
    if "gap_score" in coverage.columns:
        median = float(coverage["gap_score"].median())
        figures.append({"value": f"{median:.0f}", "label": "median gap score (0 best, 100 worst)"})
    return figures


def _order_by_gap(coverage: pd.DataFrame) -> pd.DataFrame:
    if "gap_rank" in coverage.columns:
        return coverage.sort_values(["gap_rank"], kind="stable")
    if "gap_score" in coverage.columns:
        return coverage.sort_values(["gap_score"], ascending=False, kind="stable")
    return coverage


def _table_columns(coverage: pd.DataFrame, wanted: Sequence[str]) -> list[dict[str, Any]]:
    columns = [c for c in wanted if c in coverage.columns]
    widest = _widest_access_column(coverage)
    if widest:
        columns.append(widest)
    return [
        {
            "name": c,
            "label": _short_label(c),
            "title": metric_label(c),
            "numeric": _is_numeric(coverage, c),
            # gap_class sorts by its order (worst first), not alphabetically.
            "sort_numeric": _is_numeric(coverage, c) or c == "gap_class",
        }
        for c in columns
    ]


def _cells(
    row: Mapping[str, Any],
    columns: Sequence[Mapping[str, Any]],
    colour: str | None,
    metric: str,
) -> list[dict[str, Any]]:
    return [
        {
            "text": format_measure(c["name"], row.get(c["name"])),
            "sort": _sort_key(c["name"], row.get(c["name"])),
            "numeric": c["numeric"],
            "colour": colour if c["name"] == metric else None,
        }
        for c in columns
    ]


def _neighbours(forces: gpd.GeoDataFrame, *, settings: Settings) -> dict[str, list[str]]:
    """Return, for each force code, the codes of the forces that border it (within 200 m)."""
    projected = forces.to_crs(settings.crs).reset_index(drop=True)
    left, right = projected.sindex.query(projected.geometry, predicate="dwithin", distance=200.0)
    codes = projected["code"].astype(str).to_numpy()
    out: dict[str, list[str]] = {str(c): [] for c in codes}
    for i, j in zip(left, right, strict=True):
        if i != j:
            out[str(codes[i])].append(str(codes[j]))
    return {code: sorted(set(found)) for code, found in out.items()}


def _svg_minimap(
    simplified: gpd.GeoDataFrame,
    code: str,
    neighbours: Sequence[str],
    colours: Mapping[str, str],
    labels: Mapping[str, str],
    *,
    settings: Settings,
) -> Any:
    """Return an inline SVG of a force (thick outline) and its neighbours, or '' if none."""
    from markupsafe import Markup, escape

    wanted = [code, *neighbours]
    chosen = simplified.loc[simplified["code"].isin(wanted)].to_crs(settings.crs)
    if chosen.empty:
        return ""
    minx, miny, maxx, maxy = chosen.total_bounds
    size = 400.0
    scale = size / max(maxx - minx, maxy - miny, 1.0)
    width, height = (maxx - minx) * scale, (maxy - miny) * scale

    def path(geometry: Any) -> str:
        parts = []
        polygons = getattr(geometry, "geoms", [geometry])
        for polygon in polygons:
            for ring in (polygon.exterior, *polygon.interiors):
                xy = np.asarray(ring.coords)
                xs = (xy[:, 0] - minx) * scale
                ys = (maxy - xy[:, 1]) * scale
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
                parts.append(f"M{points}Z")
        return "".join(parts)

    shapes = []
    ordered = chosen.assign(_self=chosen["code"] == code).sort_values("_self")
    for row in ordered.itertuples(index=False):
        row_code = str(row.code)
        is_self = row_code == code
        stroke = "#000" if is_self else "#555"
        width_px = 3 if is_self else 0.8
        title = escape(labels.get(row_code, row_code))
        shapes.append(
            f'<path d="{path(row.geometry)}" fill="{escape(colours.get(row_code, NO_DATA_COLOUR))}"'
            f' stroke="{stroke}" stroke-width="{width_px}" stroke-linejoin="round">'
            f"<title>{title}</title></path>"
        )
    label = escape(f"Map of {labels.get(code, code)} and the police force areas that border it")
    return Markup(
        f'<svg class="minimap" viewBox="-4 -4 {width + 8:.0f} {height + 8:.0f}" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">{"".join(shapes)}</svg>'
    )


def _profile_services(profile: ProfileLike) -> list[dict[str, str]]:
    rows = []
    for service in profile.services.to_dict(orient="records"):
        offers = label_service_types(service.get("service_types"))
        extras = []
        if cell_text(service.get("delivery")):
            extras.append(cell_text(service.get("delivery")).replace("_", " "))
        if cell_text(service.get("by_and_for")) == "yes":
            extras.append("by and for")
        if cell_text(service.get("nrpf_support")) == "yes":
            extras.append("supports NRPF")
        phone = cell_text(service.get("phone"))
        address = address_line(service)
        rows.append(
            {
                "name": cell_text(service.get("name")),
                "organisation": cell_text(service.get("organisation"))
                if cell_text(service.get("organisation")) != cell_text(service.get("name"))
                else "",
                "level": cell_text(service.get("level")),
                "serves": cell_text(service.get("serves")),
                "offers": offers,
                "extras": "; ".join(extras),
                "phone": phone,
                "tel": "".join(ch for ch in phone if ch.isdigit() or ch == "+"),
                "website": safe_url(service.get("website")) or "",
                "address": address,
            }
        )
    return rows


def _profile_nearest(profile: ProfileLike) -> list[dict[str, str]]:
    return [
        {
            "name": cell_text(row.get("name")),
            "based_in": cell_text(row.get("based_in")),
            "km": format_measure("km", row.get("km_from_force")),
            "serves": "yes" if bool(row.get("serves_force")) else "no",
        }
        for row in profile.nearest_outside.to_dict(orient="records")
    ]


def _measures(row: Mapping[str, Any]) -> list[dict[str, str]]:
    skip = {"force_code", "force_name", "code", "name"}
    return [
        {"label": metric_label(str(k)), "value": format_measure(str(k), v)}
        for k, v in row.items()
        if str(k) not in skip and not str(k).startswith("_")
    ]


def _national_average(
    coverage: pd.DataFrame, columns: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    cells = []
    for c in columns:
        name = c["name"]
        if name == "gap_class" or not pd.api.types.is_numeric_dtype(coverage[name]):
            cells.append({"text": "", "numeric": c["numeric"], "colour": None})
            continue
        if name == "local_services_per_100k_born_abroad" and {
            "local_services",
            "born_outside_uk_2021",
        } <= set(coverage.columns):
            value: float = (
                coverage["local_services"].sum() / coverage["born_outside_uk_2021"].sum() * 1e5
            )
        else:
            value = float(coverage[name].median())
        text = format_measure(name, value)
        cells.append({"text": text, "numeric": True, "colour": None})
    return {"name": "England and Wales", "slug": "", "is_self": False, "cells": cells}


def _components() -> list[dict[str, str]]:
    from servicemap.coverage import GAP_WEIGHTS, KIND_LABELS, LEVEL_VALUES, REMOTE_KINDS

    rows = []
    for name, weight in GAP_WEIGHTS.items():
        if name in KIND_LABELS:
            if name in REMOTE_KINDS:
                how = (
                    "share of residents reached locally; a regional or national service "
                    "counts in full."
                )
            else:
                how = (
                    "share of residents reached by a local service; the rest count "
                    f"{LEVEL_VALUES['regional']:g} if a regional service covers the force, "
                    f"{LEVEL_VALUES['national']:g} if only a national one does."
                )
            label = KIND_LABELS[name]
        elif name == "capacity":
            label = "Capacity"
            how = (
                "local services per resident born outside the UK, against the England and Wales "
                "rate (capped at 1)."
            )
        elif name == "in_person_access":
            label = "In-person access"
            how = "share of residents within the widest distance of an in-person service."
        elif name == "by_and_for_access":
            label = "‘By and for’ access"
            how = (
                "share of residents within the widest distance of an in-person service led by "
                "the communities it serves."
            )
        else:
            label, how = name.replace("_", " ").capitalize(), ""
        rows.append({"label": label, "weight": f"{weight:.2f}", "how": how})
    return rows


# --- static map ---------------------------------------------------------------------------------


def write_static_map(
    frame: gpd.GeoDataFrame,
    path: Path | str,
    *,
    title: str,
    settings: Settings = DEFAULT_SETTINGS,
) -> Path:
    """Draw force areas coloured by their class as a PNG (no base map) and write it atomically.

    Parameters
    ----------
    frame
        Simplified force areas from :func:`servicemap.maps.force_map_frame` (with ``colour`` and
        the ``classes`` attribute).
    path
        The PNG to write.
    title
        The picture's title.
    settings
        ``settings.crs`` is the projection the picture is drawn in.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from servicemap._atomic import atomic_write_bytes

    projected = frame.to_crs(settings.crs)
    figure = Figure(figsize=(8, 9.5), dpi=120)
    axes = figure.add_axes((0.02, 0.08, 0.96, 0.84))
    projected.plot(ax=axes, color=list(projected["colour"]), edgecolor="#4d4d4d", linewidth=0.4)
    axes.set_axis_off()
    axes.set_aspect("equal")
    classes: Classes = frame.attrs["classes"]
    handles = [
        Patch(facecolor=colour, edgecolor="#555", label=label)
        for label, colour in zip(classes.labels, classes.colours, strict=True)
    ]
    if (np.asarray(classes.index) < 0).any():
        handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="#555", label="no data"))
    axes.legend(
        handles=handles,
        title=metric_label(str(frame.attrs.get("metric", ""))),
        loc="upper left",
        fontsize=8,
        title_fontsize=8,
        frameon=True,
    )
    figure.suptitle(title, fontsize=11, wrap=True)
    figure.text(0.02, 0.015, ATTRIBUTION, fontsize=6, wrap=True, color="#444")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    target = Path(path)
    atomic_write_bytes(target, buffer.getvalue())
    return target


# --- writing the folder -------------------------------------------------------------------------


def check_report_folder(
    out_dir: Path | str,
    *,
    force: bool = False,
    inputs: Mapping[str, Path | None] | None = None,
) -> None:
    """Check that a report can be written to ``out_dir``, before any work is done.

    Parameters
    ----------
    out_dir
        The report folder (it and its parents are created when missing).
    force
        Allow replacing files at the report's names that no earlier report wrote.
    inputs
        The command's input files by option (``--services``, ``--need``, ``--boundaries``);
        none may be a file the report would replace.

    Raises
    ------
    OutputError
        ``out_dir`` is a file, cannot be written, holds an input, or holds at the report's
        names files it did not write (unless ``force``): the message names them.
    """
    check_folder(out_dir, REPORT_FILES, force=force, inputs=inputs)


def build_report(
    forces: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    services: pd.DataFrame,
    *,
    out_dir: Path | str,
    profiles: Mapping[str, ProfileLike] | None = None,
    profile: Callable[[str], ProfileLike] | None = None,
    metric: str = "gap_score",
    tiles: str | None = None,
    title: str = DEFAULT_TITLE,
    boundary_source: str = "derived from the ONS Postcode Directory (offline)",
    services_source: str = "the servicemap directory",
    generated: dt.date | None = None,
    progress: Callable[[Sequence[str]], Any] | None = None,
    overwrite: bool = False,
    settings: Settings = DEFAULT_SETTINGS,
) -> ReportSummary:
    """Write the coverage report folder: index, one page per force, map, CSV and picture.

    The report is written whole into a hidden folder beside ``out_dir`` and, on Linux,
    exchanged with it in one atomic step (see :mod:`servicemap._folder`), so a reader, or a
    run that fails or is killed at any moment, sees the old report or the new one, whole;
    elsewhere the entries are replaced one by one. The folder holds plain files only.
    Re-running replaces the report's own files and ``forces/`` pages; other files in
    ``out_dir`` stay. Files at the report's names that no earlier report wrote (or that were
    changed since) are refused, naming them, unless ``overwrite``.

    Parameters
    ----------
    forces
        Force areas (``code``, ``name``, polygons) from ``boundaries.load_force_areas``.
    coverage
        ``coverage.coverage_by_force`` for the same services.
    services
        The canonical services frame (confidential services included: they count at area level;
        they pass through ``services.public_services`` before reaching any page).
    out_dir
        The report folder (created if missing).
    profiles
        Force profiles by force code; when missing, ``profile`` (or
        ``coverage.force_profile``) is called for each force.
    profile
        Function from force code to profile, used when ``profiles`` is ``None``.
    metric
        The coverage column that colours the maps.
    tiles
        Tile name for an online base map in ``map.html``; ``None`` for an offline map.
    title
        Report title.
    boundary_source, services_source
        Where the boundaries and the services came from, for the sources section.
    generated
        The date printed on the pages; default today.
    progress
        Wraps the list of force codes while profiles are built (e.g. a progress bar).
    overwrite
        Replace files at the report's names that no earlier report wrote (``--force``).
    settings
        Settings (CRS, postcode table cache).

    Returns
    -------
    ReportSummary
        The folder, the files written, the number of profiles and the map's size.

    Raises
    ------
    OutputError
        The folder cannot be written (a file, no permission, read-only, disk full), or holds
        files the report did not write (unless ``overwrite``). Nothing is changed in it.
    """
    from servicemap.forces import load_forces

    target = Path(out_dir)
    check_report_folder(target, force=overwrite)
    generated = generated or dt.date.today()
    public = _public(services)
    codes = _codes(coverage)
    if profiles is None:
        if profile is None:
            from servicemap._onspd import load_postcode_table
            from servicemap.coverage import force_profile

            table = load_postcode_table(settings=settings)

            def profile(code: str) -> ProfileLike:
                return force_profile(code, services, coverage, postcodes=table, settings=settings)

        wanted = list(codes)
        iterator = progress(wanted) if progress is not None else wanted
        profiles = {code: profile(code) for code in iterator}

    frame = force_map_frame(forces, coverage, metric=metric)
    simplified = simplify_force_areas(frame, settings=settings)
    simplified.attrs.update(frame.attrs)
    register = load_forces()
    slugs = _slug_map(register)
    colours = dict(zip(frame["code"], frame["colour"], strict=True))
    neighbours = _neighbours(forces, settings=settings)
    by_code = coverage.assign(_code=codes.to_numpy()).set_index("_code")
    names = dict(zip(codes, _names(coverage), strict=True))

    env = _jinja_env()
    common = {
        "title": title,
        "css": _asset("report.css"),
        "sort_js": _asset("sort.js"),
        "attribution": ATTRIBUTION,
        "version": __version__,
        "generated": generated.isoformat(),
        "metric_label": metric_label(metric),
    }

    index_columns = _table_columns(coverage, INDEX_COLUMNS)
    ordered = _order_by_gap(coverage)
    rows = []
    for record in ordered.to_dict(orient="records"):
        code = str(record.get("force_code", record.get("code")))
        rows.append(
            {
                "name": names[code],
                "slug": slugs.get(code, code),
                "cells": _cells(record, index_columns, colours.get(code), metric),
            }
        )
    largest = []
    for record in ordered.head(5).to_dict(orient="records"):
        code = str(record.get("force_code", record.get("code")))
        gaps = profiles[code].gaps if code in profiles else []
        largest.append(
            {
                "name": names[code],
                "slug": slugs.get(code, code),
                "score": format_measure("gap_score", record.get("gap_score")),
                "gap_class": cell_text(record.get("gap_class")),
                "first_gap": gaps[0] if gaps else "",
            }
        )
    from servicemap.coverage import COVERED_SHARE, GAP_CLASSES

    index_html = env.get_template("index.html").render(
        **common,
        headline=_headline(coverage, public),
        largest=largest,
        rows=rows,
        table_columns=index_columns,
        sorted_by="gap_rank" if "gap_rank" in coverage.columns else "",
        national=national_services(public).to_dict(orient="records"),
        components=_components(),
        gap_classes=GAP_CLASSES,
        covered_share=f"{COVERED_SHARE:.0%}",
        boundary_source=boundary_source,
        services_source=services_source,
        services_total=f"{len(public):,}",
    )

    compare_columns = _table_columns(coverage, COMPARE_COLUMNS)
    labels = {
        code: f"{names.get(code, code)}: {format_measure(metric, by_code.loc[code, metric])}"
        if code in by_code.index
        else code
        for code in frame["code"]
    }
    force_pages: dict[str, str] = {}
    for code in codes:
        summary_row = by_code.loc[code].to_dict()
        page_profile = profiles.get(code)
        compare = []
        for other in [code, *neighbours.get(code, [])]:
            if other not in by_code.index:
                continue
            compare.append(
                {
                    "name": names.get(other, other),
                    "slug": slugs.get(other, other),
                    "is_self": other == code,
                    "cells": _cells(
                        by_code.loc[other].to_dict(), compare_columns, colours.get(other), metric
                    ),
                }
            )
        compare.append(_national_average(coverage, compare_columns))
        headline = [
            {"value": format_measure(c, summary_row.get(c)), "label": metric_label(c)}
            for c in ("gap_score", "gap_class", "local_services")
            if c in summary_row
        ]
        if "gap_rank" in summary_row:
            headline.insert(
                1,
                {
                    "value": f"{format_measure('gap_rank', summary_row['gap_rank'])} of "
                    f"{len(coverage)}",
                    "label": "gap rank (1 = biggest gap)",
                },
            )
        force = {
            "name": names.get(code, code),
            "headline": headline,
            "gaps": list(page_profile.gaps) if page_profile else [],
            "compare": compare,
            "svg": _svg_minimap(
                simplified,
                code,
                neighbours.get(code, []),
                colours,
                labels,
                settings=settings,
            ),
            "services": _profile_services(page_profile) if page_profile else [],
            "nearest": _profile_nearest(page_profile) if page_profile else [],
            "measures": _measures(summary_row),
        }
        force_pages[slugs.get(code, code)] = env.get_template("force.html").render(
            **common, force=force, compare_columns=compare_columns
        )

    map_html = render_map(
        coverage_map(forces, coverage, public, metric=metric, tiles=tiles, settings=settings)
    )
    csv_text = _coverage_csv(coverage)

    with publish_folder(target, REPORT_FILES, force=overwrite) as build:
        (build / "forces").mkdir()
        for slug, page in force_pages.items():
            (build / "forces" / f"{slug}.html").write_text(page, encoding="utf-8")
        (build / "map.html").write_text(map_html, encoding="utf-8")
        (build / "coverage.csv").write_text(csv_text, encoding="utf-8-sig", newline="")
        write_static_map(simplified, build / "coverage.png", title=title, settings=settings)
        (build / "index.html").write_text(index_html, encoding="utf-8")
    files = (
        "index.html",
        "map.html",
        "coverage.csv",
        "coverage.png",
        *sorted(f"forces/{slug}.html" for slug in force_pages),
    )
    return ReportSummary(
        out_dir=target,
        files=files,
        forces=len(force_pages),
        map_bytes=(target / "map.html").stat().st_size,
    )


def _coverage_csv(coverage: pd.DataFrame) -> str:
    from servicemap._csv import csv_text

    table = _order_by_gap(coverage)
    table = table[[c for c in table.columns if not str(c).startswith("_")]]
    for column in table.columns:
        if is_share(str(column)) and pd.api.types.is_float_dtype(table[column]):
            table = table.assign(**{str(column): table[column].round(4)})
    return csv_text(table, lineterminator="\r\n")
