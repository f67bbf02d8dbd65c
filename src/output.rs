//! The one module that prints. Text for people, JSON (stable shapes, documented in the
//! README) for tools.

use std::io::Write;

mod plan_text;
pub use plan_text::{View, write as write_plan};

use serde_json::{Value, json};

use crate::apply::Report;
use crate::blame::Entry;
use crate::listing::Listing;
use crate::plan::{Change, Plan};
use crate::rules::{Finding, Rule};
use crate::services::{Location, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    // a closed pipe (qfix plan | head) is not an error worth a panic
    let _ = o.write_all(s.as_bytes());
}

fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::new(std::io::stdout().lock())
}

pub fn json<T: serde::Serialize + ?Sized>(v: &T) {
    let mut o = stdout();
    let _ = serde_json::to_writer_pretty(&mut o, v)
        .map_err(std::io::Error::other)
        .and_then(|()| writeln!(o))
        .and_then(|()| o.flush());
}

pub fn error(msg: &str) {
    eprintln!("qfix: error: {msg}");
}

pub fn warning(msg: &str) {
    eprintln!("qfix: warning: {msg}");
}

pub fn note(msg: &str) {
    eprintln!("qfix: {msg}");
}

fn loc(l: &Location) -> String {
    format!("{}:{}", l.path, l.line)
}

pub fn blame(entries: &[Entry], format: Format) {
    if format == Format::Json {
        return json(&json!({ "keys": entries }));
    }
    let mut s = String::new();
    for e in entries {
        s.push_str(&format!("{}\n", e.key));
        s.push_str(&format!("  live: {}\n", e.live.as_deref().unwrap_or("-")));
        match (&e.boot, &e.source) {
            (Some(b), Some(src)) => s.push_str(&format!("  boot: {b}    set at {}\n", loc(src))),
            _ => s.push_str("  boot: (not persisted: the kernel default stays)\n"),
        }
        for o in &e.overridden {
            s.push_str(&format!(
                "  overrides: {}:{} {} = {}\n",
                o.path, o.line, e.key, o.value
            ));
        }
    }
    out(&s);
}

/// A change as `plan --format json` shows it (contents stay in saved plans only).
#[derive(serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum ChangeJson<'a> {
    Sysctl {
        key: &'a str,
        from: Option<String>,
        to: &'a str,
        safe: bool,
    },
    File {
        path: &'a str,
        diff: &'a str,
        safe: bool,
        reason: &'a str,
        created: bool,
    },
}

fn change_json(c: &Change) -> ChangeJson<'_> {
    match c {
        Change::Sysctl {
            key,
            from,
            to,
            safe,
        } => ChangeJson::Sysctl {
            key,
            from: from.as_deref().map(crate::sysctl::norm_value),
            to,
            safe: *safe,
        },
        Change::File {
            path,
            diff,
            safe,
            reason,
            old,
            ..
        } => ChangeJson::File {
            path,
            diff,
            safe: *safe,
            reason,
            created: old.is_none(),
        },
    }
}

#[derive(serde::Serialize)]
struct PlanJson<'a> {
    offline: bool,
    findings: &'a [Finding],
    changes: Vec<ChangeJson<'a>>,
    commands: Vec<String>,
    restarts: &'a [crate::plan::Restart],
    errors: Vec<String>,
}

pub fn plan(p: &Plan, format: Format, view: View) {
    if format == Format::Json {
        return json(&PlanJson {
            offline: p.offline,
            findings: &p.findings,
            changes: p.changes.iter().map(change_json).collect(),
            commands: p.commands(),
            restarts: &p.restarts,
            errors: p.errors.iter().map(|e| e.to_string()).collect(),
        });
    }
    let mut o = stdout();
    // a closed pipe (qfix plan | head) is not an error worth reporting
    let _ = plan_text::write(&mut o, p, view).and_then(|()| o.flush());
}

pub fn apply(r: &Report, format: Format) {
    if format == Format::Json {
        return json(
            &json!({ "changed": r.changed, "applied": r.applied, "backups": r.backups, "skipped": r.skipped, "restarts": r.restarts, "backup_dir": r.backup_dir }),
        );
    }
    let mut s = String::new();
    if !r.changed {
        s.push_str("nothing changed\n");
    }
    for a in &r.applied {
        s.push_str(&format!("applied: {a}\n"));
    }
    for b in &r.backups {
        match &b.backup {
            Some(copy) => s.push_str(&format!("backup: {} -> {copy}\n", b.path)),
            None => s.push_str(&format!(
                "created: {} (no backup: it did not exist)\n",
                b.path
            )),
        }
    }
    for k in &r.skipped {
        s.push_str(&format!("skipped: {k}\n"));
    }
    for k in &r.restarts {
        s.push_str(&format!("restart: {k}\n"));
    }
    if let (true, Some(dir)) = (r.changed, &r.backup_dir) {
        s.push_str(&format!(
            "undo with: qfix rollback {}\n",
            crate::root::file_name(dir)
        ));
    }
    out(&s);
}

pub fn listeners(listing: &Listing, format: Format) {
    let source = |s: &Source| match s {
        Source::At(l) => json!({ "path": l.path, "line": l.line }),
        Source::Default(_) => json!("default"),
    };
    if format == Format::Json {
        let som: Vec<Value> = listing
            .somaxconn
            .iter()
            .map(|s| json!({ "side": s.side, "value": s.value, "source": s.at }))
            .collect();
        let ls: Vec<Value> = listing
            .rows
            .iter()
            .map(|r| {
                let l = r.listener;
                let mut v = json!({
                    "service": l.service, "instance": l.instance, "address": l.address,
                    "requested": l.requested, "requested_source": source(&l.source),
                    "effective_live": r.effective_live, "effective_boot": r.effective_boot,
                });
                if let Source::Default(why) = &l.source {
                    v["default_reason"] = json!(why);
                }
                v
            })
            .collect();
        return json(&json!({ "somaxconn": som, "listeners": ls }));
    }
    let mut s = String::new();
    for side in &listing.somaxconn {
        let at = side
            .at
            .as_ref()
            .map(loc)
            .unwrap_or_else(|| "kernel default".into());
        s.push_str(&format!(
            "somaxconn ({}): {}   from {at}\n",
            side.side,
            side.value.map_or("unknown".into(), |v| v.to_string())
        ));
    }
    s.push_str(&format!(
        "\n{:<10} {:<24} {:<36} {:>9} {:>9} {:>9}  {}\n",
        "SERVICE", "INSTANCE", "ADDRESS", "REQUESTED", "LIVE", "BOOT", "FROM"
    ));
    let num = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    for r in &listing.rows {
        let l = r.listener;
        let from = match &l.source {
            Source::At(x) => loc(x),
            Source::Default(why) => format!("default ({why})"),
        };
        s.push_str(&format!(
            "{:<10} {:<24} {:<36} {:>9} {:>9} {:>9}  {}\n",
            l.service,
            l.instance,
            l.address,
            num(l.requested),
            num(r.effective_live),
            num(r.effective_boot),
            from
        ));
    }
    out(&s);
}

pub fn rules(rules: &[Rule], format: Format) {
    if format == Format::Json {
        let v: Vec<Value> = rules
            .iter()
            .map(|r| json!({ "code": r.code, "name": r.name, "severity": r.severity, "safe": r.safe, "summary": r.summary, "origin": r.origin }))
            .collect();
        return json(&json!({ "rules": v }));
    }
    let mut s = String::new();
    for r in rules {
        let class = if r.safe { "safe" } else { "review" };
        s.push_str(&format!(
            "{:<7} {:<36} {:<8} {:<7} {}\n",
            r.code,
            r.name,
            r.severity.as_str(),
            class,
            r.summary
        ));
    }
    out(&s);
}

pub fn explain(r: &Rule) {
    let class = if r.safe {
        "safe to apply unattended"
    } else {
        "needs review (applied by --yes only with --unsafe-fixes)"
    };
    out(&format!(
        "{} {} ({})\n{}\n\n{}\nFix: {}\nFix class: {class}\nDefined in: {}\n",
        r.code,
        r.name,
        r.severity.as_str(),
        r.summary,
        r.explanation.trim_end(),
        r.fix,
        r.origin
    ));
}
