/*
 * le_fs: the file-system chores every layer repeats -- reading a whole
 * file, creating a directory with its parents. Errors come back as LE_E*
 * codes with a one-line message naming the path (le_err.h).
 */
#ifndef LE_FS_H
#define LE_FS_H

#include <stddef.h>

/* Reads all of path (a regular file or a pipe) into *out (malloc'ed,
 * NUL-terminated; the caller frees) and its length into *len. LE_EIO when
 * it cannot be opened or read (a directory included), LE_ENOMEM. */
int le_read_file(const char *path, char **out, size_t *len);

/* mkdir -p: creates dir and its missing parents (mode 0777 less the
 * umask); an existing directory is fine. LE_EIO naming the part that
 * failed (errno kept). */
int le_mkdirs(const char *dir);

#endif
