/*
 * le_store: the SQLite results store. store.c and store_merge.c (merging
 * stores) are the only files that include sqlite3.h. WAL mode, a busy
 * timeout, schema versioned by PRAGMA user_version with migrations; every
 * write is one transaction.
 *
 * Tables (see store.c for the DDL): models, runs, results, samples, cells,
 * train_steps. A "cell" is one unit of resumable work, keyed by
 * le_store_cell_key(model sha256, task, config hash); a cell is done when its
 * results are committed (atomically with the done mark), so a killed process
 * leaves it not done and a rerun redoes only it. Samples (per-request
 * records) may be written incrementally before the cell is done, keyed by
 * (cell, doc, req), so a rerun can skip requests already scored.
 */
#ifndef LE_STORE_H
#define LE_STORE_H

#include <stddef.h> /* size_t */
#include <stdint.h>

struct le_store;

/* Opens (creating and migrating) the database at path. A missing or
 * read-only directory is a clear LE_EIO/LE_EDB error. */
int le_store_open(struct le_store **out, const char *path);
/* Opens an existing database read-only (reports, export); no migration. */
int le_store_open_readonly(struct le_store **out, const char *path);
void le_store_close(struct le_store *s); /* NULL is fine */
int le_store_schema_version(struct le_store *s, int *version);
/* Counts of rows per table, for `db info`: fills names/counts up to cap. */
int le_store_table_counts(struct le_store *s, const char **names, int64_t *counts, int cap, int *n);

/* Functions to record models and runs. */
struct le_store_model {
    const char *path, *sha256, *arch, *type, *name;
    int64_t n_params, n_params_nonembed, file_size, tokens_trained; /* -1 unknown */
};
int le_store_put_model(struct le_store *s, const struct le_store_model *m, int64_t *model_id);
/* Records host, git version, start time; status "running". */
int le_store_begin_run(struct le_store *s, const char *command, const char *config_json,
                       uint64_t seed, int threads, int64_t *run_id);
int le_store_end_run(struct le_store *s, int64_t run_id, const char *status /* "ok", "failed" */);
/* Appends a JSON value (text) to the array "notes" of the run's config
 * (runs.config; created when missing): what a run should carry beside its
 * invocation, such as a context longer than the model was trained for. */
int le_store_run_note(struct le_store *s, int64_t run_id, const char *json);
/* The run's status ("running", "ok", "failed", "interrupted") into buf;
 * LE_ENOTFOUND when there is no such run. */
int le_store_run_status(struct le_store *s, int64_t run_id, char *buf, size_t n);

/* Functions for resumable cells. key: hex sha256 of the three parts. */
void le_store_cell_key(char out[65], const char *model_sha256, const char *task, const char *config_json);
int le_store_cell_done(struct le_store *s, const char *cell_key, int *done);

struct le_store_result {
    const char *metric; /* "acc", "acc_norm", "ppl", "word_perplexity" ... */
    double value, stderr_v; /* stderr_v: NAN when not defined */
    int64_t n;
};
struct le_store_sample {
    int64_t doc, req;   /* document index, request index within it */
    const char *json;   /* everything needed to recompute any metric */
};
/* Writes samples (INSERT OR IGNORE on (cell, doc, req)) in one transaction. */
int le_store_put_samples(struct le_store *s, const char *cell_key, int64_t run_id,
                         const struct le_store_sample *smp, int n);
/* Calls fn for every stored sample of the cell, ordered by (doc, req). In
 * both walks below, strings passed to fn are valid only during the call, and
 * a non-zero return from fn stops the walk and is returned. */
int le_store_get_samples(struct le_store *s, const char *cell_key,
                         int (*fn)(void *ud, int64_t doc, int64_t req, const char *json), void *ud);
/* Writes the cell's results and marks it done, in one transaction. Rerunning
 * a done cell is refused with LE_EINVAL (no duplicate rows). */
int le_store_put_cell(struct le_store *s, const char *cell_key, int64_t run_id, int64_t model_id,
                      const char *task, const char *config_json,
                      const struct le_store_result *r, int nr);
/* Calls fn for each result of a done cell. */
int le_store_get_results(struct le_store *s, const char *cell_key,
                         int (*fn)(void *ud, const char *metric, double value, double stderr_v, int64_t n),
                         void *ud);

/* Functions to claim cells, so that processes sharing a store never compute
 * one cell twice. A claim is a lease: it names the claimant (run, host,
 * pid) and expires lease_s seconds after it was taken or last renewed, by
 * the database's clock. A cell whose claim expired is free again (its
 * claimant died on another host, or stopped renewing); le_job decides when
 * a holder on this host is gone and passes its run as take_from_run. */
struct le_store_claim {
    int64_t run_id;  /* the claimant's run */
    const char *host;
    int64_t pid;
    double lease_s;  /* seconds from now */
};
struct le_store_holder {
    int64_t run_id, pid;
    char host[256];
    double expires_in; /* seconds left on the lease (<= 0: expired) */
};
enum {
    LE_STORE_CLAIM_OURS = 0, /* claimed (or re-claimed) by c->run_id: compute it */
    LE_STORE_CLAIM_DONE = 1, /* the cell is done: read its results */
    LE_STORE_CLAIM_HELD = 2, /* another claimant's live lease: *holder says whose */
};
/* In one write transaction: done -> DONE; no claim, an expired one, our
 * run's own or take_from_run's (> 0) -> write ours, OURS; else HELD.
 * holder (may be NULL) gets the claim found, if any. */
int le_store_cell_claim(struct le_store *s, const char *cell_key, const struct le_store_claim *c,
                        int64_t take_from_run, int *state, struct le_store_holder *holder);
/* Extends c->run_id's claim by c->lease_s from now; *held 0 when the claim
 * is no longer ours (taken over after expiry, or the cell finished). */
int le_store_cell_renew(struct le_store *s, const char *cell_key, const struct le_store_claim *c, int *held);
/* Drops run_id's claim on the cell (nothing when it holds none).
 * le_store_put_cell drops any claim on the cell it marks done. */
int le_store_cell_unclaim(struct le_store *s, const char *cell_key, int64_t run_id);

/* Functions for training logs. */
struct le_store_step {
    int64_t step, tokens;
    double train_loss, val_loss; /* val_loss NAN when not evaluated at this step */
    double lr, tokens_per_s;
};
int le_store_put_steps(struct le_store *s, int64_t run_id, const struct le_store_step *st, int n);

/* Functions for scaling sweeps (llamaeval sweep, fit, report).
 *
 * A sweep cell is a cell (task "sweep") that trains one model shape on one
 * token budget. Its static description -- shape, budget, parameter and FLOP
 * counts -- is recorded when it starts (le_store_put_sweep_cell: INSERT OR
 * REPLACE, so a rerun rewrites identical values), its evaluation points as
 * it trains (le_store_put_sweep_points: INSERT OR REPLACE on (cell, step); a
 * resumed cell rewrites bit-identical values), and its final numbers as the
 * cell's results by le_store_put_cell (metrics "loss" in nats/token and
 * "bpb", bits per byte of the held-out text), which marks it done. */
struct le_store_sweep_cell {
    const char *key;               /* the cell key (le_store_cell_key) */
    const char *plan;              /* name of the plan that (last) ran it */
    const char *label;             /* short human name, e.g. "d64-l2 D=1.2M" */
    const char *config;            /* the cell's canonical config JSON */
    double budget;                 /* its IsoFLOP budget C in FLOPs; NAN in a grid */
    int64_t dim, n_layers, n_heads, n_kv_heads, ffn, ctx, vocab, tied;
    double lr;
    int64_t seed;
    int64_t tokens;                /* D: training tokens */
    int64_t n_total;               /* N: every parameter */
    int64_t n_nonembed;            /* N without the token embedding (Kaplan) */
    int64_t n_nonembed_noout;      /* N without the embedding and the output layer */
    double flops_per_token;        /* Chinchilla App. F count, forward + backward */
    double flops_6nd;              /* 6 * n_total * tokens */
    double flops_exact;            /* flops_per_token * tokens */
    /* Filled by le_store_sweep_cells (ignored by put): */
    int done;                      /* the cell's results are committed */
    double loss, bpb;              /* final held-out numbers; NAN until done */
    int64_t model_id, run_id;      /* -1 until done */
};
struct le_store_sweep_point {
    int64_t step, tokens;          /* after this many optimizer steps / tokens */
    double flops;                  /* tokens * flops_per_token */
    double train_loss, val_loss;   /* val_loss NAN when not evaluated */
};
int le_store_put_sweep_cell(struct le_store *s, const struct le_store_sweep_cell *c);
int le_store_put_sweep_points(struct le_store *s, const char *cell_key, const struct le_store_sweep_point *p,
                              int n);
/* Calls fn for every sweep cell (of plan, or of every plan when plan is
 * NULL), ordered by budget, then n_total, then tokens. */
int le_store_sweep_cells(struct le_store *s, const char *plan,
                         int (*fn)(void *ud, const struct le_store_sweep_cell *c), void *ud);
/* Calls fn for every point of a cell, ordered by step. */
int le_store_sweep_points(struct le_store *s, const char *cell_key,
                          int (*fn)(void *ud, const struct le_store_sweep_point *p), void *ud);

/* Export results (joined with models and runs) as CSV or JSON to path ("-" = stdout). */
int le_store_export(struct le_store *s, const char *format /* "csv" | "json" */, const char *path);

/* Functions for maintenance and tests. */
/* The schema version this build migrates to. */
int le_store_schema_latest(void);
/* Runs PRAGMA integrity_check; out gets its rows joined by "; " ("ok" when
 * the database is sound). Returns 0 when the check ran. */
int le_store_integrity_check(struct le_store *s, char *out, size_t n);
#ifdef LE_TESTING
/* Test build only (-DLE_TESTING): fn(ud, row) is called inside put_samples' and put_cell's open
 * transaction after each row is written (row = rows written so far); a
 * non-zero return rolls the transaction back and fails with LE_EINTR. Lets a
 * test kill a writer mid-transaction at a known point. fn NULL clears it. */
void le_store_set_test_hook(struct le_store *s, int (*fn)(void *ud, int row), void *ud);
#endif

/* Functions for reports (llamaeval report; reports/ never sees SQLite).
 * In every walk below, strings passed to fn are valid only during the call
 * (NULL when the column is NULL) and a non-zero return from fn stops the
 * walk and is returned. */

/* One result joined with its cell, model and run. Only results of done
 * cells are walked, ordered by the cell's done time, then by row id, so the
 * last row seen for a (model, task, config, metric) is the latest. */
struct le_store_report_row {
    int64_t result_id, run_id, model_id; /* -1 when NULL */
    const char *cell, *task, *metric;
    double value, stderr_v;              /* NAN when NULL */
    int64_t n;                           /* -1 when NULL */
    const char *config, *done_at;        /* the cell's config JSON and done time */
    const char *model_name, *model_path, *model_sha256, *model_arch, *model_type;
    int64_t n_params, n_params_nonembed, file_size, tokens_trained; /* -1 unknown */
};
int le_store_report_results(struct le_store *s, int (*fn)(void *ud, const struct le_store_report_row *r),
                            void *ud);
/* One run (provenance), ordered by id. */
struct le_store_report_run {
    int64_t id;
    const char *command, *config, *version, *host, *started, *ended, *status;
    uint64_t seed;                       /* stored as the int64 with the same bits */
    int threads;                         /* -1 when NULL */
    int64_t pid;                         /* the run's process; -1 when not recorded */
};
int le_store_report_runs(struct le_store *s, int (*fn)(void *ud, const struct le_store_report_run *r), void *ud);
/* Every training log row, ordered by run, then step. */
int le_store_report_steps(struct le_store *s, int (*fn)(void *ud, int64_t run_id, const struct le_store_step *st),
                          void *ud);
/* Opens a database for reading as of this build's schema without writing
 * it: a file at the latest version is opened read-only (as
 * le_store_open_readonly); one at an older version is copied into memory
 * (SQLite's backup API) and the copy migrated, so the file itself stays
 * untouched (`llamaeval db init` migrates it in place). *from_version gets
 * the file's version. A newer version is refused (LE_EDB, one line). */
int le_store_open_snapshot(struct le_store **out, const char *path, int *from_version);
/* Test-only: creates (or opens) path migrated up to `version` only, to make
 * a database of an older schema; a version above the latest migrates fully,
 * then sets user_version to it, making a file from a "newer" llamaeval. */
int le_store_open_at_version(struct le_store **out, const char *path, int version);

/* Functions to merge stores (llamaeval db merge: the shards of a Slurm job
 * array, one writer per file, into one store).
 *
 * le_store_merge copies the done cells of the store at shard_path into s,
 * in one transaction of s, keyed by the cell key: a cell s does not have
 * done is added with its results, samples, sweep description and points,
 * its model (matched by sha256) and its run (matched by all its columns, so
 * a run is added once); a cell s has done with the same results (metric,
 * value, stderr, n: bit for bit) is left alone, so merging twice adds
 * nothing; one with different results is a conflict: left as it is in s,
 * counted, and reported to conflict(ud, ...) (metric: the first that
 * differs, NULL when the sets of metrics differ; its two values, NAN when
 * missing). A non-zero return from conflict stops the merge and rolls it
 * back. Cells the shard has not finished are counted, not copied.
 * Refused (LE_EDB, one line, nothing written) when the shard is s's own
 * file, is not a llamaeval store, has another schema version than this
 * build's, or fails SQLite's integrity check. */
struct le_store_merge_stats {
    int64_t added, same, conflicts, not_done; /* cells */
    int64_t results, samples, points;         /* rows added */
    int64_t models, runs;                     /* rows added */
};
int le_store_merge(struct le_store *s, const char *shard_path, struct le_store_merge_stats *stats,
                   int (*conflict)(void *ud, const char *cell_key, const char *task, const char *metric,
                                   double here, double there),
                   void *ud);

#endif
