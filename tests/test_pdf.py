"""report --pdf: one A4 PDF with contents, the national summary and each force's summary."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import _canonical_services
from servicemap._atomic import OutputError
from servicemap.cli import cli
from servicemap.render import pdf as pdf_module
from servicemap.render.pdf import PdfError, report_pdf_html
from servicemap.render.report import build_report, report_pages
from worlds import NAMES, SLUGS, make_coverage, make_forces, make_profiles, make_services

weasyprint = pytest.importorskip("weasyprint", reason="the pdf extra is part of .[test]")


@pytest.fixture(scope="module")
def pages() -> Any:
    forces = make_forces()
    coverage = make_coverage(forces)
    services = make_services(_canonical_services)
    return report_pages(forces, coverage, services, profiles=make_profiles(coverage))


def test_the_pdf_has_contents_the_summary_and_one_part_per_force(pages: Any) -> None:
    document = report_pdf_html(
        pages.index_html, pages.force_pages, title=pages.title, generated=pages.generated
    )
    rendered = weasyprint.HTML(string=document).render()
    sizes = {(round(p.width), round(p.height)) for p in rendered.pages}
    assert sizes == {(794, 1123)}  # A4 in CSS pixels (210 x 297 mm)
    first_page_of = {}
    for number, page in enumerate(rendered.pages, start=1):
        for anchor in page.anchors:
            first_page_of.setdefault(anchor, number)
    assert first_page_of["national"] > 1  # after the cover and contents
    force_pages = [first_page_of[f"force-{slug}"] for slug in SLUGS]
    assert len(set(force_pages)) == len(SLUGS)  # each force starts a page of its own
    assert first_page_of["national"] < min(force_pages)
    assert "index-methodology" in first_page_of
    for name in NAMES[1:]:
        assert name in document


def test_report_pdf_is_written_with_the_report(tmp_path: Path) -> None:
    forces = make_forces()
    coverage = make_coverage(forces)
    services = make_services(_canonical_services)
    out = tmp_path / "site"
    summary = build_report(
        forces, coverage, services, out_dir=out, profiles=make_profiles(coverage), pdf=True
    )
    data = (out / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    assert "report.pdf" in summary.files
    # a later report without --pdf removes the earlier PDF (it would be out of date) ...
    again = build_report(forces, coverage, services, out_dir=out, profiles=make_profiles(coverage))
    assert "report.pdf" not in again.files and not (out / "report.pdf").exists()
    # ... and a PDF the user put there is never touched
    (out / "report.pdf").write_bytes(b"mine")
    with pytest.raises(OutputError):
        build_report(
            forces, coverage, services, out_dir=out, profiles=make_profiles(coverage), pdf=True
        )
    build_report(forces, coverage, services, out_dir=out, profiles=make_profiles(coverage))
    assert (out / "report.pdf").read_bytes() == b"mine"


def test_a_missing_weasyprint_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_import = builtins.__import__

    def no_weasyprint(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "weasyprint":
            raise ImportError("No module named 'weasyprint'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_weasyprint)
    with pytest.raises(PdfError, match=r"pip install 'servicemap\[pdf\]'.*apt-get install"):
        pdf_module.check_pdf_available()
    result = CliRunner().invoke(cli, ["report", "--pdf", "-o", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "servicemap[pdf]" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()
