"""The coverage report: a small static website that works offline, in print and without the map.

:func:`report_pages` builds, and :func:`write_report` writes into one folder
(:func:`build_report` does both):

* ``index.html``: headline figures, the five largest gaps, the embedded map, a sortable table of
  every force (a real ``<table>``, complete and sorted without JavaScript), national services,
  and the methodology, sources and caveats;
* ``forces/<slug>.html``: one profile per force, next to its neighbours;
* ``map.html``: the self-contained interactive map (:func:`servicemap.render.maps.coverage_map`);
* ``coverage.csv``: every measure for every force, safe to open in a spreadsheet;
* ``search-services.js`` and ``postcodes/``: what the search box of ``index.html`` and
  ``map.html`` answers from, offline (:mod:`servicemap.render.search`).
* ``services.csv`` and ``services.json`` (Open Referral UK), the public directory, and
  ``forces/<slug>-services.csv``, each profile's services (:mod:`servicemap.render.downloads`).
* ``coverage.png`` (300 dpi) and ``coverage.svg``: the map for print and slides, with every
  force numbered, a London inset and the legend (:mod:`servicemap.render.figures`);
* ``locators/<slug>.svg`` and ``.png``: where each force is in England and Wales (its profile
  shows it);
* ``snapshot.json``: what the report rested on (:mod:`servicemap.analysis.snapshot`), so that
  a later report (``since``) or ``servicemap compare`` can say what changed;

Pages are rendered with Jinja2 with autoescaping on; services pass through
``directory.privacy.public_services`` before anything reaches a page.

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

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from servicemap._beside import beside
from servicemap._csv import csv_text as frame_csv_text
from servicemap._folder import check_folder, publish_folder
from servicemap.analysis.snapshot import SNAPSHOT_FILE, Snapshot, snapshot_json
from servicemap.directory.privacy import public_services
from servicemap.directory.select import Selection, SelectionSummary, select_services
from servicemap.errors import ReportError
from servicemap.geography.postcode_index import start_postcode_index
from servicemap.geography.simplified import simplify_force_areas
from servicemap.geography.towns import TOWNS_ATTRIBUTION
from servicemap.inputs import force_profiles
from servicemap.render.changes_text import report_changes
from servicemap.render.district_layer import district_map_frame
from servicemap.render.downloads import DIRECTORY_FILES, service_downloads
from servicemap.render.figures import LOCATOR_FOLDER
from servicemap.render.labels import DEFAULT_TITLE, format_date
from servicemap.render.maps import coverage_map, force_map_frame, render_map
from servicemap.render.pages import (
    ForceLookup,
    ProfileLike,
    coverage_codes,
    force_lookup,
    index_page,
    jinja_environment,
    order_by_gap,
    page_context,
    profile_pages,
)
from servicemap.render.pdf import report_pdf_html, write_pdf
from servicemap.render.search import (
    SEARCH_ENTRIES,
    SearchFiles,
    search_box_html,
    search_control,
    search_files,
    search_page_context,
    write_search_files,
)
from servicemap.render.selection import selection_sentences
from servicemap.render.static_map import (
    DrawnFigures,
    draw_figures,
    figures_kept,
    write_locator_maps,
    write_static_map,
)
from servicemap.render.tiles import tile_provider
from servicemap.render.workbook import for_programs, write_coverage_workbook
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "REPORT_FILES",
    "ReportError",
    "ReportSummary",
    "build_report",
    "check_report_folder",
    "report_pages",
    "write_report",
]

REPORT_FILES: tuple[str, ...] = (
    "forces",
    *SEARCH_ENTRIES,
    "map.html",
    "coverage.csv",
    "coverage.xlsx",
    "coverage.png",
    *DIRECTORY_FILES,
    "coverage.svg",
    LOCATOR_FOLDER,
    SNAPSHOT_FILE,
    "index.html",
)
"""What a report folder holds, in the order they are put in place (index.html last)."""


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


# --- the pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPages:
    """A report, built and not yet written (see :func:`report_pages` and :func:`write_report`).

    Attributes
    ----------
    index_html
        The index page.
    force_pages
        Each force's profile page, by the force's slug (written as ``forces/<slug>.html``).
    map_html
        The self-contained interactive map page.
    csv_text
        Every measure for every force, as CSV text.
    table
        The coverage table, largest gap first (written as ``coverage.xlsx``).
    simplified
        The simplified, coloured force areas that ``coverage.png`` is drawn from.
    title
        The report's title (also the picture's).
    generated
        The date on the pages, as people write it.
    downloads
        The service files (``services.csv``, ``services.json``, ``forces/<slug>-services.csv``)
        by path in the folder: public fields only.
    snapshot
        What the report rested on, as JSON (written as ``snapshot.json``).
    figures
        The picture and locator maps, drawn beside the pages when they were not kept in the
        cache folder (``None``: :func:`write_report` takes the kept ones, or draws them).
    """

    index_html: str
    force_pages: dict[str, str]
    map_html: str
    csv_text: str
    table: pd.DataFrame
    simplified: gpd.GeoDataFrame
    title: str
    generated: str
    search: SearchFiles
    downloads: dict[str, str]
    snapshot: str = ""
    figures: DrawnFigures | None = None


def report_pages(
    force_areas: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    services: pd.DataFrame,
    *,
    profiles: Mapping[str, ProfileLike],
    metric: str = "gap_score",
    tiles: str | None = None,
    title: str = DEFAULT_TITLE,
    boundary_source: str = "derived from the ONS Postcode Directory (offline)",
    services_source: str = "the servicemap directory",
    generated: dt.date | None = None,
    selection: SelectionSummary | None = None,
    contact: str | None = None,
    since: Snapshot | None = None,
    districts: tuple[gpd.GeoDataFrame, pd.DataFrame] | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> ReportPages:
    """Build every page of the coverage report, writing nothing.

    Parameters
    ----------
    force_areas, coverage
        Force areas (``force_code``, ``force_name``, polygons) from
        ``boundaries.load_force_areas``; ``coverage.coverage_by_force`` of the services.
    services
        The canonical services frame (confidential services included: they count at area level;
        they pass through ``directory.privacy.public_services`` before reaching any page).
    profiles
        Force profiles by force code (see ``servicemap.inputs.force_profiles``).
    metric, tiles
        The coverage column that colours the maps; a tile name for an online base map in
        ``map.html`` (``None``: an offline map).
    title, boundary_source, services_source
        The report's title, and where the boundaries and the services came from (its sources).
    generated
        The date printed on the pages; default today.
    selection
        What ``directory.select.select_services`` counted (the index's sentences); ``None``: all.
    contact
        A web or email address shown on every page as "Is a service missing or wrong? Tell us".
    since
        An earlier report's snapshot (``analysis.snapshot.read_snapshot``), for "What changed".
    districts
        ``(district polygons, coverage_by_district)`` for a district layer in ``map.html``.
    settings
        Settings (CRS).

    Returns
    -------
    ReportPages
        The pages and the frame the picture is drawn from; write them with :func:`write_report`.
    """
    generated = generated or dt.date.today()
    public = public_services(services)
    frame = force_map_frame(force_areas, coverage, metric=metric)
    simplified = _simplified(frame, settings=settings)
    lookup = force_lookup(force_areas, coverage, frame, settings=settings)
    env = jinja_environment()
    options = _map_options(metric, tiles, simplified, districts, settings=settings)
    # the downloads, map and figures (not kept) on other cores while this one makes the pages
    with (
        beside(_downloads, services, _profile_ids(profiles, lookup), coverage, generated) as files,
        beside(_map_page, env, force_areas, coverage, public, options) as map_page,
        _figures_beside(simplified, title=title, settings=settings) as drawing,
    ):
        index_html, force_pages, search = _pages(
            env, coverage, (services, public), profiles, lookup, simplified, title=title,
            metric=metric, generated=generated, contact=contact, since=since, selection=selection,
            sources=(boundary_source, services_source), settings=settings,
        )  # fmt: skip
        map_html = map_page.result()
        downloads, snapshot = files.result()
        figures = drawing()
    return ReportPages(
        index_html=index_html, force_pages=force_pages, map_html=map_html, search=search,
        csv_text=frame_csv_text(for_programs(order_by_gap(coverage)), lineterminator="\r\n"),
        table=order_by_gap(coverage), simplified=simplified, title=title,
        generated=format_date(generated), downloads=downloads, snapshot=snapshot, figures=figures,
    )  # fmt: skip


@contextlib.contextmanager
def _figures_beside(
    simplified: gpd.GeoDataFrame, *, title: str, settings: Settings
) -> Iterator[Callable[[], DrawnFigures | None]]:
    """Draw the figures beside the pages unless they are kept; give what returns them (or None)."""
    if figures_kept(simplified, title=title, settings=settings):
        yield lambda: None  # write_report copies the kept ones
        return
    with beside(draw_figures, simplified, title=title, settings=settings) as drawing:
        yield drawing.result


def _downloads(
    services: pd.DataFrame, ids: dict[str, list[str]], coverage: pd.DataFrame, generated: dt.date
) -> tuple[dict[str, str], str]:
    """Return the service downloads and ``snapshot.json``: a pure function, run beside."""
    return service_downloads(services, ids), snapshot_json(services, coverage, generated=generated)


def _simplified(frame: gpd.GeoDataFrame, *, settings: Settings) -> gpd.GeoDataFrame:
    """Return the force map frame simplified once, for the map, the picture and the pages."""
    simplified = simplify_force_areas(frame, settings=settings)
    simplified.attrs.update(frame.attrs)
    return simplified


def _pages(
    env: Any,
    coverage: pd.DataFrame,
    services: tuple[pd.DataFrame, pd.DataFrame],
    profiles: Mapping[str, ProfileLike],
    lookup: ForceLookup,
    simplified: gpd.GeoDataFrame,
    *,
    title: str,
    metric: str,
    generated: dt.date,
    contact: str | None,
    since: Snapshot | None,
    selection: SelectionSummary | None,
    sources: tuple[str, str],
    settings: Settings,
) -> tuple[str, dict[str, str], SearchFiles]:
    """Return ``index.html``, each force's page by slug, and the search files.

    ``services`` are the canonical frame and its public services.
    """
    common = page_context(title=title, metric=metric, generated=generated, contact=contact)
    common["changes"] = report_changes(since, services[0], coverage, generated, lookup.slugs)
    index_html = _index_html(
        env, common, coverage, services, profiles, lookup, metric=metric, selection=selection,
        sources=sources, generated=generated,
    )  # fmt: skip
    force_pages = profile_pages(
        env, common, coverage, profiles, lookup, simplified, metric=metric, settings=settings
    )
    slugs = {code: slug for code, slug in lookup.slugs.items() if slug in force_pages}
    search = search_files(*services, profiles=slugs, settings=settings)
    return index_html, force_pages, search


def _index_html(
    env: Any,
    common: dict[str, Any],
    coverage: pd.DataFrame,
    services: tuple[pd.DataFrame, pd.DataFrame],
    profiles: Mapping[str, ProfileLike],
    lookup: ForceLookup,
    *,
    metric: str,
    selection: SelectionSummary | None,
    sources: tuple[str, str],
    generated: dt.date,
) -> str:
    """Return ``index.html``; ``services`` are the canonical frame and its public services."""
    canonical, public = services
    if selection is None:  # every service counted
        selection = select_services(canonical, Selection(), today=generated)[1]
    boundary_source, services_source = sources
    return index_page(
        env, search_page_context(common, public), coverage, public, profiles, lookup, metric=metric,
        boundary_source=boundary_source, services_source=services_source,
        counted=selection_sentences(selection),
    )  # fmt: skip


def _map_page(
    env: Any,
    force_areas: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    public: pd.DataFrame,
    options: dict[str, Any],
) -> str:
    """Return ``map.html`` with its search box (a pure function, made beside the pages)."""
    map_ = coverage_map(force_areas, coverage, public, credits=[TOWNS_ATTRIBUTION], **options)
    map_.add_child(search_control(search_box_html(env, public)))  # below the title box
    return render_map(map_)


def _profile_ids(profiles: Mapping[str, ProfileLike], lookup: ForceLookup) -> dict[str, list[str]]:
    """Return, by force slug, the ids of the services each profile page lists."""
    return {
        lookup.slugs.get(code, code): [str(i) for i in profiles[code].services.get("id", [])]
        for code in lookup.codes
        if code in profiles
    }


def _map_options(
    metric: str,
    tiles: str | None,
    simplified: gpd.GeoDataFrame,
    districts: tuple[gpd.GeoDataFrame, pd.DataFrame] | None,
    *,
    settings: Settings,
) -> dict[str, Any]:
    """Return the options of ``map.html``'s coverage_map (the district frame made here, once)."""
    if tiles:  # as coverage_map reads it
        tile_provider(tiles)  # an unknown name fails now, before any page is made
    frame = None if districts is None else district_map_frame(*districts, settings=settings)
    return {
        "metric": metric, "tiles": tiles, "simplified": simplified, "settings": settings,
        # with JavaScript off, the map page shows the report's picture and links its table
        "fallback": ("coverage.png", "index.html#forces"), "districts": frame,
    }  # fmt: skip


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


def write_report(
    pages: ReportPages,
    out_dir: Path | str,
    *,
    overwrite: bool = False,
    pdf: bool = False,
    settings: Settings = DEFAULT_SETTINGS,
) -> ReportSummary:
    """Write a built report into its folder, switched in whole where the system allows.

    The report is written whole into a hidden folder beside ``out_dir`` and, on Linux,
    exchanged with it in one atomic step (see :mod:`servicemap._folder`), so a reader, or a
    run that fails or is killed at any moment, sees the old report or the new one, whole;
    elsewhere the entries are replaced one by one. The folder holds plain files only; other
    files in ``out_dir`` stay, and files at the report's names that no earlier report wrote
    (or changed since) are refused, naming them, unless ``overwrite``.

    Parameters
    ----------
    pages
        The report from :func:`report_pages`.
    out_dir
        The report folder (created if missing).
    overwrite
        Replace files at the report's names that no earlier report wrote (``--force``).
    pdf
        Also write ``report.pdf`` (needs WeasyPrint: ``servicemap[pdf]``).
    settings
        ``settings.crs`` is the projection the picture is drawn in.

    Returns
    -------
    ReportSummary
        The folder, the files written, the number of profiles and the map's size.

    Raises
    ------
    OutputError
        The folder cannot be written, or holds files the report did not write (unless
        ``overwrite``). Nothing is changed in it.
    """
    target = Path(out_dir)
    force_pages, title, index_html = pages.force_pages, pages.title, pages.index_html
    # report.pdf, when asked for, is put in place before index.html like the other files; an
    # earlier run's, unchanged, is removed by a run without it (publish_folder drops it).
    entries = [*REPORT_FILES[:-1], *(["report.pdf"] if pdf else []), REPORT_FILES[-1]]
    with publish_folder(target, entries, force=overwrite) as build:
        write_search_files(pages.search, build)
        _write_files(pages, build, settings=settings)
        if pdf:
            document = report_pdf_html(
                index_html, force_pages, title=title, generated=pages.generated
            )
            write_pdf(document, build / "report.pdf", base_url=build)
        (build / SNAPSHOT_FILE).write_text(pages.snapshot, encoding="utf-8")
        (build / "index.html").write_text(index_html, encoding="utf-8")
        files = tuple(sorted(path.relative_to(build).as_posix() for path in _files(build)))
    size = (target / "map.html").stat().st_size
    return ReportSummary(out_dir=target, files=files, forces=len(force_pages), map_bytes=size)


def _write_files(pages: ReportPages, build: Path, *, settings: Settings) -> None:
    """Write every file of the report but index.html (and report.pdf) into ``build``."""
    (build / "forces").mkdir()
    for slug, page in pages.force_pages.items():
        (build / "forces" / f"{slug}.html").write_text(page, encoding="utf-8")
    (build / "map.html").write_text(pages.map_html, encoding="utf-8")
    (build / "coverage.csv").write_text(pages.csv_text, encoding="utf-8-sig", newline="")
    write_coverage_workbook(pages.table, build / "coverage.xlsx", settings=settings)
    for name, text in pages.downloads.items():  # a BOM, so that spreadsheets read UTF-8
        encoding = "utf-8-sig" if name.endswith(".csv") else "utf-8"
        (build / name).write_text(text, encoding=encoding, newline="")
    write_static_map(
        pages.simplified, build / "coverage.png", svg_path=build / "coverage.svg",
        title=pages.title, settings=settings, drawn=pages.figures,
    )  # fmt: skip
    write_locator_maps(
        pages.simplified, build / LOCATOR_FOLDER, settings=settings, drawn=pages.figures
    )


def _files(folder: Path) -> list[Path]:
    """Return every file the report wrote under ``folder`` (not the publishing's hidden marks)."""
    return [path for path in folder.rglob("*") if path.is_file() and path.name[0] != "."]


def _build_profiles(
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    profile: Callable[[str], ProfileLike] | None,
    progress: Callable[[Sequence[str]], Any] | None,
    *,
    settings: Settings,
) -> Mapping[str, ProfileLike]:
    """Return every force's profile, from ``profile`` or else ``inputs.force_profiles``."""
    codes = list(coverage_codes(coverage))
    if profile is None:
        return force_profiles(services, coverage, codes=codes, progress=progress, settings=settings)
    iterator = progress(codes) if progress is not None else codes
    return {code: profile(code) for code in iterator}


def build_report(
    force_areas: gpd.GeoDataFrame,
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
    pdf: bool = False,
    selection: SelectionSummary | None = None,
    contact: str | None = None,
    since: Snapshot | None = None,
    districts: tuple[gpd.GeoDataFrame, pd.DataFrame] | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> ReportSummary:
    """Write the coverage report folder: index, one page per force, map, CSV and picture.

    :func:`report_pages` builds the pages and :func:`write_report` switches them in, whole.

    Parameters
    ----------
    force_areas, coverage, services
        As for :func:`report_pages`.
    out_dir
        The report folder (created if missing).
    profiles, profile
        Force profiles by force code; when ``profiles`` is ``None``, ``profile`` (a function
        from force code to profile, or else ``profile.force_profile``) is called for each force.
    metric
        The coverage column that colours the maps.
    tiles
        Tile name for an online base map in ``map.html``; ``None`` for an offline map.
    title, boundary_source, services_source
        The report's title, and where the boundaries and the services came from (for its sources).
    generated
        The date printed on the pages; default today.
    progress
        Wraps the list of force codes while profiles are built (e.g. a progress bar).
    overwrite, pdf
        As for :func:`write_report`.
    selection, contact, since, districts
        See :func:`report_pages`.
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
    target = Path(out_dir)
    check_report_folder(target, force=overwrite)
    # a first report: the search's postcode index is built beside the pages, on another core
    start_postcode_index(settings=settings)
    if profiles is None:
        profiles = _build_profiles(services, coverage, profile, progress, settings=settings)
    pages = report_pages(
        force_areas, coverage, services, profiles=profiles, metric=metric, tiles=tiles, title=title,
        boundary_source=boundary_source, services_source=services_source, generated=generated,
        selection=selection, contact=contact, since=since, districts=districts, settings=settings,
    )  # fmt: skip
    return write_report(pages, target, overwrite=overwrite, pdf=pdf, settings=settings)
