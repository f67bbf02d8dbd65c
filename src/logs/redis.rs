//! Redis's warning at start when somaxconn caps its tcp-backlog (server.c
//! `checkTcpBacklogSettings`), as redis-server 7.0 writes it (captured: tests/logs/captured):
//!
//! ```text
//! 143:M 04 Dec 2026 12:23:35.266 # WARNING: The TCP backlog setting of 511 cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of 128.
//! ```

/// Bytes every line of interest holds.
pub const NEEDLE: &[u8] = b"TCP backlog setting of ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub backlog: u64,
    pub somaxconn: u64,
}

pub fn parse(msg: &str) -> Option<Event> {
    let i = msg.find("The TCP backlog setting of ")?;
    let rest = &msg[i + "The TCP backlog setting of ".len()..];
    let (backlog, rest) = rest.split_once(" cannot be enforced because ")?;
    let j = rest.find("is set to the lower value of ")?;
    let rest = &rest[j + "is set to the lower value of ".len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    Some(Event {
        backlog: backlog.parse().ok()?,
        somaxconn: rest[..digits].parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_lines() {
        let file = include_str!("../../tests/logs/captured/redis-server.log");
        let got: Vec<Event> = file.lines().filter_map(parse).collect();
        assert_eq!(
            got,
            [Event {
                backlog: 511,
                somaxconn: 128
            }]
        );
        assert_eq!(
            parse("The TCP backlog setting of x cannot be enforced because"),
            None
        );
    }
}
