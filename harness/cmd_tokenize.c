/*
 * cmd_tokenize: `llamaeval tokenize M.gguf (--text S | --file F) [--ids]
 * [--no-bos]` -- the tokenizer of a GGUF file applied to a string or a file
 * (read verbatim, final newline included, as llama-tokenize -f does). Only
 * the tokenizer metadata is read, so vocabulary-only GGUF files work too.
 * BOS is prepended when the vocabulary says so (add_bos_token), unless
 * --no-bos.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_tokenize */
#include "le_err.h"
#include "le_fs.h"    /* le_read_file */
#include "le_gguf.h"  /* le_gguf_open */
#include "le_tok.h"   /* le_tok_from_gguf, le_tok_encode, le_tok_piece */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *le_tokenize_usage = "usage: llamaeval tokenize M.gguf (--text S | --file F) [--ids] [--no-bos]";
static const char *le_tokenize_help =
    "usage: llamaeval tokenize M.gguf (--text S | --file F) [--ids] [--no-bos]\n"
    "\n"
    "Tokenizes text with the model's tokenizer, as llama.cpp does (special tokens\n"
    "in the text are not parsed). BOS comes first when the vocabulary adds it.\n"
    "\n"
    "Options:\n"
    "  --text S       the text to tokenize\n"
    "  --file F       tokenize the contents of file F (verbatim)\n"
    "  --ids          print the ids on one line, separated by spaces\n"
    "                 (default: one line per token, \"id 'piece'\")\n"
    "  --no-bos       do not prepend BOS\n"
    "  -h, --help     show this help\n";

static int le_tokenize_run(const struct le_tok *t, const char *text, size_t len, int add_bos, int ids_only) {
    int64_t n = 0, cap = (int64_t)len + 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids)
        return le_cli_fail("out of memory");
    int rc = le_tok_encode(t, text, len, add_bos, ids, cap, &n);
    if (!rc && n > cap) {
        int32_t *nb = realloc(ids, (size_t)n * sizeof *ids);
        if (!nb) {
            free(ids);
            return le_cli_fail("out of memory");
        }
        ids = nb;
        cap = n;
        rc = le_tok_encode(t, text, len, add_bos, ids, cap, &n);
    }
    if (rc) {
        free(ids);
        return le_cli_fail_lib(rc);
    }
    char piece[256];
    for (int64_t i = 0; i < n; i++) {
        if (ids_only) {
            printf(i ? " %d" : "%d", (int)ids[i]);
            continue;
        }
        int pn = le_tok_piece(t, ids[i], piece, sizeof piece);
        if (pn < 0)
            pn = 0;
        if ((size_t)pn >= sizeof piece)
            pn = (int)sizeof piece - 1;
        printf("%d '%.*s'\n", (int)ids[i], pn, piece);
    }
    if (ids_only)
        printf("\n");
    free(ids);
    return LE_EXIT_OK;
}

int le_cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"text", required_argument, 0, 't'}, {"file", required_argument, 0, 'f'}, {"ids", no_argument, 0, 'i'},
        {"no-bos", no_argument, 0, 'n'},     {"help", no_argument, 0, 'h'},       {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_tokenize_usage, le_tokenize_help, 0};
    const char *text = NULL, *file = NULL;
    int ids_only = 0, no_bos = 0, c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case 't': text = optarg; break;
        case 'f': file = optarg; break;
        case 'i': ids_only = 1; break;
        case 'n': no_bos = 1; break;
        default: return LE_EXIT_USAGE;
        }
    }
    int first = le_cli_optind();
    if (first >= argc)
        return le_cli_usage(le_tokenize_usage, "no model file given");
    if (first + 1 < argc)
        return le_cli_usage(le_tokenize_usage, "unexpected argument '%s'", argv[first + 1]);
    if (!text == !file)
        return le_cli_usage(le_tokenize_usage, "give exactly one of --text and --file");
    struct le_gguf *g;
    int rc = le_gguf_open(&g, argv[first]);
    if (rc)
        return le_cli_fail_lib(rc);
    struct le_tok *t = NULL;
    if (le_gguf_find_key(g, "tokenizer.ggml.model") < 0) {
        le_gguf_close(g);
        return le_cli_fail("%s has no tokenizer (no tokenizer.ggml.model key)", argv[first]);
    }
    rc = le_tok_from_gguf(&t, g);
    le_gguf_close(g);
    if (rc)
        return le_cli_fail_lib(rc);
    size_t len = 0;
    char *buf = NULL;
    if (file) {
        if (le_read_file(file, &buf, &len)) {
            le_tok_free(t);
            return le_cli_fail_lib(LE_EIO);
        }
        text = buf;
    } else {
        len = strlen(text);
    }
    int add_bos = !no_bos && le_tok_add_bos(t) && le_tok_bos(t) >= 0;
    int ret = le_tokenize_run(t, text, len, add_bos, ids_only);
    free(buf);
    le_tok_free(t);
    return ret;
}
