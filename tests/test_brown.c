/*
 * test_brown: the built-in Brown corpus reader (datasets/brown.c): document
 * count, genres, the split, determinism, the detokeniser, and the oracle's
 * raw running text (shared/oracle/README.md 1.2 and 5.1).
 */
// ctest-labels: unit golden
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "le_datasets.h"
#include "le_err.h"
#include "le_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct le_brown *g_brown;

static int setup(void **state) {
    (void)state;
    return le_brown_open(&g_brown, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    le_brown_free(g_brown);
    return 0;
}

static void brown_should_have_500_docs_in_id_order(void **state) {
    (void)state;
    assert_int_equal(le_brown_n_docs(g_brown), 500);
    assert_string_equal(le_brown_doc(g_brown, 0)->id, "ca01");
    assert_string_equal(le_brown_doc(g_brown, 499)->id, "cr09");
    for (int i = 1; i < 500; i++)
        assert_true(strcmp(le_brown_doc(g_brown, i - 1)->id, le_brown_doc(g_brown, i)->id) < 0);
    assert_null(le_brown_doc(g_brown, 500));
    assert_null(le_brown_doc(g_brown, -1));
    assert_ptr_equal(le_brown_find(g_brown, "cj17"), le_brown_doc(g_brown, 0 + 44 + 27 + 17 + 17 + 36 + 48 + 75 + 30 + 16));
    assert_null(le_brown_find(g_brown, "ci01"));
}

static void brown_should_have_known_genre_and_split_counts(void **state) {
    (void)state;
    /* Genre sizes of Brown (no genre i). */
    static const char genres[] = "abcdefghjklmnpr";
    static const int sizes[] = {44, 27, 17, 17, 36, 48, 75, 30, 80, 29, 24, 6, 29, 29, 9};
    int count[26] = {0}, split[3] = {0}, gsplit[26][3] = {{0}};
    for (int i = 0; i < 500; i++) {
        const struct le_brown_doc *d = le_brown_doc(g_brown, i);
        assert_true(d->genre >= 'a' && d->genre <= 'r');
        assert_int_equal(d->genre, d->id[1]);
        count[d->genre - 'a']++;
        assert_true(d->split >= 0 && d->split <= 2);
        split[d->split]++;
        gsplit[d->genre - 'a'][d->split]++;
    }
    for (int g = 0; g < 15; g++) {
        assert_int_equal(count[genres[g] - 'a'], sizes[g]);
        /* Every genre is in every split (i%10==0 test, i%10==5 valid). */
        int n = sizes[g];
        assert_int_equal(gsplit[genres[g] - 'a'][LE_BROWN_TEST], (n + 9) / 10);
        assert_int_equal(gsplit[genres[g] - 'a'][LE_BROWN_VALID], (n + 4) / 10);
    }
    assert_int_equal(count['i' - 'a'], 0);
    assert_int_equal(split[LE_BROWN_TRAIN], 395);
    assert_int_equal(split[LE_BROWN_VALID], 51);
    assert_int_equal(split[LE_BROWN_TEST], 54);
    assert_int_equal(le_brown_find(g_brown, "ca01")->split, LE_BROWN_TEST);
    assert_int_equal(le_brown_find(g_brown, "ca06")->split, LE_BROWN_VALID);
    assert_int_equal(le_brown_find(g_brown, "ca02")->split, LE_BROWN_TRAIN);
    assert_int_equal(le_brown_find(g_brown, "cm06")->split, LE_BROWN_VALID);
    assert_string_equal(le_brown_split_name(LE_BROWN_VALID), "valid");
}

static void brown_ca01_should_start_with_known_detokenised_text(void **state) {
    (void)state;
    const struct le_brown_doc *d = le_brown_find(g_brown, "ca01");
    const char *want =
        "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
        "election produced \"no evidence\" that any irregularities took place.\n"
        "The jury further said in term-end presentments that the City Executive Committee, which "
        "had over-all charge of the election, \"deserves the praise and thanks of the City of "
        "Atlanta\" for the manner in which the election was conducted.\n";
    assert_int_equal(strncmp(d->text, want, strlen(want)), 0);
    assert_int_equal(strlen(d->text), d->len);
}

static void brown_text_should_be_clean_ascii(void **state) {
    (void)state;
    size_t total = 0;
    for (int i = 0; i < 500; i++) {
        const struct le_brown_doc *d = le_brown_doc(g_brown, i);
        assert_true(d->len > 5000);
        total += d->len;
        assert_false(d->text[0] == ' ' || d->text[0] == '\n');
        assert_false(d->text[d->len - 1] == ' ' || d->text[d->len - 1] == '\n');
        for (size_t k = 0; k < d->len; k++) {
            unsigned char c = (unsigned char)d->text[k];
            assert_true(c == '\n' || (c >= 0x20 && c < 0x7f));
            if (c == ' ' || c == '\n')
                assert_false(k + 1 < d->len && (d->text[k + 1] == ' ' || d->text[k + 1] == '\n'));
        }
        assert_null(strstr(d->text, "``"));
        /* Quote tokens are gone ("12''" inch marks are words of the corpus). */
        assert_null(strstr(d->text, " ''"));
        assert_null(strstr(d->text, " ,"));
        assert_null(strstr(d->text, " ."));
        assert_null(strstr(d->text, "/at "));
    }
    assert_true(total > 5000000 && total < 6174684);
}

static void brown_detok_should_apply_each_rule(void **state) {
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\n\n\tThe/at cat/nn ./.\n", "The cat."},
        {"He/pps said/vbd ``/`` go/vb ''/'' ,/, then/rb left/vbd ./.", "He said \"go\", then left."},
        {"a/at (/( b/nn )/) c/nn ;/. d/nn :/: e/nn ?/. f/nn !/.", "a (b) c; d: e? f!"},
        {"1/2/cd //in x/nn", "1/2 / x"},
        {"One/cd ./.\n\n\n\tTwo/cd ./.\nThree/cd ./.", "One.\nTwo. Three."},
        {"\n\n\nMerger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, no/at", "Merger proposed\nHowever, no"},
        {"the/at '/' pro/jj '/' letters/nns", "the 'pro' letters"},
        {"  a/at \t  b/nn  ", "a b"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        size_t n = 0;
        assert_int_equal(le_brown_detok(cases[i].in, strlen(cases[i].in), &out, &n), 0);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
        free(out);
    }
}

static void brown_should_be_deterministic(void **state) {
    (void)state;
    struct le_brown *b2 = NULL;
    assert_int_equal(le_brown_open(&b2, NULL), 0);
    for (int i = 0; i < 500; i++) {
        const struct le_brown_doc *x = le_brown_doc(g_brown, i), *y = le_brown_doc(b2, i);
        assert_string_equal(x->id, y->id);
        assert_int_equal(x->split, y->split);
        assert_int_equal(x->len, y->len);
        assert_memory_equal(x->text, y->text, x->len);
    }
    le_brown_free(b2);
}

static void brown_open_should_fail_clearly_on_missing_archive(void **state) {
    (void)state;
    struct le_brown *b = (struct le_brown *)1;
    assert_int_equal(le_brown_open(&b, "/nonexistent/brown.tgz"), LE_EIO);
    assert_null(b);
    assert_non_null(strstr(le_err_msg(), "/nonexistent/brown.tgz"));
    /* A file that is not an archive. */
    assert_int_not_equal(le_brown_open(&b, "datasets/le_datasets.h"), 0);
    assert_null(b);
}

static void brown_raw_text_should_match_oracle(void **state) {
    (void)state;
    char *raw = NULL;
    size_t n = 0;
    assert_int_equal(le_brown_raw_text(NULL, "c", &raw, &n), 0);
    assert_int_equal(n, 6174684); /* oracle README 1.2 */
    assert_int_equal(strncmp(raw, "\n\n\tThe Fulton County Grand Jury said Friday", 43), 0);
    char *cb = NULL;
    size_t ncb = 0;
    assert_int_equal(le_brown_raw_text(NULL, "cb", &cb, &ncb), 0);
    assert_true(ncb > 20048 && ncb < n);
    assert_int_equal(cb[0], '\n');

    if (!le_test_oracle()) {
        printf("skipping oracle comparison: shared/oracle not found\n");
        free(raw);
        free(cb);
        skip();
    }
    char p[4096];
    size_t nb = 0, nt = 0;
    char *bt = le_test_read_file(le_test_oracle_path(p, sizeof p, "tokenizer/brown.txt"), &nb);
    char *tt = le_test_read_file(le_test_oracle_path(p, sizeof p, "ppl/text.txt"), &nt);
    assert_non_null(bt);
    assert_non_null(tt);
    assert_int_equal(nb, 30092);
    assert_int_equal(nt, 20048);
    assert_memory_equal(raw, bt, nb);
    assert_memory_equal(cb, tt, nt);
    free(bt);
    free(tt);
    free(raw);
    free(cb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(brown_should_have_500_docs_in_id_order),
        cmocka_unit_test(brown_should_have_known_genre_and_split_counts),
        cmocka_unit_test(brown_ca01_should_start_with_known_detokenised_text),
        cmocka_unit_test(brown_text_should_be_clean_ascii),
        cmocka_unit_test(brown_detok_should_apply_each_rule),
        cmocka_unit_test(brown_should_be_deterministic),
        cmocka_unit_test(brown_open_should_fail_clearly_on_missing_archive),
        cmocka_unit_test(brown_raw_text_should_match_oracle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
