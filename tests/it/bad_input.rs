//! The bad-input catalog: every kind of hostile or broken input qfix meets on a host, each
//! run through the real binary against a copy of the stock Debian tree with a live
//! /proc/sys of plain files. For each: the exit code, a message naming the path (and line
//! where there is one), no hang (each run is killed after a deadline), and nothing written
//! outside the files the case may change: the whole tree and a canary directory beside the
//! root are hashed before and after.

use crate::common::*;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

/// A run longer than this is a hang.
const DEADLINE_SECS: &str = "30";

type Setup = Box<dyn Fn(&Path, &Path) + Sync>;
type Then = fn(&Path) -> Result<(), String>;

struct Case {
    name: String,
    /// Builds the bad input into the root (first argument); the second is the directory
    /// that holds the root and the canary beside it.
    setup: Setup,
    args: Vec<String>,
    /// Shell commands run in a private mount namespace before qfix (`$R` is the root).
    ns: Option<&'static str>,
    code: i32,
    /// Substrings of stderr+stdout (`{OUT}`: the directory holding the root).
    says: Vec<String>,
    /// In-root path prefixes the run may change.
    may_write: Vec<&'static str>,
    /// A last check of the tree after the run.
    then: Option<Then>,
}

fn case(
    name: &str,
    setup: impl Fn(&Path, &Path) + Sync + 'static,
    args: &[&str],
    code: i32,
) -> Case {
    Case {
        name: name.to_string(),
        setup: Box::new(setup),
        args: args.iter().map(|s| s.to_string()).collect(),
        ns: None,
        code,
        says: Vec::new(),
        may_write: Vec::new(),
        then: None,
    }
}

impl Case {
    fn says(mut self, s: &[&str]) -> Case {
        self.says.extend(s.iter().map(|s| s.to_string()));
        self
    }
    fn may_write(mut self, p: &[&'static str]) -> Case {
        self.may_write.extend(p);
        self
    }
    fn then(mut self, f: Then) -> Case {
        self.then = Some(f);
        self
    }
    fn ns(mut self, prelude: &'static str) -> Case {
        self.ns = Some(prelude);
        self
    }
}

/// The stock Debian configs, a systemd socket, and a live /proc/sys of plain files.
fn base(root: &Path) {
    copy_tree(&fixture("debian-stock"), root);
    write_tree(
        root,
        &[
            (
                "/etc/systemd/system/app.socket",
                "[Socket]\nListenStream=8080\nBacklog=64\n",
            ),
            (
                "/etc/systemd/system/sockets.target.wants/app.socket",
                "-> ../app.socket",
            ),
        ],
    );
    proc_sys(
        root,
        &[
            ("net.core.somaxconn", "4096"),
            ("net.ipv4.tcp_max_syn_backlog", "1024"),
            ("net.ipv4.ip_local_port_range", "32768\t60999"),
            ("net.ipv4.tcp_syncookies", "1"),
        ],
    );
}

fn mkfifo(p: &Path) {
    let _ = fs::remove_file(p);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

fn mknod_zero(p: &Path) {
    let _ = fs::remove_file(p);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let st = Command::new("mknod")
        .arg(p)
        .args(["c", "1", "5"])
        .status()
        .unwrap();
    assert!(st.success());
}

fn at(root: &Path, inroot: &str) -> std::path::PathBuf {
    root.join(inroot.trim_start_matches('/'))
}

fn put(root: &Path, inroot: &str, bytes: &[u8]) {
    let p = at(root, inroot);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = fs::remove_file(&p);
    fs::write(p, bytes).unwrap();
}

fn link(root: &Path, inroot: &str, target: &str) {
    let p = at(root, inroot);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = fs::remove_file(&p);
    symlink(target, p).unwrap();
}

/// Every entry under `dir`: kind, mode, and content digest or link target.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let t = m.file_type();
            let what = if t.is_symlink() {
                format!("link {}", fs::read_link(&p).unwrap().display())
            } else if t.is_dir() {
                todo.push(p.clone());
                format!("dir {:o}", m.mode())
            } else if t.is_file() {
                let h = Sha256::digest(fs::read(&p).unwrap());
                format!("file {:o} {h:x}", m.mode())
            } else {
                format!("special {:o} {}", m.mode(), m.rdev())
            };
            out.insert(rel, what);
        }
    }
    out
}

struct Outcome {
    code: i32,
    text: String,
}

fn run(case: &Case, outer: &Path, root: &Path) -> Outcome {
    let mut cmd;
    match case.ns {
        None => {
            cmd = Command::new("timeout");
            cmd.args(["-s", "KILL", DEADLINE_SECS, BIN]);
        }
        Some(prelude) => {
            cmd = Command::new("unshare");
            let script = format!(
                "set -e; R=\"$1\"; shift; {prelude}; exec timeout -s KILL {DEADLINE_SECS} \"$@\""
            );
            cmd.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
                .arg(root)
                .arg(BIN);
        }
    }
    cmd.arg("--root").arg(root);
    for a in &case.args {
        cmd.arg(a.replace("{OUT}", &outer.display().to_string()));
    }
    // messages are matched whole: no wrapping at 80 columns
    let o = cmd
        .env("COLUMNS", "10000")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Outcome {
        code: o.status.code().unwrap_or(-1),
        text: String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout),
    }
}

/// One case: build, hash, run, compare. Returns what went wrong, if anything.
fn check(case: &Case, report: &mut String) -> Result<(), String> {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir_all(&root).unwrap();
    base(&root);
    fs::write(outer.path().join("canary"), "canary\n").unwrap();
    fs::create_dir_all(outer.path().join("beside")).unwrap();
    (case.setup)(&root, outer.path());
    let before = snapshot(outer.path());
    let out = run(case, outer.path(), &root);
    let after = snapshot(outer.path());
    let first = out
        .text
        .lines()
        .find(|l| l.contains("error") || l.starts_with("applied"))
        .unwrap_or("")
        .replace(&outer.path().display().to_string(), "{OUT}");
    report.push_str(&format!("{}\t{}\t{first}\n", case.name, out.code));
    let mut wrong = Vec::new();
    if out.code == 137 || out.code == -1 {
        wrong.push(format!("hung: killed after {DEADLINE_SECS}s"));
    } else if out.code != case.code {
        wrong.push(format!("exit {} (wanted {})", out.code, case.code));
    }
    if out.text.contains("panicked") {
        wrong.push("panicked".into());
    }
    for s in &case.says {
        let s = s.replace("{OUT}", &outer.path().display().to_string());
        if !out.text.contains(&s) {
            wrong.push(format!("does not say {s:?}"));
        }
    }
    if let Some(f) = case.then
        && let Err(e) = f(&root)
    {
        wrong.push(e);
    }
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for k in keys {
        if before.get(k) == after.get(k) {
            continue;
        }
        let inroot = k.strip_prefix("root").map(|r| r.to_string());
        // a path the case may write, or a directory created on the way to one
        let created_dir =
            after.get(k).is_some_and(|a| a.starts_with("dir ")) && !before.contains_key(k);
        let allowed = inroot.as_deref().is_some_and(|p| {
            case.may_write
                .iter()
                .any(|w| p.starts_with(w) || created_dir && w.starts_with(&format!("{p}/")))
        });
        if !allowed {
            wrong.push(format!(
                "wrote {k}: {:?} -> {:?}",
                before.get(k),
                after.get(k)
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n--- output (exit {})\n{}",
            case.name,
            wrong.join("; "),
            out.code,
            out.text
        ))
    }
}

/// Places qfix reads configs from, each made a FIFO.
const FIFO_PLACES: [&str; 18] = [
    "/etc/sysctl.d/50-fifo.conf",
    "/run/sysctl.d/50-fifo.conf",
    "/usr/lib/sysctl.d/50-fifo.conf",
    "/etc/sysctl.conf",
    "/etc/nginx/nginx.conf",
    "/etc/nginx/conf.d/fifo.conf",
    "/etc/nginx/sites-enabled/fifo",
    "/etc/php/8.2/fpm/php-fpm.conf",
    "/etc/php/8.2/fpm/pool.d/fifo.conf",
    "/etc/redis/redis.conf",
    "/etc/haproxy/haproxy.cfg",
    "/etc/apache2/sites-enabled/fifo.conf",
    "/etc/mysql/conf.d/fifo.cnf",
    "/etc/memcached.conf",
    "/etc/uwsgi/apps-enabled/fifo.ini",
    "/etc/systemd/system/fifo.socket",
    "/etc/qfix/policy.toml",
    "/etc/qfix/rules.d/fifo.toml",
];

/// What an apply that goes through may write.
const APPLY_WRITES: [&str; 4] = [
    "/var/lib/qfix/",
    "/var/lib/qfix",
    "/etc/sysctl.d/99-qfix.conf",
    "/proc/sys/net/core/somaxconn",
];

fn catalog() -> Vec<Case> {
    let mut cases = Vec::new();
    for place in FIFO_PLACES {
        for cmd in ["plan", "apply"] {
            let args: &[&str] = if cmd == "plan" {
                &["plan"]
            } else {
                &["apply", "--yes", "--set", "net.core.somaxconn=8192"]
            };
            cases.push(
                case(
                    &format!("FIFO at {place} ({cmd})"),
                    move |r, _| {
                        mkfifo(&at(r, place));
                        if place.ends_with(".socket") {
                            link(
                                r,
                                "/etc/systemd/system/sockets.target.wants/fifo.socket",
                                "../fifo.socket",
                            );
                        }
                    },
                    args,
                    1,
                )
                .says(&[&format!("{place}: is a FIFO, not a regular file")]),
            );
        }
    }
    cases.push(
        case(
            "FIFO as a live value",
            |r, _| mkfifo(&at(r, "/proc/sys/net/core/somaxconn")),
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["/proc/sys/net/core/somaxconn: is a FIFO, not a regular file"]),
    );
    cases.push(
        case(
            "FIFO as the lock file",
            |r, _| mkfifo(&at(r, "/run/qfix.lock")),
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["/run/qfix.lock: is a FIFO, not a regular file"]),
    );
    cases.push(
        case(
            "live value linked to /dev/zero",
            |r, _| {
                mknod_zero(&at(r, "/dev/zero"));
                link(r, "/proc/sys/net/core/somaxconn", "/dev/zero");
            },
            &["plan", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["/proc/sys/net/core/somaxconn: a symlink (to /dev/zero), not a kernel value"]),
    );
    cases.push(
        case(
            "live value is a character device",
            |r, _| mknod_zero(&at(r, "/proc/sys/net/core/somaxconn")),
            &["plan", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["/proc/sys/net/core/somaxconn: is a character device, not a regular file"]),
    );
    cases.push(
        case(
            "live value of 1 MB",
            |r, _| put(r, "/proc/sys/net/core/somaxconn", &vec![b'7'; 1 << 20]),
            &["plan", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["/proc/sys/net/core/somaxconn: larger than 65536 bytes"]),
    );
    cases.push(
        case(
            "live value is not a number",
            |r, _| put(r, "/proc/sys/net/core/somaxconn", b"lots\n"),
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["net.core.somaxconn", "lots"]),
    );
    cases.push(
        case(
            "live value linked outside by an absolute path",
            |r, out| {
                link(
                    r,
                    "/proc/sys/net/core/somaxconn",
                    &format!("{}/canary", out.display()),
                )
            },
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["/proc/sys/net/core/somaxconn: a symlink (to {OUT}/canary), not a kernel value"]),
    );
    // --set keys and values
    for (name, set, says) in [
        (
            "--set key climbing out by ..",
            "net/../../../../beside/victim=3",
            "\"..\" component",
        ),
        (
            "--set key with odd characters",
            "net.core.some key=3",
            "character ' '",
        ),
        (
            "--set negative somaxconn",
            "net.core.somaxconn=-5",
            "-5 is not an integer from 0 to 2147483647",
        ),
        (
            "--set somaxconn 2^32",
            "net.core.somaxconn=4294967296",
            "4294967296 is not an integer from 0 to 2147483647",
        ),
        (
            "--set value with a newline",
            "net.core.somaxconn=1\n2",
            "control character",
        ),
        (
            "--set a pattern",
            "net.ipv4.conf.*.rp_filter=1",
            "a pattern; --set takes one key",
        ),
    ] {
        cases.push(case(name, |_, _| {}, &["apply", "--yes", "--set", set], 1).says(&[says]));
    }
    cases.push(
        case(
            "--set a key the kernel lacks",
            |_, _| {},
            &["apply", "--yes", "--set", "net.core.no_such_key=3"],
            1,
        )
        .says(&[
            "net.core.no_such_key: no such key under /proc/sys",
            "nothing was written",
        ]),
    );
    cases.push(
        case(
            "policy key climbing out by ..",
            |r, _| {
                put(
                    r,
                    "/etc/qfix/policy.toml",
                    b"[sysctl]\n\"net/../../../../beside/victim\" = { value = \"3\" }\n",
                );
            },
            &["apply", "--yes"],
            1,
        )
        // refused at its line, before any plan proposes writing it
        .says(&["/etc/qfix/policy.toml:2:", "\"..\" component"]),
    );
    // text oddities
    cases.push(
        case(
            "non-UTF-8 sysctl file",
            |r, _| {
                put(
                    r,
                    "/etc/sysctl.d/10-latin1.conf",
                    b"# ok\nkernel.x = caf\xe9\n",
                )
            },
            &["plan"],
            1,
        )
        .says(&["/etc/sysctl.d/10-latin1.conf:2: not valid UTF-8"]),
    );
    cases.push(
        case(
            "non-UTF-8 nginx file",
            |r, _| put(r, "/etc/nginx/conf.d/latin1.conf", b"\n\n# caf\xe9\n"),
            &["plan"],
            1,
        )
        .says(&["/etc/nginx/conf.d/latin1.conf:3: not valid UTF-8"]),
    );
    cases.push(
        case(
            "CRLF sysctl file keeps CRLF",
            |r, _| {
                put(
                    r,
                    "/etc/sysctl.d/60-crlf.conf",
                    b"# crlf\r\nnet.core.somaxconn = 1024\r\n",
                )
            },
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            0,
        )
        .may_write(&APPLY_WRITES)
        .may_write(&["/etc/sysctl.d/60-crlf.conf"])
        .then(|r| {
            let t = fs::read_to_string(at(r, "/etc/sysctl.d/60-crlf.conf")).unwrap();
            let bare = t.replace("\r\n", "").contains('\n');
            if t.contains("= 8192\r\n") && !bare {
                Ok(())
            } else {
                Err(format!("CRLF not kept: {t:?}"))
            }
        }),
    );
    cases.push(
        case(
            "BOM before the first sysctl key",
            |r, _| {
                put(
                    r,
                    "/etc/sysctl.d/60-bom.conf",
                    "\u{feff}net.core.somaxconn = 1024\n".as_bytes(),
                )
            },
            &["blame", "net.core.somaxconn"],
            0,
        )
        .says(&["/etc/sysctl.d/60-bom.conf:1"]),
    );
    cases.push(case(
        "NUL in a sysctl file",
        |r, _| {
            put(
                r,
                "/etc/sysctl.d/60-nul.conf",
                b"net.core.somaxconn = 10\x0024\n",
            )
        },
        &["plan"],
        2,
    ));
    cases.push(case(
        "NUL in a sysctl key on apply",
        |r, _| {
            put(
                r,
                "/etc/sysctl.d/60-nul.conf",
                b"net.core.some\x00key = 1\n",
            )
        },
        &["apply", "--yes"],
        0,
    ));
    cases.push(case(
        "10 MB line in a sysctl file",
        |r, _| {
            let mut b = b"# ".to_vec();
            b.extend(std::iter::repeat_n(b'x', 10 << 20));
            b.extend(b"\nnet.core.somaxconn = 2048\n");
            put(r, "/etc/sysctl.d/60-long.conf", &b);
        },
        &["plan"],
        2,
    ));
    cases.push(case(
        "10 MB line in nginx",
        |r, _| {
            let mut b = b"# ".to_vec();
            b.extend(std::iter::repeat_n(b'x', 10 << 20));
            b.push(b'\n');
            put(r, "/etc/nginx/conf.d/long.conf", &b);
        },
        &["plan"],
        2,
    ));
    cases.push(
        case(
            "40 MB sysctl file",
            |r, _| put(r, "/etc/sysctl.d/60-huge.conf", &vec![b'#'; 40 << 20]),
            &["plan"],
            1,
        )
        .says(&["/etc/sysctl.d/60-huge.conf: larger than 33554432 bytes"]),
    );
    // includes
    cases.push(
        case(
            "nginx include loop",
            |r, _| {
                put(
                    r,
                    "/etc/nginx/conf.d/loop.conf",
                    b"include /etc/nginx/conf.d/loop.conf;\n",
                )
            },
            &["plan"],
            1,
        )
        .says(&["/etc/nginx/conf.d/loop.conf:1"]),
    );
    cases.push(
        case(
            "php-fpm include loop",
            |r, _| {
                put(
                    r,
                    "/etc/php/8.2/fpm/pool.d/loop.conf",
                    b"include=/etc/php/8.2/fpm/pool.d/*.conf\n",
                )
            },
            &["plan"],
            1,
        )
        .says(&["/etc/php/8.2/fpm/pool.d/loop.conf:1"]),
    );
    cases.push(
        case(
            "redis include loop",
            |r, _| {
                let conf = at(r, "/etc/redis/redis.conf");
                let mut t = fs::read_to_string(&conf).unwrap();
                t.push_str("include /etc/redis/redis.conf\n");
                fs::write(conf, t).unwrap();
            },
            &["plan"],
            1,
        )
        .says(&["/etc/redis/redis.conf:"]),
    );
    cases.push(case(
        "5,000 files in nginx conf.d",
        |r, _| {
            for i in 0..5000 {
                put(
                    r,
                    &format!("/etc/nginx/conf.d/s{i}.conf"),
                    format!("# {i}\n").as_bytes(),
                );
            }
        },
        &["plan"],
        2,
    ));
    cases.push(case(
        "5,000 files in sysctl.d",
        |r, _| {
            for i in 0..5000 {
                put(
                    r,
                    &format!("/etc/sysctl.d/{i:05}.conf"),
                    format!("net.ipv4.tcp_syncookies = {}\n", i % 2).as_bytes(),
                );
            }
        },
        &["plan"],
        2,
    ));
    // kinds of file
    cases.push(
        case(
            "directory as a sysctl file",
            |r, _| fs::create_dir_all(at(r, "/etc/sysctl.d/50-dir.conf")).unwrap(),
            &["plan"],
            1,
        )
        .says(&["/etc/sysctl.d/50-dir.conf: is a directory, not a regular file"]),
    );
    cases.push(
        case(
            "directory as nginx.conf",
            |r, _| {
                fs::remove_file(at(r, "/etc/nginx/nginx.conf")).unwrap();
                fs::create_dir_all(at(r, "/etc/nginx/nginx.conf")).unwrap();
            },
            &["plan"],
            1,
        )
        .says(&["/etc/nginx/nginx.conf: is a directory, not a regular file"]),
    );
    cases.push(
        case(
            "sysctl.d is a file",
            |r, _| {
                fs::remove_dir_all(at(r, "/etc/sysctl.d")).unwrap();
                put(r, "/etc/sysctl.d", b"x\n");
            },
            &["plan"],
            1,
        )
        .says(&["/etc/sysctl.d: is a regular file, not a directory"]),
    );
    // links
    cases.push(
        case(
            "sysctl file linked out by ..",
            |r, _| link(r, "/etc/sysctl.d/50-evil.conf", "../../../canary"),
            &["plan"],
            1,
        )
        .says(&["/etc/sysctl.d/50-evil.conf: symlink to ../../../canary points outside the root"]),
    );
    cases.push(
        case(
            "nginx site linked out by an absolute path",
            |r, out| {
                link(
                    r,
                    "/etc/nginx/sites-enabled/evil",
                    &format!("{}/canary", out.display()),
                )
            },
            &["plan"],
            1,
        )
        // taken inside the root, the target does not exist
        .says(&["/etc/nginx/sites-enabled/evil: no such file"]),
    );
    cases.push(
        case(
            "drop-in to write linked out by an absolute path",
            |r, out| {
                link(
                    r,
                    "/etc/sysctl.d/99-qfix.conf",
                    &format!("{}/canary", out.display()),
                )
            },
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            0,
        )
        .may_write(&APPLY_WRITES)
        // the link's target, taken inside the root
        .may_write(&["/tmp"]),
    );
    cases.push(
        case(
            "backup directory linked out by an absolute path",
            |r, out| {
                fs::create_dir_all(at(r, "/var/lib")).unwrap();
                link(r, "/var/lib/qfix", &format!("{}/beside", out.display()));
            },
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            0,
        )
        .may_write(&APPLY_WRITES)
        .may_write(&["/tmp"]),
    );
    cases.push(
        case(
            "/run linked out by an absolute path (the lock)",
            |r, out| link(r, "/run", &format!("{}/beside", out.display())),
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            0,
        )
        .may_write(&APPLY_WRITES),
    );
    cases.push(case(
        "dangling sysctl.d link",
        |r, _| link(r, "/etc/sysctl.d/50-gone.conf", "/nowhere/gone.conf"),
        &["plan", "--set", "net.core.somaxconn=8192"],
        2,
    ));
    cases.push(
        case(
            "dangling nginx site link (nginx -t fails on it too)",
            |r, _| {
                link(
                    r,
                    "/etc/nginx/sites-enabled/gone",
                    "../sites-available/gone",
                )
            },
            &["plan"],
            1,
        )
        .says(&[
            "/etc/nginx/sites-enabled/gone: no such file",
            "/etc/nginx/nginx.conf:60",
        ]),
    );
    cases.push(
        case(
            "dangling php-fpm pool link",
            |r, _| link(r, "/etc/php/8.2/fpm/pool.d/gone.conf", "/nowhere"),
            &["plan"],
            // php-fpm -t fails on it too ("Unable to include"): an error, exit 1
            1,
        )
        .says(&["Unable to include /etc/php/8.2/fpm/pool.d/gone.conf"]),
    );
    cases.push(
        case(
            "link loop",
            |r, _| {
                link(r, "/etc/sysctl.d/50-a.conf", "50-b.conf");
                link(r, "/etc/sysctl.d/50-b.conf", "50-a.conf");
            },
            &["plan"],
            1,
        )
        .says(&["/etc/sysctl.d/50-a.conf: too many levels of symbolic links"]),
    );
    // policy and rules
    cases.push(
        case(
            "bad policy types",
            |r, _| put(r, "/etc/qfix/policy.toml", b"[sysctl]\n\"net.core.somaxconn\" = { min = \"lots\" }\n\n[listeners]\nmin_backlog = -5\n"),
            &["plan"],
            1,
        )
        .says(&["/etc/qfix/policy.toml:2"]),
    );
    cases.push(
        case(
            "NUL in the policy",
            |r, _| {
                put(
                    r,
                    "/etc/qfix/policy.toml",
                    b"[sysctl]\n\"net.core.somaxconn\" = { min = 1\x0024 }\n",
                )
            },
            &["plan"],
            1,
        )
        .says(&["/etc/qfix/policy.toml:2: invalid"]),
    );
    cases.push(
        case(
            "policy that is not TOML",
            |r, _| put(r, "/etc/qfix/policy.toml", b"[sysctl\n"),
            &["apply", "--yes"],
            1,
        )
        .says(&["/etc/qfix/policy.toml:1"]),
    );
    cases.push(
        case("unknown rule", |_, _| {}, &["explain", "QF999"], 1).says(&["no rule \"QF999\""]),
    );
    cases.push(
        case(
            "site rule of an unknown kind",
            |r, _| {
                put(
                    r,
                    "/etc/qfix/rules.d/x.toml",
                    b"[[rule]]\ncode = \"QF900\"\nname = \"x\"\nkind = \"no-such-kind\"\n",
                )
            },
            &["plan"],
            1,
        )
        .says(&["/etc/qfix/rules.d/x.toml"]),
    );
    // read-only trees (private mount namespaces: the tree's own directories only)
    cases.push(
        case("read-only /proc/sys", |_, _| {}, &["apply", "--yes", "--set", "net.core.somaxconn=8192"], 1)
            .ns("mount --bind \"$R/proc/sys\" \"$R/proc/sys\"; mount -o remount,bind,ro \"$R/proc/sys\"")
            .says(&["/proc/sys/net/core/somaxconn failed: Read-only file system", "rolled back"])
            .may_write(&["/var/lib/qfix"]),
    );
    cases.push(
        case(
            "read-only /etc",
            |_, _| {},
            &["apply", "--yes", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .ns("mount --bind \"$R/etc\" \"$R/etc\"; mount -o remount,bind,ro \"$R/etc\"")
        .says(&[
            "/etc/sysctl.d/99-qfix.conf: Read-only file system",
            "rolled back",
        ])
        .may_write(&["/var/lib/qfix"]),
    );
    cases.push(
        case(
            "read-only root, plan",
            |_, _| {},
            &["plan", "--set", "net.core.somaxconn=8192"],
            2,
        )
        .ns("mount --bind \"$R\" \"$R\"; mount -o remount,bind,ro \"$R\""),
    );
    // refused applies write nothing at all, not even the lock file or a backup directory
    cases.push(
        case(
            "apply without a terminal",
            |_, _| {},
            &["apply", "--set", "net.core.somaxconn=8192"],
            1,
        )
        .says(&["no terminal to ask for approval; nothing was changed"]),
    );
    cases.push(
        case(
            "stale plan",
            |r, out| {
                let o = Command::new(BIN)
                    .arg("--root")
                    .arg(r)
                    .args(["plan", "--set", "net.core.somaxconn=8192", "--out"])
                    .arg(out.join("plan.json"))
                    .output()
                    .unwrap();
                assert_eq!(o.status.code(), Some(2), "{o:?}");
                put(r, "/etc/sysctl.conf", b"# changed since the plan\n");
            },
            &["apply", "{OUT}/plan.json", "--yes"],
            1,
        )
        .says(&[
            "stale plan, refusing to apply",
            "/etc/sysctl.conf: modified since the plan was made",
        ]),
    );
    cases.push(
        case(
            "missing root",
            |r, _| fs::remove_dir_all(r).unwrap(),
            &["plan"],
            1,
        )
        .says(&["--root {OUT}/root: No such file or directory"])
        .may_write(&[""]),
    );
    cases.push(
        case(
            "root is a file",
            |r, _| {
                fs::remove_dir_all(r).unwrap();
                fs::write(r, "x").unwrap();
            },
            &["plan"],
            1,
        )
        .says(&["--root {OUT}/root: not a directory"]),
    );
    cases
}

#[test]
fn bad_inputs_fail_clearly_without_hanging_or_writing_outside() {
    for tool in ["timeout", "mkfifo", "mknod"] {
        if !have(tool) {
            skip(&format!("{tool} is not installed"));
            return;
        }
    }
    let ns_ok = can_unshare();
    let cases = catalog();
    let mut ran = 0;
    let mut todo = Vec::new();
    for c in &cases {
        if c.ns.is_some() && !ns_ok {
            skip(&format!("{}: no private mount namespaces here", c.name));
            continue;
        }
        ran += 1;
        todo.push(c);
    }
    // two at a time (the machines have two cores); each case has its own trees
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, String, Result<(), String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(c) = todo.get(i) else { break out };
                        let mut line = String::new();
                        let r = check(c, &mut line);
                        out.push((i, line, r));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut results = results;
    results.sort_by_key(|r| r.0);
    // QFIX_CATALOG_REPORT=FILE: each case's exit code and first message line, tab-separated
    let report: String = results.iter().map(|r| r.1.as_str()).collect();
    let failures: Vec<String> = results.into_iter().filter_map(|r| r.2.err()).collect();
    eprintln!("{ran} bad inputs tried, {} wrong", failures.len());
    if let Ok(path) = std::env::var("QFIX_CATALOG_REPORT") {
        fs::write(path, report).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
