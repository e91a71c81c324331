# Generates lmeval_expected.json: what lm-evaluation-harness builds for the
# dataset fixtures of mmlu (and its groups mmlu_<group> and subjects
# mmlu_<subject> run on their own), race, gsm8k, gsm8k_cot, triviaqa and nq_open --
# the documents as lm-eval loads them, the requests (context, continuation)
# for several n-shot settings, str(target), and the three hashes of its
# --log_samples lines.
#
# lm-eval version followed: 0.4.13.dev0, commit
# 4e7e0d47f33bc71070c1d38394bafbb52b117163. Pass that checkout's path:
#   python3 gen_lmeval.py /path/to/lm-evaluation-harness > lmeval_expected.json
# (the committed file: CPython 3.11.7, jinja2 3.1.6, PyYAML 6.0.3; only this
# script needs them -- the tests read the JSON).
# The task YAMLs are read from it (pyyaml; their Jinja templates rendered with
# jinja2 configured as lm_eval/utils.py's apply_template), and RACE's
# lm_eval/tasks/race/preprocess_race.py is imported from it as is.
# Restated from lm-eval (same commit) because importing lm_eval needs its
# dependencies: ConfigurableTask.doc_to_target's literal_eval of digit and
# list strings (lm_eval/api/task.py), fewshot_context/build_qa_turn (q +
# target_delimiter + answer + fewshot_delimiter, the description first), the
# samplers (lm_eval/api/samplers.py: default = one random.Random(1234) whose
# .sample(docs, n) runs doc after doc; first_n = docs[:n]; the evaluated
# document is left out only when the few-shot split is the test split),
# and evaluator.py's hashes (sha256 of json.dumps(doc, indent=2,
# ensure_ascii=False), of the first request's context, of str(target)).
# The documents come from the upstream files in tests/data/datasets, turned
# into lm-eval's Hugging Face rows as those datasets' scripts do: MMLU by
# hendrycks_test.py (csv.reader, answer letter -> ClassLabel index, plus
# cais/mmlu's "subject"), RACE by race.py (files in sorted order, a row per
# question) then lm-eval 0.3's RACE._collate_data (rows grouped by article,
# problems {"question", "answer", "options"}, stored as their str() as in
# EleutherAI/race), TriviaQA's Question/Answer.Aliases as question /
# answer.aliases (web-dev then wikipedia-dev).
import ast, csv, glob, hashlib, importlib.util, io, json, os, random, sys
import yaml
from jinja2 import BaseLoader, Environment, StrictUndefined

LM = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
DS = os.path.join(HERE, "..", "datasets")
env = Environment(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True)


def render(t, d):
    return env.from_string(t).render(**d)


class Loader(yaml.SafeLoader):
    pass


Loader.add_constructor("!function", lambda l, n: ("function", l.construct_scalar(n)))


def task_yaml(rel):
    return yaml.load(open(os.path.join(LM, "lm_eval", "tasks", rel), encoding="utf-8"), Loader=Loader)


def doc_to_target(tmpl, doc, has_choices):
    """ConfigurableTask.doc_to_target for a template string."""
    if tmpl in doc:
        return doc[tmpl]
    s = render(tmpl, doc)
    if s.isdigit() and has_choices:
        return ast.literal_eval(s)
    if len(s) >= 2 and s[0] == "[" and s[-1] == "]":
        try:
            return ast.literal_eval(s)
        except (SyntaxError, ValueError):
            return s
    return s


def h(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def doc_hash(doc):
    return h(json.dumps(doc, indent=2, ensure_ascii=False))


class Task:
    """What one lm-eval task config does with documents (the parts used here)."""

    def __init__(self, text, target, choice=None, desc="", tdelim=" ", fdelim="\n\n"):
        self.text, self.target, self.choice = text, target, choice
        self.desc, self.tdelim, self.fdelim = desc, tdelim, fdelim

    def answer(self, d):
        a = self.target(d)
        c = self.choice(d) if self.choice else None
        return c[a] if c and isinstance(a, int) else a[0] if isinstance(a, list) else a

    def context(self, d, shots, desc=None):
        ex = "".join(self.text(s) + self.tdelim + self.answer(s) + self.fdelim for s in shots)
        return (self.desc if desc is None else desc) + ex + self.text(d)

    def requests(self, d, ctx):
        if self.choice:
            return [[ctx, self.tdelim + c] for c in self.choice(d)]
        return [[ctx]]


def record(task, docs, settings, hashable=True):
    """settings: {k: list of few-shot lists, one per document} (+ descriptions)."""
    out = {"docs": docs, "targets": [str(task.target(d)) for d in docs],
           "target_hash": [h(str(task.target(d))) for d in docs], "shots": {}}
    if hashable:
        out["doc_hash"] = [doc_hash(d) for d in docs]
    for k, (shots, descs) in settings.items():
        reqs = [task.requests(d, task.context(d, s, descs[i] if descs else None)) for i, (d, s) in
                enumerate(zip(docs, shots))]
        out["shots"][str(k)] = {"requests": reqs, "prompt_hash": [h(r[0][0]) for r in reqs]}
    return out


def random_shots(pool, n_docs, k):
    rnd = random.Random(1234)
    return [rnd.sample(pool, k) if k else [] for _ in range(n_docs)]


# ---- mmlu ----
tmpl = task_yaml("mmlu/default/_default_template_yaml")
def mmlu_rows(split, folder):
    rows = []
    for path in sorted(glob.glob(os.path.join(DS, "mmlu", "data", folder, "*_%s.csv" % folder))):
        subject = os.path.basename(path)[: -len("_%s.csv" % folder)]
        with open(path, encoding="utf-8", newline="") as f:
            for r in csv.reader(io.StringIO(f.read())):
                rows.append({"question": r[0], "subject": subject, "choices": r[1:5], "answer": "ABCD".index(r[5])})
    return rows

test, dev = mmlu_rows("test", "test"), mmlu_rows("dev", "dev")
descs = [task_yaml("mmlu/default/mmlu_%s.yaml" % d["subject"])["description"] for d in test]
groups = {d["subject"]: task_yaml("mmlu/default/mmlu_%s.yaml" % d["subject"])["tag"] for d in test}
mmlu = Task(lambda d: render(tmpl["doc_to_text"], d), lambda d: doc_to_target(tmpl["doc_to_target"], d, True),
            lambda d: tmpl["doc_to_choice"])
out = {"lm_eval": {"version": "0.4.13.dev0", "commit": "4e7e0d47f33bc71070c1d38394bafbb52b117163"}}
def mmlu_record(docs):
    first_n = lambda k: [[x for x in dev if x["subject"] == d["subject"]][:k] for d in docs]  # FirstNSampler
    ds = [task_yaml("mmlu/default/mmlu_%s.yaml" % d["subject"])["description"] for d in docs]
    return record(mmlu, docs, {0: (first_n(0), ds), 1: (first_n(1), ds), 5: (first_n(5), ds)})
out["mmlu"] = mmlu_record(test)
out["mmlu"]["tags"] = groups
# lm-eval's groups (_mmlu_<group>.yaml: group mmlu_<group>, task [its tag])
# and subjects (mmlu_<subject>.yaml) run on their own: the same requests for
# their documents (subjects in name order); "subtasks" the group's subjects.
for g in ("stem", "other", "social_sciences", "humanities"):
    gy = task_yaml("mmlu/default/_mmlu_%s.yaml" % g)
    docs = [d for d in test if groups[d["subject"]] in gy["task"]]
    if docs:
        out[gy["group"]] = mmlu_record(docs)
        out[gy["group"]]["subtasks"] = sorted({task_yaml("mmlu/default/mmlu_%s.yaml" % d["subject"])["task"]
                                               for d in docs})
for subj in sorted(groups):
    out[task_yaml("mmlu/default/mmlu_%s.yaml" % subj)["task"]] = mmlu_record([d for d in test if d["subject"] == subj])

# ---- race ----
spec = importlib.util.spec_from_file_location("preprocess_race", os.path.join(LM, "lm_eval/tasks/race/preprocess_race.py"))
pr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pr)
race_yaml = task_yaml("race/race.yaml")
assert race_yaml["doc_to_text"] == ("function", "preprocess_race.doc_to_text") and "fewshot_split" not in race_yaml
rows = []
for path in sorted(glob.glob(os.path.join(DS, "race", "RACE", "test", "high", "*.txt"))):  # race.py
    data = json.load(open(path, encoding="utf-8"))
    for q, a, o in zip(data["questions"], data["answers"], data["options"]):
        rows.append({"example_id": data["id"], "article": data["article"], "question": q, "answer": a, "options": o})
by_article = {}
for r in rows:  # lm-eval 0.3 RACE._collate_data
    by_article.setdefault(r["article"], []).append(r)
race_docs = [{"article": v[0]["article"],
              "problems": str([{"question": y["question"], "answer": y["answer"], "options": y["options"]} for y in v])}
             for v in by_article.values()]
race = Task(pr.doc_to_text, pr.doc_to_target, pr.doc_to_choice)
out["race"] = record(race, race_docs, {0: (random_shots(race_docs, len(race_docs), 0), None),
                                       1: (random_shots(race_docs, len(race_docs), 1), None)}, hashable=False)

# ---- gsm8k, gsm8k_cot ----
jl = lambda p: [json.loads(l) for l in open(os.path.join(DS, p), encoding="utf-8") if l.strip()]
gtest, gtrain = jl("gsm8k/test.jsonl"), jl("gsm8k/train.jsonl")
for name, rel in (("gsm8k", "gsm8k/gsm8k.yaml"), ("gsm8k_cot", "gsm8k/gsm8k-cot.yaml")):
    y = task_yaml(rel)
    t = Task(lambda d, y=y: render(y["doc_to_text"], d), lambda d, y=y: doc_to_target(y["doc_to_target"], d, False),
             tdelim=y.get("target_delimiter", " "), fdelim=y.get("fewshot_delimiter", "\n\n"))
    k = y["num_fewshot"]
    if name == "gsm8k":
        shots = random_shots(gtrain, len(gtest), k)
    else:
        shots = [y["fewshot_config"]["samples"][:k] for _ in gtest]
    out[name] = record(t, gtest, {0: ([[] for _ in gtest], None), k: (shots, None)})
    out[name]["gen_kwargs"] = y["generation_kwargs"]

# ---- triviaqa, nq_open ----
def tqa(rel):
    return [{"question": x["Question"], "answer": {"aliases": x["Answer"]["Aliases"]}}
            for x in json.load(open(os.path.join(DS, "triviaqa", "qa", rel), encoding="utf-8"))["Data"]]

sets = {"triviaqa": ("triviaqa/default.yaml", tqa("web-dev.json") + tqa("wikipedia-dev.json"),
                     tqa("web-train.json") + tqa("wikipedia-train.json"), False),
        "nq_open": ("nq_open/nq_open.yaml", jl("nq_open/NQ-open.dev.jsonl"), jl("nq_open/NQ-open.train.jsonl"), True)}
for name, (rel, ev, pool, hashable) in sets.items():
    y = task_yaml(rel)
    t = Task(lambda d, y=y: render(y["doc_to_text"], d), lambda d, y=y: doc_to_target(y["doc_to_target"], d, False),
             desc=y.get("description", ""), tdelim=y.get("target_delimiter", " "),
             fdelim=y.get("fewshot_delimiter", "\n\n"))
    out[name] = record(t, ev, {0: ([[] for _ in ev], None), 1: (random_shots(pool, len(ev), 1), None)}, hashable)
    out[name]["gen_kwargs"] = y["generation_kwargs"]

json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
print()
