/*
 * le_gguf: GGUF (v2, v3) reader over mmap, and a writer.
 *
 * Reader: le_gguf_open maps the file read-only and validates the whole
 * header up front -- every count, string length, array length, dimension,
 * offset and type is checked against the file size before use (no integer
 * overflow, no read past the end). Afterwards accessors cannot fail on
 * corruption. Tensor data pointers point into the mapping and live until
 * le_gguf_close. Strings are NOT NUL-terminated in the file: accessors return
 * (pointer, length).
 *
 * Writer: collects key/values and tensors (data copied, or generated at
 * write time by a fill function: le_gguf_add_tensor_gen), writes GGUF v3 with
 * alignment 32 (or general.alignment) atomically (temp file + rename), in a
 * form llama.cpp loads.
 */
#ifndef LE_GGUF_H
#define LE_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* GGUF metadata value types (spec numbering). */
enum le_gguf_vtype {
    LE_GGUF_U8 = 0, LE_GGUF_I8 = 1, LE_GGUF_U16 = 2, LE_GGUF_I16 = 3,
    LE_GGUF_U32 = 4, LE_GGUF_I32 = 5, LE_GGUF_F32 = 6, LE_GGUF_BOOL = 7,
    LE_GGUF_STRING = 8, LE_GGUF_ARRAY = 9, LE_GGUF_U64 = 10, LE_GGUF_I64 = 11,
    LE_GGUF_F64 = 12,
};

struct le_gguf;

struct le_gguf_tensor {
    const char *name; /* NUL-terminated copy owned by the le_gguf */
    int type;         /* ggml type number (le_types.h) */
    int n_dims;       /* 1..4 */
    int64_t ne[4];    /* ne[0] = row length (fastest); unused dims = 1 */
    uint64_t offset;  /* from the start of the data section */
    const void *data; /* into the mapping */
    uint64_t nbytes;
};

/* Functions to open and close a file. */
int le_gguf_open(struct le_gguf **out, const char *path);
void le_gguf_close(struct le_gguf *g); /* NULL is fine */
uint32_t le_gguf_version(const struct le_gguf *g);
uint32_t le_gguf_alignment(const struct le_gguf *g);
const char *le_gguf_path(const struct le_gguf *g);
uint64_t le_gguf_file_size(const struct le_gguf *g);

/* Functions to read metadata. Getters return LE_OK, LE_ENOTFOUND when the key
 * is absent, or LE_EFORMAT when its type does not fit (the integer getters
 * accept any integer type whose value fits). */
int64_t le_gguf_n_kv(const struct le_gguf *g);
const char *le_gguf_kv_key(const struct le_gguf *g, int64_t i); /* NUL-terminated */
int le_gguf_kv_type(const struct le_gguf *g, int64_t i);
int64_t le_gguf_find_key(const struct le_gguf *g, const char *key); /* -1 if absent */
int le_gguf_get_u32(const struct le_gguf *g, const char *key, uint32_t *out);
int le_gguf_get_i64(const struct le_gguf *g, const char *key, int64_t *out);
int le_gguf_get_f32(const struct le_gguf *g, const char *key, float *out); /* F32 or F64 */
int le_gguf_get_bool(const struct le_gguf *g, const char *key, int *out);
int le_gguf_get_str(const struct le_gguf *g, const char *key, const char **s, uint64_t *len);
/* Arrays: element type and count. Numeric arrays expose their raw
 * little-endian data in the mapping; string arrays are read by index. */
int le_gguf_get_arr(const struct le_gguf *g, const char *key, int *elem_type, uint64_t *n, const void **data);
int le_gguf_get_arr_str(const struct le_gguf *g, const char *key, uint64_t i, const char **s, uint64_t *len);

/* Functions to read tensor infos. */
int64_t le_gguf_n_tensors(const struct le_gguf *g);
const struct le_gguf_tensor *le_gguf_tensor(const struct le_gguf *g, int64_t i);
const struct le_gguf_tensor *le_gguf_find_tensor(const struct le_gguf *g, const char *name); /* NULL if absent */

/* Functions to write a file. */
struct le_gguf_writer;
int le_gguf_writer_new(struct le_gguf_writer **out);
void le_gguf_writer_free(struct le_gguf_writer *w);
int le_gguf_set_u32(struct le_gguf_writer *w, const char *key, uint32_t v);
int le_gguf_set_i32(struct le_gguf_writer *w, const char *key, int32_t v);
int le_gguf_set_u64(struct le_gguf_writer *w, const char *key, uint64_t v);
int le_gguf_set_f32(struct le_gguf_writer *w, const char *key, float v);
int le_gguf_set_f64(struct le_gguf_writer *w, const char *key, double v);
int le_gguf_set_bool(struct le_gguf_writer *w, const char *key, int v);
int le_gguf_set_str(struct le_gguf_writer *w, const char *key, const char *s);
int le_gguf_set_arr(struct le_gguf_writer *w, const char *key, int elem_type, uint64_t n, const void *data);
int le_gguf_set_arr_str(struct le_gguf_writer *w, const char *key, uint64_t n, const char *const *strs);
/* Copies data (le_type_row_size(type, ne[0]) * rows bytes). ne as in le_gguf_tensor. */
int le_gguf_add_tensor(struct le_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data);
int le_gguf_write(struct le_gguf_writer *w, const char *path);

/* Additions (gguf.c owner). */
/* Start of the data section (tensor offsets are relative to it). */
uint64_t le_gguf_data_offset(const struct le_gguf *g);
/* Unsigned/double getters for values the 32-bit/float getters cannot hold. */
int le_gguf_get_u64(const struct le_gguf *g, const char *key, uint64_t *out);
int le_gguf_get_f64(const struct le_gguf *g, const char *key, double *out); /* F32 or F64 */
/* Raw little-endian bytes of key/value i's value as stored after its type
 * field (for an array: element type, count, elements). NULL if i is out of range. */
const void *le_gguf_kv_data(const struct le_gguf *g, int64_t i, uint64_t *nbytes);
/* ggml's block size and bytes per block for every ggml type number 0..39
 * that gguf files may hold (including types this engine cannot compute
 * with, e.g. IQ/K-quants); LE_EFORMAT for removed or unknown numbers.
 * name: ggml's type name ("q4_K"). Any out pointer may be NULL. */
int le_gguf_type_info(int type, int64_t *blck, uint64_t *type_size, const char **name);

/* Writer additions. set_* on a key already present replaces its value in
 * place (the key keeps its position). */
/* Any scalar value type (not STRING or ARRAY); v points to the value in
 * host (little-endian) layout; a BOOL is one byte 0 or 1. */
int le_gguf_set_val(struct le_gguf_writer *w, const char *key, int type, const void *v);
/* Copies key/value i of g verbatim (any type, e.g. a whole vocab array). */
int le_gguf_writer_copy_kv(struct le_gguf_writer *w, const struct le_gguf *g, int64_t i);
/* A tensor whose data is produced while le_gguf_write writes it: fill(arg,
 * data, nbytes) fills the tensor's nbytes (a buffer the writer allocates and
 * frees) and returns LE_OK or an LE_E* code with its message set, which
 * le_gguf_write then returns (leaving no file). Fills run in the order the
 * tensors were added, one tensor in memory at a time, so a file of any size
 * is written in the memory of its largest tensor. arg must live until the
 * write. */
typedef int (*le_gguf_fill_fn)(void *arg, void *data, uint64_t nbytes);
int le_gguf_add_tensor_gen(struct le_gguf_writer *w, const char *name, int type, int n_dims,
                           const int64_t *ne, le_gguf_fill_fn fill, void *arg);

/* Views: a le_gguf whose metadata are w's keys (its tensors are ignored;
 * w may be freed afterwards) and whose tensors are the n_t given ones, with
 * data pointers anywhere (another file's mapping, converted copies): the
 * form every other model format is presented in (le_format.h). Names and
 * shapes are copied and checked; data is not copied. release(owner), if
 * given, runs at le_gguf_close (also when this call fails). path is a
 * label for messages; file_size is the metadata image plus tensor bytes. */
int le_gguf_open_view(struct le_gguf **out, const char *path, const struct le_gguf_writer *w,
                      const struct le_gguf_tensor *tensors, int64_t n_t, void (*release)(void *),
                      void *owner);
int le_gguf_is_view(const struct le_gguf *g);

#endif
