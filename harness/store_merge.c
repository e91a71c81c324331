/*
 * store_merge: le_store_merge (le_store.h), merging the done cells of shard
 * stores (a Slurm array's) into one, in one transaction of the target. The
 * shard is read on a connection of its own and its rows are bound into
 * statements of the target as sqlite3_values, so every value keeps its type
 * and bits. Models are matched by sha256 and runs by all their columns
 * (shard ids remapped to the target's); a cell the target has done is
 * compared result by result: the same is left alone, a difference is a
 * conflict.
 */
#include "le_store.h"
#include "store_int.h" /* struct le_store, statement and transaction helpers */
#include "le_err.h"    /* le_err_set, LE_E* */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct le_merge {
    struct le_store *s, *src;
    struct le_store_merge_stats st;
    int64_t (*runs)[2], (*models)[2]; /* shard id -> target id */
    int n_runs, n_models;
};

/* Copies the shard's rows of `table` whose `col` is key, as they are (same
 * schema version: the same columns in the same order). *n += rows written. */
static int le_merge_copy(struct le_merge *m, const char *table, const char *col, const char *key, const char *verb,
                         int64_t *n) {
    char sql[256];
    sqlite3_stmt *q = NULL, *ins = NULL;
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE %s = ?1", table, col);
    int rc = le_store_prep(m->src, &q, sql), sr = SQLITE_DONE;
    if (rc)
        return rc;
    int nc = sqlite3_column_count(q);
    size_t at = (size_t)snprintf(sql, sizeof sql, "INSERT %s INTO %s VALUES(", verb, table);
    for (int i = 0; i < nc && at < sizeof sql; i++)
        at += (size_t)snprintf(sql + at, sizeof sql - at, "%s?%d", i ? ", " : "", i + 1);
    if (at + 2 >= sizeof sql)
        rc = le_err_set(LE_EDB, "store merge: table %s has too many columns", table);
    else
        strcat(sql, ")");
    if (!rc)
        rc = le_store_prep(m->s, &ins, sql);
    sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
    while (!rc && (sr = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < nc; i++)
            sqlite3_bind_value(ins, i + 1, sqlite3_column_value(q, i));
        if (!(rc = le_store_step_done(m->s, ins, table)))
            *n += sqlite3_changes(m->s->db);
        sqlite3_reset(ins);
    }
    if (!rc && sr != SQLITE_DONE)
        rc = le_store_dberr(m->src, table);
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    return rc;
}

/* A cached shard id -> target id, or 0 when not seen yet. */
static int64_t le_merge_cached(int64_t (*map)[2], int n, int64_t id) {
    for (int i = 0; i < n; i++)
        if (map[i][0] == id)
            return map[i][1];
    return 0;
}

static int le_merge_cache(int64_t (**map)[2], int *n, int64_t from, int64_t to) {
    int64_t(*p)[2] = realloc(*map, sizeof **map * (size_t)(*n + 1));
    if (!p)
        return le_err_set(LE_ENOMEM, "out of memory");
    p[*n][0] = from, p[*n][1] = to;
    *map = p, (*n)++;
    return 0;
}

/* The target's id of the shard's model `id` (added when its sha256 is new);
 * -1 for none. */
static int le_merge_model(struct le_merge *m, int64_t id, int64_t *out) {
    *out = id > 0 ? le_merge_cached(m->models, m->n_models, id) : -1;
    if (*out)
        return 0;
    sqlite3_stmt *q = NULL, *ins = NULL, *get = NULL;
    int rc = le_store_prep(m->src, &q,
                           "SELECT sha256, path, arch, type, name, n_params, n_params_nonembed, file_size,"
                           " tokens_trained, created FROM models WHERE id = ?1");
    if (!rc)
        rc = le_store_prep(m->s, &ins,
                           "INSERT INTO models(sha256, path, arch, type, name, n_params, n_params_nonembed,"
                           " file_size, tokens_trained, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                           " ON CONFLICT(sha256) DO NOTHING");
    if (!rc)
        rc = le_store_prep(m->s, &get, "SELECT id FROM models WHERE sha256 = ?1");
    if (!rc) {
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) != SQLITE_ROW)
            rc = le_err_set(LE_EDB, "store %s: a cell names model %lld, which it does not have", m->src->path,
                            (long long)id);
    }
    for (int i = 0; !rc && i < 10; i++)
        sqlite3_bind_value(ins, i + 1, sqlite3_column_value(q, i));
    if (!rc && !(rc = le_store_step_done(m->s, ins, "merge models")))
        m->st.models += sqlite3_changes(m->s->db);
    if (!rc) {
        sqlite3_bind_value(get, 1, sqlite3_column_value(q, 0));
        if (sqlite3_step(get) == SQLITE_ROW)
            *out = sqlite3_column_int64(get, 0);
        else
            rc = le_store_dberr(m->s, "merge models: read back id");
    }
    if (!rc)
        rc = le_merge_cache(&m->models, &m->n_models, id, *out);
    sqlite3_finalize(q), sqlite3_finalize(ins), sqlite3_finalize(get);
    return rc;
}

/* The target's id of the shard's run `id`: the run with the same columns
 * (command, config, seed, version, host, threads, start time), else a new
 * one with its training steps; -1 for none. */
static int le_merge_run(struct le_merge *m, int64_t id, int64_t *out) {
    static const char *cols = "command, config, seed, version, host, threads, started, ended, status";
    *out = id > 0 ? le_merge_cached(m->runs, m->n_runs, id) : -1;
    if (*out)
        return 0;
    char sql[512];
    sqlite3_stmt *q = NULL, *find = NULL, *ins = NULL;
    snprintf(sql, sizeof sql, "SELECT %s FROM runs WHERE id = ?1", cols);
    int rc = le_store_prep(m->src, &q, sql);
    if (!rc)
        rc = le_store_prep(m->s, &find,
                           "SELECT id FROM runs WHERE command IS ?1 AND config IS ?2 AND seed IS ?3 AND version IS ?4"
                           " AND host IS ?5 AND threads IS ?6 AND started IS ?7 ORDER BY id LIMIT 1");
    snprintf(sql, sizeof sql, "INSERT INTO runs(%s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", cols);
    if (!rc)
        rc = le_store_prep(m->s, &ins, sql);
    if (!rc) {
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) != SQLITE_ROW)
            rc = le_err_set(LE_EDB, "store %s: a cell names run %lld, which it does not have", m->src->path,
                            (long long)id);
    }
    for (int i = 0; !rc && i < 9; i++) {
        if (i < 7)
            sqlite3_bind_value(find, i + 1, sqlite3_column_value(q, i));
        sqlite3_bind_value(ins, i + 1, sqlite3_column_value(q, i));
    }
    int sr = rc ? SQLITE_DONE : sqlite3_step(find);
    if (sr == SQLITE_ROW) {
        *out = sqlite3_column_int64(find, 0);
    } else if (!rc && sr != SQLITE_DONE) {
        rc = le_store_dberr(m->s, "merge runs");
    } else if (!rc && !(rc = le_store_step_done(m->s, ins, "merge runs"))) {
        *out = sqlite3_last_insert_rowid(m->s->db);
        m->st.runs++;
        sqlite3_stmt *steps = NULL, *put = NULL;
        if (!(rc = le_store_prep(m->src, &steps,
                                 "SELECT step, tokens, train_loss, val_loss, lr, tokens_per_s FROM train_steps"
                                 " WHERE run_id = ?1")) &&
            !(rc = le_store_prep(m->s, &put,
                                 "INSERT OR IGNORE INTO train_steps(run_id, step, tokens, train_loss, val_loss, lr,"
                                 " tokens_per_s) VALUES(?7, ?1, ?2, ?3, ?4, ?5, ?6)"))) {
            sqlite3_bind_int64(steps, 1, id);
            while (!rc && sqlite3_step(steps) == SQLITE_ROW) {
                for (int i = 0; i < 6; i++)
                    sqlite3_bind_value(put, i + 1, sqlite3_column_value(steps, i));
                sqlite3_bind_int64(put, 7, *out);
                rc = le_store_step_done(m->s, put, "merge train_steps");
                sqlite3_reset(put);
            }
        }
        sqlite3_finalize(steps), sqlite3_finalize(put);
    }
    if (!rc)
        rc = le_merge_cache(&m->runs, &m->n_runs, id, *out);
    sqlite3_finalize(q), sqlite3_finalize(find), sqlite3_finalize(ins);
    return rc;
}

/* Two values equal in type and bits (NULL equals NULL). */
static int le_merge_same_value(sqlite3_stmt *a, sqlite3_stmt *b, int i) {
    int t = sqlite3_column_type(a, i);
    if (t != sqlite3_column_type(b, i))
        return 0;
    if (t == SQLITE_FLOAT) {
        double x = sqlite3_column_double(a, i), y = sqlite3_column_double(b, i);
        return !memcmp(&x, &y, sizeof x);
    }
    if (t == SQLITE_INTEGER)
        return sqlite3_column_int64(a, i) == sqlite3_column_int64(b, i);
    if (t == SQLITE_NULL)
        return 1;
    const char *x = (const char *)sqlite3_column_text(a, i), *y = (const char *)sqlite3_column_text(b, i);
    return x && y && !strcmp(x, y);
}

/* Compares a done cell's results in both stores (metric, value, stderr, n).
 * *same = 1 when equal; else metric gets the first differing metric ("" when
 * the metric sets differ) and here/there its values. */
static int le_merge_compare(struct le_merge *m, const char *key, int *same, char *metric, size_t mn, double *here,
                            double *there) {
    static const char *sql = "SELECT metric, value, stderr, n FROM results WHERE cell = ?1 ORDER BY metric, id";
    sqlite3_stmt *a = NULL, *b = NULL;
    int rc = le_store_prep(m->s, &a, sql);
    if (!rc)
        rc = le_store_prep(m->src, &b, sql);
    *same = 1, metric[0] = 0, *here = *there = NAN;
    if (!rc) {
        sqlite3_bind_text(a, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(b, 1, key, -1, SQLITE_TRANSIENT);
    }
    while (!rc && *same) {
        int ra = sqlite3_step(a), rb = sqlite3_step(b);
        if (ra == SQLITE_DONE && rb == SQLITE_DONE)
            break;
        if ((ra != SQLITE_ROW && ra != SQLITE_DONE) || (rb != SQLITE_ROW && rb != SQLITE_DONE)) {
            rc = le_store_dberr(ra != SQLITE_ROW && ra != SQLITE_DONE ? m->s : m->src, "merge: compare results");
            break;
        }
        *same = ra == SQLITE_ROW && rb == SQLITE_ROW && le_merge_same_value(a, b, 0) &&
                le_merge_same_value(a, b, 1) && le_merge_same_value(a, b, 2) && le_merge_same_value(a, b, 3);
        if (!*same && ra == SQLITE_ROW && rb == SQLITE_ROW && le_merge_same_value(a, b, 0)) {
            snprintf(metric, mn, "%s", (const char *)sqlite3_column_text(a, 0));
            *here = le_col_f64(a, 1), *there = le_col_f64(b, 1);
        }
    }
    sqlite3_finalize(a), sqlite3_finalize(b);
    return rc;
}

/* Adds one done cell of the shard: its row, results, samples, sweep rows. */
static int le_merge_add(struct le_merge *m, sqlite3_stmt *cell) {
    const char *key = (const char *)sqlite3_column_text(cell, 0);
    int64_t model = -1, run = -1;
    int rc = le_merge_model(m, le_col_opt_i64(cell, 2), &model);
    if (!rc)
        rc = le_merge_run(m, le_col_opt_i64(cell, 3), &run);
    sqlite3_stmt *ins = NULL, *q = NULL, *put = NULL;
    if (!rc && !(rc = le_store_prep(m->s, &ins,
                                    "INSERT INTO cells(key, task, model_id, run_id, config, done_at)"
                                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO UPDATE SET"
                                    " task = excluded.task, model_id = excluded.model_id, run_id = excluded.run_id,"
                                    " config = excluded.config, done_at = excluded.done_at"))) {
        sqlite3_bind_value(ins, 1, sqlite3_column_value(cell, 0));
        sqlite3_bind_value(ins, 2, sqlite3_column_value(cell, 1));
        le_bind_opt_i64(ins, 3, model);
        le_bind_opt_i64(ins, 4, run);
        sqlite3_bind_value(ins, 5, sqlite3_column_value(cell, 4));
        sqlite3_bind_value(ins, 6, sqlite3_column_value(cell, 5));
        rc = le_store_step_done(m->s, ins, "merge cells");
    }
    /* its results, with their own run and model mapped */
    if (!rc && !(rc = le_store_prep(m->src, &q,
                                    "SELECT task, metric, value, stderr, n, run_id, model_id FROM results"
                                    " WHERE cell = ?1 ORDER BY id")) &&
        !(rc = le_store_prep(m->s, &put,
                             "INSERT INTO results(cell, task, metric, value, stderr, n, run_id, model_id)"
                             " VALUES(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)"))) {
        sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
        while (!rc && sqlite3_step(q) == SQLITE_ROW) {
            int64_t r = -1, mo = -1;
            if ((rc = le_merge_run(m, le_col_opt_i64(q, 5), &r)) || (rc = le_merge_model(m, le_col_opt_i64(q, 6), &mo)))
                break;
            for (int i = 0; i < 5; i++)
                sqlite3_bind_value(put, i + 1, sqlite3_column_value(q, i));
            le_bind_opt_i64(put, 6, r);
            le_bind_opt_i64(put, 7, mo);
            sqlite3_bind_text(put, 8, key, -1, SQLITE_TRANSIENT);
            if (!(rc = le_store_step_done(m->s, put, "merge results")))
                m->st.results++;
            sqlite3_reset(put);
        }
    }
    sqlite3_finalize(ins), sqlite3_finalize(q), sqlite3_finalize(put);
    q = put = NULL;
    /* its samples, with their run mapped */
    if (!rc && !(rc = le_store_prep(m->src, &q, "SELECT doc, req, json, run_id FROM samples WHERE cell = ?1")) &&
        !(rc = le_store_prep(m->s, &put,
                             "INSERT OR IGNORE INTO samples(cell, doc, req, json, run_id) VALUES(?5, ?1, ?2, ?3, ?4)"))) {
        sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
        while (!rc && sqlite3_step(q) == SQLITE_ROW) {
            int64_t r = -1;
            if ((rc = le_merge_run(m, le_col_opt_i64(q, 3), &r)))
                break;
            for (int i = 0; i < 3; i++)
                sqlite3_bind_value(put, i + 1, sqlite3_column_value(q, i));
            le_bind_opt_i64(put, 4, r);
            sqlite3_bind_text(put, 5, key, -1, SQLITE_TRANSIENT);
            if (!(rc = le_store_step_done(m->s, put, "merge samples")))
                m->st.samples += sqlite3_changes(m->s->db);
            sqlite3_reset(put);
        }
    }
    sqlite3_finalize(q), sqlite3_finalize(put);
    int64_t ignored = 0;
    if (!rc)
        rc = le_merge_copy(m, "sweep_cells", "key", key, "OR IGNORE", &ignored);
    if (!rc) /* the shard's points are its finished cell's whole curve */
        rc = le_merge_copy(m, "sweep_points", "cell", key, "OR REPLACE", &m->st.points);
    if (!rc)
        m->st.added++;
    return rc;
}

/* Opens the shard and checks it can be merged into s. */
static int le_merge_open(struct le_store *s, const char *path, struct le_store **src) {
    struct stat a, b;
    if (stat(path, &b) == 0 && stat(s->path, &a) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return le_err_set(LE_EDB, "cannot merge %s into itself", path);
    int v = 0, rc = le_store_open_readonly(src, path);
    char check[256];
    if (!rc && !(rc = le_store_schema_version(*src, &v)) && v != le_store_schema_latest())
        rc = le_err_set(LE_EDB,
                        "%s has schema version %d, this llamaeval merges version %d only (migrate it with "
                        "'llamaeval db init --db %s', or merge with the llamaeval that wrote it)",
                        path, v, le_store_schema_latest(), path);
    if (!rc && (rc = le_store_integrity_check(*src, check, sizeof check)))
        le_err_wrap(rc, "%s fails SQLite's integrity check, not merged", path);
    else if (!rc && strcmp(check, "ok"))
        rc = le_err_set(LE_EDB, "%s fails SQLite's integrity check (%s): not merged", path, check);
    if (rc) {
        le_store_close(*src);
        *src = NULL;
    }
    return rc;
}

int le_store_merge(struct le_store *s, const char *shard_path, struct le_store_merge_stats *stats,
                   int (*conflict)(void *ud, const char *cell_key, const char *task, const char *metric,
                                   double here, double there),
                   void *ud) {
    struct le_merge m = {.s = s};
    *stats = (struct le_store_merge_stats){0};
    int rc = le_merge_open(s, shard_path, &m.src);
    if (rc)
        return rc;
    sqlite3_stmt *cells = NULL, *done = NULL;
    int began = !(rc = le_store_begin(s));
    if (began &&
        !(rc = le_store_prep(m.src, &cells,
                             "SELECT key, task, model_id, run_id, config, done_at FROM cells ORDER BY done_at, key")))
        rc = le_store_prep(s, &done, "SELECT done_at IS NOT NULL FROM cells WHERE key = ?1");
    int sr = SQLITE_DONE;
    while (!rc && (sr = sqlite3_step(cells)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(cells, 0);
        if (sqlite3_column_type(cells, 5) == SQLITE_NULL) {
            m.st.not_done++;
            continue;
        }
        sqlite3_bind_text(done, 1, key, -1, SQLITE_TRANSIENT);
        int d = sqlite3_step(done) == SQLITE_ROW && sqlite3_column_int(done, 0);
        sqlite3_reset(done);
        if (!d) {
            rc = le_merge_add(&m, cells);
            continue;
        }
        int same;
        char metric[128];
        double here, there;
        if ((rc = le_merge_compare(&m, key, &same, metric, sizeof metric, &here, &there)) || same) {
            m.st.same += !rc;
            continue;
        }
        m.st.conflicts++;
        if (conflict)
            rc = conflict(ud, key, (const char *)sqlite3_column_text(cells, 1), metric[0] ? metric : NULL, here,
                          there);
    }
    if (!rc && sr != SQLITE_DONE)
        rc = le_store_dberr(m.src, "merge: read cells");
    sqlite3_finalize(cells), sqlite3_finalize(done);
    if (began)
        rc = le_store_end(s, rc);
    if (!rc)
        *stats = m.st;
    free(m.runs), free(m.models);
    le_store_close(m.src);
    return rc;
}
