/*
 * progress.h - the one progress bar.
 *
 * On a terminal it redraws one line on stderr at most 10 times a second:
 *   "train  [#########.........]  45%  4500/10000 samples  812.3/s  ETA 0:07"
 * When stderr is not a terminal (logs, CI) it prints a plain line every 10%
 * (and at the end) instead, so logs stay readable. GPN_PROGRESS=0 silences it.
 *
 * Updates are thread-safe (an atomic counter); drawing happens in the thread
 * that crosses the redraw interval. The struct is caller-owned (usually on
 * the stack) and holds no heap memory.
 */
#ifndef GPN_PROGRESS_H
#define GPN_PROGRESS_H

#include <stdatomic.h>
#include <stdint.h>

struct gpn_progress {
    char label[32];
    char unit[16];
    int64_t total;          /* 0 when unknown: no bar, no ETA */
    _Atomic int64_t done;
    double t_start;         /* seconds, monotonic */
    _Atomic int64_t last_draw_ms;
    int last_decile;
    int tty;
    int enabled;
    char extra[64];         /* free text shown after the rate (e.g. loss) */
};

void gpn_progress_init(struct gpn_progress *p, const char *label, int64_t total, const char *unit);
/* Adds n units of work done (thread-safe) and redraws when due. */
void gpn_progress_add(struct gpn_progress *p, int64_t n);
/* Sets the absolute amount done (single-threaded callers). */
void gpn_progress_set(struct gpn_progress *p, int64_t done);
/* Sets the free text shown after the rate, e.g. "loss 0.123". */
void gpn_progress_note(struct gpn_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Draws the final state and ends the line. */
void gpn_progress_finish(struct gpn_progress *p);

/* Monotonic clock in seconds. */
double gpn_now(void);

#endif
