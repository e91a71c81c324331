/*
 * doc: the report as a document -- blocks, tables, cells and their
 * provenance, and the model labels every table uses.
 *
 * A cell's provenance is its note (a published source, how a number was
 * derived) followed by one line per result row behind it; renderers put it
 * in a tooltip (HTML), in fields (JSON) or in a source list (Markdown), so
 * every number traces back to its run, model, task, n and stderr.
 */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Functions to build a document. */

static struct le_block *le_doc_add(struct le_doc *doc, int kind) {
    if (doc->oom)
        return NULL;
    if (doc->n == doc->cap) {
        int cap = doc->cap ? 2 * doc->cap : 32;
        struct le_block *b = realloc(doc->b, (size_t)cap * sizeof *b);
        if (!b) {
            doc->oom = 1;
            return NULL;
        }
        doc->b = b;
        doc->cap = cap;
    }
    struct le_block *b = &doc->b[doc->n++];
    *b = (struct le_block){.kind = kind};
    return b;
}

static void le_doc_textv(struct le_doc *doc, int kind, int level, const char *fmt, va_list ap) {
    struct le_buf t = {0};
    le_buf_vprintf(&t, fmt, ap);
    char *s = le_buf_take(&t);
    struct le_block *b = s ? le_doc_add(doc, kind) : NULL;
    if (!b) {
        free(s);
        doc->oom = 1;
        return;
    }
    b->level = level;
    b->text = s;
}

void le_doc_heading(struct le_doc *doc, int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    le_doc_textv(doc, LE_BLOCK_HEADING, level, fmt, ap);
    va_end(ap);
}

void le_doc_para(struct le_doc *doc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    le_doc_textv(doc, LE_BLOCK_PARA, 0, fmt, ap);
    va_end(ap);
}

struct le_table *le_doc_table(struct le_doc *doc, const char *id, const char *title, int n_cols,
                              const char *const *cols) {
    struct le_table *t = calloc(1, sizeof *t);
    if (t) {
        t->id = strdup(id);
        t->title = strdup(title);
        t->cols = calloc((size_t)n_cols, sizeof *t->cols);
        t->n_cols = n_cols;
        int bad = !t->id || !t->title || !t->cols;
        for (int i = 0; !bad && i < n_cols; i++)
            bad = !(t->cols[i] = strdup(cols[i]));
        struct le_block *b = bad ? NULL : le_doc_add(doc, LE_BLOCK_TABLE);
        if (b) {
            b->table = t;
            return t;
        }
        for (int i = 0; t->cols && i < n_cols; i++)
            free(t->cols[i]);
        free(t->cols);
        free(t->id);
        free(t->title);
        free(t);
    }
    doc->oom = 1;
    return NULL;
}

struct le_figure *le_doc_figure(struct le_doc *doc, const char *id, const char *title) {
    struct le_figure *f = calloc(1, sizeof *f);
    struct le_block *b = f ? le_doc_add(doc, LE_BLOCK_FIGURE) : NULL;
    if (f && b && (f->id = strdup(id)) && (f->title = strdup(title))) {
        b->fig = f;
        return f;
    }
    if (b)
        doc->n--;
    if (f) {
        free(f->id);
        free(f);
    }
    doc->oom = 1;
    return NULL;
}

static void le_table_free(struct le_table *t) {
    if (!t)
        return;
    for (int i = 0; i < t->n_rows * t->n_cols; i++) {
        free(t->cells[i].text);
        free(t->cells[i].note);
        free(t->cells[i].tr);
    }
    for (int i = 0; i < t->n_cols; i++)
        free(t->cols[i]);
    for (int i = 0; i < t->n_notes; i++)
        free(t->notes[i]);
    free(t->notes);
    free(t->cols);
    free(t->cells);
    free(t->id);
    free(t->title);
    free(t->caption);
    free(t);
}

static void le_figure_free(struct le_figure *f) {
    if (!f)
        return;
    le_buf_free(&f->dat);
    le_buf_free(&f->gp);
    free(f->svg);
    free(f->id);
    free(f->title);
    free(f->caption);
    free(f);
}

void le_doc_free(struct le_doc *doc) {
    for (int i = 0; i < doc->n; i++) {
        free(doc->b[i].text);
        le_table_free(doc->b[i].table);
        le_figure_free(doc->b[i].fig);
    }
    free(doc->b);
    for (int i = 0; i < doc->n_labels; i++)
        free(doc->labels[i].label);
    free(doc->labels);
    doc->b = NULL;
    doc->labels = NULL;
    doc->n = doc->cap = doc->n_labels = 0;
}

/* Functions to fill tables. */

int le_table_add_row(struct le_table *t) {
    if (t->n_rows == t->cap_rows) {
        int cap = t->cap_rows ? 2 * t->cap_rows : 8;
        struct le_cell *c = realloc(t->cells, (size_t)cap * (size_t)t->n_cols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->cap_rows = cap;
    }
    struct le_cell *row = &t->cells[(size_t)t->n_rows * (size_t)t->n_cols];
    for (int i = 0; i < t->n_cols; i++)
        row[i] = (struct le_cell){.kind = LE_CELL_EMPTY, .value = NAN, .scale = 1, .lo = NAN, .hi = NAN};
    return t->n_rows++;
}

struct le_cell *le_table_cell(struct le_table *t, int row, int col) {
    if (row < 0 || row >= t->n_rows || col < 0 || col >= t->n_cols)
        return NULL;
    return &t->cells[(size_t)row * (size_t)t->n_cols + (size_t)col];
}

void le_table_text(struct le_table *t, int row, int col, const char *fmt, ...) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c)
        return;
    struct le_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    le_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    free(c->text);
    c->text = le_buf_take(&b);
    c->kind = LE_CELL_TEXT;
}

void le_table_none(struct le_table *t, int row, int col) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c)
        return;
    free(c->text);
    c->text = strdup("\u2014");
    c->kind = LE_CELL_EMPTY;
}

void le_table_num(struct le_table *t, int row, int col, double v, double scale, int digits) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c)
        return;
    free(c->text);
    c->text = le_fmt_fixed(v * scale, digits);
    c->value = v;
    c->scale = scale;
    c->kind = isnan(v) ? LE_CELL_EMPTY : LE_CELL_NUM;
}

void le_table_count(struct le_table *t, int row, int col, double v) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c)
        return;
    char buf[32];
    le_fmt_count(buf, sizeof buf, v);
    free(c->text);
    c->text = strdup(buf);
    c->value = v;
    c->scale = 1;
    c->kind = isnan(v) ? LE_CELL_EMPTY : LE_CELL_NUM;
}

void le_table_g_ci(struct le_table *t, int row, int col, double v, double lo, double hi) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c)
        return;
    free(c->text);
    if (isnan(v))
        c->text = strdup("\u2014");
    else if (isnan(lo) || isnan(hi))
        c->text = le_strdup_printf("%.4g", v);
    else
        c->text = le_strdup_printf("%.4g (%.4g, %.4g)", v, lo, hi);
    c->value = v;
    c->scale = 1;
    c->lo = lo;
    c->hi = hi;
    c->kind = isnan(v) ? LE_CELL_EMPTY : LE_CELL_NUM;
}

void le_table_num_ci(struct le_table *t, int row, int col, double v, double lo, double hi, int digits) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c)
        return;
    free(c->text);
    if (isnan(lo) || isnan(hi))
        c->text = le_fmt_fixed(v, digits);
    else
        c->text = le_strdup_printf("%.*f (%.*f, %.*f)", digits, v, digits, lo, digits, hi);
    c->value = v;
    c->lo = lo;
    c->hi = hi;
    c->kind = isnan(v) ? LE_CELL_EMPTY : LE_CELL_NUM;
}

void le_table_trace(struct le_table *t, int row, int col, const struct le_rep_result *r) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c || !r)
        return;
    const struct le_rep_result **tr = realloc(c->tr, (size_t)(c->n_tr + 1) * sizeof *tr);
    if (!tr)
        return;
    tr[c->n_tr++] = r;
    c->tr = tr;
}

void le_table_note(struct le_table *t, int row, int col, const char *fmt, ...) {
    struct le_cell *c = le_table_cell(t, row, col);
    if (!c)
        return;
    struct le_buf b = {0};
    if (c->note) {
        le_buf_puts(&b, c->note);
        le_buf_puts(&b, "; ");
    }
    va_list ap;
    va_start(ap, fmt);
    le_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    free(c->note);
    c->note = le_buf_take(&b);
}

void le_table_caption(struct le_table *t, const char *fmt, ...) {
    struct le_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    le_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    free(t->caption);
    t->caption = le_buf_take(&b);
}

void le_table_footnote(struct le_table *t, const char *fmt, ...) {
    char **n = realloc(t->notes, (size_t)(t->n_notes + 1) * sizeof *n);
    if (!n)
        return;
    t->notes = n;
    struct le_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    le_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = le_buf_take(&b);
    if (s)
        t->notes[t->n_notes++] = s;
}

char *le_cell_provenance(const struct le_cell *c) {
    struct le_buf b = {0};
    if (c->note)
        le_buf_puts(&b, c->note);
    for (int i = 0; i < c->n_tr; i++) {
        const struct le_rep_result *r = c->tr[i];
        char sha[9], cell[9], num[40];
        le_buf_puts(&b, b.n ? "\n" : "");
        le_fmt_exact(num, sizeof num, r->value);
        le_buf_printf(&b, "%s = %s", r->metric, num);
        if (!isnan(r->stderr_v)) {
            le_fmt_exact(num, sizeof num, r->stderr_v);
            le_buf_printf(&b, " \u00b1 %s", num);
        }
        if (r->n >= 0)
            le_buf_printf(&b, ", n = %lld", (long long)r->n);
        le_buf_printf(&b, "; task %s; model %s (sha256 %s); run %lld; cell %s; done %s", r->task,
                      r->model_name ? r->model_name : "?", le_short_sha(r->model_sha256, sha), (long long)r->run_id,
                      le_short_sha(r->cell, cell), r->done_at ? r->done_at : "?");
    }
    return le_buf_take(&b);
}

/* Functions for model labels. */

static int le_label_cmp(const void *a, const void *b) {
    const struct le_label *x = a, *y = b;
    return strcmp(x->sha256, y->sha256);
}

/* The sweep cell label of a model, or NULL. */
static const char *le_sweep_label(const struct le_rep_data *d, int64_t model_id) {
    for (int i = 0; model_id >= 0 && i < d->n_cells; i++)
        if (d->cells[i].done && d->cells[i].model_id == model_id && d->cells[i].label)
            return d->cells[i].label;
    return NULL;
}

static const char *le_base_name(const struct le_rep_result *r) {
    if (r->model_name && r->model_name[0])
        return r->model_name;
    if (r->model_path && r->model_path[0]) {
        const char *s = strrchr(r->model_path, '/');
        return s ? s + 1 : r->model_path;
    }
    return "model";
}

int le_doc_labels(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    struct le_label *l = calloc((size_t)d->n_res + 1, sizeof *l);
    const struct le_rep_result **first = calloc((size_t)d->n_res + 1, sizeof *first);
    int n = 0;
    if (!l || !first) {
        free(l);
        free(first);
        return -1;
    }
    for (int i = 0; i < d->n_res; i++) {
        const char *sha = d->res[i].model_sha256;
        if (!sha)
            continue;
        int k = 0;
        while (k < n && strcmp(l[k].sha256, sha))
            k++;
        if (k == n) {
            l[n].sha256 = sha;
            first[n++] = &d->res[i];
        }
    }
    /* Names first, then a short sha256 for every name used twice. */
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        const char *sw = le_sweep_label(d, first[k]->model_id);
        l[k].label = strdup(sw ? sw : le_base_name(first[k]));
        rc = l[k].label ? 0 : -1;
    }
    /* Flag every shared name before renaming any, so both of a pair get the sha. */
    char *dup = calloc((size_t)n + 1, 1);
    rc = rc || !dup ? -1 : 0;
    for (int k = 0; k < n && !rc; k++)
        for (int j = 0; j < n && !dup[k]; j++)
            dup[k] = j != k && !strcmp(l[j].label, l[k].label);
    for (int k = 0; k < n && !rc; k++) {
        if (!dup[k])
            continue;
        char sha[9];
        char *s = le_strdup_printf("%s (%s)", l[k].label, le_short_sha(l[k].sha256, sha));
        if (!s) {
            rc = -1;
            break;
        }
        free(l[k].label);
        l[k].label = s;
    }
    free(dup);
    free(first);
    qsort(l, (size_t)n, sizeof *l, le_label_cmp);
    doc->labels = l;
    doc->n_labels = n;
    return rc;
}

const char *le_model_label(const struct le_doc *doc, const struct le_rep_result *r) {
    if (r->model_sha256) {
        struct le_label key = {.sha256 = r->model_sha256};
        const struct le_label *l = bsearch(&key, doc->labels, (size_t)doc->n_labels, sizeof key, le_label_cmp);
        if (l && l->label)
            return l->label;
    }
    return le_base_name(r);
}

int le_is_7b(int64_t n_params) { return n_params >= 6500000000LL && n_params <= 7000000000LL; }
