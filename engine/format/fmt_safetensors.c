/*
 * fmt_safetensors: the safetensors container (u64 little-endian header
 * length, a JSON header {"name": {"dtype", "shape", "data_offsets"}, ...,
 * "__metadata__": {...}}, then the data), parsed into a table of tensors
 * pointing into the caller's mapping. Every offset, shape and byte count is
 * checked against the file before use; only F32, F16 and BF16 are accepted
 * (the dtypes LLaMA checkpoints and adapters are published in).
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int st_dtype(const char *s) {
    if (!strcmp(s, "F32"))
        return LE_TYPE_F32;
    if (!strcmp(s, "F16"))
        return LE_TYPE_F16;
    if (!strcmp(s, "BF16"))
        return LE_TYPE_BF16;
    return -1;
}

static int st_one(const char *path, const cJSON *e, uint64_t dsize, const uint8_t *data, struct fmt_st_tensor *t) {
    const char *name = e->string;
    if (strlen(name) >= sizeof t->name)
        return le_err_set(LE_EFORMAT, "%s: tensor name of %zu bytes is too long", path, strlen(name));
    strcpy(t->name, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return le_err_set(LE_EFORMAT, "%s: tensor %s: header entry lacks dtype, shape or data_offsets", path, name);
    t->type = st_dtype(dt->valuestring);
    if (t->type < 0)
        return le_err_set(LE_EUNSUP, "%s: tensor %s has dtype %.16s (only F32, F16, BF16 are read)", path, name,
                          dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > 4)
        return le_err_set(LE_EUNSUP, "%s: tensor %s has %d dimensions (at most 4)", path, name, nd);
    t->n_dims = nd;
    uint64_t nel = 1;
    for (int j = 0; j < 4; j++) {
        t->shape[j] = 1;
        if (j >= nd)
            continue;
        const cJSON *d = cJSON_GetArrayItem(sh, j);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15 ||
            d->valuedouble != floor(d->valuedouble))
            return le_err_set(LE_EFORMAT, "%s: tensor %s: bad dimension %d", path, name, j);
        t->shape[j] = (int64_t)d->valuedouble;
        if (__builtin_mul_overflow(nel, (uint64_t)t->shape[j], &nel))
            return le_err_set(LE_EFORMAT, "%s: tensor %s: element count overflows", path, name);
    }
    double b0 = cJSON_GetArrayItem(of, 0)->valuedouble, b1 = cJSON_GetArrayItem(of, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(of, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(of, 1)) || b0 < 0 ||
        b1 < b0 || b1 > (double)dsize)
        return le_err_set(LE_EFORMAT, "%s: tensor %s: data_offsets [%.0f, %.0f] lie outside the %llu data bytes",
                          path, name, b0, b1, (unsigned long long)dsize);
    uint64_t want;
    if (__builtin_mul_overflow(nel, (uint64_t)(t->type == LE_TYPE_F32 ? 4 : 2), &want) ||
        want != (uint64_t)b1 - (uint64_t)b0)
        return le_err_set(LE_EFORMAT, "%s: tensor %s: %.0f data bytes for its shape, which needs %llu", path,
                          name, b1 - b0, (unsigned long long)want);
    t->data = data + (uint64_t)b0;
    t->nbytes = want;
    return LE_OK;
}

int fmt_st_parse(const char *path, const uint8_t *p, uint64_t size, struct fmt_st_tensor **out, int64_t *n) {
    *out = NULL;
    *n = 0;
    uint64_t hlen;
    if (size < 8)
        return le_err_set(LE_EFORMAT, "%s: truncated safetensors header (%llu bytes)", path,
                          (unsigned long long)size);
    memcpy(&hlen, p, 8);
    if (hlen > size - 8 || hlen < 2)
        return le_err_set(LE_EFORMAT, "%s: safetensors header length %llu exceeds the file (%llu bytes): truncated",
                          path, (unsigned long long)hlen, (unsigned long long)size);
    cJSON *h = cJSON_ParseWithLength((const char *)p + 8, (size_t)hlen);
    if (!h || !cJSON_IsObject(h)) {
        cJSON_Delete(h);
        return le_err_set(LE_EFORMAT, "%s: safetensors header is not a JSON object", path);
    }
    int cnt = cJSON_GetArraySize(h);
    struct fmt_st_tensor *t = calloc((size_t)cnt + 1, sizeof *t);
    int rc = t ? LE_OK : le_err_set(LE_ENOMEM, "%s: out of memory", path);
    int64_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        if (rc)
            break;
        if (!strcmp(e->string, "__metadata__"))
            continue;
        if (!cJSON_IsObject(e))
            rc = le_err_set(LE_EFORMAT, "%s: header entry %s is not an object", path, e->string);
        else
            rc = st_one(path, e, size - 8 - hlen, p + 8 + hlen, &t[k++]);
    }
    cJSON_Delete(h);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    *n = k;
    return LE_OK;
}
