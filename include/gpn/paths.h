/*
 * paths.h - finding the project's shipped data folder (data/).
 *
 * The repository ships small reference data under data/ (country borders in
 * data/boundaries/, ...). Programs can run from the repository root, from an
 * installed tree or from anywhere with an explicit override, so a data file
 * is looked up, in this order:
 *   1. $GPN_DATA/<rel> when the environment variable GPN_DATA is set (and
 *      only there: an explicit override that points nowhere is an error, not
 *      a reason to silently fall back);
 *   2. ./data/<rel> relative to the current directory;
 *   3. <dir of the running executable>/../data/<rel> (Linux /proc/self/exe),
 *      which finds the repository's data/ from build/gpn.
 * Thread-safe (reads the environment only).
 */
#ifndef GPN_PATHS_H
#define GPN_PATHS_H

#include <stddef.h>

#include "gpn/err.h"

/* Writes the path of data file `rel` (e.g. "boundaries/countries-50m.json")
 * into buf (n bytes). Returns 0 when the file exists there, GPN_ENOTFOUND
 * (message lists the places tried) when it exists nowhere, GPN_ETOOBIG when
 * the path does not fit, GPN_EINVAL for a NULL/empty rel. */
int gpn_data_path(const char *rel, char *buf, size_t n, struct gpn_err *err);

#endif
