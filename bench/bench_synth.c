/*
 * bench_synth.c - wall and CPU time of `gpn synth` regions, per phase.
 *
 * Cases: "quick" (the test preset: 1 meta-tile, 50 species, Sentinel-2 at
 * 20 m, Landsat at 90 m) always; "default" (2 x 2 meta-tiles, 500 species,
 * 10 m / 30 m: the demo region whose budget is 3 minutes on 2 cores) with
 * --full. Before timing, the quick case is generated twice and its PA CSV
 * compared byte for byte (the generator must be deterministic for its
 * timings to mean anything). Output: one CSV line per case,
 *   bench_synth,case,threads,cells,species,wall_s,cpu_s,terrain_s,species_s,obs_s,imagery_s,write_s
 * Regions are written under /tmp/gpn-bench-synth-* and removed afterwards.
 *
 * Usage: bench_synth [--full] [--threads N]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gpn/log.h"
#include "gpn/synth.h"
#include "gpn/util.h"

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static int run_case(const char *name, int full, const char *dir, struct gpn_synth_result *r)
{
    struct gpn_synth_opts o;
    gpn_synth_opts_init(&o);
    if (!full) gpn_synth_opts_quick(&o);
    o.out_dir = dir;
    o.force = 1;
    struct gpn_err err = {0};
    double c0 = cpu_seconds();
    if (gpn_synth_run(&o, r, &err)) {
        fprintf(stderr, "bench_synth: %s: %s\n", name, err.msg);
        return -1;
    }
    printf("bench_synth,%s,%d,%d,%d,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f\n", name, omp_get_max_threads(),
           r->width * r->height, r->n_species, r->seconds, cpu_seconds() - c0, r->t_terrain, r->t_species, r->t_obs,
           r->t_imagery, r->t_write);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int full = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) full = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) omp_set_num_threads(atoi(argv[++i]));
        else {
            fprintf(stderr, "usage: bench_synth [--full] [--threads N]\n");
            return 2;
        }
    }
    gpn_log_set_level(GPN_LOG_WARN);
    char root[] = "/tmp/gpn-bench-synth-XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    char a[600], b[600], pa[700], pb[700];
    snprintf(a, sizeof a, "%s/quick-a", root);
    snprintf(b, sizeof b, "%s/quick-b", root);
    struct gpn_synth_result r;
    int rc = 1;
    printf("bench,case,threads,cells,species,wall_s,cpu_s,terrain_s,species_s,obs_s,imagery_s,write_s\n");
    if (run_case("quick", 0, a, &r) || run_case("quick", 0, b, &r)) goto done;
    snprintf(pa, sizeof pa, "%s/geoplant/PA_metadata_train.csv", a);
    snprintf(pb, sizeof pb, "%s/geoplant/PA_metadata_train.csv", b);
    char *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    struct gpn_err err = {0};
    if (gpn_file_read(pa, &da, &na, &err) || gpn_file_read(pb, &db, &nb, &err) || na != nb || memcmp(da, db, na)) {
        fprintf(stderr, "bench_synth: two quick runs differ (or could not be read): not deterministic\n");
        free(da);
        free(db);
        goto done;
    }
    free(da);
    free(db);
    if (full) {
        char d[600];
        snprintf(d, sizeof d, "%s/default", root);
        if (run_case("default", 1, d, &r)) goto done;
    }
    rc = 0;
done:
    gpn_rm_rf(root, NULL);
    return rc;
}
