"""Coverage speed and memory: the CLI on the bundled data, the analysis alone, 100,000 services.

Run: ``python benchmarks/bench_coverage.py [N]`` (N synthetic services, default 100,000), or
``python benchmarks/bench_coverage.py million`` for the 1,000,000-service case alone.
Prints ``name: value`` lines. Targets: ``servicemap coverage`` on the bundled data in a fresh
process ≤ 3 s; the analysis alone, once loaded, ≤ 1 s; N = 100,000 synthetic services against
every postcode ≤ 15 s and ≤ 4 GB peak; at least 20 times faster than the naive way (a shapely
point-in-polygon loop per service plus a distance loop per postcode, timed on a sample and
scaled up). Issue #16 adds two peers and a size: an analyst's geopandas script (``sjoin`` of
the services to the force areas, ``sjoin_nearest`` from every resident postcode to the
in-person and the by-and-for services, shares within 10 and 25 km and the median distance per
force), which servicemap should beat at least 5x on the bundled services and on N; and
1,000,000 services ≤ 6 s and ≤ 2 GB peak.

The heavy parts run in child processes so each peak memory figure (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve()


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_services(count: int, *, seed: int = 0) -> pd.DataFrame:
    """``count`` services at random real postcodes serving random areas (canonical frame)."""
    import geopandas as gpd
    import shapely

    from servicemap.directory.schema import FIELDS, SERVICE_TYPES
    from servicemap.geography.forces import load_districts
    from servicemap.geography.postcodes import load_postcode_table

    rng = np.random.default_rng(seed)
    table = load_postcode_table()
    located = np.flatnonzero(table.has_location & (table.force >= 0))
    rows = located[rng.integers(0, len(located), count)]
    districts = load_districts()
    by_force = {f: tuple(g["code"]) for f, g in districts.groupby("force_code")}
    by_region = {r: tuple(g["code"]) for r, g in districts.groupby("region")}
    force_of = dict(zip(districts["code"], districts["force_code"], strict=True))
    everywhere = tuple(districts["code"])
    forces, regions = list(by_force), list(by_region)
    scope = rng.choice(["local", "regional", "national"], size=count, p=[0.6, 0.3, 0.1])
    served: list[tuple[str, ...]] = []
    for s in scope:
        if s == "national":
            served.append(everywhere)
        elif s == "regional":
            served.append(by_region[regions[rng.integers(len(regions))]])
        else:
            own = by_force[forces[rng.integers(len(forces))]]
            if rng.random() < 0.3:
                served.append(own)
            else:
                k = min(len(own), int(rng.integers(1, 4)))
                served.append(tuple(rng.choice(own, size=k, replace=False)))
    compact = table.postcodes[rows].astype(str)
    types = [
        ";".join(rng.choice(SERVICE_TYPES, size=int(rng.integers(1, 4)), replace=False))
        for _ in range(count)
    ]
    frame = pd.DataFrame({field: [""] * count for field in FIELDS})
    frame["id"] = [f"s{i}" for i in range(count)]
    frame["name"] = [f"Service {i}" for i in range(count)]
    frame["scope"] = scope
    frame["service_types"] = types
    frame["delivery"] = rng.choice(["in_person", "remote", "both", ""], size=count)
    frame["by_and_for"] = rng.choice(["yes", "no", "unknown"], size=count, p=[0.3, 0.5, 0.2])
    frame["nrpf_support"] = rng.choice(["yes", "no", "unknown"], size=count, p=[0.2, 0.6, 0.2])
    frame["status"] = rng.choice(["active", "ended", "unknown"], size=count, p=[0.9, 0.05, 0.05])
    frame["location_confidential"] = np.where(rng.random(count) < 0.1, "yes", "no")
    frame["postcode"] = [c[:-3] + " " + c[-3:] for c in compact]
    frame["address"] = [f"{i} Some Street" for i in range(count)]
    frame["latitude"] = np.nan
    frame["longitude"] = np.nan
    frame["easting"] = table.easting[rows].astype(float)
    frame["northing"] = table.northing[rows].astype(float)
    frame["location_source"] = "postcode"
    frame["force_code"] = table.force_codes[table.force[rows]]
    frame["served_districts"] = served
    frame["served_forces"] = [tuple(sorted({force_of[d] for d in ds})) for ds in served]
    frame["confidential"] = frame["location_confidential"] == "yes"
    geometry = shapely.points(frame["easting"].to_numpy(), frame["northing"].to_numpy())
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:27700")


def part_loaded() -> dict[str, Any]:
    """The analysis alone on the bundled data, with services, need and postcodes loaded."""
    import scipy.spatial  # noqa: F401  (imported by the CLI before the analysis too)

    from servicemap.analysis import coverage
    from servicemap.directory.load import load_services
    from servicemap.geography.need import load_need
    from servicemap.geography.postcodes import load_postcode_table

    services, need, table = load_services(warn=False), load_need(), load_postcode_table()
    start = time.perf_counter()
    coverage.coverage_by_force(services, need=need, postcodes=table)
    first = time.perf_counter() - start
    again = []
    for _ in range(3):
        start = time.perf_counter()
        result = coverage.coverage_by_force(services, need=need, postcodes=table)
        again.append(time.perf_counter() - start)
    top = result.head(5)
    return {
        "bundled_services": len(services),
        "analysis_first_call_seconds": round(first, 3),
        "analysis_seconds": round(min(again), 3),
        "largest_gaps": [
            f"{r.gap_rank}. {r.force_name} {r.gap_score:.1f} ({r.gap_class})"
            for r in top.itertuples()
        ],
    }


def part_synthetic(count: int) -> dict[str, Any]:
    """``count`` synthetic services against every postcode: time and peak memory."""
    from servicemap.analysis.coverage import coverage_by_force
    from servicemap.geography.need import load_need
    from servicemap.geography.postcodes import load_postcode_table

    services = synthetic_services(count)
    need, table = load_need(), load_postcode_table()
    base = peak_mb()
    start, cpu = time.perf_counter(), time.process_time()
    result = coverage_by_force(services, need=need, postcodes=table)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(result) == 43
    return {
        "synthetic_services": count,
        "synthetic_seconds": round(seconds, 2),
        "synthetic_cpu_seconds": round(cpu, 2),  # both cores' time: steadier on a busy machine
        "synthetic_peak_mb": round(peak_mb(), 0),
        "synthetic_peak_mb_before_analysis": round(base, 0),
    }


def _force_polygons() -> tuple[Any, str]:
    """Force polygons for the naive method: the derived boundaries, else postcode hulls."""
    import shapely

    try:
        from servicemap.geography.boundaries import load_force_areas

        areas = load_force_areas("derived")
        key = "force_code" if "force_code" in areas.columns else "code"
        return dict(zip(areas[key], areas.geometry, strict=True)), "derived boundaries"
    except ImportError:
        from servicemap.geography.postcodes import load_postcode_table

        table = load_postcode_table()
        polygons = {}
        for k, code in enumerate(table.force_codes):
            mask = (table.force == k) & table.has_location
            points = shapely.multipoints(
                np.column_stack([table.easting[mask], table.northing[mask]])
            )
            polygons[str(code)] = shapely.convex_hull(points)
        return polygons, "convex hulls of postcodes (boundaries.py not available)"


def part_naive(
    count: int, *, service_sample: int = 500, postcode_sample: int = 2_000
) -> dict[str, Any]:
    """Time the naive way on samples and scale up to ``count`` services and every postcode."""
    from shapely.geometry import Point

    from servicemap.geography.postcodes import load_postcode_table

    services = synthetic_services(count)
    table = load_postcode_table()
    polygons, source = _force_polygons()
    rng = np.random.default_rng(1)

    # 1. per service: which force is it in (point in polygon, every force until a hit), and
    #    does its served area include each force (a set test per force).
    sample = services.iloc[rng.choice(len(services), size=service_sample, replace=False)]
    start = time.perf_counter()
    for row in sample.itertuples():
        point = Point(row.easting, row.northing)
        for polygon in polygons.values():
            if polygon.contains(point):
                break
        served = set(row.served_forces)
        for code in polygons:
            _ = code in served
    per_service = (time.perf_counter() - start) / service_sample

    # 2. per postcode: distance to every in-person service, nearest of them, for in-person and
    #    by-and-for (vectorised over services, looped over postcodes).
    in_person = services["delivery"].isin(["in_person", "both"]).to_numpy()
    points = services.loc[in_person, ["easting", "northing"]].to_numpy()
    bf_points = services.loc[in_person & (services["by_and_for"] == "yes").to_numpy()][
        ["easting", "northing"]
    ].to_numpy()
    located = np.flatnonzero(table.has_location & (table.force >= 0))
    chosen = located[rng.choice(len(located), size=postcode_sample, replace=False)]
    start = time.perf_counter()
    for row in chosen:
        x, y = float(table.easting[row]), float(table.northing[row])
        _ = np.sqrt(((points - (x, y)) ** 2).sum(axis=1)).min()
        _ = np.sqrt(((bf_points - (x, y)) ** 2).sum(axis=1)).min()
    per_postcode = (time.perf_counter() - start) / postcode_sample
    total = per_service * count + per_postcode * len(located)
    return {
        "naive_polygons": source,
        "naive_seconds_per_service": round(per_service, 6),
        "naive_seconds_per_postcode": round(per_postcode, 6),
        "naive_seconds_scaled": round(total, 0),
    }


def analyst_geopandas(services: Any, force_areas: Any, residents: Any) -> Any:
    """The analyst's script: what coverage_by_force measures, written with geopandas joins."""
    import geopandas as gpd

    located = services.loc[services.geometry.notna() & ~services.geometry.is_empty]
    active = located["status"].fillna("") != "ended"
    delivery = located["delivery"].fillna("")
    said = delivery.isin(["in_person", "both"])
    unsaid = (delivery == "") & (located["address"].fillna("") != "")
    in_person = located.loc[active & (said | unsaid)]
    by_and_for = in_person.loc[in_person["by_and_for"] == "yes"]
    based = gpd.sjoin(
        located[["geometry"]], force_areas[["force_code", "geometry"]], predicate="within"
    )
    per_force = {"services_based": based.groupby("force_code").size()}
    for name, chosen in (("in_person", in_person), ("by_and_for", by_and_for)):
        nearest = gpd.sjoin_nearest(residents, chosen[["geometry"]], distance_col="metres")
        nearest = nearest.loc[~nearest.index.duplicated()]  # ties: one row per resident
        metres = nearest.groupby("force_code")["metres"]
        for km in (10, 25):
            per_force[f"{name}_within_{km}km"] = metres.apply(lambda m, r=km: (m <= r * 1e3).mean())
        per_force[f"median_km_to_{name}"] = metres.median() / 1e3
    return pd.DataFrame(per_force)


def part_peer(count: int) -> dict[str, Any]:
    """servicemap against the analyst's geopandas script, on the same services (0: bundled)."""
    import geopandas as gpd
    import shapely

    from servicemap.analysis.coverage import coverage_by_force
    from servicemap.directory.load import load_services
    from servicemap.geography.boundaries import load_force_areas
    from servicemap.geography.need import load_need
    from servicemap.geography.postcodes import load_postcode_table

    services = load_services(warn=False) if count == 0 else synthetic_services(count)
    need, table, force_areas = load_need(), load_postcode_table(), load_force_areas()
    from servicemap.analysis import access

    timings = []
    for _ in range(2):
        access._LAST_DISTANCES.clear()  # measure the distances again: no reuse between runs
        start = time.perf_counter()
        coverage_by_force(services, need=need, postcodes=table)
        timings.append(time.perf_counter() - start)
    ours = min(timings)
    start = time.perf_counter()
    located = table.has_location & (table.force >= 0)
    residents = gpd.GeoDataFrame(
        {"force_code": table.force_codes[table.force[located]]},
        geometry=shapely.points(table.easting[located], table.northing[located]),
        crs="EPSG:27700",
    )
    result = analyst_geopandas(services.to_crs("EPSG:27700"), force_areas, residents)
    theirs = time.perf_counter() - start
    assert len(result) > 0
    label = "bundled" if count == 0 else str(count)
    return {
        f"peer_{label}_services": len(services),
        f"peer_{label}_servicemap_seconds": round(ours, 2),
        f"peer_{label}_geopandas_seconds": round(theirs, 2),
        f"peer_{label}_speedup_vs_geopandas": round(theirs / ours, 1),
    }


def child(part: str, *args: str) -> dict[str, Any]:
    """Run one part in a fresh Python and return its results."""
    output = subprocess.run(
        [sys.executable, str(HERE), "--part", part, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def cli_cold(runs: int = 3) -> list[float]:
    """Wall time of ``servicemap coverage`` in a fresh process (postcode cache already built)."""
    from servicemap.geography.postcodes import load_postcode_table

    load_postcode_table()  # the cache exists, as it does for a user after the first run
    script = Path(sys.executable).with_name("servicemap")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "servicemap"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*command, "coverage"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main(count: int) -> None:
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
    print(f"cpus: {os.cpu_count()}")
    times = cli_cold()
    print(f"cli_coverage_cold_seconds_best: {min(times):.2f} (target <= 3)")
    print(f"cli_coverage_cold_seconds_median: {statistics.median(times):.2f}")
    loaded = child("loaded")
    targets = {
        "analysis_seconds": " (target <= 1)",
        "synthetic_seconds": " (target <= 15)",
        "synthetic_peak_mb": " (MiB; target <= 4 GB)",
    }
    for key, value in loaded.items():
        if key != "largest_gaps":
            print(f"{key}: {value}{targets.get(key, '')}")
    for line in loaded["largest_gaps"]:
        print(f"largest_gap: {line}")
    synthetic = child("synthetic", str(count))
    for key, value in synthetic.items():
        print(f"{key}: {value}{targets.get(key, '')}")
    naive = child("naive", str(count))
    for key, value in naive.items():
        print(f"{key}: {value}")
    speedup = naive["naive_seconds_scaled"] / synthetic["synthetic_seconds"]
    print(f"speedup_vs_naive: {speedup:.0f} (target >= 20)")
    for size in (0, count):  # 0: the bundled services
        for key, value in child("peer", str(size)).items():
            target = " (target >= 5)" if key.endswith("speedup_vs_geopandas") else ""
            print(f"{key}: {value}{target}")
    million()


def million() -> None:
    """Coverage of 1,000,000 synthetic services, best of two fresh processes."""
    runs = [child("synthetic", "1000000") for _ in range(2)]
    million = min(runs, key=lambda r: r["synthetic_seconds"])
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
    print(f"coverage_1m_seconds: {million['synthetic_seconds']} (target <= 6, best of 2)")
    print(f"coverage_1m_cpu_seconds: {million['synthetic_cpu_seconds']}")
    peak = max(r["synthetic_peak_mb"] for r in runs)
    print(f"coverage_1m_peak_mb: {peak:.0f} (MiB; target <= 2 GB)")
    print(f"coverage_1m_peak_mb_before_analysis: {million['synthetic_peak_mb_before_analysis']}")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    if len(sys.argv) > 2 and sys.argv[1] == "--part":
        part = sys.argv[2]
        size = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
        if part == "loaded":
            print(json.dumps(part_loaded()))
        elif part == "synthetic":
            print(json.dumps(part_synthetic(size)))
        elif part == "peer":
            print(json.dumps(part_peer(size)))
        else:
            print(json.dumps(part_naive(size)))
    elif sys.argv[1:] == ["million"]:  # only the 1,000,000-service case
        million()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
