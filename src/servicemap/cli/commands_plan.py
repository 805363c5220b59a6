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
    help="Proposed services (name, postcode or latitude/longitude, service_types; the "
    "directory's other fields optional): what would funding them change?",
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
    help="With --add or --budget: CSV of extra candidate sites (postcode or "
    "latitude/longitude; name and cost optional).",
)
@click.option(
    "--budget",
    type=float,
    default=None,
    metavar="AMOUNT",
    help="Instead of --add: choose the sites that reach most for at most this spend.",
)
@click.option(
    "--cost",
    type=float,
    default=None,
    metavar="AMOUNT",
    help="With --budget: the cost of a new service at a postcode district (and at each of "
    "your --candidates without a 'cost').",
)
@click.option("--exact", is_flag=True, help="With --add or --budget: solve exactly, not greedily.")
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
    help="Also draw the sites (or the proposed services), towns, districts and who is newly "
    "within reach on an offline HTML map.",
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
    budget: float | None,
    cost: float | None,
    exact: bool,
    fmt: str | None,
    output: Path | None,
    map_path: Path | None,
    services_path: Path | None,
    need_path: Path | None,
    cache_dir: Path | None,
) -> None:
    """Plan a funding round: what funding services would change, or where N new ones reach most.

    --with FILE adds proposed services (the directory's format; only name, a postcode or
    latitude/longitude, and service_types are needed) and shows what changes. --add N proposes
    N sites for new in-person services that bring the most residents (--weight) not yet within
    --radius-km of one within reach; --budget AMOUNT chooses as many as the budget allows.

    \b
    Example:
        servicemap plan --force Kent --add 2 --kind advocacy --map plan.html
        servicemap plan --force Kent --budget 300000 --cost 120000
        servicemap plan --force Kent --with proposed.csv --map what-if.html
    """
    from servicemap.analysis import plan
    from servicemap.analysis.kept import kept_proposal
    from servicemap.analysis.sites import read_candidate_sites
    from servicemap.geography.areas import find_force
    from servicemap.render.plan_text import format_proposal, format_what_if

    check_plan_request(
        with_path=with_path, add=add, kind=kind, radius_km=radius_km, weight=weight,
        exact=exact, candidates_path=candidates_path, budget=budget, cost=cost,
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
    services, need, before = _kept_inputs(services_path, need_path, settings)
    if proposed is not None:
        table = plan.what_if(
            services, proposed, force_codes=[code] if code else None, need=need,
            settings=settings, before=before,
        )  # fmt: skip
        text = format_what_if(table, fmt)
        if map_path is not None:
            _save_plan_map(table, services, proposed, None, map_path, settings)
    else:
        sites = read_candidate_sites(candidates_path) if candidates_path else None
        proposal = kept_proposal(
            plan.propose_sites, services, n=add, budget=budget, cost=cost, force_code=code,
            kind=kind, radius_km=radius_km or 10, weight=weight or "born_outside_uk",
            candidates=sites, need=need, method="exact" if exact else "greedy",
            settings=settings, before=before,
        )  # fmt: skip
        text = format_proposal(proposal, fmt)
        if map_path is not None:
            _save_plan_map(proposal.coverage_change, services, None, proposal, map_path, settings)
    if output is None:
        click.echo(text, nl=False)
    else:
        from servicemap._atomic import atomic_write_text

        atomic_write_text(output, text)
        click.echo(f"Wrote the plan to {output}", err=True)


def _kept_inputs(
    services_path: Path | None, need_path: Path | None, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return the services (as selected), the need table and their coverage, kept between runs."""
    from servicemap.analysis.kept import kept_coverage, kept_need, load_public_services

    services = select_current(load_public_services(services_path, settings=settings))[0]
    need = kept_need(need_path, settings=settings)
    return services, need, kept_coverage(services, need_path=need_path, settings=settings)


def check_plan_request(
    *,
    with_path: object,
    add: object,
    kind: str | None = None,
    radius_km: object = None,
    weight: str | None = None,
    exact: bool = False,
    candidates_path: object = None,
    budget: object = None,
    cost: object = None,
) -> None:
    """Check a ``servicemap plan`` request before any data is loaded.

    Parameters
    ----------
    with_path
        The ``--with`` file, or None.
    add
        The ``--add`` count, or None.
    kind, radius_km, weight, exact, candidates_path, budget, cost
        The options that only make sense when choosing sites (``--kind``, ``--radius-km``,
        ``--weight``, ``--exact``, ``--candidates``, ``--budget``, ``--cost``) as given: None
        (False for ``exact``) when not given.

    Raises
    ------
    PlanError
        If not exactly one of ``--with``, ``--add`` and ``--budget`` is given, a site option
        is given with ``--with``, ``--cost`` without ``--budget``, or an option is out of range.
    """
    asked = [flag for flag, v in (("--with FILE", with_path), ("--add N", add),
                                  ("--budget AMOUNT", budget)) if v is not None]  # fmt: skip
    if len(asked) > 1:
        raise PlanError(
            f"Give one of --with FILE (what would funding these services change?), --add N or "
            f"--budget AMOUNT (where would new services reach most?), not {' and '.join(asked)}."
        )
    if not asked:
        raise PlanError(
            "Give --with FILE (what would funding these services change?), --add N or "
            "--budget AMOUNT (where would new services reach most?)."
        )
    if with_path is not None:
        add_only: dict[str, object] = {"--kind": kind, "--radius-km": radius_km}
        add_only |= {"--weight": weight, "--exact": exact}
        add_only |= {"--candidates": candidates_path, "--cost": cost}
        given = [flag for flag, value in add_only.items() if value not in (None, False)]
        if given:
            listed = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
            verb = "works" if len(given) == 1 else "work"
            raise PlanError(
                f"{listed} only {verb} with --add N or --budget AMOUNT, not with --with FILE."
            )
        return
    from servicemap.analysis.cover import _check_count
    from servicemap.analysis.plan import check_amount
    from servicemap.analysis.sites import _check_kind, _check_radius, _check_weight

    if add is not None:
        _check_count(add, name="--add")
        if cost is not None:
            raise PlanError("--cost only works with --budget AMOUNT, not with --add N.")
    else:
        check_amount(budget, name="budget (--budget)")
    if cost is not None:
        check_amount(cost, name="cost (--cost)")
    _check_kind(kind)
    if radius_km is not None:
        _check_radius(radius_km, name="--radius-km")
    if weight is not None:
        _check_weight(weight)


def _save_plan_map(
    comparison: pd.DataFrame,
    services: pd.DataFrame,
    proposed: pd.DataFrame | None,
    proposal: Proposal | None,
    map_path: Path,
    settings: Settings,
) -> None:
    """Draw the plan (a what-if's proposed services, or a proposal's sites) and save the map."""
    from servicemap._progress import status
    from servicemap.analysis import places
    from servicemap.directory.load import with_geometry
    from servicemap.geography.boundaries import load_district_areas, load_force_areas
    from servicemap.geography.postcodes import load_postcode_table
    from servicemap.render.maps import save_map
    from servicemap.render.plan_map import proposal_map, what_if_map

    status("Drawing the map: districts, postcode districts and towns…")
    services = with_geometry(services, settings=settings)  # the kept frame has none
    table = load_postcode_table(settings=settings)
    focus = [str(c) for c in comparison.attrs.get("requested", ())]
    if proposal is not None:
        focus += [str(c) for c in proposal.sites["force_code"]]
    elif proposed is not None:
        focus += [str(c) for c in proposed["force_code"] if c]
    around = places.plan_places(
        focus, force_areas=load_force_areas("derived", settings=settings),
        district_areas=load_district_areas(settings=settings), postcodes=table, settings=settings,
    )  # fmt: skip
    if proposal is not None:
        page = proposal_map(proposal, services, places=around, settings=settings)
    else:
        assert proposed is not None  # noqa: S101 -- one of the two is always given
        reached = places.newly_reached_area(
            places.what_if_reach(services, proposed, postcodes=table), settings=settings
        )
        page = what_if_map(
            comparison, services, proposed, reached=reached, places=around, settings=settings
        )
    save_map(page, map_path)
    click.echo(f"Wrote the map to {map_path}", err=True)
