"""The cache folder: check it can be used, heal damaged entries, and say how to fix it if not."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import pickle
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from servicemap import errors
from servicemap._atomic import atomic_write_bytes
from servicemap._data import data_dir
from servicemap.errors import CacheError, CacheNotice, DataQualityWarning

_FIX = (
    "Choose a folder servicemap can write with --cache-dir DIR or the SERVICEMAP_CACHE_DIR "
    "environment variable."
)


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return "it, or a folder above it, is a file, not a folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "it is on a read-only file system"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or type(exc).__name__


def cache_error(folder: Path, exc: OSError) -> CacheError:
    """Return the :class:`CacheError` saying why ``folder`` cannot be used and how to fix it.

    Parameters
    ----------
    folder
        The cache folder (or sub-folder) that could not be created or written.
    exc
        The operating system's error.

    Returns
    -------
    CacheError
        An error naming the folder, the reason, ``--cache-dir`` and ``SERVICEMAP_CACHE_DIR``.
    """
    return CacheError(f"Cannot use the cache folder {str(folder)!r}: {_reason(exc)}. {_FIX}")


def usable_cache_folder(folder: Path) -> Path:
    """Create ``folder`` if needed and check that files can be written in it.

    Call it before spending time building something to cache, so an unusable folder fails
    at once rather than after the build.

    Parameters
    ----------
    folder
        The cache folder (``settings.cache_dir`` or a folder below it).

    Returns
    -------
    Path
        ``folder``, which now exists and is writable.

    Raises
    ------
    CacheError
        If the folder is a file, lies below a file, or cannot be created or written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".servicemap-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise cache_error(folder, exc) from exc
    return folder


@contextlib.contextmanager
def writing_cache(folder: Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing into ``folder`` into a :class:`CacheError`.

    Parameters
    ----------
    folder
        The cache folder being written.

    Returns
    -------
    Iterator
        A context in which an ``OSError`` becomes a ``CacheError`` naming ``folder``.
    """
    try:
        yield
    except CacheError:
        raise
    except OSError as exc:
        raise cache_error(folder, exc) from exc


def describe_damage(path: Path) -> str:
    """Return a few words saying what is wrong with an unreadable cache file.

    Parameters
    ----------
    path
        The cache file.

    Returns
    -------
    str
        E.g. ``"it is empty"``, ``"it is a folder"`` or ``"it is damaged"``.
    """
    if path.is_dir():
        return "it is a folder, not a file"
    with contextlib.suppress(OSError):
        if path.stat().st_size == 0:
            return "it is empty"
    return "it is damaged or incomplete"


def heal_cache_entry(path: Path, *, what: str, reason: str, rebuild: str) -> None:
    """Warn that a cache entry is unusable and clear the way for its rebuild.

    A folder where the cache file should be is removed (the name is servicemap's own); a
    damaged file is left to be replaced atomically by the rebuilt one.

    Parameters
    ----------
    path
        The cache file.
    what
        What the file holds, e.g. ``"postcode table"``.
    reason
        What is wrong with it (see :func:`describe_damage`).
    rebuild
        How it is rebuilt and how long that takes, e.g. ``"from the ONS postcode directory (a
        few seconds)"``.

    Raises
    ------
    CacheError
        If a folder in the way cannot be removed.
    """
    warnings.warn(
        f"The cached {what} {str(path)!r} cannot be read ({reason}); rebuilding it {rebuild}.",
        CacheNotice,
        stacklevel=3,
    )
    if path.is_dir() and not path.is_symlink():
        with writing_cache(path.parent):
            shutil.rmtree(path)


# --- results kept between runs ------------------------------------------------------------------

# A kept result is this tag, the SHA-256 of the pickle after it, then the pickle: a file cut off,
# garbled or written by another version of this format fails the check and is rebuilt.
_TAG = b"servicemap-kept-1\n"
_DIGEST_BYTES = 32
#: Results of each kind kept at most (the oldest are removed), so old keys do not pile up.
KEPT_PER_KIND = 12


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """Return a digest of servicemap's own code and bundled data (names, sizes, change times).

    Part of every kept result's key: a new version, an edited module or an updated data file
    gives new keys, so a result computed by other code is never reused. Reading the file
    sizes and times takes about a millisecond; hashing the contents would take far longer.

    Returns
    -------
    str
        A hex digest.
    """
    digest = hashlib.sha256()
    for root in (os.path.dirname(os.path.abspath(__file__)), str(data_dir())):
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(files):
                path = os.path.join(folder, name)  # plain strings: Path objects cost more here
                with contextlib.suppress(OSError):
                    stat = os.stat(path)
                    digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_key(*parts: object) -> str:
    """Return a short digest of ``parts`` (their ``repr``) plus :func:`source_fingerprint`.

    Parameters
    ----------
    *parts
        Everything the kept result depends on: file digests, options, versions.

    Returns
    -------
    str
        24 hex digits.
    """
    text = repr((source_fingerprint(), *parts)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(text).hexdigest()[:24]


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file's bytes (for a kept result's key).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        A hex digest.
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


T = TypeVar("T")


def _read_kept(path: Path) -> tuple[Any, list[tuple[str, str]]]:
    data = path.read_bytes()
    head = len(_TAG) + _DIGEST_BYTES
    if not data.startswith(_TAG) or len(data) <= head:
        raise ValueError("not a kept result")
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(_TAG) : head]:
        raise ValueError("checksum mismatch")
    value, notes = pickle.loads(payload)  # noqa: S301 - our own file, checked above
    return value, notes


def _write_kept(path: Path, value: Any, notes: list[tuple[str, str]], keep: int) -> None:
    payload = pickle.dumps((value, notes), protocol=pickle.HIGHEST_PROTOCOL)
    atomic_write_bytes(path, _TAG + hashlib.sha256(payload).digest() + payload)
    kept = sorted(path.parent.glob("*.pickle"), key=_mtime, reverse=True)
    for old in kept[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _recorded(caught: list[warnings.WarningMessage]) -> list[tuple[str, str]]:
    """Return the data-quality warnings among ``caught`` as (category name, message)."""
    notes: list[tuple[str, str]] = []
    for item in caught:
        if issubclass(item.category, DataQualityWarning):
            notes.append((item.category.__name__, str(item.message)))
        else:  # anything else is shown as it came, and not kept
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return notes


def recorded_warnings(build: Callable[[], T]) -> tuple[T, list[tuple[str, str]]]:
    """Return what ``build`` returns and the data-quality warnings it gave, as notes.

    The notes are (category name, message), as :func:`kept_result` keeps them; other warnings
    are shown as they came. Give the notes with :func:`warn_again` where the result is used.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = build()
    return value, _recorded(caught)


def warn_again(notes: list[tuple[str, str]]) -> None:
    """Give again the data-quality warnings :func:`recorded_warnings` recorded."""
    for name, message in notes:
        category = getattr(errors, name, None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = errors.DataQualityWarning
        warnings.warn(message, category, stacklevel=3)


def kept_path(cache_dir: Path, kind: str, key: str) -> Path:
    """Return where :func:`kept_result` keeps the result of ``kind`` under ``key``."""
    return cache_dir / kind / f"{key}.pickle"


def kept_result(
    cache_dir: Path,
    kind: str,
    key: str,
    build: Callable[[], T],
    *,
    what: str,
    rebuild: str,
    keep: int = KEPT_PER_KIND,
) -> T:
    """Return a result kept in the cache folder under ``kind/key``, building it when missing.

    The data-quality warnings the build raised are kept with the result and raised again each
    time it is reused, so a command says the same with and without the kept copy. A damaged
    entry (cut off, garbled, empty, a folder) gives a :class:`CacheNotice` and is rebuilt; a
    cache folder that cannot be written only means the result is not kept.

    Parameters
    ----------
    cache_dir
        ``settings.cache_dir``.
    kind
        The sub-folder, e.g. ``"coverage"``.
    key
        From :func:`cache_key`: everything the result depends on.
    build
        Computes the result (it must be picklable).
    what, rebuild
        For the notice: what the entry holds and how it is rebuilt (see
        :func:`heal_cache_entry`).
    keep
        How many results of this ``kind`` are kept at most (the latest ones): 1 for large
        results of which only the latest is worth keeping, such as drawn figures.

    Returns
    -------
    object
        The kept or freshly built result.
    """
    path = kept_path(cache_dir, kind, key)
    if path.exists():
        try:
            value, notes = _read_kept(path)
        except Exception:  # noqa: BLE001 - any unreadable entry is rebuilt
            heal_cache_entry(path, what=what, reason=describe_damage(path), rebuild=rebuild)
        else:
            warn_again(notes)
            return cast(T, value)
    built, notes = recorded_warnings(build)
    with contextlib.suppress(OSError, CacheError):
        _write_kept(path, built, notes, keep)
    warn_again(notes)
    return built
