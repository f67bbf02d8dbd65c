//! nginx: `listen ADDR [backlog=N] ...;` in `server` blocks of `http` and `stream`.
//!
//! One step per module, each feeding the next:
//! - `lexer`: a file's bytes to tokens, by nginx's own rules; every byte is in one token,
//!   so a span is what an edit replaces;
//! - `parser`: tokens to directives and blocks, with the spans and lines of their words;
//! - `includes`: nginx.conf walked with its includes expanded as nginx does, collecting the
//!   servers and their listen lines;
//! - `listeners`: listen lines to `Listener`s, with the backlog of the socket each opens;
//! - `facts`: beside the walk, the error logs and upstreams (`services::facts::NginxFacts`).

mod facts;
mod includes;
mod lexer;
mod listeners;
mod parser;

use super::{Location, Problem, Scan};
use crate::host::Host;

/// Main config locations: distro packages, then a source build's default prefix.
const MAIN_CONFIGS: [&str; 2] = ["/etc/nginx/nginx.conf", "/usr/local/nginx/conf/nginx.conf"];
/// Deeper blocks or include chains are not real configs: both are bounded (the parser and
/// the walk then skip what is deeper, with an error).
const MAX_DEPTH: usize = 64;

pub fn scan(host: &Host, scan: &mut Scan) {
    let Some(main) = MAIN_CONFIGS
        .iter()
        .find(|p| matches!(host.read(p), Ok(Some(_))))
    else {
        // unreadable main config: report it rather than pretend nginx is absent
        for p in MAIN_CONFIGS {
            if let Err(e) = host.read(p) {
                scan.errors.push(e);
            }
        }
        return;
    };
    let servers = includes::walk(host, main, scan);
    listeners::report(&servers, main, scan);
}

fn problem(path: &str, line: usize, message: String) -> Problem {
    Problem {
        location: Location {
            path: path.into(),
            line,
        },
        message,
    }
}

#[cfg(test)]
mod tests;
