/* le_test: shared test support. See le_test.h. */
#include "le_test.h"

#include "le_fs.h" /* le_read_file */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *le_test_oracle(void) {
    const char *env = getenv("LE_ORACLE_DIR");
    const char *dir = env && env[0] ? env : "../shared/oracle";
    struct stat st;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/README.md", dir);
    if (stat(probe, &st) == 0)
        return dir;
    /* CI always has the oracle: a golden test that cannot find it fails
     * rather than skipping, so a lost checkout cannot pass as green. */
    const char *opt = getenv("LE_ORACLE_OPTIONAL");
    if (opt && !strcmp(opt, "1"))
        return NULL;
    fprintf(stderr, "golden data missing: %s not found (set LE_ORACLE_DIR to the oracle folder, or "
                    "LE_ORACLE_OPTIONAL=1 to skip the golden checks knowingly)\n", probe);
    exit(1);
}

const char *le_test_oracle_path(char *buf, size_t n, const char *rel) {
    const char *d = le_test_oracle();
    snprintf(buf, n, "%s/%s", d ? d : "../shared/oracle", rel);
    return buf;
}

char *le_test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/letest.XXXXXX", base && base[0] ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void le_test_rmdir(const char *dir) {
    if (!dir || !strstr(dir, "letest."))
        return;
    char *out = NULL;
    le_test_sh(&out, "rm -rf '%s'", dir);
    free(out);
}

void *le_test_read_file(const char *path, size_t *n) {
    char *buf;
    size_t len;
    if (le_read_file(path, &buf, &len))
        return NULL;
    if (n)
        *n = len;
    return buf;
}

int le_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

const char *le_test_bin(void) {
    const char *b = getenv("LE_BIN");
    return b && b[0] ? b : "build/llamaeval_testing";
}

int le_test_sh(char **out, const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[16500];
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    char tmp[4096];
    while ((r = fread(tmp, 1, sizeof tmp, p)) > 0) {
        if (buf && len + r + 1 > cap) {
            while (len + r + 1 > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
        if (buf) {
            memcpy(buf + len, tmp, r);
            len += r;
        }
    }
    if (buf)
        buf[len] = 0;
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}
