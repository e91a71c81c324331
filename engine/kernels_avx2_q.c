/*
 * kernels_avx2_q: AVX2 matmul and dot kernels for the 32-block quantized
 * weights (Q8_0, Q4_0) against Q8_0 activations.
 *
 * Per-element arithmetic (shared by every path here, so results never
 * depend on N, tiling or threads): for each block b in order the exact
 * integer s_b = sum_j w_j y_j, then acc = fmaf(dx_b * dy_b, (float)s_b, acc)
 * from acc = 0. (ggml's scalar vec_dot does acc += s_b * (dx*dy) unfused;
 * the difference is one rounding per block.)
 *
 * Where the time goes: on Zen 3, vpmaddubsw, vpmaddwd and FMA share the two
 * multiply pipes, so the kernels minimise multiply-pipe work per MAC:
 * - Batches (N >= 4) use "panels": 8 activation rows interleaved so that
 *   one 256-bit vector holds 4 consecutive bytes (Q4_0: int8) or 2 int16
 *   (Q8_0) of each of the 8 rows. A weight dword is broadcast and one
 *   vpmaddubsw (32 MACs) / vpmaddwd (16 MACs) yields partial sums for all 8
 *   rows; the block sums come out one row per lane, so the float scaling
 *   (cvt, mul, fma) is paid once per 8 block pairs instead of once per pair.
 *   Q4_0 multiplies its unsigned nibbles q directly (sum q*y - 8*sum y, with
 *   8*sum y stored in the panel) and sums 8 vpmaddubsw results in int16
 *   (|sum| <= 8*2*15*128 < 32768); Q8_0 widens to int16 and uses vpmaddwd
 *   (int8 x int8 products cannot be summed in pairs by vpmaddubsw without
 *   the sign trick, which costs the same and more shuffles).
 *   Weights are unpacked per row chunk into a small stack buffer (Q4_0 to
 *   bytes, Q8_0 to int16, scales to float) and reused by every panel.
 * - N < 4 (decode) uses "row lanes": 8 weight rows against one activation
 *   row, block sums reduced across rows with hadd into one vector.
 */
#include "le_kernels.h"

#include <immintrin.h> /* AVX2, FMA, F16C intrinsics */
#include <math.h>      /* fmaf */

#define LE_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LE_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

enum { LE_Q_Q8_0, LE_Q_Q4_0 };

#define LE_PANEL 8          /* activation rows per panel */
#define LE_PANEL_MIN_N 4    /* below this, row lanes */
#define LE_SEG 32           /* blocks per K segment (weight buffer size) */
#define LE_RCHUNK 16        /* weight rows unpacked at a time */
#define LE_RT 4             /* rows per panel tile */

/* Panel bytes per block: Q4_0 8 dword groups x 8 rows + dy[8] + 8*sum y[8];
 * Q8_0 16 int16-pair groups x 8 rows + dy[8]. */
#define LE_P4_BYTES (8 * 32 + 32 + 32)
#define LE_P8_BYTES (16 * 32 + 32)

LE_AVX2_INLINE float le_h2f(uint16_t h) {
    return _cvtsh_ss(h);
}

static inline size_t le_panel_bytes(const int T) {
    return T == LE_Q_Q4_0 ? LE_P4_BYTES : LE_P8_BYTES;
}

/* ---- activations ---- */

static int64_t le_q_act_unit(int64_t N) {
    return N >= LE_PANEL_MIN_N ? LE_PANEL : 1;
}

static size_t le_q_act_bytes(const int T, int64_t K, int64_t N) {
    int64_t nb = K / LE_QK8_0;
    if (N < LE_PANEL_MIN_N)
        return (size_t)(N * nb) * sizeof(le_block_q8_0);
    return (size_t)((N + LE_PANEL - 1) / LE_PANEL * nb) * le_panel_bytes(T);
}
static size_t le_q8_act_bytes(int64_t K, int64_t N) {
    return le_q_act_bytes(LE_Q_Q8_0, K, N);
}
static size_t le_q4_act_bytes(int64_t K, int64_t N) {
    return le_q_act_bytes(LE_Q_Q4_0, K, N);
}

static size_t le_q_act_row_bytes(int64_t K, int64_t N) {
    return N < LE_PANEL_MIN_N ? (size_t)(K / LE_QK8_0) * sizeof(le_block_q8_0) : 0;
}

/* Panel u: rows 8u..8u+7 of X (missing rows are zero), block by block. */
LE_AVX2_INLINE void le_q_act_panel(const int T, const float *X, uint8_t *P, int64_t K, int64_t N, int64_t u) {
    const int64_t nb = K / LE_QK8_0;
    const size_t pb = le_panel_bytes(T);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = P + (size_t)(u * nb + b) * pb;
        float dy[LE_PANEL];
        int32_t corr[LE_PANEL];
        for (int c = 0; c < LE_PANEL; c++) {
            int64_t n = u * LE_PANEL + c;
            le_block_q8_0 q;
            if (n < N) {
                le_q8_0_from_float_act_avx2(X + n * K + b * LE_QK8_0, &q, LE_QK8_0);
            } else {
                memset(&q, 0, sizeof q);
            }
            dy[c] = le_h2f(q.d);
            int32_t sum = 0;
            for (int j = 0; j < LE_QK8_0; j++)
                sum += q.qs[j];
            corr[c] = 8 * sum;
            if (T == LE_Q_Q4_0) {
                for (int g = 0; g < 8; g++)
                    memcpy(blk + g * 32 + c * 4, q.qs + 4 * g, 4);
            } else {
                for (int g = 0; g < 16; g++) {
                    int16_t pr[2] = {q.qs[2 * g], q.qs[2 * g + 1]};
                    memcpy(blk + g * 32 + c * 4, pr, 4);
                }
            }
        }
        size_t off = T == LE_Q_Q4_0 ? 8 * 32 : 16 * 32;
        memcpy(blk + off, dy, sizeof dy);
        if (T == LE_Q_Q4_0)
            memcpy(blk + off + 32, corr, sizeof corr);
    }
}

LE_AVX2_INLINE void le_q_act_convert(const int T, const float *X, void *A, int64_t K, int64_t N, int64_t u0,
                                     int64_t u1) {
    if (N < LE_PANEL_MIN_N) {
        size_t rb = (size_t)(K / LE_QK8_0) * sizeof(le_block_q8_0);
        for (int64_t n = u0; n < u1; n++)
            le_q8_0_from_float_act_avx2(X + n * K, (char *)A + n * rb, K);
        return;
    }
    for (int64_t u = u0; u < u1; u++)
        le_q_act_panel(T, X, A, K, N, u);
}

LE_AVX2 static void le_q8_act_convert(const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1) {
    le_q_act_convert(LE_Q_Q8_0, X, A, K, N, u0, u1);
}
LE_AVX2 static void le_q4_act_convert(const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1) {
    le_q_act_convert(LE_Q_Q4_0, X, A, K, N, u0, u1);
}

/* ---- weights: unpack a chunk of rows x a segment of blocks ---- */

/* wq: [rows][seg][32] bytes (Q4_0: q in 0..15) or [rows][seg][32] int16
 * (Q8_0); wd: [rows][seg] scales. */
LE_AVX2_INLINE void le_q_unpack(const int T, const struct le_gemm_job *j, int64_t r0, int64_t nr, int64_t b0,
                                int64_t ns, void *wq, float *wd) {
    for (int64_t r = 0; r < nr; r++) {
        const char *row = (const char *)j->W + (r0 + r) * j->w_row_bytes;
        for (int64_t b = 0; b < ns; b++) {
            wd[r * ns + b] = le_h2f(T == LE_Q_Q4_0 ? ((const le_block_q4_0 *)row)[b0 + b].d
                                                    : ((const le_block_q8_0 *)row)[b0 + b].d);
            if (T == LE_Q_Q4_0) {
                __m128i t = _mm_loadu_si128((const __m128i *)((const le_block_q4_0 *)row)[b0 + b].qs);
                __m128i m = _mm_set1_epi8(0x0F);
                uint8_t *o = (uint8_t *)wq + (r * ns + b) * 32;
                _mm_storeu_si128((__m128i *)o, _mm_and_si128(t, m));
                _mm_storeu_si128((__m128i *)(o + 16), _mm_and_si128(_mm_srli_epi16(t, 4), m));
            } else {
                const int8_t *qs = ((const le_block_q8_0 *)row)[b0 + b].qs;
                int16_t *o = (int16_t *)wq + (r * ns + b) * 32;
                _mm256_storeu_si256((__m256i *)o, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)qs)));
                _mm256_storeu_si256((__m256i *)(o + 16),
                                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qs + 16))));
            }
        }
    }
}

/* ---- panel tile: R (<= 4) rows x one panel, over ns blocks ---- */

/* Keeps an integer accumulator chain as written: without it GCC
 * re-associates the sums into a tree and spills every product. */
#define LE_KEEP(v) __asm__("" : "+x"(v))

LE_AVX2_INLINE int32_t le_ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

LE_AVX2_INLINE void le_q_panel_tile(const int T, const int R, const uint8_t *wq, const float *wd, int64_t ns,
                                    const uint8_t *P, __m256 acc[LE_RT]) {
    const size_t pb = le_panel_bytes(T);
    const size_t wb = T == LE_Q_Q4_0 ? 32 : 64; /* unpacked bytes per row-block */
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < ns; b++) {
        const uint8_t *blk = P + b * pb;
        __m256i s[LE_RT];
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) s[r] = _mm256_setzero_si256();
        if (T == LE_Q_Q4_0) {
            _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(blk + g * 32));
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
                    __m256i w = _mm256_set1_epi32(le_ld32(wq + (r * ns + b) * wb + g * 4));
                    s[r] = _mm256_add_epi16(s[r], _mm256_maddubs_epi16(w, a));
                    LE_KEEP(s[r]);
                }
            }
        } else {
            _Pragma("GCC unroll 16") for (int g = 0; g < 16; g++) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(blk + g * 32));
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
                    __m256i w = _mm256_set1_epi32(le_ld32(wq + (r * ns + b) * wb + g * 4));
                    s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(w, a));
                    LE_KEEP(s[r]);
                }
            }
        }
        const size_t off = T == LE_Q_Q4_0 ? 8 * 32 : 16 * 32;
        __m256 dy = _mm256_loadu_ps((const float *)(blk + off));
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
            __m256i si = s[r];
            if (T == LE_Q_Q4_0)
                si = _mm256_sub_epi32(_mm256_madd_epi16(si, ones),
                                      _mm256_loadu_si256((const __m256i *)(blk + off + 32)));
            __m256 d = _mm256_mul_ps(_mm256_set1_ps(wd[r * ns + b]), dy);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(si), acc[r]);
        }
    }
}

/* Y <-> accumulators of R rows x the panel's real rows (first segment starts
 * from zero; later segments continue from the partial sums kept in Y). */
LE_AVX2_INLINE void le_q_acc_io(const struct le_gemm_job *j, int64_t r, int64_t n0, const int R, __m256 acc[LE_RT],
                                int store) {
    int64_t nc = j->N - n0 < LE_PANEL ? j->N - n0 : LE_PANEL;
    for (int i = 0; i < R; i++) {
        float t[LE_PANEL] = {0};
        if (store)
            _mm256_storeu_ps(t, acc[i]);
        for (int64_t c = 0; c < nc; c++) {
            float *y = j->Y + (n0 + c) * j->ldy + r + i;
            if (store)
                *y = t[c];
            else
                t[c] = *y;
        }
        if (!store)
            acc[i] = _mm256_loadu_ps(t);
    }
}

LE_AVX2_INLINE void le_q_panel_rows(const int T, const int R, const struct le_gemm_job *j, int64_t r,
                                    const uint8_t *wq, const float *wd, int64_t b0, int64_t ns) {
    const int64_t nb = j->K / LE_QK8_0, npan = (j->N + LE_PANEL - 1) / LE_PANEL;
    const size_t pb = le_panel_bytes(T);
    for (int64_t p = 0; p < npan; p++) {
        __m256 acc[LE_RT];
        if (b0 == 0) {
            _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
        } else {
            le_q_acc_io(j, r, p * LE_PANEL, R, acc, 0);
        }
        le_q_panel_tile(T, R, wq, wd, ns, (const uint8_t *)j->A + (size_t)(p * nb + b0) * pb, acc);
        le_q_acc_io(j, r, p * LE_PANEL, R, acc, 1);
    }
}

#define LE_Q_ROWS_FN(name, T, R)                                                                            \
    LE_AVX2 static void name(const struct le_gemm_job *j, int64_t r, const uint8_t *wq, const float *wd,   \
                             int64_t b0, int64_t ns) {                                                     \
        le_q_panel_rows(T, R, j, r, wq, wd, b0, ns);                                                       \
    }
LE_Q_ROWS_FN(le_q8_rows4, LE_Q_Q8_0, 4)
LE_Q_ROWS_FN(le_q8_rows1, LE_Q_Q8_0, 1)
LE_Q_ROWS_FN(le_q4_rows4, LE_Q_Q4_0, 4)
LE_Q_ROWS_FN(le_q4_rows1, LE_Q_Q4_0, 1)

typedef void (*le_q_rows_fn)(const struct le_gemm_job *j, int64_t r, const uint8_t *wq, const float *wd,
                             int64_t b0, int64_t ns);

/* Rows [r0, r1) against all panels: unpack LE_RCHUNK rows x LE_SEG blocks
 * at a time, then every panel passes over them in tiles of LE_RT rows. */
LE_AVX2_INLINE void le_q_gemm_panels(const int T, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    _Alignas(32) uint8_t wq[LE_RCHUNK * LE_SEG * 64];
    float wd[LE_RCHUNK * LE_SEG];
    const int64_t nb = j->K / LE_QK8_0;
    const le_q_rows_fn f4 = T == LE_Q_Q4_0 ? le_q4_rows4 : le_q8_rows4;
    const le_q_rows_fn f1 = T == LE_Q_Q4_0 ? le_q4_rows1 : le_q8_rows1;
    const size_t wb = T == LE_Q_Q4_0 ? 32 : 64;
    for (int64_t rc = r0; rc < r1; rc += LE_RCHUNK) {
        int64_t nr = r1 - rc < LE_RCHUNK ? r1 - rc : LE_RCHUNK;
        for (int64_t b0 = 0; b0 < nb; b0 += LE_SEG) {
            int64_t ns = nb - b0 < LE_SEG ? nb - b0 : LE_SEG;
            le_q_unpack(T, j, rc, nr, b0, ns, wq, wd);
            int64_t i = 0;
            for (; i + LE_RT <= nr; i += LE_RT)
                f4(j, rc + i, wq + (size_t)(i * ns) * wb, wd + i * ns, b0, ns);
            for (; i < nr; i++)
                f1(j, rc + i, wq + (size_t)(i * ns) * wb, wd + i * ns, b0, ns);
        }
    }
}

/* ---- row lanes (N < 4): 8 weight rows x 1 activation row ---- */

/* Exact int32 sums of one block pair, 8 lanes (not yet summed). */
LE_AVX2_INLINE __m256i le_q_lanes(const int T, const void *xrow, int64_t b, __m256i y) {
    __m256i w;
    if (T == LE_Q_Q8_0) {
        w = _mm256_loadu_si256((const __m256i *)((const le_block_q8_0 *)xrow)[b].qs);
    } else {
        __m128i t = _mm_loadu_si128((const __m128i *)((const le_block_q4_0 *)xrow)[b].qs);
        w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
        w = _mm256_sub_epi8(w, _mm256_set1_epi8(8));
    }
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

LE_AVX2_INLINE uint16_t le_q_d(const int T, const void *xrow, int64_t b) {
    return T == LE_Q_Q8_0 ? ((const le_block_q8_0 *)xrow)[b].d : ((const le_block_q4_0 *)xrow)[b].d;
}

/* Rows r..r+R-1 (R <= 8) against activation row n. */
LE_AVX2_INLINE void le_q_rowlanes(const int T, const struct le_gemm_job *j, int64_t r, int R, int64_t n) {
    const int64_t nb = j->K / LE_QK8_0;
    const le_block_q8_0 *ya = (const le_block_q8_0 *)((const char *)j->A + n * j->a_row_bytes);
    const char *W = (const char *)j->W + r * j->w_row_bytes;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i y = _mm256_loadu_si256((const __m256i *)ya[b].qs);
        __m256i v[8];
        uint16_t dh[8] = {0};
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
            if (i < R) {
                v[i] = le_q_lanes(T, W + i * j->w_row_bytes, b, y);
                dh[i] = le_q_d(T, W + i * j->w_row_bytes, b);
            } else {
                v[i] = _mm256_setzero_si256();
            }
        }
        __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
        __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
        __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
        __m256 d = _mm256_mul_ps(dx, _mm256_set1_ps(le_h2f(ya[b].d)));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
    }
    float t[8];
    _mm256_storeu_ps(t, acc);
    for (int i = 0; i < R; i++)
        j->Y[n * j->ldy + r + i] = t[i];
}

LE_AVX2_INLINE void le_q_gemm_rowlanes(const int T, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    for (int64_t n = 0; n < j->N; n++)
        for (int64_t r = r0; r < r1; r += 8)
            le_q_rowlanes(T, j, r, r1 - r < 8 ? (int)(r1 - r) : 8, n);
}

LE_AVX2 static void le_gemm_q8_0(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    if (j->N < LE_PANEL_MIN_N)
        le_q_gemm_rowlanes(LE_Q_Q8_0, j, r0, r1);
    else
        le_q_gemm_panels(LE_Q_Q8_0, j, r0, r1);
}

LE_AVX2 static void le_gemm_q4_0(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    if (j->N < LE_PANEL_MIN_N)
        le_q_gemm_rowlanes(LE_Q_Q4_0, j, r0, r1);
    else
        le_q_gemm_panels(LE_Q_Q4_0, j, r0, r1);
}

static const struct le_gemm_impl le_impl_q8_0 = {le_q8_act_bytes, le_q_act_unit, le_q8_act_convert,
                                                 le_q_act_row_bytes, le_gemm_q8_0};
static const struct le_gemm_impl le_impl_q4_0 = {le_q4_act_bytes, le_q_act_unit, le_q4_act_convert,
                                                 le_q_act_row_bytes, le_gemm_q4_0};

const struct le_gemm_impl *le_gemm_impl_avx2_q(int type) {
    switch (type) {
    case LE_TYPE_Q8_0: return &le_impl_q8_0;
    case LE_TYPE_Q4_0: return &le_impl_q4_0;
    default: return NULL;
    }
}

/* ---- vec_dot: the same per-block sequence for one pair of rows ---- */

LE_AVX2_INLINE void le_q_vec_dot(const int T, int n, float *s, const void *x, const void *vy) {
    const le_block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / LE_QK8_0; b++) {
        __m256i v = le_q_lanes(T, x, b, _mm256_loadu_si256((const __m256i *)y[b].qs));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        float d = le_h2f(le_q_d(T, x, b)) * le_h2f(y[b].d);
        acc = fmaf(d, (float)_mm_cvtsi128_si32(h), acc);
    }
    *s = acc;
}

LE_AVX2 void le_vec_dot_q8_0_q8_0_avx2(int n, float *s, const void *x, const void *y) {
    le_q_vec_dot(LE_Q_Q8_0, n, s, x, y);
}

LE_AVX2 void le_vec_dot_q4_0_q8_0_avx2(int n, float *s, const void *x, const void *y) {
    le_q_vec_dot(LE_Q_Q4_0, n, s, x, y);
}
