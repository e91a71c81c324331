/*
 * le_compare: a quantized (or otherwise approximate) model against its
 * full-precision base, token by token, as llama.cpp's llama-perplexity
 * --kl-divergence reports it (tools/perplexity/perplexity.cpp,
 * kl_divergence), plus a paired bootstrap interval for the perplexity
 * difference and McNemar's exact test for paired multiple-choice answers.
 *
 * Work is streamed: for each chunk of llama.cpp's perplexity convention
 * (le_ppl.h, "llamacpp": floor(n / ctx) chunks, BOS first, the second half
 * scored) the base is evaluated and the full-vocabulary log-softmax of each
 * scored row kept for that chunk only ((ctx/2) x n_vocab doubles), then each
 * quantized model evaluates the same chunk and is scored against it. No
 * logits file is written; memory does not grow with the text except for the
 * per-token figures (5 numbers per scored token and model).
 *
 * Per scored token (base P, quantized Q, target t), in double:
 *   nll_Q = -log Q(t), nll_P = -log P(t)   (log-softmax as le_ppl's: float
 *       max shift, expf summed in double -- so PPL(base) equals `ppl`'s);
 *   KL(P||Q) = sum_i P(i) (log P(i) - log Q(i)) over the whole vocabulary,
 *       with log-probs computed in double throughout (exp, not expf).
 *       llama.cpp stores the base's log-probs in 16 bits and drops terms with
 *       log P(i) <= -16; we keep them exact, so tiny KLs differ in the last
 *       digits and ours is never negative up to rounding;
 *   top-1 agreement: argmax P == argmax Q (the first maximum of each);
 *   dp = Q(t) - P(t), from the double log-probs.
 * Summaries as llama.cpp prints them: mean PPL(Q) and PPL(base) with their
 * +/- (le_stat_ppl_llamacpp), Cor(ln PPL(Q), ln PPL(base)), mean
 * ln(PPL(Q)/PPL(base)) +/- sqrt(u_Q^2 + u_P^2 - 2 cov), PPL ratio and
 * difference with their +/-; KLD mean +/-, max, 99.9/99/95/90%, median,
 * 10/5/1/0.1%, min; dp mean +/-, the same percentiles plus 75/25%, RMS +/-;
 * "same top p" +/- sqrt(p(1-p)/(n-1)). Percentile f of n sorted values:
 * linear interpolation at f (n - 1) (llama.cpp's, in double); the median is
 * the middle value or the mean of the two middle ones.
 *
 * The paired bootstrap resamples whole chunks (tokens inside a chunk are
 * correlated; chunks are the units llama.cpp's convention evaluates
 * independently) with replacement, the same chunks for base and quantized:
 * replicate = exp(mean nll_Q*) - exp(mean nll_P*); the interval is the 2.5
 * and 97.5 percentiles of the replicates. Seeded, deterministic.
 *
 * Nothing here depends on the thread count: rows are scored in order on the
 * calling thread, sums run in index order.
 *
 * Ownership: le_cmp_new's object is freed with le_cmp_free; stats are plain
 * values.
 */
#ifndef LE_COMPARE_H
#define LE_COMPARE_H

#include <stdint.h>

struct le_ctx;
struct le_cmp;

/* The percentiles reported, highest first: LE_CMP_KLD_Q for KL, LE_CMP_DP_Q
 * for dp. Fraction 1 is the maximum, 0 the minimum, 0.5 the median. */
#define LE_CMP_KLD_Q 11
#define LE_CMP_DP_Q 13
extern const double le_cmp_kld_fracs[LE_CMP_KLD_Q];
extern const double le_cmp_dp_fracs[LE_CMP_DP_Q];

struct le_cmp_stats {
    int64_t n_tokens, n_chunks;
    double ppl, ppl_unc, ppl_base, ppl_base_unc; /* exp(mean nll) and llama.cpp's +/- */
    double cor_ln_ppl;                           /* Cor(ln PPL(Q), ln PPL(base)) */
    double ln_ratio, ln_ratio_unc;               /* mean ln(PPL(Q)/PPL(base)) */
    double ratio, ratio_unc;                     /* PPL(Q)/PPL(base) */
    double dppl, dppl_unc;                       /* PPL(Q) - PPL(base), llama.cpp's +/- */
    double dppl_lo, dppl_hi;                     /* paired chunk bootstrap, 95% percentile interval */
    int boot;                                    /* its resamples (0: none, lo/hi NAN) */
    double kld, kld_unc;                         /* mean KL(base || Q) per token, nats */
    double kld_q[LE_CMP_KLD_Q];                  /* at le_cmp_kld_fracs */
    double dp, dp_unc, dp_rms, dp_rms_unc;       /* mean and RMS of Q(t) - P(t) */
    double dp_q[LE_CMP_DP_Q];                    /* at le_cmp_dp_fracs */
    double top1, top1_unc;                       /* same top token */
};

/* Functions on one model's accumulator. */
int le_cmp_new(struct le_cmp **out);
void le_cmp_free(struct le_cmp *c); /* NULL is fine */

/* The base's row: logp[0..n_vocab) = log softmax(logits) in double
 * throughout (for KL), *argmax its first
 * maximum, *nll = -log P(tok) exactly as le_ppl computes it. */
void le_cmp_base_row(const float *logits, int64_t n_vocab, int32_t tok, double *logp, int32_t *argmax,
                     double *nll);
/* Scores one position of the quantized model (its logits) against the
 * base's row for target tok. */
int le_cmp_add(struct le_cmp *c, const double *base_logp, int32_t base_argmax, double base_nll,
               const float *q_logits, int64_t n_vocab, int32_t tok);
/* Closes a chunk (the unit the bootstrap resamples); empty chunks are ignored. */
int le_cmp_end_chunk(struct le_cmp *c);
int64_t le_cmp_n_tokens(const struct le_cmp *c);
/* Running values for progress lines: PPL(Q), PPL(base), mean KL so far. */
void le_cmp_running(const struct le_cmp *c, double *ppl, double *ppl_base, double *kld);
/* The summary; boot resamples of chunks with seed (boot 0: no interval). */
int le_cmp_summary(const struct le_cmp *c, int boot, uint64_t seed, struct le_cmp_stats *out);

/* Percentile f in [0, 1] of n >= 1 sorted values (llama.cpp's interpolation). */
double le_cmp_percentile(const double *sorted, int64_t n, double f);

/*
 * Streams llama.cpp's perplexity chunks of tokens (le_ppl_llamacpp's
 * chunking: ctx >= 4, n_tokens >= 2 ctx, bos >= 0 replaces each chunk's
 * first token) through the base context and each of the nq quantized
 * contexts (same vocabulary; every context of at least ctx positions), adding
 * every scored position to acc[k] (nq accumulators from le_cmp_new). cb,
 * when not NULL, is called after each chunk; a non-zero return stops with
 * LE_EINTR.
 */
typedef int (*le_cmp_chunk_cb)(void *ud, int chunk, int n_chunks);
int le_cmp_llamacpp(struct le_ctx *base, struct le_ctx *const *q, int nq, const int32_t *tokens, int64_t n_tokens,
                    int ctx, int32_t bos, le_cmp_chunk_cb cb, void *ud, struct le_cmp *const *acc);

/* McNemar's exact test of paired binary outcomes: b pairs where only the
 * first is right, c where only the second is; two-sided p =
 * min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b + c = 0. */
double le_mcnemar_exact_p(int64_t b, int64_t c);

#endif
