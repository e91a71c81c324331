/*
 * cmd_bench: `llamaeval bench --model M.gguf [--n-prompt 512 | --n-gen 128]
 * [--reps 5] [--threads 1,2]` -- prompt-processing speed as llama-bench's pp
 * test measures it: n tokens evaluated in one batch from an empty cache,
 * logits for the last position only, repeated; the median (and min, max) of
 * the tokens/s over the repetitions, after one warm-up run, per thread count.
 * GFLOPS counts the multiply-adds of the matrix products (2 per weight per
 * token, the output included) and of attention (QK^T and AV over the causal
 * prefix). With --n-gen, token generation as llama-bench's tg test: n tokens
 * evaluated one at a time from an empty cache, logits of every one (the
 * decode path); the last column is then the weight bytes read per token
 * (every matrix, the output included, once) times tokens/s, in GB/s. With
 * --seqs B, B sequences decode together, one forward pass of B rows per step
 * (batched decode across requests): tokens/s counts all of them, GB/s the
 * weight bytes per step times steps/s.
 * Prints one tab-separated line per thread count, for scripts/bench.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_bench */
#include "le_bench.h" /* le_bench_pp */
#include "le_err.h"
#include "le_memplan.h" /* le_memplan_check: the plan before the context */
#include "le_model.h" /* le_model_open, le_ctx_eval_from */
#include "le_pool.h"  /* le_pool_new */
#include "le_types.h" /* le_type_name */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *le_bench_usage =
    "usage: llamaeval bench --model M.gguf [--n-prompt 512 | --n-gen 128 [--seqs 1]] [--reps 5] [--threads 1,2,...]";
static const char *le_bench_help =
    "usage: llamaeval bench --model M.gguf [--n-prompt 512 | --n-gen 128 [--seqs 1]] [--reps 5] [--threads 1,2,...]\n"
    "\n"
    "Prompt-processing speed (llama-bench's pp test): n tokens in one batch from\n"
    "an empty cache, logits of the last position only; one warm-up run, then the\n"
    "median, min and max tokens/s of --reps runs for each thread count.\n"
    "With --n-gen, token-generation speed instead (llama-bench's tg test): n\n"
    "tokens one at a time from an empty cache, the logits of each computed.\n"
    "Output: one line per thread count, tab-separated:\n"
    "  model type params threads n median_tok_s min_tok_s max_tok_s gflops\n"
    "(with --n-gen the last column is weight_GB/s: the weight bytes read per\n"
    "token, every matrix once, times the median tokens/s)\n"
    "\n"
    "Options:\n"
    "  --model M        the GGUF model file\n"
    "  --n-prompt N     tokens per run (default 512)\n"
    "  --n-gen N        time generation of N tokens instead\n"
    "  --seqs B         with --n-gen: B sequences decoded together, one batched\n"
    "                   forward pass per step (tokens/s counts all B x N tokens)\n"
    "  --reps N         timed runs per thread count (default 5)\n"
    "  --threads LIST   comma-separated thread counts (default: all cores)\n"
    "  -h, --help       show this help\n";

static int le_bench_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* FLOPs of one pp run of n tokens (multiply-add = 2). */
static double le_bench_flops(const struct le_model_info *mi, int n) {
    double kv = (double)mi->n_kv_heads * mi->head_dim;
    double per_layer = mi->dim * (double)mi->dim * 2 + mi->dim * kv * 2 + 3.0 * mi->dim * mi->ffn;
    double mat = 2.0 * n * per_layer * mi->n_layers + 2.0 * mi->dim * mi->n_vocab; /* output: last row */
    double pairs = (double)n * (n + 1) / 2; /* causal (query, key) pairs */
    double attn = 2.0 * 2.0 * pairs * mi->n_heads * mi->head_dim * mi->n_layers;
    return mat + attn;
}

int le_bench_pp(struct le_model *m, int nthreads, int n, int reps, double *tps) {
    struct le_pool *pool = NULL;
    struct le_ctx *c = NULL;
    int32_t *toks = malloc(sizeof *toks * (size_t)n);
    int rc = toks ? le_pool_new(&pool, nthreads) : le_err_set(LE_ENOMEM, "out of memory");
    if (!rc)
        rc = le_ctx_new(&c, m, n, n, pool);
    const struct le_model_info *mi = le_model_get_info(m);
    for (int i = 0; !rc && i < n; i++)
        toks[i] = (int32_t)((i * 7919u + 1) % (uint32_t)mi->n_vocab);
    for (int r = -1; !rc && r < reps; r++) {
        double t0 = le_cli_now();
        rc = le_ctx_eval_from(c, toks, n, 0, n - 1);
        double dt = le_cli_now() - t0;
        if (r >= 0)
            tps[r] = n / dt;
    }
    le_ctx_free(c);
    le_pool_free(pool);
    free(toks);
    return rc;
}

int le_bench_tg(struct le_model *m, int nthreads, int n, int reps, double *tps) {
    return le_bench_tg_seqs(m, nthreads, n, 1, reps, tps);
}

int le_bench_tg_seqs(struct le_model *m, int nthreads, int n, int seqs, int reps, double *tps) {
    struct le_pool *pool = NULL;
    struct le_ctx *c[64] = {0};
    const struct le_model_info *mi = le_model_get_info(m);
    if (seqs < 1 || seqs > 64)
        return le_err_set(LE_EINVAL, "%d sequences (1 to 64)", seqs);
    int rc = le_pool_new(&pool, nthreads);
    for (int s = 0; !rc && s < seqs; s++)
        rc = le_ctx_new(&c[s], m, n, seqs, pool);
    for (int r = -1; !rc && r < reps; r++) {
        double t0 = le_cli_now();
        for (int i = 0; !rc && i < n; i++) {
            int32_t t[64];
            for (int s = 0; s < seqs; s++)
                t[s] = (int32_t)(((i + 131u * (unsigned)s) * 7919u + 1) % (uint32_t)mi->n_vocab);
            if (seqs == 1)
                rc = le_ctx_eval(c[0], t, 1, i, 1);
            else if (i == 0) /* every sequence starts from an empty cache */
                for (int s = 0; !rc && s < seqs; s++)
                    rc = le_ctx_eval(c[s], &t[s], 1, 0, 1);
            else
                rc = le_ctx_decode_batch(c, t, seqs);
        }
        double dt = le_cli_now() - t0;
        if (r >= 0)
            tps[r] = (double)n * seqs / dt;
    }
    for (int s = 0; s < seqs; s++)
        le_ctx_free(c[s]);
    le_pool_free(pool);
    return rc;
}

int le_cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"n-prompt", required_argument, 0, 'n'},
        {"reps", required_argument, 0, 'r'},  {"threads", required_argument, 0, 't'},
        {"n-gen", required_argument, 0, 'g'}, {"seqs", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_bench_usage, le_bench_help, 0};
    const char *model = NULL, *threads = NULL;
    long n = 512, reps = 5, n_gen = 0, seqs = 1;
    int have_np = 0;
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case LE_CLI_BAD: return LE_EXIT_USAGE;
        case 'm': model = optarg; break;
        case 't': threads = optarg; break;
        case 'n': if (le_cli_int(&p, "--n-prompt", optarg, 1, 1 << 16, &n)) return LE_EXIT_USAGE; have_np = 1; break;
        case 'g': if (le_cli_int(&p, "--n-gen", optarg, 1, 1 << 16, &n_gen)) return LE_EXIT_USAGE; break;
        case 's': if (le_cli_int(&p, "--seqs", optarg, 1, 64, &seqs)) return LE_EXIT_USAGE; break;
        case 'r': if (le_cli_int(&p, "--reps", optarg, 1, 1000, &reps)) return LE_EXIT_USAGE; break;
        default: return le_cli_usage(le_bench_usage, "unexpected option");
        }
    }
    if (le_cli_optind() < argc)
        return le_cli_usage(le_bench_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (!model)
        return le_cli_usage(le_bench_usage, "--model is required");
    if (have_np && n_gen)
        return le_cli_usage(le_bench_usage, "--n-prompt and --n-gen are separate tests; give one");
    if (n_gen)
        n = n_gen;
    else if (seqs > 1)
        return le_cli_usage(le_bench_usage, "--seqs goes with --n-gen");

    int tlist[64], nt = 0;
    if (!threads) {
        tlist[nt++] = le_ncpu();
    } else {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", threads);
        for (char *s = strtok(buf, ","); s && nt < 64; s = strtok(NULL, ",")) {
            long v;
            if (le_cli_int(&p, "--threads", s, 1, 1024, &v))
                return LE_EXIT_USAGE;
            tlist[nt++] = (int)v;
        }
    }
    struct le_model *m = NULL;
    int rc = le_model_open(&m, model);
    if (rc)
        return le_cli_fail_lib(rc);
    const struct le_model_info *mi = le_model_get_info(m);
    le_cli_check_ctx(NULL, model, n, mi->ctx_train); /* bench has no run to note it in */
    int maxt = 1;
    for (int i = 0; i < nt; i++)
        maxt = tlist[i] > maxt ? tlist[i] : maxt;
    if ((rc = le_memplan_check(m, (int)n, (int)n, maxt, 0))) {
        le_model_free(m);
        return le_cli_fail_lib(rc);
    }
    double *tps = calloc((size_t)reps, sizeof *tps);
    if (!tps) {
        le_model_free(m);
        return le_cli_fail("out of memory");
    }
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    for (int i = 0; i < nt && !rc; i++) {
        rc = n_gen ? le_bench_tg_seqs(m, tlist[i], (int)n, (int)seqs, (int)reps, tps) : le_bench_pp(m, tlist[i], (int)n, (int)reps, tps);
        if (rc)
            break;
        qsort(tps, (size_t)reps, sizeof *tps, le_bench_cmp);
        double med = reps % 2 ? tps[reps / 2] : 0.5 * (tps[reps / 2 - 1] + tps[reps / 2]);
        double gflops = n_gen ? le_model_weight_bytes(m) * med / (double)seqs * 1e-9 : le_bench_flops(mi, (int)n) / ((double)n / med) * 1e-9;
        printf(n_gen ? "%s\t%s\t%lld\t%d\t%ld\t%.1f\t%.1f\t%.1f\t%.3f\n" : "%s\t%s\t%lld\t%d\t%ld\t%.1f\t%.1f\t%.1f\t%.1f\n", base, le_type_name(mi->main_type),
               (long long)mi->n_params, tlist[i], n, med, tps[0], tps[reps - 1], gflops);
        fflush(stdout);
    }
    free(tps);
    le_model_free(m);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}
