// ctest-labels: unit
/*
 * test_generate: generate_until and what scores it -- greedy decoding
 * against the argmax of full-sequence logits (1 and 2 threads, warm and cold
 * cache), stop strings and max_gen_toks, sampling determinism; lm-eval's
 * filters and exact_match on hand-computed cases; the prompts of gsm8k,
 * gsm8k_cot, triviaqa and nq_open built from upstream-schema fixtures
 * against lm-eval 0.4.13's templates; their metrics from records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_datasets.h"
#include "le_err.h"
#include "le_genmodel.h"
#include "le_httpd.h" /* le_dsfix_build */
#include "le_model.h"
#include "le_pool.h"
#include "le_tasks.h"
#include "le_test.h"
#include "le_tok.h"

static int setup_model(void **state) {
    struct le_genmodel_cfg cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn = 64,
                                  .n_vocab = 512, .n_ctx = 128, .seed = 5};
    return le_genmodel_fx_setup(state, &cfg);
}

/* Checks gen against a fresh context's full-sequence logits: every
 * generated token is the first argmax of the row before it. */
static void check_against_full_logits(struct le_model *m, const int32_t *ctx, int64_t nc,
                                      const struct le_gen_result *g) {
    int64_t n = nc + g->n_ids;
    int32_t *all = malloc((size_t)n * sizeof *all);
    memcpy(all, ctx, (size_t)nc * sizeof *all);
    memcpy(all + nc, g->ids, (size_t)g->n_ids * sizeof *all);
    struct le_ctx *c = NULL;
    assert_int_equal(le_ctx_new(&c, m, 128, 128, NULL), 0);
    assert_int_equal(le_ctx_eval(c, all, (int)n, 0, 1), 0);
    const float *lg = le_ctx_logits(c);
    int64_t V = le_model_get_info(m)->n_vocab;
    for (int64_t i = 0; i < g->n_ids; i++) {
        const float *row = lg + (nc - 1 + i) * V;
        int32_t am = 0;
        for (int64_t v = 1; v < V; v++)
            if (row[v] > row[am])
                am = (int32_t)v;
        assert_int_equal(am, g->ids[i]);
    }
    le_ctx_free(c);
    free(all);
}

static void greedy_should_equal_argmax_of_full_sequence_logits(void **state) {
    struct le_genmodel_fx *f = *state;
    const struct le_tok *tok = le_model_tok(f->m);
    struct le_toks t = {0};
    assert_int_equal(le_tokenize(tok, "the cat sat on the mat", 22, 1, &t), 0);
    struct le_gen_opts o = {.max_gen_toks = 40};
    struct le_gen_result g1, g2, g3;
    for (int threads = 1; threads <= 2; threads++) {
        struct le_runner *r = NULL;
        struct le_runner_opts ro = {128, 16, -1};
        assert_int_equal(le_runner_new(&r, f->m, threads == 2 ? f->pool2 : NULL, &ro), 0);
        struct le_gen_result *g = threads == 1 ? &g1 : &g2;
        assert_int_equal(le_runner_generate_tokens(r, t.ids, t.n, &o, g), 0);
        assert_true(g->n_ids > 0);
        check_against_full_logits(f->m, t.ids, t.n, g);
        if (g->stop == LE_GEN_STOP_MAX)
            assert_int_equal(g->n_ids, 40);
        if (threads == 2) {
            /* Warm cache: an unrelated request first, then the same prompt. */
            struct le_gen_result x;
            assert_int_equal(le_runner_generate(r, "a different prompt entirely", &o, &x), 0);
            le_gen_result_clear(&x);
            assert_int_equal(le_runner_generate_tokens(r, t.ids, t.n, &o, &g3), 0);
            assert_int_equal(g3.n_ids, g2.n_ids);
            assert_memory_equal(g3.ids, g2.ids, (size_t)g2.n_ids * sizeof(int32_t));
            le_gen_result_clear(&g3);
        }
        le_runner_free(r);
    }
    assert_int_equal(g1.n_ids, g2.n_ids);
    assert_memory_equal(g1.ids, g2.ids, (size_t)g1.n_ids * sizeof(int32_t));
    assert_string_equal(g1.text, g2.text);
    le_gen_result_clear(&g1);
    le_gen_result_clear(&g2);
    le_toks_free(&t);
}

static void stop_strings_should_cut_before_the_first_occurrence(void **state) {
    struct le_genmodel_fx *f = *state;
    struct le_runner *r = NULL;
    assert_int_equal(le_runner_new(&r, f->m, NULL, NULL), 0);
    struct le_gen_opts o = {.max_gen_toks = 30};
    struct le_gen_result full, cut;
    assert_int_equal(le_runner_generate(r, "once upon a time", &o, &full), 0);
    size_t n = strlen(full.text);
    if (n < 6 || full.n_ids < 4)
        skip(); /* the random model stopped at EOS at once: nothing to cut */
    /* A stop string taken from the middle of the text: the output ends
     * right before its first occurrence and generation stopped there. */
    char stop[4];
    memcpy(stop, full.text + n / 2, 3);
    stop[3] = 0;
    const char *first = strstr(full.text, stop);
    const char *until[2] = {"\x01never", stop};
    o.until = until;
    o.n_until = 2;
    assert_int_equal(le_runner_generate(r, "once upon a time", &o, &cut), 0);
    assert_int_equal(strlen(cut.text), (size_t)(first - full.text));
    assert_memory_equal(cut.text, full.text, strlen(cut.text));
    assert_int_equal(cut.stop, LE_GEN_STOP_UNTIL);
    assert_true(cut.n_ids <= full.n_ids);
    assert_memory_equal(cut.ids, full.ids, (size_t)cut.n_ids * sizeof(int32_t));
    le_gen_result_clear(&cut);
    /* max_gen_toks bounds the tokens; the context + budget must fit. */
    o.n_until = 0;
    o.max_gen_toks = 3;
    assert_int_equal(le_runner_generate(r, "once upon a time", &o, &cut), 0);
    assert_true(cut.n_ids <= 3);
    le_gen_result_clear(&cut);
    o.max_gen_toks = le_runner_n_ctx(r);
    assert_int_equal(le_runner_generate(r, "x", &o, &cut), LE_EINVAL);
    le_gen_result_clear(&full);
    le_runner_free(r);
}

static void sampling_should_depend_only_on_the_seed(void **state) {
    struct le_genmodel_fx *f = *state;
    struct le_gen_opts o = {.max_gen_toks = 24, .temp = 1.5, .top_k = 50, .top_p = 0.95, .seed = 42};
    struct le_gen_result a, b, c;
    struct le_runner *r1 = NULL, *r2 = NULL;
    assert_int_equal(le_runner_new(&r1, f->m, NULL, NULL), 0);
    assert_int_equal(le_runner_new(&r2, f->m, f->pool2, NULL), 0);
    assert_int_equal(le_runner_generate(r1, "the dog", &o, &a), 0);
    assert_int_equal(le_runner_generate(r2, "the dog", &o, &b), 0);
    assert_int_equal(a.n_ids, b.n_ids);
    assert_memory_equal(a.ids, b.ids, (size_t)a.n_ids * sizeof(int32_t));
    /* top_k = 1 is greedy whatever the temperature and seed. */
    struct le_gen_opts k1 = {.max_gen_toks = 24, .temp = 3.0, .top_k = 1, .seed = 9}, gr = {.max_gen_toks = 24};
    le_gen_result_clear(&a);
    le_gen_result_clear(&b);
    assert_int_equal(le_runner_generate(r1, "the dog", &k1, &a), 0);
    assert_int_equal(le_runner_generate(r1, "the dog", &gr, &c), 0);
    assert_int_equal(a.n_ids, c.n_ids);
    assert_memory_equal(a.ids, c.ids, (size_t)a.n_ids * sizeof(int32_t));
    le_gen_result_clear(&a);
    le_gen_result_clear(&c);
    le_runner_free(r1);
    le_runner_free(r2);
}

/* ---- filters and metrics, hand-computed ---- */

static char *extract(const char *pat, int group, const char *s) {
    char *x = NULL;
    assert_int_equal(le_regex_extract(pat, group, NULL, s, &x), 0);
    return x;
}

static void filters_should_follow_lm_eval(void **state) {
    (void)state;
    const char *strict = "#### (\\-?[0-9\\.\\,]+)", *flex = "(-?[$0-9.,]{2,})|(-?[0-9]+)";
    const char *cot = "The answer is (\\-?[0-9\\.\\,]+).";
    char *x;
    x = extract(strict, 0, "She has 3 + 4 = 7 apples.\n#### 7\n\nQuestion: next");
    assert_string_equal(x, "7");
    free(x);
    x = extract(strict, 0, "no marker here, 12 and 13");
    assert_string_equal(x, "[invalid]");
    free(x);
    /* flexible-extract: the last match; a tuple gives its first non-empty group */
    x = extract(flex, -1, "It costs $1,250 and then 3 more, so 5");
    assert_string_equal(x, "5");
    free(x);
    x = extract(flex, -1, "Total: $1,250. Done");
    assert_string_equal(x, "$1,250.");
    free(x);
    x = extract(cot, 0, "So 2 + 2 = 4. The answer is 4. Q: next");
    assert_string_equal(x, "4."); /* the greedy class takes the period, as Python's re does (CPython 3.11) */
    free(x);
    x = extract(flex, 0, "nothing numeric");
    assert_string_equal(x, "[invalid]");
    free(x);
    /* pipelines */
    struct le_filter ws = {.name = "remove_whitespace", .n_steps = 2,
                           .steps = {{.kind = LE_F_REMOVE_WS}, {.kind = LE_F_TAKE_FIRST}}};
    const char *one[] = {"  Paris \n"};
    assert_int_equal(le_filter_apply(&ws, one, 1, &x), 0);
    assert_string_equal(x, "Paris");
    free(x);
    struct le_filter maj = {.name = "maj", .n_steps = 2,
                            .steps = {{.kind = LE_F_REGEX, .pattern = strict}, {.kind = LE_F_MAJORITY}}};
    const char *votes[] = {"#### 3", "#### 5", "x #### 5", "#### 3", "nothing"};
    assert_int_equal(le_filter_apply(&maj, votes, 5, &x), 0);
    assert_string_equal(x, "3"); /* 3 and 5 twice each: Counter.most_common keeps the first seen */
    free(x);
    const char *votes2[] = {"#### 3", "#### 5", "#### 5"};
    assert_int_equal(le_filter_apply(&maj, votes2, 3, &x), 0);
    assert_string_equal(x, "5");
    free(x);
}

static double em(const char *pred, const char *const *golds, int n, const struct le_em_opts *o) {
    double s = -1;
    assert_int_equal(le_exact_match(pred, golds, n, o, &s), 0);
    return s;
}

static void exact_match_should_apply_lm_eval_normalisations(void **state) {
    (void)state;
    /* gsm8k: regexes_to_ignore on both sides, then lower-case */
    struct le_em_opts gsm = {.ignore_case = 1, .n_regexes = 4, .regexes_to_ignore = {",", "\\$", "(?s).*#### ", "\\.$"}};
    const char *g1[] = {"Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18.\n#### 1,018"};
    assert_true(em("1018", g1, 1, &gsm) == 1.0);
    assert_true(em("$1,018.", g1, 1, &gsm) == 1.0);
    assert_true(em("1018.5", g1, 1, &gsm) == 0.0);
    /* triviaqa: case and ASCII punctuation ignored, any alias counts */
    struct le_em_opts tqa = {.ignore_case = 1, .ignore_punctuation = 1};
    const char *g2[] = {"Mozart", "Wolfgang Amadeus Mozart"};
    assert_true(em("wolfgang amadeus mozart!", g2, 2, &tqa) == 1.0);
    assert_true(em("W. A. Mozart", g2, 2, &tqa) == 0.0);
    const char *g3[] = {"KRAKÓW"};
    assert_true(em("kraków", g3, 1, &tqa) == 1.0); /* str.lower() beyond ASCII */
    /* nq_open: articles as the regex removes them (before punctuation) */
    struct le_em_opts nq = {.ignore_case = 1, .ignore_punctuation = 1, .n_regexes = 1,
                            .regexes_to_ignore = {"\\b(?:The |the |An |A |The |a |an )"}};
    const char *g4[] = {"the city of Canberra"};
    assert_true(em("The city of Canberra.", g4, 1, &nq) == 1.0);
    assert_true(em("city of Canberra", g4, 1, &nq) == 1.0);
    assert_true(em("Theory", (const char *[]){"ory"}, 1, &nq) == 0.0); /* "The " needs its space */
    /* no options: byte equality */
    assert_true(em("Paris", (const char *[]){"Paris"}, 1, NULL) == 1.0);
    assert_true(em("paris", (const char *[]){"Paris"}, 1, NULL) == 0.0);
    /* SQuAD's normalize_answer */
    char *s = le_squad_normalize("  The  Quick, brown fox -- an apple!  ");
    assert_string_equal(s, "quick brown fox apple");
    free(s);
}

/* ---- tasks from upstream-schema fixtures, against lm-eval's templates ---- */

/* lm-eval 0.4.13 fewshot_context: description + k x (doc_to_text +
 * target_delimiter + target + fewshot_delimiter) + doc_to_text. The draws
 * (random.Random(1234).sample over the pool, state carried doc to doc):
 * pool of 6, 5-shot: [3,0,4,5,2], [5,0,4,1,3], [0,5,4,1,2]; pool of 2 or 3,
 * 1-shot: [1], [0], [0] (computed with CPython 3.11's random). */
static void generation_prompts_should_match_lm_eval(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    assert_int_equal(le_dsfix_build(dir, 0), 0);
    struct le_taskset *ts = le_test_load_task(dir, "gsm8k", -1); /* the task's default: 5-shot */
    assert_int_equal(ts->num_fewshot, 5);
    assert_int_equal(ts->n_docs, 3);
    const struct le_item *it = &ts->items[0];
    assert_int_equal(it->kind, LE_TASK_GEN);
    assert_int_equal(it->n_targets, 1);
    assert_string_equal(it->targets[0], "The baker makes 12 * 3 = <<12*3=36>>36 rolls.\nAfter selling, 36 - 20 = "
                                        "<<36-20=16>>16 rolls are left.\n#### 16");
    const char *exp0 =
        "Question: Mia had 9 apples and ate 2. How many are left?\nAnswer: Mia has 9 - 2 = <<9-2=7>>7 apples.\n#### 7\n\n"
        "Question: Sam reads 5 pages a day. How many pages does he read in a week?\nAnswer: A week has 7 days, so Sam "
        "reads 5 * 7 = <<5*7=35>>35 pages.\n#### 35\n\n"
        "Question: A car goes 60 km an hour for 2 hours. How far does it go?\nAnswer: It goes 60 * 2 = "
        "<<60*2=120>>120 km.\n#### 120\n\n"
        "Question: Lee saves $3 a week for 10 weeks. How much does he save?\nAnswer: He saves 3 * 10 = "
        "<<3*10=30>>30 dollars.\n#### 30\n\n"
        "Question: A class of 30 splits into teams of 6. How many teams are there?\nAnswer: There are 30 / 6 = "
        "<<30/6=5>>5 teams.\n#### 5\n\n"
        "Question: A baker makes 12 rolls an hour for 3 hours and sells 20 of them. How many rolls are left?\nAnswer:";
    assert_string_equal(it->req[0].context, exp0);
    assert_int_equal(it->gen->n_until, 3);
    assert_string_equal(it->gen->until[0], "Question:");
    le_taskset_free(ts);

    ts = le_test_load_task(dir, "gsm8k_cot", -1); /* 8-shot, first_n of the fixed samples */
    assert_int_equal(ts->num_fewshot, 8);
    const char *c = ts->items[1].req[0].context;
    const char *head = "Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. "
                       "After they are done, there will be 21 trees. How many trees did the grove workers plant "
                       "today?\nA: There are 15 trees originally. Then there were 21 trees after some more were "
                       "planted. So there must have been 21 - 15 = 6. The answer is 6.\n\nQ: If there are 3 cars";
    assert_int_equal(strncmp(c, head, strlen(head)), 0);
    const char *tail = "A: Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has "
                       "23 - 15 dollars left. 23 - 15 is 8. The answer is 8.\n\nQ: Tom has $1,250 and spends $250. "
                       "How much money does he have left?\nA:";
    assert_string_equal(c + strlen(c) - strlen(tail), tail);
    assert_string_equal(ts->items[1].targets[0], "1,000"); /* answer.split('####')[-1].strip() */
    int shots = 0;
    for (const char *p = c; (p = strstr(p, "Q: ")); p++)
        shots++;
    assert_int_equal(shots, 9);
    le_taskset_free(ts);

    ts = le_test_load_task(dir, "nq_open", 1);
    assert_string_equal(ts->items[0].req[0].context,
                        "Answer these questions:\n\nQ: what is the largest planet in the solar system?\nA: Jupiter\n"
                        "Q: who wrote the novel the old man and the sea?\nA:");
    assert_string_equal(ts->items[1].req[0].context,
                        "Answer these questions:\n\nQ: who painted the mona lisa?\nA: Leonardo da Vinci\n"
                        "Q: what is the capital city of australia?\nA:");
    assert_int_equal(ts->items[1].n_targets, 2);
    le_taskset_free(ts);

    ts = le_test_load_task(dir, "triviaqa", 0); /* web-dev then wikipedia-dev */
    assert_int_equal(ts->n_docs, 3);
    assert_string_equal(ts->items[0].req[0].context, "Question: Which planet is known as the Red Planet?\nAnswer:");
    assert_string_equal(ts->items[2].req[0].context, "Question: Who composed The Magic Flute?\nAnswer:");
    assert_int_equal(ts->items[2].n_targets, 2);
    assert_string_equal(ts->items[2].targets[1], "Mozart");
    le_taskset_free(ts);
    ts = le_test_load_task(dir, "triviaqa", 1); /* train = web-train then wikipedia-train; draw [1] */
    assert_string_equal(ts->items[0].req[0].context,
                        "Question: Which ocean is the largest?\nAnswer: Pacific\n\n"
                        "Question: Which planet is known as the Red Planet?\nAnswer:");
    le_taskset_free(ts);
    le_test_rmdir(dir);
    free(dir);
}

/* Metrics from records: exact_match under each filter, hand-counted. */
static void generation_metrics_should_be_hand_computed(void **state) {
    (void)state;
    const struct le_task_info *gsm = le_task_find("gsm8k");
    assert_non_null(gsm);
    const char *resps[4] = {" She has 16 eggs.\n#### 16", " 1,000 dollars", " I think #### 24 so 26", " no idea"};
    const char *golds[4] = {"... #### 16", "... #### 1,000", "... #### 24", "... #### 7"};
    struct le_rec recs[4];
    int64_t off[5];
    for (int i = 0; i < 4; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].kind = LE_TASK_GEN;
        recs[i].group = -1;
        recs[i].resp = (char *)resps[i];
        recs[i].golds = (char **)&golds[i];
        recs[i].n_golds = 1;
        off[i] = i;
    }
    off[4] = 4;
    struct le_metric m[8];
    int nm = 0;
    assert_int_equal(le_task_metrics(gsm, gsm->metrics, recs, off, 4, NULL, m, 8, &nm), 0);
    assert_int_equal(nm, 2);
    /* strict: 16 yes, [invalid] no, 24 yes, [invalid] no -> 0.5;
     * flexible (last number): 16, 1,000, 26, [invalid] -> 0.5 */
    assert_string_equal(m[0].name, "exact_match");
    assert_string_equal(m[0].filter, "strict-match");
    assert_true(fabs(m[0].value - 0.5) < 1e-15);
    assert_true(fabs(m[0].stderr_v - sqrt(1.0 / 3.0) / 2.0) < 1e-12); /* sample sd of {1,0,1,0} / sqrt(4) */
    assert_string_equal(m[1].filter, "flexible-extract");
    assert_true(fabs(m[1].value - 0.5) < 1e-15);
    /* records round-trip through JSON with their text */
    char *js = le_rec_to_json(&recs[2]);
    struct le_rec back;
    assert_int_equal(le_rec_from_json(js, &back), 0);
    assert_string_equal(back.resp, resps[2]);
    assert_int_equal(back.n_golds, 1);
    assert_string_equal(back.golds[0], golds[2]);
    le_rec_clear(&back);
    free(js);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(greedy_should_equal_argmax_of_full_sequence_logits, setup_model,
                                        le_genmodel_fx_teardown),
        cmocka_unit_test_setup_teardown(stop_strings_should_cut_before_the_first_occurrence, setup_model,
                                        le_genmodel_fx_teardown),
        cmocka_unit_test_setup_teardown(sampling_should_depend_only_on_the_seed, setup_model, le_genmodel_fx_teardown),
        cmocka_unit_test(filters_should_follow_lm_eval),
        cmocka_unit_test(exact_match_should_apply_lm_eval_normalisations),
        cmocka_unit_test(generation_prompts_should_match_lm_eval),
        cmocka_unit_test(generation_metrics_should_be_hand_computed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
