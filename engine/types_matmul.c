/*
 * types_matmul: the ONE matmul driver, Y[N][rows] = X[N][K] . W^T.
 *
 * Two phases on the pool: (1) X is converted once into scratch, rounded to
 * the weight type's vec_dot_type and laid out the way its gemm reads it
 * (rows, or panels of 8 interleaved rows for the quantized batch kernels),
 * units of X split statically across workers; (2) the gemm runs over row
 * chunks of W taken from an atomic counter, every chunk against all N
 * activation rows. A chunk's outputs depend only on the chunk's rows, and
 * every kernel computes each element with a fixed operation sequence (the
 * same as the table's vec_dot), so Y is bit-identical for any thread count,
 * N, or chunking.
 *
 * Paths: AVX2 gemms (kernels_avx2.c, kernels_avx2_q.c) when the CPU has
 * AVX2+FMA+F16C and the type has one, otherwise a scalar gemm calling the
 * reference vec_dot per element. le_matmul_scratch_size grows with N, so a
 * scratch sized for the largest batch serves every smaller one.
 */
#include "le_err.h"
#include "le_kernels.h"
#include "le_pool.h"
#include "le_types.h"

#include <stdatomic.h> /* chunk counter */

#define LE_SCRATCH_ALIGN 64

/* ---- scalar path: activations in vec_dot_type, one vec_dot per output ---- */

static void le_ref_gemm(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    for (int64_t n = 0; n < j->N; n++) {
        const char *a = (const char *)j->A + n * j->a_row_bytes;
        for (int64_t r = r0; r < r1; r++)
            j->vec_dot((int)j->K, j->Y + n * j->ldy + r, (const char *)j->W + r * j->w_row_bytes, a);
    }
}

/* ---- plan ---- */

struct le_mm_plan {
    const struct le_gemm_impl *impl; /* AVX2; NULL = scalar path */
    const struct le_type_traits *vdt; /* scalar path: activation type */
    size_t act_bytes;                 /* 0: X used as is */
    size_t a_row_bytes;
    int64_t unit;                     /* activation rows per conversion unit */
};

static int le_mm_plan(struct le_mm_plan *p, int wtype, int64_t K, int64_t N) {
    *p = (struct le_mm_plan){0};
    const struct le_type_traits *t = le_type_get_ref(wtype);
    if (!t || !t->vec_dot)
        return le_err_set(LE_EUNSUP, "matmul: unsupported weight type %s (%d)", le_type_name(wtype), wtype);
    if (K <= 0 || K % t->blck_size != 0 || K > INT32_MAX)
        return le_err_set(LE_EINVAL, "matmul: K = %lld is not a positive multiple of %s's block size %d",
                          (long long)K, t->name, t->blck_size);
    if (le_kernels_have_avx2())
        p->impl = le_gemm_impl_avx2(wtype);
    if (p->impl) {
        p->act_bytes = p->impl->act_bytes ? p->impl->act_bytes(K, N) : 0;
        p->a_row_bytes = p->impl->act_row_bytes(K, N);
        p->unit = p->impl->act_unit(N);
        return LE_OK;
    }
    p->vdt = le_type_get_ref((int)t->vec_dot_type);
    if (!p->vdt)
        return le_err_set(LE_EUNSUP, "matmul: no activation type for %s", t->name);
    p->a_row_bytes = le_type_row_size((int)t->vec_dot_type, K);
    p->act_bytes = t->vec_dot_type == LE_TYPE_F32 ? 0 : p->a_row_bytes * (size_t)N;
    p->unit = 1;
    return LE_OK;
}

size_t le_matmul_scratch_size(int wtype, int64_t K, int64_t N) {
    struct le_mm_plan p;
    if (N <= 0 || le_mm_plan(&p, wtype, K, N) != LE_OK)
        return 0;
    return p.act_bytes + LE_SCRATCH_ALIGN;
}

/* ---- run ---- */

#define LE_MM_MAX_OUT 4

struct le_mm_run {
    const struct le_mm_plan *plan;
    const float *X;
    void *A;
    int n_out;
    struct le_gemm_job job[LE_MM_MAX_OUT];
    int64_t rows[LE_MM_MAX_OUT];
    int64_t first[LE_MM_MAX_OUT + 1]; /* chunk index where each output starts */
    int64_t chunk;
    atomic_int_fast64_t next; /* next chunk index over all outputs */
};

static void le_mm_convert(void *arg, int ith, int nth) {
    struct le_mm_run *m = arg;
    const struct le_mm_plan *pl = m->plan;
    int64_t N = m->job[0].N, K = m->job[0].K;
    int64_t u0, u1, nunits = (N + pl->unit - 1) / pl->unit;
    le_pool_range(nunits, ith, nth, &u0, &u1);
    if (pl->impl) {
        if (u0 < u1)
            pl->impl->act_convert(m->X, m->A, K, N, u0, u1);
        return;
    }
    for (int64_t n = u0; n < u1; n++)
        pl->vdt->from_float_act(m->X + n * K, (char *)m->A + n * pl->a_row_bytes, K);
}

static void le_mm_gemm(void *arg, int ith, int nth) {
    (void)ith;
    (void)nth;
    struct le_mm_run *m = arg;
    int o = 0;
    for (;;) {
        int64_t c = atomic_fetch_add(&m->next, 1);
        if (c >= m->first[m->n_out])
            break;
        while (c >= m->first[o + 1]) /* chunks are taken in increasing order */
            o++;
        int64_t r0 = (c - m->first[o]) * m->chunk;
        int64_t r1 = r0 + m->chunk < m->rows[o] ? r0 + m->chunk : m->rows[o];
        if (m->plan->impl)
            m->plan->impl->gemm(&m->job[o], r0, r1);
        else
            le_ref_gemm(&m->job[o], r0, r1);
    }
}

int le_matmul_multi(struct le_pool *pool, int wtype, int64_t K, const float *X, int64_t N,
                    const struct le_matmul_out *outs, int n_out, void *scratch) {
    struct le_mm_plan plan;
    if (n_out < 1 || n_out > LE_MM_MAX_OUT || !outs)
        return le_err_set(LE_EINVAL, "matmul: %d outputs (1 to %d)", n_out, LE_MM_MAX_OUT);
    int64_t total_rows = 0;
    for (int i = 0; i < n_out; i++) {
        if (outs[i].rows < 0)
            return le_err_set(LE_EINVAL, "matmul: negative shape (rows %lld)", (long long)outs[i].rows);
        total_rows += outs[i].rows;
    }
    if (N < 0)
        return le_err_set(LE_EINVAL, "matmul: negative shape (N %lld)", (long long)N);
    int rc = le_mm_plan(&plan, wtype, K, N > 0 ? N : 1);
    if (rc != LE_OK)
        return rc;
    if (total_rows == 0 || N == 0)
        return LE_OK;
    if (!X || (plan.act_bytes && !scratch))
        return le_err_set(LE_EINVAL, "matmul: NULL argument");
    for (int i = 0; i < n_out; i++)
        if (outs[i].rows > 0 && (!outs[i].W || !outs[i].Y))
            return le_err_set(LE_EINVAL, "matmul: NULL argument");

    struct le_mm_run m = {.plan = &plan, .X = X, .n_out = n_out};
    m.A = plan.act_bytes ? (void *)(((uintptr_t)scratch + LE_SCRATCH_ALIGN - 1) & ~(uintptr_t)(LE_SCRATCH_ALIGN - 1))
                         : (void *)X;
    for (int i = 0; i < n_out; i++) {
        m.rows[i] = outs[i].rows;
        m.job[i] = (struct le_gemm_job){.W = outs[i].W, .w_row_bytes = le_type_row_size(wtype, K), .A = m.A,
                                        .a_row_bytes = plan.a_row_bytes, .K = K, .N = N, .Y = outs[i].Y,
                                        .ldy = outs[i].rows,
                                        .vec_dot = plan.vdt ? le_type_get_ref(wtype)->vec_dot : NULL};
    }
    atomic_init(&m.next, 0);

    /* Small products are not worth waking the workers. */
    int nth = pool ? le_pool_nthreads(pool) : 1;
    double work = (double)total_rows * (double)K * (double)N;
    struct le_pool *p = (nth > 1 && work >= 2.0e5) ? pool : NULL;
    nth = p ? nth : 1;

    /* Chunks: a multiple of 8 rows (whole tiles), ~8 per thread. */
    int64_t chunk = (total_rows + 8 * nth - 1) / (8 * nth);
    chunk = (chunk + 7) / 8 * 8;
    if (chunk > 64)
        chunk = 64;
    m.chunk = chunk < 8 ? 8 : chunk;
    m.first[0] = 0;
    for (int i = 0; i < n_out; i++)
        m.first[i + 1] = m.first[i] + (m.rows[i] + m.chunk - 1) / m.chunk;

    if (plan.act_bytes)
        le_pool_run(p, le_mm_convert, &m);
    le_pool_run(p, le_mm_gemm, &m);
    return LE_OK;
}

int le_matmul(struct le_pool *pool, const void *W, int wtype, int64_t rows, int64_t K,
              const float *X, int64_t N, float *Y, void *scratch) {
    if (rows < 0 || N < 0)
        return le_err_set(LE_EINVAL, "matmul: negative shape (rows %lld, N %lld)", (long long)rows, (long long)N);
    struct le_matmul_out o = {.W = W, .rows = rows, .Y = Y};
    return le_matmul_multi(pool, wtype, K, X, N, &o, 1, scratch);
}
