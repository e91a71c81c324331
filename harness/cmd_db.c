/*
 * cmd_db: `llamaeval db init|info|export|merge|runs`, the results store from the shell.
 *   init    creates the database (or migrates an older one) and reports its version
 *   info    schema version, file size and row counts, opened read-only
 *   export  results joined with model and run info, as CSV or JSON
 *   merge   the done cells of shard stores (a Slurm job array's) into one store,
 *           keyed by the cell key (le_store_merge); conflicts are reported
 *   runs    every run with its status; a "running" run whose process is
 *           gone (same host, pid not alive) is shown as "gone"
 * The store itself is harness/store.c; this file only parses and prints.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_db */
#include "le_err.h"
#include "le_store.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h> /* kill(pid, 0): is a run's process alive? */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h> /* gethostname */

static const char *le_db_usage = "usage: llamaeval db <init|info|export|merge|runs> --db FILE [options]";

static const char *le_db_help =
    "usage: llamaeval db <init|info|export|merge|runs> --db FILE [options]\n"
    "\n"
    "Create, inspect and export the SQLite results store.\n"
    "\n"
    "Subcommands:\n"
    "  init     create the database FILE (or migrate an older one to this version)\n"
    "  info     show the schema version, size and row counts of each table\n"
    "  export   write results joined with model and run info as CSV or JSON\n"
    "  merge    merge the done cells of shard stores into one (SHARD... --into FILE)\n"
    "  runs     list the runs and their status (running, ok, failed, interrupted, gone)\n"
    "\n"
    "Run 'llamaeval db <subcommand> --help' for its options.\n";

static const char *le_db_init_usage = "usage: llamaeval db init --db FILE";
static const char *le_db_init_help =
    "usage: llamaeval db init --db FILE\n"
    "\n"
    "Creates the results database FILE (WAL mode) or migrates an existing one to\n"
    "the schema version of this llamaeval. Running it again is harmless.\n"
    "\n"
    "Options:\n"
    "  --db FILE      the database file (its directory must exist and be writable)\n"
    "  -h, --help     show this help\n";

static const char *le_db_info_usage = "usage: llamaeval db info --db FILE";
static const char *le_db_info_help =
    "usage: llamaeval db info --db FILE\n"
    "\n"
    "Prints the schema version, file size and the number of rows in each table.\n"
    "Opens the database read-only.\n"
    "\n"
    "Options:\n"
    "  --db FILE      the database file\n"
    "  -h, --help     show this help\n";

static const char *le_db_export_usage = "usage: llamaeval db export --db FILE [--format csv|json] [--output F]";
static const char *le_db_export_help =
    "usage: llamaeval db export --db FILE [--format csv|json] [--output F]\n"
    "\n"
    "Writes every result (one row per cell and metric) joined with its model\n"
    "(name, path, sha256, parameter counts, ...) and run (command, seed,\n"
    "version, host, ...). CSV has a header row and RFC 4180 quoting; JSON is an\n"
    "array of objects. Missing values are empty (CSV) or null (JSON).\n"
    "\n"
    "Options:\n"
    "  --db FILE        the database file\n"
    "  --format FMT     csv or json (default: json when F ends in .json, else csv)\n"
    "  -o, --output F   write to F instead of standard output ('-')\n"
    "  -h, --help       show this help\n";

/* Parses the flags shared by the three subcommands. Returns -1 to go on, or
 * the exit code (0 after --help, 2 on a usage error). */
static int le_db_parse(int argc, char **argv, const char *usage, const char *help, int allow_export,
                       const char **db, const char **format, const char **output) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},
        {"format", required_argument, 0, 'f'},
        {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":ho:", opts, usage, help, 0};
    int c, ec = -1;
    while ((c = le_cli_opt(&p, &ec)) != -1) {
        switch (c) {
        case 'd':
            *db = optarg;
            break;
        case 'f':
        case 'o':
            if (!allow_export)
                return le_cli_usage(usage, "%s takes no --%s option", argv[0], c == 'f' ? "format" : "output");
            *(c == 'f' ? format : output) = optarg;
            break;
        default:
            return le_cli_usage(usage, "unexpected option");
        }
    }
    if (ec >= 0)
        return ec;
    if (le_cli_optind() < argc)
        return le_cli_usage(usage, "unexpected argument '%s'", argv[le_cli_optind()]);
    if (!*db || !(*db)[0])
        return le_cli_usage(usage, "--db FILE is required");
    return -1;
}

static int le_db_init(int argc, char **argv) {
    const char *db = NULL, *unused1 = NULL, *unused2 = NULL;
    int ec = le_db_parse(argc, argv, le_db_init_usage, le_db_init_help, 0, &db, &unused1, &unused2);
    if (ec >= 0)
        return ec;
    struct stat st;
    int existed = stat(db, &st) == 0;
    int before = 0, after = 0;
    if (existed) {
        struct le_store *ro;
        if (le_store_open_readonly(&ro, db) == 0) {
            le_store_schema_version(ro, &before);
            le_store_close(ro);
        }
    }
    struct le_store *s;
    int rc = le_store_open(&s, db);
    if (rc)
        return le_cli_fail_lib(rc);
    rc = le_store_schema_version(s, &after);
    le_store_close(s);
    if (rc)
        return le_cli_fail_lib(rc);
    if (!existed || before == 0)
        printf("created %s (schema version %d)\n", db, after);
    else if (before < after)
        printf("migrated %s from schema version %d to %d\n", db, before, after);
    else
        printf("%s is up to date (schema version %d)\n", db, after);
    return LE_EXIT_OK;
}

static int le_db_info(int argc, char **argv) {
    const char *db = NULL, *unused1 = NULL, *unused2 = NULL;
    int ec = le_db_parse(argc, argv, le_db_info_usage, le_db_info_help, 0, &db, &unused1, &unused2);
    if (ec >= 0)
        return ec;
    struct le_store *s;
    int rc = le_store_open_readonly(&s, db);
    if (rc)
        return le_cli_fail_lib(rc);
    int version = 0, n = 0;
    const char *names[16];
    int64_t counts[16];
    if (!(rc = le_store_schema_version(s, &version)))
        rc = le_store_table_counts(s, names, counts, 16, &n);
    le_store_close(s);
    if (rc)
        return le_cli_fail_lib(rc);
    struct stat st;
    long long size = stat(db, &st) == 0 ? (long long)st.st_size : -1;
    printf("database: %s\n", db);
    printf("schema version: %d (this llamaeval: %d)\n", version, le_store_schema_latest());
    printf("size: %lld bytes\n", size);
    printf("rows:\n");
    for (int i = 0; i < n; i++)
        printf("  %-13s %lld\n", names[i], (long long)counts[i]);
    return LE_EXIT_OK;
}

static const char *le_db_runs_usage = "usage: llamaeval db runs --db FILE";
static const char *le_db_runs_help =
    "usage: llamaeval db runs --db FILE\n"
    "\n"
    "Lists every run: id, command, status, start and end, host and process id.\n"
    "A run still marked \"running\" whose process no longer exists (killed with\n"
    "SIGKILL, a crash, a power cut) is shown as \"gone\" when it ran on this host;\n"
    "on another host it stays \"running\" (this machine cannot see its process).\n"
    "Opens the database read-only.\n"
    "\n"
    "Options:\n"
    "  --db FILE      the database file\n"
    "  -h, --help     show this help\n";

struct le_db_runs {
    char host[256];
};

static int le_db_run_row(void *ud, const struct le_store_report_run *r) {
    const struct le_db_runs *w = ud;
    const char *status = r->status ? r->status : "?";
    /* "running" with no live process behind it: killed, crashed, or lost power */
    if (!strcmp(status, "running") && r->pid > 0 && r->host && !strcmp(r->host, w->host) &&
        kill((pid_t)r->pid, 0) != 0 && errno == ESRCH)
        status = "gone";
    printf("%-6lld %-9s %-12s %-25s %-25s %s", (long long)r->id, r->command ? r->command : "-", status,
           r->started ? r->started : "-", r->ended ? r->ended : "-", r->host ? r->host : "-");
    if (r->pid > 0)
        printf(" pid %lld", (long long)r->pid);
    printf("\n");
    return 0;
}

static int le_db_runs(int argc, char **argv) {
    const char *db = NULL, *unused1 = NULL, *unused2 = NULL;
    int ec = le_db_parse(argc, argv, le_db_runs_usage, le_db_runs_help, 0, &db, &unused1, &unused2);
    if (ec >= 0)
        return ec;
    struct le_store *s;
    int from = 0, rc = le_store_open_snapshot(&s, db, &from);
    if (rc)
        return le_cli_fail_lib(rc);
    struct le_db_runs w = {{0}};
    if (gethostname(w.host, sizeof w.host - 1) != 0)
        w.host[0] = 0;
    printf("%-6s %-9s %-12s %-25s %-25s %s\n", "id", "command", "status", "started", "ended", "host");
    rc = le_store_report_runs(s, le_db_run_row, &w);
    le_store_close(s);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}

static int le_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int le_db_export(int argc, char **argv) {
    const char *db = NULL, *format = NULL, *output = "-";
    int ec = le_db_parse(argc, argv, le_db_export_usage, le_db_export_help, 1, &db, &format, &output);
    if (ec >= 0)
        return ec;
    if (!format)
        format = le_ends_with(output, ".json") ? "json" : "csv";
    if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return le_cli_usage(le_db_export_usage, "--format must be csv or json, got '%s'", format);
    struct le_store *s;
    int rc = le_store_open_readonly(&s, db);
    if (rc)
        return le_cli_fail_lib(rc);
    rc = le_store_export(s, format, output);
    le_store_close(s);
    if (rc)
        return le_cli_fail_lib(rc);
    if (strcmp(output, "-") != 0)
        printf("wrote %s (%s)\n", output, format);
    return LE_EXIT_OK;
}

static const char *le_db_merge_usage = "usage: llamaeval db merge SHARD... --into FILE";
static const char *le_db_merge_help =
    "usage: llamaeval db merge SHARD... --into FILE\n"
    "\n"
    "Merges the finished cells of shard stores -- the one-writer-per-file stores\n"
    "of a Slurm job array (see README.md, \"On a cluster\") -- into the store FILE\n"
    "(created when missing), each shard in one transaction. A SHARD may be a\n"
    "folder: its *.sqlite files, in name order. Cells are keyed by the cell key:\n"
    "one FILE has done with the same results is left alone, so merging twice adds\n"
    "nothing; one with different numbers is a conflict, reported and left as it\n"
    "is in FILE (exit status 1). Shards of another schema version, or failing\n"
    "SQLite's integrity check, are refused (exit status 1); the others merge.\n"
    "\n"
    "Options:\n"
    "  --into FILE    the store to merge into\n"
    "  -h, --help     show this help\n";

struct le_db_merge_ctx {
    const char *shard;
    long conflicts;
};

static int le_db_on_conflict(void *ud, const char *key, const char *task, const char *metric, double here,
                             double there) {
    struct le_db_merge_ctx *c = ud;
    c->conflicts++;
    if (metric)
        fprintf(stderr, "llamaeval: conflict: cell %.12s (%s) in %s: %s %.17g in the store, %.17g in the shard; "
                        "left as it was\n", key, task, c->shard, metric, here, there);
    else
        fprintf(stderr, "llamaeval: conflict: cell %.12s (%s) in %s: other metrics than the store's; left as "
                        "it was\n", key, task, c->shard);
    return 0;
}

static int le_db_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Merges one shard; returns 1 when it was refused or conflicted. */
static int le_db_merge_one(struct le_store *s, const char *shard, struct le_store_merge_stats *sum) {
    struct le_store_merge_stats st;
    struct le_db_merge_ctx c = {shard, 0};
    int rc = le_store_merge(s, shard, &st, le_db_on_conflict, &c);
    if (rc) {
        le_cli_fail_lib(rc);
        return 1;
    }
    printf("%s: %lld cells added, %lld already there, %lld conflicts, %lld not finished (left out)\n", shard,
           (long long)st.added, (long long)st.same, (long long)st.conflicts, (long long)st.not_done);
    sum->added += st.added, sum->same += st.same, sum->conflicts += st.conflicts, sum->not_done += st.not_done;
    sum->results += st.results, sum->samples += st.samples, sum->points += st.points;
    return st.conflicts > 0;
}

/* A folder's *.sqlite files, in name order (malloc'ed array of strings). */
static int le_db_shards_in(const char *dir, char ***out, int *n) {
    DIR *d = opendir(dir);
    *out = NULL, *n = 0;
    if (!d)
        return le_err_set(LE_EIO, "cannot read folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 8 || strcmp(e->d_name + len - 7, ".sqlite"))
            continue;
        char **p = realloc(*out, sizeof *p * (size_t)(*n + 1));
        if (!p || asprintf(&p[*n], "%s/%s", dir, e->d_name) < 0) {
            *out = p ? p : *out;
            rc = le_err_set(LE_ENOMEM, "out of memory");
            break;
        }
        *out = p, (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, (size_t)*n, sizeof **out, le_db_cmp_str);
    return rc;
}

static int le_db_merge(int argc, char **argv) {
    static const struct option opts[] = {
        {"into", required_argument, 0, 'i'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    struct le_cli_parser p = {argc, argv, ":h", opts, le_db_merge_usage, le_db_merge_help, 0};
    const char *into = NULL;
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        if (c == LE_CLI_HELP)
            return LE_EXIT_OK;
        if (c != 'i')
            return LE_EXIT_USAGE;
        into = optarg;
    }
    int first = le_cli_optind();
    if (!into || !into[0])
        return le_cli_usage(le_db_merge_usage, "--into FILE is required");
    if (first >= argc)
        return le_cli_usage(le_db_merge_usage, "which shards? (store files or folders of them)");
    struct le_store *s;
    int rc = le_store_open(&s, into), bad = 0, n_shards = 0;
    if (rc)
        return le_cli_fail_lib(rc);
    struct le_store_merge_stats sum = {0};
    for (int i = first; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            bad |= le_db_merge_one(s, argv[i], &sum), n_shards++;
            continue;
        }
        char **files;
        int n;
        if ((rc = le_db_shards_in(argv[i], &files, &n)))
            bad = 1, le_cli_fail_lib(rc);
        for (int k = 0; k < n; k++) {
            bad |= le_db_merge_one(s, files[k], &sum), n_shards++;
            free(files[k]);
        }
        free(files);
    }
    le_store_close(s);
    printf("merged %d shards into %s: %lld cells added (%lld results, %lld samples, %lld sweep points), "
           "%lld already there, %lld conflicts\n",
           n_shards, into, (long long)sum.added, (long long)sum.results, (long long)sum.samples,
           (long long)sum.points, (long long)sum.same, (long long)sum.conflicts);
    return bad ? LE_EXIT_FAIL : LE_EXIT_OK;
}

int le_cmd_db(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } subs[] = {{"init", le_db_init}, {"info", le_db_info}, {"export", le_db_export}, {"merge", le_db_merge}, {"runs", le_db_runs}};
    if (argc < 2)
        return le_cli_usage(le_db_usage, "db needs a subcommand: init, info, export, merge or runs");
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(le_db_help, stdout);
        return LE_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(sub, subs[i].name))
            return subs[i].run(argc - 1, argv + 1);
    if (sub[0] == '-')
        return le_cli_usage(le_db_usage, "unknown option '%s' (the subcommand comes first)", sub);
    return le_cli_usage(le_db_usage, "unknown db subcommand '%s' (init, info, export, merge or runs)", sub);
}
