//! The napi-rs binding: `Tokenizer` for JavaScript. All logic lives in the plain Rust modules.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Env, Status, Task, Uint32Array, Uint8Array, Unknown};
use napi_derive::napi;

use crate::encode::{max_length_from_number, EncodedPairs, Truncation};
use crate::error::{Error, ErrorKind};
use crate::load::PairTokenizer;

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

/// An encoding task's failure: kept whole in the task, so `reject` can build its JS error with the code.
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
pub struct EncodePairsTask {
    tokenizer: Arc<PairTokenizer>,
    failure: Option<Error>,
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

/// Texts copied from JS on the JS thread; `compute` then encodes them alone on a libuv worker.
pub struct EncodeTextsTask {
    tokenizer: Arc<PairTokenizer>,
    failure: Option<Error>,
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

    /// Encodes (firsts[i], seconds[i]) on the calling thread (parallel over pairs).
    #[napi(
        ts_args_type = "firsts: string[], seconds: string[], maxLength: number, truncation: 'longest_first' | 'only_second'"
    )]
    pub fn encode_pairs(
        &self,
        env: Env,
        firsts: Vec<String>,
        seconds: Vec<String>,
        max_length: f64,
        truncation: String,
    ) -> napi::Result<JsEncodedPairs> {
        let task = EncodePairsTask {
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
            failure: None,
            firsts,
            seconds,
            max_length,
            truncation,
        })
    }

    /// Encodes each text alone (`[CLS] text [SEP]`, type ids 0) on the calling thread.
    #[napi(ts_args_type = "texts: string[], maxLength: number")]
    pub fn encode_texts(
        &self,
        env: Env,
        texts: Vec<String>,
        max_length: f64,
    ) -> napi::Result<JsEncodedPairs> {
        let task = EncodeTextsTask {
            tokenizer: self.inner.clone(),
            failure: None,
            texts,
            max_length,
        };
        task.run()
            .map(JsEncodedPairs::from)
            .map_err(|error| to_js_error(&env, error))
    }

    /// Same as `encodeTexts`, off the JS thread; errors reject the Promise.
    #[napi(
        ts_args_type = "texts: string[], maxLength: number",
        ts_return_type = "Promise<EncodedPairs>"
    )]
    pub fn encode_texts_async(&self, texts: Vec<String>, max_length: f64) -> AsyncTask<EncodeTextsTask> {
        AsyncTask::new(EncodeTextsTask {
            tokenizer: self.inner.clone(),
            failure: None,
            texts,
            max_length,
        })
    }
}
