/*
 * fmt_tok: tokenizers outside GGUF turned into llama.cpp's
 * tokenizer.ggml.* keys, so le_tok (and llama.cpp, after `convert`) runs
 * them unchanged:
 *   tokenizer.model  SentencePiece ModelProto (protobuf): pieces (text,
 *                    score, type -- the types are GGUF's numbers), trainer
 *                    spec unk/bos/eos ids, normalizer add_dummy_prefix ->
 *                    model "llama", as convert_hf_to_gguf's sentencepiece vocab.
 *   tokenizer.json   BPE with byte_fallback (LLaMA's fast tokenizer) ->
 *                    model "llama" with each token's score = -(rank of the
 *                    first merge that makes it), so SentencePiece merging by
 *                    score merges in HF's rank order; byte-level BPE ->
 *                    model "gpt2" with the merges and the pre-tokenizer
 *                    recognised from the JSON (GPT-2's ByteLevel, LLaMA-3's
 *                    Split regex). Added tokens marked special are control.
 *   tokenizer.bin    llama2.c's export (max length, then score, length,
 *                    bytes per token; spaces stand for U+2581, BOS/EOS are
 *                    "\n<s>\n", "\n</s>\n") -> model "llama".
 * Ids missing from a vocabulary become "[PADn]" unused tokens, as llama.cpp.
 */
#include "format_int.h"

#include "le_err.h"

#include <cjson/cJSON.h>
#include <math.h> /* isfinite */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Token text storage: NUL-terminated copies. */
struct vocab {
    char **text;
    float *score;
    int32_t *type;
    int64_t n;
};

static int vocab_new(struct vocab *v, int64_t n, const char *path) {
    memset(v, 0, sizeof *v);
    v->n = n;
    v->text = calloc((size_t)n + 1, sizeof *v->text);
    v->score = calloc((size_t)n + 1, sizeof *v->score);
    v->type = calloc((size_t)n + 1, sizeof *v->type);
    if (!v->text || !v->score || !v->type)
        return le_err_set(LE_ENOMEM, "%s: out of memory for %lld tokens", path, (long long)n);
    return LE_OK;
}

static void vocab_free(struct vocab *v) {
    for (int64_t i = 0; v->text && i < v->n; i++)
        free(v->text[i]);
    free(v->text);
    free(v->score);
    free(v->type);
}

/* Fills ids nobody named with "[PADn]" unused tokens. */
static int vocab_pad(struct vocab *v, const char *path) {
    for (int64_t i = 0; i < v->n; i++) {
        if (v->text[i])
            continue;
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%lld]", (long long)i);
        if (!(v->text[i] = strdup(buf)))
            return le_err_set(LE_ENOMEM, "%s: out of memory", path);
        v->type[i] = 5;
    }
    return LE_OK;
}

int fmt_tok_spm_keys(struct fmt_b *b, int64_t n, const char *const *text, const float *scores,
                     const int32_t *types, int32_t bos, int32_t eos, int32_t unk) {
    struct le_gguf_writer *w = b->w;
    int rc;
    if ((rc = le_gguf_set_str(w, "tokenizer.ggml.model", "llama")) ||
        (rc = le_gguf_set_str(w, "tokenizer.ggml.pre", "default")) ||
        (rc = le_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (uint64_t)n, text)) ||
        (rc = le_gguf_set_arr(w, "tokenizer.ggml.scores", LE_GGUF_F32, (uint64_t)n, scores)) ||
        (rc = le_gguf_set_arr(w, "tokenizer.ggml.token_type", LE_GGUF_I32, (uint64_t)n, types)))
        return rc;
    if (bos >= 0 && bos < n && (rc = le_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos)))
        return rc;
    if (eos >= 0 && eos < n && (rc = le_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos)))
        return rc;
    if (unk >= 0 && unk < n && (rc = le_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk)))
        return rc;
    if ((rc = le_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1)) ||
        (rc = le_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0)))
        return rc;
    return LE_OK;
}

/* ---- SentencePiece protobuf ---- */

struct pb {
    const uint8_t *p, *end;
    const char *path;
    int bad;
};

static uint64_t pb_varint(struct pb *c) {
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (c->p >= c->end) {
            c->bad = 1;
            return 0;
        }
        uint8_t x = *c->p++;
        v |= (uint64_t)(x & 0x7f) << s;
        if (!(x & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

/* Reads one field header and, for length-delimited fields, the payload
 * (sub); skips other wire types into *val (varint) or fixed32 bits. */
static int pb_field(struct pb *c, uint32_t *field, int *wt, struct pb *sub, uint64_t *val) {
    uint64_t key = pb_varint(c);
    *field = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    *val = 0;
    if (c->bad)
        return -1;
    if (*wt == 0)
        *val = pb_varint(c);
    else if (*wt == 1 || *wt == 5) {
        size_t k = *wt == 1 ? 8 : 4;
        if ((size_t)(c->end - c->p) < k)
            c->bad = 1;
        else {
            memcpy(val, c->p, k);
            c->p += k;
        }
    } else if (*wt == 2) {
        uint64_t len = pb_varint(c);
        if (c->bad || len > (uint64_t)(c->end - c->p))
            c->bad = 1;
        else {
            *sub = (struct pb){c->p, c->p + len, c->path, 0};
            c->p += len;
        }
    } else
        c->bad = 1;
    return c->bad ? -1 : 0;
}

int fmt_tok_spm_model(struct fmt_b *b, const char *path) {
    const uint8_t *p;
    uint64_t size;
    int rc = fmt_map(b, path, &p, &size);
    if (rc)
        return rc;
    /* Pass 1 counts the pieces; pass 2 reads them and the specs. */
    struct pb c = {p, p + size, path, 0}, sub;
    uint32_t f;
    int wt;
    uint64_t val;
    int64_t n = 0, unk = 0, bos = 1, eos = 2, add_prefix = 1;
    while (c.p < c.end && !pb_field(&c, &f, &wt, &sub, &val)) {
        if (f == 1 && wt == 2)
            n++;
    }
    if (c.bad || n == 0)
        return le_err_set(LE_EFORMAT, "%s: not a SentencePiece model (malformed or truncated protobuf)", path);
    struct vocab v;
    if ((rc = vocab_new(&v, n, path))) {
        vocab_free(&v);
        return rc;
    }
    c = (struct pb){p, p + size, path, 0};
    int64_t k = 0;
    while (!rc && c.p < c.end && !pb_field(&c, &f, &wt, &sub, &val)) {
        if (wt != 2)
            continue;
        if (f == 1) {
            struct pb s = sub, t;
            const uint8_t *txt = NULL;
            size_t tl = 0;
            v.type[k] = 1;
            while (s.p < s.end && !pb_field(&s, &f, &wt, &t, &val)) {
                if (f == 1 && wt == 2) {
                    txt = t.p;
                    tl = (size_t)(t.end - t.p);
                } else if (f == 2 && wt == 5) {
                    uint32_t u = (uint32_t)val;
                    memcpy(&v.score[k], &u, 4);
                } else if (f == 3 && wt == 0)
                    v.type[k] = (int32_t)val;
            }
            if (s.bad || !txt || v.type[k] < 1 || v.type[k] > 6)
                rc = le_err_set(LE_EFORMAT, "%s: piece %lld is malformed", path, (long long)k);
            else if (!(v.text[k] = strndup((const char *)txt, tl)))
                rc = le_err_set(LE_ENOMEM, "%s: out of memory", path);
            k++;
        } else if (f == 2 || f == 3) {
            struct pb s = sub, t;
            uint32_t outer = f;
            while (s.p < s.end && !pb_field(&s, &f, &wt, &t, &val)) {
                if (outer == 2 && wt == 0 && f == 40)
                    unk = (int32_t)val;
                else if (outer == 2 && wt == 0 && f == 41)
                    bos = (int32_t)val;
                else if (outer == 2 && wt == 0 && f == 42)
                    eos = (int32_t)val;
                else if (outer == 3 && wt == 0 && f == 3)
                    add_prefix = val != 0;
            }
            if (s.bad)
                rc = le_err_set(LE_EFORMAT, "%s: malformed %s spec", path, outer == 2 ? "trainer" : "normalizer");
        }
    }
    if (!rc && c.bad)
        rc = le_err_set(LE_EFORMAT, "%s: truncated protobuf", path);
    if (!rc)
        rc = fmt_tok_spm_keys(b, n, (const char *const *)v.text, v.score, v.type, (int32_t)bos, (int32_t)eos,
                              (int32_t)unk);
    if (!rc)
        rc = le_gguf_set_bool(b->w, "tokenizer.ggml.add_space_prefix", (int)add_prefix);
    vocab_free(&v);
    return rc;
}

/* ---- tokenizer.json ---- */

static int is_byte_token(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>';
}

/* The GGUF pre-tokenizer name for a byte-level BPE tokenizer.json. */
static int hf_pre(const cJSON *root, const char *path, const char **pre) {
    static const char llama3_re[] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "ByteLevel")) {
        const cJSON *ur = cJSON_GetObjectItemCaseSensitive(pt, "use_regex");
        if (!ur || cJSON_IsTrue(ur)) {
            *pre = "gpt-2";
            return LE_OK;
        }
    }
    if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers")) {
            const cJSON *pat = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "pattern"), "Regex");
            if (cJSON_IsString(pat) && !strcmp(pat->valuestring, llama3_re)) {
                *pre = "llama-bpe";
                return LE_OK;
            }
        }
    }
    return le_err_set(LE_EUNSUP, "%s: byte-level BPE with a pre-tokenizer this program does not recognise", path);
}

/* Whether the SPM-style tokenizer prepends U+2581 to the text. */
static int hf_space_prefix(const cJSON *root) {
    const cJSON *nz = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(nz, "normalizers")) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(e, "type");
        if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "Prepend"))
            return 1;
    }
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "Metaspace")) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(pt, "prepend_scheme");
        const cJSON *ap = cJSON_GetObjectItemCaseSensitive(pt, "add_prefix_space");
        if (cJSON_IsString(ps))
            return strcmp(ps->valuestring, "never") != 0;
        return !ap || cJSON_IsTrue(ap);
    }
    return 0;
}

/* Merge i as "left right" (string form, or the newer [left, right] pair). */
static int merge_str(const cJSON *m, char *buf, size_t cap) {
    if (cJSON_IsString(m))
        return snprintf(buf, cap, "%s", m->valuestring) < (int)cap ? 0 : -1;
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
        cJSON_IsString(cJSON_GetArrayItem(m, 1)))
        return snprintf(buf, cap, "%s %s", cJSON_GetArrayItem(m, 0)->valuestring,
                        cJSON_GetArrayItem(m, 1)->valuestring) < (int)cap ? 0 : -1;
    return -1;
}

static int32_t find_id(const cJSON *vocab, const cJSON *added, const char *text) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(vocab, text);
    if (cJSON_IsNumber(e))
        return (int32_t)e->valuedouble;
    cJSON_ArrayForEach(e, added) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content"), *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsString(c) && cJSON_IsNumber(id) && !strcmp(c->valuestring, text))
            return (int32_t)id->valuedouble;
    }
    return -1;
}

static int hf_json_vocab(const cJSON *model, const cJSON *added, const char *path, struct vocab *v) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *e;
    if (!cJSON_IsObject(vocab))
        return le_err_set(LE_EFORMAT, "%s: model.vocab is not an object", path);
    int64_t n = 0;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e7)
            return le_err_set(LE_EFORMAT, "%s: vocab entry has a bad id", path);
        if ((int64_t)e->valuedouble + 1 > n)
            n = (int64_t)e->valuedouble + 1;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 1e7)
            return le_err_set(LE_EFORMAT, "%s: added token has a bad id", path);
        if ((int64_t)id->valuedouble + 1 > n)
            n = (int64_t)id->valuedouble + 1;
    }
    int rc = vocab_new(v, n, path);
    if (rc)
        return rc;
    cJSON_ArrayForEach(e, vocab) {
        int64_t id = (int64_t)e->valuedouble;
        if (!v->text[id] && !(v->text[id] = strdup(e->string)))
            return le_err_set(LE_ENOMEM, "%s: out of memory", path);
        v->type[id] = is_byte_token(e->string) ? 6 : 1;
    }
    cJSON_ArrayForEach(e, added) {
        int64_t id = (int64_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "special");
        if (!cJSON_IsString(c))
            return le_err_set(LE_EFORMAT, "%s: added token %lld has no content", path, (long long)id);
        if (!v->text[id] && !(v->text[id] = strdup(c->valuestring)))
            return le_err_set(LE_ENOMEM, "%s: out of memory", path);
        v->type[id] = cJSON_IsTrue(sp) ? 3 : 4;
    }
    return vocab_pad(v, path);
}

/* Text -> id over a vocabulary (open addressing, FNV-1a). */
struct vhash {
    int64_t *slot;
    uint64_t mask;
};

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int vhash_build(struct vhash *h, const struct vocab *v) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)v->n)
        cap *= 2;
    h->mask = cap - 1;
    h->slot = malloc(cap * sizeof *h->slot);
    if (!h->slot)
        return -1;
    memset(h->slot, 0xff, cap * sizeof *h->slot);
    for (int64_t i = 0; i < v->n; i++) {
        uint64_t k = fnv(v->text[i]) & h->mask;
        while (h->slot[k] >= 0)
            k = (k + 1) & h->mask;
        h->slot[k] = i;
    }
    return 0;
}

static int64_t vhash_find(const struct vhash *h, const struct vocab *v, const char *s) {
    for (uint64_t k = fnv(s) & h->mask; h->slot[k] >= 0; k = (k + 1) & h->mask)
        if (!strcmp(v->text[h->slot[k]], s))
            return h->slot[k];
    return -1;
}

/* SPM scores from merge ranks: a token's score is -(rank of the first merge
 * that makes it); tokens no merge makes keep 0 (single characters, bytes,
 * specials: SentencePiece merging never looks their scores up). */
static int hf_scores(const cJSON *model, struct vocab *v, const char *path) {
    struct vhash h;
    if (vhash_build(&h, v))
        return le_err_set(LE_ENOMEM, "%s: out of memory", path);
    const cJSON *m;
    int64_t rank = 0;
    char buf[1024];
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(model, "merges")) {
        rank++;
        char *sp;
        if (merge_str(m, buf, sizeof buf) || !(sp = strchr(buf, ' ')))
            continue;
        memmove(sp, sp + 1, strlen(sp + 1) + 1);
        int64_t id = vhash_find(&h, v, buf);
        if (id >= 0 && v->score[id] == 0)
            v->score[id] = -(float)rank;
    }
    free(h.slot);
    return LE_OK;
}

static int hf_json_bpe_keys(struct fmt_b *b, const cJSON *model, const struct vocab *v, const char *pre,
                            const char *path) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges"), *m;
    int64_t nm = cJSON_GetArraySize(merges), i = 0;
    char **ms = calloc((size_t)nm + 1, sizeof *ms);
    int rc = ms ? LE_OK : le_err_set(LE_ENOMEM, "%s: out of memory", path);
    char buf[1024];
    cJSON_ArrayForEach(m, merges) {
        if (rc)
            break;
        if (merge_str(m, buf, sizeof buf))
            rc = le_err_set(LE_EFORMAT, "%s: merge %lld is malformed", path, (long long)i);
        else if (!(ms[i++] = strdup(buf)))
            rc = le_err_set(LE_ENOMEM, "%s: out of memory", path);
    }
    struct le_gguf_writer *w = b->w;
    if (!rc && !(rc = le_gguf_set_str(w, "tokenizer.ggml.model", "gpt2")) &&
        !(rc = le_gguf_set_str(w, "tokenizer.ggml.pre", pre)) &&
        !(rc = le_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (uint64_t)v->n, (const char *const *)v->text)) &&
        !(rc = le_gguf_set_arr(w, "tokenizer.ggml.token_type", LE_GGUF_I32, (uint64_t)v->n, v->type)))
        rc = le_gguf_set_arr_str(w, "tokenizer.ggml.merges", (uint64_t)nm, (const char *const *)ms);
    for (int64_t k = 0; k < i; k++)
        free(ms[k]);
    free(ms);
    return rc;
}

int fmt_tok_hf_json(struct fmt_b *b, const char *path, const char *config_path) {
    cJSON *root = NULL, *cfg = NULL;
    int rc = fmt_json_file(path, &root);
    if (rc)
        return rc;
    if (config_path)
        (void)fmt_json_file(config_path, &cfg);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(model, "type");
    struct vocab v = {0};
    if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "BPE"))
        rc = le_err_set(LE_EUNSUP, "%s: tokenizer model type %.32s is not supported (only BPE)", path,
                        cJSON_IsString(ty) ? ty->valuestring : "(none)");
    if (!rc)
        rc = hf_json_vocab(model, added, path, &v);
    int32_t bos = -1, eos = -1, unk = -1;
    if (!rc) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
        if (cJSON_IsString(u))
            unk = find_id(cJSON_GetObjectItemCaseSensitive(model, "vocab"), added, u->valuestring);
        bos = find_id(cJSON_GetObjectItemCaseSensitive(model, "vocab"), added, "<s>");
        eos = find_id(cJSON_GetObjectItemCaseSensitive(model, "vocab"), added, "</s>");
        int64_t x;
        if (cfg && fmt_json_int(cfg, "bos_token_id", config_path, 1, bos, &x) == LE_OK)
            bos = (int32_t)x;
        if (cfg && fmt_json_int(cfg, "eos_token_id", config_path, 1, eos, &x) == LE_OK)
            eos = (int32_t)x;
        if (unk >= 0 && unk < v.n)
            v.type[unk] = 2;
    }
    if (!rc && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"))) {
        rc = hf_scores(model, &v, path);
        if (!rc)
            rc = fmt_tok_spm_keys(b, v.n, (const char *const *)v.text, v.score, v.type, bos, eos, unk);
        if (!rc)
            rc = le_gguf_set_bool(b->w, "tokenizer.ggml.add_space_prefix", hf_space_prefix(root));
    } else if (!rc) {
        const char *pre = NULL;
        if (!(rc = hf_pre(root, path, &pre)))
            rc = hf_json_bpe_keys(b, model, &v, pre, path);
        if (!rc && bos >= 0 && bos < v.n)
            rc = le_gguf_set_u32(b->w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
        if (!rc && eos >= 0 && eos < v.n)
            rc = le_gguf_set_u32(b->w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    }
    vocab_free(&v);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    return rc;
}

/* ---- llama2.c tokenizer.bin ---- */

int fmt_tok_llama2c(struct fmt_b *b, const char *path, int64_t n_vocab) {
    const uint8_t *p;
    uint64_t size, pos = 4;
    int rc = fmt_map(b, path, &p, &size);
    if (rc)
        return rc;
    if (size < 4)
        return le_err_set(LE_EFORMAT, "%s: truncated tokenizer.bin header", path);
    if (n_vocab < 0) { /* alone: as many entries as the file holds */
        /* tokenizer.bin has no magic: a file is taken for one only when its
         * header (max_token_length) is plausible and its entries, each no
         * longer than that with a finite score, fill the file exactly. */
        int32_t maxlen;
        memcpy(&maxlen, p, 4);
        uint64_t q = 4;
        n_vocab = 0;
        while (maxlen > 0 && maxlen <= 65536 && q + 8 <= size) {
            int32_t len;
            float sc;
            memcpy(&sc, p + q, 4);
            memcpy(&len, p + q + 4, 4);
            if (len < 0 || len > maxlen || (uint64_t)len > size - q - 8 || !isfinite(sc))
                break;
            q += 8 + (uint64_t)len;
            n_vocab++;
        }
        if (n_vocab == 0 || q != size)
            return le_err_set(LE_EFORMAT, "%s: not a tokenizer file this program reads (tokenizer.json, "
                              "tokenizer.model, llama2.c tokenizer.bin) nor a model file", path);
    }
    struct vocab v;
    if ((rc = vocab_new(&v, n_vocab, path))) {
        vocab_free(&v);
        return rc;
    }
    for (int64_t i = 0; !rc && i < n_vocab; i++) {
        int32_t len;
        if (size - pos < 8) {
            rc = le_err_set(LE_EFORMAT, "%s: truncated at token %lld of %lld", path, (long long)i, (long long)n_vocab);
            break;
        }
        memcpy(&v.score[i], p + pos, 4);
        memcpy(&len, p + pos + 4, 4);
        pos += 8;
        if (len < 0 || (uint64_t)len > size - pos) {
            rc = le_err_set(LE_EFORMAT, "%s: token %lld has a bad length %d (truncated?)", path, (long long)i, len);
            break;
        }
        const char *s = (const char *)p + pos;
        pos += (uint64_t)len;
        char *t = malloc((size_t)len * 3 + 1), *q = t;
        if (!t) {
            rc = le_err_set(LE_ENOMEM, "%s: out of memory", path);
            break;
        }
        v.type[i] = 1;
        if (len == 5 && !memcmp(s, "\n<s>\n", 5)) {
            strcpy(t, "<s>");
            v.type[i] = 3;
        } else if (len == 6 && !memcmp(s, "\n</s>\n", 6)) {
            strcpy(t, "</s>");
            v.type[i] = 3;
        } else {
            for (int32_t k = 0; k < len; k++) {
                if (s[k] == ' ') {
                    memcpy(q, "\xe2\x96\x81", 3);
                    q += 3;
                } else
                    *q++ = s[k];
            }
            *q = 0;
            if (i == 0 && !strcmp(t, "<unk>"))
                v.type[i] = 2;
            else if (is_byte_token(t))
                v.type[i] = 6;
        }
        v.text[i] = t;
    }
    if (!rc)
        rc = fmt_tok_spm_keys(b, n_vocab, (const char *const *)v.text, v.score, v.type, 1, 2, 0);
    vocab_free(&v);
    return rc;
}
