"""Map and report: first run and warm run of the commands, per-force commands, 10,000 services.

Run: ``python benchmarks/bench_report.py``. Prints ``name: value`` lines. Targets (issue #16):
the first ``servicemap report`` (a fresh, empty cache folder) at most 2x the warm run; the warm
report at most 3 s on the bundled data; ``near`` and ``force`` at most 0.8 s warm; the report
with 10,000 services at most 8 s and its ``map.html`` at most 2.5 MB (every popup kept).

Each command runs in a fresh process (``python -m servicemap``) so import time counts, as it
does for a user. The machine's load is printed first: on a shared machine the figures move.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve()


def _timed(*args: str, cache: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "servicemap", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SERVICEMAP_CACHE_DIR": str(cache)},
    )
    return time.perf_counter() - started


def report_with_services(count: int, out: Path) -> tuple[float, int]:
    """Seconds from a services frame of ``count`` to the written report, and map.html's size."""
    sys.path.insert(0, str(HERE.parent))
    from bench_coverage import synthetic_services

    from servicemap.analysis.coverage import coverage_by_district, coverage_by_force
    from servicemap.geography.boundaries import load_district_areas, load_force_areas
    from servicemap.geography.need import load_need
    from servicemap.render.report import build_report

    services = synthetic_services(count)
    force_areas = load_force_areas()
    started = time.perf_counter()
    coverage = coverage_by_force(services, need=load_need())
    # as servicemap report does: the district coverage for the map's district layer
    districts = (load_district_areas(), coverage_by_district(services, need=load_need()))
    summary = build_report(force_areas, coverage, services, out_dir=out, districts=districts)
    return time.perf_counter() - started, summary.map_bytes


def browser_times(page_path: Path) -> dict[str, float]:
    """Load and zoom times of a map page in Chromium (as tests/test_browser.py drives it)."""
    from playwright.sync_api import sync_playwright

    chromium_path = os.environ.get("SERVICEMAP_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        started = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_function("window.servicemap !== undefined")
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        page.evaluate(
            """() => new Promise(done => {
                const map = window.servicemap.map;
                map.once("zoomend", () => requestAnimationFrame(() => done()));
                map.setView([51.5, -0.12], 11, {animate: false});
            })"""
        )
        zoomed = time.perf_counter() - started
        started = time.perf_counter()
        page.locator(".sm-service").first.click(force=True)
        page.locator(".leaflet-popup-content").wait_for()
        popup = time.perf_counter() - started
        browser.close()
    return {"load_seconds": loaded, "zoom_seconds": zoomed, "popup_seconds": popup}


def main() -> None:
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
    print(f"cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as folder:
        out, cache = Path(folder), Path(folder) / "cache"
        first = _timed("report", "-q", "-o", str(out / "first"), cache=cache)
        warm = min(_timed("report", "-q", "-o", str(out / f"site{i}"), cache=cache) for i in (1, 2))
        print(f"report_first_run_seconds: {first:.2f}")
        print(f"report_warm_seconds: {warm:.2f} (target <= 3, best of 2)")
        print(f"report_first_to_warm_ratio: {first / warm:.2f} (target <= 2)")
        site = out / "site2"
        print(f"report_files: {sum(1 for p in site.rglob('*') if p.is_file())}")
        print(f"report_map_bytes: {(site / 'map.html').stat().st_size}")
        map_seconds = _timed("map", "-o", str(out / "coverage.html"), cache=cache)
        print(f"map_warm_seconds: {map_seconds:.2f}")
        near = min(_timed("near", "UB1 3BL", cache=cache) for _ in range(3))
        print(f"near_warm_seconds: {near:.2f} (target <= 0.8, best of 3)")
        force = min(_timed("force", "Kent", cache=cache) for _ in range(3))
        print(f"force_warm_seconds: {force:.2f} (target <= 0.8, best of 3)")
        print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
        # 10,000 services: in a child process with the warm cache, so its figures are its own
        env = {**os.environ, "SERVICEMAP_CACHE_DIR": str(cache)}
        output = subprocess.run(
            [sys.executable, str(HERE), "--services", "10000", str(out / "big")],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
        print(output.strip())


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    if len(sys.argv) > 3 and sys.argv[1] == "--services":
        count = int(sys.argv[2])
        seconds, size = report_with_services(count, Path(sys.argv[3]))
        print(f"report_{count}_services_seconds: {seconds:.2f} (target <= 8)")
        print(f"report_{count}_services_map_bytes: {size} (target <= 2.5 MB)")
        try:
            times = browser_times(Path(sys.argv[3]) / "map.html")
        except Exception as exc:  # no Chromium or playwright: say so, keep the other figures
            print(f"map_{count}_services_chromium: not measured ({type(exc).__name__})")
        else:
            for key, value in times.items():
                print(f"map_{count}_services_chromium_{key}: {value:.2f}")
    else:
        main()
