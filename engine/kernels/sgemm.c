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

#include <immintrin.h>
#include <math.h> /* fmaf */
#include <stdatomic.h>
#include <string.h>

#define MR 6
#define KC 128
#define NP_MAX 64

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

/* 16 F16 or BF16 values, widened. */
X512_INLINE __m512 le_sg_wd16(int bt, __m256i h) {
    if (bt == LE_SGEMM_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 16 values of row n at k..k+16 (B(k.., n) contiguous: rsb == 1), widened. */
X512_INLINE __m512 le_sg_ld16(int bt, const void *B, int64_t i) {
    if (bt == LE_SGEMM_F32)
        return _mm512_loadu_ps((const float *)B + i);
    return le_sg_wd16(bt, _mm256_loadu_si256((const __m256i *)((const uint16_t *)B + i)));
}

/* 8 values of W at i0 (row q) and 8 at i1 (row q + 4), widened: [i0.. | i1..]. */
X512_INLINE __m512 le_sg_ld8x2(int bt, const void *W, int64_t i0, int64_t i1) {
    if (bt == LE_SGEMM_F32)
        return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps((const float *)W + i0)),
                                  _mm256_loadu_ps((const float *)W + i1), 1);
    const uint16_t *h = W;
    return le_sg_wd16(bt, _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(h + i0))),
                                                  _mm_loadu_si128((const __m128i *)(h + i1)), 1));
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

/* AVX-512: mr rows x NV zmm columns; msk[v] selects the valid columns. */
X512_INLINE void le_sg_k512(const int mr, const int NV, int64_t kc, const float *a, int64_t rsa, int64_t csa,
                            const float *b, float *c, int64_t ldc, int load, const __mmask16 *msk) {
    __m512 acc[MR][4];
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)
            acc[r][v] = load ? _mm512_maskz_loadu_ps(msk[v], c + r * ldc + 16 * v) : _mm512_setzero_ps();
    const float *ap[MR];
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) ap[r] = a + r * rsa;
    _Pragma("GCC unroll 2") for (int64_t k = 0; k < kc; k++) {
        __m512 bv[4];
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + k * NV * 16 + 16 * v);
        _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) {
            __m512 x = _mm512_set1_ps(ap[r][k * csa]);
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(c + r * ldc + 16 * v, msk[v], acc[r][v]);
}

#define LE_SG_K512_NV(NV)                                                                                         \
    X512 static void le_sg_k512_##NV(int mr, int64_t kc, const float *a, int64_t rsa, int64_t csa, const float *b, \
                                     float *c, int64_t ldc, int load, const __mmask16 *msk) {                    \
        switch (mr) {                                                                                             \
        case 6: le_sg_k512(6, NV, kc, a, rsa, csa, b, c, ldc, load, msk); break;                                  \
        case 5: le_sg_k512(5, NV, kc, a, rsa, csa, b, c, ldc, load, msk); break;                                  \
        case 4: le_sg_k512(4, NV, kc, a, rsa, csa, b, c, ldc, load, msk); break;                                  \
        case 3: le_sg_k512(3, NV, kc, a, rsa, csa, b, c, ldc, load, msk); break;                                  \
        case 2: le_sg_k512(2, NV, kc, a, rsa, csa, b, c, ldc, load, msk); break;                                  \
        default: le_sg_k512(1, NV, kc, a, rsa, csa, b, c, ldc, load, msk); break;                                 \
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
 * The 8 lane chains of a weight row run side by side in one zmm, two rows
 * to a zmm: an octet of 8 weight rows at group g (k = 8g..8g+7) is 4 zmm,
 * zmm q = [row q, the 8 k | row q + 4, the same 8 k], and a token's 8
 * values at those k are broadcast to both halves (X row-major, read in
 * place). Lane by lane, acc = fma(w, x, acc) is then the chains of rows q
 * and q + 4, and the pack only widens W's rows and interleaves them 256
 * bits at a time (the broadcast form this replaced needed a 16 x 16
 * transpose per 256 weights: 12.7% of a 7B F16 pp128 pass in perf).
 *
 * Per column panel of 64 weight rows and K block of L8_G groups, the
 * panel's octets are packed; each tile of MR tokens runs the micro-kernel
 * over the octets in turn (the tile's X, MR rows of the block, stays in
 * L1; the octet panels stream from L2), its accumulators continuing from
 * its partial tile in the work buffer. The block's first tile packs as it
 * goes (a full panel and a full tile: it reads each octet's weights from
 * W's rows, widens and interleaves them, stores them into the packed
 * panel and uses them), so the pack's loads, conversions and stores
 * overlap that tile's FMAs instead of running alone before the tiles;
 * partial panels, and batches under MR tokens, are packed first. In the
 * last block the micro-kernel joins each element's 8 lanes by the fixed
 * tree in registers and stores Y; then the K tail. While a tile runs, its
 * micro-kernel prefetches, one line per k step, the next tile's X rows and
 * partial tiles into L1, then a share of the next block's weight rows into
 * L2 (le_sg_pfl), for the next block's first tile (or pack).
 *
 * F16 weights are packed as they are, 2 bytes each in the same places
 * ("p16"), and every tile widens them with vcvtph2ps as it loads them:
 * half the panel bytes streamed from L2 per k step (2 lines instead of 4)
 * and half the stores in the first tile, for 4 conversions per 24 FMAs.
 * Measured against the widened panel (2026-12-07, 2 threads, alternating):
 * 7B F16 pp128 +3.6%, pp512 +3.5% (medians); tool_mmbench 11008 x 4096,
 * N = 128, +2-5%; level at one thread; 110M F16 pp512 -1.5%. BF16 and F32
 * keep the float panel.
 */

#define L8_G 64 /* groups of 8 per K block: a panel of 64 rows is 128 KiB (64 KiB p16), a tile's X 12 KiB */
#define L8_T (4 * MR * 16) /* floats of one partial tile (MR tokens x 4 zmm) */

#define Q4_MR (2 * MR) /* tokens of a tile of the pair form (MR pairs) */

_Static_assert((Q4_MR * 8 * NP_MAX + NP_MAX * 8 * L8_G) * sizeof(float) == LE_SGEMM_L8_WORK_MIN,
               "LE_SGEMM_L8_WORK_MIN is le_sgemm_l8_work_bytes(Q4_MR)");
_Static_assert(8 * L8_T == MR * 8 * NP_MAX, "a row of tiles' partials is MR x 8 x 64 floats");
_Static_assert(16 * L8_T == Q4_MR * 8 * NP_MAX, "a pair tile's partials are 16 quads' L8_T");

size_t le_sgemm_l8_work_bytes(int64_t M) {
    /* partial tiles (M rounded up to whole pair tiles, which covers whole
     * tiles: x 8 octets x 4 zmm) + the packed block */
    return ((size_t)((M + Q4_MR - 1) / Q4_MR * Q4_MR) * 8 * NP_MAX + NP_MAX * 8 * L8_G) * sizeof(float);
}

/* X[m][k] in the op's layout (le_sgemm.h). */
static float le_sg_l8_x(const struct le_sgemm_l8_op *op, int64_t m, int64_t k) {
    if (!op->xpairs)
        return op->A[m * op->lda + k];
    const int64_t K8 = op->K / 8 * 8;
    return op->A[m / 2 * 2 * op->lda + (k < K8 ? 16 * (k / 8) + k % 8 : 2 * K8 + (k - K8)) + 8 * (m % 2)];
}

/* s after the K tail of element (m, n): the chain over k = K8..K-1. */
static float le_sg_l8_tail(const struct le_sgemm_l8_op *op, int64_t m, int64_t n, float s) {
    for (int64_t k = op->K / 8 * 8; k < op->K; k++)
        s = fmaf(le_sg_w1(op->btype, op->W, n * op->ldw + k), le_sg_l8_x(op, m, k), s);
    return s;
}

/* Element (m, n) of Y by the contract. */
static float le_sg_l8_elem(const struct le_sgemm_l8_op *op, int64_t m, int64_t n) {
    const int64_t K8 = op->K / 8 * 8;
    float p[8] = {0};
    for (int64_t k = 0; k < K8; k++)
        p[k % 8] = fmaf(le_sg_w1(op->btype, op->W, n * op->ldw + k), le_sg_l8_x(op, m, k), p[k % 8]);
    return le_sg_l8_tail(op, m, n, ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])));
}

/* Cache lines the inference form fetches ahead while a tile runs, one per k
 * step, in this order: xn runs of xl lines xs bytes apart (the next
 * tile's X rows), cn runs of cl lines cs apart (its partial tiles), both
 * into L1; then wn lines of runs of wl lines ws bytes
 * apart, from line wq of the run at w (a share of the next block's weight
 * rows), into L2. */
struct le_sg_pfl {
    const char *x, *c, *w;
    int64_t xs, cs, ws, wn;
    int xn, xl, cn, cl, wl, wq;
};

/* The cursors over a le_sg_pfl, one line per k step: p0 over X's runs then
 * C's (into L1; l0 lines left in the run, r0 runs after it, s0 the run set:
 * 0 X, 1 C, 2 done), then p1 over W's lines (into L2; l1 left in the run,
 * wr after it). The step's common case is one test, the prefetch and two
 * updates; the next run is set up once per run. (Inlined into the
 * micro-kernels, a local cursor lives in registers.) */
struct le_sg_pfc {
    const char *p0, *b0, *b1, *p1;
    int l0, r0, s0, len0;
    int64_t st0, l1, wr;
};

X512_INLINE struct le_sg_pfc le_sg_pfc_start(const struct le_sg_pfl *pf) {
    struct le_sg_pfc k;
    k.p0 = k.b0 = pf->x, k.b1 = pf->w, k.p1 = pf->w ? pf->w + 64 * pf->wq : NULL;
    k.l0 = pf->xn > 0 ? pf->xl : 0, k.r0 = pf->xn > 0 ? pf->xn - 1 : 0, k.s0 = 0, k.len0 = pf->xl;
    k.st0 = pf->xs, k.l1 = pf->wn < pf->wl - pf->wq ? pf->wn : pf->wl - pf->wq, k.wr = pf->wn - k.l1;
    return k;
}

X512_INLINE void le_sg_pfc_step(struct le_sg_pfc *k, const struct le_sg_pfl *pf) {
    if (__builtin_expect(k->l0 > 0, 1)) {
        _mm_prefetch(k->p0, _MM_HINT_T0);
        k->p0 += 64, k->l0--;
    } else if (k->s0 < 2) { /* the next run of X or C */
        if (k->r0 > 0)
            k->b0 += k->st0, k->r0--, k->l0 = k->len0;
        else if (k->s0 == 0 && pf->cn > 0)
            k->s0 = 1, k->b0 = pf->c, k->st0 = pf->cs, k->len0 = pf->cl, k->l0 = k->len0, k->r0 = pf->cn - 1;
        else
            k->s0 = 2;
        if (k->l0 > 0) {
            _mm_prefetch(k->b0, _MM_HINT_T0);
            k->p0 = k->b0 + 64, k->l0--;
        }
    } else if (k->l1 > 0) {
        _mm_prefetch(k->p1, _MM_HINT_T1);
        k->p1 += 64, k->l1--;
    } else if (k->wr > 0) { /* W's next run */
        k->b1 += pf->ws;
        k->l1 = k->wr < pf->wl ? k->wr : pf->wl;
        k->wr -= k->l1;
        _mm_prefetch(k->b1, _MM_HINT_T1);
        k->p1 = k->b1 + 64, k->l1--;
    }
}

/* The tree of le_sgemm.h over one token's octet: a[q] = [row q | row q + 4]
 * x 8 lanes -> the 8 rows' sums, in row order. */
X512_INLINE __m256 le_sg_d8_tree(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    /* 128-bit chunk c of a[q]: lanes 4 (c % 2) .. + 3 of row q (c < 2) or q + 4 */
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_ps(a0, a1, 0x88), _mm512_shuffle_ps(a0, a1, 0xDD));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_ps(a2, a3, 0x88), _mm512_shuffle_ps(a2, a3, 0xDD));
    /* chunk c: [P0 + P1, P2 + P3] (c even) or [P4 + P5, P6 + P7] of rows 0, 1 | of rows 2, 3 */
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(s01, s23, 0x88), _mm512_shuffle_ps(s01, s23, 0xDD));
    /* chunk c: rows 0..3 (c < 2) or 4..7, (P0 + P1) + (P2 + P3) (c even) or (P4 + P5) + (P6 + P7) */
    return _mm512_castps512_ps256(_mm512_add_ps(_mm512_shuffle_f32x4(s, s, 0x08), _mm512_shuffle_f32x4(s, s, 0x0D)));
}

/* mr tokens x the octets of a panel (nc rows) over gc groups: a = X at the
 * block's first k (row stride lda), b = the octet panels (gc x 4 zmm
 * each; p16: gc x 4 x 16 F16 bits, widened as they are loaded), c = the
 * tile's partial tiles (L8_T floats per octet; loaded when
 * load). y NULL: the accumulators go back to c; else the tree of each
 * token's rows goes to y (row stride ldy), the valid ones. src: the
 * weights come from W (type bt, row stride ldw elements, at the panel's
 * first row and the block's first k; all nc rows valid) and are stored
 * into b as le_sg_d8_pack lays them out. */
X512_INLINE void le_sg_d8(const int mr, const int src, const int bt, int nc, int64_t gc, const float *a, int64_t lda,
                          float *b, float *c, int load, float *y, int64_t ldy, const struct le_sg_pfl *pf,
                          const void *W, int64_t ldw) {
    const int p16 = bt == LE_SGEMM_F16; /* the panel holds the F16 bits */
    uint16_t *bh = (uint16_t *)b;
    struct le_sg_pfc pk = le_sg_pfc_start(pf);
    const float *ap[MR];
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) ap[r] = a + r * lda;
    for (int o = 0; 8 * o < nc; o++, c += L8_T) {
        const int64_t ob = (int64_t)o * gc * 64; /* the octet's panel, in elements */
        const char *wo = src ? (const char *)W + o * 8 * ldw * (bt == LE_SGEMM_F32 ? 4 : 2) : NULL;
        __m512 acc[MR][4];
        _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++)
                acc[r][q] = load ? _mm512_load_ps(c + (4 * r + q) * 16) : _mm512_setzero_ps();
        _Pragma("GCC unroll 2") for (int64_t g = 0; g < gc; g++) {
            __m512 w[4];
            if (src && p16) /* the block's first tile: pack as it goes (the bits as they are) */
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
                    const uint16_t *h = (const uint16_t *)wo;
                    const __m256i v = _mm256_inserti128_si256(
                        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(h + q * ldw + 8 * g))),
                        _mm_loadu_si128((const __m128i *)(h + (q + 4) * ldw + 8 * g)), 1);
                    _mm256_store_si256((__m256i *)(bh + ob + g * 64 + 16 * q), v);
                    w[q] = _mm512_cvtph_ps(v);
                }
            else if (src) /* widened */
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
                    w[q] = le_sg_ld8x2(bt, wo, q * ldw + 8 * g, (q + 4) * ldw + 8 * g);
                    _mm512_store_ps(b + ob + g * 64 + 16 * q, w[q]);
                }
            else if (p16)
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++)
                    w[q] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(bh + ob + g * 64 + 16 * q)));
            else
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) w[q] = _mm512_load_ps(b + ob + g * 64 + 16 * q);
            le_sg_pfc_step(&pk, pf);
            _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) {
                __m512 x = _mm512_broadcast_f32x8(_mm256_loadu_ps(ap[r] + 8 * g));
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) acc[r][q] = _mm512_fmadd_ps(w[q], x, acc[r][q]);
            }
        }
        if (!y) {
            _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) _mm512_store_ps(c + (4 * r + q) * 16, acc[r][q]);
            continue;
        }
        const int left = nc - 8 * o;
        const __mmask8 ym = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1);
        _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)
            _mm256_mask_storeu_ps(y + r * ldy + 8 * o, ym, le_sg_d8_tree(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    }
}

X512 static void le_sg_d8_any(int mr, int bt, int nc, int64_t gc, const float *a, int64_t lda, float *b, float *c,
                              int load, float *y, int64_t ldy, const struct le_sg_pfl *pf) {
#define LE_SG_D8_MR(P)                                                                                                 \
    switch (mr) {                                                                                                      \
    case 6: le_sg_d8(6, 0, P, nc, gc, a, lda, b, c, load, y, ldy, pf, NULL, 0); break;                                 \
    case 5: le_sg_d8(5, 0, P, nc, gc, a, lda, b, c, load, y, ldy, pf, NULL, 0); break;                                 \
    case 4: le_sg_d8(4, 0, P, nc, gc, a, lda, b, c, load, y, ldy, pf, NULL, 0); break;                                 \
    case 3: le_sg_d8(3, 0, P, nc, gc, a, lda, b, c, load, y, ldy, pf, NULL, 0); break;                                 \
    case 2: le_sg_d8(2, 0, P, nc, gc, a, lda, b, c, load, y, ldy, pf, NULL, 0); break;                                 \
    default: le_sg_d8(1, 0, P, nc, gc, a, lda, b, c, load, y, ldy, pf, NULL, 0); break;                                \
    }
    if (bt == LE_SGEMM_F16) /* (only F16 panels differ: le_sg_d8's p16) */
        LE_SG_D8_MR(LE_SGEMM_F16)
    else
        LE_SG_D8_MR(LE_SGEMM_F32)
#undef LE_SG_D8_MR
}

/* A full tile (MR tokens) of a full panel that packs the block into b as
 * it runs: W at the panel's first row and the block's first k. */
X512 static void le_sg_d8_first(int bt, int64_t gc, const float *a, int64_t lda, float *b, float *c, int load,
                                float *y, int64_t ldy, const struct le_sg_pfl *pf, const void *W, int64_t ldw) {
    if (bt == LE_SGEMM_F16)
        le_sg_d8(MR, 1, LE_SGEMM_F16, NP_MAX, gc, a, lda, b, c, load, y, ldy, pf, W, ldw);
    else if (bt == LE_SGEMM_BF16)
        le_sg_d8(MR, 1, LE_SGEMM_BF16, NP_MAX, gc, a, lda, b, c, load, y, ldy, pf, W, ldw);
    else
        le_sg_d8(MR, 1, LE_SGEMM_F32, NP_MAX, gc, a, lda, b, c, load, y, ldy, pf, W, ldw);
}

/* The octet panels of rows n0..n0+nc, groups g0..g0+gc: dst[(o gc + g) 64 +
 * 16 q + i] = W[n0 + 8o + q + 4 (i / 8)][8 (g0 + g) + i % 8]; 0 for rows
 * >= nc. Widened to floats, or (p16: F16) the bits as they are, 2 bytes
 * each. Two groups per load: 16 k of row q and of row q + 4, then their
 * low halves and their high halves side by side. */
X512_INLINE void le_sg_d8_pack(const int bt, const struct le_sgemm_l8_op *op, int64_t g0, int64_t gc, int64_t n0,
                               int nc, void *dst) {
    const int p16 = bt == LE_SGEMM_F16;
    const uint16_t *wh = op->W;
    for (int o = 0; o < (nc + 7) / 8; o++)
        for (int q = 0; q < 4; q++) {
            const int j0 = 8 * o + q, j1 = j0 + 4;
            const int64_t s0 = (n0 + j0) * op->ldw + 8 * g0, s1 = (n0 + j1) * op->ldw + 8 * g0;
            const int64_t d0 = o * gc * 64 + 16 * q;
            int64_t g = 0;
            for (; g + 2 <= gc; g += 2)
                if (p16) {
                    uint16_t *d = (uint16_t *)dst + d0;
                    const __m256i z = _mm256_setzero_si256();
                    __m256i r0 = j0 < nc ? _mm256_loadu_si256((const __m256i *)(wh + s0 + 8 * g)) : z;
                    __m256i r1 = j1 < nc ? _mm256_loadu_si256((const __m256i *)(wh + s1 + 8 * g)) : z;
                    _mm256_store_si256((__m256i *)(d + g * 64), _mm256_permute2x128_si256(r0, r1, 0x20));
                    _mm256_store_si256((__m256i *)(d + (g + 1) * 64), _mm256_permute2x128_si256(r0, r1, 0x31));
                } else {
                    float *d = (float *)dst + d0;
                    __m512 r0 = j0 < nc ? le_sg_ld16(bt, op->W, s0 + 8 * g) : _mm512_setzero_ps();
                    __m512 r1 = j1 < nc ? le_sg_ld16(bt, op->W, s1 + 8 * g) : _mm512_setzero_ps();
                    _mm512_store_ps(d + g * 64, _mm512_shuffle_f32x4(r0, r1, 0x44));
                    _mm512_store_ps(d + (g + 1) * 64, _mm512_shuffle_f32x4(r0, r1, 0xEE));
                }
            for (; g < gc; g++)
                for (int i = 0; i < 16; i++) {
                    const int j = i < 8 ? j0 : j1;
                    const int64_t e = (n0 + j) * op->ldw + 8 * (g0 + g) + i % 8;
                    if (p16)
                        ((uint16_t *)dst)[d0 + g * 64 + i] = j < nc ? wh[e] : 0;
                    else
                        ((float *)dst)[d0 + g * 64 + i] = j < nc ? le_sg_w1(bt, op->W, e) : 0.0f;
                }
        }
}

X512 static void le_sg_d8_pack_x512(const struct le_sgemm_l8_op *op, int64_t g0, int64_t gc, int64_t n0, int nc,
                                    float *dst) {
    if (op->btype == LE_SGEMM_F16)
        le_sg_d8_pack(LE_SGEMM_F16, op, g0, gc, n0, nc, dst);
    else if (op->btype == LE_SGEMM_BF16)
        le_sg_d8_pack(LE_SGEMM_BF16, op, g0, gc, n0, nc, dst);
    else
        le_sg_d8_pack(LE_SGEMM_F32, op, g0, gc, n0, nc, dst);
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


/* ---- the pair form: F16 weights, X in pairs of rows ----
 * The octet form above broadcasts each token's 8 values to both halves of
 * a zmm (vbroadcastf32x8: a shuffle-unit op next to the 4 vcvtph2ps per k
 * step that widen the F16 panel), and the two compete: one core's F16 loop
 * ran 179-197 GFLOPS against 210-212 with X loaded plainly. Here the halves
 * hold two tokens instead of two weight rows: X comes in pairs (le_sgemm.h,
 * written so by the activation conversion), one plain load gives zmm
 * [token 2p, the 8 k | token 2p + 1, the same 8 k], and each weight row's
 * 8 values are stored twice in the panel, so one vcvtph2ps gives [row q |
 * row q]. A quad of 4 weight rows at group g is 4 x 32 bytes (the octet's
 * size: the panel streams the same bytes per FMA from L2), a tile is MR
 * pairs (12 tokens) x a quad per k step (24 FMAs, 4 conversions, 6 plain
 * loads, no shuffles), acc = fma(w, x, acc) runs the chains of (row q,
 * token 2p) and (row q, token 2p + 1), and the octet form's tree joins
 * each zmm quad into the quad's 4 rows for both tokens: the same bits.
 * Blocking, prefetching and the fused first tile are the octet form's.
 * Measured against the octet form (2026-12-08, tool_mmbench with W from
 * the 7B F16 file, 2 threads, alternating, medians of 3): 11008 x 4096
 * +4.9% (N = 128) and +3.9% (N = 512), 4096 x 11008 +2.6% / +3.9%,
 * 4096 x 4096 +1.3% / +0.8%. */

/* np pairs (the last one's second token unused when odd) x the quads of a
 * panel (nc rows) over gc groups: a = the first pair at the block's first
 * k (pair stride lda floats), b = the quad panels (gc x 64 F16 bits each,
 * each row's 8 twice), c = the tile's partials (L8_T floats per quad, 4 np
 * zmm used), y, ldy, pf as in le_sg_d8; src: the weights come from W's
 * rows (F16, row stride ldw, at the panel's first row and the block's
 * first k; all nc rows valid) and are stored into b as le_sg_q4_pack lays
 * them out. */
X512_INLINE void le_sg_q4(const int np, const int src, int nc, int64_t gc, const float *a, int64_t lda, uint16_t *bh,
                          float *c, int load, float *y, int64_t ldy, int odd, const struct le_sg_pfl *pf,
                          const uint16_t *W, int64_t ldw) {
    struct le_sg_pfc pk = le_sg_pfc_start(pf);
    const float *ap[MR];
    _Pragma("GCC unroll 6") for (int r = 0; r < np; r++) ap[r] = a + r * lda;
    for (int u = 0; 4 * u < nc; u++, c += L8_T) {
        const int64_t ob = (int64_t)u * gc * 64; /* the quad's panel, in F16 */
        const uint16_t *wo = src ? W + u * 4 * ldw : NULL;
        __m512 acc[MR][4];
        _Pragma("GCC unroll 6") for (int r = 0; r < np; r++)
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++)
                acc[r][q] = load ? _mm512_load_ps(c + (4 * r + q) * 16) : _mm512_setzero_ps();
        _Pragma("GCC unroll 2") for (int64_t g = 0; g < gc; g++) {
            __m512 w[4];
            if (src) /* the block's first tile: pack as it goes */
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
                    const __m256i v =
                        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(wo + q * ldw + 8 * g)));
                    _mm256_store_si256((__m256i *)(bh + ob + g * 64 + 16 * q), v);
                    w[q] = _mm512_cvtph_ps(v);
                }
            else
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++)
                    w[q] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(bh + ob + g * 64 + 16 * q)));
            le_sg_pfc_step(&pk, pf);
            _Pragma("GCC unroll 6") for (int r = 0; r < np; r++) {
                __m512 x = _mm512_loadu_ps(ap[r] + 16 * g);
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) acc[r][q] = _mm512_fmadd_ps(w[q], x, acc[r][q]);
            }
        }
        if (!y) {
            _Pragma("GCC unroll 6") for (int r = 0; r < np; r++)
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) _mm512_store_ps(c + (4 * r + q) * 16, acc[r][q]);
            continue;
        }
        /* the tree's lanes 0..3: rows 4u.. of token 2r; 4..7: of token 2r + 1 */
        const int left = nc - 4 * u;
        const __mmask8 ym = left >= 4 ? (__mmask8)0xF : (__mmask8)((1u << left) - 1);
        _Pragma("GCC unroll 6") for (int r = 0; r < np; r++) {
            const __m256 t = le_sg_d8_tree(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
            _mm_mask_storeu_ps(y + 2 * r * ldy + 4 * u, ym, _mm256_castps256_ps128(t));
            if (!(odd && r == np - 1))
                _mm_mask_storeu_ps(y + (2 * r + 1) * ldy + 4 * u, ym, _mm256_extractf128_ps(t, 1));
        }
    }
}

X512 static void le_sg_q4_any(int np, int nc, int64_t gc, const float *a, int64_t lda, uint16_t *b, float *c, int load,
                              float *y, int64_t ldy, int odd, const struct le_sg_pfl *pf) {
    switch (np) {
    case 6: le_sg_q4(6, 0, nc, gc, a, lda, b, c, load, y, ldy, odd, pf, NULL, 0); break;
    case 5: le_sg_q4(5, 0, nc, gc, a, lda, b, c, load, y, ldy, odd, pf, NULL, 0); break;
    case 4: le_sg_q4(4, 0, nc, gc, a, lda, b, c, load, y, ldy, odd, pf, NULL, 0); break;
    case 3: le_sg_q4(3, 0, nc, gc, a, lda, b, c, load, y, ldy, odd, pf, NULL, 0); break;
    case 2: le_sg_q4(2, 0, nc, gc, a, lda, b, c, load, y, ldy, odd, pf, NULL, 0); break;
    default: le_sg_q4(1, 0, nc, gc, a, lda, b, c, load, y, ldy, odd, pf, NULL, 0); break;
    }
}

/* A full tile (MR pairs) of a full panel that packs the block into b. */
X512 static void le_sg_q4_first(int64_t gc, const float *a, int64_t lda, uint16_t *b, float *c, int load, float *y,
                                int64_t ldy, const struct le_sg_pfl *pf, const uint16_t *W, int64_t ldw) {
    le_sg_q4(MR, 1, NP_MAX, gc, a, lda, b, c, load, y, ldy, 0, pf, W, ldw);
}

/* The quad panels of rows n0..n0+nc, groups g0..g0+gc, F16 bits:
 * dst[(u gc + g) 64 + 16 q + i] = W[n0 + 4u + q][8 (g0 + g) + i % 8]; 0
 * for rows >= nc. */
X512 static void le_sg_q4_pack(const struct le_sgemm_l8_op *op, int64_t g0, int64_t gc, int64_t n0, int nc,
                               uint16_t *dst) {
    const uint16_t *wh = op->W;
    for (int u = 0; u < (nc + 3) / 4; u++)
        for (int q = 0; q < 4; q++) {
            const int j = 4 * u + q;
            const uint16_t *s = wh + (n0 + j) * op->ldw + 8 * g0;
            uint16_t *d = dst + u * gc * 64 + 16 * q;
            for (int64_t g = 0; g < gc; g++)
                _mm256_store_si256((__m256i *)(d + g * 64),
                                   j < nc ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(s + 8 * g)))
                                          : _mm256_setzero_si256());
        }
}

/* Columns [n0, n1) of Y, all M rows (AVX-512, K >= 8): the octet form, or
 * (pairs: F16, X in pairs) the pair form. Per column panel and K block,
 * the tiles in token order; each prefetches the next tile's X and partial
 * tiles and a share of the next block's weight rows. */
static void le_sg_l8_blocks(const struct le_sgemm_l8_op *op, int64_t n0, int64_t n1, float *work, const int pairs) {
    const int T = pairs ? Q4_MR : MR; /* tokens per tile */
    const int64_t G = op->K / 8, K8 = 8 * G, es = op->btype == LE_SGEMM_F32 ? 4 : 2, tiles = (op->M + T - 1) / T;
    const int64_t xg = pairs ? 16 : 8, xs = (pairs ? 2 : 1) * op->lda; /* X: floats per group, per row unit */
    float *part = work, *bp = part + tiles * T * 8 * NP_MAX;
    for (int64_t n = n0; n < n1; n += NP_MAX) {
        const int nc = n1 - n < NP_MAX ? (int)(n1 - n) : NP_MAX;
        /* a full panel with a full first tile: that tile packs each block */
        const int fuse = nc == NP_MAX && op->M >= T;
        for (int64_t g0 = 0; g0 < G; g0 += L8_G) {
            const int64_t gc = G - g0 < L8_G ? G - g0 : L8_G;
            if (!fuse && pairs)
                le_sg_q4_pack(op, g0, gc, n, nc, (uint16_t *)bp);
            else if (!fuse)
                le_sg_d8_pack_x512(op, g0, gc, n, nc, bp);
            /* the next block (or the next panel's first): the tiles of this
             * one fetch its weight rows into L2, a share each */
            int64_t ng0 = g0 + L8_G, nn = n;
            if (ng0 >= G) {
                ng0 = 0;
                nn = n + NP_MAX;
            }
            const int more = nn < n1;
            const int64_t ngc = G - ng0 < L8_G ? G - ng0 : L8_G;
            const char *wl = NULL; /* its first row's first line */
            int64_t wstride = op->ldw * es, wlen = 1, wlines = 0, wper = 0;
            if (more) {
                const char *w = (const char *)op->W + (nn * op->ldw + 8 * ng0) * es;
                wl = le_sg_pf_line(w);
                wlen = le_sg_pf_len(w, 8 * ngc * es, wstride);
                wlines = (n1 - nn < NP_MAX ? n1 - nn : NP_MAX) * wlen;
                wper = (wlines + tiles - 1) / tiles;
            }
            for (int64_t m = 0, t = 0; m < op->M; m += T, t++) {
                const int mr = op->M - m < T ? (int)(op->M - m) : T;
                struct le_sg_pfl pf = {0};
                /* the next tile: the next tokens of this block, else the
                 * first of the next block; its X rows (or pairs), and its
                 * partial tiles unless it starts a panel */
                int64_t mn = m + T, gn = g0, gcn = gc;
                if (mn >= op->M) {
                    mn = 0;
                    gn = more ? ng0 : -1;
                    gcn = ngc;
                }
                if (gn >= 0) {
                    const float *xa = op->A + mn * op->lda + xg * gn;
                    const int mrn = op->M - mn < T ? (int)(op->M - mn) : T;
                    pf.x = le_sg_pf_line(xa);
                    pf.xs = xs * (int64_t)sizeof(float);
                    pf.xn = pairs ? (mrn + 1) / 2 : mrn;
                    pf.xl = le_sg_pf_len(xa, xg * 4 * gcn, pf.xs);
                    if (gn > 0) { /* (in this panel) */
                        pf.c = (const char *)(part + mn * 8 * NP_MAX);
                        pf.cn = 1;
                        pf.cl = (pairs ? (nc + 3) / 4 : (nc + 7) / 8) * L8_T * 4 / 64;
                    }
                }
                const int64_t w0 = t * wper;
                if (w0 < wlines) {
                    pf.w = wl + w0 / wlen * wstride;
                    pf.ws = wstride;
                    pf.wl = (int)wlen;
                    pf.wq = (int)(w0 % wlen);
                    pf.wn = wlines - w0 < wper ? wlines - w0 : wper;
                }
                const float *a = op->A + m * op->lda + xg * g0;
                float *y = g0 + gc == G ? op->Y + m * op->ldy + n : NULL, *c = part + m * 8 * NP_MAX;
                const char *wf = (const char *)op->W + (n * op->ldw + 8 * g0) * es; /* (fused) */
                if (fuse && t == 0 && pairs)
                    le_sg_q4_first(gc, a, xs, (uint16_t *)bp, c, g0 > 0, y, op->ldy, &pf, (const uint16_t *)wf,
                                   op->ldw);
                else if (fuse && t == 0)
                    le_sg_d8_first(op->btype, gc, a, xs, bp, c, g0 > 0, y, op->ldy, &pf, wf, op->ldw);
                else if (pairs)
                    le_sg_q4_any((mr + 1) / 2, nc, gc, a, xs, (uint16_t *)bp, c, g0 > 0, y, op->ldy, mr & 1, &pf);
                else
                    le_sg_d8_any(mr, op->btype, nc, gc, a, xs, bp, c, g0 > 0, y, op->ldy, &pf);
            }
        }
        if (K8 < op->K) /* the K tail, after the tree */
            for (int64_t m = 0; m < op->M; m++)
                for (int j = 0; j < nc; j++) {
                    float *y = op->Y + m * op->ldy + n + j;
                    *y = le_sg_l8_tail(op, m, n + j, *y);
                }
    }
}


void le_sgemm_l8_rect(int isa, const struct le_sgemm_l8_op *op, int64_t n0, int64_t n1, void *work,
                      size_t work_bytes) {
    if (op->M <= 0 || n1 <= n0)
        return;
    if (isa > le_sgemm_best())
        isa = le_sgemm_best();
    const int pairs = op->xpairs != 0;
    if (isa != LE_SGEMM_AVX512 || op->K < 8 || work_bytes < LE_SGEMM_L8_WORK_MIN ||
        (pairs && op->btype != LE_SGEMM_F16)) { /* the contract in plain C */
        for (int64_t m = 0; m < op->M; m++)
            for (int64_t n = n0; n < n1; n++)
                op->Y[m * op->ldy + n] = le_sg_l8_elem(op, m, n);
        return;
    }
    /* tokens in chunks of whole pair tiles whose partials fit the work buffer */
    const size_t per = Q4_MR * 8 * NP_MAX * sizeof(float), fixed = le_sgemm_l8_work_bytes(0);
    const int64_t mc = (int64_t)((work_bytes - fixed) / per) * Q4_MR;
    for (int64_t m = 0; m < op->M; m += mc) {
        struct le_sgemm_l8_op sub = *op;
        sub.M = op->M - m < mc ? op->M - m : mc;
        sub.A = op->A + m * op->lda; /* (m even: a pair's start) */
        sub.Y = op->Y + m * op->ldy;
        le_sg_l8_blocks(&sub, n0, n1, work, pairs);
    }
}

void le_sgemm_l8_ref(const struct le_sgemm_l8_op *op, const float *X, int64_t ldx) {
    struct le_sgemm_l8_op o = *op;
    o.A = X, o.lda = ldx, o.xpairs = 0;
    for (int64_t m = 0; m < o.M; m++)
        for (int64_t n = 0; n < o.N; n++)
            o.Y[m * o.ldy + n] = le_sg_l8_elem(&o, m, n);
}
