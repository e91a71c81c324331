/*
 * cmd_quantize: `llamaeval quantize IN.gguf OUT.gguf --type T [--pure]
 * [--threads N] [--allow-requantize] [--quiet]` -- round-to-nearest
 * quantization of a model file as llama.cpp's llama-quantize does it
 * (engine/quant/le_quant.h: its file types, per-tensor rules, reference
 * quantizers); or `--method gptq --bits B ...` -- GPTQ (engine/quant/
 * le_gptq.h) with calibration windows drawn (seeded) from Brown's training
 * split or a text file, tokenized with the model's own tokenizer. One line
 * per tensor (GPTQ: per matrix, with its output error against
 * round-to-nearest's) on stderr as it is done, a summary on stdout. The
 * output appears only when complete: a failed or interrupted run leaves no
 * file there.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_quantize */
#include "le_corpus.h" /* calibration text */
#include "le_err.h"
#include "le_fs.h"     /* le_read_file */
#include "le_gptq.h"   /* le_gptq_quantize */
#include "le_model.h"  /* the tokenizer */
#include "le_tok.h"
#include "le_quant.h" /* le_quantize */
#include "le_types.h" /* le_type_name */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *le_quantize_usage =
    "usage: llamaeval quantize IN.gguf OUT.gguf (--type TYPE [--pure] | --method gptq --bits 2|3|4 [--group-size G]\n"
    "       [--sym] [--act-order] [--calib brown|FILE] [--calib-windows N] [--calib-ctx N] [--seed S])\n"
    "       [--threads N] [--allow-requantize] [--quiet]";
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
    "GPTQ (--method gptq; Frantar et al. 2022, as GPTQ-for-LLaMa): every layer's\n"
    "attn_q/k/v/output and ffn_gate/up/down, layer after layer, from Hessians of\n"
    "their inputs on calibration windows run through the already quantized layers\n"
    "(true-sequential: q/k/v, then output, then gate/up, then down); dampening\n"
    "1% of the mean diagonal, lazy blocks of 128. Stored in ggml types, whose\n"
    "grid GPTQ uses exactly:\n"
    "  --bits 4          Q4_1 (asymmetric, groups of 32); with --sym Q4_0\n"
    "  --bits 3          Q3_K (groups of 16 in super-blocks of 256)\n"
    "  --bits 2          Q2_K (groups of 16 in super-blocks of 256)\n"
    "The group size is the type's (--group-size may only repeat it). K-quants need\n"
    "rows that 256 divides; matrices whose rows the type does not fit, and the\n"
    "other tensors (embeddings, output, norms), follow the round-to-nearest rules\n"
    "of the preset q4_1, q4_0, q3_k_s resp. q2_k_s (with --type, these presets are\n"
    "round-to-nearest's counterparts: the same type in every matrix of models with\n"
    "fewer than 8 layers and no grouped KV heads).\n"
    "\n"
    "Options:\n"
    "  --type T            the file type (round-to-nearest)\n"
    "  --method M          rtn (default, needs --type) or gptq (needs --bits)\n"
    "  --bits B            GPTQ: 2, 3 or 4\n"
    "  --group-size G      GPTQ: 32 (4 bits) or 16 (2, 3 bits); the default\n"
    "  --sym               GPTQ 4 bits: symmetric (Q4_0)\n"
    "  --act-order         GPTQ: columns by descending Hessian diagonal (static groups)\n"
    "  --no-true-sequential  GPTQ: all of a layer's Hessians from its original weights\n"
    "  --damp F            GPTQ: dampening, fraction of the mean diagonal (0.01)\n"
    "  --calib C           GPTQ calibration text: brown (its training split, default) or a file\n"
    "  --calib-windows N   GPTQ: windows drawn (128)\n"
    "  --calib-ctx N       GPTQ: tokens per window (default: the model's context, at most 2048)\n"
    "  --seed S            GPTQ: the windows' random starts (0)\n"
    "  --pure              the type's own tensor type for every matrix (no mix rules,\n"
    "                      output and embeddings included)\n"
    "  --threads N         threads (default: all cores; the output does not depend on it)\n"
    "  --allow-requantize  accept an already quantized input (dequantize, requantize)\n"
    "  --quiet             no per-tensor lines\n"
    "  -h, --help          show this help\n";

struct le_quantize_ui {
    int quiet;
};

static void le_gptq_progress(void *ud, const struct le_gptq_event *ev) {
    const struct le_quantize_ui *ui = ud;
    if (!ui->quiet)
        fprintf(stderr,
                "[layer %2d/%2d] %-28s [%lld, %lld] -> %s  gptq loss %.4g, rel. output error %.3e (round-to-nearest "
                "%.3e)\n",
                ev->layer + 1, ev->n_layers, ev->name, (long long)ev->cols, (long long)ev->rows, le_type_name(ev->type),
                ev->loss, ev->err, ev->err_rtn);
}

struct le_gptq_cli {
    const char *calib;
    long windows, ctx;
    uint64_t seed;
};

/* Calibration windows from Brown's training split or a text file, tokenized
 * with the model's tokenizer; *ctx 0 becomes the model's context (<= 2048). */
static int le_gptq_calib(const char *model, const struct le_gptq_cli *c, long *ctx, int32_t **win) {
    struct le_model *m = NULL;
    struct le_corpus *corpus = NULL;
    int32_t *ids = NULL;
    int64_t n = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = le_model_open(&m, model);
    const struct le_tok *t = rc ? NULL : le_model_tok(m);
    if (!rc && !t)
        rc = le_err_set(LE_EINVAL, "%s has no tokenizer for the calibration text", model);
    if (!rc && *ctx == 0) {
        int64_t mc = le_model_get_info(m)->ctx_train;
        *ctx = mc > 0 && mc < 2048 ? (long)mc : 2048;
    }
    if (!rc && !strcmp(c->calib, "brown")) {
        rc = le_corpus_open(&corpus, NULL, NULL);
        if (!rc)
            rc = le_corpus_tokenize(corpus, LE_CORPUS_TRAIN, t, &ids, &n);
    } else if (!rc) {
        rc = le_read_file(c->calib, &text, &len);
        int64_t cap = (int64_t)len + 16;
        for (int tries = 0; !rc && tries < 2; tries++) { /* n > cap: the count it needs */
            free(ids);
            if (!(ids = malloc(sizeof *ids * (size_t)cap)))
                rc = le_err_set(LE_ENOMEM, "out of memory");
            if (!rc)
                rc = le_tok_encode(t, text, len, le_tok_add_bos(t), ids, cap, &n);
            if (n <= cap)
                break;
            cap = n;
        }
    }
    if (!rc && !(*win = malloc(sizeof **win * (size_t)(c->windows * *ctx))))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    if (!rc)
        rc = le_gptq_windows(ids, n, (int)c->windows, (int)*ctx, c->seed, *win);
    free(ids), free(text);
    le_corpus_free(corpus);
    le_model_free(m);
    return rc;
}

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

/* `quantize IN OUT --method gptq ...` once the flags are parsed. */
static int le_quantize_gptq(const char *in, const char *out, long bits, long group, struct le_gptq_params *gp,
                            struct le_gptq_cli *gc, struct le_quantize_ui *ui) {
    if (!bits)
        return le_cli_usage(le_quantize_usage, "--method gptq needs --bits 2, 3 or 4");
    int gt;
    if (le_gptq_type((int)bits, (int)group, gp->sym, &gt, NULL))
        return le_cli_usage(NULL, "%s", le_err_msg()); /* one line: the message says what is allowed */
    int32_t *win = NULL;
    int rc = le_gptq_calib(in, gc, &gc->ctx, &win);
    if (rc)
        return le_cli_fail_lib(rc);
    gp->bits = (int)bits, gp->group_size = (int)group, gp->windows = win, gp->n_windows = (int)gc->windows;
    gp->ctx = (int)gc->ctx, gp->progress = le_gptq_progress, gp->progress_ud = ui;
    gp->write_progress = le_quantize_progress, gp->write_ud = ui;
    struct le_quant_stats st;
    rc = le_gptq_quantize(in, out, gp, &st);
    free(win);
    if (rc == LE_EUNSUP && !gp->allow_requantize && strstr(le_err_msg(), "requantizing"))
        return le_cli_fail("%s (--allow-requantize)", le_err_msg());
    if (rc)
        return le_cli_fail_lib(rc);
    printf("%s: GPTQ %ld-bit (%s%s, %ld windows of %ld tokens from %s, seed %llu), %lld tensors (%lld converted, "
           "%lld fell back to another type), %.2f MiB -> %.2f MiB\n",
           out, bits, le_type_name(gt), gp->act_order ? ", act-order" : "", gc->windows, gc->ctx, gc->calib,
           (unsigned long long)gc->seed, (long long)st.n_tensors, (long long)st.n_quantized, (long long)st.n_fallback,
           st.bytes_in / 1048576.0, st.bytes_out / 1048576.0);
    return LE_EXIT_OK;
}

int le_cmd_quantize(int argc, char **argv) {
    static const struct option opts[] = {
        {"type", required_argument, 0, 't'}, {"pure", no_argument, 0, 'p'},
        {"threads", required_argument, 0, 'j'}, {"allow-requantize", no_argument, 0, 'r'},
        {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
        {"method", required_argument, 0, 'm'}, {"bits", required_argument, 0, 'b'},
        {"group-size", required_argument, 0, 'g'}, {"sym", no_argument, 0, 's'},
        {"act-order", no_argument, 0, 'a'},   {"no-true-sequential", no_argument, 0, 'n'},
        {"damp", required_argument, 0, 'd'},  {"calib", required_argument, 0, 'c'},
        {"calib-windows", required_argument, 0, 'w'}, {"calib-ctx", required_argument, 0, 'x'},
        {"seed", required_argument, 0, 'e'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_quantize_usage, le_quantize_help, 0};
    struct le_quant_params qp = {.ftype = -1};
    struct le_quantize_ui ui = {0};
    const char *type = NULL, *method = "rtn";
    long threads = 0, bits = 0, group = 0;
    struct le_gptq_params gp = {0};
    struct le_gptq_cli gc = {.calib = "brown", .windows = 128};
    int c, gptq_flag = 0;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case LE_CLI_BAD: return LE_EXIT_USAGE;
        case 't': type = optarg; break;
        case 'p': qp.pure = 1; break;
        case 'r': qp.allow_requantize = 1; break;
        case 'q': ui.quiet = 1; break;
        case 'j': if (le_cli_int(&p, "--threads", optarg, 1, 1024, &threads)) return LE_EXIT_USAGE; break;
        case 'm': method = optarg; break;
        case 'b': if (le_cli_int(&p, "--bits", optarg, 1, 64, &bits)) return LE_EXIT_USAGE; gptq_flag = 1; break;
        case 'g': if (le_cli_int(&p, "--group-size", optarg, 1, 1 << 20, &group)) return LE_EXIT_USAGE; gptq_flag = 1; break;
        case 's': gp.sym = 1, gptq_flag = 1; break;
        case 'a': gp.act_order = 1, gptq_flag = 1; break;
        case 'n': gp.no_true_sequential = 1, gptq_flag = 1; break;
        case 'd':
            if (le_cli_double(&p, "--damp", optarg, &gp.damp)) return LE_EXIT_USAGE;
            if (!(gp.damp > 0.0 && gp.damp < 1.0)) return le_cli_usage(le_quantize_usage, "--damp must be in (0, 1)");
            gptq_flag = 1;
            break;
        case 'c': gc.calib = optarg, gptq_flag = 1; break;
        case 'w': if (le_cli_int(&p, "--calib-windows", optarg, 1, 1 << 20, &gc.windows)) return LE_EXIT_USAGE; gptq_flag = 1; break;
        case 'x': if (le_cli_int(&p, "--calib-ctx", optarg, 2, 1 << 16, &gc.ctx)) return LE_EXIT_USAGE; gptq_flag = 1; break;
        case 'e': if (le_cli_u64(&p, "--seed", optarg, &gc.seed)) return LE_EXIT_USAGE; gptq_flag = 1; break;
        default: return le_cli_usage(le_quantize_usage, "unexpected option");
        }
    }
    int first = le_cli_optind();
    if (argc - first < 2)
        return le_cli_usage(le_quantize_usage, "IN.gguf and OUT.gguf are required");
    if (argc - first > 2)
        return le_cli_usage(le_quantize_usage, "unexpected argument '%s'", argv[first + 2]);
    if (!strcmp(method, "gptq")) {
        if (type)
            return le_cli_usage(le_quantize_usage, "--type is for --method rtn; GPTQ's type follows --bits");
        if (qp.pure)
            return le_cli_usage(le_quantize_usage, "--pure is for --method rtn");
        gp.allow_requantize = qp.allow_requantize, gp.n_threads = (int)threads;
        return le_quantize_gptq(argv[first], argv[first + 1], bits, group, &gp, &gc, &ui);
    }
    if (strcmp(method, "rtn"))
        return le_cli_usage(le_quantize_usage, "unknown --method '%s' (rtn or gptq)", method);
    if (gptq_flag)
        return le_cli_usage(le_quantize_usage, "--bits, --group-size, --sym, --act-order, --calib... need --method gptq");
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
