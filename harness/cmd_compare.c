/*
 * cmd_compare: `llamaeval compare --base F.gguf --quant Q.gguf[,Q2.gguf...]
 * [--file TEXT | --brown SPLIT] [--tasks T,...] [--ctx N] [--threads T]
 * [--db R.sqlite|none] [--seed S]` -- quantized models against their
 * full-precision base.
 *
 * On a text (a file, or a split of the built-in Brown corpus joined one
 * document per line): llama.cpp's perplexity convention (as `ppl`: one
 * trailing newline dropped, BOS, floor(n / ctx) chunks, second halves
 * scored) streamed chunk by chunk through the base and every quantized model
 * (tasks/le_compare.h: no logits file, the base's log-softmax of one chunk
 * at a time), giving per model what llama-perplexity --kl-divergence prints
 * (PPL(Q), PPL(base), ln ratio, KL mean and percentiles, dp, same top token)
 * plus a paired chunk-bootstrap interval for dPPL, bits per weight (tensor
 * bytes x 8 / elements, as llama.cpp's loader prints BPW), file size and the
 * prompt-processing speed measured as `bench` does (le_bench_pp).
 * With --tasks, each multiple-choice task is scored on the base and on every
 * quantized model (eval's task cells, shared with `eval`), and the paired
 * answers give the accuracy change and McNemar's exact p.
 * Memory: as ppl and eval, the plan is shown and checked before any context
 * is made (le_memplan.h): the text pass's contexts of the base and of every
 * model still to compare together, each speed run's as bench plans it (a
 * run that does not fit only loses its speed), each model's task runner;
 * --ctx beyond the base's training context is warned about and noted.
 *
 * Store: one cell of task "compare" per quantized model (its model row;
 * config: base_sha256, quant, method, bits, group, convention, ctx, kv,
 * text_sha256, boot, seed) -- what reports/sec_quant.c reads -- and one cell
 * of task "compare-mc" per (quantized model, task). A done cell is not
 * computed again: a rerun after a kill redoes only the models whose cells
 * are missing, and if none is, the base is not evaluated at all. `--db none`
 * keeps everything in memory. The method, bits and group of a file come
 * from --method/--bits/--group, else from its GGUF keys
 * llamaeval.quantize.method / .bits / .group_size, else rtn and the numbers
 * of its file type (Q4_K_M: 4 bits, Q4_K's 32-weight sub-blocks). The quant
 * name is the file type's (general.file_type), with "-pure" when the output
 * layer has the default type where llama-quantize's mix would give it more
 * bits (a --pure file).
 */
#include "cli.h"         /* le_cli_* */
#include "commands.h"    /* le_cmd_compare */
#include "le_bench.h"    /* le_bench_pp: speed as bench measures it */
#include "le_compare.h"  /* le_cmp_*, le_mcnemar_exact_p */
#include "le_fs.h"       /* le_read_file */
#include "le_datasets.h" /* le_brown_* */
#include "le_err.h"
#include "le_gguf.h"     /* tensor sizes for bits per weight, quantize keys */
#include "le_job.h"      /* the run, models, cells */
#include "le_memplan.h"  /* le_memplan_check*: the plan before the contexts */
#include "le_model.h"    /* le_model_open, le_ctx_* */
#include "le_pool.h"     /* le_pool_new */
#include "le_progress.h" /* the chunk progress line */
#include "le_quant.h"    /* le_quant_ftype_name, le_quant_ftype_type */
#include "le_sha256.h"   /* the text's sha256 */
#include "le_taskcell.h" /* the multiple-choice tasks as eval's cells */
#include "le_tasks.h"    /* le_tokenize, le_runner_* */
#include "le_tok.h"      /* le_tok_bos, le_tok_add_bos */
#include "le_types.h"    /* le_type_name, le_type_info */

#include <cjson/cJSON.h> /* cell configs */
#include <math.h>
#include <stddef.h> /* offsetof */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h> /* strcasecmp */

#define LE_CMP_MAX 32 /* quantized models per run */

static const char *le_cmp_usage =
    "usage: llamaeval compare --base F.gguf --quant Q.gguf[,Q2.gguf...] [--file TEXT | --brown SPLIT]\n"
    "                         [--tasks T,...] [--ctx N] [--threads N] [--db FILE|none] [--seed S] [--quiet]";
static const char *le_cmp_help =
    "usage: llamaeval compare --base F.gguf --quant Q.gguf[,Q2.gguf...] [--file TEXT | --brown SPLIT]\n"
    "                         [--tasks T,...] [--ctx N] [--threads N] [--db FILE|none] [--seed S] [--quiet]\n"
    "\n"
    "Quantized models against their full-precision base. On a text: llama.cpp's\n"
    "perplexity convention (as `llamaeval ppl`), each chunk evaluated by the base\n"
    "and then by every quantized model, giving per model PPL, dPPL with a paired\n"
    "bootstrap interval (chunks resampled), the KL divergence base||quantized per\n"
    "token (mean, percentiles: llama-perplexity --kl-divergence's statistics, with\n"
    "the base's log-probs exact instead of 16-bit), top-1 agreement, bits per\n"
    "weight, file size and prompt speed (as `bench`). With --tasks: each\n"
    "multiple-choice task's accuracy on base and quantized models, the change and\n"
    "McNemar's exact test on the paired answers. Results go to the store as cells\n"
    "of task \"compare\" (and \"compare-mc\"), which `llamaeval report` renders.\n"
    "\n"
    "Options:\n"
    "  --base F           the full-precision model\n"
    "  --quant LIST       comma-separated quantized models of the same vocabulary\n"
    "  --file F           the text file (one trailing newline dropped, as ppl)\n"
    "  --brown SPLIT      instead: the built-in Brown corpus's train, valid or test\n"
    "                     split, documents joined one per line\n"
    "  --tasks LIST       multiple-choice tasks to score on every model (eval's names)\n"
    "  --limit N          first N documents of each task (0 = all)\n"
    "  --ctx N            tokens per chunk (512)\n"
    "  --batch N          tokens per forward call (default: ctx); no effect on results\n"
    "  --threads N        worker threads (all cores); no effect on results\n"
    "  --boot N           bootstrap resamples of chunks for dPPL's interval (1000)\n"
    "  --seed S           the bootstrap's seed (0)\n"
    "  --method M         rtn or gptq for every --quant file (default: its GGUF key\n"
    "                     llamaeval.quantize.method, else rtn)\n"
    "  --bits B, --group G   weight bits and group size to record (default: the GGUF\n"
    "                     keys llamaeval.quantize.bits / .group_size, else the file\n"
    "                     type's: Q4_K_M 4 and 32, Q4_0 4 and 32, Q8_0 8 and 32 ...)\n"
    "  --n-prompt N       tokens of the speed test (512); --speed-reps N timed runs\n"
    "                     per model (3; 0 = no speed)\n"
    "  --db FILE          results store (default results.sqlite); none = in memory\n"
    "  --quiet            no progress, only the results\n"
    "  -h, --help         show this help\n";

struct le_cmp_opts {
    const char *base, *quants, *file, *brown, *tasks, *db, *method;
    long ctx, batch, threads, boot, limit, n_prompt, speed_reps, bits, group;
    unsigned long long seed;
    int quiet;
};

/* Every number of one model's row, the ones the store gets. */
struct le_cmp_vals {
    struct le_cmp_stats st;
    double bpw, size, speed;
};

/* The metrics of a "compare" cell: name, value, its +/- (or -1). */
#define LE_CV(f) offsetof(struct le_cmp_vals, f)
static const struct {
    const char *name;
    size_t val;
    long unc;
} le_cmp_metrics[] = {
    {"ppl", LE_CV(st.ppl), LE_CV(st.ppl_unc)},
    {"ppl_base", LE_CV(st.ppl_base), LE_CV(st.ppl_base_unc)},
    {"dppl", LE_CV(st.dppl), LE_CV(st.dppl_unc)},
    {"dppl_lo", LE_CV(st.dppl_lo), -1},
    {"dppl_hi", LE_CV(st.dppl_hi), -1},
    {"ln_ppl_ratio", LE_CV(st.ln_ratio), LE_CV(st.ln_ratio_unc)},
    {"ppl_ratio", LE_CV(st.ratio), LE_CV(st.ratio_unc)},
    {"cor_ln_ppl", LE_CV(st.cor_ln_ppl), -1},
    {"kld", LE_CV(st.kld), LE_CV(st.kld_unc)},
    {"kld_max", LE_CV(st.kld_q[0]), -1},
    {"kld_p999", LE_CV(st.kld_q[1]), -1},
    {"kld_p99", LE_CV(st.kld_q[2]), -1},
    {"kld_p95", LE_CV(st.kld_q[3]), -1},
    {"kld_p90", LE_CV(st.kld_q[4]), -1},
    {"kld_median", LE_CV(st.kld_q[5]), -1},
    {"kld_p10", LE_CV(st.kld_q[6]), -1},
    {"kld_p5", LE_CV(st.kld_q[7]), -1},
    {"kld_p1", LE_CV(st.kld_q[8]), -1},
    {"kld_p01", LE_CV(st.kld_q[9]), -1},
    {"kld_min", LE_CV(st.kld_q[10]), -1},
    {"top1", LE_CV(st.top1), LE_CV(st.top1_unc)},
    {"dp", LE_CV(st.dp), LE_CV(st.dp_unc)},
    {"dp_rms", LE_CV(st.dp_rms), LE_CV(st.dp_rms_unc)},
    {"dp_max", LE_CV(st.dp_q[0]), -1},
    {"dp_p99", LE_CV(st.dp_q[2]), -1},
    {"dp_median", LE_CV(st.dp_q[6]), -1},
    {"dp_p1", LE_CV(st.dp_q[10]), -1},
    {"dp_min", LE_CV(st.dp_q[12]), -1},
    {"bpw", LE_CV(bpw), -1},
    {"size", LE_CV(size), -1},
    {"speed", LE_CV(speed), -1},
};
#define LE_CMP_NMET (sizeof le_cmp_metrics / sizeof le_cmp_metrics[0])

struct le_cmp_model {
    const char *path;
    struct le_model *m;
    char sha[65];
    int64_t model_id;
    char quant[32], method[16];
    double bits, group;
    char *cell_cfg;
    struct le_job_cell cell;
    int pending; /* to compute in this run */
    struct le_ctx *ctx;
    struct le_cmp *acc;
    struct le_cmp_vals v;
};

struct le_cmp_run {
    struct le_cmp_opts o;
    struct le_cmp_model base, q[LE_CMP_MAX];
    int nq;
    char *text;
    size_t len;
    char text_sha[65];
    struct le_job *job;
    struct le_pool *pool;
    struct le_progress *prog;
    char *qlist; /* a copy of --quant, cut at the commas */
};

/* ---- options ---- */

static int le_cmp_check(struct le_cmp_opts *o) {
    if (!o->base || !o->quants)
        return le_cli_usage(le_cmp_usage, "--base and --quant are required");
    if (o->file && o->brown)
        return le_cli_usage(le_cmp_usage, "--file and --brown are alternatives");
    if (!o->file && !o->brown && !o->tasks)
        return le_cli_usage(le_cmp_usage, "nothing to compare on: give --file, --brown or --tasks");
    if (o->brown && strcmp(o->brown, "train") && strcmp(o->brown, "valid") && strcmp(o->brown, "test"))
        return le_cli_usage(le_cmp_usage, "--brown takes train, valid or test, not '%s'", o->brown);
    if (o->method && strcmp(o->method, "rtn") && strcmp(o->method, "gptq"))
        return le_cli_usage(le_cmp_usage, "--method takes rtn or gptq, not '%s'", o->method);
    if (o->batch == 0 || o->batch > o->ctx)
        o->batch = o->ctx;
    return -1;
}

static int le_cmp_parse(int argc, char **argv, struct le_cmp_opts *o) {
    static const struct option opts[] = {
        {"base", required_argument, 0, 'B'},    {"quant", required_argument, 0, 'Q'},
        {"file", required_argument, 0, 'f'},    {"brown", required_argument, 0, 'w'},
        {"tasks", required_argument, 0, 'T'},   {"limit", required_argument, 0, 'l'},
        {"ctx", required_argument, 0, 'c'},     {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"boot", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 's'},    {"method", required_argument, 0, 'M'},
        {"bits", required_argument, 0, 'i'},    {"group", required_argument, 0, 'g'},
        {"n-prompt", required_argument, 0, 'p'}, {"speed-reps", required_argument, 0, 'r'},
        {"db", required_argument, 0, 'd'},      {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_cmp_usage, le_cmp_help, 0};
    *o = (struct le_cmp_opts){.db = "results.sqlite", .ctx = 512, .boot = 1000, .n_prompt = 512, .speed_reps = 3};
    long v;
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case LE_CLI_BAD: return LE_EXIT_USAGE;
        case 'B': o->base = optarg; break;
        case 'Q': o->quants = optarg; break;
        case 'f': o->file = optarg; break;
        case 'w': o->brown = optarg; break;
        case 'T': o->tasks = optarg; break;
        case 'M': o->method = optarg; break;
        case 'd': o->db = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'l': if (le_cli_int(&p, "--limit", optarg, 0, 1L << 40, &o->limit)) return LE_EXIT_USAGE; break;
        case 'c': if (le_cli_int(&p, "--ctx", optarg, 4, 1 << 20, &o->ctx)) return LE_EXIT_USAGE; break;
        case 'b': if (le_cli_int(&p, "--batch", optarg, 1, 1 << 20, &o->batch)) return LE_EXIT_USAGE; break;
        case 't': if (le_cli_int(&p, "--threads", optarg, 1, 1024, &o->threads)) return LE_EXIT_USAGE; break;
        case 'n': if (le_cli_int(&p, "--boot", optarg, 0, 1000000, &o->boot)) return LE_EXIT_USAGE; break;
        case 'i': if (le_cli_int(&p, "--bits", optarg, 1, 64, &o->bits)) return LE_EXIT_USAGE; break;
        case 'g': if (le_cli_int(&p, "--group", optarg, 1, 1 << 20, &o->group)) return LE_EXIT_USAGE; break;
        case 'p': if (le_cli_int(&p, "--n-prompt", optarg, 1, 1 << 16, &o->n_prompt)) return LE_EXIT_USAGE; break;
        case 'r': if (le_cli_int(&p, "--speed-reps", optarg, 0, 1000, &o->speed_reps)) return LE_EXIT_USAGE; break;
        case 's':
            if (le_cli_int(&p, "--seed", optarg, 0, 0x7fffffffffffffffL, &v))
                return LE_EXIT_USAGE;
            o->seed = (unsigned long long)v;
            break;
        default: return LE_EXIT_USAGE;
        }
    }
    if (le_cli_optind() < argc)
        return le_cli_usage(le_cmp_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    return le_cmp_check(o);
}

/* ---- the text ---- */

static int le_cmp_read_file(struct le_cmp_run *R) {
    int rc = le_read_file(R->o.file, &R->text, &R->len);
    return rc ? le_cli_fail_lib(rc) : -1;
}

/* The split's documents, each followed by a newline unless it ends in one
 * (as le_corpus_join makes the training corpus). */
static int le_cmp_read_brown(struct le_cmp_run *R) {
    int split = !strcmp(R->o.brown, "train") ? LE_BROWN_TRAIN : !strcmp(R->o.brown, "valid") ? LE_BROWN_VALID
                                                                                             : LE_BROWN_TEST;
    struct le_brown *b = NULL;
    int rc = le_brown_open(&b, NULL);
    if (rc)
        return le_cli_fail_lib(rc);
    size_t total = 1;
    for (int i = 0; i < le_brown_n_docs(b); i++)
        total += le_brown_doc(b, i)->len + 1;
    R->text = malloc(total);
    if (!R->text) {
        le_brown_free(b);
        return le_cli_fail("out of memory");
    }
    for (int i = 0; i < le_brown_n_docs(b); i++) {
        const struct le_brown_doc *d = le_brown_doc(b, i);
        if (d->split != split || !d->len)
            continue;
        memcpy(R->text + R->len, d->text, d->len);
        R->len += d->len;
        if (d->text[d->len - 1] != '\n')
            R->text[R->len++] = '\n';
    }
    R->text[R->len] = 0;
    le_brown_free(b);
    return -1;
}

static int le_cmp_text(struct le_cmp_run *R) {
    int rc = R->o.file ? le_cmp_read_file(R) : le_cmp_read_brown(R);
    if (rc >= 0)
        return rc;
    if (R->len > 0 && R->text[R->len - 1] == '\n') /* llama-perplexity drops one */
        R->len--;
    R->text[R->len] = 0;
    uint8_t dg[32];
    le_sha256(R->text, R->len, dg);
    le_sha256_hex(dg, R->text_sha);
    return -1;
}

/* ---- models ---- */

/* Bits per weight as llama.cpp's loader prints it: tensor bytes x 8 / elements. */
static double le_cmp_bpw(const struct le_model *m) {
    const struct le_gguf *g = le_model_gguf(m);
    double bytes = 0, elems = 0;
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        bytes += (double)t->nbytes;
        elems += (double)t->ne[0] * (double)t->ne[1] * (double)t->ne[2] * (double)t->ne[3];
    }
    return elems > 0 ? bytes * 8 / elems : NAN;
}

/* Weight bits and group of a tensor type: ggml's nominal bits; the group is
 * the block (legacy types) or the sub-block sharing one scale (K-quants). */
static void le_cmp_type_bits(int type, double *bits, double *group) {
    static const struct {
        const char *name;
        double bits, group;
    } t[] = {{"F32", 32, NAN},  {"F16", 16, NAN},  {"BF16", 16, NAN}, {"Q8_0", 8, 32},  {"Q4_0", 4, 32},
             {"Q4_1", 4, 32},   {"Q5_0", 5, 32},   {"Q5_1", 5, 32},   {"Q2_K", 2, 16},  {"Q3_K", 3, 16},
             {"Q4_K", 4, 32},   {"Q5_K", 5, 32},   {"Q6_K", 6, 16}};
    *bits = *group = NAN;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcasecmp(le_type_name(type), t[i].name)) { /* ggml's names: "q4_K", "f32" */
            *bits = t[i].bits;
            *group = t[i].group;
        }
}

/* quant (the file type's name), method, bits, group of a model. */
static void le_cmp_describe(struct le_cmp_model *M, const struct le_cmp_opts *o) {
    const struct le_model_info *mi = le_model_get_info(M->m);
    const struct le_gguf *g = le_model_gguf(M->m);
    const char *fn = mi->ftype >= 0 ? le_quant_ftype_name(mi->ftype) : "unknown";
    int type = mi->ftype >= 0 ? le_quant_ftype_type(mi->ftype) : -1;
    if (!strcmp(fn, "unknown") || type < 0) {
        fn = le_type_name(mi->main_type);
        type = mi->main_type;
    }
    /* A --pure file (the output layer of the default type where the mix gives
     * it more bits) is not the mix: its name says so. */
    const struct le_gguf_tensor *out = le_gguf_find_tensor(g, mi->tied ? "token_embd.weight" : "output.weight");
    int pure = out && out->type == type && strcmp(fn, "F32") && strcmp(fn, "F16") && strcmp(fn, "BF16") &&
               strcmp(fn, "Q8_0") && strcmp(fn, "Q6_K") && mi->ftype >= 0;
    snprintf(M->quant, sizeof M->quant, "%s%s", fn, pure ? "-pure" : "");
    le_cmp_type_bits(type, &M->bits, &M->group);
    const char *s;
    uint64_t sl;
    uint32_t u;
    snprintf(M->method, sizeof M->method, "rtn");
    if (!le_gguf_get_str(g, "llamaeval.quantize.method", &s, &sl) && sl < sizeof M->method)
        snprintf(M->method, sizeof M->method, "%.*s", (int)sl, s);
    if (!le_gguf_get_u32(g, "llamaeval.quantize.bits", &u))
        M->bits = u;
    if (!le_gguf_get_u32(g, "llamaeval.quantize.group_size", &u))
        M->group = u;
    if (o->method)
        snprintf(M->method, sizeof M->method, "%s", o->method);
    if (o->bits)
        M->bits = (double)o->bits;
    if (o->group)
        M->group = (double)o->group;
    M->v.bpw = le_cmp_bpw(M->m);
    M->v.size = (double)mi->file_size;
}

static int le_cmp_open_model(struct le_cmp_model *M, const char *path, const struct le_cmp_opts *o) {
    M->path = path;
    int rc = le_model_open(&M->m, path);
    if (!rc) {
        uint64_t size = le_model_get_info(M->m)->file_size;
        rc = le_job_hash_model(path, size, !o->quiet && size > ((uint64_t)64 << 20), M->sha);
    }
    if (rc)
        return le_cli_fail("%s: %s", path, le_err_msg());
    le_cmp_describe(M, o);
    return -1;
}

static int le_cmp_open_models(struct le_cmp_run *R) {
    int rc = le_cmp_open_model(&R->base, R->o.base, &R->o);
    if (rc >= 0)
        return rc;
    if (!le_model_tok(R->base.m))
        return le_cli_fail("%s has no tokenizer", R->o.base);
    if (!(R->qlist = strdup(R->o.quants)))
        return le_cli_fail("out of memory");
    for (char *save = NULL, *s = strtok_r(R->qlist, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (R->nq == LE_CMP_MAX)
            return le_cli_usage(le_cmp_usage, "at most %d --quant models", LE_CMP_MAX);
        if ((rc = le_cmp_open_model(&R->q[R->nq++], s, &R->o)) >= 0)
            return rc;
        if (le_model_get_info(R->q[R->nq - 1].m)->n_vocab != le_model_get_info(R->base.m)->n_vocab)
            return le_cli_fail("%s has a vocabulary of %lld, the base %lld: not the same model", s,
                               (long long)le_model_get_info(R->q[R->nq - 1].m)->n_vocab,
                               (long long)le_model_get_info(R->base.m)->n_vocab);
    }
    if (!R->nq)
        return le_cli_usage(le_cmp_usage, "--quant names no file");
    return -1;
}

/* ---- the store ---- */

static int le_cmp_job(struct le_cmp_run *R, int argc, char **argv) {
    cJSON *j = cJSON_CreateObject(), *a = cJSON_CreateArray();
    if (!j || !a) {
        cJSON_Delete(j), cJSON_Delete(a);
        return le_cli_fail("out of memory");
    }
    for (int i = 0; i < argc; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
    cJSON_AddItemToObject(j, "argv", a);
    char *cfg = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    const char *db = strcmp(R->o.db, "none") ? R->o.db : ":memory:";
    struct le_job_opts jo = {.db = db, .command = "compare", .config_json = cfg ? cfg : "{}", .seed = R->o.seed,
                             .threads = le_pool_nthreads(R->pool), .signals = LE_JOB_SIGNALS_EXIT};
    int rc = le_job_open(&R->job, &jo);
    free(cfg);
    if (!rc)
        rc = le_job_add_model(R->job, R->base.path, R->base.sha, le_model_get_info(R->base.m), &R->base.model_id);
    for (int k = 0; k < R->nq && !rc; k++)
        rc = le_job_add_model(R->job, R->q[k].path, R->q[k].sha, le_model_get_info(R->q[k].m), &R->q[k].model_id);
    return rc ? le_cli_fail_lib(rc) : -1;
}

/* The identity of a quantized model's comparison (cJSON, caller deletes). */
static cJSON *le_cmp_ident(const struct le_cmp_run *R, const struct le_cmp_model *M) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "base_sha256", R->base.sha);
    cJSON_AddStringToObject(j, "quant", M->quant);
    cJSON_AddStringToObject(j, "method", M->method);
    if (!isnan(M->bits))
        cJSON_AddNumberToObject(j, "bits", M->bits);
    if (!isnan(M->group))
        cJSON_AddNumberToObject(j, "group", M->group);
    return j;
}

static char *le_cmp_canonical(cJSON *j) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL, *c = s ? le_job_config_canonical(s) : NULL;
    cJSON_Delete(j);
    free(s);
    return c;
}

/* Begins every quantized model's "compare" cell; done ones get their values back. */
static int le_cmp_cells(struct le_cmp_run *R) {
    for (int k = 0; k < R->nq; k++) {
        struct le_cmp_model *M = &R->q[k];
        cJSON *j = le_cmp_ident(R, M);
        if (j) {
            cJSON_AddStringToObject(j, "convention", "llamacpp");
            cJSON_AddNumberToObject(j, "ctx", (double)R->o.ctx);
            cJSON_AddStringToObject(j, "kv", "f32");
            cJSON_AddStringToObject(j, "text_sha256", R->text_sha);
            cJSON_AddNumberToObject(j, "boot", (double)R->o.boot);
            cJSON_AddNumberToObject(j, "seed", (double)R->o.seed);
        }
        if (!(M->cell_cfg = le_cmp_canonical(j)))
            return le_cli_fail("out of memory");
        int rc = le_job_cell_begin(R->job, M->sha, "compare", M->cell_cfg, &M->cell);
        if (rc)
            return le_cli_fail_lib(rc);
        M->pending = !M->cell.done;
        if (M->cell.done) {
            double keep_bpw = M->v.bpw, keep_size = M->v.size;
            memset(&M->v.st, 0, sizeof M->v.st);
            M->v.speed = NAN;
            for (int i = 0; i < M->cell.n_results; i++)
                for (size_t m = 0; m < LE_CMP_NMET; m++)
                    if (!strcmp(M->cell.results[i].metric, le_cmp_metrics[m].name)) {
                        *(double *)((char *)&M->v + le_cmp_metrics[m].val) = M->cell.results[i].value;
                        if (le_cmp_metrics[m].unc >= 0)
                            *(double *)((char *)&M->v + le_cmp_metrics[m].unc) = M->cell.results[i].stderr_v;
                        if (!strcmp(le_cmp_metrics[m].name, "ppl"))
                            M->v.st.n_tokens = M->cell.results[i].n;
                        if (!strcmp(le_cmp_metrics[m].name, "dppl_lo"))
                            M->v.st.boot = (int)M->cell.results[i].n;
                    }
            M->v.bpw = isnan(M->v.bpw) || M->v.bpw == 0 ? keep_bpw : M->v.bpw;
            M->v.size = M->v.size == 0 ? keep_size : M->v.size;
            if (!R->o.quiet)
                fprintf(stderr, "llamaeval: %s: compared earlier, results from the store\n", M->path);
        }
    }
    return -1;
}

static int le_cmp_record(struct le_cmp_run *R, struct le_cmp_model *M) {
    struct le_store_result res[LE_CMP_NMET];
    int nr = 0;
    for (size_t m = 0; m < LE_CMP_NMET; m++) {
        double v = *(const double *)((const char *)&M->v + le_cmp_metrics[m].val);
        if (isnan(v))
            continue;
        int64_t n = !strcmp(le_cmp_metrics[m].name, "speed") ? R->o.n_prompt
                    : !strncmp(le_cmp_metrics[m].name, "dppl_", 5) ? M->v.st.boot : M->v.st.n_tokens;
        res[nr++] = (struct le_store_result){
            le_cmp_metrics[m].name, v,
            le_cmp_metrics[m].unc >= 0 ? *(const double *)((const char *)&M->v + le_cmp_metrics[m].unc) : NAN,
            n > 0 ? n : 1};
    }
    return le_job_cell_finish(R->job, &M->cell, M->model_id, res, nr);
}

/* ---- the streamed pass ---- */

static int le_cmp_progress(void *ud, int chunk, int n_chunks) {
    struct le_cmp_run *R = ud;
    le_progress_update(R->prog, (uint64_t)chunk);
    int every = n_chunks >= 10 ? n_chunks / 10 : 1;
    if (R->o.quiet || (chunk % every && chunk != n_chunks))
        return 0;
    for (int k = 0; k < R->nq; k++)
        if (R->q[k].pending) {
            double p, pb, kl;
            le_cmp_running(R->q[k].acc, &p, &pb, &kl);
            printf("[%d/%d] %-10s PPL %.4f (base %.4f)  KLD %.6f\n", chunk, n_chunks, R->q[k].quant, p, pb, kl);
        }
    fflush(stdout);
    return 0;
}

static void le_cmp_speed(struct le_cmp_run *R, struct le_cmp_model *M) {
    M->v.speed = NAN;
    if (R->o.speed_reps <= 0)
        return;
    double tps[1000];
    int reps = (int)R->o.speed_reps, n = (int)R->o.n_prompt, nt = le_pool_nthreads(R->pool);
    if (le_memplan_check(M->m, n, n, nt, 1)) { /* bench's context, as bench plans it */
        if (!R->o.quiet)
            fprintf(stderr, "llamaeval: warning: %s: no speed: %s\n", M->path, le_err_msg());
        return;
    }
    if (le_bench_pp(M->m, nt, n, reps, tps))
        return; /* no speed is not a failure of the comparison */
    for (int i = 1; i < reps; i++) /* insertion sort: a handful of values */
        for (int j = i; j > 0 && tps[j] < tps[j - 1]; j--) {
            double t = tps[j];
            tps[j] = tps[j - 1], tps[j - 1] = t;
        }
    M->v.speed = reps % 2 ? tps[reps / 2] : 0.5 * (tps[reps / 2 - 1] + tps[reps / 2]);
}

static int le_cmp_pass(struct le_cmp_run *R) {
    struct le_ctx *qc[LE_CMP_MAX];
    struct le_cmp *acc[LE_CMP_MAX];
    int np = 0, rc = LE_OK;
    for (int k = 0; k < R->nq; k++)
        np += R->q[k].pending;
    if (!np)
        return -1;
    const struct le_tok *t = le_model_tok(R->base.m);
    int add_bos = le_tok_add_bos(t) && le_tok_bos(t) >= 0;
    struct le_toks toks = {0};
    if ((rc = le_tokenize(t, R->text, R->len, add_bos, &toks)))
        return le_cli_fail_lib(rc);
    if (toks.n < 2 * R->o.ctx) {
        le_toks_free(&toks);
        return le_cli_fail("the text has %lld tokens; --ctx %ld needs at least %ld", (long long)toks.n, R->o.ctx,
                           2 * R->o.ctx);
    }
    /* the base and every pending model hold a context at once: their plans
     * together, checked before anything is allocated (as ppl does) */
    const struct le_model *pm[LE_CMP_MAX + 1] = {R->base.m};
    np = 1;
    for (int k = 0; k < R->nq; k++)
        if (R->q[k].pending)
            pm[np++] = R->q[k].m;
    if ((rc = le_cli_check_ctx(R->job, R->base.path, R->o.ctx, le_model_get_info(R->base.m)->ctx_train)) ||
        (rc = le_memplan_check_models(pm, np, (int)R->o.ctx, (int)R->o.batch, le_pool_nthreads(R->pool),
                                      (int)R->o.quiet))) {
        le_toks_free(&toks);
        return le_cli_fail_lib(rc);
    }
    rc = le_ctx_new(&R->base.ctx, R->base.m, (int)R->o.ctx, (int)R->o.batch, R->pool);
    np = 0;
    for (int k = 0; k < R->nq && !rc; k++)
        if (R->q[k].pending) {
            if (!(rc = le_ctx_new(&R->q[k].ctx, R->q[k].m, (int)R->o.ctx, (int)R->o.batch, R->pool)) &&
                !(rc = le_cmp_new(&R->q[k].acc))) {
                qc[np] = R->q[k].ctx;
                acc[np++] = R->q[k].acc;
            }
        }
    int n_chunks = (int)(toks.n / R->o.ctx);
    if (!rc && !R->o.quiet)
        fprintf(stderr, "llamaeval: %lld tokens, %d chunks of %ld, %d models after the base, %d threads\n",
                (long long)toks.n, n_chunks, R->o.ctx, np, le_pool_nthreads(R->pool));
    if (!rc)
        rc = le_progress_new(&R->prog, "compare", (uint64_t)n_chunks, R->o.quiet);
    double t0 = le_cli_now();
    if (!rc)
        rc = le_cmp_llamacpp(R->base.ctx, qc, np, toks.ids, toks.n, (int)R->o.ctx, add_bos ? le_tok_bos(t) : -1,
                             le_cmp_progress, R, acc);
    le_progress_finish(R->prog);
    R->prog = NULL;
    if (!rc && !R->o.quiet)
        fprintf(stderr, "llamaeval: %d models x %d chunks in %.1f s\n", np + 1, n_chunks, le_cli_now() - t0);
    le_toks_free(&toks);
    /* the pass's contexts go before the speed runs make theirs */
    le_ctx_free(R->base.ctx);
    R->base.ctx = NULL;
    for (int k = 0; k < R->nq; k++) {
        le_ctx_free(R->q[k].ctx);
        R->q[k].ctx = NULL;
    }
    for (int k = 0; k < R->nq && !rc; k++) {
        struct le_cmp_model *M = &R->q[k];
        if (!M->pending)
            continue;
        if (!(rc = le_cmp_summary(M->acc, (int)R->o.boot, R->o.seed, &M->v.st))) {
            le_cmp_speed(R, M);
            rc = le_cmp_record(R, M);
        }
    }
    return rc ? le_cli_fail_lib(rc) : -1;
}

/* ---- output ---- */

/* llama-perplexity --kl-divergence's closing statistics for one model. */
static void le_cmp_print_model(const struct le_cmp_run *R, const struct le_cmp_model *M) {
    const struct le_cmp_stats *s = &M->v.st;
    printf("\n====== %s (%s, %s) against %s ======\n", M->path, M->quant, M->method, R->base.path);
    printf("Mean PPL(Q)                   : %10.6f \u00b1 %10.6f\n", s->ppl, s->ppl_unc);
    printf("Mean PPL(base)                : %10.6f \u00b1 %10.6f\n", s->ppl_base, s->ppl_base_unc);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s->cor_ln_ppl);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f \u00b1 %10.6f\n", s->ln_ratio, s->ln_ratio_unc);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f \u00b1 %10.6f\n", s->ratio, s->ratio_unc);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f \u00b1 %10.6f  [%.6f, %.6f] (95%%, %d chunk resamples)\n",
           s->dppl, s->dppl_unc, s->dppl_lo, s->dppl_hi, s->boot);
    printf("Mean    KLD: %10.6f \u00b1 %10.6f\n", s->kld, s->kld_unc);
    static const char *const kl[LE_CMP_KLD_Q] = {"Maximum", "99.9%  ", "99.0%  ", "95.0%  ", "90.0%  ", "Median ",
                                                 "10.0%  ", " 5.0%  ", " 1.0%  ", " 0.1%  ", "Minimum"};
    for (int i = 0; i < LE_CMP_KLD_Q; i++)
        printf("%s KLD: %10.6f\n", kl[i], s->kld_q[i]);
    printf("Mean    \u0394p: %6.3f \u00b1 %5.3f %%\n", 100.0 * s->dp, 100.0 * s->dp_unc);
    printf("RMS \u0394p    : %6.3f \u00b1 %5.3f %%\n", 100.0 * s->dp_rms, 100.0 * s->dp_rms_unc);
    printf("Same top p: %6.3f \u00b1 %5.3f %%\n", 100.0 * s->top1, 100.0 * s->top1_unc);
}

static void le_cmp_print_table(const struct le_cmp_run *R) {
    printf("\n| Type | Method | Bits/weight | Size (MB) | PPL | \u0394PPL [95%%] | KLD mean | KLD median | KLD 99%% "
           "| KLD 99.9%% | Top-1 (%%) | Speed (t/s) |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < R->nq; k++) {
        const struct le_cmp_model *M = &R->q[k];
        const struct le_cmp_stats *s = &M->v.st;
        char speed[32] = "\u2014";
        if (!isnan(M->v.speed))
            snprintf(speed, sizeof speed, "%.1f", M->v.speed);
        printf("| %s | %s | %.2f | %.2f | %.4f | %+.4f [%+.4f, %+.4f] | %.6f | %.6f | %.6f | %.6f | %.2f | %s |\n",
               M->quant, M->method, M->v.bpw, M->v.size * 1e-6, s->ppl, s->dppl, s->dppl_lo, s->dppl_hi, s->kld,
               s->kld_q[5], s->kld_q[2], s->kld_q[1], 100.0 * s->top1, speed);
    }
    printf("\nBase %s: PPL %.4f (llama.cpp convention, ctx %ld, text sha256 %.16s...)\n", R->base.path,
           R->q[0].v.st.ppl_base, R->o.ctx, R->text_sha);
}

/* ---- multiple-choice tasks ---- */

/* ok[d] = 1 when document d's conditional choice with the highest
 * log-likelihood is the gold one (eval's acc). */
static void le_cmp_correct(const struct le_taskcell *t, uint8_t *ok) {
    for (int64_t d = 0; d < t->ts->n_docs; d++) {
        int best = -1, gold = -1;
        double bl = 0;
        for (int64_t r = t->off[d]; r < t->off[d + 1]; r++) {
            const struct le_rec *x = &t->recs[r];
            gold = x->gold;
            if (!x->uncond && (best < 0 || x->ll > bl)) {
                best = x->choice;
                bl = x->ll;
            }
        }
        ok[d] = best >= 0 && best == gold;
    }
}

static int le_cmp_runner_task(struct le_cmp_run *R, struct le_taskcell *t, const struct le_taskcell_opts *to,
                              struct le_cmp_model *M, uint8_t *ok) {
    struct le_runner *run = NULL;
    struct le_runner_opts ro = {0, 0, -1};
    int rc = le_runner_new(&run, M->m, R->pool, &ro);
    if (!rc)
        rc = le_taskcell_run(t, to, R->job, run, M->sha, M->model_id);
    if (!rc)
        le_cmp_correct(t, ok);
    le_runner_free(run);
    return rc;
}

/* The paired comparison of one quantized model on one task, as a cell. */
static int le_cmp_mc_cell(struct le_cmp_run *R, const struct le_taskcell *t, struct le_cmp_model *M,
                          const uint8_t *ok_b, const uint8_t *ok_q) {
    int64_t n = t->ts->n_docs, rb = 0, rq = 0, b = 0, c = 0;
    for (int64_t d = 0; d < n; d++) {
        rb += ok_b[d], rq += ok_q[d];
        b += ok_b[d] && !ok_q[d];
        c += !ok_b[d] && ok_q[d];
    }
    double acc = (double)rq / (double)n, acc_b = (double)rb / (double)n, p = le_mcnemar_exact_p(b, c);
    printf("%-14s %-10s acc %.4f  base %.4f  change %+.4f  base-only right %lld, quantized-only right %lld, "
           "McNemar exact p = %.4g  (%lld documents)\n",
           t->name, M->quant, acc, acc_b, acc - acc_b, (long long)b, (long long)c, p, (long long)n);
    cJSON *j = le_cmp_ident(R, M);
    if (j) {
        cJSON_AddStringToObject(j, "task", t->name);
        cJSON_AddStringToObject(j, "req_sha256", t->req_sha);
        cJSON_AddNumberToObject(j, "limit", (double)R->o.limit);
    }
    char *cfg = le_cmp_canonical(j);
    if (!cfg)
        return le_err_set(LE_ENOMEM, "out of memory");
    struct le_job_cell cell = {0};
    int rc = le_job_cell_begin(R->job, M->sha, "compare-mc", cfg, &cell);
    if (!rc && !cell.done) {
        struct le_store_result res[] = {
            {"acc", acc, sqrt(acc * (1 - acc) / (double)(n > 1 ? n - 1 : 1)), n},
            {"acc_base", acc_b, sqrt(acc_b * (1 - acc_b) / (double)(n > 1 ? n - 1 : 1)), n},
            {"dacc", acc - acc_b, NAN, n},
            {"mcnemar_p", p, NAN, b + c > 0 ? b + c : 1},
            {"n_base_only", (double)b, NAN, n},
            {"n_quant_only", (double)c, NAN, n},
        };
        rc = le_job_cell_finish(R->job, &cell, M->model_id, res, (int)(sizeof res / sizeof res[0]));
    }
    le_job_cell_release(&cell);
    free(cfg);
    return rc;
}

static int le_cmp_tasks(struct le_cmp_run *R) {
    if (!R->o.tasks)
        return -1;
    char *list = strdup(R->o.tasks);
    if (!list)
        return le_cli_fail("out of memory");
    /* eval's defaults, so these are the very cells `eval` records */
    struct le_taskcell_opts to = {.fewshot_seed = 1234, .seed = 1234, .limit = R->o.limit, .boot = 1000,
                                  .flush = 64, .uncond = -1, .offline = 1, .quiet = R->o.quiet};
    /* one runner at a time, eval's context: each model's plan, as eval shows it */
    struct le_runner_opts ro = {0, 0, -1};
    int rc = LE_OK;
    for (int k = -1; k < R->nq && !rc; k++) {
        const struct le_model *m = k < 0 ? R->base.m : R->q[k].m;
        int rn_ctx, rn_batch;
        le_runner_sizes(m, &ro, &rn_ctx, &rn_batch);
        rc = le_memplan_check(m, rn_ctx, rn_batch, le_pool_nthreads(R->pool), (int)R->o.quiet);
    }
    if (rc) {
        free(list);
        return le_cli_fail_lib(rc);
    }
    printf("\n");
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name && !rc; name = strtok_r(NULL, ",", &save)) {
        struct le_taskcell t = {0};
        uint8_t *ok_b = NULL, *ok_q = NULL;
        if (!(rc = le_taskcell_load(&t, name, &to))) {
            if (t.ts->info->kind != LE_TASK_MC)
                rc = le_err_set(LE_EINVAL, "%s is not a multiple-choice task", name);
            ok_b = calloc((size_t)t.ts->n_docs + 1, 1);
            ok_q = calloc((size_t)t.ts->n_docs + 1, 1);
            if (!rc && (!ok_b || !ok_q))
                rc = le_err_set(LE_ENOMEM, "out of memory");
        }
        if (!rc)
            rc = le_cmp_runner_task(R, &t, &to, &R->base, ok_b);
        for (int k = 0; k < R->nq && !rc; k++)
            if (!(rc = le_cmp_runner_task(R, &t, &to, &R->q[k], ok_q)))
                rc = le_cmp_mc_cell(R, &t, &R->q[k], ok_b, ok_q);
        free(ok_b), free(ok_q);
        le_taskcell_free(&t);
    }
    free(list);
    return rc ? le_cli_fail_lib(rc) : -1;
}

/* ---- the command ---- */

static void le_cmp_free_run(struct le_cmp_run *R) {
    struct le_cmp_model *all[LE_CMP_MAX + 1] = {&R->base};
    for (int k = 0; k < R->nq; k++)
        all[k + 1] = &R->q[k];
    for (int k = 0; k <= R->nq; k++) {
        le_ctx_free(all[k]->ctx);
        le_cmp_free(all[k]->acc);
        le_job_cell_release(&all[k]->cell);
        free(all[k]->cell_cfg);
    }
    le_job_end(R->job, LE_EINVAL); /* NULL unless a path failed before ending it */
    for (int k = 0; k <= R->nq; k++)
        le_model_free(all[k]->m);
    le_pool_free(R->pool);
    free(R->text);
    free(R->qlist);
}

int le_cmd_compare(int argc, char **argv) {
    struct le_cmp_run R = {0};
    int rc = le_cmp_parse(argc, argv, &R.o);
    if (rc >= 0)
        return rc;
    if ((R.o.file || R.o.brown) && (rc = le_cmp_text(&R)) >= 0)
        goto done;
    if ((rc = le_cmp_open_models(&R)) >= 0)
        goto done;
    if ((rc = le_pool_new(&R.pool, (int)R.o.threads))) {
        rc = le_cli_fail_lib(rc);
        goto done;
    }
    if ((rc = le_cmp_job(&R, argc, argv)) >= 0)
        goto done;
    if (R.text) {
        if ((rc = le_cmp_cells(&R)) >= 0 || (rc = le_cmp_pass(&R)) >= 0)
            goto done;
        for (int k = 0; k < R.nq; k++)
            le_cmp_print_model(&R, &R.q[k]);
        le_cmp_print_table(&R);
    }
    if ((rc = le_cmp_tasks(&R)) >= 0)
        goto done;
    rc = le_job_end(R.job, LE_OK);
    R.job = NULL;
    rc = rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
done: /* a failed run's job is ended in le_cmp_free_run, after its cells are released */
    le_cmp_free_run(&R);
    return rc;
}
