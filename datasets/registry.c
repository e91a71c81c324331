/*
 * registry: every downloadable benchmark set, at its ORIGINAL home (the
 * authors' own URLs, as the Hugging Face loading scripts and lm-eval's
 * original tasks fetched them), with archive members, format, licence and
 * citation.
 *
 * Checksums: none of these upstreams publishes a sha256, and we never write
 * one down that we have not computed ourselves. Every sha256 is therefore
 * NULL: the first download pins its digest in <cache>/pins.tsv and every later
 * load is verified against that pin (fetch.c). When a digest has been checked
 * by the project, put it here and it takes precedence over pins.
 *
 * Splits follow lm-eval's use: "validation" is what zero-shot evaluation
 * scores for most sets, "train" feeds few-shot examples, "test" where the set
 * has labelled test data (ARC, OpenBookQA, LAMBADA, WikiText).
 */
#include "le_ds_internal.h"

#include <stddef.h>
#include <string.h>

#define SRC(u) {.url = (u), .sha256 = NULL, .member = NULL, .max_bytes = 0}
#define SRC_MAX(u, m) {.url = (u), .sha256 = NULL, .member = NULL, .max_bytes = (m)}
#define SPLIT(name, s, m) {.split = (name), .src = (s), .member = (m), .label_src = -1}
#define SPLITL(name, s, m, ls, lm, li) \
    {.split = (name), .src = (s), .member = (m), .label_src = (ls), .label_member = (lm), .label_int = (li)}

/* The ARC zip also holds the 14M-sentence ARC Corpus (about 1.3 GB unpacked):
 * a large download, shared by arc_easy and arc_challenge (one cache folder),
 * and hashed in full on each load. */
#define ARC_URL "https://ai2-public-datasets.s3.amazonaws.com/arc/ARC-V1-Feb2018.zip"
#define ARC_LICENCE                                                                  \
    "CC BY-SA 4.0 (per the Hugging Face card); allenai.org/data/arc asks that it be " \
    "distributed only by AI2 and used for non-commercial research"
#define ARC_CITE                                                                                   \
    "Clark, Cowhey, Etzioni, Khot, Sabharwal, Schoenick, Tafjord. Think you have Solved Question " \
    "Answering? Try ARC, the AI2 Reasoning Challenge. arXiv:1803.05457, 2018."

#define SPLIT2(name, s, m, m2) {.split = (name), .src = (s), .member = (m), .label_src = -1, .member2 = (m2)}

static const struct le_ds_def le_ds_defs[] = {
    {
        .e = {"wikitext-2-raw", "zip+text", "CC BY-SA 3.0 (text from Wikipedia)",
              "Merity, Xiong, Bradbury, Socher. Pointer Sentinel Mixture Models. arXiv:1609.07843, 2016.",
              "https://blog.salesforceairesearch.com/the-wikitext-long-term-dependency-language-modeling-dataset/"},
        .dir = "wikitext-2-raw",
        .reader = "wikitext",
        .n_src = 1,
        .src = {SRC("https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip")},
        .n_split = 3,
        .split = {SPLIT("test", 0, "wikitext-2-raw/wiki.test.raw"),
                  SPLIT("validation", 0, "wikitext-2-raw/wiki.valid.raw"),
                  SPLIT("train", 0, "wikitext-2-raw/wiki.train.raw")},
    },
    {
        .e = {"hellaswag", "jsonl", "MIT",
              "Zellers, Holtzman, Bisk, Farhadi, Choi. HellaSwag: Can a Machine Really Finish Your Sentence? "
              "ACL 2019.",
              "https://rowanzellers.com/hellaswag/"},
        .dir = "hellaswag",
        .reader = "jsonl",
        .n_src = 2,
        .src = {SRC("https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"),
                SRC("https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_train.jsonl")},
        .n_split = 2,
        .split = {SPLIT("validation", 0, NULL), SPLIT("train", 1, NULL)},
    },
    {
        .e = {"piqa", "jsonl+lst", "AFL-3.0 (Academic Free License 3.0, per the authors' repository)",
              "Bisk, Zellers, Le Bras, Gao, Choi. PIQA: Reasoning about Physical Commonsense in Natural "
              "Language. AAAI 2020.",
              "https://yonatanbisk.com/piqa/"},
        .dir = "piqa",
        .reader = "jsonl",
        .n_src = 4,
        .src = {SRC("https://yonatanbisk.com/piqa/data/valid.jsonl"),
                SRC("https://yonatanbisk.com/piqa/data/valid-labels.lst"),
                SRC("https://yonatanbisk.com/piqa/data/train.jsonl"),
                SRC("https://yonatanbisk.com/piqa/data/train-labels.lst")},
        .n_split = 2,
        .split = {SPLITL("validation", 0, NULL, 1, NULL, 1), SPLITL("train", 2, NULL, 3, NULL, 1)},
    },
    {
        .e = {"arc_easy", "zip+jsonl", ARC_LICENCE, ARC_CITE, "https://allenai.org/data/arc"},
        .dir = "arc",
        .reader = "jsonl",
        .n_src = 1,
        .src = {SRC_MAX(ARC_URL, (int64_t)2 << 30)},
        .n_split = 3,
        .split = {SPLIT("test", 0, "ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Test.jsonl"),
                  SPLIT("validation", 0, "ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Dev.jsonl"),
                  SPLIT("train", 0, "ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-Train.jsonl")},
    },
    {
        .e = {"arc_challenge", "zip+jsonl", ARC_LICENCE, ARC_CITE, "https://allenai.org/data/arc"},
        .dir = "arc",
        .reader = "jsonl",
        .n_src = 1,
        .src = {SRC_MAX(ARC_URL, (int64_t)2 << 30)},
        .n_split = 3,
        .split = {SPLIT("test", 0, "ARC-V1-Feb2018-2/ARC-Challenge/ARC-Challenge-Test.jsonl"),
                  SPLIT("validation", 0, "ARC-V1-Feb2018-2/ARC-Challenge/ARC-Challenge-Dev.jsonl"),
                  SPLIT("train", 0, "ARC-V1-Feb2018-2/ARC-Challenge/ARC-Challenge-Train.jsonl")},
    },
    {
        .e = {"winogrande", "zip+jsonl+lst", "CC-BY (per the Hugging Face card of allenai/winogrande)",
              "Sakaguchi, Le Bras, Bhagavatula, Choi. WinoGrande: An Adversarial Winograd Schema Challenge "
              "at Scale. AAAI 2020.",
              "https://winogrande.allenai.org/"},
        .dir = "winogrande",
        .reader = "jsonl",
        .n_src = 1,
        .src = {SRC("https://storage.googleapis.com/ai2-mosaic/public/winogrande/winogrande_1.1.zip")},
        .n_split = 2,
        .split = {SPLITL("validation", 0, "winogrande_1.1/dev.jsonl", 0, "winogrande_1.1/dev-labels.lst", 0),
                  SPLITL("train", 0, "winogrande_1.1/train_xl.jsonl", 0, "winogrande_1.1/train_xl-labels.lst", 0)},
    },
    {
        .e = {"boolq", "jsonl", "CC BY-SA 3.0",
              "Clark, Lee, Chang, Kwiatkowski, Collins, Toutanova. BoolQ: Exploring the Surprising "
              "Difficulty of Natural Yes/No Questions. NAACL 2019.",
              "https://github.com/google-research-datasets/boolean-questions"},
        .dir = "boolq",
        .reader = "jsonl",
        .n_src = 2,
        .src = {SRC("https://storage.googleapis.com/boolq/dev.jsonl"),
                SRC("https://storage.googleapis.com/boolq/train.jsonl")},
        .n_split = 2,
        .split = {SPLIT("validation", 0, NULL), SPLIT("train", 1, NULL)},
    },
    {
        .e = {"openbookqa", "zip+jsonl", "Apache-2.0 (per the authors' repository allenai/OpenBookQA)",
              "Mihaylov, Clark, Khot, Sabharwal. Can a Suit of Armor Conduct Electricity? A New Dataset for "
              "Open Book Question Answering. EMNLP 2018.",
              "https://allenai.org/data/open-book-qa"},
        .dir = "openbookqa",
        .reader = "jsonl",
        .n_src = 1,
        .src = {SRC("https://ai2-public-datasets.s3.amazonaws.com/open-book-qa/OpenBookQA-V1-Sep2018.zip")},
        .n_split = 3,
        .split = {SPLIT("test", 0, "OpenBookQA-V1-Sep2018/Data/Main/test.jsonl"),
                  SPLIT("validation", 0, "OpenBookQA-V1-Sep2018/Data/Main/dev.jsonl"),
                  SPLIT("train", 0, "OpenBookQA-V1-Sep2018/Data/Main/train.jsonl")},
    },
    {
        .e = {"siqa", "zip+jsonl+lst", "not stated by the upstream release (see homepage)",
              "Sap, Rashkin, Chen, Le Bras, Choi. Social IQa: Commonsense Reasoning about Social "
              "Interactions. EMNLP 2019.",
              "https://leaderboard.allenai.org/socialiqa/submissions/get-started"},
        .dir = "siqa",
        .reader = "jsonl",
        .n_src = 1,
        .src = {SRC("https://storage.googleapis.com/ai2-mosaic/public/socialiqa/socialiqa-train-dev.zip")},
        .n_split = 2,
        .split = {SPLITL("validation", 0, "socialiqa-train-dev/dev.jsonl", 0, "socialiqa-train-dev/dev-labels.lst", 0),
                  SPLITL("train", 0, "socialiqa-train-dev/train.jsonl", 0, "socialiqa-train-dev/train-labels.lst", 0)},
    },
    {
        .e = {"lambada_openai", "jsonl",
              "CC BY 4.0 (LAMBADA); OpenAI's preprocessed test file, see EleutherAI/lambada_openai card",
              "Paperno, Kruszewski, Lazaridou, Pham, Bernardi, Pezzelle, Baroni, Boleda, Fernandez. The "
              "LAMBADA dataset: Word prediction requiring a broad discourse context. ACL 2016. (OpenAI's "
              "version: Radford et al., Language Models are Unsupervised Multitask Learners, 2019.)",
              "https://zenodo.org/record/2630551"},
        .dir = "lambada_openai",
        .reader = "jsonl",
        .n_src = 1,
        .src = {SRC("https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl")},
        .n_split = 1,
        .split = {SPLIT("test", 0, NULL)},
    },
    {
        .e = {"gsm8k", "jsonl", "MIT (per the authors' repository openai/grade-school-math)",
              "Cobbe, Kosaraju, Bavarian, Chen, Jun, Kaiser, Plappert, Tworek, Hilton, Nakano, Hesse, Schulman. "
              "Training Verifiers to Solve Math Word Problems. arXiv:2110.14168, 2021.",
              "https://github.com/openai/grade-school-math"},
        .dir = "gsm8k",
        .reader = "jsonl",
        .n_src = 2,
        .src = {SRC("https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl"),
                SRC("https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/train.jsonl")},
        .n_split = 2,
        .split = {SPLIT("test", 0, NULL), SPLIT("train", 1, NULL)},
    },
    {
        .e = {"nq_open", "jsonl", "CC BY-SA 3.0 (per the authors' repository google-research-datasets/natural-questions)",
              "Kwiatkowski et al. Natural Questions: a Benchmark for Question Answering Research. TACL 2019; "
              "open-domain subset: Lee, Chang, Toutanova. Latent Retrieval for Weakly Supervised Open Domain "
              "Question Answering. ACL 2019.",
              "https://github.com/google-research-datasets/natural-questions/tree/master/nq_open"},
        .dir = "nq_open",
        .reader = "jsonl",
        .n_src = 2,
        .src = {SRC("https://raw.githubusercontent.com/google-research-datasets/natural-questions/master/nq_open/NQ-open.dev.jsonl"),
                SRC("https://raw.githubusercontent.com/google-research-datasets/natural-questions/master/nq_open/NQ-open.train.jsonl")},
        .n_split = 2,
        .split = {SPLIT("validation", 0, NULL), SPLIT("train", 1, NULL)},
    },
    {
        /* rc.nocontext: the reading-comprehension question sets without
         * their evidence; validation = web-dev then wikipedia-dev (7993 +
         * 9951 = 17944 questions, lm-eval's n for triviaqa; the row order of
         * the Hugging Face copy has not been checked against this). */
        .e = {"triviaqa", "tar.gz+json", "Apache-2.0 (per the authors' repository mandarjoshi90/triviaqa)",
              "Joshi, Choi, Weld, Zettlemoyer. TriviaQA: A Large Scale Distantly Supervised Challenge Dataset "
              "for Reading Comprehension. ACL 2017.",
              "https://nlp.cs.washington.edu/triviaqa/"},
        .dir = "triviaqa",
        .reader = "triviaqa",
        .n_src = 1,
        .src = {SRC_MAX("https://nlp.cs.washington.edu/triviaqa/data/triviaqa-rc.tar.gz", (int64_t)3 << 30)},
        .n_split = 2,
        .split = {SPLIT2("validation", 0, "qa/web-dev.json", "qa/wikipedia-dev.json"),
                  SPLIT2("train", 0, "qa/web-train.json", "qa/wikipedia-train.json")},
    },
    {
        /* MMLU: 57 subjects, one CSV per subject and split (no header; rows
         * question,A,B,C,D,answer); "dev" holds the 5 few-shot examples of
         * each subject, "validation" is the archive's val/ folder. */
        .e = {"mmlu", "tar+csv", "MIT (per the authors' repository hendrycks/test)",
              "Hendrycks, Burns, Basart, Zou, Mazeika, Song, Steinhardt. Measuring Massive Multitask Language "
              "Understanding. ICLR 2021.",
              "https://github.com/hendrycks/test"},
        .dir = "mmlu",
        .reader = "mmlu",
        .n_src = 1,
        .src = {SRC("https://people.eecs.berkeley.edu/~hendrycks/data.tar")},
        .n_split = 3,
        .split = {SPLIT("test", 0, "data/test/"), SPLIT("validation", 0, "data/val/"), SPLIT("dev", 0, "data/dev/")},
    },
    {
        /* RACE, high-school level (lm-eval's race: EleutherAI/race "high"):
         * one JSON file per article; documents are articles with their
         * questions (datasets/sets_mc.c). */
        .e = {"race", "tar.gz+json", "non-commercial research use (per the RACE download page)",
              "Lai, Xie, Liu, Yang, Hovy. RACE: Large-scale ReAding Comprehension Dataset From Examinations. "
              "EMNLP 2017.",
              "https://www.cs.cmu.edu/~glai1/data/race/"},
        .dir = "race",
        .reader = "race",
        .n_src = 1,
        .src = {SRC("https://www.cs.cmu.edu/~glai1/data/race/RACE.tar.gz")},
        .n_split = 3,
        .split = {SPLIT("test", 0, "RACE/test/high/"), SPLIT("validation", 0, "RACE/dev/high/"),
                  SPLIT("train", 0, "RACE/train/high/")},
    },
};
static const int le_ds_n = (int)(sizeof le_ds_defs / sizeof le_ds_defs[0]);

static const struct {
    const char *alias, *name;
} le_ds_aliases[] = {
    {"wikitext", "wikitext-2-raw"}, {"wikitext2", "wikitext-2-raw"}, {"wikitext-2-raw-v1", "wikitext-2-raw"},
    {"social_iqa", "siqa"},         {"lambada", "lambada_openai"},   {"obqa", "openbookqa"},
    {"trivia_qa", "triviaqa"},      {"nq", "nq_open"},               {"hendrycks_test", "mmlu"},
    {"race_high", "race"},
};

int le_ds_count(void) { return le_ds_n; }

const struct le_ds_entry *le_ds_get(int i) {
    if (i < 0 || i >= le_ds_n)
        return NULL;
    return &le_ds_defs[i].e;
}

/* Names compare case-insensitively with '-' and '_' alike. */
static int ds_name_eq(const char *a, const char *b) {
    for (;; a++, b++) {
        char x = *a == '-' ? '_' : (*a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a);
        char y = *b == '-' ? '_' : (*b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b);
        if (x != y)
            return 0;
        if (!x)
            return 1;
    }
}

const struct le_ds_entry *le_ds_find(const char *name) {
    if (!name)
        return NULL;
    for (size_t k = 0; k < sizeof le_ds_aliases / sizeof le_ds_aliases[0]; k++)
        if (ds_name_eq(name, le_ds_aliases[k].alias))
            name = le_ds_aliases[k].name;
    for (int i = 0; i < le_ds_n; i++)
        if (ds_name_eq(name, le_ds_defs[i].e.name))
            return &le_ds_defs[i].e;
    return NULL;
}

const struct le_ds_def *le_ds_def_of(const struct le_ds_entry *e) {
    /* Every entry handed out is the first member of a le_ds_def in the table. */
    const struct le_ds_def *d = (const struct le_ds_def *)e;
    return (d >= le_ds_defs && d < le_ds_defs + le_ds_n) ? d : NULL;
}

int le_ds_n_sources(const struct le_ds_entry *e) {
    const struct le_ds_def *d = le_ds_def_of(e);
    return d ? d->n_src : 0;
}

const struct le_ds_source *le_ds_source_at(const struct le_ds_entry *e, int i) {
    const struct le_ds_def *d = le_ds_def_of(e);
    return d && i >= 0 && i < d->n_src ? &d->src[i] : NULL;
}

int le_ds_n_splits(const struct le_ds_entry *e) {
    const struct le_ds_def *d = le_ds_def_of(e);
    return d ? d->n_split : 0;
}

const char *le_ds_split_at(const struct le_ds_entry *e, int i) {
    const struct le_ds_def *d = le_ds_def_of(e);
    return d && i >= 0 && i < d->n_split ? d->split[i].split : NULL;
}
