// Compile every rules/*.toml into the binary, so a new rule is one file and no code edit.
//
// Also: which tools the integration tests need are missing here. A test that needs a missing
// tool is marked `#[cfg_attr(missing_nginx, ignore = "...")]`, so `cargo test` lists it as
// ignored with the reason; under CI=true nothing is marked and such a test fails.
use std::fmt::Write;
use std::process::{Command, Stdio};
use std::{env, fs, path::Path};

/// Programs the integration tests run (cfg `missing_<name>`, `-` and `.` as `_`).
const TOOLS: [&str; 16] = [
    "ansible-playbook",
    "apache2ctl",
    "haproxy",
    "nginx",
    "php-fpm8.2",
    "redis-server",
    "redis-cli",
    "strace",
    "unshare",
    "ss",
    "ip",
    "python3",
    "mount",
    "mariadbd",
    "memcached",
    "uwsgi",
];

fn main() {
    builtin_rules();
    missing_tools();
}

fn builtin_rules() {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("rules");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "toml"));
    names.sort();
    let mut out = String::from("&[\n");
    for p in names {
        println!("cargo::rerun-if-changed={}", p.display());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        writeln!(
            out,
            "    (\"rules/{name}\", include_str!({:?})),",
            p.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    fs::write(
        Path::new(&env::var("OUT_DIR").unwrap()).join("builtin_rules.rs"),
        out,
    )
    .unwrap();
}

fn missing_tools() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let path = env::var("PATH").unwrap_or_default();
    let mut dirs: Vec<&str> = path.split(':').filter(|d| !d.is_empty()).collect();
    dirs.extend(["/usr/sbin", "/sbin"]);
    for d in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        if Path::new(d).is_dir() {
            // installing a package changes these directories
            println!("cargo::rerun-if-changed={d}");
        }
    }
    let ci = env::var("CI").is_ok_and(|v| v == "true");
    for tool in TOOLS {
        let cfg = format!("missing_{}", tool.replace(['-', '.'], "_"));
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let found = dirs.iter().any(|d| Path::new(d).join(tool).is_file());
        if !ci && !found {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    // private namespaces need root (or a user namespace setup the tests do not use)
    println!("cargo::rustc-check-cfg=cfg(no_namespaces)");
    let unshare = Command::new("unshare")
        .args(["-n", "-m", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ci && !unshare {
        println!("cargo::rustc-cfg=no_namespaces");
    }
}
