"""Colour classes for maps: a coverage measure split into at most five ColorBrewer classes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from servicemap.directory.schema import cell_text
from servicemap.errors import MapError
from servicemap.render.labels import format_measure

__all__ = ["NO_DATA_COLOUR", "PALETTE", "Classes", "classify_metric"]


# ColorBrewer YlOrRd, 5 classes: sequential and marked colour-blind safe by ColorBrewer. Light =
# low, dark = high; for the gap score dark means a bigger gap.
PALETTE: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
NO_DATA_COLOUR = "#bdbdbd"


@dataclass(frozen=True)
class Classes:
    """How a measure is split into coloured classes.

    Attributes
    ----------
    labels
        One label per class, in palette order.
    colours
        One colour per class.
    index
        For each input value, the class number (``-1`` for no data).
    """

    labels: tuple[str, ...]
    colours: tuple[str, ...]
    index: tuple[int, ...]


def classify_metric(values: pd.Series, *, metric: str) -> Classes:
    """Split a coverage measure into at most five coloured classes.

    The gap score (0–100) uses fixed classes of 20 points so maps are comparable year to year;
    other numeric measures use quintiles; text measures (such as ``gap_class``) get one class per
    category, in category order when the column is an ordered categorical.

    Parameters
    ----------
    values
        The measure, one value per force.
    metric
        The column name (decides the fixed classes of ``gap_score``).

    Returns
    -------
    Classes
        Labels, colours and each value's class.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        present = numbers.dropna()
        if metric == "gap_score":
            edges = [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        elif present.empty:
            edges = [0.0, 0.0]
        else:
            edges = sorted(set(np.quantile(present, np.linspace(0, 1, 6)).tolist()))
            if len(edges) == 1:
                edges = [edges[0], edges[0]]
        nclass = len(edges) - 1
        colours = _spread(nclass)
        labels = tuple(
            f"{format_measure(metric, lo)}–{format_measure(metric, hi)}"
            if hi != lo
            else format_measure(metric, lo)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        )
        index = []
        for value in numbers:
            if math.isnan(value):
                index.append(-1)
                continue
            k = int(np.searchsorted(edges, value, side="right")) - 1
            index.append(min(max(k, 0), nclass - 1))
        return Classes(labels, colours, tuple(index))
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = [str(c) for c in values.cat.categories]
    else:
        categories = sorted({cell_text(v) for v in values if cell_text(v)})
    if len(categories) > len(PALETTE):
        raise MapError(
            f"Measure {metric!r} has {len(categories)} categories; a map can show at most "
            f"{len(PALETTE)}. Choose a numeric measure with --metric."
        )
    lookup = {c: i for i, c in enumerate(categories)}
    return Classes(
        tuple(categories),
        _spread(len(categories)),
        tuple(lookup.get(cell_text(v), -1) for v in values),
    )


def _spread(n: int) -> tuple[str, ...]:
    """Pick ``n`` colours spread across the palette (keeps the darkest for the top class)."""
    if n <= 0:
        return ()
    if n == 1:
        return (PALETTE[-1],)
    picks = np.linspace(0, len(PALETTE) - 1, n).round().astype(int)
    return tuple(PALETTE[i] for i in picks)
