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

/* One request being generated: options, result, sampler, decoded text. */
struct gen_seq {
    const struct le_gen_opts *o;
    struct le_gen_result *res;
    int max_gen, sampling;
    struct le_rng g;
    struct cand *c;
    double *p;
    char *text;
    size_t cap;
};

/* Checks and left-truncates the context (as tok_batch_encode's
 * left_truncate_len), allocates; *ctx, *n updated. */
static int gen_seq_begin(struct gen_seq *s, const struct le_runner *r, const struct le_gen_opts *o,
                         struct le_gen_result *res, const int32_t **ctx, int64_t *n) {
    memset(res, 0, sizeof *res);
    memset(s, 0, sizeof *s);
    s->o = o;
    s->res = res;
    s->max_gen = o->max_gen_toks > 0 ? o->max_gen_toks : 256;
    if (s->max_gen >= r->n_ctx)
        return le_err_set(LE_EINVAL, "max_gen_toks %d must be less than the context length %d", s->max_gen,
                          r->n_ctx);
    if (*n < 1)
        return le_err_set(LE_EINVAL, "generation needs a non-empty context");
    int64_t keep = (int64_t)r->n_ctx - s->max_gen;
    if (*n > keep) {
        *ctx += *n - keep;
        *n = keep;
    }
    s->sampling = o->temp > 0;
    le_rng_seed(&s->g, o->seed);
    s->c = s->sampling ? malloc((size_t)r->n_vocab * sizeof *s->c) : NULL;
    s->p = s->sampling ? malloc((size_t)r->n_vocab * sizeof *s->p) : NULL;
    res->ids = malloc((size_t)s->max_gen * sizeof *res->ids);
    res->n_ctx_toks = *n;
    res->stop = LE_GEN_STOP_MAX;
    return res->ids && (!s->sampling || (s->c && s->p)) ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
}

/* Takes the logits row of the last evaluated position (n_pos positions
 * cached): *next is the token to evaluate next, or -1 when the request is
 * done (res->stop says why). */
static int gen_seq_step(struct gen_seq *s, const struct le_runner *r, const float *row, int64_t n_pos,
                        int32_t *next) {
    struct le_gen_result *res = s->res;
    *next = -1;
    if (res->n_ids >= s->max_gen)
        return LE_OK;
    int32_t t = s->sampling ? sample_row(row, r->n_vocab, s->o, &s->g, s->c, s->p) : argmax_row(row, r->n_vocab);
    if (t == le_tok_eos(r->tok)) {
        res->stop = LE_GEN_STOP_EOS;
        return LE_OK;
    }
    res->ids[res->n_ids++] = t;
    if (s->o->n_until > 0) {
        int64_t len = decode_into(r->tok, res->ids, res->n_ids, &s->text, &s->cap);
        if (len < 0)
            return (int)len;
        if (stop_cut(s->text, (size_t)len, s->o) < (size_t)len) {
            res->stop = LE_GEN_STOP_UNTIL;
            return LE_OK;
        }
    }
    if (res->n_ids == s->max_gen)
        return LE_OK;
    if (n_pos >= r->n_ctx) {
        res->stop = LE_GEN_STOP_CTX;
        return LE_OK;
    }
    *next = t;
    return LE_OK;
}

/* The final text, cut before the first stop string; frees the scratch and,
 * on failure, the result. */
static int gen_seq_finish(struct gen_seq *s, const struct le_runner *r, int rc) {
    struct le_gen_result *res = s->res;
    if (!rc) {
        int64_t len = decode_into(r->tok, res->ids, res->n_ids, &s->text, &s->cap);
        if (len < 0)
            rc = (int)len;
        else {
            s->text = s->text ? s->text : calloc(1, 1);
            if (!s->text)
                rc = le_err_set(LE_ENOMEM, "out of memory");
            else
                s->text[stop_cut(s->text, (size_t)len, s->o)] = 0;
        }
    }
    free(s->c);
    free(s->p);
    if (rc) {
        free(s->text);
        le_gen_result_clear(res);
        return rc;
    }
    res->text = s->text;
    return LE_OK;
}

int le_runner_generate_tokens(struct le_runner *r, const int32_t *ctx, int64_t n, const struct le_gen_opts *o,
                              struct le_gen_result *res) {
    struct gen_seq s;
    int rc = gen_seq_begin(&s, r, o, res, &ctx, &n);
    const float *row = NULL;
    if (!rc)
        rc = le_runner_prefill(r, ctx, n, &row);
    while (!rc) {
        int32_t t;
        rc = gen_seq_step(&s, r, row, r->n_cached, &t);
        if (rc || t < 0)
            break;
        int pos = (int)r->n_cached;
        rc = le_ctx_eval(r->ctx, &t, 1, pos, 1);
        if (!rc) {
            r->cached[pos] = t;
            r->n_cached = pos + 1;
            r->st.tokens_evaluated++;
            r->st.tokens_naive++;
            row = le_ctx_logits(r->ctx);
        }
    }
    return gen_seq_finish(&s, r, rc);
}

int le_runner_generate_batch(struct le_runner *r, const int32_t *const *ctx, const int64_t *n, int nreq,
                             const struct le_gen_opts *o, struct le_gen_result *res) {
    if (nreq < 1)
        return le_err_set(LE_EINVAL, "batched generation of %d requests", nreq);
    struct gen_seq *s = calloc((size_t)nreq, sizeof *s);
    struct le_ctx **cs = calloc((size_t)nreq, sizeof *cs), **act = calloc((size_t)nreq, sizeof *act);
    float *rows = malloc((size_t)nreq * (size_t)r->n_vocab * sizeof *rows);
    int32_t *tok = malloc((size_t)nreq * sizeof *tok);
    /* the request's own contexts evaluate at most nreq rows per pass (the
     * prefill runs in the runner's) */
    int *idx = malloc((size_t)nreq * sizeof *idx), nb = nreq;
    int rc = s && cs && act && rows && tok && idx ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    int begun = 0;
    /* Each request through the runner (its cache keeps the prefix shared
     * with the previous one), then its cache copied into its own context;
     * its last logits row kept. */
    for (int i = 0; i < nreq && !rc; i++, begun++) {
        const int32_t *ci = ctx[i];
        int64_t ni = n[i];
        const float *row;
        rc = gen_seq_begin(&s[i], r, o, &res[i], &ci, &ni);
        if (!rc)
            rc = le_runner_prefill(r, ci, ni, &row);
        if (!rc)
            rc = le_ctx_new(&cs[i], r->model, r->n_ctx, nb, le_ctx_pool(r->ctx));
        if (!rc) {
            le_ctx_set_kv_f16(cs[i], le_ctx_kv_f16(r->ctx));
            rc = le_ctx_copy_cache(cs[i], r->ctx, (int)ni);
        }
        if (!rc)
            memcpy(rows + (size_t)i * (size_t)r->n_vocab, row, (size_t)r->n_vocab * sizeof *rows);
    }
    /* Steps: every request still generating gives one token, and one
     * forward pass evaluates them all. */
    while (!rc) {
        int na = 0;
        for (int i = 0; i < nreq && !rc; i++) {
            if (!cs[i])
                continue;
            int32_t t;
            rc = gen_seq_step(&s[i], r, rows + (size_t)i * (size_t)r->n_vocab, le_ctx_n_cached(cs[i]), &t);
            if (!rc && t < 0) {
                le_ctx_free(cs[i]);
                cs[i] = NULL;
            } else if (!rc) {
                act[na] = cs[i];
                tok[na] = t;
                idx[na++] = i;
            }
        }
        if (rc || na == 0)
            break;
        rc = le_ctx_decode_batch(act, tok, na);
        for (int k = 0; !rc && k < na; k++) {
            memcpy(rows + (size_t)idx[k] * (size_t)r->n_vocab, le_ctx_logits(act[0]) + (size_t)k * (size_t)r->n_vocab,
                   (size_t)r->n_vocab * sizeof *rows);
            r->st.tokens_evaluated++;
            r->st.tokens_naive++;
        }
    }
    for (int i = 0; i < begun; i++) {
        int ri = gen_seq_finish(&s[i], r, rc);
        rc = rc ? rc : ri;
    }
    for (int i = 0; cs && i < nreq; i++)
        le_ctx_free(cs[i]);
    free(s);
    free(cs);
    free(act);
    free(rows);
    free(tok);
    free(idx);
    return rc;
}

int le_runner_gen_encode(const struct le_runner *r, const char *context, struct le_toks *t) {
    *t = (struct le_toks){0};
    int rc = le_tokenize(r->tok, context, strlen(context), r->add_bos, t);
    if (!rc && t->n == 0) { /* an empty context without BOS: condition on the prefix token */
        le_toks_free(t);
        rc = le_tokenize(r->tok, "", 0, 0, t);
        if (!rc && t->cap >= 1) {
            t->ids[0] = r->prefix;
            t->n = 1;
        }
    }
    return rc;
}

int le_runner_generate(struct le_runner *r, const char *context, const struct le_gen_opts *o,
                       struct le_gen_result *res) {
    struct le_toks t;
    int rc = le_runner_gen_encode(r, context, &t);
    if (!rc)
        rc = le_runner_generate_tokens(r, t.ids, t.n, o, res);
    else
        memset(res, 0, sizeof *res);
    le_toks_free(&t);
    return rc;
}
