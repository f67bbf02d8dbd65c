//! Every JSON output qfix prints, as types: one contract, with a format version, documented
//! by the JSON Schema generated from these types (`qfix schema`, shipped in schema/).

use schemars::JsonSchema;
use serde::Serialize;

use crate::blame::Entry;
use crate::error::Error;
use crate::plan::{Change, Plan, Restart};
use crate::rules::{Finding, Rule, Severity};
use crate::services::Location;
use crate::sysctl::norm_value;

/// The version of qfix's JSON outputs: a field renamed or removed raises it.
pub const FORMAT_VERSION: u32 = 1;

fn version() -> u32 {
    FORMAT_VERSION
}

/// An error: the file and line it is about (when there is one) and what is wrong.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorOut {
    pub path: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl From<&Error> for ErrorOut {
    fn from(e: &Error) -> ErrorOut {
        let (path, line, message) = e.parts();
        ErrorOut {
            path: path.map(str::to_string),
            line,
            message,
        }
    }
}

/// What a command that failed prints under `--format json` (exit code 1).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Errors {
    pub format_version: u32,
    pub errors: Vec<ErrorOut>,
}

impl Errors {
    pub fn of(errs: &[Error]) -> Errors {
        Errors {
            format_version: version(),
            errors: errs.iter().map(ErrorOut::from).collect(),
        }
    }
}

/// `qfix plan --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanOut<'a> {
    pub format_version: u32,
    /// No /proc/sys was read: boot values only.
    pub offline: bool,
    pub findings: &'a [Finding],
    pub changes: Vec<ChangeOut<'a>>,
    /// The `sysctl -w` commands of the live changes.
    pub commands: Vec<String>,
    pub restarts: &'a [Restart],
    /// Input qfix could not read or a change it refuses to propose: exit code 1.
    pub errors: Vec<ErrorOut>,
    /// What qfix could not see of the running system (sockets, logs), and why.
    pub notes: &'a [String],
}

/// A change as a plan shows it (the full contents stay in saved plans only).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChangeOut<'a> {
    /// A live value written to /proc/sys.
    Sysctl {
        key: &'a str,
        from: Option<String>,
        to: &'a str,
        /// Applied by `apply --yes` without `--unsafe-fixes`.
        safe: bool,
    },
    /// A file edited (or created) as the unified diff shows.
    File {
        path: &'a str,
        diff: &'a str,
        safe: bool,
        reason: &'a str,
        created: bool,
    },
}

impl<'a> PlanOut<'a> {
    pub fn of(p: &'a Plan) -> PlanOut<'a> {
        PlanOut {
            format_version: version(),
            offline: p.offline,
            findings: &p.findings,
            changes: p.changes.iter().map(change).collect(),
            commands: p.commands(),
            restarts: &p.restarts,
            errors: p.errors.iter().map(ErrorOut::from).collect(),
            notes: &p.notes,
        }
    }
}

fn change(c: &Change) -> ChangeOut<'_> {
    match c {
        Change::Sysctl {
            key,
            from,
            to,
            safe,
        } => ChangeOut::Sysctl {
            key,
            from: from.as_deref().map(norm_value),
            to,
            safe: *safe,
        },
        Change::File {
            path,
            diff,
            safe,
            reason,
            old,
            ..
        } => ChangeOut::File {
            path,
            diff,
            safe: *safe,
            reason,
            created: old.is_none(),
        },
    }
}

/// `qfix blame --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BlameOut<'a> {
    pub format_version: u32,
    pub keys: &'a [Entry],
}

impl<'a> BlameOut<'a> {
    pub fn of(keys: &'a [Entry]) -> BlameOut<'a> {
        BlameOut {
            format_version: version(),
            keys,
        }
    }
}

/// `qfix listeners --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListenersOut {
    pub format_version: u32,
    /// The kernel's sockets were read: `kernel` is observed where present.
    pub observed: bool,
    /// somaxconn live and at boot, with where each is set (`null`: the kernel default).
    pub somaxconn: Vec<SomaxconnOut>,
    pub listeners: Vec<ListenerOut>,
    /// What could not be seen of the running system, and why (figures a /proc/net
    /// fallback lacks, namespaces or owners unreadable, logs not read).
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SomaxconnOut {
    /// "live" or "boot".
    pub side: &'static str,
    pub value: Option<i64>,
    pub source: Option<Location>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListenerOut {
    /// The service whose configuration asks for it; "unknown" for a socket no configuration
    /// explains.
    pub service: String,
    pub instance: String,
    /// "tcp HOST:PORT" or "unix /path".
    pub address: String,
    /// The backlog the service passes to listen() (-1: somaxconn), when the config tells.
    pub requested: Option<i64>,
    pub requested_source: RequestedSource,
    /// Why the default applies, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_reason: Option<String>,
    /// min(requested, somaxconn) live and at boot: computed, not observed.
    pub effective_live: Option<i64>,
    pub effective_boot: Option<i64>,
    /// Its socket as the kernel holds it (observed); `null` when no socket serves it or the
    /// kernel's sockets were not read.
    pub kernel: Option<KernelOut>,
}

/// A listening socket as the kernel holds it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KernelOut {
    /// Send-Q: the backlog after the somaxconn clamp at listen() time.
    pub backlog: Option<u32>,
    /// Recv-Q: connections waiting for accept() now.
    pub queue: Option<u32>,
    /// Connections dropped at this listener (cumulative; Linux 4.7+).
    pub drops: Option<u64>,
    pub pids: Vec<i32>,
    pub process: Option<String>,
    /// The network namespace (inode of /proc/PID/ns/net).
    pub netns: Option<u64>,
    /// The socket's own address ("tcp 0.0.0.0:80" serving "tcp *:80").
    pub address: String,
}

impl KernelOut {
    pub fn of(seen: &crate::observed::Seen) -> KernelOut {
        let s = seen.socket;
        KernelOut {
            backlog: s.backlog,
            queue: s.queue,
            drops: s.drops,
            pids: s.pids.clone(),
            process: s.process.clone(),
            netns: seen.ns.id,
            address: s.address.clone(),
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RequestedSource {
    At(Location),
    /// Always "default".
    Default(&'static str),
}

/// `qfix rules --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RulesOut {
    pub format_version: u32,
    pub rules: Vec<RuleOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RuleOut {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    /// Its fix is applied by `apply --yes` without `--unsafe-fixes`.
    pub safe: bool,
    pub summary: String,
    /// Where it was defined.
    pub origin: String,
}

impl RulesOut {
    pub fn of(rules: &[Rule]) -> RulesOut {
        RulesOut {
            format_version: version(),
            rules: rules
                .iter()
                .map(|r| RuleOut {
                    code: r.code.to_string(),
                    name: r.name.to_string(),
                    severity: r.severity,
                    safe: r.safe,
                    summary: r.summary.clone(),
                    origin: r.origin.clone(),
                })
                .collect(),
        }
    }
}

/// `qfix apply --format json` and `qfix rollback --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApplyOut<'a> {
    pub format_version: u32,
    /// Something was written (a file or a live value).
    pub changed: bool,
    pub applied: &'a [crate::apply::Done],
    pub backups: Vec<BackupOut>,
    pub skipped: &'a [crate::apply::Skipped],
    pub restarts: &'a [crate::apply::RestartDone],
    /// After `--restart`: each restarted listener's kernel backlog before and after.
    pub proof: Vec<ProofOut>,
    /// This run's backups and manifest (`qfix rollback NAME` takes its last part).
    pub backup_dir: Option<&'a str>,
    /// What failed after the changes were written (a restart that failed, a listener that
    /// did not get its queue): exit code 1, the rest of this report still true.
    pub errors: Vec<ErrorOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupOut {
    pub path: String,
    /// Where the copy is; `null` when the file did not exist (the apply created it).
    pub backup: Option<String>,
    /// SHA-256 of what the apply wrote.
    pub written: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProofOut {
    pub unit: String,
    pub address: String,
    /// The kernel's backlog (Send-Q) before and after the restart (`null`: no socket).
    pub before: Option<u32>,
    pub after: Option<u32>,
    /// What it should hold: min(its backlog, its namespace's somaxconn).
    pub expected: Option<i64>,
}

impl<'a> ApplyOut<'a> {
    pub fn of(r: &'a crate::apply::Report) -> ApplyOut<'a> {
        ApplyOut {
            format_version: version(),
            changed: r.changed,
            applied: &r.applied,
            backups: r
                .backups
                .iter()
                .map(|b| BackupOut {
                    path: b.path.clone(),
                    backup: b.backup.clone(),
                    written: b.written.clone(),
                })
                .collect(),
            skipped: &r.skipped,
            restarts: &r.restarts,
            proof: r
                .proof
                .iter()
                .map(|p| ProofOut {
                    unit: p.unit.clone(),
                    address: p.address.clone(),
                    before: p.before,
                    after: p.after,
                    expected: p.expected,
                })
                .collect(),
            backup_dir: r.backup_dir.as_deref(),
            errors: r.errors.iter().map(ErrorOut::from).collect(),
        }
    }
}

/// The JSON Schema of every output, by command.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("plan", schemars::schema_for!(PlanOut<'static>)),
        ("listeners", schemars::schema_for!(ListenersOut)),
        ("blame", schemars::schema_for!(BlameOut<'static>)),
        ("rules", schemars::schema_for!(RulesOut)),
        (
            "snapshot",
            schemars::schema_for!(crate::snapshot::LiveState),
        ),
        ("apply", schemars::schema_for!(ApplyOut<'static>)),
        ("watch", schemars::schema_for!(crate::watch::View)),
        ("errors", schemars::schema_for!(Errors)),
    ]
}
