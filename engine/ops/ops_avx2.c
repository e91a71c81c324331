/*
 * ops_avx2: the AVX2+FMA table of the shared ops (le_ops.h), compiled per
 * function with __attribute__((target)) so the build needs no flags;
 * le_ops_get hands it out only when le_cpu_avx2().
 *
 * Element-wise ops (exp, RoPE, SwiGLU) treat every element alike however
 * the vector loop splits them, so their results never depend on n's
 * remainder; RoPE is bit-identical to the reference. Softmax and RMSNorm
 * sum in 4 double lanes (a fixed order for a given n). Full vectors are
 * loaded and stored plainly, the last partial one masked: masked stores
 * cost ~10x a plain one on Zen, so there is at most one per pass.
 */
#include "ops_int.h"

#ifdef LE_OPS_X86
#include <immintrin.h> /* AVX2, FMA intrinsics */
#include <math.h>      /* INFINITY, sqrtf */

#define LE_AVX2 __attribute__((target("avx2,fma")))

/* Lanes [0, left) set (left may exceed 8). */
LE_AVX2 static inline __m256i le_tail_mask(int left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}


/* ---- exp ---- */

/* expf to ~1 ulp (Cephes' polynomial after a range reduction by ln 2);
 * inputs are clamped to [-87.3, 88.3]. Element-wise. */
LE_AVX2 static inline __m256 le_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

LE_AVX2 static void le_vexp_avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, le_exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = le_tail_mask((int)(n - i));
        _mm256_maskstore_ps(y + i, m, le_exp8(_mm256_maskload_ps(x + i, m)));
    }
}

/* ---- softmax, RoPE, SwiGLU, RMSNorm ---- */

/* Full vectors plainly, the last partial one masked (masked stores are
 * slow on some CPUs, so they are kept to one per pass). */
LE_AVX2 static void le_softmax_avx2(float *s, int64_t n64, float scale) {
    int n = (int)n64; /* rows are at most a context long */
    __m256 vs = _mm256_set1_ps(scale), vmx = _mm256_set1_ps(-INFINITY);
    int n8 = n & ~7, left = n - n8;
    __m256i m = le_tail_mask(left);
    /* max of the raw scores: scale > 0 and rounding is monotonic, so
     * max(s) * scale equals the max of the scaled scores exactly */
    for (int j = 0; j < n8; j += 8)
        vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + j));
    if (left)
        vmx = _mm256_blendv_ps(vmx, _mm256_max_ps(vmx, _mm256_maskload_ps(s + n8, m)), _mm256_castsi256_ps(m));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(h) * scale);
    __m256d sum0 = _mm256_setzero_pd(), sum1 = sum0;
    for (int j = 0; j < n8; j += 8) {
        __m256 e = le_exp8(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(s + j), vs), mx));
        _mm256_storeu_ps(s + j, e);
        sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    if (left) {
        __m256 e = le_exp8(_mm256_sub_ps(_mm256_mul_ps(_mm256_maskload_ps(s + n8, m), vs), mx));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(s + n8, m, e);
        sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(sum0, sum1));
    __m256 inv = _mm256_set1_ps((float)(1.0 / ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))));
    for (int j = 0; j < n8; j += 8)
        _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
    if (left)
        _mm256_maskstore_ps(s + n8, m, _mm256_mul_ps(_mm256_maskload_ps(s + n8, m), inv));
}

/* The reference's operations exactly (two products, then one subtraction
 * or addition per element, no FMA), 4 pairs at a time. */
LE_AVX2 static void le_rope_avx2(float *v, const float *cs, int64_t n_heads, int64_t hd) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *x = v + h * hd;
        int64_t i = 0;
        for (; i + 8 <= hd; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i), c = _mm256_loadu_ps(cs + i);
            __m256 t1 = _mm256_mul_ps(_mm256_moveldup_ps(xv), c);                            /* x0c, x0s */
            __m256 t2 = _mm256_mul_ps(_mm256_movehdup_ps(xv), _mm256_permute_ps(c, 0xB1)); /* x1s, x1c */
            _mm256_storeu_ps(x + i, _mm256_addsub_ps(t1, t2));
        }
        for (; i < hd; i += 2) {
            float x0 = x[i], x1 = x[i + 1], co = cs[i], si = cs[i + 1];
            x[i] = x0 * co - x1 * si;
            x[i + 1] = x0 * si + x1 * co;
        }
    }
}

LE_AVX2 static inline __m256 le_swiglu8(__m256 x, __m256 u) {
    __m256 e = le_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

/* Full vectors plainly (masked stores cost ~10x a plain one on Zen), the
 * tail masked; element-wise, so the split changes no value. */
LE_AVX2 static void le_swiglu_avx2(float *h, const float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(h + i, le_swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        __m256i m = le_tail_mask((int)(n - i));
        _mm256_maskstore_ps(h + i, m, le_swiglu8(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m)));
    }
}

/* The same with the squares summed in 4 double lanes (a fixed order for a
 * given n). */
LE_AVX2 static float le_add_rmsnorm_avx2(float *x, const float *delta, const float *w, float *y, int64_t n,
                                         float eps) {
    int64_t n8 = n & ~(int64_t)7, i = 0;
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    for (; i < n8; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (delta) {
            v = _mm256_add_ps(v, _mm256_loadu_ps(delta + i));
            _mm256_storeu_ps(x + i, v);
        }
        __m256 sq = _mm256_mul_ps(v, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) {
        if (delta)
            x[i] += delta[i];
        sum += (double)(x[i] * x[i]);
    }
    float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i < n8; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
    return scale;
}
/* Two 8-lane chains over 16 elements per step, then one over 8, the tree
 * ((a0+a1)+...) of the lanes, then the tail in order. */
LE_AVX2 static float le_dot_avx2(int64_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    a0 = _mm256_add_ps(a0, a1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++)
        r += x[i] * y[i];
    return r;
}

const struct le_ops le_ops_avx2_table = LE_OPS_TABLE(avx2);
#else
typedef int le_ops_avx2_unused; /* not x86: the reference table only */
#endif
