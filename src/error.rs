//! One error type for the whole tool. Each variant already names what it is about (a path and
//! line, a path and an OS error), so printing it is enough. Fatal errors end the command with
//! exit code 1; problems inside a file that boot would shrug off are findings instead (see
//! `rules`).

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Error {
    /// Bad input at a line of a file.
    #[error("{path}:{line}: {message}")]
    At {
        path: String,
        line: usize,
        message: String,
    },
    /// An operating-system error on a path (`errno` when the OS gave one).
    #[error("{path}: {reason}")]
    Io {
        path: String,
        errno: Option<i32>,
        reason: String,
    },
    #[error("{0}")]
    Msg(String),
}

impl Error {
    pub fn msg(msg: impl Into<String>) -> Error {
        Error::Msg(msg.into())
    }

    /// An I/O failure on `what` (usually an in-root path).
    pub fn io(what: impl fmt::Display, e: io::Error) -> Error {
        let errno = e.raw_os_error();
        let reason = match errno {
            Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
            None => e.to_string(),
        };
        Error::Io {
            path: what.to_string(),
            errno,
            reason,
        }
    }

    pub fn at(path: &str, line: usize, msg: impl fmt::Display) -> Error {
        Error::At {
            path: path.to_string(),
            line,
            message: msg.to_string(),
        }
    }

    /// Whether this is the OS saying the path is a directory.
    pub fn is_directory(&self) -> bool {
        matches!(self, Error::Io { errno: Some(e), .. } if *e == nix::libc::EISDIR)
    }

    /// The path (and line) the error is about, and its message without them: the parts of
    /// a JSON error.
    pub fn parts(&self) -> (Option<&str>, Option<usize>, String) {
        match self {
            Error::At {
                path,
                line,
                message,
            } => (Some(path), Some(*line), message.clone()),
            Error::Io { path, reason, .. } => (Some(path), None, reason.clone()),
            Error::Msg(m) => (None, None, m.clone()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
