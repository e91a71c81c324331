/*
 * train_int: the trainer's private layout, shared by train.c (model, steps)
 * and train_ckpt.c (checkpoints). Not an interface: use le_train.h.
 */
#ifndef LE_TRAIN_INT_H
#define LE_TRAIN_INT_H

#include "le_train.h"

#include <stdint.h>

/* One named parameter tensor inside the flat arrays. */
struct le_tt {
    char name[48];   /* GGUF name, e.g. "blk.0.attn_q.weight" */
    int64_t off;     /* into params / grads / m / v */
    int64_t rows, cols; /* cols = 1 row vector: rows = 1 for norms */
    int n_dims;      /* 1 for norms, 2 for matrices */
    int decay;       /* AdamW weight decay applies */
    double std;      /* init: N(0, std); norms: 1 */
};

struct le_tl { /* offsets of one layer's tensors */
    int64_t an, wq, wk, wv, wo, fn, w1, w2, w3;
};

/* Per-layer activations kept for the backward (N tokens of the batch). */
struct le_tact {
    float *x_in;  /* (N, C) residual entering the layer */
    float *xn1, *rs1; /* (N, C), (N) */
    float *q, *k, *v; /* (N, C), (N, KC), (N, KC) after RoPE */
    float *p;     /* (B, H, T, T) softmax rows */
    float *att;   /* (N, C) */
    float *x_mid; /* (N, C) after the attention residual */
    float *xn2, *rs2;
    float *a, *b, *h; /* (N, F) gate, up, silu(gate)*up */
};

struct le_trainer {
    struct le_train_config c;
    struct le_pool *pool;
    int simd;                /* the AVX2+FMA kernels (!c.portable_kernels) */
    int64_t C, H, G, D, KC, F, T, V, L, Bmax, N; /* N = Bmax * T */
    int64_t n_params, n_steps, step;
    struct le_tt *tt;
    int n_tt;
    struct le_tl *lay;
    int64_t emb, outn, outw; /* outw = emb when tied */
    float *params, *grads, *m, *v;
    uint64_t rng;            /* data stream state (splitmix64) */
    /* data (borrowed) */
    const int32_t *train, *valid;
    int64_t n_train, n_valid;
    /* activations and scratch */
    struct le_tact *act;
    float *x_fin, *xf, *rsf, *logits, *row_loss;
    float *dx, *dxn, *dq, *dk, *dv, *datt, *dh, *da, *db;
    float *rms_scr, *attn_scr, *rope_cs; /* rope_cs: (T, D/2, 2) le_ops_rope_table */
    double *blk_sum;         /* per 4096-element block partials */
    int32_t *tok, *tgt, *win; /* (N), (N), (Bmax, T+1) */
    void *arena;             /* one allocation for all of the above */
};

/* FNV-1a over bytes, for config and data identity in the sidecar. */
uint64_t le_train_fnv(const void *p, size_t n, uint64_t h);
uint64_t le_train_config_hash(const struct le_train_config *c);

#endif
