/*
 * export.c - a report as JSON (the versioned schema of
 * docs/report.schema.json), as CSV (species list; habitats list) and as
 * GeoJSON (the area with the summary as properties).
 *
 * Written with the append buffer (util.h), not a DOM: a report of 10,000
 * species is a few MB and is streamed out in one pass. Numbers that are
 * unknown (NaN) are written as null. CSV follows RFC 4180 (fields with a
 * comma, quote or newline are quoted, quotes doubled).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/catalog.h"
#include "gpn/report.h"
#include "gpn/version.h"

/* ==== helpers =========================================================== */

static void jnum(struct gpn_buf *b, double v, int decimals)
{
    if (!isfinite(v)) {
        gpn_buf_puts(b, "null");
        return;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
    /* Trim trailing zeros ("12.5000" -> "12.5", "3.000" -> "3"). */
    char *dot = strchr(tmp, '.');
    if (dot) {
        char *e = tmp + strlen(tmp) - 1;
        while (e > dot && *e == '0') *e-- = 0;
        if (e == dot) *e = 0;
    }
    if (!strcmp(tmp, "-0")) strcpy(tmp, "0");
    gpn_buf_puts(b, tmp);
}

static void jstr(struct gpn_buf *b, const char *s)
{
    gpn_buf_puts(b, "\"");
    gpn_buf_json_str(b, s ? s : "");
    gpn_buf_puts(b, "\"");
}

/* A string, or null when empty. */
static void jstr_or_null(struct gpn_buf *b, const char *s)
{
    if (!s || !*s) gpn_buf_puts(b, "null");
    else jstr(b, s);
}

static const char *jbool(int v) { return v ? "true" : "false"; }

static void csv_field(struct gpn_buf *b, const char *s)
{
    if (!s) s = "";
    if (!strpbrk(s, ",\"\r\n")) {
        gpn_buf_puts(b, s);
        return;
    }
    gpn_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"') gpn_buf_puts(b, "\"\"");
        else gpn_buf_append(b, p, 1);
    }
    gpn_buf_puts(b, "\"");
}

/* ==== JSON ============================================================== */

static void json_species(struct gpn_buf *b, const struct gpn_report_species *s, size_t rank)
{
    gpn_buf_printf(b, "{\"rank\":%zu,\"id\":%u,\"scientific_name\":", rank, s->id);
    jstr_or_null(b, s->name);
    gpn_buf_puts(b, ",\"genus\":");
    jstr_or_null(b, s->genus);
    gpn_buf_puts(b, ",\"family\":");
    jstr_or_null(b, s->family);
    gpn_buf_printf(b, ",\"cells\":%lld,\"pct_area\":", (long long)s->cells);
    jnum(b, s->pct, 4);
    gpn_buf_printf(b, ",\"directive\":%s,\"redlist\":", jbool(s->flags & GPN_SPECIES_DIRECTIVE));
    jstr_or_null(b, s->redlist);
    gpn_buf_printf(b, ",\"invasive\":%s,\"endemic\":%s,\"tree\":%s,\"specialist\":%s}",
                   jbool(s->flags & GPN_SPECIES_INVASIVE), jbool(s->flags & GPN_SPECIES_ENDEMIC),
                   jbool(s->flags & GPN_SPECIES_TREE), jbool(s->flags & GPN_SPECIES_SPECIALIST));
}

static void json_indicator(struct gpn_buf *b, const struct gpn_report_indicator *ind)
{
    if (!ind->present) {
        gpn_buf_puts(b, "null");
        return;
    }
    gpn_buf_printf(b, "{\"cells\":%lld,\"mean\":", (long long)ind->cells);
    jnum(b, ind->mean, 4);
    gpn_buf_puts(b, ",\"min\":");
    jnum(b, ind->min, 4);
    gpn_buf_puts(b, ",\"max\":");
    jnum(b, ind->max, 4);
    gpn_buf_puts(b, ",\"median\":");
    jnum(b, ind->median, 4);
    gpn_buf_puts(b, ",\"histogram\":");
    if (!ind->cells) {
        gpn_buf_puts(b, "null}");
        return;
    }
    gpn_buf_puts(b, "{\"lo\":");
    jnum(b, ind->hist_lo, 4);
    gpn_buf_puts(b, ",\"width\":");
    jnum(b, ind->hist_w, 4);
    gpn_buf_puts(b, ",\"counts\":[");
    for (int k = 0; k < ind->nbins; k++) gpn_buf_printf(b, "%s%lld", k ? "," : "", (long long)ind->hist[k]);
    gpn_buf_puts(b, "]}}");
}

int gpn_report_to_json(const struct gpn_report *r, size_t max_species, struct gpn_buf *b)
{
    gpn_buf_printf(b, "{\"schema_version\":\"%s\",\"generator\":\"geoplantnet %s\",", GPN_REPORT_SCHEMA_VERSION,
                   GPN_VERSION);
    gpn_buf_puts(b, "\"grid\":{\"crs\":\"EPSG:3035\",\"cell_m\":50,\"tile_km\":25,\"rule\":\"cell-centre\"},");
    gpn_buf_printf(b, "\"area\":{\"cells\":%lld,\"cells_with_data\":%lld,\"km2\":", (long long)r->cells,
                   (long long)r->cells_with_data);
    jnum(b, r->area_km2, 4);
    gpn_buf_puts(b, ",\"polygon_km2\":");
    jnum(b, r->geom_area_km2, 4);
    gpn_buf_puts(b, ",\"data_coverage_pct\":");
    jnum(b, r->cells ? 100.0 * (double)r->cells_with_data / (double)r->cells : NAN, 4);
    gpn_buf_puts(b, ",\"bbox\":[");
    for (int i = 0; i < 4; i++) {
        if (i) gpn_buf_puts(b, ",");
        jnum(b, r->bbox[i], 6);
    }
    gpn_buf_printf(b, "],\"tiles\":%zu,\"tiles_with_data\":%zu},", r->tiles, r->tiles_with_data);

    gpn_buf_printf(b,
                   "\"counts\":{\"species\":%zu,\"protected\":%lld,\"threatened\":%lld,"
                   "\"threatened_by_category\":{\"CR\":%lld,\"EN\":%lld,\"VU\":%lld},"
                   "\"invasive\":%lld,\"endemic\":%lld,\"tree\":%lld,\"specialist\":%lld},",
                   r->nspecies, (long long)r->n_directive, (long long)r->n_threatened, (long long)r->n_cr,
                   (long long)r->n_en, (long long)r->n_vu, (long long)r->n_invasive, (long long)r->n_endemic,
                   (long long)r->n_tree, (long long)r->n_specialist);

    size_t ns = max_species && max_species < r->nspecies ? max_species : r->nspecies;
    gpn_buf_printf(b, "\"species_listed\":%zu,\"species\":[", ns);
    for (size_t i = 0; i < ns; i++) {
        if (i) gpn_buf_puts(b, ",");
        json_species(b, &r->species[i], i + 1);
    }
    gpn_buf_puts(b, "],");

    int any_ind = 0;
    for (int k = 0; k < GPN_REPORT_NIND; k++) any_ind |= r->ind[k].present;
    gpn_buf_puts(b, "\"indicators\":");
    if (!any_ind) {
        gpn_buf_puts(b, "null,");
    } else {
        gpn_buf_puts(b, "{");
        for (int k = 0; k < GPN_REPORT_NIND; k++) {
            gpn_buf_printf(b, "%s\"%s\":", k ? "," : "", gpn_report_indicator_names[k]);
            json_indicator(b, &r->ind[k]);
        }
        gpn_buf_puts(b, "},");
    }

    gpn_buf_puts(b, "\"habitats\":");
    if (!r->habitats_present) {
        gpn_buf_puts(b, "null,");
    } else {
        gpn_buf_printf(b, "{\"cells\":%lld", (long long)r->habitat_cells);
        for (int l = 0; l < 3; l++) {
            gpn_buf_printf(b, ",\"level%d\":[", l + 1);
            for (size_t i = 0; i < r->nhabitats[l]; i++) {
                const struct gpn_report_habitat *h = &r->habitats[l][i];
                gpn_buf_puts(b, i ? ",{\"code\":" : "{\"code\":");
                jstr(b, h->code);
                gpn_buf_puts(b, ",\"name\":");
                jstr_or_null(b, h->name);
                gpn_buf_printf(b, ",\"cells\":%lld,\"pct\":", (long long)h->cells);
                jnum(b, h->pct, 4);
                gpn_buf_puts(b, "}");
            }
            gpn_buf_puts(b, "]");
        }
        gpn_buf_puts(b, "},");
    }

    gpn_buf_puts(b, "\"models\":{\"sdm\":");
    jstr_or_null(b, r->sdm_model);
    gpn_buf_puts(b, ",\"hdm\":");
    jstr_or_null(b, r->hdm_model);
    gpn_buf_puts(b, ",\"species_source\":");
    jstr_or_null(b, r->species_source);
    gpn_buf_puts(b, ",\"alpha\":");
    jnum(b, r->alpha, 6);
    gpn_buf_puts(b, ",\"threshold\":");
    jnum(b, r->threshold, 6);
    gpn_buf_puts(b, "},\"elapsed_ms\":");
    jnum(b, r->elapsed_ms, 3);
    gpn_buf_puts(b, "}\n");
    return b->oom ? GPN_ENOMEM : 0;
}

/* ==== CSV =============================================================== */

int gpn_report_species_csv(const struct gpn_report *r, struct gpn_buf *b)
{
    gpn_buf_puts(b, "rank,id,scientific_name,genus,family,cells,pct_area,directive,redlist,invasive,endemic,tree,"
                    "specialist\n");
    for (size_t i = 0; i < r->nspecies; i++) {
        const struct gpn_report_species *s = &r->species[i];
        gpn_buf_printf(b, "%zu,%u,", i + 1, s->id);
        csv_field(b, s->name);
        gpn_buf_puts(b, ",");
        csv_field(b, s->genus);
        gpn_buf_puts(b, ",");
        csv_field(b, s->family);
        gpn_buf_printf(b, ",%lld,", (long long)s->cells);
        jnum(b, s->pct, 4);
        gpn_buf_printf(b, ",%d,%s,%d,%d,%d,%d\n", !!(s->flags & GPN_SPECIES_DIRECTIVE), s->redlist,
                       !!(s->flags & GPN_SPECIES_INVASIVE), !!(s->flags & GPN_SPECIES_ENDEMIC),
                       !!(s->flags & GPN_SPECIES_TREE), !!(s->flags & GPN_SPECIES_SPECIALIST));
    }
    return b->oom ? GPN_ENOMEM : 0;
}

int gpn_report_habitats_csv(const struct gpn_report *r, struct gpn_buf *b)
{
    gpn_buf_puts(b, "level,code,name,cells,pct\n");
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < r->nhabitats[l]; i++) {
            const struct gpn_report_habitat *h = &r->habitats[l][i];
            gpn_buf_printf(b, "%d,", l + 1);
            csv_field(b, h->code);
            gpn_buf_puts(b, ",");
            csv_field(b, h->name);
            gpn_buf_printf(b, ",%lld,", (long long)h->cells);
            jnum(b, h->pct, 4);
            gpn_buf_puts(b, "\n");
        }
    return b->oom ? GPN_ENOMEM : 0;
}

/* ==== GeoJSON =========================================================== */

static struct gpn_geom *geom_copy(const struct gpn_geom *g)
{
    struct gpn_geom *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = *g;
    c->xy = malloc((g->npts ? g->npts : 1) * 2 * sizeof *c->xy);
    c->rings = malloc((g->nrings ? g->nrings : 1) * sizeof *c->rings);
    c->polys = malloc((g->npolys ? g->npolys : 1) * sizeof *c->polys);
    if (!c->xy || !c->rings || !c->polys) {
        free(c->xy);
        free(c->rings);
        free(c->polys);
        free(c);
        return NULL;
    }
    if (g->npts) memcpy(c->xy, g->xy, g->npts * 2 * sizeof *c->xy);
    if (g->nrings) memcpy(c->rings, g->rings, g->nrings * sizeof *c->rings);
    if (g->npolys) memcpy(c->polys, g->polys, g->npolys * sizeof *c->polys);
    return c;
}

int gpn_report_to_geojson(const struct gpn_report *r, const struct gpn_geom *area, struct gpn_buf *b,
                          struct gpn_err *err)
{
    struct gpn_geom *g = geom_copy(area);
    if (!g) return gpn_err_set(err, GPN_ENOMEM, "gpn_report_to_geojson: out of memory");
    if (g->epsg != 4326) {
        int rc = gpn_geom_transform(g, 4326, err);
        if (rc) {
            gpn_geom_free(g);
            return rc;
        }
    }
    gpn_buf_puts(b, "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":"
                    "{\"type\":\"MultiPolygon\",\"coordinates\":[");
    for (size_t p = 0; p < g->npolys; p++) {
        gpn_buf_puts(b, p ? ",[" : "[");
        for (size_t ri = 0; ri < g->polys[p].nrings; ri++) {
            const struct gpn_ring *ring = &g->rings[g->polys[p].ring0 + ri];
            gpn_buf_puts(b, ri ? ",[" : "[");
            for (size_t i = 0; i <= ring->n; i++) { /* closing point repeated, as GeoJSON requires */
                const double *xy = g->xy + 2 * (ring->off + i % ring->n);
                gpn_buf_printf(b, "%s[%.7f,%.7f]", i ? "," : "", xy[0], xy[1]);
            }
            gpn_buf_puts(b, "]");
        }
        gpn_buf_puts(b, "]");
    }
    gpn_geom_free(g);
    gpn_buf_printf(b, "]},\"properties\":{\"schema_version\":\"%s\",\"cells\":%lld,\"cells_with_data\":%lld,\"km2\":",
                   GPN_REPORT_SCHEMA_VERSION, (long long)r->cells, (long long)r->cells_with_data);
    jnum(b, r->area_km2, 4);
    gpn_buf_printf(b,
                   ",\"species\":%zu,\"protected\":%lld,\"threatened\":%lld,\"invasive\":%lld,\"endemic\":%lld,"
                   "\"tree\":%lld,\"specialist\":%lld",
                   r->nspecies, (long long)r->n_directive, (long long)r->n_threatened, (long long)r->n_invasive,
                   (long long)r->n_endemic, (long long)r->n_tree, (long long)r->n_specialist);
    for (int k = 0; k < GPN_REPORT_NIND; k++) {
        if (!r->ind[k].present) continue;
        gpn_buf_printf(b, ",\"%s_mean\":", gpn_report_indicator_names[k]);
        jnum(b, r->ind[k].mean, 4);
    }
    gpn_buf_puts(b, ",\"top_species\":[");
    for (size_t i = 0; i < r->nspecies && i < 10; i++) {
        if (i) gpn_buf_puts(b, ",");
        gpn_buf_printf(b, "{\"id\":%u,\"scientific_name\":", r->species[i].id);
        jstr_or_null(b, r->species[i].name);
        gpn_buf_puts(b, ",\"pct_area\":");
        jnum(b, r->species[i].pct, 4);
        gpn_buf_puts(b, "}");
    }
    gpn_buf_puts(b, "]");
    if (r->habitats_present && r->nhabitats[2] > 0) {
        gpn_buf_puts(b, ",\"main_habitat\":");
        jstr(b, r->habitats[2][0].code);
        gpn_buf_puts(b, ",\"main_habitat_pct\":");
        jnum(b, r->habitats[2][0].pct, 4);
    }
    gpn_buf_puts(b, "}}]}\n");
    return b->oom ? gpn_err_set(err, GPN_ENOMEM, "gpn_report_to_geojson: out of memory") : 0;
}
