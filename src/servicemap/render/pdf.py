"""The report as one A4 PDF: contents, the national summary and methodology, each force's summary.

Made with WeasyPrint (the optional extra ``servicemap[pdf]``) from the report's own pages, so
the PDF says exactly what the pages say: the index page's content (with the methodology), then
one summary per force (its headline figures, what is missing, the services serving it and the
nearest help outside it), each starting on a new page, with page numbers and a contents list
that gives each part's page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from servicemap._atomic import atomic_path
from servicemap.errors import ServicemapError

PDF_EXTRA = "servicemap[pdf]"
"""The optional extra that installs WeasyPrint."""

SYSTEM_LIBRARIES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b"
"""Debian packages WeasyPrint needs (``apt-get install …``); most desktops already have them."""

_MAIN = re.compile(r'<main id="content">(.*?)</main>', re.S)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
# A profile page's summary: everything before "Compared with its neighbours" (the headline
# figures, what is missing, the services serving it and the nearest help outside it).
_SUMMARY_END = '<h2 id="neighbours">'
_IDS = re.compile(r'\bid="([^"]+)"')
_LOCAL_HREF = re.compile(r'href="#([^"]+)"')

_PDF_CSS = """
@page { size: A4; margin: 16mm 15mm 18mm;
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8.5pt; }
  @bottom-left { content: string(doc-title); font-size: 8.5pt; color: #555; } }
@page :first { @bottom-left { content: none; } }
body { font-size: 10pt; }
h1.doc-title { string-set: doc-title content(); font-size: 20pt; margin-top: 40mm; }
.part { break-before: page; }
nav.toc ol { list-style: none; padding: 0; }
nav.toc li { margin: 2px 0; }
nav.toc a { color: inherit; text-decoration: none; }
nav.toc a::after { content: leader(".") target-counter(attr(href), page); }
nav.toc a[href^="http"]::after { content: none; }
"""


class PdfError(ServicemapError):
    """The PDF cannot be made (WeasyPrint is missing or fails)."""


def _main(page: str) -> str:
    found = _MAIN.search(page)
    return found.group(1) if found else ""


def _prefixed(fragment: str, prefix: str) -> str:
    """Give every id (and the links to them) in a page a prefix, so parts do not clash."""
    fragment = _IDS.sub(lambda m: f'id="{prefix}-{m.group(1)}"', fragment)
    return _LOCAL_HREF.sub(lambda m: f'href="#{prefix}-{m.group(1)}"', fragment)


def _force_summary(main: str) -> str:
    """Return the summary of a profile page from its ``<main>`` (:func:`_main`)."""
    # the PDF is printed from the report folder, one level above the profile pages
    return main.split(_SUMMARY_END, 1)[0].replace('src="../', 'src="')


def report_pdf_html(
    index_html: str, force_pages: Mapping[str, str], *, title: str, generated: str
) -> str:
    """Return the HTML that the PDF is printed from (for WeasyPrint; not written as a page).

    Parameters
    ----------
    index_html
        The report's index page.
    force_pages
        Each force's profile page, by slug.
    title
        The report's title.
    generated
        The date the report was made, as people write it.
    """
    style = _STYLE.search(index_html)
    css = style.group(1) if style else ""
    forces = []
    for slug, page in force_pages.items():
        main = _main(page)  # once a page: the regex runs over the whole page
        forces.append((slug, _name(main, slug), _prefixed(_force_summary(main), f"force-{slug}")))
    forces.sort(key=lambda force: force[1].lower())
    toc = [
        '<li><a href="#national">The national picture</a></li>',
        '<li><a href="#index-methodology">Methodology and sources</a></li>',
        '<li><a href="#forces">Police force areas</a><ol>',
        *(f'<li><a href="#force-{slug}">{name}</a></li>' for slug, name, _ in forces),
        "</ol></li>",
    ]
    parts = [
        f'<h1 class="doc-title">{html.escape(title)}</h1>',
        f"<p>Made by servicemap on {html.escape(generated)}. The interactive report, its map "
        "and coverage.csv / coverage.xlsx are in the same folder.</p>",
        '<nav class="toc"><h2>Contents</h2><ol>' + "".join(toc) + "</ol></nav>",
        '<section class="part" id="national">'
        + _prefixed(_main(index_html), "index")
        + "</section>",
        '<h2 class="part" id="forces">Police force areas</h2>',
        *(f'<section class="part" id="force-{slug}">{body}</section>' for slug, _, body in forces),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{css}{_PDF_CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>"
    )


def _name(main: str, slug: str) -> str:
    found = _H1.search(main)
    return found.group(1).strip() if found else slug


def check_pdf_available() -> None:
    """Raise :class:`PdfError` now, before any work, when WeasyPrint cannot be loaded."""
    _weasyprint()


def _weasyprint() -> Any:
    try:
        import weasyprint  # heavy, and optional: only when a PDF is asked for
    except (ImportError, OSError) as exc:
        raise PdfError(
            f"Writing report.pdf needs WeasyPrint: pip install '{PDF_EXTRA}' (on Debian or "
            f"Ubuntu it also needs: apt-get install {SYSTEM_LIBRARIES}). ({exc})"
        ) from exc
    return weasyprint


def write_pdf(document: str, path: str | Path, *, base_url: str | Path) -> None:
    """Print an HTML document to an A4 PDF with WeasyPrint, atomically.

    Parameters
    ----------
    document
        The HTML (see :func:`report_pdf_html`).
    path
        The PDF to write.
    base_url
        The folder relative links and pictures (``coverage.png``) are found in.

    Raises
    ------
    PdfError
        WeasyPrint is not installed (the message names the extra and the system libraries).
    """
    weasyprint = _weasyprint()
    with atomic_path(path) as tmp:
        weasyprint.HTML(string=document, base_url=str(base_url)).write_pdf(tmp)
