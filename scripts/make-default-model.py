#!/usr/bin/env python3
"""Developer-only: package the trained reranker as crossrank's default model, and its goldens.

Never run by CI. After scripts/train-reranker.py and `npm run build`:
    .cache/venv/bin/python scripts/make-default-model.py

1. Quantises .cache/models/crossrank-reranker-dl20 (fp32, from train-reranker.py) with
   `crossrank quantize` into models/crossrank-minilm-l6-dl20-int8/: model.safetensors (int8 encoder
   linears and word embeddings with their F32 scales), config.json, tokenizer.json,
   tokenizer_config.json, special_tokens_map.json. vocab.txt is left out (tokenizer.json carries the
   vocabulary); the folder's README.md (the model card) is kept as it is.
2. Writes test/fixtures/default-model-goldens.json: PyTorch fp32 logits of the trained model for 40
   TREC DL 2020 pairs (4 queries x 10 BM25 ranks), one pair at a time, in the format of
   test/fixtures/README.md, with the sha256 of the fp32 source and of the shipped int8 file, so the
   test can tell when the shipped model and the goldens disagree.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import transformers
from transformers import AutoTokenizer, BertForSequenceClassification

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CACHE = os.environ.get("CROSSRANK_CACHE", os.path.join(REPO, ".cache"))
SOURCE = os.path.join(CACHE, "models", "crossrank-reranker-dl20")
NAME = "crossrank-minilm-l6-dl20-int8"
OUT = os.path.join(REPO, "models", NAME)
SHIPPED = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
TREC = os.path.abspath(os.path.join(REPO, "..", "shared", "data", "trec-dl20", "retrieve_results_dl20.json"))
GOLDENS = os.path.join(REPO, "test", "fixtures", "default-model-goldens.json")
MAX_LENGTH = 512


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package():
    if not os.path.isfile(os.path.join(SOURCE, "model.safetensors")):
        sys.exit(f"make-default-model.py: {SOURCE} is missing; run scripts/train-reranker.py first")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["node", os.path.join(REPO, "dist", "lib", "cli.js"), "quantize", SOURCE, tmp], check=True)
        os.makedirs(OUT, exist_ok=True)
        for name in os.listdir(OUT):
            if name != "README.md":
                os.remove(os.path.join(OUT, name))
        for name in SHIPPED:
            shutil.copy(os.path.join(tmp, name), os.path.join(OUT, name))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT}: {total} bytes")


def goldens():
    with open(TREC) as f:
        runs = json.load(f)
    tokenizer = AutoTokenizer.from_pretrained(SOURCE)
    model = BertForSequenceClassification.from_pretrained(SOURCE).eval()
    chosen = [runs[i] for i in (0, 13, 26, 39)]
    cases = []
    with torch.no_grad():
        for entry in chosen:
            hits = sorted(entry["hits"], key=lambda h: h["rank"])
            for r in range(0, 100, 10):
                hit = hits[r]
                enc = tokenizer([entry["query"]], [hit["content"]], truncation="longest_first", max_length=MAX_LENGTH,
                                return_tensors="pt")
                logits = model(**enc).logits[0].tolist()
                cases.append({
                    "name": f"dl20 q{hit['qid']} bm25 rank {hit['rank']}",
                    "query": {"trecQuery": str(hit["qid"])},
                    "passage": {"trecPassage": str(hit["docid"])},
                    "truncation": "longest_first", "maxLength": MAX_LENGTH,
                    "ids": enc["input_ids"][0].tolist(), "typeIds": enc["token_type_ids"][0].tolist(),
                    "logits": logits,
                })
    header = {
        "model": NAME, "generator": "scripts/make-default-model.py", "torch": torch.__version__,
        "transformers": transformers.__version__, "numLabels": 1,
        "logitsFrom": "the fp32 model before quantisation (.cache/models/crossrank-reranker-dl20)",
        "modelSha256": sha256(os.path.join(SOURCE, "model.safetensors")),
        "shippedSha256": sha256(os.path.join(OUT, "model.safetensors")),
    }
    with open(GOLDENS, "w") as f:
        f.write(json.dumps(header, ensure_ascii=True)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=True) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {GOLDENS}: {len(cases)} cases")


if __name__ == "__main__":
    package()
    goldens()
