from __future__ import annotations

import errno
import json

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from pyproj import Transformer

from servicemap.cli import cli
from servicemap.cli import commands_data as cli_module
from servicemap.directory.export import EXPORT_COLUMNS, FORMATS, write_services
from servicemap.directory.openreferral import read_oruk
from servicemap.directory.privacy import public_frame
from servicemap.errors import OutputError

TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)

ROWS = [
    {
        "id": "a1",
        "name": "Leeds IDVA",
        "organisation": "Leeds Women's Aid",
        "website": "https://example.org/leeds",
        "phone": "+44 113 246 0401",
        "address": "Leeds Town Hall, The Headrow, Leeds",
        "postcode": "LS1 1UR",
        "latitude": 53.80216112648228,
        "longitude": -1.548517027329611,
        "location_confidential": "no",
        "scope": "local",
        "areas_served": "Leeds; Bradford",
        "service_types": "idva; advocacy",
        "status": "active",
        "source_url": "https://example.org/leeds",
        "force_code": "E23000010",
        "served_districts": ("E08000035", "E08000032"),
        "served_forces": ("E23000010",),
    },
    {
        "id": "a2",
        "name": '=HYPERLINK("http://evil.example","Click")',
        "organisation": "@SUM(A1:A9)",
        "phone": "-2",
        "notes": "+1",
        "postcode": "B1 1BB",
        "easting": 406654.0,
        "northing": 286948.0,
        "location_confidential": "no",
        "scope": "local",
        "areas_served": "Birmingham",
        "service_types": "counselling",
        "status": "unknown",
        "source_url": "https://example.org/b",
        "force_code": "E23000014",
        "served_districts": ("E08000025",),
        "served_forces": ("E23000014",),
    },
    {
        "id": "a3",
        "name": "National helpline",
        "phone": "0808 2000 247",
        "scope": "national",
        "areas_served": "England and Wales",
        "service_types": "helpline",
        "status": "active",
        "source_url": "https://example.org/h",
    },
    {
        "id": "a4",
        "name": "Refuge for migrant women",
        "postcode": "BS1 4DJ",
        "easting": 358622.0,
        "northing": 172697.0,
        "scope": "local",
        "areas_served": "Bristol",
        "service_types": "refuge",
        "status": "active",
        "source_url": "https://example.org/r",
        "force_code": "E23000036",
        "served_districts": ("E06000023",),
        "served_forces": ("E23000036",),
    },
]


@pytest.fixture
def services(canonical_services):
    return canonical_services(ROWS)


def _read_back(path, fmt):
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if fmt == "xlsx":
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    if fmt == "oruk":
        return read_oruk(path)
    return gpd.read_file(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_readable_back_with_every_service(fmt, services, tmp_path):
    path = tmp_path / f"services.{fmt}"
    summary = write_services(services, path, fmt=fmt)
    table = _read_back(path, fmt)
    assert list(table["id"]) == ["a1", "a2", "a3", "a4"]
    assert list(table["areas_served"].str.replace(" ", "")) == [
        "Leeds;Bradford",
        "Birmingham",
        "EnglandandWales",
        "Bristol",
    ]
    assert (summary.services, summary.with_public_location, summary.withheld) == (4, 2, 1)
    assert summary.path == path and summary.format == fmt


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson", "gpkg"])
def test_tables_have_the_schema_fields_and_joined_derived_columns(fmt, services, tmp_path):
    path = tmp_path / f"services.{fmt}"
    write_services(services, path, fmt=fmt)
    table = _read_back(path, fmt)
    assert [c for c in table.columns if c != "geometry"] == list(EXPORT_COLUMNS)
    assert table.loc[0, "served_districts"] == "E08000035;E08000032"
    assert table.loc[0, "served_forces"] == "E23000010"
    assert table.loc[0, "postcode"] == "LS1 1UR"
    assert table.loc[3, "postcode"] == ""


def test_geojson_is_wgs84_with_points_only_for_public_locations(services, tmp_path):
    path = tmp_path / "services.geojson"
    write_services(services, path, fmt="geojson")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["type"] == "FeatureCollection"
    geometries = [feature["geometry"] for feature in document["features"]]
    assert geometries[2] is None and geometries[3] is None
    lon, lat = geometries[0]["coordinates"]
    assert lon == pytest.approx(ROWS[0]["longitude"], abs=1e-7)
    assert lat == pytest.approx(ROWS[0]["latitude"], abs=1e-7)
    # A postcode-only service is placed at its grid reference, converted to WGS84.
    assert geometries[1]["coordinates"] == pytest.approx(list(TO_WGS84.transform(406654, 286948)))
    properties = document["features"][0]["properties"]
    assert list(properties) == list(EXPORT_COLUMNS)
    assert properties["latitude"] == ROWS[0]["latitude"]
    assert document["features"][1]["properties"]["latitude"] is None
    assert gpd.read_file(path).crs.to_epsg() == 4326


def test_gpkg_is_british_national_grid(services, tmp_path):
    path = tmp_path / "services.gpkg"
    write_services(services, path, fmt="gpkg")
    frame = gpd.read_file(path, layer="services")
    assert frame.crs.to_epsg() == 27700
    assert frame.geometry[1].x == 406654 and frame.geometry[1].y == 286948
    assert frame.geometry[2] is None and frame.geometry[3] is None


FORMULAS = [
    ('=HYPERLINK("http://evil.example","Click")', '\'=HYPERLINK("http://evil.example","Click")'),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("+44 20 7946 0000", "'+44 20 7946 0000"),
    # Plain numbers are read as numbers by spreadsheets, never run: left as they are.
    ("+1", "+1"),
    ("-2", "-2"),
    ("Leeds = good", "Leeds = good"),
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("text", "safe"), FORMULAS)
def test_spreadsheet_cells_cannot_run_as_formulas(fmt, text, safe, canonical_services, tmp_path):
    frame = canonical_services([{**ROWS[2], "name": text, "notes": text, "phone": text}])
    path = tmp_path / f"services.{fmt}"
    write_services(frame, path, fmt=fmt)
    row = _read_back(path, fmt).iloc[0]
    assert (row["name"], row["notes"], row["phone"]) == (safe, safe, safe)
    assert frame.loc[0, "name"] == text  # the input is not changed


def test_csv_numbers_stay_numbers(services, tmp_path):
    path = tmp_path / "services.csv"
    write_services(services, path, fmt="csv")
    row = pd.read_csv(path, dtype=str, keep_default_na=False).iloc[1]
    assert row["name"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert row["organisation"] == "'@SUM(A1:A9)"
    # A negative longitude is written as a number, not neutralised text.
    assert pd.read_csv(path).loc[0, "longitude"] == ROWS[0]["longitude"]


def test_xlsx_cells_are_text_not_formulas(services, tmp_path):
    path = tmp_path / "services.xlsx"
    write_services(services, path, fmt="xlsx")
    sheet = openpyxl.load_workbook(path)["services"]
    header = [cell.value for cell in sheet[1]]
    name = sheet.cell(row=3, column=header.index("name") + 1)
    assert name.data_type == "s"
    assert name.value.startswith("'=HYPERLINK")
    types = {cell.data_type for row in sheet.iter_rows() for cell in row}
    assert "f" not in types


def test_public_frame_does_not_change_its_input(services):
    before = services.copy()
    public = public_frame(services)
    pd.testing.assert_frame_equal(services, before)
    assert public.loc[3, "postcode"] == "" and public.geometry[3] is None
    assert np.isnan(public.loc[3, "easting"])


def test_frames_without_schema_columns_are_refused(services, tmp_path):
    with pytest.raises(ValueError, match=r"lacks column\(s\) postcode, notes; pass the frame"):
        write_services(services.drop(columns=["postcode", "notes"]), tmp_path / "x.csv", fmt="csv")
    assert not (tmp_path / "x.csv").exists()


def test_the_confidential_rule_is_applied_even_without_the_column(services, tmp_path):
    edited = services.drop(columns="confidential")
    summary = write_services(edited, tmp_path / "x.csv", fmt="csv")
    assert summary.withheld == 1
    assert "BS1" not in (tmp_path / "x.csv").read_text(encoding="utf-8")


def test_unknown_format_is_refused(services, tmp_path):
    with pytest.raises(ValueError, match=r"Unknown export format 'kml'; choose one of csv, "):
        write_services(services, tmp_path / "x.kml", fmt="kml")
    assert not (tmp_path / "x.kml").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_write_keeps_the_old_file_and_leaves_nothing(fmt, services, tmp_path, monkeypatch):
    path = tmp_path / f"services.{fmt}"
    path.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("servicemap.directory.export.export_table", broken)
    monkeypatch.setattr("servicemap.directory.openreferral_write.oruk_from_services", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_services(services, path, fmt=fmt)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_folder_or_a_path_below_a_file_is_refused(fmt, services, tmp_path):
    (tmp_path / "afile").write_text("x")
    below = tmp_path / "afile" / "out"
    with pytest.raises(OutputError) as caught:
        write_services(services, below, fmt=fmt)
    assert str(caught.value) == (
        f"Cannot write '{below}': '{tmp_path / 'afile'}' is a file, not a folder; "
        "choose another place."
    )
    with pytest.raises(OutputError, match=r": it is a folder; give the name of a file in it\.$"):
        write_services(services, tmp_path, fmt=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_full_disk_is_an_output_error_and_leaves_the_old_file(
    fmt, services, tmp_path, monkeypatch
):
    path = tmp_path / f"services.{fmt}"
    path.write_bytes(b"old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.replace", full)
    with pytest.raises(OutputError) as caught:
        write_services(services, path, fmt=fmt)
    assert str(caught.value) == (
        f"Cannot write '{path}': the disk is full; free some space or choose another drive."
    )
    assert isinstance(caught.value, OSError) and caught.value.__cause__.errno == errno.ENOSPC
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# --- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def fake_load(services, monkeypatch, tmp_path):
    """Stand in for services.load_services: the CLI is tested, not geocoding."""
    calls = []

    def load_services(path=None, *, settings, lookup=None):
        calls.append(path)
        return services

    monkeypatch.setattr("servicemap.directory.load.load_services", load_services)
    source = tmp_path / "directory.csv"
    source.write_text("id,name\n", encoding="utf-8")
    return source, calls


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_export_writes_the_file_and_a_summary(fmt, fake_load, tmp_path):
    source, calls = fake_load
    out = tmp_path / f"services.{fmt}"
    result = CliRunner().invoke(
        cli, ["export", "--services", str(source), "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert calls == [source]
    assert result.stderr == (
        f"Wrote 4 services to {out}: 2 with a public location, "
        "1 confidential with location withheld.\n"
    )
    assert result.stdout == ""


def test_cli_export_defaults_to_the_bundled_directory(fake_load, tmp_path):
    _, calls = fake_load
    result = CliRunner().invoke(cli, ["export", "--format", "csv", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 0, result.output
    assert calls == [None]


def test_cli_export_rejects_a_bad_format(fake_load, tmp_path):
    result = CliRunner().invoke(cli, ["export", "--format", "kml", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for '--format': 'kml' is not one of "
        "'csv', 'geojson', 'gpkg', 'oruk', 'xlsx'."
    )


def test_cli_export_reports_an_unwritable_path(fake_load, tmp_path):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "services.csv"
    result = CliRunner().invoke(cli, ["export", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot write '{out}': '{tmp_path / 'afile'}' is a file, not a folder; "
        "choose another place with -o.\n"
    )


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("s.csv", "csv"), ("s.xlsx", "xlsx"), ("s.geojson", "geojson"), ("s.json", "oruk"),
     ("s.gpkg", "gpkg"), ("S.CSV", "csv")],
)  # fmt: skip
def test_cli_export_takes_the_format_from_the_file_name(name, fmt, fake_load, tmp_path):
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = _read_back(out, fmt)
    assert list(table["id"]) == ["a1", "a2", "a3", "a4"]
    if fmt == "oruk":
        assert "services" in json.loads(out.read_text(encoding="utf-8"))


def test_cli_export_geojson_may_be_named_json(fake_load, tmp_path):
    out = tmp_path / "s.json"
    result = CliRunner().invoke(cli, ["export", "--format", "geojson", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["type"] == "FeatureCollection"


def test_cli_export_needs_a_format_or_a_known_ending(fake_load, tmp_path):
    out = tmp_path / "services"
    result = CliRunner().invoke(cli, ["export", "-o", str(out)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: Cannot tell which format to write to '{out}'; add --format, or end the file "
        "name with .csv, .geojson, .gpkg, .json, .xlsx."
    )
    assert not out.exists()


def test_cli_export_refuses_a_format_the_name_contradicts(fake_load, tmp_path):
    out = tmp_path / "services.xlsx"
    result = CliRunner().invoke(cli, ["export", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: -o '{out}' names a .xlsx file but --format is 'csv'; drop --format to write "
        "xlsx, or end the file name with .csv."
    )
    assert not out.exists()


def test_cli_formats_match_the_library():
    assert cli_module.EXPORT_FORMATS == FORMATS
