//! Waivers: `[[accept]]` in the policy accepts a finding on purpose, with a reason.

use crate::common::*;

use std::fs;

const APP: &str = r#"[[accept]]
rule = "QF103"
path = "/etc/systemd/system/app.socket"
reason = "the app handles its own queueing"
"#;

/// fixtures/waivers with only the given policy.
fn with_policy(policy: &str) -> tempfile::TempDir {
    let d = copy_fixture("waivers");
    fs::write(d.path().join("etc/qfix/policy.toml"), policy).unwrap();
    // Redis asks for enough here: only the socket unit's 256 is left
    fs::write(
        d.path().join("etc/redis/redis.conf"),
        "bind 127.0.0.1\nport 6379\ntcp-backlog 511\n",
    )
    .unwrap();
    d
}

#[test]
fn an_accepted_finding_is_shown_with_its_reason_and_proposes_nothing() {
    let d = with_policy(APP);
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "QF103", "{v}");
    assert_eq!(f["listener"], "systemd app.socket");
    assert_eq!(
        f["accepted"],
        serde_json::json!({"reason": "the app handles its own queueing"})
    );
    assert_eq!(v["changes"], serde_json::json!([]));
    let text = qfix(d.path(), &["plan"]);
    assert_eq!(text.code, 0, "{text}");
    assert!(
        text.stdout
            .contains("accepted: the app handles its own queueing"),
        "{text}"
    );
}

#[test]
fn without_the_waiver_the_same_finding_proposes_its_fix() {
    let d = with_policy("");
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    assert!(v["findings"][0].get("accepted").is_none(), "{v}");
    assert_eq!(v["changes"][0]["path"], "/etc/systemd/system/app.socket");
}

#[test]
fn a_waiver_matches_by_rule_name_and_listener_too() {
    let d = with_policy(
        "[[accept]]\nrule = \"effective-backlog-too-small\"\nlistener = \"systemd app.socket\"\nreason = \"own queue\"\n",
    );
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["findings"][0]["accepted"]["reason"], "own queue");
}

#[test]
fn an_expired_waiver_is_a_finding_and_its_fix_is_proposed_again() {
    let d = with_policy(&format!("{APP}until = 2020-01-31\n"));
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["QF103", "QF008"], "{v}");
    assert!(
        v["findings"][1]["message"]
            .as_str()
            .unwrap()
            .contains("expired on 2020-01-31")
    );
    assert_eq!(v["findings"][1]["locations"][0]["line"], 1);
}

#[test]
fn a_waiver_that_matches_nothing_is_a_finding() {
    let d = with_policy(&format!(
        "{APP}\n[[accept]]\nrule = \"QF101\"\nkey = \"net.core.somaxconn\"\nreason = \"old\"\n"
    ));
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    let stale = &v["findings"][1];
    assert_eq!(stale["rule"], "QF008", "{v}");
    assert!(
        stale["message"]
            .as_str()
            .unwrap()
            .contains("matches no finding")
    );
    assert_eq!(stale["locations"][0]["line"], 6);
}

#[test]
fn a_waiver_naming_no_rule_is_an_error_finding_and_the_plan_exits_2() {
    let d = with_policy(&format!(
        "{APP}\n[[accept]]\nrule = \"QF999\"\nreason = \"typo\"\n"
    ));
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    let typo: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "QF008" && f["severity"] == "error")
        .collect();
    assert_eq!(typo.len(), 1, "{v}");
    assert!(
        typo[0]["message"]
            .as_str()
            .unwrap()
            .contains("QF999, which is no rule qfix knows"),
        "{v}"
    );
    assert_eq!(typo[0]["locations"][0]["line"], 6);
}

#[test]
fn a_waiver_without_a_reason_is_a_policy_error_at_its_line() {
    let d = with_policy("# site waivers\n\n[[accept]]\nrule = \"QF103\"\n");
    let r = qfix(d.path(), &["plan"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("/etc/qfix/policy.toml:3: [[accept]]: a waiver needs a reason"),
        "{r}"
    );
    let d = with_policy("[[accept]]\nrule = \"QF103\"\nreason = \"x\"\nuntil = \"soon\"\n");
    let r = qfix(d.path(), &["plan"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("policy.toml:1: [[accept]]: until \"soon\""),
        "{r}"
    );
}

#[test]
fn a_second_waiver_of_the_same_finding_is_not_called_unmatched() {
    let d = with_policy(&format!("{APP}\n{APP}"));
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "QF008"),
        "{v}"
    );
}
