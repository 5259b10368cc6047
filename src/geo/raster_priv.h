/*
 * raster_priv.h - internals shared by src/geo/raster*.c (never included
 * outside src/geo/raster*.c: it pulls in the GDAL headers).
 *
 * Error capture: GDAL reports errors through a per-thread handler stack.
 * Every entry point brackets its GDAL calls with gpn__gdal_cap_begin() /
 * gpn__gdal_cap_end(), which push/pop a handler whose user data is a
 * struct gpn__gdal_cap on the caller's stack. The handler keeps the first
 * CE_Failure/CE_Fatal message (the root cause; later ones are usually
 * "... failed" echoes) and logs warnings at debug level, so nothing is
 * ever printed by GDAL itself and concurrent threads never see each other's
 * messages.
 */
#ifndef GPN_RASTER_PRIV_H
#define GPN_RASTER_PRIV_H

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>

#include "gpn/err.h"
#include "gpn/raster.h"

struct gpn__gdal_cap {
    int n_fail;            /* CE_Failure / CE_Fatal messages seen */
    CPLErrorNum first_num; /* CPLE_* of the first failure */
    char msg[400];         /* text of the first failure, "" when none */
    int n_warn;            /* CE_Warning messages seen */
    char warn[400];        /* text of the first warning, "" when none */
};

/* Pushes the capturing handler for the calling thread; cap is zeroed. */
void gpn__gdal_cap_begin(struct gpn__gdal_cap *cap);
/* Pops the handler pushed by the matching gpn__gdal_cap_begin(). */
void gpn__gdal_cap_end(struct gpn__gdal_cap *cap);
/* Sets err to code with "what: <GDAL message>" (or "what: fallback" when
 * GDAL said nothing). Returns code. */
int gpn__gdal_cap_err(const struct gpn__gdal_cap *cap, struct gpn_err *err, int code, const char *what,
                      const char *fallback);

/* GDAL type of dt; GDT_Unknown for invalid values. */
GDALDataType gpn__dtype_to_gdal(enum gpn_dtype dt);
/* Our type for a GDAL type; 0 for types we do not model (complex, int8, 64-bit ints). */
enum gpn_dtype gpn__dtype_from_gdal(GDALDataType t);

#endif
