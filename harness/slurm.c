/*
 * slurm: job-array scripts and the Slurm commands as processes (le_slurm.h
 * has the model). A command runs with fork + execv of the file found on
 * $PATH, its stdout and stderr read through one pipe; the scripts are text
 * built with open_memstream.
 */
#include "le_slurm.h"

#include "le_err.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* prog's path on $PATH into buf; 0 when found. */
static int le_slurm_find(const char *prog, char *buf, size_t n) {
    if (strchr(prog, '/')) {
        snprintf(buf, n, "%s", prog);
        return access(buf, X_OK) ? -1 : 0;
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        size_t len = strcspn(p, ":");
        struct stat st;
        if (len > 0 && len + strlen(prog) + 2 <= n) {
            snprintf(buf, n, "%.*s/%s", (int)len, p, prog);
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
                return 0;
        }
        p += len + (p[len] == ':');
    }
    return -1;
}

int le_slurm_have(const char *prog) {
    char buf[4096];
    return le_slurm_find(prog, buf, sizeof buf) == 0;
}

int le_slurm_run(char *const argv[], char **out, int *status) {
    char exe[4096];
    *out = NULL, *status = -1;
    if (le_slurm_find(argv[0], exe, sizeof exe))
        return le_err_set(LE_ENOTFOUND, "%s not found on PATH (is Slurm installed here?)", argv[0]);
    int fd[2];
    if (pipe(fd))
        return le_err_set(LE_EIO, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return le_err_set(LE_EIO, "cannot start %s: %s", argv[0], strerror(errno));
    }
    if (pid == 0) { /* the child: only async-signal-safe calls until exec */
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(fd[1], 1), dup2(fd[1], 2);
        close(fd[0]), close(fd[1]);
        execv(exe, argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    int rc = buf ? 0 : le_err_set(LE_ENOMEM, "out of memory");
    for (;;) {
        if (!rc && len + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p)
                rc = le_err_set(LE_ENOMEM, "out of memory");
            else
                buf = p;
        }
        char sink[256];
        ssize_t r = rc ? read(fd[0], sink, sizeof sink) : read(fd[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += rc ? 0 : (size_t)r;
    }
    close(fd[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    if (rc) {
        free(buf);
        return rc;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = 0;
    *out = buf;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return 0;
}

char *le_slurm_quote(const char *s) {
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *q = malloc(n), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            memcpy(o, "'\\''", 4), o += 4;
        else
            *o++ = *p;
    }
    *o++ = '\'';
    *o = 0;
    return q;
}

/* The #SBATCH lines for the resources. */
static void le_slurm_resources(FILE *f, const struct le_slurm_opts *o, int cpus) {
    fprintf(f, "#SBATCH --cpus-per-task=%d\n", cpus);
    if (o->partition)
        fprintf(f, "#SBATCH --partition=%s\n", o->partition);
    if (o->time)
        fprintf(f, "#SBATCH --time=%s\n", o->time);
    if (o->mem)
        fprintf(f, "#SBATCH --mem=%s\n", o->mem);
}

/* Ends a memstream: its text (the pointer is only set by the close). */
static char *le_slurm_close(FILE *f, char **text) {
    if (fclose(f) != 0) {
        free(*text);
        return NULL;
    }
    return *text;
}

/* One script: the array's (n tasks) or, with n == 0, the final job's. */
static char *le_slurm_script(const struct le_slurm_opts *o, const char *name, int n, const char *workdir,
                             const char *log_dir, const char *body) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fprintf(f, "#!/bin/bash\n# %s: %s, written by llamaeval (README.md, \"On a cluster\").\n", name,
            n ? "one array task per cell" : "runs once the job array has ended");
    fprintf(f, "#SBATCH --job-name=%s\n", name);
    if (n && o->max_running > 0)
        fprintf(f, "#SBATCH --array=0-%d%%%d\n", n - 1, o->max_running);
    else if (n)
        fprintf(f, "#SBATCH --array=0-%d\n", n - 1);
    if (n)
        fprintf(f, "#SBATCH --requeue\n#SBATCH --signal=B:TERM@%d\n#SBATCH --open-mode=append\n",
                o->signal_s > 0 ? o->signal_s : 120);
    fprintf(f, "#SBATCH --output=%s/%s.out\n", log_dir, n ? "%A_%a" : "%j");
    fprintf(f, "#SBATCH --chdir=%s\n", workdir);
    struct le_slurm_opts one = *o; /* the final job: one CPU, the default memory */
    one.mem = NULL;
    le_slurm_resources(f, n ? o : &one, n && o->cpus_per_task > 0 ? o->cpus_per_task : 1);
    if (n)
        fprintf(f, "echo \"llamaeval: task $SLURM_ARRAY_TASK_ID (job $SLURM_JOB_ID, restart "
                   "${SLURM_RESTART_COUNT:-0}) on $(hostname) at $(date -u +%%FT%%TZ)\"\n");
    fprintf(f, "%s\n", body);
    return le_slurm_close(f, &text);
}

char *le_slurm_array_script(const struct le_slurm_opts *o, const char *name, int n, const char *workdir,
                            const char *log_dir, const char *body) {
    return n > 0 ? le_slurm_script(o, name, n, workdir, log_dir, body) : NULL;
}

char *le_slurm_final_script(const struct le_slurm_opts *o, const char *name, const char *workdir,
                            const char *log_dir, const char *body) {
    return le_slurm_script(o, name, 0, workdir, log_dir, body);
}

int le_slurm_submit(const char *script_path, const char *after, char id[32]) {
    char dep[64];
    char *argv[6] = {"sbatch", "--parsable", NULL, NULL, NULL, NULL};
    int k = 2;
    if (after) {
        snprintf(dep, sizeof dep, "--dependency=afterany:%s", after);
        argv[k++] = dep;
    }
    argv[k++] = (char *)script_path;
    char *out = NULL;
    int status, rc = le_slurm_run(argv, &out, &status);
    if (rc)
        return rc;
    /* --parsable: "jobid" or "jobid;cluster" on the last line */
    const char *last = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
    size_t n = strspn(last, "0123456789");
    if (status != 0 || n == 0 || n >= 32)
        rc = le_err_set(LE_EIO, "sbatch %s failed (status %d): %s", script_path, status, out);
    else
        memcpy(id, last, n), id[n] = 0;
    free(out);
    return rc;
}

int le_slurm_requeue(const char *id) {
    char *argv[] = {"scontrol", "requeue", (char *)id, NULL};
    char *out = NULL;
    int status, rc = le_slurm_run(argv, &out, &status);
    if (!rc && status != 0)
        rc = le_err_set(LE_EIO, "scontrol requeue %s failed (status %d): %s", id, status, out);
    free(out);
    return rc;
}

/* Fills state[i] from lines "ARRAY_I|STATE" (squeue -r, sacct -P); only
 * where it is still empty when keep_known. */
static void le_slurm_parse_states(const char *out, const char *array_id, int n, char (*state)[16], int keep_known) {
    size_t idl = strlen(array_id);
    for (const char *l = out; *l; l += strcspn(l, "\n"), l += *l == '\n') {
        char *end;
        if (strncmp(l, array_id, idl) || l[idl] != '_' || !isdigit((unsigned char)l[idl + 1]))
            continue;
        long i = strtol(l + idl + 1, &end, 10);
        if (*end != '|' || i < 0 || i >= n || (keep_known && state[i][0]))
            continue;
        size_t sl = strcspn(end + 1, " |\n");
        snprintf(state[i], 16, "%.*s", (int)(sl < 15 ? sl : 15), end + 1);
    }
}

int le_slurm_array_states(const char *array_id, int n, char (*state)[16]) {
    for (int i = 0; i < n; i++)
        state[i][0] = 0;
    char *sq[] = {"squeue", "-h", "-r", "-j", (char *)array_id, "-o", "%i|%T", NULL};
    char *out = NULL;
    int status, rc = le_slurm_run(sq, &out, &status);
    if (rc)
        return rc;
    if (status == 0) /* an array it has forgotten is an error: nothing to read */
        le_slurm_parse_states(out, array_id, n, state, 0);
    free(out);
    char *sa[] = {"sacct", "-n", "-P", "-X", "-j", (char *)array_id, "-o", "JobID,State", NULL};
    if (le_slurm_have("sacct") && !le_slurm_run(sa, &out, &status)) {
        if (status == 0) /* accounting off: sacct fails, and says so */
            le_slurm_parse_states(out, array_id, n, state, 1);
        free(out);
    }
    return 0;
}

int le_slurm_job_state(const char *id, char state[16]) {
    char *sq[] = {"squeue", "-h", "-j", (char *)id, "-o", "%T", NULL};
    char *out = NULL;
    int status, rc = le_slurm_run(sq, &out, &status);
    state[0] = 0;
    if (rc)
        return rc;
    if (status == 0)
        snprintf(state, 16, "%.*s", (int)strcspn(out, " \n"), out);
    free(out);
    char *sa[] = {"sacct", "-n", "-P", "-X", "-j", (char *)id, "-o", "State", NULL};
    if (!state[0] && le_slurm_have("sacct") && !le_slurm_run(sa, &out, &status)) {
        if (status == 0)
            snprintf(state, 16, "%.*s", (int)strcspn(out, " \n"), out);
        free(out);
    }
    return 0;
}
