//! The last N bytes of an open log, a line at a time, in bounded memory.
//!
//! - The window is the last `max` bytes of the file as it was when opened; bytes appended
//!   while reading are left for the next run (a busy log must not keep the read going).
//! - A window that does not start the file starts at its first full line: the bytes up to
//!   the first newline are skipped (a line that began exactly at the window's start is
//!   skipped with them: one line at most, for never reading a byte outside the window).
//! - Lines longer than `MAX_LINE` are cut there (nginx's own lines stop at 2048 bytes,
//!   php-fpm's at log_limit, 1024 by default); the rest of such a line is read and dropped.
//! - The file may shrink while it is read (truncated, or rotated with copytruncate): the
//!   read stops at the new end and says so. A file renamed away (rotated) is read to the end
//!   of the window through the descriptor already open.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Longest line kept for matching.
pub const MAX_LINE: usize = 16 << 10;
/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// One line of the window.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// Without its newline; cut at `MAX_LINE`.
    pub bytes: &'a [u8],
    /// 1-based, counted from the window's first full line.
    pub number: u64,
    /// Offset of its first byte in the file.
    pub offset: u64,
}

/// What was read.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Window {
    /// The file's size when opened.
    pub size: u64,
    /// Where the window starts.
    pub start: u64,
    /// Bytes read (never more than the window).
    pub bytes_read: u64,
    /// Lines handed out.
    pub lines: u64,
    /// The file shrank under the read: its size when the read stopped short.
    pub shrank_to: Option<u64>,
}

/// Read the last `max` bytes of `file`, calling `each` for every line.
pub fn read(file: &File, max: u64, mut each: impl FnMut(Line<'_>)) -> io::Result<Window> {
    let size = file.metadata()?.len();
    let start = size.saturating_sub(max);
    let mut w = Window {
        size,
        start,
        ..Window::default()
    };
    let mut buf = vec![0u8; CHUNK.min((size - start) as usize).max(1)];
    // the line being put together across chunks, and where it starts
    let mut line: Vec<u8> = Vec::new();
    let mut line_at = start;
    let mut cut = false;
    // a window inside the file starts after its first newline
    let mut skipping = start > 0;
    let mut pos = start;
    while pos < size {
        let want = ((size - pos) as usize).min(buf.len());
        let n = match file.read_at(&mut buf[..want], pos) {
            Ok(0) => {
                w.shrank_to = Some(file.metadata().map_or(pos, |m| m.len()));
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.bytes_read += n as u64;
        let mut chunk = &buf[..n];
        let mut chunk_at = pos;
        pos += n as u64;
        if skipping {
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    skipping = false;
                    chunk = &chunk[i + 1..];
                    chunk_at += i as u64 + 1;
                    line_at = chunk_at;
                }
                None => continue,
            }
        }
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            let piece = &chunk[..i];
            if line.is_empty() && !cut {
                // the whole line is in this chunk: no copy
                w.lines += 1;
                each(Line {
                    bytes: &piece[..piece.len().min(MAX_LINE)],
                    number: w.lines,
                    offset: line_at,
                });
            } else {
                push_capped(&mut line, piece, &mut cut);
                w.lines += 1;
                each(Line {
                    bytes: &line,
                    number: w.lines,
                    offset: line_at,
                });
                line.clear();
                cut = false;
            }
            chunk = &chunk[i + 1..];
            chunk_at += i as u64 + 1;
            line_at = chunk_at;
        }
        push_capped(&mut line, chunk, &mut cut);
    }
    // a last line without its newline (being written, or the file simply ends so)
    if !skipping && (!line.is_empty() || cut) {
        w.lines += 1;
        each(Line {
            bytes: &line,
            number: w.lines,
            offset: line_at,
        });
    }
    Ok(w)
}

fn push_capped(line: &mut Vec<u8>, piece: &[u8], cut: &mut bool) {
    let room = MAX_LINE.saturating_sub(line.len());
    if piece.len() > room {
        *cut = true;
    }
    line.extend_from_slice(&piece[..piece.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(file: &File, max: u64) -> (Window, Vec<(String, u64, u64)>) {
        let mut out = Vec::new();
        let w = read(file, max, |l| {
            out.push((
                String::from_utf8_lossy(l.bytes).into_owned(),
                l.number,
                l.offset,
            ))
        })
        .unwrap();
        (w, out)
    }

    fn file_with(content: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        f
    }

    fn l(s: &str, n: u64, off: u64) -> (String, u64, u64) {
        (s.to_string(), n, off)
    }

    #[test]
    fn the_whole_file_when_it_fits() {
        let f = file_with(b"one\ntwo\nthree");
        let (w, got) = lines(&f, 100);
        assert_eq!(got, [l("one", 1, 0), l("two", 2, 4), l("three", 3, 8)]);
        assert_eq!((w.size, w.start, w.bytes_read, w.lines), (13, 0, 13, 3));
        assert_eq!(w.shrank_to, None);
        let (w, got) = lines(&file_with(b""), 100);
        assert!(got.is_empty());
        assert_eq!(w.bytes_read, 0);
    }

    #[test]
    fn a_window_starts_at_its_first_full_line() {
        let f = file_with(b"aaaa\nbbbb\ncccc\n");
        // window "bb\ncccc\n": the partial "bb" is skipped
        let (w, got) = lines(&f, 8);
        assert_eq!(got, [l("cccc", 1, 10)]);
        assert_eq!((w.start, w.bytes_read), (7, 8));
        // a window starting exactly at a line start skips that line too (one at most)
        let (_, got) = lines(&f, 10);
        assert_eq!(got, [l("cccc", 1, 10)]);
        // no newline in the window at all: nothing
        let (w, got) = lines(&file_with(b"xxxxxxxxxxxxxxxx"), 4);
        assert!(got.is_empty());
        assert_eq!(w.bytes_read, 4);
    }

    #[test]
    fn long_lines_are_cut_and_lines_span_chunks() {
        let mut content = vec![b'a'; MAX_LINE + 10];
        content.push(b'\n');
        content.extend_from_slice(b"short\n");
        // a line across the chunk boundary
        content.resize(CHUNK - 3, b'b');
        content.extend_from_slice(b"\nspanning-the-chunk-boundary\nend\n");
        let f = file_with(&content);
        let (w, got) = lines(&f, u64::MAX);
        assert_eq!(got[0].0.len(), MAX_LINE);
        assert_eq!(got[1], l("short", 2, (MAX_LINE + 11) as u64));
        assert_eq!(got[3].0, "spanning-the-chunk-boundary");
        assert_eq!(got[3].2, (CHUNK - 2) as u64);
        assert_eq!(got[4].0, "end");
        assert_eq!(w.bytes_read, content.len() as u64);
    }
}
