/*
 * fmt_ggml: llama.cpp's pre-GGUF files (spring 2023, e.g. the
 * alpaca-lora-65B-GGML generation), identified by their little-endian u32
 * magic:
 *   'ggml' (unversioned): vocabulary entries are (u32 length, bytes)
 *   'ggmf' v1:            entries also carry a float32 score
 *   'ggjt' v1, v2, v3:    as ggmf, and each tensor's data is aligned to 32
 * then seven u32 hyperparameters (n_vocab, n_embd, n_mult, n_head, n_layer,
 * n_rot, ftype), the vocabulary, and tensor records (i32 n_dims, name
 * length, type; i32 dims, row length first; name; data), with Meta's tensor
 * names and rotary layout. The types those versions defined:
 *   F32, F16: every version, in place;
 *   ggjt v3 (current ggml block layouts): every type, in place;
 *   Q4_0, Q4_1 before ggjt v2: float32 scales, nibbles interleaved (x[2j]
 *   low, x[2j+1] high); ggjt v2: float32 scales, halves split as today;
 *   Q8_0 before v3: float32 scale; Q5_0/Q5_1 in v2: today's layout --
 *   the old layouts are dequantized to F32. Q4_2/Q4_3 (removed from ggml)
 *   and v1 Q5 are refused. FFN width comes from the w1 tensor; the rms eps
 *   of that era was 1e-6 (llama.cpp's LLAMA_DEFAULT_RMS_EPS then), rope base 10000.
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gg {
    struct fmt_b *b;
    const char *path;
    const uint8_t *p;
    uint64_t size, pos;
    int ver;     /* 0 ggml, 1 ggmf, 10 + n ggjt vn */
};

static int gg_rd(struct gg *g, void *dst, uint64_t n, const char *what) {
    if (n > g->size - g->pos)
        return le_err_set(LE_EFORMAT, "%s: truncated in %s (offset %llu)", g->path, what, (unsigned long long)g->pos);
    memcpy(dst, g->p + g->pos, n);
    g->pos += n;
    return LE_OK;
}

static int gg_vocab(struct gg *g, int64_t n) {
    char **text = calloc((size_t)n + 1, sizeof *text);
    float *sc = calloc((size_t)n + 1, sizeof *sc);
    int32_t *ty = calloc((size_t)n + 1, sizeof *ty);
    int rc = text && sc && ty ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t i = 0; !rc && i < n; i++) {
        uint32_t len = 0;
        if ((rc = gg_rd(g, &len, 4, "the vocabulary")))
            break;
        if (len > g->size - g->pos) {
            rc = le_err_set(LE_EFORMAT, "%s: vocabulary entry %lld runs past the end (truncated)", g->path, (long long)i);
            break;
        }
        if (!(text[i] = strndup((const char *)g->p + g->pos, len))) {
            rc = le_err_set(LE_ENOMEM, "out of memory");
            break;
        }
        g->pos += len;
        if (g->ver >= 1 && (rc = gg_rd(g, &sc[i], 4, "the vocabulary scores")))
            break;
        /* Early files stored SentencePiece pieces as text: bytes as <0xXX>,
         * BOS/EOS and <unk> as themselves. */
        ty[i] = i == 0 ? 2 : (i == 1 || i == 2) ? 3 : 1;
        if (strlen(text[i]) == 6 && !strncmp(text[i], "<0x", 3) && text[i][5] == '>')
            ty[i] = 6;
    }
    if (!rc)
        rc = fmt_tok_spm_keys(g->b, n, (const char *const *)text, sc, ty, 1, 2, 0);
    for (int64_t i = 0; text && i < n; i++)
        free(text[i]);
    free(text);
    free(sc);
    free(ty);
    return rc;
}

/* Dequantizes old layouts to F32. qk = 32 elements per block. */
static void gg_old_deq(int type, int split, const uint8_t *x, float *y, int64_t nel) {
    for (int64_t b = 0; b < nel / 32; b++, y += 32) {
        float d, m = 0;
        memcpy(&d, x, 4);
        if (type == LE_TYPE_Q8_0) {
            for (int j = 0; j < 32; j++)
                y[j] = (float)(int8_t)x[4 + j] * d;
            x += 36;
            continue;
        }
        if (type == LE_TYPE_Q4_1)
            memcpy(&m, x + 4, 4);
        const uint8_t *qs = x + (type == LE_TYPE_Q4_1 ? 8 : 4);
        float off = type == LE_TYPE_Q4_1 ? 0.0f : 8.0f;
        for (int j = 0; j < 16; j++) {
            float lo = ((float)(qs[j] & 15) - off) * d + m, hi = ((float)(qs[j] >> 4) - off) * d + m;
            if (split) {
                y[j] = lo;
                y[j + 16] = hi;
            } else {
                y[2 * j] = lo;
                y[2 * j + 1] = hi;
            }
        }
        x += type == LE_TYPE_Q4_1 ? 24 : 20;
    }
}

/* Meta name -> GGUF name (NULL when not part of the model). */
static int gg_name(const char *src, char *dst, size_t cap) {
    static const struct { const char *meta, *gguf; } n[] = {
        {"attention_norm.weight", "attn_norm.weight"}, {"ffn_norm.weight", "ffn_norm.weight"},
        {"attention.wq.weight", "attn_q.weight"},      {"attention.wk.weight", "attn_k.weight"},
        {"attention.wv.weight", "attn_v.weight"},      {"attention.wo.weight", "attn_output.weight"},
        {"feed_forward.w1.weight", "ffn_gate.weight"}, {"feed_forward.w2.weight", "ffn_down.weight"},
        {"feed_forward.w3.weight", "ffn_up.weight"},
    };
    if (!strcmp(src, "tok_embeddings.weight"))
        return snprintf(dst, cap, "token_embd.weight"), 0;
    if (!strcmp(src, "norm.weight"))
        return snprintf(dst, cap, "output_norm.weight"), 0;
    if (!strcmp(src, "output.weight"))
        return snprintf(dst, cap, "output.weight"), 0;
    int l, len = 0;
    if (sscanf(src, "layers.%d.%n", &l, &len) == 1 && len > 0)
        for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
            if (!strcmp(src + len, n[i].meta))
                return snprintf(dst, cap, "blk.%d.%s", l, n[i].gguf), 0;
    return -1;
}

static int gg_tensor(struct gg *g) {
    int32_t h[3];
    int rc = gg_rd(g, h, 12, "a tensor header");
    if (rc)
        return rc;
    int nd = h[0], nl = h[1], type = h[2];
    if (nd < 1 || nd > 2 || nl < 1 || nl > 255)
        return le_err_set(LE_EFORMAT, "%s: tensor header at %llu has %d dims and a %d-byte name", g->path,
                          (unsigned long long)g->pos - 12, nd, nl);
    int32_t ne32[2] = {1, 1};
    char src[256], dst[96];
    if ((rc = gg_rd(g, ne32, 4 * (uint64_t)nd, "tensor dims")) || (rc = gg_rd(g, src, (uint64_t)nl, "a tensor name")))
        return rc;
    src[nl] = 0;
    if (ne32[0] < 1 || ne32[1] < 1)
        return le_err_set(LE_EFORMAT, "%s: tensor %s has dims %d x %d", g->path, src, ne32[0], ne32[1]);
    if (g->ver >= 10)
        g->pos = (g->pos + 31) & ~(uint64_t)31;
    int64_t ne[2] = {ne32[0], ne32[1]}, nel = ne[0] * ne[1];
    int old = g->ver < 13 && (type == LE_TYPE_Q4_0 || type == LE_TYPE_Q4_1 || type == LE_TYPE_Q8_0);
    if (type == 4 || type == 5 || (g->ver < 12 && (type == LE_TYPE_Q5_0 || type == LE_TYPE_Q5_1)) ||
        (g->ver < 13 && type > LE_TYPE_Q8_0))
        return le_err_set(LE_EUNSUP, "%s: tensor %s has type %d, which this file version's ggml laid out in a way "
                          "not supported here", g->path, src, type);
    uint64_t nbytes;
    if (old)
        nbytes = (uint64_t)(nel / 32) * (type == LE_TYPE_Q4_0 ? 20 : type == LE_TYPE_Q4_1 ? 24 : 36);
    else {
        int64_t blck;
        size_t ts;
        if (le_type_info(type, &blck, &ts, NULL) != LE_OK || ne[0] % blck)
            return le_err_set(LE_EFORMAT, "%s: tensor %s has unknown type %d or a bad row length", g->path, src, type);
        nbytes = (uint64_t)(nel / blck) * ts;
    }
    if ((old && ne[0] % 32) || g->pos > g->size || nbytes > g->size - g->pos)
        return le_err_set(LE_EFORMAT, "%s: tensor %s: %llu data bytes run past the end of the file (truncated)", g->path,
                          src, (unsigned long long)nbytes);
    const uint8_t *data = g->p + g->pos;
    g->pos += nbytes;
    if (gg_name(src, dst, sizeof dst))
        return LE_OK; /* e.g. rope.freqs */
    if (old) {
        float *f = fmt_alloc(g->b, (size_t)nel * 4);
        if (!f)
            return LE_ENOMEM;
        gg_old_deq(type, g->ver == 12, data, f, nel);
        data = (const uint8_t *)f;
        type = LE_TYPE_F32;
    }
    if (nd == 1)
        return fmt_tensor_f(g->b, dst, type, 0, ne[0], data);
    return fmt_tensor(g->b, dst, type, 2, ne, data);
}

int fmt_ggml_open(struct fmt_b *b, const char *path) {
    struct gg g = {.b = b, .path = path};
    int rc = fmt_map(b, path, &g.p, &g.size);
    if (rc)
        return rc;
    uint32_t magic = 0, ver = 0, hp[7] = {0};
    if ((rc = gg_rd(&g, &magic, 4, "the magic")))
        return rc;
    if (magic == 0x67676d6cu)
        g.ver = 0;
    else if ((rc = gg_rd(&g, &ver, 4, "the version")))
        return rc;
    else if (magic == 0x67676d66u && ver == 1)
        g.ver = 1;
    else if (magic == 0x67676a74u && ver >= 1 && ver <= 3)
        g.ver = 10 + (int)ver;
    else
        return le_err_set(LE_EUNSUP, "%s: GGML-family file version %u is not supported (ggmf 1, ggjt 1-3)", path, ver);
    if ((rc = gg_rd(&g, hp, sizeof hp, "the hyperparameters")))
        return rc;
    if (hp[0] < 1 || hp[0] > (1u << 22) || hp[1] < 1 || hp[3] < 1 || hp[4] < 1 || hp[1] % hp[3] || hp[4] > 1024)
        return le_err_set(LE_EFORMAT, "%s: implausible hyperparameters (n_vocab %u, n_embd %u, n_head %u, n_layer %u)",
                          path, hp[0], hp[1], hp[3], hp[4]);
    if ((rc = gg_vocab(&g, hp[0])))
        return rc;
    while (!rc && g.pos < g.size)
        rc = gg_tensor(&g);
    if (rc)
        return rc;
    const struct le_gguf_tensor *w1 = fmt_find(b, "blk.0.ffn_gate.weight");
    if (!w1)
        return le_err_set(LE_EFORMAT, "%s: tensor layers.0.feed_forward.w1.weight is missing", path);
    const char *base = strrchr(path, '/');
    struct fmt_hp h = {.dim = hp[1], .n_layers = hp[4], .n_heads = hp[3], .n_kv_heads = hp[3], .ffn = w1->ne[1],
                       .ctx = 2048, .eps = 1e-6, .rope_base = 10000.0, .name = base ? base + 1 : path, .ftype = (int)hp[6]};
    return fmt_llama_kv(b, &h);
}
