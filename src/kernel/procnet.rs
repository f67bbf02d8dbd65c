//! The text tables under /proc/PID/net: the fallback when sock_diag cannot be used, and the
//! namespace's counters (netstat, snmp), which exist only there.
//!
//! /proc/net/tcp shows a listener's current accept queue (`rx_queue` = `sk_ack_backlog`) but
//! never its limit; /proc/net/unix shows no queue figures at all.

use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Counters;

/// `TCP_LISTEN`, `TCP_ESTABLISHED`, `TCP_TIME_WAIT` as the `st` column shows them.
pub const ST_ESTABLISHED: u8 = 0x01;
pub const ST_TIME_WAIT: u8 = 0x06;
pub const ST_LISTEN: u8 = 0x0A;

/// One line of /proc/net/tcp or tcp6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLine {
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    pub state: u8,
    /// LISTEN: the current accept queue.
    pub rx_queue: u32,
    pub uid: u32,
    pub inode: u64,
}

/// Parse one data line of /proc/net/tcp{,6}: `sl local rem st tx:rx tr:when retr uid timeout
/// inode ...`. Addresses are the kernel's words printed in host byte order.
pub fn parse_tcp_line(line: &str) -> Option<TcpLine> {
    let mut it = line.split_ascii_whitespace();
    let sl = it.next()?;
    if !sl.ends_with(':') {
        return None; // the header line
    }
    let (local, local_port) = hex_addr(it.next()?)?;
    let (remote, remote_port) = hex_addr(it.next()?)?;
    let state = u8::from_str_radix(it.next()?, 16).ok()?;
    let (_, rx) = it.next()?.split_once(':')?;
    let rx_queue = u32::from_str_radix(rx, 16).ok()?;
    let _timer = it.next()?;
    let _retr = it.next()?;
    let uid = it.next()?.parse().ok()?;
    let _timeout = it.next()?;
    let inode = it.next()?.parse().ok()?;
    Some(TcpLine {
        local,
        local_port,
        remote,
        remote_port,
        state,
        rx_queue,
        uid,
        inode,
    })
}

/// "0100007F:1F90" -> 127.0.0.1:8080 (on a little-endian host); 32 hex digits for IPv6.
fn hex_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = a.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(w, 16).ok()?.to_ne_bytes())
    };
    let ip = match a.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Stream the lines of a /proc/net/tcp-like file to `f` without keeping them.
pub fn each_tcp_line(r: impl BufRead, mut f: impl FnMut(TcpLine)) -> io::Result<()> {
    each_line(r, |l| {
        if let Some(t) = parse_tcp_line(l) {
            f(t)
        }
    })
}

fn each_line(mut r: impl BufRead, mut f: impl FnMut(&str)) -> io::Result<()> {
    // a path in /proc/net/unix may hold any byte: read bytes, then judge
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&buf);
        f(line.trim_end_matches('\n'));
    }
}

/// One listening AF_UNIX stream socket of /proc/net/unix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixLine {
    pub inode: u64,
    /// Path, or "@name" for an abstract one (the kernel prints NULs as '@'); `None` unnamed.
    pub path: Option<String>,
}

const SO_ACCEPTCON: u32 = 1 << 16;
const SOCK_STREAM: u32 = 1;

/// A listening stream socket's line of /proc/net/unix: `Num RefCount Protocol Flags Type St
/// Inode Path`. Other sockets give `None`.
pub fn parse_unix_listener(line: &str) -> Option<UnixLine> {
    let mut rest = line;
    let mut field = || -> Option<&str> {
        let s = rest.trim_start_matches(' ');
        let end = s.find(' ').unwrap_or(s.len());
        let (f, r) = s.split_at(end);
        rest = r;
        (!f.is_empty()).then_some(f)
    };
    let num = field()?;
    if !num.ends_with(':') {
        return None;
    }
    let _refs = field()?;
    let _proto = field()?;
    let flags = u32::from_str_radix(field()?, 16).ok()?;
    let kind = u32::from_str_radix(field()?, 16).ok()?;
    let _st = field()?;
    let inode = field()?.parse().ok()?;
    if flags & SO_ACCEPTCON == 0 || kind != SOCK_STREAM {
        return None;
    }
    let path = rest.strip_prefix(' ').filter(|p| !p.is_empty());
    Some(UnixLine {
        inode,
        path: path.map(str::to_string),
    })
}

pub fn each_unix_listener(r: impl BufRead, mut f: impl FnMut(UnixLine)) -> io::Result<()> {
    each_line(r, |l| {
        if let Some(u) = parse_unix_listener(l) {
            f(u)
        }
    })
}

/// Fold /proc/net/netstat or /proc/net/snmp text ("Prefix: names" then "Prefix: values")
/// into the counters qfix reads. Unknown names are ignored; a counter the kernel does not
/// have stays `None`.
pub fn parse_counters(text: &str, c: &mut Counters) {
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((p1, names)), Some((p2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if p1 != p2 {
            continue;
        }
        for (name, value) in names
            .split_ascii_whitespace()
            .zip(values.split_ascii_whitespace())
        {
            let Ok(v) = value.parse::<i64>() else {
                continue;
            };
            // snmp's Tcp MaxConn is -1; nothing qfix reads is negative
            let v = u64::try_from(v).ok();
            let slot = match (p1, name) {
                ("TcpExt", "ListenOverflows") => &mut c.listen_overflows,
                ("TcpExt", "ListenDrops") => &mut c.listen_drops,
                ("TcpExt", "TCPTimeWaitOverflow") => &mut c.tcp_timewait_overflow,
                ("TcpExt", "SyncookiesSent") => &mut c.syncookies_sent,
                ("TcpExt", "TCPReqQFullDrop") => &mut c.req_q_full_drop,
                ("TcpExt", "TCPReqQFullDoCookies") => &mut c.req_q_full_do_cookies,
                ("Tcp", "ActiveOpens") => &mut c.active_opens,
                ("Tcp", "PassiveOpens") => &mut c.passive_opens,
                ("Tcp", "AttemptFails") => &mut c.attempt_fails,
                ("Tcp", "CurrEstab") => &mut c.curr_estab,
                _ => continue,
            };
            *slot = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000081 00:00000000 00000000   115        0 22416 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D2A4 0100007F:1F90 06 00000000:00000000 03:00000F3D 00000000     0        0 0 3 0000000000000000
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4444 1
";

    fn lines(text: &str) -> Vec<TcpLine> {
        let mut v = Vec::new();
        each_tcp_line(text.as_bytes(), |l| v.push(l)).unwrap();
        v
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn proc_net_tcp_gives_listener_queue_and_time_wait_peer() {
        let v = lines(TCP);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].local, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(v[0].local_port, 8080);
        assert_eq!(
            (v[0].state, v[0].rx_queue, v[0].uid, v[0].inode),
            (ST_LISTEN, 129, 115, 22416)
        );
        assert_eq!(v[1].state, ST_TIME_WAIT);
        assert_eq!(v[1].remote_port, 8080);
        assert_eq!(v[1].inode, 0);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn proc_net_tcp6_decodes_words_in_host_order() {
        let v = lines(TCP6);
        assert_eq!(v[0].local, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(v[0].local_port, 443);
        assert_eq!(v[1].local.to_string(), "::ffff:127.0.0.1");
        assert_eq!(v[1].state, ST_ESTABLISHED);
        assert_eq!(v[1].remote_port, 40000);
    }

    #[test]
    fn malformed_tcp_lines_are_skipped() {
        assert!(lines("   0: zz:1 00000000:0000 0A\n garbage\n\n").is_empty());
    }

    const UNIX: &str = "Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 22409 /run/php/php8.2-fpm.sock
0000000000000000: 00000002 00000000 00010000 0001 01 22410 @api@x
0000000000000000: 00000002 00000000 00010000 0005 01 22411 /run/seq.sock
0000000000000000: 00000003 00000000 00000000 0001 03 22412 /run/php/php8.2-fpm.sock
0000000000000000: 00000002 00000000 00010000 0001 01 22413 /tmp/with space
0000000000000000: 00000002 00000000 00010000 0001 01  1234
";

    #[test]
    fn proc_net_unix_lists_stream_listeners_only() {
        let mut v = Vec::new();
        each_unix_listener(UNIX.as_bytes(), |u| v.push(u)).unwrap();
        let got: Vec<(u64, Option<&str>)> =
            v.iter().map(|u| (u.inode, u.path.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (22409, Some("/run/php/php8.2-fpm.sock")),
                (22410, Some("@api@x")),
                (22413, Some("/tmp/with space")),
                (1234, None),
            ]
        );
    }

    #[test]
    fn netstat_and_snmp_counters() {
        let netstat =
            "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPTimeWaitOverflow
TcpExt: 3 0 120 125 7
IpExt: InNoRoutes
IpExt: 0
";
        let snmp = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab
Tcp: 1 200 120000 -1 5000 4000 12 3 20
";
        let mut c = Counters::default();
        parse_counters(netstat, &mut c);
        parse_counters(snmp, &mut c);
        assert_eq!(c.listen_overflows, Some(120));
        assert_eq!(c.listen_drops, Some(125));
        assert_eq!(c.tcp_timewait_overflow, Some(7));
        assert_eq!(c.syncookies_sent, Some(3));
        assert_eq!(c.active_opens, Some(5000));
        assert_eq!(c.attempt_fails, Some(12));
        assert_eq!(c.curr_estab, Some(20));
        assert_eq!(c.req_q_full_drop, None);
    }
}
