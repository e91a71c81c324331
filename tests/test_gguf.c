/*
 * test_gguf: the GGUF reader and writer (engine/format/gguf.c).
 *
 * - Oracle models (golden part, skipped without ../shared/oracle): metadata of
 *   README §2, the tensor table of models/tensor_types.tsv, the vocab of
 *   oracle-a.vocab.tsv; and the writer re-creating every oracle model file
 *   byte for byte from its reader (proof that we write gguf-py's layout).
 * - Writer -> reader round trip of every value type and array type.
 * - Malformed files built by hand here (independently of the writer): every
 *   truncation of a small file, bad magic/version, absurd counts and shapes,
 *   bad offsets, unknown types, strings past the end... each must give
 *   LE_EFORMAT (LE_EUNSUP for versions and nested arrays) with a message.
 */
// ctest-labels: unit golden
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_gguf.h"
#include "le_test.h"
#include "le_types.h" /* le_type_get: cross-check of the type sizes */

#include <dirent.h> /* opendir: check no partial files are left */
#include <glob.h>   /* the oracle's model files */
#include <inttypes.h>
#include <signal.h>       /* SIGXFSZ */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>      /* strcasecmp */
#include <sys/resource.h> /* RLIMIT_FSIZE: a "full disk" for one child */
#include <sys/stat.h> /* mkdir */
#include <sys/wait.h>
#include <unistd.h>

/* ---- a byte builder for hand-made files ---- */

struct bb {
    uint8_t *p;
    size_t n, cap;
};

static void bb_put(struct bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u32(struct bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(struct bb *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_u8(struct bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_str(struct bb *b, const char *s) {
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}
static void bb_pad(struct bb *b, size_t a) {
    while (b->n % a)
        bb_u8(b, 0);
}

/* Field offsets of the small file, so tests can corrupt one field. */
struct small {
    struct bb b;
    size_t kv_start[8], n_kv;
    size_t bool_val, arr_str_len0, arr_bool_elem1, arr_i32_count, align_val, str_len;
    size_t t_start[3], t_ndims[3], t_ne0[3], t_ne1[3], t_type[3], t_off[3];
    size_t infos_end, data_start, t_data_end[3];
};

static void small_kv(struct small *s, const char *key, uint32_t type) {
    s->kv_start[s->n_kv++] = s->b.n;
    bb_str(&s->b, key);
    bb_u32(&s->b, type);
}

static void small_tensor(struct small *s, int i, const char *name, uint32_t type, int nd,
                         uint64_t ne0, uint64_t ne1, uint64_t off) {
    struct bb *b = &s->b;
    s->t_start[i] = b->n;
    bb_str(b, name);
    s->t_ndims[i] = b->n;
    bb_u32(b, (uint32_t)nd);
    s->t_ne0[i] = b->n;
    bb_u64(b, ne0);
    s->t_ne1[i] = b->n;
    if (nd > 1)
        bb_u64(b, ne1);
    s->t_type[i] = b->n;
    bb_u32(b, type);
    s->t_off[i] = b->n;
    bb_u64(b, off);
}

/* A valid v3 file: 7 keys, tensors a (f32 8x2), b (q4_0 32x2), c (f16 4);
 * it ends right after c's data so that every strict prefix is invalid. */
static void small_build(struct small *s) {
    memset(s, 0, sizeof *s);
    struct bb *b = &s->b;
    bb_put(b, "GGUF", 4);
    bb_u32(b, 3);
    bb_u64(b, 3);
    bb_u64(b, 7);
    small_kv(s, "general.architecture", LE_GGUF_STRING);
    s->str_len = b->n;
    bb_str(b, "llama");
    small_kv(s, "general.alignment", LE_GGUF_U32);
    s->align_val = b->n;
    bb_u32(b, 32);
    small_kv(s, "test.u8", LE_GGUF_U8);
    bb_u8(b, 200);
    small_kv(s, "test.bool", LE_GGUF_BOOL);
    s->bool_val = b->n;
    bb_u8(b, 1);
    small_kv(s, "test.arr_str", LE_GGUF_ARRAY);
    bb_u32(b, LE_GGUF_STRING);
    bb_u64(b, 2);
    s->arr_str_len0 = b->n;
    bb_str(b, "a");
    bb_str(b, "bc");
    small_kv(s, "test.arr_i32", LE_GGUF_ARRAY);
    bb_u32(b, LE_GGUF_I32);
    s->arr_i32_count = b->n;
    bb_u64(b, 3);
    for (int32_t v = 1; v <= 3; v++)
        bb_put(b, &v, 4);
    small_kv(s, "test.arr_bool", LE_GGUF_ARRAY);
    bb_u32(b, LE_GGUF_BOOL);
    bb_u64(b, 2);
    bb_u8(b, 0);
    s->arr_bool_elem1 = b->n;
    bb_u8(b, 1);
    small_tensor(s, 0, "a", 0, 2, 8, 2, 0);
    small_tensor(s, 1, "b", 2, 2, 32, 2, 64);
    small_tensor(s, 2, "c", 1, 1, 4, 1, 128);
    s->infos_end = b->n;
    bb_pad(b, 32);
    s->data_start = b->n;
    for (int i = 0; i < 64; i++)
        bb_u8(b, (uint8_t)i);
    s->t_data_end[0] = b->n;
    for (int i = 0; i < 36 + 28; i++) /* q4_0: 2 blocks of 18 bytes, then padding */
        bb_u8(b, (uint8_t)(i + 100));
    s->t_data_end[1] = s->data_start + 64 + 36;
    for (int i = 0; i < 8; i++)
        bb_u8(b, (uint8_t)(i + 200));
    s->t_data_end[2] = b->n;
}

static void poke32(struct small *s, size_t at, uint32_t v) { memcpy(s->b.p + at, &v, 4); }
static void poke64(struct small *s, size_t at, uint64_t v) { memcpy(s->b.p + at, &v, 8); }

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", le_test_dir(), name);
    return buf;
}

/* Writes n bytes as a file and opens it; returns the open code (and closes). */
static int open_bytes(const void *p, size_t n) {
    char path[4096];
    tmp_path(path, sizeof path, "t.gguf");
    assert_int_equal(le_test_write_file(path, p, n), 0);
    struct le_gguf *g = NULL;
    le_err_clear();
    int rc = le_gguf_open(&g, path);
    if (rc == 0)
        le_gguf_close(g);
    else
        assert_null(g);
    return rc;
}

/* Expects code rc and a message containing want (if not NULL). */
static void expect_err(struct small *s, size_t n, int rc, const char *want) {
    int got = open_bytes(s->b.p, n);
    const char *msg = le_err_msg();
    if (got != rc || !msg[0] || (want && !strstr(msg, want)))
        fail_msg("expected %d containing '%s', got %d: '%s'", rc, want ? want : "", got, msg);
}

/* ---- hand-made files ---- */

static void gguf_open_should_read_a_small_valid_file(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    char path[4096];
    tmp_path(path, sizeof path, "small.gguf");
    assert_int_equal(le_test_write_file(path, s.b.p, s.b.n), 0);
    struct le_gguf *g;
    assert_int_equal(le_gguf_open(&g, path), 0);
    assert_int_equal(le_gguf_n_kv(g), 7);
    assert_int_equal(le_gguf_n_tensors(g), 3);
    assert_int_equal(le_gguf_alignment(g), 32);
    assert_int_equal(le_gguf_data_offset(g), s.data_start);
    uint32_t u;
    assert_int_equal(le_gguf_get_u32(g, "test.u8", &u), 0);
    assert_int_equal(u, 200);
    const char *str;
    uint64_t len;
    assert_int_equal(le_gguf_get_arr_str(g, "test.arr_str", 1, &str, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(str, "bc", 2);
    const struct le_gguf_tensor *t = le_gguf_find_tensor(g, "b");
    assert_non_null(t);
    assert_int_equal(t->type, 2);
    assert_int_equal(t->nbytes, 36);
    assert_int_equal(((const uint8_t *)t->data)[0], 100);
    t = le_gguf_find_tensor(g, "c");
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[1], 1);
    assert_int_equal(((const uint8_t *)t->data)[7], 207);
    le_gguf_close(g);
    free(s.b.p);
}

static void gguf_open_should_reject_every_truncation_of_a_small_file(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    assert_int_equal(open_bytes(s.b.p, s.b.n), 0);
    for (size_t n = 0; n < s.b.n; n++) {
        int rc = open_bytes(s.b.p, n);
        if (rc != LE_EFORMAT || !le_err_msg()[0])
            fail_msg("prefix of %zu bytes: rc %d, '%s'", n, rc, le_err_msg());
    }
    /* The messages at section boundaries say what is cut. */
    expect_err(&s, s.kv_start[1] + 3, LE_EFORMAT, "key/value count 7 is impossible");
    expect_err(&s, s.kv_start[6] + 3, LE_EFORMAT, "truncated file: key/value 6: key length");
    expect_err(&s, s.arr_str_len0 + 9, LE_EFORMAT, "key 'test.arr_str': array of 2 strings");
    expect_err(&s, s.t_type[2], LE_EFORMAT, "truncated file: tensor 'c': type");
    expect_err(&s, s.t_data_end[2] - 1, LE_EFORMAT, "extends past end of file");
    free(s.b.p);
}

static void gguf_open_should_reject_bad_magic_and_versions(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    s.b.p[0] = 'X';
    expect_err(&s, s.b.n, LE_EFORMAT, "not a GGUF file");
    s.b.p[0] = 'G';
    poke32(&s, 4, 1);
    expect_err(&s, s.b.n, LE_EUNSUP, "version 1");
    poke32(&s, 4, 0);
    expect_err(&s, s.b.n, LE_EUNSUP, "version 0");
    poke32(&s, 4, 4);
    expect_err(&s, s.b.n, LE_EUNSUP, "version 4");
    poke32(&s, 4, 0x03000000u);
    expect_err(&s, s.b.n, LE_EUNSUP, "big-endian");
    poke32(&s, 4, 2); /* v2 has the same layout */
    assert_int_equal(open_bytes(s.b.p, s.b.n), 0);
    free(s.b.p);
}

static void gguf_open_should_reject_absurd_counts(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    poke64(&s, 8, 1ull << 62);
    expect_err(&s, s.b.n, LE_EFORMAT, "tensor count");
    poke64(&s, 8, 4); /* one more than present: the data is read as an info */
    expect_err(&s, s.b.n, LE_EFORMAT, NULL);
    poke64(&s, 8, 3);
    poke64(&s, 16, 1ull << 62);
    expect_err(&s, s.b.n, LE_EFORMAT, "key/value count");
    poke64(&s, 16, UINT64_MAX);
    expect_err(&s, s.b.n, LE_EFORMAT, "key/value count");
    poke64(&s, 16, 7);
    poke64(&s, s.arr_i32_count, 1ull << 61);
    expect_err(&s, s.b.n, LE_EFORMAT, "test.arr_i32");
    poke64(&s, s.arr_i32_count, UINT64_MAX);
    expect_err(&s, s.b.n, LE_EFORMAT, "test.arr_i32");
    poke64(&s, s.arr_i32_count, 3);
    poke64(&s, s.arr_str_len0 - 8, 1ull << 62); /* the string array's count */
    expect_err(&s, s.b.n, LE_EFORMAT, "test.arr_str");
    free(s.b.p);
}

static void gguf_open_should_reject_absurd_dimensions(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    poke64(&s, s.t_ne0[0], 1ull << 40);
    poke64(&s, s.t_ne1[0], 1ull << 40);
    expect_err(&s, s.b.n, LE_EFORMAT, "overflow");
    poke64(&s, s.t_ne0[0], 1ull << 31); /* 2^62 elements: the byte size overflows */
    poke64(&s, s.t_ne1[0], 1ull << 31);
    expect_err(&s, s.b.n, LE_EFORMAT, "tensor 'a'");
    poke64(&s, s.t_ne0[0], 1ull << 20); /* fits in u64 but not in the file */
    poke64(&s, s.t_ne1[0], 2);
    expect_err(&s, s.b.n, LE_EFORMAT, "extends past end of file");
    poke64(&s, s.t_ne0[0], UINT64_MAX);
    expect_err(&s, s.b.n, LE_EFORMAT, "tensor 'a'");
    poke64(&s, s.t_ne0[0], 0);
    expect_err(&s, s.b.n, LE_EFORMAT, "ne[0]");
    poke64(&s, s.t_ne0[0], 8);
    poke32(&s, s.t_ndims[0], 5);
    expect_err(&s, s.b.n, LE_EFORMAT, "n_dims 5");
    poke32(&s, s.t_ndims[0], 0);
    expect_err(&s, s.b.n, LE_EFORMAT, "n_dims 0");
    poke32(&s, s.t_ndims[0], 2);
    poke64(&s, s.t_ne0[1], 16); /* q4_0 rows must be whole blocks of 32 */
    expect_err(&s, s.b.n, LE_EFORMAT, "block size");
    free(s.b.p);
}

static void gguf_open_should_reject_bad_offsets(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    poke64(&s, s.t_off[2], 160);
    expect_err(&s, s.b.n, LE_EFORMAT, "tensor 'c': data (offset 160");
    poke64(&s, s.t_off[2], UINT64_MAX - 31);
    expect_err(&s, s.b.n, LE_EFORMAT, "extends past end of file");
    poke64(&s, s.t_off[2], 130);
    expect_err(&s, s.b.n, LE_EFORMAT, "not a multiple of the alignment");
    poke64(&s, s.t_off[2], 128);
    poke32(&s, s.align_val, 0);
    expect_err(&s, s.b.n, LE_EFORMAT, "power of two");
    poke32(&s, s.align_val, 48);
    expect_err(&s, s.b.n, LE_EFORMAT, "power of two");
    poke32(&s, s.align_val, 64); /* valid; the data section may move, cutting c's data */
    if (s.data_start % 64 == 0)
        assert_int_equal(open_bytes(s.b.p, s.b.n), 0);
    else
        expect_err(&s, s.b.n, LE_EFORMAT, "extends past end of file");
    poke32(&s, s.align_val, 32);
    poke32(&s, s.kv_start[1] + 8 + 17, LE_GGUF_I32); /* alignment as i32 32 still fits u32 */
    assert_int_equal(open_bytes(s.b.p, s.b.n), 0);
    poke32(&s, s.kv_start[1] + 8 + 17, LE_GGUF_F32);
    expect_err(&s, s.b.n, LE_EFORMAT, "general.alignment");
    free(s.b.p);
}

static void gguf_open_should_reject_unknown_types(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    const uint32_t bad[] = {4, 5, 31, 33, 36, 38, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        poke32(&s, s.t_type[0], bad[i]);
        char want[64];
        snprintf(want, sizeof want, "tensor 'a' has unknown type %" PRIu32, bad[i]);
        expect_err(&s, s.b.n, LE_EFORMAT, want);
    }
    poke32(&s, s.t_type[0], 0);
    poke32(&s, s.kv_start[2] + 8 + 7, 13); /* test.u8's value type */
    expect_err(&s, s.b.n, LE_EFORMAT, "unknown value type 13");
    poke32(&s, s.kv_start[2] + 8 + 7, LE_GGUF_U8);
    poke32(&s, s.arr_str_len0 - 12, 13); /* string array's element type */
    expect_err(&s, s.b.n, LE_EFORMAT, "unknown array element type");
    poke32(&s, s.arr_str_len0 - 12, LE_GGUF_ARRAY);
    expect_err(&s, s.b.n, LE_EUNSUP, "nested arrays");
    free(s.b.p);
}

static void gguf_open_should_reject_bad_strings_and_values(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    poke64(&s, s.str_len, 1ull << 40);
    expect_err(&s, s.b.n, LE_EFORMAT, "string value");
    poke64(&s, s.str_len, UINT64_MAX);
    expect_err(&s, s.b.n, LE_EFORMAT, "string value");
    poke64(&s, s.str_len, 5);
    poke64(&s, s.arr_str_len0, UINT64_MAX - 3);
    expect_err(&s, s.b.n, LE_EFORMAT, "string array element");
    poke64(&s, s.arr_str_len0, 1);
    poke64(&s, s.kv_start[0], UINT64_MAX); /* key length */
    expect_err(&s, s.b.n, LE_EFORMAT, "key length");
    poke64(&s, s.kv_start[0], 0);
    expect_err(&s, s.b.n, LE_EFORMAT, "key length 0");
    poke64(&s, s.kv_start[0], 20);
    poke64(&s, s.t_start[1], 1ull << 62); /* tensor name length */
    expect_err(&s, s.b.n, LE_EFORMAT, "name length");
    poke64(&s, s.t_start[1], 1);
    s.b.p[s.bool_val] = 2;
    expect_err(&s, s.b.n, LE_EFORMAT, "bool value 2");
    s.b.p[s.bool_val] = 1;
    s.b.p[s.arr_bool_elem1] = 7;
    expect_err(&s, s.b.n, LE_EFORMAT, "test.arr_bool");
    s.b.p[s.arr_bool_elem1] = 1;
    memcpy(s.b.p + s.kv_start[3] + 8, "test.u8\0\0", 9); /* "test.bool" -> "test.u8" + NULs */
    expect_err(&s, s.b.n, LE_EFORMAT, "NUL");
    memcpy(s.b.p + s.kv_start[3] + 8, "test.u8xx", 9);
    assert_int_equal(open_bytes(s.b.p, s.b.n), 0);
    poke64(&s, s.kv_start[3], 7); /* shorten the key: "test.u8" twice, then garbage */
    expect_err(&s, s.b.n, LE_EFORMAT, NULL);
    free(s.b.p);
}

static void gguf_open_should_reject_duplicates(void **state) {
    (void)state;
    struct small s;
    small_build(&s);
    memcpy(s.b.p + s.kv_start[3] + 8, "test.u8ab", 9); /* a same-length key is fine */
    assert_int_equal(open_bytes(s.b.p, s.b.n), 0);
    /* A repeated key: a file of its own (no tensors). */
    struct bb b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 2);
    bb_str(&b, "k");
    bb_u32(&b, LE_GGUF_U8);
    bb_u8(&b, 1);
    bb_str(&b, "k");
    bb_u32(&b, LE_GGUF_U8);
    bb_u8(&b, 2);
    struct small d = {.b = b};
    expect_err(&d, b.n, LE_EFORMAT, "duplicate key 'k'");
    free(b.p);
    s.b.p[s.t_start[1] + 8] = 'a'; /* tensor "b" renamed "a" */
    expect_err(&s, s.b.n, LE_EFORMAT, "duplicate tensor name 'a'");
    free(s.b.p);
}

static void gguf_open_should_give_clean_errors_for_empty_files_and_directories(void **state) {
    (void)state;
    struct le_gguf *g = (struct le_gguf *)&g;
    char path[4096];
    tmp_path(path, sizeof path, "empty.gguf");
    assert_int_equal(le_test_write_file(path, "", 0), 0);
    assert_int_equal(le_gguf_open(&g, path), LE_EFORMAT);
    assert_null(g);
    assert_non_null(strstr(le_err_msg(), "too small"));
    assert_int_equal(le_gguf_open(&g, le_test_dir()), LE_EIO);
    assert_non_null(strstr(le_err_msg(), "directory"));
    tmp_path(path, sizeof path, "absent.gguf");
    assert_int_equal(le_gguf_open(&g, path), LE_ENOTFOUND);
    assert_non_null(strstr(le_err_msg(), "absent.gguf"));
    assert_int_equal(open_bytes("GGUF\3\0\0\0", 8), LE_EFORMAT);
    assert_int_equal(le_gguf_open(&g, "/dev/null"), LE_EIO);
    le_gguf_close(NULL);
}

/* ---- writer round trip ---- */

static void write_all_types(struct le_gguf_writer *w) {
    uint8_t u8 = 250, b1 = 1;
    int8_t i8 = -100;
    uint16_t u16 = 65000;
    int16_t i16 = -32000;
    int64_t i64 = INT64_MIN + 5;
    assert_int_equal(le_gguf_set_val(w, "v.u8", LE_GGUF_U8, &u8), 0);
    assert_int_equal(le_gguf_set_val(w, "v.i8", LE_GGUF_I8, &i8), 0);
    assert_int_equal(le_gguf_set_val(w, "v.u16", LE_GGUF_U16, &u16), 0);
    assert_int_equal(le_gguf_set_val(w, "v.i16", LE_GGUF_I16, &i16), 0);
    assert_int_equal(le_gguf_set_u32(w, "v.u32", 4000000000u), 0);
    assert_int_equal(le_gguf_set_i32(w, "v.i32", -2000000000), 0);
    assert_int_equal(le_gguf_set_f32(w, "v.f32", 1e-5f), 0);
    assert_int_equal(le_gguf_set_bool(w, "v.bool", 1), 0);
    assert_int_equal(le_gguf_set_val(w, "v.bool0", LE_GGUF_BOOL, &b1), 0);
    assert_int_equal(le_gguf_set_bool(w, "v.bool0", 0), 0); /* replaced in place */
    assert_int_equal(le_gguf_set_str(w, "v.str", "h\xc3\xa9llo"), 0);
    assert_int_equal(le_gguf_set_u64(w, "v.u64", UINT64_MAX - 1), 0);
    assert_int_equal(le_gguf_set_val(w, "v.i64", LE_GGUF_I64, &i64), 0);
    assert_int_equal(le_gguf_set_f64(w, "v.f64", 0.1), 0);
    assert_int_equal(le_gguf_set_str(w, "v.empty", ""), 0);
    /* Arrays of every scalar element type: element k has value k+1 in its type. */
    static const int et[] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12};
    static const int esz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    for (size_t k = 0; k < sizeof et / sizeof et[0]; k++) {
        uint8_t buf[3 * 8];
        for (int j = 0; j < 3; j++) {
            uint8_t *p = buf + j * esz[et[k]];
            float f = (float)(j + 1);
            double d = j + 1;
            uint64_t v = et[k] == LE_GGUF_BOOL ? (uint64_t)(j & 1) : (uint64_t)(j + 1);
            if (et[k] == LE_GGUF_F32)
                memcpy(p, &f, 4);
            else if (et[k] == LE_GGUF_F64)
                memcpy(p, &d, 8);
            else
                memcpy(p, &v, (size_t)esz[et[k]]);
        }
        char key[32];
        snprintf(key, sizeof key, "a.%d", et[k]);
        assert_int_equal(le_gguf_set_arr(w, key, et[k], 3, buf), 0);
    }
    assert_int_equal(le_gguf_set_arr(w, "a.empty", LE_GGUF_I32, 0, NULL), 0);
    const char *strs[] = {"", "x", "\xe2\x96\x81the", "<0x0A>"};
    assert_int_equal(le_gguf_set_arr_str(w, "a.str", 4, strs), 0);
}

static void check_all_types(const struct le_gguf *g) {
    uint32_t u;
    int64_t i;
    uint64_t u64;
    float f;
    double d;
    int b;
    assert_int_equal(le_gguf_kv_type(g, 0), LE_GGUF_U8);
    assert_string_equal(le_gguf_kv_key(g, 8), "v.bool0");
    assert_int_equal(le_gguf_get_u32(g, "v.u8", &u), 0), assert_int_equal(u, 250);
    assert_int_equal(le_gguf_get_i64(g, "v.i8", &i), 0), assert_int_equal(i, -100);
    assert_int_equal(le_gguf_get_u32(g, "v.i8", &u), LE_EFORMAT); /* negative */
    assert_int_equal(le_gguf_get_u32(g, "v.u16", &u), 0), assert_int_equal(u, 65000);
    assert_int_equal(le_gguf_get_i64(g, "v.i16", &i), 0), assert_int_equal(i, -32000);
    assert_int_equal(le_gguf_get_u32(g, "v.u32", &u), 0), assert_int_equal(u, 4000000000u);
    assert_int_equal(le_gguf_get_i64(g, "v.i32", &i), 0), assert_int_equal(i, -2000000000);
    assert_int_equal(le_gguf_get_f32(g, "v.f32", &f), 0), assert_true(f == 1e-5f);
    assert_int_equal(le_gguf_get_bool(g, "v.bool", &b), 0), assert_int_equal(b, 1);
    assert_int_equal(le_gguf_get_bool(g, "v.bool0", &b), 0), assert_int_equal(b, 0);
    assert_int_equal(le_gguf_get_u64(g, "v.u64", &u64), 0), assert_true(u64 == UINT64_MAX - 1);
    assert_int_equal(le_gguf_get_i64(g, "v.u64", &i), LE_EFORMAT); /* does not fit */
    assert_int_equal(le_gguf_get_u32(g, "v.u64", &u), LE_EFORMAT);
    assert_int_equal(le_gguf_get_i64(g, "v.i64", &i), 0), assert_true(i == INT64_MIN + 5);
    assert_int_equal(le_gguf_get_f64(g, "v.f64", &d), 0), assert_true(d == 0.1);
    assert_int_equal(le_gguf_get_f32(g, "v.f64", &f), 0), assert_true(f == 0.1f);
    assert_int_equal(le_gguf_get_f32(g, "v.u32", &f), LE_EFORMAT);
    assert_int_equal(le_gguf_get_u32(g, "v.str", &u), LE_EFORMAT);
    assert_non_null(strstr(le_err_msg(), "v.str"));
    assert_int_equal(le_gguf_get_bool(g, "v.u8", &b), LE_EFORMAT);
    assert_int_equal(le_gguf_get_u32(g, "no.such.key", &u), LE_ENOTFOUND);
    const char *s;
    uint64_t len;
    assert_int_equal(le_gguf_get_str(g, "v.str", &s, &len), 0);
    assert_int_equal(len, 6), assert_memory_equal(s, "h\xc3\xa9llo", 6);
    assert_int_equal(le_gguf_get_str(g, "v.empty", &s, &len), 0), assert_int_equal(len, 0);
    assert_int_equal(le_gguf_get_str(g, "a.str", &s, &len), LE_EFORMAT);
    int etype;
    uint64_t n;
    const void *data;
    assert_int_equal(le_gguf_get_arr(g, "a.5", &etype, &n, &data), 0);
    int32_t i32s[3];
    memcpy(i32s, data, sizeof i32s);
    assert_int_equal(etype, LE_GGUF_I32), assert_int_equal(n, 3), assert_int_equal(i32s[2], 3);
    assert_int_equal(le_gguf_get_arr(g, "a.12", &etype, &n, &data), 0);
    memcpy(&d, (const char *)data + 16, 8);
    assert_int_equal(etype, LE_GGUF_F64), assert_true(d == 3.0);
    assert_int_equal(le_gguf_get_arr(g, "a.7", &etype, &n, &data), 0);
    assert_int_equal(((const uint8_t *)data)[1], 1);
    assert_int_equal(le_gguf_get_arr(g, "a.11", &etype, &n, &data), 0);
    assert_int_equal(etype, LE_GGUF_I64);
    assert_int_equal(le_gguf_get_arr(g, "a.empty", &etype, &n, &data), 0), assert_int_equal(n, 0);
    assert_int_equal(le_gguf_get_arr(g, "a.str", &etype, &n, NULL), 0);
    assert_int_equal(etype, LE_GGUF_STRING), assert_int_equal(n, 4);
    assert_int_equal(le_gguf_get_arr_str(g, "a.str", 2, &s, &len), 0);
    assert_int_equal(len, 6), assert_memory_equal(s, "\xe2\x96\x81the", 6);
    assert_int_equal(le_gguf_get_arr_str(g, "a.str", 0, &s, &len), 0), assert_int_equal(len, 0);
    assert_int_equal(le_gguf_get_arr_str(g, "a.str", 4, &s, &len), LE_EINVAL);
    assert_int_equal(le_gguf_get_arr_str(g, "a.5", 0, &s, &len), LE_EFORMAT);
    assert_int_equal(le_gguf_get_arr(g, "v.u8", &etype, &n, &data), LE_EFORMAT);
}

static void gguf_writer_should_round_trip_every_value_type(void **state) {
    (void)state;
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), 0);
    write_all_types(w);
    char path[4096];
    tmp_path(path, sizeof path, "kv.gguf");
    assert_int_equal(le_gguf_write(w, path), 0);
    le_gguf_writer_free(w);
    struct le_gguf *g;
    assert_int_equal(le_gguf_open(&g, path), 0);
    assert_int_equal(le_gguf_version(g), 3);
    assert_int_equal(le_gguf_n_kv(g), 14 + 11 + 2);
    assert_int_equal(le_gguf_n_tensors(g), 0);
    check_all_types(g);
    /* copy_kv re-creates every value verbatim. */
    assert_int_equal(le_gguf_writer_new(&w), 0);
    for (int64_t i = 0; i < le_gguf_n_kv(g); i++)
        assert_int_equal(le_gguf_writer_copy_kv(w, g, i), 0);
    char path2[4096];
    tmp_path(path2, sizeof path2, "kv2.gguf");
    assert_int_equal(le_gguf_write(w, path2), 0);
    le_gguf_writer_free(w);
    size_t n1, n2;
    void *a = le_test_read_file(path, &n1), *b = le_test_read_file(path2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    le_gguf_close(g);
}

static void gguf_writer_should_round_trip_tensors_with_alignment(void **state) {
    (void)state;
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), 0);
    assert_int_equal(le_gguf_set_u32(w, "general.alignment", 64), 0);
    static uint8_t buf[4 * 256 * 3];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    const int64_t ne_a[] = {5, 3}, ne_b[] = {256, 2}, ne_c[] = {32, 1, 2, 3}, ne_d[] = {7};
    assert_int_equal(le_gguf_add_tensor(w, "a", 0, 2, ne_a, buf), 0);
    assert_int_equal(le_gguf_add_tensor(w, "b.q4_K", 12, 2, ne_b, buf), 0);
    assert_int_equal(le_gguf_add_tensor(w, "c.q8_0", 8, 4, ne_c, buf), 0);
    assert_int_equal(le_gguf_add_tensor(w, "d.bf16", 30, 1, ne_d, buf), 0);
    /* Writer input errors. */
    assert_int_equal(le_gguf_add_tensor(w, "a", 0, 2, ne_a, buf), LE_EINVAL);
    assert_int_equal(le_gguf_add_tensor(w, "e", 2, 1, ne_d, buf), LE_EINVAL); /* 7 % 32 */
    assert_int_equal(le_gguf_add_tensor(w, "e", 4, 1, ne_a, buf), LE_EINVAL); /* removed type */
    assert_int_equal(le_gguf_add_tensor(w, "e", 0, 5, ne_c, buf), LE_EINVAL);
    const int64_t ne_bad[] = {4, 0};
    assert_int_equal(le_gguf_add_tensor(w, "e", 0, 2, ne_bad, buf), LE_EINVAL);
    char path[4096];
    tmp_path(path, sizeof path, "t.gguf");
    assert_int_equal(le_gguf_write(w, path), 0);
    le_gguf_writer_free(w);
    struct le_gguf *g;
    assert_int_equal(le_gguf_open(&g, path), 0);
    assert_int_equal(le_gguf_alignment(g), 64);
    assert_int_equal(le_gguf_data_offset(g) % 64, 0);
    assert_int_equal(le_gguf_n_tensors(g), 4);
    const uint64_t nbytes[] = {60, 2 * 144, 6 * 34, 14};
    uint64_t off = 0;
    for (int i = 0; i < 4; i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        assert_int_equal(t->nbytes, nbytes[i]);
        assert_int_equal(t->offset, off);
        assert_memory_equal(t->data, buf, nbytes[i]);
        assert_int_equal(((uintptr_t)t->data) % 64, 0);
        off = (off + nbytes[i] + 63) / 64 * 64;
    }
    /* gguf-py's layout: the last tensor is padded too. */
    assert_int_equal(le_gguf_file_size(g), le_gguf_data_offset(g) + off);
    const struct le_gguf_tensor *t = le_gguf_find_tensor(g, "c.q8_0");
    assert_int_equal(t->n_dims, 4);
    assert_int_equal(t->ne[3], 3);
    assert_null(le_gguf_find_tensor(g, "zzz"));
    assert_null(le_gguf_tensor(g, 4));
    le_gguf_close(g);
}

static int dir_is_empty_but(const char *dir, const char *keep) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, keep))
            n++;
    if (d)
        closedir(d);
    return n == 0;
}

static void gguf_writer_should_fail_cleanly_and_leave_no_partial_file(void **state) {
    (void)state;
    char sub[2048], path[4096];
    tmp_path(sub, sizeof sub, "wdir");
    assert_int_equal(mkdir(sub, 0755), 0);
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), 0);
    static float big[1 << 16];
    const int64_t ne[] = {1 << 16};
    assert_int_equal(le_gguf_add_tensor(w, "big", 0, 1, ne, big), 0);
    snprintf(path, sizeof path, "%s/no/such/dir/x.gguf", sub);
    assert_int_equal(le_gguf_write(w, path), LE_EIO);
    assert_non_null(strstr(le_err_msg(), "x.gguf"));
    assert_int_equal(le_gguf_write(w, sub), LE_EIO); /* rename over a directory */
    snprintf(path, sizeof path, "%s.tmp.%ld", sub, (long)getpid());
    assert_int_equal(access(path, F_OK), -1); /* the temporary file is gone */
    assert_true(dir_is_empty_but(sub, ""));
    /* A "full disk": a child limited to 4 KiB files. */
    snprintf(path, sizeof path, "%s/full.gguf", sub);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        int rc = le_gguf_write(w, path);
        _exit(rc == LE_EIO && strstr(le_err_msg(), "write failed") ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(dir_is_empty_but(sub, ""));
    /* And it works without the limit. */
    assert_int_equal(le_gguf_write(w, path), 0);
    assert_true(dir_is_empty_but(sub, "full.gguf"));
    assert_int_equal(le_gguf_set_str(w, "general.alignment", "x"), 0);
    assert_int_equal(le_gguf_write(w, path), LE_EINVAL);
    le_gguf_writer_free(w);
}

/* ---- the oracle's model files ---- */

static void check_oracle_metadata(const struct le_gguf *g) {
    static const struct { const char *key; uint32_t v; } u32s[] = {
        {"llama.embedding_length", 256}, {"llama.block_count", 2},
        {"llama.attention.head_count", 8}, {"llama.attention.head_count_kv", 4},
        {"llama.feed_forward_length", 768}, {"llama.rope.dimension_count", 32},
        {"llama.context_length", 256}, {"llama.vocab_size", 512},
        {"tokenizer.ggml.unknown_token_id", 0}, {"tokenizer.ggml.bos_token_id", 1},
        {"tokenizer.ggml.eos_token_id", 2},
    };
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
        uint32_t v = 12345;
        assert_int_equal(le_gguf_get_u32(g, u32s[i].key, &v), 0);
        assert_int_equal(v, u32s[i].v);
    }
    float f;
    assert_int_equal(le_gguf_get_f32(g, "llama.rope.freq_base", &f), 0);
    assert_true(f == 10000.0f);
    assert_int_equal(le_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), 0);
    assert_true(f == 1e-5f);
    int b;
    assert_int_equal(le_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), 0), assert_int_equal(b, 1);
    assert_int_equal(le_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b), 0), assert_int_equal(b, 0);
    assert_int_equal(le_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b), 0), assert_int_equal(b, 1);
    const char *s;
    uint64_t len;
    assert_int_equal(le_gguf_get_str(g, "general.architecture", &s, &len), 0);
    assert_int_equal(len, 5), assert_memory_equal(s, "llama", 5);
    assert_int_equal(le_gguf_get_str(g, "general.name", &s, &len), 0);
    assert_int_equal(len, 8), assert_memory_equal(s, "oracle-a", 8);
    assert_int_equal(le_gguf_get_str(g, "tokenizer.ggml.model", &s, &len), 0);
    assert_int_equal(len, 5), assert_memory_equal(s, "llama", 5);
    assert_int_equal(le_gguf_version(g), 3);
    assert_int_equal(le_gguf_alignment(g), 32);
    assert_int_equal(le_gguf_n_tensors(g), 21);
}

/* general.file_type per README §2.4. */
static void check_oracle_file_type(const struct le_gguf *g, const char *base) {
    static const struct { const char *suffix; uint32_t ftype; } ft[] = {
        {"-f32.gguf", 0}, {"-f16.gguf", 1}, {"-bf16.gguf", 32}, {"-q8_0.gguf", 7},
        {"-q4_0.gguf", 2}, {"-q4_1.gguf", 3}, {"-q5_0.gguf", 8}, {"-q5_1.gguf", 9},
        {"-q2_k.gguf", 10}, {"-q3_k.gguf", 12}, {"-q4_k.gguf", 15}, {"-q5_k.gguf", 17},
        {"-q6_k.gguf", 18},
    };
    for (size_t i = 0; i < sizeof ft / sizeof ft[0]; i++) {
        if (!strstr(base, ft[i].suffix))
            continue;
        uint32_t v;
        assert_int_equal(le_gguf_get_u32(g, "general.file_type", &v), 0);
        assert_int_equal(v, ft[i].ftype);
        return;
    }
    fail_msg("unexpected oracle model %s", base);
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

/* Every line of oracle-a.vocab.tsv against the token arrays. */
static void check_oracle_vocab(const struct le_gguf *g, const char *tsv) {
    int et_s, et_t;
    uint64_t n, n_s, n_t;
    const void *scores, *types;
    assert_int_equal(le_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n, NULL), 0);
    assert_int_equal(le_gguf_get_arr(g, "tokenizer.ggml.scores", &et_s, &n_s, &scores), 0);
    assert_int_equal(le_gguf_get_arr(g, "tokenizer.ggml.token_type", &et_t, &n_t, &types), 0);
    assert_int_equal(n, 512), assert_int_equal(n_s, 512), assert_int_equal(n_t, 512);
    assert_int_equal(et_s, LE_GGUF_F32), assert_int_equal(et_t, LE_GGUF_I32);
    char *save = NULL, *copy = strdup(tsv);
    int rows = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "id\t", 3) == 0)
            continue;
        char *f[5], *fs = NULL;
        int k = 0;
        for (char *t = strtok_r(line, "\t", &fs); t && k < 5; t = strtok_r(NULL, "\t", &fs))
            f[k++] = t;
        assert_true(k >= 4);
        long id = strtol(f[0], NULL, 10);
        int32_t type;
        float score;
        memcpy(&type, (const char *)types + 4 * id, 4);
        memcpy(&score, (const char *)scores + 4 * id, 4);
        assert_int_equal(type, strtol(f[1], NULL, 10));
        assert_true(score == strtof(f[2], NULL));
        const char *piece;
        uint64_t len;
        assert_int_equal(le_gguf_get_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)id, &piece, &len), 0);
        assert_int_equal(len * 2, strlen(f[3]));
        for (uint64_t j = 0; j < len; j++)
            assert_int_equal((uint8_t)piece[j], hexval(f[3][2 * j]) * 16 + hexval(f[3][2 * j + 1]));
        rows++;
    }
    assert_int_equal(rows, 512);
    free(copy);
}

/* Rows of tensor_types.tsv for this file: type name, ne, bytes. */
static void check_oracle_tensors(const struct le_gguf *g, const char *file, const char *tsv) {
    char *save = NULL, *copy = strdup(tsv);
    int rows = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char fname[128], tname[128], type[32], ne[64];
        unsigned long long bytes;
        if (sscanf(line, "%127s %127s %31s %63s %llu", fname, tname, type, ne, &bytes) != 5 ||
            strcmp(fname, file) != 0)
            continue;
        const struct le_gguf_tensor *t = le_gguf_find_tensor(g, tname);
        if (!t)
            fail_msg("%s: tensor %s missing", file, tname);
        const char *tn;
        assert_int_equal(le_gguf_type_info(t->type, NULL, NULL, &tn), 0);
        if (strcasecmp(tn, type) != 0)
            fail_msg("%s: %s has type %s, expected %s", file, tname, tn, type);
        char got[64];
        if (t->n_dims == 1)
            snprintf(got, sizeof got, "%" PRId64, t->ne[0]);
        else
            snprintf(got, sizeof got, "%" PRId64 "x%" PRId64, t->ne[0], t->ne[1]);
        assert_string_equal(got, ne);
        assert_int_equal(t->nbytes, bytes);
        assert_true(t->offset + t->nbytes <= le_gguf_file_size(g) - le_gguf_data_offset(g));
        rows++;
    }
    assert_int_equal(rows, 21);
    free(copy);
}

/* The writer re-creates the file byte for byte from what the reader gives. */
static void check_rewrite_identical(const struct le_gguf *g, const char *path) {
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), 0);
    for (int64_t i = 0; i < le_gguf_n_kv(g); i++)
        assert_int_equal(le_gguf_writer_copy_kv(w, g, i), 0);
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        assert_int_equal(le_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), 0);
    }
    char out[4096];
    tmp_path(out, sizeof out, "rewrite.gguf");
    assert_int_equal(le_gguf_write(w, out), 0);
    le_gguf_writer_free(w);
    size_t na, nb;
    void *a = le_test_read_file(path, &na), *b = le_test_read_file(out, &nb);
    assert_non_null(a), assert_non_null(b);
    if (na != nb || memcmp(a, b, na) != 0)
        fail_msg("%s: rewritten file differs (%zu vs %zu bytes)", path, na, nb);
    free(a);
    free(b);
    unlink(out);
}

static void gguf_open_should_read_every_oracle_model(void **state) {
    (void)state;
    const char *dir = le_test_oracle();
    if (!dir) {
        printf("skipped: no oracle folder (../shared/oracle or $LE_ORACLE_DIR)\n");
        skip();
    }
    char pat[4096], p2[4096];
    snprintf(pat, sizeof pat, "%s/models/*.gguf", dir);
    size_t n;
    char *vocab = le_test_read_file(le_test_oracle_path(p2, sizeof p2, "models/oracle-a.vocab.tsv"), &n);
    char *types = le_test_read_file(le_test_oracle_path(p2, sizeof p2, "models/tensor_types.tsv"), &n);
    assert_non_null(vocab), assert_non_null(types);
    glob_t gl;
    assert_int_equal(glob(pat, 0, NULL, &gl), 0);
    assert_true(gl.gl_pathc >= 13);
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        struct le_gguf *g;
        if (le_gguf_open(&g, gl.gl_pathv[i]) != 0)
            fail_msg("%s", le_err_msg());
        const char *base = strrchr(gl.gl_pathv[i], '/') + 1;
        check_oracle_metadata(g);
        check_oracle_file_type(g, base);
        check_oracle_vocab(g, vocab);
        check_oracle_tensors(g, base, types);
        check_rewrite_identical(g, gl.gl_pathv[i]);
        le_gguf_close(g);
    }
    globfree(&gl);
    free(vocab);
    free(types);
}

/* A real file cut at every section boundary: after the header, inside and
 * after each key/value, after each tensor info, at the data section, one
 * byte short of each tensor's data end. */
static void gguf_open_should_reject_oracle_file_cut_at_every_section_boundary(void **state) {
    (void)state;
    if (!le_test_oracle()) {
        printf("skipped: no oracle folder (../shared/oracle or $LE_ORACLE_DIR)\n");
        skip();
    }
    char path[4096];
    le_test_oracle_path(path, sizeof path, "models/oracle-a-q2_k.gguf");
    size_t size;
    uint8_t *file = le_test_read_file(path, &size);
    assert_non_null(file);
    struct le_gguf *g;
    assert_int_equal(le_gguf_open(&g, path), 0);
    const struct le_gguf_tensor *t0 = le_gguf_tensor(g, 0);
    const uint8_t *base = (const uint8_t *)t0->data - t0->offset - le_gguf_data_offset(g);
    uint64_t cuts[256];
    size_t nc = 0;
    cuts[nc++] = 16;
    cuts[nc++] = 24;
    uint64_t end = 24;
    for (int64_t i = 0; i < le_gguf_n_kv(g); i++) {
        uint64_t nb;
        const uint8_t *v = le_gguf_kv_data(g, i, &nb);
        cuts[nc++] = end + 8 + strlen(le_gguf_kv_key(g, i)); /* before the type */
        cuts[nc++] = (uint64_t)(v - base) + nb / 2;           /* inside the value */
        end = (uint64_t)(v - base) + nb;
        cuts[nc++] = end;
    }
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        cuts[nc++] = end + 8 + strlen(t->name) + 4;
        end += 8 + strlen(t->name) + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        cuts[nc++] = end - 1;
        cuts[nc++] = end;
    }
    cuts[nc++] = le_gguf_data_offset(g);
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        cuts[nc++] = le_gguf_data_offset(g) + t->offset + t->nbytes - 1;
    }
    assert_true(nc <= sizeof cuts / sizeof cuts[0]);
    le_gguf_close(g);
    for (size_t i = 0; i < nc; i++) {
        assert_true(cuts[i] < size);
        int rc = open_bytes(file, (size_t)cuts[i]);
        if (rc != LE_EFORMAT || !le_err_msg()[0])
            fail_msg("cut at %" PRIu64 ": rc %d, '%s'", cuts[i], rc, le_err_msg());
    }
    free(file);
}

static void gguf_type_info_should_know_ggml_sizes(void **state) {
    (void)state;
    int64_t blck;
    uint64_t size;
    const char *name;
    assert_int_equal(le_gguf_type_info(12, &blck, &size, &name), 0);
    assert_int_equal(blck, 256), assert_int_equal(size, 144), assert_string_equal(name, "q4_K");
    assert_int_equal(le_gguf_type_info(14, &blck, &size, NULL), 0), assert_int_equal(size, 210);
    assert_int_equal(le_gguf_type_info(39, &blck, &size, NULL), 0), assert_int_equal(size, 17);
    assert_int_equal(le_gguf_type_info(30, &blck, &size, NULL), 0), assert_int_equal(size, 2);
    assert_int_equal(le_gguf_type_info(4, NULL, NULL, NULL), LE_EFORMAT);
    assert_int_equal(le_gguf_type_info(40, NULL, NULL, NULL), LE_EFORMAT);
    assert_int_equal(le_gguf_type_info(-1, NULL, NULL, NULL), LE_EFORMAT);
    /* The engine's type table (le_types) agrees wherever it has the type. */
    int n_checked = 0;
    for (int t = 0; t < LE_TYPE_COUNT; t++) {
        const struct le_type_traits *tr = le_type_get(t);
        if (!tr)
            continue;
        assert_int_equal(le_gguf_type_info(t, &blck, &size, &name), 0);
        assert_int_equal(blck, tr->blck_size);
        assert_int_equal(size, tr->type_size);
        assert_string_equal(name, tr->name);
        n_checked++;
    }
    assert_true(n_checked >= 5); /* F32 F16 BF16 Q8_0 Q4_0 at least */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gguf_open_should_read_a_small_valid_file),
        cmocka_unit_test(gguf_open_should_reject_every_truncation_of_a_small_file),
        cmocka_unit_test(gguf_open_should_reject_bad_magic_and_versions),
        cmocka_unit_test(gguf_open_should_reject_absurd_counts),
        cmocka_unit_test(gguf_open_should_reject_absurd_dimensions),
        cmocka_unit_test(gguf_open_should_reject_bad_offsets),
        cmocka_unit_test(gguf_open_should_reject_unknown_types),
        cmocka_unit_test(gguf_open_should_reject_bad_strings_and_values),
        cmocka_unit_test(gguf_open_should_reject_duplicates),
        cmocka_unit_test(gguf_open_should_give_clean_errors_for_empty_files_and_directories),
        cmocka_unit_test(gguf_writer_should_round_trip_every_value_type),
        cmocka_unit_test(gguf_writer_should_round_trip_tensors_with_alignment),
        cmocka_unit_test(gguf_writer_should_fail_cleanly_and_leave_no_partial_file),
        cmocka_unit_test(gguf_type_info_should_know_ggml_sizes),
        cmocka_unit_test(gguf_open_should_read_every_oracle_model),
        cmocka_unit_test(gguf_open_should_reject_oracle_file_cut_at_every_section_boundary),
    };
    return cmocka_run_group_tests(tests, le_test_dir_setup, le_test_dir_teardown);
}
