/*
 * tok_gguf: builds a tokenizer from a GGUF file's tokenizer.ggml.* keys,
 * with llama.cpp's defaults for absent keys (llama_vocab::impl::load):
 * "llama" -> SPM (bos 1, eos 2, unk 0, add_bos true, add_space_prefix true),
 * "gpt2" -> byte-level BPE (bos = eos = 11, add_bos as the pre-tokenizer
 * says). An id key that is out of range keeps the default, as llama.cpp.
 * Kept apart from tok.c so the tokenizer links without the GGUF reader.
 */
#include "le_err.h"
#include "le_gguf.h"
#include "le_tok.h"
#include "tok_int.h"

#include <stdlib.h>
#include <string.h>

/* The string array key as pointer/length arrays into the mapping. */
static int read_str_arr(const struct le_gguf *g, const char *key, uint64_t *n, const char ***s, uint32_t **len) {
    int et;
    const void *data;
    *s = NULL;
    *len = NULL;
    int rc = le_gguf_get_arr(g, key, &et, n, &data);
    if (rc)
        return rc == LE_ENOTFOUND ? le_err_set(rc, "missing key %s", key) : rc;
    if (et != LE_GGUF_STRING)
        return le_err_set(LE_EFORMAT, "%s is not an array of strings", key);
    if (*n > INT32_MAX / 2)
        return le_err_set(LE_EFORMAT, "%s has %llu entries", key, (unsigned long long)*n);
    *s = malloc((*n ? *n : 1) * sizeof **s);
    *len = malloc((*n ? *n : 1) * sizeof **len);
    if (!*s || !*len)
        return le_err_set(LE_ENOMEM, "out of memory reading %s", key);
    for (uint64_t i = 0; i < *n; i++) {
        const char *p;
        uint64_t l;
        if ((rc = le_gguf_get_arr_str(g, key, i, &p, &l)))
            return rc;
        if (l > UINT32_MAX)
            return le_err_set(LE_EFORMAT, "%s[%llu] is too long", key, (unsigned long long)i);
        (*s)[i] = p;
        (*len)[i] = (uint32_t)l;
    }
    return LE_OK;
}

/* A numeric array of at least need elements of type want (or, for
 * token types, any 32-bit integer type), copied out (may be unaligned). */
static int read_num_arr(const struct le_gguf *g, const char *key, uint64_t need, int want, void **out) {
    int et;
    uint64_t n;
    const void *data;
    *out = NULL;
    int rc = le_gguf_get_arr(g, key, &et, &n, &data);
    if (rc == LE_ENOTFOUND)
        return LE_OK;
    if (rc)
        return rc;
    int ok = et == want || (want == LE_GGUF_I32 && et == LE_GGUF_U32);
    if (!ok)
        return le_err_set(LE_EFORMAT, "%s has element type %d, expected %d", key, et, want);
    if (n < need)
        return le_err_set(LE_EFORMAT, "%s has %llu entries for %llu tokens", key, (unsigned long long)n,
                          (unsigned long long)need);
    *out = malloc(need * 4 + 4);
    if (!*out)
        return le_err_set(LE_ENOMEM, "out of memory reading %s", key);
    memcpy(*out, data, need * 4);
    return LE_OK;
}

static void opt_id(const struct le_gguf *g, const char *key, int32_t n_vocab, int32_t *id) {
    uint32_t v;
    if (le_gguf_get_u32(g, key, &v) == LE_OK && v < (uint32_t)n_vocab)
        *id = (int32_t)v;
}

static void opt_bool(const struct le_gguf *g, const char *key, int *b) {
    int v;
    if (le_gguf_get_bool(g, key, &v) == LE_OK)
        *b = v != 0;
}

int le_tok_from_gguf(struct le_tok **out, const struct le_gguf *g) {
    *out = NULL;
    const char *model, *pre = NULL;
    uint64_t model_len, pre_len = 0;
    int rc = le_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len);
    if (rc)
        return rc == LE_ENOTFOUND ? le_err_set(rc, "missing key tokenizer.ggml.model") : rc;
    int kind;
    if (model_len == 5 && memcmp(model, "llama", 5) == 0)
        kind = LE_TOK_SPM;
    else if (model_len == 4 && memcmp(model, "gpt2", 4) == 0)
        kind = LE_TOK_BPE;
    else
        return le_err_set(LE_EUNSUP, "unsupported tokenizer model '%.*s' (llama and gpt2 are)",
                          (int)(model_len > 64 ? 64 : model_len), model);
    char pre_buf[128] = "";
    if (le_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len) == LE_OK) {
        if (pre_len >= sizeof pre_buf)
            return le_err_set(LE_EUNSUP, "unsupported BPE pre-tokenizer (name of %llu bytes)",
                              (unsigned long long)pre_len);
        memcpy(pre_buf, pre, pre_len);
        pre_buf[pre_len] = 0;
    }

    struct le_tok_params p;
    le_tok_params_init(&p, kind);
    const char **toks = NULL, **merges = NULL;
    uint32_t *tok_lens = NULL, *merge_lens = NULL;
    void *scores = NULL, *types = NULL;
    uint64_t n_tok = 0, n_merges = 0;
    if ((rc = read_str_arr(g, "tokenizer.ggml.tokens", &n_tok, &toks, &tok_lens)))
        goto done;
    if (n_tok == 0) {
        rc = le_err_set(LE_EFORMAT, "tokenizer.ggml.tokens is empty");
        goto done;
    }
    if ((rc = read_num_arr(g, "tokenizer.ggml.scores", n_tok, LE_GGUF_F32, &scores)) ||
        (rc = read_num_arr(g, "tokenizer.ggml.token_type", n_tok, LE_GGUF_I32, &types)))
        goto done;
    if (kind == LE_TOK_BPE) {
        if ((rc = read_str_arr(g, "tokenizer.ggml.merges", &n_merges, &merges, &merge_lens)))
            goto done;
        p.pre = pre_buf;
        p.n_merges = (int64_t)n_merges;
        p.merges = merges;
        p.merge_lens = merge_lens;
    }
    p.n_vocab = (int32_t)n_tok;
    p.tokens = toks;
    p.token_lens = tok_lens;
    p.scores = scores;
    p.types = types;
    if (p.bos >= p.n_vocab)
        p.bos = -1;
    if (p.eos >= p.n_vocab)
        p.eos = -1;
    if (p.unk >= p.n_vocab)
        p.unk = -1;
    opt_id(g, "tokenizer.ggml.bos_token_id", p.n_vocab, &p.bos);
    opt_id(g, "tokenizer.ggml.eos_token_id", p.n_vocab, &p.eos);
    opt_id(g, "tokenizer.ggml.unknown_token_id", p.n_vocab, &p.unk);
    opt_bool(g, "tokenizer.ggml.add_bos_token", &p.add_bos);
    opt_bool(g, "tokenizer.ggml.add_eos_token", &p.add_eos);
    opt_bool(g, "tokenizer.ggml.add_space_prefix", &p.add_space_prefix);
    rc = le_tok_new(out, &p);
done:
    free(toks);
    free(tok_lens);
    free(merges);
    free(merge_lens);
    free(scores);
    free(types);
    return rc;
}
