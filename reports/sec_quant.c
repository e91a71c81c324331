/*
 * sec_quant: quantized against full precision -- the GPTQ paper's table
 * (WikiText-2 perplexity by model and bits, RTN against GPTQ; layout of the
 * IST-DASLab/gptq README), llama.cpp's quantization table (type, bits per
 * weight, size, PPL, ΔPPL, KL divergence, top-1 agreement, speed) and ΔPPL
 * and KL divergence against bits per weight.
 *
 * Input: cells of task "compare" (see le_report.h for their config fields
 * and metrics). A quantized model is grouped under its base (config
 * "base_sha256") and setting (convention, ctx, text); of several cells for
 * one (base, setting, type, method, bits) the newest counts.
 */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LE_Q_MAX = 512, LE_Q_COLS = 24 };

/* One compare cell: its rows by metric (NULL when absent). */
struct le_qcell {
    const char *cell;
    char *base, *quant, *method, *setting;
    double bits, group;
    const struct le_rep_result *m[13];
};
static const char *const le_q_metrics[13] = {"ppl",     "ppl_base", "dppl",       "kld",     "top1",
                                             "bpw",     "size",     "speed",      "dppl_lo", "dppl_hi",
                                             "kld_median", "kld_p99", "kld_p999"};
enum { Q_PPL, Q_PPL_BASE, Q_DPPL, Q_KLD, Q_TOP1, Q_BPW, Q_SIZE, Q_SPEED, Q_DPPL_LO, Q_DPPL_HI, Q_KLD_MED,
       Q_KLD_P99, Q_KLD_P999, Q_NMET };

static void le_qcell_free(struct le_qcell *q) {
    free(q->base), free(q->quant), free(q->method), free(q->setting);
}

/* The newest compare cells, one per (base, setting, quant, method, bits, group). */
static int le_q_collect(const struct le_rep_data *d, struct le_qcell *q, int cap) {
    int n = 0;
    for (int i = d->n_res - 1; i >= 0; i--) { /* newest first: the first seen wins */
        const struct le_rep_result *r = &d->res[i];
        if (strcmp(r->task, "compare"))
            continue;
        int k = 0;
        while (k < n && strcmp(q[k].cell, r->cell))
            k++;
        if (k == n) {
            if (n == cap)
                continue;
            struct le_qcell c = {.cell = r->cell};
            c.base = le_json_str(r->config, "base_sha256");
            c.quant = le_json_str(r->config, "quant");
            c.method = le_json_str(r->config, "method");
            char *conv = le_json_str(r->config, "convention"), *text = le_json_str(r->config, "text_sha256"), sha[9];
            double ctx = le_json_num(r->config, "ctx");
            struct le_buf st = {0};
            le_buf_puts(&st, conv ? conv : "?");
            if (!isnan(ctx))
                le_buf_printf(&st, " ctx %g", ctx);
            if (text)
                le_buf_printf(&st, " \u00b7 text %s", le_short_sha(text, sha));
            c.setting = le_buf_take(&st);
            free(conv), free(text);
            c.bits = le_json_num(r->config, "bits");
            c.group = le_json_num(r->config, "group");
            if (!c.method)
                c.method = strdup("rtn");
            if (!c.base || !c.quant || !c.setting || !c.method) {
                le_qcell_free(&c);
                return -1;
            }
            /* An older cell of the same measurement is superseded. */
            int dup = 0;
            for (int j = 0; j < n && !dup; j++)
                dup = !strcmp(q[j].base, c.base) && !strcmp(q[j].setting, c.setting) &&
                      !strcmp(q[j].quant, c.quant) && !strcmp(q[j].method, c.method) &&
                      (q[j].bits == c.bits || (isnan(q[j].bits) && isnan(c.bits))) &&
                      (q[j].group == c.group || (isnan(q[j].group) && isnan(c.group)));
            if (dup) {
                le_qcell_free(&c);
                continue;
            }
            q[n++] = c;
        }
        for (int m = 0; m < Q_NMET; m++)
            if (!strcmp(r->metric, le_q_metrics[m]) && !q[k].m[m])
                q[k].m[m] = r;
    }
    return n;
}

/* The label of a base model: its own label when it has results, else its sha. */
static char *le_base_label(const struct le_doc *doc, const char *sha) {
    for (int i = 0; i < doc->d->n_res; i++)
        if (doc->d->res[i].model_sha256 && !strcmp(doc->d->res[i].model_sha256, sha))
            return strdup(le_model_label(doc, &doc->d->res[i]));
    char s[9];
    return le_strdup_printf("model %s", le_short_sha(sha, s));
}

/* Functions of the GPTQ table. */

struct le_gcol {
    double bits, group;
    int gptq;
    char head[32];
};

static int le_gcol_cmp(const void *a, const void *b) {
    const struct le_gcol *x = a, *y = b;
    if (x->bits != y->bits)
        return x->bits > y->bits ? -1 : 1;
    double gx = isnan(x->group) ? 1e9 : x->group, gy = isnan(y->group) ? 1e9 : y->group;
    if (gx != gy)
        return gx > gy ? -1 : 1;
    return x->gptq - y->gptq;
}

static int le_gcol_find(const struct le_gcol *c, int n, double bits, double group, int gptq) {
    for (int i = 0; i < n; i++)
        if (c[i].bits == bits && c[i].gptq == gptq && (c[i].group == group || (isnan(c[i].group) && isnan(group))))
            return i;
    return -1;
}

static void le_gcol_add(struct le_gcol *c, int *n, double bits, double group, int gptq) {
    if (isnan(bits) || *n == LE_Q_COLS || le_gcol_find(c, *n, bits, group, gptq) >= 0)
        return;
    struct le_gcol *x = &c[(*n)++];
    *x = (struct le_gcol){.bits = bits, .group = group, .gptq = gptq};
    if (isnan(group))
        snprintf(x->head, sizeof x->head, "%gbit-%s", bits, gptq ? "GPTQ" : "RTN");
    else
        snprintf(x->head, sizeof x->head, "%gg%g-%s", bits, group, gptq ? "GPTQ" : "RTN");
}

static void le_gptq_table(struct le_doc *doc, struct le_qcell *q, int n) {
    /* The README's columns, when comparing, then every (bits, group, method) present. */
    struct le_gcol cols[LE_Q_COLS];
    int nc = 0;
    if (doc->o->compare_published) {
        le_gcol_add(cols, &nc, 4, NAN, 0), le_gcol_add(cols, &nc, 4, NAN, 1);
        le_gcol_add(cols, &nc, 3, NAN, 0), le_gcol_add(cols, &nc, 3, NAN, 1);
        le_gcol_add(cols, &nc, 3, 128, 1);
    }
    for (int i = 0; i < n; i++)
        if (q[i].m[Q_PPL] && strcmp(q[i].quant, "F16") && strcmp(q[i].quant, "F32"))
            le_gcol_add(cols, &nc, q[i].bits, q[i].group, !strcmp(q[i].method, "gptq"));
    if (!nc)
        return;
    qsort(cols, (size_t)nc, sizeof cols[0], le_gcol_cmp);
    const char *heads[LE_Q_COLS + 3] = {"Model", "Setting", "FP16"};
    for (int c = 0; c < nc; c++)
        heads[c + 3] = cols[c].head;
    struct le_table *t = le_doc_table(doc, "gptq", "Perplexity by model and bits, RTN against GPTQ (GPTQ layout)",
                                      nc + 3, heads);
    if (!t)
        return;
    le_table_caption(t, "Perplexity of each quantized model (\"compare\" cells' ppl) and of its full-precision base "
                        "(ppl_base), by weight bits and method (RTN: round to nearest; GPTQ), one row per base model "
                        "and setting (convention, context, text). \u2014 = not run.");
    const char *row_base[LE_Q_MAX], *row_setting[LE_Q_MAX];
    char twin_at[LE_Q_MAX * LE_Q_COLS]; /* (row, column) holds GPTQ's RTN twin (12 KB) */
    memset(twin_at, 0, sizeof twin_at);
    for (int i = 0; i < n; i++) {
        int row = -1;
        for (int r = 0; r < t->n_rows && row < 0; r++)
            if (!strcmp(row_base[r], q[i].base) && !strcmp(row_setting[r], q[i].setting))
                row = r;
        if (row < 0) {
            if ((row = le_table_add_row(t)) < 0)
                return;
            row_base[row] = q[i].base;
            row_setting[row] = q[i].setting;
            char *label = le_base_label(doc, q[i].base);
            le_table_text(t, row, 0, "%s", label ? label : "?");
            le_table_note(t, row, 0, "base model sha256 %s", q[i].base);
            le_table_text(t, row, 1, "%s", q[i].setting);
            for (int c = 2; c < t->n_cols; c++)
                le_table_none(t, row, c);
            free(label);
        }
        struct le_cell *fp = le_table_cell(t, row, 2);
        if (q[i].m[Q_PPL_BASE] && fp->kind != LE_CELL_NUM) {
            le_table_num(t, row, 2, q[i].m[Q_PPL_BASE]->value, 1, 2);
            le_table_trace(t, row, 2, q[i].m[Q_PPL_BASE]);
        }
        int c = le_gcol_find(cols, nc, q[i].bits, q[i].group, !strcmp(q[i].method, "gptq"));
        /* Several round-to-nearest files can share bits and group (Q4_0, Q4_K_M, Q4_1): GPTQ's
         * counterpart is the one of GPTQ's own file type, which keeps the cell once it has it. */
        int twin = 0;
        for (int j = 0; j < n && !twin && strcmp(q[i].method, "gptq"); j++)
            twin = !strcmp(q[j].method, "gptq") && !strcmp(q[j].quant, q[i].quant) && q[j].bits == q[i].bits &&
                   !strcmp(q[j].base, q[i].base) && !strcmp(q[j].setting, q[i].setting);
        if (c >= 0 && q[i].m[Q_PPL] && twin_at[row * LE_Q_COLS + c] && !twin)
            continue;
        if (c >= 0 && q[i].m[Q_PPL]) {
            twin_at[row * LE_Q_COLS + c] = (char)twin;
            le_table_num(t, row, c + 3, q[i].m[Q_PPL]->value, 1, 2);
            le_table_trace(t, row, c + 3, q[i].m[Q_PPL]);
            le_table_note(t, row, c + 3, "type %s, method %s", q[i].quant, q[i].method);
        }
    }
    if (!doc->o->compare_published)
        return;
    int row = le_table_add_row(t);
    le_table_text(t, row, 0, "LLaMa-7B (published)");
    le_table_text(t, row, 1, "gptq ctx 2048 \u00b7 WikiText-2 test");
    static const struct {
        const char *key;
        double bits, group;
        int gptq;
    } pub[] = {{"rtn-4", 4, NAN, 0}, {"gptq-4", 4, NAN, 1}, {"rtn-3", 3, NAN, 0}, {"gptq-3", 3, NAN, 1},
               {"gptq-3-g128", 3, 128, 1}};
    const struct le_pub *p = le_pub_find("gptq-llama7b", "fp16");
    le_table_num(t, row, 2, p->value, 1, 2);
    le_table_note(t, row, 2, "published: %g (%s)", p->value, p->cite);
    for (size_t k = 0; k < sizeof pub / sizeof pub[0]; k++) {
        int c = le_gcol_find(cols, nc, pub[k].bits, pub[k].group, pub[k].gptq);
        p = le_pub_find("gptq-llama7b", pub[k].key);
        le_table_num(t, row, c + 3, p->value, 1, 2);
        le_table_note(t, row, c + 3, "published: %g (%s)", p->value, p->cite);
    }
    le_table_footnote(t, "Published row: %s. Compare only rows of the same model on the same text.", p->cite);
}

/* Functions of llama.cpp's table and the figures. */

static int le_q_bpw_cmp(const void *a, const void *b) {
    const struct le_qcell *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    if (c)
        return c;
    if ((c = strcmp(x->setting, y->setting)))
        return c;
    double bx = x->m[Q_BPW] ? x->m[Q_BPW]->value : 99, by = y->m[Q_BPW] ? y->m[Q_BPW]->value : 99;
    return bx < by ? -1 : bx > by;
}

static void le_llamacpp_table(struct le_doc *doc, struct le_qcell *q, int n) {
    static const char *const cols[] = {"Model",      "Setting",   "Type",          "Bits/weight",
                                       "Size (MB)",  "PPL",       "\u0394PPL",      "\u0394PPL 95%",
                                       "KLD",        "KLD median", "KLD 99%",      "KLD 99.9%",
                                       "Top-1 (%)",  "Speed (t/s)"};
    enum { NC = sizeof cols / sizeof cols[0], C_DINT = 7 };
    static const struct {
        int col, m, digits;
        double scale;
    } num[] = {{3, Q_BPW, 2, 1},      {4, Q_SIZE, 1, 1e-6},     {5, Q_PPL, 4, 1},         {6, Q_DPPL, 4, 1},
               {8, Q_KLD, 6, 1},      {9, Q_KLD_MED, 6, 1},     {10, Q_KLD_P99, 6, 1},    {11, Q_KLD_P999, 6, 1},
               {12, Q_TOP1, 2, 100},  {13, Q_SPEED, 1, 1}};
    struct le_table *t = le_doc_table(doc, "quant", "Quantization types (llama.cpp layout)", NC, cols);
    if (!t)
        return;
    le_table_caption(t, "One row per quantized model: bits per weight, file size, perplexity, its difference from "
                        "the full-precision base (\u0394PPL) with a 95%% paired bootstrap interval (chunks "
                        "resampled), the KL divergence base \u2016 quantized per token (nats: mean, median, 99th "
                        "and 99.9th percentiles), how often the two agree on the most likely token, and prompt "
                        "speed.");
    for (int i = 0; i < n; i++) {
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        char *label = le_base_label(doc, q[i].base);
        le_table_text(t, row, 0, "%s", label ? label : "?");
        free(label);
        le_table_text(t, row, 1, "%s", q[i].setting);
        le_table_text(t, row, 2, "%s%s", q[i].quant, !strcmp(q[i].method, "gptq") ? " (GPTQ)" : "");
        for (int c = 3; c < NC; c++)
            le_table_none(t, row, c);
        for (size_t k = 0; k < sizeof num / sizeof num[0]; k++) {
            const struct le_rep_result *r = q[i].m[num[k].m];
            if (!r)
                continue;
            le_table_num(t, row, num[k].col, r->value, num[k].scale, num[k].digits);
            le_table_trace(t, row, num[k].col, r);
        }
        if (q[i].m[Q_DPPL_LO] && q[i].m[Q_DPPL_HI])
            le_table_text(t, row, C_DINT, "[%.4f, %.4f]", q[i].m[Q_DPPL_LO]->value, q[i].m[Q_DPPL_HI]->value);
    }
    if (!doc->o->compare_published)
        return;
    int np;
    const struct le_pub *p = le_pub_list("llamacpp-7b", &np), *f16 = le_pub_find("llamacpp-7b", "ppl:F16");
    for (int i = 0; i < np; i++) {
        if (strncmp(p[i].key, "ppl:", 4))
            continue;
        const char *type = p[i].key + 4;
        char key[32];
        snprintf(key, sizeof key, "bpw:%s", type);
        const struct le_pub *bpw = le_pub_find("llamacpp-7b", key);
        int row = le_table_add_row(t);
        le_table_text(t, row, 0, "LLaMA 7B (published)");
        le_table_text(t, row, 1, "llamacpp ctx 512 \u00b7 WikiText-2 test");
        le_table_text(t, row, 2, "%s", type);
        for (int c = 3; c < NC; c++)
            le_table_none(t, row, c);
        if (bpw) {
            le_table_num(t, row, 3, bpw->value, 1, 2);
            le_table_note(t, row, 3, "published: %g (%s)", bpw->value, bpw->cite);
        }
        le_table_num(t, row, 5, p[i].value, 1, 4);
        le_table_note(t, row, 5, "published: %g (%s)", p[i].value, p[i].cite);
        le_table_num(t, row, 6, p[i].value - f16->value, 1, 4);
        le_table_note(t, row, 6, "computed here from the published PPLs: %g - %g", p[i].value, f16->value);
    }
    le_table_footnote(t, "Published rows: %s; their \u0394PPL is computed here from the published perplexities "
                         "(the README lists none). Size and speed are omitted: they were measured on other hardware "
                         "and file formats.",
                      f16->cite);
}

/* ΔPPL or KL against bits per weight, one series per base model and setting. */
static void le_quant_figure(struct le_doc *doc, struct le_qcell *q, int n, int metric, const char *id,
                            const char *title, const char *ylabel) {
    int series = 0;
    struct le_figure *f = NULL;
    for (int i = 0; i < n; i++) {
        if (!q[i].m[metric] || !q[i].m[Q_BPW])
            continue;
        if (!f && !(f = le_doc_figure(doc, id, title)))
            return;
        if (i == 0 || strcmp(q[i].base, q[i - 1].base) || strcmp(q[i].setting, q[i - 1].setting) || !series) {
            char *label = le_base_label(doc, q[i].base);
            char *name = le_strdup_printf("%s, %s", label ? label : "?", q[i].setting);
            le_fig_block_begin(f, name);
            le_buf_printf(&f->gp, "%s'%s.dat' index %d using 1:2 with linespoints pt 7 title ", series ? ", \\\n     " : "plot ",
                          id, series);
            le_fig_quote(&f->gp, name ? name : "?");
            le_buf_printf(&f->gp, ", '' index %d using 1:2:3 with labels offset 0,1 font ',9' noenhanced notitle", series);
            free(label), free(name);
            series++;
        }
        /* Type names as point labels: a third column of text. */
        char num[40];
        le_fmt_exact(num, sizeof num, q[i].m[Q_BPW]->value);
        le_buf_printf(&f->dat, "%s ", num);
        le_fmt_exact(num, sizeof num, q[i].m[metric]->value);
        le_buf_printf(&f->dat, "%s \"%s\"\n", num, q[i].quant);
    }
    if (!f)
        return;
    /* The axis settings go before the plot command. */
    struct le_buf gp = {0};
    le_buf_printf(&gp, "set xlabel 'bits per weight'\nset ylabel ");
    le_fig_quote(&gp, ylabel);
    le_buf_puts(&gp, "\nset grid\nset key top right\nset offsets graph 0.05, graph 0.05, graph 0.12, graph 0.05\n");
    le_buf_put(&gp, f->gp.p, f->gp.n);
    le_buf_puts(&gp, "\n");
    le_buf_free(&f->gp);
    f->gp = gp;
    f->n_series = series;
    f->caption = le_strdup_printf("%s of each quantized model against its bits per weight (table above), one line "
                                  "per base model and setting.",
                                  ylabel);
}

/* Multiple-choice accuracy of quantized models against their base ("compare-mc"
 * cells): one row per cell, newest first seen wins per cell key. */
static void le_mc_table(struct le_doc *doc) {
    static const char *const cols[] = {"Model", "Task", "Type", "Acc (base)", "Acc", "\u0394Acc",
                                       "Base-only right", "Quantized-only right", "McNemar p"};
    static const char *const met[] = {"acc_base", "acc", "dacc", "n_base_only", "n_quant_only", "mcnemar_p"};
    const struct le_rep_data *d = doc->d;
    struct le_table *t = NULL;
    const char *seen[LE_Q_MAX];
    int n_seen = 0;
    for (int i = d->n_res - 1; i >= 0; i--) {
        const struct le_rep_result *r = &d->res[i];
        if (strcmp(r->task, "compare-mc"))
            continue;
        int dup = 0;
        for (int k = 0; k < n_seen && !dup; k++)
            dup = !strcmp(seen[k], r->cell);
        if (dup || n_seen == LE_Q_MAX)
            continue;
        seen[n_seen++] = r->cell;
        if (!t && !(t = le_doc_table(doc, "quant-mc", "Multiple-choice accuracy, quantized against base", 9, cols)))
            return;
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        char *base = le_json_str(r->config, "base_sha256"), *task = le_json_str(r->config, "task");
        char *quant = le_json_str(r->config, "quant"), *method = le_json_str(r->config, "method");
        char *label = base ? le_base_label(doc, base) : NULL;
        le_table_text(t, row, 0, "%s", label ? label : "?");
        le_table_text(t, row, 1, "%s", task ? task : "?");
        le_table_text(t, row, 2, "%s%s", quant ? quant : "?", method && !strcmp(method, "gptq") ? " (GPTQ)" : "");
        free(base), free(task), free(quant), free(method), free(label);
        for (int c = 3; c < 9; c++)
            le_table_none(t, row, c);
        for (int j = 0; j < d->n_res; j++) {
            const struct le_rep_result *x = &d->res[j];
            if (strcmp(x->cell, r->cell))
                continue;
            for (int m = 0; m < 6; m++)
                if (!strcmp(x->metric, met[m])) {
                    int digits = m < 3 ? 4 : m < 5 ? 0 : 4;
                    le_table_num(t, row, 3 + m, x->value, 1, digits);
                    le_table_trace(t, row, 3 + m, x);
                }
        }
    }
    if (t)
        le_table_caption(t, "Accuracy (argmax log-likelihood) of each quantized model and of its base on the same "
                            "documents; the documents only one of the two answers right, and McNemar's exact "
                            "two-sided p on those discordant pairs (binomial, p = 1/2).");
}

int le_section_quant(struct le_doc *doc) {
    le_doc_heading(doc, 2, "Quantization");
    struct le_qcell *q = calloc(LE_Q_MAX, sizeof *q);
    if (!q)
        return -1;
    int n = le_q_collect(doc->d, q, LE_Q_MAX);
    if (n < 0) {
        free(q);
        return -1;
    }
    if (n == 0) {
        le_doc_para(doc, "No quantization results in this database: this section reads cells of task \"compare\" "
                         "(config: quant, method, bits, base_sha256; metrics: ppl, ppl_base, dppl, kld, top1, bpw, "
                         "size, speed), which no command has recorded here.");
    } else {
        qsort(q, (size_t)n, sizeof *q, le_q_bpw_cmp);
        le_gptq_table(doc, q, n);
        le_llamacpp_table(doc, q, n);
        if (doc->o->figures) {
            le_quant_figure(doc, q, n, Q_DPPL, "quant-dppl", "Perplexity increase against bits per weight",
                            "\u0394PPL");
            le_quant_figure(doc, q, n, Q_KLD, "quant-kld", "KL divergence against bits per weight",
                            "KL divergence (nats/token)");
        }
    }
    le_mc_table(doc);
    for (int i = 0; i < n; i++)
        le_qcell_free(&q[i]);
    free(q);
    return doc->oom ? -1 : 0;
}
