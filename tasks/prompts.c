/*
 * prompts: lm-evaluation-harness's prompt formats, and items with few-shot
 * contexts.
 *
 * Each formatter turns one upstream-schema document (datasets/ returns the
 * fields of the original JSONL files; the HF copies' flattened field names
 * are accepted too) into doc_to_text / doc_to_choice / doc_to_target exactly
 * as lm-eval's task YAML for that set (lm_eval/tasks/<set>/<task>.yaml, version
 * in the registry):
 *   hellaswag   utils.process_docs: query = preprocess(activity_label + ": "
 *               + ctx_a + " " + ctx_b.capitalize()), choices =
 *               preprocess(endings); preprocess strips, " [title]" -> ". ",
 *               drops "[...]" (non-greedy), "  " -> " ".
 *   piqa        "Question: {goal}\nAnswer:", [sol1, sol2]
 *   arc_*       "Question: {question}\nAnswer:", choices.text,
 *               gold = choices.label.index(answerKey)
 *   openbookqa  question_stem, choices.text, index of answerKey.lstrip()
 *   winogrande  multiple input: contexts sentence[:_] + option, shared
 *               target sentence[_+1:].strip(), gold = answer - 1
 *   boolq       "{passage}\nQuestion: {question}?\nAnswer:", ["no", "yes"]
 *   siqa        "Q: {context} {question}\nA:", [answerA..C], label - 1
 *   lambada     text.split(' ')[:-1] joined, target ' ' + last word
 *
 * Items: the requests of each document, after lm-eval's fewshot_context:
 * k examples "q" + target_delimiter + answer + "\n\n" before the query,
 * drawn with one Python random.Random(fewshot_seed) sampled document by
 * document in order (the state carries over, as lm-eval's sampler does).
 * Continuations are target_delimiter + choice; choice lengths (characters,
 * bytes) are of the choice text alone, as acc_norm counts them.
 */
#include "le_tasks.h"
#include "le_buf.h"  /* struct le_buf: few-shot prefixes */
#include "le_text.h" /* le_py_space_byte */

#include <cjson/cJSON.h> /* upstream documents */
#include <ctype.h>
#include <errno.h>
#include <limits.h> /* INT_MIN, INT_MAX */
#include <math.h>   /* NAN, floor */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_err.h" /* le_err_set */

void le_prompt_clear(struct le_prompt *p) {
    if (!p)
        return;
    free(p->query);
    for (int i = 0; i < p->n_choices; i++)
        free(p->choices[i]);
    free(p->choices);
    free(p->target);
    for (int i = 0; i < p->n_targets; i++)
        free(p->targets[i]);
    free(p->targets);
    free(p->description);
    cJSON_Delete(p->doc);
    memset(p, 0, sizeof *p);
    p->gold = -1;
    p->group = -1;
}

/* ---- small string helpers ---- */

static char *xstrdup(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* str.strip() (ASCII whitespace) into a new string. */
static char *strip_dup(const char *s) {
    while (*s && le_py_space_byte((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && le_py_space_byte((unsigned char)s[n - 1]))
        n--;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* s.replace(from, to) (all non-overlapping, left to right); frees s. */
static char *replace_all(char *s, const char *from, const char *to) {
    if (!s)
        return NULL;
    size_t lf = strlen(from), lt = strlen(to), cnt = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + lf, from))
        cnt++;
    if (!cnt)
        return s;
    char *d = malloc(strlen(s) + cnt * (lt > lf ? lt - lf : 0) + 1), *o = d;
    if (!d) {
        free(s);
        return NULL;
    }
    const char *p = s, *q;
    while ((q = strstr(p, from))) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, lt);
        o += lt;
        p = q + lf;
    }
    strcpy(o, p);
    free(s);
    return d;
}

/* re.sub(r"\[.*?\]", "", s): '.' does not match a newline. Frees s. */
static char *drop_brackets(char *s) {
    if (!s)
        return NULL;
    char *o = s;
    for (const char *p = s; *p;) {
        if (*p == '[') {
            const char *q = p + 1;
            while (*q && *q != ']' && *q != '\n')
                q++;
            if (*q == ']') {
                p = q + 1;
                continue;
            }
        }
        *o++ = *p++;
    }
    *o = 0;
    return s;
}

/* lm-eval's hellaswag preprocess. Frees nothing; returns a new string. */
static char *hellaswag_preprocess(const char *text) {
    char *s = strip_dup(text);
    s = replace_all(s, " [title]", ". ");
    s = drop_brackets(s);
    s = replace_all(s, "  ", " ");
    return s;
}

/* str.capitalize() for ASCII: first character upper, the rest lower. */
static char *py_capitalize(const char *s) {
    char *d = xstrdup(s);
    if (!d)
        return NULL;
    for (size_t i = 0; d[i]; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c < 0x80)
            d[i] = (char)(i == 0 ? toupper(c) : tolower(c));
    }
    return d;
}

/* ---- field access on upstream documents ---- */

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integer label in lo..hi given as a number, a numeric string or a
 * boolean; 0 when absent, not an integer, or out of range. */
static int jlabel(const cJSON *o, const char *key, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    double x = NAN;
    if (cJSON_IsNumber(v))
        x = v->valuedouble;
    else if (cJSON_IsBool(v))
        x = cJSON_IsTrue(v);
    else if (cJSON_IsString(v) && v->valuestring[0]) {
        char *end;
        errno = 0;
        long long y = strtoll(v->valuestring, &end, 10);
        while (*end && le_py_space_byte((unsigned char)*end))
            end++;
        if (!*end && errno == 0 && end != v->valuestring)
            x = y >= INT_MIN && y <= INT_MAX ? (double)y : NAN;
    }
    if (!(x >= lo && x <= hi) || x != floor(x))
        return 0;
    *out = (int)x;
    return 1;
}

static int missing(const char *task, const char *field) {
    return le_err_set(LE_EFORMAT, "%s document without a valid \"%s\" field", task, field);
}

static int prompt_alloc(struct le_prompt *p, int n_choices) {
    memset(p, 0, sizeof *p);
    p->gold = -1;
    p->group = -1;
    p->choices = calloc((size_t)(n_choices > 0 ? n_choices : 1), sizeof *p->choices);
    if (!p->choices)
        return le_err_set(LE_ENOMEM, "out of memory");
    p->n_choices = n_choices;
    return LE_OK;
}

/* Checks that query/choices/target were allocated; frees on failure. */
static int prompt_check(struct le_prompt *p, int need_target) {
    int ok = p->query != NULL && (!need_target || p->target != NULL);
    for (int i = 0; i < p->n_choices; i++)
        ok = ok && p->choices[i] != NULL;
    if (ok)
        return LE_OK;
    le_prompt_clear(p);
    return le_err_set(LE_ENOMEM, "out of memory");
}

/* ---- formatters (lm_eval/tasks/<set>) ---- */

int le_fmt_hellaswag(const cJSON *doc, struct le_prompt *p);
int le_fmt_piqa(const cJSON *doc, struct le_prompt *p);
int le_fmt_arc(const cJSON *doc, struct le_prompt *p);
int le_fmt_openbookqa(const cJSON *doc, struct le_prompt *p);
int le_fmt_winogrande(const cJSON *doc, struct le_prompt *p);
int le_fmt_boolq(const cJSON *doc, struct le_prompt *p);
int le_fmt_siqa(const cJSON *doc, struct le_prompt *p);
int le_fmt_lambada(const cJSON *doc, struct le_prompt *p);

int le_fmt_hellaswag(const cJSON *doc, struct le_prompt *p) {
    const char *act = jstr(doc, "activity_label"), *a = jstr(doc, "ctx_a"), *b = jstr(doc, "ctx_b");
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(doc, "endings");
    int gold;
    if (!act || !a || !b)
        return missing("hellaswag", !act ? "activity_label" : !a ? "ctx_a" : "ctx_b");
    if (!cJSON_IsArray(end) || cJSON_GetArraySize(end) < 1)
        return missing("hellaswag", "endings");
    if (!jlabel(doc, "label", 0, cJSON_GetArraySize(end) - 1, &gold))
        return missing("hellaswag", "label");
    int n = cJSON_GetArraySize(end), rc = prompt_alloc(p, n);
    if (rc)
        return rc;
    char *cap = py_capitalize(b), *raw = cap ? xprintf("%s: %s %s", act, a, cap) : NULL;
    p->query = raw ? hellaswag_preprocess(raw) : NULL;
    free(cap);
    free(raw);
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(end, i);
        if (!cJSON_IsString(e)) {
            le_prompt_clear(p);
            return missing("hellaswag", "endings");
        }
        p->choices[i] = hellaswag_preprocess(e->valuestring);
    }
    p->gold = gold;
    return prompt_check(p, 0);
}

int le_fmt_piqa(const cJSON *doc, struct le_prompt *p) {
    const char *goal = jstr(doc, "goal"), *s1 = jstr(doc, "sol1"), *s2 = jstr(doc, "sol2");
    int gold;
    if (!goal || !s1 || !s2)
        return missing("piqa", !goal ? "goal" : !s1 ? "sol1" : "sol2");
    if (!jlabel(doc, "label", 0, 1, &gold))
        return missing("piqa", "label");
    int rc = prompt_alloc(p, 2);
    if (rc)
        return rc;
    p->query = xprintf("Question: %s\nAnswer:", goal);
    p->choices[0] = xstrdup(s1);
    p->choices[1] = xstrdup(s2);
    p->gold = gold;
    return prompt_check(p, 0);
}

/*
 * ARC / OpenBookQA choices: upstream {"question": {"stem", "choices": [{"text",
 * "label"}]}, "answerKey"}, or HF's {"question"|"question_stem", "choices":
 * {"text": [], "label": []}, "answerKey"}.
 */
static int qa_choices(const cJSON *doc, const char *task, const char *flat_q, int lstrip_key,
                      const char **stem, struct le_prompt *p) {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(doc, "question");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(doc, "choices");
    const char *key = jstr(doc, "answerKey");
    *stem = NULL;
    if (cJSON_IsObject(q)) {
        *stem = jstr(q, "stem");
        ch = cJSON_GetObjectItemCaseSensitive(q, "choices");
    } else
        *stem = jstr(doc, flat_q);
    if (!*stem)
        return missing(task, flat_q);
    if (!key)
        return missing(task, "answerKey");
    if (lstrip_key)
        while (*key && le_py_space_byte((unsigned char)*key))
            key++;
    const cJSON *texts = NULL, *labels = NULL;
    int n;
    if (cJSON_IsArray(ch))
        n = cJSON_GetArraySize(ch);
    else if (cJSON_IsObject(ch)) {
        texts = cJSON_GetObjectItemCaseSensitive(ch, "text");
        labels = cJSON_GetObjectItemCaseSensitive(ch, "label");
        if (!cJSON_IsArray(texts) || !cJSON_IsArray(labels) ||
            cJSON_GetArraySize(texts) != cJSON_GetArraySize(labels))
            return missing(task, "choices");
        n = cJSON_GetArraySize(texts);
    } else
        return missing(task, "choices");
    if (n < 1)
        return missing(task, "choices");
    int rc = prompt_alloc(p, n);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        const cJSON *t, *l;
        if (texts) {
            t = cJSON_GetArrayItem(texts, i);
            l = cJSON_GetArrayItem(labels, i);
        } else {
            const cJSON *c = cJSON_GetArrayItem(ch, i);
            t = cJSON_GetObjectItemCaseSensitive(c, "text");
            l = cJSON_GetObjectItemCaseSensitive(c, "label");
        }
        if (!cJSON_IsString(t) || !cJSON_IsString(l)) {
            le_prompt_clear(p);
            return missing(task, "choices");
        }
        p->choices[i] = xstrdup(t->valuestring);
        if (p->gold < 0 && !strcmp(l->valuestring, key))
            p->gold = i;
    }
    if (p->gold < 0) {
        le_prompt_clear(p);
        return le_err_set(LE_EFORMAT, "%s document: answerKey \"%s\" is not a choice label", task, key);
    }
    return LE_OK;
}

int le_fmt_arc(const cJSON *doc, struct le_prompt *p) {
    const char *stem;
    int rc = qa_choices(doc, "arc", "question", 0, &stem, p);
    if (rc)
        return rc;
    p->query = xprintf("Question: %s\nAnswer:", stem);
    return prompt_check(p, 0);
}

int le_fmt_openbookqa(const cJSON *doc, struct le_prompt *p) {
    const char *stem;
    int rc = qa_choices(doc, "openbookqa", "question_stem", 1, &stem, p);
    if (rc)
        return rc;
    p->query = xstrdup(stem);
    return prompt_check(p, 0);
}

int le_fmt_winogrande(const cJSON *doc, struct le_prompt *p) {
    const char *s = jstr(doc, "sentence"), *o1 = jstr(doc, "option1"), *o2 = jstr(doc, "option2");
    int ans;
    if (!s || !o1 || !o2)
        return missing("winogrande", !s ? "sentence" : !o1 ? "option1" : "option2");
    if (!jlabel(doc, "answer", 1, 2, &ans))
        return missing("winogrande", "answer");
    const char *us = strchr(s, '_');
    if (!us)
        return le_err_set(LE_EFORMAT, "winogrande sentence without a blank '_'");
    int rc = prompt_alloc(p, 2);
    if (rc)
        return rc;
    int idx = (int)(us - s);
    p->choices[0] = xprintf("%.*s%s", idx, s, o1);
    p->choices[1] = xprintf("%.*s%s", idx, s, o2);
    p->target = strip_dup(us + 1);
    p->query = xstrdup(s);
    p->gold = ans - 1;
    return prompt_check(p, 1);
}

int le_fmt_boolq(const cJSON *doc, struct le_prompt *p) {
    const char *passage = jstr(doc, "passage"), *q = jstr(doc, "question");
    int gold;
    if (!passage || !q)
        return missing("boolq", !passage ? "passage" : "question");
    if (!jlabel(doc, "label", 0, 1, &gold) && !jlabel(doc, "answer", 0, 1, &gold))
        return missing("boolq", "label");
    int rc = prompt_alloc(p, 2);
    if (rc)
        return rc;
    p->query = xprintf("%s\nQuestion: %s?\nAnswer:", passage, q);
    p->choices[0] = xstrdup("no");
    p->choices[1] = xstrdup("yes");
    p->gold = gold;
    return prompt_check(p, 0);
}

int le_fmt_siqa(const cJSON *doc, struct le_prompt *p) {
    const char *c = jstr(doc, "context"), *q = jstr(doc, "question");
    const char *a = jstr(doc, "answerA"), *b = jstr(doc, "answerB"), *cc = jstr(doc, "answerC");
    int label;
    if (!c || !q || !a || !b || !cc)
        return missing("siqa", !c ? "context" : !q ? "question" : "answerA/B/C");
    if (!jlabel(doc, "label", 1, 3, &label))
        return missing("siqa", "label");
    int rc = prompt_alloc(p, 3);
    if (rc)
        return rc;
    p->query = xprintf("Q: %s %s\nA:", c, q);
    p->choices[0] = xstrdup(a);
    p->choices[1] = xstrdup(b);
    p->choices[2] = xstrdup(cc);
    p->gold = label - 1;
    return prompt_check(p, 0);
}

int le_fmt_lambada(const cJSON *doc, struct le_prompt *p) {
    const char *t = jstr(doc, "text");
    if (!t)
        return missing("lambada", "text");
    int rc = prompt_alloc(p, 0);
    if (rc)
        return rc;
    const char *sp = strrchr(t, ' ');
    if (sp) {
        p->query = xprintf("%.*s", (int)(sp - t), t);
        p->target = xprintf(" %s", sp + 1);
    } else {
        p->query = xstrdup("");
        p->target = xprintf(" %s", t);
    }
    return prompt_check(p, 1);
}

/* ---- generate_until formatters (gsm8k, gsm8k_cot, triviaqa, nq_open) ---- */

int le_fmt_gsm8k(const cJSON *doc, struct le_prompt *p);
int le_fmt_gsm8k_cot(const cJSON *doc, struct le_prompt *p);
int le_fmt_triviaqa(const cJSON *doc, struct le_prompt *p);
int le_fmt_nq_open(const cJSON *doc, struct le_prompt *p);

/* Sets the prompt's targets from a JSON list of strings, or one string. */
static int targets_set(struct le_prompt *p, const cJSON *v, const char *task, const char *field) {
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : cJSON_IsString(v) ? 1 : 0;
    if (n < 1)
        return missing(task, field);
    p->targets = calloc((size_t)n, sizeof *p->targets);
    if (!p->targets)
        return le_err_set(LE_ENOMEM, "out of memory");
    p->n_targets = n;
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : v;
        if (!cJSON_IsString(x))
            return missing(task, field);
        if (!(p->targets[i] = xstrdup(x->valuestring)))
            return le_err_set(LE_ENOMEM, "out of memory");
    }
    return LE_OK;
}

static int gen_done(struct le_prompt *p, int rc) {
    if (!rc && !p->query)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    if (rc)
        le_prompt_clear(p);
    return rc;
}

/* gsm8k.yaml: "Question: {{question}}\nAnswer:", target {{answer}}. */
int le_fmt_gsm8k(const cJSON *doc, struct le_prompt *p) {
    const char *q = jstr(doc, "question");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, "answer");
    if (!q || !cJSON_IsString(a))
        return missing("gsm8k", !q ? "question" : "answer");
    int rc = prompt_alloc(p, 0);
    if (rc)
        return rc;
    p->query = xprintf("Question: %s\nAnswer:", q);
    return gen_done(p, targets_set(p, a, "gsm8k", "answer"));
}

/* gsm8k-cot.yaml: "Q: {{question}}\nA:", target answer.split('####')[-1]
 * .strip() (the few-shot samples carry "target" instead). */
int le_fmt_gsm8k_cot(const cJSON *doc, struct le_prompt *p) {
    const char *q = jstr(doc, "question"), *a = jstr(doc, "answer"), *t = jstr(doc, "target");
    if (!q || (!a && !t))
        return missing("gsm8k_cot", !q ? "question" : "answer");
    int rc = prompt_alloc(p, 0);
    if (rc)
        return rc;
    p->query = xprintf("Q: %s\nA:", q);
    char *tgt = NULL;
    if (a) {
        const char *last = a, *h;
        while ((h = strstr(last, "####")))
            last = h + 4;
        tgt = strip_dup(last);
    } else
        tgt = xstrdup(t);
    cJSON *v = tgt ? cJSON_CreateString(tgt) : NULL;
    free(tgt);
    rc = v ? targets_set(p, v, "gsm8k_cot", "answer") : le_err_set(LE_ENOMEM, "out of memory");
    cJSON_Delete(v);
    return gen_done(p, rc);
}

/* triviaqa/default.yaml: "Question: {{question}}?\nAnswer:", targets
 * answer.aliases (upstream: Question, Answer.Aliases). */
int le_fmt_triviaqa(const cJSON *doc, struct le_prompt *p) {
    const char *q = jstr(doc, "Question");
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(doc, "Answer"), *al = NULL;
    if (q)
        al = cJSON_GetObjectItemCaseSensitive(ans, "Aliases");
    else {
        q = jstr(doc, "question");
        al = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "answer"), "aliases");
    }
    if (!q)
        return missing("triviaqa", "Question");
    int rc = prompt_alloc(p, 0);
    if (rc)
        return rc;
    p->query = xprintf("Question: %s?\nAnswer:", q);
    return gen_done(p, targets_set(p, al, "triviaqa", "Answer.Aliases"));
}

/* nq_open.yaml: "Q: {{question}}?\nA:", targets {{answer}} (a list). */
int le_fmt_nq_open(const cJSON *doc, struct le_prompt *p) {
    const char *q = jstr(doc, "question");
    if (!q)
        return missing("nq_open", "question");
    int rc = prompt_alloc(p, 0);
    if (rc)
        return rc;
    p->query = xprintf("Q: %s?\nA:", q);
    return gen_done(p, targets_set(p, cJSON_GetObjectItemCaseSensitive(doc, "answer"), "nq_open", "answer"));
}

/* ---- items ---- */

static int req_set(struct le_request *q, char *context, char *continuation, int choice, int uncond,
                   const char *counted) {
    q->context = context;
    q->continuation = continuation;
    q->choice = choice;
    q->uncond = uncond;
    q->nchars = le_utf8_chars(counted);
    q->nbytes = (int64_t)strlen(counted);
    q->nwords = le_count_words(counted);
    if (!continuation)
        return le_err_set(LE_ENOMEM, "out of memory");
    return LE_OK;
}

/* The request list of one prompt, its context preceded by prefix. */
static int item_make(const struct le_task_info *info, const struct le_prompt *p, const char *prefix,
                     int uncond, struct le_item *it) {
    const char *d = info->target_delimiter ? info->target_delimiter : " ";
    int n = info->kind == LE_TASK_MC ? p->n_choices * (uncond && !info->multiple_input ? 2 : 1) : 1;
    if (info->kind == LE_TASK_MC && p->n_choices < 1)
        return le_err_set(LE_EFORMAT, "%s: a document without choices", info->name);
    it->kind = info->kind;
    it->group = p->group;
    it->n_choices = info->kind == LE_TASK_MC ? p->n_choices : 1;
    it->gold = info->kind == LE_TASK_MC ? p->gold : 0;
    it->req = calloc((size_t)n, sizeof *it->req);
    if (!it->req)
        return le_err_set(LE_ENOMEM, "out of memory");
    it->n_req = n;
    int rc = LE_OK;
    if (info->kind == LE_TASK_ROLLING)
        return req_set(&it->req[0], NULL, xstrdup(p->query), 0, 0, p->query);
    if (info->kind == LE_TASK_LL)
        return req_set(&it->req[0], xprintf("%s%s", prefix, p->query), xstrdup(p->target), 0, 0, p->target);
    if (info->kind == LE_TASK_GEN) {
        it->gen = &info->gen;
        if (p->n_targets < 1)
            return le_err_set(LE_EFORMAT, "%s: a document without a target", info->name);
        it->targets = calloc((size_t)p->n_targets, sizeof *it->targets);
        if (!it->targets)
            return le_err_set(LE_ENOMEM, "out of memory");
        it->n_targets = p->n_targets;
        for (int i = 0; i < p->n_targets; i++)
            if (!(it->targets[i] = xstrdup(p->targets[i])))
                return le_err_set(LE_ENOMEM, "out of memory");
        rc = req_set(&it->req[0], xprintf("%s%s", prefix, p->query), xstrdup(""), 0, 0, p->query);
        if (!rc && !it->req[0].context)
            rc = le_err_set(LE_ENOMEM, "out of memory");
        return rc;
    }
    for (int i = 0; i < p->n_choices && !rc; i++) {
        if (info->multiple_input)
            rc = req_set(&it->req[i], xprintf("%s%s", prefix, p->choices[i]), xprintf("%s%s", d, p->target),
                         i, 0, p->choices[i]);
        else
            rc = req_set(&it->req[i], xprintf("%s%s", prefix, p->query), xprintf("%s%s", d, p->choices[i]),
                         i, 0, p->choices[i]);
        if (!rc && !it->req[i].context)
            rc = le_err_set(LE_ENOMEM, "out of memory");
    }
    for (int i = 0; n > p->n_choices && i < p->n_choices && !rc; i++)
        rc = req_set(&it->req[p->n_choices + i], xstrdup("Answer:"), xprintf("%s%s", d, p->choices[i]), i, 1,
                     p->choices[i]);
    return rc;
}

/* One few-shot example: "q" + delimiter + answer + fewshot_delimiter
 * (build_qa_turn; a list of targets gives its first). */
static char *fewshot_example(const struct le_task_info *info, const struct le_prompt *p) {
    const char *d = info->target_delimiter ? info->target_delimiter : " ";
    const char *fd = info->fewshot_delimiter ? info->fewshot_delimiter : "\n\n";
    if (info->kind == LE_TASK_LL)
        return xprintf("%s%s%s%s", p->query, d, p->target, fd);
    if (info->kind == LE_TASK_GEN)
        return p->n_targets > 0 ? xprintf("%s%s%s%s", p->query, d, p->targets[0], fd) : NULL;
    if (p->gold < 0 || p->gold >= p->n_choices)
        return NULL;
    if (info->multiple_input)
        return xprintf("%s%s%s%s", p->choices[p->gold], d, p->target, fd);
    return xprintf("%s%s%s%s", p->query, d, p->choices[p->gold], fd);
}

void le_items_free(struct le_item *items, int64_t n) {
    if (!items)
        return;
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < items[i].n_req; k++) {
            free(items[i].req[k].context);
            free(items[i].req[k].continuation);
        }
        free(items[i].req);
        for (int k = 0; k < items[i].n_targets; k++)
            free(items[i].targets[k]);
        free(items[i].targets);
    }
    free(items);
}

/* lm-eval's FirstNSampler: the first k pool documents (of the same
 * sub-task when the task has groups), the evaluated one left out. */
static int fewshot_first_n(const struct le_task_info *info, const struct le_prompt *p, const struct le_prompt *pool,
                           int64_t n_pool, int64_t self, int k, struct le_buf *prefix) {
    int taken = 0, rc = LE_OK;
    for (int64_t i = 0; i < n_pool && taken < k && !rc; i++) {
        if (i == self || (info->n_groups > 0 && pool[i].group != p->group))
            continue;
        char *ex = fewshot_example(info, &pool[i]);
        if (ex)
            le_buf_puts(prefix, ex);
        else
            rc = le_err_set(LE_EFORMAT, "%s: few-shot document %lld has no gold answer", info->name, (long long)i);
        free(ex);
        taken++;
    }
    if (!rc && taken < k)
        rc = le_err_set(LE_EINVAL, "%s: %d-shot needs %d few-shot documents, the pool has %d", info->name, k, k,
                        taken);
    return rc;
}

int le_items_build(const struct le_task_info *info, const struct le_prompt *prompts, int64_t n,
                   const struct le_prompt *pool, int64_t n_pool, int pool_is_eval, int num_fewshot,
                   uint64_t fewshot_seed, int uncond, struct le_item **out) {
    *out = NULL;
    if (num_fewshot > 0 && info->kind == LE_TASK_ROLLING)
        return le_err_set(LE_EINVAL, "%s is a perplexity task: --num-fewshot must be 0", info->name);
    int excl = pool_is_eval && !info->fewshot_keep_self; /* the evaluated document is left out */
    int64_t need = num_fewshot + (excl ? 1 : 0);
    if (num_fewshot > 0 && !info->fewshot_first_n && (!pool || n_pool < need))
        return le_err_set(LE_EINVAL, "%s: %d-shot needs %lld few-shot documents, the pool has %lld", info->name,
                          num_fewshot, (long long)need, (long long)(pool ? n_pool : 0));
    struct le_item *items = calloc((size_t)(n > 0 ? n : 1), sizeof *items);
    int64_t *pick = malloc((size_t)(need > 0 ? need : 1) * sizeof *pick);
    if (!items || !pick) {
        free(items);
        free(pick);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    struct le_pyrandom g;
    le_pyrandom_seed(&g, fewshot_seed);
    int rc = LE_OK;
    for (int64_t d = 0; d < n && !rc; d++) {
        struct le_buf prefix = {0};
        const char *desc = prompts[d].description ? prompts[d].description : info->description;
        le_buf_put(&prefix, "", 0);
        le_buf_puts(&prefix, desc);
        if (num_fewshot > 0 && info->fewshot_first_n)
            rc = fewshot_first_n(info, &prompts[d], pool, n_pool, excl ? d : -1, num_fewshot, &prefix);
        else if (num_fewshot > 0) {
            rc = le_pyrandom_sample(&g, n_pool, need, pick);
            int taken = 0;
            for (int64_t k = 0; k < need && !rc && taken < num_fewshot; k++) {
                if (excl && pick[k] == d)
                    continue; /* rm_eval_doc */
                char *ex = fewshot_example(info, &pool[pick[k]]);
                if (ex)
                    le_buf_puts(&prefix, ex);
                else
                    rc = le_err_set(LE_EFORMAT, "%s: few-shot document %lld has no gold answer", info->name,
                                    (long long)pick[k]);
                free(ex);
                taken++;
            }
        }
        if (!rc && prefix.oom)
            rc = le_err_set(LE_ENOMEM, "out of memory");
        if (!rc)
            rc = item_make(info, &prompts[d], prefix.p, uncond, &items[d]);
        le_buf_free(&prefix);
    }
    free(pick);
    if (rc) {
        le_items_free(items, n);
        return rc;
    }
    *out = items;
    return LE_OK;
}
