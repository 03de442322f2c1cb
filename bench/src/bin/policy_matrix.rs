//! The reachability matrix at scale: `policy_matrix PODS POLICIES` builds
//! [`netloom_bench::policy_cluster`] and probes every pod from every pod on tcp/80,
//! printing the wall time of the build and of the matrix, the cells by outcome, and
//! the peak resident memory.

use std::process::ExitCode;
use std::time::Instant;

use netloom_bench::{mem, policy_cluster};
use netloom_drivers::docker::Lab;
use netloom_drivers::net::L4;

fn main() -> ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let [pods, policies] = args.as_slice() else {
        eprintln!("usage: policy_matrix PODS POLICIES");
        return ExitCode::from(2);
    };
    let m = policy_cluster(*pods, *policies);
    let t = Instant::now();
    let mut lab = match Lab::build(&m, 1) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("policy_matrix: {e:?}");
            return ExitCode::from(1);
        }
    };
    let built = t.elapsed();
    let before = lab.fabric.stats();
    let t = Instant::now();
    let mx = lab.policy_matrix(&[(L4::Tcp, 80)]);
    let probed = t.elapsed();
    let after = lab.fabric.stats();
    let reached = mx.cells[0].iter().flatten().filter(|c| c.reached()).count();
    let cells = pods * pods;
    println!(
        "{pods} pods x {policies} policies, tcp/80: build {:.3} s, matrix {:.3} s ({cells} cells, {reached} reached, {} blocked)",
        built.as_secs_f64(),
        probed.as_secs_f64(),
        cells - reached
    );
    println!(
        "{} frame-hops ({:.2} per cell)",
        after.frame_hops - before.frame_hops,
        (after.frame_hops - before.frame_hops) as f64 / cells as f64
    );
    if let Some((rss, hwm)) = mem::rss_hwm() {
        println!("peak RSS {} MB (now {} MB)", hwm >> 20, rss >> 20);
    }
    ExitCode::SUCCESS
}
