/*
 * yaml_task: tasks defined in lm-evaluation-harness's YAML schema (the
 * subset listed in le_tasks.h), parsed with libyaml's document API into a
 * cJSON tree (every scalar a string; numbers and booleans are read where a
 * key wants them), then checked key by key: an unknown or unsupported key
 * is an error naming it and the file, never ignored.
 *
 * Templates are lm-eval's Jinja fields without the rest of Jinja: "{{ a.b[0]
 * }}", an optional ".strip()", and "{{[a, b]}}" for a list of fields (how
 * lm-eval's own YAMLs write doc_to_choice). A bare doc_to_target /
 * doc_to_choice that names a document field is that field, as lm-eval does.
 * A task loaded here becomes a le_task_info whose formatter renders these
 * templates; everything else (few-shot, requests, metrics) is the built-in
 * machinery, so a YAML copy of a built-in task gives the same numbers.
 */
#include "le_tasks.h"

#include <cjson/cJSON.h> /* the parsed YAML and the documents */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h> /* yaml_parser_load: Debian's libyaml */

#include "le_err.h" /* le_err_set */

struct yaml_task {
    struct le_task_info info; /* first: le_task_info_free frees the whole */
    cJSON *root;              /* the parsed file: every string below points into it */
    const char *text, *target, *choice_field;
    const cJSON *choice_list; /* doc_to_choice as a YAML list of literal strings */
    char *path;
};

int le_task_is_yaml(const char *name) {
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

void le_task_info_free(struct le_task_info *info) {
    if (!info)
        return;
    struct yaml_task *y = (struct yaml_task *)info;
    cJSON_Delete(y->root);
    free(y->path);
    free(y);
}

/* ---- YAML -> cJSON ---- */

static cJSON *yaml_node_json(yaml_document_t *d, yaml_node_t *n, int depth) {
    if (!n || depth > 64)
        return NULL;
    if (n->type == YAML_SCALAR_NODE)
        return cJSON_CreateString((const char *)n->data.scalar.value);
    if (n->type == YAML_SEQUENCE_NODE) {
        cJSON *a = cJSON_CreateArray();
        for (yaml_node_item_t *it = n->data.sequence.items.start; a && it < n->data.sequence.items.top; it++) {
            cJSON *x = yaml_node_json(d, yaml_document_get_node(d, *it), depth + 1);
            if (!x) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, x);
        }
        return a;
    }
    cJSON *o = cJSON_CreateObject();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        cJSON *v = yaml_node_json(d, yaml_document_get_node(d, p->value), depth + 1);
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, (const char *)k->data.scalar.value, v);
    }
    return o;
}

static int yaml_read(const char *path, cJSON **out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return le_err_set(LE_EIO, "cannot open %s: %s", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t d;
    int rc = LE_OK;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &d))
        rc = le_err_set(LE_EFORMAT, "%s:%zu: %s", path, p.problem_mark.line + 1,
                        p.problem ? p.problem : "invalid YAML");
    else {
        yaml_node_t *root = yaml_document_get_root_node(&d);
        if (!root || root->type != YAML_MAPPING_NODE)
            rc = le_err_set(LE_EFORMAT, "%s: a task file must be a mapping of keys", path);
        else if (!(*out = yaml_node_json(&d, root, 0)))
            rc = le_err_set(LE_EFORMAT, "%s: unsupported YAML structure (anchors or non-scalar keys)", path);
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

/* ---- templates ---- */

/* The value at path ("a.b[0]") in doc, or NULL. */
static const cJSON *path_get(const cJSON *doc, const char *s, size_t n) {
    const cJSON *v = doc;
    size_t i = 0;
    while (v && i < n) {
        if (s[i] == '[') {
            char *end;
            long k = strtol(s + i + 1, &end, 10);
            if (*end != ']' || !cJSON_IsArray(v))
                return NULL;
            v = cJSON_GetArrayItem(v, (int)k);
            i = (size_t)(end - s) + 1;
            continue;
        }
        if (s[i] == '.')
            i++;
        size_t j = i;
        while (j < n && s[j] != '.' && s[j] != '[')
            j++;
        char key[128];
        if (j - i == 0 || j - i >= sizeof key || !cJSON_IsObject(v))
            return NULL;
        memcpy(key, s + i, j - i);
        key[j - i] = 0;
        v = cJSON_GetObjectItemCaseSensitive(v, key);
        i = j;
    }
    return v;
}

static void trim(const char **s, size_t *n) {
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

struct sbuf {
    char *s;
    size_t n, cap;
};

static int sb_add(struct sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->n + n + 1) * 2;
        char *p = realloc(b->s, nc);
        if (!p)
            return le_err_set(LE_ENOMEM, "out of memory");
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return LE_OK;
}

/* Python's str() of a scalar JSON value into b. */
static int add_value(struct sbuf *b, const cJSON *v, int strip, const char *expr) {
    char num[64];
    const char *s;
    if (cJSON_IsString(v))
        s = v->valuestring;
    else if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(long long)v->valuedouble)
            snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
        else
            snprintf(num, sizeof num, "%.17g", v->valuedouble);
        s = num;
    } else if (cJSON_IsBool(v))
        s = cJSON_IsTrue(v) ? "True" : "False";
    else
        return le_err_set(LE_EFORMAT, "template field '%s' is missing or not text", expr);
    size_t n = strlen(s);
    if (strip)
        while (n && (s[0] == ' ' || s[0] == '\n' || s[0] == '\t' || s[0] == '\r')) {
            s++;
            n--;
        }
    if (strip)
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r'))
            n--;
    return sb_add(b, s, n);
}

/* Renders tpl against doc into a new string. */
static int render(const char *tpl, const cJSON *doc, char **out) {
    struct sbuf b = {0};
    int rc = sb_add(&b, "", 0);
    const char *p = tpl;
    while (!rc && *p) {
        const char *o = strstr(p, "{{");
        if (!o) {
            rc = sb_add(&b, p, strlen(p));
            break;
        }
        const char *c = strstr(o + 2, "}}");
        if (!c) {
            rc = le_err_set(LE_EFORMAT, "template '%s': '{{' without '}}'", tpl);
            break;
        }
        rc = sb_add(&b, p, (size_t)(o - p));
        const char *e = o + 2;
        size_t n = (size_t)(c - e);
        trim(&e, &n);
        int strip = n > 8 && !memcmp(e + n - 8, ".strip()", 8);
        if (strip)
            n -= 8;
        char expr[256];
        snprintf(expr, sizeof expr, "%.*s", (int)n, e);
        if (!rc && strspn(expr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]") != n)
            rc = le_err_set(LE_EUNSUP, "template expression '{{%s}}' is not a field path (only {{a.b[0]}}, "
                                       ".strip() and {{[a, b]}} are supported)", expr);
        if (!rc)
            rc = add_value(&b, path_get(doc, e, n), strip, expr);
        p = c + 2;
    }
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    return LE_OK;
}

/* A list-valued field: a document key, "{{path}}" naming a list, or
 * "{{[a, b, ...]}}". Returns a new cJSON array of strings. */
static int render_list(const char *spec, const cJSON *doc, cJSON **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, spec);
    cJSON *arr = NULL;
    const char *s = spec;
    size_t n = strlen(s);
    trim(&s, &n);
    if (!v && n > 4 && !memcmp(s, "{{", 2) && !memcmp(s + n - 2, "}}", 2)) {
        s += 2;
        n -= 4;
        trim(&s, &n);
        if (n >= 2 && s[0] == '[' && s[n - 1] == ']') { /* {{[a, b]}} */
            arr = cJSON_CreateArray();
            const char *q = s + 1, *end = s + n - 1;
            while (arr && q < end) {
                const char *comma = memchr(q, ',', (size_t)(end - q));
                const char *fe = comma ? comma : end, *f = q;
                size_t fl = (size_t)(fe - q);
                trim(&f, &fl);
                const cJSON *x = path_get(doc, f, fl);
                if (!cJSON_IsString(x)) {
                    cJSON_Delete(arr);
                    return le_err_set(LE_EFORMAT, "doc_to_choice '%s': field '%.*s' is missing or not text", spec,
                                      (int)fl, f);
                }
                cJSON_AddItemToArray(arr, cJSON_CreateString(x->valuestring));
                q = fe + 1;
            }
            *out = arr;
            return arr ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
        }
        v = path_get(doc, s, n);
    }
    if (cJSON_IsString(v)) { /* one target */
        arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_CreateString(v->valuestring));
    } else if (cJSON_IsArray(v))
        arr = cJSON_Duplicate(v, 1);
    else
        return le_err_set(LE_EFORMAT, "'%s' is not a list field of the document", spec);
    for (const cJSON *x = arr ? arr->child : NULL; x; x = x->next)
        if (!cJSON_IsString(x)) {
            cJSON_Delete(arr);
            return le_err_set(LE_EFORMAT, "'%s' holds a non-text item", spec);
        }
    *out = arr;
    return arr ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
}

static char *dupstr(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* doc_to_target as text: a document key's value, else the template. */
static int target_text(const struct yaml_task *y, const cJSON *doc, char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, y->target);
    if (v) {
        struct sbuf b = {0};
        int rc = sb_add(&b, "", 0);
        if (!rc)
            rc = add_value(&b, v, 0, y->target);
        if (rc)
            free(b.s);
        else
            *out = b.s;
        return rc;
    }
    return render(y->target, doc, out);
}

static int yaml_format(const void *ud, const cJSON *doc, struct le_prompt *p) {
    const struct yaml_task *y = ud;
    const struct le_task_info *in = &y->info;
    memset(p, 0, sizeof *p);
    p->gold = -1;
    p->group = -1;
    int rc = LE_OK;
    cJSON *list = NULL;
    char *tgt = NULL;
    if (in->kind == LE_TASK_ROLLING) {
        rc = y->target ? target_text(y, doc, &p->query) : render(y->text, doc, &p->query);
        goto done;
    }
    if ((rc = render(y->text, doc, &p->query)))
        goto done;
    if (in->kind == LE_TASK_MC) {
        if (y->choice_list)
            list = cJSON_Duplicate(y->choice_list, 1);
        else
            rc = render_list(y->choice_field, doc, &list);
        int n = rc ? 0 : cJSON_GetArraySize(list);
        if (!rc && !(p->choices = calloc((size_t)(n > 0 ? n : 1), sizeof *p->choices)))
            rc = le_err_set(LE_ENOMEM, "out of memory");
        for (int i = 0; i < n && !rc; i++) {
            p->choices[i] = dupstr(cJSON_GetArrayItem(list, i)->valuestring);
            p->n_choices = i + 1;
        }
        if (!rc)
            rc = target_text(y, doc, &tgt);
        if (!rc) { /* a number is an index; text must be one of the choices */
            char *end;
            long g = strtol(tgt, &end, 10);
            if (*tgt && !*end)
                p->gold = g >= 0 && g < n ? (int)g : -1;
            else
                for (int i = 0; i < n; i++)
                    if (!strcmp(p->choices[i], tgt)) {
                        p->gold = i;
                        break;
                    }
            if (p->gold < 0)
                rc = le_err_set(LE_EFORMAT, "doc_to_target '%s' is not a choice of the document", tgt);
        }
    } else if (in->kind == LE_TASK_LL)
        rc = target_text(y, doc, &p->target);
    else { /* generate_until: one target, or a list of them */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, y->target);
        if (cJSON_IsArray(v) || (!v && strstr(y->target, "{{") && !render_list(y->target, doc, &list) &&
                                 cJSON_GetArraySize(list) != 1)) {
            if (!list)
                list = cJSON_Duplicate(v, 1);
        } else {
            cJSON_Delete(list);
            list = NULL;
            rc = target_text(y, doc, &tgt);
            if (!rc)
                list = cJSON_CreateArray(), cJSON_AddItemToArray(list, cJSON_CreateString(tgt));
        }
        int n = rc ? 0 : cJSON_GetArraySize(list);
        if (!rc && (n < 1 || !(p->targets = calloc((size_t)n, sizeof *p->targets))))
            rc = le_err_set(n < 1 ? LE_EFORMAT : LE_ENOMEM, "doc_to_target gave no target");
        for (int i = 0; i < n && !rc; i++) {
            const cJSON *x = cJSON_GetArrayItem(list, i);
            p->targets[i] = dupstr(cJSON_IsString(x) ? x->valuestring : "");
            p->n_targets = i + 1;
        }
    }
done:
    free(tgt);
    cJSON_Delete(list);
    if (rc)
        le_prompt_clear(p);
    return rc;
}

/* ---- the schema ---- */

static const char *sval(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int truthy(const char *s) { return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1")); }

static int check_keys(const cJSON *o, const char *const *allowed, const char *where, const char *path) {
    for (const cJSON *k = o->child; k; k = k->next) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(k->string, allowed[i]);
        if (!ok)
            return le_err_set(LE_EUNSUP, "%s: unsupported key '%s'%s%s", path, k->string, where[0] ? " in " : "",
                              where);
    }
    return LE_OK;
}

static int parse_metrics(struct yaml_task *y, const cJSON *ml) {
    static const char *const keys[] = {"metric", "aggregation", "higher_is_better", "ignore_case",
                                       "ignore_punctuation", "regexes_to_ignore", NULL};
    struct le_task_info *in = &y->info;
    if (!cJSON_IsArray(ml))
        return le_err_set(LE_EFORMAT, "%s: metric_list must be a list", y->path);
    for (const cJSON *m = ml->child; m; m = m->next) {
        int rc = cJSON_IsObject(m) ? check_keys(m, keys, "metric_list", y->path)
                                   : le_err_set(LE_EFORMAT, "%s: metric_list items are mappings", y->path);
        if (rc)
            return rc;
        const char *name = sval(m, "metric"), *agg = sval(m, "aggregation");
        if (!name)
            return le_err_set(LE_EFORMAT, "%s: a metric_list item without 'metric'", y->path);
        if (agg && strcmp(agg, "mean") && strcmp(agg, "perplexity"))
            return le_err_set(LE_EUNSUP, "%s: unsupported aggregation '%s'", y->path, agg);
        if (!strcmp(name, "acc"))
            in->metrics |= in->kind == LE_TASK_LL ? LE_M_LL_ACC : LE_M_ACC;
        else if (!strcmp(name, "acc_norm"))
            in->metrics |= LE_M_ACC_NORM;
        else if (!strcmp(name, "perplexity"))
            in->metrics |= LE_M_PERPLEXITY;
        else if (!strcmp(name, "exact_match")) {
            in->metrics |= LE_M_EXACT;
            in->em.ignore_case = truthy(sval(m, "ignore_case"));
            in->em.ignore_punctuation = truthy(sval(m, "ignore_punctuation"));
            const cJSON *re = cJSON_GetObjectItemCaseSensitive(m, "regexes_to_ignore");
            for (const cJSON *r = cJSON_IsArray(re) ? re->child : NULL; r; r = r->next) {
                if (in->em.n_regexes == LE_EM_MAX_REGEXES || !cJSON_IsString(r))
                    return le_err_set(LE_EUNSUP, "%s: at most %d regexes_to_ignore strings", y->path,
                                      LE_EM_MAX_REGEXES);
                in->em.regexes_to_ignore[in->em.n_regexes++] = r->valuestring;
            }
        } else if (!(in->kind == LE_TASK_ROLLING && (!strcmp(name, "word_perplexity") ||
                                                     !strcmp(name, "byte_perplexity") ||
                                                     !strcmp(name, "bits_per_byte"))))
            return le_err_set(LE_EUNSUP, "%s: unsupported metric '%s' for %s", y->path, name,
                              sval(y->root, "output_type"));
    }
    return LE_OK;
}

static int parse_gen(struct yaml_task *y, const cJSON *g) {
    static const char *const keys[] = {"until", "max_gen_toks", "do_sample", "temperature", NULL};
    int rc = cJSON_IsObject(g) ? check_keys(g, keys, "generation_kwargs", y->path)
                               : le_err_set(LE_EFORMAT, "%s: generation_kwargs must be a mapping", y->path);
    if (rc)
        return rc;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(g, "until");
    struct le_gen_kwargs *k = &y->info.gen;
    for (const cJSON *s = cJSON_IsArray(u) ? u->child : cJSON_IsString(u) ? u : NULL; s;
         s = cJSON_IsArray(u) ? s->next : NULL) {
        if (k->n_until == 6 || !cJSON_IsString(s))
            return le_err_set(LE_EUNSUP, "%s: at most 6 'until' strings", y->path);
        k->until[k->n_until++] = s->valuestring;
    }
    const char *mg = sval(g, "max_gen_toks"), *ds = sval(g, "do_sample"), *t = sval(g, "temperature");
    if (mg)
        k->max_gen_toks = atoi(mg);
    if (truthy(ds) || (t && atof(t) != 0))
        return le_err_set(LE_EUNSUP, "%s: only greedy generation (do_sample: false, temperature: 0)", y->path);
    return LE_OK;
}

static int parse_data_files(struct yaml_task *y, const cJSON *kw) {
    static const char *const keys[] = {"data_files", NULL};
    int rc = cJSON_IsObject(kw) ? check_keys(kw, keys, "dataset_kwargs", y->path)
                                : le_err_set(LE_EFORMAT, "%s: dataset_kwargs must be a mapping", y->path);
    const cJSON *df = rc ? NULL : cJSON_GetObjectItemCaseSensitive(kw, "data_files");
    if (!rc && !cJSON_IsObject(df))
        rc = le_err_set(LE_EFORMAT, "%s: data_files must map splits to files", y->path);
    for (const cJSON *f = df ? df->child : NULL; f && !rc; f = f->next) {
        if (y->info.n_data_files == 4 || !cJSON_IsString(f))
            return le_err_set(LE_EUNSUP, "%s: data_files: at most 4 splits, one file each", y->path);
        /* A relative file is relative to the YAML's folder. */
        const char *file = f->valuestring;
        if (file[0] != '/' && strrchr(y->path, '/')) {
            char *full = NULL;
            if (asprintf(&full, "%.*s/%s", (int)(strrchr(y->path, '/') - y->path), y->path, file) < 0)
                return le_err_set(LE_ENOMEM, "out of memory");
            cJSON_SetValuestring((cJSON *)f, full);
            free(full);
        }
        y->info.data_split[y->info.n_data_files] = f->string;
        y->info.data_path[y->info.n_data_files++] = f->valuestring;
    }
    return rc;
}

static int build(struct yaml_task *y) {
    static const char *const keys[] = {
        "task", "dataset_path", "dataset_kwargs", "test_split", "validation_split", "training_split",
        "fewshot_split", "output_type", "doc_to_text", "doc_to_target", "doc_to_choice", "description",
        "target_delimiter", "fewshot_delimiter", "num_fewshot", "metric_list", "generation_kwargs", "metadata",
        NULL};
    static const char *const meta_keys[] = {"version", NULL};
    cJSON *r = y->root;
    struct le_task_info *in = &y->info;
    int rc = check_keys(r, keys, "", y->path);
    if (rc)
        return rc;
    const char *ot = sval(r, "output_type"), *dp = sval(r, "dataset_path");
    in->name = sval(r, "task");
    if (!in->name || !ot || !dp)
        return le_err_set(LE_EFORMAT, "%s: 'task', 'dataset_path' and 'output_type' are required", y->path);
    in->kind = !strcmp(ot, "multiple_choice")          ? LE_TASK_MC
               : !strcmp(ot, "loglikelihood")          ? LE_TASK_LL
               : !strcmp(ot, "loglikelihood_rolling")  ? LE_TASK_ROLLING
               : !strcmp(ot, "generate_until")         ? LE_TASK_GEN
                                                       : 0;
    if (!in->kind)
        return le_err_set(LE_EUNSUP, "%s: unsupported output_type '%s'", y->path, ot);
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(r, "dataset_kwargs");
    if (kw && (rc = parse_data_files(y, kw)))
        return rc;
    if (!kw && (!strcmp(dp, "json") || !strcmp(dp, "csv")))
        return le_err_set(LE_EFORMAT, "%s: dataset_path %s needs dataset_kwargs.data_files", y->path, dp);
    in->dataset = kw ? NULL : dp;
    in->eval_split = sval(r, "test_split") ? sval(r, "test_split") : sval(r, "validation_split");
    in->fewshot_split = sval(r, "fewshot_split") ? sval(r, "fewshot_split") : sval(r, "training_split");
    if (!in->eval_split)
        return le_err_set(LE_EFORMAT, "%s: 'test_split' or 'validation_split' is required", y->path);
    y->text = sval(r, "doc_to_text");
    y->target = sval(r, "doc_to_target");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(r, "doc_to_choice");
    if (cJSON_IsArray(ch))
        y->choice_list = ch;
    else
        y->choice_field = sval(r, "doc_to_choice");
    if ((in->kind != LE_TASK_ROLLING && !y->text) || (in->kind != LE_TASK_ROLLING && !y->target) ||
        (in->kind == LE_TASK_MC && !y->choice_list && !y->choice_field))
        return le_err_set(LE_EFORMAT, "%s: %s needs doc_to_text, doc_to_target%s", y->path, ot,
                          in->kind == LE_TASK_MC ? " and doc_to_choice" : "");
    in->target_delimiter = sval(r, "target_delimiter") ? sval(r, "target_delimiter") : " ";
    in->fewshot_delimiter = sval(r, "fewshot_delimiter");
    in->description = sval(r, "description");
    if (sval(r, "num_fewshot"))
        in->default_fewshot = atoi(sval(r, "num_fewshot"));
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(r, "metadata");
    if (md && (rc = cJSON_IsObject(md) ? check_keys(md, meta_keys, "metadata", y->path)
                                       : le_err_set(LE_EFORMAT, "%s: metadata must be a mapping", y->path)))
        return rc;
    in->version = md && sval(md, "version") ? atof(sval(md, "version")) : 0.0;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(r, "generation_kwargs");
    if (g && (rc = parse_gen(y, g)))
        return rc;
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(r, "metric_list");
    if (ml && (rc = parse_metrics(y, ml)))
        return rc;
    if (!ml) /* lm-eval's defaults per output type */
        in->metrics = in->kind == LE_TASK_MC    ? LE_M_ACC | LE_M_ACC_NORM
                      : in->kind == LE_TASK_LL  ? LE_M_PERPLEXITY | LE_M_LL_ACC
                      : in->kind == LE_TASK_GEN ? LE_M_EXACT
                                                : LE_M_ROLLING;
    if (in->kind == LE_TASK_ROLLING)
        in->metrics = LE_M_ROLLING;
    in->format_ud = yaml_format;
    in->ud = y;
    return LE_OK;
}

int le_task_yaml_load(struct le_task_info **out, const char *path) {
    *out = NULL;
    struct yaml_task *y = calloc(1, sizeof *y);
    if (!y || !(y->path = dupstr(path))) {
        free(y);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    int rc = yaml_read(path, &y->root);
    if (!rc)
        rc = build(y);
    if (rc) {
        le_task_info_free(&y->info);
        return rc;
    }
    *out = &y->info;
    return LE_OK;
}
