"""Where people live: each district's need spread over its located postcodes.

Every measure that counts people (coverage shares, access within a distance, force profiles,
planning demand) weights a located postcode by ``its district's figure / located postcodes in
its district``. Sums over a district's postcodes are then exactly the district's figure, and
sums over a force's postcodes exactly the force's. How people are spread within a district is
not known, so within a district every located postcode counts the same. A need table per force
(a user's own) is spread evenly over the force's postcodes instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap.errors import NeedFileError
from servicemap.geography.need import NEED_COLUMNS, PROXY_COLUMNS
from servicemap.geography.postcodes import Geography

RESIDENTS_COLUMN = "population_mid2023"
"""The need column whose shares the coverage measures report (residents, mid-2023)."""


def ew_districts(geography: Geography) -> npt.NDArray[np.intp]:
    """Return the indices of the postcode table's England and Wales districts, in table order.

    Parameters
    ----------
    geography
        From :func:`servicemap.geography.postcodes.geography_from_postcodes`.

    Returns
    -------
    numpy.ndarray
        Indices into ``geography.table.district_codes`` of districts in a force.
    """
    return np.flatnonzero(geography.table.district_force >= 0).astype(np.intp)


def district_need_for(geography: Geography, need: pd.DataFrame) -> pd.DataFrame:
    """Return the need of every England and Wales district of a postcode table.

    Parameters
    ----------
    geography
        The postcode table's districts and forces.
    need
        A need table per district (indexed by ``district_code``) or per force (indexed by
        ``force_code``), as :func:`servicemap.geography.need.load_need` returns. A force's
        figures are shared among its districts by their located postcodes.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``district_code`` (the table's England and Wales districts, in table order),
        with ``force_code`` and every need column of ``need`` (int64 from a district table,
        float64 when spread from forces).

    Raises
    ------
    NeedFileError
        If the table lacks a district or force of the postcode table, or gives people to a
        district with no located postcode (they could not be placed).
    """
    table = geography.table
    rows = ew_districts(geography)
    codes = [str(c) for c in table.district_codes[rows]]
    force_codes = [str(table.force_codes[table.district_force[i]]) for i in rows]
    columns = [c for c in (*NEED_COLUMNS, *PROXY_COLUMNS) if c in need.columns]
    out = pd.DataFrame({"force_code": force_codes}, index=pd.Index(codes, name="district_code"))
    if need.index.name == "district_code":
        absent = [c for c in codes if c not in need.index]
        if absent:
            raise NeedFileError(
                f"The need table has no row for {len(absent)} district(s) of the postcode "
                f"table (e.g. {absent[0]!r}); give one row per district code."
            )
        people = need.loc[codes, columns].apply(pd.to_numeric, errors="coerce")
        empty = [
            code
            for code, i in zip(codes, rows, strict=True)
            if geography.district_count[i] == 0 and bool((people.loc[code].fillna(0) > 0).any())
        ]
        if empty:
            raise NeedFileError(
                f"District {empty[0]!r} has people in the need table but no located postcode "
                f"in the postcode table ({len(empty)} such district(s)); its people cannot be "
                "placed. Use the postcode table the need table was made for."
            )
        for column in columns:
            values = people[column]
            out[column] = values.astype("int64") if values.notna().all() else values
        return out
    absent = sorted({c for c in force_codes if c not in need.index})
    if absent:
        raise NeedFileError(
            f"The need table has no row for {len(absent)} force(s) (e.g. {absent[0]!r}); "
            "give one row per force code, as in the bundled data/need/force_need.csv."
        )
    share = geography.district_count[rows] / geography.force_count[table.district_force[rows]]
    for column in columns:
        per_force = pd.to_numeric(need.loc[force_codes, column], errors="coerce")
        out[column] = per_force.to_numpy(dtype=np.float64) * np.nan_to_num(share)
    return out


def district_weights(
    geography: Geography, need: pd.DataFrame, column: str = RESIDENTS_COLUMN
) -> npt.NDArray[np.float64]:
    """Return the people each located postcode of each district carries.

    Parameters
    ----------
    geography
        The postcode table's districts and forces.
    need
        A need table per district or per force (see :func:`district_need_for`).
    column
        The need column to spread, e.g. ``population_mid2023`` or ``born_outside_uk_2021``.

    Returns
    -------
    numpy.ndarray
        One figure per entry of ``geography.table.district_codes``: the district's figure
        divided by its located postcodes; 0 outside England and Wales, for districts with no
        located postcode, and NaN where the need table lacks the figure.
    """
    weights = np.zeros(geography.n_districts, dtype=np.float64)
    if column not in need.columns:
        weights[:] = np.nan
        return weights
    rows = ew_districts(geography)
    people = district_need_for(geography, need)[column].to_numpy(dtype=np.float64)
    count = geography.district_count[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        weights[rows] = np.where(count > 0, people / count, np.where(np.isnan(people), np.nan, 0))
    return weights


def resident_weights(
    geography: Geography, need: pd.DataFrame, column: str = RESIDENTS_COLUMN
) -> npt.NDArray[np.float64]:
    """Return the people each located England and Wales postcode carries (planning demand).

    Parameters
    ----------
    geography
        The postcode table's districts and forces.
    need
        A need table per district or per force (see :func:`district_need_for`).
    column
        The need column to spread.

    Returns
    -------
    numpy.ndarray
        Aligned with ``geography.resident_xy``; sums over a force's slice are the force's
        figure (NaN where the need table lacks it).
    """
    weights: npt.NDArray[np.float64] = district_weights(geography, need, column)[
        geography.resident_district
    ]
    return weights


DEMAND_WEIGHTS: dict[str, str] = {
    "born_outside_uk": "born_outside_uk_2021",
    "women_16plus": "females_16plus_mid2023",
    "residents": "population_mid2023",
    "non_uk_passport": "non_uk_passport_2021_approx",
    "arrived_last_5y": "arrived_last_5y_2021_approx",
    "limited_english": "limited_english_2021_approx",
}
"""Planning's demand weights (``--weight``) and the need column each spreads over postcodes.

The last three are approximate census proxies, given per district only (see
``data/need/SOURCES.md``); a need table per force lacks them."""
