/*
 * cmd_fetch: `llamaeval fetch NAME...`, downloads benchmark sets into the
 * cache (datasets/fetch.c does the work: resume, sha256, atomic rename,
 * retries), `--list` shows the registry with what is cached and pinned,
 * `--offline` only checks the cache.
 */
#include "cli.h"         /* le_cli_* */
#include "commands.h"    /* le_cmd_fetch */
#include "le_datasets.h" /* the registry and le_ds_fetch */
#include "le_err.h"
#include "le_progress.h" /* download progress on stderr */

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *le_fetch_usage =
    "usage: llamaeval fetch NAME... [--offline] [--cache DIR] [--base-url URL] | fetch --list";

static const char *le_fetch_help =
    "usage: llamaeval fetch NAME... [--offline] [--cache DIR] [--base-url URL]\n"
    "       llamaeval fetch --list [--cache DIR]\n"
    "\n"
    "Downloads benchmark datasets from their original homes into the cache:\n"
    "$LLAMAEVAL_CACHE, else $XDG_CACHE_HOME/llamaeval, else ~/.cache/llamaeval.\n"
    "Interrupted downloads resume (HTTP Range); every file is checked against its\n"
    "sha256 and renamed into place only when complete. Where the upstream\n"
    "publishes no digest, the first download's sha256 is pinned in\n"
    "<cache>/pins.tsv and every later load must match it. NAME 'all' fetches\n"
    "every dataset. The Brown corpus is built in and needs no fetch.\n"
    "\n"
    "Options:\n"
    "  --list            list the datasets: files, splits, licence, cache state\n"
    "  --offline         do not download; check that the cache has the files\n"
    "  --cache DIR       the cache folder\n"
    "  --base-url URL    fetch from URL instead of each file's scheme and host\n"
    "                    (a mirror keeping the upstream paths)\n"
    "  --timeout S       give up on a connection silent for S seconds (default 30)\n"
    "  --retries N       retries with exponential backoff (default 4)\n"
    "  -q, --quiet       no progress output\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure (network, checksum, missing in offline\n"
    "mode), 2 usage error.\n";

static void le_fetch_list_one(const struct le_ds_entry *e, const struct le_ds_opts *o, const char *cache) {
    printf("%s\n  format:   %s\n  splits:  ", e->name, e->format);
    for (int k = 0; k < le_ds_n_splits(e); k++)
        printf(" %s", le_ds_split_at(e, k));
    printf("\n  licence:  %s\n  homepage: %s\n  cite:     %s\n", e->licence, e->homepage, e->citation);
    for (int k = 0; k < le_ds_n_sources(e); k++) {
        const struct le_ds_source *s = le_ds_source_at(e, k);
        char path[4200], rel[4200], pin[65];
        struct stat st;
        int have = le_ds_cache_path(e, k, o, path, sizeof path) == 0 && stat(path, &st) == 0;
        snprintf(rel, sizeof rel, "%s", path + (strncmp(path, cache, strlen(cache)) == 0 ? strlen(cache) + 1 : 0));
        printf("  file:     %s\n            %s\n", s->url, have ? path : "(not in the cache)");
        if (s->sha256)
            printf("            sha256 %s (registry)\n", s->sha256);
        else if (le_ds_pin_get(cache, rel, pin) == 0)
            printf("            sha256 %s (pinned at first download)\n", pin);
        else
            printf("            sha256 unknown upstream: pinned at first download\n");
    }
}

static int le_fetch_list(const struct le_ds_opts *o) {
    char cache[4096];
    if (le_ds_cache_dir(o, cache, sizeof cache) != 0)
        return le_cli_fail_lib(LE_EINVAL);
    printf("cache: %s\n\n", cache);
    for (int i = 0; i < le_ds_count(); i++) {
        le_fetch_list_one(le_ds_get(i), o, cache);
        printf("\n");
    }
    char path[4096];
    if (le_brown_archive_path(path, sizeof path))
        printf("brown (built in, no fetch needed; %s)\n", le_err_msg());
    else
        printf("brown (built in, no fetch needed: %s)\n", path);
    return LE_EXIT_OK;
}

/* `fetch brown`: nothing to download; checks that the archive is there and
 * reads. */
static int le_fetch_brown(int quiet) {
    char path[4096];
    struct le_brown *b = NULL;
    int rc = le_brown_archive_path(path, sizeof path);
    if (!rc)
        rc = le_brown_open(&b, path);
    if (rc)
        return le_cli_fail_lib(rc);
    if (!quiet)
        printf("brown: built in, %d documents (%s)\n", le_brown_n_docs(b), path);
    le_brown_free(b);
    return LE_EXIT_OK;
}

static int le_fetch_one(const char *name, struct le_ds_opts *o, int quiet) {
    struct le_progress *prog = NULL;
    char label[128];
    snprintf(label, sizeof label, "fetch %s", name);
    if (!quiet && !o->offline && le_progress_new(&prog, label, 0, 0) == 0) {
        o->progress = le_progress_callback;
        o->progress_ud = prog;
    }
    int rc = le_ds_fetch(name, o);
    if (prog)
        le_progress_finish(prog);
    o->progress = NULL;
    o->progress_ud = NULL;
    if (rc)
        return le_cli_fail_lib(rc);
    if (!quiet)
        printf("%s: %s\n", le_ds_find(name)->name, o->offline ? "in the cache" : "fetched");
    return LE_EXIT_OK;
}

int le_cmd_fetch(int argc, char **argv) {
    static const struct option opts[] = {
        {"list", no_argument, 0, 'l'},     {"offline", no_argument, 0, 'O'}, {"cache", required_argument, 0, 'c'},
        {"base-url", required_argument, 0, 'b'}, {"timeout", required_argument, 0, 't'},
        {"retries", required_argument, 0, 'r'},  {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},     {0, 0, 0, 0},
    };
    struct le_cli_parser p = {argc, argv, ":hq", opts, le_fetch_usage, le_fetch_help, 0};
    struct le_ds_opts o = {0};
    int list = 0, quiet = 0, c;
    long v;
    while ((c = le_cli_next(&p)) != -1) {
        switch (c) {
        case LE_CLI_HELP: return LE_EXIT_OK;
        case LE_CLI_BAD: return LE_EXIT_USAGE;
        case 'l': list = 1; break;
        case 'O': o.offline = 1; break;
        case 'c': o.cache_dir = optarg; break;
        case 'b': o.base_url = optarg; break;
        case 'q': quiet = 1; break;
        case 't':
            if (le_cli_int(&p, "--timeout", optarg, 1, 3600, &v) != 0)
                return LE_EXIT_USAGE;
            o.timeout_s = v;
            break;
        case 'r':
            if (le_cli_int(&p, "--retries", optarg, 0, 100, &v) != 0)
                return LE_EXIT_USAGE;
            o.max_retries = v == 0 ? -1 : (int)v;
            break;
        default: return le_cli_usage(le_fetch_usage, "unexpected option");
        }
    }
    int first = le_cli_optind();
    if (list)
        return first < argc ? le_cli_usage(le_fetch_usage, "--list takes no dataset names") : le_fetch_list(&o);
    if (first >= argc)
        return le_cli_usage(le_fetch_usage, "no dataset named (try 'llamaeval fetch --list')");
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], "all") != 0 && strcmp(argv[i], "brown") != 0 && !le_ds_find(argv[i]))
            return le_cli_usage(le_fetch_usage, "unknown dataset '%s' (try 'llamaeval fetch --list')", argv[i]);
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "all") == 0) {
            for (int k = 0; k < le_ds_count(); k++)
                if (le_fetch_one(le_ds_get(k)->name, &o, quiet) != LE_EXIT_OK)
                    return LE_EXIT_FAIL;
        } else if (!strcmp(argv[i], "brown")) {
            if (le_fetch_brown(quiet) != LE_EXIT_OK)
                return LE_EXIT_FAIL;
        } else if (le_fetch_one(argv[i], &o, quiet) != LE_EXIT_OK) {
            return LE_EXIT_FAIL;
        }
    }
    return LE_EXIT_OK;
}
