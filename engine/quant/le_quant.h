/*
 * le_quant: round-to-nearest quantization of a GGUF model file, as
 * llama.cpp's llama-quantize does it without an importance matrix.
 *
 * A file type (llama.cpp's llama_ftype: Q4_0, Q4_K_M, ...) names a default
 * tensor type and, for the mixed presets, llama.cpp's per-tensor rules
 * (which tensors get more bits: output and tied embeddings Q6_K, some
 * attn_v / ffn_down layers Q5_K/Q6_K, ...). --pure uses the default type
 * for every matrix. Rows that a type's block size does not divide fall back
 * as llama.cpp does (Q4_K -> Q5_0, Q6_K -> Q8_0, ... -> F16). Norm vectors
 * and other 1-D tensors are copied. Tensors are written in llama.cpp's
 * order (tensors outside the layers first, then layer by layer, by name
 * within each), which its layer counters follow too. Every tensor is quantized with the type's
 * reference quantizer (ggml's quantize_row_*_ref), rows spread over a
 * thread pool; the bytes do not depend on the thread count. The output is
 * written atomically (le_gguf_write): a failed or interrupted run leaves no
 * file at the output path.
 */
#ifndef LE_QUANT_H
#define LE_QUANT_H

#include <stdint.h>

/* llama.cpp's llama_ftype numbers (general.file_type). */
enum le_ftype {
    LE_FTYPE_ALL_F32 = 0,
    LE_FTYPE_MOSTLY_F16 = 1,
    LE_FTYPE_MOSTLY_Q4_0 = 2,
    LE_FTYPE_MOSTLY_Q4_1 = 3,
    LE_FTYPE_MOSTLY_Q8_0 = 7,
    LE_FTYPE_MOSTLY_Q5_0 = 8,
    LE_FTYPE_MOSTLY_Q5_1 = 9,
    LE_FTYPE_MOSTLY_Q2_K = 10,
    LE_FTYPE_MOSTLY_Q3_K_S = 11,
    LE_FTYPE_MOSTLY_Q3_K_M = 12,
    LE_FTYPE_MOSTLY_Q3_K_L = 13,
    LE_FTYPE_MOSTLY_Q4_K_S = 14,
    LE_FTYPE_MOSTLY_Q4_K_M = 15,
    LE_FTYPE_MOSTLY_Q5_K_S = 16,
    LE_FTYPE_MOSTLY_Q5_K_M = 17,
    LE_FTYPE_MOSTLY_Q6_K = 18,
    LE_FTYPE_MOSTLY_Q2_K_S = 21,
    LE_FTYPE_MOSTLY_BF16 = 32,
};

/* The file type for a name as llama-quantize accepts it, case-insensitive:
 * "q4_0", "q4_k_m", ... and its aliases "q3_k", "q4_k", "q5_k" (the _M
 * mixes); -1 if unknown. */
int le_quant_ftype_from_name(const char *name);
/* "Q4_K_M" etc.; "unknown" for other numbers. */
const char *le_quant_ftype_name(int ftype);
/* The tensor type (le_types.h) most matrices of ftype get; -1 if unknown. */
int le_quant_ftype_type(int ftype);
/* Space-separated list of the names le_quant_ftype_from_name knows (for help texts). */
const char *le_quant_ftype_names(void);

/* What the per-tensor rules need to know of a tensor and of the model. */
struct le_quant_tensor {
    const char *name;
    int type; /* current type */
    int n_dims;
    int64_t ne[4];
};
struct le_quant_hparams {
    int n_layer, n_head, n_head_kv;
};

/*
 * Target type of each tensor (out_types[i] for t[i], in the given order)
 * under ftype (pure: the default type for every matrix). Tensors that stay
 * as they are get their current type. Returns LE_OK, or LE_EINVAL for an
 * unknown ftype.
 */
int le_quant_plan(const struct le_quant_tensor *t, int64_t n, const struct le_quant_hparams *hp, int ftype,
                  int pure, int *out_types);

/* One tensor done (index counts in writing order from 1 to count). */
struct le_quant_event {
    int64_t index, count;
    const char *name;
    int from_type, to_type;
    int n_dims;
    int64_t ne[4];
    uint64_t bytes_in, bytes_out;
};
typedef void (*le_quant_progress_fn)(void *ud, const struct le_quant_event *ev);

struct le_quant_params {
    int ftype;
    int pure;
    int allow_requantize;   /* quantized inputs (other than F32/F16/BF16) are refused unless set */
    int n_threads;          /* <= 0: all cores */
    le_quant_progress_fn progress; /* may be NULL */
    void *progress_ud;
    /* Tensors whose bytes the caller supplies (GPTQ): returns 1 and sets
     * *type and *data (the whole tensor in that type) to write them as
     * given, 0 to follow the plan. May be NULL. */
    int (*supply)(void *ud, const char *name, int *type, const void **data);
    void *supply_ud;
};

struct le_quant_stats {
    int64_t n_tensors, n_quantized, n_fallback; /* fallback: a type changed because of the row length */
    uint64_t bytes_in, bytes_out;               /* tensor data */
};

/* Quantizes in_path into out_path (stats may be NULL). Errors: LE_EINVAL
 * (bad parameters, unknown ftype, same path), LE_EUNSUP (a type that cannot
 * be converted, requantizing without allow_requantize), I/O and format
 * errors of the reader and writer; out_path is untouched then. */
int le_quantize(const char *in_path, const char *out_path, const struct le_quant_params *p,
                struct le_quant_stats *stats);

#endif
