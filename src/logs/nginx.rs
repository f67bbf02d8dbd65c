//! nginx's error-log lines about upstreams (nginx 1.22, checked against the daemon: see
//! tests/logs/capture.sh and the lines it kept in tests/logs/captured/):
//!
//! ```text
//! 2026/12/04 12:23:18 [error] 131#131: *5 connect() to unix:/run/php/php8.2-fpm.sock failed (11: Resource temporarily unavailable) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /slow.php HTTP/1.0", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "127.0.0.1:8080"
//! 2026/12/04 12:24:37 [error] 131#131: *9 connect() failed (111: Connection refused) while connecting to upstream, ..., upstream: "http://127.0.0.1:9/refused", ...
//! 2026/12/04 12:27:05 [crit] 131#131: *1030 connect() to 127.0.0.1:9200 failed (99: Cannot assign requested address) while connecting to upstream, ...
//! 2026/12/04 12:25:04 [error] 131#131: *11 upstream timed out (110: Connection timed out) while reading response header from upstream, ...
//! 2026/12/04 12:24:37 [error] 131#131: *10 no live upstreams while connecting to upstream, ..., upstream: "http://nothing/refused", ...
//! ```
//!
//! `connect() to PEER failed` is logged when connect() itself fails (src/event/
//! ngx_event_connect.c: EAGAIN from a full unix socket, EADDRNOTAVAIL when no local port is
//! free); `connect() failed` when a TCP connect in progress is refused later
//! (ngx_http_upstream.c `ngx_http_upstream_test_connect`): then only the `upstream:` field
//! names the peer, `SCHEME://PEER` + (`:` for unix) + URI (ngx_http_request.c
//! `ngx_http_log_error_handler`). A stream proxy's `upstream:` field has no scheme.

use serde::{Deserialize, Serialize};

/// What went wrong with an upstream.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamErrorKind {
    /// `(11: Resource temporarily unavailable)`: a unix socket's accept queue was full.
    Eagain,
    /// `(111: Connection refused)`: nothing listens (or, on TCP with tcp_abort_on_overflow
    /// = 1, a full queue).
    Refused,
    /// `(99: Cannot assign requested address)`: no free local port for the connection.
    AddrNotAvailable,
    /// `upstream timed out (110: ...)`: while connecting (a SYN unanswered: a full TCP
    /// queue) or while waiting for the answer (the read timeout: slow or saturated workers).
    TimedOut,
    /// `no live upstreams`: every server of the upstream block is marked failed.
    NoLiveUpstreams,
    /// Any other `connect() ... failed (N: ...)`, e.g. `(2: No such file or directory)` for
    /// a socket that does not exist.
    ConnectFailed,
}

/// One line's upstream error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub kind: UpstreamErrorKind,
    pub errno: Option<i32>,
    /// `unix:/path`, `host:port`, or an upstream block's name (no live upstreams).
    pub upstream: String,
    /// From the `upstream:` field: `fastcgi`, `http`...; `None` when absent (stream).
    pub scheme: Option<&'a str>,
    /// What nginx was doing: `connecting to upstream`, `reading response header from
    /// upstream`...
    pub action: Option<&'a str>,
}

/// Bytes every line of interest holds, for skipping the others unparsed.
pub const NEEDLE: &[u8] = b"upstream";

/// The upstream error a message (the line after any syslog prefix) reports, if any.
pub fn parse(msg: &str) -> Option<Event<'_>> {
    let (kind, errno, peer) = if let Some(i) = msg.find("connect() to ") {
        let rest = &msg[i + "connect() to ".len()..];
        let end = rest.find(" failed (")?;
        let errno = errno_at(&rest[end + " failed (".len()..])?;
        (connect_kind(errno), Some(errno), Some(&rest[..end]))
    } else if let Some(i) = msg.find("connect() failed (") {
        let errno = errno_at(&msg[i + "connect() failed (".len()..])?;
        (connect_kind(errno), Some(errno), None)
    } else if let Some(i) = msg.find("upstream timed out (") {
        let errno = errno_at(&msg[i + "upstream timed out (".len()..]);
        (UpstreamErrorKind::TimedOut, errno, None)
    } else if msg.contains("no live upstreams") {
        (UpstreamErrorKind::NoLiveUpstreams, None, None)
    } else {
        return None;
    };
    let field = field(msg);
    let (scheme, from_field) = match field {
        Some(f) => {
            let (s, p) = split_field(f);
            (s, Some(p))
        }
        None => (None, None),
    };
    let upstream = peer.or(from_field)?.to_string();
    Some(Event {
        kind,
        errno,
        upstream,
        scheme,
        action: action(msg),
    })
}

fn connect_kind(errno: i32) -> UpstreamErrorKind {
    match errno {
        11 => UpstreamErrorKind::Eagain,
        111 => UpstreamErrorKind::Refused,
        99 => UpstreamErrorKind::AddrNotAvailable,
        110 => UpstreamErrorKind::TimedOut,
        _ => UpstreamErrorKind::ConnectFailed,
    }
}

/// `N: text)` → N.
fn errno_at(s: &str) -> Option<i32> {
    let end = s.find(':')?;
    s[..end].parse().ok()
}

/// The `upstream: "..."` field's value.
fn field(msg: &str) -> Option<&str> {
    let i = msg.rfind(", upstream: \"")?;
    let v = &msg[i + ", upstream: \"".len()..];
    Some(&v[..v.find('"')?])
}

/// `fastcgi://unix:/path:` → (fastcgi, unix:/path); `http://127.0.0.1:9/x` → (http,
/// 127.0.0.1:9); `127.0.0.1:8080` (stream) → (None, 127.0.0.1:8080).
fn split_field(v: &str) -> (Option<&str>, &str) {
    let (scheme, rest) = match v.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, v),
    };
    if let Some(path) = rest.strip_prefix("unix:") {
        // the path ends at the separator nginx puts before the URI
        let end = path.find(':').map_or(rest.len(), |i| "unix:".len() + i);
        return (scheme, &rest[..end]);
    }
    let end = match scheme {
        Some(_) => rest.find('/').unwrap_or(rest.len()),
        None => rest.len(),
    };
    (scheme, &rest[..end])
}

/// ` while ACTION, client: ...` → ACTION.
fn action(msg: &str) -> Option<&str> {
    let i = msg
        .find(") while ")
        .map(|i| i + ") while ".len())
        .or_else(|| {
            msg.find("no live upstreams while ")
                .map(|i| i + "no live upstreams while ".len())
        })?;
    let rest = &msg[i..];
    Some(&rest[..rest.find(", ").unwrap_or(rest.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = include_str!("../../tests/logs/captured/error.log");

    fn ev(
        kind: UpstreamErrorKind,
        errno: Option<i32>,
        upstream: &str,
        scheme: Option<&'static str>,
        action: &'static str,
    ) -> Event<'static> {
        Event {
            kind,
            errno,
            upstream: upstream.into(),
            scheme,
            action: Some(action),
        }
    }

    /// Each kind of line nginx wrote in the capture, parsed.
    #[test]
    fn real_lines() {
        let first = |needle: &str| {
            CAPTURED
                .lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle} in the capture"))
        };
        let sock = first("(11: ")
            .split("connect() to ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        assert!(sock.starts_with("unix:/tmp/qfix-capture."), "{sock}");
        assert_eq!(
            parse(first("(11: ")),
            Some(ev(
                UpstreamErrorKind::Eagain,
                Some(11),
                &sock,
                Some("fastcgi"),
                "connecting to upstream"
            ))
        );
        assert_eq!(
            parse(first("(111: ")),
            Some(ev(
                UpstreamErrorKind::Refused,
                Some(111),
                "127.0.0.1:9",
                Some("http"),
                "connecting to upstream"
            ))
        );
        assert_eq!(
            parse(first("(99: ")),
            Some(ev(
                UpstreamErrorKind::AddrNotAvailable,
                Some(99),
                "127.0.0.1:9200",
                Some("http"),
                "connecting to upstream"
            ))
        );
        assert_eq!(
            parse(first("upstream timed out")),
            Some(ev(
                UpstreamErrorKind::TimedOut,
                Some(110),
                "127.0.0.1:9100",
                Some("http"),
                "reading response header from upstream"
            ))
        );
        assert_eq!(
            parse(first("no live upstreams")),
            Some(ev(
                UpstreamErrorKind::NoLiveUpstreams,
                None,
                "nothing",
                Some("http"),
                "connecting to upstream"
            ))
        );
        // every line of the capture is about an upstream
        assert!(CAPTURED.lines().all(|l| parse(l).is_some()));
        // as many as grep finds (169 in the committed capture)
        assert_eq!(
            CAPTURED
                .lines()
                .filter_map(parse)
                .filter(|e| e.kind == UpstreamErrorKind::Eagain)
                .count(),
            CAPTURED
                .matches("(11: Resource temporarily unavailable)")
                .count()
        );
    }

    #[test]
    fn other_forms() {
        // a stream proxy: no scheme in the upstream field
        let l = "2026/12/04 12:00:00 [error] 7#7: *3 connect() failed (111: Connection refused) \
                 while connecting to upstream, client: 127.0.0.1, server: 0.0.0.0:5432, \
                 upstream: \"10.0.0.3:5432\", bytes from/to client:0/0, bytes from/to upstream:0/0";
        let e = parse(l).unwrap();
        assert_eq!((e.upstream.as_str(), e.scheme), ("10.0.0.3:5432", None));
        // a missing socket, IPv6
        let l = "2026/12/04 12:00:00 [crit] 7#7: *3 connect() to unix:/run/php/x.sock failed \
                 (2: No such file or directory) while connecting to upstream, client: ::1";
        let e = parse(l).unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::ConnectFailed);
        assert_eq!(e.errno, Some(2));
        assert_eq!(e.upstream, "unix:/run/php/x.sock");
        let l = "2026/12/04 12:00:00 [error] 7#7: *3 upstream timed out (110: Connection timed \
                 out) while connecting to upstream, client: ::1, upstream: \"http://[::1]:81/\"";
        assert_eq!(parse(l).unwrap().upstream, "[::1]:81");
        // proxy_pass to a unix socket with a URI
        assert_eq!(
            split_field("http://unix:/run/app.sock:/x/y"),
            (Some("http"), "unix:/run/app.sock")
        );
        // other error lines
        assert_eq!(
            parse("2026/12/04 12:00:00 [error] 7#7: open() \"/x\" failed"),
            None
        );
        assert_eq!(parse("upstream prematurely closed connection"), None);
        assert_eq!(parse("connect() to x failed (zz: bad)"), None);
    }
}
