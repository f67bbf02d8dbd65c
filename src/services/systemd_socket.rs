//! systemd .socket units: /etc/systemd/system, /run/systemd/system, /usr/local/lib/systemd/system,
//! /usr/lib/systemd/system, /lib/systemd/system (a name in an earlier directory hides the same
//! name in later ones; a link to /dev/null masks it), plus drop-ins NAME.socket.d/*.conf from
//! the same directories (same-name drop-ins hide each other; all are applied sorted by file
//! name; the last `Backlog=` wins, an empty assignment resets it and `ListenStream=` empties
//! the list). One listener per ListenStream= / ListenSequentialPacket=.
//!
//! Default Backlog=: INT_MAX since systemd v254 (SOMAXCONN_DELUXE, PR #28018: the kernel caps
//! it to net.core.somaxconn), glibc's SOMAXCONN before (4096 with glibc >= 2.31, 128 before).
//! The systemd version comes from the libsystemd-shared-NNN.so file name in the root.
//!
//! Only units that open a socket count: those enabled through a *.wants/ or *.requires/ link
//! (in any unit directory, so vendor "static" sockets such as dbus.socket count too).
//! Templates (foo@.socket) give one listener set per enabled instance; a template with no
//! instance, or a unit nobody enables, opens nothing and is not reported.
//! Units under /usr/lib or /lib are never edited: the setter writes a drop-in in /etc.

use std::collections::BTreeMap;
use std::ops::Range;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::host::Host;
use crate::root::{self, Resolved};

const DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const SHARED_LIBS: &[&str] = &[
    "/usr/lib/systemd/libsystemd-shared-*.so",
    "/lib/systemd/libsystemd-shared-*.so",
    "/usr/lib64/systemd/libsystemd-shared-*.so",
    "/usr/lib/*/systemd/libsystemd-shared-*.so",
];
const DROPIN: &str = "qfix-backlog.conf";

#[derive(Clone)]
struct BacklogAt {
    value: String,
    path: String,
    line: usize,
    range: Range<usize>,
}

#[derive(Default)]
struct Unit {
    listens: Vec<(String, String, usize)>,
    backlog: Option<BacklogAt>,
    /// First [Socket] header of the main file: offset after its line.
    socket_header: Option<(usize, bool)>,
}

pub fn scan(host: &Host, scan: &mut Scan) {
    // unit name -> in-root path of the file that wins (None when masked)
    let mut units: BTreeMap<String, Option<String>> = BTreeMap::new();
    for d in DIRS {
        let names = match host.list_dir(d) {
            Ok(n) => n,
            Err(e) => {
                scan.errors.push(e);
                continue;
            }
        };
        for n in names.into_iter().filter(|n| n.ends_with(".socket")) {
            if units.contains_key(&n) {
                continue;
            }
            let p = root::join(d, &n);
            let resolved = match host.resolve(&p) {
                Ok(Resolved::Path(r)) => Some(r),
                Ok(Resolved::DevNull) => None,
                Err(e) => {
                    scan.errors.push(e);
                    continue;
                }
            };
            units.insert(n, resolved);
        }
    }
    if units.is_empty() {
        return;
    }
    let default = default_backlog(host);
    let instances = enabled_instances(host, scan);
    for (name, path) in &units {
        let Some(path) = path else { continue }; // masked
        if let Some((prefix, _)) = name.split_once("@.") {
            let inst: Vec<&String> = instances
                .iter()
                .filter(|i| i.starts_with(prefix) && i.as_bytes().get(prefix.len()) == Some(&b'@'))
                .filter(|i| !units.contains_key(*i))
                .collect();
            for i in inst {
                let id = i
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('@'))
                    .and_then(|r| r.strip_suffix(".socket"))
                    .unwrap_or("");
                emit(host, scan, i, path, Some((name, id)), i, &default);
            }
        } else if instances.contains(name) {
            emit(host, scan, name, path, None, name, &default);
        }
    }
}

/// Instance names (foo@bar.socket) linked from any *.wants/ or *.requires/ directory.
/// Socket units (and template instances) that some *.wants/ or *.requires/ link enables.
fn enabled_instances(host: &Host, scan: &mut Scan) -> Vec<String> {
    let mut out = Vec::new();
    for d in DIRS {
        for pat in ["*.wants", "*.requires"] {
            let dirs = match host.glob(&root::join(d, pat)) {
                Ok(g) => g,
                Err(e) => {
                    scan.errors.push(e);
                    continue;
                }
            };
            for w in dirs {
                for n in host.list_dir(&w).unwrap_or_default() {
                    if n.ends_with(".socket") && !n.contains("@.") && !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

enum Default {
    Known(i64, String),
    Unknown(String),
}

fn default_backlog(host: &Host) -> Default {
    let mut version = None;
    for pat in SHARED_LIBS {
        for f in host.glob(pat).unwrap_or_default() {
            let v: String = root::file_name(&f)
                .trim_start_matches("libsystemd-shared-")
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(v) = v.parse::<u32>() {
                version = version.max(Some(v));
            }
        }
    }
    match version {
        Some(v) if v >= 254 => Default::Known(
            -1,
            format!("systemd {v} default Backlog= is INT_MAX (since v254): listen() gets net.core.somaxconn; shown as -1"),
        ),
        Some(v) => Default::Known(
            4096,
            format!("systemd {v} default Backlog= is glibc's SOMAXCONN: 4096 with glibc >= 2.31 (128 before)"),
        ),
        None => Default::Unknown(
            "systemd version unknown (no libsystemd-shared-NNN.so in the root): the default Backlog= is INT_MAX (= somaxconn) since v254, glibc's SOMAXCONN (4096 with glibc >= 2.31) before".into(),
        ),
    }
}

fn parse(path: &str, text: &str, u: &mut Unit, main: bool, problems: &mut Vec<Problem>) {
    let mut in_socket = false;
    let mut lines = crate::edit::lines(text);
    while let Some(crate::edit::Line {
        number: line_no,
        start,
        raw,
        body,
    }) = lines.next()
    {
        let t = body.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') {
            in_socket = t == "[Socket]";
            if in_socket && main && u.socket_header.is_none() {
                u.socket_header = Some((start + raw.len(), raw.ends_with('\n')));
            }
            continue;
        }
        // a trailing backslash continues the value on the next line
        let mut value_cont = String::new();
        let mut continued = false;
        let mut cur = body;
        while let Some(b) = cur.strip_suffix('\\') {
            continued = true;
            value_cont.push_str(b);
            value_cont.push(' ');
            match lines.next() {
                Some(next) => cur = next.body,
                None => {
                    cur = "";
                    break;
                }
            }
        }
        if !in_socket {
            continue;
        }
        let full;
        let body = if continued {
            value_cont.push_str(cur);
            full = value_cont;
            full.as_str()
        } else {
            body
        };
        let Some((k, v)) = body.split_once('=') else {
            continue;
        };
        let key = k.trim();
        let lead = v.len() - v.trim_start().len();
        let val = v.trim();
        match key {
            "ListenStream" | "ListenSequentialPacket" => {
                if val.is_empty() {
                    u.listens.clear();
                } else {
                    u.listens.push((val.to_string(), path.to_string(), line_no));
                }
            }
            "Backlog" => {
                if val.is_empty() {
                    u.backlog = None;
                } else if val.parse::<u32>().is_err() {
                    // systemd logs the bad value and keeps the previous one
                    problems.push(Problem {
                        location: Location {
                            path: path.into(),
                            line: line_no,
                        },
                        message: format!(
                            "systemd: Backlog={val} is not a number (systemd ignores this line)"
                        ),
                    });
                } else {
                    let s = start + k.len() + 1 + lead;
                    u.backlog = Some(BacklogAt {
                        value: val.to_string(),
                        path: path.to_string(),
                        line: line_no,
                        range: if continued { s..s } else { s..s + val.len() },
                    });
                }
            }
            _ => {}
        }
    }
}

/// Drop-ins for `unit` (and its template), sorted by file name, earlier dirs hiding later.
fn dropins(host: &Host, names: &[&str]) -> Vec<String> {
    let mut by_name: BTreeMap<String, Option<String>> = BTreeMap::new();
    for n in names {
        for d in DIRS {
            let dir = format!("{d}/{n}.d");
            for f in host.list_dir(&dir).unwrap_or_default() {
                if !f.ends_with(".conf") || by_name.contains_key(&f) {
                    continue;
                }
                let p = root::join(&dir, &f);
                let r = match host.resolve(&p) {
                    Ok(Resolved::Path(r)) => Some(r),
                    _ => None,
                };
                by_name.insert(f, r);
            }
        }
    }
    by_name.into_values().flatten().collect()
}

fn vendor(path: &str) -> bool {
    !(path.starts_with("/etc/"))
}

#[allow(clippy::too_many_arguments)]
fn emit(
    host: &Host,
    scan: &mut Scan,
    unit: &str,
    path: &str,
    template: Option<(&str, &str)>,
    label: &str,
    default: &Default,
) {
    let text = match host.read(path) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => {
            scan.errors.push(e);
            return;
        }
    };
    let mut u = Unit::default();
    parse(path, &text, &mut u, true, &mut scan.problems);
    let mut names = vec![unit];
    if let Some((t, _)) = template {
        names.insert(0, t);
    }
    let drops = dropins(host, &names);
    for d in &drops {
        match host.read(d) {
            Ok(Some(t)) => parse(d, &t, &mut u, false, &mut scan.problems),
            Ok(None) => {}
            Err(e) => scan.errors.push(e),
        }
    }
    let (requested, source) = match (&u.backlog, default) {
        (Some(b), _) => (
            b.value.parse::<i64>().ok(),
            Source::At(Location {
                path: b.path.clone().into(),
                line: b.line,
            }),
        ),
        (None, Default::Known(n, why)) => (Some(*n), Source::Default(why.clone().into())),
        (None, Default::Unknown(why)) => (None, Source::Default(why.clone().into())),
    };
    let dropin_dir = format!("/etc/systemd/system/{unit}.d");
    // our drop-in must sort after every other one to win
    let name = if drops.iter().any(|d| root::file_name(d) > DROPIN) {
        format!("zz-{DROPIN}")
    } else {
        DROPIN.to_string()
    };
    let setter = match &u.backlog {
        Some(b) if !vendor(&b.path) && b.range.start < b.range.end => Setter {
            line: None,
            path: b.path.clone().into(),
            range: b.range.clone(),
            template: "{}".into(),
        },
        None if !vendor(path) && u.socket_header.is_some() && drops.is_empty() => {
            let (at, nl) = u.socket_header.unwrap_or((0, true));
            Setter {
                line: None,
                path: path.into(),
                range: at..at,
                template: if nl { "Backlog={}\n" } else { "\nBacklog={}\n" }.into(),
            }
        }
        _ => Setter {
            line: None,
            path: format!("{dropin_dir}/{name}").into(),
            range: 0..0,
            template: "[Socket]\nBacklog={}\n".into(),
        },
    };
    for (v, _, _) in &u.listens {
        let v = match template {
            Some((_, id)) => v.replace("%i", id).replace("%I", id),
            None => v.clone(),
        };
        let Some(address) = address(&v) else { continue };
        scan.listeners.push(Listener {
            service: "systemd".into(),
            instance: label.to_string(),
            address,
            requested,
            source: source.clone(),
            unit: unit.to_string().into(),
            action: Action::Restart,
            action_reason: format!(
                "a socket unit's backlog applies when systemd creates the socket: stop the service it activates, restart {unit}, then start the service again"
            )
            .into(),
            setter: Some(setter.clone()),
            refuses_above_somaxconn: false,
            control: false,
            checker: std::sync::Arc::from([]),
        });
    }
}

/// "/path" and "@abstract" are unix, "PORT" is all addresses, "ADDR:PORT", "[V6]:PORT".
/// vsock and netlink sockets are skipped.
fn address(v: &str) -> Option<String> {
    if v.starts_with('/') || v.starts_with('@') {
        return Some(format!("unix {v}"));
    }
    if v.starts_with("vsock:") {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("tcp *:{v}"));
    }
    let (host, port) = if let Some(r) = v.strip_prefix('[') {
        let (h, p) = r.split_once("]:")?;
        (format!("[{h}]"), p)
    } else {
        let (h, p) = v.rsplit_once(':')?;
        (h.to_string(), p)
    };
    let port = port.split('%').next().unwrap_or(port);
    let port: u16 = port.parse().ok()?;
    Some(format!("tcp {host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::{Edit, apply};
    use crate::root::Root;
    use crate::services::testutil::{self, host, source as loc};

    fn run(h: &Host) -> Scan {
        testutil::run(h, scan)
    }

    #[test]
    fn debian_stock() {
        // the mariadb and uwsgi socket units ship disabled, and the templates have no
        // instance: none of them opens a socket
        let s = run(&host("debian-stock"));
        assert!(s.problems.is_empty() && s.errors.is_empty());
        assert!(s.listeners.is_empty(), "{:?}", s.listeners);
    }

    #[test]
    fn precedence_dropins_instances_masks() {
        let h = host("systemd-sockets");
        let s = run(&h);
        type Row<'a> = (&'a str, &'a str, Option<i64>, (String, usize));
        let got: Vec<Row> = s
            .listeners
            .iter()
            .map(|l| {
                (
                    l.instance.as_str(),
                    l.address.as_str(),
                    l.requested,
                    loc(&l.source),
                )
            })
            .collect();
        let d255 = "systemd 255 default Backlog= is INT_MAX (since v254): listen() gets net.core.somaxconn; shown as -1".to_string();
        assert_eq!(
            got,
            [
                (
                    "app@blue.socket",
                    "unix /run/app/blue.sock",
                    Some(-1),
                    (d255.clone(), 0)
                ),
                (
                    "app@green.socket",
                    "unix /run/app/green.sock",
                    Some(-1),
                    (d255.clone(), 0)
                ),
                (
                    "local.socket",
                    "tcp [::1]:8080",
                    Some(64),
                    ("/etc/systemd/system/local.socket".into(), 5)
                ),
                (
                    "vendor.socket",
                    "tcp 0.0.0.0:9000",
                    Some(2048),
                    (
                        "/usr/lib/systemd/system/vendor.socket.d/50-tune.conf".into(),
                        2
                    )
                ),
            ]
        );
        assert_eq!(s.problems.len(), 1);
        assert_eq!(s.problems[0].location.line, 3);
        // local unit in /etc: the value is replaced in place
        let st = s.listeners[2].setter.as_ref().unwrap();
        let old = h.read(&st.path).unwrap().unwrap();
        let new = apply(
            &old,
            &[Edit::replace(
                st.range.clone(),
                st.template.replace("{}", "4096"),
            )],
        );
        assert_eq!(
            new,
            "[Unit]\nDescription=local\n\n[Socket]\nBacklog=4096\nListenStream=[::1]:8080\n"
        );
        // vendor unit with a vendor drop-in: a drop-in of our own in /etc
        let st = s.listeners[3].setter.as_ref().unwrap();
        assert_eq!(
            &*st.path,
            "/etc/systemd/system/vendor.socket.d/qfix-backlog.conf"
        );
        // instance: its own drop-in
        let st = s.listeners[0].setter.as_ref().unwrap();
        assert_eq!(
            &*st.path,
            "/etc/systemd/system/app@blue.socket.d/qfix-backlog.conf"
        );

        // write the drop-in and re-scan: the new value comes from it
        let d = tempfile::tempdir().unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/systemd-sockets");
        let ok = std::process::Command::new("cp")
            .args(["-a", &format!("{src}/."), &d.path().to_string_lossy()])
            .status()
            .unwrap();
        assert!(ok.success());
        let f = d
            .path()
            .join("etc/systemd/system/vendor.socket.d/qfix-backlog.conf");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "[Socket]\nBacklog={}\n".replace("{}", "4096")).unwrap();
        let s2 = run(&Host::new(Root::new(d.path()).unwrap()));
        let v = s2
            .listeners
            .iter()
            .find(|l| l.unit == "vendor.socket")
            .unwrap();
        assert_eq!(v.requested, Some(4096));
        assert_eq!(
            loc(&v.source),
            (
                "/etc/systemd/system/vendor.socket.d/qfix-backlog.conf".into(),
                2
            )
        );
    }
}
