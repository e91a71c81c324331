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
#include "le_ops.h" /* struct le_ops: the ops the forward pass shares with training */

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
    int prefaulted;            /* the weights' pages were mapped in by a first le_ctx_new */
};

/* Attention layout constants: K is cached in blocks of LE_KBLK positions;
 * one attention work item covers up to LE_ATT_QB query vectors. */
#define LE_KBLK 16
#define LE_ATT_QB 32

/* forward_kernels.c: the attention kernels over the KV cache (see there),
 * with the shared ops (le_ops.h) they run beside. Up to LE_SCORES_Q query
 * vectors at a time; the q, s, p, out arrays hold nq pointers. */
#define LE_SCORES_Q 6
struct le_fwd_kernels {
    /* s_i[j] = sum_d q_i[d] * K(j, d) for j < 16*nblk, K in the cache's block
     * layout from kb (block b at kb + b*16*hd, (j, d) at d*16 + j%16) */
    void (*scores)(const float *const q[], int nq, const float *kb, int hd, int nblk, float *const s[]);
    /* out_i[d] += sum_j p_i[j] * v[j*ldv + d] for j < np, continuing each
     * element's chain in j order */
    void (*pv)(const float *const p[], int nq, const float *v, int64_t ldv, int hd, int np, float *const out[]);
    const struct le_ops *ops; /* softmax, RoPE, SwiGLU, RMSNorm */
};
/* simd = 1: AVX2+FMA when the CPU has it; 0: the scalar references. */
struct le_fwd_kernels le_fwd_kernels_get(int simd);

struct le_ctx {
    struct le_model *m;
    struct le_pool *pool; /* borrowed */
    int n_ctx, n_batch, nth;
    int n_ctx16;  /* n_ctx rounded up to a multiple of LE_KBLK */
    int n_cached; /* positions [0, n_cached) hold valid K/V */
    int kv_f16;   /* round K/V to F16 on entry (llama.cpp's default cache) */
    struct le_fwd_kernels kern; /* forward_kernels.c + le_ops: AVX2 or reference */
    float *k_cache;           /* (L, n_kv_heads, T16/16, head_dim, 16): per kv head,
                                 blocks of 16 positions, each dim-major, so a block
                                 is one contiguous stream and 16 positions of one
                                 dim are two vectors */
    float *v_cache;           /* (L, n_kv_heads, T, head_dim): per kv head, position-major */
    float *kbuf, *vbuf;       /* (B, KV) new K and V rows before they enter the cache */
    float *rope;              /* (T, head_dim/2, 2): cos, sin per position and pair */
    float *x;                 /* (B, D) residual stream */
    float *xn;                /* (B, max(D, Q)) normed input / matmul output */
    float *q;                 /* (B, Q) */
    float *att;               /* (B, Q) attention output */
    float *hg, *hu;           /* (B, F) gate, up */
    float *scores;            /* (nth, LE_ATT_QB, T16) per-thread attention scores */
    float *logits;            /* (B, V) */
    float *priv;              /* (nth, priv_stride) per-worker decode buffers (forward.c,
                                 le_fwd_decode): residual x (D), normed input (max(D, F)),
                                 the matmul's converted activations */
    int64_t priv_stride;
    void *mm_scratch;
    size_t mm_scratch_size;
};

/* forward.c: evaluates tokens and computes logits for rows [first_out, n). */
int le_forward(struct le_ctx *c, const int32_t *tokens, int n, int pos, int first_out);
/* forward.c: batched decode, row r one token of rows_c[r]'s sequence at
 * position rpos[r]; c's buffers, logits for every row. */
int le_forward_rows(struct le_ctx *c, const int32_t *tokens, int n, struct le_ctx *const *rows_c,
                    const int *rpos);

#endif
