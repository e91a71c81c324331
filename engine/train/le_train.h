/*
 * le_train: training tiny LLaMAs from scratch in float32 on the CPU.
 *
 * A trainer owns the parameters, their gradients, AdamW's moments and the
 * activations of one batch, all allocated once by le_trainer_new. Data are
 * token streams the caller tokenised (borrowed): each step draws B = batch /
 * ctx windows of ctx+1 tokens at seeded random offsets of the training
 * stream; validation uses fixed windows of the validation stream. The
 * learning rate warms up linearly, then decays by a cosine to min_lr_frac of
 * its peak, reached exactly at the last step.
 *
 * Results are bit-identical for a config and data whatever the thread count
 * of the pool, and a run saved at step k and resumed equals the run that was
 * never interrupted, bit for bit.
 *
 * Checkpoints are GGUF files with llama architecture keys (F32 tensors) that
 * the engine and llama.cpp load, the tokenizer keys copied from the
 * tokenizer's GGUF, and llamaeval.train.* metadata; AdamW's state lives
 * beside it in "<path>.opt" (magic "LETROPT1", version 1).
 */
#ifndef LE_TRAIN_H
#define LE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

struct le_pool;
struct le_gguf;
struct le_trainer;

struct le_train_config {
    int64_t dim, n_layers, n_heads, n_kv_heads, ffn, ctx;
    int64_t vocab;           /* must equal the tokenizer's */
    int64_t tokens;          /* token budget (training targets) */
    int64_t batch_tokens;    /* tokens per step, rounded down to a multiple of ctx */
    int64_t warmup;          /* steps; -1 = 5% of the steps */
    double lr, beta1, beta2, eps, wd, clip; /* clip 0 = off */
    double min_lr_frac;      /* 0.1 */
    double init_std;         /* 0.02; attn_output/ffn_down scaled by 1/sqrt(2 layers) */
    float rope_base, norm_eps;
    uint64_t seed;
    int tied;                /* output = token_embd */
    /* 1: the portable scalar kernels instead of AVX2+FMA (which are used only
     * where the CPU has them anyway). Results agree to rounding, not bit for
     * bit, so a run resumes only with the same choice. Not in the JSON. */
    int portable_kernels;
    /* Recorded in the config for the caller's loop (the trainer itself
     * evaluates only when asked, and they never change the trajectory). */
    int64_t eval_every;      /* steps between validation evals */
    int64_t eval_tokens;     /* tokens scored per interval eval; 0 = the whole set */
};

/* Upper bounds of the sizes le_train_config_check accepts (far above any
 * model this trainer can run): under them no parameter or FLOP count
 * overflows int64, and the trainer checks its memory plan's products. */
#define LE_TRAIN_MAX_DIM (1LL << 20)
#define LE_TRAIN_MAX_LAYERS (1LL << 12)
#define LE_TRAIN_MAX_FFN (1LL << 22)
#define LE_TRAIN_MAX_BATCH_TOKENS (1LL << 30)
#define LE_TRAIN_MAX_TOKENS (1LL << 50)

/* Fills the defaults (dim 64, 2 layers, 4 heads, kv 4, ffn 0 = auto, ctx 128,
 * lr 1e-3, betas 0.9/0.95, eps 1e-8, wd 0.1, clip 1, tied, ...). ffn 0 is
 * resolved by le_train_config_check to the LLaMA rule (2/3 * 4 * dim rounded
 * up to a multiple of 4). */
void le_train_config_default(struct le_train_config *c);
/* Resolves automatic values and checks the config against the tokenizer's
 * vocabulary size; LE_EINVAL with a one-line message when refused. */
int le_train_config_check(struct le_train_config *c, int64_t tok_vocab);
/* The config as one-line JSON (the names of the command-line flags).
 * Returns LE_OK or LE_EINVAL when cap is too small. */
int le_train_config_json(const struct le_train_config *c, char *buf, size_t cap);

int64_t le_train_n_steps(const struct le_train_config *c);
int64_t le_train_batch_seqs(const struct le_train_config *c);
double le_train_lr_at(const struct le_train_config *c, int64_t step); /* step 0-based */

struct le_train_counts {
    int64_t n_params, n_params_nonembed; /* as le_model_info counts them */
    double flops_per_token;  /* forward+backward, matmuls and attention */
    double flops_per_step;
};
void le_train_counts(const struct le_train_config *c, struct le_train_counts *out);

/* Parameter and FLOP counts for scaling laws, under the conventions the
 * literature uses (see train.c for the formulas). Norm weights count as
 * parameters in every N. With a tied output layer the one V x dim matrix is
 * the embedding: both "without" counts remove it once. */
struct le_train_scaling {
    int64_t n_total;          /* every parameter (Hoffmann et al. 2022) */
    int64_t n_nonembed;       /* without the token embedding (Kaplan et al. 2020) */
    int64_t n_nonembed_noout; /* without the token embedding and the output matrix */
    double flops_fwd_seq;     /* Chinchilla App. F: forward FLOPs of one ctx-token sequence */
    double flops_per_token;   /* 3 * flops_fwd_seq / ctx: forward + backward per token */
};
/* Resolves ffn 0 and kv-heads 0 as le_train_config_check does. */
void le_train_scaling_counts(const struct le_train_config *c, struct le_train_scaling *out);

/* Checks that a file can be created at path (its directory is writable). */
int le_train_check_output(const char *path);

/* Functions for a trainer. */
int le_trainer_new(struct le_trainer **out, const struct le_train_config *c, struct le_pool *pool);
void le_trainer_free(struct le_trainer *t); /* NULL is fine */
/* Borrows the token streams (ids < vocab); train must hold more than ctx+1. */
int le_trainer_set_data(struct le_trainer *t, const int32_t *train, int64_t n_train,
                        const int32_t *valid, int64_t n_valid);
int64_t le_trainer_step_index(const struct le_trainer *t); /* steps done */
/* One optimizer step on the next batch. */
int le_trainer_step(struct le_trainer *t, double *train_loss, double *lr, double *grad_norm);
/* Mean loss per token over validation windows (max_tokens 0 = all of them:
 * consecutive windows of ctx+1 tokens overlapping by one, every token after
 * the first scored once; otherwise a fixed evenly spaced subset). */
int le_trainer_eval(struct le_trainer *t, int64_t max_tokens, double *loss, int64_t *n_scored);
/* Cross-entropy of the add-one unigram model of the training stream on the
 * targets that le_trainer_eval(t, 0, ...) scores. */
int le_trainer_unigram_loss(struct le_trainer *t, double *loss);

/* Functions for checkpoints. tok: the tokenizer's GGUF (its tokenizer.* keys
 * are copied). val_loss: NAN when unknown. */
int le_trainer_save(struct le_trainer *t, const char *path, const struct le_gguf *tok,
                    double val_loss, double unigram_loss);
/* Loads parameters from a checkpoint at path and AdamW/RNG/step state from
 * path.opt; the config and the data must be those of the saved run. */
int le_trainer_resume(struct le_trainer *t, const char *path);

#ifdef LE_TESTING
/* Functions for tests, in the test build only (-DLE_TESTING): the flat
 * parameter and gradient arrays, and the loss (and gradients) of given
 * windows (B rows of ctx+1 tokens). */
float *le_trainer_params(struct le_trainer *t, int64_t *n);
float *le_trainer_grads(struct le_trainer *t, int64_t *n);
int le_trainer_loss(struct le_trainer *t, const int32_t *windows, int64_t B, int want_grad, double *loss);
/* The logits of the last le_trainer_loss without gradients: B * ctx rows of
 * vocab floats (row b * ctx + i: window b's token i). Owned by t. */
const float *le_trainer_logits(const struct le_trainer *t);
#endif

#endif
