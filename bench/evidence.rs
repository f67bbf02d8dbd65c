//! One kernel evidence collection (sockets, counts, owners, namespaces) of the running
//! system, timed: a measurement, not a test (bench/evidence.py runs it against `ss`).
//!
//! `cargo run --release --example evidence [-- --json] [--no-owners] [--no-connections]`:
//! prints the evidence as JSON with `--json`, else a summary; the last line on stderr is `collect_ms=.. vmhwm_kb=..`.

use std::path::Path;
use std::time::Instant;

use qfix::kernel::{Evidence, Options};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let json = has("--json");
    // parts left out, to see what each costs
    let opts = Options {
        owners: !has("--no-owners"),
        connections: !has("--no-connections"),
        ..Options::live()
    };
    let start = Instant::now();
    let ev = Evidence::collect(Path::new("/proc"), &opts);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if json {
        println!("{}", serde_json::to_string_pretty(&ev).unwrap());
    } else {
        for ns in &ev.namespaces {
            let c = ns.connections.as_ref();
            println!(
                "netns {:?}{}: somaxconn {:?}, {} listeners, {} established, {} time-wait",
                ns.id,
                if ns.caller { " (caller)" } else { "" },
                ns.sysctls.somaxconn,
                ns.listeners.len(),
                c.map_or(0, |c| c.established),
                c.map_or(0, |c| c.time_wait),
            );
        }
        for n in &ev.notes {
            println!("note: {}", n.message);
        }
    }
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().trim_end_matches(" kB").to_string())
        })
        .unwrap_or_default();
    eprintln!("collect_ms={ms:.2} vmhwm_kb={hwm}");
}
