/*
 * kernels_avx2: AVX2+FMA+F16C kernels for float weights (F32, F16, BF16) and
 * the conversions, compiled per function with
 * __attribute__((target)) so the build needs no special flags; callers check
 * le_cpu_avx2() (le_cpu.h) at run time first.
 *
 * Per-element arithmetic (the contract that makes matmul results
 * independent of N, tiling and threads; vec_dot does exactly the same):
 *   F32/F16/BF16, K elements: one 8-lane float accumulator, acc = fma(w[k..k+8],
 *     a[k..k+8], acc) for each full group of 8 in order; then the fixed tree
 *     ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7)); then s = fmaf(w[k], a[k], s) for
 *     the K % 8 tail in order. Activations of F16/BF16 are rounded to the
 *     type first (the gemm keeps them as exactly representable floats).
 *   (Quantized weights: kernels_avx2_q.c.)
 * The gemm tiles R rows of W x C activation rows: each weight load is reused
 * C times, each activation load R times, and R*C accumulators hide the FMA
 * latency. Tile reductions run four accumulators through the tree at once
 * with hadd, which yields the same per-element tree.
 *
 * Workload: prompt processing, N = 64..512 activation rows against weight
 * matrices of 288..32000 rows and K = 288..11008.
 *
 * Batches on a CPU with AVX-512F run on le_sgemm's inference form (sgemm.c:
 * the same 8 lane chains per element, a weight row's 8 lanes side by side
 * in one vector), over the activations copied into padded rows.
 */
#include "le_cpu.h" /* le_cpu_has */
#include "le_kernels.h"
#include "le_sgemm.h" /* le_sgemm_l8_*: batches on AVX-512 */

#include <immintrin.h> /* AVX2, FMA, F16C intrinsics */
#include <math.h>      /* fmaf */
#include <string.h>    /* memcpy */

#define LE_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LE_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

enum { LE_K_F32, LE_K_F16, LE_K_BF16 };

/* ---- small helpers ---- */

LE_AVX2_INLINE float le_h2f(uint16_t h) {
    return _cvtsh_ss(h);
}

/* Canonical tree for 4 accumulators at once: out[i] = tree(v_i). */
LE_AVX2_INLINE __m128 le_hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

LE_AVX2_INLINE float le_hsum1(__m256 a) {
    __m256 h = _mm256_hadd_ps(a, a);
    h = _mm256_hadd_ps(h, h);
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

/* Eight weights of a float-like type, widened to float. */
LE_AVX2_INLINE __m256 le_ldw(const int T, const void *p, int64_t k) {
    if (T == LE_K_F32)
        return _mm256_loadu_ps((const float *)p + k);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + k));
    if (T == LE_K_F16)
        return _mm256_cvtph_ps(h);
    /* bf16 i -> high half of float lane i: one in-lane byte shuffle of the
     * 16 bytes broadcast to both halves (cheaper than vpmovzxwd + vpslld) */
    const __m256i m = _mm256_setr_epi8(-1, -1, 0, 1, -1, -1, 2, 3, -1, -1, 4, 5, -1, -1, 6, 7,
                                       -1, -1, 8, 9, -1, -1, 10, 11, -1, -1, 12, 13, -1, -1, 14, 15);
    return _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_broadcastsi128_si256(h), m));
}

LE_AVX2_INLINE float le_ldw1(const int T, const void *p, int64_t k) {
    if (T == LE_K_F32)
        return ((const float *)p)[k];
    if (T == LE_K_F16)
        return le_h2f(((const uint16_t *)p)[k]);
    return le_f32_from_bits((uint32_t)((const uint16_t *)p)[k] << 16); /* inline: no call in tiles */
}

/* ---- tiles ---- */

#define LE_MAXR 8
#define LE_MAXC 4

/* Reduces acc[0..R)[c] and adds the float-type K tail; stores Y. */
LE_AVX2_INLINE void le_tile_store(const struct le_gemm_job *j, __m256 acc[LE_MAXR][LE_MAXC],
                                  int64_t r0, int64_t n0, const int R, const int C, const int T,
                                  const char *W, const float *A, size_t lda) {
    const int64_t K = j->K, K8 = K & ~(int64_t)7;
    _Pragma("GCC unroll 8")
    for (int c = 0; c < C; c++) {
        float *y = j->Y + (n0 + c) * j->ldy + r0;
        _Pragma("GCC unroll 8")
        for (int r = 0; r < R; r += 4) {
            __m256 z = _mm256_setzero_ps();
            __m128 s4 = le_hsum4(acc[r][c], r + 1 < R ? acc[r + 1][c] : z,
                                 r + 2 < R ? acc[r + 2][c] : z, r + 3 < R ? acc[r + 3][c] : z);
            if (r + 4 <= R && K8 == K) { /* no K tail: the 4 sums go out as one vector */
                _mm_storeu_ps(y + r, s4);
                continue;
            }
            float s[4];
            _mm_storeu_ps(s, s4);
            _Pragma("GCC unroll 8")
            for (int i = 0; i < 4; i++) {
                if (r + i >= R)
                    continue;
                if (T <= LE_K_BF16)
                    for (int64_t k = K8; k < K; k++)
                        s[i] = fmaf(le_ldw1(T, W + (r + i) * j->w_row_bytes, k), A[c * lda + k], s[i]);
                y[r + i] = s[i];
            }
        }
    }
}

/* Float-like weights (F32/F16/BF16) x float activations, R x C tile. */
LE_AVX2_INLINE void le_ftile(const struct le_gemm_job *j, int64_t r0, int64_t n0, const int T,
                             const int R, const int C) {
    const int64_t K8 = j->K & ~(int64_t)7;
    const size_t wrb = j->w_row_bytes, lda = j->a_row_bytes / sizeof(float);
    const char *W = (const char *)j->W + r0 * wrb;
    const float *A = (const float *)((const char *)j->A + n0 * j->a_row_bytes);
    __m256 acc[LE_MAXR][LE_MAXC];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K8; k += 8) {
        __m256 a[LE_MAXC];
        _Pragma("GCC unroll 8")
        for (int c = 0; c < C; c++)
            a[c] = _mm256_loadu_ps(A + c * lda + k);
        _Pragma("GCC unroll 8")
        for (int r = 0; r < R; r++) {
            __m256 w = le_ldw(T, W + r * wrb, k);
            _Pragma("GCC unroll 8")
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_fmadd_ps(w, a[c], acc[r][c]);
        }
    }
    le_tile_store(j, acc, r0, n0, R, C, T, W, A, lda);
}

/* ---- gemm drivers: blocking over activation columns, tiles inside ---- */

/* _run: full tiles of rows [r, r+RT) x columns [n, n1) in one call (the
 * per-call register setup and spills cost ~15% of a tile at K = 288). */
#define LE_TILE_FNS(name, body, T, RT, CT)                                                        \
    LE_AVX2 static void name##_run(const struct le_gemm_job *j, int64_t r, int64_t n, int64_t n1) { \
        for (; n + CT <= n1; n += CT)                                                             \
            body(j, r, n, T, RT, CT);                                                             \
    }                                                                                             \
    LE_AVX2 static void name##_main(const struct le_gemm_job *j, int64_t r, int64_t n) {          \
        body(j, r, n, T, RT, CT);                                                                 \
    }                                                                                             \
    LE_AVX2 static void name##_rowedge(const struct le_gemm_job *j, int64_t r, int64_t n) {       \
        body(j, r, n, T, 1, CT);                                                                  \
    }                                                                                             \
    LE_AVX2 static void name##_coledge(const struct le_gemm_job *j, int64_t r, int64_t n) {       \
        body(j, r, n, T, RT, 1);                                                                  \
    }                                                                                             \
    LE_AVX2 static void name##_one(const struct le_gemm_job *j, int64_t r, int64_t n) {           \
        body(j, r, n, T, 1, 1);                                                                   \
    }                                                                                             \
    LE_AVX2 static void name##_gemv(const struct le_gemm_job *j, int64_t r, int64_t n) {          \
        body(j, r, n, T, 8, 1);                                                                   \
    }                                                                                             \
    static const struct le_tileset name = {RT, CT, name##_run, name##_main, name##_rowedge, name##_coledge, \
                                           name##_one, name##_gemv};

typedef void (*le_tile_fn)(const struct le_gemm_job *j, int64_t r, int64_t n);

struct le_tileset {
    int rt, ct;
    void (*run)(const struct le_gemm_job *j, int64_t r, int64_t n, int64_t n1);
    le_tile_fn main, rowedge, coledge, one, gemv;
};

LE_TILE_FNS(le_ts_f32, le_ftile, LE_K_F32, 4, 3)
LE_TILE_FNS(le_ts_f16, le_ftile, LE_K_F16, 4, 3)
LE_TILE_FNS(le_ts_bf16, le_ftile, LE_K_BF16, 4, 3)

/* Rows [r0, r1) x all N columns, columns blocked so a block of activations
 * stays in L2 while every row tile of the range passes over it. */
static void le_gemm_tiles(const struct le_tileset *ts, const struct le_gemm_job *j, int64_t r0,
                          int64_t r1) {
    const int64_t N = j->N;
    if (N == 1) {
        int64_t r = r0;
        for (; r + 8 <= r1; r += 8)
            ts->gemv(j, r, 0);
        for (; r < r1; r++)
            ts->one(j, r, 0);
        return;
    }
    int64_t nbk = (int64_t)(192 * 1024 / (j->a_row_bytes ? j->a_row_bytes : 1));
    nbk = nbk / ts->ct * ts->ct;
    if (nbk < ts->ct)
        nbk = ts->ct;
    for (int64_t n0 = 0; n0 < N; n0 += nbk) {
        int64_t n1 = n0 + nbk < N ? n0 + nbk : N;
        int64_t r = r0;
        for (; r + ts->rt <= r1; r += ts->rt) {
            int64_t n = n0 + (n1 - n0) / ts->ct * ts->ct;
            ts->run(j, r, n0, n);
            for (; n < n1; n++)
                ts->coledge(j, r, n);
        }
        for (; r < r1; r++) {
            int64_t n = n0;
            for (; n + ts->ct <= n1; n += ts->ct)
                ts->rowedge(j, r, n);
            for (; n < n1; n++)
                ts->one(j, r, n);
        }
    }
}

/* ---- batches on AVX-512: le_sgemm's inference form (sgemm.c) ----
 * The 8-lane contract above is le_sgemm.h's inference form, so batches run
 * on its micro-kernel (6 tokens x 8 weight rows, the 8 lanes of each row
 * side by side; B packed per 64 weight rows and widened once per batch)
 * with bit-identical results, X read in place from the padded rows; F16
 * weights on its pair form (12 tokens x 4 weight rows, X converted into
 * pairs of rows by le_act_f16). */

static int le_l8_use(int64_t K, int64_t N) {
    return N >= 4 && K >= 8 && le_cpu_has(LE_CPU_AVX512);
}

/* No memory for the batch's partial sums: rows of X six at a time (the
 * least work buffer, on this frame only). */
__attribute__((noinline)) static void le_l8_gemm_small(const struct le_sgemm_l8_op *op, int64_t r0, int64_t r1) {
    _Alignas(64) char small[LE_SGEMM_L8_WORK_MIN];
    le_sgemm_l8_rect(LE_SGEMM_AVX512, op, r0, r1, small, sizeof small);
}

static void le_l8_gemm(int T, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    const int bt = T == LE_K_F32 ? LE_SGEMM_F32 : T == LE_K_F16 ? LE_SGEMM_F16 : LE_SGEMM_BF16;
    const struct le_sgemm_l8_op op = {.M = j->N, .N = r1, .K = j->K, .A = j->A,
                                      .lda = (int64_t)(j->a_row_bytes / sizeof(float)),
                                      .xpairs = T == LE_K_F16, /* le_act_f16's pairs */
                                      .btype = bt, .W = j->W,
                                      .ldw = (int64_t)(j->w_row_bytes / (T == LE_K_F32 ? 4 : 2)), .Y = j->Y,
                                      .ldy = j->ldy};
    if (j->work && j->work_bytes >= LE_SGEMM_L8_WORK_MIN)
        le_sgemm_l8_rect(LE_SGEMM_AVX512, &op, r0, r1, j->work, j->work_bytes);
    else
        le_l8_gemm_small(&op, r0, r1);
}

static size_t le_l8_work_bytes(int64_t K, int64_t N) {
    return le_l8_use(K, N) ? le_sgemm_l8_work_bytes(N) : 0;
}

static void le_gemm_f32(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    if (j->N == 1)
        le_gemv_f32_avx2(j, r0, r1); /* decode: kernels_gemv.c */
    else if (le_l8_use(j->K, j->N))
        le_l8_gemm(LE_K_F32, j, r0, r1);
    else
        le_gemm_tiles(&le_ts_f32, j, r0, r1);
}
static void le_gemm_f16(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    if (le_l8_use(j->K, j->N))
        le_l8_gemm(LE_K_F16, j, r0, r1);
    else
        le_gemm_tiles(&le_ts_f16, j, r0, r1);
}
static void le_gemm_bf16(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    if (le_l8_use(j->K, j->N))
        le_l8_gemm(LE_K_BF16, j, r0, r1);
    else
        le_gemm_tiles(&le_ts_bf16, j, r0, r1);
}
/* ---- activation conversion for the gemms ---- */

/* Converted F16/BF16 activations: rows of K floats padded to a stride of
 * an odd number of 64-byte lines (le_act_ld), so the 8 rows a tile reads at
 * once do not all fall into one L1 set (at K = 4096 the stride was 16 KiB:
 * every row the same set). */
static int64_t le_act_ld(int64_t K) {
    int64_t lines = (K * (int64_t)sizeof(float) + 63) / 64;
    return (lines | 1) * 64 / (int64_t)sizeof(float);
}
static size_t le_act_bytes_pad(int64_t K, int64_t N) {
    return (size_t)(le_act_ld(K) * N) * sizeof(float);
}
static int64_t le_act_unit_1(int64_t N) {
    (void)N;
    return 1;
}
static size_t le_act_row_bytes_pad(int64_t K, int64_t N) {
    (void)N;
    return (size_t)le_act_ld(K) * sizeof(float);
}

static size_t le_act_bytes_f32(int64_t K, int64_t N) { /* batches on le_sgemm: padded rows */
    return le_l8_use(K, N) ? le_act_bytes_pad(K, N) : 0;
}
static size_t le_act_row_bytes_f32(int64_t K, int64_t N) {
    return le_l8_use(K, N) ? le_act_row_bytes_pad(K, N) : (size_t)K * sizeof(float);
}

/* y[0..n) = x rounded to the weight type (F16/BF16, kept as the exactly
 * representable floats); F32 copies. */
LE_AVX2_INLINE void le_act_round(const int T, const float *x, float *y, int64_t n) {
    int64_t k = 0;
    if (T == LE_K_F32) {
        memcpy(y, x, (size_t)n * sizeof(float));
    } else if (T == LE_K_F16) {
        for (; k + 8 <= n; k += 8)
            _mm256_storeu_ps(y + k, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + k), 0)));
        for (; k < n; k++)
            y[k] = le_h2f(le_fp32_to_fp16(x[k]));
    } else {
        uint16_t h[256];
        for (; k < n; k += 256) {
            int64_t m = n - k < 256 ? n - k : 256;
            le_bf16_from_float_avx2(x + k, h, m);
            le_bf16_to_float_avx2(h, y + k, m);
        }
    }
}

/* Rows [n0, n1) of X, rounded to the weight type, row-major (padded rows:
 * le_act_ld). */
LE_AVX2_INLINE void le_act_conv(const int T, const float *X, void *A, int64_t K, int64_t N, int64_t n0,
                                int64_t n1) {
    (void)N;
    for (int64_t n = n0; n < n1; n++)
        le_act_round(T, X + n * K, (float *)A + n * le_act_ld(K), K);
}

LE_AVX2 static void le_act_f32(const float *X, void *A, int64_t K, int64_t N, int64_t n0, int64_t n1) {
    le_act_conv(LE_K_F32, X, A, K, N, n0, n1);
}
/* F16 batches on AVX-512 take X in pairs of rows (le_sgemm.h's xpairs):
 * conversion units of 2 rows, the pair's rows interleaved by groups of 8,
 * a missing second row (N odd) zero. */
static int64_t le_act_unit_f16(int64_t N) {
    return le_l8_use(8, N) ? 2 : 1;
}
static size_t le_act_bytes_f16(int64_t K, int64_t N) {
    return le_act_bytes_pad(K, le_l8_use(K, N) ? (N + 1) / 2 * 2 : N);
}
LE_AVX2 static void le_act_f16(const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1) {
    const int64_t unit = le_act_unit_f16(N);
    if (!le_l8_use(K, N)) {
        le_act_conv(LE_K_F16, X, A, K, N, u0 * unit, u1 * unit < N ? u1 * unit : N);
        return;
    }
    const int64_t ld = le_act_ld(K), K8 = K / 8 * 8;
    for (int64_t p = u0; p < u1; p++) {
        float *y = (float *)A + 2 * p * ld;
        for (int h = 0; h < 2; h++) {
            const int64_t n = 2 * p + h;
            if (n >= N) {
                for (int64_t k = 0; k < K8; k += 8)
                    memset(y + 2 * k + 8 * h, 0, 8 * sizeof(float));
                memset(y + 2 * K8 + 8 * h, 0, (size_t)(K - K8) * sizeof(float));
                continue;
            }
            for (int64_t k = 0; k < K8; k += 8) /* group by group, then the tail */
                le_act_round(LE_K_F16, X + n * K + k, y + 2 * k + 8 * h, 8);
            le_act_round(LE_K_F16, X + n * K + K8, y + 2 * K8 + 8 * h, K - K8);
        }
    }
}
LE_AVX2 static void le_act_bf16(const float *X, void *A, int64_t K, int64_t N, int64_t n0, int64_t n1) {
    le_act_conv(LE_K_BF16, X, A, K, N, n0, n1);
}

const struct le_gemm_impl le_gemm_avx2_f32 = {le_act_bytes_f32,     le_act_unit_1, le_act_f32,
                                              le_act_row_bytes_f32, le_gemm_f32,   le_l8_work_bytes};
const struct le_gemm_impl le_gemm_avx2_f16 = {le_act_bytes_f16,     le_act_unit_f16, le_act_f16,
                                              le_act_row_bytes_pad, le_gemm_f16,   le_l8_work_bytes};
const struct le_gemm_impl le_gemm_avx2_bf16 = {le_act_bytes_pad,     le_act_unit_1, le_act_bf16,
                                               le_act_row_bytes_pad, le_gemm_bf16, le_l8_work_bytes};

/* ---- vec_dot: one element through the same tile code ---- */

static void le_vec_dot_tile(le_tile_fn one, int n, float *s, const void *x, size_t xbytes,
                            const void *y, size_t ybytes) {
    struct le_gemm_job j = {.W = x, .w_row_bytes = xbytes, .A = y, .a_row_bytes = ybytes,
                            .K = n, .N = 1, .Y = s, .ldy = 1};
    one(&j, 0, 0);
}

void le_vec_dot_f32_avx2(int n, float *s, const void *x, const void *y) {
    le_vec_dot_tile(le_ts_f32.one, n, s, x, (size_t)n * 4, y, (size_t)n * 4);
}

/* F16/BF16 activations arrive in their 16-bit form here; widening them is
 * exact, so this equals the gemm's result on the pre-rounded floats. */
LE_AVX2_INLINE void le_vec_dot_h(const int T, int n, float *s, const void *x, const void *y) {
    const int64_t K8 = (int64_t)n & ~(int64_t)7;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < K8; k += 8)
        acc = _mm256_fmadd_ps(le_ldw(T, x, k), le_ldw(T, y, k), acc);
    float r = le_hsum1(acc);
    for (int64_t k = K8; k < n; k++)
        r = fmaf(le_ldw1(T, x, k), le_ldw1(T, y, k), r);
    *s = r;
}

LE_AVX2 void le_vec_dot_f16_avx2(int n, float *s, const void *x, const void *y) {
    le_vec_dot_h(LE_K_F16, n, s, x, y);
}

LE_AVX2 void le_vec_dot_bf16_avx2(int n, float *s, const void *x, const void *y) {
    le_vec_dot_h(LE_K_BF16, n, s, x, y);
}

/* ---- conversions ---- */

LE_AVX2 void le_f16_to_float_avx2(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = le_h2f(x[i]);
}

LE_AVX2 void le_f16_from_float_avx2(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0));
    for (; i < n; i++)
        y[i] = _cvtss_sh(x[i], 0);
}

LE_AVX2 void le_bf16_to_float_avx2(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, le_ldw(LE_K_BF16, x, i));
    for (; i < n; i++)
        y[i] = le_bf16_to_fp32(x[i]);
}

/* ggml's scalar rounding (nearest even, NaN made quiet), 8 at a time. */
LE_AVX2 void le_bf16_from_float_avx2(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_srli_epi32(r, 16);
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
        __m256i qn = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
        r = _mm256_blendv_epi8(r, qn, nan);
        /* pack 8 x u32 (< 65536) into 8 x u16 */
        __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(y + i), p);
    }
    for (; i < n; i++)
        y[i] = le_fp32_to_bf16(x[i]);
}

LE_AVX2 void le_q8_0_to_float_avx2(const void *vx, float *y, int64_t n) {
    const le_block_q8_0 *x = vx;
    int64_t nb = n / LE_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        __m256 d = _mm256_set1_ps(le_h2f(x[i].d));
        for (int j = 0; j < LE_QK8_0; j += 8) {
            __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[i].qs + j)));
            _mm256_storeu_ps(y + i * LE_QK8_0 + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

LE_AVX2 void le_q4_0_to_float_avx2(const void *vx, float *y, int64_t n) {
    const le_block_q4_0 *x = vx;
    int64_t nb = n / LE_QK4_0;
    for (int64_t i = 0; i < nb; i++) {
        __m128i t = _mm_loadu_si128((const __m128i *)x[i].qs);
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(8));
        __m256 d = _mm256_set1_ps(le_h2f(x[i].d));
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *o = y + i * LE_QK4_0;
        _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(o + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}

/* ggml's AVX2 quantize_row_q8_0 / q8_1 for one block: id = 127/amax, round
 * to nearest even, saturating packs. Returns d = amax/127 (before its F16
 * rounding); *sum = sum of the quants (for Q8_1's s). */
LE_AVX2 float le_q8_act_block_avx2(const float *x, int8_t *qs, int32_t *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_andnot_ps(sign, v0);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v1));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v2));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v3));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    /* the rounding mode must be a constant expression (clang insists) */
#define rn (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), rn));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), rn));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), rn));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), rn));
#undef rn
    if (sum) {
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        *sum = _mm_cvtsi128_si32(h);
    }
    i0 = _mm256_packs_epi32(i0, i1);
    i2 = _mm256_packs_epi32(i2, i3);
    i0 = _mm256_packs_epi16(i0, i2);
    _mm256_storeu_si256((__m256i *)qs, _mm256_permutevar8x32_epi32(i0, perm));
    return amax / 127.0f;
}

LE_AVX2 void le_q8_0_from_float_act_avx2(const float *x, void *vy, int64_t n) {
    le_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / LE_QK8_0; i++)
        y[i].d = _cvtss_sh(le_q8_act_block_avx2(x + i * LE_QK8_0, y[i].qs, NULL), 0);
}

/* As Q8_0, plus s = F16(d * sum q) with d before its F16 rounding (ggml). */
LE_AVX2 void le_q8_1_from_float_act_avx2(const float *x, void *vy, int64_t n) {
    le_block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / LE_QK8_0; i++) {
        int32_t sum;
        float d = le_q8_act_block_avx2(x + i * LE_QK8_0, y[i].qs, &sum);
        y[i].d = _cvtss_sh(d, 0);
        y[i].s = _cvtss_sh(d * (float)sum, 0);
    }
}
