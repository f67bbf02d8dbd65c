//! qfix: find and fix the kernel and service settings behind listen() backlog overflows.

pub mod apply;
pub mod blame;
pub mod cli;
pub mod edit;
pub mod error;
pub mod heap;
pub mod host;
pub mod kernel;
pub mod output;
pub mod plan;
pub mod policy;
pub mod root;
pub mod rules;
pub mod services;
pub mod sysctl;
pub mod trace;

/// The pieces joined into one exactly sized string: thousands of messages and names on a busy
/// host, where `format!`'s machinery costs several times the copying.
pub fn concat(pieces: &[&str]) -> String {
    let mut s = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    push_all(&mut s, pieces);
    s
}

/// The pieces appended to `s`: a message built in a buffer that is reused, or whose parts
/// come from several calls (an `itoa::Buffer` formats one number at a time).
pub fn push_all(s: &mut String, pieces: &[&str]) {
    for p in pieces {
        s.push_str(p);
    }
}
