"""The coverage report folder: files, accessible table, profiles, CSV, atomic replacement, CLI."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from servicemap._csv import csv_text
from servicemap.analysis.coverage import GAP_WEIGHTS
from servicemap.cli import cli
from servicemap.directory.export import export_table
from servicemap.directory.privacy import public_frame
from servicemap.directory.schema import FIELDS
from servicemap.errors import OutputError
from servicemap.inputs import ReportInputs
from servicemap.render import listings
from servicemap.render import report as report_module
from servicemap.render.downloads import service_downloads
from servicemap.render.labels import ATTRIBUTION
from servicemap.render.report import REPORT_FILES, build_report
from worlds import (
    REFERENCE,
    SLUGS,
    _reference_forces,
    make_coverage,
    make_district_coverage,
    make_districts,
    make_forces,
    make_profiles,
    make_services,
)


@pytest.fixture
def inputs(canonical_services):
    forces = make_forces()
    coverage = make_coverage(forces)
    return forces, coverage, make_services(canonical_services), make_profiles(coverage)


@pytest.fixture
def built(inputs, tmp_path):
    forces, coverage, services, profiles = inputs
    out = tmp_path / "site"
    summary = build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    return out, summary


def _table_rows(page: str) -> list[str]:
    table = page.split('<table id="forces-table"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return re.findall(r"<tr>.*?</tr>", body, flags=re.S)


def test_report_writes_every_file(built):
    out, summary = built
    for name in REPORT_FILES:
        assert (out / name).exists(), name
    assert not (out / "report.pdf").exists()  # only with --pdf
    assert sorted(p.name for p in (out / "forces").iterdir()) == sorted(
        [*(f"{s}.html" for s in SLUGS), *(f"{s}-services.csv" for s in SLUGS)]
    )
    assert summary.forces == 4
    assert summary.map_bytes == (out / "map.html").stat().st_size
    assert (out / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_index_has_an_accessible_table_of_every_force(built):
    out, _ = built
    page = (out / "index.html").read_text(encoding="utf-8")
    rows = _table_rows(page)
    assert len(rows) == 4
    assert "<caption>Coverage for the 4 police force areas" in page
    header = page.split('<table id="forces-table"', 1)[1].split("</thead>", 1)[0]
    assert header.count('scope="col"') == header.count("<th ")
    assert 'aria-sort="ascending">Rank</th>' in header  # sorted by rank without JavaScript
    assert all('<th scope="row"' in row for row in rows)
    assert 'role="status"' in page  # sort changes are announced


def test_table_is_sorted_by_gap_rank_without_javascript(built, inputs):
    out, _ = built
    _, coverage, _, _ = inputs
    rows = _table_rows((out / "index.html").read_text(encoding="utf-8"))
    expected = coverage.sort_values("gap_rank")["force_name"].tolist()
    assert [re.search(r'data-sort="([^"]+)"', r)[1] for r in rows] == expected


def test_index_has_figures_largest_gaps_map_and_methodology(built):
    out, _ = built
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<iframe class="mapframe no-print" src="map.html"' in page
    assert '<img class="print-only" src="coverage.png"' in page
    assert "The five largest gaps" in page
    assert "services in the directory" in page
    assert "“Nothing found” is not the same as “nothing exists”" in page
    for weight in GAP_WEIGHTS.values():
        assert f'<td class="num">{weight:.2f}</td>' in page
    assert html.escape(ATTRIBUTION, quote=False) in page
    assert "@media print" in page


def test_national_services_are_listed_on_the_index(built):
    out, _ = built
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<strong>National helpline &lt;b&gt;</strong>" in page


def test_profiles_escape_text_and_drop_unsafe_links(built):
    out, _ = built
    page = (out / "forces" / f"{SLUGS[0]}.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in page
    assert "Gap statement for" in page and "&lt;b&gt;" in page
    other = (out / "forces" / f"{SLUGS[1]}.html").read_text(encoding="utf-8")
    assert 'href="https://example.org"' in other


def test_profile_compares_the_force_with_its_neighbours(built, inputs):
    out, _ = built
    forces, *_ = inputs
    page = (out / "forces" / f"{SLUGS[1]}.html").read_text(encoding="utf-8")
    compare = page.split('id="neighbours"', 1)[1].split("</table>", 1)[0]
    # The boxes touch in a row: force 1 borders forces 0 and 2 only.
    assert f'href="{SLUGS[0]}.html"' in compare
    assert f'href="{SLUGS[2]}.html"' in compare
    assert f'href="{SLUGS[3]}.html"' not in compare
    assert 'class="this-force"' in compare
    assert "Median police force area" in compare
    assert '<svg class="minimap"' in page and 'role="img"' in page


def test_csv_is_spreadsheet_safe(inputs, tmp_path):
    forces, coverage, services, profiles = inputs
    hostile = coverage.assign(force_name=['=HYPERLINK("x")', *coverage["force_name"][1:]])
    build_report(forces, hostile, services, out_dir=tmp_path / "site", profiles=profiles)
    text = (tmp_path / "site" / "coverage.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4
    assert '\'=HYPERLINK("x")' in [r["force_name"] for r in rows]
    assert rows[0]["gap_rank"] == "1"


def test_rerunning_replaces_the_report_and_keeps_other_files(inputs, tmp_path):
    forces, coverage, services, profiles = inputs
    out = tmp_path / "maps"
    out.mkdir()
    (out / "coverage.html").write_text("made by servicemap map", encoding="utf-8")
    build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    dropped = out / "forces" / f"{SLUGS[3]}.html"
    assert dropped.is_file()
    build_report(forces.head(3), coverage.head(3), services, out_dir=out, profiles=profiles)
    assert not dropped.exists()  # a page the earlier report wrote goes with it
    assert not (out / "forces" / f"{SLUGS[3]}-services.csv").exists()  # and its services
    assert len(list((out / "forces").glob("*.html"))) == 3
    assert (out / "coverage.html").read_text(encoding="utf-8") == "made by servicemap map"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "maps"]
    assert leftovers == []
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".servicemap-report.json"]


def test_a_failed_build_leaves_the_old_report(inputs, tmp_path, monkeypatch):
    forces, coverage, services, profiles = inputs
    out = tmp_path / "site"
    build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    before = (out / "index.html").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(report_module, "write_static_map", broken)
    with pytest.raises(OSError, match="disk full"):
        build_report(forces, coverage, services, out_dir=out, profiles=profiles)
    assert (out / "index.html").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_output_that_is_a_file_is_refused(inputs, tmp_path):
    forces, coverage, services, profiles = inputs
    target = tmp_path / "report.html"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError) as caught:
        build_report(forces, coverage, services, out_dir=target, profiles=profiles)
    assert str(caught.value) == (
        f"Cannot write the report to '{target}': it is a file, not a folder; choose a folder "
        "with -o."
    )
    assert target.read_text(encoding="utf-8") == "x"


def test_report_on_the_43_real_forces(canonical_services, tmp_path):
    """Real boundaries, real coverage (ONS postcode table), real force profiles."""
    from servicemap.analysis.coverage import coverage_by_force
    from servicemap.geography.forces import load_districts

    assert REFERENCE.exists()
    districts = load_districts()
    met = tuple(districts.loc[districts["force_code"] == "E23000001", "code"])
    services = canonical_services(
        [
            {
                "id": "a",
                "name": "Southall advocacy",
                "scope": "local",
                "service_types": "advocacy;legal_advice",
                "latitude": 51.509,
                "longitude": -0.376,
                "delivery": "in_person",
                "served_districts": met,
                "served_forces": ("E23000001",),
                "force_code": "E23000001",
                "status": "active",
            }
        ]
    )
    coverage = coverage_by_force(services)
    summary = build_report(_reference_forces(), coverage, services, out_dir=tmp_path / "site")
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert len(_table_rows(page)) == 43
    assert summary.forces == 43
    assert len(list((tmp_path / "site" / "forces").glob("*.html"))) == 43
    met_page = (tmp_path / "site" / "forces" / "metropolitan.html").read_text(encoding="utf-8")
    assert "Southall advocacy" in met_page
    print(f"report map.html: {summary.map_bytes / 1e6:.2f} MB")


# --- CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def fake_inputs(inputs, monkeypatch):
    forces, coverage, services, profiles = inputs
    loaded = ReportInputs(
        force_areas=forces,
        coverage=coverage,
        services=services,
        boundary_source="test boxes",
        services_source="test services",
    )
    monkeypatch.setattr("servicemap.inputs.load_inputs", lambda **kwargs: loaded)
    monkeypatch.setattr(
        "servicemap.analysis.profile.force_profile",
        lambda code, *args, **kwargs: profiles[code],
    )
    monkeypatch.setattr("servicemap.geography.postcodes.load_postcode_table", lambda **kwargs: None)
    monkeypatch.setattr("servicemap.inputs.geography_from_postcodes", lambda table: None)
    monkeypatch.setattr("servicemap.inputs.prepare_services", lambda services, geography: None)
    return loaded


def test_map_command_writes_the_map(fake_inputs, tmp_path):
    target = tmp_path / "coverage.html"
    result = CliRunner().invoke(cli, ["map", "-o", str(target), "--metric", "local_services"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        rf"Wrote the map to {re.escape(str(target))} \(\d+\.\d MB\) in \d+\.\d s\n", result.output
    )
    assert "Local services" in target.read_text(encoding="utf-8")


def test_map_command_explains_an_unknown_measure(fake_inputs, tmp_path):
    result = CliRunner().invoke(cli, ["map", "-o", str(tmp_path / "m.html"), "--metric", "nope"])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: Unknown coverage measure 'nope'; choose --metric from: "
    )
    assert not (tmp_path / "m.html").exists()


def test_report_command_writes_the_site(fake_inputs, tmp_path):
    out = tmp_path / "maps"
    result = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert result.exit_code == 0, result.output
    # every file it wrote is counted (the search's postcode files too), not its hidden record
    written = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(written) > 300 and (out / "postcodes").is_dir()
    assert re.fullmatch(
        rf"Wrote the report \({len(written)} files, 4 force profiles\) to "
        rf"{re.escape(str(out / 'index.html'))} in \d+\.\d s\n",
        result.output,
    )
    assert "test boxes" in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(("command", "page"), [("map", "coverage.html"), ("report", "map.html")])
def test_map_and_report_draw_the_district_layer(inputs, monkeypatch, tmp_path, command, page):
    forces, coverage, services, profiles = inputs
    districts = make_districts(forces)
    asked: list[dict[str, object]] = []
    loaded = ReportInputs(
        force_areas=forces, coverage=coverage, services=services, boundary_source="test boxes",
        services_source="test services", districts=make_district_coverage(districts, forces),
        district_areas=districts,
    )  # fmt: skip
    monkeypatch.setattr(
        "servicemap.inputs.load_inputs", lambda **kwargs: asked.append(kwargs) or loaded
    )
    monkeypatch.setattr(
        "servicemap.inputs.profile_maker", lambda *args, **kwargs: lambda code: profiles[code]
    )
    target = tmp_path / page if command == "map" else tmp_path / "out" / page
    out = target if command == "map" else target.parent
    result = CliRunner().invoke(cli, [command, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [kwargs["districts"] for kwargs in asked] == [True]
    written = target.read_text(encoding="utf-8")
    assert '"Local authority districts"' in written and "servicemapUI.district(" in written
    assert all(f'"id":"{code}"' in written for code in districts["district_code"])


def test_report_command_refuses_a_file(fake_inputs, tmp_path):
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", "-o", str(target)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot write the report to '{target}': it is a file, not a folder; choose a "
        "folder with -o.\n"
    )
    assert target.read_text(encoding="utf-8") == "x"


def test_readme_documents_the_commands():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^\| `servicemap ([a-z-]+)", readme, flags=re.M)
    assert "map" in commands
    assert "report" in commands


def test_the_service_downloads_are_spreadsheet_safe(canonical_services):
    """A name that a spreadsheet would run as a formula is written as text, in every CSV."""
    services = make_services(canonical_services)
    services.loc[services["id"] == "s1", "name"] = '=HYPERLINK("http://evil.example","x")'
    files = service_downloads(services, {"one": ["s1"]})
    for name in ("services.csv", "forces/one-services.csv"):
        rows = list(csv.DictReader(io.StringIO(files[name])))
        names = [row["name"] for row in rows if row["id"] == "s1"]
        assert names == ['\'=HYPERLINK("http://evil.example","x")'], name


@pytest.mark.parametrize(
    "name", ["=SUM(A1)", 'two\r\nlines, "quoted"', "the row end \x1e\r\n in a cell"]
)
def test_each_force_download_is_its_rows_of_the_directory_made_safe(canonical_services, name):
    """Each force's CSV equals csv_text of its own rows (the safe table is made once)."""
    services = make_services(canonical_services)
    services.loc[services["id"] == "s1", "name"] = name
    ids = list(services["id"])
    force_ids = {"all": ids, "backwards": ids[::-1], "first": ids[:1], "none": []}
    files = service_downloads(services, force_ids)
    table = export_table(public_frame(services))
    for slug, chosen in force_ids.items():
        rows = [list(table["id"]).index(i) for i in chosen]
        expected = csv_text(table.iloc[rows][list(FIELDS)], lineterminator="\r\n")
        assert files[f"forces/{slug}-services.csv"] == expected, slug


def test_profile_listings_are_made_from_the_listed_cells_alone(inputs):
    """Reusing a listing across force pages gives each page what listing its own rows gives."""
    profiles = list(inputs[3].values())
    kept: dict = {}
    for profile in profiles + profiles:  # the second pass reuses every listing
        rows = profile.services.to_dict(orient="records")
        expected = [listings.service_listing(row) for row in rows]
        assert listings.profile_services(profile.services, kept) == expected
    assert len(kept) == 2  # the hostile first profile's service, and "Safe Steps"


def test_the_downloads_made_on_another_core_are_those_made_here(inputs, monkeypatch):
    """report_pages makes the downloads, snapshot and map in forked copies: the same files."""
    import datetime as dt

    from servicemap import _beside

    forces, coverage, services, profiles = inputs
    day = dt.date(2026, 12, 4)
    can_fork = _beside.can_fork()
    works = []
    started = _beside.Beside.__init__

    def noting(self, *args, **kwargs):
        started(self, *args, **kwargs)
        works.append(self)

    monkeypatch.setattr(_beside.Beside, "__init__", noting)
    monkeypatch.setattr(report_module, "figures_kept", lambda *a, **k: False)  # a first report
    beside_pages = report_module.report_pages(
        forces, coverage, services, profiles=profiles, generated=day
    )
    monkeypatch.setattr(_beside, "cores", lambda: 1)
    here_pages = report_module.report_pages(
        forces, coverage, services, profiles=profiles, generated=day
    )
    # the copies' answers were used (not made again here after a failed copy)
    assert [(w.forked, w.answered) for w in works] == [(can_fork, can_fork)] * 3 + [
        (False,) * 2
    ] * 3
    assert beside_pages.downloads == here_pages.downloads
    assert beside_pages.figures is not None and beside_pages.figures == here_pages.figures
    assert len(beside_pages.figures.locators) == 2 * len(forces)
    folium_ids = re.compile(r"_[0-9a-f]{32}(?![0-9a-f])")  # folium names each element afresh
    assert folium_ids.sub("_", beside_pages.map_html) == folium_ids.sub("_", here_pages.map_html)
    assert beside_pages.snapshot == here_pages.snapshot
    assert set(beside_pages.downloads) >= {"services.csv", "services.json"}


def test_kept_figures_are_not_drawn_again_beside_the_pages(inputs, monkeypatch):
    from servicemap.render import static_map

    forces, coverage, services, profiles = inputs
    monkeypatch.setattr(report_module, "figures_kept", lambda *a, **k: True)
    monkeypatch.setattr(static_map, "coverage_figures", _never_drawn)
    pages = report_module.report_pages(forces, coverage, services, profiles=profiles)
    assert pages.figures is None  # write_report copies the kept ones


def _never_drawn(*args, **kwargs):
    raise AssertionError("drawn although kept")


def test_force_profiles_made_half_on_another_core_are_those_made_here(
    bundled_services, monkeypatch
):
    """inputs.force_profiles makes the second half in a forked copy: the same profiles, in order,
    with the progress wrapper given every code."""
    import pandas as pd

    from servicemap import _beside
    from servicemap.analysis.coverage import coverage_by_district, coverage_by_force
    from servicemap.inputs import force_profiles

    coverage = coverage_by_force(bundled_services)
    districts = coverage_by_district(bundled_services)
    codes = [str(code) for code in coverage["force_code"]]
    shown: list[list[str]] = []

    def progress(items):
        shown.append(list(items))
        return items

    kwargs = {"codes": codes, "districts": districts, "progress": progress}
    works = []
    started = _beside.Beside.__init__

    def noting(self, *args, **kwargs):
        started(self, *args, **kwargs)
        works.append(self)

    monkeypatch.setattr(_beside.Beside, "__init__", noting)
    beside_made = force_profiles(bundled_services, coverage, **kwargs)
    can_fork = _beside.can_fork()
    assert [(w.forked, w.answered) for w in works] == [(can_fork, can_fork)]
    monkeypatch.setattr(_beside, "cores", lambda: 1)
    here_made = force_profiles(bundled_services, coverage, **kwargs)
    assert list(beside_made) == list(here_made) == codes
    assert shown == [codes, codes]
    for code in codes:
        assert beside_made[code].to_dict() == here_made[code].to_dict()
        pd.testing.assert_frame_equal(beside_made[code].services, here_made[code].services)
        pd.testing.assert_frame_equal(beside_made[code].districts, here_made[code].districts)


def test_force_profiles_with_repeated_codes_and_a_wrapper_that_stops(bundled_services):
    """Each code is profiled once however often it is asked for; a progress wrapper that gives
    only some codes gets those profiles, in its order."""
    from servicemap.analysis.coverage import coverage_by_force
    from servicemap.inputs import force_profiles

    coverage = coverage_by_force(bundled_services)
    codes = [str(code) for code in coverage["force_code"]][:4]
    asked = [codes[2], codes[0], codes[2], codes[3], codes[1]]
    made = force_profiles(bundled_services, coverage, codes=asked)
    assert list(made) == [codes[2], codes[0], codes[3], codes[1]]
    assert all(made[code].code == code for code in made)
    some = force_profiles(bundled_services, coverage, codes=codes, progress=lambda items: items[:3])
    assert list(some) == codes[:3]
