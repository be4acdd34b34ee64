//! A BERT WordPiece tokenizer built from `vocab.txt`, the way transformers' slow-to-fast
//! `BertConverter` builds the `BertTokenizerFast` pipeline.

use std::path::Path;

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Model, Tokenizer};

use crate::config::TokenizerConfig;
use crate::error::{Error, Result};

const CONTINUING_SUBWORD_PREFIX: &str = "##";
const MAX_INPUT_CHARS_PER_WORD: usize = 100;

pub fn from_vocab_file(vocab_path: &Path, config_path: &Path, config: &TokenizerConfig) -> Result<Tokenizer> {
    let bytes = std::fs::read(vocab_path).map_err(|e| Error::load(vocab_path, e))?;
    let vocab = WordPiece::read_bytes(&bytes).map_err(|e| Error::load(vocab_path, e))?;
    if vocab.is_empty() {
        return Err(Error::load(vocab_path, "the vocabulary is empty"));
    }
    let token_id = |role: &str, token: &str| {
        vocab.get(token).copied().ok_or_else(|| {
            Error::load(
                vocab_path,
                format!("{role} token {token:?} is not in the vocabulary"),
            )
        })
    };
    // Checked here so that a bad folder fails at load, not at the first unknown word.
    token_id("unk", &config.unk_token)?;
    let cls_id = token_id("cls", &config.cls_token)?;
    let sep_id = token_id("sep", &config.sep_token)?;

    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token(config.unk_token.clone())
        .continuing_subword_prefix(CONTINUING_SUBWORD_PREFIX.into())
        .max_input_chars_per_word(MAX_INPUT_CHARS_PER_WORD)
        .build()
        .map_err(|e| Error::load(vocab_path, e))?;

    let (cls, sep) = (&config.cls_token, &config.sep_token);
    let post_processor = TemplateProcessing::builder()
        .try_single(format!("{cls}:0 $A:0 {sep}:0"))
        .and_then(|b| b.try_pair(format!("{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1")))
        .and_then(|b| {
            b.special_tokens(vec![(cls.clone(), cls_id), (sep.clone(), sep_id)])
                .build()
                .map_err(|e| e.to_string())
        })
        .map_err(|e| Error::load(config_path, format!("cannot build the pair template: {e}")))?;

    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            config.tokenize_chinese_chars,
            config.strip_accents,
            config.do_lower_case,
        )))
        .map_err(|e| Error::load(config_path, e))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(post_processor));
    add_special_tokens(&mut tokenizer, config_path, config)?;
    Ok(tokenizer)
}

/// Registers the added/special tokens as `BertTokenizerFast` does, so that e.g. a literal "[SEP]"
/// in a text maps to the [SEP] id exactly as with the tokenizer.json that transformers would save.
fn add_special_tokens(tokenizer: &mut Tokenizer, config_path: &Path, config: &TokenizerConfig) -> Result<()> {
    for configured in &config.added_tokens {
        let token = AddedToken::from(configured.content.clone(), configured.special)
            .single_word(configured.single_word)
            .lstrip(configured.lstrip)
            .rstrip(configured.rstrip)
            .normalized(configured.normalized);
        let added = if configured.special {
            tokenizer.add_special_tokens([token])
        } else {
            tokenizer.add_tokens([token])
        };
        added.map_err(|e| Error::load(config_path, e))?;
        let id = tokenizer.token_to_id(&configured.content);
        if id != Some(configured.id) {
            return Err(Error::load(
                config_path,
                format!(
                    "added_tokens_decoder gives {:?} the id {} but the vocabulary gives {:?}",
                    configured.content, configured.id, id
                ),
            ));
        }
    }
    // Named special tokens the vocabulary lacks (e.g. no [MASK] in a trimmed vocab) are skipped
    // rather than appended with new ids the model's embeddings would not cover.
    let named = [
        &config.unk_token,
        &config.sep_token,
        &config.pad_token,
        &config.cls_token,
        &config.mask_token,
    ];
    let missing: Vec<AddedToken> = named
        .into_iter()
        .chain(&config.additional_special_tokens)
        .filter(|content| !config.added_tokens.iter().any(|t| &t.content == *content))
        .filter(|content| tokenizer.get_model().token_to_id(content).is_some())
        .map(|content| AddedToken::from(content.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(missing)
        .map_err(|e| Error::load(config_path, e))?;
    Ok(())
}
