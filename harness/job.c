/*
 * job: one run in the results store doing resumable cells (le_job.h has the
 * protocol). A thin layer over le_store: the run's row, the models, the cell
 * keys, done-or-compute, incremental samples, and the status the run ends
 * with -- the part eval, ppl and sweep used to copy.
 *
 * Workload: a handful of store calls per cell (begin, a few sample batches,
 * finish), each one short transaction; the cells themselves (minutes of
 * forward passes or training) dominate, so one mutex around the store is
 * enough for several threads.
 *
 * Claims: the job keeps the keys of the cells it holds in a list; a lease
 * thread, started with the first claim, renews them on a store connection
 * of its own every lease/4 s (so a cell training for an hour between two
 * commits keeps its claim) and stops at le_job_end. A waiter polls every
 * LE_JOB_POLL_MS: waits are for cells of minutes, so a second's delay
 * costs nothing, and polling needs no channel between processes beyond the
 * file they share.
 *
 * Signals: the handler writes the signal number as one byte to a pipe
 * (write(2) is async-signal-safe); the job's watcher thread reads it and
 * ends the run "interrupted" on a connection of its own (the main one may be
 * inside a transaction), then, unless the client asked for a graceful first
 * signal, restores the default action and raises the signal again so the
 * process ends as it would have. A signal ignored when the job opened (a
 * shell's background job) stays ignored.
 */
#include "le_job.h"

#include "le_err.h"
#include "le_format.h"   /* struct le_lora_spec */
#include "le_hashcache.h" /* model sha256s remembered by path, size, mtime */
#include "le_model.h"    /* struct le_model_info */
#include "le_progress.h" /* hashing progress */
#include "le_sha256.h"   /* directory and LoRA digests */
#include "le_types.h"    /* le_type_name */

#include <cjson/cJSON.h> /* le_job_config_canonical */
#include <dirent.h>      /* directory models */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h> /* nanosleep, clock_gettime */
#include <unistd.h>

enum { LE_JOB_POLL_MS = 250 };

struct le_job {
    struct le_store *store;
    char *db;
    int64_t run_id;
    pthread_mutex_t mu;          /* serialises store calls of several threads */
    long kill_after, stop_after;
    int64_t committed;           /* samples committed by this job (kill_after) */
    int64_t from_store, computed; /* cells */
    /* Signals (opts.signals != NONE). */
    int signals;
    int pipe_fd[2];              /* -1 when not catching */
    pthread_t watcher;
    int watching;
    int caught[2];               /* SIGINT, SIGTERM: our handler installed */
    struct sigaction old[2];
    atomic_int interrupted;
    /* Claims. */
    char host[256];
    double lease_s;
    void (*on_wait)(void *ud, const char *task, const struct le_store_holder *h);
    void *wait_ud;
    pthread_mutex_t cmu;         /* the list below and the lease thread's state */
    pthread_cond_t ccv;
    char (*held)[65];            /* keys of the cells this job has claimed */
    int n_held, cap_held;
    pthread_t leaser;
    int leasing, stop_lease;
};

static const int le_job_sigs[2] = {SIGINT, SIGTERM};

/* The write end of the catching job's pipe: the handler can reach nothing
 * else. -1 when no job catches signals. */
static volatile sig_atomic_t le_job_sig_fd = -1;

static void le_job_on_signal(int sig) {
    int e = errno;
    unsigned char b = (unsigned char)sig;
    if (le_job_sig_fd >= 0 && write(le_job_sig_fd, &b, 1) < 0) {
        /* nothing to do in a handler */
    }
    errno = e;
}

/* Ends the run "interrupted" on a connection of the watcher's own. */
static void le_job_mark_interrupted(struct le_job *j) {
    struct le_store *s = NULL;
    if (j->db && !le_store_open(&s, j->db))
        le_store_end_run(s, j->run_id, "interrupted");
    le_store_close(s);
}

static void *le_job_watch(void *arg) {
    struct le_job *j = arg;
    int seen = 0;
    for (;;) {
        unsigned char b = 0;
        ssize_t r = read(j->pipe_fd[0], &b, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || b == 0) /* le_job_end's stop byte */
            return NULL;
        atomic_store(&j->interrupted, 1);
        if (j->signals == LE_JOB_SIGNALS_FLAG && ++seen == 1)
            continue;
        le_job_mark_interrupted(j);
        struct sigaction dfl = {0};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(b, &dfl, NULL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, b);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        raise(b); /* ends the process as the signal would have */
        _exit(128 + b);
    }
}

static int le_job_catch(struct le_job *j) {
    if (le_job_sig_fd >= 0)
        return le_err_set(LE_EINVAL, "job: another job of this process already catches SIGINT/SIGTERM");
    if (pipe(j->pipe_fd))
        return le_err_set(LE_EIO, "job: pipe: %s", strerror(errno));
    for (int i = 0; i < 2; i++)
        fcntl(j->pipe_fd[i], F_SETFD, FD_CLOEXEC);
    fcntl(j->pipe_fd[1], F_SETFL, O_NONBLOCK);
    if (pthread_create(&j->watcher, NULL, le_job_watch, j)) {
        close(j->pipe_fd[0]);
        close(j->pipe_fd[1]);
        j->pipe_fd[0] = j->pipe_fd[1] = -1;
        return le_err_set(LE_ENOMEM, "job: cannot start the signal watcher");
    }
    j->watching = 1;
    le_job_sig_fd = j->pipe_fd[1];
    for (int i = 0; i < 2; i++) {
        struct sigaction sa = {0};
        sa.sa_handler = le_job_on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(le_job_sigs[i], NULL, &j->old[i]) == 0 && j->old[i].sa_handler != SIG_IGN)
            j->caught[i] = sigaction(le_job_sigs[i], &sa, NULL) == 0;
    }
    return LE_OK;
}

static void le_job_uncatch(struct le_job *j) {
    for (int i = 0; i < 2; i++)
        if (j->caught[i])
            sigaction(le_job_sigs[i], &j->old[i], NULL);
    if (j->watching) {
        le_job_sig_fd = -1;
        unsigned char stop = 0;
        while (write(j->pipe_fd[1], &stop, 1) < 0 && errno == EINTR) {
        }
        pthread_join(j->watcher, NULL);
        close(j->pipe_fd[0]);
        close(j->pipe_fd[1]);
        j->watching = 0;
    }
}

static void le_job_stop_lease(struct le_job *j) {
    pthread_mutex_lock(&j->cmu);
    j->stop_lease = 1;
    pthread_cond_signal(&j->ccv);
    pthread_mutex_unlock(&j->cmu);
    if (j->leasing)
        pthread_join(j->leaser, NULL);
    j->leasing = 0;
}

static void le_job_free(struct le_job *j) {
    le_job_stop_lease(j);
    pthread_mutex_destroy(&j->cmu);
    pthread_cond_destroy(&j->ccv);
    free(j->held);
    le_store_close(j->store);
    pthread_mutex_destroy(&j->mu);
    free(j->db);
    free(j);
}

int le_job_open(struct le_job **out, const struct le_job_opts *o) {
    *out = NULL;
    if (!o || !o->command)
        return le_err_set(LE_EINVAL, "job: a command is required");
    struct le_job *j = calloc(1, sizeof *j);
    if (!j || (o->db && !(j->db = strdup(o->db)))) {
        free(j);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->cmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->ccv, &ca);
    pthread_condattr_destroy(&ca);
    if (gethostname(j->host, sizeof j->host - 1) != 0)
        j->host[0] = 0;
    j->lease_s = o->lease_s > 0 ? o->lease_s : LE_JOB_LEASE_S;
    j->on_wait = o->on_wait;
    j->wait_ud = o->wait_ud;
    j->kill_after = o->kill_after;
    j->stop_after = o->stop_after;
#ifdef LE_TESTING /* the seams exist only in the test build (see CMakeLists.txt) */
    const char *ka = getenv("LE_TEST_KILL_AFTER"), *sa = getenv("LE_TEST_STOP_AFTER");
    if (!j->kill_after && ka)
        j->kill_after = atol(ka);
    if (!j->stop_after && sa)
        j->stop_after = atol(sa);
    const char *ls = getenv("LE_TEST_LEASE_S"); /* a lease no slow machine outlives */
    if (ls && atof(ls) > 0)
        j->lease_s = atof(ls);
#else
    j->kill_after = j->stop_after = 0;
#endif
    j->signals = o->signals;
    j->pipe_fd[0] = j->pipe_fd[1] = -1;
    int rc = o->db ? le_store_open(&j->store, o->db) : LE_OK;
    if (!rc && j->store)
        rc = le_store_begin_run(j->store, o->command, o->config_json, o->seed, o->threads, &j->run_id);
    if (!rc && o->signals != LE_JOB_SIGNALS_NONE && (rc = le_job_catch(j)) && j->store)
        le_store_end_run(j->store, j->run_id, "failed");
    if (rc) {
        le_job_free(j);
        return rc;
    }
    *out = j;
    return LE_OK;
}

int le_job_end(struct le_job *j, int rc) {
    if (!j)
        return rc;
    le_job_uncatch(j);
    le_job_stop_lease(j);
    const char *status = atomic_load(&j->interrupted) ? "interrupted" : rc ? "failed" : "ok";
    if (j->store && rc) { /* (no store: nothing to record) */
        char msg[1024]; /* ending the run must not overwrite the error being reported */
        snprintf(msg, sizeof msg, "%s", le_err_msg());
        le_store_end_run(j->store, j->run_id, status);
        for (int i = 0; i < j->n_held; i++) /* cells not released: free them for others */
            le_store_cell_unclaim(j->store, j->held[i], j->run_id);
        le_err_set(rc, "%s", msg);
    } else if (j->store) {
        rc = le_store_end_run(j->store, j->run_id, status);
    }
    le_job_free(j);
    return rc;
}

int64_t le_job_run_id(const struct le_job *j) { return j->run_id; }
int le_job_interrupted(const struct le_job *j) { return atomic_load(&((struct le_job *)j)->interrupted); }
struct le_store *le_job_store(struct le_job *j) { return j->store; }
void le_job_lock(struct le_job *j) { pthread_mutex_lock(&j->mu); }
void le_job_unlock(struct le_job *j) { pthread_mutex_unlock(&j->mu); }

int le_job_note(struct le_job *j, const char *json) {
    if (!j || !j->store)
        return LE_OK;
    le_job_lock(j);
    int rc = le_store_run_note(j->store, j->run_id, json);
    le_job_unlock(j);
    return rc;
}

void le_job_counts(const struct le_job *j, int64_t *from_store, int64_t *computed) {
    pthread_mutex_lock(&((struct le_job *)j)->mu);
    if (from_store)
        *from_store = j->from_store;
    if (computed)
        *computed = j->computed;
    pthread_mutex_unlock(&((struct le_job *)j)->mu);
}

/* Functions to record models. */

static int le_job_name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file's sha256 through the cache in the user's cache folder. */
static int le_job_hash_file(const char *path, char sha[65]) {
    char cache[4096];
    const char *cf = le_hashcache_default(cache, sizeof cache) == LE_OK ? cache : NULL;
    return le_hashcache_file(cf, path, NULL, NULL, sha, NULL);
}

/* A directory model (Hugging Face, Meta): sha256 over "name sha256\n" of
 * its regular files in name order (subdirectories are not part of it). */
static int le_job_hash_dir(const char *path, char sha[65]) {
    DIR *d = opendir(path);
    if (!d)
        return le_err_set(LE_EIO, "%s: cannot list: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = LE_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        char full[4096];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            char **q = realloc(names, (cap = cap * 2 + 16) * sizeof *names);
            if (!q) {
                rc = le_err_set(LE_ENOMEM, "out of memory");
                break;
            }
            names = q;
        }
        if (!(names[n++] = strdup(e->d_name)))
            rc = le_err_set(LE_ENOMEM, "out of memory");
    }
    closedir(d);
    if (names)
        qsort(names, n, sizeof *names, le_job_name_cmp);
    struct le_sha256_ctx c;
    le_sha256_init(&c);
    for (size_t i = 0; !rc && i < n; i++) {
        char full[4096], h[65];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (!(rc = le_job_hash_file(full, h))) {
            le_sha256_update(&c, names[i], strlen(names[i]) + 1);
            le_sha256_update(&c, h, 64);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    uint8_t dg[32];
    le_sha256_final(&c, dg);
    le_sha256_hex(dg, sha);
    return rc;
}

int le_job_hash_lora(const char *base_sha, const struct le_lora_spec *lora, int n_lora, char sha[65]) {
    struct le_sha256_ctx c;
    le_sha256_init(&c);
    le_sha256_update(&c, base_sha, 64);
    for (int i = 0; i < n_lora; i++) {
        char h[65], sc[32];
        struct stat st;
        int rc = stat(lora[i].path, &st) == 0 && S_ISDIR(st.st_mode) ? le_job_hash_dir(lora[i].path, h)
                                                                      : le_sha256_file(lora[i].path, h);
        if (rc)
            return rc;
        snprintf(sc, sizeof sc, " lora %.9g ", (double)lora[i].scale);
        le_sha256_update(&c, sc, strlen(sc));
        le_sha256_update(&c, h, 64);
    }
    uint8_t dg[32];
    le_sha256_final(&c, dg);
    le_sha256_hex(dg, sha);
    return LE_OK;
}

int le_job_hash_model(const char *path, uint64_t size, int show_progress, char sha[65]) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return le_job_hash_dir(path, sha);
    char cache[4096];
    const char *cf = le_hashcache_default(cache, sizeof cache) == LE_OK ? cache : NULL;
    if (le_hashcache_lookup(cf, path, sha))
        return LE_OK;
    struct le_progress *prog = NULL;
    if (show_progress)
        le_progress_new(&prog, "hashing model", size, 0);
    int rc = le_hashcache_file(cf, path, prog ? le_progress_callback : NULL, prog, sha, NULL);
    le_progress_finish(prog);
    return rc;
}

int le_job_put_model(struct le_job *j, const struct le_store_model *m, int64_t *model_id) {
    if (!j->store)
        return le_err_set(LE_EINVAL, "job: no store to record the model in");
    le_job_lock(j);
    int rc = le_store_put_model(j->store, m, model_id);
    le_job_unlock(j);
    return rc;
}

int le_job_add_model(struct le_job *j, const char *path, const char *sha, const struct le_model_info *in,
                     int64_t *model_id) {
    struct le_store_model sm = {
        .path = path, .sha256 = sha, .arch = in->arch, .type = le_type_name(in->main_type), .name = in->name,
        .n_params = in->n_params, .n_params_nonembed = in->n_params_nonembed,
        .file_size = (int64_t)in->file_size, .tokens_trained = -1,
    };
    return le_job_put_model(j, &sm, model_id);
}

/* Functions for cells. */

static int le_job_result_cb(void *ud, const char *metric, double value, double se, int64_t n) {
    struct le_job_cell *c = ud;
    struct le_store_result *r = realloc(c->results, ((size_t)c->n_results + 1) * sizeof *r);
    if (!r)
        return le_err_set(LE_ENOMEM, "out of memory");
    c->results = r;
    char *name = strdup(metric ? metric : "");
    if (!name)
        return le_err_set(LE_ENOMEM, "out of memory");
    r[c->n_results++] = (struct le_store_result){.metric = name, .value = value, .stderr_v = se, .n = n};
    return 0;
}

/* Functions for claims. */

static struct le_store_claim le_job_claim_of(const struct le_job *j) {
    return (struct le_store_claim){.run_id = j->run_id, .host = j->host, .pid = (int64_t)getpid(),
                                   .lease_s = j->lease_s};
}

/* The lease thread: renews every held claim every lease/4 seconds. */
static void *le_job_lease_main(void *arg) {
    struct le_job *j = arg;
    struct le_store *s = NULL;
    char (*keys)[65] = NULL;
    pthread_mutex_lock(&j->cmu);
    while (!j->stop_lease) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double at = (double)t.tv_sec + (double)t.tv_nsec * 1e-9 + j->lease_s / 4;
        t.tv_sec = (time_t)at;
        t.tv_nsec = (long)((at - (double)t.tv_sec) * 1e9);
        while (!j->stop_lease && pthread_cond_timedwait(&j->ccv, &j->cmu, &t) == 0) {
        }
        if (j->stop_lease)
            break;
        int n = j->n_held;
        char(*k)[65] = n ? realloc(keys, (size_t)n * sizeof *keys) : keys;
        if (!k)
            continue;
        keys = k;
        memcpy(keys, j->held, (size_t)n * sizeof *keys);
        /* Renewing under cmu: the stop_after seam holds it to stop the process
         * outside a renewal's write transaction. A failure here only lets the
         * lease run out; finish copes with that. */
        if (n && (s || !le_store_open(&s, j->db))) {
            struct le_store_claim c = le_job_claim_of(j);
            for (int i = 0; i < n; i++) {
                int held = 0;
                le_store_cell_renew(s, keys[i], &c, &held);
            }
        }
    }
    pthread_mutex_unlock(&j->cmu);
    le_store_close(s);
    free(keys);
    return NULL;
}

/* Adds a claimed key to the held list, starting the lease thread. */
static int le_job_hold(struct le_job *j, const char *key) {
    int rc = LE_OK;
    pthread_mutex_lock(&j->cmu);
    if (j->n_held == j->cap_held) {
        int cap = j->cap_held ? 2 * j->cap_held : 8;
        char(*h)[65] = realloc(j->held, (size_t)cap * sizeof *h);
        if (h) {
            j->held = h;
            j->cap_held = cap;
        } else {
            rc = le_err_set(LE_ENOMEM, "out of memory");
        }
    }
    if (!rc)
        memcpy(j->held[j->n_held++], key, 65);
    if (!rc && !j->leasing && !j->stop_lease) {
        if (pthread_create(&j->leaser, NULL, le_job_lease_main, j))
            rc = le_err_set(LE_ENOMEM, "job: cannot start the lease thread");
        else
            j->leasing = 1;
    }
    pthread_mutex_unlock(&j->cmu);
    return rc;
}

/* Does a thread of this job hold the cell? */
static int le_job_holds(struct le_job *j, const char *key) {
    int in = 0;
    pthread_mutex_lock(&j->cmu);
    for (int i = 0; i < j->n_held && !in; i++)
        in = !strcmp(j->held[i], key);
    pthread_mutex_unlock(&j->cmu);
    return in;
}

static void le_job_unhold(struct le_job *j, const char *key) {
    pthread_mutex_lock(&j->cmu);
    for (int i = 0; i < j->n_held; i++)
        if (!strcmp(j->held[i], key)) {
            memmove(j->held[i], j->held[i + 1], (size_t)(j->n_held - i - 1) * sizeof *j->held);
            j->n_held--;
            break;
        }
    pthread_mutex_unlock(&j->cmu);
}

/* Is the holder a process of this host that no longer exists? */
static int le_job_holder_gone(const struct le_job *j, const struct le_store_holder *h) {
    return h->host[0] && !strcmp(h->host, j->host) && h->pid > 0 && kill((pid_t)h->pid, 0) != 0 && errno == ESRCH;
}

static void le_job_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Claims the cell for this job, or finds it done; waits while it is held. */
static int le_job_claim(struct le_job *j, struct le_job_cell *cell) {
    struct le_store_claim me = le_job_claim_of(j);
    int64_t take = 0;
    int told = 0;
    for (;;) {
        struct le_store_holder h = {.run_id = j->run_id, .pid = me.pid, .expires_in = j->lease_s};
        int state = LE_STORE_CLAIM_HELD, rc = LE_OK;
        snprintf(h.host, sizeof h.host, "%s", j->host);
        /* Under the job's lock: another thread of this job holding the cell
         * (the store would hand our own run's claim back) makes us wait too. */
        le_job_lock(j);
        if (!le_job_holds(j, cell->key))
            rc = le_store_cell_claim(j->store, cell->key, &me, take, &state, &h);
        if (!rc && state == LE_STORE_CLAIM_DONE && !(rc = le_store_get_results(j->store, cell->key, le_job_result_cb, cell))) {
            j->from_store++;
            cell->done = 1;
        }
        if (!rc && state == LE_STORE_CLAIM_OURS && !(rc = le_job_hold(j, cell->key)))
            cell->job = j;
        le_job_unlock(j);
        if (rc || state != LE_STORE_CLAIM_HELD)
            return rc;
        if (h.run_id != j->run_id && le_job_holder_gone(j, &h)) { /* its claimant died here: take over now */
            take = h.run_id;
            continue;
        }
        if (!told++ && j->on_wait)
            j->on_wait(j->wait_ud, cell->task, &h);
        if (le_job_interrupted(j))
            return le_err_set(LE_EINTR, "interrupted while waiting for cell %s (%s)", cell->key, cell->task);
        le_job_sleep_ms(LE_JOB_POLL_MS);
    }
}

int le_job_cell_begin(struct le_job *j, const char *model_sha, const char *task, const char *config_json,
                      struct le_job_cell *cell) {
    memset(cell, 0, sizeof *cell);
    if (!task || !task[0] || !config_json)
        return le_err_set(LE_EINVAL, "job: a cell needs a task and a config");
    if (!j->store)
        return le_err_set(LE_EINVAL, "job: cells need a store");
    le_store_cell_key(cell->key, model_sha, task, config_json);
    if (!(cell->task = strdup(task)) || !(cell->config = strdup(config_json))) {
        le_job_cell_release(cell);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    return le_job_claim(j, cell);
}

int le_job_cell_samples(struct le_job *j, const struct le_job_cell *cell,
                        int (*fn)(void *ud, int64_t doc, int64_t req, const char *json), void *ud) {
    le_job_lock(j);
    int rc = le_store_get_samples(j->store, cell->key, fn, ud);
    le_job_unlock(j);
    return rc;
}

int le_job_cell_put_samples(struct le_job *j, struct le_job_cell *cell, const struct le_store_sample *smp, int n) {
    if (n == 0)
        return LE_OK;
    le_job_lock(j);
    int rc = le_store_put_samples(j->store, cell->key, j->run_id, smp, n);
    if (!rc) {
        j->committed += n;
        cell->n_put += n;
        if (j->kill_after > 0 && j->committed >= j->kill_after)
            raise(SIGKILL);
        if (j->stop_after > 0 && j->committed >= j->stop_after) {
            j->stop_after = 0; /* once; outside any renewal (cmu) and store call (mu) */
            pthread_mutex_lock(&j->cmu);
            raise(SIGSTOP);
            pthread_mutex_unlock(&j->cmu);
        }
    }
    le_job_unlock(j);
    return rc;
}

int le_job_cell_finish(struct le_job *j, struct le_job_cell *cell, int64_t model_id,
                       const struct le_store_result *results, int n) {
    if (cell->done)
        return le_err_set(LE_EINVAL, "job: cell %s (%s) is already done", cell->key, cell->task);
    le_job_lock(j);
    /* Done meanwhile: our lease ran out and another claimant finished it. */
    int done = 0, rc = le_store_cell_done(j->store, cell->key, &done);
    if (!rc && done && !(rc = le_store_get_results(j->store, cell->key, le_job_result_cb, cell))) {
        cell->done = 1;
        j->from_store++;
    } else if (!rc && !(rc = le_store_put_cell(j->store, cell->key, j->run_id, model_id, cell->task, cell->config,
                                               results, n))) {
        j->computed++;
    }
    if (!rc && cell->job) { /* put_cell dropped the claim */
        le_job_unhold(j, cell->key);
        cell->job = NULL;
    }
    le_job_unlock(j);
    return rc;
}

void le_job_cell_release(struct le_job_cell *cell) {
    if (!cell)
        return;
    struct le_job *j = cell->job;
    if (j) { /* given up unfinished: free it for others now, not at expiry */
        le_job_lock(j); /* with the claim below, atomic for this job's other threads */
        le_job_unhold(j, cell->key);
        char msg[1024]; /* keep the error that made the caller give up */
        snprintf(msg, sizeof msg, "%s", le_err_msg());
        le_store_cell_unclaim(j->store, cell->key, j->run_id);
        le_err_set(LE_OK, "%s", msg);
        le_job_unlock(j);
    }
    for (int i = 0; i < cell->n_results; i++)
        free((char *)cell->results[i].metric);
    free(cell->results);
    free(cell->task);
    free(cell->config);
    memset(cell, 0, sizeof *cell);
}

/* Sorts an object's members by key (stable: insertion sort on the list),
 * recursing into every value. */
static void le_job_sort_json(cJSON *node) {
    for (cJSON *c = node ? node->child : NULL; c; c = c->next)
        le_job_sort_json(c);
    if (!cJSON_IsObject(node) || !node->child)
        return;
    cJSON *sorted = NULL;
    for (cJSON *c = node->child, *next; c; c = next) {
        next = c->next;
        cJSON **at = &sorted;
        while (*at && strcmp((*at)->string, c->string) <= 0)
            at = &(*at)->next;
        c->next = *at;
        *at = c;
    }
    /* cJSON lists are doubly linked: prev of the head points at the tail. */
    cJSON *prev = NULL;
    for (cJSON *c = sorted; c; c = c->next) {
        c->prev = prev;
        prev = c;
    }
    sorted->prev = prev;
    node->child = sorted;
}

char *le_job_config_canonical(const char *json) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!j) {
        le_err_set(LE_EINVAL, "job: the cell config is not JSON");
        return NULL;
    }
    le_job_sort_json(j);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s)
        le_err_set(LE_ENOMEM, "out of memory");
    return s;
}
