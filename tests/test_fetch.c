/*
 * test_fetch: downloads through libcurl against le_httpd on 127.0.0.1:
 * a full download with sha256, resume after a dropped connection (the retry
 * must carry a Range header), a server that ignores Range, a checksum
 * mismatch (error, nothing left), 404 (error, no retries), a stalled server
 * (timeout error), and registry fetch/load with pins and offline mode;
 * the per-file lock, If-Range on resume, and the refusal of responses that
 * are not the complete file (issue 12, defects 2-4).
 * Delays are tiny (retry_base_ms = 10, timeout 1 s); no timing is asserted.
 */
// ctest-labels: unit net
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
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h> /* flock */
#include <sys/stat.h>
#include <unistd.h>

enum { BLOB_N = 300000 };

struct fx {
    char *root;  /* served folder */
    char *out;   /* download folder */
    struct le_httpd *h;
    char *blob;
    char sha[65];
};

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof *f);
    f->root = le_test_tmpdir();
    f->out = le_test_tmpdir();
    f->blob = malloc(BLOB_N);
    uint32_t x = 12345;
    for (int i = 0; i < BLOB_N; i++) {
        x = x * 1103515245u + 12345u;
        f->blob[i] = (char)(x >> 16);
    }
    char p[4200];
    snprintf(p, sizeof p, "%s/blob.bin", f->root);
    if (le_test_write_file(p, f->blob, BLOB_N) != 0 || le_sha256_file(p, f->sha) != 0)
        return -1;
    if (le_dsfix_build(f->root, 1) != 0 || le_httpd_start(&f->h, f->root) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    if (!f)
        return 0;
    le_httpd_stop(f->h);
    le_test_rmdir(f->root);
    le_test_rmdir(f->out);
    free(f->root);
    free(f->out);
    free(f->blob);
    free(f);
    return 0;
}

static struct le_ds_opts opts(void) {
    struct le_ds_opts o = {0};
    o.timeout_s = 1;
    o.max_retries = 3;
    o.retry_base_ms = 10;
    return o;
}

static void paths(struct fx *f, const char *name, char *url, char *dst, char *part) {
    snprintf(url, 256, "%s/blob.bin", le_httpd_url(f->h));
    snprintf(dst, 4200, "%s/%s", f->out, name);
    snprintf(part, 4300, "%s.part", dst);
}

static void assert_file_is_blob(struct fx *f, const char *path) {
    size_t n = 0;
    char *got = le_test_read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, BLOB_N);
    assert_memory_equal(got, f->blob, BLOB_N);
    free(got);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Issue 12, defect 2: two processes fetching one file wrote one .part. The
 * download takes an flock on "<file>.lock"; here the test holds it, as a
 * concurrent llamaeval would (flock locks conflict between open files, also
 * within one process). */
struct waiter {
    const char *url, *dst;
    struct le_ds_opts o;
    int rc;
    char got[65];
};

static void *wait_and_download(void *arg) {
    struct waiter *w = arg;
    w->rc = le_ds_download(w->url, w->dst, NULL, &w->o, w->got);
    return NULL;
}

static void download_should_lock_the_file_against_a_concurrent_fetch(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300], lockp[4300];
    paths(f, "locked.bin", url, dst, part);
    snprintf(lockp, sizeof lockp, "%s.lock", dst);
    int fd = open(lockp, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    struct le_ds_opts o = opts();
    o.no_wait = 1;
    int n0 = le_httpd_n_requests(f->h);
    assert_int_equal(le_ds_download(url, dst, f->sha, &o, NULL), LE_EIO);
    assert_non_null(strstr(le_err_msg(), "another process is downloading"));
    assert_int_equal(le_httpd_n_requests(f->h), n0);
    assert_false(exists(part));
    /* a waiting fetch: the holder completes the file, then releases the lock;
     * the waiter checks the file and downloads nothing */
    struct waiter w = {url, dst, opts(), -1, ""};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_and_download, &w), 0);
    assert_int_equal(le_test_write_file(dst, f->blob, BLOB_N), 0);
    assert_int_equal(flock(fd, LOCK_UN), 0);
    close(fd);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_string_equal(w.got, f->sha);
    assert_int_equal(le_httpd_n_requests(f->h), n0);
    assert_false(exists(part));
    assert_file_is_blob(f, dst);
}

static void download_should_verify_sha256_and_rename(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300], got[65];
    paths(f, "full.bin", url, dst, part);
    struct le_ds_opts o = opts();
    int n0 = le_httpd_n_requests(f->h);
    assert_int_equal(le_ds_download(url, dst, f->sha, &o, got), 0);
    assert_string_equal(got, f->sha);
    assert_file_is_blob(f, dst);
    assert_false(exists(part));
    assert_int_equal(le_httpd_n_requests(f->h) - n0, 1);
    assert_int_equal(le_httpd_range(f->h, n0), -1);
}

static void download_should_resume_after_dropped_connection(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300];
    paths(f, "resume.bin", url, dst, part);
    struct le_ds_opts o = opts();
    int n0 = le_httpd_n_requests(f->h);
    le_httpd_fault(f->h, LE_HTTPD_DROP, 70000, 1);
    assert_int_equal(le_ds_download(url, dst, f->sha, &o, NULL), 0);
    assert_int_equal(le_httpd_n_requests(f->h) - n0, 2);
    assert_int_equal(le_httpd_range(f->h, n0), -1);
    assert_int_equal(le_httpd_range(f->h, n0 + 1), 70000); /* the retry asked for the rest */
    assert_file_is_blob(f, dst);
    assert_false(exists(part));
}

static void download_should_restart_when_server_ignores_range(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300];
    paths(f, "norange.bin", url, dst, part);
    struct le_ds_opts o = opts();
    o.max_retries = -1; /* an earlier partial run: 1000 bytes, then the connection dropped */
    le_httpd_fault(f->h, LE_HTTPD_DROP, 1000, 1);
    assert_int_equal(le_ds_download(url, dst, f->sha, &o, NULL), LE_ENET);
    o = opts();
    int n0 = le_httpd_n_requests(f->h);
    le_httpd_fault(f->h, LE_HTTPD_NORANGE, 0, 1);
    assert_int_equal(le_ds_download(url, dst, f->sha, &o, NULL), 0);
    assert_int_equal(le_httpd_n_requests(f->h) - n0, 1);
    assert_int_equal(le_httpd_range(f->h, n0), 1000);
    assert_file_is_blob(f, dst);
}

/* Issue 12, defect 3: a file changed upstream between two tries was
 * spliced (old head, new tail). The resume carries If-Range with the first
 * response's ETag; the server sends the new file whole. */
static void resume_should_not_splice_a_file_changed_upstream(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300], served[4200];
    snprintf(served, sizeof served, "%s/changing.bin", f->root);
    assert_int_equal(le_test_write_file(served, f->blob, BLOB_N), 0);
    snprintf(url, sizeof url, "%s/changing.bin", le_httpd_url(f->h));
    snprintf(dst, sizeof dst, "%s/changing.bin", f->out);
    snprintf(part, sizeof part, "%s.part", dst);
    struct le_ds_opts o = opts();
    o.max_retries = -1;
    le_httpd_fault(f->h, LE_HTTPD_DROP, 70000, 1);
    assert_int_equal(le_ds_download(url, dst, NULL, &o, NULL), LE_ENET);
    assert_true(exists(part));
    char *v2 = malloc(BLOB_N); /* the new version upstream: same size, other bytes */
    for (int i = 0; i < BLOB_N; i++)
        v2[i] = (char)(f->blob[i] ^ 0x33);
    assert_int_equal(le_test_write_file(served, v2, BLOB_N), 0);
    o = opts();
    int n0 = le_httpd_n_requests(f->h);
    assert_int_equal(le_ds_download(url, dst, NULL, &o, NULL), 0);
    assert_int_equal(le_httpd_n_requests(f->h) - n0, 1);
    assert_int_equal(le_httpd_range(f->h, n0), 70000); /* it tried to resume */
    size_t n = 0;
    char *got = le_test_read_file(dst, &n);
    assert_int_equal(n, BLOB_N);
    assert_memory_equal(got, v2, BLOB_N); /* the new version, whole */
    free(got);
    free(v2);
}

/* Issue 12, defect 4: responses that are not the file were stored (and, with
 * no registry sha256, pinned). Only a complete 200 (206 on resume) of the
 * announced length counts, under a size cap; bytes of unknown origin in a
 * .part are not resumed. No sha256 is passed here, as for a pinned file. */
static void only_a_complete_response_should_be_stored(void **state) {
    struct fx *f = *state;
    static const struct {
        const char *name;
        int mode;
        long after;
        const char *msg;
    } bad[] = {
        {"moved.bin", LE_HTTPD_MOVED, 0, "HTTP 301 is not the file"},
        {"empty.bin", LE_HTTPD_EMPTY, 0, "HTTP 204 is not the file"},
        {"short.bin", LE_HTTPD_DROP, 5000, ""},
        {"nolength.bin", LE_HTTPD_NOLENGTH, 5000, "no Content-Length"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char url[256], dst[4200], part[4300];
        paths(f, bad[i].name, url, dst, part);
        struct le_ds_opts o = opts();
        o.max_retries = -1;
        le_httpd_fault(f->h, bad[i].mode, bad[i].after, 1);
        int rc = le_ds_download(url, dst, NULL, &o, NULL);
        if (rc == 0 || exists(dst) || !strstr(le_err_msg(), bad[i].msg))
            fail_msg("%s: rc %d, stored %d, message %s", bad[i].name, rc, exists(dst), le_err_msg());
    }
    char url[256], dst[4200], part[4300];
    paths(f, "capped.bin", url, dst, part);
    struct le_ds_opts o = opts();
    o.max_bytes = 100000;
    assert_int_equal(le_ds_download(url, dst, NULL, &o, NULL), LE_ENET);
    assert_non_null(strstr(le_err_msg(), "cap"));
    assert_false(exists(dst));
    assert_false(exists(part));
    paths(f, "garbage.bin", url, dst, part);
    assert_int_equal(le_test_write_file(part, "garbage!", 8), 0); /* a .part of unknown origin */
    o = opts();
    int n0 = le_httpd_n_requests(f->h);
    assert_int_equal(le_ds_download(url, dst, NULL, &o, NULL), 0);
    assert_int_equal(le_httpd_range(f->h, n0), -1); /* not resumed */
    assert_file_is_blob(f, dst);
}

static void download_should_remove_file_on_checksum_mismatch(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300];
    paths(f, "wrong.bin", url, dst, part);
    struct le_ds_opts o = opts();
    int n0 = le_httpd_n_requests(f->h);
    le_httpd_fault(f->h, LE_HTTPD_WRONG, 0, 1);
    assert_int_equal(le_ds_download(url, dst, f->sha, &o, NULL), LE_ECHECKSUM);
    assert_non_null(strstr(le_err_msg(), "sha256 mismatch"));
    assert_false(exists(dst));
    assert_false(exists(part));
    assert_int_equal(le_httpd_n_requests(f->h) - n0, 1);
}

static void download_should_fail_at_once_on_404(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300];
    paths(f, "missing.bin", url, dst, part);
    snprintf(url, sizeof url, "%s/no/such/file.jsonl", le_httpd_url(f->h));
    struct le_ds_opts o = opts();
    int n0 = le_httpd_n_requests(f->h);
    assert_int_equal(le_ds_download(url, dst, NULL, &o, NULL), LE_ENOTFOUND);
    assert_non_null(strstr(le_err_msg(), "404"));
    assert_int_equal(le_httpd_n_requests(f->h) - n0, 1); /* no retries */
    assert_false(exists(dst));
}

static void download_should_time_out_on_stalled_server(void **state) {
    struct fx *f = *state;
    char url[256], dst[4200], part[4300];
    paths(f, "stall.bin", url, dst, part);
    struct le_ds_opts o = opts();
    o.max_retries = 1;
    int n0 = le_httpd_n_requests(f->h);
    le_httpd_fault(f->h, LE_HTTPD_STALL, 1000, -1);
    int rc = le_ds_download(url, dst, f->sha, &o, NULL);
    le_httpd_fault(f->h, LE_HTTPD_NONE, 0, 0);
    assert_int_equal(rc, LE_ENET);
    assert_non_null(strstr(le_err_msg(), "timed out"));
    assert_int_equal(le_httpd_n_requests(f->h) - n0, 2); /* one retry, which resumed */
    assert_int_equal(le_httpd_range(f->h, n0 + 1), 1000);
    assert_false(exists(dst));
}

static void fetch_should_pin_then_load_offline(void **state) {
    struct fx *f = *state;
    char *cache = le_test_tmpdir();
    struct le_ds_opts o = opts();
    o.cache_dir = cache;
    o.base_url = le_httpd_url(f->h);
    assert_int_equal(le_ds_fetch("piqa", &o), 0);
    assert_int_equal(le_ds_fetch("winogrande", &o), 0);
    char pin[65];
    assert_int_equal(le_ds_pin_get(cache, "piqa/valid-labels.lst", pin), 0);
    assert_int_equal(le_ds_pin_get(cache, "winogrande/winogrande_1.1.zip", pin), 0);
    /* Offline: served from the cache, no requests. */
    int n0 = le_httpd_n_requests(f->h);
    o.offline = 1;
    cJSON *d = NULL;
    assert_int_equal(le_ds_load("piqa", "validation", &o, &d), 0);
    assert_int_equal(cJSON_GetArraySize(d), 3);
    cJSON_Delete(d);
    assert_int_equal(le_ds_load("winogrande", "train", &o, &d), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 0), "label")->valuestring, "2");
    cJSON_Delete(d);
    assert_int_equal(le_ds_load("hellaswag", "validation", &o, &d), LE_ENOTFOUND);
    assert_non_null(strstr(le_err_msg(), "hellaswag_val.jsonl"));
    assert_int_equal(le_httpd_n_requests(f->h), n0);
    /* Online load downloads what is missing. */
    o.offline = 0;
    d = NULL;
    assert_int_equal(le_ds_load("hellaswag", "validation", &o, &d), 0);
    assert_int_equal(cJSON_GetArraySize(d), 2);
    cJSON_Delete(d);
    /* A re-download that differs from the pin is refused and removed. */
    char path[4200];
    snprintf(path, sizeof path, "%s/boolq", cache);
    assert_int_equal(le_ds_fetch("boolq", &o), 0);
    snprintf(path, sizeof path, "%s/boolq/dev.jsonl", cache);
    unlink(path);
    le_httpd_fault(f->h, LE_HTTPD_WRONG, 0, 1);
    assert_int_equal(le_ds_fetch("boolq", &o), LE_ECHECKSUM);
    assert_false(exists(path));
    le_test_rmdir(cache);
    free(cache);
}

static void cli_fetch_should_download_list_pins_and_fail_offline(void **state) {
    struct fx *f = *state;
    char *cache = le_test_tmpdir(), *out = NULL;
    int st = le_test_sh(&out, "%s fetch --quiet --cache %s --base-url %s --timeout 2 boolq lambada", le_test_bin(),
                        cache, le_httpd_url(f->h));
    assert_int_equal(st, 0);
    free(out);
    st = le_test_sh(&out, "%s fetch --list --cache %s", le_test_bin(), cache);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "lambada_openai/lambada_test.jsonl"));
    assert_non_null(strstr(out, "(pinned at first download)"));
    assert_non_null(strstr(out, "sha256 unknown upstream: pinned at first download"));
    free(out);
    st = le_test_sh(&out, "%s fetch --offline --cache %s boolq siqa", le_test_bin(), cache);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "boolq: in the cache"));
    assert_non_null(strstr(out, "llamaeval: error: offline: "));
    assert_non_null(strstr(out, "socialiqa-train-dev.zip is not in the cache"));
    free(out);
    st = le_test_sh(&out, "%s fetch --cache %s --base-url %s --retries 0 nosuchset", le_test_bin(), cache,
                    le_httpd_url(f->h));
    assert_int_equal(st, 2);
    free(out);
    le_test_rmdir(cache);
    free(cache);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(download_should_verify_sha256_and_rename),
        cmocka_unit_test(download_should_lock_the_file_against_a_concurrent_fetch),
        cmocka_unit_test(download_should_resume_after_dropped_connection),
        cmocka_unit_test(download_should_restart_when_server_ignores_range),
        cmocka_unit_test(resume_should_not_splice_a_file_changed_upstream),
        cmocka_unit_test(only_a_complete_response_should_be_stored),
        cmocka_unit_test(download_should_remove_file_on_checksum_mismatch),
        cmocka_unit_test(download_should_fail_at_once_on_404),
        cmocka_unit_test(download_should_time_out_on_stalled_server),
        cmocka_unit_test(fetch_should_pin_then_load_offline),
        cmocka_unit_test(cli_fetch_should_download_list_pins_and_fail_offline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
