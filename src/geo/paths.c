/*
 * paths.c - locating files of the shipped data folder (see paths.h).
 *
 * Three candidate roots, tried in order: $GPN_DATA, ./data and
 * <exe dir>/../data. The first root that holds the file wins; when GPN_DATA
 * is set it is the only root tried, so a wrong override is reported instead
 * of being hidden by a fallback.
 */
#include "gpn/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpn/util.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Fills dir (n bytes) with "<dir of /proc/self/exe>/../data"; 0 or -1. */
static int exe_data_dir(char *dir, size_t n)
{
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return -1;
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = 0;
    int w = snprintf(dir, n, "%s/../data", exe);
    return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

int gpn_data_path(const char *rel, char *buf, size_t n, struct gpn_err *err)
{
    if (!rel || !rel[0] || !buf || n == 0) return gpn_err_set(err, GPN_EINVAL, "gpn_data_path: empty path");
    const char *env = getenv("GPN_DATA");
    if (env && env[0]) {
        if (gpn_path_join(buf, n, env, rel)) return gpn_err_set(err, GPN_ETOOBIG, "gpn_data_path: path too long");
        if (gpn_path_exists(buf)) return 0;
        return gpn_err_set(err, GPN_ENOTFOUND, "gpn_data_path: %s not found (GPN_DATA=%s)", buf, env);
    }
    if (gpn_path_join(buf, n, "data", rel)) return gpn_err_set(err, GPN_ETOOBIG, "gpn_data_path: path too long");
    if (gpn_path_exists(buf)) return 0;
    char dir[PATH_MAX];
    if (exe_data_dir(dir, sizeof dir) == 0) {
        if (gpn_path_join(buf, n, dir, rel)) return gpn_err_set(err, GPN_ETOOBIG, "gpn_data_path: path too long");
        if (gpn_path_exists(buf)) return 0;
    } else {
        gpn_strlcpy(dir, "<exe dir>/../data", sizeof dir);
    }
    buf[0] = 0;
    return gpn_err_set(err, GPN_ENOTFOUND,
                       "gpn_data_path: data file '%s' not found in ./data or %s; set GPN_DATA to the data folder",
                       rel, dir);
}
