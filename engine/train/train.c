/*
 * train: the training loop of a tiny LLaMA -- config checks, the parameter
 * layout, forward and backward of the whole model over one batch, AdamW with
 * global-norm clipping, the LR schedule, and validation.
 *
 * Everything is planned in le_trainer_new: one arena holds the parameters,
 * gradients, moments, the activations of a full batch (kept for the
 * backward; no recomputation) and the kernels' scratch, so a step never
 * allocates. A step is ~20 pool jobs per layer; the GEMMs dominate (see
 * train_gemm.c). Bit-exact determinism comes from the kernels (train_ops.h)
 * plus fixed-order reductions here (gradient norm over 4096-element blocks).
 */
#include "le_train.h"
#include "train_int.h"
#include "train_ops.h"

#include "le_err.h"  /* le_err_set */
#include "le_ops.h"  /* le_ops_rope_table */
#include "le_pool.h" /* le_pool_run, le_pool_range */
#include "le_util.h" /* le_splitmix64 */

#include <errno.h>
#include <stdint.h>  /* INT64_MAX, PTRDIFF_MAX */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>  /* unlink, close */
#include <sys/stat.h>

/* Functions for the config. */

void le_train_config_default(struct le_train_config *c) {
    memset(c, 0, sizeof *c);
    c->dim = 64, c->n_layers = 2, c->n_heads = 4, c->n_kv_heads = 0, c->ffn = 0, c->ctx = 128;
    c->tokens = 200000, c->batch_tokens = 4096, c->warmup = -1;
    c->lr = 1e-3, c->beta1 = 0.9, c->beta2 = 0.95, c->eps = 1e-8, c->wd = 0.1, c->clip = 1.0;
    c->min_lr_frac = 0.1, c->init_std = 0.02;
    c->rope_base = 10000.0f, c->norm_eps = 1e-5f;
    c->seed = 1, c->tied = 1;
}

int64_t le_train_batch_seqs(const struct le_train_config *c) {
    return c->ctx > 0 ? c->batch_tokens / c->ctx : 0;
}

int64_t le_train_n_steps(const struct le_train_config *c) {
    int64_t per = le_train_batch_seqs(c) * c->ctx;
    return per > 0 ? c->tokens / per : 0;
}

/* LE_EINVAL unless lo <= v <= hi, naming the flag. */
static int bound(const char *flag, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
        return le_err_set(LE_EINVAL, "%s must be in %lld..%lld (got %lld)", flag, (long long)lo, (long long)hi,
                          (long long)v);
    return LE_OK;
}

int le_train_config_check(struct le_train_config *c, int64_t tok_vocab) {
    if (c->n_layers < 1)
        return le_err_set(LE_EINVAL, "--layers must be at least 1 (got %lld)", (long long)c->n_layers);
    if (c->dim < 2 || c->n_heads < 1)
        return le_err_set(LE_EINVAL, "--dim and --heads must be positive (got %lld, %lld)",
                          (long long)c->dim, (long long)c->n_heads);
    /* Upper bounds first, so that no size product below can overflow int64
     * (le_train_counts multiplies them; plan() checks its own products too). */
    int rc;
    if ((rc = bound("--layers", c->n_layers, 1, LE_TRAIN_MAX_LAYERS)) ||
        (rc = bound("--dim", c->dim, 2, LE_TRAIN_MAX_DIM)) || (rc = bound("--ffn", c->ffn, 0, LE_TRAIN_MAX_FFN)) ||
        (rc = bound("--batch-tokens", c->batch_tokens, 1, LE_TRAIN_MAX_BATCH_TOKENS)) ||
        (rc = bound("--tokens", c->tokens, 1, LE_TRAIN_MAX_TOKENS)) ||
        (rc = bound("--vocab", c->vocab, 0, INT32_MAX)) ||
        (rc = bound("the tokenizer's vocabulary", tok_vocab, 1, INT32_MAX)))
        return rc;
    if (c->dim % c->n_heads)
        return le_err_set(LE_EINVAL, "--heads %lld does not divide --dim %lld", (long long)c->n_heads,
                          (long long)c->dim);
    if ((c->dim / c->n_heads) % 2)
        return le_err_set(LE_EINVAL, "head dim %lld (--dim / --heads) must be even for RoPE",
                          (long long)(c->dim / c->n_heads));
    if (c->n_kv_heads == 0)
        c->n_kv_heads = c->n_heads;
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads)
        return le_err_set(LE_EINVAL, "--kv-heads %lld does not divide --heads %lld",
                          (long long)c->n_kv_heads, (long long)c->n_heads);
    if (c->ffn == 0)
        c->ffn = ((2 * 4 * c->dim / 3) + 3) / 4 * 4;
    if (c->ffn < 1)
        return le_err_set(LE_EINVAL, "--ffn must be positive (got %lld)", (long long)c->ffn);
    if (c->ctx < 2 || c->ctx > 65536)
        return le_err_set(LE_EINVAL, "--ctx must be in 2..65536 (got %lld)", (long long)c->ctx);
    if (c->vocab == 0)
        c->vocab = tok_vocab;
    if (c->vocab > tok_vocab)
        return le_err_set(LE_EINVAL, "--vocab %lld is larger than the tokenizer's vocabulary (%lld)",
                          (long long)c->vocab, (long long)tok_vocab);
    if (c->vocab < tok_vocab)
        return le_err_set(LE_EINVAL, "--vocab %lld is smaller than the tokenizer's vocabulary (%lld)",
                          (long long)c->vocab, (long long)tok_vocab);
    if (c->batch_tokens < c->ctx)
        return le_err_set(LE_EINVAL, "--batch-tokens %lld is smaller than one sequence (--ctx %lld)",
                          (long long)c->batch_tokens, (long long)c->ctx);
    int64_t per = le_train_batch_seqs(c) * c->ctx;
    if (c->tokens < per)
        return le_err_set(LE_EINVAL, "--tokens %lld is smaller than one batch (%lld tokens)",
                          (long long)c->tokens, (long long)per);
    int64_t steps = le_train_n_steps(c);
    if (c->warmup < 0)
        c->warmup = steps / 20;
    if (c->warmup >= steps && c->warmup > 0)
        return le_err_set(LE_EINVAL, "--warmup %lld must be fewer than the %lld steps", (long long)c->warmup,
                          (long long)steps);
    if (!(c->lr > 0) || !(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1) ||
        !(c->eps > 0) || !(c->wd >= 0) || !(c->clip >= 0) || !(c->min_lr_frac >= 0 && c->min_lr_frac <= 1) ||
        !(c->init_std > 0) || !(c->rope_base > 0) || !(c->norm_eps > 0))
        return le_err_set(LE_EINVAL, "optimizer settings out of range (need lr > 0, 0 <= beta < 1, eps > 0, "
                                     "wd >= 0, clip >= 0)");
    if (c->eval_every < 0 || c->eval_tokens < 0)
        return le_err_set(LE_EINVAL, "--eval-every and --eval-tokens must not be negative");
    return LE_OK;
}

int le_train_config_json(const struct le_train_config *c, char *buf, size_t cap) {
    int n = snprintf(buf, cap,
                     "{\"dim\":%lld,\"layers\":%lld,\"heads\":%lld,\"kv-heads\":%lld,\"ffn\":%lld,\"ctx\":%lld,"
                     "\"vocab\":%lld,\"tokens\":%lld,\"batch-tokens\":%lld,\"warmup\":%lld,\"lr\":%.17g,"
                     "\"beta1\":%.17g,\"beta2\":%.17g,\"eps\":%.17g,\"wd\":%.17g,\"clip\":%.17g,"
                     "\"min-lr-frac\":%.17g,\"init-std\":%.17g,\"rope-base\":%.9g,\"norm-eps\":%.9g,"
                     "\"seed\":%llu,\"tied\":%s,\"eval-every\":%lld,\"eval-tokens\":%lld}",
                     (long long)c->dim, (long long)c->n_layers, (long long)c->n_heads, (long long)c->n_kv_heads,
                     (long long)c->ffn, (long long)c->ctx, (long long)c->vocab, (long long)c->tokens,
                     (long long)c->batch_tokens, (long long)c->warmup, c->lr, c->beta1, c->beta2, c->eps, c->wd,
                     c->clip, c->min_lr_frac, c->init_std, (double)c->rope_base, (double)c->norm_eps,
                     (unsigned long long)c->seed, c->tied ? "true" : "false", (long long)c->eval_every,
                     (long long)c->eval_tokens);
    if (n < 0 || (size_t)n >= cap)
        return le_err_set(LE_EINVAL, "config JSON buffer too small");
    return LE_OK;
}

uint64_t le_train_fnv(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Hash of what determines the trajectory (evaluation settings excluded). */
uint64_t le_train_config_hash(const struct le_train_config *c) {
    struct le_train_config k = *c;
    k.eval_every = 0, k.eval_tokens = 0;
    char buf[1024];
    if (le_train_config_json(&k, buf, sizeof buf) != LE_OK)
        return 0;
    uint64_t h = le_train_fnv(buf, strlen(buf), 0xcbf29ce484222325ULL);
    /* The kernels change the last bits of every step (not the JSON: they are
     * not a model setting); mixed in only when not the default, so the hash of
     * a default run stays what it was. */
    return c->portable_kernels ? le_train_fnv("portable", 8, h) : h;
}

double le_train_lr_at(const struct le_train_config *c, int64_t step) {
    int64_t S = le_train_n_steps(c), W = c->warmup > 0 ? c->warmup : 0;
    if (step < W)
        return c->lr * (double)(step + 1) / (double)W;
    double frac = S - 1 > W ? (double)(step - W) / (double)(S - 1 - W) : 1.0;
    if (frac > 1.0)
        frac = 1.0;
    double lo = c->lr * c->min_lr_frac;
    return lo + (c->lr - lo) * 0.5 * (1.0 + cos(M_PI * frac));
}

void le_train_counts(const struct le_train_config *c, struct le_train_counts *o) {
    int64_t C = c->dim, KC = c->dim / c->n_heads * (c->n_kv_heads ? c->n_kv_heads : c->n_heads);
    int64_t F = c->ffn, V = c->vocab, L = c->n_layers, T = c->ctx;
    int64_t per_layer_mat = 2 * C * C + 2 * C * KC + 3 * C * F;
    o->n_params = V * C * (c->tied ? 1 : 2) + L * (per_layer_mat + 2 * C) + C;
    o->n_params_nonembed = o->n_params - V * C * (c->tied ? 1 : 2);
    o->flops_per_token = 6.0 * (double)(L * per_layer_mat + V * C) + 6.0 * (double)(L * C * (T + 1));
    o->flops_per_step = o->flops_per_token * (double)(le_train_batch_seqs(c) * T);
}

/*
 * The FLOP count of Hoffmann et al. 2022 ("Training Compute-Optimal Large
 * Language Models"), Appendix F, per sequence of T = ctx tokens, a
 * multiply-accumulate counted as 2 FLOPs, forward pass:
 *   embeddings        2 T V d
 *   per layer, attention:
 *     Q, K, V          2 T d (H hd + 2 G hd)      [paper: 2 * 3 T d (hd H); GQA: K, V have G heads]
 *     logits K.Q       2 T T (H hd)
 *     softmax          3 H T T
 *     reductions       2 T T (H hd)               [softmax @ values]
 *     output proj.     2 T (H hd) d
 *   per layer, dense   2 T 3 d F                  [paper: 2 T 2 d F; SwiGLU has 3 matrices]
 *   final logits       2 T d V
 *   forward = embeddings + L (attention + dense) + logits
 * and forward + backward = 3 x forward (the backward as twice the forward,
 * as the paper assumes after Kaplan et al. 2020). Like the paper it counts
 * the full T x T attention (no causal halving) and leaves out norms, RoPE,
 * the SwiGLU product and the optimiser. d = dim, V = vocab, L = layers,
 * H = heads, G = kv heads, hd = d / H, F = ffn.
 */
void le_train_scaling_counts(const struct le_train_config *c, struct le_train_scaling *o) {
    double d = (double)c->dim, V = (double)c->vocab, L = (double)c->n_layers, T = (double)c->ctx;
    double H = (double)c->n_heads, G = (double)(c->n_kv_heads ? c->n_kv_heads : c->n_heads);
    double hd = d / H;
    int64_t F = c->ffn ? c->ffn : ((2 * 4 * c->dim / 3) + 3) / 4 * 4;
    int64_t KC = c->dim / c->n_heads * (c->n_kv_heads ? c->n_kv_heads : c->n_heads);
    int64_t per_layer = 2 * c->dim * c->dim + 2 * c->dim * KC + 3 * c->dim * F + 2 * c->dim;
    int64_t emb = c->vocab * c->dim;
    o->n_total = emb * (c->tied ? 1 : 2) + c->n_layers * per_layer + c->dim;
    o->n_nonembed = o->n_total - emb;
    o->n_nonembed_noout = o->n_total - emb * (c->tied ? 1 : 2);
    double attn = 2 * T * d * (H * hd + 2 * G * hd) + 2 * T * T * (H * hd) + 3 * H * T * T +
                  2 * T * T * (H * hd) + 2 * T * (H * hd) * d;
    double dense = 2 * T * 3 * d * (double)F;
    o->flops_fwd_seq = 2 * T * V * d + L * (attn + dense) + 2 * T * d * V;
    o->flops_per_token = 3 * o->flops_fwd_seq / T;
}

int le_train_check_output(const char *path) {
    struct stat st;
    if (!path || !path[0])
        return le_err_set(LE_EINVAL, "no output path given");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return le_err_set(LE_EIO, "cannot write %s: it is a directory", path);
    size_t n = strlen(path);
    char *probe = malloc(n + 16);
    if (!probe)
        return le_err_set(LE_ENOMEM, "out of memory");
    snprintf(probe, n + 16, "%s.probeXXXXXX", path);
    int fd = mkstemp(probe);
    if (fd < 0) {
        int e = errno;
        free(probe);
        return le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(e));
    }
    close(fd);
    unlink(probe);
    free(probe);
    return LE_OK;
}

/* Functions for the layout and initialisation. */

static double rng_normal(uint64_t *s) {
    double u1 = ((double)(le_splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(le_splitmix64(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int64_t add_tensor(struct le_trainer *t, int64_t off, const char *name, int64_t rows, int64_t cols,
                          int n_dims, double std) {
    struct le_tt *e = &t->tt[t->n_tt++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->off = off, e->rows = rows, e->cols = cols, e->n_dims = n_dims;
    e->decay = n_dims == 2, e->std = std;
    return off + rows * cols;
}

static void build_layout(struct le_trainer *t) {
    const struct le_train_config *c = &t->c;
    double std = c->init_std, ostd = c->init_std / sqrt(2.0 * (double)t->L);
    int64_t off = 0;
    char nm[48];
    t->emb = off;
    off = add_tensor(t, off, "token_embd.weight", t->V, t->C, 2, std);
    for (int64_t l = 0; l < t->L; l++) {
        struct le_tl *y = &t->lay[l];
#define LE_T(field, suffix, rows, cols, nd, sd)                                 \
        snprintf(nm, sizeof nm, "blk.%lld." suffix ".weight", (long long)l);    \
        y->field = off;                                                         \
        off = add_tensor(t, off, nm, rows, cols, nd, sd);
        LE_T(an, "attn_norm", 1, t->C, 1, 0.0)
        LE_T(wq, "attn_q", t->C, t->C, 2, std)
        LE_T(wk, "attn_k", t->KC, t->C, 2, std)
        LE_T(wv, "attn_v", t->KC, t->C, 2, std)
        LE_T(wo, "attn_output", t->C, t->C, 2, ostd)
        LE_T(fn, "ffn_norm", 1, t->C, 1, 0.0)
        LE_T(w1, "ffn_gate", t->F, t->C, 2, std)
        LE_T(w2, "ffn_down", t->C, t->F, 2, ostd)
        LE_T(w3, "ffn_up", t->F, t->C, 2, std)
#undef LE_T
    }
    t->outn = off;
    off = add_tensor(t, off, "output_norm.weight", 1, t->C, 1, 0.0);
    t->outw = t->emb;
    if (!t->c.tied) {
        t->outw = off;
        off = add_tensor(t, off, "output.weight", t->V, t->C, 2, std);
    }
    t->n_params = off;
}

static void init_params(struct le_trainer *t) {
    uint64_t s = t->c.seed * 0x2545f4914f6cdd1dULL + 0x1234567ULL;
    for (int i = 0; i < t->n_tt; i++) {
        const struct le_tt *e = &t->tt[i];
        float *p = t->params + e->off;
        for (int64_t k = 0; k < e->rows * e->cols; k++)
            p[k] = e->n_dims == 1 ? 1.0f : (float)(e->std * rng_normal(&s));
    }
    t->rng = t->c.seed ^ 0x6a09e667f3bcc909ULL;
}

/* Two passes: sizes with base == NULL, then pointers into the arena. */
struct le_arena {
    char *base;
    size_t off;
    int overflow; /* a size product or the total left int64 / the address space */
};

/* x * y for sizes (non-negative), or 0 with a->overflow set. */
static int64_t mul(struct le_arena *a, int64_t x, int64_t y) {
    if (x < 0 || y < 0 || (x != 0 && y > INT64_MAX / x)) {
        a->overflow = 1;
        return 0;
    }
    return x * y;
}
#define MUL3(a, x, y, z) mul((a), mul((a), (x), (y)), (z))

static void *take(struct le_arena *a, int64_t nbytes) {
    void *p = a->base ? a->base + a->off : NULL;
    if (nbytes < 0 || (uint64_t)nbytes > (uint64_t)(PTRDIFF_MAX / 2) - a->off) {
        a->overflow = 1;
        return p;
    }
    a->off += ((size_t)nbytes + 63) & ~(size_t)63;
    return p;
}
#define TAKEF(a, n) ((float *)take((a), mul((a), (n), (int64_t)sizeof(float))))

static void plan(struct le_trainer *t, struct le_arena *a) {
    int64_t N = t->N, C = t->C, KC = t->KC, F = t->F, V = t->V, P = t->n_params;
    t->params = TAKEF(a, P), t->grads = TAKEF(a, P), t->m = TAKEF(a, P), t->v = TAKEF(a, P);
    t->blk_sum = take(a, mul(a, P / 4096 + 1, (int64_t)sizeof(double)));
    for (int64_t l = 0; l < t->L; l++) {
        struct le_tact *x = &t->act[l];
        x->x_in = TAKEF(a, mul(a, N, C)), x->xn1 = TAKEF(a, mul(a, N, C)), x->rs1 = TAKEF(a, N);
        x->q = TAKEF(a, mul(a, N, C)), x->k = TAKEF(a, mul(a, N, KC)), x->v = TAKEF(a, mul(a, N, KC));
        x->p = TAKEF(a, mul(a, MUL3(a, t->Bmax, t->H, t->T), t->T)), x->att = TAKEF(a, mul(a, N, C));
        x->x_mid = TAKEF(a, mul(a, N, C)), x->xn2 = TAKEF(a, mul(a, N, C)), x->rs2 = TAKEF(a, N);
        x->a = TAKEF(a, mul(a, N, F)), x->b = TAKEF(a, mul(a, N, F)), x->h = TAKEF(a, mul(a, N, F));
    }
    t->x_fin = TAKEF(a, mul(a, N, C)), t->xf = TAKEF(a, mul(a, N, C)), t->rsf = TAKEF(a, N);
    t->logits = TAKEF(a, mul(a, N, V)), t->row_loss = TAKEF(a, N);
    t->dx = TAKEF(a, mul(a, N, C)), t->dxn = TAKEF(a, mul(a, N, C)), t->dq = TAKEF(a, mul(a, N, C));
    t->dk = TAKEF(a, mul(a, N, KC)), t->dv = TAKEF(a, mul(a, N, KC)), t->datt = TAKEF(a, mul(a, N, C));
    t->dh = TAKEF(a, mul(a, N, F)), t->da = TAKEF(a, mul(a, N, F)), t->db = TAKEF(a, mul(a, N, F));
    t->rms_scr = TAKEF(a, le_top_rmsnorm_scratch(N, C));
    t->attn_scr = TAKEF(a, le_top_attn_scratch(t->pool, t->T));
    t->rope_cs = TAKEF(a, mul(a, t->T, t->D));
    t->tok = take(a, mul(a, N, 4)), t->tgt = take(a, mul(a, N, 4)), t->win = take(a, MUL3(a, t->Bmax, t->T + 1, 4));
}

int le_trainer_new(struct le_trainer **out, const struct le_train_config *cfg, struct le_pool *pool) {
    *out = NULL;
    struct le_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return le_err_set(LE_ENOMEM, "out of memory");
    t->c = *cfg;
    struct le_train_config *c = &t->c;
    int rc = le_train_config_check(c, c->vocab);
    if (rc) {
        free(t);
        return rc;
    }
    t->pool = pool;
    t->simd = !c->portable_kernels;
    t->C = c->dim, t->H = c->n_heads, t->G = c->n_kv_heads, t->D = c->dim / c->n_heads;
    t->KC = t->G * t->D, t->F = c->ffn, t->T = c->ctx, t->V = c->vocab, t->L = c->n_layers;
    t->Bmax = le_train_batch_seqs(c), t->N = t->Bmax * t->T;
    t->n_steps = le_train_n_steps(c);
    t->tt = calloc((size_t)(9 * t->L + 3), sizeof *t->tt);
    t->lay = calloc((size_t)t->L, sizeof *t->lay);
    t->act = calloc((size_t)t->L, sizeof *t->act);
    if (!t->tt || !t->lay || !t->act) {
        le_trainer_free(t);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    build_layout(t); /* n_params fits int64 under le_train_config_check's bounds */
    struct le_arena a = {NULL, 0, 0};
    plan(t, &a);
    if (a.overflow) {
        le_trainer_free(t);
        return le_err_set(LE_EINVAL, "the model and batch are too large: the training memory size overflows");
    }
    size_t total = a.off;
    t->arena = aligned_alloc(64, total);
    if (!t->arena) {
        le_trainer_free(t);
        return le_err_set(LE_ENOMEM, "cannot allocate %.1f MB for training", (double)total / 1e6);
    }
    memset(t->arena, 0, total);
    a = (struct le_arena){t->arena, 0, 0};
    plan(t, &a);
    le_ops_rope_table(t->rope_cs, t->T, t->D, c->rope_base, 1.0f, NULL);
    init_params(t);
    *out = t;
    return LE_OK;
}

void le_trainer_free(struct le_trainer *t) {
    if (!t)
        return;
    free(t->arena);
    free(t->tt);
    free(t->lay);
    free(t->act);
    free(t);
}

int le_trainer_set_data(struct le_trainer *t, const int32_t *train, int64_t n_train,
                        const int32_t *valid, int64_t n_valid) {
    if (n_train < t->T + 2)
        return le_err_set(LE_EINVAL, "the training data has %lld tokens, fewer than one window of %lld",
                          (long long)n_train, (long long)(t->T + 2));
    for (int64_t i = 0; i < n_train; i++)
        if (train[i] < 0 || train[i] >= t->V)
            return le_err_set(LE_EINVAL, "training token %lld is %d, outside the vocabulary", (long long)i, train[i]);
    for (int64_t i = 0; i < n_valid; i++)
        if (valid[i] < 0 || valid[i] >= t->V)
            return le_err_set(LE_EINVAL, "validation token %lld is %d, outside the vocabulary", (long long)i,
                              valid[i]);
    t->train = train, t->n_train = n_train, t->valid = valid, t->n_valid = n_valid;
    return LE_OK;
}

int64_t le_trainer_step_index(const struct le_trainer *t) { return t->step; }

#ifdef LE_TESTING /* test accessors: the test build only */
float *le_trainer_params(struct le_trainer *t, int64_t *n) {
    *n = t->n_params;
    return t->params;
}

float *le_trainer_grads(struct le_trainer *t, int64_t *n) {
    *n = t->n_params;
    return t->grads;
}
const float *le_trainer_logits(const struct le_trainer *t) { return t->logits; }
#endif

/* Functions for the forward and backward passes. */

/* Y (N, M) = (acc ? Y : 0) + X (N, K) . W (M, K)^T */
static void xwt(struct le_trainer *t, float *Y, const float *X, int64_t woff, int64_t N, int64_t K, int64_t M,
                int acc) {
    le_tg_gemm(t->pool, t->simd, N, M, K, X, K, 1, t->params + woff, 1, K, Y, M, acc);
}

static void forward(struct le_trainer *t, int64_t B) {
    int64_t N = B * t->T, C = t->C, KC = t->KC, F = t->F;
    const float *P = t->params;
    le_top_embed_fwd(t->pool, P + t->emb, t->tok, t->act[0].x_in, N, C);
    for (int64_t l = 0; l < t->L; l++) {
        struct le_tact *x = &t->act[l];
        const struct le_tl *y = &t->lay[l];
        le_top_rmsnorm_fwd(t->pool, t->simd, x->x_in, P + y->an, x->xn1, x->rs1, N, C, t->c.norm_eps);
        xwt(t, x->q, x->xn1, y->wq, N, C, C, 0);
        xwt(t, x->k, x->xn1, y->wk, N, C, KC, 0);
        xwt(t, x->v, x->xn1, y->wv, N, C, KC, 0);
        le_top_rope(t->pool, t->simd, x->q, N, t->T, t->H, t->D, t->rope_cs, 0);
        le_top_rope(t->pool, t->simd, x->k, N, t->T, t->G, t->D, t->rope_cs, 0);
        le_top_attn_fwd(t->pool, t->simd, x->q, x->k, x->v, x->p, x->att, B, t->T, t->H, t->G, t->D,
                        t->attn_scr);
        memcpy(x->x_mid, x->x_in, (size_t)(N * C) * sizeof(float));
        xwt(t, x->x_mid, x->att, y->wo, N, C, C, 1);
        le_top_rmsnorm_fwd(t->pool, t->simd, x->x_mid, P + y->fn, x->xn2, x->rs2, N, C, t->c.norm_eps);
        xwt(t, x->a, x->xn2, y->w1, N, C, F, 0);
        xwt(t, x->b, x->xn2, y->w3, N, C, F, 0);
        le_top_swiglu_fwd(t->pool, t->simd, x->a, x->b, x->h, N * F);
        float *next = l + 1 < t->L ? t->act[l + 1].x_in : t->x_fin;
        memcpy(next, x->x_mid, (size_t)(N * C) * sizeof(float));
        xwt(t, next, x->h, y->w2, N, F, C, 1);
    }
    le_top_rmsnorm_fwd(t->pool, t->simd, t->x_fin, P + t->outn, t->xf, t->rsf, N, C, t->c.norm_eps);
    xwt(t, t->logits, t->xf, t->outw, N, C, t->V, 0);
}

static void backward(struct le_trainer *t, int64_t B) {
    int64_t N = B * t->T, C = t->C, KC = t->KC, F = t->F, V = t->V;
    const float *P = t->params;
    float *Gr = t->grads;
    struct le_pool *pool = t->pool;
    memset(Gr, 0, (size_t)t->n_params * sizeof(float));
    /* t->logits holds dlogits here (le_top_xent wrote them in place). */
    le_tg_dytx(pool, t->simd, Gr + t->outw, t->logits, t->xf, N, V, C, 0);
    le_tg_dyw(pool, t->simd, t->dxn, t->logits, P + t->outw, N, V, C, 0);
    memset(t->dx, 0, (size_t)(N * C) * sizeof(float));
    le_top_rmsnorm_bwd(pool, t->x_fin, P + t->outn, t->rsf, t->dxn, t->dx, Gr + t->outn, N, C, t->rms_scr);
    for (int64_t l = t->L - 1; l >= 0; l--) {
        struct le_tact *x = &t->act[l];
        const struct le_tl *y = &t->lay[l];
        le_tg_dytx(pool, t->simd, Gr + y->w2, t->dx, x->h, N, C, F, 0);
        le_tg_dyw(pool, t->simd, t->dh, t->dx, P + y->w2, N, C, F, 0);
        le_top_swiglu_bwd(pool, t->simd, x->a, x->b, t->dh, t->da, t->db, N * F);
        le_tg_dytx(pool, t->simd, Gr + y->w1, t->da, x->xn2, N, F, C, 0);
        le_tg_dytx(pool, t->simd, Gr + y->w3, t->db, x->xn2, N, F, C, 0);
        le_tg_dyw(pool, t->simd, t->dxn, t->da, P + y->w1, N, F, C, 0);
        le_tg_dyw(pool, t->simd, t->dxn, t->db, P + y->w3, N, F, C, 1);
        le_top_rmsnorm_bwd(pool, x->x_mid, P + y->fn, x->rs2, t->dxn, t->dx, Gr + y->fn, N, C, t->rms_scr);
        le_tg_dytx(pool, t->simd, Gr + y->wo, t->dx, x->att, N, C, C, 0);
        le_tg_dyw(pool, t->simd, t->datt, t->dx, P + y->wo, N, C, C, 0);
        le_top_attn_bwd(pool, t->simd, x->q, x->k, x->v, x->p, t->datt, t->dq, t->dk, t->dv, B, t->T, t->H,
                        t->G, t->D, t->attn_scr);
        le_top_rope(pool, t->simd, t->dq, N, t->T, t->H, t->D, t->rope_cs, 1);
        le_top_rope(pool, t->simd, t->dk, N, t->T, t->G, t->D, t->rope_cs, 1);
        le_tg_dytx(pool, t->simd, Gr + y->wq, t->dq, x->xn1, N, C, C, 0);
        le_tg_dytx(pool, t->simd, Gr + y->wk, t->dk, x->xn1, N, KC, C, 0);
        le_tg_dytx(pool, t->simd, Gr + y->wv, t->dv, x->xn1, N, KC, C, 0);
        le_tg_dyw(pool, t->simd, t->dxn, t->dq, P + y->wq, N, C, C, 0);
        le_tg_dyw(pool, t->simd, t->dxn, t->dk, P + y->wk, N, KC, C, 1);
        le_tg_dyw(pool, t->simd, t->dxn, t->dv, P + y->wv, N, KC, C, 1);
        le_top_rmsnorm_bwd(pool, x->x_in, P + y->an, x->rs1, t->dxn, t->dx, Gr + y->an, N, C, t->rms_scr);
    }
    le_top_embed_bwd(pool, Gr + t->emb, t->tok, t->dx, N, C);
}

/* Loss of the B windows in t->win; gradients when want_grad. */
static double loss_of_windows(struct le_trainer *t, int64_t B, int want_grad) {
    int64_t T = t->T, N = B * T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < T; i++) {
            t->tok[b * T + i] = t->win[b * (T + 1) + i];
            t->tgt[b * T + i] = t->win[b * (T + 1) + i + 1];
        }
    forward(t, B);
    double sum = le_top_xent(t->pool, t->simd, t->logits, t->tgt, want_grad ? t->logits : NULL, t->row_loss, N,
                             t->V, (float)(1.0 / (double)N));
    if (want_grad)
        backward(t, B);
    return sum;
}

#ifdef LE_TESTING
int le_trainer_loss(struct le_trainer *t, const int32_t *windows, int64_t B, int want_grad, double *loss) {
    if (B < 1 || B > t->Bmax)
        return le_err_set(LE_EINVAL, "batch of %lld windows (1..%lld allowed)", (long long)B, (long long)t->Bmax);
    for (int64_t i = 0; i < B * (t->T + 1); i++)
        if (windows[i] < 0 || windows[i] >= t->V)
            return le_err_set(LE_EINVAL, "token %d outside the vocabulary", windows[i]);
    memcpy(t->win, windows, (size_t)(B * (t->T + 1)) * sizeof(int32_t));
    *loss = loss_of_windows(t, B, want_grad) / (double)(B * t->T);
    return LE_OK;
}
#endif

/* Functions for the optimizer. */

struct le_opt_job {
    struct le_trainer *t;
    float gscale, lr, b1, b2, eps, wd, bc1, bc2;
};

static void sumsq_worker(void *arg, int ith, int nth) {
    struct le_opt_job *j = arg;
    struct le_trainer *t = j->t;
    int64_t nb = (t->n_params + 4095) / 4096, lo, hi;
    le_pool_range(nb, ith, nth, &lo, &hi);
    for (int64_t b = lo; b < hi; b++) {
        int64_t e = (b + 1) * 4096 < t->n_params ? (b + 1) * 4096 : t->n_params;
        t->blk_sum[b] = le_tk_sumsq(t->grads + b * 4096, e - b * 4096);
    }
}

static void adamw_worker(void *arg, int ith, int nth) {
    struct le_opt_job *j = arg;
    struct le_trainer *t = j->t;
    for (int i = 0; i < t->n_tt; i++) {
        const struct le_tt *e = &t->tt[i];
        int64_t lo, hi;
        le_pool_range(e->rows * e->cols, ith, nth, &lo, &hi);
        float wd = e->decay ? j->wd : 0.0f;
        float *p = t->params + e->off, *g = t->grads + e->off, *m = t->m + e->off, *v = t->v + e->off;
        for (int64_t k = lo; k < hi; k++) {
            float gk = g[k] * j->gscale;
            m[k] = j->b1 * m[k] + (1.0f - j->b1) * gk;
            v[k] = j->b2 * v[k] + (1.0f - j->b2) * gk * gk;
            float mh = m[k] / j->bc1, vh = v[k] / j->bc2;
            p[k] -= j->lr * (mh / (sqrtf(vh) + j->eps) + wd * p[k]);
        }
    }
}

int le_trainer_step(struct le_trainer *t, double *train_loss, double *lr, double *grad_norm) {
    if (!t->train)
        return le_err_set(LE_EINVAL, "no training data set");
    if (t->step >= t->n_steps)
        return le_err_set(LE_EINVAL, "all %lld steps are done", (long long)t->n_steps);
    int64_t T = t->T, B = t->Bmax;
    for (int64_t b = 0; b < B; b++) {
        uint64_t start = le_splitmix64(&t->rng) % (uint64_t)(t->n_train - T);
        memcpy(t->win + b * (T + 1), t->train + start, (size_t)(T + 1) * sizeof(int32_t));
    }
    double loss = loss_of_windows(t, B, 1) / (double)(B * T);
    struct le_opt_job j = {.t = t};
    le_pool_run(t->pool, sumsq_worker, &j);
    double ss = 0.0;
    for (int64_t b = 0; b < (t->n_params + 4095) / 4096; b++)
        ss += t->blk_sum[b];
    double gn = sqrt(ss), rate = le_train_lr_at(&t->c, t->step);
    int64_t k = t->step + 1;
    j.gscale = t->c.clip > 0 && gn > t->c.clip ? (float)(t->c.clip / gn) : 1.0f;
    j.lr = (float)rate, j.b1 = (float)t->c.beta1, j.b2 = (float)t->c.beta2, j.eps = (float)t->c.eps;
    j.wd = (float)t->c.wd;
    j.bc1 = (float)(1.0 - pow(t->c.beta1, (double)k)), j.bc2 = (float)(1.0 - pow(t->c.beta2, (double)k));
    le_pool_run(t->pool, adamw_worker, &j);
    t->step = k;
    if (train_loss)
        *train_loss = loss;
    if (lr)
        *lr = rate;
    if (grad_norm)
        *grad_norm = gn;
    return LE_OK;
}

/* Functions for validation. */

static int64_t n_eval_windows(const struct le_trainer *t) {
    return t->n_valid > 1 ? (t->n_valid - 1) / t->T : 0;
}

int le_trainer_eval(struct le_trainer *t, int64_t max_tokens, double *loss, int64_t *n_scored) {
    int64_t nwin = n_eval_windows(t), T = t->T;
    if (nwin < 1)
        return le_err_set(LE_EINVAL, "the validation data has fewer than %lld tokens", (long long)(T + 1));
    int64_t nsel = nwin;
    if (max_tokens > 0 && (max_tokens + T - 1) / T < nwin)
        nsel = (max_tokens + T - 1) / T;
    double sum = 0.0;
    for (int64_t i0 = 0; i0 < nsel; i0 += t->Bmax) {
        int64_t B = nsel - i0 < t->Bmax ? nsel - i0 : t->Bmax;
        for (int64_t b = 0; b < B; b++) {
            int64_t w = nsel == nwin ? i0 + b : (i0 + b) * nwin / nsel;
            memcpy(t->win + b * (T + 1), t->valid + w * T, (size_t)(T + 1) * sizeof(int32_t));
        }
        sum += loss_of_windows(t, B, 0);
    }
    *loss = sum / (double)(nsel * T);
    if (n_scored)
        *n_scored = nsel * T;
    return LE_OK;
}

int le_trainer_unigram_loss(struct le_trainer *t, double *loss) {
    int64_t nwin = n_eval_windows(t);
    if (!t->train)
        return le_err_set(LE_EINVAL, "no training data set");
    if (nwin < 1)
        return le_err_set(LE_EINVAL, "the validation data has %lld tokens, fewer than one window of %lld",
                          (long long)t->n_valid, (long long)(t->T + 1));
    double *cnt = calloc((size_t)t->V, sizeof *cnt);
    if (!cnt)
        return le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t i = 0; i < t->n_train; i++)
        cnt[t->train[i]] += 1.0;
    double tot = (double)t->n_train + (double)t->V, sum = 0.0;
    for (int64_t i = 1; i <= nwin * t->T; i++)
        sum -= log((cnt[t->valid[i]] + 1.0) / tot);
    free(cnt);
    *loss = sum / (double)(nwin * t->T);
    return LE_OK;
}
