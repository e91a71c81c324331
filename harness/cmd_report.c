/*
 * cmd_report: `llamaeval report`, tables and figures from a results
 * database. This file reads the store into reports/' plain structs (copying
 * every string, since the store's walks lend them only during a callback)
 * and hands them to le_report_write; reports/ never sees SQLite.
 *
 * The database is opened for reading only. A file of an older schema is
 * migrated in memory for the report (the file stays as it is: `db init`
 * migrates it in place); one of a newer schema is refused.
 */
#include "cli.h"      /* le_cli_* */
#include "le_version.h" /* LE_VERSION, generated at build time */
#include "commands.h" /* le_cmd_report */
#include "le_err.h"
#include "le_report.h" /* le_report_write, le_rep_* */
#include "le_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h> /* gethostname */

static const char *le_report_usage =
    "usage: llamaeval report --db FILE --out DIR [--format html,md,csv,json] [--compare-published]\n"
    "                        [--only eval|ppl|quant|scaling] [--no-figures] [--seed N] [--threads N] [--boot N]";

static const char *le_report_help =
    "usage: llamaeval report --db FILE --out DIR [options]\n"
    "\n"
    "Writes a report of everything in the results database: tables in the papers'\n"
    "layouts (the LLaMA paper's zero-shot table, perplexity by model, convention and\n"
    "context, the GPTQ and llama.cpp quantization tables, Chinchilla's Table 2 and\n"
    "parametric fit) and figures drawn by gnuplot, with provenance (llamaeval\n"
    "version, configs, seeds, threads, dates, hosts, model sha256s, the database and\n"
    "its schema version). Every number traces back to its result rows: a tooltip in\n"
    "HTML, fields in JSON. The database is only read; an older schema is migrated in\n"
    "memory (the file is unchanged), a newer one is refused.\n"
    "\n"
    "Writes into DIR: report.html (self-contained: figures inline, no network),\n"
    "report.md, csv/<table>.csv, report.json, and figures/<id>.{svg,pdf,gp,dat}\n"
    "(run `gnuplot <id>.gp` in figures/ to restyle a figure).\n"
    "\n"
    "Options:\n"
    "  --db FILE            the results database (required)\n"
    "  --out DIR            the output folder, created if missing (required)\n"
    "  --format LIST        comma-separated: html, md, csv, json (default html,md)\n"
    "  --only SECTION       eval, ppl, quant or scaling (a comma list works too;\n"
    "                       default all); provenance is always included\n"
    "  --compare-published  set published numbers beside ours with the difference:\n"
    "                       LLaMA 7B (Touvron et al. 2023, Table 3), llama.cpp's 7B\n"
    "                       WikiText-2 rows, GPTQ's LLaMa-7B row, Chinchilla's\n"
    "                       (Hoffmann et al. 2022) and Besiroglu et al. 2024's fits\n"
    "  --no-figures         tables only (gnuplot is then not needed)\n"
    "  --seed N             bootstrap seed of the scaling fits (default 0)\n"
    "  --threads N          threads of the scaling fits (default 1; never changes a number)\n"
    "  --boot N             bootstrap resamples of the scaling fits (default 4000, as\n"
    "                       `llamaeval fit`; 0: point estimates only)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Figures need gnuplot on PATH (Debian: gnuplot-nox, installed by scripts/setup).\n";

/* Functions to copy the store's rows. Every string goes into one list,
 * freed at the end. */

struct le_load {
    char **strs;
    int n_strs, cap_strs;
    struct le_rep_result *res;
    int n_res, cap_res;
    struct le_rep_run *runs;
    int n_runs, cap_runs;
    struct le_rep_step *steps;
    int n_steps, cap_steps;
    struct le_rep_sweep_cell *cells;
    int n_cells, cap_cells;
    struct le_rep_point *pts; /* of the cell being read */
    int n_pts, cap_pts;
    int oom;
};

static const char *le_keep(struct le_load *L, const char *s) {
    if (!s || L->oom)
        return NULL;
    if (L->n_strs == L->cap_strs) {
        int cap = L->cap_strs ? 2 * L->cap_strs : 256;
        char **p = realloc(L->strs, (size_t)cap * sizeof *p);
        if (!p) {
            L->oom = 1;
            return NULL;
        }
        L->strs = p;
        L->cap_strs = cap;
    }
    char *d = strdup(s);
    if (!d)
        L->oom = 1;
    else
        L->strs[L->n_strs++] = d;
    return d;
}

/* Grows *arr (of elements of size sz) to hold one more; NULL on failure. */
static void *le_grow(void **arr, int *n, int *cap, size_t sz) {
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 64;
        void *p = realloc(*arr, (size_t)c * sz);
        if (!p)
            return NULL;
        *arr = p;
        *cap = c;
    }
    return (char *)*arr + (size_t)(*n)++ * sz;
}

static int le_load_result(void *ud, const struct le_store_report_row *r) {
    struct le_load *L = ud;
    struct le_rep_result *x = le_grow((void **)&L->res, &L->n_res, &L->cap_res, sizeof *x);
    if (!x)
        return le_err_set(LE_ENOMEM, "out of memory");
    *x = (struct le_rep_result){
        .run_id = r->run_id, .model_id = r->model_id, .cell = le_keep(L, r->cell), .task = le_keep(L, r->task),
        .metric = le_keep(L, r->metric), .value = r->value, .stderr_v = r->stderr_v, .n = r->n,
        .config = le_keep(L, r->config), .done_at = le_keep(L, r->done_at), .model_name = le_keep(L, r->model_name),
        .model_path = le_keep(L, r->model_path), .model_sha256 = le_keep(L, r->model_sha256),
        .model_arch = le_keep(L, r->model_arch), .model_type = le_keep(L, r->model_type), .n_params = r->n_params,
        .file_size = r->file_size,
    };
    return L->oom || !x->cell || !x->task || !x->metric ? le_err_set(LE_ENOMEM, "out of memory") : 0;
}

static int le_load_run(void *ud, const struct le_store_report_run *r) {
    struct le_load *L = ud;
    struct le_rep_run *x = le_grow((void **)&L->runs, &L->n_runs, &L->cap_runs, sizeof *x);
    if (!x)
        return le_err_set(LE_ENOMEM, "out of memory");
    *x = (struct le_rep_run){
        .id = r->id, .command = le_keep(L, r->command), .config = le_keep(L, r->config),
        .version = le_keep(L, r->version), .host = le_keep(L, r->host), .started = le_keep(L, r->started),
        .ended = le_keep(L, r->ended), .status = le_keep(L, r->status), .seed = r->seed, .threads = r->threads,
    };
    return L->oom ? le_err_set(LE_ENOMEM, "out of memory") : 0;
}

static int le_load_step(void *ud, int64_t run_id, const struct le_store_step *st) {
    struct le_load *L = ud;
    struct le_rep_step *x = le_grow((void **)&L->steps, &L->n_steps, &L->cap_steps, sizeof *x);
    if (!x)
        return le_err_set(LE_ENOMEM, "out of memory");
    *x = (struct le_rep_step){run_id, st->step, st->tokens, st->train_loss, st->val_loss};
    return 0;
}

static int le_load_point(void *ud, const struct le_store_sweep_point *p) {
    struct le_load *L = ud;
    struct le_rep_point *x = le_grow((void **)&L->pts, &L->n_pts, &L->cap_pts, sizeof *x);
    if (!x)
        return le_err_set(LE_ENOMEM, "out of memory");
    *x = (struct le_rep_point){p->step, p->tokens, p->flops, p->train_loss, p->val_loss};
    return 0;
}

static double le_opt_n(int64_t v) { return v >= 0 ? (double)v : NAN; }

static int le_load_cell(void *ud, const struct le_store_sweep_cell *c) {
    struct le_load *L = ud;
    struct le_rep_sweep_cell *x = le_grow((void **)&L->cells, &L->n_cells, &L->cap_cells, sizeof *x);
    if (!x)
        return le_err_set(LE_ENOMEM, "out of memory");
    *x = (struct le_rep_sweep_cell){
        .key = le_keep(L, c->key), .plan = le_keep(L, c->plan), .label = le_keep(L, c->label),
        .config = le_keep(L, c->config), .budget = c->budget, .dim = c->dim, .n_layers = c->n_layers,
        .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .ffn = c->ffn, .ctx = c->ctx, .vocab = c->vocab,
        .tied = c->tied, .seed = c->seed, .tokens = c->tokens, .lr = c->lr,
        .n = {le_opt_n(c->n_total), le_opt_n(c->n_nonembed), le_opt_n(c->n_nonembed_noout)},
        .flops_per_token = c->flops_per_token, .flops_6nd = c->flops_6nd, .flops_exact = c->flops_exact,
        .done = c->done, .loss = c->loss, .bpb = c->bpb, .model_id = c->model_id, .run_id = c->run_id,
    };
    return L->oom || !x->key ? le_err_set(LE_ENOMEM, "out of memory") : 0;
}

static void le_load_free(struct le_load *L) {
    for (int i = 0; i < L->n_strs; i++)
        free(L->strs[i]);
    for (int i = 0; i < L->n_cells; i++)
        free((void *)L->cells[i].pts);
    free(L->strs), free(L->res), free(L->runs), free(L->steps), free(L->cells), free(L->pts);
}

/* Reads everything a report shows. The points of each sweep cell are read
 * after the cell walk (a walk cannot nest inside another's statement). */
static int le_load(struct le_store *s, struct le_load *L) {
    int rc;
    if ((rc = le_store_report_results(s, le_load_result, L)) || (rc = le_store_report_runs(s, le_load_run, L)) ||
        (rc = le_store_report_steps(s, le_load_step, L)) || (rc = le_store_sweep_cells(s, NULL, le_load_cell, L)))
        return rc;
    for (int i = 0; i < L->n_cells; i++) {
        L->pts = NULL;
        L->n_pts = L->cap_pts = 0;
        rc = le_store_sweep_points(s, L->cells[i].key, le_load_point, L);
        L->cells[i].pts = L->pts;
        L->cells[i].n_pts = L->n_pts;
        L->pts = NULL;
        if (rc)
            return rc;
    }
    return 0;
}

/* Functions for the command line. */

static int le_parse_list(const char *arg, const char *const *names, const unsigned *bits, int n, unsigned *out,
                         const char *flag) {
    *out = 0;
    char *dup = strdup(arg), *save = NULL;
    if (!dup)
        return le_cli_fail("out of memory");
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < n && strcmp(tok, names[k]))
            k++;
        if (k == n) {
            int ec = le_cli_usage(le_report_usage, "%s: unknown value '%s'", flag, tok);
            free(dup);
            return ec;
        }
        *out |= bits[k];
    }
    free(dup);
    return *out ? -1 : le_cli_usage(le_report_usage, "%s needs a value", flag);
}

int le_cmd_report(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},      {"out", required_argument, 0, 'o'},
        {"format", required_argument, 0, 'f'},  {"only", required_argument, 0, 's'},
        {"compare-published", no_argument, 0, 'c'}, {"no-figures", no_argument, 0, 'n'},
        {"seed", required_argument, 0, 'S'},    {"threads", required_argument, 0, 't'},
        {"boot", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    static const char *const fmt_names[] = {"html", "md", "csv", "json"};
    static const unsigned fmt_bits[] = {LE_REP_HTML, LE_REP_MD, LE_REP_CSV, LE_REP_JSON};
    static const char *const sec_names[] = {"eval", "ppl", "quant", "scaling"};
    static const unsigned sec_bits[] = {LE_REP_EVAL, LE_REP_PPL, LE_REP_QUANT, LE_REP_SCALING};
    struct le_cli_parser p = {argc, argv, ":h", opts, le_report_usage, le_report_help, 0};
    const char *db = NULL;
    struct le_rep_opts o = {
        .formats = LE_REP_HTML | LE_REP_MD, .sections = LE_REP_ALL, .figures = 1, .threads = 1, .n_boot = -1};
    long v;
    int c, ec, stop = -1;
    while ((c = le_cli_opt(&p, &stop)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'o':
            o.out_dir = optarg;
            break;
        case 'f':
            if ((ec = le_parse_list(optarg, fmt_names, fmt_bits, 4, &o.formats, "--format")) >= 0)
                return ec;
            break;
        case 's':
            if ((ec = le_parse_list(optarg, sec_names, sec_bits, 4, &o.sections, "--only")) >= 0)
                return ec;
            break;
        case 'c':
            o.compare_published = 1;
            break;
        case 'n':
            o.figures = 0;
            break;
        case 'S':
            if (le_cli_int(&p, "--seed", optarg, 0, 2147483647L, &v))
                return LE_EXIT_USAGE;
            o.seed = (uint64_t)v;
            break;
        case 't':
            if (le_cli_int(&p, "--threads", optarg, 1, 256, &v))
                return LE_EXIT_USAGE;
            o.threads = (int)v;
            break;
        case 'b':
            if (le_cli_int(&p, "--boot", optarg, 0, 1000000, &v))
                return LE_EXIT_USAGE;
            o.n_boot = (int)v;
            break;
        default:
            return le_cli_usage(le_report_usage, "unexpected option");
        }
    }
    if (stop >= 0)
        return stop;
    if (le_cli_optind() < argc)
        return le_cli_usage(le_report_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (!db || !db[0])
        return le_cli_usage(le_report_usage, "--db FILE is required");
    if (!o.out_dir || !o.out_dir[0])
        return le_cli_usage(le_report_usage, "--out DIR is required");
    /* Before reading anything: a missing gnuplot is the likeliest failure. */
    if (o.figures && le_report_find_gnuplot(NULL))
        return le_cli_fail("%s", le_err_msg());
    struct le_store *s;
    int file_version = 0, version = 0;
    int rc = le_store_open_snapshot(&s, db, &file_version);
    if (rc)
        return le_cli_fail_lib(rc);
    struct le_load L = {0};
    if (!(rc = le_store_schema_version(s, &version)))
        rc = le_load(s, &L);
    le_store_close(s);
    if (rc) {
        le_load_free(&L);
        return le_cli_fail_lib(rc);
    }
    char host[256] = "", when[32] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = 0;
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    struct le_rep_data d = {
        .db_path = db, .schema_version = version, .file_schema_version = file_version, .version = LE_VERSION,
        .host = host, .generated_at = when, .res = L.res, .n_res = L.n_res, .runs = L.runs, .n_runs = L.n_runs,
        .cells = L.cells, .n_cells = L.n_cells, .steps = L.steps, .n_steps = L.n_steps,
    };
    rc = le_report_write(&d, &o);
    le_load_free(&L);
    if (rc)
        return le_cli_fail_lib(rc);
    if (file_version < version)
        printf("read %s (schema version %d, migrated in memory to %d; the file is unchanged)\n", db, file_version,
               version);
    for (int k = 0; k < 4; k++)
        if (o.formats & fmt_bits[k])
            printf("wrote %s/%s\n", o.out_dir,
                   k == 0 ? "report.html" : k == 1 ? "report.md" : k == 2 ? "csv/" : "report.json");
    if (o.figures)
        printf("figures in %s/figures (SVG, PDF, gnuplot scripts and data)\n", o.out_dir);
    return LE_EXIT_OK;
}
