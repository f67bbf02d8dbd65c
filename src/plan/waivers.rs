//! Waivers (`[[accept]]` in the policy): findings the site has decided to live with are shown
//! as accepted, with the reason; their fixes are not proposed (the rules skip them). A waiver
//! that has expired, or that matches no finding, is itself a finding (rule kind
//! `stale-waiver`), so waivers do not outlive their reason unnoticed.

use std::collections::HashMap;

use crate::rules::{Accepted, Context, Finding, Subject, loc};
use crate::services::Listener;

/// Mark the findings a waiver accepts, then report the waivers that are stale.
pub fn accept(cx: &Context, findings: &mut Vec<Finding>) {
    let policy = &cx.snap.policy;
    if policy.accept.is_empty() {
        return;
    }
    let mut used = vec![false; policy.accept.len()];
    let by_label: HashMap<String, &Listener> = cx
        .listeners()
        .iter()
        .rev()
        .map(|l| (format!("{} {}", l.service, l.instance), l))
        .collect();
    for f in findings.iter_mut().filter(|f| f.accepted.is_none()) {
        let Some(rule) = cx.snap.rules.iter().find(|r| r.code == f.rule) else {
            continue;
        };
        let listener = f
            .listener
            .as_deref()
            .and_then(|label| by_label.get(label).copied());
        let about = match (listener, f.key.as_deref()) {
            (Some(l), _) => Subject::Listener(l),
            (None, Some(k)) => Subject::Key(k),
            (None, None) => Subject::Host,
        };
        let all = cx.waivers(rule, about, &f.locations);
        for w in &all {
            if let Some(i) = policy.accept.iter().position(|x| std::ptr::eq(x, *w)) {
                used[i] = true;
            }
        }
        if let Some(w) = all.first() {
            f.accepted = Some(Accepted {
                reason: w.reason.clone(),
                until: w.until.clone(),
            });
        }
    }
    let Some(stale) = cx
        .snap
        .rules
        .iter()
        .find(|r| matches!(r.kind, crate::rules::Kind::StaleWaiver(_)))
    else {
        return;
    };
    let path = policy
        .path
        .as_deref()
        .unwrap_or(crate::policy::DEFAULT_PATH);
    for (w, used) in policy.accept.iter().zip(used) {
        let known = cx
            .snap
            .rules
            .iter()
            .any(|r| w.rule.eq_ignore_ascii_case(&r.code) || w.rule == *r.name);
        if !known {
            // a typo: the waiver can never apply, and the finding it meant stays open
            let mut f = stale.finding(
                Subject::Host,
                format!(
                    "the waiver names {}, which is no rule qfix knows (qfix rules lists them): it accepts nothing",
                    w.rule
                ),
                vec![loc(path, w.line)],
            );
            f.severity = crate::rules::Severity::Error;
            findings.push(f);
            continue;
        }
        let expired = w.until_day().is_some_and(|d| d < cx.snap.today);
        let message = if expired {
            format!(
                "the waiver of {} ({}) expired on {}: its findings count again",
                w.rule,
                w.reason,
                w.until.as_deref().unwrap_or("?")
            )
        } else if !used {
            format!(
                "the waiver of {} ({}) matches no finding: remove it, or fix what it names",
                w.rule, w.reason
            )
        } else {
            continue;
        };
        findings.push(stale.finding(Subject::Host, message, vec![loc(path, w.line)]));
    }
}
