"""Merge a research revision (new services and updates to existing ones) into a directory.

The frames here are *text tables*: one row per service, every field of
:data:`servicemap.directory.schema.FIELDS` as text (``""`` for empty), as a directory file
holds them. :func:`merge_services` never changes its inputs; it returns the merged table and a
change log of every field it changed.
"""

from __future__ import annotations

import pandas as pd

from servicemap.directory.privacy import confidential_mask
from servicemap.directory.schema import FIELDS, LOCATION_FIELDS
from servicemap.errors import ServicesFileError

#: What is appended to the notes of a row an update makes confidential (its old address,
#: postcode and coordinates are dropped, never moved to the notes, which are published).
WITHHELD_NOTE = (
    "Its earlier address and postcode were removed from this directory when it was marked "
    "confidential."
)


def text_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the directory's fields, in order, as stripped text.

    Parameters
    ----------
    frame
        A table read from a directory file; missing fields become empty, other columns are
        dropped.

    Returns
    -------
    pandas.DataFrame
        A new table with the columns of :data:`~servicemap.directory.schema.FIELDS`.
    """
    out = pd.DataFrame(index=range(len(frame)))
    for field in FIELDS:
        if field in frame.columns:
            values = frame[field].fillna("").astype(str).str.strip().to_numpy()
        else:
            values = [""] * len(frame)
        out[field] = values
    return out


def _appended(notes: str, addition: str) -> str:
    if not addition:
        return notes
    return f"{notes} {addition}".strip() if notes else addition


def _check_keys(services: pd.DataFrame, frame: pd.DataFrame, what: str, *, new: bool) -> None:
    known = set(services["id"].str.lower())
    for index, service_id in enumerate(frame["id"], start=2):
        if service_id == "":
            raise ServicesFileError(f"{what}: row {index}: column 'id' is empty; give the id.")
        if new and service_id.lower() in known:
            raise ServicesFileError(
                f"{what}: row {index}: column 'id': {service_id!r} is already in the directory; "
                "give the new service another id, or move the row to the updates."
            )
        if not new and service_id.lower() not in known:
            raise ServicesFileError(
                f"{what}: row {index}: column 'id': {service_id!r} is not in the directory; "
                "correct the id, or move the row to the additions."
            )
    repeated = frame["id"].str.lower().duplicated()
    if repeated.any():
        service_id = frame["id"][repeated].iloc[0]
        raise ServicesFileError(f"{what}: id {service_id!r} appears twice; keep one row.")


def apply_updates(
    services: pd.DataFrame, updates: pd.DataFrame, *, label: str = "updates", note_prefix: str = ""
) -> tuple[pd.DataFrame, list[str]]:
    """Return ``services`` with ``updates`` applied, and a line per changed field.

    An update row names an existing ``id``. A field it gives replaces the existing value; an
    empty field keeps it. ``notes`` are *appended* (after ``note_prefix``); a new
    ``source_url`` replaces the old one, which is kept in the notes as "Earlier source: …". A
    row the update makes confidential (by the rule of
    :func:`servicemap.directory.privacy.confidential_mask`) loses its address, postcode and
    coordinates, so the directory no longer holds a place that must not be shown.

    Parameters
    ----------
    services
        The directory as a text table (see :func:`text_table`).
    updates
        Update rows as a text table.
    label
        The updates' name in error messages (usually their file).
    note_prefix
        Text put before each appended note, e.g. ``"December 2026 revision:"``.

    Returns
    -------
    tuple
        The new table and the change log (``id: field: 'old' -> 'new'``).

    Raises
    ------
    ServicesFileError
        An update's id is empty, repeated or not in the directory.
    """
    _check_keys(services, updates, label, new=False)
    out = services.copy()
    log: list[str] = []
    where = {service_id.lower(): i for i, service_id in enumerate(out["id"])}
    was_confidential = confidential_mask(out).to_numpy(dtype=bool)
    for _, update in updates.iterrows():
        index = where[update["id"].lower()]
        old_notes = out.at[index, "notes"]
        notes = old_notes
        for field in FIELDS:
            value, old = update[field], out.at[index, field]
            if field in ("id", "notes") or value == "" or value == old:
                continue
            if field == "source_url":
                notes = _appended(notes, f"Earlier source: {old}")
            out.at[index, field] = value
            log.append(f"{update['id']}: {field}: {old!r} -> {value!r}")
        if update["notes"]:
            notes = _appended(notes, " ".join(p for p in (note_prefix, update["notes"]) if p))
        out.at[index, "notes"] = notes
    now_confidential = confidential_mask(out).to_numpy(dtype=bool)
    for index in (now_confidential & ~was_confidential).nonzero()[0]:
        service_id = out.at[index, "id"]
        for field in LOCATION_FIELDS:
            if out.at[index, field]:
                out.at[index, field] = ""
                log.append(f"{service_id}: {field}: withheld and removed (now confidential)")
        out.at[index, "notes"] = _appended(out.at[index, "notes"], WITHHELD_NOTE)
    for index in range(len(out)):
        if out.at[index, "notes"] != services.at[index, "notes"]:
            log.append(f"{out.at[index, 'id']}: notes: appended")
    return out, log


def merge_services(
    services: pd.DataFrame,
    *,
    additions: pd.DataFrame | None = None,
    updates: pd.DataFrame | None = None,
    note_prefix: str = "",
) -> tuple[pd.DataFrame, list[str]]:
    """Return the directory with ``updates`` applied and ``additions`` appended, and a log.

    Parameters
    ----------
    services
        The directory (any table with the directory's fields; see :func:`text_table`).
    additions
        New services; their ids must not be in the directory.
    updates
        Changes to existing services (see :func:`apply_updates`).
    note_prefix
        Put before every note an update appends.

    Returns
    -------
    tuple
        The merged text table (existing rows in their order, then the additions) and the
        change log, one line per change.

    Raises
    ------
    ServicesFileError
        An update names no existing service, or an addition reuses an id.
    """
    merged = text_table(services)
    log: list[str] = []
    if updates is not None:
        merged, log = apply_updates(merged, text_table(updates), note_prefix=note_prefix)
    if additions is not None:
        new = text_table(additions)
        _check_keys(merged, new, "additions", new=True)
        merged = pd.concat([merged, new], ignore_index=True)
        log.extend(f"{service_id}: added" for service_id in new["id"])
    return merged, log
