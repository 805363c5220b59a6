"""The file-system steps that put a folder in place: swapped whole, or entry by entry.

:mod:`servicemap._folder` publishes a report folder with these. On Linux, :func:`exchange`
swaps two folders in one atomic step (``renameat2(2)`` with ``RENAME_EXCHANGE``), after
:func:`mirror` has made the new folder a copy of the user's entries by hard links (and
:func:`merge` later brings back what the user changed meanwhile). Elsewhere, :func:`swap_in`
replaces one entry at a time, keeping each old one for :class:`Undo`. Every step goes through
``os`` or ``shutil`` (or :func:`exchange`), so that tests can make any of them fail or die.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import platform
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from servicemap._atomic import fsync_folder

if sys.platform != "win32":
    import fcntl

AT_FDCWD = -100
RENAME_EXCHANGE = 2
# renameat2's system call number where glibc lacks the function (64-bit processes only).
_SYS_RENAMEAT2 = {"x86_64": 316, "amd64": 316, "aarch64": 276, "arm64": 276, "riscv64": 276}
# What renameat2 returns when this system, drive or folder cannot exchange: use the fallback.
NO_EXCHANGE = {
    errno.EINVAL,
    errno.ENOSYS,
    errno.EXDEV,
    errno.EPERM,
    errno.EACCES,
    errno.ENOTSUP,
    errno.EOPNOTSUPP,
    errno.EBUSY,
}


# --- the exchange -------------------------------------------------------------------------------


def load_renameat2(*, libc_first: bool = True) -> Callable[[bytes, bytes, int], int] | None:
    """Return ``renameat2(AT_FDCWD, a, AT_FDCWD, b, flags)`` from the C library, or None.

    glibc 2.28 and later has the function; elsewhere it is called as a system call where its
    number is known (64-bit x86 and ARM). ``libc_first=False`` skips the function (for tests).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "renameat2", None) if libc_first else None
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
        function.argtypes += [ctypes.c_uint]
        function.restype = ctypes.c_int

        def call(first: bytes, second: bytes, flags: int) -> int:
            return int(function(AT_FDCWD, first, AT_FDCWD, second, flags))

        return call
    number = _SYS_RENAMEAT2.get(platform.machine().lower())
    syscall = getattr(libc, "syscall", None)
    if number is None or syscall is None or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    syscall.restype = ctypes.c_long

    def call_syscall(first: bytes, second: bytes, flags: int) -> int:
        at = ctypes.c_long(AT_FDCWD)
        return int(syscall(ctypes.c_long(number), at, first, at, second, ctypes.c_long(flags)))

    return call_syscall


@functools.cache
def renameat2() -> Callable[[bytes, bytes, int], int] | None:
    """Return :func:`load_renameat2`'s function, looked up once (None where there is none)."""
    return load_renameat2()


def exchange(first: Path, second: Path) -> None:
    """Exchange two existing paths in one atomic step (Linux ``renameat2`` RENAME_EXCHANGE).

    Raises
    ------
    OSError
        ``ENOSYS`` where there is no ``renameat2``; otherwise what it returned.
    """
    function = renameat2()
    if function is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available here", str(first))
    if function(os.fsencode(first), os.fsencode(second), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


def holds_cwd(folder: Path) -> bool:
    """Return True if ``folder`` is this process's current folder or holds it."""
    try:
        cwd = Path(os.getcwd())
    except OSError:
        return False
    return cwd == folder or folder in cwd.parents


# --- small file-system steps --------------------------------------------------------------------


def is_folder(path: Path) -> bool:
    """Return True for a real folder (not a link to one)."""
    return path.is_dir() and not path.is_symlink()


def write_json(path: Path, document: Mapping[str, object], scratch: Path) -> None:
    """Write ``document`` to ``path`` atomically, through a temporary file in ``scratch``."""
    tmp = scratch / f".{path.name}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "x", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def lock(folder: Path) -> int | None:
    """Hold a lock on ``folder`` so that no other run cleans it up; None if it is held.

    Returns the open descriptor that holds the lock (-1 where locks are not available).
    """
    if sys.platform == "win32":
        return -1
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:  # no locks on this drive: carry on without
        pass
    return fd


def unlock(fds: Sequence[int | None]) -> None:
    """Release the locks :func:`lock` took (None and -1 stand for none)."""
    for fd in fds:
        if fd is not None and fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def remove_tree(path: Path, *, last: str | None = None) -> None:
    """Delete the folder ``path`` and what it holds, the file named ``last`` (if any) last.

    That file is what marks a hidden folder as servicemap's: it stays until the rest is gone.

    Links are removed, never followed, and a folder on another drive is never entered (an
    ``OSError`` is raised instead), so nothing outside ``path`` can be deleted.
    """
    top = os.lstat(path)

    def empty(folder: Path, skip: str | None) -> None:
        if not os.access(folder, os.W_OK | os.X_OK):  # a read-only folder of the user's
            os.chmod(folder, stat.S_IMODE(os.lstat(folder).st_mode) | stat.S_IRWXU)
        for name in os.listdir(folder):
            child = folder / name
            info = os.lstat(child)
            if name == skip:
                continue
            if stat.S_ISDIR(info.st_mode):
                if info.st_dev != top.st_dev:
                    raise OSError(errno.EXDEV, "another drive is mounted there", str(child))
                empty(child, None)
                os.rmdir(child)
            else:
                os.unlink(child)

    empty(path, last)
    if last is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path / last)
    os.rmdir(path)


def remove(path: Path) -> None:
    """Delete what is at ``path`` (a folder with what it holds), if anything is."""
    if is_folder(path):
        remove_tree(path)
    elif os.path.lexists(path):
        os.unlink(path)


# --- a copy by hard links, for the exchange -----------------------------------------------------


class NoExchangeError(Exception):
    """The folder cannot be swapped whole here: replace the entries one by one instead."""


def copy_attributes(source: Path, target: Path, info: os.stat_result) -> None:
    """Give the folder ``target`` the permissions, times and owner of ``source``."""
    shutil.copystat(source, target, follow_symlinks=False)
    if hasattr(os, "chown") and (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(OSError):  # only the owner's group, or root, may
            os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)


def mirror(source: Path, target: Path, drive: int) -> None:
    """Recreate ``source`` at ``target``: folders anew, files and links as hard links.

    Where a hard link cannot be made, a file is copied and a symbolic link made anew.

    Raises
    ------
    NoExchangeError
        ``source`` holds another drive, or a special file that cannot be linked.
    """
    info = os.lstat(source)
    if info.st_dev != drive:
        raise NoExchangeError(f"{source} is on another drive")
    if stat.S_ISDIR(info.st_mode):
        os.mkdir(target, 0o700)
        for name in sorted(os.listdir(source)):
            mirror(source / name, target / name, drive)
        copy_attributes(source, target, info)
        fsync_folder(target)
        return
    try:
        os.link(source, target, follow_symlinks=False)  # a link itself, not what it points to
    except OSError as exc:
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), target)
            return
        if not stat.S_ISREG(info.st_mode):
            raise NoExchangeError(f"{source} cannot be linked") from exc
        shutil.copy2(source, target, follow_symlinks=False)
        if hasattr(os, "chown") and (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):
                os.chown(target, info.st_uid, info.st_gid)


def merge(old: Path, new: Path) -> bool:
    """Bring what changed at ``old`` since it was copied to ``new`` into ``new``."""
    clean = True
    try:
        before, after = os.lstat(old), os.lstat(new)
        if stat.S_ISDIR(before.st_mode):
            if not stat.S_ISDIR(after.st_mode):
                return True
            for name in os.listdir(old):
                if not os.path.lexists(new / name):
                    os.rename(old / name, new / name)
                else:
                    clean = merge(old / name, new / name) and clean
        elif not stat.S_ISDIR(after.st_mode):
            other = (before.st_ino, before.st_dev) != (after.st_ino, after.st_dev)
            if other and before.st_mtime_ns > after.st_mtime_ns:
                os.replace(old, new)
    except FileNotFoundError:
        pass
    except OSError:
        clean = False
    return clean


# --- entry by entry, where the exchange cannot be used ------------------------------------------


class Undo:
    """Steps to reverse, newest first, if publishing fails before it is complete."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def add(self, step: Callable[[], None]) -> None:
        """Remember ``step``, the reverse of what was just done."""
        self.steps.append(step)

    def run(self) -> bool:
        """Reverse every step; return False if one of them failed."""
        clean = True
        for step in reversed(self.steps):
            try:
                step()
            except OSError:
                clean = False
        self.steps.clear()
        return clean


def keep(path: Path, copy: Path) -> None:
    """Keep the file (or old layout's link) ``path`` at ``copy`` without moving it."""
    if path.is_symlink():
        os.symlink(os.readlink(path), copy)
        return
    try:
        os.link(path, copy)
    except OSError:
        shutil.copy2(path, copy)


def swap_in(
    target: Path, put: Callable[[], None], trash: Path, undo: Undo, *, folder: bool = False
) -> None:
    """Put a new entry at ``target`` with ``put``, keeping the old one in ``trash`` for undo.

    ``folder`` says the new entry is a folder, which cannot be renamed over a file either.
    """
    if not os.path.lexists(target):
        put()
        undo.add(lambda: remove(target))
        return
    kept = trash / target.name
    if is_folder(target) or folder:
        # A folder cannot be renamed over (nor over a file): move the old one aside first.
        os.replace(target, kept)
        undo.add(lambda: os.replace(kept, target))
        put()
        undo.add(lambda: remove(target))
        return
    keep(target, kept)
    put()  # one rename over the old file
    undo.add(lambda: os.replace(kept, target))
