"""Caches heal: damaged cache files are rebuilt with a notice; unusable cache folders are errors.

The real postcode cache (``~/.cache/servicemap`` or ``$SERVICEMAP_CACHE_DIR``) is only ever read
here: each test copies it, or a small table, into ``tmp_path`` and damages the copy.
"""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner

from servicemap import _cache
from servicemap.cli import cli
from servicemap.errors import CacheError, CacheNotice
from servicemap.geography import postcodes as _onspd
from servicemap.geography.boundaries import derived_cache_path, load_force_areas
from servicemap.geography.forces import FORCE_COUNT
from servicemap.geography.postcodes import PostcodeTable, load_postcode_table, postcode_cache_path
from servicemap.settings import Settings
from worlds import postcode_table

FIX = (
    "Choose a folder servicemap can write with --cache-dir DIR or the SERVICEMAP_CACHE_DIR "
    "environment variable."
)


def _small_table() -> PostcodeTable:
    return postcode_table(
        [("AA11AA", 1000, 0, "D1"), ("AA11AB", 2000, 0, "D1")],
        districts=["D1"],
        district_force=[0],
        forces=["F1"],
    )


@pytest.fixture
def fake_package(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Make rebuilding the postcode table instant: a two-postcode table; count the builds."""
    builds: list[object] = []

    def build(raw: object) -> PostcodeTable:
        builds.append(raw)
        return _small_table()

    monkeypatch.setattr(_onspd, "_read_package", lambda: "raw rows")
    monkeypatch.setattr(_onspd, "build_postcode_table", build)
    return lambda: len(builds)


@pytest.fixture(scope="session")
def real_cache() -> Path:
    """The real, good postcode cache file (built once if this machine has none yet)."""
    load_postcode_table()
    return postcode_cache_path()


def _damage(path: Path, how: str, good: Path) -> None:
    if how == "truncated":
        with good.open("rb") as source:
            path.write_bytes(source.read(1_000_000))
    elif how == "garbled":
        path.write_bytes(bytes(range(256)) * 40)
    elif how == "zero-byte":
        path.write_bytes(b"")
    elif how == "folder":
        (path / "inside").mkdir(parents=True)
        (path / "inside" / "file.txt").write_text("x")
    elif how == "other arrays":
        with path.open("wb") as handle:
            np.savez(handle, something=np.arange(3))
    elif how == "short arrays":
        table = _small_table()
        arrays = {k: getattr(table, k) for k in table.__dataclass_fields__}
        arrays["easting"] = arrays["easting"][:1]
        with path.open("wb") as handle:
            np.savez(handle, **arrays)


REASONS = {
    "truncated": "it is damaged or incomplete",
    "garbled": "it is damaged or incomplete",
    "zero-byte": "it is empty",
    "folder": "it is a folder, not a file",
    "other arrays": "it is damaged or incomplete",
    "short arrays": "it is damaged or incomplete",
}


# --- the postcode table -------------------------------------------------------------------


@pytest.mark.parametrize("how", list(REASONS))
def test_a_damaged_postcode_cache_is_rebuilt_with_a_notice(
    tmp_path: Path, real_cache: Path, fake_package: Callable[[], int], how: str
) -> None:
    settings = Settings(cache_dir=tmp_path)
    path = postcode_cache_path(settings)
    _damage(path, how, real_cache)
    notice = (
        f"The cached postcode table '{path}' cannot be read ({REASONS[how]}); rebuilding it "
        "from the ONS postcode directory (a few seconds)."
    )
    with pytest.warns(CacheNotice) as caught:
        table = load_postcode_table(settings=settings)
    assert [str(w.message) for w in caught] == [notice]
    assert fake_package() == 1
    assert table.postcodes.tolist() == [b"AA11AA", b"AA11AB"]
    assert path.is_file()
    assert _onspd._load(path).postcodes.tolist() == [b"AA11AA", b"AA11AB"]  # healed on disk


def test_a_good_copy_of_the_real_cache_is_read_not_rebuilt(
    tmp_path: Path, real_cache: Path, fake_package: Callable[[], int]
) -> None:
    settings = Settings(cache_dir=tmp_path)
    shutil.copyfile(real_cache, postcode_cache_path(settings))
    table = load_postcode_table(settings=settings)
    assert fake_package() == 0
    assert len(table) > 2_000_000


def test_a_missing_postcode_cache_is_built_without_a_notice(
    tmp_path: Path, fake_package: Callable[[], int]
) -> None:
    settings = Settings(cache_dir=tmp_path / "new" / "cache")
    load_postcode_table(settings=settings)  # filterwarnings=error: any notice would fail
    assert fake_package() == 1
    assert postcode_cache_path(settings).is_file()


def test_a_cache_folder_that_is_a_file_is_an_error_before_any_build(
    tmp_path: Path, fake_package: Callable[[], int]
) -> None:
    folder = tmp_path / "cache"
    folder.write_text("not a folder")
    message = (
        f"Cannot use the cache folder '{folder}': it, or a folder above it, is a file, not a "
        f"folder. {FIX}"
    )
    with pytest.raises(CacheError, match=f"^{re.escape(message)}$"):
        load_postcode_table(settings=Settings(cache_dir=folder))
    assert fake_package() == 0
    assert folder.read_text() == "not a folder"


def test_a_cache_folder_below_a_file_is_an_error(
    tmp_path: Path, fake_package: Callable[[], int]
) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(CacheError, match="is a file, not a folder"):
        load_postcode_table(settings=Settings(cache_dir=tmp_path / "file" / "cache"))


def test_a_cache_folder_that_cannot_be_written_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_package: Callable[[], int]
) -> None:
    # Tests may run as root, for whom chmod does not stop writing: fail the probe instead.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(_cache.tempfile, "mkstemp", refuse)
    with pytest.raises(CacheError) as caught:
        load_postcode_table(settings=Settings(cache_dir=tmp_path))
    assert (
        str(caught.value) == f"Cannot use the cache folder '{tmp_path}': permission denied. {FIX}"
    )
    assert fake_package() == 0


def test_a_read_only_cache_folder_with_a_good_cache_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_package: Callable[[], int]
) -> None:
    settings = Settings(cache_dir=tmp_path)
    load_postcode_table(settings=settings)
    _onspd._load_cached.cache_clear()

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(_cache.tempfile, "mkstemp", refuse)
    assert len(load_postcode_table(settings=settings)) == 2
    assert fake_package() == 1


def test_a_full_disk_while_saving_is_a_cache_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_package: Callable[[], int]
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_onspd.np, "savez", full)
    with pytest.raises(CacheError, match=f"'{tmp_path}': the disk is full. Choose a folder"):
        load_postcode_table(settings=Settings(cache_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []  # no half-written file left behind


# --- the command line, on the real postcode directory ---------------------------------------


def test_cli_rebuilds_an_empty_postcode_cache_with_one_notice_line(tmp_path: Path) -> None:
    """The 0-byte cache used to print only 'Aborted!' (np.load raises EOFError on it)."""
    path = postcode_cache_path(Settings(cache_dir=tmp_path))
    path.write_bytes(b"")
    result = CliRunner().invoke(cli, ["forces", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"Notice: The cached postcode table '{path}' cannot be read (it is empty); rebuilding "
        "it from the ONS postcode directory (a few seconds)."
    ]
    assert "E23000001" in result.stdout
    assert len(_onspd._load(path)) > 2_000_000


def test_cli_cache_dir_from_the_environment_that_is_a_file_is_one_error_line(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cache"
    folder.write_text("")
    result = CliRunner(env={"SERVICEMAP_CACHE_DIR": str(folder)}).invoke(cli, ["forces"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot use the cache folder '{folder}': it, or a folder above it, is a file, "
        f"not a folder. {FIX}\n"
    )


def test_cli_cache_dir_option_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.write_text("")
    result = CliRunner().invoke(cli, ["forces", "--cache-dir", str(folder)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: Invalid value for '--cache-dir': Directory '{folder}' is a file."
    )


# --- the derived boundaries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("zero-byte", "it is empty"),
        ("garbled", "it is damaged or incomplete"),
        ("folder", "it is a folder, not a file"),
    ],
)
def test_damaged_derived_boundaries_are_rebuilt_with_a_notice(
    tmp_path: Path, fake_build: Callable[[], int], how: str, reason: str
) -> None:
    settings = Settings(cache_dir=tmp_path)
    path = derived_cache_path(settings)
    _damage(path, how, path)
    notice = (
        f"The cached derived boundaries '{path}' cannot be read ({reason}); rebuilding it from "
        "the ONS postcode directory (about 20 seconds)."
    )
    with pytest.warns(CacheNotice) as caught:
        forces = load_force_areas(settings=settings)
    assert [str(w.message) for w in caught] == [notice]
    assert fake_build() == 1 and len(forces) == FORCE_COUNT
    assert len(gpd.read_file(path, layer="force_areas")) == FORCE_COUNT


def test_a_boundary_cache_folder_that_is_a_file_is_an_error_before_the_build(
    tmp_path: Path, fake_build: Callable[[], int]
) -> None:
    folder = tmp_path / "cache"
    folder.write_text("")
    with pytest.raises(CacheError, match=f"^Cannot use the cache folder '{folder}': it, or a"):
        load_force_areas(settings=Settings(cache_dir=folder))
    assert fake_build() == 0


def test_an_unwritable_boundary_cache_folder_is_an_error_before_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_build: Callable[[], int]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(_cache.tempfile, "mkstemp", refuse)
    with pytest.raises(CacheError) as caught:
        load_force_areas(settings=Settings(cache_dir=tmp_path))
    assert str(caught.value) == (
        f"Cannot use the cache folder '{tmp_path}': it is on a read-only file system. {FIX}"
    )
    assert fake_build() == 0


def test_official_boundaries_download_into_a_file_is_an_error_before_downloading(
    tmp_path: Path,
) -> None:
    (tmp_path / "boundaries").write_text("")
    url = "http://127.0.0.1:9/never-asked"  # nothing listens: a download attempt would fail
    result = CliRunner().invoke(
        cli, ["boundaries", "download", "--url", url, "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot use the cache folder '{tmp_path / 'boundaries'}': it, or a folder above "
        f"it, is a file, not a folder. {FIX}\n"
    )
