/*
 * cmd_sweep: `llamaeval sweep PLAN.json` -- trains and evaluates every cell
 * of a scaling-sweep plan (le_sweep.h) in-process, into the results store.
 *
 * Setup: the plan's tokenizer (trained once into the out dir when the plan
 * says so), the corpus tokenised once (le_corpus, as `train` reads it), the
 * cells resolved and checked (epochs, steps) before anything trains.
 *
 * A cell is one le_job cell (task "sweep"), keyed by the data's identity
 * (sha256 of the tokenizer file and both token streams) and the cell's
 * config (the trainer's config JSON, its budget and the FLOPs convention).
 * Its protocol: the sweep row at start (le_store_put_sweep_cell); training
 * with an evaluation point every eval_every steps -- validation loss on a
 * fixed subset of eval_tokens tokens, the whole validation split at the
 * last step -- each point written (le_store_put_sweep_points) before the
 * checkpoint it ends with (so a killed cell recomputes, identically, any
 * point after its checkpoint); at the end the model row and the cell's
 * results ("loss" in nats/token, "bpb") with the done mark, in one
 * transaction. Then the plan's tasks on the final model, each a task cell
 * (le_taskcell, as eval scores them). A rerun skips done cells and resumes a
 * half-trained one from its checkpoint (GGUF + .opt), bit-exactly: the
 * trainer's results do not depend on threads or on a save/resume, so every
 * number equals an uninterrupted sweep's.
 *
 * Cells are independent: --jobs J worker threads take cells (largest first
 * when J > 1), each with its own thread pool of threads/J threads and its
 * own tasks; the store is shared through the job's lock. Overall progress
 * counts training FLOPs (App. F), so its ETA is a compute estimate.
 *
 * On a cluster (README.md, "On a cluster"; le_slurm.h): --slurm writes a
 * Slurm job array of one task per cell and a dependent merge job, and
 * submits them; each task is `sweep PLAN --cell I --db SHARD` (one cell,
 * its own store) with --requeue: on SIGTERM it checkpoints, and asks Slurm
 * to requeue it. --status tells each cell's state from the merged store,
 * the shards, the checkpoints and squeue/sacct. sweep_cluster.c has them.
 *
 * Test hooks (in the test build only, -DLE_TESTING):
 * LE_TEST_SWEEP_KILL_AFTER=N raises SIGKILL once this process
 * has written N checkpoints; LE_TEST_KILL_AFTER=N once it has committed N
 * task samples (le_job's); LE_TEST_SWEEP_HOLD=I:N makes the process training
 * cell I from step 0 wait for a signal after its Nth checkpoint (a test can
 * then interrupt it midway without racing it).
 */
#include "cli.h"           /* le_cli_* */
#include "commands.h"      /* le_cmd_sweep */
#include "le_bpe_train.h"  /* the plan's tokenizer */
#include "le_corpus.h"     /* the corpus, read and tokenised as train does */
#include "le_err.h"
#include "le_fs.h"         /* le_read_file, le_mkdirs */
#include "le_gguf.h"
#include "le_job.h"        /* the run, cells, models */
#include "le_model.h"      /* le_model_open: the final model for the tasks */
#include "le_pool.h"
#include "le_progress.h"
#include "le_sha256.h"     /* the data's identity */
#include "le_store.h"      /* sweep rows and points */
#include "le_sweep.h"      /* plans and cells */
#include "sweep_int.h"     /* struct le_sw, shared with sweep_cluster.c */
#include "le_taskcell.h"   /* the tasks, scored as eval does */
#include "le_tok.h"
#include "le_train.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *le_sw_usage =
    "usage: llamaeval sweep PLAN.json [--db FILE] [--out DIR] [--threads N] [--jobs J] [--dry-run] [--quiet]\n"
    "       [--cell I [--requeue]] [--status] [--slurm [--partition P] [--time T] [--cpus-per-task C] [--mem M]\n"
    "       [--max-running K]]";

static const char *le_sw_help =
    "usage: llamaeval sweep PLAN.json [--db FILE] [--out DIR] [--threads N] [--jobs J] [--dry-run] [--quiet]\n"
    "\n"
    "Trains and evaluates every cell of a scaling-sweep plan (model shapes x token\n"
    "budgets, or IsoFLOP budgets; the plan format is in README.md, \"Scaling\n"
    "sweeps\"): per cell the validation loss at every evaluation point against\n"
    "tokens and FLOPs, the final held-out loss (nats/token) and bits per byte, and\n"
    "the plan's tasks on the final model, all in the store. Resumable: a rerun\n"
    "skips finished cells and continues a half-trained one from its checkpoint,\n"
    "with the same numbers as an uninterrupted sweep. Ctrl-C stops at a checkpoint.\n"
    "\n"
    "Options:\n"
    "  --db FILE      results store (default: DIR/results.sqlite)\n"
    "  --out DIR      tokenizer, checkpoints (DIR/cells/...) (default: out/<plan name>)\n"
    "  --threads N    worker threads in all (default: all cores); never changes results\n"
    "  --jobs J       cells trained at once, threads/J threads each (default 2: on\n"
    "                 2 cores, 2 cells x 1 thread trained a 5-cell plan in 22 s, 1 cell\n"
    "                 x 2 threads in 32 s; see README); never changes results\n"
    "  --dry-run      list the cells (N under three conventions, D, C, epochs, state)\n"
    "                 and train nothing (a plan's tokenizer is still trained: seconds)\n"
    "  --quiet        no progress, only the cell lines and the table\n"
    "  -h, --help     show this help\n"
    "\n"
    "On a cluster (README.md, \"On a cluster\"):\n"
    "  --slurm        submit a Slurm job array, one task per cell, each into its own\n"
    "                 store DIR/shards/cell-I.sqlite, and a job merging them into --db\n"
    "                 after the array (with --dry-run: print both scripts instead)\n"
    "  --partition P, --time T, --cpus-per-task C, --mem M\n"
    "                 each task's resources (sbatch's options; default: the cluster's,\n"
    "                 1 CPU)\n"
    "  --max-running K  at most K tasks at once (the array's %K)\n"
    "  --cell I       train and score only cell I (0-based, plan order; as --dry-run\n"
    "                 lists them): what each array task runs\n"
    "  --requeue      with --cell inside a Slurm job: on SIGTERM, checkpoint, then ask\n"
    "                 Slurm to requeue the job (scontrol requeue)\n"
    "  --status       each cell's state: done (merged into --db, or in its shard),\n"
    "                 running, pending or failed, with squeue/sacct's view when\n"
    "                 Slurm is there; --db may name a folder of shards\n";


/* 1234567 -> "1.23M" */
static const char *si(char *b, size_t n, double v) {
    const char *u[] = {"", "k", "M", "G", "T", "P", "E"};
    int i = 0;
    while (fabs(v) >= 1000 && i < 6)
        v /= 1000, i++;
    snprintf(b, n, "%.3g%s", v, u[i]);
    return b;
}

/* Functions for the setup: options, tokenizer, data, cells. */

static int parse_args(struct le_sw_opts *o, int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},    {"out", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 't'}, {"jobs", required_argument, 0, 'j'},
        {"dry-run", no_argument, 0, 'n'},     {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},        {"cell", required_argument, 0, 'C'},
        {"requeue", no_argument, 0, 'R'},     {"status", no_argument, 0, 's'},
        {"slurm", no_argument, 0, 'S'},       {"partition", required_argument, 0, 'P'},
        {"time", required_argument, 0, 'T'},  {"cpus-per-task", required_argument, 0, 'c'},
        {"mem", required_argument, 0, 'M'},   {"max-running", required_argument, 0, 'K'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_sw_usage, le_sw_help, 0};
    *o = (struct le_sw_opts){.threads = le_ncpu(), .jobs = 2, .cell = -1, .hold_cell = -1};
    long v;
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return -2;
        case 'd': o->db = optarg; break;
        case 'o': o->out = optarg; break;
        case 'n': o->dry = 1; break;
        case 'q': o->quiet = 1; break;
        case 't': if (le_cli_int(&p, "--threads", optarg, 1, 1024, &o->threads)) return LE_EXIT_USAGE; break;
        case 'j': if (le_cli_int(&p, "--jobs", optarg, 1, 64, &o->jobs)) return LE_EXIT_USAGE; break;
        case 'C': if (le_cli_int(&p, "--cell", optarg, 0, 1000000, &o->cell)) return LE_EXIT_USAGE; break;
        case 'R': o->requeue = 1; break;
        case 's': o->status = 1; break;
        case 'S': o->slurm = 1; break;
        case 'P': o->so.partition = optarg; break;
        case 'T': o->so.time = optarg; break;
        case 'M': o->so.mem = optarg; break;
        case 'c': if (le_cli_int(&p, "--cpus-per-task", optarg, 1, 1024, &v)) return LE_EXIT_USAGE;
                  o->so.cpus_per_task = (int)v; break;
        case 'K': if (le_cli_int(&p, "--max-running", optarg, 1, 100000, &v)) return LE_EXIT_USAGE;
                  o->so.max_running = (int)v; break;
        default: return LE_EXIT_USAGE;
        }
    }
    int i = le_cli_optind();
    if (i >= argc)
        return le_cli_usage(le_sw_usage, "which plan? (a JSON file; see README.md, \"Scaling sweeps\")");
    o->plan = argv[i];
    if (i + 1 < argc)
        return le_cli_usage(le_sw_usage, "unexpected argument '%s'", argv[i + 1]);
    if (o->slurm + o->status + (o->cell >= 0) > 1)
        return le_cli_usage(le_sw_usage, "--slurm, --status and --cell go alone");
    if (o->requeue && o->cell < 0)
        return le_cli_usage(le_sw_usage, "--requeue goes with --cell");
    if (o->db && !strcmp(o->db, "none")) /* its cells are the sweep's result, and fit reads them */
        return le_cli_usage(le_sw_usage,
                            "a sweep needs a store: give --db FILE, or leave --db out for DIR/results.sqlite");
    if (!o->slurm && (o->so.partition || o->so.time || o->so.mem || o->so.cpus_per_task || o->so.max_running))
        return le_cli_usage(le_sw_usage, "--partition, --time, --cpus-per-task, --mem and --max-running go with --slurm");
#ifdef LE_TESTING /* seams of the test build only (CMakeLists.txt) */
    const char *hold = getenv("LE_TEST_SWEEP_HOLD"); /* "I:N" */
    if (hold && sscanf(hold, "%d:%ld", &o->hold_cell, &o->hold_after) != 2)
        o->hold_cell = -1;
    const char *ka = getenv("LE_TEST_SWEEP_KILL_AFTER");
    o->kill_after = ka ? atol(ka) : 0;
#endif
    return 0;
}

static int load_plan(struct le_sw *S) {
    char *text = NULL, *base = strdup(S->o.plan);
    size_t len;
    int rc = base ? le_read_file(S->o.plan, &text, &len) : le_err_set(LE_ENOMEM, "out of memory");
    if (!rc) {
        char *sl = strrchr(base, '/');
        if (sl)
            *sl = 0;
        rc = le_sweep_plan_parse(&S->plan, text, sl ? base : NULL);
        if (rc)
            le_err_wrap(rc, "%s", S->o.plan);
    }
    free(text), free(base);
    if (!rc)
        S->set = le_sweep_plan_setup(S->plan);
    return rc;
}

/* Trains the plan's BPE tokenizer into the out dir unless it is there. */
static int make_tokenizer(struct le_sw *S, const struct le_corpus *corp) {
    const struct le_sweep_setup *s = S->set;
    if (s->tokenizer)
        return (S->tok_path = strdup(s->tokenizer)) ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    const char *src = s->tokenizer_corpus ? s->tokenizer_corpus : le_corpus_name(corp);
    uint64_t h = 0xcbf29ce484222325ULL; /* names the source, so another corpus never reuses the file */
    for (const char *p = src; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    int n_ok = strcmp(src, "brown")
                   ? asprintf(&S->tok_path, "%s/tokenizer-%016llx-%lld.gguf", S->o.out, (unsigned long long)h,
                              (long long)s->tokenizer_vocab)
                   : asprintf(&S->tok_path, "%s/tokenizer-brown-%lld.gguf", S->o.out, (long long)s->tokenizer_vocab);
    if (n_ok < 0)
        return le_err_set(LE_ENOMEM, "out of memory");
    struct stat st;
    if (stat(S->tok_path, &st) == 0)
        return LE_OK;
    /* the texts: a corpus's training split (Brown's or the plan's), or the named file */
    struct le_corpus *own = NULL;
    int from_file = strcmp(src, "brown") && s->tokenizer_corpus, rc = LE_OK;
    if (!from_file && strcmp(src, le_corpus_name(corp)))
        rc = le_corpus_open(&own, NULL, NULL), corp = own;
    int64_t n = from_file ? 1 : rc ? 0 : le_corpus_n_docs(corp, LE_CORPUS_TRAIN);
    const char **texts = calloc((size_t)(n + 1), sizeof *texts);
    size_t *lens = calloc((size_t)(n + 1), sizeof *lens);
    char *file = NULL;
    if (!rc && (!texts || !lens))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    if (!rc && from_file)
        rc = le_read_file(src, &file, &lens[0]), texts[0] = file;
    for (int64_t i = 0; !rc && !from_file && i < n; i++)
        texts[i] = le_corpus_doc(corp, LE_CORPUS_TRAIN, i, &lens[i]);
    struct le_bpe_opts bo;
    le_bpe_opts_default(&bo);
    bo.vocab_size = (int32_t)s->tokenizer_vocab;
    struct le_bpe_vocab *v = NULL;
    char name[64];
    snprintf(name, sizeof name, "llamaeval-bpe-%lld", (long long)s->tokenizer_vocab);
    if (!rc)
        rc = le_bpe_train(&v, texts, lens, n, &bo);
    if (!rc)
        rc = le_bpe_write_gguf(v, S->tok_path, name);
    if (!rc && !S->o.quiet)
        fprintf(stderr, "llamaeval: trained the plan's tokenizer: %d ids -> %s\n", v->n, S->tok_path);
    le_bpe_vocab_free(v);
    free(texts), free(lens), free(file);
    le_corpus_free(own);
    return rc;
}

/* The data's identity: the tokenizer file and both token streams. */
static int data_identity(struct le_sw *S) {
    char tok_sha[65];
    int rc = le_sha256_file(S->tok_path, tok_sha);
    if (rc)
        return rc;
    struct le_sha256_ctx h;
    uint8_t dg[32];
    le_sha256_init(&h);
    le_sha256_update(&h, tok_sha, 64);
    le_sha256_update(&h, &S->n_train, sizeof S->n_train);
    le_sha256_update(&h, S->train, sizeof *S->train * (size_t)S->n_train);
    le_sha256_update(&h, &S->n_valid, sizeof S->n_valid);
    le_sha256_update(&h, S->valid, sizeof *S->valid * (size_t)S->n_valid);
    le_sha256_final(&h, dg);
    le_sha256_hex(dg, S->data_sha);
    return LE_OK;
}

static int setup(struct le_sw *S) {
    struct le_corpus *corp = NULL;
    int rc = load_plan(S);
    if (rc)
        return rc;
    if (!S->o.out) {
        snprintf(S->outbuf, sizeof S->outbuf, "out/%s", S->set->name);
        S->o.out = S->outbuf;
    }
    if ((rc = le_mkdirs(S->o.out)))
        return rc;
    if ((rc = le_corpus_open(&corp, S->set->train_file, S->set->valid_file)))
        return rc;
    rc = make_tokenizer(S, corp);
    if (!rc && !(rc = le_gguf_open(&S->tokg, S->tok_path)) && (rc = le_tok_from_gguf(&S->tok, S->tokg)))
        le_err_wrap(rc, "tokenizer %s", S->tok_path);
    if (!rc)
        rc = le_corpus_tokenize(corp, LE_CORPUS_TRAIN, S->tok, &S->train, &S->n_train);
    if (!rc)
        rc = le_corpus_tokenize(corp, LE_CORPUS_VALID, S->tok, &S->valid, &S->n_valid);
    S->valid_bytes = le_corpus_bytes(corp, LE_CORPUS_VALID);
    le_corpus_free(corp);
    if (!rc && S->n_valid < 2)
        rc = le_err_set(LE_EINVAL, "the validation split is empty");
    if (!rc)
        rc = le_sweep_plan_cells(S->plan, le_tok_n_vocab(S->tok), S->n_train, &S->cells, &S->n_cells);
    if (!rc)
        rc = data_identity(S);
    if (!rc && !(S->res = calloc((size_t)S->n_cells, sizeof *S->res)))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    return rc;
}

/* The cell's config: what determines its numbers (hashed into its key). */
char *le_sw_cell_config(const struct le_sw *S, const struct le_sweep_cell *cell) {
    char tc[1024], b[48] = "null", *s = NULL;
    if (le_train_config_json(&cell->c, tc, sizeof tc))
        return NULL;
    if (isfinite(cell->budget))
        snprintf(b, sizeof b, "%.17g", cell->budget);
    if (asprintf(&s, "{\"train\":%s,\"budget\":%s,\"flops\":\"%s\"}", tc, b,
                 S->set->flops == LE_SWEEP_FLOPS_6N ? "6n" : "chinchilla") < 0)
        return NULL;
    return s;
}

int le_sw_cell_paths(const struct le_sw *S, const struct le_sweep_cell *cell, const char *key, char *dir, size_t n,
                     char *model, size_t mn) {
    snprintf(dir, n, "%s/cells/%s-%.8s", S->o.out, cell->dir, key);
    snprintf(model, mn, "%s/model.gguf", dir);
    return strlen(dir) + 12 >= mn ? le_err_set(LE_EINVAL, "--out path too long") : LE_OK;
}

/* Functions for one cell. */

struct le_sw_worker {
    struct le_sw *S;
    struct le_pool *pool;
    struct le_taskcell tasks[8];
    pthread_t th;
};

static void progress_add(struct le_sw *S, double flops) {
    pthread_mutex_lock(&S->mu);
    S->flops_done += flops;
    le_progress_update(S->pr, (uint64_t)(S->flops_done / 1e6));
    pthread_mutex_unlock(&S->mu);
}

/* The test hooks: counts checkpoints written by this process; kills it, or
 * holds cell i (trained from step 0) at its checkpoint of `step` until a
 * signal comes (at most ten minutes). */
static void saved_one(struct le_sw *S, int i, int64_t step) {
    pthread_mutex_lock(&S->mu);
    long n = ++S->saves;
    pthread_mutex_unlock(&S->mu);
    if (S->o.kill_after > 0 && n >= S->o.kill_after)
        raise(SIGKILL);
    if (S->o.hold_cell != i || n != S->o.hold_after || S->res[i].resumed_at != 0)
        return;
    fprintf(stderr, "llamaeval: test hold: %s at its checkpoint of step %lld, waiting for a signal\n",
            S->cells[i].label, (long long)step);
    for (int k = 0; k < 12000 && !le_job_interrupted(S->job); k++)
        nanosleep(&(struct timespec){0, 50000000L}, NULL);
}

static int put_row(struct le_sw *S, const struct le_sweep_cell *cell, const char *key, const char *cfg) {
    const struct le_train_config *c = &cell->c;
    struct le_store_sweep_cell row = {
        .key = key, .plan = S->set->name, .label = cell->label, .config = cfg, .budget = cell->budget,
        .dim = c->dim, .n_layers = c->n_layers, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .ffn = c->ffn,
        .ctx = c->ctx, .vocab = c->vocab, .tied = c->tied, .lr = c->lr, .seed = (int64_t)c->seed,
        .tokens = c->tokens, .n_total = cell->k.n_total, .n_nonembed = cell->k.n_nonembed,
        .n_nonembed_noout = cell->k.n_nonembed_noout, .flops_per_token = cell->k.flops_per_token,
        .flops_6nd = cell->flops_6nd, .flops_exact = cell->flops_exact};
    le_job_lock(S->job);
    int rc = le_store_put_sweep_cell(le_job_store(S->job), &row);
    le_job_unlock(S->job);
    return rc;
}

static int put_point(struct le_sw *S, const struct le_sweep_cell *cell, const char *key, int64_t step,
                     double train_loss, double val) {
    int64_t tokens = step * (cell->c.batch_tokens / cell->c.ctx * cell->c.ctx);
    struct le_store_sweep_point p = {step, tokens, (double)tokens * cell->k.flops_per_token, train_loss, val};
    le_job_lock(S->job);
    int rc = le_store_put_sweep_points(le_job_store(S->job), key, &p, 1);
    le_job_unlock(S->job);
    return rc;
}

/* A trainer for the cell, resumed from its checkpoint when there is a
 * usable one (one from another config or torn between its two files is
 * set aside: training starts again, with the same result). */
static int new_trainer(struct le_sw *S, struct le_sw_worker *w, const struct le_sweep_cell *cell, const char *model,
                       struct le_trainer **out) {
    int rc = le_trainer_new(out, &cell->c, w->pool);
    if (!rc)
        rc = le_trainer_set_data(*out, S->train, S->n_train, S->valid, S->n_valid);
    struct stat st;
    char opt[4400];
    snprintf(opt, sizeof opt, "%s.opt", model);
    if (rc || stat(model, &st) != 0 || stat(opt, &st) != 0)
        return rc;
    if ((rc = le_trainer_resume(*out, model)) == LE_OK)
        return LE_OK;
    if (!S->o.quiet)
        fprintf(stderr, "llamaeval: %s: cannot resume (%s): training from step 0\n", cell->label, le_err_msg());
    le_trainer_free(*out);
    *out = NULL;
    rc = le_trainer_new(out, &cell->c, w->pool);
    return rc ? rc : le_trainer_set_data(*out, S->train, S->n_train, S->valid, S->n_valid);
}

/* Trains (or finishes training) a cell; *loss and *n_scored: the final
 * whole-split validation loss. */
static int train_cell(struct le_sw *S, struct le_sw_worker *w, int i, const char *key, const char *model,
                      double *loss, int64_t *n_scored) {
    const struct le_sweep_cell *cell = &S->cells[i];
    const struct le_train_config *c = &cell->c;
    struct le_trainer *t = NULL;
    int rc = new_trainer(S, w, cell, model, &t);
    int64_t start = rc ? 0 : le_trainer_step_index(t), n = cell->steps;
    double per_step = cell->flops_exact / (double)n, val = NAN;
    S->res[i].resumed_at = start;
    if (!rc && start > 0)
        progress_add(S, per_step * (double)start);
    for (int64_t s = start; s < n && !rc; s++) {
        if (le_job_interrupted(S->job)) { /* Ctrl-C: stop at a checkpoint */
            if (!(rc = le_trainer_save(t, model, S->tokg, NAN, NAN)))
                rc = le_err_set(LE_EINTR, "interrupted at step %lld of %s", (long long)s, cell->label);
            break;
        }
        double tl;
        if ((rc = le_trainer_step(t, &tl, NULL, NULL)))
            break;
        if (!isfinite(tl)) {
            rc = le_err_set(LE_EINVAL, "%s: the loss diverged (%g) at step %lld: lower the plan's lr", cell->label,
                            tl, (long long)(s + 1));
            break;
        }
        progress_add(S, per_step);
        int last = s + 1 == n;
        if ((s + 1) % c->eval_every && !last)
            continue;
        if ((rc = le_trainer_eval(t, last ? 0 : c->eval_tokens, &val, n_scored)) ||
            (rc = put_point(S, cell, key, s + 1, tl, val)) ||
            (rc = le_trainer_save(t, model, S->tokg, last ? val : NAN, NAN)))
            break;
        saved_one(S, i, s + 1);
    }
    if (!rc && start == n) /* resumed a finished run: its final evaluation again (same number) */
        rc = le_trainer_eval(t, 0, &val, n_scored);
    *loss = val;
    le_trainer_free(t);
    return rc;
}

static int model_row(struct le_sw *S, const struct le_sweep_cell *cell, const char *model, char sha[65],
                     int64_t *model_id) {
    struct stat st = {0};
    int rc = stat(model, &st) ? le_err_set(LE_EIO, "%s: its model %s is missing", cell->label, model)
                              : le_job_hash_model(model, (uint64_t)st.st_size, 0, sha);
    struct le_train_counts k;
    le_train_counts(&cell->c, &k);
    struct le_store_model m = {.path = model, .sha256 = sha, .arch = "llama", .type = "F32", .name = cell->label,
                               .n_params = k.n_params, .n_params_nonembed = k.n_params_nonembed,
                               .file_size = (int64_t)st.st_size, .tokens_trained = cell->c.tokens};
    return rc ? rc : le_job_put_model(S->job, &m, model_id);
}

/* The plan's tasks on the cell's final model, each a task cell. */
static int run_tasks(struct le_sw *S, struct le_sw_worker *w, int i, const char *model, const char *sha,
                     int64_t model_id) {
    struct le_model *m = NULL;
    struct le_runner *R = NULL;
    int rc = le_model_open(&m, model);
    if (!rc)
        rc = le_runner_new(&R, m, w->pool, NULL);
    for (int k = 0; k < S->set->n_tasks && !rc; k++) {
        struct le_taskcell *t = &w->tasks[k];
        if (!t->ts && (rc = le_taskcell_load(t, S->set->tasks[k], &S->to)))
            break;
        if ((rc = le_taskcell_run(t, &S->to, S->job, R, sha, model_id)))
            le_err_wrap(rc, "%s on %s", t->name, S->cells[i].label);
        S->res[i].task[k] = !rc && t->n_met > 0 ? t->met[0].value : NAN;
        for (int q = 0; !rc && q < t->n_met; q++) /* acc when the task has it */
            if (!strcmp(t->met[q].name, "acc"))
                S->res[i].task[k] = t->met[q].value;
    }
    le_runner_free(R);
    le_model_free(m);
    return rc;
}

static void print_cell(struct le_sw *S, int i) {
    const struct le_sweep_cell *cell = &S->cells[i];
    const struct le_sw_res *r = &S->res[i];
    char a[16], b[16], line[1024];
    int at = snprintf(line, sizeof line, "[%d/%d] %-22s N %s D %s: loss %.4f bpb %.4f", S->n_finished, S->n_order,
                      cell->label, si(a, sizeof a, (double)cell->k.n_total), si(b, sizeof b, (double)cell->c.tokens),
                      r->loss, r->bpb);
    for (int k = 0; k < S->set->n_tasks && at < (int)sizeof line; k++)
        at += snprintf(line + at, sizeof line - (size_t)at, "  %s %.4f", S->set->tasks[k], r->task[k]);
    if (at < (int)sizeof line) {
        if (r->from_store)
            snprintf(line + at, sizeof line - (size_t)at, "  (trained earlier)");
        else if (r->resumed_at > 0)
            snprintf(line + at, sizeof line - (size_t)at, "  (%.1f s, resumed at step %lld)", r->secs,
                     (long long)r->resumed_at);
        else
            snprintf(line + at, sizeof line - (size_t)at, "  (%.1f s)", r->secs);
    }
    printf("%s\n", line);
    fflush(stdout);
}

static int run_cell(struct le_sw *S, struct le_sw_worker *w, int i) {
    const struct le_sweep_cell *cell = &S->cells[i];
    struct le_sw_res *r = &S->res[i];
    char *cfg = le_sw_cell_config(S, cell), dir[4096], model[4200], sha[65];
    struct le_job_cell jc = {0};
    int64_t model_id = -1, ns = 0;
    double t0 = le_cli_now();
    for (int k = 0; k < 8; k++)
        r->task[k] = NAN;
    int rc = cfg ? le_job_cell_begin(S->job, S->data_sha, "sweep", cfg, &jc) : le_err_set(LE_ENOMEM, "out of memory");
    if (!rc)
        rc = le_sw_cell_paths(S, cell, jc.key, dir, sizeof dir, model, sizeof model);
    if (!rc && jc.done) {
        r->from_store = 1, r->loss = r->bpb = NAN;
        for (int k = 0; k < jc.n_results; k++)
            if (!strcmp(jc.results[k].metric, "loss"))
                r->loss = jc.results[k].value;
            else if (!strcmp(jc.results[k].metric, "bpb"))
                r->bpb = jc.results[k].value;
        progress_add(S, cell->flops_exact);
        rc = model_row(S, cell, model, sha, &model_id);
    } else if (!rc) {
        if (!(rc = le_mkdirs(dir)) && !(rc = put_row(S, cell, jc.key, cfg)))
            rc = train_cell(S, w, i, jc.key, model, &r->loss, &ns);
        /* bits per byte: the nats of every scored token over the text's bytes */
        r->bpb = r->loss * (double)ns / (log(2.0) * (double)S->valid_bytes);
        if (!rc)
            rc = model_row(S, cell, model, sha, &model_id);
        struct le_store_result res[2] = {{"loss", r->loss, NAN, ns}, {"bpb", r->bpb, NAN, S->valid_bytes}};
        if (!rc)
            rc = le_job_cell_finish(S->job, &jc, model_id, res, 2);
    }
    le_job_cell_release(&jc);
    free(cfg);
    if (!rc)
        rc = run_tasks(S, w, i, model, sha, model_id);
    r->secs = le_cli_now() - t0;
    if (!rc) {
        pthread_mutex_lock(&S->mu);
        r->state = 1;
        S->n_finished++;
        S->n_trained += !r->from_store;
        print_cell(S, i);
        pthread_mutex_unlock(&S->mu);
    }
    return rc;
}

static void *worker_main(void *arg) {
    struct le_sw_worker *w = arg;
    struct le_sw *S = w->S;
    for (;;) {
        pthread_mutex_lock(&S->mu);
        int i = S->fail_rc || S->next >= S->n_order ? -1 : S->order[S->next++];
        pthread_mutex_unlock(&S->mu);
        if (i < 0)
            break;
        int rc = run_cell(S, w, i);
        if (rc) { /* messages are per thread: keep it for the main one */
            pthread_mutex_lock(&S->mu);
            if (!S->fail_rc) {
                S->fail_rc = rc;
                snprintf(S->fail_msg, sizeof S->fail_msg, "%s", le_err_msg());
            }
            pthread_mutex_unlock(&S->mu);
            break;
        }
    }
    return NULL;
}

/* Functions for the whole sweep. */

static int cmp_cost(const void *x, const void *y, void *ud) {
    const struct le_sweep_cell *c = ud;
    double a = c[*(const int *)x].flops_exact, b = c[*(const int *)y].flops_exact;
    return a > b ? -1 : a < b ? 1 : *(const int *)x - *(const int *)y;
}

static void print_table(const struct le_sw *S) {
    const struct le_sweep_setup *set = S->set;
    printf("\n%-22s %9s %9s %9s %9s %9s %7s %8s %7s", "cell", "N", "N-emb", "N-emb-out", "D", "C(App.F)", "epochs",
           "loss", "bpb");
    for (int k = 0; k < set->n_tasks; k++)
        printf(" %11s", set->tasks[k]);
    printf("\n");
    int nb = 0;
    for (int i = 0; i < S->n_cells; i++)
        nb = S->cells[i].budget_index + 1 > nb ? S->cells[i].budget_index + 1 : nb;
    for (int b = 0; b < nb; b++) {
        int best = -1, lo = -1, hi = -1;
        for (int i = 0; i < S->n_cells; i++) { /* the budget's minimum, and its smallest and largest N */
            const struct le_sweep_cell *c = &S->cells[i];
            if (c->budget_index != b)
                continue;
            if (S->res[i].state && (best < 0 || S->res[i].loss < S->res[best].loss))
                best = i;
            if (lo < 0 || c->k.n_total < S->cells[lo].k.n_total)
                lo = i;
            if (hi < 0 || c->k.n_total > S->cells[hi].k.n_total)
                hi = i;
        }
        for (int i = 0; i < S->n_cells; i++) {
            const struct le_sweep_cell *c = &S->cells[i];
            const struct le_sw_res *r = &S->res[i];
            char x[5][16];
            if (c->budget_index != b)
                continue;
            printf("%-22s %9s %9s %9s %9s %9s %7.2f", c->label, si(x[0], 16, (double)c->k.n_total),
                   si(x[1], 16, (double)c->k.n_nonembed), si(x[2], 16, (double)c->k.n_nonembed_noout),
                   si(x[3], 16, (double)c->c.tokens), si(x[4], 16, c->flops_exact), c->epochs);
            if (r->state)
                printf(" %8.4f %7.4f", r->loss, r->bpb);
            else
                printf(" %8s %7s", "-", "-");
            for (int k = 0; k < set->n_tasks; k++)
                if (r->state)
                    printf(" %11.4f", r->task[k]);
                else
                    printf(" %11s", "-");
            printf("%s\n", i == best ? "  <- min" : "");
        }
        if (set->isoflop && best >= 0 && (best == lo || best == hi))
            printf("  (budget %.*s: the minimum is at the %s size tried, not interior)\n",
                   (int)strcspn(S->cells[best].label, " "), S->cells[best].label, best == lo ? "smallest" : "largest");
    }
}

static int dry_run(struct le_sw *S) {
    struct le_store *st = NULL;
    struct stat sb;
    if (S->o.db && stat(S->o.db, &sb) == 0 && le_store_open_readonly(&st, S->o.db))
        st = NULL;
    printf("plan %s: %d cells, tokenizer %s (%d ids), %lld training tokens, %lld validation tokens\n",
           S->set->name, S->n_cells, S->tok_path, le_tok_n_vocab(S->tok), (long long)S->n_train,
           (long long)S->n_valid);
    printf("%-22s %5s %3s %5s %5s %9s %9s %9s %9s %6s %9s %9s %6s %9s  %s\n", "cell", "dim", "L", "heads", "ffn",
           "N", "N-emb", "N-emb-out", "D", "steps", "C(6ND)", "C(App.F)", "epochs", "lr", "state");
    double total = 0;
    for (int i = 0; i < S->n_cells; i++) {
        const struct le_sweep_cell *c = &S->cells[i];
        char x[6][16], key[65], dir[4096], model[4200], state[64] = "to do", heads[16];
        char *cfg = le_sw_cell_config(S, c);
        int done = 0;
        if (!cfg)
            return le_err_set(LE_ENOMEM, "out of memory");
        le_store_cell_key(key, S->data_sha, "sweep", cfg);
        free(cfg);
        le_sw_cell_paths(S, c, key, dir, sizeof dir, model, sizeof model);
        struct le_gguf *g = NULL;
        uint64_t step = 0;
        if (st && le_store_cell_done(st, key, &done) == LE_OK && done)
            snprintf(state, sizeof state, "done");
        else if (stat(model, &sb) == 0 && le_gguf_open(&g, model) == LE_OK &&
                 le_gguf_get_u64(g, "llamaeval.train.step", &step) == LE_OK)
            snprintf(state, sizeof state, "at step %llu", (unsigned long long)step);
        le_gguf_close(g);
        snprintf(heads, sizeof heads, "%lld/%lld", (long long)c->c.n_heads, (long long)c->c.n_kv_heads);
        printf("%-22s %5lld %3lld %5s %5lld %9s %9s %9s %9s %6lld %9s %9s %6.2f %9.3g  %s\n", c->label,
               (long long)c->c.dim, (long long)c->c.n_layers, heads, (long long)c->c.ffn,
               si(x[0], 16, (double)c->k.n_total), si(x[1], 16, (double)c->k.n_nonembed),
               si(x[2], 16, (double)c->k.n_nonembed_noout), si(x[3], 16, (double)c->c.tokens), (long long)c->steps,
               si(x[4], 16, c->flops_6nd), si(x[5], 16, c->flops_exact), c->epochs, c->c.lr, state);
        total += c->flops_exact;
    }
    char x[16];
    printf("total: %s FLOPs (App. F count); D per budget from the %s count\n", si(x, sizeof x, total),
           S->set->flops == LE_SWEEP_FLOPS_6N ? "6N" : "App. F");
    le_store_close(st);
    return LE_OK;
}

static int run_sweep(struct le_sw *S) {
    S->n_order = S->o.cell >= 0 ? 1 : S->n_cells; /* --cell: that one */
    int jobs = (int)(S->o.jobs < S->n_order ? S->o.jobs : S->n_order), rc = LE_OK;
    int per = (int)(S->o.threads / jobs > 0 ? S->o.threads / jobs : 1);
    char *cfg = NULL;
    if (asprintf(&cfg, "{\"plan\":\"%s\",\"name\":\"%s\",\"out\":\"%s\",\"jobs\":%d,\"threads\":%ld,\"cell\":%ld}",
                 S->o.plan, S->set->name, S->o.out, jobs, S->o.threads, S->o.cell) < 0)
        return le_err_set(LE_ENOMEM, "out of memory");
    struct le_job_opts jo = {.db = S->o.db, .command = "sweep", .config_json = cfg, .seed = S->set->seed,
                             .threads = (int)S->o.threads, .signals = LE_JOB_SIGNALS_FLAG,
                             .on_wait = le_cli_job_wait};
    rc = le_job_open(&S->job, &jo);
    free(cfg);
    if (rc)
        return rc;
    S->to = (struct le_taskcell_opts){.fewshot_seed = 1234, .seed = 1234, .limit = S->set->task_limit,
                                      .boot = 1000, .flush = 64, .uncond = -1, .offline = 1, .quiet = 1};
    S->order = malloc(sizeof *S->order * (size_t)S->n_cells);
    struct le_sw_worker *w = calloc((size_t)jobs, sizeof *w);
    if (!S->order || !w)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < S->n_order; k++) {
        int i = S->o.cell >= 0 ? (int)S->o.cell : k;
        S->order[k] = i, S->flops_total += S->cells[i].flops_exact;
    }
    if (!rc && jobs > 1) /* largest first: the last cells to finish are small */
        qsort_r(S->order, (size_t)S->n_order, sizeof *S->order, cmp_cost, S->cells);
    if (!rc && !S->o.quiet)
        printf("sweep %s: %d cells, %d at a time x %d threads; store %s, files %s\n", S->set->name, S->n_order, jobs,
               per, S->o.db, S->o.out);
    fflush(stdout);
    if (!rc)
        rc = le_progress_new(&S->pr, "sweep (MFLOP trained)", (uint64_t)(S->flops_total / 1e6), S->o.quiet);
    int started = 0;
    for (int k = 0; k < jobs && !rc; k++) {
        w[k].S = S;
        if ((rc = le_pool_new(&w[k].pool, per)))
            break;
        if (k > 0 && pthread_create(&w[k].th, NULL, worker_main, &w[k])) {
            rc = le_err_set(LE_ENOMEM, "cannot start a worker thread");
            break;
        }
        started = k + 1;
    }
    if (started > 0)
        worker_main(&w[0]);
    for (int k = 1; k < started; k++)
        pthread_join(w[k].th, NULL);
    le_progress_finish(S->pr);
    S->pr = NULL;
    if (!rc && S->fail_rc)
        rc = le_err_set(S->fail_rc, "%s", S->fail_msg);
    for (int k = 0; k < jobs && w; k++) {
        for (int t = 0; t < 8; t++)
            le_taskcell_free(&w[k].tasks[t]);
        le_pool_free(w[k].pool);
    }
    free(w);
    int64_t from_store = 0, computed = 0;
    le_job_counts(S->job, &from_store, &computed);
    rc = le_job_end(S->job, rc);
    S->job = NULL;
    if (S->o.cell < 0)
        print_table(S);
    printf("\n%d of %d cells finished (%d trained now); store cells (training and tasks): %lld done earlier, "
           "%lld computed now\nresults in %s (plan %s), checkpoints in %s/cells\n",
           S->n_finished, S->n_order, S->n_trained, (long long)from_store, (long long)computed, S->o.db,
           S->set->name, S->o.out);
    return rc;
}

int le_cmd_sweep(int argc, char **argv) {
    struct le_sw S = {0};
    int ec = parse_args(&S.o, argc, argv);
    if (ec == -2)
        return LE_EXIT_OK;
    if (ec)
        return ec;
    pthread_mutex_init(&S.mu, NULL);
    int rc = setup(&S);
    if (!rc && !S.o.db) {
        snprintf(S.dbbuf, sizeof S.dbbuf, "%s/results.sqlite", S.o.out);
        S.o.db = S.dbbuf;
    }
    if (!rc && S.o.cell >= S.n_cells)
        rc = le_err_set(LE_EINVAL, "--cell %ld: the plan has %d cells (0 to %d)", S.o.cell, S.n_cells, S.n_cells - 1);
    if (!rc)
        rc = S.o.status ? le_sw_status(&S)
             : S.o.slurm ? le_sw_submit(&S)
             : S.o.dry   ? dry_run(&S)
                         : run_sweep(&S);
    if (rc == LE_EINTR && S.o.requeue && getenv("SLURM_JOB_ID"))
        rc = le_sw_requeue(&S);
    else if (rc == LE_EINTR)
        fprintf(stderr, "llamaeval: sweep interrupted; rerun the same command to continue\n");
    free(S.cells), free(S.res), free(S.order), free(S.tok_path);
    free(S.train), free(S.valid);
    le_tok_free(S.tok);
    le_gguf_close(S.tokg);
    le_sweep_plan_free(S.plan);
    pthread_mutex_destroy(&S.mu);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}
