/*
 * cmd_db: `llamaeval db init|info|export`, the results store from the shell.
 *   init    creates the database (or migrates an older one) and reports its version
 *   info    schema version, file size and row counts, opened read-only
 *   export  results joined with model and run info, as CSV or JSON
 *   runs    every run with its status; a "running" run whose process is
 *           gone (same host, pid not alive) is shown as "gone"
 * The store itself is harness/store.c; this file only parses and prints.
 */
#include "cli.h"      /* le_cli_* */
#include "commands.h" /* le_cmd_db */
#include "le_err.h"
#include "le_store.h"

#include <errno.h>
#include <signal.h> /* kill(pid, 0): is a run's process alive? */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h> /* gethostname */

static const char *le_db_usage = "usage: llamaeval db <init|info|export|runs> --db FILE [options]";

static const char *le_db_help =
    "usage: llamaeval db <init|info|export|runs> --db FILE [options]\n"
    "\n"
    "Create, inspect and export the SQLite results store.\n"
    "\n"
    "Subcommands:\n"
    "  init     create the database FILE (or migrate an older one to this version)\n"
    "  info     show the schema version, size and row counts of each table\n"
    "  export   write results joined with model and run info as CSV or JSON\n"
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
    int c;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP:
            return LE_EXIT_OK;
        case LE_CLI_BAD:
            return LE_EXIT_USAGE;
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

int le_cmd_db(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } subs[] = {{"init", le_db_init}, {"info", le_db_info}, {"export", le_db_export}, {"runs", le_db_runs}};
    if (argc < 2)
        return le_cli_usage(le_db_usage, "db needs a subcommand: init, info, export or runs");
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
    return le_cli_usage(le_db_usage, "unknown db subcommand '%s' (init, info, export or runs)", sub);
}
