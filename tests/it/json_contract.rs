//! One JSON contract: every JSON output carries `format_version` and validates against the
//! JSON Schema generated from qfix's types and shipped in schema/; under `--format json` a
//! failed command prints its errors as JSON too, never an empty stdout.

use crate::common::*;

use std::fs;
use std::path::Path;

fn shipped(name: &str) -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(format!("qfix-{name}.schema.json"));
    serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap()
}

fn validate(name: &str, what: &str, doc: &serde_json::Value) {
    let schema = shipped(name);
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{doc}");
    assert_eq!(doc["format_version"], 1, "{what}");
}

#[test]
fn the_shipped_schemas_are_the_ones_the_types_generate() {
    let d = tempfile::tempdir().unwrap();
    let r = qfix(
        &fixture("sysctl-debian"),
        &["schema", "--dir", d.path().to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{r}");
    for e in fs::read_dir(d.path()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let ours = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(&name);
        assert_eq!(
            fs::read_to_string(e.path()).unwrap(),
            fs::read_to_string(&ours).unwrap_or_default(),
            "schema/{}: regenerate with `qfix schema --dir schema`",
            name.to_string_lossy()
        );
    }
}

#[test]
fn every_json_output_of_every_fixture_follows_its_schema() {
    let mut checked = 0;
    for name in fixture_names() {
        let root = fixture(&name);
        for (schema, args) in [
            ("plan", &["plan", "--format", "json"][..]),
            ("listeners", &["listeners", "--format", "json"]),
            ("blame", &["blame", "--format", "json"]),
            ("rules", &["rules", "--format", "json"]),
        ] {
            let r = qfix(&root, args);
            assert!(
                !r.stdout.trim().is_empty(),
                "{name} {args:?}: empty stdout\n{r}"
            );
            let doc = r.json();
            // a failed command prints its errors instead
            let schema = if r.code == 1
                && doc.get("errors").is_some()
                && doc.as_object().unwrap().len() == 2
            {
                "errors"
            } else {
                schema
            };
            validate(schema, &format!("{name} {args:?}"), &doc);
            checked += 1;
        }
        if root.join("proc/sys").is_dir() {
            let r = qfix(&root, &["snapshot"]);
            validate("snapshot", &format!("{name} snapshot"), &r.json());
        }
    }
    assert!(checked > 150, "{checked}");
}

#[test]
fn a_bad_policy_under_format_json_prints_its_errors_as_json() {
    let d = copy_fixture("policy-bad");
    for cmd in ["plan", "listeners", "blame"] {
        let r = qfix(d.path(), &[cmd, "--format", "json"]);
        assert_eq!(r.code, 1, "{r}");
        let v = r.json();
        validate("errors", cmd, &v);
        let e = &v["errors"][0];
        assert_eq!(e["path"], "/etc/qfix/policy.toml", "{v}");
        assert_eq!(e["line"], 2, "{v}");
        assert!(e["message"].as_str().unwrap().contains("min"), "{v}");
    }
}

#[test]
fn a_bad_sysctl_line_under_format_json_names_why_it_exits_1() {
    let r = qfix(&fixture("sysctl-bad"), &["plan", "--format", "json"]);
    assert_eq!(r.code, 1, "{r}");
    let v = r.json();
    let errors = v["errors"].as_array().unwrap();
    // each unparsable line is an error at its own path and line
    assert!(
        errors
            .iter()
            .any(|e| e["path"] == "/etc/sysctl.d/10-web.conf"
                && e["line"].as_u64().is_some()
                && e["message"].as_str().unwrap().contains("fix it first")),
        "{v}"
    );
}

#[test]
fn apply_under_format_json_reports_unparsable_input_as_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("sysctl-bad"), dir.path());
    let r = qfix(dir.path(), &["apply", "--yes", "--format", "json"]);
    assert_eq!(r.code, 1, "{r}");
    let v = r.json();
    validate("errors", "apply", &v);
    assert!(
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "/etc/sysctl.d/10-web.conf"),
        "{v}"
    );
}

#[test]
fn a_missing_root_under_format_json_is_a_json_error() {
    let r = qfix(
        Path::new("/nonexistent/qfix-root"),
        &["plan", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    let v = r.json();
    validate("errors", "missing root", &v);
    assert!(
        v["errors"][0]["path"].as_str().unwrap().contains("--root"),
        "{v}"
    );
}

#[test]
fn a_bad_argument_under_format_json_is_a_json_error() {
    for args in [
        &["plan", "--format", "json", "--set", "net.core.somaxconn=-5"][..],
        &["plan", "--format=json", "--sample", "NaN"][..],
    ] {
        let r = qfix(&fixture("debian-stock"), args);
        assert_eq!(r.code, 1, "{r}");
        let v = r.json();
        validate("errors", "plan", &v);
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid value"),
            "{v}"
        );
    }
}

#[test]
fn rollback_json_names_each_file_and_value_it_put_back() {
    let d = copy_fixture("debian-stock");
    let a = qfix(d.path(), &["apply", "--yes", "--unsafe-fixes"]);
    assert_eq!(a.code, 0, "{a}");
    let r = qfix(d.path(), &["rollback", "--yes", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    validate("apply", "rollback", &v);
    let applied = v["applied"].as_array().unwrap();
    let kind = |k: &str| applied.iter().filter(|x| x["kind"] == k).count();
    // the edited configs: restored from their backups; somaxconn: its live value back
    assert!(kind("restored") >= 1, "{v:#}");
    assert!(
        applied
            .iter()
            .any(|x| x["kind"] == "sysctl" && x["key"] == "net.core.somaxconn"),
        "{v:#}"
    );
    assert!(
        applied
            .iter()
            .filter(|x| x["kind"] == "restored")
            .all(|x| x["from"]
                .as_str()
                .unwrap()
                .starts_with("/var/lib/qfix/backups/")),
        "{v:#}"
    );
    // a file the apply created is removed
    let d = copy_fixture("sysctl-vendor");
    let a = qfix(d.path(), &["apply", "--yes"]);
    assert_eq!(a.code, 0, "{a}");
    let r = qfix(d.path(), &["rollback", "--yes", "--format", "json"]);
    let v = r.json();
    validate("apply", "rollback", &v);
    assert!(
        v["applied"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "removed" && x["path"] == "/etc/sysctl.d/99-qfix.conf"),
        "{v:#}"
    );
}
