"""Geometries as a few flat arrays, for the compact files servicemap ships.

Shapely's ragged arrays (coordinates, then part and ring offsets) go into a NumPy ``.npz``
under a layer's name, compressed with xz (:func:`pack_arrays`, :func:`unpack_arrays`).
Coordinates that are whole numbers once multiplied by a scale (whole metres; degrees rounded
to 3 decimal places, times 1,000) are stored as differences of integers, a few bytes each once
compressed; any others as they are. Reading gives back exactly the same geometries.
"""

from __future__ import annotations

import io
import lzma
import zipfile
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

__all__ = ["get_geometries", "pack_arrays", "put_geometries", "unpack_arrays"]


def pack_arrays(arrays: dict[str, Any]) -> bytes:
    """Return ``arrays`` as an xz-compressed NumPy ``.npz`` (the bytes of a shipped file)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME)


def unpack_arrays(data: bytes) -> dict[str, Any]:
    """Return the arrays :func:`pack_arrays` wrote, by name.

    Raises
    ------
    ValueError
        If ``data`` is not such a file.
    """
    try:
        with np.load(io.BytesIO(lzma.decompress(data)), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except (lzma.LZMAError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(str(exc)) from exc


def put_geometries(
    arrays: dict[str, Any], layer: str, geometries: npt.NDArray[Any], *, scale: float = 1.0
) -> dict[str, Any]:
    """Add ``geometries`` to ``arrays`` under ``layer``; return what reading them needs.

    Parameters
    ----------
    arrays
        The arrays of the ``.npz`` being written (changed in place).
    layer
        The name the arrays are stored under (``<layer>.coords``, ``<layer>.offsets0``, ...).
    geometries
        Shapely geometries of one type (polygons or multipolygons).
    scale
        Coordinates times ``scale`` are whole numbers when they can be stored as integers.

    Returns
    -------
    dict
        Plain values (for the layer's JSON metadata): ``kind``, ``offsets``, ``whole`` and,
        when it is not 1, ``scale``.
    """
    kind, coords, offsets = shapely.to_ragged_array(geometries)
    scaled = np.rint(coords * scale)
    whole = bool(
        coords.size == 0
        or (
            np.array_equal(scaled / scale, coords)
            and np.abs(scaled).max() < 2**30
            and not np.signbit(coords[coords == 0]).any()  # -0.0 would come back as 0.0
        )
    )
    arrays[f"{layer}.coords"] = (
        np.diff(scaled.astype(np.int64), axis=0, prepend=0).astype("<i4") if whole else coords
    )
    for i, offset in enumerate(offsets):
        arrays[f"{layer}.offsets{i}"] = offset.astype("<i8")
    meta: dict[str, Any] = {"kind": int(kind), "offsets": len(offsets), "whole": whole}
    if scale != 1.0:
        meta["scale"] = scale
    return meta


def get_geometries(arrays: Any, layer: str, meta: dict[str, Any]) -> npt.NDArray[Any]:
    """Return the geometries :func:`put_geometries` stored under ``layer``.

    Parameters
    ----------
    arrays
        The loaded ``.npz``.
    layer
        The name they were stored under.
    meta
        What :func:`put_geometries` returned.

    Returns
    -------
    numpy.ndarray
        The geometries, exactly as written.
    """
    coords = arrays[f"{layer}.coords"]
    if meta["whole"]:
        coords = np.cumsum(coords.astype(np.int64), axis=0).astype(np.float64)
        coords /= float(meta.get("scale", 1.0))
    offsets = tuple(arrays[f"{layer}.offsets{i}"] for i in range(meta["offsets"]))
    geometries: npt.NDArray[Any] = shapely.from_ragged_array(
        shapely.GeometryType(meta["kind"]), coords, offsets
    )
    return geometries
