/*
 * test_bpe_train: the BPE tokenizer trainer -- merge order and tie-breaking
 * on hand-checked corpora, the llama vocabulary layout, determinism, the
 * GGUF round trip through le_tok, and (golden) the exact 205 merges of the
 * oracle's "oracle-a" vocabulary when trained on the same text and alphabet.
 */
// ctest-labels: unit golden
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_test.h"

#include "le_bpe_train.h"
#include "le_datasets.h"
#include "le_err.h"
#include "le_gguf.h"
#include "le_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP "\xe2\x96\x81" /* U+2581 */

static struct le_bpe_vocab *train1(const char *text, int vocab) {
    struct le_bpe_opts o;
    le_bpe_opts_default(&o);
    o.vocab_size = vocab;
    o.char_coverage = 1.0;
    size_t len = strlen(text);
    struct le_bpe_vocab *v = NULL;
    assert_int_equal(le_bpe_train(&v, &text, &len, 1, &o), LE_OK);
    return v;
}

static void bpe_should_merge_most_frequent_pair_with_lexicographic_ties(void **state) {
    (void)state;
    /* Words: "▁ab" x3, "▁cd" x1. (a,b) and (▁,a) tie at 3: "a" < "▁" bytewise. */
    struct le_bpe_vocab *v = train1("ab ab ab cd", 259 + 5 + 4);
    assert_int_equal(v->n, 268);
    assert_int_equal(v->n_merges, 4);
    const char *want[] = {"ab", SP "ab", "cd", SP "cd", SP, "a", "b", "c", "d"};
    for (int i = 0; i < 9; i++)
        assert_string_equal(v->pieces[259 + i], want[i]);
    assert_true(v->scores[259] == 0.0f && v->scores[262] == -3.0f);
    assert_true(v->scores[263] == -5.0f && v->scores[267] == -9.0f); /* chars below every merge */
    le_bpe_vocab_free(v);
}

static void bpe_vocab_should_have_the_llama_layout_and_be_deterministic(void **state) {
    (void)state;
    /* A pseudo-random corpus of words over a small alphabet, with newlines,
     * tabs, and rare characters that must stay out of the alphabet. */
    size_t cap = 200000, n = 0;
    char *text = malloc(cap);
    uint64_t s = 7;
    while (n + 20 < cap) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int wl = 1 + (int)((s >> 59) % 7);
        for (int i = 0; i < wl; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            text[n++] = "etaoinshrdlu"[(s >> 58) % 12 % (3 + i * 2 > 12 ? 12 : 3 + i * 2)];
        }
        text[n++] = (s >> 40) % 50 == 0 ? '\n' : (s >> 40) % 97 == 1 ? 'Z' : ' ';
    }
    text[n] = 0;
    struct le_bpe_vocab *a = train1(text, 600), *b = train1(text, 600);
    assert_int_equal(a->n, 600);
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        assert_string_equal(a->pieces[i], b->pieces[i]);
        assert_true(a->scores[i] == b->scores[i] && a->types[i] == b->types[i]);
    }
    assert_string_equal(a->pieces[0], "<unk>");
    assert_int_equal(a->types[0], 2);
    assert_string_equal(a->pieces[1], "<s>");
    assert_string_equal(a->pieces[2], "</s>");
    assert_int_equal(a->types[2], 3);
    assert_string_equal(a->pieces[3 + 0x0a], "<0x0A>");
    assert_int_equal(a->types[258], 6);
    for (int i = 259; i < a->n; i++) {
        assert_int_equal(a->types[i], 1);
        if (i > 259)
            assert_true(a->scores[i] < a->scores[i - 1]);
        const char *sp = strstr(a->pieces[i] + 1, SP);
        assert_null(sp); /* U+2581 only at the start */
        assert_null(strchr(a->pieces[i], '\n'));
        for (int j = 259; j < i; j++)
            assert_true(strcmp(a->pieces[i], a->pieces[j]) != 0);
    }
    le_bpe_vocab_free(a);
    le_bpe_vocab_free(b);
    free(text);
}

static void bpe_gguf_should_load_in_le_tok_and_encode_with_byte_fallback(void **state) {
    (void)state;
    struct le_bpe_vocab *v = train1("ab ab ab cd", 268);
    char *dir = le_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/tok.gguf", dir);
    assert_int_equal(le_bpe_write_gguf(v, path, "t"), LE_OK);
    struct le_gguf *g;
    assert_int_equal(le_gguf_open(&g, path), LE_OK);
    struct le_tok *t;
    assert_int_equal(le_tok_from_gguf(&t, g), LE_OK);
    le_gguf_close(g);
    assert_int_equal(le_tok_n_vocab(t), 268);
    assert_int_equal(le_tok_bos(t), 1);
    int32_t ids[16];
    int64_t n;
    const char *in = "ab cd abx";
    assert_int_equal(le_tok_encode(t, in, strlen(in), 1, ids, 16, &n), LE_OK);
    int32_t want[] = {1, 260, 262, 260, 3 + 'x'};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    le_tok_free(t);
    le_bpe_vocab_free(v);
    le_test_rmdir(dir);
    free(dir);
}

/* Issue 12, item 12: an empty (or all-whitespace) corpus, and a vocabulary
 * whose every id the alphabet takes (no merge possible), are refused. */
static void bpe_should_refuse_an_empty_corpus_and_a_vocab_with_no_room_for_merges(void **state) {
    (void)state;
    struct le_bpe_opts o;
    le_bpe_opts_default(&o);
    o.vocab_size = 300;
    const char *texts[2] = {"", " \n\t "};
    size_t lens[2] = {0, 4};
    struct le_bpe_vocab *v = NULL;
    assert_int_equal(le_bpe_train(&v, texts, lens, 2, &o), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "empty"));
    assert_null(v);
    /* 2 characters + U+2581 fit 262 ids with no merge; 263 allows one */
    const char *t = "ab ab ab ab";
    size_t l = strlen(t);
    o.vocab_size = 262;
    assert_int_equal(le_bpe_train(&v, &t, &l, 1, &o), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "no room for a merge"));
    assert_non_null(strstr(le_err_msg(), "more than 262"));
    o.vocab_size = 263;
    assert_int_equal(le_bpe_train(&v, &t, &l, 1, &o), LE_OK);
    assert_int_equal(v->n_merges, 1);
    le_bpe_vocab_free(v);
}

static void bpe_should_refuse_a_vocab_too_small_for_bytes(void **state) {
    (void)state;
    struct le_bpe_opts o;
    le_bpe_opts_default(&o);
    o.vocab_size = 200;
    const char *t = "x";
    size_t l = 1;
    struct le_bpe_vocab *v;
    assert_int_equal(le_bpe_train(&v, &t, &l, 1, &o), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "too small"));
}

/* oracle-a: trained on the running text of cc01-cj80 with the alphabet given
 * by its 48 single-character pieces (shared/oracle/README.md 2.2). */
static void bpe_should_reproduce_the_oracle_a_merges(void **state) {
    (void)state;
    if (!le_test_oracle()) {
        printf("oracle not found: skipping\n");
        skip();
    }
    char p[4096];
    size_t n;
    char *tsv = le_test_read_file(le_test_oracle_path(p, sizeof p, "models/oracle-a.vocab.tsv"), &n);
    assert_non_null(tsv);
    char *pieces[512] = {0}, *line = strchr(tsv, '\n') + 1;
    for (int id = 0; id < 512 && line && *line; id++) {
        char *end = strchr(line, '\n');
        if (end)
            *end = 0;
        char *last = strrchr(line, '\t');
        pieces[id] = last + 1;
        line = end ? end + 1 : NULL;
    }
    char alphabet[512] = "";
    for (int id = 464; id < 512; id++)
        strcat(alphabet, pieces[id]);
    const char *genres[] = {"cc", "cd", "ce", "cf", "cg", "ch", "cj"};
    char *all = NULL;
    size_t total = 0;
    for (int i = 0; i < 7; i++) {
        char *t;
        size_t l;
        assert_int_equal(le_brown_raw_text(NULL, genres[i], &t, &l), LE_OK);
        all = realloc(all, total + l + 1);
        memcpy(all + total, t, l);
        total += l;
        free(t);
    }
    assert_int_equal(total, 3812562);
    struct le_bpe_opts o;
    le_bpe_opts_default(&o);
    o.vocab_size = 512;
    o.alphabet = alphabet;
    const char *txt = all;
    struct le_bpe_vocab *v;
    assert_int_equal(le_bpe_train(&v, &txt, &total, 1, &o), LE_OK);
    assert_int_equal(v->n_chars, 48);
    assert_int_equal(v->n_merges, 205);
    for (int id = 259; id < 464; id++)
        if (strcmp(v->pieces[id], pieces[id])) {
            print_error("merge %d: got '%s', oracle '%s'\n", id - 259, v->pieces[id], pieces[id]);
            fail();
        }
    le_bpe_vocab_free(v);
    free(all);
    free(tsv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bpe_should_merge_most_frequent_pair_with_lexicographic_ties),
        cmocka_unit_test(bpe_vocab_should_have_the_llama_layout_and_be_deterministic),
        cmocka_unit_test(bpe_gguf_should_load_in_le_tok_and_encode_with_byte_fallback),
        cmocka_unit_test(bpe_should_refuse_a_vocab_too_small_for_bytes),
        cmocka_unit_test(bpe_should_refuse_an_empty_corpus_and_a_vocab_with_no_room_for_merges),
        cmocka_unit_test(bpe_should_reproduce_the_oracle_a_merges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
