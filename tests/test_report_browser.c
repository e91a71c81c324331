/*
 * test_report_browser: report.html seen in a browser. Writes the report of
 * the test database (tests/le_repdb.c) into $LE_BUILD_DIR/report-check/ and
 * runs scripts/report-check on it: headless Chromium loads the page, every
 * figure must decode, nothing may reach the console, and a screenshot is
 * saved there (report.png) to look at.
 *
 * Without chromium the test is skipped with a message, unless
 * LE_BROWSER_REQUIRED=1 (set by .ci/run, which installs it), when a
 * missing browser fails.
 */
// ctest-labels: browser
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_repdb.h"
#include "le_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report_html_should_load_every_figure_in_headless_chromium(void **state) {
    (void)state;
    char *out = NULL;
    if (le_test_sh(&out, "command -v \"${CHROMIUM:-chromium}\"") != 0) {
        const char *req = getenv("LE_BROWSER_REQUIRED");
        free(out);
        if (req && !strcmp(req, "1"))
            fail_msg("chromium not found and LE_BROWSER_REQUIRED=1 (scripts/setup --browser installs it)");
        fprintf(stderr, "skipped: chromium not found (scripts/setup --browser installs it)\n");
        skip();
    }
    free(out);
    const char *build = getenv("LE_BUILD_DIR");
    char dir[4096], db[4200], html[4200], shot[4200];
    snprintf(dir, sizeof dir, "%s/report-check", build && build[0] ? build : "build");
    snprintf(db, sizeof db, "%s/r.sqlite", dir);
    snprintf(html, sizeof html, "%s/report.html", dir);
    snprintf(shot, sizeof shot, "%s/report.png", dir);
    out = NULL;
    assert_int_equal(le_test_sh(&out, "rm -rf '%s' && mkdir -p '%s'", dir, dir), 0);
    free(out);
    struct le_repdb e;
    assert_int_equal(le_repdb_build(db, &e), 0);
    out = NULL;
    int rc = le_test_sh(&out, "'%s' report --db '%s' --out '%s' --compare-published", le_test_bin(), db, dir);
    if (rc != 0)
        fail_msg("report failed: %s", out ? out : "");
    free(out);
    out = NULL;
    rc = le_test_sh(&out, "scripts/report-check '%s' '%s'", html, shot);
    fprintf(stderr, "%s", out ? out : "");
    if (rc != 0)
        fail_msg("scripts/report-check failed (status %d)", rc);
    free(out);
    size_t n = 0;
    unsigned char *png = le_test_read_file(shot, &n);
    assert_non_null(png);
    assert_true(n > 8);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    free(png);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_html_should_load_every_figure_in_headless_chromium),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
