/*
 * le_cpu: what this CPU can run -- the one feature probe behind every choice
 * between a scalar reference kernel and its SIMD twin (matmul types, the
 * shared ops of inference and training, SHA-256).
 *
 * The kernel tiers nest: AVX2 (below), AVX-512 (F/BW/VL/DQ, only with the
 * AVX2 tier), AVX-512 VNNI (only with AVX-512), AVX-VNNI (only with AVX2).
 * The AVX2 kernel sets are one tier: AVX2 + FMA + F16C together (every CPU
 * with AVX2 has the other two; asking for all three everywhere keeps the
 * inference, training and matmul kernels on the same side of the choice).
 * The answer is the hardware's, asked once and cached; it is not a setting
 * (tests pick the reference kernels through their own parameters).
 */
#ifndef LE_CPU_H
#define LE_CPU_H

enum {
    LE_CPU_AVX2 = 1 << 0, /* AVX2 + FMA + F16C: the engine's SIMD tier */
    LE_CPU_SHA = 1 << 1,  /* SHA-NI with SSE4.1 and SSSE3 */
    LE_CPU_AVX512 = 1 << 2,   /* AVX-512 F + BW + VL + DQ on top of the AVX2 tier: the batched float gemms */
    LE_CPU_AVX512VNNI = 1 << 3, /* LE_CPU_AVX512 + AVX512-VNNI: the batched quantized gemms */
    LE_CPU_AVXVNNI = 1 << 4,  /* AVX-VNNI (VEX vpdpbusd) on top of the AVX2 tier: the decode kernels */
};

/* The LE_CPU_* bits this CPU has (0 off x86). Thread-safe. */
unsigned le_cpu_features(void);

/* 1 when the AVX2 kernels may run. */
static inline int le_cpu_avx2(void) { return (le_cpu_features() & LE_CPU_AVX2) != 0; }
/* 1 when the CPU has every bit of `bits` (LE_CPU_*). */
static inline int le_cpu_has(unsigned bits) { return (le_cpu_features() & bits) == bits; }

#endif
