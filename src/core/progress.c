/*
 * progress.c - progress bar with rate and ETA (see progress.h).
 */
#include "gpn/log.h"
#include "gpn/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double gpn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void gpn_progress_init(struct gpn_progress *p, const char *label, int64_t total, const char *unit)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total > 0 ? total : 0;
    atomic_store(&p->done, 0);
    atomic_store(&p->last_draw_ms, -1000000);
    p->t_start = gpn_now();
    p->tty = isatty(STDERR_FILENO);
    const char *env = getenv("GPN_PROGRESS");
    /* Off with GPN_PROGRESS=0 and when the log level hides info (-q). */
    p->enabled = !(env && !strcmp(env, "0")) && gpn_log_get_level() <= GPN_LOG_INFO;
    p->last_decile = -1;
}

static void fmt_hms(char *buf, size_t n, double s)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(struct gpn_progress *p, int final)
{
    int64_t done = atomic_load(&p->done);
    double el = gpn_now() - p->t_start;
    double rate = el > 0 ? (double)done / el : 0;
    char eta[48] = "", elapsed[24];
    fmt_hms(elapsed, sizeof elapsed, el);
    char line[256];
    if (p->total > 0) {
        double frac = (double)done / (double)p->total;
        if (frac > 1) frac = 1;
        char bar[21];
        int fill = (int)(frac * 20);
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
        bar[20] = 0;
        if (!final && rate > 0) {
            char e[24];
            fmt_hms(e, sizeof e, (double)(p->total - done) / rate);
            snprintf(eta, sizeof eta, "ETA %s", e);
        } else {
            snprintf(eta, sizeof eta, "in %s", elapsed);
        }
        snprintf(line, sizeof line, "%-10s [%s] %3d%%  %lld/%lld %s  %.1f/s  %s  %s", p->label, bar,
                 (int)(frac * 100), (long long)done, (long long)p->total, p->unit, rate, eta, p->extra);
    } else {
        snprintf(line, sizeof line, "%-10s %lld %s  %.1f/s  %s  %s", p->label, (long long)done, p->unit,
                 rate, elapsed, p->extra);
    }
    if (p->tty) fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
}

static void maybe_draw(struct gpn_progress *p)
{
    if (!p->enabled) return;
    if (p->tty) {
        int64_t now_ms = (int64_t)(gpn_now() * 1000.0);
        int64_t last = atomic_load(&p->last_draw_ms);
        if (now_ms - last < 100) return;
        if (!atomic_compare_exchange_strong(&p->last_draw_ms, &last, now_ms)) return;
        draw(p, 0);
    } else if (p->total > 0) {
        int64_t done = atomic_load(&p->done);
        int dec = (int)(done * 10 / p->total);
        if (dec > p->last_decile && dec < 10) {
            p->last_decile = dec;
            draw(p, 0);
        }
    }
}

void gpn_progress_add(struct gpn_progress *p, int64_t n)
{
    atomic_fetch_add(&p->done, n);
    maybe_draw(p);
}

void gpn_progress_set(struct gpn_progress *p, int64_t done)
{
    atomic_store(&p->done, done);
    maybe_draw(p);
}

void gpn_progress_note(struct gpn_progress *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->extra, sizeof p->extra, fmt, ap);
    va_end(ap);
}

void gpn_progress_finish(struct gpn_progress *p)
{
    if (!p->enabled) return;
    draw(p, 1);
}
