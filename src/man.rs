//! Man pages from the clap definitions: qfix(1) and one page per command (qfix-plan(1),
//! qfix-apply(1), ...), each with its options as --help shows them. The sections clap does
//! not know (EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES, SEE ALSO) are written here, from the
//! constants the code uses, so the pages cannot drift from it. `qfix man --dir DIR` writes
//! them all for the packages; `mandoc -Tlint` finds nothing to say about them.

use std::path::{Path, PathBuf};

use clap::Command;
use clap_mangen::Man;

use crate::error::Error;

/// The pages: (file name, roff text), qfix.1 first.
pub fn pages(cmd: Command) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut cmd = cmd.disable_help_subcommand(true);
    // fills in each command's display name (qfix-plan) and usage name (qfix plan), and
    // gives the commands the global options
    cmd.build();
    let date = date();
    let mut out = vec![("qfix.1".to_string(), render_main(&cmd, &date)?)];
    for sub in commands(&cmd) {
        let name = display_name(sub);
        out.push((format!("{name}.1"), render_command(&cmd, sub, &date)?));
    }
    Ok(out)
}

/// qfix(1) alone, for `qfix man` without --dir.
pub fn main_page(cmd: Command) -> Result<Vec<u8>, Error> {
    let mut pages = pages(cmd)?;
    Ok(pages.swap_remove(0).1)
}

/// Write every page into `dir` (created if missing); returns the paths written.
pub fn write_all(cmd: Command, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut written = Vec::new();
    for (name, text) in pages(cmd)? {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(path.display(), e))?;
        written.push(path);
    }
    Ok(written)
}

/// The commands that get a page: every one --help lists.
fn commands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

fn display_name(cmd: &Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// The pages' date: SOURCE_DATE_EPOCH when a package build sets it (reproducible builds),
/// else today, as YYYY-MM-DD (the form mandoc parses).
fn date() -> String {
    let when = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap_or_else(std::time::SystemTime::now);
    humantime::format_rfc3339_seconds(when).to_string()[..10].to_string()
}

/// `version`: the program's (a command has none of its own).
fn man(cmd: &Command, version: &str, date: &str) -> Man {
    Man::new(cmd.clone())
        .title(display_name(cmd).to_uppercase())
        .date(date)
        .source(format!("qfix {version}"))
        .manual("qfix manual")
}

fn render_main(cmd: &Command, date: &str) -> Result<Vec<u8>, Error> {
    let m = man(cmd, cmd.get_version().unwrap_or_default(), date);
    let mut w = Vec::new();
    let io = |e| Error::io("qfix.1", e);
    m.render_title(&mut w).map_err(io)?;
    m.render_name_section(&mut w).map_err(io)?;
    m.render_synopsis_section(&mut w).map_err(io)?;
    m.render_description_section(&mut w).map_err(io)?;
    w.extend(roff_paragraphs(DESCRIPTION).as_bytes());
    m.render_options_section(&mut w).map_err(io)?;
    m.render_subcommands_section(&mut w).map_err(io)?;
    w.extend(exit_status().as_bytes());
    w.extend(environment().as_bytes());
    w.extend(files(cmd).as_bytes());
    w.extend(examples(cmd).as_bytes());
    let mut see_also: Vec<String> = commands(cmd)
        .map(|c| format!("{}(1)", display_name(c)))
        .collect();
    see_also
        .extend(["sysctl.d(5)", "systemd-sysctl(8)", "sysctl(8)", "listen(2)"].map(String::from));
    w.extend(see_also_section(&see_also).as_bytes());
    m.render_version_section(&mut w).map_err(io)?;
    Ok(tidy(&w))
}

fn render_command(root: &Command, cmd: &Command, date: &str) -> Result<Vec<u8>, Error> {
    let m = man(cmd, root.get_version().unwrap_or_default(), date);
    let name = display_name(cmd);
    let mut w = Vec::new();
    let io = |e| Error::io(format!("{name}.1"), e);
    m.render_title(&mut w).map_err(io)?;
    m.render_name_section(&mut w).map_err(io)?;
    m.render_synopsis_section(&mut w).map_err(io)?;
    m.render_description_section(&mut w).map_err(io)?;
    m.render_options_section(&mut w).map_err(io)?;
    w.extend(exit_status().as_bytes());
    let mut see_also = vec!["qfix(1)".to_string()];
    see_also.extend(
        commands(root)
            .filter(|c| c.get_name() != cmd.get_name())
            .map(|c| format!("{}(1)", display_name(c))),
    );
    w.extend(see_also_section(&see_also).as_bytes());
    Ok(tidy(&w))
}

const DESCRIPTION: &[&str] = &[
    "Linux caps every listen() backlog at net.core.somaxconn (per network namespace), \
     silently. qfix reads the live sysctls, every persisted sysctl file with \
     systemd-sysctl's boot-time precedence, and the configurations of nginx, php-fpm, Redis, \
     HAProxy, Apache, MySQL/MariaDB, memcached, uWSGI and systemd socket units; it reports \
     each mismatch with the file and line it comes from.",
    "qfix plan shows the findings and the changes it proposes (unified diffs and sysctl \
     commands); qfix apply applies them after approval, atomically and with backups; qfix \
     rollback undoes an apply. Every command reads the host under --root (default /), so a \
     mounted image or a configuration checkout can be checked too.",
];

fn exit_status() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in crate::cli::EXIT_STATUS {
        s += &format!(".TP\n{code}\n{}\n", esc(meaning));
    }
    s
}

fn environment() -> String {
    let vars: &[(&str, &str)] = &[
        (
            "QFIX_TRACE",
            "When set to anything but 0, qfix prints how long each phase took (wall clock and \
             CPU time) to standard error.",
        ),
        (
            "NO_COLOR",
            "When set, help and usage messages are not coloured. qfix's own output is plain \
             text in any case. CLICOLOR_FORCE=1 colours help even when it is not printed to a \
             terminal.",
        ),
        (
            "PATH",
            "Where qfix apply looks for the services' own configuration checkers (nginx, \
             php-fpm, apachectl, haproxy) and, with --restart, for systemctl or the init \
             scripts.",
        ),
        (
            "CI",
            "Not read: qfix behaves the same in CI. What changes its behaviour is whether \
             standard input and standard error are terminals: without them qfix apply and qfix \
             rollback never prompt and refuse to write unless --yes is given.",
        ),
    ];
    let mut s = String::from(".SH ENVIRONMENT\n");
    for (name, what) in vars {
        s += &format!(".TP\n.B {name}\n{}\n", esc(what));
    }
    s
}

fn files(cmd: &Command) -> String {
    let mut entries: Vec<(String, String)> = vec![
        (
            crate::policy::DEFAULT_PATH.into(),
            "The site policy: desired sysctl values and the listeners' minimum backlog (or the \
             file given with --policy)."
                .into(),
        ),
        (
            format!("{}/*.toml", crate::rules::SITE_DIR),
            "Site rules, read after the built-in ones (and those of --rules DIR).".into(),
        ),
        (
            "/usr/share/qfix/rules/*.toml".into(),
            "The built-in rules, installed for reference and for site rules to copy from (qfix \
             carries them compiled in)."
                .into(),
        ),
        (
            "/etc/sysctl.d/*.conf, /run/sysctl.d/*.conf, /usr/local/lib/sysctl.d/*.conf, \
             /usr/lib/sysctl.d/*.conf, /etc/sysctl.conf"
                .into(),
            "The persisted sysctl settings, resolved as systemd-sysctl does at boot.".into(),
        ),
        (
            "/proc/sys".into(),
            "The live values. Without it under the root, qfix works offline on boot values.".into(),
        ),
        (
            format!("{}/TIMESTAMP/", crate::apply::BACKUP_DIR),
            "One directory per apply: a copy of each file before it was changed, and \
             manifest.json, which qfix rollback reads."
                .into(),
        ),
        (
            crate::apply::LOCK_PATH.into(),
            "Held while qfix apply or qfix rollback runs, so that only one runs at a time \
             (--lock-timeout)."
                .into(),
        ),
        (
            "PLANFILE".into(),
            "A plan saved by qfix plan --out, with fingerprints of everything it read: qfix \
             apply PLANFILE refuses it if any of that changed since."
                .into(),
        ),
    ];
    // the snapshot file exists only where the CLI has a snapshot command to write it
    if cmd.find_subcommand("snapshot").is_some() {
        entries.push((
            "SNAPSHOT".into(),
            "A recording of a host's live state written by qfix snapshot, which --snapshot \
             judges a configuration checkout against."
                .into(),
        ));
    }
    let mut s = String::from(".SH FILES\nPaths are inside the root given with --root.\n");
    for (path, what) in entries {
        s += &format!(".TP\n.I {}\n{}\n", quote_arg(&path), esc(&what));
    }
    s
}

fn examples(cmd: &Command) -> String {
    let mut examples: Vec<(&str, &str)> = vec![
        (
            "What would change on this host, with the evidence:",
            "qfix plan",
        ),
        (
            "Ask for a somaxconn of 8192, save the plan for review, then apply exactly that \
             plan, safe changes only:",
            "qfix plan --set net.core.somaxconn=8192 --out /root/qfix.plan\n\
             qfix apply --yes /root/qfix.plan",
        ),
        (
            "Where each key's boot value comes from, and what it overrides:",
            "qfix blame 'net.core.*'",
        ),
        (
            "Check a mounted image, files only (no live values):",
            "qfix --root /mnt/image plan\nqfix --root /mnt/image apply --yes --persist-only",
        ),
        ("Undo the last apply:", "qfix rollback"),
        ("What a rule means:", "qfix explain QF101"),
    ];
    if cmd.find_subcommand("snapshot").is_some() {
        examples.push((
            "Review a configuration checkout against a host's recorded live state:",
            "ssh web1 qfix snapshot > web1.json\nqfix --root ./checkout plan --snapshot web1.json",
        ));
    }
    let mut s = String::from(".SH EXAMPLES\n");
    for (i, (what, commands)) in examples.iter().enumerate() {
        // a section starts a paragraph of its own
        if i > 0 {
            s += ".PP\n";
        }
        s += &format!("{}\n.PP\n.RS 4\n.EX\n", esc(what));
        for line in commands.lines() {
            s += &format!("{}\n", esc(line));
        }
        s += ".EE\n.RE\n";
    }
    s
}

fn see_also_section(pages: &[String]) -> String {
    let refs: Vec<String> = pages
        .iter()
        .map(|p| match p.split_once('(') {
            Some((name, section)) => format!(".BR {} ({}", esc(name), section),
            None => esc(p),
        })
        .collect();
    let mut s = String::from(".SH \"SEE ALSO\"\n");
    let last = refs.len().saturating_sub(1);
    for (i, r) in refs.iter().enumerate() {
        // .BR name (1), : the comma belongs to the roman part
        s += r;
        if i != last {
            s += " ,";
        }
        s += "\n";
    }
    s
}

fn roff_paragraphs(paras: &[&str]) -> String {
    paras.iter().map(|p| format!(".PP\n{}\n", esc(p))).collect()
}

/// Text for a roff text line: backslashes and hyphens escaped, and a line that would start
/// with a control character (. or ') protected.
fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 8);
    for line in text.split('\n') {
        if !s.is_empty() {
            s.push('\n');
        }
        if line.starts_with('.') || line.starts_with('\'') {
            s.push_str("\\&");
        }
        for c in line.chars() {
            match c {
                '\\' => s.push_str("\\e"),
                '-' => s.push_str("\\-"),
                c => s.push(c),
            }
        }
    }
    s
}

/// One argument of a request (.I ...): quoted when it holds spaces.
fn quote_arg(text: &str) -> String {
    let e = esc(text);
    if e.contains(' ') {
        format!("\"{}\"", e.replace('"', "\\(dq"))
    } else {
        e
    }
}

/// The rendered page with trailing spaces dropped, clap_mangen's `.br`, blank line, `.br`
/// between an option's text and its values made one `.sp`, and text lines (not requests, not
/// no-fill blocks) broken at spaces to at most 80 bytes, as man pages' sources are.
fn tidy(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page).replace(".br\n\n.br\n", ".sp\n");
    let mut out = String::with_capacity(text.len() + 64);
    let mut fill = true;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with(".nf") || line.starts_with(".EX") {
            fill = false;
        } else if line.starts_with(".fi") || line.starts_with(".EE") {
            fill = true;
        }
        if !fill || line.starts_with('.') || line.starts_with('\'') || line.len() <= 80 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        let mut words = line.split(' ').peekable();
        while let Some(word) = words.next() {
            let mut word = word.to_string();
            // an escaped space (\ ) is part of the word: keep the pieces together
            while word.ends_with('\\') {
                match words.next() {
                    Some(next) => word = format!("{word} {next}"),
                    None => break,
                }
            }
            if !current.is_empty() && current.len() + 1 + word.len() > 80 {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if current.is_empty() && (word.starts_with('.') || word.starts_with('\'')) {
                current.push_str("\\&");
            } else if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_lines_break_at_spaces_and_requests_stay_whole() {
        let long = "word ".repeat(40);
        let page = format!(".TH X 1\n{long}\n.TP \"{long}\"\n.nf\n{long}\n.fi\n");
        let out = String::from_utf8(tidy(page.as_bytes())).unwrap();
        let text: Vec<&str> = out
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with('.'))
            .collect();
        assert!(
            text.len() > 1 && text.iter().all(|l| l.len() <= 80),
            "{out}"
        );
        let words: usize = text.iter().map(|l| l.split(' ').count()).sum();
        assert_eq!(words, 40, "{out}");
        assert!(out.contains(&format!(".TP \"{long}\"")), "{out}");
        assert!(
            out.contains(&format!(".nf\n{}\n.fi", long.trim_end())),
            "{out}"
        );
    }

    #[test]
    fn text_is_escaped_for_roff() {
        assert_eq!(esc(".x a-b \\n"), "\\&.x a\\-b \\en");
    }
}
