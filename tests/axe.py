"""axe-core for the browser tests: WCAG 2.2 AA checks injected into Debian Chromium.

axe-core is the npm package pinned in ``package.json`` (``npm ci`` installs it into
``node_modules/``; the README's test command runs it). It is read from disk and added to the page
as a script, so no request leaves the machine.

Use::

    from axe import axe_violations, describe_violations
    violations = axe_violations(page)
    assert violations == [], describe_violations(violations)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browsing import wait_until_still

AXE_JS = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
"""The rules run: WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices."""


def axe_source() -> str:
    """The axe-core script, or fail the test saying how to install it."""
    if not AXE_JS.exists():
        pytest.fail(
            f"axe-core is missing at {AXE_JS}: run 'npm ci' in the project folder "
            "(package.json pins the version; the README's test command does this)."
        )
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Any, *, context: str | None = None) -> list[dict[str, Any]]:
    """Run axe on a Playwright page (optionally within a CSS selector) and return its violations.

    Each violation is axe's own dict (``id``, ``impact``, ``help``, ``nodes`` ...). On a map
    page, axe runs once its zoom and cluster animations are over: meanwhile markers fading in
    and out overlap, which is not what a person is left to tap.
    """
    if page.evaluate("() => !!(window.servicemap && servicemap.map && servicemap.cluster)"):
        wait_until_still(page)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    result: dict[str, Any] = page.evaluate(
        """async ([context, tags]) => await axe.run(context || document,
            {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""",
        [context, TAGS],
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One line per violation and up to three offending elements, for an assertion message."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:3]:
            lines.append(f"    {' '.join(node['target'])}: {node.get('failureSummary', '')[:200]}")
    return "\n".join(lines)
