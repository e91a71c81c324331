/*
 * team: the workers of one le_pool_run executing a sequence of phases
 * together (the forward pass, a matmul), separated by barriers that spin
 * briefly and then sleep on a futex. One pool wake-up per forward pass
 * instead of one per op: a condvar round trip costs ~10-20 us, a barrier
 * between running threads well under 1 us, and prompt processing of a small
 * model has ~10 ops per layer of a few hundred microseconds each.
 *
 * Waiting policy (issue 12, defect 13): a member that reaches a barrier
 * first polls for LE_TEAM_SPIN pause instructions (tens of microseconds:
 * the usual imbalance at the end of a phase on a quiet machine), then
 * sleeps on a futex until the last member arrives and wakes the sleepers;
 * the pool's idle workers sleep on a condvar between runs. Nothing spins
 * for a time slice, so when the machine has fewer free cores than
 * threads (another job, `--threads` above the free cores), a member whose
 * partner was preempted gives its core back instead of burning it, and N
 * threads cost about what the cores they actually get can do, not N times
 * a scheduler quantum per barrier. Results do not depend on it: the work
 * split and the order of every sum are fixed by the phase, not by timing.
 * scripts/bench oversub measures it (eval at 1 and 2 threads, with and
 * without a busy loop on one core).
 *
 * Work inside a phase is taken from one shared counter that is never reset:
 * every member makes exactly one failing take per phase, so after a phase
 * of `count` items the counter has advanced by count + nth, which each
 * member adds to its own base (le_team_take). The barrier that ends the
 * phase keeps the phases' takes apart. le_team_take_on does the same on
 * one counter per member (ranges of work owned by members, which the
 * others take from once their own is done): every member makes one failing
 * take on each counter per phase that uses them.
 */
#include "le_kernels.h"

#include <limits.h>
#include <sched.h> /* sched_yield */

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LE_TEAM_FUTEX 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#define LE_PAUSE() __builtin_ia32_pause()
#else
#define LE_PAUSE() ((void)0)
#endif

/* ~20-40 us of polling before sleeping: covers the usual imbalance at the
 * end of a phase without burning a time slice when the partner was
 * preempted. */
#define LE_TEAM_SPIN 2000

void le_team_init(struct le_team *t, int nth) {
    t->nth = nth;
    atomic_init(&t->arrived, 0);
    atomic_init(&t->gen, 0);
    atomic_init(&t->sleepers, 0);
    atomic_init(&t->next, 0);
    for (int k = 0; k < LE_TEAM_OWN; k++)
        atomic_init(&t->own[k].n, 0);
}

void le_team_barrier(struct le_member *me) {
    struct le_team *t = me->t;
    if (t->nth == 1)
        return;
    int g = atomic_load_explicit(&t->gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) == t->nth - 1) {
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_store(&t->gen, g + 1); /* seq_cst: ordered before the sleepers load */
#ifdef LE_TEAM_FUTEX
        if (atomic_load(&t->sleepers) > 0)
            syscall(SYS_futex, (int *)&t->gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#endif
        return;
    }
    for (int i = 0; i < LE_TEAM_SPIN; i++) {
        if (atomic_load_explicit(&t->gen, memory_order_acquire) != g)
            return;
        LE_PAUSE();
    }
#ifdef LE_TEAM_FUTEX
    atomic_fetch_add(&t->sleepers, 1);
    while (atomic_load(&t->gen) == g) /* the kernel rechecks gen == g before sleeping */
        syscall(SYS_futex, (int *)&t->gen, FUTEX_WAIT_PRIVATE, g, NULL, NULL, 0);
    atomic_fetch_sub(&t->sleepers, 1);
#else
    while (atomic_load_explicit(&t->gen, memory_order_acquire) == g)
        sched_yield();
#endif
}

int64_t le_team_take(struct le_member *me, int64_t count) {
    int64_t c = (int64_t)atomic_fetch_add_explicit(&me->t->next, 1, memory_order_relaxed) - me->base;
    if (c < count)
        return c;
    me->base += count + me->t->nth;
    return -1;
}

int64_t le_team_take_on(struct le_member *me, int k, int64_t count) {
    int64_t c = (int64_t)atomic_fetch_add_explicit(&me->t->own[k].n, 1, memory_order_relaxed) - me->obase[k];
    if (c < count)
        return c;
    me->obase[k] += count + me->t->nth;
    return -1;
}
