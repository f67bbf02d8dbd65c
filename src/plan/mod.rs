//! A plan: findings, then the changes that move the host toward its desired state (file
//! edits as diffs, live sysctl writes), then the restarts they need. A plan proposes changes
//! only toward a desired value (--set, the policy, or a rule's fix); a drift with no desired
//! value stays a finding. `build` is a pure function of the snapshot and the goals.

pub mod confirm;
pub mod placement;
pub mod restarts;
pub mod service_edits;
pub mod waivers;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::edit::{self, Edit};
use crate::error::Error;
use crate::limits::{self, SOMAXCONN};
use crate::policy::Want;
use crate::rules::{self, Context, Finding, Proposal};
use crate::services::{Action, Location};
use crate::snapshot::Snapshot;
use crate::sysctl::{norm_value, normalize_key, same_value};

use restarts::Restarts;
pub use restarts::{Cause, Restart};

/// What the user asked for beyond the policy.
#[derive(Debug, Clone, Default)]
pub struct Goals {
    /// `--set KEY=VALUE`: exact values.
    pub sets: Vec<(String, String)>,
    /// `--strategy lower-backlog`.
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub offline: bool,
    #[serde(skip)]
    pub findings: Vec<Finding>,
    pub changes: Vec<Change>,
    pub restarts: Vec<Restart>,
    /// Per-file problems that did not stop the run but make it exit 1 (and block apply).
    #[serde(skip)]
    pub errors: Vec<Error>,
    /// Findings about input that cannot be parsed: these also block apply.
    #[serde(skip)]
    pub bad_input: usize,
    /// What qfix could not see of the running system (sockets, logs), and why.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl Plan {
    /// Error findings not accepted by a waiver or the strategy: something failing now (an
    /// overflowing queue, uWSGI refusing to start, EAGAIN in a log). A plan with one exits
    /// 2 even when no change fixes it.
    pub fn open_errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == crate::rules::Severity::Error && f.accepted.is_none())
            .count()
    }

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

/// Edits to one file, collected before rendering the new text.
pub struct FileEdits {
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

/// Desired values: the policy, then --set (exact) on top, with where each came from.
pub fn wants(snap: &Snapshot, goals: &Goals) -> BTreeMap<String, (Want, Option<Location>)> {
    let mut wants = BTreeMap::new();
    for p in &snap.policy.sysctl {
        let origin = snap.policy.path.as_ref().map(|path| Location {
            path: path.clone().into(),
            line: p.line,
        });
        wants.insert(p.key.clone(), (p.want.clone(), origin));
    }
    for (k, v) in &goals.sets {
        let want = Want {
            exact: Some(v.trim().to_string()),
            ..Want::default()
        };
        wants.insert(normalize_key(k), (want, None));
    }
    wants
}

/// The plan for this snapshot and these goals.
pub fn build(snap: &Snapshot, goals: &Goals) -> Plan {
    let _t = crate::trace::phase("plan");
    let wants = wants(snap, goals);
    let none = BTreeMap::new();
    let cx = Context {
        snap,
        wants: &wants,
        lower_backlog: goals.lower_backlog,
        planned: &none,
    };
    // the findings and the fixes are both pure functions of the snapshot: one on a thread
    // of its own, beside the other
    let (mut outcome, (changes, restarts, fix_errors)) = std::thread::scope(|s| {
        let fixes = s.spawn(|| fixes(snap, goals, &wants));
        let outcome = {
            let _t = crate::trace::phase("evaluate");
            rules::evaluate(&snap.rules, &cx)
        };
        let fixes = fixes
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (outcome, fixes)
    });
    waivers::accept(&cx, &mut outcome.findings);
    confirm::observed(&cx, &mut outcome.findings);
    let unparsable: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| {
            snap.rules
                .iter()
                .any(|r| r.code == f.rule && r.kind.is_bad_input())
        })
        .collect();
    let bad_input = unparsable.len();
    // each at its own path:line, so a JSON reader gets the location too
    let unparsable: Vec<Error> = unparsable
        .iter()
        .map(|f| {
            let what = format!(
                "{} ({} {}): fix it first; apply writes nothing until then",
                f.message, f.rule, f.name
            );
            match f.locations.first() {
                Some(l) => Error::at(&l.path, l.line, what),
                None => Error::msg(what),
            }
        })
        .collect();
    let mut errors: Vec<Error> = snap.boot.errors.clone();
    errors.extend(snap.services.errors.iter().cloned());
    // live values that could not be read (a FIFO, a link, megabytes under /proc/sys)
    errors.extend(snap.errors.iter().cloned());
    errors.extend(fix_errors);
    errors.extend(unparsable);
    Plan {
        offline: snap.offline(),
        notes: snap.notes(),
        findings: outcome.findings,
        changes,
        restarts,
        errors,
        bad_input,
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
    snap: &Snapshot,
    merged: &BTreeMap<String, (Want, bool)>,
    max_somaxconn: i64,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, (want, _)) in merged {
        let mut want = want.clone();
        if key == SOMAXCONN && want.exact.is_none() {
            want.max = Some(want.max.map_or(max_somaxconn, |m| m.min(max_somaxconn)));
        }
        let live = snap.live.as_ref().and_then(|l| l.value(key));
        if let Some(t) = want.target(live.or(snap.boot.value(key))) {
            out.insert(key.clone(), t);
        }
    }
    out
}

/// The changes and restarts that fix what the rules propose, and the errors met on the way.
fn fixes(
    snap: &Snapshot,
    goals: &Goals,
    wants: &BTreeMap<String, (Want, Option<Location>)>,
) -> (Vec<Change>, Vec<Restart>, Vec<Error>) {
    let mut errors = Vec::new();
    let max_somaxconn = snap
        .policy
        .max_somaxconn
        .value
        .min(limits::max_somaxconn(snap.kernel()));

    // The rules judge the state the plan leads to, not the current one: first the values the
    // user asked for, then again with what the rules asked for, until the targets stop
    // moving (a fix can cause the next finding: raising somaxconn leaves
    // tcp_max_syn_backlog too small). Sysctl proposals accumulate, so targets only grow
    // toward their bounds. Service edits are taken from the last round alone, judged against
    // the final values: an edit an earlier round wanted may be moot once somaxconn is raised.
    let fix = crate::trace::phase("fixpoint");
    let mut sysctl: Vec<Proposal> = Vec::new();
    let mut planned = targets(snap, &merge_sysctl(wants, &sysctl), max_somaxconn);
    let mut last: Vec<Proposal> = Vec::new();
    for _ in 0..8 {
        let cx = Context {
            snap,
            wants,
            lower_backlog: goals.lower_backlog,
            planned: &planned,
        };
        last = rules::proposals(&snap.rules, &cx);
        sysctl.extend(
            last.iter()
                .filter(|p| matches!(p, Proposal::Sysctl { .. }))
                .cloned(),
        );
        let next = targets(snap, &merge_sysctl(wants, &sysctl), max_somaxconn);
        if next == planned {
            break;
        }
        planned = next;
    }
    let merged = merge_sysctl(wants, &sysctl);
    let backlog = service_edits::merge(snap, &last);
    drop(fix);

    let mut files: BTreeMap<String, FileEdits> = BTreeMap::new();
    let mut live_changes = Vec::new();
    // (key, value) placed in files, proven by resolving boot again below
    let mut persisted: Vec<(&str, &str)> = Vec::new();
    for (key, target) in &planned {
        let live = snap.live.as_ref().and_then(|l| l.value(key));
        let boot = snap.boot.value(key);
        // raising a queue limit is safe unattended; lowering one shrinks every queue it caps
        let lowers = (key == SOMAXCONN || key == limits::SYN_BACKLOG)
            && crate::sysctl::as_int(target)
                .zip(live.or(boot).and_then(crate::sysctl::as_int))
                .is_some_and(|(to, now)| to < now);
        let safe = merged.get(key).is_none_or(|m| m.1) && !lowers;
        // a value of another shape than the current one (words, numbers) is a typo the
        // kernel would reject at boot; say so now rather than persist it
        let shape = |v: &str| {
            v.split_whitespace()
                .map(|w| w.parse::<i64>().is_ok())
                .collect::<Vec<_>>()
        };
        if let Some(cur) = live.or(boot) {
            if shape(cur) != shape(target) {
                errors.push(Error::msg(format!(
                    "{key}: {target:?} does not look like the current value {:?}; refusing to propose it",
                    norm_value(cur)
                )));
                continue;
            }
        }
        if let Some(l) = live {
            if !same_value(l, target) {
                live_changes.push(Change::Sysctl {
                    key: key.clone(),
                    from: Some(l.to_string()),
                    to: target.clone(),
                    safe,
                });
            }
        } else if !snap.offline() && goals.sets.iter().any(|(k, _)| normalize_key(k) == *key) {
            errors.push(Error::msg(format!(
                "{key}: no such key under /proc/sys on this host"
            )));
            continue;
        }
        // a key nothing sets at boot keeps the kernel's default, which may be the target
        let at_boot = boot
            .map(str::to_string)
            .or_else(|| snap.kernel_default(key));
        if at_boot.is_none_or(|b| !same_value(&b, target)) {
            let reason = format!("{key} = {target}");
            if let Err(e) = placement::place(snap, key, target, &mut files, safe, &reason) {
                errors.push(e);
                continue;
            }
            persisted.push((key, target));
        }
    }
    errors.extend(placement::prove(snap, &files, &persisted));

    let mut restarts = Restarts::default();
    let live_somaxconn = snap
        .live
        .as_ref()
        .and_then(|l| l.value(SOMAXCONN))
        .and_then(crate::sysctl::as_int);
    let somaxconn = live_somaxconn.map(|before| {
        let after = planned
            .get(SOMAXCONN)
            .and_then(|v| crate::sysctl::as_int(v));
        (before, after.unwrap_or(before))
    });
    errors.extend(service_edits::edit(
        snap,
        &backlog,
        somaxconn,
        &mut files,
        &mut restarts,
    ));

    // a live somaxconn change reaches a listener only when it calls listen() again
    for c in &live_changes {
        let Change::Sysctl { key, from, to, .. } = c else {
            continue;
        };
        if key != SOMAXCONN {
            continue;
        }
        let (Some(old), Some(new)) = (
            from.as_deref().and_then(crate::sysctl::as_int),
            crate::sysctl::as_int(to),
        ) else {
            continue;
        };
        for l in &snap.services.listeners {
            let Some(r) = l.requested else { continue };
            // the somaxconn change alone: an edit of the listener's own backlog is a cause of
            // its own (service_edits), so a restart lists only what was applied
            let after = limits::effective(r, new);
            // the queue the kernel holds, when its sockets could be read; else what listen()
            // gave it with the current somaxconn, said to be inferred
            let why = match snap.socket_of(l) {
                // another namespace (a container) keeps its own somaxconn
                Some(seen) if !seen.ns.caller => continue,
                Some(seen) => match seen.socket.backlog {
                    Some(held) if i64::from(held) < after => format!(
                        "{}: the kernel holds a queue of {held} (observed, {}); it gets {after} only after it listens again",
                        l.address,
                        seen.owner()
                    ),
                    _ => continue,
                },
                // a service with no socket is not running: nothing to restart
                None if snap.evidence().is_some() => continue,
                None => {
                    let before = limits::effective(r, old);
                    // no restart only to shrink a queue (a policy's max lowering somaxconn)
                    if after <= before {
                        continue;
                    }
                    format!(
                        "{}: listen() ran with somaxconn {old} (queue {before}, inferred); it gets {after} only after it listens again",
                        l.address
                    )
                }
            };
            // a reload re-listens only when the backlog in the config changed
            restarts.add(l, key, Action::Restart, why);
        }
    }

    // listeners the kernel shows with a stale queue, whatever else is applied
    for p in &last {
        if let Proposal::Restart { listener, why, .. } = p {
            restarts.add(listener, "", Action::Restart, why.clone());
        }
    }
    let cx = Context {
        snap,
        wants,
        lower_backlog: goals.lower_backlog,
        planned: &planned,
    };
    let stopped = crate::rules::service_not_running::stopped(&cx);
    restarts.drop_units(&stopped.keys().copied().collect::<Vec<_>>());

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
    (changes, restarts.finish(), errors)
}

pub fn unified_diff(path: &str, old: Option<&str>, new: &str) -> String {
    let rel = path.trim_start_matches('/');
    let old_name = if old.is_some() {
        format!("a/{rel}")
    } else {
        "/dev/null".to_string()
    };
    similar::TextDiff::from_lines(old.unwrap_or(""), new)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &format!("b/{rel}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::services::{Scan, Setter, Source};
    use crate::snapshot::LiveState;
    use crate::sysctl::boot::{Boot, Entry, Layout};
    use std::sync::Arc;

    /// A host built in memory (no root, no /proc): Redis asks for 511 while somaxconn is 128
    /// live and at boot.
    fn redis_host() -> Snapshot {
        let conf = "net.core.somaxconn = 128\n";
        let layout = Layout {
            lib_is_usr_lib: true,
            listings: vec![("/etc/sysctl.d".into(), Ok(vec!["10-web.conf".into()]))],
            entries: [(
                "/etc/sysctl.d/10-web.conf".to_string(),
                Entry::File {
                    target: "/etc/sysctl.d/10-web.conf".into(),
                    text: conf.into(),
                },
            )]
            .into(),
            ..Layout::default()
        };
        let boot = Boot::resolve(&layout, &BTreeMap::new());
        let redis = "bind 127.0.0.1\ntcp-backlog 511\n";
        let listener = crate::services::Listener {
            service: "redis".into(),
            instance: "redis.conf".into(),
            address: "tcp 127.0.0.1:6379".into(),
            requested: Some(511),
            source: Source::At(Location {
                path: "/etc/redis/redis.conf".into(),
                line: 2,
            }),
            unit: "redis-server".into(),
            action: Action::Restart,
            action_reason: "tcp-backlog is read at start".into(),
            setter: Some(Setter {
                path: "/etc/redis/redis.conf".into(),
                range: 27..30,
                template: "{}".into(),
                line: Some(2),
            }),
            refuses_above_somaxconn: false,
            control: false,
            checker: Arc::from(Vec::new()),
        };
        let mut live = LiveState::new(false);
        live.kernel_release = Some("6.1.0".into());
        live.sysctls.insert(SOMAXCONN.into(), Some("128".into()));
        Snapshot {
            root: "/nonexistent".into(),
            files: [("/etc/redis/redis.conf".to_string(), Some(Arc::from(redis)))].into(),
            lookups: Vec::new(),
            modes: BTreeMap::new(),
            sysctl: layout,
            boot,
            services: Scan {
                listeners: vec![listener],
                ..Scan::default()
            },
            policy: Policy::default(),
            rules: crate::rules::builtin().unwrap(),
            live: Some(live),
            errors: Vec::new(),
            today: 20_000,
        }
    }

    #[test]
    fn a_snapshot_built_in_memory_is_judged_without_reading_anything() {
        let snap = redis_host();
        let plan = build(&snap, &Goals::default());
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        let codes: Vec<&str> = plan.findings.iter().map(|f| &*f.rule).collect();
        assert!(codes.contains(&"QF101"), "{codes:?}");
        // somaxconn raised live and where boot reads it, Redis restarted to listen again
        assert!(plan.changes.iter().any(|c| matches!(c,
            Change::Sysctl { key, to, .. } if key == SOMAXCONN && to == "4096")));
        assert!(plan.changes.iter().any(|c| matches!(c,
            Change::File { path, new, .. } if path == "/etc/sysctl.d/10-web.conf"
                && new == "net.core.somaxconn = 4096\n")));
        assert_eq!(plan.restarts.len(), 1);
        assert_eq!(plan.restarts[0].unit, "redis-server");
    }

    #[test]
    fn a_plan_never_goes_above_its_policys_maximum() {
        let mut snap = redis_host();
        snap.policy = Policy::parse(
            "/etc/qfix/policy.toml",
            "[sysctl]\n\"net.core.somaxconn\" = { max = 1024 }\n",
        )
        .unwrap();
        let plan = build(&snap, &Goals::default());
        let to: Vec<&str> = plan
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Sysctl { key, to, .. } if key == SOMAXCONN => Some(to.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(to, ["1024"]);
    }
}
