"""The report's downloads: the public directory (CSV, Open Referral UK JSON), each force's CSV.

Every file goes through :func:`servicemap.directory.privacy.public_frame` (the confidentiality
rule and its second guard): a refuge's or other confidential service's address, postcode and
coordinates are in none of them; the service itself is listed with its public contact.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from servicemap._csv import spreadsheet_safe
from servicemap.directory.export import export_table
from servicemap.directory.openreferral_write import oruk_text
from servicemap.directory.privacy import public_frame
from servicemap.directory.schema import FIELDS

__all__ = ["DIRECTORY_FILES", "force_download_name", "service_downloads"]

DIRECTORY_FILES: tuple[str, ...] = ("services.csv", "services.json")
"""The whole public directory, in the report folder: CSV and Open Referral UK JSON."""


def force_download_name(slug: str) -> str:
    """Return the file of a force's services, beside its profile: ``<slug>-services.csv``."""
    return f"{slug}-services.csv"


def service_downloads(
    services: pd.DataFrame, force_ids: Mapping[str, pd.Series | list[str]]
) -> dict[str, str]:
    """Return the report's service files by their path in the report folder.

    Parameters
    ----------
    services
        The canonical services frame (confidential services included; they are written
        without any place).
    force_ids
        By force slug, the ids of the services its profile lists, in the profile's order.

    Returns
    -------
    dict
        ``services.csv`` and ``services.json`` (Open Referral UK) for the whole directory (as
        ``servicemap export`` writes them), and ``forces/<slug>-services.csv`` for each force
        (the directory's own fields: ``areas_served`` says where a service serves, not the
        long derived code lists); the text of each file. CSV text cells are spreadsheet-safe
        (``servicemap._csv.spreadsheet_safe``).
    """
    # the table is made once; each force's file takes its rows
    table = export_table(public_frame(services))
    # spreadsheet-safe once: the rule is cell by cell, so each force's rows of the safe table
    # are the safe rows of that force (what csv_text would make of them, without redoing it)
    safe = spreadsheet_safe(table)
    files = {
        "services.csv": safe.to_csv(index=False, lineterminator="\r\n"),
        "services.json": oruk_text(services),
    }
    row_of = {str(service_id): n for n, service_id in enumerate(table["id"])}
    fields = safe[list(FIELDS)]
    lines = _csv_lines(fields)
    for slug, ids in force_ids.items():
        rows = [row_of[str(i)] for i in ids if str(i) in row_of]
        name = f"forces/{force_download_name(slug)}"
        if lines is None:
            files[name] = fields.iloc[rows].to_csv(index=False, lineterminator="\r\n")
        else:
            files[name] = lines[0] + "".join(lines[1 + r] for r in rows)
    return files


#: Ends each row while :func:`_csv_lines` cuts a CSV into rows (a cell holding it: no cutting).
_ROW_END = "\x1e\r\n"


def _csv_lines(frame: pd.DataFrame) -> list[str] | None:
    """Return the header and each row of ``frame`` as CSV lines (CRLF), as ``to_csv`` writes them.

    The rows of a file of some rows are those rows' lines (each cell is written on its own), so
    a force's file is its rows' lines joined: one ``to_csv`` for every force. ``None`` when a
    cell holds the row end used to cut the text.
    """
    text = frame.to_csv(index=False, lineterminator=_ROW_END)
    parts = text.split(_ROW_END)
    if len(parts) != len(frame) + 2 or parts[-1]:
        return None
    return [part + "\r\n" for part in parts[:-1]]
