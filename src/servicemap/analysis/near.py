"""Who can help someone at a place: services serving a postcode, district or sector, and nearby."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from servicemap.analysis.reach import (
    _DETAIL_COLUMNS,
    _LEVEL_NAMES,
    _SCOPE_CODE,
    _SUPPORT_COLUMNS,
    PreparedServices,
    _column,
    _columns,
    prepare_services,
)
from servicemap.directory.privacy import withhold_locations
from servicemap.errors import GeocodeError
from servicemap.geography.forces import district_names, force_names
from servicemap.geography.postcodes import (
    POSTCODE,
    Geography,
    PostcodeTable,
    geography_from_postcodes,
    load_postcode_table,
)
from servicemap.settings import DEFAULT_SETTINGS, Settings


@dataclass(frozen=True)
class _Place:
    """Where a ``near`` search is centred, and the districts whose services serve it."""

    x: float
    y: float
    districts: npt.NDArray[np.intp]  # England and Wales districts the place lies in
    label: str
    kind: str  # "postcode", "postcode district", "postcode sector" or "point"
    centre_district: int  # the district at (x, y): the one named for a single postcode
    partly_outside: bool = False  # some of its postcodes are outside England and Wales


_OUTWARD_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_FORMS = "give a postcode like 'UB1 3BL', a postcode district like 'UB1' or a sector like 'UB1 3'"


def _parse_place(place: str) -> tuple[str, str]:
    """Return the kind of a postcode-like text and its normal form (``"ST4"``, ``"ST4 1"``)."""
    words = place.upper().split()
    code = "".join(words)
    if POSTCODE.fullmatch(code):
        return "postcode", f"{code[:-3]} {code[-3:]}"
    if len(words) == 2 and _OUTWARD_RE.match(words[0]) and re.fullmatch(r"[0-9]", words[1]):
        return "postcode sector", " ".join(words)
    if len(words) == 1 and _OUTWARD_RE.match(code):
        return "postcode district", code
    raise GeocodeError(
        f"{place!r} is not a UK postcode, postcode district or postcode sector; {_FORMS}."
    )


def _area_rows(table: PostcodeTable, label: str) -> npt.NDArray[np.intp]:
    """Return the rows of every postcode in a district or sector (``"ST4"``, ``"ST4 1"``)."""
    outward = label.split()[0]
    prefix = label.replace(" ", "").encode()
    lo, hi = np.searchsorted(table.postcodes, [prefix, prefix + b"\xff"])
    rows = np.arange(lo, hi, dtype=np.intp)
    # the inward code is always three characters, so a postcode's length fixes its outward code
    lengths = np.char.str_len(table.postcodes[rows])
    return np.asarray(rows[lengths == len(outward) + 3], dtype=np.intp)


def _resolve_area(place: str, kind: str, label: str, geography: Geography) -> _Place:
    table = geography.table
    rows = _area_rows(table, label)
    if len(rows) == 0 and kind == "postcode district" and label[-1].isdigit():
        sector = f"{label[:-1]} {label[-1]}"  # "ST41" typed without its space
        if _OUTWARD_RE.match(label[:-1]) and len(_area_rows(table, sector)):
            kind, label = "postcode sector", sector
            rows = _area_rows(table, label)
    what = f"{kind.capitalize()} {label!r}"
    if len(rows) == 0:
        raise GeocodeError(
            f"{what} is not in the ONS postcode directory; check it for typos, or {_FORMS}."
        )
    located = rows[table.easting[rows] >= 0]
    if len(located) == 0:
        raise GeocodeError(
            f"{what} has no postcode with a grid reference in the ONS postcode directory; "
            "give a full postcode."
        )
    inside = located[table.force[located] >= 0]
    if len(inside) == 0:
        raise GeocodeError(
            f"{what} is outside England and Wales; servicemap covers the 43 police force areas "
            "of England and Wales."
        )
    x = float(np.mean(table.easting[located]))
    y = float(np.mean(table.northing[located]))
    d2 = (table.easting[inside] - x) ** 2.0 + (table.northing[inside] - y) ** 2.0
    centre = int(table.district[inside[int(np.argmin(d2))]])
    districts = np.unique(table.district[inside]).astype(np.intp)
    return _Place(x, y, districts, label, kind, centre, len(inside) < len(located))


def _resolve_place(place: str | tuple[float, float], geography: Geography) -> _Place:
    """Return where a postcode, postcode district or sector, or a BNG point is."""
    table = geography.table
    if isinstance(place, str):
        kind, label = _parse_place(place)
        if kind != "postcode":
            return _resolve_area(place, kind, label, geography)
        code = label.replace(" ", "")
        row = table.rows(np.array([code], dtype="S7"))[0]
        if row < 0:
            raise GeocodeError(
                f"Postcode {place!r} is not in the ONS postcode directory; check it for typos "
                "(new postcodes appear a few months after they are issued)."
            )
        if table.easting[row] < 0:
            raise GeocodeError(
                f"Postcode {place!r} has no grid reference in the ONS postcode directory; "
                "try a neighbouring postcode."
            )
        if table.force[row] < 0:
            raise GeocodeError(
                f"Postcode {place!r} is outside England and Wales; servicemap covers the 43 "
                "police force areas of England and Wales."
            )
        district = int(table.district[row])
        return _Place(
            float(table.easting[row]),
            float(table.northing[row]),
            np.array([district], dtype=np.intp),
            label,
            kind,
            district,
        )
    x, y = (float(v) for v in place)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise GeocodeError(f"Point {place!r} is not a pair of finite easting, northing metres.")
    located = geography.located
    d2 = (table.easting[located] - x) ** 2 + (table.northing[located] - y) ** 2
    nearest = int(np.argmin(d2))
    if d2[nearest] > 10_000.0**2:
        raise GeocodeError(
            f"Point {place!r} is more than 10 km from any postcode in England and Wales; give "
            "British National Grid easting and northing in metres (EPSG:27700)."
        )
    district = int(table.district[np.flatnonzero(located)[nearest]])
    return _Place(x, y, np.array([district], dtype=np.intp), f"{x:.0f}, {y:.0f}", "point", district)


def services_near(
    place: str | tuple[float, float],
    services: pd.DataFrame,
    *,
    radius_km: float = 25,
    limit: int = 10,
    postcodes: PostcodeTable | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Return who can help someone at a postcode: services serving it, and in-person ones nearby.

    A confidential service is listed only as "serves this area", with no location and no
    distance. Ended services are left out.

    Parameters
    ----------
    place
        A postcode (any spacing or case: ``"UB1 3BL"``, ``"ub13bl"``), a postcode district
        (outward code, ``"ST4"``) or sector (``"ST4 1"``), or an (easting, northing) point in
        EPSG:27700 metres. A district or sector is placed at the mean of its located postcodes,
        and a service serving any England and Wales district it spans serves it.
    services
        The canonical services frame. Not modified.
    radius_km
        How far to look for in-person services, in km.
    limit
        At most this many "nearby" rows (services that do not serve the area but are near).
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    settings
        Where the postcode table is cached.

    Returns
    -------
    pandas.DataFrame
        Columns ``relation`` ("serves this area", "nearby" or "nearest, beyond N km"), ``name``,
        ``organisation``, ``scope``, ``distance_km`` (NaN for confidential or remote services),
        ``serves``, service details and public contact fields. ``attrs`` holds ``place``
        (the normal form), ``place_kind`` (``"postcode"``, ``"postcode district"``, ``"postcode
        sector"`` or ``"point"``), ``district`` and ``force`` (the names, joined with ", "
        when the place spans several), ``districts`` and ``forces`` (lists of names),
        ``centre_district`` (the district at the centre), ``partly_outside`` (some of its
        postcodes are outside England and Wales) and ``radius_km``.
    """
    if not np.isfinite(radius_km) or radius_km <= 0:
        raise ValueError(f"radius_km must be a positive distance in km, got {radius_km!r}.")
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    geography = geography_from_postcodes(table)
    where = _resolve_place(place, geography)
    prepared = prepare_services(services, geography)
    relation, km = _relations(prepared, where, radius_km=radius_km, limit=limit)
    result = _near_rows(services, prepared, relation, km)
    result.attrs.update(_place_attrs(where, table), radius_km=float(radius_km))
    return result


def serving_districts(prepared: PreparedServices) -> npt.NDArray[np.bool_]:
    """Return services x districts: True where a service serves the district (ended: never).

    Parameters
    ----------
    prepared
        From :func:`servicemap.analysis.reach.prepare_services`.

    Returns
    -------
    numpy.ndarray
        One row per service, one column per district of the postcode table.
    """
    area = prepared.area
    listed = prepared.active & (area >= 0)
    serving: npt.NDArray[np.bool_] = prepared.area_districts[np.maximum(area, 0)] & listed[:, None]
    return serving


def public_places(prepared: PreparedServices) -> npt.NDArray[np.bool_]:
    """Return which services may be shown at their place: in person and not confidential."""
    found: npt.NDArray[np.bool_] = prepared.in_person & ~prepared.confidential
    return found


def _relations(
    prepared: PreparedServices, where: _Place, *, radius_km: float, limit: int
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Return each service's relation to the place (``""`` when not listed) and its distance."""
    serves = np.asarray(serving_districts(prepared)[:, where.districts].any(axis=1), dtype=bool)
    public_point = public_places(prepared)
    km = np.hypot(prepared.xy[:, 0] - where.x, prepared.xy[:, 1] - where.y) / 1000.0
    km = np.where(public_point, km, np.nan)
    nearby = public_point & ~serves & (km <= radius_km)
    nearby_idx = np.flatnonzero(nearby)
    nearby_idx = nearby_idx[np.argsort(km[nearby_idx], kind="stable")][: max(limit, 0)]
    relation = np.full(len(prepared.area), "", dtype=object)
    relation[serves] = "serves this area"
    relation[nearby_idx] = "nearby"
    others = np.flatnonzero(public_point)
    if len(others) and not (km[others] <= radius_km).any():
        # Nothing to visit within reach: say where the nearest place is, however far.
        closest = others[np.argmin(km[others])]
        if not serves[closest]:
            relation[closest] = f"nearest, beyond {radius_km:g} km"
    return relation, km


def services_for_search(
    services: pd.DataFrame,
    *,
    postcodes: PostcodeTable | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Return what a search page needs to answer as :func:`services_near` does, per service.

    The page (the report's search box) repeats only the lookup and the sort: which districts a
    service serves and where a public in-person service is are decided here, by the same code.

    Parameters
    ----------
    services
        The canonical services frame. Not modified.
    postcodes
        The postcode table; ``None`` loads the cached ONS table.
    settings
        Where the postcode table is cached.

    Returns
    -------
    pandas.DataFrame
        One row per service that :func:`services_near` can list (it serves somewhere, or has a
        public place), in the frame's order and on its index: ``scope``, ``districts`` (tuple of
        district indices into the postcode table's ``district_codes``), ``easting`` and
        ``northing`` (BNG metres; NaN unless the service is in person and not confidential),
        ``confidential``, ``kinds`` (tuple of the kinds of provision it offers), and the same
        public detail and contact columns, with confidential services' places blanked.
    """
    table = postcodes if postcodes is not None else load_postcode_table(settings=settings)
    prepared = prepare_services(services, geography_from_postcodes(table))
    serving = serving_districts(prepared)
    place = public_places(prepared)
    keep = np.flatnonzero(serving.any(axis=1) | place)
    rows = withhold_locations(services.iloc[keep], prepared.confidential[keep])
    xy = np.where(place[:, None], prepared.xy, np.nan)[keep]
    kinds = [
        tuple(kind for kind, flags in prepared.kinds.items() if flags[i]) for i in keep
    ]  # fmt: skip
    return pd.DataFrame(
        {
            "name": rows["name"].to_numpy(),
            "organisation": _column(rows, "organisation"),
            "scope": _LEVEL_NAMES[prepared.level[keep]],
            "districts": [tuple(int(d) for d in np.flatnonzero(serving[i])) for i in keep],
            "easting": xy[:, 0],
            "northing": xy[:, 1],
            "confidential": prepared.confidential[keep],
            "kinds": kinds,
            **_columns(rows, (*_DETAIL_COLUMNS, "communities", "languages", *_SUPPORT_COLUMNS)),
        },
        index=services.index[keep],
    )


def _near_rows(
    services: pd.DataFrame,
    prepared: PreparedServices,
    relation: npt.NDArray[Any],
    km: npt.NDArray[np.float64],
) -> pd.DataFrame:
    """Return the listed services' public fields: serving first, then by scope and distance."""
    chosen = np.flatnonzero(relation != "")
    rows = withhold_locations(services.iloc[chosen], prepared.confidential[chosen])
    result = pd.DataFrame(
        {
            "relation": relation[chosen],
            "name": rows["name"].to_numpy(),
            "organisation": _column(rows, "organisation"),
            "scope": _LEVEL_NAMES[prepared.level[chosen]],
            "distance_km": np.round(km[chosen], 1),
            **_columns(rows, (*_DETAIL_COLUMNS, "languages", *_SUPPORT_COLUMNS)),
        }
    )
    result = result.assign(
        _group=(result["relation"] != "serves this area").astype(int),
        _scope=result["scope"].map(_SCOPE_CODE),
        _name=result["name"].str.lower(),
    )
    result = result.sort_values(
        ["_group", "_scope", "distance_km", "_name"], na_position="last", kind="stable"
    ).drop(columns=["_group", "_scope", "_name"])
    return result.reset_index(drop=True)


def _place_attrs(where: _Place, table: PostcodeTable) -> dict[str, Any]:
    """Return the ``attrs`` of a :func:`services_near` result that say where the place is."""
    district_name, force_name = district_names(), force_names()
    codes = [str(table.district_codes[d]) for d in where.districts]
    districts = [district_name.get(code, code) for code in codes]
    force_rows = list(dict.fromkeys(int(table.district_force[d]) for d in where.districts))
    forces = [str(table.force_codes[k]) for k in force_rows]
    forces = [force_name.get(code, code) for code in forces]
    centre = str(table.district_codes[where.centre_district])
    return {
        "place": where.label,
        "place_kind": where.kind,
        "district": ", ".join(districts),
        "force": ", ".join(forces),
        "districts": districts,
        "forces": forces,
        "centre_district": district_name.get(centre, centre),
        "partly_outside": where.partly_outside,
    }


# --- output -------------------------------------------------------------------------------


def describe_near_place(near: pd.DataFrame) -> str:
    """Say how a :func:`services_near` search over a postcode district or sector was done.

    Parameters
    ----------
    near
        From :func:`services_near`.

    Returns
    -------
    str
        E.g. "ST4 is a postcode district; distances are from its centre, in Stoke-on-Trent.
        It spans 3 local authority districts: services serving any of them are listed.";
        ``""`` for a full postcode or a point.
    """
    attrs = near.attrs
    kind = attrs.get("place_kind", "postcode")
    if kind not in ("postcode district", "postcode sector"):
        return ""
    note = (
        f"{attrs.get('place', '')} is a {kind}; distances are from its centre, in "
        f"{attrs.get('centre_district', '')}."
    )
    districts, forces = attrs.get("districts", []), attrs.get("forces", [])
    if len(forces) > 1:
        note += (
            f" It spans {len(districts)} local authority districts in {len(forces)} police "
            "force areas: services serving any of them are listed."
        )
    elif len(districts) > 1:
        note += (
            f" It spans {len(districts)} local authority districts: services serving any of "
            "them are listed."
        )
    if attrs.get("partly_outside"):
        note += " Part of it is outside England and Wales, which servicemap does not cover."
    return note
