"""Check the directory's web links: which answer, which redirect, which fail. Changes nothing.

Each distinct ``website`` and ``source_url`` is fetched once (a GET that reads no body), with
``settings.timeout``, ``settings.retries`` retries with exponential backoff (from
``settings.backoff`` seconds) on timeouts, dropped connections and 429/5xx answers, at most
``concurrency`` at a time, and servicemap's honest User-Agent
(``settings.request_user_agent()``). The result is a report; the directory is never edited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import requests

from servicemap._http import new_session
from servicemap.directory.privacy import public_frame
from servicemap.directory.schema import cell_text
from servicemap.settings import DEFAULT_SETTINGS, Settings

#: What can happen to a link.
OUTCOMES: tuple[str, ...] = ("answered", "redirected", "failed")

#: The report's columns.
REPORT_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "field",
    "url",
    "outcome",
    "status",
    "final_url",
    "detail",
    "attempts",
)

LINK_FIELDS: tuple[str, ...] = ("website", "source_url")

# Statuses worth retrying: the server is busy or briefly broken, not refusing for good.
_RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class LinkCheck:
    """What one URL did: outcome, HTTP status (0 if none), where it ended, why, attempts."""

    url: str
    outcome: str
    status: int
    final_url: str
    detail: str
    attempts: int


def link_url(value: object) -> str:
    """Return a link as it is fetched: ``example.org`` becomes ``https://example.org``."""
    text = cell_text(value)
    if not text:
        return ""
    return text if "://" in text else f"https://{text}"


def link_targets(services: pd.DataFrame) -> pd.DataFrame:
    """Return one row per service link: ``id``, ``name``, ``field``, ``url``.

    Parameters
    ----------
    services
        The canonical services frame (its public copy is read: links are public fields).

    Returns
    -------
    pandas.DataFrame
        The links, in directory order, website before source.
    """
    public = public_frame(services)
    rows = [
        {"id": cell_text(s["id"]), "name": cell_text(s["name"]), "field": f, "url": link_url(s[f])}
        for s in public.to_dict(orient="records")
        for f in LINK_FIELDS
        if link_url(s[f])
    ]
    return pd.DataFrame(rows, columns=["id", "name", "field", "url"])


def _failure(exc: requests.RequestException, settings: Settings) -> tuple[str, bool]:
    """Return why a request failed and whether it is worth retrying."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {settings.timeout:g} s", True
    if isinstance(exc, requests.TooManyRedirects):
        return "too many redirects", False
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped", True
    return f"not a usable link ({type(exc).__name__})", False


def check_url(url: str, *, session: requests.Session, settings: Settings) -> LinkCheck:
    """Fetch one URL (following redirects, reading no body) and say what happened.

    Parameters
    ----------
    url
        An http(s) URL.
    session
        The session to use (it carries the User-Agent).
    settings
        ``timeout``, ``retries`` and ``backoff``.

    Returns
    -------
    LinkCheck
        ``answered`` (2xx/3xx without a redirect), ``redirected`` (answered after one or more
        redirects; ``final_url`` says where) or ``failed`` (4xx/5xx, timeout, dropped or
        refused connection, bad URL), with the number of attempts.
    """
    detail, status, attempt = "", 0, 0
    for attempt in range(1, settings.retries + 2):
        retry = False
        try:
            response = session.get(url, timeout=settings.timeout, allow_redirects=True, stream=True)
        except requests.RequestException as exc:
            detail, retry = _failure(exc, settings)
            status = 0
        else:
            response.close()
            status = response.status_code
            if status < 400:
                outcome = "redirected" if response.history else "answered"
                final = response.url if response.history else url
                detail = f"HTTP {status}" + (f" after {len(response.history)} redirect(s)"
                                             if response.history else "")  # fmt: skip
                return LinkCheck(url, outcome, status, final, detail, attempt)
            detail, retry = f"HTTP {status}", status in _RETRY_STATUSES
        if not retry or attempt > settings.retries:
            break
        time.sleep(settings.backoff * 2 ** (attempt - 1))
    return LinkCheck(url, "failed", status, "", detail, attempt)


def check_links(
    services: pd.DataFrame,
    *,
    concurrency: int = 8,
    settings: Settings = DEFAULT_SETTINGS,
    progress: Callable[[Iterable[LinkCheck], int], Iterator[LinkCheck]] | None = None,
) -> pd.DataFrame:
    """Check every website and source link of the directory.

    Parameters
    ----------
    services
        The canonical services frame. Not modified, and never written.
    concurrency
        The most requests in flight at once (at least 1).
    settings
        Timeout, retries, backoff and User-Agent.
    progress
        Wraps the results as they arrive, with the number of URLs (e.g. a progress bar).

    Returns
    -------
    pandas.DataFrame
        :data:`REPORT_COLUMNS`, one row per service link, in directory order.

    Raises
    ------
    ValueError
        ``concurrency`` is below 1.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}.")
    targets = link_targets(services)
    urls = list(dict.fromkeys(targets["url"]))
    local = threading.local()
    sessions: list[requests.Session] = []

    def check(url: str) -> LinkCheck:
        if not hasattr(local, "session"):
            local.session = new_session(settings)  # servicemap's User-Agent
            local.session.headers["Accept"] = "text/html,*/*;q=0.8"
            sessions.append(local.session)
        return check_url(url, session=local.session, settings=settings)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results: Iterable[LinkCheck] = pool.map(check, urls)
        if progress is not None:
            results = progress(results, len(urls))
        found = {result.url: result for result in results}
    for session in sessions:
        session.close()
    rows = [
        {**target, **{k: getattr(found[target["url"]], k) for k in REPORT_COLUMNS[4:]}}
        for target in targets.to_dict(orient="records")
    ]
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
