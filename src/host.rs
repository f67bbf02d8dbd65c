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
}

impl Host {
    pub fn new(root: Root) -> Host {
        let live = Live::open(&root);
        Host {
            root,
            live,
            files: Mutex::default(),
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
        let text = self.root.read_opt(path)?;
        self.recorded().insert(path.to_string(), text.clone());
        Ok(text)
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
