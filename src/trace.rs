//! `QFIX_TRACE=1` prints how long each phase took, to stderr: the first thing to look at
//! before profiling (see bench/README.md).

use std::time::Instant;

pub struct Phase {
    name: std::borrow::Cow<'static, str>,
    start: Option<Instant>,
}

/// Start timing a phase; the time is printed when the returned value is dropped.
pub fn phase(name: impl Into<std::borrow::Cow<'static, str>>) -> Phase {
    let on = std::env::var_os("QFIX_TRACE").is_some_and(|v| v != "0");
    Phase {
        name: name.into(),
        start: on.then(Instant::now),
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(s) = self.start {
            eprintln!(
                "qfix: trace: {:<10} {:>8.3} ms",
                self.name,
                s.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
