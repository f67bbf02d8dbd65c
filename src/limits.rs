//! What the kernel does with a listen() backlog: the arithmetic the rules, the plan and the
//! listing share (see shared/reference/backlog-facts.md, "The kernel").

pub const SOMAXCONN: &str = "net.core.somaxconn";
pub const SYN_BACKLOG: &str = "net.ipv4.tcp_max_syn_backlog";
pub const SYNCOOKIES: &str = "net.ipv4.tcp_syncookies";

/// A kernel version, (major, minor).
pub type Version = (u32, u32);

/// The accept queue listen() gives: it clamps `(unsigned) backlog` to somaxconn, so -1
/// means somaxconn (net/socket.c `__sys_listen`).
pub fn effective(requested: i64, somaxconn: i64) -> i64 {
    let r = requested as i32 as u32 as i64;
    r.min(somaxconn)
}

/// somaxconn of a kernel nothing has set: 4096 since Linux 5.4, 128 before.
pub fn default_somaxconn(kernel: Version) -> i64 {
    if kernel >= (5, 4) { 4096 } else { 128 }
}

/// Largest somaxconn the kernel takes: kernels before 4.4 reject values above 65535.
pub fn max_somaxconn(kernel: Option<Version>) -> i64 {
    match kernel {
        Some(k) if k < (4, 4) => 65535,
        _ => i32::MAX as i64,
    }
}

/// "6.1.0-18-amd64" -> (6, 1).
pub fn parse_version(s: &str) -> Option<Version> {
    let mut it = s.trim().split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_clamps_unsigned_backlog_to_somaxconn() {
        assert_eq!(effective(511, 128), 128);
        assert_eq!(effective(-1, 4096), 4096);
        assert_eq!(effective(0, 4096), 0);
        assert_eq!(effective(100, 4096), 100);
    }

    #[test]
    fn kernel_versions_parse_and_set_defaults() {
        assert_eq!(parse_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_version("4.19"), Some((4, 19)));
        assert_eq!(default_somaxconn((5, 4)), 4096);
        assert_eq!(default_somaxconn((4, 19)), 128);
        assert_eq!(max_somaxconn(Some((4, 3))), 65535);
    }
}
