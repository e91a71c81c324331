/*
 * test_matmul: the one matmul driver (le_matmul) for every implemented type.
 *
 * - Against a naive double-precision product of the dequantized weights and
 *   the activations rounded to the type's vec_dot_type (the rounding ggml
 *   applies; for Q8_1 also its F16 block sums s), within 1e-5 of the output
 *   scale.
 * - Bit-identical results for 1, 2 and 3 threads, for one row at a time vs
 *   a batch, and equal to the table's vec_dot element by element; for the
 *   K-quants also on blocks of random bytes (every bit pattern), decode
 *   (N = 1, the fused kernels) against batches and the scalar vec_dot.
 * - llama.cpp's own matmul outputs (../shared/oracle/kernels, README section 4)
 *   for the oracle-a model's blk.0.attn_q and ffn_down; the weights are read
 *   from the GGUF with a minimal parser here (skipped when the oracle is absent).
 */
// ctest-labels: unit golden
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_err.h"
#include "le_pool.h"  /* le_pool_new: thread counts under test */
#include "le_test.h"
#include "le_types.h" /* the driver under test */

static const int le_types_under_test[] = {LE_TYPE_F32,  LE_TYPE_F16,  LE_TYPE_BF16, LE_TYPE_Q8_0, LE_TYPE_Q4_0,
                                          LE_TYPE_Q4_1, LE_TYPE_Q5_0, LE_TYPE_Q5_1, LE_TYPE_Q2_K, LE_TYPE_Q3_K,
                                          LE_TYPE_Q4_K, LE_TYPE_Q5_K, LE_TYPE_Q6_K};
#define LE_NT (sizeof le_types_under_test / sizeof le_types_under_test[0])

static uint64_t rng_state = 0x2545f4914f6cdd1dull; /* le_test_xorshift, le_test_normal */

/* A random problem of one type: W quantized from random floats, X random. */
struct prob {
    int type;
    int64_t rows, K, N;
    void *W;
    float *Wf; /* dequantized W */
    float *X;
    float *Xr; /* X rounded to the vec_dot type */
    double *corr; /* [N][rows]: Q8_1 types' sum_b m_b (s_b - d_b sum q_b), else 0 */
};

static void prob_make(struct prob *p, int type, int64_t rows, int64_t K, int64_t N) {
    const struct le_type_traits *t = le_type_get(type);
    const struct le_type_traits *v = le_type_get(t->vec_dot_type);
    p->type = type, p->rows = rows, p->K = K, p->N = N;
    size_t rb = le_type_row_size(type, K);
    float *tmp = malloc((size_t)K * 4);
    p->W = malloc(rb * (size_t)rows);
    p->Wf = malloc((size_t)(rows * K) * 4);
    p->X = malloc((size_t)(N * K) * 4);
    p->Xr = malloc((size_t)(N * K) * 4);
    void *a = malloc(le_type_row_size(t->vec_dot_type, K));
    assert_true(tmp && p->W && p->Wf && p->X && p->Xr && a);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t k = 0; k < K; k++)
            tmp[k] = le_test_normal(&rng_state) * 0.1f;
        t->from_float(tmp, (char *)p->W + r * rb, K);
        t->to_float((char *)p->W + r * rb, p->Wf + r * K, K);
    }
    p->corr = calloc((size_t)(N * rows), sizeof(double));
    assert_non_null(p->corr);
    for (int64_t n = 0; n < N; n++) {
        float *x = p->X + n * K;
        for (int64_t k = 0; k < K; k++)
            x[k] = le_test_normal(&rng_state) * (1.0f + (float)(n % 3));
        if (t->vec_dot_type == LE_TYPE_F32) {
            memcpy(p->Xr + n * K, x, (size_t)K * 4);
        } else {
            v->from_float_act(x, a, K);
            v->to_float(a, p->Xr + n * K, K);
        }
        if (t->vec_dot_type == LE_TYPE_Q8_1) /* ggml multiplies m by s = F16(d sum q) */
            for (int64_t r = 0; r < rows; r++)
                for (int64_t b = 0; b < K / 32; b++) {
                    const unsigned char *ab = (const unsigned char *)a + b * 36;
                    const unsigned char *wb = (const unsigned char *)p->W + r * rb + b * t->type_size;
                    uint16_t d, s, m;
                    memcpy(&d, ab, 2), memcpy(&s, ab + 2, 2), memcpy(&m, wb + 2, 2);
                    double sq = 0;
                    for (int j = 0; j < 32; j++)
                        sq += (signed char)ab[4 + j];
                    p->corr[n * rows + r] +=
                        (double)le_fp16_to_fp32(m) * ((double)le_fp16_to_fp32(s) - (double)le_fp16_to_fp32(d) * sq);
                }
    }
    free(a);
    free(tmp);
}

static void prob_free(struct prob *p) {
    free(p->W), free(p->Wf), free(p->X), free(p->Xr), free(p->corr);
}

/* Y through le_matmul with a fresh scratch. */
static void run_mm(struct le_pool *pool, const struct prob *p, const float *X, int64_t N, float *Y) {
    size_t ss = le_matmul_scratch_size(p->type, p->K, N);
    void *scratch = ss ? malloc(ss) : NULL;
    int rc = le_matmul(pool, p->W, p->type, p->rows, p->K, X, N, Y, scratch);
    if (rc != LE_OK)
        fail_msg("le_matmul: %s", le_err_msg());
    free(scratch);
}

/* max |Y - ref| / rms(ref) against the double product of Wf and Xr. */
static double rel_err_vs_naive(const struct prob *p, const float *Y) {
    double maxd = 0, ss = 0;
    for (int64_t n = 0; n < p->N; n++)
        for (int64_t r = 0; r < p->rows; r++) {
            double acc = p->corr[n * p->rows + r];
            for (int64_t k = 0; k < p->K; k++)
                acc += (double)p->Wf[r * p->K + k] * p->Xr[n * p->K + k];
            ss += acc * acc;
            double d = fabs(acc - Y[n * p->rows + r]);
            maxd = d > maxd ? d : maxd;
        }
    return maxd / sqrt(ss / (double)(p->N * p->rows));
}

static const int64_t shapes[][3] = { /* rows, K, N */
    {1, 32, 1}, {13, 64, 5}, {37, 96, 7}, {64, 256, 17}, {70, 288, 12}, {9, 768, 3}, {24, 2048, 4},
};

static void matmul_should_match_naive_double_product(void **state) {
    (void)state;
    struct le_pool *pool = NULL;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    for (size_t ti = 0; ti < LE_NT; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int64_t K = shapes[si][1], blck = le_type_get(le_types_under_test[ti])->blck_size;
            if (blck == 1 && si % 2) /* odd K too */
                K += 5;
            K = (K + blck - 1) / blck * blck;
            struct prob p;
            prob_make(&p, le_types_under_test[ti], shapes[si][0], K, shapes[si][2]);
            float *Y = malloc((size_t)(p.N * p.rows) * 4);
            run_mm(pool, &p, p.X, p.N, Y);
            double e = rel_err_vs_naive(&p, Y);
            if (!(e <= 1e-5))
                fail_msg("%s rows %lld K %lld N %lld: rel err %.3g", le_type_name(p.type), (long long)p.rows,
                         (long long)p.K, (long long)p.N, e);
            free(Y);
            prob_free(&p);
        }
    le_pool_free(pool);
}

static void matmul_should_not_depend_on_threads_or_batching(void **state) {
    (void)state;
    struct le_pool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        assert_int_equal(le_pool_new(&pools[i], i + 1), LE_OK);
    static const int64_t sh[][3] = {{203, 256, 23}, {64, 96, 9}, {35, 74, 4}, {21, 1536, 10}, {19, 200, 3},
                                    {40, 40, 2}};
    for (size_t ti = 0; ti < LE_NT; ti++)
        for (size_t si = 0; si < sizeof sh / sizeof sh[0]; si++) {
            int64_t K = sh[si][1];
            int64_t blck = le_type_get(le_types_under_test[ti])->blck_size;
            K = (K + blck - 1) / blck * blck;
            struct prob p;
            prob_make(&p, le_types_under_test[ti], sh[si][0], K, sh[si][2]);
            size_t ysz = (size_t)(p.N * p.rows) * 4;
            float *Y1 = malloc(ysz), *Y2 = malloc(ysz), *Y3 = malloc(ysz), *Yn = malloc(ysz), *Y0 = malloc(ysz);
            run_mm(pools[0], &p, p.X, p.N, Y1);
            run_mm(pools[1], &p, p.X, p.N, Y2);
            run_mm(pools[2], &p, p.X, p.N, Y3);
            run_mm(NULL, &p, p.X, p.N, Y0);
            /* one activation row at a time (decode) */
            float *col = malloc((size_t)p.rows * 4);
            for (int64_t n = 0; n < p.N; n++) {
                run_mm(pools[1], &p, p.X + n * p.K, 1, col);
                memcpy(Yn + n * p.rows, col, (size_t)p.rows * 4);
            }
            assert_memory_equal(Y1, Y2, ysz);
            assert_memory_equal(Y1, Y3, ysz);
            assert_memory_equal(Y1, Y0, ysz);
            assert_memory_equal(Y1, Yn, ysz);
            /* ... and each element is the table's vec_dot */
            const struct le_type_traits *t = le_type_get(p.type), *v = le_type_get(t->vec_dot_type);
            size_t rb = le_type_row_size(p.type, p.K), ab = le_type_row_size(t->vec_dot_type, p.K);
            void *a = malloc(ab);
            for (int64_t n = 0; n < p.N; n++) {
                v->from_float_act(p.X + n * p.K, a, p.K);
                for (int64_t r = 0; r < p.rows; r++) {
                    float s;
                    t->vec_dot((int)p.K, &s, (const char *)p.W + r * rb, a);
                    if (memcmp(&s, &Y1[n * p.rows + r], 4) != 0)
                        fail_msg("%s: vec_dot %.9g != matmul %.9g", t->name, s, Y1[n * p.rows + r]);
                }
            }
            free(a);
            free(col), free(Y0), free(Y1), free(Y2), free(Y3), free(Yn);
            prob_free(&p);
        }
    for (int i = 0; i < 3; i++)
        le_pool_free(pools[i]);
}

/* K-quant weights of random bytes (every bit pattern of quants, high bits,
 * packed scales and minima, not just what the quantizer writes; finite
 * F16 super-block scales): the decode kernels (N = 1, fused per type) give
 * exactly the batched kernels' outputs (N = 2: rows of Q8_K; N = 9: panels)
 * and the scalar reference vec_dot's. */
static void k_quant_decode_should_equal_batch_for_any_block_bytes(void **state) {
    (void)state;
    static const int kt[] = {LE_TYPE_Q2_K, LE_TYPE_Q3_K, LE_TYPE_Q4_K, LE_TYPE_Q5_K, LE_TYPE_Q6_K};
    static const int64_t batches[] = {2, 9};
    const int64_t rows = 37, K = 5 * 256, NB = 9;
    struct le_pool *pool = NULL;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    for (size_t ti = 0; ti < sizeof kt / sizeof kt[0]; ti++) {
        const struct le_type_traits *t = le_type_get(kt[ti]), *ref = le_type_get_ref(kt[ti]);
        const struct le_type_traits *v = le_type_get(t->vec_dot_type);
        const size_t rb = le_type_row_size(kt[ti], K), ab = le_type_row_size(t->vec_dot_type, K);
        unsigned char *W = malloc(rb * (size_t)rows);
        float *X = malloc((size_t)(NB * K) * 4), *Yb = malloc((size_t)(NB * rows) * 4);
        float *y1 = malloc((size_t)rows * 4);
        void *a = malloc(ab), *scratch = malloc(le_matmul_scratch_size(kt[ti], K, NB));
        assert_true(W && X && Yb && y1 && a && scratch);
        for (size_t i = 0; i < rb * (size_t)rows; i++)
            W[i] = (unsigned char)le_test_xorshift(&rng_state);
        /* the F16 fields (d, then dmin for the types with minima): first
         * in Q4_K and Q5_K, last in the others */
        const int q45 = kt[ti] == LE_TYPE_Q4_K || kt[ti] == LE_TYPE_Q5_K;
        const int nd = kt[ti] == LE_TYPE_Q3_K || kt[ti] == LE_TYPE_Q6_K ? 1 : 2;
        const size_t bs = t->type_size, dat = q45 ? 0 : bs - 2 * (size_t)nd;
        for (size_t b = 0; b < rb / bs * (size_t)rows; b++)
            for (int k = 0; k < nd; k++) {
                uint16_t h = le_fp32_to_fp16(le_test_normal(&rng_state) * 0.01f);
                memcpy(W + b * bs + dat + 2 * (size_t)k, &h, 2);
            }
        for (int64_t i = 0; i < NB * K; i++)
            X[i] = le_test_normal(&rng_state) * (i % 97 == 0 ? 20.0f : 1.0f);
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
            const int64_t N = batches[bi];
            assert_int_equal(le_matmul(pool, W, kt[ti], rows, K, X, N, Yb, scratch), LE_OK);
            for (int64_t n = 0; n < N; n++) {
                assert_int_equal(le_matmul(pool, W, kt[ti], rows, K, X + n * K, 1, y1, scratch), LE_OK);
                v->from_float_act(X + n * K, a, K);
                for (int64_t r = 0; r < rows; r++) {
                    float s;
                    ref->vec_dot((int)K, &s, W + r * rb, a);
                    if (memcmp(&y1[r], &Yb[n * rows + r], 4) != 0 || memcmp(&y1[r], &s, 4) != 0)
                        fail_msg("%s row %lld: decode %.9g, batch of %lld %.9g, reference %.9g", t->name,
                                 (long long)r, y1[r], (long long)N, Yb[n * rows + r], s);
                }
            }
        }
        free(W), free(X), free(Yb), free(y1), free(a), free(scratch);
    }
    le_pool_free(pool);
}

static void matmul_should_reject_bad_arguments(void **state) {
    (void)state;
    float w[64] = {0}, x[64] = {0}, y[4];
    char scratch[256];
    assert_int_equal(le_matmul(NULL, w, 16, 1, 256, x, 1, y, scratch), LE_EUNSUP); /* named, not implemented */
    assert_non_null(strstr(le_err_msg(), "iq2_xxs"));
    assert_int_equal(le_matmul(NULL, w, LE_TYPE_Q8_K, 1, 256, x, 1, y, scratch), LE_EUNSUP); /* activations only */
    assert_int_equal(le_matmul(NULL, w, LE_TYPE_Q4_K, 1, 128, x, 1, y, scratch), LE_EINVAL);
    assert_int_equal(le_matmul(NULL, w, 77, 1, 32, x, 1, y, scratch), LE_EUNSUP);
    assert_int_equal(le_matmul(NULL, w, LE_TYPE_Q8_0, 1, 33, x, 1, y, scratch), LE_EINVAL);
    assert_int_equal(le_matmul(NULL, w, LE_TYPE_F32, 1, 0, x, 1, y, scratch), LE_EINVAL);
    assert_int_equal(le_matmul(NULL, w, LE_TYPE_F32, -1, 8, x, 1, y, scratch), LE_EINVAL);
    assert_int_equal(le_matmul(NULL, w, LE_TYPE_Q8_0, 1, 32, x, 1, y, NULL), LE_EINVAL);
    assert_int_equal(le_matmul(NULL, w, LE_TYPE_F32, 1, 8, x, 0, y, NULL), LE_OK);
    assert_int_equal(le_matmul_scratch_size(16, 256, 1), 0);
    /* sized once for the largest batch, scratch serves every smaller one */
    for (size_t ti = 0; ti < LE_NT; ti++)
        for (int64_t n = 1; n < 40; n++)
            assert_true(le_matmul_scratch_size(le_types_under_test[ti], 256, n) <=
                        le_matmul_scratch_size(le_types_under_test[ti], 256, n + 1));
    assert_true(le_matmul_scratch_size(LE_TYPE_Q8_0, 256, 2) >= 2 * 272);
}

/* ---- oracle: llama.cpp's matmul outputs ---- */

/* Minimal GGUF walk: finds one tensor's type, ne and data. */
struct mini_gguf {
    const unsigned char *p, *end;
    int ok;
};
static uint64_t mg_u(struct mini_gguf *g, int n) {
    uint64_t v = 0;
    if (g->p + n > g->end) {
        g->ok = 0;
        return 0;
    }
    for (int i = 0; i < n; i++)
        v |= (uint64_t)g->p[i] << (8 * i);
    g->p += n;
    return v;
}
static void mg_skip(struct mini_gguf *g, uint64_t n) {
    if ((uint64_t)(g->end - g->p) < n) {
        g->ok = 0;
        g->p = g->end;
    } else {
        g->p += n;
    }
}
static void mg_skip_val(struct mini_gguf *g, uint32_t type) {
    static const int sz[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type > 12) {
        g->ok = 0;
        return;
    }
    if (type == 8) {
        mg_skip(g, mg_u(g, 8));
    } else if (type == 9) {
        uint32_t et = (uint32_t)mg_u(g, 4);
        uint64_t n = mg_u(g, 8);
        for (uint64_t i = 0; i < n && g->ok; i++)
            mg_skip_val(g, et);
    } else {
        mg_skip(g, (uint64_t)sz[type]);
    }
}

static const void *gguf_tensor(const unsigned char *file, size_t size, const char *name, int *type, int64_t ne[2]) {
    struct mini_gguf g = {file, file + size, 1};
    if (mg_u(&g, 4) != 0x46554747u) /* "GGUF" */
        return NULL;
    mg_u(&g, 4);
    uint64_t nt = mg_u(&g, 8), nkv = mg_u(&g, 8);
    for (uint64_t i = 0; i < nkv && g.ok; i++) {
        mg_skip(&g, mg_u(&g, 8));
        mg_skip_val(&g, (uint32_t)mg_u(&g, 4));
    }
    uint64_t off = UINT64_MAX;
    for (uint64_t i = 0; i < nt && g.ok; i++) {
        uint64_t len = mg_u(&g, 8);
        int match = g.p + len <= g.end && len == strlen(name) && memcmp(g.p, name, len) == 0;
        mg_skip(&g, len);
        uint32_t nd = (uint32_t)mg_u(&g, 4);
        int64_t d[4] = {1, 1, 1, 1};
        for (uint32_t k = 0; k < nd && k < 4; k++)
            d[k] = (int64_t)mg_u(&g, 8);
        uint32_t t = (uint32_t)mg_u(&g, 4);
        uint64_t o = mg_u(&g, 8);
        if (match) {
            *type = (int)t, ne[0] = d[0], ne[1] = d[1], off = o;
        }
    }
    if (!g.ok || off == UINT64_MAX)
        return NULL;
    size_t data = ((size_t)(g.p - file) + 31) / 32 * 32; /* alignment 32 (README 2.1) */
    if (data + off > size)
        return NULL;
    return file + data + off;
}

static void matmul_should_match_llama_cpp_kernels(void **state) {
    (void)state;
    if (!le_test_oracle()) {
        printf("skipped: ../shared/oracle is absent\n");
        skip();
    }
    static const char *models[] = {"f32",  "f16",  "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
                                   "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"};
    static const char *mms[] = {"attn_q", "ffn_down"};
    struct le_pool *pool = NULL;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        char path[4096], rel[256];
        snprintf(rel, sizeof rel, "models/oracle-a-%s.gguf", models[mi]);
        size_t fsize;
        unsigned char *file = le_test_read_file(le_test_oracle_path(path, sizeof path, rel), &fsize);
        assert_non_null(file);
        for (size_t k = 0; k < 2; k++) {
            char tname[64];
            snprintf(tname, sizeof tname, "blk.0.%s.weight", mms[k]);
            int type = -1;
            int64_t ne[2] = {0, 0};
            const void *W = gguf_tensor(file, fsize, tname, &type, ne);
            if (!W)
                fail_msg("%s: tensor %s not found", rel, tname);
            assert_int_equal(type, le_type_from_name(models[mi]));
            int64_t K = ne[0], rows = ne[1], N = 16;
            size_t nin, nout;
            snprintf(rel, sizeof rel, "kernels/oracle-a-%s.%s.in.f32", models[mi], mms[k]);
            float *in = le_test_read_file(le_test_oracle_path(path, sizeof path, rel), &nin);
            snprintf(rel, sizeof rel, "kernels/oracle-a-%s.%s.out.f32", models[mi], mms[k]);
            float *out = le_test_read_file(le_test_oracle_path(path, sizeof path, rel), &nout);
            assert_non_null(in);
            assert_non_null(out);
            assert_int_equal(nin, (size_t)(N * K) * 4);
            assert_int_equal(nout, (size_t)(N * rows) * 4);
            float *Y = malloc(nout);
            void *scratch = malloc(le_matmul_scratch_size(type, K, N) + 1);
            assert_int_equal(le_matmul(pool, W, type, rows, K, in, N, Y, scratch), LE_OK);
            double ss = 0, maxd = 0;
            for (int64_t i = 0; i < N * rows; i++) {
                ss += (double)out[i] * out[i];
                double d = fabs((double)Y[i] - out[i]);
                maxd = d > maxd ? d : maxd;
            }
            double rms = sqrt(ss / (double)(N * rows));
            printf("  %-5s %-8s max|d| %.3g (rms %.4f)\n", models[mi], mms[k], maxd, rms);
            if (maxd > 1e-5 * rms)
                fail_msg("%s %s: max |d| %.3g > 1e-5 x rms %.4f", models[mi], mms[k], maxd, rms);
            free(Y), free(scratch), free(in), free(out);
        }
        free(file);
    }
    le_pool_free(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matmul_should_match_naive_double_product),
        cmocka_unit_test(matmul_should_not_depend_on_threads_or_batching),
        cmocka_unit_test(k_quant_decode_should_equal_batch_for_any_block_bytes),
        cmocka_unit_test(matmul_should_reject_bad_arguments),
        cmocka_unit_test(matmul_should_match_llama_cpp_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
