/*
 * test_merge: sharded stores and their merge (le_store_merge, `db merge`),
 * and the sweep's cluster side that needs no Slurm (`sweep --cell`,
 * `--status`, `--slurm --dry-run`, the requeue on SIGTERM).
 *
 * - store level: two shards merge into one store with each cell once; a
 *   second merge adds nothing; a shard with the same cell and other numbers
 *   (one ulp apart, or other metrics) is a conflict, reported and left out;
 *   a shard of an older schema version, a corrupted shard and the store
 *   itself are refused with one line and nothing written;
 * - command level: every cell of a 2-cell plan run alone (`--cell I`) into
 *   its own shard and merged with `db merge FOLDER` gives the results of a
 *   local sweep, bit for bit; --status counts the cells; the array script
 *   (--slurm --dry-run) asks for what was given, and eval's maps task I to
 *   model I / T and task I % T; --slurm without sbatch is one line; a `--cell --requeue` task held at its first checkpoint
 *   (LE_TEST_SWEEP_HOLD) and sent SIGTERM checkpoints, calls `scontrol
 *   requeue $SLURM_JOB_ID` (a stand-in script records it) and exits 0; the
 *   rerun resumes from the checkpoint with the local sweep's numbers.
 * scripts/test-slurm does the same on a real Slurm cluster.
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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A store with cell `key` done: results loss = v (and bpb unless
 * other_metrics, then "acc"), 3 samples, a sweep row and 2 points. */
static void make_shard(const char *path, const char *key, double v, int other_metrics) {
    struct le_store *s = NULL;
    assert_int_equal(le_store_open(&s, path), LE_OK);
    int64_t run = 0, model = 0;
    assert_int_equal(le_store_begin_run(s, "sweep", "{\"cell\":0}", 7, 1, &run), LE_OK);
    char sha[65];
    snprintf(sha, sizeof sha, "%.8s%056d", key, 0);
    struct le_store_model m = {.path = "m.gguf", .sha256 = sha, .arch = "llama", .type = "F32", .name = key,
                               .n_params = 100, .n_params_nonembed = 50, .file_size = 400, .tokens_trained = 64};
    assert_int_equal(le_store_put_model(s, &m, &model), LE_OK);
    struct le_store_sample smp[3] = {{0, 0, "{\"x\":1}"}, {1, 0, "{\"x\":2}"}, {2, 0, "{\"x\":3}"}};
    assert_int_equal(le_store_put_samples(s, key, run, smp, 3), LE_OK);
    struct le_store_sweep_cell c = {.key = key, .plan = "p", .label = key, .config = "{}", .budget = NAN,
                                    .dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 2, .ffn = 32, .ctx = 16,
                                    .vocab = 300, .tied = 0, .lr = 1e-3, .seed = 1, .tokens = 64, .n_total = 100,
                                    .n_nonembed = 50, .n_nonembed_noout = 40, .flops_per_token = 600,
                                    .flops_6nd = 38400, .flops_exact = 38400};
    assert_int_equal(le_store_put_sweep_cell(s, &c), LE_OK);
    struct le_store_sweep_point pt[2] = {{1, 32, 19200, 5.5, NAN}, {2, 64, 38400, 5.0, v}};
    assert_int_equal(le_store_put_sweep_points(s, key, pt, 2), LE_OK);
    struct le_store_result r[2] = {{"loss", v, NAN, 64}, {other_metrics ? "acc" : "bpb", 1.25, 0.01, 64}};
    assert_int_equal(le_store_put_cell(s, key, run, model, "sweep", "{}", r, 2), LE_OK);
    assert_int_equal(le_store_end_run(s, run, "ok"), LE_OK);
    le_store_close(s);
}

struct conflicts {
    int n;
    char metric[32], key[65];
    double here, there;
};

static int on_conflict(void *ud, const char *key, const char *task, const char *metric, double here, double there) {
    struct conflicts *c = ud;
    assert_string_equal(task, "sweep");
    c->n++;
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->metric, sizeof c->metric, "%s", metric ? metric : "(none)");
    c->here = here, c->there = there;
    return 0;
}

static int64_t count(struct le_store *s, const char *table) {
    const char *names[16];
    int64_t counts[16];
    int n = 0;
    assert_int_equal(le_store_table_counts(s, names, counts, 16, &n), LE_OK);
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], table))
            return counts[i];
    fail_msg("no table %s", table);
    return -1;
}

static int loss_cb(void *ud, const char *metric, double value, double se, int64_t n) {
    (void)se, (void)n;
    if (!strcmp(metric, "loss"))
        *(double *)ud = value;
    return 0;
}

static double loss_of(struct le_store *s, const char *key) {
    double v = NAN;
    assert_int_equal(le_store_get_results(s, key, loss_cb, &v), LE_OK);
    return v;
}

static void merge_should_add_each_cell_once_and_refuse_what_it_cannot_trust(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), a[600], b[600], same[600], other[600], old[600], bad[600], into[600];
    snprintf(a, sizeof a, "%s/a.sqlite", dir);
    snprintf(b, sizeof b, "%s/b.sqlite", dir);
    snprintf(same, sizeof same, "%s/same.sqlite", dir);
    snprintf(other, sizeof other, "%s/other.sqlite", dir);
    snprintf(old, sizeof old, "%s/old.sqlite", dir);
    snprintf(bad, sizeof bad, "%s/bad.sqlite", dir);
    snprintf(into, sizeof into, "%s/into.sqlite", dir);
    const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *k2 = "2222222222222222222222222222222222222222222222222222222222222222";
    make_shard(a, k1, 2.5, 0);
    make_shard(b, k2, 3.25, 0);
    make_shard(same, k1, nextafter(2.5, 3.0), 0); /* one ulp away */
    make_shard(other, k1, 2.5, 1);                /* other metrics */

    struct le_store *s = NULL;
    struct le_store_merge_stats st;
    struct conflicts c = {0};
    assert_int_equal(le_store_open(&s, into), LE_OK);
    assert_int_equal(le_store_merge(s, a, &st, on_conflict, &c), LE_OK);
    assert_int_equal(st.added, 1);
    assert_int_equal(st.results, 2);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.points, 2);
    assert_int_equal(st.models, 1);
    assert_int_equal(st.runs, 1);
    assert_int_equal(le_store_merge(s, b, &st, on_conflict, &c), LE_OK);
    assert_int_equal(st.added, 1);
    /* again: nothing added, both cells seen as the same */
    assert_int_equal(le_store_merge(s, a, &st, on_conflict, &c), LE_OK);
    assert_int_equal(st.added + st.results + st.samples + st.points + st.models + st.runs, 0);
    assert_int_equal(st.same, 1);
    assert_int_equal(c.n, 0);
    const char *tables[] = {"models", "runs", "cells", "results", "samples", "sweep_cells", "sweep_points"};
    const int64_t want[] = {2, 2, 2, 4, 6, 2, 4};
    for (int i = 0; i < 7; i++)
        assert_int_equal(count(s, tables[i]), want[i]);
    assert_true(loss_of(s, k1) == 2.5);
    assert_true(loss_of(s, k2) == 3.25);

    /* conflicts: reported, the store's numbers kept */
    assert_int_equal(le_store_merge(s, same, &st, on_conflict, &c), LE_OK);
    assert_int_equal(st.conflicts, 1);
    assert_int_equal(st.added, 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.key, k1);
    assert_string_equal(c.metric, "loss");
    assert_true(c.here == 2.5 && c.there == nextafter(2.5, 3.0));
    assert_int_equal(le_store_merge(s, other, &st, on_conflict, &c), LE_OK);
    assert_int_equal(st.conflicts, 1);
    assert_string_equal(c.metric, "(none)");
    assert_true(loss_of(s, k1) == 2.5);

    /* refused: an older schema, the store itself, a corrupted file */
    struct le_store *o = NULL;
    assert_int_equal(le_store_open_at_version(&o, old, 1), LE_OK);
    le_store_close(o);
    assert_int_equal(le_store_merge(s, old, &st, on_conflict, &c), LE_EDB);
    assert_non_null(strstr(le_err_msg(), "schema version 1"));
    assert_int_equal(le_store_merge(s, into, &st, on_conflict, &c), LE_EDB);
    assert_non_null(strstr(le_err_msg(), "into itself"));
    /* a shard whose sample rows are overwritten on disk: its pages after the
     * first two (schema) are zeroed half-way */
    make_shard(bad, "3333333333333333333333333333333333333333333333333333333333333333", 1.0, 0);
    size_t len;
    unsigned char *bytes = le_test_read_file(bad, &len);
    assert_true(len >= 4 * 4096);
    for (size_t p = 2 * 4096; p + 4096 <= len; p += 4096)
        memset(bytes + p + 8, 0, 2048);
    assert_int_equal(le_test_write_file(bad, bytes, len), 0);
    free(bytes);
    assert_int_equal(le_store_merge(s, bad, &st, on_conflict, &c), LE_EDB);
    assert_non_null(strstr(le_err_msg(), "fails SQLite's integrity check"));
    for (int i = 0; i < 7; i++)
        assert_int_equal(count(s, tables[i]), want[i]);
    le_store_close(s);
    le_test_rmdir(dir);
    free(dir);
}

/* Command level. */

static int env_setup(void **state) {
    if (le_test_fx_setup(state, sizeof(struct le_test_fx), NULL))
        return -1;
    struct le_test_fx *e = *state;
    char path[600], *text = malloc(40000);
    static const char *w[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "of"};
    for (int f = 0; f < 2; f++) { /* train.txt, valid.txt: deterministic words */
        size_t at = 0;
        uint64_t s = (uint64_t)f + 1;
        for (int i = 0; i < (f ? 600 : 4000); i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            at += (size_t)sprintf(text + at, "%s%s", w[(s >> 33) % 12], i % 9 == 8 ? ". " : " ");
        }
        snprintf(path, sizeof path, "%s/%s", e->dir, f ? "valid.txt" : "train.txt");
        le_test_write_file(path, text, at);
    }
    free(text);
    snprintf(path, sizeof path, "%s/plan.json", e->dir);
    const char *plan =
        "{\"name\": \"m\", \"tokenizer\": {\"train\": {\"vocab\": 300}},"
        " \"corpus\": {\"train\": \"train.txt\", \"valid\": \"valid.txt\"},"
        " \"model\": {\"ctx\": 32, \"heads\": 2, \"layers\": 1}, \"lr\": 5e-3, \"batch_tokens\": 128,"
        " \"evals\": 4, \"eval_tokens\": 256, \"max_epochs\": 20, \"min_steps\": 4, \"tasks\": [],"
        " \"grid\": {\"shapes\": [8], \"tokens\": [2048, 4096]}}\n";
    le_test_write_file(path, plan, strlen(plan));
    return 0;
}

/* `db export` of a store, as sorted "cell,task,metric,value,stderr,n" lines. */
static char *rows_of(const struct le_test_fx *e, const char *db) {
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "%s db export --db %s/%s | tail -n +2 | cut -d, -f2-7 | sort", le_test_bin(),
                                e->dir, db),
                     0);
    return out;
}

static void cell_shards_should_merge_into_the_local_sweeps_numbers(void **state) {
    struct le_test_fx *e = *state;
    const char *bin = le_test_bin(), *d = e->dir;
    char *out = NULL;
    int st = le_test_sh(&out, "cd %s && %s sweep plan.json --db local.sqlite --out local --quiet", d, bin);
    if (st)
        print_error("%s\n", out);
    assert_int_equal(st, 0);
    free(out);
    for (int i = 0; i < 2; i++) {
        free(le_test_sh_expect(0, "1 of 1 cells finished (1 trained now)",
                               "cd %s && mkdir -p cl/shards && %s sweep plan.json --cell %d --db cl/shards/cell-%d.sqlite"
                               " --out cl --quiet --jobs 1 --threads 1", d, bin, i, i));
    }
    free(le_test_sh_expect(1, "--cell 2: the plan has 2 cells (0 to 1)", "cd %s && %s sweep plan.json --cell 2 --out cl",
                           d, bin));
    free(le_test_sh_expect(0, "2 cells: 2 done (0 merged into merged.sqlite), 0 running, 0 pending, 0 failed",
                           "cd %s && %s sweep plan.json --status --db merged.sqlite --out cl", d, bin));
    free(le_test_sh_expect(0, "merged 2 shards into merged.sqlite: 2 cells added (4 results, 0 samples, 8 sweep",
                           "cd %s && %s db merge cl/shards --into merged.sqlite", d, bin));
    free(le_test_sh_expect(0,
                           "merged 3 shards into merged.sqlite: 0 cells added (0 results, 0 samples, 0 sweep "
                           "points), 3 already there, 0 conflicts",
                           "cd %s && %s db merge cl/shards/cell-0.sqlite cl/shards --into merged.sqlite", d, bin));
    st = le_test_sh(&out, "cd %s && %s sweep plan.json --status --db merged.sqlite --out cl", d, bin);
    assert_non_null(strstr(out, "2 cells: 2 done (2 merged into merged.sqlite)"));
    free(out);
    char *lr = rows_of(e, "local.sqlite"), *mr = rows_of(e, "merged.sqlite");
    assert_int_equal(strlen(lr) > 0 && strchr(lr, '\n') != strrchr(lr, '\n'), 1); /* 4 lines */
    assert_string_equal(lr, mr);
    free(lr), free(mr);
}

static void slurm_script_and_requeue_should_work_without_a_cluster(void **state) {
    struct le_test_fx *e = *state;
    const char *bin = le_test_bin(), *d = e->dir;
    char *out = NULL;
    int st = le_test_sh(&out, "cd %s && %s sweep plan.json --slurm --dry-run --db r.sqlite --out sl --max-running 3"
                              " --time 1:00:00 --partition short --cpus-per-task 2", d, bin);
    assert_int_equal(st, 0);
    const char *want[] = {"#SBATCH --array=0-1%3", "#SBATCH --requeue", "#SBATCH --signal=B:TERM@",
                          "#SBATCH --time=1:00:00", "#SBATCH --partition=short", "#SBATCH --cpus-per-task=2",
                          "--cell \"$SLURM_ARRAY_TASK_ID\"", "/sl/shards'/cell-\"$SLURM_ARRAY_TASK_ID\".sqlite",
                          "--requeue", "db merge '", "--into '"};
    le_test_assert_has(out, want, sizeof want / sizeof want[0]);
    free(out);
    /* eval over models x tasks: task I is model I / 2 on task I %% 2 */
    st = le_test_sh(&out, "cd %s && touch a.gguf b.gguf && %s eval --model a.gguf,b.gguf --tasks brown-swap,arc_easy"
                          " --limit 6 --slurm --dry-run --db ev.sqlite", d, bin);
    assert_int_equal(st, 0);
    const char *ewant[] = {"#SBATCH --array=0-3\n", "models=('", "/a.gguf' '", "tasks=('brown-swap' 'arc_easy')",
                           "--model \"${models[i / 2]}\" --tasks \"${tasks[i % 2]}\"", "/ev.slurm/shards'/cell-\"$i\"",
                           "'--limit' '6'", "scontrol requeue", "/ev.sqlite'"};
    le_test_assert_has(out, ewant, sizeof ewant / sizeof ewant[0]);
    free(out);
    free(le_test_sh_expect(1, "unknown task 'no-such-task'",
                           "cd %s && %s eval --model a.gguf --tasks no-such-task --slurm --dry-run", d, bin));
    st = le_test_sh(&out, "cd %s && PATH=/nonexistent %s sweep plan.json --slurm --out sl", d, bin);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "llamaeval: error: --slurm: sbatch is not on PATH"));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
    /* a task held at its first checkpoint, sent SIGTERM: it requeues itself */
    st = le_test_sh(&out,
                    "cd %s && mkdir -p bin rq/shards && printf '#!/bin/sh\\necho \"$@\" > %s/scontrol.args\\n' > "
                    "bin/scontrol && chmod +x bin/scontrol && "
                    "(LE_TEST_SWEEP_HOLD=1:1 SLURM_JOB_ID=4242 PATH=%s/bin:$PATH %s sweep plan.json --cell 1 "
                    "--db rq/shards/cell-1.sqlite --out rq --quiet --jobs 1 --threads 1 --requeue > held.log 2>&1 & "
                    "p=$!; for i in $(seq 1200); do grep -qs 'test hold:' held.log && break; sleep 0.05; done; "
                    "kill -TERM $p; wait $p; echo \"status $?\"; cat held.log)",
                    d, d, d, bin);
    assert_int_equal(st, 0);
    if (!strstr(out, "status 0") || !strstr(out, "requeued Slurm job 4242"))
        fail_msg("%s", out);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/scontrol.args", d);
    size_t len;
    char *args = le_test_read_file(path, &len);
    assert_non_null(args);
    assert_string_equal(args, "requeue 4242\n");
    free(args);
    free(le_test_sh_expect(0, "resumed at step",
                           "cd %s && %s sweep plan.json --cell 1 --db rq/shards/cell-1.sqlite --out rq --jobs 1 "
                           "--threads 1 --quiet && %s db merge rq/shards --into rq.sqlite", d, bin, bin));
    /* its numbers: those of cell 1 in the local sweep of the test above */
    char *lr = rows_of(e, "local.sqlite"), *rr = rows_of(e, "rq.sqlite");
    assert_non_null(strstr(lr, rr));
    assert_true(strlen(rr) > 0);
    free(lr), free(rr);
}

int main(void) {
    const struct CMUnitTest store[] = {
        cmocka_unit_test(merge_should_add_each_cell_once_and_refuse_what_it_cannot_trust),
    };
    const struct CMUnitTest cmd[] = {
        cmocka_unit_test(cell_shards_should_merge_into_the_local_sweeps_numbers),
        cmocka_unit_test(slurm_script_and_requeue_should_work_without_a_cluster),
    };
    int f = cmocka_run_group_tests_name("store", store, NULL, NULL);
    return f + cmocka_run_group_tests_name("command", cmd, env_setup, le_test_fx_teardown);
}
