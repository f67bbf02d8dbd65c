//! `ephemeral-ports`: one destination holds a large share of the local port range in
//! TIME_WAIT (and established) sockets, or nginx logged `(99: Cannot assign requested
//! address)` connecting to an upstream: short connections without reuse run the range out,
//! and connect() fails with EADDRNOTAVAIL. A range narrower than the kernel's default is
//! widened back to it (needs review: ports in the new span may be ones a service binds
//! later).

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Proposal, Report, Rule, Subject};
use crate::logs::{UpstreamErrorKind, UpstreamErrors};
use crate::observed::{Observed, netns};
use crate::policy::Want;
use crate::snapshot::Snapshot;

const RANGE: &str = "net.ipv4.ip_local_port_range";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The share of the port range (percent) one destination may hold before it is a finding.
    #[serde(default = "half")]
    pub share: u64,
}

fn half() -> u64 {
    50
}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let logged: Vec<&UpstreamErrors> = cx.snap.logs().map_or(Vec::new(), |l| {
            l.upstream_errors
                .iter()
                .filter(|e| e.kind == UpstreamErrorKind::AddrNotAvailable)
                .collect()
        });
        let mut cited = vec![false; logged.len()];
        // the kernel's default range, when known (live-sysctl-not-persisted's table)
        let default = cx.snap.kernel_default(RANGE).and_then(|d| parse_range(&d));
        let narrow = |r: [u32; 2]| default.is_some_and(|d| span(r) < span(d));
        let mut widen = false;
        if let Some(ev) = cx.snap.evidence() {
            for ns in &ev.namespaces {
                let range = if ns.caller {
                    planned_range(cx).or(ns.sysctls.ip_local_port_range)
                } else {
                    ns.sysctls.ip_local_port_range
                };
                let (Some([low, high]), Some(conns)) = (range, &ns.connections) else {
                    continue;
                };
                let span = u64::from(high.saturating_sub(low)) + 1;
                for d in &conns.destinations {
                    let held = d.time_wait + d.established;
                    if held * 100 < span * self.share {
                        continue;
                    }
                    widen |= ns.caller && narrow([low, high]);
                    // the log lines about the same destination, if any
                    let same: Vec<usize> = logged
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| crate::logs::upstream_is_listener(&e.upstream, &d.address))
                        .map(|(i, _)| i)
                        .collect();
                    for &i in &same {
                        cited[i] = true;
                    }
                    let reuse = ns.sysctls.tcp_tw_reuse;
                    out.report(rule, Subject::Key(RANGE), || {
                        let mut msg = format!(
                            "{}: {} sockets to {} ({} in TIME_WAIT, {} established) hold {}% of the {span} local ports ({RANGE} = {low} {high}): new connections to it fail with EADDRNOTAVAIL (99: Cannot assign requested address) once they run out; TIME_WAIT lasts 60 s, so about {} new connections a second is the most it sustains",
                            netns(ns),
                            held,
                            d.address,
                            d.time_wait,
                            d.established,
                            held * 100 / span,
                            span / 60,
                        );
                        let mut evidence = vec![Observed::Counter {
                            name: format!("TIME_WAIT to {}", d.address),
                            netns: ns.id,
                            value: Some(d.time_wait),
                            delta: None,
                            seconds: None,
                        }];
                        for &i in &same {
                            msg += &format!(
                                "; nginx's log shows it: {}",
                                super::upstream_errors::describe(cx.snap, logged[i], None)
                            );
                            evidence.push(super::upstream_errors::evidence(logged[i]));
                        }
                        let hostport = d.address.strip_prefix("tcp ").unwrap_or(&d.address);
                        msg += &remedies(cx.snap, hostport, reuse);
                        Report::new(msg, Vec::new())
                            .weight(held)
                            .evidence(evidence)
                    });
                }
            }
        }
        // log lines with no destination holding the range now: the incident has passed
        let live_range = planned_range(cx).or_else(|| cx.live(RANGE).and_then(parse_range));
        for (e, _) in logged.iter().zip(&cited).filter(|(_, c)| !**c) {
            widen |= live_range.is_some_and(narrow);
            out.report(rule, Subject::Key(RANGE), || {
                let now = live_range.map_or(String::new(), |[lo, hi]| {
                    format!(" ({RANGE} is {lo} {hi} now: {} ports)", hi.saturating_sub(lo) + 1)
                });
                let msg = format!(
                    "{}: no local port was free for it{now}",
                    super::upstream_errors::describe(cx.snap, e, None)
                ) + &remedies(
                    cx.snap,
                    &e.upstream,
                    cx.live("net.ipv4.tcp_tw_reuse")
                        .and_then(|v| v.trim().parse().ok()),
                );
                Report::new(msg, cx.snap.pass_locations(&e.upstream))
                    .weight(e.tally.count)
                    .evidence(vec![super::upstream_errors::evidence(e)])
            });
        }
        if let (true, Some([lo, hi])) = (widen, default)
            && !cx.waived(rule, Subject::Key(RANGE))
        {
            out.proposals.push(Proposal::Sysctl {
                key: RANGE.into(),
                want: Want {
                    exact: Some(format!("{lo} {hi}")),
                    ..Want::default()
                },
                safe: rule.safe,
                reason: rule.code.clone(),
            });
        }
    }

    fn proposes(&self) -> bool {
        true
    }

    fn live_keys(&self) -> Vec<String> {
        vec![RANGE.into(), "net.ipv4.tcp_tw_reuse".into()]
    }
}

fn parse_range(v: &str) -> Option<[u32; 2]> {
    let mut it = v.split_whitespace().map(|x| x.parse::<u32>().ok());
    Some([it.next()??, it.next()??])
}

/// The range this plan sets, when it sets one (rules judge the planned state).
fn planned_range(cx: &Context) -> Option<[u32; 2]> {
    cx.planned.get(RANGE).and_then(|v| parse_range(v))
}

fn span([low, high]: [u32; 2]) -> u32 {
    high.saturating_sub(low) + 1
}

/// The remedies in order, saying what nginx already does for this destination.
fn remedies(snap: &Snapshot, destination: &str, tw_reuse: Option<u32>) -> String {
    let mut passes = Vec::new();
    for n in &snap.services.facts.nginx {
        for p in n.passes_to(destination) {
            passes.push((p, n.reuses_connections(p)));
        }
    }
    let reuse = match passes.iter().find(|(_, reuses)| !reuses) {
        Some((p, _)) => format!(
            "reuse connections: nginx opens one per request through {} {} ({}:{}): give it an `upstream {{ server {destination}; keepalive 32; }}` with `proxy_http_version 1.1;` and `proxy_set_header Connection \"\";` (fastcgi: `fastcgi_keep_conn on;`)",
            p.directive, p.raw, p.at.path, p.at.line
        ),
        None if !passes.is_empty() => {
            "connection reuse (nginx's passes to it already keep connections: look at the other clients; pooling)".to_string()
        }
        None => "reuse connections (nginx `upstream { keepalive N; }` with `proxy_http_version 1.1` and an empty Connection header; pooling in the client)".to_string(),
    };
    format!(
        ". In order: {reuse}; a wider {RANGE}; then net.ipv4.tcp_tw_reuse = 1 for outgoing connections (it is {}); never tcp_tw_recycle (removed in Linux 4.12)",
        tw_reuse.map_or("unknown".into(), |r| r.to_string())
    )
}
