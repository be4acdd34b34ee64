use std::fmt;
use std::path::Path;

/// What went wrong, so the binding can pick the JS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file is missing, unreadable or malformed.
    Load,
    /// An argument is out of range or inconsistent (e.g. maxLength, array lengths).
    InvalidArgument,
    /// A pair cannot be encoded as asked (e.g. `only_second` with a first text that is too long).
    Encode,
}

impl ErrorKind {
    /// The code JS sees (native/error-codes.json): a file is CROSSRANK_MODEL, the rest CROSSRANK_INPUT.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Load => crate::error_codes::MODEL,
            ErrorKind::InvalidArgument | ErrorKind::Encode => crate::error_codes::INPUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn load(path: &Path, detail: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::Load,
            message: format!("{}: {}", path.display(), detail),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::InvalidArgument,
            message: message.into(),
        }
    }

    pub fn encode(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Encode,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
