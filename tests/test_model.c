/*
 * test_model: the engine's forward pass (engine/model/model.c, forward.c) against
 * the naive double-precision reference (tests/le_refmodel.c) on generated
 * models of several shapes -- GQA and not, tied and untied output, rope
 * scaling -- for every weight type; logits bit-identical across thread counts
 * and batchings; clear errors for missing keys/tensors, unsupported types and
 * bad eval arguments; the info/tokenize/ppl commands on a generated model.
 * The llama.cpp oracle comparisons are in test_model_golden.c.
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
#include "le_model.h"
#include "le_pool.h"
#include "le_ppl.h"
#include "le_refmodel.h"
#include "le_test.h"
#include "le_tok.h"
#include "le_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes cfg to <tmp>/<name>.gguf and returns the path (static buffer per call site use). */
static const char *gen(const char *name, const struct le_genmodel_cfg *cfg, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s.gguf", le_test_dir(), name);
    int rc = le_genmodel_write(buf, cfg);
    if (rc)
        print_error("genmodel %s: %s\n", name, le_err_msg());
    assert_int_equal(rc, 0);
    return buf;
}

static void random_tokens(int32_t *t, int n, int n_vocab, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (int32_t)((seed >> 33) % (uint64_t)n_vocab);
    }
}

/* Engine logits for tokens (one batch) with a pool of nth threads. */
/* All n rows of logits, evaluated at once, or (one_by_one) one token per
 * call: single-token decode. */
static float *engine_logits_by(const char *path, const int32_t *tok, int n, int nth, int one_by_one) {
    struct le_model *m;
    struct le_pool *pool;
    struct le_ctx *c;
    int rc = le_model_open(&m, path);
    if (rc)
        print_error("open %s: %s\n", path, le_err_msg());
    assert_int_equal(rc, 0);
    assert_int_equal(le_pool_new(&pool, nth), 0);
    assert_int_equal(le_ctx_new(&c, m, n, n, pool), 0);
    int64_t V = le_model_get_info(m)->n_vocab;
    float *out = malloc(sizeof(float) * (size_t)(n * V));
    assert_non_null(out);
    if (one_by_one) {
        for (int i = 0; i < n; i++) {
            assert_int_equal(le_ctx_eval(c, tok + i, 1, i, 1), 0);
            memcpy(out + (int64_t)i * V, le_ctx_logits(c), sizeof(float) * (size_t)V);
        }
    } else {
        assert_int_equal(le_ctx_eval(c, tok, n, 0, 1), 0);
        memcpy(out, le_ctx_logits(c), sizeof(float) * (size_t)(n * V));
    }
    le_ctx_free(c);
    le_pool_free(pool);
    le_model_free(m);
    return out;
}

static float *engine_logits(const char *path, const int32_t *tok, int n, int nth) {
    return engine_logits_by(path, tok, n, nth, 0);
}

/* max over rows of max|engine - ref| / max|ref row| */
static double compare_ref(const char *path, int n, uint64_t seed, double *max_abs) {
    struct le_refmodel *r;
    int rc = le_refmodel_open(&r, path);
    if (rc)
        print_error("refmodel %s: %s\n", path, le_err_msg());
    assert_int_equal(rc, 0);
    int V = le_refmodel_n_vocab(r);
    int32_t tok[64];
    random_tokens(tok, n, V, seed);
    double *ref = malloc(sizeof(double) * (size_t)n * V);
    assert_non_null(ref);
    assert_int_equal(le_refmodel_forward(r, tok, n, ref), 0);
    float *eng = engine_logits(path, tok, n, 2);
    double worst = 0, worst_abs = 0;
    for (int i = 0; i < n; i++) {
        double scale = 0, d = 0;
        for (int v = 0; v < V; v++) {
            scale = fmax(scale, fabs(ref[(int64_t)i * V + v]));
            d = fmax(d, fabs(ref[(int64_t)i * V + v] - eng[(int64_t)i * V + v]));
        }
        worst = fmax(worst, d / scale);
        worst_abs = fmax(worst_abs, d);
    }
    free(ref);
    free(eng);
    le_refmodel_free(r);
    if (max_abs)
        *max_abs = worst_abs;
    return worst;
}

struct shape_case {
    const char *name;
    struct le_genmodel_cfg cfg;
};

static const struct shape_case shapes[] = {
    {"mha-untied", {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 4, .ffn = 96, .n_vocab = 80, .n_ctx = 64, .seed = 1}},
    {"gqa-tied", {.dim = 64, .n_layers = 2, .n_heads = 8, .n_kv_heads = 2, .ffn = 128, .n_vocab = 300, .n_ctx = 64, .tied = 1, .seed = 2}},
    {"gqa-untied-rope", {.dim = 96, .n_layers = 3, .n_heads = 6, .n_kv_heads = 3, .ffn = 160, .n_vocab = 50, .n_ctx = 64,
                         .seed = 3, .rope_base = 500000.0f, .eps = 1e-6f, .rope_scale = 4.0f}},
    {"mqa-1layer", {.dim = 64, .n_layers = 1, .n_heads = 8, .n_kv_heads = 1, .ffn = 64, .n_vocab = 40, .n_ctx = 64, .tied = 1, .seed = 4}},
    {"gqa3-hd12", {.dim = 72, .n_layers = 2, .n_heads = 6, .n_kv_heads = 2, .ffn = 96, .n_vocab = 64, .n_ctx = 64, .seed = 5}},
};

/* The scalar reference kernels give the same logits up to float rounding. */
static void scalar_kernels_should_match_simd_kernels(void **state) {
    (void)state;
    char path[4096];
    for (int sh = 2; sh <= 4; sh++) {
        gen("scalar", &shapes[sh].cfg, path, sizeof path);
        struct le_model *m;
        struct le_ctx *a, *b;
        assert_int_equal(le_model_open(&m, path), 0);
        assert_int_equal(le_ctx_new(&a, m, 48, 48, NULL), 0);
        assert_int_equal(le_ctx_new(&b, m, 48, 48, NULL), 0);
        le_ctx_set_ref_kernels(b, 1);
        int32_t tok[48];
        random_tokens(tok, 48, shapes[sh].cfg.n_vocab, 11);
        assert_int_equal(le_ctx_eval(a, tok, 48, 0, 1), 0);
        assert_int_equal(le_ctx_eval(b, tok, 20, 0, 1), 0);
        assert_int_equal(le_ctx_eval(b, tok + 20, 28, 20, 1), 0);
        int64_t V = shapes[sh].cfg.n_vocab;
        double scale = 0, d = 0;
        for (int64_t i = 0; i < 28 * V; i++) {
            scale = fmax(scale, fabs(le_ctx_logits(a)[20 * V + i]));
            d = fmax(d, fabs(le_ctx_logits(a)[20 * V + i] - le_ctx_logits(b)[i]));
        }
        print_message("%-16s scalar vs SIMD kernels: max rel diff %.3g\n", shapes[sh].name, d / scale);
        assert_true(d <= 1e-5 * scale);
        le_ctx_free(a);
        le_ctx_free(b);
        le_model_free(m);
    }
}

static void forward_should_match_reference_for_f32(void **state) {
    (void)state;
    char path[4096];
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        gen(shapes[i].name, &shapes[i].cfg, path, sizeof path);
        double abs_err;
        double rel = compare_ref(path, 40, 100 + i, &abs_err);
        print_message("f32 %-16s max rel err %.3g (abs %.3g)\n", shapes[i].name, rel, abs_err);
        assert_true(rel <= 1e-5);
    }
}

/* Per-type tolerances on max|engine - ref| / max|ref|: the engine rounds
 * activations to the vec_dot type, the reference does not. */
static void forward_should_match_reference_for_each_type(void **state) {
    (void)state;
    static const struct {
        int type;
        double tol;
    } types[] = {{LE_TYPE_F16, 2e-3}, {LE_TYPE_BF16, 2e-2}, {LE_TYPE_Q8_0, 3e-2}, {LE_TYPE_Q4_0, 6e-2}};
    char path[4096], name[64];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int s = 0; s < 2; s++) {
            struct le_genmodel_cfg cfg = shapes[s].cfg;
            cfg.wtype = types[t].type;
            snprintf(name, sizeof name, "%s-%s", shapes[s].name, le_type_name(types[t].type));
            gen(name, &cfg, path, sizeof path);
            double abs_err;
            double rel = compare_ref(path, 32, 7 + s, &abs_err);
            print_message("%-5s %-16s max rel err %.3g (abs %.3g), tolerance %.1g\n", le_type_name(types[t].type),
                          shapes[s].name, rel, abs_err, types[t].tol);
            assert_true(rel <= types[t].tol);
        }
    }
}

/* K-quants need rows that are multiples of 256. */
#define LE_QK_K_TEST 256
static const struct shape_case kshape = {
    "k256-gqa", {.dim = 256, .n_layers = 2, .n_heads = 8, .n_kv_heads = 4, .ffn = 512, .n_vocab = 320, .n_ctx = 64, .seed = 6}};

static void forward_should_match_reference_for_k_quants(void **state) {
    (void)state;
    static const struct {
        int type;
        double tol;
    } types[] = {{LE_TYPE_Q2_K, 4e-2}, {LE_TYPE_Q3_K, 4e-2}, {LE_TYPE_Q4_K, 4e-2}, {LE_TYPE_Q5_K, 4e-2},
                 {LE_TYPE_Q6_K, 4e-2}};
    char path[4096], name[64];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        struct le_genmodel_cfg cfg = kshape.cfg;
        cfg.wtype = types[t].type;
        snprintf(name, sizeof name, "%s-%s", kshape.name, le_type_name(types[t].type));
        gen(name, &cfg, path, sizeof path);
        double abs_err;
        double rel = compare_ref(path, 32, 17, &abs_err);
        print_message("%-5s %-16s max rel err %.3g (abs %.3g), tolerance %.1g\n", le_type_name(types[t].type),
                      kshape.name, rel, abs_err, types[t].tol);
        assert_true(rel <= types[t].tol);
    }
}

/* llama-quantize's Q4_0 of a tied model stores token_embd as Q6_K: such a
 * mixed file loads, reports Q4_0 as its main type and computes correctly. */
static void mixed_q4_0_file_with_q6_k_embeddings_should_load(void **state) {
    (void)state;
    char path[4096];
    struct le_genmodel_cfg cfg = kshape.cfg;
    cfg.tied = 1;
    cfg.wtype = LE_TYPE_Q4_0;
    cfg.embd_type = LE_TYPE_Q6_K;
    gen("mixed-q4_0-q6_k", &cfg, path, sizeof path);
    struct le_model *m;
    assert_int_equal(le_model_open(&m, path), 0);
    assert_int_equal(le_model_get_info(m)->main_type, LE_TYPE_Q4_0);
    assert_int_equal(le_model_get_info(m)->tied, 1);
    le_model_free(m);
    double abs_err, rel = compare_ref(path, 32, 23, &abs_err);
    print_message("q4_0 + q6_K embeddings: max rel err %.3g (abs %.3g)\n", rel, abs_err);
    assert_true(rel <= 6e-2);
}

/* ... and evaluated one token at a time (decode) with 1, 2 and 3 threads. */
static void logits_should_be_identical_for_1_2_and_3_threads(void **state) {
    (void)state;
    char path[4096];
    static const int types[] = {LE_TYPE_F32,  LE_TYPE_Q8_0, LE_TYPE_Q4_0, LE_TYPE_F16, LE_TYPE_Q2_K,
                                LE_TYPE_Q3_K, LE_TYPE_Q4_K, LE_TYPE_Q5_K, LE_TYPE_Q6_K};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        struct le_genmodel_cfg cfg = le_type_get(types[t])->blck_size == LE_QK_K_TEST ? kshape.cfg : shapes[1].cfg;
        cfg.wtype = types[t];
        gen("threads", &cfg, path, sizeof path);
        int32_t tok[48];
        random_tokens(tok, 48, cfg.n_vocab, 99);
        float *a = engine_logits(path, tok, 48, 1);
        float *b = engine_logits(path, tok, 48, 2);
        float *c = engine_logits(path, tok, 48, 3);
        size_t bytes = sizeof(float) * 48 * (size_t)cfg.n_vocab;
        assert_memory_equal(a, b, bytes);
        assert_memory_equal(a, c, bytes);
        /* single-token decode (its own path: fewer barriers, per-thread
         * norms and conversions) gives the same rows, 1, 2 and 3 threads */
        for (int nth = 1; nth <= 3; nth++) {
            float *d = engine_logits_by(path, tok, 48, nth, 1);
            assert_memory_equal(a, d, bytes);
            free(d);
        }
        free(a);
        free(b);
        free(c);
    }
}

/* Evaluates tok in pieces of the given sizes (continuing the cache) and
 * returns all logits rows. */
static float *eval_pieces(struct le_ctx *c, const int32_t *tok, int n, const int *sizes, int64_t V) {
    float *out = malloc(sizeof(float) * (size_t)(n * V));
    assert_non_null(out);
    int pos = 0;
    for (int k = 0; pos < n; k++) {
        int len = sizes[k] < n - pos ? sizes[k] : n - pos;
        assert_int_equal(le_ctx_eval(c, tok + pos, len, pos, 1), 0);
        memcpy(out + (int64_t)pos * V, le_ctx_logits(c), sizeof(float) * (size_t)(len * V));
        pos += len;
    }
    return out;
}

static void logits_should_not_depend_on_batching(void **state) {
    (void)state;
    char path[4096];
    static const struct {
        int shape, type, kv_f16;
    } cases[] = {{2, LE_TYPE_F32, 0}, {2, LE_TYPE_Q4_0, 1}, {4, LE_TYPE_F32, 0}, {3, LE_TYPE_F32, 1}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        struct le_genmodel_cfg cfg = shapes[cases[t].shape].cfg;
        cfg.wtype = cases[t].type;
        gen("batching", &cfg, path, sizeof path);
        struct le_model *m;
        struct le_pool *pool;
        struct le_ctx *c;
        assert_int_equal(le_model_open(&m, path), 0);
        assert_int_equal(le_pool_new(&pool, 2), 0);
        assert_int_equal(le_ctx_new(&c, m, 64, 64, pool), 0);
        le_ctx_set_kv_f16(c, cases[t].kv_f16); /* the F16-rounded cache must be batch-invariant too */
        int64_t V = cfg.n_vocab;
        int32_t tok[64];
        random_tokens(tok, 64, (int)V, 5);
        static const int whole[] = {64}, ones[64] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        static const int mixed[] = {5, 7, 1, 30, 2, 19};
        float *a = eval_pieces(c, tok, 64, whole, V);
        float *b = eval_pieces(c, tok, 64, ones, V);
        float *d = eval_pieces(c, tok, 64, mixed, V);
        size_t bytes = sizeof(float) * 64 * (size_t)V;
        assert_memory_equal(a, b, bytes);
        assert_memory_equal(a, d, bytes);
        /* A shared prefix evaluated once, then a different continuation from position 40. */
        int32_t alt[24];
        random_tokens(alt, 24, (int)V, 77);
        assert_int_equal(le_ctx_eval(c, tok, 40, 0, 0), 0);
        assert_int_equal(le_ctx_eval(c, alt, 24, 40, 1), 0);
        float *e = malloc(bytes);
        assert_non_null(e);
        memcpy(e, le_ctx_logits(c), sizeof(float) * 24 * (size_t)V);
        int32_t full[64];
        memcpy(full, tok, 40 * sizeof *full);
        memcpy(full + 40, alt, 24 * sizeof *full);
        assert_int_equal(le_ctx_eval(c, full, 64, 0, 1), 0);
        assert_memory_equal(e, le_ctx_logits(c) + 40 * V, sizeof(float) * 24 * (size_t)V);
        /* Logits of only the last rows equal the full evaluation's. */
        assert_int_equal(le_ctx_eval_from(c, tok, 64, 0, 50), 0);
        assert_memory_equal(le_ctx_logits(c) + 50 * V, a + 50 * V, sizeof(float) * 14 * (size_t)V);
        assert_int_equal(le_ctx_n_cached(c), 64);
        free(a);
        free(b);
        free(d);
        free(e);
        le_ctx_free(c);
        le_pool_free(pool);
        le_model_free(m);
    }
}

/* Batched decode across sequences (le_ctx_decode_batch): each row's logits
 * are bit-identical to decoding that sequence alone, whatever the other
 * rows are, their order, or how many there are; for GQA and MQA shapes,
 * float and quantized weights, the F16-rounded cache, 1 and 2 threads. */
static void batched_decode_should_equal_decoding_each_sequence_alone(void **state) {
    (void)state;
    char path[4096];
    static const struct {
        int shape, type, kv_f16, nth;
    } cases[] = {{1, LE_TYPE_Q4_0, 0, 2}, {2, LE_TYPE_Q4_0, 1, 2}, {3, LE_TYPE_Q8_0, 0, 1}, {4, LE_TYPE_F32, 0, 2}};
    enum { NS = 3, STEPS = 5 };
    static const int plen[NS] = {5, 17, 1};
    /* sequences decoded per step, in this order (subsets, reordered) */
    static const int steps[STEPS][NS + 1] = {{3, 0, 1, 2}, {3, 2, 0, 1}, {1, 1}, {2, 2, 0}, {3, 1, 2, 0}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        struct le_genmodel_cfg cfg = shapes[cases[t].shape].cfg;
        cfg.wtype = cases[t].type;
        gen("decode_batch", &cfg, path, sizeof path);
        struct le_model *m;
        struct le_pool *pool;
        assert_int_equal(le_model_open(&m, path), 0);
        assert_int_equal(le_pool_new(&pool, cases[t].nth), 0);
        int64_t V = cfg.n_vocab;
        struct le_ctx *bc[NS], *alone[NS];
        int32_t prompt[NS][32], next[STEPS][NS];
        for (int i = 0; i < NS; i++) {
            random_tokens(prompt[i], plen[i], (int)V, 10 + (uint64_t)i);
            assert_int_equal(le_ctx_new(&bc[i], m, 32, 4, pool), 0);
            assert_int_equal(le_ctx_new(&alone[i], m, 32, 32, pool), 0);
            le_ctx_set_kv_f16(bc[i], cases[t].kv_f16);
            le_ctx_set_kv_f16(alone[i], cases[t].kv_f16);
            for (int p = 0; p < plen[i]; p += 4) /* bc's batch is 4 */
                assert_int_equal(le_ctx_eval(bc[i], prompt[i] + p, plen[i] - p < 4 ? plen[i] - p : 4, p, 0), 0);
            assert_int_equal(le_ctx_eval(alone[i], prompt[i], plen[i], 0, 0), 0);
        }
        for (int k = 0; k < STEPS; k++)
            random_tokens(next[k], NS, (int)V, 100 + (uint64_t)k);
        for (int k = 0; k < STEPS; k++) {
            int n = steps[k][0];
            struct le_ctx *cs[NS];
            int32_t tok[NS];
            for (int i = 0; i < n; i++) {
                int q = steps[k][1 + i];
                cs[i] = bc[q];
                tok[i] = next[k][q];
            }
            assert_int_equal(le_ctx_decode_batch(cs, tok, n), 0);
            for (int i = 0; i < n; i++) {
                int q = steps[k][1 + i];
                int pos = le_ctx_n_cached(alone[q]);
                assert_int_equal(le_ctx_eval(alone[q], &tok[i], 1, pos, 1), 0);
                assert_int_equal(le_ctx_n_cached(bc[q]), pos + 1);
                assert_memory_equal(le_ctx_logits(cs[0]) + i * V, le_ctx_logits(alone[q]), sizeof(float) * (size_t)V);
            }
        }
        /* the same context twice, or more rows than cs[0]'s batch, is refused */
        struct le_ctx *dup[2] = {bc[0], bc[0]};
        int32_t two[2] = {0, 0};
        assert_int_equal(le_ctx_decode_batch(dup, two, 2), LE_EINVAL);
        for (int i = 0; i < NS; i++) {
            le_ctx_free(bc[i]);
            le_ctx_free(alone[i]);
        }
        le_pool_free(pool);
        le_model_free(m);
    }
}

static void info_should_report_shape_and_parameters(void **state) {
    (void)state;
    char path[4096];
    gen("info", &shapes[1].cfg, path, sizeof path);
    struct le_model *m;
    assert_int_equal(le_model_open(&m, path), 0);
    const struct le_model_info *in = le_model_get_info(m);
    assert_string_equal(in->arch, "llama");
    assert_string_equal(in->name, "genmodel");
    assert_int_equal(in->dim, 64);
    assert_int_equal(in->n_layers, 2);
    assert_int_equal(in->n_heads, 8);
    assert_int_equal(in->n_kv_heads, 2);
    assert_int_equal(in->head_dim, 8);
    assert_int_equal(in->ffn, 128);
    assert_int_equal(in->n_vocab, 300);
    assert_int_equal(in->ctx_train, 64);
    assert_int_equal(in->tied, 1);
    assert_int_equal(in->ftype, 0);
    assert_int_equal(in->main_type, LE_TYPE_F32);
    assert_true(fabsf(in->eps - 1e-5f) < 1e-12f);
    assert_true(in->rope_base == 10000.0f && in->rope_scale == 1.0f);
    /* per layer: 2 norms + q, o (64x64) + k, v (16x64) + 3 ffn (64x128) */
    int64_t per_layer = 2 * 64 + 2 * 64 * 64 + 2 * 16 * 64 + 3 * 64 * 128;
    assert_int_equal(in->n_params, 300 * 64 + 2 * per_layer + 64);
    assert_int_equal(in->n_params_nonembed, 2 * per_layer + 64);
    assert_non_null(le_model_tok(m));
    assert_int_equal(le_tok_n_vocab(le_model_tok(m)), 300);
    le_model_free(m);

    gen("info-scaled", &shapes[2].cfg, path, sizeof path);
    assert_int_equal(le_model_open(&m, path), 0);
    in = le_model_get_info(m);
    assert_true(in->rope_scale == 4.0f && in->rope_base == 500000.0f && in->tied == 0);
    assert_null(le_model_tok(m)); /* vocab 50: no tokenizer written */
    le_model_free(m);
}

static void open_should_name_a_missing_key_or_tensor(void **state) {
    (void)state;
    char path[4096];
    static const char *const keys[] = {"llama.embedding_length", "llama.block_count", "llama.attention.head_count",
                                       "llama.feed_forward_length", "llama.attention.layer_norm_rms_epsilon",
                                       "llama.context_length", "general.architecture"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct le_genmodel_cfg cfg = shapes[0].cfg;
        cfg.omit_key = keys[i];
        gen("nokey", &cfg, path, sizeof path);
        struct le_model *m = (void *)1;
        assert_int_equal(le_model_open(&m, path), LE_EFORMAT);
        assert_null(m);
        assert_non_null(strstr(le_err_msg(), keys[i]));
    }
    static const char *const tensors[] = {"token_embd.weight", "blk.1.ffn_down.weight", "output_norm.weight",
                                          "blk.0.attn_norm.weight"};
    for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) {
        struct le_genmodel_cfg cfg = shapes[0].cfg;
        cfg.omit_tensor = tensors[i];
        gen("notensor", &cfg, path, sizeof path);
        struct le_model *m;
        assert_int_equal(le_model_open(&m, path), LE_EFORMAT);
        assert_non_null(strstr(le_err_msg(), tensors[i]));
    }
    /* Missing output.weight is not an error: it means tied. */
    struct le_genmodel_cfg cfg = shapes[0].cfg;
    cfg.omit_tensor = "output.weight";
    gen("tied-by-omission", &cfg, path, sizeof path);
    struct le_model *m;
    assert_int_equal(le_model_open(&m, path), 0);
    assert_int_equal(le_model_get_info(m)->tied, 1);
    le_model_free(m);
}

/* A type ggml has and this engine does not (IQ4_NL): a generated model
 * copied with token_embd's bytes relabelled (zeros of the right size). */
static void open_should_reject_unsupported_types_by_name(void **state) {
    (void)state;
    char src[4096], path[4096];
    gen("unsupported-src", &shapes[0].cfg, src, sizeof src);
    snprintf(path, sizeof path, "%s/unsupported.gguf", le_test_dir());
    struct le_gguf *g;
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_open(&g, src), 0);
    assert_int_equal(le_gguf_writer_new(&w), 0);
    for (int64_t i = 0; i < le_gguf_n_kv(g); i++)
        assert_int_equal(le_gguf_writer_copy_kv(w, g, i), 0);
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        int iq4_nl = !strcmp(t->name, "token_embd.weight");
        void *zeros = iq4_nl ? calloc(1, le_type_row_size(20, t->ne[0]) * (size_t)t->ne[1]) : NULL;
        assert_int_equal(le_gguf_add_tensor(w, t->name, iq4_nl ? 20 : t->type, t->n_dims, t->ne,
                                            iq4_nl ? zeros : t->data),
                         0);
        free(zeros);
    }
    assert_int_equal(le_gguf_write(w, path), 0);
    le_gguf_writer_free(w);
    le_gguf_close(g);
    struct le_model *m;
    assert_int_equal(le_model_open(&m, path), LE_EUNSUP);
    assert_non_null(strstr(le_err_msg(), "token_embd.weight"));
    assert_non_null(strstr(le_err_msg(), "iq4_nl"));
}

/* Issue 12, defect 9: llama.expert_count of the wrong type or out of range
 * was ignored; it is refused like the other keys. A generated model copied
 * with the key added. */
static int open_with_expert_count(int type, const void *val, const char *tag) {
    char src[4096], path[4096];
    gen("experts-src", &shapes[0].cfg, src, sizeof src);
    snprintf(path, sizeof path, "%s/experts-%s.gguf", le_test_dir(), tag);
    struct le_gguf *g;
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_open(&g, src), 0);
    assert_int_equal(le_gguf_writer_new(&w), 0);
    for (int64_t i = 0; i < le_gguf_n_kv(g); i++)
        assert_int_equal(le_gguf_writer_copy_kv(w, g, i), 0);
    if (type == LE_GGUF_STRING)
        assert_int_equal(le_gguf_set_str(w, "llama.expert_count", val), 0);
    else
        assert_int_equal(le_gguf_set_val(w, "llama.expert_count", type, val), 0);
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        assert_int_equal(le_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), 0);
    }
    assert_int_equal(le_gguf_write(w, path), 0);
    le_gguf_writer_free(w);
    le_gguf_close(g);
    struct le_model *m = NULL;
    int rc = le_model_open(&m, path);
    le_model_free(m);
    return rc;
}

static void open_should_refuse_bad_expert_count(void **state) {
    (void)state;
    int32_t neg = -1;
    uint32_t huge = 1u << 30, eight = 8, zero = 0;
    float f = 2.0f;
    assert_int_equal(open_with_expert_count(LE_GGUF_STRING, "8", "str"), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "llama.expert_count"));
    assert_int_equal(open_with_expert_count(LE_GGUF_I32, &neg, "neg"), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "llama.expert_count = -1 is out of range"));
    assert_int_equal(open_with_expert_count(LE_GGUF_U32, &huge, "huge"), LE_EFORMAT);
    assert_int_equal(open_with_expert_count(LE_GGUF_F32, &f, "f32"), LE_EFORMAT);
    assert_int_equal(open_with_expert_count(LE_GGUF_U32, &eight, "moe"), LE_EUNSUP);
    assert_int_equal(open_with_expert_count(LE_GGUF_U32, &zero, "dense"), LE_OK);
}

static void eval_should_reject_bad_arguments(void **state) {
    (void)state;
    char path[4096];
    gen("args", &shapes[0].cfg, path, sizeof path);
    struct le_model *m;
    struct le_ctx *c;
    assert_int_equal(le_model_open(&m, path), 0);
    assert_int_equal(le_ctx_new(&c, m, 16, 8, NULL), 0);
    int32_t tok[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    assert_int_equal(le_ctx_eval(c, tok, 9, 0, 1), LE_EINVAL);  /* > n_batch */
    assert_int_equal(le_ctx_eval(c, tok, 0, 0, 1), LE_EINVAL);  /* empty */
    assert_int_equal(le_ctx_eval(c, tok, 4, 1, 1), LE_EINVAL);  /* gap: nothing cached */
    assert_int_equal(le_ctx_eval(c, tok, 8, 0, 1), 0);
    assert_int_equal(le_ctx_eval(c, tok, 8, 8, 1), 0);
    assert_int_equal(le_ctx_eval(c, tok, 1, 16, 1), LE_EINVAL); /* past n_ctx */
    int32_t bad[2] = {3, 80};
    assert_int_equal(le_ctx_eval(c, bad, 2, 0, 1), LE_EINVAL);  /* id == n_vocab */
    bad[1] = -1;
    assert_int_equal(le_ctx_eval(c, bad, 2, 0, 1), LE_EINVAL);
    assert_int_equal(le_ctx_eval_from(c, tok, 4, 0, 5), LE_EINVAL);
    struct le_ctx *c2 = (void *)1;
    assert_int_equal(le_ctx_new(&c2, m, 0, 8, NULL), LE_EINVAL);
    assert_null(c2);
    le_ctx_free(c);
    le_model_free(m);
}

/* ---- perplexity (tasks/ppl.c) ---- */

static int count_chunks(void *ud, int chunk, int n_chunks, double running) {
    int *calls = ud;
    (*calls)++;
    assert_int_equal(chunk, *calls);
    assert_int_equal(n_chunks, 6);
    assert_true(running > 1);
    return *calls == 3 ? calls[1] : 0; /* calls[1]: cancel at chunk 3 when set */
}

static void ppl_should_follow_the_llamacpp_convention(void **state) {
    (void)state;
    char path[4096];
    gen("ppl", &shapes[0].cfg, path, sizeof path);
    struct le_model *m;
    struct le_ctx *c;
    assert_int_equal(le_model_open(&m, path), 0);
    assert_int_equal(le_ctx_new(&c, m, 32, 8, NULL), 0); /* batch 8: a chunk takes 4 evals */
    int32_t tok[200];
    random_tokens(tok, 200, 80, 3);
    /* By hand: 6 chunks of 32, BOS (1) first, logits 16 .. 30 score tokens 17 .. 31. */
    double sum = 0, sumsq = 0;
    int64_t count = 0;
    struct le_ctx *full;
    assert_int_equal(le_ctx_new(&full, m, 32, 32, NULL), 0);
    for (int ch = 0; ch < 6; ch++) {
        int32_t chunk[32];
        memcpy(chunk, tok + 32 * ch, sizeof chunk);
        chunk[0] = 1;
        assert_int_equal(le_ctx_eval(full, chunk, 32, 0, 1), 0);
        for (int p = 16; p <= 30; p++) {
            const float *l = le_ctx_logits(full) + p * 80;
            float mx = l[0];
            for (int v = 1; v < 80; v++)
                mx = l[v] > mx ? l[v] : mx;
            double z = 0;
            for (int v = 0; v < 80; v++)
                z += expf(l[v] - mx);
            double nll = -((double)(l[chunk[p + 1]] - mx) - log(z));
            sum += nll;
            sumsq += nll * nll;
            count++;
        }
    }
    int calls[2] = {0, 0};
    struct le_ppl_result r;
    assert_int_equal(le_ppl_llamacpp(c, tok, 200, 32, 1, count_chunks, calls, &r), 0);
    assert_int_equal(calls[0], 6);
    assert_int_equal(r.n_chunks, 6);
    assert_int_equal(r.n_scored, count);
    assert_true(r.sum_nll == sum && r.sumsq_nll == sumsq);
    double mean = sum / count, ppl = exp(mean);
    assert_true(fabs(r.ppl - ppl) <= 1e-12 * ppl);
    assert_true(fabs(r.ppl_stderr - ppl * sqrt((sumsq / count - mean * mean) / (count - 1))) <= 1e-9 * ppl);
    /* Cancelled by the callback; too few tokens; ctx beyond the context. */
    calls[0] = 0;
    calls[1] = 1;
    assert_int_equal(le_ppl_llamacpp(c, tok, 200, 32, 1, count_chunks, calls, &r), LE_EINTR);
    assert_int_equal(le_ppl_llamacpp(c, tok, 63, 32, 1, NULL, NULL, &r), LE_EINVAL);
    assert_int_equal(le_ppl_llamacpp(c, tok, 200, 64, 1, NULL, NULL, &r), LE_EINVAL);
    le_ctx_free(full);
    le_ctx_free(c);
    le_model_free(m);
}

/* ---- commands ---- */

static void info_command_should_print_the_model(void **state) {
    (void)state;
    char path[4096], *out = NULL;
    gen("cmd-info", &shapes[1].cfg, path, sizeof path);
    out = le_test_sh_expect(0, NULL, "%s info %s", le_test_bin(), path);
    static const char *const want[] = {"llama", "tied", "f32: 20", "kv heads 2"};
    le_test_assert_has(out, want, sizeof want / sizeof want[0]);
    free(out);
    free(le_test_sh_expect(1, "llamaeval: error:", "%s info %s/missing.gguf", le_test_bin(), le_test_dir()));
}

static void tokenize_command_should_print_ids_with_bos(void **state) {
    (void)state;
    char path[4096], *out = NULL;
    gen("cmd-tok", &shapes[1].cfg, path, sizeof path);
    struct le_model *m;
    assert_int_equal(le_model_open(&m, path), 0);
    int32_t ids[64];
    int64_t n;
    const char *text = "the cat sat on the mat";
    assert_int_equal(le_tok_encode(le_model_tok(m), text, strlen(text), 1, ids, 64, &n), 0);
    char want[1024] = "";
    for (int64_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? " %d" : "%d", ids[i]);
    le_model_free(m);
    assert_int_equal(le_test_sh(&out, "%s tokenize %s --text '%s' --ids", le_test_bin(), path, text), 0);
    assert_non_null(out);
    out[strcspn(out, "\n")] = 0;
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(le_test_sh(&out, "%s tokenize %s --text '%s' --ids --no-bos", le_test_bin(), path, text), 0);
    assert_non_null(out);
    out[strcspn(out, "\n")] = 0;
    assert_string_equal(out, strchr(want, ' ') + 1);
    free(out);
    assert_int_equal(le_test_sh(&out, "%s tokenize %s --text 'the'", le_test_bin(), path), 0);
    assert_non_null(strstr(out, "1 '<s>'"));
    free(out);
    assert_int_equal(le_test_sh(&out, "%s tokenize %s", le_test_bin(), path), 2);
    free(out);
}

static void ppl_command_should_print_and_record_perplexity(void **state) {
    (void)state;
    char path[4096], text[4096], db[4096], *out = NULL;
    struct le_genmodel_cfg cfg = shapes[1].cfg;
    cfg.tied = 0; /* tied N(0,1) embeddings give absurdly peaked logits */
    gen("cmd-ppl", &cfg, path, sizeof path);
    snprintf(text, sizeof text, "%s/text.txt", le_test_dir());
    snprintf(db, sizeof db, "%s/r.sqlite", le_test_dir());
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    for (int i = 0; i < 40; i++)
        fprintf(f, "the committee said on friday that the new bridge over the river would be finished.\n");
    fclose(f);
    out = le_test_sh_expect(0, "PPL = ", "%s ppl --model %s --file %s --ctx 32 --batch 16 --threads 2 --db %s",
                            le_test_bin(), path, text, db);
    assert_non_null(strstr(out, "[1]"));
    double ppl = atof(strstr(out, "PPL = ") + 6);
    assert_true(ppl > 30 && ppl < 3000); /* random weights: about the vocabulary size */
    free(out);
    /* Same number for another batch size and thread count (--db none: computed
     * again, where the store would give back the stored result). */
    out = le_test_sh_expect(0, "PPL = ",
                            "%s ppl --model %s --file %s --ctx 32 --batch 32 --threads 1 --db none --quiet",
                            le_test_bin(), path, text);
    assert_true(atof(strstr(out, "PPL = ") + 6) == ppl);
    free(out);
    free(le_test_sh_expect(1, NULL, "%s ppl --model %s --file %s --ctx 4096 --db %s", le_test_bin(), path, text, db));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_should_match_reference_for_f32),
        cmocka_unit_test(forward_should_match_reference_for_each_type),
        cmocka_unit_test(forward_should_match_reference_for_k_quants),
        cmocka_unit_test(mixed_q4_0_file_with_q6_k_embeddings_should_load),
        cmocka_unit_test(logits_should_be_identical_for_1_2_and_3_threads),
        cmocka_unit_test(logits_should_not_depend_on_batching),
        cmocka_unit_test(scalar_kernels_should_match_simd_kernels),
        cmocka_unit_test(info_should_report_shape_and_parameters),
        cmocka_unit_test(open_should_name_a_missing_key_or_tensor),
        cmocka_unit_test(open_should_reject_unsupported_types_by_name),
        cmocka_unit_test(eval_should_reject_bad_arguments),
        cmocka_unit_test(open_should_refuse_bad_expert_count),
        cmocka_unit_test(batched_decode_should_equal_decoding_each_sequence_alone),
        cmocka_unit_test(ppl_should_follow_the_llamacpp_convention),
        cmocka_unit_test(info_command_should_print_the_model),
        cmocka_unit_test(tokenize_command_should_print_ids_with_bos),
        cmocka_unit_test(ppl_command_should_print_and_record_perplexity),
    };
    return cmocka_run_group_tests(tests, le_test_dir_setup, le_test_dir_teardown);
}
