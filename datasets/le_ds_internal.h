/*
 * le_ds_internal: what registry.c tells fetch.c and readers.c about each
 * dataset beyond the public struct le_ds_entry (private to datasets/).
 */
#ifndef LE_DS_INTERNAL_H
#define LE_DS_INTERNAL_H

#include "le_datasets.h"

enum { LE_DS_MAX_SRC = 6, LE_DS_MAX_SPLIT = 3 };

/* One split: its data file (a source, or a member of an archive source) and
 * optionally a labels file (.lst) merged in as "label". */
struct le_ds_split_def {
    const char *split;        /* "validation", "test", "train" */
    int src;                  /* index into sources */
    const char *member;       /* member inside the archive, or NULL */
    int label_src;            /* -1: no label file */
    const char *label_member; /* member inside the archive, or NULL */
    int label_int;            /* labels as integers (PIQA) or strings (SIQA, WinoGrande) */
    const char *member2;      /* a second member whose documents follow (TriviaQA web + wikipedia) */
};

struct le_ds_def {
    struct le_ds_entry e; /* first: le_ds_get returns &def->e */
    const char *dir;      /* cache sub-folder (shared by arc_easy and arc_challenge) */
    const char *reader;   /* "jsonl", "wikitext" or "triviaqa" (one JSON object, documents in "Data") */
    int n_src;
    struct le_ds_source src[LE_DS_MAX_SRC];
    int n_split;
    struct le_ds_split_def split[LE_DS_MAX_SPLIT];
};

const struct le_ds_def *le_ds_def_of(const struct le_ds_entry *e);
/* Makes sure source i is in the cache and matches its digest or pin
 * (downloading unless offline); its path goes to buf. */
int le_ds_ensure_source(const struct le_ds_def *d, int i, const struct le_ds_opts *o, char *buf, size_t n);

#endif
