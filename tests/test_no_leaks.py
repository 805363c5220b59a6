"""No output may reveal where a confidential service (refuge, safe house) is.

A small directory holds a public service, a service marked ``location_confidential`` and a
refuge-only service, each with a real postcode, an address and coordinates. Every writer in
:data:`WRITERS` writes it; the bytes of each output (and of every member of a zip such as
.xlsx) are searched for the confidential postcodes (any case, with and without the space),
street addresses, coordinates (4–6 decimals, full precision, grid metres) and the raw IEEE
doubles/floats a binary format such as GeoPackage would hold. The public service's values are
searched the same way and must be found: that proves the search can see a leak.

To cover a new writer, add ``(name, write_function)`` to :data:`WRITERS`, where
``write_function(services, path)`` writes the output for the canonical services frame.
"""

from __future__ import annotations

import datetime as dt
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from servicemap.export import write_services
from servicemap.openreferral import write_oruk
from servicemap.services import load_services

Writer = Callable[..., object]

COLUMNS = (
    "id,name,organisation,website,phone,address,postcode,latitude,longitude,"
    "location_confidential,scope,areas_served,service_types,delivery,communities,languages,"
    "by_and_for,nrpf_support,status,last_seen,source_url,notes"
)
PUBLIC = {
    "id": "pub-1",
    "name": "Leeds Women's Aid IDVA",
    "address": "Leeds Town Hall, The Headrow",
    "street": "The Headrow",
    "postcode": "LS1 1UR",
    "latitude": 53.802161,
    "longitude": -1.548517,
}
HIDDEN = [
    {
        "id": "conf-1",
        "name": "Birmingham migrant advocacy project",
        "address": "17 Quietwater Close, Ladywood",
        "street": "Quietwater Close",
        "postcode": "B1 1BB",
        "latitude": 52.480418,
        "longitude": -1.903454,
        "location_confidential": "yes",
        "areas_served": "Birmingham",
        "service_types": "advocacy; nrpf_support",
    },
    {
        "id": "refuge-1",
        "name": "Sanctuary refuge Bristol",
        "address": "9 Larkspur Mews, Redcliffe",
        "street": "Larkspur Mews",
        "postcode": "BS1 4DJ",
        "latitude": 51.451735,
        "longitude": -2.596862,
        "location_confidential": "no",  # confidential only because it is refuge-only
        "areas_served": "Avon and Somerset",
        "service_types": "refuge",
    },
]

WRITERS: list[tuple[str, Writer]] = [
    ("csv", lambda services, path: write_services(services, path, format="csv")),
    ("xlsx", lambda services, path: write_services(services, path, format="xlsx")),
    ("geojson", lambda services, path: write_services(services, path, format="geojson")),
    ("gpkg", lambda services, path: write_services(services, path, format="gpkg")),
    ("oruk", lambda services, path: write_services(services, path, format="oruk")),
    ("oruk-direct", write_oruk),
]
EXPORT_WRITERS = WRITERS[:5]


def _csv_directory(path: Path) -> Path:
    today = dt.date.today().isoformat()
    public = (
        f"{PUBLIC['id']},{PUBLIC['name']},Leeds Women's Aid,https://leedswomensaid.org.uk,"
        f'0113 246 0401,"{PUBLIC["address"]}",{PUBLIC["postcode"]},{PUBLIC["latitude"]},'
        f"{PUBLIC['longitude']},no,local,Leeds,idva,both,,English,no,unknown,active,{today},"
        "https://leedswomensaid.org.uk,"
    )
    lines = [COLUMNS, public]
    for hidden in HIDDEN:
        lines.append(
            f'{hidden["id"]},{hidden["name"]},Hidden Trust,,0300 000 0000,"{hidden["address"]}",'
            f"{hidden['postcode']},{hidden['latitude']},{hidden['longitude']},"
            f"{hidden['location_confidential']},local,{hidden['areas_served']},"
            f"{hidden['service_types']},in_person,,Urdu,yes,yes,active,{today},"
            "https://example.org/hidden,"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    return load_services(_csv_directory(tmp_path_factory.mktemp("directory") / "services.csv"))


def _haystack(path: Path) -> bytes:
    """Every byte of the output, lower-cased; zip members decompressed."""
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            data += b"".join(archive.read(name) for name in archive.namelist())
    return data.lower()


def _text_needles(place: dict[str, object], grid: tuple[float, float]) -> list[str]:
    postcode = str(place["postcode"])
    needles = [postcode, postcode.replace(" ", ""), str(place["address"]), str(place["street"])]
    for value in (float(place["latitude"]), float(place["longitude"])):  # type: ignore[arg-type]
        needles += [f"{value:.{decimals}f}" for decimals in (4, 5, 6)] + [repr(value)]
    for value in grid:
        needles += [f"{value:.0f}", f"{value:.1f}", f"{int(value)}", repr(value)]
    return needles


def _binary_needles(values: list[float]) -> list[bytes]:
    packed = []
    for value in values:
        for fmt in ("<d", ">d", "<f", ">f"):
            packed.append(struct.pack(fmt, value))
    return packed


def _located(services, service_id):
    row = services.loc[services["id"] == service_id].iloc[0]
    return row


def _needles(services, place):
    row = _located(services, place["id"])
    grid = (float(row["easting"]), float(row["northing"]))
    assert np.isfinite(grid).all()
    text = [needle.lower().encode("utf-8") for needle in _text_needles(place, grid)]
    binary = _binary_needles([float(place["latitude"]), float(place["longitude"]), *grid])
    return text, binary


def test_the_directory_has_two_confidential_services_with_locations(services):
    confidential = services.set_index("id")["confidential"]
    assert confidential.to_dict() == {"pub-1": False, "conf-1": True, "refuge-1": True}
    assert services.geometry.notna().all()


@pytest.mark.parametrize(("name", "write"), WRITERS, ids=[name for name, _ in WRITERS])
@pytest.mark.parametrize("hidden", HIDDEN, ids=[h["id"] for h in HIDDEN])
def test_no_output_reveals_a_confidential_location(name, write, hidden, services, tmp_path):
    path = tmp_path / f"output.{name}"
    write(services, path)
    haystack = _haystack(path)
    text, binary = _needles(services, hidden)
    found = [needle for needle in text if needle in haystack]
    assert found == [], f"{name} output reveals {found}"
    found_binary = [needle.hex() for needle in binary if needle.lower() in haystack]
    assert found_binary == [], f"{name} output holds the raw coordinates {found_binary}"
    # The service still counts: its name is there.
    assert hidden["name"].lower().encode() in haystack


@pytest.mark.parametrize(("name", "write"), WRITERS, ids=[name for name, _ in WRITERS])
def test_the_search_sees_a_public_location(name, write, services, tmp_path):
    path = tmp_path / f"output.{name}"
    write(services, path)
    haystack = _haystack(path)
    text, binary = _needles(services, PUBLIC)
    assert PUBLIC["postcode"].lower().encode() in haystack
    assert PUBLIC["street"].lower().encode() in haystack
    assert any(needle in haystack for needle in text[4:]) or any(
        needle.lower() in haystack for needle in binary
    ), f"{name}: the public service's coordinates are not found, so the search is blind"


@pytest.mark.parametrize(
    ("name", "write"), EXPORT_WRITERS, ids=[name for name, _ in EXPORT_WRITERS]
)
def test_export_writers_withhold_even_if_public_services_failed(
    name, write, services, tmp_path, monkeypatch
):
    monkeypatch.setattr("servicemap.services.public_services", lambda frame: frame.copy())
    path = tmp_path / f"output.{name}"
    write(services, path)
    haystack = _haystack(path)
    for hidden in HIDDEN:
        text, binary = _needles(services, hidden)
        assert [n for n in text if n in haystack] == []
        assert [n for n in binary if n.lower() in haystack] == []
