//! Everything qfix reads from the host goes through here: files (read once, cached, and
//! fingerprinted so a saved plan can tell when it went stale) and live sysctls.

use std::collections::{BTreeMap, HashMap};
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
    /// Byte offsets of line starts per file, built on the first line lookup.
    lines: Mutex<HashMap<String, Arc<Vec<usize>>>>,
    live_prints: Mutex<BTreeMap<String, Option<String>>>,
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

    pub fn offline(&self) -> bool {
        self.live.is_none()
    }

    /// Read an in-root text file once; `None` when missing.
    pub fn read(&self, path: &str) -> Result<Option<Arc<str>>> {
        if let Some(hit) = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return Ok(hit.clone());
        }
        let text = self.root.read_opt(path)?.map(Arc::<str>::from);
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), text.clone());
        Ok(text)
    }

    /// Live value of a canonical key; `None` offline or when the key does not exist.
    pub fn live_value(&self, key: &str) -> Result<Option<String>> {
        let Some(live) = &self.live else {
            return Ok(None);
        };
        if let Some(v) = self
            .live_prints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return Ok(v.clone());
        }
        let v = live.read(key)?;
        self.live_prints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), v.clone());
        Ok(v)
    }

    /// 1-based line of a byte offset in a file already read (binary search over line starts).
    pub fn line_of(&self, path: &str, offset: usize) -> Option<usize> {
        if let Some(starts) = self
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return Some(starts.partition_point(|&s| s <= offset));
        }
        let text = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)?
            .clone()?;
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let line = starts.partition_point(|&s| s <= offset);
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), Arc::new(starts));
        Some(line)
    }

    /// Values read ahead (see `Live::read_many`); read errors are left for a later read to
    /// report.
    pub fn remember_live(&self, values: Vec<(String, Result<Option<String>>)>) {
        let mut cache = self.live_prints.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in values {
            if let Ok(v) = v {
                cache.insert(k, v);
            }
        }
    }

    pub fn fingerprints(&self) -> Fingerprints {
        Fingerprints {
            files: self
                .files
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(p, t)| (p.clone(), t.as_deref().map(hash)))
                .collect(),
            live: self
                .live_prints
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
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
