//! `pool-saturated`: php-fpm logged that a pool reached its max_children: every worker was
//! busy, so connections waited in the pool's accept queue. When nginx's connects to it also
//! failed with EAGAIN, the queue is too small *and* the workers too few: a bigger backlog
//! alone turns the 502s into waits, up to nginx's read timeout (then 504). The arithmetic is
//! shown where the figures are known: queue length, workers, the upstream's timeout.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Report, Rule, Subject, label};
use crate::logs::{MaxChildrenReached, UpstreamErrorKind};
use crate::observed::{self, Queue};
use crate::services::Location;
use crate::services::facts::{NginxPass, PhpFpmPool, Timeout};
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let Some(logs) = cx.snap.logs() else { return };
        let facts = &cx.snap.services.facts;
        for m in &logs.max_children {
            let pool = facts.php_fpm_pool_logging(&m.log, &m.pool).map(|(_, p)| p);
            let address = pool.and_then(|p| p.address.as_deref());
            let l = address.and_then(|a| {
                cx.listeners()
                    .iter()
                    .find(|l| l.service == "php-fpm" && l.address == a)
            });
            let upstream = address.map(upstream_name);
            let eagain: u64 = address.map_or(0, |a| {
                logs.upstream_errors
                    .iter()
                    .filter(|e| {
                        e.kind == UpstreamErrorKind::Eagain
                            && crate::logs::upstream_is_listener(&e.upstream, a)
                    })
                    .map(|e| e.tally.count)
                    .sum()
            });
            let timeout = upstream.as_deref().and_then(|u| first_timeout(cx.snap, u));
            let queue = l.and_then(|l| cx.snap.queue_of(l));
            let mut locations: Vec<Location> = Vec::new();
            if let Some(p) = pool {
                locations.push(p.max_children.as_ref().map_or(p.at.clone(), |s| s.at.clone()));
            }
            if let Some(at) = timeout.as_ref().and_then(|(_, t)| t.at.clone()) {
                locations.push(at);
            } else if let Some((pass, _)) = &timeout {
                locations.push(pass.at.clone());
            }
            let about = l.map_or(Subject::Host, Subject::Listener);
            out.report(rule, about, || {
                let who = match l {
                    Some(l) => label(l),
                    None => format!("php-fpm pool {}", m.pool),
                };
                let mut msg = format!(
                    "{who} reached {} ({}) {}{} ({}): every worker was busy",
                    m.setting,
                    m.max_children,
                    times(m.tally.count),
                    observed::log_when(&m.tally),
                    observed::log_at(&m.log, &m.tally),
                );
                if eagain > 0 {
                    msg += &format!(
                        ", and {eagain} connects to its socket failed with EAGAIN: the queue is too small and the workers are too few"
                    );
                } else {
                    msg += ": the workers are too few for the load";
                }
                msg += &arithmetic(m, pool, queue.as_ref(), timeout.as_ref(), l.and_then(|l| l.requested));
                Report::new(msg, locations)
                    .weight(m.tally.count + eagain)
                    .evidence(vec![observed::log(
                        &m.log,
                        &format!("server reached {} setting ({})", m.setting, m.max_children),
                        &m.tally,
                    )])
            });
        }
    }
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}

/// `unix /run/php/x.sock` -> `unix:/run/php/x.sock`; `tcp 127.0.0.1:9000` -> `127.0.0.1:9000`,
/// as nginx's error log names upstreams.
fn upstream_name(address: &str) -> String {
    match address.split_once(' ') {
        Some(("unix", path)) => format!("unix:{path}"),
        Some((_, hostport)) => hostport.to_string(),
        None => address.to_string(),
    }
}

/// The first nginx pass to the upstream, and its read timeout.
fn first_timeout<'s>(snap: &'s Snapshot, upstream: &str) -> Option<(&'s NginxPass, Timeout)> {
    snap.services.facts.nginx.iter().find_map(|n| {
        let pass = n.passes_to(upstream).into_iter().next()?;
        Some((pass, n.read_timeout(pass)))
    })
}

/// "fastcgi_read_timeout" for a fastcgi_pass, and so on.
fn timeout_name(pass: &NginxPass) -> String {
    if pass.stream {
        return "proxy_timeout".into();
    }
    let module = pass.directive.strip_suffix("_pass").unwrap_or("proxy");
    format!("{module}_read_timeout")
}

/// What a bigger queue buys with these workers: the last connection in a queue of Q waits for
/// Q / W requests per worker before its own, and nginx gives it T for the answer, so the
/// queue only holds while requests average under T x W / Q.
fn arithmetic(
    m: &MaxChildrenReached,
    pool: Option<&PhpFpmPool>,
    queue: Option<&Queue>,
    timeout: Option<&(&NginxPass, Timeout)>,
    requested: Option<i64>,
) -> String {
    let w = m.max_children.max(1);
    let mut s = String::from(". A bigger backlog alone turns the 502s into waits");
    let Some((pass, t)) = timeout else {
        s += " (no nginx pass to this pool was found to give the timeout)";
        return s;
    };
    let where_t = t
        .at
        .as_ref()
        .map_or("nginx's default".to_string(), |a| format!("{}:{}", a.path, a.line));
    s += &format!(
        ", up to nginx's {} {} ({where_t}), then 504",
        timeout_name(pass),
        t.raw
    );
    let Some(q) = queue else {
        return s;
    };
    let budget = |q: i64| t.millis as f64 * w as f64 / q.max(1) as f64;
    s += &format!(
        ". With {w} workers and a queue of {} ({}), the last connection queued waits behind {} requests per worker: it is answered in time only while requests average under {} x {w} / {} = {}",
        q.size,
        if q.how == "observed" { "observed" } else { &q.how },
        (q.size as u64).div_ceil(w),
        t.raw,
        q.size,
        ms(budget(q.size))
    );
    // the queue a raised somaxconn gives it: its own backlog, or somaxconn for -1
    let bigger = match requested {
        Some(r) if r > q.size => Some((r, format!("the {r} it asks for"))),
        Some(r) if r < 0 && q.size < DEFAULT_SOMAXCONN => Some((
            DEFAULT_SOMAXCONN,
            format!("{DEFAULT_SOMAXCONN} (backlog {r} with somaxconn {DEFAULT_SOMAXCONN}, the kernel's default since 5.4)"),
        )),
        _ => None,
    };
    if let Some((b, what)) = bigger {
        s += &format!(
            "; with a queue of {what}, under {}",
            ms(budget(b))
        );
    }
    if let Some(rt) = pool.and_then(|p| p.request_terminate_timeout.as_ref())
        && rt.value > 0
    {
        s += &format!(
            "; php-fpm ends a request after request_terminate_timeout {}s ({}:{})",
            rt.value, rt.at.path, rt.at.line
        );
    }
    s
}

const DEFAULT_SOMAXCONN: i64 = 4096;

fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}
