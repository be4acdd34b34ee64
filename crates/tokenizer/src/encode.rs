//! Encoding batches of (a, b) pairs, or of single texts, into flat id / type id / length arrays.

use tokenizers::parallelism::MaybeParallelIterator;
use tokenizers::utils::truncation::{
    truncate_encodings, TruncationDirection, TruncationParams, TruncationStrategy,
};
use tokenizers::{Encoding, PostProcessor};

use crate::error::{Error, Result};
use crate::load::PairTokenizer;

/// The smallest useful maxLength: [CLS] a [SEP] [SEP] with one token of text.
pub const MIN_MAX_LENGTH: usize = 4;

/// How a pair longer than maxLength is shortened (the names are Hugging Face's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// Trim the longer side first (tokenizers' `TruncationStrategy::LongestFirst`).
    LongestFirst,
    /// Keep the first text whole, trim the second.
    OnlySecond,
}

impl Truncation {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "longest_first" => Ok(Truncation::LongestFirst),
            "only_second" => Ok(Truncation::OnlySecond),
            other => Err(Error::invalid_argument(format!(
                "truncation must be 'longest_first' or 'only_second', got {other:?}"
            ))),
        }
    }

    fn strategy(self) -> TruncationStrategy {
        match self {
            Truncation::LongestFirst => TruncationStrategy::LongestFirst,
            Truncation::OnlySecond => TruncationStrategy::OnlySecond,
        }
    }
}

/// Pairs (or single texts) encoded back to back: pair i is `ids[start_i..start_i + lengths[i]]`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EncodedPairs {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u8>,
    pub lengths: Vec<u32>,
}

impl EncodedPairs {
    /// Iterates over (ids, type ids) of each pair.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u32], &[u8])> {
        let mut start = 0;
        self.lengths.iter().map(move |&len| {
            let range = start..start + len as usize;
            start = range.end;
            (&self.ids[range.clone()], &self.type_ids[range])
        })
    }
}

/// Validates a JS number given as maxLength.
pub fn max_length_from_number(value: f64) -> Result<usize> {
    if value.is_finite() && value.fract() == 0.0 && value >= MIN_MAX_LENGTH as f64 && value <= u32::MAX as f64
    {
        Ok(value as usize)
    } else {
        Err(Error::invalid_argument(format!(
            "maxLength must be an integer >= {MIN_MAX_LENGTH} (it counts the special tokens), got {value}"
        )))
    }
}

impl PairTokenizer {
    /// Encodes pair i = (firsts[i], seconds[i]) as `[CLS] a [SEP] b [SEP]` (or the loaded
    /// tokenizer's pair template), truncated to `max_length` tokens including special tokens.
    pub fn encode_pairs<S: AsRef<str> + Sync>(
        &self,
        firsts: &[S],
        seconds: &[S],
        max_length: usize,
        truncation: Truncation,
    ) -> Result<EncodedPairs> {
        if firsts.len() != seconds.len() {
            return Err(Error::invalid_argument(format!(
                "firsts and seconds must have the same length, got {} and {}",
                firsts.len(),
                seconds.len()
            )));
        }
        if max_length < MIN_MAX_LENGTH || max_length <= self.added_pair_tokens {
            return Err(Error::invalid_argument(format!(
                "maxLength must be >= {} (it counts the {} special tokens), got {max_length}",
                MIN_MAX_LENGTH.max(self.added_pair_tokens + 1),
                self.added_pair_tokens
            )));
        }
        let encodings: Vec<Result<Encoding>> = (0..firsts.len())
            .into_maybe_par_iter()
            .map(|i| self.encode_pair(i, firsts[i].as_ref(), seconds[i].as_ref(), max_length, truncation))
            .collect();

        pack(encodings, "pair")
    }

    /// Encodes each text alone as `[CLS] text [SEP]` (or the loaded tokenizer's single template),
    /// type ids 0, the text cut from the end to fit `max_length` tokens including special tokens
    /// (as Hugging Face truncates one sequence).
    pub fn encode_texts<S: AsRef<str> + Sync>(&self, texts: &[S], max_length: usize) -> Result<EncodedPairs> {
        if max_length <= self.added_single_tokens {
            return Err(Error::invalid_argument(format!(
                "maxLength must be >= {} (it counts the {} special tokens), got {max_length}",
                self.added_single_tokens + 1,
                self.added_single_tokens
            )));
        }
        let encodings: Vec<Result<Encoding>> = (0..texts.len())
            .into_maybe_par_iter()
            .map(|i| self.encode_text(i, texts[i].as_ref(), max_length))
            .collect();
        pack(encodings, "text")
    }

    fn encode_text(&self, index: usize, text: &str, max_length: usize) -> Result<Encoding> {
        let fail = |e: tokenizers::Error| Error::encode(format!("text {index}: {e}"));
        let mut encoding = self.tokenizer.encode_fast(text, false).map_err(fail)?;
        encoding.truncate(
            max_length - self.added_single_tokens,
            0,
            TruncationDirection::Right,
        );
        // The cut-off part is never used.
        drop(encoding.take_overflowing());
        let processor = self.tokenizer.get_post_processor().expect("checked at load");
        processor.process(encoding, None, true).map_err(fail)
    }

    fn encode_pair(
        &self,
        index: usize,
        first: &str,
        second: &str,
        max_length: usize,
        truncation: Truncation,
    ) -> Result<Encoding> {
        let fail = |e: tokenizers::Error| Error::encode(format!("pair {index}: {e}"));
        // Each side alone, without special tokens; the template adds them after truncation.
        let first = self.tokenizer.encode_fast(first, false).map_err(fail)?;
        let second = self.tokenizer.encode_fast(second, false).map_err(fail)?;
        let budget = max_length - self.added_pair_tokens;
        // tokenizers refuses `only_second` when the second text would lose every token.
        if truncation == Truncation::OnlySecond
            && first.len() + second.len() > budget
            && first.len() >= budget
        {
            return Err(Error::encode(format!(
                "pair {index}: the first text has {} tokens, which leaves no room for the second text \
                 within maxLength {max_length} ({} special tokens) under 'only_second' truncation; \
                 use 'longest_first' or a shorter first text",
                first.len(),
                self.added_pair_tokens
            )));
        }
        let params = TruncationParams {
            max_length: budget,
            strategy: truncation.strategy(),
            stride: 0,
            direction: TruncationDirection::Right,
        };
        let (mut first, second) = truncate_encodings(first, Some(second), &params).map_err(fail)?;
        let mut second = second.expect("truncate_encodings keeps the pair");
        // The cut-off parts are never used; the post-processor would otherwise combine every
        // overflowing part of a with every part of b (quadratic on long texts).
        drop(first.take_overflowing());
        drop(second.take_overflowing());
        let processor = self.tokenizer.get_post_processor().expect("checked at load");
        processor.process(first, Some(second), true).map_err(fail)
    }
}

/// Lays encodings end to end; the first error wins. `what` names an item in messages.
pub(crate) fn pack(encodings: Vec<Result<Encoding>>, what: &str) -> Result<EncodedPairs> {
    let mut out = EncodedPairs {
        lengths: Vec::with_capacity(encodings.len()),
        ..Default::default()
    };
    let total: usize = encodings.iter().flatten().map(Encoding::len).sum();
    out.ids.reserve_exact(total);
    out.type_ids.reserve_exact(total);
    for (i, encoding) in encodings.into_iter().enumerate() {
        let encoding = encoding?;
        out.ids.extend_from_slice(encoding.get_ids());
        for &type_id in encoding.get_type_ids() {
            let type_id = u8::try_from(type_id).map_err(|_| {
                Error::encode(format!("{what} {i}: type id {type_id} does not fit in a byte"))
            })?;
            out.type_ids.push(type_id);
        }
        out.lengths.push(encoding.len() as u32);
    }
    Ok(out)
}
