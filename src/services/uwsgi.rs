//! uWSGI ini files: Debian /etc/uwsgi/apps-enabled/*.ini (one app each, run by the `uwsgi`
//! init script), RHEL /etc/uwsgi.ini and the emperor's vassals /etc/uwsgi.d/*.ini.
//! Only the `[uwsgi]` section counts. Every `socket`-like option opens one listener; `listen`
//! (default 100) is their backlog, and on Linux uWSGI refuses to start when it exceeds
//! somaxconn ("Listen queue size is greater than the system max net.core.somaxconn").
//! There is no config checker (`uwsgi` has no -t).
//!
//! Debian's init script (/usr/share/uwsgi/init/specific_daemon, uwsgi 2.0.21-5.1) starts each
//! app as `uwsgi --ini $INHERITED_CONFIG --ini APP.ini`, INHERITED_CONFIG being set in
//! /etc/default/uwsgi to /usr/share/uwsgi/conf/default.ini, whose
//! `socket = /run/uwsgi/%(deb-confnamespace)/%(deb-confname)/socket` is opened besides the
//! app's own sockets (socket options add up; one name is bound once:
//! core/socket.c `uwsgi_socket_is_already_bound`), all with the same listen value.
//! `%(deb-confnamespace)` is "app" for apps-enabled, `%(deb-confname)` the file's name.
//!
//! A socket value without `:` is a unix path (core/socket.c `uwsgi_bind_sockets`), a
//! relative one bound in uWSGI's working directory after `chdir` (core/uwsgi.c
//! `uwsgi_start`); the emperor runs its vassals in the directory it watches
//! (core/emperor.c). The address gives the full path, then the name as bound (what `ss -lx`
//! shows) and where the directory comes from: "unix /srv/a/app.sock (app.sock after chdir)",
//! "(app.sock in the emperor's dir)", or "(app.sock, assuming cwd /)", a guess: systemd and
//! service(8) start services in /, a shell anywhere.

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

const APPS: &str = "/etc/uwsgi/apps-enabled/";
const VASSALS: &str = "/etc/uwsgi.d/";
/// /etc/default/uwsgi sets it; the init script reads it from there only.
const DEFAULTS_FILE: &str = "/etc/default/uwsgi";
const STOCK_INHERITED: &str = "/usr/share/uwsgi/conf/default.ini";
/// The socket line of the stock default.ini (a root without /usr/share/uwsgi gets it too).
const STOCK_SOCKET: &str = "/run/uwsgi/%(deb-confnamespace)/%(deb-confname)/socket";

pub fn scan(host: &Host, scan: &mut Scan) {
    let mut files = Vec::new();
    for pat in [
        "/etc/uwsgi/apps-enabled/*.ini",
        "/etc/uwsgi.ini",
        "/etc/uwsgi.d/*.ini",
    ] {
        match host.glob(pat) {
            Ok(g) => files.extend(g),
            Err(e) => scan.errors.push(e),
        }
    }
    let mut inherited: Option<Inherited> = None;
    for f in files {
        match host.read(&f) {
            Ok(Some(text)) => {
                let inh = if f.starts_with(APPS) {
                    Some(&*inherited.get_or_insert_with(|| Inherited::read(host, scan)))
                } else {
                    None
                };
                app(&f, &text, inh, scan);
            }
            Ok(None) => {}
            Err(e) => scan.errors.push(e),
        }
    }
}

/// The config Debian's init script loads before each app.
struct Inherited {
    path: String,
    /// Its text, or `None` for the stock file when the root does not hold it.
    text: Option<std::sync::Arc<str>>,
}

impl Inherited {
    fn read(host: &Host, scan: &mut Scan) -> Inherited {
        let path = match host.read(DEFAULTS_FILE) {
            Ok(Some(t)) => shell_var(&t, "INHERITED_CONFIG"),
            Ok(None) => None,
            Err(e) => {
                scan.errors.push(e);
                None
            }
        };
        let path = path.unwrap_or_else(|| STOCK_INHERITED.to_string());
        let text = match host.read(&path) {
            Ok(t) => t,
            Err(e) => {
                scan.errors.push(e);
                None
            }
        };
        Inherited { path, text }
    }
}

/// The last plain `NAME=value` of a shell file sourced by an init script (quotes removed).
fn shell_var(text: &str, name: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let t = line.trim();
        let t = t.strip_prefix("export ").unwrap_or(t);
        if let Some(v) = t.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            let v = v.split(" #").next().unwrap_or(v).trim();
            found = Some(v.trim_matches(|c| c == '"' || c == '\'').to_string());
        }
    }
    found.filter(|v| !v.is_empty())
}

struct Sock {
    value: String,
    line: usize,
}

/// What one ini file's `[uwsgi]` section says.
#[derive(Default)]
struct Ini {
    socks: Vec<Sock>,
    listen: Option<(i64, usize, Range<usize>)>,
    chdir: Option<String>,
    /// End of the first `[uwsgi]` header line, and whether it ends with a newline.
    header_end: Option<(usize, bool)>,
}

/// Names a config file can use: `%n` its name without extension, `%d` its directory (with
/// the trailing slash), `%(deb-confname)` and `%(deb-confnamespace)` from the environment
/// Debian's init script sets (core/utils.c magic variables, `UWSGI_*` options).
struct Vars<'a> {
    path: &'a str,
    deb: Option<(&'a str, &'a str)>,
}

impl Vars<'_> {
    fn expand(&self, v: &str) -> String {
        if !v.contains('%') {
            return v.to_string();
        }
        let name = root::file_name(self.path);
        let name = name.rsplit_once('.').map_or(name, |(n, _)| n);
        let mut out = String::new();
        let mut rest = v;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (done, used) = match after.as_bytes().first() {
                Some(b'n') => (Some(name.to_string()), 1),
                Some(b'd') => (Some(format!("{}/", root::parent(self.path))), 1),
                Some(b'%') => (Some("%".to_string()), 1),
                Some(b'(') => match (after.find(')'), self.deb) {
                    (Some(end), Some((namespace, confname))) => match &after[1..end] {
                        "deb-confname" => (Some(confname.to_string()), end + 1),
                        "deb-confnamespace" => (Some(namespace.to_string()), end + 1),
                        _ => (None, 0),
                    },
                    _ => (None, 0),
                },
                _ => (None, 0),
            };
            match done {
                Some(s) => out.push_str(&s),
                None => out.push('%'),
            }
            rest = &after[used..];
        }
        out.push_str(rest);
        out
    }
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

fn read_ini(path: &str, text: &str, vars: &Vars<'_>, scan: &mut Scan) -> Ini {
    let mut ini = Ini::default();
    let mut in_uwsgi = false;
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
            if in_uwsgi && ini.header_end.is_none() {
                ini.header_end = Some((start + raw.len(), raw.ends_with('\n')));
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
            ini.socks.push(Sock {
                value: vars.expand(val),
                line: line_no,
            });
        } else if key == "chdir" {
            ini.chdir = Some(vars.expand(val));
        } else if key == "listen" || key == "l" {
            let vstart = start + k.len() + 1 + lead;
            match val.parse::<i64>() {
                Ok(n) if n >= 0 => ini.listen = Some((n, line_no, vstart..vstart + val.len())),
                _ => problem(
                    scan,
                    path,
                    line_no,
                    format!("uwsgi: listen = {val} is not a number"),
                ),
            }
        }
    }
    ini
}

/// One uWSGI instance: an app file, with the config Debian's init script loads before it.
fn app(path: &str, text: &str, inherited: Option<&Inherited>, scan: &mut Scan) {
    let name = root::file_name(path);
    let name = name.strip_suffix(".ini").unwrap_or(name).to_string();
    let deb = inherited.map(|_| ("app", name.as_str()));
    let own = read_ini(path, text, &Vars { path, deb }, scan);
    // (the inherited file's sockets come first: uWSGI binds them in the order it reads them)
    let (mut socks, mut listen, mut chdir) = (Vec::new(), None, None);
    if let Some(inh) = inherited {
        let base = match &inh.text {
            Some(t) => read_ini(
                &inh.path,
                t,
                &Vars {
                    path: &inh.path,
                    deb,
                },
                scan,
            ),
            None if inh.path == STOCK_INHERITED => Ini {
                socks: vec![Sock {
                    value: Vars {
                        path: &inh.path,
                        deb,
                    }
                    .expand(STOCK_SOCKET),
                    line: 0,
                }],
                ..Ini::default()
            },
            // a custom INHERITED_CONFIG missing from the root: nothing known of it
            None => Ini::default(),
        };
        socks.extend(base.socks.into_iter().map(|s| (s, inh.path.as_str())));
        listen = base.listen.map(|l| (l, inh.path.as_str()));
        chdir = base.chdir;
    }
    socks.extend(own.socks.into_iter().map(|s| (s, path)));
    if let Some(l) = own.listen {
        listen = Some((l, path));
    }
    if own.chdir.is_some() {
        chdir = own.chdir;
    }
    let (requested, source) = match &listen {
        Some(((n, line, _), file)) => (
            *n,
            Source::At(Location {
                path: (*file).into(),
                line: *line,
            }),
        ),
        None => (
            DEFAULT_LISTEN,
            Source::Default("uWSGI default listen 100".into()),
        ),
    };
    // the value is changed in the app's own file (Debian's default.ini is rewritten on upgrade)
    let setter = match (&listen, own.header_end) {
        (Some(((_, _, r), file)), _) if *file == path => Some(Setter {
            line: None,
            path: path.into(),
            range: r.clone(),
            template: "{}".into(),
        }),
        (_, Some((at, nl))) => Some(Setter {
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
        (_, None) => None,
    };
    let workdir = match &chdir {
        Some(d) => Workdir::Chdir(d),
        None if path.starts_with(VASSALS) => Workdir::Vassals,
        None => Workdir::Unknown,
    };
    let mut seen: Vec<String> = Vec::new();
    for (s, file) in socks {
        // one name is bound once
        if seen.contains(&s.value) {
            continue;
        }
        seen.push(s.value.clone());
        let Some(address) = address(&s.value, &workdir) else {
            problem(
                scan,
                file,
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
            control: false,
            checker: Default::default(),
        });
    }
}

/// The directory a relative unix socket is bound in.
enum Workdir<'a> {
    /// `chdir = DIR` (applied before the sockets are bound).
    Chdir(&'a str),
    /// A vassal of the emperor watching /etc/uwsgi.d, which runs it there.
    Vassals,
    /// Wherever uWSGI was started: / under systemd and service(8).
    Unknown,
}

/// "/path" -> unix, "@name" -> abstract unix, "host:port" / ":port" -> tcp, anything else
/// without a `:` -> a unix path relative to the working directory. The https variants
/// append ",cert,key".
fn address(v: &str, workdir: &Workdir<'_>) -> Option<String> {
    let v = v.split(',').next().unwrap_or(v).trim();
    if v.starts_with('/') || v.starts_with('@') {
        return Some(format!("unix {v}"));
    }
    if !v.is_empty() && !v.contains(':') {
        let base = match workdir {
            Workdir::Chdir(d) => d.trim_end_matches('/'),
            Workdir::Vassals => VASSALS.trim_end_matches('/'),
            Workdir::Unknown => "",
        };
        return Some(match workdir {
            Workdir::Chdir(d) if d.starts_with('/') => format!("unix {base}/{v} ({v} after chdir)"),
            Workdir::Chdir(_) => format!("unix {v} (after chdir {base}, a relative one)"),
            Workdir::Vassals => format!("unix {base}/{v} ({v} in the emperor's dir)"),
            // systemd starts services in /, and so does service(8)
            Workdir::Unknown => format!("unix /{v} ({v}, assuming cwd /)"),
        });
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
                // Debian's init script adds its default socket to the app's own
                ("api", "unix /run/uwsgi/app/api/socket", Some(100), 0),
                ("api", "tcp 127.0.0.1:3031", Some(100), 0),
                ("api", "tcp *:8080", Some(100), 0),
                ("api", "tcp [::1]:8443", Some(100), 0),
                ("bare", "unix /run/uwsgi/app/bare/socket", Some(100), 0),
                ("uwsgi", "unix @emperor-stats", Some(50), 4),
                (
                    "rel",
                    "unix /etc/uwsgi.d/rel.sock (rel.sock in the emperor's dir)",
                    Some(100),
                    0
                ),
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
        let new = set(&h, &s.listeners[1], "4096");
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

    #[test]
    fn debian_apps_listen_on_the_inherited_socket_too() {
        let h = host("uwsgi-debian");
        let s = run(&h);
        assert!(s.problems.is_empty() && s.errors.is_empty(), "{s:?}");
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
                // no chdir: bound where uWSGI starts, which the config does not say
                ("plain", "unix /run/uwsgi/app/plain/socket", Some(100), 0),
                (
                    "plain",
                    "unix /plain.sock (plain.sock, assuming cwd /)",
                    Some(100),
                    0
                ),
                // default.ini's socket first; named again by the app, it is bound once
                ("site", "unix /run/uwsgi/app/site/socket", Some(50), 8),
                (
                    "site",
                    "unix /srv/site/app.sock (app.sock after chdir)",
                    Some(50),
                    8
                ),
                ("site", "tcp 127.0.0.1:3031", Some(50), 8),
                ("site", "tcp [::1]:8080", Some(50), 8),
            ]
        );
        // the listen value goes into the app's file, never into the package's default.ini
        let plain = &s.listeners[0];
        let st = plain.setter.as_ref().unwrap();
        assert_eq!(&*st.path, "/etc/uwsgi/apps-enabled/plain.ini");
        assert_eq!(
            set(&h, plain, "64"),
            "[uwsgi]\nlisten = 64\n# hand-made: a relative socket and no chdir\nsocket = %n.sock\n"
        );
    }

    #[test]
    fn inherited_config_from_etc_default_uwsgi() {
        let d = tempfile::tempdir().unwrap();
        let files = [
            (
                "etc/default/uwsgi",
                "VERBOSE=yes\nINHERITED_CONFIG=\"/etc/uwsgi/base.ini\"\n",
            ),
            (
                "etc/uwsgi/base.ini",
                "[uwsgi]\nsocket = /run/uwsgi/%(deb-confnamespace)-%(deb-confname).sock\n\
                 listen = 64\nchdir = /srv/%(deb-confname)\n",
            ),
            ("etc/uwsgi/apps-enabled/a.ini", "[uwsgi]\nsocket = a.sock\n"),
            (
                "etc/uwsgi/apps-enabled/b.ini",
                "[uwsgi]\nsocket = :9000\nlisten = 256\n",
            ),
        ];
        for (p, t) in files {
            std::fs::create_dir_all(d.path().join(p).parent().unwrap()).unwrap();
            std::fs::write(d.path().join(p), t).unwrap();
        }
        let h = Host::new(Root::new(d.path()).unwrap());
        let s = run(&h);
        let got: Vec<(&str, &str, Option<i64>)> = s
            .listeners
            .iter()
            .map(|l| (l.instance.as_str(), l.address.as_str(), l.requested))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "unix /run/uwsgi/app-a.sock", Some(64)),
                ("a", "unix /srv/a/a.sock (a.sock after chdir)", Some(64)),
                ("b", "unix /run/uwsgi/app-b.sock", Some(256)),
                ("b", "tcp *:9000", Some(256)),
            ]
        );
        // a's listen comes from base.ini, but is set in a.ini
        assert!(
            matches!(&s.listeners[0].source, Source::At(l) if &*l.path == "/etc/uwsgi/base.ini")
        );
        assert_eq!(
            set(&h, &s.listeners[0], "128"),
            "[uwsgi]\nlisten = 128\nsocket = a.sock\n"
        );
    }

    #[test]
    fn socket_values_without_a_colon_are_unix_paths() {
        let chdir = Workdir::Chdir("/srv/x/");
        assert_eq!(
            address("app.sock", &chdir).as_deref(),
            Some("unix /srv/x/app.sock (app.sock after chdir)")
        );
        assert_eq!(
            address("run/app.sock", &Workdir::Vassals).as_deref(),
            Some("unix /etc/uwsgi.d/run/app.sock (run/app.sock in the emperor's dir)")
        );
        assert_eq!(address("@abs", &chdir).as_deref(), Some("unix @abs"));
        assert_eq!(address(":3031", &chdir).as_deref(), Some("tcp *:3031"));
        assert_eq!(address("host:x", &chdir), None);
    }
}
