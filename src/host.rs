//! Everything qfix reads from the host goes through here: files (read once, cached, and
//! fingerprinted so a saved plan can tell when it went stale; or, for a scan that keeps
//! only what it parsed, remembered by a digest) and live sysctls.

use std::collections::BTreeMap;
use std::hash::Hasher;

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::root::Root;
use crate::sysctl::live::Live;

/// What the host remembers of a file it read.
enum Seen {
    Missing,
    Text(Arc<str>),
    /// Read by `read_once`: its length and hash, to check a second read against.
    Digest(usize, u64),
}

pub struct Host {
    pub root: Root,
    /// `None` when the root has no /proc/sys: offline, boot values only.
    pub live: Option<Live>,
    /// Every file read, by in-root path. Fingerprints are hashed from here only when a plan
    /// is saved.
    files: Mutex<HashMap<String, Seen>>,
    /// The last (offset, line) looked up per file.
    lines: Mutex<HashMap<String, (usize, usize)>>,
    /// Live values read, by key (hashed: the rules look up every persisted key).
    live_prints: Mutex<HashMap<String, Option<String>>>,
}

impl Host {
    pub fn new(root: Root) -> Host {
        let live = Live::open(&root);
        Host {
            root,
            live,
            files: Mutex::default(),
            lines: Mutex::default(),
            live_prints: Mutex::default(),
        }
    }

    /// A host for one thread's scan (nginx's, beside the others'): the same root, with
    /// caches and locks of its own (see `Root::fresh`) and no live values. `absorb` takes
    /// what it read back.
    pub fn side(&self) -> Host {
        Host {
            root: self.root.fresh(),
            live: None,
            files: Mutex::default(),
            lines: Mutex::default(),
            live_prints: Mutex::default(),
        }
    }

    /// Keep the files a `side` host read, as if read here: the plan edits them and a saved
    /// plan fingerprints them.
    pub fn absorb(&self, side: Host) {
        let files = side.files.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut mine = lock(&self.files);
        for (path, text) in files {
            mine.entry(path).or_insert(text);
        }
    }

    pub fn offline(&self) -> bool {
        self.live.is_none()
    }

    /// Read an in-root text file once; `None` when missing. A file read by `read_once` is
    /// read again, and must not have changed since.
    pub fn read(&self, path: &str) -> Result<Option<Arc<str>>> {
        self.read_keeping(path, true)
    }

    /// Read an in-root text file for a caller that keeps what it needs of it and drops the
    /// text: the host keeps a digest, not the text (a busy host's nginx configs are tens of
    /// megabytes, memory a plan would otherwise hold to its end). A later `read` reads it
    /// again and checks the digest.
    pub fn read_once(&self, path: &str) -> Result<Option<Arc<str>>> {
        self.read_keeping(path, false)
    }

    fn read_keeping(&self, path: &str, keep: bool) -> Result<Option<Arc<str>>> {
        let digest = match lock(&self.files).get(path) {
            Some(Seen::Missing) => return Ok(None),
            Some(Seen::Text(t)) => return Ok(Some(t.clone())),
            Some(&Seen::Digest(len, hash)) => Some((len, hash)),
            None => None,
        };
        let text = self.root.read_opt(path)?;
        let print = |t: &str| (t.len(), digest_of(t));
        if let Some(d) = digest
            && text.as_deref().map(print) != Some(d)
        {
            return Err(Error::msg(format!(
                "{path}: changed while qfix was reading the host; run qfix again"
            )));
        }
        let seen = match &text {
            Some(t) if keep => Seen::Text(t.clone()),
            Some(t) => {
                let (len, hash) = digest.unwrap_or_else(|| print(t));
                Seen::Digest(len, hash)
            }
            None => Seen::Missing,
        };
        lock(&self.files).insert(path.to_string(), seen);
        Ok(text)
    }

    /// Live value of a canonical key; `None` offline or when the key does not exist.
    pub fn live_value(&self, key: &str) -> Result<Option<String>> {
        self.with_live(key, |v| v.map(str::to_string))
    }

    /// `f` of the live value of a canonical key (as `live_value`), without copying it: the
    /// rules look up every persisted key, some several times.
    pub fn with_live<R>(&self, key: &str, f: impl FnOnce(Option<&str>) -> R) -> Result<R> {
        let Some(live) = &self.live else {
            return Ok(f(None));
        };
        if let Some(v) = lock(&self.live_prints).get(key) {
            return Ok(f(v.as_deref()));
        }
        let v = live.read(key)?;
        let r = f(v.as_deref());
        lock(&self.live_prints).insert(key.to_string(), v);
        Ok(r)
    }

    /// 1-based line of a byte offset in a file already read.
    pub fn line_of(&self, path: &str, offset: usize) -> Option<usize> {
        // Lookups come near each other (one per listener): count newlines from the last
        // lookup in the same file, forward or back; counting bytes vectorizes, building an
        // index does not.
        let text = match lock(&self.files).get(path)? {
            Seen::Text(t) => t.clone(),
            Seen::Missing | Seen::Digest(..) => return None,
        };
        let offset = offset.min(text.len());
        let mut marks = lock(&self.lines);
        let count = |a: usize, b: usize| crate::root::newlines(&text.as_bytes()[a..b]);
        let Some(mark) = marks.get_mut(path) else {
            let line = 1 + count(0, offset);
            marks.insert(path.to_string(), (offset, line));
            return Some(line);
        };
        let (o, l) = *mark;
        let line = if o <= offset {
            l + count(o, offset)
        } else if o - offset < offset {
            l - count(offset, o)
        } else {
            1 + count(0, offset)
        };
        *mark = (offset, line);
        Some(line)
    }

    /// Values read ahead (see `Live::read_shared`), by index into `keys`; read errors are
    /// left for a later read to report.
    pub fn remember_live(
        &self,
        mut keys: Vec<String>,
        values: Vec<(usize, Result<Option<String>>)>,
    ) {
        let mut cache = lock(&self.live_prints);
        for (i, v) in values {
            if let (Ok(v), Some(k)) = (v, keys.get_mut(i)) {
                cache.insert(std::mem::take(k), v);
            }
        }
    }

    /// Fingerprints of everything read; a file read by `read_once` is read again (and
    /// checked) to be hashed.
    pub fn fingerprints(&self) -> Result<Fingerprints> {
        let paths: Vec<String> = lock(&self.files).keys().cloned().collect();
        let mut files = BTreeMap::new();
        for p in paths {
            let text = self.read(&p)?;
            files.insert(p, text.as_deref().map(hash));
        }
        Ok(Fingerprints {
            files,
            live: lock(&self.live_prints)
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

/// Tells a second read of a file from the first: not a fingerprint (`hash` is), but changes
/// within one run are accidents, not attacks.
fn digest_of(text: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(text.as_bytes());
    h.finish()
}

/// A poisoned lock only means another thread panicked; the caches stay usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn hash(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Fingerprints {
    pub files: BTreeMap<String, Option<String>>,
    pub live: BTreeMap<String, Option<String>>,
}

impl Fingerprints {
    /// What differs on the host now from when these were taken, one line per item.
    pub fn stale(&self, host: &Host) -> Vec<String> {
        let mut out = Vec::new();
        for (path, then) in &self.files {
            let now = match host.root.read_opt(path) {
                Ok(t) => t.as_deref().map(hash),
                Err(e) => {
                    out.push(format!("{path}: {e}"));
                    continue;
                }
            };
            if &now != then {
                let what = match (then, &now) {
                    (None, Some(_)) => "created",
                    (Some(_), None) => "removed",
                    _ => "modified",
                };
                out.push(format!("{path}: {what} since the plan was made"));
            }
        }
        for (key, then) in &self.live {
            let now = host.live.as_ref().and_then(|l| l.read(key).ok().flatten());
            let same = match (then, &now) {
                (Some(a), Some(b)) => crate::sysctl::same_value(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                out.push(format!(
                    "{key}: live value {} since the plan was made (was {})",
                    now.as_deref()
                        .map(crate::sysctl::norm_value)
                        .unwrap_or("missing".into()),
                    then.as_deref()
                        .map(crate::sysctl::norm_value)
                        .unwrap_or("missing".into()),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A file read by `read_once` is not kept, but a later `read` (an edit, a saved plan's
    /// fingerprint) gets the text the scan saw or an error, never a changed text.
    #[test]
    fn issue5_a_file_read_once_is_checked_when_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("etc")).unwrap();
        let (a, b) = (tmp.path().join("etc/a.conf"), tmp.path().join("etc/b.conf"));
        fs::write(&a, "one\n").unwrap();
        fs::write(&b, "x = 1\n").unwrap();
        let host = Host::new(Root::new(tmp.path()).unwrap());
        let side = host.side();
        for p in ["/etc/a.conf", "/etc/b.conf"] {
            assert!(side.read_once(p).unwrap().is_some());
        }
        assert_eq!(side.read_once("/etc/none.conf").unwrap(), None);
        host.absorb(side);
        assert_eq!(host.read("/etc/none.conf").unwrap(), None);

        // unchanged: read again, then kept
        assert_eq!(host.read("/etc/a.conf").unwrap().as_deref(), Some("one\n"));
        fs::write(&a, "two\n").unwrap();
        assert_eq!(host.read("/etc/a.conf").unwrap().as_deref(), Some("one\n"));

        // changed since the first read, even at the same length
        fs::write(&b, "x = 2\n").unwrap();
        let e = host.read("/etc/b.conf").unwrap_err().to_string();
        assert!(
            e.contains("/etc/b.conf: changed while qfix was reading"),
            "{e}"
        );
        assert!(host.fingerprints().is_err());
        assert!(host.read_once("/etc/b.conf").is_err());

        fs::write(&b, "x = 1\n").unwrap();
        let prints = host.fingerprints().unwrap();
        assert_eq!(prints.files["/etc/b.conf"], Some(hash("x = 1\n")));
        assert_eq!(prints.files["/etc/a.conf"], Some(hash("one\n")));
        assert_eq!(prints.files["/etc/none.conf"], None);
    }
}
