/*
 * ppl: perplexity conventions (see le_ppl.h for each one's definition and
 * reference). The llama.cpp convention reproduces tools/perplexity's numbers:
 * same chunking, same BOS replacement, same log-softmax (float max shift,
 * double exp sum) and the same accumulation order (per token, in double).
 * gptq and hf-stride only build their window lists and score them through the
 * request runner (tasks/requests.c: le_runner_score_windows, which evaluates
 * each window from position 0 with KV reuse of an identical prefix); lmeval
 * is the runner's rolling loglikelihood per document and tasks/mc.c's rolling
 * metrics. The rest of the file makes texts as the references made them:
 * lm-eval's wikitext detokenizer and HF datasets' wikitext rows.
 *
 * Work: llamacpp does one forward pass per chunk and computes logits only
 * for the rows that are scored (le_ctx_eval_from); the others cost one
 * forward pass per window (hf-stride re-evaluates the W - S overlap, as the
 * guide does) and logits only for the rows scored.
 */
#include "le_ppl.h"

#include "le_buf.h"   /* struct le_buf: the texts rewritten */
#include "le_err.h"   /* le_err_set */
#include "le_text.h"  /* le_py_space_len */
#include "le_model.h" /* le_ctx_eval_from, le_ctx_logits */
#include "le_tasks.h" /* le_stat_ppl_llamacpp, le_runner_*, le_task_metrics, le_count_words */
#include "tasks_int.h" /* le_ppl_chunk_rows */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* -log softmax(logits)[tok] as llama.cpp's log_softmax computes it. */
static double le_ppl_nll(const float *logits, int64_t n_vocab, int32_t tok) {
    float mx = logits[0];
    for (int64_t i = 1; i < n_vocab; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; i++)
        sum_exp += expf(logits[i] - mx);
    return -((double)(logits[tok] - mx) - log(sum_exp));
}

int le_ppl_chunk_rows(struct le_ctx *c, const int32_t *chunk, int ctx,
                      int (*row)(void *ud, int pos, const float *logits), void *ud) {
    int first = ctx / 2, nb = le_ctx_n_batch(c);
    int64_t n_vocab = le_model_get_info(le_ctx_model(c))->n_vocab;
    for (int b0 = 0; b0 < ctx; b0 += nb) {
        int n = ctx - b0 < nb ? ctx - b0 : nb;
        int fl = first - b0;
        fl = fl < 0 ? 0 : fl > n ? n : fl;
        int rc = le_ctx_eval_from(c, chunk + b0, n, b0, fl);
        if (rc)
            return rc;
        const float *logits = le_ctx_logits(c);
        for (int r = fl; r < n && b0 + r <= ctx - 2; r++)
            if ((rc = row(ud, b0 + r, logits + (int64_t)r * n_vocab)))
                return rc;
    }
    return LE_OK;
}

/* One chunk's sums: its scored tokens' NLL, squares and count. */
struct le_ppl_sums {
    const int32_t *chunk;
    int64_t n_vocab, count;
    double sum, sumsq;
};

static int le_ppl_sum_row(void *ud, int pos, const float *logits) {
    struct le_ppl_sums *s = ud;
    int32_t tgt = s->chunk[pos + 1];
    if (tgt < 0 || tgt >= s->n_vocab)
        return le_err_set(LE_EINVAL, "token id %d outside the vocabulary", (int)tgt);
    double v = le_ppl_nll(logits, s->n_vocab, tgt);
    s->sum += v;
    s->sumsq += v * v;
    s->count++;
    return LE_OK;
}

/* Evaluates one chunk and adds its scored tokens to *sum / *sumsq / *count. */
static int le_ppl_chunk(struct le_ctx *c, const int32_t *chunk, int ctx, int64_t n_vocab, double *sum,
                        double *sumsq, int64_t *count) {
    struct le_ppl_sums s = {chunk, n_vocab, *count, *sum, *sumsq};
    int rc = le_ppl_chunk_rows(c, chunk, ctx, le_ppl_sum_row, &s);
    *sum = s.sum, *sumsq = s.sumsq, *count = s.count;
    return rc;
}

int le_ppl_llamacpp(struct le_ctx *c, const int32_t *tokens, int64_t n_tokens, int ctx, int32_t bos,
                    le_ppl_chunk_cb cb, void *ud, struct le_ppl_result *out) {
    memset(out, 0, sizeof *out);
    if (ctx < 4 || ctx > le_ctx_n_ctx(c))
        return le_err_set(LE_EINVAL, "perplexity context %d must be in [4, %d] (the context's size)", ctx,
                          le_ctx_n_ctx(c));
    if (n_tokens < 2 * (int64_t)ctx)
        return le_err_set(LE_EINVAL, "need at least %lld tokens for perplexity with a context of %d, got %lld",
                          2LL * ctx, ctx, (long long)n_tokens);
    int64_t n_vocab = le_model_get_info(le_ctx_model(c))->n_vocab;
    int n_chunks = (int)(n_tokens / ctx);
    int32_t *chunk = malloc((size_t)ctx * sizeof *chunk);
    if (!chunk)
        return le_err_set(LE_ENOMEM, "out of memory");
    double sum = 0, sumsq = 0;
    int64_t count = 0;
    int rc = LE_OK;
    for (int i = 0; i < n_chunks; i++) {
        memcpy(chunk, tokens + (int64_t)i * ctx, (size_t)ctx * sizeof *chunk);
        if (bos >= 0)
            chunk[0] = bos;
        if ((rc = le_ppl_chunk(c, chunk, ctx, n_vocab, &sum, &sumsq, &count)))
            break;
        if (cb && cb(ud, i + 1, n_chunks, exp(sum / (double)count))) {
            rc = le_err_set(LE_EINTR, "perplexity interrupted after chunk %d of %d", i + 1, n_chunks);
            break;
        }
    }
    free(chunk);
    if (rc)
        return rc;
    out->n_chunks = n_chunks;
    out->n_scored = count;
    out->sum_nll = sum;
    out->sumsq_nll = sumsq;
    out->mean_nll = sum / (double)count;
    out->n_denom = count;
    out->n_evaluated = (int64_t)n_chunks * ctx;
    le_stat_ppl_llamacpp(sum, sumsq, count, &out->ppl, &out->ppl_stderr);
    return LE_OK;
}

/* ---- windows through the request runner (gptq, hf-stride) ---- */

/* Log-prob sum of tokens[plo, phi) in the window that starts at lo (the
 * window tokens[lo, phi) evaluated from position 0). */
static int le_ppl_window(struct le_runner *r, const int32_t *tokens, int64_t n, int64_t lo, int64_t plo,
                         int64_t phi, struct le_ll_result *res) {
    const int64_t w[4] = {lo, plo, plo, phi};
    return le_runner_score_windows(r, tokens, n, w, 1, le_runner_prefix_token(r), res, NULL);
}

static int le_ppl_check_window(const struct le_runner *r, int w, const char *what) {
    if (w > le_runner_n_ctx(r))
        return le_err_set(LE_EINVAL, "%s %d exceeds the runner's context of %d tokens", what, w, le_runner_n_ctx(r));
    return LE_OK;
}

int le_ppl_gptq(struct le_runner *r, const int32_t *tokens, int64_t n_tokens, int seqlen, le_ppl_chunk_cb cb,
                void *ud, struct le_ppl_result *out) {
    memset(out, 0, sizeof *out);
    if (seqlen < 2)
        return le_err_set(LE_EINVAL, "gptq: seqlen %d must be at least 2", seqlen);
    int rc = le_ppl_check_window(r, seqlen, "gptq: seqlen");
    if (rc)
        return rc;
    int64_t nsamples = n_tokens / seqlen;
    if (nsamples < 1)
        return le_err_set(LE_EINVAL, "gptq: need at least %d tokens (one window), got %lld", seqlen,
                          (long long)n_tokens);
    if (nsamples > INT32_MAX)
        return le_err_set(LE_EINVAL, "gptq: too many windows");
    double nll_sum = 0, sum = 0, sumsq = 0; /* nll_sum: sum of llama.py's loss * seqlen */
    for (int64_t i = 0; i < nsamples; i++) {
        int64_t lo = i * seqlen;
        struct le_ll_result wr;
        if ((rc = le_ppl_window(r, tokens, n_tokens, lo, lo + 1, lo + seqlen, &wr)))
            return rc;
        double loss = -wr.logprob / (double)(seqlen - 1); /* CrossEntropyLoss: mean over the shifted labels */
        nll_sum += loss * (double)seqlen;
        sum += -wr.logprob;
        sumsq += wr.sumsq;
        if (cb && cb(ud, (int)(i + 1), (int)nsamples, exp(nll_sum / (double)((i + 1) * seqlen))))
            return le_err_set(LE_EINTR, "perplexity interrupted after window %lld of %lld", (long long)(i + 1),
                              (long long)nsamples);
    }
    out->n_chunks = (int)nsamples;
    out->n_denom = nsamples * seqlen;
    out->n_evaluated = nsamples * seqlen;
    out->n_scored = nsamples * (seqlen - 1);
    out->sum_nll = sum;
    out->sumsq_nll = sumsq;
    out->mean_nll = nll_sum / (double)out->n_denom;
    out->ppl = exp(out->mean_nll);
    out->ppl_stderr = NAN;
    return LE_OK;
}

int le_ppl_hf_stride(struct le_runner *r, const int32_t *tokens, int64_t n_tokens, int max_length, int stride,
                     le_ppl_chunk_cb cb, void *ud, struct le_ppl_result *out) {
    memset(out, 0, sizeof *out);
    if (max_length < 2 || stride < 1 || stride > max_length)
        return le_err_set(LE_EINVAL, "hf-stride: need max_length >= 2 and 1 <= stride <= max_length, got %d and %d",
                          max_length, stride);
    int rc = le_ppl_check_window(r, max_length, "hf-stride: max_length");
    if (rc)
        return rc;
    if (n_tokens < 2)
        return le_err_set(LE_EINVAL, "hf-stride: need at least 2 tokens, got %lld", (long long)n_tokens);
    /* The windows: as many as begin values before the one reaching the end. */
    int64_t n_win = n_tokens <= max_length ? 1 : 1 + (n_tokens - max_length + stride - 1) / stride;
    if (n_win > INT32_MAX)
        return le_err_set(LE_EINVAL, "hf-stride: too many windows");
    double nll_sum = 0, sum = 0, sumsq = 0;
    int64_t n_loss = 0, scored = 0, evaluated = 0, prev_end = 0, k = 0;
    for (int64_t begin = 0; begin < n_tokens; begin += stride) {
        int64_t end = begin + max_length < n_tokens ? begin + max_length : n_tokens;
        int64_t trg_len = end - prev_end, wlen = end - begin;
        int64_t first = wlen - trg_len > 1 ? wlen - trg_len : 1; /* first scored window position */
        int64_t num_loss_tokens = trg_len - 1;                   /* the guide's num_valid_tokens - 1 */
        if (first < wlen) {
            struct le_ll_result wr;
            if ((rc = le_ppl_window(r, tokens, n_tokens, begin, begin + first, end, &wr)))
                return rc;
            double loss = -wr.logprob / (double)(wlen - first); /* HF: mean over the unmasked labels */
            nll_sum += loss * (double)num_loss_tokens;
            sum += -wr.logprob;
            sumsq += wr.sumsq;
            scored += wlen - first;
        }
        n_loss += num_loss_tokens;
        evaluated += wlen;
        prev_end = end;
        k++;
        if (cb && cb(ud, (int)k, (int)n_win, n_loss > 0 ? exp(nll_sum / (double)n_loss) : NAN))
            return le_err_set(LE_EINTR, "perplexity interrupted after window %lld of %lld", (long long)k,
                              (long long)n_win);
        if (end == n_tokens)
            break;
    }
    out->n_chunks = (int)k;
    out->n_denom = n_loss;
    out->n_evaluated = evaluated;
    out->n_scored = scored;
    out->sum_nll = sum;
    out->sumsq_nll = sumsq;
    out->mean_nll = nll_sum / (double)n_loss;
    out->ppl = exp(out->mean_nll);
    out->ppl_stderr = NAN;
    return LE_OK;
}

/* ---- lm-eval's rolling perplexities per document ---- */

static const struct le_task_info le_ppl_lmeval_task = {
    .name = "ppl-lmeval", .eval_split = "test", .version = 2.0, .kind = LE_TASK_ROLLING, .metrics = LE_M_ROLLING,
};

static const struct le_metric *le_ppl_metric(const struct le_metric *m, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return &m[i];
    return NULL;
}

int le_ppl_lmeval(struct le_runner *r, const char *const *docs, const char *const *counted, int64_t n_docs,
                  const struct le_metric_opts *mo, le_ppl_chunk_cb cb, void *ud, struct le_rec *recs,
                  struct le_ppl_lmeval_result *out) {
    memset(out, 0, sizeof *out);
    if (n_docs < 1)
        return le_err_set(LE_EINVAL, "lmeval: no documents");
    if (n_docs > INT32_MAX)
        return le_err_set(LE_EINVAL, "lmeval: too many documents");
    struct le_rec *rv = recs ? recs : malloc((size_t)n_docs * sizeof *rv);
    int64_t *off = malloc(((size_t)n_docs + 1) * sizeof *off);
    int rc = rv && off ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    double L = 0;
    int64_t T = 0;
    for (int64_t d = 0; d < n_docs && !rc; d++) {
        const char *doc = docs[d], *orig = counted && counted[d] ? counted[d] : docs[d];
        struct le_ll_result res;
        if ((rc = le_runner_rolling(r, doc, strlen(doc), &res)))
            break;
        struct le_rec *c = &rv[d];
        memset(c, 0, sizeof *c);
        c->kind = LE_TASK_ROLLING;
        c->n_choices = 1;
        le_rec_set_ll(c, &res);
        c->nbytes = (int64_t)strlen(orig);
        c->nchars = le_utf8_chars(orig);
        c->nwords = le_count_words(orig);
        off[d] = d;
        L += c->ll;
        T += c->ntok;
        out->n_words += c->nwords;
        out->n_bytes += c->nbytes;
        if (cb && cb(ud, (int)(d + 1), (int)n_docs, T > 0 ? exp(-L / (double)T) : NAN))
            rc = le_err_set(LE_EINTR, "perplexity interrupted after document %lld of %lld", (long long)(d + 1),
                            (long long)n_docs);
    }
    struct le_metric m[8];
    int nm = 0;
    if (!rc) {
        off[n_docs] = n_docs;
        rc = le_task_metrics(&le_ppl_lmeval_task, LE_M_ROLLING, rv, off, n_docs, mo, m, 8, &nm);
    }
    static const char *const names[4] = {"word_perplexity", "byte_perplexity", "bits_per_byte", "token_perplexity"};
    double *value[4] = {&out->word_perplexity, &out->byte_perplexity, &out->bits_per_byte, &out->token_perplexity};
    double *stderr_v[4] = {&out->word_perplexity_stderr, &out->byte_perplexity_stderr, &out->bits_per_byte_stderr,
                           &out->token_perplexity_stderr};
    for (int i = 0; i < 4 && !rc; i++) {
        const struct le_metric *k = le_ppl_metric(m, nm, names[i]);
        if (!k)
            rc = le_err_set(LE_EINVAL, "lmeval: the rolling metrics are incomplete");
        else
            *value[i] = k->value, *stderr_v[i] = k->stderr_v;
    }
    if (!rc) {
        out->sum_ll = L;
        out->n_docs = n_docs;
        out->n_tokens = T;
    }
    if (rv != recs)
        free(rv);
    free(off);
    return rc;
}

/* ---- texts as the references made them ---- */

/* Byte length of the whitespace character (Python's str.isspace / re \s)
 * starting at s[i] (< end), or 0. */
static int le_ws_len(const char *s, size_t i, size_t end) { return (int)le_py_space_len(s + i, end - i); }

/* [a, b) without leading and trailing whitespace (str.strip()). */
static void le_strip(const char *s, size_t *a, size_t *b) {
    int k;
    while (*a < *b && (k = le_ws_len(s, *a, *b)) > 0)
        *a += (size_t)k;
    for (int again = 1; again && *b > *a;) {
        again = 0;
        for (k = 1; k <= 3 && (size_t)k <= *b - *a; k++)
            if (le_ws_len(s, *b - (size_t)k, *b) == k) {
                *b -= (size_t)k;
                again = 1;
                break;
            }
    }
}

/* Empties out for a rewrite of in (an empty string, not NULL); 0 when
 * either is out of memory (out marked so: the rewrite is skipped). */
static int le_rewrite_begin(const struct le_buf *in, struct le_buf *out) {
    out->n = 0;
    le_buf_put(out, "", 0);
    if (in->oom || out->oom) {
        out->oom = 1;
        return 0;
    }
    return 1;
}

/* s.replace(old, new): non-overlapping, left to right, as Python's. */
static void le_replace(const struct le_buf *in, const char *old, const char *new, struct le_buf *out) {
    size_t lo = strlen(old), ln = strlen(new), i = 0;
    if (!le_rewrite_begin(in, out))
        return;
    while (i < in->n) {
        const char *hit = lo <= in->n - i ? memmem(in->p + i, in->n - i, old, lo) : NULL;
        if (!hit) {
            le_buf_put(out, in->p + i, in->n - i);
            break;
        }
        size_t at = (size_t)(hit - in->p);
        le_buf_put(out, in->p + i, at - i);
        le_buf_put(out, new, ln);
        i = at + lo;
    }
}

/* re.sub(r"O\s*([^C]*?)\s*C", r"O\1C", s) for one-character O and C: each
 * O up to the next C (the first C after it) with the content stripped;
 * scanning goes on after that C. */
static void le_sub_pair(const struct le_buf *in, char o, char c, struct le_buf *out) {
    size_t i = 0, mark = 0;
    if (!le_rewrite_begin(in, out))
        return;
    while (i < in->n) {
        if (in->p[i] != o) {
            i++;
            continue;
        }
        const char *close = i + 1 < in->n ? memchr(in->p + i + 1, c, in->n - i - 1) : NULL;
        if (!close)
            break; /* no C after this O: none after any later O either */
        size_t a = i + 1, b = (size_t)(close - in->p);
        le_buf_put(out, in->p + mark, i + 1 - mark);
        le_strip(in->p, &a, &b);
        le_buf_put(out, in->p + a, b - a);
        le_buf_put(out, &c, 1);
        i = mark = (size_t)(close - in->p) + 1;
    }
    le_buf_put(out, in->p + mark, in->n - mark);
}

/* re.sub(r"/' [0-9]/", r"/'[0-9]/", s): the replacement is that literal text. */
static void le_sub_slash_digit(const struct le_buf *in, struct le_buf *out) {
    size_t i = 0, mark = 0;
    if (!le_rewrite_begin(in, out))
        return;
    while (i + 5 <= in->n) {
        const char *p = in->p + i;
        if (p[0] == '/' && p[1] == '\'' && p[2] == ' ' && p[3] >= '0' && p[3] <= '9' && p[4] == '/') {
            le_buf_put(out, in->p + mark, i - mark);
            le_buf_put(out, "/'[0-9]/", 8);
            i = mark = i + 5;
        } else
            i++;
    }
    le_buf_put(out, in->p + mark, in->n - mark);
}

int le_ppl_wikitext_detok(const char *s, size_t n, char **out, size_t *out_len) {
    static const char *const rep1[][2] = {{"s '", "s'"}};
    static const char *const rep2[][2] = {
        {" @-@ ", "-"}, {" @,@ ", ","}, {" @.@ ", "."}, {" : ", ": "}, {" ; ", "; "},
        {" . ", ". "},  {" ! ", "! "},  {" ? ", "? "},  {" , ", ", "},
    };
    static const char pairs[][2] = {{'(', ')'}, {'[', ']'}, {'{', '}'}, {'"', '"'}, {'\'', '\''}};
    static const char *const rep3[][2] = {
        {"= = = =", "===="}, {"= = =", "==="}, {"= =", "=="}, {" \xc2\xb0 ", "\xc2\xb0"},
        {" \n", "\n"},       {"\n ", "\n"},    {" N ", " 1 "}, {" 's", "'s"},
    };
    struct le_buf a = {0}, b = {0}, t;
    *out = NULL;
    *out_len = 0;
    le_buf_put(&a, s, n);
    le_replace(&a, rep1[0][0], rep1[0][1], &b);
    t = a, a = b, b = t;
    le_sub_slash_digit(&a, &b);
    t = a, a = b, b = t;
    for (size_t i = 0; i < sizeof rep2 / sizeof rep2[0]; i++) {
        le_replace(&a, rep2[i][0], rep2[i][1], &b);
        t = a, a = b, b = t;
    }
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        le_sub_pair(&a, pairs[i][0], pairs[i][1], &b);
        t = a, a = b, b = t;
    }
    for (size_t i = 0; i < sizeof rep3 / sizeof rep3[0]; i++) {
        le_replace(&a, rep3[i][0], rep3[i][1], &b);
        t = a, a = b, b = t;
    }
    int oom = a.oom || b.oom;
    free(b.p);
    if (oom) {
        free(a.p);
        return le_err_set(LE_ENOMEM, "out of memory detokenizing");
    }
    *out = a.p;
    *out_len = a.n;
    return LE_OK;
}

void le_ppl_strings_free(char **v, int64_t n) {
    for (int64_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int le_ppl_hf_rows(const char *buf, size_t n, char ***rows, int64_t *n_rows) {
    *rows = NULL;
    *n_rows = 0;
    int64_t cap = 0, k = 0;
    char **v = NULL;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && buf[e] != '\n' && buf[e] != '\r')
            e++;
        int has_nl = e < n;
        size_t next = e + (has_nl ? 1 : 0);
        if (has_nl && buf[e] == '\r' && e + 1 < n && buf[e + 1] == '\n')
            next++;
        size_t a = i, b = e;
        le_strip(buf, &a, &b);
        int blank = a == b;
        if (k == cap) {
            int64_t nc = cap ? cap * 2 : 256;
            char **p = realloc(v, (size_t)nc * sizeof *p);
            if (!p)
                goto oom;
            v = p;
            cap = nc;
        }
        size_t len = blank ? 0 : e - i + (size_t)has_nl;
        if (!(v[k] = malloc(len + 1)))
            goto oom;
        if (!blank) {
            memcpy(v[k], buf + i, e - i);
            if (has_nl)
                v[k][e - i] = '\n';
        }
        v[k++][len] = 0;
        i = next;
    }
    *rows = v;
    *n_rows = k;
    return LE_OK;
oom:
    le_ppl_strings_free(v, k);
    return le_err_set(LE_ENOMEM, "out of memory splitting lines");
}

int le_ppl_join(const char *const *docs, int64_t n_docs, const char *sep, char **out, size_t *out_len) {
    struct le_buf b = {0};
    size_t ls = strlen(sep);
    le_buf_put(&b, "", 0);
    for (int64_t i = 0; i < n_docs; i++) {
        if (i > 0)
            le_buf_put(&b, sep, ls);
        le_buf_put(&b, docs[i], strlen(docs[i]));
    }
    if (b.oom) {
        free(b.p);
        *out = NULL;
        return le_err_set(LE_ENOMEM, "out of memory joining documents");
    }
    *out = b.p;
    *out_len = b.n;
    return LE_OK;
}
