"""Safe outputs: atomic file writes, clear errors, and the checks every command runs first.

A writer here never leaves half a file: it writes a temporary file beside the target and
renames it over the target only when it is complete, so a reader (or a later run) sees the old
file or the new one. A failed, interrupted (Ctrl-C) or killed run leaves the old file as it was;
a kill can at most leave a hidden ``.<name>.*.tmp`` file beside it.

Every file-system failure is raised as :class:`~servicemap.errors.OutputError` (still an
``OSError``) whose message names the file, says why (a folder, a missing folder, no permission,
a read-only drive, a full disk) and how to fix it; the command line prints it as one
``Error: …`` line with exit status 1.

:func:`check_outputs` is what a command runs *before* it starts work, so a bad ``-o`` fails in
a second rather than after the whole computation: the path must not be a folder, must not lie
below a file, its folder must exist (unless the caller creates it, as for a command's default
output such as ``maps/coverage.html``), the place must be writable, and it must not be one of the
command's inputs (compared as resolved paths and as files, so a symbolic or hard link to an
input is caught too): writing an output over the private master copy of a directory would
destroy the only record of where refuges are.

Library writers (``atomic_write`` and friends) create a missing folder: they are also used for
caches. The command line is stricter about ``-o FILE`` because a missing folder is usually a
typing mistake, and silently creating ``nosuchdir/`` hides it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from servicemap.errors import OutputError

# Why a write failed and how to fix it, by errno.
_REASONS: dict[int, tuple[str, str]] = {
    errno.EACCES: ("you do not have permission to write there", "choose a folder you can write to"),
    errno.EPERM: ("you do not have permission to write there", "choose a folder you can write to"),
    errno.EROFS: ("the drive is read-only", "choose a folder on a drive you can write to"),
    errno.ENOSPC: ("the disk is full", "free some space or choose another drive"),
    errno.EDQUOT: ("your disk quota is used up", "free some space or choose another drive"),
    errno.EFBIG: ("the file is too large for the drive", "choose another drive"),
    errno.EISDIR: ("it is a folder, not a file", "give the name of a file"),
    errno.ENOTDIR: ("part of the path is a file, not a folder", "choose another place"),
    errno.ENOENT: ("its folder does not exist", "create the folder first or choose another place"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter name"),
}


def output_error(
    path: Path | str, exc: OSError, *, subject: str | None = None, option: str | None = None
) -> OutputError:
    """Return an :class:`OutputError` that says which output failed, why, and how to fix it.

    Parameters
    ----------
    path
        The file or folder that could not be written.
    exc
        The operating system's error.
    subject
        The start of the message; default ``Cannot write '<path>'``.
    option
        The option that names the output (``-o``), added to the fix.

    Returns
    -------
    OutputError
        The error to raise ``from exc``.
    """
    if isinstance(exc, OutputError):
        return exc
    why, fix = _REASONS.get(exc.errno or 0, (exc.strerror or str(exc), "choose another place"))
    where = f" with {option}" if option else ""
    # (errno and filename are not set: OSError would then print them instead of the message;
    # the caller raises this "from exc", which keeps them.)
    return OutputError(f"{subject or f'Cannot write {str(path)!r}'}: {why}; {fix}{where}.")


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` durable (POSIX; Windows cannot open folders)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    Parameters
    ----------
    path
        The file to (re)write. Its folder is created if missing.
    mode
        ``"w"`` for text (UTF-8 unless ``encoding`` is given) or ``"wb"`` for bytes.
    **open_kwargs
        Passed to ``open`` (e.g. ``newline=""`` for CSV).

    Returns
    -------
    Iterator
        The open temporary file; if the block raises (or is interrupted), it is deleted and
        ``path`` is untouched.

    Raises
    ------
    OutputError
        The file cannot be written: a folder, a missing place below a file, no permission, a
        read-only drive, a full disk. Also for an ``OSError`` raised while the block writes.
    """
    target = Path(path)
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    tmp: str | None = None
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise output_error(target, exc) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    with contextlib.suppress(OSError):  # the file is in place; this only makes it durable
        fsync_folder(target.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w", newline="") as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a library that writes files itself.

    On success the temporary file (or folder) replaces ``path``; on error it is removed and
    ``path`` is untouched. Useful for ``GeoDataFrame.to_file`` and ``DataFrame.to_excel``.

    Raises
    ------
    OutputError
        As :func:`atomic_write`.
    """
    target = Path(path)
    tmpdir: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmpdir = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        tmp = tmpdir / target.name
        yield tmp
        if tmp.is_dir():
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise output_error(target, exc) from exc
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    with contextlib.suppress(OSError):  # the file is in place; this only makes it durable
        fsync_folder(target.parent)


# --- checks before a command starts ------------------------------------------------------------


def same_file(first: Path | str, second: Path | str) -> bool:
    """Return True if two paths name the same file (through symbolic or hard links).

    Parameters
    ----------
    first, second
        Paths; either may not exist.

    Returns
    -------
    bool
        Whether they resolve to the same path, or both exist and are the same file.
    """
    try:
        if os.path.samefile(first, second):
            return True
    except OSError:
        pass
    return os.path.realpath(first) == os.path.realpath(second)


def check_outputs(
    outputs: Mapping[str, Path | None],
    *,
    inputs: Mapping[str, Path | None] | None = None,
    create_folders: bool | Mapping[str, bool] = False,
) -> None:
    """Check a command's output files before it does any work.

    Parameters
    ----------
    outputs
        Each output's option (``"-o"``, ``"--map"``) and file, ``None`` when not given.
    inputs
        Each input's option (``"--services"``, ``"FILE"``) and file, ``None`` when not given.
    create_folders
        Whether a missing folder is acceptable (the writer will create it), for all outputs or
        by option; the command line allows it only for its own default paths.

    Raises
    ------
    OutputError
        An output is a folder, lies below a file, is in a missing folder (unless allowed), is
        not writable, is one of the inputs, or two outputs name the same file. The message
        names the file and the option to change.
    """
    given = {option: Path(path) for option, path in outputs.items() if path is not None}
    for option, target in given.items():
        create = (
            create_folders.get(option, False)
            if isinstance(create_folders, Mapping)
            else create_folders
        )
        _check_output(target, option=option, inputs=inputs or {}, create_folder=create)
    options = list(given)
    for i, first in enumerate(options):
        for second in options[i + 1 :]:
            if same_file(given[first], given[second]):
                raise OutputError(
                    f"Cannot write {str(given[first])!r} twice: {first} and {second} name the "
                    "same file; give them different files."
                )


def _check_output(
    target: Path, *, option: str, inputs: Mapping[str, Path | None], create_folder: bool
) -> None:
    subject = f"Cannot write {str(target)!r}"
    if target.is_dir():
        raise OutputError(f"{subject}: it is a folder; give {option} the name of a file in it.")
    for flag, source in inputs.items():
        if source is not None and same_file(target, source):
            raise OutputError(
                f"{subject}: it is also an input ({flag}), which would be overwritten; choose "
                f"another file with {option}."
            )
    folder = target.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputError(
            f"{subject}: {str(existing)!r} is a file, not a folder; choose another place with "
            f"{option}."
        )
    if existing != folder and not create_folder:
        raise OutputError(
            f"{subject}: the folder {str(folder)!r} does not exist; create it first, or choose "
            f"another place with {option}."
        )
    probe_writable(existing, subject=subject, option=option)


def probe_writable(folder: Path, *, subject: str, option: str) -> None:
    """Create and remove a small file in ``folder`` to show that it can be written now.

    Parameters
    ----------
    folder
        An existing folder.
    subject
        The start of the error message (``Cannot write 'x.csv'``).
    option
        The option that names the output, for the fix.

    Raises
    ------
    OutputError
        The folder cannot be written (permission, read-only drive, full disk).
    """
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".servicemap-", suffix=".tmp")
    except OSError as exc:
        raise output_error(folder, exc, subject=subject, option=option) from exc
    os.close(fd)
    with contextlib.suppress(OSError):  # it could be written: that is all this checks
        os.unlink(probe)
