/*
 * ppl: perplexity conventions over a token stream (see le_ppl.h). The
 * llama.cpp convention reproduces tools/perplexity's numbers: same chunking,
 * same BOS replacement, same log-softmax (float max shift, double exp sum)
 * and the same accumulation order (per token, in double).
 *
 * Work: one forward pass per chunk; only the rows that are scored get logits
 * (le_ctx_eval_from), so the first half of each chunk costs no output
 * projection.
 */
#include "le_ppl.h"

#include "le_err.h"   /* le_err_set */
#include "le_model.h" /* le_ctx_eval_from, le_ctx_logits */
#include "le_tasks.h" /* le_stat_ppl_llamacpp */

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

/* Evaluates one chunk and adds its scored tokens to *sum / *sumsq / *count. */
static int le_ppl_chunk(struct le_ctx *c, const int32_t *chunk, int ctx, int64_t n_vocab, double *sum,
                        double *sumsq, int64_t *count) {
    int first = ctx / 2, nb = le_ctx_n_batch(c);
    for (int b0 = 0; b0 < ctx; b0 += nb) {
        int n = ctx - b0 < nb ? ctx - b0 : nb;
        int fl = first - b0;
        fl = fl < 0 ? 0 : fl > n ? n : fl;
        int rc = le_ctx_eval_from(c, chunk + b0, n, b0, fl);
        if (rc)
            return rc;
        const float *logits = le_ctx_logits(c);
        for (int r = fl; r < n; r++) {
            int p = b0 + r;
            if (p > ctx - 2)
                break;
            int32_t tgt = chunk[p + 1];
            if (tgt < 0 || tgt >= n_vocab)
                return le_err_set(LE_EINVAL, "token id %d outside the vocabulary", (int)tgt);
            double v = le_ppl_nll(logits + (int64_t)r * n_vocab, n_vocab, tgt);
            *sum += v;
            *sumsq += v * v;
            (*count)++;
        }
    }
    return LE_OK;
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
    le_stat_ppl_llamacpp(sum, sumsq, count, &out->ppl, &out->ppl_stderr);
    return LE_OK;
}
