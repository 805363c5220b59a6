"""Shared by the browser tests: Debian's Chromium with no network, and what a page did.

Debian's chromium (``apt-get install -y chromium``), driven by Playwright's Python package; never
``playwright install``. A test routes every request through :func:`block_network`: whatever is
not ``file:``/``data:``/``about:``/``blob:`` is recorded in a :class:`Watch` and aborted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("SERVICEMAP_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL = ("file:", "data:", "about:", "blob:")


def chromium() -> Iterator[Any]:
    """Yield a launched Chromium (for a module-scoped fixture), or fail saying how to get one."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install Debian's package with "
            "'apt-get update && apt-get install -y chromium' (or set SERVICEMAP_CHROMIUM to a "
            "Chromium binary). The browser test never downloads a browser."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The playwright package is missing: pip install -e '.[test]'.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """What a page did that it must not: network requests, errors, dialogs."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self, page: Any) -> None:
        assert self.requests == [], f"network requests attempted: {self.requests}"
        assert self.errors == [], f"JavaScript errors: {self.errors}"
        assert self.dialogs == [], f"dialogs opened (script ran): {self.dialogs}"
        assert page.evaluate("window.pwned") is None


def block_network(context: Any, watch: Watch) -> None:
    """Abort every request of ``context`` that would leave the machine, recording it."""

    def route(route: Any) -> None:
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            watch.requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    context.on(
        "request",
        lambda request: (
            None if request.url.startswith(LOCAL) else watch.requests.append(request.url)
        ),
    )


def watch_page(page: Any, watch: Watch) -> None:
    """Record a page's JavaScript errors and dialogs (dismissed) in ``watch``."""
    page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.errors.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)


def offline_context(browser: Any, **options: Any) -> tuple[Any, Watch]:
    """Return a new browser context (``options`` as Playwright takes them) whose every request
    that would leave the machine is aborted, and the :class:`Watch` that records them."""
    context = browser.new_context(**options)
    watch = Watch()
    block_network(context, watch)
    return context, watch


def open_watched(context: Any, url: str, watch: Watch) -> Any:
    """Open ``url`` in a new page of ``context``, its errors and dialogs recorded in ``watch``,
    and return the page once it has loaded."""
    page = context.new_page()
    watch_page(page, watch)
    page.goto(url)  # waits for the load event
    return page


def wait_until_still(page: Any) -> None:
    """Wait for zoom and cluster animations to finish (markers fade in and out meanwhile)."""
    page.wait_for_function(
        "!servicemap.map._animatingZoom && !servicemap.cluster._inZoomAnimation", timeout=10_000
    )
    page.wait_for_timeout(500)


def visible_markers(page: Any) -> int:
    """Markers a person sees: numbers in cluster bubbles plus single service dots."""
    wait_until_still(page)
    counts = page.eval_on_selector_all(
        ".marker-cluster span", "spans => spans.map(s => parseInt(s.textContent, 10))"
    )
    dots = page.eval_on_selector_all(
        "path.sm-service", "paths => paths.filter(p => getComputedStyle(p).opacity > 0).length"
    )
    return sum(counts) + int(dots)
