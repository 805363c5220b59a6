"""A report folder published as a whole, in plain files: a kill leaves the old report or the new.

``servicemap report -o DIR`` writes its entries into ``DIR`` (``forces/``, ``map.html``,
``coverage.csv``, ``coverage.png``, ``index.html``, …) that link to each other, and one small
hidden file, ``DIR/.servicemap-report.json`` (:data:`MANIFEST`), that lists every file the
report wrote with its SHA-256. An entry the last report wrote and this one does not is removed
if unchanged (:func:`stale_entries`); every other entry of ``DIR`` is the user's and is kept.
All plain files and folders, no symbolic links: the folder can be zipped, e-mailed, copied to
a FAT32 or exFAT stick, opened on Windows and published on any static host as it is.

One file is replaced atomically by renaming a new one over it; five entries cannot be. So on
Linux the whole folder is swapped instead, with ``renameat2(2)`` and ``RENAME_EXCHANGE``, which
exchanges two folders in one atomic step. The new folder is built beside ``DIR``, on the same
drive, as ``.DIR.servicemap-new-<token>`` (with ``.DIR.servicemap-old-<token>`` holding its
notes). Publishing, step by step, and what a kill at that step leaves:

1. Clean up after runs that were killed (below). *The old report, whole.*
2. Create the two hidden folders beside ``DIR``, each with a manifest file that says they are
   servicemap's; exchange them while they are empty, to learn whether this drive can.
   *The old report, whole; hidden leftovers beside it.*
3. Write the new report into the new folder, ``fsync`` every file, record their checksums.
   *The old report, whole.*
4. Check ``DIR`` again for files at the report's names that servicemap did not write (the
   manifest says which it did); they are refused unless ``force``. *Nothing changed.*
5. Make the new folder a complete copy of what ``DIR`` should become: every other entry of
   ``DIR`` (the user's files and folders) is added to it, folders recreated (same permissions),
   files as hard links to the very same files (a copy where a hard link cannot be made), links
   as links (the manifest is written first, then the names copied are noted in the old
   folder). *The old report, whole.*
6. Exchange the new folder and ``DIR``: the one atomic step. *Before it: the old report,
   whole. After it: the new one, whole, with the user's files.*
7. The old folder's contents now sit at the new folder's name. Anything the user created or
   changed in ``DIR`` during step 5 is there only: move it into ``DIR`` (a file newer than its
   copy replaces it). *The new report, whole. A kill here leaves such a file in the hidden
   folder; the next run moves back a new entry at the top of ``DIR``, but not a change made
   inside one of the user's folders.*
8. Delete the old contents, then the notes. *The new report, whole; a kill leaves hidden
   leftovers.*

A folder that does not exist yet is built whole at step 3 and renamed into place (its parents
are created): it appears at once, complete.

Where the exchange cannot be used, the entries are replaced one by one instead, ``index.html``
last: the manifest is first rewritten to accept the old files and the new, then each old entry
is kept aside (a hard link, or moved for a folder) and the new one renamed in its place; a
failure puts every old entry back. **Only here can a kill in the middle leave a mix of old and
new entries**, and, for the instant between the two renames that swap ``forces/``, no
``forces/``; the next run recognises both and finishes the job. That happens on systems other
than Linux (Windows, macOS); on Linux when ``renameat2`` is missing (a C library without it,
such as glibc before 2.28, on a machine other than 64-bit x86, ARM or RISC-V), when the drive
cannot exchange folders (step 2 finds out: network drives such as NFS or SMB and exFAT
typically cannot, nor can kernels before 3.15), when ``DIR`` is a mount point, is or holds the
current folder of this process, holds another drive mounted inside it or a special file that
cannot be hard-linked, or when the exchange is refused (``DIR`` owned by someone else in a
sticky folder such as ``/tmp``). Where a hidden folder cannot be made beside ``DIR`` (no
permission on its parent, or ``DIR`` is a mount point), it is made inside ``DIR``, and the
entries are replaced one by one from there.

Leftovers of killed runs are hidden folders named exactly ``.DIR.servicemap-new-<token>`` or
``.DIR.servicemap-old-<token>`` beside ``DIR`` (or ``.servicemap-new-…`` / ``.servicemap-old-…``
inside it) with 16 hex digits as the token. The next run deletes one only if it is empty or
holds servicemap's manifest file (as made at step 2, or naming that token), or if it is the
old contents an exchange
swapped out, which its ``old`` twin's notes (that token, and the names of the entries copied
at step 5) identify; and never while the run that made it is still going (that run holds a
lock on both). Before deleting swapped-out contents it moves back into ``DIR`` every entry
that is not servicemap's, was not copied, and that ``DIR`` lacks; if it cannot, it keeps
them. The names of the user's files are noted only there, beside ``DIR``, never in it (the
folder may be published).

Report folders from earlier versions are recognised and upgraded to this layout: servicemap
0.1 (real files and a ``.servicemap-report`` marker file) and the layout with symbolic links
into a hidden ``.servicemap-report/`` folder of versions (also with real files and
``.servicemap-report/manifest.json``). After the upgrade the folder is plain files, and the
marker or hidden folder is gone.

Two things a folder swap cannot hide: a program whose current folder is ``DIR`` (or a folder in
it), such as a terminal or a web server started there, keeps the old, deleted folder until it
changes folder again; and a file the user deletes from ``DIR`` during step 5 comes back. The
user's files (and links) are the very same files after a report, hard links to them; only
where a hard link cannot be made is a file a copy, with the same contents, times and
permissions, and its owner where that may be set. Folders are made anew with their
permissions, times and (where allowed) owner.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# exchange() and renameat2() are called through the module, so that tests can replace them.
from servicemap import __version__, _swap
from servicemap._atomic import fsync_folder, output_error, probe_writable, same_file
from servicemap._swap import (
    NO_EXCHANGE,
    NoExchangeError,
    Undo,
    copy_attributes,
    holds_cwd,
    is_folder,
    keep,
    lock,
    merge,
    mirror,
    remove,
    remove_tree,
    swap_in,
    unlock,
    write_json,
)
from servicemap.errors import OutputError

MANIFEST = ".servicemap-report.json"
"""The hidden file in a report folder that lists every file the report wrote, with SHA-256."""

_LEGACY = ".servicemap-report"
"""Earlier layouts: a hidden folder of versions (links or a manifest), or 0.1's marker file."""
_LEGACY_NAMES = ("current", "manifest.json", "v-", "trash-", ".")  # what that folder held
_SHOWN = 10  # conflicting files named in an error before "… and N more"
_STAGING = re.compile(r"servicemap-(new|old)-([0-9a-f]{16})")
"""The end of the hidden folders' names: ``.DIR.servicemap-new-<token>`` and so on."""


def _subject(out: Path) -> str:
    return f"Cannot write the report to {str(out)!r}"


# --- what a folder holds ------------------------------------------------------------------------


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


def _read_json(path: Path) -> dict[str, object] | None:
    """Return the JSON object in the regular file ``path``, or None if it is not one."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _digests(document: Mapping[str, object], key: str) -> dict[str, set[str]]:
    """Return the checksums a manifest lists under ``key`` (a string or a list per file)."""
    files = document.get(key)
    if not isinstance(files, dict):
        return {}
    found: dict[str, set[str]] = {}
    for name, value in files.items():
        values = value if isinstance(value, list) else [value]
        found[str(name)] = {str(v) for v in values}
    return found


@dataclass
class _Owned:
    """What earlier reports wrote in a folder, as its manifests say."""

    digests: dict[str, set[str]] = field(default_factory=dict)
    """Accepted SHA-256 checksums by relative path."""
    recorded: bool = False
    """A manifest says which files a report wrote (any file not listed is the user's)."""
    unchecked: bool = False
    """servicemap 0.1's marker is there: it wrote the report's names but kept no checksums."""
    foreign: list[str] = field(default_factory=list)
    """servicemap's own names held by something it did not write."""
    legacy: bool = False
    """An earlier layout's hidden folder or marker is there, to be removed (anything else of
    that name is the user's, and is kept)."""

    def add(self, digests: Mapping[str, set[str]]) -> None:
        self.recorded = True
        for name, values in digests.items():
            self.digests.setdefault(name, set()).update(values)


def _owned(out: Path) -> _Owned:
    """Return what the manifests in ``out`` (this layout's and earlier ones') say it wrote."""
    owned = _Owned()
    manifest = out / MANIFEST
    if os.path.lexists(manifest):
        document = _read_json(manifest)
        if document is None or not isinstance(document.get("files"), dict):
            owned.foreign.append(MANIFEST)
        else:
            owned.add(_digests(document, "files"))
            owned.add(_digests(document, "replacing"))
    state = out / _LEGACY
    if is_folder(state):
        try:
            names = os.listdir(state)
        except OSError:
            names = ["?"]
        if all(name.startswith(_LEGACY_NAMES) for name in names):
            owned.legacy = True
            for path in (state / "current" / "manifest.json", state / "manifest.json"):
                document = _read_json(path)
                if document is not None and isinstance(document.get("files"), dict):
                    owned.add(_digests(document, "files"))
                    break
    elif state.is_file() and not state.is_symlink():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if state.read_text(encoding="utf-8").startswith("servicemap "):
                owned.legacy = owned.unchecked = True
    return owned


def _legacy_link(name: str) -> str:
    """Return what the link ``DIR/<name>`` held in the layout with symbolic links."""
    return os.path.join(_LEGACY, "current", name)


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
    owned = _owned(out)
    found = list(owned.foreign)
    for name in entries:
        path = out / name
        if not os.path.lexists(path):
            continue
        if path.is_symlink():
            if os.readlink(path) != _legacy_link(name):
                found.append(name)  # the user's own link
            elif path.exists() and owned.recorded:
                found += _changed(out / _legacy_link(name), name, owned.digests)
            continue  # a link of the old layout pointing at nothing: nothing to lose
        if owned.unchecked:
            continue
        if owned.recorded:
            found += _changed(path, name, owned.digests)
            continue
        found.append(f"{name} (a folder)" if is_folder(path) else name)
    return found


def _changed(path: Path, name: str, digests: Mapping[str, set[str]]) -> list[str]:
    """Return the files at ``path`` that are not in the manifest as written there."""
    found = []
    for relative, file in _files_under(path, name):
        expected = digests.get(relative)
        if expected is None:
            found.append(f"{relative} (added since the report was written)")
            continue
        try:
            same = not file.is_symlink() and _sha256(file) in expected
        except FileNotFoundError:
            continue  # gone: nothing to lose
        except OSError:
            same = False
        if not same:
            found.append(f"{relative} (changed since the report was written)")
    return found


def stale_entries(out_dir: Path | str, entries: Sequence[str]) -> list[str]:
    """Return what an earlier publication wrote in ``out_dir`` that ``entries`` no longer hold.

    Only entries as it wrote them count (same checksums, nothing added): never the user's.

    Parameters
    ----------
    out_dir
        The folder.
    entries
        The names this publication writes at the top of the folder.

    Returns
    -------
    list of str
        Names at the top of ``out_dir``, sorted; publishing removes them.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    owned = _owned(out)
    if not owned.recorded or owned.unchecked:
        return []
    written = {name.split("/", 1)[0] for name in owned.digests}
    stale = []
    for name in sorted(written - {*entries, MANIFEST, _LEGACY}):
        path = out / name
        if _is_inside_staging(name) or path.is_symlink() or not os.path.lexists(path):
            continue
        try:
            if not _changed(path, name, owned.digests):
                stale.append(name)
        except OSError:
            continue  # unreadable: left as it is
    return stale


def _raise_for_conflicts(out: Path, found: Sequence[str], option: str = "-o") -> None:
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
        replaced = _ours(entries, legacy=_owned(out).legacy)
        for flag, source in given.items():
            for name in (n for n in (*entries, _LEGACY, MANIFEST) if n in replaced):
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


# --- the hidden folders, and the leftovers of killed runs ---------------------------------------


def _claim(folder: Path) -> None:
    """Mark a hidden folder as servicemap's with an (empty) manifest file."""
    os.close(os.open(folder / MANIFEST, os.O_WRONLY | os.O_CREAT, 0o644))


def _is_inside_staging(name: str) -> bool:
    """Return True for the name of a hidden folder servicemap makes inside a report folder."""
    return name.startswith(".") and _STAGING.fullmatch(name[1:]) is not None


def _bring_back(old: Path, out: Path, ours: set[str], kept: set[str], *, deep: bool) -> bool:
    """Move into ``out`` what the user made in it while it was being copied for the exchange.

    ``old`` holds what ``out`` held at the exchange; ``kept`` names the entries that were
    copied. Any other entry (not one of ``ours``) was created since: it moves to ``out``. With
    ``deep`` (just after the exchange, not for a leftover found later), inside the copied
    folders what is missing in ``out`` moves too, and a file newer than its copy replaces it.

    Returns
    -------
    bool
        False if something could not be moved: ``old`` must then be kept.
    """
    try:
        names = os.listdir(old)
    except OSError:
        return False
    clean = True
    for name in names:
        if name in ours or _is_inside_staging(name):
            continue
        try:
            if name not in kept:
                if os.path.lexists(out / name):
                    clean = False  # a new one of the same name in both: keep them both
                else:
                    os.rename(old / name, out / name)
            elif deep:
                clean = merge(old / name, out / name) and clean
        except OSError:
            clean = False
    return clean


def _ours(entries: Sequence[str], *, legacy: bool = True) -> set[str]:
    """Return the names at the top of a report folder that servicemap writes (not the user's).

    ``legacy`` says the earlier layouts' ``.servicemap-report`` is servicemap's there.
    """
    return {*entries, MANIFEST, *([_LEGACY] if legacy else [])}


def _staged(folder: Path, token: str) -> str:
    """Say what a hidden folder holds.

    Returns
    -------
    str
        ``empty``; ``claimed`` (the empty manifest file it was made with); ``ours`` (a
        manifest of run ``token``); ``other`` (anything else: what an exchange swapped out,
        or not servicemap's).
    """
    manifest = folder / MANIFEST
    if not os.path.lexists(manifest):
        return "other" if os.listdir(folder) else "empty"
    if manifest.is_file() and not manifest.is_symlink() and manifest.stat().st_size == 0:
        return "claimed"
    document = _read_json(manifest)
    return "ours" if document is not None and document.get("build") == token else "other"


def _notes(folder: Path, token: str, key: str = "kept") -> set[str] | None:
    """Return the names of the entries run ``token`` copied before its exchange, if it did.

    With ``key="dropped"``: the names it left out, as an earlier report's that it no longer
    writes.
    """
    document = _read_json(folder / MANIFEST)
    kept = document.get(key) if document and document.get("build") == token else None
    return {str(name) for name in kept} if isinstance(kept, list) else None


def _clean_leftovers(
    out: Path,
    entries: Sequence[str],
    *,
    only: str | None = None,
    deep: bool = False,
    keep_old: bool = False,
) -> None:
    """Delete the hidden folders killed runs left (see the module's docstring); never fails.

    Parameters
    ----------
    out
        The report folder (its real path).
    entries
        The report's names.
    only
        Only the folders of this run (its token).
    deep
        Bring back what changed inside the user's folders too (just after an exchange).
    keep_old
        Keep the ``old`` folder (it holds what a failed undo could not put back).
    """
    places = [(out.parent, f".{out.name}.", True)]
    if is_folder(out):
        places.append((out, ".", False))
    for parent, prefix, beside in places:
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        groups: dict[str, dict[str, Path]] = {}
        for name in names:
            match = _STAGING.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
            if match and only in (None, match.group(2)):
                groups.setdefault(match.group(2), {})[match.group(1)] = parent / name
        for token, group in groups.items():
            with contextlib.suppress(OSError):
                _clean_group(out, entries, token, group, beside, deep=deep, keep_old=keep_old)


def _clean_group(
    out: Path,
    entries: Sequence[str],
    token: str,
    group: Mapping[str, Path],
    beside: bool,
    *,
    deep: bool,
    keep_old: bool,
) -> None:
    """Delete the hidden folders run ``token`` left, unless that run is still going."""
    held: list[int | None] = []
    try:
        for path in group.values():
            if not is_folder(path):
                return
            fd = lock(path)
            if fd is None:
                return  # its run is still going
            held.append(fd)
        new, old = group.get("new"), group.get("old")
        notes = _notes(old, token) if beside and old is not None else None
        if new is not None:
            staged = _staged(new, token)
            # The notes are written after the new folder's manifest names the run: with them,
            # anything else there is what the exchange swapped out of the report folder.
            if staged == "other" or (staged == "claimed" and notes is not None):
                if notes is None:
                    return  # not recognisably servicemap's: never touched
                dropped = _notes(old, token, "dropped") if old is not None else None
                ours = _ours(entries) | (dropped or set())
                if not _bring_back(new, out, ours, notes, deep=deep):
                    return
            remove_tree(new, last=MANIFEST)
        if old is not None and not keep_old and _staged(old, token) != "other":
            remove_tree(old, last=MANIFEST)
    finally:
        unlock(held)


# --- publishing ---------------------------------------------------------------------------------


def _finish(build: Path, entries: Sequence[str]) -> dict[str, str]:
    """Check every entry was written, set permissions, fsync, and return the files' checksums."""
    missing = [name for name in entries if not os.path.lexists(build / name)]
    if missing:
        raise ValueError(f"The folder to publish lacks {', '.join(missing)}.")
    files: dict[str, str] = {}
    folders = [build]
    for name in entries:
        path = build / name
        if is_folder(path):
            folders += [path, *(p for p in path.rglob("*") if is_folder(p))]
        for relative, file in _files_under(path, name):
            os.chmod(file, 0o644)
            with open(file, "r+b" if os.name == "nt" else "rb") as handle:  # Windows: writable
                os.fsync(handle.fileno())
            files[relative] = _sha256(file)
    for folder in reversed(folders):
        os.chmod(folder, 0o755)
        fsync_folder(folder)
    return files


def _manifest(token: str, files: Mapping[str, str], **more: object) -> dict[str, object]:
    return {"servicemap": __version__, "build": token, "files": dict(files), **more}


@dataclass
class _Stage:
    """One publication: the hidden folders it builds in, and how it puts them in place."""

    shown: Path  # the folder as the user named it (for messages)
    out: Path  # its real path
    entries: Sequence[str]
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    new: Path = Path()  # the new report (and, for the exchange, the whole new folder)
    old: Path = Path()  # notes for the exchange; the old entries for the fallback
    exchange: bool = False
    swapped: bool = False
    keep_old: bool = False
    dropped: list[str] = field(default_factory=list)  # an earlier report's, no longer written
    held: list[int | None] = field(default_factory=list)

    def open(self) -> None:
        """Make the two hidden folders: beside ``out`` if possible, else inside it."""
        out = self.out
        exists = os.path.lexists(out)
        places = [] if exists and os.path.ismount(out) else [out.parent]
        if exists:
            places.append(out)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
        for place in places:
            prefix = f".{out.name}." if place == out.parent else "."
            self.new = place / f"{prefix}servicemap-new-{self.token}"
            self.old = place / f"{prefix}servicemap-old-{self.token}"
            try:
                os.mkdir(self.new, 0o700)
            except PermissionError:
                if place is places[-1]:
                    raise
                continue  # the parent cannot be written: inside the folder, then
            break
        self.held.append(lock(self.new))
        os.mkdir(self.old, 0o700)
        self.held.append(lock(self.old))
        if self.new.parent == out.parent and _swap.renameat2() is not None:
            try:
                _swap.exchange(self.new, self.old)  # both empty: this only shows that it works here
                self.exchange = True
            except OSError:
                self.exchange = False
        _claim(self.new)
        _claim(self.old)

    def publish(self, files: Mapping[str, str], *, force: bool) -> None:
        """Put the finished report in place: rename, exchange, or one entry at a time."""
        out = self.out
        if not os.path.lexists(out):
            write_json(self.new / MANIFEST, _manifest(self.token, files), self.new)
            fsync_folder(self.new)
            try:
                os.rename(self.new, out)  # the one step that makes the report appear
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not is_folder(out):
                    raise
            else:
                self.swapped = True
                with contextlib.suppress(OSError):  # in place; this only makes it durable
                    fsync_folder(out.parent)
                return
            # The folder was made while the report was being written: publish into it.
        if not force:
            _raise_for_conflicts(self.shown, conflicts(out, self.entries))
        self.dropped = stale_entries(out, self.entries)
        if self.exchange:
            with contextlib.suppress(NoExchangeError):
                self._exchange_whole(files)
                return
        self._replace_entries(files)

    def _exchange_whole(self, files: Mapping[str, str]) -> None:
        """Copy the user's entries into the new folder, then exchange it with ``out``."""
        out, new = self.out, self.new
        info = os.stat(out)
        if os.path.ismount(out) or holds_cwd(out) or os.stat(new).st_dev != info.st_dev:
            raise NoExchangeError(str(out))
        ours = _ours(self.entries, legacy=_owned(out).legacy) | set(self.dropped)
        kept = sorted(n for n in os.listdir(out) if n not in ours and not _is_inside_staging(n))
        # The manifest first: from now on the new folder names this run's token until the
        # exchange, so a leftover is never mistaken for the swapped-out one (or the other way).
        write_json(new / MANIFEST, _manifest(self.token, files), new)
        notes = {"build": self.token, "kept": kept, "dropped": self.dropped}
        write_json(self.old / MANIFEST, notes, self.old)
        for name in kept:
            mirror(out / name, new / name, info.st_dev)
        copy_attributes(out, new, info)
        fsync_folder(new)
        try:
            _swap.exchange(new, out)  # the one atomic step
        except OSError as exc:
            if exc.errno in NO_EXCHANGE:
                raise NoExchangeError(str(out)) from exc
            raise
        self.swapped = True
        with contextlib.suppress(OSError):  # in place; this only makes it durable
            fsync_folder(out.parent)

    def _replace_entries(self, files: Mapping[str, str]) -> None:
        """Without the exchange: rename each entry into place, keeping the old ones for undo."""
        out, new, trash = self.out, self.new, self.old
        owned = _owned(out)
        manifest = out / MANIFEST
        undo = Undo()
        try:
            if os.path.lexists(manifest):
                keep(manifest, trash / "manifest.old")
                undo.add(lambda: os.replace(trash / "manifest.old", manifest))
            else:
                undo.add(lambda: remove(manifest))
            # While the entries are replaced, the folder holds old ones and new: accept both.
            replacing = {name: sorted(values) for name, values in owned.digests.items()}
            write_json(manifest, _manifest(self.token, files, replacing=replacing), new)
            for name in self.entries:
                source = new / name
                put = functools.partial(os.replace, source, out / name)
                swap_in(out / name, put, trash, undo, folder=is_folder(source))
            write_json(manifest, _manifest(self.token, files), new)
            self.swapped = True
        except BaseException:
            self.keep_old = not undo.run()
            raise
        for name in self.dropped:  # the manifest no longer names them: the next run keeps them
            with contextlib.suppress(OSError):
                remove(out / name)
        with contextlib.suppress(OSError):
            fsync_folder(out)
        if owned.legacy:
            with contextlib.suppress(OSError):  # a leftover is removed by the next run
                remove(out / _LEGACY)
                fsync_folder(out)

    def close(self) -> None:
        """Release the locks and delete this run's hidden folders.

        After the exchange, that is the old report, once what the user made meanwhile is back
        in ``out``.
        """
        unlock(self.held)
        self.held.clear()
        _clean_leftovers(self.out, self.entries, only=self.token, deep=True, keep_old=self.keep_old)


@contextlib.contextmanager
def publish_folder(
    out_dir: Path | str, entries: Sequence[str], *, force: bool = False
) -> Iterator[Path]:
    """Yield a new hidden folder to write ``entries`` into; on success publish them in ``out_dir``.

    See the module's docstring for the layout and why every moment is safe. Files in
    ``out_dir`` that are not among ``entries`` are kept.

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
        The folder to write into (it holds only servicemap's hidden manifest file). If the
        block raises (or is interrupted) it is removed and ``out_dir`` is as it was.

    Raises
    ------
    OutputError
        ``out_dir`` cannot be written, or holds files it did not write (unless ``force``);
        also for an ``OSError`` raised while the block writes.
    """
    shown = Path(out_dir)
    out = Path(os.path.realpath(shown))
    stage = _Stage(shown, out, tuple(entries))
    try:
        check_folder(shown, entries, force=force, probe=False)  # the writes show the rest
        _clean_leftovers(out, entries)
        stage.open()
        yield stage.new
        files = _finish(stage.new, entries)
        stage.publish(files, force=force)
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(shown, exc, subject=_subject(shown)) from exc
    finally:
        stage.close()
