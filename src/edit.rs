//! Byte-range edits: the original text is the truth, an edit replaces only the bytes it must,
//! so comments, order and whitespace survive and an unedited file reproduces byte for byte.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: Range<usize>,
    pub text: String,
}

impl Edit {
    pub fn replace(range: Range<usize>, text: impl Into<String>) -> Edit {
        Edit {
            range,
            text: text.into(),
        }
    }

    pub fn insert(at: usize, text: impl Into<String>) -> Edit {
        Edit {
            range: at..at,
            text: text.into(),
        }
    }
}

/// Apply non-overlapping edits (any order). Two inserts at one offset keep their given order.
/// In a file whose lines end in CRLF, the lines an edit brings end in CRLF too.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.range.end));
    let crlf = uses_crlf(text);
    let mut out = String::with_capacity(text.len() + 64);
    let mut pos = 0;
    for e in sorted {
        let start = e.range.start.max(pos).min(text.len());
        out.push_str(&text[pos..start]);
        if crlf {
            push_crlf(&mut out, &e.text);
        } else {
            out.push_str(&e.text);
        }
        pos = e.range.end.max(start).min(text.len());
    }
    out.push_str(&text[pos..]);
    out
}

/// Whether a text's first line ends in CRLF (the file's convention, as editors take it).
pub fn uses_crlf(text: &str) -> bool {
    text.find('\n')
        .is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r')
}

/// `s` with every bare LF written as CRLF.
fn push_crlf(out: &mut String, s: &str) {
    let mut prev = '\0';
    for c in s.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
}

/// The UTF-8 byte order mark some editors put at the start of a file: not part of the
/// first line's content.
pub const BOM: &str = "\u{feff}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_touch_only_their_bytes() {
        let t = "a = 1 # keep\nb = 2\n";
        let out = apply(
            t,
            &[Edit::replace(4..5, "10"), Edit::insert(t.len(), "c = 3\n")],
        );
        assert_eq!(out, "a = 10 # keep\nb = 2\nc = 3\n");
        assert_eq!(apply(t, &[]), t);
    }

    #[test]
    fn crlf_files_get_crlf_lines_and_a_bom_is_not_content() {
        let t = "a = 1\r\nb = 2\r\n";
        let out = apply(
            t,
            &[
                Edit::insert(t.len(), "c = 3\nd = 4\n"),
                Edit::replace(4..5, "9"),
            ],
        );
        assert_eq!(out, "a = 9\r\nb = 2\r\nc = 3\r\nd = 4\r\n");
        // already CRLF text is left alone; LF files stay LF
        assert_eq!(apply(t, &[Edit::insert(0, "x\r\n")]), format!("x\r\n{t}"));
        assert_eq!(apply("a\n", &[Edit::insert(2, "b\n")]), "a\nb\n");
        let b = "\u{feff}net.core.somaxconn = 1\nx\n";
        let l: Vec<_> = lines(b).collect();
        assert_eq!(l[0].body, "net.core.somaxconn = 1");
        assert_eq!(l[0].start, 3);
        assert_eq!(l[1].start, b.rfind('x').unwrap());
        assert_eq!(lines("\u{feff}").count(), 0);
    }

    /// `lines` finds line ends with memchr; it must split as `split_inclusive('\n')` does.
    #[test]
    fn lines_split_like_split_inclusive() {
        for text in [
            "",
            "a",
            "a\n",
            "\n",
            "\n\n",
            "a\r\nb",
            "a\nb\n\nc",
            "é\r\n€",
            "x\ry\n",
        ] {
            let ours: Vec<_> = lines(text)
                .map(|l| (l.number, l.start, l.raw, l.body))
                .collect();
            let mut start = 0;
            let theirs: Vec<_> = (text.split_inclusive('\n').enumerate())
                .map(|(i, raw)| {
                    start += raw.len();
                    (
                        i + 1,
                        start - raw.len(),
                        raw,
                        raw.trim_end_matches(['\n', '\r']),
                    )
                })
                .collect();
            assert_eq!(ours, theirs, "{text:?}");
        }
    }
}

/// One line of a text with its place: 1-based number, byte offset of its start, its raw
/// bytes (with the newline) and its body (without `\n` or `\r\n`).
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub number: usize,
    pub start: usize,
    pub raw: &'a str,
    pub body: &'a str,
}

/// The lines of a text with their byte offsets, for line-based config formats that edit
/// by byte range.
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    // as `split_inclusive('\n')`, with the line ends found by a vectorized search
    let b = text.as_bytes();
    let mut ends = memchr::memchr_iter(b'\n', b).map(|i| i + 1);
    // a byte order mark is not part of line 1 (nor of its first key)
    let mut start = if text.starts_with(BOM) { BOM.len() } else { 0 };
    let mut number = 0;
    std::iter::from_fn(move || {
        if start >= b.len() {
            return None;
        }
        let end = ends.next().unwrap_or(b.len());
        let raw = &text[start..end];
        number += 1;
        let line = Line {
            number,
            start,
            raw,
            body: raw.trim_end_matches(['\n', '\r']),
        };
        start = end;
        Some(line)
    })
}
