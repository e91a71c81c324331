/*
 * test_report: `llamaeval report` on a database the test builds through the
 * store's put functions (tests/le_repdb.c), checked against the values the
 * test put there and computes itself:
 *
 * - the zero-shot table shows the newest zero-shot cell's paper metric per
 *   (model, task) -- not the superseded cell, not the 5-shot one -- "—"
 *   where not run, the published LLaMA 7B row and, for the 7B-sized model
 *   only, our value minus the published one; every number carries its run,
 *   metric, n and stderr in report.json;
 * - the perplexity table (model x convention x ctx), the GPTQ and llama.cpp
 *   quantization tables and the sweep table hold the stored numbers, and
 *   csv/<table>.csv the same numbers at full precision;
 * - figures exist as SVG, PDF, gnuplot script and data; every SVG parses as
 *   XML (libxml2, no network) with an <svg> root and plotted paths, every
 *   PDF is a PDF, and report.html embeds each SVG and fetches nothing;
 * - a database of an older schema is migrated in memory (the file keeps its
 *   version), one of a newer schema is refused with one line;
 * - a missing gnuplot is one clear line; --no-figures then still works.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_repdb.h"
#include "le_store.h"
#include "le_test.h"

#include <cjson/cJSON.h>       /* report.json */
#include <libxml/parser.h>     /* SVG well-formedness */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fixture {
    struct le_test_fx fx; /* dir, db (r.sqlite), out */
    struct le_repdb e;
};

static int setup(void **state) {
    return le_test_fx_setup(state, sizeof(struct fixture), "r.sqlite");
}

/* Runs the report; returns its exit status, output in *out (caller frees). */
static int run_report(struct fixture *f, char **out, const char *extra) {
    /* 50 bootstrap resamples keep the scaling fits to a fraction of a second. */
    return le_test_sh(out, "'%s' report --db '%s' --out '%s' --boot 50 %s", le_test_bin(), f->fx.db, f->fx.out, extra);
}

static cJSON *load_json(const struct fixture *f) {
    return le_test_read_json(f->fx.out, "report.json");
}

static cJSON *table_of(cJSON *root, const char *id) {
    cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(root, "blocks")) {
        cJSON *i = cJSON_GetObjectItem(b, "id");
        if (cJSON_IsString(i) && !strcmp(i->valuestring, id) && !strcmp(cJSON_GetObjectItem(b, "type")->valuestring, "table"))
            return b;
    }
    return NULL;
}

static int col_of(cJSON *t, const char *prefix) {
    int k = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(t, "columns")) {
        if (!strncmp(c->valuestring, prefix, strlen(prefix)))
            return k;
        k++;
    }
    fail_msg("no column %s", prefix);
    return -1;
}

/* The cell at (row whose first cell reads `row`, column starting with `col`);
 * NULL when the cell is null ("—"). Fails when the row is missing. */
static cJSON *cell_of(cJSON *t, const char *row, const char *col) {
    int c = col_of(t, col);
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(t, "rows")) {
        cJSON *first = cJSON_GetArrayItem(r, 0);
        if (first && !strcmp(cJSON_GetObjectItem(first, "text")->valuestring, row)) {
            cJSON *x = cJSON_GetArrayItem(r, c);
            return cJSON_IsNull(x) ? NULL : x;
        }
    }
    fail_msg("no row %s", row);
    return NULL;
}

static int has_row(cJSON *t, const char *row) {
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(t, "rows")) {
        cJSON *first = cJSON_GetArrayItem(r, 0);
        if (first && !strcmp(cJSON_GetObjectItem(first, "text")->valuestring, row))
            return 1;
    }
    return 0;
}

static double value_of(cJSON *cell) {
    assert_non_null(cell);
    cJSON *v = cJSON_GetObjectItem(cell, "value");
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void assert_text(cJSON *cell, const char *fmt, double v) {
    char want[64];
    snprintf(want, sizeof want, fmt, v);
    assert_string_equal(cJSON_GetObjectItem(cell, "text")->valuestring, want);
}

static void build(struct fixture *f) { assert_int_equal(le_repdb_build(f->fx.db, &f->e), 0); }

/* Builds the fixture store, runs report with extra (it must succeed) and
 * returns report.json parsed (cJSON_Delete it). */
static cJSON *report_json(struct fixture *f, const char *extra) {
    build(f);
    char *out = NULL;
    int rc = run_report(f, &out, extra);
    if (rc)
        fail_msg("report %s: exit %d\n%s", extra, rc, out ? out : "");
    free(out);
    return load_json(f);
}

static void report_zeroshot_table_should_show_the_newest_zero_shot_cell(void **state) {
    struct fixture *f = *state;
    cJSON *root = report_json(f, "--format json,csv,md --compare-published --no-figures --only eval,ppl");
    cJSON *t = table_of(root, "zeroshot");
    assert_non_null(t);
    /* HellaSwag: the newest zero-shot cell's acc_norm; not 0.25 (older), not 0.77 (5-shot). */
    cJSON *hs = cell_of(t, "alpha", "HellaSwag");
    assert_true(value_of(hs) == f->e.hs_alpha);
    assert_text(hs, "%.1f", 100 * f->e.hs_alpha);
    cJSON *src = cJSON_GetArrayItem(cJSON_GetObjectItem(hs, "sources"), 0);
    assert_string_equal(cJSON_GetObjectItem(src, "metric")->valuestring, "acc_norm");
    assert_int_equal(cJSON_GetObjectItem(src, "run_id")->valueint, 1);
    assert_int_equal((int64_t)cJSON_GetObjectItem(src, "n")->valuedouble, f->e.hs_alpha_n);
    assert_true(cJSON_GetObjectItem(src, "stderr")->valuedouble == f->e.hs_alpha_stderr);
    assert_string_equal(cJSON_GetObjectItem(src, "task")->valuestring, "hellaswag");
    /* BoolQ uses acc_uncond, as the LLaMA paper does; extras fall back to acc. */
    assert_true(value_of(cell_of(t, "alpha", "BoolQ")) == f->e.boolq_alpha_uncond);
    assert_true(value_of(cell_of(t, "beta", "WinoGrande")) == f->e.wg_beta);
    assert_true(value_of(cell_of(t, "alpha", "brown-cloze")) == f->e.cloze_alpha_norm);
    assert_true(value_of(cell_of(t, "beta", "brown-cloze")) == f->e.cloze_beta_acc);
    assert_null(cell_of(t, "alpha", "PIQA"));
    assert_null(cell_of(t, "beta", "HellaSwag"));
    /* Published row, and the difference only for the 7B-sized model. */
    assert_true(fabs(value_of(cell_of(t, "LLaMA 7B (published)", "HellaSwag")) - 0.761) < 1e-12);
    assert_true(fabs(value_of(cell_of(t, "\u0394 alpha \u2212 published", "HellaSwag")) - (f->e.hs_alpha - 0.761)) <
                1e-12);
    assert_true(fabs(value_of(cell_of(t, "\u0394 alpha \u2212 published", "BoolQ")) -
                     (f->e.boolq_alpha_uncond - 0.765)) < 1e-12);
    assert_false(has_row(t, "\u0394 beta \u2212 published"));
    /* The long table keeps only the newest hellaswag cells (0- and 5-shot). */
    cJSON *lt = table_of(root, "results"), *r;
    int hs_rows = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(lt, "rows")) {
        const char *task = cJSON_GetObjectItem(cJSON_GetArrayItem(r, 1), "text")->valuestring;
        if (!strcmp(task, "hellaswag")) {
            hs_rows++;
            assert_true(value_of(cJSON_GetArrayItem(r, 4)) != f->e.hs_alpha_old);
        }
    }
    assert_int_equal(hs_rows, 3); /* acc, acc_norm of the 0-shot cell; acc_norm of the 5-shot one */
    /* The CSV carries the shown (percent) value at full precision. */
    char path[4200], want[64];
    snprintf(path, sizeof path, "%s/csv/zeroshot.csv", f->fx.out);
    char *csv = le_test_read_file(path, NULL);
    assert_non_null(csv);
    snprintf(want, sizeof want, "\nalpha,%.15g,,,%.15g,", 100 * f->e.boolq_alpha_uncond, 100 * f->e.hs_alpha);
    assert_non_null(strstr(csv, want));
    free(csv);
    cJSON_Delete(root);
}

static void report_ppl_quant_and_sweep_tables_should_hold_the_stored_numbers(void **state) {
    struct fixture *f = *state;
    cJSON *root = report_json(f, "--format json --compare-published --no-figures"), *t = table_of(root, "perplexity");
    assert_non_null(t);
    assert_true(value_of(cell_of(t, "alpha", "llamacpp ctx 512")) == f->e.ppl_alpha_512);
    assert_true(value_of(cell_of(t, "beta", "llamacpp ctx 512")) == f->e.ppl_beta_512);
    assert_true(value_of(cell_of(t, "alpha", "gptq ctx 2048")) == f->e.ppl_alpha_2048);
    assert_null(cell_of(t, "beta", "gptq ctx 2048"));
    assert_true(value_of(cell_of(t, "LLaMA 7B F16, llama.cpp (published)", "llamacpp ctx 512")) == 5.9066);
    assert_true(fabs(value_of(cell_of(t, "\u0394 alpha \u2212 LLaMA 7B F16, llama.cpp (published)",
                                      "llamacpp ctx 512")) - (f->e.ppl_alpha_512 - 5.9066)) < 1e-12);
    /* GPTQ layout: FP16 is the base's perplexity; bits x method columns. */
    cJSON *g = table_of(root, "gptq");
    assert_non_null(g);
    assert_true(value_of(cell_of(g, "alpha", "FP16")) == f->e.q4_base);
    assert_true(value_of(cell_of(g, "alpha", "4bit-RTN")) == f->e.q4_ppl);
    assert_true(value_of(cell_of(g, "alpha", "8bit-RTN")) == f->e.q8_ppl);
    assert_null(cell_of(g, "alpha", "4bit-GPTQ"));
    assert_true(value_of(cell_of(g, "LLaMa-7B (published)", "4bit-GPTQ")) == 6.09);
    /* llama.cpp layout, ordered by bits per weight. */
    cJSON *q = table_of(root, "quant");
    cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "rows"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(row, 2), "text")->valuestring, "Q4_0");
    assert_true(value_of(cJSON_GetArrayItem(row, col_of(q, "Bits"))) == f->e.q4_bpw);
    assert_true(value_of(cJSON_GetArrayItem(row, col_of(q, "\u0394PPL"))) == f->e.q4_ppl - f->e.q4_base);
    assert_true(value_of(cJSON_GetArrayItem(row, col_of(q, "KLD"))) == f->e.q4_kld);
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "rows"), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(row, 2), "text")->valuestring, "Q8_0");
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(row, col_of(q, "Top-1"))));
    /* Every sweep cell, with its final loss. */
    cJSON *s = table_of(root, "sweep");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "rows")), LE_REPDB_CELLS);
    for (int b = 0; b < LE_REPDB_BUDGETS; b++)
        for (int k = 0; k < LE_REPDB_SIZES; k++) {
            char label[32];
            snprintf(label, sizeof label, "C%d-N%d", b, k);
            assert_true(value_of(cell_of(s, label, "Loss")) == f->e.loss[b * LE_REPDB_SIZES + k]);
            assert_true(value_of(cell_of(s, label, "N")) == llround(f->e.n[b * LE_REPDB_SIZES + k]));
        }
    /* Chinchilla's Table 2 and the parametric fit recover the law the sweep was drawn from. */
    const struct le_repdb *e = &f->e;
    double a_true = e->beta / (e->alpha + e->beta), b_true = e->alpha / (e->alpha + e->beta);
    cJSON *t2 = table_of(root, "chinchilla-table2");
    assert_non_null(t2);
    assert_true(fabs(value_of(cell_of(t2, "3. Parametric modelling of the loss", "a (")) - a_true) < 1e-3);
    assert_true(fabs(value_of(cell_of(t2, "3. Parametric modelling of the loss", "b (")) - b_true) < 1e-3);
    assert_true(fabs(value_of(cell_of(t2, "2. IsoFLOP profiles", "a (")) - a_true) < 0.01);
    cJSON *pub = cell_of(t2, "3. Parametric modelling of the loss", "Chinchilla a");
    assert_true(value_of(pub) == 0.46);
    assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(pub, "interval"), 0)->valuedouble == 0.454);
    assert_true(value_of(cell_of(t2, "Kaplan et al. (2020)", "Chinchilla a")) == 0.73);
    cJSON *pt = table_of(root, "parametric");
    assert_non_null(pt);
    assert_true(fabs(value_of(cell_of(pt, "E", "Ours")) - e->E) < 1e-3 * e->E);
    assert_true(fabs(value_of(cell_of(pt, "A", "Ours")) - e->A) < 1e-2 * e->A);
    assert_true(fabs(value_of(cell_of(pt, "B", "Ours")) - e->B) < 1e-2 * e->B);
    assert_true(fabs(value_of(cell_of(pt, "\u03b1", "Ours")) - e->alpha) < 1e-3);
    assert_true(fabs(value_of(cell_of(pt, "\u03b2", "Ours")) - e->beta) < 1e-3);
    double ours_e = value_of(cell_of(pt, "E", "Ours"));
    assert_true(fabs(value_of(cell_of(pt, "E", "Ours \u2212 Chinchilla")) - (ours_e - 1.69)) < 1e-12);
    assert_true(fabs(value_of(cell_of(pt, "E", "Ours \u2212 Besiroglu")) - (ours_e - 1.8172)) < 1e-12);
    /* Every budget's minimum lies inside its sizes: all three are used. */
    cJSON *iso = table_of(root, "isoflop"), *br;
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(iso, "rows")), LE_REPDB_BUDGETS);
    cJSON_ArrayForEach(br, cJSON_GetObjectItem(iso, "rows"))
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(br, 7), "text")->valuestring, "yes");
    /* Provenance: both runs, the database and its schema version. */
    cJSON *runs = table_of(root, "runs");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(runs, "rows")), 2);
    assert_int_equal(cJSON_GetObjectItem(root, "schema_version")->valueint, le_store_schema_latest());
    assert_string_equal(cJSON_GetObjectItem(root, "database")->valuestring, f->fx.db);
    cJSON_Delete(root);
}

/* Functions for figures. */

static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void assert_figure(const struct fixture *f, const char *id, const char *series) {
    char path[4300];
    static const char *const ext[] = {"gp", "dat", "pdf"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/figures/%s.%s", f->fx.out, id, ext[i]);
        size_t n = 0;
        char *data = le_test_read_file(path, &n);
        if (!data)
            fail_msg("%s missing", path);
        assert_true(n > 0);
        if (!strcmp(ext[i], "pdf"))
            assert_memory_equal(data, "%PDF-", 5);
        free(data);
    }
    snprintf(path, sizeof path, "%s/figures/%s.svg", f->fx.out, id);
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        fail_msg("%s is not well-formed XML", path);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_non_null(root);
    assert_string_equal((const char *)root->name, "svg");
    xmlFreeDoc(doc);
    char *svg = le_test_read_file(path, NULL);
    assert_non_null(svg);
    /* Plotted: more paths than the frame and ticks alone draw, and the series' name in the key. */
    if (count_of(svg, "<path") < 8)
        fail_msg("%s has only %d paths", path, count_of(svg, "<path"));
    if (series && !strstr(svg, series))
        fail_msg("%s does not name the series %s", path, series);
    assert_null(strstr(svg, "<script"));
    free(svg);
}

static void report_figures_should_be_valid_nonempty_svg_and_pdf(void **state) {
    struct fixture *f = *state;
    build(f);
    char *out = NULL;
    int rc = run_report(f, &out, "--format html,md --compare-published");
    if (rc != 0)
        fail_msg("report failed: %s", out ? out : "");
    free(out);
    assert_figure(f, "accuracy", "alpha");
    assert_figure(f, "curves", "C0-N0");
    assert_figure(f, "loss-flops", NULL);
    assert_figure(f, "quant-dppl", "alpha");
    assert_figure(f, "quant-kld", "alpha");
    assert_figure(f, "isoflop", "C = 4e+15");
    assert_figure(f, "nopt", "approach 2");
    assert_figure(f, "dopt", "approach 2");
    assert_figure(f, "exponents", "approach 3");
    assert_figure(f, "tokens-per-param", "20 tokens per parameter");
    /* The HTML inlines every figure and references nothing outside itself. */
    char path[4200];
    snprintf(path, sizeof path, "%s/report.html", f->fx.out);
    char *html = le_test_read_file(path, NULL);
    assert_non_null(html);
    assert_int_equal(count_of(html, "src=\"data:image/svg+xml;base64,"), count_of(html, "<img "));
    assert_int_equal(count_of(html, "<img "), 10);
    assert_null(strstr(html, "src=\"http"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "<script src"));
    assert_null(strstr(html, "@import"));
    /* Every table number has its provenance as a tooltip. */
    assert_non_null(strstr(html, "title=\"acc_norm = 0.7012 \u00b1 0.0046, n = 10042; task hellaswag; model alpha"));
    free(html);
}

/* Functions for schema versions and failures. */

static void report_should_migrate_an_older_schema_in_memory(void **state) {
    struct fixture *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open_at_version(&s, f->fx.db, 1), 0);
    int v = 0;
    assert_int_equal(le_store_schema_version(s, &v), 0);
    assert_int_equal(v, 1);
    int64_t model, run;
    struct le_store_model m = {.sha256 = "abcd", .name = "old", .n_params = 1000, .n_params_nonembed = -1,
                               .file_size = -1, .tokens_trained = -1};
    const struct le_store_result r[] = {{"acc_norm", 0.4375, 0.01, 160}};
    char key[65];
    le_store_cell_key(key, "abcd", "piqa", "{\"num_fewshot\":0}");
    assert_int_equal(le_store_put_model(s, &m, &model), 0);
    assert_int_equal(le_store_begin_run(s, "eval", "{}", 1, 1, &run), 0);
    assert_int_equal(le_store_put_cell(s, key, run, model, "piqa", "{\"num_fewshot\":0}", r, 1), 0);
    le_store_close(s);
    char *out = NULL;
    assert_int_equal(run_report(f, &out, "--format json --no-figures"), 0);
    assert_non_null(strstr(out, "migrated in memory"));
    free(out);
    cJSON *root = load_json(f);
    assert_int_equal(cJSON_GetObjectItem(root, "file_schema_version")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(root, "schema_version")->valueint, le_store_schema_latest());
    assert_true(value_of(cell_of(table_of(root, "zeroshot"), "old", "PIQA")) == 0.4375);
    cJSON_Delete(root);
    /* The file itself was not migrated. */
    assert_int_equal(le_store_open_readonly(&s, f->fx.db), 0);
    assert_int_equal(le_store_schema_version(s, &v), 0);
    assert_int_equal(v, 1);
    le_store_close(s);
}

static void report_should_refuse_a_newer_schema_in_one_line(void **state) {
    struct fixture *f = *state;
    struct le_store *s;
    assert_int_equal(le_store_open_at_version(&s, f->fx.db, le_store_schema_latest() + 1), 0);
    le_store_close(s);
    char *out = NULL;
    assert_int_equal(run_report(f, &out, "--no-figures"), 1);
    assert_non_null(out);
    assert_non_null(strstr(out, "llamaeval: error: "));
    assert_non_null(strstr(out, "newer than this llamaeval supports"));
    assert_int_equal(count_of(out, "\n"), 1);
    free(out);
}

static void report_should_say_in_one_line_when_gnuplot_is_missing(void **state) {
    struct fixture *f = *state;
    build(f);
    char *out = NULL;
    int rc = le_test_sh(&out, "PATH=/nonexistent '%s' report --db '%s' --out '%s'", le_test_bin(), f->fx.db, f->fx.out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "llamaeval: error: gnuplot not found on PATH"));
    assert_non_null(strstr(out, "gnuplot-nox"));
    assert_int_equal(count_of(out, "\n"), 1);
    free(out);
    out = NULL;
    rc = le_test_sh(&out, "PATH=/nonexistent '%s' report --db '%s' --out '%s' --no-figures --only eval", le_test_bin(),
                    f->fx.db, f->fx.out);
    assert_int_equal(rc, 0);
    free(out);
    out = NULL;
    assert_int_equal(run_report(f, &out, "--format pdf"), 2);
    assert_non_null(strstr(out, "--format: unknown value 'pdf'"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(report_zeroshot_table_should_show_the_newest_zero_shot_cell, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(report_ppl_quant_and_sweep_tables_should_hold_the_stored_numbers, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(report_figures_should_be_valid_nonempty_svg_and_pdf, setup,
                                        le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(report_should_migrate_an_older_schema_in_memory, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(report_should_refuse_a_newer_schema_in_one_line, setup, le_test_fx_teardown),
        cmocka_unit_test_setup_teardown(report_should_say_in_one_line_when_gnuplot_is_missing, setup,
                                        le_test_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
