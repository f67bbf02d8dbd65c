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

use toml_edit::{ImDocument, Item, Value};

use crate::error::Error;
use crate::sysctl::normalize_key;

pub const DEFAULT_PATH: &str = "/etc/qfix/policy.toml";

/// A desired state for one key: an exact value, or bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
        match (cur, self.min, self.max) {
            (Some(c), Some(lo), _) if c < lo => Some(lo.to_string()),
            (Some(c), _, Some(hi)) if c > hi => Some(hi.to_string()),
            (Some(c), _, _) => Some(c.to_string()),
            (None, Some(lo), _) => Some(lo.to_string()),
            (None, None, Some(hi)) => Some(hi.to_string()),
            (None, None, None) => None,
        }
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyKey {
    pub key: String,
    pub want: Want,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// In-root path it came from, `None` for the built-in defaults.
    pub path: Option<String>,
    pub sysctl: Vec<PolicyKey>,
    pub min_backlog: Threshold,
    pub min_somaxconn: Threshold,
    pub max_somaxconn: Threshold,
}

/// A number and the policy line that set it (0 for the built-in default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        }
    }
}

impl Policy {
    /// Parse and validate; every problem is reported as `path:line: message`.
    pub fn parse(path: &str, text: &str) -> Result<Policy, Vec<Error>> {
        let doc = ImDocument::parse(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            vec![Error::at(path, line, e.message().trim())]
        })?;
        let mut errs = Vec::new();
        let mut policy = Policy {
            path: Some(path.to_string()),
            ..Policy::default()
        };
        let at = |item: &Item| item.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        for (name, item) in doc.iter() {
            match name {
                "sysctl" => {
                    let Some(t) = item.as_table_like() else {
                        errs.push(Error::at(path, at(item), "[sysctl] must be a table"));
                        continue;
                    };
                    for (key, v) in t.iter() {
                        match parse_want(v) {
                            Ok(want) => policy.sysctl.push(PolicyKey {
                                key: normalize_key(key),
                                want,
                                line: at(v),
                            }),
                            Err(m) => {
                                errs.push(Error::at(path, at(v), format!("sysctl \"{key}\": {m}")))
                            }
                        }
                    }
                }
                "listeners" => {
                    let Some(t) = item.as_table_like() else {
                        errs.push(Error::at(path, at(item), "[listeners] must be a table"));
                        continue;
                    };
                    for (k, v) in t.iter() {
                        let slot = match k {
                            "min_backlog" => &mut policy.min_backlog,
                            "min_somaxconn" => &mut policy.min_somaxconn,
                            "max_somaxconn" => &mut policy.max_somaxconn,
                            _ => {
                                errs.push(Error::at(path, at(v), format!(
                                    "unknown setting listeners.{k} (expected min_backlog, min_somaxconn, max_somaxconn)"
                                )));
                                continue;
                            }
                        };
                        match v.as_integer() {
                            Some(n) if (0..=i32::MAX as i64).contains(&n) => {
                                *slot = Threshold {
                                    value: n,
                                    line: at(v),
                                }
                            }
                            _ => errs.push(Error::at(
                                path,
                                at(v),
                                format!(
                                    "listeners.{k} must be an integer between 0 and 2147483647"
                                ),
                            )),
                        }
                    }
                }
                other => errs.push(Error::at(
                    path,
                    at(item),
                    format!("unknown section [{other}] (expected [sysctl] or [listeners])"),
                )),
            }
        }
        if errs.is_empty() {
            Ok(policy)
        } else {
            Err(errs)
        }
    }

    pub fn want(&self, key: &str) -> Option<&PolicyKey> {
        self.sysctl.iter().rev().find(|p| p.key == key)
    }
}

fn parse_want(item: &Item) -> Result<Want, String> {
    let table = item
        .as_table_like()
        .ok_or("expected a table such as { min = 4096 } or { value = \"1\" }")?;
    let mut want = Want::default();
    for (k, v) in table.iter() {
        let v = v.as_value().ok_or(format!("{k} must be a value"))?;
        match k {
            "value" => {
                want.exact = Some(match v {
                    Value::String(s) => s.value().clone(),
                    Value::Integer(i) => i.value().to_string(),
                    _ => return Err("value must be a string or an integer".into()),
                })
            }
            "min" => want.min = Some(v.as_integer().ok_or("min must be an integer")?),
            "max" => want.max = Some(v.as_integer().ok_or("max must be an integer")?),
            other => {
                return Err(format!(
                    "unknown field {other} (expected value, min or max)"
                ));
            }
        }
    }
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

pub fn line_of(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
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
}
