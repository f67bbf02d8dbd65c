//! `world-writable`: a sysctl file or directory, or a service config, that every user may
//! write: anyone could change the kernel's settings at the next boot, or a service's.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject, loc};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        for (path, &mode) in &cx.snap.modes {
            // a sticky directory (like /tmp) keeps others' files from being replaced
            let is_dir = !cx.snap.files.contains_key(path);
            if mode & 0o002 == 0 || (is_dir && mode & 0o1000 != 0) {
                continue;
            }
            let what = if is_dir {
                "directory: anyone can add or replace files qfix and the services read there"
            } else {
                "file: anyone can change what it sets"
            };
            out.report(rule, Subject::Host, || {
                Report::new(
                    format!("{path} is writable by every user (mode {mode:04o}), a {what}"),
                    vec![loc(path, 1)],
                )
            });
        }
    }
}
