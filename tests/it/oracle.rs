//! Qfix's boot resolver against the real /lib/systemd/systemd-sysctl, run by
//! tests/oracle/systemd-sysctl.sh in a private network and mount namespace (net.* keys
//! only, so the host is never touched). Layouts are generated: named cases for masking,
//! same names in several directories and the 99-sysctl.conf link, plus seeded random ones.

use crate::common::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const ORACLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/oracle/systemd-sysctl.sh"
);

/// Keys compared; `lo` keys are left out because the kernel copies conf.default writes to
/// interfaces never written (see tests/oracle/SEMANTICS.md).
const KEYS: [&str; 7] = [
    "net.core.somaxconn",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.conf.all.log_martians",
    "net.ipv4.conf.default.log_martians",
];

fn oracle(layout: &Path) -> Option<BTreeMap<String, String>> {
    let o = Command::new(ORACLE)
        .arg(layout)
        .args(KEYS)
        .output()
        .unwrap();
    match o.status.code() {
        Some(0) => {}
        Some(4) => {
            skip(&format!(
                "oracle cannot make a private namespace here: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
            return None;
        }
        c => panic!(
            "oracle failed ({c:?}): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
    Some(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Compare qfix's boot values with systemd-sysctl's result on one layout.
fn check(layout: &Path, defaults: &BTreeMap<String, String>, what: &str) -> bool {
    let Some(truth) = oracle(layout) else {
        return false;
    };
    // qfix needs the keys to exist to expand globs: give it a /proc/sys with them
    let live: Vec<(&str, &str)> = KEYS.iter().map(|k| (*k, defaults[*k].as_str())).collect();
    proc_sys(layout, &live);
    let r = qfix(layout, &["blame", "--format", "json"]);
    let mut args = vec!["blame", "--format", "json"];
    args.extend(KEYS);
    let r2 = qfix(layout, &args);
    assert!(r.code == 0 || r.code == 1, "{r}");
    let v = r2.json();
    for k in v["keys"].as_array().unwrap() {
        let key = k["key"].as_str().unwrap();
        let expected = &truth[key];
        let got = match k["boot"].as_str() {
            Some(b) => b.split_whitespace().collect::<Vec<_>>().join(" "),
            None => defaults[key].clone(),
        };
        assert_eq!(
            &got,
            expected,
            "{what}: {key}: qfix says {got} ({}), systemd-sysctl gives {expected}\nlayout: {}",
            k["source"],
            describe(layout)
        );
    }
    std::fs::remove_dir_all(layout.join("proc")).unwrap();
    true
}

fn describe(root: &Path) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -path ./proc -prune -o \\( -type f -o -type l \\) -print | sort | while read f; do if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; else echo \"$f:\"; sed 's/^/    /' \"$f\"; fi; done")
        .arg("sh")
        .arg(root)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn defaults() -> Option<BTreeMap<String, String>> {
    let empty = tempfile::tempdir().unwrap();
    oracle(empty.path())
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn resolver_matches_systemd_sysctl_on_named_layouts() {
    if !can_unshare() {
        skip("no private namespaces here");
        return;
    }
    let Some(defaults) = defaults() else { return };
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "mask with /dev/null",
            vec![
                (
                    "/usr/lib/sysctl.d/50-a.conf",
                    "net.core.somaxconn = 1111\nnet.ipv4.tcp_fin_timeout = 33\n",
                ),
                ("/etc/sysctl.d/50-a.conf", "-> /dev/null"),
            ],
        ),
        (
            "mask with an empty file in /run",
            vec![
                ("/usr/lib/sysctl.d/50-a.conf", "net.core.somaxconn = 1111\n"),
                ("/run/sysctl.d/50-a.conf", ""),
            ],
        ),
        (
            "same names in several directories",
            vec![
                (
                    "/usr/lib/sysctl.d/50-a.conf",
                    "net.core.somaxconn = 1111\nnet.ipv4.tcp_fin_timeout = 21\n",
                ),
                (
                    "/usr/local/lib/sysctl.d/50-a.conf",
                    "net.core.somaxconn = 2222\n",
                ),
                (
                    "/run/sysctl.d/60-b.conf",
                    "net.ipv4.tcp_keepalive_time = 555\n",
                ),
                (
                    "/usr/lib/sysctl.d/60-b.conf",
                    "net.ipv4.tcp_keepalive_time = 444\n",
                ),
                (
                    "/etc/sysctl.d/10-x.conf",
                    "net.ipv4.tcp_keepalive_time = 333\n",
                ),
            ],
        ),
        (
            "99-sysctl.conf link loses to nothing, beats 60-web",
            vec![
                (
                    "/etc/sysctl.conf",
                    "# stock comment\nnet.core.somaxconn = 128\n",
                ),
                ("/etc/sysctl.d/99-sysctl.conf", "-> ../sysctl.conf"),
                ("/etc/sysctl.d/60-web.conf", "net.core.somaxconn = 4096\n"),
                ("/etc/sysctl.d/99-qfix.conf", "net.core.somaxconn = 8192\n"),
            ],
        ),
        (
            "no link: sysctl.conf unread",
            vec![
                ("/etc/sysctl.conf", "net.core.somaxconn = 128\n"),
                ("/etc/sysctl.d/10-x.conf", "net.ipv4.tcp_fin_timeout = 22\n"),
            ],
        ),
        (
            "vendor file sorts after /etc file",
            vec![
                ("/etc/sysctl.d/10-etc.conf", "net.core.somaxconn = 1111\n"),
                (
                    "/usr/lib/sysctl.d/90-vendor.conf",
                    "net.core.somaxconn = 9999\n",
                ),
            ],
        ),
        (
            "explicit beats glob, globs in map order, exclusion",
            vec![
                (
                    "/etc/sysctl.d/10-a.conf",
                    "net.ipv4.conf.[ad]*.log_martians = 1\n",
                ),
                (
                    "/etc/sysctl.d/20-b.conf",
                    "net.ipv4.conf.all.log_martians = 0\n",
                ),
                (
                    "/etc/sysctl.d/30-c.conf",
                    "net/ipv4/tcp_fin_timeout = 41\n  -  net.ipv4.tcp_keepalive_time = 901  \n",
                ),
            ],
        ),
        (
            "re-assigning the same value keeps its place",
            vec![
                (
                    "/etc/sysctl.d/10-a.conf",
                    "net.ipv4.conf.[ad]*.log_martians = 1\n",
                ),
                (
                    "/etc/sysctl.d/20-b.conf",
                    "net.ipv4.conf.d*.log_martians = 0\n",
                ),
                (
                    "/etc/sysctl.d/30-c.conf",
                    "net.ipv4.conf.[ad]*.log_martians = 1\n",
                ),
            ],
        ),
        (
            "exclusion cancels an earlier value",
            vec![
                (
                    "/etc/sysctl.d/10-a.conf",
                    "net.core.somaxconn = 1234\nnet.ipv4.tcp_fin_timeout = 22\n",
                ),
                ("/etc/sysctl.d/20-b.conf", "-net.core.somaxconn\n"),
            ],
        ),
        (
            "multi-number value and comments",
            vec![(
                "/etc/sysctl.d/10-a.conf",
                "; comment\n# comment\n\tnet.ipv4.ip_local_port_range = 10000\t   20000\n",
            )],
        ),
    ];
    for (what, files) in cases {
        let d = tree(&files);
        if !check(d.path(), &defaults, what) {
            return;
        }
    }
}

/// A tiny deterministic generator (no rand dependency): xorshift.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn random_line(rng: &mut Rng) -> String {
    let (key, values): (&str, &[&str]) = match rng.below(7) {
        0 => ("net.core.somaxconn", &["1024", "4096", "8192"]),
        1 => ("net.ipv4.tcp_fin_timeout", &["15", "30", "60"]),
        2 => ("net/ipv4/tcp_keepalive_time", &["600", "7200", "900"]),
        3 => ("net.ipv4.tcp_max_syn_backlog", &["512", "2048", "8192"]),
        4 => (
            "net.ipv4.ip_local_port_range",
            &["1024 65000", "32768\t60999", "10000 20000"],
        ),
        5 => ("net.ipv4.conf.[ad]*.log_martians", &["0", "1"]),
        _ => ("net.ipv4.conf.all.log_martians", &["0", "1"]),
    };
    let v = rng.pick(values);
    match rng.below(12) {
        0 => format!("-{key} = {v}"),
        1 => "# a comment".to_string(),
        2 if key.contains("all") => format!("-{key}"),
        _ => format!("{key} = {v}"),
    }
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn resolver_matches_systemd_sysctl_on_random_layouts() {
    if !can_unshare() {
        skip("no private namespaces here");
        return;
    }
    let Some(defaults) = defaults() else { return };
    const DIRS: [&str; 4] = [
        "/etc/sysctl.d",
        "/run/sysctl.d",
        "/usr/local/lib/sysctl.d",
        "/usr/lib/sysctl.d",
    ];
    const NAMES: [&str; 5] = [
        "10-a.conf",
        "50-b.conf",
        "60-c.conf",
        "90-d.conf",
        "99-zz.conf",
    ];
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut files: Vec<(String, String)> = Vec::new();
        for dir in DIRS {
            for name in NAMES {
                if rng.below(3) != 0 {
                    continue;
                }
                let path = format!("{dir}/{name}");
                let content = match rng.below(10) {
                    0 if dir != "/usr/lib/sysctl.d" => "-> /dev/null".to_string(),
                    1 => String::new(),
                    _ => (0..1 + rng.below(4))
                        .map(|_| random_line(&mut rng) + "\n")
                        .collect(),
                };
                files.push((path, content));
            }
        }
        let conf: String = (0..1 + rng.below(3))
            .map(|_| random_line(&mut rng) + "\n")
            .collect();
        files.push(("/etc/sysctl.conf".into(), conf));
        if rng.below(4) != 0 {
            files.push((
                "/etc/sysctl.d/99-sysctl.conf".into(),
                "-> ../sysctl.conf".into(),
            ));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let d = tree(&refs);
        if !check(d.path(), &defaults, &format!("seed {seed}")) {
            return;
        }
    }
}
