/*
 * types_matmul: the ONE matmul driver, Y[N][rows] = X[N][K] . W^T.
 *
 * Two phases run by a team of workers (team.c; le_matmul wraps one
 * le_pool_run around them, the forward pass runs them inside its own):
 * (1) X is converted once into scratch, rounded to the weight type's
 * vec_dot_type and laid out the way its gemm reads it (rows, or panels of 8
 * interleaved rows for the quantized batch kernels), groups of units taken
 * from the team's counter, optionally after a "prep" of the rows (the norm
 * or SwiGLU that produces them); (2) the gemm runs over row chunks of W
 * (of one or several weights sharing X) taken from the counter, every
 * chunk against all N activation rows. A chunk's outputs depend only on
 * the chunk's rows, and every kernel computes each element with a fixed
 * operation sequence (the same as the table's vec_dot), so Y is
 * bit-identical for any thread count, N, or chunking.
 *
 * le_matmul_team_own (decode, a row or a few): every member converts X into
 * its own scratch (no phase 1, no barrier), and the rows are split into one
 * contiguous range per member, taken in chunks, first its own, then what is
 * left of the others' (le_mm_gemm_ranges).
 *
 * Paths, both from the weight type's row of the type table (le_type_get):
 * its gemm (AVX2, kernels_avx2*.c) when the CPU has AVX2+FMA+F16C and the
 * row has one, otherwise a generic gemm calling the row's vec_dot per
 * element (the AVX2 vec_dot when there is one, else the reference). le_matmul_scratch_size grows with N, so a
 * scratch sized for the largest batch serves every smaller one.
 */
#include "le_err.h"
#include "le_kernels.h"
#include "le_pool.h"
#include "le_types.h"

#include <stdlib.h> /* aligned_alloc, free */

#define LE_SCRATCH_ALIGN 64

/* ---- generic path: activations in vec_dot_type, one vec_dot per output ---- */

static void le_ref_gemm(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    for (int64_t n = 0; n < j->N; n++) {
        const char *a = (const char *)j->A + n * j->a_row_bytes;
        for (int64_t r = r0; r < r1; r++)
            j->vec_dot((int)j->K, j->Y + n * j->ldy + r, (const char *)j->W + r * j->w_row_bytes, a);
    }
}

/* ---- plan ---- */

struct le_mm_plan {
    const struct le_gemm_impl *impl;  /* the type's batched gemm; NULL = one vec_dot per output */
    const struct le_type_traits *vdt; /* per-element path: activation type */
    le_vec_dot_fn vec_dot;            /* per-element path: the weight type's vec_dot */
    size_t act_bytes;                 /* 0: X used as is */
    size_t a_row_bytes;
    int64_t unit;                     /* activation rows per conversion unit */
};

/* Everything comes from the type's row of the table (le_type_get: AVX2
 * kernels and gemm when the CPU has them, else the reference ones). */
static int le_mm_plan(struct le_mm_plan *p, int wtype, int64_t K, int64_t N) {
    *p = (struct le_mm_plan){0};
    const struct le_type_traits *t = le_type_get(wtype);
    if (!t || !t->vec_dot)
        return le_err_set(LE_EUNSUP, "matmul: unsupported weight type %s (%d)", le_type_name(wtype), wtype);
    if (K <= 0 || K % t->blck_size != 0 || K > INT32_MAX)
        return le_err_set(LE_EINVAL, "matmul: K = %lld is not a positive multiple of %s's block size %d",
                          (long long)K, t->name, t->blck_size);
    p->impl = t->gemm;
    if (p->impl) {
        p->act_bytes = p->impl->act_bytes ? p->impl->act_bytes(K, N) : 0;
        p->a_row_bytes = p->impl->act_row_bytes(K, N);
        p->unit = p->impl->act_unit(N);
        return LE_OK;
    }
    p->vdt = le_type_get((int)t->vec_dot_type);
    if (!p->vdt)
        return le_err_set(LE_EUNSUP, "matmul: no activation type for %s", t->name);
    p->vec_dot = t->vec_dot;
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

/* ---- run: by a team (team.c) ---- */

#define LE_MM_MAX_OUT 4

static int64_t le_div_up(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

/* Checks the arguments in the order le_matmul always has; *work = 0 when
 * there is nothing to multiply (then pointers are not checked). */
static int le_mm_check(struct le_mm_plan *plan, int wtype, int64_t K, const float *X, int64_t N,
                       const struct le_matmul_out *outs, int n_out, const void *scratch, int64_t *total_rows,
                       int *work) {
    *work = 0;
    *total_rows = 0;
    if (n_out < 1 || n_out > LE_MM_MAX_OUT || !outs)
        return le_err_set(LE_EINVAL, "matmul: %d outputs (1 to %d)", n_out, LE_MM_MAX_OUT);
    for (int i = 0; i < n_out; i++) {
        if (outs[i].rows < 0 || N < 0)
            return le_err_set(LE_EINVAL, "matmul: negative shape (rows %lld, N %lld)", (long long)outs[i].rows,
                              (long long)N);
        *total_rows += outs[i].rows;
    }
    int rc = le_mm_plan(plan, wtype, K, N > 0 ? N : 1);
    if (rc != LE_OK)
        return rc;
    if (*total_rows == 0 || N == 0)
        return LE_OK;
    if (!X || (plan->act_bytes && !scratch))
        return le_err_set(LE_EINVAL, "matmul: NULL argument");
    for (int i = 0; i < n_out; i++)
        if (outs[i].rows > 0 && (!outs[i].W || !outs[i].Y))
            return le_err_set(LE_EINVAL, "matmul: NULL argument");
    *work = 1;
    return LE_OK;
}

/* Phase 1: prep and conversion of X (none when A is NULL), units of rows
 * taken in groups. */
static void le_mm_convert(struct le_member *me, const struct le_mm_plan *pl, const float *X, void *A, int64_t K,
                          int64_t N, le_mm_prep_fn prep, void *prep_arg) {
    int64_t unit = pl->act_bytes ? pl->unit : 1, nunits = le_div_up(N, unit);
    int64_t grain = nunits / (8 * me->t->nth) > 1 ? nunits / (8 * me->t->nth) : 1;
    int64_t items = le_div_up(nunits, grain), it;
    while ((it = le_team_take(me, items)) >= 0) {
        int64_t u0 = it * grain, u1 = u0 + grain < nunits ? u0 + grain : nunits;
        if (prep)
            prep(prep_arg, u0 * unit, u1 * unit < N ? u1 * unit : N);
        if (!pl->act_bytes || !A)
            continue;
        if (pl->impl) {
            pl->impl->act_convert(X, A, K, N, u0, u1);
        } else {
            for (int64_t n = u0; n < u1; n++)
                pl->vdt->from_float_act(X + n * K, (char *)A + n * pl->a_row_bytes, K);
        }
    }
    le_team_barrier(me);
}

/* The gemm of rows [a, b) of the outputs' rows laid end to end. */
static void le_mm_gemm_span(const struct le_mm_plan *pl, struct le_gemm_job *job, const struct le_matmul_out *outs,
                            int n_out, int64_t a, int64_t b) {
    for (int o = 0, o0 = 0; o < n_out && a < b; o0 += (int)outs[o].rows, o++) {
        int64_t lo = a - o0, hi = b - o0 < outs[o].rows ? b - o0 : outs[o].rows;
        if (hi <= 0 || lo >= outs[o].rows)
            continue;
        lo = lo > 0 ? lo : 0;
        if (pl->impl)
            pl->impl->gemm(&job[o], lo, hi);
        else
            le_ref_gemm(&job[o], lo, hi);
    }
}

/* The gemm for a few activation rows (decode: each weight byte is read
 * once per call, so the rate is the memory's): the outputs' rows, laid end
 * to end, split into one contiguous range per member (multiples of 8 rows:
 * equal bytes, all rows having the weight type's size), each range in
 * chunks of 64 rows that its member takes in order -- so one member reads
 * one stream, and the kernel's prefetch of the next 8 rows is the rows it
 * reads next -- then the chunks left in the others' ranges (a member
 * preempted or slower leaves the rest of its range to the others). */
#define LE_MM_RANGE_CHUNK 64
static void le_mm_gemm_ranges(struct le_member *me, const struct le_mm_plan *pl, struct le_gemm_job *job,
                              const struct le_matmul_out *outs, int n_out, int64_t total) {
    int nth = me->t->nth;
    int64_t tiles = le_div_up(total, 8);
    for (int k = 0; k < nth; k++) {
        int m = (me->ith + k) % nth; /* own range first */
        int64_t lo = tiles * m / nth * 8, hi = tiles * (m + 1) / nth * 8;
        hi = hi < total ? hi : total;
        int64_t nch = hi > lo ? le_div_up(hi - lo, LE_MM_RANGE_CHUNK) : 0;
        for (int64_t c; (c = le_team_take_on(me, m, nch)) >= 0;) {
            int64_t a = lo + c * LE_MM_RANGE_CHUNK;
            le_mm_gemm_span(pl, job, outs, n_out, a, a + LE_MM_RANGE_CHUNK < hi ? a + LE_MM_RANGE_CHUNK : hi);
        }
    }
}

/* The chunks of the gemms with a work buffer (le_sgemm's: 64-row panels,
 * the activations re-read per panel, so a chunk's size only sets how often
 * a member takes work and how often a panel starts without its weights
 * fetched ahead): the outputs' rows laid end to end, each chunk about the
 * rows left over 2 x nth (guided), at most 1024, at least 64 (16 when the
 * matrix is small), in multiples of that -- big chunks while there is much
 * left, small ones at the end, so members finish together even when one
 * runs slower (a busy sibling hyperthread on the host). bnd[i], bnd[i + 1]:
 * chunk i's rows; returns the count. */
#define LE_MM_GUIDED_MAX 256
static int le_mm_guided(int64_t total, int nth, int64_t *bnd) {
    const int64_t gran = total >= 512 * (int64_t)nth ? 64 : 16;
    int n = 0;
    bnd[0] = 0;
    for (int64_t r = 0; r < total; n++) {
        int64_t left = total - r, s = le_div_up(le_div_up(left, 2 * (int64_t)nth), gran) * gran;
        s = s > 1024 ? 1024 : s;
        if (s > left || n == LE_MM_GUIDED_MAX - 1)
            s = left;
        r += s;
        bnd[n + 1] = r;
    }
    return n;
}

/* own = 0: le_matmul_team; own = 1: le_matmul_team_own (no prep). */
static int le_mm_team_run(struct le_member *me, int wtype, int64_t K, const float *X, int64_t N,
                          const struct le_matmul_out *outs, int n_out, void *scratch, le_mm_prep_fn prep,
                          void *prep_arg, int own) {
    struct le_mm_plan plan;
    int64_t total_rows;
    int work;
    int rc = le_mm_check(&plan, wtype, K, X, N, outs, n_out, scratch, &total_rows, &work);
    if (rc != LE_OK)
        return rc;
    void *A = plan.act_bytes && work
                  ? (void *)(((uintptr_t)scratch + LE_SCRATCH_ALIGN - 1) & ~(uintptr_t)(LE_SCRATCH_ALIGN - 1))
                  : (void *)X;
    if (own && work && plan.act_bytes) { /* all of X, by this member, into its own scratch */
        int64_t nunits = le_div_up(N, plan.unit);
        if (plan.impl)
            plan.impl->act_convert(X, A, K, N, 0, nunits);
        else
            for (int64_t n = 0; n < N; n++)
                plan.vdt->from_float_act(X + n * K, (char *)A + n * plan.a_row_bytes, K);
    } else if (!own && N > 0 && (prep || (work && plan.act_bytes)))
        le_mm_convert(me, &plan, X, work ? A : NULL, K, N, prep, prep_arg);
    if (!work)
        return LE_OK;

    struct le_gemm_job job[LE_MM_MAX_OUT];
    const size_t wb = plan.impl && plan.impl->work_bytes ? plan.impl->work_bytes(K, N) : 0;
    void *wk = wb ? aligned_alloc(64, (wb + 63) & ~(size_t)63) : NULL; /* NULL: the gemm's slow way */
    for (int i = 0; i < n_out; i++)
        job[i] = (struct le_gemm_job){.W = outs[i].W, .w_row_bytes = le_type_row_size(wtype, K), .A = A,
                                      .a_row_bytes = plan.a_row_bytes, .K = K, .N = N, .Y = outs[i].Y,
                                      .ldy = outs[i].rows,
                                      .vec_dot = plan.vec_dot, .work = wk, .work_bytes = wk ? wb : 0};
    if (own && me->t->nth <= LE_TEAM_OWN) {
        le_mm_gemm_ranges(me, &plan, job, outs, n_out, total_rows);
    } else if (wb) {
        int64_t bnd[LE_MM_GUIDED_MAX + 1];
        int nch = le_mm_guided(total_rows, me->t->nth, bnd);
        for (int64_t c; (c = le_team_take(me, nch)) >= 0;)
            le_mm_gemm_span(&plan, job, outs, n_out, bnd[c], bnd[c + 1]);
    } else {
        /* chunks of a multiple of 8 rows (whole tiles), ~8 per thread, at
         * most 64, per output */
        int64_t first[LE_MM_MAX_OUT + 1]; /* chunk index where each output starts */
        int64_t chunk = le_div_up(total_rows, 8 * me->t->nth);
        chunk = (chunk + 7) / 8 * 8;
        chunk = chunk > 64 ? 64 : chunk;
        first[0] = 0;
        for (int i = 0; i < n_out; i++)
            first[i + 1] = first[i] + le_div_up(outs[i].rows, chunk);
        int o = 0;
        int64_t o0 = 0; /* rows of the outputs before o */
        for (int64_t c; (c = le_team_take(me, first[n_out])) >= 0;) {
            while (c >= first[o + 1]) /* a member's chunks come in increasing order */
                o0 += outs[o++].rows;
            int64_t r0 = (c - first[o]) * chunk;
            int64_t r1 = r0 + chunk < outs[o].rows ? r0 + chunk : outs[o].rows;
            le_mm_gemm_span(&plan, job, outs, n_out, o0 + r0, o0 + r1);
        }
    }
    free(wk);
    le_team_barrier(me);
    return LE_OK;
}

int le_matmul_team(struct le_member *me, int wtype, int64_t K, const float *X, int64_t N,
                   const struct le_matmul_out *outs, int n_out, void *scratch, le_mm_prep_fn prep,
                   void *prep_arg) {
    return le_mm_team_run(me, wtype, K, X, N, outs, n_out, scratch, prep, prep_arg, 0);
}

int le_matmul_team_own(struct le_member *me, int wtype, int64_t K, const float *X, int64_t N,
                       const struct le_matmul_out *outs, int n_out, void *scratch) {
    return le_mm_team_run(me, wtype, K, X, N, outs, n_out, scratch, NULL, NULL, 1);
}

/* ---- run: on a pool ---- */

struct le_mm_pool_arg {
    int wtype, n_out, rc;
    int64_t K, N;
    const float *X;
    const struct le_matmul_out *outs;
    void *scratch;
    struct le_team team;
};

static void le_mm_pool_fn(void *arg, int ith, int nth) {
    (void)nth;
    struct le_mm_pool_arg *a = arg;
    struct le_member me = {.t = &a->team, .ith = ith, .base = 0};
    int rc = le_matmul_team(&me, a->wtype, a->K, a->X, a->N, a->outs, a->n_out, a->scratch, NULL, NULL);
    if (ith == 0)
        a->rc = rc;
}

int le_matmul_multi(struct le_pool *pool, int wtype, int64_t K, const float *X, int64_t N,
                    const struct le_matmul_out *outs, int n_out, void *scratch) {
    struct le_mm_plan plan;
    int64_t total_rows;
    int work;
    int rc = le_mm_check(&plan, wtype, K, X, N, outs, n_out, scratch, &total_rows, &work);
    if (rc != LE_OK || !work)
        return rc;
    /* Small products are not worth waking the workers. */
    int nth = pool ? le_pool_nthreads(pool) : 1;
    double flops = (double)total_rows * (double)K * (double)N;
    struct le_pool *p = (nth > 1 && flops >= 2.0e5) ? pool : NULL;
    struct le_mm_pool_arg a = {.wtype = wtype, .n_out = n_out, .K = K, .N = N, .X = X, .outs = outs,
                               .scratch = scratch};
    le_team_init(&a.team, p ? nth : 1);
    le_pool_run(p, le_mm_pool_fn, &a);
    return a.rc;
}

int le_matmul(struct le_pool *pool, const void *W, int wtype, int64_t rows, int64_t K,
              const float *X, int64_t N, float *Y, void *scratch) {
    struct le_matmul_out o = {.W = W, .rows = rows, .Y = Y};
    return le_matmul_multi(pool, wtype, K, X, N, &o, 1, scratch);
}
