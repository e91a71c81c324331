/*
 * le_repdb: a small results database for the report tests, written through
 * the store's own put functions, and what was put in it, so a test can
 * compute each number a table must show by itself.
 *
 * Contents: two models ("alpha", 6,738,415,616 parameters -- LLaMA 7B's
 * count, so published differences apply; "beta", small); zero-shot cells of
 * hellaswag, boolq, winogrande and brown-cloze, an older hellaswag cell of
 * alpha (superseded) and a 5-shot one (not zero-shot); perplexity cells
 * (llamacpp ctx 512, gptq ctx 2048); "compare" cells of two quantized
 * types of alpha; a training log; and a sweep of 3 IsoFLOP budgets x 5
 * sizes whose losses follow L(N, D) = E + A/N^alpha + B/D^beta exactly,
 * with training curves.
 */
#ifndef LE_REPDB_H
#define LE_REPDB_H

#include <stdint.h>

enum { LE_REPDB_BUDGETS = 3, LE_REPDB_SIZES = 5, LE_REPDB_CELLS = LE_REPDB_BUDGETS * LE_REPDB_SIZES,
       LE_REPDB_POINTS = 8 };

struct le_repdb {
    int64_t alpha_params, beta_params;
    double hs_alpha, hs_alpha_old, hs_alpha_5shot, hs_alpha_stderr; /* hellaswag acc_norm */
    int64_t hs_alpha_n;
    double boolq_alpha_uncond, boolq_alpha_acc;
    double wg_beta;                      /* winogrande acc */
    double cloze_alpha_norm, cloze_beta_acc; /* beta's cloze cell has acc only */
    double ppl_alpha_512, ppl_beta_512, ppl_alpha_2048;
    double q4_ppl, q4_base, q4_kld, q4_bpw, q8_ppl, q8_kld, q8_bpw;
    double E, A, B, alpha, beta;         /* the sweep's true law */
    double budget[LE_REPDB_BUDGETS];
    double n[LE_REPDB_CELLS], d[LE_REPDB_CELLS], loss[LE_REPDB_CELLS];
};

/* Creates path (a new file) and fills it; 0 on success, else a store error
 * (le_err_msg says which). */
int le_repdb_build(const char *path, struct le_repdb *e);

#endif
