//! Plans that are minimal and order-independent, checked on every fixture and on generated
//! hosts: applying everything at once ends where applying the safe changes, then the rest,
//! ends; the rest never shrinks a queue the safe changes alone give; every change is needed
//! (drop any one and the next plan still has something to fix); a second plan is empty.

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file of a tree with its contents, qfix's own state (backups, lock) left out.
fn contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if rel.starts_with("var/lib/qfix") || rel.starts_with("run") {
                continue;
            }
            let t = e.file_type().unwrap();
            if t.is_dir() {
                dirs.push(p);
            } else if t.is_file() {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// (service instance address) -> (effective live, effective boot).
fn queues(root: &Path) -> BTreeMap<String, (Option<i64>, Option<i64>)> {
    let v = qfix(root, &["listeners", "--format", "json"]).json();
    v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                format!("{} {} {}", l["service"], l["instance"], l["address"]),
                (l["effective_live"].as_i64(), l["effective_boot"].as_i64()),
            )
        })
        .collect()
}

fn apply(root: &Path, args: &[&str]) {
    let mut all = vec!["apply", "--yes"];
    all.extend(args);
    let r = qfix(root, &all);
    assert_eq!(r.code, 0, "{r}");
}

fn changes(root: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["plan", "--format", "json"];
    args.extend(extra);
    let r = qfix(root, &args);
    assert_ne!(r.code, 1, "{r}");
    r.json()["changes"].as_array().unwrap().clone()
}

/// The findings of a plan that are not accepted, each by what it is about and where.
fn open_findings(root: &Path, extra: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["plan", "--format", "json"];
    args.extend(extra);
    let v = qfix(root, &args).json();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["accepted"].is_null())
        .map(|f| {
            format!(
                "{} {} {} {}",
                f["rule"], f["listener"], f["key"], f["locations"]
            )
        })
        .collect()
}

/// The three properties on one host tree; returns how many changes were dropped and checked.
fn check(name: &str, src: &Path, strategy: &[&str]) -> usize {
    let plan = changes(src, strategy);
    if plan.is_empty() {
        return 0;
    }
    let once = tempfile::tempdir().unwrap();
    copy_tree(src, once.path());
    let mut all = strategy.to_vec();
    all.push("--unsafe-fixes");
    apply(once.path(), &all);
    let left = open_findings(once.path(), strategy);

    let twice = tempfile::tempdir().unwrap();
    copy_tree(src, twice.path());
    apply(twice.path(), strategy);
    let safe_only = queues(twice.path());
    apply(twice.path(), &all);

    assert_eq!(
        contents(once.path()),
        contents(twice.path()),
        "{name} {strategy:?}: all at once differs from safe, then the rest"
    );
    assert!(
        changes(once.path(), strategy).is_empty(),
        "{name} {strategy:?}: a second plan still proposes changes"
    );
    for (l, (live, boot)) in queues(once.path()) {
        let (s_live, s_boot) = safe_only[&l];
        assert!(
            live >= s_live && boot >= s_boot,
            "{name} {strategy:?}: {l} ends with {live:?}/{boot:?}, the safe changes alone give {s_live:?}/{s_boot:?}"
        );
    }

    // every change is needed: a saved plan without it leaves something to fix
    let saved = tempfile::tempdir().unwrap();
    let planfile = saved.path().join("plan.json");
    let mut args = vec!["plan", "--out", planfile.to_str().unwrap()];
    args.extend(strategy);
    qfix(src, &args);
    let full: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&planfile).unwrap()).unwrap();
    let n = full["plan"]["changes"].as_array().unwrap().len();
    for i in 0..n {
        let without = tempfile::tempdir().unwrap();
        copy_tree(src, without.path());
        let mut pf = full.clone();
        let dropped = pf["plan"]["changes"].as_array_mut().unwrap().remove(i);
        let path = saved.path().join(format!("without-{i}.json"));
        fs::write(&path, pf.to_string()).unwrap();
        if n > 1 {
            let r = qfix(
                without.path(),
                &["apply", path.to_str().unwrap(), "--yes", "--unsafe-fixes"],
            );
            assert_eq!(r.code, 0, "{r}");
        }
        let unresolved = open_findings(without.path(), strategy)
            .difference(&left)
            .count();
        assert!(
            !changes(without.path(), strategy).is_empty() || unresolved > 0,
            "{name} {strategy:?}: the plan holds a change nothing needs: {dropped}"
        );
    }
    n
}

#[test]
fn plans_are_minimal_and_order_independent_on_every_fixture() {
    let mut checked = 0;
    for name in fixture_names() {
        let root = fixture(&name);
        let r = qfix(&root, &["plan"]);
        if r.code != 2 {
            continue; // nothing to change, or input qfix refuses to act on
        }
        checked += check(&name, &root, &[]);
        checked += check(&name, &root, &["--strategy", "lower-backlog"]);
    }
    assert!(checked >= 20, "only {checked} changes checked");
    eprintln!("{checked} changes checked, each dropped once");
}

/// A generated host the services' own checkers accept (they run on every edit): nginx -t and
/// haproxy -c refuse its listeners (addresses this machine does not have, certificates the
/// tree lacks), so those two go; its php-fpm pools (run as www-data: php-fpm -t wants their
/// users to exist), Redis and sysctl files stay.
fn checkable(root: &Path) {
    fs::remove_dir_all(root.join("etc/nginx")).unwrap();
    fs::remove_dir_all(root.join("etc/haproxy")).unwrap();
    let pools = root.join("etc/php/8.2/fpm/pool.d");
    for e in fs::read_dir(&pools).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        let users: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("user = ") || l.starts_with("group = ") {
                    format!("{} = www-data", l.split(' ').next().unwrap())
                } else {
                    l.to_string()
                }
            })
            .collect();
        fs::write(&p, users.join("\n") + "\n").unwrap();
    }
}

#[test]
fn plans_are_minimal_and_order_independent_on_generated_hosts() {
    if !require("python3", "generates the hosts (bench/gen.py)") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen.py");
    for scale in ["0.02", "0.05"] {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("host");
        let st = Command::new("python3")
            .arg(&script)
            .arg(scale)
            .arg(&root)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        checkable(&root);
        check(&format!("busy {scale}"), &root, &[]);
        check(
            &format!("busy {scale}"),
            &root,
            &["--strategy", "lower-backlog"],
        );
    }
}

#[test]
fn lower_backlog_converges_and_accepts_what_only_a_somaxconn_raise_fixes() {
    let d = copy_fixture("listeners-container");
    let r = qfix(
        d.path(),
        &["plan", "--strategy", "lower-backlog", "--format", "json"],
    );
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    // lowering never raises a backlog, nor somaxconn
    for c in v["changes"].as_array().unwrap() {
        if c["kind"] == "sysctl" {
            assert_ne!(c["key"], "net.core.somaxconn", "{c}");
        }
    }
    // a lowered backlog leaves the running queue as it was: only the uWSGI that refused to
    // start is (re)started
    let units: Vec<&str> = v["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unit"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["uwsgi"], "{v}");
    apply(d.path(), &["--strategy", "lower-backlog", "--unsafe-fixes"]);
    let r = qfix(
        d.path(),
        &["plan", "--strategy", "lower-backlog", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    let open: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["accepted"].is_null())
        .collect();
    assert!(open.is_empty(), "findings left open: {open:?}");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["accepted"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("lower-backlog"))),
        "{v}"
    );
}

/// A small deterministic generator (xorshift): the same seeds give the same policies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// A random policy: somaxconn bounds (sometimes contradictory), a minimum backlog, and exact
/// or bounded wants for a few keys.
fn random_policy(rng: &mut Rng) -> String {
    let sizes = [64, 128, 511, 1024, 4096, 8192, 65535];
    let mut p = String::from("[listeners]\n");
    p += &format!("min_backlog = {}\n", rng.pick(&[100, 511, 1024, 2048]));
    if rng.next() % 2 == 0 {
        p += &format!("min_somaxconn = {}\n", rng.pick(&sizes));
    }
    if rng.next() % 2 == 0 {
        p += &format!("max_somaxconn = {}\n", rng.pick(&sizes));
    }
    p += "[sysctl]\n";
    match rng.next() % 4 {
        0 => {
            p += &format!(
                "\"net.core.somaxconn\" = {{ max = {} }}\n",
                rng.pick(&sizes)
            )
        }
        1 => {
            p += &format!(
                "\"net.core.somaxconn\" = {{ min = {} }}\n",
                rng.pick(&sizes)
            )
        }
        2 => {
            p += &format!(
                "\"net.core.somaxconn\" = {{ value = {} }}\n",
                rng.pick(&sizes)
            )
        }
        _ => {}
    }
    if rng.next() % 2 == 0 {
        p += &format!(
            "\"net.ipv4.tcp_max_syn_backlog\" = {{ min = {} }}\n",
            rng.pick(&sizes)
        );
    }
    p
}

/// For random policies on the fixtures with live values: a policy qfix accepts gives a plan
/// that never breaks its own bounds, and applying it leaves nothing for a second plan (an
/// apply that settles, never oscillating between bounds).
#[test]
fn applying_a_plan_settles_for_random_policies() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hosts = [
        "debian-stock",
        "listeners-container",
        "sysctl-debian",
        "policy-mismatch",
    ];
    let (mut settled, mut refused) = (0, 0);
    for round in 0..40 {
        let host = rng.pick(&hosts);
        let d = copy_fixture(host);
        let policy = d.path().join("random-policy.toml");
        let text = random_policy(&mut rng);
        fs::write(&policy, &text).unwrap();
        let p = policy.to_str().unwrap();
        let first = qfix(d.path(), &["plan", "--policy", p, "--format", "json"]);
        if first.code == 1 {
            // a contradictory policy is an error at its line, and nothing is planned
            let e = &first.json()["errors"][0];
            assert!(
                e["line"].as_u64().is_some(),
                "round {round}: {text}\n{first}"
            );
            refused += 1;
            continue;
        }
        // the policy's cap on somaxconn, from [listeners] or [sysctl] (max or value)
        let max = text
            .lines()
            .filter_map(|l| {
                let v = l
                    .strip_prefix("max_somaxconn = ")
                    .or_else(|| l.strip_prefix("\"net.core.somaxconn\" = { max = "))
                    .or_else(|| l.strip_prefix("\"net.core.somaxconn\" = { value = "))?;
                v.trim_end_matches(" }").parse::<i64>().ok()
            })
            .min();
        for c in first.json()["changes"].as_array().unwrap() {
            if c["key"] == "net.core.somaxconn" {
                let to: i64 = c["to"].as_str().unwrap().parse().unwrap();
                assert!(
                    max.is_none_or(|m| to <= m),
                    "round {round}: somaxconn {to} above the policy's maximum\n{text}"
                );
            }
            // no backlog is raised above what somaxconn may be: the kernel would cap it,
            // and uWSGI refuses to start
            let backlog = c["reason"]
                .as_str()
                .and_then(|r| r.rsplit_once(" backlog "))
                .and_then(|(_, n)| n.parse::<i64>().ok());
            if let (Some(b), Some(m)) = (backlog, max) {
                assert!(
                    b <= m,
                    "round {round} on {host}: {} above the policy's maximum somaxconn {m}\n{text}",
                    c["reason"]
                );
            }
        }
        let a = qfix(
            d.path(),
            &["apply", "--yes", "--unsafe-fixes", "--policy", p],
        );
        assert_eq!(a.code, 0, "round {round} on {host}: {text}\n{a}");
        let second = qfix(d.path(), &["plan", "--policy", p, "--format", "json"]);
        // uWSGI refusing to start (listen above somaxconn): never caused by the apply
        let refusals = |run: &Run| -> Vec<String> {
            run.json()["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["rule"] == "QF102")
                .map(|f| f["listener"].to_string())
                .collect()
        };
        let (before, after) = (refusals(&first), refusals(&second));
        assert!(
            after.iter().all(|l| before.contains(l)),
            "round {round} on {host}: the apply left uWSGI unable to start\n{text}\n{second}"
        );
        assert_eq!(
            second.json()["changes"],
            serde_json::json!([]),
            "round {round} on {host}: a second plan still changes\n{text}\n{second}"
        );
        let again = qfix(
            d.path(),
            &["apply", "--yes", "--unsafe-fixes", "--policy", p],
        );
        assert_eq!(again.code, 0, "{again}");
        assert!(
            again.stdout.contains("nothing changed") || again.stdout.is_empty(),
            "{again}"
        );
        settled += 1;
    }
    assert!(
        settled >= 20 && refused >= 1,
        "settled {settled}, refused {refused}"
    );
}
