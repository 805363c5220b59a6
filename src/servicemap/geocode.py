"""Postcodes to places: grid reference, latitude/longitude, district and police force."""

from __future__ import annotations

import numpy as np
import pandas as pd

from servicemap._onspd import load_postcode_table
from servicemap.forces import load_forces
from servicemap.settings import DEFAULT_SETTINGS, Settings


def forces_with_postcode_counts(*, settings: Settings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """Return the force register with the number of postcodes in each force.

    Parameters
    ----------
    settings
        Where the postcode table is cached.

    Returns
    -------
    pandas.DataFrame
        Columns ``code``, ``name``, ``common_name``, ``country`` and ``postcodes``.
    """
    table = load_postcode_table(settings=settings)
    force = table.force
    counts = np.bincount(force[force >= 0], minlength=len(table.force_codes))
    forces = load_forces()[["code", "name", "common_name", "country"]]
    by_code = dict(zip(table.force_codes, counts, strict=True))
    return forces.assign(postcodes=[int(by_code[c]) for c in forces["code"]])
