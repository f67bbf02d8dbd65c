//! Everything qfix reads from the host goes through here: files (read once, cached, and
//! fingerprinted so a saved plan can tell when it went stale) and live sysctls.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::root::Root;
use crate::sysctl::live::Live;

pub struct Host {
    pub root: Root,
    /// `None` when the root has no /proc/sys: offline, boot values only.
    pub live: Option<Live>,
    /// Every file read, by in-root path (None: it did not exist). Fingerprints are hashed
    /// from here only when a plan is saved.
    files: Mutex<HashMap<String, Option<Arc<str>>>>,
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

    /// Read an in-root text file once; `None` when missing.
    pub fn read(&self, path: &str) -> Result<Option<Arc<str>>> {
        if let Some(hit) = lock(&self.files).get(path) {
            return Ok(hit.clone());
        }
        let text = self.root.read_opt(path)?;
        lock(&self.files).insert(path.to_string(), text.clone());
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
        let text = lock(&self.files).get(path)?.clone()?;
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

    pub fn fingerprints(&self) -> Fingerprints {
        Fingerprints {
            files: lock(&self.files)
                .iter()
                .map(|(p, t)| (p.clone(), t.as_deref().map(hash)))
                .collect(),
            live: lock(&self.live_prints)
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
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
