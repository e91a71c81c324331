/*
 * sgemm: the one float32 GEMM (le_sgemm.h) behind inference batches of
 * F32/F16/BF16 weights and training's three matmul forms.
 *
 * Design (GotoBLAS-style, simplified): C is computed in column panels of NP
 * columns (64 on AVX-512, 16 on AVX2 and scalar). Per panel and K block of
 * KC, B is packed k-major into a stack buffer (KC x NP floats: 32 KiB on
 * AVX-512, 16 KiB on AVX2, inside L1), widened from F16/BF16 on the way;
 * then every row tile of MR = 6 rows of A runs the micro-kernel over it,
 * with A read in place through its strides (broadcast one element per row
 * and k) and the C tile loaded/stored once per K block. For inference the
 * weight rows are B's columns: each weight element is read and converted
 * once per call and reused by all M tokens, and the conversion (a 16 x 16
 * in-register transpose for rows of contiguous k) is off the FMA loop.
 *
 * Micro-kernels: AVX-512 6 x 64 (24 zmm accumulators; per k, 4 loads of B
 * and 6 broadcasts of A feed 24 FMAs; narrower panels at the right edge use
 * 6 x 16/32/48 and masked C access), AVX2 6 x 16 (12 ymm), and a scalar twin.
 * Every path computes each element as ONE fmaf chain over k = 0..K-1 from
 * C (accumulate) or 0; C is float between K blocks, so blocking, tile
 * shapes and thread splits cannot change a bit.
 *
 * Workload: prompt processing (M = 4..512 tokens, N = 288..32000 weight rows,
 * K = 288..13824) and training (M, N, K = 64..1024).
 */
#include "le_sgemm.h"

#include "le_cpu.h"   /* le_cpu_avx2, le_cpu_has */
#include "le_pool.h"  /* le_pool_run, le_pool_nthreads */
#include "le_types.h" /* le_fp16_to_fp32, le_bf16_to_fp32 */
#include "le_kernels.h"
#include "kernels_avx2_inl.h" /* le_tr8x8 */

#include <immintrin.h>
#include <math.h> /* fmaf */
#include <stdatomic.h>
#include <string.h>

#define MR 6
#define KC 128
#define NP_MAX 64
#define L8_G 128 /* the inference form: groups of 8 per K block (8 lane panels of 128 x 64 floats) */

#define X512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define X512_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define XAVX2 __attribute__((target("avx2,fma,f16c")))
#define XAVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

int le_sgemm_best(void) {
    return !le_cpu_avx2() ? LE_SGEMM_SCALAR : le_cpu_has(LE_CPU_AVX512) ? LE_SGEMM_AVX512 : LE_SGEMM_AVX2;
}

/* ---- packing B: dst[k * np + j] = B(k0 + k, n0 + j), 0 for j >= nc ---- */

/* Element i of an F32/F16/BF16 array, as a float. */
static float le_sg_w1(int bt, const void *W, int64_t i) {
    if (bt == LE_SGEMM_F32)
        return ((const float *)W)[i];
    uint16_t h = ((const uint16_t *)W)[i];
    return bt == LE_SGEMM_F16 ? le_fp16_to_fp32(h) : le_bf16_to_fp32(h);
}

static float le_sg_b1(const struct le_sgemm_op *op, int64_t k, int64_t n) {
    return le_sg_w1(op->btype, op->B, k * op->rsb + n * op->csb);
}

static void le_sg_pack_scalar(const struct le_sgemm_op *op, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int np,
                              float *dst, int64_t kf, int jf) {
    /* only k >= kf or j >= jf (the rest was packed by a SIMD path) */
    for (int64_t k = jf < np ? 0 : kf; k < kc; k++)
        for (int j = k >= kf ? 0 : jf; j < np; j++)
            dst[k * np + j] = j < nc ? le_sg_b1(op, k0 + k, n0 + j) : 0.0f;
}

/* 16 values of row n at k..k+16 (B(k.., n) contiguous: rsb == 1), widened. */
X512_INLINE __m512 le_sg_ld16(int bt, const void *B, int64_t i) {
    if (bt == LE_SGEMM_F32)
        return _mm512_loadu_ps((const float *)B + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)B + i));
    if (bt == LE_SGEMM_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

X512_INLINE void le_sg_pf_b(int bt, const void *B, int64_t i) {
    __builtin_prefetch((const char *)B + i * (bt == LE_SGEMM_F32 ? 4 : 2), 0, 3);
}

/* r[i] = row i (16 k) -> r[k] = 16 rows at k. */
X512_INLINE void le_sg_tr16(__m512 r[16]) {
    __m512 t[16], u[16];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    /* u[4L + j], lane l: rows 4L..4L+3 at k = 4l + j */
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xEE);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xEE);
        r[0 + j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

X512 static void le_sg_pack_x512(const struct le_sgemm_op *op, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                 int np, float *dst) {
    const int bt = op->btype;
    if (op->rsb == 1) { /* columns are rows of contiguous k: transpose 16 x 16 blocks */
        const int64_t kf = kc & ~(int64_t)15;
        const int jf = (int)(nc & ~(int64_t)15);
        /* each row first, whole (one sequential stream at a time: what the
         * hardware prefetcher follows, even across 4 KiB pages), widened into
         * a row-major L1 buffer; then the 16 x 16 transposes from there */
        _Alignas(64) float rows[NP_MAX * KC];
        for (int j = 0; j < jf; j++) {
            const int64_t src = (n0 + j) * op->csb + k0;
            if (k0 + 2 * KC <= op->K) /* this row's block after next: in L2 when needed */
                for (int64_t k = 0; k < KC; k += 64 / (bt == LE_SGEMM_F32 ? 4 : 2))
                    le_sg_pf_b(bt, op->B, src + 2 * KC + k);
            for (int64_t k = 0; k < kf; k += 16)
                _mm512_store_ps(rows + j * KC + k, le_sg_ld16(bt, op->B, src + k));
        }
        for (int j = 0; j < jf; j += 16)
            for (int64_t k = 0; k < kf; k += 16) {
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = _mm512_load_ps(rows + (j + i) * KC + k);
                le_sg_tr16(r);
                for (int i = 0; i < 16; i++)
                    _mm512_store_ps(dst + (k + i) * np + j, r[i]);
            }
        le_sg_pack_scalar(op, k0, kc, n0, nc, np, dst, kf, jf);
        return;
    }
    if (op->csb == 1) { /* rows of contiguous n */
        const int64_t nf = nc & ~(int64_t)15;
        for (int64_t k = 0; k < kc; k++) {
            int64_t j = 0;
            for (; j < nf; j += 16)
                _mm512_store_ps(dst + k * np + j, le_sg_ld16(bt, op->B, (k0 + k) * op->rsb + n0 + j));
            for (; j < np; j++)
                dst[k * np + j] = j < nc ? le_sg_b1(op, k0 + k, n0 + j) : 0.0f;
        }
        return;
    }
    le_sg_pack_scalar(op, k0, kc, n0, nc, np, dst, 0, 0);
}

/* ---- micro-kernels: c (mr x nc, stride ldc) (+)= a . b over kc ---- */

/* Cache lines the inference form fetches ahead while a tile runs, one per k
 * step (le_sg_l8_rect), in this order: xn runs of xl lines xs bytes apart
 * (the next tile's X segments), cn runs of cl lines (its partial tile), both
 * into L1; then wn lines of runs of wl lines ws bytes apart, from line wq of
 * the run at w (a share of the next block's weight rows), into L2. */
struct le_sg_pfl {
    const char *x, *c, *w;
    int64_t xs, cs, ws, wn;
    int xn, xl, cn, cl, wl, wq;
};

/* AVX-512: mr rows x NV zmm columns; msk[v] selects the valid columns; pf
 * (or NULL): lines to prefetch, one per k step. */
X512_INLINE void le_sg_k512(const int mr, const int NV, int64_t kc, const float *a, int64_t rsa, int64_t csa,
                            const float *b, float *c, int64_t ldc, int load, const __mmask16 *msk,
                            const struct le_sg_pfl *pf) {
    int pr = 0, pq = 0, wq = pf ? pf->wq : 0; /* run and line in X then C; line in W's run */
    const char *wr = pf ? pf->w : NULL;
    int64_t wn = pf ? pf->wn : 0;
    __m512 acc[MR][4];
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)
            acc[r][v] = load ? _mm512_maskz_loadu_ps(msk[v], c + r * ldc + 16 * v) : _mm512_setzero_ps();
    const float *ap[MR];
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) ap[r] = a + r * rsa;
    _Pragma("GCC unroll 2") for (int64_t k = 0; k < kc; k++) {
        __m512 bv[4];
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + k * NV * 16 + 16 * v);
        if (pf) {
            if (pr < pf->xn) {
                _mm_prefetch(pf->x + pr * pf->xs + 64 * pq, _MM_HINT_T0);
                if (++pq == pf->xl)
                    pq = 0, pr++;
            } else if (pr < pf->xn + pf->cn) {
                _mm_prefetch(pf->c + (pr - pf->xn) * pf->cs + 64 * pq, _MM_HINT_T0);
                if (++pq == pf->cl)
                    pq = 0, pr++;
            } else if (wn > 0) {
                _mm_prefetch(wr + 64 * wq, _MM_HINT_T1);
                if (++wq == pf->wl)
                    wq = 0, wr += pf->ws;
                wn--;
            }
        }
        _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) {
            __m512 x = _mm512_set1_ps(ap[r][k * csa]);
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(c + r * ldc + 16 * v, msk[v], acc[r][v]);
}

/* le_sg_k512_NV: no prefetch (the training form); le_sg_k512p_NV: with. */
#define LE_SG_K512_NV(NV)                                                                                         \
    X512 static void le_sg_k512_##NV(int mr, int64_t kc, const float *a, int64_t rsa, int64_t csa, const float *b, \
                                     float *c, int64_t ldc, int load, const __mmask16 *msk) {                    \
        switch (mr) {                                                                                             \
        case 6: le_sg_k512(6, NV, kc, a, rsa, csa, b, c, ldc, load, msk, NULL); break;                            \
        case 5: le_sg_k512(5, NV, kc, a, rsa, csa, b, c, ldc, load, msk, NULL); break;                            \
        case 4: le_sg_k512(4, NV, kc, a, rsa, csa, b, c, ldc, load, msk, NULL); break;                            \
        case 3: le_sg_k512(3, NV, kc, a, rsa, csa, b, c, ldc, load, msk, NULL); break;                            \
        case 2: le_sg_k512(2, NV, kc, a, rsa, csa, b, c, ldc, load, msk, NULL); break;                            \
        default: le_sg_k512(1, NV, kc, a, rsa, csa, b, c, ldc, load, msk, NULL); break;                           \
        }                                                                                                         \
    }                                                                                                             \
    X512 static void le_sg_k512p_##NV(int mr, int64_t kc, const float *a, int64_t rsa, const float *b, float *c, \
                                      int64_t ldc, int load, const __mmask16 *msk, const struct le_sg_pfl *pf) { \
        switch (mr) {                                                                                             \
        case 6: le_sg_k512(6, NV, kc, a, rsa, 1, b, c, ldc, load, msk, pf); break;                                \
        case 5: le_sg_k512(5, NV, kc, a, rsa, 1, b, c, ldc, load, msk, pf); break;                                \
        case 4: le_sg_k512(4, NV, kc, a, rsa, 1, b, c, ldc, load, msk, pf); break;                                \
        case 3: le_sg_k512(3, NV, kc, a, rsa, 1, b, c, ldc, load, msk, pf); break;                                \
        case 2: le_sg_k512(2, NV, kc, a, rsa, 1, b, c, ldc, load, msk, pf); break;                                \
        default: le_sg_k512(1, NV, kc, a, rsa, 1, b, c, ldc, load, msk, pf); break;                               \
        }                                                                                                         \
    }
LE_SG_K512_NV(1)
LE_SG_K512_NV(2)
LE_SG_K512_NV(3)
LE_SG_K512_NV(4)

/* AVX2: mr rows x 16 columns (all 16 computed; the caller handles nc < 16). */
XAVX2_INLINE void le_sg_k256(const int mr, int64_t kc, const float *a, int64_t rsa, int64_t csa, const float *b,
                             float *c, int64_t ldc, int load) {
    __m256 acc[MR][2];
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) for (int v = 0; v < 2; v++) acc[r][v] =
        load ? _mm256_loadu_ps(c + r * ldc + 8 * v) : _mm256_setzero_ps();
    const float *ap[MR];
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) ap[r] = a + r * rsa;
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b + k * 16), b1 = _mm256_load_ps(b + k * 16 + 8);
        _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) {
            __m256 x = _mm256_broadcast_ss(ap[r] + k * csa);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) for (int v = 0; v < 2; v++)
        _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);
}

XAVX2 static void le_sg_k256_any(int mr, int64_t kc, const float *a, int64_t rsa, int64_t csa, const float *b,
                                 float *c, int64_t ldc, int load) {
    switch (mr) {
    case 6: le_sg_k256(6, kc, a, rsa, csa, b, c, ldc, load); break;
    case 5: le_sg_k256(5, kc, a, rsa, csa, b, c, ldc, load); break;
    case 4: le_sg_k256(4, kc, a, rsa, csa, b, c, ldc, load); break;
    case 3: le_sg_k256(3, kc, a, rsa, csa, b, c, ldc, load); break;
    case 2: le_sg_k256(2, kc, a, rsa, csa, b, c, ldc, load); break;
    default: le_sg_k256(1, kc, a, rsa, csa, b, c, ldc, load); break;
    }
}

/* The scalar twin: the same chain per element. */
static void le_sg_kscalar(int mr, int nc, int np, int64_t kc, const float *a, int64_t rsa, int64_t csa,
                          const float *b, float *c, int64_t ldc, int load) {
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++) {
            float s = load ? c[r * ldc + j] : 0.0f;
            for (int64_t k = 0; k < kc; k++)
                s = fmaf(a[r * rsa + k * csa], b[k * np + j], s);
            c[r * ldc + j] = s;
        }
}

/* ---- prefetching the next B block into L2 while the tiles run ----
 * The training form's (the inference form fetches from inside its
 * micro-kernel instead: le_sg_pfl). The B rows of one block are nc lines of kc elements,
 * 2-22 KiB apart: the tiles of one block pull in the next block's lines, a
 * few per tile. */

struct le_sg_pf {
    const char *p;     /* first element of the first source row */
    int64_t stride;    /* bytes between source rows */
    int64_t rows, len; /* source rows; bytes per row */
    int64_t row, off;  /* next line to fetch */
};

static void le_sg_pf_init(struct le_sg_pf *f, const struct le_sgemm_op *op, int64_t k0, int64_t kc, int64_t n0,
                          int64_t nc) {
    const int64_t es = op->btype == LE_SGEMM_F32 ? 4 : 2;
    memset(f, 0, sizeof *f);
    if (op->rsb == 1) /* rows of contiguous k */
        *f = (struct le_sg_pf){(const char *)op->B + (n0 * op->csb + k0) * es, op->csb * es, nc, kc * es, 0, 0};
    else if (op->csb == 1) /* rows of contiguous n */
        *f = (struct le_sg_pf){(const char *)op->B + (k0 * op->rsb + n0) * es, op->rsb * es, kc, nc * es, 0, 0};
}

static inline void le_sg_pf_step(struct le_sg_pf *f, int64_t count) {
    for (; count > 0 && f->row < f->rows; count--) {
        __builtin_prefetch(f->p + f->row * f->stride + f->off, 0, 2);
        f->off += 64;
        if (f->off >= f->len)
            f->row++, f->off = 0;
    }
}

/* ---- the driver of one rectangle ---- */

X512 static void le_sg_tiles_x512(const struct le_sgemm_op *op, int64_t m0, int64_t m1, int64_t n, int nc,
                                  int64_t k0, int64_t kc, const float *bp, int load, struct le_sg_pf *pf) {
    const int64_t tiles = (m1 - m0 + MR - 1) / MR;
    const int64_t per = (pf->rows * ((pf->len + 63) / 64) + tiles - 1) / tiles;
    const int nv = (nc + 15) / 16;
    __mmask16 msk[4];
    for (int v = 0; v < 4; v++) {
        int left = nc - 16 * v;
        msk[v] = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
    }
    for (int64_t m = m0; m < m1; m += MR) {
        int mr = m1 - m < MR ? (int)(m1 - m) : MR;
        const float *a = op->A + m * op->rsa + k0 * op->csa;
        float *c = op->C + m * op->ldc + n;
        le_sg_pf_step(pf, per);
        switch (nv) {
        case 4: le_sg_k512_4(mr, kc, a, op->rsa, op->csa, bp, c, op->ldc, load, msk); break;
        case 3: le_sg_k512_3(mr, kc, a, op->rsa, op->csa, bp, c, op->ldc, load, msk); break;
        case 2: le_sg_k512_2(mr, kc, a, op->rsa, op->csa, bp, c, op->ldc, load, msk); break;
        default: le_sg_k512_1(mr, kc, a, op->rsa, op->csa, bp, c, op->ldc, load, msk); break;
        }
    }
}

static void le_sg_tiles_16(int isa, const struct le_sgemm_op *op, int64_t m0, int64_t m1, int64_t n, int nc,
                           int64_t k0, int64_t kc, const float *bp, int load) {
    for (int64_t m = m0; m < m1; m += MR) {
        int mr = m1 - m < MR ? (int)(m1 - m) : MR;
        const float *a = op->A + m * op->rsa + k0 * op->csa;
        float *c = op->C + m * op->ldc + n;
        if (isa == LE_SGEMM_SCALAR) {
            le_sg_kscalar(mr, nc, 16, kc, a, op->rsa, op->csa, bp, c, op->ldc, load);
        } else if (nc == 16) {
            le_sg_k256_any(mr, kc, a, op->rsa, op->csa, bp, c, op->ldc, load);
        } else { /* right edge through a 6 x 16 buffer */
            float t[MR * 16];
            memset(t, 0, sizeof t);
            if (load)
                for (int r = 0; r < mr; r++)
                    memcpy(t + r * 16, c + r * op->ldc, (size_t)nc * sizeof(float));
            le_sg_k256_any(mr, kc, a, op->rsa, op->csa, bp, t, 16, load);
            for (int r = 0; r < mr; r++)
                memcpy(c + r * op->ldc, t + r * 16, (size_t)nc * sizeof(float));
        }
    }
}

void le_sgemm_rect(int isa, const struct le_sgemm_op *op, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    if (m1 <= m0 || n1 <= n0)
        return;
    if (op->K <= 0) {
        if (!op->acc)
            for (int64_t m = m0; m < m1; m++)
                memset(op->C + m * op->ldc + n0, 0, (size_t)(n1 - n0) * sizeof(float));
        return;
    }
    if (isa > le_sgemm_best())
        isa = le_sgemm_best();
    const int np = isa == LE_SGEMM_AVX512 ? 64 : 16;
    _Alignas(64) float bp[KC * NP_MAX];
    for (int64_t n = n0; n < n1; n += np) {
        const int nc = n1 - n < np ? (int)(n1 - n) : np;
        /* narrow right edges pack only the zmm they use */
        const int npk = isa == LE_SGEMM_AVX512 ? (nc + 15) / 16 * 16 : np;
        for (int64_t k0 = 0; k0 < op->K; k0 += KC) {
            const int64_t kc = op->K - k0 < KC ? op->K - k0 : KC;
            const int load = op->acc || k0 > 0;
            if (isa == LE_SGEMM_AVX512) {
                struct le_sg_pf pf; /* the next block: same panel, next k; or the next panel's first */
                if (k0 + KC < op->K)
                    le_sg_pf_init(&pf, op, k0 + KC, op->K - k0 - KC < KC ? op->K - k0 - KC : KC, n, nc);
                else
                    le_sg_pf_init(&pf, op, 0, op->K < KC ? op->K : KC, n + np, n1 - n - np < np ? n1 - n - np : np);
                le_sg_pack_x512(op, k0, kc, n, nc, npk, bp);
                le_sg_tiles_x512(op, m0, m1, n, nc, k0, kc, bp, load, &pf);
            } else {
                le_sg_pack_scalar(op, k0, kc, n, nc, npk, bp, 0, 0);
                le_sg_tiles_16(isa, op, m0, m1, n, nc, k0, kc, bp, load);
            }
        }
    }
}

/* ---- threads: tasks of (row chunk x column chunk) from a counter ---- */

struct le_sg_task {
    const struct le_sgemm_op *op;
    int isa;
    int64_t mb, nb, ntm, ntn; /* task = mb rows x nb columns; the grid */
    atomic_int_fast64_t next;
};

static void le_sg_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    struct le_sg_task *t = arg;
    for (;;) {
        int64_t i = atomic_fetch_add(&t->next, 1);
        if (i >= t->ntm * t->ntn)
            return;
        int64_t m0 = i / t->ntn * t->mb, n0 = i % t->ntn * t->nb;
        int64_t m1 = m0 + t->mb < t->op->M ? m0 + t->mb : t->op->M;
        int64_t n1 = n0 + t->nb < t->op->N ? n0 + t->nb : t->op->N;
        le_sgemm_rect(t->isa, t->op, m0, m1, n0, n1);
    }
}

void le_sgemm(struct le_pool *pool, int isa, const struct le_sgemm_op *op) {
    if (op->M <= 0 || op->N <= 0)
        return;
    int nth = pool ? le_pool_nthreads(pool) : 1;
    /* Task sizes only balance load (no result depends on them): columns in
     * whole panels, so B is packed once per task; rows split further until
     * there are ~4 tasks per thread. */
    int64_t np = 64, nb = (op->N + np - 1) / np * np, mb = (op->M + MR - 1) / MR * MR;
    if (nb > 256)
        nb = 256;
    while (((op->M + mb - 1) / mb) * ((op->N + nb - 1) / nb) < 4 * nth && (mb > MR || nb > np)) {
        if (mb > 8 * MR || nb <= np)
            mb = (mb / 2 + MR - 1) / MR * MR;
        else
            nb = (nb / 2 + np - 1) / np * np;
    }
    struct le_sg_task t = {.op = op, .isa = isa, .mb = mb, .nb = nb,
                           .ntm = (op->M + mb - 1) / mb, .ntn = (op->N + nb - 1) / nb};
    atomic_init(&t.next, 0);
    if (nth == 1)
        le_sg_worker(&t, 0, 1);
    else
        le_pool_run(pool, le_sg_worker, &t);
}

void le_sgemm_ref(const struct le_sgemm_op *op) {
    for (int64_t m = 0; m < op->M; m++)
        for (int64_t n = 0; n < op->N; n++) {
            float s = op->acc ? op->C[m * op->ldc + n] : 0.0f;
            for (int64_t k = 0; k < op->K; k++)
                s = fmaf(op->A[m * op->rsa + k * op->csa], le_sg_b1(op, k, n), s);
            op->C[m * op->ldc + n] = s;
        }
}

/* ---- the inference form: 8 lane chains per element (le_sgemm.h) ----
 * Per column panel and K block of L8_G groups of 8: B packs the panel's
 * weight rows into 8 lane panels (lane l: k = 8g + l, g in the block), each
 * k-major like the training form's; every tile of MR rows of X then runs the
 * micro-kernel once per lane over its lane panel, reading X's lane segment
 * (contiguous in the lane-major layout), its accumulators continuing from
 * the lane's partial tile in the work buffer. After the last block the 8
 * partials of each element go through the fixed tree, then the K tail.
 * While a tile runs, its micro-kernel prefetches, one line per k step, the
 * next tile's X segments and partial tile, then a share of the next block's
 * weight rows into L2 (le_sg_pfl): 5-10% faster on 7B shapes at M = 128 and
 * 512 than the prefetch loop before each tile it replaced, which also left
 * the next block's pack to wait on memory (tool_mmbench, 2 threads). */

XAVX2 static void le_sg_l8_act_avx2(const float *xc, float *a, int64_t G, int64_t g0, int64_t ng8) {
    for (int64_t g = 0; g < ng8; g += 8) {
        __m256i r[8];
        for (int i = 0; i < 8; i++)
            r[i] = _mm256_castps_si256(_mm256_loadu_ps(xc + 8 * (g + i)));
        le_tr8x8(r); /* r[l] = lane l of groups g..g+8 */
        for (int l = 0; l < 8; l++)
            _mm256_storeu_ps(a + l * G + g0 + g, _mm256_castsi256_ps(r[l]));
    }
}

void le_sgemm_l8_act(const float *xc, float *a, int64_t K, int64_t k0, int64_t kn) {
    const int64_t G = K / 8, K8 = 8 * G;
    int64_t full = k0 + kn <= K8 ? kn : K8 > k0 ? K8 - k0 : 0; /* whole groups in this part */
    int64_t ng8 = le_cpu_avx2() ? full / 64 * 8 : 0, g0 = k0 / 8;
    if (ng8)
        le_sg_l8_act_avx2(xc, a, G, g0, ng8);
    for (int64_t k = 8 * ng8; k < full; k++)
        a[(k % 8) * G + g0 + k / 8] = xc[k];
    for (int64_t k = full; k < kn; k++) /* the tail stays in place */
        a[k0 + k] = xc[k];
}

/* floats between lane panels: padded by 4 lines so the 8 lanes' stores of
 * one transpose do not all fall into one L1 set */
#define L8_LS(gc, np) ((gc) * (np) + 64)

_Static_assert((MR * 8 * NP_MAX + 8 * L8_LS(L8_G, NP_MAX)) * sizeof(float) == LE_SGEMM_L8_WORK_MIN,
               "LE_SGEMM_L8_WORK_MIN is le_sgemm_l8_work_bytes(MR)");

size_t le_sgemm_l8_work_bytes(int64_t M) {
    /* partial tiles (M x 8 lanes x 64) + the packed block */
    return ((size_t)M * 8 * NP_MAX + 8 * L8_LS(L8_G, NP_MAX)) * sizeof(float);
}

/* dst[l * L8_LS(gc, np) + g * np + j] = W[n0 + j][8 (g0 + g) + l]; 0 for j >= nc. */
static void le_sg_l8_pack_scalar(const struct le_sgemm_l8_op *op, int64_t g0, int64_t gc, int64_t n0, int nc,
                                 int np, float *dst, int64_t kf, int jf) {
    for (int64_t k = jf < np ? 0 : kf; k < 8 * gc; k++) /* only k >= kf or j >= jf */
        for (int j = k >= kf ? 0 : jf; j < np; j++)
            dst[(k % 8) * L8_LS(gc, np) + k / 8 * np + j] =
                j < nc ? le_sg_w1(op->btype, op->W, (n0 + j) * op->ldw + 8 * g0 + k) : 0.0f;
}

/* 16 rows x 16 k at a time, straight from W, transposed in registers, each
 * k vector stored into its lane panel. About 75 cycles per 16 x 16 on this
 * Zen 5 with W and the panel in cache (64 shuffles, half of them across
 * 128-bit lanes). Inside a 7B pass it waits on memory unless the tiles of the
 * block before fetched its weights into L2 (le_sg_pfl): with that, about its
 * in-cache cost at M = 128, still ~3x at M = 512, where the X and partial
 * tiles flowing through L2 between two packs evict the panel (README). */
X512_INLINE void le_sg_l8_pack16(const int bt, const struct le_sgemm_l8_op *op, int64_t g0, int64_t gc, int64_t n0,
                                 int nc, int np, float *dst) {
    const int64_t kf = 8 * gc & ~(int64_t)15;
    const int jf = nc & ~15;
    int64_t off[16]; /* k = 16q + t goes to lane t % 8, group 2q + t / 8 */
    for (int t = 0; t < 16; t++)
        off[t] = (t % 8) * L8_LS(gc, np) + (t / 8) * np;
    for (int j0 = 0; j0 < jf; j0 += 16) {
        const int64_t src = (n0 + j0) * op->ldw + 8 * g0;
        for (int64_t k = 0; k < kf; k += 16) {
            __m512 r[16];
            _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) r[i] = le_sg_ld16(bt, op->W, src + i * op->ldw + k);
            le_sg_tr16(r); /* r[t] = the 16 rows at k + t */
            float *d = dst + k / 8 * np + j0;
            _Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) _mm512_store_ps(d + off[t], r[t]);
        }
    }
    le_sg_l8_pack_scalar(op, g0, gc, n0, nc, np, dst, kf, jf);
}

X512 static void le_sg_l8_pack_x512(const struct le_sgemm_l8_op *op, int64_t g0, int64_t gc, int64_t n0, int nc,
                                    int np, float *dst) {
    if (op->btype == LE_SGEMM_F16)
        le_sg_l8_pack16(LE_SGEMM_F16, op, g0, gc, n0, nc, np, dst);
    else if (op->btype == LE_SGEMM_BF16)
        le_sg_l8_pack16(LE_SGEMM_BF16, op, g0, gc, n0, nc, np, dst);
    else
        le_sg_l8_pack16(LE_SGEMM_F32, op, g0, gc, n0, nc, np, dst);
}

/* s = tree of the 8 partials of element (m, j), then the K tail. */
static float le_sg_l8_finish1(const struct le_sgemm_l8_op *op, const float *pm, int np, int64_t m, int64_t n,
                              int j) {
    const int64_t K8 = op->K / 8 * 8;
    float s = 0.0f;
    if (K8) {
        const float *p = pm + j;
        s = ((p[0] + p[np]) + (p[2 * np] + p[3 * np])) + ((p[4 * np] + p[5 * np]) + (p[6 * np] + p[7 * np]));
    }
    const float *a = op->A + m * op->lda;
    for (int64_t k = K8; k < op->K; k++)
        s = fmaf(le_sg_w1(op->btype, op->W, n * op->ldw + k), a[k], s);
    return s;
}

X512 static void le_sg_l8_finish_x512(const struct le_sgemm_l8_op *op, const float *part, int64_t n, int nc) {
    const int np = NP_MAX;
    for (int64_t m = 0; m < op->M; m++) {
        const float *pm = part + m * 8 * np;
        float *y = op->Y + m * op->ldy + n;
        if (op->K % 8) { /* called with K >= 8 */
            for (int j = 0; j < nc; j++)
                y[j] = le_sg_l8_finish1(op, pm, np, m, n + j, j);
            continue;
        }
        for (int j = 0; j < nc; j += 16) {
            __m512 p[8];
            for (int l = 0; l < 8; l++)
                p[l] = _mm512_load_ps(pm + l * np + j);
            __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(p[0], p[1]), _mm512_add_ps(p[2], p[3])),
                                     _mm512_add_ps(_mm512_add_ps(p[4], p[5]), _mm512_add_ps(p[6], p[7])));
            int left = nc - j;
            _mm512_mask_storeu_ps(y + j, left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1), s);
        }
    }
}

/* The lines covering bytes from p in each run of a run set stride bytes
 * apart: counted from p's line (one more where the runs' offsets in their
 * lines differ). */
static int le_sg_pf_len(const void *p, int64_t bytes, int64_t stride) {
    const int64_t off = (int64_t)((uintptr_t)p & 63);
    return (int)((off + bytes + 63) / 64) + (stride % 64 != 0);
}

static const char *le_sg_pf_line(const void *p) {
    return (const char *)((uintptr_t)p & ~(uintptr_t)63);
}

static void le_sg_l8_rect(int isa, const struct le_sgemm_l8_op *op, int64_t n0, int64_t n1, void *work) {
    const int64_t G = op->K / 8, es = op->btype == LE_SGEMM_F32 ? 4 : 2, tiles = (op->M + MR - 1) / MR;
    const int np = isa == LE_SGEMM_AVX512 ? 64 : 16;
    float *part = work, *bp = part + op->M * 8 * NP_MAX;
    const __mmask16 all[4] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
    for (int64_t n = n0; n < n1; n += np) {
        const int nc = n1 - n < np ? (int)(n1 - n) : np;
        const int npk = isa == LE_SGEMM_AVX512 ? (nc + 15) / 16 * 16 : np, nv = npk / 16;
        for (int64_t g0 = 0; g0 < G; g0 += L8_G) {
            const int64_t gc = G - g0 < L8_G ? G - g0 : L8_G;
            if (isa == LE_SGEMM_AVX512)
                le_sg_l8_pack_x512(op, g0, gc, n, nc, npk, bp);
            else
                le_sg_l8_pack_scalar(op, g0, gc, n, nc, npk, bp, 0, 0);
            /* The next block (or the next panel's first): the tiles of this
             * one fetch its weight rows into L2, a share each, so that its
             * pack reads them from cache (le_sg_k512's prefetch slots). */
            int64_t ng0 = g0 + L8_G, nn = n;
            if (ng0 >= G) {
                ng0 = 0;
                nn = n + np;
            }
            const int more = nn < n1;
            const int64_t ngc = G - ng0 < L8_G ? G - ng0 : L8_G;
            const char *wl = NULL; /* its first row's first line */
            int64_t wstride = op->ldw * es, wlen = 1, wlines = 0, wper = 0, call = 0;
            if (more) {
                const char *w = (const char *)op->W + (nn * op->ldw + 8 * ng0) * es;
                wl = le_sg_pf_line(w);
                wlen = le_sg_pf_len(w, 8 * ngc * es, wstride);
                wlines = (n1 - nn < np ? n1 - nn : np) * wlen;
                wper = (wlines + 8 * tiles - 1) / (8 * tiles);
            }
            for (int l = 0; l < 8; l++) /* a lane panel (32 KiB) stays in L1 for every tile */
                for (int64_t m = 0; m < op->M; m += MR, call++) {
                    const int mr = op->M - m < MR ? (int)(op->M - m) : MR;
                    const float *a = op->A + m * op->lda + l * G + g0, *b = bp + l * L8_LS(gc, npk);
                    float *c = part + (m * 8 + l) * NP_MAX;
                    const int64_t ldc = 8 * NP_MAX;
                    if (isa == LE_SGEMM_AVX512) {
                        /* the tile after this one, in this block or the next: its X
                         * segments are short runs, too short for the hardware (6%
                         * slower without at K = 11008, M = 512), and its partial tile */
                        struct le_sg_pfl pf = {0};
                        int64_t mn = m + MR, gn = g0, gcn = gc;
                        int ln = l;
                        if (mn >= op->M) {
                            mn = 0;
                            ln++;
                        }
                        if (ln == 8) {
                            ln = 0;
                            gn = more ? ng0 : -1;
                            gcn = ngc;
                        }
                        if (gn >= 0) {
                            const int rows = op->M - mn < MR ? (int)(op->M - mn) : MR;
                            const float *xa = op->A + mn * op->lda + ln * G + gn;
                            pf.x = le_sg_pf_line(xa);
                            pf.xs = 4 * op->lda;
                            pf.xn = rows;
                            pf.xl = le_sg_pf_len(xa, 4 * gcn, pf.xs);
                            pf.c = (const char *)(part + (mn * 8 + ln) * NP_MAX);
                            pf.cs = 4 * ldc;
                            pf.cn = rows;
                            pf.cl = nv;
                        }
                        const int64_t w0 = call * wper;
                        if (w0 < wlines) {
                            pf.w = wl + w0 / wlen * wstride;
                            pf.ws = wstride;
                            pf.wl = (int)wlen;
                            pf.wq = (int)(w0 % wlen);
                            pf.wn = wlines - w0 < wper ? wlines - w0 : wper;
                        }
                        switch (nv) {
                        case 4: le_sg_k512p_4(mr, gc, a, op->lda, b, c, ldc, g0 > 0, all, &pf); break;
                        case 3: le_sg_k512p_3(mr, gc, a, op->lda, b, c, ldc, g0 > 0, all, &pf); break;
                        case 2: le_sg_k512p_2(mr, gc, a, op->lda, b, c, ldc, g0 > 0, all, &pf); break;
                        default: le_sg_k512p_1(mr, gc, a, op->lda, b, c, ldc, g0 > 0, all, &pf); break;
                        }
                        continue;
                    }
                    if (m + MR < op->M) /* the next tile's X segments (above) */
                        for (int r = 0; r < MR && m + MR + r < op->M; r++)
                            for (int64_t k = 0; k < gc; k += 16)
                                __builtin_prefetch(a + (MR + r) * op->lda + k, 0, 3);
                    if (isa == LE_SGEMM_SCALAR)
                        le_sg_kscalar(mr, npk, npk, gc, a, op->lda, 1, b, c, ldc, g0 > 0);
                    else
                        le_sg_k256_any(mr, gc, a, op->lda, 1, b, c, ldc, g0 > 0);
                }
        }
        if (isa == LE_SGEMM_AVX512 && G > 0)
            le_sg_l8_finish_x512(op, part, n, nc);
        else
            for (int64_t m = 0; m < op->M; m++)
                for (int j = 0; j < nc; j++)
                    op->Y[m * op->ldy + n + j] = le_sg_l8_finish1(op, part + m * 8 * NP_MAX, NP_MAX, m, n + j, j);
    }
}

void le_sgemm_l8_rect(int isa, const struct le_sgemm_l8_op *op, int64_t n0, int64_t n1, void *work,
                      size_t work_bytes) {
    if (op->M <= 0 || n1 <= n0)
        return;
    if (isa > le_sgemm_best())
        isa = le_sgemm_best();
    /* rows of X in chunks whose partial tiles fit the work buffer */
    const size_t per = MR * 8 * NP_MAX * sizeof(float), fixed = le_sgemm_l8_work_bytes(0);
    int64_t mc = work_bytes >= fixed + per ? (int64_t)((work_bytes - fixed) / per) * MR : MR;
    for (int64_t m = 0; m < op->M; m += mc) {
        struct le_sgemm_l8_op sub = *op;
        sub.M = op->M - m < mc ? op->M - m : mc;
        sub.A = op->A + m * op->lda;
        sub.Y = op->Y + m * op->ldy;
        le_sg_l8_rect(isa, &sub, n0, n1, work);
    }
}

void le_sgemm_l8_ref(const struct le_sgemm_l8_op *op, const float *X, int64_t ldx) {
    const int64_t K8 = op->K / 8 * 8;
    for (int64_t m = 0; m < op->M; m++)
        for (int64_t n = 0; n < op->N; n++) {
            const float *x = X + m * ldx;
            float p[8] = {0};
            for (int64_t k = 0; k < K8; k++)
                p[k % 8] = fmaf(le_sg_w1(op->btype, op->W, n * op->ldw + k), x[k], p[k % 8]);
            float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
            for (int64_t k = K8; k < op->K; k++)
                s = fmaf(le_sg_w1(op->btype, op->W, n * op->ldw + k), x[k], s);
            op->Y[m * op->ldy + n] = s;
        }
}
