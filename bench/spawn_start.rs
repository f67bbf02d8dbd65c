//! How long a new thread waits before it first runs while its parent keeps its core busy:
//! a plain scoped spawn against `qfix::heap::spawn_apart` (which yields once after spawning).
//!
//!     cargo run --release --example spawn_start
//!
//! Each try starts as qfix does: the other core idle for a while, the parent busy for 2 ms
//! (its start-up), then a spawn, the parent spinning until the thread has run.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

const TRIES: usize = 21;

fn busy(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {}
}

/// Median delay, in ms, from the spawn to the thread's first instruction.
fn median(apart: bool) -> f64 {
    let mut waits: Vec<f64> = (0..TRIES)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            busy(Duration::from_millis(2));
            let ran = AtomicBool::new(false);
            std::thread::scope(|s| {
                let t = Instant::now();
                let job = || ran.store(true, Relaxed);
                let h = if apart {
                    qfix::heap::spawn_apart(s, job)
                } else {
                    s.spawn(job)
                };
                while !ran.load(Relaxed) && t.elapsed() < Duration::from_millis(20) {
                    std::hint::spin_loop();
                }
                let wait = t.elapsed().as_secs_f64() * 1e3;
                qfix::heap::join(h);
                wait
            })
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    waits[TRIES / 2]
}

fn main() {
    // interleaved, so both see the same machine
    let (mut plain, mut apart) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        plain.push(median(false));
        apart.push(median(true));
    }
    println!("thread start while the parent is busy, median of {TRIES} tries, three rounds:");
    println!("  std::thread::scope spawn: {plain:.3?} ms");
    println!("  qfix::heap::spawn_apart:  {apart:.3?} ms");
}
