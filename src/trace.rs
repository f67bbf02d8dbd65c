//! `QFIX_TRACE=1` prints how long each phase took, to stderr: the first thing to look at
//! before profiling (see bench/README.md).

use std::time::Instant;

/// When the first phase started: phases print their span from there.
static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

pub struct Phase {
    name: &'static str,
    /// Wall clock and this thread's CPU time at the start.
    start: Option<(Instant, f64)>,
}

/// CPU time of the calling thread, in ms: with several threads on two cores, wall time
/// alone does not tell a busy phase from one waiting for a core.
fn thread_cpu_ms() -> f64 {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 * 1e3 + t.tv_nsec() as f64 / 1e6)
        .unwrap_or(0.0)
}

/// Start timing a phase; the time is printed when the returned value is dropped.
pub fn phase(name: &'static str) -> Phase {
    let on = std::env::var_os("QFIX_TRACE").is_some_and(|v| v != "0");
    if on {
        START.get_or_init(Instant::now);
    }
    Phase {
        name,
        start: on.then(|| (Instant::now(), thread_cpu_ms())),
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some((s, cpu)) = self.start {
            let t0 = *START.get_or_init(Instant::now);
            eprintln!(
                "qfix: trace: {:<10} {:>8.3} ms  cpu {:>7.3} ms  ({:.3} .. {:.3})",
                self.name,
                s.elapsed().as_secs_f64() * 1e3,
                thread_cpu_ms() - cpu,
                s.saturating_duration_since(t0).as_secs_f64() * 1e3,
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
