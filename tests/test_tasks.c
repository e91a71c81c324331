/*
 * test_tasks: tasks/ against independent computations.
 *
 * - Python's random (MT19937, sample) and lm-eval's rolling windows against
 *   values printed by Python (tests/data/tasks/gen_expected.py, rw outputs
 *   below).
 * - Prompts: every upstream-schema fixture in tests/data/tasks/ formatted
 *   and built into requests (0, 1, 2-shot) equals expected.json, produced by
 *   the task YAMLs' Jinja templates and lm-eval's helpers in Python.
 * - Scores on a generated random model: every request of every kind
 *   (multiple choice with the "Answer:" requests, WinoGrande's multiple
 *   inputs, LAMBADA, rolling documents longer than the context) equals a
 *   naive computation here -- its own tokenisation split, a fresh context
 *   evaluated from position 0 per request, log-softmax in long double -- and
 *   every metric equals a recomputation by hand from those naive numbers.
 * - The same records, bit for bit, with 1 and 2 threads, in shuffled order,
 *   and through the JSON of stored samples; the prefix-sharing counter.
 * - The Brown tasks: deterministic for a seed, well-formed items.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_datasets.h"
#include "le_err.h"
#include "le_genmodel.h"
#include "le_httpd.h" /* le_dsfix_build: the datasets helper's upstream fixtures */
#include "le_model.h"
#include "le_pool.h"
#include "le_tasks.h"
#include "le_test.h"
#include "le_tok.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h> /* mallinfo2: bytes in use, for the leak test */
#endif

/* ---- helpers ---- */

/* The non-empty lines of a JSONL fixture as a cJSON array. */
static cJSON *read_jsonl(const char *path) {
    size_t n;
    char *s = le_test_read_file(path, &n);
    assert_non_null(s);
    cJSON *arr = cJSON_CreateArray();
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        if (!*line)
            continue;
        cJSON *d = cJSON_Parse(line);
        assert_non_null(d);
        cJSON_AddItemToArray(arr, d);
    }
    free(s);
    return arr;
}

/* ---- Python's random ---- */

static void pyrandom_should_match_python(void **state) {
    (void)state;
    cJSON *root = le_test_read_json(NULL, "tests/data/tasks/expected.json"), *e = cJSON_GetObjectItem(root, "pyrandom");
    struct le_pyrandom g;
    le_pyrandom_seed(&g, 1234);
    cJSON *u = cJSON_GetObjectItem(e, "u32_seed1234");
    for (int i = 0; i < cJSON_GetArraySize(u); i++)
        assert_int_equal(le_pyrandom_u32(&g), (uint32_t)cJSON_GetArrayItem(u, i)->valuedouble);
    le_pyrandom_seed(&g, (1ULL << 40) + 5);
    assert_int_equal(le_pyrandom_u32(&g),
                     (uint32_t)cJSON_GetArrayItem(cJSON_GetObjectItem(e, "u32_seed_big"), 0)->valuedouble);
    static const struct {
        const char *key;
        uint64_t seed;
        int64_t n, k;
    } cases[] = {{"sample_10_3", 1234, 10, 3}, {"sample_40000_5", 1234, 40000, 5}, {"sample_100_8", 7, 100, 8}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t out[16];
        le_pyrandom_seed(&g, cases[c].seed);
        assert_int_equal(le_pyrandom_sample(&g, cases[c].n, cases[c].k, out), 0);
        cJSON *x = cJSON_GetObjectItem(e, cases[c].key);
        for (int i = 0; i < cases[c].k; i++)
            assert_int_equal(out[i], (int64_t)cJSON_GetArrayItem(x, i)->valuedouble);
    }
    /* sequential draws share the generator state, as lm-eval's sampler does */
    le_pyrandom_seed(&g, 1234);
    cJSON *seq = cJSON_GetObjectItem(e, "sample_seq");
    for (int r = 0; r < cJSON_GetArraySize(seq); r++) {
        int64_t out[2];
        assert_int_equal(le_pyrandom_sample(&g, 30, 2, out), 0);
        for (int i = 0; i < 2; i++)
            assert_int_equal(out[i], (int64_t)cJSON_GetArrayItem(cJSON_GetArrayItem(seq, r), i)->valuedouble);
    }
    assert_int_equal(le_pyrandom_sample(&g, 3, 4, (int64_t[4]){0}), LE_EINVAL);
    cJSON_Delete(root);
}

/* ---- rolling windows (expected from lm_eval.utils, printed by Python) ---- */

static void rolling_windows_should_match_lm_eval(void **state) {
    (void)state;
    /* (n, max_seq_len, context_len) -> windows as {ctx_lo, ctx_hi, pred_lo, pred_hi}, tokens = range(n) */
    static const struct {
        int n, m, c, nw;
        int64_t w[4][4];
    } cases[] = {
        {10, 4, 1, 3, {{-1, 0, 0, 4}, {3, 4, 4, 8}, {5, 8, 8, 10}}},
        {3, 4, 1, 1, {{-1, 0, 0, 3}}},
        {8, 4, 1, 2, {{-1, 0, 0, 4}, {3, 4, 4, 8}}},
        {9, 4, 2, 3, {{-1, 0, 0, 4}, {2, 4, 4, 7}, {4, 7, 7, 9}}},
        {1, 4, 1, 1, {{-1, 0, 0, 1}}},
        {13, 5, 3, 4, {{-1, 0, 0, 5}, {2, 5, 5, 8}, {5, 8, 8, 11}, {7, 11, 11, 13}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t *w = NULL;
        int64_t nw = le_rolling_windows(cases[i].n, cases[i].m, cases[i].c, &w);
        assert_int_equal(nw, cases[i].nw);
        for (int k = 0; k < nw; k++)
            for (int j = 0; j < 4; j++)
                assert_int_equal(w[4 * k + j], cases[i].w[k][j]);
        free(w);
    }
    int64_t *w = NULL;
    assert_int_equal(le_rolling_windows(0, 4, 1, &w), 0);
    assert_true(le_rolling_windows(5, 4, 5, &w) < 0);
}

/* ---- prompts and requests against expected.json ---- */

static void check_set(cJSON *exp, const char *task, const char *fixture) {
    const struct le_task_info *info = le_task_find(task);
    assert_non_null(info);
    char path[256];
    snprintf(path, sizeof path, "tests/data/tasks/%s", fixture);
    cJSON *docs = read_jsonl(path), *e = cJSON_GetObjectItem(exp, task);
    assert_non_null(e);
    int n = cJSON_GetArraySize(docs);
    struct le_prompt *p = calloc((size_t)n, sizeof *p);
    cJSON *ep = cJSON_GetObjectItem(e, "prompts");
    assert_int_equal(cJSON_GetArraySize(ep), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(info->format(cJSON_GetArrayItem(docs, i), &p[i]), 0);
        cJSON *x = cJSON_GetArrayItem(ep, i);
        assert_string_equal(p[i].query, cJSON_GetObjectItem(x, "query")->valuestring);
        cJSON *ch = cJSON_GetObjectItem(x, "choices");
        assert_int_equal(p[i].n_choices, cJSON_GetArraySize(ch));
        for (int c = 0; c < p[i].n_choices; c++)
            assert_string_equal(p[i].choices[c], cJSON_GetArrayItem(ch, c)->valuestring);
        if (info->kind == LE_TASK_MC)
            assert_int_equal(p[i].gold, (int)cJSON_GetObjectItem(x, "gold")->valuedouble);
        cJSON *t = cJSON_GetObjectItem(x, "target");
        if (t)
            assert_string_equal(p[i].target, t->valuestring);
    }
    for (int k = 0; k <= 2; k++) {
        struct le_item *items = NULL;
        char ks[4];
        snprintf(ks, sizeof ks, "%d", k);
        assert_int_equal(le_items_build(info, p, n, p, n, 0, k, 1234, 0, &items), 0);
        cJSON *er = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "requests"), ks);
        for (int i = 0; i < n; i++) {
            cJSON *ri = cJSON_GetArrayItem(er, i);
            assert_int_equal(items[i].n_req, cJSON_GetArraySize(ri));
            for (int q = 0; q < items[i].n_req; q++) {
                cJSON *pair = cJSON_GetArrayItem(ri, q);
                assert_string_equal(items[i].req[q].context, cJSON_GetArrayItem(pair, 0)->valuestring);
                assert_string_equal(items[i].req[q].continuation, cJSON_GetArrayItem(pair, 1)->valuestring);
            }
        }
        le_items_free(items, n);
    }
    for (int i = 0; i < n; i++)
        le_prompt_clear(&p[i]);
    free(p);
    cJSON_Delete(docs);
}

static void prompts_should_match_lm_eval_templates(void **state) {
    (void)state;
    cJSON *exp = le_test_read_json(NULL, "tests/data/tasks/expected.json");
    check_set(exp, "hellaswag", "hellaswag.jsonl");
    check_set(exp, "piqa", "piqa.jsonl");
    check_set(exp, "arc_easy", "arc.jsonl");
    check_set(exp, "openbookqa", "openbookqa.jsonl");
    check_set(exp, "winogrande", "winogrande.jsonl");
    check_set(exp, "boolq", "boolq.jsonl");
    check_set(exp, "siqa", "siqa.jsonl");
    check_set(exp, "lambada_openai", "lambada_openai.jsonl");
    cJSON_Delete(exp);
}

/* ---- mmlu, race and the generation tasks against lm-eval itself ---- */

static const char *jstr_at(const cJSON *arr, int i) {
    const cJSON *v = cJSON_GetArrayItem(arr, i);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* Records for document d's requests: choice c scores -(c + 1) / 2 (choice 0
 * is the argmax; greedy on even choices); a generation answers its first
 * gold with a leading space. */
static struct le_rec *fake_recs(const struct le_item *it) {
    struct le_rec *r = calloc((size_t)it->n_req, sizeof *r);
    for (int q = 0; q < it->n_req; q++) {
        r[q].kind = it->kind;
        r[q].choice = it->req[q].choice;
        r[q].uncond = it->req[q].uncond;
        r[q].gold = it->gold;
        r[q].n_choices = it->n_choices;
        r[q].group = it->group;
        r[q].ll = -(it->req[q].choice + 1) / 2.0;
        r[q].greedy = it->req[q].choice % 2 == 0;
        r[q].ntok = r[q].nchars = r[q].nbytes = r[q].nwords = 1;
        if (it->kind == LE_TASK_GEN) {
            r[q].resp = malloc(strlen(it->targets[0]) + 2);
            sprintf(r[q].resp, " %s", it->targets[0]);
            r[q].golds = it->targets;
            r[q].n_golds = it->n_targets;
        }
    }
    return r;
}

static void check_lmeval_task(cJSON *exp, const char *dir, const char *task) {
    cJSON *e = cJSON_GetObjectItem(exp, task);
    assert_non_null(e);
    cJSON *docs = cJSON_GetObjectItem(e, "docs"), *shots = cJSON_GetObjectItem(e, "shots");
    cJSON *dh = cJSON_GetObjectItem(e, "doc_hash"), *gk = cJSON_GetObjectItem(e, "gen_kwargs");
    struct le_ds_opts ds = {0};
    ds.cache_dir = dir;
    ds.offline = 1;
    for (cJSON *k = shots->child; k; k = k->next) {
        struct le_task_opts o;
        le_task_opts_default(&o);
        o.ds = &ds;
        o.num_fewshot = atoi(k->string);
        struct le_taskset *ts = NULL;
        if (le_task_load(&ts, task, &o))
            fail_msg("%s %s-shot: %s", task, k->string, le_err_msg());
        int n = cJSON_GetArraySize(docs);
        assert_int_equal(ts->n_docs, n);
        cJSON *reqs = cJSON_GetObjectItem(k, "requests"), *ph = cJSON_GetObjectItem(k, "prompt_hash");
        for (int d = 0; d < n; d++) {
            const struct le_item *it = &ts->items[d];
            cJSON *rq = cJSON_GetArrayItem(reqs, d);
            assert_int_equal(it->n_req, cJSON_GetArraySize(rq));
            for (int q = 0; q < it->n_req; q++) {
                cJSON *pair = cJSON_GetArrayItem(rq, q);
                if (strcmp(it->req[q].context, jstr_at(pair, 0)))
                    fail_msg("%s %s-shot doc %d request %d context:\n%s\n-- lm-eval --\n%s", task, k->string, d, q,
                             it->req[q].context, jstr_at(pair, 0));
                if (it->kind != LE_TASK_GEN)
                    assert_string_equal(it->req[q].continuation, jstr_at(pair, 1));
            }
            /* the sample line: lm-eval's target and hashes */
            struct le_rec *r = fake_recs(it);
            char *lines = NULL;
            assert_int_equal(le_task_sample_lines(ts, d, d, r, &lines), 0);
            cJSON *line = cJSON_Parse(lines);
            assert_non_null(line);
            assert_string_equal(cJSON_GetObjectItem(line, "target")->valuestring,
                                jstr_at(cJSON_GetObjectItem(e, "targets"), d));
            assert_string_equal(cJSON_GetObjectItem(line, "target_hash")->valuestring,
                                jstr_at(cJSON_GetObjectItem(e, "target_hash"), d));
            assert_string_equal(cJSON_GetObjectItem(line, "prompt_hash")->valuestring, jstr_at(ph, d));
            assert_int_equal(cJSON_GetObjectItem(line, "doc_id")->valueint, d); /* enumerate(eval_docs) */
            if (dh)
                assert_string_equal(cJSON_GetObjectItem(line, "doc_hash")->valuestring, jstr_at(dh, d));
            cJSON *a0 = cJSON_GetObjectItem(cJSON_GetObjectItem(line, "arguments"), "gen_args_0");
            assert_string_equal(cJSON_GetObjectItem(a0, "arg_0")->valuestring, it->req[0].context);
            if (gk)
                assert_true(cJSON_Compare(cJSON_GetObjectItem(a0, "arg_1"), gk, 1));
            if (it->kind == LE_TASK_MC) { /* choice 0 wins: acc is 1.0 exactly when gold is 0 */
                assert_non_null(strstr(lines, "\"resps\": [[[\"-0.5\", \"True\"]], [[\"-1.0\", \"False\"]], "));
                assert_non_null(strstr(lines, it->gold == 0 ? "\"acc\": 1.0" : "\"acc\": 0.0"));
            } else
                assert_non_null(strstr(lines, "\"exact_match\": 1.0"));
            cJSON_Delete(line);
            free(lines);
            for (int q = 0; q < it->n_req; q++)
                free(r[q].resp);
            free(r);
        }
        le_taskset_free(ts);
    }
}

/* lmeval_expected.json is what lm-eval 0.4.13 (commit 4e7e0d4) builds for
 * the dataset fixtures (gen_lmeval.py, run on that checkout): requests for
 * each n-shot, str(target) and the --log_samples hashes. */
static void tasks_should_build_what_lm_eval_builds(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    cJSON *exp = le_test_read_json(NULL, "tests/data/tasks/lmeval_expected.json");
    static const char *const tasks[] = {"mmlu",           "mmlu_stem",   "mmlu_other",  "mmlu_humanities",
                                        "mmlu_abstract_algebra", "mmlu_marketing", "mmlu_philosophy", "race",
                                        "gsm8k",          "gsm8k_cot",   "triviaqa",    "nq_open"};
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
        check_lmeval_task(exp, dir, tasks[i]);
    /* MMLU's subjects and their groups are lm-eval's tags */
    cJSON *tags = cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "mmlu"), "tags");
    const struct le_task_info *mm = le_task_find("mmlu");
    assert_int_equal(mm->n_groups, 57);
    for (cJSON *t = tags->child; t; t = t->next) {
        int g = 0;
        while (g < mm->n_groups && strcmp(mm->group_name(g), t->string))
            g++;
        assert_true(g < mm->n_groups);
        char tag[64];
        snprintf(tag, sizeof tag, "mmlu_%s_tasks", mm->group_parent(g));
        assert_string_equal(tag, t->valuestring);
    }
    cJSON_Delete(exp);
    le_test_rmdir(dir);
    free(dir);
}

/* MMLU's metrics by hand: subjects abstract_algebra (stem) {1, 0},
 * philosophy (humanities) {1, 1}, marketing (other) {0, 0}, interleaved.
 * mmlu = (0.5*2 + 1*2 + 0*2) / 6 = 0.5; pooled stderr = sqrt(((2-1) * 0.5^2
 * * 2) / (6 - 3) / 6) = 1/6; stem 0.5 +- 0.5; humanities 1 +- 0; other 0 +- 0. */
static void mmlu_metrics_should_weight_subjects_by_size(void **state) {
    (void)state;
    const struct le_task_info *mm = le_task_find("mmlu");
    const int subj[6] = {0, 45, 39, 0, 45, 39}, right[6] = {1, 1, 0, 0, 1, 0};
    struct le_rec recs[24];
    int64_t off[7];
    memset(recs, 0, sizeof recs);
    for (int d = 0; d < 6; d++) {
        off[d] = 4 * d;
        for (int c = 0; c < 4; c++) {
            struct le_rec *r = &recs[4 * d + c];
            r->kind = LE_TASK_MC;
            r->choice = c;
            r->n_choices = 4;
            r->gold = right[d] ? 0 : 2;
            r->group = subj[d];
            r->ll = -1.0 - c;
            r->ntok = r->nchars = r->nbytes = 1;
        }
    }
    off[6] = 24;
    struct le_metric m[64];
    int n = 0;
    assert_int_equal(le_task_metrics(mm, mm->metrics, recs, off, 6, NULL, m, 64, &n), 0);
    assert_int_equal(n, 1 + 3 + 3);
    static const char *const group[7] = {"", "humanities", "other", "stem", "abstract_algebra", "marketing",
                                         "philosophy"};
    static const double val[7] = {0.5, 1, 0, 0.5, 0.5, 0, 1}, se[7] = {1.0 / 6, 0, 0, 0.5, 0.5, 0, 0};
    static const int cnt[7] = {6, 2, 2, 2, 2, 2, 2};
    for (int i = 0; i < 7; i++) {
        assert_string_equal(m[i].name, "acc");
        assert_string_equal(m[i].group, group[i]);
        assert_true(fabs(m[i].value - val[i]) < 1e-15);
        assert_true(fabs(m[i].stderr_v - se[i]) < 1e-15);
        assert_int_equal(m[i].n, cnt[i]);
    }
    /* a subject of one document has no stderr, nor have the groups above it */
    off[1] = 4;
    assert_int_equal(le_task_metrics(mm, mm->metrics, recs, off, 1, NULL, m, 64, &n), 0);
    assert_int_equal(n, 3);
    assert_true(isnan(m[0].stderr_v) && isnan(m[1].stderr_v) && isnan(m[2].stderr_v));
    assert_true(m[0].value == 1.0);
    /* --limit takes the first documents of each subject (lm-eval limits each subtask) */
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    struct le_taskset *ts = NULL;
    assert_int_equal(le_test_task_load_limit(&ts, dir, "mmlu", -1, 1), 0);
    assert_int_equal(ts->num_fewshot, 5);
    assert_int_equal(ts->n_docs, 3);
    assert_int_equal(ts->n_docs_total, 7);
    assert_int_equal(ts->items[1].group, 39);
    assert_non_null(strstr(ts->items[2].req[0].context, "about philosophy.\n\nWho wrote the Republic?"));
    le_taskset_free(ts);
    le_test_rmdir(dir);
    free(dir);
}

/* RACE in lm-eval's order (lm-eval 0.4.13, commit 4e7e0d4): documents are
 * articles in EleutherAI/race's order (the race script's sorted files "1",
 * "10", "2", questions grouped by article text: 10.txt and 2.txt share one);
 * each document's last problem is the one evaluated, the earlier ones its
 * context (preprocess_race.py); doc_id is the index (enumerate(eval_docs));
 * --limit n evaluates the first n (islice) and, the few-shot pool being the
 * test split with the document itself not left out (race.yaml names no
 * fewshot_split), draws the same examples for them as without a limit (one
 * random.Random(1234) sampling doc after doc). */
static void race_should_keep_lm_evals_document_order(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    cJSON *root = le_test_read_json(NULL, "tests/data/tasks/lmeval_expected.json");
    cJSON *exp = cJSON_GetObjectItem(root, "race");
    cJSON *docs = cJSON_GetObjectItem(exp, "docs");
    struct le_taskset *all = NULL, *one = NULL;
    assert_int_equal(le_test_task_load(&all, dir, "race", 1), 0);
    assert_int_equal(all->n_docs, 2);
    assert_int_equal(cJSON_GetArraySize(docs), 2);
    /* document 1 is 10.txt's question then 2.txt's two; the last (2.txt's
     * second) is evaluated, the others answered in its context (a "  _  ."
     * question filled in with its answer) */
    const struct le_item *it = &all->items[1];
    assert_non_null(strstr(it->req[0].context, "\n\nQuestion: According to experts, what can help students sleep?\n"
                                               "Answer: take a short walk\nExperts suggest putting phones away an "
                                               "hour before bed\nWhat is the main idea?"));
    assert_string_equal(strrchr(it->req[0].context, '\n'), "\nWhat is the main idea?");
    for (int d = 0; d < 2; d++) {
        cJSON *rq = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "shots"), "1"),
                                                           "requests"), d);
        assert_string_equal(all->items[d].req[0].context, jstr_at(cJSON_GetArrayItem(rq, 0), 0));
    }
    assert_int_equal(le_test_task_load_limit(&one, dir, "race", 1, 1), 0);
    assert_int_equal(one->n_docs, 1);
    assert_int_equal(one->n_docs_total, 2);
    assert_string_equal(one->items[0].req[0].context, all->items[0].req[0].context);
    le_taskset_free(one);
    le_taskset_free(all);
    cJSON_Delete(root);
    le_test_rmdir(dir);
    free(dir);
}

/* lm-eval's MMLU groups and subjects as tasks of their own (their requests
 * are checked against lm-eval in tasks_should_build_what_lm_eval_builds).
 * Metrics by hand on abstract_algebra {1, 0}: mmlu_stem = its one subject, 0.5 +- 0.5 (pooled over one sub-task: the
 * subject's own stderr), reported with the subject below it and no group
 * above; mmlu_abstract_algebra: a plain task, acc 0.5 +- 0.5. */
static void mmlu_groups_and_subjects_should_be_tasks_of_their_own(void **state) {
    (void)state;
    const struct le_task_info *stem = le_task_find("mmlu_stem"), *aa = le_task_find("mmlu_abstract_algebra");
    assert_non_null(stem);
    assert_non_null(aa);
    assert_string_equal(stem->part, "stem");
    assert_int_equal(aa->n_groups, 0);
    int n_groups = 0, n_subjects = 0;
    for (int i = 0; i < le_task_part_count(); i++) {
        const struct le_task_info *t = le_task_part_get(i);
        assert_ptr_equal(le_task_find(t->name), t);
        n_groups += t->n_groups > 0;
        n_subjects += t->n_groups == 0;
    }
    assert_int_equal(n_groups, 4);
    assert_int_equal(n_subjects, 57);
    /* the stem documents (abstract_algebra {1, 0}) as mmlu_stem loads them */
    struct le_rec stem_recs[8];
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < 4; c++)
            stem_recs[4 * d + c] = (struct le_rec){.kind = LE_TASK_MC, .choice = c, .n_choices = 4,
                                                   .gold = d == 0 ? 0 : 2, .group = 0, .ll = -1.0 - c, .ntok = 1,
                                                   .nchars = 1, .nbytes = 1};
    const int64_t stem_off[3] = {0, 4, 8};
    struct le_metric m[16];
    int n = 0;
    assert_int_equal(le_task_metrics(stem, stem->metrics, stem_recs, stem_off, 2, NULL, m, 16, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].group, "");
    assert_string_equal(m[1].group, "abstract_algebra");
    for (int i = 0; i < 2; i++) {
        assert_true(fabs(m[i].value - 0.5) < 1e-15 && fabs(m[i].stderr_v - 0.5) < 1e-15);
        assert_int_equal(m[i].n, 2);
    }
    assert_int_equal(le_task_metrics(aa, aa->metrics, stem_recs, stem_off, 2, NULL, m, 16, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].group, "");
    assert_true(fabs(m[0].value - 0.5) < 1e-15 && fabs(m[0].stderr_v - 0.5) < 1e-15);
    /* loading: only the part's documents, --limit per subject, and a part
     * without documents in the split is an error */
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    struct le_taskset *ts = NULL;
    assert_int_equal(le_test_task_load(&ts, dir, "mmlu_humanities", -1), 0);
    assert_int_equal(ts->num_fewshot, 5);
    assert_int_equal(ts->n_docs, 2);
    assert_int_equal(ts->n_docs_total, 2);
    for (int64_t d = 0; d < ts->n_docs; d++)
        assert_string_equal(stem->group_parent(ts->items[d].group), "humanities");
    le_taskset_free(ts);
    assert_int_equal(le_test_task_load_limit(&ts, dir, "mmlu_marketing", -1, 1), 0);
    assert_int_equal(ts->n_docs, 1);
    assert_int_equal(ts->n_docs_total, 2);
    assert_non_null(strstr(ts->items[0].req[0].context, "about marketing.\n\n"));
    le_taskset_free(ts);
    assert_int_equal(le_test_task_load(&ts, dir, "mmlu_social_sciences", -1), LE_ENOTFOUND);
    assert_null(ts);
    le_test_rmdir(dir);
    free(dir);
}

/* Sample lines of a loglikelihood task (lambada) and Python's float repr. */
static void sample_logs_should_follow_lm_eval(void **state) {
    (void)state;
    static const struct {
        double x;
        const char *r;
    } fr[] = {{0.1, "0.1"}, {1e-05, "1e-05"}, {100.0, "100.0"}, {1e16, "1e+16"}, {1.5e-7, "1.5e-07"},
              {-0.0, "-0.0"}, {123456789012345678.0, "1.2345678901234568e+17"}, {0.0001, "0.0001"},
              {1e22, "1e+22"}, {-2.5, "-2.5"}, {0.30000000000000004, "0.30000000000000004"},
              {1234.5678, "1234.5678"}, {9999999999999998.0, "9999999999999998.0"}, {0.5, "0.5"}};
    for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) { /* repr() in CPython 3.11 */
        char b[32];
        le_py_float_repr(fr[i].x, b);
        assert_string_equal(b, fr[i].r);
    }
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    struct le_taskset *ts = le_test_load_task(dir, "lambada_openai", 0);
    struct le_rec r = {.kind = LE_TASK_LL, .ll = -2.25, .greedy = 1, .ntok = 1, .group = -1};
    char *lines = NULL;
    assert_int_equal(le_task_sample_lines(ts, 0, 0, &r, &lines), 0);
    assert_non_null(strstr(lines, "\"resps\": [[[\"-2.25\", \"True\"]]], \"filtered_resps\": [[\"-2.25\", \"True\"]], "
                                  "\"filter\": \"none\", \"metrics\": [\"perplexity\", \"acc\"], \"doc_hash\": \""));
    assert_non_null(strstr(lines, "\"perplexity\": -2.25, \"acc\": 1}\n"));
    cJSON *line = cJSON_Parse(lines);
    assert_string_equal(cJSON_GetObjectItem(line, "target")->valuestring, ts->prompts[0].target);
    cJSON *a0 = cJSON_GetObjectItem(cJSON_GetObjectItem(line, "arguments"), "gen_args_0");
    assert_string_equal(cJSON_GetObjectItem(a0, "arg_1")->valuestring, ts->prompts[0].target);
    assert_true(cJSON_Compare(cJSON_GetObjectItem(line, "doc"), ts->prompts[0].doc, 1));
    const char *head = "{\"doc_id\": 0, \"doc\": {";
    assert_int_equal(strncmp(lines, head, strlen(head)), 0);
    cJSON_Delete(line);
    free(lines);
    le_taskset_free(ts);
    le_test_rmdir(dir);
    free(dir);
}

static void formatters_should_reject_bad_documents(void **state) {
    (void)state;
    struct le_prompt p;
    cJSON *d = cJSON_Parse("{\"goal\":\"x\",\"sol1\":\"a\"}");
    assert_int_equal(le_task_find("piqa")->format(d, &p), LE_EFORMAT);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"sentence\":\"no blank\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":\"1\"}");
    assert_int_equal(le_task_find("winogrande")->format(d, &p), LE_EFORMAT);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"question\":{\"stem\":\"q\",\"choices\":[{\"text\":\"a\",\"label\":\"A\"}]},\"answerKey\":\"Z\"}");
    assert_int_equal(le_task_find("arc_easy")->format(d, &p), LE_EFORMAT);
    cJSON_Delete(d);
    /* mmlu: a subject outside the 57, an answer past D, three choices; race:
     * no problems, a last answer that is not a letter, three options */
    static const char *const bad[][2] = {
        {"mmlu", "{\"question\":\"q\",\"subject\":\"astrology\",\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"answer\":0}"},
        {"mmlu", "{\"question\":\"q\",\"subject\":\"anatomy\",\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"answer\":4}"},
        {"mmlu", "{\"question\":\"q\",\"subject\":\"anatomy\",\"choices\":[\"a\",\"b\",\"c\"],\"answer\":\"A\"}"},
        {"race", "{\"article\":\"a\",\"problems\":[]}"},
        {"race", "{\"article\":\"a\",\"problems\":[{\"question\":\"q\",\"answer\":\"E\",\"options\":[\"a\",\"b\",\"c\",\"d\"]}]}"},
        {"race", "{\"article\":\"a\",\"problems\":[{\"question\":\"q\",\"answer\":\"A\",\"options\":[\"a\",\"b\",\"c\"]}]}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = cJSON_Parse(bad[i][1]);
        assert_non_null(d);
        if (le_task_find(bad[i][0])->format(d, &p) != LE_EFORMAT)
            fail_msg("accepted: %s", bad[i][1]);
        cJSON_Delete(d);
    }
    d = cJSON_Parse("{\"question\":\" \\u00a0Q?\\u3000\",\"subject\":\"anatomy\",\"choices\":[\"a\",\"b\",\"c\",\"d\"],"
                    "\"answer\":\"D\"}");
    assert_int_equal(le_task_find("mmlu")->format(d, &p), 0); /* question.strip(): Unicode spaces too */
    assert_string_equal(p.query, "Q?\nA. a\nB. b\nC. c\nD. d\nAnswer:");
    assert_int_equal(p.gold, 3);
    assert_string_equal(p.description, "The following are multiple choice questions (with answers) about anatomy.\n\n");
    le_prompt_clear(&p);
    cJSON_Delete(d);
    assert_non_null(le_task_find("social_iqa"));
    assert_null(le_task_find("nope"));
}

/* ---- counting and metrics helpers ---- */

static void counts_should_follow_python(void **state) {
    (void)state;
    /* len(re.split(r"\s+", s)) and len(s) from Python */
    assert_int_equal(le_count_words("  Leading spaces and trailing ones  "), 7);
    assert_int_equal(le_count_words("One\ttab\n\nand newlines, with numbers 123 and symbols $%&."), 10);
    assert_int_equal(le_count_words(""), 1);
    assert_int_equal(le_count_words("a\xc2\xa0" "b"), 2); /* NBSP is \s */
    assert_int_equal(le_utf8_chars("caf\xc3\xa9"), 4);
    assert_int_equal(le_utf8_chars("\xe2\x86\x91x"), 2);
}

static double boot_mean(void *ud, const int64_t *idx, int64_t n) {
    const double *x = ud;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[idx[i]];
    return s / (double)n;
}

static void statistics_should_match_closed_forms(void **state) {
    (void)state;
    double x[6] = {1, 0, 1, 1, 0, 1};
    double mu = 4.0 / 6.0, ss = 0;
    for (int i = 0; i < 6; i++)
        ss += (x[i] - mu) * (x[i] - mu);
    assert_true(fabs(le_stat_mean(x, 6) - mu) < 1e-15);
    assert_true(fabs(le_stat_mean_stderr(x, 6) - sqrt(ss / 5) / sqrt(6)) < 1e-15);
    assert_true(isnan(le_stat_mean_stderr(x, 1)));
    /* bootstrap of a mean: close to the population std / sqrt(n), deterministic per seed */
    enum { N = 200 };
    double y[N], m = 0, v = 0;
    for (int i = 0; i < N; i++)
        y[i] = (double)((i * 37) % 11);
    for (int i = 0; i < N; i++)
        m += y[i] / N;
    for (int i = 0; i < N; i++)
        v += (y[i] - m) * (y[i] - m) / N;
    double a = le_stat_bootstrap(N, 2000, 5, boot_mean, y), b = le_stat_bootstrap(N, 2000, 5, boot_mean, y);
    double c = le_stat_bootstrap(N, 2000, 6, boot_mean, y);
    assert_true(a == b);
    assert_true(a != c);
    assert_true(fabs(a / (sqrt(v) / sqrt(N)) - 1.0) < 0.1);
    /* llama.cpp: ppl = exp(mean nll), err = ppl * sqrt((E[nll^2] - E[nll]^2) / (N - 1)) */
    double nll[4] = {2.0, 3.0, 2.5, 4.0}, s = 0, s2 = 0, ppl, err;
    for (int i = 0; i < 4; i++) {
        s += nll[i];
        s2 += nll[i] * nll[i];
    }
    le_stat_ppl_llamacpp(s, s2, 4, &ppl, &err);
    assert_true(fabs(ppl - exp(11.5 / 4)) < 1e-12);
    double var = (2.0 * 2 + 9 + 6.25 + 16) / 4 - (11.5 / 4) * (11.5 / 4);
    assert_true(fabs(err - ppl * sqrt(var / 3)) < 1e-12);
}

static void records_should_round_trip_json_exactly(void **state) {
    (void)state;
    struct le_rec a = {LE_TASK_MC, 2, 1, 3, 4, 1, -12.345678901234567, 0.1 + 0.2, 7, 11, 13, 2, -1, NULL, NULL, 0}, b;
    char *js = le_rec_to_json(&a);
    assert_int_equal(le_rec_from_json(js, &b), 0);
    free(js);
    assert_memory_equal(&a.ll, &b.ll, sizeof a.ll);
    assert_memory_equal(&a.sumsq, &b.sumsq, sizeof a.sumsq);
    assert_int_equal(a.kind + a.choice + a.uncond + a.gold + a.n_choices + a.greedy,
                     b.kind + b.choice + b.uncond + b.gold + b.n_choices + b.greedy);
    assert_true(a.ntok == b.ntok && a.nchars == b.nchars && a.nbytes == b.nbytes && a.nwords == b.nwords);
    assert_int_equal(le_rec_from_json("[1]", &b), LE_EFORMAT);
    assert_int_equal(le_rec_from_json("{\"kind\":1}", &b), LE_EFORMAT);
}

/* ---- scores on a generated model ---- */

enum { T_NCTX = 64 };

static int setup_model(void **state) {
    struct le_genmodel_cfg cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn = 64,
                                  .n_vocab = 512, .n_ctx = 256, .seed = 11};
    return le_genmodel_fx_setup(state, &cfg);
}

/* Naive log-probs: a fresh context from position 0, long double softmax. */
struct naive {
    struct le_ctx *c;
    const struct le_tok *tok;
    int64_t n_vocab;
    int add_bos;
    int32_t prefix;
    int64_t tokens; /* forward tokens of the naive path */
};

static void naive_score(struct naive *nv, const int32_t *ctx, int nc, const int32_t *cont, int nk, double *ll,
                        int *greedy) {
    int32_t full[4 * T_NCTX + 8];
    assert_true(nc + nk <= (int)(sizeof full / sizeof full[0]));
    memcpy(full, ctx, (size_t)nc * sizeof *ctx);
    memcpy(full + nc, cont, (size_t)nk * sizeof *cont);
    int total = nc + nk, start = total - (T_NCTX + 1) > 0 ? total - (T_NCTX + 1) : 0, L = total - 1 - start;
    assert_int_equal(le_ctx_eval(nv->c, full + start, L, 0, 1), 0);
    nv->tokens += L;
    const float *lg = le_ctx_logits(nv->c);
    long double sum = 0;
    *greedy = 1;
    for (int i = L - nk; i < L; i++) {
        const float *row = lg + (int64_t)i * nv->n_vocab;
        int32_t tgt = full[start + i + 1], am = 0;
        long double mx = row[0], z = 0;
        for (int64_t v = 1; v < nv->n_vocab; v++)
            if (row[v] > row[am])
                am = (int32_t)v;
        mx = row[am];
        for (int64_t v = nv->n_vocab - 1; v >= 0; v--) /* reverse order on purpose */
            z += expl((long double)row[v] - mx);
        sum += (long double)row[tgt] - mx - logl(z);
        if (am != tgt)
            *greedy = 0;
    }
    *ll = (double)sum;
}

static int tokenize(const struct le_tok *t, const char *s, size_t len, int bos, int32_t *out, int cap) {
    int64_t n = 0;
    assert_int_equal(le_tok_encode(t, s, len, bos, out, cap, &n), 0);
    assert_true(n <= cap);
    return (int)n;
}

/* lm-eval's _encode_pair and empty-context rule, restated. */
static void naive_request(struct naive *nv, const char *ctx, const char *cont, double *ll, int *greedy, int *ntok) {
    int32_t a[1024], w[1024];
    int na, nw;
    if (!*ctx) {
        nw = tokenize(nv->tok, cont, strlen(cont), 0, w, 1024);
        if (nw > 0 && w[0] == nv->prefix)
            naive_score(nv, w, 1, w + 1, nw - 1, ll, greedy), *ntok = nw - 1;
        else
            naive_score(nv, &nv->prefix, 1, w, nw, ll, greedy), *ntok = nw;
        return;
    }
    size_t lc = strlen(ctx);
    while (lc > 0 && (ctx[lc - 1] == ' ' || ctx[lc - 1] == '\n'))
        lc--;
    char whole[8192];
    snprintf(whole, sizeof whole, "%s%s", ctx, cont);
    nw = tokenize(nv->tok, whole, strlen(whole), nv->add_bos, w, 1024);
    na = tokenize(nv->tok, ctx, lc, nv->add_bos, a, 1024);
    *ntok = nw - na;
    naive_score(nv, a, na, w + na, nw - na, ll, greedy);
}

static void naive_rolling(struct naive *nv, const char *text, double *ll, int64_t *ntok, double *sumsq) {
    int32_t t[4096];
    int n = tokenize(nv->tok, text, strlen(text), 0, t, 4096);
    *ll = 0;
    *sumsq = 0;
    *ntok = n;
    /* get_rolling_token_windows(t, prefix, T_NCTX, 1) + make_disjoint_window */
    int predicted = 0, first = n < T_NCTX ? n : T_NCTX;
    int32_t ctxb[T_NCTX + 1];
    double l;
    int g;
    ctxb[0] = nv->prefix;
    naive_score(nv, ctxb, 1, t, first, &l, &g);
    *ll += l;
    predicted = first;
    while (predicted < n) {
        int wpl = n - predicted < T_NCTX ? n - predicted : T_NCTX, end = predicted + wpl;
        int a_lo = end - T_NCTX - 1, a_len = T_NCTX, keep = a_len - (wpl - 1);
        naive_score(nv, t + a_lo, keep, t + end - wpl, wpl, &l, &g);
        *ll += l;
        predicted += wpl;
    }
    (void)sumsq;
}

static struct le_prompt mkprompt(const char *q, int n, const char **ch, int gold, const char *target) {
    struct le_prompt p = {0};
    p.query = strdup(q);
    p.n_choices = n;
    p.choices = calloc((size_t)(n > 0 ? n : 1), sizeof *p.choices);
    for (int i = 0; i < n; i++)
        p.choices[i] = strdup(ch[i]);
    p.gold = gold;
    p.target = target ? strdup(target) : NULL;
    return p;
}

/* Formats a fixture file with a task's formatter. */
static struct le_prompt *fixture_prompts(const char *task, const char *file, int *n) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/tasks/%s", file);
    cJSON *docs = read_jsonl(path);
    *n = cJSON_GetArraySize(docs);
    struct le_prompt *p = calloc((size_t)*n, sizeof *p);
    for (int i = 0; i < *n; i++)
        assert_int_equal(le_task_find(task)->format(cJSON_GetArrayItem(docs, i), &p[i]), 0);
    cJSON_Delete(docs);
    return p;
}

static const char *roll_texts[3] = {
    "The quick brown fox jumps over the lazy dog. It was a sunny day, and the children played in the park until "
    "the evening came.\nThen they went home.",
    "  Leading spaces and trailing ones  ",
    "One\ttab\n\nand newlines, with numbers 123 and symbols $%&. The quick brown fox jumps over the lazy dog "
    "again and again, while the children in the park played, sang and ran until the sun went down behind "
    "the hills and the evening came with its cool wind.",
};

struct case_ {
    const char *task;
    struct le_prompt *p;
    int n, uncond, k;
    struct le_item *items;
    struct le_rec **recs;
};

static void build_case(struct case_ *c) {
    const struct le_task_info *info = le_task_find(c->task);
    assert_int_equal(le_items_build(info, c->p, c->n, c->p, c->n, 0, c->k, 1234, c->uncond, &c->items), 0);
    c->recs = calloc((size_t)c->n, sizeof *c->recs);
    for (int d = 0; d < c->n; d++)
        c->recs[d] = calloc((size_t)c->items[d].n_req, sizeof **c->recs);
}

static void free_case(struct case_ *c) {
    for (int d = 0; d < c->n; d++) {
        free(c->recs[d]);
        le_prompt_clear(&c->p[d]);
    }
    free(c->recs);
    free(c->p);
    le_items_free(c->items, c->n);
}

/* Flattens records + offsets for le_task_metrics. */
static void flatten(const struct case_ *c, struct le_rec **flat, int64_t **off) {
    *off = calloc((size_t)c->n + 1, sizeof **off);
    for (int d = 0; d < c->n; d++)
        (*off)[d + 1] = (*off)[d] + c->items[d].n_req;
    *flat = calloc((size_t)(*off)[c->n], sizeof **flat);
    for (int d = 0; d < c->n; d++)
        memcpy(*flat + (*off)[d], c->recs[d], (size_t)c->items[d].n_req * sizeof **flat);
}

static const struct le_metric *find_metric(const struct le_metric *m, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return &m[i];
    fail_msg("metric %s missing", name);
    return NULL;
}

static void assert_close(double a, double b, double tol) {
    if (!(fabs(a - b) <= tol * (1.0 + fabs(b))))
        fail_msg("%.17g != %.17g", a, b);
}

/* Hand-computed multiple-choice metrics from naive numbers. */
static void check_mc_metrics(const struct case_ *c, unsigned mask, double (*nll)[16], int (*ntk)[16],
                             double (*unc)[8], const struct le_metric *m, int nm) {
    double acc[8] = {0}, norm[8] = {0}, byt[8] = {0}, tok[8] = {0}, un[8] = {0};
    for (int d = 0; d < c->n; d++) {
        const struct le_prompt *p = &c->p[d];
        int nc = p->n_choices, b[5] = {0, 0, 0, 0, 0};
        for (int i = 1; i < nc; i++) {
            const char *ci = p->choices[i], *c0;
            double li = nll[d][i];
            c0 = p->choices[b[1]];
            if (li > nll[d][b[0]])
                b[0] = i;
            if (li / (double)le_utf8_chars(ci) > nll[d][b[1]] / (double)le_utf8_chars(c0))
                b[1] = i;
            if (li / (double)strlen(ci) > nll[d][b[2]] / (double)strlen(p->choices[b[2]]))
                b[2] = i;
            if (li / ntk[d][i] > nll[d][b[3]] / ntk[d][b[3]])
                b[3] = i;
            if (c->uncond && li - unc[d][i] > nll[d][b[4]] - unc[d][b[4]])
                b[4] = i;
        }
        acc[d] = b[0] == p->gold;
        norm[d] = b[1] == p->gold;
        byt[d] = b[2] == p->gold;
        tok[d] = b[3] == p->gold;
        un[d] = b[4] == p->gold;
    }
    const char *names[5] = {"acc", "acc_norm", "acc_bytes", "acc_tok", "acc_uncond"};
    double *vals[5] = {acc, norm, byt, tok, un};
    const unsigned bits[5] = {LE_M_ACC, LE_M_ACC_NORM, LE_M_ACC_BYTES, LE_M_ACC_TOK, LE_M_ACC_UNCOND};
    for (int k = 0; k < 5; k++) {
        if (!(mask & bits[k]))
            continue;
        double mu = 0, ss = 0;
        for (int d = 0; d < c->n; d++)
            mu += vals[k][d] / c->n;
        for (int d = 0; d < c->n; d++)
            ss += (vals[k][d] - mu) * (vals[k][d] - mu);
        const struct le_metric *x = find_metric(m, nm, names[k]);
        assert_close(x->value, mu, 1e-12);
        assert_close(x->stderr_v, sqrt(ss / (c->n - 1)) / sqrt(c->n), 1e-12);
        assert_int_equal(x->n, c->n);
    }
}

static void run_case_and_check(struct le_genmodel_fx *f, struct le_runner *r, struct naive *nv, struct case_ *c) {
    const struct le_task_info *info = le_task_find(c->task);
    double nll[8][16];
    int ntk[8][16];
    double unc[8][8];
    for (int d = 0; d < c->n; d++) {
        assert_int_equal(le_item_run(r, &c->items[d], c->recs[d]), 0);
        for (int q = 0; q < c->items[d].n_req; q++) {
            const struct le_request *rq = &c->items[d].req[q];
            const struct le_rec *rc = &c->recs[d][q];
            double ll, sumsq;
            int g, nt;
            int64_t nt64;
            if (info->kind == LE_TASK_ROLLING) {
                naive_rolling(nv, rq->continuation, &ll, &nt64, &sumsq);
                assert_int_equal(rc->ntok, nt64);
                assert_int_equal(rc->nwords, le_count_words(rq->continuation));
                assert_int_equal(rc->nbytes, (int64_t)strlen(rq->continuation));
                nll[d][0] = ll;
            } else {
                naive_request(nv, rq->context, rq->continuation, &ll, &g, &nt);
                assert_int_equal(rc->greedy, g);
                assert_int_equal(rc->ntok, nt);
                if (rq->uncond)
                    unc[d][rq->choice] = ll;
                else {
                    nll[d][rq->choice] = ll;
                    ntk[d][rq->choice] = nt;
                }
            }
            assert_close(rc->ll, ll, 1e-9);
        }
    }
    struct le_rec *flat;
    int64_t *off;
    flatten(c, &flat, &off);
    struct le_metric m[16];
    int nm = 0;
    struct le_metric_opts mo = {200, 3};
    unsigned mask = info->metrics | (c->uncond ? LE_M_ACC_UNCOND : 0);
    assert_int_equal(le_task_metrics(info, mask, flat, off, c->n, &mo, m, 16, &nm), 0);
    if (info->kind == LE_TASK_MC)
        check_mc_metrics(c, mask, nll, ntk, unc, m, nm);
    else if (info->kind == LE_TASK_LL) {
        double mu = 0, g = 0, gs = 0;
        for (int d = 0; d < c->n; d++) {
            mu += nll[d][0] / c->n;
            g += (double)c->recs[d][0].greedy / c->n;
        }
        for (int d = 0; d < c->n; d++)
            gs += (c->recs[d][0].greedy - g) * (c->recs[d][0].greedy - g);
        assert_close(find_metric(m, nm, "perplexity")->value, exp(-mu), 1e-9);
        assert_true(find_metric(m, nm, "perplexity")->stderr_v > 0);
        assert_close(find_metric(m, nm, "acc")->value, g, 1e-12);
        if (gs > 0)
            assert_close(find_metric(m, nm, "acc")->stderr_v, sqrt(gs / (c->n - 1)) / sqrt(c->n), 1e-12);
    } else {
        static const int words[3] = {29, 7, 48}; /* len(re.split(r"\s+", text)) from Python */
        double L = 0, W = 0, B = 0, T = 0;
        for (int d = 0; d < c->n; d++) {
            L += nll[d][0];
            W += words[d];
            B += (double)strlen(roll_texts[d]);
            T += (double)c->recs[d][0].ntok;
        }
        assert_close(find_metric(m, nm, "word_perplexity")->value, exp(-L / W), 1e-9);
        assert_close(find_metric(m, nm, "byte_perplexity")->value, exp(-L / B), 1e-9);
        assert_close(find_metric(m, nm, "bits_per_byte")->value, -L / B / log(2.0), 1e-9);
        assert_close(find_metric(m, nm, "token_perplexity")->value, exp(-L / T), 1e-9);
    }
    free(flat);
    free(off);
    (void)f;
}

static void make_cases(struct case_ *cs) {
    const char *ch4[4] = {" brown", "a dog", "x", "the quick red fox"};
    int n;
    {
        struct le_prompt *fp = fixture_prompts("hellaswag", "hellaswag.jsonl", &n);
        cs[0] = (struct case_){.task = "hellaswag", .p = fp, .n = n, .uncond = 0, .k = 1};
    }
    {
        struct le_prompt *fp = fixture_prompts("boolq", "boolq.jsonl", &n);
        cs[1] = (struct case_){.task = "boolq", .p = fp, .n = n, .uncond = 1, .k = 0};
    }
    {
        struct le_prompt *fp = fixture_prompts("winogrande", "winogrande.jsonl", &n);
        cs[2] = (struct case_){.task = "winogrande", .p = fp, .n = n, .uncond = 0, .k = 1};
    }
    {
        struct le_prompt *fp = fixture_prompts("lambada_openai", "lambada_openai.jsonl", &n);
        cs[3] = (struct case_){.task = "lambada_openai", .p = fp, .n = n, .uncond = 0, .k = 0};
    }
    struct le_prompt *ro = calloc(3, sizeof *ro);
    for (int i = 0; i < 3; i++)
        ro[i] = mkprompt(roll_texts[i], 0, NULL, -1, NULL);
    cs[4] = (struct case_){.task = "brown", .p = ro, .n = 3, .uncond = 0, .k = 0};
    struct le_prompt *sw = calloc(3, sizeof *sw);
    const char *pair0[2] = {"The cat sat on the mat.", "The sat cat on the mat."};
    const char *pair1[2] = {"She went to the store.", "She to went the store."};
    sw[0] = mkprompt("", 2, pair0, 0, NULL);
    sw[1] = mkprompt("", 2, pair1, 0, NULL);
    sw[2] = mkprompt("", 2, (const char *[2]){"<s> starts with its prefix", "no"}, 0, NULL);
    cs[5] = (struct case_){.task = "brown-swap", .p = sw, .n = 3, .uncond = 0, .k = 0};
    struct le_prompt *cz = calloc(3, sizeof *cz);
    cz[0] = mkprompt("The quick", 4, ch4, 0, NULL);
    cz[1] = mkprompt("Trailing space ", 4, ch4, 3, NULL);
    cz[2] = mkprompt("A much longer context that will be cut from the left because it does not fit into the "
                     "sixty-four token context of this small model at all, no matter what",
                     4, ch4, 2, NULL);
    cs[6] = (struct case_){.task = "brown-cloze", .p = cz, .n = 3, .uncond = 1, .k = 0};
    for (int i = 0; i < 7; i++)
        build_case(&cs[i]);
}

static void scores_should_equal_naive_computation(void **state) {
    struct le_genmodel_fx *f = *state;
    struct le_runner *r = NULL;
    struct le_runner_opts ro = {T_NCTX, 16, -1};
    assert_int_equal(le_runner_new(&r, f->m, NULL, &ro), 0);
    struct naive nv = {.tok = le_model_tok(f->m), .n_vocab = le_model_get_info(f->m)->n_vocab,
                       .add_bos = le_runner_add_bos(r), .prefix = le_runner_prefix_token(r)};
    assert_int_equal(le_ctx_new(&nv.c, f->m, T_NCTX, T_NCTX, NULL), 0);
    assert_int_equal(nv.add_bos, 1); /* genmodel: add_bos true */
    assert_int_equal(nv.prefix, 1);
    struct case_ cs[7];
    make_cases(cs);
    for (int i = 0; i < 7; i++) {
        run_case_and_check(f, r, &nv, &cs[i]);
        free_case(&cs[i]);
    }
    le_ctx_free(nv.c);
    le_runner_free(r);
}

/* Same bits for 1 and 2 threads, any order, and a cold or warm cache. */
static void scores_should_not_depend_on_threads_or_order(void **state) {
    struct le_genmodel_fx *f = *state;
    struct le_runner *r1 = NULL, *r2 = NULL;
    struct le_runner_opts ro = {T_NCTX, 16, -1}, ro2 = {T_NCTX, 5, -1};
    assert_int_equal(le_runner_new(&r1, f->m, NULL, &ro), 0);
    assert_int_equal(le_runner_new(&r2, f->m, f->pool2, &ro2), 0);
    struct case_ cs[7];
    make_cases(cs);
    for (int i = 0; i < 7; i++) {
        struct case_ *c = &cs[i];
        for (int d = 0; d < c->n; d++)
            assert_int_equal(le_item_run(r1, &c->items[d], c->recs[d]), 0);
        /* reverse document order, each request alone, on 2 threads */
        for (int d = c->n - 1; d >= 0; d--)
            for (int q = c->items[d].n_req - 1; q >= 0; q--) {
                struct le_item one = c->items[d];
                struct le_rec rec;
                one.req = &c->items[d].req[q];
                one.n_req = 1;
                if (q % 2)
                    le_runner_forget(r2);
                assert_int_equal(le_item_run(r2, &one, &rec), 0);
                assert_memory_equal(&rec.ll, &c->recs[d][q].ll, sizeof rec.ll);
                assert_memory_equal(&rec.sumsq, &c->recs[d][q].sumsq, sizeof rec.sumsq);
                assert_int_equal(rec.greedy, c->recs[d][q].greedy);
                assert_int_equal(rec.ntok, c->recs[d][q].ntok);
            }
        free_case(c);
    }
    le_runner_free(r1);
    le_runner_free(r2);
}

/* The 4-choice benchmark: the shared context is evaluated once. */
static void prefix_sharing_should_save_forward_tokens(void **state) {
    struct le_genmodel_fx *f = *state;
    struct le_runner *r = NULL;
    struct le_runner_opts ro = {T_NCTX, 16, -1};
    assert_int_equal(le_runner_new(&r, f->m, NULL, &ro), 0);
    const char *ch[4] = {"one", "two three", "four", "five six seven"};
    struct le_prompt p = mkprompt("Question: which of these numbers comes first in counting?\nAnswer:", 4, ch, 0,
                                  NULL);
    struct le_item *it = NULL;
    assert_int_equal(le_items_build(le_task_find("piqa"), &p, 1, NULL, 0, 0, 0, 1, 0, &it), 0);
    struct le_rec rec[4];
    le_runner_forget(r);
    le_runner_reset_stats(r);
    assert_int_equal(le_item_run(r, it, rec), 0);
    struct le_runner_stats st;
    le_runner_get_stats(r, &st);
    assert_int_equal(st.requests, 4);
    /* naive = sum over requests of (context + continuation - 1) tokens */
    int64_t naive = 0, ctx_len = 0;
    for (int q = 0; q < 4; q++) {
        struct le_toks a = {0}, b = {0};
        assert_int_equal(le_encode_pair(le_runner_tok(r), 1, 1, it->req[q].context, it->req[q].continuation, &a, &b), 0);
        naive += a.n + b.n - 1;
        ctx_len = a.n;
        le_toks_free(&a);
        le_toks_free(&b);
    }
    assert_int_equal(st.tokens_naive, naive);
    /* the context (minus its last position, re-run for the first logit) is shared by 3 of 4 */
    assert_int_equal(st.tokens_evaluated, naive - 3 * (ctx_len - 1));
    le_items_free(it, 1);
    le_prompt_clear(&p);
    le_runner_free(r);
}

static void encode_pair_should_follow_lm_eval(void **state) {
    struct le_genmodel_fx *f = *state;
    const struct le_tok *t = le_model_tok(f->m);
    struct le_toks a = {0}, b = {0}, c = {0}, d = {0}, w = {0};
    /* trailing spaces of the context move to the continuation */
    assert_int_equal(le_encode_pair(t, 1, 1, "Hello there ", "world", &a, &b), 0);
    assert_int_equal(le_encode_pair(t, 1, 1, "Hello there", " world", &c, &d), 0);
    assert_int_equal(a.n, c.n);
    assert_int_equal(b.n, d.n);
    assert_memory_equal(a.ids, c.ids, (size_t)a.n * 4);
    assert_memory_equal(b.ids, d.ids, (size_t)b.n * 4);
    /* whole = tok(ctx + cont); ctx_enc = tok(ctx) with BOS; cont = the rest of whole */
    assert_int_equal(le_tokenize(t, "Hello there world", 17, 1, &w), 0);
    assert_int_equal(a.ids[0], 1);
    assert_int_equal(a.n + b.n, w.n);
    assert_memory_equal(b.ids, w.ids + a.n, (size_t)b.n * 4);
    /* empty context: [prefix] + tok(cont) without BOS */
    assert_int_equal(le_encode_pair(t, 1, 1, "", "Hello", &a, &b), 0);
    assert_int_equal(le_tokenize(t, "Hello", 5, 0, &w), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.ids[0], 1);
    assert_int_equal(b.n, w.n);
    assert_memory_equal(b.ids, w.ids, (size_t)w.n * 4);
    le_toks_free(&a);
    le_toks_free(&b);
    le_toks_free(&c);
    le_toks_free(&d);
    le_toks_free(&w);
}

/* ---- the Brown tasks ---- */

static void brown_tasks_should_be_deterministic_per_seed(void **state) {
    (void)state;
    struct le_task_opts o;
    le_task_opts_default(&o);
    o.seed = 1;
    o.limit = 40;
    struct le_taskset *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(le_task_load(&a, "brown-cloze", &o), 0);
    assert_int_equal(le_task_load(&b, "brown-cloze", &o), 0);
    o.seed = 2;
    assert_int_equal(le_task_load(&c, "brown-cloze", &o), 0);
    assert_int_equal(a->n_docs, 40);
    assert_true(a->n_docs_total > 1000);
    int differ = 0;
    for (int64_t d = 0; d < a->n_docs; d++) {
        const struct le_prompt *p = &a->prompts[d];
        assert_int_equal(p->n_choices, 4);
        assert_true(p->gold >= 0 && p->gold < 4);
        assert_string_equal(p->query, b->prompts[d].query);
        assert_int_equal(p->gold, b->prompts[d].gold);
        for (int i = 0; i < 4; i++) {
            assert_string_equal(p->choices[i], b->prompts[d].choices[i]);
            for (int j = 0; j < i; j++)
                assert_string_not_equal(p->choices[i], p->choices[j]);
        }
        assert_int_equal(a->items[d].n_req, 4);
        assert_true(a->items[d].req[0].continuation[0] == ' ');
        differ += strcmp(p->query, c->prompts[d].query) != 0;
    }
    assert_true(differ > 30);
    le_taskset_free(a);
    le_taskset_free(b);
    le_taskset_free(c);

    o.seed = 1;
    assert_int_equal(le_task_load(&a, "brown-swap", &o), 0);
    for (int64_t d = 0; d < a->n_docs; d++) {
        const struct le_prompt *p = &a->prompts[d];
        assert_int_equal(p->n_choices, 2);
        assert_int_equal(p->gold, 0);
        assert_int_equal(strlen(p->choices[0]), strlen(p->choices[1]));
        assert_string_not_equal(p->choices[0], p->choices[1]);
        assert_string_equal(a->items[d].req[0].context, "");
    }
    le_taskset_free(a);
    o.limit = 0;
    assert_int_equal(le_task_load(&a, "brown", &o), 0);
    assert_int_equal(a->n_docs, 54); /* the test split */
    assert_int_equal(a->items[0].kind, LE_TASK_ROLLING);
    le_taskset_free(a);
    o.num_fewshot = 1;
    assert_int_equal(le_task_load(&a, "brown", &o), LE_EINVAL);
    assert_int_equal(le_task_load(&a, "no-such-task", &o), LE_ENOTFOUND);
}

/* Every dataset task loads the datasets' upstream-format fixtures (via
 * le_ds_load, offline) zero- and one-shot into well-formed items. */
static void dataset_tasks_should_load_upstream_fixtures(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    for (int i = 0; i < le_task_count(); i++) {
        const struct le_task_info *info = le_task_get(i);
        if (!info->dataset)
            continue;
        for (int k = 0; k <= 1; k++) {
            struct le_taskset *ts = NULL;
            int rc = le_test_task_load(&ts, dir, info->name, k);
            if (rc)
                fail_msg("%s %d-shot: %s", info->name, k, le_err_msg());
            assert_true(ts->n_docs > 0);
            for (int64_t d = 0; d < ts->n_docs; d++) {
                const struct le_item *it = &ts->items[d];
                assert_int_equal(it->kind, info->kind);
                if (info->kind == LE_TASK_MC) {
                    assert_true(it->gold >= 0 && it->gold < it->n_choices);
                    assert_int_equal(it->n_req, it->n_choices * (ts->uncond ? 2 : 1));
                }
                for (int q = 0; q < it->n_req; q++) {
                    assert_non_null(it->req[q].continuation);
                    if (k == 1 && !it->req[q].uncond)
                        assert_non_null(strstr(it->req[q].context, "\n\n"));
                }
            }
            le_taskset_free(ts);
        }
    }
    le_test_rmdir(dir);
    free(dir);
}

/* Issue 12, defect 7: gold labels out of range were accepted and scored as
 * wrong answers; the document is refused, naming its file and line. */
static void gold_labels_out_of_range_should_be_refused_with_file_and_line(void **state) {
    (void)state;
    static const char *const bad[] = {"99", "-1", "\"4294967297\"", "1e300", "1.5", "\"-1\"", "4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[512];
        struct le_prompt p;
        snprintf(doc, sizeof doc, "{\"activity_label\":\"a\",\"ctx_a\":\"b\",\"ctx_b\":\"c\",\"endings\":"
                 "[\"w\",\"x\",\"y\",\"z\"],\"label\":%s}", bad[i]);
        cJSON *d = cJSON_Parse(doc);
        assert_int_equal(le_task_find("hellaswag")->format(d, &p), LE_EFORMAT);
        cJSON_Delete(d);
        snprintf(doc, sizeof doc, "{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\",\"label\":%s}", bad[i]);
        d = cJSON_Parse(doc);
        assert_int_equal(le_task_find("piqa")->format(d, &p), LE_EFORMAT);
        cJSON_Delete(d);
        snprintf(doc, sizeof doc, "{\"passage\":\"p\",\"question\":\"q\",\"label\":%s}", bad[i]);
        d = cJSON_Parse(doc);
        assert_int_equal(le_task_find("boolq")->format(d, &p), LE_EFORMAT);
        cJSON_Delete(d);
        snprintf(doc, sizeof doc, "{\"context\":\"c\",\"question\":\"q\",\"answerA\":\"a\",\"answerB\":\"b\","
                 "\"answerC\":\"c\",\"label\":%s}", bad[i]);
        d = cJSON_Parse(doc);
        assert_int_equal(le_task_find("social_iqa")->format(d, &p), LE_EFORMAT);
        cJSON_Delete(d);
    }
    /* in a cached split: a blank line, a good document, then one with label 99 */
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/hellaswag/hellaswag_val.jsonl", dir);
    const char *text = "\n{\"activity_label\":\"a\",\"ctx_a\":\"b\",\"ctx_b\":\"c\",\"endings\":[\"w\",\"x\"],"
                       "\"label\":1}\n{\"activity_label\":\"a\",\"ctx_a\":\"b\",\"ctx_b\":\"c\",\"endings\":"
                       "[\"w\",\"x\"],\"label\":99}\n";
    assert_int_equal(le_test_write_file(path, text, strlen(text)), 0);
    struct le_taskset *ts = NULL;
    assert_int_equal(le_test_task_load(&ts, dir, "hellaswag", 0), LE_EFORMAT);
    assert_null(ts);
    if (!strstr(le_err_msg(), "hellaswag_val.jsonl:3") || !strstr(le_err_msg(), "\"label\""))
        fail_msg("message: %s", le_err_msg());
    le_test_rmdir(dir);
    free(dir);
}

/* Issue 12, defect 8: le_task_load leaked the evaluated split's prompts when
 * the few-shot split failed to load. Leak-checked by LeakSanitizer in the
 * sanitizer build and, elsewhere, by glibc's count of bytes in use over
 * repeated failing loads. */
static void failed_fewshot_load_should_not_leak_the_eval_prompts(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/hellaswag/hellaswag_train.jsonl", dir);
    assert_int_equal(le_test_write_file(path, "{not json\n", 10), 0);
    struct le_taskset *ts = NULL;
    assert_int_equal(le_test_task_load(&ts, dir, "hellaswag", 1), LE_EFORMAT); /* warm-up */
    assert_null(ts);
#ifdef __GLIBC__
    size_t before = mallinfo2().uordblks;
#endif
    for (int i = 0; i < 20; i++)
        assert_int_equal(le_test_task_load(&ts, dir, "hellaswag", 1), LE_EFORMAT);
#ifdef __GLIBC__
    size_t after = mallinfo2().uordblks;
    if (after > before + 512)
        fail_msg("20 failing loads left %zu more bytes in use", after - before);
#endif
    le_test_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pyrandom_should_match_python),
        cmocka_unit_test(rolling_windows_should_match_lm_eval),
        cmocka_unit_test(prompts_should_match_lm_eval_templates),
        cmocka_unit_test(tasks_should_build_what_lm_eval_builds),
        cmocka_unit_test(mmlu_metrics_should_weight_subjects_by_size),
        cmocka_unit_test(mmlu_groups_and_subjects_should_be_tasks_of_their_own),
        cmocka_unit_test(race_should_keep_lm_evals_document_order),
        cmocka_unit_test(sample_logs_should_follow_lm_eval),
        cmocka_unit_test(formatters_should_reject_bad_documents),
        cmocka_unit_test(gold_labels_out_of_range_should_be_refused_with_file_and_line),
        cmocka_unit_test(failed_fewshot_load_should_not_leak_the_eval_prompts),
        cmocka_unit_test(dataset_tasks_should_load_upstream_fixtures),
        cmocka_unit_test(counts_should_follow_python),
        cmocka_unit_test(statistics_should_match_closed_forms),
        cmocka_unit_test(records_should_round_trip_json_exactly),
        cmocka_unit_test_setup_teardown(encode_pair_should_follow_lm_eval, setup_model, le_genmodel_fx_teardown),
        cmocka_unit_test_setup_teardown(scores_should_equal_naive_computation, setup_model, le_genmodel_fx_teardown),
        cmocka_unit_test_setup_teardown(scores_should_not_depend_on_threads_or_order, setup_model,
                                        le_genmodel_fx_teardown),
        cmocka_unit_test_setup_teardown(prefix_sharing_should_save_forward_tokens, setup_model,
                                        le_genmodel_fx_teardown),
        cmocka_unit_test(brown_tasks_should_be_deterministic_per_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
