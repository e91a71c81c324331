/*
 * sets_mc: the two sets spread over many members of one archive, read in one
 * pass over it (libarchive) and turned into the documents lm-eval evaluates.
 *
 * MMLU (Hendrycks' data.tar): data/<split>/<subject>_<split>.csv, no header,
 * rows question,A,B,C,D,answer-letter, read as Python's csv module reads them
 * (Hugging Face's hendrycks_test script: csv.reader over the member's lines,
 * {"question": row[0], "choices": row[1:5], "answer": row[5]} with answer a
 * ClassLabel A-D -> 0-3). The rows get cais/mmlu's field order (question,
 * subject, choices, answer); subjects in name order (lm-eval loads one
 * subject per task; our single mmlu task keeps them in its table's order).
 *
 * RACE (RACE.tar.gz): RACE/<split>/<level>/<n>.txt, one JSON object per
 * article. Hugging Face's race script walks the files in sorted path order
 * and yields one row per question; lm-eval's EleutherAI/race documents are
 * those rows grouped by article text in first-seen order (lm-eval 0.3's
 * RACE._collate_data, lm_eval/tasks/race.py), problems {"question",
 * "answer", "options"} in row order. Here "problems" is a JSON list (the
 * EleutherAI/race copy stores its Python repr as a string; the prompt is the
 * same).
 */
#include "le_ds_internal.h"

#include "le_err.h" /* le_err_set */

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- MMLU ---- */

struct mmlu_part {
    char *subject;
    cJSON *rows;
};

struct mmlu_acc {
    size_t lp, ls;
    struct mmlu_part *parts;
    int n, cap;
};

static int mmlu_member(void *ud, const char *name, const char *buf, size_t n) {
    struct mmlu_acc *a = ud;
    static const char *const cols[6] = {"question", "A", "B", "C", "D", "answer"};
    size_t l = strlen(name);
    cJSON *rows = NULL;
    int rc = le_ds_read_csv_cols(buf, n, name, cols, 6, &rows);
    if (rc)
        return rc;
    char *subject = strndup(name + a->lp, l - a->lp - a->ls);
    cJSON *docs = cJSON_CreateArray();
    if (!subject || !docs)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    int line = 0;
    for (cJSON *r = rows ? rows->child : NULL; r && !rc; r = r->next) {
        line++;
        const char *ans = cJSON_GetObjectItemCaseSensitive(r, "answer")->valuestring;
        if (strlen(ans) != 1 || ans[0] < 'A' || ans[0] > 'D') {
            rc = le_err_set(LE_EFORMAT, "%s: record %d: answer \"%s\" is not A, B, C or D", name, line, ans);
            break;
        }
        cJSON *d = cJSON_CreateObject(), *ch = cJSON_CreateArray();
        cJSON_AddItemToArray(docs, d);
        cJSON_AddItemToObject(d, "question", cJSON_DetachItemFromObjectCaseSensitive(r, "question"));
        cJSON_AddStringToObject(d, "subject", subject);
        for (int k = 1; k <= 4; k++)
            cJSON_AddItemToArray(ch, cJSON_DetachItemFromObjectCaseSensitive(r, cols[k]));
        cJSON_AddItemToObject(d, "choices", ch);
        cJSON_AddNumberToObject(d, "answer", ans[0] - 'A');
    }
    cJSON_Delete(rows);
    if (!rc && a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 64;
        struct mmlu_part *np = realloc(a->parts, (size_t)cap * sizeof *np);
        if (!np)
            rc = le_err_set(LE_ENOMEM, "out of memory");
        else {
            a->parts = np;
            a->cap = cap;
        }
    }
    if (rc) {
        free(subject);
        cJSON_Delete(docs);
        return rc;
    }
    a->parts[a->n++] = (struct mmlu_part){subject, docs};
    return LE_OK;
}

static int mmlu_part_cmp(const void *x, const void *y) {
    return strcmp(((const struct mmlu_part *)x)->subject, ((const struct mmlu_part *)y)->subject);
}

int le_ds_read_mmlu(const char *archive, const char *folder, cJSON **out) {
    /* "data/val/" -> members data/val/<subject>_val.csv */
    size_t lf = strlen(folder);
    const char *e = lf > 1 ? folder + lf - 1 : folder, *b = e;
    while (b > folder && b[-1] != '/')
        b--;
    char suffix[64];
    snprintf(suffix, sizeof suffix, "_%.*s.csv", (int)(e - b), b);
    struct mmlu_acc a = {.lp = lf, .ls = strlen(suffix)};
    int rc = le_ds_archive_each(archive, folder, suffix, mmlu_member, &a);
    if (!rc && a.n == 0)
        rc = le_err_set(LE_ENOTFOUND, "%s has no member %s<subject>%s", archive, folder, suffix);
    if (a.n > 1)
        qsort(a.parts, (size_t)a.n, sizeof *a.parts, mmlu_part_cmp);
    cJSON *all = rc ? NULL : cJSON_CreateArray();
    if (!rc && !all)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < a.n; i++) {
        while (all && a.parts[i].rows->child)
            cJSON_AddItemToArray(all, cJSON_DetachItemViaPointer(a.parts[i].rows, a.parts[i].rows->child));
        cJSON_Delete(a.parts[i].rows);
        free(a.parts[i].subject);
    }
    free(a.parts);
    if (rc)
        return rc;
    *out = all;
    return LE_OK;
}

/* ---- RACE ---- */

struct race_file {
    char *name;
    cJSON *obj;
};

struct race_acc {
    struct race_file *f;
    int n, cap;
};

static int race_member(void *ud, const char *name, const char *buf, size_t n) {
    struct race_acc *a = ud;
    cJSON *o = cJSON_ParseWithLength(buf, n);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return le_err_set(LE_EFORMAT, "%s: not a JSON object", name);
    }
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 256;
        struct race_file *nf = realloc(a->f, (size_t)cap * sizeof *nf);
        if (!nf) {
            cJSON_Delete(o);
            return le_err_set(LE_ENOMEM, "out of memory");
        }
        a->f = nf;
        a->cap = cap;
    }
    char *nm = strdup(name);
    if (!nm) {
        cJSON_Delete(o);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    a->f[a->n++] = (struct race_file){nm, o};
    return LE_OK;
}

static int race_file_cmp(const void *x, const void *y) {
    return strcmp(((const struct race_file *)x)->name, ((const struct race_file *)y)->name);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* One article file's questions appended to the documents; by article text
 * (tab: open addressing over indices + 1 into dv, size cap, a power of two). */
static int race_add(const struct race_file *f, cJSON *docs, cJSON **dv, int64_t *tab, int64_t cap, int64_t *n_docs) {
    const cJSON *o = f->obj;
    const cJSON *art = cJSON_GetObjectItemCaseSensitive(o, "article");
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(o, "questions");
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(o, "answers");
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(o, "options");
    int nq = cJSON_GetArraySize(qs);
    if (!cJSON_IsString(art) || !cJSON_IsArray(qs) || !cJSON_IsArray(as) || !cJSON_IsArray(os) ||
        cJSON_GetArraySize(as) != nq || cJSON_GetArraySize(os) != nq)
        return le_err_set(LE_EFORMAT, "%s: expected \"article\" and aligned \"questions\", \"answers\", \"options\"",
                          f->name);
    uint64_t h = fnv1a(art->valuestring);
    int64_t slot = (int64_t)(h & (uint64_t)(cap - 1));
    cJSON *doc = NULL;
    while (tab[slot]) {
        cJSON *d = dv[tab[slot] - 1];
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(d, "article")->valuestring, art->valuestring)) {
            doc = d;
            break;
        }
        slot = (slot + 1) & (cap - 1);
    }
    if (!doc) {
        doc = cJSON_CreateObject();
        cJSON_AddItemToArray(docs, doc);
        cJSON_AddStringToObject(doc, "article", art->valuestring);
        cJSON_AddArrayToObject(doc, "problems");
        dv[*n_docs] = doc;
        tab[slot] = ++*n_docs;
    }
    cJSON *probs = cJSON_GetObjectItemCaseSensitive(doc, "problems");
    for (int i = 0; i < nq; i++) {
        const cJSON *q = cJSON_GetArrayItem(qs, i), *ans = cJSON_GetArrayItem(as, i);
        const cJSON *opt = cJSON_GetArrayItem(os, i);
        if (!cJSON_IsString(q) || !cJSON_IsString(ans) || !cJSON_IsArray(opt))
            return le_err_set(LE_EFORMAT, "%s: question %d is not a question, answer and options", f->name, i);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToArray(probs, p);
        cJSON_AddStringToObject(p, "question", q->valuestring);
        cJSON_AddStringToObject(p, "answer", ans->valuestring);
        cJSON_AddItemToObject(p, "options", cJSON_Duplicate(opt, 1));
    }
    return LE_OK;
}

int le_ds_read_race(const char *archive, const char *folder, cJSON **out) {
    struct race_acc a = {0};
    int rc = le_ds_archive_each(archive, folder, ".txt", race_member, &a);
    if (!rc && a.n == 0)
        rc = le_err_set(LE_ENOTFOUND, "%s has no member %s*.txt", archive, folder);
    if (a.n > 1)
        qsort(a.f, (size_t)a.n, sizeof *a.f, race_file_cmp);
    int64_t cap = 16;
    while (cap < 2 * (int64_t)a.n)
        cap *= 2;
    int64_t *tab = rc ? NULL : calloc((size_t)cap, sizeof *tab), n_docs = 0;
    cJSON **dv = rc ? NULL : calloc((size_t)a.n + 1, sizeof *dv);
    cJSON *docs = rc ? NULL : cJSON_CreateArray();
    if (!rc && (!tab || !dv || !docs))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < a.n && !rc; i++)
        rc = race_add(&a.f[i], docs, dv, tab, cap, &n_docs);
    for (int i = 0; i < a.n; i++) {
        cJSON_Delete(a.f[i].obj);
        free(a.f[i].name);
    }
    free(a.f);
    free(tab);
    free(dv);
    if (rc) {
        cJSON_Delete(docs);
        return rc;
    }
    *out = docs;
    return LE_OK;
}
