/*
 * cmd_generate: `llamaeval generate --model M --prompt TEXT [--max-tokens N]
 * [--temp T --top-k K --top-p P --seed S]` -- a continuation of a prompt, to
 * sanity-check a model. Greedy by default (the decoding lm-eval's
 * generate_until tasks use); --temp > 0 samples (top-k, then top-p, from a
 * seeded stream: the same seed gives the same text for any --threads).
 * Prints only the continuation on stdout; with --stats, tokens and speed on
 * stderr.
 */
#include "cli.h"       /* le_cli_* */
#include "commands.h"  /* le_cmd_generate */
#include "le_err.h"
#include "le_memplan.h" /* le_memplan_check: the plan before the runner */
#include "le_model.h"  /* le_model_open */
#include "le_pool.h"   /* le_pool_new */
#include "le_tasks.h"  /* le_runner, le_runner_generate */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *le_generate_usage =
    "usage: llamaeval generate --model M.gguf --prompt TEXT [--max-tokens N] [--temp T] [--top-k K]\n"
    "                          [--top-p P] [--seed S] [--until S]... [--threads N] [--ctx N] [--stats]";
static const char *le_generate_help =
    "usage: llamaeval generate --model M.gguf --prompt TEXT [--max-tokens N] [--temp T] [--top-k K]\n"
    "                          [--top-p P] [--seed S] [--until S]... [--threads N] [--ctx N] [--stats]\n"
    "\n"
    "Continues TEXT with the model and prints only the continuation. Greedy by\n"
    "default (argmax at every step, as lm-eval's generate_until tasks decode);\n"
    "generation stops at the tokenizer's EOS, after --max-tokens tokens, or at a\n"
    "stop string (the text is cut before it).\n"
    "\n"
    "Options:\n"
    "  --model M        GGUF model file\n"
    "  --prompt TEXT    the context (BOS first when the tokenizer adds it)\n"
    "  --max-tokens N   most tokens to generate (default 128)\n"
    "  --temp T         sample at temperature T (default 0 = greedy)\n"
    "  --top-k K        sampling: only the K most likely tokens (default 0 = all)\n"
    "  --top-p P        sampling: the smallest set with probability >= P (default 1)\n"
    "  --seed S         sampling: the random stream's seed (default 1234)\n"
    "  --until S        stop string (repeatable, up to 8)\n"
    "  --threads N      worker threads (default: all cores); never changes the text\n"
    "  --ctx N          context length (default: the model's, at most 4096)\n"
    "  --stats          tokens generated and tokens/s on stderr\n"
    "  -h, --help       show this help\n";

int le_cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'},
        {"max-tokens", required_argument, 0, 'n'}, {"temp", required_argument, 0, 'T'},
        {"top-k", required_argument, 0, 'k'}, {"top-p", required_argument, 0, 'P'},
        {"seed", required_argument, 0, 's'}, {"until", required_argument, 0, 'u'},
        {"threads", required_argument, 0, 't'}, {"ctx", required_argument, 0, 'c'},
        {"stats", no_argument, 0, 'S'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_generate_usage, le_generate_help, 0};
    const char *model = NULL, *prompt = NULL, *until[8];
    long max_tokens = 128, top_k = 0, threads = 0, ctx = 0, seed = 1234;
    double temp = 0, top_p = 1;
    int n_until = 0, stats = 0, c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case 'm': model = optarg; break;
        case 'p': prompt = optarg; break;
        case 'S': stats = 1; break;
        case 'u':
            if (n_until == 8)
                return le_cli_usage(le_generate_usage, "at most 8 --until strings");
            until[n_until++] = optarg;
            break;
        case 'n': if (le_cli_int(&p, "--max-tokens", optarg, 1, 1 << 20, &max_tokens)) return LE_EXIT_USAGE; break;
        case 'k': if (le_cli_int(&p, "--top-k", optarg, 0, 1 << 30, &top_k)) return LE_EXIT_USAGE; break;
        case 't': if (le_cli_int(&p, "--threads", optarg, 1, 1024, &threads)) return LE_EXIT_USAGE; break;
        case 'c': if (le_cli_int(&p, "--ctx", optarg, 8, 1 << 20, &ctx)) return LE_EXIT_USAGE; break;
        case 's': if (le_cli_int(&p, "--seed", optarg, 0, 0x7fffffffL, &seed)) return LE_EXIT_USAGE; break;
        case 'T':
            if (le_cli_double(&p, "--temp", optarg, &temp))
                return LE_EXIT_USAGE;
            if (!(temp >= 0 && temp < 1e6))
                return le_cli_usage(le_generate_usage, "--temp must be >= 0, got '%s'", optarg);
            break;
        case 'P':
            if (le_cli_double(&p, "--top-p", optarg, &top_p))
                return LE_EXIT_USAGE;
            if (!(top_p > 0 && top_p <= 1))
                return le_cli_usage(le_generate_usage, "--top-p must be in (0, 1], got '%s'", optarg);
            break;
        default: return LE_EXIT_USAGE;
        }
    }
    if (le_cli_optind() < argc)
        return le_cli_usage(le_generate_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (!model || !prompt)
        return le_cli_usage(le_generate_usage, "--model and --prompt are required");
    struct le_model *m = NULL;
    struct le_pool *pool = NULL;
    struct le_runner *R = NULL;
    struct le_gen_result g = {0};
    int rc = le_model_open(&m, model);
    if (!rc && !le_model_tok(m))
        rc = le_err_set(LE_EUNSUP, "%s has no tokenizer", model);
    if (!rc)
        rc = le_pool_new(&pool, (int)threads);
    struct le_runner_opts ro = {(int)ctx, 0, -1};
    int rn_ctx = 0, rn_batch = 0;
    if (!rc) {
        le_runner_sizes(m, &ro, &rn_ctx, &rn_batch);
        rc = le_memplan_check(m, rn_ctx, rn_batch, le_pool_nthreads(pool), 0);
    }
    if (!rc)
        rc = le_runner_new(&R, m, pool, &ro);
    if (!rc && max_tokens >= le_runner_n_ctx(R))
        rc = le_err_set(LE_EINVAL, "--max-tokens %ld must be less than the context length %d", max_tokens,
                        le_runner_n_ctx(R));
    struct le_gen_opts go = {.max_gen_toks = (int)max_tokens, .until = until, .n_until = n_until, .temp = temp,
                             .top_k = (int)top_k, .top_p = top_p, .seed = (uint64_t)seed};
    double t0 = le_cli_now();
    if (!rc)
        rc = le_runner_generate(R, prompt, &go, &g);
    double dt = le_cli_now() - t0;
    if (!rc) {
        fputs(g.text, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        if (stats)
            fprintf(stderr, "llamaeval: %lld context tokens, %lld generated (stop: %s), %.2f s, %.1f tokens/s\n",
                    (long long)g.n_ctx_toks, (long long)g.n_ids,
                    g.stop == LE_GEN_STOP_EOS     ? "eos"
                    : g.stop == LE_GEN_STOP_UNTIL ? "until"
                    : g.stop == LE_GEN_STOP_CTX   ? "context full"
                                                  : "max tokens",
                    dt, dt > 0 ? (double)g.n_ids / dt : 0.0);
    }
    le_gen_result_clear(&g);
    le_runner_free(R);
    le_pool_free(pool);
    le_model_free(m);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}
