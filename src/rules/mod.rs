//! Rules as data. Each `rules/*.toml` file instantiates a rule *kind* (one Rust file here per
//! kind, registered in `kinds!` below) with parameters, and documents itself: code, name of
//! the flagged pattern, severity, summary, explanation, the fix and whether it is safe
//! unattended. Built-in rules are compiled in; site rules load from /etc/qfix/rules.d in the
//! root and from `--rules DIR`.
//!
//! A rule is a pure function of a `Context` (the host snapshot, the desired values, the
//! values the plan is about to set): it reads nothing and writes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use toml_edit::Item;

use crate::error::Error;
use crate::host::Host;
use crate::limits::Version;
use crate::observed::Observed;
use crate::policy::{Waiver, Want};
use crate::services::{Listener, Location, Source};
use crate::snapshot::Snapshot;
use crate::tomlfile::TomlFile;

const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
pub const SITE_DIR: &str = "/etc/qfix/rules.d";

/// The rule kinds: `Variant: module`. The kind's name in rule files is the module's name in
/// kebab-case (`unknown_key` -> `unknown-key`); its `Params` type reads `[params]`.
macro_rules! kinds {
    ($($variant:ident: $module:ident,)*) => {
        $(pub mod $module;)*

        #[derive(Debug, Clone, Serialize)]
        #[serde(tag = "kind", content = "params", rename_all = "kebab-case")]
        pub enum Kind {
            $($variant($module::Params),)*
        }

        impl Kind {
            /// Every kind's name, as rule files write it.
            pub fn names() -> Vec<String> {
                vec![$(kebab(stringify!($module)),)*]
            }

            /// The kind called `name`, its parameters read from `params`.
            fn read(file: &TomlFile, name: &str, params: Option<&Item>) -> Result<Kind, Error> {
                $(
                    if name == kebab(stringify!($module)) {
                        return Ok(Kind::$variant(params_of(file, params)?));
                    }
                )*
                let line = file.doc.get("kind").map_or(1, |i| file.line_of(i));
                Err(Error::at(
                    file.path,
                    line,
                    format!("unknown kind {name:?}; known kinds: {}", Kind::names().join(", ")),
                ))
            }

            fn check(&self) -> &dyn Check {
                match self {
                    $(Kind::$variant(p) => p,)*
                }
            }
        }
    };
}

kinds! {
    SysctlSyntax: sysctl_syntax,
    LiveDiffersFromBoot: live_differs_from_boot,
    OverriddenAssignment: overridden_assignment,
    SysctlConfUnread: sysctl_conf_unread,
    UnknownKey: unknown_key,
    KernelRejectsValue: kernel_rejects_value,
    PolicyMismatch: policy_mismatch,
    BacklogExceedsSomaxconn: backlog_exceeds_somaxconn,
    ListenRefusedAboveSomaxconn: listen_refused_above_somaxconn,
    EffectiveBacklogBelowMinimum: effective_backlog_below_minimum,
    SynBacklogBelowSomaxconn: syn_backlog_below_somaxconn,
    ConflictingBacklog: conflicting_backlog,
    SomaxconnBelowMinimum: somaxconn_below_minimum,
    ServiceConfigProblem: service_config_problem,
    StaleWaiver: stale_waiver,
    ListenerNeedsRestart: listener_needs_restart,
    AcceptQueueOverflow: accept_queue_overflow,
    ServiceNotRunning: service_not_running,
    NamespaceSomaxconnBelowMinimum: namespace_somaxconn_below_minimum,
    WorldWritable: world_writable,
    EphemeralPorts: ephemeral_ports,
    LiveSysctlNotPersisted: live_sysctl_not_persisted,
    UpstreamErrors: upstream_errors,
    PoolSaturated: pool_saturated,
}

fn kebab(module: &str) -> String {
    module.replace('_', "-")
}

/// A kind's `[params]`, through serde; a kind without parameters takes an empty table.
fn params_of<P: serde::de::DeserializeOwned>(
    file: &TomlFile,
    params: Option<&Item>,
) -> Result<P, Error> {
    let empty = Item::Value(toml_edit::Value::InlineTable(Default::default()));
    file.value("params", params.unwrap_or(&empty))
}

/// What a rule kind does with the facts.
pub trait Check {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>);
    /// Kinds that can propose a change (the others only report).
    fn proposes(&self) -> bool {
        false
    }
    /// Findings of these kinds mean qfix could not read its input: they block apply.
    fn bad_input(&self) -> bool {
        false
    }
    /// Live values it judges besides the persisted keys', for the snapshot to read.
    fn live_keys(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Kind {
    pub fn proposes(&self) -> bool {
        self.check().proposes()
    }

    pub fn is_bad_input(&self) -> bool {
        self.check().bad_input()
    }

    pub fn live_keys(&self) -> Vec<String> {
        self.check().live_keys()
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub code: Arc<str>,
    pub name: Arc<str>,
    pub severity: Severity,
    pub summary: String,
    pub explanation: String,
    pub fix: String,
    /// The fix may be applied unattended (`--yes`) without `--unsafe-fixes`.
    pub safe: bool,
    #[serde(flatten)]
    pub kind: Kind,
    /// Where the rule was defined (`rules/QF003-overridden-assignment.toml`).
    pub origin: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub rule: Arc<str>,
    pub name: Arc<str>,
    pub severity: Severity,
    pub message: String,
    pub locations: Vec<Location>,
    /// The listener it is about ("php-fpm www"), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// The sysctl key it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Accepted by a waiver in the policy, or by the chosen strategy: shown, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
    /// What was observed on the running system that the finding stands on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Observed>,
    /// How bad it is among its rule's findings (queue slots lost...): the summary shows the
    /// worst first.
    #[serde(skip)]
    pub weight: u64,
}

/// A finding as a rule builds it: message, locations and, optionally, its weight and what
/// was observed.
pub struct Report {
    pub message: String,
    pub locations: Vec<Location>,
    pub weight: u64,
    pub evidence: Vec<Observed>,
}

impl Report {
    pub fn new(message: String, locations: Vec<Location>) -> Report {
        Report {
            message,
            locations,
            weight: 0,
            evidence: Vec::new(),
        }
    }

    pub fn weight(mut self, w: u64) -> Report {
        self.weight = w;
        self
    }

    pub fn evidence(mut self, e: Vec<Observed>) -> Report {
        self.evidence = e;
        self
    }
}

impl From<(String, Vec<Location>)> for Report {
    fn from((message, locations): (String, Vec<Location>)) -> Report {
        Report::new(message, locations)
    }
}

impl From<(String, Vec<Location>, u64)> for Report {
    fn from((message, locations, weight): (String, Vec<Location>, u64)) -> Report {
        Report::new(message, locations).weight(weight)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// What a finding is about, for waivers to match and tools to group by.
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    Host,
    Key(&'a str),
    Listener(&'a Listener),
}

impl Rule {
    pub fn finding(&self, about: Subject, message: String, locations: Vec<Location>) -> Finding {
        let (listener, key) = match about {
            Subject::Host => (None, None),
            Subject::Key(k) => (None, Some(k.to_string())),
            Subject::Listener(l) => (Some(format!("{} {}", l.service, l.instance)), None),
        };
        Finding {
            rule: self.code.clone(),
            name: self.name.clone(),
            severity: self.severity,
            message,
            locations,
            listener,
            key,
            accepted: None,
            evidence: Vec::new(),
            weight: 0,
        }
    }
}

/// What a rule wants changed to fix its finding.
#[derive(Debug, Clone)]
pub enum Proposal<'s> {
    /// Hold a sysctl within bounds, live and persisted.
    Sysctl {
        key: String,
        want: Want,
        safe: bool,
        reason: Arc<str>,
    },
    /// Set a listener's backlog in its own config (an edit of the service file).
    Backlog {
        listener: &'s Listener,
        value: i64,
        safe: bool,
        reason: Arc<str>,
    },
    /// Restart a running service so that it listens again (whatever else is applied).
    Restart {
        listener: &'s Listener,
        why: String,
        reason: Arc<str>,
    },
}

#[derive(Default)]
pub struct Outcome<'s> {
    pub findings: Vec<Finding>,
    pub proposals: Vec<Proposal<'s>>,
    /// Only the proposals are wanted (a plan's fixpoint): findings are not built.
    proposals_only: bool,
}

impl<'s> Outcome<'s> {
    /// Report a finding; it is built only when findings are wanted.
    pub fn report<R: Into<Report>>(
        &mut self,
        rule: &Rule,
        about: Subject,
        finding: impl FnOnce() -> R,
    ) {
        self.push(rule, about, None, finding);
    }

    /// Report a finding the chosen strategy accepts (`reason` says why nothing is proposed).
    pub fn report_accepted<R: Into<Report>>(
        &mut self,
        rule: &Rule,
        about: Subject,
        reason: &str,
        finding: impl FnOnce() -> R,
    ) {
        let accepted = Accepted {
            reason: reason.to_string(),
            until: None,
        };
        self.push(rule, about, Some(accepted), finding);
    }

    fn push<R: Into<Report>>(
        &mut self,
        rule: &Rule,
        about: Subject,
        accepted: Option<Accepted>,
        finding: impl FnOnce() -> R,
    ) {
        if !self.proposals_only {
            let r: Report = finding().into();
            let mut f = rule.finding(about, r.message, r.locations);
            f.weight = r.weight;
            f.evidence = r.evidence;
            f.accepted = accepted;
            self.findings.push(f);
        }
    }

    /// Raise somaxconn to at least `min` (live and persisted): raising a kernel limit is
    /// safe unattended.
    pub fn raise(&mut self, key: &str, min: i64, rule: &Rule) {
        self.proposals.push(Proposal::Sysctl {
            key: key.into(),
            want: Want {
                min: Some(min),
                ..Want::default()
            },
            safe: true,
            reason: rule.code.clone(),
        });
    }
}

/// Everything a rule may look at: the host snapshot and what the user and the plan want.
pub struct Context<'s, 'c> {
    pub snap: &'s Snapshot,
    /// Desired values from --set and the policy, with where each came from.
    pub wants: &'c BTreeMap<String, (Want, Option<Location>)>,
    /// `--strategy lower-backlog`: fix a cap by lowering service backlogs.
    pub lower_backlog: bool,
    /// Values the plan will set (live and at boot); rules judge those instead, so a plan
    /// can check that its own fixes leave nothing to fix.
    pub planned: &'c BTreeMap<String, String>,
}

/// One side of a key: its live or its boot value, and where that value is set.
pub struct Side {
    pub side: &'static str,
    pub value: Option<i64>,
    pub at: Option<Location>,
}

impl<'s> Context<'s, '_> {
    pub fn listeners(&self) -> &'s [Listener] {
        &self.snap.services.listeners
    }

    pub fn online(&self) -> bool {
        self.snap.live.is_some()
    }

    /// The live value of a concrete key; `None` offline or when it does not exist.
    pub fn live(&self, key: &str) -> Option<&'s str> {
        self.snap.live.as_ref()?.value(key)
    }

    pub fn kernel(&self) -> Option<Version> {
        self.snap.kernel()
    }

    /// The live and the boot value of a key as integers, with where each is set. The boot
    /// value of an unassigned key is the kernel default, which for somaxconn is known.
    pub fn sides(&self, key: &str) -> Vec<Side> {
        let online = self.online();
        if let Some(v) = self.planned.get(key) {
            let value = crate::sysctl::as_int(v);
            let mut out = Vec::new();
            if online {
                out.push(Side {
                    side: "live",
                    value,
                    at: None,
                });
            }
            out.push(Side {
                side: "boot",
                value,
                at: None,
            });
            return out;
        }
        let live = self.live(key).and_then(crate::sysctl::as_int);
        let winner = self.snap.boot.winner(key);
        let boot = match winner {
            Some(a) => crate::sysctl::as_int(&a.value),
            None => self
                .snap
                .kernel_default(key)
                .and_then(|d| crate::sysctl::as_int(&d))
                .or(live),
        };
        let boot_at = winner.map(|a| loc(&a.path, a.line));
        let mut out = Vec::new();
        if online {
            let live_at = boot_at.clone().or_else(|| {
                Some(loc(
                    &format!("/proc/sys/{}", crate::sysctl::key_to_path(key)),
                    1,
                ))
            });
            out.push(Side {
                side: "live",
                value: live,
                at: live_at,
            });
        }
        out.push(Side {
            side: "boot",
            value: boot,
            at: boot_at,
        });
        out
    }

    /// Where a listener is declared: its backlog line, or else the line its setter would
    /// edit (the `listen` directive of a default backlog).
    pub fn listener_loc(&self, l: &Listener) -> Option<Location> {
        if let Source::At(loc) = &l.source {
            return Some(loc.clone());
        }
        let s = l.setter.as_ref()?;
        Some(Location {
            path: s.path.clone(),
            line: s.line?,
        })
    }

    /// The waiver that accepts a finding of `rule` about `about` (at `locations`), if any:
    /// every field the waiver gives must match, and it must not have expired.
    pub fn waiver(
        &self,
        rule: &Rule,
        about: Subject,
        locations: &[Location],
    ) -> Option<&'s Waiver> {
        self.waivers(rule, about, locations).into_iter().next()
    }

    /// Every waiver that accepts such a finding, in the policy's order (the first gives the
    /// reason; a second one that says the same is not "unmatched").
    pub fn waivers(&self, rule: &Rule, about: Subject, locations: &[Location]) -> Vec<&'s Waiver> {
        let (label, key) = match about {
            Subject::Listener(l) => (Some(format!("{} {}", l.service, l.instance)), None),
            Subject::Key(k) => (None, Some(k)),
            Subject::Host => (None, None),
        };
        let matches = |w: &&Waiver| {
            let rule_ok = w.rule.eq_ignore_ascii_case(&rule.code) || w.rule == *rule.name;
            let live = w.until_day().is_none_or(|d| d >= self.snap.today);
            let listener_ok = w.listener.is_none() || w.listener == label;
            let key_ok = w.key.is_none() || w.key.as_deref() == key;
            let path_ok = w.path.as_deref().is_none_or(|p| {
                locations.iter().any(|l| &*l.path == p) || self.subject_paths(about).any(|s| s == p)
            });
            rule_ok && live && listener_ok && key_ok && path_ok
        };
        self.snap.policy.accept.iter().filter(matches).collect()
    }

    /// The files a subject is configured in: a listener's config, a key's sysctl files.
    fn subject_paths(&self, about: Subject) -> Box<dyn Iterator<Item = String> + 's> {
        match about {
            Subject::Listener(l) => {
                let mut paths: Vec<String> = Vec::new();
                if let Source::At(at) = &l.source {
                    paths.push(at.path.to_string());
                }
                if let Some(s) = &l.setter {
                    paths.push(s.path.to_string());
                }
                Box::new(paths.into_iter())
            }
            Subject::Key(k) => {
                let paths: Vec<String> = self
                    .snap
                    .boot
                    .assignments_for(k)
                    .map(|a| a.path.to_string())
                    .collect();
                Box::new(paths.into_iter())
            }
            Subject::Host => Box::new(std::iter::empty()),
        }
    }

    /// Whether a waiver accepts this rule's finding about `about`: its fix is not proposed.
    pub fn waived(&self, rule: &Rule, about: Subject) -> bool {
        self.waiver(rule, about, &[]).is_some()
    }

    /// The policy's line for a setting (none for a built-in default, line 0).
    pub fn policy_loc(&self, line: usize) -> Option<Location> {
        match (&self.snap.policy.path, line) {
            (Some(p), l) if l > 0 => Some(loc(p, l)),
            _ => None,
        }
    }
}

pub fn loc(path: &str, line: usize) -> Location {
    Location {
        path: path.into(),
        line,
    }
}

/// Why `--strategy lower-backlog` leaves a finding as it is.
pub const LOWER_BACKLOG: &str =
    "--strategy lower-backlog: somaxconn stays as it is and no backlog is raised";

/// A listener as its findings name it: `service instance (address)`.
pub fn label(l: &Listener) -> String {
    format!("{} {} ({})", l.service, l.instance, l.address)
}

/// Run every rule over the context.
pub fn evaluate<'s>(rules: &[Rule], cx: &Context<'s, '_>) -> Outcome<'s> {
    let mut out = Outcome::default();
    for rule in rules {
        let _t = crate::trace::phase(rule.code.to_string());
        rule.kind.check().eval(rule, cx, &mut out);
    }
    out
}

/// The proposals of the rules that make any (the fixpoint of a plan runs only these).
pub fn proposals<'s>(rules: &[Rule], cx: &Context<'s, '_>) -> Vec<Proposal<'s>> {
    let mut out = Outcome {
        proposals_only: true,
        ..Outcome::default()
    };
    for rule in rules.iter().filter(|r| r.kind.proposes()) {
        rule.kind.check().eval(rule, cx, &mut out);
    }
    out.proposals
}

/// The built-in rules (rules/*.toml, compiled in).
pub fn builtin() -> Result<Vec<Rule>, Vec<Error>> {
    let mut rules = Vec::new();
    let mut errs = Vec::new();
    for (origin, text) in BUILTIN {
        match parse(origin, text) {
            Ok(r) => rules.push(r),
            Err(mut e) => errs.append(&mut e),
        }
    }
    if errs.is_empty() {
        Ok(rules)
    } else {
        Err(errs)
    }
}

/// Built-in rules, then site rules from the root's rules.d, then `--rules DIR`. A site rule
/// with a built-in's code replaces it. Every file's errors are collected.
pub fn load(host: &Host, extra: Option<&std::path::Path>) -> Result<Vec<Rule>, Vec<Error>> {
    let (mut rules, mut errs) = match builtin() {
        Ok(r) => (r, Vec::new()),
        Err(e) => (Vec::new(), e),
    };
    let mut add = |origin: &str, text: &str, errs: &mut Vec<Error>| match parse(origin, text) {
        Ok(r) => {
            if let Some(same) = rules.iter_mut().find(|x| x.code == r.code) {
                *same = r;
            } else {
                rules.push(r);
            }
        }
        Err(mut e) => errs.append(&mut e),
    };
    match host.list_dir(SITE_DIR) {
        Ok(names) => {
            for name in names.iter().filter(|n| n.ends_with(".toml")) {
                let path = format!("{SITE_DIR}/{name}");
                match host.read(&path) {
                    Ok(Some(text)) => add(&path, &text, &mut errs),
                    Ok(None) => {}
                    Err(e) => errs.push(e),
                }
            }
        }
        Err(e) => errs.push(e),
    }
    if let Some(dir) = extra {
        let mut names: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
            Err(e) => {
                errs.push(Error::io(format!("--rules {}", dir.display()), e));
                Vec::new()
            }
        };
        names.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        names.sort();
        for p in names {
            match crate::root::read_path(&p, crate::root::MAX_FILE_BYTES) {
                Ok(text) => add(&p.display().to_string(), &text, &mut errs),
                Err(e) => errs.push(e),
            }
        }
    }
    if errs.is_empty() {
        Ok(rules)
    } else {
        Err(errs)
    }
}

const FIELDS: [&str; 10] = [
    "code",
    "name",
    "kind",
    "severity",
    "summary",
    "explanation",
    "fix",
    "safe",
    "params",
    "example",
];

/// Parse one rule file and validate it, collecting every error with its line.
pub fn parse(origin: &str, text: &str) -> Result<Rule, Vec<Error>> {
    let file = TomlFile::parse(origin, text).map_err(|e| vec![e])?;
    let mut errs = Vec::new();
    for (k, item) in file.doc.iter() {
        if !FIELDS.contains(&k) {
            errs.push(file.error(item, format!("unknown field {k}")));
        }
    }
    // each field deserialized on its own, so one bad field does not hide the others
    fn get<T: serde::de::DeserializeOwned>(
        file: &TomlFile,
        name: &str,
        errs: &mut Vec<Error>,
    ) -> Option<T> {
        let item = file.doc.get(name)?;
        file.value(name, item).map_err(|e| errs.push(e)).ok()
    }
    let required = |name: &str, errs: &mut Vec<Error>| -> Option<String> {
        if file.doc.get(name).is_none() {
            errs.push(Error::at(origin, 1, format!("missing field {name}")));
        }
        get(&file, name, errs)
    };
    let code = required("code", &mut errs);
    let name = required("name", &mut errs);
    let summary = required("summary", &mut errs);
    let explanation = required("explanation", &mut errs);
    let fix = required("fix", &mut errs);
    let kind_name = required("kind", &mut errs);
    let severity: Option<Severity> = get(&file, "severity", &mut errs);
    let safe: Option<bool> = get(&file, "safe", &mut errs);
    let line = |field: &str| file.doc.get(field).map_or(1, |i| file.line_of(i));
    if let Some(c) = &code {
        if !(c.starts_with("QF") || c.contains('-')) {
            errs.push(Error::at(
                origin,
                line("code"),
                format!(
                    "code {c:?}: built-in codes are QFnnn, site codes need a prefix such as SITE-001"
                ),
            ));
        }
    }
    if let Some(n) = &name {
        if !n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            errs.push(Error::at(
                origin,
                line("name"),
                format!("name {n:?} must be kebab-case"),
            ));
        }
    }
    let kind = kind_name.and_then(|k| {
        Kind::read(&file, &k, file.doc.get("params"))
            .map_err(|e| errs.push(e))
            .ok()
    });
    match (code, name, summary, explanation, fix, kind) {
        (Some(code), Some(name), Some(summary), Some(explanation), Some(fix), Some(kind))
            if errs.is_empty() =>
        {
            Ok(Rule {
                code: code.into(),
                name: name.into(),
                severity: severity.unwrap_or(Severity::Warning),
                summary,
                explanation,
                fix,
                safe: safe.unwrap_or(false),
                kind,
                origin: origin.to_string(),
            })
        }
        _ => Err(errs),
    }
}

/// Find a rule by code or name.
pub fn find<'a>(rules: &'a [Rule], which: &str) -> Option<&'a Rule> {
    rules
        .iter()
        .find(|r| r.code.eq_ignore_ascii_case(which) || &*r.name == which)
}

/// Live keys the rules judge besides the persisted ones.
pub fn live_keys(rules: &[Rule]) -> Vec<String> {
    rules.iter().flat_map(|r| r.kind.live_keys()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse() {
        for (origin, text) in BUILTIN {
            if let Err(e) = parse(origin, text) {
                panic!("{origin}: {e:?}");
            }
        }
        assert!(BUILTIN.len() >= 6);
    }

    #[test]
    fn every_kind_has_a_builtin_rule() {
        let rules: Vec<Rule> = BUILTIN.iter().map(|(o, t)| parse(o, t).unwrap()).collect();
        for name in Kind::names() {
            let used = rules
                .iter()
                .any(|r| serde_json::to_value(&r.kind).unwrap()["kind"] == serde_json::json!(name));
            assert!(used, "kind {name} has no rule in rules/");
        }
    }

    #[test]
    fn bad_rule_reports_every_error_with_line() {
        let text = "code = \"X\"\nname = \"Bad Name\"\nkind = \"no-such-kind\"\nseverity = \"loud\"\nsummary = \"s\"\nexplanation = \"e\"\nfix = \"f\"\n";
        let errs = parse("site.toml", text).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("site.toml:3: unknown kind")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("site.toml:4: ") && m.contains("loud")),
            "{msgs:?}"
        );
    }

    #[test]
    fn a_kind_with_missing_params_is_an_error_at_its_line() {
        let text = "code = \"SITE-1\"\nname = \"x\"\nkind = \"kernel-rejects-value\"\nsummary = \"s\"\nexplanation = \"e\"\nfix = \"f\"\n[params]\nkey = \"net.core.somaxconn\"\n";
        let errs = parse("site.toml", text).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("site.toml:") && m.contains("max")),
            "{msgs:?}"
        );
    }
}

/// Deserializers for parameters: a kernel version written "4.12", a sysctl key in either form.
pub(crate) mod de {
    use serde::{Deserialize, Deserializer, de::Error as _};

    use crate::limits::{Version, parse_version};

    pub fn version<'de, D: Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
        let s = String::deserialize(d)?;
        parse_version(&s).ok_or_else(|| {
            D::Error::custom(format!("{s:?} is not a kernel version such as \"4.12\""))
        })
    }

    pub fn opt_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Version>, D::Error> {
        version(d).map(Some)
    }

    pub fn key<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(crate::sysctl::normalize_key(&String::deserialize(d)?))
    }
}
