/*
 * mc: running items and turning their records into metrics, as lm-eval's
 * ConfigurableTask.process_results and its aggregations do.
 *
 * Multiple choice (per document, np.argmax = first maximum):
 *   acc        argmax ll_i == gold
 *   acc_norm   argmax ll_i / len(choice_i) in characters (lm-eval's
 *              completion_len: the choice text, without the delimiter)
 *   acc_bytes  argmax ll_i / UTF-8 bytes of choice_i
 *   acc_tok    argmax ll_i / tokens of continuation_i (ours)
 *   acc_uncond argmax ll_i - ll(delimiter + choice_i | "Answer:"), the
 *              normalisation the LLaMA paper used for OpenBookQA and BoolQ
 *   each aggregated by mean with lm-eval's closed-form stderr.
 * WinoGrande (multiple input): the choices are the contexts, scored on the
 * shared continuation; acc only.
 * Loglikelihood (LAMBADA): acc = mean is_greedy; perplexity = exp(-mean ll)
 * with a seeded bootstrap stderr (lm-eval bootstraps its perplexity).
 * Rolling (perplexity of documents, lm-eval's wikitext metrics):
 *   word_perplexity = exp(-sum ll / sum words), byte_perplexity =
 *   exp(-sum ll / sum bytes), bits_per_byte = -sum ll / sum bytes / ln 2
 *   (words and bytes counted on the original text), bootstrap stderr over
 *   documents; token_perplexity = exp(-sum ll / sum tokens) with
 *   llama.cpp's +/- from per-token squares.
 *
 * Tasks of sub-tasks (MMLU's subjects): each metric per sub-task, and per
 * parent group and for the task weighted by size with lm-eval's pooled
 * stderr (grouped_metric).
 *
 * Records (le_rec) carry everything these need, and round-trip through JSON
 * exactly, so stored samples reproduce the metrics bit for bit.
 */
#include "le_tasks.h"

#include <cjson/cJSON.h> /* sample records */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_err.h"  /* le_err_set */
#include "le_text.h" /* le_utf8_next, le_py_space */
#include "tasks_int.h" /* le_rec_set_ll */

/* ---- counting as Python counts ---- */

/* The code point at s[*i..n) (advances *i); an invalid byte counts as one
 * character (itself). */
static uint32_t utf8_step(const char *s, size_t n, size_t *i) {
    uint32_t cp;
    size_t len = le_utf8_next(s + *i, n - *i, &cp);
    if (!len) {
        cp = (unsigned char)s[*i];
        len = 1;
    }
    *i += len;
    return cp;
}

int64_t le_utf8_chars(const char *s) {
    int64_t n = 0;
    for (size_t i = 0, len = strlen(s); i < len; n++)
        utf8_step(s, len, &i);
    return n;
}

int64_t le_count_words(const char *s) {
    int64_t n = 1;
    int in_space = 0;
    for (size_t i = 0, len = strlen(s); i < len;) {
        int sp = le_py_space(utf8_step(s, len, &i));
        if (sp && !in_space)
            n++;
        in_space = sp;
    }
    return n;
}

/* ---- running an item ---- */

void le_rec_clear(struct le_rec *c) {
    if (!c)
        return;
    free(c->resp);
    for (int i = 0; i < c->n_golds; i++)
        free(c->golds[i]);
    free(c->golds);
    c->resp = NULL;
    c->golds = NULL;
    c->n_golds = 0;
}

/* A generate_until item's options: lm-eval's generation_kwargs. */
static struct le_gen_opts gen_opts(const struct le_item *it) {
    struct le_gen_opts o = {0};
    if (it->gen) {
        o.until = it->gen->until;
        o.n_until = it->gen->n_until;
        o.max_gen_toks = it->gen->max_gen_toks;
    }
    return o;
}

/* The record of a generate_until item from its result (taken, cleared). */
static int gen_rec(const struct le_item *it, struct le_gen_result *g, struct le_rec *c) {
    c->resp = g->text;
    g->text = NULL;
    c->ntok = g->n_ids;
    le_gen_result_clear(g);
    c->golds = calloc((size_t)(it->n_targets > 0 ? it->n_targets : 1), sizeof *c->golds);
    if (!c->golds)
        return le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < it->n_targets; i++) {
        size_t n = strlen(it->targets[i]);
        if (!(c->golds[i] = malloc(n + 1)))
            return le_err_set(LE_ENOMEM, "out of memory");
        memcpy(c->golds[i], it->targets[i], n + 1);
        c->n_golds = i + 1;
    }
    return LE_OK;
}

/* A generate_until item: greedy continuation of its context. */
static int gen_run(struct le_runner *r, const struct le_item *it, struct le_rec *c) {
    struct le_gen_opts o = gen_opts(it);
    struct le_gen_result g;
    int rc = le_runner_generate(r, it->req[0].context, &o, &g);
    return rc ? rc : gen_rec(it, &g, c);
}

void le_rec_set_ll(struct le_rec *c, const struct le_ll_result *res) {
    c->ll = res->logprob;
    c->sumsq = res->sumsq;
    c->ntok = res->n_tokens;
    c->greedy = res->is_greedy;
}

/* The request fields of an item's records (before scoring). */
static void item_recs_init(const struct le_item *it, struct le_rec *recs) {
    for (int i = 0; i < it->n_req; i++) {
        const struct le_request *q = &it->req[i];
        struct le_rec *c = &recs[i];
        memset(c, 0, sizeof *c);
        c->group = it->group;
        c->kind = it->kind;
        c->choice = q->choice;
        c->uncond = q->uncond;
        c->gold = it->gold;
        c->n_choices = it->n_choices;
        c->nchars = q->nchars;
        c->nbytes = q->nbytes;
        c->nwords = q->nwords;
    }
}

int le_items_run_gen(struct le_runner *r, const struct le_item *const *its, int n, struct le_rec *const *recs) {
    if (n < 1)
        return le_err_set(LE_EINVAL, "batched generation of %d items", n);
    for (int i = 0; i < n; i++)
        if (its[i]->kind != LE_TASK_GEN || its[i]->n_req != 1 || its[i]->gen != its[0]->gen)
            return le_err_set(LE_EINVAL, "batched generation: item %d is not generate_until with the first's "
                              "generation_kwargs", i);
    for (int i = 0; i < n; i++)
        item_recs_init(its[i], recs[i]);
    if (n == 1)
        return gen_run(r, its[0], recs[0]);
    struct le_toks *t = calloc((size_t)n, sizeof *t);
    const int32_t **ids = calloc((size_t)n, sizeof *ids);
    int64_t *len = calloc((size_t)n, sizeof *len);
    struct le_gen_result *g = calloc((size_t)n, sizeof *g);
    int rc = t && ids && len && g ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        rc = le_runner_gen_encode(r, its[i]->req[0].context, &t[i]);
        ids[i] = t[i].ids;
        len[i] = t[i].n;
    }
    struct le_gen_opts o = gen_opts(its[0]);
    if (!rc)
        rc = le_runner_generate_batch(r, ids, len, n, &o, g);
    for (int i = 0; i < n && !rc; i++)
        rc = gen_rec(its[i], &g[i], recs[i]);
    for (int i = 0; g && i < n; i++)
        le_gen_result_clear(&g[i]);
    for (int i = 0; t && i < n; i++)
        le_toks_free(&t[i]);
    free(t);
    free(ids);
    free(len);
    free(g);
    return rc;
}

int le_item_run(struct le_runner *r, const struct le_item *it, struct le_rec *recs) {
    item_recs_init(it, recs);
    if (it->kind == LE_TASK_GEN)
        return gen_run(r, it, &recs[0]);
    if (it->kind == LE_TASK_ROLLING) {
        struct le_ll_result res;
        const char *t = it->req[0].continuation;
        int rc = le_runner_rolling(r, t, strlen(t), &res);
        if (rc)
            return rc;
        le_rec_set_ll(&recs[0], &res);
        return LE_OK;
    }
    struct le_ll_request *rq = malloc((size_t)it->n_req * sizeof *rq);
    struct le_ll_result *rs = malloc((size_t)it->n_req * sizeof *rs);
    int rc = rq && rs ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < it->n_req && !rc; i++) {
        rq[i].context = it->req[i].context;
        rq[i].continuation = it->req[i].continuation;
    }
    if (!rc)
        rc = le_runner_loglikelihood(r, rq, it->n_req, rs);
    for (int i = 0; i < it->n_req && !rc; i++)
        le_rec_set_ll(&recs[i], &rs[i]);
    free(rq);
    free(rs);
    return rc;
}

/* ---- records as JSON ---- */

static void put_double(char *buf, size_t n, double v) {
    if (isfinite(v))
        snprintf(buf, n, "%.17g", v);
    else
        snprintf(buf, n, "null");
}

char *le_rec_to_json(const struct le_rec *c) {
    char ll[40], ss[40], *s = NULL, grp[32] = "";
    put_double(ll, sizeof ll, c->ll);
    put_double(ss, sizeof ss, c->sumsq);
    if (c->group >= 0)
        snprintf(grp, sizeof grp, ",\"group\":%d", c->group);
    if (asprintf(&s,
                 "{\"kind\":%d,\"choice\":%d,\"uncond\":%d,\"gold\":%d,\"n_choices\":%d,\"ll\":%s,"
                 "\"greedy\":%d,\"ntok\":%lld,\"nchars\":%lld,\"nbytes\":%lld,\"nwords\":%lld,\"sumsq\":%s%s}",
                 c->kind, c->choice, c->uncond, c->gold, c->n_choices, ll, c->greedy, (long long)c->ntok,
                 (long long)c->nchars, (long long)c->nbytes, (long long)c->nwords, ss, grp) < 0)
        return NULL;
    if (!c->resp)
        return s;
    /* Generated text and golds: through cJSON for the escaping. */
    cJSON *o = cJSON_Parse(s);
    free(s);
    cJSON *g = o ? cJSON_AddArrayToObject(o, "golds") : NULL;
    for (int i = 0; g && i < c->n_golds; i++)
        cJSON_AddItemToArray(g, cJSON_CreateString(c->golds[i]));
    if (o)
        cJSON_AddStringToObject(o, "resp", c->resp);
    s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static int jnum(const cJSON *o, const char *k, double *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(x)) {
        *v = x->valuedouble;
        return 1;
    }
    if (cJSON_IsNull(x)) {
        *v = NAN;
        return 1;
    }
    return 0;
}

int le_rec_from_json(const char *json, struct le_rec *c) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return le_err_set(LE_EFORMAT, "stored sample is not a JSON object");
    }
    double v[12];
    static const char *keys[12] = {"kind",  "choice", "uncond", "gold",   "n_choices", "ll",
                                   "greedy", "ntok",  "nchars", "nbytes", "nwords",    "sumsq"};
    int ok = 1;
    for (int i = 0; i < 12 && ok; i++)
        ok = jnum(o, keys[i], &v[i]);
    double grp = -1;
    jnum(o, "group", &grp);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(o, "resp");
    const cJSON *golds = cJSON_GetObjectItemCaseSensitive(o, "golds");
    c->resp = NULL;
    c->golds = NULL;
    c->n_golds = 0;
    c->group = (int)grp;
    if (ok && cJSON_IsString(resp)) {
        int ng = cJSON_IsArray(golds) ? cJSON_GetArraySize(golds) : 0;
        c->resp = strdup(resp->valuestring);
        c->golds = calloc((size_t)(ng > 0 ? ng : 1), sizeof *c->golds);
        for (int i = 0; c->golds && i < ng; i++) {
            const cJSON *x = cJSON_GetArrayItem(golds, i);
            c->golds[i] = strdup(cJSON_IsString(x) ? x->valuestring : "");
            c->n_golds += c->golds[i] != NULL;
        }
        if (!c->resp || !c->golds || c->n_golds != ng) {
            cJSON_Delete(o);
            le_rec_clear(c);
            return le_err_set(LE_ENOMEM, "out of memory");
        }
    }
    cJSON_Delete(o);
    if (!ok)
        return le_err_set(LE_EFORMAT, "stored sample lacks a field");
    c->kind = (int)v[0];
    c->choice = (int)v[1];
    c->uncond = (int)v[2];
    c->gold = (int)v[3];
    c->n_choices = (int)v[4];
    c->ll = v[5];
    c->greedy = (int)v[6];
    c->ntok = (int64_t)v[7];
    c->nchars = (int64_t)v[8];
    c->nbytes = (int64_t)v[9];
    c->nwords = (int64_t)v[10];
    c->sumsq = v[11];
    return LE_OK;
}

/* ---- metrics ---- */

static int argmax_first(const double *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

static int metric_add(struct le_metric *out, int cap, int *n, const char *name, double v, double se,
                      int64_t cnt, int hib) {
    if (*n >= cap)
        return le_err_set(LE_EINVAL, "too many metrics for the output array (%d)", cap);
    struct le_metric *m = &out[(*n)++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = v;
    m->stderr_v = se;
    m->n = cnt;
    m->higher_is_better = hib;
    return LE_OK;
}

enum { MC_ACC, MC_NORM, MC_BYTES, MC_TOK, MC_UNCOND, MC_N };
enum { LE_MMLU_MAX_GROUPS = 64 }; /* sub-tasks of one task (MMLU has 57) */

/* Per-document 0/1 scores of the multiple-choice metrics into sc[MC_N][n_docs]. */
static int mc_scores(const struct le_rec *recs, const int64_t *off, int64_t n_docs, unsigned metrics,
                     double *sc[MC_N]) {
    for (int64_t d = 0; d < n_docs; d++) {
        const struct le_rec *r = recs + off[d];
        int nr = (int)(off[d + 1] - off[d]);
        int nc = nr > 0 ? r[0].n_choices : 0, gold = nr > 0 ? r[0].gold : -1;
        if (nc < 1 || nc > 64)
            return le_err_set(LE_EFORMAT, "document %lld: bad choice count %d", (long long)d, nc);
        double ll[64], un[64], v[MC_N][64];
        int have[64] = {0}, haveu[64] = {0};
        for (int i = 0; i < nr; i++) {
            int c = r[i].choice;
            if (c < 0 || c >= nc)
                return le_err_set(LE_EFORMAT, "document %lld: choice %d out of range", (long long)d, c);
            if (r[i].uncond) {
                un[c] = r[i].ll;
                haveu[c] = 1;
                continue;
            }
            ll[c] = r[i].ll;
            have[c] = 1;
            v[MC_ACC][c] = r[i].ll;
            v[MC_NORM][c] = r[i].ll / (double)r[i].nchars;
            v[MC_BYTES][c] = r[i].ll / (double)r[i].nbytes;
            v[MC_TOK][c] = r[i].ll / (double)r[i].ntok;
        }
        for (int c = 0; c < nc; c++) {
            if (!have[c])
                return le_err_set(LE_EFORMAT, "document %lld: no record for choice %d", (long long)d, c);
            if ((metrics & LE_M_ACC_UNCOND) && !haveu[c])
                return le_err_set(LE_EFORMAT, "document %lld: no \"Answer:\" record for choice %d",
                                  (long long)d, c);
            v[MC_UNCOND][c] = (metrics & LE_M_ACC_UNCOND) ? ll[c] - un[c] : 0.0;
        }
        for (int m = 0; m < MC_N; m++)
            sc[m][d] = (gold >= 0 && gold < nc && argmax_first(v[m], nc) == gold) ? 1.0 : 0.0;
    }
    return LE_OK;
}

struct boot_ud {
    const double *a, *b; /* numerator / denominator per unit (b NULL: mean of a) */
    int kind;            /* 0 exp(-sum a / sum b), 1 -sum a / sum b / ln 2, 2 exp(-mean a) */
};

static double boot_stat(void *ud, const int64_t *idx, int64_t n) {
    const struct boot_ud *u = ud;
    double sa = 0, sb = 0;
    for (int64_t i = 0; i < n; i++) {
        sa += u->a[idx[i]];
        sb += u->b ? u->b[idx[i]] : 1.0;
    }
    return u->kind == 1 ? -sa / sb / log(2.0) : exp(-sa / sb);
}

static int rolling_metrics(const struct le_rec *recs, const int64_t *off, int64_t n_docs,
                           const struct le_metric_opts *o, struct le_metric *out, int cap, int *n) {
    double *ll = malloc((size_t)n_docs * sizeof *ll), *w = malloc((size_t)n_docs * sizeof *w);
    double *b = malloc((size_t)n_docs * sizeof *b);
    int rc = ll && w && b ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    double L = 0, W = 0, B = 0, SS = 0;
    int64_t T = 0;
    for (int64_t d = 0; d < n_docs && !rc; d++) {
        if (off[d + 1] - off[d] != 1) {
            rc = le_err_set(LE_EFORMAT, "document %lld: expected one rolling record", (long long)d);
            break;
        }
        const struct le_rec *r = &recs[off[d]];
        ll[d] = r->ll;
        w[d] = (double)r->nwords;
        b[d] = (double)r->nbytes;
        L += r->ll;
        W += w[d];
        B += b[d];
        SS += r->sumsq;
        T += r->ntok;
    }
    if (!rc) {
        int it = o->bootstrap_iters;
        struct boot_ud uw = {ll, w, 0}, ub = {ll, b, 0}, ubpb = {ll, b, 1};
        double sw = it > 0 ? le_stat_bootstrap(n_docs, it, o->seed, boot_stat, &uw) : NAN;
        double sb = it > 0 ? le_stat_bootstrap(n_docs, it, o->seed, boot_stat, &ub) : NAN;
        double sbpb = it > 0 ? le_stat_bootstrap(n_docs, it, o->seed, boot_stat, &ubpb) : NAN;
        double ppl, ppl_err;
        le_stat_ppl_llamacpp(-L, SS, T, &ppl, &ppl_err);
        rc = metric_add(out, cap, n, "word_perplexity", exp(-L / W), sw, n_docs, 0);
        if (!rc)
            rc = metric_add(out, cap, n, "byte_perplexity", exp(-L / B), sb, n_docs, 0);
        if (!rc)
            rc = metric_add(out, cap, n, "bits_per_byte", -L / B / log(2.0), sbpb, n_docs, 0);
        if (!rc)
            rc = metric_add(out, cap, n, "token_perplexity", ppl, ppl_err, n_docs, 0);
    }
    free(ll);
    free(w);
    free(b);
    return rc;
}

static int ll_metrics(const struct le_rec *recs, const int64_t *off, int64_t n_docs, unsigned metrics,
                      const struct le_metric_opts *o, struct le_metric *out, int cap, int *n) {
    double *ll = malloc((size_t)n_docs * sizeof *ll), *g = malloc((size_t)n_docs * sizeof *g);
    int rc = ll && g ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t d = 0; d < n_docs && !rc; d++) {
        if (off[d + 1] - off[d] != 1)
            rc = le_err_set(LE_EFORMAT, "document %lld: expected one loglikelihood record", (long long)d);
        else {
            ll[d] = recs[off[d]].ll;
            g[d] = recs[off[d]].greedy ? 1.0 : 0.0;
        }
    }
    if (!rc && (metrics & LE_M_PERPLEXITY)) {
        struct boot_ud u = {ll, NULL, 2};
        double se = o->bootstrap_iters > 0 ? le_stat_bootstrap(n_docs, o->bootstrap_iters, o->seed, boot_stat, &u)
                                           : NAN;
        rc = metric_add(out, cap, n, "perplexity", exp(-le_stat_mean(ll, n_docs)), se, n_docs, 0);
    }
    if (!rc && (metrics & LE_M_LL_ACC))
        rc = metric_add(out, cap, n, "acc", le_stat_mean(g, n_docs), le_stat_mean_stderr(g, n_docs), n_docs, 1);
    free(ll);
    free(g);
    return rc;
}

/* generate_until: exact_match of every filter's output against the golds. */
static int gen_metrics(const struct le_task_info *info, const struct le_rec *recs, const int64_t *off, int64_t n_docs,
                       struct le_metric *out, int cap, int *n) {
    double *sc = malloc((size_t)n_docs * sizeof *sc);
    int rc = sc ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    static const struct le_filter none = {.name = "none", .n_steps = 1, .steps = {{.kind = LE_F_TAKE_FIRST}}};
    int nf = info->n_filters > 0 ? info->n_filters : 1;
    for (int f = 0; f < nf && !rc; f++) {
        const struct le_filter *flt = info->n_filters > 0 ? &info->filters[f] : &none;
        for (int64_t d = 0; d < n_docs && !rc; d++) {
            const struct le_rec *r = &recs[off[d]];
            if (off[d + 1] - off[d] != 1 || !r->resp) {
                rc = le_err_set(LE_EFORMAT, "document %lld: expected one generation record", (long long)d);
                break;
            }
            char *x = NULL;
            const char *resp = r->resp;
            rc = le_filter_apply(flt, &resp, 1, &x);
            if (!rc)
                rc = le_exact_match(x, (const char *const *)r->golds, r->n_golds, &info->em, &sc[d]);
            free(x);
        }
        if (!rc)
            rc = metric_add(out, cap, n, "exact_match", le_stat_mean(sc, n_docs), le_stat_mean_stderr(sc, n_docs),
                            n_docs, 1);
        if (!rc)
            snprintf(out[*n - 1].filter, sizeof out[*n - 1].filter, "%s", flt->name);
    }
    free(sc);
    return rc;
}

/* lm-eval's pooled_sample_stderr (lm_eval/api/metrics.py): the stderr of a
 * group weighted by size from its sub-tasks' stderrs and sizes. */
static double pooled_stderr(const double *se, const int64_t *size, int k) {
    double num = 0, tot = 0;
    for (int i = 0; i < k; i++) {
        num += (double)(size[i] - 1) * se[i] * se[i] * (double)size[i];
        tot += (double)size[i];
    }
    return tot - k > 0 ? sqrt(num / (tot - k) / tot) : NAN;
}

/* A metric of a task made of sub-tasks (MMLU): per sub-task the mean and
 * mean_stderr of its documents' scores; the task and each parent group
 * (in name order) aggregate their sub-tasks weighted by size
 * (aggregate_subtask_metrics) with pooled_stderr, as lm-eval's groups with
 * weight_by_size: true. Only sub-tasks with documents take part. A task
 * that is one group (mmlu_stem) reports itself and its sub-tasks. */
static int grouped_metric(const struct le_task_info *info, const char *name, const struct le_rec *recs,
                          const int64_t *off, int64_t n_docs, const double *sc, struct le_metric *out, int cap,
                          int *n) {
    int G = info->n_groups, rc = LE_OK;
    int64_t *cnt = calloc((size_t)G, sizeof *cnt);
    double *mean = calloc((size_t)G, sizeof *mean), *se = calloc((size_t)G, sizeof *se);
    double *buf = malloc((size_t)n_docs * sizeof *buf);
    if (!cnt || !mean || !se || !buf)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int g = 0; g < G && !rc; g++) {
        int64_t k = 0;
        for (int64_t d = 0; d < n_docs; d++)
            if (off[d + 1] > off[d] && recs[off[d]].group == g)
                buf[k++] = sc[d];
        cnt[g] = k;
        mean[g] = k > 0 ? le_stat_mean(buf, k) : NAN;
        se[g] = k > 1 ? le_stat_mean_stderr(buf, k) : NAN;
    }
    for (int64_t d = 0; d < n_docs && !rc; d++)
        if (off[d + 1] > off[d] && (recs[off[d]].group < 0 || recs[off[d]].group >= G))
            rc = le_err_set(LE_EFORMAT, "%s: document %lld has no sub-task", info->name, (long long)d);
    /* the parents, in name order, after the task itself ("") */
    const char *parents[16];
    int np = 0;
    for (int g = 0; g < G && !rc && info->group_parent; g++) {
        const char *pa = info->group_parent(g);
        int i = 0;
        while (i < np && strcmp(parents[i], pa))
            i++;
        if (i == np && np < 16 && cnt[g] > 0) {
            int j = np++;
            while (j > 0 && strcmp(parents[j - 1], pa) > 0) {
                parents[j] = parents[j - 1];
                j--;
            }
            parents[j] = pa;
        }
    }
    double vse[LE_MMLU_MAX_GROUPS];
    int64_t vsz[LE_MMLU_MAX_GROUPS];
    for (int p = -1; p < (info->part ? 0 : np) && !rc; p++) { /* a part (mmlu_stem) is its own group */
        double num = 0;
        int k = 0;
        for (int g = 0; g < G && k < LE_MMLU_MAX_GROUPS; g++)
            if (cnt[g] > 0 && (p < 0 || !strcmp(info->group_parent(g), parents[p]))) {
                num += mean[g] * (double)cnt[g];
                vse[k] = se[g];
                vsz[k++] = cnt[g];
            }
        int64_t tot = 0;
        for (int i = 0; i < k; i++)
            tot += vsz[i];
        rc = metric_add(out, cap, n, name, num / (double)tot, pooled_stderr(vse, vsz, k), tot, 1);
        if (!rc && p >= 0)
            snprintf(out[*n - 1].group, sizeof out[*n - 1].group, "%s", parents[p]);
    }
    for (int g = 0; g < G && !rc; g++)
        if (cnt[g] > 0) {
            rc = metric_add(out, cap, n, name, mean[g], se[g], cnt[g], 1);
            if (!rc)
                snprintf(out[*n - 1].group, sizeof out[*n - 1].group, "%s", info->group_name(g));
        }
    free(cnt);
    free(mean);
    free(se);
    free(buf);
    return rc;
}

int le_task_metrics(const struct le_task_info *info, unsigned metrics, const struct le_rec *recs,
                    const int64_t *off, int64_t n_docs, const struct le_metric_opts *o_in,
                    struct le_metric *out, int cap, int *n_out) {
    struct le_metric_opts o = {1000, 1234};
    if (o_in) {
        o = *o_in;
        if (o.bootstrap_iters == 0)
            o.bootstrap_iters = 1000;
    }
    *n_out = 0;
    if (n_docs <= 0)
        return le_err_set(LE_EINVAL, "%s: no documents to score", info->name);
    if (info->kind == LE_TASK_ROLLING)
        return rolling_metrics(recs, off, n_docs, &o, out, cap, n_out);
    if (info->kind == LE_TASK_LL)
        return ll_metrics(recs, off, n_docs, metrics, &o, out, cap, n_out);
    if (info->kind == LE_TASK_GEN)
        return gen_metrics(info, recs, off, n_docs, out, cap, n_out);
    double *sc[MC_N];
    double *all = malloc((size_t)n_docs * MC_N * sizeof *all);
    if (!all)
        return le_err_set(LE_ENOMEM, "out of memory");
    for (int m = 0; m < MC_N; m++)
        sc[m] = all + (size_t)m * (size_t)n_docs;
    int rc = mc_scores(recs, off, n_docs, metrics, sc);
    static const char *names[MC_N] = {"acc", "acc_norm", "acc_bytes", "acc_tok", "acc_uncond"};
    static const unsigned bits[MC_N] = {LE_M_ACC, LE_M_ACC_NORM, LE_M_ACC_BYTES, LE_M_ACC_TOK, LE_M_ACC_UNCOND};
    for (int m = 0; m < MC_N && !rc; m++)
        if ((metrics & bits[m]) && info->n_groups > 0 && info->group_name)
            rc = grouped_metric(info, names[m], recs, off, n_docs, sc[m], out, cap, n_out);
        else if (metrics & bits[m])
            rc = metric_add(out, cap, n_out, names[m], le_stat_mean(sc[m], n_docs),
                            le_stat_mean_stderr(sc[m], n_docs), n_docs, 1);
    free(all);
    return rc;
}
