/*
 * registry: the one table of tasks, and le_task_load (documents -> items).
 *
 * A task is a row: its dataset and splits as lm-eval's YAML names them
 * (the evaluated split is test_split when the YAML has one, else
 * validation_split; few-shot examples come from training_split), the
 * lm-eval version, the output kind, the formatter (prompts.c) or generator
 * (brown_tasks.c), and the metrics reported. Adding a task = adding a row
 * (and a formatter when its prompt is new). A second table holds the parts
 * of a task that lm-eval names as tasks of their own (mmlu_stem, ...,
 * mmlu_<subject>): the same row restricted to their documents (.part),
 * found by name but listed apart.
 */
#include "tasks_int.h" /* the MMLU subjects, le_fmt_mmlu, le_fmt_race */

#include <cjson/cJSON.h> /* documents from le_ds_load */
#include <stdio.h>        /* snprintf */
#include <stdlib.h>
#include <string.h>

#include "le_datasets.h" /* le_ds_load */
#include "le_err.h"      /* le_err_set */
#include "tasks_int.h"   /* le_brown_gen_* */

/* Formatters (prompts.c); the generators (brown_tasks.c) are in tasks_int.h. */
int le_fmt_hellaswag(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_piqa(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_arc(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_openbookqa(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_winogrande(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_boolq(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_siqa(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_lambada(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_gsm8k(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_gsm8k_cot(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_triviaqa(const struct cJSON *doc, struct le_prompt *p);
int le_fmt_nq_open(const struct cJSON *doc, struct le_prompt *p);

#define MC_ALL (LE_M_ACC | LE_M_ACC_NORM | LE_M_ACC_BYTES | LE_M_ACC_TOK)

/* generate_until tasks, as lm-eval 0.4.13's YAMLs (lm_eval/tasks/gsm8k/
 * gsm8k.yaml and gsm8k-cot.yaml, triviaqa/default.yaml, nq_open/nq_open.yaml):
 * until, filter_list and the exact_match options copied from them. */
#define GSM8K_EM                                                                                         \
    {.ignore_case = 1, .n_regexes = 4, .regexes_to_ignore = {",", "\\$", "(?s).*#### ", "\\.$"}}
#define FLEXIBLE_EXTRACT                                                                                 \
    {.name = "flexible-extract", .n_steps = 2,                                                           \
     .steps = {{.kind = LE_F_REGEX, .pattern = "(-?[$0-9.,]{2,})|(-?[0-9]+)", .group_select = -1},       \
               {.kind = LE_F_TAKE_FIRST}}}
#define REMOVE_WHITESPACE \
    {.name = "remove_whitespace", .n_steps = 2, .steps = {{.kind = LE_F_REMOVE_WS}, {.kind = LE_F_TAKE_FIRST}}}
#define QA_UNTIL {.until = {"\n", ".", ","}, .n_until = 3}
#define QA_GEN_KWARGS "{\"until\": [\"\\n\", \".\", \",\"], \"do_sample\": false, \"temperature\": 0.0}"

/* gsm8k-cot.yaml's fewshot_config.samples (Wei et al. 2022, "Chain-of-Thought
 * Prompting Elicits Reasoning in Large Language Models", the prompt lm-eval cites). */
static const char gsm8k_cot_samples[] =
    "["
    "{\"question\": \"There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?\", \"target\": \"There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6.\"},"
    "{\"question\": \"If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?\", \"target\": \"There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.\"},"
    "{\"question\": \"Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?\", \"target\": \"Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The answer is 39.\"},"
    "{\"question\": \"Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?\", \"target\": \"Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The answer is 8.\"},"
    "{\"question\": \"Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?\", \"target\": \"Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The answer is 9.\"},"
    "{\"question\": \"There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?\", \"target\": \"There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.\"},"
    "{\"question\": \"Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?\", \"target\": \"Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.\"},"
    "{\"question\": \"Olivia has $23. She bought five bagels for $3 each. How much money does she have left?\", \"target\": \"Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.\"}"
    "]";

/* What every MMLU task (the whole, a group, a subject) shares. */
#define MMLU_FIELDS                                                                                          \
    .dataset = "mmlu", .eval_split = "test", .fewshot_split = "dev", .kind = LE_TASK_MC, .target_delimiter = " ", \
    .metrics = LE_M_ACC, .format = le_fmt_mmlu, .default_fewshot = 5, .fewshot_first_n = 1,                     \
    .group_name = le_mmlu_subject, .group_parent = le_mmlu_category, .subtask_prefix = "mmlu"

static const struct le_task_info le_tasks[] = {
    {.name = "hellaswag", .dataset = "hellaswag", .eval_split = "validation", .fewshot_split = "train",
     .version = 1.0, .kind = LE_TASK_MC, .target_delimiter = " ", .metrics = MC_ALL, .format = le_fmt_hellaswag},
    {.name = "piqa", .dataset = "piqa", .eval_split = "validation", .fewshot_split = "train",
     .version = 1.0, .kind = LE_TASK_MC, .target_delimiter = " ", .metrics = MC_ALL, .format = le_fmt_piqa},
    {.name = "arc_easy", .dataset = "arc_easy", .eval_split = "test", .fewshot_split = "train",
     .version = 1.0, .kind = LE_TASK_MC, .target_delimiter = " ", .metrics = MC_ALL, .format = le_fmt_arc},
    {.name = "arc_challenge", .dataset = "arc_challenge", .eval_split = "test", .fewshot_split = "train",
     .version = 1.0, .kind = LE_TASK_MC, .target_delimiter = " ", .metrics = MC_ALL, .format = le_fmt_arc},
    {.name = "winogrande", .dataset = "winogrande", .eval_split = "validation", .fewshot_split = "train",
     .version = 1.0, .kind = LE_TASK_MC, .multiple_input = 1, .target_delimiter = " ", .metrics = LE_M_ACC,
     .format = le_fmt_winogrande},
    {.name = "boolq", .dataset = "boolq", .eval_split = "validation", .fewshot_split = "train",
     .version = 2.0, .kind = LE_TASK_MC, .uncond_default = 1, .target_delimiter = " ", .metrics = MC_ALL,
     .format = le_fmt_boolq},
    {.name = "openbookqa", .dataset = "openbookqa", .eval_split = "test", .fewshot_split = "train",
     .version = 1.0, .kind = LE_TASK_MC, .uncond_default = 1, .target_delimiter = " ", .metrics = MC_ALL,
     .format = le_fmt_openbookqa},
    {.name = "siqa", .dataset = "siqa", .eval_split = "validation", .fewshot_split = "train",
     .version = 0.0, .kind = LE_TASK_MC, .target_delimiter = " ", .metrics = MC_ALL, .format = le_fmt_siqa},
    /* lambada_openai.yaml names no fewshot_split: lm-eval samples examples
     * from the test split without leaving the evaluated document out. */
    {.name = "lambada_openai", .dataset = "lambada_openai", .eval_split = "test", .fewshot_split = "test",
     .version = 1.0, .kind = LE_TASK_LL, .target_delimiter = " ", .metrics = LE_M_PERPLEXITY | LE_M_LL_ACC,
     .format = le_fmt_lambada, .fewshot_keep_self = 1},
    {.name = "gsm8k", .dataset = "gsm8k", .eval_split = "test", .fewshot_split = "train", .version = 3.0,
     .kind = LE_TASK_GEN, .target_delimiter = " ", .metrics = LE_M_EXACT, .format = le_fmt_gsm8k,
     .default_fewshot = 5, .gen = {.until = {"Question:", "</s>", "<|im_end|>"}, .n_until = 3}, .n_filters = 2,
     .gen_kwargs_json =
         "{\"until\": [\"Question:\", \"</s>\", \"<|im_end|>\"], \"do_sample\": false, \"temperature\": 0.0}",
     .filters = {{.name = "strict-match", .n_steps = 2,
                  .steps = {{.kind = LE_F_REGEX, .pattern = "#### (\\-?[0-9\\.\\,]+)"}, {.kind = LE_F_TAKE_FIRST}}},
                 FLEXIBLE_EXTRACT},
     .em = GSM8K_EM},
    {.name = "gsm8k_cot", .dataset = "gsm8k", .eval_split = "test", .version = 3.0, .kind = LE_TASK_GEN,
     .target_delimiter = " ", .metrics = LE_M_EXACT, .format = le_fmt_gsm8k_cot, .default_fewshot = 8,
     .fewshot_first_n = 1, .fewshot_docs_json = gsm8k_cot_samples,
     .gen = {.until = {"Q:", "</s>", "<|im_end|>"}, .n_until = 3}, .n_filters = 2,
     .gen_kwargs_json = "{\"do_sample\": false, \"until\": [\"Q:\", \"</s>\", \"<|im_end|>\"]}",
     .filters = {{.name = "strict-match", .n_steps = 2,
                  .steps = {{.kind = LE_F_REGEX, .pattern = "The answer is (\\-?[0-9\\.\\,]+)."},
                            {.kind = LE_F_TAKE_FIRST}}},
                 FLEXIBLE_EXTRACT},
     .em = GSM8K_EM},
    {.name = "triviaqa", .dataset = "triviaqa", .eval_split = "validation", .fewshot_split = "train",
     .version = 3.0, .kind = LE_TASK_GEN, .target_delimiter = " ", .metrics = LE_M_EXACT,
     .format = le_fmt_triviaqa, .target_is_list = 1, .gen = QA_UNTIL,
     .gen_kwargs_json = QA_GEN_KWARGS, .n_filters = 1, .filters = {REMOVE_WHITESPACE},
     .em = {.ignore_case = 1, .ignore_punctuation = 1}},
    {.name = "nq_open", .dataset = "nq_open", .eval_split = "validation", .fewshot_split = "train",
     .version = 4.0, .kind = LE_TASK_GEN, .target_delimiter = " ", .fewshot_delimiter = "\n",
     .description = "Answer these questions:\n\n", .metrics = LE_M_EXACT, .format = le_fmt_nq_open,
     .target_is_list = 1, .gen = QA_UNTIL, .gen_kwargs_json = QA_GEN_KWARGS, .n_filters = 1,
     .filters = {REMOVE_WHITESPACE}, .em = {.ignore_case = 1, .ignore_punctuation = 1, .n_regexes = 1,
            .regexes_to_ignore = {"\\b(?:The |the |An |A |The |a |an )"}}},
    /* mmlu: lm-eval's mmlu group (lm_eval/tasks/mmlu/default) as one task:
     * its 57 subjects are sub-tasks (reported as mmlu_<subject>), averaged
     * into the groups stem, humanities, social_sciences, other and mmlu
     * weighted by size (_mmlu*.yaml aggregate_metric_list); few-shot
     * first_n from each subject's dev split. The YAML sets no num_fewshot
     * (lm-eval runs 0-shot unless told); 5 is the default here, as in the
     * MMLU paper and the LLaMA paper's Table 9. Its groups and subjects on
     * their own are in le_task_parts below. Version 2: _mmlu.yaml's
     * metadata.version (the subjects' own, 1.0, is their template's). */
    {.name = "mmlu", .version = 2.0, MMLU_FIELDS, .n_groups = LE_MMLU_N_SUBJECTS},
    /* race: lm_eval/tasks/race/race.yaml (EleutherAI/race "high", test
     * split, no few-shot split: examples come from the test split itself,
     * the evaluated document not left out). 0-shot as the LLaMA paper. */
    {.name = "race", .dataset = "race", .eval_split = "test", .fewshot_split = "test", .version = 3.0,
     .kind = LE_TASK_MC, .target_delimiter = " ", .metrics = LE_M_ACC, .format = le_fmt_race,
     .fewshot_keep_self = 1},
    {.name = "brown", .eval_split = "test", .version = 1.0, .kind = LE_TASK_ROLLING, .metrics = LE_M_ROLLING,
     .generate = le_brown_gen_ppl},
    {.name = "brown-cloze", .eval_split = "test", .fewshot_split = "train", .version = 1.0, .kind = LE_TASK_MC,
     .target_delimiter = " ", .metrics = MC_ALL, .generate = le_brown_gen_cloze},
    {.name = "brown-swap", .eval_split = "test", .version = 1.0, .kind = LE_TASK_MC, .target_delimiter = "",
     .metrics = LE_M_ACC | LE_M_ACC_TOK, .generate = le_brown_gen_swap},
};
static const int le_n_tasks = (int)(sizeof le_tasks / sizeof le_tasks[0]);

/* The parts of MMLU lm-eval names: the groups of _mmlu_<group>.yaml (group
 * mmlu_<group>, its tag's subjects aggregated by size, metadata.version 2)
 * in _mmlu.yaml's order, then the subjects mmlu_<subject>.yaml (version 1.0
 * of _default_template_yaml), each a task of its own: its documents, its
 * dev split's first five as few-shot, plain acc. */
#define MMLU_GROUP(g) {.name = "mmlu_" #g, .version = 2.0, MMLU_FIELDS, .n_groups = LE_MMLU_N_SUBJECTS, .part = #g},
#define MMLU_SUBJECT(s, g) {.name = "mmlu_" #s, .version = 1.0, MMLU_FIELDS, .part = #s},
static const struct le_task_info le_task_parts[] = {
    MMLU_GROUP(stem) MMLU_GROUP(other) MMLU_GROUP(social_sciences) MMLU_GROUP(humanities)
    LE_MMLU_SUBJECTS(MMLU_SUBJECT)};
#undef MMLU_GROUP
#undef MMLU_SUBJECT
static const int le_n_task_parts = (int)(sizeof le_task_parts / sizeof le_task_parts[0]);

/* lm-eval's names for the same tasks. */
static const char *const le_task_alias[][2] = {
    {"social_iqa", "siqa"}, {"lambada", "lambada_openai"}, {"trivia_qa", "triviaqa"}, {"gsm8k-cot", "gsm8k_cot"},
    {"race_high", "race"},  {"hendrycks_test", "mmlu"}};

int le_task_count(void) { return le_n_tasks; }

const struct le_task_info *le_task_get(int i) { return i >= 0 && i < le_n_tasks ? &le_tasks[i] : NULL; }

const struct le_task_info *le_task_find(const char *name) {
    for (size_t a = 0; a < sizeof le_task_alias / sizeof le_task_alias[0]; a++)
        if (!strcmp(name, le_task_alias[a][0]))
            name = le_task_alias[a][1];
    for (int i = 0; i < le_n_tasks; i++)
        if (!strcmp(name, le_tasks[i].name))
            return &le_tasks[i];
    for (int i = 0; i < le_n_task_parts; i++)
        if (!strcmp(name, le_task_parts[i].name))
            return &le_task_parts[i];
    return NULL;
}

int le_task_part_count(void) { return le_n_task_parts; }

const struct le_task_info *le_task_part_get(int i) {
    return i >= 0 && i < le_n_task_parts ? &le_task_parts[i] : NULL;
}

void le_task_opts_default(struct le_task_opts *o) {
    memset(o, 0, sizeof *o);
    o->fewshot_seed = 1234;
    o->seed = 1234;
    o->uncond = -1;
}

unsigned le_taskset_metrics(const struct le_taskset *ts) {
    unsigned m = ts->info->metrics;
    if (ts->uncond)
        m |= LE_M_ACC_UNCOND;
    return m;
}

static void prompts_free(struct le_prompt *p, int64_t n) {
    for (int64_t i = 0; p && i < n; i++)
        le_prompt_clear(&p[i]);
    free(p);
}

void le_taskset_free(struct le_taskset *ts) {
    if (!ts)
        return;
    le_items_free(ts->items, ts->n_docs);
    prompts_free(ts->prompts, ts->n_docs);
    le_task_info_free(ts->owned);
    free(ts);
}

/* Loads a split and formats its first `limit` documents (all when <= 0). */
static int load_prompts(const struct le_task_info *info, const char *split, const struct le_task_opts *o,
                        int64_t limit, struct le_prompt **out, int64_t *n_out, int64_t *n_total) {
    cJSON *docs = NULL;
    *out = NULL;
    *n_out = 0;
    int rc = LE_ENOTFOUND;
    for (int k = 0; k < info->n_data_files; k++)
        if (!strcmp(info->data_split[k], split))
            rc = le_ds_read_file(info->data_path[k], &docs);
    if (info->n_data_files == 0)
        rc = le_ds_load(info->dataset, split, o->ds, &docs);
    else if (rc == LE_ENOTFOUND && !docs)
        rc = le_err_set(LE_ENOTFOUND, "%s: no data file for the %s split", info->name, split);
    if (rc)
        return le_err_wrap(rc, "%s (%s split)", info->name, split);
    if (!cJSON_IsArray(docs)) {
        cJSON_Delete(docs);
        return le_err_set(LE_EFORMAT, "%s: the %s split is not a list of documents", info->name, split);
    }
    int64_t total = cJSON_GetArraySize(docs), n = limit > 0 && limit < total ? limit : total, i = 0;
    struct le_prompt *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (cJSON *d = docs ? docs->child : NULL, *next; d && i < n && !rc; d = next, i++) {
        next = d->next;
        rc = info->format_ud ? info->format_ud(info->ud, d, &p[i]) : info->format(d, &p[i]);
        if (!rc) /* the prompt keeps its document (sample logs) */
            p[i].doc = cJSON_DetachItemViaPointer(docs, d);
        if (rc) {
            char msg[512], where[300];
            snprintf(msg, sizeof msg, "%s", le_err_msg());
            if (info->n_data_files || le_ds_doc_where(info->dataset, split, o->ds, i, where, sizeof where))
                snprintf(where, sizeof where, "document %lld", (long long)i);
            rc = le_err_set(rc, "%s %s, %s: %s", info->name, split, where, msg);
        }
    }
    cJSON_Delete(docs);
    if (rc) {
        prompts_free(p, n);
        return rc;
    }
    *out = p;
    *n_out = n;
    if (n_total)
        *n_total = total;
    return LE_OK;
}

/* The task's fixed few-shot documents (fewshot_config.samples), formatted. */
static int fixed_prompts(const struct le_task_info *info, struct le_prompt **out, int64_t *n_out) {
    cJSON *docs = cJSON_Parse(info->fewshot_docs_json);
    int64_t n = cJSON_GetArraySize(docs), i = 0;
    struct le_prompt *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    int rc = docs && p ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (cJSON *d = docs ? docs->child : NULL, *next; d && !rc; d = next, i++) {
        next = d->next;
        rc = info->format(d, &p[i]);
        if (!rc)
            p[i].doc = cJSON_DetachItemViaPointer(docs, d);
    }
    cJSON_Delete(docs);
    if (rc) {
        prompts_free(p, n);
        return rc;
    }
    *out = p;
    *n_out = n;
    return LE_OK;
}

static int task_load_info(struct le_taskset **out, const struct le_task_info *info, const struct le_task_opts *op);

/* Keeps the prompts keep() accepts (asked in order), moved to the front;
 * frees the others. Returns how many are kept. */
static int64_t prompts_keep(struct le_prompt *p, int64_t n, int (*keep)(void *ud, const struct le_prompt *p),
                            void *ud) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!keep(ud, &p[i])) {
            le_prompt_clear(&p[i]);
            continue;
        }
        if (k != i) {
            p[k] = p[i];
            memset(&p[i], 0, sizeof p[i]);
        }
        k++;
    }
    return k;
}

/* lm-eval's --limit on a group of sub-tasks (MMLU): the first `limit`
 * documents of each sub-task, in order. */
struct limit_state {
    int n_groups;
    int64_t limit, *seen;
};

static int keep_first_of_group(void *ud, const struct le_prompt *p) {
    struct limit_state *s = ud;
    int g = p->group >= 0 && p->group < s->n_groups ? p->group : s->n_groups;
    return s->seen[g]++ < s->limit;
}

static int limit_per_group(const struct le_task_info *info, struct le_prompt *p, int64_t *n, int64_t limit) {
    struct limit_state s = {info->n_groups, limit, calloc((size_t)info->n_groups + 1, sizeof *s.seen)};
    if (!s.seen)
        return le_err_set(LE_ENOMEM, "out of memory");
    *n = prompts_keep(p, *n, keep_first_of_group, &s);
    free(s.seen);
    return LE_OK;
}

/* Whether a prompt belongs to info->part: its sub-task or that one's group. */
static int keep_in_part(void *ud, const struct le_prompt *p) {
    const struct le_task_info *info = ud;
    const char *sub = p->group >= 0 ? info->group_name(p->group) : NULL;
    return sub && (!strcmp(sub, info->part) || !strcmp(info->group_parent(p->group), info->part));
}

int le_task_load(struct le_taskset **out, const char *name, const struct le_task_opts *o_in) {
    struct le_task_opts o;
    if (o_in)
        o = *o_in;
    else
        le_task_opts_default(&o);
    *out = NULL;
    struct le_task_info *owned = NULL;
    if (le_task_is_yaml(name)) {
        int yrc = le_task_yaml_load(&owned, name);
        if (yrc)
            return yrc;
    }
    const struct le_task_info *info = owned ? owned : le_task_find(name);
    if (!info)
        return le_err_set(LE_ENOTFOUND, "unknown task '%s'", name);
    int rc = task_load_info(out, info, &o);
    if (!rc && owned)
        (*out)->owned = owned;
    else
        le_task_info_free(owned);
    return rc;
}

static int task_load_info(struct le_taskset **out, const struct le_task_info *info, const struct le_task_opts *op) {
    struct le_task_opts o = *op;
    if (o.num_fewshot < 0)
        o.num_fewshot = info->default_fewshot;
    if (o.num_fewshot > 0 && ((!info->fewshot_split && !info->fewshot_docs_json) || info->kind == LE_TASK_ROLLING))
        return le_err_set(LE_EINVAL, "%s has no few-shot examples: --num-fewshot must be 0", info->name);
    struct le_prompt *eval = NULL, *pool = NULL;
    int64_t n_eval = 0, n_pool = 0, n_total = 0;
    int pool_is_eval = info->fewshot_split && !strcmp(info->fewshot_split, info->eval_split);
    int rc;
    if (info->generate) {
        rc = info->generate(&o, &eval, &n_eval, &pool, &n_pool);
        n_total = n_eval;
    } else {
        /* The few-shot pool is the evaluated split itself: format all of it. */
        int64_t lim = (o.num_fewshot > 0 && pool_is_eval) || info->n_groups > 0 || info->part ? 0 : o.limit;
        rc = load_prompts(info, info->eval_split, &o, lim, &eval, &n_eval, &n_total);
        if (!rc && info->part && (n_total = n_eval = prompts_keep(eval, n_eval, keep_in_part, (void *)info)) == 0)
            rc = le_err_set(LE_ENOTFOUND, "%s: the %s split has no documents of %s", info->name, info->eval_split,
                            info->part);
        if (!rc && info->n_groups > 0 && o.limit > 0)
            rc = limit_per_group(info, eval, &n_eval, o.limit);
        if (!rc && o.num_fewshot > 0 && info->fewshot_docs_json)
            rc = fixed_prompts(info, &pool, &n_pool);
        else if (!rc && o.num_fewshot > 0 && !pool_is_eval)
            rc = load_prompts(info, info->fewshot_split, &o, 0, &pool, &n_pool, NULL);
        if (!rc && info->part && pool)
            n_pool = prompts_keep(pool, n_pool, keep_in_part, (void *)info);
    }
    if (rc) { /* the failed step left its own output NULL; free what was loaded before it */
        prompts_free(eval, n_eval);
        return rc;
    }
    if (pool_is_eval && o.num_fewshot > 0) {
        pool = eval;
        n_pool = n_eval;
    }
    int64_t n = o.limit > 0 && o.limit < n_eval && info->n_groups == 0 ? o.limit : n_eval;
    struct le_taskset *ts = calloc(1, sizeof *ts);
    if (!ts) {
        rc = le_err_set(LE_ENOMEM, "out of memory");
        goto fail;
    }
    ts->info = info;
    ts->n_docs = n;
    ts->n_docs_total = n_total;
    ts->num_fewshot = o.num_fewshot;
    ts->uncond = info->kind == LE_TASK_MC && !info->multiple_input &&
                 (o.uncond < 0 ? info->uncond_default : o.uncond != 0);
    rc = le_items_build(info, eval, n, pool, n_pool, pool_is_eval, o.num_fewshot, o.fewshot_seed, ts->uncond,
                        &ts->items);
    if (rc) {
        free(ts);
        goto fail;
    }
    /* Keep the evaluated prompts (for --log-samples); free the rest. */
    for (int64_t i = n; i < n_eval; i++)
        le_prompt_clear(&eval[i]);
    ts->prompts = eval;
    if (pool != eval)
        prompts_free(pool, n_pool);
    *out = ts;
    return LE_OK;
fail:
    if (pool != eval)
        prompts_free(pool, n_pool);
    prompts_free(eval, n_eval);
    return rc;
}
