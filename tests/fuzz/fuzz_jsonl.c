/*
 * fuzz_jsonl: libFuzzer target for the dataset readers (datasets/readers.c):
 * JSON Lines, .lst label files merged into the documents, and WikiText's
 * raw text. The first input byte chooses how labels merge (integer or
 * string) and where the input splits into a JSONL part and a label part;
 * the whole input is also read as WikiText. Errors are expected (bad JSON,
 * bad UTF-8, label counts that differ); crashes, leaks and UB are the
 * findings. Built only by scripts/fuzz (clang -fsanitize=fuzzer).
 */
#include "le_datasets.h" /* le_ds_read_jsonl, le_ds_merge_labels, le_ds_read_wikitext */

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int as_int = data[0] & 1;
    size_t split = size > 1 ? 1 + (size_t)(data[0] >> 1) * (size - 1) / 127 : 1;
    const char *jsonl = (const char *)data + 1, *labels = (const char *)data + split;
    cJSON *docs = NULL;
    if (le_ds_read_jsonl(jsonl, split - 1, "fuzz.jsonl", &docs) == 0) {
        le_ds_merge_labels(docs, labels, size - split, as_int, "fuzz.lst");
        cJSON_Delete(docs);
    }
    docs = NULL;
    if (le_ds_read_jsonl((const char *)data, size, "fuzz.jsonl", &docs) == 0)
        cJSON_Delete(docs);
    docs = NULL;
    if (le_ds_read_wikitext((const char *)data, size, &docs) == 0)
        cJSON_Delete(docs);
    return 0;
}
