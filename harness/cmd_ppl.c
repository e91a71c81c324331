/*
 * cmd_ppl: `llamaeval ppl --model M.gguf --file F.txt [--ctx 512] [--batch N]
 * [--threads N] [--db FILE] [--quiet]` -- perplexity in llama.cpp's
 * convention (tasks/le_ppl.h): one trailing newline dropped, the text
 * tokenized once with BOS, chunks of ctx tokens with BOS first, the second
 * half of each scored. Prints the running values like llama-perplexity
 * ("[1]66.8466,[2]73.0193,..."), then "Final estimate: PPL = x +/- y" and the
 * speed. The run, the model and the result (metric "ppl", its standard
 * error and the number of scored tokens) are recorded in the store; the
 * result's cell is keyed by the model's sha256, the convention, ctx and the
 * text's sha256, so a rerun with another batch size or thread count (which
 * cannot change the numbers) is recognised as the same cell.
 */
#include "cli.h"         /* le_cli_* */
#include "commands.h"    /* le_cmd_ppl */
#include "le_err.h"
#include "le_model.h"    /* le_model_open, le_ctx_* */
#include "le_pool.h"     /* le_pool_new */
#include "le_ppl.h"      /* le_ppl_llamacpp */
#include "le_progress.h" /* hashing progress */
#include "le_sha256.h"   /* le_sha256_file, le_sha256 */
#include "le_store.h"    /* recording the run and result */
#include "le_tok.h"      /* le_tok_encode */
#include "le_types.h"    /* le_type_name */

#include <cjson/cJSON.h> /* the run's config JSON */
#include <errno.h>
#include <math.h> /* NAN */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *le_ppl_usage =
    "usage: llamaeval ppl --model M.gguf --file F.txt [--ctx 512] [--batch N] [--threads N] [--kv-f16] [--db FILE] [--quiet]";
static const char *le_ppl_help =
    "usage: llamaeval ppl --model M.gguf --file F.txt [--ctx 512] [--batch N] [--threads N] [--kv-f16]\n"
    "                     [--db FILE] [--quiet]\n"
    "\n"
    "Perplexity of a text file in llama.cpp's convention (llama-perplexity): one\n"
    "trailing newline is dropped, the text is tokenized once with BOS and cut into\n"
    "floor(n / ctx) chunks; each chunk starts with BOS and is evaluated from an\n"
    "empty cache; the second half of each chunk is scored. Prints the running\n"
    "perplexity after each chunk, the final PPL with its standard error, and the\n"
    "speed; records the run and the result in the results store.\n"
    "\n"
    "Options:\n"
    "  --model M      the GGUF model file\n"
    "  --file F       the text file\n"
    "  --ctx N        tokens per chunk (default 512)\n"
    "  --batch N      tokens per forward call (default: ctx); does not change results\n"
    "  --threads N    worker threads (default: all cores); does not change results\n"
    "  --kv-f16       round the KV cache to F16 like llama.cpp's default context\n"
    "                 (default: F32, like llama.cpp with -ctk f32 -ctv f32 -fa off)\n"
    "  --db FILE      results store (default results.sqlite)\n"
    "  --quiet        no running values or progress, only the final lines\n"
    "  -h, --help     show this help\n";

struct le_ppl_opts {
    const char *model, *file, *db;
    long ctx, batch, threads;
    int quiet, kv_f16;
};

static int le_ppl_parse(int argc, char **argv, struct le_ppl_opts *o) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"file", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, 'c'},   {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"db", required_argument, 0, 'd'},
        {"quiet", no_argument, 0, 'q'},       {"kv-f16", no_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_ppl_usage, le_ppl_help, 0};
    *o = (struct le_ppl_opts){.db = "results.sqlite", .ctx = 512, .batch = 0, .threads = 0};
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case 'm': o->model = optarg; break;
        case 'f': o->file = optarg; break;
        case 'd': o->db = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'k': o->kv_f16 = 1; break;
        case 'c':
            if (le_cli_int(&p, "--ctx", optarg, 4, 1 << 20, &o->ctx))
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
    if (!o->model || !o->file)
        return le_cli_usage(le_ppl_usage, "--model and --file are required");
    if (o->batch == 0 || o->batch > o->ctx)
        o->batch = o->ctx;
    return -1;
}

/* The file's bytes with one trailing newline dropped (llama-perplexity). */
static char *le_ppl_read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf)
        return NULL;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n] = 0;
    *len = n;
    return buf;
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

static double le_ppl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything the run needs, freed in one place. */
struct le_ppl_state {
    struct le_model *m;
    struct le_pool *pool;
    struct le_ctx *ctx;
    struct le_store *store;
    char *text;
    int32_t *ids;
    char *config;
    int64_t run_id, model_id;
};

static void le_ppl_state_free(struct le_ppl_state *s) {
    le_ctx_free(s->ctx);
    le_pool_free(s->pool);
    le_model_free(s->m);
    le_store_close(s->store);
    free(s->text);
    free(s->ids);
    free(s->config);
}

/* Opens the store and records the model; builds the config JSON. */
static int le_ppl_begin(struct le_ppl_state *s, const struct le_ppl_opts *o, const char *model_sha,
                        const char *text_sha, int threads) {
    int rc = le_store_open(&s->store, o->db);
    if (rc)
        return rc;
    const struct le_model_info *in = le_model_get_info(s->m);
    struct le_store_model sm = {
        .path = o->model, .sha256 = model_sha, .arch = in->arch, .type = le_type_name(in->main_type),
        .name = in->name, .n_params = in->n_params, .n_params_nonembed = in->n_params_nonembed,
        .file_size = (int64_t)in->file_size, .tokens_trained = -1,
    };
    if ((rc = le_store_put_model(s->store, &sm, &s->model_id)))
        return rc;
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return le_err_set(LE_ENOMEM, "out of memory");
    cJSON_AddStringToObject(j, "task", "ppl");
    cJSON_AddStringToObject(j, "convention", "llamacpp");
    cJSON_AddNumberToObject(j, "ctx", (double)o->ctx);
    cJSON_AddStringToObject(j, "kv", o->kv_f16 ? "f16" : "f32");
    cJSON_AddNumberToObject(j, "batch", (double)o->batch);
    cJSON_AddStringToObject(j, "text_sha256", text_sha);
    cJSON_AddStringToObject(j, "text", o->file);
    s->config = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s->config)
        return le_err_set(LE_ENOMEM, "out of memory");
    return le_store_begin_run(s->store, "ppl", s->config, 0, threads, &s->run_id);
}

/* The cell key ignores the file path (only its content counts). */
static int le_ppl_record(struct le_ppl_state *s, const char *model_sha, const char *text_sha, int ctx, int kv_f16,
                         const struct le_ppl_result *r, int quiet) {
    char cell_cfg[256], key[65];
    snprintf(cell_cfg, sizeof cell_cfg,
             "{\"convention\":\"llamacpp\",\"ctx\":%d,\"kv\":\"%s\",\"text_sha256\":\"%s\"}", ctx,
             kv_f16 ? "f16" : "f32", text_sha);
    le_store_cell_key(key, model_sha, "ppl", cell_cfg);
    int done = 0, rc = le_store_cell_done(s->store, key, &done);
    if (rc)
        return rc;
    if (done) {
        if (!quiet)
            fprintf(stderr, "llamaeval: this result is already in the store; the run is recorded, the result not again\n");
        return LE_OK;
    }
    struct le_store_result res[2] = {
        {.metric = "ppl", .value = r->ppl, .stderr_v = r->ppl_stderr, .n = r->n_scored},
        {.metric = "mean_nll", .value = r->mean_nll, .stderr_v = NAN, .n = r->n_scored},
    };
    return le_store_put_cell(s->store, key, s->run_id, s->model_id, "ppl", cell_cfg, res, 2);
}

static int le_ppl_run(struct le_ppl_state *s, const struct le_ppl_opts *o) {
    int rc = le_model_open(&s->m, o->model);
    if (rc)
        return le_cli_fail_lib(rc);
    const struct le_tok *t = le_model_tok(s->m);
    if (!t)
        return le_cli_fail("%s has no tokenizer", o->model);
    size_t len = 0;
    if (!(s->text = le_ppl_read_text(o->file, &len)))
        return le_cli_fail("cannot read %s: %s", o->file, strerror(errno));
    char model_sha[65], text_sha[65];
    uint8_t dg[32];
    le_sha256(s->text, len, dg);
    le_sha256_hex(dg, text_sha);
    struct le_progress *prog = NULL;
    if (!o->quiet && le_model_get_info(s->m)->file_size > ((uint64_t)64 << 20))
        le_progress_new(&prog, "hashing model", le_model_get_info(s->m)->file_size, 0);
    rc = le_sha256_file_progress(o->model, model_sha, prog ? le_progress_callback : NULL, prog);
    le_progress_finish(prog);
    if (rc)
        return le_cli_fail_lib(rc);
    int add_bos = le_tok_add_bos(t) && le_tok_bos(t) >= 0;
    int64_t n_tok = 0;
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
    if ((rc = le_ppl_begin(s, o, model_sha, text_sha, threads)))
        return le_cli_fail_lib(rc);
    if (!o->quiet)
        fprintf(stderr, "llamaeval: %lld tokens, %lld chunks of %ld, batch %ld, %d threads\n", (long long)n_tok,
                (long long)(n_tok / o->ctx), o->ctx, o->batch, threads);
    struct le_ppl_result r;
    double t0 = le_ppl_now();
    int quiet = o->quiet;
    rc = le_ppl_llamacpp(s->ctx, s->ids, n_tok, (int)o->ctx, add_bos ? le_tok_bos(t) : -1, le_ppl_print_chunk,
                         &quiet, &r);
    double dt = le_ppl_now() - t0;
    if (!o->quiet)
        printf("\n");
    if (rc) {
        le_store_end_run(s->store, s->run_id, "failed");
        return le_cli_fail_lib(rc);
    }
    printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
    int64_t evaluated = (int64_t)r.n_chunks * o->ctx;
    printf("%lld tokens evaluated (%lld scored) in %.2f s: %.1f tokens/s\n", (long long)evaluated,
           (long long)r.n_scored, dt, dt > 0 ? (double)evaluated / dt : 0.0);
    if ((rc = le_ppl_record(s, model_sha, text_sha, (int)o->ctx, o->kv_f16, &r, o->quiet))) {
        le_store_end_run(s->store, s->run_id, "failed");
        return le_cli_fail_lib(rc);
    }
    if ((rc = le_store_end_run(s->store, s->run_id, "ok")))
        return le_cli_fail_lib(rc);
    return LE_EXIT_OK;
}

int le_cmd_ppl(int argc, char **argv) {
    struct le_ppl_opts o;
    int rc = le_ppl_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct le_ppl_state s = {0};
    rc = le_ppl_run(&s, &o);
    le_ppl_state_free(&s);
    return rc;
}
