//! `conflicting-backlog`: several sockets of one service on one address ask for different
//! backlogs; only one listen() happens, so only one of them counts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, Subject};
use crate::services::Listener;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let mut by_socket: HashMap<(&str, &str), Vec<&Listener>> = HashMap::new();
        for l in cx.listeners() {
            by_socket
                .entry((&l.service, &l.address))
                .or_default()
                .push(l);
        }
        // a busy host has tens of thousands of sockets and a few shared ones: only those sorted
        let mut shared: Vec<_> = by_socket.into_iter().filter(|(_, ls)| ls.len() > 1).collect();
        shared.sort_unstable_by_key(|(k, _)| *k);
        for ((service, addr), ls) in shared {
            let mut values: Vec<i64> = ls.iter().filter_map(|l| l.requested).collect();
            values.sort();
            values.dedup();
            if values.len() > 1 {
                let locs = ls.iter().filter_map(|l| cx.listener_loc(l)).collect();
                let shown: Vec<String> = values.iter().map(i64::to_string).collect();
                out.report(rule, Subject::Listener(ls[0]), || (format!("{service}: {} sockets on {addr} ask for different backlogs ({}); only one listen() happens, so only one of them counts", ls.len(), shown.join(", ")), locs));
            }
        }
    }
}
