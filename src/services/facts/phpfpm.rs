//! php-fpm's facts (`PhpFpmFacts`), told every pool and setting by the php-fpm loader as it
//! reads them (includes expanded, pools re-opened by name already resolved to an index).
//!
//! - `error_log` (global): where the master logs, "server reached pm.max_children" among the
//!   rest. Unset: `log/php-fpm.log`; a relative path is taken from the prefix (`-p`, which
//!   neither Debian's nor RHEL's unit passes) else PHP_LOCALSTATEDIR, /var for both builds
//!   (fpm_conf.c `fpm_conf_post_process`; `php-fpm8.2 -tt` shows /var/log/php-fpm.log).
//!   `syslog` sends it to syslog.
//! - `log_level` (global): notice by default; `error` or `alert` hide the warnings.

use super::{LogSetting, LogTarget, PhpFpmFacts, PhpFpmPool, Set, fpm_seconds};
use crate::root;
use crate::services::Location;

/// PHP_LOCALSTATEDIR of the Debian and RHEL builds.
const LOCALSTATEDIR: &str = "/var";
const DEFAULT_ERROR_LOG: &str = "log/php-fpm.log";

#[derive(Debug, Default)]
struct Pool {
    name: String,
    at: Option<Location>,
    listen: Option<String>,
    prefix: Option<String>,
    pm: Option<Set<String>>,
    max_children: Option<Set<u64>>,
    terminate: Option<Set<u64>>,
}

#[derive(Debug, Default)]
pub(crate) struct Collector {
    error_log: Option<Set<String>>,
    log_level: Option<Set<String>>,
    /// By the loader's pool index.
    pools: Vec<Pool>,
}

impl Collector {
    /// A new pool `[name]`, the loader's pool number `index`.
    pub fn pool(&mut self, index: usize, name: &str, at: Location) {
        if self.pools.len() <= index {
            self.pools.resize_with(index + 1, Pool::default);
        }
        let p = &mut self.pools[index];
        p.name = name.to_string();
        p.at = Some(at);
    }

    /// `key = value` in pool `pool`, or in the global section (`None`); `at` gives its line.
    pub fn setting(
        &mut self,
        pool: Option<usize>,
        key: &str,
        value: &str,
        at: impl FnOnce() -> Location,
    ) {
        let is = |k: &str| key.eq_ignore_ascii_case(k);
        let wanted: &[&str] = match pool {
            None => &["error_log", "log_level"],
            Some(_) => &[
                "listen",
                "prefix",
                "pm",
                "pm.max_children",
                "request_terminate_timeout",
            ],
        };
        if !wanted.iter().any(|k| is(k)) {
            return;
        }
        let at = at();
        let set = |value: &str| Set {
            value: value.to_string(),
            at: at.clone(),
        };
        let Some(i) = pool else {
            if is("error_log") {
                self.error_log = Some(set(value));
            } else if is("log_level") {
                self.log_level = Some(set(&value.to_ascii_lowercase()));
            }
            return;
        };
        let Some(p) = self.pools.get_mut(i) else {
            return;
        };
        if is("listen") {
            p.listen = Some(value.replace("$pool", &p.name));
        } else if is("prefix") {
            p.prefix = Some(value.to_string());
        } else if is("pm") {
            p.pm = Some(set(&value.to_ascii_lowercase()));
        } else if is("pm.max_children") {
            // php-fpm refuses a value that is not a number: nothing to keep then
            p.max_children = value.trim().parse().ok().map(|n| Set {
                value: n,
                at: at.clone(),
            });
        } else if is("request_terminate_timeout") {
            p.terminate = fpm_seconds(value).map(|n| Set {
                value: n,
                at: at.clone(),
            });
        }
    }

    /// The facts of the master whose config is `config`, run by `unit`.
    pub fn finish(self, config: &str, unit: &str) -> PhpFpmFacts {
        let error_log = Some(match self.error_log {
            Some(s) => LogSetting {
                target: target(&s.value),
                at: Some(s.at),
                note: None,
            },
            None => LogSetting {
                target: target(DEFAULT_ERROR_LOG),
                at: None,
                note: Some(format!(
                    "php-fpm's default ({DEFAULT_ERROR_LOG} under {LOCALSTATEDIR})"
                )),
            },
        });
        let pools = self
            .pools
            .into_iter()
            .filter_map(|p| {
                Some(PhpFpmPool {
                    address: p
                        .listen
                        .as_deref()
                        .map(|l| crate::services::phpfpm::address(l, p.prefix.as_deref())),
                    name: p.name,
                    at: p.at?,
                    pm: p.pm,
                    max_children: p.max_children,
                    request_terminate_timeout: p.terminate,
                })
            })
            .collect();
        PhpFpmFacts {
            config: config.to_string(),
            unit: unit.to_string(),
            error_log,
            log_level: self.log_level,
            pools,
        }
    }
}

fn target(v: &str) -> LogTarget {
    if v.eq_ignore_ascii_case("syslog") {
        LogTarget::Syslog {
            spec: "syslog".into(),
        }
    } else {
        LogTarget::File {
            path: root::join(LOCALSTATEDIR, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::host::Host;
    use crate::root::Root;
    use crate::services::testutil::{fixture, scan_dir};
    use crate::services::{Scan, phpfpm};

    fn loc(path: &str, line: usize) -> Location {
        Location {
            path: path.into(),
            line,
        }
    }

    /// Debian's stock files: the versioned log, pool www with pm dynamic and 5 children.
    #[test]
    fn debian_stock_error_log_and_pool() {
        let s = scan_dir(&fixture("debian-stock"), phpfpm::scan);
        let conf = "/etc/php/8.2/fpm/php-fpm.conf";
        let www = "/etc/php/8.2/fpm/pool.d/www.conf";
        assert_eq!(
            s.facts.php_fpm,
            [PhpFpmFacts {
                config: conf.into(),
                unit: "php8.2-fpm".into(),
                error_log: Some(LogSetting {
                    target: LogTarget::File {
                        path: "/var/log/php8.2-fpm.log".into()
                    },
                    at: Some(loc(conf, 26)),
                    note: None,
                }),
                log_level: None,
                pools: vec![PhpFpmPool {
                    name: "www".into(),
                    at: loc(www, 4),
                    address: Some("unix /run/php/php8.2-fpm.sock".into()),
                    pm: Some(Set {
                        value: "dynamic".into(),
                        at: loc(www, 116)
                    }),
                    max_children: Some(Set {
                        value: 5,
                        at: loc(www, 127)
                    }),
                    request_terminate_timeout: None,
                }],
            }]
        );
    }

    /// No error_log: log/php-fpm.log under /var; relative paths from /var; syslog; a pool
    /// re-opened in another file keeps one entry; settings in [global] are not a pool's.
    #[test]
    fn defaults_relative_paths_syslog_and_reopened_pools() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let p = d.path().join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, t).unwrap();
        };
        w(
            "etc/php/8.3/fpm/php-fpm.conf",
            "[global]\nlog_level = ERROR\ninclude = /etc/php/8.3/fpm/pool.d/*.conf\n",
        );
        w(
            "etc/php/8.3/fpm/pool.d/a.conf",
            "[a]\nlisten = 127.0.0.1:9001\npm = OnDemand\npm.max_children = 8\n\
             request_terminate_timeout = 5m\n[b]\nlisten = /run/$pool.sock\n\
             pm = static\npm.max_children = x\n[A]\npm.max_children = 16\n",
        );
        w(
            "etc/php/8.1/fpm/php-fpm.conf",
            "[global]\nerror_log = syslog\n[www]\nlisten = 9000\n",
        );
        w(
            "etc/php/8.0/fpm/php-fpm.conf",
            "[global]\nerror_log = log/fpm80.log\n",
        );
        let host = Host::new(Root::new(d.path()).unwrap());
        let mut s = Scan::default();
        phpfpm::scan(&host, &mut s);
        let f = &s.facts.php_fpm;
        let by = |c: &str| f.iter().find(|x| x.config.contains(c)).unwrap();
        let v83 = by("8.3");
        let log = v83.error_log.as_ref().unwrap();
        assert_eq!(
            log.target,
            LogTarget::File {
                path: "/var/log/php-fpm.log".into()
            }
        );
        assert_eq!(log.at, None);
        assert_eq!(
            log.note.as_deref(),
            Some("php-fpm's default (log/php-fpm.log under /var)")
        );
        assert_eq!(v83.log_level.as_ref().unwrap().value, "error");
        type Row<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<u64>,
            Option<u64>,
        );
        let pools: Vec<Row> = v83
            .pools
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.address.as_deref(),
                    p.pm.as_ref().map(|x| x.value.as_str()),
                    p.max_children.as_ref().map(|x| x.value),
                    p.request_terminate_timeout.as_ref().map(|x| x.value),
                )
            })
            .collect();
        assert_eq!(
            pools,
            [
                // [A] re-opened pool a: its later max_children wins
                (
                    "a",
                    Some("tcp 127.0.0.1:9001"),
                    Some("ondemand"),
                    Some(16),
                    Some(300)
                ),
                ("b", Some("unix /run/b.sock"), Some("static"), None, None),
            ]
        );
        assert_eq!(
            by("8.1").error_log.as_ref().unwrap().target,
            LogTarget::Syslog {
                spec: "syslog".into()
            }
        );
        assert_eq!(by("8.1").pools[0].address.as_deref(), Some("tcp *:9000"));
        assert_eq!(
            by("8.0").error_log.as_ref().unwrap().target,
            LogTarget::File {
                path: "/var/log/fpm80.log".into()
            }
        );
        assert!(by("8.0").pools.is_empty());
    }
}
