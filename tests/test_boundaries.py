from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import Point, Polygon, box

from servicemap.cli import cli
from servicemap.errors import BoundaryFileError, CacheNotice, DataQualityWarning
from servicemap.geography import _ragged, boundaries, simplified
from servicemap.geography._derive import build_derived_areas
from servicemap.geography.boundaries import (
    compare_force_areas,
    derived_cache_path,
    format_comparison,
    load_district_areas,
    load_force_areas,
    median_iou,
    read_force_areas,
    write_force_areas,
)
from servicemap.geography.forces import FORCE_COUNT, load_districts, load_forces
from servicemap.geography.postcodes import load_postcode_table
from servicemap.settings import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "boundaries"
BSC_2023 = REFERENCE / "pfa_dec2023_ew_bsc.geojson"
MISSING_40 = "no polygon for 40 of the 43 police force areas"


# --- the derived boundaries (one build per session) ---


@pytest.fixture(scope="session")
def derived_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(cache_dir=tmp_path_factory.mktemp("derived-cache"))


@pytest.fixture(scope="session")
def derived(derived_settings: Settings) -> gpd.GeoDataFrame:
    return load_force_areas("derived", settings=derived_settings)


@pytest.fixture(scope="session")
def reference() -> gpd.GeoDataFrame:
    return read_force_areas(BSC_2023)


def test_derived_meets_the_iou_targets_against_ons_2023(
    derived: gpd.GeoDataFrame, reference: gpd.GeoDataFrame
) -> None:
    comparison = compare_force_areas(derived, reference)
    assert len(comparison) == FORCE_COUNT
    assert median_iou(comparison) >= 0.96
    weakest = comparison.loc[comparison["iou"].idxmin()]
    assert weakest["iou"] >= 0.85, f"{weakest['force_name']} IoU {weakest['iou']:.3f}"


def test_derived_has_one_valid_polygon_per_force_in_the_settings_crs(
    derived: gpd.GeoDataFrame,
) -> None:
    forces = load_forces()
    assert list(derived.columns) == ["force_code", "force_name", "geometry"]
    assert list(derived["force_code"]) == sorted(forces["code"])
    names = forces.set_index("code").loc[derived["force_code"], "name"]
    assert list(derived["force_name"]) == list(names)
    assert derived.crs.to_epsg() == 27700
    geometries = derived.geometry.to_numpy()
    assert shapely.is_valid(geometries).all()
    assert not shapely.is_empty(geometries).any()
    # neighbouring forces share edges exactly: no overlaps, no slivers between them
    assert shapely.coverage_is_valid(geometries)


def test_derived_areas_are_plausible(derived: gpd.GeoDataFrame) -> None:
    areas_km2 = derived.set_index("force_code").area / 1e6
    assert 140_000 < areas_km2.sum() < 160_000  # England and Wales: about 151,000 km2
    assert 2 < areas_km2["E23000034"] < 4  # the City of London: 2.9 km2
    assert areas_km2.idxmax() == "W15000004"  # Dyfed-Powys is the largest


def test_derived_is_reprojected_to_the_settings_crs(derived_settings: Settings) -> None:
    lonlat = derived_settings.with_changes(crs="EPSG:4326")
    forces = load_force_areas(settings=lonlat)
    assert forces.crs.to_epsg() == 4326
    west, south, east, north = forces.total_bounds
    assert -6.5 < west < -5 and 49.8 < south < 50.2 and 1.6 < east < 1.9 and 55.7 < north < 55.9


@pytest.fixture(scope="session")
def fresh_build(derived_settings: Settings) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The force and district areas built now from the installed postcode package."""
    return build_derived_areas(load_postcode_table(settings=derived_settings))


def _assert_same_frames(got: gpd.GeoDataFrame, expected: gpd.GeoDataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert got.crs == expected.crs
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(expected.drop(columns="geometry"))
    )
    assert shapely.equals_exact(got.geometry.to_numpy(), expected.geometry.to_numpy(), 0).all()
    wkb = shapely.to_wkb(got.geometry.to_numpy()) == shapely.to_wkb(expected.geometry.to_numpy())
    assert wkb.all()


def test_shipped_boundaries_equal_a_fresh_build(
    fresh_build: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    # the package ships the build for the installed postcode package: it cannot drift
    path = boundaries.shipped_boundaries_path()
    assert path.is_file(), f"run 'servicemap boundaries ship' to write {path.name}"
    forces, districts = boundaries.decode_derived_areas(path.read_bytes())
    _assert_same_frames(forces, fresh_build[0])
    _assert_same_frames(districts, fresh_build[1])
    others = [p.name for p in path.parent.glob("force-areas-*") if p != path]
    assert others == [], "only the build for the installed postcode package is shipped"


@pytest.mark.parametrize("layer", ["forces", "districts"])
def test_shipped_simplified_polygons_equal_a_fresh_simplification(layer: str) -> None:
    # the report's polygons ship simplified beside the boundaries: they cannot drift either
    areas = load_force_areas() if layer == "forces" else load_district_areas()
    budget = simplified.FORCE_VERTICES if layer == "forces" else simplified.DISTRICT_VERTICES
    projected = areas.to_crs("EPSG:27700")
    path = simplified.shipped_simplified_path(projected, budget)
    assert path.is_file(), f"run 'servicemap boundaries ship' to write {path.name}"
    shipped = simplified._read_shipped(path)
    assert shipped is not None
    fresh = simplified._simplified(projected.geometry, budget)
    assert (shapely.to_wkb(shipped) == shapely.to_wkb(fresh)).all()
    names = sorted(p.name for p in path.parent.glob("simplified-*"))
    assert len(names) == 2, f"only the report's two simplifications are shipped: {names}"


def test_shipped_simplified_polygons_are_used_only_for_the_same_polygons_and_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = simplified._simplified
    monkeypatch.setattr(simplified, "_simplified", lambda *a: calls.append(1) or real(*a))
    areas = load_force_areas()
    settings = Settings(cache_dir=tmp_path / "cache")
    shipped = simplified.simplify_force_areas(areas, settings=settings)
    assert calls == []  # read from the shipped file, not simplified
    assert shipped.crs == "EPSG:4326"
    assert list(shipped.columns) == list(areas.columns)
    simplified.simplify_force_areas(areas, max_vertices=10_000, settings=settings)
    moved = areas.set_geometry(areas.geometry.translate(10.0, 0.0))
    simplified.simplify_force_areas(moved, settings=settings)
    assert calls == [1, 1]  # another budget, other polygons: simplified


def test_geometry_arrays_round_trip_exactly_with_and_without_a_scale() -> None:
    rounded = np.array([shapely.box(-1.234, 51.5, 0.001, 52.125)])
    other = np.array([shapely.box(0.1234567, 0.5, 1 / 3, 2.0)])
    signed_zero = np.array([shapely.box(-0.0, 51.5, 0.5, 52.0)])
    for geometries, whole in ((rounded, True), (other, False), (signed_zero, False)):
        arrays: dict[str, object] = {}
        meta = _ragged.put_geometries(arrays, "layer", geometries, scale=1000.0)
        assert meta["whole"] is whole
        back = _ragged.get_geometries(arrays, "layer", meta)
        assert (shapely.to_wkb(back) == shapely.to_wkb(geometries)).all()


def test_shipped_boundaries_are_loaded_without_building_or_caching(
    derived: gpd.GeoDataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("built although the package ships the boundaries")

    monkeypatch.setattr(boundaries, "build_derived_areas", no_build)
    settings = Settings(cache_dir=tmp_path / "cache")
    forces = load_force_areas(settings=settings)
    districts = load_district_areas(settings=settings)
    _assert_same_frames(forces, derived)
    assert len(districts) == len(load_districts())
    assert not (tmp_path / "cache").exists()
    info = boundaries.describe_force_areas(settings=settings)
    assert info["path"] == str(boundaries.shipped_boundaries_path())


def test_another_postcode_package_version_is_built_into_the_cache(
    tmp_path: Path, fake_build: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_shipped = boundaries.data_path("boundaries", "derived")
    monkeypatch.setattr(boundaries, "shipped_boundaries_path", _real_shipped_path)
    monkeypatch.setattr(boundaries, "package_version", lambda: "2099.1.0")
    assert not boundaries.shipped_boundaries_path().exists()
    assert boundaries.shipped_boundaries_path().parent == real_shipped
    settings = Settings(cache_dir=tmp_path / "cache")
    load_force_areas(settings=settings)
    assert fake_build() == 1
    assert "2099.1.0" in derived_cache_path(settings).name
    assert derived_cache_path(settings).is_file()


_real_shipped_path = boundaries.shipped_boundaries_path


def test_encoding_round_trips_exactly_with_any_coordinates(force_boxes: gpd.GeoDataFrame) -> None:
    forces = force_boxes.copy()
    forces["geometry"] = [
        shapely.MultiPolygon([shapely.affinity.rotate(g, 7.3)]) for g in forces.geometry
    ]
    districts = gpd.GeoDataFrame(
        {"district_code": ["E09000001"], "district_name": ["City of London"], "force_code": ["E"]},
        geometry=[shapely.MultiPolygon([box(0.5, 0.25, 10.125, 10)])],
        crs="EPSG:27700",
    )
    got_forces, got_districts = boundaries.decode_derived_areas(
        boundaries.encode_derived_areas(forces, districts)
    )
    _assert_same_frames(got_forces, forces)
    _assert_same_frames(got_districts, districts)


def test_a_damaged_shipped_file_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a derived boundaries file"):
        boundaries.decode_derived_areas(b"garbage")


def test_ship_command_writes_the_shipped_file_and_removes_older_ones(
    tmp_path: Path, fake_build: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "derived" / "force-areas-2026.1.1-0123456789-d9.npz.xz"
    target.parent.mkdir()
    older = target.parent / "force-areas-2025.1.0-0123456789-d3.npz.xz"
    older.write_bytes(b"an older build")
    monkeypatch.setattr(boundaries, "shipped_boundaries_path", lambda: target)
    result = CliRunner().invoke(cli, ["boundaries", "ship", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert fake_build() == 1 and not older.exists()
    forces, districts = boundaries.decode_derived_areas(target.read_bytes())
    assert len(forces) == FORCE_COUNT and list(districts["district_code"]) == ["E06000001"]
    assert "Wrote the derived boundaries to" in result.output
    # the simplified polygons go beside it (not into the package's own folder)
    assert len(list(target.parent.glob("simplified-*.npz.xz"))) == 2
    assert "2 files of simplified polygons" in result.output


def test_cache_key_names_postcode_version_and_derivation_version(
    derived_settings: Settings,
) -> None:
    from servicemap.geography.postcodes import package_version

    name = derived_cache_path(derived_settings).name
    assert package_version() in name
    assert name.endswith(f"-d{boundaries.DERIVED_VERSION}.gpkg")


def test_load_returns_a_fresh_frame_each_time(derived_settings: Settings) -> None:
    first = load_force_areas(settings=derived_settings)
    first.loc[0, "force_name"] = "changed"
    assert load_force_areas(settings=derived_settings).loc[0, "force_name"] == "Metropolitan Police"


def test_district_areas_tile_their_forces(
    derived: gpd.GeoDataFrame, derived_settings: Settings
) -> None:
    districts = load_district_areas(settings=derived_settings)
    register = load_districts()
    assert list(districts.columns) == ["district_code", "district_name", "force_code", "geometry"]
    assert sorted(districts["district_code"]) == sorted(register["code"])
    assert shapely.coverage_is_valid(districts.geometry.to_numpy())
    summed = districts.assign(area=districts.area).groupby("force_code")["area"].sum()
    force_areas = derived.set_index("force_code").area
    # each force is the union of its districts (simplification moves edges a little)
    assert np.allclose(summed.loc[force_areas.index], force_areas, rtol=0.01)


# --- a damaged or missing cache (with a fake build, so no real derivation) ---


def test_missing_cache_is_built_and_written(tmp_path: Path, fake_build: Callable[[], int]) -> None:
    settings = Settings(cache_dir=tmp_path / "new")
    forces = load_force_areas(settings=settings)
    assert fake_build() == 1 and len(forces) == FORCE_COUNT
    assert derived_cache_path(settings).is_file()
    assert [p.name for p in (tmp_path / "new").iterdir()] == [derived_cache_path(settings).name]
    load_force_areas(settings=settings)
    assert fake_build() == 1


def test_stale_builds_are_removed_after_a_build(
    tmp_path: Path, fake_build: Callable[[], int]
) -> None:
    stale = tmp_path / "force-areas-2025.1.0-0123456789-d1.gpkg"
    stale.write_bytes(b"an older build")
    other = tmp_path / "postcodes-2025.1.0.npz"
    other.write_bytes(b"not ours")
    load_force_areas(settings=Settings(cache_dir=tmp_path))
    assert not stale.exists() and other.exists()


def test_damaged_cache_is_rebuilt(tmp_path: Path, fake_build: Callable[[], int]) -> None:
    settings = Settings(cache_dir=tmp_path)
    derived_cache_path(settings).write_bytes(b"not a geopackage")
    with pytest.warns(CacheNotice, match="cannot be read .it is damaged or incomplete.; rebuild"):
        forces = load_force_areas(settings=settings)
    assert fake_build() == 1 and len(forces) == FORCE_COUNT
    assert len(gpd.read_file(derived_cache_path(settings), layer="force_areas")) == FORCE_COUNT


# --- boundary files ---


def _write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    if path.suffix == ".zip":
        shp = path.with_suffix(".shp")
        frame.to_file(shp)
        with zipfile.ZipFile(path, "w") as archive:
            for part in shp.parent.glob(f"{shp.stem}.*"):
                if part != path:
                    archive.write(part, part.name)
                    part.unlink()
    else:
        frame.to_file(path)
    return path


@pytest.mark.parametrize("name", ["forces.geojson", "forces.gpkg", "forces.shp", "forces.zip"])
def test_reads_each_file_format(tmp_path: Path, force_boxes: gpd.GeoDataFrame, name: str) -> None:
    # ONS column names, a CRS to convert from, and names that differ from the register
    source = force_boxes.rename(columns={"force_code": "PFA23CD", "force_name": "PFA23NM"})
    source["PFA23NM"] = ["Met", "City", "NW"]
    path = _write(source.to_crs("EPSG:4326"), tmp_path / name)
    with pytest.warns(DataQualityWarning, match=MISSING_40):
        forces = load_force_areas(path)
    assert list(forces.columns) == ["force_code", "force_name", "geometry"]
    assert list(forces["force_code"]) == ["E23000001", "E23000034", "W15000001"]
    assert list(forces["force_name"]) == ["Metropolitan Police", "London, City of", "North Wales"]
    assert forces.crs.to_epsg() == 27700
    assert np.allclose(forces.area, force_boxes.area, rtol=1e-4)


def test_missing_forces_warning_names_them(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    path = _write(force_boxes, tmp_path / "forces.gpkg")
    with pytest.warns(DataQualityWarning, match=r"E23000002 \(Cumbria\)"):
        read_force_areas(path)


def test_a_complete_file_reads_without_warning(reference: gpd.GeoDataFrame) -> None:
    assert len(reference) == FORCE_COUNT
    assert reference.crs.to_epsg() == 27700


def test_zipped_shapefile_from_ons_reads(tmp_path: Path) -> None:
    folder = REFERENCE / "pfa_dec2023_ew_bsc"
    path = tmp_path / "PFA_DEC_2023_EW_BSC.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    forces = read_force_areas(path)
    assert len(forces) == FORCE_COUNT and forces.crs.to_epsg() == 27700


@pytest.mark.parametrize("column", ["force_code", "code", "CODE", "pfa20cd", "PFA23CD"])
def test_code_column_is_found_in_any_case_and_year(
    tmp_path: Path, force_boxes: gpd.GeoDataFrame, column: str
) -> None:
    frame = force_boxes.rename(columns={"force_code": column}).drop(columns="force_name")
    path = _write(frame, tmp_path / "forces.geojson")
    with pytest.warns(DataQualityWarning, match=MISSING_40):
        forces = read_force_areas(path)
    assert list(forces["force_code"]) == ["E23000001", "E23000034", "W15000001"]


def test_codes_are_trimmed_and_upper_cased(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    frame = force_boxes.assign(force_code=[" e23000001", "E23000034 ", "w15000001"])
    with pytest.warns(DataQualityWarning, match=MISSING_40):
        forces = read_force_areas(_write(frame, tmp_path / "forces.gpkg"))
    assert list(forces["force_code"]) == ["E23000001", "E23000034", "W15000001"]


def test_duplicate_codes_are_dissolved(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    extra = gpd.GeoDataFrame(
        {"force_code": ["W15000001"], "force_name": ["North Wales"]},
        geometry=[box(300_000, 340_000, 310_000, 350_000)],
        crs="EPSG:27700",
    )
    frame = gpd.GeoDataFrame(pd.concat([force_boxes, extra], ignore_index=True), crs="EPSG:27700")
    with pytest.warns(DataQualityWarning, match=MISSING_40):
        forces = read_force_areas(_write(frame, tmp_path / "forces.gpkg"))
    assert list(forces["force_code"]) == ["E23000001", "E23000034", "W15000001"]
    north_wales = forces.set_index("force_code").geometry["W15000001"]
    assert north_wales.area == pytest.approx(40_000**2 + 10_000**2)


def test_invalid_polygons_are_repaired(tmp_path: Path) -> None:
    bowtie = Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000), (0, 0)])
    assert not bowtie.is_valid
    frame = gpd.GeoDataFrame({"code": ["E23000001"]}, geometry=[bowtie], crs="EPSG:27700")
    with pytest.warns(DataQualityWarning, match="no polygon for 42 of the 43"):
        forces = read_force_areas(_write(frame, tmp_path / "bowtie.geojson"))
    assert forces.geometry.is_valid.all()
    assert forces.geometry.iloc[0].area == pytest.approx(500_000)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BoundaryFileError, match=r"'.*nowhere\.geojson' does not exist; pass"):
        load_force_areas(tmp_path / "nowhere.geojson")


def test_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BoundaryFileError, match="is a folder; pass the .shp file inside it"):
        load_force_areas(tmp_path)


def test_text_file_is_not_geodata(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not boundaries\n")
    with pytest.raises(BoundaryFileError, match=r"'.*notes\.txt' is not a geodata file"):
        read_force_areas(path)


def test_plain_table_has_no_geometries(tmp_path: Path) -> None:
    path = tmp_path / "forces.csv"
    path.write_text("code,name\nE23000001,Metropolitan Police\n")
    with pytest.raises(BoundaryFileError, match=r"has no geometries \(is it a plain table\?\)"):
        read_force_areas(path)


def test_no_code_column_lists_the_columns_found(
    tmp_path: Path, force_boxes: gpd.GeoDataFrame
) -> None:
    frame = force_boxes.rename(columns={"force_code": "force_id", "force_name": "label"})
    with pytest.raises(
        BoundaryFileError,
        match=r"no police force area code column .*found: force_id, label\)\. Rename",
    ):
        read_force_areas(_write(frame, tmp_path / "forces.geojson"))


def test_unknown_codes_are_listed(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    frame = force_boxes.assign(force_code=["E23000001", "S32000001", "E06000001"])
    with pytest.raises(
        BoundaryFileError,
        match=r"column 'force_code' has 2 code\(s\) .*: 'E06000001', 'S32000001'\. Codes look like",
    ):
        read_force_areas(_write(frame, tmp_path / "forces.geojson"))


def test_points_are_the_wrong_geometry_type(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["E23000001"]}, geometry=[Point(530_000, 180_000)], crs="EPSG:27700"
    )
    with pytest.raises(BoundaryFileError, match="has Point geometries; police force areas must"):
        read_force_areas(_write(frame, tmp_path / "points.gpkg"))


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(BoundaryFileError, match=r"'.*empty\.geojson' has no features\."):
        read_force_areas(path)


def test_feature_without_geometry_is_an_error(tmp_path: Path) -> None:
    document = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": "E23000001"}, "geometry": None},
        ],
    }
    path = tmp_path / "nogeom.geojson"
    path.write_text(json.dumps(document))
    with pytest.raises(
        BoundaryFileError, match=r"1 feature\(s\) without a geometry \(first: row 1\)"
    ):
        read_force_areas(path)


def test_shapefile_without_crs_is_an_error(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    path = _write(force_boxes, tmp_path / "forces.shp")
    path.with_suffix(".prj").unlink()
    with pytest.raises(BoundaryFileError, match=r"has no CRS .*re-export it with one, e\.g\."):
        read_force_areas(path)


def test_geopackage_layer_with_codes_is_chosen(
    tmp_path: Path, force_boxes: gpd.GeoDataFrame
) -> None:
    path = tmp_path / "layers.gpkg"
    other = gpd.GeoDataFrame({"note": ["x"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:27700")
    other.to_file(path, layer="aaa_notes")
    force_boxes.to_file(path, layer="forces")
    with pytest.warns(DataQualityWarning, match=MISSING_40):
        forces = read_force_areas(path)
    assert list(forces["force_code"]) == ["E23000001", "E23000034", "W15000001"]


# --- official boundaries ---


def test_official_not_downloaded_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(
        BoundaryFileError,
        match=r"^No official boundaries downloaded yet: run 'servicemap boundaries download' "
        r"\(needs internet\), or use --boundaries derived",
    ):
        load_force_areas("official", settings=Settings(cache_dir=tmp_path))


def test_official_without_the_download_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "servicemap.geography._arcgis", None)
    with pytest.raises(BoundaryFileError, match="^No official boundaries downloaded yet"):
        load_force_areas("official", settings=Settings(cache_dir=tmp_path))


def test_official_reads_the_downloaded_file(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    from servicemap.geography._arcgis import official_boundaries_path

    settings = Settings(cache_dir=tmp_path)
    path = official_boundaries_path(vintage="2023", settings=settings)
    path.parent.mkdir(parents=True)
    force_boxes.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    with pytest.warns(DataQualityWarning, match=MISSING_40):
        forces = load_force_areas("official", settings=settings)
    assert list(forces["force_code"]) == ["E23000001", "E23000034", "W15000001"]


def test_official_after_a_download_from_a_local_server(tmp_path: Path) -> None:
    from localserver import LocalServer, Reply, Request
    from servicemap.geography._arcgis import download_force_areas

    features = json.loads(BSC_2023.read_text())["features"]

    def answer(request: Request) -> Reply:
        offset = int(request.query.get("resultOffset", "0"))
        page = {"type": "FeatureCollection", "features": features[offset : offset + 2000]}
        return Reply(json=page)

    with LocalServer(answer) as server:
        settings = Settings(
            cache_dir=tmp_path,
            retries=0,
            boundaries_url=server.url + "/arcgis/rest/services/PFA_DEC_2023_EW_BUC/FeatureServer/0",
        )
        download_force_areas(settings=settings)
    official = load_force_areas("official", settings=settings)
    assert list(official["force_code"]) == sorted(load_forces()["code"])
    assert official.crs.to_epsg() == 27700
    # the download is the same data as the reference file, so the two agree closely
    assert compare_force_areas(official, read_force_areas(BSC_2023))["iou"].min() > 0.999


# --- comparing ---


def test_compare_gives_iou_per_shared_force(force_boxes: gpd.GeoDataFrame) -> None:
    shifted = force_boxes.copy()
    shifted.geometry = force_boxes.translate(xoff=10_000)  # Met: half its width
    reference = shifted.iloc[[0, 2]].to_crs("EPSG:4326")
    comparison = compare_force_areas(force_boxes, reference)
    assert list(comparison["force_code"]) == ["E23000001", "W15000001"]
    assert list(comparison.columns) == ["force_code", "force_name", "iou"]
    # Met: 20 km boxes overlapping by 10 km -> 1/3; North Wales: 40 km boxes, 30 km -> 3/5
    assert comparison["iou"].tolist() == pytest.approx([1 / 3, 3 / 5], rel=1e-6)
    assert median_iou(comparison) == pytest.approx((1 / 3 + 3 / 5) / 2, rel=1e-6)


def test_compare_identical_is_one(force_boxes: gpd.GeoDataFrame) -> None:
    assert compare_force_areas(force_boxes, force_boxes)["iou"].tolist() == [1.0, 1.0, 1.0]


def test_compare_needs_shared_codes(force_boxes: gpd.GeoDataFrame) -> None:
    with pytest.raises(BoundaryFileError, match="share no force code"):
        compare_force_areas(force_boxes.iloc[[0]], force_boxes.iloc[[1]])


def test_format_comparison_ends_with_median_and_lowest(force_boxes: gpd.GeoDataFrame) -> None:
    shifted = force_boxes.copy()
    shifted.geometry = force_boxes.translate(xoff=10_000)
    text = format_comparison(compare_force_areas(force_boxes, shifted))
    assert text.endswith(
        "median IoU: 0.333 (3 forces)\nlowest IoU: 0.000 (London, City of, E23000034)\n"
    )
    assert "E23000001 Metropolitan Police 0.333" in text


# --- writing ---


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_write_force_areas_is_lonlat_with_code_and_name_only(
    tmp_path: Path, force_boxes: gpd.GeoDataFrame, suffix: str
) -> None:
    path = write_force_areas(force_boxes.assign(extra=1), tmp_path / f"out{suffix}")
    written = gpd.read_file(path)
    assert written.crs.to_epsg() == 4326
    assert list(written.columns) == ["force_code", "force_name", "geometry"]
    assert list(written["force_code"]) == list(force_boxes["force_code"])
    assert list(tmp_path.iterdir()) == [path]


def test_write_force_areas_refuses_other_formats(
    tmp_path: Path, force_boxes: gpd.GeoDataFrame
) -> None:
    with pytest.raises(BoundaryFileError, match=r"use a \.geojson or \.gpkg file name"):
        write_force_areas(force_boxes, tmp_path / "out.kml")


# --- command line ---


def test_cli_export_writes_lonlat_geojson_with_code_and_name(
    tmp_path: Path, derived: gpd.GeoDataFrame, derived_settings: Settings
) -> None:
    out = tmp_path / "forces.geojson"
    result = CliRunner().invoke(
        cli,
        ["boundaries", "export", "--source", "derived", "-o", str(out), "--cache-dir",
         str(derived_settings.cache_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote 43 police force areas to {out}\n"
    document = json.loads(out.read_text())
    assert {tuple(f["properties"]) for f in document["features"]} == {("force_code", "force_name")}
    written = gpd.read_file(out)
    assert written.crs.to_epsg() == 4326
    assert list(written["force_code"]) == list(derived["force_code"])


def test_cli_check_prints_iou_per_force_and_the_median(
    derived: gpd.GeoDataFrame, derived_settings: Settings, reference: gpd.GeoDataFrame
) -> None:
    result = CliRunner().invoke(
        cli,
        ["boundaries", "check", "--against", str(BSC_2023), "--cache-dir",
         str(derived_settings.cache_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    comparison = compare_force_areas(derived, reference)
    lines = result.output.splitlines()
    assert lines[0].split() == ["force_code", "force_name", "iou"]
    assert len(lines) == 1 + FORCE_COUNT + 3
    assert f"median IoU: {median_iou(comparison):.3f} (43 forces)" in lines
    assert lines[-1].startswith("lowest IoU: ")


def test_cli_check_a_file_against_itself(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    path = _write(force_boxes, tmp_path / "forces.gpkg")
    result = CliRunner().invoke(
        cli, ["boundaries", "check", "--against", str(path), "--boundaries", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "median IoU: 1.000 (3 forces)" in result.stdout
    # the missing forces are reported once per read, as a warning line on stderr
    assert result.stderr.count(f"Warning: Boundary file '{path}' has {MISSING_40}") == 2


def test_cli_info_describes_the_shipped_derived_boundaries(
    derived: gpd.GeoDataFrame, derived_settings: Settings
) -> None:
    result = CliRunner().invoke(
        cli, ["boundaries", "info", "--cache-dir", str(derived_settings.cache_dir)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "source: derived (offline, from the ONS postcode directory)"
    assert lines[1] == f"path: {boundaries.shipped_boundaries_path()}"
    assert lines[2].startswith("built: 20")
    assert lines[3:] == ["crs: EPSG:27700", "features: 43"]


def test_cli_info_describes_a_file(tmp_path: Path, force_boxes: gpd.GeoDataFrame) -> None:
    path = _write(force_boxes, tmp_path / "forces.geojson")
    result = CliRunner().invoke(cli, ["boundaries", "info", "--boundaries", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["source: file", f"path: {path}"]
    assert result.stdout.splitlines()[-1] == "features: 3"
    assert result.stderr.startswith(f"Warning: Boundary file '{path}' has {MISSING_40}: ")


def test_cli_official_not_downloaded_is_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["boundaries", "info", "--boundaries", "official", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    path = tmp_path / "boundaries" / "pfa_dec2023_ew_buc.geojson"
    assert result.output == (
        "Error: No official boundaries downloaded yet: run 'servicemap boundaries download' "
        f"(needs internet), or use --boundaries derived (looked for '{path}').\n"
    )


def test_cli_bad_boundary_file_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "forces.geojson"
    path.write_text("{not json")
    result = CliRunner().invoke(cli, ["boundaries", "info", "--boundaries", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: Boundary file '{path}' is not a geodata file")
    assert result.output.count("\n") == 1


@pytest.mark.parametrize("command", ["info", "export", "check"])
def test_cli_commands_have_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, ["boundaries", command, "-h"])
    assert result.exit_code == 0
    assert f"servicemap boundaries {command}" in result.output.split("Example:")[1]
