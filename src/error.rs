//! One error type for the whole tool: a message that already names the path (and line)
//! it is about. Fatal errors end the command with exit code 1; problems inside a file that
//! boot would shrug off are findings instead (see `rules`).

use std::fmt;
use std::io;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
}

impl Error {
    pub fn msg(msg: impl Into<String>) -> Error {
        Error { msg: msg.into() }
    }

    /// An I/O failure on `what` (usually an in-root path).
    pub fn io(what: impl fmt::Display, e: io::Error) -> Error {
        let reason = match e.raw_os_error() {
            Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
            None => e.to_string(),
        };
        Error {
            msg: format!("{what}: {reason}"),
        }
    }

    pub fn at(path: &str, line: usize, msg: impl fmt::Display) -> Error {
        Error {
            msg: format!("{path}:{line}: {msg}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
