//! A plan saved with `qfix plan --out`: the changes with their full new contents, and
//! fingerprints of everything the plan was computed from, so `qfix apply PLANFILE` refuses a
//! plan the host has moved away from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::host::Host;
use crate::plan::Plan;
use crate::snapshot::Snapshot;
use crate::sysctl::{norm_value, same_value};

/// The saved plan format's version.
const VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
pub struct PlanFile {
    pub qfix_plan: u32,
    pub root: PathBuf,
    pub plan: Plan,
    pub fingerprints: Fingerprints,
}

impl PlanFile {
    pub fn new(snap: &Snapshot, plan: &Plan) -> PlanFile {
        PlanFile {
            qfix_plan: VERSION,
            root: snap.root.clone(),
            plan: plan.clone(),
            fingerprints: Fingerprints::of(snap),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        crate::apply::write_atomic(path, &path.display().to_string(), &text)
    }

    pub fn load(path: &Path) -> Result<PlanFile, Error> {
        let text = crate::root::read_path(path, crate::root::MAX_FILE_BYTES)?;
        let pf: PlanFile = serde_json::from_str(&text).map_err(|e| {
            Error::at(
                &path.display().to_string(),
                e.line(),
                format!("not a qfix plan: {e}"),
            )
        })?;
        if pf.qfix_plan != VERSION {
            return Err(Error::msg(format!(
                "{}: a plan of format {} (this qfix reads {VERSION}): make it again with qfix plan --out",
                path.display(),
                pf.qfix_plan
            )));
        }
        Ok(pf)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fingerprints {
    /// SHA-256 of every file read (`None`: it did not exist).
    pub files: BTreeMap<String, Option<String>>,
    /// Every live value read.
    pub live: BTreeMap<String, Option<String>>,
    /// Every directory listing, glob and link the plan depended on, with what it gave: a new
    /// file in sysctl.d or pool.d, a retargeted 99-sysctl.conf link.
    #[serde(default)]
    pub lookups: Vec<(crate::host::Lookup, Vec<String>)>,
}

impl Fingerprints {
    pub fn of(snap: &Snapshot) -> Fingerprints {
        Fingerprints {
            files: snap
                .files
                .iter()
                .map(|(p, t)| (p.clone(), t.as_deref().map(hash)))
                .collect(),
            live: snap
                .live
                .as_ref()
                .map(|l| l.sysctls.clone())
                .unwrap_or_default(),
            lookups: snap.lookups.clone(),
        }
    }

    /// What differs on the host now from when these were taken, one line per item.
    pub fn stale(&self, host: &Host) -> Vec<String> {
        let mut out = Vec::new();
        for (path, then) in &self.files {
            let now = match host.root.read_opt(path) {
                Ok(t) => t.as_deref().map(hash),
                Err(e) => {
                    out.push(format!("{path}: {e}"));
                    continue;
                }
            };
            if &now != then {
                let what = match (then, &now) {
                    (None, Some(_)) => "created",
                    (Some(_), None) => "removed",
                    _ => "modified",
                };
                out.push(format!("{path}: {what} since the plan was made"));
            }
        }
        for (lookup, then) in &self.lookups {
            let now = match host.look_again(lookup) {
                Ok(n) => n,
                Err(e) => {
                    out.push(e.to_string());
                    continue;
                }
            };
            if &now == then {
                continue;
            }
            let what = match lookup {
                crate::host::Lookup::Resolve(p) => {
                    format!("{p}: now leads to {} (was {})", now.join(""), then.join(""))
                }
                crate::host::Lookup::List(p) | crate::host::Lookup::Glob(p) => {
                    let new: Vec<&String> = now.iter().filter(|n| !then.contains(n)).collect();
                    let gone: Vec<&String> = then.iter().filter(|t| !now.contains(t)).collect();
                    let list =
                        |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                    let mut parts = Vec::new();
                    if !new.is_empty() {
                        parts.push(format!("new: {}", list(&new)));
                    }
                    if !gone.is_empty() {
                        parts.push(format!("gone: {}", list(&gone)));
                    }
                    format!(
                        "{p}: changed since the plan was made ({})",
                        parts.join("; ")
                    )
                }
            };
            out.push(what);
        }
        for (key, then) in &self.live {
            let now = host.live.as_ref().and_then(|l| l.read(key).ok().flatten());
            let same = match (then, &now) {
                (Some(a), Some(b)) => same_value(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                let shown = |v: &Option<String>| {
                    v.as_deref()
                        .map(norm_value)
                        .unwrap_or_else(|| "missing".into())
                };
                out.push(format!(
                    "{key}: live value {} since the plan was made (was {})",
                    shown(&now),
                    shown(then)
                ));
            }
        }
        out
    }
}

pub fn hash(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}
