/*
 * metrics: the statistics behind every reported number.
 *
 *   mean and its closed-form standard error (lm-eval's mean_stderr: sample
 *   standard deviation / sqrt(n));
 *   a seeded bootstrap for everything without a closed form (perplexities
 *   of documents, word/byte perplexity): deterministic for (seed, n, iters),
 *   resampling with an xoshiro256** stream; the standard error is the sample
 *   standard deviation of the replicates, as lm-eval's bootstrap_stderr;
 *   llama.cpp's PPL +/- (perplexity.cpp: sqrt(var(nll) / (count - 1)) * ppl);
 *   Python's random.Random (MT19937 + init_by_array) and random.sample,
 *   bit-exact, because lm-eval draws few-shot examples with them.
 *
 * Sums run in index order in double, so results never depend on threads.
 */
#include "le_tasks.h"

#include <math.h>
#include <stdlib.h>

#include "le_err.h"  /* le_err_set */
#include "le_util.h" /* le_splitmix64 */

double le_stat_mean(const double *x, int64_t n) {
    if (n <= 0)
        return NAN;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

double le_stat_mean_stderr(const double *x, int64_t n) {
    if (n < 2)
        return NAN;
    double mu = le_stat_mean(x, n), ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        ss += (x[i] - mu) * (x[i] - mu);
    return sqrt(ss / (double)(n - 1)) / sqrt((double)n);
}

/* ---- xoshiro256** seeded by splitmix64 ---- */

void le_rng_seed(struct le_rng *g, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = le_splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t le_rng_next(struct le_rng *g) {
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t le_rng_below(struct le_rng *g, uint64_t n) {
    uint64_t threshold = (0 - n) % n, x;
    do
        x = le_rng_next(g);
    while (x < threshold);
    return x % n;
}

double le_stat_bootstrap(int64_t n, int iters, uint64_t seed,
                         double (*stat)(void *ud, const int64_t *idx, int64_t n), void *ud) {
    if (n < 2 || iters < 2)
        return NAN;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    double *rep = malloc((size_t)iters * sizeof *rep);
    if (!idx || !rep) {
        free(idx);
        free(rep);
        return NAN;
    }
    struct le_rng g;
    le_rng_seed(&g, seed);
    for (int it = 0; it < iters; it++) {
        for (int64_t i = 0; i < n; i++)
            idx[i] = (int64_t)le_rng_below(&g, (uint64_t)n);
        rep[it] = stat(ud, idx, n);
    }
    double se = le_stat_mean_stderr(rep, iters) * sqrt((double)iters);
    free(idx);
    free(rep);
    return se;
}

void le_stat_ppl_llamacpp(double sum_nll, double sumsq_nll, int64_t count, double *ppl, double *ppl_err) {
    if (count <= 0) {
        *ppl = NAN;
        *ppl_err = NAN;
        return;
    }
    double nll = sum_nll / (double)count, nll2 = sumsq_nll / (double)count;
    *ppl = exp(nll);
    nll2 -= nll * nll;
    *ppl_err = (nll2 > 0 && count > 1) ? sqrt(nll2 / (double)(count - 1)) * *ppl : NAN;
}

/* ---- Python's random module (Modules/_randommodule.c, Lib/random.py) ---- */

static void mt_init_genrand(struct le_pyrandom *g, uint32_t s) {
    g->mt[0] = s;
    for (int i = 1; i < 624; i++)
        g->mt[i] = 1812433253U * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + (uint32_t)i;
    g->mti = 624;
}

void le_pyrandom_seed(struct le_pyrandom *g, uint64_t seed) {
    /* random.seed(int): key = 32-bit words of the absolute value, low first. */
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    int klen = key[1] ? 2 : 1;
    mt_init_genrand(g, 19650218U);
    uint32_t *mt = g->mt;
    int i = 1, j = 0;
    for (int k = 624 > klen ? 624 : klen; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525U)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= 624) {
            mt[0] = mt[623];
            i = 1;
        }
        if (j >= klen)
            j = 0;
    }
    for (int k = 623; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941U)) - (uint32_t)i;
        i++;
        if (i >= 624) {
            mt[0] = mt[623];
            i = 1;
        }
    }
    mt[0] = 0x80000000U;
}

uint32_t le_pyrandom_u32(struct le_pyrandom *g) {
    static const uint32_t mag01[2] = {0x0U, 0x9908b0dfU};
    uint32_t *mt = g->mt, y;
    if (g->mti >= 624) {
        int kk;
        for (kk = 0; kk < 624 - 397; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + 397] ^ (y >> 1) ^ mag01[y & 1U];
        }
        for (; kk < 623; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 1U];
        }
        y = (mt[623] & 0x80000000U) | (mt[0] & 0x7fffffffU);
        mt[623] = mt[396] ^ (y >> 1) ^ mag01[y & 1U];
        g->mti = 0;
    }
    y = mt[g->mti++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

/* getrandbits(k) for 1 <= k <= 63 (words low first, as CPython fills them). */
static uint64_t py_getrandbits(struct le_pyrandom *g, int k) {
    if (k <= 32)
        return le_pyrandom_u32(g) >> (32 - k);
    uint64_t lo = le_pyrandom_u32(g);
    uint64_t hi = le_pyrandom_u32(g) >> (64 - k);
    return lo | (hi << 32);
}

int64_t le_pyrandom_below(struct le_pyrandom *g, int64_t n) {
    if (n <= 0)
        return 0;
    int k = 0;
    for (uint64_t v = (uint64_t)n; v; v >>= 1)
        k++; /* n.bit_length() */
    uint64_t r = py_getrandbits(g, k);
    while (r >= (uint64_t)n)
        r = py_getrandbits(g, k);
    return (int64_t)r;
}

int le_pyrandom_sample(struct le_pyrandom *g, int64_t n, int64_t k, int64_t *out) {
    if (k < 0 || k > n)
        return le_err_set(LE_EINVAL, "Sample larger than population or is negative (%lld of %lld)",
                          (long long)k, (long long)n);
    /* random.sample: a pool for small populations, a set of picks otherwise. */
    int64_t setsize = 21;
    if (k > 5) {
        int64_t e = (int64_t)ceil(log((double)(k * 3)) / log(4.0)), p = 1;
        for (int64_t i = 0; i < e; i++)
            p *= 4;
        setsize += p;
    }
    if (n <= setsize) {
        int64_t *pool = malloc((size_t)(n > 0 ? n : 1) * sizeof *pool);
        if (!pool)
            return le_err_set(LE_ENOMEM, "out of memory");
        for (int64_t i = 0; i < n; i++)
            pool[i] = i;
        for (int64_t i = 0; i < k; i++) {
            int64_t j = le_pyrandom_below(g, n - i);
            out[i] = pool[j];
            pool[j] = pool[n - i - 1];
        }
        free(pool);
        return LE_OK;
    }
    for (int64_t i = 0; i < k; i++) {
        int64_t j;
        int dup;
        do {
            j = le_pyrandom_below(g, n);
            dup = 0;
            for (int64_t q = 0; q < i && !dup; q++)
                dup = out[q] == j;
        } while (dup);
        out[i] = j;
    }
    return LE_OK;
}
