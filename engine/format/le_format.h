/*
 * le_format: every LLaMA weight format users hold, presented as one tensor
 * source -- a GGUF view (le_gguf_open_view) with llama.cpp's key names,
 * tensor names, tensor layout and tokenizer metadata -- so the model loader,
 * the tokenizer and `convert` consume all of them through le_gguf's
 * accessors and nothing downstream knows where the weights came from.
 *
 * Formats (detected by content, never by file name):
 *   GGUF                        the file itself (le_gguf_open)
 *   Hugging Face directory      config.json + model.safetensors or sharded
 *                               model-*.safetensors with an index; tokenizer
 *                               from tokenizer.model or tokenizer.json; the
 *                               rotary Q/K row permutation of HF exports is
 *                               undone as llama.cpp's convert_hf_to_gguf.py does
 *   Meta checkpoint directory   params.json + consolidated.NN.pth (PyTorch zip +
 *                               a restricted pickle reader that executes
 *                               nothing), shards merged, tokenizer.model
 *   llama2.c checkpoint         legacy v0 header, v1 float32, v2 Q8_0 export;
 *                               tokenizer.bin beside it (or opts->tokenizer)
 *   legacy GGML/GGMF/GGJT v1-v3 with their embedded vocabulary
 * A single .safetensors or .pth file stands for its directory.
 *
 * Weights stay in place in their file's mapping whenever the engine computes
 * with the stored type (F32, F16, BF16, and GGJT's current quant types);
 * only tensors that must change are copied: HF Q/K (row permutation), norm
 * vectors stored in 16 bits (the engine wants F32 vectors), sharded Meta
 * tensors (concatenation), old quant layouts and llama2.c Q8 groups
 * (dequantized to F32) and LoRA-touched matrices (merged in F32).
 *
 * LoRA: each adapter (PEFT directory or adapter_model.safetensors, or a
 * llama.cpp GGUF LoRA) is merged at open: W' = W + scale * (alpha / r) * B A,
 * in a float32 copy of each touched matrix (quantized bases are dequantized
 * first), delta accumulated in double per element in order of the rank.
 */
#ifndef LE_FORMAT_H
#define LE_FORMAT_H

#include <stdint.h>

struct le_gguf;

enum le_format_kind {
    LE_FORMAT_GGUF = 1, LE_FORMAT_HF, LE_FORMAT_META, LE_FORMAT_LLAMA2C, LE_FORMAT_GGML,
};

struct le_lora_spec {
    const char *path; /* PEFT directory / adapter_model.safetensors, or GGUF LoRA */
    float scale;      /* user scale (1 = as trained) */
};

struct le_format_opts {
    const struct le_lora_spec *lora; /* applied in order */
    int n_lora;
    const char *tokenizer; /* llama2.c: tokenizer.bin path (NULL: beside the model) */
};

/* Which format path holds (LE_FORMAT_*), from its content. LE_EFORMAT /
 * LE_ENOTFOUND with a one-line message when it is none of them. */
int le_format_detect(const char *path, int *kind);
const char *le_format_name(int kind); /* "gguf", "hf", "meta", "llama2c", "ggml" */

/* Opens path in whatever format it is as a GGUF view (or the GGUF file
 * itself when there is nothing to change), with the LoRA adapters of opts
 * merged. opts may be NULL. Every malformed input gives LE_EFORMAT (or
 * LE_EUNSUP for a valid but unsupported feature) and a one-line message
 * naming the file and what is wrong. */
int le_format_open(struct le_gguf **out, const char *path, const struct le_format_opts *opts);

/* Parses "PATH[:SCALE]" (SCALE a finite float; default 1). The path points
 * into spec (not copied) and is NUL-terminated by overwriting the colon. */
int le_lora_spec_parse(char *spec, struct le_lora_spec *out);

/* A tokenizer file alone -- tokenizer.model (SentencePiece protobuf),
 * tokenizer.json (Hugging Face) or llama2.c's tokenizer.bin, by content --
 * as a GGUF view holding llama.cpp's tokenizer.ggml.* keys and no tensors
 * (le_tok_from_gguf builds the tokenizer from it). */
int le_format_open_tokenizer(struct le_gguf **out, const char *path);

/* Writes g (any source le_format_open gave, LoRA merged or not) as a GGUF
 * file at out that llama.cpp loads: all keys copied, general.file_type set;
 * matrices converted to type (LE_TYPE_F32, F16, BF16 or Q8_0; -1 keeps each
 * tensor's type), vectors kept. Holds the output in memory until written. */
int le_format_write_gguf(const struct le_gguf *g, const char *out, int type);

#endif
