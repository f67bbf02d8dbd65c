//! Socket addresses in the form the service scanners use for `Listener.address`
//! ("tcp 0.0.0.0:80", "tcp [::]:80", "tcp *:80", "unix /run/php/php8.2-fpm.sock",
//! "unix @abstract"), and whether a kernel socket serves a configured address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::KernelListener;

/// "tcp 127.0.0.1:8080", "tcp [::]:443" (IPv6 in brackets, as the scanners and ss write it).
pub fn tcp_address(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("tcp {a}:{port}"),
        IpAddr::V6(a) => format!("tcp [{a}]:{port}"),
    }
}

/// "unix /path" or "unix @name".
pub fn unix_address(name: &str) -> String {
    format!("unix {name}")
}

/// How a kernel socket serves a configured address, weakest first: the order lets a caller
/// keep the best of several candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Match {
    /// The configured host is a name qfix does not resolve (no NSS in a static binary, and
    /// DNS may differ from what the service saw): only the port agrees.
    PortOnly,
    /// An IPv4 address served by a dual-stack `[::]` socket (IPV6_V6ONLY off, Linux's
    /// default; also assumed when the kernel did not say).
    DualStack,
    /// A specific address served by the wildcard socket of its family (nginx binds one
    /// `0.0.0.0:80` for `listen 127.0.0.1:80` and `listen 80` unless told `bind`).
    Wildcard,
    /// The same address (a configured `*` and either wildcard count as the same), or the
    /// same unix path (`/var/run/` and `/run/` taken as one: a link on every current distro).
    Exact,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Any,
    Ip(IpAddr),
    Localhost,
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Addr<'a> {
    Tcp(Host, u16),
    Unix(&'a str),
}

fn parse(address: &str) -> Option<Addr<'_>> {
    if let Some(path) = address.strip_prefix("unix ") {
        return Some(Addr::Unix(path));
    }
    let rest = address.strip_prefix("tcp ")?;
    let (host, port) = rest.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = match host {
        "" | "*" => Host::Any,
        "localhost" => Host::Localhost,
        h => {
            let bare = h
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h);
            // a zone ("fe80::1%eth0") does not change which socket serves it
            let bare = bare.split('%').next().unwrap_or(bare);
            match bare.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name,
            }
        }
    };
    Some(Addr::Tcp(host, port))
}

fn run_path(p: &str) -> &str {
    if p.starts_with("/var/run/") {
        &p[4..]
    } else {
        p
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(a),
        },
        v4 => v4,
    }
}

/// Whether the kernel socket at `kernel` (an address as [`tcp_address`] or [`unix_address`]
/// make it; `v6only` as inet_diag reported it, `None` when unknown) serves the configured
/// `configured` address (a `Listener.address`), and how.
pub fn serves(kernel: &str, v6only: Option<bool>, configured: &str) -> Option<Match> {
    match (parse(kernel)?, parse(configured)?) {
        (Addr::Unix(k), Addr::Unix(c)) => (run_path(k) == run_path(c)).then_some(Match::Exact),
        (Addr::Tcp(Host::Ip(k), kp), Addr::Tcp(c, cp)) if kp == cp => {
            let dual = v6only != Some(true);
            let k_any4 = k == IpAddr::V4(Ipv4Addr::UNSPECIFIED);
            let k_any6 = k == IpAddr::V6(Ipv6Addr::UNSPECIFIED);
            match c {
                Host::Any => (k_any4 || k_any6).then_some(Match::Exact),
                Host::Name => Some(Match::PortOnly),
                Host::Localhost => {
                    if k.is_loopback() || canonical(k).is_loopback() {
                        Some(Match::Exact)
                    } else if k_any4 || k_any6 {
                        Some(Match::Wildcard)
                    } else {
                        None
                    }
                }
                Host::Ip(c) => {
                    let c = canonical(c);
                    if canonical(k) == c {
                        Some(Match::Exact)
                    } else if (c.is_ipv4() && k_any4) || (c.is_ipv6() && k_any6) {
                        Some(Match::Wildcard)
                    } else if c.is_ipv4() && k_any6 && dual {
                        Some(Match::DualStack)
                    } else {
                        None
                    }
                }
            }
        }
        _ => None,
    }
}

/// The kernel listener that best serves `configured`, with how.
pub fn best_match<'a>(
    configured: &str,
    listeners: impl IntoIterator<Item = &'a KernelListener>,
) -> Option<(&'a KernelListener, Match)> {
    let mut best: Option<(&KernelListener, Match)> = None;
    for l in listeners {
        if let Some(m) = serves(&l.address, l.v6only, configured)
            && best.is_none_or(|(_, b)| m > b)
        {
            best = Some((l, m));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_service_scanners() {
        assert_eq!(
            tcp_address("0.0.0.0".parse().unwrap(), 80),
            "tcp 0.0.0.0:80"
        );
        assert_eq!(tcp_address("::".parse().unwrap(), 80), "tcp [::]:80");
        assert_eq!(tcp_address("::1".parse().unwrap(), 6379), "tcp [::1]:6379");
        assert_eq!(
            unix_address("/run/php/php8.2-fpm.sock"),
            "unix /run/php/php8.2-fpm.sock"
        );
    }

    #[test]
    fn wildcards_and_dual_stack() {
        // nginx `listen 80` -> "tcp *:80", apache `Listen 80` -> "tcp *:80" bound as [::]
        assert_eq!(
            serves("tcp 0.0.0.0:80", None, "tcp *:80"),
            Some(Match::Exact)
        );
        assert_eq!(
            serves("tcp [::]:80", Some(false), "tcp *:80"),
            Some(Match::Exact)
        );
        assert_eq!(serves("tcp 0.0.0.0:80", None, "tcp *:81"), None);
        // a v4 wildcard does not serve IPv6
        assert_eq!(serves("tcp 0.0.0.0:80", None, "tcp [::]:80"), None);
        assert_eq!(
            serves("tcp [::]:80", Some(true), "tcp [::]:80"),
            Some(Match::Exact)
        );
        // v4 addresses through a dual-stack socket, unless it is v6only
        assert_eq!(
            serves("tcp [::]:80", Some(false), "tcp 0.0.0.0:80"),
            Some(Match::DualStack)
        );
        assert_eq!(
            serves("tcp [::]:80", None, "tcp 10.0.0.1:80"),
            Some(Match::DualStack)
        );
        assert_eq!(serves("tcp [::]:80", Some(true), "tcp 10.0.0.1:80"), None);
        assert_eq!(
            serves("tcp 0.0.0.0:80", None, "tcp 127.0.0.1:80"),
            Some(Match::Wildcard)
        );
        assert_eq!(
            serves("tcp [::]:80", Some(true), "tcp [::1]:80"),
            Some(Match::Wildcard)
        );
        assert_eq!(serves("tcp 127.0.0.1:80", None, "tcp 10.0.0.1:80"), None);
    }

    #[test]
    fn specific_addresses_names_and_mapped() {
        assert_eq!(
            serves("tcp 127.0.0.1:6379", None, "tcp 127.0.0.1:6379"),
            Some(Match::Exact)
        );
        assert_eq!(
            serves(
                "tcp [::ffff:127.0.0.1]:6379",
                Some(false),
                "tcp 127.0.0.1:6379"
            ),
            Some(Match::Exact)
        );
        assert_eq!(
            serves("tcp [::1]:6379", None, "tcp [::1]:6379"),
            Some(Match::Exact)
        );
        assert_eq!(
            serves("tcp 127.0.0.1:80", None, "tcp localhost:80"),
            Some(Match::Exact)
        );
        assert_eq!(
            serves("tcp [::1]:80", None, "tcp localhost:80"),
            Some(Match::Exact)
        );
        assert_eq!(serves("tcp 10.1.1.1:80", None, "tcp localhost:80"), None);
        assert_eq!(
            serves("tcp 10.1.1.1:80", None, "tcp web.example:80"),
            Some(Match::PortOnly)
        );
        assert_eq!(serves("tcp 10.1.1.1:80", None, "tcp *:$port"), None);
    }

    #[test]
    fn unix_paths() {
        assert_eq!(
            serves(
                "unix /run/php/php8.2-fpm.sock",
                None,
                "unix /run/php/php8.2-fpm.sock"
            ),
            Some(Match::Exact)
        );
        assert_eq!(
            serves("unix /run/php/x.sock", None, "unix /var/run/php/x.sock"),
            Some(Match::Exact)
        );
        assert_eq!(serves("unix @api", None, "unix @api"), Some(Match::Exact));
        assert_eq!(serves("unix /run/a.sock", None, "unix /run/b.sock"), None);
        assert_eq!(serves("unix /run/a.sock", None, "tcp *:80"), None);
    }

    #[test]
    fn best_match_prefers_the_exact_socket() {
        let l = |a: &str| KernelListener {
            address: a.into(),
            ..KernelListener::default()
        };
        let ls = [l("tcp 0.0.0.0:80"), l("tcp 127.0.0.1:80"), l("tcp [::]:80")];
        let (k, m) = best_match("tcp 127.0.0.1:80", &ls).unwrap();
        assert_eq!((k.address.as_str(), m), ("tcp 127.0.0.1:80", Match::Exact));
        let (k, m) = best_match("tcp 10.0.0.9:80", &ls).unwrap();
        assert_eq!((k.address.as_str(), m), ("tcp 0.0.0.0:80", Match::Wildcard));
        assert!(best_match("tcp *:81", &ls).is_none());
    }
}
