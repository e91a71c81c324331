/*
 * tok_spm: SentencePiece-BPE encoding ("llama" vocabularies) exactly as
 * llama.cpp's llm_tokenizer_spm_session does it:
 *   - optional space prefix, then every ' ' becomes U+2581;
 *   - the text is cut into "characters" by UTF-8 lead byte alone (a bad
 *     lead or stray continuation byte is a 1-byte character, a truncated
 *     sequence is shortened at the end of the text);
 *   - every adjacent pair whose concatenation is a vocabulary piece is
 *     queued with that piece's score; the queue pops the highest score,
 *     leftmost (smallest left index) first; a popped pair whose symbols
 *     changed since it was queued is skipped; merging queues the two new
 *     neighbour pairs;
 *   - each final symbol is its piece's id, or else one byte-fallback token
 *     per byte (<0xXX>, else the 1-byte piece, else UNK).
 *
 * Workload: whole corpora (the Brown corpus is 6 MB). Texts are cut into
 * independent segments of at least TOK_SPM_SEG_CHARS characters, only
 * between two characters that occur adjacent in no vocabulary piece: no
 * merge can ever cross such a cut, and the pop order inside a segment is
 * the global order restricted to it, so the result is the same as one pass
 * over the whole text (tests compare both). Segments are then mostly
 * single words, which repeat: each call memoizes short segments' ids.
 */
#include "le_err.h"
#include "le_tok.h"
#include "tok_int.h"

#include <stdlib.h>
#include <string.h>

struct spm_work {
    struct tok_sym *sym;
    size_t cap;
    struct tok_heap heap;
    struct tok_memo memo;
    int use_memo;
};

static int try_add(const struct le_tok *t, const char *s, struct spm_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0)
        return LE_OK;
    uint32_t size = w->sym[l].n + w->sym[r].n;
    int32_t id = tok_strtab_find(&t->vocab, s + w->sym[l].off, size);
    if (id < 0)
        return LE_OK;
    struct tok_bigram b = {t->score[id], l, r, size};
    return tok_heap_push(&w->heap, b);
}

static void emit_symbol(const struct le_tok *t, const char *s, uint32_t n, struct tok_out *o) {
    int32_t id = tok_strtab_find(&t->vocab, s, n);
    if (id >= 0) {
        tok_emit(o, id);
        return;
    }
    for (uint32_t j = 0; j < n; j++) {
        int32_t b = t->byte_tok[(unsigned char)s[j]];
        if (b < 0)
            b = t->unk;
        if (b >= 0)
            tok_emit(o, b);
    }
}

/* One independent segment s[0..n), merged. */
static int merge_segment(const struct le_tok *t, const char *s, size_t n, struct spm_work *w,
                          struct tok_out *o) {
    if (n == 0)
        return LE_OK;
    if (n > w->cap) {
        struct tok_sym *ns = realloc(w->sym, n * sizeof *ns);
        if (!ns)
            return le_err_set(LE_ENOMEM, "out of memory in the tokenizer");
        w->sym = ns;
        w->cap = n;
    }
    int32_t count = tok_syms_split(s, n, w->sym);
    w->heap.n = 0;
    int rc;
    for (int32_t i = 1; i < count; i++)
        if ((rc = try_add(t, s, w, i - 1, i)))
            return rc;
    while (w->heap.n > 0) {
        struct tok_bigram b = tok_heap_pop(&w->heap);
        struct tok_sym *L = &w->sym[b.left], *R = &w->sym[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size)
            continue; /* stale: one side changed since it was queued */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0)
            w->sym[R->next].prev = b.left;
        if ((rc = try_add(t, s, w, L->prev, b.left)) || (rc = try_add(t, s, w, b.left, L->next)))
            return rc;
    }
    for (int32_t i = 0; i != -1; i = w->sym[i].next)
        emit_symbol(t, s + w->sym[i].off, w->sym[i].n, o);
    return LE_OK;
}

/* One independent segment, from the memo when it was seen before. */
static int encode_segment(const struct le_tok *t, const char *s, size_t n, struct spm_work *w,
                          struct tok_out *o) {
    if (n > TOK_MEMO_MAX_KEY || !w->use_memo)
        return merge_segment(t, s, n, w, o);
    uint32_t k;
    const int32_t *hit = tok_memo_get(&w->memo, s, n, &k);
    if (hit) {
        for (uint32_t i = 0; i < k; i++)
            tok_emit(o, hit[i]);
        return LE_OK;
    }
    int32_t local[TOK_MEMO_MAX_KEY];
    struct tok_out lo = {local, TOK_MEMO_MAX_KEY, 0};
    int rc = merge_segment(t, s, n, w, &lo);
    if (rc)
        return rc;
    for (int64_t i = 0; i < lo.n; i++)
        tok_emit(o, local[i]);
    tok_memo_put(&w->memo, s, n, local, (uint32_t)lo.n);
    return LE_OK;
}

/* Escapes ' ' -> U+2581 (with an optional leading one) into a new buffer. */
static char *escape(const char *text, size_t len, int space_prefix, size_t *n_out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == ' ' ? 3 : 1;
    n += space_prefix ? 3 : 0;
    char *e = malloc(n ? n : 1);
    if (!e)
        return NULL;
    size_t k = 0;
    if (space_prefix) {
        memcpy(e, "\xe2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(e + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            e[k++] = text[i];
        }
    }
    *n_out = n;
    return e;
}

int tok_spm_encode(const struct le_tok *t, const char *text, size_t len, int space_prefix, size_t seg_chars,
                   int memo, struct tok_out *o) {
    size_t n;
    if (len > UINT32_MAX / 4)
        return le_err_set(LE_EINVAL, "text too long to tokenize at once (%zu bytes)", len);
    char *s = escape(text, len, space_prefix, &n);
    if (!s)
        return le_err_set(LE_ENOMEM, "out of memory in the tokenizer");
    struct spm_work w = {0};
    w.use_memo = memo;
    int rc = LE_OK;
    size_t start = 0;
    while (start < n && rc == LE_OK) {
        /* Walk characters; after seg_chars of them, cut before the first
         * character that forms no known pair with the one before it. */
        size_t off = start, chars = 0, prev_off = 0, prev_n = 0, end = n;
        while (off < n) {
            size_t cl = tok_utf8_len((unsigned char)s[off]);
            if (cl > n - off)
                cl = n - off;
            if (chars >= seg_chars && !tok_spm_pair_known(t, s + prev_off, prev_n, s + off, cl)) {
                end = off;
                break;
            }
            prev_off = off, prev_n = cl;
            off += cl;
            chars++;
        }
        rc = encode_segment(t, s + start, end - start, &w, o);
        start = end;
    }
    free(w.sym);
    free(w.heap.v);
    tok_memo_free(&w.memo);
    free(s);
    return rc;
}
