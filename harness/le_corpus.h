/*
 * le_corpus: the text that training reads -- the built-in Brown corpus's
 * training and validation splits, or a training and a validation text file
 * (one document each) -- as documents (for the tokenizer trainer and for
 * byte counts) and as token streams with BOS before every document (for the
 * trainer). One mechanism shared by `llamaeval train`, `tokenizer train` and
 * `sweep`, so that they read and tokenise a corpus the same way.
 *
 * The corpus owns its texts (Brown's are the decompressed archive's);
 * pointers it hands out live until le_corpus_free.
 */
#ifndef LE_CORPUS_H
#define LE_CORPUS_H

#include <stddef.h>
#include <stdint.h>

struct le_tok;
struct le_corpus;

enum le_corpus_split { LE_CORPUS_TRAIN = 0, LE_CORPUS_VALID = 1 };

/* Opens Brown (train_file and valid_file both NULL) or the two files. */
int le_corpus_open(struct le_corpus **out, const char *train_file, const char *valid_file);
void le_corpus_free(struct le_corpus *c); /* NULL is fine */
/* "brown", or the training file's path. */
const char *le_corpus_name(const struct le_corpus *c);
int64_t le_corpus_n_docs(const struct le_corpus *c, int split);
/* Document i of a split (not NUL-terminated; *len bytes). */
const char *le_corpus_doc(const struct le_corpus *c, int split, int64_t i, size_t *len);
/* Bytes of text in a split (the sum of its documents' lengths). */
int64_t le_corpus_bytes(const struct le_corpus *c, int split);

/* Tokenises every document of a split, BOS before each, into *ids
 * (malloc'ed, caller frees; *n ids). */
int le_corpus_tokenize(const struct le_corpus *c, int split, const struct le_tok *t, int32_t **ids, int64_t *n);
/* The documents of a split, each followed by a newline unless it ends in
 * one, as one malloc'ed NUL-terminated text (caller frees). */
int le_corpus_join(const struct le_corpus *c, int split, char **text, size_t *len);

#endif
