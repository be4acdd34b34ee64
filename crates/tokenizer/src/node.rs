//! The napi-rs binding: `Tokenizer` for JavaScript. All logic lives in the plain Rust modules.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Env, Status, Task, Uint32Array, Uint8Array};
use napi_derive::napi;

use crate::encode::{max_length_from_number, EncodedPairs, Truncation};
use crate::error::{Error, ErrorKind};
use crate::load::PairTokenizer;
use crate::windows::EncodedWindows;

fn to_napi(error: Error) -> napi::Error {
    let status = match error.kind {
        ErrorKind::InvalidArgument => Status::InvalidArg,
        ErrorKind::Load | ErrorKind::Encode => Status::GenericFailure,
    };
    napi::Error::new(status, error.message)
}

/// Token ids of several pairs back to back; pair i spans `lengths[i]` entries.
#[napi(object, js_name = "EncodedPairs")]
pub struct JsEncodedPairs {
    pub ids: Uint32Array,
    /// 0 for `[CLS] a [SEP]`, 1 for `b [SEP]`.
    pub type_ids: Uint8Array,
    pub lengths: Uint32Array,
}

impl From<EncodedPairs> for JsEncodedPairs {
    fn from(encoded: EncodedPairs) -> Self {
        JsEncodedPairs {
            ids: Uint32Array::new(encoded.ids),
            type_ids: Uint8Array::new(encoded.type_ids),
            lengths: Uint32Array::new(encoded.lengths),
        }
    }
}

/// Arguments copied from JS on the JS thread; `compute` then runs on a libuv worker.
pub struct EncodePairsTask {
    tokenizer: Arc<PairTokenizer>,
    firsts: Vec<String>,
    seconds: Vec<String>,
    max_length: f64,
    truncation: String,
}

impl EncodePairsTask {
    fn run(&self) -> crate::error::Result<EncodedPairs> {
        let max_length = max_length_from_number(self.max_length)?;
        let truncation = Truncation::parse(&self.truncation)?;
        self.tokenizer
            .encode_pairs(&self.firsts, &self.seconds, max_length, truncation)
    }
}

impl Task for EncodePairsTask {
    type Output = EncodedPairs;
    type JsValue = JsEncodedPairs;

    fn compute(&mut self) -> napi::Result<EncodedPairs> {
        self.run().map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: EncodedPairs) -> napi::Result<JsEncodedPairs> {
        Ok(output.into())
    }
}

/// Texts copied from JS on the JS thread; `compute` then encodes them alone on a libuv worker.
pub struct EncodeTextsTask {
    tokenizer: Arc<PairTokenizer>,
    texts: Vec<String>,
    max_length: f64,
}

impl EncodeTextsTask {
    fn run(&self) -> crate::error::Result<EncodedPairs> {
        let max_length = max_length_from_number(self.max_length)?;
        self.tokenizer.encode_texts(&self.texts, max_length)
    }
}

impl Task for EncodeTextsTask {
    type Output = EncodedPairs;
    type JsValue = JsEncodedPairs;

    fn compute(&mut self) -> napi::Result<EncodedPairs> {
        self.run().map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: EncodedPairs) -> napi::Result<JsEncodedPairs> {
        Ok(output.into())
    }
}

/// Every window of every document with the query (see `encodeWindowsAsync`).
#[napi(object, js_name = "EncodedWindows")]
pub struct JsEncodedWindows {
    pub ids: Uint32Array,
    pub type_ids: Uint8Array,
    pub lengths: Uint32Array,
    /// The document each window comes from; a document's windows are consecutive.
    pub documents: Uint32Array,
    /// Each window's span in its document, in UTF-16 code units (string indices).
    pub starts: Uint32Array,
    pub ends: Uint32Array,
    pub window_tokens: u32,
    pub query_tokens: u32,
}

impl From<EncodedWindows> for JsEncodedWindows {
    fn from(windows: EncodedWindows) -> Self {
        JsEncodedWindows {
            ids: Uint32Array::new(windows.pairs.ids),
            type_ids: Uint8Array::new(windows.pairs.type_ids),
            lengths: Uint32Array::new(windows.pairs.lengths),
            documents: Uint32Array::new(windows.documents),
            starts: Uint32Array::new(windows.starts),
            ends: Uint32Array::new(windows.ends),
            window_tokens: windows.window_tokens,
            query_tokens: windows.query_tokens,
        }
    }
}

/// Query and documents copied from JS on the JS thread; `compute` cuts the windows on a libuv worker.
pub struct EncodeWindowsTask {
    tokenizer: Arc<PairTokenizer>,
    query: String,
    documents: Vec<String>,
    max_length: f64,
    max_tokens_per_doc: u32,
    overlap: Option<u32>,
}

impl Task for EncodeWindowsTask {
    type Output = EncodedWindows;
    type JsValue = JsEncodedWindows;

    fn compute(&mut self) -> napi::Result<EncodedWindows> {
        let max_length = max_length_from_number(self.max_length).map_err(to_napi)?;
        self.tokenizer
            .encode_windows(
                &self.query,
                &self.documents,
                max_length,
                self.max_tokens_per_doc as usize,
                self.overlap.map(|o| o as usize),
            )
            .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: EncodedWindows) -> napi::Result<JsEncodedWindows> {
        Ok(output.into())
    }
}

/// A pair tokenizer loaded from a model folder.
#[napi]
pub struct Tokenizer {
    inner: Arc<PairTokenizer>,
}

#[napi]
impl Tokenizer {
    /// Loads `dir/tokenizer.json`, or else builds BERT WordPiece from `dir/vocab.txt` and
    /// `dir/tokenizer_config.json`.
    #[napi(factory)]
    pub fn from_dir(dir: String) -> napi::Result<Self> {
        let inner = PairTokenizer::from_dir(dir).map_err(to_napi)?;
        Ok(Tokenizer {
            inner: Arc::new(inner),
        })
    }

    /// 'tokenizer.json' or 'vocab.txt'.
    #[napi(getter, ts_return_type = "'tokenizer.json' | 'vocab.txt'")]
    pub fn source(&self) -> &'static str {
        self.inner.source()
    }

    /// model_max_length from tokenizer_config.json when it is below 1e6, else null.
    #[napi(getter, ts_return_type = "number | null")]
    pub fn model_max_length(&self) -> Option<u32> {
        self.inner.model_max_length()
    }

    /// Encodes (firsts[i], seconds[i]) on the calling thread (parallel over pairs).
    #[napi(
        ts_args_type = "firsts: string[], seconds: string[], maxLength: number, truncation: 'longest_first' | 'only_second'"
    )]
    pub fn encode_pairs(
        &self,
        firsts: Vec<String>,
        seconds: Vec<String>,
        max_length: f64,
        truncation: String,
    ) -> napi::Result<JsEncodedPairs> {
        let task = EncodePairsTask {
            tokenizer: self.inner.clone(),
            firsts,
            seconds,
            max_length,
            truncation,
        };
        task.run().map(JsEncodedPairs::from).map_err(to_napi)
    }

    /// Same as `encodePairs`, off the JS thread; errors reject the Promise.
    #[napi(
        ts_args_type = "firsts: string[], seconds: string[], maxLength: number, truncation: 'longest_first' | 'only_second'",
        ts_return_type = "Promise<EncodedPairs>"
    )]
    pub fn encode_pairs_async(
        &self,
        firsts: Vec<String>,
        seconds: Vec<String>,
        max_length: f64,
        truncation: String,
    ) -> AsyncTask<EncodePairsTask> {
        AsyncTask::new(EncodePairsTask {
            tokenizer: self.inner.clone(),
            firsts,
            seconds,
            max_length,
            truncation,
        })
    }

    /// Encodes each text alone (`[CLS] text [SEP]`, type ids 0) on the calling thread.
    #[napi(ts_args_type = "texts: string[], maxLength: number")]
    pub fn encode_texts(&self, texts: Vec<String>, max_length: f64) -> napi::Result<JsEncodedPairs> {
        let task = EncodeTextsTask {
            tokenizer: self.inner.clone(),
            texts,
            max_length,
        };
        task.run().map(JsEncodedPairs::from).map_err(to_napi)
    }

    /// Same as `encodeTexts`, off the JS thread; errors reject the Promise.
    #[napi(
        ts_args_type = "texts: string[], maxLength: number",
        ts_return_type = "Promise<EncodedPairs>"
    )]
    pub fn encode_texts_async(&self, texts: Vec<String>, max_length: f64) -> AsyncTask<EncodeTextsTask> {
        AsyncTask::new(EncodeTextsTask {
            tokenizer: self.inner.clone(),
            texts,
            max_length,
        })
    }

    /// Splits each document into windows of tokens that fit beside the query within maxLength,
    /// consecutive windows sharing `overlap` tokens (default a quarter window), after cutting it to `maxTokensPerDoc` tokens;
    /// off the JS thread.
    #[napi(
        ts_args_type = "query: string, documents: string[], maxLength: number, maxTokensPerDoc: number, overlap?: number | undefined",
        ts_return_type = "Promise<EncodedWindows>"
    )]
    pub fn encode_windows_async(
        &self,
        query: String,
        documents: Vec<String>,
        max_length: f64,
        max_tokens_per_doc: u32,
        overlap: Option<u32>,
    ) -> AsyncTask<EncodeWindowsTask> {
        AsyncTask::new(EncodeWindowsTask {
            tokenizer: self.inner.clone(),
            query,
            documents,
            max_length,
            max_tokens_per_doc,
            overlap,
        })
    }
}
