/*
 * sweep_cluster: `llamaeval sweep PLAN --slurm` and `--status`, the sweep
 * on a Slurm cluster (le_slurm.h has the model; README.md, "On a cluster").
 *
 * --slurm writes, under the out dir DIR, slurm/sweep.sbatch (a job array,
 * task I running `sweep PLAN --cell I --db DIR/shards/cell-I.sqlite --out
 * DIR --requeue`) and slurm/merge.sbatch (`db merge DIR/shards --into DB`),
 * submits the first and the second after it (afterany: a failed cell does
 * not hold back the others' merge), and records both job ids in slurm/jobs.
 * Every path in the scripts is absolute (the tasks run on other nodes, on
 * the shared filesystem). The plan's tokenizer is trained here, before the
 * submission, so the tasks only read it.
 *
 * --status reads, per cell: the merged store (done), the cell's shard (done
 * there, or its last run's status), its checkpoint (the step reached), and
 * the array task's state from squeue/sacct when slurm/jobs names a job and
 * Slurm is there. It writes nothing.
 */
#include "cli.h"
#include "le_err.h"
#include "le_fs.h" /* le_mkdirs */
#include "le_slurm.h"
#include "le_store.h"
#include "sweep_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* p made absolute (against the working folder), into buf. */
static int abs_path(const char *p, char *buf, size_t n) {
    char cwd[PATH_MAX];
    if (p[0] == '/')
        return snprintf(buf, n, "%s", p) < (int)n ? 0 : le_err_set(LE_EINVAL, "path too long: %s", p);
    if (!getcwd(cwd, sizeof cwd))
        return le_err_set(LE_EIO, "cannot get the working folder: %s", strerror(errno));
    if (!strncmp(p, "./", 2))
        p += 2;
    return snprintf(buf, n, "%s/%s", cwd, p) < (int)n ? 0 : le_err_set(LE_EINVAL, "path too long: %s", p);
}

static int write_text(const char *path, const char *text, int mode) {
    FILE *f = fopen(path, "w");
    if (!f)
        return le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    int bad = fputs(text, f) < 0;
    if (fclose(f) != 0 || bad)
        return le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    chmod(path, (mode_t)mode);
    return LE_OK;
}

/* The two scripts' text (malloc'ed). */
static int make_scripts(struct le_sw *S, const char *out, const char *db, char **array, char **merge) {
    char exe[PATH_MAX], plan[PATH_MAX], work[PATH_MAX], shards[PATH_MAX + 16], logs[PATH_MAX + 16], name[80];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return le_err_set(LE_EIO, "cannot find this llamaeval's own path (/proc/self/exe)");
    exe[n] = 0;
    if (!realpath(S->o.plan, plan))
        return le_err_set(LE_EIO, "%s: %s", S->o.plan, strerror(errno));
    if (!getcwd(work, sizeof work))
        return le_err_set(LE_EIO, "cannot get the working folder: %s", strerror(errno));
    snprintf(shards, sizeof shards, "%s/shards", out);
    snprintf(logs, sizeof logs, "%s/slurm", out);
    char *qe = le_slurm_quote(exe), *qp = le_slurm_quote(plan), *qo = le_slurm_quote(out), *qd = le_slurm_quote(db);
    char *qs = le_slurm_quote(shards), *task = NULL, *fin = NULL;
    int rc = qe && qp && qo && qd && qs ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    if (!rc && (asprintf(&task,
                         "# The task's cell goes into its own store (one writer per file). On SIGTERM\n"
                         "# (preemption, the time limit's warning, scancel --signal=TERM --batch) it\n"
                         "# checkpoints, asks Slurm to requeue it and exits; the requeued task resumes\n"
                         "# from the checkpoint with the numbers of an uninterrupted run.\n"
                         "exec %s sweep %s --cell \"$SLURM_ARRAY_TASK_ID\" --db %s/cell-\"$SLURM_ARRAY_TASK_ID\".sqlite"
                         " --out %s --threads \"${SLURM_CPUS_PER_TASK:-1}\" --jobs 1 --quiet --requeue",
                         qe, qp, qs, qo) < 0 ||
                asprintf(&fin, "exec %s db merge %s --into %s", qe, qs, qd) < 0))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    snprintf(name, sizeof name, "llamaeval-%.40s", S->set->name);
    if (!rc && !(*array = le_slurm_array_script(&S->o.so, name, S->n_cells, work, logs, task)))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    snprintf(name, sizeof name, "llamaeval-%.40s-merge", S->set->name);
    if (!rc && !(*merge = le_slurm_final_script(&S->o.so, name, work, logs, fin)))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    free(qe), free(qp), free(qo), free(qd), free(qs), free(task), free(fin);
    return rc;
}

int le_sw_submit(struct le_sw *S) {
    if (!S->o.dry && !le_slurm_have("sbatch"))
        return le_err_set(LE_ENOTFOUND, "--slurm: sbatch is not on PATH (is Slurm installed here?); "
                                        "'sweep PLAN' runs the sweep on this machine");
    char out[PATH_MAX], db[PATH_MAX], path[PATH_MAX + 32], arr_id[32], merge_id[32];
    char *array = NULL, *merge = NULL;
    int rc = abs_path(S->o.out, out, sizeof out);
    if (!rc)
        rc = abs_path(S->o.db, db, sizeof db);
    if (!rc)
        rc = make_scripts(S, out, db, &array, &merge);
    if (!rc && S->o.dry) {
        printf("# %s/slurm/sweep.sbatch (%d tasks)\n%s\n# %s/slurm/merge.sbatch (after the array)\n%s", out,
               S->n_cells, array, out, merge);
        free(array), free(merge);
        return LE_OK;
    }
    snprintf(path, sizeof path, "%s/shards", out);
    if (!rc)
        rc = le_mkdirs(path);
    snprintf(path, sizeof path, "%s/slurm", out);
    if (!rc)
        rc = le_mkdirs(path);
    snprintf(path, sizeof path, "%s/slurm/sweep.sbatch", out);
    if (!rc && !(rc = write_text(path, array, 0755)))
        rc = le_slurm_submit(path, NULL, arr_id);
    snprintf(path, sizeof path, "%s/slurm/merge.sbatch", out);
    if (!rc && !(rc = write_text(path, merge, 0755)) && (rc = le_slurm_submit(path, arr_id, merge_id)))
        le_err_wrap(rc, "the job array %s is submitted; the merge job is not (run 'llamaeval db merge %s/shards "
                        "--into %s' when it ends)", arr_id, out, db);
    free(array), free(merge);
    char jobs[80];
    snprintf(jobs, sizeof jobs, "%s\n%s\n", arr_id, merge_id);
    snprintf(path, sizeof path, "%s/slurm/jobs", out);
    if (!rc)
        rc = write_text(path, jobs, 0644);
    if (rc)
        return rc;
    printf("submitted job array %s: %d tasks (one per cell", arr_id, S->n_cells);
    if (S->o.so.max_running > 0)
        printf(", at most %d at a time", S->o.so.max_running);
    printf("), each into its own store in %s/shards\n", out);
    printf("submitted merge job %s: after the array, merges the shards into %s\n", merge_id, db);
    printf("logs and scripts in %s/slurm; follow with: llamaeval sweep %s --status --db %s --out %s\n", out,
           S->o.plan, S->o.db, S->o.out);
    return LE_OK;
}

int le_sw_requeue(struct le_sw *S) {
    const char *id = getenv("SLURM_JOB_ID");
    int rc = le_slurm_requeue(id);
    if (rc) {
        fprintf(stderr, "llamaeval: cell %ld checkpointed; asking Slurm to requeue job %s failed (%s): rerun "
                        "'sbatch' or the cell to continue\n", S->o.cell, id, le_err_msg());
        return le_err_set(LE_EINTR, "cell %ld interrupted and not requeued", S->o.cell);
    }
    fprintf(stderr, "llamaeval: cell %ld checkpointed; requeued Slurm job %s (it resumes from the checkpoint)\n",
            S->o.cell, id);
    return LE_OK;
}

/* Functions for --status. */

struct last_run {
    char status[16];
};

static int last_run_cb(void *ud, const struct le_store_report_run *r) {
    struct last_run *l = ud;
    snprintf(l->status, sizeof l->status, "%s", r->status ? r->status : "");
    return 0;
}

/* What a shard says of cell `key`: done (1), else its last run's status. */
static void shard_state(const char *path, const char *key, int *done, char status[16]) {
    struct le_store *s = NULL;
    struct stat st;
    struct last_run l = {""};
    *done = 0;
    if (stat(path, &st) == 0 && le_store_open_readonly(&s, path) == LE_OK) {
        if (le_store_cell_done(s, key, done) != LE_OK)
            *done = 0;
        le_store_report_runs(s, last_run_cb, &l);
    }
    le_store_close(s);
    snprintf(status, 16, "%s", l.status);
}

static int is_failed(const char *slurm) {
    static const char *bad[] = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                                "DEADLINE", "PREEMPTED"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!strcmp(slurm, bad[i]))
            return 1;
    return 0;
}

/* The job ids slurm/jobs recorded ("" when none). */
static void read_jobs(const struct le_sw *S, char arr[32], char merge[32]) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/slurm/jobs", S->o.out);
    FILE *f = fopen(path, "r");
    arr[0] = merge[0] = 0;
    if (f) {
        if (fscanf(f, "%31s %31s", arr, merge) < 1)
            arr[0] = 0;
        fclose(f);
    }
}

int le_sw_status(struct le_sw *S) {
    struct stat st;
    int by_dir = stat(S->o.db, &st) == 0 && S_ISDIR(st.st_mode); /* --db names the shards' folder */
    char shards[PATH_MAX + 16], arr[32], merge[32], (*slurm)[16] = calloc((size_t)S->n_cells, sizeof *slurm);
    if (!slurm)
        return le_err_set(LE_ENOMEM, "out of memory");
    snprintf(shards, sizeof shards, by_dir ? "%s" : "%s/shards", by_dir ? S->o.db : S->o.out);
    struct le_store *R = NULL;
    int from_version = 0, rc = LE_OK;
    if (!by_dir && stat(S->o.db, &st) == 0 && (rc = le_store_open_snapshot(&R, S->o.db, &from_version))) {
        free(slurm);
        return rc;
    }
    read_jobs(S, arr, merge);
    int have_slurm = arr[0] && le_slurm_have("squeue");
    if (have_slurm)
        le_slurm_array_states(arr, S->n_cells, slurm);
    int n_done = 0, n_merged = 0, n_run = 0, n_pend = 0, n_fail = 0;
    printf("%-4s %-22s %-10s %s\n", "cell", "label", "state", "detail");
    for (int i = 0; i < S->n_cells; i++) {
        const struct le_sweep_cell *c = &S->cells[i];
        char key[65], dir[4096], model[4200], shard[PATH_MAX + 48], run[16], detail[256] = "";
        char *cfg = le_sw_cell_config(S, c);
        if (!cfg) {
            rc = le_err_set(LE_ENOMEM, "out of memory");
            break;
        }
        le_store_cell_key(key, S->data_sha, "sweep", cfg);
        free(cfg);
        le_sw_cell_paths(S, c, key, dir, sizeof dir, model, sizeof model);
        snprintf(shard, sizeof shard, "%s/cell-%d.sqlite", shards, i);
        int merged = 0, in_shard = 0;
        if (R && le_store_cell_done(R, key, &merged) != LE_OK)
            merged = 0;
        shard_state(shard, key, &in_shard, run);
        struct le_gguf *g = NULL;
        uint64_t step = 0;
        if (stat(model, &st) == 0 && le_gguf_open(&g, model) == LE_OK &&
            le_gguf_get_u64(g, "llamaeval.train.step", &step) == LE_OK)
            snprintf(detail, sizeof detail, "checkpoint at step %llu of %lld", (unsigned long long)step,
                     (long long)c->steps);
        le_gguf_close(g);
        const char *state;
        if (merged || in_shard)
            state = "done", n_done++, n_merged += merged;
        else if (slurm[i][0] ? is_failed(slurm[i]) : !strcmp(run, "failed"))
            state = "failed", n_fail++;
        else if (slurm[i][0] ? !strcmp(slurm[i], "RUNNING") || !strcmp(slurm[i], "COMPLETING")
                             : !strcmp(run, "running"))
            state = "running", n_run++;
        else
            state = "pending", n_pend++;
        if (merged || in_shard)
            snprintf(detail, sizeof detail, "%s", merged ? "merged" : "in its shard, not merged yet");
        size_t at = strlen(detail);
        if (!merged && !in_shard && run[0])
            at += (size_t)snprintf(detail + at, sizeof detail - at, "%sshard's last run %s", at ? "; " : "", run);
        if (slurm[i][0] && at < sizeof detail)
            snprintf(detail + at, sizeof detail - at, "%sslurm %s_%d %s", at ? "; " : "", arr, i, slurm[i]);
        printf("%-4d %-22s %-10s %s\n", i, c->label, state, detail);
    }
    le_store_close(R);
    free(slurm);
    if (rc)
        return rc;
    printf("%d cells: %d done (%d merged into %s), %d running, %d pending, %d failed\n", S->n_cells, n_done, n_merged,
           by_dir ? "no store" : S->o.db, n_run, n_pend, n_fail);
    char ms[16] = "";
    if (have_slurm && merge[0] && le_slurm_job_state(merge, ms) == LE_OK)
        printf("slurm: job array %s, merge job %s %s\n", arr, merge, ms[0] ? ms : "(ended)");
    else if (arr[0] && !have_slurm)
        printf("slurm: job array %s, merge job %s (squeue is not here: their states are not known)\n", arr, merge);
    return LE_OK;
}
