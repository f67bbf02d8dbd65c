//! Following nginx's error logs as they grow, for `qfix watch`: each from its end when the
//! watch starts, then only what was appended since the last read (at most `MAX_READ` a
//! time), counted per upstream and kind. A log truncated or replaced (rotation) is read from
//! its start again; a missing one is looked for again at every read.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;

use schemars::JsonSchema;
use serde::Serialize;

use super::UpstreamErrorKind;
use super::nginx;
use crate::root::Root;

/// The most read from one log in one step: a log growing faster than this is counted in
/// its latest part only.
const MAX_READ: u64 = 16 << 20;

/// nginx's upstream errors of one kind, logged since the previous reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RecentErrors {
    pub upstream: String,
    pub kind: UpstreamErrorKind,
    pub count: u64,
}

pub struct Follow {
    logs: Vec<Followed>,
}

struct Followed {
    path: String,
    /// (device, inode) of the file last read: another one means it was rotated.
    id: Option<(u64, u64)>,
    offset: u64,
}

impl Follow {
    /// Start at the current end of each log (in-root paths).
    pub fn new(root: &Root, paths: &[&str]) -> Follow {
        let logs = paths
            .iter()
            .map(|p| {
                let mut f = Followed {
                    path: p.to_string(),
                    id: None,
                    offset: 0,
                };
                if let Ok(Some(file)) = root.open_file(p, false)
                    && let Ok(m) = file.metadata()
                {
                    f.id = Some((m.dev(), m.ino()));
                    f.offset = m.len();
                }
                f
            })
            .collect();
        Follow { logs }
    }

    /// The upstream errors logged since the last call, most first.
    pub fn read(&mut self, root: &Root) -> Vec<RecentErrors> {
        let mut counts: Vec<RecentErrors> = Vec::new();
        for f in &mut self.logs {
            let Some(text) = f.appended(root) else {
                continue;
            };
            for line in text.split(|&b| b == b'\n') {
                if memchr::memmem::find(line, nginx::NEEDLE).is_none() {
                    continue;
                }
                let line = String::from_utf8_lossy(line);
                let Some(e) = nginx::parse(&line) else {
                    continue;
                };
                match counts
                    .iter_mut()
                    .find(|c| c.kind == e.kind && c.upstream == e.upstream)
                {
                    Some(c) => c.count += 1,
                    None => counts.push(RecentErrors {
                        upstream: e.upstream,
                        kind: e.kind,
                        count: 1,
                    }),
                }
            }
        }
        counts.sort_by(|a, b| b.count.cmp(&a.count).then(a.upstream.cmp(&b.upstream)));
        counts
    }
}

impl Followed {
    /// The whole lines appended since the last read; the offset moves past them.
    fn appended(&mut self, root: &Root) -> Option<Vec<u8>> {
        let mut file = root.open_file(&self.path, false).ok()??;
        let m = file.metadata().ok()?;
        let id = (m.dev(), m.ino());
        if self.id != Some(id) || m.len() < self.offset {
            // rotated or truncated: the new file from its start
            self.id = Some(id);
            self.offset = 0;
        }
        let size = m.len();
        if size <= self.offset {
            return None;
        }
        let start = self.offset.max(size.saturating_sub(MAX_READ));
        file.seek(SeekFrom::Start(start)).ok()?;
        let mut buf = Vec::new();
        file.take(size - start).read_to_end(&mut buf).ok()?;
        // keep a line still being written for the next read
        let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        buf.truncate(end);
        self.offset = start + end as u64;
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EAGAIN: &str = "2026/12/04 12:27:20 [error] 127#127: *133 connect() to unix:/run/php/php8.2-fpm.sock failed (11: Resource temporarily unavailable) while connecting to upstream, client: 127.0.0.1, server: localhost, request: \"GET /slow.php HTTP/1.0\", upstream: \"fastcgi://unix:/run/php/php8.2-fpm.sock:\", host: \"127.0.0.1:8080\"\n";

    #[test]
    fn counts_only_what_was_appended_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("error.log");
        std::fs::write(&log, EAGAIN.repeat(5)).unwrap();
        let root = Root::new(dir.path()).unwrap();
        let mut follow = Follow::new(&root, &["/error.log", "/missing.log"]);
        assert!(
            follow.read(&root).is_empty(),
            "the lines before the start count"
        );

        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(EAGAIN.repeat(3).as_bytes()).unwrap();
        // half a line: counted once it is whole
        f.write_all(&EAGAIN.as_bytes()[..40]).unwrap();
        let got = follow.read(&root);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].upstream.as_str(), got[0].kind, got[0].count),
            (
                "unix:/run/php/php8.2-fpm.sock",
                UpstreamErrorKind::Eagain,
                3
            )
        );
        f.write_all(&EAGAIN.as_bytes()[40..]).unwrap();
        assert_eq!(follow.read(&root)[0].count, 1);

        // rotated: a new file in its place, read from its start
        std::fs::rename(&log, dir.path().join("error.log.1")).unwrap();
        std::fs::write(&log, EAGAIN.repeat(2)).unwrap();
        assert_eq!(follow.read(&root)[0].count, 2);
        // truncated
        std::fs::write(&log, EAGAIN).unwrap();
        assert_eq!(follow.read(&root)[0].count, 1);
        assert!(follow.read(&root).is_empty());
    }
}
