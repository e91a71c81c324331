/*
 * genmetrics: filters and metrics of generated text, as lm-evaluation-harness
 * 0.4.13 defines them (lm_eval/filters/extraction.py RegexFilter and
 * WhitespaceFilter, lm_eval/filters/selection.py TakeFirstFilter and
 * MajorityVoteFilter, lm_eval/api/metrics.py exact_match_hf_evaluate).
 *
 * Regular expressions are compiled with PCRE2 in UTF + UCP mode: Python 3's
 * re on str patterns is Unicode-aware for \w \b \s, '.' stops at '\n', '$'
 * also matches before a final newline, and alternation is leftmost-first --
 * PCRE2's defaults in that mode. re.findall is reproduced as Python runs it:
 * successive non-overlapping matches, an empty match advancing by one
 * character; with groups, group 1 (one group) or the tuple of groups (more).
 *
 * Workload: a few regexes per generated answer of tens of tokens; patterns
 * are compiled per call (microseconds against a forward pass per token).
 */
#include "le_tasks.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h> /* pcre2_compile, pcre2_match, pcre2_substitute */

#include <stdlib.h>
#include <string.h>

#include "le_err.h" /* le_err_set */

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int compile(const char *pattern, pcre2_code **out) {
    int err;
    PCRE2_SIZE off;
    *out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (*out)
        return LE_OK;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return le_err_set(LE_EINVAL, "regular expression '%s' at offset %zu: %s", pattern, (size_t)off, (char *)msg);
}

/* Python's str.strip() on the ASCII whitespace set and U+00A0/U+3000 (the
 * non-ASCII ones that occur in answers). */
static int lead_space(const char *s, size_t n, size_t i, size_t *len) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) {
        *len = 1;
        return 1;
    }
    if (c == 0xc2 && i + 1 < n && ((unsigned char)s[i + 1] == 0xa0 || (unsigned char)s[i + 1] == 0x85)) {
        *len = 2;
        return 1;
    }
    if (c == 0xe3 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 && (unsigned char)s[i + 2] == 0x80) {
        *len = 3;
        return 1;
    }
    return 0;
}

static char *py_strip(const char *s, size_t n) {
    size_t a = 0, k;
    while (a < n && lead_space(s, n, a, &k))
        a += k;
    size_t b = n;
    for (;;) { /* trailing: test each character start from the end */
        size_t j = b, found = 0;
        for (size_t back = 1; back <= 3 && back <= b - a; back++)
            if (lead_space(s, n, b - back, &k) && k == back) {
                j = b - back;
                found = 1;
                break;
            }
        if (!found)
            break;
        b = j;
    }
    return dupn(s + a, b - a);
}

int le_regex_extract(const char *pattern, int group_select, const char *fallback, const char *s, char **out) {
    *out = NULL;
    if (!fallback)
        fallback = "[invalid]";
    pcre2_code *re;
    int rc = compile(pattern, &re);
    if (rc)
        return rc;
    uint32_t ngroups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t n = strlen(s), at = 0;
    /* findall's items as (start, end) of the chosen text; for tuples, the
     * first non-empty group (RegexFilter's [m for m in match if m][0]). */
    size_t cap = 16, cnt = 0;
    size_t(*items)[2] = malloc(cap * sizeof *items);
    int *valid = malloc(cap * sizeof *valid);
    if (!md || !items || !valid) {
        rc = le_err_set(LE_ENOMEM, "out of memory");
        goto done;
    }
    while (at <= n) {
        int m = pcre2_match(re, (PCRE2_SPTR)s, n, at, 0, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0) {
            rc = le_err_set(LE_EINVAL, "regular expression '%s' failed on its input (%d)", pattern, m);
            goto done;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (cnt == cap) {
            cap *= 2;
            void *ni = realloc(items, cap * sizeof *items), *nv = realloc(valid, cap * sizeof *valid);
            if (ni)
                items = ni;
            if (nv)
                valid = nv;
            if (!ni || !nv) {
                rc = le_err_set(LE_ENOMEM, "out of memory");
                goto done;
            }
        }
        size_t a = ov[0], b = ov[1];
        int ok = 1;
        if (ngroups == 1) {
            a = ov[2];
            b = ov[3];
            if (a == PCRE2_UNSET)
                a = b = 0; /* a group that did not take part is "" */
        } else if (ngroups > 1) {
            ok = 0;
            for (uint32_t g = 1; g <= ngroups && !ok; g++)
                if (ov[2 * g] != PCRE2_UNSET && ov[2 * g + 1] > ov[2 * g]) {
                    a = ov[2 * g];
                    b = ov[2 * g + 1];
                    ok = 1;
                }
        }
        items[cnt][0] = a;
        items[cnt][1] = b;
        valid[cnt++] = ok;
        if (ov[1] > ov[0])
            at = ov[1];
        else { /* an empty match: step over one character */
            at = ov[1] + 1;
            while (at < n && ((unsigned char)s[at] & 0xc0) == 0x80)
                at++;
        }
    }
    long idx = group_select < 0 ? (long)cnt + group_select : group_select;
    if (cnt == 0)
        *out = dupn(fallback, strlen(fallback));
    else if (idx < 0 || idx >= (long)cnt) {
        rc = le_err_set(LE_EINVAL, "regex filter: group_select %d out of range for %zu matches (IndexError)",
                        group_select, cnt);
        goto done;
    } else if (!valid[idx])
        *out = dupn(fallback, strlen(fallback));
    else
        *out = py_strip(s + items[idx][0], items[idx][1] - items[idx][0]);
    if (!*out)
        rc = le_err_set(LE_ENOMEM, "out of memory");
done:
    free(items);
    free(valid);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc;
}

int le_regex_remove(const char *pattern, const char *s, char **out) {
    *out = NULL;
    pcre2_code *re;
    int rc = compile(pattern, &re);
    if (rc)
        return rc;
    size_t n = strlen(s);
    PCRE2_SIZE olen = n + 1;
    char *buf = malloc(olen);
    int m = buf ? pcre2_substitute(re, (PCRE2_SPTR)s, n, 0, PCRE2_SUBSTITUTE_GLOBAL, NULL, NULL,
                                   (PCRE2_SPTR) "", 0, (PCRE2_UCHAR *)buf, &olen)
                : PCRE2_ERROR_NOMEMORY;
    pcre2_code_free(re);
    if (m < 0) {
        free(buf);
        return m == PCRE2_ERROR_NOMEMORY ? le_err_set(LE_ENOMEM, "out of memory")
                                         : le_err_set(LE_EINVAL, "re.sub('%s') failed (%d)", pattern, m);
    }
    *out = buf;
    return LE_OK;
}

/* ---- filters ---- */

static void strs_free(char **v, int n) {
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int le_filter_apply(const struct le_filter *f, const char *const *resps, int n, char **out) {
    *out = NULL;
    if (n < 1)
        return le_err_set(LE_EINVAL, "filter %s: no responses", f->name ? f->name : "none");
    char **cur = calloc((size_t)n, sizeof *cur);
    int m = n, rc = cur ? LE_OK : le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++)
        if (!(cur[i] = dupn(resps[i], strlen(resps[i]))))
            rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int s = 0; s < f->n_steps && !rc; s++) {
        const struct le_filter_step *st = &f->steps[s];
        switch (st->kind) {
        case LE_F_REGEX:
            for (int i = 0; i < m && !rc; i++) {
                char *x;
                rc = le_regex_extract(st->pattern, st->group_select, st->fallback, cur[i], &x);
                if (!rc) {
                    free(cur[i]);
                    cur[i] = x;
                }
            }
            break;
        case LE_F_REMOVE_WS:
            for (int i = 0; i < m && !rc; i++) {
                char *x = py_strip(cur[i], strlen(cur[i]));
                if (!x)
                    rc = le_err_set(LE_ENOMEM, "out of memory");
                else {
                    free(cur[i]);
                    cur[i] = x;
                }
            }
            break;
        case LE_F_TAKE_FIRST:
            for (int i = 1; i < m; i++)
                free(cur[i]);
            m = 1;
            break;
        case LE_F_MAJORITY: { /* Counter.most_common(1): ties go to the first seen */
            int best = 0, best_n = 0;
            for (int i = 0; i < m; i++) {
                int c = 0, first = 1;
                for (int j = 0; j < m; j++)
                    if (!strcmp(cur[i], cur[j])) {
                        c++;
                        if (j < i)
                            first = 0;
                    }
                if (first && c > best_n) {
                    best = i;
                    best_n = c;
                }
            }
            char *keep = cur[best];
            for (int i = 0; i < m; i++)
                if (i != best)
                    free(cur[i]);
            cur[0] = keep;
            m = 1;
            break;
        }
        default: rc = le_err_set(LE_EINVAL, "filter %s: unknown step %d", f->name, st->kind);
        }
    }
    if (rc) {
        strs_free(cur, m);
        return rc;
    }
    *out = cur[0];
    for (int i = 1; i < m; i++)
        free(cur[i]);
    free(cur);
    return LE_OK;
}

/* ---- exact match ---- */

/* Lower-cases one code point as str.lower() does in the common scripts. */
static uint32_t lower_cp(uint32_t c) {
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3ab && c != 0x3a2) ||
        (c >= 0x410 && c <= 0x42f))
        return c + 32;
    if (c >= 0x400 && c <= 0x40f)
        return c + 80;
    if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x138 && c != 0x149 && c != 0x178 && c != 0x17f) {
        int odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
        if (odd_upper ? (c & 1) : !(c & 1))
            return c + 1;
    }
    if (c == 0x178)
        return 0xff;
    return c;
}

static size_t put_utf8(char *o, uint32_t c) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

static const char py_punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/* In place: lower-case and/or drop punctuation/digits (never grows). */
static void em_normalise(char *s, const struct le_em_opts *o) {
    char *w = s;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t c = *p;
        size_t k = 1;
        if (c >= 0xc0 && c < 0xe0 && (p[1] & 0xc0) == 0x80) {
            c = ((c & 0x1f) << 6) | (p[1] & 0x3f);
            k = 2;
        } else if (c >= 0xe0 && c < 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
            c = ((c & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
            k = 3;
        }
        p += k;
        if (o->ignore_case) {
            uint32_t l = lower_cp(c);
            if (l != c) {
                char tmp[4];
                size_t lk = put_utf8(tmp, l);
                if (lk == k) { /* every mapping above keeps the byte length */
                    memcpy(w, tmp, lk);
                    w += lk;
                    continue;
                }
            }
        }
        if (o->ignore_punctuation && c < 0x80 && c && strchr(py_punct, (int)c))
            continue;
        if (o->ignore_numbers && c >= '0' && c <= '9')
            continue;
        memmove(w, p - k, k);
        w += k;
    }
    *w = 0;
}

static int em_prepare(const char *s, const struct le_em_opts *o, char **out) {
    char *cur = dupn(s, strlen(s));
    if (!cur)
        return le_err_set(LE_ENOMEM, "out of memory");
    for (int i = 0; i < o->n_regexes; i++) {
        char *x;
        int rc = le_regex_remove(o->regexes_to_ignore[i], cur, &x);
        free(cur);
        if (rc)
            return rc;
        cur = x;
    }
    em_normalise(cur, o);
    *out = cur;
    return LE_OK;
}

int le_exact_match(const char *pred, const char *const *golds, int n_golds, const struct le_em_opts *o,
                   double *score) {
    static const struct le_em_opts none = {0};
    if (!o)
        o = &none;
    *score = 0.0;
    char *p = NULL;
    int rc = em_prepare(pred, o, &p);
    for (int i = 0; i < n_golds && !rc && *score == 0.0; i++) {
        char *g;
        rc = em_prepare(golds[i], o, &g);
        if (!rc && !strcmp(p, g))
            *score = 1.0;
        if (!rc)
            free(g);
    }
    free(p);
    return rc;
}

char *le_squad_normalize(const char *s) {
    struct le_em_opts o = {.ignore_case = 1, .ignore_punctuation = 1};
    char *t = dupn(s, strlen(s)), *x = NULL;
    if (!t)
        return NULL;
    em_normalise(t, &o);
    if (le_regex_remove("\\b(a|an|the)\\b", t, &x)) {
        free(t);
        return NULL;
    }
    free(t);
    /* ' '.join(text.split()) */
    char *w = x;
    int need_space = 0;
    for (const char *p = x; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f))
            need_space = w != x;
        else {
            if (need_space)
                *w++ = ' ';
            need_space = 0;
            *w++ = (char)c;
        }
    }
    *w = 0;
    return x;
}
