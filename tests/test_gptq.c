/*
 * test_gptq: GPTQ (engine/quant/le_gptq.h, `llamaeval quantize --method gptq`).
 *
 * - The blocked update (lazy blocks of 128, rows on threads) against an
 *   obviously correct reference written here: H^-1 by Gauss-Jordan, its
 *   upper Cholesky factor, then column by column in double, every later
 *   column updated at once (no blocking), with Q4_0 / Q4_1 group
 *   parameters from the current weights at each group's first column (and
 *   with act-order: permuted columns, static groups). The chosen values must
 *   be the same, GPTQ's loss equal to rounding. For Q3_K / Q2_K (whose
 *   super-block logic the reference does not repeat) blocked equals one
 *   block spanning the whole row.
 * - On correlated inputs X, ||WX - W'X||^2 is below round-to-nearest's
 *   (ggml's reference quantizer) for every type.
 * - The stored rows dequantize (ggml's reference to_float, and the one the
 *   engine uses) to exactly the values GPTQ chose.
 * - Bytes do not depend on the thread count, for a matrix and for a whole
 *   model file; a rerun gives the same file; windows depend on the seed only.
 * - A whole tiny model: the file loads, layer matrices have the GPTQ type,
 *   every other tensor is byte-identical to round-to-nearest's file of the
 *   same preset, per-matrix output errors beat round-to-nearest's.
 * - Bad flags (bits 5, a group size the type does not have) give one-line
 *   errors and exit status 2; a failed run leaves no file.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "le_err.h"
#include "le_genmodel.h"
#include "le_gguf.h"
#include "le_gptq.h"
#include "le_model.h"
#include "le_pool.h"
#include "le_quant.h"
#include "le_test.h"
#include "le_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* access */

/* ---- data ---- */

static uint64_t g_rng;
static double urand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static double nrand(void) {
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* X (n x cols): strongly correlated columns (a few latent factors, column
 * scales spread over 10x) and one dead column; H = 2/n X^T X. */
static void make_xh(int64_t n, int64_t cols, float *X, double *H, uint64_t seed) {
    g_rng = seed;
    enum { NF = 8 };
    double *A = malloc(sizeof(double) * NF * (size_t)cols), *sc = malloc(sizeof(double) * (size_t)cols);
    for (int64_t i = 0; i < NF * cols; i++)
        A[i] = nrand();
    for (int64_t c = 0; c < cols; c++)
        sc[c] = 0.3 + 3.0 * urand();
    for (int64_t t = 0; t < n; t++) {
        double f[NF];
        for (int k = 0; k < NF; k++)
            f[k] = nrand();
        for (int64_t c = 0; c < cols; c++) {
            double v = 0.3 * nrand();
            for (int k = 0; k < NF; k++)
                v += f[k] * A[k * cols + c];
            X[t * cols + c] = c == 5 ? 0.0f : (float)(sc[c] * v);
        }
    }
    for (int64_t i = 0; i < cols; i++)
        for (int64_t j = 0; j < cols; j++) {
            double s = 0.0;
            for (int64_t t = 0; t < n; t++)
                s += (double)X[t * cols + i] * X[t * cols + j];
            H[i * cols + j] = 2.0 * s / (double)n;
        }
    free(A), free(sc);
}

static void make_w(int64_t rows, int64_t cols, float *W, uint64_t seed) {
    g_rng = seed;
    for (int64_t i = 0; i < rows * cols; i++)
        W[i] = (float)(0.1 * nrand());
}

/* ---- the reference ---- */

/* Q4_0 / Q4_1 group parameters as the header states them. */
struct ref_grid {
    float step, off;
    int affine, kmin, kmax;
};

static struct ref_grid ref_params(int type, const double *w) {
    struct ref_grid g = {0};
    float x[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)w[i];
    if (type == LE_TYPE_Q4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < 32; i++)
            if (fabsf(x[i]) > amax)
                amax = fabsf(x[i]), max = x[i];
        g.step = le_fp16_to_fp32(le_fp32_to_fp16(max / -8.0f));
        g.kmin = -8, g.kmax = 7;
    } else {
        float mn = x[0], mx = x[0];
        for (int i = 1; i < 32; i++)
            mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
        g.step = le_fp16_to_fp32(le_fp32_to_fp16((mx - mn) / 15.0f));
        g.off = le_fp16_to_fp32(le_fp32_to_fp16(mn));
        g.affine = 1, g.kmin = 0, g.kmax = 15;
    }
    return g;
}

static float ref_pick(const struct ref_grid *g, double w) {
    long k = g->step != 0.0f ? lround((w - (g->affine ? g->off : 0.0f)) / g->step) : 0;
    k = k < g->kmin ? g->kmin : k > g->kmax ? g->kmax : k;
    float v = (float)k * g->step;
    return g->affine ? v + g->off : v;
}

/* inverse by Gauss-Jordan with partial pivoting (A destroyed) */
static void ref_inverse(double *A, int64_t n, double *inv) {
    for (int64_t i = 0; i < n * n; i++)
        inv[i] = i % (n + 1) == 0 ? 1.0 : 0.0;
    for (int64_t c = 0; c < n; c++) {
        int64_t p = c;
        for (int64_t r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[p * n + c]))
                p = r;
        for (int64_t k = 0; k < n; k++) {
            double t = A[c * n + k];
            A[c * n + k] = A[p * n + k], A[p * n + k] = t;
            t = inv[c * n + k];
            inv[c * n + k] = inv[p * n + k], inv[p * n + k] = t;
        }
        double d = A[c * n + c];
        for (int64_t k = 0; k < n; k++)
            A[c * n + k] /= d, inv[c * n + k] /= d;
        for (int64_t r = 0; r < n; r++)
            if (r != c) {
                double f = A[r * n + c];
                for (int64_t k = 0; k < n; k++)
                    A[r * n + k] -= f * A[c * n + k], inv[r * n + k] -= f * inv[c * n + k];
            }
    }
}

/* U upper with U^T U = M: U[i][i] = sqrt(M_ii - sum_k<i U_ki^2), U_ij = (M_ij - sum_k<i U_ki U_kj) / U_ii */
static void ref_upper_cholesky(const double *M, int64_t n, double *U) {
    memset(U, 0, sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++) {
        double s = M[i * n + i];
        for (int64_t k = 0; k < i; k++)
            s -= U[k * n + i] * U[k * n + i];
        U[i * n + i] = sqrt(s);
        for (int64_t j = i + 1; j < n; j++) {
            double t = M[i * n + j];
            for (int64_t k = 0; k < i; k++)
                t -= U[k * n + i] * U[k * n + j];
            U[i * n + j] = t / U[i * n + i];
        }
    }
}

/* GPTQ column by column; what: chosen values (original order); returns the loss. */
static double ref_gptq(const float *W, int64_t rows, int64_t n, const double *H0, int type, int act_order,
                       float *what) {
    double *H = malloc(sizeof(double) * (size_t)(n * n)), *Hp = malloc(sizeof(double) * (size_t)(n * n));
    double *Hi = malloc(sizeof(double) * (size_t)(n * n)), *U = malloc(sizeof(double) * (size_t)(n * n));
    double *w = malloc(sizeof(double) * (size_t)n);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)n);
    int *dead = malloc(sizeof(int) * (size_t)n);
    struct ref_grid *grids = malloc(sizeof(struct ref_grid) * (size_t)(n / 32));
    memcpy(H, H0, sizeof(double) * (size_t)(n * n));
    double mean = 0.0;
    for (int64_t i = 0; i < n; i++) {
        dead[i] = H[i * n + i] == 0.0;
        if (dead[i])
            H[i * n + i] = 1.0;
        mean += H[i * n + i] / (double)n;
        perm[i] = i;
    }
    if (act_order) /* selection sort, descending, ties by index */
        for (int64_t i = 0; i < n; i++) {
            int64_t b = i;
            for (int64_t k = i + 1; k < n; k++)
                if (H[perm[k] * n + perm[k]] > H[perm[b] * n + perm[b]])
                    b = k;
            int64_t t = perm[b];
            memmove(perm + i + 1, perm + i, sizeof(int64_t) * (size_t)(b - i));
            perm[i] = t;
        }
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++)
            Hp[a * n + b] = H[perm[a] * n + perm[b]] + (a == b ? 0.01 * mean : 0.0);
    ref_inverse(Hp, n, Hi);
    ref_upper_cholesky(Hi, n, U);
    double loss = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        double orig[4096];
        for (int64_t c = 0; c < n; c++)
            orig[c] = dead[c] ? 0.0 : W[r * n + c];
        for (int64_t i = 0; i < n; i++)
            w[i] = orig[perm[i]];
        if (act_order)
            for (int64_t g = 0; g < n / 32; g++)
                grids[g] = ref_params(type, orig + 32 * g);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = perm[i];
            if (!act_order && c % 32 == 0)
                grids[c / 32] = ref_params(type, w + i);
            float v = ref_pick(&grids[c / 32], w[i]);
            what[r * n + c] = v;
            double e = (w[i] - v) / U[i * n + i];
            loss += e * e / 2.0;
            for (int64_t k = i + 1; k < n; k++)
                w[k] -= e * U[i * n + k];
        }
    }
    free(H), free(Hp), free(Hi), free(U), free(w), free(perm), free(dead), free(grids);
    return loss;
}

/* ---- tests ---- */

static size_t out_bytes(int type, int64_t rows, int64_t cols) {
    return le_type_row_size(type, cols) * (size_t)rows;
}

static void test_blocked_matches_reference(void **state) {
    (void)state;
    const int64_t rows = 6, cols = 320, n = 400; /* 2.5 lazy blocks */
    float *X = malloc(sizeof(float) * (size_t)(n * cols)), *W = malloc(sizeof(float) * (size_t)(rows * cols));
    double *H = malloc(sizeof(double) * (size_t)(cols * cols));
    float *got = malloc(sizeof(float) * (size_t)(rows * cols)), *want = malloc(sizeof(float) * (size_t)(rows * cols));
    make_xh(n, cols, X, H, 11);
    make_w(rows, cols, W, 12);
    const int types[2] = {LE_TYPE_Q4_0, LE_TYPE_Q4_1};
    for (int ti = 0; ti < 2; ti++)
        for (int ao = 0; ao < 2; ao++) {
            void *out = malloc(out_bytes(types[ti], rows, cols));
            struct le_gptq_opts o = {.type = types[ti], .act_order = ao};
            double loss = 0.0;
            assert_int_equal(le_gptq_matrix(NULL, W, rows, cols, H, &o, out, got, &loss), LE_OK);
            double rloss = ref_gptq(W, rows, cols, H, types[ti], ao, want);
            int same = 0;
            for (int64_t i = 0; i < rows * cols; i++)
                same += got[i] == want[i];
            if (same != rows * cols)
                print_error("%s act-order %d: %d of %d values equal\n", le_type_name(types[ti]), ao, same,
                            (int)(rows * cols));
            assert_int_equal(same, rows * cols);
            assert_true(fabs(loss - rloss) <= 1e-9 * rloss);
            free(out);
        }
    free(X), free(W), free(H), free(got), free(want);
}

/* K-quants: lazy blocks of 128 give what one block over the whole row gives. */
static void test_kquant_blocked_equals_unblocked(void **state) {
    (void)state;
    const int64_t rows = 5, cols = 512, n = 600;
    float *X = malloc(sizeof(float) * (size_t)(n * cols)), *W = malloc(sizeof(float) * (size_t)(rows * cols));
    double *H = malloc(sizeof(double) * (size_t)(cols * cols));
    float *a = malloc(sizeof(float) * (size_t)(rows * cols)), *b = malloc(sizeof(float) * (size_t)(rows * cols));
    make_xh(n, cols, X, H, 21);
    make_w(rows, cols, W, 22);
    const int types[2] = {LE_TYPE_Q3_K, LE_TYPE_Q2_K};
    for (int ti = 0; ti < 2; ti++) {
        size_t nb = out_bytes(types[ti], rows, cols);
        void *oa = malloc(nb), *ob = malloc(nb);
        struct le_gptq_opts o1 = {.type = types[ti]}, o2 = {.type = types[ti], .block = (int)cols};
        double la, lb;
        assert_int_equal(le_gptq_matrix(NULL, W, rows, cols, H, &o1, oa, a, &la), LE_OK);
        assert_int_equal(le_gptq_matrix(NULL, W, rows, cols, H, &o2, ob, b, &lb), LE_OK);
        assert_memory_equal(a, b, sizeof(float) * (size_t)(rows * cols));
        assert_true(fabs(la - lb) <= 1e-9 * la);
        free(oa), free(ob);
    }
    free(X), free(W), free(H), free(a), free(b);
}

/* ||(W - W')X^T||^2 */
static double out_err(const float *W, const float *Wq, const float *X, int64_t rows, int64_t cols, int64_t n) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < n; t++) {
            double d = 0.0;
            for (int64_t c = 0; c < cols; c++)
                d += ((double)W[r * cols + c] - Wq[r * cols + c]) * X[t * cols + c];
            s += d * d;
        }
    return s;
}

static void test_beats_rtn_and_stores_chosen(void **state) {
    (void)state;
    const int64_t rows = 16, cols = 256, n = 512;
    float *X = malloc(sizeof(float) * (size_t)(n * cols)), *W = malloc(sizeof(float) * (size_t)(rows * cols));
    double *H = malloc(sizeof(double) * (size_t)(cols * cols));
    float *what = malloc(sizeof(float) * (size_t)(rows * cols)), *deq = malloc(sizeof(float) * (size_t)(rows * cols));
    make_xh(n, cols, X, H, 31);
    make_w(rows, cols, W, 32);
    const int types[4] = {LE_TYPE_Q4_0, LE_TYPE_Q4_1, LE_TYPE_Q3_K, LE_TYPE_Q2_K};
    for (int ti = 0; ti < 4; ti++)
        for (int ao = 0; ao < 2; ao++) {
            int type = types[ti];
            size_t rb = le_type_row_size(type, cols);
            char *out = malloc(rb * (size_t)rows), *rtn = malloc(rb * (size_t)rows);
            struct le_gptq_opts o = {.type = type, .act_order = ao};
            assert_int_equal(le_gptq_matrix(NULL, W, rows, cols, H, &o, out, what, NULL), LE_OK);
            /* stored == chosen, with the reference and with the engine's dequantization */
            const struct le_type_traits *tr[2] = {le_type_get_ref(type), le_type_get(type)};
            for (int k = 0; k < 2; k++) {
                for (int64_t r = 0; r < rows; r++)
                    tr[k]->to_float(out + (size_t)r * rb, deq + r * cols, cols);
                assert_memory_equal(deq, what, sizeof(float) * (size_t)(rows * cols));
            }
            double eg = out_err(W, what, X, rows, cols, n);
            for (int64_t r = 0; r < rows; r++) {
                tr[0]->from_float(W + r * cols, rtn + (size_t)r * rb, cols);
                tr[0]->to_float(rtn + (size_t)r * rb, deq + r * cols, cols);
            }
            double er = out_err(W, deq, X, rows, cols, n);
            print_message("%s act-order %d: ||(W-W')X||^2 GPTQ %.4g, round-to-nearest %.4g\n", le_type_name(type), ao,
                          eg, er);
            assert_true(eg < er);
            free(out), free(rtn);
        }
    free(X), free(W), free(H), free(what), free(deq);
}

static void test_threads(void **state) {
    (void)state;
    const int64_t rows = 37, cols = 256, n = 300;
    float *X = malloc(sizeof(float) * (size_t)(n * cols)), *W = malloc(sizeof(float) * (size_t)(rows * cols));
    double *H = malloc(sizeof(double) * (size_t)(cols * cols));
    make_xh(n, cols, X, H, 41);
    make_w(rows, cols, W, 42);
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 3), LE_OK);
    const int types[2] = {LE_TYPE_Q4_1, LE_TYPE_Q3_K};
    for (int ti = 0; ti < 2; ti++) {
        size_t nb = out_bytes(types[ti], rows, cols);
        void *a = malloc(nb), *b = malloc(nb);
        struct le_gptq_opts o = {.type = types[ti], .act_order = 1};
        assert_int_equal(le_gptq_matrix(NULL, W, rows, cols, H, &o, a, NULL, NULL), LE_OK);
        assert_int_equal(le_gptq_matrix(pool, W, rows, cols, H, &o, b, NULL, NULL), LE_OK);
        assert_memory_equal(a, b, nb);
        free(a), free(b);
    }
    le_pool_free(pool);
    free(X), free(W), free(H);
}

static void test_types_and_windows(void **state) {
    (void)state;
    int type, group;
    assert_int_equal(le_gptq_type(4, 0, 0, &type, &group), LE_OK);
    assert_int_equal(type, LE_TYPE_Q4_1);
    assert_int_equal(group, 32);
    assert_int_equal(le_gptq_type(4, 32, 1, &type, &group), LE_OK);
    assert_int_equal(type, LE_TYPE_Q4_0);
    assert_int_equal(le_gptq_type(3, 16, 0, &type, &group), LE_OK);
    assert_int_equal(type, LE_TYPE_Q3_K);
    assert_int_equal(le_gptq_type(2, 0, 0, &type, &group), LE_OK);
    assert_int_equal(type, LE_TYPE_Q2_K);
    assert_int_equal(group, 16);
    assert_int_equal(le_gptq_type(5, 0, 0, &type, &group), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "--bits 5"));
    assert_int_equal(le_gptq_type(4, 128, 0, &type, &group), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "q4_1"));
    assert_int_equal(le_gptq_type(3, 32, 0, &type, &group), LE_EINVAL);
    /* no matrix with a row length its type does not divide */
    float W[64] = {0};
    double H[64 * 64] = {0};
    unsigned char out[256];
    struct le_gptq_opts o = {.type = LE_TYPE_Q3_K};
    assert_int_equal(le_gptq_matrix(NULL, W, 1, 64, H, &o, out, NULL, NULL), LE_EINVAL);
    /* windows: a function of the seed */
    int32_t ids[1000], a[4 * 50], b[4 * 50], c[4 * 50];
    for (int i = 0; i < 1000; i++)
        ids[i] = i;
    assert_int_equal(le_gptq_windows(ids, 1000, 4, 50, 7, a), LE_OK);
    assert_int_equal(le_gptq_windows(ids, 1000, 4, 50, 7, b), LE_OK);
    assert_int_equal(le_gptq_windows(ids, 1000, 4, 50, 8, c), LE_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    for (int w = 0; w < 4; w++)
        for (int i = 1; i < 50; i++)
            assert_int_equal(a[w * 50 + i], a[w * 50] + i); /* contiguous windows */
    assert_int_equal(le_gptq_windows(ids, 50, 4, 50, 7, a), LE_EINVAL);
}

/* ---- whole files ---- */

struct errsum {
    int n;
    double gptq, rtn;
};
static void on_matrix(void *ud, const struct le_gptq_event *ev) {
    struct errsum *s = ud;
    s->n++;
    s->gptq += ev->err;
    s->rtn += ev->err_rtn;
}

static int run_gptq(const char *in, const char *out, int bits, int threads, struct errsum *es) {
    enum { NW = 6, CTX = 48 };
    static int32_t win[NW * CTX];
    g_rng = 5;
    for (int i = 0; i < NW * CTX; i++)
        win[i] = (int32_t)(urand() * 400);
    struct le_gptq_params p = {.bits = bits, .windows = win, .n_windows = NW, .ctx = CTX, .n_threads = threads,
                               .progress = es ? on_matrix : NULL, .progress_ud = es};
    return le_gptq_quantize(in, out, &p, NULL);
}

static void test_model_file(void **state) {
    (void)state;
    char in[512], o1[512], o2[512], o3[512], rtn[512];
    snprintf(in, sizeof in, "%s/m.gguf", le_test_dir());
    snprintf(o1, sizeof o1, "%s/g1.gguf", le_test_dir());
    snprintf(o2, sizeof o2, "%s/g2.gguf", le_test_dir());
    snprintf(o3, sizeof o3, "%s/g3.gguf", le_test_dir());
    snprintf(rtn, sizeof rtn, "%s/r.gguf", le_test_dir());
    /* K-quants need rows of 256; 4 bits is tried on a smaller model */
    struct le_genmodel_cfg cfg = {.dim = 256, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn = 256,
                                  .n_vocab = 400, .n_ctx = 64, .seed = 3};
    for (int bits = 3; bits <= 4; bits++) {
        if (bits == 4)
            cfg.dim = 64, cfg.ffn = 128;
        assert_int_equal(le_genmodel_write(in, &cfg), LE_OK);
        struct errsum es = {0};
        assert_int_equal(run_gptq(in, o1, bits, 1, &es), LE_OK);
        assert_int_equal(es.n, 14);
        print_message("%d bits: mean relative output error GPTQ %.4g, round-to-nearest %.4g\n", bits, es.gptq / es.n,
                      es.rtn / es.n);
        assert_true(es.gptq < es.rtn);
        assert_int_equal(run_gptq(in, o2, bits, 3, NULL), LE_OK);
        assert_int_equal(run_gptq(in, o3, bits, 1, NULL), LE_OK);
        size_t n1, n2, n3;
        void *b1 = le_test_read_file(o1, &n1), *b2 = le_test_read_file(o2, &n2), *b3 = le_test_read_file(o3, &n3);
        assert_true(n1 == n2 && n1 == n3);
        assert_memory_equal(b1, b2, n1);
        assert_memory_equal(b1, b3, n1);
        free(b1), free(b2), free(b3);
        /* the other tensors as round-to-nearest's file of the preset */
        int type;
        assert_int_equal(le_gptq_type(bits, 0, 0, &type, NULL), LE_OK);
        struct le_quant_params qp = {.ftype = le_gptq_ftype(type), .n_threads = 1};
        assert_int_equal(le_quantize(in, rtn, &qp, NULL), LE_OK);
        struct le_gguf *g, *r;
        assert_int_equal(le_gguf_open(&g, o1), LE_OK);
        assert_int_equal(le_gguf_open(&r, rtn), LE_OK);
        assert_int_equal(le_gguf_n_tensors(g), le_gguf_n_tensors(r));
        int n_gptq = 0;
        for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
            const struct le_gguf_tensor *t = le_gguf_tensor(g, i), *u = le_gguf_find_tensor(r, t->name);
            assert_non_null(u);
            if (!strncmp(t->name, "blk.", 4) && !strstr(t->name, "norm")) {
                assert_int_equal(t->type, type);
                n_gptq++;
            } else {
                assert_int_equal(t->type, u->type);
                assert_int_equal(t->nbytes, u->nbytes);
                assert_memory_equal(t->data, u->data, t->nbytes);
            }
        }
        assert_int_equal(n_gptq, 14);
        le_gguf_close(g), le_gguf_close(r);
        /* it loads and runs */
        struct le_model *m;
        struct le_ctx *c;
        assert_int_equal(le_model_open(&m, o1), LE_OK);
        assert_int_equal(le_ctx_new(&c, m, 16, 16, NULL), LE_OK);
        int32_t toks[4] = {1, 50, 60, 70};
        assert_int_equal(le_ctx_eval(c, toks, 4, 0, 1), LE_OK);
        assert_true(isfinite(le_ctx_logits(c)[3 * 400 + 7]));
        assert_int_equal(le_model_get_info(m)->main_type, type);
        le_ctx_free(c);
        le_model_free(m);
    }
    /* 2 bits, act-order, without true-sequential: runs and loads */
    cfg.dim = 256, cfg.ffn = 256;
    assert_int_equal(le_genmodel_write(in, &cfg), LE_OK);
    int32_t win[2 * 32];
    for (int i = 0; i < 64; i++)
        win[i] = (i * 37) % 400;
    struct le_gptq_params p = {.bits = 2, .act_order = 1, .no_true_sequential = 1, .windows = win, .n_windows = 2,
                               .ctx = 32, .n_threads = 2};
    assert_int_equal(le_gptq_quantize(in, o1, &p, NULL), LE_OK);
    struct le_model *m;
    assert_int_equal(le_model_open(&m, o1), LE_OK);
    assert_int_equal(le_model_get_info(m)->main_type, LE_TYPE_Q2_K);
    le_model_free(m);
}

static void test_cli(void **state) {
    (void)state;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/c.gguf", le_test_dir());
    snprintf(out, sizeof out, "%s/c-out.gguf", le_test_dir());
    struct le_genmodel_cfg cfg = {.dim = 64, .n_layers = 1, .n_heads = 4, .ffn = 128, .n_vocab = 400,
                                  .n_ctx = 64, .seed = 4};
    assert_int_equal(le_genmodel_write(in, &cfg), LE_OK);
    char *o = NULL;
    int rc = le_test_sh(&o, "%s quantize %s %s --method gptq --bits 5 2>&1", le_test_bin(), in, out);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(o, "llamaeval: error: --bits 5"));
    assert_ptr_equal(strchr(o, '\n'), o + strlen(o) - 1); /* one line */
    free(o);
    rc = le_test_sh(&o, "%s quantize %s %s --method gptq --bits 4 --group-size 128 2>&1", le_test_bin(), in, out);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(o, "--group-size 128"));
    assert_ptr_equal(strchr(o, '\n'), o + strlen(o) - 1);
    free(o);
    rc = le_test_sh(&o, "%s quantize %s %s --type q4_0 --act-order 2>&1", le_test_bin(), in, out);
    assert_int_equal(rc, 2);
    free(o);
    /* 3 bits: no row of 64 or 128 fits Q3_K; nothing is written */
    rc = le_test_sh(&o, "%s quantize %s %s --method gptq --bits 3 --calib-windows 2 --calib-ctx 16 2>&1",
                    le_test_bin(), in, out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(o, "--bits 4"));
    assert_int_equal(access(out, F_OK), -1);
    free(o);
    /* a text file as calibration: the summary line and per-matrix lines */
    char txt[512];
    snprintf(txt, sizeof txt, "%s/calib.txt", le_test_dir());
    const char *text = "the theory in the thing, then there that the other in the end then. ";
    char big[8192] = "";
    for (int i = 0; i < 60; i++)
        strcat(big, text);
    assert_int_equal(le_test_write_file(txt, big, strlen(big)), 0);
    rc = le_test_sh(&o, "%s quantize %s %s --method gptq --bits 4 --sym --act-order --calib %s --calib-windows 3 "
                    "--calib-ctx 32 --seed 9 --threads 2", le_test_bin(), in, out, txt);
    if (rc)
        print_error("%s\n", o);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "blk.0.ffn_down.weight"));
    assert_non_null(strstr(o, "GPTQ 4-bit (q4_0, act-order, 3 windows of 32 tokens"));
    free(o);
    assert_int_equal(access(out, F_OK), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_matches_reference),
        cmocka_unit_test(test_kquant_blocked_equals_unblocked),
        cmocka_unit_test(test_beats_rtn_and_stores_chosen),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_types_and_windows),
        cmocka_unit_test(test_model_file),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, le_test_dir_setup, le_test_dir_teardown);
}
