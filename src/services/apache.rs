//! Apache httpd: Debian /etc/apache2/apache2.conf (ServerRoot /etc/apache2), RHEL
//! /etc/httpd/conf/httpd.conf (ServerRoot /etc/httpd). One listener per active `Listen`;
//! `ListenBacklog` is server-wide (default 511, DEFAULT_LISTENBACKLOG).
//!
//! Include/IncludeOptional take paths relative to ServerRoot, globs (sorted), or a directory
//! (every file in it, recursively). `Include` fails on a missing file and on a wildcard that
//! matches nothing; `IncludeOptional` ignores both. <IfModule> is evaluated against the
//! modules compiled in and the LoadModule lines seen so far; <IfDefine> against `Define`
//! (command-line -D flags cannot be seen; Debian's apache2ctl passes none); other
//! conditional sections (<IfVersion>, <IfFile>, ...) are treated as active.

use std::collections::HashSet;
use std::ops::Range;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::error::Error;
use crate::host::Host;
use crate::root;

const DEFAULT_BACKLOG: i64 = 511;
/// AP_MAX_INCLUDE_DEPTH: Apache refuses deeper nesting.
const MAX_DEPTH: usize = 128;

const RESTART_REASON: &str = "Apache opens its listeners once in the parent; a graceful restart \
keeps them, so a new ListenBacklog needs a full stop/start (systemctl restart)";

struct Flavor {
    main: &'static str,
    server_root: &'static str,
    unit: &'static str,
    checker: &'static [&'static str],
    static_modules: &'static [&'static str],
}

const FLAVORS: &[Flavor] = &[
    Flavor {
        main: "/etc/apache2/apache2.conf",
        server_root: "/etc/apache2",
        unit: "apache2",
        checker: &["apache2ctl", "-t"],
        // `apache2 -l` on Debian 12
        static_modules: &[
            "core",
            "so",
            "watchdog",
            "http_core",
            "log_config",
            "logio",
            "version",
            "unixd",
        ],
    },
    Flavor {
        main: "/etc/httpd/conf/httpd.conf",
        server_root: "/etc/httpd",
        unit: "httpd",
        checker: &["apachectl", "-t"],
        static_modules: &["core", "so", "http_core"],
    },
];

struct ListenAt {
    arg: String,
    path: String,
    line: usize,
    /// Offset just past the Listen line (its newline included) and the line's indentation.
    after: usize,
    has_newline: bool,
    indent: String,
}

struct State<'a> {
    host: &'a Host,
    server_root: String,
    modules: HashSet<String>,
    defines: HashSet<String>,
    listens: Vec<ListenAt>,
    backlog: Option<(i64, String, usize, Range<usize>)>,
    stack: Vec<String>,
}

pub fn scan(host: &Host, scan: &mut Scan) {
    for f in FLAVORS {
        match host.read(f.main) {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            Err(e) => {
                scan.errors.push(e);
                continue;
            }
        }
        let mut st = State {
            host,
            server_root: f.server_root.to_string(),
            modules: HashSet::new(),
            defines: HashSet::new(),
            listens: Vec::new(),
            backlog: None,
            stack: Vec::new(),
        };
        for m in f.static_modules {
            add_module(
                &mut st.modules,
                &format!("{m}_module"),
                &format!("mod_{m}.c"),
            );
        }
        st.modules.insert("core.c".into());
        st.modules.insert("http_core.c".into());
        parse_file(&mut st, f.main, scan);
        emit(&st, f, scan);
    }
}

fn add_module(set: &mut HashSet<String>, id: &str, file: &str) {
    set.insert(id.to_string());
    set.insert(file.to_string());
}

fn problem(scan: &mut Scan, path: &str, line: usize, message: String) {
    scan.problems.push(Problem {
        location: Location {
            path: path.into(),
            line,
        },
        message,
    });
}

/// One directive after joining backslash continuations: its text and, per byte, the offset
/// in the original file (so value spans map back exactly).
struct Logical {
    line: usize,
    text: String,
    map: Vec<usize>,
    /// Offset just past the last physical line, newline included.
    end: usize,
    has_newline: bool,
    indent: String,
}

fn logical_lines(text: &str) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut cur: Option<Logical> = None;
    for crate::edit::Line {
        number,
        start,
        raw,
        body,
    } in crate::edit::lines(text)
    {
        let has_newline = raw.ends_with('\n');
        let (body, cont) = match body.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (body, false),
        };
        let l = cur.get_or_insert_with(|| Logical {
            line: number,
            text: String::new(),
            map: Vec::new(),
            end: 0,
            has_newline,
            indent: body
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect(),
        });
        l.text.push_str(body);
        l.map.extend(start..start + body.len());
        l.end = start + raw.len();
        l.has_newline = has_newline;
        if !cont {
            out.extend(cur.take());
        }
    }
    out.extend(cur.take());
    out
}

/// Directive arguments split like ap_getword_conf(): blanks separate, quotes group.
fn args(s: &str) -> Vec<(String, Range<usize>)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let start = i;
        if b[i] == b'"' || b[i] == b'\'' {
            let q = b[i];
            i += 1;
            let mut v = Vec::new();
            while i < b.len() && b[i] != q {
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == q {
                    i += 1;
                }
                v.push(b[i]);
                i += 1;
            }
            i = (i + 1).min(b.len());
            out.push((String::from_utf8_lossy(&v).into_owned(), start..i));
        } else {
            while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                i += 1;
            }
            out.push((s[start..i].to_string(), start..i));
        }
    }
    out
}

fn parse_file(st: &mut State, path: &str, scan: &mut Scan) {
    let text = match st.host.read(path) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => {
            scan.errors.push(e);
            return;
        }
    };
    st.stack.push(path.to_string());
    // active flag per open section
    let mut active: Vec<bool> = Vec::new();
    for l in logical_lines(&text) {
        let t = l.text.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let on = active.last().copied().unwrap_or(true);
        if t.starts_with("</") {
            if active.pop().is_none() {
                problem(
                    scan,
                    path,
                    l.line,
                    format!("apache: '{t}' closes a section that is not open"),
                );
            }
            continue;
        }
        if let Some(open) = t.strip_prefix('<') {
            let open = open.trim_end_matches('>');
            let (name, arg) = match open.split_once([' ', '\t']) {
                Some((n, a)) => (n, a.trim().trim_matches('"')),
                None => (open, ""),
            };
            let (neg, arg) = match arg.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, arg),
            };
            let cond = match name.to_ascii_lowercase().as_str() {
                "ifmodule" => st.modules.contains(arg) != neg,
                "ifdefine" => st.defines.contains(arg) != neg,
                _ => true,
            };
            active.push(on && cond);
            continue;
        }
        if !on {
            continue;
        }
        let a = args(&l.text);
        let Some((kw, _)) = a.first() else { continue };
        let kw = kw.to_ascii_lowercase();
        let arg1 = a.get(1).map(|x| x.0.as_str()).unwrap_or("");
        match kw.as_str() {
            "serverroot" => st.server_root = arg1.trim_end_matches('/').to_string(),
            "define" => {
                st.defines.insert(arg1.to_string());
            }
            "undefine" => {
                st.defines.remove(arg1);
            }
            "loadmodule" => {
                let file = a.get(2).map(|x| root::file_name(&x.0)).unwrap_or("");
                let file = file.strip_suffix(".so").unwrap_or(file);
                add_module(&mut st.modules, arg1, &format!("{file}.c"));
            }
            "include" | "includeoptional" => {
                include(st, path, l.line, arg1, kw == "includeoptional", scan)
            }
            "listen" => {
                if arg1.is_empty() {
                    problem(scan, path, l.line, "apache: Listen needs an address".into());
                    continue;
                }
                st.listens.push(ListenAt {
                    arg: arg1.to_string(),
                    path: path.to_string(),
                    line: l.line,
                    after: l.end,
                    has_newline: l.has_newline,
                    indent: l.indent.clone(),
                });
            }
            "listenbacklog" => {
                let Some((v, r)) = a.get(1) else {
                    problem(
                        scan,
                        path,
                        l.line,
                        "apache: ListenBacklog needs a number".into(),
                    );
                    continue;
                };
                match v.parse::<i64>() {
                    Ok(n) if n >= 1 => {
                        let (s, e) = (l.map[r.start], l.map[r.end - 1] + 1);
                        // a value split by a continuation cannot be replaced in place
                        let range = if e - s == r.len() && v.len() == r.len() {
                            s..e
                        } else {
                            s..s
                        };
                        st.backlog = Some((n, path.to_string(), l.line, range));
                    }
                    _ => problem(
                        scan,
                        path,
                        l.line,
                        format!(
                            "apache: ListenBacklog {v} is not a number above 0 (Apache refuses to start)"
                        ),
                    ),
                }
            }
            _ => {}
        }
    }
    if !active.is_empty() {
        problem(
            scan,
            path,
            0,
            "apache: a <section> is not closed at the end of the file".into(),
        );
    }
    st.stack.pop();
}

fn include(st: &mut State, from: &str, line: usize, arg: &str, optional: bool, scan: &mut Scan) {
    if arg.is_empty() {
        problem(scan, from, line, "apache: Include needs a path".into());
        return;
    }
    let pat = root::join(&st.server_root, arg);
    let is_glob = pat.contains(['*', '?', '[']);
    let mut files = match st.host.glob(&pat) {
        Ok(f) => f,
        Err(e) => {
            scan.errors.push(Error::at(from, line, e));
            return;
        }
    };
    if files.is_empty() {
        if !optional {
            let what = if is_glob {
                "matches no file (Include fails on that; IncludeOptional would not)"
            } else {
                "does not exist (Apache refuses to start)"
            };
            problem(scan, from, line, format!("apache: Include {arg}: {what}"));
        }
        return;
    }
    // a directory includes every file below it, sorted
    let mut expanded = Vec::new();
    for f in files.drain(..) {
        expand_dir(st, &f, &mut expanded, 0, scan);
    }
    for f in expanded {
        if st.stack.contains(&f) {
            scan.errors.push(Error::at(
                from,
                line,
                format!("apache: include loop: {f} includes itself"),
            ));
            continue;
        }
        if st.stack.len() >= MAX_DEPTH {
            scan.errors
                .push(Error::at(from, line, "apache: includes nested too deeply"));
            continue;
        }
        parse_file(st, &f, scan);
    }
}

fn expand_dir(st: &State, p: &str, out: &mut Vec<String>, depth: usize, scan: &mut Scan) {
    let is_dir = st.host.root.is_dir(p);
    if !is_dir {
        out.push(p.to_string());
        return;
    }
    if depth > 16 {
        return;
    }
    match st.host.list_dir(p) {
        Ok(names) => {
            for n in names {
                expand_dir(st, &root::join(p, &n), out, depth + 1, scan);
            }
        }
        Err(e) => scan.errors.push(e),
    }
}

/// "80" -> "tcp *:80", "[::]:80" -> "tcp [::]:80", "1.2.3.4:80" -> "tcp 1.2.3.4:80".
fn address(arg: &str) -> Option<String> {
    let (host, port) = if let Some(r) = arg.strip_prefix('[') {
        let (h, p) = r.split_once("]:")?;
        (format!("[{h}]"), p)
    } else if let Some((h, p)) = arg.rsplit_once(':') {
        (if h == "*" { "*".into() } else { h.to_string() }, p)
    } else {
        ("*".to_string(), arg)
    };
    let port: u16 = port.parse().ok()?;
    Some(format!("tcp {host}:{port}"))
}

fn emit(st: &State, f: &Flavor, scan: &mut Scan) {
    let (requested, source) = match &st.backlog {
        Some((n, p, line, _)) => (
            *n,
            Source::At(Location {
                path: p.clone().into(),
                line: *line,
            }),
        ),
        None => (
            DEFAULT_BACKLOG,
            Source::Default("Apache httpd default ListenBacklog 511".into()),
        ),
    };
    let setter = match (&st.backlog, st.listens.first()) {
        (Some((_, p, _, r)), _) if r.start < r.end => Some(Setter {
            line: None,
            path: p.clone().into(),
            range: r.clone(),
            template: "{}".into(),
        }),
        (_, Some(first)) => Some(Setter {
            line: None,
            path: first.path.clone().into(),
            range: first.after..first.after,
            template: if first.has_newline {
                format!("{}ListenBacklog {{}}\n", first.indent).into()
            } else {
                format!("\n{}ListenBacklog {{}}\n", first.indent).into()
            },
        }),
        _ => None,
    };
    let mut seen = HashSet::new();
    for l in &st.listens {
        let Some(address) = address(&l.arg) else {
            problem(
                scan,
                &l.path,
                l.line,
                format!("apache: Listen {} is not [addr:]port", l.arg),
            );
            continue;
        };
        if !seen.insert(address.clone()) {
            problem(
                scan,
                &l.path,
                l.line,
                format!(
                    "apache: Listen {} repeats an address: Apache refuses to start (\"Cannot define multiple Listeners on the same IP:port\")",
                    l.arg
                ),
            );
            continue;
        }
        scan.listeners.push(Listener {
            service: "apache".into(),
            instance: format!("Listen {}", l.arg),
            address,
            requested: Some(requested),
            source: source.clone(),
            unit: f.unit.into(),
            action: Action::Restart,
            action_reason: RESTART_REASON.into(),
            setter: setter.clone(),
            refuses_above_somaxconn: false,
            control: false,
            checker: f
                .checker
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Root;
    use crate::services::testutil::{self, host, source as loc};

    fn run(h: &Host) -> Scan {
        testutil::run(h, scan)
    }

    fn set(h: &Host, l: &Listener, v: &str) -> (String, String) {
        testutil::set(h, l, v)
    }

    #[test]
    fn logical_lines_are_lossless_and_join_continuations() {
        let t = "Listen \\\n  8080\n# c\nListenBacklog 9";
        let ls = logical_lines(t);
        assert_eq!(ls[0].text, "Listen   8080");
        assert_eq!(ls[2].text, "ListenBacklog 9");
        assert!(!ls[2].has_newline);
        for l in &ls {
            for (i, b) in l.text.bytes().enumerate() {
                assert_eq!(t.as_bytes()[l.map[i]], b);
            }
        }
    }

    #[test]
    fn debian_stock_listens_on_80_only() {
        let h = host("debian-stock");
        let s = run(&h);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.listeners.len(), 1);
        let l = &s.listeners[0];
        assert_eq!(l.address, "tcp *:80");
        assert_eq!(l.instance, "Listen 80");
        assert_eq!(l.requested, Some(511));
        assert!(matches!(l.source, Source::Default(_)));
        assert_eq!(l.unit, "apache2");
        assert_eq!(l.action, Action::Restart);
        let (p, new) = set(&h, l, "4096");
        assert_eq!(p, "/etc/apache2/ports.conf");
        assert!(new.contains("\nListen 80\nListenBacklog 4096\n\n<IfModule ssl_module>\n"));
    }

    #[test]
    fn includes_sections_defines_and_problems() {
        let h = host("apache-debian");
        let s = run(&h);
        let got: Vec<(String, String, (String, usize))> = s
            .listeners
            .iter()
            .map(|l| (l.instance.clone(), l.address.clone(), loc(&l.source)))
            .collect();
        let src = ("/etc/apache2/conf-enabled/tuning.conf".to_string(), 3);
        assert_eq!(
            got,
            vec![
                ("Listen 80".into(), "tcp *:80".into(), src.clone()),
                (
                    "Listen [::1]:8080".into(),
                    "tcp [::1]:8080".into(),
                    src.clone()
                ),
                ("Listen 443".into(), "tcp *:443".into(), src.clone()),
                (
                    "Listen 127.0.0.1:8443".into(),
                    "tcp 127.0.0.1:8443".into(),
                    src.clone()
                ),
            ]
        );
        assert!(s.listeners.iter().all(|l| l.requested == Some(1024)));
        let p: Vec<(String, usize)> = s
            .problems
            .iter()
            .map(|p| (p.location.path.to_string(), p.location.line))
            .collect();
        assert_eq!(
            p,
            vec![
                ("/etc/apache2/conf-enabled/tuning.conf".into(), 1),
                ("/etc/apache2/apache2.conf".into(), 7),
                ("/etc/apache2/apache2.conf".into(), 8),
                ("/etc/apache2/ports.conf".into(), 11),
            ],
            "{:?}",
            s.problems
        );
        assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
        assert!(s.errors[0].to_string().contains("include loop"));
        // replace the existing value
        let (path, new) = set(&h, &s.listeners[0], "4096");
        assert_eq!(path, "/etc/apache2/conf-enabled/tuning.conf");
        assert_eq!(
            new,
            "ListenBacklog many\n# the last one wins\nListenBacklog 4096\n"
        );
    }

    #[test]
    fn rhel_layout_inserts_after_first_listen() {
        let h = host("apache-rhel");
        let s = run(&h);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        let got: Vec<(&str, &str)> = s
            .listeners
            .iter()
            .map(|l| (l.address.as_str(), &*l.unit))
            .collect();
        assert_eq!(got, vec![("tcp *:80", "httpd"), ("tcp *:443", "httpd")]);
        assert_eq!(*s.listeners[0].checker, ["apachectl", "-t"]);
        let (path, new) = set(&h, &s.listeners[1], "4096");
        assert_eq!(path, "/etc/httpd/conf/httpd.conf");
        assert!(
            new.contains("\n  Listen 80\n  ListenBacklog 4096\n"),
            "{new}"
        );
        // re-scan the edited tree
        let d = tempfile::tempdir().unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/apache-rhel");
        let st = std::process::Command::new("cp")
            .args(["-a", &format!("{src}/."), &d.path().to_string_lossy()])
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::write(d.path().join("etc/httpd/conf/httpd.conf"), &new).unwrap();
        let s2 = run(&Host::new(Root::new(d.path()).unwrap()));
        assert!(s2.listeners.iter().all(|l| l.requested == Some(4096)));
        assert_eq!(loc(&s2.listeners[0].source).1, 5);
    }
}
