/*
 * fuzz_formats: an AFL-style mutation fuzzer for every parser in
 * engine/format (not a unit test; scripts/fuzz-formats builds it with
 * ASan+UBSan and runs it for a bounded time). It writes one valid seed per
 * target with the tests' writers (tests/le_fmtwrite.c, le_genmodel.c, the
 * committed torch fixtures), then, target after target, mutates the seed
 * (bit flips, interesting integers, byte runs, truncation, insertion,
 * deletion -- mostly within the first 4 KiB where headers live), writes it
 * where the reader expects it and opens the model (le_model_open_ex, so the
 * loader's shape checks run too) or the tokenizer; when it opens, it
 * evaluates two tokens. A crash or sanitizer report stops the process; the
 * input that caused it is left at WORKDIR/crash-<target>.bin first.
 * Deterministic for a given --seed.
 *
 * Usage: fuzz_formats WORKDIR [--seconds N per target] [--seed S] [--only NAME]
 * The source root must be the working directory (torch fixtures).
 */
#include "le_err.h"
#include "le_fmtwrite.h"
#include "le_format.h"
#include "le_genmodel.h"
#include "le_gguf.h"
#include "le_model.h"
#include "le_tok.h"
#include "le_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct target {
    const char *name;
    const char *file;  /* the mutated file, relative to WORKDIR */
    const char *open;  /* what is opened, relative to WORKDIR */
    int kind;          /* 0 model, 1 tokenizer, 2 LoRA on base.gguf */
};

static const struct target targets[] = {
    {"gguf", "base.gguf.mut", "base.gguf.mut", 0},
    {"hf-safetensors", "hf/model.safetensors", "hf", 0},
    {"hf-config", "hf/config.json", "hf", 0},
    {"hf-index", "hfs/model.safetensors.index.json", "hfs", 0},
    {"meta-pth", "meta/consolidated.01.pth", "meta", 0},
    {"meta-params", "meta/params.json", "meta", 0},
    {"llama2c-v0", "l2c0/model.bin", "l2c0/model.bin", 0},
    {"llama2c-v1", "l2c1/model.bin", "l2c1/model.bin", 0},
    {"llama2c-v2", "l2c2/model.bin", "l2c2/model.bin", 0},
    {"ggml", "ggml.bin", "ggml.bin", 0},
    {"ggjt-v1-q4", "ggjt1.bin", "ggjt1.bin", 0},
    {"ggjt-v3-q8", "ggjt3.bin", "ggjt3.bin", 0},
    {"tokenizer-model", "tok/tokenizer.model", "tok/tokenizer.model", 1},
    {"tokenizer-json", "tok/tokenizer.json", "tok/tokenizer.json", 1},
    {"tokenizer-bin", "l2c1/tokenizer.bin", "l2c1/tokenizer.bin", 1},
    {"lora-peft-st", "peft/adapter_model.safetensors", "peft", 2},
    {"lora-peft-bin", "peftbin/adapter_model.bin", "peftbin", 2},
};
#define N_TARGETS (sizeof targets / sizeof targets[0])

static uint64_t rng_state;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static char g_work[2048];
static const char *wp(const char *rel) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_work, rel);
    return buf[k];
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)sz + 1);
    *n = d ? fread(d, 1, (size_t)sz, f) : 0;
    fclose(f);
    return d;
}

static int write_all(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(d, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void copy(const char *from, const char *to) {
    size_t n;
    unsigned char *d = read_all(from, &n);
    if (!d || write_all(to, d, n)) {
        fprintf(stderr, "fuzz_formats: cannot copy %s to %s\n", from, to);
        exit(1);
    }
    free(d);
}

static void check(int rc, const char *what) {
    if (rc) {
        fprintf(stderr, "fuzz_formats: making seeds: %s: %s\n", what, le_err_msg());
        exit(1);
    }
}

static void make_seeds(void) {
    static const char *const dirs[] = {"hf", "hfs", "meta", "l2c0", "l2c1", "l2c2", "tok", "peft", "peftbin"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        mkdir(wp(dirs[i]), 0755);
    struct le_genmodel_cfg c = {.dim = 32, .n_layers = 1, .n_heads = 4, .n_kv_heads = 2, .ffn = 64, .n_vocab = 300,
                                .n_ctx = 16, .seed = 1, .eps = 1e-6f};
    check(le_genmodel_write(wp("base.gguf"), &c), "genmodel");
    copy(wp("base.gguf"), wp("base.gguf.mut"));
    check(le_fw_hf(wp("base.gguf"), wp("hf"), LE_TYPE_F16, 1, LE_FW_TOK_NONE), "hf");
    check(le_fw_hf(wp("base.gguf"), wp("hfs"), LE_TYPE_F32, 2, LE_FW_TOK_NONE), "hf sharded");
    for (int v = 0; v <= 2; v++) {
        char d[32];
        snprintf(d, sizeof d, "l2c%d/model.bin", v);
        check(le_fw_llama2c(wp("base.gguf"), wp(d), v, NULL), "llama2c");
    }
    check(le_fw_ggml(wp("base.gguf"), wp("ggml.bin"), "ggml", 0, LE_TYPE_F32, NULL), "ggml");
    check(le_fw_ggml(wp("base.gguf"), wp("ggjt1.bin"), "ggjt", 1, LE_TYPE_Q4_0, NULL), "ggjt1");
    check(le_fw_ggml(wp("base.gguf"), wp("ggjt3.bin"), "ggjt", 3, LE_TYPE_Q8_0, NULL), "ggjt3");
    check(le_fw_spm_model(wp("base.gguf"), wp("tok/tokenizer.model")), "tokenizer.model");
    check(le_fw_tok_json(wp("base.gguf"), wp("tok/tokenizer.json")), "tokenizer.json");
    copy("tests/data/formats/meta-tiny/params.json", wp("meta/params.json"));
    copy("tests/data/formats/meta-tiny/consolidated.00.pth", wp("meta/consolidated.00.pth"));
    copy("tests/data/formats/meta-tiny/consolidated.01.pth", wp("meta/consolidated.01.pth"));
    /* PEFT adapters for the 32-wide base: q_proj of layer 0, rank 2. */
    float a[2 * 32], bm[32 * 2];
    for (int i = 0; i < 64; i++)
        a[i] = bm[i] = (float)((i * 37) % 17 - 8) / 64.0f;
    const char *names[2] = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"};
    int nd[2] = {2, 2};
    int64_t shapes[2][2] = {{2, 32}, {32, 2}};
    const float *data[2] = {a, bm};
    check(le_fw_safetensors(wp("peft/adapter_model.safetensors"), 2, names, nd, (const int64_t(*)[2])shapes, data,
                            LE_TYPE_F32), "peft");
    static const char cfg[] = "{\"r\": 2, \"lora_alpha\": 4}";
    write_all(wp("peft/adapter_config.json"), cfg, sizeof cfg - 1);
    copy("tests/data/formats/peft-tiny/adapter_model.bin", wp("peftbin/adapter_model.bin"));
    copy("tests/data/formats/peft-tiny/adapter_config.json", wp("peftbin/adapter_config.json"));
}

static const int64_t interesting[] = {0, 1, -1, 2, 7, 8, 16, 31, 32, 127, 128, 255, 256, 4096, 65535, 65536,
                                      0x7fffffff, -0x80000000ll, 0xffffffffll, 0x7fffffffffffffffll};

static size_t mutate(unsigned char *d, size_t n, size_t cap) {
    int ops = 1 + (int)(rnd() % 6);
    for (int k = 0; k < ops && n > 0; k++) {
        size_t lim = (rnd() % 10 < 7 && n > 4096) ? 4096 : n;
        size_t at = (size_t)(rnd() % lim);
        switch (rnd() % 8) {
        case 0: d[at] ^= (unsigned char)(1u << (rnd() % 8)); break;
        case 1: d[at] = (unsigned char)rnd(); break;
        case 2: case 3: {
            int64_t v = interesting[rnd() % (sizeof interesting / sizeof interesting[0])];
            size_t w = (size_t)1 << (rnd() % 4);
            if (at + w <= n)
                memcpy(d + at, &v, w);
            break;
        }
        case 4: n = (size_t)(rnd() % (n + 1)); break; /* truncate */
        case 5: { /* delete a run */
            size_t len = (size_t)(rnd() % 64);
            if (at + len <= n) {
                memmove(d + at, d + at + len, n - at - len);
                n -= len;
            }
            break;
        }
        case 6: { /* insert a run of copies of a byte */
            size_t len = (size_t)(rnd() % 64);
            if (n + len <= cap) {
                memmove(d + at + len, d + at, n - at);
                memset(d + at, (int)(rnd() & 0xff), len);
                n += len;
            }
            break;
        }
        default: { /* copy a chunk from elsewhere */
            size_t from = (size_t)(rnd() % n), len = (size_t)(rnd() % 32);
            if (from + len <= n && at + len <= n)
                memmove(d + at, d + from, len);
            break;
        }
        }
    }
    return n;
}

static void run_one(const struct target *t) {
    if (t->kind == 1) {
        struct le_gguf *g = NULL;
        if (le_format_open_tokenizer(&g, wp(t->open)) == LE_OK) {
            struct le_tok *tok = NULL;
            if (le_tok_from_gguf(&tok, g) == LE_OK) {
                int32_t ids[64];
                int64_t n;
                le_tok_encode(tok, "hello world", 11, 1, ids, 64, &n);
                le_tok_free(tok);
            }
        }
        le_gguf_close(g);
        return;
    }
    struct le_lora_spec spec = {wp(t->open), 1.0f};
    struct le_format_opts o = {.lora = &spec, .n_lora = 1};
    struct le_model *m = NULL;
    int rc = t->kind == 2 ? le_model_open_ex(&m, wp("base.gguf"), &o) : le_model_open_ex(&m, wp(t->open), NULL);
    if (rc == LE_OK) {
        struct le_ctx *c = NULL;
        if (le_ctx_new(&c, m, 4, 4, NULL) == LE_OK) {
            int32_t toks[2] = {0, (int32_t)(le_model_get_info(m)->n_vocab - 1)};
            le_ctx_eval(c, toks, 2, 0, 1);
            le_ctx_free(c);
        }
    }
    le_model_free(m);
}

int main(int argc, char **argv) {
    double seconds = 10;
    uint64_t seed = 1;
    const char *only = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_formats WORKDIR [--seconds N] [--seed S] [--only NAME]\n");
        return 2;
    }
    snprintf(g_work, sizeof g_work, "%s", argv[1]);
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--only"))
            only = argv[i + 1];
    }
    rng_state = seed * 0x9e3779b97f4a7c15ull | 1;
    mkdir(g_work, 0755);
    make_seeds();
    long total = 0;
    for (size_t i = 0; i < N_TARGETS; i++) {
        const struct target *t = &targets[i];
        if (only && strcmp(only, t->name))
            continue;
        size_t n0;
        unsigned char *seed_data = read_all(wp(t->file), &n0);
        if (!seed_data) {
            fprintf(stderr, "fuzz_formats: no seed %s\n", wp(t->file));
            return 1;
        }
        size_t cap = n0 + 4096;
        unsigned char *buf = malloc(cap);
        char crash[128];
        snprintf(crash, sizeof crash, "crash-%s.bin", t->name);
        long iters = 0;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            memcpy(buf, seed_data, n0);
            size_t n = mutate(buf, n0, cap);
            write_all(wp(crash), buf, n); /* kept if the next call crashes */
            write_all(wp(t->file), buf, n);
            run_one(t);
            iters++;
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9 < seconds);
        remove(wp(crash));
        write_all(wp(t->file), seed_data, n0); /* restore for the next target */
        printf("%-16s %8ld inputs, no crash\n", t->name, iters);
        fflush(stdout);
        total += iters;
        free(buf);
        free(seed_data);
    }
    printf("total %ld inputs\n", total);
    return 0;
}
