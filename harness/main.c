/*
 * llamaeval: git-style subcommands. This file only dispatches; each command
 * lives in harness/cmd_<name>.c. Exit codes: 0 success, 1 failure, 2 usage.
 */
#include "cli.h"
#include "le_version.h" /* LE_VERSION, generated at build time */
#include "commands.h"

#include <signal.h> /* SIGXFSZ: a full disk or file-size limit is an error, not a death */
#include <stdio.h>
#include <string.h>

static const struct le_cmd le_commands[] = {
    /* in the order README.md presents them: models, evaluating, quantizing,
     * the store and its analyses, training and scaling sweeps, speed */
    {"info", "show a model file's architecture, parameters, types and tokenizer", le_cmd_info},
    {"tokenize", "tokenize text with a model's tokenizer", le_cmd_tokenize},
    {"fetch", "download benchmark datasets into the cache (resume, sha256, offline)", le_cmd_fetch},
    {"eval", "evaluate models on tasks as lm-evaluation-harness does, into the store", le_cmd_eval},
    {"generate", "continue a prompt with a model (greedy, or sampled with a seed)", le_cmd_generate},
    {"ppl", "perplexity of a text file under a named convention (llamacpp, gptq, hf-stride, lmeval)", le_cmd_ppl},
    {"quantize", "quantize a model file as llama-quantize does (Q4_0 ... Q6_K, K-quant mixes) or with GPTQ", le_cmd_quantize},
    {"compare", "quantized models against their base: PPL, KL divergence, top-1, McNemar on tasks", le_cmd_compare},
    {"convert", "write HF / Meta .pth / llama2.c / GGML models (+ LoRA) as GGUF", le_cmd_convert},
    {"db", "create, inspect and export the SQLite results store", le_cmd_db},
    {"fit", "fit Chinchilla's three scaling analyses to a sweep or a CSV, with bootstrap intervals", le_cmd_fit},
    {"report", "tables in the papers' layouts and gnuplot figures from a results database", le_cmd_report},
    {"tokenizer", "train a BPE tokenizer (SentencePiece style) on Brown or text files", le_cmd_tokenizer},
    {"train", "train a tiny LLaMA from scratch (float32, all cores) into a GGUF checkpoint", le_cmd_train},
    {"sweep", "train and evaluate a scaling-sweep plan (sizes x token budgets, IsoFLOP), resumably", le_cmd_sweep},
    {"bench", "prompt-processing speed of a model file (llama-bench's pp test)", le_cmd_bench},
};
static const int le_n_commands = (int)(sizeof le_commands / sizeof le_commands[0]);

static const char *le_main_usage = "usage: llamaeval [--version] [--help] <command> [<args>]";

static void le_main_help(void) {
    printf("%s\n\nA research evaluation and benchmarking harness for LLaMA-family models.\n\nCommands:\n",
           le_main_usage);
    for (int i = 0; i < le_n_commands; i++)
        printf("  %-12s %s\n", le_commands[i].name, le_commands[i].summary);
    printf("\nRun 'llamaeval <command> --help' for a command's options.\n"
           "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv) {
    /* Past a file-size limit write() then fails with EFBIG, which every
     * writer reports as a one-line error; the default action would kill us. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2)
        return le_cli_usage(le_main_usage, "no command given (try 'llamaeval --help')");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        le_main_help();
        return LE_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("llamaeval %s\n", LE_VERSION);
        return LE_EXIT_OK;
    }
    for (int i = 0; i < le_n_commands; i++)
        if (!strcmp(cmd, le_commands[i].name))
            return le_commands[i].run(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return le_cli_usage(le_main_usage, "unknown option '%s'", cmd);
    return le_cli_usage(le_main_usage, "unknown command '%s' (try 'llamaeval --help')", cmd);
}
