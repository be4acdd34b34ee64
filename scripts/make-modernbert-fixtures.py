#!/usr/bin/env python3
"""Developer-only: tiny random ModernBERT cross-encoders (ModernBertForSequenceClassification) with
a byte-level BPE tokenizer in ModernBERT's layout, and transformers goldens.

Never run by CI. ModernBERT came in transformers 4.48, which the pinned .cache/venv (4.44.2, for
Debian's torch 1.13) does not have, so this script has its own venv:
    /usr/bin/python3 -m venv --system-site-packages .cache/venv-modernbert
    .cache/venv-modernbert/bin/pip install -r scripts/requirements-modernbert.txt
    .cache/venv-modernbert/bin/python scripts/make-modernbert-fixtures.py

transformers 4.48.3 imports on torch 1.13 except for one thing: modeling_modernbert.py decorates
methods with @torch.compile (torch 2), used only when config.reference_compile is true, and builds
nn.LayerNorm(..., bias=norm_bias) (torch 2.1). Before importing transformers, this script (through
scripts/torch1_compat.py) gives torch 1.13 a torch.compile that returns the function unchanged (reference_compile is false
and attn_implementation "eager" here, so the compiled paths never run) and an nn.LayerNorm that
takes bias= and, with bias=False, drops its bias parameter (F.layer_norm with bias None, as torch
2.1 does).

Writes, per model M (tiny-modernbert: [CLS] pooling, no biases, as ModernBERT-base;
tiny-modernbert-mean: mean pooling with every bias on, as gte-reranker-modernbert-base pools):
    test/fixtures/M/                     the model folder
    test/fixtures/M-goldens.json         golden ids and logits (format: test/fixtures/README.md)
    test/fixtures/M-hidden-goldens.json  hidden states of 16 pairs after every layer; the last
                                         layer's is last_hidden_state (after final_norm), as
                                         crossrank pools it, not hidden_states[-1] (before it)

4 layers with global_attn_every_n_layers 3 (layers 0 and 3 global, 1 and 2 local) and
local_attention 8 (each token sees +-4) so that the golden pairs (10 to 512 tokens) cross the
window's edge; local and global layers get different rope thetas.
"""
import argparse
import importlib.util
import json
import os
import shutil
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch1_compat  # noqa: F401,E402  (patches torch 1.13 for transformers 4.48: see the docstring)

import transformers
import tokenizers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


families = _load("make_family_fixtures", "make-family-fixtures.py")
base = families.base

GENERATOR = "scripts/make-modernbert-fixtures.py"
SEED = 8642
STD = families.STD
LN_BETA_STD = families.LN_BETA_STD
# head_dim 10: rotary embeddings rotate pairs of halves, so head_dim must be even.
SHAPE = dict(hidden_size=40, num_attention_heads=4, intermediate_size=56, num_hidden_layers=4,
             global_attn_every_n_layers=3, local_attention=8, global_rope_theta=160000.0,
             local_rope_theta=10000.0, max_position_embeddings=512, norm_eps=1e-5)
MODELS = {
    "tiny-modernbert": dict(num_labels=1, fields=dict(classifier_pooling="cls"),
                            note="[CLS] pooling, no biases (ModernBERT-base's defaults), one label"),
    "tiny-modernbert-mean": dict(num_labels=2, fields=dict(
        classifier_pooling="mean", norm_bias=True, attention_bias=True, mlp_bias=True,
        classifier_bias=True), note="mean pooling, every bias on, two labels"),
}


def train_modernbert_tokenizer(texts, out_dir):
    """A byte-level BPE with ModernBERT's special tokens and its [CLS] A [SEP] B [SEP] template,
    saved through PreTrainedTokenizerFast as ModernBERT's tokenizer.json is."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=families.VOCAB_SIZE, min_frequency=2,
                                  special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer)
    cls, sep = bpe.token_to_id("[CLS]"), bpe.token_to_id("[SEP]")
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]", mask_token="[MASK]", model_max_length=512,
        model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(out_dir)
    return AutoTokenizer.from_pretrained(out_dir)


class _NormsAsLayerNorm:
    """ModernBERT's model as make-family-fixtures.py's randomize sees it: its norms ("norm",
    "attn_norm", "mlp_norm", "final_norm") named like BERT's LayerNorm, so they are drawn as such."""

    def __init__(self, model):
        self.model = model

    def named_parameters(self):
        for name, p in self.model.named_parameters():
            yield name.replace("norm.", "LayerNorm."), p


def randomize(model, seed):
    families.randomize(_NormsAsLayerNorm(model), seed)


def make_model(name, tok, out_dir):
    spec = MODELS[name]
    config = transformers.ModernBertConfig(
        vocab_size=len(tok), pad_token_id=tok.pad_token_id, cls_token_id=tok.cls_token_id,
        sep_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
        num_labels=spec["num_labels"], hidden_activation="gelu", classifier_activation="gelu",
        **SHAPE, **spec["fields"])
    torch.manual_seed(SEED)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    randomize(model, SEED + len(name))
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(out_dir, safe_serialization=True)


def load(folder):
    model, info = AutoModelForSequenceClassification.from_pretrained(
        folder, torch_dtype=torch.float32, output_loading_info=True, attn_implementation="eager")
    bad = {k: v for k, v in info.items() if v}
    if bad:
        raise SystemExit("loading %s reported %r" % (folder, bad))
    assert model.config.reference_compile is not True
    return model.eval()


def encode(tok, data, c):
    q, p = data.resolve(c["query"]), data.resolve(c["passage"])
    if base.has_lone_surrogate(q) or base.has_lone_surrogate(p):
        q, p = base.replace_lone_surrogates(q), base.replace_lone_surrogates(p)
    enc = tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"])
    assert "token_type_ids" not in enc, list(enc)  # ModernBERT takes none
    ids = list(enc["input_ids"][0])
    tt = list(tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"],
                  return_token_type_ids=True)["token_type_ids"][0])
    assert len(ids) <= c["maxLength"] and ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    return ids, tt


def run_goldens(name, folder, cases, data, out_path):
    t0 = time.time()
    model = load(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    n = model.config.num_labels
    out_cases = []
    with torch.no_grad():
        for c in cases:
            ids, tt = encode(tok, data, c)
            logits = model(input_ids=torch.tensor([ids]),
                           attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits[0]
            vals = [float(x) for x in logits.tolist()]
            oc = dict(c)
            oc.update({"ids": ids, "typeIds": tt, "logits": vals})
            out_cases.append(oc)
    doc = {
        "model": name, "generator": GENERATOR, "torch": torch.__version__,
        "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "numLabels": n, "modelSha256": base.sha256_file(os.path.join(folder, "model.safetensors")),
        "cases": out_cases,
    }
    base.write_goldens(out_path, doc)
    base.report(name, out_cases, n, time.time() - t0)
    unk = sum(c["ids"].count(tok.unk_token_id) for c in out_cases)
    print("  %d [UNK] tokens over all cases" % unk)


def run_hidden_goldens(name, folder, cases, data, out_path):
    model = load(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    num_layers = model.config.num_hidden_layers
    layers = list(range(num_layers + 1))
    out_cases = []
    with torch.no_grad():
        for c in base.hidden_cases(cases):
            ids, tt = encode(tok, data, c)
            out = model.model(input_ids=torch.tensor([ids]),
                              attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                              output_hidden_states=True)
            # hidden_states[num_layers] is before final_norm; crossrank's last layer is after it.
            states = list(out.hidden_states[:num_layers]) + [out.last_hidden_state]
            hidden = {str(l): {"cls": base.rounded(states[l][0][0].tolist()),
                               "mean": base.rounded(states[l][0].mean(dim=0).tolist())} for l in layers}
            oc = {k: c[k] for k in ("name", "query", "passage", "truncation", "maxLength")}
            oc.update({"ids": ids, "typeIds": tt, "hidden": hidden})
            out_cases.append(oc)
    doc = {
        "model": name, "generator": GENERATOR, "torch": torch.__version__,
        "transformers": transformers.__version__,
        "modelSha256": base.sha256_file(os.path.join(folder, "model.safetensors")),
        "numHiddenLayers": num_layers, "layers": layers,
        "lastLayer": "last_hidden_state (after final_norm)",
        "digits": base.VECTOR_DIGITS, "cases": out_cases,
    }
    base.write_goldens(out_path, doc)
    print("%s hidden states: %d pairs, layers %s" % (name, len(out_cases), layers))


README = """# {name}: a random ModernBertForSequenceClassification (test fixture)

RANDOM weights, no meaning ({note}). Made by `scripts/make-modernbert-fixtures.py` with
transformers {transformers}: hidden 40, 4 heads of 10, intermediate 56 (gated: Wi is 112 wide),
4 layers (0 and 3 global with rope theta 160000, 1 and 2 local with a window of 8 and rope theta
10000), 512 positions, norm_eps 1e-5, GELU (erf). Every tensor drawn as N(0, {std}) (norm weights
1 + N(0, {std}), norm biases N(0, {beta})), stored as F32.

Tokenizer: a byte-level BPE ({vocab} entries) trained by the script on the golden cases' texts and
STS-B sentences, with ModernBERT's special tokens and [CLS] A [SEP] B [SEP] template, saved through
PreTrainedTokenizerFast. Goldens: `../{name}-goldens.json`, `../{name}-hidden-goldens.json`.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=sorted(MODELS))
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    print("torch %s, transformers %s, tokenizers %s" % (torch.__version__, transformers.__version__,
                                                        tokenizers.__version__))
    data = base.Data()
    cases = base.build_cases(data)
    texts = families.training_texts(data, cases)
    for name in sorted(MODELS):
        if args.only not in (None, name):
            continue
        out_dir = os.path.join(base.FIXTURES, name)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(out_dir)
        tok = train_modernbert_tokenizer(texts, out_dir)
        make_model(name, tok, out_dir)
        with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(README.format(name=name, note=MODELS[name]["note"], std=STD, beta=LN_BETA_STD,
                                  transformers=transformers.__version__, vocab=len(tok)))
        run_goldens(name, out_dir, cases, data, os.path.join(base.FIXTURES, name + "-goldens.json"))
        run_hidden_goldens(name, out_dir, cases, data,
                           os.path.join(base.FIXTURES, name + "-hidden-goldens.json"))
        size = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
        print("  %s: %d bytes in %s" % (name, size, sorted(os.listdir(out_dir))))


if __name__ == "__main__":
    main()
