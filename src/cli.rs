//! Command line: every flag is defined once here; help, the man page and completions are
//! generated from these definitions. `run` dispatches to one small function per command;
//! `exit_code` is the one place exit codes are decided.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::Error;
use crate::host::Host;
use crate::listing::Listing;
use crate::output::{self, Format};
use crate::plan::{self, Change, Goals, Plan};
use crate::planfile::PlanFile;
use crate::root::Root;
use crate::snapshot::{self, LiveState, Request, Snapshot};
use crate::{apply, blame, rules};

/// What each exit status means (`exit_code` decides them): printed by --help and in the man
/// pages' EXIT STATUS.
pub const EXIT_STATUS: &[(i32, &str)] = &[
    (0, "nothing to change (plan), or the command succeeded"),
    (
        1,
        "error: bad input (unparsable line, unreadable file, include loop, bad policy or \
         rule), a stale plan file, a refused approval, a live write the kernel rejected, or \
         a restart that failed or did not give a listener its queue",
    ),
    (
        2,
        "plan: changes or restarts proposed, or an error finding no change fixes (a queue \
         full and not draining, uWSGI refusing to start)",
    ),
];

fn exit_help() -> String {
    let mut s = String::from("Exit codes:");
    for (code, meaning) in EXIT_STATUS {
        s += &format!("\n  {code}  {meaning}");
    }
    s
}

#[derive(Parser, Debug)]
#[command(name = "qfix", version, about = "Find and fix the kernel and service settings behind listen() backlog overflows",
    long_about = None, after_help = exit_help())]
pub struct Cli {
    /// Work on the host tree under DIR (configs, includes and /proc are read inside it)
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Load extra rule files (*.toml) from DIR
    #[arg(long, global = true, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Read the kernel's counters twice SECS apart (0 to 60), to see queues overflowing now
    /// (0: once)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 1.0,
        value_parser = sample_secs)]
    pub sample: f64,
    /// Read at most SIZE from the end of each service log (K, M, G; 0: read no log)
    #[arg(long, global = true, value_name = "SIZE", default_value = "64M",
        value_parser = crate::logs::Options::parse_bytes)]
    pub log_bytes: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show each key's live value, boot value, the winning assignment and what it overrides
    Blame {
        /// Keys or globs (net.ipv4.conf.*.rp_filter); all persisted keys when none
        keys: Vec<String>,
        #[command(flatten)]
        recorded: Recorded,
        /// Output format: text for people, json for tools (shapes in the README)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Report findings and propose the changes toward the desired state
    Plan {
        #[command(flatten)]
        inputs: PlanArgs,
        #[command(flatten)]
        recorded: Recorded,
        /// Output format: text for people, json for tools (shapes in the README)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// List every finding and every diff (by default: per rule and service, a count and
        /// the three worst)
        #[arg(long)]
        all: bool,
        /// Save the plan, with fingerprints of everything it read, for `qfix apply PLANFILE`
        #[arg(long, value_name = "PLANFILE")]
        out: Option<PathBuf>,
    },
    /// Show the plan, ask for approval, and apply it atomically with backups
    Apply {
        /// A plan saved with `qfix plan --out`; refused if anything it read has changed
        planfile: Option<PathBuf>,
        #[command(flatten)]
        inputs: PlanArgs,
        /// Apply without asking: all safe changes (and needs-review ones with --unsafe-fixes)
        #[arg(long, short = 'y')]
        yes: bool,
        /// With --yes, also apply changes classed "needs review"
        #[arg(long)]
        unsafe_fixes: bool,
        /// Only write files; do not write /proc/sys (images, read-only containers)
        #[arg(long)]
        persist_only: bool,
        /// Carry out the restarts the plan lists (systemctl, else the init script); default: print them
        #[arg(long)]
        restart: bool,
        /// Seconds to wait for another apply to release the lock
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        lock_timeout: u64,
        /// Output format: text for people, json for tools (shapes in the README)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Undo an apply: restore its files from the backups and its live values
    Rollback {
        /// A backup directory under /var/lib/qfix/backups (default: the newest not rolled back)
        backup: Option<String>,
        /// Do not ask
        #[arg(long, short = 'y')]
        yes: bool,
        /// Also restore files and live values changed since the apply (default: refuse a
        /// changed file, leave a changed live value)
        #[arg(long)]
        force: bool,
        /// Seconds to wait for another apply to release the lock
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        lock_timeout: u64,
        /// Output format: text for people, json for tools (shapes in the README)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List every service listener with its requested and effective backlog
    Listeners {
        #[command(flatten)]
        recorded: Recorded,
        /// Output format: text for people, json for tools (shapes in the README)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// A live view of the kernel's listeners: the fullest accept queues, overflows per network
    /// namespace, TIME_WAIT per destination; q or Ctrl-C quits
    Watch {
        /// Print one sample (two readings INTERVAL apart) and exit
        #[arg(long)]
        once: bool,
        /// Seconds between readings (0.1 to 3600)
        #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = interval_secs)]
        interval: f64,
        /// Output format (with --once)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Record the live state of this host (sysctl values, kernel, host name) as JSON, for
    /// `plan --snapshot` on a configuration checkout
    Snapshot,
    /// List the rules (built-in, site and --rules)
    Rules {
        /// Output format: text for people, json for tools (shapes in the README)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a rule's documentation: what it flags, why, an example, and its fix
    Explain {
        /// Rule code (QF003) or name (overridden-assignment); shells complete the built-in ones
        #[arg(value_parser = RuleParser, hide_possible_values = true)]
        rule: String,
    },
    /// Print shell completions
    #[command(hide = true)]
    Completions {
        /// The shell to print completions for
        shell: clap_complete::Shell,
    },
    /// Print the man page qfix(1) (roff), or write every page with --dir
    #[command(hide = true)]
    Man {
        /// Write qfix.1 and one page per command (qfix-plan.1, ...) into DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of a JSON output (plan, listeners, blame, rules, snapshot,
    /// errors), or write them all to a directory
    #[command(hide = true)]
    Schema {
        /// The output whose schema to print
        output: Option<String>,
        /// Write every schema to DIR/qfix-NAME.schema.json
        #[arg(long, value_name = "DIR", conflicts_with = "output")]
        dir: Option<PathBuf>,
    },
}

/// `qfix explain`'s argument: any string (site rules are only known at run time), with the
/// built-in rules' codes and names as possible values, so the shell completions that
/// clap_complete generates offer them.
#[derive(Clone, Debug)]
struct RuleParser;

impl clap::builder::TypedValueParser for RuleParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let rules = rules::builtin().unwrap_or_default();
        let values = rules.into_iter().flat_map(|r| {
            [r.code.to_string(), r.name.to_string()]
                .map(|v| clap::builder::PossibleValue::new(v).help(r.summary.clone()))
        });
        Some(Box::new(values.collect::<Vec<_>>().into_iter()))
    }
}

/// clap_complete's fish script completes options only: the rule codes and names that
/// `qfix explain` takes, as fish `complete` lines.
fn fish_rule_completions() -> String {
    use clap::builder::TypedValueParser;
    let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut out = String::new();
    for v in RuleParser.possible_values().into_iter().flatten() {
        let help = v.get_help().map(|h| h.to_string()).unwrap_or_default();
        out += &format!(
            "complete -c qfix -n \"__fish_qfix_using_subcommand explain\" -f -a {} -d {}\n",
            quote(v.get_name()),
            quote(&help)
        );
    }
    out
}

#[derive(Args, Debug, Clone, Default)]
pub struct PlanArgs {
    /// Desired exact value, e.g. --set net.core.somaxconn=4096 (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Policy file (default: /etc/qfix/policy.toml in the root)
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// How to fix a listen() backlog that net.core.somaxconn caps
    #[arg(long, value_enum, default_value_t = Strategy::RaiseSomaxconn)]
    pub strategy: Strategy,
}

/// A live state recorded with `qfix snapshot`, to judge the root's configs against.
#[derive(Args, Debug, Clone, Default)]
pub struct Recorded {
    /// Judge against the live state recorded in FILE (`qfix snapshot > FILE` on the host)
    /// instead of the root's /proc
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Warn when the snapshot is older than this (e.g. 24h, 90min)
    #[arg(long, value_name = "AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub max_age: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Strategy {
    /// Raise net.core.somaxconn to the largest requested backlog
    #[default]
    RaiseSomaxconn,
    /// Lower explicit service backlogs to somaxconn (when somaxconn cannot change)
    LowerBacklog,
}

/// `--sample SECS`: a number of seconds from 0 to 60 (a longer sample holds the run up).
fn sample_secs(s: &str) -> Result<f64, String> {
    secs_between(s, 0.0, 60.0)
}

/// `watch --interval SECS`: from 0.1 to 3600 seconds.
fn interval_secs(s: &str) -> Result<f64, String> {
    secs_between(s, 0.1, 3600.0)
}

fn secs_between(s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds from {lo} to {hi}"
        )),
    }
}

/// `--set KEY=VALUE`: one key that names a value under /proc/sys (no `..`, no odd
/// characters, no pattern) and a value it could take.
fn parse_set(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    let (k, v) = (k.trim(), v.trim());
    if k.is_empty() {
        return Err("empty key".into());
    }
    if crate::sysctl::is_glob(k) {
        return Err(format!("{k}: a pattern; --set takes one key"));
    }
    let key = crate::sysctl::normalize_key(k);
    crate::sysctl::check_key(&key)?;
    crate::sysctl::check_value(&key, v).map_err(|e| format!("{key}: {e}"))?;
    Ok((k.to_string(), v.to_string()))
}

/// What a command ended with; `exit_code` maps it to the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Changes,
    Failed,
}

pub fn exit_code(o: Outcome) -> i32 {
    match o {
        Outcome::Clean => 0,
        Outcome::Failed => 1,
        Outcome::Changes => 2,
    }
}

pub fn main() -> i32 {
    let _t = crate::trace::phase("total");
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return 0;
            }
            // a tool that asked for JSON reads the error as JSON too, never an empty stdout
            if asks_for_json(std::env::args()) {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                let msg = first.trim_start_matches("error: ");
                output::json(&output::json::Errors::of(&[Error::msg(msg)]));
            }
            return 1;
        }
    };
    exit_code(run(cli))
}

/// Whether the command line asks for `--format json` (read before clap could parse it).
fn asks_for_json(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
}

/// The outcome of a command that returns its own, or failed with errors (on stderr, and as
/// JSON on stdout under `--format json`).
fn done(format: Format, r: Result<Outcome, Vec<Error>>) -> Outcome {
    r.unwrap_or_else(|errs| {
        output::errors(&errs, format);
        Outcome::Failed
    })
}

pub fn run(cli: Cli) -> Outcome {
    let root = cli.root;
    let rules_dir = cli.rules;
    let sample = Duration::from_secs_f64(cli.sample);
    let logs = crate::logs::Options {
        max_bytes: cli.log_bytes,
    };
    let req = |keys: Vec<String>, recorded: Option<LiveState>, policy: Option<PathBuf>| Request {
        root: root.clone(),
        policy,
        rules_dir: rules_dir.clone(),
        keys,
        recorded,
        evidence: true,
        sample,
        logs: Some(logs),
    };
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "qfix", &mut std::io::stdout());
            if shell == clap_complete::Shell::Fish {
                print!("{}", fish_rule_completions());
            }
            Outcome::Clean
        }
        Command::Man { dir } => done(Format::Text, cmd_man(dir.as_deref())),
        Command::Rules { format } => done(format, cmd_rules(&root, rules_dir.as_deref(), format)),
        Command::Explain { rule } => done(
            Format::Text,
            cmd_explain(&root, rules_dir.as_deref(), &rule),
        ),
        Command::Snapshot => done(Format::Json, cmd_snapshot(&root, sample, &logs)),
        Command::Watch {
            once,
            interval,
            format,
        } => {
            let every = Duration::from_secs_f64(interval);
            done(
                format,
                cmd_watch(&req(Vec::new(), None, None), once, every, format),
            )
        }
        Command::Schema { output, dir } => done(Format::Text, cmd_schema(output, dir)),
        Command::Blame {
            keys,
            recorded,
            format,
        } => done(
            format,
            recorded
                .load()
                .and_then(|r| cmd_blame(&req(keys.clone(), r, None), &keys, format)),
        ),
        Command::Listeners { recorded, format } => done(
            format,
            recorded
                .load()
                .and_then(|r| cmd_listeners(&req(Vec::new(), r, None), format)),
        ),
        Command::Plan {
            inputs,
            recorded,
            format,
            all,
            out,
        } => done(
            format,
            recorded.load().and_then(|r| {
                let request = req(inputs.keys(), r, inputs.policy.clone());
                let view = output::View::for_terminal(all, false);
                cmd_plan(&request, &inputs.goals(), format, view, out.as_deref())
            }),
        ),
        Command::Apply {
            planfile,
            inputs,
            yes,
            unsafe_fixes,
            persist_only,
            restart,
            lock_timeout,
            format,
        } => {
            let opts = ApplyOpts {
                yes,
                unsafe_fixes,
                persist_only,
                restart,
                lock_timeout: Duration::from_secs(lock_timeout),
                format,
            };
            let request = req(inputs.keys(), None, inputs.policy.clone());
            done(
                format,
                run_apply(&request, &inputs.goals(), planfile.as_deref(), &opts),
            )
        }
        Command::Rollback {
            backup,
            yes,
            force,
            lock_timeout,
            format,
        } => done(
            format,
            run_rollback(
                &root,
                backup.as_deref(),
                (yes, force),
                Duration::from_secs(lock_timeout),
                format,
            ),
        ),
    }
}

impl PlanArgs {
    fn goals(&self) -> Goals {
        Goals {
            sets: self.sets.clone(),
            lower_backlog: self.strategy == Strategy::LowerBacklog,
        }
    }

    /// The keys whose live values the plan needs besides the rules' own.
    fn keys(&self) -> Vec<String> {
        self.sets.iter().map(|(k, _)| k.clone()).collect()
    }
}

impl Recorded {
    /// The recorded live state, if one was given; warns when it is older than --max-age.
    fn load(&self) -> Result<Option<LiveState>, Vec<Error>> {
        let Some(path) = &self.snapshot else {
            return Ok(None);
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| vec![Error::io(&shown, e)])?;
        let state = LiveState::parse(&shown, &text).map_err(|e| vec![e])?;
        if let Some(age) = state.age().filter(|a| *a > self.max_age) {
            output::warning(&format!(
                "{shown}: recorded on {} at {}, {} ago (older than --max-age {})",
                state.host_name(),
                state.taken_at,
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                humantime::format_duration(self.max_age)
            ));
        }
        Ok(Some(state))
    }
}

/// Read the host; say once when it is read offline.
fn read(req: &Request) -> Result<Snapshot, Vec<Error>> {
    let snap = Snapshot::read(req)?;
    if snap.offline() {
        output::note("offline: no /proc/sys under the root; showing boot values only");
    }
    Ok(snap)
}

fn cmd_schema(which: Option<String>, dir: Option<PathBuf>) -> Result<Outcome, Vec<Error>> {
    let schemas = output::json::schemas();
    let text = |s: &schemars::Schema| {
        serde_json::to_string_pretty(s)
            .map(|t| t + "\n")
            .map_err(|e| vec![Error::msg(e.to_string())])
    };
    if let Some(dir) = dir {
        for (name, schema) in &schemas {
            let path = dir.join(format!("qfix-{name}.schema.json"));
            std::fs::write(&path, text(schema)?).map_err(|e| vec![Error::io(path.display(), e)])?;
        }
        return Ok(Outcome::Clean);
    }
    let names: Vec<&str> = schemas.iter().map(|(n, _)| *n).collect();
    let which = which.unwrap_or_else(|| "plan".into());
    let (_, schema) = schemas.iter().find(|(n, _)| *n == which).ok_or_else(|| {
        vec![Error::msg(format!(
            "no JSON output {which:?}; one of {}",
            names.join(", ")
        ))]
    })?;
    print!("{}", text(schema)?);
    Ok(Outcome::Clean)
}

/// qfix(1) on stdout, or every page written into `dir` (their paths on stdout).
fn cmd_man(dir: Option<&Path>) -> Result<Outcome, Vec<Error>> {
    match dir {
        Some(dir) => {
            for p in crate::man::write_all(Cli::command(), dir).map_err(|e| vec![e])? {
                println!("{}", p.display());
            }
        }
        None => {
            let page = crate::man::main_page(Cli::command()).map_err(|e| vec![e])?;
            std::io::Write::write_all(&mut std::io::stdout(), &page)
                .map_err(|e| vec![Error::io("standard output", e)])?;
        }
    }
    Ok(Outcome::Clean)
}

/// Built-in, site and --rules rules, without reading the rest of the host.
fn load_rules(root: &Path, dir: Option<&Path>) -> Result<Vec<rules::Rule>, Vec<Error>> {
    let root = Root::new(root).map_err(|e| vec![e])?;
    rules::load(&Host::new(root), dir)
}

fn cmd_rules(root: &Path, dir: Option<&Path>, format: Format) -> Result<Outcome, Vec<Error>> {
    output::rules(&load_rules(root, dir)?, format);
    Ok(Outcome::Clean)
}

fn cmd_explain(root: &Path, dir: Option<&Path>, which: &str) -> Result<Outcome, Vec<Error>> {
    let rules = load_rules(root, dir)?;
    let rule = rules::find(&rules, which).ok_or_else(|| {
        vec![Error::msg(format!(
            "no rule {which:?}; `qfix rules` lists them"
        ))]
    })?;
    output::explain(rule);
    Ok(Outcome::Clean)
}

fn cmd_watch(
    req: &Request,
    once: bool,
    every: Duration,
    format: Format,
) -> Result<Outcome, Vec<Error>> {
    // the configs once (to name services), the kernel at every tick
    let snap = Snapshot::read(&Request {
        evidence: false,
        ..req.clone()
    })?;
    let root = Root::new(&req.root).map_err(|e| vec![e])?;
    let Some((proc_root, opts)) = snapshot::kernel_source(&root) else {
        return Err(vec![Error::msg(format!(
            "{}: no /proc/net under this root: nothing to watch",
            root.base().display()
        ))]);
    };
    let read = || crate::kernel::Evidence::collect(&proc_root, &opts);
    let configured = &snap.services.listeners;
    let host = snap
        .live
        .as_ref()
        .map_or("this host".to_string(), |l| l.host_name());
    let nginx_logs: Vec<&str> = snap
        .services
        .facts
        .nginx
        .iter()
        .flat_map(|n| n.log_files())
        .collect();
    let follow = std::cell::RefCell::new(crate::logs::follow::Follow::new(&root, &nginx_logs));
    let mut before = read();
    let mut at = std::time::Instant::now();
    let tick = |before: &crate::kernel::Evidence, at: std::time::Instant| {
        let now = read();
        let logged = follow.borrow_mut().read(&root);
        let sample = crate::kernel::deltas(before, &now, at.elapsed().as_secs_f64());
        let view = crate::watch::view(&now, &sample, logged, configured);
        (now, view)
    };
    if once {
        std::thread::sleep(every);
        let (_, view) = tick(&before, at);
        if format == Format::Json {
            output::json(&view);
        } else {
            for line in crate::watch::render(&view, &format!("qfix watch  {host}"), 80) {
                println!("{line}");
            }
        }
        return Ok(Outcome::Clean);
    }
    let mut screen = output::Screen::enter().map_err(|e| vec![Error::io("terminal", e)])?;
    loop {
        if screen
            .wait_for_quit(every)
            .map_err(|e| vec![Error::io("terminal", e)])?
        {
            return Ok(Outcome::Clean);
        }
        let (now, view) = tick(&before, at);
        (before, at) = (now, std::time::Instant::now());
        let width = screen.width();
        let clock = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let title = format!("qfix watch  {host}  {clock}  (q quits)");
        screen
            .draw(&crate::watch::render(&view, &title, width))
            .map_err(|e| vec![Error::io("terminal", e)])?;
    }
}

fn cmd_snapshot(
    root: &Path,
    sample: Duration,
    logs: &crate::logs::Options,
) -> Result<Outcome, Vec<Error>> {
    let state = snapshot::record(root, sample, logs).map_err(|e| vec![e])?;
    output::json(&state);
    Ok(Outcome::Clean)
}

fn cmd_blame(req: &Request, keys: &[String], format: Format) -> Result<Outcome, Vec<Error>> {
    let req = Request {
        evidence: false,
        ..req.clone()
    };
    let snap = read(&req)?;
    let selected = blame::select(&snap, keys);
    output::blame(&blame::blame(&snap, &selected), format);
    for e in &snap.boot.errors {
        output::error(&e.to_string());
    }
    Ok(if snap.boot.errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}

fn cmd_listeners(req: &Request, format: Format) -> Result<Outcome, Vec<Error>> {
    let snap = read(req)?;
    output::listeners(&Listing::of(&snap), format);
    let scan = &snap.services;
    for p in &scan.problems {
        output::error(&format!(
            "{}:{}: {}",
            p.location.path, p.location.line, p.message
        ));
    }
    for e in &scan.errors {
        output::error(&e.to_string());
    }
    Ok(if scan.errors.is_empty() && scan.problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}

fn cmd_plan(
    req: &Request,
    goals: &Goals,
    format: Format,
    view: output::View,
    out: Option<&Path>,
) -> Result<Outcome, Vec<Error>> {
    let snap = read(req)?;
    let p = plan::build(&snap, goals);
    {
        let _t = crate::trace::phase("output");
        output::plan(&p, format, view);
    }
    if let Some(path) = out {
        PlanFile::new(&snap, &p).save(path).map_err(|e| vec![e])?;
    }
    Ok(plan_outcome(&p))
}

fn plan_outcome(p: &Plan) -> Outcome {
    for e in &p.errors {
        output::error(&e.to_string());
    }
    if !p.errors.is_empty() {
        Outcome::Failed
    } else if p.changes.is_empty() && p.restarts.is_empty() && p.open_errors() == 0 {
        Outcome::Clean
    } else {
        // changes or restarts proposed, or something failing now that no change fixes
        Outcome::Changes
    }
}

struct ApplyOpts {
    yes: bool,
    unsafe_fixes: bool,
    persist_only: bool,
    restart: bool,
    lock_timeout: Duration,
    format: Format,
}

fn run_apply(
    req: &Request,
    goals: &Goals,
    planfile: Option<&Path>,
    o: &ApplyOpts,
) -> Result<Outcome, Vec<Error>> {
    let host = Host::new(Root::new(&req.root).map_err(|e| vec![e])?);
    let _lock = apply::lock(&host.root, o.lock_timeout).map_err(|e| vec![e])?;
    let p = match planfile {
        Some(path) => {
            let pf = PlanFile::load(path).map_err(|e| vec![e])?;
            let stale = pf.fingerprints.stale(&host);
            if !stale.is_empty() {
                let mut errs = vec![Error::msg(format!(
                    "{}: stale plan, refusing to apply:",
                    path.display()
                ))];
                errs.extend(stale.into_iter().map(|s| Error::msg(format!("  {s}"))));
                return Err(errs);
            }
            pf.plan
        }
        None => {
            let snap = read(req)?;
            let p = plan::build(&snap, goals);
            if !p.errors.is_empty() || p.bad_input > 0 {
                let mut errs = p.errors.clone();
                if o.format == Format::Text {
                    output::plan(&p, Format::Text, output::View::for_terminal(false, false));
                    errs.push(Error::msg(
                        "the input has errors (above); nothing was written",
                    ));
                } else {
                    errs.push(Error::msg("the input has errors; nothing was written"));
                }
                return Err(errs);
            }
            p
        }
    };
    if p.changes.is_empty() && p.restarts.is_empty() {
        // a run that goes ahead settles what a crashed one left, even with nothing to do
        let report = apply::Report {
            applied: apply::settle(&host)
                .map_err(|e| vec![e])?
                .into_iter()
                .map(|message| apply::Done::Note { message })
                .collect(),
            ..Default::default()
        };
        output::apply(&report, o.format);
        return Ok(Outcome::Clean);
    }
    let chosen = if p.changes.is_empty() {
        Vec::new()
    } else {
        choose(&p, o)?
    };
    let why = if o.yes {
        "needs review: applied with --unsafe-fixes"
    } else {
        "not chosen at the prompt"
    };
    let skipped: Vec<apply::Skipped> = p
        .changes
        .iter()
        .enumerate()
        .filter(|(i, _)| !chosen.contains(i))
        .map(|(_, c)| apply::Skipped {
            what: c.label(),
            reason: why.into(),
        })
        .collect();
    let selected: Vec<&Change> = chosen.iter().map(|&i| &p.changes[i]).collect();
    // only the restarts that the applied changes call for, and those the running processes
    // need whatever is applied (a stale queue the kernel holds)
    let done = |change: &str| {
        selected.iter().any(|c| match c {
            Change::File { path, .. } => path == change,
            Change::Sysctl { key, .. } => key == change && !o.persist_only,
        })
    };
    let restarts: Vec<plan::Restart> = p
        .restarts
        .iter()
        .filter_map(|r| r.for_applied(&done))
        .collect();
    if selected.is_empty() && restarts.is_empty() {
        let report = apply::Report {
            skipped,
            ..Default::default()
        };
        output::apply(&report, o.format);
        return Ok(Outcome::Clean);
    }
    // the sockets as they are, for the proof after restarting
    let before = o
        .restart
        .then(|| {
            Snapshot::read(&Request {
                sample: Duration::ZERO,
                logs: None,
                ..req.clone()
            })
            .ok()
        })
        .flatten();
    let mut report = if selected.is_empty() {
        apply::Report::default()
    } else {
        apply::apply(&host, &selected, o.persist_only).map_err(|e| vec![e])?
    };
    report.skipped = skipped;
    let mut failed = Vec::new();
    if !restarts.is_empty() {
        if o.restart {
            let mut ran = Vec::new();
            for (r, result) in restarts.iter().zip(apply::restart(&host.root, &restarts)) {
                match result {
                    Ok(done) => {
                        if done.ran {
                            ran.push(r.unit.clone());
                        }
                        report.restarts.push(done)
                    }
                    Err(e) => {
                        report.restarts.push(apply::RestartDone {
                            unit: r.unit.clone(),
                            action: r.verb().into(),
                            command: None,
                            ran: false,
                            reason: format!("failed: {e}"),
                        });
                        failed.push(e);
                    }
                }
            }
            if let Some(before) = &before
                && !ran.is_empty()
            {
                let (proof, errors) = prove_restarts(req, before, &ran);
                report.proof = proof;
                failed.extend(errors);
            }
        } else {
            report.restarts = restarts
                .iter()
                .map(|r| apply::RestartDone {
                    unit: r.unit.clone(),
                    action: r.verb().into(),
                    command: None,
                    ran: false,
                    reason: r.reason.clone(),
                })
                .collect();
        }
    }
    // one document: the report carries what failed after the writes
    for e in &failed {
        output::error(&e.to_string());
    }
    report.errors = failed;
    output::apply(&report, o.format);
    if report.errors.is_empty() {
        Ok(Outcome::Clean)
    } else {
        Ok(Outcome::Failed)
    }
}

/// After restarting `units`: their sockets read again until each holds the queue it should
/// (min(its backlog, its namespace's somaxconn)) or 15 s pass (an init script may return
/// before the daemon listens again); the backlog before and after, and an error for each
/// listener that did not get it.
fn prove_restarts(
    req: &Request,
    before: &Snapshot,
    units: &[String],
) -> (Vec<apply::Proof>, Vec<Error>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let quick = Request {
        sample: Duration::ZERO,
        logs: None,
        ..req.clone()
    };
    loop {
        let Ok(after) = Snapshot::read(&quick) else {
            return (Vec::new(), Vec::new());
        };
        let mut proof = Vec::new();
        for l in after
            .services
            .listeners
            .iter()
            .filter(|l| units.contains(&l.unit.to_string()))
        {
            let was = before
                .services
                .listeners
                .iter()
                .find(|b| b.address == l.address && b.unit == l.unit)
                .and_then(|b| before.socket_of(b))
                .and_then(|s| s.socket.backlog);
            let seen = after.socket_of(l);
            let now = seen.and_then(|s| s.socket.backlog);
            let expected = l
                .requested
                .zip(seen.and_then(|s| s.ns.sysctls.somaxconn))
                .map(|(r, som)| crate::limits::effective(r, som.into()));
            proof.push(apply::Proof {
                unit: l.unit.to_string(),
                address: l.address.clone(),
                before: was,
                after: now,
                expected,
            });
        }
        let good = |p: &apply::Proof| match (p.after, p.expected) {
            (Some(a), Some(e)) => i64::from(a) >= e,
            (None, _) => false,
            (Some(_), None) => true,
        };
        if proof.iter().all(good) || std::time::Instant::now() >= deadline {
            let errors = proof
                .iter()
                .filter(|p| !good(p))
                .map(|p| {
                    Error::msg(format!(
                        "{} {}: after the restart the kernel holds {} where {} was planned",
                        p.unit,
                        p.address,
                        p.after
                            .map_or("no socket".into(), |a| format!("a queue of {a}")),
                        p.expected
                            .map_or("a socket".into(), |e| format!("a queue of {e}"))
                    ))
                })
                .collect();
            return (proof, errors);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn run_rollback(
    root: &Path,
    backup: Option<&str>,
    (yes, force): (bool, bool),
    timeout: Duration,
    format: Format,
) -> Result<Outcome, Vec<Error>> {
    let root = Root::new(root).map_err(|e| vec![e])?;
    let _lock = apply::lock(&root, timeout).map_err(|e| vec![e])?;
    let host = Host::new(root);
    let (dir, manifest) = apply::find_backup(&host.root, backup).map_err(|e| vec![e])?;
    if !yes {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Err(vec![Error::msg(
                "no terminal to confirm the rollback; nothing was changed (pass --yes)",
            )]);
        }
        eprintln!("rolling back {dir}:");
        for b in &manifest.files {
            let what = if b.backup.is_some() {
                "restore"
            } else {
                "remove"
            };
            eprintln!("  {what} {} (if qfix's edit is still there)", b.path);
        }
        for (k, before, _) in &manifest.live {
            eprintln!("  {k} = {} (live)", crate::sysctl::norm_value(before));
        }
        let ok = dialoguer::Confirm::new()
            .with_prompt("Roll back?")
            .default(false)
            .interact_on(&dialoguer::console::Term::stderr())
            .map_err(|e| vec![Error::msg(format!("prompt: {e}"))])?;
        if !ok {
            output::apply(&apply::Report::default(), format);
            return Ok(Outcome::Clean);
        }
    }
    let report = apply::rollback(&host, &dir, manifest, force).map_err(|e| vec![e])?;
    output::apply(&report, format);
    Ok(Outcome::Clean)
}

/// Which changes to apply: --yes takes the safe ones (and the rest with --unsafe-fixes); a
/// terminal gets a prompt; anything else is refused.
fn choose(p: &Plan, o: &ApplyOpts) -> Result<Vec<usize>, Vec<Error>> {
    let all: Vec<usize> = (0..p.changes.len()).collect();
    if o.yes {
        return Ok(all
            .into_iter()
            .filter(|&i| o.unsafe_fixes || p.changes[i].safe())
            .collect());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(vec![Error::msg(
            "no terminal to ask for approval; nothing was changed (run `qfix plan` to review, then `qfix apply --yes`)",
        )]);
    }
    let _ = output::write_plan(
        &mut std::io::stderr().lock(),
        p,
        output::View::for_terminal(false, true),
    );
    let safe: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| p.changes[i].safe())
        .collect();
    let review = all.len() - safe.len();
    let first = if review == 0 {
        format!("Apply all {} changes", all.len())
    } else {
        format!(
            "Apply the {} safe changes ({review} need review: choose them)",
            safe.len()
        )
    };
    let items = [first.as_str(), "Choose which changes to apply", "Cancel"];
    let term = dialoguer::console::Term::stderr();
    let pick = dialoguer::Select::new()
        .with_prompt("Apply this plan?")
        .items(&items)
        .default(0)
        .interact_on_opt(&term)
        .map_err(|e| vec![Error::msg(format!("prompt: {e}"))])?;
    match pick {
        Some(0) => Ok(safe),
        Some(1) => {
            let labels: Vec<String> = p
                .changes
                .iter()
                .map(|c| {
                    if c.safe() {
                        c.label()
                    } else {
                        format!("{} [needs review]", c.label())
                    }
                })
                .collect();
            let defaults: Vec<bool> = p.changes.iter().map(Change::safe).collect();
            let chosen = dialoguer::MultiSelect::new()
                .with_prompt("Space toggles, Enter applies")
                .items(&labels)
                .defaults(&defaults)
                .interact_on_opt(&term)
                .map_err(|e| vec![Error::msg(format!("prompt: {e}"))])?;
            chosen.ok_or_else(declined)
        }
        _ => Err(declined()),
    }
}

/// Cancel or Esc at the prompt: a refused approval, exit 1 (nothing was written).
fn declined() -> Vec<Error> {
    vec![Error::msg(
        "the plan was not approved at the prompt; nothing was written",
    )]
}
