//! Test helpers shared by the service modules' tests: scan a fixture root, copy it to a
//! tempdir, apply listeners' setters, rescan.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::edit::{Edit, apply};
use crate::host::Host;
use crate::root::Root;
use crate::services::{Listener, Scan, Source};

pub type ScanFn = fn(&Host, &mut Scan);

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

pub fn scan_dir(dir: &Path, f: ScanFn) -> Scan {
    let host = Host::new(Root::new(dir).unwrap());
    let mut s = Scan::default();
    f(&host, &mut s);
    s
}

pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// (instance, address, requested, source line or 0 for a default).
pub type Row = (String, String, Option<i64>, usize);

pub fn summary(s: &Scan) -> Vec<Row> {
    s.listeners
        .iter()
        .map(|l| {
            let line = match &l.source {
                Source::At(loc) => loc.line,
                Source::Default(_) => 0,
            };
            (l.instance.clone(), l.address.clone(), l.requested, line)
        })
        .collect()
}

pub fn row(i: &str, a: &str, r: Option<i64>, line: usize) -> Row {
    (i.into(), a.into(), r, line)
}

/// (path, line, message) of every problem.
pub fn problems(s: &Scan) -> Vec<(String, usize, String)> {
    s.problems
        .iter()
        .map(|p| {
            (
                p.location.path.to_string(),
                p.location.line,
                p.message.clone(),
            )
        })
        .collect()
}

/// Apply every listener's setter with `value` to the tree in `dir` (identical edits, as
/// several sockets sharing one directive produce, are applied once, like the planner does).
pub fn apply_setters(dir: &Path, s: &Scan, value: &str) {
    let mut by_file: HashMap<String, Vec<Edit>> = HashMap::new();
    for l in &s.listeners {
        let st = l.setter.as_ref().unwrap();
        let e = Edit::replace(st.range.clone(), st.template.replace("{}", value));
        let edits = by_file.entry(st.path.to_string()).or_default();
        if !edits.contains(&e) {
            edits.push(e);
        }
    }
    for (path, edits) in by_file {
        let host = dir.join(path.trim_start_matches('/'));
        let text = fs::read_to_string(&host).unwrap();
        fs::write(&host, apply(&text, &edits)).unwrap();
    }
}

/// Copy a fixture, set every listener's backlog to 4096, rescan.
pub fn edit_all(name: &str, f: ScanFn) -> (tempfile::TempDir, Scan) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(name), dir.path());
    let before = scan_dir(dir.path(), f);
    apply_setters(dir.path(), &before, "4096");
    let after = scan_dir(dir.path(), f);
    (dir, after)
}

pub fn read(dir: &Path, path: &str) -> String {
    fs::read_to_string(dir.join(path.trim_start_matches('/'))).unwrap()
}

pub fn host(name: &str) -> Host {
    Host::new(Root::new(&fixture(name)).unwrap())
}

pub fn run(h: &Host, f: ScanFn) -> Scan {
    let mut s = Scan::default();
    f(h, &mut s);
    s
}

/// (path, line) of a source, or (the default's reason, 0).
pub fn source(s: &Source) -> (String, usize) {
    match s {
        Source::At(l) => (l.path.to_string(), l.line),
        Source::Default(d) => (d.to_string(), 0),
    }
}

/// The text of the listener's file after its setter writes `v`: (path, new text).
pub fn set(h: &Host, l: &Listener, v: &str) -> (String, String) {
    let st = l.setter.as_ref().unwrap();
    let old = h.read(&st.path).unwrap().unwrap();
    let new = apply(
        &old,
        &[Edit::replace(
            st.range.clone(),
            st.template.replace("{}", v),
        )],
    );
    (st.path.to_string(), new)
}
