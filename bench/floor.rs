//! The floor `bench/run.py` measures qfix against: a program that reads every regular file of
//! a tree once (links are not followed, so nothing is read twice) and does nothing else.
//!
//!     cargo run --release --example floor -- TREE

use std::fs;
use std::io::Read;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = std::env::args_os().nth(1).map(PathBuf::from);
    let Some(root) = root else {
        eprintln!("usage: floor TREE");
        std::process::exit(2);
    };
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut buf = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                buf.clear();
                fs::File::open(entry.path())?.read_to_end(&mut buf)?;
                files += 1;
                bytes += buf.len() as u64;
            }
        }
    }
    println!("{files} files, {bytes} bytes");
    Ok(())
}
