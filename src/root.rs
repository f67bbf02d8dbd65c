//! The host tree qfix works on (`--root DIR`). Every path qfix names is an absolute path
//! *inside* the root. Every open, for reading or for writing, goes through the root's
//! directory descriptor with openat2(RESOLVE_IN_ROOT): the kernel resolves each symlink,
//! absolute or relative, as after chroot, so no link (and no link swapped in while qfix
//! runs) reaches a file outside the root. Kernels without openat2 get the same guarantee
//! from a walk one component at a time with O_NOFOLLOW over a path whose links `resolve`
//! already followed.
//!
//! Reads are bounded and never block: files are opened O_NONBLOCK, anything but a regular
//! file (or a directory where one is expected) is refused with its path and kind, and no read
//! takes more than a fixed number of bytes.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::Error;

/// Symlink hops before we call it a loop (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;
/// Largest config file qfix reads (a busy host's biggest nginx file is a few megabytes).
pub const MAX_FILE_BYTES: usize = 32 << 20;
/// Largest /proc/sys value qfix reads (the kernel's own values fit in a page or two).
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Most entries qfix lists in one directory.
pub const MAX_ENTRIES: usize = 100_000;
/// Prefix of the temp files `write_atomic` creates (and a later apply cleans up).
pub const TEMP_PREFIX: &str = ".qfix-";

#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
    /// The root directory, opened once (O_PATH): every path is opened relative to it.
    fd: Arc<OwnedFd>,
}

/// What a path turned out to be once its links were followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An existing or not yet existing path inside the root (in-root form).
    Path(String),
    /// A link chain that ends at /dev/null: the systemd way to mask a file.
    DevNull,
}

/// A file type, as messages name it.
pub fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symlink",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

impl Root {
    pub fn new(dir: &Path) -> Result<Root, Error> {
        let base =
            fs::canonicalize(dir).map_err(|e| Error::io(format!("--root {}", dir.display()), e))?;
        let fd = rustix::fs::open(
            &base,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOTDIR => Error::msg(format!("--root {}: not a directory", dir.display())),
            e => Error::io(format!("--root {}", dir.display()), e.into()),
        })?;
        Ok(Root {
            base,
            fd: Arc::new(fd),
        })
    }

    /// The same root (kept for callers that used to want separate caches).
    pub fn fresh(&self) -> Root {
        self.clone()
    }

    pub fn is_host(&self) -> bool {
        self.base == Path::new("/")
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Host path of an in-root path, without following links: for messages and for the
    /// checkers' bind mounts only; qfix itself never opens it.
    pub fn host(&self, inroot: &str) -> PathBuf {
        let rel = inroot.trim_start_matches('/');
        if rel.is_empty() {
            self.base.clone()
        } else {
            self.base.join(rel)
        }
    }

    /// Open an in-root path with the kernel resolving every link inside the root.
    fn open_in(&self, inroot: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let rel = relative(inroot);
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        // openat2 refuses (EINVAL) any flag O_PATH does not take
        let flags = if flags.contains(OFlags::PATH) {
            flags | OFlags::CLOEXEC
        } else {
            flags | OFlags::CLOEXEC | OFlags::NOCTTY
        };
        for _ in 0..16 {
            match rustix::fs::openat2(&*self.fd, rel.as_str(), flags, mode, how) {
                // a rename elsewhere raced the lookup: the kernel asks to try again
                Err(Errno::AGAIN) => continue,
                Err(Errno::NOSYS) => return self.open_walk(&rel, flags, mode),
                r => return r.map_err(io::Error::from),
            }
        }
        Err(io::Error::from(Errno::AGAIN))
    }

    /// openat2's stand-in: one component at a time from the root, never following a link
    /// (a link here is one that appeared after `resolve` followed them all).
    fn open_walk(&self, rel: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let comps: Vec<&str> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let Some((last, dirs)) = comps.split_last() else {
            return rustix::fs::openat(&*self.fd, ".", flags, mode).map_err(io::Error::from);
        };
        let mut cur: Option<OwnedFd> = None;
        for c in dirs.iter().chain(std::iter::once(last)) {
            if *c == ".." {
                return Err(io::Error::from(Errno::XDEV));
            }
        }
        for d in dirs {
            let at = cur.as_ref().map_or(self.fd.as_fd(), |f| f.as_fd());
            let next = rustix::fs::openat(
                at,
                *d,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            cur = Some(next);
        }
        let at = cur.as_ref().map_or(self.fd.as_fd(), |f| f.as_fd());
        rustix::fs::openat(at, *last, flags | OFlags::NOFOLLOW, mode).map_err(io::Error::from)
    }

    /// The type of an in-root path without following a link in its last component, and a
    /// link's target; `None` when it does not exist.
    fn lstat(&self, inroot: &str) -> Result<Option<(FileType, Option<String>)>, Error> {
        let fd = match self.open_in(inroot, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(Error::io(inroot, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::io(inroot, e.into()))?;
        let t = FileType::from_raw_mode(st.st_mode);
        if t != FileType::Symlink {
            return Ok(Some((t, None)));
        }
        // an empty path reads the link an O_PATH|O_NOFOLLOW descriptor stands for
        let target =
            rustix::fs::readlinkat(&fd, "", Vec::new()).map_err(|e| Error::io(inroot, e.into()))?;
        Ok(Some((t, Some(target.to_string_lossy().into_owned()))))
    }

    /// The type of an in-root path, links followed; `None` when missing or masked.
    pub fn file_type(&self, inroot: &str) -> Option<FileType> {
        // openat2 follows the links inside the root by itself: the component walk of
        // `resolve` is needed only when that does not answer (an old kernel)
        match self.open_in(inroot, OFlags::PATH, Mode::empty()) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).ok()?;
                let t = FileType::from_raw_mode(st.st_mode);
                return (!is_dev_null(t, st.st_rdev)).then_some(t);
            }
            Err(e) if missing(&e) => return None,
            Err(_) => {}
        }
        let Ok(Resolved::Path(p)) = self.resolve(inroot) else {
            return None;
        };
        let fd = self.open_in(&p, OFlags::PATH, Mode::empty()).ok()?;
        let st = rustix::fs::fstat(&fd).ok()?;
        Some(FileType::from_raw_mode(st.st_mode))
    }

    /// Follow every symlink in `inroot` inside the root. Absolute link targets are taken
    /// relative to the root (as after chroot); a relative target that climbs above the root
    /// is refused. The last component may be missing (a file about to be created).
    pub fn resolve(&self, inroot: &str) -> Result<Resolved, Error> {
        let mut todo: Vec<String> = components(inroot);
        // the usual case, no link on the way: one openat2 that refuses every link answers
        // (the path is then itself, existing or not); a link, a `..`, an odd error or an old
        // kernel takes the walk below, which follows links one by one and names what it met
        if !todo.iter().any(|c| c == "..") && self.has_no_links(inroot) {
            return Ok(Resolved::Path(format!("/{}", todo.join("/"))));
        }
        let mut done: Vec<String> = Vec::new();
        todo.reverse();
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
            let Some((_, Some(target))) = self.lstat(&cur)? else {
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
            let mut t = components(&target);
            t.reverse();
            todo.extend(t);
        }
        Ok(Resolved::Path(format!("/{}", done.join("/"))))
    }

    /// Whether no component of an in-root path is a link (all of it there, or up to a
    /// missing component): one openat2 with RESOLVE_NO_SYMLINKS.
    fn has_no_links(&self, inroot: &str) -> bool {
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS;
        // not O_NOFOLLOW: with O_PATH it would hand back a trailing link instead of ELOOP
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        match rustix::fs::openat2(
            &*self.fd,
            relative(inroot).as_str(),
            flags,
            Mode::empty(),
            how,
        ) {
            Ok(_) | Err(Errno::NOENT) => true,
            Err(_) => false,
        }
    }

    /// Whether an in-root path (links followed) is a directory.
    pub fn is_dir(&self, inroot: &str) -> bool {
        self.file_type(inroot) == Some(FileType::Directory)
    }

    /// Whether an in-root path (links followed) exists.
    pub fn exists(&self, inroot: &str) -> bool {
        self.file_type(inroot).is_some()
    }

    /// Host path after following links; /dev/null masks become `None`.
    pub fn resolve_host(&self, inroot: &str) -> Result<Option<PathBuf>, Error> {
        Ok(match self.resolve(inroot)? {
            Resolved::Path(p) => Some(self.host(&p)),
            Resolved::DevNull => None,
        })
    }

    /// Open a regular file for reading (write: for writing, as /proc/sys values are: not
    /// created, not truncated, one write).
    /// `Ok(None)` when it does not exist. Anything but a regular file is refused, naming its
    /// kind; so is a /dev/null mask.
    pub fn open_file(&self, inroot: &str, write: bool) -> Result<Option<fs::File>, Error> {
        let p = match self.resolve(inroot)? {
            Resolved::Path(p) => p,
            Resolved::DevNull => {
                return Err(Error::msg(format!(
                    "{inroot}: links to /dev/null, not a regular file"
                )));
            }
        };
        match self.open_resolved(&p, write) {
            Ok(f) => Ok(Some(f)),
            Err(e) if missing(&e) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Other => {
                Err(Error::msg(format!("{}: {e}", shown(inroot, &p))))
            }
            Err(e) => Err(Error::io(shown(inroot, &p), e)),
        }
    }

    /// Open a kernel value (a /proc/sys file): one openat2 that refuses every symlink (a
    /// kernel's /proc/sys has none), non-blocking. `Ok(None)` when it does not exist or is a
    /// directory; anything else but a regular file is an error naming its kind.
    pub fn open_value(&self, inroot: &str) -> Result<Option<fs::File>, Error> {
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS;
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = match rustix::fs::openat2(
            &*self.fd,
            relative(inroot).as_str(),
            flags,
            Mode::empty(),
            how,
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR | Errno::ISDIR | Errno::ACCESS | Errno::PERM) => {
                return Ok(None);
            }
            Err(Errno::LOOP) => {
                return Err(Error::msg(format!(
                    "{inroot}: a symlink, not a kernel value"
                )));
            }
            Err(Errno::NOSYS) => return self.open_file(inroot, false),
            Err(e) => return Err(Error::io(inroot, e.into())),
        };
        let t = FileType::from_raw_mode(
            rustix::fs::fstat(&fd)
                .map_err(|e| Error::io(inroot, e.into()))?
                .st_mode,
        );
        match t {
            FileType::RegularFile => Ok(Some(fs::File::from(fd))),
            FileType::Directory => Ok(None),
            t => Err(Error::msg(format!(
                "{inroot}: is {}, not a regular file",
                kind_name(t)
            ))),
        }
    }

    /// Open a path `resolve` returned, as `open_file` does, with the raw error: a file that
    /// is not regular is an `ErrorKind::Other` error saying what it is.
    pub fn open_resolved(&self, p: &str, write: bool) -> io::Result<fs::File> {
        // O_NONBLOCK: opening a FIFO must not wait for a writer or a reader
        let flags = if write {
            OFlags::WRONLY | OFlags::NONBLOCK
        } else {
            OFlags::RDONLY | OFlags::NONBLOCK
        };
        let not_regular = |t| io::Error::other(format!("is {}, not a regular file", kind_name(t)));
        let fd = match self.open_in(p, flags, Mode::empty()) {
            Ok(fd) => fd,
            // a FIFO opened for writing with no reader
            Err(e) if e.raw_os_error() == Some(Errno::NXIO.raw_os_error()) => {
                return Err(not_regular(FileType::Fifo));
            }
            Err(e) if e.raw_os_error() == Some(Errno::ISDIR.raw_os_error()) => {
                return Err(not_regular(FileType::Directory));
            }
            Err(e) => return Err(e),
        };
        let t = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
        if t != FileType::RegularFile {
            return Err(not_regular(t));
        }
        Ok(fs::File::from(fd))
    }

    /// Read a regular file's bytes, at most `limit`; `Ok(None)` when it does not exist, an
    /// empty file for a /dev/null mask.
    pub fn read_bytes_opt(&self, inroot: &str, limit: usize) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.read_bytes_mode(inroot, limit)?.map(|(b, _)| b))
    }

    /// `read_bytes_opt`, with the file's permission bits (0 for a mask).
    pub fn read_bytes_mode(
        &self,
        inroot: &str,
        limit: usize,
    ) -> Result<Option<(Vec<u8>, u32)>, Error> {
        // the usual case, a regular file, in one openat2 that follows links inside the root;
        // anything else (missing, a mask, a FIFO, an old kernel) takes the walk below, which
        // names what it found
        if let Ok(fd) = self.open_in(inroot, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()) {
            if let Ok(st) = rustix::fs::fstat(&fd)
                && FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
            {
                let bytes = read_limited(fs::File::from(fd), limit, inroot)?;
                return Ok(Some((bytes, st.st_mode & 0o7777)));
            }
        }
        if self.resolve(inroot)? == Resolved::DevNull {
            return Ok(Some((Vec::new(), 0)));
        }
        let Some(f) = self.open_file(inroot, false)? else {
            return Ok(None);
        };
        let mode = {
            use std::os::unix::fs::MetadataExt;
            f.metadata().map_or(0, |m| m.mode() & 0o7777)
        };
        read_limited(f, limit, inroot).map(|b| Some((b, mode)))
    }

    /// The permission bits of an in-root path (links followed); `None` when missing.
    pub fn mode(&self, inroot: &str) -> Option<u32> {
        let fd = self.open_in(inroot, OFlags::PATH, Mode::empty()).ok()?;
        rustix::fs::fstat(&fd).ok().map(|st| st.st_mode & 0o7777)
    }

    /// Read a whole text file (in-root path). `Ok(None)` when it does not exist.
    pub fn read_opt(&self, inroot: &str) -> Result<Option<Arc<str>>, Error> {
        Ok(self.read_opt_mode(inroot)?.map(|(t, _)| t))
    }

    /// `read_opt`, with the file's permission bits.
    pub fn read_opt_mode(&self, inroot: &str) -> Result<Option<(Arc<str>, u32)>, Error> {
        let Some((bytes, mode)) = self.read_bytes_mode(inroot, MAX_FILE_BYTES)? else {
            return Ok(None);
        };
        text(bytes, inroot).map(|t| Some((Arc::from(t), mode)))
    }

    /// Entries of an in-root directory (names only, sorted). Missing directory: empty;
    /// anything but a directory is refused, naming its kind.
    pub fn list_dir(&self, inroot: &str) -> Result<Vec<String>, Error> {
        let Resolved::Path(dir) = self.resolve(inroot)? else {
            return Ok(Vec::new());
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK;
        let fd = match self.open_in(&dir, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
                return Err(match self.file_type(&dir) {
                    Some(t) => Error::msg(format!(
                        "{}: is {}, not a directory",
                        shown(inroot, &dir),
                        kind_name(t)
                    )),
                    None => Error::io(inroot, e),
                });
            }
            Err(e) => return Err(Error::io(inroot, e)),
        };
        let mut names = Vec::new();
        let entries = rustix::fs::Dir::new(fd).map_err(|e| Error::io(inroot, e.into()))?;
        for ent in entries {
            let ent = ent.map_err(|e| Error::io(inroot, e.into()))?;
            let name = ent.file_name().to_string_lossy();
            if name == "." || name == ".." {
                continue;
            }
            if names.len() == MAX_ENTRIES {
                return Err(Error::msg(format!(
                    "{inroot}: more than {MAX_ENTRIES} entries; qfix lists at most that many"
                )));
            }
            names.push(name.into_owned());
        }
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
                if !self.is_dir(dir) {
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

    // ---- the write side: every write qfix makes under the root goes through these ----

    /// A directory's resolved in-root path (links followed inside the root).
    fn resolved_dir(&self, inroot: &str) -> Result<String, Error> {
        match self.resolve(inroot)? {
            Resolved::Path(p) => Ok(p),
            Resolved::DevNull => Err(Error::msg(format!(
                "{inroot}: links to /dev/null, not a directory"
            ))),
        }
    }

    /// Open an in-root directory (for *at calls and fsync), creating it and its parents
    /// when `create`. `Ok(None)`: missing and not created.
    pub fn open_dir(&self, inroot: &str, create: bool) -> Result<Option<OwnedFd>, Error> {
        let p = self.resolved_dir(inroot)?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK;
        match self.open_in(&p, flags, Mode::empty()) {
            Ok(fd) => return Ok(Some(fd)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(shown(inroot, &p), e)),
        }
        // create what is missing one component at a time, each relative to its parent's
        // descriptor and never through a link
        let mut cur = self
            .open_in("/", flags, Mode::empty())
            .map_err(|e| Error::io("/", e))?;
        let mut at = String::new();
        for c in components(&p) {
            at.push('/');
            at.push_str(&c);
            match rustix::fs::mkdirat(&cur, c.as_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(Error::io(&at, e.into())),
            }
            cur = rustix::fs::openat(&cur, c.as_str(), flags | OFlags::NOFOLLOW, Mode::empty())
                .map_err(|e| Error::io(&at, e.into()))?;
        }
        Ok(Some(cur))
    }

    /// Create a new directory (not its parents), failing when it exists: claims a name.
    pub fn create_dir(&self, inroot: &str) -> Result<bool, Error> {
        let (dir, name) = self.split_resolved(inroot)?;
        let dfd = self
            .open_dir(&dir, true)?
            .ok_or_else(|| Error::msg(format!("{dir}: missing")))?;
        match rustix::fs::mkdirat(&dfd, name.as_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) => {
                let _ = rustix::fs::fsync(&dfd);
                Ok(true)
            }
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(Error::io(inroot, e.into())),
        }
    }

    /// Resolved parent directory and last name of a path to be written.
    fn split_resolved(&self, inroot: &str) -> Result<(String, String), Error> {
        let p = match self.resolve(inroot)? {
            Resolved::Path(p) => p,
            Resolved::DevNull => {
                return Err(Error::msg(format!(
                    "{inroot}: links to /dev/null (masked); not writing through it"
                )));
            }
        };
        let name = file_name(&p);
        if name.is_empty() || p == "/" {
            return Err(Error::msg(format!("{inroot}: not a file name")));
        }
        Ok((parent(&p).to_string(), name.to_string()))
    }

    /// Replace a file so that readers see the old or the new content, never a mix: temp file
    /// (`TEMP_PREFIX`) in the same directory, same mode and owner, fsync, rename, fsync the
    /// directory. The target must be a regular file or missing; links in its path are
    /// followed inside the root.
    pub fn write_atomic(&self, inroot: &str, bytes: &[u8]) -> Result<(), Error> {
        let (dir, name) = self.split_resolved(inroot)?;
        let dfd = self
            .open_dir(&dir, true)?
            .ok_or_else(|| Error::msg(format!("{dir}: missing")))?;
        let old = match rustix::fs::statat(&dfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let t = FileType::from_raw_mode(st.st_mode);
                if t != FileType::RegularFile {
                    return Err(Error::msg(format!(
                        "{inroot}: is {}, not a regular file; not replacing it",
                        kind_name(t)
                    )));
                }
                Some(st)
            }
            Err(Errno::NOENT) => None,
            Err(e) => return Err(Error::io(inroot, e.into())),
        };
        let tmp = temp_name(&name);
        let mode = old.as_ref().map_or(0o644, |st| st.st_mode & 0o7777);
        let fd = rustix::fs::openat(
            &dfd,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::io(inroot, e.into()))?;
        let written = (|| -> io::Result<()> {
            let mut f = fs::File::from(fd);
            f.write_all(bytes)?;
            rustix::fs::fchmod(&f, Mode::from_raw_mode(mode))?;
            if let Some(st) = &old {
                // best effort: an unprivileged run keeps its own owner
                let _ = rustix::fs::fchown(
                    &f,
                    Some(rustix::fs::Uid::from_raw(st.st_uid)),
                    Some(rustix::fs::Gid::from_raw(st.st_gid)),
                );
            }
            f.sync_all()?;
            rustix::fs::renameat(&dfd, tmp.as_str(), &dfd, name.as_str())?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&dfd, tmp.as_str(), AtFlags::empty());
            return Err(Error::io(inroot, e));
        }
        rustix::fs::fsync(&dfd).map_err(|e| Error::io(&dir, e.into()))?;
        Ok(())
    }

    /// Remove a file (not a directory); a missing file is not an error.
    pub fn remove_file(&self, inroot: &str) -> Result<(), Error> {
        let (dir, name) = self.split_resolved(inroot)?;
        let Some(dfd) = self.open_dir(&dir, false)? else {
            return Ok(());
        };
        match rustix::fs::unlinkat(&dfd, name.as_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io(inroot, e.into())),
        }
        rustix::fs::fsync(&dfd).map_err(|e| Error::io(&dir, e.into()))
    }

    /// Remove a directory and everything in it, never following a link (links are removed
    /// as links). For qfix's own backup directories.
    pub fn remove_tree(&self, inroot: &str) -> Result<(), Error> {
        let (dir, name) = self.split_resolved(inroot)?;
        let Some(dfd) = self.open_dir(&dir, false)? else {
            return Ok(());
        };
        remove_tree_at(&dfd, &name, inroot, 0)?;
        rustix::fs::fsync(&dfd).map_err(|e| Error::io(&dir, e.into()))
    }
}

fn remove_tree_at(dfd: &OwnedFd, name: &str, shown: &str, depth: usize) -> Result<(), Error> {
    let st = match rustix::fs::statat(dfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(Error::io(shown, e.into())),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if depth > 64 {
            return Err(Error::msg(format!("{shown}: nested too deep to remove")));
        }
        let sub = rustix::fs::openat(
            dfd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(shown, e.into()))?;
        let mut names = Vec::new();
        for ent in rustix::fs::Dir::read_from(&sub).map_err(|e| Error::io(shown, e.into()))? {
            let ent = ent.map_err(|e| Error::io(shown, e.into()))?;
            let n = ent.file_name().to_string_lossy().into_owned();
            if n != "." && n != ".." {
                names.push(n);
            }
        }
        for n in names {
            remove_tree_at(&sub, &n, &format!("{shown}/{n}"), depth + 1)?;
        }
        rustix::fs::unlinkat(dfd, name, AtFlags::REMOVEDIR)
            .map_err(|e| Error::io(shown, e.into()))?;
    } else {
        rustix::fs::unlinkat(dfd, name, AtFlags::empty())
            .map_err(|e| Error::io(shown, e.into()))?;
    }
    Ok(())
}

/// A temp file's name beside `name`: the prefix marks it as qfix's for a later cleanup.
fn temp_name(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{TEMP_PREFIX}{name}.{}.{nanos}.tmp", std::process::id())
}

/// Whether a file is /dev/null (character device 1:3): systemd's mask.
fn is_dev_null(t: FileType, rdev: u64) -> bool {
    t == FileType::CharacterDevice && rustix::fs::major(rdev) == 1 && rustix::fs::minor(rdev) == 3
}

/// Whether an open's error means "no such file" (a missing directory on the way too).
fn missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error())
}

/// `inroot`, with the path it resolved to when that differs.
fn shown(inroot: &str, resolved: &str) -> String {
    if inroot == resolved {
        inroot.to_string()
    } else {
        format!("{inroot} ({resolved})")
    }
}

/// An in-root path as openat2 takes it relative to the root's descriptor.
fn relative(inroot: &str) -> String {
    let rel = inroot.trim_start_matches('/');
    if rel.is_empty() {
        ".".to_string()
    } else {
        rel.to_string()
    }
}

/// Read at most `limit` bytes of an open file; more is an error naming `shown`.
pub fn read_limited(f: fs::File, limit: usize, shown: &str) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(shown, e))?;
    if buf.len() > limit {
        return Err(Error::msg(format!(
            "{shown}: larger than {limit} bytes; qfix reads at most that"
        )));
    }
    Ok(buf)
}

/// Bytes as text, or an error naming the line of the first invalid byte.
pub fn text(bytes: Vec<u8>, shown: &str) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + newlines(&e.as_bytes()[..valid]);
        Error::msg(format!("{shown}:{line}: not valid UTF-8"))
    })
}

/// Read a file named on the command line (a policy, a plan, a rules file): a host path,
/// links followed as given, but bounded, non-blocking, and only a regular file.
pub fn read_path(path: &Path, limit: usize) -> Result<String, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display().to_string();
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(path)
        .map_err(|e| Error::io(&shown, e))?;
    let st = rustix::fs::fstat(&f).map_err(|e| Error::io(&shown, e.into()))?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(Error::msg(format!(
            "{shown}: is {}, not a regular file",
            kind_name(t)
        )));
    }
    text(read_limited(f, limit, &shown)?, &shown)
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Newlines in a byte slice.
pub fn newlines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
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
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_links_resolve_inside_and_escape_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc/sysctl.d")).unwrap();
        fs::write(d.path().join("etc/sysctl.conf"), "x=1\n").unwrap();
        symlink(
            "../sysctl.conf",
            d.path().join("etc/sysctl.d/99-sysctl.conf"),
        )
        .unwrap();
        symlink(
            "../../../../outside",
            d.path().join("etc/sysctl.d/evil.conf"),
        )
        .unwrap();
        symlink("/dev/null", d.path().join("etc/sysctl.d/masked.conf")).unwrap();
        symlink("/etc/sysctl.conf", d.path().join("etc/abs.conf")).unwrap();
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

    /// Links in sites-enabled (relative, absolute, masks, loops, escapes) resolve as after
    /// chroot, and reads follow them inside the root.
    #[test]
    fn links_in_a_directory_resolve_as_after_chroot() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("etc/nginx/sites-enabled");
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(d.path().join("etc/nginx/sites-available")).unwrap();
        fs::write(d.path().join("etc/nginx/sites-available/a"), "x\n").unwrap();
        fs::write(dir.join("plain"), "y\n").unwrap();
        let link = |target: &str, name: &str| symlink(target, dir.join(name));
        link("../sites-available/a", "rel").unwrap();
        link("/etc/nginx/sites-available/a", "abs").unwrap();
        link("/dev/null", "masked").unwrap();
        link("loop2", "loop1").unwrap();
        link("loop1", "loop2").unwrap();
        link("../../../../../../outside", "evil").unwrap();
        let r = Root::new(d.path()).unwrap();
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
        assert_eq!(
            r.read_opt(&format!("{e}/abs")).unwrap().as_deref(),
            Some("x\n")
        );
        let err = r.resolve(&format!("{e}/loop1")).unwrap_err().to_string();
        assert!(err.contains("too many levels"), "{err}");
        let err = r.resolve(&format!("{e}/evil")).unwrap_err().to_string();
        assert!(err.contains("points outside the root"), "{err}");
        assert!(r.is_dir("/etc/nginx/sites-available") && !r.is_dir(a) && r.exists(a));
        assert!(!r.exists(&format!("{e}/missing")));
    }

    /// An absolute link to a file beside the root is read and written as the root's own
    /// file of that name, never the host's.
    #[test]
    fn absolute_links_never_reach_outside_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        let victim = outer.path().join("victim");
        fs::write(&victim, "host file\n").unwrap();
        symlink(&victim, root.join("etc/abs.conf")).unwrap();
        symlink(outer.path(), root.join("etc/dir-link")).unwrap();
        let r = Root::new(&root).unwrap();
        // the link's target, taken inside the root, does not exist
        assert_eq!(r.read_opt("/etc/abs.conf").unwrap(), None);
        r.write_atomic("/etc/abs.conf", b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "host file\n");
        let inside = root.join(victim.strip_prefix("/").unwrap());
        assert_eq!(fs::read_to_string(inside).unwrap(), "new\n");
        // the same for a link to a directory beside the root
        r.write_atomic("/etc/dir-link/x", b"y").unwrap();
        assert!(!outer.path().join("x").exists());
        let inside = root.join(outer.path().strip_prefix("/").unwrap()).join("x");
        assert_eq!(fs::read_to_string(inside).unwrap(), "y");
    }

    #[test]
    fn fifos_devices_and_directories_are_refused_by_kind() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc/dir.conf")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.path().join("etc/fifo.conf"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let r = Root::new(d.path()).unwrap();
        let e = r.read_opt("/etc/fifo.conf").unwrap_err().to_string();
        assert_eq!(e, "/etc/fifo.conf: is a FIFO, not a regular file");
        let e = r.read_opt("/etc/dir.conf").unwrap_err().to_string();
        assert_eq!(e, "/etc/dir.conf: is a directory, not a regular file");
        let e = r.list_dir("/etc/fifo.conf").unwrap_err().to_string();
        assert_eq!(e, "/etc/fifo.conf: is a FIFO, not a directory");
        let e = r.open_file("/etc/fifo.conf", true).unwrap_err().to_string();
        assert!(e.contains("is a FIFO"), "{e}");
        let e = r
            .write_atomic("/etc/fifo.conf", b"x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a FIFO"), "{e}");
    }

    #[test]
    fn reads_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("big"), vec![b'x'; 1000]).unwrap();
        let r = Root::new(d.path()).unwrap();
        assert_eq!(r.read_bytes_opt("/big", 1000).unwrap().unwrap().len(), 1000);
        let e = r.read_bytes_opt("/big", 999).unwrap_err().to_string();
        assert!(e.contains("/big: larger than 999 bytes"), "{e}");
    }

    /// The fallback walk (kernels without openat2) opens the same files and refuses links.
    #[test]
    fn the_walk_without_openat2_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/b/c"), "c").unwrap();
        symlink("/etc", d.path().join("a/link")).unwrap();
        let r = Root::new(d.path()).unwrap();
        let f = r.open_walk("a/b/c", OFlags::RDONLY, Mode::empty()).unwrap();
        assert!(rustix::fs::fstat(&f).is_ok());
        assert!(
            r.open_walk("a/link/passwd", OFlags::RDONLY, Mode::empty())
                .is_err()
        );
        assert!(
            r.open_walk("a/../../x", OFlags::RDONLY, Mode::empty())
                .is_err()
        );
    }
}
