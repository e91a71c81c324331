/*
 * le_memplan: what a command shows and checks before it loads a model's
 * weights into a context: the memory plan (le_ctx_mem_plan: the weights
 * mapped, the KV cache, the scratch, their total) beside the memory the
 * process may still use (le_mem_available), as one line on stderr, and a
 * refusal when the total does not fit -- before anything is allocated or
 * paged in, so a context too large fails in a second with a clear error
 * instead of swapping or being killed.
 *
 * For ppl, eval, bench, generate and compare (several models at once, a
 * context each: their plans summed). In the test build the environment
 * variable LE_TEST_MEM_ROOT names a folder read in place of / for
 * /proc/meminfo and the cgroup files (le_mem_available's root), so tests
 * can make any amount of memory "available".
 */
#ifndef LE_MEMPLAN_H
#define LE_MEMPLAN_H

struct le_model;

/* Prints "llamaeval: memory: weights W mapped + KV cache K + scratch S =
 * T (A available, source)" on stderr unless quiet; returns LE_OK, or
 * LE_ENOMEM (message set: le_ctx_mem_check's) when T exceeds the available
 * memory. When the available memory cannot be read the plan is printed and
 * nothing is refused. */
int le_memplan_check(const struct le_model *m, int n_ctx, int n_batch, int nthreads, int quiet);
/* The same for n models used together, each with its own context of n_ctx
 * and n_batch (compare's text pass): the sum of their plans, the line
 * saying "for N models" when n > 1. */
int le_memplan_check_models(const struct le_model *const *m, int n, int n_ctx, int n_batch, int nthreads,
                            int quiet);

#endif
