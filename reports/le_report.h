/*
 * le_report: `llamaeval report`, rendered from plain data. The harness
 * (harness/cmd_report.c) reads the store into the structs below; this
 * module never sees SQLite and never calls the engine, so a report can be
 * rebuilt anywhere from a copied database file alone.
 *
 * What it writes into out_dir, by format:
 *   html  report.html: self-contained (figures inline as SVG data URIs, no
 *         network, no external scripts, styles or fonts); every number in a
 *         table carries its provenance as a title tooltip
 *   md    report.md (figures linked as figures/<id>.svg)
 *   csv   csv/<table>.csv, one per table, full-precision numbers
 *   json  report.json: every table with, per cell, the result rows it comes
 *         from (run id, model, sha256, task, metric, n, stderr, cell key)
 * and, unless figures are off, figures/<id>.{dat,gp,svg,pdf}: the data, the
 * gnuplot script (rerun it in figures/ to restyle: it rewrites the SVG and
 * PDF) and the two renderings. gnuplot (Debian's gnuplot-nox) is run as a
 * process, found on PATH.
 *
 * Sections (--only): eval (the LLaMA paper's zero-shot table, every result,
 * accuracy with error bars), ppl (model x convention x ctx), quant (the
 * GPTQ table and llama.cpp's quantization table, from "compare" cells; see
 * below), scaling (sweep cells, Chinchilla's Table 2 and the parametric fit,
 * IsoFLOP curves and the other scaling figures). A section without data says
 * so. Provenance (runs, models, database) closes every report.
 *
 * Quantization results are read from cells of task "compare" whose config
 * JSON names "quant" (type, e.g. "Q4_0"), "method" ("rtn" or "gptq"),
 * "bits" (nominal weight bits) and "base_sha256" (the full-precision model),
 * and whose metrics are "ppl", "ppl_base", "dppl" (ppl - ppl_base), "kld"
 * (mean KL divergence base || quantized per token, nats), "top1" (fraction
 * of tokens whose argmax agrees), "bpw" (bits per weight), "size" (file
 * bytes) and "speed" (prompt tokens per second). Any subset may be present.
 *
 * Ownership: the data and options are borrowed for the duration of the call.
 */
#ifndef LE_REPORT_H
#define LE_REPORT_H

#include <stdint.h>

/* One result (a metric of a done cell) with its model and run. */
struct le_rep_result {
    int64_t run_id, model_id;          /* -1 unknown */
    const char *cell, *task, *metric;
    double value, stderr_v;            /* NAN when absent */
    int64_t n;                         /* samples behind the value; -1 unknown */
    const char *config, *done_at;      /* the cell's config JSON, its done time (ISO 8601 UTC) */
    const char *model_name, *model_path, *model_sha256, *model_arch, *model_type;
    int64_t n_params, file_size;       /* -1 unknown */
};

/* One run: the provenance of the results that name it. */
struct le_rep_run {
    int64_t id;
    const char *command, *config, *version, *host, *started, *ended, *status;
    uint64_t seed;
    int threads;                       /* -1 unknown */
};

/* An evaluation point of a sweep cell's training. */
struct le_rep_point {
    int64_t step, tokens;
    double flops, train_loss, val_loss; /* val_loss NAN when not evaluated */
};

/* A sweep cell (llamaeval sweep): one shape trained on one token budget. */
enum { LE_REP_N_TOTAL = 0, LE_REP_N_NONEMBED = 1, LE_REP_N_NONEMBED_NOOUT = 2, LE_REP_N_COUNT = 3 };
struct le_rep_sweep_cell {
    const char *key, *plan, *label, *config;
    double budget;                     /* IsoFLOP budget C; NAN in a grid */
    int64_t dim, n_layers, n_heads, n_kv_heads, ffn, ctx, vocab, tied, seed, tokens;
    double lr;
    double n[LE_REP_N_COUNT];          /* N under each convention */
    double flops_per_token, flops_6nd, flops_exact;
    int done;
    double loss, bpb;                  /* final held-out numbers; NAN until done */
    int64_t model_id, run_id;          /* -1 until done */
    const struct le_rep_point *pts;    /* ordered by step */
    int n_pts;
};

/* A row of a training log (llamaeval train). */
struct le_rep_step {
    int64_t run_id, step, tokens;
    double train_loss, val_loss;
};

struct le_rep_data {
    const char *db_path;
    int schema_version;                /* the version the report read (this build's latest) */
    int file_schema_version;           /* the file's; lower = migrated in memory for the report */
    const char *version;               /* llamaeval that writes the report */
    const char *host, *generated_at;   /* where and when (ISO 8601 UTC) */
    const struct le_rep_result *res;   /* ordered by done time (oldest first) */
    int n_res;
    const struct le_rep_run *runs;
    int n_runs;
    const struct le_rep_sweep_cell *cells;
    int n_cells;
    const struct le_rep_step *steps;
    int n_steps;
};

enum { LE_REP_HTML = 1, LE_REP_MD = 2, LE_REP_CSV = 4, LE_REP_JSON = 8 };
enum { LE_REP_EVAL = 1, LE_REP_PPL = 2, LE_REP_QUANT = 4, LE_REP_SCALING = 8, LE_REP_ALL = 15 };

struct le_rep_opts {
    const char *out_dir;               /* created when missing; its parent must exist */
    unsigned formats;                  /* LE_REP_HTML | ... */
    unsigned sections;                 /* LE_REP_EVAL | ... */
    int compare_published;             /* set published numbers beside ours */
    int figures;                       /* 0: tables only (gnuplot not needed) */
    const char *gnuplot;               /* program; NULL = "gnuplot" on PATH */
    uint64_t seed;                     /* bootstrap seed of the scaling fits */
    int n_boot;                        /* bootstrap resamples of the fits; < 0: the fit's default (4000) */
    int threads;                       /* fit worker threads (never change a number) */
};

/* Writes the report. On error the message says what failed (a missing
 * gnuplot, an unwritable folder, a gnuplot script that failed). */
int le_report_write(const struct le_rep_data *d, const struct le_rep_opts *o);

/* LE_OK when `gnuplot` (NULL = "gnuplot") can be run; LE_ENOTFOUND with a
 * one-line message naming the Debian package otherwise. */
int le_report_find_gnuplot(const char *gnuplot);

#endif
