/*
 * test_job: the job/cell protocol (harness/job.c) through le_job.h.
 *
 * - a cell is computed once: begun, samples put, finished; begun again in
 *   the same job or in a second job on the same database it comes back
 *   done with the stored results (metric, value, NAN stderr, n) and its
 *   samples, and finishing it again is refused;
 * - a cell whose process was killed before finishing it (a forked child
 *   SIGKILLed by the kill_after seam right after its samples were
 *   committed) is not done: the next job reads the committed samples back,
 *   computes the rest and finishes it -- taking over the claim of the dead
 *   process at once (same host, pid gone); the killed run stays "running";
 * - claims: a cell held by a live process makes begin wait (on_wait told
 *   once) and come back done with the holder's results; a cell released
 *   unfinished is free at once;
 * - run status: "ok", "failed" (with the caller's error message kept);
 *   SIGTERM under LE_JOB_SIGNALS_EXIT ends the process by that signal with
 *   the run "interrupted"; under LE_JOB_SIGNALS_FLAG the first SIGINT only
 *   raises le_job_interrupted() and the job ends "interrupted" itself
 *   (children raise the signals themselves: nothing here is timing-based);
 * - cells done on two threads of one job are each done once;
 * - the cell key is le_store_cell_key's, and the canonical config sorts keys.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_job.h"
#include "le_store.h"
#include "le_test.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHA "5f2b0d1c9a8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
#define CFG "{\"task\":\"t\",\"limit\":3}"

static int setup(void **state) {
    return le_test_fx_setup(state, sizeof(struct le_test_fx), "job.sqlite");
}

static struct le_job *open_job(const struct le_test_fx *f, int signals, long kill_after) {
    struct le_job_opts o = {.db = f->db, .command = "test", .config_json = "{}", .seed = 7, .threads = 1,
                            .signals = signals, .kill_after = kill_after};
    struct le_job *j = NULL;
    int rc = le_job_open(&j, &o);
    if (rc)
        fprintf(stderr, "le_job_open: %s\n", le_err_msg());
    assert_int_equal(rc, LE_OK);
    return j;
}

static void assert_run_status(const struct le_test_fx *f, int64_t run_id, const char *want) {
    struct le_store *s = NULL;
    char st[32] = "";
    assert_int_equal(le_store_open(&s, f->db), LE_OK);
    assert_int_equal(le_store_run_status(s, run_id, st, sizeof st), LE_OK);
    le_store_close(s);
    assert_string_equal(st, want);
}

static const struct le_store_result results[2] = {
    {.metric = "acc", .value = 0.25, .stderr_v = 0.125, .n = 4},
    {.metric = "ppl", .value = 17.5, .stderr_v = NAN, .n = 40},
};

static struct le_store_sample sample(int64_t doc) {
    static char js[8][32];
    snprintf(js[doc % 8], sizeof js[0], "{\"doc\":%lld}", (long long)doc);
    return (struct le_store_sample){.doc = doc, .req = 0, .json = js[doc % 8]};
}

/* Collects the docs of stored samples; checks their JSON. */
struct seen {
    int64_t docs[16];
    int n;
};

static int seen_cb(void *ud, int64_t doc, int64_t req, const char *json) {
    struct seen *s = ud;
    char want[32];
    snprintf(want, sizeof want, "{\"doc\":%lld}", (long long)doc);
    if (req != 0 || strcmp(json, want) || s->n >= 16)
        return LE_EFORMAT;
    s->docs[s->n++] = doc;
    return 0;
}

static void assert_stored_results(const struct le_job_cell *c) {
    assert_true(c->done);
    assert_int_equal(c->n_results, 2);
    assert_string_equal(c->results[0].metric, "acc");
    assert_true(c->results[0].value == 0.25 && c->results[0].stderr_v == 0.125 && c->results[0].n == 4);
    assert_string_equal(c->results[1].metric, "ppl");
    assert_true(c->results[1].value == 17.5 && isnan(c->results[1].stderr_v) && c->results[1].n == 40);
}

static void job_cell_should_be_done_once_and_given_back_from_the_store(void **state) {
    struct le_test_fx *f = *state;
    struct le_job *j = open_job(f, LE_JOB_SIGNALS_NONE, 0);
    int64_t run1 = le_job_run_id(j);
    assert_true(run1 > 0);
    assert_run_status(f, run1, "running");
    int64_t model_id = 0;
    struct le_store_model m = {.path = "m.gguf", .sha256 = SHA, .arch = "llama", .n_params = 10,
                               .n_params_nonembed = 5, .file_size = 99, .tokens_trained = -1};
    assert_int_equal(le_job_put_model(j, &m, &model_id), LE_OK);
    assert_true(model_id > 0);

    struct le_job_cell c = {0};
    assert_int_equal(le_job_cell_begin(j, SHA, "t", CFG, &c), LE_OK);
    char key[65];
    le_store_cell_key(key, SHA, "t", CFG);
    assert_string_equal(c.key, key);
    assert_false(c.done);
    assert_int_equal(c.n_results, 0);
    struct le_store_sample smp[2] = {sample(0), sample(1)};
    assert_int_equal(le_job_cell_put_samples(j, &c, smp, 2), LE_OK);
    assert_int_equal(c.n_put, 2);
    assert_int_equal(le_job_cell_finish(j, &c, model_id, results, 2), LE_OK);
    le_job_cell_release(&c);
    assert_null(c.task);

    /* The same job, the same cell: done, the stored results. */
    assert_int_equal(le_job_cell_begin(j, SHA, "t", CFG, &c), LE_OK);
    assert_stored_results(&c);
    assert_int_equal(le_job_cell_finish(j, &c, model_id, results, 2), LE_EINVAL);
    le_job_cell_release(&c);
    int64_t from_store = -1, computed = -1;
    le_job_counts(j, &from_store, &computed);
    assert_int_equal(from_store, 1);
    assert_int_equal(computed, 1);
    assert_int_equal(le_job_end(j, LE_OK), LE_OK);
    assert_run_status(f, run1, "ok");

    /* A second job on the same database: done, results and samples stored. */
    j = open_job(f, LE_JOB_SIGNALS_NONE, 0);
    assert_true(le_job_run_id(j) > run1);
    assert_int_equal(le_job_cell_begin(j, SHA, "t", CFG, &c), LE_OK);
    assert_stored_results(&c);
    struct seen s = {0};
    assert_int_equal(le_job_cell_samples(j, &c, seen_cb, &s), LE_OK);
    assert_int_equal(s.n, 2);
    le_job_cell_release(&c);
    /* Another config is another cell. */
    assert_int_equal(le_job_cell_begin(j, SHA, "t", "{\"task\":\"t\",\"limit\":4}", &c), LE_OK);
    assert_false(c.done);
    le_job_cell_release(&c);
    le_job_counts(j, &from_store, &computed);
    assert_int_equal(from_store, 1);
    assert_int_equal(computed, 0);
    assert_int_equal(le_job_end(j, LE_OK), LE_OK);
}

static void job_cell_killed_before_finishing_should_be_redone_from_its_samples(void **state) {
    struct le_test_fx *f = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the kill_after seam SIGKILLs it once 3 samples are committed */
        struct le_job_opts o = {.db = f->db, .command = "test", .config_json = "{}", .threads = 1, .kill_after = 3};
        struct le_job *j = NULL;
        struct le_job_cell c = {0};
        struct le_store_sample smp[3] = {sample(0), sample(1), sample(2)};
        if (le_job_open(&j, &o) || le_job_cell_begin(j, SHA, "t", CFG, &c))
            _exit(3);
        le_job_cell_put_samples(j, &c, smp, 2);
        le_job_cell_put_samples(j, &c, smp + 2, 1);
        _exit(4); /* not reached */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* The killed run (id 1) stays "running": kill -9 cannot be caught; `db
     * runs` shows it "gone" (this host, its pid no longer exists). */
    assert_run_status(f, 1, "running");
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' db runs --db '%s'", le_test_bin(), f->db), 0);
    if (!strstr(out, "\n1      test      gone "))
        fail_msg("db runs: %s", out);
    free(out);

    struct le_job *j = open_job(f, LE_JOB_SIGNALS_NONE, 0);
    struct le_job_cell c = {0};
    assert_int_equal(le_job_cell_begin(j, SHA, "t", CFG, &c), LE_OK);
    assert_false(c.done);
    struct seen s = {0};
    assert_int_equal(le_job_cell_samples(j, &c, seen_cb, &s), LE_OK);
    assert_int_equal(s.n, 3);
    assert_true(s.docs[0] == 0 && s.docs[1] == 1 && s.docs[2] == 2);
    struct le_store_sample rest[2] = {sample(3), sample(4)};
    assert_int_equal(le_job_cell_put_samples(j, &c, rest, 2), LE_OK);
    assert_int_equal(le_job_cell_finish(j, &c, 0, results, 2), LE_OK);
    le_job_cell_release(&c);
    assert_int_equal(le_job_end(j, LE_OK), LE_OK);

    j = open_job(f, LE_JOB_SIGNALS_NONE, 0);
    assert_int_equal(le_job_cell_begin(j, SHA, "t", CFG, &c), LE_OK);
    assert_stored_results(&c);
    s.n = 0;
    assert_int_equal(le_job_cell_samples(j, &c, seen_cb, &s), LE_OK);
    assert_int_equal(s.n, 5);
    le_job_cell_release(&c);
    assert_int_equal(le_job_end(j, LE_OK), LE_OK);
}

static void job_end_should_record_failed_and_keep_the_message(void **state) {
    struct le_test_fx *f = *state;
    struct le_job *j = open_job(f, LE_JOB_SIGNALS_NONE, 0);
    int64_t run = le_job_run_id(j);
    int rc = le_err_set(LE_EIO, "the disk said no");
    assert_int_equal(le_job_end(j, rc), LE_EIO);
    assert_string_equal(le_err_msg(), "the disk said no");
    assert_run_status(f, run, "failed");
    assert_int_equal(le_job_end(NULL, LE_EFORMAT), LE_EFORMAT);
}

static void job_open_should_fail_cleanly_on_a_missing_directory(void **state) {
    struct le_test_fx *f = *state;
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.sqlite", f->dir);
    struct le_job_opts o = {.db = bad, .command = "test"};
    struct le_job *j = (struct le_job *)(uintptr_t)1; /* must be reset to NULL */
    assert_int_equal(le_job_open(&j, &o), LE_EIO);
    assert_null(j);
    assert_non_null(strstr(le_err_msg(), "no/such/dir"));
}

/* Child: opens a job catching signals, raises sig, and (FLAG) ends by itself. */
static void signal_child(const struct le_test_fx *f, int mode, int sig) {
    struct le_job_opts o = {.db = f->db, .command = "test", .config_json = "{}", .threads = 1, .signals = mode};
    struct le_job *j = NULL;
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL); /* a test runner may start us with SIGINT ignored */
    if (le_job_open(&j, &o))
        _exit(3);
    raise(sig);
    if (mode == LE_JOB_SIGNALS_EXIT)
        for (;;)
            pause(); /* the watcher ends the process */
    while (!le_job_interrupted(j))
        sched_yield();
    _exit(le_job_end(j, LE_EINTR) == LE_EINTR ? 0 : 5);
}

static void job_should_mark_the_run_interrupted_on_sigterm_and_die_by_it(void **state) {
    struct le_test_fx *f = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        signal_child(f, LE_JOB_SIGNALS_EXIT, SIGTERM);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    assert_run_status(f, 1, "interrupted");
}

static void job_with_graceful_signals_should_flag_then_end_interrupted(void **state) {
    struct le_test_fx *f = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        signal_child(f, LE_JOB_SIGNALS_FLAG, SIGINT);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_run_status(f, 1, "interrupted");
}

/* Two threads of one job, 16 cells each (8 of them shared): each cell is
 * finished by exactly one thread; the other finds it done or is refused. */
struct worker {
    struct le_job *j;
    int first, finished, found_done, refused, errors;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    for (int i = w->first; i < w->first + 16; i++) {
        char cfg[64];
        snprintf(cfg, sizeof cfg, "{\"cell\":%d}", i);
        struct le_job_cell c = {0};
        int rc = le_job_cell_begin(w->j, SHA, "t", cfg, &c);
        if (!rc && c.done)
            w->found_done++;
        else if (!rc) {
            char js[32]; /* not sample(): its buffers are not for threads */
            snprintf(js, sizeof js, "{\"doc\":%d}", i);
            struct le_store_sample smp = {.doc = i, .req = 0, .json = js};
            rc = le_job_cell_put_samples(w->j, &c, &smp, 1);
            if (!rc)
                rc = le_job_cell_finish(w->j, &c, 0, results, 2);
            if (!rc)
                w->finished++;
            else if (rc == LE_EINVAL)
                w->refused++, rc = 0;
        }
        w->errors += rc != 0;
        le_job_cell_release(&c);
    }
    return NULL;
}

static void job_cells_on_two_threads_should_each_be_done_once(void **state) {
    struct le_test_fx *f = *state;
    struct le_job *j = open_job(f, LE_JOB_SIGNALS_NONE, 0);
    struct worker w[2] = {{.j = j, .first = 0}, {.j = j, .first = 8}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(w[0].errors + w[1].errors, 0);
    assert_int_equal(w[0].finished + w[1].finished, 24);
    assert_int_equal(w[0].found_done + w[1].found_done + w[0].refused + w[1].refused, 8);
    int64_t from_store, computed;
    le_job_counts(j, &from_store, &computed);
    assert_int_equal(computed, 24);
    assert_int_equal(le_job_end(j, LE_OK), LE_OK);
    /* 24 cells, 2 results each, in the store. */
    struct le_store *s = NULL;
    const char *names[8];
    int64_t counts[8];
    int n = 0;
    assert_int_equal(le_store_open(&s, f->db), LE_OK);
    assert_int_equal(le_store_table_counts(s, names, counts, 8, &n), LE_OK);
    le_store_close(s);
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i], "cells"))
            assert_int_equal(counts[i], 24);
        if (!strcmp(names[i], "results"))
            assert_int_equal(counts[i], 48);
    }
}

static void job_config_canonical_should_sort_keys_at_every_depth(void **state) {
    (void)state;
    char *s = le_job_config_canonical("{ \"b\": 1, \"a\": {\"d\": [{\"z\": 1, \"y\": 2.5}], \"c\": \"x\"} }");
    assert_non_null(s);
    assert_string_equal(s, "{\"a\":{\"c\":\"x\",\"d\":[{\"y\":2.5,\"z\":1}]},\"b\":1}");
    free(s);
    s = le_job_config_canonical("{\"only\":true}");
    assert_string_equal(s, "{\"only\":true}");
    free(s);
    assert_null(le_job_config_canonical("{not json"));
    assert_non_null(strstr(le_err_msg(), "not JSON"));
}

/* on_wait of the waiting job: tells the claimant (a pipe) to finish. */
struct waiter {
    int go_fd, told;
    int64_t holder_run;
};
static void on_wait_go(void *ud, const char *task, const struct le_store_holder *h) {
    struct waiter *w = ud;
    assert_string_equal(task, "t");
    w->told++;
    w->holder_run = h->run_id;
    char b = 'g';
    assert_int_equal(write(w->go_fd, &b, 1), 1);
}

/* Two processes, one cell: the child claims it and waits for a word; the
 * parent's begin finds it held by a live process, waits (telling the child
 * to go through on_wait, so nothing depends on timing), and gets it back
 * done with the child's results -- computed once, by the child. */
static void job_cell_held_by_a_live_process_should_wait_then_be_given_back_done(void **state) {
    struct le_test_fx *f = *state;
    int claimed[2], go[2];
    assert_int_equal(pipe(claimed), 0);
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct le_job_opts o = {.db = f->db, .command = "test", .config_json = "{}", .threads = 1};
        struct le_job *j = NULL;
        struct le_job_cell c = {0};
        char b = 'c';
        if (le_job_open(&j, &o) || le_job_cell_begin(j, SHA, "t", CFG, &c) || c.done)
            _exit(3);
        if (write(claimed[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(4);
        if (le_job_cell_finish(j, &c, 0, results, 2))
            _exit(5);
        le_job_cell_release(&c);
        _exit(le_job_end(j, LE_OK) ? 6 : 0);
    }
    char b = 0;
    assert_int_equal(read(claimed[0], &b, 1), 1);
    struct waiter w = {.go_fd = go[1]};
    struct le_job_opts o = {.db = f->db, .command = "test", .config_json = "{}", .threads = 1,
                            .on_wait = on_wait_go, .wait_ud = &w};
    struct le_job *j = NULL;
    assert_int_equal(le_job_open(&j, &o), LE_OK);
    struct le_job_cell c = {0};
    assert_int_equal(le_job_cell_begin(j, SHA, "t", CFG, &c), LE_OK);
    assert_int_equal(w.told, 1);
    assert_int_equal(w.holder_run, 1);
    assert_stored_results(&c);
    le_job_cell_release(&c);
    int64_t from_store = -1, computed = -1;
    le_job_counts(j, &from_store, &computed);
    assert_int_equal(from_store, 1);
    assert_int_equal(computed, 0);
    assert_int_equal(le_job_end(j, LE_OK), LE_OK);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < 2; i++) {
        close(claimed[i]);
        close(go[i]);
    }
}

/* A cell given up (released unfinished) is free at once for the next job. */
static void job_cell_released_unfinished_should_be_free_for_another_job(void **state) {
    struct le_test_fx *f = *state;
    struct le_job *a = open_job(f, LE_JOB_SIGNALS_NONE, 0), *b = open_job(f, LE_JOB_SIGNALS_NONE, 0);
    struct le_job_cell c = {0};
    assert_int_equal(le_job_cell_begin(a, SHA, "t", CFG, &c), LE_OK);
    assert_false(c.done);
    le_job_cell_release(&c);
    assert_int_equal(le_job_cell_begin(b, SHA, "t", CFG, &c), LE_OK); /* would wait if still held */
    assert_false(c.done);
    assert_int_equal(le_job_cell_finish(b, &c, 0, results, 2), LE_OK);
    le_job_cell_release(&c);
    assert_int_equal(le_job_cell_begin(a, SHA, "t", CFG, &c), LE_OK);
    assert_stored_results(&c);
    le_job_cell_release(&c);
    assert_int_equal(le_job_end(a, LE_OK), LE_OK);
    assert_int_equal(le_job_end(b, LE_OK), LE_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(job_cell_should_be_done_once_and_given_back_from_the_store, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(job_cell_killed_before_finishing_should_be_redone_from_its_samples, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(job_end_should_record_failed_and_keep_the_message, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(job_open_should_fail_cleanly_on_a_missing_directory, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(job_should_mark_the_run_interrupted_on_sigterm_and_die_by_it, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(job_with_graceful_signals_should_flag_then_end_interrupted, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(job_cells_on_two_threads_should_each_be_done_once, setup, le_test_fx_teardown),
        cmocka_unit_test(job_config_canonical_should_sort_keys_at_every_depth),
        cmocka_unit_test_setup_teardown(job_cell_held_by_a_live_process_should_wait_then_be_given_back_done, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(job_cell_released_unfinished_should_be_free_for_another_job, setup,
                                        le_test_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
