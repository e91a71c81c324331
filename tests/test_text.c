/*
 * test_text: the helpers every layer shares, written once in engine/core --
 * UTF-8 (le_text.h), Python whitespace, growable strings (le_buf.h), whole
 * files and mkdir -p (le_fs.h), splitmix64 (le_util.h).
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "le_buf.h"
#include "le_err.h"
#include "le_fs.h"
#include "le_test.h"
#include "le_text.h"
#include "le_util.h"

static void utf8_next_should_decode_by_structure_and_refuse_broken_sequences(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t n, len;
        uint32_t cp;
    } cases[] = {
        {"A", 1, 1, 'A'},
        {"\xc3\xa9", 2, 2, 0xe9},
        {"\xe2\x82\xac", 3, 3, 0x20ac},
        {"\xf0\x9f\x98\x80", 4, 4, 0x1f600},
        {"\xc0\xa0", 2, 2, 0x20},         /* overlong: decoded, not well-formed */
        {"\xed\xa0\x80", 3, 3, 0xd800},   /* surrogate: decoded, not well-formed */
        {"\xf4\x90\x80\x80", 4, 4, 0x110000},
        {"\x80", 1, 0, 0},                /* stray continuation byte */
        {"\xf8\x88\x80\x80\x80", 5, 0, 0},
        {"\xe2\x82", 2, 0, 0},            /* truncated */
        {"\xe2\x28\xa1", 3, 0, 0},        /* missing continuation */
        {"\xc3", 9, 0, 0},                /* NUL after the lead byte stops it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp = 0;
        size_t len = le_utf8_next(cases[i].s, cases[i].n, &cp);
        assert_int_equal(len, cases[i].len);
        if (len)
            assert_int_equal(cp, cases[i].cp);
    }
    assert_true(le_utf8_wellformed(0x20ac, 3));
    assert_false(le_utf8_wellformed(0x20, 2));
    assert_false(le_utf8_wellformed(0xd800, 3));
    assert_false(le_utf8_wellformed(0x110000, 4));
}

static void utf8_encode_should_round_trip_every_scalar_value(void **state) {
    (void)state;
    for (uint32_t cp = 0; cp <= 0x10ffff; cp += cp < 0x800 ? 1 : 7) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char b[4];
        int n = le_utf8_encode(cp, b);
        uint32_t back;
        assert_int_equal(le_utf8_next(b, (size_t)n, &back), (size_t)n);
        assert_int_equal(back, cp);
        assert_true(le_utf8_wellformed(back, (size_t)n));
    }
}

static void py_space_should_be_pythons_isspace(void **state) {
    (void)state;
    /* str.isspace() is true for exactly these below U+3001 (Python 3.11) */
    static const uint32_t ws[] = {0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
                                  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
                                  0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
    size_t k = 0;
    for (uint32_t cp = 0; cp <= 0x3000; cp++) {
        int want = k < sizeof ws / sizeof ws[0] && ws[k] == cp;
        k += (size_t)want;
        assert_int_equal(le_py_space(cp), want);
    }
    assert_int_equal(le_py_space_len("\xe2\x80\xaf!", 4), 3);
    assert_int_equal(le_py_space_len("\xc2\xa0", 2), 2);
    assert_int_equal(le_py_space_len("\xc0\xa0", 2), 0); /* overlong space */
    assert_int_equal(le_py_space_len("\xc2", 1), 0);
    assert_true(le_py_space_byte('\x1f'));
    assert_false(le_py_space_byte(0x85)); /* a continuation byte, not U+0085 */
}

static void buf_should_grow_and_hand_over_its_string(void **state) {
    (void)state;
    struct le_buf b = {0};
    char *empty = le_buf_take(&b);
    assert_string_equal(empty, "");
    free(empty);
    for (int i = 0; i < 1000; i++)
        le_buf_printf(&b, "%d,", i);
    le_buf_puts(&b, NULL);
    le_buf_put(&b, "end", 3);
    assert_false(b.oom);
    assert_int_equal(b.n, strlen(b.p));
    assert_string_equal(b.p + b.n - 7, "999,end");
    char *s = le_buf_take(&b);
    assert_null(b.p);
    assert_int_equal(strncmp(s, "0,1,2,", 6), 0);
    free(s);
}

static void read_file_and_mkdirs_should_work_and_name_the_path(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    assert_int_equal(le_mkdirs(path), LE_OK);
    assert_int_equal(le_mkdirs(path), LE_OK); /* existing: fine */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    char *buf;
    size_t n;
    assert_int_equal(le_read_file(path, &buf, &n), LE_EIO); /* a directory */
    assert_non_null(strstr(le_err_msg(), path));
    snprintf(path, sizeof path, "%s/a/f", dir);
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(le_test_write_file(path, big, sizeof big), 0);
    assert_int_equal(le_read_file(path, &buf, &n), LE_OK);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(buf, big, n);
    assert_int_equal(buf[n], 0);
    free(buf);
    snprintf(path, sizeof path, "%s/a/f/g", dir); /* a file in the way */
    assert_int_equal(le_mkdirs(path), LE_EIO);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(le_read_file(path, &buf, &n), LE_EIO);
    assert_non_null(strstr(le_err_msg(), "missing"));
    le_test_rmdir(dir);
    free(dir);
}

static void splitmix64_should_give_the_reference_stream(void **state) {
    (void)state;
    /* the first two outputs for seed 1234567, as a Python transcription of
     * Vigna's splitmix64.c computes them */
    uint64_t s = 1234567;
    assert_true(le_splitmix64(&s) == 6457827717110365317ull);
    assert_true(le_splitmix64(&s) == 3203168211198807973ull);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_next_should_decode_by_structure_and_refuse_broken_sequences),
        cmocka_unit_test(utf8_encode_should_round_trip_every_scalar_value),
        cmocka_unit_test(py_space_should_be_pythons_isspace),
        cmocka_unit_test(buf_should_grow_and_hand_over_its_string),
        cmocka_unit_test(read_file_and_mkdirs_should_work_and_name_the_path),
        cmocka_unit_test(splitmix64_should_give_the_reference_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
