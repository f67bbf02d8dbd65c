//! Timestamps as the services write them, and syslog's prefix.
//!
//! Every format here is local time without a zone, so a `LogTime` is the wall-clock time as
//! written, `2026-12-04T12:23:18`: comparable within a host's logs, never converted.
//! - nginx `2026/12/04 12:23:18` (src/core/ngx_times.c, `ngx_cached_err_log_time`);
//! - php-fpm `[04-Dec-2026 12:23:20]`, `.123456` added at log_level debug (zlog.c);
//! - Redis `143:M 04 Dec 2026 12:23:35.266` (server.c `serverLogRaw`);
//! - uWSGI `Fri Dec  4 12:23:39 2026` (ctime, core/logging.c);
//! - syslog: `<PRI>` when written raw, then `Dec  4 12:24:37` (RFC 3164: no year) or
//!   `2026-12-04T12:24:37.123456+01:00` (RFC 3339, rsyslog's default file format), then the
//!   host (absent from what glibc's syslog() sends) and the tag.

use serde::{Deserialize, Serialize};

/// A local wall-clock time as a log wrote it (seconds; fractions dropped).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct LogTime(String);

impl LogTime {
    /// A checked date and time; `None` when a field is out of range.
    pub fn new(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<LogTime> {
        let ok = (1970..=9999).contains(&y)
            && (1..=12).contains(&mo)
            && (1..=31).contains(&d)
            && h < 24
            && mi < 60
            && s < 61;
        ok.then(|| LogTime(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LogTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The year and month a log's undated (RFC 3164) syslog lines most likely belong to: those
/// of the file's last change. A line of a later month is from the year before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearHint {
    pub year: i32,
    pub month: u32,
}

impl YearHint {
    /// From seconds since the epoch (UTC: only the year and month are used, and a day's
    /// difference at the turn of a year is the price of not reading time zones).
    pub fn from_unix(secs: i64) -> YearHint {
        let (year, month, _) = civil(secs.div_euclid(86_400));
        YearHint { year, month }
    }

    fn year_of(&self, month: u32) -> i32 {
        if month > self.month {
            self.year - 1
        } else {
            self.year
        }
    }
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400) as i32 + i32::from(m <= 2);
    (y, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

/// Exactly `n` ASCII digits at the start of `s`.
fn digits(s: &str, n: usize) -> Option<u32> {
    let d = s.get(..n)?;
    d.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| d.parse().ok())
        .flatten()
}

/// `HH:MM:SS` at the start of `s`.
fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((digits(s, 2)?, digits(&s[3..], 2)?, digits(&s[6..], 2)?))
}

/// nginx: `2026/12/04 12:23:18` at the start.
pub fn nginx(line: &str) -> Option<LogTime> {
    let b = line.as_bytes();
    if b.len() < 19 || b[4] != b'/' || b[7] != b'/' || b[10] != b' ' {
        return None;
    }
    let (h, mi, s) = hms(&line[11..])?;
    LogTime::new(
        digits(line, 4)? as i32,
        digits(&line[5..], 2)?,
        digits(&line[8..], 2)?,
        h,
        mi,
        s,
    )
}

/// php-fpm: `[04-Dec-2026 12:23:20` at the start (then `]` or a fraction).
pub fn phpfpm(line: &str) -> Option<LogTime> {
    let s = line.strip_prefix('[')?;
    let b = s.as_bytes();
    if b.len() < 20 || b[2] != b'-' || b[6] != b'-' || b[11] != b' ' {
        return None;
    }
    let (h, mi, sec) = hms(&s[12..])?;
    LogTime::new(
        digits(&s[7..], 4)? as i32,
        month(s.get(3..6)?)?,
        digits(s, 2)?,
        h,
        mi,
        sec,
    )
}

/// Redis: `143:M 04 Dec 2026 12:23:35.266` at the start; the rest of the line after it.
pub fn redis(line: &str) -> Option<(LogTime, &str)> {
    let (pid, rest) = line.split_once(':')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // role character, a space, then the date
    let rest = rest.get(2..)?;
    let b = rest.as_bytes();
    if b.len() < 20 || b[2] != b' ' || b[6] != b' ' || b[11] != b' ' {
        return None;
    }
    let (h, mi, s) = hms(&rest[12..])?;
    let t = LogTime::new(
        digits(&rest[7..], 4)? as i32,
        month(rest.get(3..6)?)?,
        digits(rest, 2)?,
        h,
        mi,
        s,
    )?;
    Some((t, &rest[20..]))
}

/// ctime (uWSGI): `Fri Dec  4 12:23:39 2026` at the start.
pub fn ctime(line: &str) -> Option<LogTime> {
    let b = line.as_bytes();
    if b.len() < 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    let day = line[8..10].trim_start().parse().ok()?;
    let (h, mi, s) = hms(&line[11..])?;
    LogTime::new(
        digits(&line[20..], 4)? as i32,
        month(&line[4..7])?,
        day,
        h,
        mi,
        s,
    )
}

/// RFC 3164's `Dec  4 12:24:37`, then what follows its space.
fn bsd(s: &str, year: YearHint) -> Option<(LogTime, &str)> {
    let b = s.as_bytes();
    if b.len() < 16 || b[3] != b' ' || b[6] != b' ' || b[15] != b' ' {
        return None;
    }
    let mo = month(&s[..3])?;
    let day = s[4..6].trim_start().parse().ok()?;
    let (h, mi, sec) = hms(&s[7..])?;
    let t = LogTime::new(year.year_of(mo), mo, day, h, mi, sec)?;
    Some((t, &s[16..]))
}

/// RFC 3339's `2026-12-04T12:24:37[.frac][Z|±hh:mm]`, then what follows its space.
fn iso(s: &str) -> Option<(LogTime, &str)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let (h, mi, sec) = hms(&s[11..])?;
    let t = LogTime::new(
        digits(s, 4)? as i32,
        digits(&s[5..], 2)?,
        digits(&s[8..], 2)?,
        h,
        mi,
        sec,
    )?;
    let rest = &s[19..];
    let end = rest.find(' ')?;
    Some((t, &rest[end + 1..]))
}

/// A syslog line (as written to a file, or raw with `<PRI>`): its time and its message,
/// after the host and the tag. `None` for anything else.
pub fn syslog(line: &str, year: YearHint) -> Option<(LogTime, &str)> {
    let mut s = line;
    if let Some(rest) = s.strip_prefix('<') {
        let end = rest.find('>')?;
        if end == 0 || end > 3 || !rest[..end].bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s = &rest[end + 1..];
        // RFC 5424's version
        if let Some(r) = s.strip_prefix("1 ") {
            s = r;
        }
    }
    let (t, rest) = bsd(s, year).or_else(|| iso(s))?;
    // `HOST TAG: message` or `TAG: message`; a tag has no spaces
    let colon = rest.find(": ")?;
    let head = &rest[..colon];
    let words = head.split(' ').filter(|w| !w.is_empty()).count();
    if !(1..=2).contains(&words) || head.starts_with(' ') {
        return None;
    }
    Some((t, &rest[colon + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<LogTime> {
        Some(LogTime(s.to_string()))
    }

    const HINT: YearHint = YearHint {
        year: 2026,
        month: 12,
    };

    #[test]
    fn each_services_format() {
        assert_eq!(
            nginx("2026/12/04 12:23:18 [error] 131#131: *5 x"),
            t("2026-12-04T12:23:18")
        );
        assert_eq!(nginx("2026-12-04 12:23:18 x"), None);
        assert_eq!(
            phpfpm("[04-Dec-2026 12:23:20] WARNING: x"),
            t("2026-12-04T12:23:20")
        );
        assert_eq!(
            phpfpm("[04-Dec-2026 12:23:20.123456] DEBUG: x"),
            t("2026-12-04T12:23:20")
        );
        assert_eq!(phpfpm("[04-Foo-2026 12:23:20] x"), None);
        assert_eq!(
            redis("143:M 04 Dec 2026 12:23:35.266 # WARNING: x"),
            Some((LogTime("2026-12-04T12:23:35".into()), ".266 # WARNING: x"))
        );
        assert_eq!(redis("x:M 04 Dec 2026 12:23:35.266 # x"), None);
        assert_eq!(
            ctime("Fri Dec  4 12:23:39 2026 - *** uWSGI"),
            t("2026-12-04T12:23:39")
        );
        assert_eq!(
            ctime("Sat Dec 12 01:02:03 2026 - x"),
            t("2026-12-12T01:02:03")
        );
        assert_eq!(ctime("no time here, but long enough"), None);
        // out of range fields are no time
        assert_eq!(nginx("2026/13/04 12:23:18 x"), None);
        assert_eq!(nginx("2026/12/04 25:23:18 x"), None);
    }

    #[test]
    fn syslog_prefixes() {
        // nginx's own datagram, with host and tag
        let (time, msg) = syslog(
            "<187>Dec  4 12:24:37 vm nginx: 2026/12/04 12:24:37 [error] x",
            HINT,
        )
        .unwrap();
        assert_eq!(time.as_str(), "2026-12-04T12:24:37");
        assert_eq!(msg, "2026/12/04 12:24:37 [error] x");
        // glibc's syslog() to /dev/log: no host
        let (_, msg) = syslog(
            "<29>Dec  4 12:24:37 php-fpm[120]: [WARNING] [pool sys] server",
            HINT,
        )
        .unwrap();
        assert_eq!(msg, "[WARNING] [pool sys] server");
        // a file written by rsyslog, RFC 3339
        let (time, msg) = syslog(
            "2026-12-04T12:24:37.123456+01:00 web1 php-fpm[120]: [WARNING] y",
            HINT,
        )
        .unwrap();
        assert_eq!(time.as_str(), "2026-12-04T12:24:37");
        assert_eq!(msg, "[WARNING] y");
        // journalctl's short format, a month after the file's: the year before
        let (time, _) = syslog(
            "Jan 02 00:00:01 web1 nginx[7]: z",
            YearHint {
                year: 2027,
                month: 1,
            },
        )
        .unwrap();
        assert_eq!(time.as_str(), "2027-01-02T00:00:01");
        let (time, _) = syslog(
            "Dec 31 23:59:59 web1 nginx[7]: z",
            YearHint {
                year: 2027,
                month: 1,
            },
        )
        .unwrap();
        assert_eq!(time.as_str(), "2026-12-31T23:59:59");
        // not syslog
        assert!(syslog("2026/12/04 12:24:37 [error] x: y", HINT).is_none());
        assert!(syslog("[04-Dec-2026 12:23:20] WARNING: x", HINT).is_none());
        assert!(syslog("Dec  4 12:24:37 a b c: three words", HINT).is_none());
        assert!(syslog("<x>Dec  4 12:24:37 a: b", HINT).is_none());
    }

    #[test]
    fn year_hint_from_the_epoch() {
        assert_eq!(
            YearHint::from_unix(0),
            YearHint {
                year: 1970,
                month: 1
            }
        );
        // 2026-12-04T12:00:00Z
        assert_eq!(
            YearHint::from_unix(1_796_385_600),
            YearHint {
                year: 2026,
                month: 12
            }
        );
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(19_723), (2024, 1, 1));
    }
}
