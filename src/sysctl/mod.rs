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
