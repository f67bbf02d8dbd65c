//! php-fpm's master warning that a pool ran out of workers (fpm_process_ctl.c), as the
//! daemon writes it to its error_log and to syslog (captured: tests/logs/captured):
//!
//! ```text
//! [04-Dec-2026 12:23:20] WARNING: [pool www] server reached pm.max_children setting (2), consider raising it
//! <29>Dec  4 12:24:37 php-fpm[120]: [WARNING] [pool sys] server reached max_children setting (1), consider raising it
//! ```
//!
//! `pm = dynamic` says `pm.max_children`, `pm = ondemand` says `max_children`; `pm = static`
//! never warns. php-fpm warns once per saturation: the flag is cleared only when the pool
//! has idle workers again, so a count is of episodes, not of requests that waited.

/// Bytes every line of interest holds.
pub const NEEDLE: &[u8] = b"max_children setting (";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub pool: &'a str,
    pub max_children: u64,
    /// `pm.max_children` (pm = dynamic) or `max_children` (pm = ondemand).
    pub setting: &'static str,
}

/// The warning a message (after any syslog prefix and the time) holds, if any.
pub fn parse(msg: &str) -> Option<Event<'_>> {
    let i = msg.find("[pool ")?;
    let rest = &msg[i + "[pool ".len()..];
    let end = rest.find("] server reached ")?;
    let pool = &rest[..end];
    let rest = &rest[end + "] server reached ".len()..];
    let (setting, rest) = if let Some(r) = rest.strip_prefix("pm.max_children setting (") {
        ("pm.max_children", r)
    } else {
        ("max_children", rest.strip_prefix("max_children setting (")?)
    };
    let n = rest[..rest.find(')')?].parse().ok()?;
    Some(Event {
        pool,
        max_children: n,
        setting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_lines() {
        let file = include_str!("../../tests/logs/captured/php-fpm.log");
        let got: Vec<Event> = file.lines().filter_map(parse).collect();
        assert_eq!(
            got,
            [Event {
                pool: "www",
                max_children: 2,
                setting: "pm.max_children"
            }]
        );
        let syslog = include_str!("../../tests/logs/captured/syslog-devlog.log");
        let got: Vec<Event> = syslog.lines().filter_map(parse).collect();
        assert_eq!(
            got,
            [Event {
                pool: "sys",
                max_children: 1,
                setting: "max_children"
            }]
        );
        assert_eq!(
            parse("[pool www] server reached pm.max_children setting (x)"),
            None
        );
        assert_eq!(parse("NOTICE: [pool www] child 7 started"), None);
    }
}
