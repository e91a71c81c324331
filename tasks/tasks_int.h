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

/* A generate_until context as le_runner_generate encodes it (BOS as the
 * runner adds it; an empty context is the prefix token); *t freed by the
 * caller (le_toks_free). */
int le_runner_gen_encode(const struct le_runner *r, const char *context, struct le_toks *t);

/* The built-in Brown tasks' generators (le_task_info.generate; brown_tasks.c). */
int le_brown_gen_ppl(const struct le_task_opts *o, struct le_prompt **eval, int64_t *n_eval,
                     struct le_prompt **pool, int64_t *n_pool);
int le_brown_gen_cloze(const struct le_task_opts *o, struct le_prompt **eval, int64_t *n_eval,
                       struct le_prompt **pool, int64_t *n_pool);
int le_brown_gen_swap(const struct le_task_opts *o, struct le_prompt **eval, int64_t *n_eval,
                      struct le_prompt **pool, int64_t *n_pool);

/* A record's ll, sumsq, ntok and greedy from a loglikelihood result (mc.c). */
void le_rec_set_ll(struct le_rec *c, const struct le_ll_result *res);

/* llama.cpp's perplexity chunk (ppl.c): evaluates chunk[0..ctx) on c batch
 * by batch and calls row(ud, position, logits) for each scored position
 * (ctx/2 .. ctx-2) in order; stops at row's first error. */
struct le_ctx;
int le_ppl_chunk_rows(struct le_ctx *c, const int32_t *chunk, int ctx,
                      int (*row)(void *ud, int pos, const float *logits), void *ud);
/* MMLU's 57 subjects and the group of each (the "tag" mmlu_<group>_tasks of
 * lm_eval/tasks/mmlu/default/mmlu_<subject>.yaml), in name order: X(subject,
 * group) per subject. prompts_mc.c builds its table and registry.c the
 * mmlu_<subject> tasks from this one list. */
#define LE_MMLU_SUBJECTS(X) \
    X(abstract_algebra, stem) X(anatomy, stem) X(astronomy, stem) X(business_ethics, other) \
    X(clinical_knowledge, other) X(college_biology, stem) X(college_chemistry, stem) \
    X(college_computer_science, stem) X(college_mathematics, stem) X(college_medicine, other) \
    X(college_physics, stem) X(computer_security, stem) X(conceptual_physics, stem) \
    X(econometrics, social_sciences) X(electrical_engineering, stem) X(elementary_mathematics, stem) \
    X(formal_logic, humanities) X(global_facts, other) X(high_school_biology, stem) \
    X(high_school_chemistry, stem) X(high_school_computer_science, stem) \
    X(high_school_european_history, humanities) X(high_school_geography, social_sciences) \
    X(high_school_government_and_politics, social_sciences) X(high_school_macroeconomics, social_sciences) \
    X(high_school_mathematics, stem) X(high_school_microeconomics, social_sciences) X(high_school_physics, stem) \
    X(high_school_psychology, social_sciences) X(high_school_statistics, stem) \
    X(high_school_us_history, humanities) X(high_school_world_history, humanities) X(human_aging, other) \
    X(human_sexuality, social_sciences) X(international_law, humanities) X(jurisprudence, humanities) \
    X(logical_fallacies, humanities) X(machine_learning, stem) X(management, other) X(marketing, other) \
    X(medical_genetics, other) X(miscellaneous, other) X(moral_disputes, humanities) \
    X(moral_scenarios, humanities) X(nutrition, other) X(philosophy, humanities) X(prehistory, humanities) \
    X(professional_accounting, other) X(professional_law, humanities) X(professional_medicine, other) \
    X(professional_psychology, social_sciences) X(public_relations, social_sciences) \
    X(security_studies, social_sciences) X(sociology, social_sciences) X(us_foreign_policy, social_sciences) \
    X(virology, other) X(world_religions, humanities)
/* MMLU's 57 subjects (prompts_mc.c): name and lm-eval group, by index. */
enum { LE_MMLU_N_SUBJECTS = 57 };
const char *le_mmlu_subject(int i);
const char *le_mmlu_category(int i);
struct cJSON;
int le_fmt_mmlu(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_race(const struct cJSON *doc, struct le_prompt *p);

#endif
