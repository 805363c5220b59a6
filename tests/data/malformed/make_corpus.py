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


if __name__ == "__main__":
    main()


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


if __name__ == "__main__":  # the files above, written after main()'s
    headers_and_confidentiality()
