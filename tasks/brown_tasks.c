/*
 * brown_tasks: the built-in tasks on the Brown corpus (datasets/ gives
 * detokenised running text per document and a split by document).
 *
 *   brown        perplexity of the test split, one rolling request per
 *                document (lm-eval's loglikelihood_rolling): word, byte and
 *                token perplexity, bits per byte.
 *   brown-cloze  a held-out sentence's first half (floor(words / 2) words) as
 *                the context and four endings: its own, and the endings of
 *                three other held-out sentences whose endings have about the
 *                same number of words (|difference| <= 1, widened only when
 *                fewer than three exist). Multiple choice, " " delimiter.
 *   brown-swap   minimal pairs: a held-out sentence against the same with two
 *                adjacent alphabetic words (not the first word) swapped;
 *                scored with an empty context (lm-eval's BLiMP layout);
 *                correct when the original is more likely.
 *
 * Sentences: paragraphs are split after '.', '?' or '!' (plus closing
 * quotes/brackets) followed by a space and a capital, except after a known
 * abbreviation, an initial ("J.") or a dotted word ("U.S."). A sentence is
 * used when it is printable ASCII, starts with a capital letter, ends with a
 * terminator and has 10..40 (cloze) or 6..40 (swap) words.
 *
 * Determinism: everything is a function of (corpus, seed). Each sentence
 * draws from its own generator seeded by (seed, sentence index), so an item
 * does not depend on the others; the item order is a seeded shuffle, so
 * --limit n takes a sample spread over all genres. Few-shot pools are built
 * the same way from the train split.
 */
#include "le_tasks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_datasets.h" /* le_brown_* */
#include "le_err.h"      /* le_err_set */
#include "tasks_int.h"   /* le_brown_gen_* */

struct sent {
    const char *s; /* into the document text */
    int len, nwords;
};
struct sents {
    struct sent *v;
    int64_t n, cap;
};

static int sents_add(struct sents *ss, const char *s, int len, int nwords) {
    if (ss->n == ss->cap) {
        int64_t nc = ss->cap ? ss->cap * 2 : 1024;
        struct sent *p = realloc(ss->v, (size_t)nc * sizeof *p);
        if (!p)
            return le_err_set(LE_ENOMEM, "out of memory");
        ss->v = p;
        ss->cap = nc;
    }
    ss->v[ss->n++] = (struct sent){s, len, nwords};
    return LE_OK;
}

static int is_abbrev(const char *w, int len) {
    static const char *ab[] = {"Mr",  "Mrs", "Ms",   "Dr",  "St",   "Jr",  "Sr",  "Mt",  "Gen", "Gov",
                               "Sen", "Rep", "Rev",  "Prof", "Col", "Lt",  "Capt", "Sgt", "Co",  "Inc",
                               "Ltd", "Corp", "vs",  "etc", "Jan", "Feb", "Mar", "Apr", "Aug", "Sept",
                               "Sep", "Oct", "Nov",  "Dec", "No",  "Ft",  "Ave", "Maj", "Adm", "Bros"};
    if (len == 1 && isupper((unsigned char)w[0]))
        return 1;
    if (memchr(w, '.', (size_t)len))
        return 1;
    for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++)
        if ((int)strlen(ab[i]) == len && !memcmp(ab[i], w, (size_t)len))
            return 1;
    return 0;
}

static int count_words(const char *s, int len) {
    int n = 0, in = 0;
    for (int i = 0; i < len; i++) {
        int sp = s[i] == ' ';
        if (!sp && !in)
            n++;
        in = !sp;
    }
    return n;
}

/* A usable sentence: printable ASCII, capital first, terminator last. */
static int sent_ok(const char *s, int len) {
    if (len < 2 || !isupper((unsigned char)s[0]))
        return 0;
    for (int i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    int e = len - 1;
    while (e > 0 && (s[e] == '"' || s[e] == '\'' || s[e] == ')'))
        e--;
    return s[e] == '.' || s[e] == '?' || s[e] == '!';
}

/* Splits one document into sentences of min_w..max_w words. */
static int split_sentences(const char *t, int min_w, int max_w, struct sents *out) {
    const char *p = t;
    while (*p) {
        const char *par_end = strchr(p, '\n');
        if (!par_end)
            par_end = p + strlen(p);
        const char *st = p;
        for (const char *c = p; c < par_end; c++) {
            if (*c != '.' && *c != '?' && *c != '!')
                continue;
            const char *j = c + 1;
            while (j < par_end && (*j == '"' || *j == '\'' || *j == ')'))
                j++;
            if (j >= par_end || *j != ' ' || j + 1 >= par_end)
                continue;
            const char *nx = j + 1;
            if (*nx == '"' && nx + 1 < par_end)
                nx++;
            if (!isupper((unsigned char)*nx))
                continue;
            if (*c == '.') {
                const char *w = c;
                while (w > st && w[-1] != ' ' && w[-1] != '"' && w[-1] != '(')
                    w--;
                if (is_abbrev(w, (int)(c - w)))
                    continue;
            }
            int len = (int)(j - st), nw = count_words(st, len);
            if (nw >= min_w && nw <= max_w && sent_ok(st, len)) {
                int rc = sents_add(out, st, len, nw);
                if (rc)
                    return rc;
            }
            st = j + 1;
            c = j;
        }
        int len = (int)(par_end - st), nw = count_words(st, len);
        if (len > 0 && nw >= min_w && nw <= max_w && sent_ok(st, len)) {
            int rc = sents_add(out, st, len, nw);
            if (rc)
                return rc;
        }
        p = *par_end ? par_end + 1 : par_end;
    }
    return LE_OK;
}

static int split_corpus(const struct le_brown *b, int split, int min_w, int max_w, struct sents *out) {
    int n = le_brown_n_docs(b);
    for (int i = 0; i < n; i++) {
        const struct le_brown_doc *d = le_brown_doc(b, i);
        if (d->split != split)
            continue;
        int rc = split_sentences(d->text, min_w, max_w, out);
        if (rc)
            return rc;
    }
    return LE_OK;
}

static char *dupn(const char *s, int n) {
    char *d = malloc((size_t)n + 1);
    if (d) {
        memcpy(d, s, (size_t)n);
        d[n] = 0;
    }
    return d;
}

static void sent_rng(struct le_rng *g, uint64_t seed, int64_t i) {
    le_rng_seed(g, seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)));
}

/* The seeded order of n items. */
static int64_t *shuffled(int64_t n, uint64_t seed) {
    int64_t *o = malloc((size_t)(n > 0 ? n : 1) * sizeof *o);
    if (!o)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        o[i] = i;
    struct le_rng g;
    le_rng_seed(&g, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)le_rng_below(&g, (uint64_t)i + 1), t = o[i];
        o[i] = o[j];
        o[j] = t;
    }
    return o;
}

static void prompts_free(struct le_prompt *p, int64_t n) {
    for (int64_t i = 0; p && i < n; i++)
        le_prompt_clear(&p[i]);
    free(p);
}

/* Offset of word k (0-based) in s. */
static int word_offset(const char *s, int len, int k) {
    int w = -1, in = 0;
    for (int i = 0; i < len; i++) {
        int sp = s[i] == ' ';
        if (!sp && !in && ++w == k)
            return i;
        in = !sp;
    }
    return len;
}

/* ---- brown-cloze ---- */

static int ending_eq(const struct sents *ss, const int *cut, int64_t a, int64_t b) {
    int la = ss->v[a].len - cut[a], lb = ss->v[b].len - cut[b];
    return la == lb && !memcmp(ss->v[a].s + cut[a], ss->v[b].s + cut[b], (size_t)la);
}

/* Three distractor sentences for sentence i: drawn from the sentences whose
 * ending length is within tol words (sorted[] by ending length, bucket start
 * offsets in start[]), widening tol until three distinct endings are found. */
static int cloze_pick(const struct sents *ss, const int *cut, const int *elen, const int64_t *sorted,
                      const int64_t *start, int maxlen, int64_t i, struct le_rng *g, int64_t pick[3]) {
    for (int tol = 1; tol <= maxlen; tol++) {
        int lo_len = elen[i] - tol < 0 ? 0 : elen[i] - tol, hi_len = elen[i] + tol > maxlen ? maxlen : elen[i] + tol;
        int64_t lo = start[lo_len], c = start[hi_len + 1] - lo;
        if (c < 4)
            continue;
        int got = 0;
        for (int attempt = 0; attempt < 256 && got < 3; attempt++) {
            int64_t j = sorted[lo + (int64_t)le_rng_below(g, (uint64_t)c)];
            int ok = j != i && !ending_eq(ss, cut, i, j);
            for (int q = 0; q < got && ok; q++)
                ok = !ending_eq(ss, cut, pick[q], j);
            if (ok)
                pick[got++] = j;
        }
        if (got == 3)
            return LE_OK;
    }
    return le_err_set(LE_EFORMAT, "brown-cloze: no three distinct distractors for a sentence");
}

static int cloze_build(const struct sents *ss, uint64_t seed, struct le_prompt **out, int64_t *n_out) {
    int64_t n = ss->n;
    int maxlen = 0;
    *out = NULL;
    *n_out = 0;
    if (n < 4)
        return le_err_set(LE_EFORMAT, "brown-cloze: only %lld usable sentences", (long long)n);
    int *cut = malloc((size_t)n * sizeof *cut), *elen = malloc((size_t)n * sizeof *elen);
    int64_t *order = shuffled(n, seed), *sorted = malloc((size_t)n * sizeof *sorted);
    int64_t *start = calloc(64, sizeof *start);
    struct le_prompt *pr = calloc((size_t)n, sizeof *pr);
    int rc = cut && elen && order && sorted && start && pr ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n && !rc; i++) {
        const struct sent *s = &ss->v[i];
        cut[i] = word_offset(s->s, s->len, s->nwords / 2);
        elen[i] = s->nwords - s->nwords / 2;
        if (elen[i] > maxlen)
            maxlen = elen[i];
        start[elen[i] + 1]++; /* counting sort by ending length (< 62 words) */
    }
    for (int l = 1; l < 64 && !rc; l++) /* start[l]: first position of ending length l */
        start[l] += start[l - 1];
    int64_t fill[64];
    memcpy(fill, start, sizeof fill);
    for (int64_t i = 0; i < n && !rc; i++) /* stable: index order within a length */
        sorted[fill[elen[i]]++] = i;
    for (int64_t k = 0; k < n && !rc; k++) {
        int64_t i = order[k], pick[3];
        const struct sent *s = &ss->v[i];
        struct le_rng g;
        sent_rng(&g, seed, i);
        if ((rc = cloze_pick(ss, cut, elen, sorted, start, maxlen, i, &g, pick)))
            break;
        int gold = (int)le_rng_below(&g, 4);
        struct le_prompt *p = &pr[k];
        p->choices = calloc(4, sizeof *p->choices);
        p->n_choices = p->choices ? 4 : 0;
        p->gold = gold;
        int qlen = cut[i];
        while (qlen > 0 && s->s[qlen - 1] == ' ')
            qlen--;
        p->query = dupn(s->s, qlen);
        for (int c = 0, q = 0; c < 4 && p->choices; c++) {
            int64_t j = c == gold ? i : pick[q++];
            p->choices[c] = dupn(ss->v[j].s + cut[j], ss->v[j].len - cut[j]);
        }
        int ok = p->query && p->choices;
        for (int c = 0; ok && c < 4; c++)
            ok = p->choices[c] != NULL;
        if (!ok)
            rc = le_err_set(LE_ENOMEM, "out of memory");
    }
    free(cut);
    free(elen);
    free(order);
    free(sorted);
    free(start);
    if (rc) {
        prompts_free(pr, n);
        return rc;
    }
    *out = pr;
    *n_out = n;
    return LE_OK;
}

/* ---- brown-swap ---- */

static int alpha_word(const char *w, int len) {
    if (len < 1)
        return 0;
    for (int i = 0; i < len; i++)
        if (!isalpha((unsigned char)w[i]))
            return 0;
    return 1;
}

static int swap_build(const struct sents *ss, uint64_t seed, struct le_prompt **out, int64_t *n_out) {
    int64_t n = ss->n, m = 0;
    *out = NULL;
    *n_out = 0;
    struct le_prompt *pr = calloc((size_t)(n > 0 ? n : 1), sizeof *pr);
    int64_t *order = shuffled(n, seed);
    int rc = pr && order ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t k = 0; k < n && !rc; k++) {
        int64_t i = order[k];
        const struct sent *s = &ss->v[i];
        int wo[64], wl[64], nw = 0;
        for (int a = 0; a < s->len && nw < 64;) {
            while (a < s->len && s->s[a] == ' ')
                a++;
            int e = a;
            while (e < s->len && s->s[e] != ' ')
                e++;
            if (e > a) {
                wo[nw] = a;
                wl[nw++] = e - a;
            }
            a = e;
        }
        int cand[64], nc = 0;
        for (int w = 1; w + 1 < nw; w++)
            if (alpha_word(s->s + wo[w], wl[w]) && alpha_word(s->s + wo[w + 1], wl[w + 1]) &&
                (wl[w] != wl[w + 1] || strncasecmp(s->s + wo[w], s->s + wo[w + 1], (size_t)wl[w])))
                cand[nc++] = w;
        if (nc == 0)
            continue;
        struct le_rng g;
        sent_rng(&g, seed, i);
        int w = cand[le_rng_below(&g, (uint64_t)nc)];
        struct le_prompt *p = &pr[m++];
        p->choices = calloc(2, sizeof *p->choices);
        p->n_choices = p->choices ? 2 : 0;
        p->gold = 0;
        p->query = dupn("", 0);
        char *sw = dupn(s->s, s->len);
        if (sw) { /* "A B" -> "B A" in place: same length */
            int a = wo[w], la = wl[w], lb = wl[w + 1];
            memcpy(sw + a, s->s + wo[w + 1], (size_t)lb);
            sw[a + lb] = ' ';
            memcpy(sw + a + lb + 1, s->s + a, (size_t)la);
        }
        if (p->choices) {
            p->choices[0] = dupn(s->s, s->len);
            p->choices[1] = sw;
        } else
            free(sw);
        if (!p->query || !p->choices || !p->choices[0] || !p->choices[1])
            rc = le_err_set(LE_ENOMEM, "out of memory");
    }
    free(order);
    if (!rc && m < 1)
        rc = le_err_set(LE_EFORMAT, "brown-swap: no usable sentences");
    if (rc) {
        prompts_free(pr, n);
        return rc;
    }
    *out = pr;
    *n_out = m;
    return LE_OK;
}

/* ---- generators (le_task_info.generate) ---- */

int le_brown_gen_ppl(const struct le_task_opts *o, struct le_prompt **eval, int64_t *n_eval,
                     struct le_prompt **pool, int64_t *n_pool) {
    struct le_brown *b = NULL;
    *eval = *pool = NULL;
    *n_eval = *n_pool = 0;
    int rc = le_brown_open(&b, o->brown_archive);
    if (rc)
        return rc;
    int n = le_brown_n_docs(b), m = 0;
    struct le_prompt *pr = calloc((size_t)n, sizeof *pr);
    if (!pr)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        const struct le_brown_doc *d = le_brown_doc(b, i);
        if (d->split != LE_BROWN_TEST)
            continue;
        pr[m].gold = -1;
        if (!(pr[m++].query = dupn(d->text, (int)d->len)))
            rc = le_err_set(LE_ENOMEM, "out of memory");
    }
    le_brown_free(b);
    if (rc) {
        prompts_free(pr, m);
        return rc;
    }
    *eval = pr;
    *n_eval = m;
    return LE_OK;
}

typedef int (*build_fn)(const struct sents *, uint64_t, struct le_prompt **, int64_t *);

static int gen_sentences(const struct le_task_opts *o, int min_w, build_fn build, struct le_prompt **eval,
                         int64_t *n_eval, struct le_prompt **pool, int64_t *n_pool) {
    struct le_brown *b = NULL;
    struct sents test = {0}, train = {0};
    *eval = *pool = NULL;
    *n_eval = *n_pool = 0;
    int rc = le_brown_open(&b, o->brown_archive);
    if (rc)
        return rc;
    rc = split_corpus(b, LE_BROWN_TEST, min_w, 40, &test);
    if (!rc)
        rc = build(&test, o->seed, eval, n_eval);
    if (!rc && o->num_fewshot > 0) {
        rc = split_corpus(b, LE_BROWN_TRAIN, min_w, 40, &train);
        if (!rc)
            rc = build(&train, o->seed, pool, n_pool);
        if (rc) {
            prompts_free(*eval, *n_eval);
            *eval = NULL;
            *n_eval = 0;
        }
    }
    free(test.v);
    free(train.v);
    le_brown_free(b);
    return rc;
}

int le_brown_gen_cloze(const struct le_task_opts *o, struct le_prompt **eval, int64_t *n_eval,
                       struct le_prompt **pool, int64_t *n_pool) {
    return gen_sentences(o, 10, cloze_build, eval, n_eval, pool, n_pool);
}

int le_brown_gen_swap(const struct le_task_opts *o, struct le_prompt **eval, int64_t *n_eval,
                      struct le_prompt **pool, int64_t *n_pool) {
    return gen_sentences(o, 6, swap_build, eval, n_eval, pool, n_pool);
}
