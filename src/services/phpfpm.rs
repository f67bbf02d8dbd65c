//! php-fpm pools: `listen` and `listen.backlog` in each `[pool]` section.
//!
//! Config files: Debian `/etc/php/X.Y/fpm/php-fpm.conf` for every X.Y present, RHEL
//! `/etc/php-fpm.conf`; pools usually come from their `include=` glob. RHEL's paths name no
//! PHP version, which sets the default backlog: it is read from the root (`rhel_version`: the
//! binary's compiled-in version, a link's target, dpkg's status, dnf's module stream), else
//! guessed, and the reason says which.
//!
//! What php-fpm does, and what this module mirrors (php-src sapi/fpm/fpm/fpm_conf.c,
//! checked against php-fpm8.2 -t / -tt):
//! - Each line is parsed on its own by the Zend INI scanner (`fpm_conf_load_ini_file`), so a
//!   quote never spans lines. `;` starts a comment; `#` does NOT (PHP 7 dropped it): a
//!   `# text` line is a key without a value and php-fpm refuses to start.
//! - Values: bare text (trimmed, ends at `;`), `"double"` (with `\"` `\\` escapes and
//!   `${VAR}`), `'raw'`; adjacent pieces concatenate. `on/yes/true` read as 1,
//!   `off/no/none/false/null` as empty.
//! - Keys are matched case-insensitively, `include` exactly. A later assignment wins.
//! - `[global]` leaves the pools; any other `[name]` opens, or re-opens (case-insensitive),
//!   that pool. The current pool is global parser state: a pool opened inside an included
//!   file stays current after the include line.
//! - `include=` is expanded with glob(3) right after its line. A relative pattern is taken
//!   from php-fpm's prefix (`-p`, else the build's PHP_PREFIX, /usr on Debian and RHEL, whose
//!   units never pass `-p`), NOT from the including file's directory. Nothing matching only
//!   warns; a pattern whose directory is missing makes glob fail (GLOB_ERR) and php-fpm
//!   stop. Directories matched are skipped. More than 5 nested files is fatal, which is how
//!   an include loop ends.
//! - `listen.backlog` takes digits with an optional leading `-` (atoi; empty = 0). Its
//!   default is 511 up to PHP 8.1 and -1 (= somaxconn) on Linux from 8.2. With
//!   `pm = ondemand`, a value below the default is raised to the default.
//! - `listen`: with a `:` it is `host:port` (`[v6]:port`, `*:port`), all digits is a port on
//!   every address, anything else a unix socket path (relative to the prefix). `$pool`
//!   expands to the pool name.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::error::Error;
use crate::host::Host;
use crate::root::{self, Resolved};

const SERVICE: &str = "php-fpm";
const ACTION_REASON: &str =
    "php-fpm reload keeps its old listening sockets; a restart re-creates them";
/// PHP_PREFIX of the Debian and RHEL builds (relative include= and socket paths).
const PHP_PREFIX: &str = "/usr";
/// fpm_conf_load_ini_file: `ini_recursion++ > 4` refuses a sixth nested file.
const MAX_DEPTH: usize = 5;

pub fn scan(host: &Host, scan: &mut Scan) {
    let debian = match host.glob("/etc/php/*/fpm/php-fpm.conf") {
        Ok(v) => v,
        Err(e) => {
            scan.errors.push(e);
            Vec::new()
        }
    };
    for path in debian {
        // /etc/php/X.Y/fpm/php-fpm.conf: the version directory names the unit and binary.
        let xy = path.split('/').nth(3).unwrap_or_default().to_string();
        let main = Main {
            version: parse_version(&xy).map(|v| (v, format!("PHP {xy}"))),
            unit: format!("php{xy}-fpm"),
            checker: vec![
                format!("php-fpm{xy}"),
                "-t".into(),
                "-y".into(),
                path.clone(),
            ]
            .into(),
            path,
        };
        load_main(host, scan, &main);
    }
    const RHEL: &str = "/etc/php-fpm.conf";
    match host.read(RHEL) {
        Ok(Some(_)) => {
            let main = Main {
                path: RHEL.into(),
                version: rhel_version(host),
                unit: "php-fpm".into(),
                checker: vec!["php-fpm".into(), "-t".into(), "-y".into(), RHEL.into()].into(),
            };
            load_main(host, scan, &main);
        }
        Ok(None) => {}
        Err(e) => scan.errors.push(e),
    }
}

/// One php-fpm master: its main config and what we know of its version.
struct Main {
    path: String,
    /// ((major, minor), where it comes from).
    version: Option<((u32, u32), String)>,
    unit: String,
    checker: std::sync::Arc<[String]>,
}

fn parse_version(xy: &str) -> Option<(u32, u32)> {
    let (a, b) = xy.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// RHEL paths carry no version; the root may still tell it, from the most direct evidence:
/// the binary itself (its compiled-in "X-Powered-By: PHP/X.Y.Z", main/SAPI.h
/// `SAPI_PHP_VERSION_HEADER`), the name a /usr/sbin/php-fpm link points to, a single
/// versioned binary /usr/sbin/php-fpmX.Y, an installed phpX.Y-fpm in dpkg's status file, or
/// an enabled dnf module stream. (RPM's database is binary and is not read.)
fn rhel_version(host: &Host) -> Option<((u32, u32), String)> {
    const BIN: &str = "/usr/sbin/php-fpm";
    if let Some(v) = compiled_version(host, BIN) {
        return Some((
            v,
            format!("PHP {}.{} from the version compiled into {BIN}", v.0, v.1),
        ));
    }
    if let Ok(Resolved::Path(target)) = host.resolve(BIN)
        && target != BIN
        && let Some(v) = version_in_path(&target)
    {
        return Some((
            v,
            format!("PHP {}.{} from the link {BIN} -> {target}", v.0, v.1),
        ));
    }
    versioned_binary(host)
        .or_else(|| dpkg_version(host))
        .or_else(|| dnf_module_version(host))
}

/// The marker every PHP binary carries, followed by PHP_VERSION.
const VERSION_MARKER: &[u8] = b"X-Powered-By: PHP/";

/// The PHP version compiled into a binary in the root (links followed), read in pieces.
fn compiled_version(host: &Host, path: &str) -> Option<(u32, u32)> {
    use std::io::Read;
    let file = host.root.resolve_host(path).ok()??;
    let mut f = std::fs::File::open(file).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let finder = memchr::memmem::Finder::new(VERSION_MARKER);
    let mut buf = vec![0u8; 1 << 20];
    // the tail of the previous piece, in case the marker spans two
    let keep = VERSION_MARKER.len() + 16;
    let mut have = 0;
    // a php-fpm binary is a few MB; stop well after that
    for _ in 0..64 {
        let n = f.read(&mut buf[have..]).ok()?;
        if n == 0 {
            return None;
        }
        let end = have + n;
        if let Some(i) = finder.find(&buf[..end]) {
            let rest = &buf[i + VERSION_MARKER.len()..end];
            let text: String = rest
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .map(|&b| b as char)
                .collect();
            let mut it = text.split('.');
            return Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?));
        }
        let from = end.saturating_sub(keep);
        buf.copy_within(from..end, 0);
        have = end - from;
    }
    None
}

/// "php-fpm8.2", "php-fpm82" (Alpine), ".../php82/root/..." (Remi's collections),
/// ".../php/8.2/...": the version a path names.
fn version_in_path(path: &str) -> Option<(u32, u32)> {
    path.rsplit('/').find_map(|c| {
        let v = c
            .strip_prefix("php-fpm")
            .or_else(|| c.strip_prefix("php"))?;
        if let Some(v) = parse_version(v) {
            return Some(v);
        }
        // two or three digits: major, then minor
        match v.as_bytes() {
            [a, rest @ ..] if a.is_ascii_digit() && (1..=2).contains(&rest.len()) => {
                let rest = std::str::from_utf8(rest).ok()?;
                Some(((a - b'0') as u32, rest.parse().ok()?))
            }
            _ => None,
        }
    })
}

/// A Debian-style versioned binary in the root when there is exactly one
/// (`/usr/sbin/php-fpmX.Y`).
fn versioned_binary(host: &Host) -> Option<((u32, u32), String)> {
    let bins = host.glob("/usr/sbin/php-fpm[0-9]*").ok()?;
    let mut found: Vec<((u32, u32), String)> = bins
        .iter()
        .filter_map(|b| {
            let v = parse_version(root::file_name(b).strip_prefix("php-fpm")?)?;
            Some((v, format!("PHP {}.{} from {b}", v.0, v.1)))
        })
        .collect();
    found.dedup_by_key(|f| f.0);
    if found.len() == 1 { found.pop() } else { None }
}

/// The one phpX.Y-fpm package dpkg has installed (its status file's paragraphs).
fn dpkg_version(host: &Host) -> Option<((u32, u32), String)> {
    const STATUS: &str = "/var/lib/dpkg/status";
    let text = host.read(STATUS).ok()??;
    let mut found: Vec<(u32, u32)> = Vec::new();
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
        let version = field("Package")
            .and_then(|p| p.strip_prefix("php")?.strip_suffix("-fpm"))
            .and_then(parse_version);
        if let (true, Some(v)) = (installed, version)
            && !found.contains(&v)
        {
            found.push(v);
        }
    }
    match found.as_slice() {
        [v] => Some((
            *v,
            format!(
                "PHP {}.{} from package php{}.{}-fpm in {STATUS}",
                v.0, v.1, v.0, v.1
            ),
        )),
        _ => None,
    }
}

/// The php stream an enabled dnf module names (/etc/dnf/modules.d/php.module, RHEL 8 and 9).
fn dnf_module_version(host: &Host) -> Option<((u32, u32), String)> {
    const MODULE: &str = "/etc/dnf/modules.d/php.module";
    let text = host.read(MODULE).ok()??;
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim())
        })
    };
    if value("state") != Some("enabled") {
        return None;
    }
    let stream = value("stream")?;
    let v = parse_version(stream)?;
    Some((
        v,
        format!(
            "PHP {}.{} from dnf module stream php:{stream} ({MODULE})",
            v.0, v.1
        ),
    ))
}

fn load_main(host: &Host, scan: &mut Scan, main: &Main) {
    let mut l = Loader {
        host,
        scan,
        pools: Vec::new(),
        by_name: HashMap::default(),
        current: None,
        stack: Vec::new(),
        facts: Default::default(),
    };
    l.load(&main.path, None);
    let Loader {
        pools, scan, facts, ..
    } = l;
    scan.facts
        .php_fpm
        .push(facts.finish(&main.path, &main.unit));
    for pool in pools {
        listener(scan, main, pool);
    }
}

#[derive(Debug)]
struct Pool {
    name: String,
    header: Location,
    listen: Option<Listen>,
    backlog: Option<Backlog>,
    pm: Option<String>,
    prefix: Option<String>,
}

#[derive(Debug)]
struct Listen {
    value: String,
    loc: Location,
    /// Start of the line after the `listen =` line: where a new listen.backlog goes.
    insert_at: usize,
    indent: String,
    /// The listen line is the last one and has no newline.
    at_eof: bool,
}

#[derive(Debug)]
struct Backlog {
    /// `None` when php-fpm would not accept the value, or it comes from `${VAR}`.
    value: Option<i64>,
    loc: Location,
    span: Range<usize>,
}

/// A line of a file, turned into a Location only when something is kept or reported.
#[derive(Clone, Copy)]
struct At<'a> {
    /// Shared by the file's locations (a busy host keeps three per pool).
    path: &'a Arc<str>,
    line: usize,
}

impl At<'_> {
    fn loc(&self) -> Location {
        Location {
            path: self.path.clone(),
            line: self.line,
        }
    }
}

struct Loader<'a> {
    host: &'a Host,
    scan: &'a mut Scan,
    pools: Vec<Pool>,
    /// lower-cased pool name -> index: php-fpm re-opens pools case-insensitively.
    by_name: HashMap<String, usize>,
    current: Option<usize>,
    /// Files being read, outermost first (loop and depth check).
    stack: Vec<String>,
    /// Error log and pool sizes, for `services::facts`.
    facts: super::facts::phpfpm::Collector,
}

impl Loader<'_> {
    fn load(&mut self, path: &str, from: Option<&Location>) {
        match self.host.resolve(path) {
            Ok(Resolved::Path(p)) => {
                self.load_resolved(p, from);
            }
            Ok(Resolved::DevNull) => {}
            Err(e) => self.scan.errors.push(e),
        }
    }

    /// Read and parse a file, `path` being its links already followed; false when it does
    /// not exist.
    fn load_resolved(&mut self, path: String, from: Option<&Location>) -> bool {
        if let Some(from) = from {
            if self.stack.contains(&path) {
                self.scan.errors.push(Error::at(
                    &from.path,
                    from.line,
                    format!(
                        "php-fpm: include loop: {path} is already being read; php-fpm fails \
                         with \"failed to include more than 5 files recursively\""
                    ),
                ));
                return true;
            }
            if self.stack.len() >= MAX_DEPTH {
                self.scan.errors.push(Error::at(
                    &from.path,
                    from.line,
                    format!(
                        "php-fpm: including {path} nests more than {MAX_DEPTH} files; php-fpm \
                         refuses to start"
                    ),
                ));
                return true;
            }
        }
        let text = match self.host.read(&path) {
            Ok(Some(t)) => t,
            Ok(None) => return false,
            Err(e) => {
                self.scan.errors.push(e);
                return true;
            }
        };
        self.stack.push(path.clone());
        let shared: Arc<str> = Arc::from(path.as_str());
        let mut start = 0;
        let mut line = 0;
        while start < text.len() {
            line += 1;
            let (end, next) = match memchr::memchr(b'\n', &text.as_bytes()[start..]) {
                Some(i) => (start + i, start + i + 1),
                None => (text.len(), text.len()),
            };
            self.line(
                &text,
                start,
                end,
                next,
                At {
                    path: &shared,
                    line,
                },
            );
            start = next;
        }
        self.stack.pop();
        true
    }

    fn problem(&mut self, loc: &Location, message: String) {
        self.scan.problems.push(Problem {
            location: loc.clone(),
            message,
        });
    }

    fn line(&mut self, text: &str, start: usize, end: usize, next: usize, at: At<'_>) {
        let raw = &text[start..end];
        let body = raw.trim_start_matches([' ', '\t']);
        let off = start + (raw.len() - body.len());
        let body = body.trim_end_matches(['\r', ' ', '\t']);
        if body.is_empty() || body.starts_with(';') {
            return;
        }
        if let Some(rest) = body.strip_prefix('[') {
            let Some(close) = rest.bytes().position(|b| b == b']') else {
                self.problem(
                    &at.loc(),
                    "php-fpm: section header without `]`; php-fpm refuses to start".into(),
                );
                return;
            };
            let name = rest[..close].trim_matches('"');
            self.section(name, at);
            return;
        }
        if body.starts_with('#') {
            self.problem(
                &at.loc(),
                "php-fpm: `#` does not start a comment in php-fpm configs (use `;`); \
                 php-fpm refuses to start on this line"
                    .into(),
            );
            return;
        }
        let Some(eq) = body.bytes().position(|b| b == b'=') else {
            self.problem(
                &at.loc(),
                format!("php-fpm: `{body}` has no `= value`; php-fpm refuses to start"),
            );
            return;
        };
        let key = body[..eq].trim_end_matches([' ', '\t']);
        let value = match parse_value_ref(text, off + eq + 1, end) {
            Ok(v) => v,
            Err(msg) => {
                self.problem(
                    &at.loc(),
                    format!("php-fpm: {key}: {msg}; php-fpm refuses to start"),
                );
                return;
            }
        };
        if key == "include" {
            self.include(&value, &at.loc());
            return;
        }
        self.facts
            .setting(self.current, key, &value.text, || at.loc());
        let Some(cur) = self.current else {
            return;
        };
        // keys are case-insensitive
        let is = |k: &str| key.eq_ignore_ascii_case(k);
        if is("listen") {
            {
                if value.dynamic {
                    self.problem(
                        &at.loc(),
                        format!(
                            "php-fpm: listen = {} takes a value from the environment; qfix \
                             shows it unexpanded",
                            value.text
                        ),
                    );
                }
                let pool = &mut self.pools[cur];
                let indent = &raw[..raw.len() - raw.trim_start_matches([' ', '\t']).len()];
                pool.listen = Some(Listen {
                    value: value.text.replace("$pool", &pool.name),
                    loc: at.loc(),
                    insert_at: next,
                    indent: indent.to_string(),
                    at_eof: next == end,
                });
            }
        } else if is("listen.backlog") {
            {
                let parsed = if value.dynamic {
                    self.problem(
                        &at.loc(),
                        format!(
                            "php-fpm: listen.backlog = {} takes its value from the \
                             environment; qfix cannot tell the backlog",
                            value.text
                        ),
                    );
                    None
                } else {
                    let n = fpm_integer(&value.text);
                    if n.is_none() {
                        self.problem(
                            &at.loc(),
                            format!(
                                "php-fpm: listen.backlog = {} is not a number; php-fpm \
                                 refuses to start (it takes digits, optionally after a `-`)",
                                value.text
                            ),
                        );
                    }
                    n
                };
                self.pools[cur].backlog = Some(Backlog {
                    value: parsed,
                    loc: at.loc(),
                    span: value.span,
                });
            }
        } else if is("pm") {
            self.pools[cur].pm = Some(value.text.to_ascii_lowercase());
        } else if is("prefix") {
            self.pools[cur].prefix = Some(value.text.into_owned());
        }
    }

    fn section(&mut self, name: &str, at: At<'_>) {
        if name.eq_ignore_ascii_case("global") {
            self.current = None;
            return;
        }
        let lower = name.to_ascii_lowercase();
        if let Some(&i) = self.by_name.get(&lower) {
            self.current = Some(i);
            return;
        }
        self.by_name.insert(lower, self.pools.len());
        self.facts.pool(self.pools.len(), name, at.loc());
        self.current = Some(self.pools.len());
        self.pools.push(Pool {
            name: name.to_string(),
            header: at.loc(),
            listen: None,
            backlog: None,
            pm: None,
            prefix: None,
        });
    }

    fn include(&mut self, value: &ValueRef<'_>, loc: &Location) {
        if value.dynamic {
            self.problem(
                loc,
                format!(
                    "php-fpm: include = {} takes a value from the environment; qfix did not \
                     follow it",
                    value.text
                ),
            );
            return;
        }
        let pat = &*value.text;
        if pat.is_empty() {
            return;
        }
        let full = root::join(PHP_PREFIX, pat);
        let matches = match self.host.glob(&full) {
            Ok(m) => m,
            Err(e) => {
                self.scan.errors.push(Error::at(&loc.path, loc.line, e));
                return;
            }
        };
        if matches.is_empty() {
            if let Some(dir) = missing_glob_dir(self.host, &full) {
                self.problem(
                    loc,
                    format!(
                        "php-fpm: include = {pat}: directory {dir} does not exist; glob() \
                         fails and php-fpm refuses to start"
                    ),
                );
            }
            if !pat.starts_with('/') {
                let beside = root::join(root::parent(&loc.path), pat);
                if self.host.glob(&beside).is_ok_and(|m| !m.is_empty()) {
                    self.problem(
                        loc,
                        format!(
                            "php-fpm: include = {pat} is taken from php-fpm's prefix \
                             ({full}), not from this file's directory: {beside} is not read"
                        ),
                    );
                }
            }
            return;
        }
        for m in matches {
            // directories matched are skipped
            match self.host.resolve(&m) {
                Ok(Resolved::Path(p)) => {
                    if !self.host.root.is_dir(&p) && !self.load_resolved(p.clone(), Some(loc)) {
                        // glob(3) lists a dangling link; php-fpm then fails to open it
                        self.problem(
                            loc,
                            format!(
                                "php-fpm: include = {pat} matches {m}, which leads to the missing {p}; \
                                 php-fpm refuses to start (\"Unable to include {m}\")"
                            ),
                        );
                    }
                }
                Ok(Resolved::DevNull) => {}
                Err(e) => self.scan.errors.push(e),
            }
        }
    }
}

/// The literal directory before the first glob component, when it is missing: glob(3) with
/// GLOB_ERR then fails instead of matching nothing.
fn missing_glob_dir(host: &Host, pattern: &str) -> Option<String> {
    let magic = pattern.find(['*', '?', '['])?;
    let literal = &pattern[..magic];
    let dir = &literal[..literal.rfind('/').unwrap_or(0)];
    let dir = if dir.is_empty() { "/" } else { dir };
    if host.root.is_dir(dir) {
        None
    } else {
        Some(dir.to_string())
    }
}

/// fpm_conf_set_integer: digits with an optional leading `-`, then atoi (empty is 0).
fn fpm_integer(v: &str) -> Option<i64> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = if digits.is_empty() {
        0
    } else {
        // atoi on an int: clamp what would overflow instead of wrapping like C might.
        digits
            .parse::<i64>()
            .unwrap_or(i64::MAX)
            .min(i32::MAX as i64)
    };
    Some(if v.starts_with('-') { -n } else { n })
}

#[derive(Debug)]
struct ValueRef<'a> {
    /// Borrowed from the line unless pieces or escapes had to be put together.
    text: Cow<'a, str>,
    /// Bytes to replace to change the value: inside the quotes of a lone quoted string,
    /// else the whole value (an empty range after `=` when there is none).
    span: Range<usize>,
    /// Holds `${...}`, which php-fpm fills from ini settings or the environment.
    dynamic: bool,
}

/// `ValueRef` with its own text.
#[cfg(test)]
#[derive(Debug)]
struct Value {
    text: String,
    span: Range<usize>,
    dynamic: bool,
}

#[cfg(test)]
fn parse_value(text: &str, pos: usize, end: usize) -> Result<Value, String> {
    parse_value_ref(text, pos, end).map(|v| Value {
        text: v.text.into_owned(),
        span: v.span,
        dynamic: v.dynamic,
    })
}

/// Add a piece to a value being put together.
fn append<'a>(out: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if out.is_empty() {
        *out = piece;
    } else {
        out.to_mut().push_str(&piece);
    }
}

/// Parse a value from `pos` (just after `=`) to the end of the line, as the Zend INI scanner
/// does in normal mode for one line.
fn parse_value_ref(text: &str, pos: usize, end: usize) -> Result<ValueRef<'_>, String> {
    let b = text.as_bytes();
    let mut i = pos;
    let mut out: Cow<'_, str> = Cow::Borrowed("");
    let mut dynamic = false;
    let mut first: Option<usize> = None;
    let mut last_end = pos;
    let mut pieces = 0;
    let mut lone_quoted: Option<Range<usize>> = None;
    let mut bare_only = true;
    loop {
        while i < end && matches!(b[i], b' ' | b'\t' | b'\r') {
            i += 1;
        }
        if i >= end || b[i] == b';' {
            break;
        }
        first.get_or_insert(i);
        pieces += 1;
        match b[i] {
            b'"' => {
                bare_only = false;
                let s = i + 1;
                let mut j = s;
                loop {
                    if j >= end {
                        return Err("unterminated double quote".into());
                    }
                    match b[j] {
                        b'"' => break,
                        b'\\' if j + 1 < end && matches!(b[j + 1], b'"' | b'\\' | b'\'') => {
                            j += 2;
                            continue;
                        }
                        _ => j += 1,
                    }
                }
                let inner = &text[s..j];
                dynamic |= inner.contains("${");
                let piece = if inner.contains('\\') {
                    Cow::Owned(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
                } else {
                    Cow::Borrowed(inner)
                };
                append(&mut out, piece);
                lone_quoted = Some(s..j);
                i = j + 1;
            }
            b'\'' => {
                bare_only = false;
                let s = i + 1;
                let Some(j) = text[s..end].find('\'').map(|k| s + k) else {
                    return Err("unterminated single quote".into());
                };
                append(&mut out, Cow::Borrowed(&text[s..j]));
                lone_quoted = Some(s..j);
                i = j + 1;
            }
            _ => {
                let s = i;
                while i < end && !matches!(b[i], b'"' | b'\'' | b';') {
                    i += 1;
                }
                let piece = text[s..i].trim_end_matches([' ', '\t', '\r']);
                dynamic |= piece.contains("${");
                append(&mut out, Cow::Borrowed(piece));
                last_end = s + piece.len();
                continue;
            }
        }
        last_end = i;
    }
    let span = match (pieces, lone_quoted) {
        (1, Some(q)) => q,
        _ => {
            let s = first.unwrap_or(pos);
            s..last_end.max(s)
        }
    };
    if bare_only && pieces == 1 {
        // Zend INI boolean keywords are read before php-fpm sees the value.
        let is = |k: &str| out.eq_ignore_ascii_case(k);
        if is("on") || is("yes") || is("true") {
            out = Cow::Borrowed("1");
        } else if is("off") || is("no") || is("none") || is("false") || is("null") {
            out = Cow::Borrowed("");
        }
    }
    Ok(ValueRef {
        text: out,
        span,
        dynamic,
    })
}

pub(super) fn address(listen: &str, prefix: Option<&str>) -> String {
    if let Some(colon) = listen.rfind(':') {
        let (host, port) = (&listen[..colon], &listen[colon + 1..]);
        let host = match host {
            "" => "*".to_string(),
            h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            h => h.to_string(),
        };
        return format!("tcp {host}:{port}");
    }
    if !listen.is_empty() && listen.bytes().all(|b| b.is_ascii_digit()) {
        return format!("tcp *:{listen}");
    }
    format!("unix {}", root::join(prefix.unwrap_or(PHP_PREFIX), listen))
}

fn listener(scan: &mut Scan, main: &Main, pool: Pool) {
    let Some(listen) = pool.listen else {
        scan.problems.push(Problem {
            location: pool.header,
            message: format!(
                "php-fpm: pool [{}] has no listen address; php-fpm refuses to start",
                pool.name
            ),
        });
        return;
    };
    let (default, why) = match &main.version {
        Some(((maj, min), from)) if (*maj, *min) >= (8, 2) => (
            -1,
            format!("php-fpm default -1 (= somaxconn) on Linux for {from}"),
        ),
        Some((_, from)) => (511, format!("php-fpm default 511 for {from}")),
        None => (
            511,
            "PHP version unknown (no php-fpm binary, link, dpkg package or dnf module stream \
             in the root names it): a guess, PHP <= 8.1, whose default is 511 (8.2+ uses -1 = \
             somaxconn); set listen.backlog to be sure"
                .to_string(),
        ),
    };
    let ondemand = pool.pm.as_deref() == Some("ondemand");
    let (requested, source, setter) = match pool.backlog {
        Some(b) => {
            let setter = Setter {
                line: None,
                path: b.loc.path.clone(),
                range: b.span,
                template: "{}".into(),
            };
            match b.value {
                Some(n) if ondemand && n < default => (
                    Some(default),
                    Source::Default(
                        format!(
                            "pm = ondemand: php-fpm raises listen.backlog = {n} ({}:{}) to its \
                         default; {why}",
                            b.loc.path, b.loc.line
                        )
                        .into(),
                    ),
                    setter,
                ),
                v => (v, Source::At(b.loc), setter),
            }
        }
        None => {
            let template = if listen.at_eof {
                format!("\n{}listen.backlog = {{}}", listen.indent)
            } else {
                format!("{}listen.backlog = {{}}\n", listen.indent)
            };
            (
                Some(default),
                Source::Default(why.into()),
                Setter {
                    line: None,
                    path: listen.loc.path.clone(),
                    range: listen.insert_at..listen.insert_at,
                    template: template.into(),
                },
            )
        }
    };
    scan.listeners.push(Listener {
        service: SERVICE.into(),
        instance: pool.name,
        address: address(&listen.value, pool.prefix.as_deref()),
        requested,
        source,
        unit: main.unit.clone().into(),
        action: Action::Restart,
        action_reason: ACTION_REASON.into(),
        setter: Some(setter),
        refuses_above_somaxconn: false,
        control: false,
        checker: main.checker.clone(),
    });
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::services::testutil::{self, copy_tree, fixture, read, row, summary};

    fn scan_dir(dir: &Path) -> Scan {
        testutil::scan_dir(dir, scan)
    }

    fn edit_all(name: &str) -> (tempfile::TempDir, Scan) {
        testutil::edit_all(name, scan)
    }

    #[test]
    fn debian_stock() {
        let s = scan_dir(&fixture("debian-stock"));
        assert_eq!(
            summary(&s),
            vec![row("www", "unix /run/php/php8.2-fpm.sock", Some(-1), 0)]
        );
        let l = &s.listeners[0];
        assert_eq!(
            l.source,
            Source::Default("php-fpm default -1 (= somaxconn) on Linux for PHP 8.2".into())
        );
        assert_eq!(l.unit, "php8.2-fpm");
        assert_eq!(
            *l.checker,
            ["php-fpm8.2", "-t", "-y", "/etc/php/8.2/fpm/php-fpm.conf"]
        );
        assert!(s.problems.is_empty() && s.errors.is_empty());

        let (dir, after) = edit_all("debian-stock");
        let text = read(dir.path(), "/etc/php/8.2/fpm/pool.d/www.conf");
        assert!(text.contains(
            "; Note: This value is mandatory.\nlisten = /run/php/php8.2-fpm.sock\nlisten.backlog = 4096\n\n; Set listen(2) backlog.\n"
        ));
        assert_eq!(
            summary(&after),
            vec![row("www", "unix /run/php/php8.2-fpm.sock", Some(4096), 42)]
        );
    }

    #[test]
    fn multi_pool_versions_includes_and_problems() {
        let s = scan_dir(&fixture("phpfpm-multi"));
        assert_eq!(
            summary(&s),
            vec![
                // 8.1: ondemand raises 100 to the 511 default, leaves 4096 alone
                row("od", "unix /run/php/php8.1-od.sock", Some(511), 0),
                row("od2", "tcp 127.0.0.1:9100", Some(4096), 11),
                row("dyn", "tcp 127.0.0.1:9101", Some(511), 0),
                // 8.2: $pool expanded, default -1
                row("a", "unix /run/php/a.sock", Some(-1), 0),
                // [B] in c.conf re-opened pool b: its later value wins
                row("b", "tcp 127.0.0.1:9001", Some(2048), 12),
                row("c", "tcp [::]:9002", Some(-1), 3),
                row("d", "tcp *:9003", Some(200), 8),
                row("e", "unix /run/php/e.sock", None, 4),
                row("g", "tcp *:9004", Some(-1), 0),
            ]
        );
        assert_eq!(
            s.listeners[0].source,
            Source::Default(
                "pm = ondemand: php-fpm raises listen.backlog = 100 \
                 (/etc/php/8.1/fpm/php-fpm.conf:7) to its default; php-fpm default 511 for \
                 PHP 8.1"
                    .into()
            )
        );
        assert_eq!(s.listeners[0].unit, "php8.1-fpm");
        assert_eq!(s.listeners[3].unit, "php8.2-fpm");
        let b = &s.listeners[4];
        assert_eq!(
            b.source,
            Source::At(Location {
                path: "/etc/php/8.2/fpm/pool.d/c.conf".into(),
                line: 12
            })
        );
        for l in &s.listeners {
            assert_eq!(
                (&*l.service, l.action, &*l.action_reason),
                ("php-fpm", Action::Restart, ACTION_REASON)
            );
        }
        let problems = testutil::problems(&s);
        let p81 = "/etc/php/8.1/fpm/php-fpm.conf".to_string();
        let e = "/etc/php/8.2/fpm/pool.d/e.conf".to_string();
        assert_eq!(
            problems,
            vec![
                (p81.clone(), 3, "php-fpm: include = pool.d/*.conf: directory /usr/pool.d does not exist; glob() fails and php-fpm refuses to start".into()),
                (p81, 3, "php-fpm: include = pool.d/*.conf is taken from php-fpm's prefix (/usr/pool.d/*.conf), not from this file's directory: /etc/php/8.1/fpm/pool.d/*.conf is not read".into()),
                (e.clone(), 2, "php-fpm: `#` does not start a comment in php-fpm configs (use `;`); php-fpm refuses to start on this line".into()),
                (e.clone(), 4, "php-fpm: listen.backlog = abc is not a number; php-fpm refuses to start (it takes digits, optionally after a `-`)".into()),
                (e, 5, "php-fpm: pool [f] has no listen address; php-fpm refuses to start".into()),
            ]
        );
        // the missing literal include and the empty glob are accepted by php-fpm: no error
        assert!(s.errors.is_empty(), "{:?}", s.errors);

        let (dir, after) = edit_all("phpfpm-multi");
        let d = dir.path();
        assert_eq!(
            read(d, "/etc/php/8.1/fpm/php-fpm.conf"),
            "[global]\n; relative: php-fpm takes it from its prefix /usr, not from here\n\
             include=pool.d/*.conf\n[od]\nlisten = /run/php/php8.1-od.sock\npm = ondemand\n\
             listen.backlog = 4096\n[od2]\nlisten = 127.0.0.1:9100\npm = ondemand\n\
             listen.backlog = 4096\n[dyn]\nlisten = 127.0.0.1:9101\nlisten.backlog = 4096\n"
        );
        assert_eq!(
            read(d, "/etc/php/8.2/fpm/pool.d/a.conf"),
            "; unix socket, default backlog\n[a]\nuser = www-data\nlisten = /run/php/$pool.sock\n\
             listen.backlog = 4096\npm = dynamic\n\n[b]\nlisten = 127.0.0.1:9001\n\
             listen.backlog = 1024\n"
        );
        assert_eq!(
            read(d, "/etc/php/8.2/fpm/pool.d/c.conf"),
            "[c]\n\tlisten = [::]:9002\n\tlisten.backlog = \"4096\" ; quoted\n\n[d]\n\
             listen = 9003\nlisten.backlog = 100\nlisten.backlog = 4096\n\n\
             ; re-opens pool b: names are case-insensitive\n[B]\nlisten.backlog = 4096\n"
        );
        assert_eq!(
            read(d, "/etc/php/8.2/fpm/pool.d/e.conf"),
            "[e]\n# not a comment for php-fpm\nlisten = /run/php/e.sock\nlisten.backlog = 4096\n\
             [f]\nlisten.backlog = 10\n"
        );
        assert_eq!(
            read(d, "/etc/php/8.2/fpm/pool.d/g.conf"),
            "[g]\n\tlisten = *:9004\n\tlisten.backlog = 4096"
        );
        assert_eq!(
            summary(&after),
            vec![
                row("od", "unix /run/php/php8.1-od.sock", Some(4096), 7),
                row("od2", "tcp 127.0.0.1:9100", Some(4096), 11),
                row("dyn", "tcp 127.0.0.1:9101", Some(4096), 14),
                row("a", "unix /run/php/a.sock", Some(4096), 5),
                row("b", "tcp 127.0.0.1:9001", Some(4096), 12),
                row("c", "tcp [::]:9002", Some(4096), 3),
                row("d", "tcp *:9003", Some(4096), 8),
                row("e", "unix /run/php/e.sock", Some(4096), 4),
                row("g", "tcp *:9004", Some(4096), 3),
            ]
        );
    }

    #[test]
    fn rhel_layout_unknown_version() {
        let s = scan_dir(&fixture("phpfpm-rhel"));
        assert_eq!(
            summary(&s),
            vec![row("www", "unix /run/php-fpm/www.sock", Some(511), 0)]
        );
        let l = &s.listeners[0];
        assert_eq!(l.unit, "php-fpm");
        assert_eq!(*l.checker, ["php-fpm", "-t", "-y", "/etc/php-fpm.conf"]);
        assert!(matches!(&l.source, Source::Default(w) if w.starts_with("PHP version unknown")));
        let (dir, after) = edit_all("phpfpm-rhel");
        assert_eq!(
            read(dir.path(), "/etc/php-fpm.d/www.conf"),
            "[www]\nuser = apache\nlisten = /run/php-fpm/www.sock\nlisten.backlog = 4096\n\
             listen.acl_users = apache,nginx\npm = dynamic\n"
        );
        assert_eq!(
            summary(&after),
            vec![row("www", "unix /run/php-fpm/www.sock", Some(4096), 4)]
        );
    }

    #[test]
    fn rhel_version_from_a_versioned_binary() {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture("phpfpm-rhel"), dir.path());
        fs::create_dir_all(dir.path().join("usr/sbin")).unwrap();
        fs::write(dir.path().join("usr/sbin/php-fpm8.3"), "").unwrap();
        let s = scan_dir(dir.path());
        assert_eq!(s.listeners[0].requested, Some(-1));
        assert_eq!(
            s.listeners[0].source,
            Source::Default(
                "php-fpm default -1 (= somaxconn) on Linux for PHP 8.3 from /usr/sbin/php-fpm8.3"
                    .into()
            )
        );
    }

    /// The RHEL fixture with more files, scanned: (requested, reason).
    fn rhel_with(files: &[(&str, &[u8])]) -> (Option<i64>, String) {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture("phpfpm-rhel"), dir.path());
        for (p, content) in files {
            let p = dir.path().join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            match std::str::from_utf8(content)
                .ok()
                .and_then(|c| c.strip_prefix("-> "))
            {
                Some(target) => std::os::unix::fs::symlink(target, p).unwrap(),
                None => fs::write(p, content).unwrap(),
            }
        }
        let s = scan_dir(dir.path());
        let Source::Default(why) = &s.listeners[0].source else {
            panic!("{:?}", s.listeners[0].source)
        };
        (s.listeners[0].requested, why.to_string())
    }

    #[test]
    fn rhel_version_compiled_into_the_binary() {
        // the marker in the second MiB read, across the boundary of the first read
        let mut bin = b"\x7fELF".to_vec();
        bin.resize((1 << 20) - 7, 0);
        bin.extend_from_slice(b"X-Powered-By: PHP/8.2.7\0more");
        assert_eq!(
            rhel_with(&[("usr/sbin/php-fpm", &bin)]),
            (
                Some(-1),
                "php-fpm default -1 (= somaxconn) on Linux for PHP 8.2 from the version \
                 compiled into /usr/sbin/php-fpm"
                    .into()
            )
        );
        let old = b"\x7fELF\0X-Powered-By: PHP/8.1.27\0";
        assert_eq!(
            rhel_with(&[("usr/sbin/php-fpm", old)]).1,
            "php-fpm default 511 for PHP 8.1 from the version compiled into /usr/sbin/php-fpm"
        );
        // a link to it is followed inside the root
        assert_eq!(
            rhel_with(&[
                (
                    "usr/sbin/php-fpm",
                    b"-> /opt/remi/php83/root/usr/sbin/php-fpm"
                ),
                ("opt/remi/php83/root/usr/sbin/php-fpm", old),
            ])
            .0,
            Some(511)
        );
    }

    #[test]
    fn rhel_version_from_a_link_package_or_module() {
        // a link whose target is not in the root still names the version
        assert_eq!(
            rhel_with(&[(
                "usr/sbin/php-fpm",
                b"-> /opt/remi/php82/root/usr/sbin/php-fpm"
            )]),
            (
                Some(-1),
                "php-fpm default -1 (= somaxconn) on Linux for PHP 8.2 from the link \
                 /usr/sbin/php-fpm -> /opt/remi/php82/root/usr/sbin/php-fpm"
                    .into()
            )
        );
        assert_eq!(
            rhel_with(&[("usr/sbin/php-fpm", b"-> php-fpm81")]).0,
            Some(511)
        );
        let status = b"Package: php8.1-fpm\nStatus: deinstall ok config-files\nVersion: 8.1.2\n\n\
                       Package: php8.3-fpm\nStatus: install ok installed\nVersion: 8.3.6\n\n\
                       Package: php-fpm\nStatus: install ok installed\n";
        assert_eq!(
            rhel_with(&[("var/lib/dpkg/status", status)]),
            (
                Some(-1),
                "php-fpm default -1 (= somaxconn) on Linux for PHP 8.3 from package \
                 php8.3-fpm in /var/lib/dpkg/status"
                    .into()
            )
        );
        let module = b"[php]\nname=php\nstream=8.2\nprofiles=\nstate=enabled\n";
        assert_eq!(
            rhel_with(&[("etc/dnf/modules.d/php.module", module)]).1,
            "php-fpm default -1 (= somaxconn) on Linux for PHP 8.2 from dnf module stream \
             php:8.2 (/etc/dnf/modules.d/php.module)"
        );
        // a stream that is not enabled says nothing: the guess, and the reason says so
        let (r, why) = rhel_with(&[(
            "etc/dnf/modules.d/php.module",
            b"[php]\nname=php\nstream=8.2\nstate=disabled\n",
        )]);
        assert_eq!(r, Some(511));
        assert!(why.contains("a guess, PHP <= 8.1"), "{why}");
    }

    #[test]
    fn versions_in_paths() {
        assert_eq!(version_in_path("/usr/sbin/php-fpm8.2"), Some((8, 2)));
        assert_eq!(version_in_path("/usr/sbin/php-fpm82"), Some((8, 2)));
        assert_eq!(
            version_in_path("/opt/remi/php74/root/usr/sbin/php-fpm"),
            Some((7, 4))
        );
        assert_eq!(version_in_path("/usr/sbin/php-fpm"), None);
        assert_eq!(version_in_path("/usr/sbin/php-fpm8"), None);
    }

    #[test]
    fn include_loop_is_an_error_and_scanning_goes_on() {
        let s = scan_dir(&fixture("phpfpm-loop"));
        assert_eq!(summary(&s), vec![row("www", "tcp *:9000", Some(-1), 0)]);
        let errors: Vec<String> = s.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errors,
            [
                "/etc/php/8.3/fpm/loop.conf:1: php-fpm: include loop: /etc/php/8.3/fpm/php-fpm.conf is already being read; php-fpm fails with \"failed to include more than 5 files recursively\""
            ]
        );
    }

    #[test]
    fn pool_stays_current_after_an_include() {
        let s = scan_dir(&fixture("phpfpm-leak"));
        assert_eq!(summary(&s), vec![row("www", "tcp *:9000", Some(64), 5)]);
        assert_eq!(
            s.listeners[0].source,
            Source::At(Location {
                path: "/etc/php/8.2/fpm/php-fpm.conf".into(),
                line: 5
            })
        );
    }

    #[test]
    fn values_like_the_zend_ini_scanner() {
        let v = |s: &str| {
            let t = format!("k ={s}\n");
            parse_value(&t, 3, t.len() - 1).map(|v| (v.text, t[v.span].to_string(), v.dynamic))
        };
        let ok = |a: &str, b: &str, d| Ok((a.to_string(), b.to_string(), d));
        assert_eq!(v(" 12  ; c"), ok("12", "12", false));
        assert_eq!(v(" \"300\""), ok("300", "300", false));
        assert_eq!(v(" '7'"), ok("7", "7", false));
        assert_eq!(v(""), ok("", "", false));
        assert_eq!(v(" on"), ok("1", "on", false));
        assert_eq!(v(" 1 # x"), ok("1 # x", "1 # x", false));
        assert_eq!(v(" \"a\" b"), ok("ab", "\"a\" b", false));
        assert_eq!(v(" \"x\\\"y\""), ok("x\"y", "x\\\"y", false));
        assert_eq!(v(" ${N}"), ok("${N}", "${N}", true));
        assert!(v(" \"12").is_err());
        assert!(v(" '12").is_err());
        assert_eq!(fpm_integer("-1"), Some(-1));
        assert_eq!(fpm_integer(""), Some(0));
        assert_eq!(fpm_integer("+5"), None);
        assert_eq!(fpm_integer("1 2"), None);
        assert_eq!(address("::1:9000", None), "tcp [::1]:9000");
        assert_eq!(address("php.sock", Some("/srv")), "unix /srv/php.sock");
    }
}
