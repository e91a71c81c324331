/*
 * le_refmodel: a naive LLaMA forward pass in double precision, written
 * straight from the equations, for checking the engine. It shares no kernel
 * with the engine: weights are dequantized here from the documented block
 * layouts (F32, F16, BF16, Q8_0, Q4_0) into doubles, activations are never
 * rounded, there is no KV cache (every call runs the whole sequence from
 * position 0) and no threading. Only the GGUF reader is shared, to find the
 * tensors. Meant for small models (all weights are held as doubles).
 */
#ifndef LE_REFMODEL_H
#define LE_REFMODEL_H

#include <stdint.h>

struct le_refmodel;

/* Loads path; LE_EUNSUP for a weight type it cannot dequantize. */
int le_refmodel_open(struct le_refmodel **out, const char *path);
void le_refmodel_free(struct le_refmodel *r);
int le_refmodel_n_vocab(const struct le_refmodel *r);
/* logits: n rows of n_vocab doubles; row i predicts token i+1 after tokens[0..i]. */
int le_refmodel_forward(struct le_refmodel *r, const int32_t *tokens, int n, double *logits);

#endif
