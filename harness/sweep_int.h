/*
 * sweep_int: the state of one `llamaeval sweep` invocation, shared by
 * cmd_sweep.c (setup, training, the local run) and sweep_cluster.c (Slurm
 * submission, --status). Not a library interface: harness-internal.
 */
#ifndef LE_SWEEP_INT_H
#define LE_SWEEP_INT_H

#include "le_gguf.h"
#include "le_job.h"
#include "le_progress.h"
#include "le_slurm.h"    /* struct le_slurm_opts */
#include "le_sweep.h"
#include "le_taskcell.h"
#include "le_tok.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct le_sw_opts {
    const char *plan, *db, *out;
    long threads, jobs, kill_after; /* kill_after: LE_TEST_SWEEP_KILL_AFTER (test build) */
    int dry, quiet;
    long cell;                   /* --cell I; -1: every cell */
    int requeue, status, slurm;  /* --requeue, --status, --slurm */
    struct le_slurm_opts so;     /* --partition ... --max-running */
    int hold_cell;               /* LE_TEST_SWEEP_HOLD=I:N; -1 off */
    long hold_after;
};

/* What one cell ended with (for the lines and the table). */
struct le_sw_res {
    int state;              /* 0 not reached, 1 done */
    int from_store;         /* training was done by an earlier run */
    double loss, bpb, secs;
    int64_t resumed_at;     /* the step a checkpoint resumed at (0: none) */
    double task[8];         /* the first metric of each task (acc), NAN if none */
};

struct le_sw {
    struct le_sw_opts o;
    char outbuf[256], dbbuf[4200]; /* default --out and --db */
    struct le_sweep_plan *plan;
    const struct le_sweep_setup *set;
    struct le_sweep_cell *cells;
    int n_cells;
    char *tok_path;
    struct le_gguf *tokg;   /* the tokenizer GGUF: its keys go into every checkpoint */
    struct le_tok *tok;
    int32_t *train, *valid;
    int64_t n_train, n_valid, valid_bytes;
    char data_sha[65];
    struct le_job *job;
    struct le_taskcell_opts to;
    struct le_sw_res *res;
    /* shared by the workers, under mu */
    pthread_mutex_t mu;
    int *order, n_order, next, n_finished, n_trained;
    double flops_total, flops_done;
    struct le_progress *pr;
    long saves;
    int fail_rc;
    char fail_msg[512];
};

/* The cell's config JSON (what determines its numbers; hashed into its
 * key), malloc'ed; NULL when out of memory. */
char *le_sw_cell_config(const struct le_sw *S, const struct le_sweep_cell *cell);
/* The cell's checkpoint folder and model file (its GGUF checkpoint). */
int le_sw_cell_paths(const struct le_sw *S, const struct le_sweep_cell *cell, const char *key, char *dir, size_t n,
                     char *model, size_t mn);

/* sweep_cluster.c: --slurm (with --dry-run: print the scripts) and --status. */
int le_sw_submit(struct le_sw *S);
int le_sw_status(struct le_sw *S);
/* After a --cell --requeue run interrupted by a signal inside a Slurm job:
 * asks Slurm to requeue the job (prints what it did). */
int le_sw_requeue(struct le_sw *S);

#endif
