"""The one place servicemap talks to the network: timeouts, retries with backoff, clear errors."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from servicemap.errors import DownloadError
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:  # requests is imported when a request is made: commands that work offline
    import requests  # (nearly all of them) start about 0.1 s sooner without it

# Statuses worth retrying: the server is busy or briefly broken, not refusing us for good.
_RETRY_STATUSES = {429, 500, 502, 503, 504}


def _session(settings: Settings) -> requests.Session:
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = settings.request_user_agent()
    session.headers["Accept"] = "application/json"
    return session


def request_json(
    method: str,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    body: Any = None,
    settings: Settings = DEFAULT_SETTINGS,
    session: requests.Session | None = None,
    what: str = "the server",
) -> Any:
    """Send one request and return its decoded JSON, retrying passing faults.

    Retries (``settings.retries`` times, sleeping ``settings.backoff`` seconds, doubled each time)
    on timeouts, dropped connections, 429/5xx answers and truncated or invalid JSON.

    Parameters
    ----------
    method
        ``"GET"`` or ``"POST"``.
    url
        The full URL.
    params
        Query-string parameters.
    body
        A JSON-serialisable request body (POST).
    settings
        Timeout, retries, backoff and user-agent.
    session
        A session to reuse across paged requests; a new one is made if omitted.
    what
        How to name the service in error messages (e.g. "the ONS Open Geography Portal").

    Returns
    -------
    Any
        The decoded JSON document.

    Raises
    ------
    DownloadError
        When every attempt failed, or the server refused the request (4xx other than 429).
    """
    import requests

    own = session or _session(settings)
    last = "no attempt was made"
    for attempt in range(settings.retries + 1):
        if attempt:
            time.sleep(settings.backoff * 2 ** (attempt - 1))
        try:
            response = own.request(method, url, params=params, json=body, timeout=settings.timeout)
        except requests.Timeout:
            last = f"no answer within {settings.timeout:g} s"
            continue
        except requests.ConnectionError as exc:
            last = f"connection failed ({type(exc).__name__})"
            continue
        if response.status_code in _RETRY_STATUSES:
            last = f"HTTP {response.status_code}"
            continue
        if response.status_code >= 400:
            raise DownloadError(
                f"{what} refused the request {response.url!r}: HTTP {response.status_code}. "
                "Check the URL or vintage you asked for."
            )
        try:
            return response.json()
        except (json.JSONDecodeError, ValueError, requests.exceptions.ContentDecodingError):
            last = "the answer was not valid JSON (truncated?)"
            continue
        except requests.exceptions.ChunkedEncodingError:
            last = "the connection dropped mid-answer"
            continue
    raise DownloadError(
        f"Could not get data from {what} at {url!r} after {settings.retries + 1} attempts: "
        f"{last}. Check your internet connection (or proxy) and try again later; "
        "offline, servicemap keeps working from its bundled data."
    )


def get_json(url: str, **kwargs: Any) -> Any:
    """GET ``url`` and return its JSON; see :func:`request_json` for the options."""
    return request_json("GET", url, **kwargs)


def post_json(url: str, body: Any, **kwargs: Any) -> Any:
    """POST ``body`` as JSON to ``url`` and return the JSON answer; see :func:`request_json`."""
    return request_json("POST", url, body=body, **kwargs)


def new_session(settings: Settings = DEFAULT_SETTINGS) -> requests.Session:
    """Return a session with servicemap's headers, for paged downloads."""
    return _session(settings)
