/*
 * tool_genmodel: writes a random-weight LLaMA GGUF of a given shape and type
 * (tests/le_genmodel.h), for scripts/bench.
 *   tool_genmodel --dim 288 --layers 6 --heads 6 [--kv-heads N] --ffn 768
 *                 --vocab 32000 [--ctx 1024] [--type f32|f16|bf16|q8_0|q4_0|q4_K|...]
 *                 [--embd-type TYPE] [--embd-sd SD] [--tied] [--seed S] --out M.gguf
 * Any size: tensors are generated as they are written (scripts/bench big
 * writes 7B-shaped files with it).
 */
#include "le_err.h"
#include "le_genmodel.h"
#include "le_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    struct le_genmodel_cfg c = {.dim = 288, .n_layers = 6, .n_heads = 6, .ffn = 768,
                                .n_vocab = 32000, .n_ctx = 1024, .seed = 1, .name = "bench"};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tied")) { c.tied = 1; continue; }
        if (!v) { fprintf(stderr, "tool_genmodel: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--dim")) c.dim = atoi(v);
        else if (!strcmp(a, "--layers")) c.n_layers = atoi(v);
        else if (!strcmp(a, "--heads")) c.n_heads = atoi(v);
        else if (!strcmp(a, "--kv-heads")) c.n_kv_heads = atoi(v);
        else if (!strcmp(a, "--ffn")) c.ffn = atoi(v);
        else if (!strcmp(a, "--vocab")) c.n_vocab = atoi(v);
        else if (!strcmp(a, "--ctx")) c.n_ctx = atoi(v);
        else if (!strcmp(a, "--seed")) c.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--embd-sd")) c.embd_sd = (float)atof(v);
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--type")) {
            c.wtype = le_type_from_name(v);
            if (c.wtype < 0) { fprintf(stderr, "tool_genmodel: unknown type %s\n", v); return 2; }
        } else if (!strcmp(a, "--embd-type")) {
            c.embd_type = le_type_from_name(v);
            if (c.embd_type < 0) { fprintf(stderr, "tool_genmodel: unknown type %s\n", v); return 2; }
        } else { fprintf(stderr, "tool_genmodel: unknown option %s\n", a); return 2; }
    }
    if (!out) { fprintf(stderr, "tool_genmodel: --out is required\n"); return 2; }
    int rc = le_genmodel_write(out, &c);
    if (rc) { fprintf(stderr, "tool_genmodel: %s\n", le_err_msg()); return 1; }
    return 0;
}
