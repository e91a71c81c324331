/*
 * memplan: the memory plan a command prints and checks before it makes a
 * context (le_memplan.h). The numbers come from the engine
 * (le_ctx_mem_plan: the sizes le_ctx_new allocates) and the kernel
 * (le_mem_available); this file only joins them and talks to the user.
 */
#include "le_memplan.h"

#include "le_err.h"   /* LE_OK */
#include "le_mem.h"   /* le_mem_available, le_mem_fmt */
#include "le_model.h" /* le_ctx_mem_plan, le_ctx_mem_check */

#include <stdio.h>
#include <stdlib.h> /* getenv: the test seam */

int le_memplan_check_models(const struct le_model *const *m, int n, int n_ctx, int n_batch, int nthreads,
                            int quiet) {
    struct le_ctx_mem p = {0};
    for (int i = 0; i < n; i++) {
        struct le_ctx_mem one;
        int rc = le_ctx_mem_plan(m[i], n_ctx, n_batch, nthreads, &one);
        if (rc)
            return rc;
        p.weights += one.weights;
        p.kv += one.kv;
        p.scratch += one.scratch;
        p.total += one.total;
    }
    const char *root = "";
#ifdef LE_TESTING /* a seam of the test build only */
    const char *r = getenv("LE_TEST_MEM_ROOT");
    if (r && r[0])
        root = r;
#endif
    uint64_t avail = 0;
    int src = 0;
    int known = le_mem_available(root, &avail, &src) == LE_OK;
    if (!quiet) {
        char w[32], k[32], s[32], t[32], a[48] = "", models[32] = "";
        le_mem_fmt(p.weights, w, sizeof w);
        le_mem_fmt(p.kv, k, sizeof k);
        le_mem_fmt(p.scratch, s, sizeof s);
        le_mem_fmt(p.total, t, sizeof t);
        if (known)
            le_mem_fmt(avail, a, sizeof a);
        if (n > 1)
            snprintf(models, sizeof models, " for %d models", n);
        fprintf(stderr, "llamaeval: memory: weights %s mapped + KV cache %s + scratch %s = %s%s (%s%s%s)\n", w, k, s,
                t, models, known ? a : "available memory unknown", known ? " available, " : "",
                known ? le_mem_source_name(src) : "");
    }
    if (!known)
        return LE_OK;
    int rc = le_ctx_mem_check(&p, n_ctx, avail, le_mem_source_name(src));
    return rc && n > 1 ? le_err_wrap(rc, "%d models at once", n) : rc;
}

int le_memplan_check(const struct le_model *m, int n_ctx, int n_batch, int nthreads, int quiet) {
    return le_memplan_check_models(&m, 1, n_ctx, n_batch, nthreads, quiet);
}
