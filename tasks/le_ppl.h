/*
 * le_ppl: perplexity of a token stream (or of documents) under named
 * conventions, each reproducing one reference implementation's numbers.
 * Library code: tokens in, numbers out, progress through a callback; never
 * prints. Log-probs are log-softmax of the engine's float logits computed in
 * double; sums run in a fixed order, so no result depends on the thread count
 * or the batch size.
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
 *
 * gptq (IST-DASLab/gptq, datautils.py get_wikitext2 + llama.py llama_eval;
 * the evaluation most quantization papers copy): the documents (for
 * WikiText-2, the rows of HF datasets' "wikitext-2-raw-v1" test split, see
 * le_ppl_hf_rows) are joined with "\n\n" and tokenized once by the model's
 * tokenizer (one BOS at the very start when the tokenizer adds BOS).
 * nsamples = n // L disjoint windows tokens[i*L, (i+1)*L) (L = seqlen, 2048
 * in GPTQ; the tail is unused), each evaluated from an empty cache. HF's
 * CrossEntropyLoss on the shifted labels gives loss_i = the mean over
 * j = 1..L-1 of -log p(tok[iL+j] | tok[iL .. iL+j)) (the window's first token
 * is never a target). llama.py then takes neg_log_likelihood_i = loss_i * L
 * and ppl = exp(sum_i neg_log_likelihood_i / (nsamples * L)) -- reproduced
 * exactly so (a mean of L-1 nlls weighted by L: the result equals
 * exp(mean_i loss_i)); GPTQ multiplies in float32, we in double.
 *
 * hf-stride (Hugging Face transformers docs, "Perplexity of fixed-length
 * models", docs/source/en/perplexity.md, the loop with nll_sum / n_tokens):
 * the text is "\n\n".join(test["text"]) of HF's wikitext-2-raw-v1 (again
 * le_ppl_hf_rows) tokenized once (one BOS at the start when the tokenizer
 * adds BOS). max_length W, stride S (1 <= S <= W): for begin = 0, S, 2S, ...
 * (while begin < n): end = min(begin + W, n); trg_len = end - prev_end;
 * the window tokens[begin, end) is evaluated from an empty cache with labels
 * before end - trg_len masked (-100). HF's loss = mean of -log p over the
 * unmasked labels after the internal shift, i.e. over window positions
 * max(1, wlen - trg_len) .. wlen-1; num_loss_tokens = trg_len - 1 (the guide's
 * num_valid_tokens - batch_size); nll_sum += loss * num_loss_tokens;
 * n_tokens += num_loss_tokens; prev_end = end; stop once end == n.
 * ppl = exp(nll_sum / n_tokens). Reproduced as written, including its quirk:
 * after the first window the loss averages trg_len tokens but is weighted by
 * trg_len - 1 (with S = 1 every window after the first weighs 0; the guide's
 * older loop, exp(mean of per-window losses), is not this convention). One
 * deviation: a last window of a single token has no label after the shift;
 * HF's code adds 0 * NaN (a NaN result), we add 0.
 *
 * lmeval (EleutherAI lm-evaluation-harness, task "wikitext",
 * lm_eval/tasks/wikitext/{wikitext.yaml,preprocess_wikitext.py}): per
 * document, loglikelihood_rolling of the scored text (for WikiText,
 * wikitext_detokenizer(page), le_ppl_wikitext_detok) with max_length = the
 * runner's n_ctx (le_runner_rolling: tokens without BOS, lm-eval's rolling
 * windows, the prefix token BOS conditioning the first). Words =
 * len(re.split(r"\s+", original)) and bytes = len(original.encode("utf-8"))
 * are counted on the original (not detokenized) text. Aggregated as lm-eval's
 * weighted_perplexity / bits_per_byte over documents:
 * word_perplexity = exp(-sum ll / sum words), byte_perplexity =
 * exp(-sum ll / sum bytes), bits_per_byte = -sum ll / sum bytes / ln 2; plus
 * token_perplexity = exp(-sum ll / sum tokens). Standard errors: lm-eval's
 * bootstrap over documents (tasks/metrics.c); token_perplexity has
 * llama.cpp's per-token +/-. The metrics are tasks/mc.c's rolling metrics,
 * the same code the `brown` task reports with.
 *
 * Ownership: out-parameters documented as malloc'ed are freed by the caller
 * with free() (string arrays with le_ppl_strings_free).
 */
#ifndef LE_PPL_H
#define LE_PPL_H

#include <stddef.h>
#include <stdint.h>

struct le_ctx;
struct le_runner;
struct le_rec;
struct le_metric_opts;

struct le_ppl_result {
    double ppl, ppl_stderr; /* stderr NAN when undefined (N < 2; gptq, hf-stride) */
    double mean_nll;        /* log(ppl): the exponent the convention computes */
    double sum_nll, sumsq_nll; /* over the scored tokens, each once */
    int64_t n_scored;       /* tokens whose nll was computed */
    int n_chunks;           /* chunks / windows evaluated */
    int64_t n_denom;        /* the token count the exponent divides by (llamacpp:
                               n_scored; gptq: nsamples * L; hf-stride: n_tokens) */
    int64_t n_evaluated;    /* tokens in the windows (chunks * ctx for llamacpp) */
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

/* GPTQ's convention (above) on the token stream (BOS already first when the
 * tokenizer adds one). r's n_ctx must be >= seqlen; seqlen >= 2; needs
 * n_tokens >= seqlen. cb after each window, may be NULL. */
int le_ppl_gptq(struct le_runner *r, const int32_t *tokens, int64_t n_tokens, int seqlen, le_ppl_chunk_cb cb,
                void *ud, struct le_ppl_result *out);

/* The Hugging Face guide's strided windows (above): max_length W (r's n_ctx
 * must be >= W), stride S in [1, W]; needs n_tokens >= 2. cb after each
 * window (n_chunks = the number of windows), may be NULL. */
int le_ppl_hf_stride(struct le_runner *r, const int32_t *tokens, int64_t n_tokens, int max_length, int stride,
                     le_ppl_chunk_cb cb, void *ud, struct le_ppl_result *out);

struct le_ppl_lmeval_result {
    double word_perplexity, word_perplexity_stderr;
    double byte_perplexity, byte_perplexity_stderr;
    double bits_per_byte, bits_per_byte_stderr;
    double token_perplexity, token_perplexity_stderr;
    double sum_ll;     /* sum over documents of the rolling log-likelihood */
    int64_t n_docs, n_tokens, n_words, n_bytes;
};

/*
 * lm-eval's wikitext metrics (above) over n_docs documents: docs[i] is the
 * text scored, counted[i] the text words and bytes are counted on (counted
 * NULL, or counted[i] NULL: docs[i] itself). Max length = le_runner_n_ctx(r).
 * mo: bootstrap iterations and seed (NULL = tasks/metrics.c's defaults:
 * 1000 iterations, seed 1234). recs, if not NULL, gets n_docs records
 * (le_rec_to_json stores them; le_task_metrics recomputes from them).
 * cb after each document with the running token perplexity.
 */
int le_ppl_lmeval(struct le_runner *r, const char *const *docs, const char *const *counted, int64_t n_docs,
                  const struct le_metric_opts *mo, le_ppl_chunk_cb cb, void *ud, struct le_rec *recs,
                  struct le_ppl_lmeval_result *out);

/* Functions that make documents and texts as the references did. */

/* lm-eval's wikitext_detokenizer (preprocess_wikitext.py), every str.replace
 * and re.sub of it in order, on s[0..n) (UTF-8; \s is Python's Unicode
 * whitespace). *out is malloc'ed, NUL-terminated, *out_len its length. */
int le_ppl_wikitext_detok(const char *s, size_t n, char **out, size_t *out_len);

/* The rows of HF datasets' wikitext script (_generate_examples): the file
 * read in text mode (universal newlines: "\r\n" and "\r" end lines as "\n"),
 * one row per line with its "\n", a row whose str.strip() is empty becomes
 * "". *rows: malloc'ed array of *n_rows malloc'ed strings. */
int le_ppl_hf_rows(const char *buf, size_t n, char ***rows, int64_t *n_rows);

/* sep.join(docs): *out malloc'ed, NUL-terminated, *out_len its length. */
int le_ppl_join(const char *const *docs, int64_t n_docs, const char *sep, char **out, size_t *out_len);

/* Frees an array of n malloc'ed strings and the array (NULL is fine). */
void le_ppl_strings_free(char **v, int64_t n);

#endif
