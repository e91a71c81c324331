/*
 * le_taskcell: one task scored on one model as a resumable cell of a job
 * (le_job.h) -- what `llamaeval eval` does per (model, task), shared with
 * `llamaeval sweep`, which scores the Brown tasks on every model it trains.
 *
 * A task is loaded once (its documents as prompted, and the sha256 of every
 * request's text, which goes into the cell config so edited data or prompts
 * never reuse old samples); le_taskcell_run then scores it on a runner's
 * model: a done cell gives its stored metrics; otherwise the samples a
 * killed run committed are read back, only the missing documents are scored,
 * and samples are committed in batches of whole documents (opts.flush).
 * Metrics are computed from the records as the store gives them back, so a
 * resumed run ends with the very same numbers.
 *
 * A taskcell holds the records of the cell it last ran: use one per thread.
 */
#ifndef LE_TASKCELL_H
#define LE_TASKCELL_H

#include "le_job.h"   /* struct le_job */
#include "le_tasks.h" /* struct le_taskset, le_rec, le_metric, le_runner */

#include <stdint.h>

struct le_taskcell_opts {
    int num_fewshot;
    uint64_t fewshot_seed, seed; /* few-shot draws; task generation and bootstraps */
    long limit;                  /* first N documents (0 = all) */
    long boot;                   /* bootstrap resamples for stderrs without closed form */
    long flush;                  /* samples per store transaction */
    int uncond;                  /* the "Answer:"-conditioned score: 1 all, 0 none, -1 the task's default */
    int offline;                 /* dataset cache only */
    int quiet;                   /* no progress or notes on stderr */
    long gen_batch;              /* generate_until documents decoded together (0, 1: one at a time); bounded
                                  * further so that their KV caches stay within LE_TC_GEN_MEM bytes */
};
#define LE_TC_GEN_MEM (1ull << 30)

struct le_taskcell {
    const char *name;     /* the task's registered name */
    struct le_taskset *ts;
    int64_t *off;         /* (n_docs + 1) record offsets */
    struct le_rec *recs;  /* records of the cell last run */
    struct le_metric met[64]; /* MMLU: the task, 4 groups, 57 subjects */
    int n_met;
    struct le_runner_stats st;
    int skipped;          /* the cell was done earlier: metrics from the store */
    char req_sha[65];     /* sha256 of every request's text: the documents as prompted */
};

/* Loads task name into a zeroed t. */
int le_taskcell_load(struct le_taskcell *t, const char *name, const struct le_taskcell_opts *o);
/* Frees what t holds and zeroes it (a zeroed t is fine). */
void le_taskcell_free(struct le_taskcell *t);
/* Scores t on R's model (sha: its sha256, model_id: its row) as one cell of
 * job; fills t->met, t->n_met, t->st, t->skipped and t->recs. */
int le_taskcell_run(struct le_taskcell *t, const struct le_taskcell_opts *o, struct le_job *job,
                    struct le_runner *R, const char *sha, int64_t model_id);

#endif
