/*
 * le_model: a LLaMA-architecture model loaded from GGUF (weights used in
 * place from the mmap), and le_ctx: a context with a KV cache and all
 * scratch planned once, whose forward pass does not allocate.
 *
 * Numbers follow llama.cpp: RMSNorm eps from metadata, RoPE "NORM" mode on
 * adjacent pairs with rope.freq_base (and linear rope scaling), GQA, SwiGLU,
 * tied or untied output; matmul activations rounded to the weight type's
 * vec_dot_type as ggml does. Logits of a position never depend on how tokens
 * were batched, on the thread count, or on what else was evaluated.
 */
#ifndef LE_MODEL_H
#define LE_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct le_pool;
struct le_tok;
struct le_gguf;
struct le_model;
struct le_ctx;

struct le_model_info {
    char arch[32];       /* general.architecture ("llama") */
    char name[128];      /* general.name or "" */
    int64_t n_vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn, ctx_train;
    float rope_base, rope_scale, eps; /* rope_scale: linear factor, 1 = none */
    int tied;            /* no output.weight: token_embd is the output */
    int ftype;           /* general.file_type or -1 */
    int main_type;       /* type of blk.0.attn_q.weight */
    int64_t n_params;            /* all tensor elements */
    int64_t n_params_nonembed;   /* minus token_embd (and minus output when untied) */
    uint64_t file_size;
};

/* Opens a GGUF model. LE_EFORMAT names a missing/malformed key or tensor
 * (or a wrong shape); LE_EUNSUP names an unsupported architecture, tensor
 * type or feature. The model owns its mapping and tokenizer; free it after
 * every context made from it. */
int le_model_open(struct le_model **out, const char *path);
/* As le_model_open, for any format le_format_open reads (Hugging Face,
 * Meta .pth, llama2.c, GGML/GGJT; by content), with opts' LoRA adapters
 * merged; opts may be NULL. le_model_open(p) = le_model_open_ex(p, NULL). */
struct le_format_opts;
int le_model_open_ex(struct le_model **out, const char *path, const struct le_format_opts *opts);
void le_model_free(struct le_model *m); /* NULL is fine */
const struct le_model_info *le_model_get_info(const struct le_model *m);
/* The tokenizer, or NULL when the file has no tokenizer.ggml.model key. */
const struct le_tok *le_model_tok(const struct le_model *m);
const struct le_gguf *le_model_gguf(const struct le_model *m);
/* Bytes of weights one decode step reads: every layer matrix, the output
 * matrix and the norm vectors once (the embedding row it looks up aside). */
double le_model_weight_bytes(const struct le_model *m);

/*
 * A context for up to n_ctx positions, evaluating at most n_batch tokens per
 * call. pool may be NULL (1 thread); it is borrowed, not owned.
 */
int le_ctx_new(struct le_ctx **out, struct le_model *m, int n_ctx, int n_batch, struct le_pool *pool);
void le_ctx_free(struct le_ctx *c); /* NULL is fine */
/*
 * The memory a context of n_ctx positions, n_batch tokens per call and
 * nthreads threads will hold, from the same sizes le_ctx_new allocates:
 * weights = the model's file mapped (all of it paged in once every weight
 * has been read; GGUF weights are used in place, never copied), kv = the K
 * and V caches (float32), scratch = activations, logits of n_batch rows,
 * RoPE table, attention scores and the matmul scratch. total is their sum:
 * a bound on the process's resident memory besides code and small tables.
 */
struct le_ctx_mem {
    uint64_t weights, kv, scratch, total;
};
int le_ctx_mem_plan(const struct le_model *m, int n_ctx, int n_batch, int nthreads, struct le_ctx_mem *out);
/* LE_OK when plan->total <= avail bytes, else LE_ENOMEM with a message
 * giving the plan, the available memory and what bounded it (source). */
int le_ctx_mem_check(const struct le_ctx_mem *plan, int n_ctx, uint64_t avail, const char *source);
int le_ctx_n_ctx(const struct le_ctx *c);
int le_ctx_n_batch(const struct le_ctx *c);
const struct le_model *le_ctx_model(const struct le_ctx *c);

/*
 * Evaluates tokens[0..n) at positions pos..pos+n-1 (n <= n_batch,
 * pos + n <= n_ctx, pos <= number of positions already cached: the cache
 * keeps positions < pos, so a shared prefix is evaluated once and each
 * continuation from where it ends). Computes logits for every one of the n
 * positions when want_logits, else only updates the cache.
 */
int le_ctx_eval(struct le_ctx *c, const int32_t *tokens, int n, int pos, int want_logits);
/*
 * As le_ctx_eval, but computes logits only for rows [first_logit, n) (the
 * rows before it are left undefined; first_logit == n computes none). Those
 * logits are bit-identical to what le_ctx_eval gives; skipping the others
 * saves the output projection and the last layer's work for them.
 */
int le_ctx_eval_from(struct le_ctx *c, const int32_t *tokens, int n, int pos, int first_logit);
/*
 * Round every K and V entry to F16 when it enters the cache (values stay
 * float32 in memory), reproducing llama.cpp's default context (F16 KV cache,
 * whose flash-attention path keeps Q and the softmax in float32). Off by
 * default (= llama.cpp with an F32 cache, flash attention off). Takes effect
 * for positions evaluated afterwards.
 */
void le_ctx_set_kv_f16(struct le_ctx *c, int on);
/* Use the scalar reference versions of the forward pass's own kernels
 * (attention, softmax, SwiGLU) instead of the AVX2 ones; for tests. */
void le_ctx_set_ref_kernels(struct le_ctx *c, int on);
/*
 * Batched decode across sequences: one token for each of n contexts cs[0..n)
 * (distinct, of one model, equal n_ctx and KV rounding, n <= cs[0]'s
 * n_batch), tokens[i] at position le_ctx_n_cached(cs[i]) of cs[i]'s cache,
 * in ONE forward pass on cs[0]'s pool and buffers, so the matmuls read each
 * weight once for the n tokens. Row i of le_ctx_logits(cs[0]) is then
 * bit-identical to what le_ctx_eval(cs[i], &tokens[i], 1, pos, 1) gives
 * (each row's arithmetic depends only on its inputs and its own cache);
 * every cs[i] caches one more position.
 */
int le_ctx_decode_batch(struct le_ctx *const *cs, const int32_t *tokens, int n);
/* Copies the K/V of positions [0, n) of src's cache into dst (same model,
 * n_ctx and KV rounding; n <= le_ctx_n_cached(src)); dst then caches n
 * positions, exactly as if it had evaluated them itself. */
int le_ctx_copy_cache(struct le_ctx *dst, const struct le_ctx *src, int n);
/* The pool it was made with (NULL: 1 thread) and its KV rounding setting. */
struct le_pool *le_ctx_pool(const struct le_ctx *c);
int le_ctx_kv_f16(const struct le_ctx *c);
/* Number of positions whose K/V are cached (the next eval's largest pos). */
int le_ctx_n_cached(const struct le_ctx *c);
/* Logits of the last le_ctx_eval: n rows of n_vocab floats, row i for
 * position pos+i (the prediction of the token at pos+i+1). */
const float *le_ctx_logits(const struct le_ctx *c);

#endif
