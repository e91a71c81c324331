/* cli: error printing and option parsing shared by all subcommands. */
#include "cli.h"
#include "le_err.h"
#include "le_job.h"   /* le_job_note: --ctx notes in the run */
#include "le_store.h" /* struct le_store_holder */

#include <cjson/cJSON.h> /* the note */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>     /* clock_gettime */

static void le_cli_vprint(const char *fmt, va_list ap) {
    fputs("llamaeval: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int le_cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    le_cli_vprint(fmt, ap);
    va_end(ap);
    return LE_EXIT_FAIL;
}

int le_cli_usage(const char *usage, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    le_cli_vprint(fmt, ap);
    va_end(ap);
    if (usage)
        fprintf(stderr, "%s\n", usage);
    return LE_EXIT_USAGE;
}

int le_cli_fail_lib(int code) {
    const char *m = le_err_msg();
    return le_cli_fail("%s", m && m[0] ? m : le_err_name(code));
}

int le_cli_next(struct le_cli_parser *p) {
    if (!p->started) {
        optind = 1;
        opterr = 0;
        p->started = 1;
    }
    int c = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, NULL);
    if (c == 'h') {
        fputs(p->help, stdout);
        return LE_CLI_HELP;
    }
    if (c == '?') {
        if (optopt) {
            le_cli_usage(p->usage, "option -%c is unknown or needs a value", optopt);
        } else {
            le_cli_usage(p->usage, "unknown option or missing value: %s", p->argv[optind - 1]);
        }
        return LE_CLI_BAD;
    }
    if (c == ':') {
        le_cli_usage(p->usage, "option %s needs a value", p->argv[optind - 1]);
        return LE_CLI_BAD;
    }
    return c;
}

int le_cli_opt(struct le_cli_parser *p, int *exit) {
    int c = le_cli_next(p);
    if (c == LE_CLI_HELP || c == LE_CLI_BAD) {
        *exit = c == LE_CLI_HELP ? LE_EXIT_OK : LE_EXIT_USAGE;
        return -1;
    }
    return c;
}

int le_cli_optind(void) { return optind; }

int le_cli_int(const struct le_cli_parser *p, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        le_cli_usage(p->usage, "%s wants an integer in [%ld, %ld], got '%s'", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int le_cli_u64(const struct le_cli_parser *p, const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || *s == '-') {
        le_cli_usage(p->usage, "%s expects a non-negative integer, got '%s'", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

int le_cli_double(const struct le_cli_parser *p, const char *flag, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        le_cli_usage(p->usage, "%s wants a number, got '%s'", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

double le_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void le_cli_job_wait(void *ud, const char *task, const struct le_store_holder *h) {
    (void)ud;
    fprintf(stderr, "llamaeval: waiting: cell %s is being computed by run %lld (pid %lld on %s, lease %.0f s left)\n",
            task, (long long)h->run_id, (long long)h->pid, h->host[0] ? h->host : "?", h->expires_in);
    fflush(stderr);
}

int le_cli_check_ctx(struct le_job *job, const char *model, int64_t n_ctx, int64_t n_ctx_train) {
    if (n_ctx_train <= 0 || n_ctx <= n_ctx_train)
        return LE_OK;
    char warn[160];
    snprintf(warn, sizeof warn, "n_ctx_per_seq (%lld) > n_ctx_train (%lld) -- possible training context overflow",
             (long long)n_ctx, (long long)n_ctx_train);
    fprintf(stderr, "llamaeval: warning: %s: %s\n", model, warn);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return le_err_set(LE_ENOMEM, "out of memory");
    cJSON_AddStringToObject(o, "warning", warn);
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddNumberToObject(o, "n_ctx", (double)n_ctx);
    cJSON_AddNumberToObject(o, "n_ctx_train", (double)n_ctx_train);
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = js ? le_job_note(job, js) : le_err_set(LE_ENOMEM, "out of memory");
    free(js);
    return rc;
}
