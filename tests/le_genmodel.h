/*
 * le_genmodel: writes random-weight LLaMA GGUF files of any shape and weight
 * type with the engine's GGUF writer, for tests (shared by every test that
 * needs a model file). Deterministic for a given config and seed.
 *
 * Weights: token_embd N(0, 1); attn_q/k/v, ffn_gate/up and output
 * N(0, 1/dim) (variances); attn_output N(0, 0.25/dim); ffn_down N(0, 0.25/ffn);
 * norms 1 + N(0, 0.1^2). Every 2-D tensor (token_embd and output included, like
 * llama-quantize --pure) is stored as wtype, quantized with the type's
 * reference quantizer; norm vectors stay F32.
 *
 * Tokenizer: when n_vocab >= LE_GENMODEL_MIN_SPM_VOCAB a valid SentencePiece
 * ("llama") vocabulary: <unk> 0, <s> 1, </s> 2, byte tokens <0x00>..<0xFF>
 * (ids 3..258), "▁" (259), 42 single characters, 62 English merges (▁t, he, ▁the,
 * in, ing, ...) scored by merge order, then unused "<extra_N>" fillers; the
 * list is cut at n_vocab (all merges need n_vocab >= 364).
 * add_bos true, add_space_prefix true. Smaller vocabularies get no
 * tokenizer keys at all (the model loads without a tokenizer).
 */
#ifndef LE_GENMODEL_H
#define LE_GENMODEL_H

#include <stdint.h>

#define LE_GENMODEL_MIN_SPM_VOCAB 300

struct le_genmodel_cfg {
    int dim, n_layers, n_heads, n_kv_heads, ffn, n_vocab, n_ctx;
    int tied;          /* 1: no output.weight (token_embd is the output) */
    int wtype;         /* le_types.h type of the 2-D tensors (0 = F32) */
    int embd_type;     /* nonzero: token_embd's type instead (e.g. Q6_K in a Q4_0 file, as llama-quantize writes) */
    uint64_t seed;
    float embd_sd;     /* token_embd's standard deviation; 0 = 1 (a tied model wants ~1/sqrt(dim)) */
    float rope_base;   /* 0 = 10000 */
    float eps;         /* 0 = 1e-5 */
    float rope_scale;  /* 0 = no scaling keys; else linear, llama.rope.scaling.factor */
    int no_tokenizer;  /* 1: write no tokenizer.* keys whatever the vocab size */
    const char *name;  /* general.name; NULL = "genmodel" */
    /* Test hooks for malformed files: a key / a tensor not to write. */
    const char *omit_key, *omit_tensor;
};

/* Writes the model to path. Returns 0 or a negative LE_E* code (message via
 * le_err_msg). n_kv_heads 0 means n_heads; ffn/dim must be multiples of the
 * type's block size. */
int le_genmodel_write(const char *path, const struct le_genmodel_cfg *cfg);

#endif
