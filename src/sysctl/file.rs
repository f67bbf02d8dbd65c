//! One sysctl.d file, parsed the way systemd-sysctl's parse_file reads it, keeping the byte
//! range of every line and value so an edit replaces only the value.

use std::ops::Range;

use super::{is_glob, normalize_key};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Comment,
    Assign(Assign),
    /// `-key` with no `=`: excludes the key from glob assignments.
    Exclude(String),
    /// Not an assignment; systemd-sysctl warns and skips it.
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    /// Canonical dotted key (may be a glob).
    pub key: String,
    pub value: String,
    /// Byte range of the value in the file text (empty range at the end for `key =`).
    pub value_span: Range<usize>,
    pub ignore_failure: bool,
    pub glob: bool,
}

#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    pub kind: LineKind,
}

/// Parse every line of a sysctl.d file.
pub fn parse(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    for l in crate::edit::lines(text) {
        lines.push(Line {
            number: l.number,
            kind: parse_line(l.body, l.start),
        });
    }
    lines
}

/// Fuzz entry point: parse bytes as a sysctl.d file and check the spans it reports.
pub fn fuzz(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for l in parse(text) {
        if let LineKind::Assign(a) = l.kind {
            assert_eq!(&text[a.value_span.clone()], a.value);
        }
    }
}

fn parse_line(body: &str, start: usize) -> LineKind {
    let p = body.trim();
    if p.is_empty() {
        return LineKind::Blank;
    }
    if p.starts_with(['#', ';']) {
        return LineKind::Comment;
    }
    let Some(eq) = body.find('=') else {
        return match p.strip_prefix('-') {
            Some(k) if !k.trim().is_empty() => LineKind::Exclude(normalize_key(k)),
            _ => LineKind::Invalid(format!("line is not an assignment: {p}")),
        };
    };
    let lead = body.len() - body.trim_start().len();
    let mut key = &body[lead..eq];
    let ignore_failure = key.starts_with('-');
    if ignore_failure {
        key = &key[1..];
    }
    let key = key.trim();
    if key.is_empty() {
        return LineKind::Invalid(format!("assignment without a key: {p}"));
    }
    let after = &body[eq + 1..];
    let v_lead = after.len() - after.trim_start().len();
    let value = after.trim();
    let v_start = start + eq + 1 + v_lead;
    let key = normalize_key(key);
    LineKind::Assign(Assign {
        glob: is_glob(&key),
        key,
        value: value.to_string(),
        value_span: v_start..v_start + value.len(),
        ignore_failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        let text = "\u{feff}net.core.somaxconn = 1024\r\nnet.ipv4.tcp_syncookies=1\r\n";
        let lines = parse(text);
        let LineKind::Assign(a) = &lines[0].kind else {
            panic!("{:?}", lines[0])
        };
        assert_eq!(a.key, "net.core.somaxconn");
        assert_eq!(&text[a.value_span.clone()], "1024");
        let LineKind::Assign(b) = &lines[1].kind else {
            panic!()
        };
        assert_eq!((b.value.as_str(), lines[1].number), ("1", 2));
    }

    #[test]
    fn parses_like_systemd() {
        let text = "# c\n; c\n\n  net.core.somaxconn = 1024  \n-net/ipv4/tcp_syncookies=1\nbogus\n-net.ipv4.conf.lo.rp_filter\nnet.ipv4.conf.*.rp_filter = 2\nkey =\n";
        let lines = parse(text);
        assert_eq!(lines[0].kind, LineKind::Comment);
        assert_eq!(lines[1].kind, LineKind::Comment);
        assert_eq!(lines[2].kind, LineKind::Blank);
        let LineKind::Assign(a) = &lines[3].kind else {
            panic!()
        };
        assert_eq!(a.key, "net.core.somaxconn");
        assert_eq!(&text[a.value_span.clone()], "1024");
        let LineKind::Assign(b) = &lines[4].kind else {
            panic!()
        };
        assert!(b.ignore_failure);
        assert_eq!(b.key, "net.ipv4.tcp_syncookies");
        assert!(matches!(lines[5].kind, LineKind::Invalid(_)));
        assert_eq!(
            lines[6].kind,
            LineKind::Exclude("net.ipv4.conf.lo.rp_filter".into())
        );
        let LineKind::Assign(g) = &lines[7].kind else {
            panic!()
        };
        assert!(g.glob);
        let LineKind::Assign(e) = &lines[8].kind else {
            panic!()
        };
        assert_eq!(e.value, "");
        assert_eq!(lines[8].number, 9);
    }
}
