/*
 * fs: reading whole files and mkdir -p (le_fs.h). Reads go through a
 * doubling buffer rather than the file's size, so pipes and /dev/stdin work
 * and a file that grows while read is read to its end.
 */
#include "le_fs.h"

#include "le_err.h" /* le_err_set, LE_EIO, LE_ENOMEM */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h> /* mkdir */

int le_read_file(const char *path, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return le_err_set(LE_EIO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    int failed = ferror(f), err = errno;
    fclose(f);
    if (!buf)
        return le_err_set(LE_ENOMEM, "out of memory reading %s", path);
    if (failed) {
        free(buf);
        return le_err_set(LE_EIO, "cannot read %s: %s", path, strerror(err));
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return LE_OK;
}

static int le_mkdir_one(const char *dir) {
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return LE_OK;
    int e = errno;
    le_err_set(LE_EIO, "cannot create %s: %s", dir, strerror(e));
    errno = e;
    return LE_EIO;
}

int le_mkdirs(const char *dir) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return le_err_set(LE_EIO, "cannot create %.64s...: path too long", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            int rc = le_mkdir_one(tmp);
            if (rc)
                return rc;
            *p = '/';
        }
    return le_mkdir_one(tmp);
}
