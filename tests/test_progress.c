/*
 * test_progress: the progress reporter with a fake clock and an in-memory
 * stream, so nothing depends on real time: plain lines only every few
 * seconds, the bar redrawn at most ten times a second, rate and ETA values,
 * quiet printing nothing, and the le_progress_cb adapter.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_progress.h"
#include "le_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double fake_now(void *ud) { return *(double *)ud; }

static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void plain_mode_should_print_a_line_every_five_seconds(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double t = 100.0;
    struct le_progress_opts o = {f, 0, 0, fake_now, &t};
    struct le_progress *p;
    assert_int_equal(le_progress_new_opts(&p, "eval", 1000, 0, &o), 0);
    for (int i = 1; i <= 80; i++) { /* 10 s of updates, one per 1/8 s (exact in binary) */
        t = 100.0 + i * 0.125;
        le_progress_update(p, (uint64_t)i * 5);
    }
    le_progress_finish(p);
    fclose(f);
    /* Lines at t=105 and t=110 (elapsed >= 5 s each), then the summary. */
    assert_int_equal(count_of(buf, "\n"), 3);
    /* At 5 s: 200 done, 40/s, 800 left -> 20 s. */
    assert_non_null(strstr(buf, "eval: 200/1000 (20.0%) 40.0/s ETA 0:20\n"));
    assert_non_null(strstr(buf, "eval: 400/1000 (40.0%) 40.0/s ETA 0:15\n"));
    assert_non_null(strstr(buf, "eval: 400 in 0:10 (40.0/s)\n"));
    assert_null(strchr(buf, '\r'));
    free(buf);
}

static void tty_mode_should_redraw_at_most_ten_times_a_second(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double t = 0.0;
    struct le_progress_opts o = {f, 1, 0, fake_now, &t};
    struct le_progress *p;
    assert_int_equal(le_progress_new_opts(&p, "train", 2000, 0, &o), 0);
    for (int i = 1; i <= 2000; i++) { /* ~2 s, an update every 1/1024 s */
        t = i / 1024.0;
        le_progress_update(p, (uint64_t)i);
    }
    le_progress_finish(p);
    fclose(f);
    int redraws = count_of(buf, "\r\033[K");
    /* The first update draws, then one per 0.1 s, plus the final line. */
    assert_int_equal(redraws, 21);
    /* The first draw: 1 done after 1/1024 s -> 1024/s, 1999 left -> 2 s. */
    const char *first = "\r\033[Ktrain [------------------------] 1/2000 (0.1%) 1.02k/s ETA 0:02\r";
    assert_true(!strncmp(buf, first, strlen(first)));
    /* Then a redraw every 103 updates (103/1024 s is the first step >= 0.1 s). */
    assert_non_null(strstr(buf, "\r\033[Ktrain [############------------] 1031/2000 (51.5%) 1.02k/s ETA 0:01\r"));
    assert_non_null(strstr(buf, "\r\033[Ktrain [######################--] 1855/2000 (92.8%) 1.02k/s ETA 0:00\r"));
    assert_non_null(strstr(buf, "train: 2000 in 0:02 (1.02k/s)\n"));
    assert_int_equal(count_of(buf, "\n"), 1);
    free(buf);
}

static void quiet_should_print_nothing(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double t = 0.0;
    struct le_progress_opts o = {f, 0, 0, fake_now, &t};
    struct le_progress *p;
    assert_int_equal(le_progress_new_opts(&p, "x", 10, 1, &o), 0);
    for (int i = 0; i < 10; i++) {
        t += 10;
        le_progress_update(p, (uint64_t)i);
    }
    le_progress_finish(p);
    fclose(f);
    assert_int_equal(len, 0);
    free(buf);
}

static void callback_should_drive_the_reporter_and_set_the_total(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double t = 0.0;
    struct le_progress_opts o = {f, 0, 2.0, fake_now, &t};
    struct le_progress *p;
    assert_int_equal(le_progress_new_opts(&p, "hash", 0, 0, &o), 0);
    le_progress_cb cb = le_progress_callback;
    t = 1.0;
    cb(p, 10, 0); /* unknown total: no line yet (1 s < 2 s) */
    t = 2.0;
    cb(p, 20, 0);
    t = 4.0;
    cb(p, 40, 80);
    t = 5.0;
    cb(p, 30, 80); /* out of order from another thread: never goes back */
    le_progress_finish(p);
    fclose(f);
    assert_non_null(strstr(buf, "hash: 20 10.0/s elapsed 0:02\n"));
    assert_non_null(strstr(buf, "hash: 40/80 (50.0%) 10.0/s ETA 0:04\n"));
    assert_non_null(strstr(buf, "hash: 40 in 0:05 (8.0/s)\n"));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_mode_should_print_a_line_every_five_seconds),
        cmocka_unit_test(tty_mode_should_redraw_at_most_ten_times_a_second),
        cmocka_unit_test(quiet_should_print_nothing),
        cmocka_unit_test(callback_should_drive_the_reporter_and_set_the_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
