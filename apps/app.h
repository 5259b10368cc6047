/*
 * app.h - helpers shared by the gpn sub-commands (apps/ only).
 *
 * Each sub-command lives in apps/cmd_<name>.c and defines
 *     int gpn_cmd_<name>(int argc, char **argv);
 * argv[0] is the sub-command name. It returns the process exit status:
 * 0 success, 1 runtime failure (bad input data, I/O), 2 usage error.
 * Sub-commands parse options with getopt_long, answer -h/--help with their
 * usage on stdout (exit 0), and print errors as "gpn <cmd>: <message>".
 * apps/ is the only place allowed to exit().
 */
#ifndef GPN_APP_H
#define GPN_APP_H

#include <getopt.h>

#include "gpn/err.h"

/* Prints "gpn <cmd>: <err.msg>" to stderr and returns 1. */
int app_fail(const char *cmd, const struct gpn_err *err);
/* Prints "gpn <cmd>: <message>\nTry 'gpn <cmd> --help'." and returns 2. */
int app_usage_error(const char *cmd, const char *fmt, ...) GPN_PRINTF(2, 3);
/* Resets getopt so each sub-command parses from a clean state. */
void app_getopt_reset(void);
/* Handles the options every command accepts (-v/--verbose, -q/--quiet);
 * returns 1 when the option was one of them. */
int app_common_option(int opt);

#define APP_COMMON_LONGOPTS {"help", no_argument, 0, 'h'}, {"verbose", no_argument, 0, 'v'}, {"quiet", no_argument, 0, 'q'}

#endif
