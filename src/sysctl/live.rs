//! Live sysctls under `<root>/proc/sys`: read, list, write with read-back.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::{key_to_path, path_to_key, same_value};
use crate::error::{Error, Result};
use crate::root::Root;

/// A /proc/sys value is at most a page or two (a CPU list, a port range): more is not a value.
const MAX_VALUE: u64 = 64 << 10;

pub struct Live {
    dir: PathBuf,
}

impl Live {
    pub fn open(root: &Root) -> Option<Live> {
        let dir = root.host("/proc/sys");
        dir.is_dir().then_some(Live { dir })
    }

    /// The value of a canonical key as `sysctl` prints it (without the trailing newline);
    /// `None` when the key does not exist, is a directory or cannot be read (write-only).
    pub fn read(&self, key: &str) -> Result<Option<String>> {
        let rel = key_to_path(key);
        let shown = || format!("/proc/sys/{rel}");
        let mut f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(self.dir.join(&rel))
        {
            Ok(f) => f,
            Err(e) if no_value(&e) => return Ok(None),
            Err(e) => return Err(Error::io(shown(), e)),
        };
        let meta = f.metadata().map_err(|e| Error::io(shown(), e))?;
        if meta.is_dir() {
            return Ok(None);
        }
        // a link to /dev/zero or a FIFO in a --root tree: the read is bounded and does not
        // block (O_NONBLOCK), so neither runs forever
        let mut buf = Vec::new();
        match (&mut f).take(MAX_VALUE + 1).read_to_end(&mut buf) {
            Ok(_) => {}
            Err(e) if no_value(&e) => return Ok(None),
            Err(e) => return Err(Error::io(shown(), e)),
        }
        if buf.len() as u64 > MAX_VALUE {
            return Err(Error::msg(format!(
                "{}: longer than {MAX_VALUE} bytes; not a sysctl value",
                shown()
            )));
        }
        Ok(Some(
            String::from_utf8_lossy(&buf)
                .trim_end_matches('\n')
                .to_string(),
        ))
    }

    pub fn exists(&self, key: &str) -> bool {
        fs::metadata(self.dir.join(key_to_path(key))).is_ok_and(|m| m.is_file())
    }

    /// Keys matching a sysctl glob, expanded over the directory tree like glob(3): `*` does
    /// not cross `/`, directories are not keys.
    pub fn expand(&self, pattern: &str) -> Vec<String> {
        // (path below /proc/sys, is a directory)
        let mut found: Vec<(String, bool)> = vec![(String::new(), true)];
        for comp in key_to_path(pattern).split('/').filter(|c| !c.is_empty()) {
            let pat = super::is_glob(comp)
                .then(|| glob::Pattern::new(comp).ok())
                .flatten();
            let mut next = Vec::new();
            for (dir, _) in found.iter().filter(|(_, is_dir)| *is_dir) {
                let join = |n: &str| {
                    if dir.is_empty() {
                        n.to_string()
                    } else {
                        format!("{dir}/{n}")
                    }
                };
                match &pat {
                    None => {
                        let p = join(comp);
                        if let Ok(m) = fs::metadata(self.dir.join(&p)) {
                            next.push((p, m.is_dir()));
                        }
                    }
                    Some(pat) => {
                        let Ok(entries) = fs::read_dir(self.dir.join(dir)) else {
                            continue;
                        };
                        for e in entries.flatten() {
                            let name = e.file_name().to_string_lossy().into_owned();
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

    /// Every key under /proc/sys with its value (`sysctl -a`); keys that cannot be read
    /// (write-only, permission) are listed with `None`.
    pub fn all(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = fs::read_dir(self.dir.join(&dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let rel = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                match e.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(rel),
                    Ok(_) => {
                        let key = path_to_key(&rel);
                        let value = self.read(&key).ok().flatten();
                        out.push((key, value));
                    }
                    Err(_) => {}
                }
            }
        }
        out.sort();
        out
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

/// A read error that means "no value here": missing, a directory, write-only.
fn no_value(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) || e.raw_os_error() == Some(nix::libc::EISDIR)
        || e.raw_os_error() == Some(nix::libc::EINVAL)
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
    fn glob_literal_parts_are_checked_in_each_match() {
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
}
