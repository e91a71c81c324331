/*
 * report: le_report_write -- builds the document (the sections asked for,
 * then provenance), draws its figures with gnuplot, and renders it in each
 * format asked for. Also the provenance section: the database (path,
 * schema version, whether it was migrated for the report), who wrote the
 * report and when, every run (command, config, seed, threads, version,
 * host, dates, status) and every model (path, sha256, type, parameters).
 */
#include "report_int.h"

#include "le_err.h" /* le_err_set */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Functions of the provenance section. */

static void le_prov_database(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    static const char *const cols[] = {"Item", "Value"};
    struct le_table *t = le_doc_table(doc, "database", "Database and report", 2, cols);
    if (!t)
        return;
    struct {
        const char *k;
        char *v;
    } rows[] = {
        {"Database", le_strdup_printf("%s", d->db_path ? d->db_path : "")},
        {"Schema version",
         d->file_schema_version == d->schema_version
             ? le_strdup_printf("%d", d->schema_version)
             : le_strdup_printf("%d in the file; migrated in memory to %d for this report (the file is unchanged; "
                                "`llamaeval db init --db FILE` migrates it in place)",
                                d->file_schema_version, d->schema_version)},
        {"Report written by", le_strdup_printf("llamaeval %s", d->version ? d->version : "?")},
        {"Report written at", le_strdup_printf("%s", d->generated_at ? d->generated_at : "?")},
        {"Report written on host", le_strdup_printf("%s", d->host ? d->host : "?")},
        {"Rows read", le_strdup_printf("%d results of done cells, %d runs, %d sweep cells, %d training-log rows",
                                       d->n_res, d->n_runs, d->n_cells, d->n_steps)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int r = le_table_add_row(t);
        le_table_text(t, r, 0, "%s", rows[i].k);
        le_table_text(t, r, 1, "%s", rows[i].v ? rows[i].v : "");
        free(rows[i].v);
    }
}

static void le_prov_runs(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    static const char *const cols[] = {"Run",  "Command", "Status", "Started", "Ended",
                                       "llamaeval", "Host", "Threads", "Seed", "Config"};
    if (!d->n_runs) {
        le_doc_para(doc, "No runs recorded.");
        return;
    }
    struct le_table *t = le_doc_table(doc, "runs", "Runs", 10, cols);
    if (!t)
        return;
    le_table_caption(t, "Every run recorded in the database, in order: the command, its configuration (JSON, as "
                        "recorded), seed and threads (results never depend on the thread count), the llamaeval "
                        "version and host that ran it, and when (UTC).");
    for (int i = 0; i < d->n_runs; i++) {
        const struct le_rep_run *u = &d->runs[i];
        int r = le_table_add_row(t);
        if (r < 0)
            return;
        le_table_text(t, r, 0, "%lld", (long long)u->id);
        le_table_text(t, r, 1, "%s", u->command ? u->command : "");
        le_table_text(t, r, 2, "%s", u->status ? u->status : "");
        le_table_text(t, r, 3, "%s", u->started ? u->started : "");
        le_table_text(t, r, 4, "%s", u->ended ? u->ended : "");
        le_table_text(t, r, 5, "%s", u->version ? u->version : "");
        le_table_text(t, r, 6, "%s", u->host ? u->host : "");
        if (u->threads >= 0)
            le_table_text(t, r, 7, "%d", u->threads);
        le_table_text(t, r, 8, "%llu", (unsigned long long)u->seed);
        le_table_text(t, r, 9, "%s", u->config ? u->config : "");
    }
}

static void le_prov_models(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    static const char *const cols[] = {"Model", "Name", "Path", "sha256", "Type", "Arch", "Parameters", "File bytes"};
    struct le_table *t = NULL;
    for (int i = 0; i < d->n_res; i++) {
        const struct le_rep_result *r = &d->res[i];
        int seen = !r->model_sha256;
        for (int j = 0; j < i && !seen; j++)
            seen = d->res[j].model_sha256 && !strcmp(d->res[j].model_sha256, r->model_sha256);
        if (seen)
            continue;
        if (!t && !(t = le_doc_table(doc, "models", "Models", 8, cols)))
            return;
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        le_table_text(t, row, 0, "%s", le_model_label(doc, r));
        le_table_text(t, row, 1, "%s", r->model_name ? r->model_name : "");
        le_table_text(t, row, 2, "%s", r->model_path ? r->model_path : "");
        le_table_text(t, row, 3, "%s", r->model_sha256);
        le_table_text(t, row, 4, "%s", r->model_type ? r->model_type : "");
        le_table_text(t, row, 5, "%s", r->model_arch ? r->model_arch : "");
        if (r->n_params >= 0)
            le_table_text(t, row, 6, "%lld", (long long)r->n_params);
        if (r->file_size >= 0)
            le_table_text(t, row, 7, "%lld", (long long)r->file_size);
    }
    if (t)
        le_table_caption(t, "Every model with a result in this report: a model is its file's sha256.");
}

int le_section_provenance(struct le_doc *doc) {
    le_doc_heading(doc, 2, "Provenance");
    le_prov_database(doc);
    le_prov_models(doc);
    le_prov_runs(doc);
    return doc->oom ? -1 : 0;
}

/* Functions to write the report. */

static int le_mkdir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return le_err_set(LE_EIO, "cannot create %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return le_err_set(LE_EIO, "cannot write the report into %s: not a directory", dir);
    return 0;
}

static int le_build(struct le_doc *doc) {
    static const struct {
        unsigned bit;
        int (*fn)(struct le_doc *doc);
    } sections[] = {
        {LE_REP_EVAL, le_section_eval},
        {LE_REP_PPL, le_section_ppl},
        {LE_REP_QUANT, le_section_quant},
        {LE_REP_SCALING, le_section_scaling},
    };
    if (le_doc_labels(doc))
        return le_err_set(LE_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        if (!(doc->o->sections & sections[i].bit))
            continue;
        if (sections[i].fn(doc) || doc->oom)
            return le_err_set(LE_ENOMEM, "out of memory");
    }
    int rc = le_section_provenance(doc);
    return rc || doc->oom ? le_err_set(LE_ENOMEM, "out of memory") : 0;
}

int le_report_write(const struct le_rep_data *d, const struct le_rep_opts *o) {
    if (!o->out_dir || !o->out_dir[0])
        return le_err_set(LE_EINVAL, "no output folder given");
    if (!o->formats)
        return le_err_set(LE_EINVAL, "no output format given");
    if (o->figures && le_report_find_gnuplot(o->gnuplot))
        return LE_ENOTFOUND;
    int rc = le_mkdir(o->out_dir);
    if (rc)
        return rc;
    struct le_doc doc = {.d = d, .o = o};
    rc = le_build(&doc);
    char *figs = le_strdup_printf("%s/figures", o->out_dir), *html = le_strdup_printf("%s/report.html", o->out_dir),
         *md = le_strdup_printf("%s/report.md", o->out_dir), *csv = le_strdup_printf("%s/csv", o->out_dir),
         *json = le_strdup_printf("%s/report.json", o->out_dir);
    if (!rc && (!figs || !html || !md || !csv || !json))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    if (!rc && o->figures)
        rc = le_figures_render(&doc, figs);
    if (!rc && (o->formats & LE_REP_HTML))
        rc = le_render_html(&doc, html);
    if (!rc && (o->formats & LE_REP_MD))
        rc = le_render_md(&doc, md);
    if (!rc && (o->formats & LE_REP_CSV))
        rc = le_render_csv(&doc, csv);
    if (!rc && (o->formats & LE_REP_JSON))
        rc = le_render_json(&doc, json);
    free(figs), free(html), free(md), free(csv), free(json);
    le_doc_free(&doc);
    return rc;
}
