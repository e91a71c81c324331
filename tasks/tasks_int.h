/*
 * tasks_int: what the files of tasks/ share beyond le_tasks.h (private):
 * the runner's insides, so that generate.c drives the same KV cache as the
 * loglikelihood requests (a few-shot preamble is evaluated once for both).
 */
#ifndef LE_TASKS_INT_H
#define LE_TASKS_INT_H

#include "le_tasks.h"

struct le_runner {
    struct le_model *model;
    struct le_ctx *ctx;
    const struct le_tok *tok;
    int n_ctx, n_batch, add_bos;
    int64_t n_vocab;
    int32_t prefix;
    int32_t *cached; /* (n_ctx) tokens whose keys/values the cache holds */
    int64_t n_cached;
    int32_t *inp;    /* (n_ctx + 1) scratch: the request's input */
    struct le_runner_stats st;
};


/* Makes the cache hold tokens[0..n) (n >= 1), evaluating only what differs
 * from what it holds, and computes the logits of position n-1 (returned
 * through le_ctx_logits' last row: *row). Counts into the stats. */
int le_runner_prefill(struct le_runner *r, const int32_t *tokens, int64_t n, const float **row);

/* MMLU's 57 subjects (prompts_mc.c): name and lm-eval group, by index. */
enum { LE_MMLU_N_SUBJECTS = 57 };
const char *le_mmlu_subject(int i);
const char *le_mmlu_category(int i);
struct cJSON;
int le_fmt_mmlu(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_race(const struct cJSON *doc, struct le_prompt *p);

#endif
