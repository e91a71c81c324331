/*
 * commands: the subcommand entry points, one per harness/cmd_*.c file.
 * The table lives in main.c; add a line there and a prototype here.
 */
#ifndef LE_COMMANDS_H
#define LE_COMMANDS_H

int le_cmd_db(int argc, char **argv);       /* cmd_db.c */
int le_cmd_info(int argc, char **argv);     /* cmd_info.c */
int le_cmd_tokenize(int argc, char **argv); /* cmd_tokenize.c */
int le_cmd_ppl(int argc, char **argv);      /* cmd_ppl.c */
int le_cmd_eval(int argc, char **argv);     /* cmd_eval.c */
int le_cmd_fetch(int argc, char **argv);    /* cmd_fetch.c */

int le_cmd_bench(int argc, char **argv);    /* cmd_bench.c */
int le_cmd_tokenizer(int argc, char **argv); /* cmd_tokenizer.c */
int le_cmd_train(int argc, char **argv);     /* cmd_train.c */
int le_cmd_sweep(int argc, char **argv);     /* cmd_sweep.c */
int le_cmd_report(int argc, char **argv);    /* cmd_report.c */
int le_cmd_fit(int argc, char **argv);       /* cmd_fit.c */
int le_cmd_quantize(int argc, char **argv);  /* cmd_quantize.c */
int le_cmd_compare(int argc, char **argv);   /* cmd_compare.c */
int le_cmd_convert(int argc, char **argv);   /* cmd_convert.c */
int le_eval_slurm(int argc, char **argv);    /* eval_cluster.c: eval --slurm (from le_cmd_eval) */
int le_cmd_generate(int argc, char **argv);  /* cmd_generate.c */
#endif
