//! The boot-time value of every persisted sysctl, resolved exactly as systemd-sysctl does:
//! the sysctl.d directories, same-name hiding, /dev/null masks, lexical order of file names
//! across directories, and systemd's ordered map of options (a re-assignment with the same
//! value keeps its place, a different value moves to the end; explicit keys beat globs).
//!
//! Reading and resolving are apart: `Layout::read` reads what boot would read (each
//! directory's listing, where each file leads, its text), and `Boot::resolve` works from that
//! alone, so a plan can resolve again with its own edits laid over (`overlay`) to prove them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

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

/// The names qfix may give its drop-in, in order of preference: the first that sorts after
/// every file assigning the key, and is free or already qfix's (see `plan::placement`).
pub const DROPIN_NAMES: [&str; 4] = [
    "99-qfix.conf",
    "99-zz-qfix.conf",
    "zz-qfix.conf",
    "zzzz-qfix.conf",
];

/// What a listed path turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "lowercase")]
pub enum Entry {
    /// A file with text, reached at `target` (through links).
    File { target: String, text: Arc<str> },
    /// A link to /dev/null, or an empty file: systemd's mask.
    Masked,
    /// Nothing there (a dangling link, or a name not yet created): `target` is where a file
    /// would be created.
    Missing { target: String },
    /// Unreadable: boot would fail on it too.
    Unreadable(Error),
}

/// What boot would read, as found on the host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Layout {
    /// /lib is a link to /usr/lib (merged /usr), so /lib/sysctl.d is not a directory of its own.
    pub lib_is_usr_lib: bool,
    /// Each directory's names (sorted), or why it could not be listed.
    pub listings: Vec<(String, Result<Vec<String>, Error>)>,
    /// Every path boot reads (the first of each `*.conf` name in directory order).
    pub entries: BTreeMap<String, Entry>,
    /// /etc/sysctl.conf, which boot reads only through a 99-sysctl.conf link.
    pub sysctl_conf: Option<Arc<str>>,
    /// qfix's drop-in candidates in /etc/sysctl.d (`DROPIN_NAMES`).
    pub dropins: BTreeMap<String, Entry>,
}

impl Layout {
    pub fn read(host: &Host) -> Layout {
        let lib_is_usr_lib =
            matches!(host.resolve("/lib"), Ok(Resolved::Path(p)) if p == "/usr/lib");
        let mut layout = Layout {
            lib_is_usr_lib,
            ..Layout::default()
        };
        for dir in DIRS {
            if dir == "/lib/sysctl.d" && lib_is_usr_lib {
                continue;
            }
            let names = host.list_dir(dir).map(|mut n| {
                n.sort();
                n
            });
            layout.listings.push((dir.to_string(), names));
        }
        for path in layout.chosen(&BTreeMap::new()).into_values() {
            let entry = entry(host, &path);
            layout.entries.insert(path, entry);
        }
        for name in DROPIN_NAMES {
            let path = root::join(DIRS[0], name);
            let entry = entry(host, &path);
            layout.dropins.insert(path, entry);
        }
        layout.sysctl_conf = host.read("/etc/sysctl.conf").ok().flatten();
        layout
    }

    /// The path boot reads for each `*.conf` name, by name (lexical order): the first
    /// directory that has the name wins. `overlay` paths count as listed.
    fn chosen(&self, overlay: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut chosen = BTreeMap::new();
        for (dir, names) in &self.listings {
            let mut names: Vec<&str> = match names {
                Ok(n) => n.iter().map(String::as_str).collect(),
                Err(_) => Vec::new(),
            };
            names.extend(
                overlay
                    .keys()
                    .filter(|p| root::parent(p) == dir)
                    .map(|p| root::file_name(p)),
            );
            for name in names {
                if name.ends_with(".conf") && !name.starts_with('.') {
                    chosen
                        .entry(name.to_string())
                        .or_insert_with(|| root::join(dir, name));
                }
            }
        }
        chosen
    }

    /// Where a path boot reads (or a drop-in candidate) leads.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path).or_else(|| self.dropins.get(path))
    }
}

fn entry(host: &Host, path: &str) -> Entry {
    let target = match host.resolve(path) {
        Ok(Resolved::DevNull) => return Entry::Masked,
        Ok(Resolved::Path(t)) => t,
        Err(e) => return Entry::Unreadable(e),
    };
    match host.read(&target) {
        // an empty file masks like /dev/null (systemd's null_or_empty)
        Ok(Some(text)) if text.is_empty() => Entry::Masked,
        Ok(Some(text)) => Entry::File { target, text },
        Ok(None) => Entry::Missing { target },
        Err(e) if e.is_directory() => Entry::Unreadable(Error::msg(format!(
            "{path}: is a directory; systemd-sysctl fails to read it"
        ))),
        // the root's errors name the path already
        Err(e) if matches!(e.parts().0, Some(p) if p == path || p == target) => {
            Entry::Unreadable(e)
        }
        Err(e) => Entry::Unreadable(Error::msg(format!("{path}: {e}"))),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfFile {
    /// Path as listed in its directory (`/etc/sysctl.d/99-sysctl.conf`).
    pub path: String,
    /// Where its links lead (`/etc/sysctl.conf`): the file an edit changes.
    pub target: String,
    #[serde(skip)]
    pub text: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// Listed path of the file (as boot reads it), shared by the file's assignments.
    pub path: Arc<str>,
    pub line: usize,
    pub key: Arc<str>,
    pub value: String,
    pub glob: bool,
    /// Index into `Boot::files`.
    pub file: usize,
    pub value_span: std::ops::Range<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    pub path: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Boot {
    /// Files boot reads, in the order it reads them.
    pub files: Vec<ConfFile>,
    /// (hidden path, path that hides it), and masked paths.
    pub hidden: Vec<(String, String)>,
    pub masked: Vec<String>,
    /// Every assignment in read order.
    pub assignments: Vec<Assignment>,
    pub invalid: Vec<Invalid>,
    /// Files or directories that could not be read: reported, the rest is still resolved.
    pub errors: Vec<Error>,
    /// systemd's ordered hashmap: (key, index of the kept assignment, or None for a `-key`
    /// exclusion), with removed entries left as None so positions stay stable.
    #[serde(skip)]
    order: Vec<Option<(Arc<str>, Option<usize>)>>,
    #[serde(skip)]
    slot: HashMap<Arc<str>, usize>,
    /// Assignments per key, and the glob ones, so a lookup never scans every assignment.
    #[serde(skip)]
    by_key: HashMap<Arc<str>, Vec<usize>>,
    #[serde(skip)]
    glob_assignments: Vec<usize>,
    /// Every assigned key and glob, sorted.
    #[serde(skip)]
    keys: Vec<Arc<str>>,
    /// Positions in `order` that hold glob entries.
    #[serde(skip)]
    glob_slots: Vec<usize>,
    /// Compiled glob keys.
    #[serde(skip)]
    patterns: HashMap<Arc<str>, glob::Pattern>,
}

impl Boot {
    /// Resolve what boot would set from what it would read. `overlay` replaces or adds file
    /// contents (keyed by target path, or by listed path for a new file), so a plan can prove
    /// its edits before writing them.
    pub fn resolve(layout: &Layout, overlay: &BTreeMap<String, String>) -> Boot {
        let mut boot = Boot::default();
        for (_, names) in &layout.listings {
            if let Err(e) = names {
                boot.errors.push(e.clone());
            }
        }
        let chosen = layout.chosen(overlay);
        for (dir, names) in &layout.listings {
            for name in names.iter().flatten() {
                let path = root::join(dir, name);
                if let Some(by) = chosen.get(name).filter(|by| **by != path) {
                    if name.ends_with(".conf") && !name.starts_with('.') {
                        boot.hidden.push((path, by.clone()));
                    }
                }
            }
        }
        for path in chosen.into_values() {
            let entry = layout.entry(&path).cloned().unwrap_or(Entry::Missing {
                target: path.clone(),
            });
            let (target, text) = match entry {
                Entry::File { target, text } => (target, Some(text)),
                Entry::Missing { target } => (target, None),
                Entry::Masked => {
                    boot.masked.push(path);
                    continue;
                }
                Entry::Unreadable(e) => {
                    boot.errors.push(e);
                    continue;
                }
            };
            let text = match overlay.get(&target) {
                Some(t) => Arc::from(t.as_str()),
                // a dangling link: systemd skips it too
                None => match text {
                    Some(t) => t,
                    None => continue,
                },
            };
            boot.files.push(ConfFile { path, target, text });
        }
        for i in 0..boot.files.len() {
            boot.read_file(i);
        }
        let mut keys: Vec<Arc<str>> = boot.by_key.keys().cloned().collect();
        keys.sort_unstable();
        boot.keys = keys;
        boot
    }

    /// Parse file `i` and apply its options.
    fn read_file(&mut self, i: usize) {
        let f = self.files[i].clone();
        let path: Arc<str> = Arc::from(f.path.as_str());
        for line in file::parse(&f.text) {
            match line.kind {
                LineKind::Assign(a) => self.assign(Assignment {
                    path: path.clone(),
                    line: line.number,
                    key: a.key.into(),
                    value: a.value,
                    glob: a.glob,
                    file: i,
                    value_span: a.value_span,
                }),
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

    fn assign(&mut self, a: Assignment) {
        let idx = self.assignments.len();
        let (key, glob) = (a.key.clone(), a.glob);
        self.assignments.push(a);
        match self.by_key.get_mut(&key) {
            Some(v) => v.push(idx),
            None => {
                self.by_key.insert(key.clone(), vec![idx]);
            }
        }
        if glob {
            self.glob_assignments.push(idx);
        }
        if glob && !self.patterns.contains_key(&key) {
            if let Ok(p) = glob::Pattern::new(&super::key_to_path(&key)) {
                self.patterns.insert(key.clone(), p);
            }
        }
        self.set_option(key, Some(idx));
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
