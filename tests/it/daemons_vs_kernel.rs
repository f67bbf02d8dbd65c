//! The listener contract as the kernel sees it: each service that runs without systemd (nginx,
//! php-fpm 8.2, Redis, HAProxy, Apache, MariaDB, memcached, uWSGI) is started from several
//! config trees (Debian's stock files from fixtures/debian-stock, upstream example files from
//! tests/daemons/upstream, edited ones; TCP v4, v6 and unix) at net.core.somaxconn 128 and
//! 4096. The queue `qfix --root TREE listeners --format json` predicts for every listener
//! (`effective_live`, TREE/proc/sys/net/core/somaxconn holding the same value) must equal the
//! kernel's Send-Q of its socket (`ss -Hltnx`), and the listeners qfix predicts must be the
//! sockets that listen.
//!
//! Each run is tests/daemons/netns-daemon.sh under `unshare -n -m -p --fork --mount-proc`: a
//! fresh network namespace (somaxconn is set there only, with /proc/sys read-only but for
//! /proc/sys/net, after checking a kernel.* file is not writable), the tree's files bound over
//! /etc/<service> on an overlay of /etc, tmpfs runtime dirs, and a pid namespace, so the
//! daemon ends with the script. Each test prints its table (listeners agreeing / total, per
//! config and somaxconn) and fails on any disagreement.
//!
//! Needs root, unshare, ip, ss and the daemons (Debian packages); a test whose daemon is
//! missing says "skipped: ..." (and fails under CI=true). Run:
//! `cargo test --test daemons_vs_kernel -- --nocapture` (about 30 s on 2 cores).

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const QFIX: &str = env!("CARGO_BIN_EXE_qfix");
const SOMAXCONNS: [u32; 2] = [128, 4096];
/// One namespace run: a daemon that has not settled by then is reported as such.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

use crate::common::skip;

fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin", "/usr/bin"]
            .iter()
            .any(|d| Path::new(d).join(prog).is_file())
}

/// Whether this host can run the daemons in namespaces; if not, `skip` says why.
fn require(progs: &[&str]) -> bool {
    if !nix::unistd::geteuid().is_root() {
        skip("not root: private namespaces and daemons need root");
        return false;
    }
    let mut missing: Vec<&str> = ["unshare", "ip", "ss", "timeout", "mount"]
        .into_iter()
        .chain(progs.iter().copied())
        .filter(|p| !on_path(p))
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        skip(&format!("not installed: {}", missing.join(", ")));
        return false;
    }
    true
}

/// A root tree for qfix and the daemon: a service's files, plus what qfix reads of the host.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        // a Debian host (HAProxy's conf.d, for one, is read only elsewhere)
        t.write("/etc/debian_version", "12.0\n");
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        t.write("/proc/sys/kernel/osrelease", &release);
        t
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    /// Copy `from` (a path in fixtures/debian-stock) to the same path in the tree.
    fn stock(self, p: &str) -> Tree {
        let src = manifest().join("fixtures/debian-stock").join(&p[1..]);
        let dst = self.path(p);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&dst)
            .status()
            .unwrap();
        assert!(st.success(), "cp {}", src.display());
        self
    }

    fn write(&self, p: &str, text: &str) {
        let dst = self.path(p);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::write(dst, text).unwrap();
    }

    fn with(self, p: &str, text: &str) -> Tree {
        self.write(p, text);
        self
    }

    /// A file of tests/daemons/upstream at `p`.
    fn upstream(self, name: &str, p: &str) -> Tree {
        let text = fs::read_to_string(manifest().join("tests/daemons/upstream").join(name));
        self.with(p, &text.unwrap())
    }

    /// Replace `from` (which must be there) by `to` in the file at `p`.
    fn edit(self, p: &str, from: &str, to: &str) -> Tree {
        let text = fs::read_to_string(self.path(p)).unwrap();
        assert!(text.contains(from), "{p} has no {from:?}");
        self.write(p, &text.replacen(from, to, 1));
        self
    }

    fn append(self, p: &str, more: &str) -> Tree {
        let text = fs::read_to_string(self.path(p)).unwrap();
        self.write(p, &(text + more));
        self
    }
}

/// One listener as qfix predicts it.
#[derive(Debug)]
struct Predicted {
    address: String,
    requested: Option<i64>,
    effective: Option<i64>,
}

fn predict(tree: &Tree, service: &str, somaxconn: u32) -> Vec<Predicted> {
    tree.write("/proc/sys/net/core/somaxconn", &format!("{somaxconn}\n"));
    let out = Command::new(QFIX)
        .arg("--root")
        .arg(tree.dir.path())
        .args(["listeners", "--format", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "qfix listeners: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["service"] == service)
        .map(|l| Predicted {
            address: l["address"].as_str().unwrap().to_string(),
            requested: l["requested"].as_i64(),
            effective: l["effective_live"].as_i64(),
        })
        .collect()
}

/// A listening socket as the kernel shows it.
#[derive(Debug, Clone)]
struct Socket {
    unix: bool,
    local: String,
    send_q: i64,
}

fn parse_ss(out: &str) -> Vec<Socket> {
    out.lines()
        .filter_map(|l| {
            // Netid State Recv-Q Send-Q Local Peer...
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [netid, "LISTEN", _, q, local, ..] => Some(Socket {
                    unix: netid.starts_with("u_"),
                    local: local.to_string(),
                    send_q: q.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}

fn own(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// Start `service` from `tree` in private namespaces at `somaxconn`; its listening sockets.
fn observe(service: &str, tree: &Tree, somaxconn: u32) -> Result<Vec<Socket>, String> {
    let script = manifest().join("tests/daemons/netns-daemon.sh");
    let mut child = Command::new("timeout")
        .args(["-k", "5", &RUN_TIMEOUT.as_secs().to_string()])
        .args([
            "unshare",
            "-n",
            "-m",
            "-p",
            "--fork",
            "--mount-proc",
            "bash",
        ])
        .arg(&script)
        .arg(service)
        .arg(tree.dir.path())
        .arg(somaxconn.to_string())
        .arg(own("net"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("unshare: {e}"))?;
    let mut err = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    let log = log.join().unwrap();
    if !status.success() {
        return Err(format!("{service} namespace run: {status}\n{log}"));
    }
    if !log.is_empty() {
        eprint!("{log}");
    }
    Ok(parse_ss(&out))
}

/// The name a unix socket was bound to, as ss shows it, without HAProxy's temporary suffix:
/// HAProxy binds "PATH.PID.tmp" and renames it to PATH (src/sock_unix.c), and the kernel keeps
/// the name given to bind().
fn bound_as(local: &str) -> &str {
    let Some(rest) = local.strip_suffix(".tmp") else {
        return local;
    };
    match rest.rsplit_once('.') {
        Some((path, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => path,
        _ => local,
    }
}

/// How a predicted address names the socket `ss` shows: "tcp *:80" is 0.0.0.0:80 (or a
/// dual-stack *:80), "unix /p" is /p; `aliases` maps names ss shows (a uWSGI socket bound
/// relative to its working directory) to qfix's.
fn matches(p: &Predicted, s: &Socket, exact: bool, aliases: &[(&str, &str)]) -> bool {
    // a note after the address: "unix /srv/x/app.sock (app.sock, ...)"
    let addr = p.address.split(" (").next().unwrap();
    if let Some(path) = addr.strip_prefix("unix ") {
        let shown = aliases
            .iter()
            .find(|(from, _)| *from == s.local)
            .map_or(bound_as(&s.local), |(_, to)| to);
        return s.unix && shown == path;
    }
    let Some(hp) = addr.strip_prefix("tcp ") else {
        return false;
    };
    if s.unix {
        return false;
    }
    if hp == s.local {
        return true;
    }
    match hp.strip_prefix("*:") {
        Some(port) if !exact => ["0.0.0.0", "*", "[::]"]
            .iter()
            .any(|h| s.local == format!("{h}:{port}")),
        _ => false,
    }
}

/// One config at one somaxconn: listeners agreeing, total, and what disagreed.
struct Row {
    config: String,
    somaxconn: u32,
    agree: usize,
    total: usize,
    notes: Vec<String>,
}

fn compare(
    service: &str,
    predicted: &[Predicted],
    sockets: &[Socket],
    somaxconn: u32,
    aliases: &[(&str, &str)],
) -> (usize, usize, Vec<String>) {
    let mut left: Vec<Option<&Socket>> = sockets.iter().map(Some).collect();
    let mut pairs: Vec<(&Predicted, Option<&Socket>)> =
        predicted.iter().map(|p| (p, None)).collect();
    // exact addresses first, so "*:80" does not take the socket "[::]:80" is
    for exact in [true, false] {
        for pair in pairs.iter_mut().filter(|p| p.1.is_none()) {
            if let Some(slot) = left
                .iter_mut()
                .find(|s| s.is_some_and(|s| matches(pair.0, s, exact, aliases)))
            {
                pair.1 = slot.take();
            }
        }
    }
    let (mut agree, mut notes) = (0, Vec::new());
    for (p, s) in &pairs {
        // uWSGI refuses to start when listen exceeds somaxconn: no socket is the right answer
        let refused = service == "uwsgi" && p.requested.is_some_and(|r| r > somaxconn as i64);
        match s {
            Some(s) if p.effective == Some(s.send_q) => agree += 1,
            Some(s) => notes.push(format!(
                "{}: qfix {:?} (requested {:?}), kernel Send-Q {}",
                p.address, p.effective, p.requested, s.send_q
            )),
            None if refused => agree += 1,
            None => notes.push(format!(
                "{}: predicted (effective {:?}), but nothing listens there",
                p.address, p.effective
            )),
        }
    }
    for s in left.into_iter().flatten() {
        notes.push(format!(
            "{} {} (Send-Q {}): listens, but qfix does not list it",
            if s.unix { "unix" } else { "tcp" },
            s.local,
            s.send_q
        ));
    }
    let total = pairs.len() + notes.iter().filter(|n| n.ends_with("list it")).count();
    (agree, total, notes)
}

/// A config to start the service from.
struct Config {
    name: &'static str,
    tree: Tree,
    aliases: &'static [(&'static str, &'static str)],
}

fn config(name: &'static str, tree: Tree) -> Config {
    Config {
        name,
        tree,
        aliases: &[],
    }
}

/// Run every config at every somaxconn; print the table; fail on any disagreement.
fn check(service: &str, configs: Vec<Config>) {
    let started = Instant::now();
    let mut rows = Vec::new();
    for c in &configs {
        for somaxconn in SOMAXCONNS {
            let predicted = predict(&c.tree, service, somaxconn);
            let (agree, total, notes) = match observe(service, &c.tree, somaxconn) {
                Ok(sockets) => compare(service, &predicted, &sockets, somaxconn, c.aliases),
                Err(e) => (0, predicted.len().max(1), vec![e]),
            };
            rows.push(Row {
                config: c.name.to_string(),
                somaxconn,
                agree,
                total,
                notes,
            });
        }
    }
    let mut table = format!(
        "{service}: listeners agreeing / total ({:.1} s)\n  {:<22} {:>9}  {:>7}\n",
        started.elapsed().as_secs_f64(),
        "config",
        "somaxconn",
        "agree"
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "  {:<22} {:>9}  {:>3}/{:<3}",
            r.config, r.somaxconn, r.agree, r.total
        );
        for n in &r.notes {
            let _ = writeln!(table, "      {n}");
        }
    }
    for somaxconn in SOMAXCONNS {
        let (agree, total) = rows
            .iter()
            .filter(|r| r.somaxconn == somaxconn)
            .fold((0, 0), |(a, t), r| (a + r.agree, t + r.total));
        let _ = writeln!(
            table,
            "  {:<22} {somaxconn:>9}  {agree:>3}/{total:<3}",
            "all configs"
        );
    }
    let (agree, total) = rows
        .iter()
        .fold((0, 0), |(a, t), r| (a + r.agree, t + r.total));
    let _ = writeln!(table, "  {:<22} {:>9}  {agree:>3}/{total:<3}", "all", "");
    eprint!("{table}");
    assert!(
        rows.iter()
            .all(|r| r.notes.is_empty() && r.agree == r.total),
        "qfix and the kernel disagree:\n{table}"
    );
}

#[test]
#[cfg_attr(missing_nginx, ignore = "nginx is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn nginx_backlogs_match_the_kernel() {
    if !require(&["nginx"]) {
        return;
    }
    let stock = || Tree::new().stock("/etc/nginx");
    let site = "/etc/nginx/sites-available/default";
    check(
        "nginx",
        vec![
            config("debian-stock", stock()),
            config(
                "upstream nginx.conf",
                stock().upstream("nginx.conf", "/etc/nginx/nginx.conf"),
            ),
            config(
                "edited",
                stock()
                    .edit(
                        site,
                        "listen 80 default_server;",
                        "listen 80 default_server backlog=1000;",
                    )
                    .edit(
                        site,
                        "listen [::]:80 default_server;",
                        "listen [::]:80 default_server backlog=64;",
                    )
                    .with(
                        "/etc/nginx/conf.d/more.conf",
                        "server {\n    listen 127.0.0.1:8080 backlog=300;\n    \
                         listen [::1]:8081;\n    listen unix:/run/nginx-app.sock backlog=50;\n}\n",
                    ),
            ),
        ],
    );
}

#[test]
#[cfg_attr(missing_php_fpm8_2, ignore = "php-fpm8.2 is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn php_fpm_backlogs_match_the_kernel() {
    if !require(&["php-fpm8.2"]) {
        return;
    }
    let stock = || Tree::new().stock("/etc/php");
    let pool = "/etc/php/8.2/fpm/pool.d";
    // RHEL's layout, which names no PHP version: the binary in the tree tells it
    let rhel = Tree::new()
        .with(
            "/etc/php-fpm.conf",
            "[global]\npid = /run/php-fpm/php-fpm.pid\nerror_log = /var/log/php-fpm/error.log\n\
             include=/etc/php-fpm.d/*.conf\n",
        )
        .with(
            "/etc/php-fpm.d/www.conf",
            "[www]\nuser = www-data\ngroup = www-data\nlisten = /run/php-fpm/www.sock\n\
             pm = dynamic\npm.max_children = 5\npm.start_servers = 2\n\
             pm.min_spare_servers = 1\npm.max_spare_servers = 3\n",
        );
    fs::create_dir_all(rhel.path("/usr/sbin")).unwrap();
    fs::copy("/usr/sbin/php-fpm8.2", rhel.path("/usr/sbin/php-fpm")).unwrap();
    check(
        "php-fpm",
        vec![
            config("debian-stock", stock()),
            config(
                "edited",
                stock()
                    .edit(
                        &format!("{pool}/www.conf"),
                        ";listen.backlog = 511",
                        "listen.backlog = 200",
                    )
                    .with(
                        &format!("{pool}/tcp.conf"),
                        "[tcp]\nuser = www-data\ngroup = www-data\nlisten = 127.0.0.1:9001\n\
                         pm = static\npm.max_children = 1\n",
                    )
                    .with(
                        &format!("{pool}/v6.conf"),
                        "[v6]\nuser = www-data\ngroup = www-data\nlisten = [::1]:9002\n\
                         listen.backlog = 1000\npm = ondemand\npm.max_children = 2\n",
                    )
                    .with(
                        &format!("{pool}/low.conf"),
                        "[low]\nuser = www-data\ngroup = www-data\nlisten = /run/php/low.sock\n\
                         listen.backlog = 10\npm = ondemand\npm.max_children = 2\n",
                    ),
            ),
            config("rhel-paths", rhel),
        ],
    );
}

#[test]
#[cfg_attr(missing_redis_server, ignore = "redis-server is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn redis_backlogs_match_the_kernel() {
    if !require(&["redis-server"]) {
        return;
    }
    let stock = || Tree::new().stock("/etc/redis");
    let conf = "/etc/redis/redis.conf";
    check(
        "redis",
        vec![
            config("debian-stock", stock()),
            config(
                "upstream redis.conf",
                Tree::new().upstream("redis.conf", conf),
            ),
            config(
                "edited",
                stock()
                    .edit(conf, "\ntcp-backlog 511\n", "\ntcp-backlog 1000\n")
                    .edit(conf, "\nport 6379\n", "\nport 6380\n")
                    .edit(conf, "\nbind 127.0.0.1 -::1\n", "\nbind 127.0.0.1 ::1\n")
                    .append(
                        conf,
                        "unixsocket /run/redis/redis-server.sock\nunixsocketperm 700\n",
                    ),
            ),
        ],
    );
}

#[test]
#[cfg_attr(missing_haproxy, ignore = "haproxy is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn haproxy_backlogs_match_the_kernel() {
    if !require(&["haproxy"]) {
        return;
    }
    let cfg = "/etc/haproxy/haproxy.cfg";
    let stock = || Tree::new().stock("/etc/haproxy");
    check(
        "haproxy",
        vec![
            // only the stats socket listens
            config("debian-stock", stock()),
            // one `listen` with no maxconn anywhere: sized from the fd limit
            config(
                "upstream quick-test",
                Tree::new().upstream("haproxy-quick-test.cfg", cfg),
            ),
            config(
                "edited",
                stock()
                    .edit(
                        cfg,
                        "\tstats timeout 30s\n",
                        "\tstats timeout 30s\n\tstats maxconn 5\n\
                         \tstats socket ipv4@127.0.0.1:9999 level admin backlog 20\n",
                    )
                    .append(
                        cfg,
                        "\nfrontend nomax\n\tbind :8080\n\tbind [::1]:8081\n\
                         \tbind unix@/run/haproxy/fe.sock\n\tdefault_backend be\n\
                         \nfrontend withmax\n\tmaxconn 300\n\tbind 127.0.0.1:8082\n\
                         \tbind 127.0.0.1:8083 backlog 50\n\tdefault_backend be\n\
                         \nbackend be\n\tserver s1 127.0.0.1:1\n",
                    ),
            ),
            // the maxconn HAProxy computes, from a limit the config gives: (2000 - 10 reserved
            // - 3 sockets - stats maxconn 10 - 3 for the thread) / 2 = 987, below 4096
            config(
                "edited fd-hard-limit",
                stock()
                    .edit(
                        cfg,
                        "\tdaemon\n",
                        "\tdaemon\n\tfd-hard-limit 2000\n\tnbthread 1\n",
                    )
                    .append(
                        cfg,
                        "\nfrontend f\n\tbind 127.0.0.1:8080,[::1]:8081\n\tdefault_backend be\n\
                         \nbackend be\n\tserver s1 127.0.0.1:1\n",
                    ),
            ),
        ],
    );
}

#[test]
#[cfg_attr(missing_apache2ctl, ignore = "apache2ctl is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn apache_backlogs_match_the_kernel() {
    if !require(&["apache2ctl", "apache2"]) {
        return;
    }
    let stock = || Tree::new().stock("/etc/apache2");
    check(
        "apache",
        vec![
            config("debian-stock", stock()),
            config(
                "edited",
                stock()
                    .edit(
                        "/etc/apache2/ports.conf",
                        "\nListen 80\n",
                        "\nListen 127.0.0.1:8080\nListen [::1]:8081\n",
                    )
                    .append("/etc/apache2/apache2.conf", "\nListenBacklog 200\n"),
            ),
        ],
    );
}

#[test]
#[cfg_attr(missing_mariadbd, ignore = "mariadbd is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn mariadb_backlogs_match_the_kernel() {
    if !require(&["mariadbd", "mariadb-install-db"]) {
        return;
    }
    let stock = || Tree::new().stock("/etc/mysql");
    let server = "/etc/mysql/mariadb.conf.d/50-server.cnf";
    check(
        "mysql",
        vec![
            config("debian-stock", stock()),
            config(
                "edited back_log",
                stock()
                    .edit(
                        server,
                        "bind-address            = 127.0.0.1",
                        "bind-address            = ::1\nport = 3307\nback_log = 300",
                    )
                    .edit(
                        "/etc/mysql/mariadb.cnf",
                        "socket = /run/mysqld/mysqld.sock",
                        "socket = /run/mysqld/other.sock",
                    ),
            ),
            config(
                "edited max_connections",
                stock().edit(
                    server,
                    "bind-address            = 127.0.0.1",
                    "bind-address            = 0.0.0.0\nmax_connections = 1000",
                ),
            ),
        ],
    );
}

#[test]
#[cfg_attr(missing_memcached, ignore = "memcached is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn memcached_backlogs_match_the_kernel() {
    if !require(&["memcached"]) {
        return;
    }
    let conf = "/etc/memcached.conf";
    let stock = || Tree::new().stock(conf);
    check(
        "memcached",
        vec![
            config("debian-stock", stock()),
            config(
                "edited v6",
                stock().edit(conf, "\n-l 127.0.0.1\n", "\n-l ::1\n").edit(
                    conf,
                    "\n-p 11211\n",
                    "\n-p 11212\n-b 300\n",
                ),
            ),
            config(
                "edited unix",
                stock().edit(conf, "\n-l 127.0.0.1\n", "\n").edit(
                    conf,
                    "\n-p 11211\n",
                    "\n-s /run/memcached/memcached.sock\n-a 0770\n-b 200\n",
                ),
            ),
        ],
    );
}

#[test]
#[cfg_attr(missing_uwsgi, ignore = "uwsgi is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn uwsgi_backlogs_match_the_kernel() {
    if !require(&["uwsgi"]) {
        return;
    }
    let apps = "/etc/uwsgi/apps-enabled";
    // the stock fixture's app, without the python3 plugin it names (not installed here)
    let stock = || {
        Tree::new()
            .stock("/etc/uwsgi")
            .edit(&format!("{apps}/app.ini"), "plugins = python3\n", "")
            .edit(
                &format!("{apps}/app.ini"),
                "module = app.wsgi:application\n",
                "",
            )
    };
    let edited = stock()
        .with(
            &format!("{apps}/site.ini"),
            "[uwsgi]\nchdir = /srv/site\nsocket = app.sock\nsocket = 127.0.0.1:3031\n\
             http-socket = [::1]:8080\nsocket = /run/uwsgi/app/site/socket\nlisten = 50\n",
        )
        .with(&format!("{apps}/bare.ini"), "[uwsgi]\nworkers = 1\n")
        // above somaxconn 128: uWSGI refuses to start this one
        .with(
            &format!("{apps}/big.ini"),
            "[uwsgi]\nsocket = /run/uwsgi/big.sock\nlisten = 1000\n",
        );
    // RHEL's: an emperor and its vassals, one with a socket relative to the vassals' directory
    let emperor = Tree::new()
        .with("/etc/uwsgi.ini", "[uwsgi]\nemperor = /etc/uwsgi.d\n")
        .with(
            "/etc/uwsgi.d/shop.ini",
            "[uwsgi]\nsocket = /run/uwsgi/shop.sock\nlisten = 64\n",
        )
        .with("/etc/uwsgi.d/rel.ini", "[uwsgi]\nsocket = rel.sock\n");
    check(
        "uwsgi",
        vec![
            config("debian-stock app", stock()),
            Config {
                name: "edited",
                tree: edited,
                aliases: &[("app.sock", "/srv/site/app.sock")],
            },
            Config {
                name: "emperor and vassals",
                tree: emperor,
                aliases: &[("rel.sock", "/etc/uwsgi.d/rel.sock")],
            },
        ],
    );
}
