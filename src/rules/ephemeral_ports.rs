//! `ephemeral-ports`: one destination holds a large share of the local port range in
//! TIME_WAIT (and established) sockets: short connections without reuse run the range out,
//! and connect() fails with EADDRNOTAVAIL, "(99: Cannot assign requested address)".

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject};
use crate::observed::{Observed, netns};

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
        let Some(ev) = cx.snap.evidence() else { return };
        for ns in &ev.namespaces {
            let (Some([low, high]), Some(conns)) = (ns.sysctls.ip_local_port_range, &ns.connections)
            else {
                continue;
            };
            let span = u64::from(high.saturating_sub(low)) + 1;
            for d in &conns.destinations {
                let held = d.time_wait + d.established;
                if held * 100 < span * self.share {
                    continue;
                }
                let reuse = ns.sysctls.tcp_tw_reuse;
                out.report(rule, Subject::Key(RANGE), || {
                    Report::new(
                        format!(
                            "{}: {} sockets to {} ({} in TIME_WAIT, {} established) hold {}% of the {span} local ports ({RANGE} = {low} {high}): new connections to it fail with EADDRNOTAVAIL (99: Cannot assign requested address) once they run out; TIME_WAIT lasts 60 s, so about {} new connections a second is the most it sustains. In order: reuse connections (nginx `upstream {{ keepalive N; }}` with `proxy_http_version 1.1` and an empty Connection header; pooling in the client), a wider {RANGE}, then net.ipv4.tcp_tw_reuse = 1 for outgoing connections (it is {}); never tcp_tw_recycle (removed in Linux 4.12)",
                            netns(ns),
                            held,
                            d.address,
                            d.time_wait,
                            d.established,
                            held * 100 / span,
                            span / 60,
                            reuse.map_or("unknown".into(), |r| r.to_string()),
                        ),
                        Vec::new(),
                    )
                    .weight(held)
                    .evidence(vec![Observed::Counter {
                        name: format!("TIME_WAIT to {}", d.address),
                        netns: ns.id,
                        value: Some(d.time_wait),
                        delta: None,
                        seconds: None,
                    }])
                });
            }
        }
    }
}
