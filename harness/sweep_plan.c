/*
 * sweep_plan: parsing and checking scaling-sweep plans (le_sweep.h; the
 * format is documented in README.md, "Scaling sweeps") and resolving them
 * into cells.
 *
 * Strict on purpose: an unknown key, a value of the wrong type or out of
 * range, a shape the architecture rules cannot build, a duplicate cell, a
 * cell needing more epochs of the training split than max_epochs or fewer
 * steps than min_steps -- each is refused with one line naming the key or
 * the cell, before anything is trained. A plan is small; cJSON holds it
 * only while parsing.
 */
#include "le_sweep.h"

#include "le_err.h"   /* le_err_set */
#include "le_tasks.h" /* le_task_find: the plan's task names */

#include <cjson/cJSON.h> /* the plan's JSON */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LE_SW_MAX_SHAPES = 64, LE_SW_MAX_BUDGETS = 64 };

struct le_sw_shape {
    int64_t dim, layers;
};

struct le_sweep_plan {
    struct le_sweep_setup s;
    char *strs[8]; /* owned strings of s */
    int n_strs;
    /* architecture rules */
    int64_t ctx, layers, head_dim, heads, kv_heads, kv_group;
    double ffn_mult;  /* 0: the LLaMA rule */
    int tied;
    /* learning rate: constant (lr_dim0 == 0), power rule, or table */
    double lr, lr_dim0, lr_power;
    int64_t lr_table_dim[LE_SW_MAX_SHAPES];
    double lr_table[LE_SW_MAX_SHAPES];
    int n_lr_table;
    double warmup_frac, min_lr_frac, beta1, beta2, eps, wd, clip;
    int64_t batch_tokens, evals, eval_tokens;
    /* budgets (C, or D in a grid) and the shapes of each */
    double budget[LE_SW_MAX_BUDGETS];
    int n_budgets;
    struct le_sw_shape shapes[LE_SW_MAX_BUDGETS][LE_SW_MAX_SHAPES];
    int n_shapes[LE_SW_MAX_BUDGETS];
};

static int bad(const char *fmt, const char *a, const char *b) {
    char m[512];
    snprintf(m, sizeof m, fmt, a, b ? b : "");
    return le_err_set(LE_EINVAL, "plan: %s", m);
}

static char *keep(struct le_sweep_plan *p, const char *s, const char *base) {
    char *o = NULL;
    if (base && s[0] != '/' && strcmp(s, "brown")) {
        size_t n = strlen(base) + strlen(s) + 2;
        if ((o = malloc(n)))
            snprintf(o, n, "%s/%s", base, s);
    } else {
        o = strdup(s);
    }
    if (o && p->n_strs < 8)
        p->strs[p->n_strs++] = o;
    return o;
}

/* Every key of o must be one of the NULL-terminated names. */
static int check_keys(const cJSON *o, const char *where, const char *const *names) {
    for (const cJSON *e = o->child; e; e = e->next) {
        int ok = 0;
        for (int i = 0; names[i] && !ok; i++)
            ok = !strcmp(e->string, names[i]);
        if (!ok)
            return bad("unknown key '%s'%s", e->string, where);
    }
    return LE_OK;
}

/* A number in [lo, hi] (integral when want_int); absent keeps *out. */
static int get_num(const cJSON *o, const char *key, double lo, double hi, int want_int, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return LE_OK;
    char range[96];
    snprintf(range, sizeof range, "%s in [%g, %g]", want_int ? "an integer" : "a number", lo, hi);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi ||
        (want_int && v->valuedouble != floor(v->valuedouble)))
        return bad("'%s' must be %s", key, range);
    *out = v->valuedouble;
    return LE_OK;
}

static int get_int(const cJSON *o, const char *key, double lo, double hi, int64_t *out) {
    double d = (double)*out;
    int rc = get_num(o, key, lo, hi, 1, &d);
    *out = (int64_t)d;
    return rc;
}

static int parse_shape(const cJSON *v, int64_t layers, struct le_sw_shape *s) {
    s->dim = 0, s->layers = layers;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < 2 || v->valuedouble > 65536)
            return bad("a shape must be a dim (an integer in 2..65536) or {\"dim\": N, \"layers\": L}%s", "", 0);
        s->dim = (int64_t)v->valuedouble;
        return LE_OK;
    }
    static const char *const names[] = {"dim", "layers", NULL};
    if (!cJSON_IsObject(v))
        return bad("a shape must be a dim (an integer) or {\"dim\": N, \"layers\": L}%s", "", 0);
    int rc = check_keys(v, " in a shape", names);
    if (!rc && !cJSON_GetObjectItemCaseSensitive(v, "dim"))
        rc = bad("a shape object needs \"dim\"%s", "", 0);
    if (!rc)
        rc = get_int(v, "dim", 2, 65536, &s->dim);
    if (!rc)
        rc = get_int(v, "layers", 1, 1024, &s->layers);
    return rc;
}

static int parse_shapes(const cJSON *v, int64_t layers, struct le_sw_shape *out, int *n) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > LE_SW_MAX_SHAPES)
        return bad("'shapes' must be a non-empty array of at most 64 shapes%s", "", 0);
    *n = 0;
    for (const cJSON *e = v->child; e; e = e->next) {
        int rc = parse_shape(e, layers, &out[*n]);
        if (rc)
            return rc;
        for (int i = 0; i < *n; i++)
            if (out[i].dim == out[*n].dim && out[i].layers == out[*n].layers) {
                char s[64];
                snprintf(s, sizeof s, "d%lld-l%lld", (long long)out[i].dim, (long long)out[i].layers);
                return bad("shape %s is listed twice%s", s, 0);
            }
        (*n)++;
    }
    return LE_OK;
}

static int parse_model(struct le_sweep_plan *p, const cJSON *m) {
    static const char *const names[] = {"ctx", "layers", "head_dim", "heads", "kv_heads", "kv_group", "ffn",
                                        "tied", NULL};
    if (!cJSON_IsObject(m))
        return bad("'model' must be an object {\"ctx\": 128, \"head_dim\": 16, ...}%s", "", 0);
    int rc = check_keys(m, " in 'model'", names);
    if (!rc && !cJSON_GetObjectItemCaseSensitive(m, "ctx"))
        rc = bad("'model' needs \"ctx\"%s", "", 0);
    if (!rc) rc = get_int(m, "ctx", 2, 65536, &p->ctx);
    if (!rc) rc = get_int(m, "layers", 1, 1024, &p->layers);
    if (!rc) rc = get_int(m, "head_dim", 2, 65536, &p->head_dim);
    if (!rc) rc = get_int(m, "heads", 1, 65536, &p->heads);
    if (!rc) rc = get_int(m, "kv_heads", 1, 65536, &p->kv_heads);
    if (!rc) rc = get_int(m, "kv_group", 1, 65536, &p->kv_group);
    if (rc)
        return rc;
    if (!!p->head_dim == !!p->heads)
        return bad("'model' needs exactly one of \"head_dim\" (heads = dim / head_dim) and \"heads\"%s", "", 0);
    if (p->head_dim % 2)
        return bad("'head_dim' must be even (RoPE rotates pairs)%s", "", 0);
    if (p->kv_heads && p->kv_group)
        return bad("'model' takes \"kv_heads\" or \"kv_group\", not both%s", "", 0);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(m, "ffn");
    if (f && cJSON_IsString(f) && !strcmp(f->valuestring, "llama"))
        p->ffn_mult = 0;
    else if (f && (!cJSON_IsNumber(f) || !(f->valuedouble > 0) || f->valuedouble > 64))
        return bad("'ffn' must be \"llama\" (8/3 dim, rounded up to 4) or a multiplier of dim in (0, 64]%s", "", 0);
    else if (f)
        p->ffn_mult = f->valuedouble;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "tied");
    if (t && !cJSON_IsBool(t))
        return bad("'tied' must be true or false%s", "", 0);
    p->tied = t && cJSON_IsTrue(t);
    return LE_OK;
}

static int parse_lr(struct le_sweep_plan *p, const cJSON *v) {
    if (!v)
        return bad("the plan needs \"lr\": a number, {\"base\": F, \"dim0\": N, \"power\": P} or {\"table\": "
                   "{\"dim\": F, ...}}%s", "", 0);
    if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble > 0 && v->valuedouble < 10))
            return bad("'lr' must be in (0, 10)%s", "", 0);
        p->lr = v->valuedouble;
        return LE_OK;
    }
    static const char *const names[] = {"base", "dim0", "power", "table", NULL};
    if (!cJSON_IsObject(v))
        return bad("'lr' must be a number or an object (base/dim0/power, or table)%s", "", 0);
    int rc = check_keys(v, " in 'lr'", names);
    if (rc)
        return rc;
    const cJSON *tab = cJSON_GetObjectItemCaseSensitive(v, "table");
    if (tab) {
        if (cJSON_GetArraySize(v) != 1 || !cJSON_IsObject(tab) || !tab->child)
            return bad("'lr' {\"table\": {\"64\": 3e-3, ...}} takes nothing else and at least one dim%s", "", 0);
        for (const cJSON *e = tab->child; e; e = e->next) {
            char *end;
            long d = strtol(e->string, &end, 10);
            if (*end || d < 2 || !cJSON_IsNumber(e) || !(e->valuedouble > 0 && e->valuedouble < 10) ||
                p->n_lr_table == LE_SW_MAX_SHAPES)
                return bad("'lr' table entry '%s' must map a dim to a rate in (0, 10)%s", e->string, 0);
            p->lr_table_dim[p->n_lr_table] = d;
            p->lr_table[p->n_lr_table++] = e->valuedouble;
        }
        return LE_OK;
    }
    if (!cJSON_GetObjectItemCaseSensitive(v, "base") || !cJSON_GetObjectItemCaseSensitive(v, "dim0") ||
        !cJSON_GetObjectItemCaseSensitive(v, "power"))
        return bad("'lr' rule needs \"base\", \"dim0\" and \"power\" (lr = base * (dim0 / dim)^power)%s", "", 0);
    rc = get_num(v, "base", 1e-12, 10, 0, &p->lr);
    if (!rc) rc = get_num(v, "dim0", 1, 1e6, 0, &p->lr_dim0);
    if (!rc) rc = get_num(v, "power", -4, 4, 0, &p->lr_power);
    return rc;
}

static int parse_tokenizer(struct le_sweep_plan *p, const cJSON *v, const char *base) {
    if (cJSON_IsString(v) && v->valuestring[0]) {
        p->s.tokenizer = keep(p, v->valuestring, base);
        return p->s.tokenizer ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    }
    const cJSON *t = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "train") : NULL;
    if (!t || cJSON_GetArraySize(v) != 1 || !cJSON_IsObject(t))
        return bad("'tokenizer' must be a GGUF path or {\"train\": {\"vocab\": N, \"corpus\": \"brown\"}}%s", "", 0);
    static const char *const names[] = {"vocab", "corpus", NULL};
    int rc = check_keys(t, " in 'tokenizer.train'", names);
    if (!rc && !cJSON_GetObjectItemCaseSensitive(t, "vocab"))
        rc = bad("'tokenizer.train' needs \"vocab\"%s", "", 0);
    if (!rc)
        rc = get_int(t, "vocab", 260, 1000000, &p->s.tokenizer_vocab);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(t, "corpus");
    if (!rc && c && (!cJSON_IsString(c) || !c->valuestring[0]))
        rc = bad("'tokenizer.train.corpus' must be \"brown\" or a text file%s", "", 0);
    if (!rc && c && !(p->s.tokenizer_corpus = keep(p, c->valuestring, base))) /* keep() leaves "brown" as is */
        rc = le_err_set(LE_ENOMEM, "out of memory");
    return rc;
}

static int parse_corpus(struct le_sweep_plan *p, const cJSON *v, const char *base) {
    if (!v || (cJSON_IsString(v) && !strcmp(v->valuestring, "brown")))
        return LE_OK;
    const cJSON *t = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "train") : NULL;
    const cJSON *va = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "valid") : NULL;
    if (!cJSON_IsString(t) || !cJSON_IsString(va) || cJSON_GetArraySize(v) != 2 || !t->valuestring[0] ||
        !va->valuestring[0])
        return bad("'corpus' must be \"brown\" or {\"train\": FILE, \"valid\": FILE}%s", "", 0);
    p->s.train_file = keep(p, t->valuestring, base);
    p->s.valid_file = keep(p, va->valuestring, base);
    return p->s.train_file && p->s.valid_file ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
}

static int parse_tasks(struct le_sweep_plan *p, const cJSON *v) {
    static const char *const dflt[] = {"brown-cloze", "brown-swap"};
    if (!v) {
        p->s.tasks[0] = dflt[0], p->s.tasks[1] = dflt[1], p->s.n_tasks = 2;
        return LE_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 8)
        return bad("'tasks' must be an array of at most 8 task names ([] for none)%s", "", 0);
    for (const cJSON *e = v->child; e; e = e->next) {
        const struct le_task_info *ti = cJSON_IsString(e) ? le_task_find(e->valuestring) : NULL;
        if (!ti)
            return bad("'tasks': unknown task %s%s", cJSON_IsString(e) ? e->valuestring : "(not a string)", 0);
        for (int i = 0; i < p->s.n_tasks; i++)
            if (!strcmp(p->s.tasks[i], ti->name))
                return bad("'tasks': %s is listed twice%s", ti->name, 0);
        p->s.tasks[p->s.n_tasks++] = ti->name;
    }
    return LE_OK;
}

/* "isoflop": {"flops", "budgets", "shapes"} or "grid": {"shapes", "tokens"}. */
static int parse_cells(struct le_sweep_plan *p, const cJSON *iso, const cJSON *grid) {
    if (!!iso == !!grid)
        return bad("the plan needs exactly one of \"isoflop\" and \"grid\"%s", "", 0);
    const cJSON *o = iso ? iso : grid;
    const char *what = iso ? "isoflop" : "grid", *bkey = iso ? "budgets" : "tokens";
    static const char *const inames[] = {"flops", "budgets", "shapes", NULL}, *const gnames[] = {"shapes", "tokens",
                                                                                                  NULL};
    char where[32];
    snprintf(where, sizeof where, " in '%s'", what);
    if (!cJSON_IsObject(o))
        return bad("'%s' must be an object%s", what, 0);
    int rc = check_keys(o, where, iso ? inames : gnames);
    if (rc)
        return rc;
    p->s.isoflop = !!iso;
    const cJSON *f = iso ? cJSON_GetObjectItemCaseSensitive(o, "flops") : NULL;
    if (f && !(cJSON_IsString(f) && (!strcmp(f->valuestring, "chinchilla") || !strcmp(f->valuestring, "6n"))))
        return bad("'isoflop.flops' must be \"chinchilla\" (App. F count) or \"6n\"%s", "", 0);
    p->s.flops = f && !strcmp(f->valuestring, "6n") ? LE_SWEEP_FLOPS_6N : LE_SWEEP_FLOPS_CHINCHILLA;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, bkey);
    if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) < 1 || cJSON_GetArraySize(b) > LE_SW_MAX_BUDGETS)
        return bad("'%s.%s' must be a non-empty array of at most 64 positive numbers", what, bkey);
    for (const cJSON *e = b->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 1) || !isfinite(e->valuedouble))
            return bad("'%s.%s' must hold numbers >= 1", what, bkey);
        for (int i = 0; i < p->n_budgets; i++)
            if (p->budget[i] == e->valuedouble)
                return bad("'%s.%s' lists a value twice", what, bkey);
        p->budget[p->n_budgets++] = e->valuedouble;
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "shapes");
    if (!s)
        return bad("'%s' needs \"shapes\"%s", what, 0);
    if (iso && cJSON_IsArray(s) && s->child && cJSON_IsArray(s->child)) { /* one list per budget */
        if (cJSON_GetArraySize(s) != p->n_budgets)
            return bad("'isoflop.shapes' as a list per budget needs one list for each budget%s", "", 0);
        int i = 0;
        for (const cJSON *e = s->child; e && !rc; e = e->next, i++)
            rc = parse_shapes(e, p->layers, p->shapes[i], &p->n_shapes[i]);
        return rc;
    }
    rc = parse_shapes(s, p->layers, p->shapes[0], &p->n_shapes[0]);
    for (int i = 1; i < p->n_budgets && !rc; i++) {
        memcpy(p->shapes[i], p->shapes[0], sizeof p->shapes[0]);
        p->n_shapes[i] = p->n_shapes[0];
    }
    return rc;
}

static int parse_plan(struct le_sweep_plan *p, const cJSON *j, const char *base) {
    static const char *const names[] = {"name", "tokenizer", "corpus", "model", "lr", "warmup", "min_lr_frac",
                                        "optimizer", "batch_tokens", "seed", "max_epochs", "min_steps", "evals",
                                        "eval_tokens", "tasks", "task_limit", "isoflop", "grid", NULL};
    if (!cJSON_IsObject(j))
        return bad("a plan is a JSON object {\"name\": ..., \"model\": ..., \"isoflop\" or \"grid\": ...}%s", "", 0);
    int rc = check_keys(j, "", names);
    if (rc)
        return rc;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!cJSON_IsString(n) || !n->valuestring[0] || strlen(n->valuestring) > 64 ||
        strspn(n->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            strlen(n->valuestring))
        return bad("'name' must be 1..64 characters of [A-Za-z0-9._-]%s", "", 0);
    if (!(p->s.name = keep(p, n->valuestring, NULL)))
        return le_err_set(LE_ENOMEM, "out of memory");
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "tokenizer");
    if (!tk)
        return bad("the plan needs \"tokenizer\": a GGUF path or {\"train\": {\"vocab\": N}}%s", "", 0);
    if ((rc = parse_tokenizer(p, tk, base)) || (rc = parse_corpus(p, cJSON_GetObjectItemCaseSensitive(j, "corpus"), base)))
        return rc;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!m)
        return bad("the plan needs \"model\" (ctx, head_dim or heads, layers, ffn, tied)%s", "", 0);
    if ((rc = parse_model(p, m)) || (rc = parse_lr(p, cJSON_GetObjectItemCaseSensitive(j, "lr"))))
        return rc;
    double seed = 1;
    if (!rc) rc = get_num(j, "warmup", 0, 0.5, 0, &p->warmup_frac);
    if (!rc) rc = get_num(j, "min_lr_frac", 0, 1, 0, &p->min_lr_frac);
    if (!rc) rc = get_int(j, "batch_tokens", 2, 1 << 24, &p->batch_tokens);
    if (!rc) rc = get_num(j, "seed", 0, 9007199254740992.0, 1, &seed);
    if (!rc) rc = get_num(j, "max_epochs", 1e-6, 1e6, 0, &p->s.max_epochs);
    if (!rc) rc = get_int(j, "min_steps", 1, 1e9, &p->s.min_steps);
    if (!rc) rc = get_int(j, "evals", 1, 10000, &p->evals);
    if (!rc) rc = get_int(j, "eval_tokens", 0, 1e9, &p->eval_tokens);
    if (!rc) rc = get_int(j, "task_limit", 0, 1e9, &p->s.task_limit);
    p->s.seed = (uint64_t)seed;
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(j, "optimizer");
    static const char *const onames[] = {"beta1", "beta2", "eps", "wd", "clip", NULL};
    if (!rc && opt && !cJSON_IsObject(opt))
        rc = bad("'optimizer' must be an object {\"beta1\", \"beta2\", \"eps\", \"wd\", \"clip\"}%s", "", 0);
    if (!rc && opt) {
        rc = check_keys(opt, " in 'optimizer'", onames);
        if (!rc) rc = get_num(opt, "beta1", 0, 0.999999, 0, &p->beta1);
        if (!rc) rc = get_num(opt, "beta2", 0, 0.999999, 0, &p->beta2);
        if (!rc) rc = get_num(opt, "eps", 1e-30, 1, 0, &p->eps);
        if (!rc) rc = get_num(opt, "wd", 0, 10, 0, &p->wd);
        if (!rc) rc = get_num(opt, "clip", 0, 1e9, 0, &p->clip);
    }
    if (!rc && p->batch_tokens < p->ctx)
        rc = bad("'batch_tokens' must hold at least one sequence of ctx tokens%s", "", 0);
    if (!rc)
        rc = parse_tasks(p, cJSON_GetObjectItemCaseSensitive(j, "tasks"));
    if (!rc)
        rc = parse_cells(p, cJSON_GetObjectItemCaseSensitive(j, "isoflop"), cJSON_GetObjectItemCaseSensitive(j, "grid"));
    return rc;
}

int le_sweep_plan_parse(struct le_sweep_plan **out, const char *json, const char *base_dir) {
    *out = NULL;
    struct le_sweep_plan *p = calloc(1, sizeof *p);
    if (!p)
        return le_err_set(LE_ENOMEM, "out of memory");
    struct le_train_config d;
    le_train_config_default(&d);
    p->layers = 2, p->warmup_frac = 0.05, p->min_lr_frac = 0.1, p->beta1 = d.beta1, p->beta2 = d.beta2;
    p->eps = d.eps, p->wd = d.wd, p->clip = d.clip, p->batch_tokens = 4096, p->evals = 10, p->eval_tokens = 16384;
    p->s.max_epochs = 4, p->s.min_steps = 10;
    cJSON *j = cJSON_Parse(json);
    int rc;
    if (!j) {
        const char *e = cJSON_GetErrorPtr();
        size_t line = 1;
        for (const char *c = json; e && c < e && *c; c++)
            line += *c == '\n';
        char where[32];
        snprintf(where, sizeof where, "%zu", line);
        rc = bad("not valid JSON (error near line %s)%s", where, 0);
    } else {
        rc = parse_plan(p, j, base_dir);
    }
    cJSON_Delete(j);
    if (rc) {
        le_sweep_plan_free(p);
        return rc;
    }
    *out = p;
    return LE_OK;
}

void le_sweep_plan_free(struct le_sweep_plan *p) {
    if (!p)
        return;
    for (int i = 0; i < p->n_strs; i++)
        free(p->strs[i]);
    free(p);
}

const struct le_sweep_setup *le_sweep_plan_setup(const struct le_sweep_plan *p) { return &p->s; }

/* 1e+12 -> "1e12", 2.5e+11 -> "2.5e11". */
static void fmt_sci(char *out, size_t n, double v) {
    char m[32];
    snprintf(m, sizeof m, "%.3g", v);
    char *e = strchr(m, 'e');
    if (e) { /* drop the exponent's '+' and leading zeros */
        char *d = e + 1, *s = d;
        if (*s == '+')
            s++;
        else if (*s == '-')
            *d++ = *s++;
        while (*s == '0' && s[1])
            s++;
        memmove(d, s, strlen(s) + 1);
    }
    snprintf(out, n, "%s", m);
}

static double cell_lr(const struct le_sweep_plan *p, int64_t dim, int *found) {
    *found = 1;
    if (p->n_lr_table) {
        for (int i = 0; i < p->n_lr_table; i++)
            if (p->lr_table_dim[i] == dim)
                return p->lr_table[i];
        *found = 0;
        return 0;
    }
    return p->lr_dim0 > 0 ? p->lr * pow(p->lr_dim0 / (double)dim, p->lr_power) : p->lr;
}

/* Fills one cell's config and counts; 0 or LE_EINVAL naming the cell. */
static int make_cell(const struct le_sweep_plan *p, int b, const struct le_sw_shape *sh, int64_t vocab, int64_t n_train,
                     struct le_sweep_cell *cell) {
    struct le_train_config *c = &cell->c;
    char sci[32];
    le_train_config_default(c);
    c->dim = sh->dim, c->n_layers = sh->layers, c->ctx = p->ctx, c->vocab = vocab, c->tied = p->tied;
    c->n_heads = p->heads ? p->heads : sh->dim / p->head_dim;
    if (p->kv_heads)
        c->n_kv_heads = p->kv_heads;
    else if (p->kv_group)
        c->n_kv_heads = c->n_heads / p->kv_group;
    else
        c->n_kv_heads = c->n_heads;
    if (p->ffn_mult > 0)
        c->ffn = ((int64_t)ceil(p->ffn_mult * (double)sh->dim) + 3) / 4 * 4;
    c->batch_tokens = p->batch_tokens, c->seed = p->s.seed, c->min_lr_frac = p->min_lr_frac;
    c->beta1 = p->beta1, c->beta2 = p->beta2, c->eps = p->eps, c->wd = p->wd, c->clip = p->clip;
    fmt_sci(sci, sizeof sci, p->budget[b]);
    if (p->s.isoflop) {
        snprintf(cell->label, sizeof cell->label, "C=%s d%lld-l%lld", sci, (long long)sh->dim, (long long)sh->layers);
        snprintf(cell->dir, sizeof cell->dir, "C%s-d%lld-l%lld", sci, (long long)sh->dim, (long long)sh->layers);
    } else { /* tokens with an SI suffix: 6400 -> 6.4k */
        const char *u[] = {"", "k", "M", "G", "T"};
        double v = p->budget[b];
        int e = 0;
        while (v >= 1000 && e < 4)
            v /= 1000, e++;
        snprintf(sci, sizeof sci, "%.3g%s", v, u[e]);
        snprintf(cell->label, sizeof cell->label, "d%lld-l%lld D=%s", (long long)sh->dim, (long long)sh->layers, sci);
        snprintf(cell->dir, sizeof cell->dir, "d%lld-l%lld-D%s", (long long)sh->dim, (long long)sh->layers, sci);
    }
    int lr_found;
    c->lr = cell_lr(p, sh->dim, &lr_found);
    if (!lr_found)
        return bad("cell %s: the lr table has no rate for this dim%s", cell->label, 0);
    if ((p->head_dim && sh->dim % p->head_dim) || (p->heads && sh->dim % p->heads))
        return bad("cell %s: the heads rule does not divide dim%s", cell->label, 0);
    if (p->kv_group && c->n_heads % p->kv_group)
        return bad("cell %s: kv_group does not divide the heads%s", cell->label, 0);
    le_train_scaling_counts(c, &cell->k);
    int64_t per = c->batch_tokens / c->ctx * c->ctx;
    double fpt = p->s.flops == LE_SWEEP_FLOPS_6N ? 6.0 * (double)cell->k.n_total : cell->k.flops_per_token;
    cell->budget_index = b;
    cell->budget = p->s.isoflop ? p->budget[b] : NAN;
    cell->steps = p->s.isoflop ? (int64_t)llround(p->budget[b] / fpt / (double)per) : (int64_t)(p->budget[b] / (double)per);
    if (cell->steps < p->s.min_steps) {
        char m[160];
        snprintf(m, sizeof m, "cell %s: %lld steps of %lld tokens, fewer than min_steps %lld", cell->label,
                 (long long)cell->steps, (long long)per, (long long)p->s.min_steps);
        return bad("%s%s", m, 0);
    }
    c->tokens = cell->steps * per;
    c->warmup = (int64_t)(p->warmup_frac * (double)cell->steps);
    c->eval_every = cell->steps / p->evals > 0 ? cell->steps / p->evals : 1;
    c->eval_tokens = p->eval_tokens;
    if (le_train_config_check(c, vocab))
        return bad("cell %s: %s", cell->label, le_err_msg());
    le_train_scaling_counts(c, &cell->k); /* with ffn and kv heads resolved */
    cell->flops_exact = cell->k.flops_per_token * (double)c->tokens;
    cell->flops_6nd = 6.0 * (double)cell->k.n_total * (double)c->tokens;
    cell->epochs = n_train > 0 ? (double)c->tokens / (double)n_train : NAN;
    if (n_train > 0 && cell->epochs > p->s.max_epochs) {
        char m[160];
        snprintf(m, sizeof m, "cell %s needs %.2f epochs of the training split (%lld tokens), more than max_epochs %g",
                 cell->label, cell->epochs, (long long)n_train, p->s.max_epochs);
        return bad("%s%s", m, 0);
    }
    return LE_OK;
}

int le_sweep_plan_cells(const struct le_sweep_plan *p, int64_t vocab, int64_t n_train, struct le_sweep_cell **cells,
                        int *n) {
    *cells = NULL, *n = 0;
    int total = 0;
    for (int b = 0; b < p->n_budgets; b++)
        total += p->n_shapes[b];
    struct le_sweep_cell *v = calloc((size_t)total, sizeof *v);
    if (!v)
        return le_err_set(LE_ENOMEM, "out of memory");
    int k = 0, rc = LE_OK;
    for (int b = 0; b < p->n_budgets && !rc; b++)
        for (int s = 0; s < p->n_shapes[b] && !rc; s++, k++) {
            rc = make_cell(p, b, &p->shapes[b][s], vocab, n_train, &v[k]);
            for (int i = 0; i < k && !rc; i++)
                if (!strcmp(v[i].dir, v[k].dir))
                    rc = bad("cells %s and %s would share a name (budgets too close)", v[i].label, v[k].label);
        }
    if (rc) {
        free(v);
        return rc;
    }
    *cells = v, *n = total;
    return LE_OK;
}
