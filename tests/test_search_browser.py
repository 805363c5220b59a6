"""The report's search box end to end: a real report of the bundled data, in Debian's Chromium,
opened from ``file://`` with every request that is not a local file aborted (and asserted none).

Covers full postcodes (any case and spacing), sectors, outward codes, districts, forces, towns and
typos at 1400 px and 390 px; the address keeps the query; the answers are those of
``servicemap near`` (analysis.near.services_near) for a spread of postcodes; a confidential
service never gains a place or a distance, in any answer or any file the search loads; axe-core
finds nothing on an answer. Chromium is launched by conftest's ``browser`` fixture, as for
``tests/test_browser.py``. Screenshots go under the test's ``tmp_path`` (``pytest -s`` prints
their paths).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from axe import axe_violations, describe_violations
from browsing import Watch, offline_context, open_watched
from servicemap.analysis.near import services_near
from servicemap.directory.privacy import confidential_mask
from servicemap.directory.select import Selection, select_services
from servicemap.geography.forces import district_names, force_names, load_forces
from servicemap.geography.postcodes import load_postcode_table
from servicemap.geography.towns import TOWNS_ATTRIBUTION, load_towns
from servicemap.render.search import LABEL

WIDTHS = (1400, 390)


@pytest.fixture(scope="module")
def services(bundled_services: pd.DataFrame) -> pd.DataFrame:
    """The services the report and ``servicemap near`` use (no --focus, no --seen-since)."""
    return select_services(bundled_services, Selection())[0]


def _open(browser: Any, path: Path, width: int, fragment: str = "") -> tuple[Any, Watch]:
    context, watch = offline_context(browser, viewport={"width": width, "height": 900})
    return open_watched(context, path.as_uri() + fragment, watch), watch


def _settled(page: Any, query: str) -> None:
    page.wait_for_function(
        """q => { const r = document.querySelector('#find-results');
                  return r && r.getAttribute('data-query') === q
                    && !r.hasAttribute('aria-busy'); }""",
        arg=query.strip(),
        timeout=15_000,
    )


def ask(page: Any, query: str) -> str:
    """Put a query in the address (``#find=...``), wait for the answer, return its text."""
    page.evaluate("q => { location.hash = 'find=' + encodeURIComponent(q); }", query)
    _settled(page, query)
    return str(page.inner_text("#find-results"))


def listed(page: Any) -> list[dict[str, Any]]:
    """Return the services of the answer as shown, in order."""
    rows: list[dict[str, Any]] = page.evaluate(
        """() => Array.from(document.querySelectorAll('#find-results li.sm-find-service'))
            .map(li => ({relation: li.dataset.relation, name: li.dataset.name,
                         km: li.dataset.km || null, private: li.dataset.private === '1',
                         text: li.textContent}))"""
    )
    return rows


def _assert_private_stays_private(page: Any) -> None:
    for row in listed(page):
        if row["private"]:
            assert row["km"] is None and "km" not in row["text"], row
            assert row["relation"] == "serves this area" and "In person" not in row["text"]


@pytest.fixture(scope="module")
def table() -> Any:
    return load_postcode_table()


def _sector_spanning_forces(table: Any) -> str:
    """Return the first postcode sector (in sort order) whose postcodes lie in two forces."""
    ew = np.flatnonzero((table.force >= 0) & table.has_location)
    codes = table.postcodes[ew].astype(str)
    sectors = pd.Series([c[:-3] + " " + c[-3] for c in codes])
    forces = pd.Series(table.force[ew]).groupby(sectors.to_numpy()).nunique()
    return str(forces[forces > 1].index[0])


def _place_words(table: Any, postcode: str) -> tuple[str, str]:
    row = table.rows(np.array([postcode.replace(" ", "")], dtype="S7"))[0]
    district = district_names()[str(table.district_codes[table.district[row]])]
    return district, force_names()[str(table.force_codes[table.force[row]])]


def _town_district(table: Any, name: str) -> str:
    town = load_towns(min_population=1000).set_index("name").loc[name]
    ew = (table.force >= 0) & table.has_location
    d2 = (table.easting[ew] - town["easting"]) ** 2 + (table.northing[ew] - town["northing"]) ** 2
    code = table.district_codes[table.district[np.flatnonzero(ew)[np.argmin(d2)]]]
    return district_names()[str(code)]


# --- what a person types --------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("query", ["tr12he", "TR1 2HE", "  Tr1   2hE "])
def test_a_full_postcode_in_any_case_and_spacing(
    bundled_site: Path, browser: Any, table: Any, width: int, query: str, tmp_path: Path
) -> None:
    page, watch = _open(browser, bundled_site / "index.html", width)
    assert page.get_by_role("searchbox", name=LABEL).get_attribute("type") == "search"
    text = ask(page, query)
    district, force = _place_words(table, "TR1 2HE")
    assert "TR1 2HE is a postcode in " + district in text
    assert f"police force area of {force}" in text
    slug = load_forces().set_index("name").loc[force, "slug"]
    link = page.locator("#find-results a", has_text=force).first
    assert link.get_attribute("href") == f"forces/{slug}.html"
    assert (bundled_site / "forces" / f"{slug}.html").is_file()
    assert page.get_attribute("#find-results", "aria-live") == "polite"
    assert "National (" in text and "In-person services nearby" in text
    _assert_private_stays_private(page)
    page.screenshot(path=str(tmp_path / f"postcode-{width}.png"), full_page=False)
    print(f"screenshot: {tmp_path / f'postcode-{width}.png'}")
    watch.assert_clean(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_sectors_and_outward_codes(
    bundled_site: Path, browser: Any, table: Any, services: pd.DataFrame, width: int
) -> None:
    page, watch = _open(browser, bundled_site / "index.html", width)
    district, force = _place_words(table, "TR1 2HE")
    text = ask(page, "TR1 2")
    assert "TR1 2 is a postcode sector" in text and district in text and force in text
    text = ask(page, "tr1")
    assert "TR1 is a postcode district" in text and district in text
    spanning = _sector_spanning_forces(table)
    text = ask(page, spanning)
    assert f"{spanning} is a postcode sector" in text
    assert "in 2 police force areas" in text or "police force areas: services" in text
    near = services_near(spanning, services, postcodes=table)
    for name in near.attrs["forces"]:
        assert page.locator("ul.sm-find-areas a", has_text=name).count() == 1
    _assert_private_stays_private(page)
    watch.assert_clean(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_districts_forces_and_towns(
    bundled_site: Path, browser: Any, table: Any, width: int
) -> None:
    page, watch = _open(browser, bundled_site / "index.html", width)
    text = ask(page, "Cornwall")
    assert "Cornwall is a local authority district" in text
    assert "police force area of Devon & Cornwall" in text
    text = ask(page, "Devon & Cornwall Police")
    assert "Devon & Cornwall is a police force area of 12 local authority districts" in text
    assert page.locator("#find-results a", has_text="Devon & Cornwall").first.get_attribute(
        "href"
    ) == ("forces/devon-and-cornwall.html")
    text = ask(page, "Truro")
    assert f"Truro is a town in {_town_district(table, 'Truro')}" in text
    text = ask(page, "greater london")
    assert "spans 33 local authority districts" in text
    towns = load_towns(min_population=1000)
    assert (towns["name"] == "Whitchurch").sum() > 1
    text = ask(page, "Whitchurch")
    assert "places called Whitchurch. Which one?" in text
    page.locator("#find-results a", has_text="Herefordshire").click()
    _settled(page, "Whitchurch, Herefordshire, County of")
    assert "Whitchurch is a town in Herefordshire" in page.inner_text("#find-results")
    footer = page.inner_text("footer")
    assert TOWNS_ATTRIBUTION in footer
    _assert_private_stays_private(page)
    watch.assert_clean(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_typos_get_suggestions(bundled_site: Path, browser: Any, width: int) -> None:
    page, watch = _open(browser, bundled_site / "index.html", width)
    text = ask(page, "Birmigham")
    assert "Did you mean Birmingham" in text
    page.locator("#find-results a", has_text="Birmingham").click()
    _settled(page, "Birmingham")
    assert "Birmingham is a local authority district" in page.inner_text("#find-results")
    assert page.evaluate("location.hash") == "#find=Birmingham"
    text = ask(page, "Manchestr")
    assert "Did you mean" in text and "Manchester" in text
    watch.assert_clean(page)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("ZZ99 9ZZ", "is not in the ONS postcode directory"),
        ("EH1 1AA", "is outside England and Wales"),
        ("AB10", "is outside England and Wales"),
        ("TR99", "is not in the ONS postcode directory"),
        ("Xyzzyplugh", "No postcode or place called"),
    ],
)
def test_unknown_or_outside_places_get_a_plain_message(
    bundled_site: Path, browser: Any, query: str, message: str
) -> None:
    page, watch = _open(browser, bundled_site / "index.html", 390)
    text = ask(page, query)
    assert message in text
    assert listed(page) == []
    watch.assert_clean(page)


def test_the_address_keeps_the_query(bundled_site: Path, browser: Any) -> None:
    page, watch = _open(browser, bundled_site / "index.html", 1400)
    page.get_by_role("searchbox", name=LABEL).fill("TR1 2HE")
    page.get_by_role("searchbox", name=LABEL).press("Enter")
    _settled(page, "TR1 2HE")
    assert page.evaluate("location.hash") == "#find=TR1%202HE"
    first = listed(page)
    shared, watch2 = _open(browser, bundled_site / "index.html", 390, "#find=TR1%202HE")
    _settled(shared, "TR1 2HE")
    assert listed(shared) == first and first
    assert shared.get_by_role("searchbox", name=LABEL).input_value() == "TR1 2HE"
    watch.assert_clean(page)
    watch2.assert_clean(shared)


def test_filters_narrow_the_answer(
    bundled_site: Path, browser: Any, services: pd.DataFrame
) -> None:
    page, watch = _open(browser, bundled_site / "index.html", 1400)
    ask(page, "M1 1AE")
    near = services_near("M1 1AE", services)
    serving = near.loc[near["relation"] == "serves this area"]
    polish = serving.loc[serving["languages"].str.contains("Polish"), "name"].tolist()
    assert polish, "the bundled directory has services in Polish serving Manchester"
    page.locator("details.sm-find-filters summary").click()
    page.select_option("#find-language", "Polish")
    shown = [r["name"] for r in listed(page) if r["relation"] == "serves this area"]
    assert shown == polish
    page.select_option("#find-language", "")
    page.check("#find-nrpf")
    rows = listed(page)
    assert rows and all("supports women with no recourse" in r["text"] for r in rows)
    assert "Filtered: only services supporting NRPF" in page.inner_text("#find-results")
    watch.assert_clean(page)


# --- the same answer as `servicemap near` -----------------------------------------------------


def _sample_postcodes(table: Any, services: pd.DataFrame) -> list[str]:
    """A postcode near the middle of each of 27 forces, a sector spanning two forces, an outward
    code, a public service's own postcode and one where a confidential local service serves."""
    picked = []
    for force in np.linspace(0, len(table.force_codes) - 1, 27).round().astype(int):
        rows = np.flatnonzero((table.force == force) & table.has_location)
        code = table.postcodes[rows[len(rows) // 2]].decode()
        picked.append(f"{code[:-3]} {code[-3:]}")
    picked.append(_sector_spanning_forces(table))
    picked.append("ST4")
    public = services.loc[~services["confidential"] & (services["postcode"] != "")]
    picked.append(str(public["postcode"].iloc[0]))
    private = services.loc[services["confidential"] & (services["scope"] == "local")]
    district = [d for ds in private["served_districts"] for d in ds][0]
    rows = np.flatnonzero(table.district == list(table.district_codes).index(district))
    code = table.postcodes[rows[0]].decode()
    picked.append(f"{code[:-3]} {code[-3:]}")
    return picked


def test_the_page_answers_as_servicemap_near_does(
    bundled_site: Path, browser: Any, table: Any, services: pd.DataFrame
) -> None:
    page, watch = _open(browser, bundled_site / "index.html", 1400)
    sample = _sample_postcodes(table, services)
    assert len(sample) == 31 and len(set(sample)) == 31
    saw_private = saw_nearby = 0
    for postcode in sample:
        ask(page, postcode)
        near = services_near(postcode, services, postcodes=table)
        expected = [
            {"relation": r, "name": n, "km": None if np.isnan(k) else f"{k:.1f}"}
            for r, n, k in zip(near["relation"], near["name"], near["distance_km"], strict=True)
        ]
        shown = [{k: row[k] for k in ("relation", "name", "km")} for row in listed(page)]
        assert shown == expected, postcode
        text = page.inner_text("#find-results")
        for name in near.attrs["districts"] + near.attrs["forces"]:
            assert name in text, (postcode, name)
        saw_private += sum(r["private"] for r in listed(page))
        saw_nearby += sum(r["relation"] == "nearby" for r in listed(page))
        _assert_private_stays_private(page)
    assert saw_private and saw_nearby, "the sample should show a confidential and a nearby service"
    watch.assert_clean(page)


# --- privacy, budgets, accessibility, the map ---------------------------------------------


def _loaded(text: str, prefix: str) -> Any:
    return json.loads(text.strip().removeprefix(prefix + "(").removesuffix(");"))


def test_no_confidential_place_in_any_file_the_search_loads(
    bundled_site: Path, bundled_services: pd.DataFrame
) -> None:
    data = _loaded(
        (bundled_site / "search-services.js").read_text(encoding="utf-8"), "smSearchServices"
    )
    private = bundled_services.loc[confidential_mask(bundled_services).to_numpy()]
    assert len(private) > 0
    private_names = set(private["name"])
    for record in data["services"]:
        if record["n"] in private_names:
            assert record.get("c") == 1 and not {"x", "y", "a"} & set(record), record
        if record.get("c"):
            assert not {"x", "y", "a"} & set(record), record
    texts = [(bundled_site / "search-services.js").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (bundled_site / "postcodes").iterdir()]
    texts += [
        (bundled_site / page).read_text(encoding="utf-8") for page in ("index.html", "map.html")
    ]
    for _, service in private.iterrows():
        spellings = [str(service["address"]), str(service["postcode"])]
        spellings += [str(service["postcode"]).replace(" ", "")]
        for number in (service["easting"], service["northing"]):
            if np.isfinite(number):
                spellings += [f"{number:.1f}", f"{number:.0f}"]
        for spelling in (s for s in spellings if len(s) >= 4):
            assert not any(spelling in text for text in texts), (service["id"], spelling)


def test_postcodes_folder_holds_geography_only(
    bundled_site: Path, bundled_services: pd.DataFrame
) -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in (bundled_site / "postcodes").iterdir()}
    words = set(bundled_services["name"]) | set(bundled_services["organisation"])
    words |= set(bundled_services["website"]) | set(bundled_services["phone"])
    words = {w for w in words if len(w) >= 8}
    for name, text in texts.items():
        found = [w for w in words if w in text]
        assert not found, f"postcodes/{name} names {found[:3]}"


def test_one_lookup_loads_at_most_200_kb_and_the_folder_stays_small(bundled_site: Path) -> None:
    size = {p.name: p.stat().st_size for p in (bundled_site / "postcodes").iterdir()}
    services_js = (bundled_site / "search-services.js").stat().st_size
    packs = [n for n in size if n not in ("index.js", "places.js", "towns.js")]
    postcode_lookup = size["index.js"] + services_js + max(size[n] for n in packs)
    place_lookup = size["index.js"] + services_js + size["places.js"] + size["towns.js"]
    print(f"postcode lookup: {postcode_lookup:,} bytes; place lookup: {place_lookup:,} bytes")
    assert postcode_lookup <= 200_000 and place_lookup <= 200_000
    total = sum(p.stat().st_size for p in bundled_site.rglob("*") if p.is_file())
    assert total <= 40_000_000, f"the report folder is {total:,} bytes"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_name", ["index.html", "map.html"])
def test_an_answer_has_no_axe_violations(
    bundled_site: Path, browser: Any, width: int, page_name: str, tmp_path: Path
) -> None:
    page, watch = _open(browser, bundled_site / page_name, width, "#find=TR1%202HE")
    _settled(page, "TR1 2HE")
    page.locator("details.sm-find-filters summary").click()
    violations = axe_violations(page, context=".sm-find")
    shot = tmp_path / f"answer-{page_name}-{width}.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}; axe violations: {len(violations)}")
    assert violations == [], describe_violations(violations)
    watch.assert_clean(page)


def test_the_map_answers_and_its_links_leave_the_frame(bundled_site: Path, browser: Any) -> None:
    page, watch = _open(browser, bundled_site / "map.html", 390, "#find=Truro")
    _settled(page, "Truro")
    link = page.locator("#find-results a", has_text="Devon & Cornwall").first
    assert link.get_attribute("href") == "forces/devon-and-cornwall.html"
    assert link.get_attribute("target") == "_top"
    page.locator(".sm-sources summary").click()  # folded on a phone
    assert TOWNS_ATTRIBUTION in page.inner_text(".leaflet-control-attribution")
    _assert_private_stays_private(page)
    index, watch2 = _open(browser, bundled_site / "index.html", 1400)
    frame = index.frame_locator("iframe.mapframe")
    frame.locator(".leaflet-container").wait_for()
    assert frame.locator(".sm-find-box").is_hidden()  # the index has its own box
    watch.assert_clean(page)
    watch2.assert_clean(index)
