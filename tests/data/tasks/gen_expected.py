# Generates expected.json: lm-evaluation-harness's prompts for the fixtures
# in this folder, computed with the task YAMLs' Jinja templates (jinja2, as
# lm_eval.utils.apply_template) and the tasks' Python helpers, restated here
# from lm_eval/tasks/{hellaswag/utils.py,winogrande/preprocess_winogrande.py}.
# Few-shot contexts follow ConfigurableTask.fewshot_context: one
# random.Random(1234) sampled doc by doc, each example q + " " + a + "\n\n".
# Run: python3 gen_expected.py > expected.json
import json, random, re, sys
from jinja2 import BaseLoader, Environment, StrictUndefined

env = Environment(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True)
T = lambda t, d: env.from_string(t).render(**d)

def hs_pre(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text

def hellaswag(d):
    ctx = d["ctx_a"] + " " + d["ctx_b"].capitalize()
    return dict(query=hs_pre(d["activity_label"] + ": " + ctx), choices=[hs_pre(e) for e in d["endings"]], gold=int(d["label"]))

def piqa(d):
    return dict(query=T("Question: {{goal}}\nAnswer:", d), choices=[d["sol1"], d["sol2"]], gold=int(d["label"]))

def to_hf_qa(d):  # upstream ARC/OBQA -> the HF datasets' flat schema
    q = d.get("question")
    if isinstance(q, dict):
        return dict(question=q["stem"], question_stem=q["stem"], answerKey=d["answerKey"],
                    choices=dict(text=[c["text"] for c in q["choices"]], label=[c["label"] for c in q["choices"]]))
    return dict(d, question_stem=d.get("question_stem", d.get("question")), question=d.get("question", d.get("question_stem")))

def arc(d):
    h = to_hf_qa(d)
    gold = int(T("{{choices.label.index(answerKey)}}", h))
    return dict(query=T("Question: {{question}}\nAnswer:", h), choices=h["choices"]["text"], gold=gold)

def obqa(d):
    h = to_hf_qa(d)
    return dict(query=h["question_stem"], choices=h["choices"]["text"], gold=int(T("{{choices.label.index(answerKey.lstrip())}}", h)))

def winogrande(d):
    idx = d["sentence"].index("_")
    choices = [d["sentence"][:idx] + o for o in (d["option1"], d["option2"])]
    target = d["sentence"][idx + 1:].strip()
    return dict(query=d["sentence"], choices=choices, gold={"1": 0, "2": 1}[d["answer"]], target=target)

def boolq(d):
    h = dict(d, label=int(d["label"] if "label" in d else d["answer"]))
    return dict(query=T("{{passage}}\nQuestion: {{question}}?\nAnswer:", h), choices=["no", "yes"], gold=h["label"])

def siqa(d):
    return dict(query=T("Q: {{context}} {{question}}\nA:", d), choices=[d["answerA"], d["answerB"], d["answerC"]],
                gold=int(T("{{ (label|int) - 1 }}", d)))

def lambada(d):
    return dict(query=T("{{text.split(' ')[:-1]|join(' ')}}", d), choices=[], gold=-1,
                target=T("{{' '+text.split(' ')[-1]}}", d))

SETS = [("hellaswag", "hellaswag.jsonl", hellaswag, "mc"), ("piqa", "piqa.jsonl", piqa, "mc"),
        ("arc_easy", "arc.jsonl", arc, "mc"), ("openbookqa", "openbookqa.jsonl", obqa, "mc"),
        ("winogrande", "winogrande.jsonl", winogrande, "multi"), ("boolq", "boolq.jsonl", boolq, "mc"),
        ("siqa", "siqa.jsonl", siqa, "mc"), ("lambada_openai", "lambada_openai.jsonl", lambada, "ll")]

def requests(kind, p, prefix):
    if kind == "mc":
        return [[prefix + p["query"], " " + c] for c in p["choices"]]
    if kind == "multi":
        return [[prefix + c, " " + p["target"]] for c in p["choices"]]
    return [[prefix + p["query"], p["target"]]]

def example(kind, p):
    if kind == "mc":
        return p["query"] + " " + p["choices"][p["gold"]] + "\n\n"
    if kind == "multi":
        return p["choices"][p["gold"]] + " " + p["target"] + "\n\n"
    return p["query"] + " " + p["target"] + "\n\n"

out = {}
for name, fn, f, kind in SETS:
    docs = [json.loads(l) for l in open(fn, encoding="utf-8") if l.strip()]
    prompts = [f(d) for d in docs]
    e = {"prompts": prompts, "requests": {}}
    for k in (0, 1, 2):
        rnd = random.Random(1234)
        reqs = []
        for p in prompts:
            prefix = "".join(example(kind, prompts[i]) for i in rnd.sample(range(len(prompts)), k)) if k else ""
            reqs.append(requests(kind, p, prefix))
        e["requests"][str(k)] = reqs
    out[name] = e

# Python's random, for the MT19937 port.
rnd = random.Random(1234)
out["pyrandom"] = {"u32_seed1234": [rnd.getrandbits(32) for _ in range(5)],
                   "sample_10_3": random.Random(1234).sample(range(10), 3),
                   "sample_40000_5": random.Random(1234).sample(range(40000), 5),
                   "sample_100_8": random.Random(7).sample(range(100), 8),
                   "sample_seq": (lambda r: [r.sample(range(30), 2) for _ in range(4)])(random.Random(1234)),
                   "u32_seed_big": [random.Random(2**40 + 5).getrandbits(32)]}
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
print()
