/*
 * ops_int: what ops.c (the reference and the choice) and ops_avx2.c (the
 * AVX2 table) share. Not an interface: use le_ops.h.
 */
#ifndef LE_OPS_INT_H
#define LE_OPS_INT_H

#include "le_ops.h"

/* A table from the functions named le_<op>_<sfx>, one per op. */
#define LE_OPS_TABLE(sfx)                                                                                            \
    {                                                                                                                \
        .vexp = le_vexp_##sfx, .softmax = le_softmax_##sfx, .rope = le_rope_##sfx, .swiglu = le_swiglu_##sfx,          \
        .add_rmsnorm = le_add_rmsnorm_##sfx, .dot = le_dot_##sfx,                                                    \
    }

#if defined(__x86_64__) || defined(__i386__)
#define LE_OPS_X86 1
extern const struct le_ops le_ops_avx2_table;
#endif

#endif
