"""Read the ONS postcode package's msgpack files straight into numpy columns.

Each of the package's files (``postcodes_A.msgpack.br`` …) is one msgpack map,
``{"columns": [names], "data": {name: [values]}}``. ``msgpack.unpackb`` makes a Python object of
every one of its ~11 million values, which was most of the postcode table's build on a first
run. Here the columns are read from the bytes: a column whose values all have one layout (the
postcodes, 7-character strings; the grid references, 64-bit floats) is a strided view, and a
text column with some values missing (NaN floats among the district codes) is laid out from
where its NaNs are. Anything else (another layout, non-ASCII text, a value of another type)
is decoded by msgpack as before, file by file; the columns are the same either way (a test
compares them on the whole package).

Columns are numpy arrays: text as bytes (UTF-8; ``b""`` where missing), numbers as float64
(NaN where missing). :func:`factorize_districts` numbers the district codes of the postcode
table's rows, hashing one code per run of rows in the same district.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["decode_columns", "factorize_districts", "join_columns"]

Columns = dict[str, npt.NDArray[Any]]

_FLOAT64 = 0xCB  # msgpack float 64 (big-endian)
_NAN = b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"  # how the package writes a missing value


class _UnexpectedLayoutError(Exception):
    """The bytes are not in the layout read here: msgpack decodes them instead."""


def decode_columns(data: bytes) -> Columns:
    """Return one package file's columns, by name, in the file's order of ``columns``.

    Parameters
    ----------
    data
        The file's msgpack bytes (decompressed).

    Returns
    -------
    dict of numpy.ndarray
        Text columns as ``S`` bytes (``b""`` where missing), number columns as float64.
    """
    try:
        return _read(data)
    except _UnexpectedLayoutError:
        return _with_msgpack(data)


def _with_msgpack(data: bytes) -> Columns:
    import msgpack

    unpacked = msgpack.unpackb(data, raw=False)
    return {name: _as_array(unpacked["data"][name]) for name in unpacked["columns"]}


def join_columns(parts: list[Columns]) -> Columns:
    """Return the files' columns end to end, by the first file's names.

    A text column is text throughout, also in a file where it has only missing values (read
    as floats there).
    """
    joined: Columns = {}
    for name in parts[0]:
        arrays = [part[name] for part in parts]
        if any(array.dtype.kind == "S" for array in arrays):
            arrays = [a if a.dtype.kind == "S" else _text_array(a.tolist()) for a in arrays]
        joined[name] = np.concatenate(arrays)
    return joined


def _as_array(values: list[Any]) -> npt.NDArray[Any]:
    """Return msgpack's values as this module's column: text as bytes, else float64."""
    if any(isinstance(v, str) for v in values):
        return _text_array(values)
    return np.array(values, dtype=np.float64)


def _text_array(values: list[Any]) -> npt.NDArray[np.bytes_]:
    text = [b"" if v is None or v != v else str(v).encode() for v in values]
    return np.array(text, dtype=np.bytes_)


def _read(data: bytes) -> Columns:
    count, at = _header(data, 0, "map")
    names: list[str] | None = None
    columns: Columns | None = None
    for _ in range(count):
        key, at = _text(data, at)
        if key == "columns":
            n, at = _header(data, at, "array")
            names = []
            for _ in range(n):
                name, at = _text(data, at)
                names.append(name)
        elif key == "data":
            n, at = _header(data, at, "map")
            columns = {}
            for _ in range(n):
                name, at = _text(data, at)
                length, at = _header(data, at, "array")
                columns[name], at = _column(data, at, length)
        else:
            raise _UnexpectedLayoutError(key)
    if names is None or columns is None or at != len(data) or set(names) != set(columns):
        raise _UnexpectedLayoutError("not the package's map")
    return {name: columns[name] for name in names}


_HEADERS = {  # kind: (fixed-size type codes, their mask), {code: bytes of length}
    "map": ((0x80, 0xF0), {0xDE: 2, 0xDF: 4}),
    "array": ((0x90, 0xF0), {0xDC: 2, 0xDD: 4}),
    "str": ((0xA0, 0xE0), {0xD9: 1, 0xDA: 2, 0xDB: 4}),
}


def _header(data: bytes, at: int, kind: str) -> tuple[int, int]:
    """Return the length a map, array or str header at ``at`` gives, and where it ends."""
    if at >= len(data):
        raise _UnexpectedLayoutError("cut short")
    (fixed, mask), sized = _HEADERS[kind]
    code = data[at]
    if code & mask == fixed:
        return code & ~mask & 0xFF, at + 1
    size = sized.get(code)
    if size is None or at + 1 + size > len(data):
        raise _UnexpectedLayoutError(f"not a {kind}")
    return int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size


def _text(data: bytes, at: int) -> tuple[str, int]:
    length, at = _header(data, at, "str")
    try:
        return data[at : at + length].decode("utf-8"), at + length
    except UnicodeDecodeError as error:
        raise _UnexpectedLayoutError("not UTF-8") from error


def _column(data: bytes, at: int, length: int) -> tuple[npt.NDArray[Any], int]:
    """Return an array's values from ``at`` and where they end."""
    if length == 0 or at >= len(data):
        raise _UnexpectedLayoutError("an empty column")
    if data[at] == _FLOAT64:
        try:
            rows = _rows(data, at, length, 9, _FLOAT64)
        except _UnexpectedLayoutError:
            pass  # perhaps text that starts with missing values
        else:
            values = rows[:, 1:].copy().view(">f8").ravel().astype(np.float64)
            return values, at + 9 * length
    first = at  # the first value that is not missing
    while data.startswith(_NAN, first):
        first += len(_NAN)
    if first < len(data) and 0xA1 <= data[first] <= 0xBF:
        return _strings(data, at, length, data[first])  # short strings of one length, or NaN
    raise _UnexpectedLayoutError("another type")


def _rows(data: bytes, at: int, count: int, width: int, code: int) -> npt.NDArray[np.uint8]:
    """Return ``count`` values of ``width`` bytes from ``at``, checking each starts ``code``."""
    end = at + count * width
    if end > len(data):
        raise _UnexpectedLayoutError("cut short")
    rows = np.frombuffer(data, dtype=np.uint8, count=end - at, offset=at).reshape(count, width)
    if not bool((rows[:, 0] == code).all()):
        raise _UnexpectedLayoutError("values of another layout")
    return rows


def _strings(data: bytes, at: int, length: int, code: int) -> tuple[npt.NDArray[np.bytes_], int]:
    """Return ``length`` strings of one length (header ``code``), NaN floats among them."""
    width = 1 + (code & 0x1F)
    runs: list[tuple[int, int]] = []  # (where, how many) strings in a row
    missing: list[int] = []  # which values are NaN
    done = 0
    while done < length:
        left = length - done
        found = data.find(_NAN, at, at + width * (left - 1) + len(_NAN))
        if found < 0:
            if at + width * left > len(data):
                raise _UnexpectedLayoutError("cut short")
            runs.append((at, left))
            at += width * left
            break
        between, rest = divmod(found - at, width)
        if rest:
            raise _UnexpectedLayoutError("a NaN inside a string")
        runs.append((at, between))
        missing.append(done + between)
        done += between + 1
        at = found + len(_NAN)
    whole = np.frombuffer(data, dtype=np.uint8)
    rows = np.concatenate([whole[where : where + width * n].reshape(n, width) for where, n in runs])
    if len(rows) and (bool((rows[:, 0] != code).any()) or bool((rows[:, 1:] >= 0x80).any())):
        raise _UnexpectedLayoutError("strings of another length, or not ASCII")
    values = np.zeros(length, dtype=f"S{width - 1}")
    text = np.ones(length, dtype=bool)
    text[missing] = False
    values[text] = rows[:, 1:].copy().view(f"S{width - 1}").ravel()
    return values, at


def factorize_districts(
    values: pd.Series | npt.NDArray[Any], rows: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.str_]]:
    """Return which distinct code each of ``rows`` has (-1: missing), and the codes and ``""``.

    ``values`` is the package's district column (``laua``): bytes as :func:`decode_columns`
    reads it, or text (a frame's column).
    """
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        # Bytes in postcode order: districts come in runs, so only each run's code is hashed.
        ordered = values[rows]
        change = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(rows) else rows
        run_code, codes = pd.factorize(ordered[change].astype(object))
        lengths = np.diff(np.r_[change, len(rows)])
        names = [code.decode() for code in codes]  # b"" (missing) is the code ""
        return np.repeat(run_code, lengths), np.array([*names, ""], dtype=str)
    of_row, codes = pd.factorize(np.asarray(values, dtype=object)[rows])
    return of_row, np.append(np.asarray(codes, dtype=object).astype(str), "")
