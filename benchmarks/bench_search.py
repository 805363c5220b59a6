"""The report's search: what it adds to the first load, what one lookup loads, how fast it answers.

Run: ``python benchmarks/bench_search.py [REPORT_FOLDER]`` (default: a fresh ``servicemap report``
of the bundled data in a temporary folder). Prints ``name: value`` lines. Targets (issue 12):
first load of index.html grows by at most 300 KB; one lookup loads at most 200 KB; the report
folder stays within 40 MB; an answer appears within 200 ms of its data being loaded, in headless
Chromium (``/usr/bin/chromium``, every non-file request aborted).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

QUERIES = [
    "TR1 2HE", "tr12he", "TR1 2", "TR1", "SW1A 1AA", "M1 1AE", "B1", "LS1 4", "CF10 1EP",
    "NE1 7RU", "SE1", "PL1 1AA", "LL11 1AA", "Cornwall", "Devon & Cornwall Police", "Truro",
    "Birmigham", "Greater London", "West Midlands", "Newport",
]  # fmt: skip


def _report(folder: Path | None) -> Path:
    if folder is not None:
        return folder
    out = Path(tempfile.mkdtemp(prefix="bench-search-")) / "report"
    command = [sys.executable, "-m", "servicemap", "report", "-q", "-o", str(out)]
    subprocess.run(command, check=True)
    return out


def _search_bytes(index_html: str) -> int:
    """Bytes of index.html that are the search's: box, script, styles and the towns' credit."""
    from servicemap.geography.towns import TOWNS_ATTRIBUTION

    box = re.search(
        r'<section class="sm-find[\s\S]*?</section>\s*<script>[\s\S]*?</script>', index_html
    )
    css = resources.files("servicemap").joinpath("assets", "search.css").read_text("utf-8")
    assert box is not None and css in index_html and TOWNS_ATTRIBUTION in index_html
    return len(box.group(0).encode()) + len(css.encode()) + 1 + len(TOWNS_ATTRIBUTION) + 1


def _answer_times(report: Path) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    answer, total = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        for query in QUERIES:
            page.goto((report / "index.html").as_uri())  # a fresh page: nothing loaded yet
            page.evaluate("q => { location.hash = 'find=' + encodeURIComponent(q); }", query)
            page.wait_for_function(
                "q => { const r = document.querySelector('#find-results');"
                " return r.getAttribute('data-query') === q && r.hasAttribute('data-answer-ms'); }",
                arg=query.strip(),
            )
            answer.append(float(page.get_attribute("#find-results", "data-answer-ms") or "nan"))
            total.append(float(page.get_attribute("#find-results", "data-total-ms") or "nan"))
        browser.close()
    return answer, total


def main() -> None:
    report = _report(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    files = [p for p in report.rglob("*") if p.is_file()]
    print(f"report_folder_bytes: {sum(p.stat().st_size for p in files)}")
    print(f"report_folder_files: {len(files)}")
    index_html = (report / "index.html").read_text(encoding="utf-8")
    print(f"index_html_bytes: {len(index_html.encode())}")
    print(f"first_load_growth_bytes: {_search_bytes(index_html)}")
    size = {p.name: p.stat().st_size for p in (report / "postcodes").iterdir()}
    services = (report / "search-services.js").stat().st_size
    packs = sorted(size[n] for n in size if n not in ("index.js", "places.js", "towns.js"))
    first = [size["index.js"] + services + p for p in packs]
    print(f"postcode_files: {len(packs)}")
    print(f"first_postcode_lookup_bytes_max: {max(first)}")
    print(f"first_postcode_lookup_bytes_median: {statistics.median(first):.0f}")
    print(f"later_postcode_lookup_bytes_max: {max(packs)}")
    print(f"later_postcode_lookup_bytes_median: {statistics.median(packs):.0f}")
    place = size["index.js"] + services + size["places.js"] + size["towns.js"]
    print(f"first_place_lookup_bytes: {place}")
    answer, total = _answer_times(report)
    print(f"answer_ms_after_data_max: {max(answer):.1f}")
    print(f"answer_ms_after_data_median: {statistics.median(answer):.1f}")
    print(f"answer_ms_total_max: {max(total):.1f}")
    print(f"answer_ms_total_median: {statistics.median(total):.1f}")
    print(f"loadavg: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
