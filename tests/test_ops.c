/*
 * test_ops: the shared ops of inference and training (engine/ops) and the
 * one CPU probe (engine/core/le_cpu.h).
 *
 * Table-driven over every op: the AVX2 table against the scalar reference
 * on lengths that hit every vector tail (1 .. 67), with each op's named
 * tolerance (0: bit-identical); the reference against the math in double;
 * the RoPE table against theta = p * base^(-2i/hd) in double. On a CPU
 * without AVX2 le_ops_get(1) is the reference and the comparisons are
 * trivially exact.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "le_cpu.h" /* le_cpu_features */
#include "le_ops.h" /* the ops under test */
#include "le_test.h"

enum { NMAX = 67 };

static uint64_t rng = 88172645463325252ull;
static float urand(float lo, float hi) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (hi - lo) * (float)((double)(rng >> 11) / 9007199254740992.0);
}

static void fill(float *x, int n, float lo, float hi) {
    for (int i = 0; i < n; i++)
        x[i] = urand(lo, hi);
}

/* |a - b| <= tol * (|b| + floor_) element-wise; tol 0 asks for equal bits. */
static void check(const char *op, int n, const float *a, const float *b, double tol, double floor_) {
    for (int i = 0; i < n; i++) {
        int ok = tol == 0 ? memcmp(&a[i], &b[i], sizeof(float)) == 0
                          : fabs((double)a[i] - b[i]) <= tol * (fabs((double)b[i]) + floor_);
        if (!ok) {
            print_error("%s, n %d, element %d: %.9g vs reference %.9g\n", op, n, i, a[i], b[i]);
            fail();
        }
    }
}

static void simd_ops_should_match_the_reference_for_every_length(void **state) {
    (void)state;
    const struct le_ops *r = le_ops_get(0), *s = le_ops_get(1);
    float x[NMAX], u[NMAX], w[NMAX], a[NMAX], b[NMAX], xa[NMAX], xb[NMAX];
    for (int n = 1; n <= NMAX; n++) {
        fill(x, n, -20, 20);
        r->vexp(n, x, a), s->vexp(n, x, b);
        check("vexp", n, b, a, 2e-7, 0);
        fill(x, n, -8, 8), fill(u, n, -2, 2);
        r->swiglu(a, x, u, n), s->swiglu(b, x, u, n);
        check("swiglu", n, b, a, 4e-7, 1e-30);
        fill(x, n, -30, 30);
        memcpy(a, x, sizeof x), memcpy(b, x, sizeof x);
        r->softmax(a, n, 0.125f), s->softmax(b, n, 0.125f);
        check("softmax", n, b, a, 1e-6, 1e-30);
        fill(x, n, -3, 3), fill(u, n, -1, 1), fill(w, n, 0.5f, 1.5f);
        memcpy(xa, x, sizeof x), memcpy(xb, x, sizeof x);
        float sa = r->add_rmsnorm(xa, u, w, a, n, 1e-5f), sb = s->add_rmsnorm(xb, u, w, b, n, 1e-5f);
        check("add_rmsnorm x", n, xb, xa, 0, 0); /* the residual add is exact in both */
        check("add_rmsnorm scale", 1, &sb, &sa, 1e-6, 0);
        check("add_rmsnorm y", n, b, a, 1e-6, 1e-30);
        float da = r->dot(n, x, u), db = s->dot(n, x, u), mag = 0;
        for (int i = 0; i < n; i++)
            mag += fabsf(x[i] * u[i]);
        assert_true(fabsf(da - db) <= 1e-6f * mag);
    }
    /* RoPE: the same products and sums, no FMA: bit-identical */
    for (int hd = 2; hd <= 64; hd += 2) {
        float cs[64], v[3 * 64];
        fill(cs, hd, -1, 1), fill(v, 3 * hd, -4, 4);
        float va[3 * 64], vb[3 * 64];
        memcpy(va, v, sizeof v), memcpy(vb, v, sizeof v);
        r->rope(va, cs, 3, hd), s->rope(vb, cs, 3, hd);
        check("rope", 3 * hd, vb, va, 0, 0);
    }
}

static void reference_ops_should_match_the_math_in_double(void **state) {
    (void)state;
    const struct le_ops *r = le_ops_get(0);
    enum { N = 40 };
    float x[N], u[N], w[N], y[N], x0[N];
    fill(x, N, -3, 3), fill(u, N, -1, 1), fill(w, N, 0.5f, 1.5f);
    memcpy(x0, x, sizeof x);
    float sc = r->add_rmsnorm(x, u, w, y, N, 1e-5f);
    double ss = 0;
    for (int i = 0; i < N; i++)
        ss += ((double)x0[i] + u[i]) * ((double)x0[i] + u[i]);
    double want = 1 / sqrt(ss / N + 1e-5);
    assert_true(fabs(sc - want) <= 1e-6 * want);
    for (int i = 0; i < N; i++)
        assert_true(fabs(y[i] - (x0[i] + u[i]) * want * w[i]) <= 1e-5 * (fabs(y[i]) + 1e-6));
    fill(x, N, -5, 5);
    memcpy(x0, x, sizeof x);
    r->softmax(x, N, 0.5f);
    double mx = -1e300, z = 0, tot = 0;
    for (int i = 0; i < N; i++)
        mx = 0.5 * x0[i] > mx ? 0.5 * x0[i] : mx;
    for (int i = 0; i < N; i++)
        z += exp(0.5 * x0[i] - mx);
    for (int i = 0; i < N; i++) {
        assert_true(fabs(x[i] - exp(0.5 * x0[i] - mx) / z) <= 1e-6);
        tot += x[i];
    }
    assert_true(fabs(tot - 1) <= 1e-6);
    r->swiglu(y, x0, u, N);
    for (int i = 0; i < N; i++)
        assert_true(fabs(y[i] - x0[i] / (1 + exp(-(double)x0[i])) * u[i]) <= 1e-6 * (fabs(y[i]) + 1e-6));
}

static void rope_table_should_follow_ggmls_angles(void **state) {
    (void)state;
    enum { T = 300, HD = 16 };
    static float cs[T * HD];
    float freqs[HD / 2];
    for (int i = 0; i < HD / 2; i++)
        freqs[i] = 1.0f + 0.25f * (float)i;
    for (int with_freqs = 0; with_freqs < 2; with_freqs++) {
        le_ops_rope_table(cs, T, HD, 10000.0f, 0.5f, with_freqs ? freqs : NULL);
        for (int p = 0; p < T; p++)
            for (int i = 0; i < HD / 2; i++) {
                double th = 0.5 * p * pow(10000.0, -2.0 * i / HD) / (with_freqs ? freqs[i] : 1.0);
                /* theta is a float product chain (ggml): ~i ulps of drift */
                double tol = 1e-6 * (1 + fabs(th));
                assert_true(fabs(cs[(p * HD / 2 + i) * 2] - cos(th)) <= tol);
                assert_true(fabs(cs[(p * HD / 2 + i) * 2 + 1] - sin(th)) <= tol);
            }
    }
}

static void cpu_probe_should_be_stable_and_choose_the_table(void **state) {
    (void)state;
    unsigned f = le_cpu_features();
    assert_int_equal(le_cpu_features(), f);
    assert_int_equal(le_cpu_avx2(), (f & LE_CPU_AVX2) != 0);
    assert_true((le_ops_get(1) != le_ops_get(0)) == le_cpu_avx2());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simd_ops_should_match_the_reference_for_every_length),
        cmocka_unit_test(reference_ops_should_match_the_math_in_double),
        cmocka_unit_test(rope_table_should_follow_ggmls_angles),
        cmocka_unit_test(cpu_probe_should_be_stable_and_choose_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
