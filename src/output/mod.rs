//! The one module that prints. Text for people, JSON (stable shapes, documented in the
//! README) for tools.

use std::io::Write;

pub mod json;
mod plan_text;
mod screen;
pub use plan_text::{View, write as write_plan};
pub use screen::Screen;

use crate::apply::Report;
use crate::blame::Entry;
use crate::listing::Listing;
use crate::plan::Plan;
use crate::rules::Rule;
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

/// Errors of a failed command: on stderr, and under `--format json` also as JSON on stdout,
/// so a tool never reads an empty output.
pub fn errors(errs: &[crate::error::Error], format: Format) {
    for e in errs {
        error(&e.to_string());
    }
    if format == Format::Json {
        json(&json::Errors::of(errs));
    }
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
        return json(&json::BlameOut::of(entries));
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

pub fn plan(p: &Plan, format: Format, view: View) {
    if format == Format::Json {
        return json(&json::PlanOut::of(p));
    }
    let mut o = stdout();
    // a closed pipe (qfix plan | head) is not an error worth reporting
    let _ = plan_text::write(&mut o, p, view).and_then(|()| o.flush());
}

pub fn apply(r: &Report, format: Format) {
    if format == Format::Json {
        return json(&json::ApplyOut::of(r));
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
    // long reasons wrap like the plan's, under a four-column indent
    let width = View::for_terminal(false, false).width;
    let opts = textwrap::Options::new(width)
        .subsequent_indent("    ")
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    let mut line = |text: String| {
        s.push_str(&textwrap::fill(&text, &opts));
        s.push('\n');
    };
    for k in &r.skipped {
        line(format!("skipped: {} ({})", k.what, k.reason));
    }
    for k in &r.restarts {
        match &k.command {
            Some(c) => line(format!("restart: ran {c}")),
            None => line(format!(
                "restart: needed: {} {} ({})",
                k.action, k.unit, k.reason
            )),
        }
    }
    for p in &r.proof {
        let q = |v: Option<u32>| v.map_or("no socket".to_string(), |v| v.to_string());
        s.push_str(&format!(
            "listening: {} {}: kernel backlog {} -> {} (planned {})\n",
            p.unit,
            p.address,
            q(p.before),
            q(p.after),
            p.expected.map_or("?".to_string(), |e| e.to_string())
        ));
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
    if format == Format::Json {
        let listeners = listing
            .rows
            .iter()
            .map(|r| {
                let l = r.listener;
                json::ListenerOut {
                    service: l.service.to_string(),
                    instance: l.instance.clone(),
                    address: l.address.clone(),
                    requested: l.requested,
                    requested_source: match &l.source {
                        Source::At(at) => json::RequestedSource::At(at.clone()),
                        Source::Default(_) => json::RequestedSource::Default("default"),
                    },
                    default_reason: match &l.source {
                        Source::Default(why) => Some(why.to_string()),
                        Source::At(_) => None,
                    },
                    effective_live: r.effective_live,
                    effective_boot: r.effective_boot,
                    kernel: r.kernel.as_ref().map(json::KernelOut::of),
                }
            })
            .chain(listing.unknown.iter().map(|seen| json::ListenerOut {
                service: "unknown".into(),
                instance: seen.owner(),
                address: seen.socket.address.clone(),
                requested: None,
                requested_source: json::RequestedSource::Default("default"),
                default_reason: None,
                effective_live: None,
                effective_boot: None,
                kernel: Some(json::KernelOut::of(seen)),
            }))
            .collect();
        let somaxconn = listing
            .somaxconn
            .iter()
            .map(|s| json::SomaxconnOut {
                side: s.side,
                value: s.value,
                source: s.at.clone(),
            })
            .collect();
        return json(&json::ListenersOut {
            format_version: json::FORMAT_VERSION,
            observed: listing.observed,
            somaxconn,
            listeners,
            notes: listing.notes.clone(),
        });
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
    // LIVE and BOOT are computed from the configs; KERNEL and QUEUE are what the kernel
    // holds (Send-Q, Recv-Q), shown when its sockets were read
    let observed = listing.observed;
    let head = |s: &mut String, cols: [&str; 9]| {
        s.push_str(&format!(
            "{:<10} {:<24} {:<36} {:>9} {:>9} {:>9}",
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
        ));
        if observed {
            s.push_str(&format!(" {:>7} {:>6}", cols[6], cols[7]));
        }
        s.push_str(&format!("  {}\n", cols[8]));
    };
    s.push('\n');
    head(
        &mut s,
        [
            "SERVICE",
            "INSTANCE",
            "ADDRESS",
            "REQUESTED",
            "LIVE",
            "BOOT",
            "KERNEL",
            "QUEUE",
            "FROM",
        ],
    );
    let num = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let seen = |k: Option<&crate::observed::Seen>,
                f: fn(&crate::kernel::KernelListener) -> Option<u32>| {
        k.and_then(|k| f(k.socket))
            .map_or("-".to_string(), |v| v.to_string())
    };
    for r in &listing.rows {
        let l = r.listener;
        let from = match &l.source {
            Source::At(x) => loc(x),
            Source::Default(why) => format!("default ({why})"),
        };
        head(
            &mut s,
            [
                &l.service,
                &l.instance,
                &l.address,
                &num(l.requested),
                &num(r.effective_live),
                &num(r.effective_boot),
                &seen(r.kernel.as_ref(), |k| k.backlog),
                &seen(r.kernel.as_ref(), |k| k.queue),
                &from,
            ],
        );
    }
    for u in &listing.unknown {
        head(
            &mut s,
            [
                "unknown",
                &u.owner(),
                &u.socket.address,
                "-",
                "-",
                "-",
                &seen(Some(u), |k| k.backlog),
                &seen(Some(u), |k| k.queue),
                &crate::observed::netns(u.ns),
            ],
        );
    }
    if observed {
        s.push_str("\nLIVE, BOOT: computed, min(requested, somaxconn); KERNEL, QUEUE: observed (Send-Q, Recv-Q)\n");
    } else {
        s.push_str("\nLIVE, BOOT: computed, min(requested, somaxconn); the kernel's sockets were not read\n");
    }
    if !listing.notes.is_empty() {
        s.push_str(&format!("\nnot seen ({}):\n", listing.notes.len()));
        let width = View::for_terminal(false, false).width;
        let opts = textwrap::Options::new(width)
            .initial_indent("  ")
            .subsequent_indent("      ")
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        for n in &listing.notes {
            s.push_str(&textwrap::fill(n, &opts));
            s.push('\n');
        }
    }
    out(&s);
}

pub fn rules(rules: &[Rule], format: Format) {
    if format == Format::Json {
        return json(&json::RulesOut::of(rules));
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
