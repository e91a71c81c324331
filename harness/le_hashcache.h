/*
 * le_hashcache: the sha256 of a model file, remembered so that a
 * multi-gigabyte model is hashed once, not on every run (7 GB cost seconds
 * of CPU each time). A small text file in the cache folder
 * (model-sha256.tsv in $LLAMAEVAL_CACHE, else $XDG_CACHE_HOME/llamaeval,
 * else ~/.cache/llamaeval -- where `fetch` keeps its datasets) holds one
 * line per file: sha256, size, mtime (ns), device, inode and the absolute
 * path. A lookup hits only when the path's file has the same size, mtime,
 * device and inode as when it was hashed; anything else (the file rewritten,
 * touched, replaced by another) rehashes. The file is rewritten whole
 * (temporary file, rename) on every new entry and keeps the newest
 * LE_HASHCACHE_MAX entries; a cache that cannot be read or written only
 * costs the rehash, never an error.
 *
 * Why a file and not the results store: bench, generate and `--db none`
 * runs have no store, and one machine's many stores share one cache.
 */
#ifndef LE_HASHCACHE_H
#define LE_HASHCACHE_H

#include "le_util.h" /* le_progress_cb */

#include <stddef.h>

enum { LE_HASHCACHE_MAX = 512 };

/* sha256 (lowercase hex) of the regular file at path, from cache_file when
 * it holds the file's current size, mtime and inode, else computed
 * (cb(ud, done, total) reports progress; cb may be NULL) and stored there.
 * cache_file NULL: no cache. *hit (may be NULL) = 1 when it came from the
 * cache. Returns LE_OK or LE_EIO (the file could not be read). */
int le_hashcache_file(const char *cache_file, const char *path, le_progress_cb cb, void *ud, char sha[65],
                      int *hit);
/* 1 (sha set) when cache_file holds path's current size, mtime and inode;
 * else 0. Never hashes: le_hashcache_file after a miss. */
int le_hashcache_lookup(const char *cache_file, const char *path, char sha[65]);
/* The cache file's path in the user's cache folder (see above) into buf;
 * LE_EINVAL when there is no cache folder (no HOME). */
int le_hashcache_default(char *buf, size_t n);

#endif
