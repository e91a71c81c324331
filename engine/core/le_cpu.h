/*
 * le_cpu: what this CPU can run -- the one feature probe behind every choice
 * between a scalar reference kernel and its SIMD twin (matmul types, the
 * shared ops of inference and training, SHA-256).
 *
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
};

/* The LE_CPU_* bits this CPU has (0 off x86). Thread-safe. */
unsigned le_cpu_features(void);

/* 1 when the AVX2 kernels may run. */
static inline int le_cpu_avx2(void) { return (le_cpu_features() & LE_CPU_AVX2) != 0; }

#endif
