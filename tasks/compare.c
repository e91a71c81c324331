/*
 * compare: a quantized model against its base, token by token (le_compare.h
 * has the definitions and what they reproduce of llama-perplexity
 * --kl-divergence). An accumulator keeps five numbers per scored token
 * (the two nlls, KL, dp, top-1 agreement) and the chunk boundaries; every
 * summary is computed from them at the end, so the percentiles are exact
 * and the bootstrap can resample chunks.
 *
 * Work per scored row and model: one pass over the vocabulary for the
 * quantized log-softmax and one for KL (an exp per entry). The base's rows of
 * a chunk are computed once and shared by every quantized model.
 */
#include "le_compare.h"

#include "le_err.h"   /* le_err_set */
#include "le_model.h" /* le_ctx_eval_from, le_ctx_logits */
#include "le_tasks.h" /* le_stat_ppl_llamacpp, le_rng */
#include "tasks_int.h" /* le_ppl_chunk_rows */

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double le_cmp_kld_fracs[LE_CMP_KLD_Q] = {1, 0.999, 0.99, 0.95, 0.90, 0.5, 0.10, 0.05, 0.01, 0.001, 0};
const double le_cmp_dp_fracs[LE_CMP_DP_Q] = {1, 0.999, 0.99, 0.95, 0.90, 0.75, 0.5, 0.25, 0.10, 0.05, 0.01, 0.001, 0};

struct le_cmp {
    int64_t n, cap;          /* scored tokens */
    double *nll_q, *nll_b;   /* (n) */
    double *kld, *dp;        /* (n) */
    uint8_t *top;            /* (n) 1: same top token */
    int64_t *chunk_end;      /* (n_chunks) token index one past each chunk */
    int64_t n_chunks, cap_chunks;
};

int le_cmp_new(struct le_cmp **out) {
    *out = calloc(1, sizeof **out);
    return *out ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
}

void le_cmp_free(struct le_cmp *c) {
    if (!c)
        return;
    free(c->nll_q), free(c->nll_b), free(c->kld), free(c->dp), free(c->top), free(c->chunk_end);
    free(c);
}

int64_t le_cmp_n_tokens(const struct le_cmp *c) { return c->n; }

static int le_cmp_grow(void **p, int64_t cap, size_t elem) {
    void *np = realloc(*p, (size_t)cap * elem);
    if (!np)
        return le_err_set(LE_ENOMEM, "out of memory");
    *p = np;
    return LE_OK;
}

static int le_cmp_reserve(struct le_cmp *c) {
    if (c->n < c->cap)
        return LE_OK;
    int64_t cap = c->cap ? c->cap * 2 : 4096;
    int rc = le_cmp_grow((void **)&c->nll_q, cap, sizeof(double));
    if (!rc)
        rc = le_cmp_grow((void **)&c->nll_b, cap, sizeof(double));
    if (!rc)
        rc = le_cmp_grow((void **)&c->kld, cap, sizeof(double));
    if (!rc)
        rc = le_cmp_grow((void **)&c->dp, cap, sizeof(double));
    if (!rc)
        rc = le_cmp_grow((void **)&c->top, cap, 1);
    if (!rc)
        c->cap = cap;
    return rc;
}

/* Max (first maximum) and the log of the exp sum two ways: *lse as le_ppl
 * (expf of the float difference, summed in double) for the nlls, *lse_d in
 * double throughout for KL, a small difference of large terms. */
static void le_cmp_lse(const float *logits, int64_t n_vocab, float *mx, int32_t *argmax, double *lse,
                       double *lse_d) {
    float m = logits[0];
    int32_t am = 0;
    for (int64_t i = 1; i < n_vocab; i++)
        if (logits[i] > m) {
            m = logits[i];
            am = (int32_t)i;
        }
    double sum_exp = 0.0, sum_d = 0.0;
    for (int64_t i = 0; i < n_vocab; i++) {
        sum_exp += expf(logits[i] - m);
        sum_d += exp((double)logits[i] - (double)m);
    }
    *mx = m;
    *argmax = am;
    *lse = log(sum_exp);
    *lse_d = log(sum_d);
}

void le_cmp_base_row(const float *logits, int64_t n_vocab, int32_t tok, double *logp, int32_t *argmax,
                     double *nll) {
    float mx;
    double lse, lse_d;
    le_cmp_lse(logits, n_vocab, &mx, argmax, &lse, &lse_d);
    for (int64_t i = 0; i < n_vocab; i++)
        logp[i] = ((double)logits[i] - (double)mx) - lse_d;
    *nll = tok >= 0 && tok < n_vocab ? -((double)(logits[tok] - mx) - lse) : NAN;
}

int le_cmp_add(struct le_cmp *c, const double *base_logp, int32_t base_argmax, double base_nll,
               const float *q_logits, int64_t n_vocab, int32_t tok) {
    if (tok < 0 || tok >= n_vocab)
        return le_err_set(LE_EINVAL, "token id %d outside the vocabulary", (int)tok);
    int rc = le_cmp_reserve(c);
    if (rc)
        return rc;
    float mx;
    int32_t am;
    double lse, lse_d, kl = 0.0;
    le_cmp_lse(q_logits, n_vocab, &mx, &am, &lse, &lse_d);
    for (int64_t i = 0; i < n_vocab; i++) {
        double lq = ((double)q_logits[i] - (double)mx) - lse_d;
        kl += exp(base_logp[i]) * (base_logp[i] - lq);
    }
    /* the nlls as le_ppl computes them (float difference), so PPLs equal `ppl`'s */
    double nll_q = -((double)(q_logits[tok] - mx) - lse);
    int64_t k = c->n++;
    c->nll_q[k] = nll_q;
    c->nll_b[k] = base_nll;
    c->kld[k] = kl;
    c->dp[k] = exp(((double)q_logits[tok] - (double)mx) - lse_d) - exp(base_logp[tok]); /* in double, as KL */
    c->top[k] = am == base_argmax;
    return LE_OK;
}

int le_cmp_end_chunk(struct le_cmp *c) {
    if (c->n == (c->n_chunks ? c->chunk_end[c->n_chunks - 1] : 0))
        return LE_OK;
    if (c->n_chunks == c->cap_chunks) {
        int64_t cap = c->cap_chunks ? c->cap_chunks * 2 : 64;
        int rc = le_cmp_grow((void **)&c->chunk_end, cap, sizeof(int64_t));
        if (rc)
            return rc;
        c->cap_chunks = cap;
    }
    c->chunk_end[c->n_chunks++] = c->n;
    return LE_OK;
}

static double le_cmp_sum(const double *x, int64_t lo, int64_t hi) {
    double s = 0.0;
    for (int64_t i = lo; i < hi; i++)
        s += x[i];
    return s;
}

void le_cmp_running(const struct le_cmp *c, double *ppl, double *ppl_base, double *kld) {
    double n = c->n > 0 ? (double)c->n : NAN;
    *ppl = exp(le_cmp_sum(c->nll_q, 0, c->n) / n);
    *ppl_base = exp(le_cmp_sum(c->nll_b, 0, c->n) / n);
    *kld = le_cmp_sum(c->kld, 0, c->n) / n;
}

double le_cmp_percentile(const double *v, int64_t n, double f) {
    if (f <= 0)
        return v[0];
    if (f >= 1)
        return v[n - 1];
    if (f == 0.5) /* llama.cpp's median: the middle value or the mean of the two */
        return n % 2 ? v[n / 2] : 0.5 * (v[n / 2] + v[n / 2 - 1]);
    double p = f * (double)(n - 1);
    int64_t ip = (int64_t)p;
    p -= (double)ip;
    return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}

static int le_cmp_dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorted copy's percentiles at fr[0..nf). */
static int le_cmp_quantiles(const double *x, int64_t n, const double *fr, int nf, double *out) {
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return le_err_set(LE_ENOMEM, "out of memory");
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, le_cmp_dcmp);
    for (int i = 0; i < nf; i++)
        out[i] = le_cmp_percentile(s, n, fr[i]);
    free(s);
    return LE_OK;
}

/* llama.cpp's mean_and_uncertainty: mean and sqrt(var / (n - 1)) (0 for n <= 10). */
static void le_cmp_mean_unc(double sum, double sum2, int64_t n, double *mean, double *unc) {
    double f = sum / (double)n, df = sum2 / (double)n - f * f;
    *mean = f;
    *unc = df > 0 && n > 10 ? sqrt(df / (double)(n - 1)) : 0.0;
}

/* The paired chunk bootstrap of PPL(Q) - PPL(base): 2.5 and 97.5 percentiles. */
static int le_cmp_boot(const struct le_cmp *c, int boot, uint64_t seed, double *lo, double *hi) {
    int64_t nc = c->n_chunks;
    double *sq = malloc((size_t)nc * sizeof *sq), *sb = malloc((size_t)nc * sizeof *sb);
    int64_t *cnt = malloc((size_t)nc * sizeof *cnt);
    double *rep = malloc((size_t)boot * sizeof *rep);
    if (!sq || !sb || !cnt || !rep) {
        free(sq), free(sb), free(cnt), free(rep);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    for (int64_t k = 0; k < nc; k++) {
        int64_t a = k ? c->chunk_end[k - 1] : 0, b = c->chunk_end[k];
        sq[k] = le_cmp_sum(c->nll_q, a, b);
        sb[k] = le_cmp_sum(c->nll_b, a, b);
        cnt[k] = b - a;
    }
    struct le_rng g;
    le_rng_seed(&g, seed);
    for (int r = 0; r < boot; r++) {
        double q = 0, b = 0;
        int64_t n = 0;
        for (int64_t k = 0; k < nc; k++) {
            int64_t j = (int64_t)le_rng_below(&g, (uint64_t)nc);
            q += sq[j], b += sb[j], n += cnt[j];
        }
        rep[r] = exp(q / (double)n) - exp(b / (double)n);
    }
    qsort(rep, (size_t)boot, sizeof *rep, le_cmp_dcmp);
    *lo = le_cmp_percentile(rep, boot, 0.025);
    *hi = le_cmp_percentile(rep, boot, 0.975);
    free(sq), free(sb), free(cnt), free(rep);
    return LE_OK;
}

/* The perplexity block of llama.cpp's summary. */
static void le_cmp_ppl_stats(const struct le_cmp *c, struct le_cmp_stats *s) {
    int64_t n = c->n;
    double sq = 0, sq2 = 0, sb = 0, sb2 = 0, sqb = 0;
    for (int64_t i = 0; i < n; i++) {
        sq += c->nll_q[i], sq2 += c->nll_q[i] * c->nll_q[i];
        sb += c->nll_b[i], sb2 += c->nll_b[i] * c->nll_b[i];
        sqb += c->nll_q[i] * c->nll_b[i];
    }
    le_stat_ppl_llamacpp(sq, sq2, n, &s->ppl, &s->ppl_unc);
    le_stat_ppl_llamacpp(sb, sb2, n, &s->ppl_base, &s->ppl_base_unc);
    double lq, uq, lb, ub;
    le_cmp_mean_unc(sq, sq2, n, &lq, &uq);
    le_cmp_mean_unc(sb, sb2, n, &lb, &ub);
    double cov = n < 10 ? 0.0 : (sqb / (double)n - (sq / (double)n) * (sb / (double)n)) / (double)(n - 1);
    s->cor_ln_ppl = uq > 0 && ub > 0 ? cov / (uq * ub) : NAN;
    s->ln_ratio = lq - lb;
    double v = uq * uq + ub * ub - 2.0 * cov;
    s->ln_ratio_unc = sqrt(v > 0 ? v : 0);
    s->ratio = exp(s->ln_ratio);
    s->ratio_unc = s->ratio * s->ln_ratio_unc;
    double pq = exp(lq), pb = exp(lb), pcov = pq * pb * cov;
    s->dppl = s->ppl - s->ppl_base;
    v = (pq * uq) * (pq * uq) + (pb * ub) * (pb * ub) - 2.0 * pcov;
    s->dppl_unc = sqrt(v > 0 ? v : 0);
}

int le_cmp_summary(const struct le_cmp *c, int boot, uint64_t seed, struct le_cmp_stats *s) {
    memset(s, 0, sizeof *s);
    int64_t n = c->n;
    if (n < 2 || c->n_chunks < 1)
        return le_err_set(LE_EINVAL, "compare: %lld scored tokens in %lld chunks is too few for statistics",
                          (long long)n, (long long)c->n_chunks);
    s->n_tokens = n;
    s->n_chunks = c->n_chunks;
    le_cmp_ppl_stats(c, s);
    double k = 0, k2 = 0, d = 0, d2 = 0, d4 = 0;
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) {
        k += c->kld[i], k2 += c->kld[i] * c->kld[i];
        double dd = c->dp[i] * c->dp[i];
        d += c->dp[i], d2 += dd, d4 += dd * dd;
        same += c->top[i];
    }
    le_cmp_mean_unc(k, k2, n, &s->kld, &s->kld_unc);
    le_cmp_mean_unc(d, d2, n, &s->dp, &s->dp_unc);
    double mse, mse_unc;
    le_cmp_mean_unc(d2, d4, n, &mse, &mse_unc);
    s->dp_rms = sqrt(mse);
    s->dp_rms_unc = s->dp_rms > 0 ? 0.5 / s->dp_rms * mse_unc : 0.0;
    s->top1 = (double)same / (double)n;
    s->top1_unc = sqrt(s->top1 * (1 - s->top1) / (double)(n - 1));
    int rc = le_cmp_quantiles(c->kld, n, le_cmp_kld_fracs, LE_CMP_KLD_Q, s->kld_q);
    if (!rc)
        rc = le_cmp_quantiles(c->dp, n, le_cmp_dp_fracs, LE_CMP_DP_Q, s->dp_q);
    s->boot = boot > 1 ? boot : 0;
    s->dppl_lo = s->dppl_hi = NAN;
    if (!rc && s->boot)
        rc = le_cmp_boot(c, boot, seed, &s->dppl_lo, &s->dppl_hi);
    return rc;
}

struct le_cmp_pass {
    const int32_t *chunk;
    int first;
    int64_t n_vocab;
    double *logp;      /* (ctx - 1 - first, n_vocab) the base's rows */
    int32_t *argmax;   /* (ctx - 1 - first) */
    double *nll;       /* (ctx - 1 - first) the base's nll of each target */
    struct le_cmp *acc;
};

static int le_cmp_base_cb(void *ud, int pos, const float *logits) {
    struct le_cmp_pass *p = ud;
    int64_t r = pos - p->first;
    le_cmp_base_row(logits, p->n_vocab, p->chunk[pos + 1], p->logp + r * p->n_vocab, &p->argmax[r], &p->nll[r]);
    return LE_OK;
}

static int le_cmp_quant_cb(void *ud, int pos, const float *logits) {
    struct le_cmp_pass *p = ud;
    int64_t r = pos - p->first;
    return le_cmp_add(p->acc, p->logp + r * p->n_vocab, p->argmax[r], p->nll[r], logits, p->n_vocab,
                      p->chunk[pos + 1]);
}

int le_cmp_llamacpp(struct le_ctx *base, struct le_ctx *const *q, int nq, const int32_t *tokens, int64_t n_tokens,
                    int ctx, int32_t bos, le_cmp_chunk_cb cb, void *ud, struct le_cmp *const *acc) {
    int64_t n_vocab = le_model_get_info(le_ctx_model(base))->n_vocab;
    if (ctx < 4 || ctx > le_ctx_n_ctx(base))
        return le_err_set(LE_EINVAL, "perplexity context %d must be in [4, %d] (the context's size)", ctx,
                          le_ctx_n_ctx(base));
    for (int k = 0; k < nq; k++) {
        if (le_model_get_info(le_ctx_model(q[k]))->n_vocab != n_vocab)
            return le_err_set(LE_EINVAL, "model %d has a vocabulary of %lld, the base %lld", k + 1,
                              (long long)le_model_get_info(le_ctx_model(q[k]))->n_vocab, (long long)n_vocab);
        if (ctx > le_ctx_n_ctx(q[k]))
            return le_err_set(LE_EINVAL, "perplexity context %d exceeds model %d's context", ctx, k + 1);
    }
    if (n_tokens < 2 * (int64_t)ctx)
        return le_err_set(LE_EINVAL, "need at least %lld tokens for perplexity with a context of %d, got %lld",
                          2LL * ctx, ctx, (long long)n_tokens);
    for (int64_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return le_err_set(LE_EINVAL, "token id %d outside the vocabulary", (int)tokens[i]);
    int n_chunks = (int)(n_tokens / ctx), first = ctx / 2, rows = ctx - 1 - first;
    struct le_cmp_pass p = {.first = first, .n_vocab = n_vocab};
    int32_t *chunk = malloc((size_t)ctx * sizeof *chunk);
    p.logp = malloc((size_t)rows * (size_t)n_vocab * sizeof *p.logp);
    p.argmax = malloc((size_t)rows * sizeof *p.argmax);
    p.nll = malloc((size_t)rows * sizeof *p.nll);
    int rc = chunk && p.logp && p.argmax && p.nll ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    p.chunk = chunk;
    for (int i = 0; i < n_chunks && !rc; i++) {
        memcpy(chunk, tokens + (int64_t)i * ctx, (size_t)ctx * sizeof *chunk);
        if (bos >= 0)
            chunk[0] = bos;
        rc = le_ppl_chunk_rows(base, chunk, ctx, le_cmp_base_cb, &p);
        for (int k = 0; k < nq && !rc; k++) {
            p.acc = acc[k];
            if (!(rc = le_ppl_chunk_rows(q[k], chunk, ctx, le_cmp_quant_cb, &p)))
                rc = le_cmp_end_chunk(acc[k]);
        }
        if (!rc && cb && cb(ud, i + 1, n_chunks))
            rc = le_err_set(LE_EINTR, "compare interrupted after chunk %d of %d", i + 1, n_chunks);
    }
    free(chunk), free(p.logp), free(p.argmax), free(p.nll);
    return rc;
}

/* log C(n, k) */
static double le_log_choose(int64_t n, int64_t k) {
    return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1);
}

double le_mcnemar_exact_p(int64_t b, int64_t c) {
    int64_t n = b + c, m = b < c ? b : c;
    if (n <= 0)
        return 1.0;
    /* Terms summed from the smallest (k = 0) up, each exp(log C - n log 2). */
    double s = 0.0, ln2n = (double)n * log(2.0);
    for (int64_t k = 0; k <= m; k++)
        s += exp(le_log_choose(n, k) - ln2n);
    double p = 2.0 * s;
    return p < 1.0 ? p : 1.0;
}
