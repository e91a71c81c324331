/*
 * le_ppl: perplexity of a token stream under named conventions. Library
 * code: tokens in, numbers out, progress through a callback; never prints.
 *
 * llamacpp (llama.cpp's tools/perplexity): the caller tokenizes the whole
 * text once with BOS (after dropping one trailing newline); the stream is cut
 * into floor(n / ctx) non-overlapping chunks of ctx tokens (the tail is
 * unused); in each chunk the first token is replaced by BOS (when bos >= 0),
 * the chunk is evaluated from an empty KV cache, and only its second half is
 * scored: logits at positions ctx/2 .. ctx-2 predict the tokens at
 * ctx/2+1 .. ctx-1. nll = -log softmax(logits)[target] (max-shifted, the
 * exp sum in double). PPL = exp(mean nll),
 * stderr = PPL * sqrt((mean(nll^2) - mean(nll)^2) / (N - 1)).
 */
#ifndef LE_PPL_H
#define LE_PPL_H

#include <stdint.h>

struct le_ctx;

struct le_ppl_result {
    double ppl, ppl_stderr; /* stderr NAN when undefined (N < 2) */
    double mean_nll;
    double sum_nll, sumsq_nll;
    int64_t n_scored;       /* tokens scored */
    int n_chunks;
};

/* Called after each chunk (1-based) with the running perplexity so far.
 * A non-zero return stops the computation (le_ppl_* returns LE_EINTR). */
typedef int (*le_ppl_chunk_cb)(void *ud, int chunk, int n_chunks, double running_ppl);

/*
 * llama.cpp's convention on c (a context of at least ctx positions; its
 * batch size sets how many tokens each eval call takes). Needs at least
 * 2 * ctx tokens, as llama.cpp does; ctx >= 4. bos: the token put at the
 * start of every chunk, or -1 to leave chunks as they are. cb may be NULL.
 */
int le_ppl_llamacpp(struct le_ctx *c, const int32_t *tokens, int64_t n_tokens, int ctx, int32_t bos,
                    le_ppl_chunk_cb cb, void *ud, struct le_ppl_result *out);

#endif
