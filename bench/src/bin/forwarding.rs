//! Forwarding rate without criterion: the same chains and batches as
//! `benches/forwarding.rs`, printed as a Markdown table with the best and the median
//! of `--reps` timed batches (the best is the figure least disturbed by other load on
//! the machine).
//!
//! ```text
//! forwarding [--batch FRAMES] [--reps N] [--only l2-4]
//! ```
//!
//! `--only` runs one chain (`l2-1`, `l3-16`…), e.g. under `valgrind --tool=callgrind`.

use std::time::{Duration, Instant};

use netloom_bench::{Chain, L2Chain, L3Chain};

fn main() {
    let mut batch = 10_000usize;
    let mut reps = 30usize;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        let num = v.as_ref().and_then(|v| v.replace('_', "").parse().ok());
        match (a.as_str(), num) {
            ("--batch", Some(n)) => batch = n,
            ("--reps", Some(n)) => reps = n,
            ("--only", _) if v.is_some() => only = v,
            _ => {
                eprintln!("usage: forwarding [--batch FRAMES] [--reps N] [--only l2-4]");
                std::process::exit(2);
            }
        }
    }
    let wanted = |name: String| only.as_ref().is_none_or(|o| *o == name);
    let reps = reps.max(1);
    println!(
        "| chain | elements | hops/frame | best M frame-hops/s | median M frame-hops/s | ns/hop (best) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for n in [1, 4, 16] {
        if wanted(format!("l2-{n}")) {
            report("L2 bridges", n, &mut L2Chain::new(n), batch, reps);
        }
    }
    for n in [1, 4, 16] {
        if wanted(format!("l3-{n}")) {
            report("L3 routers", n, &mut L3Chain::new(n), batch, reps);
        }
    }
}

fn report(what: &str, n: usize, chain: &mut impl Chain, batch: usize, reps: usize) {
    let hops = batch as u64 * chain.hops_per_frame();
    for _ in 0..3 {
        chain.clear_trace();
        chain.run_batch(batch);
    }
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            chain.clear_trace();
            let t = Instant::now();
            let done = chain.run_batch(batch);
            let d = t.elapsed();
            assert_eq!(done, hops, "every frame must cross the whole chain");
            d
        })
        .collect();
    times.sort();
    let rate = |d: Duration| hops as f64 / d.as_secs_f64() / 1e6;
    println!(
        "| {what} | {n} | {} | {:.2} | {:.2} | {:.0} |",
        chain.hops_per_frame(),
        rate(times[0]),
        rate(times[reps / 2]),
        times[0].as_nanos() as f64 / hops as f64,
    );
}
