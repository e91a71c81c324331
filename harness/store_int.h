/*
 * store_int: what store.c shares with store_merge.c (private to the store;
 * with them the only file that includes sqlite3.h): the struct, and the
 * statement and transaction helpers.
 */
#ifndef LE_STORE_INT_H
#define LE_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

struct le_store {
    sqlite3 *db;
    char *path;
    int readonly;
    int (*hook)(void *ud, int row); /* test-only, see le_store_set_test_hook */
    void *hook_ud;
};

/* An LE_EDB error naming the store, what failed and SQLite's message. */
int le_store_dberr(struct le_store *s, const char *what);
int le_store_prep(struct le_store *s, sqlite3_stmt **st, const char *sql);
/* Optional values: a negative integer binds / a NULL column reads as -1;
 * a NULL column reads as NaN. */
void le_bind_opt_i64(sqlite3_stmt *st, int i, int64_t v);
int64_t le_col_opt_i64(sqlite3_stmt *st, int i);
double le_col_f64(sqlite3_stmt *st, int i);
/* A write transaction (BEGIN IMMEDIATE, retried while busy); le_store_end
 * commits when rc == 0, else rolls back, and returns the outcome. */
int le_store_begin(struct le_store *s);
int le_store_end(struct le_store *s, int rc);
/* Steps a statement that returns no rows (or ignores them). */
int le_store_step_done(struct le_store *s, sqlite3_stmt *st, const char *what);

#endif
