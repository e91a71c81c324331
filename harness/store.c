/*
 * store: the SQLite results store behind le_store.h. With store_merge.c
 * (le_store_merge) the only file that includes sqlite3.h, so the schema and
 * every SQL statement live here or there.
 *
 * Design:
 * - WAL journal (readers never block the one writer; a killed writer leaves
 *   only uncommitted WAL frames, which the next opener ignores), a 10 s busy
 *   timeout, and BEGIN IMMEDIATE for every write, retried on SQLITE_BUSY so
 *   that processes of a job array sharing one file queue up instead of
 *   failing. synchronous=NORMAL: in WAL mode a crash of the process never
 *   loses a commit; only a power cut may lose the last ones, never corrupt.
 * - The schema is versioned by PRAGMA user_version and built by the
 *   migrations list below: migration i takes a database from version i-1 to
 *   i, inside one write transaction that re-reads the version after taking
 *   the lock (two processes opening a fresh file migrate it once).
 *   application_id marks the file as a llamaeval store.
 * - A cell is done when its row in `cells` has done_at set; put_cell writes
 *   the results and that mark in one transaction, so a crash leaves the cell
 *   not done and a rerun redoes it without duplicate rows.
 *
 * Workload: a few writes per cell (one put_cell, a few put_samples batches of
 * hundreds to thousands of rows), many cell_done probes at plan start; reads
 * for reports and export. Statements are prepared per call: their cost is
 * negligible next to a model forward pass. One connection per process and
 * per thread; a struct le_store is used by one thread at a time.
 */
#include "le_store.h"
#include "store_int.h"  /* struct le_store, the helpers store_merge.c shares */
#include "le_version.h" /* LE_VERSION, generated at build time */
#include "le_err.h"    /* le_err_set, LE_E* */
#include "le_sha256.h" /* le_sha256_* for cell keys */

#include <cjson/cJSON.h> /* JSON export */
#include <sqlite3.h>

#include <ctype.h> /* isalnum */
#include <errno.h>
#include <libgen.h> /* dirname */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h> /* ST_RDONLY: a read-only filesystem */
#include <time.h>   /* nanosleep */
#include <unistd.h> /* access, gethostname, getpid */

enum {
    LE_STORE_BUSY_MS = 10000,  /* sqlite3_busy_timeout per attempt */
    LE_STORE_BUSY_RETRIES = 6, /* extra BEGIN IMMEDIATE attempts after a timeout */
    LE_STORE_APP_ID = 0x4c4c4556, /* "LLEV" in PRAGMA application_id */
};


/*
 * The migrations. Entry i (0-based) takes user_version i to i+1. Never edit
 * an entry once released: append a new one (ALTER TABLE ..., CREATE INDEX
 * ...), and the next open of an older file runs it.
 */
static const char *const le_store_migrations[] = {
    /* 1: the initial schema. Times are ISO 8601 UTC text; unknown numbers are NULL. */
    "CREATE TABLE models("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT,"
    "  sha256 TEXT NOT NULL UNIQUE,"
    "  arch TEXT, type TEXT, name TEXT,"
    "  n_params INTEGER, n_params_nonembed INTEGER, file_size INTEGER, tokens_trained INTEGER,"
    "  created TEXT NOT NULL);"
    "CREATE TABLE runs("
    "  id INTEGER PRIMARY KEY,"
    "  command TEXT, config TEXT, seed INTEGER, version TEXT, host TEXT, threads INTEGER,"
    "  started TEXT NOT NULL, ended TEXT, status TEXT NOT NULL);"
    "CREATE TABLE cells("
    "  key TEXT PRIMARY KEY,"
    "  task TEXT NOT NULL,"
    "  model_id INTEGER REFERENCES models(id),"
    "  run_id INTEGER REFERENCES runs(id),"
    "  config TEXT,"
    "  done_at TEXT);"
    "CREATE TABLE results("
    "  id INTEGER PRIMARY KEY,"
    "  cell TEXT NOT NULL REFERENCES cells(key),"
    "  run_id INTEGER REFERENCES runs(id),"
    "  model_id INTEGER REFERENCES models(id),"
    "  task TEXT NOT NULL, metric TEXT NOT NULL,"
    "  value REAL, stderr REAL, n INTEGER);"
    "CREATE INDEX results_cell ON results(cell);"
    "CREATE INDEX results_model_task ON results(model_id, task);"
    "CREATE TABLE samples("
    "  id INTEGER PRIMARY KEY,"
    "  cell TEXT NOT NULL, doc INTEGER NOT NULL, req INTEGER NOT NULL,"
    "  run_id INTEGER REFERENCES runs(id),"
    "  json TEXT NOT NULL,"
    "  UNIQUE(cell, doc, req));"
    "CREATE TABLE train_steps("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  step INTEGER NOT NULL, tokens INTEGER,"
    "  train_loss REAL, val_loss REAL, lr REAL, tokens_per_s REAL,"
    "  UNIQUE(run_id, step));",
    /* 2: scaling sweeps. A sweep cell's static description (written when it
     * starts) and its evaluation points; its final numbers are the cell's
     * results. Keyed by the cell key, not by a foreign key to cells: the
     * description exists before the cell row does. */
    "CREATE TABLE sweep_cells("
    "  key TEXT PRIMARY KEY,"
    "  plan TEXT NOT NULL, label TEXT, config TEXT,"
    "  budget REAL,"
    "  dim INTEGER, n_layers INTEGER, n_heads INTEGER, n_kv_heads INTEGER, ffn INTEGER, ctx INTEGER,"
    "  vocab INTEGER, tied INTEGER, lr REAL, seed INTEGER,"
    "  tokens INTEGER NOT NULL,"
    "  n_total INTEGER NOT NULL, n_nonembed INTEGER, n_nonembed_noout INTEGER,"
    "  flops_per_token REAL, flops_6nd REAL, flops_exact REAL,"
    "  created TEXT NOT NULL);"
    "CREATE INDEX sweep_cells_plan ON sweep_cells(plan);"
    "CREATE TABLE sweep_points("
    "  cell TEXT NOT NULL, step INTEGER NOT NULL, tokens INTEGER NOT NULL,"
    "  flops REAL, train_loss REAL, val_loss REAL,"
    "  PRIMARY KEY(cell, step));",
    /* 3: claims on cells (a lease per cell a process is computing, so two
     * processes never compute one cell) and the pid of a run's process (a run
     * whose process is gone can be told from a running one). expires is Unix
     * time in seconds, from the database's clock (le_store_now_sql). */
    "CREATE TABLE claims("
    "  cell TEXT PRIMARY KEY,"
    "  run_id INTEGER, host TEXT, pid INTEGER,"
    "  expires REAL NOT NULL);"
    "ALTER TABLE runs ADD COLUMN pid INTEGER;",
    /* 4: append here. */
};
static const int le_store_n_migrations = (int)(sizeof le_store_migrations / sizeof le_store_migrations[0]);

/* The tables `db info` counts, in schema order. */
static const char *const le_store_tables[] = {"models",      "runs",        "cells",       "results",
                                              "samples",     "train_steps", "sweep_cells", "sweep_points",
                                              "claims"};

#define LE_NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
/* Now as Unix seconds (with fractions) for lease expiry: every process
 * sharing the file reads one clock formula (SQLite 3.40 has no unixepoch
 * with subseconds). */
#define LE_UNIX_SQL "((julianday('now') - 2440587.5) * 86400.0)"

int le_store_schema_latest(void) { return le_store_n_migrations; }

/* Functions for errors, statements and transactions. */

/* Is the connection's last error one of the OS (I/O, full disk, cannot open)? */
static int le_store_os_error(sqlite3 *db) {
    int ec = sqlite3_extended_errcode(db) & 0xff;
    return ec == SQLITE_IOERR || ec == SQLITE_FULL || ec == SQLITE_CANTOPEN;
}

/* SQLite's message for the last error, with the system's errno text when the
 * OS failed: "disk I/O error (File too large)" rather than a generic
 * "disk I/O error" that hides a full disk or a file-size limit. SQLite
 * records no errno for failures at COMMIT (where WAL frames are written), so
 * `err`, the errno read right after the failed call, is used when it is one
 * that only a failed write can leave (never a stale ENOENT from a probe). */
static const char *le_store_errtext(sqlite3 *db, int err, char *buf, size_t n) {
    const char *msg = sqlite3_errmsg(db);
    if (!le_store_os_error(db))
        return msg;
    int se = sqlite3_system_errno(db);
    if (se == 0 && (err == EFBIG || err == ENOSPC || err == EDQUOT || err == EIO || err == EROFS))
        se = err;
    if (se == 0)
        return msg;
    snprintf(buf, n, "%s (%s)", msg, strerror(se));
    return buf;
}

int le_store_dberr(struct le_store *s, const char *what) {
    int err = errno;
    char buf[256];
    return le_err_set(LE_EDB, "store %s: %s: %s", s->path, what, le_store_errtext(s->db, err, buf, sizeof buf));
}

/* An error while checking a freshly opened file: an OS failure is not a
 * verdict on the file's format. */
static int le_store_unusable(struct le_store *s) {
    int err = errno;
    char buf[256];
    if (le_store_os_error(s->db))
        return le_err_set(LE_EIO, "cannot use database %s: %s", s->path,
                          le_store_errtext(s->db, err, buf, sizeof buf));
    return le_err_set(LE_EDB, "%s is not a usable SQLite database (%s)", s->path,
                      le_store_errtext(s->db, err, buf, sizeof buf));
}

int le_store_prep(struct le_store *s, sqlite3_stmt **st, const char *sql) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return le_store_dberr(s, "prepare");
    }
    return 0;
}

void le_bind_opt_i64(sqlite3_stmt *st, int i, int64_t v) {
    if (v < 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

/* NaN binds as NULL in SQLite; this makes it explicit. */
static void le_bind_opt_f64(sqlite3_stmt *st, int i, double v) {
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

double le_col_f64(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static void le_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Runs sql (no rows expected), retrying while the database is busy. The busy
 * timeout already waits LE_STORE_BUSY_MS; the retry loop covers the cases
 * where SQLite returns BUSY without calling the busy handler (a deadlock
 * between upgrading readers, WAL recovery by another process). */
static int le_store_exec_retry(struct le_store *s, const char *sql, const char *what) {
    int rc = SQLITE_OK;
    for (int attempt = 0; attempt <= LE_STORE_BUSY_RETRIES; attempt++) {
        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            break;
        le_sleep_ms(20 << (attempt < 5 ? attempt : 5));
    }
    return rc == SQLITE_OK ? 0 : le_store_dberr(s, what);
}

int le_store_begin(struct le_store *s) {
    if (s->readonly)
        return le_err_set(LE_EDB, "store %s: opened read-only", s->path);
    return le_store_exec_retry(s, "BEGIN IMMEDIATE", "begin transaction");
}

static int le_store_commit(struct le_store *s) { return le_store_exec_retry(s, "COMMIT", "commit"); }

/* Keeps the error message of the failure that caused the rollback. */
static void le_store_rollback(struct le_store *s) {
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Ends a write: commit when rc == 0, else roll back; returns the outcome. */
int le_store_end(struct le_store *s, int rc) {
    if (rc == 0)
        rc = le_store_commit(s);
    if (rc != 0)
        le_store_rollback(s);
    return rc;
}

/* Steps a statement that returns no rows (or ignores them). */
int le_store_step_done(struct le_store *s, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return le_store_dberr(s, what);
    return 0;
}

static int le_store_int_query(struct le_store *s, const char *sql, int64_t *out) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, sql);
    if (rc)
        return rc;
    int sr = sqlite3_step(st);
    if (sr == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = sr == SQLITE_DONE ? le_err_set(LE_EDB, "store %s: no row for %s", s->path, sql)
                               : le_store_dberr(s, sql);
    sqlite3_finalize(st);
    return rc;
}

/* Functions to open, migrate and close. */

/* Clear errors, naming the path, for the usual reasons a database cannot be
 * created or written: SQLite's own "unable to open database file" does not
 * say which part is wrong. The directory must be writable even for an
 * existing file, because WAL mode creates -wal and -shm files beside it. */
static int le_store_check_path(const char *path) {
    if (!strcmp(path, ":memory:"))
        return 0;
    char *dup = strdup(path);
    if (!dup)
        return le_err_set(LE_ENOMEM, "out of memory");
    const char *dir = dirname(dup);
    struct stat st;
    int rc = 0;
    if (stat(dir, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            rc = le_err_set(LE_EIO, "cannot create database %s: directory %s does not exist", path, dir);
        else if (e == ENOTDIR)
            rc = le_err_set(LE_EIO, "cannot create database %s: a component of %s is not a directory", path, dir);
        else
            rc = le_err_set(LE_EIO, "cannot create database %s: directory %s: %s", path, dir, strerror(e));
    } else if (!S_ISDIR(st.st_mode)) {
        rc = le_err_set(LE_EIO, "cannot create database %s: %s is not a directory", path, dir);
    } else if (access(dir, W_OK | X_OK) != 0) {
        rc = le_err_set(LE_EIO, "cannot write database %s: directory %s is not writable (%s)", path, dir,
                        strerror(errno));
    } else if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            rc = le_err_set(LE_EIO, "cannot open database %s: it is a directory", path);
        else if (access(path, R_OK | W_OK) != 0)
            rc = le_err_set(LE_EIO, "cannot write database %s: %s", path, strerror(errno));
    }
    free(dup);
    return rc;
}

/* Opens `name` (path, or a file: URI with SQLITE_OPEN_URI) as the store `path`. */
static int le_store_connect(struct le_store **out, const char *path, const char *name, int flags) {
    struct le_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    s->readonly = !(flags & SQLITE_OPEN_READWRITE);
    int rc = sqlite3_open_v2(name, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        int err = errno;
        char buf[256];
        int code = le_err_set(LE_EIO, "cannot open database %s: %s", path,
                              s->db ? le_store_errtext(s->db, err, buf, sizeof buf) : sqlite3_errstr(rc));
        le_store_close(s);
        return code;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, LE_STORE_BUSY_MS);
    *out = s;
    return 0;
}

/* Checks the file is ours (or empty) and returns its version. A file that is
 * not SQLite fails here with a clear message, on the first read. */
static int le_store_identify(struct le_store *s, int *version) {
    int64_t v, app, nobj;
    if (le_store_int_query(s, "PRAGMA user_version", &v) ||
        le_store_int_query(s, "PRAGMA application_id", &app) ||
        le_store_int_query(s, "SELECT count(*) FROM sqlite_master", &nobj))
        return le_store_unusable(s);
    if ((v > 0 && app != LE_STORE_APP_ID) || (v == 0 && nobj > 0))
        return le_err_set(LE_EDB, "%s is an SQLite database but not a llamaeval store", s->path);
    if (v > le_store_n_migrations)
        return le_err_set(LE_EDB, "store %s has schema version %d, newer than this llamaeval supports (%d)",
                          s->path, (int)v, le_store_n_migrations);
    *version = (int)v;
    return 0;
}

static int le_store_migrate(struct le_store *s) {
    int v, rc = le_store_identify(s, &v);
    if (rc || v == le_store_n_migrations)
        return rc;
    if ((rc = le_store_begin(s)))
        return rc;
    /* Another process may have migrated between our read and the lock. */
    rc = le_store_identify(s, &v);
    for (; rc == 0 && v < le_store_n_migrations; v++) {
        char sql[96];
        if (sqlite3_exec(s->db, le_store_migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
            rc = le_store_dberr(s, "migration");
            break;
        }
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d", v + 1, LE_STORE_APP_ID);
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
            rc = le_store_dberr(s, "set schema version");
    }
    return le_store_end(s, rc);
}

static int le_store_set_wal(struct le_store *s) {
    char mode[16] = "";
    for (int attempt = 0; attempt <= LE_STORE_BUSY_RETRIES; attempt++) {
        sqlite3_stmt *st;
        int rc = le_store_prep(s, &st, "PRAGMA journal_mode=WAL");
        if (rc)
            return rc;
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW)
            snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (sr == SQLITE_ROW)
            break;
        if ((sr & 0xff) != SQLITE_BUSY && (sr & 0xff) != SQLITE_LOCKED)
            return le_store_unusable(s);
        le_sleep_ms(20 << (attempt < 5 ? attempt : 5));
    }
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        return le_err_set(LE_EDB, "store %s: cannot use WAL journal mode (got '%s'); is it on a network filesystem?",
                          s->path, mode);
    return 0;
}

int le_store_open(struct le_store **out, const char *path) {
    *out = NULL;
    if (!path || !path[0])
        return le_err_set(LE_EINVAL, "no database path given");
    int rc = le_store_check_path(path);
    if (rc)
        return rc;
    struct le_store *s;
    if ((rc = le_store_connect(&s, path, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)))
        return rc;
    if (!(rc = le_store_set_wal(s)) &&
        !(rc = le_store_exec_retry(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", "pragmas")))
        rc = le_store_migrate(s);
    if (rc) {
        le_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Checks an opened read-only store is an initialised llamaeval store. */
static int le_store_check_readable(struct le_store *s) {
    int v, rc = le_store_identify(s, &v);
    if (rc == 0 && v == 0)
        rc = le_err_set(LE_EDB, "%s is not an initialised llamaeval store (run 'llamaeval db init --db %s')", s->path,
                        s->path);
    return rc;
}

/*
 * A WAL database in a folder we cannot write: SQLite cannot create the -shm
 * file it needs to read it (SQLITE_READONLY_DIRECTORY, or SQLITE_CANTOPEN on a
 * read-only filesystem). On a read-only
 * filesystem with no -wal file no writer can exist, so the file is opened as
 * immutable (no locks, no -shm); anywhere else another user could be writing
 * it, so that would be unsafe and the error says what to do instead.
 */
static int le_store_open_immutable(struct le_store **out, const char *path) {
    size_t n = strlen(path);
    char *wal = malloc(n + 5), *dup = strdup(path), *uri = malloc(3 * n + 32);
    int rc = 0;
    if (!wal || !dup || !uri) {
        rc = le_err_set(LE_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(wal, n + 5, "%s-wal", path);
    struct statvfs fs;
    if (access(wal, F_OK) == 0 || statvfs(dirname(dup), &fs) != 0 || !(fs.f_flag & ST_RDONLY)) {
        rc = le_err_set(LE_EIO,
                        "cannot read database %s: its folder is not writable and SQLite needs to create %s-shm "
                        "there to read a WAL database (make the folder writable or copy the file elsewhere)",
                        path, path);
        goto done;
    }
    /* file: URI with the path percent-encoded, then ?immutable=1 */
    char *u = uri + sprintf(uri, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        u += isalnum(*p) || strchr("/._-~", *p) ? sprintf(u, "%c", *p) : sprintf(u, "%%%02X", *p);
    strcpy(u, "?immutable=1");
    struct le_store *s;
    if ((rc = le_store_connect(&s, path, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI)))
        goto done;
    s->readonly = 1;
    if ((rc = le_store_check_readable(s)))
        le_store_close(s);
    else
        *out = s;
done:
    free(wal);
    free(dup);
    free(uri);
    return rc;
}

int le_store_open_readonly(struct le_store **out, const char *path) {
    *out = NULL;
    if (!path || !path[0])
        return le_err_set(LE_EINVAL, "no database path given");
    struct stat st;
    if (stat(path, &st) != 0)
        return le_err_set(errno == ENOENT ? LE_ENOTFOUND : LE_EIO, "cannot open database %s: %s", path,
                          strerror(errno));
    if (!S_ISREG(st.st_mode))
        return le_err_set(LE_EIO, "cannot open database %s: not a regular file", path);
    /* A read-only connection can neither checkpoint nor delete the -wal and
     * -shm files it needs, so it would leave them next to the database. Where
     * we could write anyway, open read-write, refuse writes with query_only
     * and let the close remove them (when no other process has the file
     * open); otherwise (a read-only file or folder) open read-only. */
    char *dup = strdup(path);
    int writable = dup && access(path, R_OK | W_OK) == 0 && access(dirname(dup), W_OK | X_OK) == 0;
    free(dup);
    struct le_store *s;
    int rc = le_store_connect(&s, path, path, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY);
    if (rc)
        return rc;
    s->readonly = 1;
    if (writable)
        rc = le_store_exec_retry(s, "PRAGMA query_only=1", "pragmas");
    if (!rc)
        rc = le_store_check_readable(s);
    if (rc) {
        int ext = sqlite3_extended_errcode(s->db);
        int cantinit = !writable && (ext == SQLITE_READONLY_CANTINIT || ext == SQLITE_READONLY_DIRECTORY ||
                                     (ext & 0xff) == SQLITE_CANTOPEN);
        le_store_close(s);
        return cantinit ? le_store_open_immutable(out, path) : rc;
    }
    *out = s;
    return 0;
}

void le_store_close(struct le_store *s) {
    if (!s)
        return;
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

int le_store_schema_version(struct le_store *s, int *version) {
    int64_t v;
    int rc = le_store_int_query(s, "PRAGMA user_version", &v);
    if (rc == 0)
        *version = (int)v;
    return rc;
}

int le_store_table_counts(struct le_store *s, const char **names, int64_t *counts, int cap, int *n) {
    int nt = (int)(sizeof le_store_tables / sizeof le_store_tables[0]);
    *n = 0;
    for (int i = 0; i < nt && i < cap; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", le_store_tables[i]);
        int rc = le_store_int_query(s, sql, &counts[i]);
        if (rc)
            return rc;
        names[i] = le_store_tables[i];
        *n = i + 1;
    }
    return 0;
}

int le_store_integrity_check(struct le_store *s, char *out, size_t n) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, "PRAGMA integrity_check");
    if (rc)
        return rc;
    size_t len = 0;
    if (n)
        out[0] = 0;
    int sr = SQLITE_DONE;
    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        const char *row = (const char *)sqlite3_column_text(st, 0);
        if (n > len)
            len += (size_t)snprintf(out + len, n - len, "%s%s", len ? "; " : "", row ? row : "");
    }
    if (sr != SQLITE_DONE)
        rc = le_store_dberr(s, "integrity_check");
    sqlite3_finalize(st);
    return rc;
}

#ifdef LE_TESTING /* the hook's setter exists only in the test build */
void le_store_set_test_hook(struct le_store *s, int (*fn)(void *ud, int row), void *ud) {
    s->hook = fn;
    s->hook_ud = ud;
}
#endif

/* Functions to record models and runs. */

int le_store_put_model(struct le_store *s, const struct le_store_model *m, int64_t *model_id) {
    if (!m->sha256 || !m->sha256[0])
        return le_err_set(LE_EINVAL, "put_model: the model's sha256 is required");
    /* A model is its file's hash: recording it again refreshes what is known. */
    static const char *ins =
        "INSERT INTO models(path, sha256, arch, type, name, n_params, n_params_nonembed, file_size,"
        " tokens_trained, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, " LE_NOW_SQL ")"
        " ON CONFLICT(sha256) DO UPDATE SET path = coalesce(excluded.path, path),"
        " arch = coalesce(excluded.arch, arch), type = coalesce(excluded.type, type),"
        " name = coalesce(excluded.name, name), n_params = coalesce(excluded.n_params, n_params),"
        " n_params_nonembed = coalesce(excluded.n_params_nonembed, n_params_nonembed),"
        " file_size = coalesce(excluded.file_size, file_size),"
        " tokens_trained = coalesce(excluded.tokens_trained, tokens_trained)";
    sqlite3_stmt *st = NULL, *q = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    if (!(rc = le_store_prep(s, &st, ins))) {
        sqlite3_bind_text(st, 1, m->path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, m->sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, m->arch, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, m->type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, m->name, -1, SQLITE_TRANSIENT);
        le_bind_opt_i64(st, 6, m->n_params);
        le_bind_opt_i64(st, 7, m->n_params_nonembed);
        le_bind_opt_i64(st, 8, m->file_size);
        le_bind_opt_i64(st, 9, m->tokens_trained);
        rc = le_store_step_done(s, st, "put_model");
    }
    if (!rc && !(rc = le_store_prep(s, &q, "SELECT id FROM models WHERE sha256 = ?1"))) {
        sqlite3_bind_text(q, 1, m->sha256, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW)
            *model_id = sqlite3_column_int64(q, 0);
        else
            rc = le_store_dberr(s, "put_model: read back id");
    }
    sqlite3_finalize(st);
    sqlite3_finalize(q);
    return le_store_end(s, rc);
}

int le_store_begin_run(struct le_store *s, const char *command, const char *config_json, uint64_t seed,
                       int threads, int64_t *run_id) {
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = 0;
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    /* The seed is stored as the int64 with the same bits (SQLite integers are
     * signed); export prints it back unsigned. A file made at an older
     * version (le_store_open_at_version, for tests) has no pid column. */
    if (!(rc = le_store_int_query(s, "PRAGMA user_version", &v)) &&
        !(rc = le_store_prep(s, &st,
                             v >= 3 ? "INSERT INTO runs(command, config, seed, version, host, threads, started, status, pid)"
                                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, " LE_NOW_SQL ", 'running', ?7)"
                                    : "INSERT INTO runs(command, config, seed, version, host, threads, started, status)"
                                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, " LE_NOW_SQL ", 'running')"))) {
        sqlite3_bind_text(st, 1, command, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, config_json, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, (int64_t)seed);
        sqlite3_bind_text(st, 4, LE_VERSION, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, host[0] ? host : NULL, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 6, threads);
        if (v >= 3)
            sqlite3_bind_int64(st, 7, (int64_t)getpid());
        if (!(rc = le_store_step_done(s, st, "begin_run")))
            *run_id = sqlite3_last_insert_rowid(s->db);
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

int le_store_end_run(struct le_store *s, int64_t run_id, const char *status) {
    sqlite3_stmt *st = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    if (!(rc = le_store_prep(s, &st, "UPDATE runs SET ended = " LE_NOW_SQL ", status = ?1 WHERE id = ?2"))) {
        sqlite3_bind_text(st, 1, status ? status : "ok", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, run_id);
        if (!(rc = le_store_step_done(s, st, "end_run")) && sqlite3_changes(s->db) == 0)
            rc = le_err_set(LE_ENOTFOUND, "store %s: no run %lld", s->path, (long long)run_id);
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

int le_store_run_note(struct le_store *s, int64_t run_id, const char *json) {
    sqlite3_stmt *st = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    if (!(rc = le_store_prep(s, &st,
                             "UPDATE runs SET config = json_set(coalesce(json(config), '{}'), '$.notes',"
                             " json_insert(coalesce(json_extract(config, '$.notes'), '[]'), '$[#]', json(?1)))"
                             " WHERE id = ?2"))) {
        sqlite3_bind_text(st, 1, json, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, run_id);
        if (!(rc = le_store_step_done(s, st, "run_note")) && sqlite3_changes(s->db) == 0)
            rc = le_err_set(LE_ENOTFOUND, "store %s: no run %lld", s->path, (long long)run_id);
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

int le_store_run_status(struct le_store *s, int64_t run_id, char *buf, size_t n) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, "SELECT status FROM runs WHERE id = ?1");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    int sr = sqlite3_step(st);
    if (sr == SQLITE_ROW)
        snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (sr == SQLITE_DONE)
        rc = le_err_set(LE_ENOTFOUND, "store %s: no run %lld", s->path, (long long)run_id);
    else
        rc = le_store_dberr(s, "run_status");
    sqlite3_finalize(st);
    return rc;
}

/* Functions for resumable cells. */

void le_store_cell_key(char out[65], const char *model_sha256, const char *task, const char *config_json) {
    /* NUL separators: ("ab", "c") and ("a", "bc") must not collide. */
    const char *parts[3] = {model_sha256, task, config_json};
    struct le_sha256_ctx c;
    le_sha256_init(&c);
    for (int i = 0; i < 3; i++) {
        const char *p = parts[i] ? parts[i] : "";
        le_sha256_update(&c, p, strlen(p) + 1);
    }
    uint8_t d[32];
    le_sha256_final(&c, d);
    le_sha256_hex(d, out);
}

static int le_store_cell_done_q(struct le_store *s, const char *cell_key, int *done) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, "SELECT done_at IS NOT NULL FROM cells WHERE key = ?1");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
    int sr = sqlite3_step(st);
    *done = sr == SQLITE_ROW && sqlite3_column_int(st, 0);
    if (sr != SQLITE_ROW && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "cell_done");
    sqlite3_finalize(st);
    return rc;
}

int le_store_cell_done(struct le_store *s, const char *cell_key, int *done) {
    return le_store_cell_done_q(s, cell_key, done);
}

/* Calls the test hook after a row; non-zero aborts the transaction. */
static int le_store_hook(struct le_store *s, int row) {
    if (s->hook && s->hook(s->hook_ud, row))
        return le_err_set(LE_EINTR, "store %s: write interrupted by the test hook at row %d", s->path, row);
    return 0;
}

int le_store_put_samples(struct le_store *s, const char *cell_key, int64_t run_id,
                         const struct le_store_sample *smp, int n) {
    if (!cell_key || n < 0)
        return le_err_set(LE_EINVAL, "put_samples: bad arguments");
    sqlite3_stmt *st = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    rc = le_store_prep(s, &st, "INSERT OR IGNORE INTO samples(cell, doc, req, run_id, json) VALUES(?1, ?2, ?3, ?4, ?5)");
    for (int i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, smp[i].doc);
        sqlite3_bind_int64(st, 3, smp[i].req);
        le_bind_opt_i64(st, 4, run_id > 0 ? run_id : -1);
        sqlite3_bind_text(st, 5, smp[i].json ? smp[i].json : "{}", -1, SQLITE_TRANSIENT);
        if (!(rc = le_store_step_done(s, st, "put_samples")))
            rc = le_store_hook(s, i + 1);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

int le_store_get_samples(struct le_store *s, const char *cell_key,
                         int (*fn)(void *ud, int64_t doc, int64_t req, const char *json), void *ud) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, "SELECT doc, req, json FROM samples WHERE cell = ?1 ORDER BY doc, req");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
    int sr = SQLITE_DONE;
    while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), (const char *)sqlite3_column_text(st, 2));
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "get_samples");
    sqlite3_finalize(st);
    return rc;
}

static int le_store_insert_results(struct le_store *s, const char *cell_key, int64_t run_id, int64_t model_id,
                                   const char *task, const struct le_store_result *r, int nr) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st,
                           "INSERT INTO results(cell, run_id, model_id, task, metric, value, stderr, n)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    for (int i = 0; rc == 0 && i < nr; i++) {
        if (!r[i].metric || !r[i].metric[0]) {
            rc = le_err_set(LE_EINVAL, "put_cell: result %d has no metric name", i);
            break;
        }
        sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
        le_bind_opt_i64(st, 2, run_id > 0 ? run_id : -1);
        le_bind_opt_i64(st, 3, model_id > 0 ? model_id : -1);
        sqlite3_bind_text(st, 4, task, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, r[i].metric, -1, SQLITE_TRANSIENT);
        le_bind_opt_f64(st, 6, r[i].value);
        le_bind_opt_f64(st, 7, r[i].stderr_v);
        le_bind_opt_i64(st, 8, r[i].n);
        if (!(rc = le_store_step_done(s, st, "put_cell: insert result")))
            rc = le_store_hook(s, i + 1);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Deletes the claim on a cell (only run_id's when run_id > 0). */
static int le_store_claim_delete(struct le_store *s, const char *cell_key, int64_t run_id) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, "DELETE FROM claims WHERE cell = ?1 AND (?2 <= 0 OR run_id = ?2)");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, run_id);
    rc = le_store_step_done(s, st, "unclaim");
    sqlite3_finalize(st);
    return rc;
}

/* Reads the claim on a cell into *h; *found 0 when there is none. */
static int le_store_claim_read(struct le_store *s, const char *cell_key, struct le_store_holder *h, int *found) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, "SELECT run_id, host, pid, expires - " LE_UNIX_SQL " FROM claims WHERE cell = ?1");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
    int sr = sqlite3_step(st);
    *found = sr == SQLITE_ROW;
    if (*found) {
        const char *host = (const char *)sqlite3_column_text(st, 1);
        h->run_id = sqlite3_column_int64(st, 0);
        snprintf(h->host, sizeof h->host, "%s", host ? host : "");
        h->pid = sqlite3_column_int64(st, 2);
        h->expires_in = sqlite3_column_double(st, 3);
    } else if (sr != SQLITE_DONE) {
        rc = le_store_dberr(s, "read claim");
    }
    sqlite3_finalize(st);
    return rc;
}

static int le_store_claim_write(struct le_store *s, const char *cell_key, const struct le_store_claim *c) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st,
                           "INSERT OR REPLACE INTO claims(cell, run_id, host, pid, expires)"
                           " VALUES(?1, ?2, ?3, ?4, " LE_UNIX_SQL " + ?5)");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, c->run_id);
    sqlite3_bind_text(st, 3, c->host ? c->host : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, c->pid);
    sqlite3_bind_double(st, 5, c->lease_s);
    rc = le_store_step_done(s, st, "claim");
    sqlite3_finalize(st);
    return rc;
}

int le_store_cell_claim(struct le_store *s, const char *cell_key, const struct le_store_claim *c,
                        int64_t take_from_run, int *state, struct le_store_holder *holder) {
    struct le_store_holder h = {0};
    int rc = le_store_begin(s), done = 0, found = 0;
    if (rc)
        return rc;
    /* One write transaction: of two claimants, the second sees the first's row. */
    if (!(rc = le_store_cell_done_q(s, cell_key, &done)) && done)
        *state = LE_STORE_CLAIM_DONE;
    else if (!rc && !(rc = le_store_claim_read(s, cell_key, &h, &found))) {
        int free_ = !found || h.expires_in <= 0 || h.run_id == c->run_id ||
                    (take_from_run > 0 && h.run_id == take_from_run);
        if (free_ && !(rc = le_store_claim_write(s, cell_key, c)))
            *state = LE_STORE_CLAIM_OURS;
        else if (!free_)
            *state = LE_STORE_CLAIM_HELD;
    }
    if (holder)
        *holder = h;
    return le_store_end(s, rc);
}

int le_store_cell_renew(struct le_store *s, const char *cell_key, const struct le_store_claim *c, int *held) {
    sqlite3_stmt *st = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    if (!(rc = le_store_prep(s, &st, "UPDATE claims SET expires = " LE_UNIX_SQL " + ?3 WHERE cell = ?1 AND run_id = ?2"))) {
        sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, c->run_id);
        sqlite3_bind_double(st, 3, c->lease_s);
        if (!(rc = le_store_step_done(s, st, "renew claim")))
            *held = sqlite3_changes(s->db) > 0;
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

int le_store_cell_unclaim(struct le_store *s, const char *cell_key, int64_t run_id) {
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    return le_store_end(s, le_store_claim_delete(s, cell_key, run_id > 0 ? run_id : INT64_MAX));
}

int le_store_put_cell(struct le_store *s, const char *cell_key, int64_t run_id, int64_t model_id,
                      const char *task, const char *config_json, const struct le_store_result *r, int nr) {
    if (!cell_key || !task || !task[0] || nr < 0)
        return le_err_set(LE_EINVAL, "put_cell: a cell key and a task are required");
    int rc = le_store_begin(s), done = 0;
    if (rc)
        return rc;
    /* Checked inside the write lock, so two writers of one cell cannot both win. */
    if (!(rc = le_store_cell_done_q(s, cell_key, &done)) && done)
        rc = le_err_set(LE_EINVAL, "store %s: cell %s (%s) is already done", s->path, cell_key, task);
    sqlite3_stmt *st = NULL;
    if (!rc && !(rc = le_store_prep(s, &st,
                                    "INSERT INTO cells(key, task, model_id, run_id, config, done_at)"
                                    " VALUES(?1, ?2, ?3, ?4, ?5, " LE_NOW_SQL ") ON CONFLICT(key) DO UPDATE SET"
                                    " task = excluded.task, model_id = excluded.model_id, run_id = excluded.run_id,"
                                    " config = excluded.config, done_at = excluded.done_at"))) {
        sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
        le_bind_opt_i64(st, 3, model_id > 0 ? model_id : -1);
        le_bind_opt_i64(st, 4, run_id > 0 ? run_id : -1);
        sqlite3_bind_text(st, 5, config_json, -1, SQLITE_TRANSIENT);
        rc = le_store_step_done(s, st, "put_cell (is the model_id/run_id recorded in this store?)");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = le_store_insert_results(s, cell_key, run_id, model_id, task, r, nr);
    int64_t v = 0; /* done: nobody needs to hold it any more (no claims before version 3) */
    if (!rc && !(rc = le_store_int_query(s, "PRAGMA user_version", &v)) && v >= 3)
        rc = le_store_claim_delete(s, cell_key, -1);
    return le_store_end(s, rc);
}

int le_store_get_results(struct le_store *s, const char *cell_key,
                         int (*fn)(void *ud, const char *metric, double value, double stderr_v, int64_t n),
                         void *ud) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, "SELECT metric, value, stderr, n FROM results WHERE cell = ?1 ORDER BY id");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_TRANSIENT);
    int sr = SQLITE_DONE;
    while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3);
        rc = fn(ud, (const char *)sqlite3_column_text(st, 0), le_col_f64(st, 1), le_col_f64(st, 2), n);
    }
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "get_results");
    sqlite3_finalize(st);
    return rc;
}

/* Functions for training logs. */

int le_store_put_steps(struct le_store *s, int64_t run_id, const struct le_store_step *stp, int n) {
    if (n < 0)
        return le_err_set(LE_EINVAL, "put_steps: negative count");
    sqlite3_stmt *st = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    /* A resumed training run may log a step again: the latest values win. */
    rc = le_store_prep(s, &st,
                       "INSERT OR REPLACE INTO train_steps(run_id, step, tokens, train_loss, val_loss, lr,"
                       " tokens_per_s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (int i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, stp[i].step);
        le_bind_opt_i64(st, 3, stp[i].tokens);
        le_bind_opt_f64(st, 4, stp[i].train_loss);
        le_bind_opt_f64(st, 5, stp[i].val_loss);
        le_bind_opt_f64(st, 6, stp[i].lr);
        le_bind_opt_f64(st, 7, stp[i].tokens_per_s);
        rc = le_store_step_done(s, st, "put_steps (is the run recorded in this store?)");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

/* Functions for scaling sweeps. */

int le_store_put_sweep_cell(struct le_store *s, const struct le_store_sweep_cell *c) {
    if (!c->key || !c->key[0] || !c->plan)
        return le_err_set(LE_EINVAL, "put_sweep_cell: key and plan are required");
    sqlite3_stmt *st = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    rc = le_store_prep(s, &st,
                       "INSERT OR REPLACE INTO sweep_cells(key, plan, label, config, budget, dim, n_layers,"
                       " n_heads, n_kv_heads, ffn, ctx, vocab, tied, lr, seed, tokens, n_total, n_nonembed,"
                       " n_nonembed_noout, flops_per_token, flops_6nd, flops_exact, created)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
                       " ?19, ?20, ?21, ?22, " LE_NOW_SQL ")");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, c->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->plan, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c->label, -1, SQLITE_STATIC); /* NULL binds NULL */
        sqlite3_bind_text(st, 4, c->config, -1, SQLITE_STATIC);
        le_bind_opt_f64(st, 5, c->budget);
        const int64_t ints[] = {c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->ffn, c->ctx, c->vocab, c->tied};
        for (int i = 0; i < 8; i++)
            le_bind_opt_i64(st, 6 + i, ints[i]);
        le_bind_opt_f64(st, 14, c->lr);
        sqlite3_bind_int64(st, 15, c->seed);
        sqlite3_bind_int64(st, 16, c->tokens);
        sqlite3_bind_int64(st, 17, c->n_total);
        le_bind_opt_i64(st, 18, c->n_nonembed);
        le_bind_opt_i64(st, 19, c->n_nonembed_noout);
        le_bind_opt_f64(st, 20, c->flops_per_token);
        le_bind_opt_f64(st, 21, c->flops_6nd);
        le_bind_opt_f64(st, 22, c->flops_exact);
        rc = le_store_step_done(s, st, "put_sweep_cell");
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

int le_store_put_sweep_points(struct le_store *s, const char *cell_key, const struct le_store_sweep_point *p,
                              int n) {
    if (n < 0 || !cell_key)
        return le_err_set(LE_EINVAL, "put_sweep_points: bad arguments");
    sqlite3_stmt *st = NULL;
    int rc = le_store_begin(s);
    if (rc)
        return rc;
    rc = le_store_prep(s, &st,
                       "INSERT OR REPLACE INTO sweep_points(cell, step, tokens, flops, train_loss, val_loss)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    for (int i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, p[i].step);
        sqlite3_bind_int64(st, 3, p[i].tokens);
        le_bind_opt_f64(st, 4, p[i].flops);
        le_bind_opt_f64(st, 5, p[i].train_loss);
        le_bind_opt_f64(st, 6, p[i].val_loss);
        rc = le_store_step_done(s, st, "put_sweep_points");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return le_store_end(s, rc);
}

int64_t le_col_opt_i64(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

int le_store_sweep_cells(struct le_store *s, const char *plan,
                         int (*fn)(void *ud, const struct le_store_sweep_cell *c), void *ud) {
    /* The final numbers are the cell's results, present only once it is done. */
    static const char *sql =
        "SELECT w.key, w.plan, w.label, w.config, w.budget, w.dim, w.n_layers, w.n_heads, w.n_kv_heads, w.ffn,"
        " w.ctx, w.vocab, w.tied, w.lr, w.seed, w.tokens, w.n_total, w.n_nonembed, w.n_nonembed_noout,"
        " w.flops_per_token, w.flops_6nd, w.flops_exact, c.done_at IS NOT NULL,"
        " (SELECT value FROM results r WHERE r.cell = w.key AND r.metric = 'loss' ORDER BY r.id DESC LIMIT 1),"
        " (SELECT value FROM results r WHERE r.cell = w.key AND r.metric = 'bpb' ORDER BY r.id DESC LIMIT 1),"
        " c.model_id, c.run_id"
        " FROM sweep_cells w LEFT JOIN cells c ON c.key = w.key"
        " WHERE ?1 IS NULL OR w.plan = ?1"
        " ORDER BY w.budget IS NULL, w.budget, w.n_total, w.tokens, w.key";
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, sql);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, plan, -1, SQLITE_STATIC);
    int sr;
    while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
        struct le_store_sweep_cell c = {
            .key = (const char *)sqlite3_column_text(st, 0),
            .plan = (const char *)sqlite3_column_text(st, 1),
            .label = (const char *)sqlite3_column_text(st, 2),
            .config = (const char *)sqlite3_column_text(st, 3),
            .budget = le_col_f64(st, 4),
        };
        int64_t *ints[] = {&c.dim, &c.n_layers, &c.n_heads, &c.n_kv_heads, &c.ffn, &c.ctx, &c.vocab, &c.tied};
        for (int i = 0; i < 8; i++)
            *ints[i] = le_col_opt_i64(st, 5 + i);
        c.lr = le_col_f64(st, 13);
        c.seed = sqlite3_column_int64(st, 14);
        c.tokens = sqlite3_column_int64(st, 15);
        c.n_total = sqlite3_column_int64(st, 16);
        c.n_nonembed = le_col_opt_i64(st, 17);
        c.n_nonembed_noout = le_col_opt_i64(st, 18);
        c.flops_per_token = le_col_f64(st, 19);
        c.flops_6nd = le_col_f64(st, 20);
        c.flops_exact = le_col_f64(st, 21);
        c.done = sqlite3_column_int(st, 22);
        c.loss = c.done ? le_col_f64(st, 23) : NAN;
        c.bpb = c.done ? le_col_f64(st, 24) : NAN;
        c.model_id = c.done ? le_col_opt_i64(st, 25) : -1;
        c.run_id = c.done ? le_col_opt_i64(st, 26) : -1;
        rc = fn(ud, &c);
    }
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "sweep_cells");
    sqlite3_finalize(st);
    return rc;
}

int le_store_sweep_points(struct le_store *s, const char *cell_key,
                          int (*fn)(void *ud, const struct le_store_sweep_point *p), void *ud) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st,
                           "SELECT step, tokens, flops, train_loss, val_loss FROM sweep_points WHERE cell = ?1"
                           " ORDER BY step");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, cell_key, -1, SQLITE_STATIC);
    int sr;
    while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
        struct le_store_sweep_point p = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                         le_col_f64(st, 2), le_col_f64(st, 3), le_col_f64(st, 4)};
        rc = fn(ud, &p);
    }
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "sweep_points");
    sqlite3_finalize(st);
    return rc;
}

/* Functions to export results. One column list serves CSV and JSON. */

static const struct {
    const char *name, *expr;
    int is_unsigned; /* stored as the int64 with the same bits */
} le_export_cols[] = {
    {"run_id", "r.run_id", 0},
    {"cell", "r.cell", 0},
    {"task", "r.task", 0},
    {"metric", "r.metric", 0},
    {"value", "r.value", 0},
    {"stderr", "r.stderr", 0},
    {"n", "r.n", 0},
    {"model_name", "m.name", 0},
    {"model_path", "m.path", 0},
    {"model_sha256", "m.sha256", 0},
    {"model_arch", "m.arch", 0},
    {"model_type", "m.type", 0},
    {"n_params", "m.n_params", 0},
    {"n_params_nonembed", "m.n_params_nonembed", 0},
    {"file_size", "m.file_size", 0},
    {"tokens_trained", "m.tokens_trained", 0},
    {"config", "c.config", 0},
    {"done_at", "c.done_at", 0},
    {"run_command", "u.command", 0},
    {"seed", "u.seed", 1},
    {"version", "u.version", 0},
    {"host", "u.host", 0},
    {"threads", "u.threads", 0},
    {"run_started", "u.started", 0},
    {"run_ended", "u.ended", 0},
    {"run_status", "u.status", 0},
};
enum { LE_EXPORT_NCOLS = (int)(sizeof le_export_cols / sizeof le_export_cols[0]) };

/* Shortest "%.*g" that reads back to the same double (as cJSON prints). */
static void le_fmt_double(char *buf, size_t n, double v) {
    snprintf(buf, n, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, n, "%.17g", v);
}

/* Text of an integer or real cell, or NULL for NULL/text columns. */
static const char *le_export_number(sqlite3_stmt *st, int i, char *buf, size_t n) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        if (le_export_cols[i].is_unsigned)
            snprintf(buf, n, "%llu", (unsigned long long)(uint64_t)sqlite3_column_int64(st, i));
        else
            snprintf(buf, n, "%lld", (long long)sqlite3_column_int64(st, i));
        return buf;
    case SQLITE_FLOAT:
        le_fmt_double(buf, n, sqlite3_column_double(st, i));
        return buf;
    default:
        return NULL;
    }
}

/* RFC 4180: quote a field holding a comma, quote, CR or LF; double quotes. */
static void le_csv_field(FILE *f, const char *v) {
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

static void le_export_csv_row(FILE *f, sqlite3_stmt *st) {
    char num[64];
    for (int i = 0; i < LE_EXPORT_NCOLS; i++) {
        if (i)
            fputc(',', f);
        const char *v = le_export_number(st, i, num, sizeof num); /* never needs quoting */
        if (v)
            fputs(v, f);
        else if (sqlite3_column_type(st, i) == SQLITE_TEXT)
            le_csv_field(f, (const char *)sqlite3_column_text(st, i));
    }
    fputc('\n', f);
}

/* Numbers go in raw so that 64-bit integers keep every digit. Non-finite
 * reals (not representable in JSON) become null. */
static int le_export_json_row(FILE *f, sqlite3_stmt *st, int first) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return le_err_set(LE_ENOMEM, "out of memory");
    char num[64];
    for (int i = 0; i < LE_EXPORT_NCOLS; i++) {
        int t = sqlite3_column_type(st, i);
        const char *v = le_export_number(st, i, num, sizeof num);
        cJSON *item;
        if (v && (t != SQLITE_FLOAT || isfinite(sqlite3_column_double(st, i))))
            item = cJSON_CreateRaw(v);
        else if (t == SQLITE_TEXT)
            item = cJSON_CreateString((const char *)sqlite3_column_text(st, i));
        else
            item = cJSON_CreateNull();
        if (!item || !cJSON_AddItemToObject(o, le_export_cols[i].name, item)) {
            cJSON_Delete(item);
            cJSON_Delete(o);
            return le_err_set(LE_ENOMEM, "out of memory");
        }
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt)
        return le_err_set(LE_ENOMEM, "out of memory");
    fprintf(f, "%s%s", first ? "\n  " : ",\n  ", txt);
    cJSON_free(txt);
    return 0;
}

static int le_export_rows(struct le_store *s, FILE *f, int json) {
    char sql[2048] = "SELECT ";
    size_t len = strlen(sql);
    for (int i = 0; i < LE_EXPORT_NCOLS; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s", i ? ", " : "", le_export_cols[i].expr);
    snprintf(sql + len, sizeof sql - len,
             " FROM results r LEFT JOIN models m ON m.id = r.model_id LEFT JOIN runs u ON u.id = r.run_id"
             " LEFT JOIN cells c ON c.key = r.cell ORDER BY r.id");
    LE_ASSERT(strlen(sql) < sizeof sql - 1);
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, sql), sr = SQLITE_DONE, nrow = 0;
    if (rc)
        return rc;
    if (json) {
        fputs("[", f);
    } else {
        for (int i = 0; i < LE_EXPORT_NCOLS; i++)
            fprintf(f, "%s%s", i ? "," : "", le_export_cols[i].name);
        fputc('\n', f);
    }
    while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
        if (json)
            rc = le_export_json_row(f, st, nrow == 0);
        else
            le_export_csv_row(f, st);
        nrow++;
    }
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "export");
    if (json)
        fputs(nrow ? "\n]\n" : "]\n", f);
    sqlite3_finalize(st);
    return rc;
}

/* Writes to a temporary file renamed over path at the end, so a failed
 * export never leaves a half-written file under the requested name; a path
 * that exists and is not a regular file (/dev/stdout, a FIFO) is written
 * directly, never replaced. */
int le_store_export(struct le_store *s, const char *format, const char *path) {
    int json;
    if (!format || !strcmp(format, "csv"))
        json = 0;
    else if (!strcmp(format, "json"))
        json = 1;
    else
        return le_err_set(LE_EINVAL, "unknown export format '%s' (csv or json)", format);
    if (!path || !strcmp(path, "-")) {
        int rc = le_export_rows(s, stdout, json);
        if (fflush(stdout) != 0 && rc == 0)
            rc = le_err_set(LE_EIO, "cannot write to standard output: %s", strerror(errno));
        return rc;
    }
    struct stat st;
    int direct = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return le_err_set(LE_ENOMEM, "out of memory");
    if (direct)
        snprintf(tmp, n, "%s", path);
    else
        snprintf(tmp, n, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int rc = le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = le_export_rows(s, f, json);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        if (rc == 0)
            rc = le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    if (rc == 0 && !direct && rename(tmp, path) != 0)
        rc = le_err_set(LE_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc != 0 && !direct)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* Functions for reports. */

static const char *le_col_text(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }

int le_store_report_results(struct le_store *s, int (*fn)(void *ud, const struct le_store_report_row *r),
                            void *ud) {
    /* Only done cells count: a cell's results are committed with its done
     * mark, so this also ignores nothing that a reader could trust. */
    static const char *sql =
        "SELECT r.id, r.run_id, r.model_id, r.cell, r.task, r.metric, r.value, r.stderr, r.n, c.config, c.done_at,"
        " m.name, m.path, m.sha256, m.arch, m.type, m.n_params, m.n_params_nonembed, m.file_size, m.tokens_trained"
        " FROM results r JOIN cells c ON c.key = r.cell LEFT JOIN models m ON m.id = r.model_id"
        " WHERE c.done_at IS NOT NULL ORDER BY c.done_at, r.id";
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st, sql), sr = SQLITE_DONE;
    if (rc)
        return rc;
    while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
        struct le_store_report_row r = {
            .result_id = sqlite3_column_int64(st, 0), .run_id = le_col_opt_i64(st, 1),
            .model_id = le_col_opt_i64(st, 2), .cell = le_col_text(st, 3), .task = le_col_text(st, 4),
            .metric = le_col_text(st, 5), .value = le_col_f64(st, 6), .stderr_v = le_col_f64(st, 7),
            .n = le_col_opt_i64(st, 8), .config = le_col_text(st, 9), .done_at = le_col_text(st, 10),
            .model_name = le_col_text(st, 11), .model_path = le_col_text(st, 12),
            .model_sha256 = le_col_text(st, 13), .model_arch = le_col_text(st, 14),
            .model_type = le_col_text(st, 15), .n_params = le_col_opt_i64(st, 16),
            .n_params_nonembed = le_col_opt_i64(st, 17), .file_size = le_col_opt_i64(st, 18),
            .tokens_trained = le_col_opt_i64(st, 19),
        };
        rc = fn(ud, &r);
    }
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "report results");
    sqlite3_finalize(st);
    return rc;
}

int le_store_report_runs(struct le_store *s, int (*fn)(void *ud, const struct le_store_report_run *r), void *ud) {
    sqlite3_stmt *st;
    int rc = le_store_prep(s, &st,
                           "SELECT id, command, config, version, host, started, ended, status, seed, threads, pid"
                           " FROM runs ORDER BY id"),
        sr = SQLITE_DONE;
    if (rc)
        return rc;
    while (rc == 0 && (sr = sqlite3_step(st)) == SQLITE_ROW) {
        struct le_store_report_run r = {
            .id = sqlite3_column_int64(st, 0), .command = le_col_text(st, 1), .config = le_col_text(st, 2),
            .version = le_col_text(st, 3), .host = le_col_text(st, 4), .started = le_col_text(st, 5),
            .ended = le_col_text(st, 6), .status = le_col_text(st, 7),
            .seed = (uint64_t)sqlite3_column_int64(st, 8), .threads = (int)le_col_opt_i64(st, 9),
            .pid = le_col_opt_i64(st, 10),
        };
        rc = fn(ud, &r);
    }
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "report runs");
    sqlite3_finalize(st);
    return rc;
}

int le_store_report_steps(struct le_store *s, int (*fn)(void *ud, int64_t run_id, const struct le_store_step *st),
                          void *ud) {
    sqlite3_stmt *q;
    int rc = le_store_prep(s, &q,
                           "SELECT run_id, step, tokens, train_loss, val_loss, lr, tokens_per_s FROM train_steps"
                           " ORDER BY run_id, step"),
        sr = SQLITE_DONE;
    if (rc)
        return rc;
    while (rc == 0 && (sr = sqlite3_step(q)) == SQLITE_ROW) {
        struct le_store_step stp = {
            .step = sqlite3_column_int64(q, 1), .tokens = le_col_opt_i64(q, 2), .train_loss = le_col_f64(q, 3),
            .val_loss = le_col_f64(q, 4), .lr = le_col_f64(q, 5), .tokens_per_s = le_col_f64(q, 6),
        };
        rc = fn(ud, sqlite3_column_int64(q, 0), &stp);
    }
    if (rc == 0 && sr != SQLITE_DONE)
        rc = le_store_dberr(s, "report training steps");
    sqlite3_finalize(q);
    return rc;
}

int le_store_open_snapshot(struct le_store **out, const char *path, int *from_version) {
    *out = NULL;
    struct le_store *ro, *mem = NULL;
    int v = 0, rc = le_store_open_readonly(&ro, path); /* refuses newer versions and foreign files */
    if (rc)
        return rc;
    if ((rc = le_store_schema_version(ro, &v)) || v == le_store_n_migrations) {
        *from_version = v;
        if (rc)
            le_store_close(ro);
        else
            *out = ro;
        return rc;
    }
    *from_version = v;
    /* An older file: migrate an in-memory copy, never the file. */
    if (!(rc = le_store_connect(&mem, path, ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))) {
        sqlite3_backup *b = sqlite3_backup_init(mem->db, "main", ro->db, "main");
        int br = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        if (b)
            sqlite3_backup_finish(b);
        if (br != SQLITE_DONE)
            rc = le_err_set(LE_EDB, "store %s: cannot copy it into memory to migrate it: %s", path,
                            sqlite3_errmsg(mem->db));
        else if (!(rc = le_store_migrate(mem)))
            rc = le_store_exec_retry(mem, "PRAGMA query_only=1", "pragmas");
    }
    le_store_close(ro);
    if (rc) {
        le_store_close(mem);
        return rc;
    }
    mem->readonly = 1;
    *out = mem;
    return 0;
}

int le_store_open_at_version(struct le_store **out, const char *path, int version) {
    *out = NULL;
    struct le_store *s;
    int v = 0, rc = le_store_check_path(path);
    if (rc || (rc = le_store_connect(&s, path, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)))
        return rc;
    if (!(rc = le_store_set_wal(s)) && !(rc = le_store_identify(s, &v)) && !(rc = le_store_begin(s))) {
        for (; rc == 0 && v < version && v < le_store_n_migrations; v++) {
            char sql[96];
            if (sqlite3_exec(s->db, le_store_migrations[v], NULL, NULL, NULL) != SQLITE_OK)
                rc = le_store_dberr(s, "migration");
            snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d", v + 1, LE_STORE_APP_ID);
            if (rc == 0 && sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                rc = le_store_dberr(s, "set schema version");
        }
        if (rc == 0 && version > le_store_n_migrations) {
            char sql[64];
            snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
            if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                rc = le_store_dberr(s, "set schema version");
        }
        rc = le_store_end(s, rc);
    }
    if (rc) {
        le_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}
