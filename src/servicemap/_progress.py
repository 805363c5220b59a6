"""Progress bars on a terminal: shown on stderr when it is a TTY, silent otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

import click

T = TypeVar("T")


def progress(items: Iterable[T], *, label: str, length: int | None = None) -> Iterator[T]:
    """Yield ``items``, drawing a progress bar on stderr when stderr is a terminal.

    Parameters
    ----------
    items
        What to iterate over.
    label
        Text shown before the bar.
    length
        Number of items, when ``items`` has no ``len()``.

    Returns
    -------
    Iterator
        The same items, in order.
    """
    if not sys.stderr.isatty():
        yield from items
        return
    with click.progressbar(items, label=label, length=length, file=sys.stderr) as bar:
        yield from bar


def status(message: str) -> None:
    """Print a one-line status message on stderr when it is a terminal."""
    if sys.stderr.isatty():
        click.echo(message, err=True)
