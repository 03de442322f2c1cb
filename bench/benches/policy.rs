//! NetworkPolicies: forwarding between pods that 0 or 100 policies select (the guards
//! at both pod ports, their conntrack), and the reachability matrix of 1,000 pods × 100
//! policies on one port, probed through the model.

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use netloom_bench::{Chain, DockerPath, policy_cluster};
use netloom_drivers::docker::Lab;
use netloom_drivers::net::L4;

const BATCH: usize = 1000;

fn path(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy-path");
    g.sample_size(10);
    for (name, n) in [("0-policies", 0), ("100-policies", 100)] {
        let mut p = DockerPath::policed(n);
        let hops = BATCH as u64 * p.hops_per_frame();
        g.throughput(Throughput::Elements(hops));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    p.clear_trace();
                    let t = Instant::now();
                    let done = p.run_batch(BATCH);
                    total += t.elapsed();
                    assert_eq!(done, hops, "every frame must cross both pod ports");
                }
                total
            })
        });
    }
    g.finish();
}

fn matrix(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy-matrix");
    g.sample_size(10);
    for (pods, policies) in [(100, 100), (1000, 100)] {
        let m = policy_cluster(pods, policies);
        g.throughput(Throughput::Elements((pods * pods) as u64));
        g.bench_function(format!("{pods}-pods/{policies}-policies/tcp-80"), |b| {
            b.iter_batched(
                || Lab::build(&m, 1).expect("valid model"),
                |mut lab| {
                    let mx = lab.policy_matrix(&[(L4::Tcp, 80)]);
                    assert_eq!(mx.names.len(), pods);
                    lab
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = path, matrix
}
criterion_main!(benches);
