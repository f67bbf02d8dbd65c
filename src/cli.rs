//! Command line: every flag is defined once here; help, the man page and completions are
//! generated from these definitions. `exit_code` is the one place exit codes are decided.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::Error;
use crate::output::{self, Format};
use crate::plan::{self, Change, Inputs, Plan, State};
use crate::{apply, blame, rules};

const EXIT_HELP: &str = "\
Exit codes:
  0  nothing to change (plan), or the apply succeeded
  1  error: bad input (unparsable line, unreadable file, include loop, bad policy or rule),
     a stale plan file, a refused approval, or a live write the kernel rejected
  2  plan: changes proposed";

#[derive(Parser, Debug)]
#[command(name = "qfix", version, about = "Find and fix the kernel and service settings behind listen() backlog overflows",
    long_about = None, after_help = EXIT_HELP)]
pub struct Cli {
    /// Work on the host tree under DIR (configs, includes and /proc are read inside it)
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Load extra rule files (*.toml) from DIR
    #[arg(long, global = true, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show each key's live value, boot value, the winning assignment and what it overrides
    Blame {
        /// Keys or globs (net.ipv4.conf.*.rp_filter); all persisted keys when none
        keys: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Report findings and propose the changes toward the desired state
    Plan {
        #[command(flatten)]
        inputs: PlanArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
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
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List every service listener with its requested and effective backlog
    Listeners {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the rules (built-in, site and --rules)
    Rules {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a rule's documentation: what it flags, why, an example, and its fix
    Explain {
        /// Rule code (QF003) or name (overridden-assignment)
        rule: String,
    },
    /// Print shell completions
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff)
    #[command(hide = true)]
    Man,
}

#[derive(Args, Debug, Clone, Default)]
pub struct PlanArgs {
    /// Desired exact value, e.g. --set net.core.somaxconn=4096 (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Policy file (default: /etc/qfix/policy.toml in the root)
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// How to fix a backlog that somaxconn caps
    #[arg(long, value_enum, default_value_t = Strategy::RaiseSomaxconn)]
    pub strategy: Strategy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Strategy {
    /// Raise net.core.somaxconn to the largest requested backlog
    #[default]
    RaiseSomaxconn,
    /// Lower explicit service backlogs to somaxconn (when somaxconn cannot change)
    LowerBacklog,
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
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    exit_code(run(cli))
}

fn fail(errs: &[Error]) -> Outcome {
    for e in errs {
        output::error(&e.to_string());
    }
    Outcome::Failed
}

/// The global inputs (root, rules) with a plan's own arguments.
fn inputs(base: &Inputs, a: &PlanArgs) -> Inputs {
    Inputs {
        sets: a.sets.clone(),
        policy: a.policy.clone(),
        lower_backlog: a.strategy == Strategy::LowerBacklog,
        ..base.clone()
    }
}

fn offline_note(state: &State) {
    if state.host.offline() {
        output::note("offline: no /proc/sys under the root; showing boot values only");
    }
}

pub fn run(cli: Cli) -> Outcome {
    let base = Inputs {
        root: cli.root.clone(),
        rules_dir: cli.rules.clone(),
        ..Inputs::default()
    };
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "qfix", &mut std::io::stdout());
            Outcome::Clean
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => Outcome::Clean,
                Err(e) => fail(&[Error::io("man page", e)]),
            }
        }
        Command::Rules { format } => match load_rules(&base) {
            Ok(rules) => {
                output::rules(&rules, format);
                Outcome::Clean
            }
            Err(e) => fail(&e),
        },
        Command::Explain { rule } => match load_rules(&base) {
            Ok(rules) => match rules::find(&rules, &rule) {
                Some(r) => {
                    output::explain(r);
                    Outcome::Clean
                }
                None => fail(&[Error::msg(format!(
                    "no rule {rule:?}; `qfix rules` lists them"
                ))]),
            },
            Err(e) => fail(&e),
        },
        Command::Rollback {
            backup,
            yes,
            force,
            lock_timeout,
            format,
        } => {
            match run_rollback(
                &base,
                backup.as_deref(),
                (yes, force),
                Duration::from_secs(lock_timeout),
                format,
            ) {
                Ok(o) => o,
                Err(e) => fail(&e),
            }
        }
        Command::Blame { keys, format } => match State::load(&base) {
            Ok(state) => {
                offline_note(&state);
                let selected = blame::select(&state.host, &state.boot, &keys);
                output::blame(&blame::blame(&state.host, &state.boot, &selected), format);
                let errs: Vec<Error> = state.boot.errors.clone();
                if errs.is_empty() {
                    Outcome::Clean
                } else {
                    fail(&errs)
                }
            }
            Err(e) => fail(&e),
        },
        Command::Listeners { format } => match State::load(&base) {
            Ok(state) => {
                offline_note(&state);
                let sides = state.somaxconn_sides();
                let side = |name: &str| sides.iter().find(|s| s.0 == name).and_then(|s| s.1);
                let rows: Vec<output::ListenerRow> = state
                    .scan
                    .listeners
                    .iter()
                    .map(|l| output::ListenerRow {
                        listener: l,
                        effective_live: l
                            .requested
                            .zip(side("live"))
                            .map(|(r, s)| rules::kinds::effective(r, s)),
                        effective_boot: l
                            .requested
                            .zip(side("boot"))
                            .map(|(r, s)| rules::kinds::effective(r, s)),
                    })
                    .collect();
                output::listeners(&rows, &sides, format);
                for p in &state.scan.problems {
                    output::error(&format!(
                        "{}:{}: {}",
                        p.location.path, p.location.line, p.message
                    ));
                }
                if state.scan.errors.is_empty() && state.scan.problems.is_empty() {
                    Outcome::Clean
                } else {
                    fail(&state.scan.errors)
                }
            }
            Err(e) => fail(&e),
        },
        Command::Plan {
            inputs: a,
            format,
            out,
        } => {
            let inp = inputs(&base, &a);
            let state = match State::load(&inp) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            offline_note(&state);
            let mut p = plan::build(&inp, &state);
            {
                let _t = crate::trace::phase("output");
                output::plan(&p, format);
            }
            if let Some(path) = out {
                p.fingerprints = match state.host.fingerprints() {
                    Ok(f) => f,
                    Err(e) => return fail(&[e]),
                };
                if let Err(e) = save(&path, &inp, &p) {
                    return fail(&[e]);
                }
            }
            let outcome = plan_outcome(&p);
            // the process exits next: freeing a busy host's parse trees one by one is
            // measurable work that the kernel does for free
            std::mem::forget((state, p));
            outcome
        }
        Command::Apply {
            planfile,
            inputs: a,
            yes,
            unsafe_fixes,
            persist_only,
            restart,
            lock_timeout,
            format,
        } => {
            let inp = inputs(&base, &a);
            let opts = ApplyOpts {
                yes,
                unsafe_fixes,
                persist_only,
                restart,
                lock_timeout: Duration::from_secs(lock_timeout),
                format,
            };
            match run_apply(&inp, planfile.as_deref(), &opts) {
                Ok(o) => o,
                Err(e) => fail(&e),
            }
        }
    }
}

/// Built-in, site and --rules rules, without reading the rest of the host.
fn load_rules(inputs: &Inputs) -> Result<Vec<rules::Rule>, Vec<Error>> {
    let root = crate::root::Root::new(&inputs.root).map_err(|e| vec![e])?;
    rules::load(&crate::host::Host::new(root), inputs.rules_dir.as_deref())
}

fn plan_outcome(p: &Plan) -> Outcome {
    for e in &p.errors {
        output::error(&e.to_string());
    }
    if p.bad_input > 0 {
        output::error(&format!(
            "{} finding(s) above name input qfix cannot parse; fix them first (apply writes nothing until then)",
            p.bad_input
        ));
    }
    if !p.errors.is_empty() || p.bad_input > 0 {
        Outcome::Failed
    } else if p.changes.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Changes
    }
}

/// A plan saved to disk: the changes with their full new contents, and fingerprints.
#[derive(serde::Serialize, serde::Deserialize)]
struct PlanFile {
    qfix_plan: u32,
    root: PathBuf,
    plan: Plan,
}

fn save(path: &std::path::Path, inp: &Inputs, p: &Plan) -> Result<(), Error> {
    let pf = PlanFile {
        qfix_plan: 1,
        root: inp.root.clone(),
        plan: p.clone(),
    };
    let text = serde_json::to_string_pretty(&pf)
        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    apply::write_atomic(path, &path.display().to_string(), &text)
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
    inp: &Inputs,
    planfile: Option<&std::path::Path>,
    o: &ApplyOpts,
) -> Result<Outcome, Vec<Error>> {
    let root = crate::root::Root::new(&inp.root).map_err(|e| vec![e])?;
    let _lock = apply::lock(&root, o.lock_timeout).map_err(|e| vec![e])?;
    let state = State::load(inp)?;
    offline_note(&state);
    let p = match planfile {
        Some(path) => {
            let text =
                crate::root::read_path(path, crate::root::MAX_FILE_BYTES).map_err(|e| vec![e])?;
            let pf: PlanFile = serde_json::from_str(&text).map_err(|e| {
                vec![Error::msg(format!(
                    "{}:{}: not a qfix plan: {e}",
                    path.display(),
                    e.line()
                ))]
            })?;
            let stale = pf.plan.fingerprints.stale(&state.host);
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
            let p = plan::build(inp, &state);
            if !p.errors.is_empty() || p.bad_input > 0 {
                output::plan(&p, Format::Text);
                let mut errs = p.errors.clone();
                errs.push(Error::msg(
                    "the input has errors (above); nothing was written",
                ));
                return Err(errs);
            }
            p
        }
    };
    if p.changes.is_empty() {
        // a run that goes ahead settles what a crashed one left, even with nothing to do
        let report = apply::Report {
            applied: apply::settle(&state.host).map_err(|e| vec![e])?,
            ..Default::default()
        };
        output::apply(&report, o.format);
        return Ok(Outcome::Clean);
    }
    let chosen = choose(&p, o)?;
    let mut skipped: Vec<String> = p
        .changes
        .iter()
        .enumerate()
        .filter(|(i, _)| !chosen.contains(i))
        .map(|(_, c)| c.label())
        .collect();
    if chosen.is_empty() {
        let report = apply::Report {
            skipped: std::mem::take(&mut skipped),
            ..Default::default()
        };
        output::apply(&report, o.format);
        return Ok(Outcome::Clean);
    }
    let selected: Vec<&Change> = chosen.iter().map(|&i| &p.changes[i]).collect();
    let mut report = apply::apply(&state.host, &selected, o.persist_only).map_err(|e| vec![e])?;
    report.skipped = skipped;
    // only the restarts that the applied changes call for
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
    let mut failed = Vec::new();
    if report.changed && !restarts.is_empty() {
        if o.restart {
            for r in apply::restart(&state.host.root, &restarts) {
                match r {
                    Ok(done) => report.restarts.push(done),
                    Err(e) => failed.push(e),
                }
            }
        } else {
            report.restarts = restarts
                .iter()
                .map(|r| format!("needed: {} {} ({})", r.verb(), r.unit, r.reason))
                .collect();
        }
    }
    output::apply(&report, o.format);
    if failed.is_empty() {
        Ok(Outcome::Clean)
    } else {
        Err(failed)
    }
}

fn run_rollback(
    inp: &Inputs,
    backup: Option<&str>,
    (yes, force): (bool, bool),
    timeout: Duration,
    format: Format,
) -> Result<Outcome, Vec<Error>> {
    let root = crate::root::Root::new(&inp.root).map_err(|e| vec![e])?;
    let _lock = apply::lock(&root, timeout).map_err(|e| vec![e])?;
    let host = crate::host::Host::new(root);
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
    let _ = output::write_plan(&mut std::io::stderr().lock(), p);
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
            Ok(chosen.unwrap_or_default())
        }
        _ => Ok(Vec::new()),
    }
}
