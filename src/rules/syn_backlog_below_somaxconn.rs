//! `syn-backlog-below-somaxconn`: with SYN cookies off, tcp_max_syn_backlog below somaxconn
//! drops SYNs before the accept queue fills.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, Subject};
use crate::limits::{SOMAXCONN, SYN_BACKLOG, SYNCOOKIES};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let cookies = cx.sides(SYNCOOKIES);
        if !cookies.iter().any(|s| s.value == Some(0)) {
            return;
        }
        let syn = cx.sides(SYN_BACKLOG);
        let som = cx.sides(SOMAXCONN);
        let target = som.iter().filter_map(|s| s.value).max();
        for (s, m) in syn.iter().zip(som.iter()) {
            if let (Some(sv), Some(mv)) = (s.value, m.value) {
                if sv < mv {
                    let locs = s.at.iter().chain(m.at.iter()).cloned().collect();
                    out.report(rule, Subject::Key(SYN_BACKLOG), || (format!("{SYN_BACKLOG} ({}) is {sv}, below {SOMAXCONN} {mv}, and tcp_syncookies is 0: SYNs are dropped before the accept queue fills", s.side), locs));
                }
            }
        }
        if let Some(t) = target.filter(|_| !cx.waived(rule, Subject::Key(SYN_BACKLOG))) {
            if syn.iter().any(|s| s.value.is_some_and(|v| v < t)) {
                out.raise(SYN_BACKLOG, t, rule);
            }
        }
    }

    fn proposes(&self) -> bool {
        true
    }

    fn live_keys(&self) -> Vec<String> {
        vec![SOMAXCONN.into(), SYN_BACKLOG.into(), SYNCOOKIES.into()]
    }
}
