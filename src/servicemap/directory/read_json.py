"""Read JSON services files into a raw table: GeoJSON, flat records, Open Referral UK."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicemap._json import JSONInputError, loads_strict
from servicemap.directory.openreferral import services_from_oruk
from servicemap.directory.problems import (
    ProblemReport,
    UnreadableError,
    control_problem,
    shorten,
    show,
    visible,
)
from servicemap.directory.schema import FIELD_BY_HEADER_KEY, header_key
from servicemap.directory.table import RawTable, typed_text
from servicemap.errors import ServicesFileError


def read_json(path: Path, text: str, report: ProblemReport) -> RawTable:
    """Read a JSON file's text as a raw table: GeoJSON, a list of records or Open Referral UK.

    Raises :class:`~servicemap.directory.problems.UnreadableError` for JSON that is not a
    services table (invalid, too deeply nested, a repeated key, a single value, …).
    """
    file = report.file
    try:
        document = loads_strict(text)
    except json.JSONDecodeError as exc:
        raise UnreadableError(
            file,
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            "export it again, or check it with a JSON validator.",
        ) from exc
    except JSONInputError as exc:
        raise UnreadableError(file, exc.message, exc.fix) from exc
    if isinstance(document, dict) and document.get("type") in ("FeatureCollection", "Feature"):
        return _read_geojson(document, report)
    if _is_records_table(document):
        return _records_table(document, report, kind="JSON")
    if isinstance(document, list) and not all(isinstance(d, dict) for d in document):
        kinds = sorted({type(d).__name__ for d in document if not isinstance(d, dict)})
        raise UnreadableError(
            file,
            f"is a JSON list of {', '.join(_json_kind(k) for k in kinds)}, not a table of "
            "services.",
            "give GeoJSON (a FeatureCollection of services), Open Referral UK JSON, or "
            "a CSV/.xlsx file.",
        )
    if isinstance(document, list) and not document:
        raise UnreadableError(
            file,
            "is an empty JSON list: it holds no services.",
            "export the directory again with its services.",
        )
    if not isinstance(document, dict | list):
        raise UnreadableError(
            file,
            f"is a single JSON value ({shorten(json.dumps(document), 40)}), not a table of "
            "services.",
            "give GeoJSON (a FeatureCollection of services), Open Referral UK JSON, or "
            "a CSV/.xlsx file.",
        )
    return _read_oruk(document, report)


def _json_kind(name: str) -> str:
    return {
        "int": "numbers",
        "float": "numbers",
        "str": "strings",
        "bool": "true/false values",
        "list": "lists",
        "NoneType": "nulls",
    }.get(name, name)


def _is_records_table(document: Any) -> bool:
    """Return whether JSON is a plain list of flat records using servicemap's own fields.

    Open Referral UK services are also objects with ``id`` and ``name``; a list is read as a
    table of servicemap fields only if it uses a field ORUK does not have (e.g. ``scope``).
    """
    if not isinstance(document, list) or not document:
        return False
    if not all(isinstance(d, dict) for d in document):
        return False
    own = {header_key(f) for f in ("scope", "areas_served", "service_types", "source_url")}
    keys = {header_key(str(k)) for d in document for k in d}
    flat = all(
        not isinstance(v, dict)
        and not (isinstance(v, list) and any(isinstance(i, dict | list) for i in v))
        for d in document
        for v in d.values()
    )
    return flat and bool(keys & own)


def _records_table(
    documents: Sequence[Mapping[str, Any]], report: ProblemReport, *, kind: str
) -> RawTable:
    columns: dict[str, None] = {}
    for record in documents:
        columns.update(dict.fromkeys(str(k) for k in record))
    names = list(columns)
    for name in names:
        control = control_problem(name)
        if control is not None:
            message, fix, shown = control
            report.error(
                "control-character",
                f"the field name {message}",
                fix,
                column=FIELD_BY_HEADER_KEY.get(header_key(name), visible(name)),
                value=shown,
            )
    body = []
    for number, record in enumerate(documents, start=1):
        cells_of_record = []
        for name in names:
            value = record.get(name)
            if _json_value_problem(value, name, report, row=number):
                value = None
            cells_of_record.append(typed_text(value).strip())
        body.append(cells_of_record)
    cells = pd.DataFrame(body, columns=range(len(names)), dtype=object)
    rows = np.arange(1, len(documents) + 1, dtype=np.int64)
    return RawTable(names, cells, rows, kind, None)


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _json_value_problem(value: Any, name: str, report: ProblemReport, *, row: int) -> bool:
    """Report a JSON field value that is not text, a number, true/false, null or a list of them.

    Returns whether there was a problem (the value is then read as empty).
    """
    items = value if isinstance(value, list) else [value]
    if any(_non_finite(item) for item in items):
        shown = json.dumps(value)
        report.error(
            "not-a-number",
            f"is {show(shown)}, not a finite number (NaN, Infinity, or a number too large "
            "to hold, such as 1e400).",
            f"give {name!r} a real number, or null if there is none.",
            row=row,
            column=name,
            value=shown,
        )
        return True
    if any(isinstance(item, dict | list) for item in items):
        shown = json.dumps(value, ensure_ascii=False)
        kind = "an object" if isinstance(value, dict) else "a list holding lists or objects"
        report.error(
            "bad-type",
            f"is {kind} ({show(shown)}); a service's field holds text, a number, true/false, "
            "null or a list of those.",
            f'give {name!r} as text, e.g. "{name}": "…", or a list of texts.',
            row=row,
            column=name,
            value=shown,
        )
        return True
    return False


def _read_geojson(document: Mapping[str, Any], report: ProblemReport) -> RawTable:
    file = report.file
    crs = document.get("crs")
    if isinstance(crs, dict):
        properties = crs.get("properties")
        name = str(properties.get("name", "")) if isinstance(properties, dict) else ""
        if name and not re.search(r"(CRS84|EPSG:+4326)$", name):
            raise UnreadableError(
                file,
                f"declares the coordinate system {name!r}; GeoJSON must be longitude/latitude "
                "(EPSG:4326).",
                "export it again as GeoJSON in WGS 84 (EPSG:4326).",
            )
    if document.get("type") == "Feature":
        features: Any = [document]
    else:
        features = document.get("features")
    if not isinstance(features, list):
        raise UnreadableError(
            file,
            "is a GeoJSON FeatureCollection without a 'features' list.",
            "export it again; each service must be a Feature with a Point geometry.",
        )
    if not features:
        raise UnreadableError(
            file, "is a GeoJSON FeatureCollection with no features.", "add the services."
        )
    records: list[dict[str, Any]] = []
    for number, feature in enumerate(features, start=1):
        record: dict[str, Any] = {}
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            report.error(
                "bad-feature",
                "is not a GeoJSON Feature.",
                "each item of 'features' must be an object with type 'Feature'.",
                row=number,
            )
            records.append(record)
            continue
        properties = feature.get("properties") or {}
        if isinstance(properties, dict):
            record.update({str(k): v for k, v in properties.items()})
        else:
            report.error(
                "bad-feature",
                "has 'properties' that are not an object.",
                "give the service's fields as an object of name: value.",
                row=number,
            )
        geometry = feature.get("geometry")
        if geometry is None:
            pass
        elif not isinstance(geometry, dict) or geometry.get("type") != "Point":
            shown = geometry.get("type") if isinstance(geometry, dict) else geometry
            report.error(
                "bad-geometry",
                f"has geometry {show(str(shown))}; a service needs a Point at its location, "
                "or null if it has none.",
                "give a Point [longitude, latitude], or null.",
                row=number,
                column="geometry",
                value=str(shown),
            )
        else:
            coords = geometry.get("coordinates")
            if isinstance(coords, list) and len(coords) in (2, 3) and all(map(_finite, coords)):
                record["longitude"], record["latitude"] = coords[0], coords[1]
            else:
                report.error(
                    "bad-geometry",
                    f"has Point coordinates {show(json.dumps(coords))}, which are not "
                    "[longitude, latitude] numbers.",
                    "give the Point as [longitude, latitude], e.g. [-0.1276, 51.5072].",
                    row=number,
                    column="geometry",
                    value=json.dumps(coords),
                )
        records.append(record)
    return _records_table(records, report, kind="GeoJSON")


def _finite(value: Any) -> bool:
    """Return whether a JSON value is a finite number (not true/false, NaN or 1e400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _read_oruk(document: Any, report: ProblemReport) -> RawTable:
    file = report.file
    try:
        frame, problems = services_from_oruk(document, source=file)
    except ServicesFileError as exc:
        message = str(exc)
        for prefix in (f"Services file '{file}': ", f"Services file '{file}' "):
            message = message.removeprefix(prefix)
        raise UnreadableError(
            file,
            message if message.endswith(".") else message + ".",
            "give GeoJSON, Open Referral UK JSON or a CSV/.xlsx file (see docs/schema.md).",
        ) from exc
    for problem in problems:
        report.add(
            problem.severity,
            problem.code,
            problem.message,
            problem.fix,
            row=problem.service,
            column=problem.field,
            value=problem.value,
        )
    names = [str(c) for c in frame.columns]
    cells = pd.DataFrame(
        [[typed_text(v).strip() for v in record] for record in frame[names].to_numpy()],
        columns=range(len(names)),
        dtype=object,
    )
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return RawTable(names, cells.reset_index(drop=True), rows, "Open Referral UK", None)
