//! Live sysctls under `<root>/proc/sys`: read, list, write with read-back.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use super::{key_to_path, path_to_key, same_value};
use crate::error::{Error, Result};
use crate::root::Root;

pub struct Live {
    dir: PathBuf,
}

impl Live {
    pub fn open(root: &Root) -> Option<Live> {
        let dir = root.host("/proc/sys");
        dir.is_dir().then_some(Live { dir })
    }

    pub fn read(&self, key: &str) -> Result<Option<String>> {
        let path = self.dir.join(key_to_path(key));
        match fs::read(&path) {
            Ok(b) => Ok(Some(
                String::from_utf8_lossy(&b)
                    .trim_end_matches('\n')
                    .to_string(),
            )),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) => Ok(None),
            // a directory, or a write-only key: not a value we can compare
            Err(e) if e.raw_os_error() == Some(nix::libc::EISDIR) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(None),
            Err(e) => Err(Error::io(format!("/proc/sys/{}", key_to_path(key)), e)),
        }
    }

    pub fn exists(&self, key: &str) -> bool {
        self.dir.join(key_to_path(key)).is_file()
    }

    /// Keys matching a sysctl glob, expanded over the directory tree like glob(3).
    pub fn expand(&self, pattern: &str) -> Vec<String> {
        let base = glob::Pattern::escape(&self.dir.to_string_lossy());
        let full = format!("{base}/{}", key_to_path(pattern));
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let Ok(paths) = glob::glob_with(&full, opts) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = paths
            .flatten()
            .filter(|p| p.is_file())
            .filter_map(|p| {
                p.strip_prefix(&self.dir)
                    .ok()
                    .map(|r| path_to_key(&r.to_string_lossy()))
            })
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
