/*
 * kernels_avx2_k: AVX2 matmul and dot kernels for the K-quants (Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K) against Q8_K activations. One generic code path,
 * instantiated per type only in how a super-block is unpacked.
 *
 * Arithmetic: exactly the reference's (kernels_ref_k.c, struct le_ksb):
 * per super-block the exact integers isum = sum_g sc[g] (sum q*y - off
 * bsum[g]) and msum = sum_g mn[g] bsum[g], then acc += (d*dy)*isum and
 * acc -= (dmin*dy)*msum as separate float roundings. So the AVX2 gemm, the
 * AVX2 vec_dot and the scalar vec_dot agree bit for bit, and no result
 * depends on N, tiling or threads.
 *
 * Decode (N = 1) skips the unpacking: le_kx_gemv expands each super-block's
 * quants and scales in registers, per type (the same integers and float
 * steps, so the same bits as the unpacking path; test_matmul checks it on
 * blocks of random bytes).
 *
 * Batches (N >= 4) use panels, as the 32-block kernels do: 8 activation
 * rows quantized to Q8_K once per batch and interleaved (struct
 * le_kpanel), so a broadcast weight dword times one panel vector is one
 * vpmaddubsw for all 8 rows; 4 of them (2 for Q6_K, whose q < 64 would
 * overflow int16) summed in int16 and one vpmaddwd with the group's scale
 * give that group's exact int32 sums per row lane; the bsums terms are 8
 * vpmaddwd per super-block. Each weight super-block is unpacked once per
 * batch (LE_KPROWS rows x LE_KPSEG super-blocks at a time), and the float
 * scaling is paid once per 8 activation rows.
 *
 * Layout: a super-block is unpacked (SIMD) into struct le_ksbx: 256
 * unsigned quants (< 64) as bytes, and the group scales already spread the
 * way vpmaddwd wants them: for 32 quants v, 16 int16 lanes holding sc[2v]
 * (lanes 0-7) and sc[2v+1] (lanes 8-15). Then 32 quants against 32
 * activations cost one vpmaddubsw (pairs, |.| <= 2*63*127), one vpmaddwd
 * with the spread scales and one add. The matmul unpacks LE_KROWS rows x
 * LE_KSEG super-blocks at a time (kept in L1) and passes every tile of up
 * to 4 activation rows over them, the partial sums of earlier segments kept
 * in Y (a float stored and reloaded is exact).
 *
 * On CPUs with AVX-512 VNNI, batches take 16-row panels and vpdpbusd
 * instead (the same integers and float steps; see the section below).
 */
#include "le_kernels.h"

#include "kernels_avx2_inl.h" /* LE_AVX2, le_tr8x8 */

enum { LE_KT_Q2, LE_KT_Q3, LE_KT_Q4, LE_KT_Q5, LE_KT_Q6 };

#define LE_KHAS_MIN(T) ((T) == LE_KT_Q2 || (T) == LE_KT_Q4 || (T) == LE_KT_Q5)
/* off = 1 << LE_KOFF_SHIFT(T) for Q3_K (4) and Q6_K (32), else 0 */
#define LE_KOFF_SHIFT(T) ((T) == LE_KT_Q3 ? 2 : (T) == LE_KT_Q6 ? 5 : 0)

#define LE_KROWS 8 /* weight rows unpacked at a time (N < 4) */
#define LE_KSEG 4  /* super-blocks per segment (N < 4) */
#define LE_KPANEL 8       /* activation rows per panel */
#define LE_KPANEL_MIN_N 4 /* below this, rows of Q8_K */
#define LE_KPRT 4         /* weight rows per panel tile */
#define LE_KPROWS 16      /* weight rows unpacked at a time (panels) */
#define LE_KPSEG 2        /* super-blocks per segment (panels) */

struct le_ksbx {
    _Alignas(32) uint8_t q[LE_QK_K];
    int16_t scx[8][16]; /* per 32 quants: sc[2v] x 8, sc[2v+1] x 8 */
    int16_t sc[16], mn[16];
    float d, dmin;
    float pad[6];
};
_Static_assert(sizeof(struct le_ksbx) % 32 == 0, "le_ksbx keeps 32-byte alignment in arrays");

/* ---- unpacking ---- */

/* Scale j and min j (6 bits each) of Q4_K / Q5_K's 12 packed bytes. */
static inline void le_kx_scale_min(int j, const uint8_t *q, int16_t *sc, int16_t *m) {
    if (j < 4) {
        *sc = (int16_t)(q[j] & 63);
        *m = (int16_t)(q[j + 4] & 63);
    } else {
        *sc = (int16_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (int16_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

LE_AVX2_INLINE __m256i le_kx_bits(__m256i v, int shift, int mask) {
    return _mm256_and_si256(_mm256_srli_epi16(v, shift), _mm256_set1_epi8((char)mask));
}

LE_AVX2_INLINE void le_kx_store(struct le_ksbx *o, int v, __m256i q) {
    _mm256_store_si256((__m256i *)(o->q + 32 * v), q);
}

/* Super-block b of a row of type T into o (the same values as the
 * reference le_q*_K_unpack). */
LE_AVX2_INLINE void le_kx_unpack(const int T, const void *row, int64_t b, struct le_ksbx *o) {
    if (T == LE_KT_Q2) {
        const le_block_q2_K *x = (const le_block_q2_K *)row + b;
        for (int n = 0; n < 2; n++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * n));
            for (int j = 0; j < 4; j++)
                le_kx_store(o, 4 * n + j, le_kx_bits(v, 2 * j, 3));
        }
        for (int g = 0; g < 16; g++) {
            o->sc[g] = (int16_t)(x->scales[g] & 0xF);
            o->mn[g] = (int16_t)(x->scales[g] >> 4);
        }
        o->d = _cvtsh_ss(x->d);
        o->dmin = _cvtsh_ss(x->dmin);
    } else if (T == LE_KT_Q3) {
        const le_block_q3_K *x = (const le_block_q3_K *)row + b;
        __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
        for (int n = 0; n < 2; n++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * n));
            for (int j = 0; j < 4; j++) {
                __m256i h = _mm256_slli_epi16(le_kx_bits(hm, 4 * n + j, 1), 2);
                le_kx_store(o, 4 * n + j, _mm256_or_si256(le_kx_bits(v, 2 * j, 3), h));
            }
        }
        for (int g = 0; g < 16; g++) {
            int lo = g < 8 ? x->scales[g] & 0xF : x->scales[g - 8] >> 4;
            int hi = (x->scales[8 + g % 4] >> (2 * (g / 4))) & 3;
            o->sc[g] = (int16_t)((lo | (hi << 4)) - 32);
            o->mn[g] = 0;
        }
        o->d = _cvtsh_ss(x->d);
        o->dmin = 0.0f;
    } else if (T == LE_KT_Q4 || T == LE_KT_Q5) {
        const uint8_t *qs, *scales;
        uint16_t d, dmin;
        __m256i qh = _mm256_setzero_si256();
        if (T == LE_KT_Q4) {
            const le_block_q4_K *x = (const le_block_q4_K *)row + b;
            qs = x->qs, scales = x->scales, d = x->d, dmin = x->dmin;
        } else {
            const le_block_q5_K *x = (const le_block_q5_K *)row + b;
            qs = x->qs, scales = x->scales, d = x->d, dmin = x->dmin;
            qh = _mm256_loadu_si256((const __m256i *)x->qh);
        }
        for (int j = 0; j < 4; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = le_kx_bits(v, 0, 0xF), hi = le_kx_bits(v, 4, 0xF);
            if (T == LE_KT_Q5) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(le_kx_bits(qh, 2 * j, 1), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(le_kx_bits(qh, 2 * j + 1, 1), 4));
            }
            le_kx_store(o, 2 * j, lo);
            le_kx_store(o, 2 * j + 1, hi);
        }
        for (int j = 0; j < 8; j++) {
            le_kx_scale_min(j, scales, &o->sc[2 * j], &o->mn[2 * j]);
            o->sc[2 * j + 1] = o->sc[2 * j];
            o->mn[2 * j + 1] = o->mn[2 * j];
        }
        o->d = _cvtsh_ss(d);
        o->dmin = _cvtsh_ss(dmin);
    } else {
        const le_block_q6_K *x = (const le_block_q6_K *)row + b;
        for (int n = 0; n < 2; n++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * n));
            for (int k = 0; k < 4; k++) {
                __m256i lo = le_kx_bits(k & 1 ? l1 : l0, k < 2 ? 0 : 4, 0xF);
                __m256i hi = _mm256_slli_epi16(le_kx_bits(h, 2 * k, 3), 4);
                le_kx_store(o, 4 * n + k, _mm256_or_si256(lo, hi));
            }
        }
        _mm256_storeu_si256((__m256i *)o->sc,
                            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales)));
        memset(o->mn, 0, sizeof o->mn);
        o->d = _cvtsh_ss(x->d);
        o->dmin = 0.0f;
    }
    /* spread the scales: dword v of sc holds sc[2v], sc[2v+1] */
    const __m256i sc = _mm256_loadu_si256((const __m256i *)o->sc);
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                                          3, 2, 3, 2, 3, 2, 3);
    for (int v = 0; v < 8; v++) {
        __m256i t = _mm256_permutevar8x32_epi32(sc, _mm256_set1_epi32(v));
        _mm256_storeu_si256((__m256i *)o->scx[v], _mm256_shuffle_epi8(t, pick));
    }
}

/* ---- the tile: one unpacked row x C (1 or 4) activation rows ---- */

/* Integer sums of one super-block against C activation blocks, before the
 * horizontal reduction: a[c] (isum lanes), m[c] (msum lanes). */
LE_AVX2_INLINE void le_kx_block(const int T, const int C, const struct le_ksbx *w, const le_block_q8_K *const *y,
                                __m256i a[4], __m256i m[4]) {
    for (int c = 0; c < C; c++)
        a[c] = _mm256_setzero_si256();
    _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) {
        const __m256i q = _mm256_load_si256((const __m256i *)(w->q + 32 * v));
        const __m256i s = _mm256_loadu_si256((const __m256i *)w->scx[v]);
        _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {
            __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y[c]->qs + 32 * v)));
            a[c] = _mm256_add_epi32(a[c], _mm256_madd_epi16(p, s));
        }
    }
    const __m256i sc = _mm256_loadu_si256((const __m256i *)w->sc), mn = _mm256_loadu_si256((const __m256i *)w->mn);
    _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[c]->bsums);
        if (LE_KOFF_SHIFT(T))
            a[c] = _mm256_sub_epi32(a[c], _mm256_slli_epi32(_mm256_madd_epi16(sc, bs), LE_KOFF_SHIFT(T)));
        if (LE_KHAS_MIN(T))
            m[c] = _mm256_madd_epi16(mn, bs);
    }
}

LE_AVX2_INLINE __m128i le_kx_hsum4(const __m256i a[4]) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

LE_AVX2_INLINE int32_t le_kx_hsum1(__m256i a) {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

/* acc[c] over ns unpacked super-blocks against activation rows A[c] (from
 * super-block 0 of the segment): acc += (d*dy)*isum; acc -= (dmin*dy)*msum. */
LE_AVX2_INLINE void le_kx_tile(const int T, const int C, const struct le_ksbx *w, int64_t ns,
                               const le_block_q8_K *const *A, float *acc) {
    if (C == 4) {
        __m128 accv = _mm_loadu_ps(acc);
        for (int64_t s = 0; s < ns; s++) {
            const le_block_q8_K *y[4] = {A[0] + s, A[1] + s, A[2] + s, A[3] + s};
            __m256i a[4], m[4];
            le_kx_block(T, 4, w + s, y, a, m);
            const __m128 dy = _mm_setr_ps(y[0]->d, y[1]->d, y[2]->d, y[3]->d);
            __m128 t = _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(w[s].d), dy), _mm_cvtepi32_ps(le_kx_hsum4(a)));
            accv = _mm_add_ps(accv, t);
            if (LE_KHAS_MIN(T)) {
                __m128 u = _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(w[s].dmin), dy), _mm_cvtepi32_ps(le_kx_hsum4(m)));
                accv = _mm_sub_ps(accv, u);
            }
        }
        _mm_storeu_ps(acc, accv);
    } else {
        float a0 = acc[0];
        for (int64_t s = 0; s < ns; s++) {
            const le_block_q8_K *y[1] = {A[0] + s};
            __m256i a[4], m[4];
            le_kx_block(T, 1, w + s, y, a, m);
            a0 += (w[s].d * y[0]->d) * (float)le_kx_hsum1(a[0]);
            if (LE_KHAS_MIN(T))
                a0 -= (w[s].dmin * y[0]->d) * (float)le_kx_hsum1(m[0]);
        }
        acc[0] = a0;
    }
}

/* ---- decode (N = 1) ----
 *
 * One weight row against one Q8_K activation row, fused per type: each
 * super-block's quants and scales are expanded in registers and multiplied
 * at once, with no trip through a le_ksbx (which cost as much as the dot
 * product at N = 1). The integer sums are exact, so they equal
 * le_kx_block's whatever the order, and the float steps are le_kx_tile's
 * C = 1 steps in the same order: bit-identical to the unpacking path. */

/* Prefetches the `lines` cache lines of the next super-block at x. */
LE_AVX2_INLINE void le_kx_prefetch(const void *x, int lines) {
    for (int l = 0; l < lines; l++)
        _mm_prefetch((const char *)x + 64 * l, _MM_HINT_T0);
}

/* Super-block b of a Q4_K (or Q5_K) row against y: nibbles (and Q5_K's
 * fifth bits from qh) and the 6-bit scales and mins of the 12 packed bytes;
 * returns a0 with the two float steps applied. */
LE_AVX2_INLINE float le_kx_sb_q45(const int T, const char *row, int64_t b, int64_t nb, const le_block_q8_K *y,
                                  float a0) {
    const le_block_q4_K *x4 = (const le_block_q4_K *)row + b;
    const le_block_q5_K *x5 = (const le_block_q5_K *)row + b;
    const uint8_t *qs = T == LE_KT_Q4 ? x4->qs : x5->qs, *scales = T == LE_KT_Q4 ? x4->scales : x5->scales;
    if (T == LE_KT_Q4 && b + 2 < nb)
        _mm_prefetch((const char *)(x4 + 2), _MM_HINT_T0);
    if (T == LE_KT_Q5 && b + 1 < nb)
        le_kx_prefetch(x5 + 1, 3); /* 176 bytes */
    /* the 8 scales and 8 mins, 4 at a time (le_kx_scale_min's rule):
     * u0, u1 the scales, u2, u3 the mins */
    uint32_t u0, u1, u2;
    memcpy(&u0, scales, 4), memcpy(&u1, scales + 4, 4), memcpy(&u2, scales + 8, 4);
    const uint32_t u3 = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    const uint32_t m03 = u1 & 0x3f3f3f3fu;
    u1 = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    u2 = m03;
    u0 &= 0x3f3f3f3fu;
    const __m128i sm = _mm_setr_epi32((int)u0, (int)u1, (int)u2, (int)u3);
    const __m256i sc2 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    __m256i acc = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * g));
        __m256i lo = le_kx_bits(v, 0, 0xF), hi = le_kx_bits(v, 4, 0xF);
        if (T == LE_KT_Q5) { /* bits 2g (low nibbles) and 2g+1 (high) of qh as bit 4 */
            const __m256i qh = _mm256_loadu_si256((const __m256i *)x5->qh);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(le_kx_bits(qh, 2 * g, 1), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(le_kx_bits(qh, 2 * g + 1, 1), 4));
        }
        const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * g)));
        const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * g + 32)));
        const __m256i s0 = _mm256_shuffle_epi8(sc2, _mm256_set1_epi16((short)(4 * g | (4 * g + 1) << 8)));
        const __m256i s1 = _mm256_shuffle_epi8(sc2, _mm256_set1_epi16((short)((4 * g + 2) | (4 * g + 3) << 8)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p0, s0));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p1, s1));
    }
    /* mins x (bsums of each 32): exact int32 */
    const __m128i bs =
        _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums), _mm_loadu_si128((const __m128i *)y->bsums + 1));
    __m128i mp = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), bs);
    mp = _mm_add_epi32(mp, _mm_shuffle_epi32(mp, 0x4e));
    mp = _mm_add_epi32(mp, _mm_shuffle_epi32(mp, 0xb1));
    const int32_t msum = _mm_cvtsi128_si32(mp);
    const float d = _cvtsh_ss(T == LE_KT_Q4 ? x4->d : x5->d), dmin = _cvtsh_ss(T == LE_KT_Q4 ? x4->dmin : x5->dmin);
    a0 += (d * y->d) * (float)le_kx_hsum1(acc);
    a0 -= (dmin * y->d) * (float)msum;
    return a0;
}

/* The scales of 32 quants v (v < 4 from lo, else from hi: the 16 int16
 * scales' low and high halves, each in both 128-bit lanes) spread as
 * le_kx_unpack's scx[v]: sc[2v] in lanes 0-7, sc[2v+1] in lanes 8-15. */
LE_AVX2_INLINE __m256i le_kx_spread(__m256i lo, __m256i hi, int v) {
    const int w = v & 3; /* int16 2w, 2w+1 of the half */
    const char a = (char)(4 * w), b = (char)(4 * w + 2), a1 = (char)(a + 1), b1 = (char)(b + 1);
    const __m256i pick = _mm256_setr_epi8(a, a1, a, a1, a, a1, a, a1, a, a1, a, a1, a, a1, a, a1, b, b1, b, b1, b,
                                          b1, b, b1, b, b1, b, b1, b, b1, b, b1);
    return _mm256_shuffle_epi8(v < 4 ? lo : hi, pick);
}

/* Super-block b of a Q2_K or Q3_K row against y: the 2-bit quants (and
 * Q3_K's third bits from hmask), the 16 scales (Q2_K: low nibbles, the
 * mins the high ones; Q3_K: 6 bits from 12 packed bytes, minus 32) spread
 * per 32 quants as le_kx_unpack does, Q3_K's offset 4 taken off through
 * bsums as le_kx_block does. */
LE_AVX2_INLINE float le_kx_sb_q23(const int T, const char *row, int64_t b, int64_t nb, const le_block_q8_K *y,
                                  float a0) {
    const le_block_q2_K *x2 = (const le_block_q2_K *)row + b;
    const le_block_q3_K *x3 = (const le_block_q3_K *)row + b;
    const uint8_t *qs = T == LE_KT_Q2 ? x2->qs : x3->qs;
    __m128i sc8, mn8 = _mm_setzero_si128(); /* 16 scales, 16 mins as bytes */
    if (T == LE_KT_Q2) {
        if (b + 1 < nb)
            le_kx_prefetch(x2 + 1, 2); /* 84 bytes */
        const __m128i s = _mm_loadu_si128((const __m128i *)x2->scales);
        sc8 = _mm_and_si128(s, _mm_set1_epi8(0xF));
        mn8 = _mm_and_si128(_mm_srli_epi16(s, 4), _mm_set1_epi8(0xF));
    } else {
        if (b + 1 < nb)
            le_kx_prefetch(x3 + 1, 2); /* 110 bytes */
        /* scale g: bits 0-3 from the low nibble of byte g (g < 8) or the
         * high one of byte g - 8, bits 4-5 from byte 8 + g % 4 at 2 (g / 4);
         * minus 32 (le_q3_K_unpack's rule), 4 at a time */
        uint32_t u0, u1, t;
        memcpy(&u0, x3->scales, 4), memcpy(&u1, x3->scales + 4, 4), memcpy(&t, x3->scales + 8, 4);
        const uint32_t s2 = ((u0 >> 4) & 0x0f0f0f0fu) | (((t >> 4) & 0x03030303u) << 4);
        const uint32_t s3 = ((u1 >> 4) & 0x0f0f0f0fu) | (((t >> 6) & 0x03030303u) << 4);
        const uint32_t s0 = (u0 & 0x0f0f0f0fu) | ((t & 0x03030303u) << 4);
        const uint32_t s1 = (u1 & 0x0f0f0f0fu) | (((t >> 2) & 0x03030303u) << 4);
        sc8 = _mm_sub_epi8(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3), _mm_set1_epi8(32));
    }
    const __m256i sc = _mm256_cvtepi8_epi16(sc8); /* Q2_K's are < 16: signed = unsigned */
    const __m256i slo = _mm256_permute2x128_si256(sc, sc, 0x00), shi = _mm256_permute2x128_si256(sc, sc, 0x11);
    __m256i acc = _mm256_setzero_si256();
    _Pragma("GCC unroll 2") for (int n = 0; n < 2; n++) {
        const __m256i q2 = _mm256_loadu_si256((const __m256i *)(qs + 32 * n));
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
            const int v = 4 * n + k;
            __m256i q = le_kx_bits(q2, 2 * k, 3);
            if (T == LE_KT_Q3) { /* bit v of hmask as bit 2 */
                const __m256i hm = _mm256_loadu_si256((const __m256i *)x3->hmask);
                const __m256i h = _mm256_and_si256(hm, _mm256_set1_epi8((char)(1 << v)));
                q = _mm256_or_si256(q, v < 2 ? _mm256_slli_epi16(h, 2 - v) : _mm256_srli_epi16(h, v - 2));
            }
            const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y->qs + 32 * v)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, le_kx_spread(slo, shi, v)));
        }
    }
    const __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
    const float d = _cvtsh_ss(T == LE_KT_Q2 ? x2->d : x3->d);
    if (T == LE_KT_Q3) {
        acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 2));
        return a0 + (d * y->d) * (float)le_kx_hsum1(acc);
    }
    const int32_t msum = le_kx_hsum1(_mm256_madd_epi16(_mm256_cvtepu8_epi16(mn8), bs));
    const float dmin = _cvtsh_ss(x2->dmin);
    a0 += (d * y->d) * (float)le_kx_hsum1(acc);
    a0 -= (dmin * y->d) * (float)msum;
    return a0;
}

/* Super-block b of a Q6_K row against y: 6-bit quants from ql/qh, the
 * 16-element scales spread per 32 quants as le_kx_unpack does, the -32
 * offset taken off through bsums as le_kx_block does. */
LE_AVX2_INLINE float le_kx_sb_q6(const char *row, int64_t b, int64_t nb, const le_block_q8_K *y, float a0) {
    const le_block_q6_K *x = (const le_block_q6_K *)row + b;
    if (b + 1 < nb)
        le_kx_prefetch(x + 1, 4); /* 210 bytes */
    __m256i acc = _mm256_setzero_si256();
    _Pragma("GCC unroll 2") for (int n = 0; n < 2; n++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n + 32));
        const __m256i h = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * n));
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
            const int v = 4 * n + k;
            const __m256i q = _mm256_or_si256(le_kx_bits(k & 1 ? l1 : l0, k < 2 ? 0 : 4, 0xF),
                                              _mm256_slli_epi16(le_kx_bits(h, 2 * k, 3), 4));
            const __m256i sv =
                _mm256_set_m128i(_mm_set1_epi16(x->scales[2 * v + 1]), _mm_set1_epi16(x->scales[2 * v]));
            const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y->qs + 32 * v)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sv));
        }
    }
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    const __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
    acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 5));
    const float d = _cvtsh_ss(x->d);
    return a0 + (d * y->d) * (float)le_kx_hsum1(acc);
}

/* Rows [r0, r1) against one Q8_K activation row. */
LE_AVX2_INLINE void le_kx_gemv(const int T, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    const int64_t nb = j->K / LE_QK_K;
    const le_block_q8_K *y = (const le_block_q8_K *)j->A;
    for (int64_t r = r0; r < r1; r++) {
        const char *row = (const char *)j->W + r * j->w_row_bytes;
        float a0 = 0.0f;
        for (int64_t b = 0; b < nb; b++) {
            if (T == LE_KT_Q4 || T == LE_KT_Q5)
                a0 = le_kx_sb_q45(T, row, b, nb, y + b, a0);
            else if (T == LE_KT_Q6)
                a0 = le_kx_sb_q6(row, b, nb, y + b, a0);
            else
                a0 = le_kx_sb_q23(T, row, b, nb, y + b, a0);
        }
        j->Y[r] = a0;
    }
}

/* ---- gemm ---- */

LE_AVX2_INLINE void le_kx_gemm(const int T, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    if (j->N == 1) {
        le_kx_gemv(T, j, r0, r1);
        return;
    }
    struct le_ksbx buf[LE_KROWS][LE_KSEG];
    const int64_t nb = j->K / LE_QK_K;
    for (int64_t rc = r0; rc < r1; rc += LE_KROWS) {
        const int64_t nr = r1 - rc < LE_KROWS ? r1 - rc : LE_KROWS;
        for (int64_t b0 = 0; b0 < nb; b0 += LE_KSEG) {
            const int64_t ns = nb - b0 < LE_KSEG ? nb - b0 : LE_KSEG;
            for (int64_t i = 0; i < nr; i++)
                for (int64_t s = 0; s < ns; s++)
                    le_kx_unpack(T, (const char *)j->W + (rc + i) * j->w_row_bytes, b0 + s, &buf[i][s]);
            for (int64_t n = 0; n < j->N;) {
                const int C = j->N - n >= 4 ? 4 : 1;
                const le_block_q8_K *A[4];
                for (int c = 0; c < C; c++)
                    A[c] = (const le_block_q8_K *)((const char *)j->A + (n + c) * j->a_row_bytes) + b0;
                for (int64_t i = 0; i < nr; i++) {
                    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                    float *y = j->Y + n * j->ldy + rc + i;
                    if (b0 > 0)
                        for (int c = 0; c < C; c++)
                            acc[c] = y[c * j->ldy];
                    if (C == 4)
                        le_kx_tile(T, 4, buf[i], ns, A, acc);
                    else
                        le_kx_tile(T, 1, buf[i], ns, A, acc);
                    for (int c = 0; c < C; c++)
                        y[c * j->ldy] = acc[c];
                }
                n += C;
            }
        }
    }
}

/* vec_dot: the same sequence for one row pair. */
LE_AVX2_INLINE void le_kx_vec_dot(const int T, int n, float *s, const void *x, const void *vy) {
    struct le_ksbx w;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / LE_QK_K; b++) {
        const le_block_q8_K *A[1] = {(const le_block_q8_K *)vy + b};
        le_kx_unpack(T, x, b, &w);
        le_kx_tile(T, 1, &w, 1, A, &acc);
    }
    *s = acc;
}

/* ---- panels (N >= LE_KPANEL_MIN_N): 8 activation rows interleaved ---- */

/* One super-block of 8 activation rows (Q8_K, quantized as the reference
 * does): q[v] holds quants 4v..4v+3 of each row (a broadcast weight dword
 * times q[v] is one vpmaddubsw for all 8 rows), bs[h] the bsums 2h, 2h+1 of
 * each row (one vpmaddwd against a dword of sc or mn pairs), d the scales.
 * Missing rows (past N) are zero. */
struct le_kpanel {
    int32_t q[64][8];
    int32_t bs[8][8];
    float d[8];
};
_Static_assert(sizeof(struct le_kpanel) % 32 == 0, "panels keep 32-byte alignment");

LE_AVX2_INLINE int32_t le_kx_ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Keeps an integer accumulator chain as written (see kernels_avx2_q.c). */
#define LE_KKEEP(v) __asm__("" : "+x"(v))

/* R (<= LE_KPRT) unpacked rows (w[i * LE_KPSEG + s]) x one panel over ns
 * super-blocks: per row and lane, isum and msum as exact integers, then
 * acc += (d*dy)*isum; acc -= (dmin*dy)*msum, as the reference. */
LE_AVX2_INLINE void le_kx_ptile(const int T, const int R, const struct le_ksbx *w, int64_t ns,
                                const struct le_kpanel *P, __m256 acc[LE_KPRT]) {
    for (int64_t s = 0; s < ns; s++) {
        const struct le_kpanel *pb = P + s;
        __m256i is[LE_KPRT];
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) is[r] = _mm256_setzero_si256();
        /* groups of 16 quants (4 dwords); Q6_K's q < 64 would overflow 4
         * int16 pair sums, so it scales every 2 dwords */
        _Pragma("GCC unroll 16") for (int h = 0; h < 16; h++) {
            const int per = T == LE_KT_Q6 ? 2 : 4;
            _Pragma("GCC unroll 2") for (int v0 = 4 * h; v0 < 4 * h + 4; v0 += per) {
                __m256i a[4];
                _Pragma("GCC unroll 4") for (int k = 0; k < per; k++) a[k] =
                    _mm256_load_si256((const __m256i *)pb->q[v0 + k]);
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
                    const struct le_ksbx *x = &w[r * LE_KPSEG + s];
                    __m256i p = _mm256_maddubs_epi16(_mm256_set1_epi32(le_kx_ld32(x->q + 4 * v0)), a[0]);
                    _Pragma("GCC unroll 4") for (int k = 1; k < per; k++) p = _mm256_add_epi16(
                        p, _mm256_maddubs_epi16(_mm256_set1_epi32(le_kx_ld32(x->q + 4 * (v0 + k))), a[k]));
                    /* sc[h] in both halves of a dword: scx[h/2] lanes 0-7 or 8-15 */
                    __m256i sc = _mm256_set1_epi32(le_kx_ld32(&x->scx[h / 2][(h % 2) * 8]));
                    is[r] = _mm256_add_epi32(is[r], _mm256_madd_epi16(p, sc));
                    LE_KKEEP(is[r]);
                }
            }
        }
        const __m256 dy = _mm256_load_ps(pb->d);
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
            const struct le_ksbx *x = &w[r * LE_KPSEG + s];
            __m256i m = _mm256_setzero_si256(), o = _mm256_setzero_si256();
            _Pragma("GCC unroll 8") for (int h = 0; h < 8; h++) {
                const __m256i bs = _mm256_load_si256((const __m256i *)pb->bs[h]);
                if (LE_KOFF_SHIFT(T))
                    o = _mm256_add_epi32(o, _mm256_madd_epi16(_mm256_set1_epi32(le_kx_ld32(&x->sc[2 * h])), bs));
                if (LE_KHAS_MIN(T))
                    m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_set1_epi32(le_kx_ld32(&x->mn[2 * h])), bs));
            }
            __m256i isum = is[r];
            if (LE_KOFF_SHIFT(T))
                isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(o, LE_KOFF_SHIFT(T)));
            acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(x->d), dy),
                                                         _mm256_cvtepi32_ps(isum)));
            if (LE_KHAS_MIN(T))
                acc[r] = _mm256_sub_ps(acc[r], _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(x->dmin), dy),
                                                             _mm256_cvtepi32_ps(m)));
        }
    }
}

LE_AVX2_INLINE void le_kx_prows(const int T, const int R, const struct le_gemm_job *j, int64_t r,
                                const struct le_ksbx *w, int64_t b0, int64_t ns) {
    const int64_t nb = j->K / LE_QK_K, npan = (j->N + LE_KPANEL - 1) / LE_KPANEL;
    for (int64_t p = 0; p < npan; p++) {
        __m256 acc[LE_KPRT];
        if (b0 == 0) {
            _Pragma("GCC unroll 4") for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
        } else {
            le_panel8_acc_io(j, r, p * LE_KPANEL, R, acc, 0);
        }
        le_kx_ptile(T, R, w, ns, (const struct le_kpanel *)j->A + p * nb + b0, acc);
        le_panel8_acc_io(j, r, p * LE_KPANEL, R, acc, 1);
    }
}

typedef void (*le_kx_prows_fn)(const struct le_gemm_job *j, int64_t r, const struct le_ksbx *w, int64_t b0,
                               int64_t ns);

/* Rows [r0, r1): LE_KPROWS rows x LE_KPSEG super-blocks unpacked at a time
 * (once per batch), then every panel passes over them in tiles of LE_KPRT
 * rows. */
LE_AVX2_INLINE void le_kx_gemm_panels(const int T, le_kx_prows_fn f4, le_kx_prows_fn f1,
                                      const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    struct le_ksbx buf[LE_KPROWS * LE_KPSEG];
    const int64_t nb = j->K / LE_QK_K;
    for (int64_t rc = r0; rc < r1; rc += LE_KPROWS) {
        const int64_t nr = r1 - rc < LE_KPROWS ? r1 - rc : LE_KPROWS;
        for (int64_t b0 = 0; b0 < nb; b0 += LE_KPSEG) {
            const int64_t ns = nb - b0 < LE_KPSEG ? nb - b0 : LE_KPSEG;
            for (int64_t i = 0; i < nr; i++)
                for (int64_t s = 0; s < ns; s++)
                    le_kx_unpack(T, (const char *)j->W + (rc + i) * j->w_row_bytes, b0 + s, &buf[i * LE_KPSEG + s]);
            int64_t i = 0;
            for (; i + LE_KPRT <= nr; i += LE_KPRT)
                f4(j, rc + i, buf + i * LE_KPSEG, b0, ns);
            for (; i < nr; i++)
                f1(j, rc + i, buf + i * LE_KPSEG, b0, ns);
        }
    }
}

/* round to nearest (a constant expression: clang's _mm256_round_ps needs one) */
#define LE_KX_RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* le_q8_K_from_float_ref for one super-block, 8 lanes at a time, with the
 * same result: max = the first element of largest |x|, iscale = -127/max,
 * q = nearest (even) of iscale*x clamped to [-128, 127] (saturating packs),
 * d = 1/iscale; bsums from the int32 quants. */
LE_AVX2_INLINE void le_kx_q8_K_block(const float *x, le_block_q8_K *y) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < LE_QK_K; j += 8)
        m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m); /* NaN: m, as the reference skips it */
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (!(amax != 0.0f)) { /* also NaN, as the reference's comparisons */
        memset(y, 0, sizeof *y);
        return;
    }
    float max = 0.0f;
    const __m256 va = _mm256_set1_ps(amax);
    for (int j = 0; j < LE_QK_K; j += 8) {
        int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
        if (hit) {
            max = x[j + __builtin_ctz((unsigned)hit)];
            break;
        }
    }
    const float iscale = -127.0f / max;
    const __m256 is = _mm256_set1_ps(iscale);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int j = 0; j < LE_QK_K; j += 32) {
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + j)), LE_KX_RN));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + j + 8)), LE_KX_RN));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + j + 16)), LE_KX_RN));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + j + 24)), LE_KX_RN));
        __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(y->qs + j), q);
        /* the two groups of 16: sums of the stored (clamped) quants */
        __m256i s0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)), ones);
        __m256i s1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)), ones);
        __m256i h = _mm256_hadd_epi32(s0, s1); /* s0: 0+1, 2+3 | 4+5, 6+7 ... */
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        t = _mm_hadd_epi32(t, t);
        y->bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(t);
        y->bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(t, 1);
    }
    y->d = 1.0f / iscale;
}

/* Panel u of X: super-block by super-block, the 8 rows quantized to Q8_K
 * (as the reference quantizer) and interleaved by 8x8 dword transposes. */
LE_AVX2_INLINE void le_kx_act_panel(const float *X, struct le_kpanel *P, int64_t K, int64_t N, int64_t u) {
    const int64_t nb = K / LE_QK_K;
    le_block_q8_K y[LE_KPANEL];
    for (int64_t b = 0; b < nb; b++) {
        for (int c = 0; c < LE_KPANEL; c++) {
            int64_t n = u * LE_KPANEL + c;
            if (n < N)
                le_kx_q8_K_block(X + n * K + b * LE_QK_K, &y[c]);
            else
                memset(&y[c], 0, sizeof y[c]);
        }
        struct le_kpanel *o = P + u * nb + b;
        __m256i v[8];
        for (int v0 = 0; v0 < 64; v0 += 8) {
            for (int c = 0; c < 8; c++)
                v[c] = _mm256_loadu_si256((const __m256i *)(y[c].qs + 4 * v0));
            le_tr8x8(v);
            for (int g = 0; g < 8; g++)
                _mm256_store_si256((__m256i *)o->q[v0 + g], v[g]);
        }
        for (int c = 0; c < 8; c++)
            v[c] = _mm256_loadu_si256((const __m256i *)y[c].bsums);
        le_tr8x8(v);
        for (int h = 0; h < 8; h++)
            _mm256_store_si256((__m256i *)o->bs[h], v[h]);
        for (int c = 0; c < 8; c++)
            o->d[c] = y[c].d;
    }
}

/* ---- batches on AVX-512 VNNI: 16-row panels, vpdpbusd ----
 *
 * The same exact integers per super-block and the same float steps as the
 * panels above (so bit-identical results), with wider instructions: 16
 * activation rows per panel (struct le_xkpanel: dword v of each row in one
 * zmm), so a broadcast weight dword times a panel vector is one vpdpbusd
 * (unsigned quants x signed activations into int32, exact) for 16 rows;
 * each group's int32 sums are multiplied by its scale (vpmulld; groups of
 * 32 for Q4_K/Q5_K, whose two halves share a scale) and summed; the bsums
 * terms are vpdpwssd on int16 pairs. Weights unpacked as above (struct
 * le_ksbx), LE_XK_RCH rows x LE_XK_SEG super-blocks at a time; partial
 * sums of earlier segments in a float buffer, written to Y once per row
 * chunk. Used when le_x512q_use(N) (kernels_x512_q.c) says so. */

#define LE_X512K __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define LE_X512K_INLINE                                                                                         \
    static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define LE_XKP 16    /* activation rows per panel */
_Static_assert(LE_XKP == 16, "le_panel16_gemm takes 16-row panels");
#define LE_XK_RCH 16 /* weight rows unpacked at a time */
#define LE_XK_SEG 2  /* super-blocks per segment */
#define LE_XK_RT 8   /* weight rows per tile */
#define LE_XK_PG 32  /* panels per group (the float buffer: 512 columns) */

struct le_xkpanel {
    int32_t q[64][LE_XKP]; /* quants 4v..4v+3 of each row */
    int32_t bs[8][LE_XKP]; /* bsums 2h, 2h+1 of each row */
    float d[LE_XKP];
};
_Static_assert(sizeof(struct le_xkpanel) % 64 == 0, "panels keep 64-byte alignment");

static size_t le_xk_act_bytes(int64_t K, int64_t N) {
    return (size_t)((N + LE_XKP - 1) / LE_XKP * (K / LE_QK_K)) * sizeof(struct le_xkpanel);
}

LE_X512K static void le_xk_act_panels(const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1) {
    const int64_t nb = K / LE_QK_K;
    le_block_q8_K y[LE_XKP];
    for (int64_t u = u0; u < u1; u++) {
        for (int64_t b = 0; b < nb; b++) {
            for (int c = 0; c < LE_XKP; c++) {
                int64_t n = u * LE_XKP + c;
                if (n < N)
                    le_kx_q8_K_block(X + n * K + b * LE_QK_K, &y[c]);
                else
                    memset(&y[c], 0, sizeof y[c]);
            }
            struct le_xkpanel *o = (struct le_xkpanel *)A + u * nb + b;
            __m256i v[8];
            for (int h = 0; h < 2; h++) {
                for (int v0 = 0; v0 < 64; v0 += 8) {
                    for (int c = 0; c < 8; c++)
                        v[c] = _mm256_loadu_si256((const __m256i *)(y[8 * h + c].qs + 4 * v0));
                    le_tr8x8(v);
                    for (int g = 0; g < 8; g++)
                        _mm256_storeu_si256((__m256i *)&o->q[v0 + g][8 * h], v[g]);
                }
                for (int c = 0; c < 8; c++)
                    v[c] = _mm256_loadu_si256((const __m256i *)y[8 * h + c].bsums);
                le_tr8x8(v);
                for (int g = 0; g < 8; g++)
                    _mm256_storeu_si256((__m256i *)&o->bs[g][8 * h], v[g]);
            }
            for (int c = 0; c < LE_XKP; c++)
                o->d[c] = y[c].d;
        }
    }
}

/* R (<= LE_XK_RT) unpacked rows (w[i * LE_XK_SEG + s]) x one panel over ns
 * super-blocks: acc[r] lane c is row r against activation row c. */
LE_X512K_INLINE void le_xk_tile(const int T, const int R, const struct le_ksbx *w, int64_t ns,
                                const struct le_xkpanel *P, __m512 acc[LE_XK_RT]) {
    const int G = T == LE_KT_Q4 || T == LE_KT_Q5 ? 8 : 16; /* scale groups */
    const int VPG = 64 / G;                                /* dwords per group */
    for (int64_t s = 0; s < ns; s++) {
        const struct le_xkpanel *pb = P + s;
        __m512i is[LE_XK_RT];
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) is[r] = _mm512_setzero_si512();
        _Pragma("GCC unroll 16") for (int g = 0; g < G; g++) {
            __m512i t[LE_XK_RT];
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) t[r] = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int k = 0; k < VPG; k++) {
                const int v = g * VPG + k;
                const __m512i a = _mm512_loadu_si512(pb->q[v]);
                _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) t[r] = _mm512_dpbusd_epi32(
                    t[r], _mm512_set1_epi32(le_kx_ld32(w[r * LE_XK_SEG + s].q + 4 * v)), a);
            }
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) is[r] = _mm512_add_epi32(
                is[r], _mm512_mullo_epi32(t[r], _mm512_set1_epi32(w[r * LE_XK_SEG + s].sc[g * (16 / G)])));
        }
        const __m512 dy = _mm512_loadu_ps(pb->d);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            const struct le_ksbx *x = &w[r * LE_XK_SEG + s];
            __m512i m = _mm512_setzero_si512(), o = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int h = 0; h < 8; h++) {
                const __m512i bs = _mm512_loadu_si512(pb->bs[h]);
                if (LE_KOFF_SHIFT(T))
                    o = _mm512_dpwssd_epi32(o, _mm512_set1_epi32(le_kx_ld32(&x->sc[2 * h])), bs);
                if (LE_KHAS_MIN(T))
                    m = _mm512_dpwssd_epi32(m, _mm512_set1_epi32(le_kx_ld32(&x->mn[2 * h])), bs);
            }
            __m512i isum = is[r];
            if (LE_KOFF_SHIFT(T))
                isum = _mm512_sub_epi32(isum, _mm512_slli_epi32(o, LE_KOFF_SHIFT(T)));
            acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(x->d), dy),
                                                         _mm512_cvtepi32_ps(isum)));
            if (LE_KHAS_MIN(T))
                acc[r] = _mm512_sub_ps(acc[r], _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(x->dmin), dy),
                                                             _mm512_cvtepi32_ps(m)));
        }
    }
}

/* Tile of R rows x one panel, partial sums in buf ([row][16]; zero at the
 * first segment). */
LE_X512K_INLINE void le_xk_tile_io(const int T, const int R, const struct le_ksbx *w, int64_t ns,
                                   const struct le_xkpanel *P, float *buf, int first) {
    __m512 acc[LE_XK_RT];
    le_panel16_acc_load(acc, R, buf, first);
    le_xk_tile(T, R, w, ns, P, acc);
    le_panel16_acc_store(acc, R, buf);
}

/* What the tiles and the unpacking of a type's le_xk gemm share. */
struct le_xk_ctx {
    const struct le_gemm_job *j;
    const struct le_xkpanel *A;
    struct le_ksbx *wb; /* [row][segment] */
    int64_t nb;
};

LE_X512K_INLINE void le_xk_seg(const int T, void *c, int64_t rc, int64_t nr, int64_t b0, int64_t ns) {
    const struct le_xk_ctx *x = c;
    for (int64_t i = 0; i < nr; i++)
        for (int64_t s = 0; s < ns; s++)
            le_kx_unpack(T, (const char *)x->j->W + (rc + i) * x->j->w_row_bytes, b0 + s, &x->wb[i * LE_XK_SEG + s]);
}

LE_X512K_INLINE void le_xk_tile_at(const int T, const int R, void *c, int64_t i, int64_t p, int64_t b0, int64_t ns,
                                   float *buf, int first) {
    const struct le_xk_ctx *x = c;
    le_xk_tile_io(T, R, x->wb + i * LE_XK_SEG, ns, x->A + p * x->nb + b0, buf, first);
}

/* ---- activations: rows of Q8_K (N < LE_KPANEL_MIN_N) or panels ---- */

static size_t le_kx_act_row_bytes(int64_t K, int64_t N) {
    return N < LE_KPANEL_MIN_N ? (size_t)(K / LE_QK_K) * sizeof(le_block_q8_K) : 0;
}
static size_t le_kx_act_bytes(int64_t K, int64_t N) {
    if (le_x512q_use(N))
        return le_xk_act_bytes(K, N);
    if (N < LE_KPANEL_MIN_N)
        return le_kx_act_row_bytes(K, N) * (size_t)N;
    return (size_t)((N + LE_KPANEL - 1) / LE_KPANEL * (K / LE_QK_K)) * sizeof(struct le_kpanel);
}
static int64_t le_kx_act_unit(int64_t N) {
    if (le_x512q_use(N))
        return LE_XKP;
    return N < LE_KPANEL_MIN_N ? 1 : LE_KPANEL;
}
LE_AVX2 static void le_kx_act_convert(const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1) {
    if (le_x512q_use(N)) {
        le_xk_act_panels(X, A, K, N, u0, u1);
        return;
    }
    if (N >= LE_KPANEL_MIN_N) {
        for (int64_t u = u0; u < u1; u++)
            le_kx_act_panel(X, A, K, N, u);
        return;
    }
    const size_t rb = le_kx_act_row_bytes(K, N);
    for (int64_t n = u0; n < u1; n++)
        for (int64_t b = 0; b < K / LE_QK_K; b++)
            le_kx_q8_K_block(X + n * K + b * LE_QK_K, (le_block_q8_K *)((char *)A + n * rb) + b);
}

/* ---- per-type instances ---- */

#define LE_KX_TYPE(name, T)                                                                                     \
    LE_AVX2 static void le_##name##_prows4(const struct le_gemm_job *j, int64_t r, const struct le_ksbx *w,     \
                                           int64_t b0, int64_t ns) {                                          \
        le_kx_prows(T, LE_KPRT, j, r, w, b0, ns);                                                              \
    }                                                                                                          \
    LE_AVX2 static void le_##name##_prows1(const struct le_gemm_job *j, int64_t r, const struct le_ksbx *w,     \
                                           int64_t b0, int64_t ns) {                                          \
        le_kx_prows(T, 1, j, r, w, b0, ns);                                                                    \
    }                                                                                                          \
    LE_X512K static void le_##name##_xseg(void *c, int64_t rc, int64_t nr, int64_t b0, int64_t ns) {          \
        le_xk_seg(T, c, rc, nr, b0, ns);                                                                       \
    }                                                                                                          \
    LE_X512K static void le_##name##_xtile8(void *c, int64_t i, int64_t p, int64_t b0, int64_t ns, float *buf,  \
                                            int first) {                                                       \
        le_xk_tile_at(T, LE_XK_RT, c, i, p, b0, ns, buf, first);                                               \
    }                                                                                                          \
    LE_X512K static void le_##name##_xtile1(void *c, int64_t i, int64_t p, int64_t b0, int64_t ns, float *buf,  \
                                            int first) {                                                       \
        le_xk_tile_at(T, 1, c, i, p, b0, ns, buf, first);                                                      \
    }                                                                                                          \
    LE_X512K static void le_##name##_xgemm(const struct le_gemm_job *j, int64_t r0, int64_t r1) {              \
        struct le_ksbx wb[LE_XK_RCH * LE_XK_SEG];                                                              \
        _Alignas(64) float buf[LE_XK_PG * LE_XK_RCH * LE_XKP]; /* [panel][row][16] */                          \
        struct le_xk_ctx x = {j, j->A, wb, j->K / LE_QK_K};                                                    \
        const struct le_panel16_loop L = {LE_XK_RCH,        LE_XK_SEG,         LE_XK_RT,        LE_XK_PG,     \
                                          x.nb,             le_##name##_xseg, le_##name##_xtile8,              \
                                          le_##name##_xtile1};                                                 \
        le_panel16_gemm(j, r0, r1, L, &x, buf);                                                                \
    }                                                                                                          \
    LE_AVX2 static void le_gemm_##name(const struct le_gemm_job *j, int64_t r0, int64_t r1) {                 \
        if (j->N < LE_KPANEL_MIN_N)                                                                            \
            le_kx_gemm(T, j, r0, r1);                                                                          \
        else if (le_x512q_use(j->N))                                                                           \
            le_##name##_xgemm(j, r0, r1);                                                                      \
        else                                                                                                   \
            le_kx_gemm_panels(T, le_##name##_prows4, le_##name##_prows1, j, r0, r1);                           \
    }                                                                                                          \
    const struct le_gemm_impl le_gemm_avx2_##name = {le_kx_act_bytes, le_kx_act_unit, le_kx_act_convert,       \
                                                     le_kx_act_row_bytes, le_gemm_##name, NULL};               \
    LE_AVX2 void le_vec_dot_##name##_q8_K_avx2(int n, float *s, const void *x, const void *y) {               \
        le_kx_vec_dot(T, n, s, x, y);                                                                          \
    }

LE_KX_TYPE(q2_K, LE_KT_Q2)
LE_KX_TYPE(q3_K, LE_KT_Q3)
LE_KX_TYPE(q4_K, LE_KT_Q4)
LE_KX_TYPE(q5_K, LE_KT_Q5)
LE_KX_TYPE(q6_K, LE_KT_Q6)
