/*
 * le_tasks: documents -> requests -> metrics, scored as lm-evaluation-harness
 * (lm-eval) scores them.
 *
 * Three layers, one file each:
 *   requests.c  the engine-facing requests: loglikelihood(context,
 *               continuation), rolling loglikelihood of a document, per-token
 *               log-probs. One runner owns one le_ctx and remembers which
 *               tokens its KV cache holds, so requests sharing a prefix (the
 *               choices of one item, a few-shot preamble) evaluate it once.
 *   prompts.c   doc_to_text / doc_to_choice / doc_to_target of lm-eval's task
 *               YAMLs for the benchmark sets, and few-shot contexts drawn with
 *               Python's random.Random(seed).sample as lm-eval draws them.
 *   mc.c        items -> requests -> per-request records (le_rec) -> metrics
 *               (acc, acc_norm, acc_bytes, acc_tok, acc_uncond, LAMBADA,
 *               rolling perplexities); metrics.c holds the statistics.
 *   brown_tasks.c  the built-in tasks on the Brown corpus.
 *   registry.c  the one table of tasks and le_task_load.
 *
 * Determinism: a request's numbers depend only on its tokens -- never on the
 * order requests run in, on what the cache held before, or on the thread
 * count (the engine guarantees logits independent of batching; log-softmax
 * is done here in double). Metrics are computed from le_rec records only, so
 * a run resumed from stored records gives bit-identical results.
 *
 * Ownership: every le_*_new/load has a matching free; strings in structs
 * returned by this module are owned by the struct; *json outputs are
 * malloc'ed and freed by the caller with free().
 */
#ifndef LE_TASKS_H
#define LE_TASKS_H

#include <stddef.h>
#include <stdint.h>

struct le_model;
struct le_pool;
struct le_tok;
struct le_ds_opts;
struct cJSON;

/* ------------------------------------------------------------------------ */
/* Functions of the request runner (requests.c).                             */

struct le_runner;

struct le_runner_opts {
    int n_ctx;   /* lm-eval's max_length; 0 = min(model ctx_train, 2048) */
    int n_batch; /* tokens per le_ctx_eval call; 0 = min(n_ctx, 512) */
    int add_bos; /* BOS before non-empty contexts: -1 = the tokenizer's
                    add_bos_token (as HF's tokenizer default), 0 no, 1 yes */
};

int le_runner_new(struct le_runner **out, struct le_model *m, struct le_pool *pool,
                  const struct le_runner_opts *o /* NULL = defaults */);
/* The context size and batch le_runner_new makes for these options (o may
 * be NULL), for a memory plan (le_ctx_mem_plan) before the runner exists. */
void le_runner_sizes(const struct le_model *m, const struct le_runner_opts *o, int *n_ctx, int *n_batch);
void le_runner_free(struct le_runner *r); /* NULL is fine */
int le_runner_n_ctx(const struct le_runner *r);
const struct le_model *le_runner_model(const struct le_runner *r);
const struct le_tok *le_runner_tok(const struct le_runner *r);
/* The prefix token of empty contexts and rolling windows: BOS, else EOS. */
int32_t le_runner_prefix_token(const struct le_runner *r);
/* Whether contexts get a BOS (resolved add_bos). */
int le_runner_add_bos(const struct le_runner *r);

/* Counters of forward work: tokens actually evaluated, and the tokens a
 * runner without prefix sharing would evaluate (each request from pos 0). */
struct le_runner_stats {
    int64_t requests;
    int64_t tokens_evaluated;
    int64_t tokens_naive;
};
void le_runner_get_stats(const struct le_runner *r, struct le_runner_stats *s);
void le_runner_reset_stats(struct le_runner *r);
/* Forget the KV cache contents (the next request starts from position 0);
 * results do not change, only tokens_evaluated does. */
void le_runner_forget(struct le_runner *r);

/* A growable token list (malloc'ed ids; free with le_toks_free). */
struct le_toks {
    int32_t *ids;
    int64_t n, cap;
};
void le_toks_free(struct le_toks *t);

/* Tokenises text (no BOS unless add_bos) into *out (replacing its content). */
int le_tokenize(const struct le_tok *t, const char *text, size_t len, int add_bos, struct le_toks *out);

/*
 * lm-eval's TemplateLM.loglikelihood + _encode_pair: trailing whitespace of
 * the context moves to the continuation; whole = tok(ctx + cont), ctx_enc =
 * tok(ctx), cont_enc = whole[len(ctx_enc):]. An empty context becomes
 * [prefix] with cont_enc = tok(cont) (or cont_enc[:1] / cont_enc[1:] when
 * the continuation already starts with the prefix token). Contexts are
 * encoded with add_bos.
 */
int le_encode_pair(const struct le_tok *t, int add_bos, int32_t prefix, const char *context,
                   const char *continuation, struct le_toks *ctx_out, struct le_toks *cont_out);

struct le_ll_result {
    double logprob;   /* sum over continuation tokens of log p(token) */
    int is_greedy;    /* every continuation token was the argmax */
    int64_t n_tokens; /* continuation tokens */
    double sumsq;     /* sum of squared per-token log-probs */
};

/*
 * Token-level primitive: scores cont given ctx (n_ctx_toks >= 1) exactly as
 * lm-eval's _loglikelihood_tokens: input = (ctx + cont)[-(n_ctx+1):][:-1],
 * the last n_cont logits score cont. Reuses the cached common prefix.
 * tok_lp (n_cont doubles) and tok_argmax (n_cont ids) may be NULL; they get
 * the per-token log-probs and argmax ids (the per-token dump).
 */
int le_runner_score_tokens(struct le_runner *r, const int32_t *ctx, int64_t n_ctx_toks,
                           const int32_t *cont, int64_t n_cont, struct le_ll_result *res,
                           double *tok_lp, int32_t *tok_argmax);

/* One loglikelihood request: (context, continuation) text. */
struct le_ll_request {
    const char *context;
    const char *continuation;
};
/*
 * Scores n requests (typically the choices of one item). They are run in an
 * order that maximises shared prefixes; res[i] belongs to req[i] whatever
 * the order. Equal to scoring each one alone.
 */
int le_runner_loglikelihood(struct le_runner *r, const struct le_ll_request *req, int n,
                            struct le_ll_result *res);

/*
 * lm-eval's get_rolling_token_windows(tokens, prefix, max_seq_len,
 * context_len) followed by make_disjoint_window: fills *pairs with 2*k
 * (start, end) index ranges -- for window w, context tokens are
 * [ctx_lo, ctx_hi) of tokens (ctx_lo == -1 means [prefix] + tokens[0,
 * ctx_hi)) and predicted tokens [pred_lo, pred_hi). Returns the window
 * count or a negative error. *win is malloc'ed (4 int64 per window).
 */
int64_t le_rolling_windows(int64_t n_tokens, int max_seq_len, int context_len, int64_t **win);

/*
 * Scores nw windows (4 int64 each, as le_rolling_windows gives them) of
 * tokens[0..n): sums over windows; tok_lp, if not NULL, gets each predicted
 * token's log-prob at its index. ctx_lo == -1 puts prefix first. Other
 * perplexity conventions (gptq's disjoint windows, hf-stride) only build
 * their window lists and call this; le_rolling_windows(n, W, W - S + 1)
 * gives windows predicting S new tokens each.
 */
int le_runner_score_windows(struct le_runner *r, const int32_t *tokens, int64_t n, const int64_t *win, int64_t nw,
                            int32_t prefix, struct le_ll_result *res, double *tok_lp);
/*
 * Rolling loglikelihood of a token list (lm-eval's loglikelihood_rolling:
 * windows of max_seq_len = n_ctx, context_len 1, prefix token). tok_lp, if
 * not NULL, gets n doubles: the log-prob of each token.
 */
int le_runner_rolling_tokens(struct le_runner *r, const int32_t *tokens, int64_t n,
                             struct le_ll_result *res, double *tok_lp);
/* Same on text: tokenised without BOS (the prefix token conditions the first). */
int le_runner_rolling(struct le_runner *r, const char *text, size_t len, struct le_ll_result *res);

/* ------------------------------------------------------------------------ */
/* Generation (generate.c): lm-eval's generate_until on the runner's cache.  */

struct le_gen_opts {
    int max_gen_toks;           /* 0 = lm-eval's default, 256 */
    const char *const *until;   /* stop strings: the text is cut before the first */
    int n_until;                /* (the tokenizer's EOS token always stops) */
    double temp;                /* <= 0: greedy (argmax, first maximum) */
    int top_k;                  /* sampling: keep the k most likely (0 = all) */
    double top_p;               /* sampling: smallest set with mass >= p (0 or >= 1: all) */
    uint64_t seed;              /* sampling: the stream's seed */
};
enum { LE_GEN_STOP_MAX = 0, LE_GEN_STOP_UNTIL = 1, LE_GEN_STOP_EOS = 2, LE_GEN_STOP_CTX = 3 };
struct le_gen_result {
    char *text;      /* malloc'ed: decoded continuation, cut before the first stop string */
    int32_t *ids;    /* malloc'ed: the generated tokens (a stopping EOS not included) */
    int64_t n_ids;
    int64_t n_ctx_toks; /* context tokens after left truncation */
    int stop;        /* LE_GEN_STOP_* */
};
void le_gen_result_clear(struct le_gen_result *g); /* frees and zeroes; NULL is fine */
/*
 * Generates from ctx[0..n) (already tokenised; left-truncated to n_ctx -
 * max_gen_toks tokens as lm-eval's HF model does). Stops at EOS, when the
 * decoded continuation contains a stop string, after max_gen_toks tokens or
 * when the context is full. The cached prefix is reused (few-shot
 * preambles are evaluated once per task). Results are independent of the
 * thread count and of what the cache held.
 */
int le_runner_generate_tokens(struct le_runner *r, const int32_t *ctx, int64_t n, const struct le_gen_opts *o,
                              struct le_gen_result *res);
/*
 * Several requests at once (generate_until batched across requests): each
 * context prefilled through the runner (keeping the prefix it shares with
 * the previous one) and its cache copied into a context of its own; then
 * every step evaluates one token of each request still generating in one
 * forward pass (le_ctx_decode_batch), so each weight is read once per step
 * for all of them. res[i] is identical to le_runner_generate_tokens(r,
 * ctx[i], n[i], o, &res[i]) (tokens, text, stop reason). Memory: one KV
 * cache of the runner's n_ctx per request, so callers bound nreq. On
 * failure every result is cleared.
 */
int le_runner_generate_batch(struct le_runner *r, const int32_t *const *ctx, const int64_t *n, int nreq,
                             const struct le_gen_opts *o, struct le_gen_result *res);
/* Same on text: context encoded with the runner's BOS setting, no rstrip
 * (lm-eval's generate_until encodes the context as it is). */
int le_runner_generate(struct le_runner *r, const char *context, const struct le_gen_opts *o,
                       struct le_gen_result *res);

/* ------------------------------------------------------------------------ */
/* Statistics (metrics.c).                                                    */

double le_stat_mean(const double *x, int64_t n);
/* lm-eval's mean_stderr: sample standard deviation / sqrt(n); NAN for n < 2. */
double le_stat_mean_stderr(const double *x, int64_t n);
/* Deterministic RNG (splitmix64-seeded xoshiro256**). */
struct le_rng {
    uint64_t s[4];
};
void le_rng_seed(struct le_rng *g, uint64_t seed);
uint64_t le_rng_next(struct le_rng *g);
uint64_t le_rng_below(struct le_rng *g, uint64_t n); /* uniform in [0, n), n > 0 */
/*
 * Seeded bootstrap standard error of stat(idx) over n units: iters
 * resamples of n unit indices with replacement; stat gets the resampled
 * indices. Returns the sample std of the replicates (NAN when n < 2 or
 * iters < 2). Deterministic for (seed, n, iters).
 */
double le_stat_bootstrap(int64_t n, int iters, uint64_t seed,
                         double (*stat)(void *ud, const int64_t *idx, int64_t n), void *ud);
/* llama.cpp's perplexity ±: from the sum and sum of squares of per-token
 * negative log-likelihoods over count tokens; ppl = exp(mean). */
void le_stat_ppl_llamacpp(double sum_nll, double sumsq_nll, int64_t count, double *ppl,
                          double *ppl_err);

/* Python's random.Random(seed) (MT19937, init_by_array) and random.sample,
 * bit-exact, for lm-eval's few-shot draws (prompts.c). */
struct le_pyrandom {
    uint32_t mt[624];
    int mti;
};
void le_pyrandom_seed(struct le_pyrandom *g, uint64_t seed);
uint32_t le_pyrandom_u32(struct le_pyrandom *g);
int64_t le_pyrandom_below(struct le_pyrandom *g, int64_t n); /* _randbelow */
/* random.sample(range(n), k) into out[k]. Returns 0 or LE_EINVAL (k > n). */
int le_pyrandom_sample(struct le_pyrandom *g, int64_t n, int64_t k, int64_t *out);

/* ------------------------------------------------------------------------ */
/* Filters and metrics of generated text (genmetrics.c), as lm-eval's        */
/* lm_eval/filters (regex, take_first, remove_whitespace, majority_vote) and */
/* metrics.exact_match_hf_evaluate. Regular expressions are PCRE2, whose     */
/* syntax and leftmost-first semantics agree with Python's re on lm-eval's   */
/* patterns.                                                                 */

enum { LE_F_REGEX = 1, LE_F_TAKE_FIRST = 2, LE_F_REMOVE_WS = 3, LE_F_MAJORITY = 4 };
struct le_filter_step {
    int kind;             /* LE_F_* */
    const char *pattern;  /* REGEX: the pattern */
    int group_select;     /* REGEX: index into re.findall's list (negative from the end) */
    const char *fallback; /* REGEX: when nothing matches; NULL = "[invalid]" */
};
enum { LE_FILTER_MAX_STEPS = 4 };
struct le_filter {
    const char *name; /* lm-eval's filter name ("strict-match", "none", ...) */
    int n_steps;
    struct le_filter_step steps[LE_FILTER_MAX_STEPS];
};
/* Runs a filter over the responses of one document (n >= 1); *out gets the
 * first string of what the pipeline leaves (malloc'ed). */
int le_filter_apply(const struct le_filter *f, const char *const *resps, int n, char **out);
/* re.findall(pattern, s)[group_select] as RegexFilter takes it (first
 * non-empty group of a tuple, then strip()), or fallback; malloc'ed. */
int le_regex_extract(const char *pattern, int group_select, const char *fallback, const char *s, char **out);
/* re.sub(pattern, "", s): malloc'ed. */
int le_regex_remove(const char *pattern, const char *s, char **out);

enum { LE_EM_MAX_REGEXES = 6 };
struct le_em_opts {
    int ignore_case;        /* lower() (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic) */
    int ignore_punctuation; /* drop string.punctuation (ASCII) */
    int ignore_numbers;     /* drop string.digits */
    int n_regexes;
    const char *regexes_to_ignore[LE_EM_MAX_REGEXES]; /* re.sub(r, "") on both, in order, first */
};
/* lm-eval's exact_match against one or more golds (multiple targets: 1 when
 * any matches). */
int le_exact_match(const char *pred, const char *const *golds, int n_golds, const struct le_em_opts *o,
                   double *score);
/* SQuAD's normalize_answer: lower, drop punctuation, drop the articles
 * a/an/the as words, collapse whitespace; malloc'ed. */
char *le_squad_normalize(const char *s);

/* ------------------------------------------------------------------------ */
/* Prompts, items and records (prompts.c, mc.c).                             */

enum le_task_kind {
    LE_TASK_MC = 1,      /* multiple choice (lm-eval output_type multiple_choice) */
    LE_TASK_LL = 2,      /* one loglikelihood (LAMBADA: greedy match + perplexity) */
    LE_TASK_ROLLING = 3, /* loglikelihood_rolling of a document (perplexity) */
    LE_TASK_GEN = 4,     /* generate_until: greedy continuation, filtered, exact match */
};

/* A document formatted by doc_to_text / doc_to_choice / doc_to_target. */
struct le_prompt {
    char *query;    /* doc_to_text; ROLLING: the document */
    char **choices; /* doc_to_choice (multiple-input tasks: the contexts) */
    int n_choices;
    int gold;       /* index into choices (-1: none) */
    char *target;   /* LL: the continuation; multiple-input: the shared continuation */
    char **targets; /* GEN: the gold answers (several: any may match); few-shot uses [0] */
    int n_targets;
    char *description; /* NULL: the task's (MMLU: the subject's) */
    int group;      /* sub-task index (MMLU subject), -1 none; first_n few-shot stays within it */
    struct cJSON *doc; /* the document it was formatted from (owned; NULL: a built-in task's) */
};
void le_prompt_clear(struct le_prompt *p);

/* One request of an item with what its metrics need. */
struct le_request {
    char *context;      /* ROLLING: NULL */
    char *continuation; /* ROLLING: the document */
    int choice;         /* choice index (MC), else 0 */
    int uncond;         /* 1: context "Answer:" (unconditional normalisation) */
    int64_t nchars;     /* MC: characters (code points) of the choice text; else of the text */
    int64_t nbytes;     /* UTF-8 bytes of the same */
    int64_t nwords;     /* ROLLING: lm-eval's count_words (re.split(r"\s+")) */
};
struct le_gen_kwargs {
    const char *until[6]; /* lm-eval's generation_kwargs.until */
    int n_until;
    int max_gen_toks;     /* 0 = 256 */
};
/* One evaluated document: its requests. */
struct le_item {
    int kind;
    int n_choices;
    int gold;
    int n_req;
    struct le_request *req;
    int group;                        /* sub-task (MMLU subject), -1 none */
    char **targets;                   /* GEN: gold answers */
    int n_targets;
    const struct le_gen_kwargs *gen;  /* GEN: borrowed from the task */
};

/* A record: one scored request, with everything any metric needs. Stored as
 * a sample (JSON) so every normalisation can be recomputed later. */
struct le_rec {
    int kind, choice, uncond, gold, n_choices, greedy;
    double ll, sumsq;
    int64_t ntok, nchars, nbytes, nwords;
    int group;     /* the item's sub-task (MMLU subject), -1 none */
    char *resp;    /* GEN: the generated text, else NULL */
    char **golds;  /* GEN: the gold answers (n_golds), else NULL */
    int n_golds;
};
void le_rec_clear(struct le_rec *rec); /* frees resp and golds, zeroes them */
/* Scores every request of the item into recs[it->n_req]. */
int le_item_run(struct le_runner *r, const struct le_item *it, struct le_rec *recs);
/* n generate_until items at once (one request each, the same generation
 * kwargs -- it->gen -- as the first): the contexts are decoded together
 * (le_runner_generate_batch), and recs[i] (its[i]->n_req records) gets what
 * le_item_run(r, its[i], recs[i]) gives, byte for byte. Memory: one KV
 * cache per item (le_runner_generate_batch), so callers bound n. */
int le_items_run_gen(struct le_runner *r, const struct le_item *const *its, int n, struct le_rec *const *recs);
/* Record <-> JSON (doubles printed with 17 significant digits: exact round
 * trip). le_rec_from_json overwrites rec (a new resp or NULL: free the old
 * one first). */
char *le_rec_to_json(const struct le_rec *rec);
int le_rec_from_json(const char *json, struct le_rec *rec);

/* Count helpers as lm-eval counts: characters = code points of UTF-8. */
int64_t le_utf8_chars(const char *s);
int64_t le_count_words(const char *s); /* len(re.split(r"\s+", s)) */

/* ------------------------------------------------------------------------ */
/* Tasks (registry.c).                                                        */

enum {
    LE_M_ACC = 1 << 0,        /* argmax ll */
    LE_M_ACC_NORM = 1 << 1,   /* argmax ll / characters of the choice */
    LE_M_ACC_BYTES = 1 << 2,  /* argmax ll / bytes of the choice */
    LE_M_ACC_TOK = 1 << 3,    /* argmax ll / tokens of the continuation */
    LE_M_ACC_UNCOND = 1 << 4, /* argmax ll - ll(choice | "Answer:") (LLaMA paper) */
    LE_M_PERPLEXITY = 1 << 5, /* LL: exp(-mean ll) */
    LE_M_LL_ACC = 1 << 6,     /* LL: greedy exact match, reported as "acc" */
    LE_M_ROLLING = 1 << 7,    /* word/byte/token perplexity, bits per byte */
    LE_M_EXACT = 1 << 8,      /* GEN: exact_match under each filter */
};

struct le_taskset;
struct le_task_opts;

struct le_task_info {
    const char *name;
    const char *dataset;       /* le_ds name (NULL: built-in) */
    const char *eval_split;    /* the split lm-eval evaluates */
    const char *fewshot_split; /* NULL: none */
    double version;            /* lm-eval's metadata.version */
    int kind;
    int multiple_input;        /* WinoGrande: one context per choice */
    int uncond_default;        /* score the "Answer:" normalisation by default */
    const char *target_delimiter;
    unsigned metrics;          /* LE_M_* reported */
    /* upstream document -> prompt (prompts.c); NULL for built-ins */
    int (*format)(const struct cJSON *doc, struct le_prompt *p);
    /* lm-eval's num_fewshot, description, fewshot_delimiter (NULL "\n\n"),
     * sampler first_n (else random), and fixed few-shot documents (a JSON
     * array formatted like the split's, gsm8k_cot's fewshot_config.samples) */
    int default_fewshot;
    const char *description;
    const char *fewshot_delimiter;
    int fewshot_first_n;
    const char *fewshot_docs_json;
    /* generate_until: generation_kwargs, filter_list, exact_match options */
    struct le_gen_kwargs gen;
    int n_filters;
    struct le_filter filters[3];
    struct le_em_opts em;
    /* sub-tasks in one task (prompt.group: MMLU's subjects): when > 0,
     * first_n few-shot examples come from the document's own sub-task */
    int n_groups;
    const char *(*group_name)(int i);   /* sub-task i's name (MMLU: its subject) */
    const char *(*group_parent)(int i); /* the group sub-task i belongs to (MMLU: stem, ...) */
    /* one part of a task with sub-tasks, as lm-eval names its groups and
     * sub-tasks (mmlu_stem, mmlu_abstract_algebra): only the documents whose
     * sub-task (group_name) or its group (group_parent) is `part`; the
     * sub-tasks are reported as subtask_prefix_<sub-task> */
    const char *part;
    const char *subtask_prefix;
    /* a pool that is the evaluated split, sampled without leaving the
     * evaluated document out (lm-eval when the YAML names no fewshot_split) */
    int fewshot_keep_self;
    /* generate_until: generation_kwargs as lm-eval's config holds them (JSON,
     * its key order), for sample logs; NULL = {"until": [...], "do_sample": false} */
    const char *gen_kwargs_json;
    int target_is_list; /* doc_to_target gives a list (triviaqa, nq_open): logged as its repr */
    /* tasks from YAML: the formatter with its template (format_ud), and
     * local data files per split (lm-eval's dataset_kwargs.data_files) */
    int (*format_ud)(const void *ud, const struct cJSON *doc, struct le_prompt *p);
    const void *ud;
    int n_data_files;
    const char *data_split[4], *data_path[4];
    /* built-ins: all eval prompts and the few-shot pool (brown_tasks.c) */
    int (*generate)(const struct le_task_opts *o, struct le_prompt **eval, int64_t *n_eval,
                    struct le_prompt **pool, int64_t *n_pool);
};

int le_task_count(void);
const struct le_task_info *le_task_get(int i);
const struct le_task_info *le_task_find(const char *name); /* NULL if unknown */
/* The parts of tasks that have their own names (lm-eval's mmlu_stem, ...,
 * mmlu_<subject>: info->part set): found by le_task_find, listed apart. */
int le_task_part_count(void);
const struct le_task_info *le_task_part_get(int i);

struct le_task_opts {
    int num_fewshot;          /* 0 = zero-shot, -1 = the task's default */
    uint64_t fewshot_seed;    /* lm-eval's fewshot_random_seed (1234) */
    uint64_t seed;            /* built-in task generation (brown-*) */
    int64_t limit;            /* first n documents; <= 0 = all */
    int uncond;               /* "Answer:" normalisation: -1 task default, 0 off, 1 on */
    const struct le_ds_opts *ds;   /* NULL = defaults */
    const char *brown_archive;     /* NULL = the committed archive */
};
void le_task_opts_default(struct le_task_opts *o);

/* A loaded task: its items, one per evaluated document. */
struct le_taskset {
    const struct le_task_info *info;
    struct le_task_info *owned;  /* a task from YAML: info, freed with the set */
    int64_t n_docs;       /* evaluated (after limit) */
    int64_t n_docs_total; /* in the split (lm-eval's n-samples "original") */
    int uncond;           /* resolved */
    int num_fewshot;
    struct le_item *items;
    struct le_prompt *prompts; /* n_docs formatted prompts (for --log-samples) */
};

/* name: a registered task, or a path ending in .yaml / .yml (a task in
 * lm-eval's YAML schema subset, yaml_task.c). */
int le_task_load(struct le_taskset **out, const char *name, const struct le_task_opts *o);

/*
 * Tasks from YAML (yaml_task.c), parsed with libyaml. The subset of lm-eval's
 * schema: task, dataset_path (a registry set, or "json"/"csv" with
 * dataset_kwargs.data_files {split: file}), test_split, validation_split,
 * training_split, fewshot_split, output_type (loglikelihood,
 * multiple_choice, loglikelihood_rolling, generate_until), doc_to_text,
 * doc_to_target, doc_to_choice ({{field}} templates: dotted paths, [i],
 * .strip(), a list "{{[a, b]}}", or a bare field name), description,
 * target_delimiter, fewshot_delimiter, num_fewshot, metric_list (acc,
 * acc_norm, perplexity, exact_match with ignore_case, ignore_punctuation,
 * regexes_to_ignore), generation_kwargs (until, max_gen_toks, do_sample:
 * false, temperature: 0), metadata.version. Any other key is an error
 * naming it. *out is freed with le_task_info_free.
 */
int le_task_yaml_load(struct le_task_info **out, const char *path);
void le_task_info_free(struct le_task_info *info);
/* Whether name is a YAML task path (ends in .yaml or .yml). */
int le_task_is_yaml(const char *name);
void le_taskset_free(struct le_taskset *ts);

/*
 * Builds the items of prompts[0..n) (with few-shot contexts from pool drawn
 * with le_pyrandom as lm-eval does: one generator seeded with fewshot_seed,
 * sampled doc by doc in order; pool == eval set excludes the document
 * itself). Used by le_task_load; exposed for tests.
 */
int le_items_build(const struct le_task_info *info, const struct le_prompt *prompts, int64_t n,
                   const struct le_prompt *pool, int64_t n_pool, int pool_is_eval,
                   int num_fewshot, uint64_t fewshot_seed, int uncond, struct le_item **items);
void le_items_free(struct le_item *items, int64_t n);

/*
 * Sample logs (samples.c): the lines lm-eval's --log_samples writes for
 * document d of ts (one per filter, each ending in "\n"), its records
 * recs[0 .. items[d].n_req); *out malloc'ed. lm-eval 0.4.13's schema: doc_id,
 * doc, target, arguments, resps, filtered_resps, filter, metrics, doc_hash,
 * prompt_hash, target_hash and the per-document metric values. doc_id is the
 * document's index in its lm-eval task: d, or, for a task with sub-tasks
 * (MMLU), its index within its sub-task, whose samples lm-eval writes to a
 * file of their own.
 */
int le_task_sample_lines(const struct le_taskset *ts, int64_t d, int64_t doc_id, const struct le_rec *recs,
                         char **out);
/* Python's repr() of a float ("0.1", "1e-05", "100.0", "nan"). */
void le_py_float_repr(double x, char out[32]);

/* One metric of a task (lm-eval's "name,none" and "name_stderr,none"). */
struct le_metric {
    char name[32];
    char filter[32];        /* lm-eval's filter name; "" = "none" */
    char group[48];         /* a sub-task group's name (MMLU "stem"); "" = the task */
    double value, stderr_v; /* stderr_v NAN: none */
    int64_t n;
    int higher_is_better;
};
struct le_metric_opts {
    int bootstrap_iters; /* 0 = default 1000; < 0 = no bootstrap stderr */
    uint64_t seed;       /* bootstrap seed */
};
/*
 * Metrics of a task from its records: recs[doc_off[d] .. doc_off[d+1]) are
 * the records of document d. Fills up to cap metrics, *n_out their number.
 */
int le_task_metrics(const struct le_task_info *info, unsigned metrics, const struct le_rec *recs,
                    const int64_t *doc_off, int64_t n_docs, const struct le_metric_opts *o,
                    struct le_metric *out, int cap, int *n_out);
/* The metrics bitmask a taskset reports (info->metrics, plus acc_uncond when on). */
unsigned le_taskset_metrics(const struct le_taskset *ts);

#endif
