//! A plan: findings, then the changes that move the host toward its desired state (file
//! edits as diffs, live sysctl writes), then the restarts they need. A plan proposes changes
//! only toward a desired value (--set, the policy, or a rule's fix); a drift with no desired
//! value stays a finding.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::edit::{self, Edit};
use crate::error::Error;
use crate::heap;
use crate::host::{Fingerprints, Host};
use crate::policy::{self, Policy, Want};
use crate::root::{self, Root};
use crate::rules::{self, Facts, Finding, Proposal, Rule};
use crate::services::{self, Action, Listener, Location, Scan};
use crate::sysctl::boot::{Boot, DIRS};
use crate::sysctl::{norm_value, same_value};

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub root: PathBuf,
    pub sets: Vec<(String, String)>,
    /// `--policy FILE` (host path); default: /etc/qfix/policy.toml in the root.
    pub policy: Option<PathBuf>,
    pub rules_dir: Option<PathBuf>,
    pub lower_backlog: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Change {
    Sysctl {
        key: String,
        from: Option<String>,
        to: String,
        safe: bool,
    },
    File {
        path: String,
        diff: String,
        safe: bool,
        reason: String,
        /// Content before (None: the file is created) and after.
        old: Option<String>,
        new: String,
        /// The service's own config checker to run on the result (empty: none).
        #[serde(default)]
        checker: Vec<String>,
    },
}

impl Change {
    pub fn safe(&self) -> bool {
        match self {
            Change::Sysctl { safe, .. } | Change::File { safe, .. } => *safe,
        }
    }

    /// One line for prompts and results.
    pub fn label(&self) -> String {
        match self {
            Change::Sysctl { key, from, to, .. } => format!(
                "live: {key} {} -> {to}",
                from.as_deref()
                    .map(norm_value)
                    .unwrap_or_else(|| "(missing)".into())
            ),
            Change::File {
                path, old, reason, ..
            } => {
                let verb = if old.is_some() { "edit" } else { "create" };
                format!("file: {verb} {path} ({reason})")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Restart {
    pub service: String,
    pub unit: String,
    pub action: Action,
    pub reason: String,
    /// Which change calls for it (a file path or a sysctl key), so an apply of only some
    /// changes lists only the restarts it made necessary.
    #[serde(default)]
    pub causes: Vec<Cause>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cause {
    pub change: String,
    pub action: Action,
    pub reason: String,
}

impl Restart {
    fn from_causes(service: &str, unit: &str, causes: Vec<Cause>) -> Restart {
        let action = if causes.iter().any(|c| c.action == Action::Restart) {
            Action::Restart
        } else {
            Action::Reload
        };
        // a busy host has thousands of sockets per service: name a few, count the rest
        let reasons: Vec<&str> = causes.iter().map(|c| c.reason.as_str()).collect();
        let reason = if reasons.len() <= 4 {
            reasons.join("; ")
        } else {
            format!(
                "{}; and {} more",
                reasons[..3].join("; "),
                reasons.len() - 3
            )
        };
        Restart {
            service: service.into(),
            unit: unit.into(),
            action,
            reason,
            causes,
        }
    }

    /// This restart as far as the applied changes call for it (None: not at all).
    pub fn for_applied(&self, applied: &dyn Fn(&str) -> bool) -> Option<Restart> {
        let causes: Vec<Cause> = self
            .causes
            .iter()
            .filter(|c| applied(&c.change))
            .cloned()
            .collect();
        (!causes.is_empty()).then(|| Restart::from_causes(&self.service, &self.unit, causes))
    }

    pub fn verb(&self) -> &'static str {
        match self.action {
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub offline: bool,
    #[serde(skip)]
    pub findings: Vec<Finding>,
    pub changes: Vec<Change>,
    pub restarts: Vec<Restart>,
    pub fingerprints: Fingerprints,
    /// Per-file problems that did not stop the run but make it exit 1 (and block apply).
    #[serde(skip)]
    pub errors: Vec<Error>,
    /// Findings about input that cannot be parsed: these also block apply.
    #[serde(skip)]
    pub bad_input: usize,
}

impl Plan {
    pub fn commands(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter_map(|c| match c {
                Change::Sysctl { key, to, .. } => {
                    Some(format!("sysctl -w {key}={}", shell_word(to)))
                }
                Change::File { .. } => None,
            })
            .collect()
    }
}

fn shell_word(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// Everything read from the host that a plan is computed from.
pub struct State {
    pub host: Host,
    pub policy: Policy,
    pub rules: Vec<Rule>,
    pub boot: Boot,
    pub scan: Scan,
    pub kernel: Option<(u32, u32)>,
}

impl State {
    pub fn load(inputs: &Inputs) -> Result<State, Vec<Error>> {
        let root = Root::new(&inputs.root).map_err(|e| vec![e])?;
        let host = Host::new(root);
        // On a busy host three jobs take milliseconds each: nginx's config (on its own
        // thread from the start), the live value of every persisted key (on another, once
        // the sysctl files tell which keys), and the other services (here). The live values
        // are read by chunks, and the other two threads take chunks too once their own job
        // is done, so the three end together. nginx runs on another core than this thread,
        // the live reader on this one (see `heap::spawn_apart`).
        let keys: OnceLock<(Vec<String>, Vec<Range<usize>>)> = OnceLock::new();
        let next = AtomicUsize::new(0);
        let help = || match (&host.live, keys.get()) {
            (Some(l), Some((keys, chunks))) => l.read_shared(keys, chunks, &next),
            _ => Vec::new(),
        };
        // nginx reads through a host of its own: no lock shared with this thread's reads
        let side = host.side();
        let (policy, rules, boot, scan, values) = std::thread::scope(|s| {
            let mine = services::Scan::here();
            // nginx's thread ends after the live reader's: a thread's arena is handed to the
            // next new thread when it exits, the last freed first, and the findings' thread
            // (`build`) then gets nginx's, where the parse's megabytes are free again, rather
            // than the live reader's, with none
            let (to_nginx, live_handle) = std::sync::mpsc::channel();
            let side = &side;
            let nginx = heap::spawn_apart(s, move || {
                let scan = services::scan_nginx(side, mine);
                let mut values = help();
                if let Ok(live) = live_handle.recv() {
                    values.extend(heap::join(live));
                }
                (scan, values)
            });
            let policy = load_policy(&host, inputs.policy.as_deref())?;
            let rules = {
                let _t = crate::trace::phase("rules");
                rules::load(&host, inputs.rules_dir.as_deref())?
            };
            let boot = {
                let _t = crate::trace::phase("sysctl");
                Boot::resolve(&host, &BTreeMap::new())
            };
            // the keys are known before any thread looks for them: one that looked too early
            // would not help
            let live = host.live.as_ref().map(|l| {
                let (keys, chunks) = keys.get_or_init(|| {
                    let _t = crate::trace::phase("keys");
                    let mut keys = persisted_keys(l, boot.keys());
                    let chunks = crate::sysctl::live::Live::chunks(&mut keys);
                    (keys, chunks)
                });
                let next = &next;
                heap::spawn_beside(s, move || {
                    let _t = crate::trace::phase("live");
                    l.read_shared(keys, chunks, next)
                })
            });
            if let Some(live) = live {
                // the receiver is nginx's thread, alive until it takes this
                let _ = to_nginx.send(live);
            }
            drop(to_nginx);
            let rest = {
                let _t = crate::trace::phase("services");
                services::scan_others(&host)
            };
            let mut values = help();
            let (nginx, helped) = heap::join(nginx);
            values.extend(helped);
            Ok::<_, Vec<Error>>((policy, rules, boot, services::merge(nginx, rest), values))
        })?;
        host.absorb(side);
        if let Some((keys, _)) = keys.into_inner() {
            host.remember_live(keys, values);
        }
        let kernel = kernel_version(&host);
        Ok(State {
            host,
            policy,
            rules,
            boot,
            scan,
            kernel,
        })
    }

    pub fn somaxconn_sides(&self) -> Vec<(&'static str, Option<i64>, Option<Location>)> {
        let (wants, planned) = (BTreeMap::new(), BTreeMap::new());
        rules::kinds::side_values(
            &self.facts(&wants, false, &planned),
            rules::kinds::SOMAXCONN,
        )
    }

    fn facts<'a>(
        &'a self,
        wants: &'a BTreeMap<String, (Want, Option<Location>)>,
        lower: bool,
        planned: &'a BTreeMap<String, String>,
    ) -> Facts<'a> {
        Facts {
            host: &self.host,
            boot: &self.boot,
            policy: &self.policy,
            wants,
            listeners: &self.scan.listeners,
            problems: &self.scan.problems,
            kernel: self.kernel,
            lower_backlog: lower,
            planned,
        }
    }
}

/// Concrete keys the persisted files set (globs expanded against /proc/sys).
/// Every key the sysctl files assign, globs expanded over the live keys.
fn persisted_keys(live: &crate::sysctl::live::Live, assigned: &[Arc<str>]) -> Vec<String> {
    let mut keys = Vec::new();
    for k in assigned {
        if crate::sysctl::is_glob(k) {
            keys.extend(live.expand(k));
        } else {
            keys.push(k.to_string());
        }
    }
    keys
}

fn load_policy(host: &Host, path: Option<&std::path::Path>) -> Result<Policy, Vec<Error>> {
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

fn kernel_version(host: &Host) -> Option<(u32, u32)> {
    if let Ok(Some(v)) = host.live_value("kernel.osrelease") {
        return rules::kinds::parse_version(v.trim());
    }
    if host.root.is_host() {
        let u = nix::sys::utsname::uname().ok()?;
        return rules::kinds::parse_version(&u.release().to_string_lossy());
    }
    None
}

/// Largest somaxconn the running kernel takes (65535 before 4.4; see rule QF006).
fn kernel_max_somaxconn(kernel: Option<(u32, u32)>) -> i64 {
    match kernel {
        Some(k) if k < (4, 4) => 65535,
        _ => i32::MAX as i64,
    }
}

/// Edits to one file, collected before rendering the new text.
struct FileEdits {
    old: Option<String>,
    edits: Vec<Edit>,
    safe: bool,
    reasons: Vec<String>,
    checker: Vec<String>,
}

impl FileEdits {
    fn new(old: Option<String>) -> FileEdits {
        FileEdits {
            old,
            edits: Vec::new(),
            safe: true,
            reasons: Vec::new(),
            checker: Vec::new(),
        }
    }
}

/// Desired state per key: the policy and --set, tightened by every rule proposal (--set
/// stays exact), and whether all of it is safe unattended.
fn merge_sysctl(
    wants: &BTreeMap<String, (Want, Option<Location>)>,
    proposals: &[Proposal],
) -> BTreeMap<String, (Want, bool)> {
    let mut merged: BTreeMap<String, (Want, bool)> = wants
        .iter()
        .map(|(k, (w, _))| (k.clone(), (w.clone(), true)))
        .collect();
    for p in proposals {
        if let Proposal::Sysctl {
            key, want, safe, ..
        } = p
        {
            let e = merged
                .entry(key.clone())
                .or_insert_with(|| (Want::default(), true));
            if e.0.exact.is_none() {
                e.0.merge(want);
                e.1 &= *safe;
            }
        }
    }
    merged
}

/// The value each desired key should hold, judged from its live value (else its boot value).
fn targets(
    state: &State,
    merged: &BTreeMap<String, (Want, bool)>,
    max_somaxconn: i64,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, (want, _)) in merged {
        let mut want = want.clone();
        if key == rules::kinds::SOMAXCONN && want.exact.is_none() {
            want.min = want.min.map(|m| m.min(max_somaxconn));
            want.max = Some(want.max.map_or(max_somaxconn, |m| m.min(max_somaxconn)));
        }
        let live = state.host.live_value(key).ok().flatten();
        let boot = state.boot.value(key).map(str::to_string);
        if let Some(t) = want.target(live.as_deref().or(boot.as_deref())) {
            out.insert(key.clone(), t);
        }
    }
    out
}

/// Backlog edits per listener: lowering (the user's strategy) wins over raising; among
/// raises the largest.
fn merge_backlog(state: &State, proposals: &[Proposal]) -> BTreeMap<usize, (i64, bool)> {
    let mut backlog: BTreeMap<usize, (i64, bool)> = BTreeMap::new();
    for p in proposals {
        if let Proposal::Backlog {
            listener,
            value,
            safe,
            ..
        } = p
        {
            let req = state.scan.listeners[*listener].requested.unwrap_or(0);
            let e = backlog.entry(*listener).or_insert((*value, true));
            e.0 = if *value < req || e.0 < req {
                e.0.min(*value)
            } else {
                e.0.max(*value)
            };
            e.1 &= *safe;
        }
    }
    backlog
}

pub fn build(inputs: &Inputs, state: &State) -> Plan {
    let _t = crate::trace::phase("plan");
    let mut errors: Vec<Error> = state.boot.errors.clone();
    errors.extend(state.scan.errors.iter().cloned());

    // desired values: the policy, then --set (exact) on top
    let mut wants: BTreeMap<String, (Want, Option<Location>)> = BTreeMap::new();
    for p in &state.policy.sysctl {
        let origin = state.policy.path.as_ref().map(|path| Location {
            path: path.clone().into(),
            line: p.line,
        });
        wants.insert(p.key.clone(), (p.want.clone(), origin));
    }
    for (k, v) in &inputs.sets {
        let key = crate::sysctl::normalize_key(k);
        wants.insert(
            key,
            (
                Want {
                    exact: Some(v.trim().to_string()),
                    ..Want::default()
                },
                None,
            ),
        );
    }
    let none = BTreeMap::new();
    let facts = state.facts(&wants, inputs.lower_backlog, &none);
    // On a busy host the findings are thousands of messages, while the fixes need only the
    // proposals, which a quiet run gives cheaply: the two are built side by side.
    std::thread::scope(|s| {
        let evaluating = heap::spawn_apart(s, || {
            let _t = crate::trace::phase("evaluate");
            rules::evaluate(&state.rules, &facts)
        });
        let proposals = rules::proposals(&state.rules, &facts);
        let mut plan = fixes(inputs, state, &wants, proposals, errors);
        let outcome = heap::join(evaluating);
        debug_assert_eq!(
            format!("{:?}", outcome.proposals),
            format!("{:?}", rules::proposals(&state.rules, &facts)),
            "a quiet run proposes what a full one does"
        );
        // a few rules report bad input; a busy host has thousands of findings
        let bad: Vec<&str> = (state.rules.iter())
            .filter(|r| r.kind.is_bad_input())
            .map(|r| &*r.code)
            .collect();
        plan.bad_input = (outcome.findings.iter())
            .filter(|f| bad.contains(&&*f.rule))
            .count();
        plan.findings = outcome.findings;
        plan
    })
}

/// The changes and restarts that fix what the rules propose, and the errors met on the way
/// (`errors` holds those of loading). Findings are left to the caller.
fn fixes(
    inputs: &Inputs,
    state: &State,
    wants: &BTreeMap<String, (Want, Option<Location>)>,
    mut proposals: Vec<Proposal>,
    mut errors: Vec<Error>,
) -> Plan {
    let host = &state.host;
    let max_somaxconn = state
        .policy
        .max_somaxconn
        .value
        .min(kernel_max_somaxconn(state.kernel));

    // A fix can cause the next finding (raising somaxconn leaves tcp_max_syn_backlog too
    // small), so the rules run again on the planned values until the targets stop moving.
    // Proposals accumulate, so targets only grow toward their bounds: a few rounds at most.
    let _fix = crate::trace::phase("fixpoint");
    let mut planned: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..5 {
        let next = targets(state, &merge_sysctl(wants, &proposals), max_somaxconn);
        if next == planned {
            break;
        }
        planned = next;
        let f = state.facts(wants, inputs.lower_backlog, &planned);
        proposals.extend(rules::proposals(&state.rules, &f));
    }
    let merged = merge_sysctl(wants, &proposals);
    let backlog = merge_backlog(state, &proposals);
    drop(_fix);

    let mut files: BTreeMap<String, FileEdits> = BTreeMap::new();
    let mut live_changes = Vec::new();
    // (key, value) placed in files, proven by re-resolving below
    let mut persisted: Vec<(&str, &str)> = Vec::new();
    for (key, target) in &planned {
        let safe = merged.get(key).is_none_or(|m| m.1);
        // an odd /proc/sys value (a FIFO, a link, megabytes) is an error naming its path
        let live = match host.live_value(key) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let boot = state.boot.value(key).map(str::to_string);
        // a value of another shape than the current one (words, numbers) is a typo the
        // kernel would reject at boot; say so now rather than persist it
        let shape = |v: &str| {
            v.split_whitespace()
                .map(|w| w.parse::<i64>().is_ok())
                .collect::<Vec<_>>()
        };
        if let Some(cur) = live.as_deref().or(boot.as_deref()) {
            if shape(cur) != shape(target) {
                errors.push(Error::msg(format!(
                    "{key}: {target:?} does not look like the current value {:?}; refusing to propose it",
                    norm_value(cur)
                )));
                continue;
            }
        }
        if let Some(l) = &live {
            if !same_value(l, target) {
                live_changes.push(Change::Sysctl {
                    key: key.clone(),
                    from: Some(l.clone()),
                    to: target.clone(),
                    safe,
                });
            }
        } else if host.live.is_some()
            && inputs
                .sets
                .iter()
                .any(|(k, _)| crate::sysctl::normalize_key(k) == *key)
        {
            errors.push(Error::msg(format!(
                "{key}: no such key under /proc/sys on this host"
            )));
            continue;
        }
        if boot.as_deref().is_none_or(|b| !same_value(b, target)) {
            let reason = format!("{key} = {target}");
            if let Err(e) = place(host, &state.boot, key, target, &mut files, safe, &reason) {
                errors.push(e);
                continue;
            }
            persisted.push((key, target));
        }
    }

    // prove the persisted edits (boot must now give every target value) beside the service
    // edits, which touch other files
    let overlay: BTreeMap<String, String> = if persisted.is_empty() {
        BTreeMap::new()
    } else {
        files
            .iter()
            .map(|(p, f)| {
                (
                    p.clone(),
                    edit::apply(f.old.as_deref().unwrap_or(""), &f.edits),
                )
            })
            .collect()
    };
    std::thread::scope(|s| {
        let proving = (!persisted.is_empty())
            .then(|| heap::spawn(s, || prove(host, &state.boot, &overlay, &persisted)));
        // errors of the service edits, reported after the proof's
        let mut later: Vec<Error> = Vec::new();
        // service edits
        let mut restarts = Restarts::default();
        // each listener's reason is built here and copied only when it is a new one
        let (mut why, mut num) = (String::new(), itoa::Buffer::new());
        for (i, (value, safe)) in &backlog {
            let l = &state.scan.listeners[*i];
            let Some(setter) = &l.setter else {
                later.push(Error::msg(format!(
                    "{} {}: qfix cannot edit this backlog setting",
                    l.service, l.instance
                )));
                continue;
            };
            // read (and copy) a file once, however many of its listeners change
            let f = match files.entry(setter.path.to_string()) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => match host.read(&setter.path) {
                    Ok(t) => v.insert(FileEdits::new(t.map(|t| t.to_string()))),
                    Err(e) => {
                        later.push(e);
                        continue;
                    }
                },
            };
            if f.checker.is_empty() {
                f.checker = l.checker.to_vec();
            }
            let e = Edit::replace(
                setter.range.clone(),
                setter.template.replace("{}", &value.to_string()),
            );
            if !f.edits.contains(&e) {
                f.edits.push(e);
                f.reasons
                    .push(format!("{} {} backlog {}", l.service, l.instance, value));
            }
            f.safe &= *safe;
            why.clear();
            crate::push_all(
                &mut why,
                &[
                    "backlog changed in ",
                    &setter.path,
                    " to ",
                    num.format(*value),
                    ": ",
                    &l.action_reason,
                ],
            );
            restarts.add(l, &setter.path, l.action, &why);
        }

        // a live somaxconn change reaches a listener only when it calls listen() again
        for c in &live_changes {
            let Change::Sysctl { key, from, to, .. } = c else {
                continue;
            };
            if key != rules::kinds::SOMAXCONN {
                continue;
            }
            let (Some(old), Some(new)) = (
                from.as_deref().and_then(crate::sysctl::as_int),
                crate::sysctl::as_int(to),
            ) else {
                continue;
            };
            for (i, l) in state.scan.listeners.iter().enumerate() {
                let Some(r) = l.requested else { continue };
                // after the run the listener asks for its edited backlog, if this plan edits it
                let r_after = backlog.get(&i).map_or(r, |b| b.0);
                let (before, after) = (
                    rules::kinds::effective(r, old),
                    rules::kinds::effective(r_after, new),
                );
                if before != after {
                    why.clear();
                    crate::push_all(
                        &mut why,
                        &[
                            &l.address,
                            ": listen() ran with somaxconn ",
                            num.format(old),
                        ],
                    );
                    crate::push_all(&mut why, &[" (queue ", num.format(before), "); it gets "]);
                    crate::push_all(
                        &mut why,
                        &[num.format(after), " only after it listens again"],
                    );
                    // a reload re-listens only when the backlog in the config changed
                    restarts.add(l, key, Action::Restart, &why);
                }
            }
        }

        let mut changes: Vec<Change> = files
            .into_iter()
            .map(|(path, f)| {
                let new = edit::apply(f.old.as_deref().unwrap_or(""), &f.edits);
                Change::File {
                    diff: unified_diff(&path, f.old.as_deref(), &new),
                    path,
                    safe: f.safe,
                    reason: f.reasons.join("; "),
                    old: f.old,
                    new,
                    checker: f.checker,
                }
            })
            .filter(|c| !matches!(c, Change::File { old: Some(o), new, .. } if o == new))
            .collect();
        changes.extend(live_changes);

        if let Some(p) = proving {
            errors.extend(heap::join(p));
        }
        errors.extend(later);
        Plan {
            offline: host.offline(),
            findings: Vec::new(),
            changes,
            restarts: restarts.finish(),
            // hashing every file read is only worth it when the plan is saved (--out)
            fingerprints: Fingerprints::default(),
            errors,
            bad_input: 0,
        }
    })
}

/// The errors of placing `persisted` (key, value) pairs: boot, reading the `overlay` files
/// instead of theirs, must give each its value.
fn prove(
    host: &Host,
    boot: &Boot,
    overlay: &BTreeMap<String, String>,
    persisted: &[(&str, &str)],
) -> Vec<Error> {
    let _t = crate::trace::phase("prove");
    let keys: Vec<&str> = persisted.iter().map(|(k, _)| *k).collect();
    let after = Boot::values_after(host, overlay, boot, &keys);
    let mut errors = Vec::new();
    for ((key, target), got) in persisted.iter().zip(after) {
        if !got.as_deref().is_some_and(|v| same_value(v, target)) {
            errors.push(Error::msg(format!(
                "{key}: placing {target} did not make it the boot value (got {got:?}); refusing to propose it"
            )));
        }
    }
    errors
}

/// Restarts per unit, with the changes and reasons that call for them (each once).
#[derive(Default)]
struct Restarts {
    units: Vec<(Cow<'static, str>, Cow<'static, str>, Vec<Cause>)>,
    index: rustc_hash::FxHashMap<Cow<'static, str>, usize>,
    /// Reasons per unit so far: thousands of sockets repeat a few hundred addresses, and a
    /// repeat is only looked up, not copied.
    seen: Vec<rustc_hash::FxHashSet<String>>,
}

impl Restarts {
    fn add(&mut self, l: &Listener, change: &str, action: Action, reason: &str) {
        let i = match self.index.get(&*l.unit) {
            Some(&i) => i,
            None => {
                self.units
                    .push((l.service.clone(), l.unit.clone(), Vec::new()));
                self.seen.push(Default::default());
                self.index.insert(l.unit.clone(), self.units.len() - 1);
                self.units.len() - 1
            }
        };
        if !self.seen[i].contains(reason) {
            self.seen[i].insert(reason.to_string());
            self.units[i].2.push(Cause {
                change: change.to_string(),
                action,
                reason: reason.to_string(),
            });
        }
    }

    fn finish(self) -> Vec<Restart> {
        self.units
            .into_iter()
            .map(|(service, unit, causes)| Restart::from_causes(&service, &unit, causes))
            .collect()
    }
}

/// Put `key = value` where boot will read it last: the last explicit assignment when it is
/// in /etc (edited in place, through links), else a qfix drop-in in /etc/sysctl.d whose name
/// sorts after every file that assigns the key.
fn place(
    host: &Host,
    boot: &Boot,
    key: &str,
    value: &str,
    files: &mut BTreeMap<String, FileEdits>,
    safe: bool,
    reason: &str,
) -> Result<(), Error> {
    let last_explicit = boot.assignments.iter().rfind(|a| *a.key == *key);
    if let Some(a) = last_explicit {
        let f = boot.file(a);
        if f.target.starts_with("/etc/") {
            let fe = files
                .entry(f.target.clone())
                .or_insert_with(|| FileEdits::new(Some(f.text.to_string())));
            fe.edits.push(Edit::replace(a.value_span.clone(), value));
            fe.safe &= safe;
            fe.reasons.push(reason.to_string());
            return Ok(());
        }
    }
    let latest = boot
        .assignments_for(key)
        .map(|a| root::file_name(&a.path).to_string())
        .max()
        .unwrap_or_default();
    let taken = boot.all_names();
    let name = [
        "99-qfix.conf",
        "99-zz-qfix.conf",
        "zz-qfix.conf",
        "zzzz-qfix.conf",
    ]
    .into_iter()
    .find(|n| {
        let ours = boot
            .files
            .iter()
            .any(|f| f.path == format!("{}/{n}", DIRS[0]));
        *n > latest.as_str() && (ours || !taken.contains(*n))
    })
    .ok_or_else(|| Error::msg(format!("{key}: no drop-in name sorts after {latest}")))?;
    let path = format!("{}/{name}", DIRS[0]);
    let target = match host.root.resolve(&path)? {
        root::Resolved::Path(p) => p,
        root::Resolved::DevNull => {
            return Err(Error::msg(format!("{path}: masked (links to /dev/null)")));
        }
    };
    let old = host.read(&target)?.map(|t| t.to_string());
    let fe = files.entry(target).or_insert_with(|| FileEdits::new(old));
    let mut text = String::new();
    match &fe.old {
        None if fe.edits.is_empty() => text.push_str(
            "# Written by qfix: this file must sort after every other file that sets these keys.\n",
        ),
        Some(o) if !o.is_empty() && !o.ends_with('\n') => text.push('\n'),
        _ => {}
    }
    text.push_str(&format!("{key} = {value}\n"));
    let end = fe.old.as_deref().map_or(0, str::len);
    fe.edits.push(Edit::insert(end, text));
    fe.safe &= safe;
    fe.reasons.push(reason.to_string());
    Ok(())
}

pub fn unified_diff(path: &str, old: Option<&str>, new: &str) -> String {
    let rel = path.trim_start_matches('/');
    let old_name = if old.is_some() {
        crate::concat(&["a/", rel])
    } else {
        "/dev/null".to_string()
    };
    let (old_lines, new_lines) = (lines(old.unwrap_or("")), lines(new));
    similar::TextDiff::configure()
        .newline_terminated(true)
        .diff_slices(&old_lines, &new_lines)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &crate::concat(&["b/", rel]))
        .to_string()
}

/// The lines of `text` as similar's `from_lines` splits them (after `\n`, `\r\n` or a lone
/// `\r`), their ends found by a vectorized search: similar's own splitting goes a char at a
/// time, and a byte loop costs ~9 instructions a byte (hundreds of small files per plan).
fn lines(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 24 + 1);
    let mut start = 0;
    for i in memchr::memchr2_iter(b'\n', b'\r', b) {
        // the `\n` of a `\r\n` was taken with its `\r`
        if i < start {
            continue;
        }
        let end = if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i + 2
        } else {
            i + 1
        };
        out.push(&text[start..end]);
        start = end;
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lines` must split exactly as similar does, or the diffs would change.
    #[test]
    fn issue5_lines_split_like_similar() {
        let cases = [
            "",
            "a",
            "a\n",
            "a\nb",
            "\n\n",
            "a\r\nb\rc\n",
            "\r",
            "\r\r\n\n\r",
            "é\r\n€\rx",
            "k = v\n# c\r\n\r\nlast",
        ];
        for text in cases {
            let theirs = similar::TextDiff::from_lines(text, text);
            assert_eq!(lines(text), theirs.old_slices(), "{text:?}");
        }
        let old = "a = 1\r\nb = 2\nc = 3";
        let new = "a = 1\r\nb = 4\nc = 3\n";
        let theirs = similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header("a/x", "b/x")
            .to_string();
        assert_eq!(unified_diff("/x", Some(old), new), theirs);
    }
}
