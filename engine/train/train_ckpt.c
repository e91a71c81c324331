/*
 * train_ckpt: checkpoints of a trainer -- the model as a llama GGUF (F32,
 * through le_gguf_writer, keys as the engine and llama.cpp read them, the
 * tokenizer's keys copied byte for byte) and the optimizer state in a sidecar
 * "<path>.opt":
 *
 *   "LETROPT1" u32 version=1 u32 header_bytes=64
 *   u64 n_params, step, data_rng, config_hash, data_hash, n_train
 *   f32 m[n_params], f32 v[n_params]
 *   u64 FNV-1a of everything above
 *
 * The sidecar is written first (temp file + rename), then the GGUF (the
 * writer is atomic too); both carry the step, and resume refuses a pair
 * whose steps differ, so a crash between the two writes is detected.
 */
#include "le_train.h"
#include "train_int.h"

#include "le_err.h"  /* le_err_set */
#include "le_gguf.h" /* le_gguf_writer, le_gguf_open */
#include "le_types.h" /* LE_TYPE_F32 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* fsync */

enum { LE_OPT_VERSION = 1, LE_OPT_HEADER = 64 };
static const char le_opt_magic[8] = {'L', 'E', 'T', 'R', 'O', 'P', 'T', '1'};

/* Copies every tokenizer.* key of src into w byte for byte (its type, and
 * strings with NUL bytes, kept: the typed getters would widen or cut them). */
static int copy_tokenizer(struct le_gguf_writer *w, const struct le_gguf *src) {
    int rc = LE_OK;
    for (int64_t i = 0; i < le_gguf_n_kv(src) && rc == LE_OK; i++)
        if (strncmp(le_gguf_kv_key(src, i), "tokenizer.", 10) == 0)
            rc = le_gguf_writer_copy_kv(w, src, i);
    return rc;
}

static int write_sidecar(const struct le_trainer *t, const char *path) {
    size_t n = strlen(path);
    char *opt = malloc(n + 16), *tmp = malloc(n + 16);
    if (!opt || !tmp) {
        free(opt), free(tmp);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    snprintf(opt, n + 16, "%s.opt", path);
    snprintf(tmp, n + 16, "%s.opt.tmp", path);
    int rc = LE_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = le_err_set(LE_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    unsigned char hdr[LE_OPT_HEADER];
    memset(hdr, 0, sizeof hdr);
    uint32_t ver = LE_OPT_VERSION, hb = LE_OPT_HEADER;
    uint64_t f64[6] = {(uint64_t)t->n_params, (uint64_t)t->step, t->rng, le_train_config_hash(&t->c),
                       le_train_fnv(t->train, (size_t)t->n_train * sizeof(int32_t), 0xcbf29ce484222325ULL),
                       (uint64_t)t->n_train};
    memcpy(hdr, le_opt_magic, 8);
    memcpy(hdr + 8, &ver, 4);
    memcpy(hdr + 12, &hb, 4);
    memcpy(hdr + 16, f64, sizeof f64);
    uint64_t h = le_train_fnv(hdr, sizeof hdr, 0xcbf29ce484222325ULL);
    h = le_train_fnv(t->m, (size_t)t->n_params * sizeof(float), h);
    h = le_train_fnv(t->v, (size_t)t->n_params * sizeof(float), h);
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr &&
             fwrite(t->m, sizeof(float), (size_t)t->n_params, f) == (size_t)t->n_params &&
             fwrite(t->v, sizeof(float), (size_t)t->n_params, f) == (size_t)t->n_params &&
             fwrite(&h, sizeof h, 1, f) == 1 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        rc = le_err_set(LE_EIO, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, opt) != 0) {
        rc = le_err_set(LE_EIO, "cannot rename %s to %s: %s", tmp, opt, strerror(errno));
        unlink(tmp);
    }
done:
    free(opt), free(tmp);
    return rc;
}

static int set_arch_keys(struct le_gguf_writer *w, const struct le_trainer *t) {
    char name[64];
    snprintf(name, sizeof name, "llamaeval-d%lld-l%lld", (long long)t->C, (long long)t->L);
    int rc = le_gguf_set_str(w, "general.architecture", "llama");
    if (!rc) rc = le_gguf_set_str(w, "general.name", name);
    if (!rc) rc = le_gguf_set_u32(w, "general.file_type", 0);
    if (!rc) rc = le_gguf_set_u32(w, "llama.context_length", (uint32_t)t->T);
    if (!rc) rc = le_gguf_set_u32(w, "llama.embedding_length", (uint32_t)t->C);
    if (!rc) rc = le_gguf_set_u32(w, "llama.block_count", (uint32_t)t->L);
    if (!rc) rc = le_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)t->F);
    if (!rc) rc = le_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)t->H);
    if (!rc) rc = le_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)t->G);
    if (!rc) rc = le_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)t->D);
    if (!rc) rc = le_gguf_set_f32(w, "llama.rope.freq_base", t->c.rope_base);
    if (!rc) rc = le_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", t->c.norm_eps);
    if (!rc) rc = le_gguf_set_u32(w, "llama.vocab_size", (uint32_t)t->V);
    return rc;
}

static int set_train_keys(struct le_gguf_writer *w, const struct le_trainer *t, double val_loss, double uni) {
    struct le_train_counts k;
    le_train_counts(&t->c, &k);
    char cfg[1024];
    int rc = le_train_config_json(&t->c, cfg, sizeof cfg);
    uint64_t seen = (uint64_t)t->step * (uint64_t)t->N;
    if (!rc) rc = le_gguf_set_u64(w, "llamaeval.train.tokens_seen", seen);
    if (!rc) rc = le_gguf_set_u64(w, "llamaeval.train.n_params", (uint64_t)k.n_params);
    if (!rc) rc = le_gguf_set_u64(w, "llamaeval.train.n_params_nonembed", (uint64_t)k.n_params_nonembed);
    if (!rc) rc = le_gguf_set_f64(w, "llamaeval.train.flops", k.flops_per_step * (double)t->step);
    if (!rc) rc = le_gguf_set_str(w, "llamaeval.train.config", cfg);
    if (!rc) rc = le_gguf_set_u64(w, "llamaeval.train.seed", t->c.seed);
    if (!rc) rc = le_gguf_set_u64(w, "llamaeval.train.step", (uint64_t)t->step);
    if (!rc) rc = le_gguf_set_u64(w, "llamaeval.train.n_steps", (uint64_t)t->n_steps);
    if (!rc && isfinite(val_loss)) rc = le_gguf_set_f64(w, "llamaeval.train.val_loss", val_loss);
    if (!rc && isfinite(uni)) rc = le_gguf_set_f64(w, "llamaeval.train.unigram_val_loss", uni);
    return rc;
}

int le_trainer_save(struct le_trainer *t, const char *path, const struct le_gguf *tok,
                    double val_loss, double unigram_loss) {
    int rc = write_sidecar(t, path);
    if (rc)
        return rc;
    struct le_gguf_writer *w = NULL;
    rc = le_gguf_writer_new(&w);
    if (!rc) rc = set_arch_keys(w, t);
    if (!rc && tok) rc = copy_tokenizer(w, tok);
    if (!rc) rc = set_train_keys(w, t, val_loss, unigram_loss);
    for (int i = 0; i < t->n_tt && !rc; i++) {
        const struct le_tt *e = &t->tt[i];
        int64_t ne[2] = {e->cols, e->rows};
        rc = le_gguf_add_tensor(w, e->name, LE_TYPE_F32, e->n_dims, ne, t->params + e->off);
    }
    if (!rc) rc = le_gguf_write(w, path);
    le_gguf_writer_free(w);
    return rc;
}

static int read_sidecar(struct le_trainer *t, const char *path, uint64_t *step) {
    size_t n = strlen(path);
    char *opt = malloc(n + 8);
    if (!opt)
        return le_err_set(LE_ENOMEM, "out of memory");
    snprintf(opt, n + 8, "%s.opt", path);
    int rc = LE_OK;
    FILE *f = fopen(opt, "rb");
    unsigned char hdr[LE_OPT_HEADER];
    if (!f) {
        rc = le_err_set(LE_EIO, "cannot resume: cannot open %s: %s", opt, strerror(errno));
        goto done;
    }
    uint64_t f64[6], h, hf;
    uint32_t ver;
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, le_opt_magic, 8) != 0) {
        rc = le_err_set(LE_EFORMAT, "%s is not a llamaeval optimizer state (bad magic)", opt);
        goto done;
    }
    memcpy(&ver, hdr + 8, 4);
    memcpy(f64, hdr + 16, sizeof f64);
    if (ver != LE_OPT_VERSION) {
        rc = le_err_set(LE_EFORMAT, "%s has version %u, this build reads %d", opt, ver, LE_OPT_VERSION);
        goto done;
    }
    if (f64[0] != (uint64_t)t->n_params || f64[3] != le_train_config_hash(&t->c)) {
        rc = le_err_set(LE_EINVAL, "cannot resume from %s: it was saved with a different model or config", opt);
        goto done;
    }
    if (f64[5] != (uint64_t)t->n_train ||
        f64[4] != le_train_fnv(t->train, (size_t)t->n_train * sizeof(int32_t), 0xcbf29ce484222325ULL)) {
        rc = le_err_set(LE_EINVAL, "cannot resume from %s: the training data (or tokenizer) differ", opt);
        goto done;
    }
    if (fread(t->m, sizeof(float), (size_t)t->n_params, f) != (size_t)t->n_params ||
        fread(t->v, sizeof(float), (size_t)t->n_params, f) != (size_t)t->n_params || fread(&hf, 8, 1, f) != 1) {
        rc = le_err_set(LE_EFORMAT, "%s is truncated", opt);
        goto done;
    }
    h = le_train_fnv(hdr, sizeof hdr, 0xcbf29ce484222325ULL);
    h = le_train_fnv(t->m, (size_t)t->n_params * sizeof(float), h);
    h = le_train_fnv(t->v, (size_t)t->n_params * sizeof(float), h);
    if (h != hf) {
        rc = le_err_set(LE_ECHECKSUM, "%s is corrupt (checksum mismatch)", opt);
        goto done;
    }
    *step = f64[1];
    t->rng = f64[2];
done:
    if (f)
        fclose(f);
    free(opt);
    return rc;
}

int le_trainer_resume(struct le_trainer *t, const char *path) {
    if (!t->train)
        return le_err_set(LE_EINVAL, "set the training data before resuming");
    uint64_t step = 0;
    int rc = read_sidecar(t, path, &step);
    if (rc)
        return rc;
    struct le_gguf *g = NULL;
    rc = le_gguf_open(&g, path);
    if (rc)
        return le_err_wrap(rc, "cannot resume");
    int64_t gstep = -1;
    if (le_gguf_get_i64(g, "llamaeval.train.step", &gstep) != LE_OK || (uint64_t)gstep != step) {
        rc = le_err_set(LE_EINVAL, "cannot resume: %s and its .opt are from different steps", path);
        goto done;
    }
    if (step > (uint64_t)t->n_steps) {
        rc = le_err_set(LE_EINVAL, "cannot resume: the checkpoint is past the last step");
        goto done;
    }
    for (int i = 0; i < t->n_tt; i++) {
        const struct le_tt *e = &t->tt[i];
        const struct le_gguf_tensor *x = le_gguf_find_tensor(g, e->name);
        if (!x || x->type != LE_TYPE_F32 || x->ne[0] != e->cols || (e->n_dims == 2 && x->ne[1] != e->rows) ||
            x->nbytes != (uint64_t)(e->rows * e->cols) * sizeof(float)) {
            rc = le_err_set(LE_EFORMAT, "cannot resume: %s lacks F32 tensor %s of the configured shape", path,
                            e->name);
            goto done;
        }
        memcpy(t->params + e->off, x->data, (size_t)x->nbytes);
    }
    t->step = (int64_t)step;
done:
    le_gguf_close(g);
    return rc;
}
