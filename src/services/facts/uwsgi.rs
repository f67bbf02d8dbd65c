//! uWSGI's log settings (`UwsgiFacts`), one entry per ini file the uWSGI scanner reads
//! (/etc/uwsgi/apps-enabled/*.ini, /etc/uwsgi.ini, /etc/uwsgi.d/*.ini), its `[uwsgi]` section
//! only, as uWSGI reads it:
//! - `logto`/`logto2` and `daemonize`/`daemonize2` name a file; `logger = [NAME ]file:PATH`
//!   (the logfile plugin) one more, `logger = [NAME ]syslog[:...]` syslog;
//! - magic variables `%n` (file name without extension), `%s` (file name), `%d` (its
//!   directory, with a trailing slash), `%p` (its path), `%e` (extension), `%c` (directory
//!   name), `%%`; `%(option)` placeholders are left as written, with a note;
//! - Debian's init script starts each app in apps-enabled with `--daemonize
//!   /var/log/uwsgi/app/NAME.log` after the app's ini, so that file is its log unless the ini
//!   changes the daemonize path itself (which the command line then overrides: the script's
//!   `--daemonize` comes last).
//!
//! With none of these uWSGI logs to stderr: the journal under systemd.

use super::{LogSetting, LogTarget, Set, UwsgiFacts};
use crate::host::Host;
use crate::root;
use crate::services::{Location, Scan};

const FILES: [&str; 3] = [
    "/etc/uwsgi/apps-enabled/*.ini",
    "/etc/uwsgi.ini",
    "/etc/uwsgi.d/*.ini",
];
const APPS: &str = "/etc/uwsgi/apps-enabled/";

/// The uWSGI scanner reports unreadable files; this one only adds facts.
pub fn scan(host: &Host, scan: &mut Scan) {
    for pat in FILES {
        for f in host.glob(pat).unwrap_or_default() {
            if let Ok(Some(text)) = host.read(&f) {
                scan.facts.uwsgi.push(facts(&f, &text));
            }
        }
    }
}

/// The log settings of the ini file at `path`.
pub(crate) fn facts(path: &str, text: &str) -> UwsgiFacts {
    let mut in_uwsgi = false;
    let mut logs: Vec<LogSetting> = Vec::new();
    // the daemonize value in effect: a later one replaces it
    let mut daemonize: Option<Set<String>> = None;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(s) = t.strip_prefix('[') {
            in_uwsgi = s
                .split_once(']')
                .is_some_and(|(sect, _)| sect.trim() == "uwsgi");
            continue;
        }
        let Some((k, v)) = t.split_once('=').filter(|_| in_uwsgi) else {
            continue;
        };
        let key = k.trim().replace('_', "-");
        let value = magic(path, v.trim());
        let at = Location {
            path: path.into(),
            line: i + 1,
        };
        match key.as_str() {
            "daemonize" | "daemonize2" => daemonize = Some(Set { value, at }),
            "logto" | "logto2" => logs.push(file(&value, Some(at))),
            "logger" => {
                // `[NAME ]PLUGIN[:ARGS]`
                let spec = value.rsplit(' ').next().unwrap_or(&value);
                if let Some(p) = spec.strip_prefix("file:") {
                    logs.push(file(p, Some(at)));
                } else if spec.starts_with("syslog") || spec.starts_with("rsyslog") {
                    logs.push(LogSetting {
                        target: LogTarget::Syslog {
                            spec: spec.to_string(),
                        },
                        at: Some(at),
                        note: None,
                    });
                }
            }
            _ => {}
        }
    }
    if path.starts_with(APPS) {
        let name = stem(path);
        let mut s = file(&format!("/var/log/uwsgi/app/{name}.log"), None);
        s.note = Some(match &daemonize {
            Some(d) => format!(
                "Debian's init script starts it with --daemonize /var/log/uwsgi/app/{name}.log, \
                 which overrides daemonize = {} ({}:{})",
                d.value, d.at.path, d.at.line
            ),
            None => format!(
                "Debian's init script starts it with --daemonize /var/log/uwsgi/app/{name}.log"
            ),
        });
        logs.push(s);
    } else if let Some(d) = daemonize {
        logs.push(file(&d.value, Some(d.at)));
    }
    if logs.is_empty() {
        logs.push(LogSetting {
            target: LogTarget::Stream {
                name: "stderr".into(),
            },
            at: None,
            note: Some("no logto, daemonize or logger: stderr, the journal under systemd".into()),
        });
    }
    UwsgiFacts {
        config: path.to_string(),
        logs,
    }
}

/// A log file setting. uWSGI opens a relative path in its working directory, / for a
/// service: an assumption, said in the note.
fn file(value: &str, at: Option<Location>) -> LogSetting {
    let note = if value.contains("%(") {
        Some(format!("{value} holds a placeholder qfix does not expand"))
    } else if !value.starts_with('/') {
        Some(format!(
            "{value} is relative: taken from /, uWSGI's directory as a service"
        ))
    } else {
        None
    };
    LogSetting {
        target: LogTarget::File {
            path: root::join("/", value),
        },
        at,
        note,
    }
}

fn stem(path: &str) -> &str {
    let name = root::file_name(path);
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// uWSGI's magic variables of a config file (core/utils.c `magic_sub`).
fn magic(path: &str, v: &str) -> String {
    if !v.contains('%') {
        return v.to_string();
    }
    let name = root::file_name(path);
    let dir = root::parent(path);
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('n') => out.push_str(stem(path)),
            Some('s') => out.push_str(name),
            Some('d') => {
                out.push_str(dir);
                out.push('/');
            }
            Some('p') => out.push_str(path),
            Some('e') => out.push_str(name.rsplit_once('.').map_or("", |(_, e)| e)),
            Some('c') => out.push_str(root::file_name(dir)),
            Some('%') => out.push('%'),
            _ => {
                out.push('%');
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(f: &UwsgiFacts) -> Vec<(String, Option<usize>)> {
        f.logs
            .iter()
            .map(|l| {
                let t = match &l.target {
                    LogTarget::File { path } => path.clone(),
                    LogTarget::Syslog { spec } => spec.clone(),
                    LogTarget::Stream { name } => name.clone(),
                    LogTarget::Memory { spec } => spec.clone(),
                };
                (t, l.at.as_ref().map(|a| a.line))
            })
            .collect()
    }

    fn t(s: &str, line: Option<usize>) -> (String, Option<usize>) {
        (s.to_string(), line)
    }

    #[test]
    fn log_files_of_an_ini() {
        let f = facts(
            "/etc/uwsgi.d/api.ini",
            "[other]\nlogto = /nope.log\n[uwsgi]\nsocket = 127.0.0.1:3031\n\
             logto = /var/log/uwsgi/%n.log\nlogger = file:/var/log/%c/x.log\n\
             logger = sys syslog:uwsgi\ndaemonize = /var/log/d.log\n",
        );
        assert_eq!(
            targets(&f),
            [
                t("/var/log/uwsgi/api.log", Some(5)),
                t("/var/log/uwsgi.d/x.log", Some(6)),
                t("syslog:uwsgi", Some(7)),
                t("/var/log/d.log", Some(8)),
            ]
        );
        let f = facts("/etc/uwsgi.ini", "[uwsgi]\nsocket = :3031\n");
        assert_eq!(targets(&f), [t("stderr", None)]);
    }

    #[test]
    fn debian_apps_log_where_the_init_script_says() {
        let f = facts(
            "/etc/uwsgi/apps-enabled/site.ini",
            "[uwsgi]\ndaemonize = /tmp/mine.log\nsocket = /run/uwsgi/site.sock\n",
        );
        assert_eq!(targets(&f), [t("/var/log/uwsgi/app/site.log", None)]);
        let note = f.logs[0].note.as_deref().unwrap();
        assert!(
            note.contains(
                "overrides daemonize = /tmp/mine.log (/etc/uwsgi/apps-enabled/site.ini:2)"
            ),
            "{note}"
        );
    }
}
