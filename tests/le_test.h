/*
 * le_test: support shared by every test executable (tests run with the
 * source root as working directory; see tests/CMakeLists.txt).
 * Include after cmocka's prerequisites: <stdarg.h> <stddef.h> <setjmp.h> <stdint.h>.
 */
#ifndef LE_TEST_H
#define LE_TEST_H

#include <stddef.h>

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
/* Whole file into a malloc'ed buffer (NUL-terminated, *n = size); NULL on error. */
void *le_test_read_file(const char *path, size_t *n);
int le_test_write_file(const char *path, const void *data, size_t n);
/* The llamaeval binary under test ($LE_BIN, set by ctest): the test build,
 * llamaeval_testing, whose test seams (LE_TEST_*) are live. */
const char *le_test_bin(void);
/* Runs a shell command; captures stdout+stderr into *out (malloc'ed, may be
 * NULL). Returns the exit status, or 128+signal when killed by a signal. */
int le_test_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
