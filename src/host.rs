//! The machine qfix works on: the root tree (`--root`) and its live sysctls. While a snapshot
//! is read, every file read through `Host::read` is recorded, so the snapshot holds the exact
//! text every finding, edit and fingerprint is computed from; nothing is read twice.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::root::Root;
use crate::sysctl::live::Live;

pub struct Host {
    pub root: Root,
    /// `None` when the root has no /proc/sys: offline, boot values only.
    pub live: Option<Live>,
    /// Every file read, by in-root path (`None`: missing).
    files: Mutex<BTreeMap<String, Option<Arc<str>>>>,
    /// Every directory listed, glob expanded and link followed, with what it gave: a saved
    /// plan is stale when a file appears in an include directory or a link is retargeted.
    lookups: Mutex<BTreeMap<Lookup, Vec<String>>>,
    /// Permission bits of every file read and directory listed.
    modes: Mutex<BTreeMap<String, u32>>,
}

/// A lookup whose answer a plan depends on, besides file contents.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "path", rename_all = "lowercase")]
pub enum Lookup {
    /// A directory's names (sorted).
    List(String),
    /// A glob's matches.
    Glob(String),
    /// Where a path leads (its links followed), or "/dev/null".
    Resolve(String),
}

impl Host {
    pub fn new(root: Root) -> Host {
        let live = Live::open(&root);
        Host {
            root,
            live,
            files: Mutex::default(),
            lookups: Mutex::default(),
            modes: Mutex::default(),
        }
    }

    pub fn offline(&self) -> bool {
        self.live.is_none()
    }

    /// Read an in-root text file (once: a second read returns the recorded text); `None`
    /// when missing.
    pub fn read(&self, path: &str) -> Result<Option<Arc<str>>> {
        if let Some(seen) = self.recorded().get(path) {
            return Ok(seen.clone());
        }
        let read = self.root.read_opt_mode(path)?;
        if let Some((_, mode)) = &read {
            self.mode_of(path, *mode);
        }
        let text = read.map(|(t, _)| t);
        self.recorded().insert(path.to_string(), text.clone());
        Ok(text)
    }

    /// A directory's entries (sorted), recorded.
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>> {
        let names = self.root.list_dir(path)?;
        if let Some(mode) = self.root.mode(path) {
            self.mode_of(path, mode);
        }
        self.note(Lookup::List(path.to_string()), names.clone());
        Ok(names)
    }

    /// A glob's matches, recorded.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        let found = self.root.glob(pattern)?;
        self.note(Lookup::Glob(pattern.to_string()), found.clone());
        Ok(found)
    }

    /// Where a path leads inside the root, recorded.
    pub fn resolve(&self, path: &str) -> Result<crate::root::Resolved> {
        let r = self.root.resolve(path)?;
        self.note(Lookup::Resolve(path.to_string()), vec![answer(&r)]);
        Ok(r)
    }

    /// What a lookup gives now (for a saved plan's stale check).
    pub fn look_again(&self, l: &Lookup) -> Result<Vec<String>> {
        match l {
            Lookup::List(p) => self.root.list_dir(p),
            Lookup::Glob(p) => self.root.glob(p),
            Lookup::Resolve(p) => self.root.resolve(p).map(|r| vec![answer(&r)]),
        }
    }

    fn mode_of(&self, path: &str, mode: u32) {
        self.modes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), mode);
    }

    /// Permission bits of what was read and listed, for the snapshot.
    pub fn take_modes(&self) -> BTreeMap<String, u32> {
        std::mem::take(&mut *self.modes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn note(&self, l: Lookup, answer: Vec<String>) {
        self.lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(l, answer);
    }

    /// The lookups made so far, for the snapshot.
    pub fn take_lookups(&self) -> BTreeMap<Lookup, Vec<String>> {
        std::mem::take(&mut *self.lookups.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The files read so far, for the snapshot.
    pub fn take_files(&self) -> BTreeMap<String, Option<Arc<str>>> {
        std::mem::take(&mut *self.recorded())
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<Arc<str>>>> {
        // a poisoned lock only means a reader thread panicked; what it recorded stays valid
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Files are fingerprinted by SHA-256 (see `planfile`).
pub use crate::planfile::hash;

fn answer(r: &crate::root::Resolved) -> String {
    match r {
        crate::root::Resolved::Path(p) => p.clone(),
        crate::root::Resolved::DevNull => "/dev/null".to_string(),
    }
}
