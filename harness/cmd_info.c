/*
 * cmd_info: `llamaeval info M.gguf` -- what a model file is: architecture,
 * shape, rope and norm settings, output tying, parameter counts, tensor
 * types, file type, tokenizer and size. Loads the model exactly as an
 * evaluation would, so a file that info describes fully is one ppl can run;
 * for a valid GGUF the engine does not support (a type or architecture) it
 * prints what the file says and why it cannot be evaluated.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_info */
#include "le_err.h"
#include "le_gguf.h"  /* tensor list, version */
#include "le_model.h" /* le_model_open, le_model_info */
#include "le_tok.h"   /* tokenizer kind, vocab, BOS/EOS */
#include "le_types.h" /* le_type_name */

#include <stdio.h>
#include <string.h>

static const char *le_info_usage = "usage: llamaeval info M.gguf";
static const char *le_info_help =
    "usage: llamaeval info M.gguf\n"
    "\n"
    "Prints a model's architecture, dimensions, layers, heads (and KV heads),\n"
    "feed-forward size, context length, RoPE and RMSNorm settings, vocabulary,\n"
    "tied or untied output, parameter counts (all, and without the embedding and\n"
    "output matrices), tensor types with counts, file type, tokenizer and size.\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n";

/* llama.cpp's llama_ftype names (general.file_type). */
static const char *le_info_ftype(int ft) {
    static const struct {
        int v;
        const char *name;
    } names[] = {{0, "ALL_F32"},     {1, "MOSTLY_F16"},    {2, "MOSTLY_Q4_0"},   {3, "MOSTLY_Q4_1"},
                 {7, "MOSTLY_Q8_0"}, {8, "MOSTLY_Q5_0"},   {9, "MOSTLY_Q5_1"},   {10, "MOSTLY_Q2_K"},
                 {11, "MOSTLY_Q3_K_S"}, {12, "MOSTLY_Q3_K_M"}, {13, "MOSTLY_Q3_K_L"}, {14, "MOSTLY_Q4_K_S"},
                 {15, "MOSTLY_Q4_K_M"}, {16, "MOSTLY_Q5_K_S"}, {17, "MOSTLY_Q5_K_M"}, {18, "MOSTLY_Q6_K"},
                 {21, "MOSTLY_Q2_K_S"}, {32, "MOSTLY_BF16"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].v == ft)
            return names[i].name;
    return ft < 0 ? "not set" : "other";
}

static void le_info_types(const struct le_gguf *g) {
    int64_t count[LE_TYPE_COUNT] = {0}, other = 0;
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        int t = le_gguf_tensor(g, i)->type;
        if (t >= 0 && t < LE_TYPE_COUNT)
            count[t]++;
        else
            other++;
    }
    printf("%-16s", "tensor types");
    const char *sep = "";
    for (int t = 0; t < LE_TYPE_COUNT; t++)
        if (count[t]) {
            printf("%s%s: %lld", sep, le_type_name(t), (long long)count[t]);
            sep = ", ";
        }
    if (other)
        printf("%sother: %lld", sep, (long long)other);
    printf(" (%lld tensors)\n", (long long)le_gguf_n_tensors(g));
}

static void le_info_piece(const struct le_tok *t, int32_t id, char *buf, size_t cap) {
    size_t len = 0;
    const char *s = id >= 0 ? le_tok_text(t, id, &len) : NULL;
    if (!s)
        snprintf(buf, cap, "none");
    else
        snprintf(buf, cap, "%d '%.*s'", (int)id, (int)(len < 40 ? len : 40), s);
}

static void le_info_tok(const struct le_tok *t);

static void le_info_print(const char *path, const struct le_model *m) {
    const struct le_model_info *in = le_model_get_info(m);
    const struct le_gguf *g = le_model_gguf(m);
    printf("%-16s%s\n", "file", path);
    printf("%-16s%llu bytes (%.2f MiB), GGUF v%u\n", "size", (unsigned long long)in->file_size,
           (double)in->file_size / (1024.0 * 1024.0), le_gguf_version(g));
    printf("%-16s%s\n", "architecture", in->arch);
    printf("%-16s%s\n", "name", in->name[0] ? in->name : "(none)");
    printf("%-16s%lld\n", "dim", (long long)in->dim);
    printf("%-16s%lld\n", "layers", (long long)in->n_layers);
    printf("%-16s%lld (kv heads %lld, head dim %lld)\n", "heads", (long long)in->n_heads,
           (long long)in->n_kv_heads, (long long)in->head_dim);
    printf("%-16s%lld\n", "ffn", (long long)in->ffn);
    printf("%-16s%lld\n", "context", (long long)in->ctx_train);
    printf("%-16sfreq_base %g, linear scale %g\n", "rope", (double)in->rope_base, (double)in->rope_scale);
    printf("%-16s%g\n", "rms eps", (double)in->eps);
    printf("%-16s%lld\n", "vocab", (long long)in->n_vocab);
    printf("%-16s%s\n", "output", in->tied ? "tied (token_embd)" : "untied (output.weight)");
    printf("%-16s%lld (%.2fM), without embeddings %lld (%.2fM)\n", "parameters", (long long)in->n_params,
           (double)in->n_params / 1e6, (long long)in->n_params_nonembed, (double)in->n_params_nonembed / 1e6);
    le_info_types(g);
    printf("%-16s%s\n", "main type", le_type_name(in->main_type));
    if (in->ftype >= 0)
        printf("%-16s%d (%s)\n", "file type", in->ftype, le_info_ftype(in->ftype));
    else
        printf("%-16snot set\n", "file type");
    le_info_tok(le_model_tok(m));
}

/* The tokenizer line (or "none"). */
static void le_info_tok(const struct le_tok *t) {
    if (!t) {
        printf("%-16snone\n", "tokenizer");
        return;
    }
    char bos[64], eos[64];
    le_info_piece(t, le_tok_bos(t), bos, sizeof bos);
    le_info_piece(t, le_tok_eos(t), eos, sizeof eos);
    printf("%-16s%s, %d tokens, BOS %s%s, EOS %s\n", "tokenizer",
           le_tok_kind(t) == LE_TOK_SPM ? "llama (SentencePiece BPE)" : "gpt2 (byte-level BPE)",
           (int)le_tok_n_vocab(t), bos, le_tok_add_bos(t) ? " (added)" : "", eos);
}

/* For a file the engine cannot load (unsupported type or architecture):
 * what the GGUF itself says, and why it cannot be evaluated. */
static int le_info_fallback(const char *path, int rc) {
    char why[512];
    snprintf(why, sizeof why, "%s", le_err_msg());
    struct le_gguf *g;
    if (le_gguf_open(&g, path) != LE_OK)
        return le_cli_fail("%s", why);
    /* A vocabulary-only file (what `tokenizer train` writes): no tensors. */
    struct le_tok *tok = NULL;
    if (le_gguf_n_tensors(g) == 0 && le_tok_from_gguf(&tok, g) == LE_OK) {
        printf("%-16s%s\n", "file", path);
        printf("%-16s%llu bytes (%.2f MiB), GGUF v%u\n", "size", (unsigned long long)le_gguf_file_size(g),
               (double)le_gguf_file_size(g) / (1024.0 * 1024.0), le_gguf_version(g));
        printf("%-16snone (a tokenizer file: vocabulary only)\n", "tensors");
        le_info_tok(tok);
        le_tok_free(tok);
        le_gguf_close(g);
        return LE_EXIT_OK;
    }
    if (rc != LE_EUNSUP) {
        le_gguf_close(g);
        return le_cli_fail("%s", why);
    }
    printf("%-16s%s\n", "file", path);
    printf("%-16s%llu bytes (%.2f MiB), GGUF v%u\n", "size", (unsigned long long)le_gguf_file_size(g),
           (double)le_gguf_file_size(g) / (1024.0 * 1024.0), le_gguf_version(g));
    const char *arch = "";
    uint64_t len = 0;
    char key[128];
    if (le_gguf_get_str(g, "general.architecture", &arch, &len) == LE_OK)
        printf("%-16s%.*s\n", "architecture", (int)len, arch);
    static const char *const fields[][2] = {{"dim", "embedding_length"}, {"layers", "block_count"},
                                            {"heads", "attention.head_count"}, {"kv heads", "attention.head_count_kv"},
                                            {"ffn", "feed_forward_length"}, {"context", "context_length"}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int64_t v;
        snprintf(key, sizeof key, "%.*s.%s", (int)len, arch, fields[i][1]);
        if (le_gguf_get_i64(g, key, &v) == LE_OK)
            printf("%-16s%lld\n", fields[i][0], (long long)v);
    }
    le_info_types(g);
    printf("%-16sno: %s\n", "loadable", why);
    le_gguf_close(g);
    return LE_EXIT_OK;
}

int le_cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    struct le_cli_parser p = {argc, argv, ":h", opts, le_info_usage, le_info_help, 0};
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        if (c == LE_CLI_HELP)
            return LE_EXIT_OK;
        return LE_EXIT_USAGE; /* LE_CLI_BAD: already printed */
    }
    int first = le_cli_optind();
    if (first >= argc)
        return le_cli_usage(le_info_usage, "no model file given");
    if (first + 1 < argc)
        return le_cli_usage(le_info_usage, "unexpected argument '%s'", argv[first + 1]);
    struct le_model *m;
    int rc = le_model_open(&m, argv[first]);
    if (rc)
        return le_info_fallback(argv[first], rc);
    le_info_print(argv[first], m);
    le_model_free(m);
    return LE_EXIT_OK;
}
