//! `upstream-errors`: nginx's error log shows connects to an upstream failing: EAGAIN on a
//! unix socket (its accept queue was full), a connect timing out (a full TCP queue drops the
//! SYN), refused (nothing listened), a read timing out (the workers too slow or too few), no
//! live upstreams. Each upstream is tied to the listener that serves it and to the `*_pass`
//! lines that reach it. EADDRNOTAVAIL is `ephemeral-ports`' own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject, label};
use crate::logs::{UpstreamErrorKind as K, UpstreamErrors};
use crate::observed::{self, Observed};
use crate::services::{Listener, Location};
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let Some(logs) = cx.snap.logs() else { return };
        let mut by_upstream: BTreeMap<&str, Vec<&UpstreamErrors>> = BTreeMap::new();
        for e in &logs.upstream_errors {
            if e.kind != K::AddrNotAvailable {
                by_upstream.entry(&e.upstream).or_default().push(e);
            }
        }
        for (upstream, errors) in by_upstream {
            let l = cx.snap.listener_for_upstream(upstream);
            let about = l.map_or(Subject::Host, Subject::Listener);
            let mut locations: Vec<Location> = l.and_then(|l| cx.listener_loc(l)).into_iter().collect();
            locations.extend(cx.snap.pass_locations(upstream));
            locations.dedup();
            out.report(rule, about, || {
                let parts: Vec<String> = errors
                    .iter()
                    .map(|e| describe(cx.snap, e, l))
                    .collect();
                let served = match l {
                    Some(l) => format!("{upstream} is {}", label(l)),
                    None => format!("no configured listener serves {upstream}"),
                };
                Report::new(format!("{}; {served}", parts.join("; ")), locations)
                    .weight(errors.iter().map(|e| e.tally.count).sum())
                    .evidence(errors.iter().map(|e| evidence(e)).collect())
            });
        }
    }
}

/// The log lines as evidence.
pub fn evidence(e: &UpstreamErrors) -> Observed {
    let what = match e.kind {
        K::Eagain => "connect() failed (11: Resource temporarily unavailable)",
        K::Refused => "connect() failed (111: Connection refused)",
        K::AddrNotAvailable => "connect() failed (99: Cannot assign requested address)",
        K::TimedOut => "upstream timed out (110: Connection timed out)",
        K::NoLiveUpstreams => "no live upstreams",
        K::ConnectFailed => "connect() failed",
    };
    let message = match &e.action {
        Some(a) => format!("{what} while {a} {}", e.upstream),
        None => format!("{what} {}", e.upstream),
    };
    observed::log(&e.log, &message, &e.tally)
}

/// Whether these lines show the upstream's accept queue overflowing: EAGAIN on a unix
/// socket, or a TCP connect that timed out (the kernel drops a SYN for a full queue).
pub fn shows_overflow(e: &UpstreamErrors) -> bool {
    match e.kind {
        K::Eagain => true,
        K::TimedOut => connecting(e),
        _ => false,
    }
}

fn connecting(e: &UpstreamErrors) -> bool {
    e.action
        .as_deref()
        .is_some_and(|a| a.starts_with("connecting"))
}

/// One kind of error to one upstream, in words, with its count, times and line.
pub fn describe(snap: &Snapshot, e: &UpstreamErrors, l: Option<&Listener>) -> String {
    let (n, u) = (e.tally.count, &e.upstream);
    let when = observed::log_when(&e.tally);
    let at = observed::log_at(&e.log, &e.tally);
    let queue = l
        .and_then(|l| snap.queue_of(l))
        .map_or("size unknown".to_string(), |q| q.to_string());
    match e.kind {
        K::Eagain => format!(
            "{n} connects to {u} failed with EAGAIN{when} ({at}): its accept queue ({queue}) overflowed"
        ),
        K::TimedOut if connecting(e) => format!(
            "{n} connects to {u} timed out{when} ({at}): its SYNs went unanswered, as when a full accept queue ({queue}) drops them"
        ),
        K::TimedOut => format!(
            "{n} requests to {u} timed out waiting for the answer{when} ({at}): nginx's read timeout ran out (504): its workers are too slow or too few"
        ),
        K::Refused if u.starts_with("unix:") => format!(
            "{n} connects to {u} refused{when} ({at}): nothing listened on the socket then (stopped, restarting or crashed)"
        ),
        K::Refused => format!(
            "{n} connects to {u} refused{when} ({at}): nothing listened on the port then (stopped, restarting or crashed; or a full queue with tcp_abort_on_overflow = 1)"
        ),
        K::NoLiveUpstreams => format!(
            "{n} requests found no live server in upstream {u}{when} ({at}): nginx had marked every server failed (max_fails) after errors like the ones above"
        ),
        K::ConnectFailed => format!(
            "{n} connects to {u} failed{}{when} ({at})",
            e.errno.map_or(String::new(), |n| format!(" with errno {n}"))
        ),
        K::AddrNotAvailable => format!(
            "{n} connects to {u} found no free local port (99: Cannot assign requested address){when} ({at})"
        ),
    }
}
