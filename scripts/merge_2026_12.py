"""Merge the December 2026 research revision into the bundled directory and fill ``focus``.

Reproduce ``data/services/services.csv`` from the November 2026 directory (commit f3e3d6a)::

    git show f3e3d6a:data/services/services.csv > /tmp/services-2026-11.csv
    python scripts/merge_2026_12.py /tmp/services-2026-11.csv \\
        ../shared/data/services/2026-12 data/services/services.csv

It prints the change log. The merge rules are :func:`servicemap.directory.merge.merge_services`
(updates fill only the fields they give and append their notes; a replaced ``source_url`` is
kept in the notes; a row an update makes confidential loses its address and postcode). The
``focus`` of each row is judged below from its notes and sources (``docs/schema.md`` defines
the values); the doubtful judgements carry a comment.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from servicemap._atomic import atomic_write_text
from servicemap._csv import csv_text
from servicemap.directory.merge import merge_services

NOTE_PREFIX = "December 2026 revision:"

DOMESTIC_ABUSE = """
sbs sbs-smv-scheme lhawas lawrs lawa imece kmewo kmewo-southwark ikwro ashiana-network kiran
asha-projects awrc nia jwa lbwp sistah-space aanchal al-hasaniya safety4sisters abonsh-house
saheli manchester-maya-project manchester-womens-aid beauty-for-ashes humraaz savera-uk
hyndburn-rv-dv-team angelou-centre halo-project karma-nirvana apna-haq ashiana-sheffield
anah-project panahghar zinthiya-trust roshni-birmingham sikh-womens-aid phoebe
luton-all-womens-centre womens-aid-luton bedfordshire-sawr peterborough-womens-aid dahlia-project
sos-dap-ethnic-minority stop-domestic-abuse reducing-the-risk refuge-african-caribbean
bawso-cardiff bawso-newport bawso-swansea bawso-wrexham bawso-merthyr bawso-migrant-fund maanzil
hull-sisters zimwomen bwa-asian-refuge yellow-door-bme dash-charity-bame-idva mwn-helpline
forced-marriage-unit wm-fm-hba-consortium-helpline jaikara bcwa-fm-hbv leicestershire-gate
herts-ccsu-hbv-worker nour-dv respeito sharan-project freedom-charity opoka opoka-safe-houses
vesta-sfs europia-vesta-manchester plymouth-pdas-bme-access refuge-vietnamese-chinese-outreach
gm-by-and-for-consortium-hub nestac olive-pathway rochdale-womens-welfare-association
awrc-pact-harmful-practices one-voice-4-travellers
"""
# Doubtful domestic_abuse: yellow-door-bme (a domestic and sexual abuse charity; its BME
# strand includes an ISVA service), nestac (FGM, honour-based abuse and domestic servitude),
# rochdale-womens-welfare-association (VAWG funding, but GMCA calls it a community
# organisation), freedom-charity (forced marriage and FGM), zimwomen (a support group, one old
# source), mwn-helpline, jwa (faith-community services whose work is domestic abuse),
# leicestershire-gate and one-voice-4-travellers (domestic abuse services for Gypsy and
# Traveller women: minoritised, not migrant; see `communities`).
SEXUAL_VIOLENCE = """
bradford-rape-crisis-jyoti jasmine-house-leicester norfolk-harbour-isva-hidden-victims
survivors-network-sussex
"""
TRAFFICKING = """
causeway hope-for-justice snowdrop-project leeds-womens-aid-trafficking bcwa-modern-slavery
medaille-trust unseen justice-and-care-navigators migrant-help-modern-slavery
salvation-army-msvcc helen-bamber hibiscus
"""
# Doubtful trafficking: helen-bamber (also torture and other extreme abuses), hibiscus
# (foreign national women in prison and detention; an NRM first responder).
FGM = """
forward whfs bwhafs mojatu-foundation integrate-uk daughters-of-eve national-fgm-centre
nspcc-fgm-helpline bawso-fgm-service bswa-fgm
"""
# Doubtful fgm: integrate-uk (also honour-based abuse and forced marriage campaigning).
LEGAL_IMMIGRATION = "rights-of-women kalayaan coram-clc-migrant-children gmiau"
# Doubtful legal_immigration: rights-of-women (women's legal advice lines, much of it on
# abuse), kalayaan (immigration advice and rights for migrant domestic workers, including
# trafficked ones: could be trafficking).
NRPF_GENERAL = "praxis nrpf-network project-17"
COMMUNITY = """
hopscotch wrw kanlungan fdwa voice-domestic-workers mewso sawn shantona refugee-women-bristol
smef-active-communities flashy-wings-ministry lighthouse-orthodox-jewish refugee-women-connect
leeds-gate wai-yin-society
"""
# Doubtful community: hopscotch, mewso and shantona (women's centres with a domestic abuse
# strand among general advice), sawn (thin evidence; FGM awareness), fdwa (hosting domestic
# workers fleeing abusive employers: could be trafficking).

FOCUS_BY_ID: dict[str, str] = {
    service_id: focus
    for focus, ids in (
        ("domestic_abuse", DOMESTIC_ABUSE),
        ("sexual_violence", SEXUAL_VIOLENCE),
        ("trafficking", TRAFFICKING),
        ("fgm", FGM),
        ("legal_immigration", LEGAL_IMMIGRATION),
        ("nrpf_general", NRPF_GENERAL),
        ("community", COMMUNITY),
    )
    for service_id in ids.split()
}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def main(old: Path, revision: Path, new: Path) -> None:
    """Write ``new``: ``old`` merged with the revision folder's two files, with ``focus``."""
    merged, log = merge_services(
        _read(old),
        additions=_read(revision / "additions.csv"),
        updates=_read(revision / "updates.csv"),
        note_prefix=NOTE_PREFIX,
    )
    unjudged = sorted(set(merged["id"]) - set(FOCUS_BY_ID))
    unknown = sorted(set(FOCUS_BY_ID) - set(merged["id"]))
    if unjudged or unknown:
        sys.exit(f"focus not judged for {unjudged}; judged but not in the directory: {unknown}")
    merged["focus"] = merged["id"].map(FOCUS_BY_ID)
    atomic_write_text(new, csv_text(merged))
    print("\n".join(log))
    print(f"{len(merged)} services written to {new}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python scripts/merge_2026_12.py OLD.csv REVISION_FOLDER NEW.csv")
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
