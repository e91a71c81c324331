/*
 * test_eval: `llamaeval eval` end to end on a generated model, over the
 * built-in Brown tasks and HellaSwag from the fixture (offline cache).
 *
 * - An eval killed with SIGKILL midway (LE_TEST_KILL_AFTER) and rerun ends
 *   with the same results (every exported value, stderr and n, bit for bit)
 *   and the same row counts in every table as an uninterrupted run: nothing
 *   is computed or counted twice.
 * - 2 threads and a different batch size give the same results.
 * - A rerun of a finished eval skips every cell and prints the same table.
 * - The results JSON has lm-eval's keys; the markdown table its header.
 * - Usage errors exit 2, bad requests exit 1.
 * - Two evals on the same cells queue up (claims): each cell computed once.
 * - --db none prints the table a store-backed run prints and writes no file.
 * - --gen-batch: generate_until documents decoded together give the same
 *   samples, numbers and sample logs, 1 and 2 threads, killed and resumed.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_genmodel.h"
#include "le_store.h"
#include "le_test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h> /* open */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
    struct le_test_fx fx; /* the folder */
    char model[512], env[1024];
};

static int setup(void **state) {
    if (le_test_fx_setup(state, sizeof(struct fx), NULL))
        return -1;
    struct fx *f = *state;
    snprintf(f->model, sizeof f->model, "%s/gen.gguf", f->fx.dir);
    struct le_genmodel_cfg cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn = 64,
                                  .n_vocab = 512, .n_ctx = 256, .seed = 5};
    if (le_genmodel_write(f->model, &cfg))
        return -1;
    /* HellaSwag fixture placed where the dataset cache keeps the upstream files */
    char *out = NULL;
    int rc = le_test_sh(&out,
                        "mkdir -p '%s/cache/hellaswag' && cp tests/data/tasks/hellaswag.jsonl "
                        "'%s/cache/hellaswag/hellaswag_val.jsonl' && cp tests/data/tasks/hellaswag.jsonl "
                        "'%s/cache/hellaswag/hellaswag_train.jsonl'",
                        f->fx.dir, f->fx.dir, f->fx.dir);
    free(out);
    if (rc)
        return -1;
    snprintf(f->env, sizeof f->env, "LLAMAEVAL_CACHE='%s/cache'", f->fx.dir);
    return 0;
}

#define TASKS "brown-cloze,brown-swap,hellaswag,brown"
#define COMMON "--tasks " TASKS " --limit 3 --ctx 96 --offline --quiet --bootstrap-iters 50 --flush-every 4"

static int run_eval(struct fx *f, char **out, const char *pre, const char *db, const char *extra) {
    return le_test_sh(out, "cd '%s' && %s %s '%s' eval --model gen.gguf " COMMON " --db %s %s", f->fx.dir, f->env,
                      pre, le_test_bin(), db, extra);
}

/* Exported result rows as sorted "cell task metric value stderr n" lines. */
static char *export_rows(struct fx *f, const char *db, int *n_rows) {
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "cd '%s' && '%s' db export --db %s --format json --output x.json", f->fx.dir,
                                le_test_bin(), db),
                     0);
    free(out);
    cJSON *arr = le_test_read_json(f->fx.dir, "x.json");
    assert_true(cJSON_IsArray(arr));
    int n = cJSON_GetArraySize(arr);
    char **lines = calloc((size_t)n, sizeof *lines);
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_GetArrayItem(arr, i);
        cJSON *se = cJSON_GetObjectItem(r, "stderr");
        assert_int_equal(asprintf(&lines[i], "%s %s %s %.17g %.17g %.17g",
                                  cJSON_GetObjectItem(r, "cell")->valuestring,
                                  cJSON_GetObjectItem(r, "task")->valuestring,
                                  cJSON_GetObjectItem(r, "metric")->valuestring,
                                  cJSON_GetObjectItem(r, "value")->valuedouble,
                                  cJSON_IsNumber(se) ? se->valuedouble : NAN,
                                  cJSON_GetObjectItem(r, "n")->valuedouble) > 0,
                         1);
    }
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
            char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *all = calloc(len, 1);
    for (int i = 0; i < n; i++) {
        strcat(all, lines[i]);
        strcat(all, "\n");
        free(lines[i]);
    }
    free(lines);
    cJSON_Delete(arr);
    *n_rows = n;
    return all;
}

/* "  samples  123" lines of `db info`, for row counts. */
static long table_rows(struct fx *f, const char *db, const char *table) {
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "cd '%s' && '%s' db info --db %s", f->fx.dir, le_test_bin(), db), 0);
    char *p = out;
    long v = -1;
    while ((p = strstr(p, table))) {
        if (p[-1] == ' ' && p[strlen(table)] == ' ') {
            v = atol(p + strlen(table));
            break;
        }
        p++;
    }
    free(out);
    return v;
}

static void eval_should_resume_after_sigkill_with_same_results(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    int rc = run_eval(f, &out, "", "a.sqlite", "--threads 1 --output-path outa");
    if (rc)
        fail_msg("eval failed (%d): %s", rc, out);
    assert_non_null(strstr(out, "|Version|Filter|n-shot|"));
    assert_non_null(strstr(out, "|acc_norm"));
    assert_non_null(strstr(out, "|word_perplexity"));
    char *table_a = out;

    /* killed after 12 committed samples, then resumed */
    rc = run_eval(f, &out, "LE_TEST_KILL_AFTER=12", "b.sqlite", "--threads 1");
    free(out);
    assert_int_equal(rc, 128 + 9);
    assert_true(table_rows(f, "b.sqlite", "samples") >= 12);
    assert_true(table_rows(f, "b.sqlite", "results") < table_rows(f, "a.sqlite", "results"));
    rc = run_eval(f, &out, "", "b.sqlite", "--threads 1");
    free(out);
    assert_int_equal(rc, 0);

    int na, nb, nc;
    char *ra = export_rows(f, "a.sqlite", &na), *rb = export_rows(f, "b.sqlite", &nb);
    assert_true(na > 10);
    assert_int_equal(na, nb);
    assert_string_equal(ra, rb);
    static const char *tables[] = {"samples", "results", "cells", "models"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(table_rows(f, "a.sqlite", tables[i]), table_rows(f, "b.sqlite", tables[i]));

    /* 2 threads and another batch size: the same numbers */
    rc = run_eval(f, &out, "", "c.sqlite", "--threads 2 --batch 7");
    free(out);
    assert_int_equal(rc, 0);
    char *rcx = export_rows(f, "c.sqlite", &nc);
    assert_string_equal(ra, rcx);

    /* a finished eval is skipped and prints the same table */
    long samples = table_rows(f, "a.sqlite", "samples");
    rc = run_eval(f, &out, "", "a.sqlite", "--threads 1");
    assert_int_equal(rc, 0);
    assert_string_equal(out, table_a);
    free(out);
    assert_int_equal(table_rows(f, "a.sqlite", "samples"), samples);
    int na2;
    char *ra2 = export_rows(f, "a.sqlite", &na2);
    assert_int_equal(na2, na);
    free(ra2);
    free(ra);
    free(rb);
    free(rcx);
    free(table_a);
}

/* generate_until documents decoded together (--gen-batch) give the samples
 * (continuations), the stored numbers and the sample logs of decoding them
 * one at a time, for 1 and 2 threads, and resume after a kill as today. */
static void batched_generation_should_give_the_unbatched_results(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    static const char *const words[] = {"river", "stone", "a", "the quick brown fox", "seven", "", "blue sky and",
                                        "x y z", "mountain"};
    char path[1024];
    snprintf(path, sizeof path, "%s/gen.jsonl", f->fx.dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        fprintf(fp, "{\"q\": \"%s\", \"a\": \"%s\"}\n", words[i], words[(i + 1) % 9]);
    fclose(fp);
    snprintf(path, sizeof path, "%s/gen.yaml", f->fx.dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("task: gen\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: gen.jsonl\ntest_split: test\n"
          "output_type: generate_until\ndoc_to_text: \"Q: {{q}}\\nA:\"\ndoc_to_target: a\n"
          "generation_kwargs:\n  until:\n    - \"e\"\n    - \"\\n\"\n  max_gen_toks: 9\n"
          "metric_list:\n  - metric: exact_match\n",
          fp);
    fclose(fp);
#define GEN_EVAL "cd '%s' && %s %s '%s' eval --model gen.gguf --tasks gen.yaml --ctx 96 --quiet --flush-every 2 "
    static const char *const runs[][3] = {
        {"", "g1", "--gen-batch 1 --threads 1"},
        {"", "g2", "--gen-batch 4 --threads 1"},
        {"", "g3", "--gen-batch 3 --threads 2"},
        {"LE_TEST_KILL_AFTER=4", "g4", "--gen-batch 3 --threads 2"},
    };
    char *rows[4], *samples[4];
    for (int i = 0; i < 4; i++) {
        int rc = le_test_sh(&out, GEN_EVAL "--db %s.sqlite --log-samples --output-path %s %s", f->fx.dir, f->env,
                            runs[i][0], le_test_bin(), runs[i][1], runs[i][1], runs[i][2]);
        free(out);
        if (i == 3) { /* killed after 4 committed samples, then resumed */
            assert_int_equal(rc, 128 + 9);
            assert_true(table_rows(f, "g4.sqlite", "samples") >= 4);
            assert_true(table_rows(f, "g4.sqlite", "samples") < 9);
            rc = le_test_sh(&out, GEN_EVAL "--db g4.sqlite --log-samples --output-path g4 %s", f->fx.dir, f->env, "",
                            le_test_bin(), runs[i][2]);
            free(out);
        }
        assert_int_equal(rc, 0);
        char db[32];
        snprintf(db, sizeof db, "%s.sqlite", runs[i][1]);
        int n;
        rows[i] = export_rows(f, db, &n);
        assert_true(n >= 1);
        assert_int_equal(table_rows(f, db, "samples"), 9);
        /* the sample log: every line but the date-stamped file name */
        assert_int_equal(le_test_sh(&samples[i], "cat '%s'/%s/*/samples_gen_*.jsonl", f->fx.dir, runs[i][1]), 0);
        assert_int_equal(le_test_sh(&out, "cat '%s'/%s/*/samples_gen_*.jsonl | wc -l", f->fx.dir, runs[i][1]), 0);
        assert_int_equal(atoi(out), 9);
        free(out);
        if (i > 0) {
            assert_string_equal(rows[i], rows[0]);
            assert_string_equal(samples[i], samples[0]);
        }
    }
    /* the model generates something: not every response is empty */
    int nonempty = 0;
    for (const char *p = samples[0]; (p = strstr(p, "\"resps\": [[\"")); p++)
        nonempty += p[strlen("\"resps\": [[\"")] != '"';
    assert_true(nonempty >= 3);
    for (int i = 0; i < 4; i++) {
        free(rows[i]);
        free(samples[i]);
    }
#undef GEN_EVAL
}

static void eval_should_write_lm_eval_results_json(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    int rc = run_eval(f, &out, "", "j.sqlite", "--output-path res.json --log-samples");
    if (rc)
        fail_msg("eval failed (%d): %s", rc, out);
    free(out);
    cJSON *j = le_test_read_json(f->fx.dir, "res.json");
    cJSON *hs = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "results"), "hellaswag");
    assert_non_null(hs);
    cJSON *acc = cJSON_GetObjectItem(hs, "acc,none"), *se = cJSON_GetObjectItem(hs, "acc_stderr,none");
    assert_true(cJSON_IsNumber(acc) && acc->valuedouble >= 0 && acc->valuedouble <= 1);
    assert_non_null(se);
    assert_non_null(cJSON_GetObjectItem(hs, "acc_norm,none"));
    cJSON *br = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "results"), "brown");
    assert_true(cJSON_GetObjectItem(br, "word_perplexity,none")->valuedouble > 1.0);
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "versions"), "hellaswag")->valuedouble, 1);
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "n-shot"), "hellaswag")->valuedouble, 0);
    cJSON *ns = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "n-samples"), "hellaswag");
    assert_int_equal((int)cJSON_GetObjectItem(ns, "original")->valuedouble, 3);
    assert_int_equal((int)cJSON_GetObjectItem(ns, "effective")->valuedouble, 3);
    cJSON *bc = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "n-samples"), "brown-cloze");
    assert_int_equal((int)cJSON_GetObjectItem(bc, "effective")->valuedouble, 3);
    assert_non_null(cJSON_GetObjectItem(j, "config"));
    cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "llamaeval_requests"), "brown-cloze");
    assert_true(cJSON_GetObjectItem(st, "tokens_evaluated")->valuedouble <
                cJSON_GetObjectItem(st, "tokens_naive")->valuedouble);
    cJSON_Delete(j);
    /* --log-samples: one line per document */
    rc = le_test_sh(&out, "cat '%s'/samples_hellaswag_*.jsonl | wc -l", f->fx.dir);
    assert_int_equal(rc, 0);
    assert_int_equal(atoi(out), 3);
    free(out);
    /* ... in lm-eval's per-sample schema (tasks/samples.c; test_tasks checks the values) */
    rc = le_test_sh(&out, "head -n 1 '%s'/samples_hellaswag_*.jsonl", f->fx.dir);
    assert_int_equal(rc, 0);
    cJSON *line = cJSON_Parse(out);
    static const char *const keys[] = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter",
                                       "metrics", "doc_hash", "prompt_hash", "target_hash", "acc", "acc_norm"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (!cJSON_GetObjectItem(line, keys[k]))
            fail_msg("sample line without \"%s\": %s", keys[k], out);
    cJSON_Delete(line);
    free(out);
}

/* MMLU (fixture: three subjects): results per subject, group and mmlu as
 * lm-eval names them, and the same from the store on a rerun. */
static void mmlu_groups_should_be_reported_and_come_back_from_the_store(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "mkdir -p '%s/cache/mmlu' && tar cf '%s/cache/mmlu/data.tar' -C "
                                      "tests/data/datasets/mmlu data", f->fx.dir, f->fx.dir), 0);
    free(out);
    cJSON *res[2];
    for (int k = 0; k < 2; k++) {
        int rc = le_test_sh(&out, "cd '%s' && %s '%s' eval --model gen.gguf --tasks mmlu --num-fewshot 1 --ctx 256 "
                                  "--offline --quiet --db m.sqlite --output-path m%d.json%s", f->fx.dir, f->env,
                            le_test_bin(), k, k ? "" : " --log-samples");
        if (rc)
            fail_msg("eval failed (%d): %s", rc, out);
        if (k == 1)
            assert_non_null(strstr(out, "|  - abstract_algebra|"));
        free(out);
        char path[700];
        snprintf(path, sizeof path, "%s/m%d.json", f->fx.dir, k);
        char *s = le_test_read_file(path, NULL);
        cJSON *j = cJSON_Parse(s);
        free(s);
        assert_non_null(j);
        res[k] = j;
    }
    static const char *const keys[] = {"mmlu", "mmlu_stem", "mmlu_humanities", "mmlu_other",
                                       "mmlu_abstract_algebra", "mmlu_marketing", "mmlu_philosophy"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(res[0], "results"), keys[i]);
        cJSON *b = cJSON_GetObjectItem(cJSON_GetObjectItem(res[1], "results"), keys[i]);
        if (!a || !cJSON_IsNumber(cJSON_GetObjectItem(a, "acc,none")))
            fail_msg("no results for %s", keys[i]);
        assert_true(cJSON_Compare(a, b, 1));
    }
    /* versions as lm-eval's: the mmlu group's metadata.version is 2 */
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(res[0], "versions"), "mmlu")->valuedouble == 2.0);
    cJSON *gs = cJSON_GetObjectItem(res[0], "group_subtasks");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(gs, "mmlu")), 3);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(gs, "mmlu_humanities"), 0)->valuestring,
                        "mmlu_philosophy");
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(res[1], "llamaeval_requests"), "mmlu"),
                                    "from_store")->type == cJSON_True);
    /* sample logs as lm-eval writes them: one file per subject (3, 2, 2
     * documents in the fixture), doc_id from 0 within each, none for mmlu */
    assert_int_equal(le_test_sh(&out, "cd '%s' && ls samples_mmlu*.jsonl | sed 's/_20[0-9T.-]*jsonl$//' && "
                                      "for s in abstract_algebra marketing philosophy; do "
                                      "grep -o '\"doc_id\": [0-9]*' samples_mmlu_${s}_*.jsonl | tr '\\n' ' '; done",
                                f->fx.dir), 0);
    assert_string_equal(out, "samples_mmlu_abstract_algebra\nsamples_mmlu_marketing\nsamples_mmlu_philosophy\n"
                             "\"doc_id\": 0 \"doc_id\": 1 \"doc_id\": 2 \"doc_id\": 0 \"doc_id\": 1 "
                             "\"doc_id\": 0 \"doc_id\": 1 ");
    free(out);
    /* lm-eval's names for a group and a subject: the same numbers as those
     * parts of mmlu (same requests, same aggregation), named alike */
    int rc = le_test_sh(&out, "cd '%s' && %s '%s' eval --model gen.gguf --tasks mmlu_humanities,mmlu_marketing "
                              "--num-fewshot 1 --ctx 256 --offline --quiet --db none --output-path p.json",
                        f->fx.dir, f->env, le_test_bin());
    if (rc)
        fail_msg("eval of mmlu parts failed (%d): %s", rc, out);
    free(out);
    char path[700];
    snprintf(path, sizeof path, "%s/p.json", f->fx.dir);
    char *s = le_test_read_file(path, NULL);
    cJSON *p = cJSON_Parse(s);
    free(s);
    assert_non_null(p);
    static const char *const part[] = {"mmlu_humanities", "mmlu_philosophy", "mmlu_marketing"};
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++)
        for (const char *k = "acc,none"; k; k = strcmp(k, "acc,none") ? NULL : "acc_stderr,none") {
            cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(res[0], "results"), part[i]), k);
            cJSON *b = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "results"), part[i]), k);
            if (!a || !b || !cJSON_Compare(a, b, 1))
                fail_msg("%s %s differs from mmlu's", part[i], k);
        }
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "results"), "mmlu_humanities"),
                                            "alias")->valuestring, "humanities");
    gs = cJSON_GetObjectItem(p, "group_subtasks");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(gs, "mmlu_humanities")), 1);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(gs, "mmlu_humanities"), 0)->valuestring,
                        "mmlu_philosophy");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "results"), "mmlu_stem"));
    cJSON_Delete(p);
    /* mmlu with one of its groups: each name once in results and in group_subtasks */
    rc = le_test_sh(&out, "cd '%s' && %s '%s' eval --model gen.gguf --tasks mmlu,mmlu_humanities --num-fewshot 1 "
                          "--ctx 256 --offline --quiet --db none --output-path q.json",
                    f->fx.dir, f->env, le_test_bin());
    if (rc)
        fail_msg("eval of mmlu and a group failed (%d): %s", rc, out);
    free(out);
    snprintf(path, sizeof path, "%s/q.json", f->fx.dir);
    s = le_test_read_file(path, NULL);
    p = cJSON_Parse(s);
    free(s);
    assert_non_null(p);
    int n_res = 0, n_gs = 0, n_acc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(p, "results")) n_res += !strcmp(e->string, "mmlu_humanities");
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(p, "group_subtasks")) n_gs += !strcmp(e->string, "mmlu_humanities");
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(p, "results"), "mmlu_humanities"))
        n_acc += !strcmp(e->string, "acc,none");
    assert_int_equal(n_res, 1);
    assert_int_equal(n_gs, 1);
    assert_int_equal(n_acc, 1);
    cJSON *pgs = cJSON_GetObjectItem(p, "group_subtasks");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(pgs, "mmlu_humanities")), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(pgs, "mmlu")), 3);
    cJSON_Delete(p);
    /* listed without flooding the list; a near miss gets its name */
    assert_int_equal(le_test_sh(&out, "'%s' eval --tasks list", le_test_bin()), 0);
    assert_non_null(strstr(out, "\nmmlu_stem "));
    assert_non_null(strstr(out, "\nmmlu_<subject> "));
    assert_null(strstr(out, "mmlu_anatomy "));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' eval --model gen.gguf --tasks mmlu_abstract_algebr", le_test_bin()), 2);
    assert_non_null(strstr(out, "did you mean 'mmlu_abstract_algebra'?"));
    free(out);
    cJSON_Delete(res[0]);
    cJSON_Delete(res[1]);
}

static void eval_should_reject_bad_usage(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' eval --tasks brown", le_test_bin()), 2);
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' eval --model '%s' --tasks nope", le_test_bin(), f->model), 2);
    assert_non_null(strstr(out, "unknown task 'nope'"));
    free(out);
    assert_int_equal(le_test_sh(&out, "cd '%s' && '%s' eval --model gen.gguf --tasks brown --num-fewshot 1 --db e.sqlite",
                                f->fx.dir, le_test_bin()),
                     1);
    assert_non_null(strstr(out, "llamaeval: error:"));
    free(out);
    /* lm-eval refuses --log_samples without --output_path; so do we (issue 12, item 12) */
    assert_int_equal(le_test_sh(&out, "cd '%s' && '%s' eval --model gen.gguf --tasks brown --log-samples --db e.sqlite",
                                f->fx.dir, le_test_bin()),
                     2);
    assert_non_null(strstr(out, "--output-path"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' eval --help", le_test_bin()), 0);
    assert_non_null(strstr(out, "brown-cloze"));
    free(out);
}

/* Issue 12, item 12: `--db none` computes and prints what a run with a store
 * prints, and leaves the folder as it found it (no store, no -wal/-shm). */
static void eval_db_none_should_print_the_same_table_and_write_no_store(void **state) {
    struct fx *f = *state;
    char *before = NULL, *after = NULL, *none = NULL, *stored = NULL;
    assert_int_equal(le_test_sh(&before, "ls -A '%s'", f->fx.dir), 0);
    int rc = run_eval(f, &none, "", "none", "--threads 1");
    if (rc)
        fail_msg("eval --db none failed (%d): %s", rc, none);
    assert_int_equal(le_test_sh(&after, "ls -A '%s'", f->fx.dir), 0);
    assert_string_equal(before, after);
    assert_non_null(strstr(none, "|Version|Filter|n-shot|"));
    assert_int_equal(run_eval(f, &stored, "", "none-ref.sqlite", "--threads 1"), 0);
    assert_string_equal(none, stored);
    /* --slurm merges shards into --db: none is a usage error there */
    free(after);
    assert_int_equal(le_test_sh(&after, "cd '%s' && '%s' eval --slurm --dry-run --model gen.gguf --tasks brown "
                                "--db none", f->fx.dir, le_test_bin()),
                     2);
    assert_non_null(strstr(after, "llamaeval: error:"));
    free(before);
    free(after);
    free(none);
    free(stored);
}

static int first_run_config(void *ud, const struct le_store_report_run *r) {
    snprintf(ud, 2048, "%s", r->config ? r->config : "");
    return 1; /* the first run only */
}

/* Issue 12, defect 11: eval with a context beyond the model's training
 * context (256) warns as llama.cpp does and notes it in the run. */
static void eval_ctx_beyond_training_should_warn(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    int rc = le_test_sh(&out, "cd '%s' && %s '%s' eval --model gen.gguf --tasks brown-cloze --limit 1 --ctx 300 "
                        "--offline --quiet --db ctx.sqlite",
                        f->fx.dir, f->env, le_test_bin());
    if (rc)
        fail_msg("eval failed (%d): %s", rc, out);
    assert_non_null(strstr(out, "llamaeval: warning: gen.gguf: n_ctx_per_seq (300) > n_ctx_train (256) -- possible "
                                "training context overflow"));
    free(out);
    char db[600];
    snprintf(db, sizeof db, "%s/ctx.sqlite", f->fx.dir);
    struct le_store *s = NULL;
    assert_int_equal(le_store_open_readonly(&s, db), 0);
    char cfg[2048] = "";
    assert_int_equal(le_store_report_runs(s, first_run_config, cfg), 1); /* stopped after the first */
    le_store_close(s);
    assert_non_null(strstr(cfg, "\"notes\":[{\"warning\":\"n_ctx_per_seq (300) > n_ctx_train (256)"));
}

/* Runs `sh -c "exec CMD"` (so the pid is llamaeval's) with stdout into
 * out_path and stderr into a pipe whose read end goes to *err_fd. */
static pid_t spawn_eval(const char *cmd, const char *out_path, int *err_fd) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(p[1], 2) < 0)
            _exit(126);
        close(p[0]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *err_fd = p[0];
    return pid;
}

/* Reads fd to EOF or until `want` appears; returns 1 when it appeared. */
static int read_until(int fd, const char *want, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    while (len + 1 < n) {
        ssize_t r = read(fd, buf + len, n - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = 0;
        if (strstr(buf, want))
            return 1;
    }
    return 0;
}

/* Issue 12, defect 5: two evals on the same cells. A stops itself (SIGSTOP,
 * the stop_after seam) holding brown-cloze half done; B, given the tasks in
 * the other order, computes brown-swap, then finds brown-cloze claimed by a
 * live process and waits (its "waiting" line is what the test waits for:
 * nothing here is timed). A continued finishes brown-cloze and finds
 * brown-swap done by B. Both exit 0, and the store holds each cell once,
 * with the numbers of one uninterrupted eval. */
static void two_evals_on_the_same_cells_should_queue_and_compute_each_once(void **state) {
    struct fx *f = *state;
#define OPTS "--limit 3 --ctx 96 --offline --quiet --bootstrap-iters 50 --flush-every 4 --threads 1"
    char *out = NULL;
    int rc = le_test_sh(&out, "cd '%s' && %s '%s' eval --model gen.gguf --tasks brown-cloze,brown-swap " OPTS
                        " --db one.sqlite", f->fx.dir, f->env, le_test_bin());
    if (rc)
        fail_msg("eval failed (%d): %s", rc, out);
    free(out);

    char cmd[4096], outa[600], outb[600], buf[8192];
    snprintf(outa, sizeof outa, "%s/a.out", f->fx.dir);
    snprintf(outb, sizeof outb, "%s/b.out", f->fx.dir);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && LE_TEST_STOP_AFTER=4 LE_TEST_LEASE_S=100000 %s exec '%s' eval --model gen.gguf"
             " --tasks brown-cloze,brown-swap " OPTS " --db two.sqlite",
             f->fx.dir, f->env, le_test_bin());
    int ea = -1, eb = -1;
    pid_t a = spawn_eval(cmd, outa, &ea);
    int st = 0;
    assert_int_equal(waitpid(a, &st, WUNTRACED), a);
    assert_true(WIFSTOPPED(st)); /* A holds brown-cloze, 4 samples committed */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s exec '%s' eval --model gen.gguf --tasks brown-swap,brown-cloze " OPTS " --db two.sqlite",
             f->fx.dir, f->env, le_test_bin());
    pid_t b = spawn_eval(cmd, outb, &eb);
    int waited = read_until(eb, "waiting: cell brown-cloze", buf, sizeof buf);
    kill(a, SIGCONT);
    assert_int_equal(waitpid(a, &st, 0), a);
    int a_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    assert_int_equal(waitpid(b, &st, 0), b);
    int b_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!waited || !a_ok || !b_ok)
        fail_msg("waited %d, A ok %d, B ok %d; B's stderr: %s", waited, a_ok, b_ok, buf);
    close(ea);
    close(eb);
#undef OPTS
    char *ta = le_test_read_file(outa, NULL), *tb = le_test_read_file(outb, NULL);
    assert_non_null(strstr(ta, "brown-cloze"));
    assert_non_null(strstr(ta, "brown-swap"));
    assert_non_null(strstr(tb, "brown-cloze"));
    assert_non_null(strstr(tb, "brown-swap"));
    free(ta);
    free(tb);
    int n1, n2;
    char *r1 = export_rows(f, "one.sqlite", &n1), *r2 = export_rows(f, "two.sqlite", &n2);
    assert_true(n1 > 2);
    assert_int_equal(n1, n2);
    assert_string_equal(r1, r2);
    assert_int_equal(table_rows(f, "two.sqlite", "cells"), 2);
    assert_int_equal(table_rows(f, "two.sqlite", "claims"), 0);
    assert_int_equal(table_rows(f, "two.sqlite", "samples"), table_rows(f, "one.sqlite", "samples"));
    free(r1);
    free(r2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_evals_on_the_same_cells_should_queue_and_compute_each_once),
        cmocka_unit_test(eval_should_resume_after_sigkill_with_same_results),
        cmocka_unit_test(eval_should_write_lm_eval_results_json),
        cmocka_unit_test(batched_generation_should_give_the_unbatched_results),
        cmocka_unit_test(mmlu_groups_should_be_reported_and_come_back_from_the_store),
        cmocka_unit_test(eval_should_reject_bad_usage),
        cmocka_unit_test(eval_ctx_beyond_training_should_warn),
        cmocka_unit_test(eval_db_none_should_print_the_same_table_and_write_no_store),
    };
    return cmocka_run_group_tests(tests, setup, le_test_fx_teardown);
}
