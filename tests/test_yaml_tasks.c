// ctest-labels: unit
/*
 * test_yaml_tasks: tasks defined in lm-eval's YAML schema subset -- a YAML
 * copy of the built-in piqa gives the very same requests and metrics on a
 * generated model; a generate_until task on local JSONL files renders its
 * templates (nested fields, .strip(), a list of targets, description,
 * few-shot delimiter); unsupported keys are errors naming the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "le_datasets.h"
#include "le_err.h"
#include "le_genmodel.h"
#include "le_httpd.h" /* le_dsfix_build */
#include "le_model.h"
#include "le_tasks.h"
#include "le_test.h"

/* Runs every item and returns the metrics. */
static int run_metrics(struct le_runner *r, const struct le_taskset *ts, struct le_metric *m, int cap) {
    int64_t total = 0;
    for (int64_t d = 0; d < ts->n_docs; d++)
        total += ts->items[d].n_req;
    struct le_rec *recs = calloc((size_t)total, sizeof *recs);
    int64_t *off = malloc(((size_t)ts->n_docs + 1) * sizeof *off);
    off[0] = 0;
    for (int64_t d = 0; d < ts->n_docs; d++) {
        assert_int_equal(le_item_run(r, &ts->items[d], recs + off[d]), 0);
        off[d + 1] = off[d] + ts->items[d].n_req;
    }
    int nm = 0;
    assert_int_equal(le_task_metrics(ts->info, le_taskset_metrics(ts), recs, off, ts->n_docs, NULL, m, cap, &nm), 0);
    for (int64_t i = 0; i < total; i++)
        le_rec_clear(&recs[i]);
    free(recs);
    free(off);
    return nm;
}

static const struct le_metric *find(const struct le_metric *m, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return &m[i];
    fail_msg("no metric %s", name);
    return NULL;
}

static void yaml_copy_of_piqa_should_equal_the_builtin(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), path[512];
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    struct le_genmodel_cfg cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .ffn = 64, .n_vocab = 512, .n_ctx = 256,
                                  .seed = 3};
    struct le_model *m = NULL;
    struct le_runner *r = NULL;
    assert_int_equal(le_genmodel_write(path, &cfg), 0);
    assert_int_equal(le_model_open(&m, path), 0);
    assert_int_equal(le_runner_new(&r, m, NULL, NULL), 0);
    for (int k = 0; k <= 1; k++) {
        struct le_taskset *a = le_test_load_task(dir, "piqa", k),
                          *b = le_test_load_task(dir, "tests/data/yaml/piqa_copy.yaml", k);
        assert_string_equal(b->info->name, "piqa_copy");
        assert_int_equal(a->n_docs, b->n_docs);
        for (int64_t d = 0; d < a->n_docs; d++) {
            assert_int_equal(a->items[d].n_req, b->items[d].n_req);
            assert_int_equal(a->items[d].gold, b->items[d].gold);
            for (int q = 0; q < a->items[d].n_req; q++) {
                assert_string_equal(a->items[d].req[q].context, b->items[d].req[q].context);
                assert_string_equal(a->items[d].req[q].continuation, b->items[d].req[q].continuation);
            }
        }
        struct le_metric ma[16], mb[16];
        int na = run_metrics(r, a, ma, 16), nb = run_metrics(r, b, mb, 16);
        assert_int_equal(nb, 2);
        for (int i = 0; i < nb; i++) {
            const struct le_metric *x = find(ma, na, mb[i].name);
            assert_memory_equal(&x->value, &mb[i].value, sizeof(double));
            assert_memory_equal(&x->stderr_v, &mb[i].stderr_v, sizeof(double));
        }
        le_taskset_free(a);
        le_taskset_free(b);
    }
    le_runner_free(r);
    le_model_free(m);
    le_test_rmdir(dir);
    free(dir);
}

static void yaml_generation_task_should_render_its_templates(void **state) {
    (void)state;
    struct le_taskset *ts = le_test_load_task(NULL, "tests/data/yaml/capitals.yaml", -1); /* num_fewshot: 1 */
    assert_int_equal(ts->info->kind, LE_TASK_GEN);
    assert_int_equal(ts->num_fewshot, 1);
    assert_int_equal(ts->n_docs, 2);
    assert_string_equal(ts->items[0].req[0].context,
                        "Name the capital.\n\nCountry: Peru\nCapital: Lima\nCountry: France\nCapital:");
    assert_int_equal(ts->items[1].n_targets, 2);
    assert_string_equal(ts->items[1].targets[1], "Tōkyō");
    assert_int_equal(ts->info->gen.n_until, 1);
    assert_int_equal(ts->info->gen.max_gen_toks, 8);
    assert_true(ts->info->em.ignore_case && ts->info->em.ignore_punctuation);
    assert_true(ts->info->version == 2.0);
    le_taskset_free(ts);
}

static void unsupported_keys_should_be_errors_naming_the_key(void **state) {
    (void)state;
    struct le_task_info *info = NULL;
    assert_int_equal(le_task_yaml_load(&info, "tests/data/yaml/bad_filter.yaml"), LE_EUNSUP);
    assert_non_null(strstr(le_err_msg(), "'filter_list'"));
    assert_null(info);
    char *dir = le_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/t.yaml", dir);
    const char *bad[][2] = {
        {"task: t\ndataset_path: piqa\nvalidation_split: validation\noutput_type: multiple_choice\n"
         "doc_to_text: '{{goal | upper}}'\ndoc_to_target: label\ndoc_to_choice: '{{[sol1, sol2]}}'\n",
         NULL},
        {"task: t\ndataset_path: piqa\nvalidation_split: validation\noutput_type: generate_until\n"
         "doc_to_text: x\ndoc_to_target: y\ngeneration_kwargs:\n  top_p: 0.9\n",
         "'top_p'"},
        {"task: t\ndataset_path: piqa\nvalidation_split: validation\noutput_type: generate_until\n"
         "doc_to_text: x\ndoc_to_target: y\nmetric_list:\n  - metric: bleu\n",
         "'bleu'"},
        {"task: t\ndataset_path: piqa\nvalidation_split: validation\noutput_type: multiple_choice\n"
         "doc_to_text: x\ndoc_to_target: y\ndoc_to_choice: z\nmetadata:\n  version: 1\n  owner: me\n",
         "'owner'"},
        {"task: [unclosed\n", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(le_test_write_file(path, bad[i][0], strlen(bad[i][0])), 0);
        int rc = le_task_yaml_load(&info, path);
        if (i == 0) { /* a Jinja filter: refused when a document is formatted */
            assert_int_equal(rc, 0);
            struct le_prompt p;
            const char *js = "{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\",\"label\":0}";
            cJSON *docs = NULL;
            assert_int_equal(le_ds_read_jsonl(js, strlen(js), "t", &docs), 0);
            assert_int_equal(info->format_ud(info->ud, cJSON_GetArrayItem(docs, 0), &p), LE_EUNSUP);
            assert_non_null(strstr(le_err_msg(), "goal | upper"));
            cJSON_Delete(docs);
            le_task_info_free(info);
            info = NULL;
            continue;
        }
        assert_true(rc != 0);
        if (bad[i][1])
            assert_non_null(strstr(le_err_msg(), bad[i][1]));
        assert_null(info);
    }
    le_test_rmdir(dir);
    free(dir);
}

/* The command line: --tasks list with --include-path, a YAML task by name,
 * and the did-you-mean of an unknown task. */
static void eval_should_list_and_suggest_tasks(void **state) {
    (void)state;
    char *out = NULL, *dir = le_test_tmpdir();
    assert_int_equal(le_test_sh(NULL, "cp tests/data/yaml/capitals* '%s'/", dir), 0);
    assert_int_equal(le_test_sh(&out, "'%s' eval --tasks list --include-path '%s'", le_test_bin(), dir), 0);
    assert_non_null(strstr(out, "capitals              generate_until         1"));
    assert_non_null(strstr(out, "gsm8k_cot             generate_until         8      gsm8k"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' eval --model m.gguf --tasks gsm8kk", le_test_bin()), 2);
    assert_non_null(strstr(out, "unknown task 'gsm8kk'; did you mean 'gsm8k'?"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' eval --model m.gguf --tasks capitalz --include-path '%s'", le_test_bin(), dir),
                     2);
    assert_non_null(strstr(out, "did you mean"));
    free(out);
    le_test_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(yaml_copy_of_piqa_should_equal_the_builtin),
        cmocka_unit_test(yaml_generation_task_should_render_its_templates),
        cmocka_unit_test(unsupported_keys_should_be_errors_naming_the_key),
        cmocka_unit_test(eval_should_list_and_suggest_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
