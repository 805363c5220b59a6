"""Allow ``python -m servicemap``."""

from __future__ import annotations

from servicemap.cli import cli

if __name__ == "__main__":
    cli()
