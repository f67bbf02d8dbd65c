//! The plan for people. By default it fits a screen on a busy host: findings grouped by rule
//! and service, each group with a count and its three worst findings; then the changes
//! (the first diffs, one line for each further file), the live commands and the restarts.
//! `--all` lists everything. Text wraps at the terminal's width (80 when not a terminal);
//! `-->` locations and diffs are never broken.

use std::collections::BTreeMap;
use std::io::{self, Write};

use dialoguer::console::Style;

use crate::plan::{Change, Plan};
use crate::rules::{Finding, Severity};

/// How the text is laid out.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// List every finding and every diff.
    pub all: bool,
    pub width: usize,
    /// Colour severities (a terminal, and NO_COLOR unset).
    pub color: bool,
}

/// Findings shown per group, and diffs shown, by default.
const EXAMPLES: usize = 3;
const DIFFS: usize = 3;

impl View {
    /// For standard output (or standard error, for the apply prompt).
    pub fn for_terminal(all: bool, stderr: bool) -> View {
        let term = if stderr {
            dialoguer::console::Term::stderr()
        } else {
            dialoguer::console::Term::stdout()
        };
        // a terminal's width, else COLUMNS (as shells export it), else 80
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
        let width = term
            .size_checked()
            .map(|(_, cols)| cols as usize)
            .or(columns)
            .unwrap_or(80)
            .max(40);
        // no-color.org: only a NO_COLOR with a value turns colour off (console's own check
        // also takes an empty one)
        let color = match std::env::var_os("NO_COLOR") {
            Some(v) if !v.is_empty() => false,
            Some(_) => term.is_term(),
            None if stderr => dialoguer::console::colors_enabled_stderr(),
            None => dialoguer::console::colors_enabled(),
        };
        View { all, width, color }
    }

    fn severity(&self, s: Severity) -> String {
        let style = match s {
            Severity::Error => Style::new().red().bold(),
            Severity::Warning => Style::new().yellow(),
            Severity::Info => Style::new().cyan(),
        };
        if self.color {
            style.force_styling(true).apply_to(s.as_str()).to_string()
        } else {
            s.as_str().to_string()
        }
    }

    /// `text` wrapped to the width, its first line after `first`, the rest after `rest`.
    fn wrap(&self, w: &mut dyn Write, first: &str, rest: &str, text: &str) -> io::Result<()> {
        let opts = textwrap::Options::new(self.width)
            .initial_indent(first)
            .subsequent_indent(rest)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        for line in textwrap::wrap(text, opts) {
            writeln!(w, "{line}")?;
        }
        Ok(())
    }
}

pub fn write(w: &mut dyn Write, p: &Plan, view: View) -> io::Result<()> {
    findings(w, &p.findings, view)?;
    changes(w, p, view)?;
    let cmds = p.commands();
    writeln!(w, "\nlive commands ({}):", cmds.len())?;
    for c in cmds {
        writeln!(w, "  {c}")?;
    }
    writeln!(w, "\nrestarts ({}):", p.restarts.len())?;
    for r in &p.restarts {
        let head = format!("  {} {} ({}): ", r.verb(), r.unit, r.service);
        view.wrap(w, &head, "      ", &r.reason)?;
    }
    if !p.notes.is_empty() {
        writeln!(w, "\nnot seen ({}):", p.notes.len())?;
        for n in &p.notes {
            view.wrap(w, "  ", "      ", n)?;
        }
    }
    let open_errors = p.open_errors();
    match (p.changes.is_empty(), p.restarts.is_empty()) {
        (true, true) if open_errors > 0 => writeln!(
            w,
            "\nnothing qfix can change, but {open_errors} error finding(s) above need a person"
        )?,
        (true, true) => writeln!(w, "\nnothing to change")?,
        (true, false) => writeln!(
            w,
            "\nnothing to write; the restarts above make running services listen again (qfix apply --restart)"
        )?,
        _ => {}
    }
    Ok(())
}

fn findings(w: &mut dyn Write, all: &[Finding], view: View) -> io::Result<()> {
    let accepted = all.iter().filter(|f| f.accepted.is_some()).count();
    if accepted > 0 {
        writeln!(w, "findings ({}, {accepted} accepted):", all.len())?;
    } else {
        writeln!(w, "findings ({}):", all.len())?;
    }
    if view.all {
        return all.iter().try_for_each(|f| finding(w, f, view));
    }
    // groups by rule and service, the worst rule first, in the order rules ran
    let mut groups: BTreeMap<(std::cmp::Reverse<Severity>, usize), Vec<&Finding>> = BTreeMap::new();
    let mut order: Vec<(&str, &str)> = Vec::new();
    for f in all {
        let service = f
            .listener
            .as_deref()
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let g = (&*f.rule, service);
        let i = order.iter().position(|x| *x == g).unwrap_or_else(|| {
            order.push(g);
            order.len() - 1
        });
        groups
            .entry((std::cmp::Reverse(f.severity), i))
            .or_default()
            .push(f);
    }
    for ((_, i), mut fs) in groups {
        if fs.len() <= EXAMPLES {
            for f in fs {
                finding(w, f, view)?;
            }
            continue;
        }
        // a big group: a count, then the worst findings a line each (location, message)
        let (rule, service) = order[i];
        let of = if service.is_empty() {
            String::new()
        } else {
            format!(" on {service}")
        };
        let text = format!("{} findings{of}; worst {EXAMPLES}:", fs.len());
        headed(w, view, fs[0].severity, rule, &fs[0].name, &text)?;
        fs.sort_by_key(|f| (std::cmp::Reverse(f.severity), std::cmp::Reverse(f.weight)));
        for f in fs.iter().take(EXAMPLES) {
            writeln!(w, "{}", clip(&format!("    {}", f.message), view.width))?;
            if let Some(l) = f.locations.first() {
                writeln!(w, "      --> {}:{}", l.path, l.line)?;
            }
        }
        writeln!(
            w,
            "      ... and {} more (qfix plan --all lists them)",
            fs.len() - EXAMPLES
        )?;
    }
    Ok(())
}

/// `line` cut to `width` columns with an ellipsis.
fn clip(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut out: String = line.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn finding(w: &mut dyn Write, f: &Finding, view: View) -> io::Result<()> {
    headed(w, view, f.severity, &f.rule, &f.name, &f.message)?;
    for l in &f.locations {
        writeln!(w, "      --> {}:{}", l.path, l.line)?;
    }
    if let Some(a) = &f.accepted {
        let head = match &a.until {
            Some(u) => format!("      accepted until {u}: "),
            None => "      accepted: ".to_string(),
        };
        view.wrap(w, &head, "        ", &a.reason)?;
    }
    Ok(())
}

fn changes(w: &mut dyn Write, p: &Plan, view: View) -> io::Result<()> {
    let files: Vec<&Change> = p
        .changes
        .iter()
        .filter(|c| matches!(c, Change::File { .. }))
        .collect();
    writeln!(w, "\nfile changes ({}):", files.len())?;
    let shown = if view.all { files.len() } else { DIFFS };
    for (n, c) in files.iter().enumerate() {
        let Change::File {
            path,
            diff,
            safe,
            reason,
            old,
            ..
        } = c
        else {
            continue;
        };
        let class = if *safe { "safe" } else { "needs review" };
        if n < shown {
            view.wrap(w, "# ", "#   ", &format!("{reason} [{class}]"))?;
            write!(w, "{diff}")?;
            if !diff.ends_with('\n') {
                writeln!(w)?;
            }
        } else {
            let verb = if old.is_some() { "edit" } else { "create" };
            view.wrap(
                w,
                "  ",
                "      ",
                &format!("{verb} {path} ({reason}) [{class}]"),
            )?;
        }
    }
    if files.len() > shown {
        writeln!(
            w,
            "  ({} more diffs: qfix plan --all shows them)",
            files.len() - shown
        )?;
    }
    Ok(())
}

/// `  severity[CODE name] text`, wrapped to the width under a six-column indent.
fn headed(
    w: &mut dyn Write,
    view: View,
    severity: Severity,
    rule: &str,
    name: &str,
    text: &str,
) -> io::Result<()> {
    let head = format!("  {}[{} {}] ", view.severity(severity), rule, name);
    // the colour codes take no room on the screen
    let pad = format!("  {}[{} {}] ", severity.as_str(), rule, name);
    let opts = textwrap::Options::new(view.width)
        .initial_indent(&pad)
        .subsequent_indent("      ")
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    for (n, line) in textwrap::wrap(text, opts).iter().enumerate() {
        if n == 0 {
            writeln!(w, "{head}{}", &line[pad.len().min(line.len())..])?;
        } else {
            writeln!(w, "{line}")?;
        }
    }
    Ok(())
}
