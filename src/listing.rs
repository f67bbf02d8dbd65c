//! `qfix listeners`: every configured listener with the backlog it asks for and the queue the
//! kernel gives it (live and at boot), computed from the snapshot.

use std::collections::BTreeMap;

use crate::limits::{SOMAXCONN, effective};
use crate::observed::Seen;
use crate::rules::{Context, Side};
use crate::services::Listener;
use crate::snapshot::Snapshot;

pub struct Row<'s> {
    pub listener: &'s Listener,
    /// min(requested, somaxconn) on each side: what listen() gives it (computed, not observed).
    pub effective_live: Option<i64>,
    pub effective_boot: Option<i64>,
    /// Its socket as the kernel holds it (observed), when the kernel's sockets were read.
    pub kernel: Option<Seen<'s>>,
}

pub struct Listing<'s> {
    /// somaxconn, live and at boot, with where each is set.
    pub somaxconn: Vec<Side>,
    pub rows: Vec<Row<'s>>,
    /// Listening sockets no configuration explains (service "unknown").
    pub unknown: Vec<Seen<'s>>,
    /// Whether the kernel's sockets were read at all.
    pub observed: bool,
    /// What could not be seen of the running system (as the plan's "not seen").
    pub notes: Vec<String>,
}

impl<'s> Listing<'s> {
    pub fn of(snap: &'s Snapshot) -> Listing<'s> {
        let (wants, planned) = (BTreeMap::new(), BTreeMap::new());
        let cx = Context {
            snap,
            wants: &wants,
            lower_backlog: false,
            planned: &planned,
        };
        let somaxconn = cx.sides(SOMAXCONN);
        let side = |name: &str| {
            somaxconn
                .iter()
                .find(|s| s.side == name)
                .and_then(|s| s.value)
        };
        let (live, boot) = (side("live"), side("boot"));
        let rows = snap
            .services
            .listeners
            .iter()
            .map(|l| {
                let kernel = snap.socket_of(l);
                // a socket in another network namespace (a container) is capped by that
                // namespace's somaxconn, not the host's
                let live = match kernel {
                    Some(seen) if !seen.ns.caller => seen.ns.sysctls.somaxconn.map(i64::from),
                    _ => live,
                };
                Row {
                    listener: l,
                    effective_live: l.requested.zip(live).map(|(r, s)| effective(r, s)),
                    effective_boot: l.requested.zip(boot).map(|(r, s)| effective(r, s)),
                    kernel,
                }
            })
            .collect();
        let unknown = snap
            .unknown_sockets()
            .into_iter()
            .map(|(ns, socket)| Seen { ns, socket })
            .collect();
        Listing {
            somaxconn,
            rows,
            unknown,
            observed: snap.evidence().is_some(),
            notes: snap.notes(),
        }
    }
}
