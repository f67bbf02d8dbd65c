//! Live sysctls under `<root>/proc/sys`: read, list, write with read-back.

use std::io::{self, Write};

use super::{check_key, key_to_path, path_to_key, same_value};
use crate::error::{Error, Result};
use crate::root::{MAX_VALUE_BYTES, Resolved, Root};

/// /proc/sys under the root. Every value is opened through `Root` (inside the root, links
/// refused, O_NONBLOCK, regular files only) and read with a bound, so a value that is a
/// FIFO or a link to /dev/zero is an error naming its path, never a hang.
pub struct Live {
    root: Root,
}

impl Live {
    pub fn open(root: &Root) -> Option<Live> {
        root.is_dir("/proc/sys")
            .then(|| Live { root: root.clone() })
    }

    /// The in-root path of a key's value: `/proc/sys/net/core/somaxconn`.
    fn path(key: &str) -> String {
        format!("/proc/sys/{}", key_to_path(key))
    }

    /// The key's own file, refusing a link (a kernel's /proc/sys has none): its target is
    /// not the key's value.
    fn own(&self, path: &str) -> Result<()> {
        match self.root.resolve(path)? {
            Resolved::Path(p) if p == path => Ok(()),
            Resolved::Path(p) => Err(Error::msg(format!(
                "{path}: a symlink (to {p}), not a kernel value"
            ))),
            Resolved::DevNull => Err(Error::msg(format!(
                "{path}: a symlink to /dev/null, not a kernel value"
            ))),
        }
    }

    /// The value's text, as `sysctl` prints it (without the trailing newline); `None` when
    /// the key does not exist, is a directory, or cannot be read (a write-only key).
    pub fn read(&self, key: &str) -> Result<Option<String>> {
        if check_key(key).is_err() {
            // not a name the kernel could have: no such key
            return Ok(None);
        }
        let path = Self::path(key);
        let f = match self.root.open_value(&path) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                // a link: say where it leads
                self.own(&path)?;
                return Err(e);
            }
        };
        let bytes = crate::root::read_limited(f, MAX_VALUE_BYTES, &path)?;
        Ok(Some(
            String::from_utf8_lossy(&bytes)
                .trim_end_matches('\n')
                .to_string(),
        ))
    }

    /// Every key under /proc/sys with its value (`sysctl -a`); a key that cannot be read
    /// (write-only, permission, an odd file) is listed with `None`.
    pub fn all(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let mut dirs = vec!["/proc/sys".to_string()];
        while let Some(dir) = dirs.pop() {
            let Ok(names) = self.root.list_dir(&dir) else {
                continue;
            };
            for name in names {
                let path = format!("{dir}/{name}");
                if self.root.is_dir(&path) {
                    dirs.push(path);
                } else if let Some(rel) = path.strip_prefix("/proc/sys/") {
                    let key = path_to_key(rel);
                    let value = self.read(&key).ok().flatten();
                    out.push((key, value));
                }
            }
        }
        out.sort();
        out
    }

    /// Whether the running kernel has this key (a value file, not a directory).
    pub fn exists(&self, key: &str) -> bool {
        check_key(key).is_ok()
            && self.root.file_type(&Self::path(key)) == Some(rustix::fs::FileType::RegularFile)
    }

    /// Keys matching a sysctl glob, expanded over the directory tree like glob(3).
    pub fn expand(&self, pattern: &str) -> Vec<String> {
        let pat = Self::path(pattern);
        let Ok(found) = self.root.glob(&pat) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = found
            .into_iter()
            .filter(|p| self.root.file_type(p) == Some(rustix::fs::FileType::RegularFile))
            .filter_map(|p| p.strip_prefix("/proc/sys/").map(path_to_key))
            .collect();
        keys.sort();
        keys
    }

    /// Write a value the way sysctl(8) does, then read it back. A kernel that refuses
    /// (EINVAL, EROFS, EPERM) or silently clamps is an error naming both values.
    pub fn write(&self, key: &str, value: &str) -> Result<()> {
        check_key(key).map_err(|e| Error::msg(format!("{key}: {e}; not written")))?;
        let shown = Self::path(key);
        self.own(&shown)?;
        match self.root.file_type(&shown) {
            None => {
                return Err(Error::msg(format!(
                    "{key}: {shown} does not exist: the running kernel has no such key; not written"
                )));
            }
            Some(rustix::fs::FileType::RegularFile) => {}
            Some(t) => {
                return Err(Error::msg(format!(
                    "{key}: {shown}: is {}, not a regular file; not written",
                    crate::root::kind_name(t)
                )));
            }
        }
        if !self.on_procfs(&shown) {
            // a tree's /proc/sys is plain files: replaced atomically, old or new after a crash
            if let Err(e) = self
                .root
                .write_atomic(&shown, format!("{value}\n").as_bytes())
            {
                let e = e.to_string();
                let reason = e.strip_prefix(&format!("{shown}: ")).unwrap_or(&e);
                return Err(Error::msg(format!(
                    "{key}: writing {value} to {shown} failed: {reason}"
                )));
            }
            return self.read_back(key, value, &shown);
        }
        let f = match self.root.open_resolved(&shown, true) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::msg(format!(
                    "{key}: {shown} does not exist: the running kernel has no such key; not written"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::Other => {
                return Err(Error::msg(format!("{key}: {shown}: {e}; not written")));
            }
            Err(e) => {
                return Err(Error::io(
                    format!("{key}: writing {value} to {shown} failed"),
                    e,
                ));
            }
        };
        // one write(2), as sysctl(8) does: the kernel parses each write on its own
        let res = (&f).write_all(format!("{value}\n").as_bytes());
        drop(f);
        if let Err(e) = res {
            return Err(Error::io(
                format!("{key}: writing {value} to {shown} failed"),
                e,
            ));
        }
        self.read_back(key, value, &shown)
    }

    /// Whether the value's directory is the kernel's procfs (else a tree of plain files).
    fn on_procfs(&self, path: &str) -> bool {
        const PROC_SUPER_MAGIC: i64 = 0x9fa0;
        let dir = crate::root::parent(path);
        // f_type is i64 on x86_64 and another integer elsewhere
        #[allow(clippy::unnecessary_cast)]
        let procfs = |st: rustix::fs::StatFs| st.f_type as i64 == PROC_SUPER_MAGIC;
        matches!(self.root.open_dir(dir, false), Ok(Some(fd))
            if rustix::fs::fstatfs(&fd).is_ok_and(procfs))
    }

    /// A value written, read back: the kernel may clamp or ignore it.
    fn read_back(&self, key: &str, value: &str, shown: &str) -> Result<()> {
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
    use std::fs;

    #[test]
    fn odd_values_are_refused_by_path_and_kind() {
        let d = tempfile::tempdir().unwrap();
        let core = d.path().join("proc/sys/net/core");
        fs::create_dir_all(&core).unwrap();
        std::os::unix::fs::symlink("/dev/zero", core.join("somaxconn")).unwrap();
        fs::write(core.join("netdev_budget"), "300\n").unwrap();
        fs::write(core.join("big"), vec![b'1'; MAX_VALUE_BYTES + 1]).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            core.join("rmem_max"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let root = Root::new(d.path()).unwrap();
        let live = Live::open(&root).unwrap();
        let link = "/proc/sys/net/core/somaxconn: a symlink (to /dev/zero), not a kernel value";
        let e = live.read("net.core.somaxconn").unwrap_err().to_string();
        assert_eq!(e, link);
        let e = live.write("net.core.somaxconn", "4096").unwrap_err();
        assert_eq!(e.to_string(), link);
        let e = live.read("net.core.rmem_max").unwrap_err().to_string();
        assert_eq!(
            e,
            "/proc/sys/net/core/rmem_max: is a FIFO, not a regular file"
        );
        let e = live
            .write("net.core.rmem_max", "1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/sys/net/core/rmem_max: is a FIFO"), "{e}");
        let e = live.read("net.core.big").unwrap_err().to_string();
        assert!(e.contains("/proc/sys/net/core/big: larger than"), "{e}");
        live.write("net.core.netdev_budget", "600").unwrap();
        assert_eq!(
            live.read("net.core.netdev_budget").unwrap().as_deref(),
            Some("600")
        );
        // a key the kernel does not have is not created
        let e = live.write("net.core.nosuch", "1").unwrap_err().to_string();
        assert!(e.contains("no such key"), "{e}");
        assert!(!core.join("nosuch").exists());
        let e = live
            .write("net/../../../victim", "3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not written"), "{e}");
        assert!(!d.path().join("victim").exists());
        assert_eq!(
            live.expand("net.core.*"),
            ["net.core.big", "net.core.netdev_budget"]
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
