/*
 * log.h - the one logger. Messages go to stderr as
 *   "2026-11-27 10:00:00 INFO  message"
 * The level is process-wide and set once by the application (apps/) from
 * --verbose/--quiet or GPN_LOG=debug|info|warn|error; library code only
 * calls gpn_log_*. Thread-safe: one fprintf per line.
 */
#ifndef GPN_LOG_H
#define GPN_LOG_H

#include "gpn/err.h"

enum gpn_log_level {
    GPN_LOG_DEBUG = 0,
    GPN_LOG_INFO = 1,
    GPN_LOG_WARN = 2,
    GPN_LOG_ERROR = 3,
    GPN_LOG_OFF = 4,
};

void gpn_log_set_level(enum gpn_log_level level);
enum gpn_log_level gpn_log_get_level(void);
/* Reads GPN_LOG from the environment; unknown values are ignored. */
void gpn_log_init_from_env(void);

void gpn_log(enum gpn_log_level level, const char *fmt, ...) GPN_PRINTF(2, 3);

#define gpn_log_debug(...) gpn_log(GPN_LOG_DEBUG, __VA_ARGS__)
#define gpn_log_info(...) gpn_log(GPN_LOG_INFO, __VA_ARGS__)
#define gpn_log_warn(...) gpn_log(GPN_LOG_WARN, __VA_ARGS__)
#define gpn_log_error(...) gpn_log(GPN_LOG_ERROR, __VA_ARGS__)

#endif
