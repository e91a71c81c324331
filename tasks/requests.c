/*
 * requests: the three engine-facing primitives, as lm-evaluation-harness
 * runs them (lm_eval/api/model.py TemplateLM, lm_eval/models/huggingface.py
 * _loglikelihood_tokens and loglikelihood_rolling, lm_eval/utils.py
 * get_rolling_token_windows / make_disjoint_window).
 *
 * Design: one runner owns one le_ctx and a copy of the tokens its KV cache
 * holds. A request's input is compared with that copy; the common prefix is
 * kept (le_ctx_eval(pos) keeps positions < pos) and only the rest is
 * evaluated. The choices of one item share their context this way, and a
 * group of requests is run in lexicographic token order, which maximises the
 * prefix shared between neighbours (a depth-first walk of their trie). The
 * engine's logits do not depend on batching or on what was cached, so the
 * numbers equal a from-scratch evaluation of each request; log-softmax is
 * done in double, row by row, in a fixed order.
 *
 * Workload: a multiple-choice item is 2-5 requests of 50-1000 tokens that
 * differ only in their last few; a rolling document is a few windows of
 * n_ctx tokens with logits wanted everywhere.
 */
#include "le_tasks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "le_err.h"   /* le_err_set, LE_E* */
#include "le_text.h"  /* le_py_space_byte */
#include "le_model.h" /* le_ctx_eval, le_ctx_logits, le_model_get_info */
#include "le_tok.h"   /* le_tok_encode, le_tok_bos/eos/add_bos */
#include "tasks_int.h" /* struct le_runner */

/* ---- token lists ---- */

void le_toks_free(struct le_toks *t) {
    if (!t)
        return;
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

static int toks_reserve(struct le_toks *t, int64_t cap) {
    if (cap <= t->cap)
        return LE_OK;
    int64_t nc = t->cap ? t->cap : 64;
    while (nc < cap)
        nc *= 2;
    int32_t *p = realloc(t->ids, (size_t)nc * sizeof *p);
    if (!p)
        return le_err_set(LE_ENOMEM, "out of memory for %lld tokens", (long long)nc);
    t->ids = p;
    t->cap = nc;
    return LE_OK;
}

int le_tokenize(const struct le_tok *t, const char *text, size_t len, int add_bos, struct le_toks *out) {
    int64_t n = 0;
    int rc = toks_reserve(out, (int64_t)len + 8);
    if (rc)
        return rc;
    rc = le_tok_encode(t, text, len, add_bos, out->ids, out->cap, &n);
    if (rc)
        return rc;
    if (n > out->cap) {
        if ((rc = toks_reserve(out, n)))
            return rc;
        if ((rc = le_tok_encode(t, text, len, add_bos, out->ids, out->cap, &n)))
            return rc;
    }
    out->n = n;
    return LE_OK;
}

static int toks_set(struct le_toks *t, const int32_t *ids, int64_t n) {
    int rc = toks_reserve(t, n > 0 ? n : 1);
    if (rc)
        return rc;
    if (n > 0)
        memcpy(t->ids, ids, (size_t)n * sizeof *ids);
    t->n = n;
    return LE_OK;
}

int le_encode_pair(const struct le_tok *t, int add_bos, int32_t prefix, const char *context,
                   const char *continuation, struct le_toks *ctx_out, struct le_toks *cont_out) {
    int rc;
    size_t lc = strlen(context), lk = strlen(continuation);
    if (lc == 0) {
        if ((rc = le_tokenize(t, continuation, lk, 0, cont_out)))
            return rc;
        if (cont_out->n > 0 && cont_out->ids[0] == prefix) {
            if ((rc = toks_set(ctx_out, cont_out->ids, 1)))
                return rc;
            memmove(cont_out->ids, cont_out->ids + 1, (size_t)(cont_out->n - 1) * sizeof(int32_t));
            cont_out->n--;
        } else if ((rc = toks_set(ctx_out, &prefix, 1)))
            return rc;
        return LE_OK;
    }
    /* Trailing whitespace of the context belongs to the continuation. */
    size_t cut = lc;
    while (cut > 0 && le_py_space_byte((unsigned char)context[cut - 1]))
        cut--;
    char *whole = malloc(lc + lk + 1);
    if (!whole)
        return le_err_set(LE_ENOMEM, "out of memory");
    memcpy(whole, context, lc);
    memcpy(whole + lc, continuation, lk + 1);
    struct le_toks w = {0};
    rc = le_tokenize(t, whole, lc + lk, add_bos, &w);
    if (!rc)
        rc = le_tokenize(t, context, cut, add_bos, ctx_out);
    free(whole);
    if (rc)
        goto done;
    int64_t nk = w.n - ctx_out->n;
    if (nk < 0)
        nk = 0;
    if ((rc = toks_set(cont_out, w.ids + (w.n - nk), nk)))
        goto done;
    if (ctx_out->n == 0) /* a whitespace-only context without BOS: condition on the prefix */
        rc = toks_set(ctx_out, &prefix, 1);
done:
    le_toks_free(&w);
    return rc;
}

/* ---- the runner ---- */

void le_runner_sizes(const struct le_model *m, const struct le_runner_opts *o, int *n_ctx, int *n_batch) {
    struct le_runner_opts d = {0, 0, -1};
    const struct le_model_info *mi = le_model_get_info(m);
    if (!o)
        o = &d;
    *n_ctx = o->n_ctx > 0 ? o->n_ctx : (mi->ctx_train > 0 && mi->ctx_train < 4096 ? (int)mi->ctx_train : 4096);
    *n_batch = o->n_batch > 0 ? o->n_batch : (*n_ctx < 512 ? *n_ctx : 512);
    if (*n_batch > *n_ctx)
        *n_batch = *n_ctx;
}

int le_runner_new(struct le_runner **out, struct le_model *m, struct le_pool *pool,
                  const struct le_runner_opts *o) {
    *out = NULL;
    struct le_runner_opts d = {0, 0, -1};
    if (!o)
        o = &d;
    const struct le_model_info *mi = le_model_get_info(m);
    struct le_runner *r = calloc(1, sizeof *r);
    if (!r)
        return le_err_set(LE_ENOMEM, "out of memory");
    r->model = m;
    r->tok = le_model_tok(m);
    r->n_vocab = mi->n_vocab;
    le_runner_sizes(m, o, &r->n_ctx, &r->n_batch);
    r->add_bos = o->add_bos < 0 ? le_tok_add_bos(r->tok) : !!o->add_bos;
    int32_t bos = le_tok_bos(r->tok);
    r->prefix = bos >= 0 ? bos : le_tok_eos(r->tok);
    if (r->prefix < 0) {
        free(r);
        return le_err_set(LE_EUNSUP, "the tokenizer has neither BOS nor EOS: no prefix token for empty contexts");
    }
    r->cached = malloc((size_t)r->n_ctx * sizeof(int32_t));
    r->inp = malloc(((size_t)r->n_ctx + 1) * sizeof(int32_t));
    if (!r->cached || !r->inp) {
        int n = r->n_ctx;
        le_runner_free(r);
        return le_err_set(LE_ENOMEM, "out of memory for a %d-token runner", n);
    }
    int rc = le_ctx_new(&r->ctx, m, r->n_ctx, r->n_batch, pool);
    if (rc) {
        le_runner_free(r);
        return rc;
    }
    *out = r;
    return LE_OK;
}

void le_runner_free(struct le_runner *r) {
    if (!r)
        return;
    le_ctx_free(r->ctx);
    free(r->cached);
    free(r->inp);
    free(r);
}

int le_runner_n_ctx(const struct le_runner *r) { return r->n_ctx; }
const struct le_model *le_runner_model(const struct le_runner *r) { return r->model; }
const struct le_tok *le_runner_tok(const struct le_runner *r) { return r->tok; }
int32_t le_runner_prefix_token(const struct le_runner *r) { return r->prefix; }
int le_runner_add_bos(const struct le_runner *r) { return r->add_bos; }
void le_runner_get_stats(const struct le_runner *r, struct le_runner_stats *s) { *s = r->st; }
void le_runner_reset_stats(struct le_runner *r) { memset(&r->st, 0, sizeof r->st); }
void le_runner_forget(struct le_runner *r) { r->n_cached = 0; }

/* log p(target) under one row of logits, in double; *argmax = first maximum
 * (torch.argmax's choice among ties). */
static double row_logprob(const float *row, int64_t n_vocab, int32_t target, int32_t *argmax) {
    float mx = row[0];
    int32_t am = 0;
    for (int64_t v = 1; v < n_vocab; v++)
        if (row[v] > mx) {
            mx = row[v];
            am = (int32_t)v;
        }
    double s = 0.0;
    for (int64_t v = 0; v < n_vocab; v++)
        s += exp((double)row[v] - (double)mx);
    *argmax = am;
    return (double)row[target] - (double)mx - log(s);
}

int le_runner_score_tokens(struct le_runner *r, const int32_t *ctx, int64_t nc, const int32_t *cont,
                           int64_t nk, struct le_ll_result *res, double *tok_lp, int32_t *tok_argmax) {
    memset(res, 0, sizeof *res);
    res->is_greedy = 1;
    if (nk == 0)
        return LE_OK;
    if (nc < 1)
        return le_err_set(LE_EINVAL, "loglikelihood request with an empty context token list");
    if (nk > r->n_ctx)
        return le_err_set(LE_EINVAL, "continuation of %lld tokens exceeds the context length %d",
                          (long long)nk, r->n_ctx);
    for (int64_t i = 0; i < nc; i++)
        if (ctx[i] < 0 || ctx[i] >= r->n_vocab)
            return le_err_set(LE_EINVAL, "token id %d out of range", (int)ctx[i]);
    for (int64_t i = 0; i < nk; i++)
        if (cont[i] < 0 || cont[i] >= r->n_vocab)
            return le_err_set(LE_EINVAL, "token id %d out of range", (int)cont[i]);
    /* input = (ctx + cont)[-(n_ctx+1):][:-1]; row i predicts full[start+i+1]. */
    int64_t total = nc + nk, start = total - ((int64_t)r->n_ctx + 1);
    if (start < 0)
        start = 0;
    int64_t L = total - 1 - start, first = L - nk;
    for (int64_t i = 0; i <= L; i++) {
        int64_t j = start + i;
        r->inp[i] = j < nc ? ctx[j] : cont[j - nc];
    }
    int64_t lcp = 0;
    while (lcp < r->n_cached && lcp < L && r->cached[lcp] == r->inp[lcp])
        lcp++;
    int64_t p = lcp < first ? lcp : first;
    r->n_cached = p;
    r->st.requests++;
    r->st.tokens_naive += L;
    r->st.tokens_evaluated += L - p;
    /* Context positions without logits, then the scored ones with: the
     * output projection runs only where a log-prob is needed. */
    for (int64_t a = p; a < L;) {
        int want = a >= first;
        int64_t lim = want ? L : first, b = a + r->n_batch < lim ? a + r->n_batch : lim;
        int rc = le_ctx_eval(r->ctx, r->inp + a, (int)(b - a), (int)a, want);
        if (rc)
            return rc;
        memcpy(r->cached + a, r->inp + a, (size_t)(b - a) * sizeof(int32_t));
        r->n_cached = b;
        if (want) {
            const float *logits = le_ctx_logits(r->ctx);
            for (int64_t i = a; i < b; i++) {
                int32_t target = r->inp[i + 1], am;
                double lp = row_logprob(logits + (i - a) * r->n_vocab, r->n_vocab, target, &am);
                int64_t k = i - first;
                res->logprob += lp;
                res->sumsq += lp * lp;
                if (am != target)
                    res->is_greedy = 0;
                if (tok_lp)
                    tok_lp[k] = lp;
                if (tok_argmax)
                    tok_argmax[k] = am;
            }
        }
        a = b;
    }
    res->n_tokens = nk;
    return LE_OK;
}

int le_runner_prefill(struct le_runner *r, const int32_t *tok, int64_t n, const float **row) {
    if (n < 1 || n > r->n_ctx)
        return le_err_set(LE_EINVAL, "a context of %lld tokens does not fit 1..%d", (long long)n, r->n_ctx);
    for (int64_t i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= r->n_vocab)
            return le_err_set(LE_EINVAL, "token id %d out of range", (int)tok[i]);
    int64_t lcp = 0;
    while (lcp < r->n_cached && lcp < n && r->cached[lcp] == tok[lcp])
        lcp++;
    /* The last position is evaluated again when cached: its logits are wanted. */
    int64_t p = lcp < n - 1 ? lcp : n - 1;
    r->n_cached = p;
    r->st.requests++;
    r->st.tokens_naive += n;
    r->st.tokens_evaluated += n - p;
    for (int64_t a = p; a < n;) {
        int64_t b = a + r->n_batch < n ? a + r->n_batch : n;
        int last = b == n;
        int rc = last ? le_ctx_eval_from(r->ctx, tok + a, (int)(b - a), (int)a, (int)(b - a - 1))
                      : le_ctx_eval(r->ctx, tok + a, (int)(b - a), (int)a, 0);
        if (rc)
            return rc;
        memcpy(r->cached + a, tok + a, (size_t)(b - a) * sizeof(int32_t));
        r->n_cached = b;
        if (last)
            *row = le_ctx_logits(r->ctx) + (b - a - 1) * r->n_vocab;
        a = b;
    }
    return LE_OK;
}

/* Lexicographic order of two token lists (a proper prefix sorts first). */
static int toks_cmp(const struct le_toks *a, const struct le_toks *b) {
    int64_t n = a->n < b->n ? a->n : b->n;
    for (int64_t i = 0; i < n; i++)
        if (a->ids[i] != b->ids[i])
            return a->ids[i] < b->ids[i] ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

int le_runner_loglikelihood(struct le_runner *r, const struct le_ll_request *req, int n,
                            struct le_ll_result *res) {
    if (n <= 0)
        return LE_OK;
    struct le_toks *ctx = calloc((size_t)n, sizeof *ctx), *cont = calloc((size_t)n, sizeof *cont);
    struct le_toks *full = calloc((size_t)n, sizeof *full);
    int *order = malloc((size_t)n * sizeof *order);
    int rc = LE_OK;
    if (!ctx || !cont || !full || !order) {
        rc = le_err_set(LE_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n && !rc; i++) {
        if (i > 0 && !strcmp(req[i].context, req[i - 1].context) &&
            !strcmp(req[i].continuation, req[i - 1].continuation)) {
            rc = toks_set(&ctx[i], ctx[i - 1].ids, ctx[i - 1].n);
            if (!rc)
                rc = toks_set(&cont[i], cont[i - 1].ids, cont[i - 1].n);
        } else
            rc = le_encode_pair(r->tok, r->add_bos, r->prefix, req[i].context, req[i].continuation,
                                &ctx[i], &cont[i]);
        if (!rc && !(rc = toks_reserve(&full[i], ctx[i].n + cont[i].n + 1))) {
            memcpy(full[i].ids, ctx[i].ids, (size_t)ctx[i].n * sizeof(int32_t));
            if (cont[i].n)
                memcpy(full[i].ids + ctx[i].n, cont[i].ids, (size_t)cont[i].n * sizeof(int32_t));
            full[i].n = ctx[i].n + cont[i].n;
        }
        order[i] = i;
    }
    if (rc)
        goto done;
    /* Insertion sort: groups are a handful of requests. */
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i;
        while (j > 0 && toks_cmp(&full[order[j - 1]], &full[v]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    for (int k = 0; k < n && !rc; k++) {
        int i = order[k];
        rc = le_runner_score_tokens(r, ctx[i].ids, ctx[i].n, cont[i].ids, cont[i].n, &res[i], NULL, NULL);
    }
done:
    for (int i = 0; i < n && ctx && cont && full; i++) {
        le_toks_free(&ctx[i]);
        le_toks_free(&cont[i]);
        le_toks_free(&full[i]);
    }
    free(ctx);
    free(cont);
    free(full);
    free(order);
    return rc;
}

/* ---- rolling windows ---- */

int64_t le_rolling_windows(int64_t n, int max_seq_len, int context_len, int64_t **win) {
    *win = NULL;
    if (context_len < 1 || context_len > max_seq_len)
        return le_err_set(LE_EINVAL, "rolling windows need 1 <= context_len (%d) <= max_seq_len (%d)",
                          context_len, max_seq_len);
    if (n <= 0)
        return 0;
    int64_t pred_len = (int64_t)max_seq_len - context_len + 1;
    int64_t first = n < max_seq_len ? n : max_seq_len;
    int64_t nw = 1 + (n - first + pred_len - 1) / pred_len;
    int64_t *w = malloc((size_t)nw * 4 * sizeof *w);
    if (!w)
        return le_err_set(LE_ENOMEM, "out of memory");
    /* First window: [prefix] + tokens[:first-1] predicts tokens[:first];
     * made disjoint, its context is the prefix alone. */
    w[0] = -1;
    w[1] = 0;
    w[2] = 0;
    w[3] = first;
    int64_t predicted = first, k = 1;
    while (predicted < n) {
        int64_t wpl = n - predicted < pred_len ? n - predicted : pred_len;
        int64_t end = predicted + wpl;
        /* tokens[end-msl-1 : end-1] made disjoint with tokens[end-wpl : end] */
        w[4 * k + 0] = end - max_seq_len - 1;
        w[4 * k + 1] = end - wpl;
        w[4 * k + 2] = end - wpl;
        w[4 * k + 3] = end;
        predicted += wpl;
        k++;
    }
    *win = w;
    return k;
}

int le_runner_score_windows(struct le_runner *r, const int32_t *tokens, int64_t n, const int64_t *win, int64_t nw,
                            int32_t prefix, struct le_ll_result *res, double *tok_lp) {
    memset(res, 0, sizeof *res);
    res->is_greedy = 1;
    int32_t *cbuf = malloc(((size_t)r->n_ctx + 1) * sizeof *cbuf);
    int rc = cbuf ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t k = 0; k < nw && !rc; k++) {
        int64_t lo = win[4 * k], hi = win[4 * k + 1], plo = win[4 * k + 2], phi = win[4 * k + 3];
        if (hi < lo || plo < 0 || phi > n || plo > phi || hi > n || (lo < -1)) {
            rc = le_err_set(LE_EINVAL, "window %lld is out of range", (long long)k);
            break;
        }
        /* Only the last n_ctx context tokens can matter: the input is cut to n_ctx. */
        int64_t nc = 0, from = lo < 0 ? 0 : lo;
        if (hi - from > r->n_ctx)
            from = hi - r->n_ctx;
        if (lo < 0 && from == 0)
            cbuf[nc++] = prefix;
        for (int64_t i = from; i < hi; i++)
            cbuf[nc++] = tokens[i];
        struct le_ll_result wr;
        rc = le_runner_score_tokens(r, cbuf, nc, tokens + plo, phi - plo, &wr, tok_lp ? tok_lp + plo : NULL, NULL);
        if (rc)
            break;
        res->logprob += wr.logprob;
        res->sumsq += wr.sumsq;
        res->n_tokens += wr.n_tokens;
        res->is_greedy &= wr.is_greedy;
    }
    free(cbuf);
    return rc;
}

int le_runner_rolling_tokens(struct le_runner *r, const int32_t *tokens, int64_t n,
                             struct le_ll_result *res, double *tok_lp) {
    int64_t *w = NULL;
    int64_t nw = le_rolling_windows(n, r->n_ctx, 1, &w);
    if (nw < 0) {
        memset(res, 0, sizeof *res);
        return (int)nw;
    }
    int rc = le_runner_score_windows(r, tokens, n, w, nw, r->prefix, res, tok_lp);
    free(w);
    return rc;
}

int le_runner_rolling(struct le_runner *r, const char *text, size_t len, struct le_ll_result *res) {
    struct le_toks t = {0};
    int rc = le_tokenize(r->tok, text, len, 0, &t);
    if (!rc)
        rc = le_runner_rolling_tokens(r, t.ids, t.n, res, NULL);
    else
        memset(res, 0, sizeof *res);
    le_toks_free(&t);
    return rc;
}
