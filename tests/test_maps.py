"""The coverage map: data going into it, escaping, confidentiality, self-containment, size."""

from __future__ import annotations

import html
import re
import warnings

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from servicemap.analysis.coverage import GAP_CLASSES
from servicemap.directory.privacy import public_services
from servicemap.errors import DataQualityWarning, MapError
from servicemap.geography.simplified import simplify_force_areas
from servicemap.inputs import load_inputs
from servicemap.render import leaflet as maps
from servicemap.render.classes import NO_DATA_COLOUR, PALETTE, classify_metric
from servicemap.render.district_layer import district_map_frame
from servicemap.render.labels import ATTRIBUTION
from servicemap.render.maps import (
    KIND_COLOURS,
    coverage_map,
    external_references,
    map_services,
    render_map,
    save_map,
    service_popup_html,
)
from worlds import (
    CODES,
    HOSTILE_NAME,
    NAMES,
    SLUGS,
    _reference_forces,
    district_headings,
    district_layer_of,
    district_tooltips,
    geojson_of,
    make_coverage,
    make_district_coverage,
    make_districts,
    make_forces,
    make_services,
    map_panels,
    marker_data,
    marker_rows,
    popups_from_marker_data,
)


@pytest.fixture
def forces():
    return make_forces()


@pytest.fixture
def coverage(forces):
    return make_coverage(forces)


@pytest.fixture
def services(canonical_services):
    return public_services(make_services(canonical_services))


@pytest.fixture
def m(forces, coverage, services):
    return coverage_map(forces, coverage, services)


# --- force areas ------------------------------------------------------------------------------


def test_one_feature_per_force_with_code_and_profile_link(m):
    data = geojson_of(m)
    assert [f["id"] for f in data["features"]] == CODES
    assert [f["properties"]["force_name"] for f in data["features"]] == NAMES
    for feature, slug in zip(data["features"], SLUGS, strict=True):
        assert f"href='forces/{slug}.html'" in feature["properties"]["popup"]


def test_gap_score_uses_fixed_classes_of_twenty(m):
    colours = [f["properties"]["colour"] for f in geojson_of(m)["features"]]
    # 10 -> 0–20, 35 -> 20–40, 65 -> 60–80, 95 -> 80–100
    assert colours == [PALETTE[0], PALETTE[1], PALETTE[3], PALETTE[4]]
    labels = [f["properties"]["class_label"] for f in geojson_of(m)["features"]]
    assert labels == ["0–20", "20–40", "60–80", "80–100"]


def test_tooltip_shows_the_measures(m):
    tooltip = geojson_of(m)["features"][1]["properties"]["tooltip"]
    assert NAMES[1] in html.unescape(tooltip)
    assert "<td>35</td>" in tooltip
    assert f"<td>{html.escape(GAP_CLASSES[1])}</td>" in tooltip
    assert "Local services" in tooltip


def test_force_names_are_escaped_in_tooltips(forces, coverage, services):
    renamed = forces.assign(force_name=["<img src=x onerror=alert(1)>", *forces["force_name"][1:]])
    data = geojson_of(coverage_map(renamed, coverage, services))
    tooltip = data["features"][0]["properties"]["tooltip"]
    assert "<img" not in tooltip
    assert "&lt;img src=x onerror=alert(1)&gt;" in tooltip


def test_other_numeric_measures_use_quintiles():
    values = pd.Series([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    classes = classify_metric(values, metric="local_services")
    assert len(classes.labels) == 5
    assert classes.colours == PALETTE
    assert classes.index == (0, 0, 1, 1, 2, 2, 3, 3, 4, 4)


def test_missing_values_are_no_data(forces, coverage, services):
    with_gap = coverage.assign(gap_score=[10.0, np.nan, 65.0, 95.0])
    data = geojson_of(coverage_map(forces, with_gap, services))
    second = data["features"][1]["properties"]
    assert second["colour"] == NO_DATA_COLOUR
    assert second["class_label"] == "no data"
    assert second["value"] is None


def test_gap_class_is_coloured_from_covered_to_none(forces, coverage, services):
    data = geojson_of(coverage_map(forces, coverage, services, metric="gap_class"))
    colours = {f["properties"]["class_label"]: f["properties"]["colour"] for f in data["features"]}
    assert colours[GAP_CLASSES[2]] == PALETTE[0]  # covered: lightest
    assert colours[GAP_CLASSES[0]] == PALETTE[-1]  # no local provision: darkest


def test_shares_are_shown_as_percentages(forces, coverage, services):
    data = geojson_of(coverage_map(forces, coverage, services, metric="in_person_within_25km"))
    assert "<td>90%</td>" in data["features"][0]["properties"]["tooltip"]


def test_unknown_measure_names_the_choices(forces, coverage, services):
    with pytest.raises(
        MapError, match=r"Unknown coverage measure 'nope'; choose --metric from: .*gap_score"
    ):
        coverage_map(forces, coverage, services, metric="nope")


def test_too_many_categories_raise():
    with pytest.raises(MapError, match="has 6 categories"):
        classify_metric(pd.Series(list("abcdef")), metric="letters")


def test_boundaries_without_crs_raise(forces, coverage, services):
    with pytest.raises(MapError, match="no CRS"):
        coverage_map(forces.set_crs(None, allow_override=True), coverage, services)


def test_inputs_are_not_changed(forces, coverage, services):
    before = (forces.copy(), coverage.copy(), services.copy())
    coverage_map(forces, coverage, services)
    pd.testing.assert_frame_equal(forces, before[0])
    pd.testing.assert_frame_equal(coverage, before[1])
    pd.testing.assert_frame_equal(services, before[2])


# --- services ---------------------------------------------------------------------------------


def test_markers_leave_out_confidential_and_national_services(m):
    rows = marker_rows(m)
    assert sorted(r["tooltip"] for r in rows) == sorted(
        [
            "Safe Steps &amp; Co",
            html.escape(HOSTILE_NAME),
            html.escape("Regional legal ${alert(4)} `x` \\u"),
        ]
    )


def test_confidential_services_are_left_out_even_without_public_services(canonical_services):
    raw = make_services(canonical_services)  # locations still present
    placed = map_services(raw)
    assert set(placed["id"]) == {"s1", "s2", "s5"}


def test_markers_are_coloured_by_their_scarcest_kind(m):
    by_layer = {r["layer"]: r["colour"] for r in marker_rows(m)}
    assert by_layer == {
        "Legal and immigration advice (local)": KIND_COLOURS["legal_immigration"],
        "Counselling and group support (local)": KIND_COLOURS["counselling"],
        "Legal and immigration advice (regional)": KIND_COLOURS["legal_immigration"],
    }


def test_one_layer_per_kind_and_scope_in_the_layer_control(m):
    render_map(m)
    control = next(c for c in m._children.values() if isinstance(c, folium.LayerControl))
    names = [re.sub(r"<[^>]+>", "", name).strip() for name in control.overlays]
    assert names == [
        "Force areas: Gap score (0 = best served, 100 = nothing found)",
        "Legal and immigration advice (local)",
        "Legal and immigration advice (regional)",
        "Counselling and group support (local)",
    ]


def test_the_page_holds_every_popup_in_one_compact_array(m):
    # the script's popups, rebuilt from the page's array, are the library's popups exactly
    rebuilt = popups_from_marker_data(marker_data(render_map(m)))
    assert rebuilt == [{k: r[k] for k in rebuilt[0]} for r in marker_rows(m)]
    assert len(rebuilt) == 3


def test_popup_escapes_every_text_and_keeps_only_http_links(m):
    popups = {r["tooltip"]: r["popup"] for r in marker_rows(m)}
    hostile = popups[html.escape(HOSTILE_NAME)]
    assert "<script>" not in hostile
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile
    assert "&quot; onmouseover=&quot;alert(2)" in hostile
    assert "javascript:" not in hostile
    safe = popups["Safe Steps &amp; Co"]
    assert "href='https://example.org/a?x=1&amp;y=2'" in safe
    assert "href='tel:01610000000'" in safe
    assert "Polish, Urdu" in safe
    assert "1 Public Street, AB1 2CD" in safe


@pytest.mark.parametrize(
    "website",
    ["javascript:alert(1)", "data:text/html,<b>", "ftp://example.org", "//example.org", "http://"],
)
def test_only_http_websites_become_links(website):
    popup = service_popup_html({"name": "x", "website": website})
    assert "href" not in popup


def test_national_services_are_listed_in_a_panel(m):
    panel = map_panels(m)["National"]
    assert "National services (1)" in panel
    assert "<strong>National helpline &lt;b&gt;</strong>" in panel
    assert "href='tel:08082000247'" in panel
    assert "National helpline <b>" not in render_map(m)


def test_confidential_locations_never_reach_the_page(forces, coverage, canonical_services):
    raw = make_services(canonical_services)
    page = render_map(coverage_map(forces, coverage, public_services(raw)))
    hidden = raw.loc[raw["id"].isin(["s3", "s4"])].to_crs("EPSG:4326")
    for point in hidden.geometry:
        for decimals in (3, 4, 5):
            assert f"{point.y:.{decimals}f}" not in page
            assert f"{point.x:.{decimals}f}" not in page
    for text in ("17 Quietwater Close", "ZZ9 9ZZ", "9 Larkspur Mews"):
        assert text not in page
    public = raw.loc[raw["id"] == "s1"].to_crs("EPSG:4326").geometry.iloc[0]
    assert f"{public.y:.4f}" in page  # the same search finds a public location


# --- the page ---------------------------------------------------------------------------------


def test_legend_says_what_the_colours_mean(m):
    page = map_panels(m)["Legend"]
    assert "Gap score (0 = best served, 100 = nothing found)" in page
    for label in ("0–20 (1 force)", "40–60 (0 forces)", "80–100 (1 force)"):
        assert label in page
    assert "Darker = bigger gap" in page
    assert "Confidential addresses (refuges) are never shown" in page


def test_attribution_is_on_the_map(m):
    page = render_map(m)
    assert html.escape(ATTRIBUTION) in page.replace("\\u00a9", "©")


def test_page_has_no_external_scripts_or_styles(m):
    page = render_map(m)
    assert external_references(page) == []
    assert "L.markerClusterGroup" in page
    assert "leaflet.markercluster" not in page.split("<script>")[0]  # inlined, not linked
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert re.search(r"<link[^>]*stylesheet", page) is None
    assert "tile.openstreetmap.org" not in page


def test_external_reference_check_finds_cdn_links():
    default_page = folium.Map().get_root().render()
    found = external_references(default_page)
    assert any("leaflet" in snippet for snippet in found)


def test_tiles_add_a_base_map(forces, coverage, services):
    page = render_map(coverage_map(forces, coverage, services, tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org" in page
    assert external_references(page) == []  # tiles are images, not scripts


def test_save_map_writes_the_page_atomically(m, tmp_path):
    target = tmp_path / "maps" / "coverage.html"
    assert save_map(m, target) == target
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in page
    assert sorted(p.name for p in target.parent.iterdir()) == ["coverage.html"]


def test_missing_leaflet_package_is_explained(monkeypatch, m):
    real = maps.resources.files

    def files(package):
        if package.startswith("xstatic"):
            raise ModuleNotFoundError(package)
        return real(package)

    monkeypatch.setattr(maps.resources, "files", files)
    with pytest.raises(MapError, match="reinstall servicemap"):
        coverage_map(make_forces(), make_coverage(make_forces()), map_services(gpd.GeoDataFrame()))


# --- the district layer ------------------------------------------------------------------------


@pytest.fixture
def districts(forces):
    return make_districts(forces)


@pytest.fixture
def district_frame(forces, districts):
    return district_map_frame(districts, make_district_coverage(districts, forces))


@pytest.fixture
def with_districts(forces, coverage, services, district_frame):
    return coverage_map(forces, coverage, services, districts=district_frame)


def test_the_district_layer_is_a_second_base_layer_off_by_default(with_districts):
    page = render_map(with_districts)
    control = next(
        c for c in with_districts._children.values() if isinstance(c, folium.LayerControl)
    )
    assert list(control.base_layers) == ["Police force areas", "Local authority districts"]
    assert not any("Force areas" in name or "district" in name for name in control.overlays)
    layer = district_layer_of(with_districts)
    assert (layer.show, layer.overlay) == (False, False)
    forces = next(c for c in with_districts._children.values() if isinstance(c, folium.GeoJson))
    assert (forces.show, forces.overlay) == (True, False)
    # only the force layer is put on the map when the page opens
    assert f"{forces.get_name()}.addTo(" in page
    assert f"{layer.get_name()}.addTo(" not in page
    # both layers exist before the layer list's script names them
    assert page.index(f"var {layer.get_name()} =") < page.index("L.control.layers(")
    assert "servicemapUI.areaLayers(" in page


def test_without_districts_the_force_layer_stays_an_overlay(m):
    render_map(m)
    control = next(c for c in m._children.values() if isinstance(c, folium.LayerControl))
    assert list(control.base_layers) == []
    assert "servicemapUI.areaLayers(" not in render_map(m)


def test_every_district_is_drawn_in_the_class_of_its_gap_score(with_districts, districts):
    features = district_layer_of(with_districts).data["features"]
    assert [f["id"] for f in features] == list(districts["district_code"])
    # scores 5, 15, 25, ... 75: classes of twenty, two districts in each
    expected = [PALETTE[min(int((5 + 10 * i) // 20), 4)] for i in range(len(features))]
    assert [f["properties"]["c"] for f in features] == expected


def test_a_district_without_figures_is_no_data(forces, districts):
    table = make_district_coverage(districts, forces).iloc[1:]
    frame = district_map_frame(districts, table)
    assert frame["colour"].tolist()[:2] == [NO_DATA_COLOUR, PALETTE[0]]
    assert frame["force_name"].iloc[0] == NAMES[0]  # from the force register


def test_a_districts_tooltip_gives_its_force_gap_and_access(with_districts, districts):
    layer = district_layer_of(with_districts)
    tooltip = district_tooltips(layer)[districts["district_code"].iloc[3]]
    assert tooltip.startswith(f"<strong>{html.escape(NAMES[1])} East</strong>")
    for heading, value in (
        ("Police force area", html.escape(NAMES[1])),
        ("Gap score (0 = best served, 100 = nothing found)", "35"),
        ("Gap class", html.escape(GAP_CLASSES[0])),
        ("Residents reached by a local service", "30%"),
        ("Residents within 10 km of an in-person service", "25%"),
        ("Residents within 25 km of an in-person service", "50%"),
    ):
        assert f"<th scope='row'>{heading}</th><td>{value}</td>" in tooltip
    # the shorter radius first; the popup's link goes to the force's profile
    assert tooltip.index("10 km") < tooltip.index("25 km")
    assert layer.data["features"][3]["properties"]["s"] == SLUGS[1]
    assert '"forces/"' in layer.on_each_feature.js_code


def test_district_and_force_names_are_escaped(forces, coverage, services, districts):
    table = make_district_coverage(districts, forces)
    table.loc[0, "district_name"] = HOSTILE_NAME
    table.loc[0, "force_name"] = '<img src=x onerror="alert(3)">'
    m = coverage_map(forces, coverage, services, districts=district_map_frame(districts, table))
    layer = district_layer_of(m)
    tooltip = district_tooltips(layer)[table.loc[0, "district_code"]]
    assert "<script" not in tooltip and "<img" not in tooltip
    assert html.escape(HOSTILE_NAME) in tooltip
    assert html.escape('<img src=x onerror="alert(3)">') in tooltip
    page = render_map(m)
    assert HOSTILE_NAME not in page and "<img src=x" not in page
    assert all("<" not in heading for heading in district_headings(layer))


def test_the_legend_gives_the_key_of_each_area_layer(with_districts):
    legend = map_panels(with_districts)["Legend"]
    forces_part, districts_part = legend.split("<div data-sm-areas='districts' hidden>")
    assert "<div data-sm-areas='forces'><h2>Police force areas: Gap score" in forces_part
    assert "<h2>Local authority districts: Gap score" in districts_part
    for label in ("0–20 (2 districts)", "60–80 (2 districts)", "80–100 (0 districts)"):
        assert label in districts_part
    assert "Darker = bigger gap." in districts_part
    assert "local authority districts" in map_panels(with_districts)["Title"]


def test_a_district_table_without_its_columns_is_refused(districts):
    with pytest.raises(
        MapError, match=r"lacks column\(s\) 'force_name', 'gap_score'.*coverage_by_district"
    ):
        district_map_frame(districts, districts[["district_code", "district_name", "force_code"]])


def test_districts_without_a_polygon_are_reported(forces, districts):
    table = make_district_coverage(districts, forces)
    with pytest.warns(DataQualityWarning, match=r"1 district\(s\) .* no polygon.*: DX"):
        frame = district_map_frame(
            districts, pd.concat([table, table.iloc[:1].assign(district_code="DX")])
        )
    assert len(frame) == len(districts)


def test_the_area_layers_are_written_as_compact_json(with_districts):
    page = render_map(with_districts)
    assert page.count('"type":"Feature"') == 4 + 8  # the forces', the districts'
    assert '"type": "Feature"' not in page
    # folium's own layers, rendered afterwards, are as folium writes them (the policy restored)
    plain = folium.Map(tiles=None)
    folium.GeoJson({"type": "FeatureCollection", "features": []}).add_to(plain)
    assert '"type": "FeatureCollection"' in plain.get_root().render()


@pytest.fixture(scope="module")
def bundled_districts():
    with warnings.catch_warnings():  # the bundled directory's data-quality notes
        warnings.simplefilter("ignore", DataQualityWarning)
        inputs = load_inputs(districts=True, keep=True)
    assert inputs.district_layer is not None
    return inputs, district_map_frame(*inputs.district_layer)


def test_all_318_districts_are_drawn_with_their_class(bundled_districts):
    inputs, frame = bundled_districts
    m = coverage_map(
        inputs.force_areas, inputs.coverage, public_services(inputs.services), districts=frame
    )
    features = district_layer_of(m).data["features"]
    assert len(features) == 318
    assert {f["id"] for f in features} == set(inputs.districts["district_code"])
    scores = inputs.districts.set_index("district_code")["gap_score"]
    for feature in features:
        band = min(int(scores[feature["id"]] // 20), 4)
        assert feature["properties"]["c"] == PALETTE[band], feature["id"]
        assert feature["geometry"]["coordinates"], feature["id"]
    counts = [int(n) for n in re.findall(r"\((\d+) districts?\)", map_panels(m)["Legend"])]
    assert sum(counts) == 318


def test_the_district_layer_adds_at_most_0_4_mb_to_the_map(bundled_districts):
    inputs, frame = bundled_districts
    public = public_services(inputs.services)
    without = render_map(coverage_map(inputs.force_areas, inputs.coverage, public))
    page = render_map(coverage_map(inputs.force_areas, inputs.coverage, public, districts=frame))
    added = len(page.encode()) - len(without.encode())
    print(f"district layer: +{added / 1e6:.3f} MB")
    assert 0 < added <= 400_000


# --- simplification and size on real boundaries -----------------------------------------------


def test_simplified_forces_keep_shared_borders():
    forces = _reference_forces()
    simplified = simplify_force_areas(forces, max_vertices=15_000)
    assert int(shapely.get_num_coordinates(simplified.geometry.values).sum()) <= 15_000
    projected = simplified.to_crs("EPSG:27700")
    total = projected.area.sum()
    union = shapely.union_all(shapely.make_valid(projected.geometry.values)).area
    # Neighbours simplified together: no overlaps appear (sum of areas = area of the union).
    assert abs(total - union) / union < 1e-3
    original = forces.to_crs("EPSG:27700").area.sum()
    assert abs(total - original) / original < 0.01


def test_overlapping_boundaries_warn_and_still_simplify():
    overlapping = gpd.GeoDataFrame(
        {"force_code": ["a", "b"], "force_name": ["A", "B"]},
        geometry=[shapely.box(0, 0, 10_000, 10_000), shapely.box(5_000, 0, 15_000, 10_000)],
        crs="EPSG:27700",
    )
    with pytest.warns(DataQualityWarning, match="overlap"):
        simplified = simplify_force_areas(overlapping)
    assert len(simplified) == 2


def test_map_of_the_43_real_forces_is_at_most_2_5_mb(tmp_path, services):
    forces = _reference_forces()
    assert len(forces) == 43
    coverage = pd.DataFrame(
        {"force_code": forces["force_code"], "gap_score": np.linspace(0, 100, len(forces))}
    )
    path = save_map(coverage_map(forces, coverage, services), tmp_path / "coverage.html")
    size = path.stat().st_size
    print(f"map of 43 forces: {size / 1e6:.2f} MB")
    assert size <= 2_500_000
    assert len(geojson_of(coverage_map(forces, coverage, services))["features"]) == 43


@pytest.mark.parametrize(
    ("website", "link"),
    [
        ("bawso.org.uk", "https://bawso.org.uk"),
        ("www.example.org/help?a=1", "https://www.example.org/help?a=1"),
        ("https://example.org.uk/x", "https://example.org.uk/x"),
        ("http://example.org", "http://example.org"),
        ("javascript:alert(1)", None),
        ("mailto:help@example.org", None),
        ("help@example.org", None),
        ("not a website", None),
        ("localhost:8000", None),
        ("", None),
    ],
)
def test_websites_become_links_only_when_they_are_web_addresses(website, link) -> None:
    from servicemap.render.labels import safe_url

    assert safe_url(website) == link


# --- how to reach a service; what the filters read ---------------------------------------------


def _reachable(canonical_services, **fields):
    rows = [{"id": "r1", "name": "Reach", "scope": "local", "easting": 310_000.0,
             "northing": 210_000.0, **fields}]  # fmt: skip
    return public_services(canonical_services(rows))


def test_a_popup_links_the_email_and_dates_the_phone(canonical_services):
    services = _reachable(
        canonical_services, email="help@example.org", phone="0800 1", last_seen="2025-09"
    )
    popup = map_services(services)["popup"][0]
    assert "<dt>Email</dt><dd><a href='mailto:help@example.org'>help@example.org</a></dd>" in popup
    assert "<a href='tel:08001'>0800 1</a> (seen September 2025)" in popup


@pytest.mark.parametrize("email", ["two@example.org; three@example.org", "a@b", "<b>@example.org"])
def test_an_email_that_is_not_one_plain_address_is_no_link(canonical_services, email):
    popup = map_services(_reachable(canonical_services, email=email))["popup"][0]
    assert "mailto:" not in popup and "<dt>Email</dt>" not in popup


def test_the_marker_array_holds_the_filters_data(canonical_services):
    services = _reachable(
        canonical_services,
        service_types="housing;legal_advice",
        location_confidential="no",
        languages="Urdu; Polish",
        communities="South Asian women",
        by_and_for="yes",
        nrpf_support="no",
        email="help@example.org",
    )
    other = _reachable(canonical_services, id="r2", name="Other", service_types="helpline")
    services = pd.concat([services, other])
    m = coverage_map(make_forces(), make_coverage(make_forces()), services.reset_index(drop=True))
    data = marker_data(render_map(m))
    # the kinds offered (Refuge and housing = bit 0, legal = bit 1, helplines = bit 4), by and for
    assert sorted(data["f"]) == sorted([0b1 | 0b10 | 64, 0b10000])
    assert data["lg"] == ["Polish", "Urdu"] and data["cm"] == ["South Asian women"]
    assert [label for _, label in data["k"]] == [
        "Refuge and housing (incl. NRPF)",
        "Legal and immigration advice",
        "Helplines",
    ]
    row = data["f"].index(0b1 | 0b10 | 64)
    assert data["g"] == {str(row): [[1, 0], [0]]}
    assert [2, data["s"].index("help@example.org")] in data["r"][row]
