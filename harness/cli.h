/*
 * cli: the llamaeval command line's shared pieces. Only harness/ prints.
 *
 * Exit codes (documented in README and `llamaeval --help`):
 *   0 success, 1 failure (bad input, I/O, network, ...), 2 usage error.
 * Every error is one line on stderr: "llamaeval: error: <what>".
 */
#ifndef LE_CLI_H
#define LE_CLI_H

#include <getopt.h> /* struct option, getopt_long for subcommands */
#include <stdint.h> /* int64_t */

enum { LE_EXIT_OK = 0, LE_EXIT_FAIL = 1, LE_EXIT_USAGE = 2 };

/* One subcommand. run() gets argv with argv[0] = the subcommand name. */
struct le_cmd {
    const char *name;
    const char *summary; /* one line for `llamaeval --help` */
    int (*run)(int argc, char **argv);
};

/* Prints "llamaeval: error: <fmt>" and returns LE_EXIT_FAIL. */
int le_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "llamaeval: error: <fmt>" and a "usage: ..." line, returns LE_EXIT_USAGE. */
int le_cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the library's last error (le_err_msg) as one error line; returns 1. */
int le_cli_fail_lib(int code);
/* Seconds on the monotonic clock (for timing what the user is shown). */
double le_cli_now(void);
/* le_job_opts.on_wait for commands: one line on stderr saying which cell
 * waits for whom ("llamaeval: waiting: cell ... is being computed by ..."). */
struct le_store_holder;
void le_cli_job_wait(void *ud, const char *task, const struct le_store_holder *h);
/* A context longer than the model's training context (n_ctx_train > 0):
 * llama.cpp's warning on stderr ("llamaeval: warning: n_ctx_per_seq (N) >
 * n_ctx_train (T) -- possible training context overflow", the wording of
 * llama_context's), and a note in the job's run (job may be NULL) naming
 * the model, n_ctx and n_ctx_train. Returns the note's error, else LE_OK.
 * For every command that sets a context: ppl, eval, bench (gptq, compare). */
struct le_job;
int le_cli_check_ctx(struct le_job *job, const char *model, int64_t n_ctx, int64_t n_ctx_train);

/*
 * getopt_long over a subcommand's argv, with the house rules: "-h/--help"
 * prints help (to stdout) and makes the caller return 0; unknown flags and
 * missing arguments are usage errors. Returns the option, -1 at the end,
 * or LE_CLI_HELP / LE_CLI_BAD (caller returns 0 / 2 respectively, message
 * already printed).
 */
enum { LE_CLI_HELP = -100, LE_CLI_BAD = -101 };
struct le_cli_parser {
    int argc;
    char **argv;
    const char *shortopts;
    const struct option *longopts; /* must include {"help", no_argument, 0, 'h'} */
    const char *usage;             /* "usage: llamaeval db init --db FILE" */
    const char *help;              /* full help text printed by --help */
    int started;
};
int le_cli_next(struct le_cli_parser *p);
/* le_cli_next for a loop that handles only real options: the next option,
 * or -1 at the end, after --help (*exit = LE_EXIT_OK) and after a bad option
 * (*exit = LE_EXIT_USAGE; *exit is left alone otherwise):
 *     int c, ec = -1;
 *     while ((c = le_cli_opt(&p, &ec)) != -1)
 *         switch (c) { ... }
 *     if (ec >= 0)
 *         return ec;
 */
int le_cli_opt(struct le_cli_parser *p, int *exit);
/* Index of the first non-option argument after le_cli_next returned -1. */
int le_cli_optind(void);

/* Parsing of numeric flag values; on failure print a usage error (return 0/-1). */
int le_cli_int(const struct le_cli_parser *p, const char *flag, const char *s, long lo, long hi, long *out);
int le_cli_double(const struct le_cli_parser *p, const char *flag, const char *s, double *out);
/* A non-negative integer up to 2^64 - 1 (seeds). */
int le_cli_u64(const struct le_cli_parser *p, const char *flag, const char *s, uint64_t *out);

#endif
