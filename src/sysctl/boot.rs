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
    /// Every option line (assignment or `-key`) in read order, and each file's run of them:
    /// a later resolution of the same files replays them instead of parsing again.
    ops: Vec<Op>,
    file_ops: Vec<std::ops::Range<usize>>,
}

/// An option line: an assignment (index into `Boot::assignments`), or a `-key` exclusion.
#[derive(Debug)]
enum Op {
    Assign(usize),
    Exclude(Arc<str>),
}

/// The keys a narrowed resolution keeps options of (with every glob's): see `values_after`.
type Only<'a> = rustc_hash::FxHashSet<&'a str>;

/// Whether a narrowed resolution keeps an option of `key`.
fn keeps(only: &Only, key: &str) -> bool {
    only.contains(key) || super::is_glob(key)
}

impl Boot {
    /// Resolve what boot would set. `overlay` replaces or adds file contents (keyed by the
    /// target path), so a plan can prove its edits before writing them.
    pub fn resolve(host: &Host, overlay: &BTreeMap<String, String>) -> Boot {
        Self::resolve_with(host, overlay, None)
    }

    /// The boot values of `keys` once the `overlay` files replace theirs: what `resolve`
    /// with that overlay gives them, worked out from `base` (the resolution without it). A
    /// file boot still reads as `base` read it is not parsed again: its options are replayed,
    /// and only those of `keys` and of globs, as an option moves only its own key's entry
    /// of systemd's ordered map, never another key's or a glob's. (A plan proves its edits
    /// this way: a busy host's proof parsed ~60 files for a handful of keys.)
    pub fn values_after(
        host: &Host,
        overlay: &BTreeMap<String, String>,
        base: &Boot,
        keys: &[&str],
    ) -> Vec<Option<String>> {
        let only: Only = keys.iter().copied().collect();
        let after = Self::resolve_with(host, overlay, Some((base, &only)));
        keys.iter()
            .map(|k| after.value(k).map(str::to_string))
            .collect()
    }

    fn resolve_with(
        host: &Host,
        overlay: &BTreeMap<String, String>,
        reuse: Option<(&Boot, &Only)>,
    ) -> Boot {
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
        // base's files by listed path
        let base_files: HashMap<&str, usize> = (reuse.iter())
            .flat_map(|(base, _)| base.files.iter().enumerate())
            .map(|(j, f)| (&*f.path, j))
            .collect();
        for i in 0..boot.files.len() {
            let start = boot.ops.len();
            let f = &boot.files[i];
            let same = reuse.and_then(|(base, only)| {
                let j = *base_files.get(&*f.path)?;
                let b = &base.files[j];
                (b.target == f.target && (Arc::ptr_eq(&b.text, &f.text) || b.text == f.text))
                    .then_some((base, j, only))
            });
            match same {
                Some((base, j, only)) => boot.replay(base, j, i, only),
                None => boot.read_file(i, reuse.map(|r| r.1)),
            }
            boot.file_ops.push(start..boot.ops.len());
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
            // the root's errors name the path already
            Err(e) if e.to_string().starts_with(&format!("{path}:")) => {
                self.errors.push(e);
                None
            }
            Err(e) => {
                self.errors.push(Error::msg(format!("{path}: {e}")));
                None
            }
        }
    }

    /// Parse file `i` and apply its options (only those `only` keeps, when given).
    fn read_file(&mut self, i: usize, only: Option<&Only>) {
        let f = self.files[i].clone();
        let path: Arc<str> = Arc::from(f.path.as_str());
        let kept = |key: &str| only.is_none_or(|o| keeps(o, key));
        for line in file::parse(&f.text) {
            match line.kind {
                LineKind::Assign(a) if kept(&a.key) => {
                    // one copy of the key, shared by the indexes (the first one's, if seen)
                    let key: Arc<str> = match self.by_key.get_key_value(a.key.as_str()) {
                        Some((k, _)) => k.clone(),
                        None => a.key.into(),
                    };
                    self.assign(Assignment {
                        path: path.clone(),
                        line: line.number,
                        key,
                        value: a.value,
                        glob: a.glob,
                        file: i,
                        value_span: a.value_span,
                    });
                }
                // `-key`: an entry with no value; it blocks globs and cancels an earlier value
                LineKind::Exclude(k) if kept(&k) => self.exclude(k.into()),
                LineKind::Invalid(reason) => self.invalid.push(Invalid {
                    path: f.path.clone(),
                    line: line.number,
                    reason,
                }),
                LineKind::Assign(_)
                | LineKind::Exclude(_)
                | LineKind::Blank
                | LineKind::Comment => {}
            }
        }
    }

    /// Apply as file `i` the options `only` keeps of `base`'s file `j` (the same text).
    fn replay(&mut self, base: &Boot, j: usize, i: usize, only: &Only) {
        for op in &base.ops[base.file_ops[j].clone()] {
            let key = match op {
                Op::Assign(a) => &base.assignments[*a].key,
                Op::Exclude(k) => k,
            };
            if !keeps(only, key) {
                continue;
            }
            let key = match self.by_key.get_key_value(&**key) {
                Some((k, _)) => k.clone(),
                None => key.clone(),
            };
            match op {
                Op::Assign(a) => self.assign(Assignment {
                    key,
                    file: i,
                    ..base.assignments[*a].clone()
                }),
                Op::Exclude(_) => self.exclude(key),
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
        self.ops.push(Op::Assign(idx));
        self.set_option(key, Some(idx));
    }

    fn exclude(&mut self, key: Arc<str>) {
        self.ops.push(Op::Exclude(key.clone()));
        self.set_option(key, None);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Root;
    use std::fs;

    /// A proof resolves only its keys, replaying the options of files it does not change:
    /// every key must get what a full resolution with the same overlay gives it, alone or
    /// with others, whatever the overlay changes (a file behind a link, a new file, a vendor
    /// file), across globs, exclusions, hidden and masked files.
    #[test]
    fn issue5_values_after_match_a_full_resolution() {
        let d = tempfile::tempdir().unwrap();
        let put = |p: &str, text: &str| {
            let p = d.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        put(
            "/etc/sysctl.d/10-a.conf",
            "net.core.somaxconn = 1024\nnet.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.lo.rp_filter\nkernel.x = 1\n",
        );
        put("/usr/lib/sysctl.d/10-a.conf", "net.core.somaxconn = 1\n");
        put(
            "/usr/lib/sysctl.d/50-vendor.conf",
            "net.core.somaxconn=4096\nnet.ipv4.tcp_max_syn_backlog = 512\nnet.ipv4.conf.all.rp_filter = 1\n",
        );
        put(
            "/run/sysctl.d/60-run.conf",
            "net.core.somaxconn = 4096\nnet.ipv4.conf.*.rp_filter = 1\nkernel.x = 1\n",
        );
        put("/usr/lib/sysctl.d/70-masked.conf", "kernel.x = 9\n");
        put(
            "/etc/sysctl.d/80-ex.conf",
            "-net.ipv4.conf.*.rp_filter\nkernel.y=3\n",
        );
        put("/etc/sysctl.conf", "net.ipv4.tcp_max_syn_backlog = 1024\n");
        std::os::unix::fs::symlink("/dev/null", d.path().join("etc/sysctl.d/70-masked.conf"))
            .unwrap();
        std::os::unix::fs::symlink(
            "../sysctl.conf",
            d.path().join("etc/sysctl.d/99-sysctl.conf"),
        )
        .unwrap();
        let host = Host::new(Root::new(d.path()).unwrap());
        let base = Boot::resolve(&host, &BTreeMap::new());
        let keys = [
            "net.core.somaxconn",
            "net.ipv4.tcp_max_syn_backlog",
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.lo.rp_filter",
            "net.ipv4.conf.eth0.rp_filter",
            "kernel.x",
            "kernel.y",
            "vm.unset",
        ];
        let overlays: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("/etc/sysctl.conf", "net.ipv4.tcp_max_syn_backlog = 8192\n")],
            vec![(
                "/etc/sysctl.d/99-zz-qfix.conf",
                "net.core.somaxconn = 8192\nnet.ipv4.conf.*.rp_filter = 0\n",
            )],
            vec![(
                "/usr/lib/sysctl.d/50-vendor.conf",
                "net.core.somaxconn=65535\n-kernel.x\nnet.ipv4.conf.eth0.rp_filter = 1\n",
            )],
            vec![
                ("/etc/sysctl.d/80-ex.conf", "kernel.y=4\n-kernel.x\n"),
                ("/run/sysctl.d/60-run.conf", "net.core.somaxconn = 2048\n"),
            ],
        ];
        for ov in overlays {
            let ov: BTreeMap<String, String> = ov
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect();
            let full = Boot::resolve(&host, &ov);
            let want: Vec<Option<String>> = (keys.iter())
                .map(|k| full.value(k).map(str::to_string))
                .collect();
            assert_eq!(Boot::values_after(&host, &ov, &base, &keys), want, "{ov:?}");
            for (k, w) in keys.iter().zip(&want) {
                let one = Boot::values_after(&host, &ov, &base, &[k]);
                assert_eq!(one, std::slice::from_ref(w), "{k} with {ov:?}");
            }
        }
        // the fixture means something: globs, exclusions and masks decide some of these
        assert_eq!(base.value("net.ipv4.conf.eth0.rp_filter"), None);
        assert_eq!(base.value("net.core.somaxconn"), Some("4096"));
        assert_eq!(base.value("kernel.x"), Some("1"));
        assert_eq!(base.value("net.ipv4.tcp_max_syn_backlog"), Some("1024"));
    }
}
