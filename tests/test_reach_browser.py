"""Finding help from the report in a real browser: on a phone and a desktop, by keyboard, offline.

Debian's chromium driven by Playwright, as in ``test_browser.py``: every request that is not
``file:``/``data:``/``about:``/``blob:`` is recorded and aborted, and each test asserts there
were none. axe-core (``tests/axe.py``) checks WCAG 2.2 AA on the report made from the bundled
directory, at 1400 and 390 px. Screenshots are saved under the test's ``tmp_path`` and their
paths printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable, Iterator
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
from conftest import _canonical_services
from servicemap.directory.load import load_services
from servicemap.render.report import build_report
from worlds import SLUGS, make_coverage, make_forces, make_profiles, make_services

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 900}
WIDTHS = {"1400": DESKTOP, "390": PHONE}


def _reachable(rows: list[dict[str, Any]]) -> Any:
    """The browser world, with an email, dates, languages and flags to show and filter on."""
    extra = {
        "s1": {"email": "help@example.org", "by_and_for": "yes", "last_seen": "2025-09"},
        "s5": {"nrpf_support": "yes", "languages": "Kurdish", "communities": "Kurdish women"},
    }
    return _canonical_services([{**row, **extra.get(row["id"], {})} for row in rows])


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    forces = make_forces()
    coverage = make_coverage(forces)
    out = tmp_path_factory.mktemp("reach") / "site"
    build_report(
        forces, coverage, make_services(_reachable), out_dir=out, profiles=make_profiles(coverage)
    )
    return out


Opener = Callable[..., tuple[Any, Watch]]


@pytest.fixture
def opener(browser) -> Iterator[Opener]:
    """Return ``open(path, viewport=..., javascript=True) -> (page, watch)``, network blocked."""
    contexts: list[Any] = []

    def open_page(
        path: Path, *, viewport: dict[str, int] = DESKTOP, javascript: bool = True
    ) -> tuple[Any, Watch]:
        context, watch = offline_context(browser, viewport=viewport, java_script_enabled=javascript)
        contexts.append(context)
        return open_watched(context, path.as_uri(), watch), watch

    yield open_page
    for context in contexts:
        context.close()


def _shot(page: Any, path: Path, *, full: bool = False) -> None:
    page.screenshot(path=str(path), full_page=full)
    print(f"screenshot: {path}")


def _map_frame(page: Any) -> Any:
    """The embedded map's frame of index.html, once its script has run."""
    frame = next(f for f in page.frames if f.url.endswith("map.html"))
    frame.wait_for_function("window.servicemap !== undefined")
    return frame


# --- WCAG 2.2 AA ------------------------------------------------------------------------------

PAGES = ["index.html", "map.html", "forces/devon-and-cornwall.html"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_violation(bundled_site, opener, tmp_path, name, width):
    page, watch = opener(bundled_site / name, viewport=WIDTHS[width])
    if name == "map.html":
        page.wait_for_function("window.servicemap !== undefined")
    violations = axe_violations(page)
    assert violations == [], describe_violations(violations)
    if name == "index.html":  # the embedded map is checked in its own frame
        frame = _map_frame(page)
        inside = axe_violations(frame)
        assert inside == [], describe_violations(inside)
    _shot(page, tmp_path / f"{Path(name).stem}-{width}.png", full=name != "map.html")
    watch.assert_clean(page)


def test_axe_finds_no_violation_with_every_map_panel_open(bundled_site, opener):
    page, watch = opener(bundled_site / "map.html", viewport=PHONE)
    page.wait_for_function("window.servicemap !== undefined")
    for label in ("Legend", "Layers", "Filter"):
        page.get_by_role("button", name=label, exact=True).click()
        violations = axe_violations(page)
        assert violations == [], f"{label} open:\n" + describe_violations(violations)
    watch.assert_clean(page)


# --- a phone ----------------------------------------------------------------------------------


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return dict(box)


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    width = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    height = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(width, 0) * max(height, 0)


def _covered_share(page: Any, map_box: dict[str, float]) -> float:
    """The share of the map that visible corner boxes cover (controls, panels, attribution)."""
    boxes = [
        _box(c)
        for c in page.locator(".leaflet-control").all()
        if c.is_visible() and c.bounding_box() is not None
    ]
    return sum(_overlap(map_box, b) for b in boxes) / (map_box["width"] * map_box["height"])


def test_on_a_phone_the_map_fills_the_screen_and_the_panels_are_folded(site, opener, tmp_path):
    page, watch = opener(site / "map.html", viewport=PHONE)
    page.wait_for_function("window.servicemap !== undefined")
    container = _box(page.locator(".folium-map"))
    assert container == {"x": 0, "y": 0, "width": 390, "height": 844}
    for panel in (".sm-legend", ".leaflet-control-layers", ".sm-filters"):
        assert not page.locator(panel).is_visible(), f"{panel} covers the map"
    # what stays in view: zoom, the panel buttons, the title, the search box (one label, one
    # input: 16 % of the screen measured) and the folded sources and national panel
    assert _covered_share(page, container) < 0.2
    for label in ("Legend", "Layers", "Filter"):
        button = page.get_by_role("button", name=label, exact=True)
        assert button.is_visible() and button.get_attribute("aria-expanded") == "false"
    _shot(page, tmp_path / "map-phone.png")
    page.get_by_role("button", name="Legend", exact=True).click()
    assert page.locator(".sm-legend").is_visible()
    page.get_by_role("button", name="Layers", exact=True).click()  # on a phone: one at a time
    assert page.locator(".leaflet-control-layers").is_visible()
    assert not page.locator(".sm-legend").is_visible()
    _shot(page, tmp_path / "map-phone-layers.png")
    watch.assert_clean(page)


def test_on_a_desktop_the_legend_and_layers_are_open(site, opener, tmp_path):
    page, watch = opener(site / "map.html", viewport=DESKTOP)
    page.wait_for_function("window.servicemap !== undefined")
    assert page.locator(".sm-legend").is_visible()
    assert page.locator(".leaflet-control-layers").is_visible()
    assert not page.locator(".sm-filters").is_visible()
    page.get_by_role("button", name="Filter", exact=True).click()
    legend, filters = _box(page.locator(".sm-legend")), _box(page.locator(".sm-filters"))
    assert page.locator(".sm-filters").is_visible()
    assert not page.locator(".leaflet-control-layers").is_visible()  # they would overlap
    assert _overlap(legend, filters) == 0
    _shot(page, tmp_path / "map-desktop-filter.png")
    watch.assert_clean(page)


def test_the_map_in_the_index_shows_the_map_on_a_phone(site, opener, tmp_path):
    page, watch = opener(site / "index.html", viewport=PHONE)
    frame = _map_frame(page)
    iframe = _box(page.locator("iframe.mapframe"))
    assert iframe["width"] >= 340 and iframe["height"] >= 400
    assert not frame.locator(".sm-legend").is_visible()
    assert not frame.locator(".leaflet-control-layers").is_visible()
    assert frame.locator("path.sm-force").count() == 4
    forces = frame.evaluate(
        "() => { const b = servicemap.forces.getBounds(), m = servicemap.map;"
        " return m.getBounds().intersects(b); }"
    )
    assert forces
    page.locator("iframe.mapframe").scroll_into_view_if_needed()
    _shot(page, tmp_path / "index-map-phone.png")
    watch.assert_clean(page)


def test_the_map_page_lets_people_pinch_zoom(site, opener):
    page, watch = opener(site / "map.html", viewport=PHONE)
    content = page.locator("meta[name=viewport]").get_attribute("content")
    assert content == "width=device-width, initial-scale=1"
    assert page.locator("meta[name=viewport]").count() == 1
    watch.assert_clean(page)


@pytest.mark.parametrize("name", [f"forces/{SLUGS[1]}.html", "index.html"])
def test_tables_scroll_in_a_focusable_named_region_with_a_cue(site, opener, tmp_path, name):
    page, watch = opener(site / name, viewport=PHONE)
    wraps = page.locator(".table-wrap")
    assert wraps.count() >= 1
    for wrap in wraps.all():
        assert wrap.get_attribute("tabindex") == "0"
        assert wrap.get_attribute("role") == "region"
        assert (wrap.get_attribute("aria-label") or "").startswith("Table: ")
    wide = [w for w in wraps.all() if w.evaluate("w => w.scrollWidth > w.clientWidth + 1")]
    assert wide, "no table is wider than a phone: the test shows nothing"
    for wrap in wide:
        cue = wrap.evaluate("w => w.previousElementSibling.className")
        assert cue == "scroll-cue"
    wide[0].focus()
    page.keyboard.press("ArrowRight")  # the arrow keys scroll the focused box (maybe smoothly)
    handle = wide[0].element_handle()
    page.wait_for_function("w => w.scrollLeft > 0", arg=handle, timeout=3000)
    _shot(page, tmp_path / f"{Path(name).stem}-phone.png", full=True)
    watch.assert_clean(page)


def test_a_profiles_services_are_cards_on_a_phone(site, opener):
    page, watch = opener(site / "forces" / f"{SLUGS[1]}.html", viewport=PHONE)
    services = page.locator(".table-wrap.cards")
    assert not services.evaluate("w => w.scrollWidth > w.clientWidth + 1")
    label = page.locator(".cards td[data-label=Contact]").first
    assert label.evaluate("td => getComputedStyle(td, '::before').content") == '"Contact: "'
    watch.assert_clean(page)


# --- how to reach a service -------------------------------------------------------------------


def _open_popup(page: Any, name_part: str) -> Any:
    page.wait_for_function("window.servicemap !== undefined")
    page.evaluate(
        """(part) => {
            window.target = servicemap.cluster.getLayers()
                .find(m => m.getTooltip().getContent().includes(part));
            servicemap.map.setView(window.target.getLatLng(), 12, {animate: false});
        }""",
        name_part,
    )
    page.wait_for_function("window.target._map && window.target.getElement()", timeout=10_000)
    page.evaluate("window.target.getElement().setAttribute('data-test', 'target')")
    page.click("path[data-test=target]")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    return popup


@pytest.mark.parametrize("width", WIDTHS)
def test_a_popup_says_what_a_service_offers_and_how_to_reach_it(site, opener, tmp_path, width):
    page, watch = opener(site / "map.html", viewport=WIDTHS[width])
    popup = _open_popup(page, "Safe Steps")
    text = popup.inner_text()
    assert "Offers\nadvocacy, legal advice" in text
    assert "0161 000 0000 (seen September 2025)" in text
    assert popup.locator("a[href='tel:01610000000']").count() == 1
    assert popup.locator("a[href='mailto:help@example.org']").inner_text() == "help@example.org"
    assert popup.locator("a[href='https://example.org/a?x=1&y=2']").count() == 1
    assert "Polish, Urdu" in text and "Eastern European" in text
    assert "led by the communities it serves" in text
    page.wait_for_timeout(500)  # the map pans the popup into view
    box, viewport = _box(page.locator(".leaflet-popup")), WIDTHS[width]
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    _shot(page, tmp_path / f"popup-{width}.png")
    watch.assert_clean(page)


def test_local_and_regional_markers_differ_in_shape_not_only_colour(site, opener):
    page, watch = opener(site / "map.html")
    page.wait_for_function("window.servicemap !== undefined")
    page.evaluate("servicemap.map.setZoom(9, {animate: false})")
    wait_until_still(page)
    styles = page.evaluate(
        """() => servicemap.cluster.getLayers().map(m => [
            m.options.className, m.options.radius, m.options.dashArray || "", m.options.color])"""
    )
    local = {tuple(s[1:]) for s in styles if "sm-local" in s[0]}
    regional = {tuple(s[1:]) for s in styles if "sm-regional" in s[0]}
    assert local == {(7, "", "#ffffff")} and regional == {(9, "4 3", "#1a1a1a")}
    legend = page.locator(".sm-legend").inner_text()
    assert (
        "Local service: white ring" in legend and "Regional service: larger, dark dashed" in legend
    )
    watch.assert_clean(page)


def test_profiles_and_the_national_list_show_how_to_reach_a_service(site, opener):
    page, watch = opener(site / "index.html")
    national = page.locator("ul.services li", has_text="National helpline")
    assert national.locator("a[href='tel:08082000247']").count() == 1
    assert "(seen date not known)" in national.inner_text()
    assert national.locator("a[href='https://www.example.org']").inner_text() == "example.org"
    profile, watch2 = opener(site / "forces" / f"{SLUGS[1]}.html")
    contact = profile.locator(".cards td[data-label=Contact]").first
    assert contact.locator("a[href='tel:01610000000']").count() == 1
    assert contact.locator("a[href='https://example.org']").inner_text() == "example.org"
    watch.assert_clean(page)
    watch2.assert_clean(profile)


# --- filters ----------------------------------------------------------------------------------


def test_filters_hide_and_show_markers(site, opener, tmp_path):
    page, watch = opener(site / "map.html")
    page.wait_for_function("window.servicemap !== undefined")
    assert visible_markers(page) == 3
    page.get_by_role("button", name="Filter", exact=True).click()
    status = page.locator(".sm-filter-status")
    assert status.inner_text() == "Showing all 3 services placed on the map."
    page.locator(".sm-filters").get_by_label("Language").select_option(label="Kurdish")
    assert status.inner_text() == "Showing 1 of the 3 services placed on the map."
    assert page.evaluate("servicemap.cluster.getLayers().length") == 1
    assert visible_markers(page) == 1
    page.get_by_role("button", name="Clear filters").click()
    page.locator(".sm-filters").get_by_label("Kind of help").select_option(
        label="Advocacy, IDVA, outreach and casework"
    )
    assert page.evaluate("servicemap.cluster.getLayers().length") == 1  # s1 only
    page.get_by_role("button", name="Clear filters").click()
    page.locator(".sm-filters").get_by_label("By and for: led by the communities it serves").check()
    page.locator(".sm-filters").get_by_label(
        "Supports people with no recourse to public funds (NRPF)"
    ).check()
    assert status.inner_text() == "Showing 0 of the 3 services placed on the map."
    assert visible_markers(page) == 0
    page.get_by_role("button", name="Clear filters").click()
    page.locator(".sm-filters").get_by_label("Community (words it names)").fill("kurdish WOMEN")
    assert page.evaluate("servicemap.cluster.getLayers().length") == 1
    page.get_by_role("button", name="Clear filters").click()
    assert status.inner_text() == "Showing all 3 services placed on the map."
    assert visible_markers(page) == 3
    _shot(page, tmp_path / "filters.png")
    watch.assert_clean(page)


# --- keyboard ---------------------------------------------------------------------------------


def _tab_to(page: Any, text: str, *, most: int = 40) -> None:
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == text:
            return
    pytest.fail(f"{text!r} is not reached by Tab")


def test_the_skip_link_jumps_past_the_embedded_map(site, opener):
    page, watch = opener(site / "index.html")
    _map_frame(page)
    _tab_to(page, "Skip the map")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    after = page.evaluate(
        """() => {
            const a = document.activeElement, f = document.querySelector('figure:has(iframe)');
            return [a.tagName, !!(f.compareDocumentPosition(a) & Node.DOCUMENT_POSITION_FOLLOWING)];
        }"""
    )
    assert after == [after[0], True] and after[0] != "IFRAME"
    watch.assert_clean(page)


def test_force_areas_have_names_and_open_by_keyboard(site, opener):
    page, watch = opener(site / "map.html")
    page.wait_for_function("window.servicemap !== undefined")
    shapes = page.locator("path.sm-force")
    labels = [shapes.nth(i).get_attribute("aria-label") for i in range(shapes.count())]
    assert len(labels) == 4 and all(re.search(r": Gap score .*\d", label or "") for label in labels)
    assert {shapes.nth(i).get_attribute("role") for i in range(4)} == {"button"}
    shapes.nth(2).focus()
    page.keyboard.press("Enter")
    link = page.locator(".leaflet-popup-content a")
    link.wait_for()
    assert page.evaluate("document.activeElement.getAttribute('href')") == f"forces/{SLUGS[2]}.html"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == labels[2]
    watch.assert_clean(page)


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    la, lb = (_luminance(tuple(int(x) for x in re.findall(r"\d+", c)[:3])) for c in (a, b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


@pytest.mark.parametrize("name", ["index.html", "map.html"])
def test_the_focus_ring_has_at_least_3_to_1_contrast(site, opener, name):
    page, watch = opener(site / name)
    page.keyboard.press("Tab")
    if name == "map.html":
        page.wait_for_function("window.servicemap !== undefined")
        page.get_by_role("button", name="Legend", exact=True).focus()
    style = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
            return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"""
    )
    assert style[0] == "solid" and float(style[1].removesuffix("px")) >= 2
    assert _contrast(style[2], "rgb(255, 255, 255)") >= 3
    watch.assert_clean(page)


# --- with JavaScript off ----------------------------------------------------------------------


def test_with_javascript_off_the_map_box_shows_the_picture_and_a_link(site, opener, tmp_path):
    page, watch = opener(site / "map.html", viewport=PHONE, javascript=False)
    picture = page.locator("img[src='coverage.png']")
    assert picture.is_visible()
    assert picture.evaluate("img => img.naturalWidth") > 0
    assert page.locator("a[href='index.html#forces']").is_visible()
    assert not page.locator(".folium-map").is_visible()
    index, watch2 = opener(site / "index.html", javascript=False)
    frame = index.frame_locator("iframe.mapframe")
    frame.locator("img[src='coverage.png']").wait_for()
    assert frame.locator("img[src='coverage.png']").evaluate("img => img.naturalWidth") > 0
    _shot(index, tmp_path / "index-no-script.png")
    watch.assert_clean(page)
    watch2.assert_clean(index)


# --- take the data away -----------------------------------------------------------------------


def test_the_downloads_are_linked_and_there(site, opener):
    page, watch = opener(site / "index.html")
    downloads = page.locator("#downloads + ul")
    for name in ("services.csv", "services.json"):
        assert downloads.locator(f"a[href='{name}']").count() == 1
        assert (site / name).is_file()
    profile, watch2 = opener(site / "forces" / f"{SLUGS[0]}.html")
    link = profile.get_by_role("link", name="Download these services (CSV)")
    href = link.get_attribute("href")
    assert href == f"{SLUGS[0]}-services.csv"
    assert (site / "forces" / href).is_file()
    watch.assert_clean(page)
    watch2.assert_clean(profile)


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_a_profiles_download_is_its_services_with_public_fields_only(bundled_site):
    page = (bundled_site / "forces" / "west-midlands.html").read_text(encoding="utf-8")
    listed = re.findall(r'<tr class="(?:local|regional|national)">\s*<th scope="row">([^<]+)', page)
    rows = _rows(bundled_site / "forces" / "west-midlands-services.csv")
    assert [r["name"] for r in rows] == [html.unescape(name) for name in listed]
    hidden = set(load_services(warn=False).query("confidential")["id"])  # the library's rule
    confidential = [r for r in rows if r["id"] in hidden]
    assert confidential, "West Midlands lists no confidential service: the test shows nothing"
    for row in confidential:
        assert row["address"] == row["postcode"] == row["latitude"] == row["longitude"] == ""
    directory = _rows(bundled_site / "services.csv")
    assert len(directory) == 131
    emails = {r["id"]: r["email"] for r in directory if r["email"]}
    assert emails == {
        "coram-clc-migrant-children": "mcp@coramclc.org.uk",
        "nspcc-fgm-helpline": "fgmhelp@nspcc.org.uk",
    }
    document = json.loads((bundled_site / "services.json").read_text(encoding="utf-8"))
    assert len(document["services"]) == 131
    assert {s["email"] for s in document["services"] if "email" in s} == set(emails.values())
