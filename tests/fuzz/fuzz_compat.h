/*
 * fuzz_compat: force-included (-include) into every file of the fuzz build
 * only. Debian 12's clang 14 does not know the "f16c" feature name of
 * __builtin_cpu_supports (GCC does), so the CPU probe reads "no" and the
 * engine takes its scalar reference kernels -- which the readers being
 * fuzzed never reach anyway.
 */
#if defined(__clang__) && __clang_major__ < 16
#define __builtin_cpu_supports(feature) ((void)(feature), 0)
#endif
