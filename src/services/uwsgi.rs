//! uWSGI ini files: Debian /etc/uwsgi/apps-enabled/*.ini (one app each, run by the `uwsgi`
//! init script), RHEL /etc/uwsgi.ini and the emperor's vassals /etc/uwsgi.d/*.ini.
//! Only the `[uwsgi]` section counts. Every `socket`-like option opens one listener; `listen`
//! (default 100) is their backlog, and on Linux uWSGI refuses to start when it exceeds
//! somaxconn ("Listen queue size is greater than the system max net.core.somaxconn").
//! There is no config checker (`uwsgi` has no -t).

use std::ops::Range;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::host::Host;
use crate::root;

const DEFAULT_LISTEN: i64 = 100;
const SOCKET_KEYS: &[&str] = &[
    "socket",
    "s",
    "uwsgi-socket",
    "http-socket",
    "https-socket",
    "http",
    "https",
    "shared-socket",
    "fastcgi-socket",
    "scgi-socket",
    "suwsgi-socket",
    "puwsgi-socket",
];

const RESTART_REASON: &str = "uWSGI binds its sockets once in the master and keeps them across \
a graceful reload, so a new listen value needs a restart";

pub fn scan(host: &Host, scan: &mut Scan) {
    let mut files = Vec::new();
    for pat in [
        "/etc/uwsgi/apps-enabled/*.ini",
        "/etc/uwsgi.ini",
        "/etc/uwsgi.d/*.ini",
    ] {
        match host.root.glob(pat) {
            Ok(g) => files.extend(g),
            Err(e) => scan.errors.push(e),
        }
    }
    for f in files {
        match host.read(&f) {
            Ok(Some(text)) => parse(&f, &text, scan),
            Ok(None) => {}
            Err(e) => scan.errors.push(e),
        }
    }
}

struct Sock {
    value: String,
    line: usize,
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

fn parse(path: &str, text: &str, scan: &mut Scan) {
    let debian_app = path.starts_with("/etc/uwsgi/apps-enabled/");
    let name = root::file_name(path);
    let name = name.strip_suffix(".ini").unwrap_or(name).to_string();
    let mut in_uwsgi = false;
    let mut header_end: Option<(usize, bool)> = None;
    let mut socks: Vec<Sock> = Vec::new();
    let mut listen: Option<(i64, usize, Range<usize>)> = None;
    for crate::edit::Line {
        number: line_no,
        start,
        raw,
        body,
    } in crate::edit::lines(text)
    {
        let t = body.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(s) = t.strip_prefix('[') {
            let Some((sect, _)) = s.split_once(']') else {
                problem(
                    scan,
                    path,
                    line_no,
                    format!("uwsgi: '{t}' is not a section header"),
                );
                in_uwsgi = false;
                continue;
            };
            in_uwsgi = sect.trim() == "uwsgi";
            if in_uwsgi && header_end.is_none() {
                header_end = Some((start + raw.len(), raw.ends_with('\n')));
            }
            continue;
        }
        if !in_uwsgi {
            continue;
        }
        let Some((k, v)) = body.split_once('=') else {
            // a bare word is a boolean flag in uWSGI ini
            continue;
        };
        let key = k.trim().replace('_', "-");
        let lead = v.len() - v.trim_start().len();
        let val = v.trim();
        if SOCKET_KEYS.contains(&key.as_str()) {
            socks.push(Sock {
                value: val.to_string(),
                line: line_no,
            });
        } else if key == "listen" || key == "l" {
            let vstart = start + k.len() + 1 + lead;
            match val.parse::<i64>() {
                Ok(n) if n >= 0 => listen = Some((n, line_no, vstart..vstart + val.len())),
                _ => problem(
                    scan,
                    path,
                    line_no,
                    format!("uwsgi: listen = {val} is not a number"),
                ),
            }
        }
    }
    if socks.is_empty() && debian_app {
        // Debian's init script starts each app with /usr/share/uwsgi/conf/default.ini inherited,
        // whose socket is /run/uwsgi/app/NAME/socket
        socks.push(Sock {
            value: format!("/run/uwsgi/app/{name}/socket"),
            line: 0,
        });
    }
    let (requested, source) = match &listen {
        Some((n, line, _)) => (
            *n,
            Source::At(Location {
                path: path.into(),
                line: *line,
            }),
        ),
        None => (
            DEFAULT_LISTEN,
            Source::Default("uWSGI default listen 100".into()),
        ),
    };
    let setter = match (&listen, header_end) {
        (Some((_, _, r)), _) => Some(Setter {
            line: None,
            path: path.into(),
            range: r.clone(),
            template: "{}".into(),
        }),
        (None, Some((at, nl))) => Some(Setter {
            line: None,
            path: path.into(),
            range: at..at,
            template: if nl {
                "listen = {}\n"
            } else {
                "\nlisten = {}\n"
            }
            .into(),
        }),
        (None, None) => None,
    };
    for s in socks {
        let Some(address) = address(&s.value) else {
            problem(
                scan,
                path,
                s.line,
                format!("uwsgi: socket '{}' is not a path or host:port", s.value),
            );
            continue;
        };
        scan.listeners.push(Listener {
            service: "uwsgi".into(),
            instance: name.clone(),
            address,
            requested: Some(requested),
            source: source.clone(),
            unit: "uwsgi".into(),
            action: Action::Restart,
            action_reason: RESTART_REASON.into(),
            setter: setter.clone(),
            refuses_above_somaxconn: true,
            checker: Default::default(),
        });
    }
}

/// "/path" -> unix, "@name" -> abstract unix, "host:port" / ":port" -> tcp. The https
/// variants append ",cert,key".
fn address(v: &str) -> Option<String> {
    let v = v.split(',').next().unwrap_or(v).trim();
    if v.starts_with('/') || v.starts_with('@') {
        return Some(format!("unix {v}"));
    }
    let (host, port) = if let Some(r) = v.strip_prefix('[') {
        let (h, p) = r.split_once("]:")?;
        (format!("[{h}]"), p)
    } else {
        let (h, p) = v.rsplit_once(':')?;
        (
            if h.is_empty() || h == "*" {
                "*".into()
            } else {
                h.to_string()
            },
            p,
        )
    };
    let port: u16 = port.parse().ok()?;
    Some(format!("tcp {host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Root;
    use crate::services::testutil::{self, host};

    fn run(h: &Host) -> Scan {
        testutil::run(h, scan)
    }

    fn set(h: &Host, l: &Listener, v: &str) -> String {
        testutil::set(h, l, v).1
    }

    fn line(s: &Source) -> usize {
        match s {
            Source::At(l) => l.line,
            Source::Default(_) => 0,
        }
    }

    #[test]
    fn debian_stock_app() {
        let h = host("debian-stock");
        let s = run(&h);
        assert!(s.problems.is_empty());
        assert_eq!(s.listeners.len(), 1);
        let l = &s.listeners[0];
        assert_eq!(
            (
                l.instance.as_str(),
                l.address.as_str(),
                l.requested,
                line(&l.source)
            ),
            ("app", "unix /run/uwsgi/app/app/socket", Some(100), 10)
        );
        assert!(l.refuses_above_somaxconn);
        assert_eq!(l.action, Action::Restart);
        let new = set(&h, l, "4096");
        assert!(new.contains("\nchmod-socket = 660\nlisten = 4096\nvacuum = true\n"));
    }

    #[test]
    fn sockets_defaults_problems_and_rhel() {
        let h = host("uwsgi-mixed");
        let s = run(&h);
        let got: Vec<(&str, &str, Option<i64>, usize)> = s
            .listeners
            .iter()
            .map(|l| {
                (
                    l.instance.as_str(),
                    l.address.as_str(),
                    l.requested,
                    line(&l.source),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("api", "tcp 127.0.0.1:3031", Some(100), 0),
                ("api", "tcp *:8080", Some(100), 0),
                ("api", "tcp [::1]:8443", Some(100), 0),
                ("bare", "unix /run/uwsgi/app/bare/socket", Some(100), 0),
                ("uwsgi", "unix @emperor-stats", Some(50), 4),
                ("shop", "unix /run/uwsgi/shop.sock", Some(1024), 5),
            ]
        );
        let p: Vec<(String, usize)> = s
            .problems
            .iter()
            .map(|p| (p.location.path.to_string(), p.location.line))
            .collect();
        assert_eq!(p, [("/etc/uwsgi/apps-enabled/bare.ini".into(), 3)]);
        // no listen: inserted right after the [uwsgi] header
        let new = set(&h, &s.listeners[0], "4096");
        assert_eq!(
            new,
            "# api\n[uwsgi]\nlisten = 4096\nsocket = 127.0.0.1:3031\nhttp-socket = :8080\nhttps-socket = [::1]:8443,/c.pem,/k.pem\n\n[other]\nlisten = 5\n"
        );
        // re-scan the edited text
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/uwsgi/apps-enabled")).unwrap();
        std::fs::write(d.path().join("etc/uwsgi/apps-enabled/api.ini"), &new).unwrap();
        let s2 = run(&Host::new(Root::new(d.path()).unwrap()));
        assert_eq!(s2.listeners[0].requested, Some(4096));
        assert_eq!(line(&s2.listeners[0].source), 3);
    }
}
