//! `policy-mismatch`: a key whose live or boot value is not what the policy (or --set) wants.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, loc, Subject};
use crate::services::Location;
use crate::sysctl::{norm_value, same_value};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        for (key, (want, origin)) in cx.wants {
            let live = cx.live(key);
            let boot = cx.snap.boot.value(key);
            let mut bad = Vec::new();
            for (side, v) in [("live", live), ("boot", boot)] {
                let Some(v) = v else { continue };
                if want.target(Some(v)).is_some_and(|t| !same_value(&t, v)) {
                    bad.push(format!("{side} {}", norm_value(v)));
                }
            }
            if boot.is_none() && (want.exact.is_some() || want.min.is_some() || want.max.is_some())
            {
                bad.push("not persisted".into());
            }
            if bad.is_empty() {
                continue;
            }
            let mut locs: Vec<Location> = origin.iter().cloned().collect();
            if let Some(a) = cx.snap.boot.winner(key) {
                locs.push(loc(&a.path, a.line));
            }
            out.report(rule, Subject::Key(key), || (format!(
                    "{key} should be {} but is {}",
                    want.describe(),
                    bad.join(", ")
                ),
                locs, ));
        }
    }
}
