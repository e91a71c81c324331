/*
 * gptq: the GPTQ update of one weight matrix into a ggml block type (see
 * le_gptq.h for the algorithm, the types and their grids).
 *
 * Layout: H is prepared once per matrix (dead columns, act-order
 * permutation, dampening, U = upper Cholesky factor of H^-1, all in double,
 * in the permuted order); then every row is processed on its own (GPTQ's
 * update never mixes rows), rows split statically over the pool. A row is a
 * double vector w in the permuted order; per lazy block [i1, i2) each column
 * is quantized on the type's grid, its scaled error e_i = (w_i - q_i) / U_ii
 * is spread over the block's later columns at once (w_k -= e_i U_ik) and
 * over the columns after the block once the block is done (w_k -= sum_i e_i
 * U_ik, the sum first, as GPTQ's Err1 @ Hinv[i1:i2, i2:]). The chosen codes
 * are then packed into the type's blocks exactly as ggml lays them out.
 *
 * Grids (value = what ggml's dequantization computes, in the same float
 * operations, so stored and chosen values are equal bit for bit):
 *   Q4_0 v = (float)k * d,             k in [-8, 7]
 *   Q4_1 v = (float)k * d + m,         k in [0, 15]
 *   Q3_K v = (d_all * (float)sc) * k,  k in [-4, 3], sc in [-32, 31]
 *   Q2_K v = (d * (float)sc) * k - dmin * (float)mn, k in [0, 3], sc, mn in [0, 15]
 * with d, m, d_all, dmin F16 values.
 */
#include "le_gptq.h"

#include "le_err.h"
#include "le_kernels.h" /* block layouts */
#include "le_pool.h"
#include "le_types.h"
#include "le_util.h" /* le_splitmix64 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the grids ---- */

struct le_gq_group {
    float step, off;   /* v = (float)k * step (+ off when affine) */
    int affine, kmin, kmax;
    uint16_t d, m;     /* Q4_x: the block's F16 scale and minimum */
    int sc, mn;        /* K-quants: the group's scale (and minimum) code */
};

struct le_gq_super {
    uint16_t d, dmin; /* F16 */
};

static int le_gq_group_size(int type) {
    return type == LE_TYPE_Q4_0 || type == LE_TYPE_Q4_1 ? 32 : 16;
}

static int le_gq_is_k(int type) {
    return type == LE_TYPE_Q2_K || type == LE_TYPE_Q3_K;
}

/* ggml's signed absmax (the first element of largest magnitude). */
static float le_gq_signed_absmax(const float *x, int n) {
    float amax;
    return le_signed_absmax(n, x, &amax);
}

static void le_gq_minmax(const float *x, int n, float *mn, float *mx) {
    *mn = *mx = x[0];
    for (int i = 1; i < n; i++) {
        *mn = x[i] < *mn ? x[i] : *mn;
        *mx = x[i] > *mx ? x[i] : *mx;
    }
}

static int le_gq_clampi(long v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : (int)v;
}

/* A group's unrounded scale (and minimum >= 0, Q2_K) from its weights. */
static float le_gq_kscale(int type, const float *x, float *minimum) {
    if (type == LE_TYPE_Q3_K)
        return le_gq_signed_absmax(x, 16) / -4.0f;
    float mn, mx;
    le_gq_minmax(x, 16, &mn, &mx);
    mn = mn < 0.0f ? mn : 0.0f;
    *minimum = -mn;
    return (mx - mn) / 3.0f;
}

/* K-quants: the super-block's F16 scale(s) from its 16 groups. */
static void le_gq_super_params(int type, const float *x, struct le_gq_super *s) {
    float sc[16], mins[16] = {0};
    for (int j = 0; j < 16; j++)
        sc[j] = le_gq_kscale(type, x + 16 * j, &mins[j]);
    if (type == LE_TYPE_Q3_K) {
        float max = le_gq_signed_absmax(sc, 16);
        s->d = le_fp32_to_fp16(max != 0.0f ? max / -32.0f : 0.0f);
        s->dmin = 0;
        return;
    }
    float ms = 0.0f, mm = 0.0f;
    for (int j = 0; j < 16; j++) {
        ms = sc[j] > ms ? sc[j] : ms;
        mm = mins[j] > mm ? mins[j] : mm;
    }
    s->d = le_fp32_to_fp16(ms > 0.0f ? ms / 15.0f : 0.0f);
    s->dmin = le_fp32_to_fp16(mm > 0.0f ? mm / 15.0f : 0.0f);
}

/* A group's grid from its weights x (and, K-quants, its super-block). */
static void le_gq_group_params(int type, const float *x, const struct le_gq_super *s, struct le_gq_group *g) {
    memset(g, 0, sizeof *g);
    if (type == LE_TYPE_Q4_0) {
        g->d = le_fp32_to_fp16(le_gq_signed_absmax(x, 32) / -8.0f);
        g->step = le_fp16_to_fp32(g->d);
        g->kmin = -8, g->kmax = 7;
    } else if (type == LE_TYPE_Q4_1) {
        float mn, mx;
        le_gq_minmax(x, 32, &mn, &mx);
        g->d = le_fp32_to_fp16((mx - mn) / 15.0f);
        g->m = le_fp32_to_fp16(mn);
        g->step = le_fp16_to_fp32(g->d);
        g->off = le_fp16_to_fp32(g->m);
        g->affine = 1, g->kmin = 0, g->kmax = 15;
    } else if (type == LE_TYPE_Q3_K) {
        float dall = le_fp16_to_fp32(s->d), scale = le_gq_kscale(type, x, NULL);
        g->sc = dall != 0.0f ? le_gq_clampi(lround((double)scale / dall), -32, 31) : 0;
        g->step = dall * (float)g->sc;
        g->kmin = -4, g->kmax = 3;
    } else {
        float d = le_fp16_to_fp32(s->d), dmin = le_fp16_to_fp32(s->dmin), minimum = 0.0f;
        float scale = le_gq_kscale(type, x, &minimum);
        g->sc = d != 0.0f ? le_gq_clampi(lround((double)scale / d), 0, 15) : 0;
        g->mn = dmin != 0.0f ? le_gq_clampi(lround((double)minimum / dmin), 0, 15) : 0;
        g->step = d * (float)g->sc;
        g->off = -(dmin * (float)g->mn);
        g->affine = 1, g->kmin = 0, g->kmax = 3;
    }
}

/* The grid point nearest w: its code k and value. */
static float le_gq_pick(const struct le_gq_group *g, double w, int *k) {
    double t = g->step != 0.0f ? (w - (g->affine ? g->off : 0.0f)) / g->step : 0.0;
    *k = le_gq_clampi(lround(t > 64.0 ? 64.0 : t < -64.0 ? -64.0 : t), g->kmin, g->kmax);
    float v = (float)*k * g->step;
    return g->affine ? v + g->off : v;
}

/* ---- packing (codes k in column order, one row) ---- */

static void le_gq_pack2(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < LE_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

static void le_gq_pack_row(int type, const int8_t *k, const struct le_gq_group *gp, const struct le_gq_super *sp,
                           int64_t cols, void *out) {
    if (type == LE_TYPE_Q4_0 || type == LE_TYPE_Q4_1) {
        int off = type == LE_TYPE_Q4_0 ? 8 : 0;
        for (int64_t b = 0; b < cols / 32; b++) {
            const int8_t *kb = k + 32 * b;
            uint8_t *qs;
            if (type == LE_TYPE_Q4_0) {
                le_block_q4_0 *y = (le_block_q4_0 *)out + b;
                y->d = gp[b].d, qs = y->qs;
            } else {
                le_block_q4_1 *y = (le_block_q4_1 *)out + b;
                y->d = gp[b].d, y->m = gp[b].m, qs = y->qs;
            }
            for (int j = 0; j < 16; j++)
                qs[j] = (uint8_t)((kb[j] + off) | ((kb[j + 16] + off) << 4));
        }
        return;
    }
    for (int64_t b = 0; b < cols / LE_QK_K; b++) {
        const int8_t *kb = k + LE_QK_K * b;
        const struct le_gq_group *g = gp + 16 * b;
        uint8_t L[LE_QK_K];
        if (type == LE_TYPE_Q2_K) {
            le_block_q2_K *y = (le_block_q2_K *)out + b;
            for (int j = 0; j < 16; j++)
                y->scales[j] = (uint8_t)(g[j].sc | (g[j].mn << 4));
            y->d = sp[b].d, y->dmin = sp[b].dmin;
            for (int j = 0; j < LE_QK_K; j++)
                L[j] = (uint8_t)kb[j];
            le_gq_pack2(L, y->qs);
            continue;
        }
        le_block_q3_K *y = (le_block_q3_K *)out + b;
        memset(y->scales, 0, 12);
        for (int j = 0; j < 16; j++) {
            int l = g[j].sc + 32;
            if (j < 8)
                y->scales[j] = (uint8_t)(l & 0xF);
            else
                y->scales[j - 8] = (uint8_t)(y->scales[j - 8] | ((l & 0xF) << 4));
            y->scales[j % 4 + 8] = (uint8_t)(y->scales[j % 4 + 8] | ((l >> 4) << (2 * (j / 4))));
        }
        y->d = sp[b].d;
        memset(y->hmask, 0, 32);
        for (int j = 0; j < LE_QK_K; j++) {
            int q = kb[j] + 4;
            if (q > 3)
                y->hmask[j % 32] = (uint8_t)(y->hmask[j % 32] | (1u << (j / 32)));
            L[j] = (uint8_t)(q > 3 ? q - 4 : q);
        }
        le_gq_pack2(L, y->qs);
    }
}

/* ---- the Hessian ---- */

/* In place: A = L with A = L L^T (lower triangle; the upper is zeroed). */
static int le_gq_cholesky(double *A, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double s = A[j * n + j];
        for (int64_t k = 0; k < j; k++)
            s -= A[j * n + k] * A[j * n + k];
        if (!(s > 0.0))
            return -1;
        double d = sqrt(s);
        A[j * n + j] = d;
        for (int64_t i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (int64_t k = 0; k < j; k++)
                t -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = t / d;
        }
        for (int64_t i = 0; i < j; i++)
            A[i * n + j] = 0.0;
    }
    return 0;
}

/* U (upper, row-major) with U^T U = H^-1 for H (n x n, destroyed). */
static int le_gq_hinv_chol(double *H, int64_t n, double *U) {
    if (le_gq_cholesky(H, n))
        return -1;
    /* U temporarily holds L^-1 (lower): column by column forward substitution */
    memset(U, 0, sizeof(double) * (size_t)(n * n));
    for (int64_t j = 0; j < n; j++) {
        U[j * n + j] = 1.0 / H[j * n + j];
        for (int64_t i = j + 1; i < n; i++) {
            double s = 0.0;
            for (int64_t k = j; k < i; k++)
                s -= H[i * n + k] * U[k * n + j];
            U[i * n + j] = s / H[i * n + i];
        }
    }
    /* H^-1 = L^-T L^-1 into H (symmetric) */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            double s = 0.0;
            for (int64_t k = i; k < n; k++)
                s += U[k * n + i] * U[k * n + j];
            H[i * n + j] = H[j * n + i] = s;
        }
    if (le_gq_cholesky(H, n))
        return -1;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            U[i * n + j] = j >= i ? H[j * n + i] : 0.0;
    return 0;
}

/* ---- rows ---- */

struct le_gq_job {
    const float *W;
    int64_t rows, cols;
    const double *U;     /* permuted order */
    const int64_t *perm; /* permuted position -> column */
    const uint8_t *dead;
    int type, G, B, act_order;
    size_t row_bytes;
    char *out;
    float *what;
    double *row_loss;
    int failed;
};

struct le_gq_scratch {
    double *w, *E, *acc;
    float *x;
    int8_t *k;
    struct le_gq_group *gp;
    struct le_gq_super *sp;
};

/* Group (and super-block) parameters of column c from values in column order. */
static void le_gq_params_at(const struct le_gq_job *j, struct le_gq_scratch *s, const float *xrow, int64_t c) {
    if (le_gq_is_k(j->type) && c % LE_QK_K == 0)
        le_gq_super_params(j->type, xrow + c, &s->sp[c / LE_QK_K]);
    if (c % j->G == 0)
        le_gq_group_params(j->type, xrow + c, &s->sp[c / LE_QK_K], &s->gp[c / j->G]);
}

static void le_gq_row(const struct le_gq_job *j, struct le_gq_scratch *s, int64_t r) {
    const int64_t n = j->cols;
    const float *Wr = j->W + r * n;
    double *w = s->w, loss = 0.0;
    for (int64_t i = 0; i < n; i++)
        w[i] = j->dead[j->perm[i]] ? 0.0 : (double)Wr[j->perm[i]];
    if (j->act_order) { /* static groups from the original row */
        for (int64_t c = 0; c < n; c++)
            s->x[c] = j->dead[c] ? 0.0f : Wr[c];
        for (int64_t c = 0; c < n; c++)
            le_gq_params_at(j, s, s->x, c);
    }
    for (int64_t i1 = 0; i1 < n; i1 += j->B) {
        int64_t i2 = i1 + j->B < n ? i1 + j->B : n;
        for (int64_t i = i1; i < i2; i++) {
            int64_t c = j->perm[i];
            if (!j->act_order && (c % j->G == 0)) { /* identity order: w[c..] are columns c.. */
                int64_t len = le_gq_is_k(j->type) && c % LE_QK_K == 0 ? LE_QK_K : j->G;
                for (int64_t t = 0; t < len; t++)
                    s->x[c + t] = (float)w[c + t];
                le_gq_params_at(j, s, s->x, c);
            }
            int k;
            float v = le_gq_pick(&s->gp[c / j->G], w[i], &k);
            s->k[c] = (int8_t)k;
            if (j->what)
                j->what[r * n + c] = v;
            const double *Ui = j->U + i * n;
            double e = (w[i] - (double)v) / Ui[i];
            loss += e * e;
            for (int64_t t = i + 1; t < i2; t++)
                w[t] -= e * Ui[t];
            s->E[i - i1] = e;
        }
        /* acc[t] = sum_i E_i U_it in i order (rows of U streamed), then subtracted */
        double *acc = s->acc;
        memset(acc + i2, 0, sizeof(double) * (size_t)(n - i2));
        for (int64_t i = i1; i < i2; i++) {
            const double e = s->E[i - i1], *Ui = j->U + i * n;
            for (int64_t t = i2; t < n; t++)
                acc[t] += e * Ui[t];
        }
        for (int64_t t = i2; t < n; t++)
            w[t] -= acc[t];
    }
    j->row_loss[r] = loss / 2.0;
    le_gq_pack_row(j->type, s->k, s->gp, s->sp, n, j->out + (size_t)r * j->row_bytes);
}

static void le_gq_rows(void *arg, int ith, int nth) {
    struct le_gq_job *j = arg;
    int64_t lo, hi, n = j->cols;
    le_pool_range(j->rows, ith, nth, &lo, &hi);
    if (lo >= hi)
        return;
    struct le_gq_scratch s = {
        .w = malloc(sizeof(double) * (size_t)n), .E = malloc(sizeof(double) * (size_t)j->B),
        .acc = malloc(sizeof(double) * (size_t)n),
        .x = malloc(sizeof(float) * (size_t)n), .k = malloc((size_t)n),
        .gp = malloc(sizeof(struct le_gq_group) * (size_t)(n / j->G)),
        .sp = malloc(sizeof(struct le_gq_super) * (size_t)(n / LE_QK_K + 1))};
    if (!s.w || !s.E || !s.acc || !s.x || !s.k || !s.gp || !s.sp)
        j->failed = 1; /* only ever set to 1 */
    else
        for (int64_t r = lo; r < hi; r++)
            le_gq_row(j, &s, r);
    free(s.w), free(s.E), free(s.acc), free(s.x), free(s.k), free(s.gp), free(s.sp);
}

/* Stable sort of positions by descending H_ii (act-order). */
static void le_gq_perm(const double *H, int64_t n, int64_t *perm) {
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i;
        for (; k > 0 && H[perm[k - 1] * n + perm[k - 1]] < H[i * n + i]; k--)
            perm[k] = perm[k - 1];
        perm[k] = i;
    }
}

int le_gptq_matrix(struct le_pool *pool, const float *W, int64_t rows, int64_t cols, const double *H,
                   const struct le_gptq_opts *o, void *out, float *what, double *loss) {
    if (!W || !H || !o || !out || rows <= 0 || cols <= 0)
        return le_err_set(LE_EINVAL, "gptq: bad arguments");
    int64_t blck = 0;
    if (le_gptq_ftype(o->type) < 0 || le_type_info(o->type, &blck, NULL, NULL) || cols % blck)
        return le_err_set(LE_EINVAL, "gptq: type %s cannot hold rows of %lld", le_type_name(o->type),
                          (long long)cols);
    struct le_gq_job j = {.W = W, .rows = rows, .cols = cols, .type = o->type, .G = le_gq_group_size(o->type),
                          .B = o->block > 0 ? o->block : 128, .act_order = o->act_order,
                          .row_bytes = le_type_row_size(o->type, cols), .out = out, .what = what};
    if (j.B % j.G)
        return le_err_set(LE_EINVAL, "gptq: block %d is not a multiple of the group size %d", j.B, j.G);
    size_t nn = (size_t)cols * (size_t)cols;
    double *Hp = malloc(sizeof(double) * nn), *U = malloc(sizeof(double) * nn);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)cols);
    uint8_t *dead = malloc((size_t)cols);
    j.row_loss = malloc(sizeof(double) * (size_t)rows);
    int rc = LE_OK;
    if (!Hp || !U || !perm || !dead || !j.row_loss) {
        rc = le_err_set(LE_ENOMEM, "gptq: out of memory for a %lld x %lld matrix", (long long)rows,
                        (long long)cols);
        goto done;
    }
    for (int64_t i = 0; i < cols; i++) {
        dead[i] = H[i * cols + i] == 0.0;
        perm[i] = i;
    }
    if (o->act_order) { /* by the diagonal after dead columns got 1 */
        memcpy(Hp, H, sizeof(double) * nn);
        for (int64_t i = 0; i < cols; i++)
            if (dead[i])
                Hp[i * cols + i] = 1.0;
        le_gq_perm(Hp, cols, perm);
    }
    double mean = 0.0;
    for (int64_t i = 0; i < cols; i++)
        mean += dead[i] ? 1.0 : H[i * cols + i];
    mean /= (double)cols;
    double damp = (o->damp > 0.0 ? o->damp : 0.01) * mean;
    for (int64_t a = 0; a < cols; a++)
        for (int64_t b = 0; b < cols; b++) {
            int64_t ca = perm[a], cb = perm[b];
            double h = H[ca * cols + cb];
            if (a == b)
                h = (dead[ca] ? 1.0 : h) + damp;
            Hp[a * cols + b] = h;
        }
    if (le_gq_hinv_chol(Hp, cols, U)) {
        rc = le_err_set(LE_EINVAL, "gptq: the Hessian is not positive definite after dampening");
        goto done;
    }
    j.U = U, j.perm = perm, j.dead = dead;
    le_pool_run(rows > 1 ? pool : NULL, le_gq_rows, &j);
    if (j.failed) {
        rc = le_err_set(LE_ENOMEM, "gptq: out of memory");
        goto done;
    }
    if (loss) {
        *loss = 0.0;
        for (int64_t r = 0; r < rows; r++)
            *loss += j.row_loss[r];
    }
done:
    free(Hp), free(U), free(perm), free(dead), free(j.row_loss);
    return rc;
}

/* ---- types and calibration windows ---- */

int le_gptq_type(int bits, int group_size, int sym, int *type, int *group) {
    int t;
    if (bits == 4)
        t = sym ? LE_TYPE_Q4_0 : LE_TYPE_Q4_1;
    else if (bits == 3 || bits == 2) {
        if (sym && bits == 2)
            return le_err_set(LE_EINVAL, "--sym: 2-bit GPTQ is stored as Q2_K, which is asymmetric");
        t = bits == 3 ? LE_TYPE_Q3_K : LE_TYPE_Q2_K;
    } else
        return le_err_set(LE_EINVAL, "--bits %d: GPTQ stores 2, 3 or 4 bits (Q2_K, Q3_K, Q4_1/Q4_0)", bits);
    int g = le_gq_group_size(t);
    if (group_size != 0 && group_size != g)
        return le_err_set(LE_EINVAL, "--group-size %d: %d-bit GPTQ is stored as %s, whose groups are %d", group_size,
                          bits, le_type_name(t), g);
    if (type)
        *type = t;
    if (group)
        *group = g;
    return LE_OK;
}

int le_gptq_ftype(int type) {
    switch (type) {
    case LE_TYPE_Q4_0: return LE_FTYPE_MOSTLY_Q4_0;
    case LE_TYPE_Q4_1: return LE_FTYPE_MOSTLY_Q4_1;
    case LE_TYPE_Q3_K: return LE_FTYPE_MOSTLY_Q3_K_S;
    case LE_TYPE_Q2_K: return LE_FTYPE_MOSTLY_Q2_K_S;
    default: return -1;
    }
}

int le_gptq_windows(const int32_t *ids, int64_t n, int n_windows, int ctx, uint64_t seed, int32_t *out) {
    if (!ids || !out || n_windows <= 0 || ctx <= 0)
        return le_err_set(LE_EINVAL, "gptq: bad calibration arguments");
    if (n <= ctx)
        return le_err_set(LE_EINVAL, "calibration text has %lld tokens, not more than one window of %d",
                          (long long)n, ctx);
    uint64_t s = seed;
    for (int w = 0; w < n_windows; w++) {
        int64_t start = (int64_t)(le_splitmix64(&s) % (uint64_t)(n - ctx));
        memcpy(out + (int64_t)w * ctx, ids + start, sizeof(int32_t) * (size_t)ctx);
    }
    return LE_OK;
}
