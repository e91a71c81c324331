/*
 * tok_int: private parts of the tokenizer module (tok.c, tok_spm.c,
 * tok_bpe.c, tok_unicode.c, tok_gguf.c). Not an interface: only tests and
 * the files above include it.
 *
 * Layout: every token text lives in one blob; a string table (open
 * addressing over FNV-1a) maps text -> id. BPE merges are a second string
 * table keyed by "left right" (the GGUF merge string) -> rank. Encoding is
 * reentrant: all scratch is per call.
 */
#ifndef TOK_INT_H
#define TOK_INT_H

#include "le_text.h" /* le_utf8_next, le_utf8_encode */

#include <stddef.h>
#include <stdint.h>

/* GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    TOK_T_UNDEFINED = 0, TOK_T_NORMAL = 1, TOK_T_UNKNOWN = 2, TOK_T_CONTROL = 3,
    TOK_T_USER_DEFINED = 4, TOK_T_UNUSED = 5, TOK_T_BYTE = 6,
};

/* BPE pre-tokenizer families (llama.cpp's pre types that we implement). */
enum tok_pre { TOK_PRE_DEFAULT = 0, TOK_PRE_GPT2 = 1, TOK_PRE_LLAMA3 = 2 };

/* A set of strings with their index; lookups by (pointer, length). */
struct tok_strtab {
    char *blob;      /* all strings back to back */
    uint64_t *off;   /* (n) start of string i in blob */
    uint32_t *len;   /* (n) */
    int32_t n;
    int32_t *slot;   /* (mask + 1) string index or -1 */
    uint32_t mask;
};

struct le_tok {
    int kind;                /* LE_TOK_SPM / LE_TOK_BPE */
    int pre;                 /* enum tok_pre (BPE only) */
    int32_t n_vocab;
    struct tok_strtab vocab; /* id -> text; text -> id (last id wins, as llama.cpp) */
    float *score;            /* (n_vocab) */
    uint8_t *type;           /* (n_vocab) TOK_T_* */
    struct tok_strtab merges;/* "left right" -> rank (first wins) */
    int32_t bos, eos, unk;   /* -1 when absent */
    int add_bos, add_eos, add_space_prefix, ignore_merges;
    int32_t *user;           /* user-defined tokens, longest text first */
    int32_t n_user;
    int32_t byte_tok[256];   /* byte fallback token of each byte, -1 if none */
    /* SPM: adjacent character pairs occurring inside some token (keys of
     * two packed characters); a text position between a pair that is not
     * in the set can never be merged across, so long texts are encoded in
     * independent segments cut there. */
    uint64_t *pairs;
    uint32_t pair_mask;
};

/* String tables. */
int tok_strtab_build(struct tok_strtab *st, int32_t n, const char *const *s, const uint32_t *len, int last_wins);
void tok_strtab_free(struct tok_strtab *st);
int32_t tok_strtab_find(const struct tok_strtab *st, const char *s, size_t len);
static inline const char *tok_strtab_str(const struct tok_strtab *st, int32_t i, uint32_t *len) {
    *len = st->len[i];
    return st->blob + st->off[i];
}
uint64_t tok_hash(const char *s, size_t len);

/* Output sink: ids past cap are counted, not written. */
struct tok_out {
    int32_t *ids;
    int64_t cap;
    int64_t n;
};
static inline void tok_emit(struct tok_out *o, int32_t id) {
    if (o->n < o->cap)
        o->ids[o->n] = id;
    o->n++;
}

/* Per-call memo of encoded pieces of text (SPM segments, BPE words): the
 * encoding of such a piece depends on its bytes alone, and natural text
 * repeats words, so most pieces are looked up instead of re-merged. Keys
 * point into the caller's text, which outlives the memo. */
struct tok_memo {
    struct tok_memo_slot {
        const char *key;
        uint32_t len, n_ids;
        uint64_t at; /* first id in ids */
    } *slot;
    uint32_t mask, used;
    int32_t *ids;
    uint64_t n_ids, cap_ids;
};
#define TOK_MEMO_MAX_KEY 64    /* longer pieces are not memoized */
#define TOK_MEMO_MIN_TEXT 2048 /* nor are pieces of shorter texts */
/* The memoized ids of key (NULL if absent; *n set). */
const int32_t *tok_memo_get(const struct tok_memo *m, const char *key, size_t len, uint32_t *n);
/* Memoizes ids[0..n) for key; failures only cost speed. */
void tok_memo_put(struct tok_memo *m, const char *key, size_t len, const int32_t *ids, uint32_t n);
void tok_memo_free(struct tok_memo *m);

/* Max-heap of candidate merges: higher pri first, then smaller left
 * (llama.cpp's priority_queue order for both SPM and BPE). */
struct tok_bigram {
    double pri; /* SPM: score; BPE: -rank */
    int32_t left, right;
    uint32_t size; /* bytes of left + right when queued (staleness check) */
};
struct tok_heap {
    struct tok_bigram *v;
    size_t n, cap;
};
int tok_heap_push(struct tok_heap *h, struct tok_bigram b);
struct tok_bigram tok_heap_pop(struct tok_heap *h);

/* A symbol of the merge loops: bytes [off, off+n) of the working text. */
struct tok_sym {
    int32_t prev, next;
    uint32_t off, n;
};
/* The merge loops' start: one symbol per UTF-8 character of s[0..n) (by
 * lead byte, tok_utf8_len; a truncated last one keeps what is there),
 * linked in order, into sym (n entries suffice). Returns the count. */
int32_t tok_syms_split(const char *s, size_t n, struct tok_sym *sym);

/* Unicode (tok_unicode.c). Flags are llama.cpp's category class bits plus
 * TOK_U_WS for its White_Space set. */
enum {
    TOK_U_UNDEF = 0x01, TOK_U_NUM = 0x02, TOK_U_LET = 0x04, TOK_U_SEP = 0x08,
    TOK_U_MARK = 0x10, TOK_U_PUNCT = 0x20, TOK_U_SYM = 0x40, TOK_U_CTRL = 0x80,
    TOK_U_WS = 0x100,
};
/* Length of the UTF-8 sequence a lead byte announces (1 for continuation
 * bytes, 4 for 0xF0-0xFF), as llama.cpp's unicode_len_utf8. */
static inline size_t tok_utf8_len(unsigned char c) {
    static const unsigned char l[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return l[c >> 4];
}
unsigned tok_cpt_flags(uint32_t cp);
/* Decodes UTF-8 into code points: an invalid or truncated sequence yields
 * U+FFFD and skips one byte (llama.cpp's unicode_cpts_from_utf8), as does a
 * 4-byte sequence above U+10FFFF. Returns the count (<= len). */
size_t tok_utf8_decode(const char *s, size_t len, uint32_t *cps);
/* The code point at s[0..len) (len >= 1) and its byte count, as above. */
uint32_t tok_utf8_next(const char *s, size_t len, size_t *used);
/* GPT-2 bytes_to_unicode: the code point byte b is written as. */
uint32_t tok_byte_to_cpt(uint8_t b);
/* Inverse: the byte for code point cp, or -1. */
int tok_cpt_to_byte(uint32_t cp);

/* Encoders of one text fragment (no special tokens inside); memo: use a
 * tok_memo (same result, faster on long texts). */
int tok_spm_encode(const struct le_tok *t, const char *text, size_t len, int space_prefix,
                   size_t seg_chars, int memo, struct tok_out *o);
int tok_bpe_encode(const struct le_tok *t, const char *text, size_t len, int memo, struct tok_out *o);
/* Whether the SPM pair set holds the pair of characters a, b. */
int tok_spm_pair_known(const struct le_tok *t, const char *a, size_t na, const char *b, size_t nb);
/* BPE pre-tokenizer: splits cps[0..n) into words; writes the word lengths
 * (in code points) to *words (malloc'ed) and their count to *n_words. */
int tok_bpe_split(int pre, const uint32_t *cps, size_t n, size_t **words, size_t *n_words);

/* Minimum SPM segment length in characters (see le_tok.pairs). */
#define TOK_SPM_SEG_CHARS 1

#endif
