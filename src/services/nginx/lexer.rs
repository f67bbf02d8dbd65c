//! An nginx config's bytes as tokens, by the rules of nginx's own reader
//! (`ngx_conf_read_token` in src/core/ngx_conf_file.c).
//!
//! Lossless: every byte of the text is in exactly one token, spaces and comments included,
//! so a token's span is exactly what an edit replaces and the tokens put back together give
//! the file again.

use std::borrow::Cow;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Spaces, tabs, CR, LF.
    Space,
    /// `#` to the end of the line (without the LF).
    Comment,
    /// A bare word, or a quoted string with its quotes.
    Word,
    Semi,
    Open,
    Close,
    /// An unterminated quoted string: the rest of the file.
    Bad,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Kind,
    pub span: Range<usize>,
    /// 1-based line of the token's first byte.
    pub line: usize,
    /// A word holding a backslash: its value needs decoding (see `unescape`).
    pub escaped: bool,
}

/// Something `nginx -t` would refuse, and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// The tokens of a text, in order (an iterator); `into_errors` then gives what nginx would
/// refuse in them.
pub(super) struct Lexer<'t> {
    text: &'t str,
    pos: usize,
    line: usize,
    /// After a closing quote nginx wants a separator: `"a"b` is an error.
    need_space: bool,
    errors: Vec<SyntaxError>,
}

impl<'t> Lexer<'t> {
    pub fn new(text: &'t str) -> Lexer<'t> {
        Lexer {
            text,
            pos: 0,
            line: 1,
            need_space: false,
            errors: Vec::new(),
        }
    }

    /// The errors of the tokens read so far.
    pub fn into_errors(self) -> Vec<SyntaxError> {
        self.errors
    }

    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }

    fn space(&mut self) {
        let rest = &self.bytes()[self.pos..];
        let n = (rest.iter())
            .position(|&c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            .unwrap_or(rest.len());
        self.line += rest[..n].iter().filter(|&&c| c == b'\n').count();
        self.pos += n;
    }

    fn comment(&mut self) {
        let rest = &self.bytes()[self.pos..];
        self.pos += memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    }

    /// A quoted string, from its opening quote: whether it is closed, and whether it holds
    /// a backslash. A backslash escapes the next byte, the closing quote included.
    fn quoted(&mut self) -> (bool, bool) {
        let b = self.bytes();
        let quote = b[self.pos];
        let (mut i, mut line) = (self.pos + 1, self.line);
        let mut escaped = false;
        let closed = loop {
            let Some(&c) = b.get(i) else {
                break false;
            };
            match c {
                _ if c == quote => break true,
                b'\\' => {
                    escaped = true;
                    if b.get(i + 1) == Some(&b'\n') {
                        line += 1;
                    }
                    i += 2;
                }
                b'\n' => {
                    line += 1;
                    i += 1;
                }
                _ => i += 1,
            }
        };
        self.pos = if closed { i + 1 } else { b.len() };
        self.line = line;
        (closed, escaped)
    }

    /// A bare word. It ends at whitespace, `;` or `{`, but `${` stays inside (`${var}`);
    /// `}`, quotes and `#` inside a word are plain characters, as in nginx. Whether it
    /// holds a backslash.
    fn word(&mut self) -> bool {
        let b = self.bytes();
        let mut i = self.pos;
        let mut escaped = false;
        while let Some(&c) = b.get(i) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' => break,
                b'\\' => {
                    // escapes the next byte, whatever it is
                    escaped = true;
                    if b.get(i + 1) == Some(&b'\n') {
                        self.line += 1;
                    }
                    i += 2;
                }
                b'$' if b.get(i + 1) == Some(&b'{') => i += 2,
                _ => i += 1,
            }
        }
        self.pos = i.min(b.len());
        escaped
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    // inlined into the parser's loop, its only caller outside tests: a call per token
    // costs more than most tokens take to read
    #[inline]
    fn next(&mut self) -> Option<Token> {
        let (start, line) = (self.pos, self.line);
        let c = *self.bytes().get(start)?;
        // `)` may follow a quote, as in `if ($a = 'b')`
        if std::mem::take(&mut self.need_space)
            && !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b')')
        {
            let c = self.text[start..].chars().next().unwrap_or('?');
            self.errors.push(SyntaxError {
                line,
                message: format!("unexpected \"{c}\" right after a quoted string"),
            });
        }
        let mut escaped = false;
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                self.space();
                Kind::Space
            }
            b'#' => {
                self.comment();
                Kind::Comment
            }
            b';' | b'{' | b'}' => {
                self.pos += 1;
                match c {
                    b';' => Kind::Semi,
                    b'{' => Kind::Open,
                    _ => Kind::Close,
                }
            }
            b'"' | b'\'' => {
                let closed;
                (closed, escaped) = self.quoted();
                if closed {
                    self.need_space = true;
                    Kind::Word
                } else {
                    self.errors.push(SyntaxError {
                        line,
                        message: "unterminated quoted string (nginx -t: unexpected end of file)"
                            .into(),
                    });
                    Kind::Bad
                }
            }
            _ => {
                escaped = self.word();
                Kind::Word
            }
        };
        Some(Token {
            kind,
            span: start..self.pos,
            line,
            escaped,
        })
    }
}

/// The bytes of a word's value inside its raw text: without the quotes of a quoted word.
pub(super) fn unquoted(raw: &str) -> Range<usize> {
    let b = raw.as_bytes();
    match b.first() {
        Some(&q @ (b'"' | b'\'')) if b.len() >= 2 && b[b.len() - 1] == q => 1..b.len() - 1,
        _ => 0..b.len(),
    }
}

/// A word's value as nginx sees it: quotes stripped, `\"` `\'` `\\` `\t` `\r` `\n` decoded,
/// any other backslash kept. Borrowed unless there is a backslash.
pub(super) fn unescape(raw: &str) -> Cow<'_, str> {
    let inner = &raw[unquoted(raw)];
    if !inner.bytes().any(|b| b == b'\\') {
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
    // an escape may split a multi-byte character
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}
