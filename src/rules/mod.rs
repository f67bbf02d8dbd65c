//! Rules as data. Each `rules/*.toml` file instantiates a rule *kind* (Rust code in `kinds`)
//! with parameters, and documents itself: code, name of the flagged pattern, severity,
//! summary, explanation, the fix and whether it is safe unattended. Built-in rules are
//! compiled in; site rules load from /etc/qfix/rules.d in the root and from `--rules DIR`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use toml_edit::{ImDocument, Item};

use crate::error::Error;
use crate::host::Host;
use crate::policy::{Policy, Want, line_of};
use crate::services::{Listener, Location, Problem};
use crate::sysctl::boot::Boot;

pub mod kinds;
pub use kinds::Kind;

const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
pub const SITE_DIR: &str = "/etc/qfix/rules.d";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

#[derive(Debug, Clone)]
pub struct Rule {
    /// Shared with each of its findings (thousands on a busy host).
    pub code: Arc<str>,
    pub name: Arc<str>,
    pub severity: Severity,
    pub summary: String,
    pub explanation: String,
    pub fix: String,
    /// The fix may be applied unattended (`--yes`) without `--unsafe-fixes`.
    pub safe: bool,
    pub kind: Kind,
    /// Where the rule was defined (`rules/QF003-overridden-assignment.toml`).
    pub origin: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: Arc<str>,
    pub name: Arc<str>,
    pub severity: Severity,
    pub message: String,
    pub locations: Vec<Location>,
}

/// What a rule wants changed to fix its finding.
#[derive(Debug, Clone)]
pub enum Proposal {
    /// Hold a sysctl within bounds, live and persisted.
    Sysctl {
        key: String,
        want: Want,
        safe: bool,
        reason: Arc<str>,
    },
    /// Set a listener's backlog in its own config (an edit of the service file).
    Backlog {
        listener: usize,
        value: i64,
        safe: bool,
        reason: Arc<str>,
    },
}

/// Everything a rule may look at.
pub struct Facts<'a> {
    pub host: &'a Host,
    pub boot: &'a Boot,
    pub policy: &'a Policy,
    /// Desired values from --set and the policy, with where each came from.
    pub wants: &'a BTreeMap<String, (Want, Option<Location>)>,
    pub listeners: &'a [Listener],
    pub problems: &'a [Problem],
    /// (major, minor) of the running kernel, when known.
    pub kernel: Option<(u32, u32)>,
    /// `--strategy lower-backlog`: fix a cap by lowering service backlogs.
    pub lower_backlog: bool,
    /// Values the plan will set (live and at boot); rules judge those instead, so a plan
    /// can check that its own fixes leave nothing to fix.
    pub planned: &'a BTreeMap<String, String>,
}

#[derive(Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub proposals: Vec<Proposal>,
    /// Off while a plan iterates toward its fixed point: only proposals matter then, and
    /// formatting thousands of messages twice is the costliest part of a busy host's plan.
    pub quiet: bool,
}

impl Rule {
    pub fn finding(&self, message: String, locations: Vec<Location>) -> Finding {
        Finding {
            rule: self.code.clone(),
            name: self.name.clone(),
            severity: self.severity,
            message,
            locations,
        }
    }
}

/// Run every rule over the facts.
pub fn evaluate(rules: &[Rule], facts: &Facts) -> Outcome {
    run(rules, facts, false)
}

/// Run every rule for its proposals only.
pub fn proposals(rules: &[Rule], facts: &Facts) -> Vec<Proposal> {
    run(rules, facts, true).proposals
}

fn run(rules: &[Rule], facts: &Facts, quiet: bool) -> Outcome {
    let mut out = Outcome {
        quiet,
        ..Outcome::default()
    };
    for rule in rules.iter().filter(|r| !quiet || r.kind.proposes()) {
        rule.kind.eval(rule, facts, &mut out);
    }
    out
}

/// Built-in rules, then site rules from the root's rules.d, then `--rules DIR`. A site rule
/// with a built-in's code replaces it. Every file's errors are collected.
pub fn load(host: &Host, extra: Option<&std::path::Path>) -> Result<Vec<Rule>, Vec<Error>> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut errs = Vec::new();
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
    for (origin, text) in BUILTIN {
        add(origin, text, &mut errs);
    }
    match host.root.list_dir(SITE_DIR) {
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

/// Parse one rule file and validate it, collecting every error with its line.
pub fn parse(origin: &str, text: &str) -> Result<Rule, Vec<Error>> {
    let doc = ImDocument::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        vec![Error::at(origin, line, e.message().trim())]
    })?;
    let mut errs = Vec::new();
    let at = |item: &Item| item.span().map(|s| line_of(text, s.start)).unwrap_or(1);
    let mut field = |name: &str| -> String {
        match doc.get(name) {
            Some(item) => match item.as_str() {
                Some(s) => s.to_string(),
                None => {
                    errs.push(Error::at(
                        origin,
                        at(item),
                        format!("{name} must be a string"),
                    ));
                    String::new()
                }
            },
            None => {
                errs.push(Error::at(origin, 1, format!("missing field {name}")));
                String::new()
            }
        }
    };
    let code = field("code");
    let name = field("name");
    let severity_s = field("severity");
    let summary = field("summary");
    let explanation = field("explanation");
    let fix = field("fix");
    let kind_s = field("kind");
    for (k, item) in doc.iter() {
        const KNOWN: [&str; 10] = [
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
        if !KNOWN.contains(&k) {
            errs.push(Error::at(origin, at(item), format!("unknown field {k}")));
        }
    }
    let sev_line = doc.get("severity").map(at).unwrap_or(1);
    let severity = match severity_s.as_str() {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        "info" => Severity::Info,
        "" => Severity::Warning,
        other => {
            errs.push(Error::at(
                origin,
                sev_line,
                format!("severity {other:?}: expected error, warning or info"),
            ));
            Severity::Warning
        }
    };
    let safe = match doc.get("safe") {
        None => false,
        Some(item) => item.as_bool().unwrap_or_else(|| {
            errs.push(Error::at(origin, at(item), "safe must be true or false"));
            false
        }),
    };
    if !(code.is_empty() || code.starts_with("QF") || code.contains('-')) {
        let l = doc.get("code").map(at).unwrap_or(1);
        errs.push(Error::at(
            origin,
            l,
            format!(
                "code {code:?}: built-in codes are QFnnn, site codes need a prefix such as SITE-001"
            ),
        ));
    }
    if !name.is_empty()
        && !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        let l = doc.get("name").map(at).unwrap_or(1);
        errs.push(Error::at(
            origin,
            l,
            format!("name {name:?} must be kebab-case"),
        ));
    }
    let kind_line = doc.get("kind").map(at).unwrap_or(1);
    let params = doc.get("params");
    let kind = match Kind::from_toml(&kind_s, params, &|item: &Item| at(item)) {
        Ok(k) => Some(k),
        Err(problems) => {
            for (line, msg) in problems {
                errs.push(Error::at(origin, line.unwrap_or(kind_line), msg));
            }
            None
        }
    };
    match kind {
        Some(kind) if errs.is_empty() => Ok(Rule {
            code: code.into(),
            name: name.into(),
            severity,
            summary,
            explanation,
            fix,
            safe,
            kind,
            origin: origin.to_string(),
        }),
        _ => Err(errs),
    }
}

/// Find a rule by code or name.
pub fn find<'a>(rules: &'a [Rule], which: &str) -> Option<&'a Rule> {
    rules
        .iter()
        .find(|r| r.code.eq_ignore_ascii_case(which) || &*r.name == which)
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
    fn bad_rule_reports_every_error_with_line() {
        let text = "code = \"X\"\nname = \"Bad Name\"\nkind = \"no-such-kind\"\nseverity = \"loud\"\nsummary = \"s\"\nexplanation = \"e\"\nfix = \"f\"\n";
        let errs = parse("site.toml", text).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            msgs.iter().any(|m| m.starts_with("site.toml:1: code")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.starts_with("site.toml:2: name")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("site.toml:3: unknown kind")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.starts_with("site.toml:4: severity")),
            "{msgs:?}"
        );
    }
}
