//! Carry out an approved plan, journaled so that a crash at any point can be undone.
//!
//! One apply at a time: an flock on the root directory itself (it always exists, so taking
//! the lock writes nothing), and on /run/qfix.lock too when that file exists (scripts and
//! older qfix versions lock it). Each apply gets a backup directory named by the time to
//! the nanosecond (names sort in time order), and writes, in this order, each step fsynced
//! before the next:
//!
//! 1. the manifest (journal): every file it will write, with digests of the old and new
//!    contents and the service checker to run, and every live value with its value now;
//! 2. the backups, each read back and checked against its digest;
//! 3. stage `writing`, then each file (temp file, fsync, rename, fsync the directory);
//! 4. stage `checking`, then the services' own checkers;
//! 5. stage `live`, then the live values, each read back;
//! 6. stage `done`.
//!
//! A rollback decides per file by digest (still what the apply wrote: restore; still the
//! original: nothing to do; anything else: changed since, refused unless `--force`) and per
//! live value by value, so it undoes any partial state. A failed apply undoes itself and is
//! recorded as failed. The next apply settles what a crashed run left: temp files and
//! backup directories without a journal are removed, edits never checked are checked.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::host::{Host, hash};
use crate::plan::Change;
use crate::root::{self, MAX_FILE_BYTES, Resolved, Root, TEMP_PREFIX};
use crate::sysctl;

/// Locked too when it exists; never created.
pub const LOCK_PATH: &str = "/run/qfix.lock";
pub const BACKUP_DIR: &str = "/var/lib/qfix/backups";

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub changed: bool,
    pub applied: Vec<Done>,
    pub backups: Vec<Backup>,
    /// Changes left out (not approved, or needing review without --unsafe-fixes), and
    /// values a rollback left as they are.
    pub skipped: Vec<Skipped>,
    /// Restarts carried out (--restart) or still needed.
    pub restarts: Vec<RestartDone>,
    /// Where this run's backups and manifest are (`qfix rollback` takes it).
    pub backup_dir: Option<String>,
    /// After `--restart`: each restarted listener's kernel backlog before and after.
    pub proof: Vec<Proof>,
    /// What failed after the writes (a restart, a listener without its queue): exit 1.
    pub errors: Vec<crate::error::Error>,
}

/// One thing an apply (or a rollback) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Done {
    /// A file written (created, replaced, or restored).
    File { path: String },
    /// A live value written and read back.
    Sysctl { key: String, value: String },
    /// A service's own checker accepted an edited file.
    Checked { command: String },
    /// A rollback put a file back from its backup.
    Restored { path: String, from: String },
    /// A rollback removed a file the apply had created.
    Removed { path: String },
    /// Anything else: a crashed run's leftovers cleaned, a file restored by a rollback...
    Note { message: String },
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Done::File { path } => write!(f, "wrote {path}"),
            Done::Sysctl { key, value } => write!(f, "{key} = {value} (live)"),
            Done::Checked { command } => write!(f, "validated: {command}"),
            Done::Restored { path, from } => write!(f, "restored {path} from {from}"),
            Done::Removed { path } => write!(f, "removed {path} (the apply created it)"),
            Done::Note { message } => f.write_str(message),
        }
    }
}

/// A change left out, or a value a rollback left as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

/// A restart: carried out (`ran`, with its command), or still needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RestartDone {
    pub unit: String,
    /// "restart" or "reload".
    pub action: String,
    /// The command run; `null` when it was not run.
    pub command: Option<String>,
    pub ran: bool,
    /// Why it is needed, or why it was not run.
    pub reason: String,
}

/// A restarted listener's queue as the kernel holds it (Send-Q), before and after.
#[derive(Debug, Clone, Serialize)]
pub struct Proof {
    pub unit: String,
    pub address: String,
    pub before: Option<u32>,
    pub after: Option<u32>,
    /// What it should hold now: min(its backlog, its namespace's somaxconn).
    pub expected: Option<i64>,
}

/// How far an apply got; saved (fsynced) before each step starts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Journal written, backups being taken: no config file touched yet.
    Prepared,
    /// Files being replaced.
    Writing,
    /// Files written, checkers running: the edits are not verified yet.
    Checking,
    /// Files written and checked, live values being written.
    Live,
    /// Complete (manifests older than the journal have no stage: complete too).
    #[default]
    Done,
    /// Refused (a checker or the kernel) and undone.
    Failed,
    /// Crashed; its leftovers cleaned up and its edits checked by a later apply.
    Interrupted,
}

/// What one apply did or meant to do, kept beside its backups for `qfix rollback`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub stage: Stage,
    pub files: Vec<Backup>,
    /// (key, value before, value written)
    pub live: Vec<(String, String, String)>,
    #[serde(default)]
    pub rolled_back: bool,
    /// A rollback started and has not finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolling_back: bool,
    /// Why the apply failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Manifest {
    /// Whether a crash left this run (or its rollback) for the next apply to settle:
    /// temp files to remove, edits to check, a stage to close. A run rolled back after a
    /// crash still has the crash's temp files.
    fn unsettled(&self) -> bool {
        self.rolling_back
            || matches!(
                self.stage,
                Stage::Prepared | Stage::Writing | Stage::Checking | Stage::Live
            )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    pub path: String,
    /// In-root path of the copy; None when the file did not exist (it was created).
    pub backup: Option<String>,
    /// sha256 of what the apply wrote: a rollback refuses a file changed since.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub written: String,
    /// sha256 of the file before the apply (and of its backup); empty when it did not exist.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub original: String,
    /// The service checker for this file, run again by the next apply after a crash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checker: Vec<String>,
}

fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Held for the whole apply or rollback.
pub struct Lock {
    _held: Vec<std::fs::File>,
}

pub fn lock(root: &Root, timeout: Duration) -> Result<Lock> {
    use rustix::fs::{FlockOperation, flock};
    let start = Instant::now();
    loop {
        let mut held = Vec::new();
        let dir = root
            .open_dir("/", false)?
            .ok_or_else(|| Error::msg("/: the root directory is gone"))?;
        held.push(std::fs::File::from(dir));
        if let Some(f) = root.open_file(LOCK_PATH, false)? {
            held.push(f);
        }
        let mut busy = false;
        for f in &held {
            match flock(f, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => busy = true,
                Err(e) => return Err(Error::msg(format!("{LOCK_PATH}: flock: {e}"))),
            }
        }
        if !busy {
            return Ok(Lock { _held: held });
        }
        // closing the descriptors lets go of whatever part was taken
        drop(held);
        if start.elapsed() >= timeout {
            return Err(Error::msg(format!(
                "{LOCK_PATH}: another qfix apply holds the lock; gave up after {}s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// sysctl.d locations (systemd-sysctl's) and /etc/sysctl.conf: files whose new keys are
/// checked against the running kernel before anything is written.
fn is_sysctl_file(path: &str) -> bool {
    path == "/etc/sysctl.conf"
        || [
            "/etc/sysctl.d/",
            "/run/sysctl.d/",
            "/usr/local/lib/sysctl.d/",
            "/usr/lib/sysctl.d/",
            "/lib/sysctl.d/",
        ]
        .iter()
        .any(|d| path.starts_with(d))
}

/// Refuse, before anything is written, a sysctl key that is not a key (`..`, odd
/// characters), that the running kernel does not have, or a value it cannot take.
fn check_keys(host: &Host, changes: &[&Change], persist_only: bool) -> Result<()> {
    let live = host.live.as_ref();
    let refuse = |what: String| Error::msg(format!("{what}; nothing was written"));
    for c in changes {
        match c {
            Change::Sysctl { key, to, .. } => {
                sysctl::check_key(key).map_err(|e| refuse(format!("{key}: {e}")))?;
                sysctl::check_value(key, to).map_err(|e| refuse(format!("{key}: {e}")))?;
                let Some(live) = live.filter(|_| !persist_only) else {
                    continue;
                };
                let Some(now) = live.read(key)? else {
                    return Err(refuse(format!(
                        "{key}: /proc/sys/{} does not exist: the running kernel has no such key",
                        sysctl::key_to_path(key)
                    )));
                };
                sysctl::check_value_like(key, to, &now)
                    .map_err(|e| refuse(format!("{key}: {e}")))?;
            }
            Change::File { path, old, new, .. } if is_sysctl_file(path) => {
                let before: BTreeSet<(String, String)> = old
                    .as_deref()
                    .map(assignments)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v, _)| (k, v))
                    .collect();
                for (key, value, line) in assignments(new) {
                    if before.contains(&(key.clone(), value.clone())) {
                        continue;
                    }
                    let at = format!("{path}:{line}: {key}");
                    if sysctl::is_glob(&key) {
                        sysctl::check_pattern(&key).map_err(|e| refuse(format!("{at}: {e}")))?;
                        continue;
                    }
                    sysctl::check_key(&key).map_err(|e| refuse(format!("{at}: {e}")))?;
                    sysctl::check_value(&key, &value).map_err(|e| refuse(format!("{at}: {e}")))?;
                    if let Some(live) = live
                        && !live.exists(&key)
                    {
                        return Err(refuse(format!(
                            "{at}: the running kernel has no such key (no /proc/sys/{})",
                            sysctl::key_to_path(&key)
                        )));
                    }
                }
            }
            Change::File { .. } => {}
        }
    }
    Ok(())
}

/// (key, value, line) of every assignment in a sysctl file.
fn assignments(text: &str) -> Vec<(String, String, usize)> {
    sysctl::file::parse(text)
        .into_iter()
        .filter_map(|l| match l.kind {
            sysctl::file::LineKind::Assign(a) => Some((a.key, a.value, l.number)),
            _ => None,
        })
        .collect()
}

/// A new backup id: the time to the nanosecond, fixed width, so names sort in time order.
fn new_id() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The sort key of a backup directory's name: ids of every qfix version in time order
/// (`2024-01-01T00:00:00Z-10` after `...Z-9`, nanosecond ids among them).
fn id_key(name: &str) -> (String, String, u64) {
    let (stamp, n) = match name.split_once("Z-") {
        Some((s, n)) => (s, n.parse().unwrap_or(0)),
        None => (name.trim_end_matches('Z'), 0),
    };
    let (secs, frac) = stamp.split_once('.').unwrap_or((stamp, ""));
    (secs.to_string(), format!("{frac:0<9}"), n)
}

/// Apply the chosen changes. Everything is checked before the first write (each file
/// unchanged since planning, each key one the kernel has); see the module's comment for
/// the order of the writes. If a checker or the kernel refuses, the run undoes itself.
pub fn apply(host: &Host, changes: &[&Change], persist_only: bool) -> Result<Report> {
    let root = &host.root;
    let mut report = Report::default();

    // read and check everything before the first write
    let mut planned: Vec<(Backup, Option<String>, &String)> = Vec::new();
    for c in changes {
        let Change::File {
            path,
            old,
            new,
            checker,
            ..
        } = c
        else {
            continue;
        };
        if root.resolve(path)? == Resolved::DevNull {
            return Err(Error::msg(format!(
                "{path}: masked (a link to /dev/null); nothing was written"
            )));
        }
        let now = root
            .read_bytes_opt(path, MAX_FILE_BYTES)?
            .map(|b| root::text(b, path))
            .transpose()?;
        if now.as_deref().map(hash) != old.as_deref().map(hash) {
            return Err(Error::msg(format!(
                "{path}: changed since the plan was made; run qfix plan again"
            )));
        }
        planned.push((
            Backup {
                path: path.clone(),
                backup: None,
                written: hash(new),
                original: now.as_deref().map(hash).unwrap_or_default(),
                checker: checker.clone(),
            },
            now,
            new,
        ));
    }
    check_keys(host, changes, persist_only)?;
    let mut live_plan = Vec::new();
    if !persist_only {
        for c in changes {
            let Change::Sysctl { key, to, .. } = c else {
                continue;
            };
            let live = host.live.as_ref().ok_or_else(|| {
                Error::msg(
                    "no /proc/sys under the root: cannot write live values (use --persist-only); nothing was written",
                )
            })?;
            let before = live.read(key)?.unwrap_or_default();
            live_plan.push((key.clone(), before, to.clone()));
        }
    }

    report.applied.extend(
        settle(host)?
            .into_iter()
            .map(|message| Done::Note { message }),
    );

    // claim a backup directory, then journal the intent
    root.open_dir(BACKUP_DIR, true)?;
    let backup_dir = loop {
        let dir = format!("{BACKUP_DIR}/{}", new_id());
        if root.create_dir(&dir)? {
            break dir;
        }
    };
    for (b, now, _) in &mut planned {
        if now.is_some() {
            b.backup = Some(format!("{backup_dir}{}", b.path));
        }
    }
    let mut m = Manifest {
        stage: Stage::Prepared,
        files: planned.iter().map(|p| p.0.clone()).collect(),
        live: live_plan,
        ..Manifest::default()
    };
    let manifest_path = format!("{backup_dir}/manifest.json");
    save_manifest(root, &manifest_path, &m)?;
    report.backups = m.files.clone();
    report.backup_dir = Some(backup_dir.clone());

    // backups, each read back and checked
    for (b, now, _) in &planned {
        let (Some(copy), Some(text)) = (&b.backup, now) else {
            continue;
        };
        root.write_atomic(copy, text.as_bytes())?;
        verify_backup(root, copy, &b.original)?;
    }

    m.stage = Stage::Writing;
    save_manifest(root, &manifest_path, &m)?;
    for (b, _, new) in &planned {
        if let Err(e) = root.write_atomic(&b.path, new.as_bytes()) {
            return Err(fail(host, &manifest_path, &mut m, e));
        }
        report.applied.push(Done::File {
            path: b.path.clone(),
        });
    }

    // the services' own checkers vet the edited configs before anything goes live
    m.stage = Stage::Checking;
    save_manifest(root, &manifest_path, &m)?;
    let mut checked: Vec<&Vec<String>> = Vec::new();
    for (b, _, _) in &planned {
        if b.checker.is_empty() || checked.contains(&&b.checker) {
            continue;
        }
        checked.push(&b.checker);
        match run_checker(root, &b.path, &b.checker) {
            Ok(Some(note)) => report.applied.push(match note.strip_prefix("validated: ") {
                Some(command) => Done::Checked {
                    command: command.to_string(),
                },
                None => Done::Note { message: note },
            }),
            Ok(None) => {}
            Err(e) => return Err(fail(host, &manifest_path, &mut m, e)),
        }
    }

    m.stage = Stage::Live;
    save_manifest(root, &manifest_path, &m)?;
    if let Some(live) = &host.live {
        for (key, _, to) in m.live.clone() {
            if let Err(e) = live.write(&key, &to) {
                let e = Error::msg(format!("{e} (use --persist-only to keep the file changes)"));
                return Err(fail(host, &manifest_path, &mut m, e));
            }
            report.applied.push(Done::Sysctl {
                key: key.clone(),
                value: to.clone(),
            });
        }
    }
    m.stage = Stage::Done;
    save_manifest(root, &manifest_path, &m)?;
    report.changed = !planned.is_empty() || !m.live.is_empty();
    Ok(report)
}

/// A refused apply: undo what it did, record it as failed, and say so.
fn fail(host: &Host, manifest_path: &str, m: &mut Manifest, e: Error) -> Error {
    let undone = restore_plan(host, m, false).and_then(|plan| execute(host, &plan));
    match undone {
        Ok(done) => {
            m.stage = Stage::Failed;
            m.rolled_back = true;
            m.error = Some(e.to_string());
            let saved = save_manifest(&host.root, manifest_path, m);
            let what = if done.is_empty() {
                "nothing had been changed yet".to_string()
            } else {
                done.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let saved = match saved {
                Ok(()) => String::new(),
                Err(s) => format!(" (recording the failure failed: {s})"),
            };
            Error::msg(format!(
                "{e}\nthe apply failed and was rolled back ({what}); nothing else was changed{saved}"
            ))
        }
        Err(u) => Error::msg(format!(
            "{e}\nundoing this apply failed too: {u}\nrun `qfix rollback` once that is fixed"
        )),
    }
}

fn verify_backup(root: &Root, copy: &str, original: &str) -> Result<Vec<u8>> {
    let bytes = root
        .read_bytes_opt(copy, MAX_FILE_BYTES)?
        .ok_or_else(|| Error::msg(format!("{copy}: backup missing")))?;
    if !original.is_empty() && digest(&bytes) != original {
        return Err(Error::msg(format!(
            "{copy}: backup is corrupt (its sha256 is not the original's)"
        )));
    }
    Ok(bytes)
}

fn save_manifest(root: &Root, path: &str, m: &Manifest) -> Result<()> {
    let text = serde_json::to_string_pretty(m).map_err(|e| Error::msg(format!("{path}: {e}")))?;
    root.write_atomic(path, text.as_bytes())
}

/// A backup directory's manifest; `Ok(None)` when it has none.
fn load(root: &Root, dir: &str) -> Result<Option<Manifest>> {
    let path = format!("{dir}/manifest.json");
    let Some(bytes) = root.read_bytes_opt(&path, MAX_FILE_BYTES)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::msg(format!("{path}:{}: {e}", e.line())))
}

/// Backup directory names, oldest first.
fn backup_ids(root: &Root) -> Result<Vec<String>> {
    let mut names: Vec<String> = root
        .list_dir(BACKUP_DIR)?
        .into_iter()
        .filter(|n| !n.starts_with(TEMP_PREFIX))
        .collect();
    names.sort_by_key(|n| id_key(n));
    Ok(names)
}

/// Settle what crashed runs left (called by every apply that goes ahead): temp files and
/// backup directories without a journal are removed, edits that no checker vetted are
/// checked now. Returns what it did, one line each.
pub fn settle(host: &Host) -> Result<Vec<String>> {
    let root = &host.root;
    let mut notes = Vec::new();
    for name in root.list_dir(BACKUP_DIR)? {
        let dir = format!("{BACKUP_DIR}/{name}");
        if name.starts_with(TEMP_PREFIX) {
            root.remove_file(&dir)?;
            notes.push(format!("removed {dir}: a temp file a crashed apply left"));
            continue;
        }
        if !root.is_dir(&dir) {
            continue;
        }
        let mut m = match load(root, &dir) {
            Ok(Some(m)) => m,
            Ok(None) => {
                root.remove_tree(&dir)?;
                notes.push(format!(
                    "removed {dir}: an apply crashed before its journal was written (it changed nothing)"
                ));
                continue;
            }
            Err(e) => {
                notes.push(format!("kept {dir}: unreadable journal: {e}"));
                continue;
            }
        };
        // a manifest's own temp file: a save (a rollback's first step) that crashed
        notes.extend(remove_temp_files(root, &dir)?);
        if !m.unsettled() {
            continue;
        }
        notes.extend(clean_run(root, &m)?);
        if m.stage == Stage::Prepared && !m.rolling_back && !m.rolled_back {
            // no config file was touched yet: nothing to roll back
            root.remove_tree(&dir)?;
            notes.push(format!(
                "removed {dir}: an apply crashed while taking its backups (it changed nothing)"
            ));
            continue;
        }
        if matches!(m.stage, Stage::Writing | Stage::Checking) && !m.rolled_back {
            notes.extend(check_again(root, &dir, &m)?);
        }
        let was = m.stage;
        if was != Stage::Done && was != Stage::Failed {
            m.stage = Stage::Interrupted;
        }
        let rolling = std::mem::take(&mut m.rolling_back);
        save_manifest(root, &format!("{dir}/manifest.json"), &m)?;
        notes.push(if rolling {
            format!("{dir}: a rollback of it was interrupted; `qfix rollback {name}` finishes it")
        } else if m.rolled_back {
            format!("{dir}: cleaned up after an apply that crashed and was rolled back")
        } else {
            format!(
                "{dir}: an earlier apply was interrupted (at {}); `qfix rollback {name}` undoes what it did",
                serde_json::to_string(&was).unwrap_or_default().trim_matches('"')
            )
        });
    }
    Ok(notes)
}

/// Remove the temp files a crashed run (or rollback) may have left: beside the files and
/// values it wrote or restored, and among its backups.
fn clean_run(root: &Root, m: &Manifest) -> Result<Vec<String>> {
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for (key, _, _) in &m.live {
        let value = format!("/proc/sys/{}", sysctl::key_to_path(key));
        dirs.insert(root::parent(&value).to_string());
    }
    for b in &m.files {
        if let Ok(Resolved::Path(p)) = root.resolve(&b.path) {
            dirs.insert(root::parent(&p).to_string());
        }
        if let Some(copy) = &b.backup {
            dirs.insert(root::parent(copy).to_string());
        }
    }
    let mut notes = Vec::new();
    for d in &dirs {
        notes.extend(remove_temp_files(root, d)?);
    }
    Ok(notes)
}

/// Remove qfix's temp files (regular files named `TEMP_PREFIX`...) in one directory.
fn remove_temp_files(root: &Root, dir: &str) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    for n in root.list_dir(dir).unwrap_or_default() {
        let p = root::join(dir, &n);
        if n.starts_with(TEMP_PREFIX)
            && root.file_type(&p) == Some(rustix::fs::FileType::RegularFile)
        {
            root.remove_file(&p)?;
            notes.push(format!("removed {p}: a temp file a crashed run left"));
        }
    }
    Ok(notes)
}

/// Run again the checkers of a crashed run's edits that are on disk.
fn check_again(root: &Root, dir: &str, m: &Manifest) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let mut done: Vec<&Vec<String>> = Vec::new();
    for b in &m.files {
        if b.checker.is_empty() || done.contains(&&b.checker) {
            continue;
        }
        let now = root.read_bytes_opt(&b.path, MAX_FILE_BYTES)?;
        if now.as_deref().map(digest).as_deref() != Some(b.written.as_str()) {
            continue;
        }
        done.push(&b.checker);
        match run_checker(root, &b.path, &b.checker) {
            Ok(Some(note)) => notes.push(format!("{note} (checked again: {dir} crashed before)")),
            Ok(None) => {}
            Err(e) => {
                return Err(Error::msg(format!(
                    "{e}\nan earlier apply ({dir}) crashed before checking this edit; run `qfix rollback {}` first; nothing was written",
                    root::file_name(dir)
                )));
            }
        }
    }
    Ok(notes)
}

/// The newest apply to roll back (not rolled back, not failed), or the one named (a
/// directory under /var/lib/qfix/backups, by name or in-root path).
pub fn find_backup(root: &Root, which: Option<&str>) -> Result<(String, Manifest)> {
    if let Some(w) = which {
        let dir = if w.starts_with('/') {
            w.to_string()
        } else {
            format!("{BACKUP_DIR}/{w}")
        };
        let m = load(root, &dir)?
            .ok_or_else(|| Error::msg(format!("{dir}/manifest.json: no such apply")))?;
        return Ok((dir, m));
    }
    for name in backup_ids(root)?.iter().rev() {
        let dir = format!("{BACKUP_DIR}/{name}");
        if let Ok(Some(m)) = load(root, &dir)
            && !m.rolled_back
            && m.stage != Stage::Failed
        {
            return Ok((dir, m));
        }
    }
    Err(Error::msg(format!(
        "{BACKUP_DIR}: no apply left to roll back"
    )))
}

/// One step of a rollback.
enum Step {
    Write(String, Vec<u8>, String),
    Remove(String),
    Live(String, String),
    Note(String),
    Left(String),
}

/// What undoing `m` takes, decided before anything is written: per file by digest, per
/// live value by value. Refuses a file changed since the apply (unless `force`) and a
/// backup that is missing or corrupt.
fn restore_plan(host: &Host, m: &Manifest, force: bool) -> Result<Vec<Step>> {
    let root = &host.root;
    let mut steps = Vec::new();
    let mut changed = Vec::new();
    for b in &m.files {
        let now = match root.resolve(&b.path)? {
            Resolved::DevNull => Some(Vec::new()),
            Resolved::Path(p) => root.read_bytes_opt(&p, MAX_FILE_BYTES)?,
        };
        let now_hash = now.as_deref().map(digest);
        let is_written = now_hash.as_deref() == Some(b.written.as_str());
        let is_original = match &b.backup {
            None => now.is_none(),
            Some(_) => !b.original.is_empty() && now_hash.as_deref() == Some(b.original.as_str()),
        };
        if is_original && !is_written {
            steps.push(Step::Note(format!(
                "{}: as it was before the apply (not written, or already restored)",
                b.path
            )));
            continue;
        }
        if !is_written && !force {
            changed.push(format!(
                "{}: changed since qfix wrote it; refusing to roll back (restore {} by hand if that is what you want, or pass --force)",
                b.path,
                b.backup.as_deref().unwrap_or("by deleting it")
            ));
            continue;
        }
        match &b.backup {
            Some(copy) => {
                let bytes = verify_backup(root, copy, &b.original).map_err(|e| {
                    Error::msg(format!("{e}; refusing to roll back; nothing was changed"))
                })?;
                steps.push(Step::Write(b.path.clone(), bytes, copy.clone()));
            }
            None => steps.push(Step::Remove(b.path.clone())),
        }
    }
    if !changed.is_empty() {
        return Err(Error::msg(changed.join("\n")));
    }
    for (key, before, to) in m.live.iter().rev() {
        let Some(live) = &host.live else {
            steps.push(Step::Left(format!(
                "{key}: no /proc/sys under the root; live value not restored"
            )));
            continue;
        };
        let now = live.read(key)?;
        let now_is = |v: &str| now.as_deref().is_some_and(|n| sysctl::same_value(n, v));
        if now_is(to) && !now_is(before) || force && !now_is(before) {
            steps.push(Step::Live(key.clone(), before.clone()));
        } else if now_is(before) {
            steps.push(Step::Note(format!(
                "{key} = {} (live): as it was before the apply",
                sysctl::norm_value(before)
            )));
        } else {
            steps.push(Step::Left(format!(
                "{key} = {} (live): left as it is: changed since the apply set {}; --force restores {}",
                now.as_deref()
                    .map(sysctl::norm_value)
                    .unwrap_or_else(|| "(missing)".into()),
                sysctl::norm_value(to),
                sysctl::norm_value(before)
            )));
        }
    }
    Ok(steps)
}

/// Carry out a restore plan; returns what it restored.
fn execute(host: &Host, steps: &[Step]) -> Result<Vec<Done>> {
    let root = &host.root;
    let mut done = Vec::new();
    for s in steps {
        match s {
            Step::Write(path, bytes, copy) => {
                root.write_atomic(path, bytes)?;
                done.push(Done::Restored {
                    path: path.clone(),
                    from: copy.clone(),
                });
            }
            Step::Remove(path) => {
                root.remove_file(path)?;
                done.push(Done::Removed { path: path.clone() });
            }
            Step::Live(key, before) => {
                let live = host
                    .live
                    .as_ref()
                    .ok_or_else(|| Error::msg("no /proc/sys under the root"))?;
                live.write(key, before)?;
                done.push(Done::Sysctl {
                    key: key.clone(),
                    value: sysctl::norm_value(before),
                });
            }
            Step::Note(_) | Step::Left(_) => {}
        }
    }
    Ok(done)
}

/// Undo one apply, whatever state it reached: files back to their backups (created files
/// removed), live values back to what they were. Refuses, before touching anything, a file
/// changed since the apply (unless `force`) or a corrupt backup; a live value changed since
/// is left and reported (restored with `force`).
pub fn rollback(host: &Host, dir: &str, mut m: Manifest, force: bool) -> Result<Report> {
    let root = &host.root;
    if m.rolled_back {
        return Err(Error::msg(format!("{dir}: already rolled back")));
    }
    let steps = restore_plan(host, &m, force)?;
    let manifest_path = format!("{dir}/manifest.json");
    // what the apply (killed mid-way) or an interrupted rollback left beside its files
    let mut cleaned = clean_run(root, &m)?;
    // a manifest save the killed run did not finish
    cleaned.extend(remove_temp_files(root, dir)?);
    m.rolling_back = true;
    save_manifest(root, &manifest_path, &m)?;
    let mut done = execute(host, &steps)?;
    done.extend(cleaned.drain(..).map(|message| Done::Note { message }));
    m.rolling_back = false;
    m.rolled_back = true;
    save_manifest(root, &manifest_path, &m)?;
    let mut report = Report {
        changed: !done.is_empty(),
        ..Report::default()
    };
    report.applied.push(Done::Note {
        message: format!("rolled back {dir}"),
    });
    report.applied.extend(done);
    for s in steps {
        match s {
            Step::Note(n) => report.applied.push(Done::Note { message: n }),
            Step::Left(n) => report.skipped.push(Skipped {
                what: n,
                reason: "changed since the apply (--force restores it)".into(),
            }),
            _ => {}
        }
    }
    Ok(report)
}

/// Write a file named on the command line (`plan --out`) atomically.
pub fn write_atomic(target: &std::path::Path, shown: &str, text: &str) -> Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(shown, e))?;
    let name = target
        .file_name()
        .ok_or_else(|| Error::msg(format!("{shown}: not a file name")))?;
    let at = Root::new(&dir)?;
    at.write_atomic(&format!("/{}", name.to_string_lossy()), text.as_bytes())
        .map_err(|e| Error::msg(format!("{shown}: {e}")))
}

fn on_path(bin: &str) -> bool {
    if bin.contains('/') {
        return std::path::Path::new(bin).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

/// The sandbox a checker runs in for a `--root` tree. The checker is the host's program
/// (a tree rarely holds binaries, and a tree's binaries would need its libraries), so it
/// runs in a private mount namespace where: the tree's /etc/X is bound over /etc/X (the
/// checker reads the edited config where it expects it); /var/log, /var/lib, /var/cache,
/// /var/tmp, /run and /tmp are overlays whose writes go to a scratch tmpfs (php-fpm writes
/// its log, nginx creates /var/lib/nginx/body, apachectl a lock: they find what they need,
/// and what they write vanishes with the namespace); and / is remounted read-only. So a
/// checker run for a tree writes nothing outside it. A sandbox that cannot be set up exits
/// 125 with a `qfix-sandbox:` line, and the edit is left "not validated".
const SANDBOX: &str = r#"
fail() { echo "qfix-sandbox: $*" >&2; exit 125; }
mount --bind "$1" "$2" || fail "cannot bind $1 over $2"
shift 2
mount -t tmpfs -o mode=0700 qfix-checker /mnt || fail "cannot mount a scratch tmpfs"
for d in /var/log /var/lib /var/cache /var/tmp /run /tmp; do
  [ -d "$d" ] || continue
  n=$(printf %s "$d" | tr / _)
  mkdir "/mnt/$n" "/mnt/$n/u" "/mnt/$n/w" || fail "mkdir"
  mount -t overlay -o "lowerdir=$d,upperdir=/mnt/$n/u,workdir=/mnt/$n/w" qfix-checker "$d" \
    || fail "cannot overlay $d"
done
mount -o remount,bind,ro / || fail "cannot make / read-only"
exec "$@"
"#;

/// Run a service's config checker (`nginx -t`, `php-fpm8.2 -t`, `haproxy -c -f ...`) on the
/// edited files. Under `--root DIR` it runs in `SANDBOX`.
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
        if !std::path::Path::new(&inside).is_dir() || !top.starts_with("etc/") {
            return Ok(Some(format!(
                "not validated: {shown} needs {inside} on this host to bind the root's copy over it"
            )));
        }
        let Resolved::Path(tree_dir) = root.resolve(&inside)? else {
            return Ok(Some(format!("not validated: {inside} is masked")));
        };
        cmd = std::process::Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", SANDBOX, "sh"]);
        cmd.arg(root.host(&tree_dir)).arg(&inside).args(argv);
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
    if out.status.code() == Some(125) && text.contains("qfix-sandbox:") {
        return Ok(Some(format!(
            "not validated: {shown}: no sandbox to run it in for this tree ({})",
            text.trim_end()
        )));
    }
    Err(Error::msg(format!(
        "{shown} rejects the edited {edited}:\n{}",
        text.trim_end()
    )))
}

/// Restart or reload the services a plan listed: systemctl when systemd runs, else the
/// service's init script; with `--root` other than / they are only printed (they are the
/// services of another tree).
pub fn restart(root: &Root, restarts: &[crate::plan::Restart]) -> Vec<Result<RestartDone>> {
    restarts
        .iter()
        .map(|r| {
            let verb = r.verb();
            let done = |command: Option<String>, ran: bool, reason: String| RestartDone {
                unit: r.unit.clone(),
                action: verb.to_string(),
                command,
                ran,
                reason,
            };
            if !root.is_host() {
                return Ok(done(None, false, "not run: --root is not /".into()));
            }
            let (prog, args): (String, Vec<String>) =
                if std::path::Path::new("/run/systemd/system").is_dir() {
                    ("systemctl".into(), vec![verb.into(), r.unit.clone()])
                } else if std::path::Path::new(&format!("/etc/init.d/{}", r.unit)).is_file() {
                    (format!("/etc/init.d/{}", r.unit), vec![verb.into()])
                } else {
                    return Ok(done(
                        None,
                        false,
                        format!("no systemd and no /etc/init.d/{}: run it yourself", r.unit),
                    ));
                };
            let shown = format!("{prog} {}", args.join(" "));
            let out = std::process::Command::new(&prog)
                .args(&args)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| Error::io(&shown, e))?;
            if out.status.success() {
                Ok(done(Some(shown), true, r.reason.clone()))
            } else {
                Err(Error::msg(format!(
                    "{shown} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim_end()
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const KEY: &str = "net.core.somaxconn";
    const FILE: &str = "/etc/sysctl.d/10-a.conf";

    /// A tree with one sysctl file and a live somaxconn of 4096.
    fn tree() -> (tempfile::TempDir, Host) {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc/sysctl.d")).unwrap();
        fs::create_dir_all(d.path().join("proc/sys/net/core")).unwrap();
        fs::write(
            d.path().join("etc/sysctl.d/10-a.conf"),
            "net.core.somaxconn = 4096\n",
        )
        .unwrap();
        fs::write(d.path().join("proc/sys/net/core/somaxconn"), "4096\n").unwrap();
        let host = Host::new(Root::new(d.path()).unwrap());
        (d, host)
    }

    fn changes(host: &Host, to: &str, checker: &[&str]) -> Vec<Change> {
        let old = host.root.read_opt(FILE).unwrap().unwrap().to_string();
        vec![
            Change::File {
                path: FILE.into(),
                diff: String::new(),
                safe: true,
                reason: String::new(),
                new: format!("net.core.somaxconn = {to}\n"),
                old: Some(old),
                checker: checker.iter().map(|s| s.to_string()).collect(),
            },
            Change::Sysctl {
                key: KEY.into(),
                from: None,
                to: to.into(),
                safe: true,
            },
        ]
    }

    fn run(host: &Host, to: &str, checker: &[&str]) -> Result<Report> {
        let c = changes(host, to, checker);
        let refs: Vec<&Change> = c.iter().collect();
        apply(host, &refs, false)
    }

    fn live(d: &tempfile::TempDir) -> String {
        fs::read_to_string(d.path().join("proc/sys/net/core/somaxconn")).unwrap()
    }

    fn file(d: &tempfile::TempDir) -> String {
        fs::read_to_string(d.path().join("etc/sysctl.d/10-a.conf")).unwrap()
    }

    /// Checkers for a tree run in the sandbox, which needs private mount namespaces and
    /// the host's /etc/sysctl.d to bind the tree's copy over.
    fn sandbox() -> bool {
        let ok = std::path::Path::new("/etc/sysctl.d").is_dir()
            && std::process::Command::new("unshare")
                .args(["-m", "true"])
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("CI").is_err(),
                "the checker sandbox is required in CI"
            );
            eprintln!("SKIPPED: no private mount namespaces or no /etc/sysctl.d here");
        }
        ok
    }

    #[test]
    fn a_failed_apply_is_recorded_as_failed_and_the_default_rollback_skips_it() {
        if !sandbox() {
            return;
        }
        let (d, host) = tree();
        let first = run(&host, "8192", &["true"]).unwrap();
        assert!(
            first
                .applied
                .iter()
                .any(|a| a.to_string() == "validated: true"),
            "{first:?}"
        );
        let e = run(&host, "16384", &["false"]).unwrap_err().to_string();
        assert!(
            e.contains("false rejects the edited /etc/sysctl.d/10-a.conf"),
            "{e}"
        );
        assert!(
            e.contains("the apply failed and was rolled back (restored /etc/sysctl.d/10-a.conf"),
            "{e}"
        );
        assert_eq!(
            (file(&d), live(&d)),
            ("net.core.somaxconn = 8192\n".into(), "8192\n".into())
        );
        let (dir, m) = find_backup(&host.root, None).unwrap();
        assert_eq!(Some(dir.clone()), first.backup_dir);
        assert_eq!(m.stage, Stage::Done);
        let failed = backup_ids(&host.root).unwrap().last().unwrap().clone();
        let f = load(&host.root, &format!("{BACKUP_DIR}/{failed}"))
            .unwrap()
            .unwrap();
        assert_eq!(f.stage, Stage::Failed);
        assert!(f.error.unwrap().contains("rejects"));
        // the default rollback undoes the first apply, and says what it restored
        let r = rollback(&host, &dir, m, false).unwrap();
        assert_eq!(
            r.applied.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            [
                format!("rolled back {dir}"),
                format!("restored {FILE} from {dir}{FILE}"),
                format!("{KEY} = 4096 (live)"),
            ]
        );
        assert_eq!(
            (file(&d), live(&d)),
            ("net.core.somaxconn = 4096\n".into(), "4096\n".into())
        );
    }

    #[test]
    fn a_live_value_changed_since_the_apply_is_left_unless_forced() {
        let (d, host) = tree();
        run(&host, "8192", &[]).unwrap();
        fs::write(d.path().join("proc/sys/net/core/somaxconn"), "1000\n").unwrap();
        let (dir, m) = find_backup(&host.root, None).unwrap();
        let r = rollback(&host, &dir, m.clone(), false).unwrap();
        assert_eq!(live(&d), "1000\n");
        assert_eq!(file(&d), "net.core.somaxconn = 4096\n");
        assert_eq!(
            r.skipped.iter().map(|k| k.what.clone()).collect::<Vec<_>>(),
            [format!(
                "{KEY} = 1000 (live): left as it is: changed since the apply set 8192; --force restores 4096"
            )]
        );
        // forced, it is restored
        fs::write(
            d.path().join("etc/sysctl.d/10-a.conf"),
            "net.core.somaxconn = 8192\n",
        )
        .unwrap();
        let r = rollback(&host, &dir, m, true).unwrap();
        assert!(
            r.applied
                .iter()
                .any(|a| a.to_string() == format!("{KEY} = 4096 (live)")),
            "{r:?}"
        );
        assert_eq!(live(&d), "4096\n");
    }

    #[test]
    fn a_corrupt_backup_is_refused_by_name_and_nothing_is_written() {
        let (d, host) = tree();
        let r = run(&host, "8192", &[]).unwrap();
        let copy = r.backups[0].backup.clone().unwrap();
        fs::write(host.root.host(&copy), "net.core.somaxconn = 40").unwrap();
        let (dir, m) = find_backup(&host.root, None).unwrap();
        let e = rollback(&host, &dir, m, false).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{copy}: backup is corrupt (its sha256 is not the original's); refusing to roll back; nothing was changed"
            )
        );
        assert_eq!(
            (file(&d), live(&d)),
            ("net.core.somaxconn = 8192\n".into(), "8192\n".into())
        );
    }

    #[test]
    fn a_run_that_crashed_while_checking_is_checked_again_by_the_next_apply() {
        if !sandbox() {
            return;
        }
        let (_d, host) = tree();
        let r = run(&host, "8192", &["false"]).unwrap_err();
        assert!(r.to_string().contains("rejects"));
        // as if killed while `false` ran: stage `checking`, its edit on disk
        let ok = run(&host, "8192", &["true"]).unwrap();
        let dir = ok.backup_dir.unwrap();
        let path = format!("{dir}/manifest.json");
        let mut m = load(&host.root, &dir).unwrap().unwrap();
        m.stage = Stage::Checking;
        m.files[0].checker = vec!["false".into()];
        save_manifest(&host.root, &path, &m).unwrap();
        let e = settle(&host).unwrap_err().to_string();
        assert!(
            e.contains("false rejects the edited /etc/sysctl.d/10-a.conf"),
            "{e}"
        );
        assert!(
            e.contains("crashed before checking this edit; run `qfix rollback"),
            "{e}"
        );
        assert_eq!(
            load(&host.root, &dir).unwrap().unwrap().stage,
            Stage::Checking
        );
        m.files[0].checker = vec!["true".into()];
        save_manifest(&host.root, &path, &m).unwrap();
        let notes = settle(&host).unwrap();
        assert!(
            notes[0].starts_with("validated: true (checked again"),
            "{notes:?}"
        );
        assert!(
            notes[1].contains("an earlier apply was interrupted (at checking)"),
            "{notes:?}"
        );
        assert_eq!(
            load(&host.root, &dir).unwrap().unwrap().stage,
            Stage::Interrupted
        );
        assert!(settle(&host).unwrap().is_empty());
    }

    /// The host's checker run for a tree writes nothing outside it: /var/log, /var/lib,
    /// /run and /tmp are scratch overlays, / is read-only; the bound config dir is the tree's.
    #[test]
    fn a_checker_run_for_a_tree_writes_nothing_outside_it() {
        if !sandbox() {
            return;
        }
        let (d, host) = tree();
        let probes = [
            "/var/log/qfix-probe",
            "/var/lib/qfix-probe",
            "/tmp/qfix-probe",
            "/run/qfix-probe",
            "/etc/qfix-probe",
            "/qfix-probe",
        ];
        let script = format!(
            "for p in {}; do echo x > $p 2>/dev/null; done; echo y > /etc/sysctl.d/qfix-probe",
            probes.join(" ")
        );
        let argv: Vec<String> = ["sh", "-c", &script]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let note = run_checker(&host.root, FILE, &argv).unwrap().unwrap();
        assert!(note.starts_with("validated: sh -c"), "{note}");
        for p in probes {
            assert!(
                !std::path::Path::new(p).exists(),
                "the checker wrote {p} on the host"
            );
        }
        assert!(!std::path::Path::new("/etc/sysctl.d/qfix-probe").exists());
        // the tree's own directory, bound over /etc/sysctl.d, took the write
        assert_eq!(
            fs::read_to_string(d.path().join("etc/sysctl.d/qfix-probe")).unwrap(),
            "y\n"
        );
    }

    #[test]
    fn leftovers_of_crashed_runs_are_removed_and_said() {
        let (d, host) = tree();
        let r = run(&host, "8192", &[]).unwrap();
        let dir = r.backup_dir.unwrap();
        let mut m = load(&host.root, &dir).unwrap().unwrap();
        m.stage = Stage::Writing;
        save_manifest(&host.root, &format!("{dir}/manifest.json"), &m).unwrap();
        let temp = d.path().join("etc/sysctl.d/.qfix-10-a.conf.1.2.tmp");
        fs::write(&temp, "net.core.somaxconn = 8").unwrap();
        let orphan = format!("{BACKUP_DIR}/2020-01-01T00:00:00Z");
        fs::create_dir_all(host.root.host(&orphan).join("etc")).unwrap();
        let notes = settle(&host).unwrap();
        assert!(!temp.exists() && !host.root.host(&orphan).exists());
        let all = notes.join("\n");
        assert!(
            all.contains(&format!(
                "removed {orphan}: an apply crashed before its journal"
            )),
            "{all}"
        );
        assert!(
            all.contains("removed /etc/sysctl.d/.qfix-10-a.conf.1.2.tmp: a temp file"),
            "{all}"
        );
        assert!(
            all.contains("an earlier apply was interrupted (at writing)"),
            "{all}"
        );
    }

    #[test]
    fn backup_ids_sort_in_time_order() {
        let mut ids = vec![
            "2024-01-01T00:00:01Z",
            "2024-01-01T00:00:00Z-10",
            "2024-01-01T00:00:00Z-9",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z-1",
            "2024-01-01T00:00:00.5Z",
            "2024-01-01T00:00:00.000000001Z",
            "2024-01-01T00:00:00.25Z",
        ];
        ids.sort_by_key(|n| id_key(n));
        assert_eq!(
            ids,
            [
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00Z-1",
                "2024-01-01T00:00:00Z-9",
                "2024-01-01T00:00:00Z-10",
                "2024-01-01T00:00:00.000000001Z",
                "2024-01-01T00:00:00.25Z",
                "2024-01-01T00:00:00.5Z",
                "2024-01-01T00:00:01Z",
            ]
        );
        let (a, b) = (new_id(), new_id());
        assert!(id_key(&a) <= id_key(&b), "{a} {b}");
        assert_eq!(a.len(), "2024-01-01T00:00:00.000000000Z".len());
    }
}
