"""Kept results: the commands' services frame and coverage tables, reused between runs.

They must give exactly what the full computation gives, be rebuilt when an input changes,
heal when damaged, and never put a confidential service's place in the cache folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap.analysis import kept
from servicemap.analysis.coverage import coverage_by_area
from servicemap.analysis.near import services_near
from servicemap.analysis.profile import force_profile
from servicemap.analysis.reach import HINT_COLUMNS, prepare_services
from servicemap.cli import cli
from servicemap.directory import load as directory_load
from servicemap.directory.load import load_services
from servicemap.errors import CacheNotice, DataQualityWarning
from servicemap.geography.postcodes import (
    geography_from_postcodes,
    load_postcode_table,
    postcode_cache_path,
)
from servicemap.settings import Settings

TODAY = dt.date(2026, 12, 2)

# A refuge at a real postcode (its address must never reach the cache), a public centre, a line.
DIRECTORY = """\
id,name,scope,areas_served,service_types,delivery,address,postcode,location_confidential,\
source_url,status,last_seen
refuge,Haven Refuge,local,Manchester,refuge,in_person,14 Quietlane Close,M20 4BJ,yes,\
https://example.org/a,active,2026-06
centre,Open Door Centre,local,,advocacy,in_person,2 High Street,UB1 3BL,no,\
https://example.org/b,active,2026-06
line,Far Line,national,England and Wales,helpline,remote,,,,https://example.org/c,unknown,2026-06
"""


@pytest.fixture(scope="module")
def postcode_file() -> Path:
    """The real postcode table's cache file (built once if this machine has none yet)."""
    load_postcode_table()
    return postcode_cache_path()


@pytest.fixture
def settings(tmp_path: Path, postcode_file: Path) -> Settings:
    """A fresh cache folder that shares the real postcode table (linked, not rebuilt)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / postcode_file.name).symlink_to(postcode_file)
    return Settings(cache_dir=cache)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "own.csv"
    path.write_text(DIRECTORY, encoding="utf-8")
    return path


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Count the directory loads behind the kept frame."""
    seen: list[Path] = []
    real = directory_load.load_services

    def counted(path: Path, **kwargs: object) -> object:
        seen.append(Path(path))
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(directory_load, "load_services", counted)
    return seen


def _load(directory: Path, settings: Settings, today: dt.date = TODAY) -> pd.DataFrame:
    with pytest.warns(DataQualityWarning):
        return kept.load_public_services(directory, settings=settings, today=today)


def _kept_files(settings: Settings, kind: str) -> list[Path]:
    return sorted((settings.cache_dir / kind).glob("*.pickle"))


# --- the same answers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled directory: the full frame and the kept (public, hinted) one."""
    with pytest.warns(DataQualityWarning):
        full = load_services()
    with pytest.warns(DataQualityWarning):
        public = kept.load_public_services()
    return full, public


def test_the_kept_frame_withholds_confidential_places_and_carries_hints(bundled) -> None:
    full, public = bundled
    confidential = full["confidential"].to_numpy(dtype=bool)
    assert confidential.sum() > 10  # the bundled directory has many
    assert (public.loc[confidential, ["address", "postcode"]] == "").all().all()
    assert (
        public.loc[confidential, ["latitude", "longitude", "easting", "northing"]]
        .isna()
        .all()
        .all()
    )
    assert set(HINT_COLUMNS) <= set(public.columns)
    assert "geometry" not in public.columns
    public_rows = ~confidential
    columns = ["address", "postcode", "easting", "northing"]
    pd.testing.assert_frame_equal(
        public.loc[public_rows, columns], full.loc[public_rows, columns], check_dtype=False
    )


@pytest.mark.parametrize("level", ["force", "district"])
def test_coverage_of_the_kept_frame_equals_coverage_of_the_full_one(bundled, level) -> None:
    full, public = bundled
    expected = coverage_by_area(full, level=level)
    got = kept.kept_coverage(public, level=level)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs


@pytest.mark.parametrize("place", ["TR1 2HE", "UB1 3BL", "M20 4BJ", "ST4", "CF10 1"])
def test_near_on_the_kept_frame_equals_near_on_the_full_one(bundled, place) -> None:
    full, public = bundled
    expected = services_near(place, full)
    got = services_near(place, public)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs


@pytest.mark.parametrize("force", ["Kent", "Greater Manchester", "Metropolitan Police", "Gwent"])
def test_profiles_on_the_kept_frame_equal_profiles_on_the_full_one(bundled, force) -> None:
    full, public = bundled
    coverage = coverage_by_area(full)
    districts = coverage_by_area(full, level="district")
    expected = force_profile(force, full, coverage, districts=districts)
    got = force_profile(force, public, coverage, districts=districts)
    assert got.to_dict() == expected.to_dict()


def test_a_refuge_with_a_place_counts_the_same_in_the_kept_frame(directory, settings) -> None:
    # The bundled directory's confidential services publish no place; this refuge has one.
    with pytest.warns(DataQualityWarning):
        full = load_services(directory, settings=settings, today=TODAY)
    public = _load(directory, settings)
    refuge = (full["id"] == "refuge").to_numpy()
    assert np.isfinite(full.loc[refuge, "easting"]).all()
    assert public.loc[refuge, "easting"].isna().all()
    assert (public.loc[refuge, ["address", "postcode"]] == "").all().all()
    for level in ("force", "district"):
        expected = coverage_by_area(full, level=level, settings=settings)
        pd.testing.assert_frame_equal(
            kept.kept_coverage(public, level=level, settings=settings), expected
        )
    manchester = expected.loc[expected["district_name"] == "Manchester"].iloc[0]
    assert manchester["in_person_within_10km"] > 0  # the refuge counts, at its district's centre
    for place in ("M20 4BJ", "UB1 3BL", "M1"):
        expected_near = services_near(place, full, settings=settings)
        pd.testing.assert_frame_equal(
            services_near(place, public, settings=settings), expected_near
        )
    coverage = coverage_by_area(full, settings=settings)
    for force in ("Greater Manchester", "Metropolitan Police"):
        expected_profile = force_profile(force, full, coverage, settings=settings)
        got = force_profile(force, public, coverage, settings=settings)
        assert got.to_dict() == expected_profile.to_dict()


def test_a_row_added_without_hints_counts_from_its_own_place(bundled) -> None:
    full, public = bundled
    extra = full.iloc[[0]].drop(columns="geometry").assign(id="added", confidential=False)
    geography = geography_from_postcodes(load_postcode_table())
    with_full = prepare_services(
        pd.concat([pd.DataFrame(full), extra], ignore_index=True), geography
    )
    with_public = prepare_services(pd.concat([public, extra], ignore_index=True), geography)
    for name in ("in_person", "location_district", "location_force", "area", "postal"):
        assert np.array_equal(getattr(with_public, name), getattr(with_full, name)), name
    assert np.array_equal(with_public.access_xy, with_full.access_xy, equal_nan=True)


# --- kept, and rebuilt when an input changes --------------------------------------------------


def test_the_second_load_is_read_not_built(directory, settings, builds) -> None:
    first = _load(directory, settings)
    second = _load(directory, settings)
    assert builds == [directory]
    pd.testing.assert_frame_equal(first, second)
    assert len(_kept_files(settings, "services")) == 1


def test_the_directorys_warnings_are_raised_again_when_it_is_reused(directory, settings) -> None:
    with pytest.warns(DataQualityWarning) as first:
        kept.load_public_services(directory, settings=settings, today=TODAY)
    with pytest.warns(DataQualityWarning) as again:
        kept.load_public_services(directory, settings=settings, today=TODAY)
    messages = [str(w.message) for w in first]
    assert any("status" in m for m in messages)
    assert [str(w.message) for w in again] == messages


def test_an_edited_directory_is_loaded_again(directory, settings, builds) -> None:
    _load(directory, settings)
    directory.write_text(DIRECTORY.replace("Open Door Centre", "Open Door Hub"), encoding="utf-8")
    edited = _load(directory, settings)
    assert len(builds) == 2
    assert "Open Door Hub" in set(edited["name"])


def test_another_day_is_loaded_again(directory, settings, builds) -> None:
    _load(directory, settings)
    _load(directory, settings, today=TODAY + dt.timedelta(days=1))
    assert len(builds) == 2


def test_coverage_is_kept_and_recomputed_for_other_services(
    directory, settings, monkeypatch
) -> None:
    services = _load(directory, settings)
    calls: list[int] = []
    real = kept.coverage_by_area

    def counted(frame: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
        calls.append(len(frame))
        return real(frame, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kept, "coverage_by_area", counted)
    first = kept.kept_coverage(services, settings=settings)
    again = kept.kept_coverage(services, settings=settings)
    fewer = kept.kept_coverage(services.iloc[:2], settings=settings)
    wider = kept.kept_coverage(services, radii_km=(10, 30), settings=settings)
    assert calls == [3, 2, 3]
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs == again.attrs
    assert not fewer.equals(first)
    assert "in_person_within_30km" in wider.columns


def test_an_edited_need_table_gives_new_coverage(directory, settings, tmp_path) -> None:
    from servicemap._data import data_path

    services = _load(directory, settings)
    need = tmp_path / "need.csv"
    original = data_path("need", "district_need.csv").read_text(encoding="utf-8")
    need.write_text(original, encoding="utf-8")
    before = kept.kept_coverage(services, need_path=need, settings=settings)
    header, first, *rest = original.splitlines()
    cells = first.split(",")
    column = header.split(",").index("born_outside_uk_2021")
    cells[column] = str(int(cells[column]) + 50_000)
    need.write_text("\n".join([header, ",".join(cells), *rest]) + "\n", encoding="utf-8")
    after = kept.kept_coverage(services, need_path=need, settings=settings)
    assert after["born_outside_uk_2021"].sum() == before["born_outside_uk_2021"].sum() + 50_000
    assert len(_kept_files(settings, "coverage")) == 2


# --- damaged entries heal -------------------------------------------------------------------

DAMAGE = {
    "truncated": "it is damaged or incomplete",
    "garbled": "it is damaged or incomplete",
    "zero-byte": "it is empty",
    "folder": "it is a folder, not a file",
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_kept_frame_is_rebuilt_with_a_notice(directory, settings, how) -> None:
    good = _load(directory, settings)
    (path,) = _kept_files(settings, "services")
    content = path.read_bytes()
    if how == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif how == "garbled":
        path.write_bytes(content[:60] + bytes(reversed(content[60:])))
    elif how == "zero-byte":
        path.write_bytes(b"")
    else:
        path.unlink()
        (path / "inside").mkdir(parents=True)
    notice = (
        f"The cached services directory '{path}' cannot be read ({DAMAGE[how]}); rebuilding it "
        "from its inputs (a few seconds)."
    )
    with pytest.warns(CacheNotice, match=re.escape(notice)), pytest.warns(DataQualityWarning):
        healed = kept.load_public_services(directory, settings=settings, today=TODAY)
    pd.testing.assert_frame_equal(healed, good)
    assert path.is_file()
    assert path.read_bytes()[:16] == content[:16]
    _load(directory, settings)  # read again without a notice (filterwarnings=error)


def test_an_unwritable_cache_folder_still_gives_the_answer(directory, settings) -> None:
    (settings.cache_dir / "services").write_text("a file where the folder goes", encoding="utf-8")
    first = _load(directory, settings)
    second = _load(directory, settings)
    pd.testing.assert_frame_equal(first, second)


# --- confidential places stay out of the cache folder --------------------------------------


def test_no_confidential_place_is_written_to_the_cache_folder(directory, settings) -> None:
    services = _load(directory, settings)
    kept.kept_coverage(services, settings=settings)
    kept.kept_coverage(services, level="district", settings=settings)
    with pytest.warns(DataQualityWarning):
        full = load_services(directory, settings=settings, today=TODAY)
    from servicemap.geography.geocode import wgs84_from_bng

    refuge = full.loc[full["id"] == "refuge"].iloc[0]
    assert np.isfinite(refuge["easting"])  # the full frame knows where it is
    (longitude,), (latitude,) = wgs84_from_bng([refuge["easting"]], [refuge["northing"]])
    hidden = [
        "14 Quietlane Close",
        "Quietlane",
        "M20 4BJ",
        "M204BJ",
        f"{refuge['easting']:.0f}",
        f"{refuge['northing']:.0f}",
        f"{latitude:.4f}",
        f"{longitude:.4f}",
    ]
    files = [p for kind in ("services", "coverage") for p in _kept_files(settings, kind)]
    assert len(files) == 3
    for path in files:
        content = path.read_bytes()
        for text in hidden:
            assert text.encode() not in content, (path.name, text)
        for value in (refuge["easting"], refuge["northing"], latitude, longitude):
            assert np.float64(value).tobytes() not in content, (path.name, value)


# --- the commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["near", "M20 4BJ"],
        ["near", "UB1 3BL", "--format", "json"],
        ["force", "Kent"],
        ["plan", "--force", "Kent", "--add", "2"],
        ["plan", "--force", "Kent", "--budget", "300000", "--cost", "120000"],
    ],
)
def test_commands_say_the_same_with_the_kept_results(directory, settings, args) -> None:
    command = [*args, "--services", str(directory), "--cache-dir", str(settings.cache_dir)]
    runner = CliRunner()
    first = runner.invoke(cli, command)
    again = runner.invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert (again.exit_code, again.stdout, again.stderr) == (0, first.stdout, first.stderr)
    assert "Warning" in first.stderr
    assert "Quietlane" not in first.output
    if args[0] == "plan":  # the plan's bound was kept too
        assert _kept_files(settings, "bounds")


# --- coverage with a few services added: measured only where they change something -----------


@pytest.fixture(scope="module")
def full_and_need(bundled):
    from servicemap.geography.need import load_need

    return bundled[0], load_need(level="district")


def _added(full: pd.DataFrame, *, by_and_for: str = "unknown") -> pd.DataFrame:
    from servicemap.analysis.plan import proposal_services

    sites = pd.DataFrame(
        {
            "postcode_district": ["ME5", "CA1", "SW1A"],
            "site_postcode": ["ME5 7RJ", "CA1 1AA", "SW1A 1AA"],
            "easting": [576_400.0, 340_100.0, 529_090.0],
            "northing": [164_300.0, 555_800.0, 179_645.0],
            "district_code": ["E06000035", "E06000064", "E09000033"],
            "force_code": ["E23000032", "E23000002", "E23000001"],
        }
    )
    return proposal_services(sites, kind=None).assign(by_and_for=by_and_for)


@pytest.mark.parametrize("level", ["force", "district", "authority"])
@pytest.mark.parametrize("by_and_for", ["unknown", "yes"])
def test_coverage_after_adding_equals_measuring_everything(full_and_need, level, by_and_for):
    from servicemap.analysis import access

    full, need = full_and_need
    before = coverage_by_area(full, level=level, need=need)
    more = pd.concat([pd.DataFrame(full), _added(full, by_and_for=by_and_for)], ignore_index=True)
    access._LAST_DISTANCES.clear()  # measure from scratch, not from the last measurement
    expected = coverage_by_area(more, level=level, need=need)
    access._LAST_DISTANCES.clear()
    got = coverage_by_area(more, level=level, need=need, before=before)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs
    changed = (
        got["in_person_within_25km"]
        != before.set_index(got.columns[0])
        .reindex(got[got.columns[0]])["in_person_within_25km"]
        .to_numpy()
    ).sum()
    assert changed > 0  # the additions do change something, so the shortcut was tested


def test_a_before_table_that_does_not_match_is_not_used(full_and_need):
    full, need = full_and_need
    other_radii = coverage_by_area(full, need=need, radii_km=(5, 25))
    more = pd.concat([pd.DataFrame(full), _added(full)], ignore_index=True)
    expected = coverage_by_area(more, need=need)
    pd.testing.assert_frame_equal(coverage_by_area(more, need=need, before=other_radii), expected)
    fewer = coverage_by_area(full.iloc[:60], need=need)  # not the first rows' points
    shuffled = pd.concat([pd.DataFrame(full).iloc[::-1], _added(full)], ignore_index=True)
    pd.testing.assert_frame_equal(
        coverage_by_area(shuffled, need=need, before=fewer),
        coverage_by_area(shuffled, need=need),
    )


def test_a_plan_from_kept_results_equals_one_from_scratch(bundled, full_and_need):
    from servicemap.analysis import access
    from servicemap.analysis.plan import propose_sites

    full, need = full_and_need
    public = bundled[1]
    access._LAST_DISTANCES.clear()
    expected = propose_sites(full, n=2, force_code="Kent", need=need)
    access._LAST_DISTANCES.clear()
    got = propose_sites(
        public, n=2, force_code="Kent", need=need, before=kept.kept_coverage(public)
    )
    pd.testing.assert_frame_equal(got.sites, expected.sites)
    pd.testing.assert_frame_equal(got.coverage_change, expected.coverage_change)
    assert (got.solution.chosen, got.solution.value) == (
        expected.solution.chosen,
        expected.solution.value,
    )
    assert got.solution.upper_bound == expected.solution.upper_bound


# --- the report's kept pieces ----------------------------------------------------------------


def test_kept_profiles_equal_the_profiles(bundled, settings):
    _, public = bundled
    coverage = kept.kept_coverage(public, settings=settings)
    districts = kept.kept_coverage(public, level="district", settings=settings)
    profiles = kept.kept_profiles(public, coverage, districts=districts, settings=settings)
    again = kept.kept_profiles(public, coverage, districts=districts, settings=settings)
    assert list(profiles) == list(coverage["force_code"])
    for code in ("E23000032", "E23000001", "W15000002"):
        expected = force_profile(code, public, coverage, districts=districts, settings=settings)
        assert profiles[code].to_dict() == expected.to_dict()
        assert again[code].to_dict() == expected.to_dict()
    assert len(_kept_files(settings, "profiles")) == 1


def test_simplified_areas_are_kept_and_the_same(settings, monkeypatch):
    from geopandas.testing import assert_geodataframe_equal

    from servicemap.geography import boundaries, simplified

    areas = boundaries.load_force_areas(settings=settings)
    calls: list[int] = []
    real = simplified._simplified
    monkeypatch.setattr(simplified, "_simplified", lambda *a: calls.append(1) or real(*a))
    first = simplified.simplify_force_areas(areas, max_vertices=30_000, settings=settings)
    second = simplified.simplify_force_areas(areas, max_vertices=30_000, settings=settings)
    smaller = simplified.simplify_force_areas(areas, max_vertices=10_000, settings=settings)
    assert calls == [1, 1]  # (the report's budget ships simplified: test_boundaries)
    assert_geodataframe_equal(first, second)
    assert first.crs == "EPSG:4326"
    assert list(first.columns) == list(areas.columns)
    assert smaller.geometry.count_coordinates().sum() < first.geometry.count_coordinates().sum()


def test_the_picture_and_workbook_are_kept_and_the_same(bundled, settings, tmp_path, monkeypatch):
    import openpyxl

    from servicemap.render import static_map, workbook
    from servicemap.render.maps import force_map_frame

    _, public = bundled
    coverage = kept.kept_coverage(public, settings=settings)
    from servicemap.geography.boundaries import load_force_areas
    from servicemap.geography.simplified import simplify_force_areas

    frame = simplify_force_areas(force_map_frame(load_force_areas(), coverage), settings=settings)
    frame.attrs.update(force_map_frame(load_force_areas(), coverage).attrs)
    drawn: list[int] = []
    real_draw = static_map.coverage_figures
    monkeypatch.setattr(
        static_map, "coverage_figures", lambda *a, **k: drawn.append(1) or real_draw(*a, **k)
    )
    for name in ("a.png", "b.png"):
        static_map.write_static_map(frame, tmp_path / name, title="Coverage", settings=settings)
    static_map.write_static_map(frame, tmp_path / "c.png", title="Other", settings=settings)
    assert drawn == [1, 1]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    workbook.write_coverage_workbook(coverage, tmp_path / "plain.xlsx")
    for name in ("k1.xlsx", "k2.xlsx"):
        workbook.write_coverage_workbook(coverage, tmp_path / name, settings=settings)
    assert (tmp_path / "k1.xlsx").read_bytes() == (tmp_path / "k2.xlsx").read_bytes()

    def cells(path: Path) -> list[list[object]]:
        book = openpyxl.load_workbook(path)
        return [[c.value for c in row] for sheet in book for row in sheet.iter_rows()]

    assert cells(tmp_path / "k1.xlsx") == cells(tmp_path / "plain.xlsx")


def _picture_frame(public, settings):
    """The simplified, coloured force areas a report draws its picture from."""
    from servicemap.geography.boundaries import load_force_areas
    from servicemap.geography.simplified import simplify_force_areas
    from servicemap.render.maps import force_map_frame

    full = force_map_frame(load_force_areas(), kept.kept_coverage(public, settings=settings))
    frame = simplify_force_areas(full, settings=settings)
    frame.attrs.update(full.attrs)
    return frame


def test_figures_drawn_beside_are_kept_and_written_as_if_drawn_here(
    bundled, settings, tmp_path, monkeypatch
):
    from servicemap.render import static_map

    frame = _picture_frame(bundled[1], settings)
    frame["slug"] = frame["force_code"].str.lower()
    assert not static_map.figures_kept(frame, title="Coverage", settings=settings)
    drawn = static_map.draw_figures(frame, title="Coverage", settings=settings)
    other = static_map.draw_figures(frame, title="Another title", settings=settings)
    calls: list[int] = []
    real_draw = static_map.coverage_figures
    monkeypatch.setattr(
        static_map, "coverage_figures", lambda *a, **k: calls.append(1) or real_draw(*a, **k)
    )
    # figures drawn for another title are not this picture: it is drawn here
    static_map.write_static_map(
        frame, tmp_path / "x.png", title="Coverage", settings=settings, drawn=other
    )
    assert calls == [1] and (tmp_path / "x.png").read_bytes() == drawn.coverage["png"]
    settings_b = dataclasses.replace(settings, cache_dir=tmp_path / "cache-b")
    static_map.write_static_map(
        frame, tmp_path / "a.png", title="Coverage", settings=settings_b, drawn=drawn,
        svg_path=tmp_path / "a.svg",
    )  # fmt: skip
    written = static_map.write_locator_maps(
        frame, tmp_path / "loc", settings=settings_b, drawn=drawn
    )
    assert calls == [1]  # the drawn figures were used
    assert (tmp_path / "a.png").read_bytes() == drawn.coverage["png"]
    assert (tmp_path / "a.svg").read_bytes() == drawn.coverage["svg"]
    assert {p.name: p.read_bytes() for p in written} == drawn.locators
    assert static_map.figures_kept(frame, title="Coverage", settings=settings_b)  # and kept
    assert not static_map.figures_kept(frame, title="Another title", settings=settings_b)
    other_metric = frame.copy()
    other_metric.attrs = {**frame.attrs, "metric": "in_person_within_10km"}  # another legend
    assert not static_map.figures_kept(other_metric, title="Coverage", settings=settings_b)


def test_a_warning_drawing_a_figure_beside_gave_is_kept_with_it(
    bundled, settings, tmp_path, monkeypatch
):
    from servicemap import _beside
    from servicemap.errors import DataQualityWarning
    from servicemap.render import static_map

    frame = _picture_frame(bundled[1], settings)
    real = static_map._draw_coverage

    def warning(*args):
        warnings.warn("a label did not fit", DataQualityWarning, stacklevel=1)
        return real(*args)

    monkeypatch.setattr(static_map, "_draw_coverage", warning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _beside.beside(static_map.draw_figures, frame, title="T", settings=settings) as work:
            drawn = work.result()  # (in a copy where it can fork)
        assert [str(w.message) for w in caught] == []  # given when the figure is kept
        for name in ("a.png", "b.png"):  # drawn beside, then kept
            static_map.write_static_map(
                frame, tmp_path / name, title="T", settings=settings, drawn=drawn
            )
    assert [str(w.message) for w in caught] == ["a label did not fit"] * 2  # and again


def test_a_plan_asked_again_is_read_back_and_the_same(bundled, settings, monkeypatch):
    from servicemap.analysis import plan

    _, public = bundled
    need = kept.kept_need(settings=settings)
    before = kept.kept_coverage(public, settings=settings)
    calls: list[int] = []

    def propose(*args: object, **kwargs: object) -> plan.Proposal:
        calls.append(1)
        return plan.propose_sites(*args, **kwargs)  # type: ignore[arg-type]

    options = {"n": 2, "force_code": "E23000032", "radius_km": 10, "weight": "born_outside_uk"}
    first = kept.kept_proposal(
        propose, public, need=need, before=before, settings=settings, **options
    )
    again = kept.kept_proposal(
        propose, public, need=need, before=before, settings=settings, **options
    )
    other = kept.kept_proposal(
        propose, public, need=need, before=before, settings=settings, **{**options, "n": 1}
    )
    assert calls == [1, 1]
    pd.testing.assert_frame_equal(first.sites, again.sites)
    pd.testing.assert_frame_equal(first.coverage_change, again.coverage_change)
    assert len(other.sites) == 1
    # The read-back problem's matrix is made again from its arrays when first used.
    assert "cover" not in again.problem.__dict__
    assert (again.problem.cover != first.problem.cover).nnz == 0
    assert again.problem.cover.shape == first.problem.cover.shape


def test_a_kept_plans_problem_is_read_back_without_loading_scipy(tmp_path: Path) -> None:
    import pickle
    import subprocess
    import sys

    from scipy.sparse import csr_array

    from servicemap.analysis.sites import SiteProblem

    cover = csr_array(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    problem = SiteProblem(
        candidates=pd.DataFrame({"postcode_district": ["A1", "B2"]}), cover=cover,
        weights=np.ones(3), grid_m=250.0, area_code="E23000032", area_name="Kent", kind=None,
        radius_km=10.0, weight="born_outside_uk", resident_xy=np.zeros((1, 2)),
        resident_weight=np.ones(1), reached_before=np.zeros(1, dtype=bool),
    )  # fmt: skip
    kept_file = tmp_path / "problem.pickle"
    kept_file.write_bytes(pickle.dumps(problem))
    script = (
        "import pickle, sys\n"
        f"problem = pickle.loads(open({str(kept_file)!r}, 'rb').read())\n"
        "print('scipy.sparse' in sys.modules, problem.area_name)\n"
        "print(problem.cover.toarray().tolist(), 'scipy.sparse' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert shown == ["False Kent", "[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]] True"]
