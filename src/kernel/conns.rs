//! Counting established and TIME_WAIT sockets without keeping them: each socket of a dump is
//! folded into a count per destination as it arrives, and only the top destinations leave.
//!
//! A socket whose local port is one of the namespace's TCP listening ports is the server end
//! of an inbound connection: it is counted per local port (its remote ports are clients'
//! ephemeral ports, one key each, and say nothing about this host's port use). Every other
//! socket is the client end of an outgoing connection and is counted per remote address and
//! port: that is where ephemeral ports run out. The split assumes listening ports lie outside
//! the ephemeral range (as services' ports do): a listener bound, with SO_REUSEADDR, to a
//! port some client socket also uses makes that client socket count as inbound.

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Connections, Destination, InboundPort, address};

#[derive(Debug, Default)]
pub struct Counter {
    top: usize,
    listen_ports: FxHashSet<u16>,
    outgoing: FxHashMap<(IpAddr, u16), [u64; 2]>,
    inbound: FxHashMap<u16, [u64; 2]>,
    time_wait: u64,
    established: u64,
}

impl Counter {
    pub fn new(top: usize, listen_ports: FxHashSet<u16>) -> Counter {
        Counter {
            top,
            listen_ports,
            ..Counter::default()
        }
    }

    /// One socket; `time_wait` false means ESTABLISHED.
    pub fn add(&mut self, time_wait: bool, local_port: u16, remote: IpAddr, remote_port: u16) {
        let i = usize::from(!time_wait);
        if time_wait {
            self.time_wait += 1;
        } else {
            self.established += 1;
        }
        if self.listen_ports.contains(&local_port) {
            self.inbound.entry(local_port).or_default()[i] += 1;
        } else {
            // an IPv4 peer reached through a dual-stack socket uses the same ports
            let remote = match remote {
                IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
                v4 => v4,
            };
            self.outgoing.entry((remote, remote_port)).or_default()[i] += 1;
        }
    }

    /// The totals and the top destinations: the `top` with most TIME_WAIT sockets and the
    /// `top` with most established ones (at most 2 × top entries), most TIME_WAIT first.
    pub fn finish(self) -> Connections {
        let top = self.top;
        let distinct = self.outgoing.len() as u64;
        let outgoing: Vec<((IpAddr, u16), [u64; 2])> = self.outgoing.into_iter().collect();
        let destinations = top_of(outgoing, top)
            .into_iter()
            .map(|((ip, port), [tw, est])| Destination {
                address: address::tcp_address(ip, port),
                time_wait: tw,
                established: est,
            })
            .collect();
        let inbound: Vec<(u16, [u64; 2])> = self.inbound.into_iter().collect();
        let inbound = top_of(inbound, top)
            .into_iter()
            .map(|(port, [tw, est])| InboundPort {
                port,
                time_wait: tw,
                established: est,
            })
            .collect();
        Connections {
            time_wait: self.time_wait,
            established: self.established,
            destinations,
            distinct_destinations: distinct,
            inbound,
        }
    }
}

/// The union of the `n` largest by TIME_WAIT and the `n` largest by established, sorted by
/// TIME_WAIT, then established, then key (a stable order for snapshots).
fn top_of<K: Ord + Copy>(mut v: Vec<(K, [u64; 2])>, n: usize) -> Vec<(K, [u64; 2])> {
    let by = |i: usize| {
        move |a: &(K, [u64; 2]), b: &(K, [u64; 2])| b.1[i].cmp(&a.1[i]).then(a.0.cmp(&b.0))
    };
    let mut keep: Vec<(K, [u64; 2])> = Vec::with_capacity(2 * n);
    let len = v.len();
    let k = n.min(len);
    for i in [0, 1] {
        if len > n && n > 0 {
            v.select_nth_unstable_by(n - 1, by(i));
        }
        v[..k].sort_unstable_by(by(i));
        for e in v.iter().take(n) {
            if e.1[i] > 0 && !keep.iter().any(|k| k.0 == e.0) {
                keep.push(*e);
            }
        }
    }
    keep.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn counts_per_destination_and_keeps_only_the_top() {
        let mut c = Counter::new(2, [80u16].into_iter().collect());
        for p in 0..500u16 {
            c.add(true, 40000 + p, ip("10.0.0.1"), 6379);
        }
        for p in 0..30u16 {
            c.add(true, 30000 + p, ip("::ffff:10.0.0.2"), 5432);
        }
        for p in 0..10u16 {
            c.add(false, 20000 + p, ip("10.0.0.3"), 3306);
        }
        c.add(true, 20000, ip("10.0.0.4"), 11211);
        // inbound: the server side of clients' connections to port 80
        for p in 0..100u16 {
            c.add(false, 80, ip("192.0.2.7"), 50000 + p);
        }
        let r = c.finish();
        assert_eq!((r.time_wait, r.established), (531, 110));
        assert_eq!(r.distinct_destinations, 4);
        let got: Vec<(&str, u64, u64)> = r
            .destinations
            .iter()
            .map(|d| (d.address.as_str(), d.time_wait, d.established))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tcp 10.0.0.1:6379", 500, 0),
                ("tcp 10.0.0.2:5432", 30, 0),
                ("tcp 10.0.0.3:3306", 0, 10),
            ]
        );
        assert_eq!(
            r.inbound,
            vec![InboundPort {
                port: 80,
                time_wait: 0,
                established: 100
            }]
        );
    }

    #[test]
    fn a_hundred_thousand_sockets_leave_only_totals_and_top() {
        let mut c = Counter::new(5, FxHashSet::default());
        for i in 0..100_000u32 {
            let a = IpAddr::V4((0x0a00_0000 + i % 1000).into());
            c.add(i % 3 != 0, (i % 60000) as u16, a, 443);
        }
        let r = c.finish();
        assert_eq!(r.time_wait + r.established, 100_000);
        assert_eq!(r.distinct_destinations, 1000);
        assert!(r.destinations.len() <= 10);
    }
}
