//! `accept-queue-overflow`: a listener whose accept queue is full now (Recv-Q at or above
//! Send-Q), or whose drops, or whose namespace's ListenOverflows, rose over the sample. It
//! tells a queue that is full and not draining (the application is not accepting: a bigger
//! backlog will not help) from bursts overflowing a small queue.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject};
use crate::kernel::{KernelListener, ListenerDelta, Namespace};
use crate::kernel::Proto;
use crate::observed::{Observed, netns, socket};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let Some(ev) = cx.snap.evidence() else { return };
        let sample = ev.sample.as_ref();
        for ns in &ev.namespaces {
            let delta = sample.and_then(|s| s.namespaces.iter().find(|d| d.id == ns.id));
            let overflows = delta.and_then(|d| d.counters.listen_overflows).unwrap_or(0);
            let mut explained = false;
            for s in &ns.listeners {
                let ld = delta.and_then(|d| {
                    d.listeners
                        .iter()
                        .find(|l| l.inode == s.inode && l.address == s.address)
                });
                let secs = sample.map_or(0.0, |s| s.seconds);
                let Some(verdict) = judge(s, ld, secs) else {
                    continue;
                };
                explained = true;
                let configured = cx.listeners().iter().find(|l| {
                    cx.snap
                        .socket_of(l)
                        .is_some_and(|seen| std::ptr::eq(seen.socket, s))
                });
                let who = match configured {
                    Some(l) => format!("{} {} ({})", l.service, l.instance, s.address),
                    None => format!("{} ({})", s.address, owner(s)),
                };
                let mut evidence = vec![socket(ns, s)];
                // TcpExt counts TCP listeners' overflows only; a unix socket has no counter
                if s.proto == Proto::Tcp {
                    evidence.extend(counter(
                        ns,
                        delta.map(|_| overflows),
                        sample.map(|s| s.seconds),
                    ));
                }
                let about = configured.map_or(Subject::Host, Subject::Listener);
                let locations = configured
                    .and_then(|l| cx.listener_loc(l))
                    .into_iter()
                    .collect();
                out.report(rule, about, || {
                    Report::new(format!("{who}: {verdict}"), locations)
                        .evidence(evidence)
                        .weight(ld.and_then(|d| d.drops).unwrap_or(0))
                });
            }
            if !explained && overflows > 0 {
                let secs = sample.map_or(0.0, |s| s.seconds);
                out.report(rule, Subject::Host, || {
                    Report::new(
                        format!(
                            "{}: TcpExt ListenOverflows rose by {overflows} in {secs:.1} s: an accept queue overflowed, though none is full at either reading (short bursts)",
                            netns(ns)
                        ),
                        Vec::new(),
                    )
                    .evidence(counter(ns, Some(overflows), Some(secs)).into_iter().collect())
                });
            }
        }
    }
}

/// What the queue shows, if anything: full and not draining, bursts, or full now.
fn judge(s: &KernelListener, d: Option<&ListenerDelta>, secs: f64) -> Option<String> {
    let backlog = s.backlog?;
    let full = |q: Option<u32>| q.is_some_and(|q| q >= backlog);
    let drops = d.and_then(|d| d.drops).unwrap_or(0);
    match d {
        Some(d) if full(d.queue_before) && full(d.queue_after) => Some(format!(
            "the accept queue is full and not draining ({} waiting, queue of {backlog}, at both readings{}): the application is not accepting connections (or far too slowly); a bigger backlog will not help, look at {}",
            d.queue_after.unwrap_or(0),
            if drops > 0 {
                format!(", {drops} dropped in {secs:.1} s")
            } else {
                String::new()
            },
            owner(s)
        )),
        Some(_) if drops > 0 => Some(format!(
            "{drops} connections dropped in {secs:.1} s: bursts overflow its accept queue of {backlog}, though it drains between them; a bigger backlog absorbs them"
        )),
        _ if full(s.queue) => Some(format!(
            "the accept queue is full now ({} waiting, queue of {backlog}): new connections are dropped",
            s.queue.unwrap_or(0)
        )),
        _ => None,
    }
}

fn owner(s: &KernelListener) -> String {
    match (s.pids.first(), &s.process) {
        (Some(p), Some(n)) => format!("pid {p} {n}"),
        (Some(p), None) => format!("pid {p}"),
        (None, Some(n)) => n.clone(),
        (None, None) => "its owner (unknown)".to_string(),
    }
}

fn counter(ns: &Namespace, delta: Option<u64>, seconds: Option<f64>) -> Option<Observed> {
    let c = ns.counters.as_ref()?;
    Some(Observed::Counter {
        name: "TcpExt:ListenOverflows".into(),
        netns: ns.id,
        value: c.listen_overflows,
        delta,
        seconds,
    })
}
