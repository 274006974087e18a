#!/usr/bin/env python3
"""Reads a GPT exported by `tandem export` as nanoGPT's `GPT` module would load it, and checks
it with a NumPy forward pass written the way nanoGPT's model.py computes it:

  check_gpt.py EXPORTED.safetensors TEXT_FILE EVAL_REPORT.json

- the tensor names are exactly nanoGPT's state_dict keys (lm_head.weight aside: it is tied to
  transformer.wte.weight, so the file holds that tensor once), with PyTorch's shapes;
- x = wte[idx] + wpe[:T]; blocks x += attn(ln_1(x)), x += mlp(ln_2(x)) with c_attn split into
  q, k, v and heads as views (B, T, nh, hd), a causal softmax, exact GELU; ln_f; logits = x wteᵀ;
- the mean cross-entropy over the validation windows `tandem eval` used (the last 10 % of the
  text, a fixed sample spread evenly) equals `tandem eval --json`'s validation_loss.
Exits non-zero with a message on the first disagreement."""
import json, math, sys
import numpy as np
from check_export import read_safetensors, fail


def layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def forward(t, idx, layers, heads):
    B, T = idx.shape
    x = t["transformer.wte.weight"][idx] + t["transformer.wpe.weight"][:T]
    C = x.shape[-1]
    hd = C // heads
    mask = np.tril(np.ones((T, T), dtype=bool))
    for l in range(layers):
        p = f"transformer.h.{l}."
        h = layer_norm(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"])
        qkv = h @ t[p + "attn.c_attn.weight"].T + t[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=2)
        q, k, v = (a.reshape(B, T, heads, hd).transpose(0, 2, 1, 3) for a in (q, k, v))
        att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
        att = np.where(mask, att, -np.inf)
        att = np.exp(att - att.max(-1, keepdims=True))
        att = att / att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ t[p + "attn.c_proj.weight"].T + t[p + "attn.c_proj.bias"]
        h = layer_norm(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"])
        h = gelu(h @ t[p + "mlp.c_fc.weight"].T + t[p + "mlp.c_fc.bias"])
        x = x + h @ t[p + "mlp.c_proj.weight"].T + t[p + "mlp.c_proj.bias"]
    x = layer_norm(x, t["transformer.ln_f.weight"], t["transformer.ln_f.bias"])
    return x @ t["transformer.wte.weight"].T   # lm_head, tied


def main():
    weights, text_path, eval_path = sys.argv[1:4]
    meta, tensors = read_safetensors(weights)
    tensors = {k: v.astype(np.float64) for k, v in tensors.items()}
    sizes = dict(item.split("=") for item in meta["model"].split(":", 1)[1].split(","))
    layers, heads, C, T = (int(sizes[k]) for k in ("layers", "heads", "dim", "context"))
    V = int(sizes.get("vocab", 256))

    expected = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (T, C),
                "transformer.ln_f.weight": (C,), "transformer.ln_f.bias": (C,)}
    for l in range(layers):
        p = f"transformer.h.{l}."
        expected.update({p + "ln_1.weight": (C,), p + "ln_1.bias": (C,), p + "attn.c_attn.weight": (3 * C, C),
                         p + "attn.c_attn.bias": (3 * C,), p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
                         p + "ln_2.weight": (C,), p + "ln_2.bias": (C,), p + "mlp.c_fc.weight": (4 * C, C),
                         p + "mlp.c_fc.bias": (4 * C,), p + "mlp.c_proj.weight": (C, 4 * C), p + "mlp.c_proj.bias": (C,)})
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != expected:
        fail(f"names or shapes differ from nanoGPT's: missing {sorted(set(expected) - set(got))}, "
             f"unexpected {sorted(set(got) - set(expected))}, "
             f"shapes {[(k, got[k], expected[k]) for k in got if k in expected and got[k] != expected[k]]}")

    text = np.frombuffer(open(text_path, "rb").read(), dtype=np.uint8)
    validation = text[len(text) * 9 // 10:]
    windows = len(validation) - T
    report = json.load(open(eval_path))
    sample = report["windows"]
    starts = [0] if sample == 1 else [i * (windows - 1) // (sample - 1) for i in range(sample)]
    idx = np.stack([validation[s:s + T] for s in starts]).astype(np.int64)
    targets = np.stack([validation[s + 1:s + T + 1] for s in starts]).astype(np.int64)
    logits = forward(tensors, idx, layers, heads)
    logits = logits - logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    loss = -np.take_along_axis(logp, targets[..., None], axis=-1).mean()
    theirs = report["validation_loss"]
    if abs(loss - theirs) > 1e-4 * abs(theirs):
        fail(f"NumPy's validation loss {loss:.6f} differs from tandem's {theirs:.6f}")
    print(f"nanoGPT layout agrees: {len(tensors)} tensors, validation loss {loss:.6f} (tandem {theirs:.6f}) over {sample} windows")


if __name__ == "__main__":
    main()
