/*
 * sec_scaling: the scaling section -- every sweep cell (shape, N under each
 * convention, D, FLOPs, final loss), training curves against tokens and
 * against FLOPs; and, from the fits (le_scaling_fits, the one place that
 * calls reports/le_fit.h), Chinchilla's Table 2 and the parametric fit, and
 * the fit figures.
 */
#include "report_int.h"

#include "le_err.h" /* le_err_msg */
#include "le_fit.h" /* le_fit_compute: the only call, in le_scaling_fit */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The result row of a sweep cell's metric (its final loss or bpb), if any. */
static const struct le_rep_result *le_cell_result(const struct le_rep_data *d, const char *key, const char *metric) {
    for (int i = d->n_res - 1; i >= 0; i--)
        if (!strcmp(d->res[i].cell, key) && !strcmp(d->res[i].metric, metric))
            return &d->res[i];
    return NULL;
}

static void le_sweep_table(struct le_doc *doc) {
    const struct le_rep_data *d = doc->d;
    static const char *const cols[] = {"Cell",       "Plan",      "C (budget)", "N",    "N non-emb", "N non-emb no-out",
                                       "D (tokens)", "D/N",       "C = 6ND",    "C exact", "Loss",   "bpb"};
    struct le_table *t = le_doc_table(doc, "sweep", "Sweep cells", 12, cols);
    if (!t)
        return;
    le_table_caption(t, "Every cell of the sweeps in this database: N counted three ways (every parameter; without "
                        "the token embedding, Kaplan's convention; also without the output layer), D training "
                        "tokens, C as 6ND and as Chinchilla's Appendix F count, and the final held-out loss "
                        "(nats/token) and bits per byte. \u2014 = not done yet.");
    for (int i = 0; i < d->n_cells; i++) {
        const struct le_rep_sweep_cell *c = &d->cells[i];
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        le_table_text(t, row, 0, "%s", c->label ? c->label : c->key);
        le_table_note(t, row, 0, "cell %s; config %s", c->key, c->config ? c->config : "");
        le_table_text(t, row, 1, "%s", c->plan ? c->plan : "");
        const double v[] = {c->budget, c->n[0], c->n[1], c->n[2], (double)c->tokens, c->tokens / c->n[0],
                            c->flops_6nd, c->flops_exact};
        for (int k = 0; k < 8; k++) {
            if (isnan(v[k]))
                le_table_none(t, row, 2 + k);
            else if (k == 5)
                le_table_num(t, row, 2 + k, v[k], 1, 1);
            else if (k == 0 || k >= 6) /* FLOPs: 1.2e+15, never "1.2P" */
                le_table_g_ci(t, row, 2 + k, v[k], NAN, NAN);
            else
                le_table_count(t, row, 2 + k, v[k]);
        }
        const char *metric[2] = {"loss", "bpb"};
        double val[2] = {c->loss, c->bpb};
        for (int k = 0; k < 2; k++) {
            const struct le_rep_result *r = c->done ? le_cell_result(d, c->key, metric[k]) : NULL;
            le_table_num(t, row, 10 + k, r ? r->value : val[k], 1, 4);
            if (r)
                le_table_trace(t, row, 10 + k, r);
        }
    }
}

/* Training curves: held-out loss against tokens (or FLOPs) for every sweep
 * cell, and the training logs of `llamaeval train` runs. */
static struct le_figure *le_curves_figure(struct le_doc *doc, int flops) {
    const struct le_rep_data *d = doc->d;
    struct le_figure *f = NULL;
    int series = 0;
    for (int i = 0; i < d->n_cells; i++) {
        const struct le_rep_sweep_cell *c = &d->cells[i];
        int any = 0;
        for (int k = 0; k < c->n_pts; k++)
            any |= !isnan(c->pts[k].val_loss);
        if (!any)
            continue;
        if (!f && !(f = le_doc_figure(doc, flops ? "loss-flops" : "curves",
                                      flops ? "Held-out loss against training FLOPs"
                                            : "Training curves: held-out loss against tokens")))
            return NULL;
        le_fig_block_begin(f, c->label ? c->label : c->key);
        for (int k = 0; k < c->n_pts; k++) {
            const struct le_rep_point *p = &c->pts[k];
            if (isnan(p->val_loss) || p->tokens <= 0)
                continue;
            double v[2] = {flops ? p->flops : (double)p->tokens, p->val_loss};
            le_fig_row(f, 2, v);
        }
        le_buf_printf(&f->gp, "%s'%s.dat' index %d using 1:2 with lines lw 1.5 title ", series ? ", \\\n     " : "",
                      f->id, series);
        le_fig_quote(&f->gp, c->label ? c->label : c->key);
        series++;
    }
    /* `llamaeval train` logs (not sweeps): only on the tokens axis. */
    for (int i = 0; !flops && i < d->n_steps;) {
        int64_t run = d->steps[i].run_id;
        int j = i, any = 0;
        for (; j < d->n_steps && d->steps[j].run_id == run; j++)
            any |= !isnan(d->steps[j].val_loss) && d->steps[j].tokens > 0;
        if (any && (f || (f = le_doc_figure(doc, "curves", "Training curves: held-out loss against tokens")))) {
            char name[64];
            snprintf(name, sizeof name, "train run %lld", (long long)run);
            le_fig_block_begin(f, name);
            for (int k = i; k < j; k++)
                if (!isnan(d->steps[k].val_loss) && d->steps[k].tokens > 0) {
                    double v[2] = {(double)d->steps[k].tokens, d->steps[k].val_loss};
                    le_fig_row(f, 2, v);
                }
            le_buf_printf(&f->gp, "%s'%s.dat' index %d using 1:2 with lines lw 1.5 dt 2 title ",
                          series ? ", \\\n     " : "", f->id, series);
            le_fig_quote(&f->gp, name);
            series++;
        }
        i = j;
    }
    if (!f)
        return NULL;
    struct le_buf gp = {0};
    le_buf_printf(&gp, "set logscale x\nset format x '10^{%%L}'\nset xlabel '%s'\nset ylabel 'held-out loss (nats/token)'\n"
                       "set grid\nset key %s\nplot ",
                  flops ? "training FLOPs" : "training tokens",
                  series > 12 ? "off" : "outside right top font ',9'");
    le_buf_put(&gp, f->gp.p, f->gp.n);
    le_buf_puts(&gp, "\n");
    le_buf_free(&f->gp);
    f->gp = gp;
    f->n_series = series;
    f->caption = le_strdup_printf("%s, one line per %s%s.",
                                  flops ? "Held-out loss at every evaluation point against the FLOPs spent so far "
                                          "(Chinchilla's Appendix F count)"
                                        : "Held-out loss at every evaluation point against the tokens seen",
                                  flops ? "sweep cell" : "sweep cell or training run",
                                  series > 12 ? " (too many for a key: see the data file)" : "");
    return f;
}

/* Functions of the fits. */

/* The fit's inputs: every done sweep cell with a final loss, its N under
 * each convention, D, FLOPs per token, budget and held-out curve. The
 * curves point into one array (*curves, caller frees). */
static int le_scaling_runs(const struct le_rep_data *d, struct le_fit_run **out, double **curves, int *n_out) {
    int n = 0, np = 0;
    for (int i = 0; i < d->n_cells; i++)
        np += d->cells[i].n_pts;
    struct le_fit_run *runs = calloc((size_t)d->n_cells + 1, sizeof *runs);
    double *cv = calloc(2 * (size_t)np + 1, sizeof *cv);
    if (!runs || !cv) {
        free(runs), free(cv);
        return -1;
    }
    double *at = cv;
    for (int i = 0; i < d->n_cells; i++) {
        const struct le_rep_sweep_cell *c = &d->cells[i];
        if (!c->done || !(c->loss > 0) || !(c->n[0] > 0) || c->tokens <= 0)
            continue;
        struct le_fit_run *r = &runs[n++];
        for (int k = 0; k < LE_FIT_N_COUNT; k++)
            r->n[k] = c->n[k] > 0 ? c->n[k] : NAN;
        r->d = (double)c->tokens;
        r->flops_per_token = c->flops_per_token > 0 ? c->flops_per_token : NAN;
        r->loss = c->loss;
        r->budget = c->budget > 0 ? c->budget : NAN;
        /* The held-out curve, tokens strictly increasing. */
        double *tok = at, *loss = at + c->n_pts;
        for (int k = 0; k < c->n_pts; k++) {
            const struct le_rep_point *p = &c->pts[k];
            if (isnan(p->val_loss) || !(p->val_loss > 0) || p->tokens <= 0 ||
                (r->n_curve && (double)p->tokens <= tok[r->n_curve - 1]))
                continue;
            tok[r->n_curve] = (double)p->tokens;
            loss[r->n_curve++] = p->val_loss;
        }
        r->curve_tokens = r->n_curve ? tok : NULL;
        r->curve_loss = r->n_curve ? loss : NULL;
        at += 2 * (size_t)c->n_pts;
    }
    *out = runs;
    *curves = cv;
    *n_out = n;
    return 0;
}

/* The one call of the fit: every approach under total N (Chinchilla's
 * convention) and C = 6ND, also fitted under the other conventions, seeded
 * by --seed. NULL with a sentence in the document when it cannot run. */
static struct le_fit_result *le_scaling_fit(struct le_doc *doc, const struct le_fit_run *runs, int n) {
    if (n < 1) {
        le_doc_para(doc, "No sweep cell is done yet, so nothing is fitted.");
        return NULL;
    }
    struct le_fit_opts o;
    le_fit_opts_init(&o);
    o.seed = doc->o->seed;
    o.threads = doc->o->threads > 0 ? doc->o->threads : 1;
    if (doc->o->n_boot >= 0)
        o.n_boot = doc->o->n_boot;
    struct le_fit_result *f = NULL;
    if (le_fit_compute(&f, runs, n, &o)) {
        le_doc_para(doc, "The scaling fits could not run on these cells: %s", le_err_msg());
        return NULL;
    }
    return f;
}

int le_section_scaling(struct le_doc *doc) {
    le_doc_heading(doc, 2, "Scaling");
    if (!doc->d->n_cells) {
        le_doc_para(doc, "No sweep cells in this database (`llamaeval sweep PLAN --db FILE` records them).");
        if (doc->o->figures && doc->d->n_steps)
            le_curves_figure(doc, 0);
        return doc->oom ? -1 : 0;
    }
    le_sweep_table(doc);
    struct le_fit_run *runs = NULL;
    double *curves = NULL;
    int n = 0;
    if (le_scaling_runs(doc->d, &runs, &curves, &n))
        return -1;
    struct le_fit_result *f = le_scaling_fit(doc, runs, n);
    if (f)
        le_fit_tables(doc, f, n);
    if (doc->o->figures) {
        le_curves_figure(doc, 0);
        struct le_figure *lf = le_curves_figure(doc, 1);
        if (f && lf)
            le_fit_envelope(lf, f, lf->n_series);
        if (f)
            le_fit_figures(doc, f, runs, n);
    }
    le_fit_free(f);
    free(runs), free(curves);
    return doc->oom ? -1 : 0;
}
