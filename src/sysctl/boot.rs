//! The boot-time value of every persisted sysctl, resolved exactly as systemd-sysctl does:
//! the sysctl.d directories, same-name hiding, /dev/null masks, lexical order of file names
//! across directories, and systemd's ordered map of options (a re-assignment with the same
//! value keeps its place, a different value moves to the end; explicit keys beat globs).

use std::collections::{BTreeMap, HashSet};

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use super::file::{self, LineKind};
use crate::error::Error;
use crate::host::Host;
use crate::root::{self, Resolved};

/// Search path of systemd-sysctl, highest priority first.
pub const DIRS: [&str; 5] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

#[derive(Debug, Clone)]
pub struct ConfFile {
    /// Path as listed in its directory (`/etc/sysctl.d/99-sysctl.conf`).
    pub path: String,
    /// Where its links lead (`/etc/sysctl.conf`): the file an edit changes.
    pub target: String,
    pub text: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Listed path of the file (as boot reads it), shared by the file's assignments.
    pub path: Arc<str>,
    pub line: usize,
    /// Shared with the resolution's indexes (two resolutions of ~1,300 keys per plan).
    pub key: Arc<str>,
    pub value: String,
    pub glob: bool,
    /// Index into `Boot::files`.
    pub file: usize,
    pub value_span: std::ops::Range<usize>,
}

#[derive(Debug, Clone)]
pub struct Invalid {
    pub path: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Boot {
    /// Files boot reads, in the order it reads them.
    pub files: Vec<ConfFile>,
    /// (hidden path, path that hides it), and masked paths.
    pub hidden: Vec<(String, String)>,
    pub masked: Vec<String>,
    /// Every assignment in read order.
    pub assignments: Vec<Assignment>,
    pub invalid: Vec<Invalid>,
    /// Files that could not be read: reported, the rest is still resolved.
    pub errors: Vec<Error>,
    /// systemd's ordered hashmap: (key, index of the kept assignment, or None for a `-key`
    /// exclusion), with removed entries left as None so positions stay stable.
    order: Vec<Option<(Arc<str>, Option<usize>)>>,
    slot: HashMap<Arc<str>, usize>,
    /// Assignments per key, and the glob ones, so a lookup never scans every assignment.
    by_key: HashMap<Arc<str>, Vec<usize>>,
    glob_assignments: Vec<usize>,
    /// Every assigned key and glob, sorted once (several rules walk them).
    keys: Vec<Arc<str>>,
    /// Positions in `order` that hold glob entries, so a lookup scans only those.
    glob_slots: Vec<usize>,
    /// Compiled glob keys, so matching a key does not re-parse a pattern.
    patterns: HashMap<Arc<str>, glob::Pattern>,
}

impl Boot {
    /// Resolve what boot would set. `overlay` replaces or adds file contents (keyed by the
    /// target path), so a plan can prove its edits before writing them.
    pub fn resolve(host: &Host, overlay: &BTreeMap<String, String>) -> Boot {
        let mut boot = Boot::default();
        let lib_is_usr_lib =
            matches!(host.root.resolve("/lib"), Ok(Resolved::Path(p)) if p == "/usr/lib");
        let mut chosen: BTreeMap<String, String> = BTreeMap::new();
        for dir in DIRS {
            if dir == "/lib/sysctl.d" && lib_is_usr_lib {
                continue;
            }
            let mut names = match host.root.list_dir(dir) {
                Ok(n) => n,
                Err(e) => {
                    boot.errors.push(e);
                    Vec::new()
                }
            };
            for path in overlay.keys() {
                if root::parent(path) == dir {
                    names.push(root::file_name(path).to_string());
                }
            }
            names.sort();
            names.dedup();
            for name in names {
                if !name.ends_with(".conf") || name.starts_with('.') {
                    continue;
                }
                let path = root::join(dir, &name);
                match chosen.get(&name) {
                    Some(by) => boot.hidden.push((path, by.clone())),
                    None => {
                        chosen.insert(name, path);
                    }
                }
            }
        }
        // lexical order of file names, whatever the directory
        for (_, path) in chosen {
            if let Some(f) = boot.load(host, &path, overlay) {
                boot.files.push(f);
            }
        }
        for i in 0..boot.files.len() {
            boot.read_file(i);
        }
        let mut keys: Vec<Arc<str>> = boot.by_key.keys().cloned().collect();
        keys.sort_unstable();
        boot.keys = keys;
        boot
    }

    fn load(
        &mut self,
        host: &Host,
        path: &str,
        overlay: &BTreeMap<String, String>,
    ) -> Option<ConfFile> {
        let target = match host.root.resolve(path) {
            Ok(Resolved::DevNull) => {
                self.masked.push(path.to_string());
                return None;
            }
            Ok(Resolved::Path(t)) => t,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        if let Some(text) = overlay.get(&target) {
            return Some(ConfFile {
                path: path.into(),
                target,
                text: Arc::from(text.as_str()),
            });
        }
        match host.read(&target) {
            // an empty file masks like /dev/null (systemd's null_or_empty)
            Ok(Some(text)) if text.is_empty() => {
                self.masked.push(path.to_string());
                None
            }
            Ok(Some(text)) => Some(ConfFile {
                path: path.into(),
                target,
                text,
            }),
            Ok(None) => None, // dangling link: systemd skips it too
            Err(e) if e.to_string().ends_with("Is a directory") => {
                self.errors.push(Error::msg(format!(
                    "{path}: is a directory; systemd-sysctl fails to read it"
                )));
                None
            }
            Err(e) => {
                self.errors.push(Error::msg(format!("{path}: {e}")));
                None
            }
        }
    }

    fn read_file(&mut self, i: usize) {
        let f = self.files[i].clone();
        let path: Arc<str> = Arc::from(f.path.as_str());
        for line in file::parse(&f.text) {
            match line.kind {
                LineKind::Assign(a) => {
                    let idx = self.assignments.len();
                    // one copy of the key, shared by the indexes (the first one's, if seen)
                    let key: Arc<str> = match self.by_key.get_key_value(a.key.as_str()) {
                        Some((k, _)) => k.clone(),
                        None => a.key.into(),
                    };
                    self.assignments.push(Assignment {
                        path: path.clone(),
                        line: line.number,
                        key: key.clone(),
                        value: a.value,
                        glob: a.glob,
                        file: i,
                        value_span: a.value_span,
                    });
                    match self.by_key.get_mut(&key) {
                        Some(v) => v.push(idx),
                        None => {
                            self.by_key.insert(key.clone(), vec![idx]);
                        }
                    }
                    if a.glob {
                        self.glob_assignments.push(idx);
                    }
                    if a.glob && !self.patterns.contains_key(&key) {
                        if let Ok(p) = glob::Pattern::new(&super::key_to_path(&key)) {
                            self.patterns.insert(key.clone(), p);
                        }
                    }
                    self.set_option(key, Some(idx));
                }
                // `-key`: an entry with no value; it blocks globs and cancels an earlier value
                LineKind::Exclude(k) => self.set_option(k.into(), None),
                LineKind::Invalid(reason) => self.invalid.push(Invalid {
                    path: f.path.clone(),
                    line: line.number,
                    reason,
                }),
                LineKind::Blank | LineKind::Comment => {}
            }
        }
    }

    fn set_option(&mut self, key: Arc<str>, idx: Option<usize>) {
        if let Some(&pos) = self.slot.get(&key) {
            let kept = self.order[pos].as_ref().and_then(|(_, k)| *k);
            let value = |i: Option<usize>| i.map(|i| self.assignments[i].value.as_str());
            // systemd compares the stripped strings exactly (streq_ptr)
            if value(kept) == value(idx) {
                return; // same value: the earlier one keeps its place
            }
            self.order[pos] = None;
        }
        if idx.is_some_and(|i| self.assignments[i].glob) {
            self.glob_slots.push(self.order.len());
        }
        self.slot.insert(key.clone(), self.order.len());
        self.order.push(Some((key, idx)));
    }

    /// The assignment boot applies last for a concrete key: its explicit setting, or else
    /// the last glob applied that matches it (unless excluded).
    pub fn winner(&self, key: &str) -> Option<&Assignment> {
        if let Some(&pos) = self.slot.get(key) {
            if let Some((_, idx)) = &self.order[pos] {
                return idx.map(|i| &self.assignments[i]);
            }
        }
        if self.patterns.is_empty() {
            return None;
        }
        let path = super::key_to_path(key);
        self.glob_slots
            .iter()
            .rev()
            .filter_map(|&pos| self.order[pos].as_ref())
            .filter_map(|(k, idx)| idx.map(|i| (k, i)))
            .find(|(k, _)| self.matches(k, &path))
            .map(|(_, i)| &self.assignments[i])
    }

    /// Whether glob key `pattern` matches the /proc/sys path of a key (`*` stops at `/`).
    fn matches(&self, pattern: &str, path: &str) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.patterns
            .get(pattern)
            .is_some_and(|p| p.matches_with(path, opts))
    }

    /// Boot value of a concrete key; `None` when no file sets it (the kernel default stays).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.winner(key).map(|a| a.value.as_str())
    }

    /// Every assignment that targets `key` (explicitly or through a glob), in read order.
    pub fn assignments_for<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = &'a Assignment> + 'a {
        let mut idx: Vec<usize> = self.by_key.get(key).cloned().unwrap_or_default();
        if !self.glob_assignments.is_empty() {
            let path = super::key_to_path(key);
            idx.extend(self.glob_assignments.iter().filter(|&&i| {
                *self.assignments[i].key != *key && self.matches(&self.assignments[i].key, &path)
            }));
            idx.sort_unstable();
        }
        idx.into_iter().map(move |i| &self.assignments[i])
    }

    /// The explicit assignments of `key` (no globs), in read order.
    pub fn explicit_for<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Assignment> + 'a {
        self.by_key
            .get(key)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|&i| &self.assignments[i])
            .filter(|a| !a.glob)
    }

    /// Keys and glob patterns that some file assigns, sorted.
    pub fn keys(&self) -> &[Arc<str>] {
        &self.keys
    }

    pub fn file(&self, a: &Assignment) -> &ConfFile {
        &self.files[a.file]
    }

    /// Whether boot reads this (target) path through some listed file.
    pub fn reads_target(&self, target: &str) -> bool {
        self.files.iter().any(|f| f.target == target)
    }

    /// Names of all files present in any directory (listed or hidden), for placing a drop-in.
    pub fn all_names(&self) -> HashSet<String> {
        self.files
            .iter()
            .map(|f| root::file_name(&f.path).to_string())
            .chain(
                self.hidden
                    .iter()
                    .map(|(p, _)| root::file_name(p).to_string()),
            )
            .chain(self.masked.iter().map(|p| root::file_name(p).to_string()))
            .collect()
    }
}
