//! Rule kinds: the Rust code that rule files instantiate. Each kind reads its parameters
//! from the rule's `[params]` table and looks at the facts.

use toml_edit::Item;

use super::{Facts, Outcome, Proposal, Rule};
use crate::policy::Want;
use crate::services::{Listener, Location, Source};
use crate::sysctl::{as_int, same_value};

pub const SOMAXCONN: &str = "net.core.somaxconn";
pub const SYN_BACKLOG: &str = "net.ipv4.tcp_max_syn_backlog";
pub const SYNCOOKIES: &str = "net.ipv4.tcp_syncookies";

#[derive(Debug, Clone)]
pub enum Kind {
    SysctlSyntax,
    LiveDiffersFromBoot,
    OverriddenAssignment,
    SysctlConfUnread,
    UnknownKey {
        removed: Vec<(String, (u32, u32))>,
    },
    KernelRejectsValue {
        key: String,
        max: i64,
        kernel_below: (u32, u32),
    },
    PolicyMismatch,
    BacklogExceedsSomaxconn,
    ListenRefusedAboveSomaxconn,
    EffectiveBacklogBelowMinimum,
    SynBacklogBelowSomaxconn,
    ConflictingBacklog,
    SomaxconnBelowMinimum,
    ServiceConfigProblem,
}

type Problems = Vec<(Option<usize>, String)>;

impl Kind {
    pub const NAMES: [&'static str; 14] = [
        "sysctl-syntax",
        "live-differs-from-boot",
        "overridden-assignment",
        "sysctl-conf-unread",
        "unknown-key",
        "kernel-rejects-value",
        "policy-mismatch",
        "backlog-exceeds-somaxconn",
        "listen-refused-above-somaxconn",
        "effective-backlog-below-minimum",
        "syn-backlog-below-somaxconn",
        "conflicting-backlog",
        "somaxconn-below-minimum",
        "service-config-problem",
    ];

    pub fn from_toml(
        name: &str,
        params: Option<&Item>,
        at: &dyn Fn(&Item) -> usize,
    ) -> Result<Kind, Problems> {
        let mut problems = Problems::new();
        let param = |k: &str| params.and_then(|p| p.get(k));
        let kind = match name {
            "sysctl-syntax" => Kind::SysctlSyntax,
            "live-differs-from-boot" => Kind::LiveDiffersFromBoot,
            "overridden-assignment" => Kind::OverriddenAssignment,
            "sysctl-conf-unread" => Kind::SysctlConfUnread,
            "unknown-key" => {
                let mut removed = Vec::new();
                if let Some(item) = param("removed") {
                    match item.as_array() {
                        Some(arr) => {
                            for v in arr.iter() {
                                let t = v.as_inline_table();
                                let key = t.and_then(|t| t.get("key")).and_then(|v| v.as_str());
                                let since = t
                                    .and_then(|t| t.get("since"))
                                    .and_then(|v| v.as_str())
                                    .and_then(parse_version);
                                match (key, since) {
                                    (Some(k), Some(s)) => {
                                        removed.push((crate::sysctl::normalize_key(k), s))
                                    }
                                    _ => problems.push((
                                        Some(at(item)),
                                        "params.removed entries need key and since (\"4.12\")"
                                            .into(),
                                    )),
                                }
                            }
                        }
                        None => problems
                            .push((Some(at(item)), "params.removed must be an array".into())),
                    }
                }
                Kind::UnknownKey { removed }
            }
            "kernel-rejects-value" => {
                let key = param("key")
                    .and_then(|v| v.as_str())
                    .map(crate::sysctl::normalize_key);
                let max = param("max").and_then(|v| v.as_integer());
                let below = param("kernel_below")
                    .and_then(|v| v.as_str())
                    .and_then(parse_version);
                match (key, max, below) {
                    (Some(key), Some(max), Some(kernel_below)) => Kind::KernelRejectsValue {
                        key,
                        max,
                        kernel_below,
                    },
                    _ => {
                        problems.push((
                            params.map(at),
                            "kernel-rejects-value needs params key, max and kernel_below".into(),
                        ));
                        Kind::SysctlSyntax
                    }
                }
            }
            "policy-mismatch" => Kind::PolicyMismatch,
            "backlog-exceeds-somaxconn" => Kind::BacklogExceedsSomaxconn,
            "listen-refused-above-somaxconn" => Kind::ListenRefusedAboveSomaxconn,
            "effective-backlog-below-minimum" => Kind::EffectiveBacklogBelowMinimum,
            "syn-backlog-below-somaxconn" => Kind::SynBacklogBelowSomaxconn,
            "conflicting-backlog" => Kind::ConflictingBacklog,
            "somaxconn-below-minimum" => Kind::SomaxconnBelowMinimum,
            "service-config-problem" => Kind::ServiceConfigProblem,
            "" => return Err(problems),
            other => {
                problems.push((
                    None,
                    format!(
                        "unknown kind {other:?}; known kinds: {}",
                        Kind::NAMES.join(", ")
                    ),
                ));
                return Err(problems);
            }
        };
        if problems.is_empty() {
            Ok(kind)
        } else {
            Err(problems)
        }
    }

    /// Kinds that can propose a change (the others only report).
    pub fn proposes(&self) -> bool {
        matches!(
            self,
            Kind::BacklogExceedsSomaxconn
                | Kind::ListenRefusedAboveSomaxconn
                | Kind::EffectiveBacklogBelowMinimum
                | Kind::SynBacklogBelowSomaxconn
                | Kind::SomaxconnBelowMinimum
        )
    }

    /// Findings of these kinds mean qfix could not read its input: they block apply.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Kind::SysctlSyntax | Kind::ServiceConfigProblem)
    }

    pub fn eval(&self, rule: &Rule, f: &Facts, out: &mut Outcome) {
        match self {
            Kind::SysctlSyntax => {
                for bad in &f.boot.invalid {
                    out.findings.push(rule.finding(
                        format!("{}; systemd-sysctl skips this line at boot", bad.reason),
                        vec![loc(&bad.path, bad.line)],
                    ));
                }
            }
            Kind::LiveDiffersFromBoot => live_differs(rule, f, out),
            Kind::OverriddenAssignment => overridden(rule, f, out),
            Kind::SysctlConfUnread => {
                if f.boot.reads_target("/etc/sysctl.conf") {
                    return;
                }
                let Ok(Some(text)) = f.host.read("/etc/sysctl.conf") else {
                    return;
                };
                let first =
                    crate::sysctl::file::parse(&text)
                        .into_iter()
                        .find_map(|l| match l.kind {
                            crate::sysctl::file::LineKind::Assign(a) => Some((l.number, a.key)),
                            _ => None,
                        });
                if let Some((line, key)) = first {
                    out.findings.push(rule.finding(
                        format!("/etc/sysctl.conf assigns {key} (and maybe more), but no /etc/sysctl.d/99-sysctl.conf link makes systemd-sysctl read it: boot ignores this file"),
                        vec![loc("/etc/sysctl.conf", line)],
                    ));
                }
            }
            Kind::UnknownKey { removed } => {
                for key in f.boot.keys().iter().filter(|k| !crate::sysctl::is_glob(k)) {
                    let Some(a) = f.boot.explicit_for(key).last() else {
                        continue;
                    };
                    let msg = if let Some(live) = &f.host.live {
                        // the value is usually read already (live-differs-from-boot)
                        if matches!(f.host.with_live(key, |v| v.is_some()), Ok(true))
                            || live.exists(key)
                        {
                            continue;
                        }
                        format!(
                            "{key} does not exist on the running kernel{}: boot logs an error for it",
                            kernel_note(f.kernel)
                        )
                    } else if let Some((_, since)) = removed.iter().find(|(k, _)| **k == **key) {
                        match f.kernel {
                            Some(k) if k >= *since => format!(
                                "{key} was removed in Linux {}.{}; this kernel is {}.{}",
                                since.0, since.1, k.0, k.1
                            ),
                            _ => continue,
                        }
                    } else {
                        continue;
                    };
                    out.findings
                        .push(rule.finding(msg, vec![loc(&a.path, a.line)]));
                }
            }
            Kind::KernelRejectsValue {
                key,
                max,
                kernel_below,
            } => {
                let old_kernel = f.kernel.map(|k| k < *kernel_below);
                if old_kernel == Some(false) {
                    return;
                }
                for a in f.boot.assignments_for(key) {
                    if let Some(v) = as_int(&a.value).filter(|v| v > max) {
                        let why = match f.kernel {
                            Some(k) => format!(
                                "this kernel ({}.{}) rejects values above {max} with EINVAL",
                                k.0, k.1
                            ),
                            None => format!(
                                "kernels before {}.{} reject values above {max} with EINVAL, and this host's kernel is unknown",
                                kernel_below.0, kernel_below.1
                            ),
                        };
                        out.findings.push(rule.finding(
                            format!("{key} = {v}: {why}; boot fails to set it"),
                            vec![loc(&a.path, a.line)],
                        ));
                    }
                }
            }
            Kind::PolicyMismatch => {
                for (key, (want, origin)) in f.wants {
                    let live = f.host.live_value(key).ok().flatten();
                    let boot = f.boot.value(key).map(str::to_string);
                    let mut bad = Vec::new();
                    for (side, v) in [("live", &live), ("boot", &boot)] {
                        let Some(v) = v else { continue };
                        if want.target(Some(v)).is_some_and(|t| !same_value(&t, v)) {
                            bad.push(format!("{side} {}", crate::sysctl::norm_value(v)));
                        }
                    }
                    if boot.is_none()
                        && (want.exact.is_some() || want.min.is_some() || want.max.is_some())
                    {
                        bad.push("not persisted".into());
                    }
                    if bad.is_empty() {
                        continue;
                    }
                    let mut locs: Vec<Location> = origin.iter().cloned().collect();
                    if let Some(a) = f.boot.winner(key) {
                        locs.push(loc(&a.path, a.line));
                    }
                    out.findings.push(rule.finding(
                        format!(
                            "{key} should be {} but is {}",
                            want.describe(),
                            bad.join(", ")
                        ),
                        locs,
                    ));
                }
            }
            Kind::BacklogExceedsSomaxconn => backlog_exceeds(rule, f, out, false),
            Kind::ListenRefusedAboveSomaxconn => backlog_exceeds(rule, f, out, true),
            Kind::EffectiveBacklogBelowMinimum => below_minimum(rule, f, out),
            Kind::SynBacklogBelowSomaxconn => {
                let cookies = side_values(f, SYNCOOKIES);
                if !cookies.iter().any(|(_, v, _)| *v == Some(0)) {
                    return;
                }
                let syn = side_values(f, SYN_BACKLOG);
                let som = side_values(f, SOMAXCONN);
                let target = som.iter().filter_map(|(_, v, _)| *v).max();
                for ((side, s, sl), (_, m, ml)) in syn.iter().zip(som.iter()) {
                    if let (Some(s), Some(m)) = (s, m) {
                        if s < m {
                            let locs = sl.iter().chain(ml.iter()).cloned().collect();
                            out.findings.push(rule.finding(format!("{SYN_BACKLOG} ({side}) is {s}, below {SOMAXCONN} {m}, and tcp_syncookies is 0: SYNs are dropped before the accept queue fills"), locs));
                        }
                    }
                }
                if let Some(t) = target {
                    if syn.iter().any(|(_, s, _)| s.is_some_and(|s| s < t)) {
                        out.proposals.push(Proposal::Sysctl {
                            key: SYN_BACKLOG.into(),
                            want: Want {
                                min: Some(t),
                                ..Want::default()
                            },
                            safe: true, // raising a kernel limit is safe unattended
                            reason: rule.code.clone(),
                        });
                    }
                }
            }
            Kind::ConflictingBacklog => {
                // Each socket hashed to its first listener, and only the sockets with more
                // than one gathered and sorted: a busy host has tens of thousands of sockets
                // and a handful of conflicts, so the table is sized once and holds no lists.
                use std::collections::hash_map::Entry;
                let mut first: rustc_hash::FxHashMap<(&str, &str), usize> =
                    rustc_hash::FxHashMap::with_capacity_and_hasher(
                        f.listeners.len(),
                        Default::default(),
                    );
                let mut more: rustc_hash::FxHashMap<usize, Vec<&Listener>> = Default::default();
                for (i, l) in f.listeners.iter().enumerate() {
                    match first.entry((&l.service, &l.address)) {
                        Entry::Vacant(v) => {
                            v.insert(i);
                        }
                        Entry::Occupied(o) => {
                            let at = *o.get();
                            more.entry(at)
                                .or_insert_with(|| vec![&f.listeners[at]])
                                .push(l);
                        }
                    }
                }
                let mut shared: Vec<_> = (more.into_values())
                    .map(|ls| ((&*ls[0].service, &*ls[0].address), ls))
                    .collect();
                shared.sort_unstable_by_key(|(k, _)| *k);
                for ((service, addr), ls) in shared {
                    let mut values: Vec<i64> = ls.iter().filter_map(|l| l.requested).collect();
                    values.sort();
                    values.dedup();
                    if values.len() > 1 {
                        let locs = ls.iter().filter_map(|l| listener_loc(f, l)).collect();
                        out.findings.push(rule.finding(format!("{service}: {} sockets on {addr} ask for different backlogs ({}); only one listen() happens, so only one of them counts", ls.len(), values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")), locs));
                    }
                }
            }
            Kind::SomaxconnBelowMinimum => {
                let min = f.policy.min_somaxconn;
                let mut below = false;
                for (side, v, l) in side_values(f, SOMAXCONN) {
                    if let Some(v) = v.filter(|v| *v < min.value) {
                        below = true;
                        let mut locs: Vec<Location> = l.into_iter().collect();
                        locs.extend(policy_loc(f, min.line));
                        out.findings.push(rule.finding(format!("{SOMAXCONN} ({side}) is {v}, below the minimum {} (the kernel default since Linux 5.4): every listen() backlog is capped at {v}", min.value), locs));
                    }
                }
                if below && !f.lower_backlog {
                    out.proposals.push(Proposal::Sysctl {
                        key: SOMAXCONN.into(),
                        want: Want {
                            min: Some(min.value),
                            ..Want::default()
                        },
                        safe: true, // raising a kernel limit is safe unattended
                        reason: rule.code.clone(),
                    });
                }
            }
            Kind::ServiceConfigProblem => {
                for p in f.problems {
                    out.findings
                        .push(rule.finding(p.message.clone(), vec![p.location.clone()]));
                }
            }
        }
    }
}

fn loc(path: &str, line: usize) -> Location {
    Location {
        path: path.into(),
        line,
    }
}

/// Where a listener is declared: its backlog line, or else the line its setter would edit
/// (the `listen` directive of a default backlog).
fn listener_loc(f: &Facts, l: &Listener) -> Option<Location> {
    if let Source::At(loc) = &l.source {
        return Some(loc.clone());
    }
    let s = l.setter.as_ref()?;
    let line = match s.line {
        Some(line) => line,
        None => {
            f.host.read(&s.path).ok()??;
            f.host.line_of(&s.path, s.range.start)?
        }
    };
    Some(Location {
        path: s.path.clone(),
        line,
    })
}

fn policy_loc(f: &Facts, line: usize) -> Option<Location> {
    match (&f.policy.path, line) {
        (Some(p), l) if l > 0 => Some(loc(p, l)),
        _ => None,
    }
}

fn kernel_note(k: Option<(u32, u32)>) -> String {
    k.map(|(a, b)| format!(" ({a}.{b})")).unwrap_or_default()
}

pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// (side, integer value, where it is set) for the live and the boot value of a key. The boot
/// value of an unassigned key is the kernel default, which for somaxconn is known.
pub fn side_values(f: &Facts, key: &str) -> Vec<(&'static str, Option<i64>, Option<Location>)> {
    if let Some(v) = f.planned.get(key) {
        let v = as_int(v);
        let mut out = Vec::new();
        if f.host.live.is_some() {
            out.push(("live", v, None));
        }
        out.push(("boot", v, None));
        return out;
    }
    let live = f
        .host
        .live_value(key)
        .ok()
        .flatten()
        .as_deref()
        .and_then(as_int);
    let winner = f.boot.winner(key);
    let boot = match winner {
        Some(a) => as_int(&a.value),
        None => kernel_default(f, key).or(live),
    };
    let boot_loc = winner.map(|a| loc(&a.path, a.line));
    let mut out = Vec::new();
    if f.host.live.is_some() {
        let live_loc = boot_loc.clone().or_else(|| {
            Some(loc(
                &format!("/proc/sys/{}", crate::sysctl::key_to_path(key)),
                1,
            ))
        });
        out.push(("live", live, live_loc));
    }
    out.push(("boot", boot, boot_loc));
    out
}

fn kernel_default(f: &Facts, key: &str) -> Option<i64> {
    match (key, f.kernel) {
        (SOMAXCONN, Some(k)) => Some(if k >= (5, 4) { 4096 } else { 128 }),
        _ => None,
    }
}

/// listen() clamps `(unsigned) backlog` to somaxconn.
pub fn effective(requested: i64, somaxconn: i64) -> i64 {
    let r = requested as i32 as u32 as i64;
    r.min(somaxconn)
}

/// A listener as its findings name it: `service instance (address)`, in pieces.
fn label(l: &Listener) -> [&str; 6] {
    [&l.service, " ", &l.instance, " (", &l.address, ")"]
}

fn backlog_exceeds(rule: &Rule, f: &Facts, out: &mut Outcome, refusing: bool) {
    let sides = side_values(f, SOMAXCONN);
    let mut need: Option<i64> = None;
    for (i, l) in f.listeners.iter().enumerate() {
        if l.refuses_above_somaxconn != refusing {
            continue;
        }
        let Some(r) = l.requested.filter(|r| *r >= 0) else {
            continue;
        };
        // the sides (live, boot) whose somaxconn cuts this request: at most two, so no
        // allocation until there is a finding to report
        let capped = || {
            sides
                .iter()
                .filter_map(move |(side, s, sl)| s.filter(|s| r > *s).map(|s| (*side, s, sl)))
        };
        let Some(cap) = capped().map(|c| c.1).min() else {
            continue;
        };
        if !out.quiet {
            let mut locs: Vec<Location> = Vec::with_capacity(3);
            locs.extend(listener_loc(f, l));
            for (_, _, sl) in capped() {
                if let Some(sl) = sl
                    && locs.last() != Some(sl)
                {
                    locs.push(sl.clone());
                }
            }
            // pieces pushed rather than write!: thousands of these on a busy host
            let mut num = itoa::Buffer::new();
            let mut msg = String::with_capacity(200);
            crate::push_all(&mut msg, &label(l));
            let asks = if refusing {
                " sets listen = "
            } else {
                " asks for backlog "
            };
            crate::push_all(&mut msg, &[asks, num.format(r), " but ", SOMAXCONN, " is "]);
            for (n, (side, v, _)) in capped().enumerate() {
                if n > 0 {
                    msg.push_str(", ");
                }
                crate::push_all(&mut msg, &[num.format(v), " (", side, ")"]);
            }
            if refusing {
                msg.push_str(
                    ": uWSGI refuses to start (\"Listen queue size is greater than the system max net.core.somaxconn\")",
                );
            } else {
                msg.push_str(": the kernel silently cuts the accept queue to ");
                msg.push_str(num.format(cap));
            }
            out.findings.push(rule.finding(msg, locs));
        }
        if f.lower_backlog {
            if matches!(l.source, Source::At(_)) {
                out.proposals.push(Proposal::Backlog {
                    listener: i,
                    value: cap,
                    safe: true,
                    reason: rule.code.clone(),
                });
            }
        } else {
            need = need.max(Some(r));
        }
    }
    // one proposal for the largest request, not one per listener
    if let Some(r) = need {
        out.proposals.push(Proposal::Sysctl {
            key: SOMAXCONN.into(),
            want: Want {
                min: Some(r),
                ..Want::default()
            },
            safe: true, // raising a kernel limit is safe unattended
            reason: rule.code.clone(),
        });
    }
}

fn below_minimum(rule: &Rule, f: &Facts, out: &mut Outcome) {
    let min = f.policy.min_backlog;
    let sides = side_values(f, SOMAXCONN);
    let mut raise_somaxconn = false;
    for (i, l) in f.listeners.iter().enumerate() {
        let Some(r) = l.requested else { continue };
        for (side, s, sl) in &sides {
            let Some(s) = s else { continue };
            let eff = effective(r, *s);
            if eff >= min.value {
                continue;
            }
            // either side can be too small, or both (listen.backlog = 128 with somaxconn 128)
            let ru = r as i32 as u32 as i64;
            let service_limits = ru < min.value;
            let kernel_limits = *s < min.value;
            // a backlog somaxconn cuts (r > s) is already a backlog-exceeds-somaxconn
            // finding; saying it twice per socket buries the rest on a busy host
            let already_reported = !service_limits && r >= 0 && r > *s;
            if !out.quiet && !already_reported {
                let mut locs: Vec<Location> = listener_loc(f, l).into_iter().collect();
                if kernel_limits {
                    locs.extend(sl.clone());
                }
                locs.extend(policy_loc(f, min.line));
                // pieces pushed rather than format!: hundreds of these on a busy host
                let mut num = itoa::Buffer::new();
                let mut msg = String::with_capacity(200);
                crate::push_all(&mut msg, &label(l));
                crate::push_all(
                    &mut msg,
                    &[
                        " gets an effective backlog of ",
                        num.format(eff),
                        " (",
                        side,
                        "), below the minimum ",
                    ],
                );
                crate::push_all(&mut msg, &[num.format(min.value), "; limited by "]);
                if service_limits {
                    match &l.source {
                        Source::At(_) => msg.push_str("its own setting "),
                        Source::Default(_) => msg.push_str("the default "),
                    }
                    msg.push_str(num.format(r));
                    if let Source::Default(why) = &l.source {
                        crate::push_all(&mut msg, &[" (", why, ")"]);
                    }
                }
                if kernel_limits {
                    if service_limits {
                        msg.push_str(" and ");
                    }
                    crate::push_all(&mut msg, &[SOMAXCONN, " ", num.format(*s)]);
                    if r < 0 {
                        msg.push_str(" (backlog -1 means \"somaxconn\")");
                    }
                }
                out.findings.push(rule.finding(msg, locs));
            }
            if service_limits || r < 0 {
                // the service's own setting: raise it in its config (needs review: it may be
                // an administrator's choice). -1 follows whatever somaxconn is, which on a
                // host or container left at 128 is too small: pin it to the somaxconn qfix
                // aims for, so the pool keeps that queue wherever it runs.
                let value = if r < 0 {
                    min.value.max(f.policy.min_somaxconn.value)
                } else {
                    min.value
                };
                out.proposals.push(Proposal::Backlog {
                    listener: i,
                    value,
                    safe: false,
                    reason: rule.code.clone(),
                });
            }
            raise_somaxconn |= kernel_limits && !f.lower_backlog;
            break;
        }
    }
    if raise_somaxconn {
        out.proposals.push(Proposal::Sysctl {
            key: SOMAXCONN.into(),
            want: Want {
                min: Some(min.value),
                ..Want::default()
            },
            safe: true, // raising a kernel limit is safe unattended
            reason: rule.code.clone(),
        });
    }
}

fn live_differs(rule: &Rule, f: &Facts, out: &mut Outcome) {
    let Some(live) = &f.host.live else { return };
    let mut check = |k: &str| {
        let Some(w) = f.boot.winner(k) else { return };
        // only a differing value is copied (for the message)
        let differs = f.host.with_live(k, |now| {
            now.filter(|now| !same_value(now, &w.value))
                .map(crate::sysctl::norm_value)
        });
        if let Ok(Some(now)) = differs {
            out.findings.push(rule.finding(
                format!(
                    "{k} is {now} live but boot sets {}: the live value is lost at the next reboot",
                    w.value
                ),
                vec![loc(&w.path, w.line)],
            ));
        }
    };
    for key in f.boot.keys() {
        if crate::sysctl::is_glob(key) {
            live.expand(key).iter().for_each(|k| check(k));
        } else {
            check(key);
        }
    }
}

fn overridden(rule: &Rule, f: &Facts, out: &mut Outcome) {
    // an explicit key beating a glob is the usual way to make an exception: not a finding
    for key in f.boot.keys().iter().filter(|k| !crate::sysctl::is_glob(k)) {
        let Some(w) = f.boot.winner(key) else {
            continue;
        };
        for a in f.boot.explicit_for(key) {
            if a == w || a.value == w.value {
                continue;
            }
            out.findings.push(rule.finding(
                format!(
                    "{} = {} at {}:{} never takes effect: a later assignment {}:{} sets {}",
                    a.key, a.value, a.path, a.line, w.path, w.line, w.value
                ),
                vec![loc(&a.path, a.line), loc(&w.path, w.line)],
            ));
        }
    }
}
