"""Census 2021 country of birth (TS004) per local authority district from the Nomis API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from servicemap._http import get_json, new_session
from servicemap._progress import progress
from servicemap.errors import DownloadError
from servicemap.settings import DEFAULT_SETTINGS, Settings

DATASET = "NM_2024_1"
"""Nomis dataset id of Census 2021 TS004 Country of birth."""
GEOGRAPHY = "TYPE154"
"""Nomis geography type of the census's local authority districts (2021/2022 codes)."""
_CATEGORY = "c2021_cob_12"
_TOTAL = 0  # "Total: All usual residents"
_BORN_IN_UK = 1  # "Europe: United Kingdom"
_MEASURE_COUNT = "20100"  # measures=20100 is the count ("Value"); 20301 would be the percentage
_PAGE_SIZE = 25_000  # Nomis's most rows per answer without an API key
_MAX_PAGES = 40
_WHAT = "the Nomis API"


def _pages(url: str, params: dict[str, str], *, settings: Settings) -> Iterator[list[Any]]:
    session = new_session(settings)
    offset = 0
    for _ in range(_MAX_PAGES):
        page = get_json(
            url,
            params={**params, "recordoffset": str(offset), "recordlimit": str(_PAGE_SIZE)},
            settings=settings,
            session=session,
            what=_WHAT,
        )
        if isinstance(page, dict) and "error" in page and "obs" not in page:
            raise DownloadError(f"{_WHAT} answered with an error: {page['error']!s}.")
        if not isinstance(page, dict) or not isinstance(page.get("obs"), list):
            raise DownloadError(f"{_WHAT} sent an answer without an 'obs' list (offset {offset}).")
        observations: list[Any] = page["obs"]
        yield observations
        if not observations:
            return
        offset += len(observations)
        total = observations[0].get("record_count") if isinstance(observations[0], dict) else None
        if isinstance(total, int) and not isinstance(total, bool):
            if offset >= total:
                return
        elif len(observations) < _PAGE_SIZE:
            return
    raise DownloadError(f"{_WHAT} kept sending pages past {_MAX_PAGES}; the query is not paging.")


def _observation(item: Any) -> tuple[str, str, int, int]:
    """Return (district code, name, category, count) of one Nomis observation."""
    try:
        geography = item["geography"]
        code = str(geography["geogcode"]).strip().upper()
        name = str(geography.get("description", ""))
        category = int(item[_CATEGORY]["value"])
        value = item["obs_value"]["value"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DownloadError(
            f"{_WHAT} sent an observation in an unexpected shape ({exc!r} in {str(item)[:120]})."
        ) from exc
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise DownloadError(f"{_WHAT} sent {value!r} for {code}, not a count of people.")
    if value < 0:
        raise DownloadError(f"{_WHAT} sent a negative count ({value!r}) for {code}.")
    return code, name, category, int(value)


def fetch_country_of_birth(
    *, url: str | None = None, geography: str = GEOGRAPHY, settings: Settings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """Download Census 2021 usual residents and residents born outside the UK per district.

    Queries ``<nomis>/dataset/NM_2024_1.data.json`` for categories 0 (all usual residents) and
    1 (born in the UK) of ``c2021_cob_12``, counts only (``measures=20100``), paging with
    ``recordoffset`` until every record came.

    Parameters
    ----------
    url
        Base URL of the Nomis API, instead of ``settings.nomis_url``.
    geography
        Nomis geography selection; the default is every local authority district.
    settings
        Nomis URL, timeout, retries and backoff.

    Returns
    -------
    pandas.DataFrame
        One row per district: ``district_code``, ``district_name``, ``usual_residents_2021`` and
        ``born_outside_uk_2021`` (int64), in the order Nomis sent them.

    Raises
    ------
    DownloadError
        If Nomis could not be reached or sent something other than both counts per district.
    """
    base = (url or settings.nomis_url).strip().rstrip("/")
    endpoint = f"{base}/dataset/{DATASET}.data.json"
    params = {
        "date": "latest",
        "geography": geography,
        _CATEGORY: f"{_TOTAL},{_BORN_IN_UK}",
        "measures": _MEASURE_COUNT,
    }
    counts: dict[str, dict[int, int]] = {}
    names: dict[str, str] = {}
    for observations in progress(
        _pages(endpoint, params, settings=settings), label="Downloading Census 2021 TS004"
    ):
        for item in observations:
            code, name, category, value = _observation(item)
            if category not in (_TOTAL, _BORN_IN_UK):
                continue
            known = counts.setdefault(code, {})
            if known.get(category, value) != value:
                raise DownloadError(f"{_WHAT} sent two different counts for {code}.")
            known[category] = value
            names[code] = name
    if not counts:
        raise DownloadError(f"{_WHAT} sent no figures for {DATASET} ({geography}).")
    incomplete = sorted(code for code, known in counts.items() if len(known) < 2)
    if incomplete:
        raise DownloadError(
            f"{_WHAT} sent only one of the two counts for {', '.join(incomplete[:8])}."
        )
    short = sorted(c for c, known in counts.items() if known[_BORN_IN_UK] > known[_TOTAL])
    if short:
        raise DownloadError(
            f"{_WHAT} sent more people born in the UK than residents for {', '.join(short[:8])}."
        )
    return pd.DataFrame(
        {
            "district_code": list(counts),
            "district_name": [names[c] for c in counts],
            "usual_residents_2021": [counts[c][_TOTAL] for c in counts],
            "born_outside_uk_2021": [counts[c][_TOTAL] - counts[c][_BORN_IN_UK] for c in counts],
        }
    ).astype({"usual_residents_2021": "int64", "born_outside_uk_2021": "int64"})
