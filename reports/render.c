/*
 * render: the report as Markdown (report.md), CSV (one file per table) and
 * JSON (report.json). report.html is render_html.c.
 *
 * Markdown shows the tables as the papers print them and, under each, the
 * sources of its numbers (run, model, task, metric, n, stderr), since
 * Markdown has no tooltips. CSV carries numbers at full precision in the
 * unit the table shows (percent stays percent), intervals as extra "lo"
 * and "hi" columns, and nothing for "—". JSON carries, per cell, the text
 * shown, the stored value, the shown value, its interval and every result
 * row behind it as fields.
 */
#include "report_int.h"

#include "le_err.h" /* le_err_set */

#include <cjson/cJSON.h> /* report.json */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Functions for Markdown. */

static void le_md_text(struct le_buf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|')
            le_buf_puts(b, "\\|");
        else if (*s == '\n')
            le_buf_puts(b, " ");
        else
            le_buf_put(b, s, 1);
    }
}

static void le_md_table(struct le_buf *b, const struct le_table *t) {
    le_buf_printf(b, "### %s\n\n", t->title);
    if (t->caption)
        le_buf_printf(b, "%s\n\n", t->caption);
    for (int c = 0; c < t->n_cols; c++) {
        le_buf_puts(b, "| ");
        le_md_text(b, t->cols[c]);
        le_buf_puts(b, " ");
    }
    le_buf_puts(b, "|\n");
    for (int c = 0; c < t->n_cols; c++)
        le_buf_puts(b, c ? "|---:" : "|:---");
    le_buf_puts(b, "|\n");
    int sources = 0;
    for (int r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            const struct le_cell *x = &t->cells[(size_t)r * (size_t)t->n_cols + (size_t)c];
            le_buf_puts(b, "| ");
            le_md_text(b, x->text ? x->text : "");
            le_buf_puts(b, " ");
            sources += c > 0 && (x->n_tr > 0 || x->note);
        }
        le_buf_puts(b, "|\n");
    }
    le_buf_puts(b, "\n");
    for (int i = 0; i < t->n_notes; i++)
        le_buf_printf(b, "%s%s\n", i ? "" : "", t->notes[i]);
    if (t->n_notes)
        le_buf_puts(b, "\n");
    if (!sources)
        return;
    le_buf_puts(b, "<details><summary>Sources of these numbers</summary>\n\n");
    for (int r = 0; r < t->n_rows; r++)
        for (int c = 1; c < t->n_cols; c++) {
            const struct le_cell *x = &t->cells[(size_t)r * (size_t)t->n_cols + (size_t)c];
            if (!x->n_tr && !x->note)
                continue;
            char *p = le_cell_provenance(x);
            le_buf_puts(b, "- ");
            le_md_text(b, t->cells[(size_t)r * (size_t)t->n_cols].text);
            le_buf_puts(b, " \u00d7 ");
            le_md_text(b, t->cols[c]);
            le_buf_puts(b, ": ");
            le_md_text(b, p ? p : "");
            le_buf_puts(b, "\n");
            free(p);
        }
    le_buf_puts(b, "\n</details>\n\n");
}

int le_render_md(const struct le_doc *doc, const char *path) {
    struct le_buf b = {0};
    le_buf_puts(&b, "# llamaeval report\n\n");
    for (int i = 0; i < doc->n; i++) {
        const struct le_block *k = &doc->b[i];
        switch (k->kind) {
        case LE_BLOCK_HEADING:
            le_buf_printf(&b, "%.*s %s\n\n", k->level, "######", k->text);
            break;
        case LE_BLOCK_PARA:
            le_buf_printf(&b, "%s\n\n", k->text);
            break;
        case LE_BLOCK_TABLE:
            le_md_table(&b, k->table);
            break;
        case LE_BLOCK_FIGURE:
            if (!k->fig->svg)
                break;
            le_buf_printf(&b, "### %s\n\n![%s](figures/%s.svg)\n\n", k->fig->title, k->fig->title, k->fig->id);
            if (k->fig->caption)
                le_buf_printf(&b, "%s ", k->fig->caption);
            le_buf_printf(&b,
                          "Files: [SVG](figures/%s.svg), [PDF](figures/%s.pdf), [gnuplot script](figures/%s.gp), "
                          "[data](figures/%s.dat).\n\n",
                          k->fig->id, k->fig->id, k->fig->id, k->fig->id);
            break;
        }
    }
    return le_write_buf(path, &b);
}

/* Functions for CSV. */

static void le_csv_field(struct le_buf *b, const char *v) {
    if (!strpbrk(v, ",\"\r\n")) {
        le_buf_puts(b, v);
        return;
    }
    le_buf_puts(b, "\"");
    for (; *v; v++)
        le_buf_puts(b, *v == '"' ? "\"\"" : (char[2]){*v, 0});
    le_buf_puts(b, "\"");
}

static int le_col_has_ci(const struct le_table *t, int c) {
    for (int r = 0; r < t->n_rows; r++) {
        const struct le_cell *x = &t->cells[(size_t)r * (size_t)t->n_cols + (size_t)c];
        if (!isnan(x->lo) || !isnan(x->hi))
            return 1;
    }
    return 0;
}

static void le_csv_table(struct le_buf *b, const struct le_table *t) {
    for (int c = 0; c < t->n_cols; c++) {
        le_buf_puts(b, c ? "," : "");
        le_csv_field(b, t->cols[c]);
        if (le_col_has_ci(t, c)) {
            char *lo = le_strdup_printf("%s lo", t->cols[c]), *hi = le_strdup_printf("%s hi", t->cols[c]);
            le_buf_puts(b, ",");
            le_csv_field(b, lo ? lo : "lo");
            le_buf_puts(b, ",");
            le_csv_field(b, hi ? hi : "hi");
            free(lo), free(hi);
        }
    }
    le_buf_puts(b, "\n");
    for (int r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            const struct le_cell *x = &t->cells[(size_t)r * (size_t)t->n_cols + (size_t)c];
            char num[40];
            le_buf_puts(b, c ? "," : "");
            if (x->kind == LE_CELL_NUM) {
                /* A scaled value is no longer the stored double: 15 digits, no float noise. */
                if (x->scale != 1)
                    snprintf(num, sizeof num, "%.15g", x->value * x->scale);
                else
                    le_fmt_exact(num, sizeof num, x->value);
                le_buf_puts(b, num);
            } else if (x->kind == LE_CELL_TEXT) {
                le_csv_field(b, x->text ? x->text : "");
            }
            if (le_col_has_ci(t, c)) {
                le_buf_puts(b, ",");
                if (!isnan(x->lo)) {
                    le_fmt_exact(num, sizeof num, x->lo);
                    le_buf_puts(b, num);
                }
                le_buf_puts(b, ",");
                if (!isnan(x->hi)) {
                    le_fmt_exact(num, sizeof num, x->hi);
                    le_buf_puts(b, num);
                }
            }
        }
        le_buf_puts(b, "\n");
    }
}

int le_render_csv(const struct le_doc *doc, const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return le_err_set(LE_EIO, "cannot create %s: %s", dir, strerror(errno));
    for (int i = 0; i < doc->n; i++) {
        if (doc->b[i].kind != LE_BLOCK_TABLE)
            continue;
        const struct le_table *t = doc->b[i].table;
        struct le_buf b = {0};
        le_csv_table(&b, t);
        char *path = le_strdup_printf("%s/%s.csv", dir, t->id);
        int rc = le_write_buf(path, &b);
        free(path);
        if (rc)
            return rc;
    }
    return 0;
}

/* Functions for JSON. */

/* A finite number, or null (JSON has no NaN). Written raw with the shortest
 * digits that read back exactly: cJSON's own printing may drop the last bit. */
static cJSON *le_json_number(double v) {
    if (!isfinite(v))
        return cJSON_CreateNull();
    char num[40];
    le_fmt_exact(num, sizeof num, v);
    return cJSON_CreateRaw(num);
}

static cJSON *le_json_source(const struct le_rep_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddItemToObject(o, "run_id", le_json_number((double)r->run_id));
    cJSON_AddStringToObject(o, "model", r->model_name ? r->model_name : "");
    cJSON_AddStringToObject(o, "model_sha256", r->model_sha256 ? r->model_sha256 : "");
    cJSON_AddStringToObject(o, "task", r->task);
    cJSON_AddStringToObject(o, "metric", r->metric);
    cJSON_AddItemToObject(o, "value", le_json_number(r->value));
    cJSON_AddItemToObject(o, "stderr", le_json_number(r->stderr_v));
    cJSON_AddItemToObject(o, "n", r->n >= 0 ? le_json_number((double)r->n) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "cell", r->cell);
    cJSON_AddStringToObject(o, "config", r->config ? r->config : "");
    cJSON_AddStringToObject(o, "done_at", r->done_at ? r->done_at : "");
    return o;
}

static cJSON *le_json_cell(const struct le_cell *x) {
    if (x->kind == LE_CELL_EMPTY && !x->note)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "text", x->text ? x->text : "");
    if (x->kind == LE_CELL_NUM) {
        cJSON_AddItemToObject(o, "value", le_json_number(x->value));
        cJSON_AddItemToObject(o, "shown", le_json_number(x->value * x->scale));
        if (!isnan(x->lo) || !isnan(x->hi)) {
            cJSON *ci = cJSON_AddArrayToObject(o, "interval");
            cJSON_AddItemToArray(ci, le_json_number(x->lo));
            cJSON_AddItemToArray(ci, le_json_number(x->hi));
        }
    }
    if (x->note)
        cJSON_AddStringToObject(o, "note", x->note);
    if (x->n_tr) {
        cJSON *src = cJSON_AddArrayToObject(o, "sources");
        for (int i = 0; i < x->n_tr; i++)
            cJSON_AddItemToArray(src, le_json_source(x->tr[i]));
    }
    return o;
}

static cJSON *le_json_table(const struct le_table *t) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "type", "table");
    cJSON_AddStringToObject(o, "id", t->id);
    cJSON_AddStringToObject(o, "title", t->title);
    if (t->caption)
        cJSON_AddStringToObject(o, "caption", t->caption);
    cJSON *cols = cJSON_AddArrayToObject(o, "columns"), *rows = cJSON_AddArrayToObject(o, "rows");
    for (int c = 0; c < t->n_cols; c++)
        cJSON_AddItemToArray(cols, cJSON_CreateString(t->cols[c]));
    for (int r = 0; r < t->n_rows; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < t->n_cols; c++)
            cJSON_AddItemToArray(row, le_json_cell(&t->cells[(size_t)r * (size_t)t->n_cols + (size_t)c]));
        cJSON_AddItemToArray(rows, row);
    }
    cJSON *notes = cJSON_AddArrayToObject(o, "notes");
    for (int i = 0; i < t->n_notes; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(t->notes[i]));
    return o;
}

int le_render_json(const struct le_doc *doc, const char *path) {
    const struct le_rep_data *d = doc->d;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return le_err_set(LE_ENOMEM, "out of memory");
    cJSON_AddStringToObject(root, "generator", "llamaeval report");
    cJSON_AddStringToObject(root, "version", d->version ? d->version : "");
    cJSON_AddStringToObject(root, "generated_at", d->generated_at ? d->generated_at : "");
    cJSON_AddStringToObject(root, "host", d->host ? d->host : "");
    cJSON_AddStringToObject(root, "database", d->db_path ? d->db_path : "");
    cJSON_AddNumberToObject(root, "schema_version", d->schema_version);
    cJSON_AddNumberToObject(root, "file_schema_version", d->file_schema_version);
    cJSON *blocks = cJSON_AddArrayToObject(root, "blocks");
    for (int i = 0; i < doc->n; i++) {
        const struct le_block *k = &doc->b[i];
        cJSON *o = NULL;
        if (k->kind == LE_BLOCK_TABLE) {
            o = le_json_table(k->table);
        } else if (k->kind == LE_BLOCK_FIGURE) {
            if (!k->fig->svg)
                continue;
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", "figure");
            cJSON_AddStringToObject(o, "id", k->fig->id);
            cJSON_AddStringToObject(o, "title", k->fig->title);
            cJSON_AddStringToObject(o, "caption", k->fig->caption ? k->fig->caption : "");
            cJSON *files = cJSON_AddObjectToObject(o, "files");
            static const char *const ext[] = {"svg", "pdf", "gp", "dat"};
            for (int e = 0; e < 4; e++) {
                char *p = le_strdup_printf("figures/%s.%s", k->fig->id, ext[e]);
                cJSON_AddStringToObject(files, ext[e], p ? p : "");
                free(p);
            }
        } else {
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", k->kind == LE_BLOCK_HEADING ? "heading" : "paragraph");
            if (k->kind == LE_BLOCK_HEADING)
                cJSON_AddNumberToObject(o, "level", k->level);
            cJSON_AddStringToObject(o, "text", k->text);
        }
        cJSON_AddItemToArray(blocks, o);
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt)
        return le_err_set(LE_ENOMEM, "out of memory");
    size_t n = strlen(txt);
    txt[n - (n && txt[n - 1] == '\n')] = 0;
    char *withnl = le_strdup_printf("%s\n", txt);
    cJSON_free(txt);
    int rc = withnl ? le_write_file(path, withnl, strlen(withnl)) : le_err_set(LE_ENOMEM, "out of memory");
    free(withnl);
    return rc;
}
