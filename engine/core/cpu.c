/*
 * cpu: the one CPU feature probe (le_cpu.h). CPUID and XGETBV read directly
 * (GCC's and clang's __builtin_cpu_supports do not name the same features:
 * clang 14 knows neither "f16c" nor "avxvnni"), computed on first use and
 * cached in an atomic: a property of the machine, so every thread may compute
 * it and all get the same value. A tier counts only when the OS saves its
 * registers (XCR0): the YMM state for AVX2, the opmask and ZMM states for
 * AVX-512.
 */
#include "le_cpu.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h> /* __get_cpuid, __get_cpuid_count */

static unsigned long long le_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static unsigned le_cpu_probe(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const unsigned c1 = c;
    const int sse41 = (c1 >> 19) & 1, ssse3 = (c1 >> 9) & 1;
    const int fma = (c1 >> 12) & 1, osxsave = (c1 >> 27) & 1, avx = (c1 >> 28) & 1, f16c = (c1 >> 29) & 1;
    unsigned b7 = 0, c7 = 0, a71 = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        b7 = b, c7 = c;
        if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d))
            a71 = a;
    }
    const unsigned long long xcr0 = osxsave ? le_xcr0() : 0;
    const int ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xE6) == 0xE6;
    if (avx && ymm_os && fma && f16c && ((b7 >> 5) & 1))
        f |= LE_CPU_AVX2;
    /* AVX-512 F (EBX 16), DQ (17), BW (30), VL (31) */
    if ((f & LE_CPU_AVX2) && zmm_os && ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1))
        f |= LE_CPU_AVX512;
    if ((f & LE_CPU_AVX512) && ((c7 >> 11) & 1)) /* AVX512_VNNI: ECX 11 */
        f |= LE_CPU_AVX512VNNI;
    if ((f & LE_CPU_AVX2) && ((a71 >> 4) & 1)) /* AVX-VNNI: CPUID.(7,1):EAX 4 */
        f |= LE_CPU_AVXVNNI;
    if (sse41 && ssse3 && ((b7 >> 29) & 1)) /* SHA: CPUID.(7,0):EBX 29 */
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
