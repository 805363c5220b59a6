"""The 43 police force areas of England and Wales and the local authority districts in each."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from servicemap._data import data_path
from servicemap.errors import UnknownForceError

FORCE_COUNT = 43


@lru_cache(maxsize=1)
def _read_forces() -> pd.DataFrame:
    return pd.read_csv(data_path("boundaries", "forces.csv"), dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def _read_districts() -> pd.DataFrame:
    return pd.read_csv(data_path("boundaries", "districts.csv"), dtype=str, keep_default_na=False)


def load_forces() -> pd.DataFrame:
    """Return the force register: one row per police force area.

    Returns
    -------
    pandas.DataFrame
        Columns ``code`` (ONS, E23…/W15…), ``name`` (ONS spelling), ``common_name`` (the force's
        own name), ``slug`` (data.police.uk) and ``country``; sorted by code. A fresh copy.
    """
    return _read_forces().copy()


def load_districts() -> pd.DataFrame:
    """Return the local authority district → police force table (2025 district codes).

    Returns
    -------
    pandas.DataFrame
        Columns ``code``, ``name``, ``force_code`` and ``region`` (ONS region, or Wales). Written
        from public record (Police Act 1996 Sch. 1 as amended); one row per district.
    """
    return _read_districts().copy()


def force_names() -> dict[str, str]:
    """Return the ONS name of each force, by code.

    Returns
    -------
    dict
        ``{code: name}`` for the 43 police force areas.
    """
    forces = _read_forces()
    return dict(zip(forces["code"], forces["name"], strict=True))


def district_names() -> dict[str, str]:
    """Return the name of each local authority district, by 2025 code.

    Returns
    -------
    dict
        ``{code: name}`` for every district in the register.
    """
    districts = _read_districts()
    return dict(zip(districts["code"], districts["name"], strict=True))


def find_force(name_or_code: str) -> str:
    """Return the ONS code of the force a user named.

    Parameters
    ----------
    name_or_code
        An ONS code, the ONS name, the force's own name or its police.uk slug; case, punctuation
        and "&"/"and" do not matter.

    Returns
    -------
    str
        The force's ONS code.

    Raises
    ------
    UnknownForceError
        If nothing matches; the message suggests the closest names.
    """
    # Imported here: the gazetteer itself reads the force register from this module.
    from servicemap.errors import UnknownAreaError
    from servicemap.geography.areas import area_key, resolve_area

    forces = _read_forces()
    wanted = area_key(name_or_code)
    for row in forces.itertuples(index=False):
        keys = {area_key(v) for v in (row.code, row.name, row.common_name, row.slug)}
        keys |= {k.removesuffix(" police").removesuffix(" constabulary") for k in list(keys)}
        if wanted in keys:
            return str(row.code)
    # The gazetteer knows more short forms ("Met", "TVP", "Avon & Somerset", Welsh names).

    try:
        area = resolve_area(f"{name_or_code} police")
    except UnknownAreaError:
        area = None
    if area is not None and area.kind == "force" and len(area.force_codes) == 1:
        return area.force_codes[0]
    import difflib

    names = list(forces["name"])
    close = difflib.get_close_matches(name_or_code, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownForceError(
        f"No police force area called {name_or_code!r}.{hint} "
        "Run 'servicemap forces' to list the 43 names and codes."
    )
