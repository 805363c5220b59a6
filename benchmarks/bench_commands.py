"""Whole commands as a user runs them: warm, wall clock, best of 5, each in a fresh process.

Run: ``python benchmarks/bench_commands.py [REPEATS]`` (default 5). Prints ``name: value``
lines: the load average first (on a shared machine every figure moves with it), then for each
command the best wall-clock time of REPEATS runs and the CPU time (user + system) of that run,
which moves less with the load. Targets (issues #10, #15, #16): ``servicemap -h`` at most 0.1 s;
``near TR1 2HE`` and ``force Kent`` at most 0.8 s; ``plan --force Kent --add 2`` under 1 s; the
warm ``report`` at most 3 s.

"Warm" means the cache folder already holds what the first run builds (the postcode table and
the results servicemap keeps between runs) and Python has compiled the modules: each command
runs once untimed first. The cache folder is the user's (``SERVICEMAP_CACHE_DIR`` or the
platform's), as for a user.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: dict[str, tuple[list[str], float]] = {
    "help": (["-h"], 0.1),
    "near": (["near", "TR1", "2HE"], 0.8),
    "force": (["force", "Kent"], 0.8),
    "plan": (["plan", "--force", "Kent", "--add", "2"], 1.0),
    "report": (["report", "-q", "--force", "-o", "{out}"], 3.0),
}
"""name -> (arguments, target in seconds)."""


# As a user runs them: Python keeps its compiled modules (a shell that sets
# PYTHONDONTWRITEBYTECODE would otherwise make every run compile servicemap again).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(args: list[str]) -> tuple[float, float]:
    """Run ``servicemap ARGS`` in a fresh process; return its wall-clock and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "servicemap", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_ENV,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"load_average_1min_before: {os.getloadavg()[0]:.2f}")
    print(f"cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as folder:
        for name, (template, target) in COMMANDS.items():
            args = [a.format(out=str(Path(folder) / "report")) for a in template]
            _run(args)  # warm the cache
            wall, cpu = min(_run(args) for _ in range(repeats))
            print(f"{name}_command: servicemap {' '.join(template).replace('{out}', 'DIR')}")
            print(f"{name}_warm_best_seconds: {wall:.3f}")
            print(f"{name}_warm_cpu_seconds: {cpu:.3f}")
            print(f"{name}_target_seconds: {target:g}")
            print(f"{name}_target_met: {'yes' if wall <= target else 'no'}")
    print(f"load_average_1min_after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
