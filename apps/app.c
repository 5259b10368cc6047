/*
 * app.c - helpers shared by the gpn sub-commands (see app.h).
 */
#include "app.h"

#include <stdarg.h>
#include <stdio.h>

#include "gpn/log.h"

int app_fail(const char *cmd, const struct gpn_err *err)
{
    fprintf(stderr, "gpn %s: %s\n", cmd, err && err->msg[0] ? err->msg : gpn_strerror(err ? err->code : GPN_EINTERNAL));
    return 1;
}

int app_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gpn %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'gpn %s --help'.\n", cmd);
    va_end(ap);
    return 2;
}

void app_getopt_reset(void)
{
    optind = 1;
    opterr = 1;
}

int app_common_option(int opt)
{
    switch (opt) {
    case 'v': gpn_log_set_level(GPN_LOG_DEBUG); return 1;
    case 'q': gpn_log_set_level(GPN_LOG_WARN); return 1;
    default: return 0;
    }
}
