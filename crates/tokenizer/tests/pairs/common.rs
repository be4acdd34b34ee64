//! Small model folders written at test time.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use crossrank_tokenizer::{PairTokenizer, Truncation};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const PAD: u32 = 0;
pub const UNK: u32 = 1;
pub const CLS: u32 = 2;
pub const SEP: u32 = 3;
pub const MASK: u32 = 4;

/// A few dozen tokens: specials at 0..5, then words, sub-words, accents, CJK and punctuation.
pub const TINY_VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "a", "cafe", "café", "Café",
    "Hello", "naive", "naïve", "token", "##s", "##ing", "##ize", "run", "你", "好", "!", "?", ".", ",", "x",
    "y", "##y", "q", "emoji", "text", "[", "]", "cls", "sep", "mask",
];

pub fn id(token: &str) -> u32 {
    TINY_VOCAB
        .iter()
        .position(|t| *t == token)
        .expect("token in TINY_VOCAB") as u32
}

pub fn ids(tokens: &[&str]) -> Vec<u32> {
    tokens.iter().map(|t| id(t)).collect()
}

/// A folder with vocab.txt and, when given, tokenizer_config.json.
pub fn vocab_dir(config: Option<Value>) -> TempDir {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("vocab.txt"), TINY_VOCAB.join("\n") + "\n").unwrap();
    if let Some(config) = config {
        std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    }
    dir
}

pub fn tiny(config: Option<Value>) -> PairTokenizer {
    let dir = vocab_dir(config);
    PairTokenizer::from_dir(dir.path()).unwrap()
}

pub fn uncased() -> PairTokenizer {
    tiny(Some(
        json!({"do_lower_case": true, "strip_accents": null, "model_max_length": 512}),
    ))
}

/// The tokenizer.json that transformers saves for `BertTokenizerFast` over TINY_VOCAB, including
/// the padding and truncation that some exported files carry (the loader must ignore both).
pub fn tokenizer_json(lowercase: bool, strip_accents: Option<bool>) -> Value {
    let vocab: serde_json::Map<String, Value> = TINY_VOCAB
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    let added = |content: &str| {
        json!({"id": id(content), "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let added_tokens: Vec<Value> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map(added).into();
    json!({
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 8, "strategy": "OnlyFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": added_tokens,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": strip_accents, "lowercase": lowercase},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [CLS], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [SEP], "tokens": ["[SEP]"]}}
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

pub fn json_dir(tokenizer_json: &Value) -> TempDir {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer_json.to_string()).unwrap();
    dir
}

/// Encodes one pair and returns (ids, type ids).
pub fn pair(
    t: &PairTokenizer,
    a: &str,
    b: &str,
    max_length: usize,
    truncation: Truncation,
) -> (Vec<u32>, Vec<u8>) {
    let out = t.encode_pairs(&[a], &[b], max_length, truncation).unwrap();
    assert_eq!(out.lengths, vec![out.ids.len() as u32]);
    (out.ids, out.type_ids)
}

pub fn ids_of(t: &PairTokenizer, a: &str, b: &str) -> Vec<u32> {
    pair(t, a, b, 512, Truncation::LongestFirst).0
}

/// The real BERT model folder, if laid out (CROSSRANK_MODEL_DIR, else the fetch script's place).
/// Under CI=true a missing folder is a failure, not a skip.
pub fn real_model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CROSSRANK_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models/minilm-l6-cross-encoder")
        });
    let complete = ["tokenizer.json", "vocab.txt", "tokenizer_config.json"]
        .iter()
        .all(|f| dir.join(f).is_file());
    if complete {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("CROSSRANK_REQUIRE_ALL").as_deref() == Ok("1")
    {
        panic!(
            "CI=true or CROSSRANK_REQUIRE_ALL=1 but the real model folder {} is incomplete (needs tokenizer.json, vocab.txt, \
             tokenizer_config.json); run the model fetch script or set CROSSRANK_MODEL_DIR",
            dir.display()
        );
    }
    eprintln!(
        "NOTICE: skipping real-model parity: {} not found (set CROSSRANK_MODEL_DIR)",
        dir.display()
    );
    None
}
