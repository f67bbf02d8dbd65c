//! `somaxconn-below-minimum`: somaxconn below the policy's minimum caps every listener.

use serde::{Deserialize, Serialize};

use super::{Check, Context, LOWER_BACKLOG, Outcome, Rule, Subject};
use crate::limits::SOMAXCONN;
use crate::services::Location;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let min = cx.snap.policy.min_somaxconn;
        let mut below = false;
        for s in cx.sides(SOMAXCONN) {
            if let Some(v) = s.value.filter(|v| *v < min.value) {
                below = true;
                let mut locs: Vec<Location> = s.at.into_iter().collect();
                locs.extend(cx.policy_loc(min.line));
                let finding = || (format!("{SOMAXCONN} ({}) is {v}, below the minimum {} (the kernel default since Linux 5.4): every listen() backlog is capped at {v}", s.side, min.value), locs);
                if cx.lower_backlog {
                    out.report_accepted(rule, Subject::Key(SOMAXCONN), LOWER_BACKLOG, finding);
                } else {
                    out.report(rule, Subject::Key(SOMAXCONN), finding);
                }
            }
        }
        if below && !cx.lower_backlog && !cx.waived(rule, Subject::Key(SOMAXCONN)) {
            out.raise(SOMAXCONN, min.value, rule);
        }
    }

    fn proposes(&self) -> bool {
        true
    }

    fn live_keys(&self) -> Vec<String> {
        vec![SOMAXCONN.into()]
    }
}
