/*
 * generate: lm-evaluation-harness's generate_until on the KV-cached engine
 * (lm_eval/models/huggingface.py generate_until with do_sample false:
 * greedy decoding, stop strings, max_gen_toks; lm_eval/models/utils.py
 * postprocess_generated_text cuts the text before every stop string).
 *
 * Design: the context goes through le_runner_prefill, so its prefix shared
 * with the previous request (the few-shot preamble of a task: hundreds of
 * tokens against tens of new ones per document) stays in the cache; then one
 * le_ctx_eval of one token per step. The stop check decodes the whole
 * continuation each step (at most max_gen_toks pieces, negligible next to a
 * forward pass) because a stop string may straddle token boundaries.
 *
 * The text is made valid UTF-8 the way HF's decode makes it (errors =
 * "replace"): a random or small model may emit lone byte tokens.
 *
 * Sampling (only for `llamaeval generate`; tasks are greedy): top-k, then
 * softmax at temperature in double, then top-p over the sorted
 * probabilities, then one draw from a seeded xoshiro256** stream, so a seed
 * gives the same text for any thread count.
 */
#include "le_tasks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "le_err.h"   /* le_err_set */
#include "le_model.h" /* le_ctx_eval */
#include "le_tok.h"   /* le_tok_decode, le_tok_eos */
#include "tasks_int.h" /* struct le_runner, le_runner_prefill */

void le_gen_result_clear(struct le_gen_result *g) {
    if (!g)
        return;
    free(g->text);
    free(g->ids);
    memset(g, 0, sizeof *g);
}

static int32_t argmax_row(const float *row, int64_t n) {
    int32_t am = 0;
    for (int64_t v = 1; v < n; v++)
        if (row[v] > row[am])
            am = (int32_t)v;
    return am;
}

struct cand {
    float logit;
    int32_t id;
};

static int cand_cmp(const void *a, const void *b) {
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* One draw: top-k, temperature softmax, top-p, then the cumulative search. */
static int32_t sample_row(const float *row, int64_t n, const struct le_gen_opts *o, struct le_rng *g,
                          struct cand *c, double *p) {
    for (int64_t v = 0; v < n; v++)
        c[v] = (struct cand){row[v], (int32_t)v};
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
    int64_t k = o->top_k > 0 && o->top_k < n ? o->top_k : n;
    double sum = 0.0;
    for (int64_t i = 0; i < k; i++) {
        p[i] = exp(((double)c[i].logit - (double)c[0].logit) / o->temp);
        sum += p[i];
    }
    if (o->top_p > 0 && o->top_p < 1) {
        double acc = 0.0;
        int64_t keep = k;
        for (int64_t i = 0; i < k; i++) {
            acc += p[i] / sum;
            if (acc >= o->top_p) {
                keep = i + 1;
                break;
            }
        }
        k = keep;
        sum = 0.0;
        for (int64_t i = 0; i < k; i++)
            sum += p[i];
    }
    double u = (double)(le_rng_next(g) >> 11) * 0x1.0p-53 * sum, acc = 0.0;
    for (int64_t i = 0; i < k; i++) {
        acc += p[i];
        if (u < acc)
            return c[i].id;
    }
    return c[k - 1].id;
}

static char *utf8_replace(char *text);

/* Decodes ids into *buf (grown as needed) as valid UTF-8 (utf8_replace);
 * returns the length or < 0. */
static int64_t decode_into(const struct le_tok *t, const int32_t *ids, int64_t n, char **buf, size_t *cap) {
    int64_t len = le_tok_decode(t, ids, n, *buf, *cap ? *cap - 1 : 0);
    if (len < 0)
        return len;
    if ((size_t)len + 1 > *cap) {
        size_t nc = (size_t)len + 256;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return le_err_set(LE_ENOMEM, "out of memory");
        *buf = nb;
        *cap = nc;
        len = le_tok_decode(t, ids, n, *buf, *cap - 1);
        if (len < 0)
            return len;
    }
    (*buf)[len] = 0;
    char *fixed = utf8_replace(*buf);
    if (!fixed) {
        *buf = NULL;
        *cap = 0;
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    if (fixed != *buf) {
        *buf = fixed;
        len = (int64_t)strlen(fixed);
        *cap = (size_t)len + 1;
    }
    return len;
}

/* Length of the valid UTF-8 sequence at s[i..n), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t i) {
    unsigned c = s[i];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || i + len > n)
        return 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i + k] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The text as Python's bytes.decode("utf-8", errors="replace") gives it
 * (what HF's tokenizer decode returns for stray byte tokens): each invalid
 * byte becomes U+FFFD. Frees text; returns a new string or NULL. */
static char *utf8_replace(char *text) {
    size_t n = strlen(text), bad = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)text, n, i);
        bad += !k;
        i += k ? k : 1;
    }
    if (!bad)
        return text;
    char *o = malloc(n + 2 * bad + 1), *w = o;
    for (size_t i = 0; o && i < n;) {
        size_t k = utf8_seq((const unsigned char *)text, n, i);
        if (k) {
            memcpy(w, text + i, k);
            w += k;
            i += k;
        } else {
            memcpy(w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        }
    }
    if (o)
        *w = 0;
    free(text);
    return o;
}

/* Where the text must be cut: the earliest occurrence of any stop string
 * (what splitting on each in turn leaves); len when none occurs. */
static size_t stop_cut(const char *text, size_t len, const struct le_gen_opts *o) {
    size_t cut = len;
    for (int i = 0; i < o->n_until; i++) {
        if (!o->until[i] || !o->until[i][0])
            continue;
        const char *h = strstr(text, o->until[i]);
        if (h && (size_t)(h - text) < cut)
            cut = (size_t)(h - text);
    }
    return cut;
}

int le_runner_generate_tokens(struct le_runner *r, const int32_t *ctx, int64_t n, const struct le_gen_opts *o,
                              struct le_gen_result *res) {
    memset(res, 0, sizeof *res);
    int max_gen = o->max_gen_toks > 0 ? o->max_gen_toks : 256;
    if (max_gen >= r->n_ctx)
        return le_err_set(LE_EINVAL, "max_gen_toks %d must be less than the context length %d", max_gen, r->n_ctx);
    if (n < 1)
        return le_err_set(LE_EINVAL, "generation needs a non-empty context");
    int64_t keep = (int64_t)r->n_ctx - max_gen;
    if (n > keep) { /* left truncation, as tok_batch_encode(left_truncate_len) */
        ctx += n - keep;
        n = keep;
    }
    int sampling = o->temp > 0;
    struct le_rng g;
    le_rng_seed(&g, o->seed);
    struct cand *c = sampling ? malloc((size_t)r->n_vocab * sizeof *c) : NULL;
    double *p = sampling ? malloc((size_t)r->n_vocab * sizeof *p) : NULL;
    res->ids = malloc((size_t)max_gen * sizeof *res->ids);
    char *text = NULL;
    size_t cap = 0;
    int64_t len = 0;
    int rc = res->ids && (!sampling || (c && p)) ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    const float *row = NULL;
    if (!rc)
        rc = le_runner_prefill(r, ctx, n, &row);
    res->n_ctx_toks = n;
    int32_t eos = le_tok_eos(r->tok);
    res->stop = LE_GEN_STOP_MAX;
    while (!rc && res->n_ids < max_gen) {
        int32_t t = sampling ? sample_row(row, r->n_vocab, o, &g, c, p) : argmax_row(row, r->n_vocab);
        if (t == eos) {
            res->stop = LE_GEN_STOP_EOS;
            break;
        }
        res->ids[res->n_ids++] = t;
        if (o->n_until > 0) {
            len = decode_into(r->tok, res->ids, res->n_ids, &text, &cap);
            if (len < 0) {
                rc = (int)len;
                break;
            }
            if (stop_cut(text, (size_t)len, o) < (size_t)len) {
                res->stop = LE_GEN_STOP_UNTIL;
                break;
            }
        }
        if (res->n_ids == max_gen)
            break;
        int pos = (int)r->n_cached;
        if (pos >= r->n_ctx) {
            res->stop = LE_GEN_STOP_CTX;
            break;
        }
        rc = le_ctx_eval(r->ctx, &t, 1, pos, 1);
        if (!rc) {
            r->cached[pos] = t;
            r->n_cached = pos + 1;
            r->st.tokens_evaluated++;
            r->st.tokens_naive++;
            row = le_ctx_logits(r->ctx);
        }
    }
    if (!rc) {
        len = decode_into(r->tok, res->ids, res->n_ids, &text, &cap);
        if (len < 0)
            rc = (int)len;
        else {
            text = text ? text : calloc(1, 1);
            if (!text)
                rc = le_err_set(LE_ENOMEM, "out of memory");
            else
                text[stop_cut(text, (size_t)len, o)] = 0;
        }
    }
    free(c);
    free(p);
    if (rc) {
        free(text);
        le_gen_result_clear(res);
        return rc;
    }
    res->text = text;
    return LE_OK;
}

int le_runner_generate(struct le_runner *r, const char *context, const struct le_gen_opts *o,
                       struct le_gen_result *res) {
    struct le_toks t = {0};
    int rc = le_tokenize(r->tok, context, strlen(context), r->add_bos, &t);
    if (!rc && t.n == 0) { /* an empty context without BOS: condition on the prefix token */
        le_toks_free(&t);
        rc = le_tokenize(r->tok, "", 0, 0, &t);
        if (!rc && t.cap >= 1) {
            t.ids[0] = r->prefix;
            t.n = 1;
        }
    }
    if (!rc)
        rc = le_runner_generate_tokens(r, t.ids, t.n, o, res);
    else
        memset(res, 0, sizeof *res);
    le_toks_free(&t);
    return rc;
}
