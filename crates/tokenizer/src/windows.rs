//! Long documents as overlapping windows: each document is cut into windows of tokens that each fit
//! beside the query within maxLength, so a cross-encoder can score every part of the document and
//! the caller keep the best window (what Cohere's and Elasticsearch's rerankers do for passages
//! longer than the model's window), instead of losing the tail to truncation.

use tokenizers::parallelism::MaybeParallelIterator;
use tokenizers::utils::truncation::TruncationDirection;
use tokenizers::{Encoding, PostProcessor};

use crate::encode::{EncodedPairs, MIN_MAX_LENGTH};
use crate::error::{Error, Result};
use crate::load::PairTokenizer;

/// Every window of every document, as `[CLS] query [SEP] window [SEP]` pairs laid end to end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EncodedWindows {
    pub pairs: EncodedPairs,
    /// The document each window comes from; a document's windows are consecutive and in order.
    pub documents: Vec<u32>,
    /// Where each window starts and ends in its document, in UTF-16 code units (JS string indices).
    pub starts: Vec<u32>,
    pub ends: Vec<u32>,
    /// Document tokens per window (the last window of a document may hold fewer).
    pub window_tokens: u32,
    /// Query tokens kept: the query is cut to at most half of the room beside the special tokens.
    pub query_tokens: u32,
}

/// Turns increasing byte offsets of one string into UTF-16 offsets without rescanning from 0.
struct Utf16Cursor<'a> {
    text: &'a str,
    byte: usize,
    utf16: usize,
}

impl<'a> Utf16Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Utf16Cursor { text, byte: 0, utf16: 0 }
    }

    /// The UTF-16 offset of `byte`; `byte` may not be below the previous call's.
    fn at(&mut self, byte: usize) -> usize {
        let byte = byte.min(self.text.len());
        if byte > self.byte {
            self.utf16 += self.text[self.byte..byte].encode_utf16().count();
            self.byte = byte;
        }
        self.utf16
    }
}

impl PairTokenizer {
    /// Encodes `query` with every window of every document. Each document is first cut to its
    /// first `max_tokens_per_doc` tokens; then it is split into windows of `window_tokens` =
    /// min(max_tokens_per_doc, room left beside the query) tokens, consecutive windows sharing
    /// `overlap` tokens (default: a quarter of a window; at most half a window). A document that fits gives one window, the same
    /// pair `encode_pairs` gives; an empty document gives one window with no document tokens.
    pub fn encode_windows<S: AsRef<str> + Sync>(
        &self,
        query: &str,
        documents: &[S],
        max_length: usize,
        max_tokens_per_doc: usize,
        overlap: Option<usize>,
    ) -> Result<EncodedWindows> {
        if max_length < MIN_MAX_LENGTH || max_length < self.added_pair_tokens + 2 {
            return Err(Error::invalid_argument(format!(
                "maxLength must be >= {} (it counts the {} special tokens), got {max_length}",
                MIN_MAX_LENGTH.max(self.added_pair_tokens + 2),
                self.added_pair_tokens
            )));
        }
        if max_tokens_per_doc == 0 {
            return Err(Error::invalid_argument("maxTokensPerDoc must be at least 1"));
        }
        let fail = |e: tokenizers::Error| Error::encode(format!("query: {e}"));
        let room = max_length - self.added_pair_tokens;
        let mut query = self.tokenizer.encode_fast(query, false).map_err(fail)?;
        // A long query keeps its first half of the room, so every window still holds a real part
        // of the document.
        query.truncate(room / 2, 0, TruncationDirection::Right);
        drop(query.take_overflowing());
        let window_tokens = max_tokens_per_doc.min(room - query.len());
        let overlap = overlap.unwrap_or(window_tokens / 4).min(window_tokens / 2);

        let per_document: Vec<Result<Vec<(Encoding, u32, u32)>>> = (0..documents.len())
            .into_maybe_par_iter()
            .map(|i| self.document_windows(i, &query, documents[i].as_ref(), max_tokens_per_doc, window_tokens, overlap))
            .collect();

        let mut out = EncodedWindows {
            window_tokens: window_tokens as u32,
            query_tokens: query.len() as u32,
            ..Default::default()
        };
        let mut encodings = Vec::new();
        for (i, windows) in per_document.into_iter().enumerate() {
            for (encoding, start, end) in windows? {
                encodings.push(Ok(encoding));
                out.documents.push(i as u32);
                out.starts.push(start);
                out.ends.push(end);
            }
        }
        out.pairs = crate::encode::pack(encodings, "window")?;
        Ok(out)
    }

    /// One document's windows, each with the query and its UTF-16 span in the document.
    fn document_windows(
        &self,
        index: usize,
        query: &Encoding,
        document: &str,
        max_tokens_per_doc: usize,
        window_tokens: usize,
        overlap: usize,
    ) -> Result<Vec<(Encoding, u32, u32)>> {
        let fail = |e: tokenizers::Error| Error::encode(format!("document {index}: {e}"));
        // `encode`, not `encode_fast`: the same ids, with byte offsets to locate the windows.
        let mut encoding = self.tokenizer.encode(document, false).map_err(fail)?;
        encoding.truncate(max_tokens_per_doc, 0, TruncationDirection::Right);
        drop(encoding.take_overflowing());
        // tokenizers' own stride truncation: windows of window_tokens, each starting
        // window_tokens - overlap after the previous, the last one ending at the document's end.
        encoding.truncate(window_tokens, overlap, TruncationDirection::Right);
        let rest = encoding.take_overflowing();
        let processor = self.tokenizer.get_post_processor().expect("checked at load");
        let mut cursor = Utf16Cursor::new(document);
        let mut windows = Vec::with_capacity(1 + rest.len());
        for window in std::iter::once(encoding).chain(rest) {
            let offsets = window.get_offsets();
            let (start, end) = match (offsets.first(), offsets.last()) {
                (Some(first), Some(last)) => (first.0, last.1),
                _ => (0, 0),
            };
            // Windows start in increasing order, but a window's end lies beyond the next start:
            // measure the start with the cursor, the end from there.
            let start16 = cursor.at(start);
            let end16 = start16 + document[start.min(document.len())..end.min(document.len())].encode_utf16().count();
            let pair = processor.process(query.clone(), Some(window), true).map_err(fail)?;
            windows.push((pair, start16 as u32, end16 as u32));
        }
        Ok(windows)
    }
}
