/*
 * corpus: the training corpora (see le_corpus.h). Brown's documents come
 * from datasets/ (split by document, 395 / 51 / 54); a file corpus is one
 * document per file. Tokenising grows the output buffer geometrically and
 * re-encodes a document only when it did not fit.
 */
#include "le_corpus.h"

#include "le_datasets.h" /* le_brown_* */
#include "le_err.h"      /* le_err_set */
#include "le_fs.h"       /* le_read_file */
#include "le_tok.h"      /* le_tok_encode */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct le_corpus_doc {
    const char *text;
    size_t len;
};

struct le_corpus {
    struct le_brown *brown; /* NULL for a file corpus */
    char *files[2];         /* a file corpus's texts */
    char *name;
    struct le_corpus_doc *docs[2];
    int64_t n[2], bytes[2];
};

static int add_doc(struct le_corpus *c, int split, const char *text, size_t len) {
    struct le_corpus_doc *d = realloc(c->docs[split], sizeof *d * (size_t)(c->n[split] + 1));
    if (!d)
        return le_err_set(LE_ENOMEM, "out of memory");
    c->docs[split] = d;
    d[c->n[split]++] = (struct le_corpus_doc){text, len};
    c->bytes[split] += (int64_t)len;
    return LE_OK;
}

int le_corpus_open(struct le_corpus **out, const char *train_file, const char *valid_file) {
    *out = NULL;
    if (!!train_file != !!valid_file)
        return le_err_set(LE_EINVAL, "a file corpus needs both a training and a validation file");
    struct le_corpus *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(train_file ? train_file : "brown"))) {
        free(c);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    int rc = LE_OK;
    if (train_file) {
        const char *files[2] = {train_file, valid_file};
        for (int s = 0; s < 2 && !rc; s++) {
            size_t n = 0;
            if (!(rc = le_read_file(files[s], &c->files[s], &n)))
                rc = add_doc(c, s, c->files[s], n);
        }
    } else if (!(rc = le_brown_open(&c->brown, NULL))) {
        for (int i = 0; i < le_brown_n_docs(c->brown) && !rc; i++) {
            const struct le_brown_doc *d = le_brown_doc(c->brown, i);
            if (d->split == LE_BROWN_TRAIN || d->split == LE_BROWN_VALID)
                rc = add_doc(c, d->split == LE_BROWN_TRAIN ? LE_CORPUS_TRAIN : LE_CORPUS_VALID, d->text, d->len);
        }
    }
    if (rc) {
        le_corpus_free(c);
        return rc;
    }
    *out = c;
    return LE_OK;
}

void le_corpus_free(struct le_corpus *c) {
    if (!c)
        return;
    le_brown_free(c->brown);
    for (int s = 0; s < 2; s++)
        free(c->files[s]), free(c->docs[s]);
    free(c->name);
    free(c);
}

const char *le_corpus_name(const struct le_corpus *c) { return c->name; }

int64_t le_corpus_n_docs(const struct le_corpus *c, int split) { return c->n[split ? 1 : 0]; }

const char *le_corpus_doc(const struct le_corpus *c, int split, int64_t i, size_t *len) {
    const struct le_corpus_doc *d = &c->docs[split ? 1 : 0][i];
    *len = d->len;
    return d->text;
}

int64_t le_corpus_bytes(const struct le_corpus *c, int split) { return c->bytes[split ? 1 : 0]; }

int le_corpus_tokenize(const struct le_corpus *c, int split, const struct le_tok *t, int32_t **ids, int64_t *n) {
    split = split ? 1 : 0;
    int64_t cap = c->bytes[split] / 2 + 16 * c->n[split] + 16, used = 0;
    int32_t *p = malloc(sizeof *p * (size_t)cap);
    int rc = p ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t i = 0; i < c->n[split] && !rc; i++) {
        const struct le_corpus_doc *d = &c->docs[split][i];
        int64_t k;
        if ((rc = le_tok_encode(t, d->text, d->len, 1, p + used, cap - used, &k)))
            break;
        if (used + k > cap) { /* k is the count it needed: grow and encode again */
            int64_t nc = (used + k) * 2;
            int32_t *np = realloc(p, sizeof *np * (size_t)nc);
            if (!np) {
                rc = le_err_set(LE_ENOMEM, "out of memory");
                break;
            }
            p = np, cap = nc;
            if ((rc = le_tok_encode(t, d->text, d->len, 1, p + used, cap - used, &k)))
                break;
        }
        used += k;
    }
    if (rc) {
        free(p);
        return rc;
    }
    *ids = p, *n = used;
    return LE_OK;
}

int le_corpus_join(const struct le_corpus *c, int split, char **text, size_t *len) {
    split = split ? 1 : 0;
    size_t cap = (size_t)c->bytes[split] + (size_t)c->n[split] + 1, at = 0;
    char *s = malloc(cap);
    if (!s)
        return le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t i = 0; i < c->n[split]; i++) {
        const struct le_corpus_doc *d = &c->docs[split][i];
        memcpy(s + at, d->text, d->len);
        at += d->len;
        if (d->len == 0 || d->text[d->len - 1] != '\n')
            s[at++] = '\n';
    }
    s[at] = 0;
    *text = s, *len = at;
    return LE_OK;
}
