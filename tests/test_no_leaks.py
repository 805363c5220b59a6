"""No output may reveal where a confidential service (refuge, safe house) is.

A small directory holds a public service, a service marked ``location_confidential`` and a
refuge-only service, each with a real postcode, an address and coordinates. Every writer in
:data:`WRITERS` writes it; the bytes of each output (every file of an output folder, and every
member of a zip such as .xlsx) are searched for the confidential postcodes (any case, with and
without the space), street addresses, coordinates (4–6 decimals, full precision, grid metres)
and the raw IEEE doubles/floats a binary format such as GeoPackage would hold. The public
service's values are searched the same way and must be found where the output shows places:
that proves the search can see a leak.

To cover a new writer, add ``(name, write_function)`` to :data:`WRITERS`:
``write_function(services, source, out)`` gets the canonical services frame, the directory CSV
it was loaded from (for CLI commands) and an output path (file or folder) to write. If the
output does not list every confidential service by name, say which it lists in
:data:`LISTS_ONLY`; if it shows no places at all, add it to :data:`NO_PLACES`.
"""

from __future__ import annotations

import datetime as dt
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from servicemap.cli import cli
from servicemap.export import write_services
from servicemap.openreferral import write_oruk
from servicemap.services import load_services

Writer = Callable[..., object]

COLUMNS = (
    "id,name,organisation,website,phone,address,postcode,latitude,longitude,"
    "location_confidential,scope,areas_served,service_types,delivery,communities,languages,"
    "by_and_for,nrpf_support,status,last_seen,source_url,notes"
)
PUBLICS = [
    {
        "id": "pub-1",
        "name": "Leeds Women's Aid IDVA",
        "address": "Leeds Town Hall, The Headrow",
        "street": "The Headrow",
        "postcode": "LS1 1UR",
        "latitude": 53.802161,
        "longitude": -1.548517,
        "areas_served": "Leeds",
    },
    {  # 2 km from the confidential Birmingham service
        "id": "pub-2",
        "name": "Highgate advice hub",
        "address": "Moseley Road Community Hub, Highgate",
        "street": "Moseley Road Community Hub",
        "postcode": "B12 0EJ",
        "latitude": 52.469509,
        "longitude": -1.880042,
        "areas_served": "Birmingham",
    },
    {  # 2 km from the Bristol refuge
        "id": "pub-3",
        "name": "Clifton drop-in",
        "address": "Clifton Community Rooms, Clifton",
        "street": "Clifton Community Rooms",
        "postcode": "BS8 2AE",
        "latitude": 51.464388,
        "longitude": -2.61731,
        "areas_served": "Bristol, City of",
    },
]
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


def _export(fmt: str) -> Writer:
    return lambda services, source, out: write_services(services, out, format=fmt)


def _command(*args: str) -> Writer:
    """A CLI command run on the directory file; its standard output is the output."""

    def write(services: object, source: Path, out: Path) -> None:
        result = CliRunner().invoke(cli, [*args, "--services", str(source)])
        assert result.exit_code == 0, result.output
        out.write_text(result.stdout, encoding="utf-8")

    return write


def _command_writing(*args: str) -> Writer:
    """A CLI command run on the directory file that writes its output to ``-o out``."""

    def write(services: object, source: Path, out: Path) -> None:
        result = CliRunner().invoke(cli, [*args, "--services", str(source), "-o", str(out)])
        assert result.exit_code == 0, result.output

    return write


def _plan(*args: str, to: str) -> Writer:
    """``servicemap plan`` on the directory file, writing to ``to`` (``-o`` or ``--map``)."""

    def write(services: object, source: Path, out: Path) -> None:
        extra: list[str] = []
        if "--with" in args:  # a proposal file with no rows: the what-if of the directory itself
            proposals = out.parent / f"{out.name}.proposals.csv"
            proposals.write_text(COLUMNS + "\n", encoding="utf-8")
            extra = [str(proposals)]
        command = ["plan", *args, *extra, "--services", str(source), to, str(out)]
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output

    return write


# Postcodes ~70 m and ~150 m from the two hidden places: a search from next door.
NEAR_CONF = "B3 3PW"
NEAR_REFUGE = "BS1 4LH"

WRITERS: list[tuple[str, Writer]] = [
    ("csv", _export("csv")),
    ("xlsx", _export("xlsx")),
    ("geojson", _export("geojson")),
    ("gpkg", _export("gpkg")),
    ("oruk", _export("oruk")),
    ("oruk-direct", lambda services, source, out: write_oruk(services, out)),
    ("near-conf-text", _command("near", NEAR_CONF)),
    ("near-conf-json", _command("near", NEAR_CONF, "--format", "json")),
    ("near-refuge-csv", _command("near", NEAR_REFUGE, "--format", "csv", "--radius-km", "50")),
    ("force-conf-json", _command("force", "West Midlands", "--format", "json")),
    ("force-refuge-text", _command("force", "Avon and Somerset")),
    ("coverage-json", _command("coverage", "--format", "json")),
    ("coverage-csv", _command("coverage", "--format", "csv")),
    ("export-cli-geojson", _command_writing("export", "--format", "geojson")),
    ("map", _command_writing("map")),
    ("report", _command_writing("report")),  # a folder: every file in it is searched
    ("plan-add-map", _plan("--force", "West Midlands", "--add", "1", to="--map")),
    ("plan-add-csv", _plan("--force", "West Midlands", "--add", "1", "--format", "csv", to="-o")),
    ("plan-with-json", _plan("--force", "E23000036", "--format", "json", "--with", to="-o")),
]
EXPORT_WRITERS = WRITERS[:5]
# Outputs that list only some services (by id); every other output lists both hidden ones.
LISTS_ONLY: dict[str, set[str]] = {
    "near-conf-text": {"conf-1"},
    "near-conf-json": {"conf-1"},
    "near-refuge-csv": {"refuge-1"},
    "force-conf-json": {"conf-1"},
    "force-refuge-text": {"refuge-1"},
    "coverage-json": set(),
    "coverage-csv": set(),
    "map": set(),  # confidential services are never placed; only national ones are listed
    "plan-add-map": set(),  # proposals and public services only
    "plan-add-csv": set(),
    "plan-with-json": set(),
}
# Outputs that show no service places at all (the public ones' locations are not expected).
NO_PLACES = {
    "coverage-json",
    "coverage-csv",
    "near-conf-text",
    "force-refuge-text",
    "plan-add-csv",
    "plan-with-json",
}
# The public service whose place an output shows (default pub-1): proof the search can see.
SHOWS_PUBLIC = {
    "near-conf-json": "pub-2",
    "near-refuge-csv": "pub-3",
    "force-conf-json": "pub-2",
}
EXPORT_NAMES = {"csv", "xlsx", "geojson", "gpkg", "oruk", "oruk-direct", "export-cli-geojson"}


def _csv_directory(path: Path) -> Path:
    today = dt.date.today().isoformat()
    lines = [COLUMNS]
    for public in PUBLICS:
        lines.append(
            f"{public['id']},{public['name']},Open Door,https://example.org/{public['id']},"
            f'0113 246 0401,"{public["address"]}",{public["postcode"]},{public["latitude"]},'
            f'{public["longitude"]},no,local,"{public["areas_served"]}",advocacy,both,,'
            f"English,no,unknown,active,{today},https://example.org/{public['id']},"
        )
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
def source(tmp_path_factory):
    return _csv_directory(tmp_path_factory.mktemp("directory") / "services.csv")


@pytest.fixture(scope="module")
def services(source):
    return load_services(source)


class _Outputs:
    """Each writer's output, written once per module and kept as its haystack."""

    def __init__(self, services: object, source: Path, folder: Path) -> None:
        self.services, self.source, self.folder = services, source, folder
        self.cache: dict[str, bytes] = {}

    def __call__(self, name: str, write: Writer) -> bytes:
        if name not in self.cache:
            path = self.folder / f"output.{name}"
            write(self.services, self.source, path)
            self.cache[name] = _haystack(path)
        return self.cache[name]


@pytest.fixture(scope="module")
def written(services, source, tmp_path_factory):
    return _Outputs(services, source, tmp_path_factory.mktemp("outputs"))


def _haystack(path: Path) -> bytes:
    """Every byte of the output (every file of a folder), lower-cased; zips decompressed."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    data = b""
    for file in files:
        data += file.read_bytes()
        if zipfile.is_zipfile(file):
            with zipfile.ZipFile(file) as archive:
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
    assert confidential.to_dict() == {
        "pub-1": False,
        "pub-2": False,
        "pub-3": False,
        "conf-1": True,
        "refuge-1": True,
    }
    assert services.geometry.notna().all()


@pytest.mark.parametrize(("name", "write"), WRITERS, ids=[name for name, _ in WRITERS])
@pytest.mark.parametrize("hidden", HIDDEN, ids=[h["id"] for h in HIDDEN])
def test_no_output_reveals_a_confidential_location(name, write, hidden, written):
    haystack = written(name, write)
    services = written.services
    text, binary = _needles(services, hidden)
    found = [needle for needle in text if needle in haystack]
    assert found == [], f"{name} output reveals {found}"
    found_binary = [needle.hex() for needle in binary if needle.lower() in haystack]
    assert found_binary == [], f"{name} output holds the raw coordinates {found_binary}"
    # The service still counts: its name is there.
    if hidden["id"] in LISTS_ONLY.get(name, {h["id"] for h in HIDDEN}):
        assert hidden["name"].lower().encode() in haystack


PLACE_WRITERS = [(name, write) for name, write in WRITERS if name not in NO_PLACES]


@pytest.mark.parametrize(("name", "write"), PLACE_WRITERS, ids=[n for n, _ in PLACE_WRITERS])
def test_the_search_sees_a_public_location(name, write, written):
    haystack = written(name, write)
    services = written.services
    public = next(p for p in PUBLICS if p["id"] == SHOWS_PUBLIC.get(name, "pub-1"))
    text, binary = _needles(services, public)
    found = [needle for needle in text if needle in haystack]
    assert found, f"{name}: nothing of {public['id']}'s place is found, so the search is blind"
    if name in EXPORT_NAMES:
        assert public["postcode"].lower().encode() in haystack
        assert public["street"].lower().encode() in haystack
        assert any(needle in haystack for needle in text[4:]) or any(
            needle.lower() in haystack for needle in binary
        ), f"{name}: the public service's coordinates are not found, so the search is blind"


@pytest.mark.parametrize(
    ("name", "write"), EXPORT_WRITERS, ids=[name for name, _ in EXPORT_WRITERS]
)
def test_export_writers_withhold_even_if_public_services_failed(
    name, write, services, source, tmp_path, monkeypatch
):
    monkeypatch.setattr("servicemap.services.public_services", lambda frame: frame.copy())
    path = tmp_path / f"output.{name}"
    write(services, source, path)
    haystack = _haystack(path)
    for hidden in HIDDEN:
        text, binary = _needles(services, hidden)
        assert [n for n in text if n in haystack] == []
        assert [n for n in binary if n.lower() in haystack] == []
