"""A folder of files published as a whole: a kill at any moment leaves the old set or the new.

``servicemap report -o DIR`` writes five entries into ``DIR`` (``forces/``, ``map.html``,
``coverage.csv``, ``coverage.png``, ``index.html``) that link to each other, and leaves every
other file in ``DIR`` alone. Replacing five entries one rename at a time cannot be atomic, so
the entries are symbolic links into one versioned folder, and a new report is switched in by
renaming a single link::

    DIR/index.html  -> .servicemap-report/current/index.html
    DIR/forces      -> .servicemap-report/current/forces
    …                  (one link per entry; created once, then never changed)
    DIR/.servicemap-report/current -> v-1a2b3c   (the one pointer)
    DIR/.servicemap-report/v-1a2b3c/             (the files, and manifest.json)

Publishing, step by step, and what a kill at that step leaves:

1. Check ``DIR``: it may only hold, at the entries' names, what an earlier report wrote there
   (``manifest.json`` lists every file with its SHA-256; a file that is not listed or whose
   content changed is the user's, and is never replaced unless ``force``). *Nothing changed.*
2. Write the new report into a fresh ``v-…`` folder beside the old one, with its manifest;
   ``fsync`` every file. *The old report is whole; a hidden unfinished ``v-…`` is left.*
3. Make a link ``current.v-…`` to it and ``rename(2)`` it over ``current``: the one atomic
   step. *Before it: the old report, whole. After it: the new one, whole.*
4. Delete the old version and any leftovers of killed runs. *The new report, whole.*

Links are opened through like the files themselves: a browser at ``DIR/forces/kent.html``
follows ``../index.html`` to ``DIR/index.html``, and copying, zipping or serving ``DIR`` follows
them too.

The first report written into a folder that already exists, and the upgrade of a report folder
from servicemap 0.1 (real files and a ``.servicemap-report`` marker file), add or replace the
entries one by one after step 3, ``index.html`` last; a failure there is rolled back. A folder
that does not exist yet is built whole beside it and renamed into place, so it appears at once.

Where symbolic links cannot be made (Windows without Developer Mode, some network drives) the
entries are real files and folders, each replaced by a rename, ``index.html`` last, with the
old ones kept until the whole swap succeeds and restored if any step fails; only a kill in the
middle of that swap can leave a mix of old and new entries (never a missing one, except for the
instant between the two renames that swap ``forces/``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from servicemap import __version__
from servicemap._atomic import output_error, probe_writable, same_file
from servicemap.errors import OutputError

STATE = ".servicemap-report"
"""The hidden folder in ``DIR`` holding the versions; in servicemap 0.1, a marker file."""

_MANIFEST = "manifest.json"
_CURRENT = "current"
_SHOWN = 10  # conflicting files named in an error before "… and N more"


def _subject(out: Path) -> str:
    return f"Cannot write the report to {str(out)!r}"


def _link_text(name: str) -> str:
    """Return what the link ``DIR/<name>`` holds (relative: the folder can be moved or copied)."""
    return os.path.join(STATE, _CURRENT, name)


def _is_our_link(out: Path, name: str) -> bool:
    path = out / name
    return path.is_symlink() and os.readlink(path) == _link_text(name)


def symlinks_work(folder: Path) -> bool:
    """Return True if symbolic links can be made in ``folder`` (an existing folder)."""
    probe = folder / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.symlink("probe", probe)
    except (OSError, NotImplementedError):
        return False
    with contextlib.suppress(OSError):  # a leftover is removed with the other leftovers
        os.unlink(probe)
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files_under(path: Path, name: str) -> list[tuple[str, Path]]:
    """Return (relative name, path) of the files at ``path`` (itself, or inside a folder)."""
    if path.is_dir():
        return [
            ((Path(name) / file.relative_to(path)).as_posix(), file)
            for file in sorted(path.rglob("*"))
            if not file.is_dir()
        ]
    return [(name, path)]


def _owned(out: Path) -> tuple[str, dict[str, str]]:
    """Return the layout of ``out`` (links, flat, legacy, none) and the files it recorded."""
    state = out / STATE
    if state.is_dir() and not state.is_symlink():
        for manifest in (state / _CURRENT / _MANIFEST, state / _MANIFEST):
            if manifest.is_file():
                try:
                    files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                if isinstance(files, dict):
                    layout = "links" if manifest.parent.name == _CURRENT else "flat"
                    return layout, {str(k): str(v) for k, v in files.items()}
        return "none", {}
    if state.is_file() and not state.is_symlink():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if state.read_text(encoding="utf-8").startswith("servicemap "):
                return "legacy", {}
    return "none", {}


def conflicts(out_dir: Path | str, entries: Sequence[str]) -> list[str]:
    """Return what publishing ``entries`` into ``out_dir`` would replace that it did not write.

    Parameters
    ----------
    out_dir
        The folder.
    entries
        The names the report writes at the top of the folder.

    Returns
    -------
    list of str
        Relative paths, some with a reason in brackets (``index.html``, ``forces (a folder)``,
        ``forces/notes.html (added since the report was written)``, ``coverage.csv (changed
        since the report was written)``); empty when nothing would be lost.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    layout, files = _owned(out)
    found: list[str] = []
    state = out / STATE
    if os.path.lexists(state) and layout == "none" and not _is_folder(state):
        found.append(STATE)  # a file or link of that name that servicemap 0.1 did not write
    for name in entries:
        path = out / name
        if not os.path.lexists(path):
            continue
        if _is_our_link(out, name):
            if layout == "links":
                found += _changed(out / STATE / _CURRENT / name, name, files)
            continue  # otherwise it points at nothing: nothing to lose
        if layout == "legacy" and not path.is_symlink():
            continue  # servicemap 0.1 wrote these (its marker says so) and kept no checksums
        if layout == "flat" and not path.is_symlink():
            found += _changed(path, name, files)
            continue
        found.append(f"{name} (a folder)" if _is_folder(path) else name)
    return found


def _changed(path: Path, name: str, files: Mapping[str, str]) -> list[str]:
    """Return the files at ``path`` that are not in the manifest ``files`` as written there."""
    found = []
    for relative, file in _files_under(path, name):
        expected = files.get(relative)
        if expected is None:
            found.append(f"{relative} (added since the report was written)")
            continue
        try:
            same = not file.is_symlink() and _sha256(file) == expected
        except FileNotFoundError:
            continue  # gone: nothing to lose
        except OSError:
            same = False
        if not same:
            found.append(f"{relative} (changed since the report was written)")
    return found


def _raise_for_conflicts(out: Path, found: Sequence[str], option: str) -> None:
    if not found:
        return
    shown = ", ".join(found[:_SHOWN])
    more = f" … and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
    raise OutputError(
        f"{_subject(out)}: it would replace files that servicemap did not write: {shown}{more}. "
        f"Move them away, choose another folder with {option}, or pass --force to replace them."
    )


def check_folder(
    out_dir: Path | str,
    entries: Sequence[str],
    *,
    force: bool = False,
    inputs: Mapping[str, Path | None] | None = None,
    option: str = "-o",
    probe: bool = True,
) -> None:
    """Check that ``out_dir`` can take a published folder, before any work is done.

    Parameters
    ----------
    out_dir
        The folder; it and its parents are created when missing.
    entries
        The names that will be published at the top of the folder.
    force
        Replace entries that were not written by an earlier publication (or were changed).
    inputs
        The command's input files by option; none may be one of the files to be replaced.
    option
        The option naming the folder, for the messages.
    probe
        Also show, by creating and removing a small file, that the folder can be written.

    Raises
    ------
    OutputError
        ``out_dir`` is a file or lies below one, cannot be written, holds at an entry's name
        something an earlier report did not write (unless ``force``), or holds an input.
    """
    out = Path(out_dir)
    existing = out
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "it is" if existing == out else f"{str(existing)!r} is"
        raise OutputError(
            f"{_subject(out)}: {where} a file, not a folder; choose a folder with {option}."
        )
    if probe:
        probe_writable(existing, subject=_subject(out), option=option)
    if existing != out:
        return
    try:
        given = {flag: source for flag, source in (inputs or {}).items() if source is not None}
        for flag, source in given.items():
            for name in (*entries, STATE):
                path = out / name
                for relative, file in _files_under(path, name) if path.exists() else []:
                    if same_file(file, source):
                        raise OutputError(
                            f"{_subject(out)}: its file {relative!r} is also an input ({flag}), "
                            f"which would be overwritten; choose another folder with {option}."
                        )
        found = [] if force else conflicts(out, entries)
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(out, exc, subject=_subject(out), option=option) from exc
    _raise_for_conflicts(out, found, option)


# --- publishing ---------------------------------------------------------------------------------


def _finish(version: Path, entries: Sequence[str]) -> dict[str, str]:
    """Check every entry was written, set permissions, fsync, and return the files' checksums."""
    missing = [name for name in entries if not os.path.lexists(version / name)]
    if missing:
        raise ValueError(f"The folder to publish lacks {', '.join(missing)}.")
    files: dict[str, str] = {}
    for name in entries:
        for relative, file in _files_under(version / name, name):
            os.chmod(file, 0o644)
            with open(file, "r+b" if os.name == "nt" else "rb") as handle:  # Windows: writable
                os.fsync(handle.fileno())
            files[relative] = _sha256(file)
    for folder in (version, *(p for p in version.rglob("*") if p.is_dir())):
        os.chmod(folder, 0o755)
        _fsync(folder)
    return files


def _fsync(folder: Path) -> None:
    if os.name == "nt":  # folders cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_manifest(path: Path, files: Mapping[str, str]) -> None:
    document = {"servicemap": __version__, "files": dict(files)}
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _point_current(state: Path, version: str) -> None:
    """Switch ``state/current`` to ``version`` with one atomic rename of a link."""
    link = state / f"{_CURRENT}.{version}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    os.symlink(version, link)
    os.replace(link, state / _CURRENT)
    _fsync(state)


def _place_link(out: Path, name: str, state: Path) -> None:
    """Put the link ``out/name`` in place with one rename (made in ``state``, same drive)."""
    link = state / f".link-{name}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    os.symlink(_link_text(name), link)
    os.replace(link, out / name)


def _keep(path: Path, copy: Path) -> None:
    """Keep the file or link ``path`` at ``copy`` without moving it (a hard link if possible)."""
    if path.is_symlink():
        os.symlink(os.readlink(path), copy)
        return
    try:
        os.link(path, copy)
    except OSError:
        shutil.copy2(path, copy)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _collect_garbage(state: Path) -> None:
    """Remove old versions and leftovers of killed runs: only servicemap's own names."""
    current = state / _CURRENT
    keep = {_CURRENT, _MANIFEST, os.readlink(current) if current.is_symlink() else _CURRENT}
    for path in state.iterdir():
        if path.name not in keep and path.name.startswith(("v-", "trash-", f"{_CURRENT}.", ".")):
            with contextlib.suppress(OSError):
                _remove(path)


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


class _Undo:
    """Steps to reverse, newest first, if publishing fails before it is complete."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def add(self, step: Callable[[], None]) -> None:
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


@contextlib.contextmanager
def publish_folder(
    out_dir: Path | str, entries: Sequence[str], *, force: bool = False
) -> Iterator[Path]:
    """Yield an empty folder to write ``entries`` into; on success publish it as ``out_dir``.

    See the module's docstring for the layout and why every moment is safe. Files in
    ``out_dir`` that are not among ``entries`` are never touched.

    Parameters
    ----------
    out_dir
        The folder to publish into; created (with its parents) if missing.
    entries
        The names the block writes at the top of the yielded folder, in the order they are
        put in place when that is done one by one (the entry page last).
    force
        Replace what an earlier publication did not write at the entries' names.

    Returns
    -------
    Iterator
        The folder to write into. If the block raises (or is interrupted) it is removed and
        ``out_dir`` is as it was.

    Raises
    ------
    OutputError
        ``out_dir`` cannot be written, or holds files it did not write (unless ``force``);
        also for an ``OSError`` raised while the block writes.
    """
    out = Path(out_dir)
    try:
        check_folder(out, entries, force=force, probe=False)  # the writes show the rest
        if os.path.lexists(out):
            with _publish_into(out, entries) as version:
                yield version
        else:
            with _publish_new(out, entries) as version:
                yield version
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(out, exc, subject=_subject(out)) from exc


@contextlib.contextmanager
def _publish_new(out: Path, entries: Sequence[str]) -> Iterator[Path]:
    """Build the whole folder beside ``out`` and rename it into place: it appears at once."""
    out.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    moved = False
    try:
        state = root / STATE
        state.mkdir()
        version = Path(tempfile.mkdtemp(dir=state, prefix="v-"))
        yield version
        files = _finish(version, entries)
        if symlinks_work(state):
            _write_manifest(version / _MANIFEST, files)
            _point_current(state, version.name)
            for name in entries:
                os.symlink(_link_text(name), root / name)
        else:
            for name in entries:
                os.replace(version / name, root / name)
            _write_manifest(state / _MANIFEST, files)
            shutil.rmtree(version)
        os.chmod(state, 0o755)
        os.chmod(root, 0o755)
        _fsync(root)
        os.rename(root, out)  # the one step that makes the report appear
        moved = True
        _fsync(out.parent)
        for stale in out.parent.glob(f".{out.name}.new-*"):  # left by runs that were killed
            shutil.rmtree(stale, ignore_errors=True)
    finally:
        if not moved:
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _publish_into(out: Path, entries: Sequence[str]) -> Iterator[Path]:
    """Publish into the existing folder ``out`` (see the module's docstring)."""
    state = out / STATE
    layout, old_files = _owned(out)
    # servicemap 0.1 left a marker *file* where the versions now live (with force: whatever is
    # there): build beside it, and swap the marker for the new folder only once all is written.
    replace_state = os.path.lexists(state) and not _is_folder(state)
    build: Path | None = None
    version: Path | None = None
    undo = _Undo()
    trash: Path | None = None
    done = False
    try:
        if replace_state:
            build = Path(tempfile.mkdtemp(dir=out, prefix=f"{STATE}.new-"))
        else:
            state.mkdir(exist_ok=True)
        version = Path(tempfile.mkdtemp(dir=build or state, prefix="v-"))
        yield version
        files = _finish(version, entries)
        if build is not None:
            marker, staged = build / ".marker", build
            os.replace(state, marker)
            undo.add(lambda: os.replace(marker, state))
            os.rename(staged, state)
            undo.add(lambda: os.rename(state, staged))
            version = state / version.name
        trash = Path(tempfile.mkdtemp(dir=state, prefix="trash-"))
        if symlinks_work(state):
            _publish_links(out, entries, version, files, trash, undo)
            # Entries an older report had and this one does not: their links would dangle.
            old_entries = (
                {name.split("/", 1)[0] for name in old_files} if layout == "links" else set()
            )
            for name in old_entries - set(entries):
                if _is_our_link(out, name):
                    os.unlink(out / name)
        else:
            _publish_flat(out, entries, version, files, trash, undo)
        _fsync(out)
        done = True
    except BaseException:
        clean = undo.run()
        if not clean:
            trash = None  # it may hold what could not be put back: never delete it
        raise
    finally:
        if not done:
            for leftover in (version, build, trash):
                if leftover is not None:
                    shutil.rmtree(leftover, ignore_errors=True)
    with contextlib.suppress(OSError):
        _collect_garbage(state)
        for stale in out.glob(f"{STATE}.new-*"):  # left by upgrades that were killed
            shutil.rmtree(stale, ignore_errors=True)


def _publish_links(
    out: Path,
    entries: Sequence[str],
    version: Path,
    files: Mapping[str, str],
    trash: Path,
    undo: _Undo,
) -> None:
    """Switch ``current`` to ``version`` (one rename), then add any entry link not yet there."""
    state = version.parent
    _write_manifest(version / _MANIFEST, files)
    current = state / _CURRENT
    previous = os.readlink(current) if current.is_symlink() else None
    # Registered first: the switch may succeed and the fsync after it fail.
    undo.add(lambda: _point_current(state, previous) if previous else _remove(current))
    _point_current(state, version.name)
    for name in entries:
        if not _is_our_link(out, name):
            _swap_in(out / name, functools.partial(_place_link, out, name, state), trash, undo)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state / _MANIFEST)  # left by an earlier report made without links


def _publish_flat(
    out: Path,
    entries: Sequence[str],
    version: Path,
    files: Mapping[str, str],
    trash: Path,
    undo: _Undo,
) -> None:
    """Without symbolic links: rename each entry into place, keeping the old ones for undo."""
    state = version.parent
    for name in entries:
        source = version / name
        _swap_in(
            out / name,
            functools.partial(os.replace, source, out / name),
            trash,
            undo,
            folder=_is_folder(source),
        )
    manifest = state / _MANIFEST
    if manifest.exists():
        _keep(manifest, trash / _MANIFEST)
        undo.add(lambda: os.replace(trash / _MANIFEST, manifest))
    _write_manifest(manifest, files)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state / _CURRENT)  # the versions an earlier report linked to are not used


def _swap_in(
    target: Path, put: Callable[[], None], trash: Path, undo: _Undo, *, folder: bool = False
) -> None:
    """Put a new entry at ``target`` with ``put``, keeping the old one in ``trash`` for undo.

    ``folder`` says the new entry is a folder, which cannot be renamed over a file either.
    """
    if not os.path.lexists(target):
        put()
        undo.add(lambda: _remove(target))
        return
    kept = trash / target.name
    if _is_folder(target) or folder:
        # A folder cannot be renamed over (nor over a file): move the old one aside first.
        os.replace(target, kept)
        undo.add(lambda: os.replace(kept, target))
        put()
        undo.add(lambda: _remove(target))
        return
    _keep(target, kept)
    put()  # one rename over the old file or link
    undo.add(lambda: os.replace(kept, target))
