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
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_genmodel.h"
#include "le_test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fx {
    char *dir;
    char model[512], env[1024];
};

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof *f);
    f->dir = le_test_tmpdir();
    snprintf(f->model, sizeof f->model, "%s/gen.gguf", f->dir);
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
                        f->dir, f->dir, f->dir);
    free(out);
    if (rc)
        return -1;
    snprintf(f->env, sizeof f->env, "LLAMAEVAL_CACHE='%s/cache'", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    le_test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

#define TASKS "brown-cloze,brown-swap,hellaswag,brown"
#define COMMON "--tasks " TASKS " --limit 3 --ctx 96 --offline --quiet --bootstrap-iters 50 --flush-every 4"

static int run_eval(struct fx *f, char **out, const char *pre, const char *db, const char *extra) {
    return le_test_sh(out, "cd '%s' && %s %s '%s' eval --model gen.gguf " COMMON " --db %s %s", f->dir, f->env,
                      pre, le_test_bin(), db, extra);
}

/* Exported result rows as sorted "cell task metric value stderr n" lines. */
static char *export_rows(struct fx *f, const char *db, int *n_rows) {
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "cd '%s' && '%s' db export --db %s --format json --output x.json", f->dir,
                                le_test_bin(), db),
                     0);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/x.json", f->dir);
    char *s = le_test_read_file(path, NULL);
    assert_non_null(s);
    cJSON *arr = cJSON_Parse(s);
    free(s);
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
    assert_int_equal(le_test_sh(&out, "cd '%s' && '%s' db info --db %s", f->dir, le_test_bin(), db), 0);
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

static void eval_should_write_lm_eval_results_json(void **state) {
    struct fx *f = *state;
    char *out = NULL;
    int rc = run_eval(f, &out, "", "j.sqlite", "--output-path res.json --log-samples");
    if (rc)
        fail_msg("eval failed (%d): %s", rc, out);
    free(out);
    char path[700];
    snprintf(path, sizeof path, "%s/res.json", f->dir);
    char *s = le_test_read_file(path, NULL);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
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
    rc = le_test_sh(&out, "cat '%s'/samples_hellaswag_*.jsonl | wc -l", f->dir);
    assert_int_equal(rc, 0);
    assert_int_equal(atoi(out), 3);
    free(out);
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
                                f->dir, le_test_bin()),
                     1);
    assert_non_null(strstr(out, "llamaeval: error:"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' eval --help", le_test_bin()), 0);
    assert_non_null(strstr(out, "brown-cloze"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eval_should_resume_after_sigkill_with_same_results),
        cmocka_unit_test(eval_should_write_lm_eval_results_json),
        cmocka_unit_test(eval_should_reject_bad_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
