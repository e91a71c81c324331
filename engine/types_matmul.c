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

struct le_mm_run {
    const struct le_mm_plan *plan;
    const float *X;
    void *A;
    struct le_gemm_job job;
    int64_t rows, chunk;
    atomic_int_fast64_t next; /* next chunk index */
};

static void le_mm_convert(void *arg, int ith, int nth) {
    struct le_mm_run *m = arg;
    const struct le_mm_plan *pl = m->plan;
    int64_t u0, u1, nunits = (m->job.N + pl->unit - 1) / pl->unit;
    le_pool_range(nunits, ith, nth, &u0, &u1);
    if (pl->impl) {
        if (u0 < u1)
            pl->impl->act_convert(m->X, m->A, m->job.K, m->job.N, u0, u1);
        return;
    }
    for (int64_t n = u0; n < u1; n++)
        pl->vdt->from_float_act(m->X + n * m->job.K, (char *)m->A + n * pl->a_row_bytes, m->job.K);
}

static void le_mm_gemm(void *arg, int ith, int nth) {
    (void)ith;
    (void)nth;
    struct le_mm_run *m = arg;
    int64_t nchunks = (m->rows + m->chunk - 1) / m->chunk;
    for (;;) {
        int64_t c = atomic_fetch_add(&m->next, 1);
        if (c >= nchunks)
            break;
        int64_t r0 = c * m->chunk, r1 = r0 + m->chunk < m->rows ? r0 + m->chunk : m->rows;
        if (m->plan->impl)
            m->plan->impl->gemm(&m->job, r0, r1);
        else
            le_ref_gemm(&m->job, r0, r1);
    }
}

int le_matmul(struct le_pool *pool, const void *W, int wtype, int64_t rows, int64_t K,
              const float *X, int64_t N, float *Y, void *scratch) {
    struct le_mm_plan plan;
    if (rows < 0 || N < 0)
        return le_err_set(LE_EINVAL, "matmul: negative shape (rows %lld, N %lld)", (long long)rows, (long long)N);
    int rc = le_mm_plan(&plan, wtype, K, N > 0 ? N : 1);
    if (rc != LE_OK)
        return rc;
    if (rows == 0 || N == 0)
        return LE_OK;
    if (!W || !X || !Y || (plan.act_bytes && !scratch))
        return le_err_set(LE_EINVAL, "matmul: NULL argument");

    struct le_mm_run m = {.plan = &plan, .X = X, .rows = rows};
    m.A = plan.act_bytes ? (void *)(((uintptr_t)scratch + LE_SCRATCH_ALIGN - 1) & ~(uintptr_t)(LE_SCRATCH_ALIGN - 1))
                         : (void *)X;
    m.job = (struct le_gemm_job){.W = W, .w_row_bytes = le_type_row_size(wtype, K), .A = m.A,
                                 .a_row_bytes = plan.a_row_bytes, .K = K, .N = N, .Y = Y, .ldy = rows,
                                 .vec_dot = plan.vdt ? le_type_get_ref(wtype)->vec_dot : NULL};
    atomic_init(&m.next, 0);

    /* Small products are not worth waking the workers. */
    int nth = pool ? le_pool_nthreads(pool) : 1;
    double work = (double)rows * (double)K * (double)N;
    struct le_pool *p = (nth > 1 && work >= 2.0e5) ? pool : NULL;
    nth = p ? nth : 1;

    /* Chunks: a multiple of 8 rows (whole tiles), ~8 per thread. */
    int64_t chunk = (rows + 8 * nth - 1) / (8 * nth);
    chunk = (chunk + 7) / 8 * 8;
    if (chunk > 64)
        chunk = 64;
    m.chunk = chunk < 8 ? 8 : chunk;

    if (plan.act_bytes)
        le_pool_run(p, le_mm_convert, &m);
    le_pool_run(p, le_mm_gemm, &m);
    return LE_OK;
}
