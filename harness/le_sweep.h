/*
 * le_sweep: scaling-sweep plans -- which model shapes to train on which
 * token budgets, with what architecture, learning-rate and schedule rules --
 * and their resolution into cells (one training run each). The format is
 * documented in README.md ("Scaling sweeps"); sweep_plan.c parses it.
 *
 * Parsing needs no data: le_sweep_plan_parse checks the plan's form and
 * rules and refuses a bad plan with a one-line message naming the key.
 * Cells need the vocabulary size (FLOPs per token depend on it) and the
 * training split's token count (the max-epochs guard): le_sweep_plan_cells.
 *
 * Ownership: a plan owns its strings; cells are a malloc'ed array the caller
 * frees with free().
 */
#ifndef LE_SWEEP_H
#define LE_SWEEP_H

#include "le_train.h" /* struct le_train_config, le_train_scaling */

#include <stdint.h>

struct le_sweep_plan;

/* How an IsoFLOP budget C becomes a token count D = C / FLOPs-per-token. */
enum le_sweep_flops {
    LE_SWEEP_FLOPS_CHINCHILLA = 0, /* Hoffmann et al. 2022 App. F count (le_train_scaling_counts) */
    LE_SWEEP_FLOPS_6N = 1          /* 6 N_total per token */
};

/* The plan's settings other than its cells (strings owned by the plan). */
struct le_sweep_setup {
    const char *name;
    const char *tokenizer;      /* a tokenizer GGUF; NULL when trained (below) */
    int64_t tokenizer_vocab;    /* > 0: train a BPE tokenizer of this many ids ... */
    const char *tokenizer_corpus; /* ... on "brown" (its training split), a text file, or NULL:
                                     the plan corpus's training split */
    const char *train_file, *valid_file; /* the corpus; both NULL: Brown */
    double max_epochs;          /* refuse a cell needing more epochs of the training split */
    int64_t min_steps;          /* refuse a cell with fewer optimizer steps */
    int flops;                  /* enum le_sweep_flops (IsoFLOP plans) */
    int isoflop;                /* 1 IsoFLOP budgets, 0 a grid */
    const char *tasks[8];       /* Brown tasks scored on every cell's final model */
    int n_tasks;
    int64_t task_limit;         /* documents per task (0 = all) */
    uint64_t seed;
};

/* One training run of the plan. */
struct le_sweep_cell {
    char label[48];             /* "C=1e+12 d64-l2" or "d64-l2 D=1.2M" */
    char dir[64];               /* file-name-safe form of the label */
    int budget_index;           /* which budget (IsoFLOP) or token count (grid) */
    double budget;              /* its IsoFLOP budget C; NAN in a grid */
    struct le_train_config c;   /* resolved: vocab, ffn, kv heads, tokens, warmup, lr, evals */
    struct le_train_scaling k;  /* the three N and the App. F FLOPs per token */
    int64_t steps;
    double flops_exact;         /* k.flops_per_token * tokens */
    double flops_6nd;           /* 6 * n_total * tokens */
    double epochs;              /* tokens / training-split tokens */
};

/* Parses plan JSON text; base_dir resolves the plan's relative paths
 * (NULL: as given). LE_EINVAL with "plan: ..." when refused. */
int le_sweep_plan_parse(struct le_sweep_plan **out, const char *json, const char *base_dir);
void le_sweep_plan_free(struct le_sweep_plan *p); /* NULL is fine */
const struct le_sweep_setup *le_sweep_plan_setup(const struct le_sweep_plan *p);
/* Resolves the cells for a tokenizer of vocab ids and a training split of
 * n_train tokens (<= 0: the epochs guard is not checked). Cells come in
 * plan order: budget by budget (or token count by token count), shapes as
 * listed. LE_EINVAL naming the cell when one is refused (too many epochs,
 * too few steps, a shape the trainer refuses). *cells: malloc'ed. */
int le_sweep_plan_cells(const struct le_sweep_plan *p, int64_t vocab, int64_t n_train,
                        struct le_sweep_cell **cells, int *n);

#endif
