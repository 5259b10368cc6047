/*
 * log.c - the one logger (see log.h). The level is the only global state and
 * is written once at start-up by the application.
 */
#include "gpn/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum gpn_log_level g_level = GPN_LOG_INFO;

void gpn_log_set_level(enum gpn_log_level level) { g_level = level; }
enum gpn_log_level gpn_log_get_level(void) { return g_level; }

void gpn_log_init_from_env(void)
{
    const char *v = getenv("GPN_LOG");
    if (!v) return;
    if (!strcasecmp(v, "debug")) g_level = GPN_LOG_DEBUG;
    else if (!strcasecmp(v, "info")) g_level = GPN_LOG_INFO;
    else if (!strcasecmp(v, "warn")) g_level = GPN_LOG_WARN;
    else if (!strcasecmp(v, "error")) g_level = GPN_LOG_ERROR;
    else if (!strcasecmp(v, "off")) g_level = GPN_LOG_OFF;
}

void gpn_log(enum gpn_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (level < g_level || level >= GPN_LOG_OFF) return;
    char msg[2048], stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s %s\n", stamp, names[level], msg);
}
