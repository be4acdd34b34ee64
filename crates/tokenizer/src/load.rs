//! Finding and loading a model folder's tokenizer.

use std::path::Path;

use tokenizers::{PostProcessor, Tokenizer};

use crate::bert;
use crate::config::TokenizerConfig;
use crate::error::{Error, Result};

pub const TOKENIZER_JSON: &str = "tokenizer.json";
pub const VOCAB_TXT: &str = "vocab.txt";
pub const TOKENIZER_CONFIG_JSON: &str = "tokenizer_config.json";

/// A tokenizer ready to encode (a, b) pairs or single texts: no padding and no stored truncation, since both are
/// decided per call.
#[derive(Debug, Clone)]
pub struct PairTokenizer {
    pub(crate) tokenizer: Tokenizer,
    /// Special tokens the pair template adds (3 for BERT: [CLS] a [SEP] b [SEP]).
    pub(crate) added_pair_tokens: usize,
    /// Special tokens the single-text template adds (2 for BERT: [CLS] text [SEP]).
    pub(crate) added_single_tokens: usize,
    source: &'static str,
    model_max_length: Option<u32>,
}

impl PairTokenizer {
    /// Loads `dir/tokenizer.json` if present, else builds the BERT pipeline from `dir/vocab.txt`
    /// and the optional `dir/tokenizer_config.json`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let json_path = dir.join(TOKENIZER_JSON);
        let vocab_path = dir.join(VOCAB_TXT);
        let config_path = dir.join(TOKENIZER_CONFIG_JSON);
        if json_path.is_file() {
            let config = TokenizerConfig::read_optional(&config_path)?;
            let tokenizer = Tokenizer::from_file(&json_path).map_err(|e| Error::load(&json_path, e))?;
            Self::new(tokenizer, TOKENIZER_JSON, config.model_max_length, &json_path)
        } else if vocab_path.is_file() {
            let config = TokenizerConfig::read_optional(&config_path)?;
            let tokenizer = bert::from_vocab_file(&vocab_path, &config_path, &config)?;
            Self::new(tokenizer, VOCAB_TXT, config.model_max_length, &vocab_path)
        } else {
            Err(Error {
                kind: crate::error::ErrorKind::Load,
                message: format!(
                    "no tokenizer found: neither {} nor {} exists",
                    json_path.display(),
                    vocab_path.display()
                ),
            })
        }
    }

    fn new(
        mut tokenizer: Tokenizer,
        source: &'static str,
        model_max_length: Option<u32>,
        path: &Path,
    ) -> Result<Self> {
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::load(path, e))?;
        let processor = tokenizer
            .get_post_processor()
            .ok_or_else(|| Error::load(path, "no post_processor: cannot add the special tokens of a pair"))?;
        let added_pair_tokens = processor.added_tokens(true);
        let added_single_tokens = processor.added_tokens(false);
        Ok(PairTokenizer {
            tokenizer,
            added_pair_tokens,
            added_single_tokens,
            source,
            model_max_length,
        })
    }

    /// Which file the tokenizer came from: "tokenizer.json" or "vocab.txt".
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// `model_max_length` from tokenizer_config.json when it is a real limit.
    pub fn model_max_length(&self) -> Option<u32> {
        self.model_max_length
    }
}
