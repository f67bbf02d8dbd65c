//! What the running system confirms or contradicts of the config findings: a backlog finding
//! about a listener whose accept queue overflowed becomes an error and cites the overflow; the
//! findings about a service that is not running say so.

use std::collections::{BTreeMap, BTreeSet};

use crate::rules::{Context, Finding, Kind, Severity, service_not_running};

/// Adjust the findings by what was observed.
pub fn observed(cx: &Context, findings: &mut [Finding]) {
    let kind_of = |f: &Finding| {
        cx.snap
            .rules
            .iter()
            .find(|r| r.code == f.rule)
            .map(|r| &r.kind)
    };
    // listeners whose queue overflowed, with what shows it
    let mut overflowed: BTreeMap<String, Vec<crate::observed::Observed>> = BTreeMap::new();
    for f in findings.iter() {
        if let (Some(Kind::AcceptQueueOverflow(_)), Some(l)) = (kind_of(f), &f.listener) {
            overflowed
                .entry(l.clone())
                .or_default()
                .extend(f.evidence.iter().cloned());
        }
    }
    let stopped: BTreeSet<String> = service_not_running::stopped(cx)
        .into_values()
        .flatten()
        .map(|l| format!("{} {}", l.service, l.instance))
        .collect();
    for f in findings.iter_mut() {
        let Some(l) = f.listener.clone() else {
            continue;
        };
        let kind = kind_of(f);
        let backlog_finding = matches!(
            kind,
            Some(
                Kind::BacklogExceedsSomaxconn(_)
                    | Kind::EffectiveBacklogBelowMinimum(_)
                    | Kind::ListenRefusedAboveSomaxconn(_)
            )
        );
        if backlog_finding && let Some(ev) = overflowed.get(&l) {
            f.severity = Severity::Error;
            f.message
                .push_str("; confirmed: its accept queue overflowed (accept-queue-overflow)");
            f.evidence.extend(ev.iter().cloned());
        }
        if stopped.contains(&l) && !matches!(kind, Some(Kind::ServiceNotRunning(_))) {
            f.message.push_str("; it is not running now (no socket)");
        }
    }
}
