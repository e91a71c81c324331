/*
 * le_fmtwrite: writes a GGUF model's weights in the other formats the
 * engine reads (Hugging Face safetensors directories, llama2.c v0/v1/v2,
 * GGML/GGMF/GGJT) and a GGUF vocabulary as tokenizer.model (SentencePiece
 * protobuf), tokenizer.json (HF) and tokenizer.bin (llama2.c), for
 * tests/test_formats.c. Written from the formats' own specifications
 * (HF's convert_llama_weights_to_hf permutation, llama2.c's export.py
 * layouts, llama.cpp's old file layouts), independently of engine/format.
 * The source GGUF must hold F32 tensors (le_genmodel's wtype 0).
 */
#ifndef LE_FMTWRITE_H
#define LE_FMTWRITE_H

#include <stdint.h>

/* HF tokenizer choice for le_fw_hf. */
enum { LE_FW_TOK_NONE = 0, LE_FW_TOK_MODEL = 1, LE_FW_TOK_JSON = 2 };

/* dir/config.json + model.safetensors (n_shards 1) or model-0000i-of-0000n
 * shards and an index; tensors in type (F32, F16, BF16); Q/K permuted. */
int le_fw_hf(const char *gguf, const char *dir, int type, int n_shards, int tok);
/* A safetensors file of n tensors (shape in PyTorch order, data F32 values
 * stored as type). */
int le_fw_safetensors(const char *path, int n, const char *const *names, const int *n_dims,
                      const int64_t (*shapes)[2], const float *const *data, int type);
/* llama2.c checkpoint (version 0, 1 or 2; v2 with group size 32) and
 * tokenizer.bin beside it when the GGUF has a vocabulary. For v2, ref (if
 * not NULL) receives a GGUF of the dequantized weights. */
int le_fw_llama2c(const char *gguf, const char *path, int version, const char *ref);
/* GGML family: magic "ggml" (version ignored), "ggmf" v1, "ggjt" v1-v3.
 * type F32, F16, Q4_0 (old layouts: v<=1 interleaved, v2 split, both with
 * float32 scales) or Q8_0 (ggjt v3 only). ref (if not NULL) receives a GGUF
 * of exactly the weights the file holds (dequantized for old layouts). */
int le_fw_ggml(const char *gguf, const char *path, const char *magic, uint32_t version, int type, const char *ref);
/* The GGUF's matrices rounded to type (F16/BF16) and stored in it, vectors
 * stored as F32, rounded through type when round_vectors (the reference for
 * HF F16/BF16 checkpoints, whose norms are 16-bit too) or kept (the
 * reference for `convert --type`). */
int le_fw_round(const char *gguf, const char *out, int type, int round_vectors);
/* Tokenizers from a GGUF vocabulary. */
int le_fw_spm_model(const char *vocab_gguf, const char *out);
int le_fw_tok_json(const char *vocab_gguf, const char *out);

#endif
