/*
 * sha256: SHA-256 after FIPS 180-4 section 6.2. The _ref compression is the
 * textbook 64 rounds over big-endian 32-bit words (a few hundred MB/s); on
 * x86 CPUs with the SHA extensions (Intel since Goldmont/Ice Lake, AMD since
 * Zen) le_sha256_compress runs the sha256rnds2/msg1/msg2 instructions
 * instead, several times faster, which matters when a multi-gigabyte model
 * file is hashed on first use. The choice is made once per process from
 * CPUID. The file path streams through a 1 MiB buffer.
 */
#include "le_sha256.h"
#include "le_cpu.h" /* le_cpu_features, LE_CPU_SHA */
#include "le_err.h" /* le_err_set, LE_EIO */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots
 * of the first 64 primes. */
static const uint32_t le_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t le_rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void le_sha256_block_ref(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 |
               (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = le_rotr(w[t - 15], 7) ^ le_rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = le_rotr(w[t - 2], 17) ^ le_rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = le_rotr(e, 6) ^ le_rotr(e, 11) ^ le_rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + le_sha256_k[t] + w[t];
        uint32_t S0 = le_rotr(a, 2) ^ le_rotr(a, 13) ^ le_rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

void le_sha256_compress_ref(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    for (; nblocks; nblocks--, p += 64)
        le_sha256_block_ref(h, p);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h> /* _mm_sha256rnds2_epu32 and friends */

/*
 * The SHA-NI compression (Intel's published dataflow). The state lives in
 * two registers as ABEF and CDGH; each sha256rnds2 does two rounds, so a
 * group of four words W[t..t+3] + K[t..t+3] takes two of them. W is kept in
 * four registers: W[i] = msg2(msg1(W[i-4], W[i-3]) + W[t-7..t-4], W[i-1]).
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void le_sha256_compress_shani(uint32_t h[8], const uint8_t *p,
                                                                                 size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* EFGH */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                                         /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);                                              /* CDGH */
    for (; nblocks; nblocks--, p += 64) {
        __m128i abef = s0, cdgh = s1, w[4];
        for (int i = 0; i < 16; i++) {
            if (i < 4) {
                w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
            } else {
                __m128i x = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
                w[i & 3] = _mm_sha256msg2_epu32(x, w[(i + 3) & 3]);
            }
            __m128i m = _mm_add_epi32(w[i & 3], _mm_loadu_si128((const __m128i *)&le_sha256_k[4 * i]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, m);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);  /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1); /* DCHG */
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, s1, 0xF0)); /* DCBA */
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(s1, t, 8));    /* HGFE */
}

#endif

int le_sha256_accelerated(void) { return (le_cpu_features() & LE_CPU_SHA) != 0; }

void le_sha256_compress(uint32_t h[8], const uint8_t *p, size_t nblocks) {
#if defined(__x86_64__) || defined(__i386__)
    if (le_sha256_accelerated()) {
        le_sha256_compress_shani(h, p, nblocks);
        return;
    }
#endif
    le_sha256_compress_ref(h, p, nblocks);
}

void le_sha256_init(struct le_sha256_ctx *c) {
    /* FIPS 180-4 5.3.3: fractional parts of the square roots of the first 8 primes. */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->nbytes = 0;
    c->nbuf = 0;
}

void le_sha256_update(struct le_sha256_ctx *c, const void *data, size_t n) {
    const uint8_t *p = data;
    c->nbytes += n;
    if (c->nbuf) {
        size_t take = 64 - c->nbuf < n ? 64 - c->nbuf : n;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        n -= take;
        if (c->nbuf < 64)
            return;
        le_sha256_compress(c->h, c->buf, 1);
        c->nbuf = 0;
    }
    if (n >= 64) {
        le_sha256_compress(c->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    if (n) {
        memcpy(c->buf, p, n);
        c->nbuf = n;
    }
}

void le_sha256_final(struct le_sha256_ctx *c, uint8_t out[32]) {
    uint64_t bits = c->nbytes * 8;
    /* Pad: 0x80, zeros to 56 mod 64, then the 64-bit big-endian bit length. */
    uint8_t pad[72] = {0x80};
    size_t npad = (c->nbuf < 56 ? 56 : 120) - c->nbuf;
    for (int i = 0; i < 8; i++)
        pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t keep = c->nbytes;
    le_sha256_update(c, pad, npad + 8);
    c->nbytes = keep;
    LE_ASSERT(c->nbuf == 0);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void le_sha256(const void *data, size_t n, uint8_t out[32]) {
    struct le_sha256_ctx c;
    le_sha256_init(&c);
    le_sha256_update(&c, data, n);
    le_sha256_final(&c, out);
}

void le_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char xd[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = xd[digest[i] >> 4];
        hex[2 * i + 1] = xd[digest[i] & 15];
    }
    hex[64] = 0;
}

int le_sha256_file_progress(const char *path, char hex[65], le_progress_cb cb, void *ud) {
    enum { CHUNK = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return le_err_set(LE_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    uint64_t total = (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) ? (uint64_t)st.st_size : 0;
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return le_err_set(LE_ENOMEM, "out of memory hashing %s", path);
    }
    struct le_sha256_ctx c;
    le_sha256_init(&c);
    uint64_t done = 0;
    size_t r;
    while ((r = fread(buf, 1, CHUNK, f)) > 0) {
        le_sha256_update(&c, buf, r);
        done += r;
        if (cb)
            cb(ud, done, total);
    }
    int err = ferror(f);
    int saved = errno;
    free(buf);
    fclose(f);
    if (err)
        return le_err_set(LE_EIO, "cannot read %s: %s", path, strerror(saved));
    uint8_t d[32];
    le_sha256_final(&c, d);
    le_sha256_hex(d, hex);
    return LE_OK;
}

int le_sha256_file(const char *path, char hex[65]) { return le_sha256_file_progress(path, hex, NULL, NULL); }
