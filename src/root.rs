//! The host tree qfix works on (`--root DIR`). Every path qfix names is an absolute path
//! *inside* the root; this module maps it to the host and back, following symlinks the way
//! a chroot would, and refuses links that climb out of the root.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// Symlink hops before we call it a loop (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;

#[derive(Debug)]
pub struct Root {
    base: PathBuf,
    /// Resolved directories: a busy host reads thousands of files from a few directories,
    /// and each resolution would otherwise lstat every component again.
    dirs: std::sync::Mutex<rustc_hash::FxHashMap<String, String>>,
    /// Resolved paths: callers often resolve a path, then read it (which resolves again).
    paths: std::sync::Mutex<rustc_hash::FxHashMap<String, Resolved>>,
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
        })
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
        if let Some(r) = self
            .paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(inroot)
        {
            return Ok(r.clone());
        }
        let r = self.resolve_uncached(inroot)?;
        self.paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(inroot.to_string(), r.clone());
        Ok(r)
    }

    fn resolve_uncached(&self, inroot: &str) -> Result<Resolved, Error> {
        let comps = components(inroot);
        // resolve the directory once (cached), then only the last component
        if comps.len() > 1 && !comps.iter().any(|c| c == "..") {
            let dir = format!("/{}", comps[..comps.len() - 1].join("/"));
            let cached = self
                .dirs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&dir)
                .cloned();
            let resolved = match cached {
                Some(r) => r,
                None => match self.walk(Vec::new(), comps[..comps.len() - 1].to_vec(), &dir)? {
                    Resolved::Path(r) => {
                        self.dirs
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(dir, r.clone());
                        r
                    }
                    Resolved::DevNull => {
                        return Err(Error::msg(format!("{dir}: links to /dev/null")));
                    }
                },
            };
            let last = comps[comps.len() - 1].clone();
            let cur = if resolved == "/" {
                format!("/{last}")
            } else {
                format!("{resolved}/{last}")
            };
            // the usual case: a plain file or a missing one, no link to follow
            match fs::symlink_metadata(self.host(&cur)) {
                Ok(m) if !m.file_type().is_symlink() => return Ok(Resolved::Path(cur)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Resolved::Path(cur)),
                _ => {}
            }
            return self.walk(components(&resolved), vec![last], inroot);
        }
        self.walk(Vec::new(), comps, inroot)
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
            let meta = match fs::symlink_metadata(self.host(&cur)) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(cur, e)),
            };
            if !meta.file_type().is_symlink() {
                continue;
            }
            hops += 1;
            if hops > MAX_LINKS {
                return Err(Error::msg(format!(
                    "{inroot}: too many levels of symbolic links"
                )));
            }
            let target = fs::read_link(self.host(&cur)).map_err(|e| Error::io(cur.clone(), e))?;
            let target = target.to_string_lossy().into_owned();
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

    /// Host path after following links; /dev/null masks become `None`.
    pub fn resolve_host(&self, inroot: &str) -> Result<Option<PathBuf>, Error> {
        Ok(match self.resolve(inroot)? {
            Resolved::Path(p) => Some(self.host(&p)),
            Resolved::DevNull => None,
        })
    }

    /// Read a whole text file (in-root path). `Ok(None)` when it does not exist.
    pub fn read_opt(&self, inroot: &str) -> Result<Option<String>, Error> {
        let Some(host) = self.resolve_host(inroot)? else {
            return Ok(Some(String::new()));
        };
        match read_all(&host) {
            Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
                let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                Error::msg(format!("{inroot}:{line}: not valid UTF-8"))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(inroot.to_string(), e)),
        }
    }

    /// Entries of an in-root directory (names only, sorted). Missing directory: empty.
    pub fn list_dir(&self, inroot: &str) -> Result<Vec<String>, Error> {
        let Some(host) = self.resolve_host(inroot)? else {
            return Ok(Vec::new());
        };
        let rd = match fs::read_dir(&host) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTDIR) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(inroot.to_string(), e)),
        };
        let mut names = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| Error::io(inroot.to_string(), e))?;
            names.push(ent.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Expand a shell glob of in-root paths (as nginx, php-fpm and Apache includes do).
    /// Matches are sorted, as glob(3) sorts them.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>, Error> {
        if !has_wildcard(pattern) {
            return Ok(match self.resolve_host(pattern)? {
                Some(h) if h.exists() => vec![pattern.to_string()],
                _ => Vec::new(),
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
                    if last || self.resolve_host(&p)?.is_some_and(|h| h.is_dir()) {
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
            found.retain(|p| matches!(self.resolve_host(p), Ok(Some(h)) if h.exists()));
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

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Read a whole file with plain read(2) calls: `fs::read` also asks statx for the size
/// (and `read_to_end` an lseek), which doubles the syscalls of a run that reads thousands of
/// small files.
pub fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    read_plain(&mut fs::File::open(path)?, 8192)
}

/// Read an open file to its end with read(2) alone, starting with `size` bytes of buffer.
pub fn read_plain(f: &mut fs::File, size: usize) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; size.max(16)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
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
        path.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{path}")
    } else {
        format!("{dir}/{path}")
    }
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
}
