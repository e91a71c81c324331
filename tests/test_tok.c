/*
 * test_tok: the tokenizers against llama.cpp's outputs.
 *   - in-memory vocabularies (no oracle needed): score order and leftmost
 *     ties, byte fallback, UNK, space prefix, user-defined tokens, BPE
 *     ranks, invalid UTF-8, decode round trips, segmenting == one pass;
 *   - oracle (../shared/oracle, skipped with a message when absent): the
 *     46 llama.cpp test strings for the LLaMA SPM and GPT-2 vocabularies,
 *     brown.txt (7,572 ids with BOS), the oracle-a sentence (64 ids) and
 *     ppl/text.txt (10,153 ids), every id exact.
 */
// ctest-labels: unit golden
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_gguf.h"
#include "le_test.h"
#include "le_tok.h"
#include "tok_int.h" /* tok_spm_encode (segmenting check), tok_bpe_split */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static int64_t enc(const struct le_tok *t, const char *s, size_t n, int bos, int32_t *ids, int64_t cap) {
    int64_t m = -1;
    int rc = le_tok_encode(t, s, n, bos, ids, cap, &m);
    assert_int_equal(rc, LE_OK);
    assert_true(m <= cap);
    return m;
}

static int32_t *enc_all(const struct le_tok *t, const char *s, size_t n, int bos, int64_t *m) {
    int32_t *ids = malloc((n + 2) * sizeof *ids);
    assert_non_null(ids);
    *m = enc(t, s, n, bos, ids, (int64_t)n + 2);
    return ids;
}

static void expect_ids(const struct le_tok *t, const char *s, int bos, const int32_t *want, int64_t n_want) {
    int32_t ids[256];
    int64_t m = enc(t, s, strlen(s), bos, ids, 256);
    if (m != n_want || (n_want > 0 && memcmp(ids, want, (size_t)n_want * sizeof *ids) != 0)) {
        printf("text '%s': got", s);
        for (int64_t i = 0; i < m; i++)
            printf(" %d", ids[i]);
        printf("\n");
    }
    assert_int_equal(m, n_want);
    if (n_want > 0)
        assert_memory_equal(ids, want, (size_t)n_want * sizeof *ids);
}

static struct le_tok *open_vocab(const char *rel) {
    char path[4096];
    le_test_oracle_path(path, sizeof path, rel);
    struct le_gguf *g = NULL;
    int rc = le_gguf_open(&g, path);
    if (rc)
        printf("%s: %s\n", path, le_err_msg());
    assert_int_equal(rc, LE_OK);
    struct le_tok *t = NULL;
    rc = le_tok_from_gguf(&t, g);
    if (rc)
        printf("%s: %s\n", path, le_err_msg());
    assert_int_equal(rc, LE_OK);
    le_gguf_close(g);
    return t;
}

#define SKIP_WITHOUT_ORACLE()                                                          \
    do {                                                                               \
        if (!le_test_oracle()) {                                                       \
            printf("skipped: ../shared/oracle not found (set LE_ORACLE_DIR)\n");       \
            skip();                                                                    \
        }                                                                              \
    } while (0)

/* ---- a small SPM vocabulary ------------------------------------------- */

/* ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces. */
#define SPM_BASE 259
static const char *const spm_pieces[] = {
    "\xe2\x96\x81", "a", "b", "c", "ab", "bc", "abc", "\xe2\x96\x81" "a", "\xe2\x96\x81" "ab", "h", "e", "l",
    "o", "he", "ll", "hell", "hello", "\xe2\x96\x81" "hello", "<X>", "\xc3\xa9", "\xe2\x96\x81\xe2\x96\x81",
};
static const float spm_scores[] = {
    -1, -2, -3, -4, -5, -5, -7, -6, -8, -9, -10, -11, -12, -1, -2, -3, -4, -5, 0, -20, -30,
};

static struct le_tok *small_spm(int with_bytes, int with_user) {
    enum { NP = sizeof spm_pieces / sizeof spm_pieces[0] };
    static char names[256][8];
    const char *tok[SPM_BASE + NP];
    float sc[SPM_BASE + NP];
    int32_t ty[SPM_BASE + NP];
    tok[0] = "<unk>", tok[1] = "<s>", tok[2] = "</s>";
    ty[0] = 2, ty[1] = 3, ty[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof names[b], with_bytes ? "<0x%02X>" : "<1x%02X>", b);
        tok[3 + b] = names[b];
        ty[3 + b] = with_bytes ? 6 : 5;
    }
    for (int i = 0; i < NP; i++) {
        tok[SPM_BASE + i] = spm_pieces[i];
        ty[SPM_BASE + i] = 1;
    }
    for (int i = 0; i < SPM_BASE + NP; i++)
        sc[i] = i >= SPM_BASE ? spm_scores[i - SPM_BASE] : 0;
    if (with_user)
        ty[SPM_BASE + 18] = 4; /* "<X>" */
    struct le_tok *t = NULL;
    assert_int_equal(le_tok_new_spm(&t, SPM_BASE + NP, tok, sc, ty, 1, 2, 0), LE_OK);
    return t;
}
#define P(i) (SPM_BASE + (i))

static void spm_should_merge_highest_score_first_with_leftmost_ties(void **state) {
    (void)state;
    struct le_tok *t = small_spm(1, 0);
    assert_int_equal(le_tok_kind(t), LE_TOK_SPM);
    assert_int_equal(le_tok_bos(t), 1);
    assert_int_equal(le_tok_add_bos(t), 1);
    /* "▁abc": ▁a(-6) vs ab(-5) vs bc(-5): ab and bc tie; the leftmost (ab)
     * wins, which makes ▁a and bc stale; abc(-7) beats ▁ab(-8). */
    expect_ids(t, "abc", 0, (int32_t[]){P(0), P(6)}, 2);
    /* "▁hello": he(-1) ll(-2) -> hell(-3) -> hello(-4) -> ▁hello(-5) */
    expect_ids(t, "hello", 1, (int32_t[]){1, P(17)}, 2);
    /* "▁▁hello": ▁hello (-5) is merged before ▁▁ (-30) */
    expect_ids(t, " hello", 0, (int32_t[]){P(0), P(17)}, 2);
    expect_ids(t, "", 0, NULL, 0);
    expect_ids(t, "", 1, (int32_t[]){1}, 1);
    le_tok_free(t);
}

static void spm_should_fall_back_to_bytes_then_unk(void **state) {
    (void)state;
    struct le_tok *t = small_spm(1, 0);
    /* 'z' is no piece: <0x7A>; é is a piece; ü (C3 BC) falls back to bytes. */
    expect_ids(t, "z\xc3\xa9\xc3\xbc", 0, (int32_t[]){P(0), 3 + 0x7A, P(19), 3 + 0xC3, 3 + 0xBC}, 5);
    le_tok_free(t);
    t = small_spm(0, 0);
    expect_ids(t, "z", 0, (int32_t[]){P(0), 0}, 2);
    le_tok_free(t);
}

static void spm_should_survive_invalid_utf8(void **state) {
    (void)state;
    struct le_tok *t = small_spm(1, 0);
    /* bad lead 0xFF claims 4 bytes: one symbol "\xFF" "abc" -> 4 byte tokens */
    expect_ids(t, "\xff" "abc", 0, (int32_t[]){P(0), 3 + 0xFF, 3 + 'a', 3 + 'b', 3 + 'c'}, 5);
    /* stray continuation byte alone, truncated sequence at the end */
    expect_ids(t, "a\x80", 0, (int32_t[]){P(7), 3 + 0x80}, 2);
    expect_ids(t, "a\xe2\x96", 0, (int32_t[]){P(7), 3 + 0xE2, 3 + 0x96}, 3);
    static const char *bad[] = {"\xc3", "\xe2\x28\xa1", "\xf0\x90\x28\xbc", "\xed\xa0\x80", "\xc0\xaf", "\xfe\xfe\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t ids[64];
        char back[64];
        int64_t m = enc(t, bad[i], strlen(bad[i]), 1, ids, 64);
        assert_true(m >= 2);
        int64_t k = le_tok_decode(t, ids, m, back, sizeof back);
        assert_int_equal(k, (int64_t)strlen(bad[i]));
        assert_memory_equal(back, bad[i], (size_t)k); /* bytes come back verbatim */
    }
    le_tok_free(t);
}

static void spm_should_isolate_user_defined_tokens(void **state) {
    (void)state;
    struct le_tok *t = small_spm(1, 1);
    /* "a<X>a": ▁a, <X>, then "a" gets a space prefix again (after special). */
    expect_ids(t, "a<X>a", 0, (int32_t[]){P(7), P(18), P(7)}, 3);
    /* control tokens are never matched in text */
    int32_t ids[64];
    int64_t m = enc(t, "<s>", 3, 0, ids, 64);
    for (int64_t i = 0; i < m; i++)
        assert_int_not_equal(ids[i], 1);
    le_tok_free(t);
}

static void spm_should_report_full_count_when_buffer_is_small(void **state) {
    (void)state;
    struct le_tok *t = small_spm(1, 0);
    int32_t ids[2] = {-7, -7};
    int64_t m;
    assert_int_equal(le_tok_encode(t, "zzzz", 4, 1, ids, 2, &m), LE_OK);
    assert_int_equal(m, 6);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], P(0));
    assert_int_equal(le_tok_encode(t, "zzzz", 4, 1, NULL, 0, &m), LE_OK);
    assert_int_equal(m, 6);
    le_tok_free(t);
}

static void spm_pieces_and_decode_should_round_trip(void **state) {
    (void)state;
    struct le_tok *t = small_spm(1, 0);
    char buf[64];
    assert_int_equal(le_tok_piece(t, P(17), buf, sizeof buf), 6);
    assert_memory_equal(buf, " hello", 6);
    assert_int_equal(le_tok_piece(t, 3 + 0x41, buf, sizeof buf), 1);
    assert_int_equal(buf[0], 'A');
    assert_int_equal(le_tok_piece(t, 1, buf, sizeof buf), 3); /* control: its text */
    assert_memory_equal(buf, "<s>", 3);
    assert_int_equal(le_tok_piece(t, P(17), buf, 2), 6); /* truncated, full length back */
    assert_true(le_tok_piece(t, 100000, buf, sizeof buf) < 0);
    size_t n;
    assert_memory_equal(le_tok_text(t, P(17), &n), "\xe2\x96\x81hello", 8);
    assert_null(le_tok_text(t, -1, &n));
    assert_int_equal(le_tok_find(t, "he", 2), P(13));
    const char *texts[] = {"hello world", "  two  spaces ", "", "tab\there\nnew line", "abc abc  abc"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (int bos = 0; bos < 2; bos++) {
            int64_t m;
            int32_t *ids = enc_all(t, texts[i], strlen(texts[i]), bos, &m);
            char out[128];
            int64_t k = le_tok_decode(t, ids, m, out, sizeof out);
            assert_int_equal(k, (int64_t)strlen(texts[i]));
            assert_memory_equal(out, texts[i], (size_t)k);
            /* a short buffer gets a prefix and the full length */
            if (k > 3) {
                char small[3];
                assert_int_equal(le_tok_decode(t, ids, m, small, 3), k);
                assert_memory_equal(small, texts[i], 3);
            }
            free(ids);
        }
    }
    le_tok_free(t);
}

/* ---- a small BPE vocabulary ------------------------------------------- */

static struct le_tok *small_bpe(const char *pre) {
    /* 256 byte characters (GPT-2 order irrelevant: by code point), then merges. */
    static char store[256][4];
    const char *tok[256 + 8];
    for (int b = 0; b < 256; b++) {
        int n = le_utf8_encode(tok_byte_to_cpt((uint8_t)b), store[b]);
        store[b][n] = 0;
        tok[b] = store[b];
    }
    /* Ġ = U+0120 is the byte encoding of ' ' */
    const char *extra[] = {"he", "ll", "hell", "hello", "\xc4\xa0w", "or", "\xc4\xa0wor", "ld"};
    for (int i = 0; i < 8; i++)
        tok[256 + i] = extra[i];
    const char *merges[] = {"h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "o r", "\xc4\xa0w or", "l d"};
    struct le_tok_params p;
    le_tok_params_init(&p, LE_TOK_BPE);
    p.n_vocab = 264;
    p.tokens = tok;
    p.n_merges = 8;
    p.merges = merges;
    p.pre = pre;
    struct le_tok *t = NULL;
    assert_int_equal(le_tok_new(&t, &p), LE_OK);
    return t;
}

static void bpe_should_merge_by_rank(void **state) {
    (void)state;
    struct le_tok *t = small_bpe("gpt-2");
    assert_int_equal(le_tok_kind(t), LE_TOK_BPE);
    assert_int_equal(le_tok_add_bos(t), 0);
    /* "hello world" -> hello, Ġwor, ld */
    expect_ids(t, "hello world", 0, (int32_t[]){259, 262, 263}, 3);
    char buf[16];
    assert_int_equal(le_tok_piece(t, 262, buf, sizeof buf), 4);
    assert_memory_equal(buf, " wor", 4);
    le_tok_free(t);
    struct le_tok_params p;
    le_tok_params_init(&p, LE_TOK_BPE);
    p.pre = "no-such-pre";
    const char *one[] = {"a"};
    const char *m1[] = {"a a"};
    p.n_vocab = 1, p.tokens = one, p.n_merges = 1, p.merges = m1;
    assert_int_equal(le_tok_new(&t, &p), LE_EUNSUP);
}

static void bpe_invalid_utf8_should_become_replacement_chars(void **state) {
    (void)state;
    struct le_tok *t = small_bpe("gpt-2");
    /* 0xFF -> U+FFFD = EF BF BD -> three byte tokens */
    int32_t ids[16];
    int64_t m = enc(t, "\xff", 1, 0, ids, 16);
    assert_int_equal(m, 3);
    char buf[16];
    int64_t k = le_tok_decode(t, ids, m, buf, sizeof buf);
    assert_int_equal(k, 3);
    assert_memory_equal(buf, "\xef\xbf\xbd", 3);
    le_tok_free(t);
}

/* Splits s with the pre-tokenizer and joins the words with '|'. */
static void expect_split(int pre, const char *s, const char *want) {
    uint32_t cps[256];
    size_t n = tok_utf8_decode(s, strlen(s), cps);
    size_t *w = NULL, nw = 0;
    assert_int_equal(tok_bpe_split(pre, cps, n, &w, &nw), LE_OK);
    char got[1024];
    size_t g = 0, at = 0;
    for (size_t i = 0; i < nw; i++) {
        if (i)
            got[g++] = '|';
        for (size_t k = at; k < at + w[i]; k++)
            g += (size_t)le_utf8_encode(cps[k], got + g);
        at += w[i];
    }
    got[g] = 0;
    free(w);
    if (strcmp(got, want) != 0)
        printf("split '%s': got '%s' want '%s'\n", s, got, want);
    assert_string_equal(got, want);
}

static void bpe_pretokenizers_should_split_like_llama_cpp(void **state) {
    (void)state;
    expect_split(TOK_PRE_GPT2, "Hello world", "Hello| world");
    expect_split(TOK_PRE_GPT2, "I'm  here 123!!", "I|'m| | here| 123|!!");
    expect_split(TOK_PRE_GPT2, "a   \n", "a|   \n");
    expect_split(TOK_PRE_GPT2, "it'S", "it|'|S");
    expect_split(TOK_PRE_LLAMA3, "it'S 12345 x\n\n y", "it|'S| |123|45| x|\n\n| y");
    expect_split(TOK_PRE_LLAMA3, "(hi)\n", "(hi|)\n");
    expect_split(TOK_PRE_LLAMA3, "a \xc2\xbd", "a| |\xc2\xbd");
    expect_split(TOK_PRE_DEFAULT, "x=1234567;", "x|=|123|456|7|;");
    expect_split(TOK_PRE_DEFAULT, "ab 1234567", "ab| |123|456|7");
}

/* Deterministic random byte strings, biased to UTF-8 edge bytes. */
static size_t random_bytes(uint64_t *st, char *buf, size_t max) {
    static const unsigned char pool[] = {'a', 'b', 'c', 'h', 'e', 'l', 'o', ' ', ' ', '\n', '\t', 0x00, 0x7F, 0x80,
                                         0xBF, 0xC0, 0xC3, 0xA9, 0xE2, 0x96, 0x81, 0xED, 0xF0, 0xF4, 0xF5, 0xFF};
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    size_t n = (size_t)(*st >> 33) % (max + 1);
    for (size_t i = 0; i < n; i++) {
        *st = *st * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (char)pool[(*st >> 33) % sizeof pool];
    }
    return n;
}

/* Replaces every U+2581 by ' ' in place; returns the new length. */
static size_t unescape(char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            s[k++] = ' ';
            i += 2;
        } else {
            s[k++] = s[i];
        }
    }
    return k;
}

/* SPM escapes spaces to U+2581 before it cuts characters, so a bad lead
 * byte just before a space swallows part of the U+2581, which then comes
 * back as raw bytes (llama.cpp does the same): the round trip is exact up
 * to U+2581 <-> ' '. */
static void random_bytes_should_encode_and_round_trip(void **state) {
    (void)state;
    struct le_tok *spm = small_spm(1, 1), *bpe = small_bpe("gpt-2"), *l3 = small_bpe("llama-bpe");
    struct le_tok *real = le_test_oracle() ? open_vocab("tokenizer/ggml-vocab-llama-spm.gguf") : NULL;
    uint64_t st = 42;
    int exact = 0, tries = 0;
    for (int it = 0; it < 3000; it++) {
        char s[48], back[256];
        int32_t ids[256];
        size_t n = random_bytes(&st, s, 40);
        struct le_tok *spms[2] = {spm, real};
        for (int k = 0; k < 2; k++) {
            if (!spms[k])
                continue;
            int64_t m = enc(spms[k], s, n, 1, ids, 256);
            assert_true(m >= 1);
            int64_t b = le_tok_decode(spms[k], ids, m, back, sizeof back);
            assert_true(b >= 0 && b <= (int64_t)sizeof back);
            exact += b == (int64_t)n && memcmp(back, s, n) == 0;
            tries++;
            char s2[48];
            memcpy(s2, s, n);
            size_t n2 = unescape(s2, n);
            size_t b2 = unescape(back, (size_t)b);
            assert_int_equal(b2, n2);
            assert_memory_equal(back, s2, n2);
        }
        int64_t m = enc(bpe, s, n, 0, ids, 256);
        assert_true(le_tok_decode(bpe, ids, m, back, sizeof back) >= (int64_t)(n ? 1 : 0));
        m = enc(l3, s, n, 0, ids, 256);
        assert_true(le_tok_decode(l3, ids, m, back, sizeof back) >= (int64_t)(n ? 1 : 0));
    }
    printf("%d of %d random strings came back byte for byte\n", exact, tries);
    assert_true(exact > tries / 2);
    le_tok_free(spm);
    le_tok_free(bpe);
    le_tok_free(l3);
    le_tok_free(real);
}

/* ---- oracle vectors --------------------------------------------------- */

static void check_vectors(const char *vocab) {
    struct le_tok *t = open_vocab(vocab);
    le_test_tok_vectors(t, vocab, vocab);
    le_tok_free(t);
}

static void spm_should_match_llama_cpp_test_vectors(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    check_vectors("tokenizer/ggml-vocab-llama-spm.gguf");
}

static void bpe_should_match_llama_cpp_gpt2_test_vectors(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    check_vectors("tokenizer/ggml-vocab-gpt-2.gguf");
}

/* Encodes a file (optionally minus one trailing newline) with BOS and
 * compares with an id-per-line file. */
static void check_file(const char *vocab, const char *text_rel, int drop_nl, const char *ids_rel, int64_t n_expect) {
    struct le_tok *t = open_vocab(vocab);
    char p1[4096], p2[4096];
    size_t nt, nw;
    char *text = le_test_read_file(le_test_oracle_path(p1, sizeof p1, text_rel), &nt);
    char *wtxt = le_test_read_file(le_test_oracle_path(p2, sizeof p2, ids_rel), &nw);
    assert_non_null(text);
    assert_non_null(wtxt);
    if (drop_nl && nt > 0 && text[nt - 1] == '\n')
        nt--;
    int64_t n_want, n_got;
    int32_t *want = le_test_parse_ids(wtxt, nw, &n_want);
    assert_int_equal(n_want, n_expect);
    int32_t *got = enc_all(t, text, nt, 1, &n_got);
    int64_t first_bad = -1;
    for (int64_t i = 0; i < n_want && i < n_got; i++)
        if (got[i] != want[i]) {
            first_bad = i;
            break;
        }
    if (first_bad >= 0)
        printf("%s: first difference at %lld: got %d want %d\n", text_rel, (long long)first_bad, got[first_bad],
               want[first_bad]);
    assert_int_equal(n_got, n_want);
    assert_int_equal(first_bad, -1);
    /* Segmenting is invisible: one pass over the whole text agrees. */
    int32_t *one = malloc((nt + 2) * sizeof *one);
    struct tok_out o = {one, (int64_t)nt + 2, 0};
    assert_int_equal(tok_spm_encode(t, text, nt, 1, (size_t)-1, 0, &o), LE_OK);
    assert_int_equal(o.n, n_got - 1);
    assert_memory_equal(one, got + 1, (size_t)o.n * sizeof *one);
    /* And long segments too. */
    o.n = 0;
    assert_int_equal(tok_spm_encode(t, text, nt, 1, 4096, 0, &o), LE_OK);
    assert_int_equal(o.n, n_got - 1);
    assert_memory_equal(one, got + 1, (size_t)o.n * sizeof *one);
    free(one);
    free(want);
    free(got);
    free(text);
    free(wtxt);
    le_tok_free(t);
}

static void bpe_memo_should_not_change_results(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    struct le_tok *t = open_vocab("tokenizer/ggml-vocab-gpt-2.gguf");
    char p[4096];
    size_t nt;
    char *text = le_test_read_file(le_test_oracle_path(p, sizeof p, "tokenizer/brown.txt"), &nt);
    assert_non_null(text);
    int32_t *a = malloc((nt + 2) * sizeof *a), *b = malloc((nt + 2) * sizeof *b);
    struct tok_out oa = {a, (int64_t)nt + 2, 0}, ob = {b, (int64_t)nt + 2, 0};
    assert_int_equal(tok_bpe_encode(t, text, nt, 1, &oa), LE_OK);
    assert_int_equal(tok_bpe_encode(t, text, nt, 0, &ob), LE_OK);
    assert_true(oa.n > 5000);
    assert_int_equal(oa.n, ob.n);
    assert_memory_equal(a, b, (size_t)oa.n * sizeof *a);
    free(a);
    free(b);
    free(text);
    le_tok_free(t);
}

static void spm_should_match_llama_cpp_on_brown(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    check_file("tokenizer/ggml-vocab-llama-spm.gguf", "tokenizer/brown.txt", 0, "tokenizer/brown.llama-spm.tokens",
               7572);
}

static void oracle_a_should_tokenize_the_logits_sentence(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    struct le_tok *t = open_vocab("models/oracle-a-f32.gguf");
    assert_int_equal(le_tok_n_vocab(t), 512);
    assert_int_equal(le_tok_add_bos(t), 1);
    static const char s[] = "The committee said on Friday that the new bridge over the river would be finished by "
                            "the end of 1962, and that the city would pay for all of it.";
    char p[4096];
    size_t nw;
    char *wtxt = le_test_read_file(le_test_oracle_path(p, sizeof p, "logits/tokens.txt"), &nw);
    assert_non_null(wtxt);
    int64_t n_want, n_got;
    int32_t *want = le_test_parse_ids(wtxt, nw, &n_want);
    assert_int_equal(n_want, 64);
    int32_t *got = enc_all(t, s, strlen(s), le_tok_add_bos(t), &n_got);
    assert_int_equal(n_got, 64);
    assert_memory_equal(got, want, 64 * sizeof *got);
    char out[512];
    int64_t k = le_tok_decode(t, got, n_got, out, sizeof out);
    assert_int_equal(k, (int64_t)strlen(s));
    assert_memory_equal(out, s, (size_t)k);
    free(want);
    free(got);
    free(wtxt);
    le_tok_free(t);
}

static void oracle_a_should_tokenize_the_ppl_text(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    check_file("models/oracle-a-f32.gguf", "ppl/text.txt", 1, "ppl/text.oracle-a.tokens", 10153);
}

static void spm_decode_should_invert_encode_on_ascii(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    struct le_tok *t = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf");
    char p[4096];
    size_t nt;
    char *text = le_test_read_file(le_test_oracle_path(p, sizeof p, "tokenizer/brown.txt"), &nt);
    assert_non_null(text);
    const char *extra[] = {" leading space", "trailing space ", "  ", "a\tb\r\nc", "~!@#$%^&*()_+`{}|[]\\:\";'<>?,./"};
    for (int i = -1; i < (int)(sizeof extra / sizeof extra[0]); i++) {
        const char *s = i < 0 ? text : extra[i];
        size_t n = i < 0 ? nt : strlen(s);
        int64_t m;
        int32_t *ids = enc_all(t, s, n, 1, &m);
        char *back = malloc(n + 16);
        int64_t k = le_tok_decode(t, ids, m, back, n + 16);
        assert_int_equal(k, (int64_t)n);
        assert_memory_equal(back, s, n);
        free(back);
        free(ids);
    }
    free(text);
    le_tok_free(t);
}

static void gpt2_decode_should_invert_encode(void **state) {
    (void)state;
    SKIP_WITHOUT_ORACLE();
    struct le_tok *t = open_vocab("tokenizer/ggml-vocab-gpt-2.gguf");
    assert_int_equal(le_tok_bos(t), 50256);
    assert_int_equal(le_tok_add_bos(t), 0);
    const char *s[] = {"Hello world", "  x\n\n y ", "\xc3\x84pfel \xe2\x80\x94 \xf0\x9f\x98\x80 \xe4\xb8\xad", "3333333"};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        int64_t m;
        int32_t *ids = enc_all(t, s[i], strlen(s[i]), 0, &m);
        char back[128];
        int64_t k = le_tok_decode(t, ids, m, back, sizeof back);
        assert_int_equal(k, (int64_t)strlen(s[i]));
        assert_memory_equal(back, s[i], (size_t)k);
        free(ids);
    }
    le_tok_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spm_should_merge_highest_score_first_with_leftmost_ties),
        cmocka_unit_test(spm_should_fall_back_to_bytes_then_unk),
        cmocka_unit_test(spm_should_survive_invalid_utf8),
        cmocka_unit_test(spm_should_isolate_user_defined_tokens),
        cmocka_unit_test(spm_should_report_full_count_when_buffer_is_small),
        cmocka_unit_test(spm_pieces_and_decode_should_round_trip),
        cmocka_unit_test(bpe_should_merge_by_rank),
        cmocka_unit_test(bpe_invalid_utf8_should_become_replacement_chars),
        cmocka_unit_test(bpe_pretokenizers_should_split_like_llama_cpp),
        cmocka_unit_test(random_bytes_should_encode_and_round_trip),
        cmocka_unit_test(spm_should_match_llama_cpp_test_vectors),
        cmocka_unit_test(bpe_should_match_llama_cpp_gpt2_test_vectors),
        cmocka_unit_test(spm_should_match_llama_cpp_on_brown),
        cmocka_unit_test(bpe_memo_should_not_change_results),
        cmocka_unit_test(oracle_a_should_tokenize_the_logits_sentence),
        cmocka_unit_test(oracle_a_should_tokenize_the_ppl_text),
        cmocka_unit_test(spm_decode_should_invert_encode_on_ascii),
        cmocka_unit_test(gpt2_decode_should_invert_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
