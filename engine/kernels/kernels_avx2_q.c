/*
 * kernels_avx2_q: AVX2 matmul and dot kernels for the 32-block quantized
 * weights: Q8_0, Q4_0, Q5_0 (against Q8_0 activations) and Q4_1, Q5_1
 * (against Q8_1 activations, whose s = F16(d * sum q) multiplies the weight
 * block's minimum m).
 *
 * Per-element arithmetic (shared by every path here, so results never
 * depend on N, tiling or threads): for each block b in order the exact
 * integer s_b = sum_j w_j y_j, then acc = fmaf(dx_b * dy_b, (float)s_b, acc),
 * and for Q4_1/Q5_1 then acc = fmaf(m_b, s_y_b, acc); from acc = 0. (ggml's
 * scalar vec_dot adds the same terms unfused: one or two roundings per block
 * apart.)
 *
 * Where the time goes: on Zen 3, vpmaddubsw, vpmaddwd and FMA share the two
 * multiply pipes, so the kernels minimise multiply-pipe work per MAC:
 * - Batches (N >= 4) use "panels": 8 activation rows interleaved so that
 *   one 256-bit vector holds 4 consecutive int8 ("byte" panels) or 2 int16
 *   ("word" panels) of each of the 8 rows. A weight dword is broadcast and
 *   one vpmaddubsw (32 MACs) / vpmaddwd (16 MACs) yields partial sums for all
 *   8 rows; the block sums come out one row per lane, so the float scaling
 *   (cvt, mul, fma) is paid once per 8 block pairs instead of once per pair.
 *   Byte panels (Q4_0, Q4_1) multiply unsigned nibbles q directly and sum 8
 *   vpmaddubsw results in int16 (|sum| <= 8*2*15*128 < 32768); Q4_0 then
 *   subtracts 8*sum y, stored in the panel. Word panels (Q8_0, Q5_0, Q5_1)
 *   widen weights to int16 and use vpmaddwd (int8 x int8 pairs overflow
 *   vpmaddubsw's int16 without the sign trick, which costs the same).
 *   Weights are unpacked per row chunk into a small stack buffer (bytes or
 *   int16, scales and minima to float) and reused by every panel.
 * - N < 4 (decode) uses "row lanes": 8 weight rows against one activation
 *   row, block sums reduced across rows with hadd into one vector; Q4_0 and
 *   Q8_0 take the decode kernels of kernels_gemv.c instead.
 */
#include "le_kernels.h"

#include "kernels_avx2_inl.h" /* LE_AVX2, le_tr8x8 */

#include <math.h> /* fmaf */

enum { LE_Q_Q8_0, LE_Q_Q4_0, LE_Q_Q5_0, LE_Q_Q4_1, LE_Q_Q5_1 };

#define LE_BYTE(T) ((T) == LE_Q_Q4_0 || (T) == LE_Q_Q4_1) /* byte panels */
#define LE_HAS_M(T) ((T) == LE_Q_Q4_1 || (T) == LE_Q_Q5_1) /* Q8_1 activations */

#define LE_PANEL 8       /* activation rows per panel */
#define LE_PANEL_MIN_N 4 /* below this, row lanes */
#define LE_SEG 32        /* blocks per K segment (weight buffer size) */
#define LE_RCHUNK 16     /* weight rows unpacked at a time */
#define LE_RT 4          /* rows per panel tile */

/* Panel block: quants (byte: 8 dword groups x 8 rows; word: 16 int16-pair
 * groups x 8 rows), then dy[8] floats, then ex[8]: Q4_0 8*sum y (int32),
 * Q4_1/Q5_1 s (float), else unused. */
static inline size_t le_panel_qbytes(const int T) {
    return LE_BYTE(T) ? 8 * 32 : 16 * 32;
}
static inline size_t le_panel_bytes(const int T) {
    return le_panel_qbytes(T) + 64;
}
/* Row-major activation block: Q8_0 or Q8_1. */
static inline size_t le_act_blk(const int T) {
    return LE_HAS_M(T) ? sizeof(le_block_q8_1) : sizeof(le_block_q8_0);
}

LE_AVX2_INLINE float le_h2f(uint16_t h) {
    return _cvtsh_ss(h);
}

/* ---- block access ---- */

struct le_qblk {
    uint16_t d, m;      /* m: Q4_1/Q5_1 only */
    const uint8_t *qs;  /* 16 nibble bytes, or 32 int8 (Q8_0) */
    const uint8_t *qh;  /* Q5_*: 5th bits */
};

LE_AVX2_INLINE struct le_qblk le_qblk_at(const int T, const void *row, int64_t b) {
    struct le_qblk k = {0, 0, NULL, NULL};
    if (T == LE_Q_Q8_0) {
        const le_block_q8_0 *x = (const le_block_q8_0 *)row + b;
        k.d = x->d, k.qs = (const uint8_t *)x->qs;
    } else if (T == LE_Q_Q4_0) {
        const le_block_q4_0 *x = (const le_block_q4_0 *)row + b;
        k.d = x->d, k.qs = x->qs;
    } else if (T == LE_Q_Q5_0) {
        const le_block_q5_0 *x = (const le_block_q5_0 *)row + b;
        k.d = x->d, k.qs = x->qs, k.qh = x->qh;
    } else if (T == LE_Q_Q4_1) {
        const le_block_q4_1 *x = (const le_block_q4_1 *)row + b;
        k.d = x->d, k.m = x->m, k.qs = x->qs;
    } else {
        const le_block_q5_1 *x = (const le_block_q5_1 *)row + b;
        k.d = x->d, k.m = x->m, k.qs = x->qs, k.qh = x->qh;
    }
    return k;
}

/* 32 quants of a block as int8, in element order: Q8_0 w, Q4_0 q-8,
 * Q5_0 q-16, Q4_1/Q5_1 q (unsigned, < 32). */
LE_AVX2_INLINE __m256i le_q_bytes(const int T, struct le_qblk k) {
    if (T == LE_Q_Q8_0)
        return _mm256_loadu_si256((const __m256i *)k.qs);
    __m128i t = _mm_loadu_si128((const __m128i *)k.qs);
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
    if (T == LE_Q_Q5_0 || T == LE_Q_Q5_1) { /* byte j |= (bit j of qh) << 4 */
        uint32_t h;
        memcpy(&h, k.qh, 4);
        const __m256i sh = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                            3, 3, 3, 3, 3, 3, 3, 3);
        const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
        __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), sh);
        v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
        q = _mm256_or_si256(q, _mm256_and_si256(v, _mm256_set1_epi8(0x10)));
    }
    if (T == LE_Q_Q4_0)
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(8));
    if (T == LE_Q_Q5_0)
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
    return q;
}

/* Exact int32 sums of one block pair in 8 lanes (not yet summed). */
LE_AVX2_INLINE __m256i le_q_lanes(const int T, __m256i w, __m256i y) {
    __m256i p;
    if (LE_HAS_M(T)) /* unsigned weights: pairs <= 2*31*128 */
        p = _mm256_maddubs_epi16(w, y);
    else
        p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Activation block b of a row-major act row: quants, d and (Q8_1) s. */
LE_AVX2_INLINE const int8_t *le_act_at(const int T, const void *row, int64_t b, uint16_t *d, uint16_t *s) {
    if (LE_HAS_M(T)) {
        const le_block_q8_1 *y = (const le_block_q8_1 *)row + b;
        *d = y->d, *s = y->s;
        return y->qs;
    }
    const le_block_q8_0 *y = (const le_block_q8_0 *)row + b;
    *d = y->d, *s = 0;
    return y->qs;
}

/* ---- activations ---- */

static int64_t le_q_act_unit(int64_t N) {
    return N >= LE_PANEL_MIN_N ? LE_PANEL : 1;
}

static size_t le_q_act_row_bytes(const int T, int64_t K, int64_t N) {
    return N < LE_PANEL_MIN_N ? (size_t)(K / LE_QK8_0) * le_act_blk(T) : 0;
}

static size_t le_q_act_bytes(const int T, int64_t K, int64_t N) {
    int64_t nb = K / LE_QK8_0;
    if (N < LE_PANEL_MIN_N)
        return (size_t)(N * nb) * le_act_blk(T);
    return (size_t)((N + LE_PANEL - 1) / LE_PANEL * nb) * le_panel_bytes(T);
}

/* Panel u: rows 8u..8u+7 of X (missing rows are zero), block by block:
 * each row's block quantized as ggml's CPU backend does, then the 8 rows
 * interleaved by 8x8 dword transposes. */
LE_AVX2_INLINE void le_q_act_panel(const int T, const float *X, uint8_t *P, int64_t K, int64_t N, int64_t u) {
    const int64_t nb = K / LE_QK8_0;
    const size_t pb = le_panel_bytes(T), qb = le_panel_qbytes(T);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = P + (size_t)(u * nb + b) * pb;
        _Alignas(32) int8_t qs[LE_PANEL][32];
        float dy[LE_PANEL], ex[LE_PANEL];
        int32_t corr[LE_PANEL];
        for (int c = 0; c < LE_PANEL; c++) {
            int64_t n = u * LE_PANEL + c;
            int32_t sum = 0;
            if (n < N) {
                float d = le_q8_act_block_avx2(X + n * K + b * LE_QK8_0, qs[c], &sum);
                uint16_t dh = _cvtss_sh(d, 0);
                dy[c] = le_h2f(dh);
                ex[c] = le_h2f(_cvtss_sh(d * (float)sum, 0)); /* Q8_1's s */
            } else {
                memset(qs[c], 0, 32);
                dy[c] = ex[c] = 0.0f;
            }
            corr[c] = 8 * sum;
        }
        __m256i v[8];
        if (LE_BYTE(T)) {
            for (int c = 0; c < 8; c++)
                v[c] = _mm256_load_si256((const __m256i *)qs[c]);
            le_tr8x8(v);
            for (int g = 0; g < 8; g++)
                _mm256_storeu_si256((__m256i *)(blk + g * 32), v[g]);
        } else {
            for (int half = 0; half < 2; half++) {
                for (int c = 0; c < 8; c++)
                    v[c] = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(qs[c] + 16 * half)));
                le_tr8x8(v);
                for (int g = 0; g < 8; g++)
                    _mm256_storeu_si256((__m256i *)(blk + (8 * half + g) * 32), v[g]);
            }
        }
        memcpy(blk + qb, dy, sizeof dy);
        if (T == LE_Q_Q4_0)
            memcpy(blk + qb + 32, corr, sizeof corr);
        else
            memcpy(blk + qb + 32, ex, sizeof ex);
    }
}

LE_AVX2_INLINE void le_q_act_convert(const int T, const float *X, void *A, int64_t K, int64_t N, int64_t u0,
                                     int64_t u1) {
    if (N < LE_PANEL_MIN_N) {
        size_t rb = le_q_act_row_bytes(T, K, N);
        for (int64_t n = u0; n < u1; n++) {
            if (LE_HAS_M(T))
                le_q8_1_from_float_act_avx2(X + n * K, (char *)A + n * rb, K);
            else
                le_q8_0_from_float_act_avx2(X + n * K, (char *)A + n * rb, K);
        }
        return;
    }
    for (int64_t u = u0; u < u1; u++)
        le_q_act_panel(T, X, A, K, N, u);
}

/* ---- weights: unpack a chunk of rows x a segment of blocks ---- */

/* wq: [rows][seg] x 32 bytes (byte panels: q unsigned) or 32 int16 (word
 * panels: the signed values of le_q_bytes); wd, wm: [rows][seg] d and m. */
LE_AVX2_INLINE void le_q_unpack(const int T, const struct le_gemm_job *j, int64_t r0, int64_t nr, int64_t b0,
                                int64_t ns, void *wq, float *wd, float *wm) {
    for (int64_t r = 0; r < nr; r++) {
        const char *row = (const char *)j->W + (r0 + r) * j->w_row_bytes;
        for (int64_t b = 0; b < ns; b++) {
            struct le_qblk k = le_qblk_at(T, row, b0 + b);
            wd[r * ns + b] = le_h2f(k.d);
            wm[r * ns + b] = le_h2f(k.m);
            __m256i q = le_q_bytes(T, k);
            if (T == LE_Q_Q4_0) /* byte panels multiply q, not q - 8 */
                q = _mm256_add_epi8(q, _mm256_set1_epi8(8));
            if (LE_BYTE(T)) {
                _mm256_storeu_si256((__m256i *)((uint8_t *)wq + (r * ns + b) * 32), q);
            } else {
                int16_t *o = (int16_t *)wq + (r * ns + b) * 32;
                _mm256_storeu_si256((__m256i *)o, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)));
                _mm256_storeu_si256((__m256i *)(o + 16), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)));
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

LE_AVX2_INLINE void le_q_panel_tile(const int T, const int R, const uint8_t *wq, const float *wd, const float *wm,
                                    int64_t ns, const uint8_t *P, __m256 acc[LE_RT]) {
    const size_t pb = le_panel_bytes(T), qb = le_panel_qbytes(T);
    const size_t wb = LE_BYTE(T) ? 32 : 64; /* unpacked bytes per row-block */
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < ns; b++) {
        const uint8_t *blk = P + b * pb;
        __m256i s[LE_RT];
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) s[r] = _mm256_setzero_si256();
        if (LE_BYTE(T)) {
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
        __m256 dy = _mm256_loadu_ps((const float *)(blk + qb));
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
            __m256i si = s[r];
            if (LE_BYTE(T))
                si = _mm256_madd_epi16(si, ones);
            if (T == LE_Q_Q4_0)
                si = _mm256_sub_epi32(si, _mm256_loadu_si256((const __m256i *)(blk + qb + 32)));
            __m256 d = _mm256_mul_ps(_mm256_set1_ps(wd[r * ns + b]), dy);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(si), acc[r]);
            if (LE_HAS_M(T))
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(wm[r * ns + b]),
                                         _mm256_loadu_ps((const float *)(blk + qb + 32)), acc[r]);
        }
    }
}

LE_AVX2_INLINE void le_q_panel_rows(const int T, const int R, const struct le_gemm_job *j, int64_t r,
                                    const uint8_t *wq, const float *wd, const float *wm, int64_t b0, int64_t ns) {
    const int64_t nb = j->K / LE_QK8_0, npan = (j->N + LE_PANEL - 1) / LE_PANEL;
    const size_t pb = le_panel_bytes(T);
    for (int64_t p = 0; p < npan; p++) {
        __m256 acc[LE_RT];
        if (b0 == 0) {
            _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
        } else {
            le_panel8_acc_io(j, r, p * LE_PANEL, R, acc, 0);
        }
        le_q_panel_tile(T, R, wq, wd, wm, ns, (const uint8_t *)j->A + (size_t)(p * nb + b0) * pb, acc);
        le_panel8_acc_io(j, r, p * LE_PANEL, R, acc, 1);
    }
}

typedef void (*le_q_rows_fn)(const struct le_gemm_job *j, int64_t r, const uint8_t *wq, const float *wd,
                             const float *wm, int64_t b0, int64_t ns);

/* Rows [r0, r1) against all panels: unpack LE_RCHUNK rows x LE_SEG blocks
 * at a time, then every panel passes over them in tiles of LE_RT rows. */
LE_AVX2_INLINE void le_q_gemm_panels(const int T, le_q_rows_fn f4, le_q_rows_fn f1, const struct le_gemm_job *j,
                                     int64_t r0, int64_t r1) {
    _Alignas(32) uint8_t wq[LE_RCHUNK * LE_SEG * 64];
    float wd[LE_RCHUNK * LE_SEG], wm[LE_RCHUNK * LE_SEG];
    const int64_t nb = j->K / LE_QK8_0;
    const size_t wb = LE_BYTE(T) ? 32 : 64;
    for (int64_t rc = r0; rc < r1; rc += LE_RCHUNK) {
        int64_t nr = r1 - rc < LE_RCHUNK ? r1 - rc : LE_RCHUNK;
        for (int64_t b0 = 0; b0 < nb; b0 += LE_SEG) {
            int64_t ns = nb - b0 < LE_SEG ? nb - b0 : LE_SEG;
            le_q_unpack(T, j, rc, nr, b0, ns, wq, wd, wm);
            int64_t i = 0;
            for (; i + LE_RT <= nr; i += LE_RT)
                f4(j, rc + i, wq + (size_t)(i * ns) * wb, wd + i * ns, wm + i * ns, b0, ns);
            for (; i < nr; i++)
                f1(j, rc + i, wq + (size_t)(i * ns) * wb, wd + i * ns, wm + i * ns, b0, ns);
        }
    }
}

/* ---- row lanes (N < 4): 8 weight rows x 1 activation row ---- */

/* Rows r..r+R-1 (R <= 8) against activation row n. */
LE_AVX2_INLINE void le_q_rowlanes(const int T, const struct le_gemm_job *j, int64_t r, int R, int64_t n) {
    const int64_t nb = j->K / LE_QK8_0;
    const char *arow = (const char *)j->A + n * j->a_row_bytes;
    const char *W = (const char *)j->W + r * j->w_row_bytes;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        uint16_t dyh, syh;
        __m256i y = _mm256_loadu_si256((const __m256i *)le_act_at(T, arow, b, &dyh, &syh));
        __m256i v[8];
        uint16_t dh[8] = {0}, mh[8] = {0};
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
            if (i < R) {
                struct le_qblk k = le_qblk_at(T, W + i * j->w_row_bytes, b);
                v[i] = le_q_lanes(T, le_q_bytes(T, k), y);
                dh[i] = k.d, mh[i] = k.m;
            } else {
                v[i] = _mm256_setzero_si256();
            }
        }
        __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
        __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
        __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
        __m256 d = _mm256_mul_ps(dx, _mm256_set1_ps(le_h2f(dyh)));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
        if (LE_HAS_M(T))
            acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)mh)), _mm256_set1_ps(le_h2f(syh)),
                                  acc);
    }
    float t[8];
    _mm256_storeu_ps(t, acc);
    for (int i = 0; i < R; i++)
        j->Y[n * j->ldy + r + i] = t[i];
}

LE_AVX2_INLINE void le_q_gemm_rowlanes(const int T, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    if ((T == LE_Q_Q4_0 && le_gemv_q4_0_avx2(j, r0, r1)) || (T == LE_Q_Q8_0 && le_gemv_q8_0_avx2(j, r0, r1)))
        return; /* decode kernels (kernels_gemv.c) */
    for (int64_t n = 0; n < j->N; n++)
        for (int64_t r = r0; r < r1; r += 8)
            le_q_rowlanes(T, j, r, r1 - r < 8 ? (int)(r1 - r) : 8, n);
}

/* ---- vec_dot: the same per-block sequence for one pair of rows ---- */

LE_AVX2_INLINE void le_q_vec_dot(const int T, int n, float *s, const void *x, const void *vy) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / LE_QK8_0; b++) {
        uint16_t dyh, syh;
        __m256i y = _mm256_loadu_si256((const __m256i *)le_act_at(T, vy, b, &dyh, &syh));
        struct le_qblk k = le_qblk_at(T, x, b);
        __m256i v = le_q_lanes(T, le_q_bytes(T, k), y);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        acc = fmaf(le_h2f(k.d) * le_h2f(dyh), (float)_mm_cvtsi128_si32(h), acc);
        if (LE_HAS_M(T))
            acc = fmaf(le_h2f(k.m), le_h2f(syh), acc);
    }
    *s = acc;
}

/* ---- per-type instances ---- */

/* XQ: 1 (Q8_0) or 0 (Q4_0) when batches may take the AVX-512 VNNI path
 * (kernels_x512_q.c, chosen per call by le_x512q_use), -1 never. */
#define LE_Q_TYPE(name, T, XQ)                                                                                 \
    static int le_##name##_x512(int64_t N) {                                                                   \
        return XQ >= 0 && le_x512q_use(N);                                                                     \
    }                                                                                                          \
    static size_t le_##name##_act_bytes(int64_t K, int64_t N) {                                                \
        return le_##name##_x512(N) ? le_x512q_act_bytes(K, N) : le_q_act_bytes(T, K, N);                       \
    }                                                                                                          \
    static int64_t le_##name##_act_unit(int64_t N) {                                                           \
        return le_##name##_x512(N) ? le_x512q_act_unit() : le_q_act_unit(N);                                   \
    }                                                                                                          \
    static size_t le_##name##_act_row_bytes(int64_t K, int64_t N) {                                            \
        return le_q_act_row_bytes(T, K, N);                                                                    \
    }                                                                                                          \
    LE_AVX2 static void le_##name##_act_convert(const float *X, void *A, int64_t K, int64_t N, int64_t u0,      \
                                                int64_t u1) {                                                  \
        if (le_##name##_x512(N))                                                                               \
            le_x512q_act_convert(XQ, X, A, K, N, u0, u1);                                                      \
        else                                                                                                   \
            le_q_act_convert(T, X, A, K, N, u0, u1);                                                           \
    }                                                                                                          \
    LE_AVX2 static void le_##name##_rows4(const struct le_gemm_job *j, int64_t r, const uint8_t *wq,           \
                                          const float *wd, const float *wm, int64_t b0, int64_t ns) {          \
        le_q_panel_rows(T, LE_RT, j, r, wq, wd, wm, b0, ns);                                                   \
    }                                                                                                          \
    LE_AVX2 static void le_##name##_rows1(const struct le_gemm_job *j, int64_t r, const uint8_t *wq,           \
                                          const float *wd, const float *wm, int64_t b0, int64_t ns) {          \
        le_q_panel_rows(T, 1, j, r, wq, wd, wm, b0, ns);                                                       \
    }                                                                                                          \
    LE_AVX2 static void le_##name##_gemm(const struct le_gemm_job *j, int64_t r0, int64_t r1) {                \
        if (j->N < LE_PANEL_MIN_N)                                                                             \
            le_q_gemm_rowlanes(T, j, r0, r1);                                                                  \
        else if (le_##name##_x512(j->N))                                                                       \
            le_x512q_gemm(XQ, j, r0, r1);                                                                      \
        else                                                                                                   \
            le_q_gemm_panels(T, le_##name##_rows4, le_##name##_rows1, j, r0, r1);                              \
    }                                                                                                          \
    const struct le_gemm_impl le_gemm_avx2_##name = {le_##name##_act_bytes, le_##name##_act_unit,             \
                                                     le_##name##_act_convert, le_##name##_act_row_bytes,       \
                                                     le_##name##_gemm, NULL};

LE_Q_TYPE(q8_0, LE_Q_Q8_0, 1)
LE_Q_TYPE(q4_0, LE_Q_Q4_0, 0)
LE_Q_TYPE(q5_0, LE_Q_Q5_0, -1)
LE_Q_TYPE(q4_1, LE_Q_Q4_1, -1)
LE_Q_TYPE(q5_1, LE_Q_Q5_1, -1)

LE_AVX2 void le_vec_dot_q8_0_q8_0_avx2(int n, float *s, const void *x, const void *y) {
    le_q_vec_dot(LE_Q_Q8_0, n, s, x, y);
}
LE_AVX2 void le_vec_dot_q4_0_q8_0_avx2(int n, float *s, const void *x, const void *y) {
    le_q_vec_dot(LE_Q_Q4_0, n, s, x, y);
}
LE_AVX2 void le_vec_dot_q5_0_q8_0_avx2(int n, float *s, const void *x, const void *y) {
    le_q_vec_dot(LE_Q_Q5_0, n, s, x, y);
}
LE_AVX2 void le_vec_dot_q4_1_q8_1_avx2(int n, float *s, const void *x, const void *y) {
    le_q_vec_dot(LE_Q_Q4_1, n, s, x, y);
}
LE_AVX2 void le_vec_dot_q5_1_q8_1_avx2(int n, float *s, const void *x, const void *y) {
    le_q_vec_dot(LE_Q_Q5_1, n, s, x, y);
}
