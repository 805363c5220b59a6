"""The report's search index: every ONS postcode decodes, in the page's own script, to its own
district and force; the streams round-trip; place names match as the library matches them.

The page's decoder (``assets/search.js``) is run under node (``/usr/bin/node``, Debian's nodejs),
over every file of the cached ``postcodes/`` folder, and compared with
:class:`~servicemap.geography.postcodes.PostcodeTable` row by row: all 2.4 million England and
Wales postcodes, not a sample.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from servicemap.directory.privacy import public_services
from servicemap.directory.schema import FOCUSES
from servicemap.geography import postcode_index
from servicemap.geography.areas import accepted_names, area_key
from servicemap.geography.forces import district_names, force_names
from servicemap.geography.postcode_index import (
    PACK_BYTES,
    decode_varints,
    district_mask,
    encode_varints,
    postcode_index_folder,
)
from servicemap.geography.postcodes import load_postcode_table, postcode_cache_path
from servicemap.geography.towns import load_towns
from servicemap.render import search as search_module
from servicemap.render.labels import FOCUS_LABELS
from servicemap.render.search import search_services_js
from servicemap.settings import Settings

SEARCH_JS = Path(str(resources.files("servicemap").joinpath("assets", "search.js")))
NODE = shutil.which("node")

# Decodes every postcode file with the page's own functions and writes one CSV line per postcode.
DECODE_ALL = """
const fs = require("fs"), path = require("path"), vm = require("vm");
const api = require(process.argv[2]);
const folder = process.argv[3];
const store = {shards: {}};
globalThis.smPostcodeIndex = (d) => { store.index = d; };
globalThis.smPostcodes = (outward, d) => { store.shards[outward] = d; };
vm.runInThisContext(fs.readFileSync(path.join(folder, "index.js"), "utf8"));
const out = fs.openSync(process.argv[4], "w");
fs.writeSync(out, "postcode,district,force,x,y,file\\n");
for (const pack of store.index.outward.split("|")) {
  const codes = pack.split(",");
  vm.runInThisContext(fs.readFileSync(path.join(folder, codes[0] + ".js"), "utf8"));
  const lines = [];
  for (const outward of codes) {
    const shard = api.decodeShard(store.shards[outward]);
    for (let k = 0; k < shard.length; k++) {
      const d = shard.district[k];
      const force = store.index.districts[d][1];
      const located = shard.located[k];
      lines.push(outward + api.inwardText(shard.code[k]) + "," + d + "," +
        (force >= 0 ? store.index.forces[force][0] : "") + "," +
        (located ? shard.x[k] : -1) + "," + (located ? shard.y[k] : -1) + "," + codes[0]);
    }
    delete store.shards[outward];
  }
  fs.writeSync(out, lines.join("\\n") + "\\n");
}
fs.closeSync(out);
"""


def _node(script: str, *args: str, tmp_path: Path) -> str:
    if NODE is None:
        pytest.fail("node is missing: install Debian's nodejs (apt-get install -y nodejs).")
    path = tmp_path / "script.js"
    path.write_text(script, encoding="utf-8")
    done = subprocess.run(
        [NODE, str(path), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def index_folder() -> Path:
    return postcode_index_folder()


@pytest.mark.parametrize(
    "values",
    [[0], [31, 32, 33], [1023, 1024, 1025], [0, 5, 2**20, 2**35 + 7], list(range(200))],
)
def test_varints_round_trip(values: list[int]) -> None:
    assert decode_varints(encode_varints(values)) == values


def test_varints_cut_into_parts_are_each_parts_own_varints() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**36, 500) >> rng.integers(0, 36, 500)  # one to eight digits
    part = np.sort(rng.integers(0, 40, 500))  # parts 0..41, some with no value
    got = postcode_index._varint_parts(values, part, 42)
    assert got == [encode_varints(values[part == k]) for k in range(42)]


def test_varints_refuse_negative_numbers() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        encode_varints([3, -1])


def test_district_mask_sets_each_bit() -> None:
    mask = district_mask([0, 7, 12], 14)
    assert len(mask) == 3
    assert mask == "BCB"  # bits 0 | 7 (char 1, bit 1) | 12 (char 2, bit 0)


def test_the_streams_hold_no_digit_so_nothing_reads_as_a_postcode_or_a_number() -> None:
    text = encode_varints(np.arange(0, 100_000, 7)) + district_mask(range(0, 300, 3), 318)
    assert not any(ch.isdigit() for ch in text)


def test_every_postcode_decodes_to_its_onspd_district_and_force(
    index_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "decoded.csv"
    _node(DECODE_ALL, str(SEARCH_JS), str(index_folder), str(out), tmp_path=tmp_path)
    decoded = pd.read_csv(out, dtype={"postcode": str, "force": str, "file": str})
    decoded["force"] = decoded["force"].fillna("")
    table = load_postcode_table()
    rows = table.rows(decoded["postcode"].to_numpy().astype("S7"))
    assert (rows >= 0).all(), decoded.loc[rows < 0, "postcode"].head().tolist()
    assert len(np.unique(rows)) == len(rows)
    # Every England and Wales postcode is in the index, and only outward codes that have one.
    in_ew = np.flatnonzero(table.force >= 0)
    assert np.isin(in_ew, rows).all(), f"{(~np.isin(in_ew, rows)).sum()} postcodes missing"
    assert len(in_ew) > 2_400_000
    np.testing.assert_array_equal(decoded["district"].to_numpy(), table.district[rows])
    codes = np.append(table.force_codes, "")
    np.testing.assert_array_equal(decoded["force"].to_numpy(), codes[table.force[rows]])
    np.testing.assert_array_equal(decoded["x"].to_numpy(), table.easting[rows])
    np.testing.assert_array_equal(decoded["y"].to_numpy(), table.northing[rows])
    sizes = {p.name: p.stat().st_size for p in index_folder.iterdir()}
    assert max(sizes[f"{name}.js"] for name in decoded["file"].unique()) <= PACK_BYTES + 20_000


def test_index_names_each_district_and_force_as_the_register_does(index_folder: Path) -> None:
    text = (index_folder / "index.js").read_text(encoding="utf-8")
    index = json.loads(text.removeprefix("smPostcodeIndex(").removesuffix(");\n"))
    table = load_postcode_table()
    names, forces = district_names(), force_names()
    pairs = zip(table.district_codes, table.district_force, index["districts"], strict=True)
    for code, force, (name, listed_force) in pairs:
        assert (name, listed_force) == (names.get(str(code), ""), int(force))
    assert [f[0] for f in index["forces"]] == list(table.force_codes)
    assert [f[1] for f in index["forces"]] == [forces[c] for c in table.force_codes]
    outside = set(index["outside"].split(","))
    assert "AB10" in outside and "EH1" in outside and "TR1" not in outside


def _cache_with_the_postcode_table(tmp_path: Path) -> Settings:
    settings = Settings(cache_dir=tmp_path / "cache")
    settings.cache_dir.mkdir()
    shutil.copy(postcode_cache_path(), postcode_cache_path(settings))  # as a first run made it
    return settings


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".complete"}


@pytest.mark.parametrize("other_thread", [False, True])
def test_a_first_report_builds_the_index_in_another_process(
    index_folder: Path, tmp_path: Path, other_thread: bool
) -> None:
    import threading

    settings = _cache_with_the_postcode_table(tmp_path)
    # forked (this process's modules and table) unless another thread runs: then spawned
    stop = threading.Event()
    waiting = threading.Thread(target=stop.wait)
    if other_thread:
        waiting.start()
    try:
        postcode_index.start_postcode_index(settings=settings)
    finally:
        stop.set()
        if other_thread:
            waiting.join()
    (helper,) = postcode_index._BUILDING.values()
    assert helper._popen.method == ("spawn" if other_thread else "fork")
    helper.join(timeout=600)
    assert helper.exitcode == 0
    folder = postcode_index.postcode_index_folder(settings=settings)
    assert not postcode_index._BUILDING  # waited for, then forgotten
    assert _files(folder) == _files(index_folder)
    postcode_index.start_postcode_index(settings=settings)  # cached: no process
    assert not postcode_index._BUILDING


def test_the_index_is_built_here_when_the_other_process_did_not(
    index_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _cache_with_the_postcode_table(tmp_path)
    folder = postcode_index._folder_path(settings)

    class Failed:  # a process that exited having written nothing
        joined = False

        def join(self) -> None:
            self.joined = True

    failed = Failed()
    monkeypatch.setitem(postcode_index._BUILDING, folder, failed)
    assert postcode_index.postcode_index_folder(settings=settings) == folder
    assert failed.joined
    assert _files(folder) == _files(index_folder)


def test_no_process_starts_before_the_postcode_table_is_cached(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "empty")
    postcode_index.start_postcode_index(settings=settings)
    assert not postcode_index._BUILDING
    assert not settings.cache_dir.exists()


def test_place_names_are_normalised_as_the_library_does(tmp_path: Path) -> None:
    meanings, _ = accepted_names()
    names = sorted({a.name for m in meanings.values() for a in m.values()})
    names += load_towns(min_population=1000)["name"].tolist()
    names += ["Saint Helens", "  Devon &  Cornwall ", "Ynys Môn", "King's Lynn", "The Wirral"]
    (tmp_path / "names.json").write_text(json.dumps(names), encoding="utf-8")
    script = (
        "const api = require(process.argv[2]);"
        "const names = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));"
        "process.stdout.write(JSON.stringify(names.map(api.areaKey)));"
    )
    keys = json.loads(
        _node(script, str(SEARCH_JS), str(tmp_path / "names.json"), tmp_path=tmp_path)
    )
    assert keys == [area_key(name) for name in names]


def test_near_names_the_nearest_place_to_visit_when_none_is_within_reach(
    bundled_services: pd.DataFrame,
) -> None:
    from servicemap.analysis.near import services_near

    near = services_near("TR1 2HE", bundled_services)  # Truro: national services serve it
    assert (near["relation"] == "serves this area").any()
    assert not (near["relation"] == "nearby").any()
    beyond = near.loc[near["relation"] == "nearest, beyond 25 km"]
    assert len(beyond) == 1
    located = near["distance_km"].dropna()
    assert beyond["distance_km"].iloc[0] > 25 and beyond["distance_km"].iloc[0] == located.min()


def _search_document(services: pd.DataFrame, public: pd.DataFrame | None) -> dict[str, Any]:
    text = search_services_js(services, public, profiles={})
    assert text.startswith("smSearchServices(") and text.endswith(");\n")
    document: dict[str, Any] = json.loads(text[len("smSearchServices(") : -3])
    return document


def test_every_focus_has_words_and_the_search_file_uses_them(bundled_services) -> None:
    assert set(FOCUS_LABELS) == set(FOCUSES)
    listed = _search_document(bundled_services, None)["services"]
    shown = {record["f"] for record in listed}
    assert shown <= {*FOCUS_LABELS.values(), ""}
    assert len(shown - {""}) >= 3  # the bundled directory has several kinds of focus


def test_the_search_file_is_the_same_from_the_callers_public_frame_and_places_no_one_private(
    bundled_services,
) -> None:
    listed = _search_document(bundled_services, public_services(bundled_services))["services"]
    assert listed == _search_document(bundled_services, None)["services"]
    private = [record for record in listed if record.get("c") == 1]
    assert private, "the bundled directory lists confidential services that serve their areas"
    assert all({"x", "y", "a"}.isdisjoint(record) for record in private)
    assert all(record["d"] for record in private)  # each still serves its areas
    assert any("x" in record for record in listed)  # public places are there


def test_filter_options_do_not_depend_on_the_order_met():
    """Communities equal but for case are listed in one order whatever order they come in."""
    names = ["black women", "Black women", "Asian women", "asian women", "Arabic"]
    orders = [names, names[::-1], names[2:] + names[:2]]
    found = [
        search_module._options(pd.DataFrame({"communities": ["; ".join(order)]}))["communities"]
        for order in orders
    ]
    assert found[0] == ["Arabic", "Asian women", "asian women", "Black women", "black women"]
    assert found[1] == found[0] and found[2] == found[0]
