/*
 * synth_habitat.c - the EUNIS Level 3 rule set of the synthetic region and
 * the surface types the sensors see.
 *
 * A habitat is decided from land cover, climate (mean annual temperature,
 * whether the region is Mediterranean), terrain (slope, elevation, distance
 * to the coast, wetness, substrate) and the dominant species (the tree with
 * the highest presence probability in the cell, or the tree with the most
 * cover in a plot; the same for helophytes in wetlands). The rules are the
 * table in docs/synthetic.md ("Habitats"); every code is a real EUNIS 2021
 * Level 3 code, checked against data/eunis/eunis_hierarchy.csv by the tests.
 * Sea and inland water get no habitat (value 0).
 *
 * The table order is part of the output contract: truth/habitat_l3.tif
 * stores index + 1. Append new codes at the end.
 */
#include <string.h>
#include <strings.h>

#include "synth_priv.h"

#define HAB_TABLE(X)                                                                          \
    X(T41, "Early-stage natural and semi-natural forest and regrowth")                        \
    X(T1J, "Deciduous self-sown forest of non site-native trees")                             \
    X(T3L, "Coniferous self-sown forest of non site-native trees")                            \
    X(T14, "Mediterranean and Macaronesian riparian forest")                                  \
    X(T12, "Alnus glutinosa-Alnus incana forest on riparian and mineral soils")               \
    X(T11, "Temperate Salix and Populus riparian forest")                                     \
    X(N1G, "Mediterranean coniferous coastal dune forest")                                    \
    X(T3A, "Mediterranean lowland to submontane Pinus forest")                                \
    X(T37, "Mediterranean montane Pinus sylvestris-Pinus nigra forest")                       \
    X(T36, "Temperate and submediterranean montane Pinus sylvestris-Pinus nigra forest")      \
    X(T33, "Mediterranean mountain Abies forest")                                             \
    X(T32, "Temperate mountain Abies forest")                                                 \
    X(T31, "Temperate mountain Picea forest")                                                 \
    X(T34, "Temperate subalpine Larix, Pinus cembra and Pinus uncinata forest")               \
    X(T38, "Mediterranean montane Cedrus forest")                                             \
    X(T3D, "Mediterranean Cupressaceae forest")                                               \
    X(T3C, "Taxus baccata forest")                                                            \
    X(T21, "Mediterranean evergreen Quercus forest")                                          \
    X(T24, "Olea europaea-Ceratonia siliqua forest")                                          \
    X(T22, "Mainland laurophyllous forest")                                                   \
    X(T27, "Ilex aquifolium forest")                                                          \
    X(T17, "Fagus forest on non-acid soils")                                                  \
    X(T18, "Fagus forest on acid soils")                                                      \
    X(T1A, "Mediterranean thermophilous deciduous forest")                                    \
    X(T19, "Temperate and submediterranean thermophilous deciduous forest")                   \
    X(T1B, "Acidophilous Quercus forest")                                                     \
    X(T1F, "Ravine forest")                                                                   \
    X(T1E, "Carpinus and Quercus mesic deciduous forest")                                     \
    X(T1D, "Southern European mountain Betula and Populus tremula forest on mineral soils")   \
    X(T1C, "Temperate and boreal mountain Betula and Populus tremula forest on mineral soils") \
    X(N1B, "Mediterranean and Black Sea coastal dune scrub")                                  \
    X(N1A, "Atlantic and Baltic coastal dune scrub")                                          \
    X(S93, "Mediterranean riparian scrub")                                                    \
    X(S91, "Temperate riparian scrub")                                                        \
    X(S22, "Alpine and subalpine ericoid heath")                                              \
    X(S51, "Mediterranean maquis and arborescent matorral")                                   \
    X(S61, "Western basiphilous garrigue")                                                    \
    X(S62, "Western acidophilous garrigue")                                                   \
    X(S31, "Lowland to montane temperate and submediterranean Juniperus scrub")               \
    X(S33, "Lowland to montane temperate and submediterranean genistoid scrub")               \
    X(S35, "Temperate and submediterranean thorn scrub")                                      \
    X(S42, "Dry heath")                                                                       \
    X(N16, "Mediterranean and Macaronesian coastal dune grassland (grey dune)")               \
    X(N15, "Atlantic and Baltic coastal dune grassland (grey dune)")                          \
    X(R31, "Mediterranean tall humid inland grassland")                                       \
    X(R35, "Moist or wet mesotrophic to eutrophic hay meadow")                                \
    X(R44, "Arctic-alpine calcareous grassland")                                              \
    X(R43, "Temperate acidophilous alpine grassland")                                         \
    X(R23, "Mountain hay meadow")                                                             \
    X(R1M, "Lowland to montane, dry to mesic grassland usually dominated by Nardus stricta")  \
    X(R1D, "Mediterranean closely grazed dry grassland")                                      \
    X(R1E, "Mediterranean tall perennial dry grassland")                                      \
    X(R1F, "Mediterranean annual-rich dry grassland")                                         \
    X(R18, "Perennial rocky calcareous grassland of subatlantic-submediterranean Europe")     \
    X(R1R, "Mediterranean to Atlantic open, dry, acid and neutral grassland")                 \
    X(R1A, "Semi-dry perennial calcareous grassland (meadow steppe)")                         \
    X(R21, "Mesic permanent pasture of lowlands and mountains")                               \
    X(R22, "Low and medium altitude hay meadow")                                              \
    X(V54, "Vineyards")                                                                       \
    X(V62, "Evergreen orchards and groves")                                                   \
    X(V61, "Broadleaved fruit and nut tree orchards")                                         \
    X(V15, "Bare tilled, fallow or recently abandoned arable land")                           \
    X(V11, "Intensive unmixed crops")                                                         \
    X(V13, "Arable land with unmixed crops grown by low-intensity agricultural methods")      \
    X(V37, "Annual anthropogenic herbaceous vegetation")                                      \
    X(V22, "Small-scale ornamental and domestic garden area")                                 \
    X(V38, "Dry perennial anthropogenic herbaceous vegetation")                               \
    X(V39, "Mesic perennial anthropogenic herbaceous vegetation")                             \
    X(MA25, "Mediterranean littoral biogenic habitats")                                       \
    X(MA22, "Atlantic littoral biogenic habitats")                                            \
    X(Q51, "Tall-helophyte bed")                                                              \
    X(Q53, "Tall-sedge bed")                                                                  \
    X(Q52, "Small-helophyte bed")                                                             \
    X(N12, "Mediterranean and Black Sea sand beach")                                          \
    X(N11, "Atlantic, Baltic and Arctic sand beach")                                          \
    X(N32, "Mediterranean and Black Sea rocky sea cliff and shore")                           \
    X(N31, "Atlantic and Baltic rocky sea cliff and shore")                                   \
    X(U26, "Temperate high-mountain base-rich scree and moraine")                             \
    X(U22, "Temperate high-mountain siliceous scree")                                         \
    X(U36, "Temperate high-mountain base-rich inland cliff")                                  \
    X(U32, "Temperate high-mountain siliceous inland cliff")                                  \
    X(U38, "Mediterranean base-rich inland cliff")                                            \
    X(U34, "Mediterranean siliceous inland cliff")                                            \
    X(U37, "Temperate, lowland to montane base-rich inland cliff")                            \
    X(U33, "Temperate, lowland to montane siliceous inland cliff")                            \
    X(U28, "Western Mediterranean base-rich scree")                                           \
    X(U24, "Mediterranean siliceous scree")                                                   \
    X(U27, "Temperate, lowland to montane base-rich scree")                                   \
    X(U23, "Temperate, lowland to montane siliceous scree")

enum hab {
#define X(code, name) H_##code,
    HAB_TABLE(X)
#undef X
    H_COUNT
};

static const char *const HAB_CODE[] = {
#define X(code, name) #code,
    HAB_TABLE(X)
#undef X
};
static const char *const HAB_NAME[] = {
#define X(code, name) name,
    HAB_TABLE(X)
#undef X
};

int gpn_synth_habitat_count(void) { return H_COUNT; }
const char *gpn_synth_habitat_code(int i) { return i >= 0 && i < H_COUNT ? HAB_CODE[i] : NULL; }
const char *gpn_synth_habitat_name(int i) { return i >= 0 && i < H_COUNT ? HAB_NAME[i] : NULL; }

static int genus_is(const struct syn_species *s, const char *g) { return !strcasecmp(s->genus, g); }
static int name_starts(const struct syn_species *s, const char *n)
{
    size_t k = strlen(n);
    return !strncasecmp(s->name, n, k) && (s->name[k] == 0 || s->name[k] == ' ');
}

static int forest_rule(const struct syn_world *w, size_t c, const struct syn_species *t)
{
    int med = w->med;
    float tann = w->tann[c], sub = w->sub[c], wet = w->wet[c], sl = w->slope[c];
    int calc = sub >= 0.5f;
    if (!t) return H_T41;
    if (t->alien) return t->leaf == SYN_LEAF_CON ? H_T3L : H_T1J;
    if (genus_is(t, "Alnus")) return med ? H_T14 : H_T12;
    if (genus_is(t, "Salix") || genus_is(t, "Populus") || genus_is(t, "Tamarix") || genus_is(t, "Platanus") ||
        name_starts(t, "Fraxinus angustifolia") || name_starts(t, "Ulmus minor") || wet > 0.8f) {
        if (name_starts(t, "Populus tremula")) return med ? H_T1D : H_T1C;
        return med ? H_T14 : H_T11;
    }
    if (t->leaf == SYN_LEAF_CON) {
        if (genus_is(t, "Pinus")) {
            if (name_starts(t, "Pinus halepensis") || name_starts(t, "Pinus pinea") ||
                name_starts(t, "Pinus pinaster") || name_starts(t, "Pinus brutia"))
                return (w->dcoast[c] < 1500.f && w->elev[c] < 10.f) ? H_N1G : H_T3A;
            if (name_starts(t, "Pinus cembra") || name_starts(t, "Pinus uncinata") || name_starts(t, "Pinus mugo"))
                return H_T34;
            return (med && tann > 8.f) ? H_T37 : H_T36;
        }
        if (genus_is(t, "Abies")) return med ? H_T33 : H_T32;
        if (genus_is(t, "Picea")) return H_T31;
        if (genus_is(t, "Larix")) return H_T34;
        if (genus_is(t, "Cedrus")) return H_T38;
        if (genus_is(t, "Taxus")) return H_T3C;
        if (genus_is(t, "Juniperus") || genus_is(t, "Cupressus") || genus_is(t, "Tetraclinis")) return H_T3D;
        return med ? H_T37 : H_T36;
    }
    if (t->leaf == SYN_LEAF_EVG) {
        if (genus_is(t, "Olea") || genus_is(t, "Ceratonia")) return H_T24;
        if (genus_is(t, "Laurus")) return H_T22;
        if (genus_is(t, "Ilex")) return H_T27;
        return H_T21;
    }
    if (genus_is(t, "Fagus")) return calc ? H_T17 : H_T18;
    if (genus_is(t, "Betula") || genus_is(t, "Sorbus")) return med ? H_T1D : H_T1C;
    if (genus_is(t, "Castanea")) return calc ? H_T19 : H_T1B;
    if (genus_is(t, "Quercus")) {
        if (!calc && (name_starts(t, "Quercus petraea") || name_starts(t, "Quercus robur"))) return H_T1B;
        return (med && tann > 14.f) ? H_T1A : H_T19;
    }
    if (genus_is(t, "Carpinus") || genus_is(t, "Tilia") || genus_is(t, "Acer") || genus_is(t, "Fraxinus") ||
        genus_is(t, "Ulmus")) {
        if (sl > 25.f) return H_T1F;
        return med ? H_T19 : H_T1E;
    }
    return med ? H_T19 : H_T1E;
}

int gpn__syn_habitat_rule(const struct syn_world *w, size_t c, int tree, int helo)
{
    int med = w->med;
    float tann = w->tann[c], sub = w->sub[c], wet = w->wet[c], sl = w->slope[c], e = w->elev[c], dc = w->dcoast[c];
    int calc = sub >= 0.5f;
    int coastal_sand = dc < 500.f && e < 8.f;
    switch (w->lc[c]) {
    case GPN_SYNTH_LC_FOREST: return forest_rule(w, c, tree >= 0 ? &w->sp[tree] : NULL);
    case GPN_SYNTH_LC_SCRUB:
        if (coastal_sand) return med ? H_N1B : H_N1A;
        if (wet > 0.7f) return med ? H_S93 : H_S91;
        if (tann < 4.f) return H_S22;
        if (med) {
            if (tann < 11.f) return calc ? H_S31 : H_S33;
            if (w->pann[c] > 950.f || (tree >= 0 && w->sp[tree].leaf == SYN_LEAF_EVG && wet > 0.45f)) return H_S51;
            return calc ? H_S61 : H_S62;
        }
        return calc ? H_S35 : H_S42;
    case GPN_SYNTH_LC_GRASSLAND:
        if (coastal_sand) return med ? H_N16 : H_N15;
        if (wet > 0.65f) return med ? H_R31 : H_R35;
        if (tann < 3.f) return calc ? H_R44 : H_R43;
        if (tann < 7.f) return calc ? H_R23 : H_R1M;
        if (med) {
            if (tann < 11.f) return calc ? H_R18 : H_R1R;
            if (!calc) return H_R1R;
            if (w->pann[c] < 620.f) return H_R1F;
            return sl > 12.f ? H_R1D : H_R1E;
        }
        if (calc) return H_R1A;
        return w->pann[c] > 900.f ? H_R21 : H_R22;
    case GPN_SYNTH_LC_CROPLAND:
        switch (w->crop[c]) {
        case SYN_CROP_VINE: return H_V54;
        case SYN_CROP_ORCHARD: return med ? H_V62 : H_V61;
        case SYN_CROP_FALLOW: return H_V15;
        default: return (sl > 5.f || w->dtown[c] > 3000.f) ? H_V13 : H_V11;
        }
    case GPN_SYNTH_LC_URBAN:
        if (w->tcore[c] < 0.55f) return H_V37;
        if (w->tcore[c] < 0.8f) return H_V22;
        return (med && wet <= 0.5f) ? H_V38 : H_V39;
    case GPN_SYNTH_LC_WETLAND:
        if (dc < 3000.f && e < 3.f) return med ? H_MA25 : H_MA22;
        if (helo >= 0) {
            const struct syn_species *h = &w->sp[helo];
            if (genus_is(h, "Phragmites") || genus_is(h, "Typha") || genus_is(h, "Arundo") ||
                genus_is(h, "Schoenoplectus") || genus_is(h, "Scirpus") || genus_is(h, "Bolboschoenus") ||
                genus_is(h, "Sparganium") || genus_is(h, "Glyceria") || genus_is(h, "Phalaris"))
                return H_Q51;
            if (genus_is(h, "Carex") || genus_is(h, "Cladium")) return H_Q53;
            if (genus_is(h, "Juncus")) return med ? H_R31 : H_R35;
            return H_Q52;
        }
        return med ? H_Q51 : H_Q53;
    case GPN_SYNTH_LC_ROCK:
        if (dc < 400.f && e < 6.f) return sl > 15.f ? (med ? H_N32 : H_N31) : (med ? H_N12 : H_N11);
        if (tann < 3.f) return sl > 40.f ? (calc ? H_U36 : H_U32) : (calc ? H_U26 : H_U22);
        if (sl > 40.f) return med ? (calc ? H_U38 : H_U34) : (calc ? H_U37 : H_U33);
        return med ? (calc ? H_U28 : H_U24) : (calc ? H_U27 : H_U23);
    default: return -1;
    }
}

void gpn__syn_habitat_map(struct syn_world *w)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < w->H; r++)
        for (int c = 0; c < w->W; c++) {
            size_t i = (size_t)r * w->W + c;
            int h = gpn__syn_habitat_rule(w, i, w->dom_tree[i], w->dom_helo[i]);
            w->hab[i] = (uint8_t)(h + 1);
        }
}

void gpn__syn_surface_map(struct syn_world *w)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < w->H; r++)
        for (int c = 0; c < w->W; c++) {
            size_t i = (size_t)r * w->W + c;
            uint8_t s = SFC_NONE;
            switch (w->lc[i]) {
            case GPN_SYNTH_LC_SEA: s = SFC_SEA; break;
            case GPN_SYNTH_LC_WATER: s = SFC_WATER; break;
            case GPN_SYNTH_LC_ROCK:
                s = (w->dcoast[i] < 400.f && w->elev[i] < 6.f) ? SFC_SAND : w->sub[i] >= 0.5f ? SFC_ROCK_CALC : SFC_ROCK_ACID;
                break;
            case GPN_SYNTH_LC_FOREST: {
                int t = w->dom_tree[i];
                int leaf = t >= 0 ? w->sp[t].leaf : SYN_LEAF_DEC;
                s = leaf == SYN_LEAF_CON ? SFC_FOREST_CON : leaf == SYN_LEAF_EVG ? SFC_FOREST_EVG : SFC_FOREST_DEC;
                break;
            }
            case GPN_SYNTH_LC_SCRUB: s = SFC_SCRUB; break;
            case GPN_SYNTH_LC_GRASSLAND: s = w->wet[i] > 0.6f ? SFC_GRASS_MOIST : SFC_GRASS_DRY; break;
            case GPN_SYNTH_LC_CROPLAND:
                s = w->crop[i] == SYN_CROP_VINE      ? SFC_CROP_VINE
                    : w->crop[i] == SYN_CROP_ORCHARD ? SFC_CROP_ORCHARD
                    : w->crop[i] == SYN_CROP_FALLOW  ? SFC_CROP_FALLOW
                                                     : SFC_CROP_ARABLE;
                break;
            case GPN_SYNTH_LC_WETLAND:
                s = (w->dcoast[i] < 3000.f && w->elev[i] < 3.f) ? SFC_WET_SALT : SFC_WET_REED;
                break;
            case GPN_SYNTH_LC_URBAN: s = w->tcore[i] < 0.55f ? SFC_URBAN_DENSE : SFC_URBAN_RES; break;
            default: s = SFC_NONE; break;
            }
            w->sfc[i] = s;
        }
}
