/*
 * test_store: the SQLite results store (harness/store.c) through its header.
 *
 * - migration from an empty file to the latest version, and reopening is a no-op;
 * - round trips of models, runs, samples, cells, results and training steps,
 *   with the done mark refusing a second put_cell;
 * - two forked processes writing 200 cells each into one fresh file at once
 *   lose no rows;
 * - a writer SIGKILLed in the middle of a transaction (stopped at a known
 *   row by the test hook, so the test is not timing-based) leaves
 *   integrity_check = ok, no partial rows and the cell not done;
 * - missing, non-directory and read-only directories give LE_EIO with the
 *   path. Tests run as root in CI, where chmod does not stop writes: the
 *   read-only case runs in a forked child that drops to uid/gid 65534
 *   (nobody) when root, and /proc (where no file can be created) is a second
 *   unwritable directory that works for every user;
 * - a reader leaves no -wal/-shm files; one in a read-only directory gets a
 *   clear error; a full disk (RLIMIT_FSIZE in a child) is reported with the
 *   system's reason ("File too large") and leaves the database sound;
 * - CSV and JSON export, checked field by field.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_store.h"
#include "le_test.h"

#include <cjson/cJSON.h> /* parse the JSON export back */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>        /* EFBIG */
#include <sys/resource.h> /* RLIMIT_FSIZE: a "full disk" for one child */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state) {
    return le_test_fx_setup(state, sizeof(struct le_test_fx), "store.sqlite");
}

static int64_t count_of(struct le_store *s, const char *table) {
    const char *names[16];
    int64_t counts[16];
    int n = 0;
    assert_int_equal(le_store_table_counts(s, names, counts, 16, &n), 0);
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], table))
            return counts[i];
    fail_msg("no table %s", table);
    return -1;
}

static void assert_integrity_ok(struct le_store *s) {
    char out[512];
    assert_int_equal(le_store_integrity_check(s, out, sizeof out), 0);
    assert_string_equal(out, "ok");
}

static int64_t add_model(struct le_store *s, const char *sha) {
    struct le_store_model m = {"/models/tiny.gguf", sha, "llama", "F32", "tiny", 1000, 800, 4096, -1};
    int64_t id = 0;
    assert_int_equal(le_store_put_model(s, &m, &id), 0);
    return id;
}

static void store_should_migrate_an_empty_file_once(void **state) {
    struct le_test_fx *f = *state;
    assert_int_equal(le_test_write_file(f->db, "", 0), 0);
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    int v = -1;
    assert_int_equal(le_store_schema_version(s, &v), 0);
    assert_true(le_store_schema_latest() >= 1);
    assert_int_equal(v, le_store_schema_latest());

    const char *names[16];
    int64_t counts[16];
    int n = 0;
    assert_int_equal(le_store_table_counts(s, names, counts, 16, &n), 0);
    static const char *want[] = {"models", "runs", "cells", "results", "samples", "train_steps",
                                 "sweep_cells", "sweep_points", "claims"};
    assert_int_equal(n, 9);
    for (int i = 0; i < 9; i++) {
        assert_string_equal(names[i], want[i]);
        assert_int_equal(counts[i], 0);
    }
    add_model(s, "aa");
    /* WAL mode: the -wal file exists while a connection is open. */
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    assert_int_equal(access(wal, F_OK), 0);
    le_store_close(s);

    /* Reopening runs no migration: same version, the row is still there. */
    assert_int_equal(le_store_open(&s, f->db), 0);
    assert_int_equal(le_store_schema_version(s, &v), 0);
    assert_int_equal(v, le_store_schema_latest());
    assert_int_equal(count_of(s, "models"), 1);
    assert_integrity_ok(s);
    le_store_close(s);

    assert_int_equal(le_store_open_readonly(&s, f->db), 0);
    assert_int_equal(count_of(s, "models"), 1);
    /* read-only really: a write is refused */
    struct le_store_model other = {"p", "bb", 0, 0, 0, -1, -1, -1, -1};
    int64_t other_id = 0;
    assert_int_not_equal(le_store_put_model(s, &other, &other_id), 0);
    le_store_close(s);
    /* a reader leaves no -wal or -shm file behind once the last connection closes */
    char shm[4200];
    snprintf(shm, sizeof shm, "%s-shm", f->db);
    assert_int_not_equal(access(wal, F_OK), 0);
    assert_int_not_equal(access(shm, F_OK), 0);
}

static void store_should_reject_files_that_are_not_llamaeval_stores(void **state) {
    struct le_test_fx *f = *state;
    const char junk[] = "this is not an SQLite database, just some text that is long enough";
    assert_int_equal(le_test_write_file(f->db, junk, sizeof junk), 0);
    struct le_store *s = (struct le_store *)1;
    assert_int_equal(le_store_open(&s, f->db), LE_EDB);
    assert_null(s);
    assert_non_null(strstr(le_err_msg(), f->db));

    char other[4200];
    snprintf(other, sizeof other, "%s/none.sqlite", f->dir);
    assert_int_equal(le_store_open_readonly(&s, other), LE_ENOTFOUND);
    assert_non_null(strstr(le_err_msg(), other));

    /* An empty file is not yet a store: read-only open says to run db init. */
    assert_int_equal(le_test_write_file(other, "", 0), 0);
    assert_int_equal(le_store_open_readonly(&s, other), LE_EDB);
    assert_non_null(strstr(le_err_msg(), "db init"));
}

static void cell_key_should_hash_the_three_parts_with_separators(void **state) {
    (void)state;
    char k[65], k2[65];
    /* Python: hashlib.sha256(b"m\0t\0c\0").hexdigest() */
    le_store_cell_key(k, "m", "t", "c");
    assert_string_equal(k, "a12c659b2f1050d297f12fadecf5d0b136278568a2a6e854c1a39827fa126b7c");
    le_store_cell_key(k, "ab", "c", "");
    le_store_cell_key(k2, "a", "bc", "");
    assert_string_equal(k, "bd004134849ca646d85104d0f90bea121a2a2861f05c76e07d97dec0361d29f0");
    assert_string_equal(k2, "659f6e5742991f4ef127c972729839a1cd4a59f862339c765ddfa4459be3d959");
}

struct collected {
    int n;
    int64_t doc[8], req[8];
    char json[8][64];
    char metric[8][32];
    double value[8], se[8];
};

static int collect_sample(void *ud, int64_t doc, int64_t req, const char *json) {
    struct collected *c = ud;
    assert_true(c->n < 8);
    c->doc[c->n] = doc;
    c->req[c->n] = req;
    snprintf(c->json[c->n], sizeof c->json[0], "%s", json);
    c->n++;
    return 0;
}

static int collect_result(void *ud, const char *metric, double value, double se, int64_t n) {
    struct collected *c = ud;
    assert_true(c->n < 8);
    snprintf(c->metric[c->n], sizeof c->metric[0], "%s", metric);
    c->value[c->n] = value;
    c->se[c->n] = se;
    c->doc[c->n] = n;
    c->n++;
    return 0;
}

static void put_cell_should_store_results_once_and_mark_the_cell_done(void **state) {
    struct le_test_fx *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    int64_t mid = add_model(s, "0123abcd");
    /* Recording the same file again keeps its id and fills what was unknown. */
    struct le_store_model again = {NULL, "0123abcd", NULL, NULL, NULL, -1, -1, -1, 5000};
    int64_t mid2 = 0;
    assert_int_equal(le_store_put_model(s, &again, &mid2), 0);
    assert_int_equal(mid2, mid);
    assert_int_equal(count_of(s, "models"), 1);

    int64_t rid = 0;
    assert_int_equal(le_store_begin_run(s, "eval", "{\"tasks\":[\"lambada\"]}", 42, 4, &rid), 0);
    assert_true(rid > 0);
    char key[65];
    le_store_cell_key(key, "0123abcd", "lambada", "{}");
    int done = -1;
    assert_int_equal(le_store_cell_done(s, key, &done), 0);
    assert_int_equal(done, 0);

    struct le_store_sample smp[3] = {{1, 0, "{\"ll\":-2.5}"}, {0, 1, "{\"ll\":-1}"}, {0, 0, "{\"ll\":-0.5}"}};
    assert_int_equal(le_store_put_samples(s, key, rid, smp, 3), 0);
    /* A rerun writing the same (doc, req) again is ignored, not duplicated. */
    struct le_store_sample dup = {0, 1, "{\"ll\":-99}"};
    assert_int_equal(le_store_put_samples(s, key, rid, &dup, 1), 0);
    assert_int_equal(count_of(s, "samples"), 3);
    struct collected c = {0};
    assert_int_equal(le_store_get_samples(s, key, collect_sample, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.doc[0], 0);
    assert_int_equal(c.req[0], 0);
    assert_int_equal(c.doc[1], 0);
    assert_int_equal(c.req[1], 1);
    assert_string_equal(c.json[1], "{\"ll\":-1}");
    assert_int_equal(c.doc[2], 1);

    struct le_store_result r[2] = {{"acc", 0.625, 0.0125, 5153}, {"ppl", 3.75, NAN, 5153}};
    assert_int_equal(le_store_put_cell(s, key, rid, mid, "lambada", "{}", r, 2), 0);
    assert_int_equal(le_store_cell_done(s, key, &done), 0);
    assert_int_equal(done, 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(le_store_get_results(s, key, collect_result, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.metric[0], "acc");
    assert_true(c.value[0] == 0.625 && c.se[0] == 0.0125 && c.doc[0] == 5153);
    assert_string_equal(c.metric[1], "ppl");
    assert_true(c.value[1] == 3.75);
    assert_true(isnan(c.se[1]));

    /* A done cell is refused and nothing is duplicated. */
    assert_int_equal(le_store_put_cell(s, key, rid, mid, "lambada", "{}", r, 2), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "already done"));
    assert_int_equal(count_of(s, "results"), 2);
    assert_int_equal(count_of(s, "cells"), 1);

    /* An unknown model id is a clear error and leaves no partial cell. */
    char key2[65];
    le_store_cell_key(key2, "0123abcd", "hellaswag", "{}");
    assert_int_equal(le_store_put_cell(s, key2, rid, 9999, "hellaswag", "{}", r, 2), LE_EDB);
    assert_int_equal(le_store_cell_done(s, key2, &done), 0);
    assert_int_equal(done, 0);
    assert_int_equal(count_of(s, "results"), 2);

    assert_int_equal(le_store_end_run(s, rid, "ok"), 0);
    assert_int_equal(le_store_end_run(s, rid + 100, "ok"), LE_ENOTFOUND);
    assert_integrity_ok(s);
    le_store_close(s);

    /* A read-only store refuses writes. */
    assert_int_equal(le_store_open_readonly(&s, f->db), 0);
    assert_int_equal(le_store_put_samples(s, key, rid, smp, 1), LE_EDB);
    le_store_close(s);
}

static void put_steps_should_keep_one_row_per_step(void **state) {
    struct le_test_fx *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    int64_t rid;
    assert_int_equal(le_store_begin_run(s, "train", "{}", 1, 1, &rid), 0);
    struct le_store_step st[3] = {
        {0, 0, 10.5, 10.6, 1e-3, 1000},
        {1, 512, 9.5, NAN, 1e-3, 1100},
        {2, 1024, 8.5, NAN, 1e-3, 1200},
    };
    assert_int_equal(le_store_put_steps(s, rid, st, 3), 0);
    st[1].train_loss = 9.25; /* a resumed run logs step 1 again */
    assert_int_equal(le_store_put_steps(s, rid, &st[1], 1), 0);
    assert_int_equal(count_of(s, "train_steps"), 3);
    assert_int_equal(le_store_put_steps(s, rid + 7, st, 1), LE_EDB); /* no such run */
    assert_int_equal(count_of(s, "train_steps"), 3);
    le_store_close(s);
}

struct sweep_seen {
    int n, done[4];
    char key[4][65], label[4][32];
    double budget[4], loss[4], bpb[4], flops_exact[4];
    int64_t n_total[4], n_noout[4], tokens[4], model_id[4];
    int np;
    int64_t step[8];
    double val[8];
};

static int sweep_cell_cb(void *ud, const struct le_store_sweep_cell *c) {
    struct sweep_seen *w = ud;
    assert_true(w->n < 4);
    int i = w->n++;
    snprintf(w->key[i], sizeof w->key[i], "%s", c->key);
    snprintf(w->label[i], sizeof w->label[i], "%s", c->label);
    w->done[i] = c->done, w->budget[i] = c->budget, w->loss[i] = c->loss, w->bpb[i] = c->bpb;
    w->flops_exact[i] = c->flops_exact, w->n_total[i] = c->n_total, w->n_noout[i] = c->n_nonembed_noout;
    w->tokens[i] = c->tokens, w->model_id[i] = c->model_id;
    return 0;
}

static int sweep_point_cb(void *ud, const struct le_store_sweep_point *p) {
    struct sweep_seen *w = ud;
    assert_true(w->np < 8);
    w->step[w->np] = p->step, w->val[w->np] = p->val_loss;
    w->np++;
    return 0;
}

static void sweep_cells_should_join_their_results_once_done(void **state) {
    struct le_test_fx *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    int64_t mid = add_model(s, "feedbeef"), rid;
    assert_int_equal(le_store_begin_run(s, "sweep", "{}", 1, 2, &rid), 0);
    char k1[65], k2[65];
    le_store_cell_key(k1, "", "sweep", "{\"dim\":64}");
    le_store_cell_key(k2, "", "sweep", "{\"dim\":32}");
    struct le_store_sweep_cell a = {.key = k1, .plan = "p", .label = "big", .config = "{\"dim\":64}",
                                    .budget = 1e12, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 4,
                                    .ffn = 172, .ctx = 128, .vocab = 1024, .tied = 0, .lr = 1e-3, .seed = 1,
                                    .tokens = 1000000, .n_total = 230000, .n_nonembed = 164000,
                                    .n_nonembed_noout = 98000, .flops_per_token = 1.5e6, .flops_6nd = 1.38e12,
                                    .flops_exact = 1.5e12};
    struct le_store_sweep_cell b = a;
    b.key = k2, b.label = "small", b.dim = 32, b.n_total = 80000, b.n_nonembed_noout = 20000, b.budget = NAN;
    assert_int_equal(le_store_put_sweep_cell(s, &b), 0);
    assert_int_equal(le_store_put_sweep_cell(s, &a), 0);
    assert_int_equal(le_store_put_sweep_cell(s, &a), 0); /* a rerun rewrites, never duplicates */
    assert_int_equal(count_of(s, "sweep_cells"), 2);
    struct le_store_sweep_point pts[2] = {{10, 40960, 6.1e10, 5.5, 5.6}, {20, 81920, 1.2e11, 5.0, NAN}};
    assert_int_equal(le_store_put_sweep_points(s, k1, pts, 2), 0);
    pts[0].val_loss = 5.25;
    assert_int_equal(le_store_put_sweep_points(s, k1, pts, 1), 0); /* a resumed cell rewrites its point */
    assert_int_equal(count_of(s, "sweep_points"), 2);
    struct le_store_result r[2] = {{"loss", 4.5, NAN, 9000}, {"bpb", 1.75, NAN, 9000}};
    assert_int_equal(le_store_put_cell(s, k1, rid, mid, "sweep", "{\"dim\":64}", r, 2), 0);

    struct sweep_seen w = {0};
    assert_int_equal(le_store_sweep_cells(s, "p", sweep_cell_cb, &w), 0);
    assert_int_equal(w.n, 2);
    /* budgets first (a grid cell, NAN budget, last) */
    assert_string_equal(w.label[0], "big");
    assert_true(w.done[0] && w.loss[0] == 4.5 && w.bpb[0] == 1.75 && w.model_id[0] == mid);
    assert_true(w.budget[0] == 1e12 && w.flops_exact[0] == 1.5e12 && w.n_total[0] == 230000);
    assert_true(w.n_noout[0] == 98000 && w.tokens[0] == 1000000);
    assert_string_equal(w.label[1], "small");
    assert_true(!w.done[1] && isnan(w.loss[1]) && isnan(w.budget[1]) && w.model_id[1] == -1);
    memset(&w, 0, sizeof w);
    assert_int_equal(le_store_sweep_cells(s, "other plan", sweep_cell_cb, &w), 0);
    assert_int_equal(w.n, 0);
    assert_int_equal(le_store_sweep_cells(s, NULL, sweep_cell_cb, &w), 0);
    assert_int_equal(w.n, 2);
    assert_int_equal(le_store_sweep_points(s, k1, sweep_point_cb, &w), 0);
    assert_int_equal(w.np, 2);
    assert_true(w.step[0] == 10 && w.val[0] == 5.25 && w.step[1] == 20 && isnan(w.val[1]));
    assert_integrity_ok(s);
    le_store_close(s);
}

/* Fills a store with one cell whose strings need CSV quoting. */
static void fill_for_export(const char *db) {
    struct le_store *s;
    assert_int_equal(le_store_open(&s, db), 0);
    struct le_store_model m = {"/m/a,b.gguf", "feed", "llama", "Q8_0", "tiny \"7M\"", 7000000, 6000000, 123, -1};
    int64_t mid, rid;
    assert_int_equal(le_store_put_model(s, &m, &mid), 0);
    assert_int_equal(le_store_begin_run(s, "eval", "{}", UINT64_MAX, 2, &rid), 0);
    char key[65];
    le_store_cell_key(key, "feed", "piqa", "{\"shots\":0,\"norm\":\"x\"}");
    struct le_store_result r[2] = {{"acc", 0.1, 0.25, 1838}, {"acc_norm", 0.5, NAN, 1838}};
    assert_int_equal(le_store_put_cell(s, key, rid, mid, "piqa", "{\"shots\":0,\"norm\":\"x\"}", r, 2), 0);
    le_store_close(s);
}

static void export_should_write_quoted_csv_and_typed_json(void **state) {
    struct le_test_fx *f = *state;
    fill_for_export(f->db);
    struct le_store *s;
    assert_int_equal(le_store_open_readonly(&s, f->db), 0);
    char csv[4200], json[4200];
    snprintf(csv, sizeof csv, "%s/out.csv", f->dir);
    snprintf(json, sizeof json, "%s/out.json", f->dir);
    assert_int_equal(le_store_export(s, "csv", csv), 0);
    assert_int_equal(le_store_export(s, "json", json), 0);
    assert_int_equal(le_store_export(s, "xml", json), LE_EINVAL);
    le_store_close(s);

    char *text = le_test_read_file(csv, NULL);
    assert_non_null(text);
    assert_true(!strncmp(text, "run_id,cell,task,metric,value,stderr,n,model_name,model_path,model_sha256,", 74));
    /* Two data rows after the header. */
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    assert_non_null(strstr(text, ",piqa,acc,0.1,0.25,1838,\"tiny \"\"7M\"\"\",\"/m/a,b.gguf\",feed,llama,Q8_0,"
                                 "7000000,6000000,123,,\"{\"\"shots\"\":0,\"\"norm\"\":\"\"x\"\"}\","));
    assert_non_null(strstr(text, ",piqa,acc_norm,0.5,,1838,"));
    assert_non_null(strstr(text, ",eval,18446744073709551615,"));
    free(text);

    text = le_test_read_file(json, NULL);
    assert_non_null(text);
    cJSON *a = cJSON_Parse(text);
    assert_non_null(a);
    assert_int_equal(cJSON_GetArraySize(a), 2);
    cJSON *o = cJSON_GetArrayItem(a, 1);
    assert_string_equal(cJSON_GetObjectItem(o, "metric")->valuestring, "acc_norm");
    assert_true(cJSON_GetObjectItem(o, "value")->valuedouble == 0.5);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "stderr")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "tokens_trained")));
    assert_string_equal(cJSON_GetObjectItem(o, "model_name")->valuestring, "tiny \"7M\"");
    assert_true(cJSON_GetObjectItem(o, "n_params")->valuedouble == 7000000);
    assert_string_equal(cJSON_GetObjectItem(o, "run_status")->valuestring, "running");
    assert_non_null(strstr(text, "\"seed\":18446744073709551615"));
    cJSON_Delete(a);
    free(text);
}

/* Writes n cells, one put_cell transaction each; returns 0 when all succeed. */
static int write_cells(const char *db, const char *who, int n) {
    struct le_store *s;
    if (le_store_open(&s, db) != 0) {
        fprintf(stderr, "%s: open: %s\n", who, le_err_msg());
        return 1;
    }
    int64_t rid;
    int rc = le_store_begin_run(s, who, "{}", 0, 1, &rid);
    for (int i = 0; rc == 0 && i < n; i++) {
        char task[64], key[65];
        snprintf(task, sizeof task, "%s-task-%d", who, i);
        le_store_cell_key(key, "sha", task, "{}");
        struct le_store_result r[2] = {{"acc", i * 0.001, 0.01, 10}, {"acc_norm", i * 0.002, 0.01, 10}};
        rc = le_store_put_cell(s, key, rid, 0, task, "{}", r, 2);
    }
    if (rc)
        fprintf(stderr, "%s: %s\n", who, le_err_msg());
    le_store_close(s);
    return rc != 0;
}

static void two_processes_writing_at_once_should_lose_no_rows(void **state) {
    struct le_test_fx *f = *state;
    enum { PER_CHILD = 200 };
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid[2];
    for (int c = 0; c < 2; c++) {
        pid[c] = fork();
        assert_true(pid[c] >= 0);
        if (pid[c] == 0) {
            /* Both wait for the parent, then open the fresh file together:
             * this also races the two migrations. */
            close(go[1]);
            char b;
            if (read(go[0], &b, 1) != 0)
                _exit(3);
            _exit(write_cells(f->db, c ? "child1" : "child0", PER_CHILD));
        }
    }
    close(go[0]);
    close(go[1]); /* EOF releases both children at once */
    for (int c = 0; c < 2; c++) {
        int st;
        assert_int_equal(waitpid(pid[c], &st, 0), pid[c]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    assert_int_equal(count_of(s, "cells"), 2 * PER_CHILD);
    assert_int_equal(count_of(s, "results"), 4 * PER_CHILD);
    assert_int_equal(count_of(s, "runs"), 2);
    assert_integrity_ok(s);
    le_store_close(s);
}

/* The hook of a child that will be killed: at row `at` it tells the parent
 * (one byte on the pipe) and waits forever inside the open transaction. */
struct stop_at {
    int at, fd;
};

static int stop_hook(void *ud, int row) {
    struct stop_at *h = ud;
    if (row == h->at) {
        if (write(h->fd, "k", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    return 0;
}

/* Forks a child that runs a big put_samples (what = 0) or put_cell (what = 1)
 * on cell_key and SIGKILLs it at row `at`. */
static void kill_writer_mid_transaction(const char *db, const char *cell_key, int what, int at) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct le_store *s;
        if (le_store_open(&s, db) != 0)
            _exit(2);
        struct stop_at h = {at, fds[1]};
        le_store_set_test_hook(s, stop_hook, &h);
        enum { N = 3000 };
        if (what == 0) {
            /* 3000 x 2 KiB: more than SQLite's page cache, so dirty pages
             * spill into the WAL before the commit that never comes. */
            static char big[2048];
            memset(big, 'x', sizeof big - 1);
            struct le_store_sample *smp = calloc(N, sizeof *smp);
            for (int i = 0; i < N; i++)
                smp[i] = (struct le_store_sample){i, 0, big};
            le_store_put_samples(s, cell_key, 0, smp, N);
        } else {
            struct le_store_result *r = calloc(N, sizeof *r);
            for (int i = 0; i < N; i++)
                r[i] = (struct le_store_result){"acc", 0.5, 0.01, i};
            le_store_put_cell(s, cell_key, 0, 0, "killed-task", "{}", r, N);
        }
        _exit(5); /* not reached: the hook never returns */
    }
    close(fds[1]);
    char b = 0;
    assert_int_equal(read(fds[0], &b, 1), 1); /* the child is inside its transaction */
    assert_int_equal(b, 'k');
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(fds[0]);
}

static void writer_killed_mid_transaction_should_leave_a_sound_db_and_the_cell_not_done(void **state) {
    struct le_test_fx *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    le_store_close(s);
    char key_a[65], key_b[65];
    le_store_cell_key(key_a, "sha", "samples-task", "{}");
    le_store_cell_key(key_b, "sha", "killed-task", "{}");

    kill_writer_mid_transaction(f->db, key_a, 0, 2999);
    /* The uncommitted transaction really reached the disk (WAL frames). */
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > (1 << 20));
    kill_writer_mid_transaction(f->db, key_b, 1, 1500);

    assert_int_equal(le_store_open(&s, f->db), 0);
    assert_integrity_ok(s);
    assert_int_equal(count_of(s, "samples"), 0);
    assert_int_equal(count_of(s, "results"), 0);
    assert_int_equal(count_of(s, "cells"), 0);
    int done = -1;
    assert_int_equal(le_store_cell_done(s, key_b, &done), 0);
    assert_int_equal(done, 0);

    /* The rerun redoes the cell from scratch and it is done exactly once. */
    struct le_store_result r = {"acc", 0.5, 0.01, 10};
    assert_int_equal(le_store_put_cell(s, key_b, 0, 0, "killed-task", "{}", &r, 1), 0);
    assert_int_equal(le_store_cell_done(s, key_b, &done), 0);
    assert_int_equal(done, 1);
    assert_int_equal(count_of(s, "results"), 1);
    assert_integrity_ok(s);
    le_store_close(s);
}

static void missing_or_unusable_directories_should_name_the_path(void **state) {
    struct le_test_fx *f = *state;
    struct le_store *s;
    char p[4300];
    snprintf(p, sizeof p, "%s/no/such/dir/db.sqlite", f->dir);
    assert_int_equal(le_store_open(&s, p), LE_EIO);
    assert_non_null(strstr(le_err_msg(), p));
    assert_non_null(strstr(le_err_msg(), "does not exist"));

    /* A regular file where a directory should be. */
    char file[4200];
    snprintf(file, sizeof file, "%s/plainfile", f->dir);
    assert_int_equal(le_test_write_file(file, "x", 1), 0);
    snprintf(p, sizeof p, "%s/sub/db.sqlite", file);
    assert_int_equal(le_store_open(&s, p), LE_EIO);
    assert_non_null(strstr(le_err_msg(), p));
    assert_non_null(strstr(le_err_msg(), "not a directory"));

    /* The database path is itself a directory. */
    assert_int_equal(le_store_open(&s, f->dir), LE_EIO);
    assert_non_null(strstr(le_err_msg(), f->dir));

    /* /proc: no file can be created there, by root either. */
    assert_int_equal(le_store_open(&s, "/proc/llamaeval-test.sqlite"), LE_EIO);
    assert_non_null(strstr(le_err_msg(), "/proc/llamaeval-test.sqlite"));
}

static void read_only_directory_should_give_a_clear_error(void **state) {
    struct le_test_fx *f = *state;
    char ro[4200], fresh[4300], existing[4300];
    snprintf(ro, sizeof ro, "%s/ro", f->dir);
    snprintf(fresh, sizeof fresh, "%s/new.sqlite", ro);
    snprintf(existing, sizeof existing, "%s/existing.sqlite", ro);
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(mkdir(ro, 0755), 0);
    struct le_store *s;
    assert_int_equal(le_store_open(&s, existing), 0);
    le_store_close(s);
    assert_int_equal(chmod(ro, 0555), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Root ignores permission bits: become nobody first. */
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(77);
        int bad = 0;
        if (le_store_open(&s, fresh) != LE_EIO || !strstr(le_err_msg(), fresh))
            bad |= 1;
        fprintf(stderr, "new db in read-only dir: %s\n", le_err_msg());
        if (le_store_open(&s, existing) != LE_EIO || !strstr(le_err_msg(), existing))
            bad |= 2;
        fprintf(stderr, "existing db in read-only dir: %s\n", le_err_msg());
        /* a reader cannot create the -shm a WAL database needs: a clear error, not "not a database" */
        if (le_store_open_readonly(&s, existing) != LE_EIO || !strstr(le_err_msg(), "not writable"))
            bad |= 4;
        fprintf(stderr, "reading a db in a read-only dir: %s\n", le_err_msg());
        _exit(bad ? 10 + bad : 0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    chmod(ro, 0755);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77) {
        print_message("cannot drop root privileges here; read-only directory case skipped\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A file-size limit (RLIMIT_FSIZE, what `ulimit -f` sets) reached while
 * committing: the error names the system's reason, not only SQLite's generic
 * "disk I/O error", and the committed data stays sound. */
static void full_disk_should_name_the_system_error(void **state) {
    struct le_test_fx *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    le_store_close(s);
    struct stat st0;
    assert_int_equal(stat(f->db, &st0), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)st0.st_size + 65536, (rlim_t)st0.st_size + 65536};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0 || le_store_open(&s, f->db) != 0)
            _exit(2);
        enum { N = 400 };
        static char big[2048];
        memset(big, 'x', sizeof big - 1);
        struct le_store_sample smp[N];
        for (int i = 0; i < N; i++)
            smp[i] = (struct le_store_sample){i, 0, big};
        char key[65];
        le_store_cell_key(key, "sha", "full-task", "{}");
        int rc = le_store_put_samples(s, key, 0, smp, N);
        const char *msg = le_err_msg();
        if (write(fds[1], msg, strlen(msg)) < 0)
            _exit(3);
        le_store_close(s);
        _exit(rc == 0 ? 4 : 0);
    }
    close(fds[1]);
    char msg[1024] = "";
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    print_message("full disk: %s\n", msg);
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(msg, f->db));
    assert_non_null(strstr(msg, strerror(EFBIG)));
    assert_int_equal(le_store_open(&s, f->db), 0);
    assert_integrity_ok(s);
    assert_int_equal(count_of(s, "samples"), 0);
    le_store_close(s);
}

/* Claims: one claimant at a time; its own run may re-claim; an expired lease
 * (lease 0 here: expired as soon as it is written) is taken over, and the
 * old claimant's renewal then reports the claim lost; a done cell is DONE. */
static void cell_claims_should_hold_expire_and_end_with_the_cell(void **state) {
    struct le_test_fx *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open(&s, f->db), 0);
    char key[65];
    le_store_cell_key(key, "m", "t", "{}");
    struct le_store_claim a = {.run_id = 1, .host = "elsewhere", .pid = 1, .lease_s = 3600};
    struct le_store_claim b = {.run_id = 2, .host = "here", .pid = 2, .lease_s = 3600};
    struct le_store_holder h;
    int state_ = -1, held = -1;
    assert_int_equal(le_store_cell_claim(s, key, &a, 0, &state_, &h), 0);
    assert_int_equal(state_, LE_STORE_CLAIM_OURS);
    assert_int_equal(le_store_cell_claim(s, key, &b, 0, &state_, &h), 0);
    assert_int_equal(state_, LE_STORE_CLAIM_HELD);
    assert_int_equal(h.run_id, 1);
    assert_int_equal(h.pid, 1);
    assert_string_equal(h.host, "elsewhere");
    assert_true(h.expires_in > 3000);
    /* the holder's own run re-claims; another may take it only by naming it */
    assert_int_equal(le_store_cell_claim(s, key, &a, 0, &state_, &h), 0);
    assert_int_equal(state_, LE_STORE_CLAIM_OURS);
    assert_int_equal(le_store_cell_claim(s, key, &b, 7, &state_, &h), 0);
    assert_int_equal(state_, LE_STORE_CLAIM_HELD);
    /* unclaiming someone else's claim does nothing */
    assert_int_equal(le_store_cell_unclaim(s, key, 2), 0);
    assert_int_equal(le_store_cell_claim(s, key, &b, 0, &state_, &h), 0);
    assert_int_equal(state_, LE_STORE_CLAIM_HELD);
    /* a lease that has run out is free */
    a.lease_s = 0;
    assert_int_equal(le_store_cell_renew(s, key, &a, &held), 0);
    assert_int_equal(held, 1);
    assert_int_equal(le_store_cell_claim(s, key, &b, 0, &state_, &h), 0);
    assert_int_equal(state_, LE_STORE_CLAIM_OURS);
    assert_int_equal(h.run_id, 1);
    assert_true(h.expires_in <= 0);
    assert_int_equal(le_store_cell_renew(s, key, &a, &held), 0);
    assert_int_equal(held, 0); /* a's claim is lost */
    assert_int_equal(le_store_cell_renew(s, key, &b, &held), 0);
    assert_int_equal(held, 1);
    assert_int_equal(count_of(s, "claims"), 1);
    /* finishing the cell drops its claim; then everyone finds it done */
    struct le_store_result r = {.metric = "acc", .value = 0.5, .stderr_v = NAN, .n = 2};
    assert_int_equal(le_store_put_cell(s, key, -1, -1, "t", "{}", &r, 1), 0);
    assert_int_equal(count_of(s, "claims"), 0);
    a.lease_s = 3600;
    assert_int_equal(le_store_cell_claim(s, key, &a, 0, &state_, &h), 0);
    assert_int_equal(state_, LE_STORE_CLAIM_DONE);
    assert_int_equal(count_of(s, "claims"), 0);
    le_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cell_claims_should_hold_expire_and_end_with_the_cell, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(store_should_migrate_an_empty_file_once, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(store_should_reject_files_that_are_not_llamaeval_stores, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test(cell_key_should_hash_the_three_parts_with_separators),
        cmocka_unit_test_setup_teardown(put_cell_should_store_results_once_and_mark_the_cell_done, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(put_steps_should_keep_one_row_per_step, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(sweep_cells_should_join_their_results_once_done, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(export_should_write_quoted_csv_and_typed_json, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(two_processes_writing_at_once_should_lose_no_rows, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(writer_killed_mid_transaction_should_leave_a_sound_db_and_the_cell_not_done,
                                        setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(missing_or_unusable_directories_should_name_the_path, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(read_only_directory_should_give_a_clear_error, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(full_disk_should_name_the_system_error, setup, le_test_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
