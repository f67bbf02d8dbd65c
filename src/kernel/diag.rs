//! NETLINK_SOCK_DIAG, as `ss` uses it: inet_diag for TCP (v4, v6), unix_diag for AF_UNIX.
//!
//! Requests are built with netlink-packet-sock-diag's types; replies are walked here, one
//! message at a time, straight out of the receive buffer. The crate's own reply parser is not
//! used for two reasons: it rejects a whole message whose `INET_DIAG_SKMEMINFO` is shorter
//! than 36 bytes (kernels before 4.7 send fewer fields, and then the drop count is simply
//! unknown), and it builds a vector of attributes per socket, which a dump of 100,000
//! TIME_WAIT sockets does not need. The fixed headers are still decoded by the crate.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator, Parseable,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, INET_DIAG_SKMEMINFO, INET_DIAG_SKV6ONLY, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY,
    SOCK_STREAM, UDIAG_SHOW_NAME, UDIAG_SHOW_RQLEN, UNIX_DIAG_NAME, UNIX_DIAG_RQLEN,
};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags,
};
use netlink_packet_sock_diag::unix::{
    ShowFlags, StateFlags as UnixStates, UnixRequest, UnixResponseHeader,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

/// `struct inet_diag_msg`: the fixed part before the attributes.
const INET_MSG_LEN: usize = 72;
/// `struct unix_diag_msg`.
const UNIX_MSG_LEN: usize = 16;
/// `SK_MEMINFO_DROPS`: the ninth u32 of `INET_DIAG_SKMEMINFO` (Linux 4.7+).
const SK_MEMINFO_DROPS: usize = 8;
/// A dump's messages are at most 32 KiB each (netlink_dump caps its skb there); twice that
/// leaves room and never truncates.
const RECV_BUF: usize = 64 * 1024;

/// One TCP socket as inet_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetRecord {
    pub family: u8,
    pub state: u8,
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// LISTEN: current accept queue (`sk_ack_backlog`); others: bytes unread.
    pub rqueue: u32,
    /// LISTEN: the backlog after the somaxconn clamp (`sk_max_ack_backlog`).
    pub wqueue: u32,
    pub uid: u32,
    pub inode: u32,
    /// `SK_MEMINFO_DROPS` when the kernel sent it (asked for, 4.7+).
    pub drops: Option<u32>,
    /// `INET_DIAG_SKV6ONLY`, sent for every AF_INET6 socket.
    pub v6only: Option<bool>,
}

/// One AF_UNIX socket as unix_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixRecord {
    pub kind: u8,
    pub state: u8,
    pub inode: u32,
    /// Path, or "@name" for an abstract name (NULs inside shown as '@', as /proc/net/unix
    /// and ss do); `None` for an unnamed socket.
    pub name: Option<String>,
    /// `UNIX_DIAG_RQLEN`: for a listener (pending connections, max backlog).
    pub rqlen: Option<(u32, u32)>,
}

/// Decode one `SOCK_DIAG_BY_FAMILY` reply for AF_INET/AF_INET6. `None` when it is too short
/// or of another family.
pub fn decode_inet(payload: &[u8]) -> Option<InetRecord> {
    if payload.len() < INET_MSG_LEN || !matches!(payload[0], AF_INET | AF_INET6) {
        return None;
    }
    let h = InetResponseHeader::parse(payload).ok()?;
    let mut rec = InetRecord {
        family: h.family,
        state: h.state,
        local: h.socket_id.source_address,
        local_port: h.socket_id.source_port,
        remote: h.socket_id.destination_address,
        remote_port: h.socket_id.destination_port,
        rqueue: h.recv_queue,
        wqueue: h.send_queue,
        uid: h.uid,
        inode: h.inode,
        drops: None,
        v6only: None,
    };
    for nla in NlasIterator::new(&payload[INET_MSG_LEN..]) {
        let Ok(nla) = nla else { break };
        let v = nla.value();
        match nla.kind() & netlink_packet_core::NLA_TYPE_MASK {
            INET_DIAG_SKMEMINFO => rec.drops = u32_at(v, SK_MEMINFO_DROPS),
            INET_DIAG_SKV6ONLY => rec.v6only = v.first().map(|b| *b != 0),
            _ => {}
        }
    }
    Some(rec)
}

/// Decode one `SOCK_DIAG_BY_FAMILY` reply for AF_UNIX.
pub fn decode_unix(payload: &[u8]) -> Option<UnixRecord> {
    if payload.len() < UNIX_MSG_LEN || payload[0] != netlink_packet_sock_diag::AF_UNIX {
        return None;
    }
    let h = UnixResponseHeader::parse(payload).ok()?;
    let mut rec = UnixRecord {
        kind: h.kind,
        state: h.state,
        inode: h.inode,
        name: None,
        rqlen: None,
    };
    for nla in NlasIterator::new(&payload[UNIX_MSG_LEN..]) {
        let Ok(nla) = nla else { break };
        let v = nla.value();
        match nla.kind() & netlink_packet_core::NLA_TYPE_MASK {
            UNIX_DIAG_NAME => rec.name = unix_name(v),
            UNIX_DIAG_RQLEN => {
                if let (Some(a), Some(b)) = (u32_at(v, 0), u32_at(v, 1)) {
                    rec.rqlen = Some((a, b));
                }
            }
            _ => {}
        }
    }
    Some(rec)
}

/// A sockaddr_un path as the kernel stores it: abstract names start with a NUL and may hold
/// more NULs (shown as '@'); path names end at the first NUL.
pub fn unix_name(v: &[u8]) -> Option<String> {
    match v.split_first() {
        None => None,
        Some((0, rest)) => {
            let mut s = String::with_capacity(rest.len() + 1);
            s.push('@');
            s.push_str(&String::from_utf8_lossy(rest).replace('\0', "@"));
            Some(s)
        }
        Some(_) => {
            let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
            Some(String::from_utf8_lossy(&v[..end]).into_owned())
        }
    }
}

fn u32_at(v: &[u8], i: usize) -> Option<u32> {
    let b = v.get(i * 4..i * 4 + 4)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// A NETLINK_SOCK_DIAG socket of the calling thread's network namespace.
pub struct Diag {
    sock: Socket,
    buf: Vec<u8>,
    seq: u32,
    /// A dump came back with NLM_F_DUMP_INTR: the table changed while it was read.
    pub interrupted: bool,
}

impl Diag {
    pub fn open() -> io::Result<Diag> {
        let sock = Socket::new(NETLINK_SOCK_DIAG)?;
        Ok(Diag {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
            seq: 0,
            interrupted: false,
        })
    }

    /// Dump TCP sockets of one family in `states`, with the extensions asked for; `f` sees
    /// each socket as it arrives (nothing is kept here).
    pub fn tcp(
        &mut self,
        family: u8,
        states: StateFlags,
        extensions: ExtensionFlags,
        mut f: impl FnMut(InetRecord),
    ) -> io::Result<()> {
        let req = InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions,
            states,
            socket_id: if family == AF_INET6 {
                SocketId::new_v6()
            } else {
                SocketId::new_v4()
            },
        };
        self.dump(SockDiagMessage::InetRequest(req), |p| {
            if let Some(r) = decode_inet(p) {
                f(r)
            }
        })
    }

    /// Dump listening AF_UNIX stream sockets with their names and queue figures.
    pub fn unix_listeners(&mut self, mut f: impl FnMut(UnixRecord)) -> io::Result<()> {
        let req = UnixRequest {
            state_flags: UnixStates::LISTEN,
            inode: 0,
            show_flags: ShowFlags::from_bits_truncate(UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN),
            cookie: [0xff; 8],
        };
        self.dump(SockDiagMessage::UnixRequest(req), |p| {
            if let Some(r) = decode_unix(p)
                && r.kind == SOCK_STREAM
            {
                f(r)
            }
        })
    }

    fn dump(&mut self, msg: SockDiagMessage, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock.send_to(&out, &SocketAddr::new(0, 0), 0)?;
        loop {
            self.buf.clear();
            let n = self.sock.recv(&mut self.buf, 0)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "sock_diag: empty reply",
                ));
            }
            match walk(&self.buf, self.seq, &mut f)? {
                Walk::More { interrupted } => self.interrupted |= interrupted,
                Walk::Done { interrupted } => {
                    self.interrupted |= interrupted;
                    return Ok(());
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Walk {
    More { interrupted: bool },
    Done { interrupted: bool },
}

/// Walk the netlink messages of one datagram: socket records go to `f`; NLMSG_ERROR becomes
/// the errno it carries (EINVAL/ENOENT where a family's diag module is missing); NLMSG_DONE
/// ends the dump. Messages of another sequence (a stale reply) are skipped.
pub fn walk(buf: &[u8], seq: u32, f: &mut impl FnMut(&[u8])) -> io::Result<Walk> {
    let mut off = 0;
    let mut interrupted = false;
    while buf.len() - off >= 16 {
        let msg = NetlinkBuffer::new_checked(&buf[off..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let len = msg.length() as usize;
        let payload = msg.payload();
        interrupted |= msg.flags() & NLM_F_DUMP_INTR != 0;
        if msg.sequence_number() == seq {
            match msg.message_type() {
                NLMSG_DONE => {
                    // a dump may end with a negative errno in place of the count
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    if code < 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok(Walk::Done { interrupted });
                }
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-(nix::errno::Errno::EIO as i32));
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok(Walk::Done { interrupted });
                }
                SOCK_DIAG_BY_FAMILY => f(payload),
                _ => {}
            }
        }
        off += (len + 3) & !3;
        if len == 0 {
            break;
        }
    }
    Ok(Walk::More { interrupted })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// An inet_diag_msg as the kernel lays it out.
    fn inet_msg(
        family: u8,
        state: u8,
        src: &[u8],
        sport: u16,
        rq: u32,
        wq: u32,
        ino: u32,
    ) -> Vec<u8> {
        let mut v = vec![family, state, 0, 0];
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&0u16.to_be_bytes());
        let mut a = [0u8; 16];
        a[..src.len()].copy_from_slice(src);
        v.extend_from_slice(&a);
        v.extend_from_slice(&[0u8; 16]);
        v.extend_from_slice(&0u32.to_ne_bytes()); // if
        v.extend_from_slice(&[0xffu8; 8]); // cookie
        v.extend_from_slice(&0u32.to_ne_bytes()); // expires
        v.extend_from_slice(&rq.to_ne_bytes());
        v.extend_from_slice(&wq.to_ne_bytes());
        v.extend_from_slice(&33u32.to_ne_bytes()); // uid
        v.extend_from_slice(&ino.to_ne_bytes());
        assert_eq!(v.len(), INET_MSG_LEN);
        v
    }

    fn meminfo(n: usize, drops: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            let x = if i == SK_MEMINFO_DROPS {
                drops
            } else {
                1000 + i as u32
            };
            v.extend_from_slice(&x.to_ne_bytes());
        }
        v
    }

    #[test]
    fn listener_with_meminfo_gives_queue_backlog_and_drops() {
        let mut m = inet_msg(AF_INET, 10, &[127, 0, 0, 1], 8080, 129, 128, 4242);
        m.extend(nla(1, &[0]));
        m.extend(nla(INET_DIAG_SKMEMINFO, &meminfo(9, 77)));
        let r = decode_inet(&m).unwrap();
        assert_eq!(r.local, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(r.local_port, 8080);
        assert_eq!((r.rqueue, r.wqueue, r.inode, r.uid), (129, 128, 4242, 33));
        assert_eq!(r.drops, Some(77));
        assert_eq!(r.v6only, None);
    }

    #[test]
    fn short_meminfo_of_old_kernels_leaves_drops_unknown_but_keeps_the_socket() {
        let mut m = inet_msg(AF_INET, 10, &[0, 0, 0, 0], 80, 0, 511, 1);
        m.extend(nla(INET_DIAG_SKMEMINFO, &meminfo(7, 0)));
        let r = decode_inet(&m).unwrap();
        assert_eq!(r.wqueue, 511);
        assert_eq!(r.drops, None);
    }

    #[test]
    fn v6_listener_reports_v6only() {
        let mut m = inet_msg(AF_INET6, 10, &[0; 16], 443, 0, 4096, 9);
        m.extend(nla(INET_DIAG_SKV6ONLY, &[1]));
        let r = decode_inet(&m).unwrap();
        assert_eq!(r.local, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(r.v6only, Some(true));
    }

    #[test]
    fn truncated_or_foreign_messages_are_skipped() {
        assert!(decode_inet(&[AF_INET; 10]).is_none());
        let m = inet_msg(1, 10, &[], 1, 0, 0, 0);
        assert!(decode_inet(&m).is_none());
    }

    #[test]
    fn unix_listener_with_name_and_rqlen() {
        let mut m = vec![netlink_packet_sock_diag::AF_UNIX, SOCK_STREAM, 10, 0];
        m.extend_from_slice(&555u32.to_ne_bytes());
        m.extend_from_slice(&[0xff; 8]);
        m.extend(nla(UNIX_DIAG_NAME, b"/run/php/php8.2-fpm.sock\0"));
        let mut rq = 129u32.to_ne_bytes().to_vec();
        rq.extend_from_slice(&128u32.to_ne_bytes());
        m.extend(nla(UNIX_DIAG_RQLEN, &rq));
        let r = decode_unix(&m).unwrap();
        assert_eq!(r.inode, 555);
        assert_eq!(r.name.as_deref(), Some("/run/php/php8.2-fpm.sock"));
        assert_eq!(r.rqlen, Some((129, 128)));
    }

    #[test]
    fn abstract_unix_names_are_marked_with_at() {
        assert_eq!(unix_name(b"\0api\0x").as_deref(), Some("@api@x"));
        assert_eq!(unix_name(b"/tmp/a\0\0").as_deref(), Some("/tmp/a"));
        assert_eq!(unix_name(b""), None);
    }

    fn nlmsg(kind: u16, seq: u32, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn walk_hands_over_records_and_stops_at_done() {
        let mut buf = nlmsg(SOCK_DIAG_BY_FAMILY, 7, 2, &[1, 2, 3]);
        buf.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 6, 2, &[9])); // stale sequence
        buf.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 7, 2 | NLM_F_DUMP_INTR, &[4]));
        let mut seen = Vec::new();
        let w = walk(&buf, 7, &mut |p| seen.push(p[0])).unwrap();
        assert_eq!(w, Walk::More { interrupted: true });
        assert_eq!(seen, vec![1, 4]);
        let done = nlmsg(NLMSG_DONE, 7, 2, &0i32.to_ne_bytes());
        assert_eq!(
            walk(&done, 7, &mut |_| {}).unwrap(),
            Walk::Done { interrupted: false }
        );
    }

    #[test]
    fn walk_turns_netlink_errors_into_errno() {
        // no unix_diag module: the kernel answers ENOENT
        let mut p = (-2i32).to_ne_bytes().to_vec();
        p.extend_from_slice(&[0; 16]);
        let e = walk(&nlmsg(NLMSG_ERROR, 1, 0, &p), 1, &mut |_| {}).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(2));
    }
}
