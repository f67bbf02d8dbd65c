//! Everything qfix knows about a host, read once: the sysctl files and their boot resolution,
//! the live sysctl values, the kernel, each service's config files and listeners, the policy
//! and the rules. All reading happens in `Snapshot::read`; everything after it (rules, fixes,
//! plans, listings) is a pure function of the snapshot.
//!
//! The live part (`LiveState`) can also come from a file recorded on the host with `qfix
//! snapshot`: `--snapshot host.json` then judges a configuration checkout against it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::host::Host;
use crate::kernel::{self, Evidence};
use crate::limits::{self, Version};
use crate::logs::{self, LogEvidence};
use crate::policy::{self, Policy};
use crate::root::Root;
use crate::rules::{self, Rule};
use crate::services::{self, Scan};
use crate::sysctl::boot::{Boot, Layout};
use crate::sysctl::{is_glob, normalize_key};

/// The version of the `qfix snapshot` file format; a file of another version is refused.
pub const FORMAT_VERSION: u32 = 1;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub root: PathBuf,
    /// `--policy FILE` (host path); default: /etc/qfix/policy.toml in the root.
    pub policy: Option<PathBuf>,
    pub rules_dir: Option<PathBuf>,
    /// Keys or globs whose live values are wanted besides the ones the rules judge
    /// (--set, blame's arguments).
    pub keys: Vec<String>,
    /// A recorded live state (`--snapshot`) to judge against instead of the root's /proc.
    pub recorded: Option<LiveState>,
    /// Read the kernel's sockets and counters (plan, listeners, apply, snapshot).
    pub evidence: bool,
    /// Take the counters twice this far apart (`--sample SECS`; zero: once).
    pub sample: Duration,
    /// Read the tails of the services' logs (with the evidence), this much of each.
    pub logs: Option<logs::Options>,
}

#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Host path of the root.
    pub root: PathBuf,
    /// Every file read, by in-root path (`None`: it did not exist).
    pub files: BTreeMap<String, Option<Arc<str>>>,
    /// Every directory listed, glob expanded and link followed, with what it gave.
    pub lookups: Vec<(crate::host::Lookup, Vec<String>)>,
    /// Permission bits of every file read and directory listed.
    pub modes: BTreeMap<String, u32>,
    /// What systemd-sysctl would read at boot.
    pub sysctl: Layout,
    /// What it would set.
    pub boot: Boot,
    pub services: Scan,
    pub policy: Policy,
    #[serde(skip)]
    pub rules: Vec<Rule>,
    /// `None`: offline (no /proc/sys under the root, and no recorded state).
    pub live: Option<LiveState>,
    /// Live values that could not be read (the rest of the snapshot is still good).
    pub errors: Vec<Error>,
    /// The day it was read (days since 1970-01-01), for waivers that expire.
    pub today: i64,
}

/// The running system as qfix saw it: live sysctl values and who the host is. Recorded by
/// `qfix snapshot`, with a format version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct LiveState {
    pub format_version: u32,
    pub qfix_version: String,
    /// When it was read, in seconds since the epoch, and as RFC 3339.
    pub taken_unix: u64,
    pub taken_at: String,
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    pub kernel_release: Option<String>,
    /// Every key under /proc/sys was listed: a key not in `sysctls` does not exist.
    pub complete: bool,
    /// Values read, by canonical key; `None`: the key does not exist.
    pub sysctls: BTreeMap<String, Option<String>>,
    /// Keys that exist but cannot be read (write-only, permission).
    #[serde(default)]
    pub unreadable: BTreeSet<String>,
    /// The kernel's sockets, queues and counters, per network namespace (`None`: not read,
    /// or no /proc to read them from).
    #[serde(default)]
    pub evidence: Option<Evidence>,
    /// What the services' logs said (`None`: not read).
    #[serde(default)]
    pub logs: Option<LogEvidence>,
}

impl LiveState {
    /// An empty state taken now; `complete` when every key will be recorded.
    pub fn new(complete: bool) -> LiveState {
        let now = SystemTime::now();
        LiveState {
            format_version: FORMAT_VERSION,
            qfix_version: env!("CARGO_PKG_VERSION").to_string(),
            taken_unix: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            taken_at: humantime::format_rfc3339_seconds(now).to_string(),
            hostname: None,
            machine_id: None,
            kernel_release: None,
            complete,
            sysctls: BTreeMap::new(),
            unreadable: BTreeSet::new(),
            evidence: None,
            logs: None,
        }
    }

    /// The value of a concrete key, when it exists and was read.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.sysctls.get(key)?.as_deref()
    }

    /// Whether the key exists on the running kernel.
    pub fn exists(&self, key: &str) -> bool {
        self.value(key).is_some() || self.unreadable.contains(key)
    }

    /// The existing keys a glob matches, among those read.
    pub fn expand(&self, pattern: &str) -> Vec<String> {
        let Some(glob) = crate::sysctl::Glob::new(pattern) else {
            return Vec::new();
        };
        // only keys that start with the pattern's literal part can match
        let prefix = &pattern[..pattern.find(['*', '?', '[']).unwrap_or(pattern.len())];
        self.sysctls
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, v)| v.is_some() && glob.matches(k))
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn kernel(&self) -> Option<Version> {
        limits::parse_version(self.kernel_release.as_deref()?)
    }

    /// The host as a warning names it: "web01 (6.1.0-18-amd64)".
    pub fn host_name(&self) -> String {
        let name = self.hostname.as_deref().unwrap_or("unknown host");
        match &self.kernel_release {
            Some(k) => format!("{name} ({k})"),
            None => name.to_string(),
        }
    }

    /// A recorded state from `qfix snapshot`'s JSON; another format version is refused.
    pub fn parse(path: &str, text: &str) -> Result<LiveState, Error> {
        #[derive(Deserialize)]
        struct Version {
            format_version: Option<u32>,
        }
        let at =
            |e: serde_json::Error| Error::at(path, e.line(), format!("not a qfix snapshot: {e}"));
        let v: Version = serde_json::from_str(text).map_err(at)?;
        match v.format_version {
            Some(FORMAT_VERSION) => serde_json::from_str(text).map_err(at),
            Some(other) => Err(Error::msg(format!(
                "{path}: snapshot format version {other}; this qfix ({}) reads version {FORMAT_VERSION}: record it again with this qfix",
                env!("CARGO_PKG_VERSION")
            ))),
            None => Err(Error::msg(format!(
                "{path}: no format_version: not a qfix snapshot"
            ))),
        }
    }

    /// How old the state is, when its clock is behind ours.
    pub fn age(&self) -> Option<Duration> {
        let taken = UNIX_EPOCH + Duration::from_secs(self.taken_unix);
        SystemTime::now().duration_since(taken).ok()
    }
}

impl Snapshot {
    /// Read the host: the services' configs on one thread; beside them policy and rules
    /// (they say which live values matter), the sysctl files, the live values and the
    /// kernel's evidence; then the logs the services name.
    pub fn read(req: &Request) -> Result<Snapshot, Vec<Error>> {
        let root = Root::new(&req.root).map_err(|e| vec![e])?;
        let host = Host::new(root);
        // the logs the services name are read on their thread too, once they are known
        let read_logs = req
            .logs
            .filter(|_| req.evidence && req.recorded.is_none() && host.live.is_some());
        let (system, (services, logs)) = std::thread::scope(|s| {
            let services = s.spawn(|| {
                let services = {
                    let _t = crate::trace::phase("services");
                    services::scan(&host)
                };
                let logs = read_logs.map(|opts| {
                    let _t = crate::trace::phase("logs");
                    LogEvidence::read(&host, &services.facts, &opts)
                });
                (services, logs)
            });
            let system = read_system(&host, req);
            let services = services
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (system, services)
        });
        let System {
            policy,
            rules,
            sysctl,
            boot,
            mut live,
            errors,
        } = system?;
        if let Some(l) = live.as_mut() {
            if logs.is_some() {
                l.logs = logs;
            }
        }
        Ok(Snapshot {
            root: host.root.base().to_path_buf(),
            files: host.take_files(),
            lookups: host.take_lookups().into_iter().collect(),
            modes: host.take_modes(),
            sysctl,
            boot,
            services,
            policy,
            rules,
            live,
            errors,
            today: (SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                / 86_400) as i64,
        })
    }

    pub fn offline(&self) -> bool {
        self.live.is_none()
    }

    /// The running kernel's version, when known: the live (or recorded) kernel.osrelease,
    /// else nothing.
    pub fn kernel(&self) -> Option<Version> {
        self.live.as_ref()?.kernel()
    }

    /// The value the kernel gives a key nothing sets at boot, where it is known: somaxconn by
    /// kernel version, the others from the live-sysctl-not-persisted rule's table.
    pub fn kernel_default(&self, key: &str) -> Option<String> {
        if key == limits::SOMAXCONN {
            return self
                .kernel()
                .map(|k| limits::default_somaxconn(k).to_string());
        }
        self.rules.iter().find_map(|r| match &r.kind {
            rules::Kind::LiveSysctlNotPersisted(p) => {
                p.default_of(key, self.kernel()).map(str::to_string)
            }
            _ => None,
        })
    }

    /// The text of a file read into the snapshot (`None`: missing or never read).
    pub fn text(&self, path: &str) -> Option<&Arc<str>> {
        self.files.get(path)?.as_ref()
    }
}

/// The kernel's sockets and counters under the root's /proc: the running kernel's (netlink,
/// every network namespace, a sample `wait` apart) when it is a procfs, else what a tree of
/// /proc files holds (then nothing is sampled); `None` without a /proc/net.
pub fn evidence(root: &Root, wait: Duration) -> Option<Evidence> {
    let (proc_root, opts) = kernel_source(root)?;
    Some(if opts.netlink {
        Evidence::sample(&proc_root, &opts, wait)
    } else {
        Evidence::collect(&proc_root, &opts)
    })
}

/// Where the kernel's evidence is read from under the root, and how: the running kernel's
/// procfs (netlink, every namespace), or a tree of /proc files; `None` without a /proc/net.
pub fn kernel_source(root: &Root) -> Option<(PathBuf, kernel::Options)> {
    let proc_root = root.host("/proc");
    if is_procfs(&proc_root) {
        return Some((proc_root, kernel::Options::live()));
    }
    root.is_dir("/proc/net")
        .then(|| (proc_root, kernel::Options::files()))
}

/// Whether a path is a mounted procfs (the running kernel's, not a tree of files).
fn is_procfs(path: &Path) -> bool {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    // f_type is i64 on x86_64 and another integer elsewhere
    #[allow(clippy::unnecessary_cast)]
    let procfs = |st: rustix::fs::StatFs| st.f_type as i64 == PROC_SUPER_MAGIC;
    rustix::fs::statfs(path).is_ok_and(procfs)
}

/// The live state of a host for `qfix snapshot`: every key under /proc/sys, the kernel's
/// sockets and counters (sampled `wait` apart), and what the services' logs say.
pub fn record(root: &Path, wait: Duration, log: &logs::Options) -> Result<LiveState, Error> {
    let host = Host::new(Root::new(root)?);
    let Some(live) = &host.live else {
        return Err(Error::msg(format!(
            "{}: no /proc/sys under this root: nothing to record",
            root.display()
        )));
    };
    let mut state = LiveState::new(true);
    for (key, value) in live.all() {
        match value {
            Some(v) => {
                state.sysctls.insert(key, Some(v));
            }
            None => {
                state.unreadable.insert(key);
            }
        }
    }
    describe(&host, &mut state);
    state.evidence = evidence(&host.root, wait);
    let services = services::scan(&host);
    state.logs = Some(LogEvidence::read(&host, &services.facts, log));
    Ok(state)
}

/// What [`Snapshot::read`] reads beside the services.
struct System {
    policy: Policy,
    rules: Vec<Rule>,
    sysctl: Layout,
    boot: Boot,
    live: Option<LiveState>,
    errors: Vec<Error>,
}

/// Policy and rules, the sysctl files and their boot resolution, the live values the rules,
/// the policy and the request want, and the kernel's evidence.
fn read_system(host: &Host, req: &Request) -> Result<System, Vec<Error>> {
    let policy = {
        let _t = crate::trace::phase("policy");
        read_policy(host, req.policy.as_deref())
    };
    let rules = {
        let _t = crate::trace::phase("rules");
        rules::load(host, req.rules_dir.as_deref())
    };
    let (policy, rules) = match (policy, rules) {
        (Ok(p), Ok(r)) => (p, r),
        (p, r) => {
            let mut errs = p.err().unwrap_or_default();
            errs.extend(r.err().unwrap_or_default());
            return Err(errs);
        }
    };
    let (sysctl, boot) = {
        let _t = crate::trace::phase("sysctl");
        let layout = Layout::read(host);
        let boot = Boot::resolve(&layout, &BTreeMap::new());
        (layout, boot)
    };
    let mut errors = Vec::new();
    let live = match &req.recorded {
        Some(state) => Some(state.clone()),
        None => host.live.as_ref().map(|live| {
            let _t = crate::trace::phase("live");
            let mut wanted: Vec<String> = boot.keys().iter().map(|k| k.to_string()).collect();
            wanted.extend(rules::live_keys(&rules));
            wanted.extend(policy.sysctl.iter().map(|p| p.key.clone()));
            wanted.extend(req.keys.iter().map(|k| normalize_key(k)));
            read_live(host, live, &wanted, &mut errors)
        }),
    };
    let live = live.map(|mut l| {
        if l.kernel_release.is_none() && host.root.is_host() {
            l.kernel_release = nix::sys::utsname::uname()
                .ok()
                .map(|u| u.release().to_string_lossy().into_owned());
        }
        if req.evidence && req.recorded.is_none() {
            let _t = crate::trace::phase("evidence");
            l.evidence = evidence(&host.root, req.sample);
        }
        l
    });
    Ok(System {
        policy,
        rules,
        sysctl,
        boot,
        live,
        errors,
    })
}

/// The live values of `wanted` keys and globs (globs expanded over /proc/sys).
fn read_live(
    host: &Host,
    live: &crate::sysctl::live::Live,
    wanted: &[String],
    errors: &mut Vec<Error>,
) -> LiveState {
    let mut state = LiveState::new(false);
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for k in wanted {
        if is_glob(k) {
            keys.extend(live.expand(k));
        } else {
            keys.insert(k.clone());
        }
    }
    keys.insert("kernel.osrelease".into());
    keys.insert("kernel.hostname".into());
    for key in keys {
        match live.read(&key) {
            Ok(Some(v)) => {
                state.sysctls.insert(key, Some(v));
            }
            Ok(None) if live.exists(&key) => {
                state.unreadable.insert(key);
            }
            Ok(None) => {
                state.sysctls.insert(key, None);
            }
            Err(e) => {
                errors.push(e);
                state.unreadable.insert(key);
            }
        }
    }
    describe(host, &mut state);
    state
}

/// Who the host is: kernel release and host name (from its /proc/sys), machine id.
fn describe(host: &Host, state: &mut LiveState) {
    state.kernel_release = state.value("kernel.osrelease").map(str::to_string);
    state.hostname = state.value("kernel.hostname").map(str::to_string);
    state.machine_id = host
        .root
        .read_opt("/etc/machine-id")
        .ok()
        .flatten()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
}

fn read_policy(host: &Host, path: Option<&Path>) -> Result<Policy, Vec<Error>> {
    match path {
        Some(p) => {
            let text =
                crate::root::read_path(p, crate::root::MAX_FILE_BYTES).map_err(|e| vec![e])?;
            Policy::parse(&p.display().to_string(), &text)
        }
        None => match host.read(policy::DEFAULT_PATH) {
            Ok(Some(text)) => Policy::parse(policy::DEFAULT_PATH, &text),
            Ok(None) => Ok(Policy::default()),
            Err(e) => Err(vec![e]),
        },
    }
}
