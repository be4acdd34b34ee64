//! The napi-rs binding: `Tokenizer` for JavaScript. All logic lives in the plain Rust modules.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Env, Status, Task, Uint32Array, Uint8Array, Unknown};
use napi_derive::napi;

use crate::encode::{max_length_from_number, EncodedPairs, Truncation};
use crate::error::{Error, ErrorKind};
use crate::load::PairTokenizer;
use crate::windows::EncodedWindows;

/// The JS error for `error`, as the C++ addon throws them (native/error-codes.json): its `code`
/// from the shared list, a RangeError for input, an Error for a file.
fn to_js_error(env: &Env, error: Error) -> napi::Error {
    let code = error.kind.code();
    let inner = napi::Error::new(code, error.message);
    // Built as a JS object here so that its `code` is ours; napi::Error alone carries only a Status.
    let value = unsafe {
        match error.kind {
            ErrorKind::Load => napi::JsError::from(inner).into_value(env.raw()),
            ErrorKind::InvalidArgument | ErrorKind::Encode => {
                napi::JsRangeError::from(inner).into_value(env.raw())
            }
        }
    };
    napi::Error::from(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

/// A tokenizing task's failure: kept whole in the task, so `reject` can build its JS error with the code.
fn keep_failure<T>(failure: &mut Option<Error>, result: crate::error::Result<T>) -> napi::Result<T> {
    result.map_err(|error| {
        let status = napi::Error::new(Status::GenericFailure, error.message.clone());
        *failure = Some(error);
        status
    })
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
pub struct TokenizePairsTask {
    tokenizer: Arc<PairTokenizer>,
    failure: Option<Error>,
    firsts: Vec<String>,
    seconds: Vec<String>,
    max_length: f64,
    truncation: String,
}

impl TokenizePairsTask {
    fn run(&self) -> crate::error::Result<EncodedPairs> {
        let max_length = max_length_from_number(self.max_length)?;
        let truncation = Truncation::parse(&self.truncation)?;
        self.tokenizer
            .encode_pairs(&self.firsts, &self.seconds, max_length, truncation)
    }
}

impl Task for TokenizePairsTask {
    type Output = EncodedPairs;
    type JsValue = JsEncodedPairs;

    fn compute(&mut self) -> napi::Result<EncodedPairs> {
        let result = self.run();
        keep_failure(&mut self.failure, result)
    }

    fn resolve(&mut self, _env: Env, output: EncodedPairs) -> napi::Result<JsEncodedPairs> {
        Ok(output.into())
    }

    fn reject(&mut self, env: Env, error: napi::Error) -> napi::Result<JsEncodedPairs> {
        Err(self
            .failure
            .take()
            .map_or(error, |failure| to_js_error(&env, failure)))
    }
}

/// Texts copied from JS on the JS thread; `compute` then tokenizes them alone on a libuv worker.
pub struct TokenizeTextsTask {
    tokenizer: Arc<PairTokenizer>,
    failure: Option<Error>,
    texts: Vec<String>,
    max_length: f64,
}

impl TokenizeTextsTask {
    fn run(&self) -> crate::error::Result<EncodedPairs> {
        let max_length = max_length_from_number(self.max_length)?;
        self.tokenizer.encode_texts(&self.texts, max_length)
    }
}

impl Task for TokenizeTextsTask {
    type Output = EncodedPairs;
    type JsValue = JsEncodedPairs;

    fn compute(&mut self) -> napi::Result<EncodedPairs> {
        let result = self.run();
        keep_failure(&mut self.failure, result)
    }

    fn resolve(&mut self, _env: Env, output: EncodedPairs) -> napi::Result<JsEncodedPairs> {
        Ok(output.into())
    }

    fn reject(&mut self, env: Env, error: napi::Error) -> napi::Result<JsEncodedPairs> {
        Err(self
            .failure
            .take()
            .map_or(error, |failure| to_js_error(&env, failure)))
    }
}

/// Every window of every document with the query (see `tokenizeWindowsAsync`).
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
pub struct TokenizeWindowsTask {
    tokenizer: Arc<PairTokenizer>,
    failure: Option<Error>,
    query: String,
    documents: Vec<String>,
    max_length: f64,
    max_tokens_per_doc: u32,
    overlap: Option<u32>,
}

impl TokenizeWindowsTask {
    fn run(&self) -> crate::error::Result<EncodedWindows> {
        let max_length = max_length_from_number(self.max_length)?;
        self.tokenizer.encode_windows(
            &self.query,
            &self.documents,
            max_length,
            self.max_tokens_per_doc as usize,
            self.overlap.map(|o| o as usize),
        )
    }
}

impl Task for TokenizeWindowsTask {
    type Output = EncodedWindows;
    type JsValue = JsEncodedWindows;

    fn compute(&mut self) -> napi::Result<EncodedWindows> {
        let result = self.run();
        keep_failure(&mut self.failure, result)
    }

    fn resolve(&mut self, _env: Env, output: EncodedWindows) -> napi::Result<JsEncodedWindows> {
        Ok(output.into())
    }

    fn reject(&mut self, env: Env, error: napi::Error) -> napi::Result<JsEncodedWindows> {
        Err(self
            .failure
            .take()
            .map_or(error, |failure| to_js_error(&env, failure)))
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
    pub fn from_dir(env: Env, dir: String) -> napi::Result<Self> {
        let inner = PairTokenizer::from_dir(dir).map_err(|error| to_js_error(&env, error))?;
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

    /// Tokenizes (firsts[i], seconds[i]) on the calling thread (parallel over pairs).
    #[napi(
        ts_args_type = "firsts: string[], seconds: string[], maxLength: number, truncation: 'longest_first' | 'only_second'"
    )]
    pub fn tokenize_pairs(
        &self,
        env: Env,
        firsts: Vec<String>,
        seconds: Vec<String>,
        max_length: f64,
        truncation: String,
    ) -> napi::Result<JsEncodedPairs> {
        let task = TokenizePairsTask {
            tokenizer: self.inner.clone(),
            failure: None,
            firsts,
            seconds,
            max_length,
            truncation,
        };
        task.run()
            .map(JsEncodedPairs::from)
            .map_err(|error| to_js_error(&env, error))
    }

    /// Same as `tokenizePairs`, off the JS thread; errors reject the Promise.
    #[napi(
        ts_args_type = "firsts: string[], seconds: string[], maxLength: number, truncation: 'longest_first' | 'only_second'",
        ts_return_type = "Promise<EncodedPairs>"
    )]
    pub fn tokenize_pairs_async(
        &self,
        firsts: Vec<String>,
        seconds: Vec<String>,
        max_length: f64,
        truncation: String,
    ) -> AsyncTask<TokenizePairsTask> {
        AsyncTask::new(TokenizePairsTask {
            tokenizer: self.inner.clone(),
            failure: None,
            firsts,
            seconds,
            max_length,
            truncation,
        })
    }

    /// Tokenizes each text alone (`[CLS] text [SEP]`, type ids 0) on the calling thread.
    #[napi(ts_args_type = "texts: string[], maxLength: number")]
    pub fn tokenize_texts(
        &self,
        env: Env,
        texts: Vec<String>,
        max_length: f64,
    ) -> napi::Result<JsEncodedPairs> {
        let task = TokenizeTextsTask {
            tokenizer: self.inner.clone(),
            failure: None,
            texts,
            max_length,
        };
        task.run()
            .map(JsEncodedPairs::from)
            .map_err(|error| to_js_error(&env, error))
    }

    /// Same as `tokenizeTexts`, off the JS thread; errors reject the Promise.
    #[napi(
        ts_args_type = "texts: string[], maxLength: number",
        ts_return_type = "Promise<EncodedPairs>"
    )]
    pub fn tokenize_texts_async(&self, texts: Vec<String>, max_length: f64) -> AsyncTask<TokenizeTextsTask> {
        AsyncTask::new(TokenizeTextsTask {
            tokenizer: self.inner.clone(),
            failure: None,
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
    pub fn tokenize_windows_async(
        &self,
        query: String,
        documents: Vec<String>,
        max_length: f64,
        max_tokens_per_doc: u32,
        overlap: Option<u32>,
    ) -> AsyncTask<TokenizeWindowsTask> {
        AsyncTask::new(TokenizeWindowsTask {
            tokenizer: self.inner.clone(),
            failure: None,
            query,
            documents,
            max_length,
            max_tokens_per_doc,
            overlap,
        })
    }
}
