/*
 * tool_fmtwrite: writes a GGUF model (F32, e.g. from tool_genmodel) in
 * another format with the tests' writers (tests/le_fmtwrite.h), for
 * scripts/check-convert-llamacpp:
 *   tool_fmtwrite hf IN.gguf OUTDIR [f32|f16|bf16] [model|json]
 *   tool_fmtwrite llama2c IN.gguf OUT.bin [0|1|2]
 */
#include "le_err.h"
#include "le_fmtwrite.h"
#include "le_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tool_fmtwrite hf|llama2c IN.gguf OUT [TYPE|VERSION] [model|json]\n");
        return 2;
    }
    int rc;
    if (!strcmp(argv[1], "hf")) {
        int type = argc > 4 ? le_type_from_name(argv[4]) : LE_TYPE_F32;
        int tok = argc > 5 && !strcmp(argv[5], "json") ? LE_FW_TOK_JSON : LE_FW_TOK_MODEL;
        mkdir(argv[3], 0755);
        rc = le_fw_hf(argv[2], argv[3], type, 1, tok);
    } else if (!strcmp(argv[1], "llama2c")) {
        rc = le_fw_llama2c(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 1, NULL);
    } else {
        fprintf(stderr, "tool_fmtwrite: unknown format %s\n", argv[1]);
        return 2;
    }
    if (rc) {
        fprintf(stderr, "tool_fmtwrite: %s\n", le_err_msg());
        return 1;
    }
    return 0;
}
