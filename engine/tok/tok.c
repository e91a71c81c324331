/*
 * tok: the tokenizer object -- construction from arrays, the string tables,
 * the merge heap, user-defined-token partitioning, encode dispatch, and
 * token -> text. The algorithms live in tok_spm.c (SentencePiece BPE) and
 * tok_bpe.c (byte-level BPE); reading GGUF metadata in tok_gguf.c.
 *
 * Everything follows llama.cpp's src/llama-vocab.cpp (facts, not code):
 * text is first cut around user-defined tokens (control and unknown tokens
 * are never matched in text: parse_special = false), each remaining
 * fragment is encoded on its own; SPM prefixes a space to a fragment that
 * starts the text or follows a special token.
 */
#include "le_tok.h"

#include "le_err.h"
#include "tok_int.h"

#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* malloc, free, qsort */
#include <string.h>

/* ---- String tables ---------------------------------------------------- */

uint64_t tok_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

int tok_strtab_build(struct tok_strtab *st, int32_t n, const char *const *s, const uint32_t *len, int last_wins) {
    memset(st, 0, sizeof *st);
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += len ? len[i] : strlen(s[i]);
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n + 16)
        cap *= 2;
    st->blob = malloc(total + 1);
    st->off = malloc(((size_t)n + 1) * sizeof *st->off);
    st->len = malloc(((size_t)n + 1) * sizeof *st->len);
    st->slot = malloc((size_t)cap * sizeof *st->slot);
    if (!st->blob || !st->off || !st->len || !st->slot) {
        tok_strtab_free(st);
        return le_err_set(LE_ENOMEM, "out of memory building a token table (%d strings)", (int)n);
    }
    st->mask = cap - 1;
    memset(st->slot, 0xFF, (size_t)cap * sizeof *st->slot);
    uint64_t pos = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t l = len ? len[i] : (uint32_t)strlen(s[i]);
        memcpy(st->blob + pos, s[i], l);
        st->off[i] = pos;
        st->len[i] = l;
        pos += l;
        st->n = i + 1;
        uint32_t h = (uint32_t)tok_hash(s[i], l) & st->mask;
        for (;; h = (h + 1) & st->mask) {
            int32_t j = st->slot[h];
            if (j < 0) {
                st->slot[h] = i;
                break;
            }
            if (st->len[j] == l && memcmp(st->blob + st->off[j], s[i], l) == 0) {
                if (last_wins)
                    st->slot[h] = i;
                break;
            }
        }
    }
    return LE_OK;
}

void tok_strtab_free(struct tok_strtab *st) {
    free(st->blob);
    free(st->off);
    free(st->len);
    free(st->slot);
    memset(st, 0, sizeof *st);
}

int32_t tok_strtab_find(const struct tok_strtab *st, const char *s, size_t len) {
    if (!st->slot)
        return -1;
    uint32_t h = (uint32_t)tok_hash(s, len) & st->mask;
    for (;; h = (h + 1) & st->mask) {
        int32_t j = st->slot[h];
        if (j < 0)
            return -1;
        if (st->len[j] == len && memcmp(st->blob + st->off[j], s, len) == 0)
            return j;
    }
}

/* ---- Memo ------------------------------------------------------------ */

const int32_t *tok_memo_get(const struct tok_memo *m, const char *key, size_t len, uint32_t *n) {
    if (!m->slot || len > TOK_MEMO_MAX_KEY)
        return NULL;
    uint32_t h = (uint32_t)tok_hash(key, len) & m->mask;
    for (;; h = (h + 1) & m->mask) {
        const struct tok_memo_slot *s = &m->slot[h];
        if (!s->key)
            return NULL;
        if (s->len == len && memcmp(s->key, key, len) == 0) {
            *n = s->n_ids;
            return m->ids + s->at;
        }
    }
}

static int memo_grow(struct tok_memo *m) {
    uint32_t cap = m->slot ? (m->mask + 1) * 2 : 1024;
    struct tok_memo_slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -1;
    for (uint32_t i = 0; m->slot && i <= m->mask; i++) {
        if (!m->slot[i].key)
            continue;
        uint32_t h = (uint32_t)tok_hash(m->slot[i].key, m->slot[i].len) & (cap - 1);
        while (ns[h].key)
            h = (h + 1) & (cap - 1);
        ns[h] = m->slot[i];
    }
    free(m->slot);
    m->slot = ns;
    m->mask = cap - 1;
    return 0;
}

void tok_memo_put(struct tok_memo *m, const char *key, size_t len, const int32_t *ids, uint32_t n) {
    if (len > TOK_MEMO_MAX_KEY)
        return;
    if ((!m->slot || 2 * (m->used + 1) > m->mask + 1) && memo_grow(m))
        return;
    if (m->n_ids + n > m->cap_ids) {
        uint64_t nc = m->cap_ids ? m->cap_ids * 2 : 4096;
        while (nc < m->n_ids + n)
            nc *= 2;
        int32_t *ni = realloc(m->ids, nc * sizeof *ni);
        if (!ni)
            return;
        m->ids = ni;
        m->cap_ids = nc;
    }
    uint32_t h = (uint32_t)tok_hash(key, len) & m->mask;
    while (m->slot[h].key) {
        if (m->slot[h].len == len && memcmp(m->slot[h].key, key, len) == 0)
            return;
        h = (h + 1) & m->mask;
    }
    if (n > 0)
        memcpy(m->ids + m->n_ids, ids, n * sizeof *ids);
    m->slot[h] = (struct tok_memo_slot){key, (uint32_t)len, n, m->n_ids};
    m->n_ids += n;
    m->used++;
}

void tok_memo_free(struct tok_memo *m) {
    free(m->slot);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

/* ---- Merge heap ------------------------------------------------------- */

static int bigram_before(const struct tok_bigram *a, const struct tok_bigram *b) {
    return a->pri > b->pri || (a->pri == b->pri && a->left < b->left);
}

int tok_heap_push(struct tok_heap *h, struct tok_bigram b) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        struct tok_bigram *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv)
            return le_err_set(LE_ENOMEM, "out of memory in the tokenizer");
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&b, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return LE_OK;
}

struct tok_bigram tok_heap_pop(struct tok_heap *h) {
    struct tok_bigram top = h->v[0];
    struct tok_bigram last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && bigram_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!bigram_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n > 0)
        h->v[i] = last;
    return top;
}

int32_t tok_syms_split(const char *s, size_t n, struct tok_sym *sym) {
    int32_t count = 0;
    for (size_t off = 0; off < n;) {
        size_t cl = tok_utf8_len((unsigned char)s[off]);
        if (cl > n - off)
            cl = n - off;
        struct tok_sym *y = &sym[count];
        y->off = (uint32_t)off;
        y->n = (uint32_t)cl;
        y->prev = count - 1;
        off += cl;
        y->next = off == n ? -1 : count + 1;
        count++;
    }
    return count;
}

/* ---- Construction ----------------------------------------------------- */

void le_tok_params_init(struct le_tok_params *p, int kind) {
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->add_eos = 0;
    if (kind == LE_TOK_SPM) {
        p->bos = 1, p->eos = 2, p->unk = 0;
        p->add_bos = 1;
        p->add_space_prefix = 1;
    } else {
        p->bos = 11, p->eos = 11, p->unk = -1;
        p->add_bos = -1; /* the pre-tokenizer's default */
        p->pre = "default";
    }
}

/* llama.cpp's pre-tokenizer names we implement, with their flags. */
static int pre_lookup(const char *pre, int *kind, int *ignore_merges, int *add_bos) {
    static const char *const gpt2[] = {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                                       "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "mpt", "olmo",
                                       "jais", "trillion", "granite-docling"};
    static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
                                         "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"};
    *ignore_merges = 0;
    *add_bos = 0;
    if (!pre || !pre[0] || strcmp(pre, "default") == 0) {
        *kind = TOK_PRE_DEFAULT;
        return 0;
    }
    for (size_t i = 0; i < sizeof gpt2 / sizeof gpt2[0]; i++)
        if (strcmp(pre, gpt2[i]) == 0) {
            *kind = TOK_PRE_GPT2;
            return 0;
        }
    for (size_t i = 0; i < sizeof llama3 / sizeof llama3[0]; i++)
        if (strcmp(pre, llama3[i]) == 0) {
            *kind = TOK_PRE_LLAMA3;
            *ignore_merges = 1;
            *add_bos = 1;
            return 0;
        }
    if (strcmp(pre, "dbrx") == 0 || strcmp(pre, "smaug-bpe") == 0) {
        *kind = TOK_PRE_LLAMA3;
        return 0;
    }
    return -1;
}

static int cmp_user(const void *a, const void *b, void *ctx) {
    const struct le_tok *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = t->vocab.len[x], ly = t->vocab.len[y];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Packs two characters (<= 4 bytes each) into a pair-set key. */
static uint64_t pair_key(const char *a, size_t na, const char *b, size_t nb) {
    uint32_t x = 0, y = 0;
    memcpy(&x, a, na > 4 ? 4 : na);
    memcpy(&y, b, nb > 4 ? 4 : nb);
    return ((uint64_t)x << 32 | y) + (uint64_t)(na * 5 + nb);
}

static int pairs_insert(struct le_tok *t, uint64_t key) {
    uint64_t k = key ? key : 1; /* 0 marks an empty slot */
    uint32_t h = (uint32_t)(k * 0x9E3779B97F4A7C15ull >> 32) & t->pair_mask;
    for (;; h = (h + 1) & t->pair_mask) {
        if (t->pairs[h] == k)
            return 0;
        if (t->pairs[h] == 0) {
            t->pairs[h] = k;
            return 1;
        }
    }
}

int tok_spm_pair_known(const struct le_tok *t, const char *a, size_t na, const char *b, size_t nb) {
    uint64_t k = pair_key(a, na, b, nb);
    k = k ? k : 1;
    uint32_t h = (uint32_t)(k * 0x9E3779B97F4A7C15ull >> 32) & t->pair_mask;
    for (;; h = (h + 1) & t->pair_mask) {
        if (t->pairs[h] == k)
            return 1;
        if (t->pairs[h] == 0)
            return 0;
    }
}

/* Every adjacent character pair inside every token of two or more
 * characters (characters split as the SPM encoder splits text). */
static size_t n_chars(const char *s, size_t len) {
    size_t n = 0;
    for (size_t o = 0; o < len; n++)
        o += tok_utf8_len((unsigned char)s[o]);
    return n;
}

static int build_pairs(struct le_tok *t) {
    uint64_t n = 0; /* an upper bound on the number of pairs */
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint32_t len;
        const char *s = tok_strtab_str(&t->vocab, i, &len);
        size_t c = n_chars(s, len);
        n += c > 1 ? c - 1 : 0;
    }
    uint32_t cap = 64;
    while (cap < 2 * n + 64)
        cap *= 2;
    t->pairs = calloc(cap, sizeof *t->pairs);
    if (!t->pairs)
        return le_err_set(LE_ENOMEM, "out of memory building the tokenizer");
    t->pair_mask = cap - 1;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint32_t len;
        const char *s = tok_strtab_str(&t->vocab, i, &len);
        size_t prev_off = 0, prev_n = 0;
        for (size_t o = 0; o < len;) {
            size_t cn = tok_utf8_len((unsigned char)s[o]);
            if (cn > len - o)
                cn = len - o;
            if (prev_n)
                pairs_insert(t, pair_key(s + prev_off, prev_n, s + o, cn));
            prev_off = o, prev_n = cn;
            o += cn;
        }
    }
    return LE_OK;
}

static int32_t find_text(const struct le_tok *t, const char *s) {
    return tok_strtab_find(&t->vocab, s, strlen(s));
}

static void build_byte_tokens(struct le_tok *t) {
    for (int b = 0; b < 256; b++) {
        char hex[8], one[1] = {(char)b}, u[4];
        int32_t id = -1;
        if (t->kind == LE_TOK_SPM) {
            snprintf(hex, sizeof hex, "<0x%02X>", b);
            id = find_text(t, hex);
            if (id < 0)
                id = tok_strtab_find(&t->vocab, one, 1);
        } else {
            id = tok_strtab_find(&t->vocab, u, (size_t)le_utf8_encode(tok_byte_to_cpt((uint8_t)b), u));
        }
        t->byte_tok[b] = id;
    }
}

static int build_vocab(struct le_tok *t, const struct le_tok_params *p) {
    /* llama.cpp renames empty tokens "[EMPTY_<id>]". */
    const char **s = malloc((size_t)p->n_vocab * sizeof *s);
    uint32_t *len = malloc((size_t)p->n_vocab * sizeof *len);
    char *names = calloc((size_t)p->n_vocab, 24);
    int rc = LE_OK;
    if (!s || !len || !names) {
        rc = le_err_set(LE_ENOMEM, "out of memory building the tokenizer");
        goto done;
    }
    for (int32_t i = 0; i < p->n_vocab; i++) {
        s[i] = p->tokens[i];
        len[i] = p->token_lens ? p->token_lens[i] : (uint32_t)strlen(p->tokens[i]);
        if (len[i] == 0) {
            char *nm = names + (size_t)i * 24;
            len[i] = (uint32_t)snprintf(nm, 24, "[EMPTY_%d]", (int)i);
            s[i] = nm;
        }
    }
    rc = tok_strtab_build(&t->vocab, p->n_vocab, s, len, 1);
done:
    free(s);
    free(len);
    free(names);
    return rc;
}

static int build_merges(struct le_tok *t, const struct le_tok_params *p) {
    if (p->n_merges <= 0)
        return LE_OK;
    if (p->n_merges > INT32_MAX / 2)
        return le_err_set(LE_EFORMAT, "too many BPE merges (%lld)", (long long)p->n_merges);
    /* Keyed by the merge string itself; one without a space after its
     * first byte is llama.cpp's ("", "") pair, which never matches. */
    const char **s = malloc((size_t)p->n_merges * sizeof *s);
    uint32_t *len = malloc((size_t)p->n_merges * sizeof *len);
    if (!s || !len) {
        free(s);
        free(len);
        return le_err_set(LE_ENOMEM, "out of memory reading BPE merges");
    }
    for (int64_t i = 0; i < p->n_merges; i++) {
        s[i] = p->merges[i];
        len[i] = p->merge_lens ? p->merge_lens[i] : (uint32_t)strlen(p->merges[i]);
        if (len[i] < 2 || !memchr(s[i] + 1, ' ', len[i] - 1)) {
            s[i] = " ";
            len[i] = 1;
        }
    }
    int rc = tok_strtab_build(&t->merges, (int32_t)p->n_merges, s, len, 0);
    free(s);
    free(len);
    return rc;
}

int le_tok_new(struct le_tok **out, const struct le_tok_params *p) {
    *out = NULL;
    if (p->kind != LE_TOK_SPM && p->kind != LE_TOK_BPE)
        return le_err_set(LE_EINVAL, "tokenizer kind %d is not SPM or BPE", p->kind);
    if (p->n_vocab <= 0 || !p->tokens)
        return le_err_set(LE_EFORMAT, "tokenizer has no tokens");
    struct le_tok *t = calloc(1, sizeof *t);
    if (!t)
        return le_err_set(LE_ENOMEM, "out of memory building the tokenizer");
    int rc = LE_OK;
    t->kind = p->kind;
    t->n_vocab = p->n_vocab;
    int pre_bos = 0;
    if (p->kind == LE_TOK_BPE && pre_lookup(p->pre, &t->pre, &t->ignore_merges, &pre_bos) != 0) {
        rc = le_err_set(LE_EUNSUP, "unsupported BPE pre-tokenizer '%s'", p->pre);
        goto fail;
    }
    t->add_bos = p->add_bos >= 0 ? p->add_bos != 0 : pre_bos;
    t->add_eos = p->add_eos != 0;
    t->add_space_prefix = p->kind == LE_TOK_SPM ? p->add_space_prefix != 0 : 0;
    t->score = malloc((size_t)p->n_vocab * sizeof *t->score);
    t->type = malloc((size_t)p->n_vocab);
    if (!t->score || !t->type) {
        rc = le_err_set(LE_ENOMEM, "out of memory building the tokenizer");
        goto fail;
    }
    for (int32_t i = 0; i < p->n_vocab; i++) {
        t->score[i] = p->scores ? p->scores[i] : 0.0f;
        int ty = p->types ? p->types[i] : TOK_T_NORMAL;
        t->type[i] = (uint8_t)(ty >= TOK_T_NORMAL && ty <= TOK_T_BYTE ? ty : TOK_T_UNDEFINED);
    }
    if ((rc = build_vocab(t, p)) || (rc = build_merges(t, p)))
        goto fail;
    if (p->kind == LE_TOK_BPE && t->merges.n == 0) {
        rc = le_err_set(LE_EFORMAT, "BPE tokenizer has no merges");
        goto fail;
    }
    t->bos = p->bos >= 0 && p->bos < p->n_vocab ? p->bos : -1;
    t->eos = p->eos >= 0 && p->eos < p->n_vocab ? p->eos : -1;
    t->unk = p->unk >= 0 && p->unk < p->n_vocab ? p->unk : -1;
    build_byte_tokens(t);
    t->user = malloc((size_t)p->n_vocab * sizeof *t->user);
    if (!t->user) {
        rc = le_err_set(LE_ENOMEM, "out of memory building the tokenizer");
        goto fail;
    }
    for (int32_t i = 0; i < p->n_vocab; i++)
        if (t->type[i] == TOK_T_USER_DEFINED)
            t->user[t->n_user++] = i;
    qsort_r(t->user, (size_t)t->n_user, sizeof *t->user, cmp_user, t);
    if (t->kind == LE_TOK_SPM && (rc = build_pairs(t)))
        goto fail;
    *out = t;
    return LE_OK;
fail:
    le_tok_free(t);
    return rc;
}

int le_tok_new_spm(struct le_tok **out, int32_t n_vocab, const char *const *tokens, const float *scores,
                   const int32_t *types, int32_t bos, int32_t eos, int32_t unk) {
    struct le_tok_params p;
    le_tok_params_init(&p, LE_TOK_SPM);
    p.n_vocab = n_vocab;
    p.tokens = tokens;
    p.scores = scores;
    p.types = types;
    p.bos = bos, p.eos = eos, p.unk = unk;
    return le_tok_new(out, &p);
}

void le_tok_free(struct le_tok *t) {
    if (!t)
        return;
    tok_strtab_free(&t->vocab);
    tok_strtab_free(&t->merges);
    free(t->score);
    free(t->type);
    free(t->user);
    free(t->pairs);
    free(t);
}

/* ---- Accessors -------------------------------------------------------- */

int le_tok_kind(const struct le_tok *t) { return t->kind; }
int32_t le_tok_n_vocab(const struct le_tok *t) { return t->n_vocab; }
int32_t le_tok_bos(const struct le_tok *t) { return t->bos; }
int32_t le_tok_eos(const struct le_tok *t) { return t->eos; }
int32_t le_tok_unk(const struct le_tok *t) { return t->unk; }
int le_tok_add_bos(const struct le_tok *t) { return t->add_bos; }
int le_tok_add_eos(const struct le_tok *t) { return t->add_eos; }
int le_tok_add_space_prefix(const struct le_tok *t) { return t->add_space_prefix; }

int le_tok_type(const struct le_tok *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->type[id] : -1;
}

float le_tok_score(const struct le_tok *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->score[id] : 0.0f;
}

const char *le_tok_text(const struct le_tok *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    uint32_t l;
    const char *s = tok_strtab_str(&t->vocab, id, &l);
    if (len)
        *len = l;
    return s;
}

int32_t le_tok_find(const struct le_tok *t, const char *text, size_t len) {
    return tok_strtab_find(&t->vocab, text, len);
}

/* ---- Encoding --------------------------------------------------------- */

static int encode_fragment(const struct le_tok *t, const char *s, size_t n, int after_special,
                           struct tok_out *o) {
    int memo = n >= TOK_MEMO_MIN_TEXT;
    if (t->kind == LE_TOK_SPM)
        return tok_spm_encode(t, s, n, t->add_space_prefix && after_special, TOK_SPM_SEG_CHARS, memo, o);
    return tok_bpe_encode(t, s, n, memo, o);
}

/* First occurrence of any user-defined token in s[from..n): llama.cpp tries
 * the tokens longest first, each over the whole text, so a longer token
 * wins wherever it occurs; we reproduce that by partitioning recursively. */
static int encode_span(const struct le_tok *t, int32_t k, const char *s, size_t n, int *after_special,
                       struct tok_out *o) {
    if (n == 0)
        return LE_OK;
    if (k >= t->n_user) {
        int rc = encode_fragment(t, s, n, *after_special, o);
        *after_special = 0;
        return rc;
    }
    uint32_t tl;
    const char *tt = tok_strtab_str(&t->vocab, t->user[k], &tl);
    size_t pos = 0;
    while (pos < n) {
        const char *m = tl ? memmem(s + pos, n - pos, tt, tl) : NULL;
        size_t end = m ? (size_t)(m - s) : n;
        int rc = encode_span(t, k + 1, s + pos, end - pos, after_special, o);
        if (rc)
            return rc;
        if (!m)
            break;
        tok_emit(o, t->user[k]);
        *after_special = 1;
        pos = end + tl;
    }
    return LE_OK;
}

int le_tok_encode(const struct le_tok *t, const char *text, size_t len, int add_bos, int32_t *out, int64_t cap,
                  int64_t *n_out) {
    struct tok_out o = {out, out ? cap : 0, 0};
    *n_out = 0;
    if (!text && len)
        return le_err_set(LE_EINVAL, "tokenize: NULL text");
    if (add_bos && t->bos >= 0)
        tok_emit(&o, t->bos);
    int after_special = 1;
    int rc = encode_span(t, 0, text, len, &after_special, &o);
    *n_out = o.n;
    return rc;
}

/* ---- Decoding --------------------------------------------------------- */

/* Writes src[0..n) at buf+pos when it fits; returns the new position. */
static size_t put(char *buf, size_t cap, size_t pos, const char *src, size_t n) {
    if (pos < cap)
        memcpy(buf + pos, src, n <= cap - pos ? n : cap - pos);
    return pos + n;
}

static size_t piece_into(const struct le_tok *t, int32_t id, int special, char *buf, size_t cap) {
    int ty = t->type[id];
    uint32_t len;
    const char *s = tok_strtab_str(&t->vocab, id, &len);
    if (ty == TOK_T_CONTROL || ty == TOK_T_UNKNOWN || ty == TOK_T_USER_DEFINED) {
        if (!special && ty != TOK_T_USER_DEFINED)
            return 0;
        return put(buf, cap, 0, s, len);
    }
    if (ty == TOK_T_BYTE) {
        char hex[3] = {len > 3 ? s[3] : '0', len > 4 ? s[4] : '0', 0};
        char b = (char)strtol(hex, NULL, 16);
        return put(buf, cap, 0, &b, 1);
    }
    if (ty != TOK_T_NORMAL)
        return 0;
    size_t pos = 0;
    if (t->kind == LE_TOK_SPM) {
        for (uint32_t i = 0; i < len;) {
            if (i + 3 <= len && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                pos = put(buf, cap, pos, " ", 1);
                i += 3;
            } else {
                pos = put(buf, cap, pos, s + i, 1);
                i++;
            }
        }
        return pos;
    }
    /* BPE: each code point (bad bytes read as U+FFFD) back to its byte. */
    for (uint32_t i = 0; i < len;) {
        size_t used;
        uint32_t cp = tok_utf8_next(s + i, len - i, &used);
        int b = tok_cpt_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            pos = put(buf, cap, pos, &c, 1);
        } else {
            /* llama.cpp: "[UNK_BYTE_0x" + hex of the char + token text + "]" */
            char u[4], hex[3];
            int cl = le_utf8_encode(cp, u);
            pos = put(buf, cap, pos, "[UNK_BYTE_0x", 12);
            for (int k = 0; k < cl; k++) {
                snprintf(hex, sizeof hex, "%02x", (unsigned char)u[k]);
                pos = put(buf, cap, pos, hex, 2);
            }
            pos = put(buf, cap, pos, s, len);
            pos = put(buf, cap, pos, "]", 1);
        }
        i += (uint32_t)used;
    }
    return pos;
}

int le_tok_piece(const struct le_tok *t, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= t->n_vocab)
        return le_err_set(LE_EINVAL, "token id %d out of range (vocabulary of %d)", (int)id, (int)t->n_vocab);
    size_t n = piece_into(t, id, 1, buf, cap);
    if (n > INT32_MAX)
        return le_err_set(LE_EINVAL, "token %d is too long", (int)id);
    return (int)n;
}

int64_t le_tok_decode(const struct le_tok *t, const int32_t *ids, int64_t n, char *buf, size_t cap) {
    size_t pos = 0;
    int strip = t->add_space_prefix;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return le_err_set(LE_EINVAL, "token id %d out of range (vocabulary of %d)", (int)ids[i],
                              (int)t->n_vocab);
        size_t room = pos < cap ? cap - pos : 0;
        size_t k = piece_into(t, ids[i], 0, room ? buf + pos : buf, room);
        if (k == 0)
            continue;
        if (strip) {
            /* The first text-bearing piece (at pos 0) loses a leading
             * space: render it whole and copy it shifted. */
            strip = 0;
            char stack[64], *tmp = k <= sizeof stack ? stack : malloc(k);
            if (!tmp)
                return le_err_set(LE_ENOMEM, "out of memory decoding tokens");
            piece_into(t, ids[i], 0, tmp, k);
            size_t skip = tmp[0] == ' ';
            put(buf, cap, 0, tmp + skip, k - skip);
            if (tmp != stack)
                free(tmp);
            k -= skip;
        }
        pos += k;
    }
    return (int64_t)pos;
}
