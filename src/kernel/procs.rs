//! Processes under a /proc tree: which network namespace each is in (/proc/PID/ns/net), and
//! which of them hold a given socket (links `socket:[INODE]` in /proc/PID/fd, what ss -p
//! does). Socket inodes are global, so one scan of the host maps containers' sockets too.
//!
//! The procfs crate's `Process::fd()` is not used here: it opens, reads and stats every
//! descriptor (three system calls and two path allocations each, where ss makes one
//! readlink), and it silently drops descriptors it cannot read, where qfix wants to say so.
//! A busy host holds 100,000 descriptors; one readlink each is the floor.

use std::io;
use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};

/// "net:[4026531840]" -> 4026531840; also "socket:[N]" with the prefix given.
pub fn bracketed(link: &[u8], prefix: &[u8]) -> Option<u64> {
    let rest = link.strip_prefix(prefix)?.strip_prefix(b":[")?;
    let digits = rest.strip_suffix(b"]")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The network namespace inode a /proc/PID/ns/net (or /proc/self/ns/net) link names.
pub fn netns_of(link_path: &Path) -> io::Result<u64> {
    let l = std::fs::read_link(link_path)?;
    bracketed(l.as_os_str().as_encoded_bytes(), b"net").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a net namespace link", link_path.display()),
        )
    })
}

/// Every process of the tree with its network namespace (`None` when its link could not be
/// read: the process exited, or it is not ours to see).
#[derive(Debug, Default)]
pub struct Processes {
    pub pids: Vec<(i32, Option<u64>)>,
    /// Links that could not be read for lack of permission (not root, ptrace rules).
    pub denied: u32,
}

pub fn list(proc_root: &Path) -> io::Result<Processes> {
    let mut out = Processes::default();
    for e in std::fs::read_dir(proc_root)? {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let ns = match netns_of(&e.path().join("ns/net")) {
            Ok(n) => Some(n),
            Err(err) => {
                if err.kind() == io::ErrorKind::PermissionDenied {
                    out.denied += 1;
                }
                None
            }
        };
        out.pids.push((pid, ns));
    }
    out.pids.sort_unstable();
    Ok(out)
}

/// The `hidepid` option of the proc mount at `proc_root` ("2", "invisible", "ptraceable"),
/// read from its own mountinfo; `None` when not set or not known (a tree of files).
pub fn hidepid(proc_root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(proc_root.join("self/mountinfo")).ok()?;
    let want = proc_root.to_str()?;
    // the last mount on that point is the one seen
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let (fstype, _source, opts) = (r.next()?, r.next()?, r.next()?);
            (point == want && fstype == "proc").then_some(opts)
        })
        .next_back()?
        .split(',')
        .find_map(|o| o.strip_prefix("hidepid="))
        .filter(|v| !matches!(*v, "0" | "off"))
        .map(str::to_string)
}

/// Which processes hold which of the wanted socket inodes.
#[derive(Debug, Default)]
pub struct Owners {
    pub by_inode: FxHashMap<u64, Vec<i32>>,
    /// Processes whose descriptor table could not be read (EACCES: not root, hidepid).
    pub denied: u32,
    /// Processes gone before their descriptors were read.
    pub vanished: u32,
}

pub fn owners(proc_root: &Path, pids: &[i32], wanted: &FxHashSet<u64>) -> Owners {
    if wanted.is_empty() {
        return Owners::default();
    }
    // Readlink costs microseconds per descriptor in the kernel (a /proc inode per fd): on a
    // busy host that is most of the collection, so processes are shared among threads.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(pids.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut out = Owners::default();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&pid) = pids.get(i) else {
                return out;
            };
            scan_one(proc_root, pid, wanted, &mut out);
        }
    };
    let mut parts: Vec<Owners> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut parts = vec![work()];
        parts.extend(handles.into_iter().filter_map(|h| h.join().ok()));
        parts
    });
    let mut out = parts.swap_remove(0);
    for p in parts {
        out.denied += p.denied;
        out.vanished += p.vanished;
        for (ino, mut v) in p.by_inode {
            out.by_inode.entry(ino).or_default().append(&mut v);
        }
    }
    for v in out.by_inode.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    out
}

/// One process's descriptors: links read relative to its open fd directory, so each
/// readlink is one lookup, not a walk from /proc.
fn scan_one(proc_root: &Path, pid: i32, wanted: &FxHashSet<u64>, out: &mut Owners) {
    let dir = proc_root.join(pid.to_string()).join("fd");
    let opened = std::fs::File::open(&dir).and_then(|f| Ok((std::fs::read_dir(&dir)?, f)));
    let (entries, dirfd) = match opened {
        Ok(x) => x,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            out.denied += 1;
            return;
        }
        Err(_) => {
            out.vanished += 1;
            return;
        }
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&dirfd);
    for e in entries.flatten() {
        // the descriptor may close between the listing and the readlink
        let Ok(l) = nix::fcntl::readlinkat(Some(fd), e.file_name().as_os_str()) else {
            continue;
        };
        if let Some(ino) = bracketed(l.as_encoded_bytes(), b"socket")
            && wanted.contains(&ino)
        {
            let v = out.by_inode.entry(ino).or_default();
            if v.last() != Some(&pid) {
                v.push(pid);
            }
        }
    }
}

/// A process's name (/proc/PID/comm), `None` when it is gone.
pub fn comm(proc_root: &Path, pid: i32) -> Option<String> {
    let p = proc_root.join(pid.to_string()).join("comm");
    let s = std::fs::read_to_string(p).ok()?;
    Some(s.trim_end_matches('\n').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn hidepid_from_mountinfo() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("proc");
        std::fs::create_dir_all(p.join("self")).unwrap();
        let point = p.to_str().unwrap();
        let info = format!(
            "22 1 0:21 / {point} rw,nosuid - proc proc rw\n\
             40 22 0:33 / {point} rw,relatime shared:9 - proc proc rw,hidepid=invisible\n\
             41 1 0:34 / /other rw - proc proc rw,hidepid=2\n"
        );
        std::fs::write(p.join("self/mountinfo"), info).unwrap();
        assert_eq!(hidepid(&p).as_deref(), Some("invisible"));
        std::fs::write(
            p.join("self/mountinfo"),
            format!("22 1 0:21 / {point} rw - proc proc rw,hidepid=0\n"),
        )
        .unwrap();
        assert_eq!(hidepid(&p), None);
        assert_eq!(hidepid(d.path()), None);
    }

    #[test]
    fn bracketed_links() {
        assert_eq!(bracketed(b"net:[4026531840]", b"net"), Some(4026531840));
        assert_eq!(bracketed(b"socket:[123]", b"socket"), Some(123));
        assert_eq!(bracketed(b"socket:[]", b"socket"), None);
        assert_eq!(bracketed(b"pipe:[5]", b"socket"), None);
        assert_eq!(bracketed(b"/dev/null", b"socket"), None);
        assert_eq!(bracketed(b"socket:[1x]", b"socket"), None);
    }

    #[test]
    fn fake_proc_tree_gives_namespaces_and_owners() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for (pid, ns, fds) in [
            (
                1,
                "net:[100]",
                &[("3", "socket:[11]"), ("4", "/dev/null")][..],
            ),
            (
                20,
                "net:[200]",
                &[("5", "socket:[22]"), ("6", "socket:[11]")][..],
            ),
            (300, "net:[100]", &[][..]),
        ] {
            let base = p.join(pid.to_string());
            std::fs::create_dir_all(base.join("ns")).unwrap();
            std::fs::create_dir_all(base.join("fd")).unwrap();
            symlink(ns, base.join("ns/net")).unwrap();
            for (fd, target) in fds {
                symlink(target, base.join("fd").join(fd)).unwrap();
            }
            std::fs::write(base.join("comm"), format!("proc{pid}\n")).unwrap();
        }
        std::fs::create_dir_all(p.join("sys")).unwrap();
        let l = list(p).unwrap();
        assert_eq!(
            l.pids,
            vec![(1, Some(100)), (20, Some(200)), (300, Some(100))]
        );
        let wanted: FxHashSet<u64> = [11, 22, 33].into_iter().collect();
        // pid 4000 is listed but already gone
        let o = owners(p, &[1, 20, 300, 4000], &wanted);
        assert_eq!(o.by_inode[&11], vec![1, 20]);
        assert_eq!(o.by_inode[&22], vec![20]);
        assert!(!o.by_inode.contains_key(&33));
        assert_eq!(o.vanished, 1);
        assert_eq!(comm(p, 20).as_deref(), Some("proc20"));
        assert_eq!(comm(p, 4000), None);
    }
}
