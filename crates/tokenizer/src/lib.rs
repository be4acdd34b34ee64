//! crossrank's tokenizer: encodes (query, passage) pairs for BERT cross-encoders with Hugging Face
//! `tokenizers`, returning flat arrays. The napi-rs binding is in `node`; everything else is
//! plain Rust so that `cargo test` exercises it without Node.

mod bert;
pub mod config;
pub mod encode;
pub mod error;
pub mod error_codes;
pub mod load;
mod node;
pub mod windows;

pub use encode::{max_length_from_number, EncodedPairs, Truncation, MIN_MAX_LENGTH};
pub use error::{Error, ErrorKind};
pub use load::PairTokenizer;
pub use windows::EncodedWindows;
