/*
 * format_int: what the format readers (engine/format/fmt_*.c) share: a
 * builder that collects GGUF keys and tensors (pointers into mappings or
 * owned copies) and ends as a le_gguf view; mmaps and buffers it owns until
 * the view closes; helpers for llama.cpp's hyperparameter keys, 16-bit
 * conversions, the HF Q/K permutation, JSON files and bounded reads.
 * Private to engine/format.
 */
#ifndef LE_FORMAT_INT_H
#define LE_FORMAT_INT_H

#include "le_format.h"
#include "le_gguf.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* Resources a view owns: mappings and malloc'ed buffers. */
struct fmt_res {
    struct fmt_map { void *p; size_t n; } *maps;
    int n_maps, cap_maps;
    void **bufs;
    int n_bufs, cap_bufs;
    struct le_gguf *inner; /* a view stacked on another (LoRA): closed last */
};

struct fmt_b {
    const char *path;          /* for messages */
    struct le_gguf_writer *w;  /* keys */
    struct le_gguf_tensor *t;  /* tensors (names owned here) */
    int64_t n_t, cap_t;
    struct fmt_res *res;
};

int fmt_b_init(struct fmt_b *b, const char *path);
void fmt_b_free(struct fmt_b *b); /* after a failure (or after finish: no-op) */
/* Ends the builder as a view owning its resources; b is emptied. */
int fmt_b_finish(struct fmt_b *b, struct le_gguf **out);

/* Maps a whole file read-only (owned by b). LE_ENOTFOUND if absent. */
int fmt_map(struct fmt_b *b, const char *path, const uint8_t **p, uint64_t *size);
/* A buffer owned by b (zeroed), NULL with an error set when out of memory. */
void *fmt_alloc(struct fmt_b *b, size_t n);
/* Adds a tensor (name copied; data borrowed). ne[0] is the row length.
 * A duplicate name is LE_EFORMAT. */
int fmt_tensor(struct fmt_b *b, const char *name, int type, int n_dims, const int64_t *ne, const void *data);
const struct le_gguf_tensor *fmt_find(const struct fmt_b *b, const char *name);
/* A 2-D (rows x cols) tensor of F32/F16/BF16 data: in place when the engine
 * computes with the type, F32 for 1-D vectors (norms) when stored in 16 bits. */
int fmt_tensor_f(struct fmt_b *b, const char *name, int type, int64_t rows, int64_t cols, const void *data);
/* Same, reversing HF's rotary permutation of rows first (Q: n_head = heads;
 * K: n_head = kv heads); always a copy. */
int fmt_tensor_unpermute(struct fmt_b *b, const char *name, int type, int64_t rows, int64_t cols,
                         const void *data, int64_t n_head);
/* Row index in the HF layout of GGUF row r (head size hd = rows / n_head). */
int64_t fmt_hf_row(int64_t r, int64_t rows, int64_t n_head);

/* One per-layer tensor of a checkpoint: its name there (after "<prefix>.<l>.")
 * and in the GGUF (after "blk.<l>."), its rows and columns as indexes into
 * the reader's dims table (rows 0: a vector), and one number of the reader's
 * own (HF: which heads permute its rows; Meta: the axis its shards split). */
struct fmt_layer_tensor {
    const char *src, *dst;
    int rows, cols, arg;
};
/* Calls map(ud, src, dst, dims[rows], dims[cols], arg) for every layer and
 * every one of the n tensors, in order; stops at map's first error. */
int fmt_layer_tensors(int64_t n_layers, const char *prefix, const struct fmt_layer_tensor *t, size_t n,
                      const int64_t *dims,
                      int (*map)(void *ud, const char *src, const char *dst, int64_t rows, int64_t cols, int arg),
                      void *ud);

/* LLaMA hyperparameters -> llama.* keys (llama.cpp's names). */
struct fmt_hp {
    int64_t dim, n_layers, n_heads, n_kv_heads, ffn, ctx;
    double eps, rope_base, rope_scale; /* rope_scale 0/1: none */
    const char *name;
    int ftype; /* general.file_type or -1 */
};
int fmt_llama_kv(struct fmt_b *b, const struct fmt_hp *hp);
/* general.file_type of a checkpoint whose weights are stored as `type`
 * (llama.cpp's ftype: F32 0, F16 1, else BF16 32). */
int fmt_ftype_of(int type);

/* Element types of stored floats (F32, F16, BF16) to float. */
float fmt_to_f32(int type, const void *data, int64_t i);

/* JSON: whole file parsed (LE_ENOTFOUND if absent, LE_EFORMAT if invalid). */
int fmt_json_file(const char *path, struct cJSON **out);
/* Integer / number members; LE_EFORMAT (one line naming the file) when
 * missing (unless dflt_ok) or of the wrong kind. */
int fmt_json_int(const struct cJSON *o, const char *key, const char *file, int dflt_ok, int64_t dflt, int64_t *out);
int fmt_json_num(const struct cJSON *o, const char *key, const char *file, int dflt_ok, double dflt, double *out);

/* Path helpers: dir of a file (malloc'ed), dir + "/" + name (malloc'ed),
 * whether a path is a directory / a regular file. */
char *fmt_dirname(const char *path);
char *fmt_join(const char *dir, const char *name);
int fmt_is_dir(const char *path);
int fmt_is_file(const char *path);

/* Readers (one file each). Each fills b (keys, tensors, tokenizer keys). */
int fmt_hf_open(struct fmt_b *b, const char *dir);
int fmt_meta_open(struct fmt_b *b, const char *dir);
int fmt_llama2c_open(struct fmt_b *b, const char *path, const char *tokenizer);
int fmt_ggml_open(struct fmt_b *b, const char *path);

/* safetensors (fmt_safetensors.c): the tensors of one mapped file. */
struct fmt_st_tensor {
    char name[160];
    int type;        /* LE_TYPE_F32 / F16 / BF16 */
    int n_dims;
    int64_t shape[4]; /* PyTorch order: shape[n_dims-1] is the row length */
    const void *data;
    uint64_t nbytes;
};
int fmt_st_parse(const char *path, const uint8_t *p, uint64_t size, struct fmt_st_tensor **out, int64_t *n);

/* PyTorch checkpoints (fmt_pth.c): the tensors of one torch.save zip. */
struct fmt_pt_tensor {
    char name[160];
    int type;         /* LE_TYPE_F32 / F16 / BF16 */
    int n_dims;
    int64_t shape[4]; /* PyTorch order */
    const void *data; /* contiguous row-major (strides are checked) */
};
int fmt_pth_parse(const char *path, const uint8_t *p, uint64_t size, struct fmt_pt_tensor **out, int64_t *n);

/* Tokenizers (fmt_tok.c) -> tokenizer.ggml.* keys on b. */
int fmt_tok_spm_model(struct fmt_b *b, const char *path);        /* SentencePiece protobuf */
int fmt_tok_hf_json(struct fmt_b *b, const char *path, const char *config_path); /* tokenizer.json */
int fmt_tok_llama2c(struct fmt_b *b, const char *path, int64_t n_vocab); /* tokenizer.bin; n_vocab < 0: all */
/* An SPM vocabulary from arrays (GGML embedded vocab, llama2.c). */
int fmt_tok_spm_keys(struct fmt_b *b, int64_t n, const char *const *text, const float *scores,
                     const int32_t *types, int32_t bos, int32_t eos, int32_t unk);

/* LoRA (fmt_lora.c): merges one adapter into the tensors of g (a view or
 * file), giving a new view that owns g. */
int fmt_lora_apply(struct le_gguf **g, const struct le_lora_spec *spec);

#endif
