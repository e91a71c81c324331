/*
 * fit: the three scaling-law fits of Hoffmann et al. 2022 ("Training
 * Compute-Optimal Large Language Models", section 3) with seeded bootstrap
 * intervals, over an array of runs (struct le_fit_run).
 *
 * Design. Each approach is a pure function of a multiset of runs (indices
 * into the caller's array), so the bootstrap is the same code called on
 * resampled index lists: resample i draws from a splitmix64 stream seeded by
 * (seed, i) and writes its numbers into slot i; percentiles are taken over
 * the slots afterwards. Workers (engine/le_pool) take resamples -- and the
 * 4500 grid starts of approach 3's full-data fit -- from an atomic counter,
 * and nothing depends on which worker did what, so the output is identical
 * for any thread count.
 *
 * Approach 3 follows Besiroglu et al. 2024 ("Chinchilla Scaling: A
 * replication attempt", and their notebook in epoch-research/
 * analyzing-chinchilla): minimise sum_i Huber_delta(LSE(a - alpha ln N_i,
 * b - beta ln D_i, e) - ln L_i) over x = (a, b, e, alpha, beta) with
 * liblbfgs (analytic gradient) from every point of the grid alpha, beta in
 * {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}, and
 * keep the lowest objective (ties: the earlier start). A bootstrap
 * resample starts from the full-data optimum and, with opts.boot_grid, the
 * 32 corners of a coarse grid (alpha, beta in {0.5, 1.5}, e in {-0.5, 0.5},
 * a, b in {5, 15}); refitting from 4500 starts per resample would cost about
 * 4500 times more for the same answer in practice (see README).
 *
 * Workload: a few hundred runs; approach 3's objective is 2 exp + 1 log per
 * run per evaluation, and its bootstrap (default 4000 resamples, about 33
 * descents each) dominates: about 26 s of CPU for 240 runs.
 */
#include "le_fit.h"
#include "le_err.h"  /* le_err_set, LE_* codes */
#include "le_pool.h" /* le_pool_new/run: workers for grid starts and resamples */
#include "report_int.h" /* le_pub_list: the published values */
#include "le_util.h" /* le_splitmix64 */

#include <lbfgs.h> /* lbfgs, lbfgs_parameter_init (Debian liblbfgs-dev) */

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LE_FIT_MIN_BOOT 20 /* fewer fitted resamples than this: no interval */

/* ---- options, names, published values ------------------------------------------ */

void le_fit_opts_init(struct le_fit_opts *o) {
    memset(o, 0, sizeof *o);
    o->ncount = LE_FIT_N_TOTAL;
    o->flops = LE_FIT_FLOPS_6ND;
    o->n_boot = 4000;
    o->seed = 0;
    o->threads = 1;
    o->huber_delta = 1e-3;
    o->bins_per_decade = 8;
    o->boot_grid = 1;
    o->conventions = 1;
}

static const char *const le_fit_ncount_names[LE_FIT_N_COUNT] = {"total", "nonembed", "nonembed-noout"};

const char *le_fit_ncount_name(enum le_fit_ncount c) {
    return (unsigned)c < LE_FIT_N_COUNT ? le_fit_ncount_names[c] : "?";
}

int le_fit_ncount_parse(const char *s, enum le_fit_ncount *out) {
    for (int i = 0; i < LE_FIT_N_COUNT; i++)
        if (!strcmp(s, le_fit_ncount_names[i])) {
            *out = (enum le_fit_ncount)i;
            return LE_OK;
        }
    return le_err_set(LE_EINVAL, "unknown parameter count '%s' (total, nonembed, nonembed-noout)", s);
}

const char *le_fit_flops_name(enum le_fit_flops f) { return f == LE_FIT_FLOPS_EXACT ? "exact" : "6nd"; }

int le_fit_flops_parse(const char *s, enum le_fit_flops *out) {
    if (!strcmp(s, "6nd"))
        *out = LE_FIT_FLOPS_6ND;
    else if (!strcmp(s, "exact"))
        *out = LE_FIT_FLOPS_EXACT;
    else
        return le_err_set(LE_EINVAL, "unknown FLOP convention '%s' (6nd, exact)", s);
    return LE_OK;
}

int le_fit_published(struct le_fit_ref *out, int cap) {
    /* published.c's sets: Chinchilla's a1..a3 / b1..b3 are approach k's
     * exponents, its E, A, B, alpha, beta approach 3's fit, as Besiroglu's;
     * Kaplan's a and b hold for any approach (0). */
    static const struct {
        const char *set, *source;
    } sets[] = {{"chinchilla", "Chinchilla"}, {"kaplan", "Kaplan"}, {"besiroglu", "Besiroglu"}};
    static const char *const exps[2] = {"a", "b"};
    int n = 0;
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        int m = 0;
        const struct le_pub *p = le_pub_list(sets[s].set, &m);
        for (int i = 0; p && i < m; i++, n++) {
            const char *k = p[i].key;
            int exp = (k[0] == 'a' || k[0] == 'b') && (!k[1] || (k[1] >= '1' && k[1] <= '3' && !k[2]));
            if (n < cap)
                out[n] = (struct le_fit_ref){sets[s].source, p[i].cite, exp ? (k[1] ? k[1] - '0' : 0) : 3,
                                             exp ? exps[k[0] == 'b'] : k, p[i].value};
        }
    }
    return n;
}

/* ---- small numerics ------------------------------------------------------------ */

/* The stream of resample i: independent of threads and of other resamples. */
static uint64_t le_boot_state(uint64_t seed, int i) {
    uint64_t s = seed ^ 0x6C65666974ull; /* "lefit" */
    uint64_t a = le_splitmix64(&s);
    s = a + (uint64_t)(i + 1) * 0xD1B54A32D192ED03ull;
    return le_splitmix64(&s);
}

static int le_rand_below(uint64_t *s, int n) {
    int k = (int)((double)(le_splitmix64(s) >> 11) * 0x1.0p-53 * n);
    return k < n ? k : n - 1;
}

static int le_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 95% percentile interval of the finite values among v[0..n) (stride
 * doubles apart), numpy's linear interpolation; NAN when too few. */
static void le_interval(struct le_fit_est *e, const double *v, int n, int stride, double *scratch) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        double x = v[(size_t)i * (size_t)stride];
        if (isfinite(x))
            scratch[m++] = x;
    }
    e->lo = e->hi = NAN;
    if (m < LE_FIT_MIN_BOOT)
        return;
    qsort(scratch, (size_t)m, sizeof *scratch, le_cmp_double);
    double q[2] = {0.025, 0.975}, *dst[2] = {&e->lo, &e->hi};
    for (int k = 0; k < 2; k++) {
        double pos = q[k] * (m - 1);
        int j = (int)floor(pos);
        double f = pos - j;
        *dst[k] = j + 1 < m ? scratch[j] + f * (scratch[j + 1] - scratch[j]) : scratch[j];
    }
}

/* Least squares y = c0 + c1 x; r2 and rms residual (NAN with < 3 points). */
static void le_line(const double *x, const double *y, int n, double *c0, double *c1, double *r2, double *rms) {
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    double sxx = 0, sxy = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    *c1 = sxy / sxx;
    *c0 = my - *c1 * mx;
    double sse = 0;
    for (int i = 0; i < n; i++) {
        double r = y[i] - *c0 - *c1 * x[i];
        sse += r * r;
    }
    if (r2)
        *r2 = syy > 0 ? 1 - sse / syy : 1;
    if (rms)
        *rms = n > 2 ? sqrt(sse / n) : NAN;
}

/* Least squares y = q0 + q1 u + q2 u^2 with u = x - mean(x); 0 on success. */
static int le_parabola(const double *x, const double *y, int n, double *mean, double q[3]) {
    double m = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    double s[5] = {0}, t[3] = {0};
    for (int i = 0; i < n; i++) {
        double u = x[i] - m, p = 1;
        for (int k = 0; k < 5; k++) {
            s[k] += p;
            if (k < 3)
                t[k] += p * y[i];
            p *= u;
        }
    }
    /* Normal equations M q = t, M[i][j] = s[i+j], by Cramer's rule. */
    double M[3][3] = {{s[0], s[1], s[2]}, {s[1], s[2], s[3]}, {s[2], s[3], s[4]}};
    double det = M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) - M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                 M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]);
    if (!(fabs(det) > 1e-300))
        return -1;
    for (int c = 0; c < 3; c++) {
        double A[3][3];
        memcpy(A, M, sizeof A);
        for (int r = 0; r < 3; r++)
            A[r][c] = t[r];
        q[c] = (A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) - A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0])) /
               det;
    }
    *mean = m;
    return 0;
}

/* ---- the fit context: validated inputs and the worker pool ------------------------ */

struct le_ctx {
    const struct le_fit_run *runs;
    int n;
    struct le_fit_opts o;
    struct le_pool *pool;
    double *N;    /* N under o.ncount, per run */
    int *order;   /* runs sorted by budget (a2), then index */
};

/* Runs a job of n items on the pool: fn(arg, item) for every item, items
 * taken from an atomic counter. */
struct le_fit_job {
    void (*fn)(void *arg, int item);
    void *arg;
    int n;
    atomic_int next;
};

static void le_fit_job_worker(void *vp, int ith, int nth) {
    (void)ith;
    (void)nth;
    struct le_fit_job *j = vp;
    for (;;) {
        int i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            return;
        j->fn(j->arg, i);
    }
}

static void le_fit_job_run(struct le_pool *pool, int n, void (*fn)(void *, int), void *arg) {
    struct le_fit_job j = {fn, arg, n, 0};
    le_pool_run(pool, le_fit_job_worker, &j);
}

static double le_run_c(const struct le_ctx *x, int r, double tokens) {
    return x->o.flops == LE_FIT_FLOPS_EXACT ? x->runs[r].flops_per_token * tokens : 6.0 * x->N[r] * tokens;
}

/* ---- approach 1: the lower envelope ------------------------------------------------ */

struct le_a1_out {
    double kn, an, kd, bd, r2n, r2d, rmsn, rmsd;
    int npts;
};

/* Envelope of the runs idx[0..m) (duplicates allowed) into pts (capacity:
 * every curve point); returns the number of envelope points. */
static int le_a1_envelope(const struct le_ctx *x, const int *idx, int m, struct le_fit_env_point *pts,
                          long *bins) {
    int np = 0;
    for (int k = 0; k < m; k++) {
        int r = idx[k];
        const struct le_fit_run *run = &x->runs[r];
        int nc = run->n_curve > 0 ? run->n_curve : 1;
        for (int j = 0; j < nc; j++) {
            double t = run->n_curve > 0 ? run->curve_tokens[j] : run->d;
            double l = run->n_curve > 0 ? run->curve_loss[j] : run->loss;
            if (!(t > 0) || !isfinite(l))
                continue;
            double c = le_run_c(x, r, t);
            long b = (long)floor(log10(c) * x->o.bins_per_decade);
            /* pts is kept sorted by bin; find b (few hundred bins at most). */
            int lo = 0, hi = np;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (bins[mid] < b)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            struct le_fit_env_point p = {c, x->N[r], t, l, r};
            if (lo < np && bins[lo] == b) {
                struct le_fit_env_point *q = &pts[lo];
                if (l < q->loss || (l == q->loss && (r < q->run || (r == q->run && t < q->d))))
                    *q = p;
                continue;
            }
            memmove(pts + lo + 1, pts + lo, (size_t)(np - lo) * sizeof *pts);
            memmove(bins + lo + 1, bins + lo, (size_t)(np - lo) * sizeof *bins);
            pts[lo] = p;
            bins[lo] = b;
            np++;
        }
    }
    return np;
}

/* Power laws through an envelope; 0 when it supports them, else -1 and why. */
static int le_a1_laws(const struct le_fit_env_point *pts, int np, struct le_a1_out *o, char *why, size_t nwhy) {
    if (np < 3) {
        snprintf(why, nwhy, "the envelope has %d log-FLOP bin(s); at least 3 are needed", np);
        return -1;
    }
    int distinct = 0;
    for (int i = 0; i < np && distinct < 2; i++)
        if (pts[i].n != pts[0].n)
            distinct = 1;
    if (!distinct) {
        snprintf(why, nwhy, "one model size (N = %.4g) is lowest at every FLOP value: N_opt(C) cannot be fitted",
                 pts[0].n);
        return -1;
    }
    double *lc = malloc(sizeof(double) * 3 * (size_t)np);
    if (!lc) {
        snprintf(why, nwhy, "out of memory");
        return -2;
    }
    double *ln = lc + np, *ld = ln + np;
    for (int i = 0; i < np; i++) {
        lc[i] = log(pts[i].c);
        ln[i] = log(pts[i].n);
        ld[i] = log(pts[i].d);
    }
    le_line(lc, ln, np, &o->kn, &o->an, &o->r2n, &o->rmsn);
    le_line(lc, ld, np, &o->kd, &o->bd, &o->r2d, &o->rmsd);
    o->kn = exp(o->kn);
    o->kd = exp(o->kd);
    o->npts = np;
    free(lc);
    return 0;
}

static size_t le_a1_capacity(const struct le_ctx *x) {
    size_t cap = 0;
    for (int r = 0; r < x->n; r++)
        cap += x->runs[r].n_curve > 0 ? (size_t)x->runs[r].n_curve : 1;
    return cap;
}

/* ---- approach 2: IsoFLOP parabolas ------------------------------------------------- */

/* Budget groups: g_start[g]..g_start[g+1] index x->order. */
struct le_a2_groups {
    int ng;
    int *start; /* ng + 1 */
};

/* Fits one budget's parabola over runs idx[0..m); fills b (not c/n_runs). */
static void le_a2_budget(const struct le_ctx *x, const int *idx, int m, double c, struct le_fit_budget *b,
                         double *scratch) {
    double *lx = scratch, *ly = scratch + m;
    int distinct = 0;
    b->n_lo = INFINITY;
    b->n_hi = -INFINITY;
    for (int k = 0; k < m; k++) {
        double nn = x->N[idx[k]];
        int seen = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = x->N[idx[j]] == nn;
        distinct += !seen;
        lx[k] = log(nn);
        ly[k] = x->runs[idx[k]].loss;
        b->n_lo = fmin(b->n_lo, nn);
        b->n_hi = fmax(b->n_hi, nn);
    }
    b->n_sizes = distinct;
    b->ok = 0;
    b->p0 = b->p1 = b->p2 = b->n_opt = b->d_opt = b->loss_opt = NAN;
    if (distinct < 3) {
        snprintf(b->why, sizeof b->why, "only %d distinct model size(s); a parabola needs 3", distinct);
        return;
    }
    double mean, q[3];
    if (le_parabola(lx, ly, m, &mean, q)) {
        snprintf(b->why, sizeof b->why, "the parabola is degenerate");
        return;
    }
    b->p2 = q[2];
    b->p1 = q[1] - 2 * q[2] * mean;
    b->p0 = q[0] - q[1] * mean + q[2] * mean * mean;
    if (!(q[2] > 0)) {
        snprintf(b->why, sizeof b->why, "the parabola opens downward (p2 = %.3g): no minimum", q[2]);
        return;
    }
    double xs = mean - q[1] / (2 * q[2]);
    b->n_opt = exp(xs);
    b->loss_opt = q[0] - q[1] * q[1] / (4 * q[2]);
    if (!(xs > log(b->n_lo) && xs < log(b->n_hi))) {
        snprintf(b->why, sizeof b->why, "minimum at N = %.4g is %s the sizes tried [%.4g, %.4g]", b->n_opt,
                 xs <= log(b->n_lo) ? "at or below the smallest of" : "at or above the largest of", b->n_lo,
                 b->n_hi);
        return;
    }
    if (x->o.flops == LE_FIT_FLOPS_EXACT) {
        /* ln(flops per token) interpolated in ln N between the runs either side. */
        int lo = -1, hi = -1;
        for (int k = 0; k < m; k++) {
            if (lx[k] <= xs && (lo < 0 || lx[k] > lx[lo]))
                lo = k;
            if (lx[k] >= xs && (hi < 0 || lx[k] < lx[hi]))
                hi = k;
        }
        double f0 = log(x->runs[idx[lo]].flops_per_token), f1 = log(x->runs[idx[hi]].flops_per_token);
        double f = lx[hi] > lx[lo] ? f0 + (f1 - f0) * (xs - lx[lo]) / (lx[hi] - lx[lo]) : f0;
        b->d_opt = c / exp(f);
    } else {
        b->d_opt = c / (6 * b->n_opt);
    }
    b->ok = 1;
    b->why[0] = 0;
}

struct le_a2_out {
    double kn, an, kd, bd, r2n, r2d, rmsn, rmsd;
    int used;
};

/* Laws through the accepted budgets' minima; 0, or -1 and why. */
static int le_a2_laws(const struct le_fit_budget *bs, int nb, struct le_a2_out *o, char *why, size_t nwhy,
                      double *scratch) {
    double *lc = scratch, *ln = scratch + nb, *ld = scratch + 2 * nb;
    int u = 0;
    for (int g = 0; g < nb; g++)
        if (bs[g].ok) {
            lc[u] = log(bs[g].c);
            ln[u] = log(bs[g].n_opt);
            ld[u] = log(bs[g].d_opt);
            u++;
        }
    o->used = u;
    if (u < 2) {
        snprintf(why, nwhy, "%d of %d IsoFLOP budget(s) have an interior minimum; at least 2 are needed", u, nb);
        return -1;
    }
    le_line(lc, ln, u, &o->kn, &o->an, &o->r2n, &o->rmsn);
    le_line(lc, ld, u, &o->kd, &o->bd, &o->r2d, &o->rmsd);
    o->kn = exp(o->kn);
    o->kd = exp(o->kd);
    return 0;
}

static int le_a2_group(struct le_ctx *x, struct le_a2_groups *g) {
    g->ng = 0;
    g->start = malloc(sizeof(int) * (size_t)(x->n + 1));
    if (!g->start)
        return le_err_set(LE_ENOMEM, "out of memory");
    int m = 0;
    for (int r = 0; r < x->n; r++)
        if (isfinite(x->runs[r].budget))
            x->order[m++] = r;
    /* Insertion sort by budget, stable in run index (hundreds of runs). */
    for (int i = 1; i < m; i++) {
        int v = x->order[i], j = i;
        while (j > 0 && x->runs[x->order[j - 1]].budget > x->runs[v].budget) {
            x->order[j] = x->order[j - 1];
            j--;
        }
        x->order[j] = v;
    }
    for (int i = 0; i < m; i++)
        if (i == 0 || x->runs[x->order[i]].budget != x->runs[x->order[i - 1]].budget)
            g->start[g->ng++] = i;
    g->start[g->ng] = m;
    return LE_OK;
}

/* ---- approach 3: the parametric fit ------------------------------------------------ */

struct le_a3_data {
    int n;
    const double *lnn, *lnd, *lnl;
    double delta;
};

/* x = (a, b, e, alpha, beta); the Huber sum and its gradient. */
static lbfgsfloatval_t le_a3_eval(void *ud, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int nv,
                                  const lbfgsfloatval_t step) {
    (void)nv;
    (void)step;
    const struct le_a3_data *d = ud;
    double f = 0, g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, dl = d->delta;
    for (int i = 0; i < d->n; i++) {
        double t1 = x[0] - x[3] * d->lnn[i], t2 = x[1] - x[4] * d->lnd[i], t3 = x[2];
        /* LSE shifted by the largest term, whose exp is 1 (2 exps, not 3). */
        double e1, e2, e3, m;
        if (t1 >= t2 && t1 >= t3) {
            m = t1;
            e1 = 1, e2 = exp(t2 - m), e3 = exp(t3 - m);
        } else if (t2 >= t3) {
            m = t2;
            e1 = exp(t1 - m), e2 = 1, e3 = exp(t3 - m);
        } else {
            m = t3;
            e1 = exp(t1 - m), e2 = exp(t2 - m), e3 = 1;
        }
        double s = e1 + e2 + e3;
        double r = m + log(s) - d->lnl[i], h;
        if (fabs(r) <= dl) {
            f += 0.5 * r * r;
            h = r;
        } else {
            f += dl * (fabs(r) - 0.5 * dl);
            h = r > 0 ? dl : -dl;
        }
        h /= s;
        g0 += h * e1;
        g1 += h * e2;
        g2 += h * e3;
        g3 -= h * e1 * d->lnn[i];
        g4 -= h * e2 * d->lnd[i];
    }
    g[0] = g0;
    g[1] = g1;
    g[2] = g2;
    g[3] = g3;
    g[4] = g4;
    return f;
}

/* One L-BFGS descent from x (in place); returns the objective at the end
 * (INFINITY when it failed outright). The stop is on the relative decrease
 * of the objective only (scale-free: the Huber sum's size follows delta, so
 * a gradient-norm test would stop at once for a tiny delta). Starts descend
 * loosely (one step gaining under 1e-6), about 3 times cheaper than tightly
 * and to the same minimum; the winner is then polished (5 steps gaining
 * under 1e-10 together). Huber's kinks often end a descent with a
 * line-search rounding error at the minimum: that x is kept as found. */
static double le_a3_descend(const struct le_a3_data *d, double x[5], int tight) {
    lbfgs_parameter_t p;
    lbfgs_parameter_init(&p);
    p.m = 10;
    p.epsilon = 0;
    p.past = tight ? 5 : 1;
    p.delta = tight ? 1e-10 : 1e-6;
    p.max_iterations = 2000;
    double fx = INFINITY;
    int rc = lbfgs(5, x, &fx, le_a3_eval, NULL, (void *)d, &p);
    if (rc == LBFGSERR_OUTOFMEMORY || rc == LBFGSERR_INVALIDPARAMETERS)
        return INFINITY;
    /* After a failed line search liblbfgs reverts x but leaves fx at the last
     * trial point: evaluate x itself. */
    double g[5];
    fx = le_a3_eval((void *)d, x, g, 5, 0);
    return isfinite(fx) ? fx : INFINITY;
}

/* LE_FIT_OBJ_ML: minimise J(x, s) = sum Huber_delta(r_i(x)/s) + n ln s (the
 * negative log-likelihood less n ln Z(delta)) by exact steps in s and
 * L-BFGS steps in x. For fixed s, Huber_delta(r/s) = Huber_{delta s}(r)/s^2,
 * so the x step is the ordinary fit with delta s; the s step solves
 * dJ/ds = 0, i.e. sum min((r/s)^2, delta |r/s|) = n, by bisection in ln s
 * (the left side falls as s grows). Each step lowers J; stops when s moves
 * less than 1e-9 relatively. Returns J + n ln Z(delta), *sigma = s. */
static double le_a3_scale(const struct le_a3_data *d, const double x[5]) {
    double lo = -700, hi = 10, dl = d->delta;
    for (int it = 0; it < 200; it++) {
        double ls = 0.5 * (lo + hi), s = exp(ls), sum = 0;
        for (int i = 0; i < d->n; i++) {
            double t1 = x[0] - x[3] * d->lnn[i], t2 = x[1] - x[4] * d->lnd[i], t3 = x[2];
            double m = fmax(t1, fmax(t2, t3));
            double u = fabs(m + log(exp(t1 - m) + exp(t2 - m) + exp(t3 - m)) - d->lnl[i]) / s;
            sum += u <= dl ? u * u : dl * u;
        }
        if (sum > d->n)
            lo = ls;
        else
            hi = ls;
    }
    return exp(0.5 * (lo + hi));
}

static double le_a3_ml(const struct le_a3_data *d0, double x[5], double *sigma) {
    struct le_a3_data d = *d0;
    double s = NAN, g[5];
    for (int it = 0; it < 100; it++) {
        double s1 = le_a3_scale(d0, x);
        int done = fabs(s1 / s - 1) < 1e-9;
        /* Near-L1 objectives (delta s << residuals) trap a descent at a kink
         * far from the minimum: reach a much smaller delta by continuation,
         * halving it from the last one and descending from each minimum. */
        double target = d0->delta * s1;
        for (double dl = d.delta * 0.5; dl > target; dl *= 0.5) {
            d.delta = dl;
            if (!isfinite(le_a3_descend(&d, x, 1)))
                return INFINITY;
        }
        s = s1;
        d.delta = target;
        if (!isfinite(le_a3_descend(&d, x, 1)))
            return INFINITY;
        if (done)
            break;
    }
    s = le_a3_scale(d0, x);
    d.delta = d0->delta * s;
    *sigma = s;
    double dl = d0->delta;
    /* Huber_delta(r/s) summed = Huber_{delta s} sum / s^2; Z(delta) of the Huber density. */
    double z = sqrt(2 * M_PI) * erf(dl / sqrt(2.0)) + 2 * exp(-0.5 * dl * dl) / dl;
    return le_a3_eval(&d, x, g, 5, 0) / (s * s) + d.n * (log(s) + log(z));
}

static void le_a3_grid_point(int k, double x[5]) {
    /* k = ((((ia * 5 + ib) * 5 + ie) * 6 + iA) * 6 + iB), alpha outermost as in the notebook. */
    int iB = k % 6, iA = (k / 6) % 6, ie = (k / 36) % 5, ib = (k / 180) % 5, ia = k / 900;
    x[0] = 5.0 * iA;
    x[1] = 5.0 * iB;
    x[2] = -1 + 0.5 * ie;
    x[3] = 0.5 * ia;
    x[4] = 0.5 * ib;
}
#define LE_A3_GRID 4500

static void le_a3_coarse_point(int k, double x[5]) {
    x[0] = k & 1 ? 15 : 5;
    x[1] = k & 2 ? 15 : 5;
    x[2] = k & 4 ? 0.5 : -0.5;
    x[3] = k & 8 ? 1.5 : 0.5;
    x[4] = k & 16 ? 1.5 : 0.5;
}
#define LE_A3_COARSE 32

/* Derived numbers of one parameter vector, in the order of le_a3_names. */
enum { LE_A3_NV = 8 + 3 * LE_FIT_N_AT };
static void le_a3_derive(const double x[5], const double c_at[LE_FIT_N_AT], double *v) {
    double al = x[3], be = x[4], A = exp(x[0]), B = exp(x[1]);
    v[0] = exp(x[2]);
    v[1] = A;
    v[2] = B;
    v[3] = al;
    v[4] = be;
    v[5] = be / (al + be);
    v[6] = al / (al + be);
    v[7] = pow(al * A / (be * B), 1 / (al + be));
    for (int k = 0; k < LE_FIT_N_AT; k++) {
        double nopt = v[7] * pow(c_at[k] / 6, v[5]), dopt = pow(c_at[k] / 6, v[6]) / v[7];
        v[8 + 3 * k] = nopt;
        v[9 + 3 * k] = dopt;
        v[10 + 3 * k] = dopt / nopt;
    }
    for (int k = 0; k < LE_A3_NV; k++)
        if (!isfinite(v[k]))
            v[k] = NAN;
}

static struct le_fit_est *le_a3_slot(struct le_fit_a3 *a, int k) {
    struct le_fit_est *fixed[8] = {&a->E, &a->A, &a->B, &a->alpha, &a->beta, &a->a, &a->b, &a->G};
    if (k < 8)
        return fixed[k];
    k -= 8;
    struct le_fit_est *arr[3] = {a->n_opt, a->d_opt, a->tokens_per_param};
    return &arr[k % 3][k / 3];
}

/* Full-data fit: every grid start in parallel, then the best in start order. */
struct le_a3_grid_job {
    const struct le_a3_data *d;
    double *x;  /* LE_A3_GRID * 5 */
    double *fx; /* LE_A3_GRID */
};

static void le_a3_grid_item(void *vp, int k) {
    struct le_a3_grid_job *j = vp;
    double *x = j->x + 5 * (size_t)k;
    le_a3_grid_point(k, x);
    j->fx[k] = le_a3_descend(j->d, x, 0);
}

/* Bootstrap of approaches 1 and 3 (runs drawn from all runs) and of approach 2
 * (runs drawn within each budget): one item per resample. */
struct le_boot_job {
    struct le_ctx *x;
    const struct le_a2_groups *groups;
    const double *lnn, *lnd, *lnl; /* per run */
    const double *x3;              /* approach 3's full-data optimum */
    double c_at[LE_FIT_N_AT];
    int do1, do2, do3;
    size_t a1_cap;
    double *v1; /* n_boot * 4: a, b, k_n, k_d (NAN: not fitted) */
    double *v2; /* n_boot * s2: a, b, k_n, k_d, then each budget's N_opt */
    int s2;
    double *v3; /* n_boot * LE_A3_NV */
    atomic_int oom;
};

static void le_boot_a1(struct le_boot_job *j, const int *idx, int n, double *v) {
    struct le_fit_env_point *pts = malloc(j->a1_cap * sizeof *pts);
    long *bins = malloc(j->a1_cap * sizeof *bins);
    if (!pts || !bins) {
        atomic_store(&j->oom, 1);
    } else {
        int np = le_a1_envelope(j->x, idx, n, pts, bins);
        struct le_a1_out o;
        char why[256];
        if (!le_a1_laws(pts, np, &o, why, sizeof why)) {
            v[0] = o.an;
            v[1] = o.bd;
            v[2] = o.kn;
            v[3] = o.kd;
        }
    }
    free(pts);
    free(bins);
}

static void le_boot_a2(struct le_boot_job *j, uint64_t *rs, double *v) {
    const struct le_ctx *x = j->x;
    const struct le_a2_groups *g = j->groups;
    struct le_fit_budget *bs = malloc(sizeof *bs * (size_t)g->ng);
    int *idx = malloc(sizeof(int) * (size_t)x->n);
    double *scr = malloc(sizeof(double) * (size_t)(2 * x->n + 3 * g->ng));
    if (!bs || !idx || !scr) {
        atomic_store(&j->oom, 1);
        goto done;
    }
    for (int b = 0; b < g->ng; b++) {
        int s0 = g->start[b], m = g->start[b + 1] - s0;
        for (int k = 0; k < m; k++)
            idx[k] = x->order[s0 + le_rand_below(rs, m)];
        bs[b].c = x->runs[x->order[s0]].budget;
        le_a2_budget(x, idx, m, bs[b].c, &bs[b], scr);
    }
    for (int b = 0; b < g->ng; b++)
        v[4 + b] = bs[b].ok ? bs[b].n_opt : NAN;
    struct le_a2_out o;
    char why[256];
    if (!le_a2_laws(bs, g->ng, &o, why, sizeof why, scr)) {
        v[0] = o.an;
        v[1] = o.bd;
        v[2] = o.kn;
        v[3] = o.kd;
    }
done:
    free(bs);
    free(idx);
    free(scr);
}

static void le_boot_a3(struct le_boot_job *j, const int *idx, int n, double *v) {
    double *buf = malloc(sizeof(double) * 3 * (size_t)n);
    if (!buf) {
        atomic_store(&j->oom, 1);
        return;
    }
    for (int k = 0; k < n; k++) {
        buf[k] = j->lnn[idx[k]];
        buf[n + k] = j->lnd[idx[k]];
        buf[2 * n + k] = j->lnl[idx[k]];
    }
    struct le_a3_data d = {n, buf, buf + n, buf + 2 * n, j->x->o.huber_delta};
    double best[5], bestf = INFINITY;
    int bg = j->x->o.boot_grid, nstart = 1 + (bg == 1 ? LE_A3_COARSE : bg == 2 ? LE_A3_GRID : 0);
    for (int s = 0; s < nstart; s++) {
        double x[5];
        if (s == 0)
            memcpy(x, j->x3, sizeof x);
        else if (bg == 1)
            le_a3_coarse_point(s - 1, x);
        else
            le_a3_grid_point(s - 1, x);
        double f = le_a3_descend(&d, x, 0);
        if (f < bestf) {
            bestf = f;
            memcpy(best, x, sizeof best);
        }
    }
    double sigma;
    if (isfinite(bestf) && isfinite(le_a3_descend(&d, best, 1)) &&
        (j->x->o.objective != LE_FIT_OBJ_ML || isfinite(le_a3_ml(&d, best, &sigma))))
        le_a3_derive(best, j->c_at, v);
    free(buf);
}

static void le_boot_item(void *vp, int i) {
    struct le_boot_job *j = vp;
    int n = j->x->n;
    double *v1 = j->v1 + 4 * (size_t)i, *v2 = j->v2 + j->s2 * (size_t)i, *v3 = j->v3 + LE_A3_NV * (size_t)i;
    for (int k = 0; k < 4; k++)
        v1[k] = NAN;
    for (int k = 0; k < j->s2; k++)
        v2[k] = NAN;
    for (int k = 0; k < LE_A3_NV; k++)
        v3[k] = NAN;
    uint64_t rs = le_boot_state(j->x->o.seed, i);
    int *idx = malloc(sizeof(int) * (size_t)n);
    if (!idx) {
        atomic_store(&j->oom, 1);
        return;
    }
    for (int k = 0; k < n; k++)
        idx[k] = le_rand_below(&rs, n);
    if (j->do1)
        le_boot_a1(j, idx, n, v1);
    if (j->do3)
        le_boot_a3(j, idx, n, v3);
    if (j->do2) {
        uint64_t rs2 = le_boot_state(j->x->o.seed ^ 0xA2A2A2A2ull, i);
        le_boot_a2(j, &rs2, v2);
    }
    free(idx);
}

/* ---- driver ------------------------------------------------------------------------ */

static int le_fit_validate(const struct le_fit_run *runs, int n, const struct le_fit_opts *o) {
    if (n < 1)
        return le_err_set(LE_EINVAL, "no runs to fit");
    if ((unsigned)o->ncount >= LE_FIT_N_COUNT)
        return le_err_set(LE_EINVAL, "bad parameter-count convention %d", (int)o->ncount);
    if (o->n_boot < 0 || o->threads < 1 || !(o->huber_delta > 0) || !(o->bins_per_decade > 0) ||
        (o->objective != LE_FIT_OBJ_HUBER && o->objective != LE_FIT_OBJ_ML) || o->boot_grid < 0 || o->boot_grid > 2)
        return le_err_set(LE_EINVAL, "bad fit options (bootstrap %d, threads %d, delta %g, bins %g)", o->n_boot,
                          o->threads, o->huber_delta, o->bins_per_decade);
    for (int r = 0; r < n; r++) {
        const struct le_fit_run *u = &runs[r];
        double nn = u->n[o->ncount];
        if (!(nn > 0) || !isfinite(nn))
            return le_err_set(LE_EINVAL, "run %d has no positive %s parameter count", r + 1,
                              le_fit_ncount_name(o->ncount));
        if (!(u->d > 0) || !isfinite(u->d))
            return le_err_set(LE_EINVAL, "run %d has no positive token count D", r + 1);
        if (!(u->loss > 0) || !isfinite(u->loss))
            return le_err_set(LE_EINVAL, "run %d has no positive loss", r + 1);
        if (o->flops == LE_FIT_FLOPS_EXACT && !(u->flops_per_token > 0))
            return le_err_set(LE_EINVAL, "run %d has no FLOPs-per-token count, which --flops exact needs", r + 1);
        if (u->n_curve < 0 || (u->n_curve > 0 && (!u->curve_tokens || !u->curve_loss)))
            return le_err_set(LE_EINVAL, "run %d has a malformed training curve", r + 1);
        for (int j = 1; j < u->n_curve; j++)
            if (!(u->curve_tokens[j] > u->curve_tokens[j - 1]))
                return le_err_set(LE_EINVAL, "run %d's training curve is not increasing in tokens at point %d", r + 1,
                                  j + 1);
    }
    return LE_OK;
}

static void le_set_law(struct le_fit_law *l, double k, double e, double r2, double rms, int n) {
    l->k.v = k;
    l->e.v = e;
    l->k.lo = l->k.hi = l->e.lo = l->e.hi = NAN;
    l->r2 = r2;
    l->rms = rms;
    l->n = n;
}

static int le_fit_a1(struct le_ctx *x, struct le_fit_a1 *a, const int *all) {
    size_t cap = le_a1_capacity(x);
    long *bins = malloc(cap * sizeof *bins);
    a->points = malloc(cap * sizeof *a->points);
    if (!bins || !a->points) {
        free(bins);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    for (int r = 0; r < x->n; r++)
        a->from_curves |= x->runs[r].n_curve > 0;
    a->n_points = le_a1_envelope(x, all, x->n, a->points, bins);
    free(bins);
    struct le_a1_out o;
    int rc = le_a1_laws(a->points, a->n_points, &o, a->why, sizeof a->why);
    if (rc == -2)
        return le_err_set(LE_ENOMEM, "out of memory");
    a->ok = rc == 0;
    if (a->ok) {
        le_set_law(&a->n_opt, o.kn, o.an, o.r2n, o.rmsn, o.npts);
        le_set_law(&a->d_opt, o.kd, o.bd, o.r2d, o.rmsd, o.npts);
    }
    return LE_OK;
}

static int le_fit_a2(struct le_ctx *x, struct le_fit_a2 *a, const struct le_a2_groups *g) {
    a->n_budgets = g->ng;
    if (g->ng == 0) {
        snprintf(a->why, sizeof a->why, "no run belongs to an IsoFLOP budget (no budget / C column)");
        return LE_OK;
    }
    a->budgets = calloc((size_t)g->ng, sizeof *a->budgets);
    double *scr = malloc(sizeof(double) * (size_t)(2 * x->n + 3 * g->ng));
    if (!a->budgets || !scr) {
        free(scr);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    for (int b = 0; b < g->ng; b++) {
        int s0 = g->start[b], m = g->start[b + 1] - s0;
        struct le_fit_budget *bb = &a->budgets[b];
        bb->c = x->runs[x->order[s0]].budget;
        bb->n_runs = m;
        bb->n_opt_lo = bb->n_opt_hi = NAN;
        le_a2_budget(x, x->order + s0, m, bb->c, bb, scr);
    }
    struct le_a2_out o;
    a->ok = !le_a2_laws(a->budgets, g->ng, &o, a->why, sizeof a->why, scr);
    a->n_used = o.used;
    if (a->ok) {
        le_set_law(&a->n_opt, o.kn, o.an, o.r2n, o.rmsn, o.used);
        le_set_law(&a->d_opt, o.kd, o.bd, o.r2d, o.rmsd, o.used);
    }
    free(scr);
    return LE_OK;
}

static int le_fit_a3(struct le_ctx *x, struct le_fit_a3 *a, const struct le_a3_data *d, double x3[5]) {
    a->n_points = x->n;
    int dn = 0, dd = 0;
    for (int r = 1; r < x->n; r++) {
        dn |= d->lnn[r] != d->lnn[0];
        dd |= d->lnd[r] != d->lnd[0];
    }
    if (x->n < 6 || !dn || !dd) {
        snprintf(a->why, sizeof a->why, "%d run(s) with %s distinct N and %s distinct D; at least 6 runs and 2 of each "
                 "are needed for 5 parameters", x->n, dn ? "several" : "one", dd ? "several" : "one");
        return LE_OK;
    }
    struct le_a3_grid_job j = {d, malloc(sizeof(double) * 5 * LE_A3_GRID), malloc(sizeof(double) * LE_A3_GRID)};
    if (!j.x || !j.fx) {
        free(j.x);
        free(j.fx);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    le_fit_job_run(x->pool, LE_A3_GRID, le_a3_grid_item, &j);
    int best = -1;
    for (int k = 0; k < LE_A3_GRID; k++)
        if (isfinite(j.fx[k]) && (best < 0 || j.fx[k] < j.fx[best]))
            best = k;
    if (best >= 0) {
        memcpy(x3, j.x + 5 * best, 5 * sizeof(double));
        j.fx[best] = le_a3_descend(d, x3, 1);
        if (x->o.objective == LE_FIT_OBJ_ML && isfinite(j.fx[best]))
            j.fx[best] = le_a3_ml(d, x3, &a->sigma);
    }
    if (best < 0 || !isfinite(j.fx[best])) {
        snprintf(a->why, sizeof a->why, "L-BFGS failed from every start");
    } else {
        a->ok = 1;
        a->objective = j.fx[best];
        a->n_starts = LE_A3_GRID;
        double v[LE_A3_NV];
        le_a3_derive(x3, a->c_at, v);
        for (int k = 0; k < LE_A3_NV; k++) {
            struct le_fit_est *e = le_a3_slot(a, k);
            e->v = v[k];
            e->lo = e->hi = NAN;
        }
    }
    free(j.x);
    free(j.fx);
    return LE_OK;
}

static void le_fit_init_result(struct le_fit_result *r) {
    struct le_fit_a3 *a = &r->a3;
    for (int k = 0; k < LE_A3_NV; k++)
        *le_a3_slot(a, k) = (struct le_fit_est){NAN, NAN, NAN};
    struct le_fit_law *laws[4] = {&r->a1.n_opt, &r->a1.d_opt, &r->a2.n_opt, &r->a2.d_opt};
    for (int k = 0; k < 4; k++)
        le_set_law(laws[k], NAN, NAN, NAN, NAN, 0);
    for (int c = 0; c < LE_FIT_N_COUNT; c++)
        for (int k = 0; k < 3; k++)
            r->conv[c].a[k] = r->conv[c].b[k] = (struct le_fit_est){NAN, NAN, NAN};
    r->a3.objective = r->a3.sigma = NAN;
}

/* Intervals from the resample slots. */
static int le_fit_intervals(struct le_fit_result *r, const struct le_boot_job *j, int nb) {
    double *scr = malloc(sizeof(double) * (size_t)(nb > 0 ? nb : 1));
    if (!scr)
        return le_err_set(LE_ENOMEM, "out of memory");
    struct le_fit_law *l1[2] = {&r->a1.n_opt, &r->a1.d_opt}, *l2[2] = {&r->a2.n_opt, &r->a2.d_opt};
    for (int k = 0; k < 2; k++) {
        if (r->a1.ok) {
            le_interval(&l1[k]->e, j->v1 + k, nb, 4, scr);
            le_interval(&l1[k]->k, j->v1 + 2 + k, nb, 4, scr);
        }
        if (r->a2.ok) {
            le_interval(&l2[k]->e, j->v2 + k, nb, j->s2, scr);
            le_interval(&l2[k]->k, j->v2 + 2 + k, nb, j->s2, scr);
        }
    }
    for (int b = 0; r->a2.ok && b < r->a2.n_budgets; b++) {
        struct le_fit_est e;
        le_interval(&e, j->v2 + 4 + b, nb, j->s2, scr);
        r->a2.budgets[b].n_opt_lo = e.lo;
        r->a2.budgets[b].n_opt_hi = e.hi;
    }
    if (r->a3.ok)
        for (int k = 0; k < LE_A3_NV; k++)
            le_interval(le_a3_slot(&r->a3, k), j->v3 + k, nb, LE_A3_NV, scr);
    for (int i = 0; i < nb; i++) {
        r->a1.n_boot_ok += r->a1.ok && isfinite(j->v1[4 * (size_t)i]);
        r->a2.n_boot_ok += r->a2.ok && isfinite(j->v2[j->s2 * (size_t)i]);
        r->a3.n_boot_ok += r->a3.ok && isfinite(j->v3[LE_A3_NV * (size_t)i]);
    }
    r->a1.n_boot = r->a1.ok ? nb : 0;
    r->a2.n_boot = r->a2.ok ? nb : 0;
    r->a3.n_boot = r->a3.ok ? nb : 0;
    free(scr);
    return LE_OK;
}

/* The bootstrap of every approach that was fitted. */
static int le_fit_bootstrap(struct le_ctx *x, struct le_fit_result *r, const struct le_a2_groups *g,
                            const struct le_a3_data *d, const double x3[5]) {
    int nb = x->o.n_boot;
    struct le_boot_job j = {.x = x, .groups = g, .lnn = d->lnn, .lnd = d->lnd, .lnl = d->lnl, .x3 = x3};
    memcpy(j.c_at, r->a3.c_at, sizeof j.c_at);
    j.do1 = r->a1.ok;
    j.do2 = r->a2.ok;
    j.do3 = r->a3.ok;
    j.a1_cap = le_a1_capacity(x);
    j.v1 = malloc(sizeof(double) * 4 * (size_t)nb);
    j.s2 = 4 + g->ng;
    j.v2 = malloc(sizeof(double) * (size_t)j.s2 * (size_t)nb);
    j.v3 = malloc(sizeof(double) * LE_A3_NV * (size_t)nb);
    int rc = LE_OK;
    if (nb > 0 && (!j.v1 || !j.v2 || !j.v3)) {
        rc = le_err_set(LE_ENOMEM, "out of memory for %d bootstrap resamples", nb);
        goto done;
    }
    if (nb > 0 && (j.do1 || j.do2 || j.do3))
        le_fit_job_run(x->pool, nb, le_boot_item, &j);
    if (atomic_load(&j.oom)) {
        rc = le_err_set(LE_ENOMEM, "out of memory in the bootstrap");
        goto done;
    }
    if (nb > 0)
        rc = le_fit_intervals(r, &j, nb);
done:
    free(j.v1);
    free(j.v2);
    free(j.v3);
    return rc;
}

/* The fit under opts (one N convention). */
static int le_fit_one(struct le_fit_result *r, const struct le_fit_run *runs, int n, const struct le_fit_opts *o,
                      struct le_pool *pool) {
    struct le_ctx x = {runs, n, *o, pool, NULL, NULL};
    struct le_a2_groups g = {0, NULL};
    x.N = malloc(sizeof(double) * 4 * (size_t)n);
    x.order = malloc(sizeof(int) * 2 * (size_t)n);
    int rc = LE_OK;
    if (!x.N || !x.order) {
        rc = le_err_set(LE_ENOMEM, "out of memory");
        goto done;
    }
    double *lnn = x.N + n, *lnd = lnn + n, *lnl = lnd + n;
    int *all = x.order + n;
    double cmax = 0, bmax = 0;
    for (int k = 0; k < n; k++) {
        x.N[k] = runs[k].n[o->ncount];
        lnn[k] = log(x.N[k]);
        lnd[k] = log(runs[k].d);
        lnl[k] = log(runs[k].loss);
        all[k] = k;
        cmax = fmax(cmax, 6 * x.N[k] * runs[k].d);
        if (isfinite(runs[k].budget))
            bmax = fmax(bmax, runs[k].budget);
    }
    r->n_runs = n;
    r->opts = *o;
    r->a3.c_at[LE_FIT_AT_DATA] = bmax > 0 ? bmax : cmax;
    r->a3.c_at[LE_FIT_AT_CHINCHILLA] = 5.76e23;
    struct le_a3_data d = {n, lnn, lnd, lnl, o->huber_delta};
    double x3[5] = {0};
    if ((rc = le_fit_a1(&x, &r->a1, all)) || (rc = le_a2_group(&x, &g)) || (rc = le_fit_a2(&x, &r->a2, &g)) ||
        (rc = le_fit_a3(&x, &r->a3, &d, x3)))
        goto done;
    rc = le_fit_bootstrap(&x, r, &g, &d, x3);
    if (rc)
        goto done;
    struct le_fit_conv *cv = &r->conv[o->ncount];
    cv->available = 1;
    cv->ok[0] = r->a1.ok;
    cv->ok[1] = r->a2.ok;
    cv->ok[2] = r->a3.ok;
    cv->a[0] = r->a1.n_opt.e;
    cv->b[0] = r->a1.d_opt.e;
    cv->a[1] = r->a2.n_opt.e;
    cv->b[1] = r->a2.d_opt.e;
    cv->a[2] = r->a3.a;
    cv->b[2] = r->a3.b;
done:
    free(x.N);
    free(x.order);
    free(g.start);
    return rc;
}

int le_fit_compute(struct le_fit_result **out, const struct le_fit_run *runs, int n, const struct le_fit_opts *opts) {
    *out = NULL;
    int rc = le_fit_validate(runs, n, opts);
    if (rc)
        return rc;
    struct le_fit_result *r = calloc(1, sizeof *r);
    if (!r)
        return le_err_set(LE_ENOMEM, "out of memory");
    le_fit_init_result(r);
    struct le_pool *pool = NULL;
    if (opts->threads > 1 && (rc = le_pool_new(&pool, opts->threads)))
        goto fail;
    if ((rc = le_fit_one(r, runs, n, opts, pool)))
        goto fail;
    for (int c = 0; c < LE_FIT_N_COUNT && opts->conventions; c++) {
        if (c == (int)opts->ncount)
            continue;
        int have = 1;
        for (int k = 0; k < n && have; k++)
            have = runs[k].n[c] > 0 && isfinite(runs[k].n[c]);
        if (!have)
            continue;
        struct le_fit_opts oc = *opts;
        oc.ncount = (enum le_fit_ncount)c;
        oc.conventions = 0;
        struct le_fit_result *rc2 = calloc(1, sizeof *rc2);
        if (!rc2) {
            rc = le_err_set(LE_ENOMEM, "out of memory");
            goto fail;
        }
        le_fit_init_result(rc2);
        rc = le_fit_one(rc2, runs, n, &oc, pool);
        if (!rc)
            r->conv[c] = rc2->conv[c];
        le_fit_free(rc2);
        if (rc)
            goto fail;
    }
    le_pool_free(pool);
    *out = r;
    return LE_OK;
fail:
    le_pool_free(pool);
    le_fit_free(r);
    return rc;
}

void le_fit_free(struct le_fit_result *r) {
    if (!r)
        return;
    free(r->a1.points);
    free(r->a2.budgets);
    free(r);
}
