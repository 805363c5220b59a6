"""Services directory speed: validating and loading big files, and a 10 MB cell.

Run: ``python benchmarks/bench_services.py [N]`` (N services, default 100,000). Prints
``name: value`` lines. Targets: validating N = 100,000 valid rows (warnings only; real
postcodes and areas, coordinates on one row in ten) ≤ 3 s once the postcode table is cached;
the same with an error on every other row ≤ 5 s; loading N rows ≤ 5 s; a 10 MB cell ≤ 1 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

from servicemap.directory.load import load_services
from servicemap.directory.validate import validate_services

HEADER = (
    "id,name,scope,areas_served,service_types,postcode,latitude,longitude,"
    "location_confidential,status,last_seen,source_url,notes"
)
POSTCODES = ["N1 9GU", "SW1A 1AA", "M20 4BJ", "CF11 9HA", "NE4 5NS", ""]
AREAS = ["Camden", "London", "Greater Manchester", "Wales", "Thames Valley;Berkshire", ""]


def write_directory(path: Path, count: int, *, broken: bool) -> None:
    """Write ``count`` services; with ``broken``, every other row has one problem."""
    lines = [HEADER]
    for i in range(count):
        postcode, areas = POSTCODES[i % 6], AREAS[i % 5]
        lat, lon = ("51.5072", "-0.1276") if i % 10 == 0 else ("", "")
        scope = "local"
        if broken and i % 2:
            kind = (i // 2) % 4
            postcode = "SW1A 1ZZ" if kind == 0 else postcode
            areas = "Londn" if kind == 1 else areas
            scope = "county" if kind == 2 else scope
            lat, lon = ("-0.1276", "51.5072") if kind == 3 else (lat, lon)
        lines.append(
            f"s{i},Service {i},{scope},{areas},advocacy;idva,{postcode},{lat},{lon},no,active,"
            f"2025,https://example.org/s{i},Note about service {i}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Return (seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def main(count: int) -> None:
    """Print the benchmark figures."""
    with tempfile.TemporaryDirectory() as folder:
        clean, broken = Path(folder) / "valid.csv", Path(folder) / "broken.csv"
        write_directory(clean, count, broken=False)
        write_directory(broken, count, broken=True)
        validate_services(clean)  # warm: postcode table, nearest-postcode tree, gazetteer
        seconds, problems = timed(validate_services, clean)
        print(f"validate_valid_{count}_s: {seconds:.2f}")
        print(f"validate_valid_{count}_problems: {len(problems)}")
        seconds, problems = timed(validate_services, broken)
        print(f"validate_broken_{count}_s: {seconds:.2f}")
        print(f"validate_broken_{count}_problems: {len(problems)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, services = timed(load_services, clean)
        print(f"load_{count}_s: {seconds:.2f}")
        print(f"load_{count}_located: {int(services.geometry.notna().sum())}")
        huge = Path(folder) / "huge.csv"
        huge.write_text(
            HEADER
            + "\na,A,local,Camden,advocacy,,,,no,active,,https://x.org/a,"
            + "y" * 10_000_000
            + "\n",
            encoding="utf-8",
        )
        seconds, problems = timed(validate_services, huge)
        print(f"validate_10mb_cell_s: {seconds:.2f}")
        print(f"validate_10mb_cell_problems: {len(problems)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
