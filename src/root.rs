//! The host tree qfix works on (`--root DIR`). Every path qfix names is an absolute path
//! *inside* the root; this module maps it to the host and back, following symlinks the way
//! a chroot would, and refuses links that climb out of the root.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;

/// Symlink hops before we call it a loop (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;
/// Directory descriptors kept open at most (well under the usual limit of 1,024 files).
const MAX_DIR_FDS: usize = 256;

#[derive(Debug)]
pub struct Root {
    base: PathBuf,
    /// Resolved directories: a busy host reads thousands of files from a few directories,
    /// and each resolution would otherwise lstat every component again.
    dirs: std::sync::Mutex<rustc_hash::FxHashMap<String, String>>,
    /// Resolved paths: callers often resolve a path, then read it (which resolves again).
    paths: std::sync::Mutex<rustc_hash::FxHashMap<String, Resolved>>,
    /// What each resolved path is, from readdir's entry types or an earlier lookup: a busy
    /// host globs thousands of files, and each would otherwise be stat'ed two or three times.
    /// Only paths seen to exist are kept.
    kinds: std::sync::Mutex<rustc_hash::FxHashMap<String, Kind>>,
    /// Resolved directories opened once (`None`: could not be opened), see `open_direct`.
    dir_fds: std::sync::Mutex<rustc_hash::FxHashMap<String, Option<Arc<OwnedFd>>>>,
    /// Names looked up in each resolved directory that `kinds` did not know, or `LISTED`
    /// once the directory's listing is in `kinds` (see `link_target`).
    misses: std::sync::Mutex<rustc_hash::FxHashMap<String, u32>>,
}

/// Unknown names looked up in one directory before it is listed whole. A directory read
/// through many names (a busy host's sites-available, reached through sites-enabled's
/// links) then costs one getdents instead of a readlink per name, while a directory passed
/// through for a name or two (/etc, /usr/lib) is not listed.
const LIST_AFTER: u32 = 8;
const LISTED: u32 = u32::MAX;

/// What an existing path is, without following a link in its last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Link,
    /// A file, a device...: neither a directory nor a link.
    Other,
    /// Not a link; whether a directory is not known yet.
    NotLink,
}

impl Kind {
    /// A directory entry's kind, from readdir's entry type.
    fn of(t: fs::FileType) -> Kind {
        if t.is_symlink() {
            Kind::Link
        } else if t.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        }
    }
}

/// What a path turned out to be once its links were followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An existing or not yet existing path inside the root (in-root form).
    Path(String),
    /// A link chain that ends at /dev/null: the systemd way to mask a file.
    DevNull,
}

impl Root {
    pub fn new(dir: &Path) -> Result<Root, Error> {
        let base =
            fs::canonicalize(dir).map_err(|e| Error::io(format!("--root {}", dir.display()), e))?;
        if !base.is_dir() {
            return Err(Error::msg(format!(
                "--root {}: not a directory",
                dir.display()
            )));
        }
        Ok(Root {
            base,
            dirs: Default::default(),
            paths: Default::default(),
            dir_fds: Default::default(),
            kinds: Default::default(),
            misses: Default::default(),
        })
    }

    /// The same root with caches of its own, for a thread that reads other files than the
    /// rest: threads that share the caches' locks stall each other whenever the holder's
    /// core is taken away mid-lookup (milliseconds, on a busy VM).
    pub fn fresh(&self) -> Root {
        Root {
            base: self.base.clone(),
            dirs: Default::default(),
            paths: Default::default(),
            dir_fds: Default::default(),
            kinds: Default::default(),
            misses: Default::default(),
        }
    }

    pub fn is_host(&self) -> bool {
        self.base == Path::new("/")
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Host path of an in-root path, without following links.
    pub fn host(&self, inroot: &str) -> PathBuf {
        let rel = inroot.trim_start_matches('/');
        if rel.is_empty() {
            self.base.clone()
        } else {
            self.base.join(rel)
        }
    }

    /// Follow every symlink in `inroot` inside the root. Absolute link targets are taken
    /// relative to the root (as after chroot); a relative target that climbs above the root
    /// is refused. The last component may be missing (a file about to be created).
    pub fn resolve(&self, inroot: &str) -> Result<Resolved, Error> {
        self.resolve_hops(inroot, 0)
    }

    fn resolve_hops(&self, inroot: &str, hops: usize) -> Result<Resolved, Error> {
        if let Some(r) = lock(&self.paths).get(inroot) {
            return Ok(r.clone());
        }
        let r = self.resolve_uncached(inroot, hops)?;
        lock(&self.paths).insert(inroot.to_string(), r.clone());
        Ok(r)
    }

    fn resolve_uncached(&self, inroot: &str, hops: usize) -> Result<Resolved, Error> {
        // the usual case: a plain path in a directory resolved before, its last component
        // a file or a link to one (sites-enabled/*); no component lists built
        if let Some((rdir, last)) = self.cached_split(inroot) {
            let cur = join(&rdir, last);
            match self.link_target(&cur)? {
                None => return Ok(Resolved::Path(cur)),
                Some(t) if t == "/dev/null" => return Ok(Resolved::DevNull),
                // `rdir` holds no links, so its `..` is lexical
                Some(t) if hops < MAX_LINKS => {
                    if let Some(next) = lexical_join(&rdir, &t) {
                        return self.resolve_hops(&next, hops + 1);
                    }
                }
                Some(_) => {}
            }
        }
        let comps = components(inroot);
        // resolve the directory once (cached), then only the last component
        if let Some((dir, last)) = self.split_resolved(&comps)? {
            return self.walk(components(&dir), vec![last.to_string()], inroot);
        }
        self.walk(Vec::new(), comps, inroot)
    }

    /// A plain path's resolved directory, when it is cached already, and its last component.
    /// (The lock is let go before the caller resolves anything else.)
    fn cached_split<'p>(&self, inroot: &'p str) -> Option<(String, &'p str)> {
        let (dir, last) = split_clean(inroot)?;
        Some((lock(&self.dirs).get(dir).cloned()?, last))
    }

    /// The resolved directory of a path and its last component, when the directory part can
    /// be resolved on its own (no `..`, at least two components).
    fn split_resolved<'c>(&self, comps: &'c [String]) -> Result<Option<(String, &'c str)>, Error> {
        let Some((last, dirs)) = comps.split_last() else {
            return Ok(None);
        };
        if dirs.is_empty() || comps.iter().any(|c| c == "..") {
            return Ok(None);
        }
        let dir = format!("/{}", dirs.join("/"));
        let cached = lock(&self.dirs).get(&dir).cloned();
        let resolved = match cached {
            Some(r) => r,
            None => match self.walk(Vec::new(), dirs.to_vec(), &dir)? {
                Resolved::Path(r) => {
                    lock(&self.dirs).insert(dir, r.clone());
                    r
                }
                Resolved::DevNull => {
                    return Err(Error::msg(format!("{dir}: links to /dev/null")));
                }
            },
        };
        Ok(Some((resolved, last.as_str())))
    }

    /// Follow links component by component: `done` is already resolved, `rest` is not.
    fn walk(
        &self,
        mut done: Vec<String>,
        rest: Vec<String>,
        inroot: &str,
    ) -> Result<Resolved, Error> {
        let mut todo: Vec<String> = rest.into_iter().rev().collect();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                if done.pop().is_none() {
                    return Err(Error::msg(format!(
                        "{inroot}: path climbs above the root {}",
                        self.base.display()
                    )));
                }
                continue;
            }
            done.push(c);
            let cur = format!("/{}", done.join("/"));
            let Some(target) = self.link_target(&cur)? else {
                continue;
            };
            hops += 1;
            if hops > MAX_LINKS {
                return Err(Error::msg(format!(
                    "{inroot}: too many levels of symbolic links"
                )));
            }
            if target == "/dev/null" {
                if todo.is_empty() {
                    return Ok(Resolved::DevNull);
                }
                return Err(Error::msg(format!("{cur}: links to /dev/null")));
            }
            done.pop();
            if target.starts_with('/') {
                done.clear();
            } else if !target_stays_inside(&done, &target) {
                return Err(Error::msg(format!(
                    "{cur}: symlink to {target} points outside the root {}",
                    self.base.display()
                )));
            }
            for t in components(&target).into_iter().rev() {
                todo.push(t);
            }
        }
        Ok(Resolved::Path(format!("/{}", done.join("/"))))
    }

    /// The target of `cur` (an in-root path whose directories are resolved) when it is a
    /// link; `None` when it is not one or does not exist. One readlink answers both, and
    /// paths already seen in a directory listing need no syscall at all.
    fn link_target(&self, cur: &str) -> Result<Option<String>, Error> {
        if matches!(
            lock(&self.kinds).get(cur),
            Some(Kind::Dir | Kind::Other | Kind::NotLink)
        ) {
            return Ok(None);
        }
        if let Some((dir, _)) = split_clean(cur)
            && self.listed(dir)
        {
            // the listing knows every name: only a link needs its readlink, and a name it
            // does not hold is missing
            if lock(&self.kinds).get(cur) != Some(&Kind::Link) {
                return Ok(None);
            }
        }
        // relative to the directory's descriptor when there is one: the kernel then looks up
        // one name rather than the whole host path (a busy host's sites-enabled/* are links)
        let target = match split_clean(cur).and_then(|(dir, last)| Some((self.dir_fd(dir)?, last)))
        {
            Some((fd, last)) => {
                use std::os::fd::AsRawFd;
                nix::fcntl::readlinkat(Some(fd.as_raw_fd()), last)
                    .map(std::path::PathBuf::from)
                    .map_err(io::Error::from)
            }
            None => fs::read_link(self.host(cur)),
        };
        match target {
            Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                lock(&self.kinds).insert(cur.to_string(), Kind::NotLink);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(cur.to_string(), e)),
        }
    }

    /// Whether the entries of `dir` (resolved) are all in `kinds`: counts a name `kinds`
    /// did not know, and lists the directory at the LIST_AFTER-th.
    fn listed(&self, dir: &str) -> bool {
        let n = {
            let mut misses = lock(&self.misses);
            match misses.get_mut(dir) {
                Some(n) => {
                    *n = n.saturating_add(1);
                    *n
                }
                None => {
                    misses.insert(dir.to_string(), 1);
                    1
                }
            }
        };
        if n == LISTED {
            return true;
        }
        if n != LIST_AFTER {
            return false;
        }
        // an entry whose kind cannot be read leaves the listing incomplete: not used
        if !matches!(self.read_listing(dir), Ok((_, true))) {
            return false;
        }
        lock(&self.misses).insert(dir.to_string(), LISTED);
        true
    }

    /// The names in resolved directory `dir` (unsorted), their kinds put in `kinds`
    /// (readdir's entry type costs nothing and spares a stat or a readlink per file later),
    /// and whether every entry's kind was read.
    fn read_listing(&self, dir: &str) -> io::Result<(Vec<String>, bool)> {
        let mut names = Vec::new();
        let mut kinds = Vec::new();
        let mut complete = true;
        for ent in fs::read_dir(self.host(dir))? {
            let ent = ent?;
            let name = ent.file_name().to_string_lossy().into_owned();
            match ent.file_type() {
                Ok(t) => kinds.push((join(dir, &name), Kind::of(t))),
                Err(_) => complete = false,
            }
            names.push(name);
        }
        lock(&self.kinds).extend(kinds);
        Ok((names, complete))
    }

    /// Whether an in-root path (links followed) is a directory.
    pub fn is_dir(&self, inroot: &str) -> bool {
        self.kind(inroot) == Some(Kind::Dir)
    }

    /// Whether an in-root path (links followed) exists.
    pub fn exists(&self, inroot: &str) -> bool {
        self.kind(inroot).is_some()
    }

    /// Dir or Other for an existing path, links followed; `None` when missing or masked.
    fn kind(&self, inroot: &str) -> Option<Kind> {
        let Ok(Resolved::Path(p)) = self.resolve(inroot) else {
            return None;
        };
        let known = lock(&self.kinds).get(&p).copied();
        if let Some(k @ (Kind::Dir | Kind::Other)) = known {
            return Some(k);
        }
        let meta = fs::metadata(self.host(&p)).ok()?;
        let k = if meta.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        };
        lock(&self.kinds).insert(p, k);
        Some(k)
    }

    /// Host path after following links; /dev/null masks become `None`.
    pub fn resolve_host(&self, inroot: &str) -> Result<Option<PathBuf>, Error> {
        Ok(match self.resolve(inroot)? {
            Resolved::Path(p) => Some(self.host(&p)),
            Resolved::DevNull => None,
        })
    }

    /// Read a whole text file (in-root path). `Ok(None)` when it does not exist.
    pub fn read_opt(&self, inroot: &str) -> Result<Option<Arc<str>>, Error> {
        let opened = match self.open_direct(inroot)? {
            Some(r) => r,
            None => match self.resolve_host(inroot)? {
                Some(host) => fs::File::open(host),
                None => return Ok(Some(Arc::from(""))),
            },
        };
        let read = opened.and_then(|mut f| {
            BUF.with_borrow_mut(|buf| {
                // config files are regular files, whose short read is their end: the read
                // that would return 0 is spared for each of a busy host's ~600 files
                let n = read_into(&mut f, buf, true)?;
                let bytes = &buf[..n];
                Ok(std::str::from_utf8(bytes).map(Arc::from).map_err(|e| {
                    let line = 1 + newlines(&bytes[..e.valid_up_to()]);
                    Error::msg(format!("{inroot}:{line}: not valid UTF-8"))
                }))
            })
        });
        match read {
            Ok(text) => text.map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(inroot.to_string(), e)),
        }
    }

    /// A resolved directory, opened once (`None`: it could not be opened, or too many are).
    fn dir_fd(&self, dir: &str) -> Option<Arc<OwnedFd>> {
        let mut fds = lock(&self.dir_fds);
        match fds.get(dir) {
            Some(fd) => fd.clone(),
            None if fds.len() >= MAX_DIR_FDS => None,
            None => {
                let fd = fs::File::open(self.host(dir))
                    .ok()
                    .map(|f| Arc::new(OwnedFd::from(f)));
                fds.insert(dir.to_string(), fd.clone());
                fd
            }
        }
    }

    /// Open a file relative to its directory's descriptor, refusing to follow a last
    /// component that is a link: a busy host reads thousands of plain files, and this spares
    /// an lstat and a full path walk for each. `None` when the slow path must decide (a
    /// link, a `..`, a single component, too many directories open).
    fn open_direct(&self, inroot: &str) -> Result<Option<io::Result<fs::File>>, Error> {
        use nix::fcntl::{OFlag, openat};
        use std::os::fd::{AsRawFd, FromRawFd};
        let comps;
        let (dir, last) = match self.cached_split(inroot) {
            Some(split) => split,
            None => {
                comps = components(inroot);
                match self.split_resolved(&comps)? {
                    Some(split) => split,
                    None => return Ok(None),
                }
            }
        };
        let Some(fd) = self.dir_fd(&dir) else {
            return Ok(None);
        };
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let opened = match openat(
            Some(fd.as_raw_fd()),
            last,
            flags,
            nix::sys::stat::Mode::empty(),
        ) {
            // SAFETY: openat just returned this descriptor and nothing else owns it
            Ok(raw) => Ok(unsafe { fs::File::from_raw_fd(raw) }),
            Err(nix::errno::Errno::ELOOP) => return Ok(None),
            Err(e) => Err(io::Error::from(e)),
        };
        if opened.is_ok() || matches!(&opened, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            lock(&self.paths)
                .entry(inroot.to_string())
                .or_insert_with(|| Resolved::Path(join(&dir, last)));
        }
        Ok(Some(opened))
    }

    /// Entries of an in-root directory (names only, sorted). Missing directory: empty.
    pub fn list_dir(&self, inroot: &str) -> Result<Vec<String>, Error> {
        let Resolved::Path(dir) = self.resolve(inroot)? else {
            return Ok(Vec::new());
        };
        let mut names = match self.read_listing(&dir) {
            Ok((names, _)) => names,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTDIR) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(inroot.to_string(), e)),
        };
        names.sort();
        Ok(names)
    }

    /// Expand a shell glob of in-root paths (as nginx, php-fpm and Apache includes do).
    /// Matches are sorted, as glob(3) sorts them.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>, Error> {
        if !has_wildcard(pattern) {
            self.resolve(pattern)?;
            return Ok(if self.exists(pattern) {
                vec![pattern.to_string()]
            } else {
                Vec::new()
            });
        }
        // Walk the pattern one component at a time: literal components are resolved inside
        // the root (links followed as after chroot), wildcard ones are matched against the
        // directory's names, hidden names only by a pattern that starts with a dot.
        let mut found: Vec<String> = vec![String::from("/")];
        let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let mut next = Vec::new();
            for dir in &found {
                if !has_wildcard(comp) {
                    let p = join(dir, comp);
                    if last || {
                        self.resolve(&p)?;
                        self.is_dir(&p)
                    } {
                        next.push(p);
                    }
                    continue;
                }
                let pat = glob::Pattern::new(comp)
                    .map_err(|e| Error::msg(format!("{pattern}: bad glob: {e}")))?;
                for name in self.list_dir(dir)? {
                    if name.starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if pat.matches(&name) {
                        next.push(join(dir, &name));
                    }
                }
            }
            found = next;
        }
        if !has_wildcard(comps.last().copied().unwrap_or("")) {
            found.retain(|p| self.exists(p));
        }
        found.sort();
        Ok(found)
    }

    /// The in-root form of a host path (strip the root prefix).
    pub fn display(&self, host: &Path) -> String {
        if self.is_host() {
            return host.to_string_lossy().into_owned();
        }
        match host.strip_prefix(&self.base) {
            Ok(rel) => format!("/{}", rel.to_string_lossy()),
            Err(_) => host.to_string_lossy().into_owned(),
        }
    }
}

/// `target` taken from the link-free directory `dir` (absolute targets from the root), as
/// a plain path; `None` when it climbs above the root or names no file (the full walk then
/// says why).
fn lexical_join(dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(dir.len() + target.len() + 1);
    for c in parts {
        out.push('/');
        out.push_str(c);
    }
    Some(out)
}

/// Directory and last component of a plain absolute path (no `.`, `..` or empty
/// components, at least two components): the form `split_resolved` would build.
fn split_clean(p: &str) -> Option<(&str, &str)> {
    let b = p.as_bytes();
    if b.first() != Some(&b'/') {
        return None;
    }
    // one pass over the bytes (thousands of paths per busy host): every component between
    // slashes must be non-empty and neither `.` nor `..`
    let (mut start, mut last_slash) = (1, 0);
    for i in 1..=b.len() {
        if i < b.len() && b[i] != b'/' {
            continue;
        }
        if matches!(&b[start..i], b"" | b"." | b"..") {
            return None;
        }
        if i < b.len() {
            last_slash = i;
        }
        start = i + 1;
    }
    (last_slash > 0).then(|| (&p[..last_slash], &p[last_slash + 1..]))
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

thread_local! {
    /// One read buffer per thread, kept between files: a busy host reads thousands, and a
    /// fresh zeroed buffer for each costs more than the read.
    static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's read buffer.
pub fn with_buf<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    BUF.with_borrow_mut(f)
}

/// Read a whole file with plain read(2) calls: `fs::read` also asks statx for the size
/// (and `read_to_end` an lseek), which doubles the syscalls of a run that reads thousands of
/// small files.
pub fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = fs::File::open(path)?;
    BUF.with_borrow_mut(|buf| read_into(&mut f, buf, false).map(|n| buf[..n].to_vec()))
}

/// Read an open file to its end into the front of `buf`, with read(2) alone, and return
/// its length. `buf` only grows: its bytes stay initialised for the next file.
///
/// `short_is_end`: a read that does not fill the buffer is the end, without the read that
/// returns 0. True of /proc/sys values (each read formats the whole value) and of regular
/// files; it spares a syscall per key on a host with a thousand persisted keys.
pub fn read_into(f: &mut fs::File, buf: &mut Vec<u8>, short_is_end: bool) -> io::Result<usize> {
    use std::io::Read;
    if buf.len() < 16 * 1024 {
        buf.resize(16 * 1024, 0);
    }
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break Ok(len),
            Ok(n) => {
                len += n;
                if short_is_end && len < buf.len() {
                    break Ok(len);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    }
}

/// Newlines in a byte slice, counted in byte-wide lanes (this loop vectorizes).
pub fn newlines(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|c| c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')) as usize)
        .sum()
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

fn target_stays_inside(dir: &[String], target: &str) -> bool {
    let mut depth = dir.len() as isize;
    for c in components(target) {
        depth += if c == ".." { -1 } else { 1 };
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Join an include path the way most daemons do: absolute stays, relative is taken from `dir`.
pub fn join(dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    // thousands of these on a busy host: no formatting machinery
    let mut s = String::with_capacity(dir.len() + 1 + path.len());
    s.push_str(dir);
    if !dir.ends_with('/') {
        s.push('/');
    }
    s.push_str(path);
    s
}

/// Directory part of an in-root path.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// Last component of an in-root path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_resolve_inside_and_escape_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc/sysctl.d")).unwrap();
        fs::write(d.path().join("etc/sysctl.conf"), "x=1\n").unwrap();
        std::os::unix::fs::symlink(
            "../sysctl.conf",
            d.path().join("etc/sysctl.d/99-sysctl.conf"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "../../../../outside",
            d.path().join("etc/sysctl.d/evil.conf"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/dev/null", d.path().join("etc/sysctl.d/masked.conf")).unwrap();
        std::os::unix::fs::symlink("/etc/sysctl.conf", d.path().join("etc/abs.conf")).unwrap();
        let r = Root::new(d.path()).unwrap();
        assert_eq!(
            r.resolve("/etc/sysctl.d/99-sysctl.conf").unwrap(),
            Resolved::Path("/etc/sysctl.conf".into())
        );
        assert_eq!(
            r.resolve("/etc/abs.conf").unwrap(),
            Resolved::Path("/etc/sysctl.conf".into())
        );
        assert_eq!(
            r.resolve("/etc/sysctl.d/masked.conf").unwrap(),
            Resolved::DevNull
        );
        let err = r
            .resolve("/etc/sysctl.d/evil.conf")
            .unwrap_err()
            .to_string();
        assert!(err.contains("points outside the root"), "{err}");
    }

    /// Issue 5: once a directory is resolved (and listed), its entries take the fast path;
    /// links, masks, loops and escapes must come out as on the full walk.
    #[test]
    fn fast_path_follows_links_like_the_full_walk() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("etc/nginx/sites-enabled");
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(d.path().join("etc/nginx/sites-available")).unwrap();
        fs::write(d.path().join("etc/nginx/sites-available/a"), "x\n").unwrap();
        fs::write(dir.join("plain"), "y\n").unwrap();
        let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, dir.join(name));
        link("../sites-available/a", "rel").unwrap();
        link("/etc/nginx/sites-available/a", "abs").unwrap();
        link("/dev/null", "masked").unwrap();
        link("loop2", "loop1").unwrap();
        link("loop1", "loop2").unwrap();
        link("../../../../../../outside", "evil").unwrap();
        let r = Root::new(d.path()).unwrap();
        // warm the directory caches the way a glob does
        assert_eq!(r.list_dir("/etc/nginx/sites-enabled").unwrap().len(), 7);
        let p = |s: &str| Resolved::Path(s.into());
        let e = "/etc/nginx/sites-enabled";
        assert_eq!(
            r.resolve(&format!("{e}/plain")).unwrap(),
            p(&format!("{e}/plain"))
        );
        let a = "/etc/nginx/sites-available/a";
        assert_eq!(r.resolve(&format!("{e}/rel")).unwrap(), p(a));
        assert_eq!(r.resolve(&format!("{e}/abs")).unwrap(), p(a));
        assert_eq!(
            r.resolve(&format!("{e}/masked")).unwrap(),
            Resolved::DevNull
        );
        assert_eq!(
            r.read_opt(&format!("{e}/rel")).unwrap().as_deref(),
            Some("x\n")
        );
        let err = r.resolve(&format!("{e}/loop1")).unwrap_err().to_string();
        assert!(err.contains("too many levels"), "{err}");
        let err = r.resolve(&format!("{e}/evil")).unwrap_err().to_string();
        assert!(err.contains("points outside the root"), "{err}");
        assert!(r.is_dir("/etc/nginx/sites-available") && !r.is_dir(a) && r.exists(a));
        assert!(!r.exists(&format!("{e}/missing")));
    }

    /// The byte scan of `split_clean` against the obvious definition it replaced.
    #[test]
    fn split_clean_matches_its_definition() {
        fn reference(p: &str) -> Option<(&str, &str)> {
            let i = p.rfind('/')?;
            let (dir, last) = (&p[..i], &p[i + 1..]);
            let plain = |c: &str| !c.is_empty() && c != "." && c != "..";
            (i > 0 && p.starts_with('/') && plain(last) && dir[1..].split('/').all(plain))
                .then_some((dir, last))
        }
        let parts = ["", "/", "a", ".", "..", "é", "/.", "//", "b.c", "..d"];
        let mut n = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in parts {
                        let p = format!("{a}{b}{c}{d}");
                        assert_eq!(split_clean(&p), reference(&p), "{p:?}");
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 10_000);
        assert_eq!(
            split_clean("/etc/nginx/x.conf"),
            Some(("/etc/nginx", "x.conf"))
        );
    }

    /// A directory reached through many names is listed once (`LIST_AFTER`), and from then
    /// on its listing answers: links are still followed, files and missing names are not
    /// links. The answers must be those of a root that never lists.
    #[test]
    fn listed_directory_resolves_like_readlink() {
        let d = tempfile::tempdir().unwrap();
        let avail = d.path().join("etc/nginx/sites-available");
        let enabled = d.path().join("etc/nginx/sites-enabled");
        fs::create_dir_all(&avail).unwrap();
        fs::create_dir_all(&enabled).unwrap();
        fs::create_dir_all(d.path().join("srv")).unwrap();
        fs::write(d.path().join("srv/real"), "r\n").unwrap();
        let n = 3 * LIST_AFTER as usize;
        let mut names = Vec::new();
        for i in 0..n {
            let name = format!("s{i}");
            // files, links onward (absolute and relative), a mask, and a dangling link
            match i % 5 {
                0 => std::os::unix::fs::symlink("/srv/real", avail.join(&name)).unwrap(),
                1 => std::os::unix::fs::symlink("../../../srv/real", avail.join(&name)).unwrap(),
                2 => std::os::unix::fs::symlink("/dev/null", avail.join(&name)).unwrap(),
                3 => std::os::unix::fs::symlink("/srv/gone", avail.join(&name)).unwrap(),
                _ => fs::write(avail.join(&name), "f\n").unwrap(),
            }
            std::os::unix::fs::symlink(format!("../sites-available/{name}"), enabled.join(&name))
                .unwrap();
            names.push(name);
        }
        let listing = Root::new(d.path()).unwrap();
        assert_eq!(
            listing.list_dir("/etc/nginx/sites-enabled").unwrap().len(),
            n
        );
        let mut asked = Vec::new();
        for name in &names {
            for p in [
                format!("/etc/nginx/sites-enabled/{name}"),
                format!("/etc/nginx/sites-available/{name}-missing"),
            ] {
                asked.push((
                    p.clone(),
                    listing.resolve(&p).unwrap(),
                    listing.read_opt(&p).unwrap(),
                ));
            }
        }
        assert_eq!(
            lock(&listing.misses).get("/etc/nginx/sites-available"),
            Some(&LISTED),
            "the directory was listed"
        );
        for (p, resolved, text) in asked {
            // a fresh root for every name: nothing is listed
            let fresh = Root::new(d.path()).unwrap();
            assert_eq!(resolved, fresh.resolve(&p).unwrap(), "{p}");
            assert_eq!(text, fresh.read_opt(&p).unwrap(), "{p}");
        }
    }
}
