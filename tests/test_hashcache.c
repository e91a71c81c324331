/*
 * test_hashcache: model sha256s remembered by path, size, mtime and inode
 * (harness/hashcache.c): the first lookup hashes and stores, the second
 * comes from the cache; a changed size, a changed mtime (content rewritten
 * at the same size) or a file replaced by another rehashes; a torn or
 * foreign cache file is ignored; the cache keeps its newest entries only.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_hashcache.h"
#include "le_sha256.h"
#include "le_test.h"

#include <fcntl.h> /* AT_FDCWD */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h> /* utimensat */

static void sha_of(const char *data, char hex[65]) {
    uint8_t d[32];
    le_sha256(data, strlen(data), d);
    le_sha256_hex(d, hex);
}

/* Sets path's mtime to sec (and nanoseconds). */
static void set_mtime(const char *path, long sec, long nsec) {
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int n_lines(const char *path) {
    size_t n = 0;
    char *t = le_test_read_file(path, &n);
    int lines = 0;
    for (size_t i = 0; t && i < n; i++)
        lines += t[i] == '\n';
    free(t);
    return lines;
}

static void second_lookup_should_come_from_the_cache(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), cache[600], f[600], sha[65], want[65];
    snprintf(cache, sizeof cache, "%s/sub/model-sha256.tsv", dir); /* its folder made on first store */
    snprintf(f, sizeof f, "%s/m.gguf", dir);
    assert_int_equal(le_test_write_file(f, "weights one", 11), 0);
    sha_of("weights one", want);
    int hit = -1;
    assert_int_equal(le_hashcache_lookup(cache, f, sha), 0);
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 0);
    assert_string_equal(sha, want);
    assert_int_equal(n_lines(cache), 1);
    memset(sha, 0, sizeof sha);
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 1);
    assert_string_equal(sha, want);
    assert_int_equal(le_hashcache_lookup(cache, f, sha), 1);
    /* the same file by another spelling of its path is the same entry */
    char other[700];
    snprintf(other, sizeof other, "%s/sub/../m.gguf", dir);
    assert_int_equal(le_hashcache_file(cache, other, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 1);
    /* no cache file: always hashed */
    assert_int_equal(le_hashcache_file(NULL, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 0);
    assert_string_equal(sha, want);
    /* a file that cannot be read is an error, cached or not */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/none.gguf", dir);
    assert_int_equal(le_hashcache_file(cache, missing, NULL, NULL, sha, &hit), LE_EIO);
    le_test_rmdir(dir);
    free(dir);
}

static void changed_size_mtime_or_file_should_rehash(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), cache[600], f[600], sha[65], want[65];
    snprintf(cache, sizeof cache, "%s/c.tsv", dir);
    snprintf(f, sizeof f, "%s/m.gguf", dir);
    int hit = -1;
    assert_int_equal(le_test_write_file(f, "aaaa", 4), 0);
    set_mtime(f, 1000000000, 5);
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 0);
    /* same size, same mtime restored: the cache cannot tell (documented) */
    assert_int_equal(le_test_write_file(f, "bbbb", 4), 0);
    set_mtime(f, 1000000000, 5);
    sha_of("aaaa", want);
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 1);
    assert_string_equal(sha, want);
    /* same size, mtime one nanosecond later: rehashed */
    set_mtime(f, 1000000000, 6);
    sha_of("bbbb", want);
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 0);
    assert_string_equal(sha, want);
    assert_int_equal(n_lines(cache), 1); /* the old entry for the path replaced */
    /* new size, mtime kept: rehashed */
    assert_int_equal(le_test_write_file(f, "bbbbb", 5), 0);
    set_mtime(f, 1000000000, 6);
    sha_of("bbbbb", want);
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 0);
    assert_string_equal(sha, want);
    /* another file renamed over it, same size and mtime: a new inode, rehashed */
    char g[700];
    snprintf(g, sizeof g, "%s/g.gguf", dir);
    assert_int_equal(le_test_write_file(g, "ccccc", 5), 0);
    set_mtime(g, 1000000000, 6);
    assert_int_equal(rename(g, f), 0);
    sha_of("ccccc", want);
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 0);
    assert_string_equal(sha, want);
    le_test_rmdir(dir);
    free(dir);
}

static void a_damaged_cache_should_be_ignored_and_the_newest_kept(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), cache[600], f[600], sha[65], want[65];
    snprintf(cache, sizeof cache, "%s/c.tsv", dir);
    snprintf(f, sizeof f, "%s/m.gguf", dir);
    assert_int_equal(le_test_write_file(f, "xyz", 3), 0);
    const char *junk = "not a line\n0123\t1\t2\t3\t4\t/x\n"
                       "0000000000000000000000000000000000000000000000000000000000000000\t3\tz\t1\t1\t/y\n"
                       "ffff"; /* torn last line */
    assert_int_equal(le_test_write_file(cache, junk, strlen(junk)), 0);
    int hit = -1;
    assert_int_equal(le_hashcache_file(cache, f, NULL, NULL, sha, &hit), LE_OK);
    assert_int_equal(hit, 0);
    sha_of("xyz", want);
    assert_string_equal(sha, want);
    assert_int_equal(n_lines(cache), 1); /* the malformed lines are dropped on rewrite */
    /* a cache past its size keeps the newest LE_HASHCACHE_MAX entries */
    for (int i = 0; i < LE_HASHCACHE_MAX + 3; i++) {
        char p[700], body[32];
        snprintf(p, sizeof p, "%s/f%d", dir, i);
        snprintf(body, sizeof body, "file %d", i);
        assert_int_equal(le_test_write_file(p, body, strlen(body)), 0);
        assert_int_equal(le_hashcache_file(cache, p, NULL, NULL, sha, &hit), LE_OK);
    }
    assert_int_equal(n_lines(cache), LE_HASHCACHE_MAX);
    assert_int_equal(le_hashcache_lookup(cache, f, sha), 0); /* the oldest went first */
    char last[700];
    snprintf(last, sizeof last, "%s/f%d", dir, LE_HASHCACHE_MAX + 2);
    assert_int_equal(le_hashcache_lookup(cache, last, sha), 1);
    le_test_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_lookup_should_come_from_the_cache),
        cmocka_unit_test(changed_size_mtime_or_file_should_rehash),
        cmocka_unit_test(a_damaged_cache_should_be_ignored_and_the_newest_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
