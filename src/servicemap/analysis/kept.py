"""Results kept between runs in the cache folder: the commands' services frame and coverage.

A command such as ``servicemap near`` or ``servicemap force`` answers one question about one
place, but the answer rests on national work: reading and checking the whole directory, and
scoring every force (for a rank) and every district. That work depends only on its inputs, so
it is kept in the cache folder and reused while they are unchanged. Each entry's key holds
everything it depends on: a digest of the input files (the directory, the need table), the
options, the day (the directory's age warnings depend on it), the postcode table, and
servicemap's own code and bundled data (:func:`servicemap._cache.source_fingerprint`). A
damaged entry is rebuilt with a notice. Results are the same with and without a kept copy.

**Confidential places never reach the cache folder.** What is kept of the directory is
:func:`servicemap.directory.privacy.public_services` of it (a confidential service's address,
postcode and coordinates withheld) with the district-level facts the measures need
(:func:`servicemap.analysis.reach.with_location_hints`); coverage tables are figures per area.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from servicemap._cache import cache_key, file_digest, kept_result
from servicemap.analysis.coverage import LEVELS, coverage_by_area
from servicemap.analysis.profile import ForceProfile, force_profile
from servicemap.analysis.reach import prepare_services, with_location_hints
from servicemap.directory import load as directory_load
from servicemap.directory.load import bundled_services_path
from servicemap.directory.privacy import public_services
from servicemap.geography.need import load_need
from servicemap.geography.postcodes import (
    geography_from_postcodes,
    load_postcode_table,
    postcode_cache_path,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:  # the planner is loaded by the plan command, not by near or force
    from servicemap.analysis.plan import Proposal

__all__ = [
    "frame_digest",
    "kept_coverage",
    "kept_need",
    "kept_profiles",
    "kept_proposal",
    "load_public_services",
]

_REBUILD = "from its inputs (a few seconds)"


def frame_digest(frame: pd.DataFrame) -> str:
    """Return a digest of a frame's columns, types, index and values (for a kept result's key).

    Parameters
    ----------
    frame
        Any frame; object columns are digested through the ``repr`` of their values (text,
        tuples of codes, flags).

    Returns
    -------
    str
        A hex digest; equal frames give equal digests.
    """
    digest = hashlib.sha256()
    digest.update(repr((list(frame.columns), list(frame.index), frame.shape)).encode())
    for column in frame.columns:
        values = frame[column]
        digest.update(f"\0{column}\0{values.dtype}\0".encode())
        if values.dtype.kind in "biufcmM":
            digest.update(np.ascontiguousarray(values.to_numpy()).tobytes())
        else:
            text = "\x1f".join(map(repr, values.tolist()))
            digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _input_digest(path: Path | None) -> tuple[str, str]:
    """Return what identifies an input file: its name and the digest of its bytes."""
    if path is None:
        return ("bundled", "")  # the bundled data is in the source fingerprint
    return (str(path), file_digest(Path(path)))


def load_public_services(
    path: Path | str | None = None,
    *,
    settings: Settings = DEFAULT_SETTINGS,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Return the services directory as the commands use it, kept between runs.

    This is :func:`servicemap.directory.load.load_services` passed through
    :func:`servicemap.directory.privacy.public_services` (confidential services keep no
    address, postcode or coordinates), without the geometry column, and with
    :data:`servicemap.analysis.reach.HINT_COLUMNS`, so that coverage, profiles and ``near``
    searches give exactly what they give on the full frame. The file's data-quality warnings
    are raised again on every call, as the first load raised them.

    Parameters
    ----------
    path
        The directory file; ``None`` for the bundled directory.
    settings
        ``settings.cache_dir`` keeps the frame and holds the postcode table; ``settings.crs``.
    today
        The date ``last_seen`` is compared with; default today.

    Returns
    -------
    pandas.DataFrame
        The public services frame with its hint columns.

    Raises
    ------
    ServicesFileError
        As :func:`servicemap.directory.load.load_services` (nothing is kept then).
    """
    target = bundled_services_path() if path is None else Path(path)
    day = today or dt.date.today()

    def build() -> pd.DataFrame:
        # looked up on its module when called, so that tests can replace it
        services = directory_load.load_services(target, settings=settings, today=day)
        geography = geography_from_postcodes(load_postcode_table(settings=settings))
        public = public_services(with_location_hints(services, geography))
        return pd.DataFrame(public.drop(columns=public.geometry.name))

    try:
        digest = file_digest(target)
    except OSError:
        return build()  # load_services says what is wrong with the file
    key = cache_key(
        "services", str(target), digest, day.isoformat(), settings.crs,
        postcode_cache_path(settings).name,
    )  # fmt: skip
    return kept_result(
        settings.cache_dir, "services", key, build, what="services directory", rebuild=_REBUILD
    )


def kept_coverage(
    services: pd.DataFrame,
    *,
    level: str = "force",
    need_path: Path | None = None,
    radii_km: Sequence[float] = (10, 25),
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Return :func:`servicemap.analysis.coverage.coverage_by_area`, kept between runs.

    Parameters
    ----------
    services
        The services frame (e.g. from :func:`load_public_services`). Not modified. Its
        contents are part of the key (:func:`frame_digest`), so a selection (``--focus``)
        is kept apart.
    level
        One of :data:`servicemap.analysis.coverage.LEVELS`.
    need_path
        The need table file (see :func:`servicemap.geography.need.load_need`); ``None`` for the
        bundled one. Read only when the table is not kept.
    radii_km
        The in-person access radii.
    settings
        Where results are kept and the postcode table is cached.

    Returns
    -------
    pandas.DataFrame
        The coverage table, with its ``attrs``.
    """
    radii = tuple(float(r) for r in radii_km)
    if level not in LEVELS:  # let coverage_by_area say so
        return coverage_by_area(services, level=level, radii_km=radii, settings=settings)

    def build() -> pd.DataFrame:
        need = load_need(need_path, level="district")
        return coverage_by_area(services, level=level, need=need, radii_km=radii, settings=settings)

    try:
        need = _input_digest(need_path)
    except OSError:
        return build()  # load_need says what is wrong with the file
    key = cache_key(
        "coverage", level, radii, need, frame_digest(services), postcode_cache_path(settings).name
    )
    return kept_result(
        settings.cache_dir, "coverage", key, build, what="coverage table", rebuild=_REBUILD
    )


def kept_need(
    need_path: Path | None = None, *, settings: Settings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """Return :func:`servicemap.geography.need.load_need` per district, kept between runs.

    Parameters
    ----------
    need_path
        The need table file; ``None`` for the bundled one.
    settings
        Where results are kept.

    Returns
    -------
    pandas.DataFrame
        The need table (per district, or per force for a force-keyed file), with the warnings
        its reading raised raised again.
    """

    def build() -> pd.DataFrame:
        return load_need(need_path, level="district")

    try:
        need = _input_digest(need_path)
    except OSError:
        return build()  # load_need says what is wrong with the file
    key = cache_key("need", need)
    return kept_result(settings.cache_dir, "need", key, build, what="need table", rebuild=_REBUILD)


def kept_profiles(
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    *,
    districts: pd.DataFrame | None = None,
    settings: Settings = DEFAULT_SETTINGS,
    build: Callable[[], dict[str, ForceProfile]] | None = None,
) -> dict[str, ForceProfile]:
    """Return every force's profile (:func:`servicemap.analysis.profile.force_profile`), kept.

    A profile holds only what a page shows: confidential services' places are blank in it.

    Parameters
    ----------
    services
        The services frame. Not modified.
    coverage
        The coverage table per force of the same services.
    districts
        The coverage table per district, for the profiles' district tables; ``None`` for none.
    settings
        Where results are kept and the postcode table is cached.
    build
        Makes the profiles when they are not kept; default
        :func:`servicemap.analysis.profile.force_profile` for each force, the services
        prepared once.

    Returns
    -------
    dict of str to ForceProfile
        The profiles by force code, in the coverage table's order.
    """

    def every_profile() -> dict[str, ForceProfile]:
        table = load_postcode_table(settings=settings)
        prepared = prepare_services(services, geography_from_postcodes(table))
        return {
            str(code): force_profile(
                str(code),
                services,
                coverage,
                postcodes=table,
                prepared=prepared,
                districts=districts,
                settings=settings,
            )  # fmt: skip
            for code in coverage["force_code"]
        }

    key = cache_key(
        "profiles", frame_digest(services), frame_digest(coverage),
        None if districts is None else frame_digest(districts),
        postcode_cache_path(settings).name,
    )  # fmt: skip
    return kept_result(
        settings.cache_dir,
        "profiles",
        key,
        build or every_profile,
        what="force profiles",
        rebuild=_REBUILD,
    )


def kept_proposal(
    propose: Callable[..., Proposal],
    services: pd.DataFrame,
    *,
    need: pd.DataFrame,
    candidates: pd.DataFrame | None = None,
    before: pd.DataFrame | None = None,
    settings: Settings = DEFAULT_SETTINGS,
    **options: Any,
) -> Proposal:
    """Return :func:`servicemap.analysis.plan.propose_sites`, kept between runs.

    A plan asked again with the same directory, need, candidates and options is read back.

    Parameters
    ----------
    propose
        :func:`servicemap.analysis.plan.propose_sites` (passed in, so that ``near`` and
        ``force``, which read other kept results, need not load the planner).
    services
        The services frame. Not modified.
    need
        The need table.
    candidates
        Extra candidate sites, or ``None``.
    before
        The coverage table of ``services`` (see :func:`servicemap.analysis.plan.what_if`).
    settings
        Where results are kept and the postcode table is cached.
    **options
        The other options of :func:`servicemap.analysis.plan.propose_sites` (``n``,
        ``budget``, ``cost``, ``force_code``, ``kind``, ``radius_km``, ``weight``, ``method``,
        ...).

    Returns
    -------
    Proposal
        The proposal.
    """

    def build() -> Proposal:
        return propose(
            services, need=need, candidates=candidates, before=before, settings=settings,
            **options,
        )  # fmt: skip

    key = cache_key(
        "proposal", frame_digest(services), frame_digest(need),
        None if candidates is None else frame_digest(candidates),
        sorted(options.items()), postcode_cache_path(settings).name,
    )  # fmt: skip
    return kept_result(settings.cache_dir, "proposals", key, build, what="plan", rebuild=_REBUILD)
