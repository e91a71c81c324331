/*
 * le_job: one run recorded in the results store, doing resumable cells --
 * the protocol that eval, ppl and sweep share (one copy, here).
 *
 * A job is one row of the store's `runs` table: le_job_open opens (creating)
 * the store and begins the run ("running"); le_job_end ends it "ok",
 * "failed" or "interrupted" and frees the job. Work inside a job is cut into
 * cells. A cell is one unit of resumable work, keyed by
 *     le_store_cell_key(model sha256, task, config JSON)
 * -- the config holds everything that can change a number and nothing that
 * cannot (threads, batch size); it is hashed byte for byte, so a client must
 * build it the same way forever (le_job_config_canonical helps new ones).
 * A cell is done when its results are committed, atomically with the done
 * mark. The protocol for one cell:
 *
 *     struct le_job_cell c = {0};
 *     rc = le_job_cell_begin(job, model_sha, task, config_json, &c);
 *     if (!rc && c.done) {
 *         use c.results[0 .. c.n_results)            -- stored by an earlier run
 *     } else if (!rc) {
 *         rc = le_job_cell_samples(job, &c, fn, ud);   -- what a killed run left
 *         compute the rest, committing partial work as it goes:
 *         rc = le_job_cell_put_samples(job, &c, smp, n);
 *         rc = le_job_cell_finish(job, &c, model_id, results, n);
 *     }
 *     le_job_cell_release(&c);
 *
 * A cell begun and never finished (an error, a kill -9) stays not done: the
 * next job that begins it computes it again, from the samples committed.
 * Samples are the client's partial work, keyed (cell, doc, req) with a JSON
 * body: eval stores one record per request; ppl (lmeval) one per document;
 * sweep may store none and keep its training checkpoints in files, writing
 * its curve with le_store_put_sweep_points through le_job_store.
 *
 * Clients: eval (models x tasks, one cell each, samples written in batches
 * and read back on resume), ppl (one cell per model + convention + text),
 * sweep (a cell trains one shape on one token budget; a done cell gives its
 * stored "loss" and "bpb").
 *
 * Claims: processes sharing a store (two `eval`s, a job array) never
 * compute one cell twice. le_job_cell_begin claims the cell in the store
 * with a lease (le_store_cell_claim) before it returns it not done; a
 * thread of the job renews the leases of the cells it holds every
 * lease_s/4 seconds while they compute; finish and release drop the claim.
 * A cell claimed by another live claimant makes begin wait (opts.on_wait is
 * told once), polling until the cell is done -- then it is returned done,
 * with the stored results -- or free. A claimant that died is taken over:
 * at once when it ran on this host and its pid is gone, else when its lease
 * expires (nobody renews it). A lease lost anyway (a process stopped longer
 * than lease_s while another finished the cell) makes finish return the
 * stored results instead of failing. Threads of one job share its run's
 * claims, so a thread that begins a cell another thread of the job holds
 * waits for it the same way.
 *
 * Threads: every le_job_* function that touches the store takes the job's
 * lock, so cells may run on several threads of one job. A client's own
 * store calls (sweep points, training steps) go through le_job_store between
 * le_job_lock and le_job_unlock. Messages are per thread (le_err).
 *
 * Signals: with opts.signals, SIGINT and SIGTERM mark the run "interrupted"
 * (see enum le_job_signals). A signal handler may not call SQLite, so the
 * handler only writes a byte to a pipe; a watcher thread of the job does the
 * store update on its own connection. The handler needs the pipe's fd in a
 * static variable: this is the one process-wide state, so at most one job
 * at a time catches signals.
 *
 * Ownership: the job owns the store; le_job_store lends it. A cell owns its
 * copies of task and config and its stored results (strings included) until
 * le_job_cell_release. Strings passed in are copied or used during the call.
 */
#ifndef LE_JOB_H
#define LE_JOB_H

#include "le_store.h" /* struct le_store, le_store_result, le_store_sample, le_store_model */

#include <stdint.h>

struct le_job;
struct le_model_info; /* engine/model/le_model.h */

enum le_job_signals {
    LE_JOB_SIGNALS_NONE = 0, /* leave SIGINT/SIGTERM alone (tests, several jobs at once) */
    LE_JOB_SIGNALS_EXIT,     /* mark the run "interrupted", then die by the signal as before */
    LE_JOB_SIGNALS_FLAG,     /* the first signal only sets le_job_interrupted(): the compute
                                stops at a safe point (a checkpoint), returns LE_EINTR and
                                le_job_end records "interrupted"; a second acts as _EXIT */
};

struct le_job_opts {
    const char *db;          /* store path; created and migrated when missing; NULL: a job
                                that records nothing (signals only; no cells, no models) */
    const char *command;     /* runs.command: "eval", "ppl", "sweep" */
    const char *config_json; /* runs.config: the whole invocation, for the record */
    uint64_t seed;           /* runs.seed */
    int threads;             /* runs.threads */
    int signals;             /* enum le_job_signals */
    long kill_after;         /* test seam (LE_TEST_KILL_AFTER): > 0 raises SIGKILL once this
                                job has committed that many samples; 0 off */
    long stop_after;         /* test seam (LE_TEST_STOP_AFTER): > 0 stops the process
                                (SIGSTOP) once, holding its claims, after that many */
    double lease_s;          /* a claim's lease in seconds; <= 0: LE_JOB_LEASE_S */
    /* Called once per cell begin that has to wait for another claimant
     * (h: who holds it), from the thread that waits; may be NULL. */
    void (*on_wait)(void *ud, const char *task, const struct le_store_holder *h);
    void *wait_ud;
};

enum { LE_JOB_LEASE_S = 60 };

/* Functions to begin and end the job. */
/* Opens the store and begins the run. On error nothing is left open. */
int le_job_open(struct le_job **out, const struct le_job_opts *opts);
/* Ends the run and frees the job. Status: "interrupted" when a signal was
 * caught, else "ok" when rc is LE_OK, else "failed". Returns rc when it is
 * an error (its message kept), else the error of ending the run, else LE_OK.
 * NULL job: returns rc. */
int le_job_end(struct le_job *j, int rc);
int64_t le_job_run_id(const struct le_job *j);
/* 1 once SIGINT/SIGTERM came (LE_JOB_SIGNALS_FLAG); computes poll it. */
int le_job_interrupted(const struct le_job *j);
/* The store, lent for a client's own tables (NULL for a job without one);
 * hold le_job_lock around its use when cells run on several threads. */
struct le_store *le_job_store(struct le_job *j);
void le_job_lock(struct le_job *j);
void le_job_unlock(struct le_job *j);
/* Adds a note (a JSON value) to the run's config (le_store_run_note);
 * nothing for a job without a store. */
int le_job_note(struct le_job *j, const char *json);
/* Cells this job found done (from the store) and finished itself. */
void le_job_counts(const struct le_job *j, int64_t *from_store, int64_t *computed);

/* Functions to record models. */
/* sha256 of a model file as lowercase hex; with show_progress a "hashing
 * model" progress line (le_progress) over size bytes. Remembered by path,
 * size, mtime and inode in the user's cache folder (le_hashcache.h), so an
 * unchanged file is hashed once. Needs no job: a client may hash before it
 * opens the store. */
int le_job_hash_model(const char *path, uint64_t size, int show_progress, char sha[65]);
/* (A directory model -- Hugging Face, Meta -- hashes as sha256 over its
 * files' names and sha256s.) The identity of a model with LoRA adapters
 * merged: sha256 over the base's sha256 and each adapter's (file or
 * directory) sha256 and scale, in order. */
struct le_lora_spec;
int le_job_hash_lora(const char *base_sha, const struct le_lora_spec *lora, int n_lora, char sha[65]);
/* Records a model opened with le_model_open (path, its sha256, its info);
 * *model_id is its row (existing when the sha256 is known). */
int le_job_add_model(struct le_job *j, const char *path, const char *sha, const struct le_model_info *in,
                     int64_t *model_id);
/* Records any model (e.g. a checkpoint sweep trained). */
int le_job_put_model(struct le_job *j, const struct le_store_model *m, int64_t *model_id);

/* Functions for cells. */
struct le_job_cell {
    char key[65];                    /* le_store_cell_key(model_sha, task, config) */
    char *task, *config;             /* copies */
    int done;                        /* 1: done earlier; results below, do not compute */
    struct le_store_result *results; /* when done: the stored results, in stored order */
    int n_results;
    int64_t n_put;                   /* samples this job committed for the cell */
    struct le_job *job;              /* set while the cell holds a claim */
};
/* Computes the key and claims the cell: returns it done (results filled)
 * or claimed by this job, waiting while another live claimant holds it (see
 * "Claims" above; LE_EINTR when the job is interrupted while waiting). cell
 * must be zeroed or released. */
int le_job_cell_begin(struct le_job *j, const char *model_sha, const char *task, const char *config_json,
                      struct le_job_cell *cell);
/* Calls fn for every stored sample of the cell, ordered by (doc, req)
 * (le_store_get_samples: json valid during the call; non-zero stops). */
int le_job_cell_samples(struct le_job *j, const struct le_job_cell *cell,
                        int (*fn)(void *ud, int64_t doc, int64_t req, const char *json), void *ud);
/* Commits samples in one transaction (INSERT OR IGNORE on (cell, doc, req));
 * the kill_after seam fires here, after the commit. */
int le_job_cell_put_samples(struct le_job *j, struct le_job_cell *cell, const struct le_store_sample *smp, int n);
/* Commits the results and the done mark in one transaction; a cell already
 * done is refused (LE_EINVAL). model_id: the row of le_job_add_model (or
 * <= 0 for none). Does not release the cell. */
int le_job_cell_finish(struct le_job *j, struct le_job_cell *cell, int64_t model_id,
                       const struct le_store_result *results, int n);
/* Drops the cell's claim if it still holds one (a cell given up), frees
 * its copies and results and zeroes it; a zeroed cell is fine. */
void le_job_cell_release(struct le_job_cell *cell);

/* A canonical form of a JSON object for new clients' cell configs: object
 * keys sorted (recursively), no whitespace, numbers as cJSON prints them.
 * Returns a malloc'ed string, or NULL (message set) when json is not JSON. */
char *le_job_config_canonical(const char *json);

#endif
