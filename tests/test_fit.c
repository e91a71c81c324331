// ctest-labels: unit
/*
 * test_fit: reports/fit.c on data drawn from a known law L(N, D) = E +
 * A/N^alpha + B/D^beta with seeded noise -- the parametric fit, the IsoFLOP
 * parabolas and the curve envelope each recover what was put in, inside
 * their bootstrap intervals -- plus the refusals and skips, determinism for
 * a seed and any thread count, the CSV reader's errors and `llamaeval fit`.
 * The true law uses Besiroglu et al. 2024's refit of Chinchilla (E 1.82,
 * A 482.01, B 2085.43, alpha 0.3478, beta 0.3658) only as a realistic shape.
 * Bootstrap counts are small (tens) to keep this to seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_fit.h"
#include "le_store.h" /* a sweep store for fit --db */
#include "le_test.h"
#include "le_util.h"  /* le_splitmix64 */
#include "report_int.h" /* le_pub_find: the published sets */

#include <cjson/cJSON.h> /* parsing fit's JSON output */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the synthetic world ------------------------------------------------------------ */

static const double T_E = 1.82, T_A = 482.01, T_B = 2085.43, T_AL = 0.3478, T_BE = 0.3658;

static double law(double n, double d) { return T_E + T_A / pow(n, T_AL) + T_B / pow(d, T_BE); }
static double true_a(void) { return T_BE / (T_AL + T_BE); }
static double true_g(void) { return pow(T_AL * T_A / (T_BE * T_B), 1 / (T_AL + T_BE)); }
static double true_nopt(double c) { return true_g() * pow(c / 6, true_a()); }

struct rng {
    uint64_t s;
};
static uint64_t rng_next(struct rng *r) { return le_splitmix64(&r->s); }
static double rng_normal(struct rng *r) {
    double u1 = ((rng_next(r) >> 11) + 0.5) * 0x1.0p-53, u2 = (rng_next(r) >> 11) * 0x1.0p-53;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static void run_init(struct le_fit_run *r, double n, double d, double loss, double budget) {
    memset(r, 0, sizeof *r);
    r->n[LE_FIT_N_TOTAL] = n;
    r->n[LE_FIT_N_NONEMBED] = NAN;
    r->n[LE_FIT_N_NONEMBED_NOOUT] = NAN;
    r->d = d;
    r->loss = loss;
    r->budget = budget;
    r->flops_per_token = NAN;
}

/* An nn x nd grid of (N, D), N in [1e7, 3e9], D in [1e8, 1e11], log-spaced,
 * losses times exp(sigma * normal). */
static int make_grid(struct le_fit_run *runs, int nn, int nd, double sigma, uint64_t seed) {
    struct rng g = {seed};
    int k = 0;
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < nd; j++) {
            double n = 1e7 * pow(300.0, (double)i / (nn - 1)), d = 1e8 * pow(1000.0, (double)j / (nd - 1));
            run_init(&runs[k++], n, d, law(n, d) * exp(sigma * rng_normal(&g)), NAN);
        }
    return k;
}

/* IsoFLOP runs: per budget, ns sizes log-spaced over [lo, hi] decades around
 * the true optimum, D = C/(6N). */
static int make_isoflop(struct le_fit_run *runs, const double *cs, int nc, int ns, double lo, double hi, double sigma,
                        uint64_t seed) {
    struct rng g = {seed};
    int k = 0;
    for (int b = 0; b < nc; b++)
        for (int i = 0; i < ns; i++) {
            double n = true_nopt(cs[b]) * pow(10, lo + (hi - lo) * i / (ns - 1)), d = cs[b] / (6 * n);
            run_init(&runs[k++], n, d, law(n, d) * exp(sigma * rng_normal(&g)), cs[b]);
        }
    return k;
}

static struct le_fit_opts opts_small(int n_boot, int threads) {
    struct le_fit_opts o;
    le_fit_opts_init(&o);
    o.n_boot = n_boot;
    o.threads = threads;
    o.seed = 11;
    return o;
}

static void assert_covers(const char *what, const struct le_fit_est *e, double truth) {
    if (!(e->lo <= truth && truth <= e->hi))
        fail_msg("%s: true %g outside the 95%% interval [%g, %g] (estimate %g)", what, truth, e->lo, e->hi, e->v);
}

static void assert_rel(const char *what, double got, double want, double tol) {
    if (!(fabs(got / want - 1) <= tol))
        fail_msg("%s: got %.6g, want %.6g within %.2g%%", what, got, want, 100 * tol);
}

/* ---- approach 3 ------------------------------------------------------------------- */

/* Four data sets (noise seeds 1..4) of 64 runs with 1% noise: each
 * parameter's true value must fall inside its 95% interval in at least 3 of
 * the 4 (at the nominal 95% coverage, failing this has probability below
 * 1%; one data set alone would make the test hinge on one draw). */
static void parametric_fit_should_recover_the_law_inside_its_intervals(void **state) {
    (void)state;
    const char *names[7] = {"E", "A", "B", "alpha", "beta", "a", "G"};
    const double truth[7] = {T_E, T_A, T_B, T_AL, T_BE, true_a(), true_g()};
    int covered[7] = {0};
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct le_fit_run runs[64];
        int n = make_grid(runs, 8, 8, 0.01, seed);
        struct le_fit_opts o = opts_small(50, 2);
        struct le_fit_result *r;
        assert_int_equal(le_fit_compute(&r, runs, n, &o), LE_OK);
        const struct le_fit_a3 *a = &r->a3;
        assert_true(a->ok);
        assert_int_equal(a->n_starts, 4500);
        assert_int_equal(a->n_points, 64);
        assert_true(a->n_boot_ok >= 45);
        const struct le_fit_est *e[7] = {&a->E, &a->A, &a->B, &a->alpha, &a->beta, &a->a, &a->G};
        for (int k = 0; k < 7; k++) {
            assert_true(e[k]->lo <= e[k]->v && e[k]->v <= e[k]->hi);
            covered[k] += e[k]->lo <= truth[k] && truth[k] <= e[k]->hi;
        }
        /* 1% noise on 64 runs pins the exponents to within 0.05. */
        assert_true(fabs(a->alpha.v - T_AL) < 0.05 && fabs(a->beta.v - T_BE) < 0.05);
        /* Derived numbers follow the stated formulas. */
        double al = a->alpha.v, be = a->beta.v;
        assert_rel("a = beta/(alpha+beta)", a->a.v, be / (al + be), 1e-12);
        assert_rel("b = alpha/(alpha+beta)", a->b.v, al / (al + be), 1e-12);
        double g = pow(al * a->A.v / (be * a->B.v), 1 / (al + be));
        assert_rel("G", a->G.v, g, 1e-9);
        for (int k = 0; k < LE_FIT_N_AT; k++) {
            assert_rel("N_opt", a->n_opt[k].v, g * pow(a->c_at[k] / 6, a->a.v), 1e-9);
            assert_rel("D_opt", a->d_opt[k].v, pow(a->c_at[k] / 6, a->b.v) / g, 1e-9);
            assert_rel("D/N", a->tokens_per_param[k].v, a->d_opt[k].v / a->n_opt[k].v, 1e-9);
        }
        assert_rel("c_at[chinchilla]", a->c_at[LE_FIT_AT_CHINCHILLA], 5.76e23, 0);
        le_fit_free(r);
    }
    for (int k = 0; k < 7; k++)
        if (covered[k] < 3)
            fail_msg("%s: the true value is inside only %d of 4 intervals", names[k], covered[k]);
}

static void parametric_fit_without_noise_should_be_exact(void **state) {
    (void)state;
    struct le_fit_run runs[36];
    int n = make_grid(runs, 6, 6, 0, 1);
    struct le_fit_opts o = opts_small(0, 2);
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, n, &o), LE_OK);
    assert_true(r->a3.ok);
    assert_rel("E", r->a3.E.v, T_E, 1e-3);
    assert_rel("A", r->a3.A.v, T_A, 1e-2);
    assert_rel("B", r->a3.B.v, T_B, 1e-2);
    assert_rel("alpha", r->a3.alpha.v, T_AL, 1e-3);
    assert_rel("beta", r->a3.beta.v, T_BE, 1e-3);
    assert_true(r->a3.objective < 1e-10);
    /* No bootstrap: no intervals, and they say so with NAN. */
    assert_true(isnan(r->a3.E.lo) && isnan(r->a3.E.hi));
    assert_int_equal(r->a3.n_boot, 0);
    le_fit_free(r);
}

/* ---- approach 2 ------------------------------------------------------------------- */

static const double BUDGETS[5] = {1e18, 3e18, 1e19, 3e19, 1e20};

static void isoflop_parabolas_should_find_the_true_minima_and_exponent(void **state) {
    (void)state;
    struct le_fit_run runs[45];
    int n = make_isoflop(runs, BUDGETS, 5, 9, -0.6, 0.6, 0.002, 3);
    struct le_fit_opts o = opts_small(80, 2);
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, n, &o), LE_OK);
    const struct le_fit_a2 *a = &r->a2;
    assert_true(a->ok);
    assert_int_equal(a->n_budgets, 5);
    assert_int_equal(a->n_used, 5);
    int covered = 0;
    for (int b = 0; b < 5; b++) {
        assert_true(a->budgets[b].ok);
        assert_rel("budget C", a->budgets[b].c, BUDGETS[b], 0);
        assert_int_equal(a->budgets[b].n_sizes, 9);
        /* A parabola through a profile that is not one, sampled symmetrically
         * in ln N about the minimum: its vertex lands within a few percent. */
        assert_rel("N_opt of a budget", a->budgets[b].n_opt, true_nopt(BUDGETS[b]), 0.05);
        assert_rel("D_opt = C/(6 N_opt)", a->budgets[b].d_opt, BUDGETS[b] / (6 * a->budgets[b].n_opt), 1e-12);
        assert_true(a->budgets[b].n_opt_lo <= a->budgets[b].n_opt && a->budgets[b].n_opt <= a->budgets[b].n_opt_hi);
        covered += a->budgets[b].n_opt_lo <= true_nopt(BUDGETS[b]) && true_nopt(BUDGETS[b]) <= a->budgets[b].n_opt_hi;
    }
    assert_true(covered >= 4);
    assert_covers("approach 2 a", &a->n_opt.e, true_a());
    assert_covers("approach 2 b", &a->d_opt.e, 1 - true_a());
    assert_true(fabs(a->n_opt.e.v - true_a()) < 0.01);
    assert_rel("a + b = 1 under 6ND", a->n_opt.e.v + a->d_opt.e.v, 1, 1e-9);
    assert_true(a->n_opt.r2 > 0.99);
    le_fit_free(r);
}

static void isoflop_budget_with_minimum_at_the_edge_should_be_refused(void **state) {
    (void)state;
    struct le_fit_run runs[40];
    /* Budgets 1 and 3 sample around their optimum; budget 2 only sizes far
     * above it (its minimum is at the smallest size tried) and budget 4 only 2
     * sizes. */
    int n = make_isoflop(runs, BUDGETS, 1, 9, -0.6, 0.6, 0.001, 5);
    n += make_isoflop(runs + n, BUDGETS + 1, 1, 9, 0.5, 1.5, 0.001, 6);
    n += make_isoflop(runs + n, BUDGETS + 2, 1, 9, -0.6, 0.6, 0.001, 7);
    n += make_isoflop(runs + n, BUDGETS + 3, 1, 2, -0.6, 0.6, 0.001, 8);
    struct le_fit_opts o = opts_small(30, 1);
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, n, &o), LE_OK);
    const struct le_fit_a2 *a = &r->a2;
    assert_int_equal(a->n_budgets, 4);
    assert_true(a->budgets[0].ok && a->budgets[2].ok);
    assert_false(a->budgets[1].ok);
    assert_non_null(strstr(a->budgets[1].why, "at or below the smallest"));
    assert_false(a->budgets[3].ok);
    assert_non_null(strstr(a->budgets[3].why, "only 2 distinct"));
    assert_true(a->ok);
    assert_int_equal(a->n_used, 2);
    assert_int_equal(a->n_opt.n, 2);
    assert_true(isnan(a->n_opt.rms)); /* a line through 2 points has no residual */
    /* The JSON lists the refused budgets with their reasons. */
    char *js;
    assert_int_equal(le_fit_json(r, &js), LE_OK);
    cJSON *root = cJSON_Parse(js);
    cJSON *ref = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "approach2"), "refused");
    assert_int_equal(cJSON_GetArraySize(ref), 2);
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(ref, 0), "reason"));
    assert_non_null(why);
    assert_non_null(strstr(why, "minimum"));
    cJSON_Delete(root);
    free(js);
    le_fit_free(r);
}

static void isoflop_profile_that_opens_downward_should_be_refused(void **state) {
    (void)state;
    struct le_fit_run runs[10];
    for (int i = 0; i < 5; i++) {
        double x = i - 2.0, nn = 1e6 * exp(x);
        run_init(&runs[i], nn, 1e17 / (6 * nn), 4 - 0.1 * x * x, 1e17);
        run_init(&runs[5 + i], nn * 3, 3e17 / (18 * nn), 3.5 - 0.1 * x * x, 3e17);
    }
    struct le_fit_opts o = opts_small(0, 1);
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, 10, &o), LE_OK);
    assert_false(r->a2.ok);
    assert_false(r->a2.budgets[0].ok);
    assert_non_null(strstr(r->a2.budgets[0].why, "opens downward"));
    assert_non_null(strstr(r->a2.why, "0 of 2"));
    le_fit_free(r);
}

/* ---- approach 1 ------------------------------------------------------------------- */

/* 16 sizes in [1e7, 1e10]; each curve covers C in [1e17, 1e21] at 60
 * log-spaced points, losses from the law with 0.2% noise. */
static void envelope_should_recover_the_exponent_from_training_curves(void **state) {
    (void)state;
    enum { NS = 16, NP = 60 };
    static double tok[NS][NP], loss[NS][NP];
    struct le_fit_run runs[NS];
    struct rng g = {9};
    for (int i = 0; i < NS; i++) {
        double n = 1e7 * pow(1000.0, (double)i / (NS - 1));
        for (int j = 0; j < NP; j++) {
            tok[i][j] = 1e17 * pow(1e4, (double)j / (NP - 1)) / (6 * n);
            loss[i][j] = law(n, tok[i][j]) * exp(0.002 * rng_normal(&g));
        }
        run_init(&runs[i], n, tok[i][NP - 1], loss[i][NP - 1], NAN);
        runs[i].n_curve = NP;
        runs[i].curve_tokens = tok[i];
        runs[i].curve_loss = loss[i];
    }
    struct le_fit_opts o = opts_small(60, 2);
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, NS, &o), LE_OK);
    const struct le_fit_a1 *a = &r->a1;
    assert_true(a->ok);
    assert_true(a->from_curves);
    assert_true(a->n_points >= 32 && a->n_points <= 34); /* 4 decades, 8 bins each */
    for (int i = 1; i < a->n_points; i++)
        assert_true(a->points[i].c > a->points[i - 1].c);
    /* Each envelope point is the lowest-loss curve point of its bin. */
    for (int i = 0; i < a->n_points; i++)
        assert_rel("D of an envelope point", a->points[i].d * 6 * a->points[i].n, a->points[i].c, 1e-12);
    /* Sizes are 0.2 decades apart, so N_opt is known to a step. */
    assert_true(fabs(a->n_opt.e.v - true_a()) < 0.03);
    assert_covers("approach 1 a", &a->n_opt.e, true_a());
    assert_rel("a + b = 1 under 6ND", a->n_opt.e.v + a->d_opt.e.v, 1, 1e-9);
    le_fit_free(r);
}

/* ---- skips, determinism, conventions ---------------------------------------------- */

static void too_few_runs_should_skip_each_approach_with_a_reason(void **state) {
    (void)state;
    struct le_fit_run runs[3]; /* three sizes on one FLOP budget: one envelope bin */
    run_init(&runs[0], 1e6, 1e14 / 6e6, 4.0, NAN);
    run_init(&runs[1], 2e6, 1e14 / 12e6, 3.9, NAN);
    run_init(&runs[2], 4e6, 1e14 / 24e6, 3.8, NAN);
    struct le_fit_opts o = opts_small(10, 1);
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, 3, &o), LE_OK);
    assert_false(r->a1.ok);
    assert_false(r->a2.ok);
    assert_false(r->a3.ok);
    assert_non_null(strstr(r->a1.why, "1 log-FLOP bin(s); at least 3"));
    assert_non_null(strstr(r->a2.why, "no run belongs"));
    assert_non_null(strstr(r->a3.why, "at least 6 runs"));
    char *js;
    assert_int_equal(le_fit_json(r, &js), LE_OK);
    cJSON *root = cJSON_Parse(js);
    assert_null(cJSON_GetObjectItem(root, "approach1"));
    assert_null(cJSON_GetObjectItem(root, "approach2"));
    assert_null(cJSON_GetObjectItem(root, "approach3"));
    cJSON *sk = cJSON_GetObjectItem(root, "skipped");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sk, "approach3")), r->a3.why);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(root, "n_runs")), 3);
    cJSON_Delete(root);
    free(js);
    le_fit_free(r);

    /* One model size throughout: approach 1 cannot fit N_opt(C). */
    struct le_fit_run same[6];
    for (int i = 0; i < 6; i++)
        run_init(&same[i], 1e6, 1e8 * pow(3, i), 4.0 - 0.1 * i, NAN);
    assert_int_equal(le_fit_compute(&r, same, 6, &o), LE_OK);
    assert_false(r->a1.ok);
    assert_non_null(strstr(r->a1.why, "one model size"));
    assert_false(r->a3.ok);
    assert_non_null(strstr(r->a3.why, "one distinct N"));
    le_fit_free(r);
}

static void bad_runs_should_be_rejected(void **state) {
    (void)state;
    struct le_fit_run runs[2];
    run_init(&runs[0], 1e6, 1e8, 4.0, NAN);
    run_init(&runs[1], 1e6, 1e8, NAN, NAN);
    struct le_fit_opts o = opts_small(0, 1);
    struct le_fit_result *r = (void *)1;
    assert_int_equal(le_fit_compute(&r, runs, 2, &o), LE_EINVAL);
    assert_null(r);
    assert_non_null(strstr(le_err_msg(), "run 2"));
    runs[1].loss = 3;
    o.ncount = LE_FIT_N_NONEMBED;
    assert_int_equal(le_fit_compute(&r, runs, 2, &o), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "nonembed"));
    o.ncount = LE_FIT_N_TOTAL;
    o.flops = LE_FIT_FLOPS_EXACT;
    assert_int_equal(le_fit_compute(&r, runs, 2, &o), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "FLOPs-per-token"));
    assert_int_equal(le_fit_compute(&r, runs, 0, &o), LE_EINVAL);
}

static char *fit_json(const struct le_fit_run *runs, int n, struct le_fit_opts o) {
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, n, &o), LE_OK);
    char *js;
    assert_int_equal(le_fit_json(r, &js), LE_OK);
    le_fit_free(r);
    return js;
}

static void fit_should_be_identical_for_a_seed_and_any_thread_count(void **state) {
    (void)state;
    struct le_fit_run runs[45];
    int n = make_isoflop(runs, BUDGETS, 5, 9, -0.6, 0.6, 0.01, 4);
    struct le_fit_opts o = opts_small(25, 1);
    char *one = fit_json(runs, n, o);
    char *again = fit_json(runs, n, o);
    o.threads = 2;
    char *two = fit_json(runs, n, o);
    o.threads = 3;
    char *three = fit_json(runs, n, o);
    o.seed = 12;
    char *other = fit_json(runs, n, o);
    assert_string_equal(one, again);
    assert_string_equal(one, two);
    assert_string_equal(one, three);
    assert_true(strcmp(one, other) != 0); /* the seed does move the intervals */
    free(one);
    free(again);
    free(two);
    free(three);
    free(other);
}

static void exponent_should_be_given_under_every_convention_the_runs_carry(void **state) {
    (void)state;
    struct le_fit_run runs[45];
    int n = make_isoflop(runs, BUDGETS, 5, 9, -0.6, 0.6, 0.002, 3);
    /* A fixed embedding of 2e7 parameters: small models lose a larger share
     * of their count, so a measured in non-embedding N comes out larger
     * (Pearce & Song 2024's mechanism). */
    for (int i = 0; i < n; i++)
        runs[i].n[LE_FIT_N_NONEMBED] = runs[i].n[LE_FIT_N_TOTAL] - 2e7;
    struct le_fit_opts o = opts_small(20, 2);
    struct le_fit_result *r;
    assert_int_equal(le_fit_compute(&r, runs, n, &o), LE_OK);
    const struct le_fit_conv *t = &r->conv[LE_FIT_N_TOTAL], *ne = &r->conv[LE_FIT_N_NONEMBED];
    assert_true(t->available && ne->available);
    assert_false(r->conv[LE_FIT_N_NONEMBED_NOOUT].available);
    assert_true(t->ok[1] && t->ok[2] && ne->ok[1] && ne->ok[2]);
    assert_true(t->a[1].v == r->a2.n_opt.e.v && t->a[2].v == r->a3.a.v);
    assert_true(t->a[1].lo == r->a2.n_opt.e.lo);
    assert_true(ne->a[1].v > t->a[1].v + 0.02);
    assert_true(isfinite(ne->a[1].lo) && isfinite(ne->a[2].lo));
    le_fit_free(r);
}

static void exact_flops_equal_to_6n_should_match_the_6nd_convention(void **state) {
    (void)state;
    struct le_fit_run runs[45];
    int n = make_isoflop(runs, BUDGETS, 5, 9, -0.6, 0.6, 0.002, 3);
    for (int i = 0; i < n; i++)
        runs[i].flops_per_token = 6 * runs[i].n[LE_FIT_N_TOTAL];
    struct le_fit_opts o = opts_small(0, 2);
    struct le_fit_result *r6, *rx;
    assert_int_equal(le_fit_compute(&r6, runs, n, &o), LE_OK);
    o.flops = LE_FIT_FLOPS_EXACT;
    assert_int_equal(le_fit_compute(&rx, runs, n, &o), LE_OK);
    assert_rel("a", rx->a2.n_opt.e.v, r6->a2.n_opt.e.v, 1e-9);
    assert_rel("b", rx->a2.d_opt.e.v, r6->a2.d_opt.e.v, 1e-9);
    for (int b = 0; b < 5; b++)
        assert_rel("D_opt", rx->a2.budgets[b].d_opt, r6->a2.budgets[b].d_opt, 1e-9);
    le_fit_free(r6);
    le_fit_free(rx);
}

/* ---- CSV and the command ---------------------------------------------------------- */

static char *write_tmp(char *dir, const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(le_test_write_file(path, text, strlen(text)), 0);
    return path;
}

static void csv_should_read_columns_in_any_order_and_case(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    const char *p = write_tmp(dir, "ok.csv",
                              "# a comment\r\nname, Loss ,n,D,Budget\r\nx,3.5,1e6,2e7,\r\n\r\n\"y\",3.25,2e6,1e7,1.2e14\r\n");
    struct le_fit_run *runs;
    int n;
    assert_int_equal(le_fit_csv_read(p, LE_FIT_N_NONEMBED, &runs, &n), LE_OK);
    assert_int_equal(n, 2);
    assert_true(runs[0].n[LE_FIT_N_NONEMBED] == 1e6 && isnan(runs[0].n[LE_FIT_N_TOTAL]));
    assert_true(runs[0].d == 2e7 && runs[0].loss == 3.5 && isnan(runs[0].budget));
    assert_true(runs[1].budget == 1.2e14 && runs[1].loss == 3.25 && runs[1].n_curve == 0);
    free(runs);
    le_test_rmdir(dir);
    free(dir);
}

static void csv_errors_should_name_the_line(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    struct {
        const char *text, *want;
    } cases[] = {
        {"N,D,loss\n1e6,1e8,3\n# note\n1e6,1e8,abc\n", ":4: column loss: 'abc' is not a finite number"},
        {"N,D,loss\n1e6,1e8\n", ":2: 2 field(s) where the header has 3"},
        {"N,tokens,loss\n1e6,1e8,3\n", ":1: the header has no column D"},
        {"N,D,loss\n1e6,-5,3\n", ":2: column D must be positive"},
        {"N,D,loss,C\n1e6,1e8,3,zero\n", ":2: column C: 'zero'"},
        {"N,D,loss,n\n", ":1: column N appears twice"},
        {"N,D,loss\n", "no data rows"},
        {"", "empty file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_tmp(dir, "bad.csv", cases[i].text);
        struct le_fit_run *runs = (void *)1;
        int n = -1;
        assert_int_equal(le_fit_csv_read(p, LE_FIT_N_TOTAL, &runs, &n), LE_EFORMAT);
        assert_null(runs);
        if (!strstr(le_err_msg(), cases[i].want))
            fail_msg("case %zu: message '%s' lacks '%s'", i, le_err_msg(), cases[i].want);
    }
    le_test_rmdir(dir);
    free(dir);
}

static void fit_command_should_print_json_and_a_table(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    struct le_fit_run runs[45];
    int n = make_isoflop(runs, BUDGETS, 5, 9, -0.6, 0.6, 0.005, 13);
    char path[512];
    snprintf(path, sizeof path, "%s/sweep.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "N,D,loss,C\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%.17g,%.17g,%.17g,%.17g\n", runs[i].n[0], runs[i].d, runs[i].loss, runs[i].budget);
    fclose(f);

    char *out = NULL;
    int rc = le_test_sh(&out, "%s fit --csv %s --bootstrap 30 --seed 3 --format json 2>&1", le_test_bin(), path);
    assert_int_equal(rc, 0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(root, "n_runs")), 45);
    cJSON *a3 = cJSON_GetObjectItem(root, "approach3");
    const char *keys[] = {"E", "A", "B", "alpha", "beta", "a", "b", "G"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(a3, keys[k])));
        cJSON *ci = cJSON_GetObjectItem(cJSON_GetObjectItem(a3, "ci95"), keys[k]);
        assert_int_equal(cJSON_GetArraySize(ci), 2);
        assert_true(cJSON_GetNumberValue(cJSON_GetArrayItem(ci, 0)) <=
                    cJSON_GetNumberValue(cJSON_GetArrayItem(ci, 1)));
    }
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "approach2"), "a")));
    /* Final points only, each budget its own bin: approach 1 still fits. */
    assert_non_null(cJSON_GetObjectItem(root, "approach1"));
    cJSON_Delete(root);
    free(out);

    rc = le_test_sh(&out, "%s fit --csv %s --bootstrap 30 --threads 1 2>&1", le_test_bin(), path);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "Approach 2 (IsoFLOP parabolas in ln N; 5 of 5 budgets used)"));
    assert_non_null(strstr(out, "Besiroglu"));
    assert_non_null(strstr(out, "Kaplan"));
    assert_non_null(strstr(out, "Verdict on N_opt"));
    free(out);

    const char *bad = write_tmp(dir, "bad.csv", "N,D,loss\n1e6,1e8,3\n1e6,oops,3\n");
    rc = le_test_sh(&out, "%s fit --csv %s 2>&1", le_test_bin(), bad);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "llamaeval: error: "));
    assert_non_null(strstr(out, "bad.csv:3: column D"));
    assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* one line */
    free(out);

    rc = le_test_sh(&out, "%s fit --csv %s --flops exact 2>&1", le_test_bin(), path);
    assert_int_equal(rc, 2);
    free(out);
    rc = le_test_sh(&out, "%s fit 2>&1", le_test_bin());
    assert_int_equal(rc, 2);
    free(out);
    rc = le_test_sh(&out, "%s fit --help", le_test_bin());
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--n-count"));
    free(out);
    le_test_rmdir(dir);
    free(dir);
}

/* A store as `llamaeval sweep` leaves it: 45 finished IsoFLOP cells of plan
 * "p" with training curves and all three parameter counts, one unfinished
 * cell and one cell of another plan (both must be left out). */
static void fill_store(const char *db) {
    struct le_store *s;
    assert_int_equal(le_store_open(&s, db), 0);
    struct le_store_model m = {"/models/sweep.gguf", "feed", "llama", "F32", "sweep", -1, -1, -1, -1};
    int64_t mid, rid;
    assert_int_equal(le_store_put_model(s, &m, &mid), 0);
    assert_int_equal(le_store_begin_run(s, "sweep", "{}", 1, 1, &rid), 0);
    struct le_fit_run runs[47];
    int n = make_isoflop(runs, BUDGETS, 5, 9, -0.6, 0.6, 0.002, 21);
    n += make_isoflop(runs + n, BUDGETS, 1, 2, -0.3, 0.3, 0.002, 22);
    for (int i = 0; i < n; i++) {
        char key[65], cfg[64];
        snprintf(cfg, sizeof cfg, "{\"cell\":%d}", i);
        le_store_cell_key(key, "", "sweep", cfg);
        double nt = runs[i].n[LE_FIT_N_TOTAL];
        struct le_store_sweep_cell c = {.key = key, .plan = i == 46 ? "other" : "p", .label = "cell", .config = cfg,
                                        .budget = runs[i].budget, .tokens = (int64_t)runs[i].d,
                                        .n_total = (int64_t)nt, .n_nonembed = (int64_t)(nt - 5e6),
                                        .n_nonembed_noout = (int64_t)(nt - 1e7), .flops_per_token = 6 * nt,
                                        .flops_6nd = 6 * nt * runs[i].d, .flops_exact = 6 * nt * runs[i].d};
        assert_int_equal(le_store_put_sweep_cell(s, &c), 0);
        struct le_store_sweep_point pts[10];
        for (int j = 0; j < 10; j++) {
            int64_t t = (int64_t)(runs[i].d * (j + 1) / 10);
            pts[j] = (struct le_store_sweep_point){j + 1, t, 6 * nt * (double)t, NAN,
                                                   j == 9 ? runs[i].loss : law(nt, (double)t)};
        }
        assert_int_equal(le_store_put_sweep_points(s, key, pts, 10), 0);
        if (i == 45)
            continue; /* left unfinished */
        struct le_store_result res[1] = {{"loss", runs[i].loss, NAN, 1000}};
        assert_int_equal(le_store_put_cell(s, key, rid, mid, "sweep", cfg, res, 1), 0);
    }
    le_store_close(s);
}

static void fit_command_should_read_a_sweep_from_the_store(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), db[512], *out = NULL;
    snprintf(db, sizeof db, "%s/r.sqlite", dir);
    fill_store(db);
    int rc = le_test_sh(&out, "%s fit --db %s --plan p --bootstrap 20 --flops exact --format json 2>&1",
                        le_test_bin(), db);
    assert_int_equal(rc, 0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(root, "n_runs")), 45);
    cJSON *a1 = cJSON_GetObjectItem(root, "approach1");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a1, "from_curves")));
    cJSON *a2 = cJSON_GetObjectItem(root, "approach2");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(a2, "n_used")), 5);
    assert_true(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(a2, "a")) - true_a()) < 0.01);
    cJSON *conv = cJSON_GetObjectItem(root, "conventions");
    const char *names[3] = {"total", "nonembed", "nonembed-noout"};
    for (int c = 0; c < 3; c++) {
        cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(conv, names[c]), "approach2"), "a");
        assert_true(cJSON_IsNumber(a));
    }
    cJSON_Delete(root);
    free(out);
    /* Without --plan every finished cell counts; the table names the conventions. */
    rc = le_test_sh(&out, "%s fit --db %s --bootstrap 0 2>&1", le_test_bin(), db);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "46 runs"));
    assert_non_null(strstr(out, "nonembed-noout"));
    free(out);
    rc = le_test_sh(&out, "%s fit --db %s --plan nothing 2>&1", le_test_bin(), db);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "no finished sweep cells of plan nothing"));
    free(out);
    le_test_rmdir(dir);
    free(dir);
}

/* The published values fit compares with are the report's (one list,
 * reports/published.c): each one is its set's entry, and none is missing. */
static void published_values_should_be_the_reports_sets(void **state) {
    (void)state;
    struct le_fit_ref refs[LE_FIT_N_REFS];
    int n = le_fit_published(refs, LE_FIT_N_REFS), total = 0, m;
    static const char *const sets[3][2] = {{"chinchilla", "Chinchilla"}, {"kaplan", "Kaplan"},
                                           {"besiroglu", "Besiroglu"}};
    for (int s = 0; s < 3; s++) {
        assert_non_null(le_pub_list(sets[s][0], &m));
        total += m;
    }
    assert_int_equal(n, total);
    assert_true(n <= LE_FIT_N_REFS);
    for (int i = 0; i < n; i++) {
        const char *set = NULL;
        for (int s = 0; s < 3; s++)
            if (!strcmp(refs[i].source, sets[s][1]))
                set = sets[s][0];
        assert_non_null(set);
        char key[16];
        int exp = !strcmp(refs[i].param, "a") || !strcmp(refs[i].param, "b");
        if (exp && refs[i].approach > 0)
            snprintf(key, sizeof key, "%s%d", refs[i].param, refs[i].approach);
        else
            snprintf(key, sizeof key, "%s", refs[i].param);
        assert_int_equal(refs[i].approach, exp ? refs[i].approach : 3);
        const struct le_pub *p = le_pub_find(set, key);
        assert_non_null(p);
        assert_true(p->value == refs[i].value);
        assert_string_equal(p->cite, refs[i].cite);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parametric_fit_should_recover_the_law_inside_its_intervals),
        cmocka_unit_test(parametric_fit_without_noise_should_be_exact),
        cmocka_unit_test(isoflop_parabolas_should_find_the_true_minima_and_exponent),
        cmocka_unit_test(isoflop_budget_with_minimum_at_the_edge_should_be_refused),
        cmocka_unit_test(isoflop_profile_that_opens_downward_should_be_refused),
        cmocka_unit_test(envelope_should_recover_the_exponent_from_training_curves),
        cmocka_unit_test(too_few_runs_should_skip_each_approach_with_a_reason),
        cmocka_unit_test(bad_runs_should_be_rejected),
        cmocka_unit_test(fit_should_be_identical_for_a_seed_and_any_thread_count),
        cmocka_unit_test(exponent_should_be_given_under_every_convention_the_runs_carry),
        cmocka_unit_test(exact_flops_equal_to_6n_should_match_the_6nd_convention),
        cmocka_unit_test(csv_should_read_columns_in_any_order_and_case),
        cmocka_unit_test(csv_errors_should_name_the_line),
        cmocka_unit_test(fit_command_should_print_json_and_a_table),
        cmocka_unit_test(fit_command_should_read_a_sweep_from_the_store),
        cmocka_unit_test(published_values_should_be_the_reports_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
