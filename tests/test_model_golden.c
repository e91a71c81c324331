/*
 * test_model_golden: the engine against llama.cpp's own outputs in
 * ../shared/oracle (README sections 3 and 5): the logits of the 64-token
 * sentence for oracle-a in F32 (within 1e-4 of the F32-KV, no-flash-attention
 * run) and every other type of the oracle -- F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q2_K ... Q6_K -- (within 0.3, mean NLL within 0.01), 1 vs 2
 * threads bit-identical, and perplexity on ppl/text.txt at ctx 128 within
 * 0.01% (F32/F16/BF16) or 0.1% (quantized) of llama-perplexity, with the
 * running values (ppl/results.tsv, running.tsv). Skips with a message when
 * the oracle folder is absent.
 */
// ctest-labels: golden
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "le_err.h"
#include "le_model.h"
#include "le_pool.h"
#include "le_ppl.h"
#include "le_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TOK 64
#define N_VOCAB 512

static int read_ids(const char *rel, int32_t *ids, int cap) {
    char path[4096];
    le_test_oracle_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0, v;
    while (n < cap && fscanf(f, "%d", &v) == 1)
        ids[n++] = v;
    fclose(f);
    return n;
}

static float *read_f32(const char *rel, size_t count) {
    char path[4096];
    size_t n = 0;
    le_test_oracle_path(path, sizeof path, rel);
    float *p = le_test_read_file(path, &n);
    assert_non_null(p);
    assert_int_equal(n, count * sizeof(float));
    return p;
}

static float *engine_logits_kv(const char *model, const int32_t *tok, int nth, int kv_f16) {
    char path[4096], rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", model);
    le_test_oracle_path(path, sizeof path, rel);
    struct le_model *m;
    struct le_pool *pool;
    struct le_ctx *c;
    int rc = le_model_open(&m, path);
    if (rc)
        print_error("%s: %s\n", path, le_err_msg());
    assert_int_equal(rc, 0);
    assert_int_equal(le_pool_new(&pool, nth), 0);
    assert_int_equal(le_ctx_new(&c, m, 256, 64, pool), 0);
    le_ctx_set_kv_f16(c, kv_f16);
    assert_int_equal(le_ctx_eval(c, tok, N_TOK, 0, 1), 0);
    float *out = malloc(sizeof(float) * N_TOK * N_VOCAB);
    assert_non_null(out);
    memcpy(out, le_ctx_logits(c), sizeof(float) * N_TOK * N_VOCAB);
    le_ctx_free(c);
    le_pool_free(pool);
    le_model_free(m);
    return out;
}

static float *engine_logits(const char *model, const int32_t *tok, int nth) {
    return engine_logits_kv(model, tok, nth, 0);
}

static double mean_nll(const float *logits, const int32_t *tok) {
    double s = 0;
    for (int i = 0; i + 1 < N_TOK; i++) {
        const float *l = logits + i * N_VOCAB;
        double mx = l[0], z = 0;
        for (int v = 1; v < N_VOCAB; v++)
            mx = fmax(mx, l[v]);
        for (int v = 0; v < N_VOCAB; v++)
            z += exp(l[v] - mx);
        s += -(l[tok[i + 1]] - mx - log(z));
    }
    return s / (N_TOK - 1);
}

#define NEED_ORACLE()                                                                                        \
    do {                                                                                                     \
        if (!le_test_oracle()) {                                                                             \
            print_message("skipped: ../shared/oracle not found (set LE_ORACLE_DIR)\n");                     \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

static void logits_should_match_llamacpp_for_each_type(void **state) {
    (void)state;
    NEED_ORACLE();
    static const struct {
        const char *model;
        double max_abs, max_dnll;
    } cases[] = {
        {"oracle-a-f32", 1e-4, 1e-5},  {"oracle-a-f16", 0.3, 0.01},  {"oracle-a-bf16", 0.3, 0.01},
        {"oracle-a-q8_0", 0.3, 0.01},  {"oracle-a-q4_0", 0.3, 0.01},  {"oracle-a-q4_1", 0.3, 0.01},
        {"oracle-a-q5_0", 0.3, 0.01},  {"oracle-a-q5_1", 0.3, 0.01},  {"oracle-a-q2_k", 0.3, 0.01},
        {"oracle-a-q3_k", 0.3, 0.01},  {"oracle-a-q4_k", 0.3, 0.01},  {"oracle-a-q5_k", 0.3, 0.01},
        {"oracle-a-q6_k", 0.3, 0.01},
    };
    int32_t tok[N_TOK];
    assert_int_equal(read_ids("logits/tokens.txt", tok, N_TOK), N_TOK);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char rel[256];
        snprintf(rel, sizeof rel, "logits/%s.kvf32-nofa.logits.f32", cases[k].model);
        float *want = read_f32(rel, N_TOK * N_VOCAB);
        float *got = engine_logits(cases[k].model, tok, 1);
        float *got2 = engine_logits(cases[k].model, tok, 2);
        assert_memory_equal(got, got2, sizeof(float) * N_TOK * N_VOCAB);
        double mx = 0, ss = 0;
        for (int i = 0; i < N_TOK * N_VOCAB; i++) {
            double d = fabs((double)got[i] - want[i]);
            mx = fmax(mx, d);
            ss += d * d;
        }
        double nll_got = mean_nll(got, tok), nll_want = mean_nll(want, tok);
        print_message("%-14s vs kvf32-nofa: max |d| %.3g, rms %.3g; mean NLL %.6f vs %.6f\n", cases[k].model, mx,
                      sqrt(ss / (N_TOK * N_VOCAB)), nll_got, nll_want);
        assert_true(mx <= cases[k].max_abs);
        assert_true(fabs(nll_got - nll_want) <= cases[k].max_dnll);
        free(want);
        free(got);
        free(got2);
    }
}

/* llama.cpp's default context (F16 KV cache, flash attention) against the
 * engine with its cache rounded to F16: README 3.4 suggests 5e-3 for F32. */
static void logits_with_f16_cache_should_match_llamacpp_default(void **state) {
    (void)state;
    NEED_ORACLE();
    int32_t tok[N_TOK];
    assert_int_equal(read_ids("logits/tokens.txt", tok, N_TOK), N_TOK);
    float *want = read_f32("logits/oracle-a-f32.logits.f32", N_TOK * N_VOCAB);
    float *got = engine_logits_kv("oracle-a-f32", tok, 2, 1);
    double mx = 0;
    for (int i = 0; i < N_TOK * N_VOCAB; i++)
        mx = fmax(mx, fabs((double)got[i] - want[i]));
    print_message("oracle-a-f32, F16 cache vs llama.cpp default: max |d| %.3g\n", mx);
    assert_true(mx <= 5e-3);
    free(want);
    free(got);
}

struct running {
    double want[128], tol;
    int n, bad;
};

static int check_running(void *ud, int chunk, int n_chunks, double running) {
    (void)n_chunks;
    struct running *r = ud;
    if (chunk <= r->n && fabs(running - r->want[chunk - 1]) > r->tol * r->want[chunk - 1])
        r->bad++;
    return 0;
}

/* Reads the running values of model from ppl/running.tsv. */
static int read_running(const char *model, double *out, int cap) {
    char path[4096], line[256], name[128];
    le_test_oracle_path(path, sizeof path, "ppl/running.tsv");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0, ctx, chunk;
    double v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s %d %d %lf", name, &ctx, &chunk, &v) == 4 && !strcmp(name, model) && chunk <= cap)
            out[n++] = v;
    fclose(f);
    return n;
}

static void ppl_should_match_llama_perplexity(void **state) {
    (void)state;
    NEED_ORACLE();
    static const struct {
        const char *model;
        double ppl, err, rel_tol;
    } cases[] = {
        {"oracle-a-f32", 60.9211, 1.49936, 1e-4},  {"oracle-a-f16", 60.9212, 1.49937, 1e-4},
        {"oracle-a-bf16", 60.9414, 1.50015, 1e-4}, {"oracle-a-q8_0", 60.9368, 1.49939, 1e-3},
        {"oracle-a-q4_0", 63.0167, 1.56105, 1e-3}, {"oracle-a-q4_1", 62.7608, 1.55836, 1e-3},
        {"oracle-a-q5_0", 61.5114, 1.51309, 1e-3}, {"oracle-a-q5_1", 61.4712, 1.51345, 1e-3},
        {"oracle-a-q2_k", 89.4109, 2.24837, 1e-3}, {"oracle-a-q3_k", 66.2874, 1.63621, 1e-3},
        {"oracle-a-q4_k", 61.9013, 1.53045, 1e-3}, {"oracle-a-q5_k", 61.1632, 1.50216, 1e-3},
        {"oracle-a-q6_k", 60.9791, 1.50132, 1e-3},
    };
    static int32_t ids[16384];
    int n = read_ids("ppl/text.oracle-a.tokens", ids, 16384);
    assert_int_equal(n, 10153);
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 0), 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[4096], rel[256];
        snprintf(rel, sizeof rel, "models/%s.gguf", cases[k].model);
        le_test_oracle_path(path, sizeof path, rel);
        struct le_model *m;
        struct le_ctx *c;
        assert_int_equal(le_model_open(&m, path), 0);
        assert_int_equal(le_ctx_new(&c, m, 128, 128, pool), 0);
        le_ctx_set_kv_f16(c, 1); /* results.tsv is llama.cpp's default context: F16 KV cache */
        /* Running values: early chunks average few tokens, so allow 10x. */
        struct running run = {.tol = 10 * cases[k].rel_tol};
        run.n = read_running(cases[k].model, run.want, 128);
        assert_int_equal(run.n, 79);
        struct le_ppl_result r;
        assert_int_equal(le_ppl_llamacpp(c, ids, n, 128, 1, check_running, &run, &r), 0);
        print_message("%-14s PPL = %.4f +/- %.5f (llama.cpp %.4f +/- %.5f), rel diff %.2g\n", cases[k].model, r.ppl,
                      r.ppl_stderr, cases[k].ppl, cases[k].err, fabs(r.ppl / cases[k].ppl - 1));
        assert_int_equal(r.n_chunks, 79);
        assert_int_equal(r.n_scored, 4977);
        assert_true(fabs(r.ppl / cases[k].ppl - 1) <= cases[k].rel_tol);
        assert_true(fabs(r.ppl_stderr / cases[k].err - 1) <= 10 * cases[k].rel_tol);
        assert_int_equal(run.bad, 0);
        le_ctx_free(c);
        le_model_free(m);
    }
    le_pool_free(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(logits_should_match_llamacpp_for_each_type),
        cmocka_unit_test(logits_with_f16_cache_should_match_llamacpp_default),
        cmocka_unit_test(ppl_should_match_llama_perplexity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
