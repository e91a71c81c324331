/*
 * le_fit: Chinchilla-style scaling-law fits (Hoffmann et al. 2022, approaches
 * 1, 2 and 3; Besiroglu et al. 2024's replication of approach 3) with seeded
 * bootstrap intervals. Pure numerics: no store, no engine; the caller fills
 * an array of runs (from the store, or from a CSV).
 *
 * This header is the contract between `llamaeval sweep` (which records
 * runs), `llamaeval fit` and `llamaeval report` (which read them). The input
 * struct below is fixed; the result API is defined by reports/fit.c's author.
 */
#ifndef LE_FIT_H
#define LE_FIT_H

#include <stdint.h>

/* Parameter-count conventions (Pearce & Song 2024): which N a fit uses. */
enum le_fit_ncount {
    LE_FIT_N_TOTAL = 0,        /* every parameter (Chinchilla) */
    LE_FIT_N_NONEMBED = 1,     /* without the token embedding (Kaplan) */
    LE_FIT_N_NONEMBED_NOOUT = 2, /* without the embedding and the output layer */
    LE_FIT_N_COUNT = 3
};
/* FLOP conventions: C = 6ND (N in the chosen convention) or Chinchilla's
 * Appendix F count (attention and output layer included). */
enum le_fit_flops { LE_FIT_FLOPS_6ND = 0, LE_FIT_FLOPS_EXACT = 1 };

/* One training run. Arrays are borrowed for the duration of a fit call. */
struct le_fit_run {
    double n[LE_FIT_N_COUNT];  /* parameters under each convention (NAN if unknown) */
    double d;                  /* training tokens */
    double flops_per_token;    /* Appendix F count per token, forward + backward (NAN if unknown) */
    double loss;               /* final held-out loss, nats/token */
    double budget;             /* the IsoFLOP budget C this run belongs to; NAN when none */
    int n_curve;               /* evaluation points during training (0 if none) */
    const double *curve_tokens;/* tokens seen at each point, increasing */
    const double *curve_loss;  /* held-out loss at each point */
};

#endif
