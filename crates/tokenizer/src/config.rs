//! The parts of a Hugging Face `tokenizer_config.json` that shape a BERT WordPiece pipeline.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Settings of the slow `BertTokenizer`, with its defaults when a key is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerConfig {
    pub do_lower_case: bool,
    /// `None` (JSON null or absent) means "strip accents when lower-casing".
    pub strip_accents: Option<bool>,
    pub tokenize_chinese_chars: bool,
    pub unk_token: String,
    pub cls_token: String,
    pub sep_token: String,
    pub pad_token: String,
    pub mask_token: String,
    pub additional_special_tokens: Vec<String>,
    /// Entries of `added_tokens_decoder` (transformers >= 4.34), sorted by id.
    pub added_tokens: Vec<ConfiguredAddedToken>,
    /// `model_max_length` when it is a real limit; transformers writes a huge sentinel (1e30)
    /// when the model has none.
    pub model_max_length: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredAddedToken {
    pub id: u32,
    pub content: String,
    pub single_word: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    pub normalized: bool,
    pub special: bool,
}

/// Larger values are transformers' "no limit" sentinel (`VERY_LARGE_INTEGER`), not a model limit.
const MODEL_MAX_LENGTH_SENTINEL: f64 = 1e6;

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            do_lower_case: true,
            strip_accents: None,
            tokenize_chinese_chars: true,
            unk_token: "[UNK]".into(),
            cls_token: "[CLS]".into(),
            sep_token: "[SEP]".into(),
            pad_token: "[PAD]".into(),
            mask_token: "[MASK]".into(),
            additional_special_tokens: Vec::new(),
            added_tokens: Vec::new(),
            model_max_length: None,
        }
    }
}

impl TokenizerConfig {
    /// Reads `path` if it exists; a missing file gives the defaults.
    pub fn read_optional(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::load(path, e))?;
        Self::parse(&text).map_err(|detail| Error::load(path, detail))
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let object = value.as_object().ok_or("expected a JSON object")?;
        let defaults = Self::default();
        let mut added_tokens = match object.get("added_tokens_decoder") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(entries)) => entries
                .iter()
                .map(|(id, entry)| parse_added_token(id, entry))
                .collect::<std::result::Result<Vec<_>, _>>()?,
            Some(_) => return Err("added_tokens_decoder: expected an object".into()),
        };
        added_tokens.sort_by_key(|token| token.id);
        Ok(TokenizerConfig {
            do_lower_case: bool_or(object, "do_lower_case", defaults.do_lower_case)?,
            strip_accents: optional_bool(object, "strip_accents")?,
            tokenize_chinese_chars: bool_or(
                object,
                "tokenize_chinese_chars",
                defaults.tokenize_chinese_chars,
            )?,
            unk_token: token_or(object, "unk_token", defaults.unk_token)?,
            cls_token: token_or(object, "cls_token", defaults.cls_token)?,
            sep_token: token_or(object, "sep_token", defaults.sep_token)?,
            pad_token: token_or(object, "pad_token", defaults.pad_token)?,
            mask_token: token_or(object, "mask_token", defaults.mask_token)?,
            additional_special_tokens: match object.get("additional_special_tokens") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        token_content(item).ok_or_else(|| {
                            "additional_special_tokens: expected strings or AddedToken objects".to_string()
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?,
                Some(_) => return Err("additional_special_tokens: expected an array".into()),
            },
            added_tokens,
            model_max_length: object.get("model_max_length").and_then(model_max_length),
        })
    }
}

fn bool_or(object: &Map<String, Value>, key: &str, default: bool) -> std::result::Result<bool, String> {
    Ok(optional_bool(object, key)?.unwrap_or(default))
}

fn optional_bool(object: &Map<String, Value>, key: &str) -> std::result::Result<Option<bool>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("{key}: expected true, false or null, got {other}")),
    }
}

/// Special tokens are written either as strings or as serialized `AddedToken` objects.
fn token_content(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn token_or(object: &Map<String, Value>, key: &str, default: String) -> std::result::Result<String, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => token_content(value)
            .ok_or_else(|| format!("{key}: expected a string or an AddedToken object, got {value}")),
    }
}

fn parse_added_token(id: &str, entry: &Value) -> std::result::Result<ConfiguredAddedToken, String> {
    let context = || format!("added_tokens_decoder[{id}]");
    let id = id
        .parse::<u32>()
        .map_err(|_| format!("{}: key is not a token id", context()))?;
    let object = entry
        .as_object()
        .ok_or_else(|| format!("{}: expected an object", context()))?;
    let content = object
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{}: missing string \"content\"", context()))?
        .to_owned();
    let flag = |key: &str, default: bool| -> std::result::Result<bool, String> {
        bool_or(object, key, default).map_err(|e| format!("{}.{e}", context()))
    };
    let special = flag("special", false)?;
    Ok(ConfiguredAddedToken {
        id,
        content,
        single_word: flag("single_word", false)?,
        lstrip: flag("lstrip", false)?,
        rstrip: flag("rstrip", false)?,
        normalized: flag("normalized", !special)?,
        special,
    })
}

fn model_max_length(value: &Value) -> Option<u32> {
    // serde_json reads integers beyond u64 (the 1e30 sentinel) as f64, so as_f64 sees every form.
    let n = value.as_f64()?;
    ((1.0..MODEL_MAX_LENGTH_SENTINEL).contains(&n) && n.fract() == 0.0).then_some(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_keys_absent() {
        assert_eq!(TokenizerConfig::parse("{}").unwrap(), TokenizerConfig::default());
    }

    #[test]
    fn reads_bert_settings_and_token_objects() {
        let config = TokenizerConfig::parse(
            r#"{"do_lower_case": false, "strip_accents": true, "tokenize_chinese_chars": false,
                "unk_token": {"content": "<unk>", "__type": "AddedToken"}, "cls_token": "<s>",
                "model_max_length": 512,
                "added_tokens_decoder": {"5": {"content": "[X]", "special": true}, "1": {"content": "[Y]"}}}"#,
        )
        .unwrap();
        assert!(!config.do_lower_case);
        assert_eq!(config.strip_accents, Some(true));
        assert!(!config.tokenize_chinese_chars);
        assert_eq!(config.unk_token, "<unk>");
        assert_eq!(config.cls_token, "<s>");
        assert_eq!(config.sep_token, "[SEP]");
        assert_eq!(config.model_max_length, Some(512));
        assert_eq!(
            config.added_tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1, 5]
        );
        assert!(config.added_tokens[1].special && !config.added_tokens[1].normalized);
        assert!(!config.added_tokens[0].special && config.added_tokens[0].normalized);
    }

    #[test]
    fn model_max_length_sentinel_is_none() {
        let config =
            TokenizerConfig::parse(r#"{"model_max_length": 1000000000000000019884624838656}"#).unwrap();
        assert_eq!(config.model_max_length, None);
        let config = TokenizerConfig::parse(r#"{"model_max_length": 999999}"#).unwrap();
        assert_eq!(config.model_max_length, Some(999_999));
    }

    #[test]
    fn rejects_wrong_types() {
        assert!(TokenizerConfig::parse(r#"{"do_lower_case": "yes"}"#)
            .unwrap_err()
            .contains("do_lower_case"));
        assert!(TokenizerConfig::parse("[1]").is_err());
        assert!(TokenizerConfig::parse("{").is_err());
    }
}
