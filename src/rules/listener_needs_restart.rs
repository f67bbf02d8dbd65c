//! `listener-needs-restart`: a running listener's kernel queue (Send-Q) is below what it
//! would get if it listened now: min(requested backlog, its namespace's somaxconn). The
//! service keeps the queue listen() gave it until it listens again (somaxconn raised since,
//! or a backlog edited since).

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Proposal, Report, Rule, Subject, label};
use crate::limits::{SOMAXCONN, effective};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        for l in cx.listeners() {
            let Some(r) = l.requested else { continue };
            let Some(seen) = cx.snap.socket_of(l) else {
                continue;
            };
            let (Some(backlog), Some(som)) = (seen.socket.backlog, seen.ns.sysctls.somaxconn)
            else {
                continue;
            };
            let possible = effective(r, som as i64);
            let held = backlog as i64;
            if held >= possible {
                continue;
            }
            let why = format!(
                "{}: the kernel holds a queue of {held} (observed, {}); listening now it would get {possible}",
                l.address,
                seen.owner()
            );
            out.report(rule, Subject::Listener(l), || {
                Report::new(
                    format!(
                        "{} holds an accept queue of {held} (Send-Q, {}) where listen() now gives {possible} (backlog {r}, {SOMAXCONN} {som}): it keeps the old queue until {} listens again",
                        label(l),
                        seen.owner(),
                        l.unit
                    ),
                    cx.listener_loc(l).into_iter().collect(),
                )
                .weight((possible - held) as u64)
                .evidence(vec![seen.observed()])
            });
            if !cx.waived(rule, Subject::Listener(l)) {
                out.proposals.push(Proposal::Restart {
                    listener: l,
                    why,
                    reason: rule.code.clone(),
                });
            }
        }
    }

    fn proposes(&self) -> bool {
        true
    }
}
