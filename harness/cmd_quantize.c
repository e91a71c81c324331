/*
 * cmd_quantize: `llamaeval quantize IN.gguf OUT.gguf --type T [--pure]
 * [--threads N] [--allow-requantize] [--quiet]` -- round-to-nearest
 * quantization of a model file as llama.cpp's llama-quantize does it
 * (engine/quant/le_quant.h: its file types, per-tensor rules, reference
 * quantizers). One line per tensor on stderr as it is done (as
 * llama-quantize prints them), a summary on stdout. The output appears
 * only when complete: a failed or interrupted run leaves no file there.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_quantize */
#include "le_err.h"
#include "le_quant.h" /* le_quantize */
#include "le_types.h" /* le_type_name */

#include <stdio.h>
#include <string.h>

static const char *le_quantize_usage =
    "usage: llamaeval quantize IN.gguf OUT.gguf --type TYPE [--pure] [--threads N] [--allow-requantize] [--quiet]";
static const char *le_quantize_help =
    "usage: llamaeval quantize IN.gguf OUT.gguf --type TYPE [--pure] [--threads N] [--allow-requantize] [--quiet]\n"
    "\n"
    "Quantizes a model file with ggml's reference (round-to-nearest) quantizers,\n"
    "as llama.cpp's llama-quantize does without an importance matrix. The output\n"
    "loads in llama.cpp and in llamaeval.\n"
    "\n"
    "Types (llama.cpp's file types, case-insensitive):\n"
    "  q8_0 q4_0 q4_1 q5_0 q5_1    one type for every matrix, except the output\n"
    "                              (and tied embeddings): Q6_K (Q8_0 stays Q8_0)\n"
    "  q2_k q2_k_s q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k\n"
    "                              K-quant mixes: llama.cpp's per-tensor rules give\n"
    "                              attn_v, ffn_down, attn_output and the output\n"
    "                              more bits in some layers\n"
    "  q3_k q4_k q5_k              aliases of q3_k_m q4_k_m q5_k_m (as llama-quantize)\n"
    "  f16 bf16 f32                conversions\n"
    "Rows a type's block does not divide fall back as in llama.cpp (Q4_K -> Q5_0,\n"
    "Q6_K -> Q8_0, ..., else F16). Norm vectors stay F32. Tensors are written in\n"
    "llama-quantize's order (non-layer tensors, then layer by layer by name).\n"
    "\n"
    "Options:\n"
    "  --type T            the file type (required)\n"
    "  --pure              the type's own tensor type for every matrix (no mix rules,\n"
    "                      output and embeddings included)\n"
    "  --threads N         threads (default: all cores; the output does not depend on it)\n"
    "  --allow-requantize  accept an already quantized input (dequantize, requantize)\n"
    "  --quiet             no per-tensor lines\n"
    "  -h, --help          show this help\n";

struct le_quantize_ui {
    int quiet;
};

static void le_quantize_progress(void *ud, const struct le_quant_event *ev) {
    const struct le_quantize_ui *ui = ud;
    if (ui->quiet)
        return;
    char shape[96];
    int n = snprintf(shape, sizeof shape, "%lld", (long long)ev->ne[0]);
    for (int d = 1; d < ev->n_dims && n > 0 && (size_t)n < sizeof shape; d++)
        n += snprintf(shape + n, sizeof shape - (size_t)n, ", %lld", (long long)ev->ne[d]);
    if (ev->from_type == ev->to_type)
        fprintf(stderr, "[%4lld/%4lld] %-36s - [%s], type = %6s, size = %8.3f MiB\n", (long long)ev->index,
                (long long)ev->count, ev->name, shape, le_type_name(ev->from_type), ev->bytes_in / 1048576.0);
    else
        fprintf(stderr, "[%4lld/%4lld] %-36s - [%s], type = %6s, converting to %s .. size = %8.3f MiB -> %8.3f MiB\n",
                (long long)ev->index, (long long)ev->count, ev->name, shape, le_type_name(ev->from_type),
                le_type_name(ev->to_type), ev->bytes_in / 1048576.0, ev->bytes_out / 1048576.0);
}

int le_cmd_quantize(int argc, char **argv) {
    static const struct option opts[] = {
        {"type", required_argument, 0, 't'}, {"pure", no_argument, 0, 'p'},
        {"threads", required_argument, 0, 'j'}, {"allow-requantize", no_argument, 0, 'r'},
        {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_quantize_usage, le_quantize_help, 0};
    struct le_quant_params qp = {.ftype = -1};
    struct le_quantize_ui ui = {0};
    const char *type = NULL;
    long threads = 0;
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case LE_CLI_BAD: return LE_EXIT_USAGE;
        case 't': type = optarg; break;
        case 'p': qp.pure = 1; break;
        case 'r': qp.allow_requantize = 1; break;
        case 'q': ui.quiet = 1; break;
        case 'j': if (le_cli_int(&p, "--threads", optarg, 1, 1024, &threads)) return LE_EXIT_USAGE; break;
        default: return le_cli_usage(le_quantize_usage, "unexpected option");
        }
    }
    int first = le_cli_optind();
    if (argc - first < 2)
        return le_cli_usage(le_quantize_usage, "IN.gguf and OUT.gguf are required");
    if (argc - first > 2)
        return le_cli_usage(le_quantize_usage, "unexpected argument '%s'", argv[first + 2]);
    if (!type)
        return le_cli_usage(le_quantize_usage, "--type is required");
    qp.ftype = le_quant_ftype_from_name(type);
    if (qp.ftype < 0)
        return le_cli_usage(le_quantize_usage, "unknown --type '%s' (one of: %s)", type, le_quant_ftype_names());
    qp.n_threads = (int)threads;
    qp.progress = le_quantize_progress;
    qp.progress_ud = &ui;
    struct le_quant_stats st;
    int rc = le_quantize(argv[first], argv[first + 1], &qp, &st);
    if (rc == LE_EUNSUP && !qp.allow_requantize && strstr(le_err_msg(), "requantizing"))
        return le_cli_fail("%s (--allow-requantize)", le_err_msg());
    if (rc)
        return le_cli_fail_lib(rc);
    printf("%s: %s%s, %lld tensors (%lld converted, %lld fell back to another type), %.2f MiB -> %.2f MiB\n",
           argv[first + 1], le_quant_ftype_name(qp.ftype), qp.pure ? " (pure)" : "", (long long)st.n_tensors,
           (long long)st.n_quantized, (long long)st.n_fallback, st.bytes_in / 1048576.0, st.bytes_out / 1048576.0);
    return LE_EXIT_OK;
}
