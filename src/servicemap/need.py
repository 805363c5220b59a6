"""Need per police force area: residents, residents born outside the UK, women aged 16+."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from servicemap._data import data_path

NEED_COLUMNS = [
    "usual_residents_2021",
    "born_outside_uk_2021",
    "population_mid2023",
    "females_16plus_mid2023",
]


def load_need(path: Path | None = None) -> pd.DataFrame:
    """Return the need table, one row per force.

    Parameters
    ----------
    path
        A user's own table keyed by force or district code; ``None`` for the bundled ONS figures
        (``data/need/force_need.csv``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``force_code``; columns ``force_name`` and the integer ``NEED_COLUMNS``.
    """
    source = path or data_path("need", "force_need.csv")
    need = pd.read_csv(source, dtype={"force_code": str, "force_name": str})
    return need.set_index("force_code")
