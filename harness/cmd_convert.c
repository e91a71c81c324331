/*
 * cmd_convert: `llamaeval convert IN OUT.gguf [--type f32|f16|bf16|q8_0]
 * [--lora ADAPTER[:SCALE]]... [--tokenizer FILE]` -- writes any model the
 * engine reads (GGUF, Hugging Face directory, Meta consolidated.*.pth,
 * llama2.c, GGML/GGJT; detected by content, engine/format/le_format.h) as a
 * GGUF that llama.cpp loads, with llama.cpp's tokenizer metadata, after
 * merging LoRA adapters if given. Without --type every tensor keeps the type
 * it was read in (an HF F16 checkpoint gives an F16 GGUF). The output
 * appears only when complete (the GGUF writer renames a finished file).
 */
#include "cli.h"       /* le_cli_* */
#include "commands.h"  /* le_cmd_convert */
#include "le_err.h"
#include "le_format.h" /* le_format_open, le_format_write_gguf, le_lora_spec_parse */
#include "le_gguf.h"
#include "le_types.h"  /* le_type_from_name */

#include <stdio.h>
#include <string.h>

#define LE_CONVERT_MAX_LORA 16

static const char *le_convert_usage =
    "usage: llamaeval convert IN OUT.gguf [--type f32|f16|bf16|q8_0] [--lora ADAPTER[:SCALE]]... [--tokenizer FILE]";
static const char *le_convert_help =
    "usage: llamaeval convert IN OUT.gguf [--type f32|f16|bf16|q8_0] [--lora ADAPTER[:SCALE]]... [--tokenizer FILE]\n"
    "\n"
    "Writes IN as a GGUF file that llama.cpp and llamaeval load. IN is recognised by\n"
    "its content:\n"
    "  a GGUF file\n"
    "  a Hugging Face directory (config.json, model.safetensors or sharded\n"
    "    model-*.safetensors + index; tokenizer.model or tokenizer.json); Q/K rows\n"
    "    are un-permuted as llama.cpp's convert_hf_to_gguf.py does\n"
    "  a Meta checkpoint directory (params.json, consolidated.NN.pth, tokenizer.model)\n"
    "  a llama2.c checkpoint (v0, v1, v2) with tokenizer.bin beside it\n"
    "  a GGML / GGMF / GGJT v1-v3 file (llama.cpp before GGUF)\n"
    "\n"
    "Options:\n"
    "  --type T            matrices in T: f32, f16, bf16 or q8_0 (default: as read);\n"
    "                      norm vectors stay f32\n"
    "  --lora A[:S]        merge LoRA adapter A (PEFT directory / adapter_model.safetensors\n"
    "                      / .bin, or a llama.cpp GGUF LoRA) with scale S (default 1)\n"
    "                      first: W + S * alpha / r * B A; repeatable, applied in order\n"
    "  --tokenizer FILE    llama2.c: the tokenizer.bin (default: beside IN)\n"
    "  -h, --help          show this help\n";

int le_cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {
        {"type", required_argument, 0, 't'}, {"lora", required_argument, 0, 'l'},
        {"tokenizer", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_convert_usage, le_convert_help, 0};
    struct le_lora_spec lora[LE_CONVERT_MAX_LORA];
    struct le_format_opts fo = {.lora = lora};
    int type = -1, c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case LE_CLI_BAD: return LE_EXIT_USAGE;
        case 't':
            type = le_type_from_name(optarg);
            if (type != 0 && type != 1 && type != 8 && type != 30)
                return le_cli_usage(le_convert_usage, "--type '%s' is not one of f32, f16, bf16, q8_0", optarg);
            break;
        case 'l':
            if (fo.n_lora == LE_CONVERT_MAX_LORA)
                return le_cli_usage(le_convert_usage, "at most %d --lora adapters", LE_CONVERT_MAX_LORA);
            if (le_lora_spec_parse(optarg, &lora[fo.n_lora]))
                return le_cli_usage(le_convert_usage, "--lora: %s", le_err_msg());
            fo.n_lora++;
            break;
        case 'k': fo.tokenizer = optarg; break;
        default: return le_cli_usage(le_convert_usage, "unexpected option");
        }
    }
    int first = le_cli_optind();
    if (argc - first < 2)
        return le_cli_usage(le_convert_usage, "IN and OUT.gguf are required");
    if (argc - first > 2)
        return le_cli_usage(le_convert_usage, "unexpected argument '%s'", argv[first + 2]);
    const char *in = argv[first], *out = argv[first + 1];
    int kind = 0;
    struct le_gguf *g = NULL;
    int rc = le_format_detect(in, &kind);
    if (!rc)
        rc = le_format_open(&g, in, &fo);
    if (!rc)
        rc = le_format_write_gguf(g, out, type);
    if (rc) {
        le_gguf_close(g);
        return le_cli_fail_lib(rc);
    }
    printf("%s: %s -> GGUF, %lld tensors, %lld keys%s, %d LoRA adapter(s) merged\n", out, le_format_name(kind),
           (long long)le_gguf_n_tensors(g), (long long)le_gguf_n_kv(g),
           le_gguf_find_key(g, "tokenizer.ggml.model") >= 0 ? " (tokenizer included)" : " (no tokenizer)", fo.n_lora);
    le_gguf_close(g);
    return LE_EXIT_OK;
}
