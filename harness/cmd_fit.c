/*
 * cmd_fit: `llamaeval fit` -- Chinchilla's three scaling-law fits (reports/
 * le_fit.h) over a sweep in the store (--db, through le_store_sweep_cells and
 * le_store_sweep_points) or over a CSV file of runs (--csv, columns N, D,
 * loss and optionally C), printed as a table beside the published values, or
 * as one JSON object. This file reads the input, calls le_fit_compute and
 * prints; every number comes from the library.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_fit */
#include "le_err.h"
#include "le_fit.h"   /* le_fit_compute, le_fit_json, le_fit_published, le_fit_csv_read */
#include "le_pool.h"  /* le_ncpu: the default thread count */
#include "le_store.h" /* le_store_open_readonly, le_store_sweep_cells/points */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *le_fit_usage =
    "usage: llamaeval fit (--db R.sqlite [--plan NAME] | --csv FILE) [--n-count total|nonembed|nonembed-noout]\n"
    "                     [--flops 6nd|exact] [--bootstrap N] [--seed S] [--threads T] [--format table|json]";
static const char *le_fit_help =
    "usage: llamaeval fit (--db R.sqlite [--plan NAME] | --csv FILE) [options]\n"
    "\n"
    "Fits Hoffmann et al. (2022)'s three compute-optimal scaling analyses to a\n"
    "sweep and sets the results beside the published ones, with 95% bootstrap\n"
    "intervals (runs resampled with replacement, seeded):\n"
    "  approach 1  lower envelope of the training curves against FLOPs, binned in\n"
    "              log C; N_opt = k C^a and D_opt = k C^b through the envelope\n"
    "  approach 2  a parabola in ln N per IsoFLOP budget; its minimum per budget;\n"
    "              power laws through the minima. A budget whose minimum is not\n"
    "              strictly inside the sizes tried is refused, with the reason\n"
    "  approach 3  L(N, D) = E + A/N^alpha + B/D^beta by Huber loss (delta 1e-3) on\n"
    "              log L, L-BFGS from a 4500-point grid, as Besiroglu et al. (2024);\n"
    "              a = beta/(alpha+beta), b = alpha/(alpha+beta)\n"
    "An approach the data cannot support is skipped and the output says why. The\n"
    "exponent a is also given under every parameter-count convention the runs\n"
    "carry (Pearce & Song 2024).\n"
    "\n"
    "Input (one of):\n"
    "  --db FILE          a results store written by `llamaeval sweep` (finished cells)\n"
    "  --plan NAME        only the cells of this plan (default: every plan)\n"
    "  --csv FILE         a CSV with header columns N, D, loss (any case, any order) and\n"
    "                     optionally C or budget (IsoFLOP grouping); other columns ignored\n"
    "\n"
    "Options:\n"
    "  --n-count WHICH    total (default), nonembed (Kaplan), nonembed-noout; with --csv\n"
    "                     it names the convention of the file's N column\n"
    "  --flops CONV       FLOPs for approaches 1 and 2: 6nd (default) or exact\n"
    "                     (Chinchilla's Appendix F count; --db only)\n"
    "  --bootstrap N      resamples for every approach (default 4000; 0: no intervals)\n"
    "  --seed S           bootstrap seed (default 0)\n"
    "  --threads T        worker threads (default: all cores); never changes the numbers\n"
    "  --huber-delta X    approach 3's Huber delta (default 1e-3)\n"
    "  --objective OBJ    approach 3's objective: huber (default; Hoffmann et al.'s sum of\n"
    "                     Huber losses) or ml (maximum likelihood of Huber-distributed\n"
    "                     residuals with a fitted scale: Besiroglu et al.'s published fit)\n"
    "  --boot-starts S    approach 3's starts in each resample: the full-data optimum and\n"
    "                     coarse (default: 32 more grid points), optimum (none more) or\n"
    "                     grid (all 4500; slow, to check the shortcut)\n"
    "  --format FMT       table (default) or json (one object)\n"
    "  -h, --help         show this help\n";

/* ---- reading runs from the store ------------------------------------------------- */

struct le_fit_db {
    struct le_store *s;
    struct le_fit_run *runs;
    int n, cap;
    double **curves; /* per run: tokens then losses (2 * n_curve doubles) */
    int rc;
};

struct le_fit_curve {
    double *buf;
    int n, cap;
};

static int le_fit_point(void *ud, const struct le_store_sweep_point *p) {
    struct le_fit_curve *c = ud;
    if (!isfinite(p->val_loss) || p->tokens <= 0)
        return 0;
    if (c->n > 0 && (double)p->tokens <= c->buf[2 * (c->n - 1)])
        return 0; /* a repeated evaluation at the same token count */
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        double *b = realloc(c->buf, sizeof(double) * 2 * (size_t)cap);
        if (!b)
            return le_err_set(LE_ENOMEM, "out of memory reading training curves");
        c->buf = b;
        c->cap = cap;
    }
    c->buf[2 * c->n] = (double)p->tokens;
    c->buf[2 * c->n + 1] = p->val_loss;
    c->n++;
    return 0;
}

static int le_fit_cell(void *ud, const struct le_store_sweep_cell *c) {
    struct le_fit_db *db = ud;
    if (!c->done || !isfinite(c->loss))
        return 0;
    if (db->n == db->cap) {
        int cap = db->cap ? 2 * db->cap : 64;
        struct le_fit_run *r = realloc(db->runs, sizeof *r * (size_t)cap);
        double **cv = realloc(db->curves, sizeof *cv * (size_t)cap);
        if (r)
            db->runs = r;
        if (cv)
            db->curves = cv;
        if (!r || !cv)
            return le_err_set(LE_ENOMEM, "out of memory reading sweep cells");
        db->cap = cap;
    }
    struct le_fit_curve cur = {NULL, 0, 0};
    int rc = le_store_sweep_points(db->s, c->key, le_fit_point, &cur);
    if (rc) {
        free(cur.buf);
        return rc;
    }
    /* Pack as tokens[0..n) then losses[0..n). */
    double *packed = cur.n ? malloc(sizeof(double) * 2 * (size_t)cur.n) : NULL;
    if (cur.n && !packed) {
        free(cur.buf);
        return le_err_set(LE_ENOMEM, "out of memory reading training curves");
    }
    for (int i = 0; i < cur.n; i++) {
        packed[i] = cur.buf[2 * i];
        packed[cur.n + i] = cur.buf[2 * i + 1];
    }
    free(cur.buf);
    struct le_fit_run *r = &db->runs[db->n];
    memset(r, 0, sizeof *r);
    r->n[LE_FIT_N_TOTAL] = c->n_total > 0 ? (double)c->n_total : NAN;
    r->n[LE_FIT_N_NONEMBED] = c->n_nonembed > 0 ? (double)c->n_nonembed : NAN;
    r->n[LE_FIT_N_NONEMBED_NOOUT] = c->n_nonembed_noout > 0 ? (double)c->n_nonembed_noout : NAN;
    r->d = (double)c->tokens;
    r->flops_per_token = c->flops_per_token > 0 ? c->flops_per_token : NAN;
    r->loss = c->loss;
    r->budget = c->budget;
    r->n_curve = cur.n;
    r->curve_tokens = packed;
    r->curve_loss = packed ? packed + cur.n : NULL;
    db->curves[db->n] = packed;
    db->n++;
    return 0;
}

static void le_fit_db_free(struct le_fit_db *db) {
    for (int i = 0; i < db->n; i++)
        free(db->curves[i]);
    free(db->curves);
    free(db->runs);
}

static int le_fit_read_db(struct le_fit_db *db, const char *path, const char *plan) {
    int rc = le_store_open_readonly(&db->s, path);
    if (rc)
        return rc;
    rc = le_store_sweep_cells(db->s, plan, le_fit_cell, db);
    le_store_close(db->s);
    db->s = NULL;
    if (rc)
        return rc;
    if (db->n == 0)
        return le_err_set(LE_ENOTFOUND, "%s has no finished sweep cells%s%s", path, plan ? " of plan " : "",
                          plan ? plan : "");
    return LE_OK;
}

/* ---- the table --------------------------------------------------------------------- */

static void le_fit_ci(char *buf, size_t n, const struct le_fit_est *e) {
    if (!isfinite(e->v))
        snprintf(buf, n, "-");
    else if (isfinite(e->lo))
        snprintf(buf, n, "%.4g [%.4g, %.4g]", e->v, e->lo, e->hi);
    else
        snprintf(buf, n, "%.4g [no interval]", e->v);
}

static void le_fit_print_law(const char *what, const struct le_fit_law *l) {
    char b[96];
    le_fit_ci(b, sizeof b, &l->e);
    printf("  %s  exponent %-28s k %.4g   R^2 %.3f over %d points\n", what, b, l->k.v, l->r2, l->n);
}

static void le_fit_print_a1(const struct le_fit_a1 *a) {
    if (!a->ok) {
        printf("Approach 1 (envelope of training curves): skipped: %s\n\n", a->why);
        return;
    }
    printf("Approach 1 (lower envelope %s, %d log-FLOP bins; bootstrap %d/%d fitted)\n",
           a->from_curves ? "of the training curves" : "of the final points (no curves)", a->n_points, a->n_boot_ok,
           a->n_boot);
    le_fit_print_law("N_opt = k C^a", &a->n_opt);
    le_fit_print_law("D_opt = k C^b", &a->d_opt);
    printf("\n");
}

static void le_fit_print_a2(const struct le_fit_a2 *a) {
    if (a->n_budgets == 0) {
        printf("Approach 2 (IsoFLOP profiles): skipped: %s\n\n", a->why);
        return;
    }
    printf("Approach 2 (IsoFLOP parabolas in ln N; %d of %d budgets used)\n", a->n_used, a->n_budgets);
    printf("  %-10s %5s %6s  %-32s %-11s %s\n", "C", "runs", "sizes", "N_opt [95% interval]", "D_opt", "loss");
    for (int i = 0; i < a->n_budgets; i++) {
        const struct le_fit_budget *b = &a->budgets[i];
        char nb[96];
        le_fit_ci(nb, sizeof nb, &(struct le_fit_est){b->n_opt, b->n_opt_lo, b->n_opt_hi});
        if (b->ok)
            printf("  %-10.4g %5d %6d  %-32s %-11.4g %.4f\n", b->c, b->n_runs, b->n_sizes, nb, b->d_opt, b->loss_opt);
        else
            printf("  %-10.4g %5d %6d  refused: %s\n", b->c, b->n_runs, b->n_sizes, b->why);
    }
    if (!a->ok) {
        printf("  skipped: %s\n\n", a->why);
        return;
    }
    printf("  bootstrap %d/%d fitted (runs redrawn within each budget)\n", a->n_boot_ok, a->n_boot);
    le_fit_print_law("N_opt = k C^a", &a->n_opt);
    le_fit_print_law("D_opt = k C^b", &a->d_opt);
    printf("\n");
}

static void le_fit_print_a3(const struct le_fit_a3 *a, const struct le_fit_opts *o) {
    if (!a->ok) {
        printf("Approach 3 (parametric fit): skipped: %s\n\n", a->why);
        return;
    }
    if (o->objective == LE_FIT_OBJ_ML)
        printf("Approach 3 (L = E + A/N^alpha + B/D^beta; maximum likelihood, ln L residuals ~ Huber(delta %g)\n"
               "            with fitted scale %.4g; L-BFGS from %d starts, %d runs, -log-likelihood %.6g;\n"
               "            bootstrap %d/%d fitted)\n",
               o->huber_delta, a->sigma, a->n_starts, a->n_points, a->objective, a->n_boot_ok, a->n_boot);
    else
        printf("Approach 3 (L = E + A/N^alpha + B/D^beta; Huber delta %g on ln L, L-BFGS from %d starts,\n"
               "            %d runs, objective %.6g; bootstrap %d/%d fitted)\n",
               o->huber_delta, a->n_starts, a->n_points, a->objective, a->n_boot_ok, a->n_boot);
    const char *names[8] = {"E", "A", "B", "alpha", "beta", "a", "b", "G"};
    const struct le_fit_est *e[8] = {&a->E, &a->A, &a->B, &a->alpha, &a->beta, &a->a, &a->b, &a->G};
    char b[96];
    for (int k = 0; k < 8; k++) {
        le_fit_ci(b, sizeof b, e[k]);
        printf("  %-6s %s\n", names[k], b);
    }
    for (int k = 0; k < LE_FIT_N_AT; k++) {
        char n1[96], d1[96], t1[96];
        le_fit_ci(n1, sizeof n1, &a->n_opt[k]);
        le_fit_ci(d1, sizeof d1, &a->d_opt[k]);
        le_fit_ci(t1, sizeof t1, &a->tokens_per_param[k]);
        printf("  at C = %.4g (%s):\n    N_opt %s\n    D_opt %s\n    tokens per parameter %s\n", a->c_at[k],
               k == LE_FIT_AT_DATA ? "largest in the data" : "Chinchilla's budget", n1, d1, t1);
    }
    printf("\n");
}

/* Our estimate of `param` beside one published value. */
static void le_fit_compare_row(const char *label, const struct le_fit_est *e, const struct le_fit_ref *ref) {
    char b[96];
    le_fit_ci(b, sizeof b, e);
    const char *verdict = !isfinite(e->v) ? "-"
                          : !isfinite(e->lo) ? "no interval"
                          : (ref->value < e->lo || ref->value > e->hi) ? "yes"
                                                                       : "no";
    printf("  %-18s %-30s %-10.4g %-11s %s\n", label, b, ref->value, ref->source, verdict);
}

/* What approach k's a says about Chinchilla's claim (a about 0.5) against
 * Kaplan's (0.73). */
static void le_fit_verdict(int k, const struct le_fit_est *a) {
    printf("  approach %d: ", k);
    if (!isfinite(a->lo)) {
        printf("a = %.3g has no interval (no bootstrap): it cannot decide\n", a->v);
        return;
    }
    int ex_c = 0.5 < a->lo || 0.5 > a->hi, ex_k = 0.73 < a->lo || 0.73 > a->hi;
    if (!ex_c && !ex_k)
        printf("a in [%.3g, %.3g] contains both 0.5 (Chinchilla) and 0.73 (Kaplan): the data cannot decide\n", a->lo,
               a->hi);
    else if (!ex_c)
        printf("a in [%.3g, %.3g] excludes Kaplan's 0.73 and contains Chinchilla's 0.5\n", a->lo, a->hi);
    else if (!ex_k)
        printf("a in [%.3g, %.3g] excludes Chinchilla's 0.5 and contains Kaplan's 0.73\n", a->lo, a->hi);
    else
        printf("a in [%.3g, %.3g] excludes both Chinchilla's 0.5 and Kaplan's 0.73\n", a->lo, a->hi);
}

static void le_fit_print_compare(const struct le_fit_result *r) {
    struct le_fit_ref refs[LE_FIT_N_REFS];
    int nref = le_fit_published(refs, LE_FIT_N_REFS);
    nref = nref < LE_FIT_N_REFS ? nref : LE_FIT_N_REFS;
    const struct le_fit_est *as[3] = {&r->a1.n_opt.e, &r->a2.n_opt.e, &r->a3.a};
    const int ok[3] = {r->a1.ok, r->a2.ok, r->a3.ok};
    printf("Published values (does our 95%% interval exclude them?)\n");
    printf("  %-18s %-30s %-10s %-11s %s\n", "quantity", "ours [95% interval]", "published", "source", "excluded");
    for (int k = 0; k < 3; k++) {
        if (!ok[k])
            continue;
        char label[32];
        snprintf(label, sizeof label, "a (approach %d)", k + 1);
        for (int i = 0; i < nref; i++)
            if (!strcmp(refs[i].param, "a") && (refs[i].approach == k + 1 || refs[i].approach == 0))
                le_fit_compare_row(label, as[k], &refs[i]);
    }
    if (r->a3.ok) {
        const char *names[5] = {"E", "A", "B", "alpha", "beta"};
        const struct le_fit_est *e[5] = {&r->a3.E, &r->a3.A, &r->a3.B, &r->a3.alpha, &r->a3.beta};
        for (int k = 0; k < 5; k++)
            for (int i = 0; i < nref; i++)
                if (refs[i].approach == 3 && !strcmp(refs[i].param, names[k]))
                    le_fit_compare_row(names[k], e[k], &refs[i]);
    }
    printf("  (Chinchilla: Hoffmann et al. 2022, Table 2 and section 3.3; Besiroglu: Besiroglu et al. 2024's\n"
           "   refit of Chinchilla's data; Kaplan: Kaplan et al. 2020's N_opt ~ C^0.73)\n");
    printf("Verdict on N_opt ~ C^a (Chinchilla: a about 0.5; Kaplan: 0.73):\n");
    int any = 0;
    for (int k = 0; k < 3; k++)
        if (ok[k]) {
            le_fit_verdict(k + 1, as[k]);
            any = 1;
        }
    if (!any)
        printf("  no approach could be fitted: the data cannot decide\n");
    printf("\n");
}

static void le_fit_print_conv(const struct le_fit_result *r) {
    int n = 0;
    for (int c = 0; c < LE_FIT_N_COUNT; c++)
        n += r->conv[c].available;
    if (n < 2) {
        printf("Parameter-count conventions: only %s counts are known, so a cannot be compared across them.\n",
               le_fit_ncount_name(r->opts.ncount));
        return;
    }
    printf("Exponent a under each parameter-count convention (Pearce & Song 2024)\n");
    printf("  %-16s %-30s %-30s %s\n", "N counts", "approach 1", "approach 2", "approach 3");
    for (int c = 0; c < LE_FIT_N_COUNT; c++) {
        if (!r->conv[c].available)
            continue;
        char b[3][96];
        for (int k = 0; k < 3; k++) {
            if (r->conv[c].ok[k])
                le_fit_ci(b[k], sizeof b[k], &r->conv[c].a[k]);
            else
                snprintf(b[k], sizeof b[k], "skipped");
        }
        printf("  %-16s %-30s %-30s %s%s\n", le_fit_ncount_name((enum le_fit_ncount)c), b[0], b[1], b[2],
               c == (int)r->opts.ncount ? "  (used above)" : "");
    }
}

static void le_fit_print(const struct le_fit_result *r, const char *source) {
    const struct le_fit_opts *o = &r->opts;
    printf("llamaeval fit: %d runs from %s; N = %s parameters, C = %s; %d bootstrap resamples, seed %llu\n\n",
           r->n_runs, source, le_fit_ncount_name(o->ncount), o->flops == LE_FIT_FLOPS_EXACT ? "exact FLOPs" : "6ND",
           o->n_boot, (unsigned long long)o->seed);
    le_fit_print_a1(&r->a1);
    le_fit_print_a2(&r->a2);
    le_fit_print_a3(&r->a3, o);
    le_fit_print_compare(r);
    le_fit_print_conv(r);
}

/* ---- the command ------------------------------------------------------------------- */

struct le_fit_args {
    const char *db, *plan, *csv, *format;
    struct le_fit_opts o;
};

static int le_fit_parse(int argc, char **argv, struct le_fit_args *a) {
    static const struct option opts[] = {
        {"db", 1, 0, 'd'},        {"plan", 1, 0, 'p'},    {"csv", 1, 0, 'c'},     {"n-count", 1, 0, 'n'},
        {"flops", 1, 0, 'f'},     {"bootstrap", 1, 0, 'b'}, {"seed", 1, 0, 's'}, {"threads", 1, 0, 't'},
        {"format", 1, 0, 'F'},    {"huber-delta", 1, 0, 'H'}, {"objective", 1, 0, 'o'}, {"boot-starts", 1, 0, 'B'},
        {"help", 0, 0, 'h'},      {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_fit_usage, le_fit_help, 0};
    int c, ec = -1;
    long v;
    while ((c = le_cli_opt(&p, &ec)) != -1) {
        switch (c) {
        case 'd': a->db = optarg; break;
        case 'p': a->plan = optarg; break;
        case 'c': a->csv = optarg; break;
        case 'F': a->format = optarg; break;
        case 'n':
            if (le_fit_ncount_parse(optarg, &a->o.ncount))
                return le_cli_usage(le_fit_usage, "%s", le_err_msg());
            break;
        case 'f':
            if (le_fit_flops_parse(optarg, &a->o.flops))
                return le_cli_usage(le_fit_usage, "%s", le_err_msg());
            break;
        case 'b':
            if (le_cli_int(&p, "--bootstrap", optarg, 0, 1000000, &v))
                return LE_EXIT_USAGE;
            a->o.n_boot = (int)v;
            break;
        case 's':
            if (le_cli_int(&p, "--seed", optarg, 0, 2147483647L, &v))
                return LE_EXIT_USAGE;
            a->o.seed = (uint64_t)v;
            break;
        case 't':
            if (le_cli_int(&p, "--threads", optarg, 1, 1024, &v))
                return LE_EXIT_USAGE;
            a->o.threads = (int)v;
            break;
        case 'H':
            if (le_cli_double(&p, "--huber-delta", optarg, &a->o.huber_delta))
                return LE_EXIT_USAGE;
            if (!(a->o.huber_delta > 0))
                return le_cli_usage(le_fit_usage, "--huber-delta must be positive");
            break;
        case 'o':
            if (!strcmp(optarg, "huber"))
                a->o.objective = LE_FIT_OBJ_HUBER;
            else if (!strcmp(optarg, "ml"))
                a->o.objective = LE_FIT_OBJ_ML;
            else
                return le_cli_usage(le_fit_usage, "--objective '%s': huber or ml", optarg);
            break;
        case 'B':
            if (!strcmp(optarg, "optimum"))
                a->o.boot_grid = 0;
            else if (!strcmp(optarg, "coarse"))
                a->o.boot_grid = 1;
            else if (!strcmp(optarg, "grid"))
                a->o.boot_grid = 2;
            else
                return le_cli_usage(le_fit_usage, "--boot-starts '%s': optimum, coarse or grid", optarg);
            break;
        default:
            return le_cli_usage(le_fit_usage, "unexpected option");
        }
    }
    if (ec >= 0)
        return ec;
    if (le_cli_optind() < argc)
        return le_cli_usage(le_fit_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (!!a->db == !!a->csv)
        return le_cli_usage(le_fit_usage, "give exactly one of --db FILE and --csv FILE");
    if (a->plan && !a->db)
        return le_cli_usage(le_fit_usage, "--plan goes with --db");
    if (strcmp(a->format, "table") && strcmp(a->format, "json"))
        return le_cli_usage(le_fit_usage, "--format '%s': table or json", a->format);
    if (a->csv && a->o.flops == LE_FIT_FLOPS_EXACT)
        return le_cli_usage(le_fit_usage, "--flops exact needs FLOPs-per-token counts, which a CSV does not carry");
    return -1;
}

int le_cmd_fit(int argc, char **argv) {
    struct le_fit_args a = {NULL, NULL, NULL, "table", {0}};
    le_fit_opts_init(&a.o);
    a.o.threads = le_ncpu();
    int ec = le_fit_parse(argc, argv, &a);
    if (ec >= 0)
        return ec;
    struct le_fit_db db = {0};
    struct le_fit_run *runs = NULL;
    int n = 0, rc;
    if (a.csv) {
        rc = le_fit_csv_read(a.csv, a.o.ncount, &runs, &n);
    } else {
        rc = le_fit_read_db(&db, a.db, a.plan);
        runs = db.runs;
        n = db.n;
    }
    if (rc) {
        ec = le_cli_fail_lib(rc);
        goto done;
    }
    struct le_fit_result *r;
    if ((rc = le_fit_compute(&r, runs, n, &a.o))) {
        ec = le_cli_fail_lib(rc);
        goto done;
    }
    if (!strcmp(a.format, "json")) {
        char *s;
        if ((rc = le_fit_json(r, &s))) {
            ec = le_cli_fail_lib(rc);
        } else {
            printf("%s\n", s);
            free(s);
            ec = LE_EXIT_OK;
        }
    } else {
        le_fit_print(r, a.csv ? a.csv : a.db);
        ec = LE_EXIT_OK;
    }
    le_fit_free(r);
    if (ec == LE_EXIT_OK && fflush(stdout))
        ec = le_cli_fail("writing the output failed");
done:
    if (a.csv)
        free(runs);
    else
        le_fit_db_free(&db);
    return ec;
}
