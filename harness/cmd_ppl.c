/*
 * cmd_ppl: `llamaeval ppl --model M.gguf --file F.txt [--convention C]
 * [--ctx N] [--stride S] [--docs file|lines|wikitext] [--batch N]
 * [--threads N] [--db FILE] [--quiet]` -- perplexity under a named
 * convention (tasks/le_ppl.h has each one's definition and reference).
 *
 * llamacpp (the default; output unchanged since it was the only one): one
 * trailing newline dropped, the text tokenized once with BOS, chunks of ctx
 * tokens with BOS first, the second half of each scored. Prints the running
 * values like llama-perplexity ("[1]66.8466,[2]73.0193,..."), then
 * "Final estimate: PPL = x +/- y" and the speed.
 *
 * gptq, hf-stride: the file's documents (--docs) joined with "\n\n" and
 * tokenized once (BOS first when the tokenizer adds it), then GPTQ's
 * disjoint windows or the Hugging Face guide's strided windows. lmeval: each
 * document's rolling log-likelihood and lm-eval's word / byte / token
 * perplexity and bits per byte. Documents: the whole file as one (default);
 * `lines`, the rows of HF datasets' wikitext script (what GPTQ and the HF
 * guide join: use it on wiki.test.raw to reproduce their WikiText-2 numbers);
 * `wikitext`, WikiText articles as lm-eval's wikitext_document_level splits
 * them (datasets/), scored by lmeval after lm-eval's wikitext detokenizer with
 * words and bytes counted on the original article (lm-eval's wikitext task).
 *
 * The run, the model and the result are recorded in the store (through
 * le_job, the cell protocol eval and sweep share); the result's
 * cell is keyed by the model's sha256, the convention and what changes the
 * numbers (ctx, stride, docs, kv type, the text's sha256) -- not the batch
 * size or thread count, which cannot change them. Each stored result's n is
 * the count its exponent divides by: scored tokens (llamacpp), nsamples *
 * seqlen (gptq), the guide's n_tokens (hf-stride), words / bytes / tokens
 * (lmeval, whose per-document records are stored as samples).
 */
#include "cli.h"         /* le_cli_* */
#include "commands.h"    /* le_cmd_ppl */
#include "le_datasets.h" /* le_ds_read_wikitext */
#include "le_err.h"
#include "le_fs.h"       /* le_read_file */
#include "le_job.h"      /* the run, the model, the result's cell */
#include "le_format.h"   /* le_lora_spec_parse */
#include "le_memplan.h"  /* le_memplan_check: the plan before the context */
#include "le_model.h"    /* le_model_open_ex, le_ctx_* */
#include "le_pool.h"     /* le_pool_new */
#include "le_ppl.h"      /* le_ppl_* */
#include "le_sha256.h"   /* le_sha256 of the text */
#include "le_tasks.h"    /* le_runner_*, le_tokenize, le_rec_to_json */
#include "le_tok.h"      /* le_tok_encode */

#include <cjson/cJSON.h> /* the run's config JSON, wikitext documents */
#include <errno.h>
#include <math.h> /* NAN */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *le_ppl_usage =
    "usage: llamaeval ppl --model M.gguf --file F.txt [--convention llamacpp|gptq|hf-stride|lmeval] [--ctx N]\n"
    "                     [--stride S] [--docs file|lines|wikitext] [--batch N] [--threads N] [--kv-f16]\n"
    "                     [--db FILE] [--quiet] [--lora A[:S]]";
static const char *le_ppl_help =
    "usage: llamaeval ppl --model M.gguf --file F.txt [--convention llamacpp|gptq|hf-stride|lmeval] [--ctx N]\n"
    "                     [--stride S] [--docs file|lines|wikitext] [--batch N] [--threads N] [--kv-f16]\n"
    "                     [--db FILE] [--quiet]\n"
    "\n"
    "Perplexity of a text file under a named convention; records the run and the\n"
    "result in the results store.\n"
    "\n"
    "Conventions:\n"
    "  llamacpp   llama.cpp's llama-perplexity (default): one trailing newline is\n"
    "             dropped, the text is tokenized once with BOS and cut into\n"
    "             floor(n / ctx) chunks; each chunk starts with BOS and is evaluated\n"
    "             from an empty cache; the second half of each chunk is scored.\n"
    "             Prints the running perplexity after each chunk, the final PPL\n"
    "             with its standard error, and the speed.\n"
    "  gptq       GPTQ's llama_eval: the documents joined with \"\\n\\n\", tokenized\n"
    "             once (one BOS), n // ctx disjoint windows of ctx tokens (default\n"
    "             2048), every token but each window's first scored;\n"
    "             PPL = exp(sum(window mean nll * ctx) / (windows * ctx)).\n"
    "  hf-stride  Hugging Face's \"Perplexity of fixed-length models\": the same\n"
    "             text and tokens, windows of ctx tokens starting every --stride\n"
    "             tokens, each scoring only the tokens not scored before;\n"
    "             PPL = exp(sum(window mean nll * (trg_len - 1)) / sum(trg_len - 1)).\n"
    "  lmeval     lm-evaluation-harness's wikitext metrics: each document's\n"
    "             rolling log-likelihood (windows of ctx tokens); word and byte\n"
    "             perplexity, bits per byte and token perplexity over all documents.\n"
    "\n"
    "Options:\n"
    "  --model M          the model: a GGUF file, or any format `llamaeval convert` reads\n"
    "  --lora A[:S]       merge LoRA adapter A with scale S (default 1) at load; repeatable\n"
    "  --file F           the text file\n"
    "  --convention C     llamacpp (default), gptq, hf-stride or lmeval\n"
    "  --ctx N            tokens per chunk / window / max length (default: 512 for\n"
    "                     llamacpp, 2048 for gptq, else the model's training context)\n"
    "  --stride S         hf-stride only: tokens between window starts (default ctx / 2)\n"
    "  --docs D           gptq, hf-stride, lmeval: how the file becomes documents:\n"
    "                     file (default) the whole file is one document;\n"
    "                     lines  the rows of HF datasets' wikitext (each line with its\n"
    "                            newline, blank lines empty): --docs lines on\n"
    "                            wiki.test.raw reproduces GPTQ's and HF's WikiText-2;\n"
    "                     wikitext  WikiText articles as lm-eval splits them; lmeval\n"
    "                            scores each after lm-eval's wikitext detokenizer and\n"
    "                            counts words and bytes on the original article\n"
    "  --batch N          tokens per forward call (default: ctx, at most 512 for the\n"
    "                     other conventions); does not change results\n"
    "  --threads N        worker threads (default: all cores); does not change results\n"
    "  --kv-f16           llamacpp only: round the KV cache to F16 like llama.cpp's\n"
    "                     default context (default: F32, like -ctk f32 -ctv f32 -fa off)\n"
    "  --db FILE          results store (default results.sqlite): a result already there is\n"
    "                     printed from it, not computed again; 'none': compute, record nothing\n"
    "  --quiet            no running values or progress, only the final lines\n"
    "  -h, --help         show this help\n";

enum { CONV_LLAMACPP, CONV_GPTQ, CONV_HF_STRIDE, CONV_LMEVAL };
static const char *const le_conv_names[] = {"llamacpp", "gptq", "hf-stride", "lmeval"};
enum { DOCS_FILE, DOCS_LINES, DOCS_WIKITEXT };
static const char *const le_docs_names[] = {"file", "lines", "wikitext"};

#define LE_PPL_MAX_LORA 8
struct le_ppl_opts {
    const char *model, *file, *db;
    struct le_lora_spec lora[LE_PPL_MAX_LORA]; /* --lora, merged at open */
    int n_lora;
    long ctx, batch, threads, stride; /* ctx, stride: 0 = the convention's default */
    int quiet, kv_f16, conv, docs, docs_set;
};

static int le_ppl_pick(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

/* Cross-option checks once all options are known. */
static int le_ppl_check_opts(struct le_ppl_opts *o) {
    if (!o->model || !o->file)
        return le_cli_usage(le_ppl_usage, "--model and --file are required");
    if (o->stride && o->conv != CONV_HF_STRIDE)
        return le_cli_usage(le_ppl_usage, "--stride applies to --convention hf-stride only");
    if (o->docs_set && o->conv == CONV_LLAMACPP)
        return le_cli_usage(le_ppl_usage, "--docs applies to gptq, hf-stride and lmeval (llamacpp reads the file as one text)");
    if (o->kv_f16 && o->conv != CONV_LLAMACPP)
        return le_cli_usage(le_ppl_usage, "--kv-f16 applies to --convention llamacpp only");
    if (o->conv == CONV_LLAMACPP && o->ctx == 0)
        o->ctx = 512;
    if (o->conv == CONV_GPTQ && o->ctx == 0)
        o->ctx = 2048;
    if (o->ctx && o->conv != CONV_LLAMACPP && o->ctx < 2)
        return le_cli_usage(le_ppl_usage, "--ctx must be at least 2");
    if (o->ctx && o->stride > o->ctx)
        return le_cli_usage(le_ppl_usage, "--stride %ld exceeds --ctx %ld", o->stride, o->ctx);
    if (o->conv == CONV_LLAMACPP && (o->batch == 0 || o->batch > o->ctx))
        o->batch = o->ctx;
    return -1;
}

static int le_ppl_parse(int argc, char **argv, struct le_ppl_opts *o) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"file", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, 'c'},   {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"db", required_argument, 0, 'd'},
        {"quiet", no_argument, 0, 'q'},       {"kv-f16", no_argument, 0, 'k'},
        {"convention", required_argument, 0, 'C'}, {"stride", required_argument, 0, 's'},
        {"docs", required_argument, 0, 'D'},  {"help", no_argument, 0, 'h'},
        {"lora", required_argument, 0, 'L'},  {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_ppl_usage, le_ppl_help, 0};
    *o = (struct le_ppl_opts){.db = "results.sqlite"};
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case 'm': o->model = optarg; break;
        case 'f': o->file = optarg; break;
        case 'L':
            if (o->n_lora == LE_PPL_MAX_LORA || le_lora_spec_parse(optarg, &o->lora[o->n_lora]))
                return le_cli_usage(le_ppl_usage, "--lora '%s': at most %d adapters, PATH[:SCALE]", optarg,
                                    LE_PPL_MAX_LORA);
            o->n_lora++;
            break;
        case 'd': o->db = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'k': o->kv_f16 = 1; break;
        case 'C':
            if ((o->conv = le_ppl_pick(le_conv_names, 4, optarg)) < 0)
                return le_cli_usage(le_ppl_usage, "unknown convention '%s' (llamacpp, gptq, hf-stride, lmeval)", optarg);
            break;
        case 'D':
            if ((o->docs = le_ppl_pick(le_docs_names, 3, optarg)) < 0)
                return le_cli_usage(le_ppl_usage, "unknown --docs '%s' (file, lines, wikitext)", optarg);
            o->docs_set = 1;
            break;
        case 'c':
            if (le_cli_int(&p, "--ctx", optarg, 4, 1 << 20, &o->ctx))
                return LE_EXIT_USAGE;
            break;
        case 's':
            if (le_cli_int(&p, "--stride", optarg, 1, 1 << 20, &o->stride))
                return LE_EXIT_USAGE;
            break;
        case 'b':
            if (le_cli_int(&p, "--batch", optarg, 1, 1 << 20, &o->batch))
                return LE_EXIT_USAGE;
            break;
        case 't':
            if (le_cli_int(&p, "--threads", optarg, 1, 1024, &o->threads))
                return LE_EXIT_USAGE;
            break;
        default: return LE_EXIT_USAGE;
        }
    }
    if (le_cli_optind() < argc)
        return le_cli_usage(le_ppl_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    return le_ppl_check_opts(o);
}

static int le_ppl_tokenize(const struct le_tok *t, const char *text, size_t len, int add_bos, int32_t **ids,
                           int64_t *n) {
    int64_t cap = (int64_t)len + 16;
    *ids = malloc((size_t)cap * sizeof **ids);
    if (!*ids)
        return le_err_set(LE_ENOMEM, "out of memory tokenizing");
    int rc = le_tok_encode(t, text, len, add_bos, *ids, cap, n);
    if (!rc && *n > cap) {
        int32_t *nb = realloc(*ids, (size_t)*n * sizeof **ids);
        if (!nb)
            return le_err_set(LE_ENOMEM, "out of memory tokenizing");
        *ids = nb;
        rc = le_tok_encode(t, text, len, add_bos, *ids, *n, n);
    }
    return rc;
}

static int le_ppl_print_chunk(void *ud, int chunk, int n_chunks, double running) {
    (void)n_chunks;
    if (!*(int *)ud) {
        printf("[%d]%.4f,", chunk, running);
        fflush(stdout);
    }
    return 0;
}

/* Everything the run needs, freed in one place. */
struct le_ppl_state {
    struct le_model *m;
    struct le_pool *pool;
    struct le_ctx *ctx;
    struct le_runner *runner;
    struct le_job *job;
    char *text, *joined;
    int32_t *ids;
    char *config;
    char **docs, **scored; /* documents; what lmeval scores (NULL: docs) */
    int64_t n_docs;
    struct le_rec *recs;
    int64_t model_id;
    char model_sha[65], text_sha[65];
    struct le_job_cell cell; /* claimed at begin, finished by record */
};

static void le_ppl_state_free(struct le_ppl_state *s) {
    le_runner_free(s->runner);
    le_ctx_free(s->ctx);
    le_pool_free(s->pool);
    le_model_free(s->m);
    le_job_cell_release(&s->cell);
    le_job_end(s->job, LE_EINVAL); /* NULL unless a path forgot le_ppl_end: a failed run */
    free(s->text);
    free(s->joined);
    free(s->ids);
    free(s->config);
    le_ppl_strings_free(s->docs, s->n_docs);
    le_ppl_strings_free(s->scored, s->scored ? s->n_docs : 0);
    free(s->recs);
}

/* Ends the run ("ok" for rc LE_OK, else "failed"); returns rc or the error
 * of ending it. */
static int le_ppl_end(struct le_ppl_state *s, int rc) {
    le_job_cell_release(&s->cell);
    rc = le_job_end(s->job, rc);
    s->job = NULL;
    return rc;
}

static void le_ppl_cell_cfg(char *buf, size_t n, const struct le_ppl_opts *o, const char *text_sha);

/* Builds the run's config JSON; opens the job (store, run), records the
 * model and claims the cell (waiting while another process computes it).
 * With --db none, nothing. */
static int le_ppl_begin(struct le_ppl_state *s, const struct le_ppl_opts *o, int threads) {
    int64_t ctx_train = le_model_get_info(s->m)->ctx_train;
    if (!strcmp(o->db, "none"))
        return le_cli_check_ctx(NULL, o->model, o->ctx, ctx_train);
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return le_err_set(LE_ENOMEM, "out of memory");
    cJSON_AddStringToObject(j, "task", "ppl");
    cJSON_AddStringToObject(j, "convention", le_conv_names[o->conv]);
    cJSON_AddNumberToObject(j, "ctx", (double)o->ctx);
    if (o->conv == CONV_HF_STRIDE)
        cJSON_AddNumberToObject(j, "stride", (double)o->stride);
    if (o->conv != CONV_LLAMACPP)
        cJSON_AddStringToObject(j, "docs", le_docs_names[o->docs]);
    cJSON_AddStringToObject(j, "kv", o->kv_f16 ? "f16" : "f32");
    cJSON_AddNumberToObject(j, "batch", (double)o->batch);
    cJSON_AddStringToObject(j, "text_sha256", s->text_sha);
    cJSON_AddStringToObject(j, "text", o->file);
    s->config = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s->config)
        return le_err_set(LE_ENOMEM, "out of memory");
    struct le_job_opts jo = {.db = o->db, .command = "ppl", .config_json = s->config, .seed = 0, .threads = threads,
                             .signals = LE_JOB_SIGNALS_EXIT, .on_wait = le_cli_job_wait};
    int rc = le_job_open(&s->job, &jo);
    if (!rc && (rc = le_job_add_model(s->job, o->model, s->model_sha, le_model_get_info(s->m), &s->model_id)))
        le_ppl_end(s, rc);
    if (!rc && (rc = le_cli_check_ctx(s->job, o->model, o->ctx, ctx_train)))
        le_ppl_end(s, rc);
    char cell_cfg[320];
    le_ppl_cell_cfg(cell_cfg, sizeof cell_cfg, o, s->text_sha);
    if (!rc && (rc = le_job_cell_begin(s->job, s->model_sha, "ppl", cell_cfg, &s->cell)))
        le_ppl_end(s, rc);
    return rc;
}

/* A cell found done: its stored results instead of computing them again. */
static int le_ppl_stored(struct le_ppl_state *s, const struct le_ppl_opts *o) {
    printf("Stored result (%s, ctx %ld; computed earlier, found in %s):\n", le_conv_names[o->conv], o->ctx, o->db);
    for (int i = 0; i < s->cell.n_results; i++) {
        const struct le_store_result *r = &s->cell.results[i];
        if (isnan(r->stderr_v))
            printf("%-16s = %.6f over %lld\n", r->metric, r->value, (long long)r->n);
        else
            printf("%-16s = %.6f +/- %.6f over %lld\n", r->metric, r->value, r->stderr_v, (long long)r->n);
    }
    int rc = le_ppl_end(s, LE_OK);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}

/* The cell's config: what changes the numbers. llamacpp's is unchanged from
 * when it was the only convention, so older stores keep recognising it. */
static void le_ppl_cell_cfg(char *buf, size_t n, const struct le_ppl_opts *o, const char *text_sha) {
    const char *kv = o->kv_f16 ? "f16" : "f32";
    if (o->conv == CONV_LLAMACPP)
        snprintf(buf, n, "{\"convention\":\"llamacpp\",\"ctx\":%ld,\"kv\":\"%s\",\"text_sha256\":\"%s\"}", o->ctx, kv,
                 text_sha);
    else if (o->conv == CONV_HF_STRIDE)
        snprintf(buf, n,
                 "{\"convention\":\"hf-stride\",\"ctx\":%ld,\"docs\":\"%s\",\"kv\":\"%s\",\"stride\":%ld,"
                 "\"text_sha256\":\"%s\"}",
                 o->ctx, le_docs_names[o->docs], kv, o->stride, text_sha);
    else
        snprintf(buf, n, "{\"convention\":\"%s\",\"ctx\":%ld,\"docs\":\"%s\",\"kv\":\"%s\",\"text_sha256\":\"%s\"}",
                 le_conv_names[o->conv], o->ctx, le_docs_names[o->docs], kv, text_sha);
}

/* Records the results (and lmeval's per-document samples) unless the cell is done. */
static int le_ppl_record(struct le_ppl_state *s, const struct le_ppl_opts *o, const struct le_store_result *res,
                         int nres) {
    /* A NaN or infinite metric (NaN weights, nothing scored) is not a result. */
    for (int i = 0; i < nres; i++)
        if (!isfinite(res[i].value) || res[i].n < 1)
            return le_err_set(LE_EINVAL, "%s of %s is %g over %lld scored units: not a result (nothing "
                              "to score, or the model computes NaN/inf)", res[i].metric, o->file, res[i].value,
                              (long long)res[i].n);
    if (!s->job) /* --db none */
        return LE_OK;
    struct le_job_cell *cell = &s->cell;
    int rc = LE_OK;
    if (s->recs) {
        struct le_store_sample *smp = calloc((size_t)s->n_docs, sizeof *smp);
        rc = smp ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
        for (int64_t d = 0; d < s->n_docs && !rc; d++) {
            smp[d].doc = d;
            if (!(smp[d].json = le_rec_to_json(&s->recs[d])))
                rc = le_err_set(LE_ENOMEM, "out of memory");
        }
        if (!rc)
            rc = le_job_cell_put_samples(s->job, cell, smp, (int)s->n_docs);
        for (int64_t d = 0; smp && d < s->n_docs; d++)
            free((char *)smp[d].json);
        free(smp);
    }
    if (!rc)
        rc = le_job_cell_finish(s->job, cell, s->model_id, res, nres);
    if (!rc && cell->done && !o->quiet) /* our lease ran out and another process finished it */
        fprintf(stderr, "llamaeval: another process stored this result first; the run is recorded, the result not again\n");
    le_job_cell_release(cell);
    return rc;
}

/* Opens the model, shows and checks its memory plan, reads and hashes the
 * text, hashes the model (not with --db none: nothing is stored). */
static int le_ppl_load(struct le_ppl_state *s, struct le_ppl_opts *o, size_t *len) {
    struct le_format_opts fo = {.lora = o->lora, .n_lora = o->n_lora};
    int rc = le_model_open_ex(&s->m, o->model, &fo);
    if (rc)
        return le_cli_fail_lib(rc);
    if (!le_model_tok(s->m))
        return le_cli_fail("%s has no tokenizer", o->model);
    if (o->ctx == 0) { /* gptq, hf-stride, lmeval: the model's training context */
        int64_t ct = le_model_get_info(s->m)->ctx_train;
        o->ctx = ct >= 4 && ct <= (1 << 20) ? (long)ct : 2048;
    }
    if (o->batch == 0 || o->batch > o->ctx)
        o->batch = o->ctx < 512 ? o->ctx : 512;
    if ((rc = le_memplan_check(s->m, (int)o->ctx, (int)o->batch, o->threads > 0 ? (int)o->threads : le_ncpu(),
                               o->quiet)))
        return le_cli_fail_lib(rc);
    if ((rc = le_read_file(o->file, &s->text, len)))
        return le_cli_fail_lib(rc);
    if (o->conv == CONV_LLAMACPP && *len > 0 && s->text[*len - 1] == '\n') /* llama-perplexity drops one */
        s->text[--*len] = 0;
    uint8_t dg[32];
    le_sha256(s->text, *len, dg);
    le_sha256_hex(dg, s->text_sha);
    if (!strcmp(o->db, "none")) /* the model's identity is for the store only */
        return -1;
    uint64_t size = le_model_get_info(s->m)->file_size;
    if ((rc = le_job_hash_model(o->model, size, !o->quiet && size > ((uint64_t)64 << 20), s->model_sha)))
        return le_cli_fail_lib(rc);
    if (o->n_lora && (rc = le_job_hash_lora(s->model_sha, o->lora, o->n_lora, s->model_sha)))
        return le_cli_fail_lib(rc);
    return -1;
}

/* ---- llamacpp ---- */

static int le_ppl_run_llamacpp(struct le_ppl_state *s, const struct le_ppl_opts *o, size_t len) {
    const struct le_tok *t = le_model_tok(s->m);
    int add_bos = le_tok_add_bos(t) && le_tok_bos(t) >= 0;
    int64_t n_tok = 0;
    int rc;
    if ((rc = le_ppl_tokenize(t, s->text, len, add_bos, &s->ids, &n_tok)))
        return le_cli_fail_lib(rc);
    if (n_tok < 2 * o->ctx)
        return le_cli_fail("%s has %lld tokens; perplexity with --ctx %ld needs at least %ld", o->file,
                           (long long)n_tok, o->ctx, 2 * o->ctx);
    if ((rc = le_pool_new(&s->pool, (int)o->threads)) ||
        (rc = le_ctx_new(&s->ctx, s->m, (int)o->ctx, (int)o->batch, s->pool)))
        return le_cli_fail_lib(rc);
    le_ctx_set_kv_f16(s->ctx, o->kv_f16);
    int threads = le_pool_nthreads(s->pool);
    if ((rc = le_ppl_begin(s, o, threads)))
        return le_cli_fail_lib(rc);
    if (s->cell.done)
        return le_ppl_stored(s, o);
    if (!o->quiet)
        fprintf(stderr, "llamaeval: %lld tokens, %lld chunks of %ld, batch %ld, %d threads\n", (long long)n_tok,
                (long long)(n_tok / o->ctx), o->ctx, o->batch, threads);
    struct le_ppl_result r;
    double t0 = le_cli_now();
    int quiet = o->quiet;
    rc = le_ppl_llamacpp(s->ctx, s->ids, n_tok, (int)o->ctx, add_bos ? le_tok_bos(t) : -1, le_ppl_print_chunk,
                         &quiet, &r);
    double dt = le_cli_now() - t0;
    if (!o->quiet)
        printf("\n");
    if (rc)
        return le_cli_fail_lib(le_ppl_end(s, rc));
    printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
    int64_t evaluated = (int64_t)r.n_chunks * o->ctx;
    printf("%lld tokens evaluated (%lld scored) in %.2f s: %.1f tokens/s\n", (long long)evaluated,
           (long long)r.n_scored, dt, dt > 0 ? (double)evaluated / dt : 0.0);
    struct le_store_result res[2] = {
        {.metric = "ppl", .value = r.ppl, .stderr_v = r.ppl_stderr, .n = r.n_scored},
        {.metric = "mean_nll", .value = r.mean_nll, .stderr_v = NAN, .n = r.n_scored},
    };
    if ((rc = le_ppl_record(s, o, res, 2)))
        return le_cli_fail_lib(le_ppl_end(s, rc));
    if ((rc = le_ppl_end(s, LE_OK)))
        return le_cli_fail_lib(rc);
    return LE_EXIT_OK;
}

/* ---- the other conventions ---- */

/* The file's documents (--docs) into s->docs; for lmeval on WikiText
 * articles also the detokenized texts it scores into s->scored. */
static int le_ppl_make_docs(struct le_ppl_state *s, const struct le_ppl_opts *o, size_t len) {
    int rc = LE_OK;
    if (o->docs == DOCS_LINES)
        return le_ppl_hf_rows(s->text, len, &s->docs, &s->n_docs);
    if (o->docs == DOCS_FILE) {
        s->docs = calloc(1, sizeof *s->docs);
        if (!s->docs || !(s->docs[0] = strdup(s->text)))
            return le_err_set(LE_ENOMEM, "out of memory");
        s->n_docs = 1;
        return LE_OK;
    }
    cJSON *arr = NULL;
    if ((rc = le_ds_read_wikitext(s->text, len, &arr)))
        return rc;
    int n = cJSON_GetArraySize(arr);
    s->docs = calloc((size_t)(n > 0 ? n : 1), sizeof *s->docs);
    s->scored = o->conv == CONV_LMEVAL ? calloc((size_t)(n > 0 ? n : 1), sizeof *s->scored) : NULL;
    if (!s->docs || (o->conv == CONV_LMEVAL && !s->scored))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        const char *page = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "text"));
        if (!page)
            rc = le_err_set(LE_EFORMAT, "wikitext: a document without text");
        else if (!(s->docs[i] = strdup(page)))
            rc = le_err_set(LE_ENOMEM, "out of memory");
        s->n_docs = i + 1;
        size_t dl;
        if (!rc && s->scored)
            rc = le_ppl_wikitext_detok(page, strlen(page), &s->scored[i], &dl);
    }
    cJSON_Delete(arr);
    return rc;
}

/* Prepares the tokens (gptq, hf-stride) or documents (lmeval) and the runner. */
static int le_ppl_prepare(struct le_ppl_state *s, struct le_ppl_opts *o, size_t len, int64_t *n_tok) {
    int rc = le_ppl_make_docs(s, o, len);
    if (rc)
        return le_cli_fail_lib(rc);
    if (s->n_docs < 1)
        return le_cli_fail("%s has no documents", o->file);
    if (o->conv == CONV_HF_STRIDE && o->stride == 0)
        o->stride = o->ctx / 2 > 0 ? o->ctx / 2 : 1;
    if (o->stride > o->ctx)
        return le_cli_usage(le_ppl_usage, "--stride %ld exceeds --ctx %ld", o->stride, o->ctx);
    if (o->conv != CONV_LMEVAL) {
        const struct le_tok *t = le_model_tok(s->m);
        int add_bos = le_tok_add_bos(t) && le_tok_bos(t) >= 0;
        size_t jl = 0;
        if ((rc = le_ppl_join((const char *const *)s->docs, s->n_docs, "\n\n", &s->joined, &jl)) ||
            (rc = le_ppl_tokenize(t, s->joined, jl, add_bos, &s->ids, n_tok)))
            return le_cli_fail_lib(rc);
        if (o->conv == CONV_GPTQ && *n_tok < o->ctx)
            return le_cli_fail("%s has %lld tokens; gptq with --ctx %ld needs at least %ld", o->file,
                               (long long)*n_tok, o->ctx, o->ctx);
        if (*n_tok < 2)
            return le_cli_fail("%s has %lld tokens; perplexity needs at least 2", o->file, (long long)*n_tok);
    }
    struct le_runner_opts ro = {.n_ctx = (int)o->ctx, .n_batch = (int)o->batch, .add_bos = -1};
    if ((rc = le_pool_new(&s->pool, (int)o->threads)) || (rc = le_runner_new(&s->runner, s->m, s->pool, &ro)))
        return le_cli_fail_lib(rc);
    return -1;
}

/* gptq / hf-stride: prints and records one PPL. */
static int le_ppl_finish_windows(struct le_ppl_state *s, const struct le_ppl_opts *o, const struct le_ppl_result *r) {
    if (o->conv == CONV_GPTQ)
        printf("Final estimate (gptq, seqlen %ld): PPL = %.4f over %lld tokens (%d windows x %ld; %lld scored, "
               "divided by windows x seqlen)\n",
               o->ctx, r->ppl, (long long)r->n_denom, r->n_chunks, o->ctx, (long long)r->n_scored);
    else
        printf("Final estimate (hf-stride, max_length %ld, stride %ld): PPL = %.4f over %lld tokens (%d windows; "
               "%lld scored)\n",
               o->ctx, o->stride, r->ppl, (long long)r->n_denom, r->n_chunks, (long long)r->n_scored);
    struct le_store_result res[2] = {
        {.metric = "ppl", .value = r->ppl, .stderr_v = NAN, .n = r->n_denom},
        {.metric = "mean_nll", .value = r->mean_nll, .stderr_v = NAN, .n = r->n_denom},
    };
    return le_ppl_record(s, o, res, 2);
}

static int le_ppl_finish_lmeval(struct le_ppl_state *s, const struct le_ppl_opts *o,
                                const struct le_ppl_lmeval_result *r) {
    if (r->n_tokens < 1 || r->n_bytes < 1)
        return le_err_set(LE_EINVAL, "%s has no text to score (%lld tokens, %lld bytes)", o->file,
                          (long long)r->n_tokens, (long long)r->n_bytes);
    printf("Final estimate (lmeval, max_length %ld): %lld documents, %lld tokens, %lld words, %lld bytes\n", o->ctx,
           (long long)r->n_docs, (long long)r->n_tokens, (long long)r->n_words, (long long)r->n_bytes);
    printf("word_perplexity  = %.4f +/- %.5f\n", r->word_perplexity, r->word_perplexity_stderr);
    printf("byte_perplexity  = %.6f +/- %.6f\n", r->byte_perplexity, r->byte_perplexity_stderr);
    printf("bits_per_byte    = %.6f +/- %.6f\n", r->bits_per_byte, r->bits_per_byte_stderr);
    printf("token_perplexity = %.4f +/- %.5f\n", r->token_perplexity, r->token_perplexity_stderr);
    struct le_store_result res[4] = {
        {.metric = "word_perplexity", .value = r->word_perplexity, .stderr_v = r->word_perplexity_stderr,
         .n = r->n_words},
        {.metric = "byte_perplexity", .value = r->byte_perplexity, .stderr_v = r->byte_perplexity_stderr,
         .n = r->n_bytes},
        {.metric = "bits_per_byte", .value = r->bits_per_byte, .stderr_v = r->bits_per_byte_stderr, .n = r->n_bytes},
        {.metric = "token_perplexity", .value = r->token_perplexity, .stderr_v = r->token_perplexity_stderr,
         .n = r->n_tokens},
    };
    return le_ppl_record(s, o, res, 4);
}

static int le_ppl_run_other(struct le_ppl_state *s, struct le_ppl_opts *o, size_t len) {
    int64_t n_tok = 0;
    int rc = le_ppl_prepare(s, o, len, &n_tok);
    if (rc >= 0)
        return rc;
    int threads = le_pool_nthreads(s->pool);
    if ((rc = le_ppl_begin(s, o, threads)))
        return le_cli_fail_lib(rc);
    if (s->cell.done)
        return le_ppl_stored(s, o);
    if (!o->quiet) {
        if (o->conv == CONV_LMEVAL)
            fprintf(stderr, "llamaeval: lmeval: %lld documents (--docs %s), max_length %ld, batch %ld, %d threads\n",
                    (long long)s->n_docs, le_docs_names[o->docs], o->ctx, o->batch, threads);
        else
            fprintf(stderr, "llamaeval: %s: %lld tokens (%lld documents joined with \"\\n\\n\", --docs %s), "
                    "window %ld, batch %ld, %d threads\n",
                    le_conv_names[o->conv], (long long)n_tok, (long long)s->n_docs, le_docs_names[o->docs], o->ctx,
                    o->batch, threads);
    }
    int quiet = o->quiet;
    struct le_ppl_result r;
    struct le_ppl_lmeval_result lr;
    double t0 = le_cli_now();
    if (o->conv == CONV_GPTQ)
        rc = le_ppl_gptq(s->runner, s->ids, n_tok, (int)o->ctx, le_ppl_print_chunk, &quiet, &r);
    else if (o->conv == CONV_HF_STRIDE)
        rc = le_ppl_hf_stride(s->runner, s->ids, n_tok, (int)o->ctx, (int)o->stride, le_ppl_print_chunk, &quiet, &r);
    else if (!(s->recs = calloc((size_t)s->n_docs, sizeof *s->recs)))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    else
        rc = le_ppl_lmeval(s->runner, (const char *const *)(s->scored ? s->scored : s->docs),
                           (const char *const *)s->docs, s->n_docs, NULL, le_ppl_print_chunk, &quiet, s->recs, &lr);
    double dt = le_cli_now() - t0;
    if (!o->quiet)
        printf("\n");
    if (!rc)
        rc = o->conv == CONV_LMEVAL ? le_ppl_finish_lmeval(s, o, &lr) : le_ppl_finish_windows(s, o, &r);
    if (rc)
        return le_cli_fail_lib(le_ppl_end(s, rc));
    struct le_runner_stats st;
    le_runner_get_stats(s->runner, &st);
    printf("%lld tokens evaluated in %.2f s: %.1f tokens/s\n", (long long)st.tokens_evaluated, dt,
           dt > 0 ? (double)st.tokens_evaluated / dt : 0.0);
    if ((rc = le_ppl_end(s, LE_OK)))
        return le_cli_fail_lib(rc);
    return LE_EXIT_OK;
}

int le_cmd_ppl(int argc, char **argv) {
    struct le_ppl_opts o;
    int rc = le_ppl_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct le_ppl_state s = {0};
    size_t len = 0;
    rc = le_ppl_load(&s, &o, &len);
    if (rc < 0)
        rc = o.conv == CONV_LLAMACPP ? le_ppl_run_llamacpp(&s, &o, len) : le_ppl_run_other(&s, &o, len);
    le_ppl_state_free(&s);
    return rc;
}
