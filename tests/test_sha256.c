/*
 * test_sha256: FIPS 180-2 appendix B vectors (one block, two blocks, one
 * million 'a'), the padding boundaries (55/56/63/64/65/119/120/128 bytes,
 * expected values from Python's hashlib), incremental updates split at every
 * offset, and the streaming file hash.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_sha256.h"
#include "le_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex_of(const void *p, size_t n, char hex[65]) {
    uint8_t d[32];
    le_sha256(p, n, d);
    le_sha256_hex(d, hex);
}

static void sha256_should_match_fips_vectors(void **state) {
    (void)state;
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[65];
        hex_of(v[i].msg, strlen(v[i].msg), hex);
        assert_string_equal(hex, v[i].hex);
    }
}

static void sha256_should_hash_one_million_a_incrementally(void **state) {
    (void)state;
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    struct le_sha256_ctx c;
    le_sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        le_sha256_update(&c, chunk, sizeof chunk);
    uint8_t d[32];
    le_sha256_final(&c, d);
    char hex[65];
    le_sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void sha256_should_pad_correctly_at_block_boundaries(void **state) {
    (void)state;
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
    };
    char a[128];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[65];
        hex_of(a, v[i].n, hex);
        assert_string_equal(hex, v[i].hex);
    }
}

static void sha256_update_split_anywhere_should_equal_one_shot(void **state) {
    (void)state;
    uint8_t msg[300];
    for (int i = 0; i < 300; i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    uint8_t ref[32];
    le_sha256(msg, sizeof msg, ref);
    for (size_t cut1 = 0; cut1 <= sizeof msg; cut1 += 7) {
        for (size_t cut2 = cut1; cut2 <= sizeof msg; cut2 += 13) {
            struct le_sha256_ctx c;
            le_sha256_init(&c);
            le_sha256_update(&c, msg, cut1);
            le_sha256_update(&c, msg + cut1, cut2 - cut1);
            le_sha256_update(&c, msg + cut2, sizeof msg - cut2);
            uint8_t d[32];
            le_sha256_final(&c, d);
            assert_memory_equal(d, ref, 32);
        }
    }
}

static void sha256_accelerated_compression_should_equal_ref(void **state) {
    (void)state;
    print_message("SHA extensions %s\n", le_sha256_accelerated() ? "used" : "absent: ref path only");
    uint8_t data[64 * 33];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    for (size_t nb = 0; nb <= 33; nb++) {
        uint32_t a[8], b[8];
        for (int i = 0; i < 8; i++) {
            x = x * 1103515245u + 12345u;
            a[i] = b[i] = x;
        }
        le_sha256_compress_ref(a, data, nb);
        le_sha256_compress(b, data, nb);
        assert_memory_equal(a, b, sizeof a);
    }
}

struct progress_log {
    uint64_t last_done, last_total;
    int calls;
};

static void log_progress(void *ud, uint64_t done, uint64_t total) {
    struct progress_log *l = ud;
    assert_true(done >= l->last_done);
    l->last_done = done;
    l->last_total = total;
    l->calls++;
}

static void sha256_file_should_stream_and_report_progress(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.bin", dir);
    /* bytes(range(256)) * 3 hashed by Python's hashlib. */
    uint8_t data[768];
    for (int i = 0; i < 768; i++)
        data[i] = (uint8_t)i;
    assert_int_equal(le_test_write_file(path, data, sizeof data), 0);
    char hex[65];
    assert_int_equal(le_sha256_file(path, hex), 0);
    assert_string_equal(hex, "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363");

    /* 3 MiB + 5 bytes: several 1 MiB reads; compare with the one-shot digest. */
    size_t big = (3u << 20) + 5;
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i ^ (i >> 8));
    assert_int_equal(le_test_write_file(path, buf, big), 0);
    char ref[65];
    hex_of(buf, big, ref);
    struct progress_log l = {0};
    assert_int_equal(le_sha256_file_progress(path, hex, log_progress, &l), 0);
    assert_string_equal(hex, ref);
    assert_int_equal(l.calls, 4);
    assert_int_equal(l.last_done, big);
    assert_int_equal(l.last_total, big);
    free(buf);
    le_test_rmdir(dir);
    free(dir);
}

static void sha256_file_should_name_a_missing_path(void **state) {
    (void)state;
    char hex[65];
    assert_int_equal(le_sha256_file("/nonexistent/le-sha256-missing.bin", hex), LE_EIO);
    assert_non_null(strstr(le_err_msg(), "/nonexistent/le-sha256-missing.bin"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_should_match_fips_vectors),
        cmocka_unit_test(sha256_should_hash_one_million_a_incrementally),
        cmocka_unit_test(sha256_should_pad_correctly_at_block_boundaries),
        cmocka_unit_test(sha256_update_split_anywhere_should_equal_one_shot),
        cmocka_unit_test(sha256_accelerated_compression_should_equal_ref),
        cmocka_unit_test(sha256_file_should_stream_and_report_progress),
        cmocka_unit_test(sha256_file_should_name_a_missing_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
