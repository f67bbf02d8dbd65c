//! The site policy (`/etc/qfix/policy.toml` in the root, or `--policy FILE`): desired sysctl
//! values and the listener thresholds. Parsed with toml_edit, then validated into `Policy`,
//! collecting every error with its line.
//!
//! ```toml
//! [sysctl]
//! "net.core.somaxconn" = { min = 4096 }
//! "net.ipv4.tcp_syncookies" = { value = 1 }
//!
//! [listeners]
//! min_backlog = 511      # effective backlog below this is a finding
//! min_somaxconn = 4096   # somaxconn below this is a finding
//! max_somaxconn = 65535  # never raise somaxconn above this
//! ```

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::error::Error;
use crate::limits::SOMAXCONN;
use crate::sysctl::normalize_key;
use crate::tomlfile::TomlFile;

pub const DEFAULT_PATH: &str = "/etc/qfix/policy.toml";

/// A desired state for one key: an exact value, or bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Want {
    pub exact: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Want {
    /// The value to hold given the current one (`None`: the current one is fine or unknown).
    pub fn target(&self, current: Option<&str>) -> Option<String> {
        if let Some(v) = &self.exact {
            return Some(v.clone());
        }
        let cur = current.and_then(crate::sysctl::as_int);
        // the maximum wins over the minimum: a plan never goes above a bound it was given
        let v = match (cur, self.min) {
            (Some(c), Some(lo)) => c.max(lo),
            (Some(c), None) => c,
            (None, Some(lo)) => lo,
            (None, None) => self.max?,
        };
        Some(self.max.map_or(v, |hi| v.min(hi)).to_string())
    }

    /// Tighten with another want (policy plus rule proposals): bounds combine.
    pub fn merge(&mut self, other: &Want) {
        if self.exact.is_none() {
            self.exact = other.exact.clone();
        }
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn describe(&self) -> String {
        match (&self.exact, self.min, self.max) {
            (Some(v), _, _) => format!("= {v}"),
            (None, Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
            (None, Some(lo), None) => format!(">= {lo}"),
            (None, None, Some(hi)) => format!("<= {hi}"),
            (None, None, None) => "anything".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyKey {
    pub key: String,
    pub want: Want,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    /// In-root path it came from, `None` for the built-in defaults.
    pub path: Option<String>,
    pub sysctl: Vec<PolicyKey>,
    pub min_backlog: Threshold,
    pub min_somaxconn: Threshold,
    pub max_somaxconn: Threshold,
    /// `[[accept]]`: findings the site has decided to live with.
    pub accept: Vec<Waiver>,
}

/// A finding accepted on purpose, like ruff's noqa or cargo-deny's ignore: every field given
/// must match; `reason` is required.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Waiver {
    /// Rule code or name.
    pub rule: String,
    /// Any location of the finding (or the listener's config file).
    pub path: Option<String>,
    /// "service instance", as `qfix listeners` names it.
    pub listener: Option<String>,
    pub key: Option<String>,
    pub reason: String,
    /// Last day it holds (YYYY-MM-DD); after it the waiver is itself a finding.
    pub until: Option<String>,
    pub line: usize,
}

impl Waiver {
    /// Days since 1970-01-01 of `until`, for comparing with today.
    pub fn until_day(&self) -> Option<i64> {
        self.until.as_deref().and_then(day_number)
    }
}

/// Days since 1970-01-01 of a YYYY-MM-DD date.
pub fn day_number(date: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(&format!("{date}T00:00:00Z")).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some((secs / 86_400) as i64)
}

/// A number and the policy line that set it (0 for the built-in default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Threshold {
    pub value: i64,
    pub line: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            path: None,
            sysctl: Vec::new(),
            min_backlog: Threshold {
                value: 511,
                line: 0,
            },
            min_somaxconn: Threshold {
                value: 4096,
                line: 0,
            },
            max_somaxconn: Threshold {
                value: 65535,
                line: 0,
            },
            accept: Vec::new(),
        }
    }
}

/// A policy entry as written: `{ value = ... }`, or `{ min = ..., max = ... }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WantToml {
    value: Option<Scalar>,
    min: Option<i64>,
    max: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Str(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverToml {
    rule: String,
    path: Option<String>,
    listener: Option<String>,
    key: Option<String>,
    reason: Option<String>,
    until: Option<Until>,
}

/// `until = 2027-03-01` (a TOML date) or `until = "2027-03-01"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Until {
    Date(toml_edit::Datetime),
    Text(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListenersToml {
    min_backlog: Option<Spanned<i64>>,
    min_somaxconn: Option<Spanned<i64>>,
    max_somaxconn: Option<Spanned<i64>>,
}

impl Policy {
    /// Parse and validate; every problem is reported as `path:line: message`.
    pub fn parse(path: &str, text: &str) -> Result<Policy, Vec<Error>> {
        let file = TomlFile::parse(path, text).map_err(|e| vec![e])?;
        let mut errs = Vec::new();
        let mut policy = Policy {
            path: Some(path.to_string()),
            ..Policy::default()
        };
        for (name, item) in file.doc.iter() {
            match name {
                "sysctl" => {
                    let Some(t) = item.as_table_like() else {
                        errs.push(file.error(item, "[sysctl] must be a table"));
                        continue;
                    };
                    for (key, v) in t.iter() {
                        let what = format!("sysctl \"{key}\"");
                        let normal = normalize_key(key);
                        let want = file.value::<WantToml>(&what, v).and_then(|w| {
                            // a key or value qfix would refuse from --set is refused here, at
                            // its line, before a plan proposes writing it
                            crate::sysctl::check_pattern(&normal)
                                .and_then(|()| want(w))
                                .and_then(|w| match &w.exact {
                                    Some(x) => crate::sysctl::check_value(&normal, x).map(|()| w),
                                    None => Ok(w),
                                })
                                .map_err(|m| file.error(v, format!("{what}: {m}")))
                        });
                        match want {
                            Ok(want) => policy.sysctl.push(PolicyKey {
                                key: normal,
                                want,
                                line: file.line_of(v),
                            }),
                            Err(e) => errs.push(e),
                        }
                    }
                }
                "listeners" => match file.value::<ListenersToml>("[listeners]", item) {
                    Ok(l) => {
                        let slots = [
                            ("min_backlog", l.min_backlog, &mut policy.min_backlog),
                            ("min_somaxconn", l.min_somaxconn, &mut policy.min_somaxconn),
                            ("max_somaxconn", l.max_somaxconn, &mut policy.max_somaxconn),
                        ];
                        for (k, v, slot) in slots {
                            let Some(v) = v else { continue };
                            let line = file.line(Some(v.span()));
                            match *v.get_ref() {
                                n if (0..=i32::MAX as i64).contains(&n) => {
                                    *slot = Threshold { value: n, line }
                                }
                                _ => errs.push(Error::at(
                                    path,
                                    line,
                                    format!(
                                        "listeners.{k} must be an integer between 0 and 2147483647"
                                    ),
                                )),
                            }
                        }
                    }
                    Err(e) => errs.push(e),
                },
                "accept" => {
                    let Some(entries) = item.as_array_of_tables() else {
                        errs.push(file.error(item, "accept must be [[accept]] tables"));
                        continue;
                    };
                    for t in entries.iter() {
                        let entry = toml_edit::Item::Table(t.clone());
                        let line = file.line(t.span());
                        match file.value::<WaiverToml>("[[accept]]", &entry) {
                            Ok(w) => match waiver(w, line) {
                                Ok(w) => policy.accept.push(w),
                                Err(m) => {
                                    errs.push(Error::at(path, line, format!("[[accept]]: {m}")))
                                }
                            },
                            Err(e) => errs.push(e),
                        }
                    }
                }
                other => errs.push(file.error(
                    item,
                    format!(
                        "unknown section [{other}] (expected [sysctl], [listeners] or [[accept]])"
                    ),
                )),
            }
        }
        if errs.is_empty() {
            policy.settle(&mut errs);
        }
        if errs.is_empty() {
            Ok(policy)
        } else {
            Err(errs)
        }
    }

    /// Check that somaxconn's bounds agree: `listeners.min_somaxconn`/`max_somaxconn` and a
    /// `[sysctl]` entry for it. A built-in default gives way to what the file says (a
    /// `max = 1024` lowers the default minimum 4096); two settings the file writes that
    /// contradict each other are an error at the later line.
    fn settle(&mut self, errs: &mut Vec<Error>) {
        let path = self.path.clone().unwrap_or_default();
        let key = self.want(SOMAXCONN).cloned();
        let (kmin, kmax) = key.as_ref().map_or((None, None), |k| {
            let exact = k.want.exact.as_deref().and_then(crate::sysctl::as_int);
            (exact.or(k.want.min), exact.or(k.want.max))
        });
        let kline = key.as_ref().map_or(0, |k| k.line);
        // (value, line) of the bounds, the file's own first
        let mut lows: Vec<(i64, usize)> = Vec::new();
        let mut highs: Vec<(i64, usize)> = Vec::new();
        if let Some(v) = kmin {
            lows.push((v, kline));
        }
        if let Some(v) = kmax {
            highs.push((v, kline));
        }
        if self.min_somaxconn.line > 0 {
            lows.push((self.min_somaxconn.value, self.min_somaxconn.line));
        }
        if self.max_somaxconn.line > 0 {
            highs.push((self.max_somaxconn.value, self.max_somaxconn.line));
        }
        for &(lo, ll) in &lows {
            for &(hi, hl) in &highs {
                if lo > hi {
                    errs.push(Error::at(
                        &path,
                        ll.max(hl),
                        format!(
                            "contradictory bounds for {SOMAXCONN}: at least {lo} (line {ll}) and at most {hi} (line {hl})"
                        ),
                    ));
                }
            }
        }
        // no listener's queue can exceed somaxconn: a minimum backlog above its maximum
        // could never be met, and raising backlogs toward it only adds findings
        if self.min_backlog.line > 0 {
            for &(hi, hl) in &highs {
                if self.min_backlog.value > hi {
                    let ll = self.min_backlog.line;
                    errs.push(Error::at(
                        &path,
                        ll.max(hl),
                        format!(
                            "contradictory bounds: listeners.min_backlog {} (line {ll}) is above {SOMAXCONN}'s maximum {hi} (line {hl}), which caps every backlog",
                            self.min_backlog.value
                        ),
                    ));
                }
            }
        }
        // defaults give way to the file's own bounds
        if let Some(&(hi, _)) = highs.iter().min_by_key(|(v, _)| *v) {
            if self.min_backlog.line == 0 && self.min_backlog.value > hi {
                self.min_backlog.value = hi;
            }
            if self.min_somaxconn.line == 0 && self.min_somaxconn.value > hi {
                self.min_somaxconn.value = hi;
            }
            if self.max_somaxconn.line == 0 && self.max_somaxconn.value > hi {
                self.max_somaxconn.value = hi;
            }
        }
        if let Some(&(lo, _)) = lows.iter().max_by_key(|(v, _)| *v) {
            if self.max_somaxconn.line == 0 && self.max_somaxconn.value < lo {
                self.max_somaxconn.value = lo;
            }
        }
    }

    pub fn want(&self, key: &str) -> Option<&PolicyKey> {
        self.sysctl.iter().rev().find(|p| p.key == key)
    }
}

fn waiver(w: WaiverToml, line: usize) -> Result<Waiver, String> {
    let reason = w
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .ok_or("a waiver needs a reason (reason = \"...\")")?;
    let until = match w.until {
        None => None,
        Some(Until::Date(d)) => Some(
            d.date
                .map(|d| d.to_string())
                .ok_or("until must be a date such as 2027-03-01")?,
        ),
        Some(Until::Text(t)) => Some(t),
    };
    if let Some(u) = &until {
        if day_number(u).is_none() {
            return Err(format!("until {u:?} is not a date such as 2027-03-01"));
        }
    }
    Ok(Waiver {
        rule: w.rule,
        path: w.path,
        listener: w.listener,
        key: w.key.map(|k| normalize_key(&k)),
        reason,
        until,
        line,
    })
}

fn want(w: WantToml) -> Result<Want, String> {
    let want = Want {
        exact: w.value.map(|v| match v {
            Scalar::Int(i) => i.to_string(),
            Scalar::Str(s) => s,
        }),
        min: w.min,
        max: w.max,
    };
    if want.exact.is_some() && (want.min.is_some() || want.max.is_some()) {
        return Err("value cannot be combined with min or max".into());
    }
    if want == Want::default() {
        return Err("needs value, min or max".into());
    }
    if let (Some(lo), Some(hi)) = (want.min, want.max) {
        if lo > hi {
            return Err(format!("min {lo} is above max {hi}"));
        }
    }
    Ok(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_collected_with_its_line() {
        let text = "[sysctl]\n\"net.core.somaxconn\" = { min = \"x\" }\n\"net/ipv4/tcp_syncookies\" = { value = 1 }\n[listeners]\nmin_backlog = 511\nbogus = 1\n[other]\n";
        let errs = Policy::parse("/etc/qfix/policy.toml", text).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].starts_with("/etc/qfix/policy.toml:2: "), "{msgs:?}");
        assert!(msgs[1].starts_with("/etc/qfix/policy.toml:6: "), "{msgs:?}");
        assert!(msgs[2].starts_with("/etc/qfix/policy.toml:7: "), "{msgs:?}");
    }

    #[test]
    fn keys_and_values_qfix_would_not_write_are_errors_at_their_lines() {
        let text = "[sysctl]\n\"net.core.somaxconn\" = { min = 4096 }\n\"net/../../victim\" = { min = 5 }\n\"net.ipv4.tcp_tw_reuse\" = { value = \"1\\n2\" }\n\"net.ipv4.conf.*.rp_filter\" = { value = 1 }\n";
        let errs = Policy::parse("p.toml", text).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs[0].starts_with("p.toml:3: ") && msgs[0].contains(".."),
            "{msgs:?}"
        );
        assert!(
            msgs[1].starts_with("p.toml:4: ") && msgs[1].contains("control"),
            "{msgs:?}"
        );
    }

    #[test]
    fn valid_policy() {
        let p = Policy::parse("p", "[sysctl]\n\"net.core.somaxconn\" = { min = 4096 }\n").unwrap();
        assert_eq!(p.sysctl[0].key, "net.core.somaxconn");
        assert_eq!(
            p.sysctl[0].want.target(Some("128")).as_deref(),
            Some("4096")
        );
        assert_eq!(
            p.sysctl[0].want.target(Some("8192")).as_deref(),
            Some("8192")
        );
        assert_eq!(p.min_backlog.value, 511);
    }

    #[test]
    fn contradictory_somaxconn_bounds_are_an_error_at_the_later_line() {
        let text = "[listeners]\nmin_somaxconn = 8192\nmax_somaxconn = 4096\n";
        let errs = Policy::parse("p", text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].to_string().starts_with("p:3: contradictory bounds"),
            "{errs:?}"
        );
        let text = "[sysctl]\n\"net.core.somaxconn\" = { min = 70000 }\n[listeners]\nmax_somaxconn = 65535\n";
        let errs = Policy::parse("p", text).unwrap_err();
        assert!(
            errs[0].to_string().starts_with("p:4: contradictory bounds"),
            "{errs:?}"
        );
    }

    #[test]
    fn a_somaxconn_maximum_caps_the_default_minimum_backlog_and_refuses_a_written_one_above_it() {
        let p = Policy::parse("p", "[listeners]\nmax_somaxconn = 100\n").unwrap();
        assert_eq!(p.min_backlog.value, 100);
        let errs = Policy::parse(
            "p",
            "[listeners]\nmin_backlog = 2048\nmax_somaxconn = 1024\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].to_string().starts_with("p:3: contradictory bounds"),
            "{errs:?}"
        );
    }

    #[test]
    fn a_written_maximum_lowers_the_default_minimum() {
        let p = Policy::parse("p", "[sysctl]\n\"net.core.somaxconn\" = { max = 1024 }\n").unwrap();
        assert_eq!(p.min_somaxconn.value, 1024);
        assert_eq!(p.max_somaxconn.value, 1024);
        let want = &p.want("net.core.somaxconn").unwrap().want;
        // the maximum wins over a minimum merged in later by a rule
        let mut merged = want.clone();
        merged.merge(&Want {
            min: Some(4096),
            ..Want::default()
        });
        assert_eq!(merged.target(Some("128")).as_deref(), Some("1024"));
    }
}
