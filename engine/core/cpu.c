/*
 * cpu: the one CPU feature probe (le_cpu.h). CPUID through GCC's builtins
 * (__builtin_cpu_supports for the AVX2, AVX-512 and VNNI tiers, __get_cpuid_count for SHA-NI,
 * which the builtin does not name), computed on first use and cached in an
 * atomic: a property of the machine, so every thread may compute it and all
 * get the same value.
 */
#include "le_cpu.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h> /* __get_cpuid, __get_cpuid_count, bit_SSE4_1, bit_SSSE3 */

static unsigned le_cpu_probe(void) {
    unsigned f = 0;
    __builtin_cpu_init(); /* idempotent; needed when called from a constructor */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        f |= LE_CPU_AVX2;
    if ((f & LE_CPU_AVX2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        f |= LE_CPU_AVX512;
    if ((f & LE_CPU_AVX512) && __builtin_cpu_supports("avx512vnni"))
        f |= LE_CPU_AVX512VNNI;
    if ((f & LE_CPU_AVX2) && __builtin_cpu_supports("avxvnni"))
        f |= LE_CPU_AVXVNNI;
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
        __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((b >> 29) & 1)) /* CPUID.(EAX=7,ECX=0):EBX.SHA */
        f |= LE_CPU_SHA;
    return f;
}
#else
static unsigned le_cpu_probe(void) { return 0; }
#endif

unsigned le_cpu_features(void) {
    /* -1: not asked yet */
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        v = (int)le_cpu_probe();
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return (unsigned)v;
}
