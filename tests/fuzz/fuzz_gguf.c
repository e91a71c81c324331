/*
 * fuzz_gguf: libFuzzer target for the GGUF reader and the model loader.
 * Each input is a whole file: it is written to a memfd (the reader maps a
 * path, so it opens /proc/self/fd/N), opened with le_gguf_open, and on
 * success every key, array element and tensor is read back through the
 * public API (touching the first and last byte of each tensor's data, so a
 * bad offset or size is an ASan report, not a silent pass); then
 * le_model_open loads it as a model, which adds the hyperparameter, tensor
 * shape and tokenizer checks. Errors are expected; crashes, leaks and UB are
 * the findings. Built only by scripts/fuzz (clang -fsanitize=fuzzer).
 */
#include "le_gguf.h"  /* the reader */
#include "le_model.h" /* le_model_open: the loader on top */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h> /* memfd_create */
#include <unistd.h>

static volatile uint64_t le_fz_sink; /* keeps the reads */

static void le_fz_walk(const struct le_gguf *g) {
    for (int64_t i = 0; i < le_gguf_n_kv(g); i++) {
        const char *key = le_gguf_kv_key(g, i);
        int type = le_gguf_kv_type(g, i);
        uint64_t nb = 0;
        const uint8_t *d = le_gguf_kv_data(g, i, &nb);
        if (d && nb)
            le_fz_sink += d[0] + d[nb - 1];
        uint32_t u32;
        int64_t i64;
        float f;
        int b;
        const char *s;
        uint64_t len, n;
        int et;
        const void *arr;
        le_fz_sink += (uint64_t)type + !le_gguf_get_u32(g, key, &u32) + !le_gguf_get_i64(g, key, &i64) +
                      !le_gguf_get_f32(g, key, &f) + !le_gguf_get_bool(g, key, &b);
        if (!le_gguf_get_str(g, key, &s, &len) && len)
            le_fz_sink += (uint8_t)s[0] + (uint8_t)s[len - 1];
        if (!le_gguf_get_arr(g, key, &et, &n, &arr))
            for (uint64_t k = 0; k < n && k < 4096; k++)
                if (!le_gguf_get_arr_str(g, key, k, &s, &len) && len)
                    le_fz_sink += (uint8_t)s[len - 1];
    }
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        const uint8_t *d = t->data;
        if (d && t->nbytes)
            le_fz_sink += d[0] + d[t->nbytes - 1];
        le_fz_sink += le_gguf_find_tensor(g, t->name) != NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.gguf", 0);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct le_gguf *g = NULL;
    if (off == size && le_gguf_open(&g, path) == 0) {
        le_fz_walk(g);
        le_gguf_close(g);
        struct le_model *m = NULL;
        if (le_model_open(&m, path) == 0)
            le_model_free(m);
    }
    close(fd);
    return 0;
}
