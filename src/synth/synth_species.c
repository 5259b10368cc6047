/*
 * synth_species.c - the species of the synthetic region: which real species
 * are drawn from the reference table, their niches, the calibration of
 * their prevalence, and the truth (a probability raster per species).
 *
 * Selection: a few key species of Mediterranean and temperate vegetation
 * first (up to a quarter of the draw; they are made 2.5 x commoner, as the
 * dominants of real vegetation are), then
 * quotas for trees, shrubs, helophytes, invasives, endemics and Habitats
 * Directive species, then the rest by weighted sampling without
 * replacement that favours widespread species (weight 1 + number of
 * Italian regions). Extinct species (EX, EW, RE) are never drawn.
 *
 * Niche (docs/synthetic.md, "Species"): each species has an anchor cell,
 * drawn among land cells weighted by its land-cover affinity cubed, and
 * Gaussian responses centred on the anchor's environment (mean annual
 * temperature, annual precipitation, wetness, substrate) with widths set by
 * its traits (specialists narrow, rare species narrower; climate belts of
 * about +-1 deg C, so that species turn over along the region's gradients
 * as real ones do along a continent's), a steep land-cover affinity
 * profile from its group (tree, shrub, helophyte, herb by family; profile
 * ^ AFF_CONTRAST: most species live in one or two classes), a weak
 * substrate response (substrate shows in imagery only as soil colour),
 * attraction to roads and towns (invasives, ruderals), avoidance of them
 * (threatened species), a Gaussian range around the anchor (endemics), a
 * coastal decay (salt-marsh and dune species) and two shared smooth random
 * fields with small weights (what no covariate explains). The strong terms
 * are the ones the model inputs show (land cover in the imagery, climate in
 * the climate cube), as in real vegetation, so that a model can get close
 * to the truth: on the default region the truth scores a macro AUC of
 * 0.95 on the PA surveys, the demo Deep-SDM 0.935 (docs/sdm.md).
 *
 * Calibration: pmax = min(0.95, k * commonness), with one k for all species
 * found by bisection so that the mean expected richness over 3,000 cells of
 * semi-natural land cover equals min(20, 0.2 * species).
 *
 * Truth: species are processed in batches of 64; for a batch every cell's
 * p is computed (rows in parallel), quantised to uint8 p * 250 (255 = sea,
 * nodata), summed into the richness and the per-cell dominant tree and
 * helophyte. When all species fit in memory (species x cells <= 1 GB) the
 * caller keeps them and writes the COGs later, alongside the imagery;
 * otherwise each batch is written at once (species in parallel) and memory
 * stays at 64 x cells bytes whatever the species count.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpn/csv.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/util.h"
#include "synth_priv.h"

#define TRUTH_BATCH 64
#define CALIB_CELLS 3000
#define ANCHOR_CELLS 20000
/* Land-cover contrast: the normalised affinity profile is raised to this
 * power, so a class at half the best one keeps 1.6 % of it. */
#define AFF_CONTRAST 6.0
/* Standard deviation of the weights of the two shared random fields. */
#define FIELD_WEIGHT_SD 0.2

/* ==== name lists ========================================================= */

static const char *const KEY_SPECIES[] = {
    "Quercus ilex", "Quercus pubescens", "Pinus halepensis", "Phragmites australis", "Robinia pseudoacacia",
    "Ailanthus altissima", "Quercus coccifera", "Pistacia lentiscus", "Fraxinus angustifolia", "Populus alba",
    "Castanea sativa", "Pinus pinaster", "Pinus pinea", "Fagus sylvatica", "Olea europaea", "Arbutus unedo",
    "Juniperus oxycedrus", "Cistus monspeliensis", "Thymus vulgaris", "Salvia rosmarinus", "Rosmarinus officinalis",
    "Brachypodium retusum", "Arundo donax", "Carpobrotus edulis", "Typha latifolia", "Ulmus minor",
    "Acer monspessulanum", "Ammophila arenaria", "Dactylis glomerata", "Senecio inaequidens", "Ludwigia grandiflora",
    "Cortaderia selloana", "Salix alba", "Alnus glutinosa", "Quercus suber", "Juncus maritimus",
    "Sarcocornia fruticosa", "Limonium narbonense", "Carex riparia", "Erigeron canadensis", NULL};

static const char *const HELO_GENERA[] = {
    "Carex", "Juncus", "Typha", "Phragmites", "Scirpus", "Schoenoplectus", "Bolboschoenus", "Eleocharis",
    "Sparganium", "Alisma", "Sagittaria", "Butomus", "Potamogeton", "Nymphaea", "Nuphar", "Lemna", "Myriophyllum",
    "Ceratophyllum", "Callitriche", "Glyceria", "Cladium", "Cyperus", "Eriophorum", "Caltha", "Nasturtium",
    "Oenanthe", "Berula", "Ludwigia", "Elodea", "Azolla", "Utricularia", "Menyanthes", "Hippuris", "Samolus",
    "Baldellia", "Zannichellia", "Ruppia", "Najas", "Trapa", "Hydrocharis", "Stratiotes", "Lythrum", "Lycopus",
    "Salicornia", "Sarcocornia", "Arthrocnemum", "Halimione", "Limonium", "Suaeda", "Spartina", "Puccinellia",
    "Arundo", "Veronica beccabunga", "Veronica anagallis-aquatica", "Iris pseudacorus", "Mentha aquatica",
    "Epilobium hirsutum", "Filipendula ulmaria", "Equisetum fluviatile", "Equisetum palustre",
    "Lysimachia vulgaris", "Galium palustre", "Ranunculus aquatilis", "Ranunculus trichophyllus",
    "Apium nodiflorum", "Persicaria amphibia", "Rorippa amphibia", "Tripolium pannonicum", "Limbarda crithmoides",
    NULL};

static const char *const SALT_OR_DUNE_GENERA[] = {
    "Salicornia", "Sarcocornia", "Arthrocnemum", "Halimione", "Limonium", "Suaeda", "Spartina", "Puccinellia",
    "Ammophila", "Cakile", "Otanthus", "Pancratium", "Crucianella", "Echinophora", "Carpobrotus", "Eryngium maritimum",
    "Euphorbia paralias", "Calystegia soldanella", "Elymus farctus", "Medicago marina", "Juncus maritimus",
    "Juncus acutus", "Tripolium pannonicum", "Limbarda crithmoides", "Crithmum", "Polygonum maritimum", NULL};

static const char *const SHRUB_GENERA[] = {
    "Cistus", "Rosmarinus", "Salvia rosmarinus", "Thymus", "Lavandula", "Erica", "Calluna", "Genista", "Cytisus",
    "Spartium", "Ulex", "Juniperus", "Pistacia", "Phillyrea", "Rhamnus", "Rubus", "Rosa", "Crataegus",
    "Prunus spinosa", "Cornus", "Ligustrum", "Viburnum", "Lonicera", "Sambucus", "Euonymus", "Coronilla",
    "Dorycnium", "Helichrysum", "Santolina", "Osyris", "Myrtus", "Buxus", "Daphne", "Smilax", "Clematis",
    "Hedera", "Jasminum", "Coriaria", "Amelanchier", "Cotoneaster", "Berberis", "Vaccinium", "Rhododendron",
    "Corylus", "Salix", "Tamarix", "Atriplex halimus", "Anthyllis cytisoides", "Calicotome", "Retama",
    "Bupleurum fruticosum", "Globularia alypum", "Fumana", "Halimium", "Staehelina", "Ruscus", "Asparagus acutifolius",
    "Quercus coccifera", "Arbutus", "Teucrium polium", "Satureja montana", "Lycium", "Paliurus", "Colutea",
    "Emerus", "Pyracantha", "Spiraea", "Ribes", "Frangula", "Hippophae", "Cneorum", "Anagyris", NULL};

static const char *const CONIFER_GENERA[] = {"Pinus",  "Abies", "Picea",   "Larix",       "Cedrus",
                                             "Cupressus", "Juniperus", "Taxus", "Pseudotsuga", "Thuja",
                                             "Chamaecyparis", "Sequoia", "Tetraclinis", "Cryptomeria", NULL};
static const char *const EVERGREEN_BROADLEAF[] = {
    "Quercus ilex", "Quercus suber", "Quercus coccifera", "Quercus rotundifolia", "Quercus calliprinos",
    "Olea", "Ceratonia", "Laurus", "Arbutus", "Ilex", "Eucalyptus", "Phillyrea", "Citrus", "Myrtus", "Nerium",
    "Magnolia", "Pittosporum", "Ligustrum lucidum", "Acacia", "Prunus laurocerasus", "Prunus lusitanica", NULL};
static const char *const RIPARIAN_TREES[] = {"Alnus", "Salix", "Populus alba", "Populus nigra", "Populus canescens",
                                             "Fraxinus angustifolia", "Ulmus minor", "Platanus", "Tamarix",
                                             "Ulmus laevis", "Acer negundo", NULL};

/* Matches "Genus" against the genus, or "Genus species" against the start
 * of the scientific name. */
static int name_in(const struct syn_species *s, const char *const *list)
{
    for (const char *const *p = list; *p; p++) {
        if (strchr(*p, ' ')) {
            size_t n = strlen(*p);
            if (!strncasecmp(s->name, *p, n) && (s->name[n] == 0 || s->name[n] == ' ')) return 1;
        } else if (!strcasecmp(s->genus, *p)) {
            return 1;
        }
    }
    return 0;
}

static int family_in(const struct syn_species *s, const char *const *list)
{
    for (const char *const *p = list; *p; p++)
        if (!strcasecmp(s->family, *p)) return 1;
    return 0;
}

/* ==== loading and selection =============================================== */

struct cand {
    struct syn_species s;
    double race;  /* exponential race key: smaller is drawn first */
    int chosen;
};

static int parse_flag(const char *v) { return v[0] == '1' || v[0] == 't' || v[0] == 'T' || v[0] == 'y'; }

static int load_candidates(const struct syn_world *w, struct cand **out, size_t *nout, struct gpn_err *err)
{
    struct gpn_csv *csv = NULL;
    struct cand *c = NULL;
    size_t n = 0, cap = 0;
    int rc = gpn_csv_open(w->species_path, 0, &csv, err);
    if (rc) return gpn_err_prefix(err, "synth: species table");
    int col_id, col_name, col_genus, col_family, col_hd, col_rl, col_inv, col_tree, col_end, col_spec;
    if ((rc = gpn_csv_require(csv, "id", &col_id, err)) || (rc = gpn_csv_require(csv, "scientific_name", &col_name, err)) ||
        (rc = gpn_csv_require(csv, "genus", &col_genus, err)) || (rc = gpn_csv_require(csv, "family", &col_family, err)) ||
        (rc = gpn_csv_require(csv, "habitats_directive", &col_hd, err)) ||
        (rc = gpn_csv_require(csv, "redlist", &col_rl, err)) || (rc = gpn_csv_require(csv, "invasive", &col_inv, err)) ||
        (rc = gpn_csv_require(csv, "tree", &col_tree, err)) || (rc = gpn_csv_require(csv, "endemic", &col_end, err)) ||
        (rc = gpn_csv_require(csv, "specialist", &col_spec, err)))
        goto fail;
    int col_alien = gpn_csv_col(csv, "alien"), col_itr = gpn_csv_col(csv, "it_regions");
    for (;;) {
        rc = gpn_csv_next(csv, err);
        if (rc < 0) goto fail;
        if (rc == 0) break;
        int64_t id;
        if (gpn_parse_i64(gpn_csv_field(csv, col_id), 1, INT32_MAX, &id, "id", err)) {
            rc = gpn_err_prefix(err, "%s:%ld", gpn_csv_path(csv), gpn_csv_line(csv));
            goto fail;
        }
        const char *rl = gpn_csv_field(csv, col_rl);
        if (!strcmp(rl, "EX") || !strcmp(rl, "EW") || !strcmp(rl, "RE")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            struct cand *nc = realloc(c, cap * sizeof *nc);
            if (!nc) {
                rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (species table)");
                goto fail;
            }
            c = nc;
        }
        struct cand *k = &c[n];
        memset(k, 0, sizeof *k);
        struct syn_species *s = &k->s;
        s->id = (int32_t)id;
        gpn_strlcpy(s->name, gpn_csv_field(csv, col_name), sizeof s->name);
        gpn_strlcpy(s->genus, gpn_csv_field(csv, col_genus), sizeof s->genus);
        gpn_strlcpy(s->family, gpn_csv_field(csv, col_family), sizeof s->family);
        gpn_strlcpy(s->redlist, rl, sizeof s->redlist);
        s->hd = (uint8_t)parse_flag(gpn_csv_field(csv, col_hd));
        s->invasive = (uint8_t)parse_flag(gpn_csv_field(csv, col_inv));
        s->tree = (uint8_t)parse_flag(gpn_csv_field(csv, col_tree));
        s->endemic = (uint8_t)parse_flag(gpn_csv_field(csv, col_end));
        s->specialist = (uint8_t)parse_flag(gpn_csv_field(csv, col_spec));
        s->alien = col_alien >= 0 ? (uint8_t)parse_flag(gpn_csv_field(csv, col_alien)) : 0;
        s->it_regions = 5;
        if (col_itr >= 0) {
            int v;
            if (!gpn_parse_int(gpn_csv_field(csv, col_itr), 0, 100, &v, "it_regions", NULL)) s->it_regions = v;
        }
        if (!s->name[0] || !s->genus[0]) continue;
        n++;
    }
    gpn_csv_close(csv);
    *out = c;
    *nout = n;
    return 0;
fail:
    gpn_csv_close(csv);
    free(c);
    return rc;
}

static void classify(struct syn_species *s)
{
    s->leaf = SYN_LEAF_NONE;
    if (s->tree) {
        s->group = SYN_G_TREE;
        if (name_in(s, CONIFER_GENERA)) s->leaf = SYN_LEAF_CON;
        else if (name_in(s, EVERGREEN_BROADLEAF)) s->leaf = SYN_LEAF_EVG;
        else s->leaf = SYN_LEAF_DEC;
    } else if (name_in(s, HELO_GENERA)) {
        s->group = SYN_G_HELO;
    } else if (name_in(s, SHRUB_GENERA)) {
        s->group = SYN_G_SHRUB;
    } else {
        s->group = SYN_G_HERB;
    }
}

static int cmp_race(const void *a, const void *b)
{
    const struct cand *x = *(const struct cand *const *)a, *y = *(const struct cand *const *)b;
    if (x->race != y->race) return x->race < y->race ? -1 : 1;
    return x->s.id - y->s.id;
}

static int cmp_species_id(const void *a, const void *b)
{
    const struct syn_species *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

enum { Q_TREE, Q_SHRUB, Q_HELO, Q_INV, Q_END, Q_HD, Q_REST, Q_N };

static int quota_match(const struct syn_species *s, int q)
{
    switch (q) {
    case Q_TREE: return s->group == SYN_G_TREE;
    case Q_SHRUB: return s->group == SYN_G_SHRUB;
    case Q_HELO: return s->group == SYN_G_HELO;
    case Q_INV: return s->invasive;
    case Q_END: return s->endemic;
    case Q_HD: return s->hd;
    default: return 1;
    }
}

int gpn__syn_species_load(struct syn_world *w, struct gpn_err *err)
{
    struct cand *c = NULL, **ord = NULL;
    size_t n = 0;
    int rc = load_candidates(w, &c, &n, err);
    if (rc) return rc;
    int want = w->o->n_species;
    if ((size_t)want > n) {
        rc = gpn_err_set(err, GPN_ERANGE, "synth: %d species asked, the reference table %s has %zu usable", want,
                         w->species_path, n);
        goto done;
    }
    ord = malloc(n * sizeof *ord);
    w->sp = calloc((size_t)want, sizeof *w->sp);
    if (!ord || !w->sp) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (species)");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        classify(&c[i].s);
        double u = syn_u01(syn_hash(w->seed, SP_SPECIES_SEL, (uint64_t)c[i].s.id, 0));
        if (u < 1e-300) u = 1e-300;
        c[i].race = -log(u) / (1.0 + c[i].s.it_regions);
        ord[i] = &c[i];
    }
    qsort(ord, n, sizeof *ord, cmp_race);
    int ns = 0;
    /* Key species: at most a quarter of the draw. */
    int max_key = want / 4;
    for (const char *const *k = KEY_SPECIES; *k && ns < max_key; k++)
        for (size_t i = 0; i < n; i++)
            if (!ord[i]->chosen && !strcasecmp(ord[i]->s.name, *k)) {
                ord[i]->chosen = 1;
                ord[i]->s.key = 1;
                w->sp[ns++] = ord[i]->s;
                break;
            }
    static const double QFRAC[Q_N] = {0.07, 0.08, 0.06, 0.04, 0.04, 0.03, 1.0};
    for (int q = 0; q < Q_N && ns < want; q++) {
        int have = 0;
        for (int j = 0; j < ns; j++) have += quota_match(&w->sp[j], q);
        int target = q == Q_REST ? want : (int)ceil(QFRAC[q] * want);
        for (size_t i = 0; i < n && ns < want && (q == Q_REST ? ns < target : have < target); i++) {
            if (ord[i]->chosen || !quota_match(&ord[i]->s, q)) continue;
            ord[i]->chosen = 1;
            w->sp[ns++] = ord[i]->s;
            have++;
        }
    }
    w->ns = ns;
    qsort(w->sp, (size_t)ns, sizeof *w->sp, cmp_species_id);
done:
    free(ord);
    free(c);
    return rc;
}

/* ==== niches ============================================================== */

/* Land-cover affinity profile of a group / family, before perturbation. */
static void base_affinity(const struct syn_species *s, float aff[GPN_SYNTH_LC_COUNT], struct syn_rng *r)
{
    static const char *const GRASSY[] = {"Poaceae", "Fabaceae", "Orchidaceae", "Asteraceae", "Apiaceae",
                                         "Plantaginaceae", "Gentianaceae", "Linaceae", "Dipsacaceae", "Caprifoliaceae",
                                         NULL};
    static const char *const GARRIGUE[] = {"Lamiaceae", "Cistaceae", "Ericaceae", "Thymelaeaceae", "Globulariaceae",
                                           "Rutaceae", NULL};
    static const char *const RUDERAL[] = {"Brassicaceae", "Amaranthaceae", "Chenopodiaceae", "Papaveraceae",
                                          "Polygonaceae", "Solanaceae", "Malvaceae", "Urticaceae", "Euphorbiaceae",
                                          NULL};
    static const char *const FERNS[] = {"Aspleniaceae", "Polypodiaceae", "Dryopteridaceae", "Athyriaceae",
                                        "Pteridaceae", "Woodsiaceae", "Cystopteridaceae", "Blechnaceae",
                                        "Dennstaedtiaceae", "Equisetaceae", "Ophioglossaceae", NULL};
    static const char *const ROCKY[] = {"Crassulaceae", "Saxifragaceae", "Campanulaceae", "Caryophyllaceae",
                                        "Selaginellaceae", "Plumbaginaceae", NULL};
    static const char *const WOODLAND_HERBS[] = {"Liliaceae", "Asparagaceae", "Araceae", "Primulaceae",
                                                 "Violaceae", "Oxalidaceae", "Ranunculaceae", "Orobanchaceae",
                                                 "Rubiaceae", "Geraniaceae", NULL};
    /* order: none, forest, grassland, scrub, cropland, wetland, urban, water, rock, sea */
    float a[GPN_SYNTH_LC_COUNT] = {0};
#define SET(f, g, sc, cr, we, ur, wa, ro) \
    do { a[1] = f; a[2] = g; a[3] = sc; a[4] = cr; a[5] = we; a[6] = ur; a[7] = wa; a[8] = ro; } while (0)
    int riparian = name_in(s, RIPARIAN_TREES);
    int coastal = name_in(s, SALT_OR_DUNE_GENERA);
    switch (s->group) {
    case SYN_G_TREE:
        if (riparian) SET(0.8f, 0.05f, 0.15f, 0.02f, 1.0f, 0.15f, 0.05f, 0.02f);
        else SET(1.0f, 0.05f, 0.25f, 0.02f, 0.12f, 0.10f, 0.f, 0.03f);
        break;
    case SYN_G_SHRUB: SET(0.45f, 0.25f, 1.0f, 0.03f, 0.06f, 0.06f, 0.f, 0.25f); break;
    case SYN_G_HELO:
        if (coastal) SET(0.f, 0.15f, 0.05f, 0.f, 1.0f, 0.f, 0.1f, 0.35f);
        else SET(0.06f, 0.15f, 0.03f, 0.02f, 1.0f, 0.02f, 0.35f, 0.f);
        break;
    default:
        if (coastal) SET(0.f, 0.3f, 0.25f, 0.f, 0.2f, 0.02f, 0.f, 1.0f);
        else if (family_in(s, GRASSY)) SET(0.15f, 1.0f, 0.5f, 0.2f, 0.1f, 0.15f, 0.f, 0.2f);
        else if (family_in(s, GARRIGUE)) SET(0.2f, 0.5f, 1.0f, 0.03f, 0.02f, 0.05f, 0.f, 0.4f);
        else if (family_in(s, RUDERAL)) SET(0.05f, 0.4f, 0.15f, 1.0f, 0.1f, 0.7f, 0.f, 0.1f);
        else if (family_in(s, FERNS)) SET(0.8f, 0.05f, 0.1f, 0.f, 0.2f, 0.05f, 0.f, 1.0f);
        else if (family_in(s, ROCKY)) SET(0.05f, 0.45f, 0.3f, 0.05f, 0.02f, 0.1f, 0.f, 1.0f);
        else if (family_in(s, WOODLAND_HERBS)) SET(1.0f, 0.35f, 0.3f, 0.05f, 0.15f, 0.05f, 0.f, 0.15f);
        else {
            /* No family rule: a random profile, lognormal weights. */
            static const float B[GPN_SYNTH_LC_COUNT] = {0, 0.6f, 0.8f, 0.7f, 0.2f, 0.2f, 0.15f, 0.f, 0.3f, 0.f};
            for (int k = 1; k < GPN_SYNTH_LC_COUNT; k++) a[k] = B[k] * (float)exp(0.8 * syn_rng_normal(r));
        }
        break;
    }
#undef SET
    memcpy(aff, a, sizeof a);
}

/* Draws the anchor cell among `cells` weighted by affinity^3 (and coast). */
static size_t pick_anchor(const struct syn_world *w, const struct syn_species *s, const size_t *cells, size_t n,
                          double *cdf, double u)
{
    double tot = 0;
    for (size_t j = 0; j < n; j++) {
        size_t c = cells[j];
        double a = s->aff[w->lc[c]];
        double wt = a * a * a;
        if (s->coast_l > 0.f) wt *= exp(-(w->dcoast[c] > 0 ? w->dcoast[c] : 0) / s->coast_l);
        if (s->group == SYN_G_HELO || (s->group == SYN_G_TREE && s->aff[GPN_SYNTH_LC_WETLAND] >= 1.f))
            wt *= 0.05 + w->wet[c];
        tot += wt;
        cdf[j] = tot;
    }
    if (tot <= 0) return cells[(size_t)(u * n) % n];
    double t = u * tot;
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] > t) hi = mid;
        else lo = mid + 1;
    }
    return cells[lo];
}

/* A deterministic sample of land cells (optionally only semi-natural). */
static size_t sample_cells(const struct syn_world *w, size_t want, int natural, uint64_t purpose, size_t *out)
{
    size_t n = 0;
    for (uint64_t k = 0; n < want && k < want * 200; k++) {
        size_t c = (size_t)(syn_hash(w->seed, purpose, k, 0) % w->N);
        if (!w->land[c]) continue;
        int lc = w->lc[c];
        if (lc == GPN_SYNTH_LC_WATER) continue;
        if (natural && !(lc == GPN_SYNTH_LC_FOREST || lc == GPN_SYNTH_LC_GRASSLAND || lc == GPN_SYNTH_LC_SCRUB ||
                         lc == GPN_SYNTH_LC_WETLAND || lc == GPN_SYNTH_LC_ROCK))
            continue;
        out[n++] = c;
    }
    return n;
}

int gpn__syn_species_niches(struct syn_world *w, struct gpn_err *err)
{
    static const char *const SHOWY[] = {"Orchidaceae", "Liliaceae", "Amaryllidaceae", "Iridaceae", "Paeoniaceae",
                                        "Cistaceae", NULL};
    static const char *const DULL[] = {"Poaceae", "Cyperaceae", "Juncaceae", "Amaranthaceae", "Polygonaceae", NULL};
    static const char *const RUDERAL[] = {"Brassicaceae", "Amaranthaceae", "Chenopodiaceae", "Papaveraceae",
                                          "Polygonaceae", "Solanaceae", "Malvaceae", "Urticaceae", NULL};
    int rc = 0;
    size_t *cells = malloc(ANCHOR_CELLS * sizeof *cells);
    size_t *cal = malloc(CALIB_CELLS * sizeof *cal);
    double *cdf = malloc(ANCHOR_CELLS * sizeof *cdf);
    float *raw = NULL;
    if (!cells || !cal || !cdf) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (niches)");
        goto done;
    }
    size_t na = sample_cells(w, ANCHOR_CELLS, 0, SP_ANCHOR, cells);
    if (na < 100) {
        rc = gpn_err_set(err, GPN_EINVAL, "synth: the region has almost no land (%zu land cells sampled); pick "
                                          "another --origin or --bbox", na);
        goto done;
    }
    for (int i = 0; i < w->ns; i++) {
        struct syn_species *s = &w->sp[i];
        struct syn_rng r = syn_rng_make(w->seed, SP_SPECIES_NICHE, (uint64_t)s->id, 0);
        base_affinity(s, s->aff, &r);
        s->coast_l = name_in(s, SALT_OR_DUNE_GENERA) ? 2500.f : 0.f;
        /* Perturb, normalise to max 1; specialists keep one class; then the
         * contrast exponent (habitat fidelity of real plants). */
        float amax = 0.f;
        int kmax = 1;
        for (int k = 1; k < GPN_SYNTH_LC_COUNT; k++) {
            s->aff[k] *= (float)exp(0.35 * syn_rng_normal(&r));
            if (s->aff[k] > amax) {
                amax = s->aff[k];
                kmax = k;
            }
        }
        for (int k = 1; k < GPN_SYNTH_LC_COUNT; k++) {
            s->aff[k] = amax > 0 ? s->aff[k] / amax : 0.f;
            if (s->specialist && k != kmax) s->aff[k] *= 0.12f;
            s->aff[k] = (float)pow(s->aff[k], AFF_CONTRAST);
        }
        s->aff[GPN_SYNTH_LC_NONE] = 0.f;
        s->aff[GPN_SYNTH_LC_SEA] = 0.f;
        /* Anchor and environmental optimum. */
        size_t a = pick_anchor(w, s, cells, na, cdf, syn_rng_u01(&r));
        double narrow = s->it_regions <= 3 ? 0.7 : 1.0;
        double sdT, sdP, sdW, sdS;
        if (s->specialist) {
            sdT = syn_rng_range(&r, 0.35, 0.6);
            sdP = syn_rng_range(&r, 35, 60);
            sdW = syn_rng_range(&r, 0.10, 0.19);
            sdS = syn_rng_range(&r, 0.2, 0.4);
        } else {
            sdT = syn_rng_range(&r, 0.65, 1.3);
            sdP = syn_rng_range(&r, 65, 130);
            sdW = syn_rng_range(&r, 0.3, 0.6);
            sdS = syn_rng_range(&r, 0.6, 1.3);
        }
        s->sd[0] = (float)(sdT * narrow);
        s->sd[1] = (float)(sdP * narrow);
        s->sd[2] = (float)(sdW * narrow);
        s->sd[3] = (float)(sdS * narrow);
        s->mu[0] = w->tann[a] + (float)(0.3 * s->sd[0] * syn_rng_normal(&r));
        s->mu[1] = w->pann[a] + (float)(0.3 * s->sd[1] * syn_rng_normal(&r));
        s->mu[2] = w->wet[a] + (float)(0.3 * s->sd[2] * syn_rng_normal(&r));
        s->mu[3] = w->sub[a] + (float)(0.3 * s->sd[3] * syn_rng_normal(&r));
        if (s->group == SYN_G_HELO) {
            if (s->mu[2] < 0.85f) s->mu[2] = 0.85f;
            s->sd[2] = (float)syn_rng_range(&r, 0.15, 0.25);
        }
        for (int k = 0; k < SYN_NAX; k++) s->k[k] = 1.f / (2.f * s->sd[k] * s->sd[k]);
        /* Disturbance. */
        s->dist_a = 0.f;
        if (s->invasive) s->dist_a = (float)syn_rng_range(&r, 0.85, 0.95);
        else if (s->alien) s->dist_a = (float)syn_rng_range(&r, 0.4, 0.7);
        else if (family_in(s, RUDERAL)) s->dist_a = (float)syn_rng_range(&r, 0.3, 0.5);
        s->dist_b = (float)syn_rng_range(&r, 0.0, 0.15);
        if (s->hd || s->endemic || !strcmp(s->redlist, "CR") || !strcmp(s->redlist, "EN") ||
            !strcmp(s->redlist, "VU"))
            s->dist_b = (float)syn_rng_range(&r, 0.3, 0.6);
        if (s->dist_a > 0.f) s->dist_b = 0.f;
        /* Endemics: a Gaussian range of 1.5-5 km around the anchor. */
        s->rr = 0.f;
        if (s->endemic) {
            s->rr = (float)syn_rng_range(&r, 1500.0, 5000.0);
            s->rx = syn_cx(w, (int)(a % (size_t)w->W));
            s->ry = syn_cy(w, (int)(a / (size_t)w->W));
        }
        /* Shared random fields. */
        s->f1 = (uint8_t)(syn_rng_u64(&r) % SYN_NFIELDS);
        s->f2 = (uint8_t)((s->f1 + 1 + syn_rng_u64(&r) % (SYN_NFIELDS - 1)) % SYN_NFIELDS);
        s->c1 = (float)(FIELD_WEIGHT_SD * syn_rng_normal(&r));
        s->c2 = (float)(FIELD_WEIGHT_SD * syn_rng_normal(&r));
        s->cnorm = 0.5f * (s->c1 * s->c1 + s->c2 * s->c2);
        /* Commonness (relative pmax) and popularity. */
        double cm = (0.15 + 0.85 * pow(s->it_regions / 20.0 > 1 ? 1 : s->it_regions / 20.0, 1.2)) *
                    exp(0.5 * syn_rng_normal(&r));
        if (!strcmp(s->redlist, "CR") || !strcmp(s->redlist, "EN") || !strcmp(s->redlist, "VU")) cm *= 0.4;
        if (s->hd) cm *= 0.6;
        if (s->endemic) cm *= 0.7;
        if (s->group == SYN_G_TREE) cm *= 1.5;
        if (s->key) cm *= 2.5;
        s->commonness = (float)cm;
        double pop = exp(0.8 * syn_rng_normal(&r));
        if (family_in(s, SHOWY)) pop *= 2.5;
        if (family_in(s, DULL)) pop *= 0.35;
        if (s->group == SYN_G_TREE) pop *= 2.0;
        if (s->invasive) pop *= 1.5;
        s->pop = (float)pop;
    }
    /* Calibration of pmax = min(0.95, k * commonness). */
    size_t nc = sample_cells(w, CALIB_CELLS, 1, SP_CALIB, cal);
    if (nc < 50) nc = sample_cells(w, CALIB_CELLS, 0, SP_CALIB, cal);
    raw = malloc((size_t)w->ns * nc * sizeof *raw);
    if (!raw) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (calibration)");
        goto done;
    }
#pragma omp parallel for schedule(dynamic, 4)
    for (int i = 0; i < w->ns; i++)
        for (size_t j = 0; j < nc; j++) raw[(size_t)i * nc + j] = syn_p_raw(w, &w->sp[i], cal[j]);
    double target = 0.2 * w->ns;
    if (target > 20.0) target = 20.0;
    double lo = -12.0, hi = 12.0; /* log k */
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi), k = exp(mid), tot = 0;
        for (int i = 0; i < w->ns; i++) {
            double pm = k * w->sp[i].commonness;
            if (pm > 0.95) pm = 0.95;
            for (size_t j = 0; j < nc; j++) {
                double p = pm * raw[(size_t)i * nc + j];
                tot += p > 0.98 ? 0.98 : p;
            }
        }
        if (tot / (double)nc < target) lo = mid;
        else hi = mid;
    }
    double k = exp(0.5 * (lo + hi)), reached = 0;
    for (int i = 0; i < w->ns; i++) {
        double pm = k * w->sp[i].commonness;
        w->sp[i].pmax = (float)(pm > 0.95 ? 0.95 : pm);
        for (size_t j = 0; j < nc; j++) {
            double p = w->sp[i].pmax * raw[(size_t)i * nc + j];
            reached += p > 0.98 ? 0.98 : p;
        }
    }
    reached /= (double)nc;
    gpn_log_debug("synth: prevalence scale k = %.4g (richness %.2f for a target of %.1f over %zu cells)", k, reached,
                  target, nc);
    if (reached < 0.95 * target)
        gpn_log_info("synth: with %d species the mean richness of semi-natural cells saturates at %.1f (target %.1f)",
                     w->ns, reached, target);
done:
    free(cells);
    free(cal);
    free(cdf);
    free(raw);
    return rc;
}

/* ==== truth =============================================================== */

int gpn__syn_truth_write(const struct syn_world *w, const char *dir, int s, const uint8_t *q, struct gpn_err *err)
{
    const struct syn_species *sp = &w->sp[s];
    char path[1200], name[64], desc[160];
    snprintf(name, sizeof name, "%d.tif", sp->id);
    if (gpn_path_join(path, sizeof path, dir, name))
        return gpn_err_set(err, GPN_ETOOBIG, "synth: path too long under %s", dir);
    snprintf(desc, sizeof desc, "%s (speciesId %d): presence probability x 250", sp->name, sp->id);
    const char *bd[1] = {desc};
    return gpn__syn_write_layer(w, path, GPN_DT_U8, 1, q, 0, 1, 255.0, bd, err);
}

int gpn__syn_species_truth(struct syn_world *w, const char *dir, uint8_t **all, struct gpn_err *err)
{
    size_t N = w->N;
    int W = w->W, H = w->H;
    int rc = 0;
    int keep = all != NULL;
    size_t nbuf = keep ? (size_t)w->ns : (size_t)TRUTH_BATCH;
    uint8_t *q = malloc(nbuf * N);
    double *rowsum = malloc((size_t)TRUTH_BATCH * H * sizeof *rowsum);
    if (keep) *all = NULL;
    if (!q || !rowsum) {
        free(q);
        free(rowsum);
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (truth of %zu species)", nbuf);
    }
    for (size_t i = 0; i < N; i++) {
        w->richness[i] = 0.f;
        w->dom_tree[i] = -1;
        w->dom_helo[i] = -1;
        w->dom_tree_v[i] = 0.f;
        w->dom_helo_v[i] = 0.f;
    }
    struct gpn_progress prog;
    gpn_progress_init(&prog, "truth", w->ns, "species");
    if (!w->o->progress) prog.enabled = 0;
    for (int b0 = 0; b0 < w->ns && !rc; b0 += TRUTH_BATCH) {
        int nb = w->ns - b0 < TRUTH_BATCH ? w->ns - b0 : TRUTH_BATCH;
        uint8_t *qb = keep ? q + (size_t)b0 * N : q;
#pragma omp parallel for schedule(dynamic, 4)
        for (int r = 0; r < H; r++) {
            double ps[TRUTH_BATCH];
            for (int j = 0; j < nb; j++) ps[j] = 0;
            for (int c = 0; c < W; c++) {
                size_t i = (size_t)r * W + c;
                if (!w->land[i]) {
                    for (int j = 0; j < nb; j++) qb[(size_t)j * N + i] = 255;
                    continue;
                }
                float rich = w->richness[i];
                for (int j = 0; j < nb; j++) {
                    const struct syn_species *s = &w->sp[b0 + j];
                    float p = syn_p(w, s, i);
                    qb[(size_t)j * N + i] = (uint8_t)lrintf(p * 250.f);
                    rich += p;
                    ps[j] += p;
                    if (s->group == SYN_G_TREE && p > w->dom_tree_v[i]) {
                        w->dom_tree_v[i] = p;
                        w->dom_tree[i] = b0 + j;
                    } else if (s->group == SYN_G_HELO && p > w->dom_helo_v[i]) {
                        w->dom_helo_v[i] = p;
                        w->dom_helo[i] = b0 + j;
                    }
                }
                w->richness[i] = rich;
            }
            for (int j = 0; j < nb; j++) rowsum[(size_t)j * H + r] = ps[j];
        }
        for (int j = 0; j < nb; j++) {
            double s = 0;
            for (int r = 0; r < H; r++) s += rowsum[(size_t)j * H + r];
            w->sp[b0 + j].sum_p = s;
        }
        if (!keep && dir) {
            int wrc = 0;
            struct gpn_err werr = {0};
#pragma omp parallel for schedule(dynamic, 1)
            for (int j = 0; j < nb; j++) {
                int skip;
#pragma omp atomic read
                skip = wrc;
                if (skip) continue;
                struct gpn_err e = {0};
                int r2 = gpn__syn_truth_write(w, dir, b0 + j, qb + (size_t)j * N, &e);
                if (r2) {
#pragma omp critical(syn_truth_err)
                    {
                        if (!wrc) {
                            wrc = r2;
                            werr = e;
                        }
                    }
                }
            }
            if (wrc) {
                rc = wrc;
                *err = werr;
            }
        }
        gpn_progress_add(&prog, nb);
    }
    gpn_progress_finish(&prog);
    free(rowsum);
    if (keep && !rc) *all = q;
    else free(q);
    return rc;
}

/* ==== species.csv ========================================================= */

int gpn__syn_species_csv(const struct syn_world *w, const char *path, struct gpn_err *err)
{
    static const char *const GROUP[] = {"herb", "tree", "shrub", "helophyte"};
    static const char *const LEAF[] = {"", "deciduous", "evergreen", "conifer"};
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, "speciesId,scientific_name,genus,family,habitats_directive,redlist,invasive,tree,endemic,"
                     "specialist,alien,group,leaf,pmax,mu_tann,sd_tann,mu_pann,sd_pann,mu_wet,sd_wet,mu_substrate,"
                     "sd_substrate");
    for (int k = 1; k < GPN_SYNTH_LC_COUNT; k++) gpn_buf_printf(&b, ",aff_%s", gpn_synth_lc_name(k));
    gpn_buf_puts(&b, ",dist_attract,dist_avoid,range_x,range_y,range_sd_m,coast_decay_m,field1,w1,field2,w2,"
                     "popularity,mean_p_land,n_pa,n_po,n_plots\n");
    size_t nland = 0;
    for (size_t i = 0; i < w->N; i++) nland += w->land[i];
    for (int i = 0; i < w->ns; i++) {
        const struct syn_species *s = &w->sp[i];
        gpn_buf_printf(&b, "%d,\"%s\",%s,%s,%d,%s,%d,%d,%d,%d,%d,%s,%s,%.4f,%.3f,%.3f,%.1f,%.1f,%.3f,%.3f,%.3f,%.3f", s->id,
                       s->name, s->genus, s->family, s->hd, s->redlist, s->invasive, s->tree, s->endemic, s->specialist,
                       s->alien, GROUP[s->group], LEAF[s->leaf], s->pmax, s->mu[0], s->sd[0], s->mu[1], s->sd[1],
                       s->mu[2], s->sd[2], s->mu[3], s->sd[3]);
        for (int k = 1; k < GPN_SYNTH_LC_COUNT; k++) gpn_buf_printf(&b, ",%.3f", s->aff[k]);
        if (s->rr > 0.f) gpn_buf_printf(&b, ",%.3f,%.3f,%.3f,%.1f,%.1f", s->dist_a, s->dist_b, s->rx, s->ry, s->rr);
        else gpn_buf_printf(&b, ",%.3f,%.3f,,,", s->dist_a, s->dist_b);
        gpn_buf_printf(&b, ",%.0f,%d,%.3f,%d,%.3f,%.3f,%.6f,%" PRId64 ",%" PRId64 ",%" PRId64 "\n", s->coast_l,
                       s->f1, s->c1, s->f2, s->c2, s->pop, nland ? s->sum_p / (double)nland : 0.0, s->n_pa, s->n_po,
                       s->n_plot);
    }
    if (b.oom) {
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (species.csv)");
    }
    int rc = gpn_file_write_atomic(path, b.data, b.len, err);
    gpn_buf_free(&b);
    return rc;
}
