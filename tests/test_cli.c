/*
 * test_cli: the built llamaeval binary ($LE_BIN) from the outside: help,
 * version, usage errors and exit codes, `<cmd> --help` for EVERY command
 * that `llamaeval --help` lists (parsed from its output, so commands added
 * later are covered without editing this file), and db init/info/export on
 * a temporary file; the shipped binary ($LE_SHIPPED_BIN) has no test seams.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *bin(void) { return le_test_bin(); }

static void help_should_list_commands_and_exit_0(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' --help", bin()), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "usage: llamaeval"));
    assert_non_null(strstr(out, "Commands:"));
    assert_non_null(strstr(out, "\n  db "));
    free(out);
}

static void version_should_print_the_version(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' --version", bin()), 0);
    assert_non_null(out);
    assert_true(!strncmp(out, "llamaeval 0.1.0-", 16));
    free(out);
}

static void unknown_command_should_exit_2_with_a_usage_line_on_stderr(void **state) {
    (void)state;
    char *out = NULL;
    /* stdout dropped: what remains is stderr. */
    assert_int_equal(le_test_sh(&out, "'%s' nosuch 2>&1 >/dev/null", bin()), 2);
    assert_non_null(strstr(out, "llamaeval: error: "));
    assert_non_null(strstr(out, "nosuch"));
    assert_non_null(strstr(out, "usage: llamaeval"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' 2>&1 >/dev/null", bin()), 2);
    assert_non_null(strstr(out, "usage: "));
    free(out);
}

static void unknown_flags_should_exit_2(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' --no-such-flag", bin()), 2);
    assert_non_null(strstr(out, "llamaeval: error: "));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db info --db x.sqlite --no-such-flag 2>&1 >/dev/null", bin()), 2);
    assert_non_null(strstr(out, "llamaeval: error: "));
    assert_non_null(strstr(out, "usage: llamaeval db info"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db info", bin()), 2); /* --db missing */
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db info --db", bin()), 2); /* no value */
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db nosuch", bin()), 2);
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db", bin()), 2);
    free(out);
}

/* Seeds are 64-bit: one parser (le_cli_u64) for eval and quantize, which
 * refuses negative, empty and out-of-range values alike. */
static void seeds_should_be_parsed_as_64_bit_integers(void **state) {
    (void)state;
    static const char *const bad[] = {"-1", "", "12x", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        free(le_test_sh_expect(2, "--seed expects a non-negative integer",
                               "'%s' quantize in.gguf out.gguf --method gptq --bits 4 --seed '%s'", bin(), bad[i]));
        free(le_test_sh_expect(2, "--fewshot-seed expects a non-negative integer",
                               "'%s' eval --model m.gguf --tasks piqa --fewshot-seed '%s'", bin(), bad[i]));
    }
}

static void every_listed_command_should_have_help(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' --help", bin()), 0);
    char *cmds = strstr(out, "Commands:\n");
    assert_non_null(cmds);
    int n = 0;
    /* One command per line "  name  summary" until the first blank line. */
    for (char *line = strchr(cmds, '\n') + 1; *line && *line != '\n';) {
        char *end = strchr(line, '\n');
        char name[64] = "";
        if (sscanf(line, " %63s", name) == 1) {
            char *h = NULL;
            int rc = le_test_sh(&h, "'%s' %s --help", bin(), name);
            if (rc != 0 || !h || strlen(h) < 10)
                fail_msg("'llamaeval %s --help' exited %d with: %s", name, rc, h ? h : "");
            assert_non_null(strcasestr(h, "usage"));
            free(h);
            n++;
        }
        if (!end)
            break;
        line = end + 1;
    }
    assert_true(n >= 1);
    print_message("checked --help of %d commands\n", n);
    free(out);

    /* db's own subcommands. */
    static const char *subs[] = {"init", "info", "export"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(le_test_sh(&out, "'%s' db %s --help", bin(), subs[i]), 0);
        assert_non_null(strstr(out, "usage: llamaeval db "));
        free(out);
    }
}

static void db_init_and_info_should_work_on_a_temp_file(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_non_null(dir);
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' db init --db '%s/r.sqlite'", bin(), dir), 0);
    assert_non_null(strstr(out, "created"));
    assert_non_null(strstr(out, "schema version 3"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db init --db '%s/r.sqlite'", bin(), dir), 0);
    assert_non_null(strstr(out, "up to date"));
    free(out);

    assert_int_equal(le_test_sh(&out, "'%s' db info --db '%s/r.sqlite'", bin(), dir), 0);
    assert_non_null(strstr(out, "schema version: 3"));
    assert_non_null(strstr(out, "  models        0\n"));
    assert_non_null(strstr(out, "  results       0\n"));
    assert_non_null(strstr(out, "  train_steps   0\n"));
    free(out);

    /* Export of an empty store: the CSV header only; JSON an empty array. */
    assert_int_equal(le_test_sh(&out, "'%s' db export --db '%s/r.sqlite'", bin(), dir), 0);
    assert_true(!strncmp(out, "run_id,cell,task,metric,value,stderr,n,", 39));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db export --db '%s/r.sqlite' -o '%s/r.json' && cat '%s/r.json'", bin(),
                                dir, dir, dir),
                     0);
    assert_non_null(strstr(out, "[]\n"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db export --db '%s/r.sqlite' --format xml", bin(), dir), 2);
    free(out);

    /* Errors name the path and exit 1. */
    assert_int_equal(le_test_sh(&out, "'%s' db info --db '%s/none.sqlite'", bin(), dir), 1);
    assert_non_null(strstr(out, "llamaeval: error: "));
    assert_non_null(strstr(out, "none.sqlite"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' db init --db '%s/missing/dir/x.sqlite'", bin(), dir), 1);
    assert_non_null(strstr(out, "missing/dir/x.sqlite"));
    free(out);
    le_test_rmdir(dir);
    free(dir);
}

/* `--db none` (issue 12, item 12): eval, ppl and compare compute without a
 * store (their tests); train records nothing, as without --db; a sweep, whose
 * cells are its result, refuses it as a usage error. */
static void sweep_should_refuse_db_none(void **state) {
    (void)state;
    free(le_test_sh_expect(2, "llamaeval: error: a sweep needs a store", "'%s' sweep plan.json --db none", bin()));
}

/* Test seams live only in the test build (-DLE_TESTING): the shipped
 * binary holds none of their environment variables' names, the one the
 * tests run holds them all. */
static void shipped_binary_should_carry_no_test_seams(void **state) {
    (void)state;
    const char *shipped = getenv("LE_SHIPPED_BIN");
    assert_non_null(shipped);
    static const char *const seams[] = {"LE_TEST_KILL_AFTER", "LE_TEST_STOP_AFTER", "LE_TEST_SWEEP_KILL_AFTER",
                                        "LE_TEST_SIGNAL_AT_STEP", "LE_TEST_LEASE_S", "LE_TEST_SWEEP_HOLD"};
    size_t ns = 0, nt = 0;
    char *s = le_test_read_file(shipped, &ns), *t = le_test_read_file(bin(), &nt);
    assert_non_null(s);
    assert_non_null(t);
    for (size_t i = 0; i < sizeof seams / sizeof seams[0]; i++) {
        if (memmem(s, ns, seams[i], strlen(seams[i])))
            fail_msg("%s names %s", shipped, seams[i]);
        if (!memmem(t, nt, seams[i], strlen(seams[i])))
            fail_msg("%s (the test build) lacks %s", bin(), seams[i]);
    }
    free(s);
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(help_should_list_commands_and_exit_0),
        cmocka_unit_test(version_should_print_the_version),
        cmocka_unit_test(unknown_command_should_exit_2_with_a_usage_line_on_stderr),
        cmocka_unit_test(unknown_flags_should_exit_2),
        cmocka_unit_test(seeds_should_be_parsed_as_64_bit_integers),
        cmocka_unit_test(every_listed_command_should_have_help),
        cmocka_unit_test(db_init_and_info_should_work_on_a_temp_file),
        cmocka_unit_test(shipped_binary_should_carry_no_test_seams),
        cmocka_unit_test(sweep_should_refuse_db_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
