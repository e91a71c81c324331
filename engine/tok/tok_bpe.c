/*
 * tok_bpe: byte-level BPE ("gpt2" vocabularies) exactly as llama.cpp's
 * llm_tokenizer_bpe_session and unicode_regex_split do it:
 *   - the text is decoded to code points (each bad byte -> U+FFFD);
 *   - the pre-tokenizer cuts it into words. llama.cpp does not run the
 *     regexes for GPT-2 and LLaMA-3 but hand-written matchers
 *     (unicode_regex_split_custom_gpt2/_llama3) whose corner cases differ
 *     slightly from the regexes; we reproduce the matchers. pre = "default"
 *     is llama.cpp's chain of four splits: runs of ASCII/Unicode
 *     punctuation [\p{P}$+<=>^~|]+, then GPT-2's, then \p{N}+ runs, then
 *     ASCII digit triples;
 *   - each word is re-encoded to UTF-8 and every byte mapped through GPT-2's
 *     bytes_to_unicode; LLaMA-3 takes a word that is itself a token whole
 *     (ignore_merges);
 *   - the word's characters are merged pairwise, lowest merge rank first
 *     (leftmost on ties), skipping stale pairs, as in SPM;
 *   - a final symbol that is not a token falls back to its single bytes'
 *     tokens (those not in the vocabulary are dropped, as in llama.cpp).
 */
#include "le_err.h"
#include "le_tok.h"
#include "tok_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- Pre-tokenizers --------------------------------------------------- */

struct lens {
    size_t *v;
    size_t n, cap;
    int oom;
};

static void lens_push(struct lens *l, size_t x) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        size_t *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            l->oom = 1;
            return;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
}

#define OOR 0xFFFFFFFFu

/* A matcher's view of one segment [ini, end) of cps. */
struct seg {
    const uint32_t *cps;
    size_t ini, end, prev_end;
    struct lens *out;
};

static uint32_t seg_cpt(const struct seg *g, size_t p) { return p >= g->ini && p < g->end ? g->cps[p] : OOR; }
static unsigned seg_flags(const struct seg *g, size_t p) {
    return p >= g->ini && p < g->end ? tok_cpt_flags(g->cps[p]) : 0;
}
/* Ends the current word at end; returns its length (0: nothing pushed). */
static size_t seg_add(struct seg *g, size_t end) {
    size_t len = end - g->prev_end;
    if (len > 0)
        lens_push(g->out, len);
    g->prev_end = end;
    return len;
}

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d (case-insensitive when ci): the match length or 0. */
static size_t contraction(const struct seg *g, size_t pos, int ci) {
    if (seg_cpt(g, pos) != '\'' || pos + 1 >= g->end)
        return 0;
    uint32_t a = seg_cpt(g, pos + 1);
    a = ci ? ascii_lower(a) : a;
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (pos + 2 < g->end) {
        uint32_t b = seg_cpt(g, pos + 2);
        b = ci ? ascii_lower(b) : b;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return 3;
    }
    return 0;
}

#define NOT_WLN(f) (!((f) & (TOK_U_WS | TOK_U_LET | TOK_U_NUM)))

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(struct seg *g) {
    size_t pos = g->ini;
    while (pos < g->end) {
        uint32_t cpt = seg_cpt(g, pos);
        unsigned f = seg_flags(g, pos);
        size_t c = contraction(g, pos, 0);
        if (c) {
            pos += seg_add(g, pos + c);
            continue;
        }
        unsigned f2 = cpt == ' ' ? seg_flags(g, pos + 1) : f;
        unsigned cls = f2 & TOK_U_LET ? TOK_U_LET : f2 & TOK_U_NUM ? TOK_U_NUM : 0;
        if (cls) { /* ?\p{L}+ or ?\p{N}+ */
            pos += cpt == ' ';
            while (f2 & cls)
                f2 = seg_flags(g, ++pos);
            seg_add(g, pos);
            continue;
        }
        if (NOT_WLN(f2) && f2) { /* ?[^\s\p{L}\p{N}]+ */
            pos += cpt == ' ';
            while (NOT_WLN(f2) && f2)
                f2 = seg_flags(g, ++pos);
            seg_add(g, pos);
            continue;
        }
        size_t nws = 0;
        while (seg_flags(g, pos + nws) & TOK_U_WS)
            nws++;
        if (nws > 1 && seg_cpt(g, pos + nws) != OOR) { /* \s+(?!\S) */
            pos += nws - 1;
            seg_add(g, pos);
            continue;
        }
        if (nws > 0) { /* \s+ */
            pos += nws;
            seg_add(g, pos);
            continue;
        }
        seg_add(g, ++pos);
    }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static void split_llama3(struct seg *g) {
    size_t pos = g->ini;
    while (pos < g->end) {
        uint32_t cpt = seg_cpt(g, pos);
        unsigned f = seg_flags(g, pos);
        size_t c = contraction(g, pos, 1);
        if (c) {
            pos += seg_add(g, pos + c);
            continue;
        }
        if (!(cpt == '\r' || cpt == '\n' || (f & TOK_U_NUM)) &&
            ((f & TOK_U_LET) || (seg_flags(g, pos + 1) & TOK_U_LET))) {
            pos++;
            while (seg_flags(g, pos) & TOK_U_LET)
                pos++;
            seg_add(g, pos);
            continue;
        }
        if (f & TOK_U_NUM) {
            size_t ini = pos;
            while (seg_flags(g, pos) & TOK_U_NUM) {
                if (++pos - ini >= 3) {
                    seg_add(g, pos);
                    ini = pos;
                }
            }
            seg_add(g, pos);
            continue;
        }
        unsigned f2 = cpt == ' ' ? seg_flags(g, pos + 1) : f;
        if (NOT_WLN(f2) && f) {
            pos += cpt == ' ';
            while (NOT_WLN(f2) && f2)
                f2 = seg_flags(g, ++pos);
            uint32_t c2 = seg_cpt(g, pos);
            while (c2 == '\r' || c2 == '\n')
                c2 = seg_cpt(g, ++pos);
            seg_add(g, pos);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (seg_flags(g, pos + nws) & TOK_U_WS) {
            uint32_t c2 = seg_cpt(g, pos + nws);
            if (c2 == '\r' || c2 == '\n')
                last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) { /* \s*[\r\n]+ */
            pos = last_rn;
            seg_add(g, pos);
            continue;
        }
        if (nws > 1 && seg_cpt(g, pos + nws) != OOR) {
            pos += nws - 1;
            seg_add(g, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            seg_add(g, pos);
            continue;
        }
        seg_add(g, ++pos);
    }
}

/* [\p{P}\$\+<=>\^~\|] as llama.cpp's collapsed std::regex sees it. */
static int is_default_punct(uint32_t c) {
    if (c < 128)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x5F) ||
               (c >= 0x7B && c <= 0x7E);
    unsigned f = tok_cpt_flags(c);
    return !(f & TOK_U_WS) && (f & 0xFF) == TOK_U_PUNCT;
}

/* \p{N} as the collapsed std::regex sees it. */
static int is_default_num(uint32_t c) {
    if (c < 128)
        return c >= '0' && c <= '9';
    unsigned f = tok_cpt_flags(c);
    return !(f & TOK_U_WS) && (f & 0xFF) == TOK_U_NUM;
}

/* Alternating maximal runs of in(c) / !in(c): a "[class]+" split. */
static void split_runs(struct seg *g, int (*in)(uint32_t)) {
    size_t pos = g->ini;
    while (pos < g->end) {
        int k = in(g->cps[pos]);
        while (pos < g->end && in(g->cps[pos]) == k)
            pos++;
        seg_add(g, pos);
    }
}

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }

/* [0-9][0-9][0-9]: non-overlapping triples, leftmost first. */
static void split_triples(struct seg *g) {
    size_t pos = g->ini;
    while (pos < g->end) {
        if (pos + 2 < g->end && is_digit(g->cps[pos]) && is_digit(g->cps[pos + 1]) && is_digit(g->cps[pos + 2])) {
            seg_add(g, pos);
            pos += 3;
            seg_add(g, pos);
        } else {
            pos++;
        }
    }
    seg_add(g, g->end);
}

enum { ST_GPT2, ST_LLAMA3, ST_PUNCT, ST_NUM, ST_TRIPLES };

/* Applies one split stage to every segment of in; the result in out. */
static void apply_stage(int stage, const uint32_t *cps, const struct lens *in, struct lens *out) {
    size_t start = 0;
    for (size_t i = 0; i < in->n; i++) {
        struct seg g = {cps, start, start + in->v[i], start, out};
        switch (stage) {
        case ST_GPT2: split_gpt2(&g); break;
        case ST_LLAMA3: split_llama3(&g); break;
        case ST_PUNCT: split_runs(&g, is_default_punct); break;
        case ST_NUM: split_runs(&g, is_default_num); break;
        default: split_triples(&g); break;
        }
        start += in->v[i];
    }
}

int tok_bpe_split(int pre, const uint32_t *cps, size_t n, size_t **words, size_t *n_words) {
    static const int chain_default[] = {ST_PUNCT, ST_GPT2, ST_NUM, ST_TRIPLES};
    static const int chain_gpt2[] = {ST_GPT2};
    static const int chain_llama3[] = {ST_LLAMA3};
    const int *chain = pre == TOK_PRE_GPT2 ? chain_gpt2 : pre == TOK_PRE_LLAMA3 ? chain_llama3 : chain_default;
    size_t n_chain = pre == TOK_PRE_DEFAULT ? 4 : 1;
    struct lens a = {0}, b = {0};
    *words = NULL;
    *n_words = 0;
    if (n == 0)
        return LE_OK;
    lens_push(&a, n);
    for (size_t k = 0; k < n_chain && !a.oom; k++) {
        b.n = 0;
        apply_stage(chain[k], cps, &a, &b);
        struct lens t = a;
        a = b;
        b = t;
    }
    free(b.v);
    if (a.oom || b.oom) {
        free(a.v);
        return le_err_set(LE_ENOMEM, "out of memory in the pre-tokenizer");
    }
    *words = a.v;
    *n_words = a.n;
    return LE_OK;
}

/* ---- Merging ---------------------------------------------------------- */

struct bpe_work {
    char *word; /* byte-encoded word */
    size_t word_cap;
    char *key; /* "left right" lookup key */
    size_t key_cap;
    struct tok_sym *sym;
    size_t sym_cap;
    struct tok_heap heap;
    struct tok_memo memo; /* keyed by the word's bytes in the input text */
};

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return LE_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return le_err_set(LE_ENOMEM, "out of memory in the tokenizer");
    *p = np;
    *cap = nc;
    return LE_OK;
}

static int add_bigram(const struct le_tok *t, struct bpe_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0)
        return LE_OK;
    const struct tok_sym *L = &w->sym[l], *R = &w->sym[r];
    size_t kn = L->n + 1 + R->n;
    int rc = grow((void **)&w->key, &w->key_cap, kn, 1);
    if (rc)
        return rc;
    memcpy(w->key, w->word + L->off, L->n);
    w->key[L->n] = ' ';
    memcpy(w->key + L->n + 1, w->word + R->off, R->n);
    int32_t rank = tok_strtab_find(&t->merges, w->key, kn);
    if (rank < 0)
        return LE_OK;
    struct tok_bigram b = {-(double)rank, l, r, L->n + R->n};
    return tok_heap_push(&w->heap, b);
}

/* Merges the byte-encoded word w->word[0..n) and emits its tokens. */
static int merge_word(const struct le_tok *t, struct bpe_work *w, size_t n, struct tok_out *o) {
    if (t->ignore_merges) {
        int32_t id = tok_strtab_find(&t->vocab, w->word, n);
        if (id >= 0) {
            tok_emit(o, id);
            return LE_OK;
        }
    }
    int rc = grow((void **)&w->sym, &w->sym_cap, n, sizeof *w->sym);
    if (rc)
        return rc;
    int32_t count = tok_syms_split(w->word, n, w->sym);
    w->heap.n = 0;
    for (int32_t i = 1; i < count; i++)
        if ((rc = add_bigram(t, w, i - 1, i)))
            return rc;
    while (w->heap.n > 0) {
        struct tok_bigram b = tok_heap_pop(&w->heap);
        struct tok_sym *L = &w->sym[b.left], *R = &w->sym[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size)
            continue; /* stale */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0)
            w->sym[R->next].prev = b.left;
        if ((rc = add_bigram(t, w, L->prev, b.left)) || (rc = add_bigram(t, w, b.left, L->next)))
            return rc;
    }
    for (int32_t i = 0; i < count; i++) {
        const struct tok_sym *y = &w->sym[i];
        if (y->n == 0)
            continue;
        int32_t id = tok_strtab_find(&t->vocab, w->word + y->off, y->n);
        if (id >= 0) {
            tok_emit(o, id);
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t b = tok_strtab_find(&t->vocab, w->word + y->off + j, 1);
            if (b >= 0)
                tok_emit(o, b);
        }
    }
    return LE_OK;
}

int tok_bpe_encode(const struct le_tok *t, const char *text, size_t len, int memo, struct tok_out *o) {
    if (len == 0)
        return LE_OK;
    /* The byte encoding of each byte value, as UTF-8 (1 or 2 bytes). */
    char map[256][2];
    uint8_t map_n[256];
    for (int b = 0; b < 256; b++) {
        char u[4];
        map_n[b] = (uint8_t)le_utf8_encode(tok_byte_to_cpt((uint8_t)b), u);
        memcpy(map[b], u, 2);
    }
    uint32_t *cps = malloc(len * sizeof *cps);
    if (!cps)
        return le_err_set(LE_ENOMEM, "out of memory in the tokenizer");
    size_t ncp = tok_utf8_decode(text, len, cps);
    size_t *words = NULL, n_words = 0;
    int rc = tok_bpe_split(t->pre, cps, ncp, &words, &n_words);
    struct bpe_work w = {0};
    size_t start = 0;
    const char *tp = text, *tend = text + len;
    int use_memo = memo;
    for (size_t i = 0; i < n_words && rc == LE_OK; i++) {
        /* The word's bytes in text (its code points decode from them alone). */
        const char *key = tp;
        for (size_t k = 0; k < words[i]; k++) {
            size_t used;
            tok_utf8_next(tp, (size_t)(tend - tp), &used);
            tp += used;
        }
        size_t key_len = (size_t)(tp - key);
        uint32_t nh;
        const int32_t *hit = use_memo ? tok_memo_get(&w.memo, key, key_len, &nh) : NULL;
        if (hit) {
            for (uint32_t k = 0; k < nh; k++)
                tok_emit(o, hit[k]);
            start += words[i];
            continue;
        }
        /* 4 UTF-8 bytes per code point, 2 bytes per encoded byte. */
        if ((rc = grow((void **)&w.word, &w.word_cap, words[i] * 8, 1)))
            break;
        size_t n = 0;
        for (size_t k = start; k < start + words[i]; k++) {
            char u[4];
            int ul = le_utf8_encode(cps[k], u);
            for (int j = 0; j < ul; j++) {
                unsigned char b = (unsigned char)u[j];
                memcpy(w.word + n, map[b], map_n[b]);
                n += map_n[b];
            }
        }
        if (use_memo && key_len <= TOK_MEMO_MAX_KEY) {
            /* at most 3 UTF-8 bytes per input byte, 2 per encoded byte */
            int32_t local[TOK_MEMO_MAX_KEY * 6];
            struct tok_out lo = {local, TOK_MEMO_MAX_KEY * 6, 0};
            rc = merge_word(t, &w, n, &lo);
            for (int64_t k = 0; k < lo.n && rc == LE_OK; k++)
                tok_emit(o, local[k]);
            if (rc == LE_OK && lo.n <= lo.cap)
                tok_memo_put(&w.memo, key, key_len, local, (uint32_t)lo.n);
        } else {
            rc = merge_word(t, &w, n, o);
        }
        start += words[i];
    }
    free(words);
    free(cps);
    free(w.word);
    free(w.key);
    free(w.sym);
    free(w.heap.v);
    tok_memo_free(&w.memo);
    return rc;
}
