#!/usr/bin/env python3
"""Developer-only: tiny random cross-encoders of the non-BERT families, with real tokenizers of
each family and transformers goldens (uses torch + transformers + sentencepiece).

Never run by CI. Regenerate with:
    bash scripts/setup-python.sh          # .cache/venv: Debian torch 1.13 + pinned transformers
    .cache/venv/bin/python scripts/make-family-fixtures.py [--only xlm-roberta|roberta]

Writes, per family F:
    test/fixtures/tiny-F/             the model folder (config.json, model.safetensors, tokenizer files)
    test/fixtures/tiny-F-goldens.json golden ids, type ids and logits (format: test/fixtures/README.md)
    test/fixtures/tiny-F-hidden-goldens.json  hidden states of 16 pairs after every layer

The tokenizers are trained here on the texts of the golden cases and STS-B, because no registry
package ships one: XLM-R's as the real one is made (a SentencePiece Unigram model converted by
transformers into tokenizer.json, with its precompiled normalizer), RoBERTa's as a byte-level BPE
saved through RobertaTokenizerFast. The golden cases are make-fixtures.py's (CJK, Arabic,
Cyrillic, emoji, control characters, truncation edges), read from ../shared/data as TextRefs.
"""
import argparse
import importlib.util
import json
import math
import os
import shutil
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import transformers
import tokenizers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(HERE, "make-fixtures.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

GENERATOR = "scripts/make-family-fixtures.py"
SEED = 4321
STD = 0.2            # weights ~ N(0, STD); LayerNorm gamma 1 + N(0, STD), beta N(0, LN_BETA_STD)
LN_BETA_STD = 0.05
VOCAB_SIZE = 2000    # trained tokenizers' vocabulary (special tokens included)
# Small but not SIMD-friendly: head_dim 9 as in tiny/.
SHAPE = dict(hidden_size=36, num_attention_heads=4, intermediate_size=60, num_hidden_layers=2)


def training_texts(data, cases):
    texts = []
    for c in cases:
        for ref in (c["query"], c["passage"]):
            t = base.replace_lone_surrogates(data.resolve(ref))
            if t.strip():
                texts.append(t)
    for split in ("train", "dev"):
        for row in range(0, len(data.stsb[split]), 3):
            f = data.stsb_fields(split, row)
            texts += [f[5], f[6]]
    return texts


def train_xlm_roberta_tokenizer(texts, out_dir):
    """A SentencePiece Unigram model, converted by transformers as XLM-R's own tokenizer.json was."""
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizerFast
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(t.replace("\n", " ").replace("\r", " ") + "\n")
        prefix = os.path.join(tmp, "sentencepiece.bpe")  # XLM-R's file name (it is a Unigram model)
        # fairseq's XLM-R layout: the SentencePiece ids shifted by one behind <s> <pad> </s> <unk>;
        # XLMRobertaTokenizer maps them, the trainer only has to keep <unk> 0, <s> 1, </s> 2.
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, model_type="unigram", vocab_size=VOCAB_SIZE - 2,
            character_coverage=0.9995, normalization_rule_name="nmt_nfkc", unk_id=0, bos_id=1,
            eos_id=2, pad_id=-1, input_sentence_size=len(texts), seed_sentencepiece_size=100000,
            num_threads=1, minloglevel=2)
        # Given only the SentencePiece model, the fast class converts it (the converter writes
        # the precompiled normalizer, Metaspace and the <s> A </s></s> B </s> template).
        fast = XLMRobertaTokenizerFast(vocab_file=prefix + ".model", model_max_length=512)
        fast.save_pretrained(out_dir)
    # tokenizer.json alone is the tokenizer: drop the SentencePiece model the slow class kept.
    for name in ("sentencepiece.bpe.model",):
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            os.remove(path)
    return XLMRobertaTokenizerFast.from_pretrained(out_dir)


def train_roberta_tokenizer(texts, out_dir):
    """A byte-level BPE, saved through RobertaTokenizerFast (RobertaProcessing post-processor)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=VOCAB_SIZE, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save_model(tmp)
        fast = RobertaTokenizerFast(vocab_file=os.path.join(tmp, "vocab.json"),
                                    merges_file=os.path.join(tmp, "merges.txt"), model_max_length=512)
        fast.save_pretrained(out_dir)
    for name in ("vocab.json", "merges.txt"):  # kept in tokenizer.json
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            os.remove(path)
    return RobertaTokenizerFast.from_pretrained(out_dir)


def electra_tokenizer(texts, out_dir):
    """ELECTRA's own: the uncased BERT WordPiece vocabulary of tiny/ (ELECTRA ships the same one)."""
    from transformers import ElectraTokenizerFast
    fast = ElectraTokenizerFast(vocab_file=os.path.join(base.TINY_DIR, "vocab.txt"), do_lower_case=True,
                                model_max_length=512)
    fast.save_pretrained(out_dir)
    os.remove(os.path.join(out_dir, "vocab.txt"))  # kept in tokenizer.json
    return ElectraTokenizerFast.from_pretrained(out_dir)


FAMILIES = {
    "xlm-roberta": dict(config="XLMRobertaConfig", train=train_xlm_roberta_tokenizer, num_labels=1,
                        note="bge-reranker / mMiniLM layout: one label, one token type"),
    "roberta": dict(config="RobertaConfig", train=train_roberta_tokenizer, num_labels=2,
                    note="two labels, one token type"),
    # ms-marco-electra-base layout (one label), with embedding_size < hidden_size as in
    # ELECTRA-small so that the embedding projection runs; F16 to keep the 30522-row table small.
    "electra": dict(config="ElectraConfig", train=electra_tokenizer, num_labels=1,
                    note="one label, two token types, embedding_size 16 projected to hidden 36",
                    extra=dict(embedding_size=16, type_vocab_size=2), dtype=torch.float16),
}


def randomize(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                v = 1.0 + torch.randn(p.shape, generator=gen) * STD
            elif "LayerNorm.bias" in name:
                v = torch.randn(p.shape, generator=gen) * LN_BETA_STD
            else:
                v = torch.randn(p.shape, generator=gen) * STD
            p.copy_(v)


def make_model(family, tok, out_dir):
    spec = FAMILIES[family]
    config_class = getattr(transformers, spec["config"])
    n = spec["num_labels"]
    electra = family == "electra"
    fields = dict(vocab_size=len(tok), type_vocab_size=1, layer_norm_eps=1e-5, hidden_act="gelu",
                  pad_token_id=tok.pad_token_id, num_labels=n, **SHAPE)
    fields["max_position_embeddings"] = 512 if electra else 512 + tok.pad_token_id + 1
    if not electra:
        fields.update(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    fields.update(spec.get("extra", {}))
    config = config_class(**fields)
    torch.manual_seed(SEED)
    model = AutoModelForSequenceClassification.from_config(config)
    randomize(model, SEED)
    model.config.architectures = [type(model).__name__]
    dtype = spec.get("dtype", torch.float32)
    model.to(dtype).save_pretrained(out_dir, safe_serialization=True)


def run_goldens(family, folder, cases, data, out_path):
    t0 = time.time()
    model, info = AutoModelForSequenceClassification.from_pretrained(
        folder, torch_dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        raise SystemExit("loading %s reported %r" % (folder, bad))
    model.eval()
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.is_fast, type(tok)
    n = model.config.num_labels
    out_cases = []
    with torch.no_grad():
        for c in cases:
            q, p = data.resolve(c["query"]), data.resolve(c["passage"])
            if base.has_lone_surrogate(q) or base.has_lone_surrogate(p):
                q, p = base.replace_lone_surrogates(q), base.replace_lone_surrogates(p)
            # Batched, as sentence-transformers' CrossEncoder calls it; it passes what the
            # tokenizer returns (no token_type_ids for these families) to the model.
            enc = tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"])
            # XLM-R and RoBERTa give no token types (the model then uses zeros); ELECTRA does.
            assert ("token_type_ids" in enc) == (family == "electra"), list(enc)
            ids = list(enc["input_ids"][0])
            tt = list(tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"],
                          return_token_type_ids=True)["token_type_ids"][0])
            assert len(ids) <= c["maxLength"] and ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
            extra = {"token_type_ids": torch.tensor([tt])} if "token_type_ids" in enc else {}
            logits = model(input_ids=torch.tensor([ids]),
                           attention_mask=torch.ones(1, len(ids), dtype=torch.long), **extra).logits[0]
            vals = [float(x) for x in logits.tolist()]
            assert len(vals) == n and all(math.isfinite(v) for v in vals)
            oc = dict(c)
            oc.update({"ids": ids, "typeIds": tt, "logits": vals})
            out_cases.append(oc)
    doc = {
        "model": "tiny-" + family, "generator": GENERATOR, "torch": torch.__version__,
        "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "numLabels": n, "modelSha256": base.sha256_file(os.path.join(folder, "model.safetensors")),
        "cases": out_cases,
    }
    base.write_goldens(out_path, doc)
    base.report("tiny-" + family, out_cases, n, time.time() - t0)
    unk = sum(c["ids"].count(tok.unk_token_id) for c in out_cases)
    print("  %d <unk> tokens over all cases" % unk)


def run_hidden_goldens(family, folder, cases, data, out_path):
    """make-fixtures.py's 16 pairs: hidden_states[layer] of every layer, [CLS] row and mean."""
    model = AutoModelForSequenceClassification.from_pretrained(folder, torch_dtype=torch.float32)
    model.eval()
    tok = AutoTokenizer.from_pretrained(folder)
    layers = list(range(model.config.num_hidden_layers + 1))
    out_cases = []
    with torch.no_grad():
        for c in base.hidden_cases(cases):
            q, p = data.resolve(c["query"]), data.resolve(c["passage"])
            enc = tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"],
                      return_token_type_ids=True)
            ids, tt = list(enc["input_ids"][0]), list(enc["token_type_ids"][0])
            extra = {"token_type_ids": torch.tensor([tt])} if family == "electra" else {}
            states = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                           output_hidden_states=True, **extra).hidden_states
            hidden = {str(l): {"cls": base.rounded(states[l][0][0].tolist()),
                               "mean": base.rounded(states[l][0].mean(dim=0).tolist())} for l in layers}
            oc = {k: c[k] for k in ("name", "query", "passage", "truncation", "maxLength")}
            oc.update({"ids": ids, "typeIds": tt, "hidden": hidden})
            out_cases.append(oc)
    doc = {
        "model": "tiny-" + family, "generator": GENERATOR, "torch": torch.__version__,
        "transformers": transformers.__version__,
        "modelSha256": base.sha256_file(os.path.join(folder, "model.safetensors")),
        "numHiddenLayers": model.config.num_hidden_layers, "layers": layers,
        "digits": base.VECTOR_DIGITS, "cases": out_cases,
    }
    base.write_goldens(out_path, doc)
    print("tiny-%s hidden states: %d pairs, layers %s" % (family, len(out_cases), layers))


README = """# tiny-{family}: a random {arch} (test fixture)

RANDOM weights, no meaning ({note}). Made by `scripts/make-family-fixtures.py` with transformers
{transformers}: hidden 36, 4 heads of 9, intermediate 60, 2 layers, {positions} positions,
layer_norm_eps 1e-5, GELU (erf). torch.manual_seed({seed}); every tensor re-drawn as N(0, {std})
(LayerNorm gamma 1 + N(0, {std}), beta N(0, {beta})), stored as {dtype}.

Tokenizer: {tokenizer} ({vocab} entries). Goldens: `../tiny-{family}-goldens.json`.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=sorted(FAMILIES))
    ap.add_argument("--hidden-only", action="store_true",
                    help="keep the committed models; write only the hidden-state goldens")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    print("torch %s, transformers %s, tokenizers %s" % (torch.__version__, transformers.__version__,
                                                        tokenizers.__version__))
    data = base.Data()
    cases = base.build_cases(data)
    texts = training_texts(data, cases)
    for family in sorted(FAMILIES):
        if args.only not in (None, family):
            continue
        out_dir = os.path.join(base.FIXTURES, "tiny-" + family)
        hidden_path = os.path.join(base.FIXTURES, "tiny-%s-hidden-goldens.json" % family)
        if args.hidden_only:
            run_hidden_goldens(family, out_dir, cases, data, hidden_path)
            continue
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(out_dir)
        tok = FAMILIES[family]["train"](texts, out_dir)
        make_model(family, tok, out_dir)
        arch = json.load(open(os.path.join(out_dir, "config.json")))["architectures"][0]
        with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(README.format(
                family=family, arch=arch, note=FAMILIES[family]["note"],
                transformers=transformers.__version__, seed=SEED, std=STD, beta=LN_BETA_STD,
                vocab=len(tok), positions=json.load(open(os.path.join(out_dir, "config.json")))["max_position_embeddings"],
                dtype="F16" if FAMILIES[family].get("dtype") == torch.float16 else "F32",
                tokenizer={"xlm-roberta": "a SentencePiece Unigram model (nmt_nfkc) trained by the script on "
                                          "the golden cases' texts and STS-B sentences, converted by "
                                          "XLMRobertaTokenizerFast into tokenizer.json",
                           "roberta": "a byte-level BPE trained by the script on the golden cases' texts "
                                      "and STS-B sentences, saved through RobertaTokenizerFast",
                           "electra": "the uncased BERT WordPiece vocabulary (as ELECTRA's), saved "
                                      "through ElectraTokenizerFast"}[family]))
        run_goldens(family, out_dir, cases, data,
                    os.path.join(base.FIXTURES, "tiny-%s-goldens.json" % family))
        run_hidden_goldens(family, out_dir, cases, data, hidden_path)
        size = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
        print("  %s: %d bytes in %s" % (family, size, sorted(os.listdir(out_dir))))


if __name__ == "__main__":
    main()
