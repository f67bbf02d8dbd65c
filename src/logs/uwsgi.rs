//! uWSGI's words about its listen queue (uWSGI 2.0.21, captured: tests/logs/captured):
//!
//! ```text
//! Fri Dec  4 12:23:39 2026 - *** uWSGI listen queue of socket "127.0.0.1:3031" (fd: 3) full !!! (11/10) ***
//! Fri Dec  4 12:23:36 2026 - Listen queue size is greater than the system max net.core.somaxconn (128).
//! ```
//!
//! The first comes from the master's check every second (core/master.c
//! `master_check_listen_queue`, TCP sockets only: a unix socket's queue needs a kernel patch
//! uWSGI knows as SIOBKLGQ); the second is why uWSGI refused to start (core/socket.c).

/// Bytes every line of interest holds ("listen queue" and "Listen queue").
pub const NEEDLE: &[u8] = b"isten queue";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    QueueFull {
        socket: &'a str,
        fd: Option<u32>,
        queue: u64,
        limit: u64,
    },
    RefusedAboveSomaxconn {
        somaxconn: u64,
    },
}

pub fn parse(msg: &str) -> Option<Event<'_>> {
    if let Some(i) = msg.find("listen queue of socket \"") {
        let rest = &msg[i + "listen queue of socket \"".len()..];
        let (socket, rest) = rest.split_once("\" (fd: ")?;
        let (fd, rest) = rest.split_once(')')?;
        let rest = &rest[rest.find("full !!! (")? + "full !!! (".len()..];
        let (queue, rest) = rest.split_once('/')?;
        let limit = &rest[..rest.find(')')?];
        return Some(Event::QueueFull {
            socket,
            fd: fd.parse().ok(),
            queue: queue.parse().ok()?,
            limit: limit.parse().ok()?,
        });
    }
    const REFUSED: &str = "Listen queue size is greater than the system max net.core.somaxconn (";
    let i = msg.find(REFUSED)?;
    let rest = &msg[i + REFUSED.len()..];
    Some(Event::RefusedAboveSomaxconn {
        somaxconn: rest[..rest.find(')')?].parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_lines() {
        let full = include_str!("../../tests/logs/captured/uwsgi.log");
        let got: Vec<Event> = full.lines().filter_map(parse).collect();
        assert!(got.len() >= 2, "{got:?}");
        assert!(got.iter().all(|e| *e
            == Event::QueueFull {
                socket: "127.0.0.1:3031",
                fd: Some(3),
                queue: 11,
                limit: 10
            }));
        let refused = include_str!("../../tests/logs/captured/uwsgi-refused.log");
        let got: Vec<Event> = refused.lines().filter_map(parse).collect();
        assert_eq!(got, [Event::RefusedAboveSomaxconn { somaxconn: 128 }]);
        // the alarm's text, without the stars
        assert_eq!(
            parse("listen queue of socket \"/run/a.sock\" (fd: 7) full !!! (5/4)"),
            Some(Event::QueueFull {
                socket: "/run/a.sock",
                fd: Some(7),
                queue: 5,
                limit: 4
            })
        );
        assert_eq!(
            parse("your server socket listen backlog is limited to 10"),
            None
        );
    }
}
