/*
 * test_datasets: the registry and the readers. Hand-written fixtures in each
 * upstream schema (tests/data/datasets) are laid out as a cache (the .zip
 * sets zipped with libarchive) and loaded offline, then checked field by
 * field; malformed inputs must give clear errors with line numbers.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "le_datasets.h"
#include "le_err.h"
#include "le_httpd.h"
#include "le_sha256.h"
#include "le_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_cache;

static int setup(void **state) {
    (void)state;
    g_cache = le_test_tmpdir();
    return g_cache && le_dsfix_build(g_cache, 0) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    le_test_rmdir(g_cache);
    free(g_cache);
    return 0;
}

static cJSON *load(const char *name, const char *split) {
    struct le_ds_opts o = {0};
    o.cache_dir = g_cache;
    o.offline = 1;
    cJSON *docs = NULL;
    int rc = le_ds_load(name, split, &o, &docs);
    if (rc)
        fprintf(stderr, "load %s %s: %s\n", name, split, le_err_msg());
    assert_int_equal(rc, 0);
    assert_true(cJSON_IsArray(docs));
    return docs;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void registry_should_list_every_set_with_metadata(void **state) {
    (void)state;
    static const char *names[] = {"wikitext-2-raw", "hellaswag", "piqa",       "arc_easy", "arc_challenge",
                                  "winogrande",     "boolq",     "openbookqa", "siqa",     "lambada_openai",
                                  "gsm8k",          "nq_open",   "triviaqa",   "mmlu",     "race"};
    assert_int_equal(le_ds_count(), 15);
    for (int i = 0; i < 15; i++) {
        const struct le_ds_entry *e = le_ds_find(names[i]);
        assert_non_null(e);
        assert_ptr_equal(e, le_ds_get(i));
        assert_true(strlen(e->licence) > 2 && strlen(e->citation) > 20 && strncmp(e->homepage, "https://", 8) == 0);
        assert_true(le_ds_n_sources(e) >= 1 && le_ds_n_splits(e) >= 1);
        for (int k = 0; k < le_ds_n_sources(e); k++) {
            assert_int_equal(strncmp(le_ds_source_at(e, k)->url, "https://", 8), 0);
            assert_null(le_ds_source_at(e, k)->sha256); /* no invented digests: pinned at first download */
        }
    }
    assert_ptr_equal(le_ds_find("ARC-Easy"), le_ds_find("arc_easy"));
    assert_ptr_equal(le_ds_find("social_iqa"), le_ds_find("siqa"));
    assert_ptr_equal(le_ds_find("lambada"), le_ds_find("lambada_openai"));
    assert_null(le_ds_find("no_such_set"));
    assert_string_equal(le_ds_source_at(le_ds_find("hellaswag"), 0)->url,
                        "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl");
}

/* MMLU: headerless CSV per subject in a plain tar, read in one pass, as
 * cais/mmlu rows, subjects in name order; RACE: article files in sorted
 * name order ("1", "10", "2"), questions grouped by article text. */
static void mmlu_and_race_should_read_their_archives(void **state) {
    (void)state;
    cJSON *d = load("mmlu", "test");
    assert_int_equal(cJSON_GetArraySize(d), 7);
    cJSON *a = cJSON_GetArrayItem(d, 1);
    assert_string_equal(a->child->string, "question"); /* cais/mmlu's field order */
    assert_string_equal(a->child->next->string, "subject");
    assert_string_equal(str(a, "question"), "  The identity element of a group is:  ");
    assert_string_equal(str(a, "subject"), "abstract_algebra");
    assert_int_equal((int)num(a, "answer"), 0);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "choices"), 3)->valuestring, "undefined");
    assert_string_equal(str(cJSON_GetArrayItem(d, 3), "subject"), "marketing");
    assert_string_equal(str(cJSON_GetArrayItem(d, 6), "question"), "Café owner Søren asks: who wrote Either/Or?");
    cJSON_Delete(d);
    d = load("mmlu", "dev");
    assert_int_equal(cJSON_GetArraySize(d), 15);
    assert_string_equal(str(cJSON_GetArrayItem(d, 4), "question"), "Let H be a subgroup of G with index 2. Then H is\n\n"
                                                                  "necessarily:");
    assert_string_equal(str(cJSON_GetArrayItem(d, 7), "question"),
                        "Dividing a market into groups with \"similar\" needs is called:");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 2), "choices"), 0)->valuestring,
                        "True, True");
    cJSON_Delete(d);
    cJSON_Delete(load("mmlu", "validation"));
    d = load("race", "test");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    cJSON *p = cJSON_GetObjectItem(cJSON_GetArrayItem(d, 1), "problems");
    assert_int_equal(cJSON_GetArraySize(p), 3); /* 10.txt's question, then 2.txt's two */
    assert_string_equal(str(cJSON_GetArrayItem(p, 0), "question"), "According to experts, what can help students sleep?");
    assert_string_equal(str(cJSON_GetArrayItem(p, 2), "answer"), "B");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(p, 1), "options")), 4);
    cJSON_Delete(d);
    cJSON_Delete(load("race", "train"));
}

static void hellaswag_should_parse_upstream_fields(void **state) {
    (void)state;
    cJSON *d = load("hellaswag", "validation");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    cJSON *a = cJSON_GetArrayItem(d, 0);
    assert_int_equal((int)num(a, "ind"), 24);
    assert_string_equal(str(a, "activity_label"), "Roof shingle removal");
    assert_string_equal(str(a, "ctx_a"), "A man is sitting on a roof.");
    assert_string_equal(str(a, "ctx_b"), "he");
    assert_string_equal(str(a, "ctx"), "A man is sitting on a roof. he");
    assert_string_equal(str(a, "split_type"), "indomain");
    assert_int_equal((int)num(a, "label"), 3);
    cJSON *end = cJSON_GetObjectItemCaseSensitive(a, "endings");
    assert_int_equal(cJSON_GetArraySize(end), 4);
    assert_string_equal(cJSON_GetArrayItem(end, 3)->valuestring, "starts pulling up roofing on a roof.");
    assert_string_equal(str(cJSON_GetArrayItem(d, 1), "ctx_b"), "");
    cJSON_Delete(d);
    d = load("hellaswag", "train");
    assert_int_equal(cJSON_GetArraySize(d), 1);
    assert_string_equal(str(cJSON_GetArrayItem(d, 0), "split"), "train");
    cJSON_Delete(d);
}

static void piqa_should_merge_integer_labels(void **state) {
    (void)state;
    cJSON *d = load("piqa", "validation");
    assert_int_equal(cJSON_GetArraySize(d), 3);
    assert_string_equal(str(cJSON_GetArrayItem(d, 0), "goal"), "How do I ready a guinea pig cage for it's new occupants?");
    assert_string_equal(str(cJSON_GetArrayItem(d, 1), "sol2"), "finish, woodgrain with  bobby pin ");
    assert_int_equal((int)num(cJSON_GetArrayItem(d, 0), "label"), 0);
    assert_int_equal((int)num(cJSON_GetArrayItem(d, 1), "label"), 1);
    assert_int_equal((int)num(cJSON_GetArrayItem(d, 2), "label"), 0);
    /* \u2014 decoded to UTF-8 */
    assert_string_equal(str(cJSON_GetArrayItem(d, 2), "goal"), "To keep bread fresh \xe2\x80\x94 longer,");
    cJSON_Delete(d);
    d = load("piqa", "train");
    assert_int_equal((int)num(cJSON_GetArrayItem(d, 0), "label"), 1);
    cJSON_Delete(d);
}

static void arc_should_keep_upstream_choices(void **state) {
    (void)state;
    cJSON *d = load("arc_easy", "validation");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    cJSON *b = cJSON_GetArrayItem(d, 1);
    assert_string_equal(str(b, "id"), "NYSEDREGENTS_2015_4_8");
    assert_string_equal(str(b, "answerKey"), "2");
    cJSON *q = cJSON_GetObjectItemCaseSensitive(b, "question");
    assert_string_equal(str(q, "stem"), "A student hangs a weight on a spring. Which property of the spring changes?");
    cJSON *ch = cJSON_GetObjectItemCaseSensitive(q, "choices");
    assert_int_equal(cJSON_GetArraySize(ch), 4);
    assert_string_equal(str(cJSON_GetArrayItem(ch, 1), "label"), "2");
    assert_string_equal(str(cJSON_GetArrayItem(ch, 3), "text"), "shape of the coils' ends");
    cJSON_Delete(d);
    d = load("arc_challenge", "test");
    assert_int_equal(cJSON_GetArraySize(d), 1);
    q = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 0), "question");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(q, "choices")), 5);
    assert_string_equal(str(cJSON_GetArrayItem(d, 0), "answerKey"), "C");
    cJSON_Delete(d);
    d = load("arc_challenge", "validation");
    q = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 0), "question");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(q, "choices")), 3);
    cJSON_Delete(d);
}

static void winogrande_siqa_boolq_obqa_lambada_should_parse(void **state) {
    (void)state;
    cJSON *d = load("winogrande", "validation");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    cJSON *w = cJSON_GetArrayItem(d, 1);
    assert_string_equal(str(w, "sentence"), "Sarah was a much better surgeon than Maria so _ always got the easier cases.");
    assert_string_equal(str(w, "option1"), "Sarah");
    assert_string_equal(str(w, "option2"), "Maria");
    assert_string_equal(str(w, "answer"), "2");
    assert_string_equal(str(w, "label"), "2");
    cJSON_Delete(d);

    d = load("siqa", "validation");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    cJSON *s = cJSON_GetArrayItem(d, 0);
    assert_string_equal(str(s, "context"), "Tracy didn't go home that evening and resisted Riley's attacks.");
    assert_string_equal(str(s, "answerC"), "Find somewhere to go");
    assert_string_equal(str(s, "label"), "3");
    assert_string_equal(str(cJSON_GetArrayItem(d, 1), "label"), "1");
    cJSON_Delete(d);

    d = load("boolq", "validation");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 0), "answer")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 1), "answer")));
    assert_string_equal(str(cJSON_GetArrayItem(d, 1), "title"), "Property tax");
    cJSON_Delete(d);

    d = load("openbookqa", "test");
    cJSON *o = cJSON_GetArrayItem(d, 0);
    assert_string_equal(str(o, "id"), "7-980");
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(o, "question"), "stem"), "The sun is responsible for");
    assert_string_equal(str(o, "answerKey"), "D");
    cJSON_Delete(d);
    d = load("openbookqa", "validation");
    assert_string_equal(str(cJSON_GetArrayItem(d, 0), "id"), "8-376");
    cJSON_Delete(d);

    d = load("lambada_openai", "test");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    const char *t = str(cJSON_GetArrayItem(d, 1), "text");
    assert_int_equal(strcmp(t + strlen(t) - 20, "ding her to the dock"), 0); /* "...leading her to the dock" */
    assert_non_null(strstr(str(cJSON_GetArrayItem(d, 0), "text"), "\xe2\x80\x9c" "Figured"));
    cJSON_Delete(d);
}

static void wikitext_should_split_into_articles(void **state) {
    (void)state;
    cJSON *d = load("wikitext-2-raw", "test");
    assert_int_equal(cJSON_GetArraySize(d), 2);
    assert_string_equal(str(cJSON_GetArrayItem(d, 0), "text"),
                        " = Valkyria Test Article = \n \n The first paragraph of the first article , with @-@ "
                        "tokens .\n \n = = Section One = = \n \n More text in the first article .\n \n = = = Sub "
                        "section = = = \n \n Deeper text .\n ");
    assert_string_equal(str(cJSON_GetArrayItem(d, 1), "text"), " = Second Article = \n \n The second article is short .\n \n");
    cJSON_Delete(d);
    d = load("wikitext", "validation");
    assert_int_equal(cJSON_GetArraySize(d), 1);
    cJSON_Delete(d);
}

static void load_should_report_unknown_names_and_splits(void **state) {
    (void)state;
    struct le_ds_opts o = {0};
    o.cache_dir = g_cache;
    o.offline = 1;
    cJSON *d = NULL;
    assert_int_equal(le_ds_load("nope", "validation", &o, &d), LE_ENOTFOUND);
    assert_non_null(strstr(le_err_msg(), "nope"));
    assert_int_equal(le_ds_load("boolq", "test", &o, &d), LE_ENOTFOUND);
    assert_non_null(strstr(le_err_msg(), "validation, train"));
    assert_null(d);
}

static void jsonl_should_report_malformed_line_and_bad_utf8(void **state) {
    (void)state;
    size_t n;
    char *buf = le_test_read_file("tests/data/datasets/bad/malformed.jsonl", &n);
    assert_non_null(buf);
    cJSON *d = NULL;
    assert_int_equal(le_ds_read_jsonl(buf, n, "malformed.jsonl", &d), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "malformed.jsonl:3: malformed JSON"));
    free(buf);
    buf = le_test_read_file("tests/data/datasets/bad/badutf8.jsonl", &n);
    assert_int_equal(le_ds_read_jsonl(buf, n, "badutf8.jsonl", &d), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "badutf8.jsonl:2: invalid UTF-8 at column 14"));
    free(buf);
    assert_int_equal(le_ds_read_jsonl("[1,2]\n", 6, "x", &d), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "x:1: expected a JSON object"));
    assert_int_equal(le_ds_read_jsonl("{\"a\":1} trailing\n", 17, "x", &d), LE_EFORMAT);
    static const char overlong[] = "{\"a\":\"\xc0\xaf\"}\n";
    assert_int_equal(le_ds_read_jsonl(overlong, sizeof overlong - 1, "x", &d), LE_EFORMAT);
    /* CRLF and blank lines are fine. */
    static const char crlf[] = "{\"a\":1}\r\n\r\n{\"a\":2}";
    assert_int_equal(le_ds_read_jsonl(crlf, sizeof crlf - 1, "x", &d), 0);
    assert_int_equal(cJSON_GetArraySize(d), 2);
    cJSON_Delete(d);
}

static void labels_should_match_item_count(void **state) {
    (void)state;
    cJSON *d = NULL;
    assert_int_equal(le_ds_read_jsonl("{}\n{}\n", 6, "x", &d), 0);
    assert_int_equal(le_ds_merge_labels(d, "1\n", 2, 1, "x.lst"), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "1 labels for 2 items"));
    assert_int_equal(le_ds_merge_labels(d, "1\n0\n1\n", 6, 1, "x.lst"), LE_EFORMAT);
    assert_int_equal(le_ds_merge_labels(d, "1\nzz\n", 5, 1, "x.lst"), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "x.lst:2"));
    assert_int_equal(le_ds_merge_labels(d, "1\r\n0\r\n", 6, 1, "x.lst"), 0);
    assert_int_equal((int)num(cJSON_GetArrayItem(d, 1), "label"), 0);
    cJSON_Delete(d);
}

static void offline_without_cache_should_name_the_missing_file(void **state) {
    (void)state;
    char *empty = le_test_tmpdir();
    struct le_ds_opts o = {0};
    o.cache_dir = empty;
    o.offline = 1;
    cJSON *d = NULL;
    assert_int_equal(le_ds_load("piqa", "validation", &o, &d), LE_ENOTFOUND);
    assert_non_null(strstr(le_err_msg(), "piqa/valid.jsonl"));
    assert_non_null(strstr(le_err_msg(), "offline"));
    assert_int_equal(le_ds_fetch("boolq", &o), LE_ENOTFOUND);
    le_test_rmdir(empty);
    free(empty);
}

static void loads_should_pin_and_then_verify(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    struct le_ds_opts o = {0};
    o.cache_dir = dir;
    o.offline = 1;
    cJSON *d = NULL;
    assert_int_equal(le_ds_load("boolq", "validation", &o, &d), 0);
    cJSON_Delete(d);
    char pin[65], got[65], path[4200];
    assert_int_equal(le_ds_pin_get(dir, "boolq/dev.jsonl", pin), 0);
    snprintf(path, sizeof path, "%s/boolq/dev.jsonl", dir);
    assert_int_equal(le_sha256_file(path, got), 0);
    assert_string_equal(pin, got);
    /* The cached file changes: the next load refuses it. */
    assert_int_equal(le_test_write_file(path, "{}\n", 3), 0);
    d = NULL;
    assert_int_equal(le_ds_load("boolq", "validation", &o, &d), LE_ECHECKSUM);
    assert_non_null(strstr(le_err_msg(), "pins.tsv"));
    assert_null(d);
    le_test_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_should_list_every_set_with_metadata),
        cmocka_unit_test(hellaswag_should_parse_upstream_fields),
        cmocka_unit_test(mmlu_and_race_should_read_their_archives),
        cmocka_unit_test(piqa_should_merge_integer_labels),
        cmocka_unit_test(arc_should_keep_upstream_choices),
        cmocka_unit_test(winogrande_siqa_boolq_obqa_lambada_should_parse),
        cmocka_unit_test(wikitext_should_split_into_articles),
        cmocka_unit_test(load_should_report_unknown_names_and_splits),
        cmocka_unit_test(jsonl_should_report_malformed_line_and_bad_utf8),
        cmocka_unit_test(labels_should_match_item_count),
        cmocka_unit_test(offline_without_cache_should_name_the_missing_file),
        cmocka_unit_test(loads_should_pin_and_then_verify),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
