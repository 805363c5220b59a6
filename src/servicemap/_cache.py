"""The cache folder: check it can be used, heal damaged entries, and say how to fix it if not."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from servicemap.errors import CacheError, CacheNotice

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
