//! Carry out an approved plan: one apply at a time (flock on /run/qfix.lock in the root),
//! a backup of every file before it changes, atomic writes (temp file in the same directory,
//! fsync, rename, mode and owner kept), live writes with read-back, and a rollback of the
//! run's file changes when the kernel refuses a live value.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::host::{Host, hash};
use crate::plan::Change;
use crate::root::Root;

pub const LOCK_PATH: &str = "/run/qfix.lock";
pub const BACKUP_DIR: &str = "/var/lib/qfix/backups";

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub changed: bool,
    pub applied: Vec<String>,
    pub backups: Vec<Backup>,
    /// Changes left out (not approved, or needing review without --unsafe-fixes).
    pub skipped: Vec<String>,
    /// Restarts carried out (--restart) or still needed.
    pub restarts: Vec<String>,
    /// Where this run's backups and manifest are (`qfix rollback` takes it).
    pub backup_dir: Option<String>,
}

/// What one apply did, kept beside its backups so `qfix rollback` can undo it.
#[derive(Debug, Default, Serialize, serde::Deserialize)]
pub struct Manifest {
    pub files: Vec<Backup>,
    /// (key, value before, value written)
    pub live: Vec<(String, String, String)>,
    #[serde(default)]
    pub rolled_back: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Backup {
    pub path: String,
    /// In-root path of the copy; None when the file did not exist (it was created).
    pub backup: Option<String>,
    /// sha256 of what the apply wrote: a rollback refuses a file changed since.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub written: String,
}

/// Held for the whole apply.
pub struct Lock {
    _lock: Flock<fs::File>,
}

pub fn lock(root: &Root, timeout: Duration) -> Result<Lock> {
    let path = root.host(LOCK_PATH);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(root.display(dir), e))?;
    }
    let start = Instant::now();
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(LOCK_PATH, e))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(Lock { _lock: l }),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                if start.elapsed() >= timeout {
                    return Err(Error::msg(format!(
                        "{LOCK_PATH}: another qfix apply holds the lock; gave up after {}s",
                        timeout.as_secs()
                    )));
                }
                file = f;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, e)) => return Err(Error::msg(format!("{LOCK_PATH}: flock: {}", e.desc()))),
        }
    }
}

/// Apply the chosen changes. Files first (each verified unchanged since planning), then live
/// values; if a live write fails, earlier live writes and all file writes are undone.
pub fn apply(host: &Host, changes: &[&Change], persist_only: bool) -> Result<Report> {
    let root = &host.root;
    let mut report = Report::default();
    let files: Vec<&Change> = changes
        .iter()
        .copied()
        .filter(|c| matches!(c, Change::File { .. }))
        .collect();
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut backup_dir = format!("{BACKUP_DIR}/{stamp}");
    let mut n = 1;
    while root.host(&backup_dir).exists() {
        backup_dir = format!("{BACKUP_DIR}/{stamp}-{n}");
        n += 1;
    }

    // check and back up everything before the first write
    let mut planned = Vec::new();
    for c in &files {
        let Change::File { path, old, new, .. } = c else {
            continue;
        };
        let host_path = root
            .resolve_host(path)?
            .ok_or_else(|| Error::msg(format!("{path}: masked")))?;
        let now = read_opt(&host_path, path)?;
        if now.as_deref().map(hash) != old.as_deref().map(hash) {
            return Err(Error::msg(format!(
                "{path}: changed since the plan was made; run qfix plan again"
            )));
        }
        let backup = match &now {
            Some(_) => {
                let b = format!("{backup_dir}{path}");
                let bh = root.host(&b);
                fs::create_dir_all(bh.parent().unwrap_or(Path::new("/")))
                    .map_err(|e| Error::io(&b, e))?;
                fs::copy(&host_path, &bh).map_err(|e| Error::io(&b, e))?;
                Some(b)
            }
            None => None,
        };
        report.backups.push(Backup {
            path: path.clone(),
            backup,
            written: hash(new),
        });
        planned.push((path.clone(), host_path, new.clone()));
    }
    let mut manifest = Manifest {
        files: report.backups.clone(),
        ..Manifest::default()
    };
    let manifest_path = format!("{backup_dir}/manifest.json");
    // written before the first change, so even an interrupted run can be rolled back
    save_manifest(root, &manifest_path, &manifest)?;

    let mut written: Vec<usize> = Vec::new();
    for (i, (path, host_path, new)) in planned.iter().enumerate() {
        if let Err(e) = write_atomic(host_path, path, new) {
            undo_files(root, &report.backups, &written);
            return Err(e);
        }
        written.push(i);
        report.applied.push(format!("wrote {path}"));
    }

    // the services' own checkers vet their edited configs before anything goes live
    let mut checked: Vec<&Vec<String>> = Vec::new();
    for c in &files {
        let Change::File { path, checker, .. } = c else {
            continue;
        };
        if checker.is_empty() || checked.contains(&checker) {
            continue;
        }
        checked.push(checker);
        match run_checker(root, path, checker) {
            Ok(Some(note)) => report.applied.push(note),
            Ok(None) => {}
            Err(e) => {
                undo_files(root, &report.backups, &written);
                return Err(Error::msg(format!(
                    "{e}\nthe edits of this run were rolled back; nothing else was changed"
                )));
            }
        }
    }

    if !persist_only {
        let mut done: Vec<(String, String)> = Vec::new();
        for c in changes {
            let Change::Sysctl { key, from, to, .. } = c else {
                continue;
            };
            let live = host.live.as_ref().ok_or_else(|| {
                Error::msg(
                    "no /proc/sys under the root: cannot write live values (use --persist-only)",
                )
            })?;
            if let Err(e) = live.write(key, to) {
                for (k, old) in done.iter().rev() {
                    let _ = live.write(k, old);
                }
                undo_files(root, &report.backups, &written);
                let undone = if written.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; rolled back {} file(s) written by this run",
                        written.len()
                    )
                };
                return Err(Error::msg(format!(
                    "{e}{undone} (use --persist-only to keep the file changes)"
                )));
            }
            done.push((key.clone(), from.clone().unwrap_or_default()));
            manifest
                .live
                .push((key.clone(), from.clone().unwrap_or_default(), to.clone()));
            report.applied.push(format!("{key} = {to} (live)"));
        }
    }
    save_manifest(root, &manifest_path, &manifest)?;
    report.changed = !report.applied.is_empty();
    report.backup_dir = Some(backup_dir);
    Ok(report)
}

fn save_manifest(root: &Root, path: &str, m: &Manifest) -> Result<()> {
    let text = serde_json::to_string_pretty(m).map_err(|e| Error::msg(format!("{path}: {e}")))?;
    write_atomic(&root.host(path), path, &text)
}

/// The newest apply not rolled back yet, or the one named (a directory under
/// /var/lib/qfix/backups, by name or in-root path).
pub fn find_backup(root: &Root, which: Option<&str>) -> Result<(String, Manifest)> {
    let load = |dir: &str| -> Result<Manifest> {
        let m = format!("{dir}/manifest.json");
        let text = fs::read_to_string(root.host(&m)).map_err(|e| Error::io(&m, e))?;
        serde_json::from_str(&text).map_err(|e| Error::msg(format!("{m}:{}: {e}", e.line())))
    };
    if let Some(w) = which {
        let dir = if w.starts_with('/') {
            w.to_string()
        } else {
            format!("{BACKUP_DIR}/{w}")
        };
        return Ok((dir.clone(), load(&dir)?));
    }
    for name in root.list_dir(BACKUP_DIR)?.iter().rev() {
        let dir = format!("{BACKUP_DIR}/{name}");
        if let Ok(m) = load(&dir) {
            if !m.rolled_back {
                return Ok((dir, m));
            }
        }
    }
    Err(Error::msg(format!(
        "{BACKUP_DIR}: no apply left to roll back"
    )))
}

/// Undo one apply: files back to their backups (created files removed), live values back
/// to what they were. Refuses, before touching anything, when a file changed since.
pub fn rollback(host: &Host, dir: &str, mut m: Manifest) -> Result<Report> {
    let root = &host.root;
    if m.rolled_back {
        return Err(Error::msg(format!("{dir}: already rolled back")));
    }
    let mut report = Report::default();
    let mut todo = Vec::new();
    for b in &m.files {
        let target = root
            .resolve_host(&b.path)?
            .ok_or_else(|| Error::msg(format!("{}: masked", b.path)))?;
        let now = read_opt(&target, &b.path)?;
        if !b.written.is_empty() && now.as_deref().map(hash).as_deref() != Some(b.written.as_str())
        {
            return Err(Error::msg(format!(
                "{}: changed since qfix wrote it; refusing to roll back {dir} (restore {} by hand if that is what you want)",
                b.path,
                b.backup.as_deref().unwrap_or("by deleting it")
            )));
        }
        let old = match &b.backup {
            Some(copy) => {
                Some(fs::read_to_string(root.host(copy)).map_err(|e| Error::io(copy, e))?)
            }
            None => None,
        };
        todo.push((b.path.clone(), target, old));
    }
    for (path, target, old) in todo {
        match old {
            Some(text) => write_atomic(&target, &path, &text)?,
            None => fs::remove_file(&target).map_err(|e| Error::io(&path, e))?,
        }
        report.applied.push(format!("restored {path}"));
    }
    if let Some(live) = &host.live {
        for (key, before, _) in m.live.iter().rev() {
            live.write(key, before)?;
            report.applied.push(format!(
                "{key} = {} (live)",
                crate::sysctl::norm_value(before)
            ));
        }
    }
    m.rolled_back = true;
    save_manifest(root, &format!("{dir}/manifest.json"), &m)?;
    report.changed = !report.applied.is_empty();
    report.applied.insert(0, format!("rolled back {dir}"));
    Ok(report)
}

fn read_opt(host_path: &Path, shown: &str) -> Result<Option<String>> {
    match fs::read(host_path) {
        Ok(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| Error::msg(format!("{shown}: not valid UTF-8"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(shown, e)),
    }
}

fn undo_files(root: &Root, backups: &[Backup], written: &[usize]) {
    for &i in written.iter().rev() {
        let b = &backups[i];
        let Ok(Some(target)) = root.resolve_host(&b.path) else {
            continue;
        };
        match &b.backup {
            Some(copy) => {
                if let Ok(text) = fs::read_to_string(root.host(copy)) {
                    let _ = write_atomic(&target, &b.path, &text);
                }
            }
            None => {
                let _ = fs::remove_file(&target);
            }
        }
    }
}

/// Replace a file so that readers see the old or the new content, never a mix: temp file in
/// the same directory, same mode and owner, fsync, rename, fsync the directory.
pub fn write_atomic(target: &Path, shown: &str, text: &str) -> Result<()> {
    let dir: PathBuf = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    fs::create_dir_all(&dir).map_err(|e| Error::io(shown, e))?;
    let old_meta = fs::metadata(target).ok();
    let mut tmp = tempfile::Builder::new()
        .prefix(".qfix-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(shown, e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| Error::io(shown, e))?;
    let mode = old_meta
        .as_ref()
        .map_or(0o644, |m| m.permissions().mode() & 0o7777);
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(shown, e))?;
    if let Some(m) = &old_meta {
        let _ = std::os::unix::fs::chown(tmp.path(), Some(m.uid()), Some(m.gid()));
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(shown, e))?;
    tmp.persist(target).map_err(|e| Error::io(shown, e.error))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn on_path(bin: &str) -> bool {
    if bin.contains('/') {
        return Path::new(bin).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

/// Run a service's config checker (`nginx -t`, `php-fpm8.2 -t`, `haproxy -c -f ...`) on the
/// edited files. Under `--root DIR` the checker must see DIR's config at the path it
/// expects, so it runs in a private mount namespace with DIR/etc/X bound over /etc/X.
/// `Ok(Some(note))` says what was checked; a checker not installed is not an error.
pub fn run_checker(root: &Root, edited: &str, argv: &[String]) -> Result<Option<String>> {
    let Some(bin) = argv.first() else {
        return Ok(None);
    };
    let shown = argv.join(" ");
    if !on_path(bin) {
        return Ok(Some(format!(
            "not validated: {bin} is not installed on this host"
        )));
    }
    let mut cmd;
    if root.is_host() {
        cmd = std::process::Command::new(bin);
        cmd.args(&argv[1..]);
    } else {
        let top: String = edited
            .split('/')
            .filter(|c| !c.is_empty())
            .take(2)
            .collect::<Vec<_>>()
            .join("/");
        let inside = format!("/{top}");
        if !Path::new(&inside).is_dir() || !top.starts_with("etc/") {
            return Ok(Some(format!(
                "not validated: {shown} needs {inside} on this host to bind the root's copy over it"
            )));
        }
        cmd = std::process::Command::new("unshare");
        cmd.args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"",
            "sh",
        ]);
        cmd.arg(root.host(&inside)).arg(&inside).args(argv);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("running {shown}"), e))?;
    if out.status.success() {
        return Ok(Some(format!("validated: {shown}")));
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    Err(Error::msg(format!(
        "{shown} rejects the edited {edited}:\n{}",
        text.trim_end()
    )))
}

/// Restart or reload the services a plan listed: systemctl when systemd runs, else the
/// service's init script; with `--root` other than / they are only printed (they are the
/// services of another tree).
pub fn restart(root: &Root, restarts: &[crate::plan::Restart]) -> Vec<Result<String>> {
    restarts
        .iter()
        .map(|r| {
            let verb = match r.action {
                crate::services::Action::Restart => "restart",
                crate::services::Action::Reload => "reload",
            };
            if !root.is_host() {
                return Ok(format!("not run (--root is not /): {verb} {}", r.unit));
            }
            let (prog, args): (String, Vec<String>) = if Path::new("/run/systemd/system").is_dir() {
                ("systemctl".into(), vec![verb.into(), r.unit.clone()])
            } else if Path::new(&format!("/etc/init.d/{}", r.unit)).is_file() {
                (format!("/etc/init.d/{}", r.unit), vec![verb.into()])
            } else {
                return Ok(format!(
                    "no systemd and no /etc/init.d/{}: run it yourself: {verb} {}",
                    r.unit, r.unit
                ));
            };
            let shown = format!("{prog} {}", args.join(" "));
            let out = std::process::Command::new(&prog)
                .args(&args)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| Error::io(&shown, e))?;
            if out.status.success() {
                Ok(format!("ran: {shown}"))
            } else {
                Err(Error::msg(format!(
                    "{shown} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim_end()
                )))
            }
        })
        .collect()
}
