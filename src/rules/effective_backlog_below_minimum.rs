//! `effective-backlog-below-minimum`: a listener whose accept queue (its own setting cut by
//! somaxconn) is below the policy's minimum.

use serde::{Deserialize, Serialize};

use super::{Check, Context, LOWER_BACKLOG, Outcome, Proposal, Rule, Subject, label};
use crate::limits::{SOMAXCONN, effective};
use crate::services::{Location, Source};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let policy = &cx.snap.policy;
        let min = policy.min_backlog;
        let sides = cx.sides(SOMAXCONN);
        let mut raise_somaxconn = false;
        // an administration socket's queue is sized for an operator, not for traffic
        for l in cx.listeners().iter().filter(|l| !l.control) {
            let Some(r) = l.requested else { continue };
            for s in &sides {
                let Some(som) = s.value else { continue };
                let eff = effective(r, som);
                if eff >= min.value {
                    continue;
                }
                // either side can be too small, or both (listen.backlog = 128 with somaxconn 128)
                let ru = r as i32 as u32 as i64;
                let service_limits = ru < min.value;
                let kernel_limits = som < min.value;
                // a backlog somaxconn cuts (r > somaxconn) is already a
                // backlog-exceeds-somaxconn finding: one finding per socket is enough
                let already_reported = !service_limits && r >= 0 && r > som;
                if !already_reported {
                    let finding = || {
                        let mut locs: Vec<Location> = cx.listener_loc(l).into_iter().collect();
                        if kernel_limits {
                            locs.extend(s.at.clone());
                        }
                        locs.extend(cx.policy_loc(min.line));
                        let mut limits = Vec::new();
                        if service_limits {
                            limits.push(match &l.source {
                                Source::At(_) => format!("its own setting {r}"),
                                Source::Default(why) => format!("the default {r} ({why})"),
                            });
                        }
                        if kernel_limits {
                            let minus_one = if r < 0 {
                                " (backlog -1 means \"somaxconn\")"
                            } else {
                                ""
                            };
                            limits.push(format!("{SOMAXCONN} {som}{minus_one}"));
                        }
                        let message = format!(
                            "{} gets an effective backlog of {eff} ({}), below the minimum {}; limited by {}",
                            label(l),
                            s.side,
                            min.value,
                            limits.join(" and ")
                        );
                        (message, locs, (min.value - eff) as u64)
                    };
                    if cx.lower_backlog {
                        out.report_accepted(rule, Subject::Listener(l), LOWER_BACKLOG, finding);
                    } else {
                        out.report(rule, Subject::Listener(l), finding);
                    }
                }
                if cx.waived(rule, Subject::Listener(l)) {
                    break;
                }
                // the service's own setting: raise it in its config (needs review: it may
                // be an administrator's choice). A backlog of -1 follows somaxconn, so only
                // somaxconn limits it. --strategy lower-backlog raises nothing.
                // Never above the somaxconn the plan holds: the kernel would cut it, and
                // uWSGI refuses to start with a listen value above somaxconn.
                let cap = sides.iter().filter_map(|s| s.value).min().unwrap_or(som);
                let value = min.value.min(cap);
                if service_limits && r >= 0 && !cx.lower_backlog && value > ru {
                    out.proposals.push(Proposal::Backlog {
                        listener: l,
                        value,
                        safe: false,
                        reason: rule.code.clone(),
                    });
                }
                raise_somaxconn |= kernel_limits && !cx.lower_backlog;
                break;
            }
        }
        if raise_somaxconn {
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
