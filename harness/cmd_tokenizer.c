/*
 * cmd_tokenizer: `llamaeval tokenizer train`, training a SentencePiece-style
 * BPE vocabulary (engine/tok/bpe_train.c) on the Brown training split or on text
 * files, written as a llama tokenizer GGUF. This file gathers the texts,
 * calls the trainer and reports; the held-out compression (characters per
 * token on Brown's validation split) is printed as a sanity check.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_tokenizer */
#include "le_bpe_train.h"
#include "le_corpus.h"   /* the training corpus */
#include "le_fs.h"       /* le_read_file */
#include "le_datasets.h" /* le_brown_* */
#include "le_err.h"
#include "le_gguf.h"
#include "le_progress.h"
#include "le_tok.h"
#include "le_train.h" /* le_train_check_output */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *le_tk_usage =
    "usage: llamaeval tokenizer train [--corpus brown|FILE]... --vocab N --out FILE";

static const char *le_tk_help =
    "usage: llamaeval tokenizer train [--corpus brown|FILE]... --vocab N --out FILE\n"
    "\n"
    "Trains a SentencePiece-style BPE tokenizer with byte fallback (pieces carry\n"
    "the space marker U+2581 only at their start; ids 0 <unk>, 1 <s>, 2 </s>,\n"
    "3..258 <0x00>..<0xFF>, then merges in order, then single characters) and\n"
    "writes it as a \"llama\" tokenizer GGUF that llamaeval and llama.cpp load.\n"
    "Deterministic: the same corpus and options give the same file.\n"
    "\n"
    "Options:\n"
    "  --corpus C       'brown' (default): the built-in Brown corpus, training split\n"
    "                   only; or a UTF-8 text FILE (one document; repeatable)\n"
    "  --vocab N        vocabulary size, 260..1000000 (default 1024)\n"
    "  --coverage F     fraction of character occurrences the alphabet covers;\n"
    "                   rarer characters are encoded as bytes (default 0.9995)\n"
    "  --out FILE       the tokenizer GGUF to write\n"
    "  --quiet          no progress output\n"
    "  -h, --help       show this help\n";

struct le_texts {
    const char **p;
    size_t *len;
    char **own;
    int64_t n, cap;
};

static int texts_add(struct le_texts *t, const char *s, size_t len, char *own) {
    if (t->n == t->cap) {
        int64_t c = t->cap ? 2 * t->cap : 64;
        const char **np = realloc(t->p, sizeof *np * (size_t)c);
        if (np)
            t->p = np;
        size_t *nl = np ? realloc(t->len, sizeof *nl * (size_t)c) : NULL;
        if (nl)
            t->len = nl;
        char **no = nl ? realloc(t->own, sizeof *no * (size_t)c) : NULL;
        if (!no)
            return le_err_set(LE_ENOMEM, "out of memory");
        t->own = no, t->cap = c;
    }
    t->p[t->n] = s, t->len[t->n] = len, t->own[t->n] = own;
    t->n++;
    return LE_OK;
}

static void texts_free(struct le_texts *t) {
    for (int64_t i = 0; i < t->n; i++)
        free(t->own[i]);
    free(t->p), free(t->len), free(t->own);
}

/* Characters per token of the tokenizer at path on Brown's validation split. */
static double brown_valid_chars_per_token(const char *path, struct le_brown *br) {
    struct le_gguf *g = NULL;
    struct le_tok *t = NULL;
    if (le_gguf_open(&g, path) || le_tok_from_gguf(&t, g)) {
        le_gguf_close(g);
        return -1;
    }
    le_gguf_close(g);
    int64_t chars = 0, toks = 0, cap = 1 << 16, n;
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    for (int i = 0; ids && i < le_brown_n_docs(br); i++) {
        const struct le_brown_doc *d = le_brown_doc(br, i);
        if (d->split != LE_BROWN_VALID)
            continue;
        if (le_tok_encode(t, d->text, d->len, 0, ids, cap, &n) == LE_OK && n > cap) {
            int32_t *ni = realloc(ids, sizeof *ni * (size_t)n);
            if (!ni)
                break;
            ids = ni, cap = n;
            le_tok_encode(t, d->text, d->len, 0, ids, cap, &n);
        }
        chars += (int64_t)d->len, toks += n;
    }
    free(ids);
    le_tok_free(t);
    return toks ? (double)chars / (double)toks : -1;
}

static int le_tokenizer_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"corpus", required_argument, 0, 'c'}, {"vocab", required_argument, 0, 'v'},
        {"coverage", required_argument, 0, 'g'}, {"out", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":h", opts, le_tk_usage, le_tk_help, 0};
    const char *out = NULL, *corpora[64];
    int nc = 0, quiet = 0, c;
    long vocab = 1024;
    double coverage = 0.9995;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case LE_CLI_BAD: return LE_EXIT_USAGE;
        case 'c':
            if (nc == 64)
                return le_cli_usage(le_tk_usage, "at most 64 --corpus options");
            corpora[nc++] = optarg;
            break;
        case 'v':
            if (le_cli_int(&p, "--vocab", optarg, 260, 1000000, &vocab))
                return LE_EXIT_USAGE;
            break;
        case 'g':
            if (le_cli_double(&p, "--coverage", optarg, &coverage))
                return LE_EXIT_USAGE;
            if (!(coverage > 0 && coverage <= 1))
                return le_cli_usage(le_tk_usage, "--coverage must be in (0, 1]");
            break;
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        default: return le_cli_usage(le_tk_usage, "unexpected option");
        }
    }
    if (le_cli_optind() < argc)
        return le_cli_usage(le_tk_usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (!out)
        return le_cli_usage(le_tk_usage, "--out FILE is required");
    if (nc == 0)
        corpora[nc++] = "brown";
    int rc = le_train_check_output(out);
    if (rc)
        return le_cli_fail_lib(rc);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct le_texts tx = {0};
    struct le_brown *br = NULL;
    size_t bytes = 0;
    for (int i = 0; i < nc && !rc; i++) {
        if (!strcmp(corpora[i], "brown")) {
            if (!br && (rc = le_brown_open(&br, NULL)))
                break;
            for (int d = 0; d < le_brown_n_docs(br) && !rc; d++) {
                const struct le_brown_doc *doc = le_brown_doc(br, d);
                if (doc->split == LE_BROWN_TRAIN)
                    rc = texts_add(&tx, doc->text, doc->len, NULL), bytes += doc->len;
            }
        } else {
            char *s = NULL;
            size_t len = 0;
            if (!(rc = le_read_file(corpora[i], &s, &len)) && (rc = texts_add(&tx, s, len, s)))
                free(s); /* not taken by tx */
            bytes += len;
        }
    }
    struct le_bpe_opts o;
    le_bpe_opts_default(&o);
    o.vocab_size = (int32_t)vocab, o.char_coverage = coverage;
    struct le_progress *pr = NULL;
    struct le_bpe_vocab *v = NULL;
    if (!rc && !(rc = le_progress_new(&pr, "merges", 0, quiet))) {
        o.progress = le_progress_callback, o.progress_ud = pr;
        rc = le_bpe_train(&v, tx.p, tx.len, tx.n, &o);
        le_progress_finish(pr);
    }
    char name[64];
    snprintf(name, sizeof name, "llamaeval-bpe-%ld", vocab);
    if (!rc)
        rc = le_bpe_write_gguf(v, out, name);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!rc) {
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("tokenizer: %d ids (%d merges, %d characters) from %lld texts (%.2f MB) in %.1f s -> %s\n", v->n,
               v->n_merges, v->n_chars, (long long)tx.n, (double)bytes / 1e6, s, out);
        if (v->n < vocab)
            printf("note: the corpus has too few distinct pairs for %ld ids\n", vocab);
        if (br) {
            double cpt = brown_valid_chars_per_token(out, br);
            if (cpt > 0)
                printf("brown validation split: %.3f characters per token\n", cpt);
        }
    }
    le_bpe_vocab_free(v);
    texts_free(&tx);
    le_brown_free(br);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}

int le_cmd_tokenizer(int argc, char **argv) {
    if (argc < 2)
        return le_cli_usage(le_tk_usage, "which subcommand? (train)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(le_tk_help, stdout);
        return LE_EXIT_OK;
    }
    if (!strcmp(argv[1], "train"))
        return le_tokenizer_train(argc - 1, argv + 1);
    return le_cli_usage(le_tk_usage, "unknown subcommand '%s' (try 'train')", argv[1]);
}
