#!/usr/bin/env python3
"""Writes the PyTorch fixtures of tests/test_formats.c with real torch.save
(Debian's python3-torch; run with /usr/bin/python3). The C test rebuilds the
same weights from the same integer formula (fx_val / fx_norm in
tests/test_formats.c), so no weights need to be shared any other way.

  meta-tiny/params.json, consolidated.00.pth, consolidated.01.pth
      a 2-layer LLaMA (dim 32, 4 heads, 2 KV heads, FFN 64, vocab 64) in
      float16, split over two model-parallel shards as Meta's checkpoints
      are (column-parallel by rows, row-parallel and the embedding by columns)
  peft-tiny/adapter_config.json, adapter_model.bin
      a PEFT LoRA (r 4, alpha 8) of layer 0 q_proj, layer 1 v_proj and
      layer 0 down_proj, float32

Usage: /usr/bin/python3 tests/data/formats/gen_torch_fixtures.py [OUTDIR]
"""
import json
import os
import sys
from collections import OrderedDict

import torch

DIM, LAYERS, HEADS, KV_HEADS, FFN, VOCAB = 32, 2, 4, 2, 64, 64
HD = DIM // HEADS
KV = KV_HEADS * HD


def val(j, i):
    k = ((i * 2654435761 + j * 40503 + 12345) & 0xFFFFFFFF) >> 20
    return (k - 2048) / 8192.0          # exact in float16


def norm(j, i):
    k = ((i * 2654435761 + j * 40503 + 12345) & 0xFFFFFFFF) >> 20
    return (k >> 2) / 512.0             # exact in float16


def make(j, shape, is_norm=False):
    n = 1
    for d in shape:
        n *= d
    f = norm if is_norm else val
    return torch.tensor([f(j, i) for i in range(n)], dtype=torch.float32).reshape(shape)


def meta_tensors():
    """(name, tensor, split axis or None), in the formula's order j."""
    out = [("tok_embeddings.weight", (VOCAB, DIM), 1, False),
           ("norm.weight", (DIM,), None, True),
           ("output.weight", (VOCAB, DIM), 0, False)]
    for l in range(LAYERS):
        p = "layers.%d." % l
        out += [(p + "attention.wq.weight", (DIM, DIM), 0, False),
                (p + "attention.wk.weight", (KV, DIM), 0, False),
                (p + "attention.wv.weight", (KV, DIM), 0, False),
                (p + "attention.wo.weight", (DIM, DIM), 1, False),
                (p + "feed_forward.w1.weight", (FFN, DIM), 0, False),
                (p + "feed_forward.w2.weight", (DIM, FFN), 1, False),
                (p + "feed_forward.w3.weight", (FFN, DIM), 0, False),
                (p + "attention_norm.weight", (DIM,), None, True),
                (p + "ffn_norm.weight", (DIM,), None, True)]
    return [(n, make(j, s, isn), ax) for j, (n, s, ax, isn) in enumerate(out)]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    meta = os.path.join(root, "meta-tiny")
    os.makedirs(meta, exist_ok=True)
    shards = [OrderedDict(), OrderedDict()]
    for name, t, ax in meta_tensors():
        t = t.half()
        parts = [t, t] if ax is None else torch.chunk(t, 2, dim=ax)
        for s in range(2):
            shards[s][name] = parts[s].clone().contiguous()
    for s in range(2):
        torch.save(shards[s], os.path.join(meta, "consolidated.%02d.pth" % s))
    with open(os.path.join(meta, "params.json"), "w") as f:
        json.dump({"dim": DIM, "multiple_of": 32, "n_heads": HEADS, "n_kv_heads": KV_HEADS,
                   "n_layers": LAYERS, "norm_eps": 1e-05, "vocab_size": -1}, f)

    peft = os.path.join(root, "peft-tiny")
    os.makedirs(peft, exist_ok=True)
    r = 4
    sd = OrderedDict()
    targets = [(0, "self_attn.q_proj", DIM, DIM), (1, "self_attn.v_proj", DIM, KV),
               (0, "mlp.down_proj", FFN, DIM)]
    for j, (l, mod, n_in, n_out) in enumerate(targets):
        p = "base_model.model.model.layers.%d.%s." % (l, mod)
        sd[p + "lora_A.weight"] = make(100 + 2 * j, (r, n_in))
        sd[p + "lora_B.weight"] = make(101 + 2 * j, (n_out, r))
    torch.save(sd, os.path.join(peft, "adapter_model.bin"))
    with open(os.path.join(peft, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": r, "lora_alpha": 8, "lora_dropout": 0.0,
                   "target_modules": ["q_proj", "v_proj", "down_proj"], "bias": "none"}, f)


if __name__ == "__main__":
    main()
