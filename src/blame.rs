//! `qfix blame`: for each key, its live value, its boot value, the assignment that wins at
//! boot and the ones it overrides.

use serde::Serialize;

use crate::services::Location;
use crate::snapshot::Snapshot;
use crate::sysctl::{glob_matches, is_glob, normalize_key};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Entry {
    pub key: String,
    pub live: Option<String>,
    pub boot: Option<String>,
    pub source: Option<Location>,
    pub overridden: Vec<Overridden>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Overridden {
    pub path: String,
    pub line: usize,
    pub value: String,
}

/// Keys named by the arguments (keys or globs); all persisted keys when there are none.
pub fn select(snap: &Snapshot, args: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    let persisted = snap.boot.keys();
    let expand = |pattern: &str, keys: &mut Vec<String>| match &snap.live {
        Some(live) => keys.extend(live.expand(pattern)),
        None => keys.push(pattern.to_string()),
    };
    if args.is_empty() {
        for k in persisted {
            if is_glob(k) {
                expand(k, &mut keys)
            } else {
                keys.push(k.to_string())
            }
        }
    } else {
        for a in args {
            let k = normalize_key(a);
            if is_glob(&k) {
                if let Some(live) = &snap.live {
                    keys.extend(live.expand(&k));
                }
                keys.extend(
                    persisted
                        .iter()
                        .filter(|p| !is_glob(p) && glob_matches(&k, p))
                        .map(|p| p.to_string()),
                );
                if snap.live.is_none() {
                    keys.extend(
                        persisted
                            .iter()
                            .filter(|p| ***p == *k)
                            .map(|p| p.to_string()),
                    );
                }
            } else {
                keys.push(k);
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

pub fn blame(snap: &Snapshot, keys: &[String]) -> Vec<Entry> {
    let boot = &snap.boot;
    keys.iter()
        .map(|key| {
            let winner = boot.winner(key);
            Entry {
                key: key.clone(),
                live: snap
                    .live
                    .as_ref()
                    .and_then(|l| l.value(key))
                    .map(crate::sysctl::norm_value),
                boot: winner.map(|w| w.value.clone()),
                source: winner.map(|w| Location {
                    path: w.path.clone(),
                    line: w.line,
                }),
                overridden: boot
                    .assignments_for(key)
                    .filter(|a| Some(*a) != winner)
                    .map(|a| Overridden {
                        path: a.path.to_string(),
                        line: a.line,
                        value: a.value.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}
