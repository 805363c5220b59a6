"""The December 2026 revision of the bundled directory: the merge rules and the merged data."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from servicemap.directory.export import FORMATS, write_services
from servicemap.directory.merge import WITHHELD_NOTE, apply_updates, merge_services, text_table
from servicemap.directory.schema import FIELDS, FOCUSES
from servicemap.directory.validate import validate_services
from servicemap.errors import ServicesFileError

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "services" / "services.csv"
SHARED_SOURCE = ROOT.parent / "shared" / "data" / "services" / "migrant_victim_services.csv"
REVISION = ROOT.parent / "shared" / "data" / "services" / "2026-12"
PREFIX = "December 2026 revision:"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _table(*rows: dict[str, str]) -> pd.DataFrame:
    return text_table(pd.DataFrame(list(rows)))


BASE = {
    "id": "a",
    "name": "Alpha",
    "address": "PO Box 1, Leeds",
    "postcode": "LS1 1UR",
    "location_confidential": "no",
    "scope": "local",
    "service_types": "advocacy",
    "status": "unknown",
    "source_url": "https://old.example/a",
    "notes": "Old note.",
}


# --- the merge rules -------------------------------------------------------------------------


def test_an_update_fills_only_the_fields_it_gives_and_appends_its_notes():
    update = {"id": "a", "status": "active", "notes": "New evidence."}
    merged, log = apply_updates(_table(BASE), _table(update), note_prefix="Rev:")
    row = merged.iloc[0]
    assert row["status"] == "active"
    assert row["notes"] == "Old note. Rev: New evidence."
    assert (row["name"], row["postcode"], row["source_url"]) == (
        "Alpha",
        "LS1 1UR",
        "https://old.example/a",
    )
    assert log == ["a: status: 'unknown' -> 'active'", "a: notes: appended"]


def test_a_replaced_source_is_kept_in_the_notes():
    update = {"id": "a", "source_url": "https://new.example/a"}
    merged, _ = apply_updates(_table(BASE), _table(update))
    assert merged.loc[0, "source_url"] == "https://new.example/a"
    assert merged.loc[0, "notes"] == "Old note. Earlier source: https://old.example/a"


def test_a_row_made_confidential_loses_its_address_and_postcode():
    update = {"id": "a", "location_confidential": "yes"}
    merged, log = apply_updates(_table(BASE), _table(update))
    assert merged.loc[0, "address"] == merged.loc[0, "postcode"] == ""
    assert merged.loc[0, "notes"] == f"Old note. {WITHHELD_NOTE}"
    assert "a: postcode: withheld and removed (now confidential)" in log
    assert "LS1" not in "\n".join(log)


def test_the_inputs_are_not_changed():
    base, update = _table(BASE), _table({"id": "a", "location_confidential": "yes"})
    before = base.copy()
    apply_updates(base, update)
    pd.testing.assert_frame_equal(base, before)


@pytest.mark.parametrize(
    ("updates", "additions", "message"),
    [
        ({"id": "b", "status": "active"}, None, r"updates: row 2: column 'id': 'b' is not in"),
        (None, {"id": "A", "name": "Again"}, r"additions: row 2: column 'id': 'A' is already"),
    ],
)
def test_unknown_updates_and_clashing_additions_are_refused(updates, additions, message):
    with pytest.raises(ServicesFileError, match=message):
        merge_services(
            _table(BASE),
            updates=None if updates is None else _table(updates),
            additions=None if additions is None else _table(additions),
        )


# --- the bundled directory -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in _rows(BUNDLED)}


def test_the_bundled_directory_has_131_services_and_validates():
    rows = _rows(BUNDLED)
    assert len(rows) == 131
    assert list(rows[0]) == list(FIELDS)
    assert [p for p in validate_services(BUNDLED) if p.severity == "error"] == []


# The two public email addresses the additions wrote in their notes, moved into the email field
# (December 2026): the notes point to the field instead.
EMAILS_MOVED = {
    "coram-clc-migrant-children": ("mcp@coramclc.org.uk", "the email address in 'email'"),
    "nspcc-fgm-helpline": ("fgmhelp@nspcc.org.uk", "the email address in 'email'"),
}


def test_the_additions_are_appended_unchanged(bundled):
    additions = _rows(REVISION / "additions.csv")
    assert list(bundled)[-len(additions) :] == [row["id"] for row in additions]
    for addition in additions:
        row = bundled[addition["id"]]
        expected = {**addition, "email": ""}
        if addition["id"] in EMAILS_MOVED:
            email, pointer = EMAILS_MOVED[addition["id"]]
            assert email in addition["notes"]  # sourced in the same row, not invented
            expected |= {"email": email, "notes": addition["notes"].replace(email, pointer)}
        assert {f: row[f] for f in expected} == expected, addition["id"]


def test_only_the_moved_addresses_are_emails(bundled):
    emails = {service_id: row["email"] for service_id, row in bundled.items() if row["email"]}
    assert emails == {service_id: moved[0] for service_id, moved in EMAILS_MOVED.items()}
    assert not any("@" in row["notes"] for row in bundled.values())


def test_the_updates_fill_their_fields_append_notes_and_keep_old_sources(bundled):
    old_rows = {row["id"]: row for row in _rows(SHARED_SOURCE)}
    for update in _rows(REVISION / "updates.csv"):
        row = bundled[update["id"]]
        for field, value in update.items():
            if value and field != "notes":
                assert row[field] == value, (update["id"], field)
        assert f"{PREFIX} {update['notes']}" in row["notes"]
        old = old_rows[update["id"]]
        assert row["notes"].startswith(old["notes"])
        assert old["source_url"] in (row["source_url"], *row["notes"].split())


def test_saheli_and_hull_sisters_are_confidential_with_no_place(bundled):
    for service_id in ("saheli", "hull-sisters"):
        row = bundled[service_id]
        assert row["location_confidential"] == "yes"
        assert row["address"] == row["postcode"] == row["latitude"] == ""


def _haystack(path: Path) -> str:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    return path.read_bytes().decode("utf-8", "replace")


@pytest.mark.parametrize("fmt", FORMATS)
def test_sahelis_old_po_box_is_in_no_export_of_the_bundled_directory(
    bundled_services, tmp_path, fmt
):
    # Saheli's 2008 mailing address: PO Box 44, M20 4BJ. It is in the shared source ...
    old = next(r for r in _rows(SHARED_SOURCE) if r["id"] == "saheli")
    assert old["postcode"] == "M20 4BJ"
    # ... but in neither the bundled file nor anything written from it.
    path = tmp_path / f"services.{fmt}"
    write_services(bundled_services, path, fmt=fmt)
    for text in (_haystack(path), BUNDLED.read_text(encoding="utf-8")):
        squeezed = text.upper().replace(" ", "")
        assert "M204BJ" not in squeezed and "POBOX44" not in squeezed


def test_every_bundled_service_has_a_focus(bundled):
    assert {row["focus"] for row in bundled.values()} <= set(FOCUSES)
    assert all(row["focus"] for row in bundled.values())


@pytest.mark.parametrize(
    ("focus", "ids"),
    [
        ("trafficking", ["migrant-help-modern-slavery", "salvation-army-msvcc"]),
        ("nrpf_general", ["project-17"]),
        ("legal_immigration", ["coram-clc-migrant-children", "gmiau"]),
        ("community", ["leeds-gate", "lighthouse-orthodox-jewish"]),
        ("fgm", ["national-fgm-centre", "nspcc-fgm-helpline", "daughters-of-eve",
                 "bawso-fgm-service", "bswa-fgm"]),
    ],
)  # fmt: skip
def test_the_research_caveats_are_reflected_in_focus(bundled, focus, ids):
    """The revision's README names these as not domestic-abuse services."""
    assert {bundled[i]["focus"] for i in ids} == {focus}
