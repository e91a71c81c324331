/*
 * test_formats: every weight format le_format reads gives the logits of the
 * GGUF of the same weights, bit for bit: Hugging Face safetensors (F32, F16,
 * BF16; one file and sharded; tied), llama2.c v0/v1/v2, GGML/GGMF/GGJT
 * v1-v3, and real torch.save files (Meta shards, a PEFT adapter) committed
 * under tests/data/formats (made by gen_torch_fixtures.py, whose integer
 * formula fx_val/fx_norm rebuild here). Tokenizers written as
 * tokenizer.model / tokenizer.json from the oracle's vocabularies encode the
 * oracle's test vectors as llama.cpp does. LoRA adapters (PEFT .bin and
 * .safetensors, GGUF LoRA) change logits exactly as hand-merged weights do.
 * `convert` round-trips; convert/ppl --lora agree; tokenize and quantize
 * read an HF directory. Malformed inputs give one-line errors.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "le_err.h"
#include "le_fmtwrite.h"
#include "le_format.h"
#include "le_genmodel.h"
#include "le_gguf.h"
#include "le_model.h"
#include "le_test.h"
#include "le_tok.h"
#include "le_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_paths[1024];
static int g_n_paths;

/* A path in the test's directory, valid until teardown. */
static const char *tmp(const char *name) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", le_test_dir(), name);
    assert_true(g_n_paths < 1024);
    return g_paths[g_n_paths++] = strdup(buf);
}

static void mkdir_p(const char *d) { mkdir(d, 0755); }

/* An engine/writer call that must succeed (its message printed if not). */
#define OK(expr)                                                    \
    do {                                                            \
        int rc_ = (expr);                                           \
        if (rc_)                                                    \
            print_error("%s: %s\n", #expr, le_err_msg());           \
        assert_int_equal(rc_, LE_OK);                               \
    } while (0)

static void gen(const char *path, struct le_genmodel_cfg c) {
    int rc = le_genmodel_write(path, &c);
    if (rc)
        print_error("genmodel: %s\n", le_err_msg());
    assert_int_equal(rc, 0);
}

static struct le_genmodel_cfg base_cfg(void) {
    return (struct le_genmodel_cfg){.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn = 128,
                                    .n_vocab = 320, .n_ctx = 64, .seed = 11};
}

/* Logits of 12 tokens at positions 0..11 (one thread, one batch). */
static float *logits(const char *path, const struct le_format_opts *o, int64_t *nv) {
    struct le_model *m = NULL;
    int rc = le_model_open_ex(&m, path, o);
    if (rc)
        print_error("%s: %s\n", path, le_err_msg());
    assert_int_equal(rc, LE_OK);
    struct le_ctx *c = NULL;
    assert_int_equal(le_ctx_new(&c, m, 16, 16, NULL), LE_OK);
    int64_t V = le_model_get_info(m)->n_vocab;
    int32_t toks[12];
    for (int i = 0; i < 12; i++)
        toks[i] = (int32_t)((i * 7 + 3) % V);
    assert_int_equal(le_ctx_eval(c, toks, 12, 0, 1), LE_OK);
    float *l = malloc((size_t)(12 * V) * sizeof *l);
    memcpy(l, le_ctx_logits(c), (size_t)(12 * V) * sizeof *l);
    le_ctx_free(c);
    le_model_free(m);
    *nv = V;
    return l;
}

static void expect_same_logits(const char *a, const struct le_format_opts *oa, const char *b) {
    int64_t va, vb;
    float *la = logits(a, oa, &va), *lb = logits(b, NULL, &vb);
    assert_int_equal(va, vb);
    double worst = 0;
    for (int64_t i = 0; i < 12 * va; i++) {
        double d = fabs((double)la[i] - lb[i]) / fmax(fabs((double)lb[i]), 1e-30);
        if (d > worst)
            worst = d;
    }
    if (memcmp(la, lb, (size_t)(12 * va) * sizeof *la))
        print_error("%s vs %s: logits differ, max relative difference %.3g\n", a, b, worst);
    assert_memory_equal(la, lb, (size_t)(12 * va) * sizeof *la);
    free(la);
    free(lb);
}

/* ---- Hugging Face ---- */

static void hf_f32_should_match_gguf(void **state) {
    (void)state;
    const char *ref = tmp("hf32.gguf"), *dir = tmp("hf32");
    gen(ref, base_cfg());
    mkdir_p(dir);
    OK(le_fw_hf(ref, dir, LE_TYPE_F32, 1, LE_FW_TOK_MODEL));
    int kind;
    assert_int_equal(le_format_detect(dir, &kind), LE_OK);
    assert_int_equal(kind, LE_FORMAT_HF);
    expect_same_logits(dir, NULL, ref);
    /* A safetensors file stands for its directory. */
    char st[1100];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    expect_same_logits(st, NULL, ref);
    /* The view keeps F32 weights in the mapping: tensor data of V that was
     * not permuted lies inside model.safetensors' bytes (no copy). */
    struct le_gguf *g = NULL;
    assert_int_equal(le_format_open(&g, dir, NULL), LE_OK);
    assert_true(le_gguf_is_view(g));
    const struct le_gguf_tensor *v = le_gguf_find_tensor(g, "blk.0.attn_v.weight");
    const struct le_gguf_tensor *q = le_gguf_find_tensor(g, "blk.0.attn_q.weight");
    assert_non_null(v);
    assert_non_null(q);
    const struct le_gguf_tensor *e = le_gguf_find_tensor(g, "token_embd.weight");
    const uint8_t *base = (const uint8_t *)e->data;
    assert_true((const uint8_t *)v->data > base && (const uint8_t *)v->data < base + 64 * 1024 * 1024);
    le_gguf_close(g);
}

static void hf_sharded_f16_and_bf16_should_match_rounded_gguf(void **state) {
    (void)state;
    const char *src = tmp("hfsrc.gguf");
    struct le_genmodel_cfg c = base_cfg();
    c.seed = 12;
    gen(src, c);
    static const int types[] = {LE_TYPE_F16, LE_TYPE_BF16};
    for (int k = 0; k < 2; k++) {
        const char *ref = tmp(k ? "hfbf16.gguf" : "hff16.gguf"), *dir = tmp(k ? "hfbf16" : "hff16");
        OK(le_fw_round(src, ref, types[k], 1));
        mkdir_p(dir);
        OK(le_fw_hf(src, dir, types[k], k ? 1 : 3, LE_FW_TOK_JSON));
        expect_same_logits(dir, NULL, ref);
    }
}

static void hf_tied_should_match_gguf(void **state) {
    (void)state;
    struct le_genmodel_cfg c = base_cfg();
    c.tied = 1;
    c.n_kv_heads = 4;
    c.seed = 13;
    const char *ref = tmp("hftied.gguf"), *dir = tmp("hftied");
    gen(ref, c);
    mkdir_p(dir);
    OK(le_fw_hf(ref, dir, LE_TYPE_F32, 2, LE_FW_TOK_NONE));
    expect_same_logits(dir, NULL, ref);
}

/* ---- llama2.c ---- */

static void llama2c_versions_should_match_gguf(void **state) {
    (void)state;
    const char *ref = tmp("l2c.gguf");
    struct le_genmodel_cfg c = base_cfg();
    c.seed = 14;
    gen(ref, c);
    for (int v = 0; v <= 2; v++) {
        char d[64], path[1100], qref[1100];
        snprintf(d, sizeof d, "l2c-v%d", v);
        mkdir_p(tmp(d));
        snprintf(path, sizeof path, "%s/model.bin", tmp(d));
        snprintf(qref, sizeof qref, "%s/deq.gguf", tmp(d));
        OK(le_fw_llama2c(ref, path, v, v == 2 ? qref : NULL));
        int kind;
        assert_int_equal(le_format_detect(path, &kind), LE_OK);
        assert_int_equal(kind, LE_FORMAT_LLAMA2C);
        expect_same_logits(path, NULL, v == 2 ? qref : ref);
    }
    /* tokenizer.bin beside the checkpoint gives the GGUF's tokenizer. */
    struct le_model *a, *b;
    char path[1100];
    snprintf(path, sizeof path, "%s/model.bin", tmp("l2c-v1"));
    assert_int_equal(le_model_open(&a, path), LE_OK);
    assert_int_equal(le_model_open(&b, ref), LE_OK);
    assert_non_null(le_model_tok(a));
    const char *text = "the quick brown fox, then 42 more.";
    int32_t ia[64], ib[64];
    int64_t na, nb;
    assert_int_equal(le_tok_encode(le_model_tok(a), text, strlen(text), 1, ia, 64, &na), LE_OK);
    assert_int_equal(le_tok_encode(le_model_tok(b), text, strlen(text), 1, ib, 64, &nb), LE_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(ia, ib, (size_t)na * sizeof *ia);
    le_model_free(a);
    le_model_free(b);
}

/* ---- GGML family ---- */

static void ggml_versions_should_match_gguf(void **state) {
    (void)state;
    const char *src = tmp("ggsrc.gguf");
    struct le_genmodel_cfg c = base_cfg();
    c.seed = 15;
    c.eps = 1e-6f;
    c.n_kv_heads = 4; /* that era had no GQA */
    gen(src, c);
    static const struct { const char *magic; uint32_t ver; int type; } cases[] = {
        {"ggml", 0, LE_TYPE_F32}, {"ggmf", 1, LE_TYPE_F16}, {"ggjt", 1, LE_TYPE_Q4_0},
        {"ggjt", 2, LE_TYPE_Q4_0}, {"ggjt", 3, LE_TYPE_Q8_0}, {"ggjt", 3, LE_TYPE_F16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64], rname[64];
        snprintf(name, sizeof name, "m-%s%u-%d.bin", cases[i].magic, cases[i].ver, cases[i].type);
        snprintf(rname, sizeof rname, "r-%s%u-%d.gguf", cases[i].magic, cases[i].ver, cases[i].type);
        const char *path = tmp(name), *ref = tmp(rname);
        OK(le_fw_ggml(src, path, cases[i].magic, cases[i].ver, cases[i].type, ref));
        int kind;
        assert_int_equal(le_format_detect(path, &kind), LE_OK);
        assert_int_equal(kind, LE_FORMAT_GGML);
        expect_same_logits(path, NULL, ref);
    }
    /* ggjt v3 Q8_0 stays in place: the model computes in Q8_0. */
    struct le_model *m;
    char path[1100];
    snprintf(path, sizeof path, "%s", tmp("m-ggjt3-8.bin"));
    assert_int_equal(le_model_open(&m, path), LE_OK);
    assert_int_equal(le_model_get_info(m)->main_type, LE_TYPE_Q8_0);
    le_model_free(m);
}

/* ---- torch.save fixtures: Meta shards, PEFT adapter ---- */

#define FX_DIM 32
#define FX_LAYERS 2
#define FX_HEADS 4
#define FX_KV 16
#define FX_FFN 64
#define FX_VOCAB 64

static float fx_val(int j, int64_t i) {
    uint32_t k = ((uint32_t)i * 2654435761u + (uint32_t)j * 40503u + 12345u) >> 20;
    return (float)((int)k - 2048) / 8192.0f;
}

static float fx_norm(int j, int64_t i) {
    uint32_t k = ((uint32_t)i * 2654435761u + (uint32_t)j * 40503u + 12345u) >> 20;
    return (float)(k >> 2) / 512.0f;
}

/* The fixture's tensors in the formula's order j (gen_torch_fixtures.py). */
struct fx_t {
    char gguf[64];
    int64_t rows, cols; /* rows 0: vector */
};

static int fx_list(struct fx_t *t) {
    int n = 0;
    t[n++] = (struct fx_t){"token_embd.weight", FX_VOCAB, FX_DIM};
    t[n++] = (struct fx_t){"output_norm.weight", 0, FX_DIM};
    t[n++] = (struct fx_t){"output.weight", FX_VOCAB, FX_DIM};
    static const struct { const char *s; int r, c; } l[] = {
        {"attn_q.weight", FX_DIM, FX_DIM}, {"attn_k.weight", FX_KV, FX_DIM}, {"attn_v.weight", FX_KV, FX_DIM},
        {"attn_output.weight", FX_DIM, FX_DIM}, {"ffn_gate.weight", FX_FFN, FX_DIM}, {"ffn_down.weight", FX_DIM, FX_FFN},
        {"ffn_up.weight", FX_FFN, FX_DIM}, {"attn_norm.weight", 0, FX_DIM}, {"ffn_norm.weight", 0, FX_DIM},
    };
    for (int L = 0; L < FX_LAYERS; L++)
        for (size_t k = 0; k < sizeof l / sizeof l[0]; k++) {
            snprintf(t[n].gguf, sizeof t[n].gguf, "blk.%d.%s", L, l[k].s);
            t[n].rows = l[k].r;
            t[n++].cols = l[k].c;
        }
    return n;
}

/* The fixture weights as a GGUF: matrices in mtype (F16 = the .pth's), plus
 * optional LoRA deltas (already in GGUF row order) added in F32. */
struct fx_delta {
    const char *name;
    const float *d; /* rows x cols */
};

static void fx_gguf(const char *path, int mtype, const struct fx_delta *deltas, int n_deltas) {
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), LE_OK);
    le_gguf_set_str(w, "general.architecture", "llama");
    le_gguf_set_u32(w, "llama.context_length", 2048);
    le_gguf_set_u32(w, "llama.embedding_length", FX_DIM);
    le_gguf_set_u32(w, "llama.block_count", FX_LAYERS);
    le_gguf_set_u32(w, "llama.feed_forward_length", FX_FFN);
    le_gguf_set_u32(w, "llama.attention.head_count", FX_HEADS);
    le_gguf_set_u32(w, "llama.attention.head_count_kv", FX_KV / (FX_DIM / FX_HEADS));
    le_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    struct fx_t t[64];
    int n = fx_list(t);
    for (int j = 0; j < n; j++) {
        int64_t nel = (t[j].rows ? t[j].rows : 1) * t[j].cols;
        float *f = malloc((size_t)nel * 4);
        for (int64_t i = 0; i < nel; i++)
            f[i] = t[j].rows ? fx_val(j, i) : fx_norm(j, i);
        int64_t ne[2] = {t[j].cols, t[j].rows};
        const float *delta = NULL;
        for (int k = 0; k < n_deltas; k++)
            if (!strcmp(deltas[k].name, t[j].gguf))
                delta = deltas[k].d;
        if (!t[j].rows)
            assert_int_equal(le_gguf_add_tensor(w, t[j].gguf, LE_TYPE_F32, 1, ne, f), LE_OK);
        else if (delta || mtype == LE_TYPE_F32) {
            for (int64_t i = 0; delta && i < nel; i++)
                f[i] += delta[i];
            assert_int_equal(le_gguf_add_tensor(w, t[j].gguf, LE_TYPE_F32, 2, ne, f), LE_OK);
        } else {
            uint16_t *h = malloc((size_t)nel * 2);
            for (int64_t i = 0; i < nel; i++)
                h[i] = le_fp32_to_fp16(f[i]);
            assert_int_equal(le_gguf_add_tensor(w, t[j].gguf, LE_TYPE_F16, 2, ne, h), LE_OK);
            free(h);
        }
        free(f);
    }
    assert_int_equal(le_gguf_write(w, path), LE_OK);
    le_gguf_writer_free(w);
}

static void meta_torch_shards_should_match_gguf(void **state) {
    (void)state;
    const char *ref = tmp("meta-ref.gguf");
    fx_gguf(ref, LE_TYPE_F16, NULL, 0);
    int kind;
    assert_int_equal(le_format_detect("tests/data/formats/meta-tiny", &kind), LE_OK);
    assert_int_equal(kind, LE_FORMAT_META);
    expect_same_logits("tests/data/formats/meta-tiny", NULL, ref);
    expect_same_logits("tests/data/formats/meta-tiny/consolidated.00.pth", NULL, ref);
}

/* PEFT A (r x in) and B (out x r) of target t, from the fixture formula. */
static const struct { const char *gguf, *hf; int in, out, perm; } lora_t[] = {
    {"blk.0.attn_q.weight", "base_model.model.model.layers.0.self_attn.q_proj", FX_DIM, FX_DIM, FX_HEADS},
    {"blk.1.attn_v.weight", "base_model.model.model.layers.1.self_attn.v_proj", FX_DIM, FX_KV, 0},
    {"blk.0.ffn_down.weight", "base_model.model.model.layers.0.mlp.down_proj", FX_FFN, FX_DIM, 0},
};
#define LORA_R 4

/* HF row of GGUF row o (convert_hf_to_gguf's permute, written out). */
static int hf_row(int o, int rows, int n_head) {
    int hd = rows / n_head, h = o / hd, k = o % hd;
    return h * hd + (k % 2) * (hd / 2) + k / 2;
}

/* Hand-merged deltas: d[o][i] = (float)(s * sum_k B[o'][k] A[k][i]). */
static float *lora_delta(int t, double s) {
    int in = lora_t[t].in, out = lora_t[t].out;
    float *d = malloc((size_t)(in * out) * 4);
    for (int o = 0; o < out; o++) {
        int ob = lora_t[t].perm ? hf_row(o, out, lora_t[t].perm) : o;
        for (int i = 0; i < in; i++) {
            double acc = 0;
            for (int k = 0; k < LORA_R; k++)
                acc += (double)fx_val(101 + 2 * t, ob * LORA_R + k) * (double)fx_val(100 + 2 * t, k * in + i);
            d[o * in + i] = (float)(s * acc);
        }
    }
    return d;
}

static void lora_expect(const char *base, const char *adapter, float scale, double s, const char *ref_name) {
    float *d[3];
    struct fx_delta deltas[3];
    for (int t = 0; t < 3; t++) {
        d[t] = lora_delta(t, s);
        deltas[t] = (struct fx_delta){lora_t[t].gguf, d[t]};
    }
    const char *ref = tmp(ref_name);
    fx_gguf(ref, LE_TYPE_F32, deltas, 3);
    struct le_lora_spec spec = {adapter, scale};
    struct le_format_opts o = {.lora = &spec, .n_lora = 1};
    expect_same_logits(base, &o, ref);
    for (int t = 0; t < 3; t++)
        free(d[t]);
}

static void lora_should_equal_hand_merged_weights(void **state) {
    (void)state;
    const char *base = tmp("lora-base.gguf");
    fx_gguf(base, LE_TYPE_F32, NULL, 0);
    /* PEFT .bin (real torch.save), r 4, alpha 8: s = 2. */
    lora_expect(base, "tests/data/formats/peft-tiny", 1.0f, 2.0, "lora-ref1.gguf");
    /* PEFT safetensors at scale 0.5: s = 1. */
    const char *pd = tmp("peft-st");
    mkdir_p(pd);
    const char *names[6];
    char nb[6][160];
    int nd[6];
    int64_t shapes[6][2];
    float *data[6];
    for (int t = 0; t < 3; t++) {
        int in = lora_t[t].in, out = lora_t[t].out;
        snprintf(nb[2 * t], sizeof nb[0], "%s.lora_A.weight", lora_t[t].hf);
        snprintf(nb[2 * t + 1], sizeof nb[0], "%s.lora_B.weight", lora_t[t].hf);
        names[2 * t] = nb[2 * t];
        names[2 * t + 1] = nb[2 * t + 1];
        nd[2 * t] = nd[2 * t + 1] = 2;
        shapes[2 * t][0] = LORA_R;
        shapes[2 * t][1] = in;
        shapes[2 * t + 1][0] = out;
        shapes[2 * t + 1][1] = LORA_R;
        data[2 * t] = malloc((size_t)(LORA_R * in) * 4);
        data[2 * t + 1] = malloc((size_t)(LORA_R * out) * 4);
        for (int i = 0; i < LORA_R * in; i++)
            data[2 * t][i] = fx_val(100 + 2 * t, i);
        for (int i = 0; i < LORA_R * out; i++)
            data[2 * t + 1][i] = fx_val(101 + 2 * t, i);
    }
    char p[1100];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", pd);
    OK(le_fw_safetensors(p, 6, names, nd, (const int64_t(*)[2])shapes, (const float *const *)data,
                                       LE_TYPE_F32));
    snprintf(p, sizeof p, "%s/adapter_config.json", pd);
    assert_int_equal(le_test_write_file(p, "{\"r\": 4, \"lora_alpha\": 8}", 26), 0);
    lora_expect(base, pd, 0.5f, 1.0, "lora-ref2.gguf");
    /* llama.cpp GGUF LoRA: lora_a ne [in, r], lora_b ne [r, out] in GGUF row order. */
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), LE_OK);
    le_gguf_set_str(w, "general.architecture", "llama");
    le_gguf_set_str(w, "general.type", "adapter");
    le_gguf_set_str(w, "adapter.type", "lora");
    le_gguf_set_f32(w, "adapter.lora.alpha", 8.0f);
    for (int t = 0; t < 3; t++) {
        int in = lora_t[t].in, out = lora_t[t].out;
        float *bg = malloc((size_t)(LORA_R * out) * 4);
        for (int o = 0; o < out; o++)
            memcpy(bg + o * LORA_R, data[2 * t + 1] + (lora_t[t].perm ? hf_row(o, out, lora_t[t].perm) : o) * LORA_R,
                   LORA_R * 4);
        char n[128];
        int64_t nea[2] = {in, LORA_R}, neb[2] = {LORA_R, out};
        snprintf(n, sizeof n, "%s.lora_a", lora_t[t].gguf);
        assert_int_equal(le_gguf_add_tensor(w, n, LE_TYPE_F32, 2, nea, data[2 * t]), LE_OK);
        snprintf(n, sizeof n, "%s.lora_b", lora_t[t].gguf);
        assert_int_equal(le_gguf_add_tensor(w, n, LE_TYPE_F32, 2, neb, bg), LE_OK);
        free(bg);
    }
    const char *gl = tmp("lora.gguf");
    assert_int_equal(le_gguf_write(w, gl), LE_OK);
    le_gguf_writer_free(w);
    lora_expect(base, gl, 1.0f, 2.0, "lora-ref3.gguf");
    for (int i = 0; i < 6; i++)
        free(data[i]);
}

/* ---- tokenizers against the oracle's vectors ---- */

static struct le_tok *tok_file(const char *path) {
    struct le_gguf *g = NULL;
    int rc = le_format_open_tokenizer(&g, path);
    if (rc)
        print_error("%s: %s\n", path, le_err_msg());
    assert_int_equal(rc, LE_OK);
    struct le_tok *t = NULL;
    assert_int_equal(le_tok_from_gguf(&t, g), LE_OK);
    le_gguf_close(g);
    return t;
}

static void tokenizer_files_should_match_oracle_vectors(void **state) {
    (void)state;
    if (!le_test_oracle()) {
        printf("skipped: ../shared/oracle not found\n");
        skip();
    }
    char spm[4096], gpt2[4096];
    le_test_oracle_path(spm, sizeof spm, "tokenizer/ggml-vocab-llama-spm.gguf");
    le_test_oracle_path(gpt2, sizeof gpt2, "tokenizer/ggml-vocab-gpt-2.gguf");
    const char *tm = tmp("spm.model"), *tj = tmp("spm.json"), *gj = tmp("gpt2.json");
    OK(le_fw_spm_model(spm, tm));
    OK(le_fw_tok_json(spm, tj));
    OK(le_fw_tok_json(gpt2, gj));
    struct le_tok *t = tok_file(tm);
    assert_int_equal(le_tok_kind(t), LE_TOK_SPM);
    assert_int_equal(le_tok_n_vocab(t), 32000);
    le_test_tok_vectors(t, "tokenizer/ggml-vocab-llama-spm.gguf", "converted");
    le_tok_free(t);
    t = tok_file(tj);
    assert_int_equal(le_tok_kind(t), LE_TOK_SPM);
    le_test_tok_vectors(t, "tokenizer/ggml-vocab-llama-spm.gguf", "converted");
    /* and the Brown text, where merge order matters most */
    char p1[4096], p2[4096];
    size_t nt, nw;
    char *text = le_test_read_file(le_test_oracle_path(p1, sizeof p1, "tokenizer/brown.txt"), &nt);
    char *wt = le_test_read_file(le_test_oracle_path(p2, sizeof p2, "tokenizer/brown.llama-spm.tokens"), &nw);
    int64_t n_want, n_got;
    int32_t *want = le_test_parse_ids(wt, nw, &n_want), *got = malloc((nt + 2) * sizeof *got);
    assert_int_equal(le_tok_encode(t, text, nt, 1, got, (int64_t)nt + 2, &n_got), LE_OK);
    assert_int_equal(n_got, n_want);
    assert_memory_equal(got, want, (size_t)n_want * sizeof *got);
    free(want);
    free(got);
    free(text);
    free(wt);
    le_tok_free(t);
    t = tok_file(gj);
    assert_int_equal(le_tok_kind(t), LE_TOK_BPE);
    le_test_tok_vectors(t, "tokenizer/ggml-vocab-gpt-2.gguf", "converted");
    le_tok_free(t);
}

/* ---- convert ---- */

static void convert_should_round_trip(void **state) {
    (void)state;
    const char *ref = tmp("cv.gguf"), *dir = tmp("cvhf"), *out = tmp("cv-out.gguf");
    struct le_genmodel_cfg c = base_cfg();
    c.seed = 16;
    gen(ref, c);
    mkdir_p(dir);
    OK(le_fw_hf(ref, dir, LE_TYPE_F32, 1, LE_FW_TOK_MODEL));
    struct le_gguf *g = NULL, *a = NULL, *b = NULL;
    assert_int_equal(le_format_open(&g, dir, NULL), LE_OK);
    assert_int_equal(le_format_write_gguf(g, out, -1), LE_OK);
    le_gguf_close(g);
    /* Every tensor of the converted file equals the original's bytes. */
    assert_int_equal(le_gguf_open(&a, ref), LE_OK);
    assert_int_equal(le_gguf_open(&b, out), LE_OK);
    assert_int_equal(le_gguf_n_tensors(a), le_gguf_n_tensors(b));
    for (int64_t i = 0; i < le_gguf_n_tensors(a); i++) {
        const struct le_gguf_tensor *ta = le_gguf_tensor(a, i), *tb = le_gguf_find_tensor(b, ta->name);
        assert_non_null(tb);
        assert_int_equal(ta->type, tb->type);
        assert_int_equal(ta->nbytes, tb->nbytes);
        assert_memory_equal(ta->data, tb->data, ta->nbytes);
    }
    le_gguf_close(a);
    le_gguf_close(b);
    expect_same_logits(out, NULL, ref);
    /* The command: --type f16 equals the F16-rounded reference. */
    const char *r16 = tmp("cv-r16.gguf"), *o16 = tmp("cv-16.gguf");
    OK(le_fw_round(ref, r16, LE_TYPE_F16, 0));
    char *log = NULL;
    int st = le_test_sh(&log, "'%s' convert '%s' '%s' --type f16", le_test_bin(), dir, o16);
    if (st)
        print_error("%s\n", log ? log : "");
    assert_int_equal(st, 0);
    free(log);
    expect_same_logits(o16, NULL, r16);
    /* q8_0 equals llamaeval quantize --pure q8_0, tensor for tensor. */
    const char *o8 = tmp("cv-8.gguf"), *q8 = tmp("cv-q8.gguf");
    assert_int_equal(le_test_sh(NULL, "'%s' convert '%s' '%s' --type q8_0", le_test_bin(), dir, o8), 0);
    assert_int_equal(le_test_sh(NULL, "'%s' quantize '%s' '%s' --type q8_0 --pure --quiet >/dev/null", le_test_bin(),
                                ref, q8), 0);
    assert_int_equal(le_gguf_open(&a, o8), LE_OK);
    assert_int_equal(le_gguf_open(&b, q8), LE_OK);
    for (int64_t i = 0; i < le_gguf_n_tensors(a); i++) {
        const struct le_gguf_tensor *ta = le_gguf_tensor(a, i), *tb = le_gguf_find_tensor(b, ta->name);
        assert_non_null(tb);
        assert_int_equal(ta->type, tb->type);
        assert_memory_equal(ta->data, tb->data, ta->nbytes);
    }
    le_gguf_close(a);
    le_gguf_close(b);
    /* llama2.c through the command, and ppl equal on source and converted. */
    char l2c[1100], text[1100];
    mkdir_p(tmp("cvl2c"));
    snprintf(l2c, sizeof l2c, "%s/model.bin", tmp("cvl2c"));
    snprintf(text, sizeof text, "%s", tmp("cv.txt"));
    OK(le_fw_llama2c(ref, l2c, 1, NULL));
    const char *ol = tmp("cv-l2c.gguf");
    assert_int_equal(le_test_sh(NULL, "'%s' convert '%s' '%s'", le_test_bin(), l2c, ol), 0);
    expect_same_logits(ol, NULL, ref);
    static const char words[] = "the quick brown fox jumps over the lazy dog and then runs home again. ";
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 20; i++)
        fputs(words, f);
    fclose(f);
    char *pa = NULL, *pb = NULL;
    assert_int_equal(le_test_sh(&pa, "'%s' ppl --model '%s' --file '%s' --ctx 32 --db '%s/a.sqlite' --quiet | grep -i 'ppl\\|estimate'",
                                le_test_bin(), l2c, text, le_test_dir()), 0);
    assert_int_equal(le_test_sh(&pb, "'%s' ppl --model '%s' --file '%s' --ctx 32 --db '%s/b.sqlite' --quiet | grep -i 'ppl\\|estimate'",
                                le_test_bin(), ol, text, le_test_dir()), 0);
    assert_non_null(pa);
    assert_non_null(pb);
    assert_true(strlen(pa) > 0);
    assert_string_equal(pa, pb);
    free(pa);
    free(pb);
}


/* The commands: convert --lora, ppl --lora, tokenize and quantize on an HF directory. */
static char *final_ppl(const char *model, const char *lora, const char *text, const char *db) {
    char *out = NULL;
    int st = le_test_sh(&out, "'%s' ppl --model '%s' %s%s --file '%s' --ctx 32 --db '%s' 2>&1 | grep 'Final estimate'",
                        le_test_bin(), model, lora ? "--lora " : "", lora ? lora : "", text, db);
    if (st)
        print_error("ppl %s: %s\n", model, out ? out : "");
    assert_int_equal(st, 0);
    return out;
}

static void commands_should_take_other_formats_and_lora(void **state) {
    (void)state;
    const char *base = tmp("cmd.gguf"), *lora = tmp("cmd-lora.gguf"), *merged = tmp("cmd-merged.gguf");
    struct le_genmodel_cfg c = base_cfg();
    c.seed = 18;
    gen(base, c);
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), LE_OK);
    le_gguf_set_str(w, "general.type", "adapter");
    le_gguf_set_str(w, "adapter.type", "lora");
    le_gguf_set_f32(w, "adapter.lora.alpha", 4.0f);
    float a[2 * 128], b[128 * 2];
    for (int i = 0; i < 256; i++)
        a[i] = b[i] = fx_val(200, i);
    int64_t nea[2] = {64, 2}, neb[2] = {2, 64}, nea2[2] = {64, 2}, neb2[2] = {2, 128};
    OK(le_gguf_add_tensor(w, "blk.0.attn_q.weight.lora_a", LE_TYPE_F32, 2, nea, a));
    OK(le_gguf_add_tensor(w, "blk.0.attn_q.weight.lora_b", LE_TYPE_F32, 2, neb, b));
    OK(le_gguf_add_tensor(w, "blk.1.ffn_up.weight.lora_a", LE_TYPE_F32, 2, nea2, a));
    OK(le_gguf_add_tensor(w, "blk.1.ffn_up.weight.lora_b", LE_TYPE_F32, 2, neb2, b));
    OK(le_gguf_write(w, lora));
    le_gguf_writer_free(w);
    assert_int_equal(le_test_sh(NULL, "'%s' convert '%s' '%s' --lora '%s:0.5' >/dev/null", le_test_bin(), base, merged,
                                lora), 0);
    char spec[1100];
    snprintf(spec, sizeof spec, "'%s:0.5'", lora);
    const char *text = tmp("cmd.txt");
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 30; i++)
        fputs("a small brown dog ran to the old house and sat by the door. ", f);
    fclose(f);
    char *p_base = final_ppl(base, NULL, text, tmp("cmd.sqlite"));
    char *p_lora = final_ppl(base, spec, text, tmp("cmd.sqlite"));
    char *p_merged = final_ppl(merged, NULL, text, tmp("cmd.sqlite"));
    assert_string_equal(p_lora, p_merged);
    assert_string_not_equal(p_lora, p_base);
    free(p_base);
    free(p_lora);
    free(p_merged);
    /* tokenize and quantize read a Hugging Face directory (and a tokenizer file) too */
    const char *dir = tmp("cmd-hf");
    mkdir_p(dir);
    OK(le_fw_hf(base, dir, LE_TYPE_F32, 1, LE_FW_TOK_JSON));
    char *ta = NULL, *tb = NULL, *tc = NULL;
    assert_int_equal(le_test_sh(&ta, "'%s' tokenize '%s' --text 'the old house' --ids", le_test_bin(), base), 0);
    assert_int_equal(le_test_sh(&tb, "'%s' tokenize '%s' --text 'the old house' --ids", le_test_bin(), dir), 0);
    assert_int_equal(le_test_sh(&tc, "'%s' tokenize '%s/tokenizer.json' --text 'the old house' --ids", le_test_bin(),
                                dir), 0);
    assert_string_equal(ta, tb);
    assert_string_equal(ta, tc);
    free(ta);
    free(tb);
    free(tc);
    const char *q1 = tmp("cmd-q1.gguf"), *q2 = tmp("cmd-q2.gguf");
    assert_int_equal(le_test_sh(NULL, "'%s' quantize '%s' '%s' --type q4_0 --quiet >/dev/null", le_test_bin(), base, q1), 0);
    assert_int_equal(le_test_sh(NULL, "'%s' quantize '%s' '%s' --type q4_0 --quiet >/dev/null", le_test_bin(), dir, q2), 0);
    struct le_gguf *g1, *g2;
    OK(le_gguf_open(&g1, q1));
    OK(le_gguf_open(&g2, q2));
    assert_int_equal(le_gguf_n_tensors(g1), le_gguf_n_tensors(g2));
    for (int64_t i = 0; i < le_gguf_n_tensors(g1); i++) {
        const struct le_gguf_tensor *t1 = le_gguf_tensor(g1, i), *t2 = le_gguf_find_tensor(g2, t1->name);
        assert_non_null(t2);
        assert_int_equal(t1->type, t2->type);
        assert_memory_equal(t1->data, t2->data, t1->nbytes);
    }
    le_gguf_close(g1);
    le_gguf_close(g2);
}

/* ---- malformed inputs ---- */

static void expect_error(const char *path, const char *want) {
    struct le_gguf *g = NULL;
    int rc = le_format_open(&g, path, NULL);
    if (rc == LE_OK)
        print_error("%s: opened, expected an error containing '%s'\n", path, want);
    assert_int_not_equal(rc, LE_OK);
    const char *msg = le_err_msg();
    if (!strstr(msg, want))
        print_error("%s: message '%s' lacks '%s'\n", path, msg, want);
    assert_non_null(strstr(msg, want));
    assert_null(strchr(msg, '\n'));
}

static void copy_file(const char *from, const char *to, size_t keep) {
    size_t n;
    char *d = le_test_read_file(from, &n);
    assert_non_null(d);
    assert_int_equal(le_test_write_file(to, d, keep && keep < n ? keep : n), 0);
    free(d);
}

static void patch_file(const char *path, const char *find, size_t fl, const char *repl) {
    size_t n;
    char *d = le_test_read_file(path, &n);
    char *p = memmem(d, n, find, fl);
    assert_non_null(p);
    memcpy(p, repl, fl);
    assert_int_equal(le_test_write_file(path, d, n), 0);
    free(d);
}

static void malformed_inputs_should_give_one_line_errors(void **state) {
    (void)state;
    const char *ref = tmp("bad.gguf");
    struct le_genmodel_cfg c = base_cfg();
    c.seed = 17;
    gen(ref, c);
    char p[1100], q[1100];
    /* HF: truncated safetensors header, shape disagreeing with config, shard missing. */
    const char *d1 = tmp("bad-hf1");
    mkdir_p(d1);
    OK(le_fw_hf(ref, d1, LE_TYPE_F32, 1, LE_FW_TOK_NONE));
    snprintf(p, sizeof p, "%s/model.safetensors", d1);
    snprintf(q, sizeof q, "%s/full.bin", le_test_dir());
    copy_file(p, q, 0);
    copy_file(q, p, 100);
    expect_error(d1, "truncated");
    copy_file(q, p, 0);
    snprintf(p, sizeof p, "%s/config.json", d1);
    patch_file(p, "\"intermediate_size\": 128", 24, "\"intermediate_size\": 129");
    expect_error(d1, "config.json implies");
    const char *d2 = tmp("bad-hf2");
    mkdir_p(d2);
    OK(le_fw_hf(ref, d2, LE_TYPE_F32, 2, LE_FW_TOK_NONE));
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", d2);
    unlink(p);
    expect_error(d2, "is missing");
    /* Meta: a pickle opcode outside the subset, a global outside it, a missing shard, a truncated zip. */
    const char *d3 = tmp("bad-meta");
    mkdir_p(d3);
    snprintf(p, sizeof p, "%s/params.json", d3);
    copy_file("tests/data/formats/meta-tiny/params.json", p, 0);
    snprintf(p, sizeof p, "%s/consolidated.00.pth", d3);
    snprintf(q, sizeof q, "%s/consolidated.01.pth", d3);
    copy_file("tests/data/formats/meta-tiny/consolidated.00.pth", p, 0);
    copy_file("tests/data/formats/meta-tiny/consolidated.01.pth", q, 0);
    patch_file(p, "q\x01(X", 4, "q\x01i(");
    expect_error(d3, "opcode 0x69");
    copy_file("tests/data/formats/meta-tiny/consolidated.00.pth", p, 0);
    patch_file(p, "collections\nOrderedDict", 23, "posix\nsystem\nDictxxxxxx");
    expect_error(d3, "posix.system");
    copy_file("tests/data/formats/meta-tiny/consolidated.00.pth", p, 0);
    copy_file("tests/data/formats/meta-tiny/consolidated.00.pth", q, 20000);
    expect_error(d3, "zip");
    snprintf(q, sizeof q, "%s/consolidated.02.pth", d3);
    copy_file("tests/data/formats/meta-tiny/consolidated.01.pth", q, 0);
    snprintf(q, sizeof q, "%s/consolidated.01.pth", d3);
    unlink(q);
    expect_error(d3, "shard is missing");
    /* llama2.c and GGJT truncated. */
    snprintf(p, sizeof p, "%s/l2c.bin", le_test_dir());
    OK(le_fw_llama2c(ref, p, 1, NULL));
    snprintf(q, sizeof q, "%s/l2c-cut.bin", le_test_dir());
    copy_file(p, q, 5000);
    expect_error(q, "truncated");
    snprintf(p, sizeof p, "%s/gg.bin", le_test_dir());
    OK(le_fw_ggml(ref, p, "ggjt", 3, LE_TYPE_F32, NULL));
    snprintf(q, sizeof q, "%s/gg-cut.bin", le_test_dir());
    copy_file(p, q, 9000);
    expect_error(q, "truncated");
    /* not a model at all */
    snprintf(p, sizeof p, "%s/junk.txt", le_test_dir());
    assert_int_equal(le_test_write_file(p, "hello, world, this is not a model file", 38), 0);
    expect_error(p, "not a model file");
    /* the command says it in one line too */
    char *log = NULL;
    assert_int_equal(le_test_sh(&log, "'%s' convert '%s' '%s/x.gguf' 2>&1", le_test_bin(), d3, le_test_dir()), 1);
    assert_non_null(strstr(log, "llamaeval: error: "));
    assert_int_equal(strchr(log, '\n') - log, (long)strlen(log) - 1);
    free(log);
}

static int teardown(void **state) {
    for (int i = 0; i < g_n_paths; i++)
        free(g_paths[i]);
    return le_test_dir_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hf_f32_should_match_gguf),
        cmocka_unit_test(hf_sharded_f16_and_bf16_should_match_rounded_gguf),
        cmocka_unit_test(hf_tied_should_match_gguf),
        cmocka_unit_test(llama2c_versions_should_match_gguf),
        cmocka_unit_test(ggml_versions_should_match_gguf),
        cmocka_unit_test(meta_torch_shards_should_match_gguf),
        cmocka_unit_test(lora_should_equal_hand_merged_weights),
        cmocka_unit_test(tokenizer_files_should_match_oracle_vectors),
        cmocka_unit_test(convert_should_round_trip),
        cmocka_unit_test(commands_should_take_other_formats_and_lora),
        cmocka_unit_test(malformed_inputs_should_give_one_line_errors),
    };
    return cmocka_run_group_tests(tests, le_test_dir_setup, teardown);
}
