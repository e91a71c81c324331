/*
 * eval_cluster: `llamaeval eval --model ... --tasks ... --slurm`, the
 * models x tasks grid as a Slurm job array (le_slurm.h has the model;
 * README.md, "On a cluster").
 *
 * Task I scores model I / T on task I % T (T tasks) with the invocation's
 * other eval options, into its own store DB.slurm/shards/cell-I.sqlite
 * (DB: --db without ".sqlite"); a final job merges the shards into --db.
 * Scripts, logs and the job ids go to DB.slurm/. Unlike a sweep cell, an
 * eval cell has no checkpoint to write: its samples are committed in
 * batches, and a resumed cell scores only the documents not stored. So
 * the task's script keeps bash as the batch step: on SIGTERM (the time
 * limit's warning, scancel --signal=TERM --batch) it forwards the signal
 * to llamaeval, waits for it to end its run "interrupted", and requeues
 * the task (scontrol requeue); a preempted or killed task resumes from
 * the samples committed.
 *
 * Only --slurm's own options, --model, --tasks and --db are read here; the
 * rest of the command line goes to every task as it was given (eval
 * checks it there; relative paths are relative to the submission folder,
 * which is the tasks' working folder).
 */
#include "cli.h"
#include "commands.h"
#include "le_err.h"
#include "le_fs.h" /* le_mkdirs */
#include "le_slurm.h"
#include "le_tasks.h" /* le_task_find */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *le_es_usage =
    "usage: llamaeval eval --model M[,M2...] --tasks T[,T2...] --slurm [--partition P] [--time T]\n"
    "                      [--cpus-per-task C] [--mem M] [--max-running K] [--dry-run] [--db FILE] [eval options]";

struct le_es {
    struct le_slurm_opts so;
    const char *models, *tasks, *db;
    int dry;
    char *rest;          /* the other options, quoted */
    size_t rest_len;
};

/* The option's value: "--opt=v" or the next argument. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static int is_opt(const char *arg, const char *name) {
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && (arg[n] == 0 || arg[n] == '=');
}

static int add_rest(struct le_es *E, const char *arg) {
    char *q = le_slurm_quote(arg), *p = q ? realloc(E->rest, E->rest_len + strlen(q) + 2) : NULL;
    if (!p) {
        free(q);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    E->rest = p;
    E->rest_len += (size_t)sprintf(p + E->rest_len, " %s", q);
    free(q);
    return LE_OK;
}

/* Returns -1 to go on, else an exit status (a usage error printed). */
static int parse(struct le_es *E, int argc, char **argv) {
    static const char *takes[] = {"--partition", "--time", "--cpus-per-task", "--mem", "--max-running", "--model",
                                  "--tasks", "--db"};
    *E = (struct le_es){.db = "results.sqlite"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int k = -1;
        for (int j = 0; j < 8 && k < 0; j++)
            if (is_opt(a, takes[j]))
                k = j;
        if (!strcmp(a, "--slurm"))
            continue;
        if (!strcmp(a, "--dry-run")) {
            E->dry = 1;
            continue;
        }
        if (k < 0) {
            if (add_rest(E, a))
                return le_cli_fail_lib(LE_ENOMEM);
            continue;
        }
        if (!(v = opt_value(argc, argv, &i, takes[k])) || !*v)
            return le_cli_usage(le_es_usage, "%s needs a value", takes[k]);
        long n = 0;
        char *end;
        if (k == 2 || k == 4) {
            n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 100000)
                return le_cli_usage(le_es_usage, "%s expects a positive integer, got '%s'", takes[k], v);
        }
        switch (k) {
        case 0: E->so.partition = v; break;
        case 1: E->so.time = v; break;
        case 2: E->so.cpus_per_task = (int)n; break;
        case 3: E->so.mem = v; break;
        case 4: E->so.max_running = (int)n; break;
        case 5: E->models = v; break;
        case 6: E->tasks = v; break;
        default: E->db = v; break;
        }
    }
    if (!E->models || !E->tasks)
        return le_cli_usage(le_es_usage, "--model and --tasks are required");
    if (!strcmp(E->db, "none")) /* the shards are merged into --db: it must be a file */
        return le_cli_usage(le_es_usage, "--slurm merges its shards into --db: give a file, not none");
    return -1;
}

/* A comma list as a bash array's items (quoted; models made absolute). */
static int bash_items(const char *list, int paths, char **out, int *n) {
    char *dup = strdup(list), *save = NULL, *text = NULL;
    size_t len = 0;
    FILE *f = dup ? open_memstream(&text, &len) : NULL;
    int rc = f ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    *n = 0;
    for (char *t = f ? strtok_r(dup, ",", &save) : NULL; t && !rc; t = strtok_r(NULL, ",", &save)) {
        char abs[PATH_MAX];
        if (paths && !realpath(t, abs))
            rc = le_err_set(LE_EIO, "model %s: %s", t, strerror(errno));
        else if (!paths && !le_task_find(t))
            rc = le_err_set(LE_EINVAL, "unknown task '%s' (see llamaeval eval --help)", t);
        char *q = rc ? NULL : le_slurm_quote(paths ? abs : t);
        if (!rc && !q)
            rc = le_err_set(LE_ENOMEM, "out of memory");
        if (q)
            fprintf(f, "%s%s", *n ? " " : "", q), ++*n;
        free(q);
    }
    if (f && fclose(f) != 0 && !rc)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    free(dup);
    if (!rc && *n == 0)
        rc = le_err_set(LE_EINVAL, "--%s needs at least one name", paths ? "model" : "tasks");
    if (rc)
        free(text), text = NULL;
    *out = text;
    return rc;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) < 0;
    if (f && fclose(f) != 0)
        bad = 1;
    return bad ? le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno)) : LE_OK;
}

/* The two scripts; the folder and absolute store path into dir and db. */
static int scripts(struct le_es *E, char *dir, char *db, char **array, char **merge, int *n) {
    char exe[PATH_MAX], work[PATH_MAX], shards[PATH_MAX + 16];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0 || !getcwd(work, sizeof work))
        return le_err_set(LE_EIO, "cannot find this llamaeval's own path or the working folder");
    exe[len] = 0;
    if (strlen(work) + strlen(E->db) + 16 >= PATH_MAX)
        return le_err_set(LE_EINVAL, "--db path too long");
    int at = E->db[0] == '/' ? 0 : snprintf(db, PATH_MAX, "%s/", work);
    memcpy(db + at, E->db, strlen(E->db) + 1);
    size_t dl = strlen(db) - (strlen(db) > 7 && !strcmp(db + strlen(db) - 7, ".sqlite") ? 7 : 0);
    memcpy(dir, db, dl);
    memcpy(dir + dl, ".slurm", 7);
    snprintf(shards, sizeof shards, "%s/shards", dir);
    char *models = NULL, *tasks = NULL, *body = NULL, *fin = NULL;
    char *qe = le_slurm_quote(exe), *qs = le_slurm_quote(shards), *qd = le_slurm_quote(db);
    int nm = 0, nt = 0, rc = qe && qs && qd ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    if (!rc && !(rc = bash_items(E->models, 1, &models, &nm)))
        rc = bash_items(E->tasks, 0, &tasks, &nt);
    if (!rc && (asprintf(&body,
                         "models=(%s)\ntasks=(%s)\n"
                         "i=$SLURM_ARRAY_TASK_ID\n"
                         "# One (model, task) cell into its own store. Its samples are committed in\n"
                         "# batches: on SIGTERM llamaeval ends its run \"interrupted\", this script\n"
                         "# requeues the task, and the requeued task scores only what is missing.\n"
                         "%s eval --model \"${models[i / %d]}\" --tasks \"${tasks[i %% %d]}\" --db %s/cell-\"$i\".sqlite"
                         " --threads \"${SLURM_CPUS_PER_TASK:-1}\"%s &\n"
                         "pid=$!\n"
                         "trap 'kill -TERM \"$pid\" 2>/dev/null; wait \"$pid\"; echo \"llamaeval: interrupted; "
                         "requeueing job $SLURM_JOB_ID\"; scontrol requeue \"$SLURM_JOB_ID\"; exit 0' TERM\n"
                         "wait \"$pid\"",
                         models, tasks, qe, nt, nt, qs, E->rest ? E->rest : "") < 0 ||
                asprintf(&fin, "exec %s db merge %s --into %s", qe, qs, qd) < 0))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    *n = nm * nt;
    if (!rc && (!(*array = le_slurm_array_script(&E->so, "llamaeval-eval", *n, work, dir, body)) ||
                !(*merge = le_slurm_final_script(&E->so, "llamaeval-eval-merge", work, dir, fin))))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    free(models), free(tasks), free(body), free(fin), free(qe), free(qs), free(qd);
    return rc;
}

int le_eval_slurm(int argc, char **argv) {
    struct le_es E;
    int ec = parse(&E, argc, argv), n = 0;
    if (ec >= 0) {
        free(E.rest);
        return ec;
    }
    char dir[PATH_MAX], db[PATH_MAX], path[PATH_MAX + 32], arr[32], merge_id[32], *array = NULL, *merge = NULL;
    int rc = !E.dry && !le_slurm_have("sbatch")
                 ? le_err_set(LE_ENOTFOUND, "--slurm: sbatch is not on PATH (is Slurm installed here?); "
                                            "'eval' without --slurm runs here")
                 : scripts(&E, dir, db, &array, &merge, &n);
    if (!rc && E.dry) {
        printf("# %s/eval.sbatch (%d tasks)\n%s\n# %s/merge.sbatch (after the array)\n%s", dir, n, array, dir, merge);
    } else if (!rc) {
        snprintf(path, sizeof path, "%s/shards", dir);
        if (!(rc = le_mkdirs(path))) {
            snprintf(path, sizeof path, "%s/eval.sbatch", dir);
            if (!(rc = write_file(path, array)))
                rc = le_slurm_submit(path, NULL, arr);
        }
        snprintf(path, sizeof path, "%s/merge.sbatch", dir);
        if (!rc && !(rc = write_file(path, merge)) && (rc = le_slurm_submit(path, arr, merge_id)))
            le_err_wrap(rc, "the job array %s is submitted; the merge job is not", arr);
        char jobs[80];
        snprintf(jobs, sizeof jobs, "%s\n%s\n", arr, merge_id);
        snprintf(path, sizeof path, "%s/jobs", dir);
        if (!rc)
            rc = write_file(path, jobs);
        if (!rc)
            printf("submitted job array %s: %d tasks (models x tasks), each into its own store in %s/shards\n"
                   "submitted merge job %s: after the array, merges the shards into %s\nlogs and scripts in %s\n",
                   arr, n, dir, merge_id, db, dir);
    }
    free(array), free(merge), free(E.rest);
    return rc ? le_cli_fail_lib(rc) : LE_EXIT_OK;
}
