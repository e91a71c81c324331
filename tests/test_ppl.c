/*
 * test_ppl: the perplexity conventions (tasks/le_ppl.h) against independent
 * computations written out here from their references.
 *
 * On a generated random model and a short text, each convention equals a
 * naive computation in this file: its own window list, every window
 * evaluated whole from position 0 with le_ctx_eval on a separate context,
 * log-softmax in double, and the reference's formula written out (GPTQ's
 * llama_eval, the HF guide's strided loop, lm-eval's rolling windows and
 * wikitext metrics, llama-perplexity's chunks) -- to 1e-9 relative.
 * hf-stride with stride = window equals plain disjoint windows; every
 * convention gives bit-identical numbers with 1 and 2 threads. The text
 * helpers (lm-eval's wikitext detokenizer, HF datasets' wikitext rows) equal
 * outputs printed by Python running the reference code. The command line:
 * each convention prints what the library computes, records its convention
 * in the store, and rejects options that do not apply.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_err.h"
#include "le_genmodel.h"
#include "le_model.h"
#include "le_pool.h"
#include "le_ppl.h"
#include "le_store.h"
#include "le_tasks.h"
#include "le_test.h"
#include "le_tok.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* access */

#define REF_CTX 160 /* the reference context: the longest window + 1 */

static const char *const le_sentences[] = {
    "The committee met on Tuesday to discuss the new budget for the county schools.",
    "Several members said that the plan would raise taxes for the third time in five years.",
    "In the evening the wind turned cold, and the children ran home across the wet fields.",
    "He had never seen the ocean before, and he stood for a long time at the edge of the water.",
    "The report, which was printed in the morning paper, named four of the men who were there.",
    "She thought the music was too loud, but nobody else in the room seemed to mind it at all.",
};

struct fixture {
    char *dir, path[512], text_path[512];
    struct le_model *m;
    struct le_pool *pool2;
    struct le_ctx *ref; /* the naive path's own context */
    int64_t n_vocab;
    int32_t bos;
    char *text; /* a few paragraphs, ending with a newline */
};

static char *make_text(int n_sent) {
    size_t cap = 16384, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    for (int i = 0; i < n_sent; i++) {
        const char *s = le_sentences[(i * 5 + i / 6) % 6];
        n += (size_t)snprintf(t + n, cap - n, "%s%s", s, i % 4 == 3 ? "\n" : " ");
        assert_true(n < cap);
    }
    t[n - 1] = '\n';
    return t;
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = le_test_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/gen.gguf", f->dir);
    snprintf(f->text_path, sizeof f->text_path, "%s/text.txt", f->dir);
    struct le_genmodel_cfg cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn = 64,
                                  .n_vocab = 512, .n_ctx = 256, .seed = 23};
    f->text = make_text(24);
    if (le_genmodel_write(f->path, &cfg) || le_model_open(&f->m, f->path) || le_pool_new(&f->pool2, 2) ||
        le_ctx_new(&f->ref, f->m, REF_CTX, REF_CTX, NULL) ||
        le_test_write_file(f->text_path, f->text, strlen(f->text))) {
        fprintf(stderr, "setup: %s\n", le_err_msg());
        return -1;
    }
    f->n_vocab = le_model_get_info(f->m)->n_vocab;
    f->bos = le_tok_bos(le_model_tok(f->m));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    le_ctx_free(f->ref);
    le_model_free(f->m);
    le_pool_free(f->pool2);
    le_test_rmdir(f->dir);
    free(f->dir);
    free(f->text);
    free(f);
    return 0;
}

static int64_t tokenize(const struct fixture *f, const char *s, size_t len, int bos, int32_t **out) {
    int64_t cap = (int64_t)len + 8, n = 0;
    *out = malloc((size_t)cap * sizeof **out);
    assert_non_null(*out);
    assert_int_equal(le_tok_encode(le_model_tok(f->m), s, len, bos, *out, cap, &n), 0);
    assert_true(n <= cap);
    return n;
}

/* lp[j] = log p(tok[b+j+1] | tok[b..b+j]) for j < e-b-1: the window
 * tok[b, e) evaluated whole from position 0, log-softmax in double. */
static void ref_window(struct fixture *f, const int32_t *tok, int64_t b, int64_t e, double *lp) {
    int wl = (int)(e - b);
    assert_true(wl >= 1 && wl <= REF_CTX);
    assert_int_equal(le_ctx_eval(f->ref, tok + b, wl, 0, 1), 0);
    const float *lg = le_ctx_logits(f->ref);
    for (int j = 0; j + 1 < wl; j++) {
        const float *row = lg + (int64_t)j * f->n_vocab;
        double mx = row[0], z = 0;
        for (int64_t v = 1; v < f->n_vocab; v++)
            mx = row[v] > mx ? row[v] : mx;
        for (int64_t v = 0; v < f->n_vocab; v++)
            z += exp((double)row[v] - mx);
        lp[j] = (double)row[tok[b + j + 1]] - mx - log(z);
    }
}

static void assert_rel(double got, double want, double tol, const char *what) {
    double rel = fabs(got - want) / fabs(want);
    if (!(rel <= tol)) {
        print_message("%s: got %.17g, want %.17g (rel %.3g > %.3g)\n", what, got, want, rel, tol);
        fail();
    }
}

static struct le_runner *runner(struct fixture *f, int n_ctx, int n_batch, struct le_pool *pool) {
    struct le_runner *r = NULL;
    struct le_runner_opts o = {.n_ctx = n_ctx, .n_batch = n_batch, .add_bos = -1};
    assert_int_equal(le_runner_new(&r, f->m, pool, &o), 0);
    return r;
}

/* ---- gptq ---- */

/* llama.py's llama_eval written out: nlls.append(loss * seqlen);
 * ppl = exp(sum(nlls) / (nsamples * seqlen)). */
static double ref_gptq(struct fixture *f, const int32_t *tok, int64_t n, int L) {
    int64_t ns = n / L;
    double nll_sum = 0, lp[REF_CTX];
    for (int64_t i = 0; i < ns; i++) {
        ref_window(f, tok, i * L, (i + 1) * L, lp);
        double s = 0;
        for (int j = 0; j < L - 1; j++)
            s -= lp[j];
        nll_sum += s / (L - 1) * L;
    }
    return exp(nll_sum / (double)(ns * L));
}

static void gptq_should_equal_llama_py(void **state) {
    struct fixture *f = *state;
    int32_t *tok;
    int64_t n = tokenize(f, f->text, strlen(f->text), 1, &tok);
    assert_int_equal(tok[0], f->bos); /* one BOS, at the start */
    const int L = 64;
    assert_true(n > 4 * L && n % L != 0); /* several windows and an unused tail */
    struct le_runner *r = runner(f, L, 24, NULL);
    struct le_ppl_result res;
    assert_int_equal(le_ppl_gptq(r, tok, n, L, NULL, NULL, &res), 0);
    assert_rel(res.ppl, ref_gptq(f, tok, n, L), 1e-9, "gptq ppl");
    assert_int_equal(res.n_chunks, n / L);
    assert_int_equal(res.n_denom, (n / L) * L);
    assert_int_equal(res.n_scored, (n / L) * (L - 1));
    assert_true(isnan(res.ppl_stderr));
    /* too short a text, too long a window: clear errors */
    assert_int_equal(le_ppl_gptq(r, tok, L - 1, L, NULL, NULL, &res), LE_EINVAL);
    assert_int_equal(le_ppl_gptq(r, tok, n, 2 * L, NULL, NULL, &res), LE_EINVAL);
    le_runner_free(r);
    free(tok);
}

/* ---- hf-stride ---- */

/* The guide's loop written out, labels and all. */
static double ref_hf(struct fixture *f, const int32_t *tok, int64_t n, int W, int S, int64_t *n_tokens_out) {
    double nll_sum = 0, lp[REF_CTX];
    int64_t n_tokens = 0, prev_end = 0;
    for (int64_t begin = 0; begin < n; begin += S) {
        int64_t end = begin + W < n ? begin + W : n, trg_len = end - prev_end;
        ref_window(f, tok, begin, end, lp);
        /* target_ids[:, :-trg_len] = -100; the model shifts labels left by one */
        double s = 0;
        int64_t cnt = 0, num_valid = 0;
        for (int64_t p = begin; p < end; p++) {
            int valid = p >= end - trg_len;
            num_valid += valid;
            if (valid && p > begin) {
                s -= lp[p - begin - 1];
                cnt++;
            }
        }
        int64_t num_loss_tokens = num_valid - 1; /* batch_size 1 */
        if (cnt > 0)
            nll_sum += s / (double)cnt * (double)num_loss_tokens;
        n_tokens += num_loss_tokens;
        prev_end = end;
        if (end == n)
            break;
    }
    *n_tokens_out = n_tokens;
    return exp(nll_sum / (double)n_tokens);
}

/* Disjoint windows of W: every token but each window's first, one mean. */
static double ref_disjoint(struct fixture *f, const int32_t *tok, int64_t n, int W) {
    double s = 0, lp[REF_CTX];
    int64_t cnt = 0;
    for (int64_t b = 0; b < n; b += W) {
        int64_t e = b + W < n ? b + W : n;
        ref_window(f, tok, b, e, lp);
        for (int64_t j = 0; j + 1 < e - b; j++, cnt++)
            s -= lp[j];
    }
    return exp(s / (double)cnt);
}

static void hf_stride_should_equal_the_guide(void **state) {
    struct fixture *f = *state;
    int32_t *tok;
    int64_t n = tokenize(f, f->text, strlen(f->text), 1, &tok), want_n;
    static const int cases[][2] = {{48, 20}, {48, 47}, {40, 1}, {37, 12}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int W = cases[k][0], S = cases[k][1];
        int64_t m = S == 1 ? 120 : n; /* stride 1: one window per token, keep it short */
        struct le_runner *r = runner(f, W, 16, NULL);
        struct le_ppl_result res;
        assert_int_equal(le_ppl_hf_stride(r, tok, m, W, S, NULL, NULL, &res), 0);
        double want = ref_hf(f, tok, m, W, S, &want_n);
        print_message("hf-stride W=%d S=%d: PPL %.6f over %lld tokens, %d windows\n", W, S, res.ppl,
                      (long long)res.n_denom, res.n_chunks);
        assert_rel(res.ppl, want, 1e-9, "hf-stride ppl");
        assert_int_equal(res.n_denom, want_n);
        le_runner_free(r);
    }
    /* stride = window: the plain disjoint-window perplexity */
    for (int W = 30; W <= 33; W++) {
        struct le_runner *r = runner(f, W, 64, NULL);
        struct le_ppl_result res;
        assert_int_equal(le_ppl_hf_stride(r, tok, n, W, W, NULL, NULL, &res), 0);
        assert_rel(res.ppl, ref_disjoint(f, tok, n, W), 1e-9, "hf-stride S=W vs disjoint");
        le_runner_free(r);
    }
    struct le_runner *r = runner(f, 32, 32, NULL);
    struct le_ppl_result res;
    assert_int_equal(le_ppl_hf_stride(r, tok, n, 32, 33, NULL, NULL, &res), LE_EINVAL); /* S > W */
    assert_int_equal(le_ppl_hf_stride(r, tok, n, 64, 16, NULL, NULL, &res), LE_EINVAL); /* W > runner */
    assert_int_equal(le_ppl_hf_stride(r, tok, 1, 32, 16, NULL, NULL, &res), LE_EINVAL);
    le_runner_free(r);
    free(tok);
}

/* ---- lmeval ---- */

/* len(re.split(r"\s+", s)) for ASCII text. */
static int64_t py_words(const char *s) {
    int64_t n = 1;
    for (const char *p = s; *p;) {
        if (strchr(" \t\n\r\f\v", *p)) {
            n++;
            while (*p && strchr(" \t\n\r\f\v", *p))
                p++;
        } else
            p++;
    }
    return n;
}

/* lm-eval's loglikelihood_rolling: get_rolling_token_windows(t, BOS, W, 1)
 * + make_disjoint_window, each scored as _loglikelihood_tokens scores. */
static double ref_rolling(struct fixture *f, const char *doc, int W, int64_t *ntok) {
    int32_t *t, buf[REF_CTX + 1];
    int64_t n = tokenize(f, doc, strlen(doc), 0, &t);
    double ll = 0, lp[REF_CTX];
    *ntok = n;
    if (n > 0) {
        int64_t first = n < W ? n : W;
        buf[0] = f->bos;
        memcpy(buf + 1, t, (size_t)first * sizeof *t);
        ref_window(f, buf, 0, first + 1, lp);
        for (int64_t j = 0; j < first; j++)
            ll += lp[j];
        for (int64_t predicted = first; predicted < n;) {
            int64_t wpl = n - predicted < W ? n - predicted : W, we = predicted + wpl;
            /* (ctx + cont)[-(W+1):][:-1] = t[we-W-1 : we-1]; the last wpl rows score */
            ref_window(f, t, we - W - 1, we, lp);
            for (int64_t j = W - wpl; j < W; j++)
                ll += lp[j];
            predicted += wpl;
        }
    }
    free(t);
    return ll;
}

static void lmeval_should_equal_lm_eval_wikitext(void **state) {
    struct fixture *f = *state;
    const int W = 32;
    char *detok = NULL;
    size_t dl;
    const char *page = " = Robert Boulter = \n Robert Boulter is an English film , television and theatre actor . "
                       "He had a guest @-@ starring role on the television series The Bill in 2000 . \n";
    assert_int_equal(le_ppl_wikitext_detok(page, strlen(page), &detok, &dl), 0);
    const char *docs[3] = {f->text, "Short one.", detok}, *counted[3] = {NULL, NULL, page};
    struct le_runner *r = runner(f, W, 16, NULL);
    struct le_rec recs[3];
    struct le_ppl_lmeval_result res;
    assert_int_equal(le_ppl_lmeval(r, docs, counted, 3, NULL, NULL, NULL, recs, &res), 0);
    double L = 0;
    int64_t T = 0, Wd = 0, B = 0;
    for (int d = 0; d < 3; d++) {
        int64_t nt;
        double ll = ref_rolling(f, docs[d], W, &nt);
        const char *c = counted[d] ? counted[d] : docs[d];
        assert_rel(recs[d].ll, ll, 1e-9, "document log-likelihood");
        assert_int_equal(recs[d].ntok, nt);
        assert_int_equal(recs[d].nwords, py_words(c));
        assert_int_equal(recs[d].nbytes, (int64_t)strlen(c));
        L += ll;
        T += nt;
        Wd += py_words(c);
        B += (int64_t)strlen(c);
    }
    assert_true(T > 4 * W); /* the long document spans several windows */
    assert_int_equal(py_words(page), 34); /* Python: len(re.split(r"\s+", page)) */
    assert_int_equal(strlen(page), 167);
    assert_int_equal(res.n_words, Wd);
    assert_int_equal(res.n_bytes, B);
    assert_int_equal(res.n_tokens, T);
    assert_int_equal(res.n_docs, 3);
    assert_rel(res.word_perplexity, exp(-L / (double)Wd), 1e-9, "word_perplexity");
    assert_rel(res.byte_perplexity, exp(-L / (double)B), 1e-9, "byte_perplexity");
    assert_rel(res.bits_per_byte, -L / (double)B / log(2.0), 1e-9, "bits_per_byte");
    assert_rel(res.token_perplexity, exp(-L / (double)T), 1e-9, "token_perplexity");
    assert_true(res.word_perplexity_stderr > 0 && res.bits_per_byte_stderr > 0);
    le_runner_free(r);
    free(detok);
}

/* ---- llamacpp ---- */

static void llamacpp_should_equal_llama_perplexity(void **state) {
    struct fixture *f = *state;
    size_t len = strlen(f->text) - 1; /* one trailing newline dropped */
    int32_t *tok;
    int64_t n = tokenize(f, f->text, len, 1, &tok);
    const int ctx = 40;
    struct le_ctx *c;
    assert_int_equal(le_ctx_new(&c, f->m, ctx, 16, NULL), 0);
    struct le_ppl_result res;
    assert_int_equal(le_ppl_llamacpp(c, tok, n, ctx, f->bos, NULL, NULL, &res), 0);
    double s = 0, ss = 0, lp[REF_CTX];
    int64_t cnt = 0;
    int32_t chunk[REF_CTX];
    for (int64_t i = 0; i < n / ctx; i++) {
        memcpy(chunk, tok + i * ctx, (size_t)ctx * sizeof *chunk);
        chunk[0] = f->bos;
        ref_window(f, chunk, 0, ctx, lp);
        for (int j = ctx / 2; j <= ctx - 2; j++, cnt++) {
            s -= lp[j];
            ss += lp[j] * lp[j];
        }
    }
    double mean = s / (double)cnt, ppl = exp(mean);
    double err = ppl * sqrt((ss / (double)cnt - mean * mean) / (double)(cnt - 1));
    assert_int_equal(res.n_scored, cnt);
    assert_int_equal(res.n_chunks, n / ctx);
    assert_rel(res.ppl, ppl, 1e-9, "llamacpp ppl");
    assert_rel(res.ppl_stderr, err, 1e-7, "llamacpp stderr");
    le_ctx_free(c);
    free(tok);
}

/* ---- threads ---- */

struct all_results {
    struct le_ppl_result g, h, l;
    struct le_ppl_lmeval_result e;
};

static void run_all(struct fixture *f, struct le_pool *pool, int batch, struct all_results *a) {
    int32_t *tok;
    int64_t n = tokenize(f, f->text, strlen(f->text), 1, &tok);
    memset(a, 0, sizeof *a);
    struct le_runner *r = runner(f, 48, batch, pool);
    assert_int_equal(le_ppl_gptq(r, tok, n, 48, NULL, NULL, &a->g), 0);
    assert_int_equal(le_ppl_hf_stride(r, tok, n, 48, 20, NULL, NULL, &a->h), 0);
    const char *docs[2] = {f->text, "Another short document."};
    assert_int_equal(le_ppl_lmeval(r, docs, NULL, 2, NULL, NULL, NULL, NULL, &a->e), 0);
    le_runner_free(r);
    struct le_ctx *c;
    assert_int_equal(le_ctx_new(&c, f->m, 48, batch, pool), 0);
    assert_int_equal(le_ppl_llamacpp(c, tok, n, 48, f->bos, NULL, NULL, &a->l), 0);
    le_ctx_free(c);
    free(tok);
}

static void results_should_not_depend_on_threads_or_batch(void **state) {
    struct fixture *f = *state;
    struct all_results one, two, b7;
    run_all(f, NULL, 48, &one);
    run_all(f, f->pool2, 48, &two);
    assert_memory_equal(&one, &two, sizeof one); /* bit-identical */
    run_all(f, f->pool2, 7, &b7);
    assert_rel(b7.g.ppl, one.g.ppl, 1e-12, "gptq, batch 7");
    assert_rel(b7.h.ppl, one.h.ppl, 1e-12, "hf-stride, batch 7");
    assert_rel(b7.e.word_perplexity, one.e.word_perplexity, 1e-12, "lmeval, batch 7");
    assert_rel(b7.l.ppl, one.l.ppl, 1e-12, "llamacpp, batch 7");
}

/* ---- texts ---- */

static void wikitext_detok_should_match_lm_eval(void **state) {
    (void)state;
    /* outputs of lm-eval's preprocess_wikitext.wikitext_detokenizer in Python */
    static const char *const cases[][2] = {
        {" = Robert Boulter = \n Robert Boulter is an English film , television and theatre actor . He had a "
         "guest @-@ starring role on the television series The Bill in 2000 . \n",
         " = Robert Boulter =\nRobert Boulter is an English film, television and theatre actor. He had a "
         "guest-starring role on the television series The Bill in 2000.\n"},
        {"The ( big ) dog 's bone [ 1 @,@ 000 ] costs 3 @.@ 5 N dollars ; \" quoted \" and ' single ' { braces } "
         ": 30 \xc2\xb0 ! ? \n = = Career = = \n",
         "The (big) dog's bone [1,000] costs 3.5 1 dollars; \"quoted\" and' single ' {braces}: 30 \xc2\xb0!?\n"
         "== Career ==\n"},
        {"( \xc2\xa0inner\xe3\x80\x80 ) s ' /' 5/ x\n = = = = Deep = = = = \n", "(inner) s'/'[0-9]/ x\n==== Deep ====\n"},
        {"", ""},
        {"( unclosed [ also \" one", "( unclosed [ also \" one"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        size_t n;
        assert_int_equal(le_ppl_wikitext_detok(cases[i][0], strlen(cases[i][0]), &out, &n), 0);
        assert_string_equal(out, cases[i][1]);
        assert_int_equal(n, strlen(cases[i][1]));
        free(out);
    }
}

static void hf_rows_should_match_datasets_wikitext(void **state) {
    (void)state;
    /* Python: [r if r.strip() else "" for r in io.StringIO(s, newline=None)] */
    const char *s = " \n = A = \n\n Text line .\r\n \t\n last";
    static const char *const want[] = {"", " = A = \n", "", " Text line .\n", "", " last"};
    char **rows, *joined;
    int64_t n;
    size_t jl;
    assert_int_equal(le_ppl_hf_rows(s, strlen(s), &rows, &n), 0);
    assert_int_equal(n, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(rows[i], want[i]);
    assert_int_equal(le_ppl_join((const char *const *)rows, n, "\n\n", &joined, &jl), 0);
    assert_string_equal(joined, "\n\n = A = \n\n\n\n\n Text line .\n\n\n\n\n last");
    assert_int_equal(jl, strlen(joined));
    free(joined);
    le_ppl_strings_free(rows, n);
    assert_int_equal(le_ppl_hf_rows("", 0, &rows, &n), 0);
    assert_int_equal(n, 0);
    le_ppl_strings_free(rows, n);
}

/* ---- the command line ---- */

static double parse_after(const char *out, const char *key) {
    const char *p = out ? strstr(out, key) : NULL;
    double v = NAN;
    if (!p || sscanf(p + strlen(key), "%lf", &v) != 1)
        print_message("'%s' not found in:\n%s\n", key, out ? out : "(null)");
    return v;
}

static void cli_should_print_and_record_each_convention(void **state) {
    struct fixture *f = *state;
    char *out = NULL;
    char db[600];
    snprintf(db, sizeof db, "%s/r.sqlite", f->dir);
    /* llamacpp: the default, its output as before */
    assert_int_equal(le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' --ctx 40 --threads 1 --quiet --db '%s'",
                                le_test_bin(), f->path, f->text_path, db), 0);
    int32_t *tok;
    int64_t n = tokenize(f, f->text, strlen(f->text) - 1, 1, &tok);
    struct le_ctx *c;
    struct le_ppl_result r;
    assert_int_equal(le_ctx_new(&c, f->m, 40, 40, NULL), 0);
    assert_int_equal(le_ppl_llamacpp(c, tok, n, 40, f->bos, NULL, NULL, &r), 0);
    le_ctx_free(c);
    free(tok);
    assert_non_null(strstr(out, "Final estimate: PPL = "));
    assert_true(fabs(parse_after(out, "Final estimate: PPL = ") - r.ppl) < 6e-5);
    free(out);
    /* gptq and hf-stride: the whole file as one document, BOS first */
    n = tokenize(f, f->text, strlen(f->text), 1, &tok);
    struct le_runner *rn = runner(f, 48, 48, NULL);
    assert_int_equal(le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' --convention gptq --ctx 48 --quiet --db '%s'",
                                le_test_bin(), f->path, f->text_path, db), 0);
    assert_int_equal(le_ppl_gptq(rn, tok, n, 48, NULL, NULL, &r), 0);
    assert_true(fabs(parse_after(out, "Final estimate (gptq, seqlen 48): PPL = ") - r.ppl) < 6e-5);
    assert_true(parse_after(out, " over ") == (double)r.n_denom);
    free(out);
    assert_int_equal(le_test_sh(&out,
                                "'%s' ppl --model '%s' --file '%s' --convention hf-stride --ctx 48 --stride 20 "
                                "--quiet --db '%s'",
                                le_test_bin(), f->path, f->text_path, db), 0);
    assert_int_equal(le_ppl_hf_stride(rn, tok, n, 48, 20, NULL, NULL, &r), 0);
    assert_true(fabs(parse_after(out, "stride 20): PPL = ") - r.ppl) < 6e-5);
    assert_true(parse_after(out, " over ") == (double)r.n_denom);
    free(out);
    free(tok);
    /* lmeval on HF's rows of the file */
    char **rows;
    int64_t nr;
    assert_int_equal(le_ppl_hf_rows(f->text, strlen(f->text), &rows, &nr), 0);
    struct le_ppl_lmeval_result e;
    assert_int_equal(le_ppl_lmeval(rn, (const char *const *)rows, NULL, nr, NULL, NULL, NULL, NULL, &e), 0);
    le_ppl_strings_free(rows, nr);
    le_runner_free(rn);
    assert_int_equal(le_test_sh(&out,
                                "'%s' ppl --model '%s' --file '%s' --convention lmeval --docs lines --ctx 48 "
                                "--quiet --db '%s'",
                                le_test_bin(), f->path, f->text_path, db), 0);
    assert_true(fabs(parse_after(out, "word_perplexity  = ") - e.word_perplexity) < 6e-5 * e.word_perplexity);
    assert_true(fabs(parse_after(out, "bits_per_byte    = ") - e.bits_per_byte) < 6e-7);
    free(out);
    /* the store: every convention in its cell's config */
    assert_int_equal(le_test_sh(&out, "'%s' db export --db '%s' --format csv", le_test_bin(), db), 0);
    assert_non_null(strstr(out, "\"\"convention\"\":\"\"llamacpp\"\",\"\"ctx\"\":40,\"\"kv\"\":\"\"f32\"\""));
    assert_non_null(strstr(out, "\"\"convention\"\":\"\"gptq\"\",\"\"ctx\"\":48,\"\"docs\"\":\"\"file\"\""));
    assert_non_null(strstr(out, "\"\"convention\"\":\"\"hf-stride\"\",\"\"ctx\"\":48,\"\"docs\"\":\"\"file\"\""));
    assert_non_null(strstr(out, "\"\"stride\"\":20"));
    assert_non_null(strstr(out, "\"\"convention\"\":\"\"lmeval\"\",\"\"ctx\"\":48,\"\"docs\"\":\"\"lines\"\""));
    assert_non_null(strstr(out, ",bits_per_byte,"));
    free(out);
    /* a rerun finds the llamacpp cell done: the stored numbers, nothing computed */
    assert_int_equal(le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' --ctx 40 --threads 1 --quiet --db '%s'",
                                le_test_bin(), f->path, f->text_path, db), 0);
    assert_non_null(strstr(out, "Stored result (llamacpp, ctx 40"));
    assert_null(strstr(out, "tokens evaluated"));
    free(out);
    /* --db none: computed, printed, and no store anywhere (issue 12, item 12) */
    assert_int_equal(le_test_sh(&out, "cd '%s' && '%s' ppl --model '%s' --file '%s' --ctx 40 --threads 1 --quiet --db none",
                                f->dir, le_test_bin(), f->path, f->text_path), 0);
    assert_non_null(strstr(out, "Final estimate: PPL = "));
    free(out);
    char none[700];
    snprintf(none, sizeof none, "%s/none", f->dir);
    assert_int_equal(access(none, F_OK), -1);
    snprintf(none, sizeof none, "%s/results.sqlite", f->dir);
    assert_int_equal(access(none, F_OK), -1);
    /* options that do not apply are usage errors */
    static const char *const bad[] = {
        "--convention nosuch", "--convention gptq --stride 4", "--docs lines", "--convention lmeval --kv-f16",
        "--convention hf-stride --ctx 16 --stride 17", "--docs nosuch --convention gptq",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' %s --quiet --db '%s'", le_test_bin(), f->path,
                            f->text_path, bad[i], db);
        if (st != 2 || !strstr(out, "llamaeval: error: "))
            print_message("%s: status %d, output %s\n", bad[i], st, out);
        assert_int_equal(st, 2);
        free(out);
    }
}

/* Issue 12, defect 10: an empty text under lmeval and a NaN perplexity (NaN
 * weights) exited 0 and stored NaN; both are errors now. */
/* Run configs as one string, for what the run recorded. */
static int runs_cb(void *ud, const struct le_store_report_run *r) {
    char **all = ud;
    size_t n = *all ? strlen(*all) : 0, m = r->config ? strlen(r->config) : 0;
    char *p = realloc(*all, n + m + 2);
    assert_non_null(p);
    memcpy(p + n, r->config ? r->config : "", m);
    p[n + m] = '\n';
    p[n + m + 1] = 0;
    *all = p;
    return 0;
}

/* Issue 12, defect 11: a --ctx longer than the model's training context
 * (256 here) is warned about in llama.cpp's words and noted in the run. */
static void ctx_beyond_training_should_warn_and_be_noted_in_the_run(void **state) {
    struct fixture *f = *state;
    char *out = NULL, db[600];
    snprintf(db, sizeof db, "%s/ctx.sqlite", f->dir);
    assert_int_equal(le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' --convention lmeval --docs lines --ctx 300 "
                                      "--quiet --db '%s'",
                                le_test_bin(), f->path, f->text_path, db),
                     0);
    assert_non_null(strstr(out, "llamaeval: warning: "));
    assert_non_null(strstr(out, "n_ctx_per_seq (300) > n_ctx_train (256) -- possible training context overflow"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' --convention lmeval --docs lines --ctx 256 "
                                      "--quiet --db '%s'",
                                le_test_bin(), f->path, f->text_path, db),
                     0);
    assert_null(strstr(out, "warning"));
    free(out);
    struct le_store *s = NULL;
    assert_int_equal(le_store_open_readonly(&s, db), 0);
    char *all = NULL;
    assert_int_equal(le_store_report_runs(s, runs_cb, &all), 0);
    le_store_close(s);
    assert_non_null(all);
    const char *first = strstr(all, "\"notes\":[{\"warning\":\"n_ctx_per_seq (300) > n_ctx_train (256)");
    assert_non_null(first);
    assert_non_null(strstr(first, "\"n_ctx\":300,\"n_ctx_train\":256}]"));
    assert_null(strstr(strchr(all, '\n') + 1, "notes")); /* the second run, within 256, has none */
    free(all);
}

static void cli_should_refuse_nan_and_empty_results(void **state) {
    struct fixture *f = *state;
    char db[4200], empty[4200], nanm[4200];
    snprintf(db, sizeof db, "%s/nan.sqlite", f->dir);
    snprintf(empty, sizeof empty, "%s/empty.txt", f->dir);
    snprintf(nanm, sizeof nanm, "%s/nan.gguf", f->dir);
    assert_int_equal(le_test_write_file(empty, "", 0), 0);
    char *out = NULL;
    static const char *const docs[] = {"", "--docs file", "--docs wikitext"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        int st = le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' --convention lmeval %s --ctx 32 --quiet --db '%s'",
                            le_test_bin(), f->path, empty, docs[i], db);
        if (st != 1 || !strstr(out, "llamaeval: error: "))
            print_message("empty, %s: status %d, output %s\n", docs[i], st, out);
        assert_int_equal(st, 1);
        free(out);
    }
    /* the same model with its last 8 KiB of tensor data set to NaN (0xff bytes) */
    FILE *in = fopen(f->path, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long sz = ftell(in);
    rewind(in);
    char *buf = malloc((size_t)sz);
    assert_int_equal(fread(buf, 1, (size_t)sz, in), (size_t)sz);
    fclose(in);
    memset(buf + sz - 8192, 0xff, 8192);
    assert_int_equal(le_test_write_file(nanm, buf, (size_t)sz), 0);
    free(buf);
    static const char *const conv[] = {"llamacpp --ctx 40", "gptq --ctx 48", "lmeval --ctx 48"};
    for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) {
        int st = le_test_sh(&out, "'%s' ppl --model '%s' --file '%s' --convention %s --quiet --db '%s'",
                            le_test_bin(), nanm, f->text_path, conv[i], db);
        if (st != 1 || !strstr(out, "not a result"))
            print_message("NaN model, %s: status %d, output %s\n", conv[i], st, out);
        assert_int_equal(st, 1);
        free(out);
    }
    assert_int_equal(le_test_sh(&out, "'%s' db export --db '%s' --format csv", le_test_bin(), db), 0);
    assert_null(strstr(out, "nan"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wikitext_detok_should_match_lm_eval),
        cmocka_unit_test(hf_rows_should_match_datasets_wikitext),
        cmocka_unit_test_setup_teardown(gptq_should_equal_llama_py, setup, teardown),
        cmocka_unit_test_setup_teardown(hf_stride_should_equal_the_guide, setup, teardown),
        cmocka_unit_test_setup_teardown(lmeval_should_equal_lm_eval_wikitext, setup, teardown),
        cmocka_unit_test_setup_teardown(llamacpp_should_equal_llama_perplexity, setup, teardown),
        cmocka_unit_test_setup_teardown(results_should_not_depend_on_threads_or_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_should_print_and_record_each_convention, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_should_refuse_nan_and_empty_results, setup, teardown),
        cmocka_unit_test_setup_teardown(ctx_beyond_training_should_warn_and_be_noted_in_the_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
