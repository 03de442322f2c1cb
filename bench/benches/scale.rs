//! Wall time to validate, compile and settle a Docker model (`Lab::build` +
//! `run_until_idle`) of 1,000 and 10,000 containers, 100 per host. Resident memory
//! and the 100,000-container size are measured by the `scale` binary instead.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use netloom_bench::docker_model;
use netloom_drivers::docker::Lab;

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("docker-load-settle");
    g.sample_size(10);
    for containers in [1_000usize, 10_000] {
        let model = docker_model(containers / 100, 100);
        g.throughput(Throughput::Elements(containers as u64));
        g.bench_function(containers.to_string(), |b| {
            b.iter_batched(
                || model.clone(),
                |m| {
                    let mut lab = Lab::build(&m, 1).expect("valid model");
                    lab.fabric.run_until_idle(u64::MAX);
                    black_box(lab)
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
    targets = build
}
criterion_main!(benches);
