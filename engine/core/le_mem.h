/*
 * le_mem: how much memory this process may still use, as the kernel and its
 * control group say -- the number a context's memory plan (le_model.h:
 * le_ctx_mem_plan) is checked against before anything is allocated or
 * paged in.
 *
 * Available = /proc/meminfo's MemAvailable (free memory plus the page cache
 * the kernel can reclaim, which includes a model file's cached pages), or,
 * when the process's memory cgroup is limited and tighter, that limit minus
 * what the cgroup holds other than file cache (v2: memory.max -
 * (memory.current - memory.stat's file); v1: memory.limit_in_bytes -
 * (memory.usage_in_bytes - memory.stat's total_cache)). The files are read
 * under a root folder given by the caller ("" is the system itself), so
 * tests give a folder of their own files: the one seam, no globals.
 */
#ifndef LE_MEM_H
#define LE_MEM_H

#include <stdint.h>

/* Which figure bounded le_mem_available's answer. */
enum { LE_MEM_MEMINFO = 1, LE_MEM_CGROUP_V2 = 2, LE_MEM_CGROUP_V1 = 3 };

/* *bytes = memory available to this process, read under root (""
 * for the running system: root + "/proc/meminfo", root +
 * "/sys/fs/cgroup/memory.max", ...); *source = LE_MEM_* (may be NULL).
 * Returns LE_OK, or LE_ENOTFOUND when neither meminfo nor a cgroup limit can
 * be read (then *bytes = 0). */
int le_mem_available(const char *root, uint64_t *bytes, int *source);

/* "MemAvailable", "cgroup memory.max", "cgroup memory.limit_in_bytes". */
const char *le_mem_source_name(int source);

/* Writes bytes in binary units ("812.0 MiB", "3.53 GiB") into buf. */
void le_mem_fmt(uint64_t bytes, char *buf, int n);

#endif
