"""Map and report: wall time of the commands on the bundled data, and the map page's size.

Run: ``python benchmarks/bench_report.py``. Prints ``name: value`` lines. Targets: the map page
≤ 2.5 MB (it inlines Leaflet and every force polygon); ``servicemap map`` ≤ 10 s and
``servicemap report`` (43 force profiles) ≤ 30 s in a fresh process, postcode table cached.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "servicemap", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        _timed("forces")  # warm the postcode table cache and the boundaries cache
        map_seconds = _timed("map", "-o", str(out / "coverage.html"))
        report_seconds = _timed("report", "-o", str(out / "site"))
        print(f"map_seconds: {map_seconds:.2f}")
        print(f"map_bytes: {(out / 'coverage.html').stat().st_size}")
        print(f"report_seconds: {report_seconds:.2f}")
        print(f"report_files: {sum(1 for p in (out / 'site').rglob('*') if p.is_file())}")
        print(f"report_map_bytes: {(out / 'site' / 'map.html').stat().st_size}")


if __name__ == "__main__":
    main()
