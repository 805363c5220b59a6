"""The report's pages, from frames to HTML: the index and one profile page per force."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from servicemap import __version__
from servicemap.analysis.coverage import (
    COVERED_SHARE,
    GAP_CLASSES,
    GAP_WEIGHTS,
    LEVEL_VALUES,
    PROVISION_LABELS,
    REMOTE_KINDS,
)
from servicemap.directory.schema import cell_text
from servicemap.errors import ReportError
from servicemap.geography.boundaries import force_neighbours
from servicemap.geography.forces import load_forces
from servicemap.render.classes import NO_DATA_COLOUR
from servicemap.render.downloads import force_download_name
from servicemap.render.labels import (
    ATTRIBUTION,
    access_basis,
    format_date,
    format_measure,
    metric_label,
    rank_parts,
    rank_text,
    safe_url,
    short_label,
)
from servicemap.render.listings import profile_services, service_listing, service_row
from servicemap.settings import Settings

__all__ = [
    "COMPARE_COLUMNS",
    "INDEX_COLUMNS",
    "ForceLookup",
    "ProfileLike",
    "coverage_codes",
    "force_lookup",
    "index_page",
    "jinja_environment",
    "order_by_gap",
    "page_context",
    "profile_pages",
]

# Columns of the all-forces table on the index page and of each profile's neighbour table
# (those present in the coverage frame are shown). "*_within_<widest>km" is added at run time.
INDEX_COLUMNS: tuple[str, ...] = (
    "gap_rank",
    "gap_score",
    "gap_class",
    "local_services",
    "regional_services",
    "national_services",
    "born_outside_uk_2021",
    "local_services_per_100k_born_abroad",
)
COMPARE_COLUMNS: tuple[str, ...] = (
    "gap_score",
    "gap_class",
    "local_services",
    "regional_services",
    "local_services_per_100k_born_abroad",
)


class ProfileLike(Protocol):
    """What a report needs from one force's profile (``coverage.ForceProfile``)."""

    @property
    def gaps(self) -> list[str]:
        """Plain-language statements of what is missing."""

    @property
    def services(self) -> pd.DataFrame:
        """Services serving the force (location blank for confidential ones)."""

    @property
    def nearest_outside(self) -> pd.DataFrame:
        """Nearest public in-person services outside the force."""


# --- helpers ------------------------------------------------------------------------------------


def coverage_codes(coverage: pd.DataFrame) -> pd.Series:
    """Return the force codes of a coverage frame (its ``force_code`` column), as text."""
    if "force_code" in coverage.columns:
        return coverage["force_code"].astype(str)
    raise ReportError(
        "The coverage table has no 'force_code' column (found: "
        f"{', '.join(map(str, coverage.columns))}); pass the frame from coverage_by_force."
    )


def _names(coverage: pd.DataFrame) -> pd.Series:
    if "force_name" in coverage.columns:
        return coverage["force_name"].astype(str)
    return coverage_codes(coverage)


def _widest_access_column(coverage: pd.DataFrame) -> str | None:
    columns = [c for c in coverage.columns if str(c).startswith("in_person_within_")]
    if not columns:
        return None
    return str(max(columns, key=lambda c: float(str(c).removeprefix("in_person_within_")[:-2])))


def _sort_key(column: str, value: object) -> str:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    if column == "gap_class":
        text = cell_text(value)
        return str(GAP_CLASSES.index(text)) if text in GAP_CLASSES else ""
    return cell_text(value)


def _is_numeric(coverage: pd.DataFrame, column: str) -> bool:
    return bool(pd.api.types.is_numeric_dtype(coverage[column]))


def _slug_map(forces_frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(forces_frame["code"], forces_frame["slug"], strict=True))


def jinja_environment() -> Any:
    """Return the Jinja2 environment of the report's templates (autoescaping on)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("servicemap", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


_EMAIL = re.compile(r"^(?:mailto:)?([^@\s<>\"'/]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$")


def contact_link(contact: str) -> dict[str, str]:
    """Return the link of ``--contact``: an http(s) page or an email address (``mailto:``).

    Parameters
    ----------
    contact
        A web address (``https://example.org/tell-us``) or an email address.

    Returns
    -------
    dict
        ``href`` and the ``text`` shown.

    Raises
    ------
    ReportError
        ``contact`` is neither.
    """
    text = contact.strip()
    email = _EMAIL.match(text)
    if email:
        return {"href": f"mailto:{email.group(1)}", "text": email.group(1)}
    url = safe_url(text)
    if url and url.lower().startswith(("http://", "https://")):
        return {"href": url, "text": url}
    raise ReportError(
        f"--contact {contact!r} is neither a web address nor an email address; give e.g. "
        "https://example.org/tell-us or services@example.org."
    )


def page_context(
    *, title: str, metric: str, generated: dt.date, contact: str | None = None
) -> dict[str, Any]:
    """Return what every page's template is given: title, styles, script, date and credits.

    Parameters
    ----------
    title
        The report's title.
    metric
        The coverage column that colours the maps.
    generated
        The date printed on the pages.
    contact
        Where to tell the report's makers that a service is missing or wrong (a web or email
        address; see :func:`contact_link`), shown on every page; ``None`` for none.

    Returns
    -------
    dict
        Template variables shared by the index and the force pages.
    """
    return {
        "title": title,
        "css": _asset("report.css"),
        "sort_js": _asset("sort.js"),
        "attribution": ATTRIBUTION,
        "version": __version__,
        "generated": format_date(generated),
        "generated_iso": generated.isoformat(),
        "metric_label": metric_label(metric),
        "contact": contact_link(contact) if contact else None,
    }


def _asset(name: str) -> Any:
    from importlib import resources

    text = resources.files("servicemap").joinpath("assets", name).read_text(encoding="utf-8")
    # Trusted, static files of this package inlined into <style>/<script>: not escaped, but an
    # end tag inside them would close the element early.
    return Markup(text.replace("</", "<\\/"))


# --- the pieces of the report -------------------------------------------------------------------


def _headline(coverage: pd.DataFrame, services: pd.DataFrame) -> list[dict[str, str]]:
    figures = [{"value": str(len(coverage)), "label": "police force areas"}]
    scope = (
        services["scope"].map(cell_text) if "scope" in services.columns else pd.Series(dtype=str)
    )
    active = (
        services["status"].map(cell_text) != "ended"
        if "status" in services.columns
        else pd.Series(True, index=services.index)
    )
    figures.append({"value": f"{int(active.sum()):,}", "label": "services in the directory"})
    for level in ("local", "regional", "national"):
        count = int(((scope == level) & active).sum())
        figures.append({"value": f"{count:,}", "label": f"{level} services"})
    if "gap_class" in coverage.columns:
        none = int((coverage["gap_class"] == GAP_CLASSES[0]).sum())
        covered = int((coverage["gap_class"] == GAP_CLASSES[2]).sum())
        figures.append({"value": str(none), "label": f"forces with {GAP_CLASSES[0]}"})
        figures.append(
            {
                "value": str(covered),
                "label": f"forces classed {GAP_CLASSES[2]}",
                "note": (
                    f"“{GAP_CLASSES[2]}” means local advocacy reaching {COVERED_SHARE:.0%} of "
                    "residents, and NRPF accommodation and immigration legal advice from a "
                    "local or regional service. It counts what the directory found; it does "
                    "not say that a force's needs are met."
                ),
            }
        )
    if "gap_score" in coverage.columns:
        median = float(coverage["gap_score"].median())
        figures.append({"value": f"{median:.0f}", "label": "median gap score (0 best, 100 worst)"})
    return figures


def order_by_gap(coverage: pd.DataFrame) -> pd.DataFrame:
    """Return coverage with the biggest gap first (by ``gap_rank``, else ``gap_score``)."""
    if "gap_rank" in coverage.columns:
        return coverage.sort_values(["gap_rank"], kind="stable")
    if "gap_score" in coverage.columns:
        return coverage.sort_values(["gap_score"], ascending=False, kind="stable")
    return coverage


def _table_columns(coverage: pd.DataFrame, wanted: Sequence[str]) -> list[dict[str, Any]]:
    columns = [c for c in wanted if c in coverage.columns]
    widest = _widest_access_column(coverage)
    if widest:
        columns.append(widest)
    return [
        {
            "name": c,
            "label": short_label(c),
            "title": metric_label(c),
            "numeric": _is_numeric(coverage, c),
            # gap_class sorts by its order (worst first), not alphabetically.
            "sort_numeric": _is_numeric(coverage, c) or c == "gap_class",
        }
        for c in columns
    ]


def _cells(
    row: Mapping[str, Any],
    columns: Sequence[Mapping[str, Any]],
    colour: str | None,
    metric: str,
    ranks: Sequence[object] = (),
) -> list[dict[str, Any]]:
    """Return a table row's cells; a gap rank shared with other forces reads ``=1``."""
    return [
        {
            "text": rank_text(row.get(c["name"]), ranks)
            if c["name"] == "gap_rank" and len(ranks)
            else format_measure(c["name"], row.get(c["name"])),
            "sort": _sort_key(c["name"], row.get(c["name"])),
            "numeric": c["numeric"],
            "colour": colour if c["name"] == metric else None,
        }
        for c in columns
    ]


def _svg_minimap(
    simplified: gpd.GeoDataFrame,
    code: str,
    neighbours: Sequence[str],
    colours: Mapping[str, str],
    labels: Mapping[str, str],
    *,
    settings: Settings,
) -> Any:
    """Return an inline SVG of a force (thick outline) and its neighbours, or '' if none."""
    wanted = [code, *neighbours]
    chosen = simplified.loc[simplified["force_code"].isin(wanted)]
    if not chosen.crs.equals(settings.crs):
        chosen = chosen.to_crs(settings.crs)
    if chosen.empty:
        return ""
    minx, miny, maxx, maxy = chosen.total_bounds
    size = 400.0
    scale = size / max(maxx - minx, maxy - miny, 1.0)
    width, height = (maxx - minx) * scale, (maxy - miny) * scale

    def path(geometry: Any) -> str:
        parts = []
        polygons = getattr(geometry, "geoms", [geometry])
        for polygon in polygons:
            for ring in (polygon.exterior, *polygon.interiors):
                xy = np.asarray(ring.coords)
                xs = (xy[:, 0] - minx) * scale
                ys = (maxy - xy[:, 1]) * scale
                flat = np.column_stack([xs, ys]).ravel().tolist()
                points = ("%.1f,%.1f " * len(xs) % tuple(flat))[:-1]  # one C-level format
                parts.append(f"M{points}Z")
        return "".join(parts)

    shapes = []
    ordered = chosen.assign(_self=chosen["force_code"] == code).sort_values("_self")
    # plain arrays: itertuples over a GeoDataFrame costs more than drawing the paths
    codes, geometries = ordered["force_code"].to_numpy(), ordered.geometry.to_numpy()
    for row_code, geometry in zip(map(str, codes), geometries, strict=True):
        is_self = row_code == code
        stroke = "#000" if is_self else "#555"
        width_px = 3 if is_self else 0.8
        title = escape(labels.get(row_code, row_code))
        shapes.append(
            f'<path d="{path(geometry)}" fill="{escape(colours.get(row_code, NO_DATA_COLOUR))}"'
            f' stroke="{stroke}" stroke-width="{width_px}" stroke-linejoin="round">'
            f"<title>{title}</title></path>"
        )
    label = escape(f"Map of {labels.get(code, code)} and the police force areas that border it")
    return Markup(
        f'<svg class="minimap" viewBox="-4 -4 {width + 8:.0f} {height + 8:.0f}" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">{"".join(shapes)}</svg>'
    )


def _profile_nearest(profile: ProfileLike) -> list[dict[str, str]]:
    return [
        {
            "name": cell_text(row.get("name")),
            "based_in": cell_text(row.get("based_in")),
            "km": format_measure("km", row.get("km_from_force")),
            "serves": "yes" if bool(row.get("serves_force")) else "no",
        }
        for row in profile.nearest_outside.to_dict(orient="records")
    ]


_DISTRICT_SHOWN = (
    "population_mid2023",
    "born_outside_uk_2021",
    "local_services",
    "local_coverage_share",
)


def _profile_districts(profile: ProfileLike | None) -> dict[str, Any]:
    """Return the force page's table of districts: column headings and formatted rows."""
    table = getattr(profile, "districts", None)
    if table is None or table.empty:
        return {"columns": [], "rows": []}
    shown = [
        *_DISTRICT_SHOWN,
        *(c for c in table.columns if str(c).startswith("in_person_within_")),
    ]
    rows = [
        {
            "name": cell_text(row.get("district_name")),
            "cells": [format_measure(c, row.get(c)) for c in shown],
            "serving": cell_text(row.get("local_services_serving")) or "none",
        }
        for row in table.to_dict(orient="records")
    ]
    return {"columns": [metric_label(c) for c in shown], "rows": rows}


def _access_basis(profiles: Mapping[str, ProfileLike]) -> str:
    """Say how many services the in-person access figures rest on (from any profile)."""
    for profile in profiles.values():
        active = int(getattr(profile, "active", 0) or 0)
        if active:
            return access_basis(int(getattr(profile, "places", 0) or 0), active)
    return ""


def _measures(row: Mapping[str, Any]) -> list[dict[str, str]]:
    skip = {"force_code", "force_name"}
    return [
        {"label": metric_label(str(k)), "value": format_measure(str(k), v)}
        for k, v in row.items()
        if str(k) not in skip and not str(k).startswith("_")
    ]


def _national_average(
    coverage: pd.DataFrame, columns: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    cells = []
    for c in columns:
        name = c["name"]
        if name in ("gap_class", "gap_rank") or not pd.api.types.is_numeric_dtype(coverage[name]):
            cells.append({"text": "", "numeric": c["numeric"], "colour": None})
            continue
        if name == "local_services_per_100k_born_abroad" and {
            "local_services",
            "born_outside_uk_2021",
        } <= set(coverage.columns):
            value: float = (
                coverage["local_services"].sum() / coverage["born_outside_uk_2021"].sum() * 1e5
            )
        else:
            value = float(coverage[name].median())
        text = format_measure(name, value)
        cells.append({"text": text, "numeric": True, "colour": None})
    return {"name": "Median police force area", "slug": "", "is_self": False, "cells": cells}


def _components() -> list[dict[str, str]]:
    rows = []
    for name, weight in GAP_WEIGHTS.items():
        if name in PROVISION_LABELS:
            if name in REMOTE_KINDS:
                how = (
                    "share of residents reached locally; a regional or national service "
                    "counts in full."
                )
            else:
                how = (
                    "share of residents reached by a local service; the rest count "
                    f"{LEVEL_VALUES['regional']:g} if a regional service covers the force, "
                    f"{LEVEL_VALUES['national']:g} if only a national one does."
                )
            label = PROVISION_LABELS[name]
        elif name == "capacity":
            label = "Capacity"
            how = (
                "local services per resident born outside the UK, against the England and Wales "
                "rate (capped at 1)."
            )
        elif name == "in_person_access":
            label = "In-person access"
            how = "share of residents within the widest distance of an in-person service."
        elif name == "by_and_for_access":
            label = "‘By and for’ access"
            how = (
                "share of residents within the widest distance of an in-person service led by "
                "the communities it serves."
            )
        else:
            label, how = name.replace("_", " ").capitalize(), ""
        rows.append({"label": label, "weight": f"{weight:.2f}", "how": how})
    return rows


# --- the pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForceLookup:
    """What every page looks up about a force, by its code.

    Attributes
    ----------
    codes
        The force codes, in coverage order.
    names, slugs, colours
        Each force's name, page slug and map colour.
    by_code
        The coverage frame indexed by force code.
    neighbours
        The codes of the forces that border each force.
    ranks
        Every force's gap rank (empty without ``gap_rank``), to show shared ranks as "=1".
    """

    codes: pd.Series
    names: dict[str, str]
    slugs: dict[str, str]
    colours: dict[str, str]
    by_code: pd.DataFrame
    neighbours: dict[str, list[str]]
    ranks: list[int]


def force_lookup(
    force_areas: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    frame: gpd.GeoDataFrame,
    *,
    settings: Settings,
) -> ForceLookup:
    """Return what the pages look up about each force: names, slugs, colours, neighbours."""
    codes = coverage_codes(coverage)
    return ForceLookup(
        codes=codes,
        names=dict(zip(codes, _names(coverage), strict=True)),
        slugs=_slug_map(load_forces()),
        colours=dict(zip(frame["force_code"], frame["colour"], strict=True)),
        by_code=coverage.assign(_code=codes.to_numpy()).set_index("_code"),
        neighbours=force_neighbours(force_areas, settings=settings),
        ranks=[int(r) for r in coverage["gap_rank"]] if "gap_rank" in coverage.columns else [],
    )


def _index_rows(
    ordered: pd.DataFrame, columns: Sequence[Mapping[str, Any]], lookup: ForceLookup, metric: str
) -> list[dict[str, Any]]:
    rows = []
    for record in ordered.to_dict(orient="records"):
        code = str(record["force_code"])
        rows.append(
            {
                "name": lookup.names[code],
                "slug": lookup.slugs.get(code, code),
                "cells": _cells(record, columns, lookup.colours.get(code), metric, lookup.ranks),
            }
        )
    return rows


def _largest_gaps(
    ordered: pd.DataFrame, profiles: Mapping[str, ProfileLike], lookup: ForceLookup
) -> list[dict[str, str]]:
    largest = []
    for record in ordered.head(5).to_dict(orient="records"):
        code = str(record["force_code"])
        gaps = profiles[code].gaps if code in profiles else []
        largest.append(
            {
                "name": lookup.names[code],
                "slug": lookup.slugs.get(code, code),
                "rank": rank_text(record.get("gap_rank"), lookup.ranks),
                "score": format_measure("gap_score", record.get("gap_score")),
                "gap_class": cell_text(record.get("gap_class")),
                "first_gap": gaps[0] if gaps else "",
            }
        )
    return largest


def index_page(
    env: Any,
    common: Mapping[str, Any],
    coverage: pd.DataFrame,
    public: pd.DataFrame,
    profiles: Mapping[str, ProfileLike],
    lookup: ForceLookup,
    *,
    metric: str,
    boundary_source: str,
    services_source: str,
    counted: Sequence[str] = (),
) -> str:
    """Return the index page: headline figures, largest gaps, the table of every force.

    ``counted`` are the sentences saying which services the figures rest on.
    """
    index_columns = _table_columns(coverage, INDEX_COLUMNS)
    ordered = order_by_gap(coverage)
    return str(
        env.get_template("index.html").render(
            **common,
            headline=_headline(coverage, public),
            access_basis=_access_basis(profiles),
            largest=_largest_gaps(ordered, profiles, lookup),
            rows=_index_rows(ordered, index_columns, lookup, metric),
            table_columns=index_columns,
            sorted_by="gap_rank" if "gap_rank" in coverage.columns else "",
            national=[service_listing(row) for row in _nationals(public)],
            components=_components(),
            gap_classes=GAP_CLASSES,
            covered_share=f"{COVERED_SHARE:.0%}",
            boundary_source=boundary_source,
            services_source=services_source,
            services_total=f"{len(public):,}",
            counted=list(counted),
        )
    )


def _nationals(public: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the national services of a public frame as rows, by name."""
    if public.empty or "scope" not in public.columns:
        return []
    national = public.loc[public["scope"].map(cell_text) == "national"]
    rows: list[dict[str, Any]] = national.sort_values("name", kind="stable").to_dict("records")
    return rows


def _compare_rows(
    code: str,
    coverage: pd.DataFrame,
    columns: Sequence[Mapping[str, Any]],
    lookup: ForceLookup,
    metric: str,
) -> list[dict[str, Any]]:
    """Return the rows comparing a force with its neighbours and England and Wales."""
    compare = []
    for other in [code, *lookup.neighbours.get(code, [])]:
        if other not in lookup.by_code.index:
            continue
        compare.append(
            {
                "name": lookup.names.get(other, other),
                "slug": lookup.slugs.get(other, other),
                "is_self": other == code,
                "cells": _cells(
                    lookup.by_code.loc[other].to_dict(),
                    columns,
                    lookup.colours.get(other),
                    metric,
                    lookup.ranks,
                ),
            }
        )
    compare.append(_national_average(coverage, columns))
    return compare


def _force_headline(summary_row: Mapping[str, Any], ranks: Sequence[int]) -> list[dict[str, str]]:
    headline = [
        {"value": format_measure(c, summary_row.get(c)), "label": metric_label(c)}
        for c in ("gap_score", "gap_class", "local_services")
        if c in summary_row
    ]
    if "gap_rank" in summary_row and ranks:
        value, direction = rank_parts(int(summary_row["gap_rank"]), ranks)
        headline.insert(1, {"value": value, "label": f"gap rank: {direction}"})
    return headline


def _names_by_level(services: list[dict[str, str]]) -> dict[str, list[str]]:
    """Return the names of a page's services, by level (national, regional, local)."""
    names: dict[str, list[str]] = {"national": [], "regional": [], "local": []}
    for service in services:
        names.setdefault(service["level"], []).append(service["name"])
    return names


def profile_pages(
    env: Any,
    common: Mapping[str, Any],
    coverage: pd.DataFrame,
    profiles: Mapping[str, ProfileLike],
    lookup: ForceLookup,
    simplified: gpd.GeoDataFrame,
    *,
    metric: str,
    settings: Settings,
) -> dict[str, str]:
    """Return each force's profile page, by slug."""
    compare_columns = _table_columns(coverage, COMPARE_COLUMNS)
    by_code = lookup.by_code
    labels = {
        code: f"{lookup.names.get(code, code)}: {format_measure(metric, by_code.loc[code, metric])}"
        if code in by_code.index
        else code
        for code in simplified["force_code"]
    }
    projected = simplified.to_crs(settings.crs)  # once, not once per minimap
    pages: dict[str, str] = {}
    listings: dict[tuple[Any, ...], dict[str, str]] = {}  # one listing per service, not per page
    row_template = env.get_template("_service_row.html")
    rows: dict[int, tuple[dict[str, str], Any]] = {}  # and its table row made once
    for code in lookup.codes:
        summary_row = by_code.loc[code].to_dict()
        page_profile = profiles.get(code)
        neighbours = lookup.neighbours.get(code, [])
        services = profile_services(page_profile.services, listings) if page_profile else []
        force = {
            "name": lookup.names.get(code, code),
            "slug": lookup.slugs.get(code, code),  # its locator map: locators/<slug>.svg
            "headline": _force_headline(summary_row, lookup.ranks),
            "gaps": list(page_profile.gaps) if page_profile else [],
            "compare": _compare_rows(code, coverage, compare_columns, lookup, metric),
            "svg": _svg_minimap(
                projected, code, neighbours, lookup.colours, labels, settings=settings
            ),
            "services": services,
            # the table's rows and each level's names, made here: a page may list thousands
            "rows": Markup("\n").join(service_row(row_template, s, rows) for s in services),
            "names": _names_by_level(services),
            "nearest": _profile_nearest(page_profile) if page_profile else [],
            "measures": _measures(summary_row),
            "districts": _profile_districts(page_profile),
            "access_basis": _access_basis({code: page_profile} if page_profile else {}),
            "download": force_download_name(lookup.slugs.get(code, code)),
        }
        pages[lookup.slugs.get(code, code)] = env.get_template("force.html").render(
            **common, force=force, compare_columns=compare_columns
        )
    return pages
