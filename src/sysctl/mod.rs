//! Sysctls: key and value syntax shared by the persisted side (`file`, `boot`) and the
//! live side (`live`).

pub mod boot;
pub mod file;
pub mod live;

/// Canonical, dotted form of a key as sysctl(8) prints it: `net.ipv4.conf.eth0/1.rp_filter`.
/// systemd's rule: when the first separator is `/`, the key is a path and its dots belong to
/// names (a VLAN `eth0.1`); otherwise dots separate and slashes belong to names.
pub fn normalize_key(raw: &str) -> String {
    let raw = raw.trim().trim_start_matches('/');
    // the common case, a plain dotted key, is already canonical: no `/`, no empty part
    // (checked in one pass: every line of every sysctl file comes here, twice per plan)
    let b = raw.as_bytes();
    let plain = b.last() != Some(&b'.')
        && b.iter()
            .enumerate()
            .all(|(i, &c)| c != b'/' && (c != b'.' || (i > 0 && b[i - 1] != b'.')));
    if plain {
        return raw.to_string();
    }
    let first_sep = raw.find(['/', '.']);
    let path_form = match first_sep {
        Some(i) if raw.as_bytes()[i] == b'/' => raw.to_string(),
        _ => swap_separators(raw),
    };
    // path form -> dotted form, collapsing repeated slashes as path_simplify does
    let simplified: Vec<&str> = path_form.split('/').filter(|c| !c.is_empty()).collect();
    swap_separators(&simplified.join("/"))
}

fn swap_separators(s: &str) -> String {
    // byte by byte: both separators are ASCII, so the result is as valid UTF-8 as `s`
    let swapped: Vec<u8> = s
        .bytes()
        .map(|b| match b {
            b'.' => b'/',
            b'/' => b'.',
            b => b,
        })
        .collect();
    String::from_utf8(swapped).unwrap_or_default()
}

/// Path of a canonical key below /proc/sys (`net/ipv4/conf/eth0.1/rp_filter`).
pub fn key_to_path(key: &str) -> String {
    swap_separators(key)
}

/// Canonical key of a path below /proc/sys.
pub fn path_to_key(path: &str) -> String {
    swap_separators(path.trim_start_matches('/'))
}

/// systemd's string_is_glob: any of `*?[` makes a key a pattern.
pub fn is_glob(key: &str) -> bool {
    key.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Values compare as whitespace-separated words (`1024 65000` == `1024\t65000`).
pub fn norm_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn same_value(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split_whitespace(), b.split_whitespace());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) => {
                let same = match (p.parse::<i128>(), q.parse::<i128>()) {
                    (Ok(m), Ok(n)) => m == n,
                    _ => p == q,
                };
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A sysctl glob, compiled: matching is done on the path form with `*` not crossing `/`, as
/// glob(3) does over /proc/sys.
pub struct Glob(glob::Pattern);

impl Glob {
    /// `None` for a pattern glob(3) would not take either.
    pub fn new(pattern: &str) -> Option<Glob> {
        glob::Pattern::new(&key_to_path(pattern)).ok().map(Glob)
    }

    /// Whether the canonical `key` matches.
    pub fn matches(&self, key: &str) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.0.matches_with(&key_to_path(key), opts)
    }
}

/// Whether `key` is matched by the sysctl glob `pattern` (both canonical).
pub fn glob_matches(pattern: &str, key: &str) -> bool {
    Glob::new(pattern).is_some_and(|g| g.matches(key))
}

/// Why `key` (canonical, dotted) cannot name a kernel value, if it cannot: every component
/// of its /proc/sys path is a plain name of `[A-Za-z0-9_.:@-]`, never empty, `.` or `..`
/// (so no key reaches outside /proc/sys, or anything but a value under it).
pub fn check_key(key: &str) -> Result<(), String> {
    check_names(key, false)
}

/// `check_key` for a key that may be a glob (`net.ipv4.conf.*.rp_filter`).
pub fn check_pattern(key: &str) -> Result<(), String> {
    check_names(key, true)
}

fn check_names(key: &str, glob: bool) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty key".into());
    }
    if key.len() > 1024 {
        return Err("key longer than 1024 bytes".into());
    }
    for comp in key_to_path(key).split('/') {
        match comp {
            "" => return Err(format!("{key:?} has an empty component")),
            "." | ".." => {
                return Err(format!(
                    "{key:?} has a {comp:?} component: not a key under /proc/sys"
                ));
            }
            c => {
                let odd = c.chars().find(|&ch| {
                    !(ch.is_ascii_alphanumeric()
                        || "_.:@-".contains(ch)
                        || glob && "*?[]!".contains(ch))
                });
                if let Some(ch) = odd {
                    return Err(format!(
                        "{key:?} has the character {ch:?}: a key takes only A-Z a-z 0-9 _ . : @ -"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Integer keys whose range qfix knows (checked on Linux 6.18: the kernel refuses, with
/// EINVAL, a value outside it).
const INT_RANGES: &[(&str, i64, i64)] = &[
    ("net.core.somaxconn", 0, i32::MAX as i64),
    (
        "net.ipv4.tcp_max_syn_backlog",
        i32::MIN as i64,
        i32::MAX as i64,
    ),
];

/// Why `value` cannot be written to `key`, when that is knowable without the kernel: a
/// value with control characters or none at all, an integer no kernel integer holds, or
/// one outside a known key's range.
pub fn check_value(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("empty value".into());
    }
    if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!("value {value:?} has the control character {c:?}"));
    }
    if value.len() > 4096 {
        return Err("value longer than 4096 bytes".into());
    }
    for word in value.split_whitespace() {
        if looks_integer(word) && word.parse::<i64>().is_err() && word.parse::<u64>().is_err() {
            return Err(format!("{word} does not fit in a 64-bit integer"));
        }
    }
    if let Some(&(_, min, max)) = INT_RANGES.iter().find(|r| r.0 == key) {
        match as_int(value) {
            Some(n) if (min..=max).contains(&n) => {}
            _ => {
                return Err(format!(
                    "{value} is not an integer from {min} to {max}, which {key} takes"
                ));
            }
        }
    }
    Ok(())
}

/// `check_value`, and against the key's value now in /proc/sys: a key that holds N
/// integers takes N integers.
pub fn check_value_like(key: &str, value: &str, now: &str) -> Result<(), String> {
    check_value(key, value)?;
    let ints = |v: &str| v.split_whitespace().all(looks_integer);
    let words = |v: &str| v.split_whitespace().count();
    if words(now) > 0 && ints(now) && (!ints(value) || words(value) != words(now)) {
        return Err(format!(
            "{value:?} does not look like its value now ({:?}): {} integer(s)",
            norm_value(now),
            words(now)
        ));
    }
    Ok(())
}

fn looks_integer(w: &str) -> bool {
    let digits = w.strip_prefix(['-', '+']).unwrap_or(w);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A single integer value, if the value is one.
pub fn as_int(v: &str) -> Option<i64> {
    let mut it = v.split_whitespace();
    let n = it.next()?.parse().ok()?;
    it.next().is_none().then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalize_like_systemd() {
        assert_eq!(normalize_key("net.core.somaxconn"), "net.core.somaxconn");
        assert_eq!(normalize_key("net/core/somaxconn"), "net.core.somaxconn");
        assert_eq!(normalize_key("/net//core/somaxconn"), "net.core.somaxconn");
        assert_eq!(
            normalize_key("net/ipv4/conf/eth0.1/rp_filter"),
            "net.ipv4.conf.eth0/1.rp_filter"
        );
        assert_eq!(
            normalize_key("net.ipv4.conf.eth0/1.rp_filter"),
            "net.ipv4.conf.eth0/1.rp_filter"
        );
        assert_eq!(
            key_to_path("net.ipv4.conf.eth0/1.rp_filter"),
            "net/ipv4/conf/eth0.1/rp_filter"
        );
    }

    #[test]
    fn keys_that_leave_proc_sys_or_hold_odd_characters_are_refused() {
        for ok in [
            "net.core.somaxconn",
            "net.ipv4.conf.eth0/1.rp_filter",
            "net.ipv4.conf.br-lan.forwarding",
            "net.ipv6.conf.veth@if2.mtu",
        ] {
            assert_eq!(check_key(ok), Ok(()), "{ok}");
        }
        for bad in [
            normalize_key("net/../../../../victim"),
            normalize_key("net/./core/somaxconn"),
            "net.core.some key".to_string(),
            "net.core.x$y".to_string(),
            "net.core.*".to_string(),
            String::new(),
            "net..core".to_string(),
        ] {
            assert!(check_key(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_pattern("net.ipv4.conf.*.rp_filter"), Ok(()));
        assert!(check_pattern("net.*.../x").is_err());
    }

    #[test]
    fn values_out_of_a_keys_range_are_refused() {
        let k = "net.core.somaxconn";
        assert_eq!(check_value(k, "4096"), Ok(()));
        for bad in ["-5", "4294967296", "2147483648", "abc", "", "1\n2", "1 2"] {
            let e = check_value(k, bad).unwrap_err();
            assert!(!e.is_empty(), "{bad:?}");
        }
        assert!(
            check_value(k, "-5")
                .unwrap_err()
                .contains("from 0 to 2147483647")
        );
        assert_eq!(check_value("net.ipv4.tcp_max_syn_backlog", "-5"), Ok(()));
        assert!(check_value("net.x", "99999999999999999999999").is_err());
        let r = "net.ipv4.ip_local_port_range";
        assert_eq!(check_value_like(r, "1024 65000", "32768\t60999"), Ok(()));
        assert!(check_value_like(r, "1024", "32768\t60999").is_err());
        assert!(check_value_like("net.core.default_qdisc", "fq", "pfifo_fast").is_ok());
        assert!(check_value_like("net.core.netdev_budget", "lots", "300").is_err());
    }

    #[test]
    fn values_compare_by_words() {
        assert!(same_value("1024 65000", "1024\t65000\n"));
        assert!(same_value("0010", "10"));
        assert!(!same_value("1024 65000", "1024"));
        assert!(glob_matches(
            "net.ipv4.conf.*.rp_filter",
            "net.ipv4.conf.eth0/1.rp_filter"
        ));
        assert!(!glob_matches("net.*", "net.ipv4.tcp_syncookies"));
    }
}
