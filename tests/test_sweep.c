/*
 * test_sweep: scaling sweeps. The engine's parameter and FLOP counts against
 * a hand computation (Chinchilla App. F); plan parsing, cell resolution and
 * the refusal of bad plans with one-line errors; and `llamaeval sweep` run
 * as a child process on a tiny text corpus: killed with SIGKILL at known
 * points (mid-cell, at a cell's last checkpoint, inside a task cell) and
 * rerun, it finishes each cell once with numbers identical to an
 * uninterrupted sweep's, and 1 or 2 jobs give identical numbers too.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_test.h"

#include "le_err.h"
#include "le_store.h"
#include "le_sweep.h"
#include "le_train.h"

#include <cjson/cJSON.h> /* the store's JSON export */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ counting */

static void scaling_counts_should_match_a_hand_computation(void **state) {
    (void)state;
    struct le_train_config c;
    le_train_config_default(&c);
    c.vocab = 1000, c.dim = 64, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.ffn = 176, c.ctx = 32;
    c.tied = 0;
    struct le_train_scaling k;
    le_train_scaling_counts(&c, &k);
    /* Parameters per layer: norms 2 x 64, wq 64x64 = 4096, wk and wv 32x64 =
     * 2048 each (2 kv heads of 16), wo 4096, SwiGLU 3 x 64x176 = 33792:
     * 46208; two layers 92416, output norm 64: 92480 without embedding and
     * output; + output 64000 = 156480; + embedding 64000 = 220480. */
    assert_int_equal(k.n_total, 220480);
    assert_int_equal(k.n_nonembed, 156480);
    assert_int_equal(k.n_nonembed_noout, 92480);
    /* App. F forward FLOPs of one 32-token sequence:
     *   embeddings 2*32*1000*64 = 4096000, final logits the same;
     *   per layer: QKV 2*32*64*(64 + 2*32) = 524288, logits 2*32*32*64 =
     *   131072, softmax 3*4*32*32 = 12288, reductions 131072, output
     *   2*32*64*64 = 262144 (attention 1060864), dense 2*32*3*64*176 =
     *   2162688: 3223552; two layers 6447104.
     * Forward 14639104; forward + backward per token 3 * 14639104 / 32. */
    assert_true(k.flops_fwd_seq == 14639104.0);
    assert_true(k.flops_per_token == 1372416.0);
    c.tied = 1; /* one V x d matrix: both "without" counts remove it once */
    le_train_scaling_counts(&c, &k);
    assert_int_equal(k.n_total, 156480);
    assert_int_equal(k.n_nonembed, 92480);
    assert_int_equal(k.n_nonembed_noout, 92480);
}

/* ------------------------------------------------------------ plans */

static const char *good_plan =
    "{\"name\": \"p\", \"tokenizer\": \"tok.gguf\", \"corpus\": {\"train\": \"a.txt\", \"valid\": \"b.txt\"},\n"
    " \"model\": {\"ctx\": 64, \"head_dim\": 8, \"layers\": 2, \"kv_group\": 2, \"ffn\": \"llama\", \"tied\": false},\n"
    " \"lr\": {\"base\": 4e-3, \"dim0\": 32, \"power\": 1}, \"batch_tokens\": 1000, \"max_epochs\": 4,\n"
    " \"isoflop\": {\"budgets\": [1e11, 2e11], \"shapes\": [[16, 32], [{\"dim\": 32, \"layers\": 3}, 64]]}}";

static void plan_should_resolve_into_cells(void **state) {
    (void)state;
    struct le_sweep_plan *p = NULL;
    int rc = le_sweep_plan_parse(&p, good_plan, "/plans");
    if (rc)
        print_error("%s\n", le_err_msg());
    assert_int_equal(rc, LE_OK);
    const struct le_sweep_setup *s = le_sweep_plan_setup(p);
    assert_string_equal(s->name, "p");
    assert_string_equal(s->tokenizer, "/plans/tok.gguf"); /* relative to the plan */
    assert_string_equal(s->train_file, "/plans/a.txt");
    assert_int_equal(s->isoflop, 1);
    assert_int_equal(s->flops, LE_SWEEP_FLOPS_CHINCHILLA);
    assert_int_equal(s->n_tasks, 2); /* the Brown tasks by default */
    struct le_sweep_cell *c = NULL;
    int n = 0;
    assert_int_equal(le_sweep_plan_cells(p, 512, 10000000, &c, &n), LE_OK);
    assert_int_equal(n, 4);
    assert_string_equal(c[0].label, "C=1e11 d16-l2");
    assert_string_equal(c[2].label, "C=2e11 d32-l3");
    assert_int_equal(c[3].c.dim, 64);
    assert_int_equal(c[3].c.n_heads, 8); /* head_dim 8 */
    assert_int_equal(c[3].c.n_kv_heads, 4); /* kv_group 2 */
    assert_int_equal(c[3].c.ffn, 172);   /* 8/3 * 64 rounded up to 4 */
    assert_int_equal(c[2].c.n_layers, 3);
    assert_true(fabs(c[0].c.lr - 8e-3) < 1e-15); /* 4e-3 * (32 / 16)^1 */
    for (int i = 0; i < n; i++) {
        /* whole steps of 960 tokens (1000 rounded down to ctx), D = C / App. F FLOPs per token to a step */
        assert_int_equal(c[i].c.tokens % 960, 0);
        assert_int_equal(c[i].c.tokens, c[i].steps * 960);
        double d = c[i].budget / c[i].k.flops_per_token;
        assert_true(fabs((double)c[i].c.tokens - d) <= 480);
        assert_true(c[i].flops_exact == c[i].k.flops_per_token * (double)c[i].c.tokens);
        assert_true(c[i].flops_6nd == 6.0 * (double)c[i].k.n_total * (double)c[i].c.tokens);
        assert_true(fabs(c[i].epochs - (double)c[i].c.tokens / 1e7) < 1e-12);
        assert_int_equal(c[i].c.warmup, c[i].steps / 20);
        assert_int_equal(c[i].c.eval_every, c[i].steps / 10);
    }
    /* the epochs guard: the same plan on a 20000-token training split */
    free(c);
    assert_int_equal(le_sweep_plan_cells(p, 512, 20000, &c, &n), LE_EINVAL);
    assert_non_null(strstr(le_err_msg(), "epochs"));
    assert_null(c);
    le_sweep_plan_free(p);

    const char *grid = "{\"name\": \"g\", \"tokenizer\": {\"train\": {\"vocab\": 300}}, \"model\": {\"ctx\": 32, "
                       "\"heads\": 2, \"ffn\": 2.5, \"tied\": true}, \"lr\": {\"table\": {\"16\": 1e-2, \"32\": 5e-3}},"
                       " \"batch_tokens\": 64, \"tasks\": [], \"grid\": {\"shapes\": [16, 32], \"tokens\": [6400, 12800]}}";
    assert_int_equal(le_sweep_plan_parse(&p, grid, NULL), LE_OK);
    s = le_sweep_plan_setup(p);
    assert_null(s->tokenizer);
    assert_int_equal(s->tokenizer_vocab, 300);
    assert_null(s->train_file); /* Brown */
    assert_int_equal(s->n_tasks, 0);
    assert_int_equal(le_sweep_plan_cells(p, 300, 0, &c, &n), LE_OK);
    assert_int_equal(n, 4);
    assert_string_equal(c[1].label, "d32-l2 D=6.4k"); /* token count by token count, shapes as listed */
    assert_true(isnan(c[0].budget));
    assert_int_equal(c[1].steps, 100);
    assert_int_equal(c[1].c.ffn, 80); /* 2.5 * 32 */
    assert_true(c[1].c.lr == 5e-3 && c[0].c.lr == 1e-2);
    assert_int_equal(c[1].c.tied, 1);
    free(c);
    le_sweep_plan_free(p);
}

/* Each bad plan is refused with one line naming what is wrong. */
static void bad_plans_should_be_refused_with_one_line(void **state) {
    (void)state;
    static const char *base =
        "\"name\": \"p\", \"tokenizer\": \"t.gguf\", \"model\": {\"ctx\": 32, \"heads\": 2}, \"lr\": 1e-3";
    static const struct { const char *rest, *want; } cases[] = {
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"colour\": 1", "unknown key 'colour'"},
        {"", "exactly one of \"isoflop\" and \"grid\""},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"isoflop\": {\"budgets\": [1e9], \"shapes\": [16]}",
         "exactly one of"},
        {", \"grid\": {\"shapes\": [16, 16], \"tokens\": [6400]}", "listed twice"},
        {", \"grid\": {\"shapes\": [], \"tokens\": [6400]}", "non-empty array"},
        {", \"grid\": {\"shapes\": [\"big\"], \"tokens\": [6400]}", "a shape must be"},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [0]}", "numbers >= 1"},
        {", \"isoflop\": {\"budgets\": [1e9, 2e9], \"shapes\": [[16]]}", "one list for each budget"},
        {", \"isoflop\": {\"flops\": \"kaplan\", \"budgets\": [1e9], \"shapes\": [16]}", "\"chinchilla\""},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"tasks\": [\"nope\"]", "unknown task nope"},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"warmup\": 0.9", "'warmup' must be"},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"batch_tokens\": 16", "at least one sequence"},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"optimizer\": {\"momentum\": 1}", "'momentum'"},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"corpus\": \"wiki\"", "'corpus' must be"},
        {", \"grid\": {\"shapes\": [16], \"tokens\": [6400]}, \"name\": 3", NULL}, /* duplicate key: cJSON keeps the first */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json, "{%s%s}", base, cases[i].rest);
        struct le_sweep_plan *p = NULL;
        int rc = le_sweep_plan_parse(&p, json, NULL);
        if (!cases[i].want) {
            le_sweep_plan_free(p);
            continue;
        }
        if (rc != LE_EINVAL || !strstr(le_err_msg(), cases[i].want) || strncmp(le_err_msg(), "plan: ", 6) ||
            strchr(le_err_msg(), '\n')) {
            print_error("case %zu: rc %d, message '%s', wanted '%s'\n", i, rc, le_err_msg(), cases[i].want);
            fail();
        }
        assert_null(p);
    }
    static const struct { const char *json, *want; } whole[] = {
        {"{\"name\": ", "not valid JSON"},
        {"[1, 2]", "a plan is a JSON object"},
        {"{\"name\": \"a b\"}", "'name' must be"},
        {"{\"name\": \"p\", \"tokenizer\": {\"train\": {}}}", "needs \"vocab\""},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"heads\": 2}}", "needs \"ctx\""},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"heads\": 2, \"head_dim\": 4}}",
         "exactly one of \"head_dim\""},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"head_dim\": 5}}", "must be even"},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"heads\": 2}}", "needs \"lr\""},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"heads\": 2}, \"lr\": {\"base\": 1}}",
         "needs \"base\", \"dim0\" and \"power\""},
    };
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        struct le_sweep_plan *p = NULL;
        int rc = le_sweep_plan_parse(&p, whole[i].json, NULL);
        if (rc != LE_EINVAL || !strstr(le_err_msg(), whole[i].want) || strchr(le_err_msg(), '\n')) {
            print_error("whole %zu: rc %d, message '%s', wanted '%s'\n", i, rc, le_err_msg(), whole[i].want);
            fail();
        }
    }
    /* refused when resolved: a heads rule that does not divide, an lr table without the dim, too few steps */
    static const struct { const char *json, *want; } cells[] = {
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"head_dim\": 8}, \"lr\": 1e-3, "
         "\"grid\": {\"shapes\": [12], \"tokens\": [6400]}}", "does not divide dim"},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"heads\": 2}, \"lr\": {\"table\": "
         "{\"16\": 1e-3}}, \"grid\": {\"shapes\": [32], \"tokens\": [6400]}}", "no rate for this dim"},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"heads\": 2}, \"lr\": 1e-3, "
         "\"batch_tokens\": 64, \"grid\": {\"shapes\": [16], \"tokens\": [320]}}", "fewer than min_steps"},
        {"{\"name\": \"p\", \"tokenizer\": \"t\", \"model\": {\"ctx\": 8, \"heads\": 4, \"kv_group\": 3}, \"lr\": "
         "1e-3, \"grid\": {\"shapes\": [16], \"tokens\": [64000]}}", "kv_group does not divide"},
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        struct le_sweep_plan *p = NULL;
        struct le_sweep_cell *c = NULL;
        int n = 0;
        assert_int_equal(le_sweep_plan_parse(&p, cells[i].json, NULL), LE_OK);
        int rc = le_sweep_plan_cells(p, 300, 0, &c, &n);
        if (rc != LE_EINVAL || !strstr(le_err_msg(), cells[i].want) || strchr(le_err_msg(), '\n')) {
            print_error("cells %zu: rc %d, message '%s', wanted '%s'\n", i, rc, le_err_msg(), cells[i].want);
            fail();
        }
        le_sweep_plan_free(p);
    }
}

/* ------------------------------------------------------------ the command */

struct sw_env {
    char *dir;
};

/* A deterministic text of words, sentence by sentence. */
static void write_text(const char *path, int words, uint64_t seed) {
    static const char *w[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "of",
                              "old", "man", "who", "saw", "red", "bird", "in", "tree", "by", "river", "with",
                              "small", "boat", "near", "town", "at", "night", "was", "quiet"};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t s = seed;
    for (int i = 0; i < words; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *x = w[(s >> 33) % (sizeof w / sizeof w[0])];
        fprintf(f, "%s%c%s", i % 9 == 0 ? "The" : x, i % 9 == 8 ? '.' : ' ', i % 9 == 8 ? " " : "");
    }
    fputc('\n', f);
    fclose(f);
}

static int sw_setup(void **state) {
    struct sw_env *e = calloc(1, sizeof *e);
    e->dir = le_test_tmpdir();
    char a[600], b[600], *out = NULL;
    snprintf(a, sizeof a, "%s/train.txt", e->dir);
    write_text(a, 6000, 1);
    snprintf(b, sizeof b, "%s/valid.txt", e->dir);
    write_text(b, 800, 2);
    /* a Brown tokenizer, so that the Brown task's sentences fit in ctx 128 */
    int st = le_test_sh(&out, "%s tokenizer train --corpus brown --vocab 1024 --out %s/tok.gguf --quiet",
                        le_test_bin(), e->dir);
    if (st)
        print_error("%s\n", out ? out : "");
    free(out);
    snprintf(a, sizeof a, "%s/plan.json", e->dir);
    FILE *f = fopen(a, "wb");
    fprintf(f,
            "{\"name\": \"t\", \"tokenizer\": \"tok.gguf\", \"corpus\": {\"train\": \"train.txt\", \"valid\": "
            "\"valid.txt\"},\n \"model\": {\"ctx\": 128, \"heads\": 2, \"layers\": 1}, \"lr\": 5e-3,\n"
            " \"batch_tokens\": 256, \"evals\": 3, \"eval_tokens\": 512, \"max_epochs\": 20, \"min_steps\": 4,\n"
            " \"tasks\": [\"brown-swap\"], \"task_limit\": 6,\n"
            " \"grid\": {\"shapes\": [8, 16], \"tokens\": [4096, 8192]}}\n");
    fclose(f);
    *state = e;
    return st;
}

static int sw_teardown(void **state) {
    struct sw_env *e = *state;
    le_test_rmdir(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

/* Runs a sweep into dir/<name>; returns the exit status, output in *out. */
static int sweep(struct sw_env *e, char **out, const char *env, const char *name, int jobs, int threads) {
    return le_test_sh(out, "%s %s sweep %s/plan.json --db %s/%s.sqlite --out %s/%s --jobs %d --threads %d --quiet",
                      env, le_test_bin(), e->dir, e->dir, name, e->dir, name, jobs, threads);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The store's results as sorted lines of what must not change: cell, task,
 * metric, value, stderr, n, model sha256 (paths and times may). */
static char **results_of(struct sw_env *e, const char *name, int *n) {
    char *out = NULL, path[600];
    snprintf(path, sizeof path, "%s/%s.json", e->dir, name);
    assert_int_equal(le_test_sh(&out, "%s db export --db %s/%s.sqlite --format json -o %s", le_test_bin(), e->dir,
                                name, path), 0);
    free(out);
    cJSON *j = le_test_read_json(NULL, path);
    *n = cJSON_GetArraySize(j);
    char **v = calloc((size_t)*n + 1, sizeof *v);
    int k = 0;
    for (cJSON *r = j->child; r; r = r->next, k++) {
        const cJSON *se = cJSON_GetObjectItem(r, "stderr");
        assert_int_not_equal(asprintf(&v[k], "%s|%s|%s|%.17g|%.17g|%.0f|%s", cJSON_GetObjectItem(r, "cell")->valuestring,
                                      cJSON_GetObjectItem(r, "task")->valuestring,
                                      cJSON_GetObjectItem(r, "metric")->valuestring,
                                      cJSON_GetObjectItem(r, "value")->valuedouble,
                                      cJSON_IsNumber(se) ? se->valuedouble : NAN,
                                      cJSON_GetObjectItem(r, "n")->valuedouble,
                                      cJSON_GetObjectItem(r, "model_sha256")->valuestring), -1);
    }
    cJSON_Delete(j);
    qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

static void free_lines(char **v, int n) {
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

struct sw_points {
    char buf[1 << 15];
    size_t at;
};

static int point_cb(void *ud, const struct le_store_sweep_point *p) {
    struct sw_points *s = ud;
    s->at += (size_t)snprintf(s->buf + s->at, sizeof s->buf - s->at, "%lld %lld %.17g %.17g %.17g\n",
                              (long long)p->step, (long long)p->tokens, p->flops, p->train_loss, p->val_loss);
    return 0;
}

static int cell_cb(void *ud, const struct le_store_sweep_cell *c) {
    struct sw_points *s = ud;
    assert_true(c->done);
    s->at += (size_t)snprintf(s->buf + s->at, sizeof s->buf - s->at, "%s %s %lld %lld %lld %lld %.17g %.17g %.17g\n",
                              c->key, c->label, (long long)c->tokens, (long long)c->n_total,
                              (long long)c->n_nonembed, (long long)c->n_nonembed_noout, c->flops_exact, c->loss,
                              c->bpb);
    return 0;
}

/* Every sweep cell (done) and every evaluation point, as text. */
static char *curves_of(struct sw_env *e, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.sqlite", e->dir, name);
    struct le_store *st = NULL;
    assert_int_equal(le_store_open_readonly(&st, path), LE_OK);
    struct sw_points cells = {.at = 0}, *pts = calloc(1, sizeof *pts);
    assert_int_equal(le_store_sweep_cells(st, "t", cell_cb, &cells), LE_OK);
    /* the points of each cell, in the cells' order */
    for (char *line = cells.buf; *line; line = strchr(line, '\n') + 1) {
        char key[65];
        memcpy(key, line, 64);
        key[64] = 0;
        assert_int_equal(le_store_sweep_points(st, key, point_cb, pts), LE_OK);
    }
    le_store_close(st);
    char *all = NULL;
    assert_int_not_equal(asprintf(&all, "%s--\n%s", cells.buf, pts->buf), -1);
    free(pts);
    return all;
}

static void killed_sweeps_should_finish_each_cell_once_with_the_same_numbers(void **state) {
    struct sw_env *e = *state;
    char *out = NULL;
    /* uninterrupted, one cell at a time on one thread */
    int st = sweep(e, &out, "", "a", 1, 1);
    if (st)
        print_error("%s\n", out);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "4 of 4 cells finished (4 trained now)"));
    free(out);
    /* killed: after 3 checkpoints (cell 1 at step 15 of 16); then after 1
     * (cell 1's last checkpoint, before its results); then inside cell 1's
     * task cell (its samples committed, not its results); then after 4
     * (cell 2's last checkpoint) */
    static const char *kills[] = {"LE_TEST_SWEEP_KILL_AFTER=3", "LE_TEST_SWEEP_KILL_AFTER=1",
                                  "LE_TEST_KILL_AFTER=1", "LE_TEST_SWEEP_KILL_AFTER=4"};
    for (int i = 0; i < 4; i++) {
        st = sweep(e, &out, kills[i], "b", 1, 1);
        if (st != 128 + 9)
            print_error("kill %d: status %d: %s\n", i, st, out);
        assert_int_equal(st, 128 + 9);
        free(out);
    }
    st = sweep(e, &out, "", "b", 1, 1);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "resumed at step 16")); /* cell 2, from its last checkpoint */
    assert_non_null(strstr(out, "4 of 4 cells finished"));
    free(out);
    st = sweep(e, &out, "", "b", 1, 1); /* all done: nothing trained or scored again */
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "4 of 4 cells finished (0 trained now); store cells (training and tasks): 8 done "
                                "earlier, 0 computed now"));
    free(out);
    /* two cells at a time, one thread each */
    st = sweep(e, &out, "", "c", 2, 2);
    assert_int_equal(st, 0);
    free(out);

    int na, nb, nc;
    char **ra = results_of(e, "a", &na), **rb = results_of(e, "b", &nb), **rc = results_of(e, "c", &nc);
    assert_int_equal(na, 4 * 2 + 4 * 2); /* per cell: loss, bpb; brown-swap: acc and its norm variant(s) */
    assert_int_equal(nb, na);
    assert_int_equal(nc, na);
    for (int i = 0; i < na; i++) {
        assert_string_equal(ra[i], rb[i]);
        assert_string_equal(ra[i], rc[i]);
    }
    free_lines(ra, na), free_lines(rb, nb), free_lines(rc, nc);
    char *ca = curves_of(e, "a"), *cb = curves_of(e, "b"), *cc = curves_of(e, "c");
    assert_string_equal(ca, cb);
    assert_string_equal(ca, cc);
    /* 4 cells; 16-step cells evaluated at 5, 10, 15, 16 and 32-step ones at 10, 20, 30, 32 */
    int lines = 0;
    for (char *p = ca; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4 + 1 + 16);
    free(ca), free(cb), free(cc);
}

static void sweep_should_refuse_a_bad_plan_and_list_cells_dry(void **state) {
    struct sw_env *e = *state;
    char *out = NULL, path[600];
    snprintf(path, sizeof path, "%s/bad.json", e->dir);
    const char *bad = "{\"name\": \"t\", \"tokenizer\": \"tok.gguf\", \"model\": {\"ctx\": 128, \"heads\": 2}, "
                      "\"lr\": 1e-3, \"grid\": {\"shapes\": [8], \"tokens\": [4096]}, \"epochs\": 2}";
    le_test_write_file(path, bad, strlen(bad));
    int st = le_test_sh(&out, "%s sweep %s --out %s/x", le_test_bin(), path, e->dir);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "llamaeval: error: "));
    assert_non_null(strstr(out, "unknown key 'epochs'"));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
    free(out);
    st = le_test_sh(&out, "%s sweep %s/plan.json --out %s/d --dry-run", le_test_bin(), e->dir, e->dir);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "d16-l1 D=8.19k"));
    assert_non_null(strstr(out, "to do"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scaling_counts_should_match_a_hand_computation),
        cmocka_unit_test(plan_should_resolve_into_cells),
        cmocka_unit_test(bad_plans_should_be_refused_with_one_line),
    };
    const struct CMUnitTest cmd[] = {
        cmocka_unit_test(sweep_should_refuse_a_bad_plan_and_list_cells_dry),
        cmocka_unit_test(killed_sweeps_should_finish_each_cell_once_with_the_same_numbers),
    };
    int f = cmocka_run_group_tests_name("plans", tests, NULL, NULL);
    return f + cmocka_run_group_tests_name("command", cmd, sw_setup, sw_teardown);
}
