/*
 * le_fit: Chinchilla-style scaling-law fits (Hoffmann et al. 2022, approaches
 * 1, 2 and 3; Besiroglu et al. 2024's replication of approach 3) with seeded
 * bootstrap intervals. Pure numerics: no store, no engine; the caller fills
 * an array of runs (from the store, or from a CSV).
 *
 * This header is the contract between `llamaeval sweep` (which records
 * runs), `llamaeval fit` and `llamaeval report` (which read them). The input
 * struct below is fixed; the result API follows it.
 *
 * Usage: fill struct le_fit_opts with le_fit_opts_init and change what you
 * need, call le_fit_compute(&res, runs, n, &opts), read the public struct
 * le_fit_result (every number a report needs), render it with le_fit_json if
 * wanted, and release it with le_fit_free. A fit never prints; an approach
 * the data cannot support is marked not ok with its reason, and only bad
 * input (no runs, a missing or non-positive N, D or loss) is an error.
 *
 * Units: N parameters, D tokens, C FLOPs, losses in nats/token; logs are
 * natural. Every estimate carries a 95% seeded-bootstrap percentile interval
 * computed from the same resamples (runs drawn with replacement); results
 * depend only on the runs, the options and the seed, never on the thread
 * count.
 */
#ifndef LE_FIT_H
#define LE_FIT_H

#include <stdint.h>

/* Parameter-count conventions (Pearce & Song 2024): which N a fit uses. */
enum le_fit_ncount {
    LE_FIT_N_TOTAL = 0,        /* every parameter (Chinchilla) */
    LE_FIT_N_NONEMBED = 1,     /* without the token embedding (Kaplan) */
    LE_FIT_N_NONEMBED_NOOUT = 2, /* without the embedding and the output layer */
    LE_FIT_N_COUNT = 3
};
/* FLOP conventions: C = 6ND (N in the chosen convention) or Chinchilla's
 * Appendix F count (attention and output layer included). */
enum le_fit_flops { LE_FIT_FLOPS_6ND = 0, LE_FIT_FLOPS_EXACT = 1 };

/* One training run. Arrays are borrowed for the duration of a fit call. */
struct le_fit_run {
    double n[LE_FIT_N_COUNT];  /* parameters under each convention (NAN if unknown) */
    double d;                  /* training tokens */
    double flops_per_token;    /* Appendix F count per token, forward + backward (NAN if unknown) */
    double loss;               /* final held-out loss, nats/token */
    double budget;             /* the IsoFLOP budget C this run belongs to; NAN when none */
    int n_curve;               /* evaluation points during training (0 if none) */
    const double *curve_tokens;/* tokens seen at each point, increasing */
    const double *curve_loss;  /* held-out loss at each point */
};

/* Functions and types of the fit API. */

/* Options of le_fit_compute; le_fit_opts_init sets the documented defaults. */
struct le_fit_opts {
    enum le_fit_ncount ncount;  /* which N every approach uses (LE_FIT_N_TOTAL) */
    enum le_fit_flops flops;    /* C for approaches 1 and 2 (LE_FIT_FLOPS_6ND); approach 3's
                                 * N_opt(C) is Chinchilla's closed form, so always C = 6ND */
    int n_boot;                 /* bootstrap resamples for every approach (4000); 0 = none */
    uint64_t seed;              /* bootstrap seed (0) */
    int threads;                /* worker threads (1); never changes a result */
    double huber_delta;         /* approach 3's Huber delta on log-loss residuals (1e-3) */
    double bins_per_decade;     /* approach 1's log-FLOP bins per factor of 10 in C (8) */
    int boot_grid;              /* starts of an approach-3 resample's fit: the full-data optimum
                                 * and 1 (default): a coarse grid of 32 more; 0: nothing more;
                                 * 2: the whole 4500-point grid (slow; to check the shortcut) */
    int conventions;            /* 1 (default): also fit under every other N convention the runs
                                 * carry, for the side-by-side exponents (struct le_fit_conv) */
    enum le_fit_objective {
        LE_FIT_OBJ_HUBER = 0,   /* minimise sum Huber_delta(r) (Hoffmann et al.; default) */
        LE_FIT_OBJ_ML = 1,      /* maximise the likelihood of r ~ Huber_delta(scale sigma) over the
                                 * 5 parameters and sigma jointly: Besiroglu et al.'s published
                                 * estimate (their notebook's objective()); a[] then also gives sigma */
    } objective;
};
void le_fit_opts_init(struct le_fit_opts *o);

/* A point estimate from all runs and its 95% bootstrap percentile interval
 * [lo, hi] (NAN both when no bootstrap ran or fewer than 20 resamples could be
 * fitted). */
struct le_fit_est {
    double v, lo, hi;
};
/* y = k * C^e, least squares of ln y on ln C over n points; r2 is computed in
 * log space (1 by construction with 2 points), rms the root-mean-square log
 * residual (NAN with 2 points). */
struct le_fit_law {
    struct le_fit_est k, e;
    double r2, rms;
    int n;
};

/* Approach 1: the lower envelope of every training curve. Each curve point
 * (tokens t, loss) becomes C = 6*N*t or flops_per_token*t; the points are
 * binned in log10 C (bins_per_decade bins per decade, anchored at 10^0), and
 * in each bin the point of lowest loss gives one envelope point (C, N of its
 * run, D = t). A run without a curve contributes its final (d, loss). */
struct le_fit_env_point {
    double c, n, d, loss;
    int run;                    /* index into the caller's runs */
};
struct le_fit_a1 {
    int ok;                     /* 0: skipped, why says so */
    char why[256];
    int from_curves;            /* 1 when at least one run carried a curve */
    int n_points;
    struct le_fit_env_point *points; /* the envelope, increasing C (owned by the result) */
    struct le_fit_law n_opt;    /* N_opt = k * C^a (e is a) */
    struct le_fit_law d_opt;    /* D_opt = k * C^b (e is b) */
    int n_boot, n_boot_ok;      /* resamples drawn / those whose envelope could be fitted */
};

/* Approach 2: one IsoFLOP profile per budget (runs with equal `budget`):
 * loss = p0 + p1*x + p2*x^2 in x = ln N by least squares. A budget is used
 * only with >= 3 distinct N, p2 > 0 and its minimum strictly inside the
 * range of ln N tried; else it is refused with the reason. */
struct le_fit_budget {
    double c;                   /* the budget's FLOPs */
    int n_runs, n_sizes;        /* runs, distinct N */
    double n_lo, n_hi;          /* smallest and largest N tried */
    int ok;                     /* 0: refused, why says so */
    char why[160];
    double p0, p1, p2;          /* the parabola (NAN when too few sizes) */
    double n_opt, d_opt;        /* exp(-p1/(2 p2)); C/(6 N_opt), or C/flops_per_token(N_opt) with
                                 * the exact convention (ln fpt interpolated in ln N) */
    double loss_opt;            /* the parabola at its minimum */
    double n_opt_lo, n_opt_hi;  /* 95% interval of n_opt over the resamples in which this budget
                                 * was accepted (NAN without enough of them) */
};
struct le_fit_a2 {
    int ok;                     /* 0: skipped (fewer than 2 usable budgets, or none at all) */
    char why[256];
    int n_budgets;
    struct le_fit_budget *budgets; /* every budget, increasing C, refused ones included */
    int n_used;
    struct le_fit_law n_opt, d_opt;
    int n_boot, n_boot_ok;      /* resamples (runs redrawn within each budget) / fitted */
};

/* Approach 3: L(N, D) = E + A/N^alpha + B/D^beta fitted as Hoffmann et al.
 * 2022 and Besiroglu et al. 2024 do (see fit.c). Derived: a = beta/(alpha+beta),
 * b = alpha/(alpha+beta), G = (alpha A/(beta B))^(1/(alpha+beta)),
 * N_opt(C) = G (C/6)^a, D_opt(C) = (C/6)^b / G, and tokens per parameter
 * D_opt/N_opt, given at two compute budgets c_at[]. */
enum { LE_FIT_AT_DATA = 0, LE_FIT_AT_CHINCHILLA = 1, LE_FIT_N_AT = 2 };
struct le_fit_a3 {
    int ok;                     /* 0: skipped (fewer than 6 runs or 2 distinct N or D) */
    char why[256];
    int n_points;
    struct le_fit_est E, A, B, alpha, beta, a, b, G;
    double objective;           /* the Huber sum at the optimum; with LE_FIT_OBJ_ML the negative
                                 * log-likelihood, normalising constant included */
    double sigma;               /* LE_FIT_OBJ_ML: the fitted scale of ln L residuals (else NAN) */
    int n_starts;               /* grid starts of the full-data fit (4500) */
    double c_at[LE_FIT_N_AT];   /* the largest IsoFLOP budget (else the largest 6 N D) among the
                                 * runs; 5.76e23 (the Gopher and Chinchilla budget in Hoffmann et al. 2022) */
    struct le_fit_est n_opt[LE_FIT_N_AT], d_opt[LE_FIT_N_AT], tokens_per_param[LE_FIT_N_AT];
    int n_boot, n_boot_ok;
};

/* The exponents under one N convention (Pearce & Song 2024's point: the
 * convention alone moves a at small scale). ok[] per approach; NAN values
 * where an approach was skipped under that convention. */
struct le_fit_conv {
    int available;              /* every run carries this N */
    int ok[3];                  /* approaches 1, 2, 3 */
    struct le_fit_est a[3], b[3];
};

struct le_fit_result {
    int n_runs;
    struct le_fit_opts opts;    /* the options used */
    struct le_fit_a1 a1;
    struct le_fit_a2 a2;
    struct le_fit_a3 a3;
    struct le_fit_conv conv[LE_FIT_N_COUNT]; /* conv[opts.ncount] repeats a1..a3's a and b */
};

/* Fits every approach the data supports. Returns LE_OK with *out set (free
 * with le_fit_free), or LE_EINVAL for bad input (n < 1, a run whose N under
 * opts->ncount, d or loss is missing or not positive, --flops exact with a
 * run lacking flops_per_token, a curve that is not increasing) or LE_ENOMEM;
 * the message says which run. The runs are only read during the call. */
int le_fit_compute(struct le_fit_result **out, const struct le_fit_run *runs, int n,
                   const struct le_fit_opts *opts);
void le_fit_free(struct le_fit_result *r); /* NULL is fine */

/* The result as one JSON object (see README, "llamaeval fit"): approach1,
 * approach2, approach3 with every estimate and "ci95" intervals, "n_runs",
 * "conventions", and "skipped" with the reason of each approach left out.
 * *out is malloc'ed, NUL-terminated; the caller frees it. */
int le_fit_json(const struct le_fit_result *r, char **out);

/* Names: "total", "nonembed", "nonembed-noout"; "6nd", "exact". The parse
 * functions return LE_EINVAL for an unknown name. */
const char *le_fit_ncount_name(enum le_fit_ncount c);
int le_fit_ncount_parse(const char *s, enum le_fit_ncount *out);
const char *le_fit_flops_name(enum le_fit_flops f);
int le_fit_flops_parse(const char *s, enum le_fit_flops *out);

/* Published values to set beside ours, from the report's published sets
 * (reports/published.c: chinchilla, kaplan, besiroglu; the strings are
 * static). approach is 1..3 for an exponent a or b of that approach, 3 for
 * approach-3 parameters, 0 for Kaplan's a and b (any approach). */
struct le_fit_ref {
    const char *source;         /* "Chinchilla", "Besiroglu", "Kaplan" */
    const char *cite;           /* paper and where the number is */
    int approach;
    const char *param;          /* "a", "b", "E", "A", "B", "alpha", "beta" */
    double value;
};
/* Fills out[0..cap) and returns how many values there are (LE_FIT_N_REFS at most). */
enum { LE_FIT_N_REFS = 32 };
int le_fit_published(struct le_fit_ref *out, int cap);

/* CSV input for `fit --csv`: a header naming the columns N, D and loss in any
 * order and case, optionally C (or budget) for IsoFLOP grouping; other
 * columns are ignored; blank lines and lines starting with '#' are skipped.
 * N fills runs[i].n[ncount] (the other conventions NAN), no curves, no
 * flops_per_token. *runs is malloc'ed (free with free()). A bad file is
 * LE_EFORMAT/LE_EIO with "PATH:LINE: what" in the message. */
int le_fit_csv_read(const char *path, enum le_fit_ncount ncount, struct le_fit_run **runs, int *n);

#endif
