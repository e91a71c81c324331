/*
 * sec_fits: the scaling fits rendered -- Chinchilla's Table 2 (approach, a,
 * b with our 95% bootstrap intervals), the parametric fit (E, A, B, alpha,
 * beta and what follows from them), the IsoFLOP budgets, the exponent a
 * under each parameter-count convention; and the figures: IsoFLOP curves
 * with their parabolas and minima, approach 1's envelope over every
 * training curve, N_opt and D_opt against C, the exponents by convention,
 * and tokens per parameter against C. The fit is computed once, in
 * sec_scaling.c (le_scaling_fit); nothing here fits anything.
 *
 * Published values (Hoffmann et al. 2022; Besiroglu et al. 2024; Kaplan et
 * al. 2020 as Hoffmann et al. list it) come from published.c with their
 * sources. Chinchilla's Table 2 intervals are 10th-90th bootstrap
 * percentiles, ours are 95%: the tables say so.
 *
 * The band around a fitted N_opt(C) or D_opt(C) line is the 95% bootstrap
 * interval of its exponent, pivoted at the geometric mean of the C values
 * fitted (where the level is best determined); the fit does not expose its
 * per-resample lines, so the level's own uncertainty is not in the band,
 * and the caption says so.
 */
#include "report_int.h"

#include "le_fit.h" /* the fit's result (read only) */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const le_conv_label[LE_FIT_N_COUNT] = {"total", "non-embedding (Kaplan)",
                                                          "non-embedding, no output layer"};

/* "Chinchilla: no · Kaplan: yes": does [lo, hi] exclude each published value? */
static void le_excludes(struct le_table *t, int row, int col, const struct le_fit_est *e, const struct le_pub *a,
                        const char *aname, const struct le_pub *b, const char *bname) {
    if (isnan(e->lo) || isnan(e->hi) || isnan(e->v)) {
        le_table_none(t, row, col);
        return;
    }
    struct le_buf s = {0};
    const struct le_pub *p[2] = {a, b};
    const char *name[2] = {aname, bname};
    for (int i = 0; i < 2; i++)
        if (p[i])
            le_buf_printf(&s, "%s%s %g: %s", s.n ? " \u00b7 " : "", name[i], p[i]->value,
                          p[i]->value < e->lo || p[i]->value > e->hi ? "excluded" : "inside");
    char *txt = le_buf_take(&s);
    le_table_text(t, row, col, "%s", txt ? txt : "");
    free(txt);
}

/* Functions of the tables. */

static void le_table2(struct le_doc *doc, const struct le_fit_result *f, int n_runs) {
    int cmp = doc->o->compare_published;
    static const char *const cols[] = {"Approach", "a (N_opt \u221d C^a)", "b (D_opt \u221d C^b)",
                                       "Chinchilla a", "Chinchilla b", "a: published values", "b: published values"};
    struct le_table *t = le_doc_table(doc, "chinchilla-table2", "Chinchilla's Table 2: exponents of N_opt and D_opt",
                                      cmp ? 7 : 3, cols);
    if (!t)
        return;
    le_table_caption(t,
                     "Our estimates of a and b from the %d done sweep cells (N counted as every parameter, C = 6ND), "
                     "each with its 95%% bootstrap percentile interval (runs resampled with replacement, seed %llu). "
                     "%s",
                     n_runs, (unsigned long long)f->opts.seed,
                     cmp ? "Chinchilla's columns are Hoffmann et al. 2022, Table 2, whose intervals are 10th and 90th "
                           "percentiles, not 95%; the last columns say whether our interval excludes each published "
                           "value (Kaplan et al. 2020: a = 0.73, b = 0.27, as Table 2 lists them)."
                         : "");
    static const char *const names[3] = {"1. Minimum over training curves", "2. IsoFLOP profiles",
                                         "3. Parametric modelling of the loss"};
    const struct le_fit_est *a[3] = {&f->a1.n_opt.e, &f->a2.n_opt.e, &f->a3.a};
    const struct le_fit_est *b[3] = {&f->a1.d_opt.e, &f->a2.d_opt.e, &f->a3.b};
    const int ok[3] = {f->a1.ok, f->a2.ok, f->a3.ok};
    const char *why[3] = {f->a1.why, f->a2.why, f->a3.why};
    const int boot[3][2] = {{f->a1.n_boot_ok, f->a1.n_boot}, {f->a2.n_boot_ok, f->a2.n_boot},
                            {f->a3.n_boot_ok, f->a3.n_boot}};
    const struct le_pub *ka = le_pub_find("kaplan", "a"), *kb = le_pub_find("kaplan", "b");
    for (int k = 0; k < 3; k++) {
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        le_table_text(t, row, 0, "%s", names[k]);
        if (!ok[k]) {
            le_table_none(t, row, 1), le_table_none(t, row, 2);
            le_table_note(t, row, 1, "not fitted: %s", why[k]);
            le_table_note(t, row, 2, "not fitted: %s", why[k]);
            le_table_footnote(t, "Approach %d not fitted: %s", k + 1, why[k]);
        } else {
            le_table_g_ci(t, row, 1, a[k]->v, a[k]->lo, a[k]->hi);
            le_table_g_ci(t, row, 2, b[k]->v, b[k]->lo, b[k]->hi);
            for (int c = 1; c <= 2; c++)
                le_table_note(t, row, c, "approach %d over the %d done sweep cells; bootstrap: %d of %d resamples "
                                         "fitted",
                              k + 1, n_runs, boot[k][0], boot[k][1]);
        }
        if (!cmp)
            continue;
        char key[4];
        snprintf(key, sizeof key, "a%d", k + 1);
        const struct le_pub *pa = le_pub_find("chinchilla", key);
        key[0] = 'b';
        const struct le_pub *pb = le_pub_find("chinchilla", key);
        le_table_num_ci(t, row, 3, pa->value, pa->lo, pa->hi, 3);
        le_table_note(t, row, 3, "published: %g (10th-90th percentiles %g, %g); %s", pa->value, pa->lo, pa->hi,
                      pa->cite);
        le_table_num_ci(t, row, 4, pb->value, pb->lo, pb->hi, 3);
        le_table_note(t, row, 4, "published: %g (10th-90th percentiles %g, %g); %s", pb->value, pb->lo, pb->hi,
                      pb->cite);
        le_excludes(t, row, 5, a[k], pa, "Chinchilla", ka, "Kaplan");
        le_excludes(t, row, 6, b[k], pb, "Chinchilla", kb, "Kaplan");
    }
    if (cmp) {
        int row = le_table_add_row(t);
        le_table_text(t, row, 0, "Kaplan et al. (2020)");
        le_table_none(t, row, 1), le_table_none(t, row, 2);
        le_table_num(t, row, 3, ka->value, 1, 2);
        le_table_note(t, row, 3, "published: %g; %s", ka->value, ka->cite);
        le_table_num(t, row, 4, kb->value, 1, 2);
        le_table_note(t, row, 4, "published: %g; %s", kb->value, kb->cite);
        le_table_none(t, row, 5), le_table_none(t, row, 6);
    }
}

static void le_parametric_table(struct le_doc *doc, const struct le_fit_result *f, int n_runs) {
    const struct le_fit_a3 *a3 = &f->a3;
    if (!a3->ok) {
        le_doc_para(doc, "The parametric fit L(N, D) = E + A/N^\u03b1 + B/D^\u03b2 (approach 3) was not made: %s",
                    a3->why);
        return;
    }
    int cmp = doc->o->compare_published;
    static const char *const cols[] = {"Quantity", "Ours (95% interval)", "Chinchilla", "Ours \u2212 Chinchilla",
                                       "Besiroglu et al.", "Ours \u2212 Besiroglu", "Our interval excludes"};
    struct le_table *t = le_doc_table(doc, "parametric", "Parametric fit L(N, D) = E + A/N^\u03b1 + B/D^\u03b2",
                                      cmp ? 7 : 2, cols);
    if (!t)
        return;
    le_table_caption(t,
                     "Approach 3 fitted as Hoffmann et al. 2022 and Besiroglu et al. 2024 do (Huber loss, \u03b4 = %g, "
                     "on log losses; L-BFGS from a grid of starts) on the %d done sweep cells, N every parameter; "
                     "95%% bootstrap percentile intervals (%d of %d resamples fitted, seed %llu). a = \u03b2/(\u03b1+\u03b2) "
                     "and b = \u03b1/(\u03b1+\u03b2) are the exponents of N_opt and D_opt; G = (\u03b1A/(\u03b2B))^(1/(\u03b1+\u03b2)); "
                     "N_opt(C) = G (C/6)^a.%s",
                     f->opts.huber_delta, n_runs, a3->n_boot_ok, a3->n_boot, (unsigned long long)f->opts.seed,
                     cmp ? " Published: Hoffmann et al. 2022, Eq. 10 (and Table 2 for a, b); Besiroglu et al. 2024, "
                           "Table 1."
                         : "");
    char at0[64], at1[64];
    snprintf(at0, sizeof at0, "tokens per parameter at C = %.3g (our largest)", a3->c_at[LE_FIT_AT_DATA]);
    snprintf(at1, sizeof at1, "tokens per parameter at C = %.3g (Chinchilla's)", a3->c_at[LE_FIT_AT_CHINCHILLA]);
    struct {
        const char *name, *key;
        const struct le_fit_est *e;
    } rows[] = {
        {"E", "E", &a3->E},
        {"A", "A", &a3->A},
        {"B", "B", &a3->B},
        {"\u03b1", "alpha", &a3->alpha},
        {"\u03b2", "beta", &a3->beta},
        {"a = \u03b2/(\u03b1+\u03b2)", "a3", &a3->a},
        {"b = \u03b1/(\u03b1+\u03b2)", "b3", &a3->b},
        {"G", NULL, &a3->G},
        {at0, NULL, &a3->tokens_per_param[LE_FIT_AT_DATA]},
        {at1, NULL, &a3->tokens_per_param[LE_FIT_AT_CHINCHILLA]},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        le_table_text(t, row, 0, "%s", rows[i].name);
        le_table_g_ci(t, row, 1, rows[i].e->v, rows[i].e->lo, rows[i].e->hi);
        le_table_note(t, row, 1, "approach 3 over the %d done sweep cells (see the sweep table)", n_runs);
        if (!cmp)
            continue;
        const struct le_pub *ch = rows[i].key ? le_pub_find("chinchilla", rows[i].key) : NULL;
        const struct le_pub *be = rows[i].key ? le_pub_find("besiroglu", rows[i].key) : NULL;
        const struct le_pub *p[2] = {ch, be};
        for (int k = 0; k < 2; k++) {
            if (!p[k]) {
                le_table_none(t, row, 2 + 2 * k), le_table_none(t, row, 3 + 2 * k);
                continue;
            }
            le_table_g_ci(t, row, 2 + 2 * k, p[k]->value, NAN, NAN);
            le_table_note(t, row, 2 + 2 * k, "published: %g; %s", p[k]->value, p[k]->cite);
            le_table_g_ci(t, row, 3 + 2 * k, rows[i].e->v - p[k]->value, NAN, NAN);
            le_table_note(t, row, 3 + 2 * k, "ours %.6g minus published %g", rows[i].e->v, p[k]->value);
        }
        if (ch || be)
            le_excludes(t, row, 6, rows[i].e, ch, "Chinchilla", be, "Besiroglu");
        else
            le_table_none(t, row, 6);
    }
}

static void le_budget_table(struct le_doc *doc, const struct le_fit_result *f) {
    const struct le_fit_a2 *a2 = &f->a2;
    if (!a2->n_budgets) {
        le_doc_para(doc, "IsoFLOP profiles (approach 2): %s", a2->why[0] ? a2->why : "no budgets in these cells.");
        return;
    }
    static const char *const cols[] = {"Budget C", "Runs", "Sizes", "N tried", "N_opt", "D_opt", "Loss at N_opt",
                                       "Used"};
    struct le_table *t = le_doc_table(doc, "isoflop", "IsoFLOP profiles (approach 2)", 8, cols);
    if (!t)
        return;
    le_table_caption(t, "One parabola in ln N per budget; its minimum gives N_opt, and D_opt = C/(6 N_opt). A budget "
                        "whose minimum lies at the edge of the sizes tried, or that has fewer than 3 sizes, is "
                        "refused, and says why.");
    for (int i = 0; i < a2->n_budgets; i++) {
        const struct le_fit_budget *b = &a2->budgets[i];
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        le_table_g_ci(t, row, 0, b->c, NAN, NAN);
        le_table_text(t, row, 1, "%d", b->n_runs);
        le_table_text(t, row, 2, "%d", b->n_sizes);
        char lo[32], hi[32];
        le_fmt_count(lo, sizeof lo, b->n_lo);
        le_fmt_count(hi, sizeof hi, b->n_hi);
        le_table_text(t, row, 3, "%s \u2013 %s", lo, hi);
        if (b->ok) {
            le_table_count(t, row, 4, b->n_opt);
            le_table_count(t, row, 5, b->d_opt);
            le_table_num(t, row, 6, b->loss_opt, 1, 4);
            le_table_text(t, row, 7, "yes");
        } else {
            le_table_none(t, row, 4), le_table_none(t, row, 5), le_table_none(t, row, 6);
            le_table_text(t, row, 7, "no: %s", b->why);
        }
    }
}

static void le_convention_table(struct le_doc *doc, const struct le_fit_result *f) {
    static const char *const cols[] = {"N counted as", "a, approach 1", "a, approach 2", "a, approach 3"};
    struct le_table *t = NULL;
    for (int c = 0; c < LE_FIT_N_COUNT; c++) {
        const struct le_fit_conv *v = &f->conv[c];
        if (!v->available)
            continue;
        if (!t && !(t = le_doc_table(doc, "conventions", "The exponent a under each parameter-count convention", 4,
                                     cols)))
            return;
        int row = le_table_add_row(t);
        if (row < 0)
            return;
        le_table_text(t, row, 0, "%s%s", le_conv_label[c], c == (int)f->opts.ncount ? " (used above)" : "");
        for (int k = 0; k < 3; k++) {
            if (v->ok[k])
                le_table_g_ci(t, row, 1 + k, v->a[k].v, v->a[k].lo, v->a[k].hi);
            else
                le_table_none(t, row, 1 + k);
        }
    }
    if (t)
        le_table_caption(t, "At small scale the parameter count used moves the exponent (Pearce and Song 2024, "
                            "\"Reconciling Kaplan and Chinchilla Scaling Laws\"): every approach refitted with N "
                            "counted each way, 95%% bootstrap intervals.");
}

void le_fit_tables(struct le_doc *doc, const struct le_fit_result *f, int n_runs) {
    le_doc_heading(doc, 3, "Scaling-law fits");
    le_table2(doc, f, n_runs);
    le_parametric_table(doc, f, n_runs);
    le_budget_table(doc, f);
    le_convention_table(doc, f);
}

/* Functions of the figures. */

/* C from lo/2 to 2 hi on a log grid of n points. */
static double le_cgrid(double lo, double hi, int i, int n) {
    double a = log(lo / 2), b = log(hi * 2);
    return exp(a + (b - a) * i / (n - 1));
}

static void le_fig_series(struct le_figure *f, int index, const char *with, const char *title) {
    le_buf_printf(&f->gp, "%s'%s.dat' index %d using 1:2 with %s title ", f->n_series ? ", \\\n     " : "plot ", f->id,
                  index, with);
    le_fig_markup(&f->gp, title);
    f->n_series++;
}

void le_fit_envelope(struct le_figure *fig, const struct le_fit_result *f, int series) {
    if (!f->a1.n_points)
        return;
    le_fig_block_begin(fig, "approach 1: lower envelope");
    for (int i = 0; i < f->a1.n_points; i++) {
        double v[2] = {f->a1.points[i].c, f->a1.points[i].loss};
        le_fig_row(fig, 2, v);
    }
    /* The figure's plot command ends its script: continue it. */
    if (fig->gp.n && fig->gp.p[fig->gp.n - 1] == '\n')
        fig->gp.p[--fig->gp.n] = 0;
    le_buf_printf(&fig->gp, ", \\\n     '%s.dat' index %d using 1:2 with linespoints lw 3 pt 7 ps 0.7 lc rgb 'black' "
                            "title 'approach 1 envelope'\n",
                  fig->id, series);
    fig->n_series = series + 1;
    free(fig->caption);
    fig->caption = strdup("Held-out loss at every evaluation point of every sweep cell against the FLOPs spent so far "
                          "(Chinchilla's Appendix F count, forward and backward), and in black approach 1's lower "
                          "envelope (the lowest loss per bin of log C) from which N_opt(C) and D_opt(C) are fitted.");
}

/* IsoFLOP curves: loss against N per budget, the fitted parabola in ln N
 * and its minimum. Block layout: per budget, points then parabola; then
 * the minima. */
static void le_isoflop_figure(struct le_doc *doc, const struct le_fit_result *f, const struct le_fit_run *runs,
                              int n) {
    const struct le_fit_a2 *a2 = &f->a2;
    if (!a2->n_budgets)
        return;
    struct le_figure *fig = le_doc_figure(doc, "isoflop", "IsoFLOP curves");
    if (!fig)
        return;
    le_buf_puts(&fig->gp, "set logscale x\nset format x '10^{%L}'\nset xlabel 'parameters N'\n"
                          "set ylabel 'final held-out loss (nats/token)'\nset grid\nset key outside right top\n");
    int block = 0;
    for (int i = 0; i < a2->n_budgets; i++) {
        const struct le_fit_budget *b = &a2->budgets[i];
        char title[64];
        snprintf(title, sizeof title, "C = %.2g%s", b->c, b->ok ? "" : " (refused)");
        le_fig_block_begin(fig, title);
        for (int r = 0; r < n; r++)
            if (runs[r].budget == b->c) {
                double v[2] = {runs[r].n[f->opts.ncount], runs[r].loss};
                le_fig_row(fig, 2, v);
            }
        le_buf_printf(&fig->gp, "%s'isoflop.dat' index %d using 1:2 with points pt 7 lc %d title ",
                      fig->n_series ? ", \\\n     " : "plot ", block++, i + 1);
        le_fig_quote(&fig->gp, title);
        fig->n_series++;
        if (isnan(b->p2))
            continue;
        le_fig_block_begin(fig, "parabola");
        for (int k = 0; k <= 40; k++) {
            double x = log(b->n_lo) - 0.1 + (log(b->n_hi) - log(b->n_lo) + 0.2) * k / 40;
            double v[2] = {exp(x), b->p0 + b->p1 * x + b->p2 * x * x};
            le_fig_row(fig, 2, v);
        }
        le_buf_printf(&fig->gp, ", \\\n     'isoflop.dat' index %d using 1:2 with lines lc %d notitle", block++, i + 1);
    }
    le_fig_block_begin(fig, "minima of the used budgets");
    int minima = 0;
    for (int i = 0; i < a2->n_budgets; i++)
        if (a2->budgets[i].ok) {
            double v[2] = {a2->budgets[i].n_opt, a2->budgets[i].loss_opt};
            le_fig_row(fig, 2, v);
            minima++;
        }
    if (minima)
        le_buf_printf(&fig->gp, ", \\\n     'isoflop.dat' index %d using 1:2 with points pt 3 ps 2 lw 2 lc rgb "
                                "'black' title 'minimum (N_{opt})'",
                      block);
    le_buf_puts(&fig->gp, "\n");
    fig->caption = strdup("Final held-out loss against N for each IsoFLOP budget (points), the parabola in ln N "
                          "fitted to each (approach 2) and its minimum (black cross). Refused budgets are labelled; "
                          "the IsoFLOP table says why.");
}

/* N_opt or D_opt against C: approach 2's minima and approach 1's envelope
 * points, each approach's fitted law, the exponent band, and reference
 * slopes (Chinchilla approach 1, Kaplan) through our approach 2 line. */
static void le_opt_figure(struct le_doc *doc, const struct le_fit_result *f, int is_d) {
    const struct le_fit_law *law2 = is_d ? &f->a2.d_opt : &f->a2.n_opt, *law1 = is_d ? &f->a1.d_opt : &f->a1.n_opt;
    const struct le_fit_law *main = f->a2.ok ? law2 : f->a1.ok ? law1 : NULL;
    if (!main && !f->a3.ok)
        return;
    struct le_figure *fig = le_doc_figure(doc, is_d ? "dopt" : "nopt",
                                          is_d ? "Compute-optimal tokens D_opt against C" : "Compute-optimal parameters "
                                                                                            "N_opt against C");
    if (!fig)
        return;
    const char *sym = is_d ? "D_{opt}" : "N_{opt}";
    le_buf_printf(&fig->gp, "set logscale xy\nset format x '10^{%%L}'\nset format y '10^{%%L}'\n"
                            "set xlabel 'training FLOPs C'\nset ylabel '%s'\nset grid\nset key top left Left reverse font ',9'\n",
                  sym);
    /* C range: the data's. */
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < f->a2.n_budgets; i++)
        lo = fmin(lo, f->a2.budgets[i].c), hi = fmax(hi, f->a2.budgets[i].c);
    for (int i = 0; i < f->a1.n_points; i++)
        lo = fmin(lo, f->a1.points[i].c), hi = fmax(hi, f->a1.points[i].c);
    if (!(hi > 0))
        lo = hi = f->a3.c_at[LE_FIT_AT_DATA];
    int block = 0;
    const int ng = 40;
    if (main && !isnan(main->e.lo)) {
        /* Band: the exponent's interval, pivoted at the geometric mean of C. */
        double piv = sqrt(lo * hi), at = main->k.v * pow(piv, main->e.v);
        le_fig_block_begin(fig, "band: 95% interval of the exponent, pivoted at the geometric mean of C");
        for (int i = 0; i < ng; i++) {
            double c = le_cgrid(lo, hi, i, ng), y1 = at * pow(c / piv, main->e.lo), y2 = at * pow(c / piv, main->e.hi);
            double v[3] = {c, fmin(y1, y2), fmax(y1, y2)};
            le_fig_row(fig, 3, v);
        }
        le_buf_printf(&fig->gp, "plot '%s.dat' index %d using 1:2:3 with filledcurves fc rgb '#cfe0f5' fs solid 0.6 "
                                "title '95%% interval of the exponent'",
                      fig->id, block++);
        fig->n_series++;
    }
    if (f->a2.ok) {
        le_fig_block_begin(fig, "approach 2: IsoFLOP minima");
        for (int i = 0; i < f->a2.n_budgets; i++)
            if (f->a2.budgets[i].ok) {
                double v[2] = {f->a2.budgets[i].c, is_d ? f->a2.budgets[i].d_opt : f->a2.budgets[i].n_opt};
                le_fig_row(fig, 2, v);
            }
        le_fig_series(fig, block++, "points pt 7 ps 1.2 lc rgb '#1f5fa8'", "approach 2: IsoFLOP minima");
    }
    if (f->a1.ok) {
        le_fig_block_begin(fig, "approach 1: envelope points");
        for (int i = 0; i < f->a1.n_points; i++) {
            double v[2] = {f->a1.points[i].c, is_d ? f->a1.points[i].d : f->a1.points[i].n};
            le_fig_row(fig, 2, v);
        }
        le_fig_series(fig, block++, "points pt 6 ps 0.8 lc rgb '#888888'", "approach 1: envelope points");
    }
    /* Fitted lines: approaches 1 and 2 (k C^e), approach 3's closed form. */
    for (int k = 1; k <= 3; k++) {
        const struct le_fit_law *law = k == 1 ? law1 : law2;
        int ok = k == 1 ? f->a1.ok : k == 2 ? f->a2.ok : f->a3.ok;
        if (!ok)
            continue;
        double e = k == 3 ? (is_d ? f->a3.b.v : f->a3.a.v) : law->e.v;
        char title[64];
        snprintf(title, sizeof title, "approach %d fit: %s \u221d C^{%.3f}", k, sym, e);
        le_fig_block_begin(fig, title);
        for (int i = 0; i < ng; i++) {
            double c = le_cgrid(lo, hi, i, ng), y;
            if (k < 3)
                y = law->k.v * pow(c, law->e.v);
            else if (!is_d)
                y = f->a3.G.v * pow(c / 6, f->a3.a.v);
            else
                y = pow(c / 6, f->a3.b.v) / f->a3.G.v;
            double v[2] = {c, y};
            le_fig_row(fig, 2, v);
        }
        static const char *const style[4] = {"", "lines lw 1.5 dt 2 lc rgb '#555555'",
                                             "lines lw 2 lc rgb '#1f5fa8'", "lines lw 1.5 lc rgb '#2a9d4b'"};
        le_fig_series(fig, block++, style[k], title);
    }
    /* Reference slopes through our line at the pivot. */
    if (main) {
        double piv = sqrt(lo * hi), at = main->k.v * pow(piv, main->e.v);
        const struct le_pub *refs[2] = {le_pub_find("chinchilla", is_d ? "b1" : "a1"),
                                        le_pub_find("kaplan", is_d ? "b" : "a")};
        for (int r = 0; r < 2; r++) {
            char title[96];
            snprintf(title, sizeof title, "slope %.2f: %s", refs[r]->value,
                     r ? "Kaplan et al. 2020 (via Chinchilla, Table 2)" : "Chinchilla, Table 2, approach 1");
            le_fig_block_begin(fig, title);
            for (int i = 0; i < ng; i++) {
                double c = le_cgrid(lo, hi, i, ng), v[2] = {c, at * pow(c / piv, refs[r]->value)};
                le_fig_row(fig, 2, v);
            }
            le_fig_series(fig, block++, r ? "lines lw 1 dt 3 lc rgb '#c0392b'" : "lines lw 1 dt 4 lc rgb '#8e44ad'",
                          title);
        }
    }
    le_buf_puts(&fig->gp, "\n");
    fig->caption = le_strdup_printf(
        "%s against the compute budget, log-log: approach 2's IsoFLOP minima and approach 1's envelope points, each "
        "approach's fitted power law (approach 3: Hoffmann et al.'s closed form from the parametric fit), and for "
        "reference the slopes of Chinchilla (approach 1, Table 2) and Kaplan et al. 2020 drawn through our line at "
        "the middle of our C range (the published levels are for other data and tokenizers). The shaded band is "
        "the 95%% bootstrap interval of the %s exponent pivoted at the geometric mean of C; it leaves out the "
        "uncertainty of the level there.",
        is_d ? "Compute-optimal training tokens" : "Compute-optimal parameter count",
        f->a2.ok ? "approach 2" : "approach 1");
}

/* The exponent a under each convention, per approach, with its interval. */
static void le_exponent_figure(struct le_doc *doc, const struct le_fit_result *f) {
    int any = 0;
    for (int c = 0; c < LE_FIT_N_COUNT; c++)
        for (int k = 0; k < 3; k++)
            any |= f->conv[c].available && f->conv[c].ok[k];
    struct le_figure *fig = any ? le_doc_figure(doc, "exponents", "The exponent a under each parameter-count convention")
                                : NULL;
    if (!fig)
        return;
    le_buf_puts(&fig->gp, "set xrange [-0.5:2.5]\nset xtics ('total' 0, 'non-embedding' 1, "
                          "'non-embedding, no output' 2)\nset ylabel 'a  (N_{opt} \u221d C^a)'\nset grid ytics\n"
                          "set key below font ',9'\n");
    for (int k = 0; k < 3; k++) {
        char title[32];
        snprintf(title, sizeof title, "approach %d", k + 1);
        le_fig_block_begin(fig, title);
        for (int c = 0; c < LE_FIT_N_COUNT; c++) {
            const struct le_fit_conv *v = &f->conv[c];
            if (!v->available || !v->ok[k])
                continue;
            double row[4] = {c + 0.12 * (k - 1), v->a[k].v, isnan(v->a[k].lo) ? v->a[k].v : v->a[k].lo,
                             isnan(v->a[k].hi) ? v->a[k].v : v->a[k].hi};
            le_fig_row(fig, 4, row);
        }
        le_buf_printf(&fig->gp, "%s'exponents.dat' index %d using 1:2:3:4 with yerrorbars pt 7 title ",
                      k ? ", \\\n     " : "plot ", k);
        le_fig_quote(&fig->gp, title);
    }
    const struct le_pub *ch = le_pub_find("chinchilla", "a1"), *ka = le_pub_find("kaplan", "a");
    le_buf_printf(&fig->gp, ", \\\n     %g with lines dt 4 lc rgb '#8e44ad' title 'Chinchilla a = %g (%s)', \\\n"
                            "     %g with lines dt 3 lc rgb '#c0392b' title 'Kaplan a = %g (%s)'\n",
                  ch->value, ch->value, ch->source, ka->value, ka->value, ka->source);
    fig->n_series = 5;
    fig->caption = strdup("Our exponent a of N_opt \u221d C^a with its 95% bootstrap interval, per approach, with N "
                          "counted as every parameter, without the token embedding (Kaplan's convention), and also "
                          "without the output layer; the published exponents for reference.");
}

/* Tokens per parameter at the optimum against C, and the 20 line. */
static void le_tpp_figure(struct le_doc *doc, const struct le_fit_result *f) {
    if (!f->a2.ok && !f->a1.ok && !f->a3.ok)
        return;
    struct le_figure *fig = le_doc_figure(doc, "tokens-per-param", "Tokens per parameter at the optimum against C");
    if (!fig)
        return;
    le_buf_puts(&fig->gp, "set logscale xy\nset format x '10^{%L}'\nset xlabel 'training FLOPs C'\n"
                          "set ylabel 'D_{opt} / N_{opt}'\nset grid\nset key top left Left reverse font ',9'\n");
    double lo = INFINITY, hi = 0;
    int block = 0;
    if (f->a2.ok) {
        le_fig_block_begin(fig, "approach 2: IsoFLOP minima");
        for (int i = 0; i < f->a2.n_budgets; i++)
            if (f->a2.budgets[i].ok) {
                const struct le_fit_budget *b = &f->a2.budgets[i];
                double v[2] = {b->c, b->d_opt / b->n_opt};
                le_fig_row(fig, 2, v);
                lo = fmin(lo, b->c), hi = fmax(hi, b->c);
            }
        le_fig_series(fig, block++, "points pt 7 ps 1.2 lc rgb '#1f5fa8'", "approach 2: IsoFLOP minima");
    }
    if (f->a1.ok) {
        le_fig_block_begin(fig, "approach 1: envelope points");
        for (int i = 0; i < f->a1.n_points; i++) {
            double v[2] = {f->a1.points[i].c, f->a1.points[i].d / f->a1.points[i].n};
            le_fig_row(fig, 2, v);
            lo = fmin(lo, f->a1.points[i].c), hi = fmax(hi, f->a1.points[i].c);
        }
        le_fig_series(fig, block++, "points pt 6 ps 0.8 lc rgb '#888888'", "approach 1: envelope points");
    }
    if (!(hi > 0))
        lo = hi = f->a3.c_at[LE_FIT_AT_DATA];
    if (f->a3.ok) {
        le_fig_block_begin(fig, "approach 3: D_opt/N_opt = (C/6)^(b-a) / G^2");
        for (int i = 0; i < 40; i++) {
            double c = le_cgrid(lo, hi, i, 40), v[2] = {c, pow(c / 6, f->a3.b.v - f->a3.a.v) / (f->a3.G.v * f->a3.G.v)};
            le_fig_row(fig, 2, v);
        }
        le_fig_series(fig, block++, "lines lw 1.5 lc rgb '#2a9d4b'", "approach 3: D_{opt}/N_{opt} from the fit");
    }
    /* Hoffmann et al.'s Chinchilla: 70B parameters trained on 1.4T tokens. */
    le_buf_puts(&fig->gp, ", \\\n     20 with lines dt 2 lw 1.5 lc rgb '#c0392b' title '20 tokens per parameter "
                          "(Chinchilla: 70B parameters, 1.4T tokens)'\n");
    fig->n_series++;
    fig->caption = strdup("Training tokens per parameter at the compute-optimal point, against the budget: approach "
                          "2's minima, approach 1's envelope, approach 3's closed form, and the 20 tokens per "
                          "parameter of Hoffmann et al. 2022's Chinchilla (70B parameters, 1.4T tokens).");
}

void le_fit_figures(struct le_doc *doc, const struct le_fit_result *f, const struct le_fit_run *runs, int n_runs) {
    le_isoflop_figure(doc, f, runs, n_runs);
    le_opt_figure(doc, f, 0);
    le_opt_figure(doc, f, 1);
    le_exponent_figure(doc, f);
    le_tpp_figure(doc, f);
}
