"""The coverage map as a picture: force areas coloured by class, for print and slides (PNG)."""

from __future__ import annotations

import hashlib
import io
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from servicemap._atomic import atomic_write_bytes
from servicemap._cache import cache_key, kept_result
from servicemap.render.classes import NO_DATA_COLOUR, Classes
from servicemap.render.labels import ATTRIBUTION, metric_label
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = ["write_static_map"]


def write_static_map(
    frame: gpd.GeoDataFrame,
    path: Path | str,
    *,
    title: str,
    settings: Settings = DEFAULT_SETTINGS,
) -> Path:
    """Draw force areas coloured by their class as a PNG (no base map) and write it atomically.

    Parameters
    ----------
    frame
        Simplified force areas from :func:`servicemap.render.maps.force_map_frame` (with
        ``colour`` and the ``classes`` attribute).
    path
        The PNG to write.
    title
        The picture's title.
    settings
        ``settings.crs`` is the projection the picture is drawn in.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    projected = frame.to_crs(settings.crs)
    classes: Classes = frame.attrs["classes"]
    # The same drawing gives the same picture, so it is kept between runs (matplotlib alone
    # takes about a second to load).
    drawn = hashlib.sha256(b"".join(shapely.to_wkb(projected.geometry.values))).hexdigest()
    key = cache_key(
        "picture", drawn, list(projected["colour"]), repr(classes), str(frame.attrs.get("metric")),
        title, str(settings.crs), version("matplotlib"),
    )  # fmt: skip
    png = kept_result(
        settings.cache_dir,
        "pictures",
        key,
        lambda: _png(projected, classes, str(frame.attrs.get("metric", "")), title),
        what="coverage picture",
        rebuild="with matplotlib (a second or two)",
    )
    target = Path(path)
    atomic_write_bytes(target, png)
    return target


def _png(projected: gpd.GeoDataFrame, classes: Classes, metric: str, title: str) -> bytes:
    """Return the picture's PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    figure = Figure(figsize=(8, 9.5), dpi=120)
    axes = figure.add_axes((0.02, 0.08, 0.96, 0.84))
    projected.plot(ax=axes, color=list(projected["colour"]), edgecolor="#4d4d4d", linewidth=0.4)
    axes.set_axis_off()
    axes.set_aspect("equal")
    handles = [
        Patch(facecolor=colour, edgecolor="#555", label=label)
        for label, colour in zip(classes.labels, classes.colours, strict=True)
    ]
    if (np.asarray(classes.index) < 0).any():
        handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="#555", label="no data"))
    axes.legend(
        handles=handles,
        title=metric_label(metric),
        loc="upper left",
        fontsize=8,
        title_fontsize=8,
        frameon=True,
    )
    figure.suptitle(title, fontsize=11, wrap=True)
    figure.text(0.02, 0.015, ATTRIBUTION, fontsize=6, wrap=True, color="#444")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
