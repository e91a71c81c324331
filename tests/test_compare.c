/*
 * test_compare: a quantized model against its base (tasks/le_compare.h,
 * `llamaeval compare`, the report's quant section).
 *
 * A model compared with itself gives KL 0, dPPL 0 and top-1 1 exactly, and
 * its PPL equals le_ppl_llamacpp's (the same convention). On a generated
 * F32 model and its Q4_0 twin (same seed), every per-token figure equals a
 * scalar reference written out here from the definitions -- softmax in long
 * double of logits from le_ctx_eval on whole chunks, KL = sum p log(p/q),
 * argmax, nll -- to 1e-9 relative, and results do not depend on the thread
 * count. McNemar's exact p equals binomial sums computed by hand. The
 * percentile interpolation is llama.cpp's. The command records cells the
 * report renders, skips them on a rerun, and works without a store.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_compare.h"
#include "le_err.h"
#include "le_genmodel.h"
#include "le_model.h"
#include "le_pool.h"
#include "le_ppl.h"
#include "le_test.h"
#include "le_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTX 32
#define N_TOK (CTX * 5 + 7)

struct fixture {
    char *dir, f32[512], q40[512];
    struct le_model *base, *quant;
    int32_t tok[N_TOK];
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = le_test_tmpdir();
    snprintf(f->f32, sizeof f->f32, "%s/f32.gguf", f->dir);
    snprintf(f->q40, sizeof f->q40, "%s/q4_0.gguf", f->dir);
    struct le_genmodel_cfg cfg = {.dim = 64, .n_layers = 2, .n_heads = 4, .ffn = 128, .n_vocab = 512,
                                  .n_ctx = 128, .seed = 7};
    if (le_genmodel_write(f->f32, &cfg))
        return -1;
    cfg.wtype = LE_TYPE_Q4_0;
    if (le_genmodel_write(f->q40, &cfg) || le_model_open(&f->base, f->f32) || le_model_open(&f->quant, f->q40)) {
        fprintf(stderr, "setup: %s\n", le_err_msg());
        return -1;
    }
    uint64_t x = 12345;
    for (int i = 0; i < N_TOK; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        f->tok[i] = (int32_t)((x >> 33) % 512);
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    le_model_free(f->base);
    le_model_free(f->quant);
    le_test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* le_cmp_llamacpp of base against quant on pool (NULL = 1 thread), batch nb. */
static void run_cmp(struct le_model *base, struct le_model *quant, struct le_pool *pool, int nb,
                    const int32_t *tok, struct le_cmp_stats *st) {
    struct le_ctx *cb, *cq;
    struct le_cmp *acc;
    assert_int_equal(le_ctx_new(&cb, base, CTX, nb, pool), 0);
    assert_int_equal(le_ctx_new(&cq, quant, CTX, nb, pool), 0);
    assert_int_equal(le_cmp_new(&acc), 0);
    assert_int_equal(le_cmp_llamacpp(cb, &cq, 1, tok, N_TOK, CTX, 1, NULL, NULL, &acc), 0);
    assert_int_equal(le_cmp_summary(acc, 200, 5, st), 0);
    le_cmp_free(acc);
    le_ctx_free(cb);
    le_ctx_free(cq);
}

static void quant_equal_to_base_should_give_zero_kl_and_full_agreement(void **state) {
    struct fixture *f = *state;
    struct le_cmp_stats st;
    run_cmp(f->base, f->base, NULL, CTX, f->tok, &st);
    assert_int_equal(st.n_chunks, N_TOK / CTX);
    assert_int_equal(st.n_tokens, (N_TOK / CTX) * (CTX - 1 - CTX / 2));
    assert_true(st.kld == 0.0);
    for (int i = 0; i < LE_CMP_KLD_Q; i++)
        assert_true(st.kld_q[i] == 0.0);
    assert_true(st.dppl == 0.0 && st.ln_ratio == 0.0 && st.ratio == 1.0);
    assert_true(st.dppl_lo == 0.0 && st.dppl_hi == 0.0);
    assert_true(st.top1 == 1.0 && st.dp == 0.0 && st.dp_rms == 0.0);
    assert_true(st.ppl == st.ppl_base);
    /* the same convention as `ppl`: identical perplexity and +/- */
    struct le_ctx *c;
    struct le_ppl_result r;
    assert_int_equal(le_ctx_new(&c, f->base, CTX, CTX, NULL), 0);
    int32_t tok[N_TOK];
    memcpy(tok, f->tok, sizeof tok);
    assert_int_equal(le_ppl_llamacpp(c, tok, N_TOK, CTX, 1, NULL, NULL, &r), 0);
    le_ctx_free(c);
    assert_true(r.ppl == st.ppl_base);
    assert_true(r.ppl_stderr == st.ppl_base_unc);
}

/* The reference: per scored token of every chunk, from whole-chunk logits. */
struct ref {
    double sum_kl, sum_nq, sum_nb, sum_dp;
    int64_t n, same;
    double *kl; /* per token, for the percentiles */
};

static void softmax_ld(const float *l, int64_t n, long double *p) {
    long double mx = l[0], s = 0;
    for (int64_t i = 1; i < n; i++)
        mx = l[i] > mx ? l[i] : mx;
    for (int64_t i = 0; i < n; i++)
        s += (p[i] = expl((long double)l[i] - mx));
    for (int64_t i = 0; i < n; i++)
        p[i] /= s;
}

static int64_t argmax(const float *l, int64_t n) {
    int64_t a = 0;
    for (int64_t i = 1; i < n; i++)
        if (l[i] > l[a])
            a = i;
    return a;
}

static void reference(struct fixture *f, struct ref *r) {
    int64_t nv = le_model_get_info(f->base)->n_vocab;
    struct le_ctx *cb, *cq;
    assert_int_equal(le_ctx_new(&cb, f->base, CTX, CTX, NULL), 0);
    assert_int_equal(le_ctx_new(&cq, f->quant, CTX, CTX, NULL), 0);
    float *lb = malloc(sizeof(float) * CTX * (size_t)nv), *lq = malloc(sizeof(float) * CTX * (size_t)nv);
    long double *p = malloc(sizeof(long double) * (size_t)nv), *q = malloc(sizeof(long double) * (size_t)nv);
    memset(r, 0, sizeof *r);
    r->kl = malloc(sizeof(double) * N_TOK);
    for (int c = 0; c < N_TOK / CTX; c++) {
        int32_t chunk[CTX];
        memcpy(chunk, f->tok + c * CTX, sizeof chunk);
        chunk[0] = 1;
        assert_int_equal(le_ctx_eval(cb, chunk, CTX, 0, 1), 0);
        memcpy(lb, le_ctx_logits(cb), sizeof(float) * CTX * (size_t)nv);
        assert_int_equal(le_ctx_eval(cq, chunk, CTX, 0, 1), 0);
        memcpy(lq, le_ctx_logits(cq), sizeof(float) * CTX * (size_t)nv);
        for (int pos = CTX / 2; pos <= CTX - 2; pos++) {
            const float *b = lb + (size_t)pos * nv, *qq = lq + (size_t)pos * nv;
            softmax_ld(b, nv, p);
            softmax_ld(qq, nv, q);
            long double kl = 0;
            for (int64_t i = 0; i < nv; i++)
                kl += p[i] * logl(p[i] / q[i]);
            int32_t t = chunk[pos + 1];
            r->kl[r->n] = (double)kl;
            r->sum_kl += (double)kl;
            r->sum_nq += (double)-logl(q[t]);
            r->sum_nb += (double)-logl(p[t]);
            r->sum_dp += (double)(q[t] - p[t]);
            r->same += argmax(b, nv) == argmax(qq, nv);
            r->n++;
        }
    }
    free(lb), free(lq), free(p), free(q);
    le_ctx_free(cb);
    le_ctx_free(cq);
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void assert_rel(double got, double want, double tol) {
    if (fabs(got - want) > tol * fabs(want) + 1e-300) {
        print_message("got %.17g, want %.17g\n", got, want);
        fail();
    }
}

static void kl_should_equal_a_scalar_reference(void **state) {
    struct fixture *f = *state;
    struct le_cmp_stats st;
    run_cmp(f->base, f->quant, NULL, CTX, f->tok, &st);
    struct ref r;
    reference(f, &r);
    assert_int_equal(st.n_tokens, r.n);
    assert_true(st.kld > 1e-4); /* Q4_0 of random weights is visibly different */
    assert_rel(st.kld, r.sum_kl / (double)r.n, 1e-9);
    assert_rel(st.ppl, exp(r.sum_nq / (double)r.n), 1e-9);
    assert_rel(st.ppl_base, exp(r.sum_nb / (double)r.n), 1e-9);
    assert_rel(st.dppl, exp(r.sum_nq / (double)r.n) - exp(r.sum_nb / (double)r.n), 1e-7);
    assert_rel(st.dp, r.sum_dp / (double)r.n, 1e-7);
    assert_true(st.top1 == (double)r.same / (double)r.n);
    assert_true(r.same < r.n); /* the test sees disagreements too */
    qsort(r.kl, (size_t)r.n, sizeof *r.kl, dcmp);
    assert_rel(st.kld_q[0], r.kl[r.n - 1], 1e-9);
    assert_rel(st.kld_q[10], r.kl[0], 1e-6);
    double pos = 0.99 * (double)(r.n - 1), fr = pos - floor(pos);
    int64_t ip = (int64_t)pos;
    assert_rel(st.kld_q[2], (1 - fr) * r.kl[ip] + fr * r.kl[ip + 1], 1e-9);
    free(r.kl);
    /* the paired interval brackets the estimate */
    assert_true(st.dppl_lo <= st.dppl && st.dppl <= st.dppl_hi && st.dppl_lo < st.dppl_hi);
}

static void results_should_not_depend_on_threads_or_batch(void **state) {
    struct fixture *f = *state;
    struct le_cmp_stats a, b;
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 2), 0);
    run_cmp(f->base, f->quant, NULL, CTX, f->tok, &a);
    run_cmp(f->base, f->quant, pool, 7, f->tok, &b);
    le_pool_free(pool);
    assert_memory_equal(&a, &b, sizeof a);
}

static void mcnemar_should_equal_binomial_sums(void **state) {
    (void)state;
    assert_true(le_mcnemar_exact_p(0, 0) == 1.0);
    assert_true(le_mcnemar_exact_p(3, 3) == 1.0);
    assert_rel(le_mcnemar_exact_p(5, 0), 2.0 / 32, 1e-12);            /* 2 * C(5,0) / 2^5 */
    assert_rel(le_mcnemar_exact_p(1, 7), 2.0 * (1 + 8) / 256, 1e-12); /* 2 * (C(8,0) + C(8,1)) / 2^8 */
    assert_rel(le_mcnemar_exact_p(10, 2), 2.0 * (1 + 12 + 66) / 4096, 1e-12);
    /* n = 40, min 12: 2 * sum_{k<=12} C(40,k) / 2^40 */
    double s = 0, ck = 1;
    for (int k = 0; k <= 12; k++) {
        s += ck;
        ck = ck * (40 - k) / (k + 1);
    }
    assert_rel(le_mcnemar_exact_p(28, 12), 2 * s / ldexp(1, 40), 1e-10);
}

static void percentiles_should_interpolate_as_llama_cpp(void **state) {
    (void)state;
    const double v[5] = {1, 2, 3, 4, 5}, w[4] = {1, 2, 4, 8};
    assert_true(le_cmp_percentile(v, 5, 0.5) == 3);
    assert_true(le_cmp_percentile(w, 4, 0.5) == 3); /* mean of the two middle values */
    assert_true(le_cmp_percentile(v, 5, 1) == 5 && le_cmp_percentile(v, 5, 0) == 1);
    assert_rel(le_cmp_percentile(v, 5, 0.999), 1 + 0.999 * 4, 1e-12);
    assert_rel(le_cmp_percentile(w, 4, 0.1), 1 + 0.3, 1e-12);
}

static char *value_after(const char *out, const char *key) {
    const char *p = out ? strstr(out, key) : NULL;
    if (!p)
        print_message("'%s' not found in:\n%s\n", key, out ? out : "(null)");
    assert_non_null(p);
    return (char *)p + strlen(key);
}

static void cli_should_record_cells_the_report_renders(void **state) {
    struct fixture *f = *state;
    char text[600], db[600], rep[600], *out = NULL;
    snprintf(text, sizeof text, "%s/t.txt", f->dir);
    snprintf(db, sizeof db, "%s/r.sqlite", f->dir);
    snprintf(rep, sizeof rep, "%s/rep", f->dir);
    char buf[8192];
    size_t n = 0;
    for (int i = 0; n < sizeof buf - 100; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "the man said that he had %d of the old books. ", i);
    assert_int_equal(le_test_write_file(text, buf, n), 0);
    const char *cmd = "'%s' compare --base '%s' --quant '%s,%s' --file '%s' --ctx 32 --threads 1 --boot 50 "
                      "--speed-reps 1 --n-prompt 16 --quiet --db '%s'";
    assert_int_equal(le_test_sh(&out, cmd, le_test_bin(), f->f32, f->f32, f->q40, text, db), 0);
    assert_non_null(strstr(out, "| Q4_0-pure | rtn |"));
    assert_non_null(strstr(out, "Same top p: 100.000"));
    char *table = strdup(value_after(out, "| Type |"));
    free(out);
    /* a rerun finds both cells done and prints the same table from the store */
    char *again = NULL;
    assert_int_equal(le_test_sh(&again, "'%s' compare --base '%s' --quant '%s,%s' --file '%s' --ctx 32 "
                                        "--threads 2 --boot 50 --speed-reps 1 --n-prompt 16 --db '%s' 2>&1",
                                le_test_bin(), f->f32, f->f32, f->q40, text, db), 0);
    assert_non_null(strstr(again, "compared earlier"));
    assert_string_equal(value_after(again, "| Type |"), table);
    free(again);
    free(table);
    /* the report's quant section shows both rows */
    assert_int_equal(le_test_sh(&out, "'%s' report --db '%s' --out '%s' --only quant --format md --no-figures",
                                le_test_bin(), db, rep), 0);
    free(out);
    char md[700];
    snprintf(md, sizeof md, "%s/report.md", rep);
    char *doc = le_test_read_file(md, NULL);
    assert_non_null(doc);
    assert_non_null(strstr(doc, "Q4_0-pure"));
    assert_non_null(strstr(doc, "KLD 99.9%"));
    assert_non_null(strstr(doc, "4g32-RTN")); /* bits and group recorded: the GPTQ layout's column */
    assert_null(strstr(doc, "No quantization results"));
    free(doc);
    /* --method marks a file's method: a GPTQ column appears beside RTN's at the same bits and group */
    assert_int_equal(le_test_sh(&out, "'%s' compare --base '%s' --quant '%s' --method gptq --file '%s' --ctx 32 "
                                      "--threads 1 --boot 50 --speed-reps 0 --quiet --db '%s'",
                                le_test_bin(), f->f32, f->q40, text, db), 0);
    assert_non_null(strstr(out, "| Q4_0-pure | gptq |"));
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' report --db '%s' --out '%s' --only quant --format md --no-figures",
                                le_test_bin(), db, rep), 0);
    free(out);
    doc = le_test_read_file(md, NULL);
    assert_non_null(doc);
    assert_non_null(strstr(doc, "4g32-GPTQ"));
    assert_non_null(strstr(doc, "Q4_0-pure (GPTQ)"));
    free(doc);
    /* --db none: the same numbers, nothing written */
    assert_int_equal(le_test_sh(&out, cmd, le_test_bin(), f->f32, f->f32, f->q40, text, "none"), 0);
    assert_non_null(strstr(out, "| Q4_0-pure | rtn |"));
    free(out);
}

static void cli_should_refuse_bad_input(void **state) {
    struct fixture *f = *state;
    char *out = NULL;
    assert_int_equal(le_test_sh(&out, "'%s' compare --base '%s' 2>&1", le_test_bin(), f->f32), 2);
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' compare --base '%s' --quant '%s' --brown nosuch 2>&1", le_test_bin(),
                                f->f32, f->q40), 2);
    free(out);
    assert_int_equal(le_test_sh(&out, "'%s' compare --base '%s' --quant '%s' --file /nonexistent --db none 2>&1",
                                le_test_bin(), f->f32, f->q40), 1);
    assert_non_null(strstr(out, "llamaeval: error:"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quant_equal_to_base_should_give_zero_kl_and_full_agreement, setup, teardown),
        cmocka_unit_test_setup_teardown(kl_should_equal_a_scalar_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(results_should_not_depend_on_threads_or_batch, setup, teardown),
        cmocka_unit_test(mcnemar_should_equal_binomial_sums),
        cmocka_unit_test(percentiles_should_interpolate_as_llama_cpp),
        cmocka_unit_test_setup_teardown(cli_should_record_cells_the_report_renders, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_should_refuse_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
