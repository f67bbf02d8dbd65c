//! `sysctl-syntax`: a sysctl.d line systemd-sysctl cannot parse (it skips the line at boot).

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, loc, Subject};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        for bad in &cx.snap.boot.invalid {
            out.report(rule, Subject::Host, || (format!("{}; systemd-sysctl skips this line at boot", bad.reason),
                vec![loc(&bad.path, bad.line)], ));
        }
    }

    fn bad_input(&self) -> bool {
        true
    }
}
