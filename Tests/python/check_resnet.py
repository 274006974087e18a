#!/usr/bin/env python3
"""Runs a convolutional network exported by `tandem export` in NumPy alone, read the way
PyTorch's modules would read its state_dict, and checks it against `tandem eval`:

  check_resnet.py EXPORTED.safetensors EVAL_REPORT.json DATA_DIR

The model is the layer list in the file's metadata (conv, bn, relu, maxpool, resblock, gap,
flatten, linear items; see ModelSpec). Each item reads its tensors by PyTorch's names:
nn.Conv2d `I.weight` [out, in, k, k] (and `I.bias` when it has one), nn.BatchNorm2d `I.weight`,
`I.bias`, `I.running_mean`, `I.running_var`, `I.num_batches_tracked`, torchvision's BasicBlock
`I.conv1`, `I.bn1`, `I.conv2`, `I.bn2`, `I.downsample.0`, `I.downsample.1`, nn.Linear `I.weight`
[out, in]. Batch normalisation in evaluation uses the running statistics. The forward pass over
the Fashion-MNIST test set must reproduce `tandem eval --json`'s accuracy, and every tensor in
the file must have been used. Exits non-zero with a message on the first disagreement."""
import sys

import numpy as np
from check_export import expected_accuracy, fail, read_safetensors, test_set


class Weights:
    """The file's tensors, remembering which were read."""

    def __init__(self, tensors):
        self.tensors, self.used = tensors, set()

    def __call__(self, name, required=True):
        if name not in self.tensors:
            if required:
                fail(f"no tensor {name} (has {sorted(self.tensors)[:12]} …)")
            return None
        self.used.add(name)
        return self.tensors[name].astype(np.float32)


def conv2d(x, weight, bias, stride, padding):
    """Cross-correlation as nn.Conv2d, [N, C, H, W] → [N, O, Ho, Wo]."""
    k = weight.shape[2]
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    y = np.einsum("nchwij,ocij->nohw", windows, weight, optimize=True)
    return y if bias is None else y + bias[None, :, None, None]


def batch_norm(x, w, prefix):
    # nn.BatchNorm2d in eval(): the running statistics, eps 1e-5.
    w(prefix + ".num_batches_tracked")
    mean, var = w(prefix + ".running_mean"), w(prefix + ".running_var")
    scale = w(prefix + ".weight") / np.sqrt(var + 1e-5)
    shift = w(prefix + ".bias") - mean * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def basic_block(x, w, prefix, stride):
    h = np.maximum(batch_norm(conv2d(x, w(prefix + ".conv1.weight"), None, stride, 1), w, prefix + ".bn1"), 0)
    h = batch_norm(conv2d(h, w(prefix + ".conv2.weight"), None, 1, 1), w, prefix + ".bn2")
    projection = w(prefix + ".downsample.0.weight", required=False)
    side = x if projection is None else batch_norm(conv2d(x, projection, None, stride, 0), w, prefix + ".downsample.1")
    return np.maximum(h + side, 0)


def options(argument):
    """'16x3s2p1' → ('16x3', {'s': 2, 'p': 1})."""
    head, found, letter, digits = "", {}, None, ""
    for ch in argument:
        if ch.isalpha() and ch != "x":
            if letter:
                found[letter] = int(digits)
            letter, digits = ch, ""
        elif letter:
            digits += ch
        else:
            head += ch
    if letter:
        found[letter] = int(digits)
    return head, found


def forward(spec, x, w):
    for index, item in enumerate(spec.split(",")):
        name, _, argument = item.partition(":")
        prefix = str(index)
        if name == "conv":
            head, opts = options(argument)
            x = conv2d(x, w(prefix + ".weight"), w(prefix + ".bias", required=False), opts.get("s", 1), opts.get("p", 0))
        elif name == "bn":
            x = batch_norm(x, w, prefix)
        elif name == "relu":
            x = np.maximum(x, 0)
        elif name == "maxpool":
            head, opts = options(argument)
            k = int(head)
            s = opts.get("s", k)
            x = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))
        elif name == "resblock":
            head, opts = options(argument)
            x = basic_block(x, w, prefix, opts.get("s", 1))
        elif name == "gap":
            x = x.mean(axis=(2, 3))
        elif name == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif name == "linear":
            x = x @ w(prefix + ".weight").T + w(prefix + ".bias")
        else:
            fail(f"check_resnet does not know the layer {item!r}")
    return x


def main():
    exported, eval_report, data_dir = sys.argv[1:4]
    meta, tensors = read_safetensors(exported)
    spec = meta.get("model", "")
    if "resblock" not in spec or "bn" not in spec.split(","):
        fail(f"expected a layer list with bn and resblock items, got {spec!r}")
    w = Weights(tensors)
    images, labels = test_set(data_dir)
    predictions = []
    for first in range(0, len(images), 500):
        batch = images[first:first + 500][:, None, :, :]
        predictions.append(forward(spec, batch, w).argmax(axis=1))
    unused = sorted(set(tensors) - w.used)
    if unused:
        fail(f"tensors the PyTorch modules would not read: {unused}")
    accuracy = float((np.concatenate(predictions) == labels).mean())
    expected = expected_accuracy(accuracy, eval_report)
    print(f"check_resnet: {len(tensors)} tensors read as PyTorch's modules; NumPy accuracy {accuracy:.4f} = tandem {expected:.4f}")


if __name__ == "__main__":
    main()
