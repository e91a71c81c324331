/*
 * sec_eval: the evaluation and perplexity sections.
 *
 * Evaluation: the LLaMA paper's zero-shot table (Touvron et al. 2023,
 * Table 3: models as rows; BoolQ, PIQA, SIQA, HellaSwag, WinoGrande, ARC-e,
 * ARC-c, OBQA, then every other task run), every result in lm-eval's long
 * layout, and accuracy with 95% error bars per task.
 * Perplexity: model x (convention, ctx, ...) for `llamaeval ppl` cells and
 * lm-eval's rolling tasks (word perplexity, bits per byte).
 *
 * "Never a stale number": a (model, task) can have several done cells (a
 * rerun with --limit, another seed). The store walks results in done order,
 * so the last cell seen for a group is the newest; a table takes every
 * metric it shows from that one cell, never mixing cells.
 */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The LLaMA paper's columns and, per column, the metric it used (Section
 * 3: likelihood normalised by characters, except OpenBookQA and BoolQ,
 * normalised by the likelihood given "Answer:"; WinoGrande's partial
 * scoring is acc), then fallbacks when that metric was not recorded. */
static const struct le_zs_col {
    const char *task, *head;
    const char *pref[4];
} le_zs_cols[] = {
    {"boolq", "BoolQ", {"acc_uncond", "acc", NULL}},
    {"piqa", "PIQA", {"acc_norm", "acc", NULL}},
    {"siqa", "SIQA", {"acc_norm", "acc", NULL}},
    {"hellaswag", "HellaSwag", {"acc_norm", "acc", NULL}},
    {"winogrande", "WinoGrande", {"acc", NULL}},
    {"arc_easy", "ARC-e", {"acc_norm", "acc", NULL}},
    {"arc_challenge", "ARC-c", {"acc_norm", "acc", NULL}},
    {"openbookqa", "OBQA", {"acc_uncond", "acc_norm", "acc", NULL}},
};
enum { LE_ZS_STD = (int)(sizeof le_zs_cols / sizeof le_zs_cols[0]), LE_ZS_MAX = 64, LE_MODELS_MAX = 4096 };
static const char *const le_extra_pref[] = {"acc_norm", "acc", NULL};

/* Tasks shown in their own sections, never as evaluation tasks. */
static int le_other_section(const char *task) {
    return !strcmp(task, "ppl") || !strcmp(task, "sweep") || !strcmp(task, "compare");
}

static int le_is_acc(const char *metric) { return !strncmp(metric, "acc", 3); }

static int le_fewshot(const struct le_rep_result *r) {
    double k = le_json_num(r->config, "num_fewshot");
    return isnan(k) ? 0 : (int)k;
}

/* The row of cell `key` with the first metric of pref that it has. */
static const struct le_rep_result *le_cell_pick(const struct le_rep_data *d, const char *key,
                                                const char *const *pref, int *rank) {
    for (int p = 0; pref[p]; p++)
        for (int i = d->n_res - 1; i >= 0; i--)
            if (!strcmp(d->res[i].cell, key) && !strcmp(d->res[i].metric, pref[p])) {
                *rank = p;
                return &d->res[i];
            }
    return NULL;
}

/* Models (distinct sha256) in order of first result that passes keep(). */
static int le_models(const struct le_rep_data *d, int (*keep)(const struct le_rep_result *), const char **sha,
                     const struct le_rep_result **first, int cap) {
    int n = 0;
    for (int i = 0; i < d->n_res; i++) {
        const struct le_rep_result *r = &d->res[i];
        if (!r->model_sha256 || !keep(r))
            continue;
        int k = 0;
        while (k < n && strcmp(sha[k], r->model_sha256))
            k++;
        if (k == n && n < cap) {
            sha[n] = r->model_sha256;
            first[n++] = r;
        }
    }
    return n;
}

static int le_model_index(const char **sha, int n, const char *s) {
    for (int k = 0; s && k < n; k++)
        if (!strcmp(sha[k], s))
            return k;
    return -1;
}

static int le_keep_zeroshot(const struct le_rep_result *r) {
    return !le_other_section(r->task) && le_is_acc(r->metric) && le_fewshot(r) == 0;
}

static int le_keep_eval(const struct le_rep_result *r) { return !le_other_section(r->task); }

static void le_accuracy_figure(struct le_doc *doc, struct le_table *t, const int *row_of, int nm);

/* Functions of the zero-shot table. */

struct le_zs {
    const char *task[LE_ZS_MAX], *head[LE_ZS_MAX];
    const char *const *pref[LE_ZS_MAX];
    int n;
};

static int le_zs_columns(const struct le_rep_data *d, struct le_zs *z) {
    for (int i = 0; i < LE_ZS_STD; i++) {
        z->task[i] = le_zs_cols[i].task;
        z->head[i] = le_zs_cols[i].head;
        z->pref[i] = le_zs_cols[i].pref;
    }
    z->n = LE_ZS_STD;
    for (int i = 0; i < d->n_res; i++) {
        const struct le_rep_result *r = &d->res[i];
        if (!le_keep_zeroshot(r))
            continue;
        int k = 0;
        while (k < z->n && strcmp(z->task[k], r->task))
            k++;
        if (k < z->n)
            continue;
        if (z->n == LE_ZS_MAX)
            return -1;
        /* Extra tasks keep their store name, in order of first result. */
        z->task[z->n] = z->head[z->n] = r->task;
        z->pref[z->n++] = le_extra_pref;
    }
    return 0;
}

/* The published LLaMA 7B row and, for every 7B-sized model, its difference. */
static void le_zs_published(struct le_doc *doc, struct le_table *t, const struct le_zs *z, const int *row_of,
                            const struct le_rep_result **first, int nm) {
    int pr = le_table_add_row(t);
    if (pr < 0)
        return;
    le_table_text(t, pr, 0, "LLaMA 7B (published)");
    for (int c = 0; c < z->n; c++) {
        const struct le_pub *p = le_pub_find("llama-zeroshot", z->task[c]);
        if (!p)
            continue;
        le_table_num(t, pr, c + 1, p->value / 100, 100, 1);
        le_table_note(t, pr, c + 1, "published: %g (%s)", p->value, p->cite);
    }
    int any = 0;
    for (int m = 0; m < nm; m++) {
        if (!le_is_7b(first[m]->n_params))
            continue;
        any = 1;
        int dr = le_table_add_row(t);
        if (dr < 0)
            return;
        le_table_text(t, dr, 0, "\u0394 %s \u2212 published", le_model_label(doc, first[m]));
        for (int c = 0; c < z->n; c++) {
            struct le_cell *ours = le_table_cell(t, row_of[m], c + 1);
            const struct le_pub *p = le_pub_find("llama-zeroshot", z->task[c]);
            if (!p || !ours || ours->kind != LE_CELL_NUM)
                continue;
            le_table_num(t, dr, c + 1, ours->value - p->value / 100, 100, 1);
            for (int i = 0; i < ours->n_tr; i++)
                le_table_trace(t, dr, c + 1, ours->tr[i]);
            le_table_note(t, dr, c + 1, "ours %.2f minus published %g (%s)", 100 * ours->value, p->value, p->source);
        }
    }
    const struct le_pub *src = le_pub_find("llama-zeroshot", "boolq");
    le_table_footnote(t, "Published row: %s. %s", src ? src->cite : "",
                      any ? "\u0394 rows: our value minus the published one, in points, for models of 6.5 to 7.0 "
                            "billion parameters (LLaMA 7B has 6.74 B)."
                          : "No model here has 6.5 to 7.0 billion parameters (LLaMA 7B has 6.74 B), so no "
                            "difference is computed: the published row is shown for reference only.");
}

static int le_zeroshot_table(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    struct le_zs z;
    if (le_zs_columns(d, &z))
        return -1;
    const char **sha = calloc(LE_MODELS_MAX, sizeof *sha);
    const struct le_rep_result **first = calloc(LE_MODELS_MAX, sizeof *first);
    const char **latest = calloc((size_t)LE_MODELS_MAX * LE_ZS_MAX, sizeof *latest);
    int *row_of = calloc(LE_MODELS_MAX, sizeof *row_of);
    if (!sha || !first || !latest || !row_of) {
        free(sha), free(first), free(latest), free(row_of);
        return -1;
    }
    int nm = le_models(d, le_keep_zeroshot, sha, first, LE_MODELS_MAX);
    if (nm == 0) {
        le_doc_para(doc, "No zero-shot accuracy results in this database (run `llamaeval eval --num-fewshot 0`).");
        free(sha), free(first), free(latest), free(row_of);
        return 0;
    }
    /* The newest zero-shot cell per (model, task). */
    for (int i = 0; i < d->n_res; i++) {
        const struct le_rep_result *r = &d->res[i];
        int m = le_keep_zeroshot(r) ? le_model_index(sha, nm, r->model_sha256) : -1;
        for (int c = 0; m >= 0 && c < z.n; c++)
            if (!strcmp(z.task[c], r->task))
                latest[m * LE_ZS_MAX + c] = r->cell;
    }
    const char *cols[LE_ZS_MAX + 1] = {"Model"};
    for (int c = 0; c < z.n; c++)
        cols[c + 1] = z.head[c];
    struct le_table *t = le_doc_table(doc, "zeroshot", "Zero-shot accuracy (LLaMA paper, Table 3 layout)", z.n + 1, cols);
    if (!t) {
        free(sha), free(first), free(latest), free(row_of);
        return -1;
    }
    le_table_caption(t,
                     "Accuracy in percent, models as rows. Each column uses the LLaMA paper's metric: likelihood "
                     "normalised by characters (acc_norm) for PIQA, SIQA, HellaSwag and ARC; normalised by the "
                     "likelihood given \"Answer:\" (acc_uncond) for BoolQ and OBQA; WinoGrande's partial scoring "
                     "(acc). Other tasks show acc_norm when recorded, else acc. Only zero-shot cells count, and of "
                     "several cells of one model and task only the most recently finished one. \u2014 = not run.");
    int fallbacks = 0;
    for (int m = 0; m < nm; m++) {
        int row = row_of[m] = le_table_add_row(t);
        if (row < 0) {
            free(sha), free(first), free(latest), free(row_of);
            return -1;
        }
        le_table_text(t, row, 0, "%s", le_model_label(doc, first[m]));
        for (int c = 0; c < z.n; c++) {
            const char *key = latest[m * LE_ZS_MAX + c];
            int rank = 0;
            const struct le_rep_result *r = key ? le_cell_pick(d, key, z.pref[c], &rank) : NULL;
            if (!r) {
                le_table_none(t, row, c + 1);
                continue;
            }
            le_table_num(t, row, c + 1, r->value, 100, 1);
            le_table_trace(t, row, c + 1, r);
            if (rank > 0 && c < LE_ZS_STD) {
                le_table_note(t, row, c + 1, "%s not recorded for this cell; %s shown", z.pref[c][0], r->metric);
                fallbacks++;
            }
        }
    }
    if (fallbacks)
        le_table_footnote(t, "%d cell(s) show a fallback metric because the paper's was not recorded; the tooltip "
                             "(or report.json) names the metric of every cell.",
                          fallbacks);
    if (doc->o->compare_published)
        le_zs_published(doc, t, &z, row_of, first, nm);
    if (doc->o->figures)
        le_accuracy_figure(doc, t, row_of, nm);
    free(sha), free(first), free(latest), free(row_of);
    return 0;
}

/* Functions of the long results table and the accuracy figure. */

/* The newest cell per (model, task, n-shot): is row i's cell that one? */
static int le_is_newest(const struct le_rep_data *d, int i) {
    const struct le_rep_result *r = &d->res[i];
    int k = le_fewshot(r);
    for (int j = i + 1; j < d->n_res; j++) {
        const struct le_rep_result *q = &d->res[j];
        if (strcmp(q->cell, r->cell) && q->model_sha256 && r->model_sha256 &&
            !strcmp(q->model_sha256, r->model_sha256) && !strcmp(q->task, r->task) && le_fewshot(q) == k)
            return 0;
    }
    return 1;
}

static int le_results_table(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    static const char *const cols[] = {"Model", "Task", "n-shot", "Metric", "Value", "Stderr", "n", "Run", "Done"};
    int any = 0, stale = 0;
    for (int i = 0; i < d->n_res; i++)
        any |= le_keep_eval(&d->res[i]);
    if (!any)
        return 0;
    struct le_table *t = le_doc_table(doc, "results", "Every evaluation result (lm-evaluation-harness layout)", 9, cols);
    if (!t)
        return -1;
    le_table_caption(t, "One row per metric of the newest done cell of each (model, task, n-shot); values as "
                        "stored (fractions for accuracies), stderr as computed by the task (lm-eval's formulas).");
    for (int i = 0; i < d->n_res; i++) {
        const struct le_rep_result *r = &d->res[i];
        if (!le_keep_eval(r))
            continue;
        if (!le_is_newest(d, i)) {
            stale++;
            continue;
        }
        int row = le_table_add_row(t);
        if (row < 0)
            return -1;
        le_table_text(t, row, 0, "%s", le_model_label(doc, r));
        le_table_text(t, row, 1, "%s", r->task);
        le_table_text(t, row, 2, "%d", le_fewshot(r));
        le_table_text(t, row, 3, "%s", r->metric);
        le_table_num(t, row, 4, r->value, 1, 4);
        le_table_trace(t, row, 4, r);
        le_table_num(t, row, 5, r->stderr_v, 1, 4);
        if (r->n >= 0)
            le_table_text(t, row, 6, "%lld", (long long)r->n);
        le_table_text(t, row, 7, "%lld", (long long)r->run_id);
        le_table_text(t, row, 8, "%s", r->done_at ? r->done_at : "");
    }
    if (stale)
        le_table_footnote(t, "%d result row(s) of older cells superseded by a newer cell of the same model, task and "
                             "n-shot are not shown (they stay in the database: `llamaeval db export`).",
                          stale);
    return 0;
}

/* Accuracy per task with 95% intervals (1.96 standard errors), one series
 * per model row of the zero-shot table (rows row_of[0..nm)). */
enum { LE_FIG_MODELS = 10 };

static void le_accuracy_figure(struct le_doc *doc, struct le_table *t, const int *row_of, int nm) {
    int use[LE_ZS_MAX + 1] = {0}, nx = 0; /* columns with a number: their x position + 1 */
    for (int c = 1; c < t->n_cols; c++)
        for (int m = 0; m < nm && !use[c]; m++)
            if (le_table_cell(t, row_of[m], c)->kind == LE_CELL_NUM)
                use[c] = ++nx;
    struct le_figure *f = nx ? le_doc_figure(doc, "accuracy", "Accuracy per task with 95% intervals") : NULL;
    if (!f)
        return;
    int shown = nm < LE_FIG_MODELS ? nm : LE_FIG_MODELS;
    for (int m = 0; m < shown; m++) {
        le_fig_block_begin(f, le_table_cell(t, row_of[m], 0)->text);
        for (int c = 1; c < t->n_cols; c++) {
            struct le_cell *x = le_table_cell(t, row_of[m], c);
            if (x->kind != LE_CELL_NUM)
                continue;
            double se = x->tr[0]->stderr_v;
            /* Models side by side around each task's tick. */
            double v[3] = {use[c] - 1 + 0.6 * ((m + 0.5) / shown - 0.5), 100 * x->value,
                           isnan(se) ? 0 : 100 * 1.96 * se};
            le_fig_row(f, 3, v);
        }
    }
    le_buf_printf(&f->gp, "set ylabel \"accuracy (%%)\"\nset key outside right top\nset grid ytics\n"
                          "set xrange [-0.6:%d.6]\nset xtics (",
                  nx - 1);
    for (int c = 1, k = 0; c < t->n_cols; c++)
        if (use[c]) {
            le_buf_puts(&f->gp, k++ ? ", " : "");
            le_fig_quote(&f->gp, t->cols[c]);
            le_buf_printf(&f->gp, " %d", use[c] - 1);
        }
    le_buf_puts(&f->gp, ") rotate by -30\nplot ");
    for (int m = 0; m < shown; m++) {
        le_buf_printf(&f->gp, "%s\"accuracy.dat\" index %d using 1:2:3 with yerrorbars pt 7 ps 0.8 title ",
                      m ? ", \\\n     " : "", m);
        le_fig_quote(&f->gp, le_table_cell(t, row_of[m], 0)->text);
    }
    le_buf_puts(&f->gp, "\n");
    f->n_series = shown;
    f->caption = le_strdup_printf("Zero-shot accuracy per task (the table above), one colour per model; bars are "
                                  "95%% intervals (1.96 standard errors).%s",
                                  nm > shown ? " Only the first 10 models are drawn." : "");
}

int le_section_eval(struct le_doc *doc) {
    le_doc_heading(doc, 2, "Evaluation");
    if (le_zeroshot_table(doc) || le_results_table(doc))
        return -1;
    return doc->oom ? -1 : 0;
}

/* Functions of the perplexity section. */

/* A column: one measurement setting. For `ppl` cells, the cell config
 * without what never changes a number's meaning (batch); for rolling eval
 * tasks, the task and metric. */
struct le_ppl_col {
    char *sig;              /* identity of the column */
    char *head;             /* its header */
    const char *conv;       /* ppl convention ("" for eval tasks) */
    double ctx;
};

static const char *le_run_text(const struct le_rep_data *d, int64_t run_id, char *buf, size_t n) {
    buf[0] = 0;
    for (int i = 0; i < d->n_runs; i++)
        if (d->runs[i].id == run_id) {
            char *t = le_json_str(d->runs[i].config, "text");
            if (t) {
                const char *b = strrchr(t, '/');
                snprintf(buf, n, "%s", b ? b + 1 : t);
                free(t);
            }
        }
    return buf;
}

/* The metric a ppl/rolling row contributes, or NULL to skip it. */
static const char *le_ppl_metric(const struct le_rep_result *r, char **conv) {
    *conv = NULL;
    if (!strcmp(r->task, "ppl")) {
        *conv = le_json_str(r->config, "convention");
        if (!*conv)
            return NULL;
        const char *want = !strcmp(*conv, "lmeval") ? "word_perplexity" : "ppl";
        if (!strcmp(r->metric, want) || (!strcmp(*conv, "lmeval") && !strcmp(r->metric, "bits_per_byte")))
            return r->metric;
        return NULL;
    }
    if (le_other_section(r->task))
        return NULL;
    if (!strcmp(r->metric, "word_perplexity") || !strcmp(r->metric, "bits_per_byte"))
        return r->metric;
    return NULL;
}

/* Signature and header of the column a row belongs to (malloc'ed). */
static int le_ppl_sig(const struct le_rep_data *d, const struct le_rep_result *r, const char *conv,
                      struct le_ppl_col *c) {
    const char *metric = !strcmp(r->metric, "bits_per_byte") ? "bits/byte" : r->metric;
    if (!conv) {
        c->sig = le_strdup_printf("task=%s;metric=%s;shot=%d", r->task, r->metric, le_fewshot(r));
        c->head = le_strdup_printf("%s (lm-eval rolling) %s", r->task,
                                   !strcmp(metric, "word_perplexity") ? "word ppl" : metric);
        c->conv = "";
        c->ctx = NAN;
        return c->sig && c->head ? 0 : -1;
    }
    char *docs = le_json_str(r->config, "docs"), *kv = le_json_str(r->config, "kv");
    char *text = le_json_str(r->config, "text_sha256"), sha[9], name[256];
    double ctx = le_json_num(r->config, "ctx"), stride = le_json_num(r->config, "stride");
    le_run_text(d, r->run_id, name, sizeof name);
    struct le_buf h = {0};
    le_buf_printf(&h, "%s ctx %g", conv, ctx);
    if (!isnan(stride))
        le_buf_printf(&h, " stride %g", stride);
    if (docs)
        le_buf_printf(&h, " docs %s", docs);
    if (kv && strcmp(kv, "f32"))
        le_buf_printf(&h, " kv %s", kv);
    if (!strcmp(conv, "lmeval"))
        le_buf_printf(&h, " %s", !strcmp(metric, "word_perplexity") ? "word ppl" : metric);
    le_buf_printf(&h, " \u00b7 %s", name[0] ? name : le_short_sha(text, sha));
    c->head = le_buf_take(&h);
    c->sig = le_strdup_printf("conv=%s;ctx=%g;stride=%g;docs=%s;kv=%s;text=%s;metric=%s", conv, ctx, stride,
                              docs ? docs : "", kv ? kv : "", text ? text : "", r->metric);
    c->conv = conv;
    c->ctx = ctx;
    free(docs), free(kv), free(text);
    return c->sig && c->head ? 0 : -1;
}

enum { LE_PPL_COLS = 64 };

/* Published perplexities of LLaMA 7B at full precision, each in every
 * column of its convention and context. */
static void le_ppl_published(struct le_doc *doc, struct le_table *t, const struct le_ppl_col *cols, int nc,
                             const int *row_of, const struct le_rep_result **first, int nm) {
    static const struct {
        const char *set, *key, *conv, *label;
        double ctx;
    } refs[] = {
        {"llamacpp-7b", "ppl:F16", "llamacpp", "LLaMA 7B F16, llama.cpp (published)", 512},
        {"gptq-llama7b", "fp16", "gptq", "LLaMA-7B FP16, GPTQ (published)", 2048},
    };
    for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++) {
        const struct le_pub *p = le_pub_find(refs[k].set, refs[k].key);
        int placed = 0, row = -1;
        for (int c = 0; c < nc; c++) {
            if (strcmp(cols[c].conv, refs[k].conv) || cols[c].ctx != refs[k].ctx || strstr(cols[c].head, "bits"))
                continue;
            if (row < 0 && (row = le_table_add_row(t)) >= 0)
                le_table_text(t, row, 0, "%s", refs[k].label);
            le_table_num(t, row, c + 1, p->value, 1, 4);
            le_table_note(t, row, c + 1, "published: %g (%s)", p->value, p->cite);
            placed++;
            for (int m = 0; m < nm; m++) {
                struct le_cell *ours = le_table_cell(t, row_of[m], c + 1);
                if (!le_is_7b(first[m]->n_params) || !ours || ours->kind != LE_CELL_NUM)
                    continue;
                int dr = le_table_add_row(t);
                if (dr < 0)
                    return;
                le_table_text(t, dr, 0, "\u0394 %s \u2212 %s", le_model_label(doc, first[m]), refs[k].label);
                le_table_num(t, dr, c + 1, ours->value - p->value, 1, 4);
                le_table_trace(t, dr, c + 1, ours->tr[0]);
                le_table_note(t, dr, c + 1, "ours %.4f minus published %g (%s)", ours->value, p->value, p->source);
            }
        }
        if (placed)
            le_table_footnote(t, "%s: %s. A difference is computed only for models of 6.5 to 7.0 billion parameters, "
                                 "and means something only on the same text (WikiText-2 test).",
                              refs[k].label, p->cite);
        else
            le_table_footnote(t, "No %s result with context %g here, so %s is not shown (%s).", refs[k].conv,
                              refs[k].ctx, refs[k].label, p->cite);
    }
}

int le_section_ppl(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    le_doc_heading(doc, 2, "Perplexity");
    struct le_ppl_col cols[LE_PPL_COLS];
    int nc = 0, rc = 0;
    const char **sha = calloc(LE_MODELS_MAX, sizeof *sha);
    const struct le_rep_result **first = calloc(LE_MODELS_MAX, sizeof *first);
    const struct le_rep_result **pick = calloc((size_t)LE_MODELS_MAX * LE_PPL_COLS, sizeof *pick);
    int *row_of = calloc(LE_MODELS_MAX, sizeof *row_of), nm = 0;
    if (!sha || !first || !pick || !row_of)
        rc = -1;
    /* Columns and models in order of first appearance; the last row seen for
     * a (model, column) is from its newest cell. */
    for (int i = 0; rc == 0 && i < d->n_res; i++) {
        const struct le_rep_result *r = &d->res[i];
        char *conv = NULL;
        struct le_ppl_col c = {0};
        if (!le_ppl_metric(r, &conv) || !r->model_sha256) {
            free(conv);
            continue;
        }
        rc = le_ppl_sig(d, r, conv, &c);
        int k = 0;
        while (rc == 0 && k < nc && strcmp(cols[k].sig, c.sig))
            k++;
        if (rc == 0 && k == nc && nc < LE_PPL_COLS) {
            cols[nc] = c;
            cols[nc].conv = cols[nc].conv[0] ? strdup(conv) : strdup("");
            c.sig = c.head = NULL;
            rc = cols[nc++].conv ? 0 : -1;
        }
        free(c.sig), free(c.head), free(conv);
        int m = le_model_index(sha, nm, r->model_sha256);
        if (m < 0 && nm < LE_MODELS_MAX) {
            sha[nm] = r->model_sha256;
            first[m = nm++] = r;
        }
        if (rc == 0 && m >= 0 && k < nc)
            pick[m * LE_PPL_COLS + k] = r;
    }
    if (rc == 0 && nc == 0)
        le_doc_para(doc, "No perplexity results in this database (`llamaeval ppl`, or the rolling task `brown` of "
                         "`llamaeval eval`).");
    const char *heads[LE_PPL_COLS + 1] = {"Model"};
    for (int c = 0; c < nc; c++)
        heads[c + 1] = cols[c].head;
    struct le_table *t = rc == 0 && nc ? le_doc_table(doc, "perplexity", "Perplexity by model, convention and context",
                                                      nc + 1, heads)
                                       : NULL;
    if (t) {
        le_table_caption(t, "Perplexity under each convention of `llamaeval ppl` (llamacpp: llama-perplexity's "
                            "chunks, second half scored; gptq: 2048-token windows over the joined text; hf-stride: "
                            "sliding windows; lmeval: word perplexity per document) and lm-eval's rolling tasks, "
                            "with the text each was measured on. Newest cell per model and column; "
                            "\u2014 = not run.");
        for (int m = 0; m < nm; m++) {
            int row = row_of[m] = le_table_add_row(t);
            if (row < 0) {
                rc = -1;
                break;
            }
            le_table_text(t, row, 0, "%s", le_model_label(doc, first[m]));
            for (int c = 0; c < nc; c++) {
                const struct le_rep_result *r = pick[m * LE_PPL_COLS + c];
                if (!r) {
                    le_table_none(t, row, c + 1);
                    continue;
                }
                le_table_num(t, row, c + 1, r->value, 1, 4);
                le_table_trace(t, row, c + 1, r);
            }
        }
        if (rc == 0 && doc->o->compare_published)
            le_ppl_published(doc, t, cols, nc, row_of, first, nm);
    } else if (rc == 0 && nc) {
        rc = -1;
    }
    for (int c = 0; c < nc; c++)
        free(cols[c].sig), free(cols[c].head), free((char *)cols[c].conv);
    free(sha), free(first), free(pick), free(row_of);
    return rc || doc->oom ? -1 : 0;
}
