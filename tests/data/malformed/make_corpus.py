"""Write the malformed services files in this folder (run once; the files are committed).

Usage: ``python tests/data/malformed/make_corpus.py``

Each file holds one problem (a few hold none, to show what is accepted). What each one must
produce is listed in ``tests/test_validate.py`` (``CORPUS``), not here.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = (
    "id,name,scope,areas_served,service_types,postcode,latitude,longitude,"
    "location_confidential,status,last_seen,source_url"
)


def row(
    ident: str = "alpha",
    *,
    name: str = "Alpha Women's Centre",
    scope: str = "local",
    areas: str = "Camden",
    types: str = "advocacy",
    postcode: str = "",
    lat: str = "",
    lon: str = "",
    confidential: str = "no",
    status: str = "active",
    last_seen: str = "",
    url: str = "",
) -> str:
    """Return one CSV line of a valid service, with any field replaced."""
    url = url or f"https://example.org/{ident}"
    cells = [ident, name, scope, areas, types, postcode, lat, lon, confidential, status]
    return ",".join([*cells, last_seen, url])


def csv_file(name: str, *lines: str, header: str = HEADER, encoding: str = "utf-8") -> None:
    """Write a CSV file of the header and lines."""
    text = "\n".join([header, *lines]) + "\n"
    (HERE / name).write_bytes(text.encode(encoding))


def json_file(name: str, document: object) -> None:
    """Write a document as indented JSON."""
    (HERE / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def point(properties: dict[str, str], coordinates: list[float]) -> dict[str, object]:
    """Return a GeoJSON point feature."""
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Point", "coordinates": coordinates},
    }


def main() -> None:
    """Write every file of the corpus."""
    beta = row("beta", name="Beta Project", areas="Islington")
    (HERE / "missing_column.csv").write_text(
        "id,name,areas_served,status,source_url\nalpha,Alpha Women's Centre,Camden,active,"
        "https://example.org/alpha\n",
        encoding="utf-8",
    )
    csv_file("duplicate_id.csv", row("alpha"), beta, row("alpha", name="Alpha Again"))
    csv_file("bad_scope.csv", row(scope="county"))
    csv_file("bad_service_type.csv", beta, row(types="advocacy;refuges"))
    csv_file("bad_postcode.csv", row(postcode="SW1A1Z"))
    csv_file("unknown_postcode.csv", beta, beta.replace("beta", "gamma"), row(postcode="SW1A 1ZZ"))
    csv_file("coordinates_outside_uk.csv", row(lat="40.4168", lon="-3.7038"))
    csv_file("swapped_coordinates.csv", row(lat="-0.1276", lon="51.5072"))
    csv_file("longitude_without_minus.csv", row(lat="52.6", lon="3.0"))
    csv_file("grid_references_as_coordinates.csv", row(lat="182000", lon="529000"))
    csv_file("latitude_only.csv", row(lat="51.5072"))
    csv_file("coordinate_not_a_number.csv", row(lat='"51,5072"', lon="-0.1276"))
    csv_file("unknown_area.csv", row(areas="Camden;Londn"))
    csv_file("bad_date.csv", row(last_seen="09/2023"))
    csv_file("future_date.csv", row(last_seen="2999-01"))
    csv_file("stale_date.csv", row(last_seen="2015"))
    csv_file("empty_name.csv", beta, row(name=""))
    csv_file("status_unknown.csv", row(status="unknown"))
    csv_file("no_place.csv", row(areas=""))
    csv_file(
        "refuge_undecided.csv", row(types="refuge;advocacy", postcode="N1 9GU", confidential="")
    )
    csv_file("bad_yes_no.csv", row(confidential="maybe"))
    csv_file("spreadsheet_error.csv", row(name="#N/A"))
    csv_file("source_not_a_url.csv", row(url="leaflet from the GP surgery"))
    csv_file("extra_values.csv", beta, row(name="Alpha, Women's Centre").replace('"', ""))
    csv_file(
        "unclosed_quote.csv",
        row() + ',"Call first, then visit',
        row("beta") + ",",
        row("gamma") + ",",
        header=HEADER + ",notes",
    )
    csv_file(
        "duplicate_column.csv",
        row(postcode="N1 9GU") + ",N1 9GU",
        header=HEADER + ",Post Code",
    )
    csv_file("unknown_column.csv", row() + ",Camden Town", header=HEADER + ",Town")
    csv_file("header_only.csv")
    (HERE / "title_above_header.csv").write_text(
        "Directory of services (May 2024),,\n\n" + HEADER + "\n" + row() + "\n", encoding="utf-8"
    )
    (HERE / "no_header_row.csv").write_text(
        row() + "\n" + row("beta", name="Beta Project") + "\n", encoding="utf-8"
    )
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "blank_lines_only.csv").write_text("\n\n  \n", encoding="utf-8")
    csv_file(
        "windows_1252.csv",
        row(name="Caf\u00e9 Mujeres \u2013 Latin American support"),
        encoding="cp1252",
    )
    (HERE / "utf8_bom.csv").write_bytes(
        b"\xef\xbb\xbf" + ("\n".join([HEADER, row()]) + "\n").encode("utf-8")
    )
    (HERE / "semicolon_separated.csv").write_text(
        HEADER.replace(",", ";")
        + "\n"
        + "alpha;Alpha Women's Centre;citywide;Camden;advocacy;;;;no;active;;"
        + "https://example.org/alpha\n",
        encoding="utf-8",
    )
    (HERE / "excel_unicode_text.txt").write_bytes(
        (HEADER.replace(",", "\t") + "\r\n" + row(scope="town").replace(",", "\t") + "\r\n").encode(
            "utf-16"
        )
    )
    (HERE / "huge_cell.csv").write_text(
        HEADER + ",notes\n" + row() + "," + "x" * 20_000 + "\n", encoding="utf-8"
    )
    (HERE / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (HERE / "web_page.csv").write_text(
        "<!DOCTYPE html>\n<html><head><title>Services</title></head>\n"
        "<body><table><tr><td>id</td><td>name</td></tr></table></body></html>\n",
        encoding="utf-8",
    )
    (HERE / "old_excel.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    (HERE / "not_json.json").write_text('{"services": [\n  {"id": "alpha",}\n]\n', encoding="utf-8")
    (HERE / "numbers.json").write_text("[1, 2, 3]\n", encoding="utf-8")
    json_file("not_open_referral.json", {"title": "Our partners", "count": 2})
    oruk = {
        "services": [
            {
                "id": "alpha",
                "name": "Alpha Women's Centre",
                "status": "active",
                "servicemap_source_url": "https://example.org/alpha",
                "service_areas": [{"id": "a1", "name": "Camden", "service_area": "Camden"}],
            },
        ]
    }
    json_file("open_referral_without_scope.json", oruk)
    records = [
        {
            "id": "alpha",
            "name": "Alpha Women's Centre",
            "scope": "local",
            "areas_served": "Camden",
            "source_url": "https://example.org/alpha",
            "status": "active",
            "location_confidential": "no",
        },
        {
            "id": "beta",
            "name": "Beta Project",
            "scope": "local",
            "areas_served": ["Islington", "Hackny"],
            "source_url": "https://example.org/beta",
            "status": "active",
            "location_confidential": "no",
        },
    ]
    json_file("records_bad_area.json", records)
    properties = {
        "id": "alpha",
        "name": "Alpha Women's Centre",
        "scope": "local",
        "areas_served": "Camden",
        "source_url": "https://example.org/alpha",
        "status": "active",
        "location_confidential": "no",
    }
    polygon = {
        "type": "Polygon",
        "coordinates": [[[-0.1, 51.5], [-0.1, 51.6], [0, 51.6], [-0.1, 51.5]]],
    }
    json_file(
        "polygon_geometry.geojson",
        {
            "type": "FeatureCollection",
            "features": [
                point({**properties, "id": "beta"}, [-0.1276, 51.5072]),
                {"type": "Feature", "properties": properties, "geometry": polygon},
            ],
        },
    )
    json_file(
        "geojson_in_grid_metres.geojson",
        {
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
            "features": [point(properties, [529000, 182000])],
        },
    )
    json_file(
        "geojson_swapped_point.geojson",
        {"type": "FeatureCollection", "features": [point(properties, [51.5072, -0.1276])]},
    )
    _excel()
    _hostile()


def _excel() -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    notes = workbook.active
    notes.title = "Read me"
    notes["A1"] = "The services are on the next sheet."
    sheet = workbook.create_sheet("Services")
    sheet.append(HEADER.replace("_", " ").title().split(","))
    sheet.append(row().split(","))
    sheet.append(row("beta", name="Beta Project", scope="Countywide").split(","))
    workbook.save(HERE / "bad_value.xlsx")
    (HERE / "damaged.xlsx").write_bytes((HERE / "bad_value.xlsx").read_bytes()[:300])


# --- hostile inputs (issue 9): each must give one clear error, never a traceback -------------

RECORD = {
    "id": "alpha",
    "name": "Alpha Women's Centre",
    "scope": "local",
    "areas_served": "Camden",
    "source_url": "https://example.org/alpha",
    "status": "active",
    "location_confidential": "no",
}


def oruk_service(**changes: object) -> dict[str, object]:
    """Return an Open Referral UK service that validates clean, with any field replaced."""
    service: dict[str, object] = {
        "id": "alpha",
        "name": "Alpha Women's Centre",
        "status": "active",
        "servicemap_source_url": "https://example.org/alpha",
        "servicemap_location_confidential": "no",
        "service_areas": [{"id": "a1", "name": "Camden", "service_area": "Camden"}],
        "attributes": [
            {"id": "t1", "taxonomy_term": {"taxonomy": "servicemap:scope", "term": "local"}}
        ],
    }
    service.update(changes)
    return service


def _clean_workbook() -> bytes:
    """Return a one-sheet workbook of two services that validates clean."""
    import io

    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "services"
    sheet.append(HEADER.split(","))
    sheet.append(row().split(","))
    sheet.append(row("beta", name="Beta Project", areas="Islington").split(","))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _workbook_variant(name: str, change: object) -> None:
    """Write a copy of a clean workbook with its zip members changed by ``change``."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(_clean_workbook()))
    with zipfile.ZipFile(HERE / name, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.namelist():
            content = change(member, source.read(member))  # type: ignore[operator]
            if content is not None:
                target.writestr(member, content)


def _hostile() -> None:
    import io
    import zipfile

    deep = "[" * 5000 + "]" * 5000
    (HERE / "deep_nesting.json").write_text(
        '[{"id": "alpha", "name": "Alpha", "scope": "local", "notes": ' + deep + "}]\n",
        encoding="utf-8",
    )
    (HERE / "deep_nesting.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null, '
        '"properties": {"notes": ' + deep + "}}]}\n",
        encoding="utf-8",
    )
    (HERE / "deep_open_referral.json").write_text(
        '{"services": [{"id": "alpha", "name": "Alpha", "contacts": ' + deep + "}]}\n",
        encoding="utf-8",
    )
    (HERE / "repeated_key.json").write_text(
        '[{"id": "alpha", "name": "Alpha", "name": "Beta", "scope": "local", '
        '"areas_served": "Camden", "source_url": "https://example.org/alpha"}]\n',
        encoding="utf-8",
    )
    (HERE / "huge_integer.json").write_text(
        '[{"id": "alpha", "name": "Alpha", "scope": "local", "latitude": ' + "5" * 5000 + "}]\n",
        encoding="utf-8",
    )
    (HERE / "huge_number.json").write_text(
        json.dumps([{**RECORD, "longitude": -0.1276}])[:-2] + ', "latitude": 1e400}]\n',
        encoding="utf-8",
    )
    json_file("records_nan.json", [{**RECORD, "latitude": float("nan"), "longitude": -0.1276}])
    json_file("unpaired_surrogate.json", [{**RECORD, "name": "Alpha\ud800 Centre"}])
    (HERE / "utf8_bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([RECORD]).encode("utf-8"))
    (HERE / "utf16_open_referral.json").write_bytes(
        json.dumps({"services": [oruk_service()]}).encode("utf-16")
    )

    json_file("oruk_name_object.json", {"services": [oruk_service(name={"en": "Alpha"})]})
    json_file("oruk_areas_string.json", {"services": [oruk_service(service_areas="Camden")]})
    json_file(
        "oruk_locations_string.json", {"services": [oruk_service(service_at_locations="N1 9GU")]}
    )
    json_file("oruk_area_item_string.json", {"services": [oruk_service(service_areas=["Camden"])]})
    location = {"id": "l1", "latitude": float("nan"), "longitude": -0.1276}
    json_file(
        "oruk_latitude_nan.json",
        {"services": [oruk_service(service_at_locations=[{"id": "sl1", "location": location}])]},
    )
    json_file(
        "oruk_link_object.json",
        {
            "services": [oruk_service()],
            "languages": [{"id": "g1", "service_id": {"id": "alpha"}, "name": "Polish"}],
        },
    )

    collection = {"type": "FeatureCollection"}
    for name, coordinates in (
        ("geojson_nan_point.geojson", [float("nan"), float("nan")]),
        ("geojson_short_point.geojson", [-0.1276]),
        ("geojson_text_point.geojson", ["-0.1276", "51.5072"]),
    ):
        json_file(name, {**collection, "features": [point(RECORD, coordinates)]})  # type: ignore[arg-type]
    json_file(
        "geojson_name_object.geojson",
        {**collection, "features": [point({**RECORD, "name": {"en": "Alpha"}}, [-0.13, 51.5])]},  # type: ignore[dict-item]
    )

    notes = "x" * 9_000
    lines = [row(f"s{n}") + "," + notes for n in range(8)]
    csv_file(
        "nul_after_64kb.csv",
        *lines,
        row("late", name="Late\x00Centre") + ",",
        header=HEADER + ",notes",
    )
    csv_file("nul_in_header.csv", row(), header=HEADER.replace("name", "na\x00me"))
    csv_file("control_character.csv", row(name="\x1b[31mAlpha\x1b[0m"))
    csv_file("bidi_override.csv", row(name="Alpha \u202ertneC"))
    csv_file("id_with_semicolon.csv", row("alpha;beta"))
    csv_file("coordinate_unicode_minus.csv", row(lat="51.5072", lon="\u22120.1276"))
    csv_file("coordinate_overflow.csv", row(lat="1e999", lon="-0.1276"))

    _workbook_variant(
        "truncated_sheet.xlsx",
        lambda member, data: data[: len(data) // 2] if member.endswith("sheet1.xml") else data,
    )
    _workbook_variant(
        "no_content_types.xlsx",
        lambda member, data: None if member == "[Content_Types].xml" else data,
    )
    _workbook_variant(
        "content_types_without_workbook.xlsx",
        lambda member, data: (
            data.replace(b"sheet.main+xml", b"unknown+xml")
            if member == "[Content_Types].xml"
            else data
        ),
    )
    _workbook_variant(
        "control_character.xlsx",
        lambda member, data: data.replace(b"Beta Project", b"Beta_x001B_Project"),
    )
    # The sheet's compressed bytes are overwritten after the zip recorded their checksum.
    clean = _clean_workbook()
    with zipfile.ZipFile(io.BytesIO(clean)) as source:
        sheet = source.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(clean)
    start = sheet.header_offset + 30 + len(sheet.filename.encode()) + len(sheet.extra)
    data[start + 40 : start + 60] = bytes(20)
    (HERE / "corrupt_member.xlsx").write_bytes(bytes(data))
    with zipfile.ZipFile(HERE / "word_document.xlsx", "w") as document:
        document.writestr("[Content_Types].xml", "<Types/>")
        document.writestr("word/document.xml", "<document/>")

    import openpyxl

    workbook = openpyxl.Workbook()
    sheet_ = workbook.active
    sheet_.title = "services"
    sheet_.append(HEADER.split(","))
    sheet_.append(row().split(","))
    sheet_["B2"] = '=UPPER("alpha")'
    workbook.save(HERE / "formula_without_value.xlsx")


def headers_and_confidentiality() -> None:
    """Write the files about headers people write and confidentiality (issue 9)."""
    csv_file(
        "private_column.csv",
        row(postcode="N1 9GU") + ",12 Secret Street",
        header=HEADER + ",Refuge address",
    )
    csv_file(
        "refuge_named_undecided.csv",
        row(name="Camden Women's Refuge", postcode="N1 9GU", confidential=""),
    )
    csv_file("refuge_only_public.csv", row(types="refuge", postcode="N1 9GU", confidential="no"))
    office = (
        "ID,Service name,Organisation name,Scope,Areas covered,Type of service,Post code,"
        "Telephone,Website URL,Confidential location?,Service status,Last checked,Source URL,"
        "Email"
    )
    csv_file(
        "office_headers.csv",
        "alpha,Alpha Women's Centre,Alpha Trust,local,Camden,advocacy,N1 9GU,020 7946 0000,"
        "example.org,no,active,,https://example.org/alpha,info@example.org",
        header=office,
    )


if __name__ == "__main__":
    main()
    headers_and_confidentiality()
