//! `service-not-running`: a configured service none of whose listeners has a socket in the
//! kernel: it is not running (or not listening). Nothing can be restarted for it, and a
//! backlog it asks for takes effect when it starts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject};
use crate::kernel::{Note, Proto, Unseen};
use crate::services::Listener;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let unseen = unseen_namespaces(cx);
        for (unit, ls) in stopped(cx) {
            let addresses: Vec<&str> = ls.iter().map(|l| l.address.as_str()).collect();
            out.report(rule, Subject::Listener(ls[0]), || {
                Report::new(
                    match unseen {
                        None => format!(
                            "{} ({unit}) is not running: no socket listens on {}; its backlog settings apply when it starts, and no restart is proposed",
                            ls[0].service,
                            addresses.join(", ")
                        ),
                        Some(n) => format!(
                            "{} ({unit}): no socket listens on {} in the network namespaces qfix could read, but {}: it may run in one of those (qfix as root sees them); no restart is proposed",
                            ls[0].service,
                            addresses.join(", "),
                            n.message
                        ),
                    },
                    ls.iter().filter_map(|l| cx.listener_loc(l)).take(3).collect(),
                )
            });
        }
    }
}

/// Why some network namespaces could not be read (not root), if so: a service may listen in
/// one of those, so "not running" would be a guess.
pub fn unseen_namespaces<'s>(cx: &Context<'s, '_>) -> Option<&'s Note> {
    cx.snap.evidence().and_then(|e| {
        e.notes
            .iter()
            .find(|n| matches!(n.what, Unseen::Processes | Unseen::Namespace))
    })
}

/// The units (and their listeners) with no socket at all, where sockets could be read.
pub fn stopped<'s>(cx: &Context<'s, '_>) -> BTreeMap<&'s str, Vec<&'s Listener>> {
    let mut units: BTreeMap<&str, (Vec<&Listener>, bool)> = BTreeMap::new();
    for l in cx.listeners() {
        let proto = if l.address.starts_with("unix ") {
            Proto::Unix
        } else {
            Proto::Tcp
        };
        // a unit listed as stopped only when every protocol it uses could be read
        let seen = cx.snap.sockets_seen(proto);
        let e = units.entry(&l.unit).or_insert((Vec::new(), true));
        e.0.push(l);
        e.1 &= seen && cx.snap.socket_of(l).is_none();
    }
    units
        .into_iter()
        .filter(|(_, (_, stopped))| *stopped)
        .map(|(u, (ls, _))| (u, ls))
        .collect()
}
