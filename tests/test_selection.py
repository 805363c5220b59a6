"""Choosing services by focus and age, showing when each was last seen, and --contact."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from servicemap.cli import cli
from servicemap.directory.age import age_band, age_bands
from servicemap.directory.select import NO_FOCUS, Selection, SelectionError, select_services
from servicemap.errors import ReportError
from servicemap.render.labels import format_period, safe_email
from servicemap.render.maps import _national_html as _national_panel
from servicemap.render.maps import national_services, service_popup_html
from servicemap.render.pages import contact_link
from servicemap.render.report import build_report
from servicemap.render.selection import phone_text, seen_text, selection_sentences
from worlds import make_coverage, make_forces, make_profiles, make_services

TODAY = dt.date(2026, 12, 2)


@pytest.mark.parametrize(
    ("last_seen", "band"),
    [
        ("2025-09", "recent"),
        ("2024", "recent"),  # the end of 2024 counts: 1.9 years before 2 December 2026
        ("2024-11", "older"),  # 2.09 years
        ("2023-12", "older"),  # 2.92 years
        ("2023-11", "may_have_ended"),  # 3.09 years
        ("2011", "may_have_ended"),
        ("", "unknown"),
    ],
)
def test_age_bands_count_from_the_end_of_the_period(last_seen, band):
    assert age_band(last_seen, today=TODAY) == band


def test_seen_text_flags_services_that_may_have_ended():
    assert seen_text("2025-09", today=TODAY) == "2025-09"
    assert seen_text("2019", today=TODAY) == "2019 (may have ended)"
    assert seen_text("", today=TODAY) == "not known"


def test_a_phone_is_shown_with_the_date_it_was_seen():
    assert phone_text("0800 731 8147", "2020") == "0800 731 8147 (seen 2020)"
    assert phone_text("020 7008 0151", "") == "020 7008 0151 (seen date not known)"
    assert phone_text("", "2020") == ""


FRAME = pd.DataFrame(
    {
        "id": ["a", "b", "c", "d", "e"],
        "focus": ["domestic_abuse", "fgm", "domestic_abuse", "trafficking", ""],
        "last_seen": ["2025-09", "2019", "", "2024", "2026"],
    }
)


def test_the_default_selection_keeps_everything_and_counts_by_focus():
    kept, summary = select_services(FRAME, Selection(), today=TODAY)
    assert list(kept["id"]) == ["a", "b", "c", "d", "e"]
    assert summary.counted == summary.total == 5
    assert summary.by_focus == {"domestic_abuse": 2, "fgm": 1, NO_FOCUS: 1, "trafficking": 1}
    assert summary.recent == 3  # a, d, e


def test_focus_and_seen_since_leave_services_out():
    kept, summary = select_services(
        FRAME, Selection(focus=("domestic_abuse", "fgm"), seen_since=2024), today=TODAY
    )
    assert list(kept["id"]) == ["a"]
    assert (summary.left_out_by_focus, summary.left_out_by_age) == (2, 2)  # d, e; b, c
    assert selection_sentences(summary) == [
        "Counting 1 of 5 services: focus domestic_abuse, fgm (2 services of other focus left "
        "out); seen in 2024 or later (2 services last seen earlier or never dated left out).",
        "The figures rest on 1 service; 1 of them (100%) were seen in the last 2 years.",
        "Counted by focus: 1 domestic_abuse.",
    ]


def test_the_input_frame_is_not_changed():
    before = FRAME.copy()
    select_services(FRAME, Selection(focus=("fgm",)), today=TODAY)
    pd.testing.assert_frame_equal(FRAME, before)


def test_an_unknown_focus_is_refused():
    with pytest.raises(SelectionError, match=r"Unknown focus 'da'; choose from domestic_abuse"):
        Selection(focus=("da",))


def test_a_future_seen_since_is_refused():
    with pytest.raises(SelectionError, match=r"--seen-since 2030 is not a year between 1900"):
        select_services(FRAME, Selection(seen_since=2030), today=TODAY)


# --- the bundled directory through the CLI ---------------------------------------------------


def _coverage(*args: str) -> tuple[int, pd.DataFrame | None, str]:
    result = CliRunner().invoke(cli, ["coverage", "--format", "csv", *args])
    if result.exit_code != 0:
        return result.exit_code, None, result.output
    from io import StringIO

    return 0, pd.read_csv(StringIO(result.stdout)), result.stderr


def test_focus_changes_the_coverage_figures(bundled_services):
    code, everything, _ = _coverage("-q")
    assert code == 0 and everything is not None
    code, fgm, stderr = _coverage("--focus", "fgm")
    assert code == 0 and fgm is not None
    fgm_count = int((bundled_services["focus"] == "fgm").sum())
    assert f"Counting {fgm_count} of {len(bundled_services)} services: focus fgm" in stderr
    assert (fgm["services_serving"] <= everything["services_serving"]).all()
    assert fgm["services_serving"].sum() < everything["services_serving"].sum()


def test_focus_may_be_repeated_or_a_comma_list(bundled_services):
    repeated = _coverage("-q", "--focus", "fgm", "--focus", "trafficking")[1]
    listed = _coverage("-q", "--focus", "fgm, trafficking")[1]
    assert repeated is not None and listed is not None
    pd.testing.assert_frame_equal(repeated, listed)


def test_an_unknown_focus_is_a_usage_error():
    result = CliRunner().invoke(cli, ["coverage", "--focus", "refuges"])
    assert result.exit_code == 2
    assert (
        "Invalid value for '--focus': 'refuges' is not a focus; choose from domestic_abuse, "
        "sexual_violence, trafficking, fgm, legal_immigration, nrpf_general, community."
    ) in result.output


@pytest.mark.parametrize("command", ["coverage", "force", "near", "map", "report", "plan"])
def test_every_counting_command_takes_focus_and_seen_since(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert "--focus FOCUS[,FOCUS]" in result.output and "--seen-since YEAR" in result.output


def test_near_shows_when_each_service_was_last_seen():
    result = CliRunner().invoke(cli, ["near", "CF11 9HA", "-q", "--format", "table"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[1].split()
    assert header[-1] == "last_seen"
    assert "0800 731 8147 (seen 2020)" in result.stdout  # BAWSO's helpline and its date
    assert "(may have ended)" in result.stdout


def test_force_text_shows_last_seen():
    result = CliRunner().invoke(cli, ["force", "South Wales", "-q"])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"BAWSO - Head Office .* 0800 731 8147 \(seen 2020\) +2020 \(may", result.stdout
    )


# --- pages, popups and the report --------------------------------------------------------------


def test_a_popup_shows_last_seen_and_the_phones_date():
    popup = service_popup_html({"name": "A", "phone": "0800 1", "last_seen": "2015"})
    assert "<dt>Last seen</dt><dd>2015 (may have ended)</dd>" in popup
    assert "0800 1</a> (seen 2015)" in popup


def test_national_services_carry_their_age(canonical_services):
    services = canonical_services(
        [{"name": "N", "scope": "national", "phone": "0808 1", "last_seen": "2012"}]
    )
    (row,) = national_services(services).to_dict(orient="records")
    assert row["phone"] == "0808 1" and row["last_seen"] == "2012"
    html = _national_panel(national_services(services))
    assert "0808 1</a> (seen 2012)" in html and "last seen 2012 (may have ended)" in html


@pytest.mark.parametrize(
    ("contact", "href"),
    [
        ("services@example.org", "mailto:services@example.org"),
        ("https://example.org/tell-us", "https://example.org/tell-us"),
    ],
)
def test_contact_is_a_web_or_email_address(contact, href):
    assert contact_link(contact)["href"] == href


@pytest.mark.parametrize("contact", ["javascript:alert(1)", "call us", "ftp://example.org"])
def test_a_contact_that_is_neither_is_refused(contact):
    with pytest.raises(ReportError, match="is neither a web address nor an email address"):
        contact_link(contact)


def test_report_contact_and_counts_are_on_the_index_and_every_profile(canonical_services, tmp_path):
    forces = make_forces()
    coverage = make_coverage(forces)
    services = make_services(canonical_services)
    services["focus"] = ["domestic_abuse", "fgm", "", "domestic_abuse", "trafficking", "fgm"]
    services["last_seen"] = ["2025", "2019", "", "2026-01", "2023-12", "2010"]
    out = tmp_path / "site"
    build_report(
        forces,
        coverage,
        services,
        out_dir=out,
        profiles=make_profiles(coverage),
        contact="directory@example.org",
        generated=TODAY,
    )
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "The figures rest on 6 services; 2 of them (33%) were seen in the last 2 years." in index
    assert "Counted by focus: 2 domestic_abuse, 2 fgm, 1 not stated, 1 trafficking." in index
    pages = [index, *(p.read_text(encoding="utf-8") for p in (out / "forces").glob("*.html"))]
    assert len(pages) == 1 + len(forces)
    tell_us = 'missing or wrong?</strong> <a href="mailto:directory@example.org">Tell us</a>'
    for page in pages:
        assert tell_us in page
    for page in pages[1:]:
        assert '<th scope="col">Last seen</th>' in page
        assert '<td data-label="Last seen">not known</td>' in page


def test_report_refuses_a_bad_contact_before_any_work(tmp_path):
    result = CliRunner().invoke(cli, ["report", "-o", str(tmp_path / "r"), "--contact", "x"])
    assert result.exit_code == 2
    assert "Invalid value for '--contact': is neither a web address nor an email" in result.output
    assert not (tmp_path / "r").exists()


def test_age_bands_of_the_bundled_directory_add_up(bundled_services):
    bands = age_bands(bundled_services, today=TODAY).value_counts()
    assert bands.sum() == len(bundled_services)
    assert set(bands.index) <= {"recent", "older", "may_have_ended", "unknown"}


def test_validate_refuses_a_focus_outside_the_vocabulary(tmp_path):
    from servicemap.directory.validate import validate_services

    path = tmp_path / "dir.csv"
    path.write_text(
        "id,name,scope,focus,source_url\na,A,national,domestic abuse,https://e.org\n"
        "b,B,national,trafficked,https://e.org\n",
        encoding="utf-8",
    )
    errors = [(p.row, p.code, p.message) for p in validate_services(path) if p.severity == "error"]
    assert errors == [
        (3, "bad-value", "'trafficked' is not an allowed value. Did you mean 'trafficking'?")
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("2025-09", "September 2025"), ("2020", "2020"), ("2024-03-15", "15 March 2024"),
     ("2024-13", ""), ("2024-02-30", ""), ("soon", ""), ("", "")],
)  # fmt: skip
def test_a_period_reads_as_people_write_it(value, shown):
    assert format_period(value) == shown


@pytest.mark.parametrize(
    ("value", "email"),
    [("help@example.org", "help@example.org"), ("mailto:a@b.org.uk", "a@b.org.uk"),
     ("a@b", None), ("a b@c.org", None), ("a@b.org; c@d.org", None), ("<b>@x.org", None),
     ("", None)],
)  # fmt: skip
def test_only_one_plain_email_address_is_a_mailto_link(value, email):
    assert safe_email(value) == email
