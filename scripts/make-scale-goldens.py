#!/usr/bin/env python3
"""Developer-only: transformers goldens for random-weight models at the REAL size of each family's
best-known reranker (uses torch + transformers + numpy). Never run by CI.

    bash scripts/setup-python.sh
    .cache/venv/bin/python scripts/make-scale-goldens.py            # writes test/fixtures/scale-goldens.json
    .cache/venv/bin/python scripts/make-scale-goldens.py --write-model xlm-roberta-large DIR
                                                                    # a whole model folder (bench, peak RSS)

Such models are hundreds of MB and are not committed. Their weights come instead from a counter-based
generator simple enough to be written twice, here (numpy) and in test/helpers/counter-weights.ts:
element i of the tensor named N is a function of (N, i) only,

    seed = FNV-1a-32(UTF-8 bytes of N)
    h    = fmix32((seed + i * 0x9E3779B1) mod 2^32)        (MurmurHash3's finaliser)
    *norm.weight:     1 + ((h >> 16) - 2^15) * 2^-19         uniform in [1 - 1/16, 1 + 1/16)
    *norm.bias:           ((h >> 16) - 2^15) * 2^-20         uniform in [-1/32, 1/32)
    (any name ending in norm.weight / norm.bias, case aside: BERT's LayerNorm, ModernBERT's norms)
    anything else:        ((h >> 8) - 2^23) * 2^-28          uniform in [-1/32, 1/32)

Every value is an integer of at most 24 bits times a power of two, so float32 holds it exactly and
both implementations give the same bits with no rounding to agree on. The goldens record each
tensor's name, shape and the SHA-256 of its float32 little-endian bytes; the ava test
(test/scale.test.ts) regenerates the tensors, checks those hashes, writes model.safetensors into a
temporary folder next to the committed config and the tiny-F fixture's tokenizer, and compares its
token ids and logits with transformers' on long pairs from ../shared/data.

The vocabularies are cut to the tiny-F fixtures' tokenizers (2,000 entries for XLM-R and RoBERTa;
BERT and ELECTRA keep the 30,522-entry uncased WordPiece vocabulary).

ModernBERT needs transformers >= 4.48, which the 4.44 venv lacks: its goldens are made apart, with
make-modernbert-fixtures.py's venv (its docstring says how to make it; it patches torch 1.13 for
4.48 the same way here), into scale-goldens-modernbert.json:

    .cache/venv-modernbert/bin/python scripts/make-scale-goldens.py --modernbert
"""
import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if "--modernbert" in sys.argv:
    # transformers 4.48's ModernBERT on torch 1.13: the patches make-modernbert-fixtures.py applies
    # before it imports transformers (its module docstring explains them).
    sys.path.insert(0, HERE)
    import torch1_compat  # noqa: F401  (patches torch on import)
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(HERE, "make-fixtures.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

GENERATOR = "scripts/make-scale-goldens.py"
OUT = os.path.join(base.FIXTURES, "scale-goldens.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")

# The shapes of the best-known reranker of each family (vocabulary aside).
FAMILIES = {
    # cross-encoder/ms-marco-MiniLM-L-12-v2
    "bert": dict(tokenizer="tiny", config=dict(
        model_type="bert", architectures=["BertForSequenceClassification"], num_hidden_layers=12,
        hidden_size=384, num_attention_heads=12, intermediate_size=1536, max_position_embeddings=512,
        type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0)),
    # BAAI/bge-reranker-base
    "xlm-roberta": dict(tokenizer="tiny-xlm-roberta", config=dict(
        model_type="xlm-roberta", architectures=["XLMRobertaForSequenceClassification"],
        num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072,
        max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1,
        bos_token_id=0, eos_token_id=2)),
    # cross-encoder/stsb-roberta-base
    "roberta": dict(tokenizer="tiny-roberta", config=dict(
        model_type="roberta", architectures=["RobertaForSequenceClassification"], num_hidden_layers=12,
        hidden_size=768, num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
        type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
    # cross-encoder/ms-marco-electra-base
    "electra": dict(tokenizer="tiny-electra", config=dict(
        model_type="electra", architectures=["ElectraForSequenceClassification"], num_hidden_layers=12,
        hidden_size=768, embedding_size=768, num_attention_heads=12, intermediate_size=3072,
        max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0)),
}
# Alibaba-NLP/gte-reranker-modernbert-base (ModernBERT-base's shape): made with --modernbert only.
MODERNBERT = {
    "modernbert": dict(tokenizer="tiny-modernbert", config=dict(
        model_type="modernbert", architectures=["ModernBertForSequenceClassification"], num_hidden_layers=22,
        hidden_size=768, num_attention_heads=12, intermediate_size=1152, max_position_embeddings=8192,
        global_attn_every_n_layers=3, local_attention=128, global_rope_theta=160000.0,
        local_rope_theta=10000.0, norm_eps=1e-5, norm_bias=False, attention_bias=False, mlp_bias=False,
        classifier_pooling="mean", classifier_activation="gelu", hidden_activation="gelu",
        pad_token_id=3, cls_token_id=1, sep_token_id=2, bos_token_id=1, eos_token_id=2)),
}
OUT_MODERNBERT = os.path.join(base.FIXTURES, "scale-goldens-modernbert.json")
# Bench and peak-RSS models only (--write-model), never in the goldens.
EXTRA_SHAPES = {
    # BAAI/bge-reranker-v2-m3: XLM-R large with 8,194 positions (8,192 tokens after the pad offset)
    "xlm-roberta-large": dict(tokenizer="tiny-xlm-roberta", config=dict(
        FAMILIES["xlm-roberta"]["config"], num_hidden_layers=24, hidden_size=1024, num_attention_heads=16,
        intermediate_size=4096, max_position_embeddings=8194)),
}

# The make-fixtures.py cases used: three long ones (512 tokens after truncation) and a CJK one
# (long for the WordPiece and Unigram vocabularies, 126 tokens for the byte-level BPE's merges).
CASES = ("edge: long passage, concat of 12 TREC passages",
         "edge: long query and long passage",
         "only_second: TREC query, blank-line concat passage",
         "only_second: CJK long passage")

FNV_OFFSET, FNV_PRIME = 0x811C9DC5, 0x01000193


def fnv1a32(name):
    h = FNV_OFFSET
    for b in name.encode("utf-8"):
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def counter_tensor(name, shape):
    """The generator in the module docstring, as float32."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        h = np.uint32(fnv1a32(name)) + np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B1)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    if name.lower().endswith("norm.weight"):
        v = 1.0 + ((h >> np.uint32(16)).astype(np.float64) - 2.0 ** 15) * 2.0 ** -19
    elif name.lower().endswith("norm.bias"):
        v = ((h >> np.uint32(16)).astype(np.float64) - 2.0 ** 15) * 2.0 ** -20
    else:
        v = ((h >> np.uint32(8)).astype(np.float64) - 2.0 ** 23) * 2.0 ** -28
    v32 = v.astype(np.float32)
    assert np.array_equal(v32.astype(np.float64), v), name  # exact in float32, as promised
    return v32.reshape(shape)


def build(shape_spec, vocab_size):
    fields = dict(shape_spec["config"], vocab_size=vocab_size, num_labels=1, hidden_act="gelu")
    config = transformers.AutoConfig.for_model(**{k: v for k, v in fields.items() if k != "architectures"})
    config.architectures = fields["architectures"]
    # Eager attention: the plain softmax(QK^T)V transformers' other families use (ModernBERT would
    # otherwise pick SDPA, which torch 1.13 lacks).
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    tensors = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            values = counter_tensor(name, tuple(p.shape))
            p.copy_(torch.from_numpy(values))
            tensors.append({"name": name, "shape": list(p.shape),
                            "sha256": hashlib.sha256(values.astype("<f4").tobytes()).hexdigest()})
    model.eval()
    return model, tensors


def copy_tokenizer(tokenizer_fixture, out_dir):
    src = os.path.join(base.FIXTURES, tokenizer_fixture)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(out_dir, name))


def write_model(shape_name, out_dir, max_length=None):
    spec = FAMILIES.get(shape_name) or EXTRA_SHAPES[shape_name]
    os.makedirs(out_dir, exist_ok=True)
    copy_tokenizer(spec["tokenizer"], out_dir)
    tok = AutoTokenizer.from_pretrained(out_dir)
    model, _ = build(spec, len(tok))
    model.save_pretrained(out_dir, safe_serialization=True)
    if max_length:
        path = os.path.join(out_dir, "tokenizer_config.json")
        tc = json.load(open(path, encoding="utf-8"))
        tc["model_max_length"] = max_length
        json.dump(tc, open(path, "w", encoding="utf-8"), indent=2, ensure_ascii=False)
    print("wrote %s (%s shape, random counter weights)" % (out_dir, shape_name))


def goldens(data, families, out_path):
    cases = {c["name"]: c for c in base.build_cases(data)}
    doc = {"generator": GENERATOR, "torch": torch.__version__, "transformers": transformers.__version__,
           "families": {}}
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for family, spec in families.items():
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            copy_tokenizer(spec["tokenizer"], tmp)
            tok = AutoTokenizer.from_pretrained(tmp)
        model, tensors = build(spec, len(tok))
        out = []
        with torch.no_grad():
            for name in CASES:
                c = cases[name]
                q, p = data.resolve(c["query"]), data.resolve(c["passage"])
                enc = tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"],
                          return_token_type_ids=True)
                ids, tt = list(enc["input_ids"][0]), list(enc["token_type_ids"][0])
                extra = {"token_type_ids": torch.tensor([tt])} if spec["config"].get("type_vocab_size", 1) > 1 else {}
                logits = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               **extra).logits[0]
                out.append({k: c[k] for k in ("name", "query", "passage", "truncation", "maxLength")})
                out[-1].update({"ids": ids, "typeIds": tt, "logits": [float(x) for x in logits.tolist()]})
        config = json.loads(model.config.to_json_string())
        config.pop("transformers_version", None)
        doc["families"][family] = {"tokenizerFrom": spec["tokenizer"], "config": config,
                                   "tensors": tensors, "cases": out}
        print("%s: %d tensors, %.1fM parameters, pairs of %s tokens, logits %s (%.0f s)" % (
            family, len(tensors), sum(int(np.prod(t["shape"])) for t in tensors) / 1e6,
            [len(c["ids"]) for c in out], [round(c["logits"][0], 5) for c in out], time.time() - t0))
        del model
    with open(out_path, "w", encoding="ascii") as f:
        json.dump(doc, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print("wrote", out_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-model", nargs=2, metavar=("SHAPE", "DIR"),
                    help="write a whole model folder of SHAPE (%s)" % ", ".join(list(FAMILIES) + list(EXTRA_SHAPES)))
    ap.add_argument("--max-length", type=int, help="with --write-model: tokenizer_config model_max_length")
    ap.add_argument("--modernbert", action="store_true",
                    help="the ModernBERT goldens (transformers >= 4.48) into %s" % os.path.basename(OUT_MODERNBERT))
    args = ap.parse_args()
    if args.write_model:
        write_model(args.write_model[0], args.write_model[1], args.max_length)
    elif args.modernbert:
        goldens(base.Data(), MODERNBERT, OUT_MODERNBERT)
    else:
        goldens(base.Data(), FAMILIES, OUT)


if __name__ == "__main__":
    main()
