"""What a report rested on, kept in its folder: the public directory, the coverage table, the date.

Every report writes ``snapshot.json`` (:data:`SNAPSHOT_FILE`) beside ``index.html``, so that a
later report (``servicemap report --since DIR``) or ``servicemap compare`` can say what changed.
It holds the directory's public fields only (:func:`servicemap.directory.privacy.public_frame`:
a confidential service has no address, postcode or coordinates in it), the force each service
is based in and those it serves, the coverage table, the report's date and the servicemap
version, in a small JSON document with a format number (:data:`SNAPSHOT_FORMAT`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from servicemap import __version__
from servicemap._json import dumps_lines, loads_strict
from servicemap._tables import json_records
from servicemap.analysis.coverage import coverage_by_force
from servicemap.directory.load import load_services
from servicemap.directory.privacy import public_frame
from servicemap.directory.schema import FIELDS
from servicemap.directory.select import Selection, select_services
from servicemap.errors import SnapshotError
from servicemap.geography.need import load_need
from servicemap.settings import DEFAULT_SETTINGS, Settings

__all__ = [
    "SNAPSHOT_FILE",
    "SNAPSHOT_FORMAT",
    "Snapshot",
    "SnapshotError",
    "load_snapshot",
    "read_snapshot",
    "snapshot_json",
    "snapshot_of",
]

SNAPSHOT_FILE = "snapshot.json"
"""The snapshot's name in a report folder."""

SNAPSHOT_FORMAT = 1
"""The snapshot format this version writes (and the newest it reads)."""

_KIND = "servicemap report snapshot"
_SERVED = "served_forces"


@dataclass(frozen=True)
class Snapshot:
    """What one report rested on (or a services file, scored now).

    Attributes
    ----------
    services
        One row per service: the public fields of the directory's schema, ``force_code``
        (where it is based) and ``served_forces`` (a tuple of force codes).
    coverage
        The coverage table, one row per force (``force_code``, ``force_name``, ``gap_score``,
        ``gap_class``, ``gap_rank`` and the other measures).
    generated
        The report's date; ``None`` for a services file.
    version
        The servicemap version that made it.
    source
        Where it came from, for messages and headings (a report folder or a services file).
    """

    services: pd.DataFrame
    coverage: pd.DataFrame
    generated: dt.date | None
    version: str
    source: str


def _service_records(services: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the public fields of each service, as JSON-ready records."""
    public = public_frame(services)
    columns = [c for c in (*FIELDS, "force_code", _SERVED) if c in public.columns]
    frame = pd.DataFrame(public[columns])
    if _SERVED in frame:
        frame[_SERVED] = [sorted(str(code) for code in codes or ()) for codes in frame[_SERVED]]
    return json_records(frame)


def _document(
    services: pd.DataFrame, coverage: pd.DataFrame, generated: dt.date | None
) -> dict[str, Any]:
    return {
        "kind": _KIND,
        "format": SNAPSHOT_FORMAT,
        "servicemap": __version__,
        "generated": generated.isoformat() if generated else None,
        "services": _service_records(services),
        "coverage": json_records(coverage),
    }


def snapshot_json(
    services: pd.DataFrame, coverage: pd.DataFrame, *, generated: dt.date | None
) -> str:
    """Return the snapshot of a report as JSON text (what ``snapshot.json`` holds).

    Parameters
    ----------
    services
        The canonical services frame the report counted (confidential services included: only
        their public fields are kept).
    coverage
        ``coverage.coverage_by_force`` of those services.
    generated
        The report's date.

    Returns
    -------
    str
        JSON, one line per service and per force (``servicemap._json.dumps_lines``).
    """
    return dumps_lines(_document(services, coverage, generated), allow_nan=False)


def _from_document(document: dict[str, Any], source: str) -> Snapshot:
    services = pd.DataFrame(document["services"])
    if _SERVED in services:
        services[_SERVED] = [tuple(codes or ()) for codes in services[_SERVED]]
    generated = document.get("generated")
    return Snapshot(
        services=services,
        coverage=pd.DataFrame(document["coverage"]),
        generated=dt.date.fromisoformat(generated) if generated else None,
        version=str(document.get("servicemap", "")),
        source=source,
    )


def snapshot_of(
    services: pd.DataFrame,
    coverage: pd.DataFrame,
    *,
    generated: dt.date | None,
    source: str,
) -> Snapshot:
    """Return the snapshot a report of these services would keep, without writing it.

    Its values are exactly those :func:`read_snapshot` gives back from ``snapshot.json`` (the
    same rounding), so a snapshot made now compares fairly with one read from a folder.

    Parameters
    ----------
    services, coverage, generated
        As for :func:`snapshot_json`.
    source
        What to call it in messages and headings.

    Returns
    -------
    Snapshot
        The snapshot.
    """
    return _from_document(_document(services, coverage, generated), source)


def _refuse(path: Path, problem: str, fix: str) -> SnapshotError:
    return SnapshotError(f"{str(path)!r} {problem}. {fix}")


def read_snapshot(path: Path | str) -> Snapshot:
    """Read the snapshot of a report: its folder, or its ``snapshot.json``.

    Parameters
    ----------
    path
        A report folder, or a snapshot file.

    Returns
    -------
    Snapshot
        What that report rested on.

    Raises
    ------
    SnapshotError
        The folder has no snapshot (a report from before snapshots, or not a report folder),
        the file is not a snapshot, or it is of a newer format than this servicemap reads: the
        message names the path and the fix.
    """
    given = Path(path)
    file = given / SNAPSHOT_FILE if given.is_dir() else given
    if not file.is_file():
        raise _refuse(
            given,
            f"holds no {SNAPSHOT_FILE}: it is not a report folder, or its report was written by "
            "an earlier servicemap, which kept no snapshot",
            "Give a report folder written by 'servicemap report', or compare the services "
            "files themselves: servicemap compare OLD.csv NEW.csv.",
        )
    try:
        document = loads_strict(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _refuse(
            file, f"cannot be read as a snapshot ({exc})", "Write the report again to replace it."
        ) from exc
    if not isinstance(document, dict) or document.get("kind") != _KIND:
        raise _refuse(
            file, "is not a servicemap report snapshot", "Give the folder of a servicemap report."
        )
    found = document.get("format")
    if not isinstance(found, int) or found > SNAPSHOT_FORMAT:
        raise _refuse(
            file,
            f"was written by a newer servicemap ({document.get('servicemap', '?')}, snapshot "
            f"format {found!r}; servicemap {__version__} reads format {SNAPSHOT_FORMAT})",
            "Upgrade servicemap (pip install --upgrade servicemap) to compare with it.",
        )
    if not isinstance(document.get("services"), list) or not isinstance(
        document.get("coverage"), list
    ):
        raise _refuse(file, "lacks its services or coverage", "Write the report again.")
    return _from_document(document, str(given))


def load_snapshot(
    path: Path | str,
    *,
    selection: Selection | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> Snapshot:
    """Return the snapshot of a report folder, or of a services file scored now.

    Parameters
    ----------
    path
        A report folder (its ``snapshot.json`` is read), a snapshot file, or a services
        directory file (loaded, and its coverage computed with the bundled need figures, as
        ``servicemap report`` would).
    selection
        For a services file: which services count (default every one).
    settings
        For a services file: settings (CRS, cache folder).

    Returns
    -------
    Snapshot
        What it rests on; a services file's has no date.

    Raises
    ------
    SnapshotError
        A folder without a usable snapshot (see :func:`read_snapshot`).
    ServicesFileError
        A services file that cannot be read.
    """
    given = Path(path)
    if given.is_dir() or given.name == SNAPSHOT_FILE:
        return read_snapshot(given)
    services, _ = select_services(load_services(given, settings=settings), selection or Selection())
    coverage = coverage_by_force(
        services, need=load_need(None, level="district"), settings=settings
    )
    return snapshot_of(services, coverage, generated=None, source=str(given))
