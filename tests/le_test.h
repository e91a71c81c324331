/*
 * le_test: support shared by every test executable (tests run with the
 * source root as working directory; see tests/CMakeLists.txt).
 * Include after cmocka's prerequisites: <stdarg.h> <stddef.h> <setjmp.h> <stdint.h>.
 */
#ifndef LE_TEST_H
#define LE_TEST_H

#include <stddef.h>
#include <stdint.h>

/* The oracle folder (../shared/oracle, or $LE_ORACLE_DIR). When it is
 * absent the test process exits 1 with a message (CI always has it), unless
 * LE_ORACLE_OPTIONAL=1, when this returns NULL and callers skip() after
 * printing why. */
const char *le_test_oracle(void);
/* Joins the oracle dir and a relative path into a static-per-call buffer. */
const char *le_test_oracle_path(char *buf, size_t n, const char *rel);
/* Makes a fresh temporary directory; returns its path (caller frees). */
char *le_test_tmpdir(void);
/* rm -rf of a temporary directory made by le_test_tmpdir. */
void le_test_rmdir(const char *dir);
/* A group's temporary folder, for cmocka_run_group_tests(tests,
 * le_test_dir_setup, le_test_dir_teardown): made before the first test and
 * removed after the last; le_test_dir() names it in between. */
int le_test_dir_setup(void **state);
int le_test_dir_teardown(void **state);
const char *le_test_dir(void);
/* A cmocka fixture (*state) of a fresh temporary folder and paths in it:
 * db = dir/db_name (empty when db_name is NULL), out = dir/out. size is the
 * caller's struct, which begins with a struct le_test_fx (>= its size; the
 * rest zeroed). Teardown removes the folder and frees the struct. */
struct le_test_fx {
    char *dir;
    char db[4096], out[4096];
};
int le_test_fx_setup(void **state, size_t size, const char *db_name);
int le_test_fx_teardown(void **state);
/* A cmocka fixture (*state): a temporary folder holding cfg's generated
 * model (path = dir/gen.gguf, le_genmodel.h), opened, and a pool of 2 threads. */
struct le_genmodel_cfg;
struct le_model;
struct le_pool;
struct le_genmodel_fx {
    char *dir, path[512];
    struct le_model *m;
    struct le_pool *pool2;
};
int le_genmodel_fx_setup(void **state, const struct le_genmodel_cfg *cfg);
int le_genmodel_fx_teardown(void **state);
/* le_task_load of task with k few-shot examples (-1: its default) from the
 * dataset cache folder cache, offline (le_task_opts_default otherwise). */
struct le_taskset;
int le_test_task_load(struct le_taskset **ts, const char *cache, const char *task, int k);
/* The same, failing the test with the message if it cannot. */
struct le_taskset *le_test_load_task(const char *cache, const char *task, int k);
/* le_test_task_load with --limit (the first `limit` documents; 0 = all). */
int le_test_task_load_limit(struct le_taskset **ts, const char *cache, const char *task, int k, int64_t limit);
/* Whitespace-separated decimal ids as a malloc'ed array (asserts). */
int32_t *le_test_parse_ids(const char *s, size_t n, int64_t *count);
/* llama.cpp's tokenizer test vectors: base.inp holds the texts separated by
 * "\n__ggml_vocab_test__\n", base.out one line of ids per text (base is
 * relative to the oracle). Asserts that t encodes (no BOS) all 46 texts to
 * their ids, printing each that differs (prefixed with name). */
struct le_tok;
void le_test_tok_vectors(const struct le_tok *t, const char *base, const char *name);
/* xorshift64 step of *s, and a standard normal from two steps (Box-Muller). */
uint64_t le_test_xorshift(uint64_t *s);
float le_test_normal(uint64_t *s);
/* Whole file into a malloc'ed buffer (NUL-terminated, *n = size); NULL on error. */
void *le_test_read_file(const char *path, size_t *n);
int le_test_write_file(const char *path, const void *data, size_t n);
/* The JSON document in dir/name (name alone when dir is NULL), parsed;
 * asserts that the file reads and parses (cJSON_Delete it). */
struct cJSON;
struct cJSON *le_test_read_json(const char *dir, const char *name);
/* Asserts that out holds each of the n strings of want (fails naming the
 * first missing, with out). */
void le_test_assert_has(const char *out, const char *const *want, size_t n);
/* The llamaeval binary under test ($LE_BIN, set by ctest): the test build,
 * llamaeval_testing, whose test seams (LE_TEST_*) are live. */
const char *le_test_bin(void);
/* Runs a shell command; captures stdout+stderr into *out (malloc'ed, may be
 * NULL). Returns the exit status, or 128+signal when killed by a signal. */
int le_test_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* le_test_sh that asserts the exit status and, unless want is NULL, that the
 * output holds want (failing with the output shown); returns the output. */
char *le_test_sh_expect(int status, const char *want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
