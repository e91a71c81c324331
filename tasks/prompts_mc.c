/*
 * prompts_mc: the MMLU and RACE prompts, as lm-evaluation-harness 0.4.13
 * (commit 4e7e0d4) builds them.
 *
 * mmlu   lm_eval/tasks/mmlu/default/_default_template_yaml: doc_to_text
 *        "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC.
 *        {{choices[2]}}\nD. {{choices[3]}}\nAnswer:", doc_to_choice
 *        ["A", "B", "C", "D"], doc_to_target answer (an index); the
 *        description of each subject's YAML, "The following are multiple
 *        choice questions (with answers) about <subject, '_' -> ' '>.\n\n";
 *        few-shot first_n from the subject's dev split. The 57 subjects and
 *        the group of each (tag mmlu_<group>_tasks) are the table below.
 * race   lm_eval/tasks/race/preprocess_race.py: "Article: " + article +
 *        "\n\n", then each earlier problem of the article either as
 *        question[:-5] + its answer option + "\n" (a question ending in
 *        "  _  .") or "Question: q\nAnswer: option\n", then the last
 *        problem's question; choices its four options, gold its letter.
 */
#include "tasks_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_buf.h"  /* the RACE text */
#include "le_err.h"  /* le_err_set */
#include "le_text.h" /* le_py_space_len */

/* lm_eval/tasks/mmlu/default/mmlu_<subject>.yaml, "tag": mmlu_<group>_tasks. */
#define LE_MMLU_ROW(subject, group) {#subject, #group},
static const char *const mmlu_subjects[LE_MMLU_N_SUBJECTS][2] = {LE_MMLU_SUBJECTS(LE_MMLU_ROW)};
#undef LE_MMLU_ROW

const char *le_mmlu_subject(int i) { return i >= 0 && i < LE_MMLU_N_SUBJECTS ? mmlu_subjects[i][0] : NULL; }
const char *le_mmlu_category(int i) { return i >= 0 && i < LE_MMLU_N_SUBJECTS ? mmlu_subjects[i][1] : NULL; }

static int bad(const char *task, const char *field) {
    return le_err_set(LE_EFORMAT, "%s document without a valid \"%s\" field", task, field);
}

/* str.strip() with Python's whitespace (Unicode too), into a new string. */
static char *py_strip(const char *s) {
    size_t n = strlen(s), a = 0, k;
    while (a < n && (k = le_py_space_len(s + a, n - a)) > 0)
        a += k;
    size_t b = n;
    while (b > a) {
        size_t c = b - 1;
        while (c > a && ((unsigned char)s[c] & 0xC0) == 0x80)
            c--;
        if (le_py_space_len(s + c, b - c) != b - c)
            break;
        b = c;
    }
    return strndup(s + a, b - a);
}

static int prompt_init(struct le_prompt *p, int n_choices) {
    memset(p, 0, sizeof *p);
    p->gold = -1;
    p->group = -1;
    p->choices = calloc((size_t)n_choices, sizeof *p->choices);
    p->n_choices = n_choices;
    return p->choices ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
}

static int prompt_done(struct le_prompt *p) {
    int ok = p->query != NULL;
    for (int i = 0; i < p->n_choices; i++)
        ok = ok && p->choices[i];
    if (ok)
        return LE_OK;
    le_prompt_clear(p);
    return le_err_set(LE_ENOMEM, "out of memory");
}

int le_fmt_mmlu(const cJSON *doc, struct le_prompt *p) {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(doc, "question");
    const cJSON *subj = cJSON_GetObjectItemCaseSensitive(doc, "subject");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(doc, "choices");
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(doc, "answer");
    if (!cJSON_IsString(q))
        return bad("mmlu", "question");
    if (!cJSON_IsString(subj))
        return bad("mmlu", "subject");
    if (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) != 4)
        return bad("mmlu", "choices");
    for (int i = 0; i < 4; i++)
        if (!cJSON_IsString(cJSON_GetArrayItem(ch, i)))
            return bad("mmlu", "choices");
    int gold = -1;
    if (cJSON_IsNumber(ans) && ans->valuedouble >= 0 && ans->valuedouble <= 3 &&
        ans->valuedouble == (double)(int)ans->valuedouble)
        gold = (int)ans->valuedouble;
    else if (cJSON_IsString(ans) && strlen(ans->valuestring) == 1 && ans->valuestring[0] >= 'A' &&
             ans->valuestring[0] <= 'D')
        gold = ans->valuestring[0] - 'A';
    if (gold < 0)
        return bad("mmlu", "answer");
    int group = -1;
    for (int i = 0; i < LE_MMLU_N_SUBJECTS && group < 0; i++)
        if (!strcmp(subj->valuestring, mmlu_subjects[i][0]))
            group = i;
    if (group < 0)
        return le_err_set(LE_EFORMAT, "mmlu document: \"%s\" is not one of the 57 subjects", subj->valuestring);
    int rc = prompt_init(p, 4);
    if (rc)
        return rc;
    char *qs = py_strip(q->valuestring);
    if (qs && asprintf(&p->query, "%s\nA. %s\nB. %s\nC. %s\nD. %s\nAnswer:", qs,
                       cJSON_GetArrayItem(ch, 0)->valuestring, cJSON_GetArrayItem(ch, 1)->valuestring,
                       cJSON_GetArrayItem(ch, 2)->valuestring, cJSON_GetArrayItem(ch, 3)->valuestring) < 0)
        p->query = NULL;
    free(qs);
    static const char *const letters[4] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++)
        p->choices[i] = strdup(letters[i]);
    char name[64];
    snprintf(name, sizeof name, "%s", mmlu_subjects[group][0]);
    for (char *c = name; *c; c++)
        if (*c == '_')
            *c = ' ';
    if (asprintf(&p->description, "The following are multiple choice questions (with answers) about %s.\n\n",
                 name) < 0)
        p->description = NULL;
    p->gold = gold;
    p->group = group;
    if (!p->description) {
        le_prompt_clear(p);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    return prompt_done(p);
}

/* A RACE problem's answer letter as an index, or -1. */
static int race_letter(const cJSON *prob) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(prob, "answer");
    if (!cJSON_IsString(a) || strlen(a->valuestring) != 1 || a->valuestring[0] < 'A' || a->valuestring[0] > 'D')
        return -1;
    return a->valuestring[0] - 'A';
}

/* The problem's option at index k, or NULL. */
static const char *race_option(const cJSON *prob, int k) {
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(prob, "options"), k);
    return k >= 0 && cJSON_IsString(o) ? o->valuestring : NULL;
}

int le_fmt_race(const cJSON *doc, struct le_prompt *p) {
    const cJSON *art = cJSON_GetObjectItemCaseSensitive(doc, "article");
    const cJSON *probs = cJSON_GetObjectItemCaseSensitive(doc, "problems");
    if (!cJSON_IsString(art))
        return bad("race", "article");
    int np = cJSON_GetArraySize(probs);
    if (!cJSON_IsArray(probs) || np < 1)
        return bad("race", "problems");
    struct le_buf b = {0};
    le_buf_printf(&b, "Article: %s\n\n", art->valuestring);
    const cJSON *pr = probs->child;
    for (int i = 0; i < np - 1; i++, pr = pr->next) {
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(pr, "question");
        const char *opt = race_option(pr, race_letter(pr));
        if (!cJSON_IsString(q) || !opt) {
            le_buf_free(&b);
            return bad("race", "problems");
        }
        size_t lq = strlen(q->valuestring);
        if (lq >= 6 && !strcmp(q->valuestring + lq - 6, "  _  ."))
            le_buf_printf(&b, "%.*s%s\n", (int)(lq - 5), q->valuestring, opt);
        else
            le_buf_printf(&b, "Question: %s\nAnswer: %s\n", q->valuestring, opt);
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(pr, "question");
    int gold = race_letter(pr);
    if (!cJSON_IsString(q) || gold < 0 || !race_option(pr, 3)) {
        le_buf_free(&b);
        return bad("race", "problems");
    }
    le_buf_puts(&b, q->valuestring);
    int rc = prompt_init(p, 4);
    if (rc) {
        le_buf_free(&b);
        return rc;
    }
    p->query = b.oom ? NULL : le_buf_take(&b);
    le_buf_free(&b);
    for (int i = 0; i < 4; i++)
        p->choices[i] = strdup(race_option(pr, i));
    p->gold = gold;
    return prompt_done(p);
}
