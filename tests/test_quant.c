/*
 * test_quant: model quantization (engine/quant/le_quant.h, `llamaeval quantize`).
 *
 * - The per-tensor rules of llama.cpp's mixes on LLaMA-shaped tensor lists
 *   (expected types worked out by hand from llama.cpp's
 *   llama_tensor_get_type for dense LLaMA: which layers' attn_v / ffn_down
 *   get more bits, output and tied embeddings Q6_K, fallbacks for row
 *   lengths), independent of the order tensors come in.
 * - Files: the bytes do not depend on the thread count; the output loads
 *   and every tensor dequantizes close to the input; a tied Q4_0 model gets
 *   Q6_K embeddings (and loads); failures leave no file at the output path.
 * - The command line: per-tensor lines, summary, exit codes.
 * - Golden: quantizing the oracle's F32 model with --pure (and F16 / BF16)
 *   gives llama-quantize's files byte for byte (../shared/oracle/models).
 */
// ctest-labels: unit golden
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "le_err.h"
#include "le_genmodel.h"
#include "le_gguf.h"
#include "le_model.h"
#include "le_quant.h"
#include "le_test.h"
#include "le_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* access */

/* ---- the rules, on tensor lists ---- */

#define MAXT 1024

struct tlist {
    struct le_quant_tensor t[MAXT];
    char names[MAXT][48];
    int types[MAXT];
    int n;
    struct le_quant_hparams hp;
};

static void tl_add(struct tlist *l, const char *name, int64_t ne0, int64_t ne1) {
    assert_true(l->n < MAXT);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->t[l->n] = (struct le_quant_tensor){.name = l->names[l->n], .type = LE_TYPE_F32, .n_dims = ne1 ? 2 : 1,
                                          .ne = {ne0, ne1 ? ne1 : 1, 1, 1}};
    l->n++;
}

/* A LLaMA tensor list in the order convert scripts write it. */
static void tl_llama(struct tlist *l, int layers, int64_t D, int64_t F, int64_t V, int heads, int kv_heads,
                     int tied) {
    memset(l, 0, sizeof *l);
    l->hp = (struct le_quant_hparams){layers, heads, kv_heads};
    int64_t KV = D / heads * kv_heads;
    char nm[64];
    tl_add(l, "token_embd.weight", D, V);
    for (int i = 0; i < layers; i++) {
#define ADD(s, a, b) (snprintf(nm, sizeof nm, "blk.%d." s, i), tl_add(l, nm, a, b))
        ADD("attn_norm.weight", D, 0);
        ADD("attn_q.weight", D, D);
        ADD("attn_k.weight", D, KV);
        ADD("attn_v.weight", D, KV);
        ADD("attn_output.weight", D, D);
        ADD("ffn_norm.weight", D, 0);
        ADD("ffn_gate.weight", D, F);
        ADD("ffn_up.weight", D, F);
        ADD("ffn_down.weight", F, D);
#undef ADD
    }
    tl_add(l, "output_norm.weight", D, 0);
    if (!tied)
        tl_add(l, "output.weight", D, V);
}

static int tl_type(const struct tlist *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->t[i].name, name))
            return l->types[i];
    fail_msg("no tensor %s", name);
    return -1;
}

static int tl_layer_type(const struct tlist *l, int layer, const char *what) {
    char nm[64];
    snprintf(nm, sizeof nm, "blk.%d.%s", layer, what);
    return tl_type(l, nm);
}

static void tl_plan(struct tlist *l, int ftype, int pure) {
    assert_int_equal(le_quant_plan(l->t, l->n, &l->hp, ftype, pure, l->types), LE_OK);
}

/* Is layer i in the list (terminated by -1)? */
static int in_list(int i, const int *list) {
    for (; *list >= 0; list++)
        if (*list == i)
            return 1;
    return 0;
}

static void q4_k_m_should_give_attn_v_and_ffn_down_more_bits_in_some_layers(void **state) {
    (void)state;
    static struct tlist l;
    tl_llama(&l, 32, 4096, 11008, 32000, 32, 32, 0); /* LLaMA-7B's shapes */
    tl_plan(&l, LE_FTYPE_MOSTLY_Q4_K_M, 0);
    /* use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2 */
    static const int more[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31, -1};
    for (int i = 0; i < 32; i++) {
        int want = in_list(i, more) ? LE_TYPE_Q6_K : LE_TYPE_Q4_K;
        assert_int_equal(tl_layer_type(&l, i, "attn_v.weight"), want);
        assert_int_equal(tl_layer_type(&l, i, "ffn_down.weight"), want);
        assert_int_equal(tl_layer_type(&l, i, "attn_q.weight"), LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "attn_k.weight"), LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "attn_output.weight"), LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "ffn_gate.weight"), LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "ffn_up.weight"), LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "attn_norm.weight"), LE_TYPE_F32);
    }
    assert_int_equal(tl_type(&l, "output.weight"), LE_TYPE_Q6_K);
    assert_int_equal(tl_type(&l, "token_embd.weight"), LE_TYPE_Q4_K); /* untied: the default */
    assert_int_equal(tl_type(&l, "output_norm.weight"), LE_TYPE_F32);
    /* the same list in another order gets the same types (llama.cpp sorts
     * by layer, then name) */
    static struct tlist r;
    r = l;
    for (int i = 0; i < l.n; i++) {
        r.t[i] = l.t[l.n - 1 - i];
        r.t[i].name = r.names[i];
        memcpy(r.names[i], l.names[l.n - 1 - i], sizeof r.names[i]);
    }
    tl_plan(&r, LE_FTYPE_MOSTLY_Q4_K_M, 0);
    for (int i = 0; i < l.n; i++)
        assert_int_equal(r.types[l.n - 1 - i], l.types[i]);
}

static void q3_k_m_and_q2_k_mixes_should_follow_llama_cpp(void **state) {
    (void)state;
    static struct tlist l;
    tl_llama(&l, 32, 4096, 11008, 32000, 32, 32, 0);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q3_K_M, 0);
    for (int i = 0; i < 32; i++) {
        assert_int_equal(tl_layer_type(&l, i, "attn_v.weight"), i < 2 ? LE_TYPE_Q5_K : LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "ffn_down.weight"), i < 2 ? LE_TYPE_Q5_K : LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "attn_output.weight"), LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "attn_q.weight"), LE_TYPE_Q3_K);
        assert_int_equal(tl_layer_type(&l, i, "ffn_up.weight"), LE_TYPE_Q3_K);
    }
    assert_int_equal(tl_type(&l, "output.weight"), LE_TYPE_Q6_K);
    /* Q2_K: attn_v Q3_K without GQA, Q4_K with 8 query heads per KV head */
    tl_plan(&l, LE_FTYPE_MOSTLY_Q2_K, 0);
    assert_int_equal(tl_layer_type(&l, 5, "attn_v.weight"), LE_TYPE_Q3_K);
    assert_int_equal(tl_layer_type(&l, 5, "ffn_down.weight"), LE_TYPE_Q3_K);
    assert_int_equal(tl_layer_type(&l, 5, "attn_output.weight"), LE_TYPE_Q3_K);
    assert_int_equal(tl_layer_type(&l, 5, "attn_q.weight"), LE_TYPE_Q2_K);
    assert_int_equal(tl_layer_type(&l, 5, "ffn_gate.weight"), LE_TYPE_Q2_K);
    tl_llama(&l, 4, 1024, 2816, 4096, 16, 2, 0);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q2_K, 0);
    assert_int_equal(tl_layer_type(&l, 0, "attn_v.weight"), LE_TYPE_Q4_K);
    /* Q4_K_S: the first 4 attn_v and the first n/8 ffn_down Q5_K */
    tl_llama(&l, 16, 1024, 2816, 4096, 16, 16, 0);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q4_K_S, 0);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(tl_layer_type(&l, i, "attn_v.weight"), i < 4 ? LE_TYPE_Q5_K : LE_TYPE_Q4_K);
        assert_int_equal(tl_layer_type(&l, i, "ffn_down.weight"), i < 2 ? LE_TYPE_Q5_K : LE_TYPE_Q4_K);
    }
}

static void llama_2_70b_should_get_q5_k_attn_v(void **state) {
    (void)state;
    static struct tlist l;
    tl_llama(&l, 80, 1024, 2816, 4096, 64, 8, 0); /* 80 layers, 8 KV heads (small matrices) */
    tl_plan(&l, LE_FTYPE_MOSTLY_Q4_K_M, 0);
    /* use_more_bits(i, 80): i < 10, i >= 70 or (i - 10) % 3 == 2 -> Q6_K; else Q4_K bumped to Q5_K */
    assert_int_equal(tl_layer_type(&l, 4, "attn_v.weight"), LE_TYPE_Q6_K);
    assert_int_equal(tl_layer_type(&l, 10, "attn_v.weight"), LE_TYPE_Q5_K);
    assert_int_equal(tl_layer_type(&l, 12, "attn_v.weight"), LE_TYPE_Q6_K);
    assert_int_equal(tl_layer_type(&l, 10, "ffn_down.weight"), LE_TYPE_Q4_K); /* only attn_v */
}

static void tied_embeddings_pure_and_fallbacks_should_follow_llama_cpp(void **state) {
    (void)state;
    static struct tlist l;
    tl_llama(&l, 2, 256, 768, 512, 8, 4, 1);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q4_0, 0);
    assert_int_equal(tl_type(&l, "token_embd.weight"), LE_TYPE_Q6_K); /* tied: the output's rule */
    assert_int_equal(tl_layer_type(&l, 1, "ffn_down.weight"), LE_TYPE_Q4_0);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q8_0, 0);
    assert_int_equal(tl_type(&l, "token_embd.weight"), LE_TYPE_Q8_0);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q4_0, 1);
    assert_int_equal(tl_type(&l, "token_embd.weight"), LE_TYPE_Q4_0); /* --pure */
    tl_plan(&l, LE_FTYPE_MOSTLY_F16, 0);
    assert_int_equal(tl_type(&l, "token_embd.weight"), LE_TYPE_F16);
    assert_int_equal(tl_layer_type(&l, 0, "attn_norm.weight"), LE_TYPE_F32);
    /* rows of 288 (not a multiple of 256): Q4_K -> Q5_0, Q6_K -> Q8_0, the
     * output straight to Q8_0; ffn_down's rows of 768 keep K-quants */
    tl_llama(&l, 8, 288, 768, 512, 6, 6, 0);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q4_K_M, 0);
    assert_int_equal(tl_type(&l, "output.weight"), LE_TYPE_Q8_0);
    assert_int_equal(tl_layer_type(&l, 3, "attn_q.weight"), LE_TYPE_Q5_0);
    assert_int_equal(tl_layer_type(&l, 0, "attn_v.weight"), LE_TYPE_Q8_0); /* Q6_K falls back */
    assert_int_equal(tl_layer_type(&l, 0, "ffn_down.weight"), LE_TYPE_Q6_K);
    assert_int_equal(tl_layer_type(&l, 2, "ffn_down.weight"), LE_TYPE_Q4_K);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q5_K_M, 1);
    assert_int_equal(tl_layer_type(&l, 3, "attn_q.weight"), LE_TYPE_Q5_1);
    /* rows of 100: no 32-block fits -> F16 (llama.cpp has no fallback for
     * Q4_0 and stops; F16 keeps the file valid) */
    tl_llama(&l, 1, 100, 256, 64, 5, 5, 0);
    tl_plan(&l, LE_FTYPE_MOSTLY_Q4_0, 0);
    assert_int_equal(tl_layer_type(&l, 0, "attn_q.weight"), LE_TYPE_F16);
    assert_int_equal(tl_layer_type(&l, 0, "ffn_down.weight"), LE_TYPE_Q4_0);
    assert_int_equal(le_quant_plan(l.t, l.n, &l.hp, 4, 0, l.types), LE_EINVAL); /* no ftype 4 */
}

static void ftype_names_should_follow_llama_quantize(void **state) {
    (void)state;
    assert_int_equal(le_quant_ftype_from_name("q4_k_m"), LE_FTYPE_MOSTLY_Q4_K_M);
    assert_int_equal(le_quant_ftype_from_name("Q4_K"), LE_FTYPE_MOSTLY_Q4_K_M);
    assert_int_equal(le_quant_ftype_from_name("q3_k"), LE_FTYPE_MOSTLY_Q3_K_M);
    assert_int_equal(le_quant_ftype_from_name("q5_k"), LE_FTYPE_MOSTLY_Q5_K_M);
    assert_int_equal(le_quant_ftype_from_name("q2_k"), LE_FTYPE_MOSTLY_Q2_K);
    assert_int_equal(le_quant_ftype_from_name("q6_k"), LE_FTYPE_MOSTLY_Q6_K);
    assert_int_equal(le_quant_ftype_from_name("q8_0"), LE_FTYPE_MOSTLY_Q8_0);
    assert_int_equal(le_quant_ftype_from_name("iq2_xxs"), -1);
    assert_int_equal(le_quant_ftype_from_name(NULL), -1);
    assert_int_equal(le_quant_ftype_type(LE_FTYPE_MOSTLY_Q5_K_S), LE_TYPE_Q5_K);
    assert_string_equal(le_quant_ftype_name(LE_FTYPE_MOSTLY_Q4_K_M), "Q4_K_M");
    /* every listed name is known */
    char names[512];
    snprintf(names, sizeof names, "%s", le_quant_ftype_names());
    for (char *s = strtok(names, " "); s; s = strtok(NULL, " "))
        assert_true(le_quant_ftype_from_name(s) >= 0);
}

/* ---- files ---- */

static const struct le_genmodel_cfg kcfg = {.dim = 256, .n_layers = 2, .n_heads = 8, .n_kv_heads = 4, .ffn = 512,
                                            .n_vocab = 320, .n_ctx = 64, .seed = 31};

static void gen(const char *name, const struct le_genmodel_cfg *cfg, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s.gguf", le_test_dir(), name);
    int rc = le_genmodel_write(buf, cfg);
    if (rc)
        print_error("genmodel %s: %s\n", name, le_err_msg());
    assert_int_equal(rc, 0);
}

static void quantize_ok(const char *in, const char *out, int ftype, int pure, int threads) {
    struct le_quant_params p = {.ftype = ftype, .pure = pure, .n_threads = threads};
    int rc = le_quantize(in, out, &p, NULL);
    if (rc)
        print_error("quantize: %s\n", le_err_msg());
    assert_int_equal(rc, 0);
}

static void output_should_load_match_the_plan_and_not_depend_on_threads(void **state) {
    (void)state;
    char in[4096], o1[4096], o3[4096];
    gen("kq-f32", &kcfg, in, sizeof in);
    snprintf(o1, sizeof o1, "%s/kq-1.gguf", le_test_dir());
    snprintf(o3, sizeof o3, "%s/kq-3.gguf", le_test_dir());
    quantize_ok(in, o1, LE_FTYPE_MOSTLY_Q4_K_M, 0, 1);
    quantize_ok(in, o3, LE_FTYPE_MOSTLY_Q4_K_M, 0, 3);
    size_t n1, n3;
    char *b1 = le_test_read_file(o1, &n1), *b3 = le_test_read_file(o3, &n3);
    assert_non_null(b1);
    assert_non_null(b3);
    assert_int_equal(n1, n3);
    assert_memory_equal(b1, b3, n1);
    free(b1), free(b3);
    /* every tensor: the planned type, metadata kept, values close to the input */
    struct le_gguf *gi, *go;
    assert_int_equal(le_gguf_open(&gi, in), 0);
    assert_int_equal(le_gguf_open(&go, o1), 0);
    uint32_t ft = 0, qv = 0;
    assert_int_equal(le_gguf_get_u32(go, "general.file_type", &ft), 0);
    assert_int_equal(le_gguf_get_u32(go, "general.quantization_version", &qv), 0);
    assert_int_equal(ft, LE_FTYPE_MOSTLY_Q4_K_M);
    assert_int_equal(qv, 2);
    assert_int_equal(le_gguf_n_tensors(go), le_gguf_n_tensors(gi));
    int64_t n_q6 = 0;
    for (int64_t i = 0; i < le_gguf_n_tensors(gi); i++) {
        const struct le_gguf_tensor *a = le_gguf_tensor(gi, i), *b = le_gguf_find_tensor(go, a->name);
        assert_non_null(b);
        assert_memory_equal(a->ne, b->ne, sizeof a->ne);
        int64_t n = a->ne[0] * a->ne[1];
        float *f = malloc(sizeof(float) * (size_t)n);
        assert_non_null(f);
        le_type_get(b->type)->to_float(b->data, f, n);
        const float *x = a->data;
        double ss = 0, sx = 0;
        for (int64_t k = 0; k < n; k++) {
            ss += ((double)f[k] - x[k]) * ((double)f[k] - x[k]);
            sx += (double)x[k] * x[k];
        }
        double rel = sqrt(ss / sx);
        /* 4-bit K-quant error on Gaussian weights is ~7% (test_types), 6-bit ~2% */
        assert_true(rel <= (b->type == LE_TYPE_Q6_K ? 0.03 : b->type == LE_TYPE_F32 ? 0 : 0.1));
        n_q6 += b->type == LE_TYPE_Q6_K;
        free(f);
    }
    assert_int_equal(n_q6, 3); /* output, and layer 1's attn_v and ffn_down (use_more_bits(1, 2)) */
    le_gguf_close(gi);
    le_gguf_close(go);
    struct le_model *m;
    assert_int_equal(le_model_open(&m, o1), 0);
    assert_int_equal(le_model_get_info(m)->main_type, LE_TYPE_Q4_K);
    le_model_free(m);
}

/* llama-quantize's Q4_0 of a tied model: token_embd Q6_K; the file loads
 * and gives the logits of a model written that way directly. */
static void tied_q4_0_output_should_have_q6_k_embeddings_and_load(void **state) {
    (void)state;
    char in[4096], out[4096];
    struct le_genmodel_cfg cfg = kcfg;
    cfg.tied = 1;
    gen("tied-f32", &cfg, in, sizeof in);
    snprintf(out, sizeof out, "%s/tied-q4_0.gguf", le_test_dir());
    quantize_ok(in, out, LE_FTYPE_MOSTLY_Q4_0, 0, 2);
    struct le_gguf *g;
    assert_int_equal(le_gguf_open(&g, out), 0);
    assert_int_equal(le_gguf_find_tensor(g, "token_embd.weight")->type, LE_TYPE_Q6_K);
    assert_int_equal(le_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, LE_TYPE_Q4_0);
    assert_null(le_gguf_find_tensor(g, "output.weight"));
    le_gguf_close(g);
    /* the same weights written by the generator with wtype Q4_0 and Q6_K
     * embeddings: the same bytes per tensor, so the same logits */
    char direct[4096];
    cfg.wtype = LE_TYPE_Q4_0;
    cfg.embd_type = LE_TYPE_Q6_K;
    gen("tied-direct", &cfg, direct, sizeof direct);
    float *lg[2];
    const char *paths[2] = {out, direct};
    int32_t tok[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (int32_t)((i * 37 + 5) % cfg.n_vocab);
    for (int k = 0; k < 2; k++) {
        struct le_model *m;
        struct le_ctx *c;
        assert_int_equal(le_model_open(&m, paths[k]), 0);
        assert_int_equal(le_model_get_info(m)->main_type, LE_TYPE_Q4_0);
        assert_int_equal(le_ctx_new(&c, m, 16, 16, NULL), 0);
        assert_int_equal(le_ctx_eval(c, tok, 16, 0, 1), 0);
        lg[k] = malloc(sizeof(float) * 16 * (size_t)cfg.n_vocab);
        assert_non_null(lg[k]);
        memcpy(lg[k], le_ctx_logits(c), sizeof(float) * 16 * (size_t)cfg.n_vocab);
        le_ctx_free(c);
        le_model_free(m);
    }
    assert_memory_equal(lg[0], lg[1], sizeof(float) * 16 * (size_t)cfg.n_vocab);
    free(lg[0]), free(lg[1]);
}

static int dir_has_tmp(const char *dir) {
    char *out = NULL;
    le_test_sh(&out, "ls -a %s", dir);
    int has = out && strstr(out, ".tmp.") != NULL;
    free(out);
    return has;
}

static void failures_should_leave_no_file(void **state) {
    (void)state;
    char in[4096], q[4096], out[4096];
    gen("fail-f32", &kcfg, in, sizeof in);
    snprintf(q, sizeof q, "%s/fail-q8_0.gguf", le_test_dir());
    quantize_ok(in, q, LE_FTYPE_MOSTLY_Q8_0, 0, 1);
    snprintf(out, sizeof out, "%s/fail-out.gguf", le_test_dir());
    struct le_quant_params p = {.ftype = LE_FTYPE_MOSTLY_Q4_0, .n_threads = 1};
    /* an already quantized input needs allow_requantize */
    assert_int_equal(le_quantize(q, out, &p, NULL), LE_EUNSUP);
    assert_non_null(strstr(le_err_msg(), "q8_0"));
    assert_int_not_equal(access(out, F_OK), 0);
    p.allow_requantize = 1;
    assert_int_equal(le_quantize(q, out, &p, NULL), 0);
    assert_int_equal(access(out, F_OK), 0);
    unlink(out);
    /* output over its own input, into a missing directory, a bad input */
    assert_int_equal(le_quantize(in, in, &p, NULL), LE_EINVAL);
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/no/such/dir/out.gguf", le_test_dir());
    assert_int_not_equal(le_quantize(in, bad, &p, NULL), 0);
    snprintf(bad, sizeof bad, "%s/missing.gguf", le_test_dir());
    assert_int_not_equal(le_quantize(bad, out, &p, NULL), 0);
    assert_int_not_equal(access(out, F_OK), 0);
    p.ftype = 4;
    assert_int_equal(le_quantize(in, out, &p, NULL), LE_EINVAL);
    assert_int_not_equal(access(out, F_OK), 0);
    assert_false(dir_has_tmp(le_test_dir()));
}

static void quantize_command_should_report_each_tensor(void **state) {
    (void)state;
    char in[4096], *out = NULL;
    gen("cmd-f32", &kcfg, in, sizeof in);
    out = le_test_sh_expect(0, NULL, "%s quantize %s %s/cmd-q5_k_m.gguf --type q5_k_m --threads 2", le_test_bin(),
                            in, le_test_dir());
    static const char *const want[] = {"blk.1.ffn_down.weight", "converting to q6_K", "[  21/  21]", "Q5_K_M"};
    le_test_assert_has(out, want, sizeof want / sizeof want[0]);
    free(out);
    out = le_test_sh_expect(0, "(pure)", "%s quantize %s %s/x.gguf --type q4_k_m --pure --quiet", le_test_bin(), in,
                            le_test_dir());
    assert_null(strstr(out, "converting"));
    free(out);
    free(le_test_sh_expect(2, "llamaeval: error: unknown --type", "%s quantize %s %s/y.gguf --type iq9",
                           le_test_bin(), in, le_test_dir()));
    free(le_test_sh_expect(2, NULL, "%s quantize %s --type q4_0", le_test_bin(), in));
    /* x.gguf is Q4_K: requantizing needs the flag */
    free(le_test_sh_expect(1, "--allow-requantize", "%s quantize %s/x.gguf %s/z.gguf --type q4_0", le_test_bin(),
                           le_test_dir(), le_test_dir()));
    free(le_test_sh_expect(1, "llamaeval: error:", "%s quantize %s %s/missing/z.gguf --type q4_0", le_test_bin(), in,
                           le_test_dir()));
}

/* ---- golden: llama-quantize's files ---- */

static void pure_files_should_equal_llama_quantize_byte_for_byte(void **state) {
    (void)state;
    if (!le_test_oracle()) {
        print_message("skipped: ../shared/oracle not found\n");
        skip();
    }
    static const struct {
        const char *file, *type;
        int pure;
    } cases[] = {{"q8_0", "q8_0", 1}, {"q4_0", "q4_0", 1}, {"q4_1", "q4_1", 1}, {"q5_0", "q5_0", 1},
                 {"q5_1", "q5_1", 1}, {"q2_k", "q2_k", 1}, {"q3_k", "q3_k", 1}, {"q4_k", "q4_k", 1},
                 {"q5_k", "q5_k", 1}, {"q6_k", "q6_k", 1}, {"f16", "f16", 0},   {"bf16", "bf16", 0}};
    char in[4096], want[4096], out[4096], rel[256];
    le_test_oracle_path(in, sizeof in, "models/oracle-a-f32.gguf");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        snprintf(rel, sizeof rel, "models/oracle-a-%s.gguf", cases[k].file);
        le_test_oracle_path(want, sizeof want, rel);
        snprintf(out, sizeof out, "%s/oracle-%s.gguf", le_test_dir(), cases[k].file);
        quantize_ok(in, out, le_quant_ftype_from_name(cases[k].type), cases[k].pure, 2);
        size_t na, nb;
        char *a = le_test_read_file(out, &na), *b = le_test_read_file(want, &nb);
        assert_non_null(a);
        assert_non_null(b);
        size_t first = 0;
        while (first < na && first < nb && a[first] == b[first])
            first++;
        print_message("%-5s %s: %zu bytes, %s\n", cases[k].file, cases[k].pure ? "--pure" : "", na,
                      na == nb && first == na ? "identical to llama-quantize's" : "DIFFERENT");
        if (na != nb || first != na)
            fail_msg("%s: differs from %s at byte %zu (sizes %zu, %zu)", out, want, first, na, nb);
        free(a), free(b);
        unlink(out);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(q4_k_m_should_give_attn_v_and_ffn_down_more_bits_in_some_layers),
        cmocka_unit_test(q3_k_m_and_q2_k_mixes_should_follow_llama_cpp),
        cmocka_unit_test(llama_2_70b_should_get_q5_k_attn_v),
        cmocka_unit_test(tied_embeddings_pure_and_fallbacks_should_follow_llama_cpp),
        cmocka_unit_test(ftype_names_should_follow_llama_quantize),
        cmocka_unit_test(output_should_load_match_the_plan_and_not_depend_on_threads),
        cmocka_unit_test(tied_q4_0_output_should_have_q6_k_embeddings_and_load),
        cmocka_unit_test(failures_should_leave_no_file),
        cmocka_unit_test(quantize_command_should_report_each_tensor),
        cmocka_unit_test(pure_files_should_equal_llama_quantize_byte_for_byte),
    };
    return cmocka_run_group_tests(tests, le_test_dir_setup, le_test_dir_teardown);
}
