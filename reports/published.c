/*
 * published: the published numbers `report --compare-published` sets beside
 * ours. Each one was read from its source (given per set below, with the
 * table or section) -- never computed or remembered. Sets:
 *
 *   llama-zeroshot  Touvron et al. 2023, "LLaMA: Open and Efficient Foundation
 *                   Language Models" (arXiv:2302.13971), Table 3 "Zero-shot
 *                   performance on Common Sense Reasoning tasks", row LLaMA 7B.
 *                   Accuracy in percent. Keys are llamaeval task names.
 *   llamacpp-7b     llama.cpp README.md (ggerganov/llama.cpp, 2023; the table
 *                   now lives, marked outdated, in examples/quantize/README.md):
 *                   the quantization table's LLaMA 7B rows, perplexity on the
 *                   WikiText-2 test set with context 512 (llama-perplexity), and
 *                   bits/weight. Keys "ppl:<type>" and "bpw:<type>".
 *   gptq-llama7b    IST-DASLab/gptq README.md ("Here is a summary of LLaMa
 *                   results"), Wiki2 PPL of LLaMa-7B: FP16, 4-bit and 3-bit RTN
 *                   and GPTQ, 3-bit GPTQ with groups of 128. Keys "fp16",
 *                   "rtn-4", "gptq-4", "rtn-3", "gptq-3", "gptq-3-g128".
 *   chinchilla      Hoffmann et al. 2022, "Training Compute-Optimal Large
 *                   Language Models" (arXiv:2203.15556): Table 2 (coefficients
 *                   a and b of N_opt ~ C^a, D_opt ~ C^b per approach, with the
 *                   10th and 90th percentiles of their bootstrap -- not 95%
 *                   intervals) and approach 3's fit (Section 3.3 and Appendix
 *                   D.2, Eq. 10: E, A, B, alpha, beta). Keys "a1".."a3",
 *                   "b1".."b3", "E", "A", "B", "alpha", "beta".
 *   kaplan          Kaplan et al. 2020's exponents as Hoffmann et al. 2022 list
 *                   them in Table 2's last row: keys "a", "b".
 *   besiroglu       Besiroglu, Erdil, Barnett and You 2024, "Chinchilla Scaling:
 *                   A replication attempt" (arXiv:2404.10102), Table 1, their
 *                   re-fit of approach 3 (their notebook data_analysis.ipynb
 *                   prints the same: A 482.006, B 2085.434, E 1.817, alpha
 *                   0.348, beta 0.366). Keys "E", "A", "B", "alpha", "beta".
 */
#include "report_int.h"

#include <math.h>
#include <string.h>

#define LLAMA_SRC "LLaMA paper, Table 3"
#define LLAMA_CITE                                                                                                  \
    "Touvron et al. 2023, LLaMA: Open and Efficient Foundation Language Models (arXiv:2302.13971), Table 3, row " \
    "LLaMA 7B"
#define LLAMACPP_SRC "llama.cpp README (2023)"
#define LLAMACPP_CITE                                                                                               \
    "llama.cpp README.md, quantization table (2023; now examples/quantize/README.md, marked outdated): LLaMA 7B, " \
    "WikiText-2 test, context 512"
#define GPTQ_SRC "GPTQ README"
#define GPTQ_CITE "IST-DASLab/gptq README.md, summary of LLaMa results (Wiki2 PPL), row LLaMa-7B"
#define CH_SRC "Chinchilla, Table 2"
#define CH_CITE                                                                                                     \
    "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (arXiv:2203.15556), Table 2; intervals " \
    "are its 10th and 90th bootstrap percentiles"
#define CH3_SRC "Chinchilla, Eq. 10"
#define CH3_CITE "Hoffmann et al. 2022 (arXiv:2203.15556), approach 3 fit, Section 3.3 and Appendix D.2 (Eq. 10)"
#define KAPLAN_SRC "Kaplan et al. 2020 via Chinchilla Table 2"
#define KAPLAN_CITE "Kaplan et al. 2020, as listed in Hoffmann et al. 2022 (arXiv:2203.15556), Table 2, last row"
#define BES_SRC "Besiroglu et al. 2024, Table 1"
#define BES_CITE "Besiroglu, Erdil, Barnett and You 2024, Chinchilla Scaling: A replication attempt (arXiv:2404.10102), Table 1"

#define P(k, v, s, c) {k, v, NAN, NAN, s, c}
#define PI(k, v, lo, hi, s, c) {k, v, lo, hi, s, c}

static const struct le_pub le_pub_llama[] = {
    P("boolq", 76.5, LLAMA_SRC, LLAMA_CITE),      P("piqa", 79.8, LLAMA_SRC, LLAMA_CITE),
    P("siqa", 48.9, LLAMA_SRC, LLAMA_CITE),       P("hellaswag", 76.1, LLAMA_SRC, LLAMA_CITE),
    P("winogrande", 70.1, LLAMA_SRC, LLAMA_CITE), P("arc_easy", 72.8, LLAMA_SRC, LLAMA_CITE),
    P("arc_challenge", 47.6, LLAMA_SRC, LLAMA_CITE), P("openbookqa", 57.2, LLAMA_SRC, LLAMA_CITE),
};

static const struct le_pub le_pub_llamacpp[] = {
    P("ppl:F16", 5.9066, LLAMACPP_SRC, LLAMACPP_CITE),  P("ppl:Q4_0", 6.1565, LLAMACPP_SRC, LLAMACPP_CITE),
    P("ppl:Q4_1", 6.0912, LLAMACPP_SRC, LLAMACPP_CITE), P("ppl:Q5_0", 5.9862, LLAMACPP_SRC, LLAMACPP_CITE),
    P("ppl:Q5_1", 5.9481, LLAMACPP_SRC, LLAMACPP_CITE), P("ppl:Q8_0", 5.9070, LLAMACPP_SRC, LLAMACPP_CITE),
    P("bpw:F16", 16.0, LLAMACPP_SRC, LLAMACPP_CITE),    P("bpw:Q4_0", 4.5, LLAMACPP_SRC, LLAMACPP_CITE),
    P("bpw:Q4_1", 5.0, LLAMACPP_SRC, LLAMACPP_CITE),    P("bpw:Q5_0", 5.5, LLAMACPP_SRC, LLAMACPP_CITE),
    P("bpw:Q5_1", 6.0, LLAMACPP_SRC, LLAMACPP_CITE),    P("bpw:Q8_0", 8.5, LLAMACPP_SRC, LLAMACPP_CITE),
};

static const struct le_pub le_pub_gptq[] = {
    P("fp16", 5.68, GPTQ_SRC, GPTQ_CITE),  P("rtn-4", 6.29, GPTQ_SRC, GPTQ_CITE),
    P("gptq-4", 6.09, GPTQ_SRC, GPTQ_CITE), P("rtn-3", 25.54, GPTQ_SRC, GPTQ_CITE),
    P("gptq-3", 8.07, GPTQ_SRC, GPTQ_CITE), P("gptq-3-g128", 6.61, GPTQ_SRC, GPTQ_CITE),
};

static const struct le_pub le_pub_chinchilla[] = {
    PI("a1", 0.50, 0.488, 0.502, CH_SRC, CH_CITE), PI("b1", 0.50, 0.501, 0.512, CH_SRC, CH_CITE),
    PI("a2", 0.49, 0.462, 0.534, CH_SRC, CH_CITE), PI("b2", 0.51, 0.483, 0.529, CH_SRC, CH_CITE),
    PI("a3", 0.46, 0.454, 0.455, CH_SRC, CH_CITE), PI("b3", 0.54, 0.542, 0.543, CH_SRC, CH_CITE),
    P("E", 1.69, CH3_SRC, CH3_CITE),               P("A", 406.4, CH3_SRC, CH3_CITE),
    P("B", 410.7, CH3_SRC, CH3_CITE),              P("alpha", 0.34, CH3_SRC, CH3_CITE),
    P("beta", 0.28, CH3_SRC, CH3_CITE),
};

static const struct le_pub le_pub_kaplan[] = {
    P("a", 0.73, KAPLAN_SRC, KAPLAN_CITE),
    P("b", 0.27, KAPLAN_SRC, KAPLAN_CITE),
};

static const struct le_pub le_pub_besiroglu[] = {
    P("E", 1.8172, BES_SRC, BES_CITE),    P("A", 482.01, BES_SRC, BES_CITE), P("B", 2085.43, BES_SRC, BES_CITE),
    P("alpha", 0.3478, BES_SRC, BES_CITE), P("beta", 0.3658, BES_SRC, BES_CITE),
};

static const struct {
    const char *name;
    const struct le_pub *p;
    int n;
} le_pub_sets[] = {
#define SET(name, arr) {name, arr, (int)(sizeof arr / sizeof arr[0])}
    SET("llama-zeroshot", le_pub_llama), SET("llamacpp-7b", le_pub_llamacpp), SET("gptq-llama7b", le_pub_gptq),
    SET("chinchilla", le_pub_chinchilla), SET("kaplan", le_pub_kaplan),     SET("besiroglu", le_pub_besiroglu),
#undef SET
};

const struct le_pub *le_pub_list(const char *set, int *n) {
    for (size_t i = 0; i < sizeof le_pub_sets / sizeof le_pub_sets[0]; i++)
        if (!strcmp(set, le_pub_sets[i].name)) {
            *n = le_pub_sets[i].n;
            return le_pub_sets[i].p;
        }
    *n = 0;
    return NULL;
}

const struct le_pub *le_pub_find(const char *set, const char *key) {
    int n;
    const struct le_pub *p = le_pub_list(set, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].key, key))
            return &p[i];
    return NULL;
}
