//! Backlog edits in the services' own configs: each listener's setter replaces the bytes of
//! its current value (or inserts a directive in the file's own style).

use std::collections::{BTreeMap, HashMap};

use super::FileEdits;
use super::restarts::Restarts;
use crate::edit::Edit;
use crate::error::Error;
use crate::limits::effective;
use crate::rules::Proposal;
use crate::services::{Action, Listener};
use crate::snapshot::Snapshot;

/// A listener's new backlog: the value and whether it is safe unattended.
pub struct BacklogEdit<'s> {
    pub listener: &'s Listener,
    pub value: i64,
    pub safe: bool,
}

/// The backlog to set per listener, in the order the snapshot lists listeners: lowering (the
/// user's strategy) wins over raising; among raises the largest.
pub fn merge<'s>(snap: &'s Snapshot, proposals: &[Proposal<'s>]) -> Vec<BacklogEdit<'s>> {
    let position: HashMap<*const Listener, usize> = snap
        .services
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (l as *const Listener, i))
        .collect();
    let mut by: BTreeMap<usize, BacklogEdit<'s>> = BTreeMap::new();
    for p in proposals {
        let Proposal::Backlog {
            listener,
            value,
            safe,
            ..
        } = p
        else {
            continue;
        };
        let Some(&i) = position.get(&(*listener as *const Listener)) else {
            continue;
        };
        let req = listener.requested.unwrap_or(0);
        let e = by.entry(i).or_insert(BacklogEdit {
            listener,
            value: *value,
            safe: true,
        });
        e.value = if *value < req || e.value < req {
            e.value.min(*value)
        } else {
            e.value.max(*value)
        };
        e.safe &= *safe;
    }
    by.into_values().collect()
}

/// The file edits for `edits`, with the restarts they call for; errors for listeners qfix
/// cannot edit. `somaxconn` is the live value before and after the plan (`None` offline):
/// an edit that leaves the running queue as it is needs no restart.
pub fn edit(
    snap: &Snapshot,
    edits: &[BacklogEdit],
    somaxconn: Option<(i64, i64)>,
    files: &mut BTreeMap<String, FileEdits>,
    restarts: &mut Restarts,
) -> Vec<Error> {
    let mut errors = Vec::new();
    for b in edits {
        let l = b.listener;
        let Some(setter) = &l.setter else {
            errors.push(Error::msg(format!(
                "{} {}: qfix cannot edit this backlog setting",
                l.service, l.instance
            )));
            continue;
        };
        let f = files
            .entry(setter.path.to_string())
            .or_insert_with(|| FileEdits::new(snap.text(&setter.path).map(|t| t.to_string())));
        if f.checker.is_empty() {
            f.checker = l.checker.to_vec();
        }
        let e = Edit::replace(
            setter.range.clone(),
            setter.template.replace("{}", &b.value.to_string()),
        );
        if !f.edits.contains(&e) {
            f.edits.push(e);
            f.reasons
                .push(format!("{} {} backlog {}", l.service, l.instance, b.value));
        }
        f.safe &= b.safe;
        let old = l.requested.unwrap_or(b.value);
        let refused =
            somaxconn.is_some_and(|(before, _)| l.refuses_above_somaxconn && old > before);
        if refused {
            // it refused to start with the old value: it is not running
            restarts.add(
                l,
                &setter.path,
                Action::Restart,
                format!(
                    "backlog changed in {} to {}: {} refused to start with {old} above somaxconn; start it",
                    setter.path, b.value, l.service
                ),
            );
            continue;
        }
        let unchanged = somaxconn
            .is_some_and(|(before, after)| effective(old, before) == effective(b.value, after));
        if !unchanged {
            restarts.add(
                l,
                &setter.path,
                l.action,
                format!(
                    "backlog changed in {} to {}: {}",
                    setter.path, b.value, l.action_reason
                ),
            );
        }
    }
    errors
}
