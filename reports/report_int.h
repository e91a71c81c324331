/*
 * report_int: the private interface of reports/ (not for the harness).
 *
 * A report is a document: an ordered list of blocks (headings, paragraphs,
 * tables, figures) that section builders append to and renderers walk. A
 * table is a grid of cells; a cell holds the text shown, the number behind
 * it and the result rows it comes from (its trace), so every renderer can
 * say where a number comes from. Section builders never format HTML or
 * Markdown; renderers never choose numbers.
 *
 * Memory: everything a document owns is freed by le_doc_free; strings in
 * traces are borrowed from the le_rep_data the report is built from.
 */
#ifndef LE_REPORT_INT_H
#define LE_REPORT_INT_H

#include "le_buf.h" /* struct le_buf, le_buf_put/printf/take (engine/core) */
#include "le_report.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Functions for growable strings: struct le_buf and its appends are
 * engine/core/le_buf.h; these two add the report formats. */
void le_buf_html(struct le_buf *b, const char *s);  /* escapes & < > " ' */
void le_buf_base64(struct le_buf *b, const void *data, size_t n);
char *le_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Functions for numbers and config JSON. */
/* "%.*f" with digits, "—" for NAN. */
char *le_fmt_fixed(double v, int digits);
/* Shortest "%.{15,17}g" that reads back to v (CSV, JSON, data files). */
void le_fmt_exact(char *buf, size_t n, double v);
/* 3 significant digits with an SI-like suffix: 1.23M, 456k, 7.89e+21 (FLOPs). */
void le_fmt_count(char *buf, size_t n, double v);
/* A field of a flat JSON object: the string (malloc'ed) or NULL; the number
 * or NAN. A config that is not JSON yields NULL / NAN. */
char *le_json_str(const char *json, const char *key);
double le_json_num(const char *json, const char *key);
/* First 8 hex digits of a sha256 ("" for NULL). */
const char *le_short_sha(const char *sha, char out[9]);

enum { LE_CELL_EMPTY = 0, LE_CELL_TEXT = 1, LE_CELL_NUM = 2 };
struct le_cell {
    int kind;
    char *text;             /* what the table shows */
    double value;           /* the number behind it (LE_CELL_NUM) */
    double scale;           /* shown = value * scale (100 for percent) */
    double lo, hi;          /* an interval shown with it (NAN when none), already scaled */
    const struct le_rep_result **tr; /* the rows it comes from */
    int n_tr;
    char *note;             /* more provenance: a published source, a fit, a formula */
};

struct le_table {
    char *id;               /* file-safe: csv/<id>.csv, the HTML anchor */
    char *title, *caption;
    char **cols;
    int n_cols;
    struct le_cell *cells;  /* n_rows * n_cols, row-major */
    int n_rows, cap_rows;
    char **notes;           /* footnotes */
    int n_notes;
};

struct le_figure {
    char *id, *title, *caption;
    struct le_buf dat;      /* the data file (gnuplot blocks) */
    struct le_buf gp;       /* the plot commands (terminal and output are added) */
    char *svg;              /* the rendered SVG once gnuplot ran */
    size_t svg_n;
    int n_series;           /* plotted series (0: nothing to plot, figure dropped) */
};

enum { LE_BLOCK_HEADING = 1, LE_BLOCK_PARA = 2, LE_BLOCK_TABLE = 3, LE_BLOCK_FIGURE = 4 };
struct le_block {
    int kind;
    int level;              /* headings: 2 section, 3 subsection */
    char *text;
    struct le_table *table;
    struct le_figure *fig;
};

struct le_label {
    const char *sha256;     /* borrowed */
    char *label;
};

struct le_doc {
    const struct le_rep_data *d;
    const struct le_rep_opts *o;
    struct le_block *b;
    int n, cap;
    int oom;
    struct le_label *labels; /* one per model sha256 (le_model_label) */
    int n_labels;
};

/* Functions to build a document. Every add returns NULL (and sets oom) when
 * memory runs out; the document stays consistent. */
void le_doc_heading(struct le_doc *doc, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void le_doc_para(struct le_doc *doc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct le_table *le_doc_table(struct le_doc *doc, const char *id, const char *title, int n_cols,
                              const char *const *cols);
struct le_figure *le_doc_figure(struct le_doc *doc, const char *id, const char *title);
void le_doc_free(struct le_doc *doc);

/* Functions to fill tables. Row/column indices are 0-based; add_row
 * returns the new row's index (-1 on oom). */
int le_table_add_row(struct le_table *t);
void le_table_text(struct le_table *t, int row, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "—": not run / not available (empty in CSV, null in JSON). */
void le_table_none(struct le_table *t, int row, int col);
/* A number shown with `digits` decimals (times scale: 100 for percent). */
void le_table_num(struct le_table *t, int row, int col, double v, double scale, int digits);
/* A count shown short (1.23M, 4.5e+18: le_fmt_count), exact in CSV and JSON. */
void le_table_count(struct le_table *t, int row, int col, double v);
/* A number with its interval, 4 significant digits: "0.4853 (0.4788, 0.4919)". */
void le_table_g_ci(struct le_table *t, int row, int col, double v, double lo, double hi);
/* A number with its interval "v (lo, hi)". */
void le_table_num_ci(struct le_table *t, int row, int col, double v, double lo, double hi, int digits);
void le_table_trace(struct le_table *t, int row, int col, const struct le_rep_result *r);
void le_table_note(struct le_table *t, int row, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void le_table_caption(struct le_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void le_table_footnote(struct le_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct le_cell *le_table_cell(struct le_table *t, int row, int col);
/* The provenance of a cell in one line: its note, then each trace row
 * ("acc_norm = 0.765 ± 0.0042, n = 10042; hellaswag; model x (sha 1234abcd);
 * run 3; cell 9f8e7d6c; done ..."). Caller frees. */
char *le_cell_provenance(const struct le_cell *c);

/* Functions of the sections. Each appends its blocks and returns 0, or -1
 * when memory ran out: a section cannot otherwise fail -- data it cannot
 * use (a fit the runs cannot support) becomes a sentence saying why. */
int le_section_eval(struct le_doc *doc);
int le_section_ppl(struct le_doc *doc);
int le_section_quant(struct le_doc *doc);
int le_section_scaling(struct le_doc *doc);
int le_section_provenance(struct le_doc *doc);

/* Functions of the scaling fits (sec_fits.c). The fit itself is computed in
 * one place, le_scaling_fit in sec_scaling.c; these only render it. runs[]
 * are the fit's inputs, cell_of[i] the sweep cell of run i. */
struct le_fit_result;
struct le_fit_run;
void le_fit_tables(struct le_doc *doc, const struct le_fit_result *f, int n_runs);
void le_fit_figures(struct le_doc *doc, const struct le_fit_result *f, const struct le_fit_run *runs, int n_runs);
/* Adds approach 1's envelope to the loss-against-FLOPs figure. */
void le_fit_envelope(struct le_figure *fig, const struct le_fit_result *f, int series);

/* A model's display name in tables: the sweep cell's label for a sweep
 * model, else the model's name (else its file name), with a short sha256
 * when two models would share a name. Built once per document
 * (le_doc_labels); the string belongs to the document. */
int le_doc_labels(struct le_doc *doc);
const char *le_model_label(const struct le_doc *doc, const struct le_rep_result *r);

/* Is the model LLaMA-7B sized (6.5 to 7.0 billion parameters; LLaMA 7B has
 * 6.74 B)? Differences to published 7B numbers are shown only for such rows. */
int le_is_7b(int64_t n_params);

/* Functions for published numbers (published.c). Every value names its
 * source and the table it is read from. */
struct le_pub {
    const char *key;        /* what it is: "boolq", "F16", ... */
    double value;
    double lo, hi;          /* the interval printed with it (NAN when none) */
    const char *source;     /* short: "LLaMA paper, Table 3" */
    const char *cite;       /* full: authors, title, year, where */
};
const struct le_pub *le_pub_find(const char *set, const char *key);
const struct le_pub *le_pub_list(const char *set, int *n);

/* Functions for figures (figures.c): write <id>.dat and <id>.gp into dir,
 * run gnuplot there (SVG and PDF), read the SVG back. */
int le_figures_render(struct le_doc *doc, const char *dir);
/* Appends a data block: one line per point, columns separated by a space,
 * NAN written as "NaN" (gnuplot skips it); blocks are separated by two
 * blank lines, so `index i` in the script selects block i. */
void le_fig_block_begin(struct le_figure *f, const char *comment);
void le_fig_row(struct le_figure *f, int n, const double *v);
/* A gnuplot string literal for a name from the data (model, task, cell):
 * single-quoted, enhanced-text markup escaped so it prints as it is. */
void le_fig_quote(struct le_buf *b, const char *s);
/* The same for a title of ours that uses markup (N_{opt}, C^{0.5}). */
void le_fig_markup(struct le_buf *b, const char *s);

/* Functions of the renderers. Each writes one file (atomically) or, for
 * CSV, one file per table into dir. */
int le_render_html(const struct le_doc *doc, const char *path);
int le_render_md(const struct le_doc *doc, const char *path);
int le_render_csv(const struct le_doc *doc, const char *dir);
int le_render_json(const struct le_doc *doc, const char *path);
/* Writes data to path through a temporary file renamed over it. */
int le_write_file(const char *path, const char *data, size_t n);
/* le_write_file of b's text (LE_ENOMEM when an append ran out of memory or
 * path is NULL), then frees b. */
int le_write_buf(const char *path, struct le_buf *b);

#endif
