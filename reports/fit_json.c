/*
 * fit_json: a fit result as one JSON object, the machine-readable twin of
 * `llamaeval fit`'s table. Layout (README, "llamaeval fit"):
 *   {"n_runs": n, "options": {...},
 *    "approach1": {"a", "b", "k_n", "k_d", "r2_n", "r2_d", "ci95": {...},
 *                  "bootstrap": {"n", "ok"}, "envelope": [{"C","N","D","loss"}]},
 *    "approach2": {..., "budgets": [...], "refused": [{"C", "reason"}]},
 *    "approach3": {"E","A","B","alpha","beta","a","b","G", "ci95": {...},
 *                  "at": [{"C","N_opt","D_opt","tokens_per_param","ci95"}]},
 *    "conventions": {"total": {"approach2": {"a","b","ci95"}}, ...},
 *    "skipped": {"approach1": "reason", ...}}
 * An approach the data cannot support is absent and its reason is in
 * "skipped"; numbers that are not defined (NAN) are null.
 */
#include "le_fit.h"
#include "le_err.h" /* le_err_set */

#include <cjson/cJSON.h> /* the object tree and its printer */

#include <math.h>
#include <stdlib.h>

static void le_num(cJSON *o, const char *k, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void le_ci(cJSON *ci, const char *k, const struct le_fit_est *e) {
    cJSON *a = cJSON_AddArrayToObject(ci, k);
    if (!a)
        return;
    double v[2] = {e->lo, e->hi};
    for (int i = 0; i < 2; i++)
        cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
}

static void le_est(cJSON *o, cJSON *ci, const char *k, const struct le_fit_est *e) {
    le_num(o, k, e->v);
    le_ci(ci, k, e);
}

/* The fields both power-law approaches share. */
static cJSON *le_laws(cJSON *root, const char *name, const struct le_fit_law *nl, const struct le_fit_law *dl,
                      int n_boot, int n_ok) {
    cJSON *o = cJSON_AddObjectToObject(root, name);
    if (!o)
        return NULL;
    cJSON *ci = cJSON_CreateObject();
    le_est(o, ci, "a", &nl->e);
    le_est(o, ci, "b", &dl->e);
    le_est(o, ci, "k_n", &nl->k);
    le_est(o, ci, "k_d", &dl->k);
    le_num(o, "r2_n", nl->r2);
    le_num(o, "r2_d", dl->r2);
    le_num(o, "rms_n", nl->rms);
    le_num(o, "rms_d", dl->rms);
    cJSON_AddItemToObject(o, "ci95", ci);
    cJSON *b = cJSON_AddObjectToObject(o, "bootstrap");
    if (b) {
        cJSON_AddNumberToObject(b, "n", n_boot);
        cJSON_AddNumberToObject(b, "ok", n_ok);
    }
    return o;
}

static void le_json_a1(cJSON *root, const struct le_fit_a1 *a) {
    cJSON *o = le_laws(root, "approach1", &a->n_opt, &a->d_opt, a->n_boot, a->n_boot_ok);
    if (!o)
        return;
    cJSON_AddBoolToObject(o, "from_curves", a->from_curves);
    cJSON *env = cJSON_AddArrayToObject(o, "envelope");
    for (int i = 0; env && i < a->n_points; i++) {
        cJSON *p = cJSON_CreateObject();
        le_num(p, "C", a->points[i].c);
        le_num(p, "N", a->points[i].n);
        le_num(p, "D", a->points[i].d);
        le_num(p, "loss", a->points[i].loss);
        cJSON_AddItemToArray(env, p);
    }
}

static void le_json_a2(cJSON *root, const struct le_fit_a2 *a) {
    cJSON *o = le_laws(root, "approach2", &a->n_opt, &a->d_opt, a->n_boot, a->n_boot_ok);
    if (!o)
        return;
    cJSON_AddNumberToObject(o, "n_used", a->n_used);
    cJSON *bs = cJSON_AddArrayToObject(o, "budgets"), *ref = cJSON_AddArrayToObject(o, "refused");
    for (int i = 0; bs && ref && i < a->n_budgets; i++) {
        const struct le_fit_budget *b = &a->budgets[i];
        cJSON *p = cJSON_CreateObject();
        le_num(p, "C", b->c);
        cJSON_AddNumberToObject(p, "n_runs", b->n_runs);
        cJSON_AddNumberToObject(p, "n_sizes", b->n_sizes);
        cJSON_AddBoolToObject(p, "ok", b->ok);
        le_num(p, "N_opt", b->n_opt);
        cJSON *nci = cJSON_AddArrayToObject(p, "N_opt_ci95");
        if (nci) {
            cJSON_AddItemToArray(nci, isfinite(b->n_opt_lo) ? cJSON_CreateNumber(b->n_opt_lo) : cJSON_CreateNull());
            cJSON_AddItemToArray(nci, isfinite(b->n_opt_hi) ? cJSON_CreateNumber(b->n_opt_hi) : cJSON_CreateNull());
        }
        le_num(p, "D_opt", b->d_opt);
        le_num(p, "loss_opt", b->loss_opt);
        le_num(p, "p0", b->p0);
        le_num(p, "p1", b->p1);
        le_num(p, "p2", b->p2);
        if (!b->ok) {
            cJSON_AddStringToObject(p, "reason", b->why);
            cJSON *r = cJSON_CreateObject();
            le_num(r, "C", b->c);
            cJSON_AddStringToObject(r, "reason", b->why);
            cJSON_AddItemToArray(ref, r);
        }
        cJSON_AddItemToArray(bs, p);
    }
}

static void le_json_a3(cJSON *root, const struct le_fit_a3 *a, double delta, int ml) {
    cJSON *o = cJSON_AddObjectToObject(root, "approach3");
    if (!o)
        return;
    cJSON *ci = cJSON_CreateObject();
    const char *names[8] = {"E", "A", "B", "alpha", "beta", "a", "b", "G"};
    const struct le_fit_est *e[8] = {&a->E, &a->A, &a->B, &a->alpha, &a->beta, &a->a, &a->b, &a->G};
    for (int k = 0; k < 8; k++)
        le_est(o, ci, names[k], e[k]);
    cJSON_AddItemToObject(o, "ci95", ci);
    le_num(o, "objective", a->objective);
    cJSON_AddStringToObject(o, "objective_kind", ml ? "ml" : "huber");
    le_num(o, "sigma", a->sigma);
    le_num(o, "huber_delta", delta);
    cJSON_AddNumberToObject(o, "n_points", a->n_points);
    cJSON_AddNumberToObject(o, "n_starts", a->n_starts);
    cJSON *at = cJSON_AddArrayToObject(o, "at");
    for (int k = 0; at && k < LE_FIT_N_AT; k++) {
        cJSON *p = cJSON_CreateObject(), *pc = cJSON_CreateObject();
        le_num(p, "C", a->c_at[k]);
        le_est(p, pc, "N_opt", &a->n_opt[k]);
        le_est(p, pc, "D_opt", &a->d_opt[k]);
        le_est(p, pc, "tokens_per_param", &a->tokens_per_param[k]);
        cJSON_AddItemToObject(p, "ci95", pc);
        cJSON_AddItemToArray(at, p);
    }
    cJSON *b = cJSON_AddObjectToObject(o, "bootstrap");
    if (b) {
        cJSON_AddNumberToObject(b, "n", a->n_boot);
        cJSON_AddNumberToObject(b, "ok", a->n_boot_ok);
    }
}

static void le_json_conv(cJSON *root, const struct le_fit_result *r) {
    cJSON *o = cJSON_AddObjectToObject(root, "conventions");
    static const char *names[3] = {"approach1", "approach2", "approach3"};
    for (int c = 0; o && c < LE_FIT_N_COUNT; c++) {
        const struct le_fit_conv *cv = &r->conv[c];
        if (!cv->available)
            continue;
        cJSON *co = cJSON_AddObjectToObject(o, le_fit_ncount_name((enum le_fit_ncount)c));
        for (int k = 0; co && k < 3; k++) {
            if (!cv->ok[k])
                continue;
            cJSON *p = cJSON_AddObjectToObject(co, names[k]), *ci = cJSON_CreateObject();
            le_est(p, ci, "a", &cv->a[k]);
            le_est(p, ci, "b", &cv->b[k]);
            cJSON_AddItemToObject(p, "ci95", ci);
        }
    }
}

int le_fit_json(const struct le_fit_result *r, char **out) {
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return le_err_set(LE_ENOMEM, "out of memory");
    cJSON_AddNumberToObject(root, "n_runs", r->n_runs);
    cJSON *op = cJSON_AddObjectToObject(root, "options");
    if (op) {
        cJSON_AddStringToObject(op, "n_count", le_fit_ncount_name(r->opts.ncount));
        cJSON_AddStringToObject(op, "flops", le_fit_flops_name(r->opts.flops));
        cJSON_AddNumberToObject(op, "bootstrap", r->opts.n_boot);
        cJSON_AddNumberToObject(op, "seed", (double)r->opts.seed);
        cJSON_AddNumberToObject(op, "huber_delta", r->opts.huber_delta);
        cJSON_AddNumberToObject(op, "bins_per_decade", r->opts.bins_per_decade);
    }
    if (r->a1.ok)
        le_json_a1(root, &r->a1);
    if (r->a2.ok)
        le_json_a2(root, &r->a2);
    if (r->a3.ok)
        le_json_a3(root, &r->a3, r->opts.huber_delta, r->opts.objective == LE_FIT_OBJ_ML);
    le_json_conv(root, r);
    cJSON *sk = cJSON_AddObjectToObject(root, "skipped");
    if (sk) {
        if (!r->a1.ok)
            cJSON_AddStringToObject(sk, "approach1", r->a1.why);
        if (!r->a2.ok)
            cJSON_AddStringToObject(sk, "approach2", r->a2.why);
        if (!r->a3.ok)
            cJSON_AddStringToObject(sk, "approach3", r->a3.why);
    }
    /* A skipped approach 2 still lists its refused budgets. */
    if (!r->a2.ok && r->a2.n_budgets > 0) {
        cJSON *ref = cJSON_AddArrayToObject(root, "refused_budgets");
        for (int i = 0; ref && i < r->a2.n_budgets; i++)
            if (!r->a2.budgets[i].ok) {
                cJSON *p = cJSON_CreateObject();
                le_num(p, "C", r->a2.budgets[i].c);
                cJSON_AddStringToObject(p, "reason", r->a2.budgets[i].why);
                cJSON_AddItemToArray(ref, p);
            }
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s)
        return le_err_set(LE_ENOMEM, "out of memory printing JSON");
    *out = s;
    return LE_OK;
}
