"""The bundled job's inputs in one call: services, force areas, coverage and force profiles."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from servicemap._beside import beside
from servicemap._progress import status
from servicemap.analysis import profile as profile_module
from servicemap.analysis.coverage import coverage_by_district, coverage_by_force
from servicemap.analysis.kept import kept_coverage, kept_profiles, load_public_services
from servicemap.analysis.profile import ForceProfile
from servicemap.analysis.reach import prepare_services
from servicemap.directory.load import load_services, with_geometry
from servicemap.directory.select import Selection, SelectionSummary, select_services
from servicemap.geography import postcodes as postcodes_module
from servicemap.geography.boundaries import load_district_areas, load_force_areas
from servicemap.geography.need import load_need
from servicemap.geography.postcode_index import start_postcode_index
from servicemap.geography.postcodes import geography_from_postcodes
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = ["ReportInputs", "force_profiles", "load_inputs", "profile_maker"]

BOUNDARY_SOURCES: dict[str, str] = {
    "derived": "derived from the ONS Postcode Directory (built offline by servicemap)",
    "official": "ONS Police Force Areas (December) EW BUC, Open Government Licence v3.0",
}
"""Where the boundaries came from, in words, by ``boundaries_source``."""


@dataclass(frozen=True)
class ReportInputs:
    """Everything a map or report is drawn from.

    Attributes
    ----------
    force_areas
        Force areas (``force_code``, ``force_name``, polygons).
    coverage
        ``coverage.coverage_by_force`` of the services.
    services
        The canonical services frame, confidential services included (never output as is).
    boundary_source, services_source
        Where the boundaries and the services came from, in words, for the sources section.
    selection
        Which services the figures count (``--focus``, ``--seen-since``), or None if not
        recorded.
    districts
        ``coverage.coverage_by_district`` of the services (for the profiles' district tables);
        ``None`` when not computed.
    district_areas
        The district polygons (``boundaries.load_district_areas``) when ``districts`` is
        computed, for the map's district layer; else ``None``.
    """

    force_areas: gpd.GeoDataFrame
    coverage: pd.DataFrame
    services: gpd.GeoDataFrame
    boundary_source: str
    services_source: str
    selection: SelectionSummary | None = None
    districts: pd.DataFrame | None = None
    district_areas: gpd.GeoDataFrame | None = None

    @property
    def district_layer(self) -> tuple[gpd.GeoDataFrame, pd.DataFrame] | None:
        """The district polygons and their coverage (a map's district layer), or ``None``."""
        if self.districts is None or self.district_areas is None:
            return None
        return self.district_areas, self.districts


def load_inputs(
    *,
    services_path: Path | None = None,
    boundaries_source: str = "derived",
    need_path: Path | None = None,
    selection: Selection | None = None,
    districts: bool = False,
    settings: Settings = DEFAULT_SETTINGS,
    keep: bool = False,
    search: bool = False,
) -> ReportInputs:
    """Load the services, force areas and need, and compute coverage (bundled data by default).

    Parameters
    ----------
    services_path
        A services directory file; ``None`` for the bundled directory.
    boundaries_source
        ``derived``, ``official`` or a boundary file (see ``boundaries.load_force_areas``).
    need_path
        A need table; ``None`` for the bundled ONS figures per district.
    selection
        Which services to count (see ``servicemap.directory.select``); default every one.
    districts
        Also compute ``coverage.coverage_by_district`` and load the district polygons (for the
        profiles' district tables and the map's district layer).
    settings
        Settings (CRS, cache folder).
    keep
        Reuse the results kept in the cache folder (:mod:`servicemap.analysis.kept`): the
        services are then the public frame (confidential places withheld, each public point a
        geometry), and coverage is read back unless an input changed; every figure is the same.
    search
        Start building a report search's postcode index beside the rest once the postcode
        table is loaded (``postcode_index.start_postcode_index``): a first report's work.

    Returns
    -------
    ReportInputs
        Force areas, coverage and services, and where they came from.
    """
    status("Loading the services directory…")
    loaded = (
        with_geometry(load_public_services(services_path, settings=settings), settings=settings)
        if keep
        else load_services(services_path, settings=settings)
    )
    services, summary = select_services(loaded, selection or Selection())
    if search:  # a first report builds it while coverage is scored
        start_postcode_index(settings=settings)
    status("Loading police force area boundaries…")
    force_areas = load_force_areas(boundaries_source, settings=settings)
    status("Scoring coverage…")
    if keep:
        coverage = kept_coverage(services, need_path=need_path, settings=settings)
        by_district = (
            kept_coverage(services, level="district", need_path=need_path, settings=settings)
            if districts
            else None
        )
    else:
        need = load_need(need_path, level="district")
        coverage = coverage_by_force(services, need=need, settings=settings)
        by_district = (
            coverage_by_district(services, need=need, settings=settings) if districts else None
        )
    return ReportInputs(
        force_areas=force_areas,
        coverage=coverage,
        services=services,
        boundary_source=BOUNDARY_SOURCES.get(boundaries_source, f"the file {boundaries_source}"),
        services_source=(
            "the directory bundled with servicemap"
            if services_path is None
            else f"the file {Path(services_path).name}"
        ),
        selection=summary,
        districts=by_district,
        district_areas=load_district_areas(settings=settings) if districts else None,
    )


def force_profiles(
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    *,
    codes: Sequence[str],
    progress: Callable[[Sequence[str]], Iterable[str]] | None = None,
    districts: pd.DataFrame | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> dict[str, ForceProfile]:
    """Return the profile of each force, as a report shows them (the postcode table loaded once).

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    coverage
        ``coverage.coverage_by_force`` for the same services.
    codes
        The force codes to profile, in order.
    progress
        Wraps the list of force codes while profiles are built (e.g. a progress bar).
    districts
        ``coverage.coverage_by_district`` for the same services, for each profile's table of
        districts; ``None`` for none.
    settings
        Settings (CRS, postcode table cache).

    Returns
    -------
    dict of str to ForceProfile
        The profiles by force code.
    """
    # Looked up on their modules when called, so that tests can replace them.
    table = postcodes_module.load_postcode_table(settings=settings)
    # Prepared once for every force: placing and matching the services is national work.
    prepared = prepare_services(services, geography_from_postcodes(table))
    wanted = list(codes)

    def profiles_of(part: Sequence[str]) -> dict[str, ForceProfile]:
        return {
            code: profile_module.force_profile(
                code,
                services,
                coverage,
                postcodes=table,
                districts=districts,
                prepared=prepared,
                settings=settings,
            )  # fmt: skip
            for code in part
        }

    # the second half on another core, while this one makes the first (one core: in turn)
    distinct = list(dict.fromkeys(wanted))
    later = distinct[(len(distinct) + 1) // 2 :]
    in_copy = set(later)
    made: dict[str, ForceProfile] = {}
    shown: list[str] = []  # the codes the progress wrapper gave, in its order
    with beside(profiles_of, later) if later else contextlib.nullcontext(None) as other:
        for code in progress(wanted) if progress is not None else wanted:
            if code in made:
                pass
            elif other is not None and code in in_copy:
                made.update(other.result())
            else:
                made.update(profiles_of([code]))
            shown.append(code)
    return {code: made[code] for code in shown}


def profile_maker(
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    *,
    districts: pd.DataFrame | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> Callable[[str], ForceProfile]:
    """Return a function giving one force's profile, every profile made (or read back) once.

    Parameters
    ----------
    services
        The services frame. Not modified.
    coverage
        ``coverage.coverage_by_force`` for the same services.
    districts
        ``coverage.coverage_by_district`` for the same services; ``None`` for none.
    settings
        Settings (CRS, cache folder): the profiles are kept between runs
        (:func:`servicemap.analysis.kept.kept_profiles`).

    Returns
    -------
    callable
        Force code -> :class:`servicemap.analysis.profile.ForceProfile`, as
        :func:`servicemap.analysis.profile.force_profile` gives it.
    """
    made: dict[str, ForceProfile] = {}

    def every_profile() -> dict[str, ForceProfile]:
        codes = [str(code) for code in coverage["force_code"]]
        return force_profiles(
            services, coverage, codes=codes, districts=districts, settings=settings
        )

    def profile(code: str) -> ForceProfile:
        if not made:
            made.update(
                kept_profiles(
                    services,
                    coverage,
                    districts=districts,
                    settings=settings,
                    build=every_profile,
                )  # fmt: skip
            )
        if code not in made:
            made[code] = profile_module.force_profile(
                code, services, coverage, districts=districts, settings=settings
            )
        return made[code]

    return profile
