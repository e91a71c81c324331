/*
 * test_mem: the memory plan before a context is made -- how much memory is
 * available (engine/core/mem.c, read under a folder of the test's own
 * /proc/meminfo and cgroup files), what a context will hold
 * (le_ctx_mem_plan, le_ctx_mem_check in engine/model/model.c, against the
 * model's shape), and the commands (harness/memplan.c) printing the plan and
 * refusing, with one error line, a context that does not fit the memory the
 * test build's LE_TEST_MEM_ROOT seam makes available.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_genmodel.h" /* the tiny model */
#include "le_mem.h"
#include "le_model.h"
#include "le_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Writes root/rel (making its folders). */
static void put(const char *root, const char *rel, const char *text) {
    char path[1024], cmd[1200];
    snprintf(path, sizeof path, "%s%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "%s", cmd), 0);
    free(out);
    assert_int_equal(le_test_write_file(path, text, strlen(text)), 0);
}

static const char *meminfo = "MemTotal:       24683748 kB\n"
                             "MemFree:         2828068 kB\n"
                             "MemAvailableX:         1 kB\n"
                             "MemAvailable:   23933616 kB\n"
                             "Buffers:            7880 kB\n";

static void available_should_be_meminfo_without_a_cgroup_limit(void **state) {
    (void)state;
    char *root = le_test_tmpdir();
    uint64_t b = 0;
    int src = 0;
    assert_int_equal(le_mem_available(root, &b, &src), LE_ENOTFOUND); /* nothing to read */
    assert_int_equal(b, 0);
    put(root, "/proc/meminfo", meminfo);
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(b, (uint64_t)23933616 * 1024);
    assert_int_equal(src, LE_MEM_MEMINFO);
    assert_string_equal(le_mem_source_name(src), "MemAvailable");
    /* cgroup v2 without a limit ("max") bounds nothing */
    put(root, "/sys/fs/cgroup/memory.max", "max\n");
    put(root, "/sys/fs/cgroup/memory.current", "5000000\n");
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(src, LE_MEM_MEMINFO);
    le_test_rmdir(root);
    free(root);
}

static void available_should_be_the_cgroup_v2_limit_less_its_non_file_usage(void **state) {
    (void)state;
    char *root = le_test_tmpdir();
    uint64_t b = 0;
    int src = 0;
    put(root, "/proc/meminfo", meminfo);
    put(root, "/sys/fs/cgroup/memory.max", "8589934592\n");        /* 8 GiB */
    put(root, "/sys/fs/cgroup/memory.current", "6442450944\n");    /* 6 GiB, */
    put(root, "/sys/fs/cgroup/memory.stat", "anon 1073741824\nfile_mapped 5\nfile 5368709120\n"); /* 5 of it cache */
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(b, (uint64_t)7 << 30);
    assert_int_equal(src, LE_MEM_CGROUP_V2);
    assert_string_equal(le_mem_source_name(src), "cgroup memory.max");
    /* a limit looser than MemAvailable leaves MemAvailable */
    put(root, "/sys/fs/cgroup/memory.max", "1099511627776\n");
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(b, (uint64_t)23933616 * 1024);
    assert_int_equal(src, LE_MEM_MEMINFO);
    /* usage past the limit: nothing left */
    put(root, "/sys/fs/cgroup/memory.max", "1000\n");
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(b, 0);
    le_test_rmdir(root);
    free(root);
}

static void available_should_be_the_cgroup_v1_limit_when_one_is_set(void **state) {
    (void)state;
    char *root = le_test_tmpdir();
    uint64_t b = 0;
    int src = 0;
    put(root, "/proc/meminfo", meminfo);
    put(root, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"); /* v1's "no limit" */
    put(root, "/sys/fs/cgroup/memory/memory.usage_in_bytes", "21714821120\n");
    put(root, "/sys/fs/cgroup/memory/memory.stat", "cache 100\nrss 200\ntotal_cache 21000000000\n");
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(src, LE_MEM_MEMINFO);
    put(root, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "2000000000\n");
    put(root, "/sys/fs/cgroup/memory/memory.usage_in_bytes", "1500000000\n");
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(b, 2000000000); /* total_cache exceeds the usage: nothing held but cache */
    assert_int_equal(src, LE_MEM_CGROUP_V1);
    put(root, "/sys/fs/cgroup/memory/memory.stat", "cache 400000000\nrss 1100000000\n"); /* no total_ keys */
    assert_int_equal(le_mem_available(root, &b, &src), LE_OK);
    assert_int_equal(b, 2000000000 - 1100000000);
    le_test_rmdir(root);
    free(root);
}

static void fmt_should_use_binary_units(void **state) {
    (void)state;
    char buf[32];
    le_mem_fmt((uint64_t)3 << 29, buf, sizeof buf);
    assert_string_equal(buf, "1.50 GiB");
    le_mem_fmt((uint64_t)812 << 20, buf, sizeof buf);
    assert_string_equal(buf, "812.0 MiB");
    le_mem_fmt(2048, buf, sizeof buf);
    assert_string_equal(buf, "2.0 KiB");
}

/* ---- the plan of a context ---- */

struct fixture {
    char *dir;
    char path[600], text[600];
    struct le_model *m;
};

enum { DIM = 64, LAYERS = 2, HEADS = 4, KV_HEADS = 2, FFN = 128, VOCAB = 512 };

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = le_test_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/m.gguf", f->dir);
    snprintf(f->text, sizeof f->text, "%s/t.txt", f->dir);
    struct le_genmodel_cfg cfg = {.dim = DIM, .n_layers = LAYERS, .n_heads = HEADS, .n_kv_heads = KV_HEADS,
                                  .ffn = FFN, .n_vocab = VOCAB, .n_ctx = 256, .seed = 3};
    char text[4096] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, "the thing in the ring sings. ");
    if (le_genmodel_write(f->path, &cfg) || le_model_open(&f->m, f->path) ||
        le_test_write_file(f->text, text, strlen(text))) {
        fprintf(stderr, "setup: %s\n", le_err_msg());
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    le_model_free(f->m);
    le_test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void plan_should_count_the_file_the_kv_cache_and_the_scratch(void **state) {
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    struct le_ctx_mem p, p2, pb;
    assert_int_equal(le_ctx_mem_plan(f->m, 128, 32, 2, &p), LE_OK);
    assert_int_equal(p.weights, (uint64_t)st.st_size);
    /* K and V, float32, every layer and position: 2 * L * T * n_kv_heads * head_dim * 4 */
    uint64_t kv_dim = (uint64_t)KV_HEADS * (DIM / HEADS);
    assert_int_equal(p.kv, 2 * (uint64_t)LAYERS * 128 * kv_dim * 4);
    assert_int_equal(p.total, p.weights + p.kv + p.scratch);
    /* the scratch holds at least the logits of a batch and the FFN's two activations */
    assert_true(p.scratch >= (uint64_t)32 * (VOCAB + 2 * FFN) * 4);
    /* twice the context: twice the cache; the batch's scratch unchanged but for
     * the per-position tables (RoPE, scores) */
    assert_int_equal(le_ctx_mem_plan(f->m, 256, 32, 2, &p2), LE_OK);
    assert_int_equal(p2.kv, 2 * p.kv);
    assert_true(p2.scratch > p.scratch && p2.scratch - p.scratch < p.kv);
    /* a batch larger than the context is the context's */
    assert_int_equal(le_ctx_mem_plan(f->m, 16, 64, 1, &pb), LE_OK);
    assert_int_equal(le_ctx_mem_plan(f->m, 16, 16, 1, &p2), LE_OK);
    assert_int_equal(pb.total, p2.total);
    assert_int_equal(le_ctx_mem_plan(f->m, 0, 16, 1, &p2), LE_EINVAL);
}

static void check_should_refuse_a_plan_over_the_available_memory(void **state) {
    struct fixture *f = *state;
    struct le_ctx_mem p;
    assert_int_equal(le_ctx_mem_plan(f->m, 128, 128, 1, &p), LE_OK);
    assert_int_equal(le_ctx_mem_check(&p, 128, p.total, "MemAvailable"), LE_OK);
    assert_int_equal(le_ctx_mem_check(&p, 128, p.total - 1, "MemAvailable"), LE_ENOMEM);
    const char *msg = le_err_msg();
    assert_non_null(strstr(msg, "a context of 128 positions needs"));
    assert_non_null(strstr(msg, "KV cache"));
    assert_non_null(strstr(msg, "(MemAvailable)"));
}

/* The commands print the plan, and refuse with one error line, exit 1,
 * before evaluating anything, when MemAvailable is too small. */
static void commands_should_print_the_plan_and_refuse_what_does_not_fit(void **state) {
    struct fixture *f = *state;
    char root[700], db[700];
    snprintf(root, sizeof root, "%s/fakeroot", f->dir);
    snprintf(db, sizeof db, "%s/r.sqlite", f->dir);
    put(root, "/proc/meminfo", "MemTotal: 1000 kB\nMemAvailable:     300 kB\n");
    struct le_ctx_mem p;
    assert_int_equal(le_ctx_mem_plan(f->m, 64, 64, 1, &p), LE_OK);
    assert_true(p.total > 300 * 1024); /* the fake machine is too small */
    const char *cmds[] = {
        "ppl --model '%s' --file '%s' --ctx 64 --threads 1 --db '%s'",
        "bench --model '%s' --n-prompt 64 --reps 1 --threads 1",
        "generate --model '%s' --prompt hi --max-tokens 2 --ctx 64 --threads 1",
        "eval --model '%s' --tasks brown-cloze --limit 1 --ctx 64 --threads 1 --db '%s'",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[2000], *out = NULL;
        if (i == 0)
            snprintf(args, sizeof args, cmds[i], f->path, f->text, db);
        else
            snprintf(args, sizeof args, cmds[i], f->path, db);
        int st = le_test_sh(&out, "LE_TEST_MEM_ROOT='%s' '%s' %s 2>&1 >/dev/null", root, le_test_bin(), args);
        assert_non_null(out);
        if (st != 1 || !strstr(out, "llamaeval: memory: weights ") ||
            !strstr(out, "llamaeval: error: a context of 64 positions needs") || !strstr(out, "(MemAvailable)"))
            fail_msg("%s: exit %d, stderr:\n%s", args, st, out);
        /* one error line */
        const char *e = strstr(out, "llamaeval: error: ");
        assert_null(strstr(e + 1, "llamaeval: error: "));
        free(out);
    }
    /* with room (the same files, MemAvailable raised) the plan shows and the
     * run goes on */
    put(root, "/proc/meminfo", "MemTotal: 100000000 kB\nMemAvailable: 90000000 kB\n");
    char *out = NULL;
    int st = le_test_sh(&out, "LE_TEST_MEM_ROOT='%s' '%s' bench --model '%s' --n-prompt 64 --reps 1 --threads 1", root,
                        le_test_bin(), f->path);
    if (st != 0 || !strstr(out, "llamaeval: memory: weights ") || !strstr(out, " available, MemAvailable)"))
        fail_msg("bench with room: exit %d:\n%s", st, out);
    free(out);
}

/* compare as the others: its text pass holds a context for the base and
 * for each quantized model at once (their plans summed, "for 2 models"),
 * its tasks one runner of eval's size at a time; each refused with one
 * error line when it does not fit, and shown when it does. */
static void compare_should_print_its_plan_and_refuse_what_does_not_fit(void **state) {
    struct fixture *f = *state;
    char root[700];
    snprintf(root, sizeof root, "%s/fakeroot", f->dir);
    put(root, "/proc/meminfo", "MemTotal: 1000 kB\nMemAvailable:     300 kB\n");
    static const struct {
        const char *args, *need;
    } cases[] = {
        {"--file '%s' --ctx 64", "llamaeval: error: 2 models at once: a context of 64 positions needs"},
        {"--tasks brown-cloze --limit 1", "llamaeval: error: a context of 256 positions needs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[1000], *out = NULL;
        snprintf(args, sizeof args, cases[i].args, f->text);
        int st = le_test_sh(&out,
                            "LE_TEST_MEM_ROOT='%s' '%s' compare --base '%s' --quant '%s' %s --threads 1 --db none "
                            "--speed-reps 0 2>&1 >/dev/null",
                            root, le_test_bin(), f->path, f->path, args);
        assert_non_null(out);
        if (st != 1 || !strstr(out, "llamaeval: memory: weights ") || !strstr(out, cases[i].need))
            fail_msg("compare %s: exit %d, stderr:\n%s", args, st, out);
        assert_null(strstr(strstr(out, "llamaeval: error: ") + 1, "llamaeval: error: "));
        if (i == 0)
            assert_non_null(strstr(out, " for 2 models ("));
        free(out);
    }
    put(root, "/proc/meminfo", "MemTotal: 100000000 kB\nMemAvailable: 90000000 kB\n");
    /* a failure after the cells began (a text too short for --ctx) ends the
     * run cleanly: it crashed, the job closed before its cells were released */
    char *out = le_test_sh_expect(1, "needs at least 1024",
                                  "LE_TEST_MEM_ROOT='%s' '%s' compare --base '%s' --quant '%s' --file '%s' --ctx 512 "
                                  "--threads 1 --db '%s/c.sqlite' --speed-reps 0 2>&1 >/dev/null",
                                  root, le_test_bin(), f->path, f->path, f->text, f->dir);
    free(out);
    int st = le_test_sh(&out,
                        "LE_TEST_MEM_ROOT='%s' '%s' compare --base '%s' --quant '%s' --file '%s' --ctx 64 "
                        "--threads 1 --db none --speed-reps 0 2>&1 >/dev/null",
                        root, le_test_bin(), f->path, f->path, f->text);
    if (st != 0 || !strstr(out, "for 2 models (") || !strstr(out, " available, MemAvailable)"))
        fail_msg("compare with room: exit %d:\n%s", st, out);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(available_should_be_meminfo_without_a_cgroup_limit),
        cmocka_unit_test(available_should_be_the_cgroup_v2_limit_less_its_non_file_usage),
        cmocka_unit_test(available_should_be_the_cgroup_v1_limit_when_one_is_set),
        cmocka_unit_test(fmt_should_use_binary_units),
        cmocka_unit_test_setup_teardown(plan_should_count_the_file_the_kv_cache_and_the_scratch, setup, teardown),
        cmocka_unit_test_setup_teardown(check_should_refuse_a_plan_over_the_available_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(commands_should_print_the_plan_and_refuse_what_does_not_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(compare_should_print_its_plan_and_refuse_what_does_not_fit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
