//! Memory of a run against its number of steps, packets and bytes: a run's memory must
//! be bounded by its topology, never by how much it does.
//!
//! ```text
//! steps connect N      # N `connect` steps between two containers
//! steps pings N        # N ping steps of one echo each
//! steps resolves N     # N resolve steps
//! steps ping COUNT     # one ping step of COUNT echoes (at most 65535)
//! steps transfer BYTES # one TCP transfer of BYTES
//! ```
//!
//! Prints the wall time and the peak resident memory (`VmHWM`) of this process after
//! loading the scenario text and after running it.

use std::process::ExitCode;
use std::time::Instant;

use netloom_bench::mem;
use netloom_scenarios::{RunOptions, load, run};

const TOPOLOGY: &str = "name: steps\nnetworks:\n  app: {}\ncontainers:\n  web: { networks: [app], listen: [tcp/80] }\n  client: { networks: [app] }\nsteps:\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, n) = match args.as_slice() {
        [k, n] => match n.replace('_', "").parse::<u64>() {
            Ok(n) => (k.as_str(), n),
            Err(e) => {
                eprintln!("steps: {n}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: steps connect N | pings N | resolves N | ping COUNT | transfer BYTES");
            return ExitCode::from(2);
        }
    };
    let mut text = String::from(TOPOLOGY);
    match kind {
        "connect" => {
            for _ in 0..n {
                text.push_str("  - connect: { from: client, to: \"web:80\" }\n    expect: ok\n");
            }
        }
        "pings" => {
            for _ in 0..n {
                text.push_str("  - ping: { from: client, to: web, count: 1 }\n    expect: reach\n");
            }
        }
        "resolves" => {
            for _ in 0..n {
                text.push_str(
                    "  - resolve: { from: client, name: web }\n    expect: { addresses: [172.18.0.2] }\n",
                );
            }
        }
        "ping" => text.push_str(&format!(
            "  - ping: {{ from: client, to: web, count: {n} }}\n    expect: reach\n"
        )),
        "transfer" => text.push_str(&format!(
            "  - transfer: {{ from: client, to: \"web:80\", bytes: {n}B }}\n    expect: ok\n"
        )),
        other => {
            eprintln!("steps: unknown kind '{other}'");
            return ExitCode::from(2);
        }
    }
    let t = Instant::now();
    let loaded = match load("steps.yaml", &text) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let loaded_hwm = mem::rss_hwm().map_or(0, |(_, h)| h);
    let r = run(&loaded, &RunOptions::default());
    let wall = t.elapsed();
    let hwm = mem::rss_hwm().map_or(0, |(_, h)| h);
    println!(
        "{kind} {n}: {} steps, passed {}, {:.2} s, peak RSS {:.1} MB after loading, {:.1} MB after running",
        r.report.steps.len(),
        r.report.passed(),
        wall.as_secs_f64(),
        loaded_hwm as f64 / 1e6,
        hwm as f64 / 1e6
    );
    if r.report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
