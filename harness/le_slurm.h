/*
 * le_slurm: Slurm from llamaeval -- job-array scripts, and the Slurm
 * commands (sbatch, squeue, sacct, scontrol) run as processes. Nothing links
 * against Slurm's libraries: a machine without Slurm builds and runs
 * llamaeval the same, and `--slurm` there fails with one line.
 *
 * The model (README.md, "On a cluster"): one array task per cell of work,
 * each writing its own SQLite shard on the shared filesystem (one writer
 * per file: SQLite over NFS with concurrent writers is unsafe), and a final
 * job, dependent on the whole array (afterany), that merges the shards
 * (llamaeval db merge). A task is requeueable (--requeue: Slurm requeues it
 * after a node failure) and gets SIGTERM some time before its time limit
 * (--signal=B:TERM@S); the script execs llamaeval, so the batch step is
 * llamaeval itself and any SIGTERM Slurm sends (preemption, the time limit's
 * warning, scancel --signal=TERM --batch) reaches it once. The task then
 * checkpoints and asks to be requeued (le_slurm_requeue); the requeued task
 * resumes from the checkpoint.
 *
 * Workload: a handful of short commands per submission or status query.
 * Library code: nothing is printed; a command's output comes back as text.
 */
#ifndef LE_SLURM_H
#define LE_SLURM_H

/* 1 when prog is an executable file in a folder of $PATH. */
int le_slurm_have(const char *prog);
/* Runs argv (argv[0] looked up on $PATH) with stdin from /dev/null and
 * waits: *out (malloc'ed, NUL-terminated, trailing newlines trimmed) gets
 * its stdout and stderr together, *status its exit status (128 + N when
 * killed by signal N). LE_ENOTFOUND (one line) when argv[0] is not on PATH,
 * LE_EIO when it cannot be started. */
int le_slurm_run(char *const argv[], char **out, int *status);
/* s quoted for bash ('...' with ' as '\''); malloc'ed, NULL when out of
 * memory. */
char *le_slurm_quote(const char *s);

/* The resources asked for each task (sbatch options). */
struct le_slurm_opts {
    const char *partition, *time, *mem; /* NULL: the cluster's default */
    int cpus_per_task;                  /* <= 0: 1 */
    int max_running;                    /* the array's %K throttle; <= 0: none */
    int signal_s;                       /* SIGTERM this many seconds before the time limit; <= 0: 120 */
};
/* A job-array script of n tasks (indices 0 .. n-1) named `name`, each
 * running `body` -- bash lines in which $SLURM_ARRAY_TASK_ID is the task's
 * index, ending with `exec llamaeval ...` where the signals should reach
 * llamaeval itself -- in the folder workdir, its output appended to
 * log_dir/<array id>_<index>.out (one file across requeues). malloc'ed
 * text, NULL when out of memory. */
char *le_slurm_array_script(const struct le_slurm_opts *o, const char *name, int n, const char *workdir,
                            const char *log_dir, const char *body);
/* The final job's script: body (as for the array) as one task on one CPU. */
char *le_slurm_final_script(const struct le_slurm_opts *o, const char *name, const char *workdir,
                            const char *log_dir, const char *body);
/* sbatch --parsable [--dependency=afterany:after] script: *id (a job id,
 * digits) on success; the sbatch message in the error otherwise. */
int le_slurm_submit(const char *script_path, const char *after, char id[32]);
/* scontrol requeue id: Slurm kills the running job and queues it again. */
int le_slurm_requeue(const char *id);
/* The Slurm state of each task 0 .. n-1 of array job `array_id`
 * ("PENDING", "RUNNING", "COMPLETED", "FAILED" ...): squeue for the tasks
 * it still knows, then sacct for the others where accounting is on; ""
 * where neither knows. LE_ENOTFOUND when squeue is not on PATH. */
int le_slurm_array_states(const char *array_id, int n, char (*state)[16]);
/* The state of a job that is not an array ("" when neither squeue nor
 * sacct knows it). LE_ENOTFOUND when squeue is not on PATH. */
int le_slurm_job_state(const char *id, char state[16]);

#endif
