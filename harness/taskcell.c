/*
 * taskcell: one task on one model as a resumable cell (le_taskcell.h), the
 * scoring loop moved out of cmd_eval.c so that eval and sweep share it.
 * The cell config below is hashed into the cell key byte for byte: it must
 * stay exactly as eval has always built it.
 */
#include "le_taskcell.h"

#include "le_datasets.h" /* struct le_ds_opts */
#include "le_err.h"
#include "le_model.h"    /* le_ctx_mem_plan */
#include "le_progress.h" /* per-task progress */
#include "le_sha256.h"   /* the requests' hash */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int le_taskcell_load(struct le_taskcell *t, const char *name, const struct le_taskcell_opts *o) {
    struct le_ds_opts ds = {0};
    ds.offline = o->offline;
    struct le_task_opts to;
    le_task_opts_default(&to);
    to.num_fewshot = o->num_fewshot;
    to.fewshot_seed = o->fewshot_seed;
    to.seed = o->seed;
    to.limit = o->limit;
    to.uncond = o->uncond;
    to.ds = &ds;
    t->name = name;
    int rc = le_task_load(&t->ts, name, &to);
    if (rc)
        return rc;
    t->off = malloc(((size_t)t->ts->n_docs + 1) * sizeof *t->off);
    if (!t->off)
        return le_err_set(LE_ENOMEM, "out of memory");
    t->off[0] = 0;
    /* A change in any document, prompt or few-shot draw makes another cell. */
    struct le_sha256_ctx h;
    le_sha256_init(&h);
    for (int64_t d = 0; d < t->ts->n_docs; d++) {
        const struct le_item *it = &t->ts->items[d];
        t->off[d + 1] = t->off[d] + it->n_req;
        int32_t meta[3] = {it->gold, it->n_choices, it->n_req};
        le_sha256_update(&h, meta, sizeof meta);
        for (int q = 0; q < it->n_req; q++) {
            const struct le_request *r = &it->req[q];
            int32_t m2[2] = {r->choice, r->uncond};
            le_sha256_update(&h, m2, sizeof m2);
            if (r->context)
                le_sha256_update(&h, r->context, strlen(r->context) + 1);
            le_sha256_update(&h, r->continuation, strlen(r->continuation) + 1);
        }
        for (int k = 0; k < it->n_targets; k++) /* generate_until: the golds */
            le_sha256_update(&h, it->targets[k], strlen(it->targets[k]) + 1);
    }
    uint8_t dg[32];
    le_sha256_final(&h, dg);
    le_sha256_hex(dg, t->req_sha);
    return LE_OK;
}

/* Frees the generated texts the records of t hold. */
static void le_tc_recs_clear(struct le_taskcell *t) {
    for (int64_t i = 0; t->recs && t->ts && i < t->off[t->ts->n_docs]; i++)
        le_rec_clear(&t->recs[i]);
}

void le_taskcell_free(struct le_taskcell *t) {
    le_tc_recs_clear(t);
    le_taskset_free(t->ts);
    free(t->off);
    free(t->recs);
    memset(t, 0, sizeof *t);
}

/* The cell config: everything that can change a number, in a fixed order. */
static char *le_tc_cell_config(const struct le_taskcell_opts *o, const struct le_taskcell *t, int n_ctx, int add_bos) {
    const struct le_taskset *ts = t->ts;
    char *s = NULL;
    if (asprintf(&s,
                 "{\"task\":\"%s\",\"version\":%g,\"num_fewshot\":%d,\"fewshot_seed\":%llu,\"limit\":%lld,"
                 "\"n_ctx\":%d,\"add_bos\":%d,\"uncond\":%d,\"seed\":%llu,\"bootstrap_iters\":%ld,"
                 "\"requests_sha256\":\"%s\"}",
                 ts->info->name, ts->info->version, ts->num_fewshot, (unsigned long long)o->fewshot_seed,
                 (long long)ts->n_docs, n_ctx, add_bos, ts->uncond, (unsigned long long)o->seed, o->boot,
                 t->req_sha) < 0)
        return NULL;
    return s;
}

struct le_tc_fill {
    const struct le_taskcell *t;
    char *have;
    int bad;
};

static int le_tc_fill_cb(void *ud, int64_t doc, int64_t req, const char *json) {
    struct le_tc_fill *f = ud;
    const struct le_taskset *ts = f->t->ts;
    if (doc < 0 || doc >= ts->n_docs || req < 0 || req >= ts->items[doc].n_req)
        return 0;
    int64_t at = f->t->off[doc] + req;
    le_rec_clear(&f->t->recs[at]);
    if (le_rec_from_json(json, &f->t->recs[at]))
        f->bad = 1;
    else
        f->have[at] = 1;
    return 0;
}

/* Writes buffered samples in one transaction (the job's kill hook fires there). */
static int le_tc_flush(struct le_job *job, struct le_job_cell *cell, struct le_store_sample *buf, int *nbuf) {
    int rc = le_job_cell_put_samples(job, cell, buf, *nbuf);
    for (int i = 0; i < *nbuf; i++)
        free((char *)buf[i].json);
    *nbuf = 0;
    return rc;
}

/* Whether document d still needs scoring. */
static int le_tc_missing(const struct le_taskcell *t, const char *have, int64_t d) {
    for (int q = 0; q < t->ts->items[d].n_req; q++)
        if (!have[t->off[d] + q])
            return 1;
    return 0;
}

/* How many generate_until documents to decode together: o->gen_batch, at
 * most as many as LE_TC_GEN_MEM bytes of their contexts (KV cache and
 * buffers, le_ctx_mem_plan) hold, at least 1. */
static int le_tc_gen_batch(const struct le_taskcell_opts *o, struct le_runner *R) {
    int b = o->gen_batch > 1 ? (o->gen_batch < 256 ? (int)o->gen_batch : 256) : 1;
    struct le_ctx_mem mp;
    while (b > 1 && (le_ctx_mem_plan(le_runner_model(R), le_runner_n_ctx(R), b, 1, &mp) != LE_OK ||
                     (uint64_t)b * (mp.kv + mp.scratch) > LE_TC_GEN_MEM))
        b--;
    return b;
}

/* Scores the missing documents of a cell, committing samples as it goes:
 * consecutive missing generate_until documents of one configuration are
 * decoded together (le_items_run_gen) in groups of le_tc_gen_batch; the
 * records and their commits are the same, document by document. */
static int le_tc_score(const struct le_taskcell_opts *o, struct le_job *job, struct le_runner *R, struct le_taskcell *t, struct le_job_cell *cell,
                         const char *have) {
    const struct le_taskset *ts = t->ts;
    int cap = (int)o->flush, nbuf = 0, rc = LE_OK, gb = le_tc_gen_batch(o, R);
    for (int64_t d = 0; d < ts->n_docs; d++) /* room for one more document past the flush mark */
        if (ts->items[d].n_req > cap - (int)o->flush)
            cap = (int)o->flush + ts->items[d].n_req;
    struct le_store_sample *buf = calloc((size_t)cap, sizeof *buf);
    const struct le_item **grp = calloc((size_t)gb, sizeof *grp);
    struct le_rec **grec = calloc((size_t)gb, sizeof *grec);
    if (!buf || !grp || !grec) {
        free(buf);
        free(grp);
        free(grec);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    struct le_progress *prog = NULL;
    le_progress_new(&prog, ts->info->name, (uint64_t)ts->n_docs, o->quiet);
    for (int64_t d = 0; d < ts->n_docs && !rc; d++) {
        const struct le_item *it = &ts->items[d];
        int ng = 0; /* documents d .. d + ng - 1 scored now */
        if (le_tc_missing(t, have, d)) {
            int lim = it->kind == LE_TASK_GEN && it->n_req == 1 ? gb : 1;
            for (int64_t e = d; e < ts->n_docs && ng < lim; e++, ng++) {
                const struct le_item *ie = &ts->items[e];
                if (e > d && (!le_tc_missing(t, have, e) || ie->kind != LE_TASK_GEN || ie->n_req != 1 ||
                              ie->gen != it->gen))
                    break;
                grp[ng] = ie;
                grec[ng] = &t->recs[t->off[e]];
                for (int q = 0; q < ie->n_req; q++)
                    le_rec_clear(&grec[ng][q]);
            }
            rc = ng > 1 ? le_items_run_gen(R, grp, ng, grec) : le_item_run(R, it, grec[0]);
        }
        for (int k = 0; k < ng && !rc; k++) {
            const struct le_item *ik = grp[k];
            struct le_rec *r = grec[k];
            int64_t dk = d + k;
            if (nbuf + ik->n_req > cap && (rc = le_tc_flush(job, cell, buf, &nbuf)))
                break;
            for (int q = 0; q < ik->n_req && !rc; q++) {
                char *js = le_rec_to_json(&r[q]);
                if (!js) {
                    rc = le_err_set(LE_ENOMEM, "out of memory");
                    break;
                }
                /* Use the record as the store will give it back: bit-identical on resume. */
                le_rec_clear(&r[q]);
                rc = le_rec_from_json(js, &r[q]);
                buf[nbuf++] = (struct le_store_sample){.doc = dk, .req = q, .json = js};
            }
            if (!rc && (nbuf >= o->flush || ik->kind == LE_TASK_ROLLING))
                rc = le_tc_flush(job, cell, buf, &nbuf);
            if (k + 1 < ng)
                le_progress_update(prog, (uint64_t)dk + 1);
        }
        d += ng > 1 ? ng - 1 : 0;
        le_progress_update(prog, (uint64_t)d + 1);
    }
    if (!rc)
        rc = le_tc_flush(job, cell, buf, &nbuf);
    for (int i = 0; i < nbuf; i++)
        free((char *)buf[i].json);
    free(buf);
    free(grp);
    free(grec);
    le_progress_finish(prog);
    return rc;
}

/* The metrics of a cell done earlier, as the store gives them back. */
static void le_tc_stored_metrics(struct le_taskcell *t, const struct le_job_cell *c) {
    for (int i = 0; i < c->n_results && t->n_met < (int)(sizeof t->met / sizeof t->met[0]); i++) {
        const struct le_store_result *r = &c->results[i];
        struct le_metric *m = &t->met[t->n_met++];
        memset(m, 0, sizeof *m);
        /* stored as "metric", "metric,filter" or "metric,filter,group" */
        const char *c1 = strchr(r->metric, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        snprintf(m->name, sizeof m->name, "%.*s", c1 ? (int)(c1 - r->metric) : (int)strlen(r->metric), r->metric);
        if (c1)
            snprintf(m->filter, sizeof m->filter, "%.*s", c2 ? (int)(c2 - c1 - 1) : (int)strlen(c1 + 1), c1 + 1);
        if (c2)
            snprintf(m->group, sizeof m->group, "%s", c2 + 1);
        if (!strcmp(m->filter, "none"))
            m->filter[0] = 0;
        m->value = r->value;
        m->stderr_v = r->stderr_v;
        m->n = r->n;
        m->higher_is_better = !strncmp(r->metric, "acc", 3) || !strncmp(r->metric, "exact_match", 11);
    }
}

/* One (model, task) cell: skip when done, else resume/score and record. The
 * stored samples are read back in both cases (--log-samples writes them). */
int le_taskcell_run(struct le_taskcell *t, const struct le_taskcell_opts *o, struct le_job *job,
                    struct le_runner *R, const char *sha, int64_t model_id) {
    const struct le_taskset *ts = t->ts;
    int64_t total = t->off[ts->n_docs];
    le_tc_recs_clear(t);
    free(t->recs);
    t->n_met = 0;
    t->skipped = 0;
    memset(&t->st, 0, sizeof t->st);
    t->recs = calloc((size_t)(total > 0 ? total : 1), sizeof *t->recs);
    char *have = calloc((size_t)(total > 0 ? total : 1), 1);
    char *cfg = le_tc_cell_config(o, t, le_runner_n_ctx(R), le_runner_add_bos(R));
    int rc = t->recs && have && cfg ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    struct le_job_cell cell = {0};
    if (!rc)
        rc = le_job_cell_begin(job, sha, ts->info->name, cfg, &cell);
    struct le_tc_fill fill = {t, have, 0};
    if (!rc)
        rc = le_job_cell_samples(job, &cell, le_tc_fill_cb, &fill);
    if (!rc && fill.bad)
        rc = le_err_set(LE_EFORMAT, "%s: a stored sample of this cell is unreadable", ts->info->name);
    if (!rc && cell.done) {
        t->skipped = 1;
        le_tc_stored_metrics(t, &cell);
        if (!o->quiet)
            fprintf(stderr, "llamaeval: %s: done earlier, results from the store\n", ts->info->name);
        goto out;
    }
    if (!rc) {
        int64_t n_have = 0;
        for (int64_t i = 0; i < total; i++)
            n_have += have[i];
        if (n_have > 0 && !o->quiet)
            fprintf(stderr, "llamaeval: %s: resuming, %lld of %lld requests already stored\n", ts->info->name,
                    (long long)n_have, (long long)total);
        le_runner_reset_stats(R);
        rc = le_tc_score(o, job, R, t, &cell, have);
        le_runner_get_stats(R, &t->st);
    }
    struct le_metric_opts mo = {o->boot > 0 ? (int)o->boot : -1, o->seed};
    if (!rc)
        rc = le_task_metrics(ts->info, le_taskset_metrics(ts), t->recs, t->off, ts->n_docs, &mo, t->met,
                             (int)(sizeof t->met / sizeof t->met[0]), &t->n_met);
    if (!rc) {
        struct le_store_result res[64];
        char names[64][128];
        for (int i = 0; i < t->n_met; i++) {
            const struct le_metric *m = &t->met[i];
            if (m->group[0])
                snprintf(names[i], sizeof names[i], "%s,%s,%s", m->name, m->filter[0] ? m->filter : "none", m->group);
            else if (m->filter[0])
                snprintf(names[i], sizeof names[i], "%s,%s", m->name, m->filter);
            else
                snprintf(names[i], sizeof names[i], "%s", m->name);
            res[i] = (struct le_store_result){names[i], m->value, m->stderr_v, m->n};
        }
        rc = le_job_cell_finish(job, &cell, model_id, res, t->n_met);
    }
out:
    le_job_cell_release(&cell);
    free(have);
    free(cfg);
    return rc;
}

