//! Directives and blocks from the lexer's tokens, as nginx reads them: `name args;` or
//! `name args { ... }`. Words keep their byte spans and lines, so an edit replaces exactly
//! the bytes of an argument and a finding names its line.
//!
//! The directives are kept in file order in one list, a block's content right after it (up
//! to its `block_end`), and their words in a second list: two allocations per file rather
//! than one per directive, for configs of tens of thousands of directives.
//!
//! A broken file is parsed as far as it makes sense, as qfix still wants the rest of it: a
//! `{` without a name opens a block whose content is dropped, a block nested deeper than
//! `MAX_DEPTH` is skipped whole, blocks still open at the end of the file are closed there.
//! Each of these is also an error. There is no recursion: a file of nested `{` must not
//! overflow the stack.

use std::borrow::Cow;
use std::ops::Range;

use super::MAX_DEPTH;
use super::lexer::{Kind, Lexer, SyntaxError, Token, unescape, unquoted};

/// A directive's name or argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    /// The raw bytes in the file, quotes included.
    pub span: Range<usize>,
    /// 1-based line of its first byte.
    pub line: usize,
    /// It holds a backslash (see `unescape`).
    pub escaped: bool,
}

impl Word {
    pub fn raw<'t>(&self, text: &'t str) -> &'t str {
        &text[self.span.clone()]
    }

    /// The value nginx sees (quotes removed, escapes decoded).
    pub fn value<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let raw = self.raw(text);
        if self.escaped {
            unescape(raw)
        } else {
            Cow::Borrowed(&raw[unquoted(raw)])
        }
    }

    /// Where the value starts in the file when the file's bytes are the value itself (no
    /// escapes; quotes allowed around the whole word): only then may an edit replace part
    /// of the value by its offsets.
    pub fn plain_at(&self, text: &str) -> Option<usize> {
        let raw = self.raw(text);
        let inner = unquoted(raw);
        (raw[inner.clone()] == *self.value(text)).then_some(self.span.start + inner.start)
    }

    /// Line of its last byte (a quoted word may span lines).
    pub fn end_line(&self, text: &str) -> usize {
        self.line + self.raw(text).bytes().filter(|&b| b == b'\n').count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Directive {
    /// Its name and arguments, in `Parsed::words`.
    words: Range<usize>,
    /// For `name args { ... }`: the index in `Parsed::directives` after its content.
    pub block_end: Option<usize>,
}

/// A parsed file.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    /// In file order; a block's content follows it.
    pub directives: Vec<Directive>,
    words: Vec<Word>,
}

impl Parsed {
    pub fn name(&self, d: &Directive) -> &Word {
        &self.words[d.words.start]
    }

    pub fn args(&self, d: &Directive) -> &[Word] {
        &self.words[d.words.start + 1..d.words.end]
    }
}

/// The directives of a file, and what nginx would refuse in it (the lexer's errors first).
pub(super) fn parse(text: &str) -> (Parsed, Vec<SyntaxError>) {
    let mut lexer = Lexer::new(text);
    let mut parser = Parser::default();
    for token in lexer.by_ref() {
        parser.token(token);
    }
    let mut errors = lexer.into_errors();
    let parsed = parser.finish(&mut errors);
    (parsed, errors)
}

/// A block being read.
#[derive(Debug)]
enum Frame {
    /// Its index in `Parsed::directives`.
    Kept(usize),
    /// A block whose content is dropped: it has no name, or is inside one that has none.
    Dropped,
}

#[derive(Debug, Default)]
struct Parser {
    out: Parsed,
    /// Where the words of the directive being read start in `out.words`.
    start: usize,
    /// Blocks open, innermost last.
    open: Vec<Frame>,
    /// Blocks open beyond MAX_DEPTH: their braces are balanced, their content dropped.
    skipped: usize,
    /// Line of the last token (spaces and comments too), for the end of the file.
    last_line: usize,
    errors: Vec<SyntaxError>,
}

impl Parser {
    fn token(&mut self, t: Token) {
        self.last_line = t.line;
        match t.kind {
            Kind::Space | Kind::Comment | Kind::Bad => {}
            Kind::Word if self.skipped == 0 => self.out.words.push(Word {
                span: t.span,
                line: t.line,
                escaped: t.escaped,
            }),
            Kind::Word => {}
            Kind::Semi => self.semi(t.line),
            Kind::Open => self.open(t.line),
            Kind::Close => self.close(t.line),
        }
    }

    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(SyntaxError {
            line,
            message: message.into(),
        });
    }

    /// Whether a directive is being read (it has a name).
    fn has_words(&self) -> bool {
        self.out.words.len() > self.start
    }

    /// Forget the words of the directive being read.
    fn drop_words(&mut self) {
        self.out.words.truncate(self.start);
    }

    /// Whether directives ending now are kept: not inside a dropped block.
    fn keeping(&self) -> bool {
        !matches!(self.open.last(), Some(Frame::Dropped))
    }

    /// End the directive being read; its index.
    fn push(&mut self, block: bool) -> usize {
        let end = self.out.words.len();
        self.out.directives.push(Directive {
            words: self.start..end,
            // set when the block closes
            block_end: block.then_some(0),
        });
        self.start = end;
        self.out.directives.len() - 1
    }

    fn semi(&mut self, line: usize) {
        if self.skipped > 0 {
            return;
        }
        if !self.has_words() {
            self.error(line, "unexpected \";\"");
        } else if self.keeping() {
            self.push(false);
        } else {
            self.drop_words();
        }
    }

    fn open(&mut self, line: usize) {
        if self.skipped > 0 {
            self.skipped += 1;
            return;
        }
        if !self.has_words() {
            self.error(line, "unexpected \"{\"");
            // its braces still count
            self.open.push(Frame::Dropped);
            return;
        }
        if self.open.len() >= MAX_DEPTH {
            self.error(
                line,
                format!("blocks nested more than {MAX_DEPTH} deep: qfix skips this one"),
            );
            self.skipped = 1;
            self.drop_words();
            return;
        }
        let frame = if self.keeping() {
            Frame::Kept(self.push(true))
        } else {
            self.drop_words();
            Frame::Dropped
        };
        self.open.push(frame);
    }

    fn close(&mut self, line: usize) {
        if self.skipped > 0 {
            self.skipped -= 1;
            return;
        }
        if self.has_words() {
            self.error(line, "unexpected \"}\" (missing \";\" before it)");
            self.drop_words();
        } else if self.open.is_empty() {
            self.error(line, "unexpected \"}\" (no block to close)");
        }
        self.close_block();
    }

    fn close_block(&mut self) {
        if let Some(Frame::Kept(i)) = self.open.pop() {
            self.out.directives[i].block_end = Some(self.out.directives.len());
        }
    }

    /// At the end of the file: what is still open is an error, and closed here.
    fn finish(mut self, errors: &mut Vec<SyntaxError>) -> Parsed {
        if let Some(w) = self.out.words.get(self.start) {
            let line = w.line;
            self.error(line, "unexpected end of file, expecting \";\" or \"}\"");
            self.drop_words();
        }
        if !self.open.is_empty() || self.skipped > 0 {
            self.error(self.last_line, "unexpected end of file, expecting \"}\"");
        }
        while !self.open.is_empty() {
            self.close_block();
        }
        errors.append(&mut self.errors);
        self.out
    }
}
