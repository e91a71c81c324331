/*
 * progress: the reporter behind le_progress.h. Two renderings of one state
 * (done, total, start time): a redrawn bar for terminals, throttled to ten
 * redraws a second so a tight loop calling update costs only a clock read;
 * and plain lines every few seconds for files. The rate is the average since
 * start (stable, and honest for steady workloads); ETA = remaining / rate.
 */
#include "le_progress.h"
#include "le_err.h"  /* LE_ENOMEM */
#include "le_util.h" /* le_progress_cb, to check our callback's type */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h> /* isatty */

enum { LE_BAR_WIDTH = 24 };
static const double le_redraw_s = 0.1;

struct le_progress {
    pthread_mutex_t mu;
    char *label;
    FILE *out;
    int quiet, tty;
    double line_every_s;
    double (*now)(void *ud);
    void *now_ud;
    uint64_t done, total;
    double t0, t_last; /* start, last print */
    int printed;       /* a bar line is on screen */
};

static double le_progress_clock(void *ud) {
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int le_progress_new_opts(struct le_progress **out, const char *label, uint64_t total, int quiet,
                         const struct le_progress_opts *o) {
    struct le_progress *p = calloc(1, sizeof *p);
    if (!p || !(p->label = strdup(label ? label : ""))) {
        free(p);
        *out = NULL;
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    p->out = o && o->out ? o->out : stderr;
    p->tty = o && o->tty >= 0 ? o->tty : isatty(fileno(p->out));
    p->line_every_s = o && o->line_every_s > 0 ? o->line_every_s : 5.0;
    p->now = o && o->now ? o->now : le_progress_clock;
    p->now_ud = o ? o->now_ud : NULL;
    p->quiet = quiet;
    p->total = total;
    p->t0 = p->t_last = p->now(p->now_ud);
    *out = p;
    return 0;
}

int le_progress_new(struct le_progress **out, const char *label, uint64_t total, int quiet) {
    return le_progress_new_opts(out, label, total, quiet, NULL);
}

/* "1.23k", "45.6M": rates span many orders of magnitude (docs/s to bytes/s). */
static void le_fmt_si(char *buf, size_t n, double v) {
    static const char *suf[] = {"", "k", "M", "G", "T"};
    int i = 0;
    while (v >= 1000.0 && i < 4) {
        v /= 1000.0;
        i++;
    }
    snprintf(buf, n, i ? "%.2f%s" : "%.1f%s", v, suf[i]);
}

static void le_fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 359999999.0) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* The shared middle of both renderings: "450/1000 (45.0%) 12.3/s ETA 0:45". */
static void le_progress_stats(const struct le_progress *p, double now, char *buf, size_t n) {
    double el = now - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char r[32], eta[32];
    le_fmt_si(r, sizeof r, rate);
    if (p->total) {
        double pct = 100.0 * (double)p->done / (double)p->total;
        le_fmt_time(eta, sizeof eta, rate > 0 ? (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate : -1);
        snprintf(buf, n, "%llu/%llu (%.1f%%) %s/s ETA %s", (unsigned long long)p->done,
                 (unsigned long long)p->total, pct, r, eta);
    } else {
        le_fmt_time(eta, sizeof eta, el);
        snprintf(buf, n, "%llu %s/s elapsed %s", (unsigned long long)p->done, r, eta);
    }
}

static void le_progress_draw(struct le_progress *p, double now) {
    char stats[160];
    le_progress_stats(p, now, stats, sizeof stats);
    if (!p->tty) {
        fprintf(p->out, "%s: %s\n", p->label, stats);
    } else {
        char bar[LE_BAR_WIDTH + 1];
        int fill = p->total ? (int)((double)LE_BAR_WIDTH * (double)(p->done < p->total ? p->done : p->total) /
                                    (double)p->total)
                            : 0;
        for (int i = 0; i < LE_BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : (p->total ? '-' : ' ');
        bar[LE_BAR_WIDTH] = 0;
        /* \r and erase-to-end-of-line redraw in place. */
        fprintf(p->out, "\r\033[K%s [%s] %s", p->label, bar, stats);
        p->printed = 1;
    }
    fflush(p->out);
    p->t_last = now;
}

void le_progress_update(struct le_progress *p, uint64_t done) {
    if (!p || p->quiet)
        return;
    pthread_mutex_lock(&p->mu);
    if (done > p->done)
        p->done = done; /* threads may report out of order: never go back */
    double now = p->now(p->now_ud);
    double every = p->tty ? le_redraw_s : p->line_every_s;
    if ((p->tty && !p->printed) || now - p->t_last >= every)
        le_progress_draw(p, now);
    pthread_mutex_unlock(&p->mu);
}

void le_progress_set_total(struct le_progress *p, uint64_t total) {
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->total = total;
    pthread_mutex_unlock(&p->mu);
}

void le_progress_finish(struct le_progress *p) {
    if (!p)
        return;
    if (!p->quiet) {
        double now = p->now(p->now_ud), el = now - p->t0;
        char r[32], t[32];
        le_fmt_si(r, sizeof r, el > 0 ? (double)p->done / el : 0);
        le_fmt_time(t, sizeof t, el);
        fprintf(p->out, "%s%s: %llu in %s (%s/s)\n", p->tty && p->printed ? "\r\033[K" : "", p->label,
                (unsigned long long)p->done, t, r);
        fflush(p->out);
    }
    pthread_mutex_destroy(&p->mu);
    free(p->label);
    free(p);
}

void le_progress_callback(void *ud, uint64_t done, uint64_t total) {
    struct le_progress *p = ud;
    if (!p)
        return;
    if (total) {
        pthread_mutex_lock(&p->mu);
        p->total = total;
        pthread_mutex_unlock(&p->mu);
    }
    le_progress_update(p, done);
}

/* le_progress_callback must stay an le_progress_cb. */
_Static_assert(__builtin_types_compatible_p(__typeof__(&le_progress_callback), le_progress_cb),
               "le_progress_callback must match le_progress_cb");
