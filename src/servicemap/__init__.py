"""servicemap: specialist help for migrant victims of domestic abuse, by police force area.

``import servicemap as sm`` gives the library's main functions (see ``docs/python-api.md``). They
are loaded when first used (PEP 562), so importing the package, and ``servicemap -h``, stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives: name -> module.
_PUBLIC: dict[str, str] = {
    "Settings": "servicemap.settings",
    "DEFAULT_SETTINGS": "servicemap.settings",
    "ServicemapError": "servicemap.errors",
    "load_force_areas": "servicemap.geography.boundaries",
    "geocode_postcodes": "servicemap.geography.geocode",
    "load_need": "servicemap.geography.need",
    "load_authorities": "servicemap.geography.forces",
    "resident_weights": "servicemap.geography.residents",
    "load_services": "servicemap.directory.load",
    "validate_services": "servicemap.directory.validate",
    "public_services": "servicemap.directory.privacy",
    "write_services": "servicemap.directory.export",
    "coverage_by_force": "servicemap.analysis.coverage",
    "coverage_by_district": "servicemap.analysis.coverage",
    "coverage_by_authority": "servicemap.analysis.coverage",
    "force_profile": "servicemap.analysis.profile",
    "services_near": "servicemap.analysis.near",
    "what_if": "servicemap.analysis.plan",
    "propose_sites": "servicemap.analysis.plan",
    "coverage_map": "servicemap.render.maps",
    "save_map": "servicemap.render.maps",
    "proposal_map": "servicemap.render.plan_map",
    "build_report": "servicemap.render.report",
}

__all__ = ["__version__", *_PUBLIC]


def _version() -> str:
    # importlib.metadata costs about 60 ms, so it is asked only when the version is wanted.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("servicemap")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def __getattr__(name: str) -> Any:
    """Import a public name's module (or read the version) the first time the name is used."""
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'servicemap' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
