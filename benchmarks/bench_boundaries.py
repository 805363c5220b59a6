"""Derived force boundaries: build time, cached load time, and IoU against the ONS 2023 boundaries.

Run: ``python benchmarks/bench_boundaries.py [REFERENCE]`` (default: the ONS December 2023 BSC
GeoJSON in ``../shared/data/reference/boundaries/``). Builds in a fresh temporary cache so the
numbers are a first run's. Prints ``name: value`` lines. Targets: build well under a minute on
2 cores; a cached load well under a second; median IoU ≥ 0.96 and every force ≥ 0.85.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REFERENCE = HERE.parents[2] / "shared" / "data" / "reference" / "boundaries"


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from servicemap.geography.boundaries import compare_force_areas, load_force_areas, median_iou
    from servicemap.geography.postcodes import load_postcode_table
    from servicemap.settings import Settings

    reference_path = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE / "pfa_dec2023_ew_bsc.geojson"
    )
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(cache_dir=Path(folder))
        start = time.perf_counter()
        load_postcode_table(settings=settings)
        print(f"postcode_table_seconds: {time.perf_counter() - start:.2f}")
        before = peak_mb()
        start = time.perf_counter()
        derived = load_force_areas("derived", settings=settings)
        print(f"derived_build_seconds: {time.perf_counter() - start:.2f}")
        print(f"derived_build_peak_mb: {max(peak_mb(), before):.0f}")
        start = time.perf_counter()
        load_force_areas("derived", settings=settings)
        print(f"derived_cached_load_seconds: {time.perf_counter() - start:.3f}")
        code = (
            "import time; t = time.perf_counter(); from pathlib import Path; "
            "from servicemap.geography.boundaries import load_force_areas; "
            "from servicemap.settings import Settings; "
            f"load_force_areas(settings=Settings(cache_dir=Path({folder!r}))); "
            "print(f'{time.perf_counter() - t:.3f}')"
        )
        child = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        print(f"derived_cached_load_new_process_seconds: {child.stdout.strip()}")
    comparison = compare_force_areas(derived, load_force_areas(reference_path))
    weakest = comparison.loc[comparison["iou"].idxmin()]
    print(f"median_iou: {median_iou(comparison):.4f}")
    print(f"min_iou: {weakest['iou']:.4f} ({weakest['name']})")
    print(f"forces_below_0.95: {int((comparison['iou'] < 0.95).sum())}")


if __name__ == "__main__":
    main()
