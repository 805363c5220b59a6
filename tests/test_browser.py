"""End to end in a real browser: the report and the map open with NO network at all.

Debian's chromium (``apt-get install -y chromium``), driven by Playwright's Python package; never
``playwright install``. Every request that is not ``file:``/``data:``/``about:`` is recorded and
aborted, and each test asserts there were none. The directory holds hostile text
(``<script>alert(1)</script>``, ``" onmouseover="…``, ``<img onerror=…>``) in service names, notes
and a force name: no dialog may open and no injected code may run. Screenshots are saved under
the test's ``tmp_path`` and their paths printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browsing import (
    Watch,
    offline_context,
    open_watched,
    visible_markers,
    wait_until_still,
)
from conftest import _canonical_services
from servicemap.render.report import build_report
from worlds import HOSTILE_NAME, SLUGS, make_coverage, make_forces, make_profiles, make_services

HOSTILE_FORCE = '<img src=x onerror="window.pwned=1">Hostile force'


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    forces = make_forces()
    forces = forces.assign(force_name=[HOSTILE_FORCE, *forces["force_name"][1:]])
    coverage = make_coverage(forces)
    services = make_services(_canonical_services)
    out = tmp_path_factory.mktemp("browser") / "site"
    build_report(forces, coverage, services, out_dir=out, profiles=make_profiles(coverage))
    return out


@pytest.fixture
def offline(browser) -> Iterator[Any]:
    """Return ``open(path) -> (page, watch)``: a page opened with every network request blocked."""
    context, watch = offline_context(browser, viewport={"width": 1280, "height": 900})

    def open_page(path: Path) -> tuple[Any, Watch]:
        return open_watched(context, path.as_uri(), watch), watch

    yield open_page
    context.close()


def _screenshot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_map_draws_every_force_and_marker_with_no_network(site, offline, tmp_path):
    page, watch = offline(site / "map.html")
    page.wait_for_function("window.servicemap !== undefined")
    assert page.locator("path.sm-force").count() == 4
    assert page.evaluate("servicemap.forces.getLayers().length") == 4
    # s1, s2 and s5 are placed; the confidential, refuge-only and national ones are not.
    assert page.evaluate("servicemap.cluster.getLayers().length") == 3
    assert page.evaluate("servicemap.services") == 3
    assert visible_markers(page) == 3
    page.evaluate("servicemap.map.setZoom(5, {animate: false})")  # zoomed out: clustered
    assert visible_markers(page) == 3
    assert page.locator(".marker-cluster").count() >= 1
    page.evaluate("servicemap.map.fitBounds(servicemap.forces.getBounds(), {animate: false})")
    assert page.locator(".leaflet-control-layers-overlays label").count() == 4
    legend = page.locator(".sm-legend").inner_text()
    assert "Gap score" in legend and "80–100" in legend
    assert (
        "Office for National Statistics"
        in page.locator(".leaflet-control-attribution").inner_text()
    )
    _screenshot(page, tmp_path / "map.png")
    watch.assert_clean(page)


def test_service_popup_opens_on_click_and_shows_escaped_text(site, offline, tmp_path):
    page, watch = offline(site / "map.html")
    page.wait_for_function("window.servicemap !== undefined")
    page.evaluate(
        """() => {
            window.target = servicemap.cluster.getLayers()
                .find(m => m.getTooltip().getContent().includes("alert(1)"));
            servicemap.map.setView(window.target.getLatLng(), 12, {animate: false});
        }"""
    )
    # Zoomed in, the marker leaves its cluster and is drawn as a dot of its own.
    page.wait_for_function("window.target._map && window.target.getElement()", timeout=10_000)
    wait_until_still(page)  # a click while markers fade in can miss (seen once under load)
    page.evaluate("window.target.getElement().setAttribute('data-test', 'hostile')")
    page.click("path[data-test=hostile]")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert HOSTILE_NAME in text  # shown as text...
    assert '" onmouseover="alert(2)' in text
    assert popup.locator("script").count() == 0  # ...never as markup
    assert "&lt;script&gt;" in popup.inner_html()
    assert popup.locator("a[href^='javascript']").count() == 0
    popup.hover()
    page.mouse.move(5, 5)
    _screenshot(page, tmp_path / "popup.png")
    watch.assert_clean(page)


def test_force_popup_links_to_its_profile(site, offline, tmp_path):
    page, watch = offline(site / "map.html")
    page.wait_for_function("window.servicemap !== undefined")
    box = page.locator("path.sm-force").nth(2).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2)
    link = page.locator(".leaflet-popup-content a")
    link.wait_for()
    assert link.get_attribute("href") == f"forces/{SLUGS[2]}.html"
    link.click()
    page.wait_for_url(re.compile(rf"forces/{SLUGS[2]}\.html$"))
    assert page.locator("h1").inner_text() == make_forces()["force_name"][2]
    watch.assert_clean(page)


def test_hostile_force_name_is_text_everywhere(site, offline, tmp_path):
    page, watch = offline(site / "map.html")
    page.wait_for_function("window.servicemap !== undefined")
    page.locator("path.sm-force").first.hover()
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert HOSTILE_FORCE in tooltip.inner_text()
    assert tooltip.locator("img").count() == 0
    watch.assert_clean(page)
    profile, watch = offline(site / "forces" / f"{SLUGS[0]}.html")
    assert profile.locator("h1").inner_text() == HOSTILE_FORCE
    assert profile.locator("main img:not(.locator)").count() == 0  # the locator map only
    assert profile.locator("img.locator").get_attribute("alt") == (
        f"Map: where {HOSTILE_FORCE} is in England and Wales"
    )
    watch.assert_clean(profile)


def test_index_opens_offline_with_the_map_and_a_keyboard_sortable_table(site, offline, tmp_path):
    page, watch = offline(site / "index.html")
    frame = page.frame_locator("iframe.mapframe")
    frame.locator("path.sm-force").first.wait_for()
    assert frame.locator("path.sm-force").count() == 4
    rows = page.locator("#forces-table tbody tr")
    assert rows.count() == 4
    header = page.locator("#forces-table thead th", has_text="Gap score")
    assert header.get_attribute("aria-sort") == "none"
    button = header.locator("button")
    button.focus()
    page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "ascending"
    scores = page.eval_on_selector_all(
        "#forces-table tbody tr", "rows => rows.map(r => parseFloat(r.cells[2].dataset.sort))"
    )
    assert scores == sorted(scores)
    page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "descending"
    scores = page.eval_on_selector_all(
        "#forces-table tbody tr", "rows => rows.map(r => parseFloat(r.cells[2].dataset.sort))"
    )
    assert scores == sorted(scores, reverse=True)
    assert page.locator("#forces-table-status").inner_text() == "Sorted by Gap score, descending."
    _screenshot(page, tmp_path / "index.png")
    watch.assert_clean(page)


def test_print_shows_the_picture_instead_of_the_live_map(site, offline, tmp_path):
    page, watch = offline(site / "index.html")
    page.emulate_media(media="print")
    assert not page.locator("iframe.mapframe").is_visible()
    picture = page.locator("img.print-only")
    assert picture.is_visible()
    assert page.evaluate("document.querySelector('img.print-only').naturalWidth") > 0
    watch.assert_clean(page)


def test_every_report_page_runs_no_injected_code(site, offline):
    pages = [site / "index.html", site / "map.html", *sorted((site / "forces").glob("*.html"))]
    assert len(pages) == 6
    for path in pages:
        page, watch = offline(path)
        page.mouse.move(400, 400)
        watch.assert_clean(page)
        page.close()


# --- print: A4, page counts -------------------------------------------------------------------

A4_POINTS = (595.0, 842.0)


def _pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """Return the (width, height) in points of every page of a PDF Chromium printed."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", pdf)
    return [(float(w), float(h)) for w, h in boxes]


def _print(offline: Any, path: Path, tmp_path: Path) -> list[tuple[float, float]]:
    page, watch = offline(path)
    pdf = page.pdf(prefer_css_page_size=True)
    (tmp_path / f"{path.stem}.pdf").write_bytes(pdf)
    print(f"printed {path.name}: {tmp_path / (path.stem + '.pdf')}")
    watch.assert_clean(page)
    return _pdf_pages(pdf)


def test_the_index_prints_on_a4(bundled_site, offline, tmp_path):
    pages = _print(offline, bundled_site / "index.html", tmp_path)
    assert pages, "no pages printed"
    assert all(abs(w - A4_POINTS[0]) < 1 and abs(h - A4_POINTS[1]) < 1 for w, h in pages)
    print(f"index.html: {len(pages)} A4 pages")


def test_every_force_profile_prints_on_at_most_two_a4_pages(bundled_site, offline, tmp_path):
    """All 43 (the Metropolitan Police has 32 districts and 60 services), and the first page of
    each is a summary that names the force's own services (or says there are none)."""
    counts = {}
    for path in sorted((bundled_site / "forces").glob("*.html")):
        pages = _print(offline, path, tmp_path)
        assert all(abs(w - A4_POINTS[0]) < 1 and abs(h - A4_POINTS[1]) < 1 for w, h in pages)
        counts[path.stem] = len(pages)
    assert len(counts) == 43
    assert {slug: n for slug, n in counts.items() if not 1 <= n <= 2} == {}


def test_a_profiles_first_page_on_paper_is_its_summary(bundled_site, offline):
    page, watch = offline(bundled_site / "forces" / "metropolitan.html")
    page.emulate_media(media="print")
    headings = page.locator("main h2:visible").all_inner_texts()
    # the summary first: what is missing, then who serves the force; the tables after
    assert headings[:2] == ["What is missing", "Services serving Metropolitan Police"]
    assert headings.index("Districts of Metropolitan Police") > 1
    watch.assert_clean(page)


def test_paper_has_no_screen_words_and_links_print_their_address(site, offline):
    page, watch = offline(site / "index.html")
    page.emulate_media(media="print")
    text = page.locator("main").inner_text()
    assert "Click" not in text and "Select an area" not in text
    after = page.evaluate(
        "getComputedStyle(document.querySelector('main a[href^=\"http\"]'), '::after').content"
    )
    assert "https://www.example.org" in after
    header = page.evaluate(
        "getComputedStyle(document.querySelector('#forces-table thead')).display"
    )
    assert header == "table-header-group"
    watch.assert_clean(page)
