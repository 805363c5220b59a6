"""Text for questions about one place: a force's profile and a "near" search.

Kept apart from :mod:`servicemap.render.text` (which re-exports both formatters) so that the
``force`` and ``near`` commands do not load the map and boundary libraries that the coverage
writers need.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from servicemap._tables import format_table
from servicemap.analysis.near import describe_near_place
from servicemap.analysis.profile import ForceProfile
from servicemap.render.labels import access_basis
from servicemap.render.selection import phone_text, seen_text


def _clip(text: object, width: int = 60) -> str:
    """Shorten long text for a terminal table (CSV and JSON keep it whole)."""
    value = str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


def format_force_profile(profile: ForceProfile) -> str:
    """Render a force profile as plain text for a terminal or an email.

    Parameters
    ----------
    profile
        From :func:`servicemap.analysis.profile.force_profile`.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    s = profile.summary
    lines = [
        f"{profile.name} ({profile.code})",
        f"Gap score {s['gap_score']:.1f}/100 ({s['gap_class']}), rank {s['gap_rank']} of "
        f"{profile.forces} (1 = largest gap).",
        f"Residents born outside the UK: {s['born_outside_uk_2021']:,} "
        f"({s['share_born_outside_uk']:.0%}); women aged 16+: {s['females_16plus_mid2023']:,}.",
        f"Services serving the force: {s['services_serving']} "
        f"({s['local_services']} local, {s['regional_services']} regional, "
        f"{s['national_services']} national); based in it: {s['services_based']}.",
        *([access_basis(profile.places, profile.active)] if profile.active else []),
        "",
        "Gaps:",
        *([f"  - {g}" for g in profile.gaps] or ["  (none found)"]),
        "",
        "Services serving the force:",
    ]
    shown = ["level", "name", "serves", "service_types", "phone"]
    if profile.services.empty:
        lines.append("  (none)")
    else:
        services = profile.services
        table = services[shown].copy()
        table["name"] = table["name"].map(_clip)
        table["serves"] = table["serves"].map(_clip)
        table["phone"] = _phones(services)
        table["last_seen"] = _seen(services)
        lines.append(table.to_string(index=False))
    if not profile.districts.empty:
        lines += ["", "Districts (residents weighted by district):", _district_lines(profile)]
    lines += ["", "Nearest in-person services outside the force:"]
    if profile.nearest_outside.empty:
        lines.append("  (none)")
    else:
        nearest = profile.nearest_outside.copy()
        nearest["name"] = nearest["name"].map(_clip)
        lines.append(nearest.to_string(index=False))
    return "\n".join(lines) + "\n"


def _district_lines(profile: ForceProfile) -> str:
    """Return the profile's district table as aligned text, shares as whole percentages."""
    table = profile.districts.copy()
    shares = [c for c in table.columns if c == "local_coverage_share" or "_within_" in c]
    for column in shares:
        table[column] = table[column].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    for column in ("population_mid2023", "born_outside_uk_2021"):
        table[column] = table[column].map(lambda v: f"{int(v):,}")
    table["district_name"] = table["district_name"].map(lambda v: _clip(v, 28))
    table["local_services_serving"] = table["local_services_serving"].map(_clip)
    renamed = table.drop(columns="district_code").rename(
        columns={
            "district_name": "district",
            "population_mid2023": "residents",
            "born_outside_uk_2021": "born abroad",
            "local_services": "local",
            "local_coverage_share": "reached",
            "local_services_serving": "local services serving it",
            **{c: c.replace("in_person_within_", "in person ≤") for c in shares if "_within_" in c},
        }
    )
    return str(renamed.to_string(index=False))


NEAR_COLUMNS: tuple[str, ...] = (
    "relation",
    "name",
    "scope",
    "distance_km",
    "phone",
    "website",
    "last_seen",
)
"""Columns shown by the ``table`` format of :func:`format_near`."""


def _seen(services: pd.DataFrame) -> list[str]:
    """When each service was last seen, flagged "may have ended" when old (``seen_text``)."""
    if "last_seen" not in services.columns:
        return ["not known"] * len(services)
    return [seen_text(value) for value in services["last_seen"]]


def _phones(services: pd.DataFrame) -> list[str]:
    """Each phone number with the date its service was last seen (``phone_text``)."""
    seen = services["last_seen"] if "last_seen" in services.columns else [""] * len(services)
    return [phone_text(p, s) for p, s in zip(services["phone"], seen, strict=True)]


def format_near(near: pd.DataFrame, fmt: str) -> str:
    """Render a ``near`` search as ``table`` (with a heading), ``csv`` or ``json`` text.

    Parameters
    ----------
    near
        From :func:`servicemap.analysis.near.services_near`.
    fmt
        One of ``table``, ``csv``, ``json``.

    Returns
    -------
    str
        The rendered text, ending with a newline.
    """
    if fmt != "table":
        return format_table(near, fmt)
    attrs = near.attrs
    several = len(attrs.get("districts", [])) > 1 or len(attrs.get("forces", [])) > 1
    between = "; " if several else ", "  # the names are lists: keep them apart
    heading = (
        f"{attrs.get('place', '')} ({attrs.get('district', '')}{between}{attrs.get('force', '')}): "
        f"services serving this area, and in-person services within "
        f"{attrs.get('radius_km', 0):g} km."
    )
    note = describe_near_place(near)
    heading += f"\n{note}" if note else ""
    if near.empty:
        return heading + "\nNo services found.\n"
    shown = near[list(NEAR_COLUMNS)].copy()
    shown["name"] = shown["name"].map(_clip)
    shown["phone"] = _phones(near)
    shown["last_seen"] = _seen(near)
    shown["distance_km"] = [
        "" if not np.isfinite(v) else f"{v:.1f}" for v in shown["distance_km"].astype(float)
    ]
    return heading + "\n" + str(shown.to_string(index=False)) + "\n"
