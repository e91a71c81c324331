/*
 * fit_csv: runs for `llamaeval fit --csv FILE` -- one run per row of a CSV
 * file whose header names the columns N, D and loss (any order, any case)
 * and optionally C or budget (the run's IsoFLOP budget in FLOPs, for
 * approach 2's grouping; an empty cell means none). Other columns are
 * ignored, blank lines and '#' comment lines skipped, CRLF accepted, and a
 * field may be wrapped in double quotes (without commas inside). Every
 * problem is reported as "PATH:LINE: what", once, for the first bad line.
 */
#include "le_fit.h"
#include "le_err.h" /* le_err_set */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h> /* strcasecmp */

#define LE_CSV_MAX_COLS 256

/* Splits line (modified in place) at commas into trimmed, unquoted fields. */
static int le_csv_split(char *line, char **f, int cap) {
    int n = 0;
    char *p = line;
    for (;;) {
        char *end = strchr(p, ',');
        if (end)
            *end = 0;
        while (isspace((unsigned char)*p))
            p++;
        char *q = p + strlen(p);
        while (q > p && isspace((unsigned char)q[-1]))
            *--q = 0;
        if (q - p >= 2 && *p == '"' && q[-1] == '"') {
            q[-1] = 0;
            p++;
        }
        if (n == cap)
            return -1;
        f[n++] = p;
        if (!end)
            return n;
        p = end + 1;
    }
}

static int le_csv_number(const char *path, long line, const char *col, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v))
        return le_err_set(LE_EFORMAT, "%s:%ld: column %s: '%.40s' is not a finite number", path, line, col, s);
    *out = v;
    return LE_OK;
}

static int le_csv_header(const char *path, long line, char **f, int nf, int col[4]) {
    static const char *names[4] = {"N", "D", "loss", "C"};
    for (int k = 0; k < 4; k++)
        col[k] = -1;
    for (int i = 0; i < nf; i++) {
        int k = -1;
        if (!strcasecmp(f[i], "n"))
            k = 0;
        else if (!strcasecmp(f[i], "d"))
            k = 1;
        else if (!strcasecmp(f[i], "loss"))
            k = 2;
        else if (!strcasecmp(f[i], "c") || !strcasecmp(f[i], "budget"))
            k = 3;
        if (k < 0)
            continue;
        if (col[k] >= 0)
            return le_err_set(LE_EFORMAT, "%s:%ld: column %s appears twice in the header", path, line, names[k]);
        col[k] = i;
    }
    for (int k = 0; k < 3; k++)
        if (col[k] < 0)
            return le_err_set(LE_EFORMAT, "%s:%ld: the header has no column %s (it needs N, D and loss)", path, line,
                              names[k]);
    return LE_OK;
}

static int le_csv_row(const char *path, long line, char **f, int nf, int ncols, const int col[4],
                      enum le_fit_ncount ncount, struct le_fit_run *r) {
    if (nf != ncols)
        return le_err_set(LE_EFORMAT, "%s:%ld: %d field(s) where the header has %d", path, line, nf, ncols);
    static const char *names[3] = {"N", "D", "loss"};
    double v[3];
    for (int k = 0; k < 3; k++) {
        int rc = le_csv_number(path, line, names[k], f[col[k]], &v[k]);
        if (rc)
            return rc;
        if (!(v[k] > 0))
            return le_err_set(LE_EFORMAT, "%s:%ld: column %s must be positive (got %s)", path, line, names[k],
                              f[col[k]]);
    }
    memset(r, 0, sizeof *r);
    for (int c = 0; c < LE_FIT_N_COUNT; c++)
        r->n[c] = NAN;
    r->n[ncount] = v[0];
    r->d = v[1];
    r->loss = v[2];
    r->flops_per_token = NAN;
    r->budget = NAN;
    if (col[3] >= 0 && *f[col[3]]) {
        int rc = le_csv_number(path, line, "C", f[col[3]], &r->budget);
        if (rc)
            return rc;
        if (!(r->budget > 0))
            return le_err_set(LE_EFORMAT, "%s:%ld: column C must be positive (got %s)", path, line, f[col[3]]);
    }
    return LE_OK;
}

int le_fit_csv_read(const char *path, enum le_fit_ncount ncount, struct le_fit_run **runs, int *n) {
    *runs = NULL;
    *n = 0;
    if ((unsigned)ncount >= LE_FIT_N_COUNT)
        return le_err_set(LE_EINVAL, "bad parameter-count convention %d", (int)ncount);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return le_err_set(LE_EIO, "cannot open %s: %s", path, strerror(errno));
    char *line = NULL, *f[LE_CSV_MAX_COLS];
    size_t cap = 0;
    long lineno = 0;
    int ncols = -1, col[4], rc = LE_OK, have = 0, room = 0;
    struct le_fit_run *out = NULL;
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if ((size_t)len != strlen(line)) {
            rc = le_err_set(LE_EFORMAT, "%s:%ld: a NUL byte in the line (not a text CSV file)", path, lineno);
            goto done;
        }
        const char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        int nf = le_csv_split(line, f, LE_CSV_MAX_COLS);
        if (nf < 0) {
            rc = le_err_set(LE_EFORMAT, "%s:%ld: more than %d columns", path, lineno, LE_CSV_MAX_COLS);
            goto done;
        }
        if (ncols < 0) {
            if ((rc = le_csv_header(path, lineno, f, nf, col)))
                goto done;
            ncols = nf;
            continue;
        }
        if (have == room) {
            room = room ? 2 * room : 64;
            struct le_fit_run *g = realloc(out, sizeof *out * (size_t)room);
            if (!g) {
                rc = le_err_set(LE_ENOMEM, "out of memory reading %s", path);
                goto done;
            }
            out = g;
        }
        if ((rc = le_csv_row(path, lineno, f, nf, ncols, col, ncount, &out[have])))
            goto done;
        have++;
    }
    if (ferror(fp)) {
        rc = le_err_set(LE_EIO, "reading %s: %s", path, strerror(errno));
        goto done;
    }
    if (ncols < 0)
        rc = le_err_set(LE_EFORMAT, "%s: empty file (no header line N,D,loss)", path);
    else if (!have)
        rc = le_err_set(LE_EFORMAT, "%s: no data rows after the header", path);
done:
    free(line);
    fclose(fp);
    if (rc) {
        free(out);
        return rc;
    }
    *runs = out;
    *n = have;
    return LE_OK;
}
