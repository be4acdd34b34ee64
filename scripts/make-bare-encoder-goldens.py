#!/usr/bin/env python3
"""Developer-only: mean-pooled sentence embeddings of the bare XLM-RoBERTa encoder inside
test/fixtures/tiny-xlm-roberta (transformers' XLMRobertaModel, as multilingual-e5 and bge-m3's dense
vectors run it), for SentenceEncoder on a bare XLM-R (test/embed-families.test.ts). Never run by CI.

    .cache/venv/bin/python scripts/make-bare-encoder-goldens.py

Writes test/fixtures/tiny-xlm-roberta-embed-goldens.json: each text, its ids and the mean over its
tokens of the last hidden state (not normalised).
"""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import transformers
from transformers import AutoModel, AutoTokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(REPO, "test", "fixtures", "tiny-xlm-roberta")
OUT = os.path.join(REPO, "test", "fixtures", "tiny-xlm-roberta-embed-goldens.json")
TEXTS = ["query: how do rerankers work", "passage: Tokyo is the capital of Japan.", "東京は日本の首都です。",
         "Токио — столица Японии.", "القاهرة عاصمة مصر", "a fox 🦊 and a dog", ""]

model = AutoModel.from_pretrained(FOLDER, add_pooling_layer=False, torch_dtype=torch.float32).eval()
tok = AutoTokenizer.from_pretrained(FOLDER)
cases = []
with torch.no_grad():
    for text in TEXTS:
        ids = tok([text], truncation=True, max_length=512)["input_ids"][0]
        hidden = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).last_hidden_state[0]
        cases.append({"text": text, "ids": ids, "mean": [float(x) for x in hidden.mean(dim=0).tolist()]})
with open(OUT, "w", encoding="ascii") as f:
    json.dump({"model": "tiny-xlm-roberta (bare encoder)", "torch": torch.__version__,
               "transformers": transformers.__version__, "cases": cases}, f, ensure_ascii=True)
    f.write("\n")
print("wrote", OUT, len(cases), "texts")
