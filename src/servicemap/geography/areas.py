"""Area names (forces, districts, counties, regions, nations) resolved to districts and forces.

The services directory says where each service works in ``areas_served``: free text, several
names separated by ``;`` (``"Camden; Islington"``, ``"North West"``, ``"Thames Valley"``,
``"England and Wales"``). :func:`resolve_area` turns one name into an :class:`Area`: the
local authority districts it covers (2025 codes, from
:func:`servicemap.geography.forces.load_districts`),
the police force areas those districts lie in, and which of those forces it covers whole, so
that "serves all of Thames Valley" can be told from "serves Slough".

Accepted names
--------------
* **Police force areas** (kind ``"force"``): the 43 ONS names (``"Metropolitan Police"``,
  ``"Devon & Cornwall"``, ``"London, City of"``), the forces' own names (``"Kent Police"``,
  ``"Hampshire and Isle of Wight Constabulary"``), those names without "Police" /
  "Constabulary" (``"Hampshire and Isle of Wight"``), data.police.uk slugs
  (``"avon-and-somerset"``), ONS codes (``E23000032``) and common short forms listed in
  ``data/boundaries/area_aliases.csv`` (``"Met"``, ``"MPS"``, ``"TVP"``, ``"GMP"``).
* **Local authority districts** (kind ``"district"``): the 318 ONS names and 2025 codes, the
  ``"X, City of"`` / ``"X, County of"`` names also as ``"X"``, ``"City of X"`` and ``"X City"``
  (``"Bristol"``, ``"City of Bristol"``, ``"bristol city"``), everyday and Welsh names
  (``"Hull"``, ``"Anglesey"``, ``"Ynys Môn"``, ``"Caerdydd"``, ``"Abertawe"``, ``"Casnewydd"``,
  ``"Sir Benfro"``) and districts abolished since 2019, which resolve to the authority that
  replaced them (``"Harrogate"`` → North Yorkshire, ``"Poole"`` → Bournemouth, Christchurch and
  Poole). The alias file lists them all.
* **Counties** (kind ``"county"``, ``data/boundaries/counties.csv``): the 48 ceremonial counties
  of England as defined since April 2023 (``"Berkshire"``, ``"Greater London"``,
  ``"East Riding of Yorkshire"``, the six metropolitan counties), the 8 preserved counties of
  Wales (``"Clwyd"``, ``"Dyfed"``, ``"Gwent"``, ``"Gwynedd"``, ``"Mid Glamorgan"``, ``"Powys"``,
  ``"South Glamorgan"``, ``"West Glamorgan"``), and the former county of Avon (1974-1996). A
  ceremonial county includes its unitary authorities (Lincolnshire includes North and North East
  Lincolnshire; Hampshire includes Portsmouth and Southampton but not the Isle of Wight).
  ``"Greater London"`` is the 33 London authorities *including* the City of London (the area
  of the Greater London Authority and of the London region), because that is what people mean
  by it; ceremonially the City is a county of its own, and ``"City of London"`` names it alone.
* **Regions** (kind ``"region"``): the 9 ONS regions of England: ``"North East"``,
  ``"North West"``, ``"Yorkshire and The Humber"`` (also ``"Yorkshire & Humber"``,
  ``"Yorkshire and Humberside"``, ``"Yorkshire"``), ``"East Midlands"``, ``"West Midlands"``,
  ``"East of England"`` (``"East"``, ``"Eastern"``), ``"London"``, ``"South East"``,
  ``"South West"``.
* **Nations** (kind ``"nation"``): ``"England"``, ``"Wales"`` (``"Cymru"``) and
  ``"England and Wales"``. ``"UK"``, ``"United Kingdom"``, ``"Great Britain"``, ``"GB"``,
  ``"Britain"``, ``"National"`` and ``"Nationwide"`` also mean England and Wales: this tool
  maps England and Wales only, so a UK-wide service serves all of it.

Matching ignores case, accents, punctuation, hyphens and extra spaces, the word "the",
``&`` versus "and", "St" / "St." / "Saint", and a leading "All of" / "Whole of" / "Across" or
a trailing "area" / "wide" (``"London-wide"``). ``"City of"`` and a trailing "City" are
dropped when the name is not otherwise known (``"Leicester City"`` → Leicester), but
``"City of London"`` is its own place.

Precedence
----------
Some names mean several things. A bare name takes the first meaning in the order
**force, district, county, region, nation**:

* ``"West Midlands"``, ``"Hampshire"``, ``"Lancashire"``, ``"Durham"``, ``"Cumbria"``,
  ``"Lincolnshire"``, ``"North Yorkshire"``, ``"Dorset"``, ``"Wiltshire"``, ``"Gwent"``,
  ``"City of London"`` are forces. The directory is about force areas, and most people who
  write a force's name mean its area.
* ``"Somerset"``, ``"Buckinghamshire"``, ``"Cornwall"``, ``"Shropshire"``, ``"Gwynedd"``,
  ``"County Durham"`` are districts (the ONS name of a district always means the district,
  except the four district names that are also force names: Dorset, Wiltshire, North
  Yorkshire, City of London).

A qualifier picks the other meaning: a suffix ``"region"`` or ``"England"``
(``"West Midlands region"``, ``"West Midlands (region)"``, ``"North West England"``);
``"county"``, ``"ceremonial county"``, ``"metropolitan county"`` or a prefix ``"County of"``
(``"Hampshire county"``, ``"Durham (ceremonial county)"``, ``"County Durham (county)"``);
``"council"``, ``"district"``, ``"borough"``, ``"city council"``, ``"county council"`` or a
prefix ``"London Borough of"`` / ``"Royal Borough of"`` / ``"City and County of"``
(``"Dorset Council"``, ``"Durham County Council"``, ``"Wiltshire (district)"``); and
``"police"``, ``"constabulary"``, ``"force"``, ``"police area"``, ``"PFA"`` for a force
(``"Kent force area"``, ``"Met Police"``). A qualifier that names a meaning the name does not
have is an error (``"Kent council"``: Kent is a force and a county, not a district).

Districts split between counties
--------------------------------
Districts are the unit, so a county is the set of its districts. Stockton-on-Tees is the one
district of England split between two ceremonial counties (Durham north of the Tees, North
Yorkshire south of it). It is counted in both counties and listed in
:attr:`Area.partial_district_codes`; a force is never counted as wholly covered through a
partly covered district.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import pandas as pd

from servicemap._data import data_path
from servicemap.errors import UnknownAreaError, UnknownForceError
from servicemap.geography.forces import load_districts, load_forces

AreaKind = Literal["force", "district", "county", "region", "nation"]

#: The meanings of a name, in order of precedence: a bare name takes the first that exists.
PRECEDENCE: tuple[AreaKind, ...] = ("force", "district", "county", "region", "nation")

# ONS region (E12) and country codes; the region of each district is in districts.csv.
_REGION_CODES = {
    "North East": "E12000001",
    "North West": "E12000002",
    "Yorkshire and The Humber": "E12000003",
    "East Midlands": "E12000004",
    "West Midlands": "E12000005",
    "East of England": "E12000006",
    "London": "E12000007",
    "South East": "E12000008",
    "South West": "E12000009",
}
_NATION_CODES = {"England": "E92000001", "Wales": "W92000004", "England and Wales": "K04000001"}

_HINT = (
    "An area can be a police force area (e.g. 'Thames Valley'), a local authority district "
    "('Slough'), a county ('Berkshire'), a region ('North West'), or 'England', 'Wales' or "
    "'England and Wales'."
)


@dataclass(frozen=True)
class Area:
    """A named area resolved to the districts and police force areas it covers.

    Attributes
    ----------
    name
        Canonical display name (ONS spelling for forces, districts and regions).
    kind
        ``"force"``, ``"district"``, ``"county"``, ``"region"`` or ``"nation"``.
    code
        ONS code of the force, district, region or nation; ``""`` for a county.
    district_codes
        Sorted 2025 codes of the districts the area covers, wholly or in part.
    force_codes
        Sorted codes of the forces those districts lie in.
    whole_force_codes
        Sorted codes of the forces every district of which is wholly in the area.
    partial_district_codes
        Districts only partly in the area (a county boundary splitting a district).
    """

    name: str
    kind: AreaKind
    code: str
    district_codes: tuple[str, ...]
    force_codes: tuple[str, ...]
    whole_force_codes: tuple[str, ...]
    partial_district_codes: tuple[str, ...] = field(default=())

    @property
    def partial_force_codes(self) -> tuple[str, ...]:
        """Return the codes of the forces the area covers only in part."""
        return tuple(code for code in self.force_codes if code not in self.whole_force_codes)

    def covers_whole_force(self, force_code: str) -> bool:
        """Return whether the area covers every district of a force.

        Parameters
        ----------
        force_code
            ONS code of one of the 43 forces.

        Returns
        -------
        bool
            True if each of the force's districts is wholly in the area.

        Raises
        ------
        UnknownForceError
            If ``force_code`` is not the code of a police force area.
        """
        if force_code not in _force_districts():
            raise UnknownForceError(
                f"{force_code!r} is not a police force area code; use an ONS code such as "
                "'E23000029' (run 'servicemap forces' to list them)."
            )
        return force_code in self.whole_force_codes


def area_key(text: str) -> str:
    """Return the normalised form of an area name used for matching.

    Parameters
    ----------
    text
        An area name as written.

    Returns
    -------
    str
        Lower case ASCII words separated by single spaces: accents, apostrophes and the word
        "the" dropped, ``&`` read as "and", "saint" as "st", other punctuation as spaces.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    ascii_text = re.sub(r"['\u2019\u2018`]", "", ascii_text).replace("&", " and ")
    words = re.sub(r"[^a-z0-9]+", " ", ascii_text).split()
    return " ".join("st" if word == "saint" else word for word in words if word != "the")


# Qualifiers: (affix, "prefix" | "suffix", kind the qualifier selects, or None for any).
_Qualifier = tuple[str, str, AreaKind | None]
_QUALIFIER_TABLE: tuple[_Qualifier, ...] = (
    ("police force area", "suffix", "force"),
    ("police force", "suffix", "force"),
    ("police service", "suffix", "force"),
    ("police area", "suffix", "force"),
    ("force area", "suffix", "force"),
    ("police", "suffix", "force"),
    ("constabulary", "suffix", "force"),
    ("force", "suffix", "force"),
    ("pfa", "suffix", "force"),
    ("metropolitan borough council", "suffix", "district"),
    ("county borough council", "suffix", "district"),
    ("borough council", "suffix", "district"),
    ("district council", "suffix", "district"),
    ("county council", "suffix", "district"),
    ("city council", "suffix", "district"),
    ("council", "suffix", "district"),
    ("unitary authority", "suffix", "district"),
    ("local authority", "suffix", "district"),
    ("district", "suffix", "district"),
    ("borough", "suffix", "district"),
    ("london borough of", "prefix", "district"),
    ("royal borough of", "prefix", "district"),
    ("metropolitan borough of", "prefix", "district"),
    ("county borough of", "prefix", "district"),
    ("city and county of", "prefix", "district"),
    ("borough of", "prefix", "district"),
    ("ceremonial county", "suffix", "county"),
    ("metropolitan county", "suffix", "county"),
    ("preserved county", "suffix", "county"),
    ("met county", "suffix", "county"),
    ("ceremonial", "suffix", "county"),
    ("county", "suffix", "county"),
    ("ceremonial county of", "prefix", "county"),
    ("county of", "prefix", "county"),
    ("region", "suffix", "region"),
    ("england", "suffix", "region"),
    ("area", "suffix", None),
    ("areas", "suffix", None),
    ("wide", "suffix", None),
    ("all of", "prefix", None),
    ("whole of", "prefix", None),
    ("across", "prefix", None),
)
# Longest first, so "police area" is tried before "area".
_QUALIFIERS = sorted(_QUALIFIER_TABLE, key=lambda row: -len(row[0]))
_MAX_QUALIFIERS = 2
_CODE_KEY = re.compile(r"^[a-z]\d{8}$")
# Places a UK directory may name that lie outside England and Wales.
_OUTSIDE = frozenset(
    {
        "scotland",
        "northern ireland",
        "ni",
        "isle of man",
        "jersey",
        "guernsey",
        "channel islands",
        "republic of ireland",
        "ireland",
    }
)


@lru_cache(maxsize=1)
def _force_districts() -> dict[str, frozenset[str]]:
    districts = load_districts()
    return {
        str(force): frozenset(group["code"]) for force, group in districts.groupby("force_code")
    }


@lru_cache(maxsize=1)
def _district_force() -> dict[str, str]:
    return {
        district: force for force, members in _force_districts().items() for district in members
    }


def _make_area(
    name: str,
    kind: AreaKind,
    code: str,
    district_codes: Iterable[str],
    partial: Iterable[str] = (),
) -> Area:
    codes = frozenset(district_codes)
    partial_codes = frozenset(partial)
    forces = sorted({_district_force()[district] for district in codes})
    whole_codes = codes - partial_codes
    whole = [force for force in forces if _force_districts()[force] <= whole_codes]
    return Area(
        name=name,
        kind=kind,
        code=code,
        district_codes=tuple(sorted(codes)),
        force_codes=tuple(forces),
        whole_force_codes=tuple(whole),
        partial_district_codes=tuple(sorted(partial_codes)),
    )


@dataclass
class _Index:
    entries: dict[str, dict[AreaKind, Area]] = field(default_factory=dict)
    spellings: dict[tuple[str, AreaKind], str] = field(default_factory=dict)

    def add(self, spelling: str, area: Area) -> None:
        key = area_key(spelling)
        meanings = self.entries.setdefault(key, {})
        existing = meanings.get(area.kind)
        if existing is not None and existing != area:
            raise RuntimeError(
                f"Bundled gazetteer error: {spelling!r} names both {existing.name!r} and "
                f"{area.name!r} ({area.kind}); fix data/boundaries/area_aliases.csv."
            )
        meanings[area.kind] = area
        self.spellings.setdefault((key, area.kind), spelling)

    def spelling(self, key: str) -> str:
        meanings = self.entries[key]
        return self.spellings[(key, _preferred_kind(meanings))]


def _preferred_kind(meanings: dict[AreaKind, Area]) -> AreaKind:
    return next(kind for kind in PRECEDENCE if kind in meanings)


def _city_variants(spelling: str) -> list[str]:
    """Spellings of ``"X, City of"`` / ``"X, County of"`` names: ``"X"``, ``"City of X"``..."""
    match = re.fullmatch(r"(.+), (City|County) of", spelling)
    if match is None:
        return []
    place, prefix = match.groups()
    variants = [place, f"{prefix} of {place}"]
    if prefix == "City":
        variants.append(f"{place} City")
    return variants


def _read_bundled(name: str) -> pd.DataFrame:
    return pd.read_csv(data_path("boundaries", name), dtype=str, keep_default_na=False)


def _add_forces(index: _Index) -> None:
    districts = _force_districts()
    for row in load_forces().itertuples(index=False):
        area = _make_area(str(row.name), "force", str(row.code), districts[str(row.code)])
        common = str(row.common_name)
        short = re.sub(r" (Police Service|Police|Constabulary)$", "", common)
        spellings = [str(row.name), common, short, str(row.slug), str(row.code)]
        # "London, City of" is also "City of London", but never the bare "London" (a region).
        match = re.fullmatch(r"(.+), City of", str(row.name))
        if match:
            spellings.append(f"City of {match.group(1)}")
        for spelling in spellings:
            index.add(spelling, area)


def _add_districts(index: _Index) -> None:
    for row in load_districts().itertuples(index=False):
        area = _make_area(str(row.name), "district", str(row.code), [str(row.code)])
        for spelling in [str(row.name), *_city_variants(str(row.name)), str(row.code)]:
            index.add(spelling, area)


def _add_counties(index: _Index) -> None:
    counties = _read_bundled("counties.csv")
    for name, members in counties.groupby("county", sort=True):
        partial = members.loc[members["part"] != "", "district_code"]
        area = _make_area(str(name), "county", "", members["district_code"], partial)
        index.add(str(name), area)


def _add_regions_and_nations(index: _Index) -> None:
    districts = load_districts()
    for region, code in _REGION_CODES.items():
        members = districts.loc[districts["region"] == region, "code"]
        area = _make_area(region, "region", code, members)
        index.add(region, area)
        index.add(code, area)
    country_of = districts["code"].str[0]
    nations = {
        "England": districts.loc[country_of == "E", "code"],
        "Wales": districts.loc[country_of == "W", "code"],
        "England and Wales": districts["code"],
    }
    for nation, members in nations.items():
        area = _make_area(nation, "nation", _NATION_CODES[nation], members)
        index.add(nation, area)
        index.add(_NATION_CODES[nation], area)


def _add_aliases(index: _Index) -> None:
    aliases = _read_bundled("area_aliases.csv")
    for row in aliases.itertuples(index=False):
        meanings = index.entries.get(area_key(str(row.name)), {})
        targets = [area for kind, area in meanings.items() if row.kind in ("", kind)]
        if not targets:
            raise RuntimeError(
                f"Bundled gazetteer error: alias {row.alias!r} points at {row.name!r} "
                f"({row.kind or 'any kind'}), which is not an accepted name of that kind."
            )
        for area in targets:
            index.add(str(row.alias), area)


@lru_cache(maxsize=1)
def _index() -> _Index:
    index = _Index()
    _add_forces(index)
    _add_districts(index)
    _add_counties(index)
    _add_regions_and_nations(index)
    _add_aliases(index)
    return index


def _without_city(key: str) -> list[str]:
    variants = []
    for pattern in (r"city of (.+)", r"(.+) city of", r"(.+) city"):
        match = re.fullmatch(pattern, key)
        if match:
            variants.append(match.group(1))
    return variants


def _strip_qualifier(key: str, affix: str, position: str) -> str | None:
    if position == "suffix" and key.endswith(" " + affix):
        return key[: -len(affix) - 1]
    if position == "prefix" and key.startswith(affix + " "):
        return key[len(affix) + 1 :]
    return None


def _meanings(key: str, depth: int = 0) -> dict[AreaKind, Area]:
    """Return every meaning of a normalised name (empty if unknown), honouring qualifiers."""
    entries = _index().entries
    for variant in (key, *_without_city(key)):
        if variant in entries:
            return entries[variant]
    if depth >= _MAX_QUALIFIERS:
        return {}
    for affix, position, kind in _QUALIFIERS:
        base = _strip_qualifier(key, affix, position)
        if base is None:
            continue
        found = _meanings(base, depth + 1)
        if kind is None and found:
            return found
        if kind is not None and kind in found:
            return {kind: found[kind]}
    return {}


def _suggestions(text: str) -> list[str]:
    """Return up to three accepted names close to an unknown name, one per area."""
    key = area_key(text)
    index = _index()
    found: list[str] = []
    parts = [part for part in re.split(r",|/|\+|&|\band\b", text) if area_key(part)]
    if len(parts) > 1 and all(_meanings(area_key(part)) for part in parts):
        # "Camden, Islington": several names written as one item.
        found.append("; ".join(part.strip() for part in parts))
    names = [name for name in index.entries if not _CODE_KEY.match(name)]
    for affix, position, _kind in _QUALIFIERS:
        base = _strip_qualifier(key, affix, position)
        if not base:
            continue
        if _meanings(base):
            # The name exists, but not with the meaning the qualifier asked for.
            found.append(_spelling_of(base))
        for name in difflib.get_close_matches(base, names, 5):
            # Keep the qualifier ("Hampshre county" -> "Hampshire county") where it still works.
            spelling = index.spelling(name)
            qualified = f"{spelling} {affix}" if position == "suffix" else f"{affix} {spelling}"
            found.append(qualified if _meanings(area_key(qualified)) else spelling)
    found.extend(index.spelling(name) for name in difflib.get_close_matches(key, names, 5))
    by_area: dict[object, str] = {}
    for spelling in found:
        meanings = _meanings(area_key(spelling))
        area = meanings[_preferred_kind(meanings)] if meanings else spelling
        by_area.setdefault(area, spelling)
    return list(by_area.values())[:3]


def _spelling_of(key: str) -> str:
    entries = _index().entries
    for variant in (key, *_without_city(key)):
        if variant in entries:
            return _index().spelling(variant)
    meanings = _meanings(key)
    return next(iter(meanings.values())).name


def _resolve(text: str) -> Area | list[str]:
    key = area_key(text)
    meanings = _meanings(key) if key else {}
    if meanings:
        return meanings[_preferred_kind(meanings)]
    return _suggestions(text) if key else []


def _unknown_message(text: str, suggestions: list[str]) -> str:
    if area_key(text) in _OUTSIDE:
        return (
            f"Area {text!r} is outside England and Wales, the only nations servicemap maps; "
            "leave it out of areas_served (list the parts of England or Wales served, if any)."
        )
    hint = f" Did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    several = ""
    if re.search(r",|/|\band\b|&|\+", text):
        several = " If it lists several areas, separate them with ';'."
    return f"Unknown area {text!r}.{hint}{several} {_HINT}"


def resolve_area(text: str) -> Area:
    """Return the area a name means.

    Parameters
    ----------
    text
        One area name: a force, district, county, region or nation, in any of the spellings
        the module docstring lists. A bare name that means several things takes the first of
        force, district, county, region, nation; a qualifier such as "region" or "county"
        picks another.

    Returns
    -------
    Area
        The area, with its districts and forces.

    Raises
    ------
    UnknownAreaError
        If the name is empty or unknown; the message suggests the closest accepted names.
    """
    result = _resolve(text)
    if isinstance(result, Area):
        return result
    if not area_key(text):
        raise UnknownAreaError(f"Empty area name {text!r}. {_HINT}")
    raise UnknownAreaError(_unknown_message(text, result))


def find_force(name_or_code: str) -> str:
    """Return the ONS code of the force a user named.

    Parameters
    ----------
    name_or_code
        An ONS code, the ONS name, the force's own name or its police.uk slug; case, punctuation
        and "&"/"and" do not matter.

    Returns
    -------
    str
        The force's ONS code.

    Raises
    ------
    UnknownForceError
        If nothing matches; the message suggests the closest names.
    """
    forces = load_forces()
    wanted = area_key(name_or_code)
    for row in forces.itertuples(index=False):
        keys = {area_key(v) for v in (row.code, row.name, row.common_name, row.slug)}
        keys |= {k.removesuffix(" police").removesuffix(" constabulary") for k in list(keys)}
        if wanted in keys:
            return str(row.code)
    # The gazetteer knows more short forms ("Met", "TVP", "Avon & Somerset", Welsh names).
    try:
        area = resolve_area(f"{name_or_code} police")
    except UnknownAreaError:
        area = None
    if area is not None and area.kind == "force" and len(area.force_codes) == 1:
        return area.force_codes[0]
    names = list(forces["name"])
    close = difflib.get_close_matches(name_or_code, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownForceError(
        f"No police force area called {name_or_code!r}.{hint} "
        "Run 'servicemap forces' to list the 43 names and codes."
    )


def resolve_areas_served(text: str) -> tuple[list[Area], list[tuple[str, list[str]]]]:
    """Resolve an ``areas_served`` value: names separated by ``;``.

    Parameters
    ----------
    text
        The field as written, e.g. ``"Camden; Islington"``. Empty items are ignored.

    Returns
    -------
    tuple
        The resolved areas in the order written, and for each name that could not be
        resolved, the name as written (stripped) with up to three suggested accepted names.
    """
    areas: list[Area] = []
    unresolved: list[tuple[str, list[str]]] = []
    for item in text.split(";"):
        name = item.strip()
        if not area_key(name):
            continue
        result = _resolve(name)
        if isinstance(result, Area):
            areas.append(result)
        else:
            unresolved.append((name, result))
    return areas, unresolved


# How to ask for each reading of a name that has several: a qualifier the resolver accepts.
_ASK_FOR: dict[AreaKind, str] = {
    "force": "police",
    "district": "council",
    "county": "county",
    "region": "region",
}


def other_readings(text: str) -> list[tuple[Area, str]]:
    """Return the other places a bare area name could mean, and how to ask for each.

    A name that is both a force and a county or region (``"West Midlands"``, ``"Lincolnshire"``)
    resolves to the force (see Precedence). This lists the readings it did not take that cover
    different districts, each with a spelling that asks for it (``"West Midlands region"``,
    ``"Lincolnshire county"``); readings that cover the same districts as the one taken (Kent the
    force and Kent the county) are left out, since they change nothing.

    Parameters
    ----------
    text
        One area name as written.

    Returns
    -------
    list of tuple
        (area, spelling) pairs in precedence order; empty when the name is unknown, has one
        meaning, or carries a qualifier already.
    """
    key = area_key(text)
    meanings = _index().entries.get(key, {})
    if len(meanings) < 2:
        return []
    taken = meanings[_preferred_kind(meanings)]
    others: list[tuple[Area, str]] = []
    for kind in PRECEDENCE:
        area = meanings.get(kind)
        if area is None or area is taken or set(area.district_codes) == set(taken.district_codes):
            continue
        spelling = f"{text.strip()} {_ASK_FOR[kind]}"
        if kind in _meanings(area_key(spelling)):
            others.append((area, spelling))
    return others


def served_districts(areas: Iterable[Area]) -> tuple[str, ...]:
    """Return the district codes any of several areas covers.

    Parameters
    ----------
    areas
        Resolved areas.

    Returns
    -------
    tuple of str
        The union of their district codes, sorted.
    """
    return tuple(sorted({code for area in areas for code in area.district_codes}))


def served_forces(areas: Iterable[Area]) -> tuple[str, ...]:
    """Return the force codes any of several areas reaches.

    Parameters
    ----------
    areas
        Resolved areas.

    Returns
    -------
    tuple of str
        The union of their force codes, sorted.
    """
    return tuple(sorted({code for area in areas for code in area.force_codes}))


def wholly_served_forces(areas: Iterable[Area]) -> tuple[str, ...]:
    """Return the forces that several areas cover whole between them.

    Parameters
    ----------
    areas
        Resolved areas, e.g. all the districts of ``"Camden; Islington; ..."``.

    Returns
    -------
    tuple of str
        Sorted codes of the forces every district of which is wholly covered by at least one
        of the areas (32 London boroughs and the City of London cover the Metropolitan Police
        and the City of London force).
    """
    whole = {
        code
        for area in areas
        for code in area.district_codes
        if code not in area.partial_district_codes
    }
    return tuple(sorted(force for force, members in _force_districts().items() if members <= whole))


def gazetteer() -> pd.DataFrame:
    """Return every accepted area name with what it means.

    Returns
    -------
    pandas.DataFrame
        One row per accepted name and meaning, sorted by ``key``: ``key`` (the normalised
        name that is matched), ``name`` (the accepted spelling), ``area`` (the canonical display
        name it resolves to), ``kind``, ``code`` (ONS code, ``""`` for counties),
        ``district_count``, ``force_count`` and ``preferred`` (True for the meaning a bare name
        takes; a qualifier such as "region" or "county" reaches the others). Codes are included
        as accepted names. A fresh frame.
    """
    index = _index()
    rows = []
    for key, meanings in index.entries.items():
        preferred = _preferred_kind(meanings)
        for kind in PRECEDENCE:
            area = meanings.get(kind)
            if area is None:
                continue
            rows.append(
                {
                    "key": key,
                    "name": index.spellings[(key, kind)],
                    "area": area.name,
                    "kind": kind,
                    "code": area.code,
                    "district_count": len(area.district_codes),
                    "force_count": len(area.force_codes),
                    "preferred": kind == preferred,
                }
            )
    frame = pd.DataFrame(rows)
    order = {kind: rank for rank, kind in enumerate(PRECEDENCE)}
    frame["_rank"] = frame["kind"].map(order)
    return frame.sort_values(["key", "_rank"]).drop(columns="_rank").reset_index(drop=True)


def ambiguous_area_names(text: str) -> list[str]:
    """Return the names in an ``areas_served`` value that mean areas of different extent.

    A bare name that is, say, both a district and a county (``Durham``, ``Bristol``) is read
    as the first of :data:`PRECEDENCE`; a reviewer should check which was meant.

    Parameters
    ----------
    text
        The field as written, names separated by ``;``.

    Returns
    -------
    list of str
        Each such name as written, with the kinds it may mean, e.g. ``"Durham (force,
        district or county)"``; empty when every name has one extent.
    """
    found: list[str] = []
    for item in text.split(";"):
        name = item.strip()
        key = area_key(name)
        meanings = _meanings(key) if key else {}
        extents = {area.district_codes for area in meanings.values()}
        if len(extents) > 1:
            kinds = [kind for kind in PRECEDENCE if kind in meanings]
            found.append(f"{name} ({', '.join(kinds[:-1])} or {kinds[-1]})")
    return found


def accepted_names() -> tuple[dict[str, dict[AreaKind, Area]], tuple[_Qualifier, ...]]:
    """Return each accepted key's meanings (PRECEDENCE order) and the qualifiers, longest first."""
    meanings = {k: {c: m[c] for c in PRECEDENCE if c in m} for k, m in _index().entries.items()}
    return meanings, tuple(_QUALIFIERS)
