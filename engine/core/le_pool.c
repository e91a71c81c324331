/*
 * le_pool: persistent worker threads woken per job by a generation counter
 * under a mutex/condvar. Jobs are coarse (a whole matmul, an attention layer),
 * so a condvar round trip per job (~10 us) is negligible next to the work.
 */
#include "le_pool.h"
#include "le_err.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h> /* sysconf */

struct le_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    uint64_t generation; /* bumped per job */
    int pending;         /* workers (excluding caller) still running the job */
    int quit;
    le_pool_fn fn;
    void *arg;
};

struct le_worker_start {
    struct le_pool *p;
    int ith;
};

static void *le_pool_main(void *vp) {
    struct le_worker_start *ws = vp;
    struct le_pool *p = ws->p;
    int ith = ws->ith;
    free(ws);
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        le_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);

        fn(arg, ith, p->n);

        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
}

int le_ncpu(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int le_pool_new(struct le_pool **out, int n) {
    *out = NULL;
    if (n <= 0)
        n = le_ncpu();
    if (n > 1024)
        return le_err_set(LE_EINVAL, "thread count %d is too large", n);
    struct le_pool *p = calloc(1, sizeof *p);
    if (!p)
        return le_err_set(LE_ENOMEM, "out of memory creating thread pool");
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (n > 1) {
        p->threads = calloc((size_t)n, sizeof *p->threads);
        if (!p->threads) {
            le_pool_free(p);
            return le_err_set(LE_ENOMEM, "out of memory creating thread pool");
        }
        for (int i = 1; i < n; i++) {
            struct le_worker_start *ws = malloc(sizeof *ws);
            if (ws) {
                ws->p = p;
                ws->ith = i;
            }
            if (!ws || pthread_create(&p->threads[i], NULL, le_pool_main, ws) != 0) {
                free(ws);
                p->n = i; /* only join those started */
                le_pool_free(p);
                return le_err_set(LE_ENOMEM, "cannot start worker thread %d", i);
            }
        }
    }
    *out = p;
    return LE_OK;
}

void le_pool_free(struct le_pool *p) {
    if (!p)
        return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        p->quit = 1;
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++)
            pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p);
}

int le_pool_nthreads(const struct le_pool *p) { return p ? p->n : 1; }

void le_pool_run(struct le_pool *p, le_pool_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    fn(arg, 0, p->n);

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
