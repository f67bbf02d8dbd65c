//! `qfix watch`: the kernel's view of the listeners, refreshed: listeners by how full their
//! accept queue is, overflows per network namespace, TIME_WAIT per destination, and nginx's
//! upstream errors (EAGAIN...) logged since the previous frame. `view` is a pure function of
//! two readings, the lines logged between them and the configured listeners (to name
//! services); `render` lays it out for an 80-column terminal; the loop and the terminal
//! live in the CLI.

use schemars::JsonSchema;
use serde::Serialize;

use crate::kernel::{Evidence, Sample};
use crate::logs::follow::RecentErrors;
use crate::services::Listener;

/// How many rows of each table a frame shows.
const ROWS: usize = 12;

/// One sample of the watch, as `qfix watch --once --format json` prints it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct View {
    pub format_version: u32,
    /// Seconds between the two readings the rates come from.
    pub seconds: f64,
    /// Listening sockets, the fullest queue first.
    pub listeners: Vec<WatchedListener>,
    pub namespaces: Vec<WatchedNamespace>,
    /// Outgoing destinations, the most TIME_WAIT first.
    pub destinations: Vec<WatchedDestination>,
    /// nginx's upstream errors logged during the sample (EAGAIN, refused...), the most first.
    pub upstream_errors: Vec<RecentErrors>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WatchedListener {
    pub address: String,
    /// The configured service it belongs to, or "unknown".
    pub service: String,
    pub process: Option<String>,
    pub netns: Option<u64>,
    /// Send-Q and Recv-Q.
    pub backlog: Option<u32>,
    pub queue: Option<u32>,
    /// queue / backlog, in percent (over 100 when full: the queue holds backlog + 1).
    pub fill: Option<u32>,
    /// Connections dropped at it during the sample (`seconds` long), not the running total
    /// `qfix listeners` shows.
    pub drops: Option<u64>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WatchedNamespace {
    pub netns: Option<u64>,
    pub somaxconn: Option<u32>,
    /// Rises of TcpExt ListenOverflows and ListenDrops during the sample.
    pub listen_overflows: Option<u64>,
    pub listen_drops: Option<u64>,
    pub time_wait: Option<u64>,
    pub established: Option<u64>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WatchedDestination {
    pub address: String,
    pub netns: Option<u64>,
    pub time_wait: u64,
    pub established: u64,
}

/// The view of `now`, with the rates of `sample` (from the reading before it).
pub fn view(
    now: &Evidence,
    sample: &Sample,
    logged: Vec<RecentErrors>,
    configured: &[Listener],
) -> View {
    let mut listeners = Vec::new();
    for ns in &now.namespaces {
        let delta = sample.namespaces.iter().find(|d| d.id == ns.id);
        for s in &ns.listeners {
            let service = configured
                .iter()
                .find(|l| crate::kernel::serves(&s.address, s.v6only, &l.address).is_some())
                .map_or("unknown".to_string(), |l| l.service.to_string());
            let fill = match (s.queue, s.backlog) {
                (Some(q), Some(b)) if b > 0 => Some(q.saturating_mul(100) / b),
                _ => None,
            };
            let drops = delta.and_then(|d| {
                d.listeners
                    .iter()
                    .find(|l| l.inode == s.inode && l.address == s.address)
                    .and_then(|l| l.drops)
            });
            listeners.push(WatchedListener {
                address: s.address.clone(),
                service,
                process: s.process.clone(),
                netns: ns.id,
                backlog: s.backlog,
                queue: s.queue,
                fill,
                drops,
            });
        }
    }
    listeners.sort_by(|a, b| (b.fill, b.drops, &a.address).cmp(&(a.fill, a.drops, &b.address)));
    let namespaces = now
        .namespaces
        .iter()
        .map(|ns| {
            let delta = sample.namespaces.iter().find(|d| d.id == ns.id);
            WatchedNamespace {
                netns: ns.id,
                somaxconn: ns.sysctls.somaxconn,
                listen_overflows: delta.and_then(|d| d.counters.listen_overflows),
                listen_drops: delta.and_then(|d| d.counters.listen_drops),
                time_wait: ns.connections.as_ref().map(|c| c.time_wait),
                established: ns.connections.as_ref().map(|c| c.established),
            }
        })
        .collect();
    let mut destinations: Vec<WatchedDestination> = now
        .namespaces
        .iter()
        .flat_map(|ns| {
            ns.connections
                .iter()
                .flat_map(|c| c.destinations.iter())
                .map(|d| WatchedDestination {
                    address: d.address.clone(),
                    netns: ns.id,
                    time_wait: d.time_wait,
                    established: d.established,
                })
        })
        .collect();
    destinations.sort_by(|a, b| {
        b.time_wait
            .cmp(&a.time_wait)
            .then(a.address.cmp(&b.address))
    });
    View {
        format_version: crate::output::json::FORMAT_VERSION,
        seconds: sample.seconds,
        listeners,
        namespaces,
        destinations,
        upstream_errors: logged,
    }
}

/// The view as lines of at most `width` columns.
pub fn render(v: &View, title: &str, width: usize) -> Vec<String> {
    let fit = |s: String| -> String {
        if s.chars().count() <= width {
            s
        } else {
            s.chars()
                .take(width.saturating_sub(1))
                .chain(['…'])
                .collect()
        }
    };
    let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut out = vec![fit(title.to_string()), String::new()];
    out.push(fit(format!(
        "{:<34} {:<10} {:>13} {:>6} {:>8}",
        "LISTENER", "SERVICE", "QUEUE/BACKLOG", "FILL", "DROPS/s"
    )));
    for l in v.listeners.iter().take(ROWS) {
        let q = format!(
            "{}/{}",
            l.queue.map_or("-".into(), |q| q.to_string()),
            l.backlog.map_or("-".into(), |b| b.to_string())
        );
        let service = match (&l.service[..], &l.process) {
            ("unknown", Some(p)) => p.clone(),
            (s, _) => s.to_string(),
        };
        out.push(fit(format!(
            "{:<34} {:<10} {:>13} {:>6} {:>8}",
            cut(&l.address, 34),
            cut(&service, 10),
            q,
            l.fill.map_or("-".into(), |f| format!("{f}%")),
            rate(l.drops, v.seconds)
        )));
    }
    if v.listeners.len() > ROWS {
        out.push(format!("  ... and {} more", v.listeners.len() - ROWS));
    }
    out.push(String::new());
    out.push(fit(format!(
        "{:<16} {:>9} {:>14} {:>12} {:>10} {:>8}",
        "NETNS", "SOMAXCONN", "OVERFLOWS/s", "DROPS/s", "TIME_WAIT", "ESTAB"
    )));
    for ns in &v.namespaces {
        out.push(fit(format!(
            "{:<16} {:>9} {:>14} {:>12} {:>10} {:>8}",
            n(ns.netns),
            ns.somaxconn.map_or("-".into(), |s| s.to_string()),
            rate(ns.listen_overflows, v.seconds),
            rate(ns.listen_drops, v.seconds),
            n(ns.time_wait),
            n(ns.established)
        )));
    }
    if !v.destinations.is_empty() {
        out.push(String::new());
        out.push(fit(format!(
            "{:<44} {:>10} {:>8}",
            "DESTINATION", "TIME_WAIT", "ESTAB"
        )));
        for d in v.destinations.iter().take(ROWS / 2) {
            out.push(fit(format!(
                "{:<44} {:>10} {:>8}",
                cut(&d.address, 44),
                d.time_wait,
                d.established
            )));
        }
    }
    if !v.upstream_errors.is_empty() {
        out.push(String::new());
        out.push(fit(format!(
            "{:<44} {:<18} {:>8}",
            "UPSTREAM (nginx error log)", "ERROR", "PER s"
        )));
        for e in v.upstream_errors.iter().take(ROWS / 2) {
            let kind = serde_json::to_value(e.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_string))
                .unwrap_or_default();
            out.push(fit(format!(
                "{:<44} {:<18} {:>8}",
                cut(&e.upstream, 44),
                kind,
                rate(Some(e.count), v.seconds)
            )));
        }
    }
    out
}

/// `s` cut to `n` columns, its end marked.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// A count over the sample as a rate per second.
fn rate(count: Option<u64>, seconds: f64) -> String {
    match count {
        Some(c) if seconds > 0.0 => format!("{:.0}", c as f64 / seconds),
        Some(c) => c.to_string(),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{KernelListener, ListenerDelta, Namespace, NamespaceDelta};

    fn ev() -> (Evidence, Sample) {
        let listener = |addr: &str, backlog, queue, inode| KernelListener {
            address: addr.into(),
            backlog: Some(backlog),
            queue: Some(queue),
            inode,
            process: Some("python3".into()),
            ..KernelListener::default()
        };
        let now = Evidence {
            namespaces: vec![Namespace {
                id: Some(7),
                caller: true,
                listeners: vec![
                    listener("tcp 127.0.0.1:6379", 511, 3, 1),
                    listener("tcp 127.0.0.1:7070-with-a-long-address-beyond", 8, 9, 2),
                ],
                ..Namespace::default()
            }],
            ..Evidence::default()
        };
        let sample = Sample {
            seconds: 2.0,
            namespaces: vec![NamespaceDelta {
                id: Some(7),
                listeners: vec![ListenerDelta {
                    address: "tcp 127.0.0.1:7070-with-a-long-address-beyond".into(),
                    inode: 2,
                    drops: Some(40),
                    ..ListenerDelta::default()
                }],
                ..NamespaceDelta::default()
            }],
        };
        (now, sample)
    }

    #[test]
    fn the_fullest_queue_comes_first_and_drops_are_rates() {
        let (now, sample) = ev();
        let logged = vec![RecentErrors {
            upstream: "unix:/run/php/php8.2-fpm.sock".into(),
            kind: crate::logs::UpstreamErrorKind::Eagain,
            count: 338,
        }];
        let v = view(&now, &sample, logged, &[]);
        assert_eq!(v.listeners[0].fill, Some(112));
        assert_eq!(v.listeners[0].drops, Some(40));
        assert_eq!(v.listeners[1].address, "tcp 127.0.0.1:6379");
        let lines = render(&v, "qfix watch", 80);
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:#?}");
        let row = lines.iter().find(|l| l.contains("9/8")).unwrap();
        assert!(
            row.contains("112%") && row.trim_end().ends_with("20"),
            "{row}"
        );
        let row = lines.iter().find(|l| l.contains("php8.2-fpm")).unwrap();
        assert!(
            row.contains("eagain") && row.trim_end().ends_with("169"),
            "{row}"
        );
    }
}
