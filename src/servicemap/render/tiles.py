"""Online base maps: a ``--tiles`` name checked against xyzservices before any work is done."""

from __future__ import annotations

from typing import Any

from servicemap.errors import MapError

__all__ = ["SUGGESTED_TILES", "tile_provider"]


SUGGESTED_TILES: tuple[str, ...] = (
    "OpenStreetMap",
    "OpenTopoMap",
    "Esri.WorldGrayCanvas",
    "Esri.WorldStreetMap",
    "Esri.WorldImagery",
)
"""Base maps that need no API key, offered when a ``--tiles`` name is not usable."""


def _providers() -> Any:
    import xyzservices.providers  # type: ignore[import-untyped]

    return xyzservices.providers


def _needs_key(provider: Any) -> bool:
    if provider.requires_token():
        return True
    import warnings

    # xyzservices warns (rather than fails) for providers that began to need a key lately,
    # e.g. "CartoDB tiles now require an API key".
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider.build_url(fill_subdomain=False, scale_factor="{r}")
    return any("api key" in str(w.message).lower() for w in caught)


def tile_provider(name: str) -> Any:
    """Return the xyzservices tile provider for a ``--tiles`` name.

    Names match ignoring case, spaces, dots and underscores (``"CartoDB positron"`` is
    ``CartoDB.Positron``); ``"OpenStreetMap"`` is ``OpenStreetMap.Mapnik``.

    Parameters
    ----------
    name
        The provider's name, as listed by ``xyzservices.providers.flatten()``.

    Returns
    -------
    xyzservices.TileProvider
        The provider, ready for ``folium.TileLayer``.

    Raises
    ------
    MapError
        If no provider has that name or the provider needs an API key; the message suggests
        usable names.
    """
    import difflib

    providers = _providers()
    text = str(name).strip()
    if text.replace(" ", "").lower() == "openstreetmap":
        text = "OpenStreetMap.Mapnik"  # as folium does
    suggested = f"{', '.join(SUGGESTED_TILES[:-1])} or {SUGGESTED_TILES[-1]}"
    usable = (
        f"use an xyzservices tile provider that needs no API key, such as {suggested}; or "
        "leave out --tiles for a map that works offline"
    )
    try:
        provider = providers.query_name(text) if text else None
    except ValueError:
        provider = None
    if provider is None:
        names = [key for key, p in providers.flatten().items() if not p.requires_token()]
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
        advice = (
            f"Did you mean {' or '.join(map(repr, close))}? Otherwise {usable}"
            if close
            else "U" + usable[1:]
        )
        raise MapError(f"Unknown base map {name!r}. {advice}.")
    if _needs_key(provider):
        raise MapError(
            f"Base map {name!r} needs an API key, which servicemap cannot pass; {usable}."
        )
    return provider
