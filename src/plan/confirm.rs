//! What the running system confirms or contradicts of the config findings: a backlog finding
//! about a listener whose accept queue overflowed (in the kernel's counters, or in a log:
//! nginx's EAGAIN, uWSGI's full listen queue) becomes an error and cites the overflow; one
//! whose service logged the same cap (Redis, uWSGI) cites the log; the findings about a
//! service that is not running say so.

use std::collections::{BTreeMap, BTreeSet};

use crate::observed::{self, Observed};
use crate::rules::upstream_errors::shows_overflow;
use crate::rules::{Context, Finding, Kind, Severity, service_not_running, upstream_errors};
use crate::services::{Listener, Source};

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
    let logged = logged(cx);
    let unseen = service_not_running::unseen_namespaces(cx).is_some();
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
        if backlog_finding && let Some(lines) = logged.get(&l) {
            for line in lines {
                if line.overflow && f.severity < Severity::Error {
                    f.severity = Severity::Error;
                }
                f.message.push_str(&format!("; {}", line.text));
                f.evidence.push(line.evidence.clone());
            }
        }
        if stopped.contains(&l) && !matches!(kind, Some(Kind::ServiceNotRunning(_))) {
            f.message.push_str(if unseen {
                "; no socket for it in the namespaces qfix could read"
            } else {
                "; it is not running now (no socket)"
            });
        }
    }
}

/// A log's lines about a listener, as a backlog finding cites them.
struct Logged {
    text: String,
    evidence: Observed,
    /// They show its queue overflowing (not only the cap the config finding names).
    overflow: bool,
}

/// What the logs say about each listener's queue, by listener ("php-fpm www").
fn logged(cx: &Context) -> BTreeMap<String, Vec<Logged>> {
    let mut out: BTreeMap<String, Vec<Logged>> = BTreeMap::new();
    let Some(logs) = cx.snap.logs() else {
        return out;
    };
    let name = |l: &Listener| format!("{} {}", l.service, l.instance);
    for e in logs.upstream_errors.iter().filter(|e| shows_overflow(e)) {
        if let Some(l) = cx.snap.listener_for_upstream(&e.upstream) {
            out.entry(name(l)).or_default().push(Logged {
                text: format!(
                    "confirmed by nginx's log: {}",
                    upstream_errors::describe(cx.snap, e, Some(l))
                ),
                evidence: upstream_errors::evidence(e),
                overflow: true,
            });
        }
    }
    for q in &logs.uwsgi_queue_full {
        for l in cx.listeners().iter().filter(|l| {
            l.service == "uwsgi" && crate::logs::upstream_is_listener(&q.socket, &l.address)
        }) {
            out.entry(name(l)).or_default().push(Logged {
                text: format!(
                    "confirmed by uWSGI's log: its listen queue was full ({}/{}) {} times{} ({})",
                    q.queue,
                    q.limit,
                    q.tally.count,
                    observed::log_when(&q.tally),
                    observed::log_at(&q.log, &q.tally)
                ),
                evidence: observed::log(
                    &q.log,
                    &format!("listen queue of socket {} full", q.socket),
                    &q.tally,
                ),
                overflow: true,
            });
        }
    }
    let facts = &cx.snap.services.facts;
    for r in &logs.redis_backlog {
        let configs: Vec<&str> = facts
            .redis
            .iter()
            .filter(|f| f.log.file() == Some(r.log.as_str()))
            .map(|f| f.config.as_str())
            .collect();
        for l in configured_in(cx, "redis", &configs) {
            out.entry(name(l)).or_default().push(Logged {
                text: format!(
                    "Redis's log says so: its tcp-backlog {} could not be enforced, somaxconn {}{} ({})",
                    r.backlog,
                    r.somaxconn,
                    observed::log_when(&r.tally),
                    observed::log_at(&r.log, &r.tally)
                ),
                evidence: observed::log(
                    &r.log,
                    &format!(
                        "The TCP backlog setting of {} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {}",
                        r.backlog, r.somaxconn
                    ),
                    &r.tally,
                ),
                overflow: false,
            });
        }
    }
    for r in &logs.uwsgi_refused {
        let configs: Vec<&str> = facts
            .uwsgi
            .iter()
            .filter(|f| f.logs.iter().any(|s| s.file() == Some(r.log.as_str())))
            .map(|f| f.config.as_str())
            .collect();
        for l in configured_in(cx, "uwsgi", &configs) {
            out.entry(name(l)).or_default().push(Logged {
                text: format!(
                    "uWSGI's log says so: it refused to start {}{} ({}), somaxconn {}",
                    if r.tally.count == 1 {
                        "once".to_string()
                    } else {
                        format!("{} times", r.tally.count)
                    },
                    observed::log_when(&r.tally),
                    observed::log_at(&r.log, &r.tally),
                    r.somaxconn
                ),
                evidence: observed::log(
                    &r.log,
                    &format!(
                        "Listen queue size is greater than the system max net.core.somaxconn ({})",
                        r.somaxconn
                    ),
                    &r.tally,
                ),
                overflow: false,
            });
        }
    }
    // a service listening on two addresses (Redis on 127.0.0.1 and ::1) is one name: its
    // log's lines are cited once
    for lines in out.values_mut() {
        let mut seen = std::collections::BTreeSet::new();
        lines.retain(|l| seen.insert(l.text.clone()));
    }
    out
}

/// A service's listeners declared in one of these config files.
fn configured_in<'s>(
    cx: &Context<'s, '_>,
    service: &'s str,
    configs: &[&str],
) -> impl Iterator<Item = &'s Listener> {
    let configs: Vec<String> = configs.iter().map(|c| c.to_string()).collect();
    cx.listeners().iter().filter(move |l| {
        l.service == service && {
            let mut paths = Vec::new();
            if let Source::At(at) = &l.source {
                paths.push(&*at.path);
            }
            if let Some(s) = &l.setter {
                paths.push(&*s.path);
            }
            paths.iter().any(|p| configs.iter().any(|c| c == p))
        }
    })
}
