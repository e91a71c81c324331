/*
 * le_tok: tokenizers read from GGUF metadata, exactly as llama.cpp runs them.
 *   "llama": SentencePiece BPE (scores, byte fallback <0xXX>, space prefix
 *            per tokenizer.ggml.add_space_prefix, default true)
 *   "gpt2":  byte-level BPE with merges, pre-tokenizer by tokenizer.ggml.pre
 *            ("gpt-2" and aliases: GPT-2 regex; "llama-bpe"/"llama3" and
 *            aliases, "dbrx", "smaug-bpe": LLaMA-3 regex; "default" or
 *            absent: llama.cpp's default chain; others: LE_EUNSUP)
 * Control and unknown tokens are never produced from text (parse_special =
 * false); user-defined tokens are, as in llama.cpp. A tokenizer is
 * immutable: encode/decode may run on many threads at once.
 */
#ifndef LE_TOK_H
#define LE_TOK_H

#include <stddef.h>
#include <stdint.h>

struct le_gguf;
struct le_tok;

enum le_tok_kind { LE_TOK_SPM = 1, LE_TOK_BPE = 2 };

/* Builds a tokenizer from g's tokenizer.ggml.* keys (copies what it needs;
 * g may be closed afterwards). LE_EFORMAT / LE_EUNSUP with a message. */
int le_tok_from_gguf(struct le_tok **out, const struct le_gguf *g);
void le_tok_free(struct le_tok *t);

int le_tok_kind(const struct le_tok *t);
int32_t le_tok_n_vocab(const struct le_tok *t);
int32_t le_tok_bos(const struct le_tok *t); /* -1 if none */
int32_t le_tok_eos(const struct le_tok *t);
int le_tok_add_bos(const struct le_tok *t); /* tokenizer.ggml.add_bos_token (llama.cpp's default) */

/*
 * Encodes len bytes of UTF-8 text (invalid UTF-8 is handled as llama.cpp
 * does, never crashes). add_bos prepends BOS. Writes up to cap ids to out and
 * sets *n_out to the full count (call again with a bigger buffer when
 * *n_out > cap). Returns LE_OK or an error.
 */
int le_tok_encode(const struct le_tok *t, const char *text, size_t len, int add_bos,
                  int32_t *out, int64_t cap, int64_t *n_out);
/* The token's text as llama.cpp's token_to_piece renders it with special =
 * true (SPM: U+2581 -> ' ', <0xXX> -> that byte; BPE: byte-decoded; control
 * tokens: their text; unused/undefined types: empty). Returns bytes written (may be
 * > cap: then truncated) or a negative error. */
int le_tok_piece(const struct le_tok *t, int32_t id, char *buf, size_t cap);
/* The raw vocabulary string of id (not NUL-terminated), NULL if out of range. */
const char *le_tok_text(const struct le_tok *t, int32_t id, size_t *len);

/* Functions to build a tokenizer from in-memory arrays (tokenizer trainers,
 * tests). Everything is copied; the caller keeps ownership of its arrays. */
struct le_tok_params {
    int kind;                 /* LE_TOK_SPM or LE_TOK_BPE */
    int32_t n_vocab;
    const char *const *tokens;   /* (n_vocab) token texts */
    const uint32_t *token_lens;  /* (n_vocab) byte lengths; NULL: NUL-terminated */
    const float *scores;         /* (n_vocab) SPM merge scores; NULL: all 0 */
    const int32_t *types;        /* (n_vocab) GGUF token types (1 normal, 2 unknown,
                                  * 3 control, 4 user-defined, 5 unused, 6 byte); NULL: all normal */
    int64_t n_merges;            /* BPE: "left right" merge strings, rank = index */
    const char *const *merges;
    const uint32_t *merge_lens;  /* NULL: NUL-terminated */
    const char *pre;             /* BPE pre-tokenizer name (tokenizer.ggml.pre) */
    int32_t bos, eos, unk;       /* -1: none */
    int add_bos;                 /* -1: the pre-tokenizer's default (BPE) */
    int add_eos;
    int add_space_prefix;        /* SPM only */
};
/* Sets llama.cpp's defaults for kind: SPM bos 1, eos 2, unk 0, add_bos 1,
 * add_space_prefix 1; BPE bos = eos = 11, no unk, pre "default". */
void le_tok_params_init(struct le_tok_params *p, int kind);
/* LE_EINVAL / LE_EFORMAT / LE_EUNSUP (unknown pre-tokenizer) / LE_ENOMEM. */
int le_tok_new(struct le_tok **out, const struct le_tok_params *p);
/* SPM shorthand (add_bos 1, add_eos 0, add_space_prefix 1); types may be NULL. */
int le_tok_new_spm(struct le_tok **out, int32_t n_vocab, const char *const *tokens, const float *scores,
                   const int32_t *types, int32_t bos, int32_t eos, int32_t unk);

/* More accessors. */
int32_t le_tok_unk(const struct le_tok *t);                /* -1 if none */
int le_tok_add_eos(const struct le_tok *t);                /* le_tok_encode never appends EOS itself */
int le_tok_add_space_prefix(const struct le_tok *t);
int le_tok_type(const struct le_tok *t, int32_t id);       /* GGUF token type; -1 if out of range */
float le_tok_score(const struct le_tok *t, int32_t id);
int32_t le_tok_find(const struct le_tok *t, const char *text, size_t len); /* exact piece -> id, -1 */
/* Text of ids: pieces as le_tok_piece renders them, except that control and
 * unknown tokens (BOS, EOS, ...) give nothing and, when the tokenizer adds a
 * space prefix, the first text-bearing piece loses one leading space -- so
 * decode(encode(x)) == x for SPM, with or without BOS. (llama.cpp's
 * llama_detokenize keeps that space when a BOS comes first, and its BPE
 * "clean spaces" pass is lossy; neither is reproduced.) Writes up to cap
 * bytes (no NUL) and returns the full length, or a negative error. */
int64_t le_tok_decode(const struct le_tok *t, const int32_t *ids, int64_t n, char *buf, size_t cap);

#endif
