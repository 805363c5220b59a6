"""The force register: the 43 police force areas of England and Wales and the districts in each."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from servicemap._data import data_path

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


@lru_cache(maxsize=1)
def _read_authorities() -> pd.DataFrame:
    return pd.read_csv(data_path("boundaries", "authorities.csv"), dtype=str, keep_default_na=False)


def load_authorities() -> pd.DataFrame:
    """Return each district's tier-one local authority (Domestic Abuse Act 2021, Part 4).

    Tier-one authorities are county councils in two-tier areas (E10 codes), unitary
    authorities, metropolitan districts, London boroughs and the City of London, and Welsh
    principal areas; written from public record (``data/boundaries/README.md``).

    Returns
    -------
    pandas.DataFrame
        One row per district (2025 codes): ``district_code``, ``district_name``,
        ``authority_code``, ``authority_name`` and ``authority_type``. A fresh copy.
    """
    return _read_authorities().copy()
