/* le_repdb: the report tests' database. See le_repdb.h. */
#include "le_repdb.h"

#include "le_store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int le_repdb_cell(struct le_store *s, int64_t run, int64_t model, const char *sha, const char *task,
                         const char *config, const struct le_store_result *r, int nr) {
    char key[65];
    le_store_cell_key(key, sha, task, config);
    return le_store_put_cell(s, key, run, model, task, config, r, nr);
}

static int le_repdb_eval(struct le_store *s, int64_t run, int64_t alpha, int64_t beta, const struct le_repdb *e) {
    static const char *sha_a = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
    static const char *sha_b = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
    const struct le_store_result hs_old[] = {{"acc", 0.31, 0.02, 100}, {"acc_norm", e->hs_alpha_old, 0.02, 100}};
    const struct le_store_result hs_new[] = {{"acc", 0.52, 0.005, e->hs_alpha_n},
                                             {"acc_norm", e->hs_alpha, e->hs_alpha_stderr, e->hs_alpha_n}};
    const struct le_store_result hs_5[] = {{"acc_norm", e->hs_alpha_5shot, 0.004, e->hs_alpha_n}};
    const struct le_store_result bq[] = {{"acc", e->boolq_alpha_acc, 0.008, 3270},
                                         {"acc_uncond", e->boolq_alpha_uncond, 0.008, 3270}};
    const struct le_store_result wg[] = {{"acc", e->wg_beta, 0.014, 1267}};
    const struct le_store_result cz_a[] = {{"acc", 0.40, 0.03, 200}, {"acc_norm", e->cloze_alpha_norm, 0.03, 200}};
    const struct le_store_result cz_b[] = {{"acc", e->cloze_beta_acc, 0.03, 200}};
    int rc;
    /* The superseded cell first (older done time), then its replacement. */
    if ((rc = le_repdb_cell(s, run, alpha, sha_a, "hellaswag", "{\"num_fewshot\":0,\"limit\":100}", hs_old, 2)) ||
        (rc = le_repdb_cell(s, run, alpha, sha_a, "hellaswag", "{\"num_fewshot\":0,\"limit\":10042}", hs_new, 2)) ||
        (rc = le_repdb_cell(s, run, alpha, sha_a, "hellaswag", "{\"num_fewshot\":5,\"limit\":10042}", hs_5, 1)) ||
        (rc = le_repdb_cell(s, run, alpha, sha_a, "boolq", "{\"num_fewshot\":0}", bq, 2)) ||
        (rc = le_repdb_cell(s, run, beta, sha_b, "winogrande", "{\"num_fewshot\":0}", wg, 1)) ||
        (rc = le_repdb_cell(s, run, alpha, sha_a, "brown-cloze", "{\"num_fewshot\":0}", cz_a, 2)) ||
        (rc = le_repdb_cell(s, run, beta, sha_b, "brown-cloze", "{\"num_fewshot\":0}", cz_b, 1)))
        return rc;
    const struct le_store_result pa[] = {{"ppl", e->ppl_alpha_512, 0.01, 335000}, {"mean_nll", log(e->ppl_alpha_512), NAN, 335000}};
    const struct le_store_result pb[] = {{"ppl", e->ppl_beta_512, 0.5, 335000}};
    const struct le_store_result pg[] = {{"ppl", e->ppl_alpha_2048, NAN, 340000}};
    const char *c512 = "{\"convention\":\"llamacpp\",\"ctx\":512,\"kv\":\"f32\",\"text_sha256\":\"cafe\"}";
    const char *c2048 = "{\"convention\":\"gptq\",\"ctx\":2048,\"docs\":\"lines\",\"kv\":\"f32\",\"text_sha256\":\"cafe\"}";
    if ((rc = le_repdb_cell(s, run, alpha, sha_a, "ppl", c512, pa, 2)) ||
        (rc = le_repdb_cell(s, run, beta, sha_b, "ppl", c512, pb, 1)) ||
        (rc = le_repdb_cell(s, run, alpha, sha_a, "ppl", c2048, pg, 1)))
        return rc;
    /* Quantized copies of alpha, compared with it. */
    char cfg[512];
    const struct le_store_result q4[] = {{"ppl", e->q4_ppl, NAN, 1000}, {"ppl_base", e->q4_base, NAN, 1000},
                                         {"dppl", e->q4_ppl - e->q4_base, NAN, 1000}, {"kld", e->q4_kld, NAN, 1000},
                                         {"top1", 0.93, NAN, 1000}, {"bpw", e->q4_bpw, NAN, -1},
                                         {"size", 3.8e9, NAN, -1}, {"speed", 120.5, NAN, -1}};
    const struct le_store_result q8[] = {{"ppl", e->q8_ppl, NAN, 1000}, {"ppl_base", e->q4_base, NAN, 1000},
                                         {"dppl", e->q8_ppl - e->q4_base, NAN, 1000}, {"kld", e->q8_kld, NAN, 1000},
                                         {"bpw", e->q8_bpw, NAN, -1}};
    snprintf(cfg, sizeof cfg, "{\"quant\":\"Q4_0\",\"method\":\"rtn\",\"bits\":4,\"base_sha256\":\"%s\","
             "\"convention\":\"gptq\",\"ctx\":2048,\"text_sha256\":\"cafe\"}", sha_a);
    if ((rc = le_repdb_cell(s, run, -1, "c4c4", "compare", cfg, q4, 8)))
        return rc;
    snprintf(cfg, sizeof cfg, "{\"quant\":\"Q8_0\",\"method\":\"rtn\",\"bits\":8,\"base_sha256\":\"%s\","
             "\"convention\":\"gptq\",\"ctx\":2048,\"text_sha256\":\"cafe\"}", sha_a);
    return le_repdb_cell(s, run, -1, "c8c8", "compare", cfg, q8, 5);
}

/* IsoFLOP budgets with sizes spread around each budget's optimum, losses
 * exactly on the law, and curves L(N, t) for t up to D. */
static int le_repdb_sweep(struct le_store *s, int64_t run, struct le_repdb *e) {
    for (int b = 0, i = 0; b < LE_REPDB_BUDGETS; b++) {
        double c = e->budget[b];
        /* The law's optimum under C = 6ND (Hoffmann et al. Eq. 4). */
        double g = pow(e->alpha * e->A / (e->beta * e->B), 1 / (e->alpha + e->beta));
        double nopt = g * pow(c / 6, e->beta / (e->alpha + e->beta));
        for (int k = 0; k < LE_REPDB_SIZES; k++, i++) {
            double n = nopt * pow(2.0, k - 2); /* 1/4 .. 4 x the optimum */
            double d = c / (6 * n);
            e->n[i] = n;
            e->d[i] = d;
            e->loss[i] = e->E + e->A / pow(n, e->alpha) + e->B / pow(d, e->beta);
            char label[64], key[65], cfg[128];
            snprintf(label, sizeof label, "C%d-N%d", b, k);
            snprintf(cfg, sizeof cfg, "{\"budget\":%g,\"size\":%d}", c, k);
            le_store_cell_key(key, "", "sweep", cfg);
            struct le_store_sweep_cell sc = {
                .key = key, .plan = "test", .label = label, .config = cfg, .budget = c, .dim = 64, .n_layers = 2,
                .n_heads = 4, .n_kv_heads = 4, .ffn = 192, .ctx = 128, .vocab = 1024, .tied = 0, .lr = 1e-3,
                .seed = 1, .tokens = (int64_t)llround(d), .n_total = (int64_t)llround(n),
                .n_nonembed = (int64_t)llround(0.8 * n), .n_nonembed_noout = (int64_t)llround(0.6 * n),
                .flops_per_token = 6.6 * n, .flops_6nd = 6 * n * d, .flops_exact = 6.6 * n * d,
            };
            struct le_store_sweep_point pts[LE_REPDB_POINTS];
            for (int p = 0; p < LE_REPDB_POINTS; p++) {
                double t = d * (p + 1) / LE_REPDB_POINTS;
                pts[p] = (struct le_store_sweep_point){p + 1, (int64_t)llround(t), 6.6 * n * t,
                                                       e->E + e->A / pow(n, e->alpha) + e->B / pow(t, e->beta) + 0.05,
                                                       e->E + e->A / pow(n, e->alpha) + e->B / pow(t, e->beta)};
            }
            const struct le_store_result res[] = {{"loss", e->loss[i], NAN, 1000}, {"bpb", e->loss[i] / log(2) / 4, NAN, 1000}};
            int rc;
            if ((rc = le_store_put_sweep_cell(s, &sc)) || (rc = le_store_put_sweep_points(s, key, pts, LE_REPDB_POINTS)) ||
                (rc = le_store_put_cell(s, key, run, -1, "sweep", cfg, res, 2)))
                return rc;
        }
    }
    return 0;
}

int le_repdb_build(const char *path, struct le_repdb *e) {
    *e = (struct le_repdb){
        .alpha_params = 6738415616LL, .beta_params = 59552, .hs_alpha = 0.7012, .hs_alpha_old = 0.25,
        .hs_alpha_5shot = 0.77, .hs_alpha_stderr = 0.0046, .hs_alpha_n = 10042, .boolq_alpha_uncond = 0.7531,
        .boolq_alpha_acc = 0.6, .wg_beta = 0.5114, .cloze_alpha_norm = 0.455, .cloze_beta_acc = 0.305,
        .ppl_alpha_512 = 5.9321, .ppl_beta_512 = 812.25, .ppl_alpha_2048 = 5.71, .q4_ppl = 6.2871, .q4_base = 5.71,
        .q4_kld = 0.0412, .q4_bpw = 4.5, .q8_ppl = 5.7125, .q8_kld = 0.0007, .q8_bpw = 8.5,
        .E = 1.8, .A = 400, .B = 1200, .alpha = 0.35, .beta = 0.33, .budget = {1e15, 4e15, 1.6e16},
    };
    struct le_store *s;
    int rc = le_store_open(&s, path);
    if (rc)
        return rc;
    int64_t alpha, beta, run, train;
    struct le_store_model ma = {.path = "alpha.gguf", .sha256 = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
                                .arch = "llama", .type = "f16", .name = "alpha", .n_params = e->alpha_params,
                                .n_params_nonembed = -1, .file_size = 13000000000LL, .tokens_trained = -1};
    struct le_store_model mb = {.path = "beta.gguf", .sha256 = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
                                .arch = "llama", .type = "f32", .name = "beta", .n_params = e->beta_params,
                                .n_params_nonembed = -1, .file_size = 252096, .tokens_trained = -1};
    struct le_store_step steps[4];
    for (int i = 0; i < 4; i++)
        steps[i] = (struct le_store_step){100 * (i + 1), 51200 * (i + 1), 6.0 - i, 6.2 - i, 1e-3, 1000};
    if (!(rc = le_store_put_model(s, &ma, &alpha)) && !(rc = le_store_put_model(s, &mb, &beta)) &&
        !(rc = le_store_begin_run(s, "eval", "{\"tasks\":\"test\"}", 1234, 2, &run)) &&
        !(rc = le_repdb_eval(s, run, alpha, beta, e)) && !(rc = le_repdb_sweep(s, run, e)) &&
        !(rc = le_store_end_run(s, run, "ok")) && !(rc = le_store_begin_run(s, "train", "{}", 7, 1, &train)) &&
        !(rc = le_store_put_steps(s, train, steps, 4)))
        rc = le_store_end_run(s, train, "ok");
    le_store_close(s);
    return rc;
}
