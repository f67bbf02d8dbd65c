//! MySQL/MariaDB option files: /etc/my.cnf then /etc/mysql/my.cnf (the order `mariadbd
//! --verbose --help` prints), with `!include FILE` (a missing file is skipped) and
//! `!includedir DIR` (its `*.cnf` files, sorted; only `.cnf` on Unix; a missing directory is
//! fatal: "Can't read dir"). Checked against mariadbd 10.11.19 (Debian 12) --print-defaults.
//!
//! Server groups: mysqld, server, mysqld-X.Y, mariadb, mariadb-X.Y, mariadbd, mariadbd-X.Y,
//! client-server, galera. Version-suffixed groups are taken whatever the version.
//! `-` and `_` are the same in keys, `loose-` is dropped, the last assignment wins.
//! back_log applies to both the TCP and the unix socket listen().

use std::collections::HashMap;
use std::ops::Range;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::error::Error;
use crate::host::Host;
use crate::root::{self, Resolved};

const MAIN_FILES: &[&str] = &["/etc/my.cnf", "/etc/mysql/my.cnf"];
/// Where a new back_log goes when none is set: the distro's server config.
const SERVER_FILES: &[&str] = &[
    "/etc/mysql/mariadb.conf.d/50-server.cnf",
    "/etc/my.cnf.d/mariadb-server.cnf",
    "/etc/my.cnf.d/mysql-server.cnf",
];
/// mariadb's my_default.c stops nesting includes at this depth.
const MAX_DEPTH: usize = 10;

const RESTART_REASON: &str =
    "back_log is read-only at runtime: it applies when the server starts (restart)";

#[derive(Clone)]
struct Val {
    value: String,
    path: String,
    line: usize,
    /// The value's bytes in the file (empty when quoted or absent).
    range: Range<usize>,
}

#[derive(Default)]
struct State {
    vals: HashMap<String, Val>,
    /// First server-group header seen per file: (file, offset after the header line).
    headers: Vec<(String, usize, bool)>,
    stack: Vec<String>,
    files: Vec<String>,
    mariadb: bool,
}

fn server_group(g: &str) -> bool {
    let g = g.to_ascii_lowercase();
    if matches!(
        g.as_str(),
        "mysqld" | "server" | "mariadb" | "mariadbd" | "client-server" | "galera"
    ) {
        return true;
    }
    ["mysqld-", "mariadb-", "mariadbd-"].iter().any(|p| {
        g.strip_prefix(p)
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    })
}

fn norm_key(k: &str) -> String {
    let k = k.trim().replace('_', "-").to_ascii_lowercase();
    k.strip_prefix("loose-").map(str::to_string).unwrap_or(k)
}

pub fn scan(host: &Host, scan: &mut Scan) {
    let mut st = State::default();
    for f in MAIN_FILES {
        read_file(host, f, &mut st, scan, None);
    }
    if st.files.is_empty() {
        return;
    }
    emit(host, &st, scan);
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

fn read_file(
    host: &Host,
    path: &str,
    st: &mut State,
    scan: &mut Scan,
    from: Option<(&str, usize)>,
) {
    // edits must go to the real file, not the my.cnf -> mariadb.cnf link
    let path = match host.resolve(path) {
        Ok(Resolved::Path(p)) => p,
        Ok(Resolved::DevNull) => return,
        Err(e) => {
            scan.errors.push(e);
            return;
        }
    };
    if st.stack.contains(&path) || st.stack.len() >= MAX_DEPTH {
        let (f, l) = from.unwrap_or((path.as_str(), 0));
        scan.errors.push(Error::at(
            f,
            l,
            format!("mysql: include loop: {path} is already being read (mariadb stops at depth {MAX_DEPTH})"),
        ));
        return;
    }
    let text = match host.read(&path) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => {
            scan.errors.push(e);
            return;
        }
    };
    if path.contains("mariadb") {
        st.mariadb = true;
    }
    st.files.push(path.clone());
    st.stack.push(path.clone());
    let mut in_server = false;
    for crate::edit::Line {
        number: line_no,
        start,
        raw,
        body,
    } in crate::edit::lines(&text)
    {
        let t = body.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(rest) = t.strip_prefix('!') {
            let (cmd, arg) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
            let arg = arg.trim();
            match cmd {
                "include" => read_file(host, arg, st, scan, Some((&path, line_no))),
                "includedir" => include_dir(host, arg, st, scan, &path, line_no),
                _ => problem(
                    scan,
                    &path,
                    line_no,
                    format!("mysql: unknown directive !{cmd}"),
                ),
            }
            continue;
        }
        if let Some(g) = t.strip_prefix('[') {
            let Some(g) = g.split_once(']').map(|(g, _)| g.trim()) else {
                problem(
                    scan,
                    &path,
                    line_no,
                    format!(
                        "mysql: '{t}' is not a group header: the server refuses to start (\"Wrong group definition\")"
                    ),
                );
                in_server = false;
                continue;
            };
            in_server = server_group(g);
            let lg = g.to_ascii_lowercase();
            if lg.starts_with("mariadb") {
                st.mariadb = true;
            }
            if in_server && (lg == "mysqld" || lg == "mariadbd") {
                st.headers
                    .push((path.clone(), start + raw.len(), raw.ends_with('\n')));
            }
            continue;
        }
        if !in_server {
            continue;
        }
        let (k, v) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (body, None),
        };
        let key = norm_key(k);
        if key.is_empty() {
            continue;
        }
        let (value, range) = match v {
            None => (String::new(), 0..0),
            Some(v) => {
                let vstart = start + k.len() + 1;
                value_of(v, vstart)
            }
        };
        st.vals.insert(
            key,
            Val {
                value,
                path: path.clone(),
                line: line_no,
                range,
            },
        );
    }
    st.stack.pop();
}

/// The value after `=`: quotes stripped, a `#` comment outside quotes removed.
fn value_of(v: &str, vstart: usize) -> (String, Range<usize>) {
    let lead = v.len() - v.trim_start().len();
    let t = v.trim_start();
    if let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'')
        && let Some(end) = t[1..].find(q)
    {
        return (t[1..1 + end].to_string(), vstart..vstart);
    }
    let t = match t.find('#') {
        Some(i) => &t[..i],
        None => t,
    };
    let val = t.trim_end();
    (val.to_string(), vstart + lead..vstart + lead + val.len())
}

fn include_dir(host: &Host, dir: &str, st: &mut State, scan: &mut Scan, from: &str, line: usize) {
    let exists = host.root.is_dir(dir);
    if !exists {
        problem(
            scan,
            from,
            line,
            format!(
                "mysql: !includedir {dir}: no such directory: the server refuses to start (\"Can't read dir\")"
            ),
        );
        return;
    }
    let names = match host.list_dir(dir) {
        Ok(n) => n,
        Err(e) => {
            scan.errors.push(e);
            return;
        }
    };
    for n in names.iter().filter(|n| n.ends_with(".cnf")) {
        read_file(host, &root::join(dir, n), st, scan, Some((from, line)));
    }
}

fn truthy(v: &str) -> bool {
    !matches!(v.to_ascii_lowercase().as_str(), "0" | "off" | "false")
}

fn emit(host: &Host, st: &State, scan: &mut Scan) {
    let at = |v: &Val| {
        Source::At(Location {
            path: v.path.clone().into(),
            line: v.line,
        })
    };
    let debian = st.files.iter().any(|f| f.starts_with("/etc/mysql/"));
    let (requested, source) = match st.vals.get("back-log") {
        Some(v) => match v.value.parse::<i64>() {
            Ok(n) if n >= 0 => (Some(n), at(v)),
            _ => {
                problem(
                    scan,
                    &v.path,
                    v.line,
                    format!("mysql: back_log = {} is not a number", v.value),
                );
                (None, at(v))
            }
        },
        None => {
            let (mc, mc_from) = match st.vals.get("max-connections") {
                Some(v) => match v.value.parse::<i64>() {
                    Ok(n) => (n, format!("max_connections={n} at {}:{}", v.path, v.line)),
                    Err(_) => (151, "max_connections default 151".to_string()),
                },
                None => (151, "max_connections default 151".to_string()),
            };
            if st.mariadb {
                let n = (50 + mc / 5).min(900);
                (
                    Some(n),
                    Source::Default(format!(
                        "back_log unset: MariaDB autosizes it to min(900, 50 + max_connections/5) = {n} ({mc_from}; checked with mariadbd 10.11)"
                    ).into()),
                )
            } else {
                let n = mc.min(65535);
                (
                    Some(n),
                    Source::Default(format!(
                        "back_log unset: MySQL 8 autosizes it to max_connections = {n} ({mc_from}; MySQL assumed as no MariaDB file was found)"
                    ).into()),
                )
            }
        }
    };
    let setter = match st.vals.get("back-log") {
        Some(v) if v.range.start < v.range.end => Some(Setter {
            line: None,
            path: v.path.clone().into(),
            range: v.range.clone(),
            template: "{}".into(),
        }),
        Some(_) => None,
        None => {
            let preferred = SERVER_FILES
                .iter()
                .find_map(|f| st.headers.iter().find(|h| h.0 == *f))
                .or(st.headers.first());
            match preferred {
                Some((p, off, nl)) => Some(Setter {
                    line: None,
                    path: p.clone().into(),
                    range: *off..*off,
                    template: if *nl {
                        "back_log = {}\n".into()
                    } else {
                        "\nback_log = {}\n".into()
                    },
                }),
                None => st.files.first().map(|f| {
                    let len = host.read(f).ok().flatten().map_or(0, |t| t.len());
                    Setter {
                        line: None,
                        path: f.clone().into(),
                        range: len..len,
                        template: "\n[mysqld]\nback_log = {}\n".into(),
                    }
                }),
            }
        }
    };
    let (unit, checker) = if st.mariadb {
        ("mariadb", vec!["mariadbd", "--verbose", "--help"])
    } else if debian {
        ("mysql", vec!["mysqld", "--verbose", "--help"])
    } else {
        ("mysqld", vec!["mysqld", "--verbose", "--help"])
    };
    let mut addrs = Vec::new();
    let skip = st
        .vals
        .get("skip-networking")
        .is_some_and(|v| truthy(&v.value));
    if !skip {
        let port = st
            .vals
            .get("port")
            .map_or("3306".to_string(), |v| v.value.clone());
        match st.vals.get("bind-address") {
            None => addrs.push(format!("tcp *:{port}")),
            Some(v) => {
                for a in v.value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    let h = match a {
                        "*" => "*".to_string(),
                        a if a.contains(':') => format!("[{a}]"),
                        a => a.to_string(),
                    };
                    addrs.push(format!("tcp {h}:{port}"));
                }
            }
        }
    }
    let sock = match st.vals.get("socket") {
        Some(v) => v.value.clone(),
        None if debian => "/run/mysqld/mysqld.sock".into(),
        None => "/var/lib/mysql/mysql.sock".into(),
    };
    addrs.push(format!("unix {sock}"));
    for address in addrs {
        scan.listeners.push(Listener {
            service: "mysql".into(),
            instance: "mysqld".into(),
            address,
            requested,
            source: source.clone(),
            unit: unit.into(),
            action: Action::Restart,
            action_reason: RESTART_REASON.into(),
            setter: setter.clone(),
            refuses_above_somaxconn: false,
            control: false,
            checker: checker
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
    fn debian_stock() {
        let h = host("debian-stock");
        let s = run(&h);
        assert!(
            s.problems.is_empty() && s.errors.is_empty(),
            "{:?}",
            s.problems
        );
        let got: Vec<&str> = s.listeners.iter().map(|l| l.address.as_str()).collect();
        assert_eq!(got, ["tcp 127.0.0.1:3306", "unix /run/mysqld/mysqld.sock"]);
        for l in &s.listeners {
            assert_eq!(l.requested, Some(80));
            assert!(
                loc(&l.source)
                    .0
                    .contains("min(900, 50 + max_connections/5) = 80")
            );
            assert_eq!(l.unit, "mariadb");
            assert_eq!(l.action, Action::Restart);
        }
        let (p, new) = set(&h, &s.listeners[0], "4096");
        assert_eq!(p, "/etc/mysql/mariadb.conf.d/50-server.cnf");
        assert!(
            new.contains("\n[mysqld]\nback_log = 4096\n\n#\n# * Basic Settings\n"),
            "{new}"
        );
    }

    #[test]
    fn includes_groups_and_problems() {
        let h = host("mysql-debian");
        let s = run(&h);
        let got: Vec<(&str, Option<i64>)> = s
            .listeners
            .iter()
            .map(|l| (l.address.as_str(), l.requested))
            .collect();
        assert_eq!(
            got,
            [
                ("tcp 10.0.0.5:3307", Some(300)),
                ("tcp [::1]:3307", Some(300)),
                ("unix /run/mysqld/custom.sock", Some(300)),
            ]
        );
        assert_eq!(
            loc(&s.listeners[0].source),
            ("/etc/mysql/conf.d/zz-tuning.cnf".into(), 3)
        );
        let p: Vec<(String, usize)> = s
            .problems
            .iter()
            .map(|p| (p.location.path.to_string(), p.location.line))
            .collect();
        assert_eq!(
            p,
            [
                ("/etc/mysql/conf.d/bad.cnf".into(), 2),
                ("/etc/mysql/mariadb.cnf".into(), 6),
            ]
        );
        assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
        assert!(s.errors[0].to_string().contains("include loop"));
        let (p, new) = set(&h, &s.listeners[0], "4096");
        assert_eq!(p, "/etc/mysql/conf.d/zz-tuning.cnf");
        assert_eq!(
            new,
            "[mariadbd]\nmax_connections = 2000\nback-log = 4096 # tuned\n"
        );
    }

    #[test]
    fn rhel_skip_networking_and_autosize() {
        let h = host("mysql-rhel");
        let s = run(&h);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        let got: Vec<&str> = s.listeners.iter().map(|l| l.address.as_str()).collect();
        assert_eq!(got, ["unix /var/lib/mysql/mysql.sock"]);
        let l = &s.listeners[0];
        assert_eq!(l.requested, Some(250));
        assert_eq!(l.unit, "mariadb");
        let (p, new) = set(&h, l, "4096");
        assert_eq!(p, "/etc/my.cnf.d/mariadb-server.cnf");
        assert_eq!(
            new,
            "[server]\n\n[mysqld]\nback_log = 4096\nmax_connections=1000\nskip-networking\n"
        );
        // re-scan the edited tree
        let d = tempfile::tempdir().unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mysql-rhel");
        let ok = std::process::Command::new("cp")
            .args(["-a", &format!("{src}/."), &d.path().to_string_lossy()])
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::write(d.path().join("etc/my.cnf.d/mariadb-server.cnf"), &new).unwrap();
        let s2 = run(&Host::new(Root::new(d.path()).unwrap()));
        assert_eq!(s2.listeners[0].requested, Some(4096));
        assert_eq!(loc(&s2.listeners[0].source).1, 4);
    }
}
