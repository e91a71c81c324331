/*
 * convert: writes any tensor source (a GGUF file or a le_format view) as a
 * GGUF file llama.cpp loads -- every key copied as it is (architecture,
 * hyperparameters, tokenizer.ggml.*), general.file_type set to match, and
 * each tensor either kept in its type or, for matrices, converted to the
 * requested one (F32, F16, BF16 by rounding to nearest even; Q8_0 with the
 * reference quantizer, as llama.cpp's convert_hf_to_gguf --outtype q8_0).
 * Vectors (norms) stay F32, as llama.cpp's converter keeps them.
 */
#include "le_format.h"

#include "le_err.h"
#include "le_gguf.h"
#include "le_types.h"

#include <stdlib.h>
#include <string.h>

static int ftype_of(int type) {
    switch (type) {
    case LE_TYPE_F32: return 0;
    case LE_TYPE_F16: return 1;
    case LE_TYPE_Q8_0: return 7;
    case LE_TYPE_BF16: return 32;
    default: return -1;
    }
}

static int convert_tensor(struct le_gguf_writer *w, const struct le_gguf_tensor *t, int type) {
    int keep = type < 0 || t->n_dims < 2 || t->type == type;
    if (keep)
        return le_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    const struct le_type_traits *src = le_type_get(t->type), *dst = le_type_get(type);
    if (!src || !src->to_float)
        return le_err_set(LE_EUNSUP, "tensor %s: cannot convert from type %s", t->name, le_type_name(t->type));
    if (t->ne[0] % dst->blck_size)
        return le_err_set(LE_EUNSUP, "tensor %s: row length %lld is not a multiple of %s's block size %d", t->name,
                          (long long)t->ne[0], dst->name, dst->blck_size);
    int64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t srb = le_type_row_size(t->type, cols), drb = le_type_row_size(type, cols);
    float *row = malloc((size_t)cols * sizeof *row);
    uint8_t *out = malloc(drb * (size_t)rows);
    if (!row || !out) {
        free(row);
        free(out);
        return le_err_set(LE_ENOMEM, "out of memory converting %s", t->name);
    }
    for (int64_t r = 0; r < rows; r++) {
        src->to_float((const uint8_t *)t->data + (size_t)r * srb, row, cols);
        dst->from_float(row, out + (size_t)r * drb, cols);
    }
    int rc = le_gguf_add_tensor(w, t->name, type, t->n_dims, t->ne, out);
    free(row);
    free(out);
    return rc;
}

int le_format_write_gguf(const struct le_gguf *g, const char *out, int type) {
    if (type >= 0 && type != LE_TYPE_F32 && type != LE_TYPE_F16 && type != LE_TYPE_BF16 && type != LE_TYPE_Q8_0)
        return le_err_set(LE_EINVAL, "convert: output type %s is not one of f32, f16, bf16, q8_0",
                          le_type_name(type));
    struct le_gguf_writer *w;
    int rc = le_gguf_writer_new(&w);
    for (int64_t i = 0; !rc && i < le_gguf_n_kv(g); i++) {
        const char *k = le_gguf_kv_key(g, i);
        if (!strcmp(k, "general.alignment"))
            continue;
        rc = le_gguf_writer_copy_kv(w, g, i);
    }
    int main_type = type;
    if (main_type < 0) {
        const struct le_gguf_tensor *q = le_gguf_find_tensor(g, "blk.0.attn_q.weight");
        main_type = q ? q->type : LE_TYPE_F32;
    }
    if (!rc && ftype_of(main_type) >= 0)
        rc = le_gguf_set_u32(w, "general.file_type", (uint32_t)ftype_of(main_type));
    for (int64_t i = 0; !rc && i < le_gguf_n_tensors(g); i++)
        rc = convert_tensor(w, le_gguf_tensor(g, i), type);
    if (!rc)
        rc = le_gguf_write(w, out);
    le_gguf_writer_free(w);
    return rc;
}
