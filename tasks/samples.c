/*
 * samples: per-document sample logs in lm-evaluation-harness's schema
 * (lm-eval 0.4.13, commit 4e7e0d4: lm_eval/evaluator.py evaluate() builds
 * the example, lm_eval/loggers/evaluation_tracker.py save_results_samples
 * writes it), so that lm-eval's own tooling reads them.
 *
 * One JSON line per document and filter, keys in lm-eval's order:
 *   doc_id, doc (the document as the dataset gave it), target (str() of
 *   doc_to_target: the gold index for multiple choice, the text, or a
 *   Python list repr for several answers), arguments ({"gen_args_i":
 *   {"arg_0": context, "arg_1": continuation or generation_kwargs}}), resps
 *   and filtered_resps (sanitize_list: every leaf str()'d, so a
 *   loglikelihood is ["-1.25", "False"]), filter, metrics (names), doc_hash
 *   (sha256 of json.dumps(doc, indent=2, ensure_ascii=False)), prompt_hash
 *   (of the first request's context), target_hash (of str(target)), then
 *   each metric's per-document value as process_results returns it
 *   (multiple choice: 1.0/0.0; lambada: perplexity = the loglikelihood,
 *   acc = 0/1; rolling: [loglikelihood, words or bytes]; generation:
 *   exact_match 1.0/0.0 under the line's filter).
 * Text is written as Python's json.dumps writes it (", " and ": "
 * separators, non-ASCII kept, control characters \uXXXX) and floats as
 * Python's repr, so the hashes are lm-eval's whenever our document is the
 * one lm-eval loads (gsm8k, nq_open, mmlu; other sets' upstream files have
 * other fields than lm-eval's Hugging Face copies).
 * Our own additions are marked: acc_bytes/acc_tok/acc_uncond metrics and
 * the "Answer:" requests of the unconditional normalisation.
 */
#include "le_tasks.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_buf.h"    /* the lines */
#include "le_err.h"    /* le_err_set */
#include "le_sha256.h" /* hash_string */
#include "le_text.h"   /* le_utf8_next */

/* ---- Python's repr and json.dumps ---- */

void le_py_float_repr(double x, char out[32]) {
    if (isnan(x)) {
        snprintf(out, 32, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(out, 32, x > 0 ? "inf" : "-inf");
        return;
    }
    char e[40];
    int p = 1;
    for (; p <= 17; p++) { /* the shortest digits that read back exactly */
        snprintf(e, sizeof e, "%.*e", p - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e = [-]d[.ddd]e[+-]XX -> digits and decimal exponent */
    const char *s = e;
    char dig[24];
    int nd = 0, neg = *s == '-';
    if (neg)
        s++;
    for (; *s && *s != 'e'; s++)
        if (*s != '.')
            dig[nd++] = *s;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    dig[nd] = 0;
    int ex = atoi(s + 1), o = 0;
    if (neg)
        out[o++] = '-';
    if (ex >= -5 + 1 && ex < 16) { /* repr: fixed notation for 1e-4 <= |x| < 1e16 */
        if (ex < 0) {
            o += snprintf(out + o, (size_t)(32 - o), "0.");
            for (int i = -1; i > ex; i--)
                out[o++] = '0';
            o += snprintf(out + o, (size_t)(32 - o), "%s", dig);
        } else {
            for (int i = 0; i <= ex || i < nd; i++) {
                if (i == ex + 1)
                    out[o++] = '.';
                out[o++] = i < nd ? dig[i] : '0';
            }
            if (nd <= ex + 1)
                o += snprintf(out + o, (size_t)(32 - o), ".0");
        }
        out[o] = 0;
    } else {
        out[o++] = dig[0];
        if (nd > 1)
            o += snprintf(out + o, (size_t)(32 - o), ".%s", dig + 1);
        snprintf(out + o, (size_t)(32 - o), "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
}

/* A code point str.isprintable() rejects (repr escapes it): Cc, Zs but
 * the space, Zl, Zp, Cf, Cs, Co; the unassigned points are not known here. */
static int py_unprintable(uint32_t c) {
    return c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad || c == 0x1680 || (c >= 0x2000 && c <= 0x200f) ||
           (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff ||
           (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff9 && c <= 0xfffb) || c == 0x180e || c == 0x61c ||
           (c >= 0xf0000);
}

static void py_str_repr(struct le_buf *b, const char *s) {
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    le_buf_put(b, &q, 1);
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t len = le_utf8_next(s + i, n - i, &c);
        if (!len) {
            c = (unsigned char)s[i];
            len = 1;
        }
        if (c == (uint32_t)q || c == '\\')
            le_buf_printf(b, "\\%c", (char)c);
        else if (c == '\n')
            le_buf_puts(b, "\\n");
        else if (c == '\r')
            le_buf_puts(b, "\\r");
        else if (c == '\t')
            le_buf_puts(b, "\\t");
        else if (py_unprintable(c))
            le_buf_printf(b, c < 0x100 ? "\\x%02x" : c < 0x10000 ? "\\u%04x" : "\\U%08x", (unsigned)c);
        else
            le_buf_put(b, s + i, len);
        i += len;
    }
    le_buf_put(b, &q, 1);
}

static void pj_str(struct le_buf *b, const char *s) {
    le_buf_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        switch (c) {
        case '"': le_buf_puts(b, "\\\""); break;
        case '\\': le_buf_puts(b, "\\\\"); break;
        case '\n': le_buf_puts(b, "\\n"); break;
        case '\r': le_buf_puts(b, "\\r"); break;
        case '\t': le_buf_puts(b, "\\t"); break;
        case '\b': le_buf_puts(b, "\\b"); break;
        case '\f': le_buf_puts(b, "\\f"); break;
        default:
            if (c < 0x20)
                le_buf_printf(b, "\\u%04x", c);
            else
                le_buf_put(b, p, 1);
        }
    }
    le_buf_put(b, "\"", 1);
}

static void pj_newline(struct le_buf *b, int indent, int level) {
    le_buf_put(b, "\n", 1);
    for (int i = 0; i < indent * level; i++)
        le_buf_put(b, " ", 1);
}

static void py_json(struct le_buf *b, const cJSON *v, int indent, int level) {
    if (cJSON_IsRaw(v))
        le_buf_puts(b, v->valuestring);
    else if (cJSON_IsString(v))
        pj_str(b, v->valuestring);
    else if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x == floor(x) && fabs(x) < 9007199254740992.0)
            le_buf_printf(b, "%lld", (long long)x);
        else if (!isfinite(x))
            le_buf_puts(b, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        else {
            char r[32];
            le_py_float_repr(x, r);
            le_buf_puts(b, r);
        }
    } else if (cJSON_IsBool(v))
        le_buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int obj = cJSON_IsObject(v);
        le_buf_put(b, obj ? "{" : "[", 1);
        if (!v->child) {
            le_buf_put(b, obj ? "}" : "]", 1);
            return;
        }
        for (const cJSON *c = v->child; c; c = c->next) {
            if (indent > 0)
                pj_newline(b, indent, level + 1);
            if (obj) {
                pj_str(b, c->string ? c->string : "");
                le_buf_puts(b, ": ");
            }
            py_json(b, c, indent, level + 1);
            if (c->next)
                le_buf_puts(b, indent > 0 ? "," : ", ");
        }
        if (indent > 0)
            pj_newline(b, indent, level);
        le_buf_put(b, obj ? "}" : "]", 1);
    } else
        le_buf_puts(b, "null");
}

static void hash_hex(const char *s, char hex[65]) {
    uint8_t dg[32];
    le_sha256(s, strlen(s), dg);
    le_sha256_hex(dg, hex);
}

/* ---- the sample lines ---- */

static cJSON *raw_float(double x) {
    char r[32];
    le_py_float_repr(x, r);
    if (!isfinite(x))
        snprintf(r, sizeof r, "%s", isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
    return cJSON_CreateRaw(r);
}

static cJSON *str_float(double x) {
    char r[32];
    le_py_float_repr(x, r);
    return cJSON_CreateString(r);
}

/* str(doc_to_target(doc)) */
static char *target_str(const struct le_task_info *in, const struct le_item *it, const struct le_prompt *p) {
    struct le_buf b = {0};
    le_buf_put(&b, "", 0);
    if (in->kind == LE_TASK_MC && in->multiple_input)
        le_buf_puts(&b, p->target);
    else if (in->kind == LE_TASK_MC)
        le_buf_printf(&b, "%d", it->gold);
    else if (in->kind == LE_TASK_GEN && it->n_targets == 1 && !in->target_is_list)
        le_buf_puts(&b, it->targets[0]);
    else if (in->kind == LE_TASK_GEN) {
        le_buf_put(&b, "[", 1);
        for (int i = 0; i < it->n_targets; i++) {
            if (i)
                le_buf_puts(&b, ", ");
            py_str_repr(&b, it->targets[i]);
        }
        le_buf_put(&b, "]", 1);
    } else
        le_buf_puts(&b, in->kind == LE_TASK_ROLLING ? p->query : p->target);
    char *s = le_buf_take(&b);
    le_buf_free(&b);
    return s;
}

/* The task's per-document metric values, as process_results gives them. */
static int doc_metrics(const struct le_taskset *ts, const struct le_item *it, const struct le_rec *r,
                       const struct le_filter *flt, cJSON *names, cJSON *vals) {
    const struct le_task_info *in = ts->info;
    int rc = LE_OK;
    if (in->kind == LE_TASK_GEN) {
        char *x = NULL;
        const char *resp = r->resp ? r->resp : "";
        double sc = 0;
        rc = le_filter_apply(flt, &resp, 1, &x);
        if (!rc)
            rc = le_exact_match(x, (const char *const *)r->golds, r->n_golds, &in->em, &sc);
        free(x);
        cJSON_AddItemToArray(names, cJSON_CreateString("exact_match"));
        cJSON_AddItemToObject(vals, "exact_match", raw_float(sc));
        return rc;
    }
    if (in->kind == LE_TASK_LL) {
        if (le_taskset_metrics(ts) & LE_M_PERPLEXITY) {
            cJSON_AddItemToArray(names, cJSON_CreateString("perplexity"));
            cJSON_AddItemToObject(vals, "perplexity", raw_float(r->ll));
        }
        cJSON_AddItemToArray(names, cJSON_CreateString("acc"));
        cJSON_AddNumberToObject(vals, "acc", r->greedy ? 1 : 0);
        return LE_OK;
    }
    if (in->kind == LE_TASK_ROLLING) {
        static const char *const nm[4] = {"word_perplexity", "byte_perplexity", "bits_per_byte", "token_perplexity"};
        int64_t den[4] = {r->nwords, r->nbytes, r->nbytes, r->ntok};
        for (int k = 0; k < 4; k++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, raw_float(r->ll));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)den[k]));
            cJSON_AddItemToArray(names, cJSON_CreateString(nm[k]));
            cJSON_AddItemToObject(vals, nm[k], pair);
        }
        return LE_OK;
    }
    /* multiple choice: the task's metrics on this one document */
    int64_t off[2] = {0, it->n_req};
    struct le_metric m[64];
    int nm = 0;
    struct le_metric_opts mo = {-1, 0};
    rc = le_task_metrics(in, le_taskset_metrics(ts), r, off, 1, &mo, m, 64, &nm);
    for (int k = 0; k < nm && !rc; k++) {
        if (m[k].group[0] || cJSON_GetObjectItemCaseSensitive(vals, m[k].name))
            continue; /* a sub-task's copy of the same score */
        cJSON_AddItemToArray(names, cJSON_CreateString(m[k].name));
        cJSON_AddItemToObject(vals, m[k].name, raw_float(m[k].value));
    }
    return rc;
}

static cJSON *gen_kwargs(const struct le_task_info *in) {
    cJSON *g = in->gen_kwargs_json ? cJSON_Parse(in->gen_kwargs_json) : NULL;
    if (g) { /* 0.0 stays a float */
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(g, "temperature");
        if (cJSON_IsNumber(t))
            cJSON_ReplaceItemInObjectCaseSensitive(g, "temperature", raw_float(t->valuedouble));
        return g;
    }
    g = cJSON_CreateObject();
    cJSON *u = cJSON_AddArrayToObject(g, "until");
    for (int i = 0; i < in->gen.n_until; i++)
        cJSON_AddItemToArray(u, cJSON_CreateString(in->gen.until[i]));
    cJSON_AddBoolToObject(g, "do_sample", 0);
    return g;
}

/* The document as logged: its dataset object, else (built-in tasks) the prompt. */
static cJSON *doc_of(const struct le_prompt *p) {
    if (p->doc)
        return cJSON_Duplicate(p->doc, 1);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "query", p->query ? p->query : "");
    if (p->n_choices > 0) {
        cJSON *c = cJSON_AddArrayToObject(d, "choices");
        for (int i = 0; i < p->n_choices; i++)
            cJSON_AddItemToArray(c, cJSON_CreateString(p->choices[i]));
        cJSON_AddNumberToObject(d, "gold", p->gold);
    }
    if (p->target)
        cJSON_AddStringToObject(d, "target", p->target);
    return d;
}

static int sample_line(const struct le_taskset *ts, int64_t d, int64_t doc_id, const struct le_rec *r,
                       const struct le_filter *flt, struct le_buf *out) {
    const struct le_task_info *in = ts->info;
    const struct le_item *it = &ts->items[d];
    const struct le_prompt *p = &ts->prompts[d];
    cJSON *o = cJSON_CreateObject(), *doc = doc_of(p);
    char *tgt = target_str(in, it, p);
    if (!o || !doc || !tgt) {
        cJSON_Delete(o);
        cJSON_Delete(doc);
        free(tgt);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    cJSON_AddNumberToObject(o, "doc_id", (double)doc_id);
    cJSON_AddItemToObject(o, "doc", doc);
    cJSON_AddStringToObject(o, "target", tgt);
    cJSON *args = cJSON_AddObjectToObject(o, "arguments");
    cJSON *resps = cJSON_AddArrayToObject(o, "resps"), *fres = cJSON_AddArrayToObject(o, "filtered_resps");
    int rc = LE_OK;
    for (int q = 0; q < it->n_req; q++) {
        char key[32];
        snprintf(key, sizeof key, "gen_args_%d", q);
        cJSON *a = cJSON_AddObjectToObject(args, key);
        if (in->kind == LE_TASK_ROLLING)
            cJSON_AddStringToObject(a, "arg_0", it->req[q].continuation);
        else
            cJSON_AddStringToObject(a, "arg_0", it->req[q].context);
        if (in->kind == LE_TASK_GEN)
            cJSON_AddItemToObject(a, "arg_1", gen_kwargs(in));
        else if (in->kind != LE_TASK_ROLLING)
            cJSON_AddStringToObject(a, "arg_1", it->req[q].continuation);
        cJSON *rs = cJSON_CreateArray();
        cJSON_AddItemToArray(resps, rs);
        if (in->kind == LE_TASK_GEN) {
            cJSON_AddItemToArray(rs, cJSON_CreateString(r[q].resp ? r[q].resp : ""));
            char *x = NULL;
            const char *resp = r[q].resp ? r[q].resp : "";
            rc = le_filter_apply(flt, &resp, 1, &x);
            cJSON_AddItemToArray(fres, cJSON_CreateString(x ? x : ""));
            free(x);
        } else if (in->kind == LE_TASK_ROLLING) {
            cJSON_AddItemToArray(rs, str_float(r[q].ll));
            cJSON_AddItemToArray(fres, str_float(r[q].ll));
        } else {
            cJSON *pair = cJSON_CreateArray(), *fpair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, str_float(r[q].ll));
            cJSON_AddItemToArray(pair, cJSON_CreateString(r[q].greedy ? "True" : "False"));
            cJSON_AddItemToArray(fpair, cJSON_Duplicate(pair, 1));
            cJSON_AddItemToArray(rs, pair);
            cJSON_AddItemToArray(fres, fpair->child ? cJSON_DetachItemViaPointer(fpair, fpair->child) : NULL);
            cJSON_Delete(fpair);
        }
    }
    cJSON_AddStringToObject(o, "filter", flt ? flt->name : "none");
    cJSON *names = cJSON_AddArrayToObject(o, "metrics"), *vals = cJSON_CreateObject();
    if (!rc)
        rc = doc_metrics(ts, it, r, flt, names, vals);
    struct le_buf db = {0};
    py_json(&db, doc, 2, 0);
    char h[65];
    hash_hex(db.p ? db.p : "", h);
    le_buf_free(&db);
    cJSON_AddStringToObject(o, "doc_hash", h);
    hash_hex(in->kind == LE_TASK_ROLLING ? it->req[0].continuation : it->req[0].context, h);
    cJSON_AddStringToObject(o, "prompt_hash", h);
    hash_hex(tgt, h);
    cJSON_AddStringToObject(o, "target_hash", h);
    while (vals->child) {
        cJSON *v = cJSON_DetachItemViaPointer(vals, vals->child);
        cJSON_AddItemToObject(o, v->string, v);
    }
    cJSON_Delete(vals);
    if (!rc) {
        py_json(out, o, 0, 0);
        le_buf_put(out, "\n", 1);
    }
    cJSON_Delete(o);
    free(tgt);
    return rc;
}

int le_task_sample_lines(const struct le_taskset *ts, int64_t d, int64_t doc_id, const struct le_rec *recs,
                         char **out) {
    *out = NULL;
    if (d < 0 || d >= ts->n_docs)
        return le_err_set(LE_EINVAL, "no document %lld", (long long)d);
    static const struct le_filter none = {.name = "none", .n_steps = 1, .steps = {{.kind = LE_F_TAKE_FIRST}}};
    const struct le_task_info *in = ts->info;
    int nf = in->kind == LE_TASK_GEN && in->n_filters > 0 ? in->n_filters : 1;
    struct le_buf b = {0};
    le_buf_put(&b, "", 0);
    int rc = LE_OK;
    for (int f = 0; f < nf && !rc; f++)
        rc = sample_line(ts, d, doc_id, recs, in->kind == LE_TASK_GEN && in->n_filters > 0 ? &in->filters[f] : &none, &b);
    if (!rc && b.oom)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    if (!rc)
        *out = le_buf_take(&b);
    le_buf_free(&b);
    return rc;
}
