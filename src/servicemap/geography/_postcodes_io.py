"""The postcodes.io client: bulk postcode lookups in batches of 100, with a file cache."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap._atomic import atomic_write_text
from servicemap._cache import writing_cache
from servicemap._http import new_session, post_json
from servicemap._progress import progress
from servicemap.errors import DownloadError
from servicemap.settings import DEFAULT_SETTINGS, Settings

BATCH_SIZE = 100
"""The most postcodes postcodes.io accepts in one bulk request."""

_WHAT = "postcodes.io"
LOOKUP_COLUMNS = ("easting", "northing", "latitude", "longitude", "district_code")


def _cache_path(url: str, body: dict[str, Any], settings: Settings) -> Path:
    request = json.dumps({"url": url, "body": body}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(request.encode()).hexdigest()
    return settings.cache_dir / "postcodes.io" / f"{digest}.json"


def _read_cache(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or damaged: ask the server again


def _results(answer: Any, url: str) -> list[dict[str, Any]]:
    """Check the answer has the documented shape and return its ``result`` list."""
    results = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(results, list) or not all(
        isinstance(item, dict) and "query" in item and isinstance(item.get("result"), dict | None)
        for item in results
    ):
        raise DownloadError(
            f"{_WHAT} at {url!r} sent an answer without the expected 'result' list of "
            "{'query', 'result'} items. Check that settings.postcodes_api_url points at a "
            "postcodes.io server, or geocode offline (without --online)."
        )
    return results


def _batch(url: str, postcodes: list[str], *, settings: Settings, cache: bool, session: Any) -> Any:
    body = {"postcodes": postcodes}
    path = _cache_path(url, body, settings)
    if cache:
        cached = _read_cache(path)
        if cached is not None:
            return cached
    answer = post_json(url, body, settings=settings, session=session, what=_WHAT)
    _results(answer, url)  # never cache an answer we cannot use
    if cache:
        with writing_cache(path.parent):
            atomic_write_text(path, json.dumps(answer))
    return answer


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return np.nan
    return float(value)


def lookup_postcodes(
    postcodes: Sequence[str], *, settings: Settings = DEFAULT_SETTINGS, cache: bool = True
) -> pd.DataFrame:
    """Look postcodes up on postcodes.io (``POST /postcodes``, 100 per request).

    Usable as the ``lookup`` of :func:`servicemap.geography.geocode.geocode_postcodes`.

    Parameters
    ----------
    postcodes
        Postcodes in standard form (``"SW1A 1AA"``); duplicates are asked for once.
    settings
        ``postcodes_api_url``, timeout, retries, user-agent, and ``cache_dir`` for the cache.
    cache
        Keep each answer in ``settings.cache_dir / "postcodes.io"``, named by a hash of the
        request, and reuse it instead of asking again. Postcodes rarely move; delete the folder
        to refresh.

    Returns
    -------
    pandas.DataFrame
        Indexed by postcode as asked; columns ``easting``, ``northing`` (as postcodes.io gives
        them: BNG, or Irish Grid in Northern Ireland), ``latitude``, ``longitude`` (WGS84; NaN
        when postcodes.io knows no location) and ``district_code`` (``codes.admin_district``).
        Postcodes postcodes.io does not know are left out.

    Raises
    ------
    DownloadError
        When postcodes.io cannot be reached after the retries, refuses the request or sends an
        answer of the wrong shape.
    """
    url = settings.postcodes_api_url.rstrip("/") + "/postcodes"
    wanted = list(dict.fromkeys(str(p) for p in postcodes))
    batches = [wanted[i : i + BATCH_SIZE] for i in range(0, len(wanted), BATCH_SIZE)]
    session = new_session(settings)
    rows: dict[str, dict[str, Any]] = {}
    with session:
        for batch in progress(batches, label="Looking up postcodes on postcodes.io"):
            answer = _batch(url, batch, settings=settings, cache=cache, session=session)
            for item in _results(answer, url):
                place = item["result"]
                if place is None or str(item["query"]) not in batch:
                    continue  # unknown postcode, or not one we asked about
                codes = place.get("codes") if isinstance(place.get("codes"), dict) else {}
                district = codes.get("admin_district")
                rows[str(item["query"])] = {
                    "easting": _number(place.get("eastings")),
                    "northing": _number(place.get("northings")),
                    "latitude": _number(place.get("latitude")),
                    "longitude": _number(place.get("longitude")),
                    "district_code": district if isinstance(district, str) else "",
                }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(LOOKUP_COLUMNS))
    return frame.rename_axis("postcode")
