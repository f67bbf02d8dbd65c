//! `live-sysctl-not-persisted`: a live network sysctl that differs from the kernel's default
//! while no sysctl file sets it: someone ran `sysctl -w` (or a tool did), and the value is
//! lost at the next reboot either way.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject, de, loc};
use crate::limits::Version;
use crate::sysctl::same_value;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The kernel's own defaults of the keys to watch.
    pub defaults: Vec<Default>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Default {
    #[serde(deserialize_with = "de::key")]
    pub key: String,
    pub value: String,
    /// The default holds from this kernel on (judged only when the kernel is known).
    #[serde(default, deserialize_with = "de::opt_version")]
    pub since: Option<Version>,
}

impl Params {
    /// The kernel's default for `key` on this kernel, when the rule knows it.
    pub fn default_of(&self, key: &str, kernel: Option<Version>) -> Option<&str> {
        self.defaults
            .iter()
            .find(|d| d.key == key && d.since.is_none_or(|s| kernel.is_some_and(|k| k >= s)))
            .map(|d| d.value.as_str())
    }
}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let kernel = cx.kernel();
        for d in &self.defaults {
            if self.default_of(&d.key, kernel).is_none() {
                continue;
            }
            let Some(live) = cx.live(&d.key) else { continue };
            if same_value(live, &d.value) || cx.snap.boot.winner(&d.key).is_some() {
                continue;
            }
            let path = format!("/proc/sys/{}", crate::sysctl::key_to_path(&d.key));
            out.report(rule, Subject::Key(&d.key), || {
                Report::new(
                    format!(
                        "{} is {} live, not the kernel's default {}, and no sysctl file sets it: it was set at run time and is lost at the next reboot; persist it if it is wanted, or find what sets it",
                        d.key,
                        crate::sysctl::norm_value(live),
                        d.value
                    ),
                    vec![loc(&path, 1)],
                )
            });
        }
    }

    fn live_keys(&self) -> Vec<String> {
        self.defaults.iter().map(|d| d.key.clone()).collect()
    }
}
