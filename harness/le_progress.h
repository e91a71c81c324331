/*
 * le_progress: a progress reporter for long work (evaluation, training,
 * hashing, downloads). On a terminal (isatty(stderr)) it redraws one line
 * with a bar, the rate and the ETA at most ~10 times a second; otherwise
 * (logs, Slurm output files) it prints a plain line every few seconds, so
 * logs stay readable. quiet prints nothing. Output goes to stderr; stdout
 * stays clean for results.
 *
 * Library code never prints: it takes an le_progress_cb (engine/core/le_util.h)
 * and the harness passes le_progress_callback with the reporter as ud.
 * Updates may come from several threads (a mutex serialises them).
 */
#ifndef LE_PROGRESS_H
#define LE_PROGRESS_H

#include <stdint.h>
#include <stdio.h> /* FILE for the options */

struct le_progress;

/* Options for unusual outputs and for tests; le_progress_new uses defaults. */
struct le_progress_opts {
    FILE *out;             /* NULL: stderr */
    int tty;               /* 1 bar, 0 plain lines, -1 decide by isatty(out) */
    double line_every_s;   /* plain mode: seconds between lines (<= 0: 5) */
    double (*now)(void *ud); /* clock in seconds (NULL: CLOCK_MONOTONIC) */
    void *now_ud;
};

/* label is copied; total 0 means unknown (no percentage or ETA). Returns 0
 * or LE_ENOMEM. The reporter is freed by le_progress_finish. */
int le_progress_new(struct le_progress **out, const char *label, uint64_t total, int quiet);
int le_progress_new_opts(struct le_progress **out, const char *label, uint64_t total, int quiet,
                         const struct le_progress_opts *opts);
/* Work done so far (absolute, not an increment). NULL p is fine. */
void le_progress_update(struct le_progress *p, uint64_t done);
void le_progress_set_total(struct le_progress *p, uint64_t total);
/* Prints the final line ("<label>: 1000 in 0:12 (81.3/s)") and frees p. NULL is fine. */
void le_progress_finish(struct le_progress *p);
/* An le_progress_cb: ud is a struct le_progress *; a non-zero total updates it. */
void le_progress_callback(void *ud, uint64_t done, uint64_t total);

#endif
