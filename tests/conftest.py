"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Point, box

from browsing import chromium
from servicemap.directory.privacy import confidential_mask
from servicemap.directory.schema import FIELDS
from servicemap.geography import boundaries
from servicemap.geography.forces import FORCE_COUNT, load_forces


def _canonical_services(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Build a canonical services frame (schema.py docstring) by hand, without geocoding.

    Each row gives schema fields (missing ones are empty), optionally ``easting``/``northing``
    (else computed from latitude/longitude), ``force_code`` and ``served_districts``.
    """
    to_grid = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    records = []
    for row in rows:
        record: dict[str, Any] = {field: row.get(field, "") for field in FIELDS}
        record["latitude"] = float(row.get("latitude", np.nan))
        record["longitude"] = float(row.get("longitude", np.nan))
        easting, northing = row.get("easting", np.nan), row.get("northing", np.nan)
        source = "postcode" if not np.isnan(easting) else ""
        if not np.isnan(record["latitude"]):
            easting, northing = to_grid.transform(record["longitude"], record["latitude"])
            source = "coordinates"
        record["easting"], record["northing"] = float(easting), float(northing)
        record["location_source"] = source
        record["force_code"] = row.get("force_code", "")
        record["served_districts"] = tuple(row.get("served_districts", ()))
        record["served_forces"] = tuple(sorted(set(row.get("served_forces", ()))))
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    # The library's one statement of the rule, never a copy of it.
    frame["confidential"] = confidential_mask(frame).to_numpy(dtype=bool)
    geometry = [
        Point(e, n) if not np.isnan(e) else None
        for e, n in zip(frame["easting"], frame["northing"], strict=True)
    ]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:27700")


@pytest.fixture
def canonical_services() -> Callable[[list[dict[str, Any]]], gpd.GeoDataFrame]:
    """Return a factory for hand-built canonical services frames (no geocoding needed)."""
    return _canonical_services


@pytest.fixture(scope="module")
def bundled_services() -> gpd.GeoDataFrame:
    """Return the bundled services directory, loaded once per test module."""
    from servicemap.directory.load import load_services

    return load_services(warn=False)


@pytest.fixture
def force_boxes() -> gpd.GeoDataFrame:
    """Three square force areas in EPSG:27700 with real codes and ONS names (no overlaps)."""
    return gpd.GeoDataFrame(
        {
            "force_code": ["E23000001", "E23000034", "W15000001"],
            "force_name": ["Metropolitan Police", "London, City of", "North Wales"],
        },
        geometry=[
            box(510_000, 170_000, 530_000, 190_000),
            box(531_000, 180_500, 533_500, 182_000),
            box(250_000, 340_000, 290_000, 380_000),
        ],
        crs="EPSG:27700",
    )


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], int]:
    """Make deriving boundaries instant (43 small boxes, no shipped file); count the builds."""
    calls: list[object] = []
    forces = gpd.GeoDataFrame(
        load_forces()[["code", "name"]].rename(
            columns={"code": "force_code", "name": "force_name"}
        ),
        geometry=[box(i * 1000, 0, i * 1000 + 900, 900) for i in range(FORCE_COUNT)],
        crs="EPSG:27700",
    )
    districts = gpd.GeoDataFrame(
        {
            "district_code": ["E06000001"],
            "district_name": ["Hartlepool"],
            "force_code": ["E23000013"],
        },
        geometry=[box(0, 0, 10, 10)],
        crs="EPSG:27700",
    )

    def build(postcodes: object) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        calls.append(postcodes)
        return forces.copy(), districts.copy()

    monkeypatch.setattr(boundaries, "build_derived_areas", build)
    monkeypatch.setattr(boundaries, "load_postcode_table", lambda settings: "postcodes")
    # as if the installed postcode package were not the one the shipped boundaries came from
    monkeypatch.setattr(boundaries, "shipped_boundaries_path", lambda: tmp_path / "none.npz.xz")
    return lambda: len(calls)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Debian Chromium for one test module (the browser tests; see browsing.py)."""
    yield from chromium()


@pytest.fixture(scope="module")
def bundled_site(tmp_path_factory) -> Path:
    """The report on the bundled data, as a user makes it (``servicemap report``)."""
    from click.testing import CliRunner

    from servicemap.cli import cli

    out = tmp_path_factory.mktemp("bundled") / "report"
    result = CliRunner().invoke(cli, ["report", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out
