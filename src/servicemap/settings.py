"""Settings: every tunable of servicemap in one frozen dataclass, passed explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

import servicemap


def default_cache_dir() -> Path:
    """Return ``$SERVICEMAP_CACHE_DIR`` when set, else the user cache folder (platformdirs)."""
    env = os.environ.get("SERVICEMAP_CACHE_DIR", "").strip()
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("servicemap"))


@dataclass(frozen=True)
class Settings:
    """Options shared by the library and the CLI.

    Attributes
    ----------
    crs
        Projected CRS used for all distance and area work. Default ``EPSG:27700`` (British
        National Grid, metres). Outputs for the web (GeoJSON, maps) are always EPSG:4326.
    cache_dir
        Where built boundaries, the compact postcode table, downloads and results kept between
        runs (:mod:`servicemap.analysis.kept`: never a confidential place) are kept. Default:
        the user cache directory from platformdirs (``~/.cache/servicemap`` on Linux), or
        ``$SERVICEMAP_CACHE_DIR`` when set.
    boundaries_url
        ArcGIS REST FeatureServer layer URL for the official police force area boundaries
        (ONS Open Geography Portal). Default: Police Force Areas (December 2023) EW BUC.
    postcodes_api_url
        Base URL of the postcodes.io API used by ``--online`` geocoding.
    nomis_url
        Base URL of the Nomis API used by ``servicemap need download``.
    timeout
        Seconds to wait for a network answer before retrying. Default 30.
    retries
        How many times a failed request is retried, with exponential backoff. Default 3.
    backoff
        Seconds before the first retry; doubled for each later one. Default 1.0.
    user_agent
        The User-Agent sent with every request. Default ``""``, which means
        ``servicemap/<version> (+https://github.com/servicemap)`` (see :meth:`request_user_agent`;
        the version is looked up only when a request is made, to keep start-up fast).
    """

    crs: str = "EPSG:27700"
    cache_dir: Path = field(default_factory=default_cache_dir)
    boundaries_url: str = (
        "https://services1.arcgis.com/ESMARspQHYMw9BZ9/arcgis/rest/services/"
        "PFA_DEC_2023_EW_BUC/FeatureServer/0"
    )
    postcodes_api_url: str = "https://api.postcodes.io"
    nomis_url: str = "https://www.nomisweb.co.uk/api/v01"
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0
    user_agent: str = ""

    def request_user_agent(self) -> str:
        """Return the User-Agent to send: ``user_agent``, or servicemap's own when it is empty."""
        return (
            self.user_agent
            or f"servicemap/{servicemap.__version__} (+https://github.com/servicemap)"
        )

    def with_changes(self, **changes: object) -> Settings:
        """Return a copy with some fields replaced (the original is frozen)."""
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_SETTINGS = Settings()
