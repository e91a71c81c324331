/*
 * model_int: the private layout of le_model and le_ctx, shared by model.c
 * (loading, planning memory) and forward.c (the forward pass). Nothing outside
 * engine/model*.c and engine/forward*.c includes this.
 *
 * Shape legend: D = dim, Q = n_heads * head_dim, KV = n_kv_heads * head_dim,
 * F = ffn, V = n_vocab, T = n_ctx, B = n_batch, L = n_layers.
 */
#ifndef LE_MODEL_INT_H
#define LE_MODEL_INT_H

#include "le_model.h"

#include <stdint.h>

/* One weight matrix in place in the mapping: rows of cols elements of type. */
struct le_wmat {
    const void *data;
    int type;
    int64_t rows, cols;
    const char *name; /* owned by the le_gguf */
};

struct le_layer {
    const float *attn_norm, *ffn_norm; /* (D) */
    struct le_wmat wq;                 /* (Q rows, D cols) */
    struct le_wmat wk, wv;             /* (KV, D) */
    struct le_wmat wo;                 /* (D, Q) */
    struct le_wmat wgate, wup;         /* (F, D) */
    struct le_wmat wdown;              /* (D, F) */
};

struct le_model {
    struct le_gguf *g;
    struct le_tok *tok; /* NULL when the file carries no tokenizer */
    struct le_model_info info;
    int64_t q_dim, kv_dim;
    struct le_wmat embd;       /* (V, D) token_embd.weight */
    struct le_wmat out;        /* (V, D) output.weight, or embd when tied */
    const float *out_norm;     /* (D) */
    const float *rope_freqs;   /* (head_dim/2) frequency divisors, or NULL */
    struct le_layer *layers;   /* (L) */
};

struct le_ctx {
    struct le_model *m;
    struct le_pool *pool; /* borrowed */
    int n_ctx, n_batch, nth;
    int n_cached; /* positions [0, n_cached) hold valid K/V */
    int kv_f16;   /* round K/V to F16 on entry (llama.cpp's default cache) */
    const struct le_fwd_kernels *kern; /* forward_kernels.c: AVX2 or reference */
    float *k_cache;           /* (L, n_kv_heads, head_dim, T): K transposed, so 8
                                 consecutive positions of one dim are one vector */
    float *v_cache;           /* (L, T, KV) */
    float *kbuf;              /* (B, KV) new K rows before RoPE and the transpose */
    float *rope;              /* (T, head_dim/2, 2): cos, sin per position and pair */
    float *x;                 /* (B, D) residual stream */
    float *xn;                /* (B, max(D, Q)) normed input / matmul output */
    float *q;                 /* (B, Q) */
    float *att;               /* (B, Q) attention output */
    float *hg, *hu;           /* (B, F) gate, up */
    float *scores;            /* (nth, 4, T) per-thread attention scores */
    float *logits;            /* (B, V) */
    void *mm_scratch;
    size_t mm_scratch_size;
};

/* forward_kernels.c: the forward pass's own vector kernels (see there). */
struct le_fwd_kernels {
    /* s[j] = sum_d q[d] * kt[d*ld + j], j < np (kt: K transposed) */
    void (*scores)(const float *q, const float *kt, int64_t ld, int hd, int np, float *s);
    /* the same for 4 queries at once */
    void (*scores4)(const float *const q[4], const float *kt, int64_t ld, int hd, int np, float *const s[4]);
    /* out[d] += sum_j p[j] * v[j*ldv + d], continuing each element's chain */
    void (*pv)(const float *p, const float *v, int64_t ldv, int hd, int np, float *out);
    /* out_i[d] = sum_j p_i[j] * v[j*ldv + d] (from 0) for 4 queries */
    void (*pv4)(const float *const p[4], const float *v, int64_t ldv, int hd, int np, float *const out[4]);
    /* s = softmax(s * scale) in place; exp sum in double */
    void (*softmax)(float *s, int n, float scale);
    /* g[i] = silu(g[i]) * u[i] */
    void (*swiglu)(float *g, const float *u, int64_t n);
    /* x += delta (if not NULL); y = rmsnorm(x) * w */
    void (*add_rmsnorm)(float *x, const float *delta, const float *w, float *y, int64_t n, float eps);
};
const struct le_fwd_kernels *le_fwd_kernels_get(void); /* AVX2+FMA when the CPU has it */
const struct le_fwd_kernels *le_fwd_kernels_ref(void);

/* forward.c: evaluates tokens and computes logits for rows [first_out, n). */
int le_forward(struct le_ctx *c, const int32_t *tokens, int n, int pos, int first_out);

#endif
