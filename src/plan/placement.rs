//! Where a persisted value goes: the place boot reads last for its key, computed from the
//! resolution (never assumed: `99-qfix.conf` sorts before `99-sysctl.conf`), then proven by
//! resolving boot again with the edits laid over the files.

use std::collections::BTreeMap;

use super::FileEdits;
use crate::edit::{self, Edit};
use crate::error::Error;
use crate::root;
use crate::snapshot::Snapshot;
use crate::sysctl::boot::{Boot, DIRS, DROPIN_NAMES, Entry};
use crate::sysctl::same_value;

/// Put `key = value` where boot will read it last: the last explicit assignment when it is
/// in /etc (edited in place, through links), else a qfix drop-in in /etc/sysctl.d whose name
/// sorts after every file that assigns the key.
pub fn place(
    snap: &Snapshot,
    key: &str,
    value: &str,
    files: &mut BTreeMap<String, FileEdits>,
    safe: bool,
    reason: &str,
) -> Result<(), Error> {
    let boot = &snap.boot;
    if let Some(a) = boot.assignments.iter().rfind(|a| *a.key == *key) {
        let f = boot.file(a);
        if f.target.starts_with("/etc/") {
            let fe = files
                .entry(f.target.clone())
                .or_insert_with(|| FileEdits::new(Some(f.text.to_string())));
            fe.edits.push(Edit::replace(a.value_span.clone(), value));
            fe.safe &= safe;
            fe.reasons.push(reason.to_string());
            return Ok(());
        }
    }
    let latest = boot
        .assignments_for(key)
        .map(|a| root::file_name(&a.path).to_string())
        .max()
        .unwrap_or_default();
    let taken = boot.all_names();
    let name = DROPIN_NAMES
        .into_iter()
        .find(|n| {
            let ours = boot.files.iter().any(|f| f.path == root::join(DIRS[0], n));
            *n > latest.as_str() && (ours || !taken.contains(*n))
        })
        .ok_or_else(|| Error::msg(format!("{key}: no drop-in name sorts after {latest}")))?;
    let path = root::join(DIRS[0], name);
    let (target, old) = match snap.sysctl.dropins.get(&path) {
        Some(Entry::File { target, text }) => (target.clone(), Some(text.to_string())),
        Some(Entry::Missing { target }) => (target.clone(), None),
        Some(Entry::Masked) => {
            return Err(Error::msg(format!("{path}: masked (links to /dev/null)")));
        }
        Some(Entry::Unreadable(e)) => return Err(e.clone()),
        None => (path.clone(), None),
    };
    let fe = files.entry(target).or_insert_with(|| FileEdits::new(old));
    let mut text = String::new();
    match &fe.old {
        None if fe.edits.is_empty() => text.push_str(
            "# Written by qfix: this file must sort after every other file that sets these keys.\n",
        ),
        Some(o) if !o.is_empty() && !o.ends_with('\n') => text.push('\n'),
        _ => {}
    }
    text.push_str(&format!("{key} = {value}\n"));
    let end = fe.old.as_deref().map_or(0, str::len);
    fe.edits.push(Edit::insert(end, text));
    fe.safe &= safe;
    fe.reasons.push(reason.to_string());
    Ok(())
}

/// The errors of placing `persisted` (key, value) pairs: boot, resolved again with the
/// edited files laid over the originals, must give each its value.
pub fn prove(
    snap: &Snapshot,
    files: &BTreeMap<String, FileEdits>,
    persisted: &[(&str, &str)],
) -> Vec<Error> {
    let _t = crate::trace::phase("prove");
    if persisted.is_empty() {
        return Vec::new();
    }
    let overlay: BTreeMap<String, String> = files
        .iter()
        .map(|(p, f)| {
            (
                p.clone(),
                edit::apply(f.old.as_deref().unwrap_or(""), &f.edits),
            )
        })
        .collect();
    let after = Boot::resolve(&snap.sysctl, &overlay);
    persisted
        .iter()
        .filter_map(|(key, target)| {
            let got = after.value(key);
            (!got.is_some_and(|v| same_value(v, target))).then(|| {
                Error::msg(format!(
                    "{key}: placing {target} did not make it the boot value ({}); refusing to propose it",
                    got.map_or("no file sets it then".to_string(), |v| format!("the boot value would be {v}"))
                ))
            })
        })
        .collect()
}
