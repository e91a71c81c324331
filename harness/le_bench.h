/*
 * le_bench: prompt-processing and token-generation speed as llama-bench's
 * pp and tg tests measure them (cmd_bench.c), shared by `llamaeval bench` and `llamaeval compare`.
 */
#ifndef LE_BENCH_H
#define LE_BENCH_H

struct le_model;

/* n tokens evaluated in one batch from an empty cache on a pool of nthreads,
 * logits of the last position only: one warm-up run, then reps timed runs;
 * tps[0..reps) gets each run's tokens/s (unsorted). */
int le_bench_pp(struct le_model *m, int nthreads, int n, int reps, double *tps);
/* As llama-bench's tg test: n tokens evaluated one at a time from an empty
 * cache, the logits of each computed; one warm-up run, then reps timed runs
 * of tokens/s into tps. */
int le_bench_tg(struct le_model *m, int nthreads, int n, int reps, double *tps);
/* As le_bench_tg for seqs sequences decoded together (le_ctx_decode_batch
 * after each one's first token); tokens/s counts all seqs x n tokens. */
int le_bench_tg_seqs(struct le_model *m, int nthreads, int n, int seqs, int reps, double *tps);

#endif
