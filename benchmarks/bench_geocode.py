"""Geocoding speed: postcode table build and load, and postcodes geocoded per second.

Run: ``python benchmarks/bench_geocode.py [N]`` (N postcodes, default 1,000,000). Prints
``name: value`` lines. Targets: the cached table loads in well under a second; geocoding runs
at 200,000 postcodes per second or more once the table is loaded.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from servicemap.geography import postcodes as _onspd
from servicemap.geography.geocode import geocode_postcodes
from servicemap.settings import DEFAULT_SETTINGS


def sample_postcodes(count: int, *, seed: int = 0) -> pd.Series:
    """Real postcodes spelt as people type them, with 1% malformed and 1% unknown."""
    table = _onspd.load_postcode_table()
    rng = np.random.default_rng(seed)
    compact = pd.Series(table.postcodes[rng.integers(0, len(table), count)].astype(str))
    spaced = compact.str[:-3] + " " + compact.str[-3:]
    style = rng.integers(0, 4, count)
    typed = spaced.where(style != 1, compact).where(style != 2, spaced.str.lower())
    typed = typed.where(style != 3, " " + spaced + " ")
    typed[rng.random(count) < 0.01] = "not a postcode"
    typed[rng.random(count) < 0.01] = "ZZ9 9ZZ"
    return typed.astype(object)


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = DEFAULT_SETTINGS.with_changes(cache_dir=Path(folder))
        _onspd._load_cached.cache_clear()
        start = time.perf_counter()
        _onspd.load_postcode_table(settings=settings)
        print(f"postcode_table_cold_build_seconds: {time.perf_counter() - start:.2f}")
        loads = []
        for _ in range(3):
            _onspd._load_cached.cache_clear()
            start = time.perf_counter()
            _onspd.load_postcode_table(settings=settings)
            loads.append(time.perf_counter() - start)
        print(f"postcode_table_load_seconds: {min(loads):.3f}")

    _onspd.load_postcode_table()  # the default cache, as users have it
    typed = sample_postcodes(count)
    geocode_postcodes(typed[:1000], warn=False)  # pyproj and lookups warmed up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        geocoded = geocode_postcodes(typed, warn=False)
        best = min(best, time.perf_counter() - start)
    print(f"geocode_postcodes: {count}")
    print(f"geocode_seconds: {best:.2f}")
    print(f"geocode_rate_postcodes_per_second: {count / best:,.0f}".replace(",", ""))
    for status, n in geocoded["status"].value_counts().items():
        print(f"geocode_status_{status}: {n}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
