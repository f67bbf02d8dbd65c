//! `unknown-key`: a persisted key the running kernel does not have (offline: a key the
//! kernel named in the snapshot removed in an earlier version).

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, de, loc, Subject};
use crate::limits::Version;
use crate::sysctl::is_glob;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Keys removed from the kernel, and since when: judged offline against the kernel
    /// version.
    #[serde(default)]
    pub removed: Vec<Removed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    #[serde(deserialize_with = "de::key")]
    pub key: String,
    #[serde(deserialize_with = "de::version")]
    pub since: Version,
}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let boot = &cx.snap.boot;
        let kernel = cx.kernel();
        for key in boot.keys().iter().filter(|k| !is_glob(k)) {
            let Some(a) = boot.explicit_for(key).last() else {
                continue;
            };
            let msg = if let Some(live) = &cx.snap.live {
                if live.exists(key) {
                    continue;
                }
                let note = kernel.map_or(String::new(), |(a, b)| format!(" ({a}.{b})"));
                format!("{key} does not exist on the running kernel{note}: boot logs an error for it")
            } else if let Some(r) = self.removed.iter().find(|r| *r.key == **key) {
                match kernel {
                    Some(k) if k >= r.since => format!(
                        "{key} was removed in Linux {}.{}; this kernel is {}.{}",
                        r.since.0, r.since.1, k.0, k.1
                    ),
                    _ => continue,
                }
            } else {
                continue;
            };
            out.report(rule, Subject::Key(key), || (msg, vec![loc(&a.path, a.line)]));
        }
    }
}
