//! What `-v` logs (through `tracing`, to standard error): files loaded, labs compiled,
//! each step with its time, namespaces and TAPs made and removed. Nothing per frame
//! below `-vvv`, and there only behind an `enabled!` check.
//!
//! The wall-clock times here are for the reader of the log; nothing simulated reads
//! them, and they are measured only when the log is on (the caller passes `None`
//! otherwise).

use std::time::Instant;

use netloom_drivers::docker::Lab;

use crate::runner::StepReport;

/// Milliseconds since `t`, with microseconds.
fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A lab built from `file`, `clock` being when its building began.
pub(crate) fn compiled(file: &str, lab: &Lab, clock: Option<Instant>) {
    if let Some(t) = clock {
        tracing::info!(
            "compiled {file}: {} elements, {} links in {:.1} ms",
            lab.fabric.element_count(),
            lab.fabric.links().count(),
            ms(t)
        );
    }
}

/// A step done, `clock` being when it began.
pub(crate) fn step_done(r: &StepReport, clock: Option<Instant>) {
    if let Some(t) = clock {
        tracing::info!(
            "step {} ({}): {:?} in {:.1} ms ({:.3} s simulated)",
            r.index,
            r.title,
            r.status,
            ms(t),
            r.duration_ns as f64 / 1e9
        );
    }
}

/// A step of a live network done (its duration is wall time already).
pub(crate) fn live_step_done(r: &StepReport) {
    tracing::info!(
        "step {} ({}): {:?} in {:.1} ms",
        r.index,
        r.title,
        r.status,
        r.duration_ns as f64 / 1e6
    );
}
