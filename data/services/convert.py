"""Convert the shared migrant victim services directory to servicemap's schema (run once).

Usage: ``python data/services/convert.py SOURCE.csv data/services/services.csv``

Every judgement made in the conversion is written down here, row by row, so that it can be
checked and repeated. No fact is added that the source row does not hold: columns are copied,
``town`` is placed in ``address`` (or in ``notes`` for a confidential row), ``organisation`` is
filled only where the row's own name says who runs the service, and ``location_confidential``
records a publication decision, not a fact about the service.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from servicemap.directory.schema import FIELDS

# Rows offering refuge or housing whose address is a published office, base or centre of the
# organisation (per the source's notes), not the accommodation: the address may be published.
# Every other row offering refuge or housing is confidential.
PUBLIC_OFFICE_OF_ACCOMMODATION_PROVIDER = {
    "sbs": "advice/resource centre (undated resource pack)",
    "ikwro": "postal PO Box (2011), not a building",
    "kalayaan": "office in the 2013-14 annual report",
    "humraaz": "the charity's base at Unity House reported in the news (2018)",
    "zinthiya-trust": "the trust's Bishop Street base (2016)",
    "bcwa-modern-slavery": "the charity's base on Victoria Street (2019)",
    "womens-aid-luton": "the office on Park Street West (news item)",
    "peterborough-womens-aid": "Anne's House women's centre, opened 2024",
    "bawso-cardiff": "head office in the 2011/12 annual report",
}

# Who runs the service, where the row's own name says so (the row is a service or project of
# another organisation). Rows that are the organisation itself leave ``organisation`` empty.
ORGANISATION = {
    "sbs-smv-scheme": "Southall Black Sisters",
    "lhawas": "Southall Black Sisters",
    "kmewo-southwark": "Kurdish and Middle Eastern Women's Organisation (KMEWO)",
    "abonsh-house": "Safety4Sisters North West with Salford Women's Aid",
    "manchester-maya-project": "Saheli",
    "manchester-womens-aid": "Manchester Women's Aid",
    "beauty-for-ashes": "Beauty for Ashes Refuges",
    "hope-for-justice": "Hope for Justice",
    "leeds-womens-aid-trafficking": "Leeds Women's Aid",
    "bcwa-modern-slavery": "Black Country Women's Aid",
    "womens-aid-luton": "Women's Aid in Luton",
    "bedfordshire-sawr": "Stonewater",
    "dahlia-project": "Peterborough Women's Aid",
    "sos-dap-ethnic-minority": "SOS Domestic Abuse Projects",
    "stop-domestic-abuse": "Stop Domestic Abuse",
    "reducing-the-risk": "Reducing the Risk",
    "refuge-african-caribbean": "Refuge",
    "bawso-cardiff": "BAWSO",
    "bawso-newport": "BAWSO",
    "bawso-swansea": "BAWSO",
    "bawso-wrexham": "BAWSO",
    "bawso-merthyr": "BAWSO",
    "bawso-migrant-fund": "BAWSO",
    "smef-active-communities": "Surrey Minority Ethnic Forum (SMEF)",
    "bwa-asian-refuge": "Berkshire Women's Aid",
    "yellow-door-bme": "Yellow Door",
    "justice-and-care-navigators": "Justice and Care",
}

# ``delivery`` only where the source says how the service is delivered. A service whose only
# type is a helpline is delivered remotely.
DELIVERY = {"karma-nirvana": "remote"}


def _accommodation(row: dict[str, str]) -> bool:
    types = {t.strip() for t in row["service_types"].split(";")}
    return bool(types & {"refuge", "housing"})


def convert_row(row: dict[str, str]) -> dict[str, str]:
    """Return one source row in servicemap's schema."""
    confidential = _accommodation(row) and row["id"] not in PUBLIC_OFFICE_OF_ACCOMMODATION_PROVIDER
    town, street = row["town"].strip(), row["address"].strip()
    notes = row["notes"].strip()
    address = street
    if confidential:
        if street or row["postcode"]:  # pragma: no cover - the source holds none
            raise SystemExit(f"{row['id']}: confidential row with an address; check it by hand")
        if town:
            notes += f" Town as given in the source (the provider's base): {town}."
    elif town and town.lower() not in street.lower():
        address = f"{street}, {town}" if street else town
    return {
        "id": row["id"],
        "name": row["name"],
        "organisation": ORGANISATION.get(row["id"], ""),
        "website": row["website"],
        "phone": "",
        "address": address,
        "postcode": row["postcode"],
        "latitude": "",
        "longitude": "",
        "location_confidential": "yes" if confidential else "no",
        "scope": row["scope"],
        "areas_served": row["areas_served"],
        "service_types": row["service_types"],
        "delivery": DELIVERY.get(row["id"], ""),
        "communities": row["communities"],
        "languages": row["languages"],
        "by_and_for": row["by_and_for"],
        "nrpf_support": row["nrpf_support"],
        "status": row["status"],
        "last_seen": row["last_seen"],
        "source_url": row["source_url"],
        "notes": notes,
    }


def main(source: Path, target: Path) -> None:
    """Convert ``source`` (the shared directory) into ``target`` (servicemap's schema)."""
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ids = {row["id"] for row in rows}
    named = set(PUBLIC_OFFICE_OF_ACCOMMODATION_PROVIDER) | set(ORGANISATION) | set(DELIVERY)
    unknown = named - ids
    if unknown:
        raise SystemExit(f"ids not in the source: {sorted(unknown)}")
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(convert_row(row) for row in rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
