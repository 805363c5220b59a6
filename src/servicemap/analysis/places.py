"""Where a plan's sites are, in words and on a map: districts, postcode districts, towns, reach.

A plan map must let a reader find a site without another map, offline: the local authority
districts with their names, postcode district labels, town names from the offline gazetteer
(:mod:`servicemap.geography.towns`), the force outlines, and who is newly within reach.
:func:`plan_places` gathers the places; :func:`what_if_sites` and :func:`proposal_sites` describe
the sites (postcode, district, nearest town) and :func:`newly_reached_area` shades the people a
plan brings within reach. Confidential services never get a place here: proposed services go
through :func:`servicemap.directory.privacy.public_services` before they are described, and
reach is measured from the places the coverage table uses (a confidential service's district
centre), never from its address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from servicemap.analysis.access import nearest_km
from servicemap.analysis.reach import prepare_services
from servicemap.analysis.sites import district_sites
from servicemap.directory.privacy import public_services
from servicemap.geography.forces import district_names, force_names
from servicemap.geography.geocode import wgs84_from_bng
from servicemap.geography.postcodes import PostcodeTable, geography_from_postcodes
from servicemap.geography.towns import load_towns, nearest_towns
from servicemap.settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    import geopandas as gpd

    from servicemap.analysis.plan import Proposal

REACH_CELL_DEG = 0.01
"""Side of the cells (degrees) the newly-within-reach shading is drawn with."""

LABEL_DECIMALS = 2
"""Place labels (postcode districts, district names, towns) are placed to this many decimal
places of a degree."""

MAX_TOWNS = 60
"""At most this many town names on a plan map (the largest in view)."""


@dataclass(frozen=True)
class PlanPlaces:
    """The places a plan map shows for orientation.

    Attributes
    ----------
    forces
        Every force outline (``code``/``force_code``, ``name``/``force_name``, geometry).
    focus
        The force codes the plan is about (drawn in bold, their districts shown).
    districts
        The local authority districts of the focus forces: ``code``, ``name``, ``force_code``
        and geometry.
    postcode_districts
        A label point per postcode district of the focus forces: ``postcode_district``,
        ``latitude``, ``longitude`` (near its site, to :data:`LABEL_DECIMALS` places).
    towns
        Towns in and around the focus forces (:func:`servicemap.geography.towns.load_towns`
        columns), largest first.
    """

    forces: Any
    focus: tuple[str, ...]
    districts: Any
    postcode_districts: pd.DataFrame
    towns: pd.DataFrame


def plan_places(
    focus: Sequence[str],
    *,
    force_areas: gpd.GeoDataFrame,
    district_areas: gpd.GeoDataFrame,
    postcodes: PostcodeTable,
    settings: Settings = DEFAULT_SETTINGS,
) -> PlanPlaces:
    """Gather the places to show around the focus forces.

    Parameters
    ----------
    focus
        Force codes.
    force_areas
        Force polygons (:func:`servicemap.geography.boundaries.load_force_areas`).
    district_areas
        District polygons (:func:`servicemap.geography.boundaries.load_district_areas`).
    postcodes
        The postcode table (for the postcode districts).
    settings
        ``settings.crs``, the metric CRS.

    Returns
    -------
    PlanPlaces
        The places, ready for :func:`servicemap.render.plan_map.plan_map`.
    """
    codes = tuple(dict.fromkeys(str(c) for c in focus))
    districts = district_areas.loc[district_areas["force_code"].isin(codes)].reset_index(drop=True)
    labels = [district_sites(postcodes, force_code=code) for code in codes]
    outward = pd.concat(labels, ignore_index=True) if labels else pd.DataFrame()
    points = pd.DataFrame({"postcode_district": [], "latitude": [], "longitude": []})
    if len(outward):
        lon, lat = wgs84_from_bng(outward["easting"].to_numpy(), outward["northing"].to_numpy())
        # Rounded to 0.01 degree (about 1 km), like every label: a label never sits exactly on
        # one postcode, which could be a confidential service's.
        points = pd.DataFrame(
            {
                "postcode_district": outward["postcode_district"].to_numpy(),
                "latitude": np.round(lat, LABEL_DECIMALS),
                "longitude": np.round(lon, LABEL_DECIMALS),
            }
        )
    towns = load_towns()
    if len(districts):
        area = shapely.buffer(shapely.union_all(districts.to_crs(settings.crs).geometry), 1_000)
        where = shapely.points(towns["easting"].to_numpy(), towns["northing"].to_numpy())
        inside = shapely.contains(area, where)
        towns = towns.loc[inside].head(MAX_TOWNS).reset_index(drop=True)
        towns["latitude"] = towns["latitude"].round(LABEL_DECIMALS)
        towns["longitude"] = towns["longitude"].round(LABEL_DECIMALS)
    else:
        towns = towns.head(0)
    return PlanPlaces(
        forces=force_areas,
        focus=codes,
        districts=districts,
        postcode_districts=points,
        towns=towns,
    )


def _describe(
    easting: npt.NDArray[np.float64], northing: npt.NDArray[np.float64], towns: pd.DataFrame
) -> list[str]:
    names, km = nearest_towns(easting, northing, towns)
    return [
        "" if not name else (f"in {name}" if d < 1.5 else f"{d:.0f} km from {name}")
        for name, d in zip(names, km, strict=True)
    ]


def proposal_sites(proposal: Proposal, *, towns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Describe a proposal's sites for the map: where each is, in words.

    Parameters
    ----------
    proposal
        From :func:`servicemap.analysis.plan.propose_sites`.
    towns
        From :func:`servicemap.geography.towns.load_towns`; ``None`` loads them.

    Returns
    -------
    pandas.DataFrame
        One row per site: ``rank``, ``name``, ``postcode``, ``postcode_district``,
        ``district``, ``force``, ``near`` ("in Chatham", "3 km from Tonbridge"),
        ``latitude``, ``longitude``, ``newly_within_reach``.
    """
    sites = proposal.sites
    towns = load_towns() if towns is None else towns
    return pd.DataFrame(
        {
            "rank": sites["rank"].to_numpy(),
            "name": sites["name"].to_numpy(),
            "postcode": sites["site_postcode"].to_numpy(),
            "postcode_district": sites["postcode_district"].to_numpy(),
            "district": sites["local_authority"].to_numpy(),
            "force": sites["force_name"].to_numpy(),
            "near": _describe(
                sites["easting"].to_numpy(float), sites["northing"].to_numpy(float), towns
            ),
            "latitude": sites["latitude"].to_numpy(),
            "longitude": sites["longitude"].to_numpy(),
            "newly_within_reach": sites["newly_within_reach"].to_numpy(),
        }
    )


def what_if_sites(proposed: pd.DataFrame, *, towns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Describe a what-if's proposed services for the map: only those with a public place.

    Parameters
    ----------
    proposed
        The proposed services (canonical frame). Confidential ones are left out here, so they
        are never placed.
    towns
        From :func:`servicemap.geography.towns.load_towns`; ``None`` loads them.

    Returns
    -------
    pandas.DataFrame
        One row per placed proposal: ``rank`` (its row in the file's order, from 1), ``name``,
        ``postcode``, ``postcode_district``, ``district``, ``force``, ``near``,
        ``latitude``, ``longitude``.
    """
    towns = load_towns() if towns is None else towns
    public = public_services(proposed.reset_index(drop=True))
    east = pd.to_numeric(public["easting"], errors="coerce").to_numpy(dtype=float)
    north = pd.to_numeric(public["northing"], errors="coerce").to_numpy(dtype=float)
    placed = np.isfinite(east) & np.isfinite(north)
    public = public.loc[placed]
    east, north = east[placed], north[placed]
    lon, lat = wgs84_from_bng(east, north) if len(public) else (np.zeros(0), np.zeros(0))
    names, forces = district_names(), force_names()
    postcodes = public["postcode"].fillna("").astype(str).str.strip().str.upper()
    return pd.DataFrame(
        {
            "rank": np.flatnonzero(placed) + 1,
            "name": public["name"].astype(str).to_numpy(),
            "postcode": postcodes.to_numpy(),
            "postcode_district": [p.split(" ")[0] if " " in p else "" for p in postcodes],
            "district": [
                ", ".join(names.get(d, d) for d in served[:1])
                for served in public["served_districts"]
            ],
            "force": [forces.get(str(c), str(c)) for c in public["force_code"]],
            "near": _describe(east, north, towns),
            "latitude": np.round(np.asarray(lat, dtype=float), 5),
            "longitude": np.round(np.asarray(lon, dtype=float), 5),
        }
    )


def what_if_reach(
    services: pd.DataFrame,
    proposed: pd.DataFrame,
    *,
    postcodes: PostcodeTable,
    radius_km: float = 10,
) -> npt.NDArray[np.float64]:
    """Return the resident postcodes (BNG metres) that proposed services bring within reach.

    A postcode is newly within reach when it is within ``radius_km`` of a proposed in-person
    service and not of an existing one, measured from the places the coverage table uses.

    Parameters
    ----------
    services
        The directory (canonical frame).
    proposed
        The proposed services (canonical frame).
    postcodes
        The postcode table.
    radius_km
        The catchment radius.

    Returns
    -------
    numpy.ndarray
        The postcodes' positions (n x 2).
    """
    geography = geography_from_postcodes(postcodes)
    both = pd.concat([services, proposed], ignore_index=True) if len(proposed) else services
    prepared = prepare_services(both, geography)
    new = np.zeros(len(both), dtype=bool)
    new[len(services) :] = True
    xy = geography.resident_xy
    in_person = prepared.in_person & np.isfinite(prepared.access_xy).all(axis=1)
    added = prepared.access_xy[in_person & new]
    if not len(added):
        return np.zeros((0, 2))
    near = nearest_km(added, xy, within_km=radius_km)[0] <= radius_km
    candidates = xy[near]
    before = nearest_km(prepared.access_xy[in_person & ~new], candidates, within_km=radius_km)[0]
    result: npt.NDArray[np.float64] = candidates[~(before <= radius_km)]
    return result


def proposal_reach(proposal: Proposal) -> npt.NDArray[np.float64]:
    """Return the resident postcodes (BNG metres) a proposal's sites bring within reach.

    Parameters
    ----------
    proposal
        From :func:`servicemap.analysis.plan.propose_sites`.

    Returns
    -------
    numpy.ndarray
        The postcodes' positions (n x 2).
    """
    p = proposal.problem
    sites = proposal.sites[["easting", "northing"]].to_numpy(dtype=np.float64)
    if not len(sites):
        return np.zeros((0, 2))
    open_xy = p.resident_xy[~p.reached_before]
    near = nearest_km(sites, open_xy, within_km=p.radius_km)[0] <= p.radius_km
    result: npt.NDArray[np.float64] = open_xy[near]
    return result


def newly_reached_area(
    xy: npt.NDArray[np.float64],
    *,
    cell_deg: float = REACH_CELL_DEG,
    settings: Settings = DEFAULT_SETTINGS,
) -> gpd.GeoDataFrame:
    """Return the grid cells holding newly reached postcodes, merged into one shape.

    The cells are squares of ``cell_deg`` degrees of latitude and longitude (about 1.1 by
    0.7 km), so every corner lies on a round 0.01 degree: the shading shows where people are
    reached, never the exact place of one postcode (which could be a confidential service's).

    Parameters
    ----------
    xy
        Postcode positions (``settings.crs`` metres), e.g. from :func:`what_if_reach`.
    cell_deg
        The cells' side in degrees: the shading is no finer than this.
    settings
        ``settings.crs``, the CRS of ``xy``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row (``postcodes``: how many) with the merged cells, in EPSG:4326; no rows when
        ``xy`` is empty.
    """
    import geopandas as gpd

    if not len(xy):
        return gpd.GeoDataFrame({"postcodes": []}, geometry=[], crs="EPSG:4326")
    points = np.asarray(xy, dtype=np.float64)
    lon, lat = wgs84_from_bng(points[:, 0], points[:, 1])
    steps = round(1.0 / cell_deg)
    cells = np.unique(
        np.column_stack([np.floor(np.asarray(lon) * steps), np.floor(np.asarray(lat) * steps)]),
        axis=0,
    ).astype(np.int64)
    boxes = shapely.box(
        cells[:, 0] / steps, cells[:, 1] / steps, (cells[:, 0] + 1) / steps,
        (cells[:, 1] + 1) / steps,
    )  # fmt: skip
    shape = shapely.set_precision(shapely.union_all(boxes), 1.0 / steps)
    return gpd.GeoDataFrame({"postcodes": [len(points)]}, geometry=[shape], crs="EPSG:4326")
