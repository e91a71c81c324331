/* le_test: shared test support. See le_test.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h> /* fail_msg */

#include "le_test.h"

#include "le_err.h"      /* le_err_msg */
#include "le_fs.h"       /* le_read_file */
#include "le_genmodel.h" /* the model fixture */
#include "le_model.h"
#include "le_pool.h"
#include "le_datasets.h" /* le_test_load_task */
#include "le_tasks.h"
#include "le_tok.h"      /* le_test_tok_vectors */

#include <cjson/cJSON.h> /* le_test_read_json */

#include <math.h>
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

static char *le_test_group_dir;

int le_test_dir_setup(void **state) {
    (void)state;
    le_test_group_dir = le_test_tmpdir();
    return le_test_group_dir ? 0 : -1;
}

int le_test_dir_teardown(void **state) {
    (void)state;
    le_test_rmdir(le_test_group_dir);
    free(le_test_group_dir);
    le_test_group_dir = NULL;
    return 0;
}

const char *le_test_dir(void) {
    return le_test_group_dir;
}

int le_test_fx_setup(void **state, size_t size, const char *db_name) {
    struct le_test_fx *f = calloc(1, size > sizeof *f ? size : sizeof *f);
    if (!f || !(f->dir = le_test_tmpdir())) {
        free(f);
        return -1;
    }
    if (db_name)
        snprintf(f->db, sizeof f->db, "%s/%s", f->dir, db_name);
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    *state = f;
    return 0;
}

int le_test_fx_teardown(void **state) {
    struct le_test_fx *f = *state;
    le_test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

int le_genmodel_fx_setup(void **state, const struct le_genmodel_cfg *cfg) {
    struct le_genmodel_fx *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = le_test_tmpdir())) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/gen.gguf", f->dir);
    *state = f;
    if (le_genmodel_write(f->path, cfg) || le_model_open(&f->m, f->path) || le_pool_new(&f->pool2, 2)) {
        fprintf(stderr, "setup: %s\n", le_err_msg());
        le_genmodel_fx_teardown(state);
        return -1;
    }
    return 0;
}

int le_genmodel_fx_teardown(void **state) {
    struct le_genmodel_fx *f = *state;
    le_model_free(f->m);
    le_pool_free(f->pool2);
    le_test_rmdir(f->dir);
    free(f->dir);
    free(f);
    *state = NULL;
    return 0;
}

int le_test_task_load_limit(struct le_taskset **ts, const char *cache, const char *task, int k, int64_t limit) {
    struct le_ds_opts ds = {0};
    ds.cache_dir = cache;
    ds.offline = 1;
    struct le_task_opts o;
    le_task_opts_default(&o);
    o.ds = &ds;
    o.num_fewshot = k;
    o.limit = limit;
    *ts = NULL;
    return le_task_load(ts, task, &o);
}

int le_test_task_load(struct le_taskset **ts, const char *cache, const char *task, int k) {
    return le_test_task_load_limit(ts, cache, task, k, 0);
}

struct le_taskset *le_test_load_task(const char *cache, const char *task, int k) {
    struct le_taskset *ts = NULL;
    if (le_test_task_load(&ts, cache, task, k))
        fail_msg("%s: %s", task, le_err_msg());
    return ts;
}

int32_t *le_test_parse_ids(const char *s, size_t n, int64_t *count) {
    int32_t *v = malloc((n / 2 + 2) * sizeof *v);
    assert_non_null(v);
    int64_t k = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
            p++;
        if (p >= end)
            break;
        char *q;
        long x = strtol(p, &q, 10);
        assert_true(q > p);
        v[k++] = (int32_t)x;
        p = q;
    }
    *count = k;
    return v;
}

/* One text of the vectors: 1 when t's ids differ from want's (printed). */
static int le_test_tok_differs(const struct le_tok *t, const char *text, size_t len, const int32_t *want,
                               int64_t n_want, const char *name, int i) {
    int32_t *got = malloc((len + 2) * sizeof *got);
    assert_non_null(got);
    int64_t n_got = -1;
    assert_int_equal(le_tok_encode(t, text, len, 0, got, (int64_t)len + 2, &n_got), LE_OK);
    assert_true(n_got <= (int64_t)len + 2);
    int bad = n_got != n_want || (n_want > 0 && memcmp(got, want, (size_t)n_want * sizeof *got) != 0);
    if (bad) {
        printf("%s test %d ('%.*s'): got", name, i, (int)(len > 40 ? 40 : len), text);
        for (int64_t j = 0; j < n_got && j < 40; j++)
            printf(" %d", got[j]);
        printf("\n  want");
        for (int64_t j = 0; j < n_want && j < 40; j++)
            printf(" %d", want[j]);
        printf("\n");
    }
    free(got);
    return bad;
}

void le_test_tok_vectors(const struct le_tok *t, const char *base, const char *name) {
    char p1[4096], p2[4096], r1[512], r2[512];
    snprintf(r1, sizeof r1, "%s.inp", base);
    snprintf(r2, sizeof r2, "%s.out", base);
    size_t ni = 0, no = 0;
    char *inp = le_test_read_file(le_test_oracle_path(p1, sizeof p1, r1), &ni);
    char *out = le_test_read_file(le_test_oracle_path(p2, sizeof p2, r2), &no);
    assert_non_null(inp);
    assert_non_null(out);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sl = sizeof sep - 1;
    size_t pos = 0;
    const char *line = out;
    int n_tests = 0, n_bad = 0;
    while (pos < ni) {
        const char *m = memmem(inp + pos, ni - pos, sep, sl);
        assert_non_null(m);
        size_t len = (size_t)(m - (inp + pos));
        const char *eol = memchr(line, '\n', (size_t)(out + no - line));
        assert_non_null(eol);
        int64_t n_want;
        int32_t *want = le_test_parse_ids(line, (size_t)(eol - line), &n_want);
        n_bad += le_test_tok_differs(t, inp + pos, len, want, n_want, name, n_tests);
        free(want);
        line = eol + 1;
        pos += len + sl;
        n_tests++;
    }
    assert_int_equal(n_tests, 46);
    assert_int_equal(n_bad, 0);
    free(inp);
    free(out);
}

uint64_t le_test_xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

float le_test_normal(uint64_t *s) {
    double u1 = ((le_test_xorshift(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (le_test_xorshift(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
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

struct cJSON *le_test_read_json(const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof path, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    char *s = le_test_read_file(path, NULL);
    if (!s)
        fail_msg("cannot read %s", path);
    cJSON *j = cJSON_Parse(s);
    free(s);
    if (!j)
        fail_msg("%s is not JSON", path);
    return j;
}

void le_test_assert_has(const char *out, const char *const *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!out || !strstr(out, want[i]))
            fail_msg("no '%s' in:\n%s", want[i], out ? out : "(nothing)");
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

static int le_test_vsh(char **out, const char *fmt, va_list ap) {
    char cmd[16384];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
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

int le_test_sh(char **out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int st = le_test_vsh(out, fmt, ap);
    va_end(ap);
    return st;
}

char *le_test_sh_expect(int status, const char *want, const char *fmt, ...) {
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    int st = le_test_vsh(&out, fmt, ap);
    va_end(ap);
    if (st != status || (want && (!out || !strstr(out, want))))
        fail_msg("exit status %d (want %d), output%s%s%s:\n%s", st, status, want ? " without '" : "",
                 want ? want : "", want ? "'" : "", out ? out : "(none)");
    return out;
}
