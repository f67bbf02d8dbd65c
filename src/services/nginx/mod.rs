//! nginx: `listen ADDR [backlog=N] ...;` in `server` blocks of `http` and `stream`.
//!
//! The config is tokenized losslessly (every byte belongs to one token, so spans can be edited
//! in place) and parsed in one pass that keeps only what qfix walks: blocks, `include`,
//! `listen` and `server_name` (words borrow the file's text unless they hold escapes). That is
//! walked from nginx.conf with `include` expanded the way nginx does it: relative to the
//! nginx.conf directory, globs may match nothing, a missing plain file fails `nginx -t`.
//!
//! Socket options (backlog= and friends) belong to an addr:port, not to a server block: nginx
//! opens one socket per addr:port and accepts the options on only one of its listen lines.
//! So every listen line is reported, but its backlog is the one its socket really gets.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::error::Error;
use crate::host::Host;
use crate::root::{self, Resolved};

/// Main config locations: distro packages, then a source build's default prefix.
const MAIN_CONFIGS: [&str; 2] = ["/etc/nginx/nginx.conf", "/usr/local/nginx/conf/nginx.conf"];
/// NGX_LISTEN_BACKLOG on Linux.
const DEFAULT_BACKLOG: i64 = 511;
const DEFAULT_REASON: &str = "nginx default 511 on Linux";
const NO_LISTEN_REASON: &str = "no listen directive: nginx listens on *:80";
const RELOAD_REASON: &str = "nginx reload re-creates the socket when backlog= changes";
/// Guard against include fan-out (a file including another twice, 30 levels deep): nginx
/// would take forever too, qfix stops and says so.
const MAX_INCLUDES: usize = 100_000;
/// A parsed file with more events than this is not kept for another include of it.
const KEEP_EVENTS: usize = 64;
/// Deeper blocks or include chains are not real configs: bound them (the include chain is
/// walked recursively).
const MAX_DEPTH: usize = 64;

// The lexer and parser that replace the tokenizer and parser below; until the walk uses
// them, only the tests do.
#[cfg_attr(not(test), allow(dead_code))]
mod lexer;
#[cfg_attr(not(test), allow(dead_code))]
mod parser;

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
    let mut w = Walker::new(host, root::parent(main).to_string(), scan);
    w.file(main, None, Ctx::Main);
    let servers = std::mem::take(&mut w.servers);
    let listens = std::mem::take(&mut w.listens);
    drop(w);
    listeners(&servers, listens, main, scan);
}

// ---------------------------------------------------------------------------------------------
// Tokenizer: a port of ngx_conf_read_token's rules, keeping every byte.

/// A problem the tokenizer or parser found: byte offset's line and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SyntaxError {
    line: usize,
    message: String,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that end a bare word or need a look: whitespace, then `;`, `{`, `\` and `$`
/// (`WORD_MARKS`, which the chunk scan looks for beside every byte up to space).
const WORD_MARKS: &[u8] = b";{\\$";
const WORD_STOP: [bool; 256] = table(&[b" \t\r\n", WORD_MARKS]);

/// A byte table that is true for the bytes of `sets`.
const fn table(sets: &[&[u8]]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut s = 0;
    while s < sets.len() {
        let mut i = 0;
        while i < sets[s].len() {
            t[sets[s][i] as usize] = true;
            i += 1;
        }
        s += 1;
    }
    t
}

/// The first byte of a chunk that may stop a scan, found for a whole chunk at once: SSE2
/// (part of every x86_64) takes 16 bytes, elsewhere a u64 takes 8 (SWAR). The found byte is
/// exact; the caller's byte loop then confirms it against the stop table.
mod lanes {
    use super::{ARG_STOPS, WORD_MARKS};

    #[cfg(target_arch = "x86_64")]
    pub const WIDTH: usize = 16;
    #[cfg(not(target_arch = "x86_64"))]
    pub const WIDTH: usize = 8;

    /// Index of the first byte of `c` (WIDTH bytes) that is a control character or space,
    /// or one of WORD_MARKS (a WORD_STOP candidate).
    #[inline(always)]
    pub fn word_stop(c: &[u8]) -> Option<usize> {
        imp::first_of(c, true, WORD_MARKS)
    }

    /// Index of the first byte of `c` that is one of ARG_STOPS.
    #[inline(always)]
    pub fn arg_stop(c: &[u8]) -> Option<usize> {
        imp::first_of(c, false, ARG_STOPS)
    }

    #[cfg(target_arch = "x86_64")]
    mod imp {
        use std::arch::x86_64::*;

        /// The first byte of `c` that is one of `bytes`, or (with `low`) at most 0x20. The
        /// byte lists are constants: the loop unrolls into one compare each.
        #[inline(always)]
        pub fn first_of(c: &[u8], low: bool, bytes: &[u8]) -> Option<usize> {
            debug_assert_eq!(c.len(), super::WIDTH);
            // SAFETY: SSE2 is baseline on x86_64 (the intrinsics are unsafe only for that);
            // the unaligned load reads the 16 bytes of `c`
            unsafe {
                let x = _mm_loadu_si128(c.as_ptr().cast());
                let eq = |b: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(b as i8));
                let mut m = eq(bytes[0]);
                for &b in &bytes[1..] {
                    m = _mm_or_si128(m, eq(b));
                }
                if low {
                    // x <= 0x20, unsigned
                    m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x));
                }
                let mask = _mm_movemask_epi8(m) as u32;
                (mask != 0).then(|| mask.trailing_zeros() as usize)
            }
        }
    }

    /// Eight bytes in a u64 (SWAR): bit 7 of each byte flags a match; the lowest flag is
    /// exact, those above it may be spurious.
    #[cfg(not(target_arch = "x86_64"))]
    mod imp {
        const ONES: u64 = u64::from_ne_bytes([1; 8]);
        const HIGH: u64 = ONES * 0x80;

        #[inline(always)]
        pub fn first_of(c: &[u8], low: bool, bytes: &[u8]) -> Option<usize> {
            let x = u64::from_le_bytes(c.try_into().unwrap_or_default());
            let mut m = if low {
                x.wrapping_sub(ONES * 0x21) & !x & HIGH
            } else {
                0
            };
            for &b in bytes {
                let y = x ^ (ONES * u64::from(b));
                m |= y.wrapping_sub(ONES) & !y & HIGH;
            }
            (m != 0).then(|| (m.trailing_zeros() / 8) as usize)
        }
    }
}

// The scanners below take the byte offset of a token's first byte and return its end; they
// count the newlines they cross in `line`. The tokenizer and the parser share them.

/// Bytes that may end a directive's arguments or need the whole tokenizer: `;`, `{`, `}`,
/// quotes, `\`, `#` and LF.
const ARG_STOPS: &[u8] = b";{}\"'\\#\n";
const ARG_STOP: [bool; 256] = table(&[ARG_STOPS]);

/// After a directive's name at `i`: the offset of the `;` or `{` that ends the directive
/// when all between is spaces and plain words on the same line (no quote, escape, comment,
/// `}` or `${`), else `i` itself (the tokenizer goes on from there).
#[inline(always)]
fn skip_plain_args(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while let Some(chunk) = b.get(j..j + lanes::WIDTH) {
        if let Some(k) = lanes::arg_stop(chunk) {
            j += k;
            break;
        }
        j += lanes::WIDTH;
    }
    while j < b.len() && !ARG_STOP[b[j] as usize] {
        j += 1;
    }
    match b.get(j) {
        Some(b';') => j,
        Some(b'{') if b[j - 1] != b'$' => j,
        _ => i,
    }
}

/// Spaces, tabs, CR and LF.
#[inline(always)]
fn scan_space(b: &[u8], mut i: usize, line: &mut usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\n' => *line += 1,
            b' ' | b'\t' | b'\r' => {}
            _ => break,
        }
        i += 1;
    }
    i
}

/// `#` to the end of the line (without the LF).
#[inline(always)]
fn scan_comment(text: &str, i: usize) -> usize {
    memchr::memchr(b'\n', &text.as_bytes()[i..]).map_or(text.len(), |n| i + n)
}

/// A quoted string: (end, closed, holds a backslash).
#[inline(always)]
fn scan_quoted(b: &[u8], mut i: usize, line: &mut usize) -> (usize, bool, bool) {
    let q = b[i];
    let mut escaped = false;
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                escaped = true;
                if b.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                i += 2;
            }
            x if x == q => return (i + 1, true, escaped),
            x => {
                if x == b'\n' {
                    *line += 1;
                }
                i += 1;
            }
        }
    }
    (b.len(), false, escaped)
}

/// A bare word: (end, holds a backslash). It ends at whitespace, `;` or `{` (but `${` stays
/// inside, as in `${var}`); `}`, quotes and `#` inside a word are plain characters.
#[inline(always)]
fn scan_word(b: &[u8], mut i: usize, line: &mut usize) -> (usize, bool) {
    let mut escaped = false;
    loop {
        // a chunk at a time to the first byte that may stop the word
        while let Some(chunk) = b.get(i..i + lanes::WIDTH) {
            if let Some(k) = lanes::word_stop(chunk) {
                i += k;
                break;
            }
            i += lanes::WIDTH;
        }
        while i < b.len() && !WORD_STOP[b[i] as usize] {
            i += 1;
        }
        match b.get(i) {
            Some(b'\\') => {
                escaped = true;
                if b.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                i += 2;
            }
            Some(b'$') => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    (i.min(b.len()), escaped)
}

fn quote_error(text: &str, i: usize, line: usize) -> SyntaxError {
    SyntaxError {
        line,
        message: format!(
            "unexpected \"{}\" right after a quoted string",
            char_at(text, i)
        ),
    }
}

fn unterminated(line: usize) -> SyntaxError {
    SyntaxError {
        line,
        message: "unterminated quoted string (nginx -t: unexpected end of file)".into(),
    }
}

fn char_at(text: &str, i: usize) -> char {
    text.get(i..).and_then(|s| s.chars().next()).unwrap_or('?')
}

/// The bytes of a word's value inside its raw text: without the quotes of a quoted word.
fn unquoted(raw: &str) -> Range<usize> {
    let b = raw.as_bytes();
    match b.first() {
        Some(&q @ (b'"' | b'\'')) if b.len() >= 2 && b[b.len() - 1] == q => 1..b.len() - 1,
        _ => 0..b.len(),
    }
}

/// A word's value as nginx sees it: quotes stripped, `\"` `\'` `\\` `\t` `\r` `\n` decoded,
/// any other backslash kept. Borrowed unless there is a backslash.
fn unescape(raw: &str) -> Cow<'_, str> {
    let inner = &raw[unquoted(raw)];
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let inner = inner.as_bytes();
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' {
            let decoded = match inner.get(i + 1) {
                Some(&c @ (b'"' | b'\'' | b'\\')) => Some(c),
                Some(b't') => Some(b'\t'),
                Some(b'r') => Some(b'\r'),
                Some(b'n') => Some(b'\n'),
                _ => None,
            };
            if let Some(c) = decoded {
                out.push(c);
                i += 2;
                continue;
            }
        }
        out.push(inner[i]);
        i += 1;
    }
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

// ---------------------------------------------------------------------------------------------
// Parser: text -> directives, one at a time, without materializing whitespace.

/// A word of a directive: where it is; its value is `value(text)`.
#[derive(Debug, Clone)]
struct Word {
    span: Range<usize>,
    line: usize,
    escaped: bool,
}

impl Word {
    /// The value of a directive's name: its bytes as they are for a bare word (every name
    /// in a real config), the unquoted, unescaped value otherwise. Tens of thousands of
    /// names are classified per busy host.
    fn name<'t>(&self, text: &'t str) -> Cow<'t, [u8]> {
        let raw = &text.as_bytes()[self.span.clone()];
        match raw.first() {
            Some(b'"' | b'\'') => {}
            _ if !self.escaped => return Cow::Borrowed(raw),
            _ => {}
        }
        match self.value(text) {
            Cow::Borrowed(v) => Cow::Borrowed(v.as_bytes()),
            Cow::Owned(v) => Cow::Owned(v.into_bytes()),
        }
    }

    fn value<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let raw = &text[self.span.clone()];
        if self.escaped {
            unescape(raw)
        } else {
            Cow::Borrowed(&raw[unquoted(raw)])
        }
    }
}

/// What `Parser::next` found; the directive's words are in `Parser::words` until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `name args;`
    Semi,
    /// `name args {`
    Open,
    /// The `}` of the last open block (also given for blocks still open at the end).
    Close,
}

/// Tokenizes and parses in one pass (the tokens are those of `tokenize`), without recursion
/// (a hostile file of nested `{` must not blow the stack). Errors are recorded and parsing
/// goes on with what makes sense, as qfix still wants the rest: a `{` without a name opens a
/// block whose content is dropped, blocks deeper than MAX_DEPTH are skipped whole, blocks
/// open at the end of the file are closed there.
struct Parser<'t> {
    text: &'t str,
    pos: usize,
    line: usize,
    /// Line of the last token read (spaces and comments too).
    last_line: usize,
    /// After a closing quote nginx wants a separator: `"a"b` is an error.
    need_space: bool,
    /// The tokenizer's errors, and the parser's.
    tok_errs: Vec<SyntaxError>,
    errs: Vec<SyntaxError>,
    /// The words of the directive being read, or of the one just returned.
    words: Vec<Word>,
    /// Blocks open, innermost last: whether it is reported (named, and not inside a dropped
    /// block).
    frames: Vec<bool>,
    /// Blocks open beyond MAX_DEPTH: balanced, but their content is dropped.
    skipped: usize,
    /// When set, a directive whose name it refuses may be given without its arguments.
    keep_args: Option<fn(&str) -> bool>,
    returned: bool,
    eof: bool,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Parser<'t> {
        Parser {
            text,
            pos: 0,
            line: 1,
            last_line: 1,
            need_space: false,
            tok_errs: Vec::new(),
            errs: Vec::new(),
            words: Vec::with_capacity(16),
            frames: Vec::new(),
            skipped: 0,
            keep_args: None,
            returned: false,
            eof: false,
        }
    }

    fn error(&mut self, line: usize, message: &str) {
        self.errs.push(SyntaxError {
            line,
            message: message.to_string(),
        });
    }

    fn next(&mut self) -> Option<Step> {
        if self.returned {
            self.words.clear();
            self.returned = false;
        }
        if !self.eof {
            if let Some(step) = self.read() {
                return Some(step);
            }
            self.eof = true;
            if let Some(w) = self.words.first() {
                let line = w.line;
                self.error(line, "unexpected end of file, expecting \";\" or \"}\"");
                self.words.clear();
            }
            if !self.frames.is_empty() || self.skipped > 0 {
                self.error(self.last_line, "unexpected end of file, expecting \"}\"");
            }
        }
        while let Some(shown) = self.frames.pop() {
            if shown {
                return Some(Step::Close);
            }
        }
        None
    }

    /// Read tokens up to the next step, or to the end of the file (None).
    #[inline(always)]
    fn read(&mut self) -> Option<Step> {
        let text = self.text;
        let b = text.as_bytes();
        let mut i = self.pos;
        let mut line = self.line;
        let mut last_line = self.last_line;
        let mut step = None;
        while i < b.len() {
            let (start, start_line, c) = (i, line, b[i]);
            last_line = line;
            if self.need_space {
                if !is_space(c) && !matches!(c, b';' | b'{' | b')') {
                    self.tok_errs.push(quote_error(text, i, line));
                }
                self.need_space = false;
            }
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => i = scan_space(b, i, &mut line),
                b'#' => i = scan_comment(text, i),
                b';' | b'{' => {
                    i += 1;
                    step = self.end(c == b'{', start_line);
                    if step.is_some() {
                        break;
                    }
                }
                b'}' => {
                    i += 1;
                    step = self.close(start_line);
                    if step.is_some() {
                        break;
                    }
                }
                b'"' | b'\'' => {
                    let (end, closed, escaped) = scan_quoted(b, i, &mut line);
                    i = end;
                    if !closed {
                        self.tok_errs.push(unterminated(start_line));
                    } else {
                        self.need_space = true;
                        if self.skipped == 0 {
                            self.words.push(Word {
                                span: start..i,
                                line: start_line,
                                escaped,
                            });
                        }
                    }
                }
                _ => {
                    let (end, escaped) = scan_word(b, i, &mut line);
                    i = end;
                    if self.skipped == 0 {
                        self.words.push(Word {
                            span: start..i,
                            line: start_line,
                            escaped,
                        });
                        if let Some(keep) = self.keep_args
                            && self.words.len() == 1
                            && !escaped
                            && !keep(&text[start..i])
                        {
                            let end = skip_plain_args(b, i);
                            if end > i && b[end] == b';' {
                                // a whole directive that nobody looks at (most of a site's):
                                // no step for it
                                self.words.clear();
                                i = end + 1;
                                continue;
                            }
                            i = end;
                        }
                    }
                }
            }
        }
        self.pos = i;
        self.line = line;
        self.last_line = last_line;
        step
    }

    /// A `;` or `{` ends the directive in `words`.
    fn end(&mut self, open: bool, line: usize) -> Option<Step> {
        if self.skipped > 0 {
            if open {
                self.skipped += 1;
            }
            return None;
        }
        if self.words.is_empty() {
            if open {
                self.error(line, "unexpected \"{\"");
                // still balance the braces
                self.frames.push(false);
            } else {
                self.error(line, "unexpected \";\"");
            }
            return None;
        }
        let shown = self.frames.last().copied().unwrap_or(true);
        if open && self.frames.len() >= MAX_DEPTH {
            self.error(
                line,
                &format!("blocks nested more than {MAX_DEPTH} deep: qfix skips this one"),
            );
            self.skipped = 1;
            self.words.clear();
            return None;
        }
        if open {
            self.frames.push(shown);
        }
        if !shown {
            self.words.clear();
            return None;
        }
        self.returned = true;
        Some(if open { Step::Open } else { Step::Semi })
    }

    fn close(&mut self, line: usize) -> Option<Step> {
        if self.skipped > 0 {
            self.skipped -= 1;
            return None;
        }
        if !self.words.is_empty() {
            self.error(line, "unexpected \"}\" (missing \";\" before it)");
            self.words.clear();
        } else if self.frames.is_empty() {
            self.error(line, "unexpected \"}\" (no block to close)");
        }
        (self.frames.pop() == Some(true)).then_some(Step::Close)
    }

    /// The tokenizer's errors, then the parser's.
    fn finish(self) -> Vec<SyntaxError> {
        let mut errs = self.tok_errs;
        errs.extend(self.errs);
        errs
    }
}

// ---------------------------------------------------------------------------------------------
// What qfix keeps of a file: blocks and the directives it walks, in order.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockName {
    Http,
    Stream,
    Server,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirName {
    Include,
    Listen,
    ServerName,
}

#[derive(Debug, Clone)]
enum Event {
    /// A block and the line of its name.
    Open(BlockName, usize),
    Close,
    /// A directive ending in `;`, its line and its arguments (a range of `Parsed::args`).
    Directive(DirName, usize, Range<usize>),
}

/// A directive argument. Its value is kept apart from the file's text (in `Parsed::values`),
/// which is dropped once parsed: a busy host's nginx texts are tens of megabytes.
#[derive(Debug, Clone)]
struct Arg {
    span: Range<usize>,
    line: usize,
    /// Line of the end of `span` (an argument may be quoted across lines).
    end_line: usize,
    /// Where its value is in `Parsed::values`.
    value: Range<usize>,
    /// Where the value starts in the file when the file's bytes are the value itself (no
    /// escapes; quotes allowed around the whole word): the bytes a setter may replace.
    plain_at: Option<usize>,
}

impl Arg {
    fn value<'a>(&self, values: &'a str) -> &'a str {
        &values[self.value.clone()]
    }
}

struct Parsed {
    /// In-root path after following links.
    path: Arc<str>,
    /// The values of `args`, one after the other.
    values: String,
    events: Vec<Event>,
    args: Vec<Arg>,
}

/// Parse a file into the events walked (blocks that hold none of them are left out) and
/// the values of their arguments.
fn events(text: &str) -> (Vec<Event>, Vec<Arg>, String, Vec<SyntaxError>) {
    let mut p = Parser::new(text);
    // only these directives' arguments are looked at
    p.keep_args = Some(|name| matches!(name, "include" | "listen" | "server_name"));
    // sized for a site file's servers (one kept event per ~64 bytes): grown a few times per
    // file, two hundred files would copy them over and over
    let mut events = Vec::with_capacity(text.len() / 64 + 8);
    let mut args = Vec::with_capacity(text.len() / 128 + 8);
    let mut values = String::new();
    while let Some(step) = p.next() {
        match step {
            Step::Close => {
                if let Some(Event::Open(BlockName::Other, _)) = events.last() {
                    events.pop();
                } else {
                    events.push(Event::Close);
                }
            }
            Step::Open => {
                let name = match &*p.words[0].name(text) {
                    b"http" => BlockName::Http,
                    b"stream" => BlockName::Stream,
                    b"server" => BlockName::Server,
                    _ => BlockName::Other,
                };
                events.push(Event::Open(name, p.words[0].line));
            }
            Step::Semi => {
                let (name, all) = match &*p.words[0].name(text) {
                    b"include" => (DirName::Include, false),
                    b"listen" => (DirName::Listen, true),
                    b"server_name" => (DirName::ServerName, false),
                    _ => continue,
                };
                let ws = &p.words[1..];
                let ws = if all { ws } else { &ws[..ws.len().min(1)] };
                let first = args.len();
                for w in ws {
                    let raw = &text[w.span.clone()];
                    let value = w.value(text);
                    let at = values.len();
                    values.push_str(&value);
                    let inner = unquoted(raw);
                    args.push(Arg {
                        span: w.span.clone(),
                        line: w.line,
                        end_line: w.line + root::newlines(raw.as_bytes()),
                        value: at..values.len(),
                        plain_at: (raw[inner.clone()] == *value)
                            .then_some(w.span.start + inner.start),
                    });
                }
                events.push(Event::Directive(name, p.words[0].line, first..args.len()));
            }
        }
    }
    // the estimates above are kept for the whole walk otherwise
    events.shrink_to_fit();
    args.shrink_to_fit();
    (events, args, values, p.finish())
}

// ---------------------------------------------------------------------------------------------
// Walk: nginx.conf with includes expanded, collecting servers and their listen lines.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Main,
    Http,
    Stream,
    /// Inside `server { }` of http or stream; index into `servers`.
    Server(usize),
    Other,
}

struct ServerRec {
    stream: bool,
    path: Arc<str>,
    line: usize,
    name: Option<String>,
    /// Its listen lines: a range of `Walker::listens`.
    listens: Range<usize>,
}

#[derive(Debug, Clone)]
enum Addr {
    Tcp {
        /// As displayed: `*`, `127.0.0.1`, `[::]`, `localhost`.
        host: String,
        port: u16,
        /// What nginx compares to find one socket, when it is not `host` itself: `*`,
        /// `[::]` and `0.0.0.0` alike (see `Addr::key_str`).
        key: Option<String>,
    },
    Unix(String),
}

impl Addr {
    fn display(&self) -> String {
        match self {
            Addr::Tcp { host, port, .. } => {
                crate::concat(&["tcp ", host, ":", itoa::Buffer::new().format(*port)])
            }
            Addr::Unix(p) => crate::concat(&["unix ", p]),
        }
    }

    #[cfg(test)]
    fn key(&self) -> String {
        match self {
            Addr::Tcp { port, .. } => {
                crate::concat(&[self.key_str(), ":", itoa::Buffer::new().format(*port)])
            }
            Addr::Unix(p) => crate::concat(&["unix:", p]),
        }
    }

    /// What nginx compares to find one socket: the TCP host's canonical spelling, or the
    /// unix path.
    fn key_str(&self) -> &str {
        match self {
            Addr::Tcp { host, key, .. } => key.as_deref().unwrap_or(host),
            Addr::Unix(p) => p,
        }
    }

    /// The socket it names, as nginx compares them (what `key` spells), borrowed: a busy
    /// host groups thousands of lines by it.
    fn socket(&self, stream: bool) -> Socket<'_> {
        match self {
            Addr::Tcp { port, .. } => (stream, false, self.key_str(), *port),
            Addr::Unix(p) => (stream, true, p, 0),
        }
    }
}

/// One socket: (stream, unix, address key or path, port).
type Socket<'a> = (bool, bool, &'a str, u16);

#[derive(Debug, Clone)]
enum Backlog {
    /// A valid value; `range` is where its digits sit in the file (None when escapes
    /// inside the word make the raw bytes differ from the value).
    Value(i64, Option<Range<usize>>),
    /// nginx rejects it; the range lets qfix still replace it.
    Invalid(Option<Range<usize>>),
}

struct ListenRec {
    path: Arc<str>,
    line: usize,
    addr: Addr,
    backlog: Option<Backlog>,
    /// Carries socket options (nginx's `lsopt.set`): only one line per addr:port may.
    sets_options: bool,
    default_server: bool,
    /// End of the address token: where ` backlog=N` goes, and its line.
    addr_end: usize,
    addr_end_line: usize,
    /// Line of the `backlog=` option.
    backlog_line: usize,
}

struct Walker<'a> {
    host: &'a Host,
    conf_dir: String,
    /// Files parsed so far, by in-root path after links, and by the path they were
    /// included as.
    parsed: HashMap<Arc<str>, Rc<Parsed>>,
    by_path: HashMap<String, Rc<Parsed>>,
    /// Files being read, outermost first, to catch include loops.
    stack: Vec<Arc<str>>,
    includes: usize,
    servers: Vec<ServerRec>,
    /// Listen lines of all servers, in order.
    listens: Vec<ListenRec>,
    scan: &'a mut Scan,
}

impl<'a> Walker<'a> {
    fn new(host: &'a Host, conf_dir: String, scan: &'a mut Scan) -> Walker<'a> {
        Walker {
            host,
            conf_dir,
            parsed: HashMap::default(),
            by_path: HashMap::default(),
            stack: Vec::new(),
            includes: 0,
            servers: Vec::new(),
            listens: Vec::new(),
            scan,
        }
    }

    /// Read, parse (once per file) and walk one file in context `ctx`. `from` is the include
    /// directive (path, line) that pulled it in, for messages.
    fn file(&mut self, path: &str, from: Option<(&str, usize)>, ctx: Ctx) {
        // a file included again and again (fastcgi_params in every location) is looked up
        // once
        let known = self.by_path.get(path).cloned();
        let real: Arc<str> = match &known {
            Some(p) => p.path.clone(),
            None => match self.host.root.resolve(path) {
                Ok(Resolved::Path(p)) => Arc::from(p),
                Ok(Resolved::DevNull) => return,
                Err(e) => {
                    self.scan.errors.push(e);
                    return;
                }
            },
        };
        if self.stack.len() >= MAX_DEPTH {
            self.scan.errors.push(Error::msg(format!(
                "nginx: includes nested more than {MAX_DEPTH} deep at {real}: giving up there"
            )));
            return;
        }
        if self.stack.iter().any(|s| **s == *real) {
            let chain = self.stack.join(" -> ");
            let msg = format!("nginx: include loop: {real} is already being read ({chain})");
            self.scan.errors.push(match from {
                Some((p, line)) => Error::at(p, line, msg),
                None => Error::msg(msg),
            });
            return;
        }
        let parsed = match known.or_else(|| self.parsed.get(&real).cloned()) {
            Some(p) => p,
            None => {
                let text = match self.host.read_once(&real) {
                    Ok(Some(t)) => t,
                    Ok(None) => {
                        let location = match from {
                            Some((p, line)) => Location {
                                path: p.into(),
                                line,
                            },
                            None => Location {
                                path: path.into(),
                                line: 0,
                            },
                        };
                        self.scan.problems.push(Problem {
                            location,
                            message: format!(
                                "nginx: include {path}: no such file (nginx -t fails on a missing include that is not a glob)"
                            ),
                        });
                        return;
                    }
                    Err(e) => {
                        self.scan.errors.push(e);
                        return;
                    }
                };
                let (events, args, values, errs) = events(&text);
                for e in errs {
                    self.scan.problems.push(Problem {
                        location: Location {
                            path: real.clone(),
                            line: e.line,
                        },
                        message: format!("nginx: {} (nginx -t fails)", e.message),
                    });
                }
                let p = Rc::new(Parsed {
                    path: real.clone(),
                    values,
                    events,
                    args,
                });
                // Files included again and again (fastcgi_params, snippets) hold few of the
                // events walked and are kept; a site's file holds hundreds and is walked
                // once, so it is not (a busy host's would hold its whole config to the end of
                // the walk). Included again, it is read again (checked against the first
                // read) and parsed again.
                if p.events.len() <= KEEP_EVENTS {
                    self.parsed.insert(real, p.clone());
                }
                p
            }
        };
        if !self.by_path.contains_key(path) && self.parsed.contains_key(&parsed.path) {
            self.by_path.insert(path.to_string(), parsed.clone());
        }
        self.stack.push(parsed.path.clone());
        self.walk(&parsed, ctx);
        self.stack.pop();
    }

    fn walk(&mut self, file: &Parsed, ctx: Ctx) {
        // contexts of the blocks around the current one
        let mut outer: Vec<Ctx> = Vec::new();
        let mut cur = ctx;
        for ev in &file.events {
            match *ev {
                Event::Open(name, line) => {
                    outer.push(cur);
                    cur = match (name, cur) {
                        (BlockName::Http, Ctx::Main) => Ctx::Http,
                        (BlockName::Stream, Ctx::Main) => Ctx::Stream,
                        (BlockName::Server, Ctx::Http | Ctx::Stream) => {
                            self.servers.push(ServerRec {
                                stream: cur == Ctx::Stream,
                                path: file.path.clone(),
                                line,
                                name: None,
                                listens: self.listens.len()..self.listens.len(),
                            });
                            Ctx::Server(self.servers.len() - 1)
                        }
                        // includes may hide anywhere (location, upstream...): walk for
                        // them, for loops and for missing files, which fail nginx -t
                        // wherever they are
                        _ => Ctx::Other,
                    };
                }
                Event::Close => cur = outer.pop().unwrap_or(ctx),
                Event::Directive(DirName::Include, line, ref args) => {
                    self.include(file, line, args.clone(), cur)
                }
                Event::Directive(DirName::Listen, line, ref args) => {
                    if let Ctx::Server(i) = cur {
                        self.listen(file, line, args.clone(), i);
                    }
                }
                Event::Directive(DirName::ServerName, _, ref args) => {
                    if let Ctx::Server(i) = cur
                        && let Some(s) = self.servers.get_mut(i)
                        && s.name.is_none()
                    {
                        let name = file.args[args.clone()]
                            .first()
                            .map(|a| a.value(&file.values).to_string());
                        s.name = Some(name.unwrap_or_default());
                    }
                }
            }
        }
    }
}

impl Walker<'_> {
    fn include(&mut self, file: &Parsed, line: usize, args: Range<usize>, ctx: Ctx) {
        let path = &*file.path;
        let Some(arg) = file.args[args].first() else {
            self.problem(path, line, "nginx: include without a file name".into());
            return;
        };
        // nginx takes relative includes from the prefix's conf dir (where nginx.conf is),
        // never from the including file's directory
        let pattern = root::join(&self.conf_dir, arg.value(&file.values));
        let globbed;
        let files = if pattern.contains(['*', '?', '[']) {
            globbed = match self.host.root.glob(&pattern) {
                Ok(f) => f,
                Err(e) => {
                    self.scan.errors.push(Error::at(path, line, e));
                    return;
                }
            };
            &globbed[..]
        } else {
            std::slice::from_ref(&pattern)
        };
        for f in files {
            self.includes += 1;
            if self.includes > MAX_INCLUDES {
                if self.includes == MAX_INCLUDES + 1 {
                    self.scan.errors.push(Error::at(
                        path,
                        line,
                        format!("nginx: more than {MAX_INCLUDES} includes, giving up"),
                    ));
                }
                return;
            }
            self.file(f, Some((path, line)), ctx);
        }
    }

    fn listen(&mut self, file: &Parsed, line: usize, args: Range<usize>, server: usize) {
        let stream = self.servers.get(server).is_some_and(|s| s.stream);
        let (path, values) = (&*file.path, &*file.values);
        let args = &file.args[args];
        let Some(a) = args.first() else {
            self.problem(path, line, "nginx: listen without an address".into());
            return;
        };
        let value = a.value(values);
        let addr = match parse_addr(value, stream) {
            Ok(x) => x,
            Err(m) => {
                self.problem(path, line, format!("nginx: listen {value}: {m}"));
                return;
            }
        };
        let mut rec = ListenRec {
            path: file.path.clone(),
            line,
            addr,
            backlog: None,
            sets_options: false,
            default_server: false,
            addr_end: a.span.end,
            addr_end_line: a.end_line,
            backlog_line: line,
        };
        for p in &args[1..] {
            let v = p.value(values);
            let (key, val) = v.split_once('=').unwrap_or((v, ""));
            match key {
                "default_server" | "default" => rec.default_server = true,
                "backlog" => {
                    rec.sets_options = true;
                    rec.backlog_line = p.line;
                    let range = value_range(p, values, "backlog=".len());
                    rec.backlog = Some(match parse_backlog(val) {
                        Some(n) => Backlog::Value(n, range),
                        None => {
                            self.problem(
                                path,
                                p.line,
                                format!(
                                    "nginx: backlog={val} is not a positive number (nginx -t: invalid backlog)"
                                ),
                            );
                            Backlog::Invalid(range)
                        }
                    });
                }
                // the options nginx keeps per socket (ngx_http_core_listen sets lsopt.set)
                "bind" | "setfib" | "fastopen" | "rcvbuf" | "sndbuf" | "accept_filter"
                | "deferred" | "ipv6only" | "reuseport" | "so_keepalive" => rec.sets_options = true,
                _ => {}
            }
        }
        if let Some(s) = self.servers.get_mut(server) {
            // a server's lines are contiguous: servers do not nest
            self.listens.push(rec);
            s.listens.end = self.listens.len();
        }
    }

    fn problem(&mut self, path: &str, line: usize, message: String) {
        self.scan.problems.push(Problem {
            location: Location {
                path: path.into(),
                line,
            },
            message,
        });
    }
}

/// Bytes of the value after `prefix_len` bytes of a `key=value` word, when the file's bytes
/// are the value itself (no escapes; quotes allowed around the whole word).
fn value_range(w: &Arg, values: &str, prefix_len: usize) -> Option<Range<usize>> {
    let len = w.value(values).len();
    let at = w.plain_at.filter(|_| len >= prefix_len)?;
    Some(at + prefix_len..at + len)
}

/// ngx_atoi: digits only, no sign, no overflow; nginx also refuses 0. `listen()` takes an int.
fn parse_backlog(v: &str) -> Option<i64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = v.parse().ok()?;
    (n > 0 && n <= i64::from(i32::MAX)).then_some(n)
}

/// A listen address: `80`, `*:80`, `1.2.3.4[:80]`, `[::1][:80]`, `host[:80]`, `unix:/path`.
/// http defaults the port to 80; stream requires one.
fn parse_addr(v: &str, stream: bool) -> Result<Addr, String> {
    if let Some(p) = v.strip_prefix("unix:") {
        if p.is_empty() {
            return Err("empty unix socket path".into());
        }
        return Ok(Addr::Unix(p.to_string()));
    }
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err("missing \"]\" in IPv6 address".into());
        };
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| "unexpected text after \"]\"".to_string())?,
            ),
        };
        (format!("[{h}]"), port)
    } else if v.bytes().all(|b| b.is_ascii_digit()) {
        ("*".to_string(), Some(v))
    } else if let Some((h, p)) = v.rsplit_once(':') {
        (h.to_string(), Some(p))
    } else {
        (v.to_string(), None)
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("invalid port \"{p}\"")),
        },
        None if stream => return Err("no port (stream listen needs one)".into()),
        None => 80,
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    // nginx compares resolved addresses: spell the same socket one way
    let key = if host == "*" {
        None
    } else if let Some(h) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        match h.parse::<Ipv6Addr>() {
            Ok(ip) => Some(format!("[{ip}]")).filter(|k| *k != host),
            Err(_) => return Err(format!("invalid IPv6 address \"{h}\"")),
        }
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        // the parser takes only the canonical form (four parts, no leading zeros), so the
        // text is already what Display would print
        ip.is_unspecified().then(|| "*".to_string())
    } else if host.eq_ignore_ascii_case("localhost") {
        Some("127.0.0.1".to_string())
    } else {
        Some(host.to_ascii_lowercase()).filter(|k| *k != host)
    };
    Ok(Addr::Tcp { host, port, key })
}

// ---------------------------------------------------------------------------------------------
// Listeners: one per listen line (and per server without one), with its socket's backlog.

/// One addr:port socket (http and stream sockets are separate configs).
struct Group {
    stream: bool,
    /// Its wildcard socket (`*` or `[::]` on its port) for a specific TCP address.
    wildcard: Option<(&'static str, u16)>,
    /// The first listen line carrying socket options: the socket is bound on its own, even
    /// next to a wildcard (an option implies bind). Indexes into the listen lines.
    carrier: Option<usize>,
    /// The first default_server line, and the first line.
    default_server: Option<usize>,
    first: Option<usize>,
    /// The wildcard socket serving its lines, when there is one and no line binds.
    served_by: Option<usize>,
}

impl Group {
    /// The line that carries the options (or should carry them).
    fn primary(&self) -> Option<usize> {
        self.carrier.or(self.default_server).or(self.first)
    }
}

/// The group of the socket `addr` names, a new one numbered in order of appearance if it
/// is new.
fn group_of<'a>(
    index: &mut HashMap<Socket<'a>, usize>,
    groups: &mut Vec<Group>,
    stream: bool,
    addr: &'a Addr,
) -> usize {
    let n = groups.len();
    let g = *index.entry(addr.socket(stream)).or_insert(n);
    if g == n {
        groups.push(Group {
            stream,
            wildcard: wildcard_of(addr),
            carrier: None,
            default_server: None,
            first: None,
            served_by: None,
        });
    }
    g
}

fn listeners(servers: &[ServerRec], listens: Vec<ListenRec>, main: &str, scan: &mut Scan) {
    let implicit = Addr::Tcp {
        host: "*".into(),
        port: 80,
        key: None,
    };
    // group the lines by socket, numbered in order of appearance
    let mut index: HashMap<Socket<'_>, usize> = HashMap::default();
    let mut groups: Vec<Group> = Vec::new();
    let mut line_group = vec![0; listens.len()];
    // socket options on a second line of a socket: (group, line)
    let mut duplicates: Vec<(usize, usize)> = Vec::new();
    for s in servers {
        if s.listens.is_empty() && !s.stream {
            group_of(&mut index, &mut groups, false, &implicit);
        }
        for li in s.listens.clone() {
            let l = &listens[li];
            let g = group_of(&mut index, &mut groups, s.stream, &l.addr);
            line_group[li] = g;
            let gr = &mut groups[g];
            gr.first.get_or_insert(li);
            if l.default_server {
                gr.default_server.get_or_insert(li);
            }
            if l.sets_options {
                if gr.carrier.is_some() {
                    duplicates.push((g, li));
                } else {
                    gr.carrier = Some(li);
                }
            }
        }
    }
    let listens = &listens[..];

    duplicates.sort_by_key(|d| d.0);
    for (g, li) in duplicates {
        let (Some(c), Some(first)) = (listens.get(li), groups[g].carrier.map(|f| &listens[f]))
        else {
            continue;
        };
        scan.problems.push(Problem {
            location: Location {
                path: c.path.clone(),
                line: c.line,
            },
            message: format!(
                "nginx: duplicate listen options for {} (already set at {}:{}): nginx -t fails; set backlog= and other socket options on one listen line per address",
                c.addr.display(),
                first.path,
                first.line
            ),
        });
    }

    // without bind (no socket option), 127.0.0.1:80 is served by a *:80 socket of the same
    // family when there is one: that socket's backlog is what it gets
    for gr in &mut groups {
        if gr.carrier.is_none()
            && let Some((w, port)) = gr.wildcard
        {
            gr.served_by = index.get(&(gr.stream, false, w, port)).copied();
        }
    }
    let implicit_group = index.get(&implicit.socket(false)).copied();

    let checker: std::sync::Arc<[String]> =
        vec!["nginx".into(), "-t".into(), "-c".into(), main.to_string()].into();
    let mut push = |instance: &String, addr: &Addr, l: Option<&ListenRec>, g: usize| {
        let address = addr.display();
        let gr = &groups[g];
        let (g, via) = match (gr.served_by, gr.wildcard) {
            (Some(wg), Some(w)) => (wg, Some(w)),
            _ => (g, None),
        };
        let prim = groups[g].primary().map(|p| &listens[p]);
        let (requested, source, setter) = resolve(l, prim, &address, via);
        scan.listeners.push(Listener {
            service: "nginx".into(),
            instance: instance.clone(),
            address,
            requested,
            source,
            unit: "nginx".into(),
            action: Action::Reload,
            action_reason: RELOAD_REASON.into(),
            setter,
            refuses_above_somaxconn: false,
            checker: checker.clone(),
        });
    };
    for s in servers {
        let instance = match (&s.name, s.stream) {
            (_, true) => format!("stream server at {}:{}", s.path, s.line),
            (Some(n), false) if !n.is_empty() => crate::concat(&["server ", n]),
            _ => format!("server at {}:{}", s.path, s.line),
        };
        if s.listens.is_empty()
            && !s.stream
            && let Some(g) = implicit_group
        {
            push(&instance, &implicit, None, g);
        }
        for li in s.listens.clone() {
            let l = &listens[li];
            push(&instance, &l.addr, Some(l), line_group[li]);
        }
    }
}

/// The wildcard socket (`*` or `[::]`, and the port) that would serve a specific TCP
/// address of the same family; None for wildcards, unix sockets and unresolved host names.
fn wildcard_of(addr: &Addr) -> Option<(&'static str, u16)> {
    let Addr::Tcp { port, .. } = addr else {
        return None;
    };
    let key = addr.key_str();
    if key == "*" || key == "[::]" {
        None
    } else if key.starts_with('[') {
        Some(("[::]", *port))
    } else if key.parse::<Ipv4Addr>().is_ok() {
        Some(("*", *port))
    } else {
        None
    }
}

/// Backlog, its source and its setter for one listen line (`None`: a server without listen),
/// given the line that carries its socket's options. `via`: the wildcard socket (and port)
/// that serves the line's `address`.
fn resolve(
    l: Option<&ListenRec>,
    prim: Option<&ListenRec>,
    address: &str,
    via: Option<(&str, u16)>,
) -> (Option<i64>, Source, Option<Setter>) {
    let at = |r: &ListenRec| {
        Source::At(Location {
            path: r.path.clone(),
            line: r.line,
        })
    };
    let replace = |r: &ListenRec, range: &Option<Range<usize>>| {
        range.clone().map(|range| Setter {
            path: r.path.clone(),
            range,
            template: "{}".into(),
            line: Some(r.backlog_line),
        })
    };
    // its own backlog= (even when it conflicts with another line: the rules must see both)
    if let Some(r) = l {
        match &r.backlog {
            Some(Backlog::Value(n, range)) => return (Some(*n), at(r), replace(r, range)),
            Some(Backlog::Invalid(range)) => return (None, at(r), replace(r, range)),
            None => {}
        }
    }
    // the socket's backlog= from the line that carries the options
    if let Some(p) = prim {
        match &p.backlog {
            Some(Backlog::Value(n, range)) => return (Some(*n), at(p), replace(p, range)),
            Some(Backlog::Invalid(range)) => return (None, at(p), replace(p, range)),
            None => {}
        }
    }
    let why: Cow<'static, str> = match (l, via) {
        (Some(_), Some((w, port))) => crate::concat(&[
            DEFAULT_REASON,
            "; ",
            address,
            " has no bind option, so nginx serves it from the ",
            w,
            ":",
            itoa::Buffer::new().format(port),
            " socket",
        ])
        .into(),
        (Some(_), None) => DEFAULT_REASON.into(),
        (None, _) => NO_LISTEN_REASON.into(),
    };
    // insert on the line nginx accepts options on; a lone server without listen has none
    let setter = prim.map(|p| Setter {
        path: p.path.clone(),
        range: p.addr_end..p.addr_end,
        template: " backlog={}".into(),
        line: Some(p.addr_end_line),
    });
    (Some(DEFAULT_BACKLOG), Source::Default(why), setter)
}

#[cfg(test)]
mod tests;
