"""The report map's district layer in a real browser: switched on, read, used by keyboard, offline.

Debian's chromium driven by Playwright (``tests/browsing.py``); every request that is not
``file:``/``data:``/``about:``/``blob:`` is recorded and aborted, and each test asserts there
were none and no JavaScript error. The report is the one ``servicemap report`` makes from the
bundled data. Screenshots are saved under the test's ``tmp_path`` and their paths printed
(``pytest -s`` shows them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from axe import axe_violations, describe_violations
from browsing import (
    Watch,
    offline_context,
    open_watched,
    visible_markers,
    wait_until_still,
)

WIDTHS = {"1400": {"width": 1400, "height": 900}, "390": {"width": 390, "height": 844}}
BIRMINGHAM = "E08000025"


@pytest.fixture
def opened(browser, bundled_site) -> Iterator[Any]:
    """Return ``open(width) -> (page, watch)``: map.html loaded, its script run, network off."""
    contexts: list[Any] = []

    def open_map(width: str, fragment: str = "") -> tuple[Any, Watch]:
        context, watch = offline_context(browser, viewport=WIDTHS[width])
        contexts.append(context)
        page = open_watched(context, (bundled_site / "map.html").as_uri() + fragment, watch)
        page.wait_for_function("window.servicemap !== undefined")
        return page, watch

    yield open_map
    for context in contexts:
        context.close()


def _show_districts(page: Any) -> None:
    """Choose the district layer in the Layers panel, as a person does (opening the panel)."""
    layers = page.locator(".leaflet-control-layers")
    if not layers.is_visible():  # folded behind its button on a phone
        page.get_by_role("button", name="Layers", exact=True).click()
    page.get_by_role("radio", name="Local authority districts").check()
    wait_until_still(page)


def _shot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")


def test_the_district_layer_is_off_until_chosen_and_the_forces_come_back(opened):
    page, watch = opened("1400")
    assert page.locator("path.sm-force").count() == 43
    assert page.locator("path.sm-district").count() == 0
    assert page.get_by_role("radio", name="Police force areas").is_checked()
    assert page.locator("[data-sm-areas=districts]").is_hidden()
    _show_districts(page)
    page.get_by_role("radio", name="Police force areas").check()
    forces = page.locator("path.sm-force")
    assert forces.count() == 43 and page.locator("path.sm-district").count() == 0
    labels = forces.evaluate_all("ps => ps.map(p => p.getAttribute('aria-label'))")
    assert all(re.search(r": Gap score .*\d", label or "") for label in labels)
    assert page.locator("[data-sm-areas=forces]").is_visible()
    assert page.locator("[data-sm-areas=districts]").is_hidden()
    watch.assert_clean(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_switching_to_districts_draws_all_318_with_their_key(opened, tmp_path, width):
    page, watch = opened(width)
    _show_districts(page)
    assert page.locator("path.sm-district").count() == 318
    assert page.locator("path.sm-force").count() == 0
    if width == "390":  # one panel at a time on a phone: the legend, to see its key
        page.get_by_role("button", name="Legend", exact=True).click()
    legend = page.locator(".sm-legend")
    assert legend.locator("[data-sm-areas=forces]").is_hidden()
    key = legend.locator("[data-sm-areas=districts]").inner_text()
    assert key.startswith("Local authority districts: Gap score")
    counts = [int(n) for n in re.findall(r"\((\d+) districts?\)", key)]
    assert sum(counts) == 318
    # the service markers stay above the districts (drawn later in the same pane)
    assert page.evaluate(
        """() => { const paths = [...document.querySelectorAll('.leaflet-overlay-pane path')];
                   const last = paths.findLastIndex(p => p.classList.contains('sm-district'));
                   const first = paths.findIndex(p => p.classList.contains('sm-service'));
                   return first < 0 || last < first; }"""
    )
    _shot(page, tmp_path / f"districts-{width}.png")
    watch.assert_clean(page)


def _hover_district(page: Any, code: str) -> None:
    """Move the mouse onto a district's shape (a point inside it, where it is on top)."""
    point = page.evaluate(
        """code => {
            const layer = servicemap.districts.getLayers().find(l => l.feature.id === code);
            servicemap.map.fitBounds(layer.getBounds(), {animate: false});
            const box = layer.getElement().getBoundingClientRect();
            for (let y = 0.3; y <= 0.7; y += 0.05) {
                for (let x = 0.3; x <= 0.7; x += 0.05) {
                    const px = box.left + x * box.width, py = box.top + y * box.height;
                    if (document.elementFromPoint(px, py) === layer.getElement()) {
                        return [px, py];
                    }
                }
            }
            return null;
        }""",
        code,
    )
    assert point is not None, f"no point of {code} is on top"
    page.mouse.move(*point)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_districts_tooltip_gives_its_figures(opened, tmp_path, width):
    page, watch = opened(width)
    _show_districts(page)
    _hover_district(page, BIRMINGHAM)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    text = tooltip.inner_text()
    assert text.splitlines()[0] == "Birmingham"
    for words in (
        "Police force area\tWest Midlands",
        "Gap score (0 = best served, 100 = nothing found)\t",
        "Gap class\t",
        "Residents reached by a local service\t",
        "Residents within 10 km of an in-person service\t",
        "Residents within 25 km of an in-person service\t",
    ):
        assert words in text, (words, text)
    assert re.search(r"Gap score \(0 = best served, 100 = nothing found\)\t\d+(\.\d)?\n", text)
    assert re.search(r"Residents reached by a local service\t\d+%", text)
    _shot(page, tmp_path / f"district-tooltip-{width}.png")
    watch.assert_clean(page)


def test_districts_open_by_keyboard_and_link_their_force(opened, bundled_site, tmp_path):
    page, watch = opened("1400")
    _show_districts(page)
    shapes = page.locator("path.sm-district")
    labels = shapes.evaluate_all("ps => ps.map(p => p.getAttribute('aria-label'))")
    assert len(labels) == 318
    assert all(re.fullmatch(r".+, district in .+: Gap score .* \d+(\.\d)?", s) for s in labels)
    assert set(shapes.evaluate_all("ps => ps.map(p => p.getAttribute('role'))")) == {"button"}
    assert set(shapes.evaluate_all("ps => ps.map(p => p.getAttribute('tabindex'))")) == {"0"}
    birmingham = page.locator("path.sm-district[aria-label^='Birmingham, district in']")
    label = birmingham.get_attribute("aria-label")
    assert label.startswith("Birmingham, district in West Midlands: Gap score")
    # Tab from the shape before it reaches it, as a keyboard user moves through the layer
    index = labels.index(label)
    shapes.nth(index - 1).focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == label
    page.keyboard.press("Enter")
    link = page.locator(".leaflet-popup-content a")
    link.wait_for()
    assert link.inner_text() == "Open the profile of West Midlands"
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "forces/west-midlands.html"
    assert (bundled_site / "forces" / "west-midlands.html").exists()
    page.wait_for_timeout(400)  # the popup fades in
    _shot(page, tmp_path / "district-popup.png")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == label
    watch.assert_clean(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_map_with_districts_shown_has_no_axe_violations(opened, width):
    page, watch = opened(width)
    _show_districts(page)
    violations = axe_violations(page)
    assert violations == [], describe_violations(violations)
    watch.assert_clean(page)


def test_search_and_filters_work_with_districts_shown(opened, tmp_path):
    page, watch = opened("1400")
    _show_districts(page)
    page.get_by_role("button", name="Filter", exact=True).click()
    status = page.locator(".sm-filter-status")
    everything = visible_markers(page)
    assert status.inner_text() == f"Showing all {everything} services placed on the map."
    page.locator(".sm-filters").get_by_label("By and for: led by the communities it serves").check()
    shown = int(re.search(r"Showing (\d+) of", status.inner_text())[1])
    assert 0 < shown < everything
    assert visible_markers(page) == shown
    page.get_by_role("button", name="Clear filters").click()
    assert visible_markers(page) == everything
    page.evaluate("() => { location.hash = 'find=' + encodeURIComponent('TR1 2HE'); }")
    page.wait_for_function(
        """() => { const r = document.querySelector('#find-results');
                   return r && r.getAttribute('data-query') === 'TR1 2HE'
                     && !r.hasAttribute('aria-busy'); }""",
        timeout=15_000,
    )
    answer = page.inner_text("#find-results")
    assert "Devon & Cornwall" in answer
    assert page.locator("path.sm-district").count() == 318  # the districts are still shown
    _shot(page, tmp_path / "districts-search.png")
    watch.assert_clean(page)
