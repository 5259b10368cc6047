#!/usr/bin/python3
"""build_species_reference.py - derive data/species/species_reference.csv.

What: one row per plant species (species rank, canonical binomial without
authors) with family, genus and trait flags, built from the real lists under
../shared/data:

  floritaly/ckl_data.csv          Italian checklist 1.11.0 (MIT): every
                                  species-rank taxon; family; endemic (END=E);
                                  alien (ESO=N neophyte / A archaeophyte /
                                  Alien); invasive (status_naz_aliene=INV,
                                  rilevanza_unionale=SI); Italian Red List;
                                  presence in the 20 regions (specialist proxy)
  eu_policy_species/habitats_directive_art17_plants.csv (CC BY 4.0)
                                  habitats_directive flag
  eu_policy_species/ias_union_concern_plants.csv (CC BY 4.0)
                                  invasive flag (EU list of Union concern)
  alien_plants_belgium/{taxon,distribution}.csv (CC0)
                                  invasive flag (degreeOfEstablishment=invasive)
  eu_forest_tree_species/jrc_trees.csv (MIT)
  eu_forest_occurrences/species_catalog.json (EU-Forest, CC BY 4.0)
                                  tree flag

Why: the catalog, the synthetic generator and the report need real species
names and real traits; this script is the one documented place where the
rules live (data/species/README.md restates them).

Output layout (UTF-8, LF, RFC 4180 quoting only where needed), sorted by
scientific_name in Unicode code-point order; id = 1..N in that order, so ids
are stable as long as the inputs do not change:

  id, scientific_name, genus, family, habitats_directive, redlist, invasive,
  tree, endemic, specialist, alien, it_regions, geoplant_id, gbif_key, sources

Deterministic: no dict-order or time dependence; the same inputs give the same
bytes. Standard library only (csv, gzip, json, unicodedata). Run with
/usr/bin/python3 tools/build_species_reference.py --shared ../shared --out data/species
"""

import argparse
import csv
import gzip
import io
import json
import os
import re
import sys
import unicodedata

# The 20 Italian administrative regions as columns of ckl_data.csv.
REGIONS = ("ABR BAS CAL CAM EMR FVG LAZ LIG LOM MAR MOL PIE PUG SAR SIC "
           "TAA TOS UMB VDA VEN").split()

# Specialist proxy: native species present in at most this many regions.
SPECIALIST_MAX_REGIONS = 3

# GeoPlant species ids known from third-party code (REFERENCE.md section 3).
GEOPLANT_IDS = {
    "Pinus sylvestris": 8987,
    "Fagus sylvatica": 5314,
    "Quercus robur": 9324,
    "Picea abies": 1283,
    "Abies alba": 6574,
    "Betula pendula": 8079,
}

# Names used by the non-Italian lists that the checklist accepts under another
# name (checked by hand against ckl_data.csv; key = the other list's name).
# Applied before matching, so the flag lands on the checklist's species.
SYNONYMS = {
    "Alnus viridis": "Alnus alnobetula",          # JRC trees
    "Platanus acerifolia": "Platanus hispanica",  # EU-Forest
    "Cupressus arizonica": "Hesperocyparis arizonica",  # EU-Forest
    "Pueraria montana": "Pueraria lobata",        # IAS list: P. montana var. lobata
    "Adenophora lilifolia": "Adenophora liliifolia",  # Directive spelling
}

REDLIST_OK = {"CR", "EN", "VU", "NT", "LC", "DD", "EX", "EW", "RE"}

INFRA_MARKERS = ("subsp.", "var.", "nothosubsp.", "nothovar.", "f.", "forma",
                 "ssp.", "cv.")

EPITHET_RE = re.compile(r"^[a-z\u00e0-\u00ff][a-z\u00e0-\u00ff-]*$")
GENUS_RE = re.compile(r"^\u00d7?[A-Z][A-Za-z\u00c0-\u00ff-]+$")


def die(msg):
    sys.stderr.write("build_species_reference: %s\n" % msg)
    sys.exit(1)


def key_of(name):
    """Match key: no diacritics, no hybrid sign, lower case, single spaces."""
    s = unicodedata.normalize("NFKD", name.replace("\u00d7", " "))
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return " ".join(s.lower().split())


def parse_name(full):
    """Splits a scientific name with authors into (binomial, infra_epithet).

    Returns (None, None) when the name is not at species rank or below
    (a section, "sp.", a hybrid formula "A x B" or a genus alone).
    binomial keeps the hybrid sign attached ("Salix \u00d7fragilis",
    "\u00d7Triticosecale rimpaui"); infra_epithet is the epithet after
    subsp./var./... or None for a species-rank name.
    """
    toks = full.replace("\u00a0", " ").split()
    if len(toks) < 2:
        return None, None
    genus = toks[0]
    if genus == "\u00d7" and len(toks) >= 3:  # "× Genus epithet"
        genus = "\u00d7" + toks[1]
        toks = [genus] + toks[2:]
    if not GENUS_RE.match(genus):
        return None, None
    i = 1
    hybrid = ""
    if toks[i] in ("x", "\u00d7"):
        hybrid = "\u00d7"
        i += 1
        if i >= len(toks):
            return None, None
    ep = toks[i]
    if ep.startswith("\u00d7"):
        hybrid, ep = "\u00d7", ep[1:]
    if not EPITHET_RE.match(ep) or ep in ("sp.", "spp.", "sect.", "aggr.", "agg."):
        return None, None
    rest = toks[i + 1:]
    # A hybrid formula "Genus a Auth. × Genus b Auth." is not one species.
    if "\u00d7" in rest:
        return None, None
    infra = None
    for j, t in enumerate(rest):
        if t in INFRA_MARKERS and j + 1 < len(rest):
            cand = rest[j + 1]
            if EPITHET_RE.match(cand):
                infra = cand
                break
    return "%s %s%s" % (genus, hybrid, ep), infra


def epithet_same(a, b):
    """True when two epithets differ only by a Latin ending (gender change
    after a genus transfer: palustris/palustre, canariensis/canariense)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n >= max(4, min(len(a), len(b)) - 3)


def read_csv(path):
    if not os.path.exists(path):
        die("missing input %s" % path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        return list(csv.DictReader(f))


class Species:
    __slots__ = ("name", "family", "directive", "redlist", "invasive", "tree",
                 "endemic", "alien", "regions", "in_checklist", "gbif_key",
                 "sources")

    def __init__(self, name):
        self.name = name
        self.family = ""
        self.directive = 0
        self.redlist = ""
        self.invasive = 0
        self.tree = 0
        self.endemic = 0
        self.alien = 0
        self.regions = set()
        self.in_checklist = False
        self.gbif_key = ""
        self.sources = set()


class Table:
    def __init__(self):
        self.by_key = {}
        self.genus_family = {}

    def get(self, name):
        """The species under name (or under its SYNONYMS entry), or None."""
        return self.by_key.get(key_of(SYNONYMS.get(name, name)))

    def add(self, name, family=""):
        name = SYNONYMS.get(name, name)
        sp = Species(name)
        sp.family = family or self.genus_family.get(name.split()[0], "")
        self.by_key[key_of(name)] = sp
        return sp

    def genus_members(self, genus):
        g = key_of(genus)
        return [s for k, s in sorted(self.by_key.items()) if k.split()[0] == g]


# ==== Italian checklist ===================================================

def load_checklist(tab, shared):
    rows = read_csv(os.path.join(shared, "data/floritaly/ckl_data.csv"))
    groups = {}
    order = []
    skipped = 0
    for r in rows:
        binom, infra = parse_name(r["entita"].strip())
        if binom is None:
            skipped += 1
            continue
        k = key_of(binom)
        if k not in groups:
            groups[k] = (binom, [])
            order.append(k)
        groups[k][1].append((infra, r))
    for k in order:
        binom, members = groups[k]
        sp = tab.add(binom)
        sp.in_checklist = True
        sp.sources.add("floritaly")
        species_rows = [r for infra, r in members if infra is None]
        fams = sorted(set(r["famiglia_checklist"].strip() for _, r in members
                          if r["famiglia_checklist"].strip()))
        sp.family = fams[0] if fams else ""
        # Endemic / alien / red list come from the species-rank row when the
        # checklist has one; otherwise from the infraspecific rows: alien when
        # all are alien; endemic when all are endemic AND one of them is the
        # nominate subspecies (so "Acer cappadocicum subsp. lobelii", an
        # endemic subspecies of an Asian species, does not make the species
        # endemic); the red list only when the species has a single row.
        basis = species_rows if species_rows else [r for _, r in members]
        sp.endemic = int(all(r["END"].strip() == "E" for r in basis))
        if not species_rows:
            ep = binom.split()[1].lstrip("\u00d7")
            if not any(infra == ep for infra, _ in members):
                sp.endemic = 0
        sp.alien = int(all(r["ESO"].strip() != "" for r in basis))
        rl_rows = species_rows if species_rows else (
            [r for _, r in members] if len(members) == 1 else [])
        cats = sorted(set(norm_redlist(r["lista_rossa"]) for r in rl_rows) - {""})
        sp.redlist = worst(cats)
        for _, r in members:
            if r["status_naz_aliene"].strip() == "INV":
                sp.invasive = 1
            if r["rilevanza_unionale"].strip() == "SI":
                sp.invasive = 1
                sp.sources.add("floritaly_union_concern")
            for reg in REGIONS:
                v = r[reg].strip().strip("()").strip()
                if v.startswith("P"):
                    sp.regions.add(reg)
        if sp.family:
            tab.genus_family.setdefault(binom.split()[0], sp.family)
    return len(rows), skipped


def norm_redlist(v):
    v = v.strip().upper()
    if v.startswith("CR"):  # CR(PE): critically endangered, possibly extinct
        return "CR"
    return v if v in REDLIST_OK else ""


RL_ORDER = ["EX", "EW", "RE", "CR", "EN", "VU", "NT", "LC", "DD"]


def worst(cats):
    for c in RL_ORDER:
        if c in cats:
            return c
    return ""


# ==== EU policy lists (GBIF-matched) ======================================

def policy_candidates(r):
    """Names under which a policy-list row may appear in the table: the
    verbatim binomial, GBIF's spelling of it (fuzzy matches fix typos) and,
    for a synonym that is a mere genus transfer, the accepted name."""
    names = []
    vb, vinfra = parse_name(r["verbatimScientificName"].strip())
    if vb is None or vinfra is not None:
        return names, vb, vinfra
    names.append(vb)
    if r["rank"] == "SPECIES" and r["canonicalName"].strip():
        cn, _ = parse_name(r["canonicalName"].strip())
        if cn and cn not in names:
            names.append(cn)
    acc = r["species"].strip()
    if r["status"] == "SYNONYM" and acc and len(acc.split()) == 2:
        if epithet_same(vb.split()[-1].lstrip("\u00d7"), acc.split()[1]):
            names.append(acc)
    return names, vb, vinfra


def load_policy(tab, shared, fname, source, flag):
    rows = read_csv(os.path.join(shared, "data/eu_policy_species", fname))
    stats = {"rows": len(rows), "matched": 0, "added": 0, "genus": 0, "infra_skipped": 0}
    for r in rows:
        if r["kingdom"] != "Plantae":
            continue
        vtoks = r["verbatimScientificName"].split()
        if len(vtoks) == 2 and vtoks[1] in ("spp.", "sp."):
            # "Lycopodium spp." (Annex V lists whole genera): every species
            # of that genus in the table.
            stats["genus"] += 1
            for sp in tab.genus_members(vtoks[0]):
                sp.sources.add(source)
                if flag == "directive":
                    sp.directive = 1
                else:
                    sp.invasive = 1
            continue
        names, vb, vinfra = policy_candidates(r)
        if vb is None:
            stats["infra_skipped"] += 1
            continue
        if vinfra is not None:
            # An infraspecific entry. Directive: the species is not flagged
            # (a listed subspecies does not protect the whole species).
            # Invasive: flag the species unless it is native in Italy.
            stats["infra_skipped"] += 1
            if flag == "invasive":
                sp = tab.get(vb)
                if sp is None:
                    sp = tab.add(vb, r["family"].strip())
                    sp.alien = 1
                    stats["added"] += 1
                if sp.alien or not sp.in_checklist:
                    sp.invasive = 1
                    sp.sources.add(source)
            continue
        sp = None
        for n in names:
            sp = tab.get(n)
            if sp is not None:
                stats["matched"] += 1
                break
        if sp is None:
            name = names[1] if len(names) > 1 and r["matchType"] == "FUZZY" else names[0]
            sp = tab.add(name, r["family"].strip())
            if flag == "invasive":
                sp.alien = 1
            stats["added"] += 1
        if not sp.family and r["family"].strip():
            sp.family = r["family"].strip()
        if r["key"].strip() and not sp.gbif_key:
            sp.gbif_key = r["key"].strip()
        sp.sources.add(source)
        if flag == "directive":
            sp.directive = 1
        else:
            sp.invasive = 1
    return stats


# ==== Belgian alien plants =================================================

def load_belgium(tab, shared):
    base = os.path.join(shared, "data/alien_plants_belgium")
    taxa = {r["taxonID"]: r for r in read_csv(os.path.join(base, "taxon.csv"))}
    inv_ids = sorted(set(r["taxonID"] for r in read_csv(os.path.join(base, "distribution.csv"))
                         if r["degreeOfEstablishment"].strip() == "invasive"))
    stats = {"invasive_taxa": len(inv_ids), "matched": 0, "added": 0, "skipped": 0}
    for tid in inv_ids:
        t = taxa.get(tid)
        if t is None:
            stats["skipped"] += 1
            continue
        binom, infra = parse_name(t["scientificName"].strip())
        if binom is None:
            stats["skipped"] += 1
            continue
        sp = tab.get(binom)
        if sp is not None:
            stats["matched"] += 1
            if infra is not None and sp.in_checklist and not sp.alien:
                # e.g. Lamium galeobdolon subsp. argentatum: the alien
                # subspecies of a native species does not make it invasive.
                stats["skipped"] += 1
                continue
        else:
            sp = tab.add(binom, t["family"].strip())
            sp.alien = 1
            stats["added"] += 1
        sp.invasive = 1
        sp.sources.add("be_alien_invasive")
    return stats


# ==== tree lists ===========================================================

def tree_names(shared):
    out = []
    for r in read_csv(os.path.join(shared, "data/eu_forest_tree_species/jrc_trees.csv")):
        for part in r["latin_name"].split(" and "):
            out.append(("jrc_trees", part.strip()))
    path = os.path.join(shared, "data/eu_forest_occurrences/species_catalog.json")
    if not os.path.exists(path):
        die("missing input %s" % path)
    with open(path, encoding="utf-8") as f:
        for n in json.load(f):
            out.append(("eu_forest", n.strip()))
    return out


def load_trees(tab, shared):
    stats = {"names": 0, "matched": 0, "added": 0, "genus_rows": 0, "genus_members": 0}
    for source, n in tree_names(shared):
        stats["names"] += 1
        toks = n.split()
        if len(toks) == 2 and toks[1] in ("spp.", "sp."):
            # "Abies spp.": every species of the genus in the table.
            stats["genus_rows"] += 1
            for sp in tab.genus_members(toks[0]):
                sp.tree = 1
                sp.sources.add(source)
                stats["genus_members"] += 1
            continue
        binom, _ = parse_name(n)
        if binom is None:
            continue
        sp = tab.get(binom)
        if sp is None:
            sp = tab.add(binom)
            stats["added"] += 1
        else:
            stats["matched"] += 1
        sp.tree = 1
        sp.sources.add(source)
    return stats


# ==== output ===============================================================

def write_table(tab, out_dir):
    species = sorted(tab.by_key.values(), key=lambda s: s.name)
    names = [s.name for s in species]
    if len(set(names)) != len(names):
        die("duplicate scientific names in the output")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "scientific_name", "genus", "family", "habitats_directive",
                "redlist", "invasive", "tree", "endemic", "specialist", "alien",
                "it_regions", "geoplant_id", "gbif_key", "sources"])
    counts = {"species": 0, "directive": 0, "invasive": 0, "tree": 0,
              "endemic": 0, "specialist": 0, "alien": 0, "redlist": 0,
              "geoplant_id": 0, "gbif_key": 0, "no_family": 0}
    for i, s in enumerate(species, 1):
        nreg = len(s.regions)
        specialist = int(s.in_checklist and not s.alien and 1 <= nreg <= SPECIALIST_MAX_REGIONS)
        gid = GEOPLANT_IDS.get(s.name, "")
        w.writerow([i, s.name, s.name.split()[0], s.family, s.directive, s.redlist,
                    s.invasive, s.tree, s.endemic, specialist, s.alien,
                    nreg if s.in_checklist else "", gid, s.gbif_key,
                    ";".join(sorted(s.sources))])
        counts["species"] += 1
        counts["directive"] += s.directive
        counts["invasive"] += s.invasive
        counts["tree"] += s.tree
        counts["endemic"] += s.endemic
        counts["specialist"] += specialist
        counts["alien"] += s.alien
        counts["redlist"] += bool(s.redlist)
        counts["geoplant_id"] += bool(gid)
        counts["gbif_key"] += bool(s.gbif_key)
        counts["no_family"] += not s.family
    os.makedirs(out_dir, exist_ok=True)
    final = os.path.join(out_dir, "species_reference.csv")
    tmp = final + ".tmp-%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default="../shared", help="shared folder holding data/")
    ap.add_argument("--out", default="data/species", help="output folder")
    a = ap.parse_args()
    tab = Table()
    nrows, skipped = load_checklist(tab, a.shared)
    n_ckl = len(tab.by_key)
    hd = load_policy(tab, a.shared, "habitats_directive_art17_plants.csv", "hd_art17", "directive")
    ias = load_policy(tab, a.shared, "ias_union_concern_plants.csv", "ias_union", "invasive")
    be = load_belgium(tab, a.shared)
    tr = load_trees(tab, a.shared)
    missing = [n for n in GEOPLANT_IDS if tab.get(n) is None]
    if missing:
        die("GeoPlant reference species missing: %s" % ", ".join(missing))
    path, counts = write_table(tab, a.out)
    sys.stderr.write("checklist: %d rows, %d not at species rank or below, %d species\n"
                     % (nrows, skipped, n_ckl))
    sys.stderr.write("habitats directive: %s\n" % hd)
    sys.stderr.write("IAS union list: %s\n" % ias)
    sys.stderr.write("Belgian invasive: %s\n" % be)
    sys.stderr.write("trees: %s\n" % tr)
    sys.stderr.write("wrote %s: %s\n" % (path, counts))


if __name__ == "__main__":
    main()
