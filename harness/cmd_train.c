/*
 * cmd_train: `llamaeval train`, training a tiny LLaMA from scratch on the
 * Brown training split (or text files) with engine/train/train.c, logging to the
 * store and checkpointing as GGUF.
 *
 * Flow: parse flags (and --config JSON with the same names; flags given on
 * the command line win), refuse bad configs before any work (shape, vocab
 * against the tokenizer, budget against one batch, unwritable output,
 * unopenable store), tokenise the splits (BOS per document), then step;
 * every --eval-every steps evaluate on a fixed subset of the validation
 * split, log the steps to train_steps and write a checkpoint (so --resume
 * can pick up); at the end evaluate on the whole validation split, save,
 * and record the model in the store.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_train */
#include "le_corpus.h" /* le_corpus_*: reading and tokenising the corpus */
#include "le_err.h"
#include "le_gguf.h"
#include "le_job.h"    /* the run, and SIGINT/SIGTERM handling */
#include "le_model.h"  /* le_model_open: the checkpoint for --ppl-text */
#include "le_pool.h"
#include "le_ppl.h"    /* le_ppl_llamacpp */
#include "le_progress.h"
#include "le_sha256.h" /* le_sha256_file: model identity in the store */
#include "le_store.h"
#include "le_tok.h"
#include "le_train.h"

#include <cjson/cJSON.h> /* --config files */
#include <errno.h>
#include <math.h>
#include <sched.h>  /* sched_yield */
#include <signal.h> /* raise: the LE_TEST_SIGNAL_AT_STEP seam */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *le_tr_usage = "usage: llamaeval train --tokenizer TOK.gguf --out M.gguf [options]";

static const char *le_tr_help =
    "usage: llamaeval train --tokenizer TOK.gguf --out M.gguf [options]\n"
    "\n"
    "Trains a LLaMA-architecture model from scratch in float32 on all the given\n"
    "threads (bit-identical results for any thread count) and writes a GGUF\n"
    "checkpoint that llamaeval and llama.cpp load, with AdamW's state beside it\n"
    "in M.gguf.opt. Data: the Brown training split tokenised with BOS per\n"
    "document, random windows of ctx+1 tokens; held-out loss on the validation\n"
    "split. Bad configs are refused before any work starts.\n"
    "\n"
    "Model:\n"
    "  --dim N            model width (64)\n"
    "  --layers N         transformer blocks (2)\n"
    "  --heads N          attention heads, must divide --dim (4)\n"
    "  --kv-heads N       key/value heads (GQA), must divide --heads (= heads)\n"
    "  --ffn N            SwiGLU hidden size (LLaMA rule: 8/3 dim rounded up to 4)\n"
    "  --ctx N            context length of training windows (128)\n"
    "  --vocab N          must equal the tokenizer's (default: the tokenizer's)\n"
    "  --tied | --untied  output layer shares the token embedding (tied)\n"
    "  --rope-base F, --norm-eps F, --init-std F   (10000, 1e-5, 0.02)\n"
    "Budget and optimiser:\n"
    "  --tokens N         training tokens (200000); steps = N / batch\n"
    "  --batch-tokens N   tokens per step, a multiple of --ctx (4096)\n"
    "  --lr F --beta1 F --beta2 F --eps F --wd F   AdamW (1e-3 0.9 0.95 1e-8 0.1)\n"
    "  --warmup N         linear warmup steps (5% of the steps), then cosine decay\n"
    "                     to --min-lr-frac (0.1) of --lr, reached at the last step\n"
    "  --clip F           global gradient-norm clip, 0 = off (1.0)\n"
    "  --seed N           initialisation and data order (1)\n"
    "Run:\n"
    "  --tokenizer FILE   tokenizer GGUF (from 'llamaeval tokenizer train')\n"
    "  --corpus brown     the training corpus (brown); or --train-file F and\n"
    "  --train-file F --valid-file F   plain UTF-8 text files (one document each)\n"
    "  --out FILE         the checkpoint (GGUF) to write; FILE.opt holds AdamW state\n"
    "  --db FILE          record the run, its steps and the model in this store\n"
    "                     (none, or no --db: no store)\n"
    "  --eval-every N     steps between validation evals and checkpoints (steps/10)\n"
    "  --eval-tokens N    tokens scored per interval eval (32768); the final eval\n"
    "                     scores the whole validation split\n"
    "  --resume           continue from --out (and --out.opt) bit-exactly\n"
    "  --stop-after N     stop after step N with a checkpoint (to resume later)\n"
    "  --ppl-text FILE    at the end, write the validation text to FILE and score it\n"
    "                     in llama.cpp's perplexity convention (ctx = --ctx), the\n"
    "                     number 'llamaeval ppl --model OUT --file FILE --ctx N' gives\n"
    "  --threads N        worker threads (all cores)\n"
    "  --config FILE      JSON object with any of these names (\"dim\": 64, ...)\n"
    "  --bench N          time N steps of this shape on random tokens (vocab --vocab,\n"
    "                     default 1024; no tokenizer, no output) and report tokens/s\n"
    "                     and GFLOPS (best and median step)\n"
    "  --quiet            no progress output\n"
    "  -h, --help         show this help\n";

struct le_ids {
    int32_t *p;
    int64_t n;
};

struct le_targs {
    struct le_train_config c;
    const char *tokenizer, *out, *db, *corpus, *train_file, *valid_file, *ppl_text;
    long threads;
    int resume, quiet, eval_every_set, eval_tokens_set;
    int64_t stop_after, bench;
};

static int parse_i64(const char *flag, const char *s, int64_t lo, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end) { /* "5e6" */
        double d = strtod(s, &end);
        if (*end || d != floor(d) || d > 9e18)
            return le_cli_usage(le_tr_usage, "%s wants an integer, got '%s'", flag, s);
        v = (long long)d;
    }
    if (errno || end == s || v < lo)
        return le_cli_usage(le_tr_usage, "%s wants an integer >= %lld, got '%s'", flag, (long long)lo, s);
    *out = v;
    return 0;
}

static int parse_f(const char *flag, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return le_cli_usage(le_tr_usage, "%s wants a number, got '%s'", flag, s);
    *out = v;
    return 0;
}

/* Sets one option by name (flags and JSON share this); v is NULL for switches. */
static int set_opt(struct le_targs *a, const char *name, const char *v) {
    struct le_train_config *c = &a->c;
    struct { const char *name; int64_t *i; double *d; float *f; int64_t lo; } num[] = {
        /* lo: the least value le_train_config_check can accept (0 = automatic where allowed) */
        {"dim", &c->dim, 0, 0, 2}, {"layers", &c->n_layers, 0, 0, 1}, {"heads", &c->n_heads, 0, 0, 1},
        {"kv-heads", &c->n_kv_heads, 0, 0, 0}, {"ffn", &c->ffn, 0, 0, 0}, {"ctx", &c->ctx, 0, 0, 2},
        {"vocab", &c->vocab, 0, 0, 0}, {"tokens", &c->tokens, 0, 0, 1},
        {"batch-tokens", &c->batch_tokens, 0, 0, 1}, {"warmup", &c->warmup, 0, 0, 0},
        {"eval-every", &c->eval_every, 0, 0, 0}, {"eval-tokens", &c->eval_tokens, 0, 0, 0},
        {"stop-after", &a->stop_after, 0, 0, 1}, {"bench", &a->bench, 0, 0, 1},
        {"lr", 0, &c->lr, 0, 0}, {"beta1", 0, &c->beta1, 0, 0}, {"beta2", 0, &c->beta2, 0, 0},
        {"eps", 0, &c->eps, 0, 0}, {"wd", 0, &c->wd, 0, 0}, {"clip", 0, &c->clip, 0, 0},
        {"min-lr-frac", 0, &c->min_lr_frac, 0, 0}, {"init-std", 0, &c->init_std, 0, 0},
        {"rope-base", 0, 0, &c->rope_base, 0}, {"norm-eps", 0, 0, &c->norm_eps, 0},
    };
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", name);
    if (!strcmp(name, "eval-every"))
        a->eval_every_set = 1;
    if (!strcmp(name, "eval-tokens"))
        a->eval_tokens_set = 1;
    for (size_t i = 0; i < sizeof num / sizeof num[0]; i++) {
        if (strcmp(name, num[i].name))
            continue;
        if (!v)
            return le_cli_usage(le_tr_usage, "%s wants a value", flag);
        double d = 0;
        if (num[i].i)
            return parse_i64(flag, v, num[i].lo, num[i].i);
        if (parse_f(flag, v, &d))
            return LE_EXIT_USAGE;
        if (num[i].d)
            *num[i].d = d;
        else
            *num[i].f = (float)d;
        return 0;
    }
    const char **str[] = {&a->tokenizer, &a->out, &a->db, &a->corpus, &a->train_file, &a->valid_file, &a->ppl_text};
    const char *snames[] = {"tokenizer", "out", "db", "corpus", "train-file", "valid-file", "ppl-text"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(name, snames[i])) {
            if (!v || !v[0])
                return le_cli_usage(le_tr_usage, "%s wants a value", flag);
            *str[i] = v;
            return 0;
        }
    if (!strcmp(name, "seed")) {
        int64_t s;
        if (!v || parse_i64(flag, v, 0, &s))
            return LE_EXIT_USAGE;
        c->seed = (uint64_t)s;
        return 0;
    }
    if (!strcmp(name, "threads")) {
        int64_t n;
        if (!v || parse_i64(flag, v, 1, &n)) /* parse_i64 said why */
            return LE_EXIT_USAGE;
        if (n > 1024)
            return le_cli_usage(le_tr_usage, "--threads wants 1..1024, got '%s'", v);
        a->threads = (long)n;
        return 0;
    }
    int on = !v || !strcmp(v, "1") || !strcmp(v, "true");
    if (!strcmp(name, "tied") || !strcmp(name, "untied")) {
        c->tied = (name[0] == 't') == on;
        return 0;
    }
    if (!strcmp(name, "resume")) return a->resume = on, 0;
    if (!strcmp(name, "quiet")) return a->quiet = on, 0;
    return le_cli_usage(le_tr_usage, "unknown option '%s'", name);
}

/* Applies a --config JSON file; strings it holds stay alive in *keep. */
static int load_config(struct le_targs *a, const char *path, cJSON **keep) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return le_cli_fail("cannot open --config %s: %s", path, strerror(errno));
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf)
        return le_cli_fail("out of memory");
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    if (!j) { /* the error pointer points into buf: report before freeing it */
        const char *e = cJSON_GetErrorPtr();
        size_t off = e && e >= buf && e <= buf + n ? (size_t)(e - buf) : n;
        char near[24];
        size_t k = 0;
        for (; k + 1 < sizeof near && off + k < n && buf[off + k] != '\n'; k++)
            near[k] = (unsigned char)buf[off + k] < 0x20 ? ' ' : buf[off + k];
        near[k] = 0;
        size_t line = 1, col = 1;
        for (size_t i = 0; i < off; i++)
            line += buf[i] == '\n', col = buf[i] == '\n' ? 1 : col + 1;
        free(buf);
        if (!k)
            return le_cli_fail("--config %s is not valid JSON (unexpected end at line %zu, column %zu)", path, line,
                               col);
        return le_cli_fail("--config %s is not valid JSON (error at line %zu, column %zu, near '%s')", path, line,
                           col, near);
    }
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return le_cli_fail("--config %s is valid JSON but not an object ({\"dim\": 64, ...})", path);
    }
    *keep = j;
    for (cJSON *e = j->child; e; e = e->next) {
        char num[64];
        const char *v = num;
        if (cJSON_IsString(e))
            v = e->valuestring;
        else if (cJSON_IsBool(e))
            v = cJSON_IsTrue(e) ? "true" : "false";
        else if (cJSON_IsNumber(e))
            snprintf(num, sizeof num, "%.17g", e->valuedouble);
        else
            return le_cli_usage(le_tr_usage, "--config: '%s' has an unsupported value", e->string);
        int ec = set_opt(a, e->string, v);
        if (ec)
            return ec;
    }
    return 0;
}

static int parse_args(struct le_targs *a, int argc, char **argv, cJSON **keep) {
    static const struct option opts[] = {
        {"config", 1, 0, 1}, {"tokenizer", 1, 0, 2}, {"dim", 1, 0, 3}, {"layers", 1, 0, 4}, {"heads", 1, 0, 5},
        {"kv-heads", 1, 0, 6}, {"ffn", 1, 0, 7}, {"ctx", 1, 0, 8}, {"vocab", 1, 0, 9}, {"tokens", 1, 0, 10},
        {"batch-tokens", 1, 0, 11}, {"lr", 1, 0, 12}, {"beta1", 1, 0, 13}, {"beta2", 1, 0, 14},
        {"eps", 1, 0, 15}, {"wd", 1, 0, 16}, {"warmup", 1, 0, 17}, {"clip", 1, 0, 18}, {"seed", 1, 0, 19},
        {"threads", 1, 0, 20}, {"out", 1, 0, 21}, {"db", 1, 0, 22}, {"eval-every", 1, 0, 23},
        {"eval-tokens", 1, 0, 24}, {"resume", 0, 0, 25}, {"tied", 0, 0, 26}, {"untied", 0, 0, 27},
        {"quiet", 0, 0, 28}, {"corpus", 1, 0, 29}, {"train-file", 1, 0, 30}, {"valid-file", 1, 0, 31},
        {"stop-after", 1, 0, 32}, {"min-lr-frac", 1, 0, 33}, {"init-std", 1, 0, 34},
        {"rope-base", 1, 0, 35}, {"norm-eps", 1, 0, 36}, {"bench", 1, 0, 37}, {"ppl-text", 1, 0, 38}, {"help", 0, 0, 'h'}, {0, 0, 0, 0},
    };
    for (int i = 1; i + 1 < argc; i++) /* the config file first, so flags override it */
        if (!strcmp(argv[i], "--config")) {
            int ec = load_config(a, argv[i + 1], keep);
            if (ec)
                return ec;
        }
    struct le_cli_parser p = {argc, argv, ":h", opts, le_tr_usage, le_tr_help, 0};
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        if (c == LE_CLI_HELP)
            return -2;
        if (c == LE_CLI_BAD)
            return LE_EXIT_USAGE;
        if (c == 1)
            continue;
        const char *name = NULL;
        for (int i = 0; opts[i].name; i++)
            if (opts[i].val == c)
                name = opts[i].name;
        if (!name)
            return le_cli_usage(le_tr_usage, "unexpected option");
        int ec = set_opt(a, name, opts[c - 1].has_arg ? optarg : NULL);
        if (ec)
            return ec;
    }
    if (le_cli_optind() < argc)
        return le_cli_usage(le_tr_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (a->bench)
        return 0;
    if (!a->tokenizer)
        return le_cli_usage(le_tr_usage, "--tokenizer FILE is required");
    if (!a->out)
        return le_cli_usage(le_tr_usage, "--out FILE is required");
    if (!!a->train_file != !!a->valid_file)
        return le_cli_usage(le_tr_usage, "--train-file and --valid-file go together");
    if (a->corpus && strcmp(a->corpus, "brown"))
        return le_cli_usage(le_tr_usage, "--corpus '%s': only 'brown' is built in (or use --train-file)",
                            a->corpus);
    return 0;
}

/* Functions for the data (read and tokenised by le_corpus, shared with sweep). */

static int load_data(const struct le_targs *a, const struct le_tok *t, struct le_ids *tr, struct le_ids *va,
                     int64_t *ndocs) {
    struct le_corpus *c = NULL;
    int rc = le_corpus_open(&c, a->train_file, a->valid_file);
    if (!rc)
        rc = le_corpus_tokenize(c, LE_CORPUS_TRAIN, t, &tr->p, &tr->n);
    if (!rc)
        rc = le_corpus_tokenize(c, LE_CORPUS_VALID, t, &va->p, &va->n);
    *ndocs = rc ? 0 : le_corpus_n_docs(c, LE_CORPUS_TRAIN);
    le_corpus_free(c);
    return rc;
}

/* Writes the validation text (documents joined by newlines) to path and
 * scores the written checkpoint on it as llama-perplexity does: the same
 * code as `llamaeval ppl` (tasks/ppl.c), on the model as le_model_open
 * loads it. */
static int ppl_text(const struct le_targs *a, const struct le_tok *tok, struct le_pool *pool) {
    char *text = NULL;
    size_t len = 0;
    struct le_corpus *c = NULL;
    int rc = le_corpus_open(&c, a->train_file, a->valid_file);
    if (!rc)
        rc = le_corpus_join(c, LE_CORPUS_VALID, &text, &len);
    le_corpus_free(c);
    FILE *f = rc ? NULL : fopen(a->ppl_text, "wb");
    if (!rc && (!f || fwrite(text, 1, len, f) != len))
        rc = le_err_set(LE_EIO, "cannot write %s: %s", a->ppl_text, strerror(errno));
    if (f && fclose(f) != 0 && !rc)
        rc = le_err_set(LE_EIO, "cannot write %s: %s", a->ppl_text, strerror(errno));
    struct le_ids ids = {0};
    size_t tl = len > 0 && text[len - 1] == '\n' ? len - 1 : len; /* llama-perplexity drops one */
    if (!rc) {
        int64_t cap = (int64_t)tl + 8; /* never more ids than bytes, plus BOS and the space prefix */
        if (!(ids.p = malloc(sizeof *ids.p * (size_t)cap)))
            rc = le_err_set(LE_ENOMEM, "out of memory");
        if (!rc)
            rc = le_tok_encode(tok, text, tl, 1, ids.p, cap, &ids.n);
    }
    struct le_model *m = NULL;
    struct le_ctx *ctx = NULL;
    struct le_ppl_result res;
    if (!rc)
        rc = le_model_open(&m, a->out);
    if (!rc)
        rc = le_ctx_new(&ctx, m, (int)a->c.ctx, (int)a->c.ctx, pool);
    if (!rc)
        rc = le_ppl_llamacpp(ctx, ids.p, ids.n, (int)a->c.ctx, le_tok_bos(tok), NULL, NULL, &res);
    if (!rc)
        printf("llama.cpp convention on %s (%lld tokens, ctx %lld, %lld scored): loss %.4f, PPL = %.4f\n"
               "  (the same as: llamaeval ppl --model %s --file %s --ctx %lld)\n",
               a->ppl_text, (long long)ids.n, (long long)a->c.ctx, (long long)res.n_scored, res.mean_nll, res.ppl,
               a->out, a->ppl_text, (long long)a->c.ctx);
    le_ctx_free(ctx);
    le_model_free(m);
    free(ids.p);
    free(text);
    return rc;
}

/* Functions for the run. */

struct le_trun {
    struct le_targs *a;
    struct le_trainer *t;
    struct le_pool *pool; /* the trainer's, borrowed */
    struct le_gguf *tokg;
    const struct le_tok *tok;
    struct le_job *job; /* the run (a store's when --db), and SIGINT/SIGTERM */
    struct le_store *st; /* the job's store, or NULL */
    int64_t run_id, logged;
    int64_t signal_at;  /* test seam (LE_TEST_SIGNAL_AT_STEP): raise SIGINT before this step */
    struct le_store_step *steps;
    double unigram;
};

static int flush_steps(struct le_trun *r, int64_t upto) {
    if (!r->st || upto <= r->logged)
        return LE_OK;
    int rc = le_store_put_steps(r->st, r->run_id, r->steps + r->logged, (int)(upto - r->logged));
    r->logged = upto;
    return rc;
}

static int record_model(struct le_trun *r, const struct le_train_counts *k, int64_t seen) {
    char hex[65];
    struct stat sb;
    int rc = le_sha256_file(r->a->out, hex);
    if (rc)
        return rc;
    int64_t mid;
    struct le_store_model m = {.path = r->a->out, .sha256 = hex, .arch = "llama", .type = "F32",
                               .name = r->a->out, .n_params = k->n_params,
                               .n_params_nonembed = k->n_params_nonembed,
                               .file_size = stat(r->a->out, &sb) == 0 ? (int64_t)sb.st_size : -1,
                               .tokens_trained = seen};
    return le_store_put_model(r->st, &m, &mid);
}

static int train_loop(struct le_trun *r, int64_t n_steps, int64_t start, const struct le_train_counts *k) {
    struct le_targs *a = r->a;
    struct le_train_config *c = &a->c;
    int64_t tok_step = le_train_batch_seqs(c) * c->ctx, ev_tokens = a->eval_tokens_set ? c->eval_tokens : 32768;
    int64_t stop = a->stop_after > 0 && a->stop_after < n_steps ? a->stop_after : n_steps;
    struct le_progress *pr = NULL;
    int rc = le_progress_new(&pr, "train", (uint64_t)n_steps, a->quiet);
    if (rc)
        return rc;
    le_progress_update(pr, (uint64_t)start);
    double t_train = 0, val = NAN;
    for (int64_t s = start; s < stop && !rc; s++) {
        if (r->signal_at > 0 && s + 1 == r->signal_at) { /* as if Ctrl-C came during this step */
            raise(SIGINT);
            while (!le_job_interrupted(r->job)) /* the job's watcher thread sets the flag */
                sched_yield();
        }
        if (le_job_interrupted(r->job)) { /* SIGINT/SIGTERM: a checkpoint first, then stop */
            if (!(rc = le_trainer_save(r->t, a->out, r->tokg, NAN, r->unigram)) && !(rc = flush_steps(r, s)))
                rc = le_err_set(LE_EINTR, "interrupted at step %lld of %lld: checkpoint %s written; continue with "
                                "--resume", (long long)s, (long long)n_steps, a->out);
            break;
        }
        double loss, lr, gn, t0 = le_cli_now();
        if ((rc = le_trainer_step(r->t, &loss, &lr, &gn)))
            break;
        double dt = le_cli_now() - t0;
        t_train += dt;
        r->steps[s] = (struct le_store_step){s + 1, (s + 1) * tok_step, loss, NAN, lr, (double)tok_step / dt};
        le_progress_update(pr, (uint64_t)(s + 1));
        if (!isfinite(loss)) {
            rc = le_err_set(LE_EINVAL, "the loss diverged (%g) at step %lld: lower --lr", loss, (long long)(s + 1));
            break;
        }
        int last = s + 1 == n_steps, at_stop = s + 1 == stop;
        if ((s + 1) % c->eval_every == 0 || last || at_stop) {
            int64_t ns;
            if ((rc = le_trainer_eval(r->t, last ? 0 : ev_tokens, &val, &ns)))
                break;
            r->steps[s].val_loss = val;
            if (!a->quiet)
                fprintf(stderr, "\nstep %lld/%lld: train %.4f  val %.4f (ppl %.2f, %lld tokens)  lr %.3g  |g| %.3g"
                                "  %.0f tok/s  %.1f GFLOPS\n",
                        (long long)(s + 1), (long long)n_steps, loss, val, exp(val), (long long)ns, lr, gn,
                        (double)((s + 1 - start) * tok_step) / t_train,
                        k->flops_per_step * (double)(s + 1 - start) / t_train / 1e9);
            if (!rc)
                rc = le_trainer_save(r->t, a->out, r->tokg, last ? val : NAN, r->unigram);
            if (!rc)
                rc = flush_steps(r, s + 1);
        }
    }
    le_progress_finish(pr);
    if (rc)
        return rc;
    int64_t done = le_trainer_step_index(r->t);
    if (start < done)
        printf("trained: %lld steps (%lld tokens) in %.1f s: %.0f tokens/s, %.1f GFLOPS (%d threads)\n",
               (long long)(done - start), (long long)((done - start) * tok_step), t_train,
               (double)((done - start) * tok_step) / t_train,
               k->flops_per_step * (double)(done - start) / t_train / 1e9, (int)a->threads);
    if (done < n_steps) {
        printf("stopped at step %lld of %lld: continue with --resume\n", (long long)done, (long long)n_steps);
        return LE_OK;
    }
    if (start == done) { /* resumed a finished run: evaluate and rewrite it */
        if ((rc = le_trainer_eval(r->t, 0, &val, NULL)) || (rc = le_trainer_save(r->t, a->out, r->tokg, val, r->unigram)))
            return rc;
    }
    printf("held-out loss %.4f (ppl %.3f) on the whole validation split; unigram %.4f (ppl %.3f)\n", val, exp(val),
           r->unigram, exp(r->unigram));
    printf("checkpoint: %s (+ %s.opt)\n", a->out, a->out);
    if (a->ppl_text && (rc = ppl_text(a, r->tok, r->pool)))
        return rc;
    if (r->st)
        rc = record_model(r, k, done * tok_step);
    return rc;
}

static int run_training(struct le_targs *a) {
    struct le_trun r = {.a = a, .unigram = NAN};
    struct le_tok *tok = NULL;
    struct le_pool *pool = NULL;
    struct le_ids tr = {0}, va = {0};
    int rc = le_gguf_open(&r.tokg, a->tokenizer);
    if (!rc && (rc = le_tok_from_gguf(&tok, r.tokg)) && !strstr(le_err_msg(), a->tokenizer))
        rc = le_err_wrap(rc, "tokenizer %s", a->tokenizer); /* "missing key ..." names no file */
    if (rc) {
        le_gguf_close(r.tokg);
        return le_cli_fail_lib(rc);
    }
    r.tok = tok;
    if ((rc = le_train_config_check(&a->c, le_tok_n_vocab(tok)))) {
        le_cli_usage(le_tr_usage, "%s", le_err_msg());
        le_tok_free(tok), le_gguf_close(r.tokg);
        return LE_EXIT_USAGE;
    }
    int64_t n_steps = le_train_n_steps(&a->c);
    if (!a->eval_every_set || a->c.eval_every <= 0)
        a->c.eval_every = n_steps / 10 > 0 ? n_steps / 10 : 1;
    if (!a->eval_tokens_set)
        a->c.eval_tokens = 32768;
    struct le_train_counts k;
    le_train_counts(&a->c, &k);
    char cfg[1024], run_cfg[4096];
    int64_t ndocs = 0;
    double t0 = le_cli_now();
    rc = le_train_config_json(&a->c, cfg, sizeof cfg);
    if (!rc)
        rc = le_train_check_output(a->out);
    if (!rc)
        rc = load_data(a, tok, &tr, &va, &ndocs);
    if (!rc)
        rc = le_pool_new(&pool, (int)a->threads);
    r.pool = pool;
    if (!rc)
        rc = le_trainer_new(&r.t, &a->c, pool);
    if (!rc)
        rc = le_trainer_set_data(r.t, tr.p, tr.n, va.p, va.n);
    struct stat sb;
    if (!rc && a->resume) {
        if (stat(a->out, &sb) == 0)
            rc = le_trainer_resume(r.t, a->out);
        else if (!a->quiet)
            fprintf(stderr, "no checkpoint at %s: starting from step 0\n", a->out);
    }
    if (!rc)
        rc = le_trainer_unigram_loss(r.t, &r.unigram);
    if (!rc) {
        printf("model: %.3fM parameters (%.3fM without embeddings): dim %lld, %lld layers, %lld/%lld heads, ffn "
               "%lld, ctx %lld, vocab %lld, %s\n",
               (double)k.n_params / 1e6, (double)k.n_params_nonembed / 1e6, (long long)a->c.dim,
               (long long)a->c.n_layers, (long long)a->c.n_heads, (long long)a->c.n_kv_heads, (long long)a->c.ffn,
               (long long)a->c.ctx, (long long)a->c.vocab, a->c.tied ? "tied" : "untied");
        printf("data: %lld training tokens (%lld documents), %lld validation tokens, tokenised in %.1f s\n",
               (long long)tr.n, (long long)ndocs, (long long)va.n, le_cli_now() - t0);
        printf("plan: %lld steps of %lld tokens (%.3g FLOPs each, %.3g in all), warmup %lld, from step %lld\n",
               (long long)n_steps, (long long)(le_train_batch_seqs(&a->c) * a->c.ctx), k.flops_per_step,
               k.flops_per_step * (double)n_steps, (long long)a->c.warmup,
               (long long)le_trainer_step_index(r.t));
        printf("unigram model (train counts, add-one): held-out loss %.4f (ppl %.2f)\n", r.unigram,
               exp(r.unigram));
        fflush(stdout);
        snprintf(run_cfg, sizeof run_cfg, "{\"train\":%s,\"tokenizer\":\"%s\",\"out\":\"%s\",\"corpus\":\"%s\"}",
                 cfg, a->tokenizer, a->out, a->train_file ? a->train_file : "brown");
    }
    /* The run: SIGINT/SIGTERM set a flag the loop polls (it checkpoints,
     * then the run ends "interrupted"); a second signal ends the process. */
    struct le_job_opts jo = {.db = a->db && strcmp(a->db, "none") ? a->db : NULL, .command = "train",
                             .config_json = run_cfg, .seed = a->c.seed, .threads = (int)a->threads,
                             .signals = LE_JOB_SIGNALS_FLAG};
    if (!rc && !(rc = le_job_open(&r.job, &jo))) {
        r.st = le_job_store(r.job);
        r.run_id = le_job_run_id(r.job);
    }
#ifdef LE_TESTING /* a seam of the test build only */
    const char *sig_at = getenv("LE_TEST_SIGNAL_AT_STEP");
    r.signal_at = sig_at ? atoll(sig_at) : 0;
#endif
    if (!rc && !(r.steps = calloc((size_t)n_steps, sizeof *r.steps)))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    if (!rc) {
        r.logged = le_trainer_step_index(r.t);
        rc = train_loop(&r, n_steps, le_trainer_step_index(r.t), &k);
    }
    rc = le_job_end(r.job, rc); /* "ok", "failed" or "interrupted" */
    free(r.steps);
    le_trainer_free(r.t);
    le_pool_free(pool);
    free(tr.p), free(va.p);
    le_tok_free(tok);
    le_gguf_close(r.tokg);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_dbl(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* --bench: steps on random tokens, timed one by one. */
static int run_bench(struct le_targs *a) {
    struct le_train_config *c = &a->c;
    int64_t V = c->vocab ? c->vocab : 1024;
    c->tokens = le_train_batch_seqs(c) * c->ctx * (a->bench + 1);
    if (le_train_config_check(c, V))
        return le_cli_usage(le_tr_usage, "%s", le_err_msg());
    struct le_pool *pool = NULL;
    struct le_trainer *t = NULL;
    int64_t n = 1 << 20;
    int32_t *tok = malloc(sizeof *tok * (size_t)n);
    double *dt = calloc((size_t)a->bench, sizeof *dt), *ct = calloc((size_t)a->bench, sizeof *ct);
    int rc = tok && dt && ct ? le_pool_new(&pool, (int)a->threads) : le_err_set(LE_ENOMEM, "out of memory");
    uint64_t x = 88172645463325252ULL;
    for (int64_t i = 0; tok && i < n; i++)
        x ^= x << 13, x ^= x >> 7, x ^= x << 17, tok[i] = (int32_t)(x % (uint64_t)V);
    if (!rc) rc = le_trainer_new(&t, c, pool);
    if (!rc) rc = le_trainer_set_data(t, tok, n, tok, 4096);
    for (int64_t s = 0; s <= a->bench && !rc; s++) {
        double t0 = le_cli_now(), c0 = cpu_s();
        rc = le_trainer_step(t, NULL, NULL, NULL);
        if (s > 0)
            dt[s - 1] = le_cli_now() - t0, ct[s - 1] = cpu_s() - c0;
    }
    if (!rc) {
        struct le_train_counts k;
        le_train_counts(c, &k);
        qsort(dt, (size_t)a->bench, sizeof *dt, cmp_dbl);
        qsort(ct, (size_t)a->bench, sizeof *ct, cmp_dbl);
        double best = dt[0], med = dt[a->bench / 2], tps = (double)(le_train_batch_seqs(c) * c->ctx);
        printf("bench: %.3fM params (dim %lld, %lld layers, %lld heads, ffn %lld, ctx %lld, vocab %lld), %lld tokens "
               "per step, %ld threads\n",
               (double)k.n_params / 1e6, (long long)c->dim, (long long)c->n_layers, (long long)c->n_heads,
               (long long)c->ffn, (long long)c->ctx, (long long)V, (long long)tps, a->threads);
        printf("bench: best step %.1f ms: %.0f tokens/s, %.1f GFLOPS; median %.1f ms: %.0f tokens/s, %.1f GFLOPS\n",
               best * 1e3, tps / best, k.flops_per_step / best / 1e9, med * 1e3, tps / med,
               k.flops_per_step / med / 1e9);
        printf("bench: CPU time per step (all threads) best %.1f ms: %.1f GFLOPS per core-second (unaffected by "
               "other load)\n", ct[0] * 1e3, k.flops_per_step / ct[0] / 1e9);
    }
    le_trainer_free(t);
    le_pool_free(pool);
    free(tok), free(dt), free(ct);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}

int le_cmd_train(int argc, char **argv) {
    struct le_targs a = {0};
    le_train_config_default(&a.c);
    a.threads = le_ncpu();
    cJSON *keep = NULL;
    int ec = parse_args(&a, argc, argv, &keep);
    if (ec == -2)
        ec = LE_EXIT_OK;
    else if (ec == 0)
        ec = a.bench ? run_bench(&a) : run_training(&a);
    cJSON_Delete(keep);
    return ec;
}
