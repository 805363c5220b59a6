"""The planning command: what funding services would change, or where new ones reach most."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from servicemap.cli.options import (
    build_settings,
    cache_dir_option,
    check_output_files,
    data_inputs,
    format_option,
    need_option,
    output_format,
    output_option,
    radius_km_type,
    reports_errors,
    select_current,
    selection_options,
    services_option,
)
from servicemap.errors import PlanError
from servicemap.settings import Settings

if TYPE_CHECKING:  # imported by the commands when they run, so that -h stays fast
    import pandas as pd

    from servicemap.analysis.plan import Proposal


# File kinds (FILE_KINDS) plan writes with -o, and the format each holds.
PLAN_FILES: dict[str, tuple[str, ...]] = {"text": ("table",), "csv": ("csv",), "json": ("json",)}


@click.command(name="plan")
@click.option("--force", "force", default=None, metavar="NAME", help="Police force area.")
@click.option(
    "--with",
    "with_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Proposed services, in the directory's format: what would funding them change?",
)
@click.option("--add", type=int, default=None, metavar="N", help="Propose N new sites.")
@click.option(
    "--kind",
    default=None,
    help="With --add: advocacy, nrpf_accommodation, legal_immigration, counselling or helpline.",
)
@click.option(
    "--radius-km",
    type=radius_km_type("10"),
    metavar="KM",
    default=None,
    help="With --add: catchment [10].",
)
@click.option(
    "--weight",
    default=None,
    help="With --add: born_outside_uk, women_16plus, residents, or a census proxy:"
    " non_uk_passport, arrived_last_5y, limited_english (each weighted by district).",
)
@click.option(
    "--candidates",
    "candidates_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --add: CSV of extra candidate sites (postcode or latitude/longitude, name).",
)
@click.option("--exact", is_flag=True, help="With --add: solve exactly, not greedily.")
@format_option(
    "table",
    "csv",
    "json",
    default="table",
    help="Output format; csv is spreadsheet-safe.",
    from_output=True,
)
@output_option(
    help="File to write (replaced atomically); default: standard output. Its name gives the "
    "format: .txt, .csv or .json."
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    default=None,
    help="With --add: also draw the sites on an offline HTML map.",
)
@services_option
@selection_options
@need_option
@cache_dir_option
@reports_errors
def plan_command(
    force: str | None,
    with_path: Path | None,
    add: int | None,
    kind: str | None,
    radius_km: float | None,
    weight: str | None,
    candidates_path: Path | None,
    exact: bool,
    fmt: str | None,
    output: Path | None,
    map_path: Path | None,
    services_path: Path | None,
    need_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Plan a funding round: what funding services would change, or where N new ones reach most.

    --with FILE adds proposed services (same format as the directory) and shows every coverage
    measure before and after. --add N proposes N sites for new in-person services that bring
    the most residents (--weight) not yet within --radius-km of one within reach.

    \b
    Example:
        servicemap plan --force Kent --add 2 --kind advocacy --map plan.html
        servicemap plan --force Kent --with proposed.csv --format csv -o what-if.csv
    """
    from servicemap.analysis import plan
    from servicemap.analysis.sites import read_candidate_sites
    from servicemap.directory.load import load_services
    from servicemap.geography.areas import find_force
    from servicemap.geography.need import load_need
    from servicemap.render.text import format_proposal, format_what_if

    check_plan_request(
        with_path=with_path, add=add, kind=kind, radius_km=radius_km, weight=weight,
        exact=exact, candidates_path=candidates_path, map_path=map_path,
    )  # fmt: skip
    inputs = data_inputs(services_path, need_path=need_path, uses_need=True)
    inputs |= {"--with": with_path, "--candidates": candidates_path}
    check_output_files({"-o": output, "--map": map_path}, inputs=inputs)
    fmt = output_format(fmt, output, PLAN_FILES, default="table")
    if map_path is not None:
        output_format(None, map_path, {"html": ("html",)}, default="html", option="--map")
    code = find_force(force) if force else None
    settings = build_settings(cache_dir)
    proposed = plan.load_candidate_services(with_path, settings=settings) if with_path else None
    services = select_current(load_services(services_path, settings=settings))[0]
    need = load_need(need_path, level="district")
    if proposed is not None:
        table = plan.what_if(
            services, proposed, force_codes=[code] if code else None, need=need, settings=settings
        )
        text = format_what_if(table, fmt)
    else:
        sites = read_candidate_sites(candidates_path) if candidates_path else None
        proposal = plan.propose_sites(
            services, n=add or 0, force_code=code, kind=kind, radius_km=radius_km or 10,
            weight=weight or "born_outside_uk", candidates=sites, need=need,
            method="exact" if exact else "greedy", settings=settings,
        )  # fmt: skip
        text = format_proposal(proposal, fmt)
        if map_path is not None:
            _save_proposal_map(proposal, services, map_path, settings)
    if output is None:
        click.echo(text, nl=False)
    else:
        from servicemap._atomic import atomic_write_text

        atomic_write_text(output, text)
        click.echo(f"Wrote the plan to {output}", err=True)


def check_plan_request(
    *,
    with_path: object,
    add: object,
    kind: str | None = None,
    radius_km: object = None,
    weight: str | None = None,
    exact: bool = False,
    candidates_path: object = None,
    map_path: object = None,
) -> None:
    """Check a ``servicemap plan`` request before any data is loaded.

    Parameters
    ----------
    with_path
        The ``--with`` file, or None.
    add
        The ``--add`` count, or None.
    kind, radius_km, weight, exact, candidates_path, map_path
        The options that only make sense with ``--add`` (``--kind``, ``--radius-km``,
        ``--weight``, ``--exact``, ``--candidates``, ``--map``) as given: None (False for
        ``exact``) when not given.

    Raises
    ------
    PlanError
        If both or neither of ``--with`` and ``--add`` are given, an ``--add`` option is given
        with ``--with``, or an ``--add`` option is out of range.
    """
    if with_path is not None and add is not None:
        raise PlanError(
            "Give either --with FILE (what would funding these services change?) or --add N "
            "(where would N new services reach most?), not both."
        )
    if with_path is None and add is None:
        raise PlanError(
            "Give --with FILE (what would funding these services change?) or --add N "
            "(where would N new services reach most?)."
        )
    if with_path is not None:
        add_only: dict[str, object] = {"--kind": kind, "--radius-km": radius_km}
        add_only |= {"--weight": weight, "--exact": exact}
        add_only |= {"--candidates": candidates_path, "--map": map_path}
        given = [flag for flag, value in add_only.items() if value not in (None, False)]
        if given:
            listed = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
            verb = "works" if len(given) == 1 else "work"
            raise PlanError(f"{listed} only {verb} with --add N, not with --with FILE.")
        return
    from servicemap.analysis.cover import _check_count
    from servicemap.analysis.sites import _check_kind, _check_radius, _check_weight

    _check_count(add, name="--add")
    _check_kind(kind)
    if radius_km is not None:
        _check_radius(radius_km, name="--radius-km")
    if weight is not None:
        _check_weight(weight)


def _save_proposal_map(
    proposal: Proposal, services: pd.DataFrame, map_path: Path, settings: Settings
) -> None:
    """Draw ``servicemap plan --add``'s sites over the derived force outlines and save the map."""
    from servicemap.geography.boundaries import load_force_areas
    from servicemap.render.maps import save_map
    from servicemap.render.plan_map import proposal_map

    areas = load_force_areas("derived", settings=settings)
    save_map(proposal_map(proposal, services, force_areas=areas), map_path)
    click.echo(f"Wrote the map to {map_path}", err=True)
