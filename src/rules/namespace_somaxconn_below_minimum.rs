//! `namespace-somaxconn-below-minimum`: listeners in another network namespace (a container)
//! capped by that namespace's own somaxconn, which the host's sysctl files do not reach: a
//! new namespace starts at the kernel's compiled default, not the host's value. The fix is the
//! container's setting.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject};
use crate::limits::SOMAXCONN;
use crate::observed::{netns, socket};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let Some(ev) = cx.snap.evidence() else { return };
        let min = cx.snap.policy.min_somaxconn.value;
        for ns in ev.namespaces.iter().filter(|n| !n.caller) {
            let Some(som) = ns.sysctls.somaxconn else {
                continue;
            };
            if i64::from(som) >= min {
                continue;
            }
            // listeners whose queue is exactly the cap: they asked for more, or for -1
            let capped: Vec<_> = ns
                .listeners
                .iter()
                .filter(|s| s.backlog == Some(som))
                .collect();
            let Some(first) = capped.first() else {
                continue;
            };
            let who = match (&first.process, ns.pid) {
                (Some(p), Some(pid)) => format!("{p} (pid {pid})"),
                (None, Some(pid)) => format!("pid {pid}"),
                _ => "its processes".to_string(),
            };
            let addrs: Vec<&str> = capped.iter().map(|s| s.address.as_str()).take(3).collect();
            out.report(rule, Subject::Key(SOMAXCONN), || {
                Report::new(
                    format!(
                        "{} ({who}): {SOMAXCONN} is {som} there, below the minimum {min}, and caps {} listener(s) ({}); the host's sysctl files do not reach this namespace: set it for the container: `docker run --sysctl {SOMAXCONN}={min}`, compose `sysctls: {{{SOMAXCONN}: {min}}}`, or Kubernetes pod `securityContext.sysctls` (an unsafe sysctl there: the kubelet needs --allowed-unsafe-sysctls={SOMAXCONN})",
                        netns(ns),
                        capped.len(),
                        addrs.join(", ")
                    ),
                    Vec::new(),
                )
                .evidence(capped.iter().map(|s| socket(ns, s)).collect())
            });
        }
    }
}
