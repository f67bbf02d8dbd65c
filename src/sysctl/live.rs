//! Live sysctls under `<root>/proc/sys`: read, list, write with read-back.

use std::fs;
use std::io::{self, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{key_to_path, path_to_key, same_value};
use crate::error::{Error, Result};
use crate::root::Root;

pub struct Live {
    dir: PathBuf,
    /// /proc/sys opened once: each key is opened relative to it (a busy host reads ~1,300).
    fd: Option<std::os::fd::OwnedFd>,
    /// Globs expanded so far: the live prefetch and two rules expand the same ones.
    expanded: std::sync::Mutex<rustc_hash::FxHashMap<String, Vec<String>>>,
}

impl Live {
    pub fn open(root: &Root) -> Option<Live> {
        let dir = root.host("/proc/sys");
        if !dir.is_dir() {
            return None;
        }
        let fd = fs::File::open(&dir).ok().map(std::os::fd::OwnedFd::from);
        Some(Live {
            dir,
            fd,
            expanded: Default::default(),
        })
    }

    /// The value's text, as `sysctl` prints it (without the trailing newline). `at`: an
    /// open directory `rel` is relative to (else /proc/sys).
    fn read_text(&self, at: Option<&std::os::fd::OwnedFd>, rel: &str) -> io::Result<String> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let Some(fd) = at.or(self.fd.as_ref()) else {
            let b = crate::root::read_all(&self.dir.join(rel))?;
            return Ok(String::from_utf8_lossy(&b)
                .trim_end_matches('\n')
                .to_string());
        };
        let raw = nix::fcntl::openat(
            Some(fd.as_raw_fd()),
            rel,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(io::Error::from)?;
        // SAFETY: openat just returned this descriptor and nothing else owns it
        let mut f = unsafe { fs::File::from_raw_fd(raw) };
        crate::root::with_buf(|buf| {
            let n = crate::root::read_into(&mut f, buf, true)?;
            Ok(String::from_utf8_lossy(&buf[..n])
                .trim_end_matches('\n')
                .to_string())
        })
    }

    pub fn read(&self, key: &str) -> Result<Option<String>> {
        let path = key_to_path(key);
        Self::judge(&path, self.read_text(None, &path))
    }

    /// A read's outcome as a value: missing, a directory or unreadable is no value.
    fn judge(path: &str, read: io::Result<String>) -> Result<Option<String>> {
        match read {
            Ok(v) => Ok(Some(v)),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) => Ok(None),
            // a directory, or a write-only key: not a value we can compare
            Err(e) if e.raw_os_error() == Some(nix::libc::EISDIR) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(None),
            Err(e) => Err(Error::io(format!("/proc/sys/{path}"), e)),
        }
    }

    /// Group `keys` by directory (in the order directories first appear) and cut them into
    /// the chunks `read_shared` claims: runs of keys in one directory, joined up to at
    /// least `CHUNK` keys, so a directory is opened by one reader, once. (A glob such as
    /// `net.ipv4.conf.*.rp_filter` gives one key per directory: in assignment order, every
    /// key would open its own.)
    pub fn chunks(keys: &mut Vec<String>) -> Vec<Range<usize>> {
        /// Keys claimed at once, at least (a few directories' worth).
        const CHUNK: usize = 32;
        // each key's directory, numbered as first seen: all before its last separator (a
        // `/` in the dotted form stands for a dot inside a name, as in `eth0/1`)
        let mut dirs: rustc_hash::FxHashMap<&str, usize> = Default::default();
        let group: Vec<usize> = (keys.iter())
            .map(|k| {
                let dir = k.bytes().rposition(|b| b == b'.').map_or("", |i| &k[..i]);
                let n = dirs.len();
                *dirs.entry(dir).or_insert(n)
            })
            .collect();
        // a stable counting sort by directory: linear, and a sorted list stays sorted
        let mut starts = vec![0; dirs.len() + 1];
        for &g in &group {
            starts[g + 1] += 1;
        }
        for g in 0..dirs.len() {
            starts[g + 1] += starts[g];
        }
        drop(dirs);
        let mut slots: Vec<String> = vec![String::new(); keys.len()];
        let mut at = starts.clone();
        for (k, &g) in keys.drain(..).zip(&group) {
            slots[at[g]] = k;
            at[g] += 1;
        }
        *keys = slots;
        let mut out = Vec::new();
        let mut start = 0;
        for end in starts.into_iter().skip(1) {
            if end - start >= CHUNK || end == keys.len() {
                if end > start {
                    out.push(start..end);
                }
                start = end;
            }
        }
        out
    }

    /// Read keys by chunks (`chunks`, claimed through `next`): several threads may run this
    /// on the same keys at once, each taking the next chunk until none is left, so whichever
    /// thread is free helps (a busy host has ~1,300 keys, each an open, a read and a close).
    /// Returns the values read here, by index into `keys`.
    ///
    /// Each directory of a chunk is opened once and its keys read relative to it: a busy
    /// host's keys sit a few to a directory (`net/ipv4/conf/eth0/...`), and the kernel then
    /// looks up one name per key instead of walking five.
    pub fn read_shared(
        &self,
        keys: &[String],
        chunks: &[Range<usize>],
        next: &AtomicUsize,
    ) -> Vec<(usize, Result<Option<String>>)> {
        use nix::fcntl::{OFlag, openat};
        use nix::sys::stat::Mode;
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let mut out = Vec::new();
        loop {
            let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return out;
            };
            // the directory open now: (its path, its descriptor if it opened)
            let mut dir: Option<(String, Option<OwnedFd>)> = None;
            for (i, key) in keys.iter().enumerate().take(chunk.end).skip(chunk.start) {
                let path = key_to_path(key);
                let at = match (&self.fd, path.rsplit_once('/')) {
                    (Some(top), Some((d, name))) => {
                        if dir.as_ref().is_none_or(|(open, _)| open != d) {
                            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
                            let fd = openat(Some(top.as_raw_fd()), d, flags, Mode::empty())
                                .ok()
                                // SAFETY: openat just returned this descriptor; nothing else owns it
                                .map(|raw| unsafe { OwnedFd::from_raw_fd(raw) });
                            dir = Some((d.to_string(), fd));
                        }
                        // a directory that would not open: the full path gives the same error
                        dir.as_ref()
                            .and_then(|(_, fd)| fd.as_ref())
                            .map(|fd| (fd, name))
                    }
                    _ => None,
                };
                let read = match at {
                    Some((fd, name)) => self.read_text(Some(fd), name),
                    None => self.read_text(None, &path),
                };
                out.push((i, Self::judge(&path, read)));
            }
        }
    }

    pub fn exists(&self, key: &str) -> bool {
        self.file_type(&key_to_path(key)) == Some(nix::libc::S_IFREG)
    }

    /// Keys matching a sysctl glob, expanded over the directory tree like glob(3).
    pub fn expand(&self, pattern: &str) -> Vec<String> {
        let lock = || self.expanded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = lock().get(pattern) {
            return keys.clone();
        }
        let keys = self.expand_uncached(pattern);
        lock().insert(pattern.to_string(), keys.clone());
        keys
    }

    /// The file type (`S_IFMT` bits, links followed) of `rel`, a path under /proc/sys;
    /// `None` when it does not exist. Looked up from the open /proc/sys: a glob's last part
    /// is checked in every directory it matched (~200 on a busy host), and the root's own
    /// path need not be walked again each time.
    fn file_type(&self, rel: &str) -> Option<nix::libc::mode_t> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let mode = match &self.fd {
            Some(fd) => {
                let flags = nix::fcntl::AtFlags::empty();
                nix::sys::stat::fstatat(Some(fd.as_raw_fd()), rel, flags)
                    .ok()?
                    .st_mode
            }
            None => fs::metadata(self.dir.join(rel)).ok()?.mode(),
        };
        Some(mode & nix::libc::S_IFMT)
    }

    fn expand_uncached(&self, pattern: &str) -> Vec<String> {
        // component by component, as glob(3) does: a wildcard part over readdir (whose entry
        // types spare a stat per name), a literal part by one lookup in each directory
        let mut found: Vec<(String, bool)> = vec![(String::new(), true)];
        for comp in key_to_path(pattern).split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            let wild = comp.contains(['*', '?', '[']);
            let pat = if wild {
                glob::Pattern::new(comp).ok()
            } else {
                None
            };
            for (dir, is_dir) in &found {
                if !is_dir {
                    continue;
                }
                let join = |n: &str| {
                    if dir.is_empty() {
                        n.to_string()
                    } else {
                        crate::concat(&[dir, "/", n])
                    }
                };
                match &pat {
                    None => {
                        let p = join(comp);
                        if let Some(t) = self.file_type(&p) {
                            next.push((p, t == nix::libc::S_IFDIR));
                        }
                    }
                    Some(pat) => {
                        let Ok(rd) = fs::read_dir(self.dir.join(dir)) else {
                            continue;
                        };
                        for e in rd.flatten() {
                            let name = e.file_name();
                            let name = name.to_string_lossy();
                            if name.starts_with('.') || !pat.matches(&name) {
                                continue;
                            }
                            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                            next.push((join(&name), is_dir));
                        }
                    }
                }
            }
            found = next;
        }
        let mut keys: Vec<String> = found
            .into_iter()
            .filter(|(_, is_dir)| !is_dir)
            .map(|(p, _)| path_to_key(&p))
            .collect();
        keys.sort();
        keys
    }

    /// Write a value the way sysctl(8) does, then read it back. A kernel that refuses
    /// (EINVAL, EROFS, EPERM) or silently clamps is an error naming both values.
    pub fn write(&self, key: &str, value: &str) -> Result<()> {
        let path = self.dir.join(key_to_path(key));
        let shown = format!("/proc/sys/{}", key_to_path(key));
        let res = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()));
        if let Err(e) = res {
            return Err(Error::io(
                format!("{key}: writing {value} to {shown} failed"),
                e,
            ));
        }
        match self.read(key)? {
            Some(now) if same_value(&now, value) => Ok(()),
            Some(now) => Err(Error::msg(format!(
                "{key}: wrote {value} but the kernel reads back {}: it clamped or ignored the value",
                super::norm_value(&now)
            ))),
            None => Err(Error::msg(format!("{key}: {shown} vanished after writing"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_the_kernel_does_not_keep_is_reported_with_both_values() {
        // a "kernel" that accepts the write and keeps nothing: /dev/null
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("proc/sys/net/core")).unwrap();
        std::os::unix::fs::symlink("/dev/null", d.path().join("proc/sys/net/core/somaxconn"))
            .unwrap();
        fs::write(d.path().join("proc/sys/net/core/netdev_budget"), "300\n").unwrap();
        let root = Root::new(d.path()).unwrap();
        let live = Live::open(&root).unwrap();
        let e = live
            .write("net.core.somaxconn", "4096")
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrote 4096 but the kernel reads back"), "{e}");
        live.write("net.core.netdev_budget", "600").unwrap();
        assert_eq!(
            live.read("net.core.netdev_budget").unwrap().as_deref(),
            Some("600")
        );
        assert_eq!(
            live.expand("net.core.*"),
            ["net.core.netdev_budget", "net.core.somaxconn"]
        );
    }

    /// A glob's literal parts are looked up in every directory its wildcards matched: a
    /// key is listed only where that name is a file, not where it is missing or a directory.
    #[test]
    fn issue5_glob_literal_parts_are_checked_in_each_match() {
        let d = tempfile::tempdir().unwrap();
        let conf = d.path().join("proc/sys/net/ipv4/conf");
        for (dir, has) in [("all", true), ("eth0", true), ("lo", false), ("odd", true)] {
            fs::create_dir_all(conf.join(dir)).unwrap();
            if has && dir != "odd" {
                fs::write(conf.join(dir).join("rp_filter"), "1\n").unwrap();
            }
        }
        // a directory of that name is not a key
        fs::create_dir_all(conf.join("odd/rp_filter")).unwrap();
        fs::write(conf.join("rp_filter"), "0\n").unwrap();
        let live = Live::open(&Root::new(d.path()).unwrap()).unwrap();
        assert_eq!(
            live.expand("net.ipv4.conf.*.rp_filter"),
            [
                "net.ipv4.conf.all.rp_filter",
                "net.ipv4.conf.eth0.rp_filter"
            ]
        );
        assert_eq!(
            live.expand("net.*.conf.e*.rp_filter"),
            ["net.ipv4.conf.eth0.rp_filter"]
        );
        assert!(live.expand("net.ipv6.conf.*.rp_filter").is_empty());
    }

    /// Threads sharing `read_shared` read every key exactly once between them, and each
    /// value is the key's own (issue 5).
    #[test]
    fn issue5_shared_reads_cover_every_key_once() {
        let d = tempfile::tempdir().unwrap();
        let mut keys = Vec::new();
        for i in 0..300 {
            let dir = d.path().join(format!("proc/sys/net/ipv4/conf/if{}", i / 7));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(format!("k{i}")), format!("{i}\n")).unwrap();
            keys.push(format!("net.ipv4.conf.if{}.k{i}", i / 7));
        }
        keys.push("net.ipv4.conf.if0.missing".to_string());
        let root = Root::new(d.path()).unwrap();
        let live = Live::open(&root).unwrap();
        let next = AtomicUsize::new(0);
        // interleaved directories, as a glob's keys come
        keys.sort_by_key(|k| k.rsplit('.').next().map(str::to_string));
        let chunks = Live::chunks(&mut keys);
        // whole directories, each in one run, at least 32 keys a chunk, every key once
        let dir = |i: usize| keys[i].rsplit_once('.').unwrap().0;
        for c in &chunks {
            assert!(c.len() >= 32 || c.end == keys.len(), "{c:?}");
            assert!(c.end == keys.len() || dir(c.end - 1) != dir(c.end), "{c:?}");
        }
        let mut runs: Vec<&str> = (0..keys.len()).map(dir).collect();
        runs.dedup();
        let distinct: std::collections::BTreeSet<&str> = runs.iter().copied().collect();
        assert_eq!(runs.len(), distinct.len(), "a directory in two runs");
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), keys.len());
        assert_eq!(keys.len(), 301);
        let mut got: Vec<(usize, Result<Option<String>>)> = std::thread::scope(|s| {
            let helpers: Vec<_> = (0..3)
                .map(|_| s.spawn(|| live.read_shared(&keys, &chunks, &next)))
                .collect();
            helpers
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        got.sort_by_key(|g| g.0);
        assert_eq!(got.len(), keys.len());
        for (n, (i, v)) in got.iter().enumerate() {
            assert_eq!(*i, n);
            // each key's value is its own number (`k17` holds 17); `missing` has none
            let name = keys[n].rsplit('.').next().unwrap();
            let want = name.strip_prefix('k').map(str::to_string);
            assert_eq!(v.as_ref().unwrap(), &want, "{}", keys[n]);
        }
    }
}
