/*
 * figures: figures drawn by gnuplot (Debian's gnuplot-nox), run as a
 * process -- a maintained plotting tool, not a hand-written plotter.
 *
 * Each figure is written as three files in the figures folder, so a user
 * can restyle it: <id>.dat (the data, gnuplot blocks), <id>.gp (a complete
 * script: it sets the SVG terminal, plots, then replots to pdfcairo), and
 * the two renderings <id>.svg and <id>.pdf. gnuplot runs with the figures
 * folder as its working directory, so `cd figures && gnuplot <id>.gp`
 * redraws both. The SVG is read back for inlining into report.html.
 *
 * gnuplot's svg terminal without `mouse` writes no script and no external
 * reference; fonts are named, never embedded or fetched.
 */
#include "report_int.h"

#include "le_err.h" /* le_err_set */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Functions to write figure data and scripts. */

void le_fig_block_begin(struct le_figure *f, const char *comment) {
    if (f->dat.n)
        le_buf_puts(&f->dat, "\n\n");
    le_buf_puts(&f->dat, "# ");
    for (const char *s = comment ? comment : ""; *s; s++)
        le_buf_put(&f->dat, *s == '\n' ? " " : s, 1);
    le_buf_puts(&f->dat, "\n");
}

void le_fig_row(struct le_figure *f, int n, const double *v) {
    char num[40];
    for (int i = 0; i < n; i++) {
        le_fmt_exact(num, sizeof num, v[i]);
        le_buf_printf(&f->dat, "%s%s", i ? " " : "", num);
    }
    le_buf_puts(&f->dat, "\n");
}

void le_fig_quote(struct le_buf *b, const char *s) {
    /* Single quotes: gnuplot interprets no escapes inside them ('' is a quote).
     * Enhanced-text markup (_ ^ @ & ~ { }) is escaped so names print as they are. */
    le_buf_puts(b, "'");
    for (; s && *s; s++) {
        if (*s == '\'')
            le_buf_puts(b, "''");
        else if (strchr("_^@&~{}", *s))
            le_buf_printf(b, "\\%c", *s); /* one backslash: literal in enhanced text */
        else if (*s != '\n')
            le_buf_put(b, s, 1);
    }
    le_buf_puts(b, "'");
}

void le_fig_markup(struct le_buf *b, const char *s) {
    le_buf_puts(b, "'");
    for (; s && *s; s++)
        le_buf_puts(b, *s == '\'' ? "''" : *s == '\n' ? " " : (char[2]){*s, 0});
    le_buf_puts(b, "'");
}

/* Functions to run gnuplot. */

static int le_on_path(const char *prog, char *out, size_t n) {
    if (strchr(prog, '/')) {
        snprintf(out, n, "%s", prog);
        return access(prog, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(out, n, "%.*s/%s", (int)len, len ? path : ".", prog);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

int le_report_find_gnuplot(const char *gnuplot) {
    char path[4096];
    const char *prog = gnuplot ? gnuplot : "gnuplot";
    if (!le_on_path(prog, path, sizeof path))
        return le_err_set(LE_ENOTFOUND,
                          "%s not found%s: install Debian's gnuplot-nox (scripts/setup does), or use --no-figures",
                          prog, strchr(prog, '/') ? "" : " on PATH");
    return 0;
}

/* Runs `gnuplot script` in dir; on failure the message quotes gnuplot's
 * last line of output (written to <script>.log beside it). */
static int le_run_gnuplot(const char *gnuplot, const char *dir, const char *id) {
    char prog[4096];
    if (!le_on_path(gnuplot ? gnuplot : "gnuplot", prog, sizeof prog))
        return le_report_find_gnuplot(gnuplot);
    char *script = le_strdup_printf("%s.gp", id), *log = le_strdup_printf("%s/%s.log", dir, id);
    if (!script || !log) {
        free(script), free(log);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(dir) != 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execl(prog, prog, script, (char *)NULL);
        _exit(127);
    }
    int status = 0, rc = 0;
    if (pid < 0)
        rc = le_err_set(LE_EIO, "cannot start gnuplot: %s", strerror(errno));
    else
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char line[512] = "", buf[512];
        FILE *f = fopen(log, "r");
        while (f && fgets(buf, sizeof buf, f))
            if (buf[strspn(buf, " \t\r\n")])
                snprintf(line, sizeof line, "%s", buf);
        if (f)
            fclose(f);
        line[strcspn(line, "\r\n")] = 0;
        rc = le_err_set(LE_EIO, "gnuplot failed on %s/%s (%s): %s", dir, script,
                        WIFEXITED(status) ? "exit status" : "killed", line[0] ? line : "no output");
    }
    if (rc == 0)
        unlink(log);
    free(script), free(log);
    return rc;
}

static char *le_read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct le_buf b = {0};
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        le_buf_put(&b, chunk, k);
    int bad = ferror(f);
    fclose(f);
    *n = b.n;
    if (bad) {
        le_buf_free(&b);
        return NULL;
    }
    return le_buf_take(&b);
}

/* The complete script: terminal, the figure's commands, the PDF replot. */
static char *le_fig_script(const struct le_figure *f) {
    struct le_buf s = {0};
    le_buf_printf(&s,
                  "# %s\n# Written by llamaeval report. To restyle, edit this file and run it from this folder:\n"
                  "#   gnuplot %s.gp     (rewrites %s.svg and %s.pdf from %s.dat)\n"
                  "# %s.dat holds one block per series, separated by two blank lines (`index i`).\n"
                  "set encoding utf8\n"
                  "set terminal svg size 800,480 fixed enhanced font 'Helvetica,12' background rgb 'white'\n"
                  "set output '%s.svg'\n",
                  f->title, f->id, f->id, f->id, f->id, f->id, f->id);
    le_buf_puts(&s, "set title ");
    le_fig_quote(&s, f->title);
    le_buf_puts(&s, "\n");
    le_buf_put(&s, f->gp.p ? f->gp.p : "", f->gp.n);
    le_buf_printf(&s, "set terminal pdfcairo size 8in,4.8in enhanced font 'Helvetica,10'\n"
                      "set output '%s.pdf'\nreplot\nunset output\n",
                  f->id);
    return le_buf_take(&s);
}

int le_figures_render(struct le_doc *doc, const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return le_err_set(LE_EIO, "cannot create %s: %s", dir, strerror(errno));
    for (int i = 0; i < doc->n; i++) {
        struct le_figure *f = doc->b[i].fig;
        if (doc->b[i].kind != LE_BLOCK_FIGURE || !f->n_series)
            continue;
        if (f->dat.oom || f->gp.oom)
            return le_err_set(LE_ENOMEM, "out of memory");
        char *script = le_fig_script(f), *dat = le_strdup_printf("%s/%s.dat", dir, f->id),
             *gp = le_strdup_printf("%s/%s.gp", dir, f->id), *svg = le_strdup_printf("%s/%s.svg", dir, f->id);
        int rc = !script || !dat || !gp || !svg ? le_err_set(LE_ENOMEM, "out of memory") : 0;
        if (!rc)
            rc = le_write_file(dat, f->dat.p ? f->dat.p : "", f->dat.n);
        if (!rc)
            rc = le_write_file(gp, script, strlen(script));
        if (!rc)
            rc = le_run_gnuplot(doc->o->gnuplot, dir, f->id);
        if (!rc && !(f->svg = le_read_all(svg, &f->svg_n)))
            rc = le_err_set(LE_EIO, "gnuplot wrote no %s", svg);
        free(script), free(dat), free(gp), free(svg);
        if (rc)
            return rc;
    }
    return 0;
}
