//! `backlog-exceeds-somaxconn`: a service asks listen() for more than somaxconn, live or at
//! boot, and the kernel silently cuts its accept queue.

use serde::{Deserialize, Serialize};

use super::{Check, Context, LOWER_BACKLOG, Outcome, Proposal, Rule, Subject, label};
use crate::limits::SOMAXCONN;
use crate::services::{Location, Source};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        judge(rule, cx, out, false);
    }

    fn proposes(&self) -> bool {
        true
    }

    fn live_keys(&self) -> Vec<String> {
        vec![SOMAXCONN.into()]
    }
}

/// Listeners that ask for more than somaxconn: those that take the cut silently, or (with
/// `refusing`) those that refuse to start instead (uWSGI).
pub(super) fn judge<'s>(rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>, refusing: bool) {
    let sides = cx.sides(SOMAXCONN);
    let mut need: Option<i64> = None;
    for l in cx.listeners() {
        if l.refuses_above_somaxconn != refusing {
            continue;
        }
        let Some(r) = l.requested.filter(|r| *r >= 0) else {
            continue;
        };
        // the sides (live, boot) whose somaxconn cuts this request
        let capped: Vec<(&str, i64, Option<&Location>)> = sides
            .iter()
            .filter_map(|s| {
                s.value
                    .filter(|v| r > *v)
                    .map(|v| (s.side, v, s.at.as_ref()))
            })
            .collect();
        let Some(cap) = capped.iter().map(|c| c.1).min() else {
            continue;
        };
        let finding = || {
            let mut locs: Vec<Location> = cx.listener_loc(l).into_iter().collect();
            for (_, _, at) in &capped {
                if let Some(at) = at
                    && locs.last() != Some(at)
                {
                    locs.push((*at).clone());
                }
            }
            let values: Vec<String> = capped
                .iter()
                .map(|(side, v, _)| format!("{v} ({side})"))
                .collect();
            let message = if refusing {
                format!(
                    "{} sets listen = {r} but {SOMAXCONN} is {}: uWSGI refuses to start (\"Listen queue size is greater than the system max net.core.somaxconn\")",
                    label(l),
                    values.join(", ")
                )
            } else {
                format!(
                    "{} asks for backlog {r} but {SOMAXCONN} is {}: the kernel silently cuts the accept queue to {cap}",
                    label(l),
                    values.join(", ")
                )
            };
            (message, locs, (r - cap) as u64)
        };
        // lowering a default the listener does not write changes nothing it runs with
        let lowerable = matches!(l.source, Source::At(_));
        // lower-backlog lowers to what boot gives when a sysctl file sets it: a live
        // somaxconn below that is lost at the next reboot (live-differs-from-boot), and a
        // backlog lowered to it would stay too small after. With nothing persisted (a
        // container, whose runtime sets somaxconn) the live value is the truth.
        let boot = sides.iter().find(|s| s.side == "boot");
        let persisted = boot.is_some_and(|b| b.at.is_some());
        let boot_cap = capped
            .iter()
            .find(|c| c.0 == "boot" && persisted)
            .map(|c| c.1);
        // (uWSGI refuses to start above the live value: it is lowered to that, now)
        let live_only = !refusing && persisted && boot_cap.is_none();
        if !cx.lower_backlog {
            out.report(rule, Subject::Listener(l), finding);
        } else if live_only {
            let at_boot = boot.and_then(|b| b.value).map_or("higher".into(), |v| v.to_string());
            let why = format!(
                "--strategy lower-backlog: net.core.somaxconn is {cap} live only, {at_boot} at boot (live-differs-from-boot), which this backlog fits: it is kept"
            );
            out.report_accepted(rule, Subject::Listener(l), &why, finding);
        } else if !lowerable {
            out.report_accepted(rule, Subject::Listener(l), LOWER_BACKLOG, finding);
        } else {
            out.report(rule, Subject::Listener(l), finding);
        }
        if cx.waived(rule, Subject::Listener(l)) {
            continue;
        }
        if cx.lower_backlog {
            if lowerable && !live_only {
                out.proposals.push(Proposal::Backlog {
                    listener: l,
                    value: if refusing { cap } else { boot_cap.unwrap_or(cap) },
                    safe: true,
                    reason: rule.code.clone(),
                });
            }
        } else {
            need = need.max(Some(r));
        }
    }
    // one proposal for the largest request, not one per listener
    if let Some(r) = need {
        out.raise(SOMAXCONN, r, rule);
    }
}
