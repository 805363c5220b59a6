"""Figures for print: the coverage map (SVG, 300 dpi PNG) and the locator maps, and their cache."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from servicemap.errors import CacheNotice
from servicemap.render import figures, static_map
from servicemap.render.figures import DPI, force_numbers, locator_pngs, locator_svgs
from servicemap.render.labels import ATTRIBUTION, SHORT_ATTRIBUTION
from servicemap.render.maps import force_map_frame
from servicemap.settings import Settings
from worlds import make_coverage, make_forces


@pytest.fixture
def frame():  # type: ignore[no-untyped-def]
    forces = make_forces()
    return force_map_frame(forces, make_coverage(forces), metric="gap_score")


def test_the_coverage_map_is_a_300_dpi_png_and_an_svg_with_a_numbered_key(frame, tmp_path):
    settings = Settings(cache_dir=tmp_path / "cache")
    png, svg = tmp_path / "coverage.png", tmp_path / "coverage.svg"
    static_map.write_static_map(frame, png, svg_path=svg, title="Coverage", settings=settings)
    with Image.open(png) as image:
        assert image.size == (int(7.5 * DPI), 10 * DPI)
        assert round(image.info["dpi"][0]) == DPI
    text = svg.read_text(encoding="utf-8")
    numbers = force_numbers(frame)
    for code, name in zip(frame["force_code"], frame["force_name"], strict=True):
        assert f"{numbers[code]}  {name}: " in text.replace("\u2007", "")  # the key
    assert ATTRIBUTION.split(".")[0] in text
    assert ">London</text>" in text  # the inset: the Metropolitan Police is in this world


def test_every_force_has_a_small_locator_map(frame):
    svgs, pngs = locator_svgs(frame), locator_pngs(frame)
    assert sorted(svgs) == sorted(pngs) == sorted(frame["slug"])
    for slug, name in zip(frame["slug"], frame["force_name"], strict=True):
        assert f'<title id="t">Where {name} is in England and Wales</title>' in svgs[slug]
        assert SHORT_ATTRIBUTION.split(" Contains")[0] in svgs[slug]
        assert len(svgs[slug]) < 4000
        with Image.open(io.BytesIO(pngs[slug])) as image:
            assert round(image.info["dpi"][0]) == DPI
            assert image.width == round(40 / 25.4 * DPI)
    assert len(set(svgs.values())) == len(svgs)  # each highlights its own force


def test_drawn_figures_are_kept_and_drawn_again_only_when_they_change(
    frame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    first = tmp_path / "a.png"
    static_map.write_static_map(frame, first, title="Coverage", settings=settings)
    locators = static_map.write_locator_maps(frame, tmp_path / "a", settings=settings)
    monkeypatch.setattr(static_map, "coverage_figures", _no_drawing)
    monkeypatch.setattr(static_map, "locator_svgs", _no_drawing)
    second = tmp_path / "b.png"
    static_map.write_static_map(frame, second, title="Coverage", settings=settings)
    again = static_map.write_locator_maps(frame, tmp_path / "b", settings=settings)
    assert second.read_bytes() == first.read_bytes()
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in locators]
    with pytest.raises(AssertionError, match="drawn again"):  # another title: another figure
        static_map.write_static_map(frame, second, title="Another", settings=settings)
    monkeypatch.setattr(static_map, "coverage_figures", figures.coverage_figures)
    static_map.write_static_map(frame, second, title="Another", settings=settings)
    folder = tmp_path / "cache" / "figures"
    kept = {kind.name: len(list(kind.iterdir())) for kind in folder.iterdir()}
    assert kept == {"coverage": 1, "locators": 1}  # only the latest of each


def test_figures_drawn_in_another_projection_are_drawn_again(
    frame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static_map.write_static_map(
        frame, tmp_path / "a.png", title="T", settings=Settings(cache_dir=tmp_path / "cache")
    )
    monkeypatch.setattr(static_map, "coverage_figures", _no_drawing)
    other = Settings(cache_dir=tmp_path / "cache", crs="EPSG:3857")
    with pytest.raises(AssertionError, match="drawn again"):
        static_map.write_static_map(frame, tmp_path / "b.png", title="T", settings=other)


def _no_drawing(*args: object, **kwargs: object) -> None:
    raise AssertionError("drawn again")


def test_a_damaged_cache_entry_is_drawn_again_with_a_notice(frame, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    static_map.write_static_map(frame, tmp_path / "a.png", title="T", settings=settings)
    (entry,) = (tmp_path / "cache" / "figures" / "coverage").iterdir()
    entry.write_bytes(b"not a kept figure")
    with pytest.warns(CacheNotice, match="coverage figure .* cannot be read"):
        static_map.write_static_map(frame, tmp_path / "b.png", title="T", settings=settings)
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    static_map.write_static_map(frame, tmp_path / "c.png", title="T", settings=settings)  # healed


def test_figures_are_written_when_the_cache_folder_cannot_be(frame, tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file, not a folder", encoding="utf-8")
    settings = Settings(cache_dir=tmp_path / "cache")
    png = tmp_path / "a.png"
    static_map.write_static_map(frame, png, title="T", settings=settings)
    written = static_map.write_locator_maps(frame, tmp_path / "locators", settings=settings)
    assert png.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in written) == sorted(
        f"{slug}.{ext}" for slug in frame["slug"] for ext in ("png", "svg")
    )
