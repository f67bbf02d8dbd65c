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
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut pos = 0;
    for e in sorted {
        let start = e.range.start.max(pos);
        out.push_str(&text[pos..start]);
        out.push_str(&e.text);
        pos = e.range.end.max(start);
    }
    out.push_str(&text[pos..]);
    out
}

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
    let mut start = 0;
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
