/*
 * le_bpe_train: trains a SentencePiece-style BPE vocabulary with byte
 * fallback and writes it as a "llama" tokenizer GGUF that le_tok and
 * llama.cpp load. The caller passes the texts (one per document); this layer
 * knows nothing about corpora.
 *
 * Vocabulary layout (as llama's): 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>
 * (byte fallback), then the merges in the order learnt with score -k, then
 * the single characters of the alphabet, most frequent first, with scores
 * below every merge. U+2581 (the SentencePiece space) appears only at the
 * start of a piece.
 *
 * Training: each text gets a leading space (as add_space_prefix encodes it);
 * spaces become U+2581; text is cut into words "U+2581? non-space run"; the
 * alphabet is U+2581 plus the most frequent characters covering
 * char_coverage of all non-whitespace characters; other characters (and
 * whitespace) never merge and are encoded as bytes. Each step merges the most
 * frequent adjacent pair over the word counts (ties: the lexicographically
 * smallest (left, right) byte strings), with incremental pair counts.
 * Deterministic: the result depends only on the texts and options.
 */
#ifndef LE_BPE_TRAIN_H
#define LE_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "le_util.h" /* le_progress_cb */

struct le_bpe_opts {
    int32_t vocab_size;   /* total ids, >= 259 + 1 */
    double char_coverage; /* fraction of character occurrences the alphabet covers (0.9995) */
    const char *alphabet; /* NULL, or exactly these characters (UTF-8; U+2581 is always added) */
    le_progress_cb progress; /* (merges done, merges wanted), may be NULL */
    void *progress_ud;
};

struct le_bpe_vocab {
    int32_t n;            /* number of ids */
    char **pieces;        /* NUL-terminated UTF-8 (U+2581 for space, "<0x0A>" for bytes) */
    float *scores;
    int32_t *types;       /* GGUF token types: 1 normal, 2 unknown, 3 control, 6 byte */
    int32_t n_merges, n_chars;
};

void le_bpe_opts_default(struct le_bpe_opts *o);
/* Trains on n texts (texts[i] of lens[i] bytes, UTF-8). *out is freed with
 * le_bpe_vocab_free. LE_EINVAL when vocab_size cannot hold the specials, the
 * bytes and U+2581. A corpus with too few distinct pairs yields fewer
 * merges (n < vocab_size). */
int le_bpe_train(struct le_bpe_vocab **out, const char *const *texts, const size_t *lens, int64_t n,
                 const struct le_bpe_opts *o);
void le_bpe_vocab_free(struct le_bpe_vocab *v); /* NULL is fine */
/* Writes v as a vocab-only llama GGUF (tokenizer.ggml.* keys as llama.cpp's
 * SentencePiece vocabularies have them, plus placeholder llama.* hparams so
 * that llama.cpp can open it with vocab_only). name: general.name. */
int le_bpe_write_gguf(const struct le_bpe_vocab *v, const char *path, const char *name);

#endif
