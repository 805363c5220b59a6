"""Download the official police force area boundaries from the ONS Open Geography Portal."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import requests
import shapely

from servicemap._atomic import atomic_write_text
from servicemap._cache import usable_cache_folder, writing_cache
from servicemap._http import get_json, new_session
from servicemap._progress import progress
from servicemap.errors import BoundaryFileError, DownloadError
from servicemap.geography.forces import FORCE_COUNT, load_forces
from servicemap.settings import DEFAULT_SETTINGS, Settings

_WHAT = "the ONS Open Geography Portal"
# ArcGIS services cap a page at their maxRecordCount (ONS: 2000 at most); asking for more is safe.
_PAGE_SIZE = 2000
# A layer of 43 forces never needs more pages than this; more means the server ignores offsets.
_MAX_PAGES = 50
# ArcGIS often answers HTTP 200 with {"error": {"code": 500, ...}} when it is briefly overloaded.
_RETRY_ERROR_CODES = {429, 500, 502, 503, 504}
_SERVICE = re.compile(r"PFA_DEC_\d{4}_EW_BUC", re.IGNORECASE)
_CODE_FIELD = re.compile(r"^PFA\d\dCD$", re.IGNORECASE)
_NAME_FIELD = re.compile(r"^PFA\d\dNM$", re.IGNORECASE)
# England and Wales in lon/lat with a margin; coordinates outside mean the CRS is not EPSG:4326.
_LONLAT_BOX = (-8.0, 49.0, 3.0, 57.0)


def _check_vintage(vintage: str) -> str:
    text = str(vintage).strip()
    if not re.fullmatch(r"20\d\d", text):
        raise BoundaryFileError(
            f"Boundary vintage {vintage!r} is not a year; pass the December edition's year, "
            "e.g. --vintage 2023 (ONS publishes PFA_DEC_<year>_EW_BUC)."
        )
    return text


def official_boundaries_path(
    *, vintage: str = "2023", settings: Settings = DEFAULT_SETTINGS
) -> Path:
    """Return where the downloaded official force boundaries are kept.

    The file is GeoJSON in EPSG:4326 (lon/lat), one feature per police force area sorted by code,
    with properties ``code`` and ``name`` (ONS code and name) plus the ONS columns as published
    (e.g. ``PFA23CD``, ``PFA23NM``). It exists only after :func:`download_force_areas` succeeded.

    Parameters
    ----------
    vintage
        Year of the December edition, e.g. ``"2023"``.
    settings
        ``settings.cache_dir`` is the folder the file lives in (under ``boundaries/``).

    Returns
    -------
    Path
        ``<cache_dir>/boundaries/pfa_dec<vintage>_ew_buc.geojson`` (not checked for existence).
    """
    year = _check_vintage(vintage)
    return settings.cache_dir / "boundaries" / f"pfa_dec{year}_ew_buc.geojson"


def layer_url(*, vintage: str = "2023", settings: Settings = DEFAULT_SETTINGS) -> str:
    """Return the FeatureServer layer URL of one December edition of the force boundaries.

    Parameters
    ----------
    vintage
        Year of the December edition; the service name in ``settings.boundaries_url`` is changed
        to ``PFA_DEC_<vintage>_EW_BUC``.
    settings
        ``settings.boundaries_url`` is the 2023 layer URL.

    Returns
    -------
    str
        The layer URL (ending in ``/FeatureServer/0``).
    """
    year = _check_vintage(vintage)
    base = settings.boundaries_url.rstrip("/")
    if not _SERVICE.search(base):
        if year == "2023":
            return base
        raise BoundaryFileError(
            f"Cannot work out the {year} layer from the boundaries URL {base!r}; "
            "pass that edition's FeatureServer layer URL with --url."
        )
    return _SERVICE.sub(f"PFA_DEC_{year}_EW_BUC", base)


def _query_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if url.lower().endswith("/query") else url + "/query"


def _exceeded(page: dict[str, Any]) -> bool:
    # ArcGIS puts the flag at the top level for f=json and under "properties" for f=geojson.
    properties = page.get("properties")
    nested = properties.get("exceededTransferLimit") if isinstance(properties, dict) else None
    return bool(page.get("exceededTransferLimit") or nested)


def _fetch_page(
    url: str, params: dict[str, Any], *, settings: Settings, session: requests.Session
) -> dict[str, Any]:
    for attempt in range(settings.retries + 1):
        page = get_json(url, params=params, settings=settings, session=session, what=_WHAT)
        if not isinstance(page, dict):
            raise DownloadError(f"{_WHAT} sent {type(page).__name__} instead of a GeoJSON page.")
        error = page.get("error")
        if not isinstance(error, dict):
            return page
        code = error.get("code")
        if code not in _RETRY_ERROR_CODES or attempt == settings.retries:
            raise DownloadError(
                f"{_WHAT} answered with an error: {error.get('message') or 'no message'!s} "
                f"(code {code!r})."
            )
        time.sleep(settings.backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _pages(url: str, *, settings: Settings) -> Iterator[list[dict[str, Any]]]:
    session = new_session(settings)
    offset = 0
    for _ in range(_MAX_PAGES):
        params = {
            "where": "1=1",
            "outFields": "*",
            "outSR": "4326",
            "returnGeometry": "true",
            "f": "geojson",
            "resultOffset": str(offset),
            "resultRecordCount": str(_PAGE_SIZE),
        }
        page = _fetch_page(url, params, settings=settings, session=session)
        features = page.get("features")
        if not isinstance(features, list):
            raise DownloadError(f"{_WHAT} sent a page with no 'features' list (offset {offset}).")
        yield features
        if not _exceeded(page):
            return
        if not features:
            raise DownloadError(f"{_WHAT} said more features follow offset {offset} but sent none.")
        offset += len(features)
    raise DownloadError(f"{_WHAT} kept sending pages past {_MAX_PAGES}; the layer is not paging.")


def _field(columns: list[str], pattern: re.Pattern[str], what: str, example: str) -> str:
    found = [c for c in columns if pattern.match(c)]
    if not found:
        raise DownloadError(
            f"The downloaded boundaries have no {what} column like {example!r} "
            f"(found: {', '.join(columns) or 'none'}); this is not a police force area layer."
        )
    return found[0]


def _polygonal(geometry: Any) -> Any:
    if geometry is None or geometry.is_empty:
        return None
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        g for g in getattr(geometry, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    return shapely.unary_union(parts) if parts else None


def force_areas_from_features(features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Validate downloaded GeoJSON features and return them as one clean force-area frame.

    Parameters
    ----------
    features
        GeoJSON features in EPSG:4326 with ``PFAyyCD``/``PFAyyNM`` properties.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``code``, ``name``, the ONS code and name columns and ``geometry`` (valid
        polygons, EPSG:4326), sorted by code; exactly the 43 forces of the register.

    Raises
    ------
    DownloadError
        If the features are not exactly the 43 police force areas with usable polygons.
    """
    if len(features) != FORCE_COUNT:
        raise DownloadError(
            f"The downloaded boundaries have {len(features)} features; expected {FORCE_COUNT} "
            "(one per police force area). The service may have changed or sent a partial answer."
        )
    try:
        areas = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    except Exception as exc:  # malformed GeoJSON can fail in many ways inside shapely/geopandas
        raise DownloadError(f"The downloaded features are not valid GeoJSON ({exc}).") from exc
    columns = [str(c) for c in areas.columns if c != "geometry"]
    code_field = _field(columns, _CODE_FIELD, "code", "PFA23CD")
    name_field = _field(columns, _NAME_FIELD, "name", "PFA23NM")
    codes = areas[code_field].astype(str).str.strip().str.upper()
    duplicated = sorted(set(codes[codes.duplicated()]))
    if duplicated:
        raise DownloadError(f"The downloaded boundaries repeat the codes {', '.join(duplicated)}.")
    register = set(load_forces()["code"])
    unknown = sorted(set(codes) - register)
    if unknown:
        raise DownloadError(
            f"The downloaded boundaries have codes that are not police force areas: "
            f"{', '.join(repr(c) for c in unknown)} in column {code_field!r}."
        )
    geometry = areas.geometry.apply(_polygonal)
    empty = sorted(codes[geometry.isna()])
    if empty:
        raise DownloadError(
            f"The downloaded boundaries have no usable polygon for {', '.join(empty)}."
        )
    clean = gpd.GeoDataFrame(
        {
            "force_code": codes,
            "force_name": areas[name_field].astype(str).str.strip(),
            code_field: codes,
            name_field: areas[name_field].astype(str).str.strip(),
        },
        geometry=gpd.GeoSeries(list(geometry), crs="EPSG:4326"),
    )
    minx, miny, maxx, maxy = clean.total_bounds
    x0, y0, x1, y1 = _LONLAT_BOX
    if not (minx >= x0 and miny >= y0 and maxx <= x1 and maxy <= y1):
        raise DownloadError(
            f"The downloaded boundaries are not in lon/lat (bounds {minx:.0f}, {miny:.0f}, "
            f"{maxx:.0f}, {maxy:.0f}); the server ignored outSR=4326."
        )
    return clean.sort_values("force_code").reset_index(drop=True)


def download_force_areas(
    *, vintage: str = "2023", url: str | None = None, settings: Settings = DEFAULT_SETTINGS
) -> Path:
    """Download the official police force area boundaries and cache them.

    Pages through the ArcGIS REST layer (``f=geojson``, ``outSR=4326``) until the server says no
    more features follow, checks the result is exactly the 43 forces of the register with valid
    polygons, and writes it atomically to :func:`official_boundaries_path`. A failed download
    leaves any earlier file there unchanged.

    Parameters
    ----------
    vintage
        Year of the December edition ("Police Force Areas (December <year>) Boundaries EW BUC").
    url
        A FeatureServer layer URL to use instead of the ONS one (e.g. a mirror); the result is
        still saved as ``vintage``.
    settings
        Layer URL, cache folder, timeout, retries and backoff.

    Returns
    -------
    Path
        The saved GeoJSON file (EPSG:4326).

    Raises
    ------
    DownloadError
        If the server could not be reached, or sent something that is not the 43 force areas.
    CacheError
        If the cache folder cannot be created or written.
    """
    target = official_boundaries_path(vintage=vintage, settings=settings)
    usable_cache_folder(target.parent)  # before the download, so a bad folder fails at once
    source = url.strip() if url else layer_url(vintage=vintage, settings=settings)
    kept = (
        f"The earlier download {str(target)!r} is unchanged."
        if target.exists()
        else "Nothing was saved."
    )
    advice = (
        " Check your internet connection or proxy, or pass another layer URL with --url; "
        f"meanwhile '--boundaries derived' works offline. {kept}"
    )
    try:
        features: list[dict[str, Any]] = []
        for page in progress(
            _pages(_query_url(source), settings=settings),
            label=f"Downloading force boundaries (December {vintage})",
        ):
            features.extend(page)
        areas = force_areas_from_features(features)
    except DownloadError as exc:
        raise DownloadError(f"{exc}{advice}") from exc
    document = json.loads(areas.to_json(drop_id=True))
    document["name"] = f"Police Force Areas (December {vintage}) Boundaries EW BUC"
    document["servicemap"] = {
        "source": source,
        "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "licence": "Source: Office for National Statistics licensed under the Open Government "
        "Licence v.3.0. Contains OS data (c) Crown copyright and database right.",
    }
    with writing_cache(target.parent):
        atomic_write_text(target, json.dumps(document, separators=(",", ":")))
    return target
