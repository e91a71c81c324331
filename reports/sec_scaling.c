/*
 * sec_scaling: the scaling section -- every sweep cell (shape, N under each
 * convention, D, FLOPs, final loss), training curves against tokens and
 * against FLOPs; and, from the fits (le_scaling_fits, the one place that
 * calls reports/le_fit.h), Chinchilla's Table 2 and the parametric fit, and
 * the fit figures.
 */
#include "report_int.h"

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
static void le_curves_figure(struct le_doc *doc, int flops) {
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
            return;
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
        return;
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
    if (doc->o->figures) {
        le_curves_figure(doc, 0);
        le_curves_figure(doc, 1);
    }
    return doc->oom ? -1 : 0;
}
