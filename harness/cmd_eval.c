/*
 * cmd_eval: `llamaeval eval --model a.gguf[,b.gguf] --tasks t1,t2 ...` --
 * zero/few-shot evaluation scored as lm-evaluation-harness scores it, into
 * the results store, with lm-eval's results JSON and markdown table.
 *
 * Resumable by construction (the cell protocol is le_job's, harness/job.c,
 * shared with ppl and sweep): every (model, task) pair is a cell keyed by
 * le_store_cell_key(model sha256, task, canonical config JSON) -- the config
 * holds everything that can change a number (few-shot k and seed, limit,
 * context length, BOS, task seed, bootstrap, and the sha256 of every
 * request's text, so edited data or prompts never reuse old samples) and
 * nothing that cannot (threads, batch size). A done cell is skipped. Otherwise the records of
 * documents already stored as samples are read back, only the missing
 * documents are scored, and their samples are written in batches of whole
 * documents (--flush-every), so a kill loses at most one batch. Metrics are
 * always computed from records parsed back from the samples' JSON, so an
 * interrupted and resumed run gives the very same numbers as an
 * uninterrupted one. Test hook (test build only, le_job.h): LE_TEST_KILL_AFTER=N raises SIGKILL once N
 * samples have been committed by this process.
 *
 * Prints per task the forward tokens evaluated against those a runner
 * without prefix sharing would evaluate (the benchmark of KV-cache reuse).
 */
#include "cli.h"         /* le_cli_* */
#include "le_version.h" /* LE_VERSION, generated at build time */
#include "commands.h"    /* le_cmd_eval */
#include "le_datasets.h" /* struct le_ds_opts */
#include "le_err.h"
#include "le_fs.h"       /* le_mkdirs */
#include "le_job.h"      /* the run, model identity, cells, samples, results */
#include "le_memplan.h"  /* le_memplan_check: the plan before the runner */
#include "le_format.h"   /* le_lora_spec_parse */
#include "le_model.h"    /* le_model_open_ex */
#include "le_pool.h"     /* le_pool_new */
#include "le_progress.h" /* per-task progress */
#include "le_sha256.h"   /* the requests' hash */
#include "le_taskcell.h" /* one task on one model as a cell */
#include "le_tasks.h"    /* tasks, runner, metrics */

#include <cjson/cJSON.h> /* results JSON, config JSON */
#include <dirent.h>       /* scandir: --include-path */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

static const char *le_eval_usage =
    "usage: llamaeval eval --model M.gguf[,M2.gguf...] --tasks T1[,T2...] [--num-fewshot K] [--limit N]\n"
    "                      [--threads N] [--ctx N] [--seed S] [--db FILE] [--output-path DIR] [--log-samples]\n"
    "                      [--offline] [--quiet]";
static const char *le_eval_help_head =
    "Evaluates models on tasks as lm-evaluation-harness does: the same prompts,\n"
    "tokenisation of context and continuation, few-shot draws and metrics (acc,\n"
    "acc_norm, ... with their standard errors). Each (model, task) result is a cell\n"
    "of the results store; a rerun skips finished cells and resumes unfinished ones\n"
    "from their stored samples. Prints lm-eval's markdown table.\n"
    "\n"
    "Options:\n"
    "  --model LIST        model files, comma-separated: GGUF or any format `llamaeval convert` reads\n"
    "  --lora A[:S]        merge LoRA adapter A (scale S, default 1) into each model; repeatable\n"
    "  --tasks LIST        tasks, comma-separated (see below)\n"
    "  --include-path DIR  also tasks defined in DIR/*.yaml (lm-eval's YAML schema\n"
    "                      subset); --tasks also takes a path to a .yaml file\n"
    "  --num-fewshot K     few-shot examples (default: the task's, as lm-eval's YAML;\n"
    "                      `--tasks list` shows them)\n"
    "  --fewshot-seed S    seed of the few-shot draws (default 1234, as lm-eval)\n"
    "  --limit N           only the first N documents of each task\n"
    "  --threads N         worker threads (default: all cores); never changes results\n"
    "  --ctx N             context length = lm-eval's max_length (default: the\n"
    "                      model's, at most 4096)\n"
    "  --batch N           tokens per forward call (default 512); never changes results\n"
    "  --bos on|off        BOS before contexts (default: the tokenizer's add_bos)\n"
    "  --answer-norm MODE  the \"Answer:\"-conditioned score (acc_uncond): default\n"
    "                      (openbookqa, boolq), all or none\n"
    "  --seed S            seed of built-in task generation and bootstraps (1234)\n"
    "  --bootstrap-iters N bootstrap resamples for stderrs without closed form (1000)\n"
    "  --db FILE|none      results store (default results.sqlite); none: the cells\n"
    "                      live in memory and no store file is written\n"
    "  --output-path P     write results JSON: P/<model>/results_<date>.json, or P\n"
    "                      itself when it ends in .json (one model)\n"
    "  --log-samples       also write samples_<task>_<date>.jsonl next to the results\n"
    "  --flush-every N     samples per store transaction (default 64)\n"
    "  --gen-batch N       generate_until documents decoded together (default 8;\n"
    "                      fewer where their KV caches would pass 1 GiB; 1: one at\n"
    "                      a time; the results are the same)\n"
    "  --offline           use the dataset cache only, never the network\n"
    "  --quiet             no progress, only the tables\n"
    "  --slurm             a Slurm job array, one task per (model, task), each into\n"
    "                      its own store, and a job merging them into --db (options\n"
    "                      --partition, --time, --cpus-per-task, --mem, --max-running,\n"
    "                      --dry-run; README.md, \"On a cluster\")\n"
    "  -h, --help          show this help\n"
    "\nTasks:\n";

#define LE_EVAL_MAX_LORA 8
struct le_eval_opts {
    const char *models, *tasks, *db, *outpath, *answer_norm, *include_path;
    struct le_lora_spec lora[LE_EVAL_MAX_LORA]; /* --lora: merged into every model at open */
    int n_lora;
    long k, limit, threads, ctx, batch, boot, flush, bos;
    long gen_batch; /* --gen-batch */
    uint64_t seed, fewshot_seed;
    int log_samples, offline, quiet;
};

static int le_eval_parse(int argc, char **argv, struct le_eval_opts *o, char *help) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},     {"tasks", required_argument, 0, 'T'},
        {"num-fewshot", required_argument, 0, 'k'}, {"limit", required_argument, 0, 'l'},
        {"threads", required_argument, 0, 't'},   {"ctx", required_argument, 0, 'c'},
        {"batch", required_argument, 0, 'b'},     {"seed", required_argument, 0, 's'},
        {"fewshot-seed", required_argument, 0, 'F'}, {"db", required_argument, 0, 'd'},
        {"output-path", required_argument, 0, 'o'}, {"log-samples", no_argument, 0, 'L'},
        {"offline", no_argument, 0, 'O'},         {"quiet", no_argument, 0, 'q'},
        {"bootstrap-iters", required_argument, 0, 'B'}, {"flush-every", required_argument, 0, 'f'},
        {"bos", required_argument, 0, 'S'},       {"answer-norm", required_argument, 0, 'A'},
        {"include-path", required_argument, 0, 'I'},
        {"help", no_argument, 0, 'h'},            {"lora", required_argument, 0, 'R'},
        {"gen-batch", required_argument, 0, 'G'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_eval_usage, help, 0};
    *o = (struct le_eval_opts){.db = "results.sqlite", .k = -1, .boot = 1000, .flush = 64, .bos = -1, .seed = 1234,
                               .fewshot_seed = 1234, .answer_norm = "default", .gen_batch = 8};
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case 'm': o->models = optarg; break;
        case 'T': o->tasks = optarg; break;
        case 'R':
            if (o->n_lora == LE_EVAL_MAX_LORA || le_lora_spec_parse(optarg, &o->lora[o->n_lora]))
                return le_cli_usage(le_eval_usage, "--lora '%s': at most %d adapters, PATH[:SCALE]", optarg,
                                    LE_EVAL_MAX_LORA);
            o->n_lora++;
            break;
        case 'd': o->db = optarg; break;
        case 'o': o->outpath = optarg; break;
        case 'L': o->log_samples = 1; break;
        case 'O': o->offline = 1; break;
        case 'q': o->quiet = 1; break;
        case 'A': o->answer_norm = optarg; break;
        case 'I': o->include_path = optarg; break;
        case 'k': if (le_cli_int(&p, "--num-fewshot", optarg, 0, 1000, &o->k)) return LE_EXIT_USAGE; break;
        case 'l': if (le_cli_int(&p, "--limit", optarg, 1, 1L << 40, &o->limit)) return LE_EXIT_USAGE; break;
        case 't': if (le_cli_int(&p, "--threads", optarg, 1, 1024, &o->threads)) return LE_EXIT_USAGE; break;
        case 'c': if (le_cli_int(&p, "--ctx", optarg, 8, 1 << 20, &o->ctx)) return LE_EXIT_USAGE; break;
        case 'b': if (le_cli_int(&p, "--batch", optarg, 1, 1 << 20, &o->batch)) return LE_EXIT_USAGE; break;
        case 'B': if (le_cli_int(&p, "--bootstrap-iters", optarg, 0, 10000000, &o->boot)) return LE_EXIT_USAGE; break;
        case 'f': if (le_cli_int(&p, "--flush-every", optarg, 1, 1 << 20, &o->flush)) return LE_EXIT_USAGE; break;
        case 'G': if (le_cli_int(&p, "--gen-batch", optarg, 1, 256, &o->gen_batch)) return LE_EXIT_USAGE; break;
        case 's': if (le_cli_u64(&p, "--seed", optarg, &o->seed)) return LE_EXIT_USAGE; break;
        case 'F': if (le_cli_u64(&p, "--fewshot-seed", optarg, &o->fewshot_seed)) return LE_EXIT_USAGE; break;
        case 'S':
            if (!strcmp(optarg, "on") || !strcmp(optarg, "off"))
                o->bos = !strcmp(optarg, "on");
            else
                return le_cli_usage(le_eval_usage, "--bos must be on or off, got '%s'", optarg);
            break;
        default: return LE_EXIT_USAGE;
        }
    }
    if (le_cli_optind() < argc)
        return le_cli_usage(le_eval_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (o->tasks && !strcmp(o->tasks, "list"))
        return -1; /* --tasks list needs no model */
    if (!o->models || !o->tasks || !*o->models || !*o->tasks)
        return le_cli_usage(le_eval_usage, "--model and --tasks are required");
    if (o->log_samples && !o->outpath) /* lm-eval: "Specify --output_path if providing --log_samples" */
        return le_cli_usage(le_eval_usage, "--log-samples needs --output-path (the samples are written there)");
    if (strcmp(o->answer_norm, "default") && strcmp(o->answer_norm, "all") && strcmp(o->answer_norm, "none"))
        return le_cli_usage(le_eval_usage, "--answer-norm must be default, all or none");
    return -1;
}

/* Splits a comma list into a NULL-terminated malloc'ed array of copies. */
static char **le_eval_split(const char *s, int *n) {
    int cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc((size_t)cap + 1, sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0 && !(v[(*n)++] = strndup(p, len)))
            break;
        p += len + (e ? 1 : 0);
    }
    return v;
}

static void le_eval_free_list(char **v) {
    for (int i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* ---- one evaluation session ---- */

struct le_eval {
    struct le_eval_opts o;
    struct le_taskcell_opts to; /* the task-cell options drawn from o */
    struct le_job *job;
    struct le_pool *pool;
    struct le_taskcell *tasks;
    int n_tasks;
};

/* ---- output: results JSON, samples, markdown table ---- */

/* A task's results and group lists can meet another task's (--tasks
 * mmlu,mmlu_stem: mmlu's group mmlu_stem and the task mmlu_stem hold the
 * same numbers): entries are found or made, lists hold each name once,
 * numbers set once per key. */
static cJSON *le_eval_entry(cJSON *parent, const char *name, int array) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(parent, name);
    return e ? e : array ? cJSON_AddArrayToObject(parent, name) : cJSON_AddObjectToObject(parent, name);
}

static void le_eval_list_add(cJSON *list, const char *name) {
    const cJSON *e;
    cJSON_ArrayForEach(e, list) if (cJSON_IsString(e) && !strcmp(e->valuestring, name)) return;
    cJSON_AddItemToArray(list, cJSON_CreateString(name));
}

static void le_eval_add_num(cJSON *o, const char *k, double v) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddStringToObject(o, k, "N/A");
}

static const char *le_eval_output_type(int kind) {
    return kind == LE_TASK_MC    ? "multiple_choice"
           : kind == LE_TASK_LL  ? "loglikelihood"
           : kind == LE_TASK_GEN ? "generate_until"
                                 : "loglikelihood_rolling";
}

static cJSON *le_eval_results_json(const struct le_eval *E, const char *model, const char *sha, int n_ctx,
                                   int add_bos) {
    cJSON *root = cJSON_CreateObject();
    cJSON *res = cJSON_AddObjectToObject(root, "results"), *gs = cJSON_AddObjectToObject(root, "group_subtasks");
    cJSON *cf = cJSON_AddObjectToObject(root, "configs"), *ver = cJSON_AddObjectToObject(root, "versions");
    cJSON *ns = cJSON_AddObjectToObject(root, "n-shot"), *hib = cJSON_AddObjectToObject(root, "higher_is_better");
    cJSON *nsm = cJSON_AddObjectToObject(root, "n-samples"), *ours = cJSON_CreateObject();
    for (int i = 0; i < E->n_tasks; i++) {
        const struct le_taskcell *t = &E->tasks[i];
        const struct le_task_info *in = t->ts->info;
        cJSON *r = le_eval_entry(res, in->name, 0), *h = cJSON_AddObjectToObject(hib, in->name);
        const char *pre = in->subtask_prefix ? in->subtask_prefix : in->name; /* sub-tasks: pre_<sub-task> */
        if (!cJSON_GetObjectItemCaseSensitive(r, "alias")) /* lm-eval's group_alias / task_alias */
            cJSON_AddStringToObject(r, "alias", in->part ? in->part : in->name);
        for (int m = 0; m < t->n_met; m++) {
            char k[160];
            const char *flt = t->met[m].filter[0] ? t->met[m].filter : "none";
            cJSON *dst = r;
            if (t->met[m].group[0]) { /* a group's aggregate: its own results entry, as lm-eval's groups */
                char gname[128];
                snprintf(gname, sizeof gname, "%s_%s", pre, t->met[m].group);
                dst = le_eval_entry(res, gname, 0);
                if (!cJSON_GetObjectItemCaseSensitive(dst, "alias"))
                    cJSON_AddStringToObject(dst, "alias", t->met[m].group);
            }
            snprintf(k, sizeof k, "%s,%s", t->met[m].name, flt);
            le_eval_add_num(dst, k, t->met[m].value);
            snprintf(k, sizeof k, "%s_stderr,%s", t->met[m].name, flt);
            le_eval_add_num(dst, k, t->met[m].stderr_v);
            cJSON_AddBoolToObject(h, t->met[m].name, t->met[m].higher_is_better);
        }
        cJSON *sub = le_eval_entry(gs, in->name, 1);
        for (int m = 0; m < t->n_met && in->n_groups > 0 && in->group_parent; m++) /* MMLU: groups, subjects */
            for (int g = 0; g < in->n_groups; g++) {
                char leaf[128], par[128];
                if (strcmp(t->met[m].group, in->group_name(g)) || strcmp(t->met[m].name, t->met[0].name))
                    continue;
                snprintf(leaf, sizeof leaf, "%s_%s", pre, in->group_name(g));
                snprintf(par, sizeof par, "%s_%s", pre, in->group_parent(g));
                if (strcmp(par, in->name)) /* a task that is one group lists its sub-tasks itself */
                    le_eval_list_add(sub, par);
                le_eval_list_add(le_eval_entry(gs, par, 1), leaf);
            }
        cJSON *c = cJSON_AddObjectToObject(cf, in->name);
        cJSON_AddStringToObject(c, "task", in->name);
        cJSON_AddStringToObject(c, "dataset_path", in->dataset ? in->dataset : "brown (built-in)");
        cJSON_AddStringToObject(c, "test_split", in->eval_split);
        if (in->fewshot_split)
            cJSON_AddStringToObject(c, "fewshot_split", in->fewshot_split);
        cJSON_AddStringToObject(c, "output_type", le_eval_output_type(in->kind));
        cJSON_AddStringToObject(c, "target_delimiter", in->target_delimiter ? in->target_delimiter : "");
        cJSON_AddStringToObject(c, "fewshot_delimiter", in->fewshot_delimiter ? in->fewshot_delimiter : "\n\n");
        if (in->kind == LE_TASK_GEN) {
            cJSON *gk = cJSON_AddObjectToObject(c, "generation_kwargs"), *u = cJSON_AddArrayToObject(gk, "until");
            for (int q = 0; q < in->gen.n_until; q++)
                cJSON_AddItemToArray(u, cJSON_CreateString(in->gen.until[q]));
            cJSON_AddBoolToObject(gk, "do_sample", 0);
            cJSON_AddNumberToObject(gk, "max_gen_toks", in->gen.max_gen_toks > 0 ? in->gen.max_gen_toks : 256);
        }
        cJSON_AddNumberToObject(c, "num_fewshot", t->ts->num_fewshot);
        cJSON_AddBoolToObject(c, "answer_norm", t->ts->uncond);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(c, "metadata"), "version", in->version);
        cJSON_AddNumberToObject(ver, in->name, in->version);
        cJSON_AddNumberToObject(ns, in->name, t->ts->num_fewshot);
        cJSON *n = cJSON_AddObjectToObject(nsm, in->name);
        cJSON_AddNumberToObject(n, "original", (double)t->ts->n_docs_total);
        cJSON_AddNumberToObject(n, "effective", (double)t->ts->n_docs);
        cJSON *st = cJSON_AddObjectToObject(ours, in->name);
        cJSON_AddBoolToObject(st, "from_store", t->skipped);
        cJSON_AddNumberToObject(st, "requests", (double)t->st.requests);
        cJSON_AddNumberToObject(st, "tokens_evaluated", (double)t->st.tokens_evaluated);
        cJSON_AddNumberToObject(st, "tokens_naive", (double)t->st.tokens_naive);
    }
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    char margs[4200];
    snprintf(margs, sizeof margs, "pretrained=%s", model);
    cJSON_AddStringToObject(cfg, "model", "llamaeval");
    cJSON_AddStringToObject(cfg, "model_args", margs);
    cJSON_AddStringToObject(cfg, "model_sha256", sha);
    cJSON_AddNumberToObject(cfg, "batch_size", 1);
    if (E->o.limit > 0)
        cJSON_AddNumberToObject(cfg, "limit", (double)E->o.limit);
    else
        cJSON_AddNullToObject(cfg, "limit");
    cJSON_AddNumberToObject(cfg, "bootstrap_iters", (double)E->o.boot);
    cJSON_AddNumberToObject(cfg, "random_seed", (double)E->o.seed);
    cJSON_AddNumberToObject(cfg, "fewshot_seed", (double)E->o.fewshot_seed);
    cJSON_AddNumberToObject(cfg, "max_length", n_ctx);
    cJSON_AddBoolToObject(cfg, "add_bos_token", add_bos);
    cJSON_AddNumberToObject(cfg, "threads", le_pool_nthreads(E->pool));
    cJSON_AddStringToObject(root, "git_hash", LE_VERSION);
    cJSON_AddNumberToObject(root, "date", (double)time(NULL));
    cJSON_AddItemToObject(root, "llamaeval_requests", ours);
    return root;
}

/* A model file name made safe for a folder name (lm-eval sanitises likewise). */
static void le_eval_sanitize(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t i = 0;
    for (; *b && i + 1 < n; b++)
        out[i++] = (*b == '/' || *b == ' ' || *b == ':') ? '_' : *b;
    out[i] = 0;
}

static int le_eval_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    int bad = fputs(text, f) < 0 || fflush(f) != 0;
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    return bad ? le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(err)) : LE_OK;
}

/* samples_<task>_<date>.jsonl: one line per document (per filter for
 * generation tasks), in lm-eval's schema; only the documents of sub-task
 * `group` (>= 0: MMLU's subjects, numbered from 0 within it; no file for a
 * sub-task without documents), or all (-1). */
static int le_eval_write_samples(const struct le_taskcell *t, int group, const char *path) {
    const struct le_taskset *ts = t->ts;
    int64_t n = 0;
    for (int64_t d = 0; d < ts->n_docs; d++)
        n += group < 0 || ts->prompts[d].group == group;
    if (!n && group >= 0)
        return LE_OK;
    FILE *f = fopen(path, "wb");
    if (!f)
        return le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    int rc = LE_OK;
    for (int64_t d = 0, id = 0; d < ts->n_docs && !rc; d++) { /* lm-eval's schema (tasks/samples.c) */
        if (group >= 0 && ts->prompts[d].group != group)
            continue;
        char *lines = NULL;
        rc = le_task_sample_lines(ts, d, id++, &t->recs[t->off[d]], &lines);
        if (!rc)
            fputs(lines, f);
        free(lines);
    }
    if (rc) {
        fclose(f);
        return rc;
    }
    int bad = ferror(f) || fflush(f) != 0;
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    return bad ? le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(err)) : LE_OK;
}

static int le_eval_write_outputs(const struct le_eval *E, const char *model, cJSON *root) {
    char stamp[64], dir[4096], path[4400], san[256];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tmv;
    localtime_r(&tv.tv_sec, &tmv);
    size_t sl = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tmv);
    snprintf(stamp + sl, sizeof stamp - sl, ".%06ld", (long)tv.tv_usec);
    const char *op = E->o.outpath;
    size_t ol = strlen(op);
    le_eval_sanitize(model, san, sizeof san);
    int direct = ol > 5 && !strcmp(op + ol - 5, ".json");
    if (direct) {
        snprintf(path, sizeof path, "%s", op);
        snprintf(dir, sizeof dir, "%s", op);
        char *sl2 = strrchr(dir, '/');
        if (sl2)
            *sl2 = 0;
        else
            snprintf(dir, sizeof dir, ".");
    } else {
        snprintf(dir, sizeof dir, "%s/%s", op, san);
        snprintf(path, sizeof path, "%s/results_%s.json", dir, stamp);
    }
    if (le_mkdirs(dir))
        return le_err_set(LE_EIO, "cannot create %s: %s", dir, strerror(errno));
    char *text = cJSON_Print(root);
    int rc = text ? le_eval_write_text(path, text) : le_err_set(LE_ENOMEM, "out of memory");
    free(text);
    /* as lm-eval: one file per task, and per sub-task of a task that has
     * them (samples_mmlu_abstract_algebra_..., never samples_mmlu_...) */
    for (int i = 0; i < E->n_tasks && !rc && E->o.log_samples; i++) {
        const struct le_task_info *in = E->tasks[i].ts->info;
        if (in->n_groups <= 0 || !in->group_name) {
            snprintf(path, sizeof path, "%s/samples_%s_%s.jsonl", dir, in->name, stamp);
            rc = le_eval_write_samples(&E->tasks[i], -1, path);
            continue;
        }
        const char *pre = in->subtask_prefix ? in->subtask_prefix : in->name;
        for (int g = 0; g < in->n_groups && !rc; g++) {
            snprintf(path, sizeof path, "%s/samples_%s_%s_%s.jsonl", dir, pre, in->group_name(g), stamp);
            rc = le_eval_write_samples(&E->tasks[i], g, path);
        }
    }
    return rc;
}

/* Display width of UTF-8 text (code points). */
static int le_eval_width(const char *s) {
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* A metric's table section: a sub-task (MMLU subject) sits under its parent
 * group (*leaf = 1); a group or the task is its own section. */
static const char *le_eval_section(const struct le_task_info *in, const struct le_metric *m, int *leaf) {
    *leaf = 0;
    for (int g = 0; m->group[0] && in->group_parent && g < in->n_groups; g++)
        if (!strcmp(m->group, in->group_name(g))) {
            *leaf = 1;
            return in->group_parent(g);
        }
    return m->group;
}

static int le_eval_met_cmp(const struct le_task_info *in, const struct le_metric *a, const struct le_metric *b) {
    int la, lb, c = strcmp(le_eval_section(in, a, &la), le_eval_section(in, b, &lb));
    if (!c)
        c = la - lb;
    if (!c)
        c = strcmp(a->group, b->group);
    if (!c)
        c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->filter, b->filter);
}

/* lm-eval's make_table (pytablewriter markdown): headers centred, text left,
 * numbers right. */
static void le_eval_print_table(const struct le_eval *E) {
    enum { NC = 9 };
    static const char *hdr[NC] = {"Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"};
    static const int right[NC] = {0, 1, 0, 1, 0, 0, 1, 0, 1};
    int nrow = 0;
    for (int i = 0; i < E->n_tasks; i++)
        nrow += E->tasks[i].n_met;
    char(*cell)[NC][40] = calloc((size_t)(nrow > 0 ? nrow : 1), sizeof *cell);
    if (!cell)
        return;
    int r = 0, w[NC];
    for (int i = 0; i < E->n_tasks; i++) {
        const struct le_taskcell *t = &E->tasks[i];
        int ord[sizeof t->met / sizeof t->met[0]], leaf;
        for (int m = 0; m < t->n_met; m++)
            ord[m] = m;
        for (int a = 1; a < t->n_met; a++) /* lm-eval sorts metrics by name (groups after the task) */
            for (int b = a; b > 0 && le_eval_met_cmp(t->ts->info, &t->met[ord[b - 1]], &t->met[ord[b]]) > 0; b--) {
                int x = ord[b];
                ord[b] = ord[b - 1];
                ord[b - 1] = x;
            }
        for (int k = 0; k < t->n_met; k++, r++) {
            const struct le_metric *m = &t->met[ord[k]];
            le_eval_section(t->ts->info, m, &leaf);
            if (m->group[0])
                snprintf(cell[r][0], 40, "%s - %s", leaf ? " " : "", m->group);
            else
                snprintf(cell[r][0], 40, "%s", k == 0 ? t->ts->info->name : "");
            if (k == 0)
                snprintf(cell[r][1], 40, "%g", t->ts->info->version);
            snprintf(cell[r][2], 40, "%s", m->filter[0] ? m->filter : "none");
            snprintf(cell[r][3], 40, "%d", t->ts->num_fewshot);
            snprintf(cell[r][4], 40, "%s", m->name);
            snprintf(cell[r][5], 40, "%s", m->higher_is_better ? "\xe2\x86\x91" : "\xe2\x86\x93");
            snprintf(cell[r][6], 40, "%.4f", m->value);
            snprintf(cell[r][7], 40, "%s", isfinite(m->stderr_v) ? "\xc2\xb1" : "");
            if (isfinite(m->stderr_v))
                snprintf(cell[r][8], 40, "%.4f", m->stderr_v);
            else
                snprintf(cell[r][8], 40, "   N/A");
        }
    }
    for (int c = 0; c < NC; c++) {
        w[c] = le_eval_width(hdr[c]) > 3 ? le_eval_width(hdr[c]) : 3;
        for (int i = 0; i < nrow; i++)
            if (le_eval_width(cell[i][c]) > w[c])
                w[c] = le_eval_width(cell[i][c]);
    }
    for (int c = 0; c < NC; c++) {
        int pad = w[c] - le_eval_width(hdr[c]);
        printf("|%*s%s%*s", pad / 2, "", hdr[c], pad - pad / 2, "");
    }
    printf("|\n");
    for (int c = 0; c < NC; c++) {
        printf("|");
        for (int k = 0; k < w[c] - right[c]; k++)
            putchar('-');
        if (right[c])
            putchar(':');
    }
    printf("|\n");
    for (int i = 0; i < nrow; i++) {
        for (int c = 0; c < NC; c++) {
            int pad = w[c] - le_eval_width(cell[i][c]);
            if (right[c])
                printf("|%*s%s", pad, "", cell[i][c]);
            else
                printf("|%s%*s", cell[i][c], pad, "");
        }
        printf("|\n");
    }
    free(cell);
}

/* ---- driver ---- */

static int le_eval_model(struct le_eval *E, const char *path) {
    struct le_model *m = NULL;
    struct le_runner *R = NULL;
    cJSON *root = NULL;
    char sha[65];
    int64_t model_id = 0;
    struct le_format_opts fo = {.lora = E->o.lora, .n_lora = E->o.n_lora};
    int rc = le_model_open_ex(&m, path, &fo);
    if (!rc && !le_model_tok(m))
        rc = le_err_set(LE_EUNSUP, "%s has no tokenizer", path);
    struct le_runner_opts ro = {(int)E->o.ctx, (int)E->o.batch, (int)E->o.bos};
    int rn_ctx = 0, rn_batch = 0;
    if (!rc) {
        le_runner_sizes(m, &ro, &rn_ctx, &rn_batch);
        rc = le_memplan_check(m, rn_ctx, rn_batch, le_pool_nthreads(E->pool), E->o.quiet);
    }
    if (!rc)
        rc = le_job_hash_model(path, le_model_get_info(m)->file_size, !E->o.quiet, sha);
    if (!rc && E->o.n_lora)
        rc = le_job_hash_lora(sha, E->o.lora, E->o.n_lora, sha);
    if (!rc)
        rc = le_job_add_model(E->job, path, sha, le_model_get_info(m), &model_id);
    if (!rc)
        rc = le_runner_new(&R, m, E->pool, &ro);
    if (!rc)
        rc = le_cli_check_ctx(E->job, path, le_runner_n_ctx(R), le_model_get_info(m)->ctx_train);
    for (int i = 0; i < E->n_tasks && !rc; i++) {
        rc = le_taskcell_run(&E->tasks[i], &E->to, E->job, R, sha, model_id);
        if (rc)
            le_err_wrap(rc, "%s on %s", E->tasks[i].name, path);
        const struct le_runner_stats *st = &E->tasks[i].st;
        if (!rc && !E->o.quiet && st->tokens_naive > 0)
            fprintf(stderr,
                    "llamaeval: %s: %lld requests, %lld forward tokens evaluated, %lld without prefix sharing "
                    "(%.1f%% saved)\n",
                    E->tasks[i].name, (long long)st->requests, (long long)st->tokens_evaluated,
                    (long long)st->tokens_naive,
                    100.0 * (1.0 - (double)st->tokens_evaluated / (double)st->tokens_naive));
    }
    if (!rc) {
        root = le_eval_results_json(E, path, sha, le_runner_n_ctx(R), le_runner_add_bos(R));
        if (E->o.outpath)
            rc = le_eval_write_outputs(E, path, root);
    }
    if (!rc) {
        char lim[32] = "None", k[32] = "None";
        if (E->o.limit > 0)
            snprintf(lim, sizeof lim, "%ld", E->o.limit);
        if (E->o.k >= 0)
            snprintf(k, sizeof k, "%ld", E->o.k);
        printf("llamaeval (pretrained=%s), limit: %s, num_fewshot: %s, max_length: %d\n", path, lim, k,
               le_runner_n_ctx(R));
        le_eval_print_table(E);
        printf("\n");
        fflush(stdout);
    }
    cJSON_Delete(root);
    le_runner_free(R);
    le_model_free(m);
    return rc;
}

static int le_eval_load_tasks(struct le_eval *E, char **names, int n) {
    E->tasks = calloc((size_t)n, sizeof *E->tasks);
    if (!E->tasks)
        return le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        int rc = le_taskcell_load(&E->tasks[i], names[i], &E->to);
        if (rc)
            return rc;
        E->n_tasks++;
    }
    return LE_OK;
}

static void le_eval_free(struct le_eval *E) {
    for (int i = 0; i < E->n_tasks; i++)
        le_taskcell_free(&E->tasks[i]);
    free(E->tasks);
    le_pool_free(E->pool);
}

static char *le_eval_help_text(void) {
    size_t n = strlen(le_eval_usage) + strlen(le_eval_help_head) + 64 * (size_t)le_task_count() + 200;
    char *h = malloc(n);
    if (!h)
        return NULL;
    size_t at = (size_t)snprintf(h, n, "%s\n\n%s", le_eval_usage, le_eval_help_head);
    for (int i = 0; i < le_task_count() && at < n; i++) {
        const struct le_task_info *t = le_task_get(i);
        at += (size_t)snprintf(h + at, n - at, "  %-16s %s\n", t->name,
                               t->kind == LE_TASK_MC    ? "multiple choice"
                               : t->kind == LE_TASK_LL  ? "last word: greedy match, perplexity"
                               : t->kind == LE_TASK_GEN ? "generation (greedy), exact match"
                                                        : "perplexity (rolling windows)");
    }
    const char *pre = NULL; /* the parts lm-eval names: groups, then <prefix>_<subject> */
    for (int i = 0; i < le_task_part_count() && at < n; i++) {
        const struct le_task_info *t = le_task_part_get(i);
        if (t->n_groups > 0)
            at += (size_t)snprintf(h + at, n - at, "%s%s", pre ? ", " : "  ", t->name);
        pre = t->subtask_prefix;
    }
    if (pre && at < n)
        snprintf(h + at, n - at, ", %s_<subject>:\n%19sparts of %s as lm-eval names them (--tasks list)\n", pre, "",
                 pre);
    return h;
}

static void le_eval_list_row(const struct le_task_info *t, const char *from) {
    printf("%-21s %-22s %-6d %-16s %s\n", t->name, le_eval_output_type(t->kind), t->default_fewshot,
           from ? from : t->dataset ? t->dataset : "brown (built-in)", t->eval_split);
}

/* Calls fn on every YAML task of dir (files *.yaml, *.yml, in name order). */
static int le_eval_scan_yaml(const char *dir, int (*fn)(void *ud, const char *path, const struct le_task_info *t),
                             void *ud) {
    struct dirent **ents = NULL;
    int n = dir ? scandir(dir, &ents, NULL, alphasort) : 0, rc = 0;
    if (n < 0)
        return le_err_set(LE_EIO, "cannot read --include-path %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
        struct le_task_info *t = NULL;
        if (!rc && le_task_is_yaml(ents[i]->d_name)) {
            rc = le_task_yaml_load(&t, path);
            if (!rc)
                rc = fn(ud, path, t);
            le_task_info_free(t);
        }
        free(ents[i]);
    }
    free(ents);
    return rc < 0 ? rc : LE_OK;
}

static int le_eval_list_yaml(void *ud, const char *path, const struct le_task_info *t) {
    (void)ud;
    char from[4300];
    snprintf(from, sizeof from, "%s (%s)", t->dataset ? t->dataset : "local files", path);
    le_eval_list_row(t, from);
    return 0;
}

/* `eval --tasks list`: every task with its output type, n-shot and dataset. */
static int le_eval_list_tasks(const char *include) {
    printf("%-21s %-22s %-6s %-16s %s\n", "task", "output_type", "n-shot", "dataset", "split");
    for (int i = 0; i < le_task_count(); i++)
        le_eval_list_row(le_task_get(i), NULL);
    /* the parts lm-eval names: its groups one a row (mmlu_stem, ...); the
     * subjects (mmlu_<subject>) as one row, 57 rows would flood the list */
    const struct le_task_info *sub = NULL;
    int n_sub = 0;
    for (int i = 0; i < le_task_part_count(); i++) {
        const struct le_task_info *t = le_task_part_get(i);
        if (t->n_groups > 0)
            le_eval_list_row(t, NULL);
        else if (n_sub++ == 0)
            sub = t;
    }
    if (sub) {
        char name[64];
        snprintf(name, sizeof name, "%s_<subject>", sub->subtask_prefix);
        printf("%-21s %-22s %-6d %-16s %-10s (%d subjects, e.g. %s)\n", name, le_eval_output_type(sub->kind),
               sub->default_fewshot, sub->dataset, sub->eval_split, n_sub, sub->name);
    }
    int rc = le_eval_scan_yaml(include, le_eval_list_yaml, NULL);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}

struct le_eval_find {
    const char *name;
    char *path; /* malloc'ed when found */
};

static int le_eval_find_yaml(void *ud, const char *path, const struct le_task_info *t) {
    struct le_eval_find *f = ud;
    if (!f->path && !strcmp(t->name, f->name))
        f->path = strdup(path);
    return 0;
}

/* Levenshtein distance (names are short). */
static int le_eval_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int x = d[i - 1][j] + 1, y = d[i][j - 1] + 1;
            d[i][j] = c < x ? (c < y ? c : y) : (x < y ? x : y);
        }
    return d[la][lb];
}

struct le_eval_near {
    const char *name;
    char best[128];
    int bd;
};

static int le_eval_near_yaml(void *ud, const char *path, const struct le_task_info *t) {
    (void)path;
    struct le_eval_near *n = ud;
    int d = le_eval_edit_distance(n->name, t->name);
    if (d < n->bd) {
        n->bd = d;
        snprintf(n->best, sizeof n->best, "%s", t->name);
    }
    return 0;
}

/* The unknown-task message, with the nearest task name (built in or of
 * --include-path) when one is close. */
static int le_eval_unknown_task(const char *name, const char *include) {
    struct le_eval_near n = {name, "", 1 << 20};
    for (int i = 0; i < le_task_count(); i++)
        le_eval_near_yaml(&n, NULL, le_task_get(i));
    for (int i = 0; i < le_task_part_count(); i++)
        le_eval_near_yaml(&n, NULL, le_task_part_get(i));
    le_eval_scan_yaml(include, le_eval_near_yaml, &n);
    const char *best = n.best[0] ? n.best : NULL;
    int bd = n.bd;
    int close = best && bd <= (int)(strlen(name) / 3 > 2 ? strlen(name) / 3 : 2);
    return le_cli_usage(le_eval_usage, "unknown task '%s'%s%s%s (see llamaeval eval --tasks list)", name,
                        close ? "; did you mean '" : "", close ? best : "", close ? "'?" : "");
}

int le_cmd_eval(int argc, char **argv) {
    for (int i = 1; i < argc; i++) /* --slurm: a job array over the grid (eval_cluster.c) */
        if (!strcmp(argv[i], "--slurm"))
            return le_eval_slurm(argc, argv);
    struct le_eval E = {0};
    char *help = le_eval_help_text();
    int ec = le_eval_parse(argc, argv, &E.o, help ? help : (char *)le_eval_usage);
    free(help);
    if (ec >= 0)
        return ec;
    if (!strcmp(E.o.tasks, "list"))
        return le_eval_list_tasks(E.o.include_path);
    int nm = 0, nt = 0;
    char **models = le_eval_split(E.o.models, &nm), **tasks = le_eval_split(E.o.tasks, &nt);
    int rc = models && tasks ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    if (!rc && (nm == 0 || nt == 0))
        ec = le_cli_usage(le_eval_usage, "--model and --tasks need at least one name each");
    else if (!rc && nm > 1 && E.o.outpath && strlen(E.o.outpath) > 5 &&
             !strcmp(E.o.outpath + strlen(E.o.outpath) - 5, ".json"))
        ec = le_cli_usage(le_eval_usage, "--output-path FILE.json takes one model; give a directory");
    for (int i = 0; ec < 0 && !rc && i < nt; i++) {
        if (le_task_find(tasks[i]) || le_task_is_yaml(tasks[i]))
            continue;
        struct le_eval_find f = {tasks[i], NULL};
        if (E.o.include_path && (rc = le_eval_scan_yaml(E.o.include_path, le_eval_find_yaml, &f)))
            break;
        if (f.path) { /* a task of --include-path: load it by its file */
            free(tasks[i]);
            tasks[i] = f.path;
        } else
            ec = le_eval_unknown_task(tasks[i], E.o.include_path);
    }
    if (ec >= 0)
        goto done;
    E.to = (struct le_taskcell_opts){
        .num_fewshot = (int)E.o.k, .fewshot_seed = E.o.fewshot_seed, .seed = E.o.seed, .limit = E.o.limit,
        .boot = E.o.boot, .flush = E.o.flush, .offline = E.o.offline, .quiet = E.o.quiet,
        .gen_batch = E.o.gen_batch,
        .uncond = !strcmp(E.o.answer_norm, "all") ? 1 : !strcmp(E.o.answer_norm, "none") ? 0 : -1};
    if (!rc)
        rc = le_eval_load_tasks(&E, tasks, nt);
    if (!rc)
        rc = le_pool_new(&E.pool, (int)E.o.threads);
    if (!rc) {
        char cfg[1024];
        snprintf(cfg, sizeof cfg,
                 "{\"models\":\"%s\",\"tasks\":\"%s\",\"num_fewshot\":%ld,\"limit\":%ld,\"ctx\":%ld,\"seed\":%llu}",
                 "", "", E.o.k, E.o.limit, E.o.ctx, (unsigned long long)E.o.seed);
        cJSON *j = cJSON_Parse(cfg);
        if (j) {
            cJSON_ReplaceItemInObject(j, "models", cJSON_CreateString(E.o.models));
            cJSON_ReplaceItemInObject(j, "tasks", cJSON_CreateString(E.o.tasks));
        }
        char *cj = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        /* --db none: the same cell protocol on an in-memory store, so the
         * numbers are those a store would hold, and nothing is written. */
        const char *db = strcmp(E.o.db, "none") ? E.o.db : ":memory:";
        struct le_job_opts jo = {.db = db, .command = "eval", .config_json = cj ? cj : cfg, .seed = E.o.seed,
                                 .threads = le_pool_nthreads(E.pool), .signals = LE_JOB_SIGNALS_EXIT,
                                 .on_wait = le_cli_job_wait};
        rc = le_job_open(&E.job, &jo);
        free(cj);
    }
    for (int i = 0; i < nm && !rc; i++)
        rc = le_eval_model(&E, models[i]);
    rc = le_job_end(E.job, rc);
    E.job = NULL;
    ec = rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
done:
    le_eval_free(&E);
    le_eval_free_list(models);
    le_eval_free_list(tasks);
    return ec;
}
