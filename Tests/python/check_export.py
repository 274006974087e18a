#!/usr/bin/env python3
"""Reads a file written by `tandem export` with nothing but the standard library and NumPy,
and checks it against what tandem said about it:

  check_export.py EXPORTED.safetensors EXPORT_REPORT.json EVAL_REPORT.json DATA_DIR

- tensor names, shapes and first values equal those in `tandem export --json`;
- the layout is PyTorch's (Linear weight [out, in]): a NumPy forward pass of the MLP over the
  Fashion-MNIST test set reproduces `tandem eval --json`'s accuracy.
Exits non-zero with a message on the first disagreement."""
import gzip, json, struct, sys
import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    payload = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", f"{name}: dtype {entry['dtype']}"
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(payload[begin:end], dtype="<f4").reshape(entry["shape"])
    return meta, tensors


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data[4 + 4 * dims:], dtype=np.uint8).reshape(shape)


def test_set(data_dir):
    """Fashion-MNIST's test images as float32 in [0, 1], [10000, 28, 28], and their labels."""
    images = read_idx(f"{data_dir}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
    return images, read_idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz")


def expected_accuracy(accuracy, eval_report):
    """`tandem eval --json`'s test accuracy, after checking that `accuracy` reproduces it."""
    expected = json.load(open(eval_report))["test_accuracy"]
    if abs(accuracy - expected) > 2e-4:
        fail(f"NumPy forward pass gives accuracy {accuracy}, tandem eval says {expected}")
    return expected


def fail(message):
    print("check_export: " + message, file=sys.stderr)
    sys.exit(1)


def main():
    exported, export_report, eval_report, data_dir = sys.argv[1:5]
    meta, tensors = read_safetensors(exported)
    report = json.load(open(export_report))
    names = [t["name"] for t in report["tensors"]]
    if sorted(names) != sorted(tensors):
        fail(f"tensor names differ: file {sorted(tensors)} vs tandem {sorted(names)}")
    for t in report["tensors"]:
        array = tensors[t["name"]]
        if list(array.shape) != t["shape"]:
            fail(f"{t['name']}: shape {list(array.shape)} vs tandem {t['shape']}")
        if not np.allclose(array.reshape(-1)[:4], t["first"], rtol=0, atol=0):
            fail(f"{t['name']}: first values {array.reshape(-1)[:4]} vs tandem {t['first']}")
        if not np.isclose(array.astype(np.float64).sum(), t["sum"], rtol=1e-9, atol=1e-9):
            fail(f"{t['name']}: sum {array.sum()} vs tandem {t['sum']}")
    if not meta.get("model", "").startswith("mlp:"):
        fail(f"expected an mlp: model, got {meta.get('model')}")

    # PyTorch's nn.Sequential(Linear, ReLU, Linear, ...): weights at even indices, [out, in].
    images, labels = test_set(data_dir)
    layers = sorted({int(k.split(".")[0]) for k in tensors})
    x = images.reshape(len(images), -1)
    for i, index in enumerate(layers):
        x = x @ tensors[f"{index}.weight"].T + tensors[f"{index}.bias"]
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    accuracy = float((x.argmax(axis=1) == labels).mean())
    expected = expected_accuracy(accuracy, eval_report)
    print(f"check_export: {len(tensors)} tensors agree; NumPy accuracy {accuracy:.4f} = tandem {expected:.4f}")


if __name__ == "__main__":
    main()
