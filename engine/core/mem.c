/*
 * mem: the memory this process may still use (le_mem.h): MemAvailable from
 * /proc/meminfo, bounded by the memory cgroup's limit where one is set. Each
 * file is small (meminfo and memory.stat are a few KiB) and read once per
 * call into a stack buffer; a file that is missing or unparsable simply
 * does not bound the answer.
 */
#include "le_mem.h"

#include "le_err.h" /* le_err_set, LE_ENOTFOUND */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LE_MEM_FILE_MAX = 16384 };

/* Reads root + rel into buf (NUL-terminated, truncated to cap - 1); 0 or -1. */
static int le_mem_read(const char *root, const char *rel, char *buf, size_t cap) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s%s", root, rel) >= (int)sizeof path)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return 0;
}

/* The unsigned number at s (leading blanks skipped); 0 or -1 ("max", junk). */
static int le_mem_num(const char *s, uint64_t *out) {
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    *out = (uint64_t)v;
    return 0;
}

/* The value of "key value" (or "key: value") at the start of a line. */
static int le_mem_field(const char *text, const char *key, uint64_t *out) {
    size_t kl = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, key, kl) != 0)
            continue;
        const char *v = line + kl;
        if (*v == ':')
            v++;
        if (*v != ' ' && *v != '\t')
            continue; /* a longer key with this prefix */
        return le_mem_num(v, out);
    }
    return -1;
}

/* limit - (usage - cache): what the cgroup can still give; 0 when usage
 * (cache excluded) is already past the limit. */
static uint64_t le_mem_cg_left(uint64_t limit, uint64_t usage, uint64_t cache) {
    uint64_t held = usage > cache ? usage - cache : 0;
    return limit > held ? limit - held : 0;
}

static int le_mem_cgroup(const char *root, uint64_t *left, int *source) {
    char buf[LE_MEM_FILE_MAX];
    uint64_t limit, usage, cache = 0;
    /* v2: the unified hierarchy's files at the mount's root (a container's
     * own cgroup namespace). "max" means no limit. */
    if (!le_mem_read(root, "/sys/fs/cgroup/memory.max", buf, sizeof buf)) {
        if (le_mem_num(buf, &limit) || le_mem_read(root, "/sys/fs/cgroup/memory.current", buf, sizeof buf) ||
            le_mem_num(buf, &usage))
            return -1;
        if (!le_mem_read(root, "/sys/fs/cgroup/memory.stat", buf, sizeof buf))
            le_mem_field(buf, "file", &cache);
        *left = le_mem_cg_left(limit, usage, cache);
        *source = LE_MEM_CGROUP_V2;
        return 0;
    }
    /* v1: no limit reads as a page-rounded 2^63 - 1. */
    if (le_mem_read(root, "/sys/fs/cgroup/memory/memory.limit_in_bytes", buf, sizeof buf) ||
        le_mem_num(buf, &limit) || limit >= ((uint64_t)1 << 62) ||
        le_mem_read(root, "/sys/fs/cgroup/memory/memory.usage_in_bytes", buf, sizeof buf) || le_mem_num(buf, &usage))
        return -1;
    if (!le_mem_read(root, "/sys/fs/cgroup/memory/memory.stat", buf, sizeof buf) &&
        le_mem_field(buf, "total_cache", &cache))
        le_mem_field(buf, "cache", &cache);
    *left = le_mem_cg_left(limit, usage, cache);
    *source = LE_MEM_CGROUP_V1;
    return 0;
}

int le_mem_available(const char *root, uint64_t *bytes, int *source) {
    char buf[LE_MEM_FILE_MAX];
    uint64_t kib, best = 0, cg;
    int src = 0, cgsrc = 0;
    if (!root)
        root = "";
    if (!le_mem_read(root, "/proc/meminfo", buf, sizeof buf) && !le_mem_field(buf, "MemAvailable", &kib)) {
        best = kib * 1024;
        src = LE_MEM_MEMINFO;
    }
    if (!le_mem_cgroup(root, &cg, &cgsrc) && (!src || cg < best)) {
        best = cg;
        src = cgsrc;
    }
    *bytes = best;
    if (source)
        *source = src;
    if (!src)
        return le_err_set(LE_ENOTFOUND, "cannot tell the available memory: no readable %s/proc/meminfo and no "
                          "cgroup limit", root);
    return LE_OK;
}

const char *le_mem_source_name(int source) {
    switch (source) {
    case LE_MEM_MEMINFO: return "MemAvailable";
    case LE_MEM_CGROUP_V2: return "cgroup memory.max";
    case LE_MEM_CGROUP_V1: return "cgroup memory.limit_in_bytes";
    default: return "unknown";
    }
}

void le_mem_fmt(uint64_t bytes, char *buf, int n) {
    double b = (double)bytes;
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, (size_t)n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        snprintf(buf, (size_t)n, "%.1f MiB", b / (1024.0 * 1024));
    else
        snprintf(buf, (size_t)n, "%.1f KiB", b / 1024.0);
}
